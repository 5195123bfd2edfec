/*
 * The slot map: an immutable, refcounted snapshot of the cluster's topology. Each of the 16384
 * slots points at a shard (a master and its replicas). The topology thread builds a new map on
 * every change and hands a reference to each worker; a map is never modified after it is
 * published, so readers need no lock. References are counted atomically because maps cross
 * threads.
 */
#ifndef PX_SLOTMAP_H
#define PX_SLOTMAP_H

#include "crc16.h"
#include "placement.h"

#include <stdatomic.h>
#include <stdint.h>

#define SLOTMAP_ID_LEN   40
#define SLOTMAP_IP_MAX   64
#define SLOTMAP_ADDR_MAX 80

enum slotmap_role { SLOTMAP_MASTER = 0, SLOTMAP_REPLICA = 1 };
enum slotmap_health { SLOTMAP_ONLINE = 0, SLOTMAP_FAILED = 1, SLOTMAP_LOADING = 2 };

struct slotmap_node {
    char id[SLOTMAP_ID_LEN + 1];
    char ip[SLOTMAP_IP_MAX];
    int port;
    char addr[SLOTMAP_ADDR_MAX]; /* "ip:port", or "[ip]:port" for IPv6 */
    enum slotmap_role role;
    enum slotmap_health health;
    long long repl_offset;
    int shard; /* index into shards, -1 when the node serves no slot */
    /* Replicas only, when the topology thread probes them (replica reads): 1 when the cluster
     * does not flag it fail/pfail, it is not loading, and its link to its master is up. */
    int usable;
    long long config_epoch; /* from CLUSTER NODES of the node that answered; 0 if unknown */
    /* The node that answered flags this one "fail" or "fail?" (CLUSTER NODES). Not compared by
     * slotmap_same: it tells about the moment of the fetch, not about the topology. */
    int flagged_fail;
};

struct slotmap_shard {
    int master; /* index into nodes */
    int nreplicas;
    int *replicas; /* indices into nodes */
};

/* Pool mode: one configured server of the pool, in the order of the configuration. */
struct slotmap_pool_server {
    char *addr;       /* "host:port" as configured */
    char *name;       /* the configured name, or NULL */
    uint32_t weight;
    int shard;        /* the shard (and slot) it serves; -1 while ejected */
    int ejected;      /* taken out of the placement by -auto-eject-hosts */
    int reachable;    /* its last probe answered (1 before the first probe) */
    uint32_t failures; /* probes failed in a row */
    uint64_t retry_in_ms; /* ejected: how long until it is probed again (when the map was made) */
    char last_error[128];
};

/*
 * Pool mode: what a map of standalone servers carries besides its shards. Shard i is the i-th
 * live (not ejected) server, and the placement is built over exactly those servers in that
 * order, so a key's placement index is its slot and its shard. Owned by the map (freed with it).
 */
struct slotmap_pool {
    struct placement *placement; /* NULL when every server is ejected */
    uint64_t gen;                /* changes whenever the placement does (reload, eject, return) */
    int strip;                   /* -hash-tag-strip */
    int nservers;                /* configured servers, live or ejected */
    struct slotmap_pool_server *servers;
    char source[256];            /* the servers file, or "-pool-server" */
};

struct slotmap {
    atomic_uint refcnt;
    uint64_t version;              /* set by the topology thread when published; grows by one */
    uint64_t fetched_wall_us;      /* when it was fetched (wall clock) */
    char source[SLOTMAP_ADDR_MAX]; /* the node that answered */
    char redis_version[32];        /* that node's redis_version (INFO server), "" if unknown */
    int nnodes, nshards;
    struct slotmap_node *nodes;
    struct slotmap_shard *shards;
    int covered;                     /* slots with an owner */
    struct slotmap_pool *pool;       /* pool mode; NULL for a Redis Cluster's map */
    int16_t slot_shard[CRC16_SLOTS]; /* shard serving each slot, -1 when none */
};

/* An empty map with refcount 1: no nodes, no slot served. */
struct slotmap *slotmap_create(void);
/* Adds a node and returns its index. */
int slotmap_add_node(struct slotmap *m, const char *id, const char *ip, int port,
                     enum slotmap_role role, enum slotmap_health health, long long offset);
/* Adds a shard mastered by node index master and returns its index. */
int slotmap_add_shard(struct slotmap *m, int master);
/* Attaches node (an index into nodes) to shard as a replica. */
void slotmap_shard_add_replica(struct slotmap *m, int shard, int node);
/* Assigns slots [from, to] to shard. */
void slotmap_assign(struct slotmap *m, int from, int to, int shard);
/* Finds a node by its 40-character id; -1 when absent. */
int slotmap_find_id(const struct slotmap *m, const char *id, size_t len);
/* Finds a node by "ip:port" address; -1 when absent. */
int slotmap_find_addr(const struct slotmap *m, const char *addr);

/* Takes a reference for the caller and returns m. Any thread that already holds one. */
struct slotmap *slotmap_ref(struct slotmap *m);
/* Drops a reference; frees the map at zero. NULL is ok. Any thread. */
void slotmap_unref(struct slotmap *m);

/* The master node serving slot, or NULL. */
const struct slotmap_node *slotmap_master(const struct slotmap *m, unsigned slot);
/* Frees a pool description (NULL is fine); slotmap_unref does it for a map's. */
void slotmap_pool_free(struct slotmap_pool *p);
/* 1 when both maps describe the same topology (ignores version, time and source); for pools,
 * also the same placement generation and the same servers ejected. */
int slotmap_same(const struct slotmap *a, const struct slotmap *b);
/* 1 when a is an older view than b: some slot has a different master in each, and for every
 * such slot a's master has a lower config epoch than b's (Redis's rule: the higher epoch's
 * claim wins). 0 when they agree, when a is newer, and when the difference is mixed. */
int slotmap_older(const struct slotmap *a, const struct slotmap *b);
/* 1 when for some slot a names a different master than b does, with a lower config epoch: a is
 * older there, whatever it says of the other slots (a view mixing a failover it has heard of with
 * one it has not, or a woken master's claim, must not give any slot back to a deposed master). */
int slotmap_older_somewhere(const struct slotmap *a, const struct slotmap *b);
/* 1 when a leaves unserved a slot that b serves. A node that was just deposed (a master that froze
 * and woke to find a failover happened) may answer so for a moment: it dropped its slots before it
 * learned who has them. */
int slotmap_loses_slots(const struct slotmap *a, const struct slotmap *b);
/* 1 when node index i of m is a master that serves at least one slot. */
int slotmap_serves_slots(const struct slotmap *m, int i);
/* Formats "ip:port" (brackets for IPv6) into out. */
void slotmap_format_addr(char *out, size_t len, const char *ip, int port);

#endif
