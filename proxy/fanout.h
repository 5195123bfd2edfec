/*
 * Fan-out: one client request served by several parts, whose replies are merged into one.
 *
 * Two shapes. A multi-key command whose keys span slots (MGET, MSET, DEL, ...) is split into one
 * part per slot, each carrying that slot's keys in the caller's order. A whole-keyspace command
 * (DBSIZE, KEYS, FLUSHALL, SCRIPT LOAD, ...) is sent as it is to every master. Each part is a
 * struct request of its own, forwarded like any other (so MOVED, ASK, retries and holds apply to
 * it); its reply is kept in the parent's fan-out until the last one arrives. Then the merger the
 * caller gave turns the parts into one reply (merge.c has the generic ones; SCAN and INFO bring
 * their own), and the parent is answered like any other request.
 */
#ifndef PX_FANOUT_H
#define PX_FANOUT_H

#include "buf.h"
#include "forward.h"
#include "keyspace.h"
#include "request.h"
#include "resp_write.h"
#include "view.h"

#include <stdint.h>

/* A part's reply: c->data[off .. off+len), NULL c until it arrives. */
struct fan_part {
    struct buf_chunk *c;
    uint32_t off, len;
};

struct fanout;

/* Turns the parts of f (all answered) into the reply of r, written to out. ctx is the merger's
 * own (struct fan_merger.ctx). */
typedef void fan_merge_fn(const struct fanout *f, const struct request *r, void *ctx,
                          struct sbuf *out);

/* How a fan-out's replies are merged: the function, its argument, and a name for messages. */
struct fan_merger {
    fan_merge_fn *merge;
    void *ctx;
    const char *name;
};

struct fanout {
    struct request_attach attach; /* first: the fan-out hangs on its request as its attachment */
    struct fanout_ctx *fc;
    struct fan_merger merger;
    uint64_t mdata;   /* a number the merger keeps with the fan-out (SCAN: master and count) */
    uint32_t nparts;
    uint32_t pending; /* parts not answered yet (+1 while the parts are being sent) */
    struct fan_part *parts;
    /* A split: key i of the request is element key_elem[i] of part key_part[i]. */
    uint32_t nkeys;
    uint32_t *key_part, *key_elem, *part_nkeys; /* one allocation, at key_part */
};

/* What fan-outs need of their worker: requests, where to forward parts, the view (masters) and
 * scratch space. One per worker. */
struct fanout_ctx {
    struct request_pool *rp;
    struct forward *fw;
    struct view *view;
    struct sbuf out;    /* merged replies */
    int32_t *slot_part; /* [CRC16_SLOTS], -1: scratch for splitting keys by slot */
};

/* Prepares fc; the pointers must outlive it. fanout_ctx_deinit frees its scratch only: the
 * fan-outs still pending belong to their requests. */
void fanout_ctx_init(struct fanout_ctx *fc, struct request_pool *rp, struct forward *fw,
                     struct view *view);
void fanout_ctx_deinit(struct fanout_ctx *fc);

/*
 * Splits r, whose keys span slots of keyspace ks (in pool mode, servers), into one part per
 * slot, each of them `step` arguments per key (route_split_step), and sends them; the parts'
 * replies are merged by m. With ks->strip each key is written as the name it is stored under.
 */
void fanout_split_by_slot(struct fanout_ctx *fc, struct request *r, uint32_t step,
                          const struct fan_merger *m, const struct keyspace *ks);
/* Sends bytes [off, off+len) of c (r's own bytes when c is NULL) to every master the view knows
 * (a fan-out of zero parts: the merger decides what that means). */
void fanout_all_masters(struct fanout_ctx *fc, struct request *r, const struct fan_merger *m,
                        struct buf_chunk *c, uint32_t off, uint32_t len);

/*
 * The general form: fanout_begin() makes r a fan-out of nparts parts (set mdata in the returned
 * struct before adding parts), fanout_add() sends part idx (bytes [off, off+len) of c, to the
 * master of slot, or to master number shard when slot < 0), and fanout_end() says every part has
 * been sent. Parts may be answered, and r with them, from fanout_end() on: the caller must not
 * touch r after it.
 */
struct fanout *fanout_begin(struct fanout_ctx *fc, struct request *r, const struct fan_merger *m,
                            uint32_t nparts);
void fanout_add(struct fanout_ctx *fc, struct request *r, uint32_t idx, struct buf_chunk *c,
                uint32_t off, uint32_t len, int slot, int shard);
void fanout_end(struct fanout_ctx *fc, struct request *r);

/* The bytes of a part's reply. */
static inline const char *fan_part_data(const struct fan_part *p)
{
    return p->c->data + p->off;
}
/* 1 when the part's reply is an error ('-' or RESP3 '!'). */
static inline int fan_part_is_error(const struct fan_part *p)
{
    return p->len > 0 && (fan_part_data(p)[0] == '-' || fan_part_data(p)[0] == '!');
}

#endif
