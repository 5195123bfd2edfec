/*
 * The HTTP front's translations; see httpjson.h for the mapping.
 *
 * JSON bodies are parsed by jansson (Debian's libjansson), with duplicate keys refused and its
 * compiled-in nesting limit; nothing here parses JSON by hand. Replies are written by hand,
 * straight from the RESP bytes, by a recursive walk over one complete reply (framed by the
 * worker's reply framer, so well-formed; every read is still bounds-checked, and nesting deeper
 * than JSON_REPLY_MAX_DEPTH is refused rather than recursed into).
 */
#include "httpjson.h"

#include "mem.h"
#include "resp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_REPLY_MAX_DEPTH 128 /* Redis's replies nest a few levels; scripts' a few more */

/* ---- arguments ---- */

void http_args_init(struct http_args *a)
{
    memset(a, 0, sizeof(*a));
    sbuf_init(&a->bytes);
    a->resp = 2;
}

void http_args_free(struct http_args *a)
{
    sbuf_free(&a->bytes);
    px_free(a->off);
    px_free(a->len);
    memset(a, 0, sizeof(*a));
}

void http_args_add(struct http_args *a, const char *p, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->off = px_realloc(a->off, a->cap * sizeof(*a->off));
        a->len = px_realloc(a->len, a->cap * sizeof(*a->len));
    }
    a->off[a->n] = (uint32_t)a->bytes.len;
    a->len[a->n] = (uint32_t)len;
    a->n++;
    if (len) sbuf_put(&a->bytes, p, len);
}

void httpjson_request(const struct http_args *a, struct sbuf *out)
{
    resp_write_array_len(out, a->n);
    for (uint32_t i = 0; i < a->n; i++)
        resp_write_bulk(out, a->bytes.buf ? a->bytes.buf + a->off[i] : "", a->len[i]);
}

/* ---- base64 and UTF-8 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void httpjson_base64(struct sbuf *out, const unsigned char *p, size_t len)
{
    char q[4];
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        q[0] = b64[v >> 18];
        q[1] = b64[(v >> 12) & 63];
        q[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < len ? b64[v & 63] : '=';
        sbuf_put(out, q, 4);
    }
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int httpjson_unbase64(const char *p, size_t len, struct sbuf *out)
{
    if (len % 4) return -1;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int pad = last ? (p[i + 3] == '=') + (p[i + 2] == '=' && p[i + 3] == '=') : 0;
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = k >= 4 - pad ? 0 : b64_val(p[i + (size_t)k]);
            if (v[k] < 0) return -1;
        }
        unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
                              (unsigned char)((v[1] & 15) << 4 | v[2] >> 2),
                              (unsigned char)((v[2] & 3) << 6 | v[3])};
        sbuf_put(out, b, (size_t)(3 - pad));
    }
    return 0;
}

int httpjson_basic_auth(const char *value, size_t len, struct sbuf *user, struct sbuf *pass)
{
    const char *p = value, *end = value + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (end - p < 6 || strncasecmp(p, "basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
        return -1;
    p += 6;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    struct sbuf plain;
    sbuf_init(&plain);
    int rc = -1;
    if (p < end && !memchr(p, '\0', (size_t)(end - p)) &&
        httpjson_unbase64(p, (size_t)(end - p), &plain) == 0 && plain.len) {
        const char *colon = memchr(plain.buf, ':', plain.len);
        if (colon && !memchr(plain.buf, '\0', plain.len)) {
            size_t ul = (size_t)(colon - plain.buf);
            sbuf_put(user, plain.buf, ul);
            sbuf_put(pass, colon + 1, plain.len - ul - 1);
            rc = 0;
        }
    }
    if (plain.buf) memset(plain.buf, 0, plain.cap); /* it held the password */
    sbuf_free(&plain);
    return rc;
}

int httpjson_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - p) < n + 1) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

/* ---- JSON output ---- */

/* A JSON string of valid UTF-8 text: quotes, backslashes and control characters escaped. */
static void json_text(struct sbuf *o, const char *p, size_t len)
{
    sbuf_put(o, "\"", 1);
    size_t run = 0; /* bytes not yet copied that need no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sbuf_put(o, p + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sbuf_puts(o, "\\\""); break;
        case '\\': sbuf_puts(o, "\\\\"); break;
        case '\n': sbuf_puts(o, "\\n"); break;
        case '\r': sbuf_puts(o, "\\r"); break;
        case '\t': sbuf_puts(o, "\\t"); break;
        case '\b': sbuf_puts(o, "\\b"); break;
        case '\f': sbuf_puts(o, "\\f"); break;
        default: sbuf_printf(o, "\\u%04x", c); break;
        }
    }
    sbuf_put(o, p + run, len - run);
    sbuf_put(o, "\"", 1);
}

/* A byte string: text when it is UTF-8, {"base64": "..."} otherwise. */
static void json_bytes(struct sbuf *o, const char *p, size_t len)
{
    if (httpjson_utf8_valid(p, len)) {
        json_text(o, p, len);
        return;
    }
    sbuf_puts(o, "{\"base64\": \"");
    httpjson_base64(o, (const unsigned char *)p, len);
    sbuf_puts(o, "\"}");
}

void httpjson_error(struct sbuf *out, const char *text, size_t len)
{
    sbuf_puts(out, "{\"error\": ");
    json_bytes(out, text, len);
    sbuf_puts(out, "}");
}

/* ---- RESP to JSON ---- */

struct walk {
    const char *p, *end;
    struct sbuf *out;
    int depth;
};

/* The line at w->p after the type byte, up to CRLF; w->p moves past it. Returns -1 when there
 * is no complete line. */
static int take_line(struct walk *w, const char **line, size_t *len)
{
    const char *start = w->p + 1;
    for (const char *q = start; q + 1 < w->end; q++) {
        if (q[0] == '\r' && q[1] == '\n') {
            *line = start;
            *len = (size_t)(q - start);
            w->p = q + 2;
            return 0;
        }
    }
    return -1;
}

/* A length or count line: its value (-1 for nulls). */
static int take_count(struct walk *w, long long *n)
{
    const char *line;
    size_t len;
    if (take_line(w, &line, &len) < 0 || !resp_str2ll(line, len, n) || *n < -1) return -1;
    return 0;
}

/* The body of a bulk-like value of n bytes at w->p; w->p moves past it and its CRLF. */
static int take_body(struct walk *w, long long n, const char **body)
{
    if (n < 0 || w->end - w->p < n + 2 || w->p[n] != '\r' || w->p[n + 1] != '\n') return -1;
    *body = w->p;
    w->p += n + 2;
    return 0;
}

/* 1 when text is a number as JSON writes one. */
static int json_number_ok(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    } else {
        return 0;
    }
    if (i < len && s[i] == '.') {
        if (++i >= len || s[i] < '0' || s[i] > '9') return 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || s[i] < '0' || s[i] > '9') return 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i == len;
}

static int walk_value(struct walk *w);

/* n elements, as a JSON array. */
static int walk_array(struct walk *w, long long n)
{
    sbuf_puts(w->out, "[");
    for (long long i = 0; i < n; i++) {
        if (i) sbuf_puts(w->out, ", ");
        if (walk_value(w) < 0) return -1;
    }
    sbuf_puts(w->out, "]");
    return 0;
}

/* A map key, written as a JSON object's key when it can be one. Returns 1 when written, 0 when
 * the key cannot be an object key (nothing written, w->p unchanged), -1 when malformed. */
static int walk_key(struct walk *w)
{
    const char *line, *body;
    size_t len;
    long long n;
    const char *at = w->p;
    switch (*w->p) {
    case '+':
        if (take_line(w, &line, &len) < 0) return -1;
        break;
    case ':':
        if (take_line(w, &line, &len) < 0) return -1;
        if (!json_number_ok(line, len)) break;
        json_text(w->out, line, len); /* an integer key, as its decimal text */
        return 1;
    case '$':
    case '=':
        if (take_count(w, &n) < 0) return -1;
        if (n < 0 || take_body(w, n, &body) < 0) {
            w->p = at;
            return 0;
        }
        line = body, len = (size_t)n;
        if (*at == '=' && len >= 4) line += 4, len -= 4; /* "txt:" */
        break;
    default: return 0;
    }
    if (!httpjson_utf8_valid(line, len)) {
        w->p = at;
        return 0;
    }
    json_text(w->out, line, len);
    return 1;
}

/* n pairs: an object when every key can be an object key, else an array of [key, value]. */
static int walk_map(struct walk *w, long long n)
{
    const char *start = w->p;
    size_t mark = w->out->len;
    sbuf_puts(w->out, "{");
    for (long long i = 0; i < n; i++) {
        if (i) sbuf_puts(w->out, ", ");
        int k = walk_key(w);
        if (k < 0) return -1;
        if (k == 0) {
            /* Start again, as pairs. */
            w->p = start;
            w->out->len = mark;
            sbuf_puts(w->out, "[");
            for (long long j = 0; j < n; j++) {
                sbuf_puts(w->out, j ? ", [" : "[");
                if (walk_value(w) < 0) return -1;
                sbuf_puts(w->out, ", ");
                if (walk_value(w) < 0) return -1;
                sbuf_puts(w->out, "]");
            }
            sbuf_puts(w->out, "]");
            return 0;
        }
        sbuf_puts(w->out, ": ");
        if (walk_value(w) < 0) return -1;
    }
    sbuf_puts(w->out, "}");
    return 0;
}

/* Skips one value (an attribute's contents). */
static int skip_value(struct walk *w)
{
    struct sbuf scratch;
    sbuf_init(&scratch);
    struct sbuf *keep = w->out;
    w->out = &scratch;
    int rc = walk_value(w);
    w->out = keep;
    sbuf_free(&scratch);
    return rc;
}

static int walk_value(struct walk *w)
{
    if (w->p >= w->end || ++w->depth > JSON_REPLY_MAX_DEPTH) return -1;
    const char *line, *body;
    size_t len;
    long long n;
    int rc = 0;
    char type = *w->p;
    switch (type) {
    case '+':
        if (take_line(w, &line, &len) < 0) return -1;
        json_bytes(w->out, line, len);
        break;
    case '-':
        if (take_line(w, &line, &len) < 0) return -1;
        httpjson_error(w->out, line, len);
        break;
    case ':':
        if (take_line(w, &line, &len) < 0 || !json_number_ok(line, len)) return -1;
        sbuf_put(w->out, line, len);
        break;
    case ',':
        if (take_line(w, &line, &len) < 0) return -1;
        if (json_number_ok(line, len))
            sbuf_put(w->out, line, len);
        else
            json_bytes(w->out, line, len); /* inf, -inf, nan */
        break;
    case '(':
        if (take_line(w, &line, &len) < 0) return -1;
        json_bytes(w->out, line, len);
        break;
    case '#':
        if (take_line(w, &line, &len) < 0 || len != 1 || (line[0] != 't' && line[0] != 'f'))
            return -1;
        sbuf_puts(w->out, line[0] == 't' ? "true" : "false");
        break;
    case '_':
        if (take_line(w, &line, &len) < 0) return -1;
        sbuf_puts(w->out, "null");
        break;
    case '$':
    case '!':
    case '=':
        if (take_count(w, &n) < 0) return -1;
        if (n < 0) {
            sbuf_puts(w->out, "null");
            break;
        }
        if (take_body(w, n, &body) < 0) return -1;
        len = (size_t)n;
        if (type == '!') {
            httpjson_error(w->out, body, len);
        } else {
            if (type == '=' && len >= 4) body += 4, len -= 4; /* "txt:", "mkd:" */
            json_bytes(w->out, body, len);
        }
        break;
    case '*':
    case '~':
    case '>':
        if (take_count(w, &n) < 0) return -1;
        if (n < 0)
            sbuf_puts(w->out, "null");
        else
            rc = walk_array(w, n);
        break;
    case '%':
        if (take_count(w, &n) < 0 || n < 0) return -1;
        rc = walk_map(w, n);
        break;
    case '|': /* an attribute: its map is left out, the value after it is the value */
        if (take_count(w, &n) < 0 || n < 0) return -1;
        for (long long i = 0; i < 2 * n && rc == 0; i++) rc = skip_value(w);
        if (rc == 0) {
            w->depth--;
            return walk_value(w);
        }
        break;
    default: return -1;
    }
    w->depth--;
    return rc;
}

/* The text of a top-level error reply ('-' line or '!' bulk error). Returns 0, or -1. */
static int error_text(const char *reply, size_t len, const char **t, size_t *tl)
{
    struct walk w = {reply, reply + len, NULL, 0};
    if (reply[0] == '-') return take_line(&w, t, tl);
    long long n;
    if (take_count(&w, &n) < 0 || take_body(&w, n, t) < 0) return -1;
    *tl = (size_t)n;
    return 0;
}

unsigned httpjson_reply(const char *reply, size_t len, struct sbuf *out)
{
    size_t mark = out->len;
    if (len > 0 && (reply[0] == '-' || reply[0] == '!')) {
        const char *t;
        size_t tl;
        if (error_text(reply, len, &t, &tl) == 0) {
            httpjson_error(out, t, tl);
            return errors_http_status(t, tl);
        }
    }
    struct walk w = {reply, reply + len, out, 0};
    sbuf_puts(out, "{\"response\": ");
    if (len > 0 && walk_value(&w) == 0 && w.p == w.end) {
        sbuf_puts(out, "}");
        return 200;
    }
    out->len = mark;
    struct sbuf e;
    sbuf_init(&e);
    errors_http(&e, PXH_BAD_REPLY, NULL);
    httpjson_error(out, e.buf, e.len);
    sbuf_free(&e);
    return 502;
}

/* ---- JSON input ---- */

/* One argument from a JSON value. Returns 0 or PXH_BAD_ARGUMENT. */
static int json_arg(json_t *v, struct http_args *out, struct sbuf *scratch)
{
    char num[64];
    if (json_is_string(v)) {
        http_args_add(out, json_string_value(v), json_string_length(v));
        return 0;
    }
    if (json_is_integer(v)) {
        int n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        http_args_add(out, num, (size_t)n);
        return 0;
    }
    if (json_is_real(v)) {
        /* The shortest text that reads back as the same double. */
        double d = json_real_value(v);
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(num, sizeof(num), "%.*g", prec, d);
            if (strtod(num, NULL) == d) break;
        }
        http_args_add(out, num, (size_t)n);
        return 0;
    }
    json_t *b = json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, "base64") : NULL;
    if (b && json_is_string(b)) {
        sbuf_clear(scratch);
        if (httpjson_unbase64(json_string_value(b), json_string_length(b), scratch) == 0) {
            http_args_add(out, scratch->buf ? scratch->buf : "", scratch->len);
            return 0;
        }
    }
    return PXH_BAD_ARGUMENT;
}

int httpjson_parse_json(const char *body, size_t len, struct http_args *out, char *detail,
                        size_t dlen)
{
    detail[0] = '\0';
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        snprintf(detail, dlen, "%s (line %d, column %d)", je.text, je.line, je.column);
        return PXH_BAD_JSON;
    }
    int rc = 0;
    struct sbuf scratch;
    sbuf_init(&scratch);
    const char *key;
    json_t *v;
    if (!json_is_object(root)) {
        snprintf(detail, dlen, "the body must be a JSON object");
        rc = PXH_BAD_JSON;
        goto done;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "command") && strcmp(key, "arguments") && strcmp(key, "resp")) {
            snprintf(detail, dlen, "unknown field \"%.64s\"", key);
            rc = PXH_BAD_JSON;
            goto done;
        }
    }
    v = json_object_get(root, "command");
    if (!v || !json_is_string(v) || json_string_length(v) == 0) {
        rc = PXH_NO_COMMAND;
        goto done;
    }
    http_args_add(out, json_string_value(v), json_string_length(v));
    v = json_object_get(root, "arguments");
    if (v && !json_is_array(v)) {
        snprintf(detail, dlen, "\"arguments\" must be an array");
        rc = PXH_BAD_JSON;
        goto done;
    }
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a)
    {
        if ((rc = json_arg(a, out, &scratch)) != 0) {
            snprintf(detail, dlen, "argument %zu", i + 1);
            goto done;
        }
    }
    v = json_object_get(root, "resp");
    if (v) {
        if (!json_is_integer(v) || (json_integer_value(v) != 2 && json_integer_value(v) != 3)) {
            rc = PXH_BAD_RESP;
            goto done;
        }
        out->resp = (int)json_integer_value(v);
    }
done:
    sbuf_free(&scratch);
    json_decref(root);
    return rc;
}

int httpjson_from_form(const char *command, size_t clen, const char *arguments, size_t alen,
                       const char *resp, size_t rlen, struct http_args *out)
{
    if (!command || clen == 0) return PXH_NO_COMMAND;
    http_args_add(out, command, clen);
    if (arguments && alen) {
        size_t start = 0;
        for (size_t i = 0; i <= alen; i++) {
            if (i < alen && arguments[i] != ',') continue;
            http_args_add(out, arguments + start, i - start);
            start = i + 1;
        }
    }
    if (resp) {
        if (rlen != 1 || (resp[0] != '2' && resp[0] != '3')) return PXH_BAD_RESP;
        out->resp = resp[0] - '0';
    }
    return 0;
}
