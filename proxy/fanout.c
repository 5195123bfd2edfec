/* Fan-out and merge; see fanout.h. */
#include "fanout.h"

#include "crc16.h"
#include "dispatch.h"
#include "info.h"
#include "mem.h"
#include "px_errors.h"
#include "request.h"
#include "resp_reply.h"
#include "scan.h"
#include "scripts.h"
#include "session.h"
#include "strset.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fanout *fanout_begin(struct worker *w, struct request *r, enum fan_merge merge,
                            uint32_t nparts)
{
    /* The parts live in the same allocation, right after the struct. */
    struct fanout *f = px_calloc(1, sizeof(*f) + (nparts ? nparts : 1) * sizeof(*f->parts));
    f->merge = merge;
    f->nparts = nparts;
    f->pending = nparts + 1; /* one extra until every part has been sent */
    f->parts = (struct fan_part *)(f + 1);
    r->fan = f;
    r->state = REQ_FANOUT;
    return f;
}

static void fan_merge_and_reply(struct worker *w, struct request *r);

/* Drops the construction reference; answers the parent if every part already came back. */
void fanout_end(struct worker *w, struct request *r)
{
    if (--r->fan->pending == 0) fan_merge_and_reply(w, r);
}

void fanout_add(struct worker *w, struct request *r, uint32_t idx, struct buf_chunk *c,
                uint32_t off, uint32_t len, int slot, int shard)
{
    struct request *ch = request_get(w);
    ch->parent = r;
    ch->child_idx = idx;
    ch->cmd = r->cmd;
    ch->start_us = r->start_us;
    buf_chunk_ref(c);
    ch->breq.chunk = c;
    ch->breq.off = off;
    ch->breq.len = len;
    ch->slot = slot;
    ch->shard = (int16_t)shard;
    ch->flags |= r->flags & REQ_F_BLOCKING; /* WAIT's parts block on connections of their own */
    dispatch_send(w, ch);
}

void fanout_free(struct worker *w, struct request *r)
{
    struct fanout *f = r->fan;
    for (uint32_t i = 0; i < f->nparts; i++) buf_chunk_put(f->parts[i].c);
    px_free(f->key_part); /* key_elem and part_nkeys live in the same allocation */
    px_free(f);
    r->fan = NULL;
}

/* ---- splitting by slot ---- */

static size_t bulk_size(uint32_t len)
{
    return 1 + (size_t)resp_ull_digits(len) + 2 + len + 2;
}

static char *put_bulk_hdr(char *p, char type, long long n)
{
    *p++ = type;
    p += resp_ll2str(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static char *put_bulk(char *p, const char *data, uint32_t len)
{
    p = put_bulk_hdr(p, '$', len);
    memcpy(p, data, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

int fanout_split_by_slot(struct worker *w, struct request *r, enum fan_merge merge)
{
    const struct command *c = r->cmd->cmd;
    if (c->nkeyspecs != 1) return -1;
    const struct keyspec *ks = &c->keyspecs[0];
    if (ks->begin != KS_BEGIN_INDEX || ks->bs_pos != 1 || ks->find != KS_FIND_RANGE ||
        ks->fk[0] != -1 || ks->fk[2] != 0 || ks->fk[1] < 1)
        return -1;
    uint32_t step = (uint32_t)ks->fk[1];
    if (r->argc < 2 || (r->argc - 1) % step) return -2;
    uint32_t nkeys = (r->argc - 1) / step;
    const char *base = r->breq.chunk->data;

    /* Group the keys by slot, in the order the slots first appear. The fan-out keeps key_part,
     * key_elem and part_nkeys (one allocation, freed with key_part); the rest is scratch, also
     * one allocation. */
    uint32_t *key_part = px_calloc(3 * (size_t)nkeys, sizeof(uint32_t));
    uint32_t *key_elem = key_part + nkeys;
    uint32_t *part_nkeys = key_elem + nkeys;
    size_t *part_size = px_calloc(nkeys, sizeof(size_t) + 2 * sizeof(uint32_t) + sizeof(uint16_t));
    uint32_t *part_off = (uint32_t *)(part_size + nkeys);
    uint32_t *part_fill = part_off + nkeys;
    uint16_t *part_slot = (uint16_t *)(part_fill + nkeys);
    uint32_t nparts = 0;
    for (uint32_t i = 0; i < nkeys; i++) {
        const struct resp_span *k = &r->argv[1 + i * step];
        unsigned slot = crc16_key_slot(base + k->off, k->len);
        int32_t p = w->slot_part[slot];
        if (p < 0) {
            p = (int32_t)nparts++;
            w->slot_part[slot] = p;
            part_slot[p] = (uint16_t)slot;
        }
        key_part[i] = (uint32_t)p;
        key_elem[i] = part_nkeys[p]++;
        for (uint32_t j = 0; j < step; j++)
            part_size[p] += bulk_size(r->argv[1 + i * step + j].len);
    }
    for (uint32_t p = 0; p < nparts; p++) w->slot_part[part_slot[p]] = -1;

    /* Write every part's command into one chunk, one after the other. */
    size_t total = 0;
    for (uint32_t p = 0; p < nparts; p++) {
        part_size[p] += 1 + (size_t)resp_ull_digits(1 + (unsigned long long)part_nkeys[p] * step) +
                        2 + bulk_size(r->argv[0].len);
        total += part_size[p];
    }
    struct buf_chunk *chunk = buf_chunk_get_exact(&w->pool, total);
    size_t off = 0;
    for (uint32_t p = 0; p < nparts; p++) {
        part_off[p] = (uint32_t)off;
        char *q = chunk->data + off;
        q = put_bulk_hdr(q, '*', 1 + (long long)part_nkeys[p] * step);
        q = put_bulk(q, base + r->argv[0].off, r->argv[0].len);
        part_fill[p] = (uint32_t)(q - chunk->data);
        off += part_size[p];
    }
    for (uint32_t i = 0; i < nkeys; i++) {
        uint32_t p = key_part[i];
        char *q = chunk->data + part_fill[p];
        /* The key's arguments as the client encoded them, when they lie one after the other in
         * the canonical form ("$<len>\r\n<bytes>\r\n", which is all the parser accepts): one
         * copy instead of formatting each header again. */
        const struct resp_span *first = &r->argv[1 + i * step];
        const struct resp_span *last = first + step - 1;
        uint32_t hdr = 1 + (uint32_t)resp_ull_digits(first->len) + 2;
        size_t group = 0;
        for (uint32_t j = 0; j < step; j++) group += bulk_size(first[j].len);
        if (first->off >= hdr && base[first->off - hdr] == '$' &&
            (size_t)(last->off + last->len + 2) - (first->off - hdr) == group) {
            memcpy(q, base + first->off - hdr, group);
            q += group;
        } else {
            for (uint32_t j = 0; j < step; j++) q = put_bulk(q, base + first[j].off, first[j].len);
        }
        part_fill[p] = (uint32_t)(q - chunk->data);
    }
    chunk->len = (uint32_t)total;

    struct fanout *f = fanout_begin(w, r, merge, nparts);
    f->nkeys = nkeys;
    f->key_part = key_part;
    f->key_elem = key_elem;
    f->part_nkeys = part_nkeys;
    for (uint32_t p = 0; p < nparts; p++)
        fanout_add(w, r, p, chunk, part_off[p], (uint32_t)part_size[p], part_slot[p], -1);
    buf_chunk_put(chunk);
    px_free(part_size);
    fanout_end(w, r);
    return 0;
}

void fanout_all_masters(struct worker *w, struct request *r, enum fan_merge merge,
                        struct buf_chunk *c, uint32_t off, uint32_t len)
{
    if (!c) {
        c = r->breq.chunk;
        off = r->breq.off;
        len = r->breq.len;
    }
    uint32_t n = (uint32_t)w->nmasters;
    fanout_begin(w, r, merge, n);
    for (uint32_t i = 0; i < n; i++) fanout_add(w, r, i, c, off, len, -1, (int)i);
    fanout_end(w, r);
}

void fanout_child_done(struct worker *w, struct request *child, struct buf_chunk *c, uint32_t off,
                       uint32_t len)
{
    struct request *r = child->parent;
    struct fan_part *part = &r->fan->parts[child->child_idx];
    buf_chunk_ref(c);
    part->c = c;
    part->off = off;
    part->len = len;
    request_put(w, child);
    if (--r->fan->pending == 0) fan_merge_and_reply(w, r);
}

/* ---- merging ---- */

static const char *part_data(const struct fan_part *p)
{
    return p->c->data + p->off;
}

static int part_is_error(const struct fan_part *p)
{
    return p->len > 0 && (part_data(p)[0] == '-' || part_data(p)[0] == '!');
}

static int part_is_nil(const struct fan_part *p)
{
    const char *d = part_data(p);
    return (p->len == 5 && (memcmp(d, "$-1\r\n", 5) == 0 || memcmp(d, "*-1\r\n", 5) == 0)) ||
           (p->len == 3 && memcmp(d, "_\r\n", 3) == 0);
}

/* The integer of a ':' reply. Returns 0, or -1 when the part is something else. */
static int part_int(const struct fan_part *p, long long *v)
{
    const char *d = part_data(p);
    if (p->len < 4 || d[0] != ':') return -1;
    return resp_str2ll(d + 1, p->len - 3, v) ? 0 : -1;
}

static void reply_unexpected(struct sbuf *out, const char *what)
{
    resp_write_errorf(out, "ERR slotproxy: unexpected reply from a node while merging %s", what);
}

/* Index of the first part that is an error, or -1. */
static int first_error(const struct fanout *f)
{
    for (uint32_t i = 0; i < f->nparts; i++)
        if (part_is_error(&f->parts[i])) return (int)i;
    return -1;
}

static void put_part(struct sbuf *out, const struct fan_part *p)
{
    sbuf_put(out, part_data(p), p->len);
}

static void merge_key_order(struct worker *w, struct fanout *f, struct sbuf *out)
{
    uint32_t *base = px_malloc((f->nparts + 1) * sizeof(uint32_t));
    struct resp_span *el = px_malloc((f->nkeys + 1) * sizeof(*el));
    uint32_t sum = 0;
    for (uint32_t p = 0; p < f->nparts; p++) {
        base[p] = sum;
        uint32_t n;
        if (resp_reply_elements(part_data(&f->parts[p]), f->parts[p].len, el + sum,
                                f->part_nkeys[p], &n) < 0 ||
            n != f->part_nkeys[p]) {
            reply_unexpected(out, "MGET");
            goto done;
        }
        sum += n;
    }
    resp_write_array_len(out, f->nkeys);
    for (uint32_t i = 0; i < f->nkeys; i++) {
        uint32_t p = f->key_part[i];
        const struct resp_span *e = &el[base[p] + f->key_elem[i]];
        sbuf_put(out, part_data(&f->parts[p]) + e->off, e->len);
    }
done:
    px_free(base);
    px_free(el);
}

static void merge_ints(struct fanout *f, struct sbuf *out, int min)
{
    long long acc = 0;
    for (uint32_t i = 0; i < f->nparts; i++) {
        long long v;
        if (part_int(&f->parts[i], &v) < 0) {
            reply_unexpected(out, min ? "a minimum" : "a sum");
            return;
        }
        if (min)
            acc = (i == 0 || v < acc) ? v : acc;
        else
            acc += v;
    }
    resp_write_int(out, acc);
}

/* SCRIPT EXISTS: a script exists when every master has it, or when the proxy knows its body and
 * would load it on any master that lacks it (so EVALSHA of it works). */
static void merge_and(struct worker *w, struct request *r, struct fanout *f, struct sbuf *out)
{
    uint32_t n0;
    if (resp_reply_elements(part_data(&f->parts[0]), f->parts[0].len, NULL, 0, &n0) < 0) {
        reply_unexpected(out, "SCRIPT EXISTS");
        return;
    }
    struct resp_span *el = px_malloc((n0 + 1) * sizeof(*el));
    char *all = px_malloc(n0 + 1);
    memset(all, 1, n0 + 1);
    for (uint32_t p = 0; p < f->nparts; p++) {
        uint32_t n;
        if (resp_reply_elements(part_data(&f->parts[p]), f->parts[p].len, el, n0, &n) < 0 ||
            n != n0) {
            reply_unexpected(out, "SCRIPT EXISTS");
            goto done;
        }
        for (uint32_t i = 0; i < n; i++) {
            const char *d = part_data(&f->parts[p]) + el[i].off;
            if (!(el[i].len == 4 && memcmp(d, ":1\r\n", 4) == 0)) all[i] = 0;
        }
    }
    resp_write_array_len(out, n0);
    for (uint32_t i = 0; i < n0; i++) {
        if (!all[i] && i + 2 < r->argc && r->argv[i + 2].len == 40) {
            size_t len;
            char *body = scripts_lookup(w, request_arg(r, i + 2), &len);
            if (body) all[i] = 1;
            px_free(body);
        }
        resp_write_int(out, all[i]);
    }
done:
    px_free(el);
    px_free(all);
}

static void merge_concat(struct fanout *f, struct sbuf *out)
{
    long long total = 0;
    size_t *hdr = px_malloc((f->nparts + 1) * sizeof(size_t));
    for (uint32_t p = 0; p < f->nparts; p++) {
        const char *d = part_data(&f->parts[p]);
        const char *cr = memchr(d, '\r', f->parts[p].len);
        long long n;
        if (d[0] != '*' || !cr || !resp_str2ll(d + 1, (size_t)(cr - d - 1), &n)) {
            reply_unexpected(out, "arrays");
            px_free(hdr);
            return;
        }
        hdr[p] = (size_t)(cr - d) + 2;
        if (n > 0) total += n;
    }
    resp_write_array_len(out, total);
    for (uint32_t p = 0; p < f->nparts; p++)
        sbuf_put(out, part_data(&f->parts[p]) + hdr[p], f->parts[p].len - hdr[p]);
    px_free(hdr);
}

/* PUBSUB CHANNELS: the elements of every array, each once, in the order first seen. */
static void merge_union(struct fanout *f, struct sbuf *out)
{
    struct strset seen;
    strset_init(&seen);
    struct sbuf body;
    sbuf_init(&body);
    long long n = 0;
    for (uint32_t p = 0; p < f->nparts; p++) {
        const char *d = part_data(&f->parts[p]);
        uint32_t cnt;
        if (resp_reply_elements(d, f->parts[p].len, NULL, 0, &cnt) < 0) {
            reply_unexpected(out, "arrays");
            goto done;
        }
        struct resp_span *el = px_malloc((cnt + 1) * sizeof(*el));
        resp_reply_elements(d, f->parts[p].len, el, cnt, &cnt);
        for (uint32_t i = 0; i < cnt; i++) {
            if (strset_add(&seen, d + el[i].off, el[i].len, 0)) {
                sbuf_put(&body, d + el[i].off, el[i].len);
                n++;
            }
        }
        px_free(el);
    }
    resp_write_array_len(out, n);
    sbuf_put(out, body.buf ? body.buf : "", body.len);
done:
    strset_free(&seen);
    sbuf_free(&body);
}

/* PUBSUB NUMSUB: [name, count, name, count ...] from each master; the counts summed. */
static void merge_pair_sum(struct fanout *f, struct sbuf *out)
{
    const char *d0 = part_data(&f->parts[0]);
    uint32_t n0;
    if (resp_reply_elements(d0, f->parts[0].len, NULL, 0, &n0) < 0 || n0 % 2) {
        reply_unexpected(out, "counts");
        return;
    }
    struct resp_span *el = px_malloc((n0 + 1) * sizeof(*el));
    long long *sum = px_calloc(n0 / 2 + 1, sizeof(long long));
    for (uint32_t p = 0; p < f->nparts; p++) {
        const char *d = part_data(&f->parts[p]);
        uint32_t n;
        if (resp_reply_elements(d, f->parts[p].len, el, n0, &n) < 0 || n != n0) {
            reply_unexpected(out, "counts");
            goto done;
        }
        for (uint32_t i = 1; i < n; i += 2) {
            long long v;
            if (d[el[i].off] != ':' || !resp_str2ll(d + el[i].off + 1, el[i].len - 3, &v)) {
                reply_unexpected(out, "counts");
                goto done;
            }
            sum[i / 2] += v;
        }
    }
    resp_reply_elements(d0, f->parts[0].len, el, n0, &n0);
    resp_write_array_len(out, n0);
    for (uint32_t i = 0; i < n0; i += 2) {
        sbuf_put(out, d0 + el[i].off, el[i].len);
        resp_write_int(out, sum[i / 2]);
    }
done:
    px_free(el);
    px_free(sum);
}

static void merge_random(struct worker *w, struct fanout *f, struct sbuf *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->nparts; i++)
        if (!part_is_error(&f->parts[i]) && !part_is_nil(&f->parts[i])) n++;
    if (n > 0) {
        uint32_t pick = worker_random(w) % n;
        for (uint32_t i = 0; i < f->nparts; i++)
            if (!part_is_error(&f->parts[i]) && !part_is_nil(&f->parts[i]) && pick-- == 0) {
                put_part(out, &f->parts[i]);
                return;
            }
    }
    int e = first_error(f);
    put_part(out, &f->parts[e >= 0 ? (uint32_t)e : 0]);
}

static void fan_merge_and_reply(struct worker *w, struct request *r)
{
    struct fanout *f = r->fan;
    struct sbuf *out = &w->merge;
    sbuf_clear(out);
    int e = first_error(f);
    switch (f->merge) {
    case FAN_ONE_OK:
        for (uint32_t i = 0; i < f->nparts; i++)
            if (!part_is_error(&f->parts[i])) {
                put_part(out, &f->parts[i]);
                goto reply;
            }
        put_part(out, &f->parts[e >= 0 ? (uint32_t)e : 0]);
        goto reply;
    case FAN_RANDOM: merge_random(w, f, out); goto reply;
    case FAN_INFO: info_merge(w, r, out); goto reply;
    default: break;
    }
    if (f->nparts == 0) {
        resp_write_errorf(out, "CLUSTERDOWN The cluster is down (no master known)");
        goto reply;
    }
    if (e >= 0) {
        put_part(out, &f->parts[e]);
        goto reply;
    }
    switch (f->merge) {
    case FAN_KEY_ORDER: merge_key_order(w, f, out); break;
    case FAN_SUM: merge_ints(f, out, 0); break;
    case FAN_MIN: merge_ints(f, out, 1); break;
    case FAN_ALL_OK: put_part(out, &f->parts[0]); break;
    case FAN_AND: merge_and(w, r, f, out); break;
    case FAN_CONCAT: merge_concat(f, out); break;
    case FAN_SCAN: scan_merge(w, r, &f->parts[0], out); break;
    case FAN_UNION: merge_union(f, out); break;
    case FAN_PAIR_SUM: merge_pair_sum(f, out); break;
    default: reply_unexpected(out, "replies"); break;
    }
reply:
    /* The parent is answered like any request: now, or when the ones before it are. */
    request_reply_bytes(w, r, out->buf, out->len);
}
