/*
 * Unit tests for net/resp_reply: the reply framer.
 *
 * Hand-made replies of every RESP2 and RESP3 type are framed from one buffer, split at every
 * point and a byte at a time, always from a fresh copy of the pending bytes so the framer cannot
 * keep pointers into an old buffer. A seeded generator then makes thousands of random nested
 * RESP2 replies, and hiredis's own reader (the library the rest of the world trusts) must agree
 * with the framer on where each reply of the concatenated stream ends.
 */
#include "suites.h"

#include "px_errors.h"
#include "resp.h"
#include "resp_reply.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX 64

/* What the framer said about one reply of a stream. */
struct reply_rec {
    int rc;
    struct resp_reply_info info;
};

struct reply_run {
    struct reply_rec rec[RUN_MAX];
    int n;
    size_t pending;
};

static char *dup_bytes(const char *s, size_t n)
{
    char *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, s, n);
    return b;
}

/* Frames stream[0, len) with the bytes arriving in pieces ending at cuts[]. */
static void drive(const char *stream, size_t len, const size_t *cuts, size_t ncuts,
                  struct reply_run *out)
{
    struct resp_reply_framer f;
    resp_reply_init(&f);
    memset(out, 0, sizeof(*out));
    size_t start = 0;
    for (size_t c = 0; c < ncuts; c++) {
        size_t avail = cuts[c];
        while (start < avail) {
            char *buf = dup_bytes(stream + start, avail - start);
            struct resp_reply_info info;
            memset(&info, 0xa5, sizeof(info));
            int rc = resp_reply_frame(&f, buf, avail - start, &info);
            free(buf);
            if (rc == PX_EAGAIN) {
                /* need is a lower bound: never zero, never past what the stream still holds
                 * for a reply that completes (checked by the caller against the whole run). */
                ck_assert_uint_ge(info.need, 1);
                break;
            }
            ck_assert_int_lt(out->n, RUN_MAX);
            out->rec[out->n].rc = rc;
            out->rec[out->n].info = info;
            out->n++;
            if (rc != 0) {
                ck_assert_int_eq(rc, PX_EPROTO);
                resp_reply_deinit(&f);
                return;
            }
            ck_assert_uint_ge(info.len, 1);
            start += info.len;
            resp_reply_reset(&f);
        }
    }
    out->pending = len - start;
    resp_reply_deinit(&f);
}

static void assert_same(const struct reply_run *a, const struct reply_run *b, const char *what,
                        size_t at)
{
    ck_assert_msg(a->n == b->n, "%s at %zu: %d replies, whole buffer gives %d", what, at, b->n,
                  a->n);
    for (int i = 0; i < a->n; i++) {
        const struct reply_rec *x = &a->rec[i], *y = &b->rec[i];
        ck_assert_msg(x->rc == y->rc, "%s at %zu: reply %d: rc %d/%d", what, at, i, y->rc, x->rc);
        if (x->rc != 0) continue;
        ck_assert_msg(x->info.len == y->info.len && x->info.type == y->info.type &&
                          x->info.err == y->info.err && x->info.line_off == y->info.line_off &&
                          x->info.line_len == y->info.line_len && y->info.need == 0,
                      "%s at %zu: reply %d: len %u/%u type %c/%c err %d/%d line %u+%u/%u+%u", what,
                      at, i, y->info.len, x->info.len, y->info.type, x->info.type, y->info.err,
                      x->info.err, y->info.line_off, y->info.line_len, x->info.line_off,
                      x->info.line_len);
    }
    ck_assert_msg(a->pending == b->pending, "%s at %zu: pending %zu/%zu", what, at, b->pending,
                  a->pending);
}

static void check_all_splits(const char *s, size_t len, struct reply_run *whole)
{
    size_t all = len;
    drive(s, len, &all, 1, whole);
    struct reply_run *r = malloc(sizeof(*r));
    for (size_t k = 0; k <= len; k++) {
        size_t cuts[2] = {k, len};
        drive(s, len, cuts, 2, r);
        assert_same(whole, r, "split", k);
    }
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    for (size_t k = 0; k < len; k++) cuts[k] = k + 1;
    drive(s, len, cuts, len, r);
    assert_same(whole, r, "byte at a time", 0);
    free(cuts);
    free(r);
}

/* Frames one reply given at once and returns the status; *info is filled. */
static int frame_once(const char *s, size_t len, struct resp_reply_info *info)
{
    struct resp_reply_framer f;
    resp_reply_init(&f);
    char *b = dup_bytes(s, len);
    int rc = resp_reply_frame(&f, b, len, info);
    free(b);
    resp_reply_deinit(&f);
    return rc;
}

#define S(lit) lit, sizeof(lit) - 1

/* A complete reply with everything the framer must report about it. */
struct reply_case {
    const char *s;
    size_t len;
    char type;
    enum resp_err_kind err;
    uint32_t line_off, line_len;
};

static const struct reply_case reply_cases[] = {
    {S("+OK\r\n"), '+', RESP_ERRK_NONE, 1, 2},
    {S("+\r\n"), '+', RESP_ERRK_NONE, 1, 0},
    {S("-ERR unknown command 'x'\r\n"), '-', RESP_ERRK_OTHER, 1, 23},
    {S("-MOVED 3999 127.0.0.1:6381\r\n"), '-', RESP_ERRK_MOVED, 1, 25},
    {S(":1000\r\n"), ':', RESP_ERRK_NONE, 1, 4},
    {S(":-9223372036854775808\r\n"), ':', RESP_ERRK_NONE, 1, 20},
    {S("$5\r\nhello\r\n"), '$', RESP_ERRK_NONE, 1, 1},
    {S("$0\r\n\r\n"), '$', RESP_ERRK_NONE, 1, 1},
    {S("$-1\r\n"), '$', RESP_ERRK_NONE, 1, 2},
    /* CR, LF and a "fake reply" inside a bulk are data. */
    {S("$9\r\n\r\n+OK\r\n\0\n\r\n"), '$', RESP_ERRK_NONE, 1, 1},
    {S("*0\r\n"), '*', RESP_ERRK_NONE, 1, 1},
    {S("*-1\r\n"), '*', RESP_ERRK_NONE, 1, 2},
    {S("*2\r\n$3\r\nfoo\r\n:1\r\n"), '*', RESP_ERRK_NONE, 1, 1},
    /* Errors inside an aggregate are elements, not the reply's kind. */
    {S("*2\r\n-MOVED 1 a:1\r\n+OK\r\n"), '*', RESP_ERRK_NONE, 1, 1},
    {S("*3\r\n*0\r\n*-1\r\n*2\r\n*1\r\n$-1\r\n_\r\n"), '*', RESP_ERRK_NONE, 1, 1},
    {S("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n"), '*',
     RESP_ERRK_NONE, 1, 1},
    {S("*3\r\n*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n*1\r\n*1\r\n$1\r\nx\r\n:3\r\n"), '*', RESP_ERRK_NONE, 1,
     1},
    /* RESP3. */
    {S("_\r\n"), '_', RESP_ERRK_NONE, 1, 0},
    {S(",3.14\r\n"), ',', RESP_ERRK_NONE, 1, 4},
    {S(",-inf\r\n"), ',', RESP_ERRK_NONE, 1, 4},
    {S("#t\r\n"), '#', RESP_ERRK_NONE, 1, 1},
    {S("#f\r\n"), '#', RESP_ERRK_NONE, 1, 1},
    {S("(3492890328409238509324850943850943825024385\r\n"), '(', RESP_ERRK_NONE, 1, 43},
    {S("!21\r\nSYNTAX invalid syntax\r\n"), '!', RESP_ERRK_OTHER, 1, 2},
    {S("!0\r\n\r\n"), '!', RESP_ERRK_OTHER, 1, 1},
    {S("=15\r\ntxt:Some string\r\n"), '=', RESP_ERRK_NONE, 1, 2},
    {S("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"), '%', RESP_ERRK_NONE, 1, 1},
    {S("%0\r\n"), '%', RESP_ERRK_NONE, 1, 1},
    {S("%1\r\n*2\r\n:1\r\n:2\r\n%1\r\n_\r\n~0\r\n"), '%', RESP_ERRK_NONE, 1, 1},
    {S("~3\r\n:1\r\n:2\r\n:3\r\n"), '~', RESP_ERRK_NONE, 1, 1},
    {S("~0\r\n"), '~', RESP_ERRK_NONE, 1, 1},
    {S(">3\r\n+message\r\n+channel\r\n$5\r\nhello\r\n"), '>', RESP_ERRK_NONE, 1, 1},
    {S(">0\r\n"), '>', RESP_ERRK_NONE, 1, 1},
    /* An attribute before a reply: the reply's own type and line are reported. */
    {S("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
       "*2\r\n:2039123\r\n:9543892\r\n"),
     '*', RESP_ERRK_NONE, 58, 1},
    {S("|0\r\n+OK\r\n"), '+', RESP_ERRK_NONE, 5, 2},
    {S("|1\r\n+a\r\n+b\r\n-MOVED 3999 127.0.0.1:6381\r\n"), '-', RESP_ERRK_MOVED, 13, 25},
    {S("|1\r\n+a\r\n|1\r\n+x\r\n+y\r\n+b\r\n:5\r\n"), ':', RESP_ERRK_NONE, 25, 1},
    /* An attribute on an element inside an aggregate does not count as an element. */
    {S("*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n"), '*', RESP_ERRK_NONE, 1, 1},
    {S("*1\r\n|0\r\n|1\r\n+a\r\n+b\r\n$1\r\nz\r\n"), '*', RESP_ERRK_NONE, 1, 1},
};

START_TEST(test_reply_types)
{
    struct reply_run run;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *c = &reply_cases[i];
        check_all_splits(c->s, c->len, &run);
        ck_assert_msg(run.n == 1 && run.rec[0].rc == 0, "case %zu: %d replies, rc %d", i, run.n,
                      run.rec[0].rc);
        const struct resp_reply_info *in = &run.rec[0].info;
        ck_assert_msg(in->len == c->len, "case %zu: len %u, want %zu", i, in->len, c->len);
        ck_assert_msg(in->type == c->type, "case %zu: type %c", i, in->type);
        ck_assert_msg(in->err == c->err, "case %zu: err %d", i, in->err);
        ck_assert_msg(in->line_off == c->line_off && in->line_len == c->line_len,
                      "case %zu: line %u+%u, want %u+%u", i, in->line_off, in->line_len,
                      c->line_off, c->line_len);
        ck_assert_uint_eq(run.pending, 0);
    }
}
END_TEST

START_TEST(test_reply_pipeline)
{
    /* All the cases back to back are framed one after another, at every split point. */
    size_t total = 0;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++)
        total += reply_cases[i].len;
    char *s = malloc(total + 3);
    size_t off = 0;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        memcpy(s + off, reply_cases[i].s, reply_cases[i].len);
        off += reply_cases[i].len;
    }
    memcpy(s + off, "*2\r", 3); /* an incomplete last reply */
    struct reply_run run;
    check_all_splits(s, total + 3, &run);
    ck_assert_int_eq(run.n, (int)(sizeof(reply_cases) / sizeof(reply_cases[0])));
    for (int i = 0; i < run.n; i++) {
        ck_assert_int_eq(run.rec[i].rc, 0);
        ck_assert_uint_eq(run.rec[i].info.len, reply_cases[i].len);
        ck_assert_int_eq(run.rec[i].info.type, reply_cases[i].type);
    }
    ck_assert_uint_eq(run.pending, 3);
    free(s);
}
END_TEST

START_TEST(test_reply_need_hint)
{
    /* While a bulk body is incomplete, need is exactly what is missing. */
    struct resp_reply_framer f;
    struct resp_reply_info info;
    resp_reply_init(&f);
    static const char r[] = "$10\r\n0123456789\r\n";
    ck_assert_int_eq(resp_reply_frame(&f, r, 5, &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, 12);
    ck_assert_int_eq(resp_reply_frame(&f, r, 9, &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, 8);
    ck_assert_int_eq(resp_reply_frame(&f, r, 16, &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, 1);
    ck_assert_int_eq(resp_reply_frame(&f, r, 17, &info), 0);
    ck_assert_uint_eq(info.len, 17);
    resp_reply_reset(&f);
    /* Nothing yet, or a line without its end: at least one more byte. */
    ck_assert_int_eq(resp_reply_frame(&f, r, 0, &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, 1);
    ck_assert_int_eq(resp_reply_frame(&f, "+OK\r", 4, &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, 1);
    /* Found by fuzzing: a bulk of 4 GiB - 2 bytes needs 2^32 more, which cut to 32 bits read as
     * "need 0". The hint saturates. */
    resp_reply_reset(&f);
    ck_assert_int_eq(resp_reply_frame(&f, S("$4294967294\r\n"), &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, UINT32_MAX);
    resp_reply_reset(&f);
    ck_assert_int_eq(resp_reply_frame(&f, S("$4294967293\r\n"), &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, UINT32_MAX);
    resp_reply_reset(&f);
    ck_assert_int_eq(resp_reply_frame(&f, S("$9223372036854775807\r\n"), &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, UINT32_MAX);
    resp_reply_reset(&f);
    ck_assert_int_eq(resp_reply_frame(&f, S("$4294967292\r\nab"), &info), PX_EAGAIN);
    ck_assert_uint_eq(info.need, 4294967292u);
    resp_reply_deinit(&f);
}
END_TEST

/* An error line and its kind. */
static const struct {
    const char *text;
    enum resp_err_kind kind;
} err_kinds[] = {
    {"MOVED 3999 127.0.0.1:6381", RESP_ERRK_MOVED},
    {"MOVED 0 :7001", RESP_ERRK_MOVED},
    {"ASK 3999 127.0.0.1:6381", RESP_ERRK_ASK},
    {"TRYAGAIN Multiple keys request during rehashing of slot", RESP_ERRK_TRYAGAIN},
    {"CLUSTERDOWN The cluster is down", RESP_ERRK_CLUSTERDOWN},
    {"CLUSTERDOWN Hash slot not served", RESP_ERRK_CLUSTERDOWN},
    {"LOADING Redis is loading the dataset in memory", RESP_ERRK_LOADING},
    {"READONLY You can't write against a read only replica.", RESP_ERRK_READONLY},
    {"NOSCRIPT No matching script. Please use EVAL.", RESP_ERRK_NOSCRIPT},
    {"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
     RESP_ERRK_MASTERDOWN},
    {"ERR unknown command 'foo', with args beginning with: ", RESP_ERRK_OTHER},
    {"WRONGTYPE Operation against a key holding the wrong kind of value", RESP_ERRK_OTHER},
    {"CROSSSLOT Keys in request don't hash to the same slot", RESP_ERRK_OTHER},
    {"", RESP_ERRK_OTHER},
    {"MOVED", RESP_ERRK_OTHER}, /* a redirect needs its arguments */
    {"ASK", RESP_ERRK_OTHER},
    {"ASKING", RESP_ERRK_OTHER},
    {"MOVEDX 1 a:1", RESP_ERRK_OTHER},
    {"moved 1 a:1", RESP_ERRK_OTHER}, /* error codes are upper case */
    {"ERR MOVED 1 a:1", RESP_ERRK_OTHER},
    {"M", RESP_ERRK_OTHER},
    {"NOAUTH Authentication required.", RESP_ERRK_OTHER},
};

START_TEST(test_reply_classify)
{
    for (size_t i = 0; i < sizeof(err_kinds) / sizeof(err_kinds[0]); i++) {
        const char *t = err_kinds[i].text;
        ck_assert_msg(resp_reply_classify(t, strlen(t)) == err_kinds[i].kind,
                      "\"%s\": kind %d, want %d", t, resp_reply_classify(t, strlen(t)),
                      err_kinds[i].kind);
        /* Framed as a reply, the same kind comes back with the line's position. */
        char line[160];
        int n = snprintf(line, sizeof(line), "-%s\r\n", t);
        struct resp_reply_info info;
        ck_assert_int_eq(frame_once(line, (size_t)n, &info), 0);
        ck_assert_int_eq(info.err, err_kinds[i].kind);
        ck_assert_uint_eq(info.line_off, 1);
        ck_assert_uint_eq(info.line_len, strlen(t));
    }
    /* Classification reads only len bytes. */
    ck_assert_int_eq(resp_reply_classify("MOVED 1 a:1", 5), RESP_ERRK_OTHER);
    ck_assert_int_eq(resp_reply_classify("LOADINGXYZ", 7), RESP_ERRK_LOADING);
    ck_assert_int_eq(resp_reply_classify("LOADING", 6), RESP_ERRK_OTHER);
}
END_TEST

/* Bytes that are not RESP. */
static const struct {
    const char *s;
    size_t len;
} bad_replies[] = {
    {S("?\r\n")},
    {S("\r\n")},
    {S("hello\r\n")},
    {S("*1\r\n?\r\n")},
    {S("*2\r\n:1\r\n@\r\n")},
    {S("$abc\r\n")},
    {S("$-2\r\n")},
    {S("$01\r\n")},
    {S("$+1\r\nx\r\n")},
    {S("$\r\n")},
    {S("*-2\r\n")},
    {S("*+1\r\n:1\r\n")},
    {S("*1x\r\n:1\r\n")},
    {S("%-2\r\n")},
    {S("=-1\r\n")},
    {S("!-1\r\n")},
    {S("~-1\r\n")},
    {S(">-1\r\n")},
    {S("|-1\r\n+OK\r\n")},
    {S("$3\r\nfooXY")},
    {S("$3\r\nfoo\rX")},
    {S("$3\r\nfoo\n\r")},
    {S("$0\r\nab")},
    {S("*1\r\n$3\r\nfoo\n\n")},
    {S("+OK\rX")},
    {S(":1\r\r\n")},
    {S("*1\r\n+OK\rX")},
    /* Counts whose doubled value does not fit: a map or attribute that can never end. */
    {S("%4611686018427387904\r\n")},
    {S("|4611686018427387904\r\n+OK\r\n")},
    {S("%9223372036854775807\r\n")},
};

START_TEST(test_reply_malformed)
{
    struct reply_run run;
    for (size_t i = 0; i < sizeof(bad_replies) / sizeof(bad_replies[0]); i++) {
        check_all_splits(bad_replies[i].s, bad_replies[i].len, &run);
        ck_assert_msg(run.n == 1 && run.rec[0].rc == PX_EPROTO,
                      "case %zu (\"%s\"): %d replies, rc %d, want PX_EPROTO", i, bad_replies[i].s,
                      run.n, run.n ? run.rec[0].rc : 0);
    }
}
END_TEST

/* depth nested one-element arrays around ":1". */
static char *nested(int depth, size_t *len)
{
    char *s = malloc((size_t)depth * 4 + 5);
    size_t n = 0;
    for (int i = 0; i < depth; i++) {
        memcpy(s + n, "*1\r\n", 4);
        n += 4;
    }
    memcpy(s + n, ":1\r\n", 4);
    n += 4;
    *len = n;
    return s;
}

START_TEST(test_reply_depth)
{
    struct resp_reply_info info;
    size_t len;
    /* RESP_MAX_DEPTH levels are fine (the level stack grows past its inline part). */
    char *s = nested(RESP_MAX_DEPTH, &len);
    ck_assert_int_eq(frame_once(s, len, &info), 0);
    ck_assert_uint_eq(info.len, len);
    ck_assert_int_eq(info.type, '*');
    free(s);
    /* One more is refused. */
    s = nested(RESP_MAX_DEPTH + 1, &len);
    ck_assert_int_eq(frame_once(s, len, &info), PX_EPROTO);
    free(s);
    /* Deep nesting byte at a time, and a reset framer afterwards still works. */
    s = nested(100, &len);
    struct reply_run run;
    check_all_splits(s, len, &run);
    ck_assert_int_eq(run.n, 1);
    ck_assert_uint_eq(run.rec[0].info.len, len);
    free(s);
    struct resp_reply_framer f;
    resp_reply_init(&f);
    s = nested(50, &len);
    ck_assert_int_eq(resp_reply_frame(&f, s, len - 1, &info), PX_EAGAIN);
    resp_reply_reset(&f);
    ck_assert_int_eq(resp_reply_frame(&f, S("+OK\r\n"), &info), 0);
    ck_assert_uint_eq(info.len, 5);
    ck_assert_int_eq(info.type, '+');
    resp_reply_deinit(&f);
    free(s);
}
END_TEST

/* ---- cross-check against hiredis on random RESP2 replies ---- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    /* xorshift64*: plenty for test data, and the same sequence on every machine. */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

struct gbuf {
    char *b;
    size_t len, cap;
};

static void gput(struct gbuf *g, const void *p, size_t n)
{
    if (g->len + n > g->cap) {
        g->cap = (g->len + n) * 2;
        g->b = realloc(g->b, g->cap);
    }
    memcpy(g->b + g->len, p, n);
    g->len += n;
}

static void gprintf(struct gbuf *g, const char *fmt, long long v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof(tmp), fmt, v);
    gput(g, tmp, (size_t)n);
}

/* Appends one random RESP2 reply; arrays nest at most max_depth levels (hiredis reads 7). */
static void gen_reply(struct rng *r, struct gbuf *g, int depth, int max_depth)
{
    static const char printable[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789:.-_{}";
    static const char *const errs[] = {"ERR ",        "MOVED 12182 127.0.0.1:7003",
                                       "ASK 1 :7002", "WRONGTYPE x",
                                       "TRYAGAIN",    "CLUSTERDOWN y"};
    uint32_t kind = rng_below(r, depth < max_depth ? 7 : 5);
    switch (kind) {
    case 0: { /* status */
        gput(g, "+", 1);
        uint32_t n = rng_below(r, 20);
        for (uint32_t i = 0; i < n; i++)
            gput(g, &printable[rng_below(r, sizeof(printable) - 1)], 1);
        gput(g, "\r\n", 2);
        break;
    }
    case 1: { /* error */
        gput(g, "-", 1);
        const char *e = errs[rng_below(r, sizeof(errs) / sizeof(errs[0]))];
        gput(g, e, strlen(e));
        gput(g, "\r\n", 2);
        break;
    }
    case 2: /* integer */
        gprintf(g, ":%lld\r\n", (long long)rng_next(r) >> rng_below(r, 64));
        break;
    case 3:
    case 4: { /* bulk: binary bytes, CR and LF included, or a null */
        if (rng_below(r, 10) == 0) {
            gput(g, "$-1\r\n", 5);
            break;
        }
        uint32_t n = rng_below(r, 10) == 0 ? rng_below(r, 3000) : rng_below(r, 40);
        gprintf(g, "$%lld\r\n", n);
        for (uint32_t i = 0; i < n; i++) {
            static const char special[] = {'\r', '\n', '\0', '$', '*', ':'};
            char c = rng_below(r, 4) == 0 ? special[rng_below(r, sizeof(special))]
                                          : (char)rng_below(r, 256);
            gput(g, &c, 1);
        }
        gput(g, "\r\n", 2);
        break;
    }
    default: { /* array: empty, null, or nested */
        if (rng_below(r, 12) == 0) {
            gput(g, "*-1\r\n", 5);
            break;
        }
        uint32_t n = rng_below(r, 6);
        gprintf(g, "*%lld\r\n", n);
        for (uint32_t i = 0; i < n; i++) gen_reply(r, g, depth + 1, max_depth);
        break;
    }
    }
}

START_TEST(test_reply_hiredis_agrees)
{
    const int count = 3000;
    struct rng rng = {0x5eed5107f00du};
    struct gbuf g = {0};
    for (int i = 0; i < count; i++) gen_reply(&rng, &g, 0, 6);

    /* hiredis: feed a byte at a time; a reply becomes available exactly at its last byte. */
    size_t *ends = malloc((size_t)count * sizeof(*ends));
    char *types = malloc((size_t)count);
    int got = 0;
    redisReader *rd = redisReaderCreate();
    for (size_t i = 0; i < g.len; i++) {
        ck_assert_int_eq(redisReaderFeed(rd, g.b + i, 1), REDIS_OK);
        void *reply = NULL;
        ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
        if (!reply) continue;
        ck_assert_int_lt(got, count);
        redisReply *rr = reply;
        types[got] = rr->type == REDIS_REPLY_STATUS    ? '+'
                     : rr->type == REDIS_REPLY_ERROR   ? '-'
                     : rr->type == REDIS_REPLY_INTEGER ? ':'
                     : rr->type == REDIS_REPLY_STRING  ? '$'
                     : rr->type == REDIS_REPLY_ARRAY   ? '*'
                                                       : 'n';
        ends[got++] = i + 1;
        freeReplyObject(reply);
    }
    redisReaderFree(rd);
    ck_assert_int_eq(got, count);
    ck_assert_uint_eq(ends[count - 1], g.len);

    /* The framer on the whole stream, reply after reply. */
    struct resp_reply_framer f;
    resp_reply_init(&f);
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        struct resp_reply_info info;
        ck_assert_int_eq(resp_reply_frame(&f, g.b + off, g.len - off, &info), 0);
        ck_assert_msg(off + info.len == ends[i], "reply %d: framer ends at %zu, hiredis at %zu", i,
                      off + info.len, ends[i]);
        if (types[i] != 'n')
            ck_assert_msg(info.type == types[i], "reply %d: type %c, hiredis %c", i, info.type,
                          types[i]);
        else
            ck_assert(info.type == '$' || info.type == '*');
        ck_assert_int_eq(info.err == RESP_ERRK_NONE, info.type != '-');
        off += info.len;
        resp_reply_reset(&f);
    }

    /* And again with the bytes arriving in random pieces, each time in a fresh buffer. */
    size_t start = 0, avail = 0;
    int n = 0;
    while (avail < g.len) {
        avail += 1 + rng_below(&rng, 700);
        if (avail > g.len) avail = g.len;
        while (start < avail) {
            char *b = dup_bytes(g.b + start, avail - start);
            struct resp_reply_info info;
            int rc = resp_reply_frame(&f, b, avail - start, &info);
            free(b);
            if (rc == PX_EAGAIN) break;
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(start + info.len, ends[n]);
            n++;
            start += info.len;
            resp_reply_reset(&f);
        }
    }
    ck_assert_int_eq(n, count);
    resp_reply_deinit(&f);
    free(ends);
    free(types);
    free(g.b);
}
END_TEST

Suite *resp_reply_suite(void)
{
    Suite *s = suite_create("resp_reply");
    TCase *tc = tcase_create("resp_reply");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reply_types);
    tcase_add_test(tc, test_reply_pipeline);
    tcase_add_test(tc, test_reply_need_hint);
    tcase_add_test(tc, test_reply_classify);
    tcase_add_test(tc, test_reply_malformed);
    tcase_add_test(tc, test_reply_depth);
    tcase_add_test(tc, test_reply_hiredis_agrees);
    suite_add_tcase(s, tc);
    return s;
}
