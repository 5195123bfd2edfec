/*
 * Slot-map snapshots; see slotmap.h. The topology thread builds each map from a node's reply
 * (slots_reply.c), compares it with the one in use (slotmap_same, slotmap_older) and publishes
 * it; every worker then holds a reference and rebuilds its view from it, and /debug/slots and
 * INFO read it. Once published a map is never written again, so it needs no lock: the only
 * shared mutable field is the reference count, and the last thread to drop it frees the map.
 * Building is simple appends; lookups are linear, since a map has tens of nodes and is searched
 * while it is built or when the topology changes, never per request.
 */
#include "slotmap.h"

#include "mem.h"

#include <stdio.h>
#include <string.h>

struct slotmap *slotmap_create(void)
{
    struct slotmap *m = px_calloc(1, sizeof(*m));
    /* Relaxed: the map is not shared yet. */
    atomic_init(&m->refcnt, 1);
    /* Every slot starts unserved. */
    for (int i = 0; i < CRC16_SLOTS; i++) m->slot_shard[i] = -1;
    return m;
}

void slotmap_format_addr(char *out, size_t len, const char *ip, int port)
{
    /* A colon means IPv6, which needs brackets before the port, as Redis writes it. */
    if (strchr(ip, ':'))
        snprintf(out, len, "[%s]:%d", ip, port);
    else
        snprintf(out, len, "%s:%d", ip, port);
}

int slotmap_add_node(struct slotmap *m, const char *id, const char *ip, int port,
                     enum slotmap_role role, enum slotmap_health health, long long offset)
{
    /* One element at a time: maps are built once per topology change, with a few dozen nodes. */
    m->nodes = px_realloc(m->nodes, (size_t)(m->nnodes + 1) * sizeof(*m->nodes));
    struct slotmap_node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id ? id : "");
    snprintf(n->ip, sizeof(n->ip), "%s", ip);
    n->port = port;
    slotmap_format_addr(n->addr, sizeof(n->addr), ip, port);
    n->role = role;
    n->health = health;
    n->repl_offset = offset;
    n->shard = -1;
    return m->nnodes++;
}

int slotmap_add_shard(struct slotmap *m, int master)
{
    m->shards = px_realloc(m->shards, (size_t)(m->nshards + 1) * sizeof(*m->shards));
    struct slotmap_shard *s = &m->shards[m->nshards];
    s->master = master;
    s->nreplicas = 0;
    s->replicas = NULL;
    m->nodes[master].shard = m->nshards;
    return m->nshards++;
}

void slotmap_shard_add_replica(struct slotmap *m, int shard, int node)
{
    struct slotmap_shard *s = &m->shards[shard];
    s->replicas = px_realloc(s->replicas, (size_t)(s->nreplicas + 1) * sizeof(int));
    s->replicas[s->nreplicas++] = node;
    m->nodes[node].shard = shard;
}

void slotmap_assign(struct slotmap *m, int from, int to, int shard)
{
    /* Clamped to the slot range; covered counts each slot once, however often it is assigned. */
    if (from < 0) from = 0;
    if (to >= CRC16_SLOTS) to = CRC16_SLOTS - 1;
    for (int i = from; i <= to; i++) {
        if (m->slot_shard[i] < 0) m->covered++;
        m->slot_shard[i] = (int16_t)shard;
    }
}

int slotmap_find_id(const struct slotmap *m, const char *id, size_t len)
{
    for (int i = 0; i < m->nnodes; i++)
        if (strlen(m->nodes[i].id) == len && memcmp(m->nodes[i].id, id, len) == 0) return i;
    return -1;
}

int slotmap_find_addr(const struct slotmap *m, const char *addr)
{
    for (int i = 0; i < m->nnodes; i++)
        if (strcmp(m->nodes[i].addr, addr) == 0) return i;
    return -1;
}

struct slotmap *slotmap_ref(struct slotmap *m)
{
    /* Relaxed: taking a reference needs no ordering; the caller already holds one. */
    atomic_fetch_add_explicit(&m->refcnt, 1, memory_order_relaxed);
    return m;
}

void slotmap_unref(struct slotmap *m)
{
    if (!m) return;
    /* acq_rel: the thread that frees must see every other thread's reads finished. */
    if (atomic_fetch_sub_explicit(&m->refcnt, 1, memory_order_acq_rel) != 1) return;
    for (int i = 0; i < m->nshards; i++) px_free(m->shards[i].replicas);
    slotmap_pool_free(m->pool);
    px_free(m->shards);
    px_free(m->nodes);
    px_free(m);
}

const struct slotmap_node *slotmap_master(const struct slotmap *m, unsigned slot)
{
    if (slot >= CRC16_SLOTS) return NULL;
    int s = m->slot_shard[slot];
    return s < 0 ? NULL : &m->nodes[m->shards[s].master];
}

/* Everything a worker acts on: address, id, role, health, usability for reads, config epoch. */
static int node_same(const struct slotmap_node *a, const struct slotmap_node *b)
{
    return strcmp(a->addr, b->addr) == 0 && strcmp(a->id, b->id) == 0 && a->role == b->role &&
           a->health == b->health && a->usable == b->usable && a->config_epoch == b->config_epoch;
}

int slotmap_older(const struct slotmap *a, const struct slotmap *b)
{
    int a_older = 0, b_older = 0;
    for (int s = 0; s < CRC16_SLOTS; s++) {
        int sa = a->slot_shard[s], sb = b->slot_shard[s];
        /* A slot one of them does not serve, or served by the same node in both, says nothing. */
        if (sa < 0 || sb < 0) continue;
        const struct slotmap_node *na = &a->nodes[a->shards[sa].master];
        const struct slotmap_node *nb = &b->nodes[b->shards[sb].master];
        if (strcmp(na->id, nb->id) == 0) continue;
        if (na->config_epoch < nb->config_epoch) a_older = 1;
        if (na->config_epoch > nb->config_epoch) b_older = 1;
    }
    return a_older && !b_older;
}

void slotmap_pool_free(struct slotmap_pool *p)
{
    if (!p) return;
    placement_free(p->placement);
    for (int i = 0; i < p->nservers; i++) {
        px_free(p->servers[i].addr);
        px_free(p->servers[i].name);
    }
    px_free(p->servers);
    px_free(p);
}

/* Pools agree when their placement is the same one (the generation says so) and the same
 * servers are ejected; failure counts and errors are shown but do not make a new map. */
static int pool_same(const struct slotmap_pool *a, const struct slotmap_pool *b)
{
    if (!a || !b) return a == b;
    if (a->gen != b->gen || a->nservers != b->nservers) return 0;
    for (int i = 0; i < a->nservers; i++)
        if (a->servers[i].ejected != b->servers[i].ejected ||
            a->servers[i].reachable != b->servers[i].reachable)
            return 0;
    return 1;
}

int slotmap_same(const struct slotmap *a, const struct slotmap *b)
{
    if (!pool_same(a->pool, b->pool)) return 0;
    /* A pool's first map is made before any server has answered, without the version. */
    if (a->pool && strcmp(a->redis_version, b->redis_version) != 0) return 0;
    /* Index by index: both maps were canonicalised (slots_reply_canonicalize), so the same topology
     * has the same order. */
    if (a->nnodes != b->nnodes || a->nshards != b->nshards || a->covered != b->covered) return 0;
    for (int i = 0; i < a->nnodes; i++)
        if (!node_same(&a->nodes[i], &b->nodes[i])) return 0;
    for (int i = 0; i < a->nshards; i++) {
        const struct slotmap_shard *x = &a->shards[i], *y = &b->shards[i];
        if (x->master != y->master || x->nreplicas != y->nreplicas) return 0;
        for (int j = 0; j < x->nreplicas; j++)
            if (x->replicas[j] != y->replicas[j]) return 0;
    }
    return memcmp(a->slot_shard, b->slot_shard, sizeof(a->slot_shard)) == 0;
}

int slotmap_serves_slots(const struct slotmap *m, int i)
{
    if (i < 0 || i >= m->nnodes || m->nodes[i].role != SLOTMAP_MASTER) return 0;
    for (int s = 0; s < CRC16_SLOTS; s++) {
        int sh = m->slot_shard[s];
        if (sh >= 0 && m->shards[sh].master == i) return 1;
    }
    return 0;
}

int slotmap_loses_slots(const struct slotmap *a, const struct slotmap *b)
{
    for (int s = 0; s < CRC16_SLOTS; s++)
        if (a->slot_shard[s] < 0 && b->slot_shard[s] >= 0) return 1;
    return 0;
}

int slotmap_older_somewhere(const struct slotmap *a, const struct slotmap *b)
{
    for (int s = 0; s < CRC16_SLOTS; s++) {
        int sa = a->slot_shard[s], sb = b->slot_shard[s];
        if (sa < 0 || sb < 0) continue;
        const struct slotmap_node *na = &a->nodes[a->shards[sa].master];
        const struct slotmap_node *nb = &b->nodes[b->shards[sb].master];
        if (na->config_epoch < nb->config_epoch && strcmp(na->id, nb->id) != 0) return 1;
    }
    return 0;
}
