/*
 * Pipelining: thousands of requests in flight on one connection, over keys on every master,
 * must come back complete and in request order, however the nodes interleave their answers.
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCMDS     10000
#define NCOUNTERS 97
#define NLISTS    13

START_TEST(test_pipeline_10000_mixed)
{
    redisContext *p = h_connect(h_env.proxy_port);
    /* Unique key space per run so reruns start clean. */
    long long run = (long long)h_now_ms();
    long long counters[NCOUNTERS] = {0}, lists[NLISTS] = {0};
    for (int i = 0; i < NCMDS; i++) {
        switch (i % 5) {
        case 0: redisAppendCommand(p, "SET pk:%lld:%d v:%d", run, i, i); break;
        case 1: redisAppendCommand(p, "GET pk:%lld:%d", run, i - 1); break;
        case 2: redisAppendCommand(p, "INCR pc:%lld:%d", run, i % NCOUNTERS); break;
        case 3: redisAppendCommand(p, "RPUSH pl:%lld:%d %d", run, i % NLISTS, i); break;
        case 4: redisAppendCommand(p, "GET missing:%lld:%d", run, i); break;
        }
    }
    for (int i = 0; i < NCMDS; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(p, (void **)&r), REDIS_OK);
        char want[64];
        switch (i % 5) {
        case 0: h_expect_str(r, "OK"); break;
        case 1:
            snprintf(want, sizeof(want), "v:%d", i - 1);
            h_expect_str(r, want);
            break;
        case 2: h_expect_int(r, ++counters[i % NCOUNTERS]); break;
        case 3: h_expect_int(r, ++lists[i % NLISTS]); break;
        case 4:
            ck_assert_msg(r->type == REDIS_REPLY_NIL, "reply %d: expected nil", i);
            freeReplyObject(r);
            break;
        }
    }
    redisFree(p);
}
END_TEST

/* The same idea over a raw socket: every request in one write, every reply compared byte for
 * byte with what the order of requests dictates. */
START_TEST(test_pipeline_raw_one_write)
{
    size_t cap = 4 << 20;
    char *req = malloc(cap), *want = malloc(cap), *got = malloc(cap);
    size_t rl = 0, wl = 0;
    long long run = (long long)h_now_ms();
    for (int i = 0; i < 3000; i++) {
        char key[64], val[64];
        int kl = snprintf(key, sizeof(key), "raw:%lld:%d", run, i);
        int vl = snprintf(val, sizeof(val), "%d", i * 3);
        rl += (size_t)snprintf(req + rl, cap - rl, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
                               kl, key, vl, val);
        rl += (size_t)snprintf(req + rl, cap - rl, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, key);
        wl += (size_t)snprintf(want + wl, cap - wl, "+OK\r\n$%d\r\n%s\r\n", vl, val);
    }
    int closed;
    size_t n = h_raw(h_env.proxy_port, req, rl, got, cap, 3000, 1, &closed);
    ck_assert_int_eq(n, wl);
    ck_assert(memcmp(got, want, wl) == 0);
    ck_assert_int_eq(closed, 1); /* half-closed client: replies first, then the close */
    free(req);
    free(want);
    free(got);
}
END_TEST

/* Several clients pipelining at once over the same shared backend connections. Under this load
 * the io_uring loop batches its waits (-io-batch-us, loop_due): the replies stay whole and in
 * order, batched waits happen where the kernel can bound them, and once the load is over no node
 * connection is left counted as owing replies (a count left behind would make every later wait
 * a batched one, at up to the bound's cost). */
START_TEST(test_pipeline_concurrent_clients)
{
    enum { NC = 20, DEPTH = 500 };
    long long batch_us = h_info_num(h_env.proxy_port, "io_batch_us");
    long long waits0 = h_info_num(h_env.proxy_port, "io_batch_waits");
    redisContext *cs[NC];
    for (int c = 0; c < NC; c++) cs[c] = h_connect(h_env.proxy_port);
    long long run = (long long)h_now_ms();
    for (int round = 0; round < 3; round++) {
        for (int c = 0; c < NC; c++)
            for (int i = 0; i < DEPTH; i++)
                redisAppendCommand(cs[c], "INCRBY cc:%lld:%d:%d %d", run, c, i % 31, c + 1);
        for (int c = 0; c < NC; c++)
            for (int i = 0; i < DEPTH; i++) {
                redisReply *r;
                ck_assert_int_eq(redisGetReply(cs[c], (void **)&r), REDIS_OK);
                /* Each key is bumped by c+1 once per pass over i % 31. */
                long long times = (long long)round * ((DEPTH + 30 - i % 31) / 31) + i / 31 + 1;
                h_expect_int(r, times * (c + 1));
            }
    }
    for (int c = 0; c < NC; c++) redisFree(cs[c]);
    h_sleep_ms(1200); /* the workers copy the loop's figures once a second */
    ck_assert_int_eq(h_info_num(h_env.proxy_port, "io_replies_due"), 0);
    long long waits = h_info_num(h_env.proxy_port, "io_batch_waits");
    long long shorts = h_info_num(h_env.proxy_port, "io_batch_short");
    ck_assert_int_le(shorts, waits);
    if (batch_us > 0)
        ck_assert_msg(waits > waits0, "no batched wait under load (%lld before, %lld after)",
                      waits0, waits);
    else
        ck_assert_int_eq(waits, 0);
    fprintf(stderr, "batched waits: %lld (%lld short), bound %lld us\n", waits - waits0, shorts,
            batch_us);
}
END_TEST

Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("order");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pipeline_10000_mixed);
    tcase_add_test(tc, test_pipeline_raw_one_write);
    tcase_add_test(tc, test_pipeline_concurrent_clients);
    suite_add_tcase(s, tc);
    return s;
}
