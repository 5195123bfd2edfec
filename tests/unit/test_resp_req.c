/*
 * Unit tests for net/resp_req: the resumable request parser.
 *
 * Every request is parsed three ways: from one buffer, split at every point (a prefix, then the
 * rest), and a byte at a time; all must give the same requests. Between calls the partial request
 * is always copied into a new, exactly-sized heap buffer, so the parser cannot keep a pointer into
 * the old one (ASan catches a read past the end). Expected results, error texts and inline
 * tokenisation were taken from a real redis-server 7.0.15 fed the same bytes.
 */
#include "suites.h"

#include "errors.h"
#include "px_errors.h"
#include "resp_req.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_MAX_ARGS  16
#define REC_MAX_BYTES 512
#define RUN_MAX_REQS  16

/* Redis's text for a protocol error as the proxy renders it (proxy/errors.c), without the "-ERR "
 * in front and the CRLF after; snprintf semantics (the full length is returned). */
static int resp_req_strerror(const struct resp_req_result *res, char *out, size_t outlen)
{
    struct sbuf s;
    sbuf_init(&s);
    errors_protocol(&s, res);
    int n = (int)s.len - 7;
    snprintf(out, outlen, "%.*s", n, s.buf + 5);
    sbuf_free(&s);
    return n;
}

/* One parsed request (or the error that ended the stream), copied out of the parser. */
struct req_rec {
    int rc;
    uint32_t len;
    int is_inline;
    enum resp_req_error err;
    char bad_char;
    uint32_t argc;
    struct resp_span spans[REC_MAX_ARGS];
    char args[REC_MAX_BYTES]; /* the arguments, back to back */
    size_t args_len;
    size_t max_hint; /* largest (bytes seen + need) while the request was incomplete */
};

/* Everything a stream produced. */
struct req_run {
    struct req_rec rec[RUN_MAX_REQS];
    int n;
    size_t pending; /* bytes of an incomplete last request */
};

static char *dup_bytes(const char *s, size_t n)
{
    char *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, s, n);
    return b;
}

static void record(struct req_rec *r, const struct resp_req_parser *p, const char *buf,
                   const struct resp_req_result *res, int rc)
{
    r->rc = rc;
    r->err = res->err;
    r->bad_char = res->bad_char;
    if (rc != 0) return;
    r->len = res->len;
    r->is_inline = res->is_inline;
    r->argc = p->argc;
    ck_assert_uint_le(p->argc, REC_MAX_ARGS);
    const char *base = res->is_inline ? p->inl : buf;
    r->args_len = 0;
    for (uint32_t i = 0; i < p->argc; i++) {
        r->spans[i] = p->argv[i];
        ck_assert_uint_le(r->args_len + p->argv[i].len, REC_MAX_BYTES);
        memcpy(r->args + r->args_len, base + p->argv[i].off, p->argv[i].len);
        r->args_len += p->argv[i].len;
    }
}

/*
 * Feeds stream[0, len) to a parser as a connection would, the bytes arriving in pieces that end
 * at cuts[0] < cuts[1] < ... < len. Each call gets a fresh copy of the current request's bytes.
 */
static void drive(const char *stream, size_t len, const size_t *cuts, size_t ncuts,
                  const struct resp_req_limits *lim, struct req_run *out)
{
    struct resp_req_parser p;
    resp_req_init(&p);
    memset(out, 0, sizeof(*out));
    size_t start = 0;
    size_t hint = 0;
    for (size_t c = 0; c < ncuts; c++) {
        size_t avail = cuts[c];
        for (;;) {
            char *buf = dup_bytes(stream + start, avail - start);
            struct resp_req_result res;
            int rc = resp_req_parse(&p, buf, avail - start, lim, &res);
            if (rc == PX_EAGAIN) {
                ck_assert_uint_ge(res.need, 1);
                if (avail - start + res.need > hint) hint = avail - start + res.need;
                free(buf);
                break;
            }
            ck_assert_int_lt(out->n, RUN_MAX_REQS);
            struct req_rec *r = &out->rec[out->n++];
            record(r, &p, buf, &res, rc);
            r->max_hint = hint;
            free(buf);
            if (rc != 0) {
                ck_assert_int_eq(rc, PX_EPROTO);
                resp_req_deinit(&p);
                return;
            }
            start += res.len;
            hint = 0;
            resp_req_reset(&p);
            if (start == avail) break;
        }
    }
    out->pending = len - start;
    resp_req_deinit(&p);
}

static void drive_whole(const char *s, size_t len, const struct resp_req_limits *lim,
                        struct req_run *out)
{
    size_t cut = len;
    drive(s, len, &cut, 1, lim, out);
}

static void assert_same_run(const struct req_run *a, const struct req_run *b, const char *what,
                            size_t at)
{
    ck_assert_msg(a->n == b->n, "%s at %zu: %d requests, whole buffer gives %d", what, at, b->n,
                  a->n);
    for (int i = 0; i < a->n; i++) {
        const struct req_rec *x = &a->rec[i], *y = &b->rec[i];
        ck_assert_msg(x->rc == y->rc && x->err == y->err && x->bad_char == y->bad_char,
                      "%s at %zu: request %d: rc %d/%d err %d/%d", what, at, i, y->rc, x->rc,
                      y->err, x->err);
        if (x->rc != 0) continue;
        ck_assert_msg(x->len == y->len && x->is_inline == y->is_inline && x->argc == y->argc,
                      "%s at %zu: request %d: len %u/%u argc %u/%u", what, at, i, y->len, x->len,
                      y->argc, x->argc);
        ck_assert_msg(memcmp(x->spans, y->spans, x->argc * sizeof(x->spans[0])) == 0,
                      "%s at %zu: request %d: spans differ", what, at, i);
        ck_assert_msg(x->args_len == y->args_len && memcmp(x->args, y->args, x->args_len) == 0,
                      "%s at %zu: request %d: arguments differ", what, at, i);
        /* "need" is a lower bound: it must never ask for more than the request still lacks. */
        ck_assert_msg(y->max_hint <= y->len, "%s at %zu: request %d: need overshoots (%zu > %u)",
                      what, at, i, y->max_hint, y->len);
    }
    ck_assert_msg(a->pending == b->pending, "%s at %zu: pending %zu/%zu", what, at, b->pending,
                  a->pending);
}

/* Checks that every split point and byte-at-a-time delivery give the whole-buffer result. */
static void check_all_splits(const char *s, size_t len, const struct resp_req_limits *lim,
                             struct req_run *whole)
{
    drive_whole(s, len, lim, whole);
    struct req_run *r = malloc(sizeof(*r));
    for (size_t k = 0; k <= len; k++) {
        size_t cuts[2] = {k, len};
        drive(s, len, cuts, 2, lim, r);
        assert_same_run(whole, r, "split", k);
    }
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    for (size_t k = 0; k < len; k++) cuts[k] = k + 1;
    drive(s, len, cuts, len, lim, r);
    assert_same_run(whole, r, "byte at a time", 0);
    free(cuts);
    free(r);
}

static struct resp_req_limits def_limits(void)
{
    struct resp_req_limits lim;
    resp_req_limits_default(&lim);
    return lim;
}

static void assert_arg(const struct req_rec *r, uint32_t i, const char *want, size_t wlen)
{
    ck_assert_uint_lt(i, r->argc);
    size_t off = 0;
    for (uint32_t k = 0; k < i; k++) off += r->spans[k].len;
    ck_assert_msg(r->spans[i].len == wlen && memcmp(r->args + off, want, wlen) == 0,
                  "argument %u: got \"%.*s\" (%u bytes), want \"%.*s\"", i, (int)r->spans[i].len,
                  r->args + off, r->spans[i].len, (int)wlen, want);
}

#define S(lit) lit, sizeof(lit) - 1

START_TEST(test_req_multibulk_exact)
{
    struct resp_req_limits lim = def_limits();
    struct req_run run;
    check_all_splits(S("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), &lim, &run);
    ck_assert_int_eq(run.n, 1);
    ck_assert_int_eq(run.rec[0].rc, 0);
    ck_assert_uint_eq(run.rec[0].len, 20);
    ck_assert_int_eq(run.rec[0].is_inline, 0);
    ck_assert_uint_eq(run.rec[0].argc, 2);
    ck_assert_uint_eq(run.rec[0].spans[0].off, 8);
    ck_assert_uint_eq(run.rec[0].spans[0].len, 3);
    ck_assert_uint_eq(run.rec[0].spans[1].off, 17);
    ck_assert_uint_eq(run.rec[0].spans[1].len, 1);
    ck_assert_uint_eq(run.pending, 0);

    /* Arguments are binary-safe: CR, LF and NUL inside a bulk are data. Empty ones are fine. */
    check_all_splits(S("*3\r\n$3\r\nSET\r\n$5\r\na\r\n\0b\r\n$0\r\n\r\n"), &lim, &run);
    ck_assert_int_eq(run.n, 1);
    ck_assert_uint_eq(run.rec[0].len, 30);
    ck_assert_uint_eq(run.rec[0].argc, 3);
    assert_arg(&run.rec[0], 0, S("SET"));
    assert_arg(&run.rec[0], 1, S("a\r\n\0b"));
    assert_arg(&run.rec[0], 2, S(""));
    ck_assert_uint_eq(run.rec[0].spans[2].off, 28);
}
END_TEST

START_TEST(test_req_multibulk_quirks)
{
    /* Like Redis, the byte after a length line's '\r' and a bulk's two trailing bytes are not
     * checked: Redis answers PONG to both of these, then PONG again for the next request. */
    struct resp_req_limits lim = def_limits();
    struct req_run run;
    check_all_splits(S("*1\rX$4\r\nPING\r\n"), &lim, &run);
    ck_assert_int_eq(run.n, 1);
    ck_assert_uint_eq(run.rec[0].len, 14);
    assert_arg(&run.rec[0], 0, S("PING"));

    check_all_splits(S("*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n"), &lim, &run);
    ck_assert_int_eq(run.n, 2);
    ck_assert_uint_eq(run.rec[0].len, 14);
    assert_arg(&run.rec[0], 0, S("PING"));
    ck_assert_uint_eq(run.rec[1].len, 14);

    /* A bulk longer than its declared length: the extra byte and the '\r' are skipped as the
     * "CRLF", and the left-over "\n" is a blank inline line (Redis answers just "$1 a"). */
    check_all_splits(S("*2\r\n$4\r\nECHO\r\n$1\r\nab\r\n"), &lim, &run);
    ck_assert_int_eq(run.n, 2);
    ck_assert_uint_eq(run.rec[0].len, 21);
    assert_arg(&run.rec[0], 1, S("a"));
    ck_assert_uint_eq(run.rec[1].len, 1);
    ck_assert_uint_eq(run.rec[1].argc, 0);
    ck_assert_int_eq(run.rec[1].is_inline, 1);
    ck_assert_uint_eq(run.pending, 0);
}
END_TEST

START_TEST(test_req_empty_requests)
{
    struct resp_req_limits lim = def_limits();
    struct req_run run;
    /* "*0", "*-1" (and any negative count) and blank inline lines are skipped without a reply. */
    static const struct {
        const char *s;
        size_t len;
        uint32_t want_len;
        int is_inline;
    } cases[] = {
        {S("*0\r\n"), 4, 0}, {S("*-1\r\n"), 5, 0}, {S("*-5\r\n"), 5, 0}, {S("\r\n"), 2, 1},
        {S("\n"), 1, 1},     {S("   \r\n"), 5, 1}, {S(" \t \n"), 4, 1},  {S("\x0b\x0c\n"), 3, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_all_splits(cases[i].s, cases[i].len, &lim, &run);
        ck_assert_int_eq(run.n, 1);
        ck_assert_int_eq(run.rec[0].rc, 0);
        ck_assert_msg(run.rec[0].argc == 0, "case %zu: argc %u", i, run.rec[0].argc);
        ck_assert_msg(run.rec[0].len == cases[i].want_len, "case %zu: len %u", i, run.rec[0].len);
        ck_assert_int_eq(run.rec[0].is_inline, cases[i].is_inline);
    }
    /* Then the next request parses normally: Redis answers one PONG to each of these. */
    check_all_splits(S("*0\r\n*-1\r\n\r\n\nPING\r\n"), &lim, &run);
    ck_assert_int_eq(run.n, 5);
    ck_assert_uint_eq(run.rec[4].argc, 1);
    ck_assert_uint_eq(run.rec[4].len, 6);
    assert_arg(&run.rec[4], 0, S("PING"));
}
END_TEST

START_TEST(test_req_pipeline)
{
    struct resp_req_limits lim = def_limits();
    struct req_run run;
    static const char stream[] = "*1\r\n$4\r\nPING\r\n"
                                 "SET k v\r\n"
                                 "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
                                 "\n"
                                 "GET key\n"
                                 "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
                                 "*2\r\n$3\r\nGET\r\n$1"; /* incomplete */
    check_all_splits(stream, sizeof(stream) - 1, &lim, &run);
    ck_assert_int_eq(run.n, 6);
    static const uint32_t lens[] = {14, 9, 33, 1, 8, 22};
    static const uint32_t argcs[] = {1, 3, 3, 0, 2, 2};
    static const int inl[] = {0, 1, 0, 1, 1, 0};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(run.rec[i].rc, 0);
        ck_assert_msg(run.rec[i].len == lens[i], "request %d: len %u", i, run.rec[i].len);
        ck_assert_uint_eq(run.rec[i].argc, argcs[i]);
        ck_assert_int_eq(run.rec[i].is_inline, inl[i]);
    }
    assert_arg(&run.rec[1], 2, S("v"));
    assert_arg(&run.rec[2], 2, S("value"));
    assert_arg(&run.rec[4], 1, S("key"));
    assert_arg(&run.rec[5], 1, S("key"));
    ck_assert_uint_eq(run.pending, 15);
}
END_TEST

START_TEST(test_req_inline_encoding)
{
    /* An inline request is re-encoded as multibulk in the parser's buffer, spans pointing there. */
    struct resp_req_limits lim = def_limits();
    struct resp_req_parser p;
    struct resp_req_result res;
    resp_req_init(&p);
    static const char line[] = "SET \"a b\" '\\'' \r\n";
    ck_assert_int_eq(resp_req_parse(&p, line, sizeof(line) - 1, &lim, &res), 0);
    ck_assert_int_eq(res.is_inline, 1);
    ck_assert_uint_eq(res.len, sizeof(line) - 1);
    ck_assert_uint_eq(p.argc, 3);
    static const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\na b\r\n$1\r\n'\r\n";
    ck_assert_uint_eq(p.inl_len, sizeof(want) - 1);
    ck_assert_mem_eq(p.inl, want, sizeof(want) - 1);
    ck_assert_uint_eq(p.argv[0].off, 8);
    ck_assert_uint_eq(p.argv[1].off, 17);
    ck_assert_uint_eq(p.argv[1].len, 3);
    ck_assert_uint_eq(p.argv[2].off, 26);
    ck_assert_uint_eq(p.argv[2].len, 1);
    resp_req_deinit(&p);
}
END_TEST

START_TEST(test_req_inline_only_empty_args)
{
    /* Found by fuzzing (tests/fuzz/corpus/req/crash-inline-empty-args): a line whose arguments
     * are all empty left the token buffer NULL, and copying an argument computed NULL + 0, which
     * clang's UBSan reports. Each empty argument is still re-encoded as "$0". */
    struct resp_req_limits lim = def_limits();
    static const struct {
        const char *line;
        size_t len;
        const char *want;
        uint32_t argc;
    } cases[] = {
        {S("''\r\n"), "*1\r\n$0\r\n\r\n", 1},
        {S("\"\"\n"), "*1\r\n$0\r\n\r\n", 1},
        {S("'' \"\"\r\n"), "*2\r\n$0\r\n\r\n$0\r\n\r\n", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct req_run run;
        check_all_splits(cases[i].line, cases[i].len, &lim, &run);
        ck_assert_int_eq(run.n, 1);
        ck_assert_int_eq(run.rec[0].rc, 0);
        ck_assert_uint_eq(run.rec[0].argc, cases[i].argc);
        ck_assert_uint_eq(run.rec[0].args_len, 0);
        struct resp_req_parser p;
        struct resp_req_result res;
        resp_req_init(&p);
        ck_assert_int_eq(resp_req_parse(&p, cases[i].line, cases[i].len, &lim, &res), 0);
        ck_assert_uint_eq(p.inl_len, strlen(cases[i].want));
        ck_assert_mem_eq(p.inl, cases[i].want, p.inl_len);
        resp_req_deinit(&p);
    }
}
END_TEST

/* An inline line and the arguments Redis 7.0 makes of it (NULL args: unbalanced quotes). */
struct inline_case {
    const char *line;
    size_t len;
    int nargs; /* -1: protocol error */
    const char *args[4];
    size_t lens[4];
};

#define A1(a)                                                                                      \
    1, {a},                                                                                        \
    {                                                                                              \
        sizeof(a) - 1                                                                              \
    }
#define A2(a, b)                                                                                   \
    2, {a, b},                                                                                     \
    {                                                                                              \
        sizeof(a) - 1, sizeof(b) - 1                                                               \
    }
#define A3(a, b, c)                                                                                \
    3, {a, b, c},                                                                                  \
    {                                                                                              \
        sizeof(a) - 1, sizeof(b) - 1, sizeof(c) - 1                                                \
    }
#define BAD                                                                                        \
    -1, {NULL},                                                                                    \
    {                                                                                              \
        0                                                                                          \
    }

static const struct inline_case inline_cases[] = {
    {S("SET k v\r\n"), A3("SET", "k", "v")},
    {S("  SET   k   v  \r\n"), A3("SET", "k", "v")},
    {S("SET\tk\tv\n"), A3("SET", "k", "v")},
    {S("SET \"a b\" c\r\n"), A3("SET", "a b", "c")},
    {S("\"\\x41\\x4a\" x\r\n"), A2("AJ", "x")},
    {S("\"\\x4\" x\r\n"), A2("x4", "x")},
    {S("\"\\x4G\"\r\n"), A1("x4G")},
    {S("\"\\xfF\"\r\n"), A1("\xff")},
    {S("\"\\x00\"\r\n"), A1("\0")},
    {S("\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n"), A1("\n\r\t\b\a\\\"q")},
    {S("\"\\X41\"\r\n"), A1("X41")},
    {S("\"\\'\"\r\n"), A1("'")},
    {S("'\"'\r\n"), A1("\"")},
    {S("'single \\' quote'\r\n"), A1("single ' quote")},
    {S("'a\\nb'\r\n"), A1("a\\nb")},
    {S("'a\\\\b'\r\n"), A1("a\\\\b")},
    {S("foo\\x41\r\n"), A1("foo\\x41")},
    {S("\"a\" b\r\n"), A2("a", "b")},
    {S("\"a\"\tb\r\n"), A2("a", "b")},
    {S("\"a\"\x0b"
       "b\r\n"),
     A2("a", "b")},
    {S("a\"b c\"\r\n"), A1("ab c")},
    {S("\"\" ''\r\n"), A2("", "")},
    /* A vertical tab is a blank between tokens but does not end an unquoted one. */
    {S("a\x0b"
       "b\r\n"),
     A1("a\x0b"
        "b")},
    {S("\x0b a\r\n"), A1("a")},
    /* A quote in the middle of a line that then ends the line: "\r" before "\n" is trimmed. */
    {S("\"a\"\r\n"), A1("a")},
    /* Errors. */
    {S("\"unterminated\r\n"), BAD},
    {S("'unterminated\r\n"), BAD},
    {S("\"a\"b\r\n"), BAD},
    {S("'a'b\r\n"), BAD},
    {S("a\"b c\"d\r\n"), BAD},
    {S("\"a\\\r\n"), BAD},
    {S("'it''s'\r\n"), BAD},
    {S("'a\\'\r\n"), BAD},
    {S("SET \"a\r\n"), BAD},
};

START_TEST(test_req_inline_quoting)
{
    struct resp_req_limits lim = def_limits();
    struct req_run run;
    for (size_t i = 0; i < sizeof(inline_cases) / sizeof(inline_cases[0]); i++) {
        const struct inline_case *c = &inline_cases[i];
        check_all_splits(c->line, c->len, &lim, &run);
        ck_assert_int_eq(run.n, 1);
        const struct req_rec *r = &run.rec[0];
        if (c->nargs < 0) {
            ck_assert_msg(r->rc == PX_EPROTO && r->err == RESP_REQ_ERR_UNBALANCED_QUOTES,
                          "case %zu: rc %d err %d, want unbalanced quotes", i, r->rc, r->err);
            continue;
        }
        ck_assert_msg(r->rc == 0, "case %zu: rc %d err %d", i, r->rc, r->err);
        ck_assert_int_eq(r->is_inline, 1);
        ck_assert_uint_eq(r->len, c->len);
        ck_assert_msg(r->argc == (uint32_t)c->nargs, "case %zu: argc %u, want %d", i, r->argc,
                      c->nargs);
        for (int k = 0; k < c->nargs; k++) assert_arg(r, (uint32_t)k, c->args[k], c->lens[k]);
    }
}
END_TEST

/* A byte stream and the protocol error Redis answers for it. */
struct err_case {
    const char *s;
    size_t len;
    enum resp_req_error err;
    const char *text;
};

static const struct err_case err_cases[] = {
    {S("*abc\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("*\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("*01\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("*+1\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("* 1\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("*2147483648\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("*3000000000\r\n"), RESP_REQ_ERR_MBULK_INVALID, "Protocol error: invalid multibulk length"},
    {S("*99999999999999999999\r\n"), RESP_REQ_ERR_MBULK_INVALID,
     "Protocol error: invalid multibulk length"},
    {S("*1\r\n+foo\r\n"), RESP_REQ_ERR_EXPECTED_DOLLAR, "Protocol error: expected '$', got '+'"},
    {S("*1\r\n*\r\n"), RESP_REQ_ERR_EXPECTED_DOLLAR, "Protocol error: expected '$', got '*'"},
    /* The '\r' of an empty line is shown as a space, as Redis does. */
    {S("*1\r\n\r\n\r\n"), RESP_REQ_ERR_EXPECTED_DOLLAR, "Protocol error: expected '$', got ' '"},
    {S("*2\r\n$1\r\na\r\nxyz\r\n"), RESP_REQ_ERR_EXPECTED_DOLLAR,
     "Protocol error: expected '$', got 'x'"},
    {S("*1\r\n$abc\r\n"), RESP_REQ_ERR_BULK_INVALID, "Protocol error: invalid bulk length"},
    {S("*1\r\n$-1\r\n"), RESP_REQ_ERR_BULK_INVALID, "Protocol error: invalid bulk length"},
    {S("*1\r\n$01\r\n"), RESP_REQ_ERR_BULK_INVALID, "Protocol error: invalid bulk length"},
    {S("*1\r\n$\r\n"), RESP_REQ_ERR_BULK_INVALID, "Protocol error: invalid bulk length"},
    {S("*1\r\n$536870913\r\n"), RESP_REQ_ERR_BULK_INVALID, "Protocol error: invalid bulk length"},
    {S("SET \"a\r\n"), RESP_REQ_ERR_UNBALANCED_QUOTES,
     "Protocol error: unbalanced quotes in request"},
};

START_TEST(test_req_errors)
{
    struct resp_req_limits lim = def_limits();
    struct req_run run;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const struct err_case *c = &err_cases[i];
        check_all_splits(c->s, c->len, &lim, &run);
        ck_assert_int_ge(run.n, 1);
        const struct req_rec *r = &run.rec[run.n - 1];
        ck_assert_msg(r->rc == PX_EPROTO && r->err == c->err, "case %zu: rc %d err %d, want %d", i,
                      r->rc, r->err, c->err);
        struct resp_req_result res = {.err = r->err, .bad_char = r->bad_char};
        char text[128];
        int n = resp_req_strerror(&res, text, sizeof(text));
        ck_assert_int_eq(n, (int)strlen(c->text));
        ck_assert_str_eq(text, c->text);
    }
    /* The bulk length limit is proto-max-bulk-len: exactly 512 MiB is still accepted. */
    struct resp_req_parser p;
    struct resp_req_result res;
    resp_req_init(&p);
    ck_assert_int_eq(resp_req_parse(&p, S("*1\r\n$536870912\r\n"), &lim, &res), PX_EAGAIN);
    ck_assert_uint_eq(res.need, 536870914);
    resp_req_deinit(&p);
}
END_TEST

/* Parses n bytes of filler (no newline or CR) after prefix, as one buffer. */
static int parse_long(const char *prefix, size_t n, char fill, const struct resp_req_limits *lim,
                      struct resp_req_result *res)
{
    size_t pl = strlen(prefix);
    char *b = malloc(pl + n);
    memcpy(b, prefix, pl);
    memset(b + pl, fill, n);
    struct resp_req_parser p;
    resp_req_init(&p);
    int rc = resp_req_parse(&p, b, pl + n, lim, res);
    resp_req_deinit(&p);
    free(b);
    return rc;
}

START_TEST(test_req_too_big_strings)
{
    struct resp_req_limits lim = def_limits();
    struct resp_req_result res;
    char text[128];
    /* More than 64 KiB without a newline: Redis gives up on the request. */
    ck_assert_int_eq(parse_long("", 65536, 'x', &lim, &res), PX_EAGAIN);
    ck_assert_int_eq(parse_long("", 65537, 'x', &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_INLINE_TOO_BIG);
    resp_req_strerror(&res, text, sizeof(text));
    ck_assert_str_eq(text, "Protocol error: too big inline request");

    ck_assert_int_eq(parse_long("*", 65535, '1', &lim, &res), PX_EAGAIN);
    ck_assert_int_eq(parse_long("*", 65536, '1', &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_MBULK_TOO_BIG);
    resp_req_strerror(&res, text, sizeof(text));
    ck_assert_str_eq(text, "Protocol error: too big mbulk count string");

    /* The bulk header limit counts from the header, not from the request's start. */
    ck_assert_int_eq(parse_long("*1\r\n$", 65535, '1', &lim, &res), PX_EAGAIN);
    ck_assert_int_eq(parse_long("*1\r\n$", 65536, '1', &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_BULK_TOO_BIG);
    resp_req_strerror(&res, text, sizeof(text));
    ck_assert_str_eq(text, "Protocol error: too big bulk count string");

    /* A line longer than the limit is fine when its newline is already there. */
    size_t n = 70000;
    char *b = malloc(n + 6);
    memcpy(b, "ECHO ", 5);
    memset(b + 5, 'y', n);
    b[n + 5] = '\n';
    struct resp_req_parser p;
    resp_req_init(&p);
    ck_assert_int_eq(resp_req_parse(&p, b, n + 6, &lim, &res), 0);
    ck_assert_uint_eq(p.argc, 2);
    ck_assert_uint_eq(p.argv[1].len, n);
    ck_assert_uint_eq(res.len, n + 6);
    resp_req_deinit(&p);
    free(b);
}
END_TEST

/* Redis finds line ends with strchr() over its query buffer, which stops at a NUL byte: a NUL
 * before the CR/LF means "no line end yet" (and past 64 KiB, a too-big line). Checked against
 * redis-server 7.0.15: it waits on each of these. */
START_TEST(test_req_nul_hides_line_end)
{
    struct resp_req_limits lim = def_limits();
    struct resp_req_result res;
    struct resp_req_parser p;
    static const struct {
        const char *buf;
        size_t len;
    } cases[] = {
        {S("GET a\0b\r\n")},          {S("\0\r\n")}, {S("*\0\r\n")}, {S("*1\r\n$\0\r\n")},
        {S("*1\r\n$3\0\r\nfoo\r\n")},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resp_req_init(&p);
        ck_assert_msg(resp_req_parse(&p, cases[i].buf, cases[i].len, &lim, &res) == PX_EAGAIN,
                      "case %zu", i);
        resp_req_deinit(&p);
    }
    /* ...until the unfinished line passes the limit. */
    size_t n = 65537;
    char *b = malloc(n);
    memset(b, 'x', n);
    b[3] = '\0';
    b[10] = '\n';
    resp_req_init(&p);
    ck_assert_int_eq(resp_req_parse(&p, b, n, &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_INLINE_TOO_BIG);
    resp_req_deinit(&p);
    free(b);
    /* A NUL after the line end is data of a later request, not in the way. */
    resp_req_init(&p);
    ck_assert_int_eq(resp_req_parse(&p, S("PING\r\n\0"), &lim, &res), 0);
    ck_assert_uint_eq(res.len, 6);
    resp_req_deinit(&p);
}
END_TEST

START_TEST(test_req_limits)
{
    struct resp_req_limits lim = {.max_bulk = 5, .max_args = 3, .inline_max = 16};
    struct req_run run;
    check_all_splits(S("*1\r\n$5\r\nabcde\r\n"), &lim, &run);
    ck_assert_int_eq(run.rec[0].rc, 0);
    check_all_splits(S("*1\r\n$6\r\nabcdef\r\n"), &lim, &run);
    ck_assert_int_eq(run.rec[0].err, RESP_REQ_ERR_BULK_INVALID);

    check_all_splits(S("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), &lim, &run);
    ck_assert_int_eq(run.rec[0].rc, 0);
    ck_assert_uint_eq(run.rec[0].argc, 3);
    check_all_splits(S("*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"), &lim, &run);
    ck_assert_int_eq(run.rec[0].err, RESP_REQ_ERR_MBULK_INVALID);

    /* inline_max bounds an inline line and a length line still waiting for its end. */
    struct resp_req_result res;
    ck_assert_int_eq(parse_long("", 16, 'x', &lim, &res), PX_EAGAIN);
    ck_assert_int_eq(parse_long("", 17, 'x', &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_INLINE_TOO_BIG);
    ck_assert_int_eq(parse_long("*", 15, '1', &lim, &res), PX_EAGAIN);
    ck_assert_int_eq(parse_long("*", 16, '1', &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_MBULK_TOO_BIG);
    ck_assert_int_eq(parse_long("*1\r\n$", 15, '1', &lim, &res), PX_EAGAIN);
    ck_assert_int_eq(parse_long("*1\r\n$", 16, '1', &lim, &res), PX_EPROTO);
    ck_assert_int_eq(res.err, RESP_REQ_ERR_BULK_TOO_BIG);
    /* The limit does not bound bulk data, only length lines. */
    check_all_splits(S("*2\r\n$5\r\nabcde\r\n$5\r\nvwxyz\r\n"), &lim, &run);
    ck_assert_int_eq(run.rec[0].rc, 0);
    ck_assert_uint_eq(run.rec[0].len, 26);

    /* Found by fuzzing: with a bulk limit past 4 GiB, a bulk of 4 GiB - 2 bytes needs 2^32 more,
     * which cut to 32 bits read as "need 0". The hint saturates. */
    struct resp_req_limits wide = {.max_bulk = LLONG_MAX, .max_args = 3, .inline_max = 16};
    struct resp_req_parser p;
    resp_req_init(&p);
    ck_assert_int_eq(resp_req_parse(&p, S("*1\r\n$4294967294\r\n"), &wide, &res), PX_EAGAIN);
    ck_assert_uint_eq(res.need, UINT32_MAX);
    resp_req_reset(&p);
    ck_assert_int_eq(resp_req_parse(&p, S("*1\r\n$4294967292\r\nab"), &wide, &res), PX_EAGAIN);
    ck_assert_uint_eq(res.need, 4294967292u);
    resp_req_deinit(&p);
}
END_TEST

START_TEST(test_req_moved_between_buffers)
{
    /* Parse a prefix in one buffer, wipe it, and finish from a copy at another address. */
    struct resp_req_limits lim = def_limits();
    static const char req[] = "*3\r\n$3\r\nSET\r\n$5\r\nmykey\r\n$7\r\nmyvalue\r\n";
    const size_t total = sizeof(req) - 1;
    for (size_t k = 1; k < total; k++) {
        struct resp_req_parser p;
        struct resp_req_result res;
        resp_req_init(&p);
        char *a = malloc(k);
        memcpy(a, req, k);
        ck_assert_int_eq(resp_req_parse(&p, a, k, &lim, &res), PX_EAGAIN);
        memset(a, '#', k);
        free(a);
        char *b = malloc(total + 100);
        memset(b, '!', 100);
        memcpy(b + 100, req, total);
        ck_assert_int_eq(resp_req_parse(&p, b + 100, total, &lim, &res), 0);
        ck_assert_uint_eq(res.len, total);
        ck_assert_uint_eq(p.argc, 3);
        ck_assert_mem_eq(b + 100 + p.argv[1].off, "mykey", 5);
        ck_assert_mem_eq(b + 100 + p.argv[2].off, "myvalue", 7);
        free(b);
        resp_req_deinit(&p);
    }
}
END_TEST

START_TEST(test_req_reset_and_shrink)
{
    /* A request with many arguments grows the argument array; shrink gives it back when idle. */
    struct resp_req_limits lim = def_limits();
    struct resp_req_parser p;
    struct resp_req_result res;
    resp_req_init(&p);
    char *b = malloc(200 * 8 + 16);
    int n = snprintf(b, 16, "*200\r\n");
    for (int i = 0; i < 200; i++) n += snprintf(b + n, 16, "$1\r\n%c\r\n", 'a' + i % 26);
    ck_assert_int_eq(resp_req_parse(&p, b, (size_t)n, &lim, &res), 0);
    ck_assert_uint_eq(p.argc, 200);
    ck_assert_uint_eq(res.len, (uint32_t)n);
    for (uint32_t i = 0; i < 200; i++) {
        ck_assert_uint_eq(p.argv[i].off, 6 + i * 7 + 4);
        ck_assert_int_eq(b[p.argv[i].off], 'a' + (int)i % 26);
    }
    ck_assert_uint_gt(p.argv_cap, 64);
    resp_req_reset(&p);
    ck_assert_uint_eq(p.argc, 0);
    ck_assert_uint_eq(p.pos, 0);
    resp_req_shrink(&p);
    ck_assert_ptr_null(p.argv);
    ck_assert_uint_eq(p.argv_cap, 0);
    /* After an inline request, shrink releases the inline buffer once the parser is reset. */
    ck_assert_int_eq(resp_req_parse(&p, S("PING\r\n"), &lim, &res), 0);
    ck_assert_ptr_nonnull(p.inl);
    resp_req_reset(&p);
    resp_req_shrink(&p);
    ck_assert_ptr_null(p.inl);
    /* The parser still works afterwards. */
    ck_assert_int_eq(resp_req_parse(&p, S("*1\r\n$4\r\nPING\r\n"), &lim, &res), 0);
    ck_assert_uint_eq(p.argc, 1);
    ck_assert_uint_eq(p.argv[0].off, 8);
    resp_req_deinit(&p);
    free(b);
}
END_TEST

START_TEST(test_req_strerror_truncates)
{
    struct resp_req_result res = {.err = RESP_REQ_ERR_MBULK_INVALID};
    char small[10];
    /* snprintf semantics: the full length is returned and the text is cut and terminated. */
    ck_assert_int_eq(resp_req_strerror(&res, small, sizeof(small)), 40);
    ck_assert_str_eq(small, "Protocol ");
    res.err = RESP_REQ_ERR_EXPECTED_DOLLAR;
    res.bad_char = '\n';
    char text[64];
    resp_req_strerror(&res, text, sizeof(text));
    ck_assert_str_eq(text, "Protocol error: expected '$', got ' '");
}
END_TEST

START_TEST(test_req_str2ll)
{
    static const struct {
        const char *s;
        int ok;
        long long v;
    } cases[] = {
        {"0", 1, 0},
        {"1", 1, 1},
        {"-1", 1, -1},
        {"123", 1, 123},
        {"9223372036854775807", 1, LLONG_MAX},
        {"-9223372036854775808", 1, LLONG_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"18446744073709551615", 0, 0}, /* ULLONG_MAX: 20 digits, fits unsigned, not signed */
        {"18446744073709551616", 0, 0}, /* 20 digits, overflows unsigned */
        {"99999999999999999999", 0, 0},
        {"-18446744073709551615", 0, 0}, /* 21 characters */
        {"00", 0, 0},
        {"01", 0, 0},
        {"007", 0, 0},
        {"-0", 0, 0},
        {"-01", 0, 0},
        {"+1", 0, 0},
        {"-", 0, 0},
        {"", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
        {"1a", 0, 0},
        {"0x10", 0, 0},
        {"--1", 0, 0},
        {"1.5", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long v = 42;
        int ok = resp_str2ll(cases[i].s, strlen(cases[i].s), &v);
        ck_assert_msg(ok == cases[i].ok, "\"%s\": ok %d", cases[i].s, ok);
        if (ok) ck_assert_msg(v == cases[i].v, "\"%s\": %lld", cases[i].s, v);
    }
    /* The length is honoured: digits after it do not count. */
    long long v;
    ck_assert_int_eq(resp_str2ll("12345", 3, &v), 1);
    ck_assert_int_eq(v, 123);
    ck_assert_int_eq(resp_str2ll("0123", 1, &v), 1);
    ck_assert_int_eq(v, 0);

    char buf[32];
    ck_assert_int_eq(resp_ll2str(buf, 0), 1);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(resp_ll2str(buf, -42), 3);
    ck_assert_str_eq(buf, "-42");
    ck_assert_int_eq(resp_ll2str(buf, LLONG_MIN), 20);
    ck_assert_str_eq(buf, "-9223372036854775808");
    ck_assert_int_eq(resp_ll2str(buf, LLONG_MAX), 19);
    ck_assert_str_eq(buf, "9223372036854775807");

    /* Every digit-count boundary, both signs, against snprintf; and back through str2ll (which
     * has a fast path for up to 9 digits). */
    long long p10 = 1;
    for (int d = 1; d <= 18; d++) {
        p10 *= 10;
        long long around[] = {p10 - 1, p10, p10 + 1, -(p10 - 1), -p10, -(p10 + 1)};
        for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
            char want[32];
            int n = snprintf(want, sizeof(want), "%lld", around[i]);
            ck_assert_int_eq(resp_ll2str(buf, around[i]), n);
            ck_assert_str_eq(buf, want);
            ck_assert_int_eq(resp_str2ll(buf, (size_t)n, &v), 1);
            ck_assert(v == around[i]);
        }
    }
    ck_assert_int_eq(resp_str2ll("12a", 3, &v), 0);
    ck_assert_int_eq(resp_str2ll("1 2", 3, &v), 0);
    ck_assert_int_eq(resp_str2ll("99999999/", 9, &v), 0);
}
END_TEST

/* The one-pass length line agrees with the general path (the first '\r', then resp_str2ll) on
 * every line it accepts, at every truncation, and declines the ones it leaves to that path. */
START_TEST(test_req_len_line)
{
    static const char *lines[] = {
        "0\r\n",         "1\r\n",          "3\r\n",          "16\r\n",   "123456789\r\n",
        "999999999\r\n", "1000000000\r\n", "00\r\n",         "01\r\n",   "-1\r\n",
        "+1\r\n",        "1a\r\n",         " 1\r\n",         "\r\n",     "1\r",
        "1\rX",          "12\0\r\n",       "4294967296\r\n", "12\n\r\n", "9\r\r\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *line = lines[i];
        size_t full = strlen(line);
        if (i == 16) full = 5; /* "12\0\r\n": strlen stops at the NUL */
        for (size_t n = 0; n <= full; n++) {
            long long v = -7, want;
            size_t nd = 99;
            int ok = resp_len_line(line, n, &v, &nd);
            const char *cr = memchr(line, '\r', n);
            int general = cr && (size_t)(cr - line) + 2 <= n && !memchr(line, '\0', cr - line) &&
                          resp_str2ll(line, (size_t)(cr - line), &want) && want >= 0;
            if (ok) {
                ck_assert_msg(general, "\"%s\" cut at %zu: accepted, but not by the general path",
                              line, n);
                ck_assert_uint_eq(nd, (size_t)(cr - line));
                ck_assert(v == want);
            } else if (general && want < 1000000000) {
                ck_abort_msg("\"%s\" cut at %zu: a line of 9 digits or fewer was declined", line,
                             n);
            }
        }
    }
    /* What the parsers accept through it (and the longer lengths through the general path). */
    struct resp_req_parser p;
    struct resp_req_limits lim;
    struct resp_req_result res;
    resp_req_limits_default(&lim);
    resp_req_init(&p);
    const char *req = "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
    ck_assert_int_eq(resp_req_parse(&p, req, strlen(req), &lim, &res), 0);
    ck_assert_uint_eq(res.len, strlen(req));
    ck_assert_uint_eq(p.argc, 2);
    ck_assert_uint_eq(p.argv[1].len, 0);
    resp_req_deinit(&p);
}
END_TEST

Suite *resp_req_suite(void)
{
    Suite *s = suite_create("resp_req");
    TCase *tc = tcase_create("resp_req");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_req_multibulk_exact);
    tcase_add_test(tc, test_req_multibulk_quirks);
    tcase_add_test(tc, test_req_empty_requests);
    tcase_add_test(tc, test_req_pipeline);
    tcase_add_test(tc, test_req_inline_encoding);
    tcase_add_test(tc, test_req_inline_quoting);
    tcase_add_test(tc, test_req_inline_only_empty_args);
    tcase_add_test(tc, test_req_errors);
    tcase_add_test(tc, test_req_too_big_strings);
    tcase_add_test(tc, test_req_nul_hides_line_end);
    tcase_add_test(tc, test_req_limits);
    tcase_add_test(tc, test_req_moved_between_buffers);
    tcase_add_test(tc, test_req_reset_and_shrink);
    tcase_add_test(tc, test_req_strerror_truncates);
    tcase_add_test(tc, test_req_str2ll);
    tcase_add_test(tc, test_req_len_line);
    suite_add_tcase(s, tc);
    return s;
}
