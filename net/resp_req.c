/*
 * RESP request parser; see resp_req.h. It follows Redis's processMultibulkBuffer and
 * processInlineBuffer closely, including their quirks (a length line ends at the first '\r' and
 * the byte after it is not checked; a bulk's trailing two bytes are skipped unchecked), because
 * the bytes are forwarded to a Redis that parses them the same way.
 *
 * The session calls resp_req_parse on its read chunk, from the first byte of the first request
 * not yet taken, after every read. A complete request comes back as argument spans, which become
 * the request's argv, and its bytes are forwarded to the node as they arrived; only an inline
 * request is re-encoded. A protocol error carries the enum of the Redis text to answer with
 * (errors.c renders it), and the session closes the connection after that reply, as Redis does.
 */
#include "resp_req.h"

#include "mem.h"
#include "px_errors.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

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

/* bulk -1 means that no argument header has been read yet. */
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

/* The arrays stay for the next request, so a busy client is parsed without allocating. */
void resp_req_reset(struct resp_req_parser *p)
{
    p->pos = 0;
    p->nargs = 0;
    p->bulk = -1;
    p->argc = 0;
    p->inl_len = 0;
}

/* A small argument array (64 spans, 512 bytes) is kept; only what a request with many arguments
 * grew is given back. */
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

/* Only between requests: a request half parsed still needs its spans and its inline bytes. */
void resp_req_release(struct resp_req_parser *p)
{
    if (p->argc != 0 || p->nargs != 0 || p->inl_len != 0) return;
    px_free(p->argv);
    px_free(p->inl);
    p->argv = NULL;
    p->inl = NULL;
    p->argv_cap = p->inl_cap = 0;
}

/* Spans are offsets rather than pointers, so the caller may move the buffer between calls. */
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

/* Appends to the re-encoded inline request. */
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

/* isspace() in the C locale, which is what sdssplitargs sees, without depending on the locale. */
static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

/* A hex digit's value, or -1: for the \xHH escapes inside double quotes. */
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

/* Appends one byte to the token being built. */
static void split_put(struct split_out *o, char c)
{
    if (o->len == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 128;
        o->bytes = px_realloc(o->bytes, o->cap);
    }
    o->bytes[o->len++] = c;
}

/* Ends the token that began at start. */
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
            /* Inside double quotes: \xHH and the C escapes \n \r \t \b \a; any other escaped byte
             * stands for itself. */
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
                /* Inside single quotes only \' is an escape. */
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
                /* Outside quotes a token ends at a space, tab, CR or LF, and a quote opens a
                 * quoted part of it. */
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

/* An inline request: one line up to '\n', a '\r' before it dropped. With no line end within
 * inline_max bytes it is an error, as in Redis. */
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
        res->is_inline = 1; /* the reader may size its reads as Redis does for inline lines */
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
    /* Re-encoded as multibulk in p->inl: the proxy forwards those bytes, and the spans point into
     * them. An empty line gives no argument at all, and the caller skips it. */
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

/* The general path of a length line ("*<n>\r\n" or "$<n>\r\n" at line[0], avail bytes there):
 * finds its '\r' and makes sure the byte after it has arrived. A line that has no '\r' within
 * the inline limit is the protocol error too_big, as Redis says. Returns 0 with the header's
 * length up to the '\r' in *hdr, PX_EAGAIN (res->need set), or PX_EPROTO (res->err set). */
static int line_end(const char *line, size_t avail, const struct resp_req_limits *lim,
                    enum resp_req_error too_big, size_t *hdr, struct resp_req_result *res)
{
    const char *cr = find_line_end(line, avail, '\r');
    if (!cr) {
        if (avail > lim->inline_max) {
            res->err = too_big;
            return PX_EPROTO;
        }
        res->need = 1;
        return PX_EAGAIN;
    }
    *hdr = (size_t)(cr - line);
    if (*hdr + 2 > avail) { /* the byte after '\r' has not arrived */
        res->need = 1;
        return PX_EAGAIN;
    }
    return 0;
}

int resp_req_parse(struct resp_req_parser *p, const char *buf, size_t len,
                   const struct resp_req_limits *lim, struct resp_req_result *res)
{
    memset(res, 0, sizeof(*res));
    /* nargs 0: the header has not been read; anything but '*' starts an inline request. Otherwise
     * an earlier call read the header and this one resumes in the arguments. */
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
            int rc = line_end(buf, len, lim, RESP_REQ_ERR_MBULK_TOO_BIG, &hdr, res);
            if (rc) return rc;
            if (!resp_str2ll(buf + 1, hdr - 1, &ll)) {
                res->err = RESP_REQ_ERR_MBULK_INVALID;
                return PX_EPROTO;
            }
        }
        if (ll > lim->max_args) {
            res->err = RESP_REQ_ERR_MBULK_INVALID;
            return PX_EPROTO;
        }
        /* Before AUTH, Redis allows only small requests (CVE-2021-32675): a client that has not
         * authenticated cannot make the proxy buffer a large one. */
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
    /* One argument per round: a '$' header, then the body and its two trailing bytes. p->bulk keeps
     * a header read in an earlier call. */
    while ((long long)p->argc < p->nargs) {
        size_t pos = p->pos;
        if (p->bulk < 0) {
            long long ll;
            size_t hdr;
            if (pos < len && buf[pos] == '$' &&
                resp_len_line(buf + pos + 1, len - pos - 1, &ll, &hdr)) {
                hdr++; /* the '$' */
            } else {
                int rc = line_end(buf + pos, len - pos, lim, RESP_REQ_ERR_BULK_TOO_BIG, &hdr, res);
                if (rc) return rc;
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
            /* What the body still lacks, so that the reader can size its next read. */
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

