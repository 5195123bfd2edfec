/*
 * Wrong answers found by running Redis's own test suite through the proxy, and bugs found by a
 * code review (the second half of the file, each described above its test), each with the test
 * that failed before its fix:
 *  - EVALSHA queued in MULTI for a master that never saw the script (loaded by EVAL on another
 *    master) answered NOSCRIPT inside EXEC's reply;
 *  - PUBLISH counted 0 or more receivers at random for the same subscribers (it counted those of
 *    whichever master it reached);
 *  - SCAN 0 of an empty keyspace answered cursor 1, so clients looped once more;
 *  - CLUSTER SLOTS/SHARDS/NODES could only announce the address a client reached the proxy at
 *    (-announce-addr gives another, for NAT and load balancers);
 *  - with -read-prefer replica, replicas whose link to their master was not up at the first look
 *    served no read until the next periodic topology refresh.
 */
#include "harness.h"
#include "suites.h"

#include "sha1.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The clusters of the tests that start their own: 900 above the shared cluster (21901 by
 * default), so that runs with another PX_ITEST_PORT stay out of each other's way. */
#define FX_BASE (h_env.cluster_port + 900)

/* A key named "<prefix><n>" served by the master on port (the first n that is). */
static void key_on(int port, const char *prefix, char *out, size_t cap)
{
    for (int n = 0; n < 100000; n++) {
        snprintf(out, cap, "%s%d", prefix, n);
        if (h_owner_port(h_env.cluster_port, out, strlen(out)) == port) return;
    }
    ck_abort_msg("no key for %d", port);
}

START_TEST(test_evalsha_in_multi_other_master)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "SCRIPT FLUSH"), "OK");
    static const char body[] = "return redis.call('SET', KEYS[1], ARGV[1])";
    char sha[41];
    sha1_hex(body, sizeof(body) - 1, sha);
    /* EVAL loads the script on one master only. */
    char a[32], b[32];
    key_on(h_env.cluster_port, "fx:a", a, sizeof(a));
    key_on(h_env.cluster_port + 1, "fx:b", b, sizeof(b));
    h_expect_str(h_cmd(p, "EVAL %s 1 %s one", body, a), "OK");
    redisContext *nb = h_connect(h_env.cluster_port + 1);
    redisReply *r = h_cmd(nb, "SCRIPT EXISTS %s", sha);
    ck_assert_int_eq(r->element[0]->integer, 0); /* the other master has not seen it */
    freeReplyObject(r);
    /* EVALSHA of it in a transaction on the other master runs. */
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "EVALSHA %s 1 %s two", sha, b), "QUEUED");
    h_expect_str(h_cmd(p, "GET %s", b), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_msg(r->element[0]->type == REDIS_REPLY_STATUS && strcmp(r->element[0]->str, "OK") == 0,
                  "EVALSHA in EXEC: %s", r->element[0]->str);
    ck_assert_str_eq(r->element[1]->str, "two");
    freeReplyObject(r);
    /* After SCRIPT FLUSH the proxy forgets it too: NOSCRIPT, as from Redis. */
    h_expect_str(h_cmd(p, "SCRIPT FLUSH"), "OK");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "EVALSHA %s 1 %s three", sha, b), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->element[0]->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strncmp(r->element[0]->str, "NOSCRIPT", 8) == 0, "%s", r->element[0]->str);
    freeReplyObject(r);
    redisFree(nb);
    redisFree(p);
}
END_TEST

START_TEST(test_publish_counts_every_subscriber)
{
    /* Subscribers on several connections (so on both workers and, before the fix, on every
     * master), then PUBLISH from several connections: always all of them. */
    enum { SUBS = 5, PUBS = 8 };
    redisContext *s[SUBS];
    for (int i = 0; i < SUBS; i++) {
        s[i] = h_connect(h_env.proxy_port);
        redisReply *r = h_cmd(s[i], "SUBSCRIBE fx:count");
        freeReplyObject(r);
    }
    for (int i = 0; i < PUBS; i++) {
        redisContext *pub = h_connect(h_env.proxy_port);
        for (int k = 0; k < 5; k++) h_expect_int(h_cmd(pub, "PUBLISH fx:count m%d", k), SUBS);
        /* A pattern subscriber counts too, as in Redis. */
        redisFree(pub);
    }
    redisContext *ps = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(ps, "PSUBSCRIBE fx:c*"));
    redisContext *pub = h_connect(h_env.proxy_port);
    h_expect_int(h_cmd(pub, "PUBLISH fx:count last"), SUBS + 1);
    redisFree(pub);
    redisFree(ps);
    for (int i = 0; i < SUBS; i++) redisFree(s[i]);
}
END_TEST

START_TEST(test_scan_empty_keyspace)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "FLUSHALL"), "OK");
    redisReply *r = h_cmd(p, "SCAN 0");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->str, "0");
    ck_assert_uint_eq(r->element[1]->elements, 0);
    freeReplyObject(r);
    /* One key, on the last master: one call finds it and ends the walk. */
    char k[32];
    key_on(h_env.cluster_port + 2, "fx:s", k, sizeof(k));
    h_expect_str(h_cmd(p, "SET %s v", k), "OK");
    int calls = 0, found = 0;
    char cursor[32] = "0";
    do {
        r = h_cmd(p, "SCAN %s", cursor);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        found += (int)r->element[1]->elements;
        freeReplyObject(r);
        calls++;
    } while (strcmp(cursor, "0") != 0 && calls < 100);
    ck_assert_int_eq(found, 1);
    ck_assert_msg(calls <= 2, "%d calls for one key", calls);
    h_expect_str(h_cmd(p, "FLUSHALL"), "OK");
    redisFree(p);
}
END_TEST

START_TEST(test_announce_addr)
{
    int port = h_env.proxy_port + 80;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-announce-addr", "203.0.113.7:6380", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-announce.log");
    ck_assert_int_gt(pid, 0);
    redisContext *p = h_connect(port);
    redisReply *r = h_cmd(p, "CLUSTER SLOTS");
    ck_assert_str_eq(r->element[0]->element[2]->element[0]->str, "203.0.113.7");
    ck_assert_int_eq(r->element[0]->element[2]->element[1]->integer, 6380);
    freeReplyObject(r);
    r = h_cmd(p, "CLUSTER NODES");
    ck_assert_msg(strstr(r->str, " 203.0.113.7:6380@0 myself,master ") != NULL, "%s", r->str);
    freeReplyObject(r);
    r = h_cmd(p, "CLUSTER SHARDS");
    redisReply *node = r->element[0]->element[3]->element[0];
    ck_assert_int_eq(node->element[3]->integer, 6380);
    ck_assert_str_eq(node->element[5]->str, "203.0.113.7");
    freeReplyObject(r);
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-announce.log"), 0);
}
END_TEST

/* INFO replication's master_link_status of the node on port. */
static int link_up(int port)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "INFO replication");
    int up = strstr(r->str, "master_link_status:up") != NULL;
    freeReplyObject(r);
    redisFree(c);
    return up;
}

START_TEST(test_replicas_serve_reads_at_once)
{
    ck_assert_int_eq(h_cluster_start("fixes", FX_BASE), 0);
    /* Every replica's link down: a wrong masterauth keeps it from coming back. */
    int replicas[3], nr = 0;
    for (int port = FX_BASE; port < FX_BASE + 6; port++) {
        if (h_is_master(port)) continue;
        replicas[nr++] = port;
        redisContext *c = h_connect(port);
        h_expect_str(h_cmd(c, "CONFIG SET masterauth not-the-password"), "OK");
        freeReplyObject(h_cmd(c, "CLIENT KILL TYPE master"));
        redisFree(c);
    }
    ck_assert_int_eq(nr, 3);
    for (int i = 0; i < nr; i++) {
        uint64_t end = h_now_ms() + 5000;
        while (link_up(replicas[i]) && h_now_ms() < end) h_sleep_ms(50);
        ck_assert(!link_up(replicas[i]));
    }
    /* The proxy starts while no replica is usable, with a long reload interval. */
    int port = FX_BASE + 20;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", FX_BASE);
    const char *extra[] = {"-read-prefer", "replica", "-slots-reload-interval", "60s", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-fixes-replicas.log");
    ck_assert_int_gt(pid, 0);
    redisContext *p = h_connect(port);
    h_expect_str(h_cmd(p, "SET fx:r v"), "OK");
    /* The links come back: reads go to replicas within seconds, not at the next reload. */
    for (int i = 0; i < nr; i++) {
        redisContext *c = h_connect(replicas[i]);
        h_expect_str(h_cmd(c, "CONFIG SET masterauth %s", ""), "OK");
        redisFree(c);
    }
    uint64_t t0 = h_now_ms();
    long long reads = 0;
    while (reads == 0 && h_now_ms() - t0 < 15000) {
        redisReply *r = h_cmd(p, "GET fx:r");
        freeReplyObject(r);
        reads = h_info_num(port, "replica_reads");
        if (reads == 0) h_sleep_ms(50);
    }
    ck_assert_msg(reads > 0, "no read reached a replica within 15 s of their links coming back");
    fprintf(stderr, "fixes: replicas served reads %llu ms after their links came back\n",
            (unsigned long long)(h_now_ms() - t0));
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-replicas.log"), 0);
    h_cluster_stop("fixes");
}
END_TEST

/* ---- found by code review ---- */

/* A proxy of the test's own in front of the shared cluster, with one worker (so that every client
 * and every pooled connection is on it) and the given flags (NULL-terminated, or NULL). */
static pid_t own_proxy(int port, const char *logname, const char *const *flags)
{
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[16] = {"-threads", "1"};
    int n = 2;
    for (int i = 0; flags && flags[i] && n < 15; i++) extra[n++] = flags[i];
    extra[n] = NULL;
    pid_t pid = h_proxy_start(port, startup, extra, logname);
    ck_assert_msg(pid > 0, "cannot start the proxy on %d", port);
    return pid;
}

/* Writes all of p. */
static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        ck_assert_msg(w > 0, "write failed");
        p += w;
        len -= (size_t)w;
    }
}

/* Reads exactly len bytes (10 s at most) and compares them with want. */
static void expect_bytes(int fd, const char *want, size_t len)
{
    char *got = malloc(len + 1);
    size_t n = 0;
    uint64_t deadline = h_now_ms() + 10000;
    while (n < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - h_now_ms());
        ck_assert_msg(left > 0 && poll(&p, 1, left) > 0, "%zu of %zu bytes within 10 s", n, len);
        ssize_t r = read(fd, got + n, len - n);
        ck_assert_msg(r > 0, "connection closed after %zu of %zu bytes", n, len);
        n += (size_t)r;
    }
    char a[256], b[256];
    ck_assert_msg(memcmp(got, want, len) == 0, "got %s, want %s",
                  h_show(got, len, 80, a, sizeof(a)), h_show(want, len, 80, b, sizeof(b)));
    free(got);
}

/* Reads the next reply of c and compares it with want, byte for byte. */
static void rc_expect(struct h_rc *c, const char *want)
{
    size_t n;
    const char *got = h_rc_read(c, &n);
    char a[256], b[256];
    ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0, "got %s, want %s",
                  h_show(got, n, 120, a, sizeof(a)), h_show(want, strlen(want), 120, b, sizeof(b)));
}

/* A number from the proxy's INFO, once it equals want (waiting up to 3 s); the last value seen
 * otherwise. */
static long long info_settles(int port, const char *field, long long want)
{
    uint64_t end = h_now_ms() + 3000;
    long long v = h_info_num(port, field);
    while (v != want && h_now_ms() < end) {
        h_sleep_ms(20);
        v = h_info_num(port, field);
    }
    return v;
}

#define FX_SUB_A "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nfx:a\r\n"
#define FX_SUB_B "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nfx:b\r\n"
#define FX_RESET "*1\r\n$5\r\nRESET\r\n"

/*
 * A private connection closed in the loop turn that queued bytes on it was freed before the
 * turn's output was written, which then wrote through the freed runner (ASan: use after free).
 * SUBSCRIBE fx:b is queued on the subscription's connection, which RESET closes in the same turn.
 */
START_TEST(test_priv_closed_with_output_queued)
{
    int port = h_env.proxy_port + 81;
    pid_t pid = own_proxy(port, "proxy-fixes-psreset.log", NULL);
    for (int round = 0; round < 5; round++) {
        struct h_rc c;
        h_rc_open(&c, port);
        size_t n;
        h_rc_roundtrip(&c, FX_SUB_A, strlen(FX_SUB_A), &n); /* confirmed: its connection is up */
        write_all(c.fd, FX_SUB_B FX_RESET, strlen(FX_SUB_B FX_RESET));
        rc_expect(&c, "*3\r\n$9\r\nsubscribe\r\n$4\r\nfx:b\r\n:2\r\n");
        rc_expect(&c, "+RESET\r\n");
        h_rc_close(&c);
    }
    redisContext *p = h_connect(port);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-psreset.log"), 0);
}
END_TEST

/*
 * RESET closed the transaction's connection after detaching it, so the requests in flight there
 * never got an answer: after a pipelined MULTI, SET, RESET the client waited forever for +QUEUED
 * (and for +RESET behind it). Redis answers +OK, +QUEUED, +RESET. A client that left with
 * requests in flight on its transaction's connection leaked them (the ASan build's leak check at
 * the proxy's exit).
 */
START_TEST(test_reset_answers_requests_in_flight)
{
    int port = h_env.proxy_port + 82;
    pid_t pid = own_proxy(port, "proxy-fixes-txreset.log", NULL);
    redisContext *p = h_connect(port);
    for (int round = 0; round < 3; round++) {
        /* A transaction leaves a connection to the key's master in the pool. */
        h_expect_str(h_cmd(p, "MULTI"), "OK");
        h_expect_str(h_cmd(p, "SET fx:{m} 1"), "QUEUED");
        freeReplyObject(h_cmd(p, "EXEC"));
        struct h_rc c;
        h_rc_open(&c, port);
        static const char multi[] =
            "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$6\r\nfx:{m}\r\n$1\r\n2\r\n"
            "*1\r\n$5\r\nRESET\r\n";
        write_all(c.fd, multi, sizeof(multi) - 1);
        rc_expect(&c, "+OK\r\n");
        rc_expect(&c, "+QUEUED\r\n");
        rc_expect(&c, "+RESET\r\n");
        /* A read of the watched key, in flight when RESET comes, gets its value. */
        static const char watch[] = "*2\r\n$5\r\nWATCH\r\n$6\r\nfx:{m}\r\n*2\r\n$3\r\nGET\r\n$6\r\n"
                                    "fx:{m}\r\n*1\r\n$5\r\nRESET\r\n";
        write_all(c.fd, watch, sizeof(watch) - 1);
        rc_expect(&c, "+OK\r\n");
        rc_expect(&c, "$1\r\n1\r\n");
        rc_expect(&c, "+RESET\r\n");
        h_rc_close(&c);
        /* Gone (a reset, so that the proxy closes it at once rather than wait for the reply)
         * while its BLPOP blocks on the WATCH connection: the BLPOP is freed. */
        int fd = h_tcp_connect(port, 0);
        static const char gone[] =
            "*2\r\n$5\r\nWATCH\r\n$6\r\nfx:{m}\r\n*3\r\n$5\r\nBLPOP\r\n$7\r\n"
            "fx:{m}q\r\n$1\r\n0\r\n";
        write_all(fd, gone, sizeof(gone) - 1);
        expect_bytes(fd, "+OK\r\n", 5);
        h_sleep_ms(50); /* the BLPOP reaches the node */
        struct linger rst = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        close(fd);
    }
    redisReply *r = h_cmd(p, "GET fx:{m}");
    ck_assert_str_eq(r->str, "1"); /* the reset transaction did not run */
    freeReplyObject(r);
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-txreset.log"), 0);
}
END_TEST

/*
 * pubsub_run read r->client after the command's handler had answered r, which frees it when the
 * request pool is full (16384 free requests). 20000 PINGs waiting behind a BLPOP fill the pool
 * when they are answered; the UNSUBSCRIBE after them is answered at once and freed (ASan: use
 * after free).
 */
START_TEST(test_pubsub_answered_request_not_read)
{
    enum { PINGS = 20000 };
    int port = h_env.proxy_port + 83;
    const char *flags[] = {"-max-inflight", "100000", NULL};
    pid_t pid = own_proxy(port, "proxy-fixes-pspool.log", flags);
    redisContext *p = h_connect(port);
    freeReplyObject(h_cmd(p, "DEL fx:q"));
    static const char blpop[] = "*3\r\n$5\r\nBLPOP\r\n$4\r\nfx:q\r\n$1\r\n0\r\n";
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    static const char unsub[] = "*1\r\n$11\r\nUNSUBSCRIBE\r\n";
    size_t plen = sizeof(ping) - 1;
    size_t len = sizeof(blpop) - 1 + PINGS * plen + sizeof(unsub) - 1;
    char *req = malloc(len), *q = req;
    memcpy(q, blpop, sizeof(blpop) - 1), q += sizeof(blpop) - 1;
    for (int i = 0; i < PINGS; i++) memcpy(q, ping, plen), q += plen;
    memcpy(q, unsub, sizeof(unsub) - 1);
    int fd = h_tcp_connect(port, 0);
    write_all(fd, req, len);
    free(req);
    h_sleep_ms(200); /* every request read and waiting behind the BLPOP */
    h_expect_int(h_cmd(p, "RPUSH fx:q x"), 1);
    static const char popped[] = "*2\r\n$4\r\nfx:q\r\n$1\r\nx\r\n";
    static const char unsubbed[] = "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n";
    size_t wlen = sizeof(popped) - 1 + PINGS * 7 + sizeof(unsubbed) - 1;
    char *want = malloc(wlen), *w = want;
    memcpy(w, popped, sizeof(popped) - 1), w += sizeof(popped) - 1;
    for (int i = 0; i < PINGS; i++) memcpy(w, "+PONG\r\n", 7), w += 7;
    memcpy(w, unsubbed, sizeof(unsubbed) - 1);
    expect_bytes(fd, want, wlen);
    free(want);
    close(fd);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-pspool.log"), 0);
}
END_TEST

/*
 * After the last UNSUBSCRIBE the client kept its node connection: it was looked at while the
 * node's confirmation was still owed, and never again. With no idle connection kept
 * (-backend-idle-connections 0), the count of private connections comes back down once the
 * unsubscribe is confirmed; the same for keyspace notifications (a connection per master).
 */
START_TEST(test_unsubscribe_gives_connection_back)
{
    int port = h_env.proxy_port + 84;
    const char *flags[] = {"-backend-idle-connections", "0", NULL};
    pid_t pid = own_proxy(port, "proxy-fixes-unsub.log", flags);
    ck_assert_int_eq(h_info_num(port, "private_connections"), 0);
    redisContext *s = h_connect(port);
    freeReplyObject(h_cmd(s, "SUBSCRIBE fx:u1"));
    freeReplyObject(h_cmd(s, "SUBSCRIBE fx:u2"));
    freeReplyObject(h_cmd(s, "UNSUBSCRIBE fx:u1"));
    ck_assert_int_eq(h_info_num(port, "private_connections"), 1); /* fx:u2 still needs it */
    freeReplyObject(h_cmd(s, "UNSUBSCRIBE fx:u2"));
    ck_assert_int_eq(info_settles(port, "private_connections", 0), 0);
    /* Keyspace notifications: one connection per master, all given back. */
    freeReplyObject(h_cmd(s, "PSUBSCRIBE __keyspace@0__:fx*"));
    ck_assert_int_eq(h_info_num(port, "private_connections"), 3);
    freeReplyObject(h_cmd(s, "PUNSUBSCRIBE"));
    ck_assert_int_eq(info_settles(port, "private_connections", 0), 0);
    /* And the client works as any other afterwards. */
    h_expect_str(h_cmd(s, "SET fx:u v"), "OK");
    redisFree(s);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-unsub.log"), 0);
}
END_TEST

/* -pubsub-output-buffer-limit 0 means no limit (as Redis's client-output-buffer-limit pubsub 0):
 * it closed every subscriber at its first message. */
START_TEST(test_pubsub_limit_zero_is_no_limit)
{
    int port = h_env.proxy_port + 85;
    const char *flags[] = {"-pubsub-output-buffer-limit", "0", NULL};
    pid_t pid = own_proxy(port, "proxy-fixes-pslimit.log", flags);
    redisContext *s = h_connect(port), *p = h_connect(port);
    freeReplyObject(h_cmd(s, "SUBSCRIBE fx:lim"));
    for (int i = 0; i < 100; i++) freeReplyObject(h_cmd(p, "PUBLISH fx:lim m%d", i));
    for (int i = 0; i < 100; i++) {
        redisReply *m = NULL;
        ck_assert_int_eq(redisGetReply(s, (void **)&m), REDIS_OK);
        ck_assert_msg(m->type == REDIS_REPLY_ARRAY && m->elements == 3, "message %d", i);
        char want[16];
        snprintf(want, sizeof(want), "m%d", i);
        ck_assert_str_eq(m->element[2]->str, want);
        freeReplyObject(m);
    }
    redisFree(s);
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-pslimit.log"), 0);
}
END_TEST

/* INFO's blocked_clients: the proxy's clients with a blocking command in flight (it said 0). */
START_TEST(test_blocked_clients)
{
    int port = h_env.proxy_port;
    ck_assert_int_eq(h_info_num(port, "blocked_clients"), 0);
    redisContext *p = h_connect(port);
    freeReplyObject(h_cmd(p, "DEL fx:bl"));
    redisContext *b = h_connect(port);
    redisAppendCommand(b, "BLPOP fx:bl 0");
    int done = 0;
    while (!done) ck_assert_int_eq(redisBufferWrite(b, &done), REDIS_OK);
    ck_assert_int_eq(info_settles(port, "blocked_clients", 1), 1);
    h_expect_int(h_cmd(p, "RPUSH fx:bl x"), 1);
    redisReply *r;
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    ck_assert_int_eq(info_settles(port, "blocked_clients", 0), 0);
    /* Blocked, then gone. */
    redisAppendCommand(b, "XREAD BLOCK 0 STREAMS fx:bs $");
    done = 0;
    while (!done) ck_assert_int_eq(redisBufferWrite(b, &done), REDIS_OK);
    ck_assert_int_eq(info_settles(port, "blocked_clients", 1), 1);
    redisFree(b);
    ck_assert_int_eq(info_settles(port, "blocked_clients", 0), 0);
    redisFree(p);
}
END_TEST

/* SCAN's cursor is parsed as Redis 7.0 parses it (strtoul on the argument as a C string): any
 * length, up to the first NUL. The proxy refused 64 characters or more, and a NUL. */
START_TEST(test_scan_cursor_as_redis)
{
    const char *cursors[] = {
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000 ",
        "18446744073709551616",
    };
    redisContext *p = h_connect(h_env.proxy_port), *s = h_connect(h_env.single_port);
    for (size_t i = 0; i < 4; i++) {
        const char *argv[2] = {"SCAN", i < 3 ? cursors[i] : "0\0junk"};
        size_t lens[2] = {4, i < 3 ? strlen(cursors[i]) : 6};
        redisReply *a = h_cmd_argv(p, 2, argv, lens), *b = h_cmd_argv(s, 2, argv, lens);
        ck_assert_msg(a->type == b->type, "cursor %zu: type %d, Redis %d", i, a->type, b->type);
        if (b->type == REDIS_REPLY_ERROR)
            ck_assert_str_eq(a->str, b->str);
        else
            ck_assert_int_eq(a->elements, 2);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisFree(s);
    redisFree(p);
}
END_TEST

/* A fan-out part for one master that ran out of -failover-hold named "(any master)" as the
 * unreachable node; it names that master. */
START_TEST(test_hold_expired_names_the_master)
{
    int base = FX_BASE + 10;
    ck_assert_int_eq(h_cluster_start("fixes-hold", base), 0);
    int port = FX_BASE + 21;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", base);
    const char *extra[] = {"-threads", "1", "-failover-hold", "300ms", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-fixes-hold.log");
    ck_assert_int_gt(pid, 0);
    redisContext *p = h_connect(port);
    redisReply *r = h_cmd(p, "DBSIZE");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    int master = -1;
    for (int q = base; q < base + 6 && master < 0; q++)
        if (h_is_master(q)) master = q;
    ck_assert_int_gt(master, 0);
    pid_t node = h_cluster_pid("fixes-hold", master);
    ck_assert_int_gt(node, 0);
    kill(node, SIGKILL);
    h_sleep_ms(200);
    r = h_cmd(p, "DBSIZE");
    char want[64];
    snprintf(want, sizeof(want), "node 127.0.0.1:%d is unreachable", master);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, want), "DBSIZE: %s",
                  r->str ? r->str : "(not an error)");
    freeReplyObject(r);
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-fixes-hold.log"), 0);
    h_cluster_stop("fixes-hold");
}
END_TEST

Suite *fixes_suite(void)
{
    Suite *s = suite_create("fixes");
    TCase *tc = tcase_create("fixes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_evalsha_in_multi_other_master);
    tcase_add_test(tc, test_publish_counts_every_subscriber);
    tcase_add_test(tc, test_scan_empty_keyspace);
    tcase_add_test(tc, test_announce_addr);
    tcase_add_test(tc, test_replicas_serve_reads_at_once);
    tcase_add_test(tc, test_priv_closed_with_output_queued);
    tcase_add_test(tc, test_reset_answers_requests_in_flight);
    tcase_add_test(tc, test_pubsub_answered_request_not_read);
    tcase_add_test(tc, test_unsubscribe_gives_connection_back);
    tcase_add_test(tc, test_blocked_clients);
    tcase_add_test(tc, test_pubsub_limit_zero_is_no_limit);
    tcase_add_test(tc, test_scan_cursor_as_redis);
    tcase_add_test(tc, test_hold_expired_names_the_master);
    suite_add_tcase(s, tc);
    return s;
}
