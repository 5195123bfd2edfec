/*
 * A worker's view of the cluster; see view.h.
 *
 * view_apply_map turns a slot map into three tables: the runner of each shard's master (masters),
 * the slot table (idx/ent: one entry per shard that serves slots, so the index always fits in 16
 * bits), and the replicas each shard can read from. Runners are looked up by address, so a node
 * that stays in the cluster keeps its connection across maps; a node that left is freed once it
 * has nothing in flight (until then it stays in the list, pointed at by nothing).
 */
#include "view.h"

#include "mem.h"

#include <stdio.h>
#include <string.h>

void view_init(struct view *v, struct loop *loop, struct buf_pool *pool, const struct config *cfg,
               struct tls_ctx *tls, const struct backend_ops *ops, void *ops_ctx, stat_t *nbackends)
{
    memset(v, 0, sizeof(*v));
    v->loop = loop;
    v->pool = pool;
    v->cfg = cfg;
    v->ops = ops;
    v->ops_ctx = ops_ctx;
    v->nrunners = nbackends;
    /* One set of options per kind of runner (master or replica read from, RESP2 or RESP3): a
     * runner keeps a pointer to its options, so they live here as long as the view. */
    v->bopts.connect_timeout_ms = cfg->connect_timeout_ms;
    v->bopts.user = cfg->user;
    v->bopts.password = cfg->password;
    v->bopts.keepalive_s = cfg->tcp_keepalive_s;
    v->bopts.timeout_ms = cfg->backend_timeout_ms;
    v->bopts.tls = tls;
    v->bopts_ro = v->bopts;
    v->bopts_ro.readonly = 1;
    v->bopts3 = v->bopts;
    v->bopts3.resp3 = 1;
    v->bopts3_ro = v->bopts_ro;
    v->bopts3_ro.resp3 = 1;
    /* Only the shared runners to masters watch for stalls: replicas lose no writes, and a private
     * connection may block or hold a transaction for as long as its client wants. */
    v->bopts_m = v->bopts;
    v->bopts_m.stall_ms = cfg->stall_threshold_ms;
    v->bopts_m.hold_ms = cfg->stall_hold_ms;
    v->bopts3_m = v->bopts3;
    v->bopts3_m.stall_ms = cfg->stall_threshold_ms;
    v->bopts3_m.hold_ms = cfg->stall_hold_ms;
    v->bopts3_trk = v->bopts3_m;
    v->bopts3_trk.tracking = 1;
    v->bopts3_bcast = v->bopts3_m;
    v->bopts3_bcast.tracking = 2;
    /* The shared runners answer promptly: their owed replies count toward the loop's batched
     * wait. A private connection may wait on purpose (a blocked command, Pub/Sub): never. */
    v->bopts_m.batch = v->bopts_ro.batch = v->bopts3_m.batch = v->bopts3_ro.batch = 1;
    v->bopts3_trk.batch = v->bopts3_bcast.batch = 1;
    /* Every slot at entry 0, unserved, until the first map. */
    v->idx = px_calloc(CRC16_SLOTS, sizeof(*v->idx));
    v->ent_cap = 8;
    v->ent = px_calloc(v->ent_cap, sizeof(*v->ent));
    v->ent[0].shard = -1;
    v->nent = 1;
}

void view_deinit(struct view *v)
{
    /* Runners first: failing their FIFOs frees the requests that were still in flight. */
    for (int i = 0; i < v->nbackends; i++) backend_free(v->backends[i]);
    px_free(v->backends);
    slotmap_unref(v->map);
    px_free(v->idx);
    px_free(v->ent);
    px_free(v->masters);
    for (int i = 0; i < v->nshards; i++) px_free(v->shards[i].replicas);
    px_free(v->shards);
    px_free(v->flush);
    px_free(v->twins);
    px_free(v->suspects);
    memset(v, 0, sizeof(*v));
}

/* A linear search: a few runners per node, and it runs on a map, a redirect or a twin's first
 * use, never for every request. */
int view_kind_of(const struct backend *b)
{
    if (backend_resp(b) == 2) return VIEW_RESP2;
    switch (backend_tracking(b)) {
    case 1: return VIEW_TRACK;
    case 2: return VIEW_BCAST;
    default: return VIEW_RESP3;
    }
}

struct backend *view_backend(struct view *v, const char *ip, int port, int ro, int kind)
{
    for (int i = 0; i < v->nbackends; i++) {
        struct backend *b = v->backends[i];
        if (backend_port(b) == port && strcmp(backend_ip(b), ip) == 0 &&
            backend_readonly(b) == ro && view_kind_of(b) == kind)
            return b;
    }
    if (v->nbackends == v->backends_cap) {
        v->backends_cap = v->backends_cap ? v->backends_cap * 2 : 16;
        v->backends = px_realloc(v->backends, (size_t)v->backends_cap * sizeof(*v->backends));
    }
    const struct backend_opts *o = kind == VIEW_TRACK   ? &v->bopts3_trk
                                   : kind == VIEW_BCAST ? &v->bopts3_bcast
                                   : kind == VIEW_RESP3 ? (ro ? &v->bopts3_ro : &v->bopts3_m)
                                                        : (ro ? &v->bopts_ro : &v->bopts_m);
    struct backend *b = backend_create(v->loop, v->pool, v->ops, v->ops_ctx, o, ip, port);
    v->backends[v->nbackends++] = b;
    for (int i = 0; !ro && i < v->nsuspects; i++)
        if (strcmp(v->suspects[i], backend_addr(b)) == 0) backend_suspect(b);
    stat_add(v->nrunners, 1);
    return b;
}

void view_set_suspect(struct view *v, const char *addr, int on)
{
    int at = -1;
    for (int i = 0; i < v->nsuspects; i++)
        if (strcmp(v->suspects[i], addr) == 0) at = i;
    if (on) {
        if (at < 0) {
            v->suspects = px_realloc(v->suspects, (size_t)(v->nsuspects + 1) * sizeof(*v->suspects));
            snprintf(v->suspects[v->nsuspects++], SLOTMAP_ADDR_MAX, "%s", addr);
        }
        for (int i = 0; i < v->nbackends; i++)
            if (!backend_readonly(v->backends[i]) && strcmp(backend_addr(v->backends[i]), addr) == 0)
                backend_suspect(v->backends[i]);
    } else if (at >= 0) {
        memmove(v->suspects[at], v->suspects[at + 1],
                (size_t)(v->nsuspects - at - 1) * sizeof(*v->suspects));
        v->nsuspects--;
    }
}

struct backend *view_twin(struct view *v, struct backend *b, int kind)
{
    if (!b || kind == VIEW_RESP2 || view_kind_of(b) == kind) return b;
    /* The cache is emptied with every map, so it never names a freed runner; a twin itself stays
     * among the runners and is found again by address. */
    for (int i = 0; i < v->ntwins; i++)
        if (v->twins[i].b2 == b && v->twins[i].kind == kind) return v->twins[i].b;
    int ro = backend_readonly(b) && kind == VIEW_RESP3;
    struct backend *t = view_backend(v, backend_ip(b), backend_port(b), ro, kind);
    if (v->ntwins == v->twins_cap) {
        v->twins_cap = v->twins_cap ? v->twins_cap * 2 : 8;
        v->twins = px_realloc(v->twins, (size_t)v->twins_cap * sizeof(*v->twins));
    }
    v->twins[v->ntwins].b2 = b;
    v->twins[v->ntwins].kind = kind;
    v->twins[v->ntwins++].b = t;
    return t;
}

/* The listeners: a VIEW_BCAST runner to every master, connected now (it sends nothing). */
static void connect_listeners(struct view *v)
{
    for (int i = 0; i < v->nmasters; i++) backend_reconnect(view_twin(v, v->masters[i], VIEW_BCAST));
}

void view_set_listen(struct view *v, int on)
{
    v->listen = on;
    if (on && v->map) connect_listeners(v);
}

/* Frees the runners of nodes that left the cluster and have nothing in flight. The view has just
 * been rebuilt from the map, so nothing else points at them (the twin cache is emptied). */
static void sweep_backends(struct view *v, const struct slotmap *m)
{
    v->ntwins = 0;
    int k = 0;
    for (int i = 0; i < v->nbackends; i++) {
        struct backend *b = v->backends[i];
        /* A runner with requests in flight stays until a later map: their replies (or
         * failures) still come back through it. */
        if (slotmap_find_addr(m, backend_addr(b)) < 0 && backend_inflight(b) == 0) {
            view_forget_flush(v, b);
            backend_free(b);
            /* Single writer (this worker): a relaxed store, as stat_add does. */
            atomic_store_explicit(v->nrunners, stat_get(v->nrunners) - 1, memory_order_relaxed);
            continue;
        }
        v->backends[k++] = b;
    }
    v->nbackends = k;
}

/* The slot table: entry 0 unserved, then one per shard that serves slots, in the order first
 * seen (so at most one per slot: the index always fits). */
static void build_slot_table(struct view *v, const struct slotmap *m, struct backend **shard_b)
{
    uint32_t *ent_of = px_calloc((size_t)m->nshards + 1, sizeof(*ent_of));
    v->nent = 1;
    for (int s = 0; s < CRC16_SLOTS; s++) {
        int sh = m->slot_shard[s];
        if (sh < 0) {
            v->idx[s] = 0;
            continue;
        }
        if (!ent_of[sh]) { /* 0: no entry yet (entry 0 is the unserved one, never a shard's) */
            if (v->nent == v->ent_cap) {
                v->ent_cap *= 2;
                v->ent = px_realloc(v->ent, v->ent_cap * sizeof(*v->ent));
            }
            v->ent[v->nent].b = shard_b[sh];
            v->ent[v->nent].shard = sh;
            ent_of[sh] = v->nent++;
        }
        v->idx[s] = (uint16_t)ent_of[sh];
    }
    px_free(ent_of);
}

/* Replicas for reads: only those the topology thread found usable, local ones first. */
static void build_shards(struct view *v, const struct slotmap *m, struct backend **shard_b)
{
    for (int i = 0; i < v->nshards; i++) px_free(v->shards[i].replicas);
    v->shards = px_realloc(v->shards, (size_t)(m->nshards + 1) * sizeof(*v->shards));
    v->nshards = m->nshards;
    for (int i = 0; i < m->nshards; i++) {
        struct view_shard *ws = &v->shards[i];
        const struct slotmap_shard *sh = &m->shards[i];
        memset(ws, 0, sizeof(*ws));
        ws->master = shard_b[i];
        ws->replicas = px_malloc((size_t)(sh->nreplicas + 1) * sizeof(*ws->replicas));
        /* Local replicas in the first pass, so that replicas[0 .. nlocal) are they. */
        for (int local = 1; local >= 0; local--)
            for (int j = 0; j < sh->nreplicas; j++) {
                const struct slotmap_node *n = &m->nodes[sh->replicas[j]];
                if (!n->usable || config_in_idc(v->cfg, n->ip) != local) continue;
                ws->replicas[ws->nreplicas++] = view_backend(v, n->ip, n->port, 1, 2);
                if (local) ws->nlocal++;
            }
    }
}

void view_apply_map(struct view *v, struct slotmap *m)
{
    struct backend **shard_b = px_calloc((size_t)m->nshards + 1, sizeof(*shard_b));
    v->nmasters = 0;
    v->masters = px_realloc(v->masters, (size_t)(m->nshards + 1) * sizeof(*v->masters));
    /* By address: a master that stays keeps its runner, its connection and what is in flight. */
    for (int i = 0; i < m->nshards; i++) {
        const struct slotmap_node *n = &m->nodes[m->shards[i].master];
        shard_b[i] = view_backend(v, n->ip, n->port, 0, 2);
        v->masters[v->nmasters++] = shard_b[i];
    }
    build_slot_table(v, m, shard_b);
    build_shards(v, m, shard_b);
    px_free(shard_b);
    /* Last: only now does nothing of the view point at the runners of nodes that left. */
    sweep_backends(v, m);
    slotmap_unref(v->map);
    v->map = m;
    if (v->listen) connect_listeners(v);
}

void view_patch(struct view *v, int slot, struct backend *b)
{
    if (v->ent[v->idx[slot]].b == b) return; /* already there, shard and all */
    /* Every slot MOVED to the same runner shares one entry, with shard -1: which replicas serve
     * those slots is unknown until the next map. */
    uint32_t k = 1;
    while (k < v->nent && !(v->ent[k].b == b && v->ent[k].shard < 0)) k++;
    if (k == v->nent) {
        if (k > UINT16_MAX) return; /* no room: the refresh a MOVED asks for will bring it */
        if (v->nent == v->ent_cap) {
            v->ent_cap *= 2;
            v->ent = px_realloc(v->ent, v->ent_cap * sizeof(*v->ent));
        }
        v->ent[k].b = b;
        v->ent[k].shard = -1;
        v->nent++;
    }
    v->idx[slot] = (uint16_t)k;
}

/* No duplicate check: a runner asks only for its first bytes since its last flush. */
void view_want_flush(struct view *v, struct backend *b)
{
    if (v->nflush == v->flush_cap) {
        v->flush_cap = v->flush_cap ? v->flush_cap * 2 : 16;
        v->flush = px_realloc(v->flush, (size_t)v->flush_cap * sizeof(*v->flush));
    }
    v->flush[v->nflush++] = b;
}

void view_forget_flush(struct view *v, struct backend *b)
{
    int n = 0;
    for (int j = 0; j < v->nflush; j++)
        if (v->flush[j] != b) v->flush[n++] = v->flush[j];
    v->nflush = n;
}

int view_flush(struct view *v)
{
    int n = v->nflush;
    /* nflush is read on every round, so a runner queued while flushing is written too. */
    for (int i = 0; i < v->nflush; i++) backend_flush(v->flush[i]);
    v->nflush = 0;
    return n;
}
