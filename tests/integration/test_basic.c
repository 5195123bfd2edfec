/*
 * Round trips of every data type through the proxy, each key then read directly on the master
 * that owns it, so the test proves the proxy wrote to the right node (not just that it answers).
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <string.h>

/* A direct connection to the master owning key. */
static redisContext *owner(const char *key)
{
    int port = h_owner_port(h_env.cluster_port, key, strlen(key));
    ck_assert_int_gt(port, 0);
    return h_connect(port);
}

START_TEST(test_strings)
{
    redisContext *p = h_connect(h_env.proxy_port);
    /* Keys over all three masters. */
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 60; i++) {
        char key[32], val[32];
        snprintf(key, sizeof(key), "str:%d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        h_expect_str(h_cmd(p, "SET %s %s", key, val), "OK");
        h_expect_str(h_cmd(p, "GET %s", key), val);
        redisContext *d = owner(key);
        h_expect_str(h_cmd(d, "GET %s", key), val);
        redisFree(d);
        int port = h_owner_port(h_env.cluster_port, key, strlen(key));
        seen[port - h_env.cluster_port < 3 ? port - h_env.cluster_port : 0] = 1;
    }
    ck_assert_msg(seen[0] && seen[1] && seen[2], "keys did not cover every master");

    h_expect_int(h_cmd(p, "APPEND str:a foo"), 3);
    h_expect_int(h_cmd(p, "APPEND str:a bar"), 6);
    h_expect_str(h_cmd(p, "GETRANGE str:a 1 4"), "ooba");
    h_expect_int(h_cmd(p, "STRLEN str:a"), 6);
    h_expect_int(h_cmd(p, "INCR str:n"), 1);
    h_expect_int(h_cmd(p, "INCRBY str:n 41"), 42);
    h_expect_str(h_cmd(p, "INCRBYFLOAT str:f 1.5"), "1.5");
    h_expect_int(h_cmd(p, "SETNX str:a x"), 0);
    h_expect_str(h_cmd(p, "GETDEL str:a"), "foobar");
    redisReply *r = h_cmd(p, "GET str:a");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* Same-slot multi-key commands go through in one piece. */
    h_expect_str(h_cmd(p, "MSET {t}a 1 {t}b 2 {t}c 3"), "OK");
    r = h_cmd(p, "MGET {t}a {t}b {t}c {t}none");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 4);
    ck_assert_str_eq(r->element[0]->str, "1");
    ck_assert_str_eq(r->element[2]->str, "3");
    ck_assert_int_eq(r->element[3]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisContext *d = owner("{t}b");
    h_expect_str(h_cmd(d, "GET {t}b"), "2");
    redisFree(d);
    redisFree(p);
}
END_TEST

START_TEST(test_binary_and_large_values)
{
    redisContext *p = h_connect(h_env.proxy_port);
    const char bin[] = "a\0b\r\nc\x01\xff";
    size_t blen = sizeof(bin) - 1;
    const char *argv[3] = {"SET", "bin:1", bin};
    size_t lens[3] = {3, 5, blen};
    h_expect_str(h_cmd_argv(p, 3, argv, lens), "OK");
    redisReply *r = h_cmd(p, "GET bin:1");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_int_eq(r->len, blen);
    ck_assert(memcmp(r->str, bin, blen) == 0);
    freeReplyObject(r);
    /* An empty value and values around and far beyond a buffer chunk (16 KiB). */
    h_expect_str(h_cmd(p, "SET bin:empty %b", "", (size_t)0), "OK");
    h_expect_str(h_cmd(p, "GET bin:empty"), "");
    size_t sizes[] = {16 * 1024 - 40, 16 * 1024, 100 * 1000, 3 * 1024 * 1024};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        char *big = malloc(n);
        for (size_t i = 0; i < n; i++) big[i] = (char)('a' + (i * 7 + k) % 26);
        char key[32];
        snprintf(key, sizeof(key), "big:%zu", n);
        h_expect_str(h_cmd(p, "SET %s %b", key, big, n), "OK");
        r = h_cmd(p, "GET %s", key);
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert_int_eq(r->len, n);
        ck_assert(memcmp(r->str, big, n) == 0);
        freeReplyObject(r);
        redisContext *d = owner(key);
        h_expect_int(h_cmd(d, "STRLEN %s", key), (long long)n);
        redisFree(d);
        free(big);
    }
    redisFree(p);
}
END_TEST

START_TEST(test_lists)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_int(h_cmd(p, "RPUSH list:1 a b c"), 3);
    h_expect_int(h_cmd(p, "LPUSH list:1 z"), 4);
    redisReply *r = h_cmd(p, "LRANGE list:1 0 -1");
    ck_assert_int_eq(r->elements, 4);
    ck_assert_str_eq(r->element[0]->str, "z");
    ck_assert_str_eq(r->element[3]->str, "c");
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "LPOP list:1"), "z");
    h_expect_str(h_cmd(p, "LINDEX list:1 1"), "b");
    r = h_cmd(p, "LMOVE {l}src {l}dst LEFT RIGHT");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "RPUSH {l}src x y"), 2);
    h_expect_str(h_cmd(p, "LMOVE {l}src {l}dst LEFT RIGHT"), "x");
    h_expect_int(h_cmd(p, "LLEN list:1"), 3);
    redisContext *d = owner("list:1");
    r = h_cmd(d, "LRANGE list:1 0 -1");
    ck_assert_int_eq(r->elements, 3);
    ck_assert_str_eq(r->element[0]->str, "a");
    freeReplyObject(r);
    redisFree(d);
    d = owner("{l}dst");
    h_expect_str(h_cmd(d, "LPOP {l}dst"), "x");
    redisFree(d);
    redisFree(p);
}
END_TEST

START_TEST(test_sets_hashes_zsets)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_int(h_cmd(p, "SADD set:1 a b c"), 3);
    h_expect_int(h_cmd(p, "SISMEMBER set:1 b"), 1);
    h_expect_int(h_cmd(p, "SCARD set:1"), 3);
    h_expect_int(h_cmd(p, "SADD {s}x 1 2 3"), 3);
    h_expect_int(h_cmd(p, "SADD {s}y 2 3 4"), 3);
    h_expect_int(h_cmd(p, "SINTERSTORE {s}z {s}x {s}y"), 2);
    h_expect_int(h_cmd(p, "SINTERCARD 2 {s}x {s}y"), 2);

    h_expect_int(h_cmd(p, "HSET hash:1 f1 v1 f2 v2"), 2);
    h_expect_str(h_cmd(p, "HGET hash:1 f2"), "v2");
    h_expect_int(h_cmd(p, "HINCRBY hash:1 n 5"), 5);
    redisReply *r = h_cmd(p, "HGETALL hash:1");
    ck_assert_int_eq(r->elements, 6);
    freeReplyObject(r);

    h_expect_int(h_cmd(p, "ZADD zset:1 1 one 2 two 3 three"), 3);
    h_expect_str(h_cmd(p, "ZSCORE zset:1 two"), "2");
    h_expect_int(h_cmd(p, "ZRANK zset:1 three"), 2);
    r = h_cmd(p, "ZRANGE zset:1 0 -1 WITHSCORES");
    ck_assert_int_eq(r->elements, 6);
    ck_assert_str_eq(r->element[0]->str, "one");
    ck_assert_str_eq(r->element[5]->str, "3");
    freeReplyObject(r);

    redisContext *d = owner("set:1");
    h_expect_int(h_cmd(d, "SCARD set:1"), 3);
    redisFree(d);
    d = owner("hash:1");
    h_expect_str(h_cmd(d, "HGET hash:1 f1"), "v1");
    redisFree(d);
    d = owner("zset:1");
    h_expect_int(h_cmd(d, "ZCARD zset:1"), 3);
    redisFree(d);
    d = owner("{s}z");
    h_expect_int(h_cmd(d, "SCARD {s}z"), 2);
    redisFree(d);
    redisFree(p);
}
END_TEST

START_TEST(test_streams_and_keyspace)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "XADD stream:1 1-1 f v"), "1-1");
    h_expect_str(h_cmd(p, "XADD stream:1 2-1 f w"), "2-1");
    h_expect_int(h_cmd(p, "XLEN stream:1"), 2);
    redisReply *r = h_cmd(p, "XRANGE stream:1 - +");
    ck_assert_int_eq(r->elements, 2);
    ck_assert_str_eq(r->element[1]->element[0]->str, "2-1");
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "XGROUP CREATE stream:1 g 0"), "OK");
    r = h_cmd(p, "XREADGROUP GROUP g c COUNT 1 STREAMS stream:1 >");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str, "1-1");
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "XACK stream:1 g 1-1"), 1);
    r = h_cmd(p, "XREAD COUNT 5 STREAMS stream:1 0");
    ck_assert_int_eq(r->element[0]->element[1]->elements, 2);
    freeReplyObject(r);
    redisContext *d = owner("stream:1");
    h_expect_int(h_cmd(d, "XLEN stream:1"), 2);
    redisFree(d);

    h_expect_str(h_cmd(p, "SET ttl:1 v EX 100"), "OK");
    r = h_cmd(p, "TTL ttl:1");
    ck_assert(r->integer > 90 && r->integer <= 100);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "TYPE stream:1"), "stream");
    h_expect_int(h_cmd(p, "EXISTS ttl:1"), 1);
    h_expect_int(h_cmd(p, "DEL ttl:1"), 1);
    h_expect_int(h_cmd(p, "EXISTS ttl:1"), 0);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    h_expect_str(h_cmd(p, "PING hello"), "hello");
    h_expect_str(h_cmd(p, "ECHO %s", "echo me"), "echo me");
    /* COMMAND is answered by a node, so client libraries that call it on connect work. */
    r = h_cmd(p, "COMMAND COUNT");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_gt(r->integer, 200);
    freeReplyObject(r);
    r = h_cmd(p, "COMMAND INFO get");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->element[0]->str, "get");
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

START_TEST(test_quit_and_many_clients)
{
    int closed;
    char out[256];
    size_t n =
        h_raw(h_env.proxy_port, "PING\r\nQUIT\r\nPING\r\n", 18, out, sizeof(out), 2000, 0, &closed);
    ck_assert_str_eq(out, "+PONG\r\n+OK\r\n");
    ck_assert_int_eq(n, 12);
    ck_assert_int_eq(closed, 1);
    /* Many clients at once, spread over the workers, each with its own keys. */
    redisContext *cs[200];
    for (int i = 0; i < 200; i++) cs[i] = h_connect(h_env.proxy_port);
    for (int i = 0; i < 200; i++) redisAppendCommand(cs[i], "SET mc:%d %d", i, i);
    for (int i = 0; i < 200; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(cs[i], (void **)&r), REDIS_OK);
        h_expect_str(r, "OK");
    }
    for (int i = 0; i < 200; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", (i + 1) % 200);
        h_expect_str(h_cmd(cs[i], "GET mc:%d", (i + 1) % 200), v);
        redisFree(cs[i]);
    }
}
END_TEST

Suite *basic_suite(void)
{
    Suite *s = suite_create("basic");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_binary_and_large_values);
    tcase_add_test(tc, test_lists);
    tcase_add_test(tc, test_sets_hashes_zsets);
    tcase_add_test(tc, test_streams_and_keyspace);
    tcase_add_test(tc, test_quit_and_many_clients);
    suite_add_tcase(s, tc);
    return s;
}
