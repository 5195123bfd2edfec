/*
 * SCAN over the whole cluster; see scan.h. A SCAN is served by one part at a time: the same
 * command with the master's own cursor in place of the client's, sent to that master (by its
 * index in the view, so a part whose master left answers that the topology changed). Its reply
 * comes back to scan_part_done, which rewrites it: the master's cursor becomes the client's next
 * one, its keys pass through untouched. A master that is finished and gave no key on its last
 * page moves the scan to the next master within the same request, so that a client never gets an
 * empty page with a cursor that only says "go on" (an empty keyspace answers cursor 0 at once,
 * as one Redis does).
 */
#include "scan.h"

#include "errors.h"
#include "mem.h"
#include "resp_reply.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Redis 7.0's parseScanCursorOrReply runs strtoul on the argument as a C string: it ends at the
 * first NUL ("5\0x" is 5), it may be any length (leading zeros), and an empty one is 0 (strtoul
 * takes nothing and stops on the terminating NUL). A copy is NUL-terminated the same way; the
 * rare long one goes to the heap.
 */
int scan_cursor_parse(const char *p, size_t len, unsigned long long *out)
{
    const char *nul = memchr(p, '\0', len);
    if (nul) len = (size_t)(nul - p);
    char small[64];
    char *buf = len < sizeof(small) ? small : px_malloc(len + 1);
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    *out = strtoull(buf, &end, 10);
    int ok = !isspace((unsigned char)buf[0]) && *end == '\0' && errno != ERANGE;
    if (buf != small) px_free(buf);
    return ok ? 0 : -1;
}

/* The master in the low bits, so that the client's cursor 0 is master 0 from its start, and a
 * master finished becomes simply the next master's index. */
void scan_cursor_split(unsigned long long cursor, unsigned *index, unsigned long long *node_cursor)
{
    *index = (unsigned)(cursor & ((1u << SCAN_SHARD_BITS) - 1));
    *node_cursor = cursor >> SCAN_SHARD_BITS;
}

int scan_cursor_next(unsigned long long node_cursor, unsigned index, unsigned nmasters,
                     unsigned long long *next)
{
    /* Refused rather than cut: a truncated cursor would restart that master's iteration. */
    if (node_cursor > (~0ull >> SCAN_SHARD_BITS)) return -1;
    if (node_cursor != 0)
        *next = (node_cursor << SCAN_SHARD_BITS) | index;
    else if (index + 1 < nmasters)
        *next = index + 1; /* this master is done: the next one, from its start */
    else
        *next = 0; /* every master is done */
    return 0;
}

static void scan_part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                           uint32_t off, uint32_t len);

/* A part's reply comes back here (request.c copies the proxy's own replies, errors for a part
 * that could not be sent, into its arena first). */
static const struct request_sink scan_sink = {.reply_span = scan_part_done, .reply_bytes = NULL};

/* Sends r's SCAN to master idx, with that master's cursor node_cursor: the command encoded anew,
 * since the cursor's length changes and the client's bytes cannot be reused around it. */
static void scan_send(struct fanout_ctx *fc, struct request *r, unsigned idx,
                      unsigned long long node_cursor)
{
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
    struct buf_chunk *chunk = buf_chunk_get_exact(fc->rp->chunks, b.len);
    memcpy(chunk->data, b.buf, b.len);
    chunk->len = (uint32_t)b.len;
    sbuf_free(&b);
    struct request *part = request_get(fc->rp);
    part->parent = r;
    part->sink = &scan_sink;
    part->owner_ctx = fc;
    part->child_idx = idx;
    part->cmd = r->cmd;
    part->start_us = r->start_us;
    part->breq.chunk = chunk; /* the part owns the only reference */
    part->breq.off = 0;
    part->breq.len = chunk->len;
    part->shard = (int16_t)idx;
    r->state = REQ_FANOUT;
    forward_send(fc->fw, part);
}

static void scan_part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                           uint32_t off, uint32_t len)
{
    struct fanout_ctx *fc = part->owner_ctx;
    struct request *r = part->parent;
    unsigned idx = part->child_idx, nmasters = (unsigned)fc->view->nmasters;
    const char *d = c->data + off;
    struct sbuf *out = &fc->out;
    sbuf_clear(out);
    struct resp_span el[2];
    uint32_t n, nkeys = 0;
    unsigned long long node_cursor = 0, next;
    if (len > 0 && (d[0] == '-' || d[0] == '!')) {
        sbuf_put(out, d, len); /* the node's error, as it is */
    } else if (resp_reply_elements(d, len, el, 2, &n) < 0 || n != 2 || d[el[0].off] != '$' ||
               resp_reply_elements(d + el[1].off, el[1].len, NULL, 0, &nkeys) < 0) {
        errors_unexpected_reply(out, "SCAN");
    } else {
        /* The cursor element is "$<len>\r\n<digits>\r\n". */
        const char *cr = memchr(d + el[0].off, '\n', el[0].len);
        const char *digits = cr ? cr + 1 : NULL;
        size_t dl = digits ? (size_t)(d + el[0].off + el[0].len - 2 - digits) : 0;
        if (!digits || scan_cursor_parse(digits, dl, &node_cursor) < 0 ||
            scan_cursor_next(node_cursor, idx, nmasters, &next) < 0) {
            errors_unexpected_reply(out, "SCAN cursors");
        } else if (node_cursor == 0 && nkeys == 0 && next != 0 && !request_orphan(r)) {
            /* This master is done and had nothing more: go on with the next one at once. */
            request_put(rp, part);
            scan_send(fc, r, idx + 1, 0);
            return;
        } else {
            char cur[24];
            int cl = snprintf(cur, sizeof(cur), "%llu", next);
            resp_write_array_len(out, 2);
            resp_write_bulk(out, cur, (size_t)cl);
            /* The keys as the node wrote them, in the client's protocol already. */
            sbuf_put(out, d + el[1].off, el[1].len);
        }
    }
    request_put(rp, part);
    r->state = REQ_NEW;
    request_reply_bytes(rp, r, out->buf, out->len);
}

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
        /* Routed again once a map exists, which brings it back here (dispatch_resume). */
        forward_hold_unrouted(fc->fw, r);
        return;
    }
    unsigned idx;
    scan_cursor_split(cursor, &idx, &node_cursor);
    if (fc->view->nmasters == 0) {
        /* No master (in pool mode every server ejected): an error, not an empty keyspace. */
        sbuf_clear(&fc->out);
        errors_no_master(&fc->out,
                         errors_mode_of(fc->view->cfg->pool, fc->view->cfg->auto_eject_hosts));
        r->flags |= REQ_F_REJECTED;
        request_reply_bytes(fc->rp, r, fc->out.buf, fc->out.len);
        return;
    }
    if (idx >= (unsigned)fc->view->nmasters) {
        /* A cursor past the last master (or from a larger cluster): the iteration is over. */
        static const char done[] = "*2\r\n$1\r\n0\r\n*0\r\n";
        request_reply_bytes(fc->rp, r, done, sizeof(done) - 1);
        return;
    }
    scan_send(fc, r, idx, node_cursor);
}
