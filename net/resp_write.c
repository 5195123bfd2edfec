/*
 * RESP writers; see resp_write.h. These build the replies the proxy composes itself: the answers
 * of local.c (PING, HELLO, CLIENT, CLUSTER ...), every error text (errors.c is the only caller of
 * resp_write_error) and the merged replies of fan-outs, each in its client's protocol (the RESP3
 * writers at the end fall back to the RESP2 shape Redis uses); and the commands the proxy sends on
 * its own (a runner's AUTH). The debug port uses the sbuf alone for its HTTP bodies. An sbuf is a
 * plain growable array owned by its user; the workers keep one per executor and clear it between
 * replies, so that building a reply does not allocate once the buffer has grown, and their cron
 * trims one that a single large reply left oversized (sbuf_trim).
 */
#include "resp_write.h"

#include "mem.h"
#include "resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sbuf_init(struct sbuf *s)
{
    s->buf = NULL;
    s->len = s->cap = 0;
}

void sbuf_free(struct sbuf *s)
{
    px_free(s->buf);
    sbuf_init(s);
}

void sbuf_trim(struct sbuf *s, size_t keep)
{
    if (s->cap > keep) sbuf_free(s);
}

/* Makes room for extra bytes after len. Doubling keeps appends amortised O(1); the first
 * allocation is 64 bytes, enough for most short replies. */
static void sbuf_reserve(struct sbuf *s, size_t extra)
{
    if (s->len + extra <= s->cap) return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->len + extra) cap *= 2;
    s->buf = px_realloc(s->buf, cap);
    s->cap = cap;
}

void sbuf_put(struct sbuf *s, const void *data, size_t len)
{
    if (len == 0) return; /* an empty buffer has no memory yet: nothing to copy into */
    sbuf_reserve(s, len);
    memcpy(s->buf + s->len, data, len);
    s->len += len;
}

void sbuf_puts(struct sbuf *s, const char *str)
{
    sbuf_put(s, str, strlen(str));
}

/* Two passes, one to measure and one to write, so that the text goes straight into the buffer
 * whatever its length. vsnprintf writes a NUL after the text: reserved, but not counted in len. */
static void sbuf_vprintf(struct sbuf *s, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n <= 0) return;
    sbuf_reserve(s, (size_t)n + 1);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    s->len += (size_t)n;
}

void sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(s, fmt, ap);
    va_end(ap);
}

void resp_write_simple(struct sbuf *s, const char *text)
{
    sbuf_put(s, "+", 1);
    sbuf_puts(s, text);
    sbuf_put(s, "\r\n", 2);
}

/* An error line must stay one line: a CR or LF in the text (an argument quoted back to the client,
 * say) would end it early and desynchronise the client's parser. */
void resp_write_error(struct sbuf *s, const char *text, size_t len)
{
    sbuf_put(s, "-", 1);
    size_t start = s->len;
    sbuf_put(s, text, len);
    for (size_t i = start; i < s->len; i++)
        if (s->buf[i] == '\r' || s->buf[i] == '\n') s->buf[i] = ' ';
    sbuf_put(s, "\r\n", 2);
}

/* Formats into a scratch buffer first, so that the CR and LF rule applies to the formatted text. */
void resp_write_errorf(struct sbuf *s, const char *fmt, ...)
{
    struct sbuf tmp;
    sbuf_init(&tmp);
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(&tmp, fmt, ap);
    va_end(ap);
    resp_write_error(s, tmp.buf ? tmp.buf : "", tmp.len);
    sbuf_free(&tmp);
}

/* A type byte, a decimal number and CRLF: the header of bulks and arrays, and whole integers. */
static void write_len(struct sbuf *s, char type, long long n)
{
    char b[32];
    b[0] = type;
    int k = 1 + resp_ll2str(b + 1, n);
    b[k++] = '\r';
    b[k++] = '\n';
    sbuf_put(s, b, (size_t)k);
}

void resp_write_int(struct sbuf *s, long long v)
{
    write_len(s, ':', v);
}

/* Binary-safe: the length, not the content, says where the body ends. */
void resp_write_bulk(struct sbuf *s, const void *data, size_t len)
{
    write_len(s, '$', (long long)len);
    sbuf_put(s, data, len);
    sbuf_put(s, "\r\n", 2);
}

void resp_write_null_bulk(struct sbuf *s)
{
    sbuf_put(s, "$-1\r\n", 5);
}

void resp_write_array_len(struct sbuf *s, long long n)
{
    write_len(s, '*', n);
}

/* ---- RESP3 types, written for the client's protocol ----
 *
 * Redis answers a RESP2 client with the nearest RESP2 shape of each RESP3 type (networking.c's
 * addReplyMapLen, addReplyNull, addReplyVerbatim, ...): a map becomes a flat array of twice its
 * length, a set an array, null a null bulk (or null array), a verbatim string a bulk string, a
 * boolean an integer. These writers do the same, so one code path serves both protocols. */

void resp_write_null(struct sbuf *s, int resp)
{
    if (resp >= 3)
        sbuf_put(s, "_\r\n", 3);
    else
        sbuf_put(s, "$-1\r\n", 5);
}

void resp_write_null_array(struct sbuf *s, int resp)
{
    if (resp >= 3)
        sbuf_put(s, "_\r\n", 3);
    else
        sbuf_put(s, "*-1\r\n", 5);
}

void resp_write_map_len(struct sbuf *s, long long n, int resp)
{
    if (resp >= 3)
        write_len(s, '%', n);
    else
        write_len(s, '*', 2 * n);
}

void resp_write_set_len(struct sbuf *s, long long n, int resp)
{
    write_len(s, resp >= 3 ? '~' : '*', n);
}

void resp_write_push_len(struct sbuf *s, long long n, int resp)
{
    write_len(s, resp >= 3 ? '>' : '*', n);
}

void resp_write_verbatim(struct sbuf *s, const char *ext, const void *data, size_t len, int resp)
{
    if (resp < 3) {
        resp_write_bulk(s, data, len);
        return;
    }
    /* "=<len>\r\nxxx:<data>\r\n": the three-character extension counts in the length. */
    write_len(s, '=', (long long)len + 4);
    char e[4] = {' ', ' ', ' ', ':'};
    for (int i = 0; i < 3 && ext[i]; i++) e[i] = ext[i];
    sbuf_put(s, e, 4);
    sbuf_put(s, data, len);
    sbuf_put(s, "\r\n", 2);
}

void resp_write_bool(struct sbuf *s, int v, int resp)
{
    if (resp >= 3)
        sbuf_put(s, v ? "#t\r\n" : "#f\r\n", 4);
    else
        sbuf_put(s, v ? ":1\r\n" : ":0\r\n", 4);
}
