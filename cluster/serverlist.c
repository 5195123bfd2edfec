/*
 * Server-list parsers; see serverlist.h. Both walk the buffer a line at a time, copy the host
 * and name of each server into one owned block (serverlist.text) and stop at the first bad
 * line. The config layer hands them the contents of -pool-servers (twemproxy lines) or of a
 * redis-router servers file.
 */
#include "serverlist.h"

#include "mem.h"
#include "px_errors.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct builder {
    struct serverlist *sl;
    char *w; /* next free byte of sl->text */
};

__attribute__((format(printf, 3, 4))) static int fail(struct serverlist_error *err, unsigned line,
                                                      const char *fmt, ...)
{
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return PX_EINVAL;
}

static const char *store(struct builder *b, const char *p, size_t n)
{
    char *s = b->w;
    memcpy(s, p, n);
    s[n] = '\0';
    b->w += n + 1;
    return s;
}

/* Allocates room for as many servers as buf has lines, and for their strings. */
static void builder_init(struct builder *b, struct serverlist *sl, const char *buf, size_t len)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    memset(sl, 0, sizeof(*sl));
    sl->servers = px_calloc(lines, sizeof(*sl->servers));
    /* host and name of a server are each at most as long as its line, plus a NUL. */
    sl->text = px_malloc(2 * len + 2 * lines + 2);
    b->sl = sl;
    b->w = sl->text;
}

/* A decimal made of digits only, at most max. Returns 0, -1 when not all digits (or empty),
 * -2 when above max. */
static int parse_digits(const char *p, size_t n, long long max, long long *out)
{
    if (n == 0) return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
        if (v > max) return -2;
    }
    *out = v;
    return 0;
}

static const char *last_of(const char *p, size_t n, char c)
{
    for (size_t i = n; i-- > 0;)
        if (p[i] == c) return p + i;
    return NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- twemproxy --------------------------------------------------------------------------- */

/* Strips what YAML wraps around a list item's value: "- ", quotes, or a " # comment". */
static int yaml_unwrap(const char **pp, size_t *pn, unsigned line, struct serverlist_error *err)
{
    const char *p = *pp;
    size_t n = *pn;
    if (p[0] == '-' && (n == 1 || is_blank(p[1]))) {
        p++, n--;
        while (n && is_blank(*p)) p++, n--;
        if (n == 0) return fail(err, line, "line %u: empty list item", line);
    }
    if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
        p++, n -= 2;
    } else {
        for (size_t i = 1; i < n; i++)
            if (p[i] == '#' && is_blank(p[i - 1])) {
                n = i;
                break;
            }
        while (n && is_blank(p[n - 1])) n--;
    }
    *pp = p;
    *pn = n;
    return 0;
}

static int twemproxy_line(struct builder *b, const char *p, size_t n, unsigned line,
                          struct serverlist_error *err)
{
    int rc = yaml_unwrap(&p, &n, line, err);
    if (rc) return rc;
    if (n && p[0] == '/')
        return fail(err, line, "line %u: unix socket servers are not supported", line);

    /* nutcracker reads the line from its end: " name", then ":weight", then ":port". */
    const char *name = NULL;
    size_t namelen = 0, restlen = n;
    const char *sp = last_of(p, n, ' ');
    if (sp) {
        name = sp + 1;
        namelen = (size_t)(p + n - name);
        restlen = (size_t)(sp - p);
        if (namelen == 0) return fail(err, line, "line %u: empty server name", line);
    }
    const char *c1 = last_of(p, restlen, ':');
    const char *c2 = c1 ? last_of(p, (size_t)(c1 - p), ':') : NULL;
    if (!c2 || c2 == p)
        return fail(err, line, "line %u: expected \"host:port:weight [name]\", got \"%.*s\"", line,
                    (int)n, p);
    long long weight, port;
    const char *ws = c1 + 1;
    size_t wl = (size_t)(p + restlen - ws);
    if (parse_digits(ws, wl, INT_MAX, &weight) != 0)
        return fail(err, line, "line %u: invalid weight \"%.*s\"", line, (int)wl, ws);
    if (weight == 0) return fail(err, line, "line %u: zero weight", line);
    const char *ps = c2 + 1;
    size_t pl = (size_t)(c1 - ps);
    if (parse_digits(ps, pl, 65535, &port) != 0 || port == 0)
        return fail(err, line, "line %u: invalid port \"%.*s\"", line, (int)pl, ps);

    struct placement_server *s = &b->sl->servers[b->sl->n++];
    s->host = store(b, p, (size_t)(c2 - p));
    s->port = (int)port;
    s->weight = (uint32_t)weight;
    s->name = name ? store(b, name, namelen) : NULL;
    return 0;
}

int serverlist_parse_twemproxy(const char *buf, size_t len, struct serverlist *out,
                               struct serverlist_error *err)
{
    struct builder b;
    builder_init(&b, out, buf, len);
    memset(err, 0, sizeof(*err));
    unsigned line = 0;
    int rc = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *p = buf + pos;
        size_t n = end - pos;
        pos = end + 1;
        line++;
        while (n && is_blank(*p)) p++, n--;
        while (n && (is_blank(p[n - 1]) || p[n - 1] == '\r')) n--;
        if (n == 0 || p[0] == '#') continue;
        rc = twemproxy_line(&b, p, n, line, err);
    }
    if (rc == 0 && out->n == 0) rc = fail(err, 0, "no servers");
    if (rc) serverlist_deinit(out);
    return rc;
}

/* ---- libketama --------------------------------------------------------------------------- */

/* libketama's strtok(line, "\t "): the next token at or after *pos, up to a space, a tab or the
 * end of the line (which, unlike the delimiters, a token may contain: the newline). */
static bool next_token(const char *p, size_t n, size_t *pos, const char **tok, size_t *tl)
{
    size_t i = *pos;
    while (i < n && is_blank(p[i])) i++;
    if (i == n) return false;
    size_t j = i;
    while (j < n && !is_blank(p[j])) j++;
    *tok = p + i;
    *tl = j - i;
    *pos = j;
    return true;
}

/* The weight as libketama's strtol reads the token less its last byte: optional leading
 * whitespace and '+', then digits; whatever follows them is ignored. */
static int ketama_weight(const char *tok, size_t tl, long long *out)
{
    size_t n = tl - 1, i = 0;
    while (i < n && (tok[i] == '\r' || tok[i] == '\n' || tok[i] == '\v' || tok[i] == '\f')) i++;
    if (i < n && tok[i] == '+') i++;
    size_t d = i;
    while (d < n && tok[d] >= '0' && tok[d] <= '9') d++;
    if (d == i) return -1;
    return parse_digits(tok + i, d - i, LONG_MAX, out);
}

static int ketama_line(struct builder *b, const char *p, size_t n, unsigned line,
                       struct serverlist_error *err)
{
    size_t pos = 0, al, tl;
    const char *addr, *tok;
    if (!next_token(p, n, &pos, &addr, &al) || !next_token(p, n, &pos, &tok, &tl))
        return fail(err, line, "line %u: expected \"host:port weight\"", line);
    if (al > PLACEMENT_LIBKETAMA_ADDR_MAX)
        return fail(err, line, "line %u: address longer than %d bytes (libketama's limit)", line,
                    PLACEMENT_LIBKETAMA_ADDR_MAX);
    long long weight;
    if (ketama_weight(tok, tl, &weight) != 0 || weight == 0)
        return fail(err, line, "line %u: invalid weight \"%.*s\" (libketama reads \"%.*s\")", line,
                    (int)(tl && tok[tl - 1] == '\n' ? tl - 1 : tl), tok, (int)(tl - 1), tok);
    const char *colon = last_of(addr, al, ':');
    long long port;
    if (!colon || colon == addr ||
        parse_digits(colon + 1, (size_t)(addr + al - colon - 1), 65535, &port) != 0 || port == 0)
        return fail(err, line, "line %u: address \"%.*s\" is not host:port", line, (int)al, addr);
    if (weight > UINT32_MAX)
        return fail(err, line, "line %u: weight above %u", line, (unsigned)UINT32_MAX);

    struct placement_server *s = &b->sl->servers[b->sl->n++];
    s->host = store(b, addr, (size_t)(colon - addr));
    s->port = (int)port;
    s->weight = (uint32_t)weight;
    s->name = store(b, addr, al);
    return 0;
}

int serverlist_parse_ketama(const char *buf, size_t len, struct serverlist *out,
                            struct serverlist_error *err)
{
    struct builder b;
    builder_init(&b, out, buf, len);
    memset(err, 0, sizeof(*err));
    unsigned line = 0;
    int rc = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) + 1 : len; /* the newline belongs to the line */
        const char *p = buf + pos;
        size_t n = end - pos;
        pos = end;
        line++;
        if (n < 2 || p[0] == '#') continue;
        if (n - (nl != NULL) > 125)
            rc = fail(err, line, "line %u: longer than 125 bytes (libketama splits it)", line);
        else
            rc = ketama_line(&b, p, n, line, err);
    }
    if (rc == 0 && out->n == 0) rc = fail(err, 0, "no servers");
    if (rc) serverlist_deinit(out);
    return rc;
}

void serverlist_deinit(struct serverlist *sl)
{
    px_free(sl->servers);
    px_free(sl->text);
    memset(sl, 0, sizeof(*sl));
}
