/*
 * libFuzzer target for net/resp_req, the client request parser.
 *
 * Input: four header bytes, then the bytes a client sends.
 *   h[0] & 3   0: the proxy's limits; 1: small ones (inline_max h[1], max_bulk h[2] & 63,
 *              max_args h[0] >> 2), so the too-big and invalid-length paths are reached with
 *              short inputs; 2: a small inline_max only; 3: the widest limits the types allow.
 *   h[2] & 128 the client has not authenticated: Redis's 10-argument / 16 KB limits apply.
 *   h[3]       seeds the sizes of the pieces the bytes arrive in.
 *
 * The stream is parsed twice. Whole: each request from its first byte to the end of the input, as
 * when a pipeline arrives in one read. In pieces: as session.c does it, the bytes of the current
 * request from its first byte, the available length growing in pseudo-random steps (zero
 * included: the proxy parses again without a new read after a pause), each call on a fresh heap
 * copy so a pointer kept into an old buffer is a use-after-free ASan reports. Both must give the
 * same requests byte for byte and end the same way. Every result is checked against the contract
 * in resp_req.h; in the whole run, multibulk requests are checked against a plain
 * transliteration of Redis's processMultibulkBuffer, inline requests by parsing their
 * multibulk re-encoding again (and, without quotes, against a plain split).
 */
#include "errors.h"
#include "px_errors.h"
#include "resp.h"
#include "resp_req.h"

#include "fuzz_util.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 4

/* ---- a growable byte string ---- */

struct bytes {
    unsigned char *b;
    size_t len, cap;
};

static void bytes_put(struct bytes *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n) cap *= 2;
        o->b = realloc(o->b, cap);
        CHECK(o->b != NULL);
        o->cap = cap;
    }
    if (n) memcpy(o->b + o->len, p, n);
    o->len += n;
}

/* Appends a request's arguments as (4-byte length, bytes) pairs: equal strings, equal requests. */
static void put_args(struct bytes *o, const struct resp_req_parser *p, const char *base)
{
    for (uint32_t i = 0; i < p->argc; i++) {
        uint32_t n = p->argv[i].len;
        bytes_put(o, &n, sizeof(n));
        bytes_put(o, base + p->argv[i].off, n);
    }
}

/* ---- what the whole run saw ---- */

struct req_rec {
    uint32_t len;
    int is_inline;
    uint32_t argc;
    size_t args_off, args_len; /* into run.args */
};

struct run {
    struct req_rec *rec;
    size_t n, cap;
    struct bytes args;
    int end; /* 0: every byte taken; PX_EAGAIN: a request is incomplete; PX_EPROTO */
    enum resp_req_error err;
    char bad_char;
    size_t pending; /* bytes not taken by a complete request */
};

static void run_free(struct run *r)
{
    free(r->rec);
    free(r->args.b);
}

/* ---- reference: Redis's processMultibulkBuffer over one buffer, no resumable state ---- */

/* strchr() over Redis's query buffer, which is a C string: a NUL byte ends the search. */
static const char *ref_strchr(const char *s, size_t n, char c)
{
    for (size_t i = 0; i < n && s[i] != '\0'; i++)
        if (s[i] == c) return s + i;
    return NULL;
}

struct ref_req {
    int rc;
    enum resp_req_error err;
    char bad_char;
    size_t len;
    size_t argc;
    struct resp_span *argv; /* room for n / 4 + 1 */
};

static void ref_fail(struct ref_req *r, enum resp_req_error err)
{
    r->rc = PX_EPROTO;
    r->err = err;
}

static void ref_multibulk(const char *q, size_t n, const struct resp_req_limits *lim,
                          struct ref_req *r)
{
    long long ll, mbulk, bulk = -1;
    r->rc = PX_EAGAIN;
    r->argc = 0;
    const char *nl = ref_strchr(q, n, '\r');
    if (!nl) {
        if (n > lim->inline_max) ref_fail(r, RESP_REQ_ERR_MBULK_TOO_BIG);
        return;
    }
    if ((long long)(nl - q) > (long long)n - 2) return;
    if (!ref_str2ll(q + 1, (size_t)(nl - (q + 1)), &ll) || ll > lim->max_args) {
        ref_fail(r, RESP_REQ_ERR_MBULK_INVALID);
        return;
    }
    if (lim->unauth && ll > 10) { /* Redis: "unauthenticated multibulk length" */
        ref_fail(r, RESP_REQ_ERR_UNAUTH_MBULK);
        return;
    }
    size_t pos = (size_t)(nl - q) + 2;
    if (ll <= 0) {
        r->rc = 0;
        r->len = pos;
        return;
    }
    mbulk = ll;
    while (mbulk) {
        if (bulk == -1) {
            nl = ref_strchr(q + pos, n - pos, '\r');
            if (!nl) {
                if (n - pos > lim->inline_max) ref_fail(r, RESP_REQ_ERR_BULK_TOO_BIG);
                return;
            }
            if ((long long)(nl - (q + pos)) > (long long)(n - pos) - 2) return;
            if (q[pos] != '$') {
                ref_fail(r, RESP_REQ_ERR_EXPECTED_DOLLAR);
                r->bad_char = q[pos];
                return;
            }
            if (!ref_str2ll(q + pos + 1, (size_t)(nl - (q + pos + 1)), &ll) || ll < 0 ||
                ll > lim->max_bulk) {
                ref_fail(r, RESP_REQ_ERR_BULK_INVALID);
                return;
            }
            if (lim->unauth && ll > 16384) { /* Redis: "unauthenticated bulk length" */
                ref_fail(r, RESP_REQ_ERR_UNAUTH_BULK);
                return;
            }
            pos = (size_t)(nl - q) + 2;
            bulk = ll;
        }
        if ((unsigned long long)(n - pos) < (unsigned long long)bulk + 2) return;
        r->argv[r->argc].off = (uint32_t)pos;
        r->argv[r->argc].len = (uint32_t)bulk;
        r->argc++;
        pos += (size_t)bulk + 2;
        bulk = -1;
        mbulk--;
    }
    r->rc = 0;
    r->len = pos;
}

static void check_against_ref(const char *buf, size_t len, const struct resp_req_limits *lim,
                              const struct resp_req_parser *p, const struct resp_req_result *res,
                              int rc)
{
    struct ref_req r = {0};
    r.argv = malloc((len / 4 + 1) * sizeof(*r.argv));
    CHECK(r.argv != NULL);
    ref_multibulk(buf, len, lim, &r);
    CHECK(rc == r.rc);
    if (rc == PX_EPROTO) {
        CHECK(res->err == r.err);
        if (r.err == RESP_REQ_ERR_EXPECTED_DOLLAR) CHECK(res->bad_char == r.bad_char);
    } else if (rc == 0) {
        CHECK(res->len == r.len);
        CHECK(p->argc == r.argc);
        CHECK(r.argc == 0 || memcmp(p->argv, r.argv, r.argc * sizeof(*r.argv)) == 0);
    }
    free(r.argv);
}

/* ---- inline requests ---- */

static int c_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* A line without quotes, split as sdssplitargs splits it: leading isspace() bytes are skipped, a
 * token runs up to a space, tab, CR or LF (not VT or FF). Must equal the parser's arguments. */
static void check_plain_inline(const char *buf, size_t linelen, const struct resp_req_parser *p)
{
    size_t i = 0;
    uint32_t k = 0;
    for (;;) {
        while (i < linelen && c_isspace(buf[i])) i++;
        if (i == linelen) break;
        size_t start = i;
        while (i < linelen && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n')
            i++;
        CHECK(k < p->argc);
        CHECK(p->argv[k].len == i - start);
        CHECK(memcmp(p->inl + p->argv[k].off, buf + start, i - start) == 0);
        k++;
    }
    CHECK(k == p->argc);
}

/* The multibulk form an inline request is forwarded as must parse back to the same arguments. */
static void check_reencoding(const struct resp_req_parser *p)
{
    if (p->argc == 0) return;
    struct resp_req_limits lim;
    resp_req_limits_default(&lim);
    struct resp_req_parser q;
    resp_req_init(&q);
    char *copy = dup_bytes(p->inl, p->inl_len);
    struct resp_req_result res;
    CHECK(resp_req_parse(&q, copy, p->inl_len, &lim, &res) == 0);
    CHECK(res.len == p->inl_len && !res.is_inline);
    CHECK(q.argc == p->argc);
    for (uint32_t i = 0; i < p->argc; i++) {
        CHECK(q.argv[i].len == p->argv[i].len);
        CHECK(memcmp(copy + q.argv[i].off, p->inl + p->argv[i].off, p->argv[i].len) == 0);
    }
    free(copy);
    resp_req_deinit(&q);
}

/* ---- the contract of resp_req_parse, for every call ---- */

static int too_big(enum resp_req_error e)
{
    return e == RESP_REQ_ERR_INLINE_TOO_BIG || e == RESP_REQ_ERR_MBULK_TOO_BIG ||
           e == RESP_REQ_ERR_BULK_TOO_BIG;
}

static void check_result(const struct resp_req_parser *p, const char *buf, size_t len,
                         const struct resp_req_limits *lim, const struct resp_req_result *res,
                         int rc)
{
    if (rc == PX_EAGAIN) {
        CHECK(res->need >= 1);
        CHECK(res->err == RESP_REQ_ERR_NONE);
        return;
    }
    if (rc == PX_EPROTO) {
        CHECK(res->err != RESP_REQ_ERR_NONE);
        char text[128];
        int tl = resp_req_strerror(res, text, sizeof(text));
        CHECK(tl > 16 && (size_t)tl < sizeof(text));
        CHECK(memcmp(text, "Protocol error: ", 16) == 0);
        CHECK(!memchr(text, '\r', (size_t)tl) && !memchr(text, '\n', (size_t)tl));
        char small[8];
        CHECK(resp_req_strerror(res, small, sizeof(small)) == tl);
        CHECK(strlen(small) == sizeof(small) - 1);
        if (res->err == RESP_REQ_ERR_EXPECTED_DOLLAR) CHECK(res->bad_char != '$');
        if (too_big(res->err)) CHECK(len > lim->inline_max);
        return;
    }
    CHECK(rc == 0);
    CHECK(res->err == RESP_REQ_ERR_NONE);
    CHECK(res->len >= 1 && res->len <= len);
    if (res->is_inline) {
        CHECK(buf[0] != '*');
        CHECK(buf[res->len - 1] == '\n');
        CHECK(!memchr(buf, '\n', res->len - 1) && !memchr(buf, '\0', res->len - 1));
        CHECK((p->argc == 0) == (p->inl_len == 0));
        for (uint32_t i = 0; i < p->argc; i++)
            CHECK(p->argv[i].off + (uint64_t)p->argv[i].len + 2 <= p->inl_len);
        size_t linelen = res->len - 1;
        if (linelen && buf[linelen - 1] == '\r') linelen--;
        if (!memchr(buf, '"', linelen) && !memchr(buf, '\'', linelen))
            check_plain_inline(buf, linelen, p);
        check_reencoding(p);
        return;
    }
    /* Multibulk: a header line, then each argument's "$<len>" line and its bytes plus two. */
    CHECK(buf[0] == '*');
    const char *cr = memchr(buf, '\r', res->len);
    CHECK(cr != NULL);
    long long declared;
    CHECK(ref_str2ll(buf + 1, (size_t)(cr - buf - 1), &declared));
    CHECK(p->argc == 0 ? declared <= 0 : declared == (long long)p->argc);
    CHECK(declared <= lim->max_args);
    CHECK(!lim->unauth || declared <= RESP_UNAUTH_MAX_ARGS);
    uint64_t end = (uint64_t)(cr - buf) + 2;
    for (uint32_t i = 0; i < p->argc; i++) {
        const struct resp_span *a = &p->argv[i];
        CHECK(a->off >= end + 4); /* "$0\r\n" at least */
        CHECK(buf[end] == '$' && buf[a->off - 2] == '\r');
        size_t digits = a->off - 2 - end - 1;
        CHECK(!memchr(buf + end, '\r', digits + 1));
        long long blen;
        CHECK(ref_str2ll(buf + end + 1, digits, &blen) && blen == (long long)a->len);
        CHECK(blen <= lim->max_bulk);
        CHECK(!lim->unauth || blen <= RESP_UNAUTH_MAX_BULK);
        end = (uint64_t)a->off + a->len + 2;
    }
    CHECK(end == res->len);
}

/* ---- the two runs ---- */

static void run_whole(const char *in, size_t n, const struct resp_req_limits *lim, struct run *w)
{
    char *buf = dup_bytes(in, n); /* exactly n bytes: ASan sees a read past the end */
    struct resp_req_parser p;
    resp_req_init(&p);
    struct resp_req_result res;
    /* Nothing yet: at least one byte is needed. */
    CHECK(resp_req_parse(&p, buf, 0, lim, &res) == PX_EAGAIN && res.need == 1);
    size_t start = 0;
    w->end = 0;
    while (start < n) {
        const char *b = buf + start;
        size_t len = n - start;
        int rc = resp_req_parse(&p, b, len, lim, &res);
        check_result(&p, b, len, lim, &res, rc);
        if (b[0] == '*') check_against_ref(b, len, lim, &p, &res, rc);
        if (rc != 0) {
            w->end = rc;
            w->err = res.err;
            w->bad_char = res.bad_char;
            break;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 16;
            w->rec = realloc(w->rec, w->cap * sizeof(*w->rec));
            CHECK(w->rec != NULL);
        }
        struct req_rec *r = &w->rec[w->n++];
        r->len = res.len;
        r->is_inline = res.is_inline;
        r->argc = p.argc;
        r->args_off = w->args.len;
        put_args(&w->args, &p, res.is_inline ? p.inl : b);
        r->args_len = w->args.len - r->args_off;
        start += res.len;
        resp_req_reset(&p);
    }
    w->pending = n - start;
    resp_req_deinit(&p);
    free(buf);
}

/* The pieces run ended at request k with this error while the whole run did not: only a too-big
 * error may do that. Redis decides "too big" from what its query buffer holds when no line end
 * is in it, so a line longer than the limit is refused or not depending on how the bytes arrived
 * (the whole run saw its end). Allowed when the pieces run had avail bytes of request k, more than
 * the limit, and the whole run did not find request k complete within those bytes. */
static void check_early_too_big(const struct run *w, size_t k, const struct resp_req_result *res,
                                size_t avail, const struct resp_req_limits *lim)
{
    CHECK(too_big(res->err));
    CHECK(avail > lim->inline_max);
    if (k < w->n) CHECK(w->rec[k].len > avail);
}

static void run_pieces(const char *in, size_t n, const struct resp_req_limits *lim, uint32_t seed,
                       const struct run *w)
{
    struct resp_req_parser p;
    resp_req_init(&p);
    uint32_t rng = seed;
    size_t start = 0, fed = 0, k = 0;
    size_t min_next = 0; /* after PX_EAGAIN: request k has at least this many bytes */
    size_t last_step = 1;
    struct bytes args = {0};
    for (;;) {
        fed = next_fed(&rng, fed, n, &last_step);
        while (start < fed) {
            size_t avail = fed - start;
            char *buf = dup_bytes(in + start, avail);
            struct resp_req_result res;
            int rc = resp_req_parse(&p, buf, avail, lim, &res);
            check_result(&p, buf, avail, lim, &res, rc);
            /* need is a lower bound: no answer but "incomplete" before that many bytes. */
            if (avail < min_next) CHECK(rc == PX_EAGAIN);
            if (rc == PX_EAGAIN) {
                min_next = avail + res.need;
                if (k < w->n) CHECK(min_next <= w->rec[k].len);
                free(buf);
                break;
            }
            if (rc == PX_EPROTO) {
                if (!(k == w->n && w->end == PX_EPROTO && w->err == res.err &&
                      w->bad_char == res.bad_char))
                    check_early_too_big(w, k, &res, avail, lim);
                free(buf);
                free(args.b);
                resp_req_deinit(&p);
                return;
            }
            CHECK(k < w->n);
            const struct req_rec *r = &w->rec[k];
            CHECK(res.len == r->len && res.is_inline == r->is_inline && p.argc == r->argc);
            args.len = 0;
            put_args(&args, &p, res.is_inline ? p.inl : buf);
            CHECK(args.len == r->args_len);
            CHECK(args.len == 0 || memcmp(args.b, w->args.b + r->args_off, args.len) == 0);
            free(buf);
            start += res.len;
            k++;
            min_next = 0;
            resp_req_reset(&p);
            if (start == fed) resp_req_shrink(&p); /* as session.c does when nothing is left */
        }
        if (fed == n) break;
    }
    /* Every byte arrived: the same requests, and the same incomplete rest. */
    CHECK(k == w->n);
    CHECK(n - start == w->pending);
    CHECK(w->end == (start == n ? 0 : PX_EAGAIN));
    free(args.b);
    resp_req_deinit(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR) return 0;
    struct resp_req_limits lim;
    resp_req_limits_default(&lim);
    switch (data[0] & 3) {
    case 0: break;
    case 1:
        lim.inline_max = data[1];
        lim.max_bulk = data[2] & 63;
        lim.max_args = data[0] >> 2;
        break;
    case 2: lim.inline_max = data[1]; break;
    default:
        lim.max_bulk = LLONG_MAX;
        lim.max_args = LLONG_MAX;
        lim.inline_max = UINT32_MAX;
        break;
    }
    lim.unauth = (data[2] & 0x80) != 0; /* a client that has not authenticated yet */
    const char *in = (const char *)data + HDR;
    size_t n = size - HDR;
    struct run w = {0};
    run_whole(in, n, &lim, &w);
    run_pieces(in, n, &lim, ((uint32_t)data[3] << 16) ^ (uint32_t)n ^ 0x9e3779b9u, &w);
    run_free(&w);
    return 0;
}
