/*
 * Slot maps from CLUSTER SHARDS / CLUSTER SLOTS replies; see slots_reply.h. topology.c asks a
 * node with a synchronous hiredis call and passes the parsed reply here; a new map comes back, or
 * NULL with a reason for the log. CLUSTER SHARDS (Redis 7) is preferred: it lists every node
 * with its role and health, shards without slots included. CLUSTER SLOTS, for older servers,
 * lists only slot ranges with their master and replicas, so every node it names counts as online.
 * Either way the map is canonicalised before it is returned, so that two nodes describing the
 * same topology in different orders give maps that slotmap_same() finds equal, and a refresh that
 * changes nothing publishes nothing. Nodes whose endpoint is unknown ("?") are left out.
 */
#include "slots_reply.h"

#include "mem.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CLUSTER SHARDS gives each shard and each node as an array of alternating names and values (its
 * RESP2 form of a map): the value for key, or NULL. */
static const redisReply *kv_get(const redisReply *r, const char *key)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i];
        if (k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) {
            if (strcasecmp(k->str, key) == 0) return r->element[i + 1];
        }
    }
    return NULL;
}

/* The string value of key, cut to fit out; -1 when absent or not a string. */
static int kv_str(const redisReply *r, const char *key, char *out, size_t len)
{
    const redisReply *v = kv_get(r, key);
    if (!v || (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_STATUS)) return -1;
    snprintf(out, len, "%s", v->str);
    return 0;
}

/* The numeric value of key, sent as an integer or as a string; dflt when absent. */
static long long kv_int(const redisReply *r, const char *key, long long dflt)
{
    const redisReply *v = kv_get(r, key);
    if (!v) return dflt;
    if (v->type == REDIS_REPLY_INTEGER) return v->integer;
    if (v->type == REDIS_REPLY_STRING) return strtoll(v->str, NULL, 10);
    return dflt;
}

/* 1 when the shard's master is flagged failed ("fail" in Redis 7.0, "failed" in the docs). */
static int shard_master_failed(const redisReply *nodes)
{
    for (size_t j = 0; j < nodes->elements; j++) {
        char role[16] = "", health[16] = "";
        kv_str(nodes->element[j], "role", role, sizeof(role));
        kv_str(nodes->element[j], "health", health, sizeof(health));
        if (strcmp(role, "master") == 0)
            return strcmp(health, "fail") == 0 || strcmp(health, "failed") == 0;
    }
    return 0;
}

/* Picks the address a node is reached at: its ip, else its endpoint, else the source's. Returns
 * -1 when the node's endpoint is unknown ("?"). */
static int pick_ip(const redisReply *node, const char *source_ip, char *ip, size_t len)
{
    char tmp[SLOTMAP_IP_MAX] = "";
    if (kv_str(node, "ip", tmp, sizeof(tmp)) < 0 || tmp[0] == '\0')
        kv_str(node, "endpoint", tmp, sizeof(tmp));
    if (strcmp(tmp, "?") == 0) return -1;
    snprintf(ip, len, "%s", tmp[0] ? tmp : source_ip);
    return 0;
}

/* port_key: "port", or "tls-port" when the nodes are reached over TLS (a node started with
 * `--port 0` announces only the latter; one with both ports, both). */
static struct slotmap *from_shards(const redisReply *r, const char *source_ip, const char *port_key,
                                   char *err, size_t errlen)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "CLUSTER SHARDS: reply is not an array");
        return NULL;
    }
    struct slotmap *m = slotmap_create();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *sh = r->element[i];
        const redisReply *slots = kv_get(sh, "slots");
        const redisReply *nodes = kv_get(sh, "nodes");
        if (!slots || !nodes || slots->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2) {
            snprintf(err, errlen, "CLUSTER SHARDS: shard %zu is malformed", i);
            slotmap_unref(m);
            return NULL;
        }
        /* A failed master without slots is one that was failed over and is still listed: left
         * out, so that commands sent to every master do not wait for a dead node. (A healthy
         * master without slots stays: keys migrating into it are found by SCAN and DBSIZE.) */
        if (slots->elements == 0 && shard_master_failed(nodes)) continue;
        int shard = -1;
        /* Masters first, so the shard exists before its replicas are attached. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t j = 0; j < nodes->elements; j++) {
                const redisReply *n = nodes->element[j];
                char role[16] = "", health[16] = "", id[64] = "", ip[SLOTMAP_IP_MAX];
                kv_str(n, "role", role, sizeof(role));
                int is_master = strcmp(role, "master") == 0;
                if (is_master != (pass == 0)) continue;
                long long port = kv_int(n, port_key, -1);
                if (port <= 0 || port > 65535 || pick_ip(n, source_ip, ip, sizeof(ip)) < 0)
                    continue;
                kv_str(n, "id", id, sizeof(id));
                kv_str(n, "health", health, sizeof(health));
                enum slotmap_health h = SLOTMAP_ONLINE;
                if (strcmp(health, "fail") == 0 || strcmp(health, "failed") == 0)
                    h = SLOTMAP_FAILED;
                else if (strcmp(health, "loading") == 0)
                    h = SLOTMAP_LOADING;
                int idx = slotmap_add_node(m, id, ip, (int)port,
                                           is_master ? SLOTMAP_MASTER : SLOTMAP_REPLICA, h,
                                           kv_int(n, "replication-offset", 0));
                if (is_master && shard < 0)
                    shard = slotmap_add_shard(m, idx);
                else if (!is_master && shard >= 0)
                    slotmap_shard_add_replica(m, shard, idx);
            }
        }
        if (shard < 0) {
            if (slots->elements == 0) continue; /* a shard of replicas only, or empty */
            snprintf(err, errlen, "CLUSTER SHARDS: shard %zu has slots but no master", i);
            slotmap_unref(m);
            return NULL;
        }
        /* Slots come as a flat list of start and end pairs, both ends included. */
        for (size_t j = 0; j + 1 < slots->elements; j += 2) {
            const redisReply *a = slots->element[j], *b = slots->element[j + 1];
            if (a->type != REDIS_REPLY_INTEGER || b->type != REDIS_REPLY_INTEGER ||
                a->integer < 0 || b->integer >= CRC16_SLOTS || a->integer > b->integer) {
                snprintf(err, errlen, "CLUSTER SHARDS: bad slot range in shard %zu", i);
                slotmap_unref(m);
                return NULL;
            }
            slotmap_assign(m, (int)a->integer, (int)b->integer, shard);
        }
    }
    slots_reply_canonicalize(&m);
    return m;
}

struct slotmap *slots_reply_from_shards(const redisReply *r, const char *source_ip, char *err,
                                        size_t errlen)
{
    return from_shards(r, source_ip, "port", err, errlen);
}

struct slotmap *slots_reply_from_shards_tls(const redisReply *r, const char *source_ip, char *err,
                                            size_t errlen)
{
    return from_shards(r, source_ip, "tls-port", err, errlen);
}

/* A node entry of CLUSTER SLOTS: [endpoint, port, id, ...]. */
static int slots_node(const redisReply *n, const char *source_ip, char *ip, size_t iplen, int *port,
                      char *id, size_t idlen)
{
    if (n->type != REDIS_REPLY_ARRAY || n->elements < 2) return -1;
    const redisReply *e = n->element[0], *p = n->element[1];
    if (p->type != REDIS_REPLY_INTEGER || p->integer <= 0 || p->integer > 65535) return -1;
    if (e->type == REDIS_REPLY_STRING) {
        if (strcmp(e->str, "?") == 0) return -1;
        snprintf(ip, iplen, "%s", e->str[0] ? e->str : source_ip);
    } else {
        snprintf(ip, iplen, "%s", source_ip); /* NULL endpoint: same host as the source */
    }
    *port = (int)p->integer;
    id[0] = '\0';
    if (n->elements > 2 && n->element[2]->type == REDIS_REPLY_STRING)
        snprintf(id, idlen, "%s", n->element[2]->str);
    return 0;
}

struct slotmap *slots_reply_from_slots(const redisReply *r, const char *source_ip, char *err,
                                       size_t errlen)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "CLUSTER SLOTS: reply is not an array");
        return NULL;
    }
    struct slotmap *m = slotmap_create();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER) {
            snprintf(err, errlen, "CLUSTER SLOTS: entry %zu is malformed", i);
            slotmap_unref(m);
            return NULL;
        }
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        if (from < 0 || to >= CRC16_SLOTS || from > to) {
            snprintf(err, errlen, "CLUSTER SLOTS: bad slot range in entry %zu", i);
            slotmap_unref(m);
            return NULL;
        }
        char ip[SLOTMAP_IP_MAX], id[64], addr[SLOTMAP_ADDR_MAX];
        int port;
        if (slots_node(e->element[2], source_ip, ip, sizeof(ip), &port, id, sizeof(id)) < 0)
            continue; /* master endpoint unknown: leave these slots unserved */
        slotmap_format_addr(addr, sizeof(addr), ip, port);
        /* CLUSTER SLOTS repeats a master once per slot range; keep one shard per master. */
        int midx = slotmap_find_addr(m, addr);
        int shard;
        if (midx < 0) {
            midx = slotmap_add_node(m, id, ip, port, SLOTMAP_MASTER, SLOTMAP_ONLINE, 0);
            shard = slotmap_add_shard(m, midx);
            /* The replicas, read with the master's first range only: every range repeats them. */
            for (size_t j = 3; j < e->elements; j++) {
                char rip[SLOTMAP_IP_MAX], rid[64];
                int rport;
                if (slots_node(e->element[j], source_ip, rip, sizeof(rip), &rport, rid,
                               sizeof(rid)) < 0)
                    continue;
                int ridx = slotmap_add_node(m, rid, rip, rport, SLOTMAP_REPLICA, SLOTMAP_ONLINE, 0);
                slotmap_shard_add_replica(m, shard, ridx);
            }
        } else {
            shard = m->nodes[midx].shard;
        }
        slotmap_assign(m, (int)from, (int)to, shard);
    }
    slots_reply_canonicalize(&m);
    return m;
}

/* The map being sorted, for the qsort comparators (qsort passes them no context). */
static const struct slotmap *sort_map;

/* Node indices by the nodes' addresses. */
static int cmp_node(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return strcmp(sort_map->nodes[x].addr, sort_map->nodes[y].addr);
}

/* Shard indices by their masters' addresses. */
static int cmp_shard(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return strcmp(sort_map->nodes[sort_map->shards[x].master].addr,
                  sort_map->nodes[sort_map->shards[y].master].addr);
}

void slots_reply_canonicalize(struct slotmap **mp)
{
    /* Runs only on the topology thread (and in tests), so a file-level sort context is safe. */
    struct slotmap *m = *mp;
    int *norder = px_malloc((size_t)(m->nnodes + 1) * sizeof(int));
    int *sorder = px_malloc((size_t)(m->nshards + 1) * sizeof(int));
    int *nnew = px_malloc((size_t)(m->nnodes + 1) * sizeof(int));
    int *snew = px_malloc((size_t)(m->nshards + 1) * sizeof(int));
    for (int i = 0; i < m->nnodes; i++) norder[i] = i;
    for (int i = 0; i < m->nshards; i++) sorder[i] = i;
    sort_map = m;
    qsort(norder, (size_t)m->nnodes, sizeof(int), cmp_node);
    qsort(sorder, (size_t)m->nshards, sizeof(int), cmp_shard);
    sort_map = NULL;
    /* norder and sorder list old indices in the new order; nnew and snew give each old index its
     * new one, to translate the shards' and slots' references. */
    for (int i = 0; i < m->nnodes; i++) nnew[norder[i]] = i;
    for (int i = 0; i < m->nshards; i++) snew[sorder[i]] = i;

    /* A new map built in the new order rather than permuted in place: every index inside
     * changes. */
    struct slotmap *c = slotmap_create();
    for (int i = 0; i < m->nnodes; i++) {
        const struct slotmap_node *n = &m->nodes[norder[i]];
        int k = slotmap_add_node(c, n->id, n->ip, n->port, n->role, n->health, n->repl_offset);
        c->nodes[k].usable = n->usable;
    }
    for (int i = 0; i < m->nshards; i++) {
        const struct slotmap_shard *s = &m->shards[sorder[i]];
        int sh = slotmap_add_shard(c, nnew[s->master]);
        int *reps = px_malloc((size_t)(s->nreplicas + 1) * sizeof(int));
        for (int j = 0; j < s->nreplicas; j++) reps[j] = nnew[s->replicas[j]];
        /* Replicas in address order too. */
        for (int a = 1; a < s->nreplicas; a++)
            for (int b = a; b > 0 && reps[b - 1] > reps[b]; b--) {
                int t = reps[b];
                reps[b] = reps[b - 1];
                reps[b - 1] = t;
            }
        for (int j = 0; j < s->nreplicas; j++) slotmap_shard_add_replica(c, sh, reps[j]);
        px_free(reps);
    }
    for (int i = 0; i < CRC16_SLOTS; i++)
        if (m->slot_shard[i] >= 0) slotmap_assign(c, i, i, snew[m->slot_shard[i]]);
    px_free(norder);
    px_free(sorder);
    px_free(nnew);
    px_free(snew);
    slotmap_unref(m);
    *mp = c;
}
