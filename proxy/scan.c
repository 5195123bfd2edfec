/*
 * SCAN over the whole cluster; see scan.h. A SCAN is a fan-out of one part: the same command with
 * the master's own cursor in place of the client's, sent to that master (by its index in the
 * view, so a part whose master left answers that the topology changed). The merger rewrites the
 * master's reply: its cursor becomes the client's next one, its keys pass through untouched.
 */
#include "scan.h"

#include "errors.h"
#include "merge.h"
#include "mem.h"
#include "resp_reply.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scan_cursor_parse(const char *p, size_t len, unsigned long long *out)
{
    char buf[64];
    if (len >= sizeof(buf) || memchr(p, '\0', len)) return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return -1;
    char *end;
    errno = 0;
    *out = strtoull(buf, &end, 10);
    if (*end != '\0' || errno == ERANGE) return -1;
    return 0;
}

void scan_cursor_split(unsigned long long cursor, unsigned *index, unsigned long long *node_cursor)
{
    *index = (unsigned)(cursor & ((1u << SCAN_SHARD_BITS) - 1));
    *node_cursor = cursor >> SCAN_SHARD_BITS;
}

int scan_cursor_next(unsigned long long node_cursor, unsigned index, unsigned nmasters,
                     unsigned long long *next)
{
    if (node_cursor > (~0ull >> SCAN_SHARD_BITS)) return -1;
    if (node_cursor != 0)
        *next = (node_cursor << SCAN_SHARD_BITS) | index;
    else if (index + 1 < nmasters)
        *next = index + 1; /* this master is done: the next one, from its start */
    else
        *next = 0; /* every master is done */
    return 0;
}

/* The merger: the master's [cursor, keys] becomes [the client's next cursor, keys]. The fan-out
 * keeps the master's index (low 32 bits of mdata) and the number of masters (high 32 bits). */
static void scan_merge(const struct fanout *f, const struct request *r, void *ctx,
                       struct sbuf *out)
{
    if (merge_errors(f, out)) return;
    const struct fan_part *part = &f->parts[0];
    const char *d = fan_part_data(part);
    struct resp_span el[2];
    uint32_t n;
    if (resp_reply_elements(d, part->len, el, 2, &n) < 0 || n != 2 || d[el[0].off] != '$') {
        errors_unexpected_reply(out, "SCAN");
        return;
    }
    /* The cursor element is "$<len>\r\n<digits>\r\n". */
    const char *cr = memchr(d + el[0].off, '\n', el[0].len);
    const char *digits = cr ? cr + 1 : NULL;
    size_t dl = digits ? (size_t)(d + el[0].off + el[0].len - 2 - digits) : 0;
    unsigned long long node_cursor, next;
    if (!digits || scan_cursor_parse(digits, dl, &node_cursor) < 0 ||
        scan_cursor_next(node_cursor, (unsigned)(f->mdata & 0xffffffffu),
                         (unsigned)(f->mdata >> 32), &next) < 0) {
        errors_unexpected_reply(out, "SCAN cursors");
        return;
    }
    char cur[24];
    int cl = snprintf(cur, sizeof(cur), "%llu", next);
    resp_write_array_len(out, 2);
    resp_write_bulk(out, cur, (size_t)cl);
    sbuf_put(out, d + el[1].off, el[1].len);
}

static const struct fan_merger scan_merger = {.merge = scan_merge, .ctx = NULL, .name = "SCAN"};

void scan_run(struct fanout_ctx *fc, struct request *r)
{
    unsigned long long cursor, node_cursor;
    if (scan_cursor_parse(request_arg(r, 1), r->argv[1].len, &cursor) < 0) {
        r->flags |= REQ_F_REJECTED;
        sbuf_clear(&fc->out);
        errors_invalid_cursor(&fc->out);
        request_reply_bytes(fc->rp, r, fc->out.buf, fc->out.len);
        return;
    }
    if (!fc->view->map) {
        forward_hold_unrouted(fc->fw, r);
        return;
    }
    unsigned idx;
    scan_cursor_split(cursor, &idx, &node_cursor);
    if (idx >= (unsigned)fc->view->nmasters) {
        /* A cursor past the last master (or from a larger cluster): the iteration is over. */
        static const char done[] = "*2\r\n$1\r\n0\r\n*0\r\n";
        request_reply_bytes(fc->rp, r, done, sizeof(done) - 1);
        return;
    }
    /* The same command with the node's cursor in place of the client's. */
    char cur[24];
    int cl = snprintf(cur, sizeof(cur), "%llu", node_cursor);
    struct sbuf b;
    sbuf_init(&b);
    resp_write_array_len(&b, r->argc);
    for (uint32_t i = 0; i < r->argc; i++) {
        if (i == 1)
            resp_write_bulk(&b, cur, (size_t)cl);
        else
            resp_write_bulk(&b, request_arg(r, i), r->argv[i].len);
    }
    struct buf_chunk *c = buf_chunk_get_exact(fc->rp->chunks, b.len);
    memcpy(c->data, b.buf, b.len);
    c->len = (uint32_t)b.len;
    sbuf_free(&b);
    struct fanout *f = fanout_begin(fc, r, &scan_merger, 1);
    f->mdata = (uint64_t)idx | ((uint64_t)fc->view->nmasters << 32);
    fanout_add(fc, r, 0, c, 0, c->len, -1, (int)idx);
    buf_chunk_put(c);
    fanout_end(fc, r);
}
