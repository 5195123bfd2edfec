/*
 * libFuzzer target for net/resp_reply, the reply framer.
 *
 * Input: two header bytes, then the bytes a Redis node sends.
 *   h[0]   seeds the sizes of the pieces the bytes arrive in;
 *   h[1]   how many element spans resp_reply_elements() may fill (0 to 7).
 *
 * The stream is framed twice: whole (each reply from its first byte to the end of the input), and
 * in pieces as backend.c does it (the bytes of the current reply from its first byte, the length
 * growing in pseudo-random steps, zero included, each call on a fresh heap copy so a pointer kept
 * into an old buffer is a use-after-free ASan reports). Both must give the same replies and end
 * the same way. In the whole run every reply is also checked against:
 *   - a recursive reference written from the rules in resp_reply.h (RESP2 and RESP3, attributes
 *     that do not count as elements, the nesting limit), which must agree on everything;
 *   - resp_reply_elements() on every complete aggregate;
 *   - hiredis's reader, where the grammars overlap (see check_hiredis).
 */
#include "px_errors.h"
#include "resp.h"
#include "resp_reply.h"

#include <hiredis/hiredis.h>
#include "fuzz_util.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 2

/* ---- reference framer ---- */

static enum resp_err_kind ref_classify(const char *s, size_t n)
{
    static const struct {
        const char *prefix;
        enum resp_err_kind kind;
    } kinds[] = {
        {"MOVED ", RESP_ERRK_MOVED},      {"ASK ", RESP_ERRK_ASK},
        {"TRYAGAIN", RESP_ERRK_TRYAGAIN}, {"CLUSTERDOWN", RESP_ERRK_CLUSTERDOWN},
        {"LOADING", RESP_ERRK_LOADING},   {"READONLY", RESP_ERRK_READONLY},
        {"NOSCRIPT", RESP_ERRK_NOSCRIPT}, {"MASTERDOWN", RESP_ERRK_MASTERDOWN},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t l = strlen(kinds[i].prefix);
        if (n >= l && memcmp(s, kinds[i].prefix, l) == 0) return kinds[i].kind;
    }
    return RESP_ERRK_OTHER;
}

struct ref_out {
    int rc;
    size_t len;
    char type;
    size_t line_off, line_len;
};

/*
 * One element at s[*pos, n). A line ends at its first CR, which must be followed by LF (the
 * framer treats a bare CR as a broken stream; RESP has none outside bulk bodies). An attribute
 * ('|') is not an element: it describes the element after it, so after its entries the loop reads
 * that element at the same depth. depth counts the aggregates (attributes included) open around
 * this element; opening one more than RESP_MAX_DEPTH is an error.
 */
static int ref_element(const char *s, size_t n, size_t *pos, uint32_t depth, struct ref_out *o)
{
    for (;;) {
        size_t at = *pos;
        if (at >= n) return PX_EAGAIN;
        const char *cr = memchr(s + at, '\r', n - at);
        if (!cr || (size_t)(cr - s) + 1 >= n) return PX_EAGAIN;
        if (cr[1] != '\n') return PX_EPROTO;
        char t = s[at];
        const char *text = s + at + 1;
        size_t tlen = (size_t)(cr - text);
        size_t next = (size_t)(cr - s) + 2;
        if (depth == 0 && t != '|' && o->type == 0) {
            o->type = t;
            o->line_off = at + 1;
            o->line_len = tlen;
        }
        long long v;
        switch (t) {
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
        case '(': *pos = next; return 0;
        case '$':
        case '!':
        case '=':
            if (!ref_str2ll(text, tlen, &v) || v < -1 || (v == -1 && t != '$')) return PX_EPROTO;
            *pos = next;
            if (v == -1) return 0;
            if ((unsigned long long)v + 2 > n - next) return PX_EAGAIN;
            if (s[next + v] != '\r' || s[next + v + 1] != '\n') return PX_EPROTO;
            *pos = next + (size_t)v + 2;
            return 0;
        case '*':
        case '%':
        case '~':
        case '>':
        case '|': {
            if (!ref_str2ll(text, tlen, &v) || v < -1 || (v == -1 && t != '*' && t != '%'))
                return PX_EPROTO;
            int pairs = t == '%' || t == '|';
            if (pairs && v > LLONG_MAX / 2) return PX_EPROTO;
            *pos = next;
            long long count = pairs ? v * 2 : v;
            if (count > 0) {
                if (depth >= RESP_MAX_DEPTH) return PX_EPROTO;
                for (long long i = 0; i < count; i++) {
                    int rc = ref_element(s, n, pos, depth + 1, o);
                    if (rc != 0) return rc;
                }
            }
            if (t == '|') continue; /* now the element it describes */
            return 0;
        }
        default: return PX_EPROTO;
        }
    }
}

static void ref_reply(const char *s, size_t n, struct ref_out *o)
{
    memset(o, 0, sizeof(*o));
    size_t pos = 0;
    o->rc = ref_element(s, n, &pos, 0, o);
    o->len = pos;
}

/* ---- the contract of resp_reply_frame ---- */

static void check_complete(const char *buf, size_t len, const struct resp_reply_info *info,
                           uint32_t max_spans)
{
    CHECK(info->len >= 3 && info->len <= len); /* "_\r\n" is the shortest reply */
    CHECK(info->need == 0);
    CHECK(info->line_off >= 1);
    CHECK((uint64_t)info->line_off + info->line_len + 2 <= info->len);
    CHECK(buf[info->line_off - 1] == info->type);
    CHECK(buf[info->line_off + info->line_len] == '\r');
    CHECK(buf[info->line_off + info->line_len + 1] == '\n');
    CHECK(!memchr(buf + info->line_off, '\r', info->line_len));
    if (buf[0] != '|') CHECK(info->type == buf[0] && info->line_off == 1);
    if (info->type == '-')
        CHECK(info->err == ref_classify(buf + info->line_off, info->line_len));
    else
        CHECK(info->err == (info->type == '!' ? RESP_ERRK_OTHER : RESP_ERRK_NONE));
    /* resp_reply_elements on the same bytes. */
    struct resp_span spans[8];
    uint32_t count = 0;
    int rc = resp_reply_elements(buf, info->len, spans, max_spans, &count);
    if (buf[0] != '*' && buf[0] != '~' && buf[0] != '>') {
        CHECK(rc == PX_EPROTO);
        return;
    }
    CHECK(rc == 0);
    long long declared;
    const char *cr = memchr(buf, '\r', info->len);
    CHECK(ref_str2ll(buf + 1, (size_t)(cr - buf - 1), &declared));
    CHECK(count == (declared < 0 ? 0 : (uint64_t)declared));
    /* The spans tile the reply after its header line, and each is one reply. */
    size_t pos = (size_t)(cr - buf) + 2;
    for (uint32_t i = 0; i < count && i < max_spans; i++) {
        CHECK(spans[i].off == pos);
        struct ref_out o;
        ref_reply(buf + pos, info->len - pos, &o);
        CHECK(o.rc == 0 && o.len == spans[i].len);
        pos += spans[i].len;
    }
    if (count <= max_spans) CHECK(pos == info->len);
    /* One byte more than the aggregate is not one aggregate. */
    if (info->len < len)
        CHECK(resp_reply_elements(buf, info->len + 1, spans, max_spans, &count) == PX_EPROTO);
}

/* ---- the runs ---- */

struct rec {
    int rc;
    struct resp_reply_info info;
};

struct run {
    struct rec *rec;
    size_t n, cap;  /* complete replies, then possibly one PX_EPROTO */
    size_t pending; /* bytes not taken by a complete reply */
};

static void run_add(struct run *w, int rc, const struct resp_reply_info *info)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->rec = realloc(w->rec, w->cap * sizeof(*w->rec));
        CHECK(w->rec != NULL);
    }
    w->rec[w->n].rc = rc;
    w->rec[w->n].info = *info;
    w->n++;
}

static void run_whole(const char *in, size_t n, uint32_t max_spans, struct run *w)
{
    char *buf = dup_bytes(in, n); /* exactly n bytes: ASan sees a read past the end */
    struct resp_reply_framer f;
    resp_reply_init(&f);
    struct resp_reply_info info;
    CHECK(resp_reply_frame(&f, buf, 0, &info) == PX_EAGAIN && info.need == 1);
    size_t start = 0;
    while (start < n) {
        const char *b = buf + start;
        size_t len = n - start;
        memset(&info, 0xa5, sizeof(info));
        int rc = resp_reply_frame(&f, b, len, &info);
        struct ref_out o;
        ref_reply(b, len, &o);
        CHECK(rc == o.rc);
        if (rc == PX_EAGAIN) {
            CHECK(info.need >= 1);
            break;
        }
        if (rc != 0) {
            CHECK(rc == PX_EPROTO);
            run_add(w, rc, &info);
            break;
        }
        CHECK(info.len == o.len && info.type == o.type);
        CHECK(info.line_off == o.line_off && info.line_len == o.line_len);
        check_complete(b, len, &info, max_spans);
        run_add(w, rc, &info);
        start += info.len;
        resp_reply_reset(&f);
    }
    w->pending = n - start;
    resp_reply_deinit(&f);
    free(buf);
}

static void run_pieces(const char *in, size_t n, uint32_t seed, const struct run *w)
{
    struct resp_reply_framer f;
    resp_reply_init(&f);
    uint32_t rng = seed;
    size_t start = 0, fed = 0, k = 0, min_next = 0, last_step = 1;
    for (;;) {
        fed = next_fed(&rng, fed, n, &last_step);
        while (start < fed) {
            size_t avail = fed - start;
            char *buf = dup_bytes(in + start, avail);
            struct resp_reply_info info;
            memset(&info, 0x5a, sizeof(info));
            int rc = resp_reply_frame(&f, buf, avail, &info);
            free(buf);
            /* need is a lower bound: no answer but "incomplete" before that many bytes. */
            if (avail < min_next) CHECK(rc == PX_EAGAIN);
            if (rc == PX_EAGAIN) {
                CHECK(info.need >= 1);
                min_next = avail + info.need;
                if (k < w->n && w->rec[k].rc == 0) CHECK(min_next <= w->rec[k].info.len);
                break;
            }
            CHECK(k < w->n && w->rec[k].rc == rc);
            if (rc != 0) {
                CHECK(k + 1 == w->n);
                resp_reply_deinit(&f);
                return;
            }
            const struct resp_reply_info *x = &w->rec[k].info;
            CHECK(info.len == x->len && info.type == x->type && info.err == x->err);
            CHECK(info.line_off == x->line_off && info.line_len == x->line_len);
            start += info.len;
            k++;
            min_next = 0;
            resp_reply_reset(&f);
        }
        if (fed == n) break;
    }
    CHECK(k == w->n);
    CHECK(n - start == w->pending);
    resp_reply_deinit(&f);
}

/* ---- hiredis ---- */

/*
 * hiredis 0.14 (Debian 12) allocates an array's element vector as soon as it reads the count, so
 * a count of millions is an allocation libFuzzer reports as out-of-memory, and many arrays of a
 * hundred thousand add up. Inputs where a '*' is followed by more than four digits are not shown
 * to it (at most 80 KB per array).
 */
static int hiredis_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '*') continue;
        size_t j = i + 1, digits = 0;
        if (j < n && (s[j] == '-' || s[j] == '+')) j++;
        while (j < n && s[j] >= '0' && s[j] <= '9') j++, digits++;
        if (digits > 4) return 0;
    }
    return 1;
}

static int expect(const char *s, size_t n, size_t *pos, const void *want, size_t len)
{
    if (n - *pos < len || memcmp(s + *pos, want, len) != 0) return 0;
    *pos += len;
    return 1;
}

/*
 * Whether s[*pos, n) is exactly the canonical RESP2 encoding of the reply hiredis read from it:
 * lengths and counts in plain decimal, a null as "$-1" or "*-1", bulk bodies followed by CRLF,
 * no CR inside a status or error line. Advances *pos past it.
 */
static int canonical(const redisReply *r, const char *s, size_t n, size_t *pos)
{
    char hdr[48];
    int hl;
    switch (r->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        if (memchr(r->str, '\r', r->len)) return 0;
        return expect(s, n, pos, r->type == REDIS_REPLY_STATUS ? "+" : "-", 1) &&
               expect(s, n, pos, r->str, r->len) && expect(s, n, pos, "\r\n", 2);
    case REDIS_REPLY_INTEGER:
        hl = snprintf(hdr, sizeof(hdr), ":%lld\r\n", r->integer);
        return expect(s, n, pos, hdr, (size_t)hl);
    case REDIS_REPLY_NIL: return expect(s, n, pos, "$-1\r\n", 5) || expect(s, n, pos, "*-1\r\n", 5);
    case REDIS_REPLY_STRING:
        hl = snprintf(hdr, sizeof(hdr), "$%zu\r\n", r->len);
        return expect(s, n, pos, hdr, (size_t)hl) && expect(s, n, pos, r->str, r->len) &&
               expect(s, n, pos, "\r\n", 2);
    case REDIS_REPLY_ARRAY:
        hl = snprintf(hdr, sizeof(hdr), "*%zu\r\n", r->elements);
        if (!expect(s, n, pos, hdr, (size_t)hl)) return 0;
        for (size_t i = 0; i < r->elements; i++)
            if (!canonical(r->element[i], s, n, pos)) return 0;
        return 1;
    default: return 0;
    }
}

static int hiredis_type_ok(int type, char t)
{
    switch (type) {
    case REDIS_REPLY_STATUS: return t == '+';
    case REDIS_REPLY_ERROR: return t == '-';
    case REDIS_REPLY_INTEGER: return t == ':';
    case REDIS_REPLY_NIL: return t == '$' || t == '*';
    case REDIS_REPLY_STRING: return t == '$';
    case REDIS_REPLY_ARRAY: return t == '*';
    default: return 0;
    }
}

/*
 * hiredis 0.14 reads RESP2 only (any RESP3 type byte is its protocol error) and at most 7 levels
 * deep, and it is lenient where the framer is strict on purpose: it takes "$05", "$+5" and "*-5",
 * reads a length line only up to its first CR, never checks the CRLF after a bulk body, and keeps
 * a bare CR inside a status line. Redis never sends any of those, and the framer refuses them as a
 * broken stream. So what must hold, for each reply hiredis reads:
 *   - when its bytes are the canonical encoding of what hiredis read, the framer frames exactly
 *     those bytes, with the same type and the same error text;
 *   - whenever the framer frames a reply there, it is the same length as hiredis's.
 * Where hiredis fails or waits, nothing is asserted: the framer reads RESP3 and is lenient on the
 * text of ':' lines.
 */
static void check_hiredis(const char *in, size_t n, const struct run *w)
{
    if (n == 0 || !hiredis_safe(in, n)) return;
    redisReader *rd = redisReaderCreate();
    CHECK(rd != NULL);
    CHECK(redisReaderFeed(rd, in, n) == REDIS_OK);
    size_t off = 0;
    for (size_t k = 0;; k++) {
        void *reply = NULL;
        if (redisReaderGetReply(rd, &reply) != REDIS_OK || reply == NULL) break;
        redisReply *r = reply;
        size_t end = n - (rd->len - rd->pos);
        CHECK(end > off && end <= n);
        size_t pos = off;
        int canon = canonical(r, in, end, &pos) && pos == end;
        int framed = k < w->n && w->rec[k].rc == 0;
        if (canon) CHECK(framed);
        if (framed) {
            const struct resp_reply_info *x = &w->rec[k].info;
            CHECK(x->len == end - off);
            CHECK(hiredis_type_ok(r->type, x->type));
            if (r->type == REDIS_REPLY_ERROR)
                CHECK(x->line_len == r->len && memcmp(in + off + x->line_off, r->str, r->len) == 0);
        }
        freeReplyObject(r);
        if (!framed) break;
        off = end;
    }
    redisReaderFree(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR) return 0;
    const char *in = (const char *)data + HDR;
    size_t n = size - HDR;
    struct run w = {0};
    run_whole(in, n, data[1] & 7, &w);
    check_hiredis(in, n, &w);
    run_pieces(in, n, ((uint32_t)data[0] << 16) ^ (uint32_t)n ^ 0x9e3779b9u, &w);
    free(w.rec);
    return 0;
}
