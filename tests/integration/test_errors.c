/*
 * Error replies, byte for byte against what a redis-server of the cluster answers to the same
 * bytes: unknown commands and subcommands, wrong arity, CROSSSLOT, protocol errors (after which
 * both close the connection). Plus inline ("telnet") requests.
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends the same bytes to a cluster node and to the proxy; both answers must be identical,
 * including whether the connection was closed. */
static void same_as_redis(const char *req, size_t len)
{
    static char a[1 << 16], b[1 << 16];
    int ca, cb;
    size_t na = h_raw(h_env.cluster_port, req, len, a, sizeof(a), 300, 0, &ca);
    size_t nb = h_raw(h_env.proxy_port, req, len, b, sizeof(b), 300, 0, &cb);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "request %.60s...\nredis: [%s]\nproxy: [%s]",
                  req, a, b);
    ck_assert_msg(ca == cb, "redis %s the connection, the proxy %s", ca ? "closed" : "kept",
                  cb ? "closed" : "kept");
}

#define SAME(lit) same_as_redis(lit, sizeof(lit) - 1)

START_TEST(test_unknown_and_arity)
{
    SAME("*1\r\n$4\r\nFOOO\r\n");
    SAME("*3\r\n$6\r\nfoobar\r\n$1\r\na\r\n$2\r\nbc\r\n");
    SAME("nosuchcommand arg1 'arg 2'\r\n");
    /* CR/LF inside arguments become spaces in the error; long arguments are cut at 128. */
    SAME("*2\r\n$7\r\nunknown\r\n$5\r\na\r\nbc\r\n");
    char big[600];
    int n = snprintf(big, sizeof(big), "*3\r\n$3\r\nzzz\r\n$200\r\n");
    memset(big + n, 'x', 200);
    n += 200;
    n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n$3\r\nyyy\r\n");
    same_as_redis(big, (size_t)n);
    SAME("*1\r\n$3\r\nGET\r\n");
    SAME("*3\r\n$3\r\nGET\r\n$1\r\na\r\n$1\r\nb\r\n");
    SAME("*2\r\n$3\r\nSET\r\n$1\r\na\r\n");
    SAME("*1\r\n$6\r\nOBJECT\r\n");
    SAME("*2\r\n$6\r\nconfig\r\n$3\r\nfoo\r\n");
    SAME("*2\r\n$6\r\nOBJECT\r\n$10\r\nnosuchsub!\r\n");
    SAME("*2\r\n$6\r\nconfig\r\n$3\r\nget\r\n");
    SAME("*1\r\n$4\r\nEVAL\r\n");
    SAME("GET\r\n");
}
END_TEST

START_TEST(test_crossslot)
{
    SAME("*5\r\n$6\r\nMSETNX\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
    SAME("*4\r\n$11\r\nSUNIONSTORE\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nb\r\n");
    SAME("*3\r\n$6\r\nRENAME\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*3\r\n$6\r\nSINTER\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*4\r\n$5\r\nLMOVE\r\n$3\r\nfoo\r\n$3\r\nbar\r\n$4\r\nLEFT\r\n");
    SAME("*4\r\n$7\r\nPFMERGE\r\n$1\r\nd\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*3\r\n$4\r\nCOPY\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*4\r\n$10\r\nSINTERCARD\r\n$1\r\n2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*5\r\n$11\r\nZUNIONSTORE\r\n$1\r\nd\r\n$1\r\n2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*4\r\n$6\r\nZINTER\r\n$1\r\n2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    SAME("*6\r\n$5\r\nFCALL\r\n$1\r\nf\r\n$1\r\n2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n$1\r\nx\r\n");
    SAME("*6\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n$1\r\nx\r\n");
    SAME("*4\r\n$5\r\nBITOP\r\n$3\r\nAND\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
}
END_TEST

START_TEST(test_protocol_errors)
{
    SAME("*x\r\n");
    SAME("*2\r\n+abc\r\n");
    SAME("*1\r\n$-5\r\n");
    SAME("*1\r\n$99999999999999999999\r\n");
    SAME("PING \"a\r\n");
    SAME("set a \"b\"c\r\n");
    SAME("*3000000000\r\n");
    /* Requests before the error are answered first, then the error, then the close. */
    SAME("PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n");
    /* A line too long without a newline. */
    size_t n = 70 * 1024;
    char *junk = malloc(n);
    memset(junk, 'a', n);
    same_as_redis(junk, n);
    junk[0] = '*';
    same_as_redis(junk, n);
    free(junk);
    /* Empty requests are skipped silently. */
    SAME("*0\r\n*-1\r\n\r\n\r\nPING\r\n");
    /* Length lines around the parser's one-pass path (1 to 9 digits, no sign, no leading zero)
     * and past it: the same answers either way, quirks included (the byte after a length line's
     * '\r' is not looked at). */
    SAME("*2\r\n$4\r\nECHO\r\n$01\r\na\r\n");
    SAME("*02\r\n$4\r\nECHO\r\n$1\r\na\r\n");
    SAME("*2\r\n$4\r\nECHO\r\n$000000001\r\na\r\n");
    SAME("*2\r\n$4\r\nECHO\r\n$+1\r\na\r\n");
    SAME("*2\r\n$4\r\nECHO\r\n$ 1\r\na\r\n");
    SAME("*2\r\n$4\r\nECHO\r\n$1234567890\r\n");
    SAME("*2\r\n$4\r\nECHO\r\n$999999999\r\n");
    SAME("*2\r\n$4\rXECHO\r\n$1\rXa\r\n");
    SAME("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n");
    SAME("*0000000001\r\n$4\r\nPING\r\n");
}
END_TEST

START_TEST(test_inline)
{
    int closed;
    char out[4096];
    const char req[] = "SET inl:1 \"a b\\x41\"\r\nGET inl:1\r\n  get   inl:1  \nECHO 'it''s'\r\n";
    h_raw(h_env.proxy_port, req, sizeof(req) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n$4\r\na bA\r\n$4\r\na bA\r\n-ERR Protocol error: unbalanced "
                          "quotes in request\r\n");
    ck_assert_int_eq(closed, 1);
    const char req2[] = "PING\r\nPING hi\nset inl:2 'x\\'y'\r\nget inl:2\r\n";
    h_raw(h_env.proxy_port, req2, sizeof(req2) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+PONG\r\n$2\r\nhi\r\n+OK\r\n$3\r\nx'y\r\n");
    ck_assert_int_eq(closed, 0);
}
END_TEST

START_TEST(test_unsupported_is_clear)
{
    redisContext *p = h_connect(h_env.proxy_port);
    redisReply *r = h_cmd(p, "SYNC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strcmp(r->str, "ERR 'sync' cannot be used through slotproxy: it is part of the "
                                 "replication protocol") == 0,
                  "%s", r->str);
    freeReplyObject(r);
    r = h_cmd(p, "SHUTDOWN");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strstr(r->str, "single node") != NULL, "%s", r->str);
    freeReplyObject(r);
    /* The connection is still usable afterwards. */
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(p);
}
END_TEST

Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("exact");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unknown_and_arity);
    tcase_add_test(tc, test_crossslot);
    tcase_add_test(tc, test_protocol_errors);
    tcase_add_test(tc, test_inline);
    tcase_add_test(tc, test_unsupported_is_clear);
    suite_add_tcase(s, tc);
    return s;
}
