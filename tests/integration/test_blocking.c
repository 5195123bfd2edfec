/*
 * Blocking commands through the proxy, on private connections: BLPOP and friends woken by
 * writes from other clients, timeouts, timeout 0, XREAD BLOCK, WAIT; requests after a blocking
 * one wait for it as on a Redis connection; the shared pipeline is never blocked; a client that
 * leaves while blocked has its node connection closed (no ghost consumer); 1,000 clients blocked
 * at once are all woken.
 */
#include "harness.h"
#include "suites.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pushes after a delay, from another connection. */
struct pusher {
    int delay_ms;
    char cmd[256];
};

static void *push_later(void *arg)
{
    struct pusher *p = arg;
    h_sleep_ms(p->delay_ms);
    redisContext *c = redisConnect("127.0.0.1", h_env.proxy_port);
    redisReply *r = redisCommand(c, p->cmd);
    if (r) freeReplyObject(r);
    redisFree(c);
    return NULL;
}

static void later(pthread_t *t, struct pusher *p, int ms, const char *cmd)
{
    p->delay_ms = ms;
    snprintf(p->cmd, sizeof(p->cmd), "%s", cmd);
    pthread_create(t, NULL, push_later, p);
}

START_TEST(test_blocking_family)
{
    redisContext *c = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(c, "DEL bl:q {bl}src {bl}dst bl:z bl:s"));
    pthread_t t;
    struct pusher p;
    /* Timeout 0: blocks until a push. */
    later(&t, &p, 300, "RPUSH bl:q hello");
    uint64_t t0 = h_now_ms();
    redisReply *r = h_cmd(c, "BLPOP bl:q 0");
    ck_assert_int_eq(r->elements, 2);
    ck_assert_str_eq(r->element[1]->str, "hello");
    freeReplyObject(r);
    ck_assert_int_ge(h_now_ms() - t0, 250);
    pthread_join(t, NULL);
    /* A timeout that expires. */
    t0 = h_now_ms();
    r = h_cmd(c, "BRPOP bl:q 0.3");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    ck_assert_int_ge(h_now_ms() - t0, 250);
    later(&t, &p, 100, "RPUSH {bl}src a");
    h_expect_str(h_cmd(c, "BLMOVE {bl}src {bl}dst LEFT RIGHT 5"), "a");
    pthread_join(t, NULL);
    later(&t, &p, 100, "ZADD bl:z 1 one");
    r = h_cmd(c, "BZPOPMIN bl:z 5");
    ck_assert_str_eq(r->element[1]->str, "one");
    freeReplyObject(r);
    pthread_join(t, NULL);
    later(&t, &p, 100, "RPUSH {bl}src x y");
    r = h_cmd(c, "BLMPOP 5 2 {bl}src {bl}dst LEFT COUNT 2");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    pthread_join(t, NULL);
    /* Streams: XREAD BLOCK 0 woken by XADD; without BLOCK it does not block. */
    later(&t, &p, 200, "XADD bl:s 5-1 f v");
    r = h_cmd(c, "XREAD BLOCK 0 STREAMS bl:s $");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str, "5-1");
    freeReplyObject(r);
    pthread_join(t, NULL);
    r = h_cmd(c, "XREAD COUNT 1 STREAMS bl:s 9-0");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    h_expect_str(h_cmd(c, "XGROUP CREATE bl:s g $"), "OK");
    later(&t, &p, 100, "XADD bl:s 6-1 f w");
    r = h_cmd(c, "XREADGROUP GROUP g c1 BLOCK 5000 STREAMS bl:s >");
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str, "6-1");
    freeReplyObject(r);
    pthread_join(t, NULL);
    /* WAIT asks every master for its replicas: each has one. */
    h_expect_str(h_cmd(c, "SET bl:w 1"), "OK");
    r = h_cmd(c, "WAIT 1 2000");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    /* WAIT for more replicas than there are waits its whole timeout at every master, on
     * connections of its own: other clients' requests to those masters are not held behind it
     * (they were, on the shared connections, until -backend-timeout failed them). */
    redisContext *w = h_connect(h_env.proxy_port);
    uint64_t wait_at = h_now_ms();
    redisAppendCommand(w, "WAIT 5 1500");
    int done = 0;
    while (!done) ck_assert_int_eq(redisBufferWrite(w, &done), REDIS_OK);
    h_sleep_ms(100);
    redisContext *others[3];
    for (int i = 0; i < 3; i++) others[i] = h_connect(h_env.proxy_port);
    uint64_t slowest = 0;
    for (int k = 0; k < 30; k++) {
        for (int i = 0; i < 3; i++) {
            uint64_t a = h_now_ms();
            r = h_cmd(others[i], "GET bl:wait:%d", k);
            ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
            freeReplyObject(r);
            if (h_now_ms() - a > slowest) slowest = h_now_ms() - a;
        }
    }
    ck_assert_msg(slowest < 700, "a GET took %llu ms while WAIT waited",
                  (unsigned long long)slowest);
    ck_assert_int_eq(redisGetReply(w, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    ck_assert_uint_ge(h_now_ms() - wait_at, 1400);
    for (int i = 0; i < 3; i++) redisFree(others[i]);
    redisFree(w);
    redisFree(c);
}
END_TEST

START_TEST(test_later_requests_wait)
{
    /* Pipelined after a BLPOP: LLEN runs after the pop, as on one Redis connection. */
    redisContext *c = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(c, "DEL bw:q"));
    pthread_t t;
    struct pusher p;
    later(&t, &p, 300, "RPUSH bw:q a b");
    redisAppendCommand(c, "BLPOP bw:q 5");
    redisAppendCommand(c, "LLEN bw:q");
    redisAppendCommand(c, "SET bw:x 1");
    redisAppendCommand(c, "BLPOP bw:q 5");
    redisAppendCommand(c, "LLEN bw:q");
    redisReply *r;
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->element[1]->str, "a");
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    h_expect_int(r, 1);
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    h_expect_str(r, "OK");
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->element[1]->str, "b");
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    h_expect_int(r, 0);
    pthread_join(t, NULL);
    redisFree(c);
}
END_TEST

static long long node_blocked(void)
{
    long long n = 0;
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        redisReply *r = h_cmd(d, "INFO clients");
        n += atoll(strstr(r->str, "blocked_clients:") + 16);
        freeReplyObject(r);
        redisFree(d);
    }
    return n;
}

START_TEST(test_client_gone_while_blocked)
{
    redisContext *c = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(c, "DEL bg:q"));
    for (int i = 0; i < 10; i++) {
        redisContext *b = h_connect(h_env.proxy_port);
        redisAppendCommand(b, "BLPOP bg:q 0");
        int done = 0;
        redisBufferWrite(b, &done);
        h_sleep_ms(20);
        redisFree(b); /* gone while blocked */
    }
    /* The proxy closed those node connections: nothing stays blocked, and a push is not eaten by
     * a ghost. */
    for (int i = 0; i < 50 && node_blocked() > 0; i++) h_sleep_ms(20);
    ck_assert_int_eq(node_blocked(), 0);
    h_expect_int(h_cmd(c, "RPUSH bg:q v"), 1);
    h_sleep_ms(50);
    h_expect_int(h_cmd(c, "LLEN bg:q"), 1);
    redisFree(c);
}
END_TEST

START_TEST(test_shared_pipeline_not_blocked)
{
    enum { NB = 100 };
    redisContext *b[NB];
    for (int i = 0; i < NB; i++) {
        b[i] = h_connect(h_env.proxy_port);
        redisAppendCommand(b[i], "BLPOP bs:%d 0", i);
        int done = 0;
        redisBufferWrite(b[i], &done);
    }
    h_sleep_ms(100);
    redisContext *c = h_connect(h_env.proxy_port);
    for (int i = 0; i < 200; i++) {
        uint64_t t0 = h_now_ms();
        h_expect_str(h_cmd(c, "SET bs:other %d", i), "OK");
        ck_assert_int_lt(h_now_ms() - t0, 200);
    }
    for (int i = 0; i < NB; i++) freeReplyObject(h_cmd(c, "RPUSH bs:%d x", i));
    for (int i = 0; i < NB; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(b[i], (void **)&r), REDIS_OK);
        ck_assert_str_eq(r->element[1]->str, "x");
        freeReplyObject(r);
        redisFree(b[i]);
    }
    redisFree(c);
}
END_TEST

START_TEST(test_thousand_blocked)
{
    enum { NB = 1000 };
    redisContext **b = calloc(NB, sizeof(*b));
    redisContext *c = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(c, "DEL bk:q"));
    for (int i = 0; i < NB; i++) {
        b[i] = h_connect(h_env.proxy_port);
        redisAppendCommand(b[i], "BLPOP bk:q 0");
        int done = 0;
        redisBufferWrite(b[i], &done);
    }
    for (int i = 0; i < 200 && node_blocked() < NB; i++) h_sleep_ms(50);
    ck_assert_int_eq(node_blocked(), NB);
    for (int i = 0; i < NB; i += 100) {
        char cmd[4096];
        int n = snprintf(cmd, sizeof(cmd), "RPUSH bk:q");
        for (int k = i; k < i + 100; k++) n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " %d", k);
        freeReplyObject(h_cmd(c, cmd));
    }
    char *got = calloc(NB, 1);
    for (int i = 0; i < NB; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(b[i], (void **)&r), REDIS_OK);
        int v = atoi(r->element[1]->str);
        ck_assert(v >= 0 && v < NB && !got[v]);
        got[v] = 1;
        freeReplyObject(r);
        redisFree(b[i]);
    }
    h_expect_int(h_cmd(c, "LLEN bk:q"), 0);
    free(got);
    free(b);
    redisFree(c);
}
END_TEST

Suite *blocking_suite(void)
{
    Suite *s = suite_create("blocking");
    TCase *tc = tcase_create("blocking");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_blocking_family);
    tcase_add_test(tc, test_later_requests_wait);
    tcase_add_test(tc, test_client_gone_while_blocked);
    tcase_add_test(tc, test_shared_pipeline_not_blocked);
    tcase_add_test(tc, test_thousand_blocked);
    suite_add_tcase(s, tc);
    return s;
}
