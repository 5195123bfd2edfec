/* SCAN over the whole cluster; see scan.h. */
#include "scan.h"

#include "dispatch.h"
#include "mem.h"
#include "request.h"
#include "resp_reply.h"
#include "session.h"
#include "worker.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a cursor the way Redis does (strtoul: no leading space, nothing after the digits, no
 * overflow; "-1" wraps around as strtoul makes it). Returns 0 or -1. */
static int parse_cursor(const char *p, size_t len, unsigned long long *out)
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

void scan_dispatch(struct worker *w, struct request *r)
{
    unsigned long long cursor;
    if (parse_cursor(request_arg(r, 1), r->argv[1].len, &cursor) < 0) {
        r->flags |= REQ_F_REJECTED;
        static const char err[] = "-ERR invalid cursor\r\n";
        request_reply_bytes(w, r, err, sizeof(err) - 1);
        return;
    }
    if (!w->map) {
        r->flags |= REQ_F_ROUTE_AGAIN;
        r->hold_reason = HOLD_UNREACHABLE;
        worker_hold(w, r, 0);
        return;
    }
    unsigned idx = (unsigned)(cursor & ((1u << SCAN_SHARD_BITS) - 1));
    unsigned long long node_cursor = cursor >> SCAN_SHARD_BITS;
    if (idx >= (unsigned)w->nmasters) {
        /* A cursor past the last master (or from a larger cluster): the iteration is over. */
        static const char done[] = "*2\r\n$1\r\n0\r\n*0\r\n";
        request_reply_bytes(w, r, done, sizeof(done) - 1);
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
    struct buf_chunk *c = buf_chunk_get_exact(&w->pool, b.len);
    memcpy(c->data, b.buf, b.len);
    c->len = (uint32_t)b.len;
    sbuf_free(&b);
    struct fanout *f = fanout_begin(w, r, FAN_SCAN, 1);
    f->scan_index = idx;
    f->scan_nmasters = (uint32_t)w->nmasters;
    fanout_add(w, r, 0, c, 0, c->len, -1, (int)idx);
    buf_chunk_put(c);
    fanout_end(w, r);
}

void scan_merge(struct worker *w, struct request *r, const struct fan_part *part, struct sbuf *out)
{
    const struct fanout *f = r->fan;
    const char *d = part->c->data + part->off;
    struct resp_span el[2];
    uint32_t n;
    unsigned long long node_cursor;
    if (resp_reply_elements(d, part->len, el, 2, &n) < 0 || n != 2 || d[el[0].off] != '$') {
        resp_write_errorf(out, "ERR slotproxy: unexpected SCAN reply from a node");
        return;
    }
    /* The cursor element is "$<len>\r\n<digits>\r\n". */
    const char *cr = memchr(d + el[0].off, '\n', el[0].len);
    const char *digits = cr ? cr + 1 : NULL;
    size_t dl = digits ? (size_t)(d + el[0].off + el[0].len - 2 - digits) : 0;
    if (!digits || parse_cursor(digits, dl, &node_cursor) < 0 ||
        node_cursor > (~0ull >> SCAN_SHARD_BITS)) {
        resp_write_errorf(out, "ERR slotproxy: unexpected SCAN cursor from a node");
        return;
    }
    unsigned long long next;
    if (node_cursor != 0)
        next = (node_cursor << SCAN_SHARD_BITS) | f->scan_index;
    else if (f->scan_index + 1 < f->scan_nmasters)
        next = f->scan_index + 1; /* this master is done: the next one, from its start */
    else
        next = 0; /* every master is done */
    char cur[24];
    int cl = snprintf(cur, sizeof(cur), "%llu", next);
    resp_write_array_len(out, 2);
    resp_write_bulk(out, cur, (size_t)cl);
    sbuf_put(out, d + el[1].off, el[1].len);
}
