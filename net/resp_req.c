/*
 * RESP request parser; see resp_req.h. It follows Redis's processMultibulkBuffer and
 * processInlineBuffer closely, including their quirks (a length line ends at the first '\r' and
 * the byte after it is not checked; a bulk's trailing two bytes are skipped unchecked), because
 * the bytes are forwarded to a Redis that parses them the same way.
 */
#include "resp_req.h"

#include "mem.h"
#include "px_errors.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int resp_str2ll(const char *s, size_t len, long long *out)
{
    const char *p = s;
    size_t plen = 0;
    int neg = 0;
    unsigned long long v;
    if (len == 0 || len > 20) return 0;
    if (len <= 9 && p[0] >= '1' && p[0] <= '9') {
        /* The common case, every length in a request: at most 9 digits cannot overflow. */
        long long x = p[0] - '0';
        for (size_t i = 1; i < len; i++) {
            if (p[i] < '0' || p[i] > '9') return 0;
            x = x * 10 + (p[i] - '0');
        }
        *out = x;
        return 1;
    }
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return 1;
    }
    if (p[0] == '-') {
        neg = 1;
        p++;
        plen++;
        if (plen == len) return 0;
    }
    if (p[0] >= '1' && p[0] <= '9') {
        v = (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    } else {
        return 0;
    }
    while (plen < len && p[0] >= '0' && p[0] <= '9') {
        if (v > (~0ULL) / 10) return 0;
        v *= 10;
        if (v > (~0ULL) - (unsigned long long)(p[0] - '0')) return 0;
        v += (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    }
    if (plen < len) return 0;
    if (neg) {
        if (v > ((unsigned long long)(-(LLONG_MIN + 1)) + 1)) return 0;
        *out = (long long)(0 - v);
    } else {
        if (v > (unsigned long long)LLONG_MAX) return 0;
        *out = (long long)v;
    }
    return 1;
}

int resp_ull_digits(unsigned long long u)
{
    int n = 1;
    for (;;) {
        if (u < 10) return n;
        if (u < 100) return n + 1;
        if (u < 1000) return n + 2;
        if (u < 10000) return n + 3;
        u /= 10000;
        n += 4;
    }
}

int resp_ll2str(char *buf, long long v)
{
    unsigned long long u =
        v < 0 ? (unsigned long long)0 - (unsigned long long)v : (unsigned long long)v;
    int len = v < 0;
    if (v < 0) buf[0] = '-';
    len += resp_ull_digits(u);
    buf[len] = '\0';
    /* Backwards, digit by digit: the count is known, so no reversal. */
    char *q = buf + len;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return len;
}

/* Finds c in [p, p+n) the way Redis's strchr() over its query buffer does: a NUL byte before c
 * ends the search, so Redis keeps waiting for a line end it will never see (and, past the size
 * limit, reports a too-big line). Returns NULL in both cases. */
static const char *find_line_end(const char *p, size_t n, char c)
{
    /* Short lines (an inline PING, the length lines resp_len_line leaves to the general path):
     * one pass over them for both bytes is cheaper than two library calls. Longer lines take the
     * vectorised path. */
    size_t quick = n < 24 ? n : 24;
    for (size_t i = 0; i < quick; i++) {
        if (p[i] == c) return p + i;
        if (p[i] == '\0') return NULL;
    }
    if (quick == n) return NULL;
    p += quick;
    n -= quick;
    const char *e = memchr(p, c, n);
    if (!e) return NULL;
    return memchr(p, '\0', (size_t)(e - p)) ? NULL : e;
}

void resp_req_limits_default(struct resp_req_limits *lim)
{
    lim->max_bulk = RESP_MAX_BULK_DEFAULT;
    lim->max_args = RESP_MAX_ARGS_DEFAULT;
    lim->inline_max = RESP_INLINE_MAX;
    lim->unauth = 0;
}

void resp_req_init(struct resp_req_parser *p)
{
    memset(p, 0, sizeof(*p));
    p->bulk = -1;
}

void resp_req_deinit(struct resp_req_parser *p)
{
    px_free(p->argv);
    px_free(p->inl);
    memset(p, 0, sizeof(*p));
}

void resp_req_reset(struct resp_req_parser *p)
{
    p->pos = 0;
    p->nargs = 0;
    p->bulk = -1;
    p->argc = 0;
    p->inl_len = 0;
}

void resp_req_shrink(struct resp_req_parser *p)
{
    if (p->argc == 0 && p->argv_cap > 64) {
        px_free(p->argv);
        p->argv = NULL;
        p->argv_cap = 0;
    }
    if (p->inl_len == 0 && p->inl) {
        px_free(p->inl);
        p->inl = NULL;
        p->inl_cap = 0;
    }
}

void resp_req_release(struct resp_req_parser *p)
{
    if (p->argc != 0 || p->nargs != 0 || p->inl_len != 0) return;
    px_free(p->argv);
    px_free(p->inl);
    p->argv = NULL;
    p->inl = NULL;
    p->argv_cap = p->inl_cap = 0;
}

static void push_arg(struct resp_req_parser *p, uint32_t off, uint32_t len)
{
    if (p->argc == p->argv_cap) {
        p->argv_cap = p->argv_cap ? p->argv_cap * 2 : 16;
        p->argv = px_realloc(p->argv, p->argv_cap * sizeof(*p->argv));
    }
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argc++;
}

static void inl_put(struct resp_req_parser *p, const char *s, size_t n)
{
    if (n == 0) return;
    if (p->inl_len + n > p->inl_cap) {
        size_t cap = p->inl_cap ? p->inl_cap : 256;
        while (cap < p->inl_len + n) cap *= 2;
        p->inl = px_realloc(p->inl, cap);
        p->inl_cap = (uint32_t)cap;
    }
    memcpy(p->inl + p->inl_len, s, n);
    p->inl_len += (uint32_t)n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A growable byte buffer with token spans, for splitting one inline line. */
struct split_out {
    char *bytes;
    size_t len, cap;
    struct resp_span *tok;
    size_t ntok, tcap;
};

static void split_put(struct split_out *o, char c)
{
    if (o->len == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 128;
        o->bytes = px_realloc(o->bytes, o->cap);
    }
    o->bytes[o->len++] = c;
}

static void split_tok(struct split_out *o, size_t start)
{
    if (o->ntok == o->tcap) {
        o->tcap = o->tcap ? o->tcap * 2 : 8;
        o->tok = px_realloc(o->tok, o->tcap * sizeof(*o->tok));
    }
    o->tok[o->ntok].off = (uint32_t)start;
    o->tok[o->ntok].len = (uint32_t)(o->len - start);
    o->ntok++;
}

/* Splits a line the way Redis's sdssplitargs does (the line ends at a NUL byte, as a C string).
 * Returns 0, or -1 for unbalanced quotes. */
static int split_args(const char *s, size_t n, struct split_out *o)
{
    size_t i = 0;
#define AT(k) ((k) < n ? s[k] : '\0')
    for (;;) {
        while (AT(i) != '\0' && is_space(AT(i))) i++;
        if (AT(i) == '\0') return 0;
        int inq = 0, insq = 0, done = 0;
        size_t start = o->len;
        while (!done) {
            char c = AT(i);
            if (inq) {
                if (c == '\\' && AT(i + 1) == 'x' && hex_val(AT(i + 2)) >= 0 &&
                    hex_val(AT(i + 3)) >= 0) {
                    split_put(o, (char)(hex_val(AT(i + 2)) * 16 + hex_val(AT(i + 3))));
                    i += 3;
                } else if (c == '\\' && AT(i + 1) != '\0') {
                    i++;
                    char e = AT(i);
                    switch (e) {
                    case 'n': e = '\n'; break;
                    case 'r': e = '\r'; break;
                    case 't': e = '\t'; break;
                    case 'b': e = '\b'; break;
                    case 'a': e = '\a'; break;
                    default: break;
                    }
                    split_put(o, e);
                } else if (c == '"') {
                    /* The closing quote must be followed by a space or nothing at all. */
                    if (AT(i + 1) != '\0' && !is_space(AT(i + 1))) return -1;
                    done = 1;
                } else if (c == '\0') {
                    return -1;
                } else {
                    split_put(o, c);
                }
            } else if (insq) {
                if (c == '\\' && AT(i + 1) == '\'') {
                    i++;
                    split_put(o, '\'');
                } else if (c == '\'') {
                    if (AT(i + 1) != '\0' && !is_space(AT(i + 1))) return -1;
                    done = 1;
                } else if (c == '\0') {
                    return -1;
                } else {
                    split_put(o, c);
                }
            } else {
                switch (c) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0': done = 1; break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: split_put(o, c); break;
                }
            }
            if (AT(i) != '\0') i++;
        }
        split_tok(o, start);
    }
#undef AT
}

static int parse_inline(struct resp_req_parser *p, const char *buf, size_t len,
                        const struct resp_req_limits *lim, struct resp_req_result *res)
{
    const char *nl = find_line_end(buf, len, '\n');
    if (!nl) {
        if (len > lim->inline_max) {
            res->err = RESP_REQ_ERR_INLINE_TOO_BIG;
            return PX_EPROTO;
        }
        res->need = 1;
        return PX_EAGAIN;
    }
    size_t linelen = (size_t)(nl - buf);
    size_t consumed = linelen + 1;
    if (linelen > 0 && buf[linelen - 1] == '\r') linelen--;
    struct split_out o = {0};
    if (split_args(buf, linelen, &o) < 0) {
        px_free(o.bytes);
        px_free(o.tok);
        res->err = RESP_REQ_ERR_UNBALANCED_QUOTES;
        return PX_EPROTO;
    }
    p->inl_len = 0;
    p->argc = 0;
    if (o.ntok > 0) {
        char num[32];
        int n = snprintf(num, sizeof(num), "*%zu\r\n", o.ntok);
        inl_put(p, num, (size_t)n);
        for (size_t i = 0; i < o.ntok; i++) {
            n = snprintf(num, sizeof(num), "$%u\r\n", o.tok[i].len);
            inl_put(p, num, (size_t)n);
            push_arg(p, p->inl_len, o.tok[i].len);
            /* When every argument is empty ('' or ""), o.bytes is still NULL, and even NULL + 0
             * is undefined behaviour: only a non-empty argument is copied. */
            if (o.tok[i].len) inl_put(p, o.bytes + o.tok[i].off, o.tok[i].len);
            inl_put(p, "\r\n", 2);
        }
    }
    px_free(o.bytes);
    px_free(o.tok);
    res->is_inline = 1;
    res->len = (uint32_t)consumed;
    p->pos = (uint32_t)consumed;
    return 0;
}

int resp_req_parse(struct resp_req_parser *p, const char *buf, size_t len,
                   const struct resp_req_limits *lim, struct resp_req_result *res)
{
    memset(res, 0, sizeof(*res));
    if (p->nargs == 0) {
        if (len == 0) {
            res->need = 1;
            return PX_EAGAIN;
        }
        if (buf[0] != '*') return parse_inline(p, buf, len, lim, res);
        long long ll;
        size_t hdr;
        if (resp_len_line(buf + 1, len - 1, &ll, &hdr)) {
            hdr++; /* the '*' */
        } else {
            const char *cr = find_line_end(buf, len, '\r');
            if (!cr) {
                if (len > lim->inline_max) {
                    res->err = RESP_REQ_ERR_MBULK_TOO_BIG;
                    return PX_EPROTO;
                }
                res->need = 1;
                return PX_EAGAIN;
            }
            hdr = (size_t)(cr - buf);
            if (hdr + 2 > len) { /* the byte after '\r' has not arrived */
                res->need = 1;
                return PX_EAGAIN;
            }
            if (!resp_str2ll(buf + 1, hdr - 1, &ll)) {
                res->err = RESP_REQ_ERR_MBULK_INVALID;
                return PX_EPROTO;
            }
        }
        if (ll > lim->max_args) {
            res->err = RESP_REQ_ERR_MBULK_INVALID;
            return PX_EPROTO;
        }
        if (lim->unauth && ll > RESP_UNAUTH_MAX_ARGS) {
            res->err = RESP_REQ_ERR_UNAUTH_MBULK;
            return PX_EPROTO;
        }
        p->pos = (uint32_t)(hdr + 2);
        if (ll <= 0) { /* "*0" and "*-1" are skipped, as Redis does */
            p->argc = 0;
            res->len = p->pos;
            return 0;
        }
        p->nargs = ll;
        p->bulk = -1;
        p->argc = 0;
    }
    while ((long long)p->argc < p->nargs) {
        size_t pos = p->pos;
        if (p->bulk < 0) {
            long long ll;
            size_t hdr;
            if (pos < len && buf[pos] == '$' &&
                resp_len_line(buf + pos + 1, len - pos - 1, &ll, &hdr)) {
                hdr++; /* the '$' */
            } else {
                const char *cr = find_line_end(buf + pos, len - pos, '\r');
                if (!cr) {
                    if (len - pos > lim->inline_max) {
                        res->err = RESP_REQ_ERR_BULK_TOO_BIG;
                        return PX_EPROTO;
                    }
                    res->need = 1;
                    return PX_EAGAIN;
                }
                hdr = (size_t)(cr - (buf + pos));
                if (pos + hdr + 2 > len) {
                    res->need = 1;
                    return PX_EAGAIN;
                }
                if (buf[pos] != '$') {
                    res->err = RESP_REQ_ERR_EXPECTED_DOLLAR;
                    res->bad_char = buf[pos];
                    return PX_EPROTO;
                }
                if (!resp_str2ll(buf + pos + 1, hdr - 1, &ll) || ll < 0) {
                    res->err = RESP_REQ_ERR_BULK_INVALID;
                    return PX_EPROTO;
                }
            }
            if (ll > lim->max_bulk) {
                res->err = RESP_REQ_ERR_BULK_INVALID;
                return PX_EPROTO;
            }
            if (lim->unauth && ll > RESP_UNAUTH_MAX_BULK) {
                res->err = RESP_REQ_ERR_UNAUTH_BULK;
                return PX_EPROTO;
            }
            pos += hdr + 2;
            p->pos = (uint32_t)pos;
            p->bulk = ll;
        }
        size_t want = (size_t)p->bulk + 2;
        if (len - pos < want) {
            res->need = resp_need(want - (len - pos));
            return PX_EAGAIN;
        }
        push_arg(p, (uint32_t)pos, (uint32_t)p->bulk);
        p->pos = (uint32_t)(pos + want);
        p->bulk = -1;
    }
    res->len = p->pos;
    return 0;
}

int resp_req_strerror(const struct resp_req_result *res, char *out, size_t outlen)
{
    switch (res->err) {
    case RESP_REQ_ERR_INLINE_TOO_BIG:
        return snprintf(out, outlen, "Protocol error: too big inline request");
    case RESP_REQ_ERR_UNBALANCED_QUOTES:
        return snprintf(out, outlen, "Protocol error: unbalanced quotes in request");
    case RESP_REQ_ERR_MBULK_TOO_BIG:
        return snprintf(out, outlen, "Protocol error: too big mbulk count string");
    case RESP_REQ_ERR_MBULK_INVALID:
        return snprintf(out, outlen, "Protocol error: invalid multibulk length");
    case RESP_REQ_ERR_BULK_TOO_BIG:
        return snprintf(out, outlen, "Protocol error: too big bulk count string");
    case RESP_REQ_ERR_BULK_INVALID:
        return snprintf(out, outlen, "Protocol error: invalid bulk length");
    case RESP_REQ_ERR_UNAUTH_MBULK:
        return snprintf(out, outlen, "Protocol error: unauthenticated multibulk length");
    case RESP_REQ_ERR_UNAUTH_BULK:
        return snprintf(out, outlen, "Protocol error: unauthenticated bulk length");
    case RESP_REQ_ERR_EXPECTED_DOLLAR:
        /* Redis turns CR and LF in error messages into spaces, so the reply stays one line. */
        return snprintf(out, outlen, "Protocol error: expected '$', got '%c'",
                        (res->bad_char == '\r' || res->bad_char == '\n') ? ' ' : res->bad_char);
    default: return snprintf(out, outlen, "Protocol error");
    }
}
