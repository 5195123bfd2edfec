/*
 * Scripts and functions through the proxy: EVAL/EVALSHA/FCALL routed by their declared keys,
 * CROSSSLOT when the keys disagree, any master when there are none; SCRIPT LOAD/EXISTS/FLUSH and
 * FUNCTION LOAD/DELETE/DUMP/RESTORE on every master; and NOSCRIPT recovery: a node that lost a
 * script the proxy has seen gets it loaded again, invisibly, while SCRIPT FLUSH through the proxy
 * makes EVALSHA fail as Redis would.
 */
#include "harness.h"
#include "sha1.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long long info_field(redisContext *p, const char *section, const char *name)
{
    redisReply *r = h_cmd(p, "INFO %s", section);
    const char *f = strstr(r->str, name);
    long long v = f ? atoll(f + strlen(name)) : -1;
    freeReplyObject(r);
    return v;
}

START_TEST(test_eval_routing)
{
    redisContext *p = h_connect(h_env.proxy_port);
    const char *script = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[2])";
    h_expect_str(h_cmd(p, "SET {sc}b old"), "OK");
    h_expect_str(h_cmd(p, "EVAL %s 2 {sc}a {sc}b new", script), "old");
    h_expect_str(h_cmd(p, "GET {sc}a"), "new");
    redisReply *r = h_cmd(p, "EVAL %s 2 a b new", script);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "CROSSSLOT Keys in request don't hash to the same slot");
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "EVAL %s 0", "return 42"), 42);
    h_expect_str(h_cmd(p, "EVAL_RO %s 1 {sc}a", "return redis.call('GET', KEYS[1])"), "new");
    /* Errors in the script come back as the node gives them. */
    r = h_cmd(p, "EVAL %s 0", "return redis.call('NOSUCH')");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_ptr_nonnull(strstr(r->str, "Unknown Redis command"));
    freeReplyObject(r);
    r = h_cmd(p, "EVAL %s notanumber", "return 1");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR value is not an integer or out of range");
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

START_TEST(test_script_commands_and_noscript_recovery)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "SCRIPT FLUSH"), "OK");
    const char *body = "return 'v1:' .. KEYS[1]";
    redisReply *r = h_cmd(p, "SCRIPT LOAD %s", body);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    char sha[41];
    memcpy(sha, r->str, 41);
    freeReplyObject(r);
    /* Loaded on every master. */
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        r = h_cmd(d, "SCRIPT EXISTS %s", sha);
        ck_assert_int_eq(r->element[0]->integer, 1);
        freeReplyObject(r);
        redisFree(d);
    }
    /* EXISTS is the AND over masters: a script on one master only does not count. */
    redisContext *d0 = h_connect(h_env.cluster_port);
    r = h_cmd(d0, "SCRIPT LOAD %s", "return 'only here'");
    char only[41];
    memcpy(only, r->str, 41);
    freeReplyObject(r);
    r = h_cmd(p, "SCRIPT EXISTS %s %s ffffffffffffffffffffffffffffffffffffffff", sha, only);
    ck_assert_int_eq(r->elements, 3);
    ck_assert_int_eq(r->element[0]->integer, 1);
    ck_assert_int_eq(r->element[1]->integer, 0);
    ck_assert_int_eq(r->element[2]->integer, 0);
    freeReplyObject(r);

    /* A master loses its scripts (as a promoted replica would not have them): EVALSHA of keys
     * on every master still works, the proxy loads the script where it is missing. */
    long long before = info_field(p, "proxy", "noscript_reloads:");
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        h_expect_str(h_cmd(d, "SCRIPT FLUSH"), "OK");
        redisFree(d);
    }
    for (int i = 0; i < 30; i++) {
        char key[16], want[32];
        snprintf(key, sizeof(key), "ns%d", i);
        snprintf(want, sizeof(want), "v1:%s", key);
        h_expect_str(h_cmd(p, "EVALSHA %s 1 %s", sha, key), want);
    }
    /* Upper-case hex works as in Redis. */
    char upper[41];
    for (int i = 0; i < 41; i++)
        upper[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 32 : sha[i]);
    h_expect_str(h_cmd(p, "EVALSHA %s 1 up", upper), "v1:up");
    long long after = info_field(p, "proxy", "noscript_reloads:");
    ck_assert_msg(after - before >= 3 && after - before <= 30, "reloads %lld", after - before);

    /* A script the proxy never saw: NOSCRIPT as Redis says it. */
    r = h_cmd(p, "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "NOSCRIPT No matching script. Please use EVAL.");
    freeReplyObject(r);
    /* After SCRIPT FLUSH through the proxy, the client must see NOSCRIPT, not a reload. */
    h_expect_str(h_cmd(p, "SCRIPT FLUSH ASYNC"), "OK");
    r = h_cmd(p, "EVALSHA %s 1 k", sha);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "NOSCRIPT No matching script. Please use EVAL.");
    freeReplyObject(r);
    /* EVAL teaches the proxy the body too. */
    h_expect_str(h_cmd(p, "EVAL %s 1 {e}k", body), "v1:{e}k");
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        h_expect_str(h_cmd(d, "SCRIPT FLUSH"), "OK");
        redisFree(d);
    }
    h_expect_str(h_cmd(p, "EVALSHA %s 1 {e}k", sha), "v1:{e}k");

    /* Scripts Redis refused before caching them stay unknown: an EVAL with a bad number of keys,
     * one that does not compile, a SCRIPT LOAD that does not compile. */
    static const char *const bad[] = {"return 4242", "syntax error (", "#!lua flags=bad\nreturn 1",
                                      "syntax error 2 ("};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (i == 0)
            r = h_cmd(p, "EVAL %s 1", bad[i]);
        else if (i < 3)
            r = h_cmd(p, "EVAL %s 0", bad[i]);
        else
            r = h_cmd(p, "SCRIPT LOAD %s", bad[i]);
        ck_assert_msg(r->type == REDIS_REPLY_ERROR, "%s", bad[i]);
        freeReplyObject(r);
        char bsha[41];
        sha1_hex(bad[i], strlen(bad[i]), bsha);
        r = h_cmd(p, "EVALSHA %s 0", bsha);
        ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                          strcmp(r->str, "NOSCRIPT No matching script. Please use EVAL.") == 0,
                      "EVALSHA of %s", bad[i]);
        freeReplyObject(r);
        r = h_cmd(p, "SCRIPT EXISTS %s", bsha);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_msg(r->element[0]->integer == 0, "SCRIPT EXISTS of %s", bad[i]);
        freeReplyObject(r);
    }
    redisFree(d0);
    redisFree(p);
}
END_TEST

START_TEST(test_functions)
{
    redisContext *p = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(p, "FUNCTION FLUSH"));
    const char *lib = "#!lua name=pxlib\n"
                      "redis.register_function('pxset', function(keys, args) "
                      "return redis.call('SET', keys[1], args[1]) end)\n"
                      "redis.register_function{function_name='pxget', callback=function(keys, "
                      "args) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n";
    h_expect_str(h_cmd(p, "FUNCTION LOAD %s", lib), "pxlib");
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        redisReply *r = h_cmd(d, "FUNCTION LIST");
        ck_assert_int_eq(r->elements, 1);
        freeReplyObject(r);
        redisFree(d);
    }
    for (int i = 0; i < 20; i++) {
        h_expect_str(h_cmd(p, "FCALL pxset 1 fk%d v%d", i, i), "OK");
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        h_expect_str(h_cmd(p, "FCALL_RO pxget 1 fk%d", i), want);
    }
    redisReply *r = h_cmd(p, "FCALL pxset 2 a b v");
    ck_assert_str_eq(r->str, "CROSSSLOT Keys in request don't hash to the same slot");
    freeReplyObject(r);
    r = h_cmd(p, "FUNCTION LOAD %s", lib);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR Library 'pxlib' already exists");
    freeReplyObject(r);
    /* DUMP from the proxy (any master), FLUSH everywhere, RESTORE everywhere. */
    r = h_cmd(p, "FUNCTION DUMP");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    char *dump = malloc(r->len);
    size_t dlen = r->len;
    memcpy(dump, r->str, dlen);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "FUNCTION DELETE pxlib"), "OK");
    r = h_cmd(p, "FCALL pxset 1 x y");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "FUNCTION RESTORE %b", dump, dlen), "OK");
    h_expect_str(h_cmd(p, "FCALL pxset 1 x y"), "OK");
    r = h_cmd(p, "FUNCTION LIST");
    ck_assert_int_eq(r->elements, 1);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "FUNCTION FLUSH"), "OK");
    free(dump);
    redisFree(p);
}
END_TEST

/* A script can return a reply nested as deep as Lua's stack allows (about 8,000 levels, then
 * an error inside it): the proxy passes it on byte for byte, as the node sends it, and the
 * connection stays usable (Redis's suite, "Script return recursive object"). */
START_TEST(test_deep_reply)
{
    static const char req[] = "*3\r\n$4\r\nEVAL\r\n$47\r\nlocal a = {}; local b = {a}; a[1] = b; "
                              "return a\r\n$1\r\n0\r\n";
    struct h_rc p, n;
    h_rc_open(&p, h_env.proxy_port);
    h_rc_open(&n, h_env.cluster_port);
    size_t pl, nl;
    const char *pr = h_rc_roundtrip(&p, req, sizeof(req) - 1, &pl);
    char *copy = malloc(pl);
    memcpy(copy, pr, pl);
    const char *nr = h_rc_roundtrip(&n, req, sizeof(req) - 1, &nl);
    ck_assert_uint_gt(nl, 30000);
    ck_assert_msg(pl == nl && memcmp(copy, nr, nl) == 0, "%zu bytes through the proxy, %zu from "
                                                          "the node", pl, nl);
    free(copy);
    const char *pong = h_rc_roundtrip(&p, "PING\r\n", 6, &pl);
    ck_assert(pl == 7 && memcmp(pong, "+PONG\r\n", 7) == 0);
    h_rc_close(&p);
    h_rc_close(&n);
}
END_TEST

/* A script that runs past busy-reply-threshold: PING, which the proxy answers itself, says BUSY
 * as the busy node would (with SCRIPT KILL or FUNCTION KILL in the text, as Redis words it),
 * SCRIPT/FUNCTION KILL through the proxy stop it, and PING answers PONG again. */
static void busy_round(const char *call, size_t call_len, const char *kill, const char *want)
{
    redisContext *p = h_connect(h_env.proxy_port);
    struct h_rc runner;
    h_rc_open(&runner, h_env.proxy_port);
    ck_assert_int_eq(write(runner.fd, call, call_len), (ssize_t)call_len);
    int busy = 0;
    for (int i = 0; i < 100 && !busy; i++) {
        redisReply *r = h_cmd(p, "PING");
        if (r->type == REDIS_REPLY_ERROR) {
            ck_assert_str_eq(r->str, want);
            busy = 1;
        }
        freeReplyObject(r);
        if (!busy) h_sleep_ms(20);
    }
    ck_assert_msg(busy, "PING never said BUSY while the script ran");
    if (strcmp(kill, "FUNCTION KILL") == 0) {
        /* FUNCTION STATS reports the running function, whichever master runs it. */
        redisReply *r = h_cmd(p, "FUNCTION STATS");
        ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
        ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_ARRAY);
        ck_assert_str_eq(r->element[1]->element[1]->str, "spin");
        freeReplyObject(r);
        /* SCRIPT KILL does not stop a function: the busy master's BUSY, not the others' NOTBUSY. */
        r = h_cmd(p, "SCRIPT KILL");
        ck_assert_str_eq(r->str, "BUSY Redis is busy running a script. You can only call FUNCTION "
                                 "KILL or SHUTDOWN NOSAVE.");
        freeReplyObject(r);
    }
    h_expect_str(h_cmd(p, kill), "OK");
    size_t n;
    const char *x = h_rc_read(&runner, &n);
    ck_assert_msg(n > 0 && x[0] == '-', "%.*s", (int)n, x);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    h_rc_close(&runner);
    redisFree(p);
}

START_TEST(test_busy_script)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "CONFIG SET busy-reply-threshold 100"), "OK");
    static const char eval[] = "*3\r\n$4\r\nEVAL\r\n$17\r\nwhile true do end\r\n$1\r\n0\r\n";
    busy_round(eval, sizeof(eval) - 1, "SCRIPT KILL",
               "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN "
               "NOSAVE.");
    h_expect_str(h_cmd(p, "FUNCTION LOAD REPLACE %s",
                       "#!lua name=busylib\nredis.register_function('spin', function() while "
                       "true do end end)"),
                 "busylib");
    static const char fcall[] = "*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n";
    busy_round(fcall, sizeof(fcall) - 1, "FUNCTION KILL",
               "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN "
               "NOSAVE.");
    h_expect_str(h_cmd(p, "FUNCTION DELETE busylib"), "OK");
    h_expect_str(h_cmd(p, "CONFIG SET busy-reply-threshold 5000"), "OK");
    redisFree(p);
}
END_TEST

Suite *scripts_suite(void)
{
    Suite *s = suite_create("scripts");
    TCase *tc = tcase_create("scripts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_eval_routing);
    tcase_add_test(tc, test_script_commands_and_noscript_recovery);
    tcase_add_test(tc, test_functions);
    tcase_add_test(tc, test_deep_reply);
    tcase_add_test(tc, test_busy_script);
    suite_add_tcase(s, tc);
    return s;
}
