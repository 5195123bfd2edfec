/*
 * A worker's view of the cluster: which backend runner serves each slot, the masters in the map's
 * order, the replicas usable for reads, and every runner the worker has made (one pipelined
 * connection per node, shared by all of the worker's clients).
 *
 * The topology thread publishes immutable slot maps (cluster/slotmap.h); the worker hands each
 * one to view_apply_map, which rebuilds the view from it and frees the runners of nodes that
 * left. Between maps, a MOVED patches one slot at once (view_patch). The view is also where the
 * worker's runners queue themselves to be written at the end of the loop turn (view_want_flush,
 * view_flush). Nothing here takes a lock: a view belongs to one worker thread.
 */
#ifndef PX_VIEW_H
#define PX_VIEW_H

#include "backend.h"
#include "buf.h"
#include "config.h"
#include "crc16.h"
#include "keyspace.h"
#include "loop.h"
#include "slotmap.h"
#include "stats.h"

#include <stdint.h>

/* A shard as the view sees it: its master's runner and the runners of its replicas that are
 * usable for reads (those in the proxy's data centre first). */
struct view_shard {
    struct backend *master;
    struct backend **replicas;
    int nreplicas;
    int nlocal; /* replicas[0 .. nlocal) are in the data centre */
    uint32_t rr;
};

/* One target of the slot table: a runner and the shard it masters (-1 for a runner a MOVED
 * pointed slots at: its replicas do not serve them). */
struct view_ent {
    struct backend *b;
    int shard;
};

struct view {
    struct loop *loop;
    struct buf_pool *pool;
    const struct config *cfg;
    const struct backend_ops *ops; /* given to every runner the view makes */
    void *ops_ctx;
    struct backend_opts bopts;     /* private connections (private.c) */
    struct backend_opts bopts_m;   /* shared runners to masters: the same, and stalls reported */
    struct backend_opts bopts_ro;  /* replicas read from: READONLY on connect */
    struct backend_opts bopts3;    /* the same for RESP3 clients: HELLO 3 on connect */
    struct backend_opts bopts3_m;
    struct backend_opts bopts3_ro;
    struct backend_opts bopts3_trk;   /* tracking clients' runners: CLIENT TRACKING ON */
    struct backend_opts bopts3_bcast; /* ... CLIENT TRACKING ON BCAST (and the listeners) */
    stat_t *nrunners;             /* the worker's count of runners (statistics) */

    struct slotmap *map; /* the map the view was built from (a reference), NULL before one */
    /* slot -> runner, kept small so that the lookup each request makes stays in cache (a pointer
     * per slot was 128 KB, and its load was the proxy's costliest instruction at GET -P 16):
     * idx[slot] indexes ent. Entry 0 is unserved (NULL); then one per shard that serves slots;
     * then the runners MOVED pointed slots at. */
    uint16_t *idx; /* [CRC16_SLOTS] */
    struct view_ent *ent;
    uint32_t nent, ent_cap;
    struct backend **masters; /* one per shard, in the map's order (keyless commands) */
    int nmasters;
    struct view_shard *shards; /* per shard of the map (index = master index) */
    int nshards;
    struct backend **backends; /* every runner the view made */
    int nbackends, backends_cap;
    struct backend **flush; /* runners with output to write this turn */
    int nflush, flush_cap;
    /* The other kinds of runner to a node a RESP2 runner talks to (a cache, emptied with every
     * map; view_twin fills it). */
    struct view_twin {
        struct backend *b2, *b;
        int kind;
    } * twins;
    int ntwins, twins_cap;
    /* Keep a VIEW_BCAST runner to every master connected (tracking.c listens on them). */
    int listen;
    /* Nodes suspected of having frozen (forward.c): their shared runners, and those made while
     * the suspicion lasts, refuse sends and hold what the node answers. */
    char (*suspects)[SLOTMAP_ADDR_MAX];
    int nsuspects;
};

/*
 * Prepares an empty view. Runners it makes run on loop with chunks from pool, call ops with
 * ops_ctx, and take their connection options from cfg (which must outlive the view), talking TLS
 * to the nodes when tls (the nodes' side context, -tls-cluster) is not NULL; nbackends counts
 * them.
 */
void view_init(struct view *v, struct loop *loop, struct buf_pool *pool, const struct config *cfg,
               struct tls_ctx *tls, const struct backend_ops *ops, void *ops_ctx,
               stat_t *nbackends);
/* Frees every runner (failing what they have in flight, through ops) and the map reference. */
void view_deinit(struct view *v);

/* The kinds of runner to one node: the protocol its connection speaks, and whether the node
 * tracks the keys read on it for the proxy (tracking.c). */
enum view_kind {
    VIEW_RESP2 = 2,
    VIEW_RESP3 = 3,
    VIEW_TRACK = 4, /* RESP3, CLIENT TRACKING ON: invalidations of keys read on it, in order */
    VIEW_BCAST = 5, /* RESP3, CLIENT TRACKING ON BCAST: invalidations of every key written */
};
/* The kind of b. */
int view_kind_of(const struct backend *b);
/* The runner for ip:port (ro: a replica read from, which sends READONLY; kind: enum view_kind,
 * where 2 and 3 are the protocol its connection speaks; a replica is RESP2 or 3), made on first
 * use. */
struct backend *view_backend(struct view *v, const char *ip, int port, int ro, int kind);
/* The runner that talks to b's node like b does (replica or not) as kind says: b itself for
 * VIEW_RESP2 (or when b is of that kind), else its twin of that kind (made on first use; the
 * tracking kinds only for masters). NULL for a NULL b. */
struct backend *view_twin(struct view *v, struct backend *b, int kind);
/* Listening (on) keeps a VIEW_BCAST runner connected to every master, now and after each map. */
void view_set_listen(struct view *v, int on);
/* Rebuilds the view from m, taking over the caller's reference to it, and frees the runners of
 * nodes that left the cluster with nothing in flight. */
void view_apply_map(struct view *v, struct slotmap *m);
/* Marks the node at addr suspect (on) or not: every shared runner to it (not a replica read
 * from) gets backend_suspect; off only forgets the mark (the caller confirms or deposes the
 * runners). */
void view_set_suspect(struct view *v, const char *addr, int on);
/* Points slot at b until the next map (after a MOVED). */
void view_patch(struct view *v, int slot, struct backend *b);

/* The master runner serving slot (NULL when no shard serves it, or before a map). */
static inline struct backend *view_slot_backend(const struct view *v, int slot)
{
    return v->ent[v->idx[slot]].b;
}
/* The shard whose master serves slot per the map, or -1 (unserved, or moved by a MOVED since). */
static inline int view_slot_shard(const struct view *v, int slot)
{
    return v->ent[v->idx[slot]].shard;
}
/* The master of shard i, or NULL when there is no such shard. */
static inline struct backend *view_master(const struct view *v, int i)
{
    return i >= 0 && i < v->nmasters ? v->masters[i] : NULL;
}

/*
 * The keyspace of the view's map (cluster/keyspace.h), for one request: CRC16 hash slots in
 * cluster mode; in pool mode the placement of the map in use (none before the first map, or
 * while every server is ejected), with entropy as that request's pick for the random
 * distribution.
 */
static inline void view_keyspace(const struct view *v, uint32_t entropy, struct keyspace *ks)
{
    const struct slotmap_pool *p = v->map ? v->map->pool : NULL;
    ks->pl = p ? p->placement : NULL;
    ks->pool = (uint8_t)(v->cfg->pool != 0);
    ks->strip = (uint8_t)(v->cfg->pool && v->cfg->hash_tag_strip);
    ks->entropy = entropy;
}
/* The slot of one key in the view's keyspace (entropy 0). */
static inline int view_key_slot(const struct view *v, const char *key, size_t len)
{
    struct keyspace ks;
    view_keyspace(v, 0, &ks);
    return keyspace_slot(&ks, key, len);
}
/* Pool mode: the generation of the placement in use (0 before a map, and in cluster mode). A
 * request whose slot was computed in another generation must not be sent by that slot. */
static inline uint64_t view_pool_gen(const struct view *v)
{
    return v->map && v->map->pool ? v->map->pool->gen : 0;
}

/* Queues b to be written at the end of the turn (a runner's want_flush callback calls it). */
void view_want_flush(struct view *v, struct backend *b);
/* Takes b off this turn's flush list: whoever frees a runner calls it first, so that view_flush
 * never writes through a freed runner (a private connection closed in the turn it queued bytes). */
void view_forget_flush(struct view *v, struct backend *b);
/* Writes every queued runner's output; returns how many were written. */
int view_flush(struct view *v);

#endif
