/*
 * Fan-out and merge; see fanout.h.
 *
 * The parent request carries its struct fanout as its attachment (freed with it). Each part is a
 * request whose sink is part_sink: its reply is kept (a chunk reference) in the parent's parts,
 * the part itself goes back to the pool, and the last one to arrive runs the merger and answers
 * the parent. `pending` counts one more than the parts while they are being sent, so that parts
 * answered at once (an error, a held request that expires) cannot finish the fan-out before the
 * last part has been added.
 */
#include "fanout.h"

#include "mem.h"

#include <string.h>

static void part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                      uint32_t off, uint32_t len);

/* A part's reply goes to its parent's fan-out (request.c copies the proxy's own replies, an
 * error for a part that could not be sent, into its arena first). */
static const struct request_sink part_sink = {.reply_span = part_done, .reply_bytes = NULL};

void fanout_ctx_init(struct fanout_ctx *fc, struct request_pool *rp, struct forward *fw,
                     struct view *view)
{
    memset(fc, 0, sizeof(*fc));
    fc->rp = rp;
    fc->fw = fw;
    fc->view = view;
    sbuf_init(&fc->out);
    fc->slot_part = px_malloc(CRC16_SLOTS * sizeof(*fc->slot_part));
    for (int i = 0; i < CRC16_SLOTS; i++) fc->slot_part[i] = -1;
}

void fanout_ctx_deinit(struct fanout_ctx *fc)
{
    sbuf_free(&fc->out);
    px_free(fc->slot_part);
    fc->slot_part = NULL;
}

/* Runs when the parent is put back, which is after its last part: parts finish even when the
 * parent's client is gone. */
static void fanout_free(struct request_pool *rp, struct request_attach *a)
{
    struct fanout *f = (struct fanout *)a;
    for (uint32_t i = 0; i < f->nparts; i++) buf_chunk_put(f->parts[i].c);
    px_free(f->key_part); /* key_elem and part_nkeys live in the same allocation */
    px_free(f);
}

struct fanout *fanout_begin(struct fanout_ctx *fc, struct request *r, const struct fan_merger *m,
                            uint32_t nparts)
{
    /* The parts live in the same allocation, right after the struct. */
    struct fanout *f = px_calloc(1, sizeof(*f) + (nparts ? nparts : 1) * sizeof(*f->parts));
    f->attach.free = fanout_free;
    f->fc = fc;
    f->merger = *m;
    f->nparts = nparts;
    f->pending = nparts + 1; /* one extra until every part has been sent */
    f->parts = (struct fan_part *)(f + 1);
    r->attach = &f->attach;
    r->state = REQ_FANOUT;
    return f;
}

/* Every part is in: merge and answer the parent like any request (now, or when the ones before
 * it are answered). */
static void merge_and_reply(struct fanout *f, struct request *r)
{
    struct fanout_ctx *fc = f->fc;
    struct sbuf *out = &fc->out;
    /* out is the worker's, shared by every fan-out: the sink copies the reply before returning. */
    sbuf_clear(out);
    f->merger.merge(f, r, f->merger.ctx, out);
    request_reply_bytes(fc->rp, r, out->buf, out->len);
}

void fanout_end(struct fanout_ctx *fc, struct request *r)
{
    struct fanout *f = (struct fanout *)r->attach;
    if (--f->pending == 0) merge_and_reply(f, r);
}

void fanout_add(struct fanout_ctx *fc, struct request *r, uint32_t idx, struct buf_chunk *c,
                uint32_t off, uint32_t len, int slot, int shard)
{
    struct request *part = request_get(fc->rp);
    part->parent = r;
    part->sink = &part_sink;
    part->child_idx = idx;
    /* The parent's command: replica reads, read retries and NOSCRIPT recovery decide on it. */
    part->cmd = r->cmd;
    part->start_us = r->start_us;
    /* The part's own reference: the caller may drop its own once the parts are added. */
    buf_chunk_ref(c);
    part->breq.chunk = c;
    part->breq.off = off;
    part->breq.len = len;
    part->slot = slot;
    part->shard = (int16_t)shard;
    part->pool_gen = view_pool_gen(fc->view);
    part->flags |= r->flags & REQ_F_BLOCKING; /* WAIT's parts block on connections of their own */
    forward_send(fc->fw, part);
}

static void part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                      uint32_t off, uint32_t len)
{
    /* A part is never an orphan: its reply is kept even when the parent's client is gone, so
     * the count reaches 0 and the parent, an orphan then, is freed by request_reply_bytes. */
    struct request *r = part->parent;
    struct fanout *f = (struct fanout *)r->attach;
    struct fan_part *p = &f->parts[part->child_idx];
    buf_chunk_ref(c);
    p->c = c;
    p->off = off;
    p->len = len;
    request_put(rp, part);
    if (--f->pending == 0) merge_and_reply(f, r);
}

void fanout_all_masters(struct fanout_ctx *fc, struct request *r, const struct fan_merger *m,
                        struct buf_chunk *c, uint32_t off, uint32_t len)
{
    if (!c) {
        c = r->breq.chunk;
        off = r->breq.off;
        len = r->breq.len;
    }
    uint32_t n = (uint32_t)fc->view->nmasters;
    fanout_begin(fc, r, m, n);
    for (uint32_t i = 0; i < n; i++) fanout_add(fc, r, i, c, off, len, -1, (int)i);
    fanout_end(fc, r);
}

/* ---- splitting by slot ---- */

/* "$<len>\r\n<bytes>\r\n" */
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

/* The length key group i's key is written with: its own, or with -hash-tag-strip the name it is
 * stored under. */
static uint32_t key_len(const struct request *r, uint32_t i, uint32_t step,
                        const struct keyspace *ks)
{
    const struct resp_span *k = &r->argv[1 + i * step];
    return (uint32_t)keyspace_stored_len(ks, r->breq.chunk->data + k->off, k->len);
}

/* Copies key group i of r (step arguments) to q: as the client encoded them, when they lie one
 * after the other in the canonical form ("$<len>\r\n<bytes>\r\n", which is all the parser accepts
 * from a multibulk request) and the key keeps its name, in one copy; else formatted again.
 * Returns the end. */
static char *put_group(char *q, const struct request *r, uint32_t i, uint32_t step,
                       const struct keyspace *ks)
{
    const char *base = r->breq.chunk->data;
    const struct resp_span *first = &r->argv[1 + i * step];
    const struct resp_span *last = first + step - 1;
    uint32_t hdr = 1 + (uint32_t)resp_ull_digits(first->len) + 2;
    uint32_t klen = key_len(r, i, step, ks);
    size_t group = 0;
    for (uint32_t j = 0; j < step; j++) group += bulk_size(first[j].len);
    if (klen == first->len && first->off >= hdr && base[first->off - hdr] == '$' &&
        (size_t)(last->off + last->len + 2) - (first->off - hdr) == group) {
        memcpy(q, base + first->off - hdr, group);
        return q + group;
    }
    q = put_bulk(q, base + first->off, klen);
    for (uint32_t j = 1; j < step; j++) q = put_bulk(q, base + first[j].off, first[j].len);
    return q;
}

void fanout_split_by_slot(struct fanout_ctx *fc, struct request *r, uint32_t step,
                          const struct fan_merger *m, const struct keyspace *ks)
{
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
        unsigned slot = (unsigned)keyspace_slot(ks, base + k->off, k->len);
        int32_t p = fc->slot_part[slot];
        if (p < 0) {
            p = (int32_t)nparts++;
            fc->slot_part[slot] = p;
            part_slot[p] = (uint16_t)slot;
        }
        key_part[i] = (uint32_t)p;
        key_elem[i] = part_nkeys[p]++;
        part_size[p] += bulk_size(key_len(r, i, step, ks));
        for (uint32_t j = 1; j < step; j++)
            part_size[p] += bulk_size(r->argv[1 + i * step + j].len);
    }
    /* Only the slots used are reset: a split costs what its keys cost, not 16384 stores. */
    for (uint32_t p = 0; p < nparts; p++) fc->slot_part[part_slot[p]] = -1;

    /* Write every part's command into one chunk, one after the other; each part references it,
     * so it goes with the last of them. */
    size_t total = 0;
    for (uint32_t p = 0; p < nparts; p++) {
        part_size[p] += 1 + (size_t)resp_ull_digits(1 + (unsigned long long)part_nkeys[p] * step) +
                        2 + bulk_size(r->argv[0].len);
        total += part_size[p];
    }
    struct buf_chunk *chunk = buf_chunk_get_exact(fc->rp->chunks, total);
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
        char *q = put_group(chunk->data + part_fill[p], r, i, step, ks);
        part_fill[p] = (uint32_t)(q - chunk->data);
    }
    chunk->len = (uint32_t)total;

    struct fanout *f = fanout_begin(fc, r, m, nparts);
    f->nkeys = nkeys;
    f->key_part = key_part;
    f->key_elem = key_elem;
    f->part_nkeys = part_nkeys;
    for (uint32_t p = 0; p < nparts; p++)
        fanout_add(fc, r, p, chunk, part_off[p], (uint32_t)part_size[p], part_slot[p], -1);
    buf_chunk_put(chunk);
    px_free(part_size);
    fanout_end(fc, r);
}
