/*
 * RESP3 through the proxy. The compare suite already runs every byte comparison a second time
 * over RESP3; this suite covers what is RESP3's own: HELLO (its reply, its errors, switching
 * protocols back and forth inside one pipeline), the proxy's own answers in RESP3 types (verbatim
 * strings, maps, nulls) against what a cluster node answers, Pub/Sub as push frames on a
 * connection that keeps serving ordinary commands (pushes between replies, never inside one;
 * replies in request order), keyspace notifications from every master as pushes, RESP3 frames
 * sent by a client (Redis reads them as inline commands), and a RESP3 subscriber that never
 * reads (cut off at the Pub/Sub output limit, the proxy's memory bounded).
 *
 * Byte comparisons are made against the standalone redis-server of the runner
 * (h_env.single_port) where Redis and a cluster answer alike, and against the master that owns
 * the key where they do not.
 */
#include "harness.h"
#include "suites.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char hello3[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
static const char hello2[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n";

/* A request in RESP (hiredis formats it); free with redisFreeCommand. */
static char *fmt(size_t *len, const char *f, ...)
{
    char *req;
    va_list ap;
    va_start(ap, f);
    int n = redisvFormatCommand(&req, f, ap);
    va_end(ap);
    ck_assert_int_gt(n, 0);
    *len = (size_t)n;
    return req;
}

/* Sends a formatted command and returns the next reply. */
static const char *rt(struct h_rc *c, size_t *n, const char *f, ...)
{
    char *req;
    va_list ap;
    va_start(ap, f);
    int len = redisvFormatCommand(&req, f, ap);
    va_end(ap);
    ck_assert_int_gt(len, 0);
    const char *r = h_rc_roundtrip(c, req, (size_t)len, n);
    redisFreeCommand(req);
    return r;
}

static void expect_prefix(const char *r, size_t n, const char *want, const char *what)
{
    char a[600];
    ck_assert_msg(n >= strlen(want) && memcmp(r, want, strlen(want)) == 0, "%s: %s", what,
                  h_show(r, n, 300, a, sizeof(a)));
}

static void expect_bytes(const char *r, size_t n, const char *want, size_t wl, const char *what)
{
    char a[800], b[800];
    ck_assert_msg(n == wl && memcmp(r, want, n) == 0, "%s:\n want %s\n  got %s", what,
                  h_show(want, wl, 380, a, sizeof(a)), h_show(r, n, 380, b, sizeof(b)));
}

/* HELLO's reply: a map of 7 in RESP3 or a flat array of 14 in RESP2, with proto. */
static void expect_hello(const char *r, size_t n, int proto)
{
    expect_prefix(r, n, proto == 3 ? "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n" :
                                     "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n", "HELLO");
    char want[32];
    snprintf(want, sizeof(want), "$5\r\nproto\r\n:%d\r\n", proto);
    ck_assert_msg(memmem(r, n, want, strlen(want)) != NULL, "HELLO proto %d: %.*s", proto,
                  (int)n, r);
    ck_assert_ptr_nonnull(memmem(r, n, "$4\r\nrole\r\n$6\r\nmaster\r\n", 22));
    ck_assert_ptr_nonnull(memmem(r, n, "$7\r\nmodules\r\n*0\r\n", 17));
}

START_TEST(test_hello)
{
    struct h_rc p, r;
    h_rc_open(&p, h_env.proxy_port);
    h_rc_open(&r, h_env.single_port);
    size_t n, m;
    const char *x;
    /* Errors leave the protocol as it was, with Redis's texts. */
    static const char *const bad[] = {"HELLO 4", "HELLO 1", "HELLO abc", "HELLO 3 BADOPT",
                                      "HELLO 3 SETNAME", "HELLO 3 AUTH onlyuser",
                                      "HELLO 99999999999999999999", "HELLO -3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len;
        char *req = fmt(&len, bad[i]);
        x = h_rc_roundtrip(&p, req, len, &n);
        char copy[512];
        memcpy(copy, x, n < sizeof(copy) ? n : sizeof(copy));
        const char *y = h_rc_roundtrip(&r, req, len, &m);
        expect_bytes(copy, n, y, m, bad[i]);
        ck_assert_int_eq(copy[0], '-');
        redisFreeCommand(req);
    }
    x = rt(&p, &n, "HELLO 3 SETNAME %s", "bad name");
    expect_prefix(x, n, "-ERR Client names cannot contain spaces", "HELLO SETNAME bad name");
    x = rt(&p, &n, "HELLO 3 AUTH nosuchuser secret");
    expect_prefix(x, n, "-WRONGPASS", "HELLO 3 AUTH nosuchuser");
    x = rt(&p, &n, "HGETALL nokey");
    expect_bytes(x, n, "*0\r\n", 4, "still RESP2 after failed HELLOs");
    /* HELLO 3: a map; HELLO alone answers in the current protocol; HELLO 2 back. */
    x = h_rc_roundtrip(&p, hello3, sizeof(hello3) - 1, &n);
    expect_hello(x, n, 3);
    x = rt(&p, &n, "HELLO");
    expect_hello(x, n, 3);
    x = rt(&p, &n, "HGETALL nokey");
    expect_bytes(x, n, "%0\r\n", 4, "HGETALL in RESP3");
    x = rt(&p, &n, "HELLO 3 SETNAME r3name");
    expect_hello(x, n, 3);
    x = rt(&p, &n, "CLIENT GETNAME");
    expect_bytes(x, n, "$6\r\nr3name\r\n", 12, "CLIENT GETNAME after HELLO SETNAME");
    x = rt(&p, &n, "HELLO 3 AUTH default anything SETNAME other");
    expect_hello(x, n, 3);
    x = h_rc_roundtrip(&p, hello2, sizeof(hello2) - 1, &n);
    expect_hello(x, n, 2);
    x = rt(&p, &n, "HELLO");
    expect_hello(x, n, 2);
    x = rt(&p, &n, "CLIENT GETNAME");
    expect_bytes(x, n, "$5\r\nother\r\n", 11, "CLIENT GETNAME");
    /* RESET goes back to RESP2. */
    h_rc_roundtrip(&p, hello3, sizeof(hello3) - 1, &n);
    x = rt(&p, &n, "RESET");
    expect_bytes(x, n, "+RESET\r\n", 8, "RESET");
    x = rt(&p, &n, "CLIENT GETNAME");
    expect_bytes(x, n, "$-1\r\n", 5, "CLIENT GETNAME after RESET");
    h_rc_close(&p);
    h_rc_close(&r);
}
END_TEST

/* HELLO 3 and HELLO 2 in the middle of one pipeline, written in one go: each reply comes in the
 * protocol in force when its command ran, byte for byte as redis-server answers it. */
START_TEST(test_switch_in_pipeline)
{
    static const char *const cmds[] = {
        "DEL r3p:h r3p:{a}1 r3p:{b}2", "HSET r3p:h f1 v1 f2 v2", "HGETALL r3p:h", "HELLO 3",
        "HGETALL r3p:h", "SMEMBERS r3p:nos", "GET r3p:none", "SET r3p:{a}1 x",
        "MGET r3p:{a}1 r3p:{b}2 r3p:none", "HELLO 2", "HGETALL r3p:h",
        "MGET r3p:{a}1 r3p:{b}2", "HELLO 3", "ZADD r3p:z 1.5 m", "ZSCORE r3p:z m",
        "ZRANGE r3p:z 0 -1 WITHSCORES", "EXISTS r3p:{a}1 r3p:{b}2 r3p:h", "CLIENT GETNAME",
        "DEL r3p:h r3p:{a}1 r3p:z"};
    size_t nc = sizeof(cmds) / sizeof(cmds[0]);
    struct h_rc side[2];
    h_rc_open(&side[0], h_env.single_port);
    h_rc_open(&side[1], h_env.proxy_port);
    char *all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t len;
        char *req = fmt(&len, cmds[i]);
        all = realloc(all, total + len);
        memcpy(all + total, req, len);
        total += len;
        redisFreeCommand(req);
    }
    char *rep[2][32];
    size_t rl[2][32];
    for (int s = 0; s < 2; s++) {
        ck_assert_int_eq(write(side[s].fd, all, total), (ssize_t)total);
        for (size_t i = 0; i < nc; i++) {
            const char *x = h_rc_read(&side[s], &rl[s][i]);
            rep[s][i] = malloc(rl[s][i] + 1);
            memcpy(rep[s][i], x, rl[s][i]);
        }
    }
    for (size_t i = 0; i < nc; i++) {
        if (strncmp(cmds[i], "HELLO", 5) == 0) {
            expect_hello(rep[1][i], rl[1][i], cmds[i][6] - '0');
        } else {
            expect_bytes(rep[1][i], rl[1][i], rep[0][i], rl[0][i], cmds[i]);
        }
        free(rep[0][i]);
        free(rep[1][i]);
    }
    free(all);
    h_rc_close(&side[0]);
    h_rc_close(&side[1]);
}
END_TEST

/* The proxy's own answers in RESP3: the types a cluster node uses for the same commands. */
START_TEST(test_local_answers)
{
    int node = h_owner_port(h_env.cluster_port, "x", 1);
    struct h_rc p, c;
    h_rc_open(&p, h_env.proxy_port);
    h_rc_open(&c, node);
    size_t n;
    h_rc_roundtrip(&p, hello3, sizeof(hello3) - 1, &n);
    h_rc_roundtrip(&c, hello3, sizeof(hello3) - 1, &n);
    static const struct {
        const char *cmd, *prefix;
    } cases[] = {
        {"CLIENT INFO", "=" /* len */},  {"CLIENT LIST", "="},        {"INFO", "="},
        {"INFO server", "="},           {"CLUSTER INFO", "="},       {"CLUSTER NODES", "="},
        {"CLUSTER SHARDS", "*"},        {"CLUSTER SLOTS", "*"},      {"CLIENT GETNAME", "_\r\n"},
        {"ROLE", "*3\r\n$6\r\nmaster"}, {"TIME", "*2\r\n$"},         {"PING", "+PONG\r\n"},
        {"CLUSTER MYID", "$40\r\n"},    {"ACL WHOAMI", "$7\r\ndefault"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *x = rt(&p, &n, cases[i].cmd);
        char buf[64];
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        memcpy(buf, x, k);
        expect_prefix(buf, k, cases[i].prefix, cases[i].cmd);
        size_t m;
        const char *y = rt(&c, &m, cases[i].cmd);
        ck_assert_msg(m > 0 && y[0] == buf[0], "%s: the node answers a '%c', the proxy a '%c'",
                      cases[i].cmd, y[0], buf[0]);
        if (buf[0] == '=') { /* verbatim strings of text, as Redis sends them */
            const char *colon = memchr(buf, '\n', k);
            ck_assert_msg(colon && memcmp(colon + 1, "txt:", 4) == 0, "%s: %.*s", cases[i].cmd,
                          (int)k, buf);
        }
    }
    /* CLUSTER SHARDS: a map per shard and per node, as a node writes them. */
    const char *x = rt(&p, &n, "CLUSTER SHARDS");
    expect_prefix(x, n, "*1\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n%7\r\n",
                  "CLUSTER SHARDS");
    x = rt(&c, &n, "CLUSTER SHARDS");
    expect_prefix(x, n, "*3\r\n%2\r\n$5\r\nslots\r\n", "a node's CLUSTER SHARDS");
    /* A watched key changed: EXEC answers RESP3's null. */
    redisContext *other = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(other, "SET r3w:k 0"), "OK");
    x = rt(&p, &n, "WATCH r3w:k");
    expect_bytes(x, n, "+OK\r\n", 5, "WATCH");
    h_expect_str(h_cmd(other, "SET r3w:k 1"), "OK");
    rt(&p, &n, "MULTI");
    rt(&p, &n, "GET r3w:k");
    x = rt(&p, &n, "EXEC");
    expect_bytes(x, n, "_\r\n", 3, "EXEC after a watched key changed");
    redisFree(other);
    h_rc_close(&p);
    h_rc_close(&c);
}
END_TEST

/* Waits up to ms for the next complete frame on c; returns NULL when none came. */
static const char *next_frame(struct h_rc *c, size_t *n, int ms)
{
    /* h_rc_read blocks until a frame is complete (10 s); poll first so an absent one is
     * reported as absent. */
    if (c->len > c->start) return h_rc_read(c, n);
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0) return NULL;
    return h_rc_read(c, n);
}

/* 1 when the frame is a push of kind (a pmessage has 4 elements, the others 3). */
static int is_push(const char *r, size_t n, const char *kind)
{
    char hdr[64];
    int hl = snprintf(hdr, sizeof(hdr), ">%d\r\n$%zu\r\n%s\r\n",
                      strcmp(kind, "pmessage") == 0 ? 4 : 3, strlen(kind), kind);
    return n >= (size_t)hl && memcmp(r, hdr, (size_t)hl) == 0;
}

#define EXPECT_LIT(x, n, lit, what) expect_bytes(x, n, lit, sizeof(lit) - 1, what)

/* Pub/Sub over RESP3: the confirmations as redis-server pushes them, messages as pushes between
 * the replies of ordinary commands sent on the same connection, PUBLISH counting every
 * subscriber. */
START_TEST(test_pubsub_pushes)
{
    /* The confirmations, byte for byte against a standalone server. */
    static const char *const conv[] = {"SUBSCRIBE r3ps:a r3ps:b", "PSUBSCRIBE r3ps:p*",
                                       "UNSUBSCRIBE r3ps:a",      "PING",
                                       "PING hi",                 "UNSUBSCRIBE",
                                       "PUNSUBSCRIBE",            "UNSUBSCRIBE",
                                       "PUNSUBSCRIBE r3ps:none*"};
    struct h_rc side[2];
    h_rc_open(&side[0], h_env.single_port);
    h_rc_open(&side[1], h_env.proxy_port);
    size_t n, m;
    for (int s = 0; s < 2; s++) h_rc_roundtrip(&side[s], hello3, sizeof(hello3) - 1, &n);
    /* Frames per command: SUBSCRIBE a b confirms twice; UNSUBSCRIBE (all) confirms b; the rest
     * one each. */
    static const int frames[] = {2, 1, 1, 1, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < sizeof(conv) / sizeof(conv[0]); i++) {
        size_t len;
        char *req = fmt(&len, conv[i]);
        for (int s = 0; s < 2; s++) ck_assert_int_eq(write(side[s].fd, req, len), (ssize_t)len);
        redisFreeCommand(req);
        for (int f = 0; f < frames[i]; f++) {
            const char *x = h_rc_read(&side[0], &n);
            char copy[512];
            memcpy(copy, x, n < sizeof(copy) ? n : sizeof(copy));
            const char *y = h_rc_read(&side[1], &m);
            expect_bytes(y, m, copy, n, conv[i]);
        }
    }
    h_rc_close(&side[0]);
    h_rc_close(&side[1]);

    /* A subscriber that keeps sending commands while messages arrive. */
    struct h_rc s;
    h_rc_open(&s, h_env.proxy_port);
    h_rc_roundtrip(&s, hello3, sizeof(hello3) - 1, &n);
    const char *x = rt(&s, &n, "SUBSCRIBE r3ps:ch");
    EXPECT_LIT(x, n, ">3\r\n$9\r\nsubscribe\r\n$7\r\nr3ps:ch\r\n:1\r\n", "SUBSCRIBE");
    redisContext *pub = h_connect(h_env.proxy_port);
    redisReply *r = h_cmd(pub, "PUBLISH r3ps:ch first");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_msg(r->integer == 1, "PUBLISH counted %lld receivers, not 1", r->integer);
    freeReplyObject(r);
    x = next_frame(&s, &n, 5000);
    ck_assert_ptr_nonnull(x);
    EXPECT_LIT(x, n, ">3\r\n$7\r\nmessage\r\n$7\r\nr3ps:ch\r\n$5\r\nfirst\r\n", "message");
    h_expect_str(h_cmd(pub, "SET r3ps:k 42"), "OK");
    /* 200 GETs written while 200 messages are published: every GET answered, in order, and
     * every message delivered whole, between replies. */
    enum { N = 200 };
    size_t glen;
    char *get = fmt(&glen, "GET r3ps:k");
    int replies = 0, messages = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(write(s.fd, get, glen), (ssize_t)glen);
        redisAppendCommand(pub, "PUBLISH r3ps:ch m%d", i);
    }
    for (int i = 0; i < N; i++) {
        void *rep;
        ck_assert_int_eq(redisGetReply(pub, &rep), REDIS_OK);
        ck_assert_int_eq(((redisReply *)rep)->integer, 1);
        freeReplyObject(rep);
    }
    uint64_t deadline = h_now_ms() + 10000;
    while ((replies < N || messages < N) && h_now_ms() < deadline) {
        x = next_frame(&s, &n, 500);
        if (!x) continue;
        if (is_push(x, n, "message")) {
            char want[64];
            int wl = snprintf(want, sizeof(want), "$7\r\nr3ps:ch\r\n$%d\r\nm%d\r\n",
                              messages < 10 ? 2 : messages < 100 ? 3 : 4, messages);
            ck_assert_msg(n == 17 + (size_t)wl && memcmp(x + 17, want, (size_t)wl) == 0,
                          "message %d out of order: %.*s", messages, (int)n, x);
            messages++;
        } else {
            expect_bytes(x, n, "$2\r\n42\r\n", 8, "GET between messages");
            replies++;
        }
    }
    ck_assert_int_eq(replies, N);
    ck_assert_int_eq(messages, N);
    redisFreeCommand(get);
    /* PSUBSCRIBE and SSUBSCRIBE over RESP3 too. */
    x = rt(&s, &n, "PSUBSCRIBE r3ps:p*");
    ck_assert_msg(is_push(x, n, "psubscribe"), "%.*s", (int)n, x);
    x = rt(&s, &n, "SSUBSCRIBE r3ps:shard");
    ck_assert_msg(is_push(x, n, "ssubscribe"), "%.*s", (int)n, x);
    r = h_cmd(pub, "PUBLISH r3ps:pq pm");
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    x = next_frame(&s, &n, 5000);
    ck_assert_msg(x && n > 4 && memcmp(x, ">4\r\n$8\r\npmessage\r\n", 18) == 0, "pmessage");
    r = h_cmd(pub, "SPUBLISH r3ps:shard sm");
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    x = next_frame(&s, &n, 5000);
    ck_assert_msg(x && memcmp(x, ">3\r\n$8\r\nsmessage\r\n", 18) == 0, "smessage");
    x = rt(&s, &n, "PING");
    expect_bytes(x, n, "+PONG\r\n", 7, "PING while subscribed in RESP3");
    x = rt(&s, &n, "RESET");
    expect_bytes(x, n, "+RESET\r\n", 8, "RESET");
    /* RESET dropped the subscriptions: the node hears of it as the connection closes. */
    long long count = 1;
    for (uint64_t end = h_now_ms() + 1000; count != 0 && h_now_ms() < end;) {
        r = h_cmd(pub, "PUBLISH r3ps:ch gone");
        count = r->integer;
        freeReplyObject(r);
    }
    ck_assert_int_eq(count, 0);
    redisFree(pub);
    h_rc_close(&s);
}
END_TEST

/* Sets notify-keyspace-events on every master of the shared cluster. */
static void set_notify(const char *value)
{
    for (int i = 0; i < 6; i++) {
        redisContext *c = h_connect_quick(h_env.cluster_port + i, 1000);
        if (!c) continue;
        redisReply *r = redisCommand(c, "CONFIG SET notify-keyspace-events %s", value);
        if (r) freeReplyObject(r);
        redisFree(c);
    }
}

/* Keyspace notifications of keys on every master reach a RESP3 subscriber as pushes, once each. */
START_TEST(test_keyspace_pushes)
{
    set_notify("KA");
    struct h_rc s;
    h_rc_open(&s, h_env.proxy_port);
    size_t n;
    h_rc_roundtrip(&s, hello3, sizeof(hello3) - 1, &n);
    const char *x = rt(&s, &n, "PSUBSCRIBE __keyspace@0__:r3ks:*");
    ck_assert_msg(is_push(x, n, "psubscribe"), "%.*s", (int)n, x);
    redisContext *c = h_connect(h_env.proxy_port);
    enum { K = 30 };
    for (int i = 0; i < K; i++) h_expect_str(h_cmd(c, "SET r3ks:%d v", i), "OK");
    int got = 0;
    while ((x = next_frame(&s, &n, 1500)) != NULL) {
        ck_assert_msg(n > 4 && memcmp(x, ">4\r\n$8\r\npmessage\r\n", 18) == 0, "%.*s", (int)n, x);
        ck_assert_ptr_nonnull(memmem(x, n, "$3\r\nset\r\n", 9));
        got++;
    }
    ck_assert_int_eq(got, K);
    redisFree(c);
    h_rc_close(&s);
    set_notify("");
}
END_TEST

/* RESP3 frames from a client: Redis reads anything but '*' as an inline command; the proxy must
 * answer every one of them as redis-server does, and keep serving the connection. */
START_TEST(test_client_resp3_frames)
{
    static const char *const frames[] = {
        "%1\r\n$1\r\na\r\n$1\r\nb\r\nPING\r\n",
        "~2\r\n$1\r\na\r\n$1\r\nb\r\nPING\r\n",
        ">2\r\n$4\r\nPING\r\n$1\r\nx\r\nPING\r\n",
        "_\r\nPING\r\n",
        ",1.5\r\n#t\r\n(12345678901234567890\r\nPING\r\n",
        "=8\r\ntxt:PING\r\nPING\r\n",
        "|1\r\n+a\r\n+b\r\nPING\r\n",
    };
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        static char a[8192], b[8192];
        int ca, cb;
        size_t na = h_raw(h_env.single_port, frames[i], strlen(frames[i]), a, sizeof(a), 300, 0,
                          &ca);
        size_t nb = h_raw(h_env.proxy_port, frames[i], strlen(frames[i]), b, sizeof(b), 300, 0,
                          &cb);
        expect_bytes(b, nb, a, na, frames[i]);
        ck_assert_int_eq(ca, cb);
    }
}
END_TEST

/* A RESP3 subscriber that never reads is cut off at -pubsub-output-buffer-limit; the proxy's
 * other clients keep being served. */
START_TEST(test_slow_resp3_subscriber)
{
    int port = h_env.proxy_port + 70;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "1", "-pubsub-output-buffer-limit", "256kb", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-resp3-slow.log");
    ck_assert_int_gt(pid, 0);
    int fd = h_tcp_connect(port, 4096);
    char buf[512];
    ck_assert_int_eq(write(fd, hello3, sizeof(hello3) - 1), (ssize_t)sizeof(hello3) - 1);
    size_t len;
    char *sub = fmt(&len, "SUBSCRIBE r3slow:ch");
    ck_assert_int_eq(write(fd, sub, len), (ssize_t)len);
    redisFreeCommand(sub);
    usleep(200 * 1000);
    ssize_t got = read(fd, buf, sizeof(buf)); /* HELLO's reply and the confirmation */
    ck_assert_int_gt(got, 0);
    long long cut0 = h_info_num(port, "pubsub_clients_cut");
    redisContext *pub = h_connect(port);
    char *msg = malloc(16384);
    memset(msg, 'y', 16384);
    for (int i = 0; i < 400; i++) {
        redisReply *r = h_cmd(pub, "PUBLISH r3slow:ch %b", msg, (size_t)16384);
        freeReplyObject(r);
    }
    free(msg);
    uint64_t deadline = h_now_ms() + 5000;
    while (h_info_num(port, "pubsub_clients_cut") == cut0 && h_now_ms() < deadline)
        h_sleep_ms(50);
    ck_assert_int_eq(h_info_num(port, "pubsub_clients_cut"), cut0 + 1);
    h_expect_str(h_cmd(pub, "PING"), "PONG");
    redisFree(pub);
    close(fd);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-resp3-slow.log"), 0);
}
END_TEST

/* A RESP3 subscriber's message that arrives while its requests wait behind a blocking command
 * joins the queue behind them: delivered in its turn, never taken for a request. */
START_TEST(test_push_behind_waiting_requests)
{
    struct h_rc c;
    h_rc_open(&c, h_env.proxy_port);
    size_t n;
    h_rc_roundtrip(&c, "HELLO 3\r\n", 9, &n);
    const char *r = h_rc_roundtrip(&c, "SUBSCRIBE r3q\r\n", 15, &n);
    ck_assert(n > 0 && r[0] == '>');
    /* BLPOP blocks for 1 s; PING waits behind it. */
    const char req[] = "BLPOP {r3q}nothing 1\r\nPING\r\n";
    ck_assert_int_eq(write(c.fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    usleep(200 * 1000);
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_int(h_cmd(p, "PUBLISH r3q hello"), 1);
    /* The BLPOP times out; then the PING and the message, in the order they were queued. */
    r = h_rc_read(&c, &n);
    ck_assert_msg(n == 3 && memcmp(r, "_\r\n", 3) == 0, "BLPOP: [%.*s]", (int)n, r);
    r = h_rc_read(&c, &n);
    ck_assert_msg(n == 7 && memcmp(r, "+PONG\r\n", 7) == 0, "PING: [%.*s]", (int)n, r);
    r = h_rc_read(&c, &n);
    ck_assert_msg(n > 0 && r[0] == '>' && memmem(r, n, "hello", 5), "message: [%.*s]", (int)n, r);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(p);
    h_rc_close(&c);
}
END_TEST

Suite *resp3_suite(void)
{
    Suite *s = suite_create("resp3");
    TCase *tc = tcase_create("resp3");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hello);
    tcase_add_test(tc, test_switch_in_pipeline);
    tcase_add_test(tc, test_local_answers);
    tcase_add_test(tc, test_pubsub_pushes);
    tcase_add_test(tc, test_keyspace_pushes);
    tcase_add_test(tc, test_client_resp3_frames);
    tcase_add_test(tc, test_slow_resp3_subscriber);
    tcase_add_test(tc, test_push_behind_waiting_requests);
    suite_add_tcase(s, tc);
    return s;
}
