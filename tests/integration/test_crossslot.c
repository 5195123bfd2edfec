/*
 * -cross-slot compute against a standalone redis-server, byte for byte. A proxy with
 * -cross-slot compute (h_env.proxy_port + 120) fronts the shared cluster; every command of the
 * list runs on it with keys on all three masters (each key chosen for the master it lands on),
 * and the same bytes go to the runner's standalone redis-server, which holds the same data (built
 * through the same calls). Replies are compared byte for byte, over RESP2 and again over RESP3,
 * except where a redis-server's own order is its hash table's (the members of a set of strings):
 * there the members are compared sorted. Destinations are read back (SORT ... ALPHA, ZRANGE
 * WITHSCORES, GET, TYPE, TTLs in range) the same way. Afterwards no temporary key is left on any
 * master.
 *
 * A cluster of the suite's own (ports 22400-22405) then has nodes fail half way: a master that
 * refuses writes (maxmemory 1: OOM, deterministic) for the destination, then for the source as
 * well, and a master stopped with SIGSTOP past -backend-timeout. Each reply must say what state
 * the keys are in, and the keys must be in that state.
 */
#include "harness.h"
#include "suites.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_BASE 22400 /* the failure cluster */

static int cs_port(void)
{
    return h_env.proxy_port + 120;
}

static struct {
    struct h_rc proxy, ref;
    int resp;
    int mismatches;
    char first[1200];
} cs;

static pid_t cs_proxy;

static void cs_setup(void)
{
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "2", "-cross-slot", "compute", NULL};
    cs_proxy = h_proxy_start(cs_port(), startup, extra, "proxy-crossslot.log");
    ck_assert_int_gt(cs_proxy, 0);
}

static void cs_teardown(void)
{
    ck_assert_int_eq(h_proxy_stop(cs_proxy, "proxy-crossslot.log"), 0);
}

/* A key named prefix<n> that the master on master_port serves (in the cluster at base). */
static void key_on(int base, int master_port, const char *prefix, char *out, size_t cap)
{
    for (int n = 0; n < 10000; n++) {
        snprintf(out, cap, "%s%d", prefix, n);
        if (h_owner_port(base, out, strlen(out)) == master_port) return;
    }
    ck_abort_msg("no key for master %d", master_port);
}

/* The three masters' ports, in order (the cluster's first three nodes start as its masters). */
static int master(int base, int i)
{
    return base + i;
}

/* A command from a printf format (arguments without spaces), formatted as RESP by hiredis. */
static int format(char **req, const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof(line), fmt, ap);
    return redisFormatCommand(req, line);
}

static void record(const char *what, const char *r, size_t rl, const char *p, size_t pl)
{
    char rs[600], ps[600];
    h_show(r, rl, 280, rs, sizeof(rs));
    h_show(p, pl, 280, ps, sizeof(ps));
    fprintf(stderr, "crossslot (RESP%d): %s\n  redis: %s\n  proxy: %s\n", cs.resp, what, rs, ps);
    if (cs.mismatches++ == 0)
        snprintf(cs.first, sizeof(cs.first), "RESP%d %.200s -> redis [%.300s] proxy [%.300s]", cs.resp, what,
                 rs, ps);
}

/* The command to both; the replies must be the same bytes. */
static void same(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void same(const char *fmt, ...)
{
    char *req, what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    int len = format(&req, fmt, ap);
    va_end(ap);
    size_t pl, rl;
    const char *p = h_rc_roundtrip(&cs.proxy, req, (size_t)len, &pl);
    char *pc = malloc(pl + 1);
    memcpy(pc, p, pl);
    const char *r = h_rc_roundtrip(&cs.ref, req, (size_t)len, &rl);
    if (rl != pl || memcmp(r, pc, rl) != 0) record(what, r, rl, pc, pl);
    free(pc);
    redisFreeCommand(req);
}

/* The elements of a flat array (or RESP3 set) reply of bulk strings, sorted, joined with '|'
 * (hiredis here predates RESP3, hence this small reader). */
static void sorted_members(const char *reply, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    if (len < 4 || (reply[0] != '*' && reply[0] != '~')) {
        snprintf(out, cap, "%.*s", (int)(len < 200 ? len : 200), reply);
        return;
    }
    char *end;
    long n = strtol(reply + 1, &end, 10);
    const char *p = end + 2;
    char **v = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    long k = 0;
    for (; k < n && p < reply + len && *p == '$'; k++) {
        long bl = strtol(p + 1, &end, 10);
        p = end + 2;
        v[k] = strndup(p, (size_t)bl);
        p += bl + 2;
    }
    for (long i = 1; i < k; i++)
        for (long j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    size_t o = 0;
    for (long i = 0; i < k && o < cap; i++) {
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", v[i]);
        free(v[i]);
    }
    if (k != n && o < cap) snprintf(out + o, cap - o, "<%ld of %ld read>", k, n);
    free(v);
}

/* The command to both; the replies must hold the same members (a set's order is its own). */
static void same_members(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void same_members(const char *fmt, ...)
{
    char *req, what[256], a[4096], b[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    int len = format(&req, fmt, ap);
    va_end(ap);
    size_t pl, rl;
    const char *p = h_rc_roundtrip(&cs.proxy, req, (size_t)len, &pl);
    sorted_members(p, pl, b, sizeof(b));
    const char *r = h_rc_roundtrip(&cs.ref, req, (size_t)len, &rl);
    sorted_members(r, rl, a, sizeof(a));
    if (strcmp(a, b) != 0) record(what, a, strlen(a), b, strlen(b));
    redisFreeCommand(req);
}

/* TTL of key on both sides, in [lo, hi] (the two were set a few milliseconds apart). */
static void same_ttl(const char *key, long long lo, long long hi)
{
    char *req;
    int len = redisFormatCommand(&req, "TTL %s", key);
    size_t pl, rl;
    const char *p = h_rc_roundtrip(&cs.proxy, req, (size_t)len, &pl);
    long long pv = p[0] == ':' ? strtoll(p + 1, NULL, 10) : lo - 1;
    const char *r = h_rc_roundtrip(&cs.ref, req, (size_t)len, &rl);
    long long rv = r[0] == ':' ? strtoll(r + 1, NULL, 10) : lo - 1;
    if (pv < lo || pv > hi || rv < lo || rv > hi) {
        char a[32], b[32];
        snprintf(a, sizeof(a), "%lld", rv);
        snprintf(b, sizeof(b), "%lld", pv);
        char what[128];
        snprintf(what, sizeof(what), "TTL %s in [%lld, %lld]", key, lo, hi);
        record(what, a, strlen(a), b, strlen(b));
    }
    redisFreeCommand(req);
}

/* The proxy's answer to a command (its bytes, NUL-terminated, in out). */
static void proxy_says(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void proxy_says(char *out, size_t cap, const char *fmt, ...)
{
    char *req;
    va_list ap;
    va_start(ap, fmt);
    int len = format(&req, fmt, ap);
    va_end(ap);
    size_t pl;
    const char *p = h_rc_roundtrip(&cs.proxy, req, (size_t)len, &pl);
    snprintf(out, cap, "%.*s", (int)pl, p);
    redisFreeCommand(req);
}

static void hello3(struct h_rc *c)
{
    static const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    size_t n;
    const char *r = h_rc_roundtrip(c, hello, sizeof(hello) - 1, &n);
    ck_assert_msg(n > 0 && r[0] == '%', "HELLO 3 answered %.*s", (int)n, r);
}

/* Keys: a, b, c on masters 0, 1, 2 of the shared cluster, with a prefix per data type. */
struct keys3 {
    char k[3][64];
};

static void keys3(const char *prefix, struct keys3 *k)
{
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof(p), "%s%c:", prefix, 'a' + i);
        key_on(h_env.cluster_port, master(h_env.cluster_port, i), p, k->k[i], sizeof(k->k[i]));
    }
}

static void run_all(void)
{
    struct keys3 s, z, t, h, d, m, l, r;
    keys3("cs:set", &s);
    keys3("cs:zset", &z);
    keys3("cs:str", &t);
    keys3("cs:hll", &h);
    keys3("cs:dst", &d);
    keys3("cs:msetnx", &m);
    keys3("cs:list", &l);
    keys3("cs:ren", &r);
    const char *A = s.k[0], *B = s.k[1], *C = s.k[2];
    const char *D0 = d.k[0], *D1 = d.k[1], *D2 = d.k[2];
    /* Fresh data on both sides. */
    same("DEL %s %s %s", A, B, C);
    same("DEL %s %s %s", D0, D1, D2);
    same("DEL %s %s %s", z.k[0], z.k[1], z.k[2]);
    same("DEL %s %s %s", t.k[0], t.k[1], t.k[2]);
    same("DEL %s %s %s", h.k[0], h.k[1], h.k[2]);
    same("DEL %s %s %s", m.k[0], m.k[1], m.k[2]);
    same("DEL %s %s %s", l.k[0], l.k[1], l.k[2]);
    same("DEL %s %s %s", r.k[0], r.k[1], r.k[2]);
    same("DEL cs:nokey");

    /* Sets: rediscluster-py's example first, then every form. */
    same("SADD %s a1 a2 a3", A);
    same("SADD %s b1 a2 b3", B);
    same("SADD %s a2 a3 c1", C);
    same("SDIFFSTORE %s %s %s", D2, A, B);
    same("SORT %s ALPHA", D2);
    same_members("SUNION %s %s %s", A, B, C);
    same_members("SINTER %s %s %s", A, B, C);
    same_members("SINTER %s %s", A, C);
    same_members("SDIFF %s %s %s", A, B, C);
    same_members("SUNION %s cs:nokey", A);
    same_members("SINTER %s cs:nokey", A);
    same("SUNIONSTORE %s %s %s %s", D0, A, B, C);
    same("SORT %s ALPHA", D0);
    same("SINTERSTORE %s %s %s", D1, A, C);
    same("SORT %s ALPHA", D1);
    same("SINTERSTORE %s %s cs:nokey", D1, A);
    same("EXISTS %s", D1);
    same("SDIFFSTORE %s %s %s", A, A, B); /* the destination is a source */
    same("SORT %s ALPHA", A);
    same("SINTERCARD 3 %s %s %s", A, B, C);
    same("SINTERCARD 2 %s %s", B, C);
    same("SINTERCARD 2 %s %s LIMIT 1", B, C);
    same("SINTERCARD 2 %s %s LIMIT -1", B, C);
    same("SINTERCARD 3 %s %s", B, C);
    /* Integer sets are ordered: their unions compare byte for byte. */
    same("DEL %s %s", D0, D1);
    same("SADD %s 5 1 9", D0);
    same("SADD %s 2 9 7", D1);
    same("SUNION %s %s", D0, D1);
    same("SINTER %s %s", D0, D1);
    same("SDIFF %s %s", D0, D1);
    /* Wrong types. */
    same("SET %s foobar", t.k[0]);
    same("SET %s abcdef", t.k[1]);
    same("SET %s zz", t.k[2]);
    same("SUNION %s %s", A, t.k[1]);
    same("SINTERSTORE %s %s %s", D2, t.k[0], B);
    same("EXISTS %s", D2);

    /* Sorted sets: WEIGHTS, AGGREGATE, WITHSCORES, sets as sources. */
    same("ZADD %s 1 a 2 b 3 c", z.k[0]);
    same("ZADD %s 2 b 5 c 7 d", z.k[1]);
    same("ZADD %s 0.5 a 1e3 e", z.k[2]);
    same("ZUNION 3 %s %s %s WITHSCORES", z.k[0], z.k[1], z.k[2]);
    same("ZUNION 2 %s %s WEIGHTS 2 0.5 AGGREGATE MAX WITHSCORES", z.k[0], z.k[1]);
    same("ZUNION 2 %s %s AGGREGATE MIN", z.k[0], z.k[1]);
    same("ZINTER 2 %s %s WITHSCORES", z.k[0], z.k[1]);
    same("ZINTER 3 %s %s %s AGGREGATE SUM WITHSCORES", z.k[0], z.k[1], z.k[2]);
    same("ZDIFF 2 %s %s WITHSCORES", z.k[0], z.k[1]);
    same("ZDIFF 3 %s %s %s", z.k[0], z.k[1], z.k[2]);
    same("ZUNION 2 %s %s WITHSCORES", z.k[0], D0); /* an integer set as a source */
    same("ZUNIONSTORE %s 3 %s %s %s WEIGHTS 1 2 3", D1, z.k[0], z.k[1], z.k[2]);
    same("ZRANGE %s 0 -1 WITHSCORES", D1);
    same("ZINTERSTORE %s 2 %s %s AGGREGATE MAX", D2, z.k[0], z.k[1]);
    same("ZRANGE %s 0 -1 WITHSCORES", D2);
    same("ZDIFFSTORE %s 2 %s %s", D0, z.k[0], z.k[2]);
    same("ZRANGE %s 0 -1 WITHSCORES", D0);
    same("ZINTERCARD 2 %s %s", z.k[0], z.k[1]);
    same("ZINTERCARD 2 %s %s LIMIT 1", z.k[0], z.k[1]);
    same("ZUNION 2 %s %s WEIGHTS 1", z.k[0], z.k[1]);
    same("ZUNION 2 %s %s AGGREGATE AVG", z.k[0], z.k[1]);
    same("ZUNIONSTORE %s 2 %s %s", D1, z.k[0], t.k[1]);

    /* BITOP. */
    same("BITOP AND %s %s %s %s", D0, t.k[0], t.k[1], t.k[2]);
    same("GET %s", D0);
    same("BITOP OR %s %s %s", D1, t.k[0], t.k[1]);
    same("GET %s", D1);
    same("BITOP XOR %s %s %s cs:nokey", D2, t.k[0], t.k[2]);
    same("GET %s", D2);
    same("BITOP NOT %s %s", D1, t.k[2]);
    same("GET %s", D1);
    same("BITOP NOT %s %s %s", D1, t.k[0], t.k[1]);
    same("BITOP NAND %s %s %s", D1, t.k[0], t.k[1]);
    same("BITOP AND %s %s %s", D1, t.k[0], A);

    /* HyperLogLogs. */
    same("PFADD %s a b c", h.k[0]);
    same("PFADD %s c d e f", h.k[1]);
    same("PFADD %s x y", h.k[2]);
    same("PFCOUNT %s %s %s", h.k[0], h.k[1], h.k[2]);
    same("PFCOUNT %s %s", h.k[0], h.k[1]);
    same("PFMERGE %s %s %s %s", D2, h.k[0], h.k[1], h.k[2]);
    same("PFCOUNT %s", D2);
    same("PFMERGE %s %s", h.k[0], h.k[2]); /* the destination is a source */
    same("PFCOUNT %s", h.k[0]);
    same("PFCOUNT %s %s", h.k[0], t.k[1]);

    /* SMOVE. */
    same("SMOVE %s %s a3", A, B);
    same("SORT %s ALPHA", A);
    same("SORT %s ALPHA", B);
    same("SMOVE %s %s a3", A, B);
    same("SMOVE %s %s zz", A, B);
    same("SMOVE cs:nokey %s x", B);
    same("SMOVE %s %s a1", A, t.k[1]);
    same("SMOVE %s %s x", t.k[1], B);
    same("SMOVE %s %s a1", A, C);
    same("SORT %s ALPHA", C);

    /* RENAME, RENAMENX: values of every type, with and without a TTL. */
    same("SET %s v1", r.k[0]);
    same("PEXPIRE %s 100000", r.k[0]);
    same("RENAME %s %s", r.k[0], r.k[1]);
    same("GET %s", r.k[1]);
    same("EXISTS %s", r.k[0]);
    same("RENAME cs:nokey %s", r.k[1]);
    same("RPUSH %s x", r.k[2]);
    same("RENAME %s %s", r.k[1], r.k[2]); /* over a key of another type */
    same("TYPE %s", r.k[2]);
    same("GET %s", r.k[2]);
    same_ttl(r.k[2], 95, 100);
    same("RENAMENX %s %s", r.k[2], z.k[1]); /* exists: 0 */
    same("RENAMENX %s %s", r.k[2], r.k[0]);
    same("GET %s", r.k[0]);
    same("RENAMENX cs:nokey %s", r.k[1]);
    same("RENAME %s %s", z.k[0], r.k[1]);
    same("ZRANGE %s 0 -1 WITHSCORES", r.k[1]);
    same_ttl(r.k[1], -1, -1);
    same("RENAME %s %s", r.k[1], z.k[0]);

    /* COPY. */
    same("COPY %s %s", z.k[1], D0);
    same("COPY %s %s", z.k[1], D0);
    same("COPY %s %s REPLACE", z.k[1], D0);
    same("ZRANGE %s 0 -1 WITHSCORES", D0);
    same("COPY cs:nokey %s", D0);
    same("COPY %s %s BOGUS", z.k[1], D0);
    same("COPY %s %s DB x", z.k[1], D0);
    same("COPY %s %s DB 0 REPLACE", r.k[0], D1);
    same_ttl(D1, 95, 100);
    same("GET %s", D1);

    /* LMOVE, RPOPLPUSH. */
    same("RPUSH %s a b c d", l.k[0]);
    same("LMOVE %s %s LEFT RIGHT", l.k[0], l.k[1]);
    same("LMOVE %s %s RIGHT LEFT", l.k[0], l.k[1]);
    same("RPOPLPUSH %s %s", l.k[0], l.k[2]);
    same("LRANGE %s 0 -1", l.k[1]);
    same("LRANGE %s 0 -1", l.k[2]);
    same("LMOVE %s %s up down", l.k[0], l.k[1]);
    same("LMOVE cs:nokey %s LEFT LEFT", l.k[1]);
    same("RPOPLPUSH cs:nokey %s", l.k[1]);
    same("LMOVE %s %s LEFT LEFT", A, l.k[1]);
    same("LMOVE %s %s LEFT LEFT", l.k[0], A);
    same("LMOVE %s %s left left", l.k[0], l.k[1]);
    same("LMOVE %s %s LEFT LEFT", l.k[0], l.k[1]); /* emptied: nil */
    same("EXISTS %s", l.k[0]);
    same("LRANGE %s 0 -1", l.k[1]);

    /* MSETNX. */
    same("MSETNX %s 1 %s 2 %s 3", m.k[0], m.k[1], m.k[2]);
    same("MGET %s %s %s", m.k[0], m.k[1], m.k[2]);
    same("MSETNX %s x %s y", m.k[2], D2);
    same("MSETNX %s x %s y %s z", D0, m.k[0], D1);
    same("EXISTS %s", D0);
    same("DEL %s %s %s", m.k[0], m.k[1], m.k[2]);
    same("MSETNX %s a %s b %s c %s d", m.k[0], m.k[1], m.k[0], m.k[2]);
    same("MGET %s %s %s", m.k[0], m.k[1], m.k[2]);
    same("MSETNX %s a %s", m.k[0], m.k[1]);
}

/* No temporary key is left on any master of the shared cluster. */
static void no_temporary_keys(void)
{
    for (int i = 0; i < 3; i++) {
        redisContext *c = h_connect(master(h_env.cluster_port, i));
        redisReply *r = h_cmd(c, "KEYS *slotproxy-tmp*");
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 0,
                      "%zu temporary key(s) left on %d (%s)", r->elements,
                      master(h_env.cluster_port, i), r->elements ? r->element[0]->str : "");
        freeReplyObject(r);
        redisFree(c);
    }
}

START_TEST(test_crossslot_like_redis)
{
    for (cs.resp = 2; cs.resp <= 3; cs.resp++) {
        h_rc_open(&cs.proxy, cs_port());
        h_rc_open(&cs.ref, h_env.single_port);
        if (cs.resp == 3) {
            hello3(&cs.proxy);
            hello3(&cs.ref);
        }
        run_all();
        h_rc_close(&cs.proxy);
        h_rc_close(&cs.ref);
    }
    ck_assert_msg(cs.mismatches == 0, "%d mismatch(es); first: %s", cs.mismatches, cs.first);
    no_temporary_keys();
    ck_assert_int_gt(h_info_num(cs_port(), "cross_slot_computed"), 150);
    ck_assert_int_eq(h_info_num(cs_port(), "cross_slot_partial"), 0);
}
END_TEST

/* What a cluster node itself answers where it differs from a standalone server (COPY ... DB 1),
 * and the default, -cross-slot refuse, which keeps Redis Cluster's CROSSSLOT. */
START_TEST(test_crossslot_cluster_answers)
{
    h_rc_open(&cs.proxy, cs_port());
    char cross[256], node[256];
    proxy_says(cross, sizeof(cross), "COPY cs:a cs:b DB 1");
    proxy_says(node, sizeof(node), "COPY {cs}a {cs}b DB 1");
    ck_assert_str_eq(cross, node);
    proxy_says(cross, sizeof(cross), "COPY cs:a cs:b DB 99");
    proxy_says(node, sizeof(node), "COPY {cs}a {cs}b DB 99");
    ck_assert_str_eq(cross, node);
    h_rc_close(&cs.proxy);
    redisContext *c = h_connect(h_env.proxy_port);
    redisReply *r = h_cmd(c, "SUNION cs:a cs:b");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "CROSSSLOT Keys in request don't hash to the same slot");
    freeReplyObject(r);
    redisFree(c);
}
END_TEST

/* ---- nodes that fail half way ---- */

static void node_cmd(int port, const char *cmd)
{
    redisContext *c = h_connect(port);
    freeReplyObject(h_cmd(c, cmd));
    redisFree(c);
}

/* The reply (an error) contains want. */
static void error_says(redisReply *r, const char *want, const char *what)
{
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, want), "%s: %s", what,
                  r->str ? r->str : "(not an error)");
    freeReplyObject(r);
}

START_TEST(test_crossslot_failures)
{
    ck_assert_int_eq(h_cluster_start("crossslot", CS_BASE), 0);
    int port = h_env.proxy_port + 125;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", CS_BASE);
    const char *extra[] = {"-cross-slot", "compute", "-failover-hold", "1s",
                           "-backend-timeout", "1s", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-crossslot-fail.log");
    ck_assert_int_gt(pid, 0);
    redisContext *c = h_connect(port);
    char src[64], dst[64], s3[64], lsrc[64], ldst[64], ssrc[64], sdst[64];
    key_on(CS_BASE, master(CS_BASE, 0), "f:src", src, sizeof(src));
    key_on(CS_BASE, master(CS_BASE, 1), "f:dst", dst, sizeof(dst));
    key_on(CS_BASE, master(CS_BASE, 2), "f:third", s3, sizeof(s3));
    key_on(CS_BASE, master(CS_BASE, 0), "f:lsrc", lsrc, sizeof(lsrc));
    key_on(CS_BASE, master(CS_BASE, 1), "f:ldst", ldst, sizeof(ldst));
    key_on(CS_BASE, master(CS_BASE, 0), "f:ssrc", ssrc, sizeof(ssrc));
    key_on(CS_BASE, master(CS_BASE, 1), "f:sdst", sdst, sizeof(sdst));
    h_expect_str(h_cmd(c, "SET %s value PX 200000", src), "OK");
    h_expect_int(h_cmd(c, "RPUSH %s a b c", lsrc), 3);
    h_expect_int(h_cmd(c, "SADD %s m1 m2", ssrc), 2);
    h_expect_str(h_cmd(c, "SET %s other", s3), "OK");

    /* The destination's master refuses writes (OOM). */
    node_cmd(master(CS_BASE, 1), "CONFIG SET maxmemory 1");
    error_says(h_cmd(c, "RENAME %s %s", src, dst), "the source was put back as it was, so nothing changed",
               "RENAME");
    h_expect_str(h_cmd(c, "GET %s", src), "value");
    redisReply *r = h_cmd(c, "PTTL %s", src);
    ck_assert_msg(r->integer > 100000 && r->integer <= 200000, "PTTL %lld", r->integer);
    freeReplyObject(r);
    h_expect_int(h_cmd(c, "EXISTS %s", dst), 0);
    error_says(h_cmd(c, "SMOVE %s %s m1", ssrc, sdst), "the source was put back", "SMOVE");
    h_expect_int(h_cmd(c, "SISMEMBER %s m1", ssrc), 1);
    error_says(h_cmd(c, "LMOVE %s %s LEFT RIGHT", lsrc, ldst), "the source was put back", "LMOVE");
    r = h_cmd(c, "LRANGE %s 0 -1", lsrc);
    ck_assert(r->elements == 3 && strcmp(r->element[0]->str, "a") == 0);
    freeReplyObject(r);
    h_expect_int(h_cmd(c, "MSETNX %s 1 %s 2 %s 3", "f:m1", dst, s3), 0); /* s3 exists */
    h_expect_int(h_cmd(c, "DEL %s", s3), 1);
    r = h_cmd(c, "MSETNX %s 1 %s 2 %s 3", src, dst, s3);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER); /* src exists: 0, nothing tried */
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    char m0[64];
    key_on(CS_BASE, master(CS_BASE, 0), "f:m", m0, sizeof(m0));
    error_says(h_cmd(c, "MSETNX %s 1 %s 2 %s 3", m0, dst, s3),
               "deleted again, so nothing was set", "MSETNX");
    h_expect_int(h_cmd(c, "EXISTS %s %s %s", m0, dst, s3), 0);
    error_says(h_cmd(c, "SUNIONSTORE %s %s %s", dst, ssrc, s3), "OOM", "SUNIONSTORE");
    /* Then the source's master refuses writes too: the value cannot go back. */
    node_cmd(master(CS_BASE, 0), "CONFIG SET maxmemory 1");
    error_says(h_cmd(c, "SMOVE %s %s m2", ssrc, sdst), "it may be lost", "SMOVE (lost)");
    ck_assert_int_eq(h_info_num(port, "cross_slot_partial"), 1);
    node_cmd(master(CS_BASE, 0), "CONFIG SET maxmemory 0");
    node_cmd(master(CS_BASE, 1), "CONFIG SET maxmemory 0");
    h_expect_int(h_cmd(c, "SISMEMBER %s m2", ssrc), 0);
    h_expect_int(h_cmd(c, "EXISTS %s", sdst), 0);

    /* The destination's master stops answering (SIGSTOP) past -backend-timeout: RESTORE may have
     * run; the source is put back and the error says the destination may be written too. */
    pid_t stopped = h_cluster_pid("crossslot", master(CS_BASE, 1));
    ck_assert_int_gt(stopped, 0);
    kill(stopped, SIGSTOP);
    r = h_cmd(c, "RENAME %s %s", src, dst);
    kill(stopped, SIGCONT);
    error_says(r, "but the destination may have been written as well", "RENAME (stopped node)");
    h_expect_str(h_cmd(c, "GET %s", src), "value");
    ck_assert_int_eq(h_info_num(port, "cross_slot_partial"), 2);
    for (int i = 0; i < 3; i++) {
        redisContext *n = h_connect(master(CS_BASE, i));
        r = h_cmd(n, "KEYS *slotproxy-tmp*");
        ck_assert_msg(r->elements == 0, "a temporary key is left on %d", master(CS_BASE, i));
        freeReplyObject(r);
        redisFree(n);
    }
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-crossslot-fail.log"), 0);
    h_cluster_stop("crossslot");
}
END_TEST

Suite *crossslot_suite(void)
{
    Suite *s = suite_create("crossslot");
    TCase *tc = tcase_create("compare");
    tcase_add_checked_fixture(tc, cs_setup, cs_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_crossslot_like_redis);
    tcase_add_test(tc, test_crossslot_cluster_answers);
    suite_add_tcase(s, tc);
    TCase *fc = tcase_create("failures");
    tcase_set_timeout(fc, 180);
    tcase_add_test(fc, test_crossslot_failures);
    suite_add_tcase(s, fc);
    return s;
}
