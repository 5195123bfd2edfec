/*
 * RESP reply framer; see resp_reply.h. Every byte a node sends passes through resp_reply_frame:
 * the backend runner calls it on its input chunk after each read, and the reply it delimits is
 * handed up as a span of that chunk, so replies reach clients byte for byte without being
 * rebuilt. The framer therefore only counts: lines, bulk lengths and the elements still owed at
 * each open aggregate, on a small stack. It checks what it must to stay in step with the stream
 * (CRLF after each bulk body, numeric lengths, a depth limit) and nothing more; a stream it cannot
 * follow is PX_EPROTO, and the runner drops the connection. resp_reply_elements() is the one
 * place that looks inside a reply, for the merges of fan-out replies and Pub/Sub messages.
 */
#include "resp_reply.h"

#include "mem.h"
#include "px_errors.h"
#include "resp.h"

#include <string.h>

/* The inline stack holds eight levels of nesting, more than ordinary replies use; a deeper reply
 * moves the stack to the heap (push_level). */
void resp_reply_init(struct resp_reply_framer *f)
{
    memset(f, 0, sizeof(*f));
    f->bulk = -1;
    f->stack = f->stack_inline;
    f->cap = sizeof(f->stack_inline) / sizeof(f->stack_inline[0]);
}

void resp_reply_deinit(struct resp_reply_framer *f)
{
    if (f->stack != f->stack_inline) px_free(f->stack);
    f->stack = f->stack_inline;
}

/* Also gives back a heap stack, so that one deeply nested reply does not keep memory for the rest
 * of the connection's life. */
void resp_reply_reset(struct resp_reply_framer *f)
{
    f->pos = 0;
    f->bulk = -1;
    f->type = 0;
    f->line_off = f->line_len = 0;
    f->depth = 0;
    if (f->stack != f->stack_inline) {
        px_free(f->stack);
        f->stack = f->stack_inline;
        f->cap = sizeof(f->stack_inline) / sizeof(f->stack_inline[0]);
    }
}

/* A prefix test on text that is not NUL-terminated. */
static int starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

enum resp_err_kind resp_reply_classify(const char *s, size_t len)
{
    /* The first byte picks the candidates, so an error costs two comparisons at most. MOVED and
     * ASK include their space: the redirect parser expects arguments after it. */
    switch (len ? s[0] : 0) {
    case 'M':
        if (starts(s, len, "MOVED ")) return RESP_ERRK_MOVED;
        if (starts(s, len, "MASTERDOWN")) return RESP_ERRK_MASTERDOWN;
        break;
    case 'A':
        if (starts(s, len, "ASK ")) return RESP_ERRK_ASK;
        break;
    case 'T':
        if (starts(s, len, "TRYAGAIN")) return RESP_ERRK_TRYAGAIN;
        break;
    case 'C':
        if (starts(s, len, "CLUSTERDOWN")) return RESP_ERRK_CLUSTERDOWN;
        break;
    case 'L':
        if (starts(s, len, "LOADING")) return RESP_ERRK_LOADING;
        break;
    case 'R':
        if (starts(s, len, "READONLY")) return RESP_ERRK_READONLY;
        break;
    case 'N':
        if (starts(s, len, "NOSCRIPT")) return RESP_ERRK_NOSCRIPT;
        break;
    default: break;
    }
    return RESP_ERRK_OTHER;
}

/* One element finished: count it against the open aggregates. Returns 1 when the whole reply is
 * complete. */
static int element_done(struct resp_reply_framer *f)
{
    while (f->depth > 0) {
        struct resp_frame_level *lv = &f->stack[f->depth - 1];
        if (--lv->remaining > 0) return 0;
        f->depth--;
        if (lv->attr) return 0; /* an attribute precedes the element it describes */
    }
    return 1;
}

/* Opens an aggregate with n elements to come. The depth limit keeps a hostile or broken node from
 * making the framer allocate without bound. */
static int push_level(struct resp_reply_framer *f, int64_t n, int attr)
{
    if (f->depth >= RESP_MAX_DEPTH) return PX_EPROTO;
    if (f->depth == f->cap) {
        uint32_t ncap = f->cap * 2;
        struct resp_frame_level *s = px_malloc(ncap * sizeof(*s));
        memcpy(s, f->stack, f->depth * sizeof(*s));
        if (f->stack != f->stack_inline) px_free(f->stack);
        f->stack = s;
        f->cap = ncap;
    }
    f->stack[f->depth].remaining = n;
    f->stack[f->depth].attr = attr;
    f->depth++;
    return 0;
}

int resp_reply_frame(struct resp_reply_framer *f, const char *buf, size_t len,
                     struct resp_reply_info *info)
{
    for (;;) {
        size_t pos = f->pos;
        /* Inside a bulk body: the body and its CRLF must all be there; the body is never looked
         * at. */
        if (f->bulk >= 0) {
            size_t want = (size_t)f->bulk + 2;
            if (len - pos < want) {
                info->need = resp_need(want - (len - pos));
                return PX_EAGAIN;
            }
            if (buf[pos + want - 2] != '\r' || buf[pos + want - 1] != '\n') return PX_EPROTO;
            f->pos = (uint32_t)(pos + want);
            f->bulk = -1;
            if (element_done(f)) goto complete;
            continue;
        }
        if (pos >= len) {
            info->need = 1;
            return PX_EAGAIN;
        }
        char t = buf[pos];
        const char *text = buf + pos + 1;
        size_t tlen, next;
        long long n;
        int have_n = 0;
        if ((t == '$' || t == '*') && resp_len_line(text, len - pos - 1, &n, &tlen)) {
            /* The usual bulk or array header: the line and its number in one pass. */
            if (text[tlen + 1] != '\n') return PX_EPROTO;
            next = pos + 1 + tlen + 2;
            have_n = 1;
        } else {
            /* Any other line: its end. A line cut by the end of the buffer is scanned again from
             * its start on the next call. */
            const char *cr = memchr(buf + pos, '\r', len - pos);
            if (!cr || (size_t)(cr - buf) + 2 > len) {
                info->need = 1;
                return PX_EAGAIN;
            }
            if (cr[1] != '\n') return PX_EPROTO;
            tlen = (size_t)(cr - text);
            next = (size_t)(cr - buf) + 2;
        }
        /* The top-level reply's type and line are kept for the caller (an error's text, a status);
         * an attribute in front of the reply is not the reply. */
        int top = f->depth == 0 && t != '|';
        if (top && f->type == 0) {
            f->type = t;
            f->line_off = (uint32_t)(pos + 1);
            f->line_len = (uint32_t)tlen;
        }
        switch (t) {
        /* One line and done: simple string, error, integer, and RESP3's null, double, boolean and
         * big number. */
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
        case '(':
            f->pos = (uint32_t)next;
            if (element_done(f)) goto complete;
            break;
        /* A length, then a body: '$' bulk string, '!' bulk error, '=' verbatim string; only '$' may
         * be null (-1). */
        case '$':
        case '!':
        case '=':
            if (!have_n && (!resp_str2ll(text, tlen, &n) || n < -1 || (n == -1 && t != '$')))
                return PX_EPROTO;
            f->pos = (uint32_t)next;
            if (n == -1) {
                if (element_done(f)) goto complete;
            } else {
                f->bulk = n;
            }
            break;
        /* A count, then elements: '*' array, '%' map, '~' set, '>' push, '|' attribute; only '*'
         * and '%' may be null (-1). */
        case '*':
        case '%':
        case '~':
        case '>':
        case '|':
            if (!have_n &&
                (!resp_str2ll(text, tlen, &n) || n < -1 || (n == -1 && t != '*' && t != '%')))
                return PX_EPROTO;
            /* A map or attribute holds two elements per entry; a count whose double does not
             * fit is not a reply anyone can send (and doubling it would overflow). */
            if ((t == '%' || t == '|') && n > INT64_MAX / 2) return PX_EPROTO;
            f->pos = (uint32_t)next;
            if (t == '%' || t == '|') n *= 2;
            if (n <= 0 && t == '|') break; /* an empty attribute describes nothing */
            if (n <= 0) {
                if (element_done(f)) goto complete;
            } else if (push_level(f, n, t == '|') < 0) {
                return PX_EPROTO;
            }
            break;
        default: return PX_EPROTO;
        }
    }
complete:
    info->len = f->pos;
    info->need = 0;
    info->type = f->type;
    info->line_off = f->line_off;
    info->line_len = f->line_len;
    info->err = RESP_ERRK_NONE;
    /* Only a simple error is classified: a RESP3 bulk error ('!') is never a redirect or a retry
     * hint, which Redis sends as simple errors. */
    if (f->type == '-')
        info->err = resp_reply_classify(buf + f->line_off, f->line_len);
    else if (f->type == '!')
        info->err = RESP_ERRK_OTHER;
    return 0;
}

/* The length of the element at p when it is a bulk string (or a null one), or a simple string,
 * error or integer, that is all there and well formed (what most aggregates hold); 0 for anything
 * else, which the framer then takes. */
static size_t flat_element_len(const char *p, size_t n)
{
    if (n < 3) return 0;
    long long bulk;
    size_t nd;
    switch (p[0]) {
    case '$': {
        if (p[1] == '-') /* a null bulk: "$-1\r\n" */
            return n >= 5 && p[2] == '1' && p[3] == '\r' && p[4] == '\n' ? 5 : 0;
        if (!resp_len_line(p + 1, n - 1, &bulk, &nd) || p[nd + 2] != '\n') return 0;
        size_t end = 1 + nd + 2 + (size_t)bulk + 2;
        if (end > n || p[end - 2] != '\r' || p[end - 1] != '\n') return 0;
        return end;
    }
    case '+':
    case '-':
    case ':': {
        const char *cr = memchr(p + 1, '\r', n - 1);
        if (!cr || (size_t)(cr - p) + 2 > n || cr[1] != '\n') return 0;
        return (size_t)(cr - p) + 2;
    }
    default: return 0;
    }
}

int resp_reply_elements(const char *buf, size_t len, struct resp_span *out, uint32_t max,
                        uint32_t *count)
{
    *count = 0;
    if (len < 4 || (buf[0] != '*' && buf[0] != '~' && buf[0] != '>')) return PX_EPROTO;
    long long n;
    size_t pos;
    if (resp_len_line(buf + 1, len - 1, &n, &pos)) {
        pos += 3; /* the type byte, '\r' and the byte after it, as below */
    } else {
        const char *cr = memchr(buf, '\r', len);
        if (!cr || (size_t)(cr - buf) + 2 > len ||
            !resp_str2ll(buf + 1, (size_t)(cr - buf - 1), &n) || n < -1)
            return PX_EPROTO;
        pos = (size_t)(cr - buf) + 2;
    }
    if (n <= 0) return pos == len ? 0 : PX_EPROTO;
    struct resp_reply_framer f;
    int have_f = 0, rc = 0;
    /* Flat elements, the usual case, are measured directly; the framer is set up only when a nested
     * one needs it. Elements beyond max are counted but not stored. */
    for (long long i = 0; i < n; i++) {
        size_t elen = flat_element_len(buf + pos, len - pos);
        if (elen == 0) {
            if (!have_f) {
                resp_reply_init(&f);
                have_f = 1;
            }
            struct resp_reply_info info;
            if (resp_reply_frame(&f, buf + pos, len - pos, &info) != 0) {
                rc = PX_EPROTO;
                break;
            }
            elen = info.len;
            resp_reply_reset(&f);
        }
        if (*count < max) {
            out[*count].off = (uint32_t)pos;
            out[*count].len = (uint32_t)elen;
        }
        (*count)++;
        pos += elen;
    }
    if (have_f) resp_reply_deinit(&f);
    if (rc == 0 && pos != len) rc = PX_EPROTO;
    return rc;
}
