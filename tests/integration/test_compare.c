/*
 * The proxy against a standalone redis-server, byte for byte. The runner starts a non-cluster
 * redis-server 7.0 (h_env.single_port) next to the shared cluster; every test here sends the
 * same request bytes to the proxy and to that server, over two raw connections that read back
 * exactly one reply each, and expects identical reply bytes. The data is built through those
 * same calls, so both sides always hold the same keys, spread over many slots and all three
 * masters on the cluster side. Each test ends by comparing the whole keyspace: DBSIZE, the
 * sorted output of KEYS * and of a full SCAN.
 *
 * A mismatch does not stop a test: every one is printed (command, Redis's bytes, the proxy's
 * bytes) and the test fails at its end, so one run lists all the differences at once. The
 * reference's own answer is checked as well (a value where a value is meant, an error where an
 * error is meant), so a typo in a test cannot turn into two identical error replies.
 *
 * Every test runs twice: over RESP2, and with both connections switched to RESP3 by HELLO 3, so
 * the proxy's RESP3 replies (maps, sets, doubles, nulls, verbatim strings, its own merges and
 * answers) are compared byte for byte too.
 *
 * Replies that cannot be equal by design (HELLO's id and mode, CLIENT ID/INFO, TIME, INFO,
 * RANDOMKEY on a non-empty keyspace, PTTL, the order of KEYS and SCAN) are checked for their
 * shape or range only. The few answers in which a cluster node itself differs from a standalone
 * server (options refused in cluster mode, CROSSSLOT for a malformed command, MEMORY USAGE) are
 * compared with the cluster node that owns the key instead.
 */
#include "harness.h"
#include "suites.h"

#include "crc16.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum want { WANT_VALUE, WANT_ERROR, WANT_ANY };

/* The two connections of the running test and what the comparisons found so far. Each test
 * runs in a process of its own (libcheck forks), so one file-level instance is enough. */
static struct {
    struct h_rc proxy, ref;
    int resp; /* the protocol both connections speak: 2, or 3 after HELLO 3 */
    int compared, mismatches;
    char first[1024]; /* the first mismatch, for the failure message */
} cm;

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Switches a fresh raw connection to RESP3 (HELLO's reply differs by its id: not compared). */
static void hello3(struct h_rc *c)
{
    static const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    size_t n;
    const char *r = h_rc_roundtrip(c, hello, sizeof(hello) - 1, &n);
    ck_assert_msg(n > 0 && r[0] == '%', "HELLO 3 answered %.*s", (int)n, r);
}

/* Turns a multibulk request back into "CMD arg arg" for messages; long arguments are cut. */
static char *describe(const char *req, size_t len, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    out[0] = '\0';
    if (len == 0 || req[0] != '*') return h_show(req, len, 120, out, cap);
    long n = strtol(req + 1, NULL, 10);
    const char *p = memchr(req, '\n', len);
    for (long a = 0; a < n && p && o + 16 < cap; a++) {
        i = (size_t)(p - req) + 1;
        if (i >= len || req[i] != '$') break;
        long alen = strtol(req + i + 1, NULL, 10);
        p = memchr(req + i, '\n', len - i);
        if (!p || (size_t)(p - req) + 1 + (size_t)alen > len) break;
        char tmp[256];
        h_show(p + 1, (size_t)alen, 48, tmp, sizeof(tmp));
        o += (size_t)snprintf(out + o, cap - o, "%s%s", a ? " " : "", tmp);
        p += 1 + alen + 1; /* onto the LF after the argument */
        if (o >= cap) o = cap - 1;
    }
    return out;
}

/* Compares the two replies to req and records a mismatch; checks the reference's reply kind. */
static void check(const char *req, size_t len, const char *r, size_t rl, const char *p, size_t pl,
                  enum want want, const char *tag)
{
    static char what[1024], rs[2048], ps[2048];
    describe(req, len, what, sizeof(what));
    int is_err = rl > 0 && r[0] == '-';
    ck_assert_msg(want != WANT_VALUE || !is_err, "test bug: redis-server answered %s%s with %s",
                  tag, what, h_show(r, rl, 300, rs, sizeof(rs)));
    ck_assert_msg(want != WANT_ERROR || is_err,
                  "test bug: redis-server answered %s%s without an error: %s", tag, what,
                  h_show(r, rl, 300, rs, sizeof(rs)));
    cm.compared++;
    if (rl == pl && memcmp(r, p, rl) == 0) return;
    h_show(r, rl, 400, rs, sizeof(rs));
    h_show(p, pl, 400, ps, sizeof(ps));
    fprintf(stderr, "compare: %s%s\n  redis: %s\n  proxy: %s\n", tag, what, rs, ps);
    if (cm.mismatches++ == 0)
        snprintf(cm.first, sizeof(cm.first), "%s%.200s -> redis [%.300s] proxy [%.300s]", tag, what,
                 rs, ps);
}

static void same_req(const char *req, size_t len, enum want want)
{
    size_t pl, rl;
    const char *p = h_rc_roundtrip(&cm.proxy, req, len, &pl);
    const char *r = h_rc_roundtrip(&cm.ref, req, len, &rl);
    check(req, len, r, rl, p, pl, want, "");
}

/* The same command, formatted by hiredis (%s, %b; not printf formats, hence no format
 * attribute), to both; the reference must answer with a value (same) or an error (same_err). */
static void same_vfmt(enum want want, const char *fmt, va_list ap)
{
    char *req;
    int len = redisvFormatCommand(&req, fmt, ap);
    ck_assert_int_gt(len, 0);
    same_req(req, (size_t)len, want);
    redisFreeCommand(req);
}

static void same(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    same_vfmt(WANT_VALUE, fmt, ap);
    va_end(ap);
}

static void same_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    same_vfmt(WANT_ERROR, fmt, ap);
    va_end(ap);
}

static void same_argv(int argc, const char **argv, const size_t *lens)
{
    char *req;
    int len = redisFormatCommandArgv(&req, argc, argv, lens);
    ck_assert_int_gt(len, 0);
    same_req(req, (size_t)len, WANT_VALUE);
    redisFreeCommand(req);
}

/* For requests whose answer differs between a standalone server and a cluster node by design
 * (CROSSSLOT for a malformed command whose supposed keys span slots, options refused in cluster
 * mode, the per-key overhead MEMORY USAGE counts in cluster mode): the proxy must answer as the
 * master owning key does. Sent on fresh connections, so only for requests that change nothing. */
static void same_as_cluster(const char *key, enum want want, const char *cmd)
{
    char *req;
    int len = redisFormatCommand(&req, cmd);
    ck_assert_int_gt(len, 0);
    int port = h_owner_port(h_env.cluster_port, key, strlen(key));
    ck_assert_int_gt(port, 0);
    struct h_rc node, proxy;
    h_rc_open(&node, port);
    h_rc_open(&proxy, h_env.proxy_port);
    if (cm.resp == 3) {
        hello3(&node);
        hello3(&proxy);
    }
    size_t nl, pl;
    const char *n = h_rc_roundtrip(&node, req, (size_t)len, &nl);
    const char *p = h_rc_roundtrip(&proxy, req, (size_t)len, &pl);
    check(req, (size_t)len, n, nl, p, pl, want, "(against a cluster node) ");
    h_rc_close(&node);
    h_rc_close(&proxy);
    redisFreeCommand(req);
}

/* The length of the HELLO 3 reply (a map) at the start of buf. */
static size_t hello_len(const char *buf, size_t n)
{
    ck_assert_msg(n > 0 && buf[0] == '%', "HELLO 3 answered %.*s", (int)(n < 80 ? n : 80), buf);
    /* The map ends after its last value, "modules" -> "*0\r\n". */
    const char *m = memmem(buf, n, "$7\r\nmodules\r\n*0\r\n", 17);
    ck_assert_ptr_nonnull(m);
    return (size_t)(m - buf) + 17;
}

/* Sends req on a new connection to each side and compares everything that comes back until
 * the connection has been quiet for 500 ms, and whether it was closed. For requests whose
 * replies are not one per request (CLIENT REPLY). */
static void same_conversation(const char *req, size_t len)
{
    static char a[1 << 16], b[1 << 16];
    static char full[1 << 16];
    int ca, cb;
    /* In RESP3 the conversation starts with HELLO 3, whose reply differs by its id: it is cut
     * off both sides, and only what follows is compared. */
    static const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    size_t pre = cm.resp == 3 ? sizeof(hello) - 1 : 0;
    ck_assert_uint_le(pre + len, sizeof(full));
    memcpy(full, hello, pre);
    memcpy(full + pre, req, len);
    size_t na = h_raw(h_env.single_port, full, pre + len, a, sizeof(a), 500, 0, &ca);
    size_t nb = h_raw(h_env.proxy_port, full, pre + len, b, sizeof(b), 500, 0, &cb);
    size_t ha = pre ? hello_len(a, na) : 0, hb = pre ? hello_len(b, nb) : 0;
    memmove(a, a + ha, na - ha);
    memmove(b, b + hb, nb - hb);
    na -= ha;
    nb -= hb;
    ck_assert_msg(na > 0, "redis-server answered nothing to %.*s", (int)len, req);
    check(req, len, a, na, b, nb, WANT_ANY, "(whole conversation) ");
    ck_assert_int_eq(ca, cb);
}

#define SAME_CONVERSATION(lit) same_conversation(lit, sizeof(lit) - 1)
#define SAME_INLINE(lit)       same_req(lit, sizeof(lit) - 1, WANT_VALUE)

/* For replies that may differ by a few milliseconds (PTTL): both must be integers in
 * [lo, hi]. */
static void same_range(long long lo, long long hi, const char *cmd)
{
    char *req;
    int len = redisFormatCommand(&req, cmd);
    ck_assert_int_gt(len, 0);
    size_t pl, rl;
    const char *p = h_rc_roundtrip(&cm.proxy, req, (size_t)len, &pl);
    long long pv = p[0] == ':' ? strtoll(p + 1, NULL, 10) : lo - 1;
    ck_assert_msg(pv >= lo && pv <= hi, "proxy: %s answered %.*s", cmd, (int)pl, p);
    const char *r = h_rc_roundtrip(&cm.ref, req, (size_t)len, &rl);
    long long rv = r[0] == ':' ? strtoll(r + 1, NULL, 10) : lo - 1;
    ck_assert_msg(rv >= lo && rv <= hi, "redis: %s answered %.*s", cmd, (int)rl, r);
    redisFreeCommand(req);
}

/* A batch of requests written in one go to each side, then the replies compared in order: the
 * proxy's merges must come back in request order inside a pipeline too. */
struct batch {
    char *buf;
    size_t len, cap;
    size_t *ends;
    size_t n, ncap;
};

static void batch_add(struct batch *b, const char *fmt, ...)
{
    char *req;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&req, fmt, ap);
    va_end(ap);
    ck_assert_int_gt(len, 0);
    if (b->len + (size_t)len > b->cap) {
        b->cap = (b->len + (size_t)len) * 2;
        b->buf = realloc(b->buf, b->cap);
    }
    if (b->n == b->ncap) {
        b->ncap = b->ncap ? b->ncap * 2 : 64;
        b->ends = realloc(b->ends, b->ncap * sizeof(*b->ends));
    }
    memcpy(b->buf + b->len, req, (size_t)len);
    b->len += (size_t)len;
    b->ends[b->n++] = b->len;
    redisFreeCommand(req);
}

static void batch_run(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t pl, rl;
        const char *p, *r;
        if (i == 0) {
            p = h_rc_roundtrip(&cm.proxy, b->buf, b->len, &pl);
            r = h_rc_roundtrip(&cm.ref, b->buf, b->len, &rl);
        } else {
            p = h_rc_read(&cm.proxy, &pl);
            r = h_rc_read(&cm.ref, &rl);
        }
        size_t start = i ? b->ends[i - 1] : 0;
        char tag[48];
        snprintf(tag, sizeof(tag), "(pipelined #%zu) ", i);
        check(b->buf + start, b->ends[i] - start, r, rl, p, pl, WANT_ANY, tag);
    }
    free(b->buf);
    free(b->ends);
    memset(b, 0, sizeof(*b));
}

/* Opens both connections and empties both servers: keys, functions and the script cache. */
/* Every test runs twice (a loop test): _i 0 in RESP2, _i 1 with both sides switched to RESP3 by
 * HELLO 3, so every reply is also compared in the types a RESP3 client gets. */
static void cmp_begin(int loop)
{
    memset(&cm, 0, sizeof(cm));
    cm.resp = loop ? 3 : 2;
    h_rc_open(&cm.proxy, h_env.proxy_port);
    h_rc_open(&cm.ref, h_env.single_port);
    if (cm.resp == 3) {
        hello3(&cm.proxy);
        hello3(&cm.ref);
    }
    same("FLUSHALL");
    same("FUNCTION FLUSH");
    same("SCRIPT FLUSH");
    same("DBSIZE");
}

static void cmp_end(void)
{
    h_rc_close(&cm.proxy);
    h_rc_close(&cm.ref);
    ck_assert_msg(cm.mismatches == 0, "%d of %d replies differ from redis-server; the first: %s",
                  cm.mismatches, cm.compared, cm.first);
}

/* A list of keys, sorted and deduplicated for comparison. */
struct keys {
    char **k;
    size_t n, cap;
};

static void keys_add(struct keys *ks, const char *s, size_t len)
{
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 256;
        ks->k = realloc(ks->k, ks->cap * sizeof(*ks->k));
    }
    ks->k[ks->n] = malloc(len + 1);
    memcpy(ks->k[ks->n], s, len);
    ks->k[ks->n][len] = '\0';
    ks->n++;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void keys_sort_unique(struct keys *ks)
{
    if (ks->n == 0) return;
    qsort(ks->k, ks->n, sizeof(*ks->k), str_cmp);
    size_t o = 1;
    for (size_t i = 1; i < ks->n; i++) {
        if (strcmp(ks->k[i], ks->k[o - 1]) == 0)
            free(ks->k[i]);
        else
            ks->k[o++] = ks->k[i];
    }
    ks->n = o;
}

static void keys_free(struct keys *ks)
{
    for (size_t i = 0; i < ks->n; i++) free(ks->k[i]);
    free(ks->k);
    memset(ks, 0, sizeof(*ks));
}

/* KEYS pattern on one side; *dups counts keys that came back twice. */
static void keys_of(redisContext *c, const char *pattern, struct keys *out, size_t *dups)
{
    redisReply *r = h_cmd(c, "KEYS %s", pattern);
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "KEYS %s: reply type %d", pattern, r->type);
    for (size_t i = 0; i < r->elements; i++) keys_add(out, r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    size_t before = out->n;
    keys_sort_unique(out);
    *dups = before - out->n;
}

/* A full SCAN iteration (with optional extra arguments such as MATCH, COUNT, TYPE); every key
 * may come back more than once by the SCAN guarantees, so the list is deduplicated. */
static void scan_of(redisContext *c, const char *extra, struct keys *out)
{
    char cursor[32] = "0", words[256];
    const char *argv[16] = {"SCAN", cursor};
    int argc = 2;
    snprintf(words, sizeof(words), "%s", extra);
    for (char *save, *w = strtok_r(words, " ", &save); w && argc < 16;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    int rounds = 0;
    do {
        redisReply *r = h_cmd_argv(c, argc, argv, NULL);
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN %s %s: type %d (%s)",
                      cursor, extra, r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *k = r->element[1];
        for (size_t i = 0; i < k->elements; i++)
            keys_add(out, k->element[i]->str, k->element[i]->len);
        freeReplyObject(r);
        ck_assert_msg(++rounds < 200000, "SCAN %s does not end", extra);
    } while (strcmp(cursor, "0") != 0);
    keys_sort_unique(out);
}

static void keys_expect_equal(const struct keys *r, const struct keys *p, const char *what)
{
    size_t i = 0;
    while (i < r->n && i < p->n && strcmp(r->k[i], p->k[i]) == 0) i++;
    ck_assert_msg(r->n == p->n && i == r->n,
                  "%s: redis has %zu keys, the proxy %zu; first difference at %zu: redis %s, "
                  "proxy %s",
                  what, r->n, p->n, i, i < r->n ? r->k[i] : "(end)", i < p->n ? p->k[i] : "(end)");
}

/* The keys and expires counts of db0 in INFO keyspace (0 when db0 is not listed). */
static void info_keyspace(redisContext *c, unsigned long long *keys, unsigned long long *expires)
{
    redisReply *r = h_cmd(c, "INFO keyspace");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    *keys = *expires = 0;
    const char *db0 = strstr(r->str, "db0:");
    if (db0) ck_assert_int_eq(sscanf(db0, "db0:keys=%llu,expires=%llu", keys, expires), 2);
    freeReplyObject(r);
}

/* The whole keyspace on both sides: DBSIZE bytes, KEYS * and a full SCAN as sorted sets, and
 * SCAN with the given MATCH/TYPE filter (NULL for none) against the same on Redis. */
static void cmp_keyspace_filtered(const char *scan_extra)
{
    same("DBSIZE");
    redisContext *p = h_connect(h_env.proxy_port), *r = h_connect(h_env.single_port);
    struct keys kp = {0}, kr = {0}, sp = {0}, sr = {0};
    size_t dp, dr;
    keys_of(p, "*", &kp, &dp);
    keys_of(r, "*", &kr, &dr);
    ck_assert_msg(dp == 0, "KEYS * through the proxy returned %zu keys twice", dp);
    keys_expect_equal(&kr, &kp, "KEYS *");
    unsigned long long kn[2], ex[2];
    info_keyspace(r, &kn[0], &ex[0]);
    info_keyspace(p, &kn[1], &ex[1]);
    ck_assert_msg(kn[0] == kn[1] && ex[0] == ex[1],
                  "INFO keyspace: redis keys=%llu,expires=%llu; proxy keys=%llu,expires=%llu",
                  kn[0], ex[0], kn[1], ex[1]);
    ck_assert_uint_eq(kn[0], kr.n);
    scan_of(p, "COUNT 100", &sp);
    scan_of(r, "COUNT 100", &sr);
    keys_expect_equal(&sr, &sp, "SCAN COUNT 100");
    keys_expect_equal(&kp, &sp, "the proxy's KEYS * against its SCAN");
    keys_free(&sp);
    keys_free(&sr);
    if (scan_extra) {
        scan_of(p, scan_extra, &sp);
        scan_of(r, scan_extra, &sr);
        keys_expect_equal(&sr, &sp, scan_extra);
        keys_free(&sp);
        keys_free(&sr);
    }
    keys_free(&kp);
    keys_free(&kr);
    redisFree(p);
    redisFree(r);
}

static void cmp_keyspace(void)
{
    cmp_keyspace_filtered(NULL);
}

/* Deterministic pseudo-random numbers (the same sequence on every run). */
static unsigned rnd_next(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xffffffu;
}

/* A value of n bytes covering every byte value (CR, LF and NUL included). */
static char *make_value(size_t n, unsigned seed)
{
    char *v = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) v[i] = (char)((i * 7u + seed * 13u + (i >> 8)) & 0xffu);
    return v;
}

START_TEST(test_strings)
{
    cmp_begin(_i);
    same("SET s:1 hello");
    same("SET s:1 world GET");
    same("SET s:2 v NX");
    same("SET s:2 v2 NX");
    same("SET s:3 v XX");
    same("SET s:2 v3 XX GET");
    same("SET s:3 v XX GET");
    same("SET s:4 v EX 100");
    same("TTL s:4");
    same("SET s:4 w KEEPTTL");
    same("TTL s:4");
    same("SET s:5 v PX 100000 NX GET");
    same("SET s:6 v EXAT 4102444800");
    same("EXPIRETIME s:6");
    same("SET s:6 v PXAT 4102444800123");
    same("PEXPIRETIME s:6");
    same("SET s:empty %b", "", (size_t)0);
    same("GET s:empty");
    same("STRLEN s:empty");
    same_err("SET s:1 v NX XX");
    same_err("SET s:1 v EX 0");
    same_err("SET s:1 v EX abc");
    same_err("SET s:1 v EX 10 PX 100");
    same_err("SET s:1 v BADOPT");
    same("GET s:1");
    same("GET nosuch");
    same("GETEX s:1 EX 200");
    same("TTL s:1");
    same("GETEX s:1 PERSIST");
    same("TTL s:1");
    same("GETEX s:1");
    same("GETEX nosuch EX 10");
    same_err("GETEX s:1 EX -5");
    same_err("GETEX s:1 EX 10 PX 10");
    same("GETDEL s:2");
    same("GETDEL s:2");
    same("GETSET s:7 a");
    same("GETSET s:7 b");
    same("GET s:7");
    same("APPEND s:8 foo");
    same("APPEND s:8 bar");
    same("STRLEN s:8");
    same("SETRANGE s:8 10 xyz");
    same("GET s:8");
    same("SETRANGE s:8 1 O");
    same("SETRANGE s:9 0 %b", "", (size_t)0);
    same("EXISTS s:9");
    same_err("SETRANGE s:8 -1 x");
    same_err("SETRANGE s:8 536870912 x");
    same("GETRANGE s:8 0 -1");
    same("GETRANGE s:8 -5 -2");
    same("GETRANGE s:8 100 200");
    same("GETRANGE nosuch 0 -1");
    same("SUBSTR s:8 0 2");
    same("INCR n:1");
    same("INCRBY n:1 41");
    same("INCRBY n:1 -100");
    same("DECR n:1");
    same("DECRBY n:1 5");
    same("GET n:1");
    same("INCRBYFLOAT f:1 10.5");
    same("INCRBYFLOAT f:1 -0.25");
    same("INCRBYFLOAT f:1 5.0e3");
    same("INCRBYFLOAT f:2 3");
    same("INCRBYFLOAT f:2 0.1");
    same("INCRBY n:2 9223372036854775807");
    same_err("INCR n:2");
    same_err("DECRBY n:3 -9223372036854775808");
    same_err("INCR s:1");
    same_err("INCRBY n:1 abc");
    same_err("INCRBY n:1 1.5");
    same_err("INCRBYFLOAT s:1 1");
    same_err("INCRBYFLOAT f:1 abc");
    same_err("INCRBYFLOAT f:1 inf");
    same_err("INCRBYFLOAT f:1 nan");
    same("SETNX s:10 a");
    same("SETNX s:10 b");
    same("GET s:10");
    same("MSETNX {t}a 1 {t}b 2");
    same("MSETNX {t}b 3 {t}c 4");
    same("MGET {t}a {t}b {t}c");
    same_err("MSETNX {t}a 1 {t}b");
    same("SETEX s:11 100 v");
    same("TTL s:11");
    same("PSETEX s:12 100000 v");
    same("TTL s:12");
    same_err("SETEX s:11 0 v");
    same_err("PSETEX s:11 -5 v");
    same("MSET {t}x ohmytext {t}y mynewtext");
    same("LCS {t}x {t}y");
    same("LCS {t}x {t}y LEN");
    same("LCS {t}x {t}y IDX MINMATCHLEN 4 WITHMATCHLEN");
    same("STRLEN nosuch");
    same("OBJECT ENCODING n:1");
    same("OBJECT ENCODING s:7");
    same("OBJECT ENCODING s:8");
    same("RPUSH l:1 a");
    same_err("GET l:1");
    same_err("APPEND l:1 x");
    same_err("INCR l:1");
    same_err("GETRANGE l:1 0 1");
    same_err("SETRANGE l:1 0 x");
    same_err("STRLEN l:1");
    same_err("SET l:1 v GET");
    cmp_keyspace();
    cmp_end();
}
END_TEST

/* The sizes of the values the split commands carry: empty, small, around 16 KiB buffer chunks,
 * up to 100 KB. */
static const size_t value_sizes[] = {0,     1,     2,     3,     10,    100,   1000,  4096,
                                     16383, 16384, 16385, 32768, 65535, 65536, 99999, 102400};

#define NSPLIT 50

START_TEST(test_split_commands)
{
    /* The keys must cover every master and many slots, or the splits prove little. */
    int masters[3] = {0, 0, 0};
    unsigned char slot_seen[16384] = {0};
    int nslots = 0;
    for (int i = 0; i < NSPLIT; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "k:%d", i);
        unsigned slot = crc16_key_slot(key, (size_t)n);
        if (!slot_seen[slot]) nslots++;
        slot_seen[slot] = 1;
        int port = h_owner_port(h_env.cluster_port, key, (size_t)n);
        ck_assert_int_ge(port, h_env.cluster_port);
        if (port - h_env.cluster_port < 3) masters[port - h_env.cluster_port] = 1;
    }
    ck_assert_msg(masters[0] && masters[1] && masters[2], "k:0..k:49 miss a master");
    ck_assert_int_ge(nslots, 45);

    cmp_begin(_i);
    /* MSET of 50 pairs with binary values from 0 to 100 KB. */
    const char *argv[1 + 2 * NSPLIT + 2];
    size_t lens[1 + 2 * NSPLIT + 2];
    char keys[NSPLIT][16];
    char *vals[NSPLIT];
    argv[0] = "MSET";
    lens[0] = 4;
    for (int i = 0; i < NSPLIT; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k:%d", i);
        size_t vlen = value_sizes[(size_t)i % NELEMS(value_sizes)];
        vals[i] = make_value(vlen, (unsigned)i);
        argv[1 + 2 * i] = keys[i];
        lens[1 + 2 * i] = strlen(keys[i]);
        argv[2 + 2 * i] = vals[i];
        lens[2 + 2 * i] = vlen;
    }
    same_argv(1 + 2 * NSPLIT, argv, lens);
    for (int i = 0; i < NSPLIT; i++) {
        same("GET %s", keys[i]);
        same("STRLEN %s", keys[i]);
    }
    /* MGET of all of them in a shuffled order, with repeats and missing keys mixed in. */
    unsigned seed = 7;
    for (int round = 0; round < 3; round++) {
        int order[NSPLIT];
        for (int i = 0; i < NSPLIT; i++) order[i] = i;
        for (int i = NSPLIT - 1; i > 0; i--) {
            int j = (int)(rnd_next(&seed) % (unsigned)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int argc = 0;
        argv[argc] = "MGET";
        lens[argc++] = 4;
        for (int i = 0; i < NSPLIT; i++) {
            argv[argc] = keys[order[i]];
            lens[argc++] = strlen(keys[order[i]]);
            if (i % 17 == round) {
                argv[argc] = "missing:1";
                lens[argc++] = 9;
            }
        }
        argv[argc] = keys[order[0]]; /* repeated */
        lens[argc++] = strlen(keys[order[0]]);
        same_argv(argc, argv, lens);
    }
    for (int i = 0; i < NSPLIT; i++) free(vals[i]);

    same("MGET k:1 k:1 k:2 missing:1");
    same("MGET missing:1 missing:2");
    same("MGET k:3");
    same("RPUSH k:list a");
    same("MGET k:1 k:list k:2"); /* a key of another type reads as nil */
    same("EXISTS k:1 k:1 k:2 nosuch");
    same("EXISTS k:list k:1 k:5 k:6 k:7 k:8 k:9 k:10 k:11 k:12 k:13 k:14 k:15");
    same("TOUCH k:1 k:1 k:3 nosuch");
    same("DEL k:1 k:1 k:2");
    same("DEL k:1 k:1 k:2");
    same("UNLINK k:3 k:4 k:4 nosuch k:list");
    same("UNLINK k:3 k:4");
    same("EXISTS k:1 k:2 k:3 k:4");
    same("MSET k:5 a k:6 b k:5 c k:7 %b", "", (size_t)0);
    same("MGET k:5 k:6 k:7 k:5");
    same("MSET {t}1 a {t}2 b k:40 c");
    same("MGET {t}1 {t}2 k:40");
    same("DEL {t}1 {t}2 k:40 {t}3");
    /* Command names in any case, an empty key name, hash tags at the edges. */
    same("mset k:20 a {}x b {x c x} d {}{y} e");
    same("MgEt k:20 {}x {x x} {}{y} {x");
    same("SET %b empty-name", "", (size_t)0);
    same("mget %b k:20 %b", "", (size_t)0, "", (size_t)0);
    same("exists %b {}x", "", (size_t)0);
    same("dEl %b {}x", "", (size_t)0);
    /* A thousand keys in one request. */
    {
        static const char *many[1 + 1000];
        static char names[1000][16];
        size_t mlens[1 + 1000];
        many[0] = "EXISTS";
        mlens[0] = 6;
        for (int i = 0; i < 1000; i++) {
            snprintf(names[i], sizeof(names[i]), "k:%d", i % 70);
            many[1 + i] = names[i];
            mlens[1 + i] = strlen(names[i]);
        }
        same_argv(1001, many, mlens);
        many[0] = "MGET";
        mlens[0] = 4;
        same_argv(1001, many, mlens);
        many[0] = "TOUCH";
        mlens[0] = 5;
        same_argv(1001, many, mlens);
        many[0] = "DEL";
        mlens[0] = 3;
        same_argv(1001, many, mlens);
        same_argv(1001, many, mlens);
    }
    same_err("MSET k:1 a k:2");
    same_err("MSET k:1");
    same_err("MGET");
    same_err("DEL");
    same_err("EXISTS");
    same_err("UNLINK");
    same_err("TOUCH");

    /* A pipeline of split commands in one write: their merged replies come back in order. */
    struct batch b = {0};
    seed = 11;
    for (int i = 0; i < 300; i++) {
        int a = (int)(rnd_next(&seed) % 60), c = (int)(rnd_next(&seed) % 60);
        int d = (int)(rnd_next(&seed) % 60);
        switch (i % 6) {
        case 0: batch_add(&b, "MSET k:%d v%d k:%d w%d", a, i, c, i); break;
        case 1: batch_add(&b, "MGET k:%d k:%d k:%d k:%d", a, c, d, a); break;
        case 2: batch_add(&b, "EXISTS k:%d k:%d k:%d", a, c, d); break;
        case 3: batch_add(&b, "DEL k:%d k:%d", a, a); break;
        case 4: batch_add(&b, "TOUCH k:%d k:%d k:%d", d, c, a); break;
        case 5: batch_add(&b, "GET k:%d", d); break;
        }
    }
    batch_run(&b);
    cmp_keyspace();
    cmp_end();
}
END_TEST

START_TEST(test_lists)
{
    cmp_begin(_i);
    same("RPUSH l:1 a b c d a b c a");
    same("LPUSH l:1 z y");
    same("LRANGE l:1 0 -1");
    same("LRANGE l:1 2 4");
    same("LRANGE l:1 -3 -1");
    same("LRANGE l:1 5 1");
    same("LRANGE nosuch 0 -1");
    same("LLEN l:1");
    same("LPOS l:1 a");
    same("LPOS l:1 a RANK 2");
    same("LPOS l:1 a RANK -1");
    same("LPOS l:1 a COUNT 0");
    same("LPOS l:1 a COUNT 2 MAXLEN 5");
    same("LPOS l:1 a COUNT 0 RANK -2");
    same("LPOS l:1 nosuch");
    same("LPOS l:1 nosuch COUNT 3");
    same_err("LPOS l:1 a RANK 0");
    same_err("LPOS l:1 a COUNT -1");
    same_err("LPOS l:1 a BAD 1");
    same("LINSERT l:1 BEFORE c X");
    same("LINSERT l:1 AFTER c Y");
    same("LINSERT l:1 AFTER nosuch Y");
    same("LINSERT nosuch BEFORE a b");
    same_err("LINSERT l:1 MIDDLE a b");
    same("LRANGE l:1 0 -1");
    same("LREM l:1 2 a");
    same("LREM l:1 -1 a");
    same("LREM l:1 0 c");
    same("LRANGE l:1 0 -1");
    same("LINDEX l:1 0");
    same("LINDEX l:1 -1");
    same("LINDEX l:1 100");
    same("LSET l:1 0 first");
    same_err("LSET l:1 100 x");
    same_err("LSET nosuch 0 x");
    same("LTRIM l:1 1 -2");
    same("LRANGE l:1 0 -1");
    same("LPUSHX nosuch a");
    same("RPUSHX l:1 tail");
    same("LPOP l:1");
    same("LPOP l:1 2");
    same("RPOP l:1 2");
    same("RPOP l:1 0");
    same("LPOP nosuch");
    same("LPOP nosuch 2");
    same_err("LPOP l:1 -1");
    same("RPUSH {l}a 1 2 3 4 5");
    same("RPUSH {l}b x");
    same("LMOVE {l}a {l}b LEFT RIGHT");
    same("LMOVE {l}a {l}b RIGHT LEFT");
    same("LMOVE {l}a {l}a LEFT RIGHT");
    same("LMOVE {l}nosuch {l}b LEFT LEFT");
    same_err("LMOVE {l}a {l}b UP DOWN");
    same("LRANGE {l}a 0 -1");
    same("LRANGE {l}b 0 -1");
    same("RPOPLPUSH {l}a {l}b");
    same("LMPOP 2 {l}a {l}b LEFT COUNT 2");
    same("LMPOP 2 {l}nosuch {l}b RIGHT");
    same("LMPOP 1 {l}nosuch LEFT");
    same_err("LMPOP 0 {l}a LEFT");
    /* numkeys beyond the keys makes LEFT a key: a cluster node answers CROSSSLOT where a
     * standalone server finds a syntax error, and the proxy answers as the cluster does. */
    same_as_cluster("{l}a", WANT_ERROR, "LMPOP 2 {l}a LEFT");
    same_err("LMPOP 1 {l}a SIDEWAYS");
    same("LRANGE {l}a 0 -1");
    same("LRANGE {l}b 0 -1");
    /* Binary elements, and a list long enough to become a quicklist. */
    const char bin[] = "a\0b\r\n\xff";
    const char *argv[] = {"RPUSH", "l:bin", bin, ""};
    size_t lens[] = {5, 5, sizeof(bin) - 1, 0};
    same_argv(4, argv, lens);
    same("LRANGE l:bin 0 -1");
    for (int i = 0; i < 200; i++)
        same("RPUSH l:big element-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
    same("LRANGE l:big 0 -1");
    same("LRANGE l:big 150 160");
    same("OBJECT ENCODING l:1");
    same("OBJECT ENCODING l:big");
    same("SET s:1 x");
    same_err("LPUSH s:1 a");
    same_err("LRANGE s:1 0 -1");
    same_err("LLEN s:1");
    same("SET {l}s x");
    same_err("LMOVE {l}s {l}a LEFT LEFT");
    same("RPUSH {l}c q");
    same_err("LMOVE {l}c {l}s LEFT LEFT");
    same_err("LRANGE l:1 a b");
    same_err("LINDEX l:1 x");
    same_err("RPUSH l:1");
    cmp_keyspace_filtered("TYPE list");
    cmp_end();
}
END_TEST

START_TEST(test_hashes)
{
    cmp_begin(_i);
    same("HSET h:1 f1 v1 f2 v2 f3 3");
    same("HSET h:1 f1 new f4 4");
    same("HGET h:1 f1");
    same("HGET h:1 nosuch");
    same("HGET nosuch f");
    same("HMGET h:1 f1 nosuch f2");
    same("HMGET nosuch a b");
    same("HGETALL h:1");
    same("HGETALL nosuch");
    same("HINCRBY h:1 f3 10");
    same("HINCRBY h:1 new 5");
    same("HINCRBY h:1 new -7");
    same("HINCRBYFLOAT h:1 fl 1.5");
    same("HINCRBYFLOAT h:1 fl 2.0e2");
    same_err("HINCRBY h:1 f1 1");
    same_err("HINCRBY h:1 f3 abc");
    same_err("HINCRBYFLOAT h:1 f1 1");
    same_err("HINCRBYFLOAT h:1 fl abc");
    same("HDEL h:1 f2 nosuch f2");
    same("HDEL h:1 f2");
    same("HEXISTS h:1 f1");
    same("HEXISTS h:1 f2");
    same("HLEN h:1");
    same("HLEN nosuch");
    same("HSTRLEN h:1 f1");
    same("HSTRLEN h:1 nosuch");
    same("HKEYS h:1");
    same("HVALS h:1");
    same("HSETNX h:1 f1 x");
    same("HSETNX h:1 f9 x");
    same("HMSET h:2 a 1 b 2");
    same("HGETALL h:2");
    same("HSET h:one only 1");
    same("HRANDFIELD h:one");
    same("HRANDFIELD h:one 5 WITHVALUES");
    same_err("HSET h:1 f1");
    same_err("HSET h:1 a 1 b");
    same_err("HMSET h:1 a");
    same_err("HGET h:1");
    /* Binary fields and values. */
    const char bin[] = "\r\n\0\xfe";
    const char *argv[] = {"HSET", "h:bin", bin, bin, "", ""};
    size_t lens[] = {4, 5, sizeof(bin) - 1, sizeof(bin) - 1, 0, 0};
    same_argv(6, argv, lens);
    same("HGETALL h:bin");
    const char *argv2[] = {"HGET", "h:bin", bin};
    size_t lens2[] = {4, 5, sizeof(bin) - 1};
    same_argv(3, argv2, lens2);
    /* Past 128 fields the encoding changes (and field order with it, so no HGETALL). */
    for (int i = 0; i < 200; i++) same("HSET h:big field:%d value:%d", i, i * i);
    same("HLEN h:big");
    same("HMGET h:big field:0 field:77 field:199 field:200");
    same("HSTRLEN h:big field:150");
    same("OBJECT ENCODING h:1");
    same("OBJECT ENCODING h:big");
    same("SET s:1 x");
    same_err("HGET s:1 f");
    same_err("HSET s:1 f v");
    same_err("HGETALL s:1");
    same_err("HINCRBY s:1 f 1");
    cmp_keyspace_filtered("TYPE hash");
    cmp_end();
}
END_TEST

START_TEST(test_sorted_sets)
{
    cmp_begin(_i);
    same("ZADD z:1 1 a 2 b 3 c 4 d 5 e");
    same("ZADD z:1 NX 10 a 6 f");
    same("ZADD z:1 XX CH 20 a 100 nosuch");
    same("ZADD z:1 GT CH 1 b 30 c");
    same("ZADD z:1 LT 0.5 d");
    same("ZADD z:1 INCR 2.5 e");
    same("ZADD z:1 XX INCR 1 nosuch2");
    same_err("ZADD z:1 XX NX 1 a");
    same_err("ZADD z:1 GT LT 1 a");
    same_err("ZADD z:1 INCR 1 a 2 b");
    same_err("ZADD z:1 abc a");
    same_err("ZADD z:1 1");
    same_err("ZADD z:1 1 a 2");
    same("ZADD z:1 inf top -inf bottom 3.14159 pi 1e20 big 0.1 tenth");
    same("ZRANGE z:1 0 -1");
    same("ZRANGE z:1 0 -1 WITHSCORES");
    same("ZRANGE z:1 2 5 REV WITHSCORES");
    same("ZRANGE z:1 (1 10 BYSCORE LIMIT 1 3 WITHSCORES");
    same("ZRANGE z:1 +inf -inf BYSCORE REV LIMIT 0 2");
    same_err("ZRANGE z:1 0 -1 LIMIT 0 1");
    same_err("ZRANGE z:1 a b BYSCORE");
    same("ZRANGEBYSCORE z:1 -inf +inf WITHSCORES LIMIT 2 3");
    same("ZRANGEBYSCORE z:1 (2 5");
    same("ZREVRANGE z:1 0 2 WITHSCORES");
    same("ZREVRANGEBYSCORE z:1 +inf 3 WITHSCORES");
    same("ZADD z:lex 0 apple 0 banana 0 cherry 0 date");
    same("ZRANGE z:lex [b (d BYLEX");
    same("ZRANGE z:lex + - BYLEX REV LIMIT 1 2");
    same("ZRANGEBYLEX z:lex - +");
    same("ZLEXCOUNT z:lex - [c");
    same_err("ZRANGEBYLEX z:lex a b");
    same("ZINCRBY z:1 1.5 b");
    same("ZINCRBY z:1 1 newm");
    same_err("ZINCRBY z:1 x b");
    same("ZSCORE z:1 pi");
    same("ZSCORE z:1 nosuch");
    same("ZSCORE z:1 top");
    same("ZSCORE z:1 big");
    same("ZMSCORE z:1 a nosuch pi bottom");
    same("ZMSCORE nosuch a");
    same("ZRANK z:1 c");
    same("ZRANK z:1 nosuch");
    same("ZREVRANK z:1 c");
    same("ZCOUNT z:1 -inf 5");
    same("ZCARD z:1");
    same("ZPOPMIN z:1");
    same("ZPOPMIN z:1 2");
    same("ZPOPMAX z:1 2");
    same("ZPOPMIN nosuch");
    same("ZREM z:1 a nosuch");
    same("ZREMRANGEBYSCORE z:1 100 +inf");
    same("ZREMRANGEBYRANK z:1 0 0");
    same("ZRANGE z:1 0 -1 WITHSCORES");
    same("ZADD {z}a 1 x 2 y 3 z");
    same("ZADD {z}b 10 y 20 z 30 w");
    same("ZUNIONSTORE {z}u 2 {z}a {z}b WEIGHTS 1 2 AGGREGATE MAX");
    same("ZRANGE {z}u 0 -1 WITHSCORES");
    same("ZINTERSTORE {z}i 2 {z}a {z}b");
    same("ZRANGE {z}i 0 -1 WITHSCORES");
    same("ZINTER 2 {z}a {z}b WITHSCORES");
    same("ZUNION 2 {z}a {z}b AGGREGATE MIN WITHSCORES");
    same("ZDIFF 2 {z}a {z}b WITHSCORES");
    same("ZDIFF 2 {z}b {z}a");
    same("ZDIFFSTORE {z}d 2 {z}b {z}a");
    same("ZRANGE {z}d 0 -1 WITHSCORES");
    same("ZINTERCARD 2 {z}a {z}b");
    same("ZINTERCARD 2 {z}a {z}b LIMIT 1");
    same("ZRANGESTORE {z}r {z}b 0 1");
    same("ZRANGE {z}r 0 -1 WITHSCORES");
    same("ZRANGESTORE {z}r {z}b (10 +inf BYSCORE");
    same("ZRANGE {z}r 0 -1 WITHSCORES");
    same("ZMPOP 2 {z}nosuch {z}a MIN COUNT 2");
    same("ZMPOP 1 {z}nosuch MAX");
    same_err("ZUNIONSTORE {z}u 0 {z}a");
    same_err("ZINTER 3 {z}a {z}b");
    same_err("ZUNIONSTORE {z}u 2 {z}a {z}b WEIGHTS 1");
    same_err("ZUNIONSTORE {z}u 2 {z}a {z}b AGGREGATE AVG");
    same("ZADD z:one 7 only");
    same("ZRANDMEMBER z:one");
    same("ZRANDMEMBER z:one 3 WITHSCORES");
    for (int i = 0; i < 200; i++) same("ZADD z:big %d.5 member:%d", i * 37 % 1000, i);
    same("ZRANGE z:big 0 -1 WITHSCORES");
    same("ZRANGE z:big 100 200 BYSCORE");
    same("OBJECT ENCODING z:1");
    same("OBJECT ENCODING z:big");
    same("SET s:1 x");
    same_err("ZADD s:1 1 a");
    same_err("ZRANGE s:1 0 -1");
    same_err("ZSCORE s:1 a");
    same_err("ZRANGE z:1 a b");
    cmp_keyspace_filtered("TYPE zset");
    cmp_end();
}
END_TEST

START_TEST(test_sets)
{
    cmp_begin(_i);
    same("SADD s:a a b c d");
    same("SADD s:a a e");
    same("SCARD s:a");
    same("SCARD nosuch");
    same("SISMEMBER s:a a");
    same("SISMEMBER s:a x");
    same("SMISMEMBER s:a a x b");
    same("SMISMEMBER nosuch a");
    same("SADD {s}1 a b c d");
    same("SADD {s}2 c d e");
    same("SINTERCARD 2 {s}1 {s}2");
    same("SINTERCARD 2 {s}1 {s}2 LIMIT 1");
    same("SINTERCARD 1 {s}nosuch");
    same("SDIFFSTORE {s}d {s}1 {s}2");
    same("SCARD {s}d");
    same("SORT {s}d ALPHA");
    same("SINTERSTORE {s}i {s}1 {s}2");
    same("SORT {s}i ALPHA DESC");
    same("SUNIONSTORE {s}u {s}1 {s}2");
    same("SORT {s}u ALPHA");
    same("SORT {s}u ALPHA DESC LIMIT 0 3");
    same("SMOVE {s}1 {s}2 a");
    same("SMOVE {s}1 {s}2 nosuch");
    same("SORT {s}2 ALPHA");
    same("SREM s:a a nosuch");
    same("SORT s:a ALPHA");
    /* Sets of integers are kept sorted (intset), so their members may be listed directly. */
    same("SADD s:ints 5 3 1 10 2");
    same("SMEMBERS s:ints");
    same("SORT s:ints");
    same("SORT s:ints DESC LIMIT 1 2");
    same("SADD s:one x");
    same("SRANDMEMBER s:one");
    same("SRANDMEMBER s:one 3");
    same("SPOP s:one");
    same("SPOP s:one");
    same("OBJECT ENCODING s:a");
    same("OBJECT ENCODING s:ints");
    same_err("SINTERCARD 0 {s}1");
    same_err("SINTERCARD 2 {s}1 {s}2 LIMIT -1");
    same_err("SINTERCARD 3 {s}1 {s}2");
    same("SET str x");
    same_err("SADD str a");
    same_err("SCARD str");
    same_err("SISMEMBER str a");
    same_err("SORT {s}d");
    same_err("SADD s:a");
    cmp_keyspace_filtered("TYPE set");
    cmp_end();
}
END_TEST

START_TEST(test_streams)
{
    cmp_begin(_i);
    same("XADD st:1 1-1 f1 v1");
    same("XADD st:1 1-2 f2 v2 f3 v3");
    same("XADD st:1 2-0 a 1");
    same("XADD st:1 3-* b 2");
    same("XADD st:1 MAXLEN 10 5-5 c 3");
    same_err("XADD st:1 1-1 f v");
    same_err("XADD st:1 bad f v");
    same_err("XADD st:1 9-0 f");
    same("XADD st:nomk NOMKSTREAM 1-1 f v");
    same("EXISTS st:nomk");
    same("XLEN st:1");
    same("XLEN nosuch");
    same("XRANGE st:1 - +");
    same("XRANGE st:1 1-2 3 COUNT 2");
    same("XRANGE st:1 (1-1 +");
    same("XREVRANGE st:1 + - COUNT 2");
    same("XRANGE nosuch - +");
    same("XREAD COUNT 2 STREAMS st:1 0");
    same("XREAD STREAMS st:1 5-5");
    same_as_cluster("st:1", WANT_ERROR, "XREAD STREAMS st:1 st:2 0 0");
    same("XGROUP CREATE st:1 g1 0");
    same_err("XGROUP CREATE st:1 g1 0");
    same("XGROUP CREATE st:2 g1 $ MKSTREAM");
    same_err("XGROUP CREATE st:nosuch g 0");
    same("XREADGROUP GROUP g1 alice COUNT 2 STREAMS st:1 >");
    same("XREADGROUP GROUP g1 bob COUNT 1 STREAMS st:1 >");
    same("XREADGROUP GROUP g1 alice STREAMS st:1 0");
    same("XPENDING st:1 g1");
    same("XACK st:1 g1 1-1 9-9");
    same("XPENDING st:1 g1");
    same("XINFO STREAM st:1");
    same("XINFO GROUPS st:1");
    same("XCLAIM st:1 g1 carol 0 1-2 JUSTID");
    same("XCLAIM st:1 g1 bob 0 1-2 2-0");
    same("XAUTOCLAIM st:1 g1 dave 0 0-0 COUNT 1");
    same("XAUTOCLAIM st:1 g1 dave 0 0-0 COUNT 10 JUSTID");
    same("XPENDING st:1 g1");
    same("XGROUP CREATECONSUMER st:1 g1 carol");
    same("XGROUP DELCONSUMER st:1 g1 carol");
    same("XGROUP SETID st:1 g1 0");
    same("XREADGROUP GROUP g1 bob COUNT 10 STREAMS st:1 >");
    same("XPENDING st:1 g1");
    same_err("XREADGROUP GROUP nosuchg c STREAMS st:1 >");
    same_err("XGROUP FOO st:1");
    same("XTRIM st:1 MAXLEN 4");
    same("XTRIM st:1 MINID 2-0");
    same("XDEL st:1 3-0 9-9");
    same("XRANGE st:1 - +");
    same("XLEN st:1");
    same_err("XTRIM st:1 MAXLEN abc");
    same("XGROUP DESTROY st:1 g1");
    same("XGROUP DESTROY st:1 g1");
    same("TYPE st:1");
    same("OBJECT ENCODING st:1");
    same("SET s:1 x");
    same_err("XADD s:1 1-1 f v");
    same_err("XRANGE s:1 - +");
    cmp_keyspace_filtered("TYPE stream");
    cmp_end();
}
END_TEST

START_TEST(test_bitmaps_hll_geo)
{
    cmp_begin(_i);
    same("SETBIT b:1 7 1");
    same("SETBIT b:1 7 1");
    same("SETBIT b:1 100 1");
    same("GETBIT b:1 7");
    same("GETBIT b:1 8");
    same("GETBIT b:1 100000");
    same("GET b:1");
    same("BITCOUNT b:1");
    same("BITCOUNT b:1 0 0");
    same("BITCOUNT b:1 0 20 BIT");
    same("BITCOUNT nosuch");
    same("BITPOS b:1 1");
    same("BITPOS b:1 0");
    same("BITPOS b:1 1 1");
    same("BITPOS b:1 1 8 200 BIT");
    same("BITPOS nosuch 1");
    same_err("SETBIT b:1 7 2");
    same_err("SETBIT b:1 -1 1");
    same_err("BITCOUNT b:1 0");
    same("SET {b}a %b", "\xff\xf0\x00", (size_t)3);
    same("SET {b}b %b", "\x0f\x0f", (size_t)2);
    same("BITOP AND {b}d {b}a {b}b");
    same("GET {b}d");
    same("BITOP OR {b}d {b}a {b}b");
    same("GET {b}d");
    same("BITOP XOR {b}d {b}a {b}b {b}nosuch");
    same("GET {b}d");
    same("BITOP NOT {b}n {b}a");
    same("GET {b}n");
    same_err("BITOP NOT {b}n {b}a {b}b");
    same_err("BITOP FOO {b}d {b}a");
    same("BITFIELD bf:1 SET u8 0 255 GET u4 0 INCRBY i5 100 1 OVERFLOW SAT INCRBY i5 100 100 "
         "OVERFLOW FAIL INCRBY u2 102 5");
    same("BITFIELD_RO bf:1 GET u8 0 GET i16 0");
    same("BITFIELD bf:1");
    same_err("BITFIELD bf:1 GET u99 0");
    same_err("BITFIELD bf:1 SET u8 0");

    same("PFADD hll:1 a b c d e");
    same("PFADD hll:1 a");
    same("PFCOUNT hll:1");
    same("PFADD {h}a a b c");
    same("PFADD {h}b c d e");
    same("PFCOUNT {h}a {h}b");
    same("PFMERGE {h}m {h}a {h}b");
    same("PFCOUNT {h}m");
    same("GET {h}m");
    same("PFADD hll:2");
    same("PFCOUNT nosuch");
    same("SET s:1 x");
    same_err("PFADD s:1 x");
    same_err("PFCOUNT s:1");

    same("GEOADD g:1 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
    same("GEOADD g:1 NX 13.361389 38.115556 Palermo");
    same("GEOADD g:1 XX CH 13.5 38.2 Palermo");
    same("GEODIST g:1 Palermo Catania");
    same("GEODIST g:1 Palermo Catania km");
    same("GEODIST g:1 Palermo nosuch");
    same("GEOPOS g:1 Palermo nosuch Catania");
    same("GEOHASH g:1 Palermo Catania");
    same("GEOSEARCH g:1 FROMLONLAT 15 37 BYRADIUS 200 km ASC");
    same("GEOSEARCH g:1 FROMMEMBER Palermo BYBOX 400 400 km DESC WITHCOORD WITHDIST WITHHASH "
         "COUNT 2");
    same("GEORADIUS g:1 15 37 200 km ASC WITHDIST");
    same("GEOADD {g}src 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
    same("GEOSEARCHSTORE {g}d {g}src FROMLONLAT 15 37 BYRADIUS 500 km ASC STOREDIST");
    same("ZRANGE {g}d 0 -1 WITHSCORES");
    same_err("GEOADD g:1 200 100 bad");
    same_err("GEOSEARCH g:1 FROMLONLAT 15 37");
    same_err("GEODIST g:1 Palermo Catania parsecs");
    same_err("GEOADD s:1 1 1 m");
    cmp_keyspace();
    cmp_end();
}
END_TEST

START_TEST(test_keyspace_commands)
{
    cmp_begin(_i);
    same("SET ks:1 v");
    same("EXPIRE ks:1 100");
    same("TTL ks:1");
    same_range(95000, 100000, "PTTL ks:1");
    same("EXPIRE ks:1 50 NX");
    same("EXPIRE ks:1 200 GT");
    same("EXPIRE ks:1 10 GT");
    same("EXPIRE ks:1 150 LT");
    same("TTL ks:1");
    same("PERSIST ks:1");
    same("PERSIST ks:1");
    same("TTL ks:1");
    same("PTTL ks:1");
    same("TTL nosuch");
    same("PTTL nosuch");
    same("EXPIRETIME ks:1");
    same("EXPIREAT ks:1 4102444800");
    same("EXPIRETIME ks:1");
    same("PEXPIREAT ks:1 4102444800555");
    same("PEXPIRETIME ks:1");
    same("PEXPIRE ks:1 100000");
    same("TTL ks:1");
    same("EXPIRE nosuch 10");
    same("SET ks:short v PX 100");
    same("SET ks:short2 v");
    same("PEXPIRE ks:short2 100");
    h_sleep_ms(250);
    same("GET ks:short");
    same("TTL ks:short");
    same("EXISTS ks:short ks:short2");
    same_err("EXPIRE ks:1 abc");
    same_err("EXPIRE ks:1 10 NX XX");
    same_err("EXPIRE ks:1 10 BAD");
    same("SET ks:int 12345");
    same("SET ks:emb short");
    same("SET ks:raw %s", "a string longer than forty-four bytes, so it is stored raw");
    same("RPUSH ks:list a b");
    same("HSET ks:hash f v");
    same("SADD ks:set m");
    same("SADD ks:iset 1 2");
    same("ZADD ks:zset 1 m");
    same("XADD ks:stream 1-1 f v");
    const char *names[] = {"ks:int", "ks:emb",  "ks:raw",  "ks:list",   "ks:hash",
                           "ks:set", "ks:iset", "ks:zset", "ks:stream", "nosuch"};
    for (size_t i = 0; i < NELEMS(names); i++) {
        same("TYPE %s", names[i]);
        same("OBJECT ENCODING %s", names[i]);
    }
    same("OBJECT REFCOUNT ks:emb");
    same_err("OBJECT FREQ ks:emb");
    same_err("OBJECT FOO ks:emb");
    same_err("OBJECT");
    same("SET {k}a 1");
    same("RENAME {k}a {k}b");
    same("GET {k}b");
    same("EXISTS {k}a");
    same_err("RENAME {k}a {k}b");
    same("SET {k}c 3");
    same("RENAMENX {k}b {k}c");
    same("RENAMENX {k}b {k}d");
    same("COPY {k}d {k}c");
    same("COPY {k}d {k}c REPLACE");
    same("GET {k}c");
    same("COPY {k}nosuch {k}x");
    same("RPUSH {k}l 3 1 2 10");
    same("SORT {k}l");
    same("SORT {k}l DESC");
    same("SORT {k}l LIMIT 1 2");
    same("SORT {k}l ALPHA");
    same("SORT_RO {k}l DESC");
    same("SORT {k}l STORE {k}sorted");
    same("LRANGE {k}sorted 0 -1");
    same("SORT {k}l BY nosort");
    /* Refused in cluster mode (Redis 7.0): the proxy answers as the cluster does. */
    same_as_cluster("{k}l", WANT_ERROR, "SORT {k}l BY nosort GET #");
    same_as_cluster("{k}l", WANT_ERROR, "SORT {k}l BY {k}w_*");
    same_as_cluster("{k}l", WANT_ERROR, "SORT {k}l GET {k}h_*");
    same_as_cluster("{k}d", WANT_ERROR, "COPY {k}d {k}e DB 1");
    /* Keys cost more memory on a cluster node (slot bookkeeping), so the node is the reference. */
    same_as_cluster("{k}c", WANT_VALUE, "MEMORY USAGE {k}c");
    same_as_cluster("ks:raw", WANT_VALUE, "MEMORY USAGE ks:raw");
    same_as_cluster("ks:zset", WANT_VALUE, "MEMORY USAGE ks:zset SAMPLES 0");
    same("MEMORY USAGE nosuch");
    same("RPUSH {k}words banana apple");
    same_err("SORT {k}words");
    same_err("SORT {k}l LIMIT 1");
    same("SORT {k}words ALPHA STORE {k}sorted");
    same("LRANGE {k}sorted 0 -1");
    /* DUMP carries the RDB version and a checksum; both servers are the same Redis version. */
    same("DUMP ks:raw");
    same("DUMP ks:list");
    same("DUMP nosuch");
    redisContext *r = h_connect(h_env.single_port);
    redisReply *d = h_cmd(r, "DUMP ks:hash");
    ck_assert_int_eq(d->type, REDIS_REPLY_STRING);
    same("RESTORE ks:restored 0 %b", d->str, d->len);
    same("HGETALL ks:restored");
    same_err("RESTORE ks:restored 0 %b", d->str, d->len);
    same("RESTORE ks:restored 0 %b REPLACE", d->str, d->len);
    same_err("RESTORE ks:bad 0 %b", "garbage", (size_t)7);
    freeReplyObject(d);
    redisFree(r);
    same("UNLINK ks:list ks:hash");
    same("EXISTS ks:list ks:hash ks:set");
    cmp_keyspace();
    cmp_end();
}
END_TEST

START_TEST(test_scripts)
{
    cmp_begin(_i);
    same("EVAL %s 2 {e}a {e}b x y", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}");
    same("EVAL %s 1 ev:1 hello", "return redis.call('SET', KEYS[1], ARGV[1])");
    same("EVAL %s 1 ev:1", "return redis.call('GET', KEYS[1])");
    same("EVAL %s 1 ev:2", "return redis.call('GET', KEYS[1])");
    same("EVAL %s 0", "return 42");
    same("EVAL %s 0 a b", "return ARGV");
    same("EVAL %s 0", "return {1, 'two', {3, 'four'}, false, true}");
    same("EVAL %s 0", "return 3.99");
    same("EVAL %s 0", "return redis.status_reply('FINE')");
    same_err("EVAL %s 0", "return redis.error_reply('MYERR oops')");
    same_err("EVAL %s 0", "return {err = 'inner error'}");
    same("EVAL_RO %s 1 ev:1", "return redis.call('GET', KEYS[1])");
    same_err("EVAL_RO %s 1 ev:1", "return redis.call('SET', KEYS[1], 'x')");
    same_err("EVAL %s 1 ev:1", "return redis.call('INCR', KEYS[1])");
    same_err("EVAL %s 0", "return +");
    same_err("EVAL %s -1", "return 1");
    same_err("EVAL %s 3 a", "return 1");
    same_err("EVAL %s abc", "return 1");
    same_err("EVAL %s", "return 1");
    same("SCRIPT LOAD %s", "return {KEYS[1], ARGV[1], 'loaded'}");
    /* The sha1 of the script above, as redis-server answered it. */
    redisContext *r = h_connect(h_env.single_port);
    redisReply *sha = h_cmd(r, "SCRIPT LOAD %s", "return {KEYS[1], ARGV[1], 'loaded'}");
    ck_assert_int_eq(sha->type, REDIS_REPLY_STRING);
    ck_assert_int_eq(sha->len, 40);
    same("EVALSHA %s 1 ev:3 arg", sha->str);
    same("EVALSHA_RO %s 1 ev:3 arg", sha->str);
    same("EVALSHA %s 0", sha->str);
    same("SCRIPT EXISTS %s ffffffffffffffffffffffffffffffffffffffff %s", sha->str, sha->str);
    same_err("EVALSHA ffffffffffffffffffffffffffffffffffffffff 0");
    same_err("EVALSHA abc 0");
    same_err("SCRIPT LOAD %s", "this is not lua");
    same_err("SCRIPT FOO");
    same("SCRIPT FLUSH");
    same("SCRIPT EXISTS %s", sha->str);
    same_err("EVALSHA %s 0", sha->str);
    freeReplyObject(sha);
    redisFree(r);
    /* EVAL leaves the script in the cache of the server that ran it: on Redis, EVALSHA and
     * SCRIPT EXISTS find it afterwards, whichever keys they name. */
    const char body[] = "return {KEYS[1], 'cached by eval'}";
    same("EVAL %s 1 ev:4", body);
    r = h_connect(h_env.single_port);
    sha = h_cmd(r, "SCRIPT LOAD %s", body); /* already cached there: changes nothing */
    ck_assert_int_eq(sha->type, REDIS_REPLY_STRING);
    same("SCRIPT EXISTS %s", sha->str);
    for (int i = 0; i < 20; i++) same("EVALSHA %s 1 k:%d", sha->str, i);
    same("EVALSHA %s 0", sha->str);
    same("SCRIPT EXISTS %s", sha->str);
    freeReplyObject(sha);
    redisFree(r);
    same_err("SCRIPT KILL");
    /* FLUSHALL keeps scripts. */
    same("script load %s", "return 'survives flushall'");
    same("FLUSHALL");
    same("EVALSHA %s 0", "bd249340d5bf3d862c73707f0c181c6db9106937");
    same("script exists %s", "bd249340d5bf3d862c73707f0c181c6db9106937");
    same("SCRIPT FLUSH ASYNC");
    same_err("SCRIPT FLUSH BAD");
    same_err("SCRIPT EXISTS");
    same("SET ev:str x");
    same_err("EVAL %s 1 ev:str", "return redis.call('LPUSH', KEYS[1], 'a')");
    cmp_keyspace();
    cmp_end();
}
END_TEST

static const char lib_code[] =
    "#!lua name=cmplib\n"
    "redis.register_function('cmp_get', function(keys, args) return redis.call('GET', keys[1]) "
    "end)\n"
    "redis.register_function('cmp_set', function(keys, args) return redis.call('SET', keys[1], "
    "args[1]) end)\n"
    "redis.register_function{function_name='cmp_echo', callback=function(keys, args) return "
    "{keys[1], args[1], #keys, #args} end, flags={'no-writes'}}\n";

START_TEST(test_functions)
{
    cmp_begin(_i);
    same("FUNCTION LOAD %s", lib_code);
    same_err("FUNCTION LOAD %s", lib_code);
    same("FUNCTION LOAD REPLACE %s", lib_code);
    /* With one library the dump is deterministic (with more, their order is the servers'). */
    same("FUNCTION DUMP");
    redisContext *r = h_connect(h_env.single_port);
    redisReply *dump = h_cmd(r, "FUNCTION DUMP");
    ck_assert_int_eq(dump->type, REDIS_REPLY_STRING);
    same("FCALL cmp_set 1 fn:1 hello");
    same("FCALL cmp_get 1 fn:1");
    same("FCALL cmp_get 1 fn:2");
    same("FCALL_RO cmp_echo 1 fn:1 a");
    same_err("FCALL_RO cmp_get 1 fn:1"); /* no flags: read-only calls are refused */
    same("FCALL cmp_echo 0");
    same_err("FCALL_RO cmp_set 1 fn:1 x");
    same_err("FCALL nosuchfn 0");
    same_err("FCALL cmp_get abc");
    same_err("FCALL cmp_get 2 fn:1");
    same("FUNCTION LOAD %s", "#!lua name=onelib\nredis.register_function('one', function() "
                             "return 1 end)");
    same("FUNCTION LIST LIBRARYNAME onelib");
    same("FUNCTION LIST LIBRARYNAME nosuchlib");
    same("FUNCTION STATS");
    same_err("FUNCTION KILL");
    /* FUNCTION RESTORE of what redis-server dumped, onto emptied servers. */
    same("FUNCTION FLUSH ASYNC");
    same("FUNCTION LIST");
    same("FUNCTION RESTORE %b", dump->str, dump->len);
    same_err("FUNCTION RESTORE %b", dump->str, dump->len);
    same("FUNCTION RESTORE %b REPLACE", dump->str, dump->len);
    same_err("FUNCTION RESTORE %b", "not a dump", (size_t)10);
    same_err("FUNCTION RESTORE %b BADPOLICY", dump->str, dump->len);
    freeReplyObject(dump);
    redisFree(r);
    same("FCALL cmp_get 1 fn:1");
    same_err("FCALL one 0");
    same("FUNCTION LOAD %s", "#!lua name=onelib\nredis.register_function('one', function() "
                             "return 1 end)");
    same("FCALL one 0");
    same("FUNCTION DELETE cmplib");
    same_err("FUNCTION DELETE cmplib");
    same_err("FCALL cmp_get 1 fn:1");
    same_err("FUNCTION LOAD %s", "return 1");
    same_err("FUNCTION FOO");
    same("FUNCTION FLUSH");
    same_err("FCALL one 0");
    cmp_keyspace();
    cmp_end();
}
END_TEST

/* Errors of every kind, beyond those the type tests already compare. */
START_TEST(test_errors)
{
    cmp_begin(_i);
    same("SET str v");
    same("RPUSH list a");
    same("HSET hash f v");
    same("ZADD zset 1 m");
    same("SADD set m");
    same("XADD stream 1-1 f v");
    /* WRONGTYPE from every type at every other. */
    same_err("LLEN str");
    same_err("HLEN list");
    same_err("SCARD hash");
    same_err("ZCARD set");
    same_err("XLEN zset");
    same_err("GET stream");
    same_err("GETBIT list 0");
    same_err("SETBIT hash 0 1");
    same_err("PFCOUNT zset");
    same_err("GEOADD set 1 1 m");
    same_err("HINCRBYFLOAT zset f 1");
    same_err("SINTERCARD 1 list");
    /* Unknown commands and subcommands. */
    same_err("FOOBAR a b");
    same_err("OBJECT FOO str");
    same_err("XINFO FOO");
    same_err("CONFIG FOO");
    same_err("MEMORY FOO");
    same_err("COMMAND FOO");
    same_err("CLIENT FOO");
    same_err("XGROUP FOO");
    same_err("SCRIPT FOO");
    same_err("FUNCTION FOO");
    /* Wrong arity. */
    const char *arity[] = {"GET",      "GET a b", "SET a",    "HSET h f", "LPUSH l",
                           "ZADD z 1", "XADD st", "EVAL",     "FCALL f",  "MGET",
                           "EXPIRE k", "OBJECT",  "XGROUP",   "SCRIPT",   "FUNCTION",
                           "PING a b", "ECHO",    "ECHO a b", "DBSIZE x", "KEYS",
                           "SCAN",     "TYPE",    "TTL a b",  "INCR",     "SELECT",
                           "CLIENT",   "SORT",    "RENAME a", "COPY a",   "LMOVE a b c"};
    for (size_t i = 0; i < NELEMS(arity); i++) same_err(arity[i]);
    /* Not an integer, out of range, not a float. */
    same_err("INCRBY str 1");
    same_err("EXPIRE str 1.5");
    same_err("LRANGE list a 1");
    same_err("LINDEX list x");
    same_err("GETRANGE str a b");
    same_err("BITCOUNT str a b");
    same_err("SETRANGE str x v");
    same_err("LPOP list x");
    same_err("ZRANGEBYSCORE zset a b");
    same_err("ZADD zset nan m");
    same_err("SETBIT str 4294967296 1");
    same_err("SCAN abc");
    same_err("SCAN 0 COUNT 0");
    same_err("SCAN 0 COUNT abc");
    same_err("SELECT abc");
    /* Syntax errors. */
    same_err("SET str v BADOPT");
    same_err("ZADD zset BAD 1 m");
    same_err("SORT list BADOPT");
    same_err("LPOS list a BAD 1");
    same_err("XADD stream BAD 1-2 f v");
    same_err("GEOSEARCH zset FROMLONLAT 1 1 BYRADIUS 1 parsecs");
    same_err("SCAN 0 BADOPT x");
    same_err("ZRANGE zset 0 1 BYSCORE BYLEX");
    same_err("CLIENT SETNAME %s", "has space");
    /* Replies that are values, on the same connection after the errors. */
    same("GET str");
    same("PING");
    cmp_keyspace();
    cmp_end();
}
END_TEST

/* A keyspace of a few thousand keys of every type: DBSIZE, KEYS and SCAN (plain, with MATCH,
 * with TYPE, with both) must list the same keys as Redis, and every key must read the same. */
START_TEST(test_whole_keyspace)
{
    cmp_begin(_i);
    same("RANDOMKEY"); /* empty on both: nil */
    struct batch b = {0};
    for (int i = 0; i < 3000; i++) {
        switch (i % 5) {
        case 0: batch_add(&b, "SET key:%d v%d", i, i); break;
        case 1: batch_add(&b, "RPUSH list:%d a %d", i, i); break;
        case 2: batch_add(&b, "HSET hash:%d f %d", i, i); break;
        case 3: batch_add(&b, "SADD set:%d %d", i, i); break;
        case 4: batch_add(&b, "ZADD zset:%d %d m", i, i); break;
        }
    }
    batch_run(&b);
    cmp_keyspace_filtered("MATCH key:1* COUNT 50");
    cmp_keyspace_filtered("TYPE hash COUNT 200");
    cmp_keyspace_filtered("MATCH *:2?? TYPE zset");
    for (int i = 0; i < 3000; i += 7) same("TYPE %s:%d", i % 5 == 0 ? "key" : "list", i);
    redisContext *p = h_connect(h_env.proxy_port), *r = h_connect(h_env.single_port);
    struct keys kp = {0}, kr = {0};
    size_t dp, dr;
    keys_of(p, "list:1??", &kp, &dp);
    keys_of(r, "list:1??", &kr, &dr);
    keys_expect_equal(&kr, &kp, "KEYS list:1??");
    ck_assert_int_eq(kr.n, 20);
    keys_free(&kp);
    keys_free(&kr);
    /* RANDOMKEY picks differently on each side; it must name a key that exists. */
    for (int i = 0; i < 20; i++) {
        redisReply *k = h_cmd(p, "RANDOMKEY");
        ck_assert_int_eq(k->type, REDIS_REPLY_STRING);
        redisReply *e = h_cmd(r, "EXISTS %b", k->str, k->len);
        ck_assert_msg(e->integer == 1, "RANDOMKEY through the proxy named %s", k->str);
        freeReplyObject(e);
        freeReplyObject(k);
    }
    redisFree(p);
    redisFree(r);
    same("FLUSHALL");
    same("RANDOMKEY");
    cmp_keyspace();
    cmp_end();
}
END_TEST

/* Commands the proxy answers itself (or forwards to any node), where bytes can match. */
START_TEST(test_connection_commands)
{
    cmp_begin(_i);
    same("PING");
    same("PING hello");
    same("ECHO %b", "a\r\n\0b", (size_t)5);
    same("CLIENT GETNAME");
    same("CLIENT SETNAME cmp-client");
    same("CLIENT GETNAME");
    same_err("CLIENT SETNAME %s", "bad\nname");
    same("CLIENT SETNAME %b", "", (size_t)0);
    same("CLIENT GETNAME");
    same("SELECT 0");
    same("COMMAND INFO get mset eval");
    same("COMMAND GETKEYS SET a b");
    same("COMMAND GETKEYS MSET a 1 b 2");
    same("COMMAND COUNT");
    same_err("COMMAND GETKEYS GET");
    same("CONFIG GET maxmemory-policy");
    same("DBSIZE");
    same("RANDOMKEY");
    same_err("AUTH foo");
    same_err("AUTH someone secret");
    same_err("AUTH a b c");
    same_err("HELLO 4");
    same_err("HELLO abc");
    same_err("HELLO 2 BADOPT");
    same_err("HELLO 2 SETNAME %s", "bad name");
    same_err("HELLO 2 AUTH default");
    same_as_cluster("x", WANT_ERROR, "SELECT 1");
    same_as_cluster("x", WANT_ERROR, "SELECT -1");
    same_err("SELECT abc");
    same_err("SELECT 00");
    same_err("SELECT 99999999999");
    same_err("RANDOMKEY x");
    same_err("LASTSAVE x");
    same_err("TIME x");
    same_err("CLIENT GETNAME x");
    same_err("CLIENT SETNAME");
    same_err("RESET x");
    same_err("HELLO 2 SETNAME");
    same_err("HELLO 99999999999999999999");
    same_err("SCRIPT FLUSH a b");
    same_err("FUNCTION FLUSH a b");
    same_err("SCAN 18446744073709551616");
    same("CLIENT NO-EVICT on");
    same("CLIENT NO-EVICT off");
    same_err("CLIENT NO-EVICT maybe");
    const char *helps[] = {"SCRIPT", "FUNCTION", "CLIENT",  "OBJECT", "XINFO",
                           "XGROUP", "CONFIG",   "COMMAND", "MEMORY"};
    for (size_t i = 0; i < NELEMS(helps); i++) same("%s HELP", helps[i]);
    /* Inline requests through the split and fan-out paths. */
    SAME_INLINE("MSET k:1 a k:2 b k:3 c\r\n");
    SAME_INLINE("MGET k:1 k:2 k:3 k:4\r\n");
    SAME_INLINE("EXISTS k:1 k:1 k:2 k:9\r\n");
    SAME_INLINE("DEL k:1 k:3\r\n");
    SAME_INLINE("DBSIZE\r\n");
    SAME_INLINE("KEYS k:2\r\n");
    /* Fan-out commands in a pipeline with ordinary ones keep their place. */
    struct batch b = {0};
    for (int i = 0; i < 20; i++) {
        batch_add(&b, "SET k:%d %d", i, i);
        batch_add(&b, "DBSIZE");
        batch_add(&b, "MGET k:%d k:%d", i, i / 2);
        batch_add(&b, "KEYS k:%d", i);
        if (i % 5 == 4) batch_add(&b, "FLUSHDB");
    }
    batch_run(&b);
    /* CLIENT REPLY: the skipped and silenced replies never arrive; CLIENT REPLY ON itself is
     * answered. Compared as whole conversations on fresh connections, so a missing reply shows
     * as a difference instead of a wait. */
    SAME_CONVERSATION("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"
                      "*2\r\n$4\r\nPING\r\n$1\r\na\r\n"
                      "*2\r\n$4\r\nPING\r\n$1\r\nb\r\n");
    SAME_CONVERSATION("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"
                      "*2\r\n$4\r\nPING\r\n$1\r\nc\r\n"
                      "*3\r\n$3\r\nSET\r\n$5\r\nrep:1\r\n$1\r\nv\r\n"
                      "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n"
                      "*2\r\n$4\r\nPING\r\n$1\r\nd\r\n");
    SAME_CONVERSATION("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"
                      "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"
                      "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n");
    /* RESET turns replies back on, and answers. */
    SAME_CONVERSATION("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"
                      "*1\r\n$5\r\nRESET\r\n"
                      "*1\r\n$4\r\nPING\r\n");
    same("GET rep:1");
    same_err("CLIENT REPLY MAYBE");
    same("CLIENT SETNAME before-reset");
    same("RESET");
    same("CLIENT GETNAME");
    same("FLUSHDB");
    same("FLUSHDB SYNC");
    same("FLUSHALL ASYNC");
    same_err("FLUSHALL BAD");
    same_err("FLUSHDB SYNC ASYNC");
    same("QUIT");

    /* Answers that differ by design (ids, clocks, the server mode): their shape must agree. */
    redisContext *c[2] = {h_connect(h_env.single_port), h_connect(h_env.proxy_port)};
    char version[2][32];
    long long now[2];
    for (int i = 0; i < 2; i++) {
        const char *side = i ? "proxy" : "redis";
        redisReply *r = h_cmd(c[i], "HELLO 2 SETNAME hello-name");
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 14, "%s: HELLO 2", side);
        const char *names[] = {"server", "version", "proto", "id", "mode", "role", "modules"};
        for (size_t j = 0; j < NELEMS(names); j++)
            ck_assert_str_eq(r->element[2 * j]->str, names[j]);
        ck_assert_str_eq(r->element[1]->str, "redis");
        snprintf(version[i], sizeof(version[i]), "%s", r->element[3]->str);
        ck_assert_int_eq(r->element[5]->integer, 2);
        ck_assert_int_eq(r->element[7]->type, REDIS_REPLY_INTEGER);
        ck_assert_str_eq(r->element[11]->str, "master");
        freeReplyObject(r);
        h_expect_str(h_cmd(c[i], "CLIENT GETNAME"), "hello-name");
        r = h_cmd(c[i], "CLIENT ID");
        ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer > 0, "%s: CLIENT ID", side);
        freeReplyObject(r);
        r = h_cmd(c[i], "CLIENT INFO");
        ck_assert_msg(r->type == REDIS_REPLY_STRING && strncmp(r->str, "id=", 3) == 0 &&
                          strstr(r->str, " name=hello-name ") != NULL,
                      "%s: CLIENT INFO %s", side, r->str);
        freeReplyObject(r);
        r = h_cmd(c[i], "TIME");
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "%s: TIME", side);
        now[i] = atoll(r->element[0]->str);
        freeReplyObject(r);
        r = h_cmd(c[i], "INFO");
        ck_assert_msg(r->type == REDIS_REPLY_STRING && strstr(r->str, "redis_version:") &&
                          strstr(r->str, "# Keyspace"),
                      "%s: INFO", side);
        freeReplyObject(r);
        r = h_cmd(c[i], "LASTSAVE");
        ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer > 0, "%s: LASTSAVE", side);
        freeReplyObject(r);
        redisFree(c[i]);
    }
    ck_assert_str_eq(version[1], version[0]);
    ck_assert_msg(now[1] - now[0] <= 2 && now[0] - now[1] <= 2, "TIME: redis %lld, proxy %lld",
                  now[0], now[1]);
    cmp_end();
}
END_TEST

Suite *compare_suite(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("bytes");
    tcase_set_timeout(tc, 120);
    /* Each test twice: _i 0 over RESP2, _i 1 over RESP3 (cmp_begin). */
    tcase_add_loop_test(tc, test_strings, 0, 2);
    tcase_add_loop_test(tc, test_split_commands, 0, 2);
    tcase_add_loop_test(tc, test_lists, 0, 2);
    tcase_add_loop_test(tc, test_hashes, 0, 2);
    tcase_add_loop_test(tc, test_sorted_sets, 0, 2);
    tcase_add_loop_test(tc, test_sets, 0, 2);
    tcase_add_loop_test(tc, test_streams, 0, 2);
    tcase_add_loop_test(tc, test_bitmaps_hll_geo, 0, 2);
    tcase_add_loop_test(tc, test_keyspace_commands, 0, 2);
    tcase_add_loop_test(tc, test_scripts, 0, 2);
    tcase_add_loop_test(tc, test_functions, 0, 2);
    tcase_add_loop_test(tc, test_errors, 0, 2);
    tcase_add_loop_test(tc, test_whole_keyspace, 0, 2);
    tcase_add_loop_test(tc, test_connection_commands, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
