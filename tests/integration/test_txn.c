/*
 * Transactions through the proxy: MULTI/EXEC replies byte for byte as a Redis server gives them,
 * queuing errors (unknown commands, arity, CROSSSLOT) making EXEC fail with EXECABORT and nothing
 * applied, keyless commands queued before the first key, WATCH (a write from elsewhere makes EXEC
 * answer a null array), EXEC as a barrier for the requests after it, atomicity under concurrent
 * transactions, a transaction whose connection is killed: EXEC fails, nothing is applied, and the
 * commands the proxy runs itself (CONFIG SET, FLUSHDB, DBSIZE, CLIENT SETNAME) queued inside
 * MULTI and run after the node's part.
 */
#include "harness.h"
#include "suites.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same conversation, as one pipelined write, to the proxy and to the reference server. */
static void same_conversation(const char *req)
{
    static char a[1 << 15], b[1 << 15];
    int ca, cb;
    size_t len = strlen(req);
    size_t na = h_raw(h_env.single_port, req, len, a, sizeof(a), 400, 0, &ca);
    size_t nb = h_raw(h_env.proxy_port, req, len, b, sizeof(b), 400, 0, &cb);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "request:\n%s\nredis: [%s]\nproxy: [%s]", req,
                  a, b);
}

/* The next frame on c (read, or the reply to req when req is not NULL) is want. */
static void expect_frame(struct h_rc *c, const char *req, const char *want, const char *what)
{
    size_t n;
    const char *got = req ? h_rc_roundtrip(c, req, strlen(req), &n) : h_rc_read(c, &n);
    ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0, "%s: [%.*s]", what, (int)n, got);
}

static const char flush_push[] = ">2\r\n$10\r\ninvalidate\r\n_\r\n";

START_TEST(test_replies_as_redis)
{
    redisContext *p = h_connect(h_env.proxy_port), *d = h_connect(h_env.single_port);
    freeReplyObject(h_cmd(p, "DEL {t}a {t}b {t}l"));
    freeReplyObject(h_cmd(d, "DEL {t}a {t}b {t}l"));
    same_conversation("MULTI\r\nSET {t}a 1\r\nINCR {t}a\r\nLPUSH {t}a x\r\nGET {t}a\r\n"
                      "EXEC\r\nGET {t}a\r\n");
    same_conversation("MULTI\r\nSET {t}b 2\r\nDISCARD\r\nGET {t}b\r\n");
    same_conversation("EXEC\r\nDISCARD\r\nMULTI\r\nMULTI\r\nWATCH {t}a\r\nSET {t}a 9\r\n"
                      "EXEC\r\nGET {t}a\r\n");
    /* Errors while queuing abort the transaction: nothing of it runs. */
    same_conversation("MULTI\r\nSET {t}a 100\r\nNOSUCHCMD\r\nEXEC\r\nGET {t}a\r\n");
    same_conversation("MULTI\r\nSET {t}a 100\r\nGET {t}a {t}b\r\nEXEC\r\nGET {t}a\r\n");
    /* Replies of every type inside the EXEC array. */
    same_conversation("MULTI\r\nRPUSH {t}l a b c\r\nLRANGE {t}l 0 -1\r\nLPOP {t}l 5\r\n"
                      "GET {t}nope\r\nHSET {t}l f v\r\nEXEC\r\n");
    /* UNWATCH outside a transaction, and inside one (queued). */
    same_conversation("UNWATCH\r\nMULTI\r\nUNWATCH\r\nEXEC\r\n");
    /* The proxy's own SLOWLOG, refused as Redis refuses it (outside a transaction and inside). */
    same_conversation("SLOWLOG GET 1 2\r\nslowlog get x y z\r\nSLOWLOG LEN 1\r\n"
                      "MULTI\r\nSLOWLOG GET 1 2\r\nEXEC\r\n");
    /* An EXEC refused before it runs ends the transaction: EXECABORT with the reason. */
    same_conversation("EXEC x\r\nEXEC\r\n");
    same_conversation("MULTI\r\nSET {t}a 200\r\nEXEC x\r\nPING\r\nGET {t}a\r\n");
    same_conversation("ACL SETUSER txn:noexec on nopass +@all -exec ~* &*\r\n"
                      "AUTH txn:noexec x\r\nMULTI\r\nSET {t}a 300\r\nEXEC\r\nPING\r\n"
                      "GET {t}a\r\nAUTH default x\r\nACL DELUSER txn:noexec\r\n");
    redisFree(p);
    redisFree(d);
}
END_TEST

/* multi= of client x in another client's CLIENT LIST (found by name). */
static long long multi_of(redisContext *other, const char *name)
{
    redisReply *r = h_cmd(other, "CLIENT LIST");
    char needle[64];
    snprintf(needle, sizeof(needle), "name=%s ", name);
    const char *line = strstr(r->str, needle);
    ck_assert_ptr_nonnull(line);
    const char *m = strstr(line, " multi=");
    ck_assert_ptr_nonnull(m);
    long long v = strtoll(m + 7, NULL, 10);
    freeReplyObject(r);
    return v;
}

/* CLIENT LIST's multi= counts what a client queued since MULTI, as Redis counts it: commands
 * refused while queuing are not counted, and nothing is after the first of them; -1 outside. */
START_TEST(test_client_list_multi_count)
{
    static const char *const steps[] = {"MULTI", "PING", "SET {t}m 1", "GET {t}m",
                                        "NOSUCHCMD", "GET", "PING", "DISCARD"};
    int ports[2] = {h_env.single_port, h_env.proxy_port};
    long long seen[2][8];
    for (int k = 0; k < 2; k++) {
        redisContext *x = h_connect(ports[k]), *y = h_connect(ports[k]);
        h_expect_str(h_cmd(x, "CLIENT SETNAME txn:multi"), "OK");
        for (int i = 0; i < 8; i++) {
            freeReplyObject(h_cmd(x, steps[i]));
            seen[k][i] = multi_of(y, "txn:multi");
        }
        redisFree(x);
        redisFree(y);
    }
    for (int i = 0; i < 8; i++)
        ck_assert_msg(seen[0][i] == seen[1][i], "after %s: redis multi=%lld, proxy multi=%lld",
                      steps[i], seen[0][i], seen[1][i]);
    ck_assert_int_eq(seen[1][3], 3);
    ck_assert_int_eq(seen[1][7], -1);
}
END_TEST

START_TEST(test_slots_and_keyless)
{
    int closed;
    char out[4096];
    /* Commands without keys before the first key are queued by the proxy and run in order. */
    const char req[] = "MULTI\r\nPING\r\nECHO x\r\nSET {k}b 2\r\nGET {k}b\r\nEXEC\r\n";
    h_raw(h_env.proxy_port, req, sizeof(req) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
                          "*4\r\n+PONG\r\n$1\r\nx\r\n+OK\r\n$1\r\n2\r\n");
    /* No key at all: any master runs it. */
    const char req2[] = "MULTI\r\nPING\r\nTIME\r\nEXEC\r\n";
    h_raw(h_env.proxy_port, req2, sizeof(req2) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert(strncmp(out, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+PONG\r\n*2\r\n", 36) == 0);
    /* A key in another slot: CROSSSLOT while queuing, EXECABORT, nothing applied. */
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "SET {k}c before"), "OK");
    const char req3[] = "MULTI\r\nSET {k}c after\r\nSET {other}d x\r\nEXEC\r\nGET {k}c\r\n";
    h_raw(h_env.proxy_port, req3, sizeof(req3) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n+QUEUED\r\n-CROSSSLOT Keys in request don't hash to the same "
                          "slot\r\n-EXECABORT Transaction discarded because of previous "
                          "errors.\r\n$6\r\nbefore\r\n");
    /* Commands that change the connection itself abort it (test_proxy_commands_in_multi has
     * those the proxy runs after the node's part). */
    const char req4[] = "MULTI\r\nSET {k}c x\r\nCLIENT REPLY ON\r\nEXEC\r\nGET {k}c\r\n";
    h_raw(h_env.proxy_port, req4, sizeof(req4) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n+QUEUED\r\n-ERR 'client|reply' cannot be used inside MULTI "
                          "through slotproxy\r\n-EXECABORT Transaction discarded because of "
                          "previous errors.\r\n$6\r\nbefore\r\n");
    /* What Redis itself refuses in a transaction (no-multi: SAVE, SHUTDOWN) gets its words. */
    const char req5[] = "MULTI\r\nSAVE\r\nSET {k}c x\r\nEXEC\r\nGET {k}c\r\n";
    h_raw(h_env.proxy_port, req5, sizeof(req5) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n-ERR Command not allowed inside a transaction\r\n+QUEUED\r\n"
                          "-EXECABORT Transaction discarded because of previous errors.\r\n"
                          "$6\r\nbefore\r\n");
    redisFree(p);
}
END_TEST

/* Commands the proxy runs itself (fan-outs, its own state) queued inside MULTI: run after the
 * node's part, their replies in their places in EXEC's array, as Redis answers them. */
START_TEST(test_proxy_commands_in_multi)
{
    int closed;
    char out[4096];
    redisContext *p = h_connect(h_env.proxy_port);
    /* Byte for byte as Redis: a failing CONFIG SET in the middle, a flush at the end. */
    same_conversation("MULTI\r\nSET {t}a 1\r\nCONFIG SET maxmemory bla\r\nINCR {t}a\r\n"
                      "EXEC\r\nGET {t}a\r\n");
    same_conversation("MULTI\r\nSET {t}a 1\r\nGET {t}a\r\nFLUSHDB\r\nEXEC\r\nEXISTS {t}a\r\n"
                      "DBSIZE\r\n");
    same_conversation("MULTI\r\nSET {t}a 1\r\nDBSIZE\r\nEXEC\r\nMULTI\r\n"
                      "CLIENT SETNAME n1\r\nCLIENT GETNAME\r\nEXEC\r\nCLIENT GETNAME\r\n");
    /* In RESP3, a map in the array (HELLO's own reply differs: the server's id and version). */
    const char r3[] = "HELLO 3\r\nMULTI\r\nSET {t}a 1\r\nCONFIG GET maxmemory-policy\r\n"
                      "GET {t}a\r\nEXEC\r\n";
    const char want3[] = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n%1\r\n"
                         "$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n$1\r\n1\r\n";
    size_t n3 = h_raw(h_env.proxy_port, r3, sizeof(r3) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_msg(n3 >= sizeof(want3) - 1 && strcmp(out + n3 - (sizeof(want3) - 1), want3) == 0,
                  "RESP3: [%s]", out);
    /* A command for the node behind a write the proxy runs after it would run first: refused,
     * and the transaction with it. */
    h_expect_str(h_cmd(p, "SET {k}c before"), "OK");
    const char req[] = "MULTI\r\nSET {k}c 1\r\nFLUSHALL\r\nSET {k}c after\r\nEXEC\r\nGET {k}c\r\n";
    h_raw(h_env.proxy_port, req, sizeof(req) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n+QUEUED\r\n+QUEUED\r\n-ERR 'set' cannot follow FLUSHALL, "
                          "FLUSHDB or another write slotproxy runs itself inside MULTI: slotproxy "
                          "runs those after the rest of the transaction\r\n-EXECABORT Transaction "
                          "discarded because of previous errors.\r\n$6\r\nbefore\r\n");
    /* A watched key changed: nothing runs, the proxy's commands neither. */
    redisContext *w = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(w, "WATCH {k}c"), "OK");
    h_expect_str(h_cmd(p, "SET {k}c changed"), "OK");
    h_expect_str(h_cmd(w, "MULTI"), "OK");
    h_expect_str(h_cmd(w, "CLIENT SETNAME never"), "QUEUED");
    h_expect_str(h_cmd(w, "SET {k}c mine"), "QUEUED");
    redisReply *r = h_cmd(w, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = h_cmd(w, "CLIENT GETNAME");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "GET {k}c"), "changed");
    /* DISCARD forgets them. */
    h_expect_str(h_cmd(w, "MULTI"), "OK");
    h_expect_str(h_cmd(w, "CLIENT SETNAME discarded"), "QUEUED");
    h_expect_str(h_cmd(w, "DISCARD"), "OK");
    r = h_cmd(w, "CLIENT GETNAME");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* A tracking client's FLUSHDB: EXEC's array first, then the invalidation, as from Redis. */
    struct h_rc t;
    size_t n;
    h_rc_open(&t, h_env.proxy_port);
    h_rc_roundtrip(&t, "HELLO 3\r\n", 9, &n);
    h_rc_roundtrip(&t, "CLIENT TRACKING on\r\n", 20, &n);
    h_rc_roundtrip(&t, "SET {t}a 1\r\n", 12, &n);
    h_rc_roundtrip(&t, "GET {t}a\r\n", 10, &n);
    h_rc_roundtrip(&t, "MULTI\r\n", 7, &n);
    expect_frame(&t, "FLUSHDB\r\n", "+QUEUED\r\n", "FLUSHDB");
    /* Before the reply to what the client sends next. */
    expect_frame(&t, "EXEC\r\nPING\r\n", "*1\r\n+OK\r\n", "EXEC");
    expect_frame(&t, NULL, flush_push, "push");
    expect_frame(&t, NULL, "+PONG\r\n", "PING");
    /* The nodes' own messages for that flush may still come (the client had read nothing
     * since, and reads again below): taken now. */
    for (;;) {
        struct pollfd pf = {.fd = t.fd, .events = POLLIN};
        if (t.len == t.start && poll(&pf, 1, 300) <= 0) break;
        expect_frame(&t, NULL, flush_push, "late");
    }
    /* The same outside a transaction. */
    h_rc_roundtrip(&t, "GET {t}a\r\n", 10, &n);
    expect_frame(&t, "FLUSHDB\r\nPING\r\n", "+OK\r\n", "FLUSHDB");
    expect_frame(&t, NULL, flush_push, "push");
    expect_frame(&t, NULL, "+PONG\r\n", "PING");
    h_rc_close(&t);
    /* The client goes while they run: the proxy carries on. */
    for (int i = 0; i < 20; i++) {
        const char bye[] = "MULTI\r\nSET {k}z 1\r\nCONFIG SET slowlog-max-len 128\r\nDBSIZE\r\n"
                           "EXEC\r\nPING\r\n";
        h_raw(h_env.proxy_port, bye, sizeof(bye) - 1, out, sizeof(out), i % 2 ? 0 : 1, 0, &closed);
    }
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(w);
    redisFree(p);
}
END_TEST

START_TEST(test_watch)
{
    redisContext *p = h_connect(h_env.proxy_port), *other = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "SET {w}k 1"), "OK");
    /* Untouched: the transaction runs. */
    h_expect_str(h_cmd(p, "WATCH {w}k"), "OK");
    h_expect_str(h_cmd(p, "GET {w}k"), "1");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET {w}k 2"), "QUEUED");
    redisReply *r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    freeReplyObject(r);
    /* Changed by another client between WATCH and EXEC: EXEC answers a null array. */
    h_expect_str(h_cmd(p, "WATCH {w}k"), "OK");
    h_expect_str(h_cmd(other, "SET {w}k changed"), "OK");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET {w}k 3"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "GET {w}k"), "changed");
    /* UNWATCH forgets it; DISCARD too. */
    h_expect_str(h_cmd(p, "WATCH {w}k"), "OK");
    h_expect_str(h_cmd(p, "UNWATCH"), "OK");
    h_expect_str(h_cmd(other, "SET {w}k again"), "OK");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET {w}k 4"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "GET {w}k"), "4");
    /* WATCH of a key in another slot than the watched one: CROSSSLOT. */
    h_expect_str(h_cmd(p, "WATCH {w}k"), "OK");
    r = h_cmd(p, "WATCH {zz}k");
    ck_assert_str_eq(r->str, "CROSSSLOT Keys in request don't hash to the same slot");
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "UNWATCH"), "OK");
    redisFree(p);
    redisFree(other);
}
END_TEST

START_TEST(test_exec_is_a_barrier)
{
    /* Pipelined: the GET after EXEC must see what EXEC did, on any slot. */
    int closed;
    char out[4096];
    for (int i = 0; i < 20; i++) {
        char req[512], want[512];
        snprintf(
            req, sizeof(req),
            "MULTI\r\nSET {b%d}x %d\r\nEXEC\r\nGET {b%d}x\r\nSET other:%d y\r\nGET other:%d\r\n", i,
            i, i, i, i);
        snprintf(want, sizeof(want),
                 "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n$%d\r\n%d\r\n+OK\r\n$1\r\ny\r\n", i < 10 ? 1 : 2,
                 i);
        h_raw(h_env.proxy_port, req, strlen(req), out, sizeof(out), 500, 0, &closed);
        ck_assert_str_eq(out, want);
    }
}
END_TEST

struct incr_arg {
    int n;
    int errors;
};

static void *incr_tx(void *arg)
{
    struct incr_arg *a = arg;
    redisContext *c = redisConnect("127.0.0.1", h_env.proxy_port);
    for (int i = 0; i < a->n; i++) {
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "INCR {atomic}n");
        redisAppendCommand(c, "INCR {atomic}m");
        redisAppendCommand(c, "EXEC");
        for (int k = 0; k < 4; k++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                a->errors++;
                redisFree(c);
                return NULL;
            }
            if (r->type == REDIS_REPLY_ERROR) a->errors++;
            if (k == 3 && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                           r->element[0]->integer != r->element[1]->integer))
                a->errors++; /* both counters move together inside one transaction */
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return NULL;
}

START_TEST(test_atomic_under_concurrency)
{
    redisContext *p = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(p, "DEL {atomic}n {atomic}m"));
    enum { NT = 40, N = 100 };
    pthread_t t[NT];
    struct incr_arg a[NT];
    for (int i = 0; i < NT; i++) {
        a[i].n = N;
        a[i].errors = 0;
        pthread_create(&t[i], NULL, incr_tx, &a[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
    }
    h_expect_str(h_cmd(p, "GET {atomic}n"), "4000");
    h_expect_str(h_cmd(p, "GET {atomic}m"), "4000");
    /* The private connections went back to the pool: the node does not hold thousands. */
    int port = h_owner_port(h_env.cluster_port, "{atomic}n", 9);
    redisContext *d = h_connect(port);
    redisReply *r = h_cmd(d, "INFO clients");
    long long clients = atoll(strstr(r->str, "connected_clients:") + 18);
    freeReplyObject(r);
    ck_assert_msg(clients < 60, "the node has %lld clients", clients);
    redisFree(d);
    redisFree(p);
}
END_TEST

START_TEST(test_connection_killed_mid_transaction)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "SET {kill}k before"), "OK");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET {kill}k after"), "QUEUED");
    /* Kill the proxy's connection that holds the open transaction (flags=x: in MULTI). */
    int port = h_owner_port(h_env.cluster_port, "{kill}k", 7);
    redisContext *d = h_connect(port);
    redisReply *r = h_cmd(d, "CLIENT LIST");
    char *line = strstr(r->str, " flags=x ");
    ck_assert_msg(line != NULL, "no client in MULTI on the node:\n%s", r->str);
    while (line > r->str && line[-1] != '\n') line--;
    long long id = atoll(line + 3);
    freeReplyObject(r);
    h_expect_int(h_cmd(d, "CLIENT KILL ID %lld", id), 1);
    redisFree(d);
    h_sleep_ms(100);
    /* Queued as Redis queues after an error, sent nowhere: EXEC will fail. */
    h_expect_str(h_cmd(p, "SET {kill}k more"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strncmp(r->str, "EXECABORT", 9) == 0, "%s", r->str);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "GET {kill}k"), "before");
    /* The session is usable for a new transaction. */
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET {kill}k new"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "GET {kill}k"), "new");
    redisFree(p);
}
END_TEST

Suite *txn_suite(void)
{
    Suite *s = suite_create("txn");
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_replies_as_redis);
    tcase_add_test(tc, test_client_list_multi_count);
    tcase_add_test(tc, test_slots_and_keyless);
    tcase_add_test(tc, test_proxy_commands_in_multi);
    tcase_add_test(tc, test_watch);
    tcase_add_test(tc, test_exec_is_a_barrier);
    tcase_add_test(tc, test_atomic_under_concurrency);
    tcase_add_test(tc, test_connection_killed_mid_transaction);
    suite_add_tcase(s, tc);
    return s;
}
