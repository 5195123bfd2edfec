/*
 * Splitting and merging: MGET, MSET, DEL, UNLINK, EXISTS and TOUCH over keys in many slots are
 * split into one sub-request per slot (not per key), checked with the nodes' own command
 * statistics, and merged as Redis would answer: values in key order, sums that count repeated
 * keys as Redis counts them.
 */
#include "harness.h"
#include "suites.h"

#include "crc16.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sum of cmdstat_<cmd> calls over the three masters of the shared cluster. */
static long long node_calls(const char *cmd)
{
    long long total = 0;
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        redisReply *r = h_cmd(d, "INFO commandstats");
        const char *p = strstr(r->str, needle);
        if (p) total += atoll(p + strlen(needle));
        freeReplyObject(r);
        redisFree(d);
    }
    return total;
}

static void reset_node_stats(void)
{
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        freeReplyObject(h_cmd(d, "CONFIG RESETSTAT"));
        redisFree(d);
    }
}

START_TEST(test_split_per_slot_not_per_key)
{
    redisContext *p = h_connect(h_env.proxy_port);
    /* 30 keys in 6 slots: five keys per hash tag. */
    const char *tags[] = {"a", "b", "c", "d", "e", "f"};
    char keys[30][32];
    int slots_seen[6];
    int nslots = 0;
    for (int i = 0; i < 30; i++) {
        snprintf(keys[i], sizeof(keys[i]), "{%s}k%d", tags[i % 6], i);
        int s = (int)crc16_key_slot(keys[i], strlen(keys[i]));
        int seen = 0;
        for (int j = 0; j < nslots; j++) seen |= slots_seen[j] == s;
        if (!seen) slots_seen[nslots++] = s;
    }
    ck_assert_int_eq(nslots, 6);
    const char *argv[61];
    size_t lens[61];
    argv[0] = "MSET";
    lens[0] = 4;
    for (int i = 0; i < 30; i++) {
        argv[1 + 2 * i] = keys[i];
        lens[1 + 2 * i] = strlen(keys[i]);
        argv[2 + 2 * i] = keys[i]; /* value = key */
        lens[2 + 2 * i] = strlen(keys[i]);
    }
    reset_node_stats();
    h_expect_str(h_cmd_argv(p, 61, argv, lens), "OK");
    ck_assert_int_eq(node_calls("mset"), 6);

    /* MGET in reverse order, with a repeated and a missing key. */
    argv[0] = "MGET";
    lens[0] = 4;
    int n = 1;
    for (int i = 29; i >= 0; i--) {
        argv[n] = keys[i];
        lens[n++] = strlen(keys[i]);
    }
    argv[n] = keys[3];
    lens[n++] = strlen(keys[3]);
    argv[n] = "{a}missing";
    lens[n++] = 10;
    redisReply *r = h_cmd_argv(p, n, argv, lens);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 32);
    for (int i = 0; i < 30; i++) ck_assert_str_eq(r->element[i]->str, keys[29 - i]);
    ck_assert_str_eq(r->element[30]->str, keys[3]);
    ck_assert_int_eq(r->element[31]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    ck_assert_int_eq(node_calls("mget"), 6);

    /* EXISTS counts a repeated key each time; DEL deletes it once. */
    h_expect_int(h_cmd(p, "EXISTS {a}k0 {a}k0 {b}k1 {c}nope {f}k5"), 4);
    h_expect_int(h_cmd(p, "TOUCH {a}k0 {b}k1 {c}nope"), 2);
    h_expect_int(h_cmd(p, "DEL {a}k0 {a}k0 {b}k1 {c}nope"), 2);
    h_expect_int(h_cmd(p, "UNLINK {d}k3 {e}k4 {e}k4 {f}k5"), 3);
    h_expect_int(h_cmd(p, "EXISTS {a}k0 {b}k1 {d}k3 {e}k4 {f}k5 {a}k6"), 1);
    redisFree(p);
}
END_TEST

/* Thousands of keys over every slot, large values, many round trips: every value back in
 * order. */
START_TEST(test_large_cross_slot)
{
    redisContext *p = h_connect(h_env.proxy_port);
    enum { N = 3000 };
    static char keybuf[N][24];
    static const char *argv[2 * N + 1];
    static size_t lens[2 * N + 1];
    char *vals = malloc((size_t)N * 64);
    argv[0] = "MSET";
    lens[0] = 4;
    for (int i = 0; i < N; i++) {
        snprintf(keybuf[i], sizeof(keybuf[i]), "big:%d", i);
        char *v = vals + (size_t)i * 64;
        int vl = snprintf(v, 64, "value-%d-%s", i, i % 7 ? "x" : "with\r\nbytes");
        argv[1 + 2 * i] = keybuf[i];
        lens[1 + 2 * i] = strlen(keybuf[i]);
        argv[2 + 2 * i] = v;
        lens[2 + 2 * i] = (size_t)vl;
    }
    h_expect_str(h_cmd_argv(p, 2 * N + 1, argv, lens), "OK");
    argv[0] = "MGET";
    for (int i = 0; i < N; i++) {
        argv[1 + i] = keybuf[N - 1 - i];
        lens[1 + i] = strlen(keybuf[N - 1 - i]);
    }
    redisReply *r = h_cmd_argv(p, N + 1, argv, lens);
    ck_assert_int_eq(r->elements, N);
    for (int i = 0; i < N; i++) {
        int k = N - 1 - i;
        ck_assert_int_eq(r->element[i]->len, strlen(vals + (size_t)k * 64));
        ck_assert(memcmp(r->element[i]->str, vals + (size_t)k * 64, r->element[i]->len) == 0);
    }
    freeReplyObject(r);
    /* 100 KB values over a few slots. */
    size_t big = 100 * 1000;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) v[i] = (char)('a' + i % 26);
    h_expect_str(h_cmd(p, "MSET hv:1 %b hv:2 %b hv:3 %b", v, big, v, big, v, big), "OK");
    r = h_cmd(p, "MGET hv:3 hv:1 hv:2");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r->element[i]->len, big);
        ck_assert(memcmp(r->element[i]->str, v, big) == 0);
    }
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "DEL hv:1 hv:2 hv:3 hv:4"), 3);
    /* Pipelined fan-outs keep their order with plain requests around them. */
    for (int i = 0; i < 200; i++) {
        redisAppendCommand(p, "MGET big:%d big:%d", i, i + 1);
        redisAppendCommand(p, "GET big:%d", i);
        redisAppendCommand(p, "EXISTS big:%d big:%d nope:%d", i, i + 1000, i);
    }
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(redisGetReply(p, (void **)&r), REDIS_OK);
        ck_assert_int_eq(r->elements, 2);
        ck_assert_int_eq(r->element[0]->len, strlen(vals + (size_t)i * 64));
        freeReplyObject(r);
        ck_assert_int_eq(redisGetReply(p, (void **)&r), REDIS_OK);
        ck_assert_int_eq(r->len, strlen(vals + (size_t)i * 64));
        freeReplyObject(r);
        ck_assert_int_eq(redisGetReply(p, (void **)&r), REDIS_OK);
        h_expect_int(r, 2);
    }
    free(v);
    free(vals);
    redisFree(p);
}
END_TEST

/* A client that leaves with fan-outs in flight leaves nothing broken behind. */
START_TEST(test_client_gone_mid_fanout)
{
    for (int round = 0; round < 20; round++) {
        redisContext *p = h_connect(h_env.proxy_port);
        for (int i = 0; i < 300; i++) redisAppendCommand(p, "MGET a%d b%d c%d d%d", i, i, i, i);
        int done = 0;
        redisBufferWrite(p, &done);
        redisFree(p); /* gone before the replies */
    }
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "MSET ga 1 gb 2"), "OK");
    redisReply *r = h_cmd(p, "MGET ga gb");
    ck_assert_str_eq(r->element[1]->str, "2");
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

Suite *fanout_suite(void)
{
    Suite *s = suite_create("fanout");
    TCase *tc = tcase_create("fanout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_split_per_slot_not_per_key);
    tcase_add_test(tc, test_large_cross_slot);
    tcase_add_test(tc, test_client_gone_mid_fanout);
    suite_add_tcase(s, tc);
    return s;
}
