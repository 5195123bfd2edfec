/*
 * Pipelining: thousands of requests in flight on one connection, over keys on every master,
 * must come back complete and in request order, however the nodes interleave their answers.
 */
#include "harness.h"
#include "suites.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

/* ---- beside a load: a proxy of its own, and clients that GET one at a time ---- */

/* A proxy on proxy_port + off in front of the shared cluster, with extra flags. */
static pid_t pl_proxy_start(int off, const char *const *extra, const char *log, int *port)
{
    *port = h_env.proxy_port + off;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    pid_t pid = h_proxy_start(*port, startup, extra, log);
    ck_assert_int_gt(pid, 0);
    return pid;
}

/* A client that asks for one of nkeys keys at a time, checking each value, until told to stop:
 * its session has nothing in flight when a reply comes, so only the end-of-turn flush writes
 * it. */
struct getter {
    pthread_t th;
    int port, id, nkeys;
    const char *const *keys, *const *vals;
    const size_t *lens;
    atomic_int *stop;
    long n;
    char err[256];
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;
    redisContext *c = h_connect(g->port);
    while (!atomic_load_explicit(g->stop, memory_order_relaxed) && !g->err[0]) {
        int k = (int)((g->id + g->n) % g->nkeys);
        redisReply *r = redisCommand(c, "GET %s", g->keys[k]);
        if (!r)
            snprintf(g->err, sizeof(g->err), "client %d, GET %ld: %s", g->id, g->n + 1,
                     c->errstr);
        else if (r->type != REDIS_REPLY_STRING || r->len != g->lens[k] ||
                 memcmp(r->str, g->vals[k], g->lens[k]) != 0)
            snprintf(g->err, sizeof(g->err), "client %d: not the value of %s", g->id,
                     g->keys[k]);
        if (r) freeReplyObject(r);
        g->n++;
    }
    redisFree(c);
    return NULL;
}

static void getters_start(struct getter *g, int n, int port, atomic_int *stop,
                          const char *const *keys, const char *const *vals, const size_t *lens,
                          int nkeys)
{
    for (int i = 0; i < n; i++) {
        g[i] = (struct getter){.port = port, .id = i, .nkeys = nkeys, .keys = keys, .vals = vals,
                               .lens = lens, .stop = stop};
        ck_assert_int_eq(pthread_create(&g[i].th, NULL, getter_main, &g[i]), 0);
    }
}

/* Stops and joins them; returns the GETs they made. */
static long getters_stop(struct getter *g, int n)
{
    long total = 0;
    if (n > 0) atomic_store_explicit(g[0].stop, 1, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        pthread_join(g[i].th, NULL);
        total += g[i].n;
    }
    return total;
}

static void getters_check(const struct getter *g, int n)
{
    for (int i = 0; i < n; i++) ck_assert_msg(!g[i].err[0], "%s", g[i].err);
}

/* ---- large replies to many clients at once ---- */

enum {
    LR_THREADS = 4,
    LR_FAST = 4,
    LR_CLIENTS = 6,
    LR_DEPTH = 16,
    LR_TOTAL = 150,
    LR_KEYS = 8,
    LR_VLEN = 65536
};
static char lr_val[LR_KEYS][LR_VLEN];
/* Even keys hold large values, odd ones short: short replies come while large ones wait. */
#define LR_LEN(k) ((k) % 2 ? 32 : LR_VLEN)

struct lr_thread {
    pthread_t th;
    int port, id;
    char err[256]; /* the first failure, empty if none */
};

/* LR_CLIENTS clients, LR_DEPTH GETs in flight each, replies read one at a time in turn. */
static void *lr_main(void *arg)
{
    struct lr_thread *t = arg;
    redisContext *cs[LR_CLIENTS];
    for (int c = 0; c < LR_CLIENTS; c++) {
        cs[c] = h_connect(t->port);
        /* A small receive buffer: the proxy's sends to this client wait for its reads. */
        int rcvbuf = 16384;
        setsockopt(cs[c]->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        for (int i = 0; i < LR_DEPTH; i++)
            redisAppendCommand(cs[c], "GET lr:{%d}", (t->id + c + i) % LR_KEYS);
    }
    /* Reply i read, request i + LR_DEPTH sent with the next read. */
    for (int i = 0; i < LR_TOTAL && !t->err[0]; i++)
        for (int c = 0; c < LR_CLIENTS && !t->err[0]; c++) {
            redisReply *r = NULL;
            int k = (t->id + c + i) % LR_KEYS;
            if (redisGetReply(cs[c], (void **)&r) != REDIS_OK)
                snprintf(t->err, sizeof(t->err), "thread %d client %d, reply %d of %d: %s", t->id,
                         c, i + 1, LR_TOTAL, cs[c]->errstr);
            else if (r->type != REDIS_REPLY_STRING || r->len != LR_LEN(k) ||
                     memcmp(r->str, lr_val[k], LR_LEN(k)) != 0)
                snprintf(t->err, sizeof(t->err),
                         "thread %d client %d, reply %d is not the value of lr:{%d}", t->id, c,
                         i + 1, k);
            if (r) freeReplyObject(r);
            if (i + LR_DEPTH < LR_TOTAL)
                redisAppendCommand(cs[c], "GET lr:{%d}", (t->id + c + i + LR_DEPTH) % LR_KEYS);
        }
    for (int c = 0; c < LR_CLIENTS; c++) redisFree(cs[c]);
    return NULL;
}

/* Clients in four threads, each keeping GETs of large and short values on every master in
 * flight and reading their replies one at a time in turn, through a proxy with one worker and
 * batched waits (large loop turns), with clients of short GETs beside them: sessions have output
 * waiting on full sockets while more replies come from the nodes, so a turn often writes a
 * session on a completed send while it is queued for the end-of-turn flush. Every reply must
 * arrive, whole and in order; nobody may be left waiting (hiredis gives up after 5 s). */
START_TEST(test_pipeline_large_replies_interleaved)
{
    int port;
    const char *extra[] = {"-threads", "1", "-io-batch-us", "300", NULL};
    pid_t pid = pl_proxy_start(90, extra, "proxy-pipeline-large.log", &port);
    redisContext *c0 = h_connect(port);
    static char names[LR_KEYS][16];
    const char *keys[LR_KEYS / 2], *vals[LR_KEYS / 2];
    size_t lens[LR_KEYS / 2];
    for (int k = 0; k < LR_KEYS; k++) {
        memset(lr_val[k], 'a' + k, LR_VLEN);
        int n = snprintf(lr_val[k], 16, "lr:%d:", k); /* each value starts with its own name */
        lr_val[k][n] = 'x';
        snprintf(names[k], sizeof(names[k]), "lr:{%d}", k);
        h_expect_str(redisCommand(c0, "SET %s %b", names[k], lr_val[k], (size_t)LR_LEN(k)),
                     "OK");
        if (k % 2) { /* the odd keys, short values, for the clients beside the load */
            keys[k / 2] = names[k];
            vals[k / 2] = lr_val[k];
            lens[k / 2] = LR_LEN(k);
        }
    }
    redisFree(c0);
    atomic_int stop = 0;
    struct getter g[LR_FAST];
    getters_start(g, LR_FAST, port, &stop, keys, vals, lens, LR_KEYS / 2);
    struct lr_thread t[LR_THREADS];
    for (int i = 0; i < LR_THREADS; i++) {
        t[i] = (struct lr_thread){.port = port, .id = i};
        ck_assert_int_eq(pthread_create(&t[i].th, NULL, lr_main, &t[i]), 0);
    }
    for (int i = 0; i < LR_THREADS; i++) pthread_join(t[i].th, NULL);
    long fast = getters_stop(g, LR_FAST);
    fprintf(stderr, "pipeline large replies: %d clients x %d GETs (%d in flight each), %ld short "
            "GETs one at a time beside them\n", LR_THREADS * LR_CLIENTS, LR_TOTAL, LR_DEPTH, fast);
    for (int i = 0; i < LR_THREADS; i++) ck_assert_msg(!t[i].err[0], "%s", t[i].err);
    getters_check(g, LR_FAST);
    ck_assert_int_gt(fast, 0);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-pipeline-large.log"), 0);
}
END_TEST

/* ---- a paused reader resumed by a completed send ---- */

enum { PR_SLOW = 6, PR_FAST = 6, PR_PAIRS = 3000, PR_VLEN = 2048 };
#define PR_PAIR_BYTES (PR_VLEN + 9 + 7) /* "$2048\r\n" value "\r\n", then "+PONG\r\n" */

struct pr_slow {
    pthread_t th, wr;
    int port, id, fd;
    char *req;
    size_t len;
    size_t got;
    char err[256];
};

static void *pr_writer(void *arg)
{
    struct pr_slow *c = arg;
    for (size_t off = 0; off < c->len;) {
        ssize_t w = write(c->fd, c->req + off, c->len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    return NULL;
}

/* PR_PAIRS of GET (a 2 KB value) and PING in one pipeline, written by a thread of its own while
 * this one reads slowly through a 4 KB receive buffer. */
static void *pr_slow_main(void *arg)
{
    struct pr_slow *c = arg;
    c->fd = h_tcp_connect(c->port, 4096);
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    c->req = malloc((size_t)PR_PAIRS * 64);
    for (int k = 0; k < PR_PAIRS; k++)
        c->len += (size_t)sprintf(c->req + c->len,
                                  "*2\r\n$3\r\nGET\r\n$5\r\npr{%d}\r\n*1\r\n$4\r\nPING\r\n",
                                  (c->id + k) % 3);
    pthread_create(&c->wr, NULL, pr_writer, c);
    /* Every pair is answered by the same bytes. */
    char pair[PR_PAIR_BYTES], buf[8192];
    memcpy(pair, "$2048\r\n", 7);
    memset(pair + 7, 'p', PR_VLEN);
    memcpy(pair + 7 + PR_VLEN, "\r\n+PONG\r\n", 9);
    size_t want = (size_t)PR_PAIRS * PR_PAIR_BYTES;
    while (c->got < want && !c->err[0]) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n <= 0) {
            snprintf(c->err, sizeof(c->err), "slow client %d: %zu of %zu bytes, then %s", c->id,
                     c->got, want, n == 0 ? "EOF" : "nothing for 10 s");
            break;
        }
        for (ssize_t i = 0; i < n; i++, c->got++)
            if (c->got >= want || buf[i] != pair[c->got % PR_PAIR_BYTES]) {
                snprintf(c->err, sizeof(c->err), "slow client %d: byte %zu is not the reply's",
                         c->id, c->got);
                break;
            }
        usleep(200);
    }
    shutdown(c->fd, SHUT_RDWR);
    pthread_join(c->wr, NULL);
    close(c->fd);
    free(c->req);
    return NULL;
}

/* With -max-inflight 4, a client pipelining GETs and PINGs has its reading paused at once; a send
 * to it that completes resumes it in the middle of a loop turn, and the PINGs then parsed are
 * answered at once, queueing the client for the turn's flush while it may already be queued
 * (by a node's reply earlier in the turn). Slow readers keep their sends waiting; other clients
 * ask one GET at a time beside them. Every byte must arrive. Before the flush-list fix of
 * 2f98e19, a client queued twice dropped others from the list: with that fix undone, this test
 * failed 3 runs of 3, its slow clients stuck after 41 to 400 KB. */
START_TEST(test_pipeline_paused_reader_resumes)
{
    int port;
    const char *extra[] = {"-threads", "1", "-io-batch-us", "300", "-max-inflight", "4", NULL};
    pid_t pid = pl_proxy_start(91, extra, "proxy-pipeline-paused.log", &port);
    static char v[PR_VLEN];
    memset(v, 'p', sizeof(v));
    static const char *const keys[] = {"pr{0}", "pr{1}", "pr{2}"};
    const char *vals[] = {v, v, v};
    const size_t lens[] = {PR_VLEN, PR_VLEN, PR_VLEN};
    redisContext *c0 = h_connect(port);
    for (int k = 0; k < 3; k++)
        h_expect_str(redisCommand(c0, "SET %s %b", keys[k], v, (size_t)PR_VLEN), "OK");
    redisFree(c0);
    atomic_int stop = 0;
    struct getter g[PR_FAST];
    getters_start(g, PR_FAST, port, &stop, keys, vals, lens, 3);
    struct pr_slow sl[PR_SLOW];
    for (int i = 0; i < PR_SLOW; i++) {
        sl[i] = (struct pr_slow){.port = port, .id = i};
        ck_assert_int_eq(pthread_create(&sl[i].th, NULL, pr_slow_main, &sl[i]), 0);
    }
    uint64_t t0 = h_now_ms();
    for (int i = 0; i < PR_SLOW; i++) pthread_join(sl[i].th, NULL);
    uint64_t took = h_now_ms() - t0;
    long fast = getters_stop(g, PR_FAST);
    fprintf(stderr,
            "pipeline paused readers: %d clients x %d GET+PING pairs read slowly in %llu ms, %ld "
            "GETs one at a time beside them\n",
            PR_SLOW, PR_PAIRS, (unsigned long long)took, fast);
    for (int i = 0; i < PR_SLOW; i++) ck_assert_msg(!sl[i].err[0], "%s", sl[i].err);
    getters_check(g, PR_FAST);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-pipeline-paused.log"), 0);
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
    tcase_add_test(tc, test_pipeline_large_replies_interleaved);
    tcase_add_test(tc, test_pipeline_paused_reader_resumes);
    suite_add_tcase(s, tc);
    return s;
}
