/*
 * Topology discovery. One thread owns it. In pool mode (topology_config.pool set) there is no
 * cluster to ask: the thread probes each standalone server of the pool (a connect and INFO,
 * which also names its replicas), ejects and brings back servers as pool.h says, reads the
 * servers file again when asked (topology_request_reload, on SIGHUP), and publishes the map
 * pool_build_map makes; its first map is published at once, before any probe, so the proxy
 * serves without waiting for every server to answer. In cluster mode: it asks a reachable node for CLUSTER SHARDS (CLUSTER
 * SLOTS on nodes that lack it), trying the node that answered last, then every node of the current
 * map, then the startup nodes, then every node it has ever seen, so no single node is a point of
 * failure. It refreshes every reload interval and on demand (rate-limited), and publishes each
 * changed map through a callback, on its own thread. This thread may block on the network; worker
 * threads never call into it except through topology_request_refresh() and
 * topology_report_stall(), which do not block.
 *
 * Suspects: a worker whose connection to a master stalls reports it (topology_report_stall). The
 * thread then tells every worker to hold that node (TOPO_V_SUSPECT), fetches the topology every
 * suspect_poll_ms from other nodes (the suspect's replicas first: one of them is who a failover
 * promotes) while any worker keeps reporting, and gives a verdict on the node: deposed (another
 * master serves its slots in a view not older than the one in use), confirmed (a view fetched
 * after the node answered again, from another node, says it still serves its slots, and neither
 * that node nor any reachable replica of it flags it failing or follows another master), or
 * expired (no worker reported it for suspect_expire_ms).
 */
#ifndef PX_TOPOLOGY_H
#define PX_TOPOLOGY_H

#include "pool.h"
#include "slotmap.h"

#include <stddef.h>
#include <stdint.h>

struct topology;
struct tls_ctx;

struct topology_config {
    const char *const *startup; /* "host:port" strings */
    int nstartup;
    uint64_t connect_timeout_ms;
    uint64_t reload_interval_ms;
    uint64_t min_refresh_interval_ms; /* on-demand refreshes are at least this far apart */
    const char *user;                 /* AUTH user (NULL: password only) */
    const char *password;             /* AUTH password (NULL: none) */
    int probe_replicas;               /* check each replica's health (for replica reads) */
    uint64_t suspect_poll_ms;   /* while a node is suspect, the topology is fetched this often */
    uint64_t suspect_expire_ms; /* a suspect no worker reported for this long is forgotten */
    struct tls_ctx *tls; /* -tls-cluster: the nodes are reached over TLS at their tls-port (NULL:
                            plain TCP); must outlive the topology */
    const struct pool_config *pool; /* pool mode: the pool (copied); NULL for a cluster */
};

/* What the thread tells workers about a suspect node. */
enum topology_verdict {
    TOPO_V_SUSPECT = 0, /* a worker saw it stall: every worker holds it until a verdict */
    TOPO_V_CONFIRMED,   /* it still serves its slots: what it answered may be relayed */
    TOPO_V_DEPOSED,     /* a failover gave its slots to another master (published first) */
    TOPO_V_EXPIRED,     /* no worker reports it any more: suspicion ends without a verdict */
};

/* Called on the topology thread for each verdict on the node at addr ("ip:port"), after the map
 * that led to it was published. */
typedef void topology_verdict_cb(const char *addr, enum topology_verdict v, void *ctx);

/* Called on the topology thread with each new map; the map is borrowed (take a reference to
 * keep it). */
typedef void topology_publish_cb(struct slotmap *map, void *ctx);

struct topology_stats {
    uint64_t refresh_ok;
    uint64_t refresh_failed;
    uint64_t refresh_requested;
    uint64_t refresh_stale; /* views refused: older (lower config epoch) than the map in use */
    uint64_t suspects;      /* nodes reported stalled (each time one became suspect) */
    uint64_t confirmed;     /* ... found still serving their slots */
    uint64_t deposed;       /* ... found failed over */
    uint64_t expired;       /* ... no longer reported before any verdict */
    uint64_t version;
    uint64_t last_ok_wall_us;
};

/* Copies cfg. Returns NULL when a startup address does not parse, or in pool mode when the pool's
 * server list cannot be read (err, when not NULL, gets the reason). */
struct topology *topology_create(const struct topology_config *cfg, topology_publish_cb *cb,
                                 void *ctx, char *err, size_t errlen);
/* Sets the verdict callback (before topology_start). */
void topology_on_verdict(struct topology *t, topology_verdict_cb *cb, void *ctx);
/* Starts the thread. Returns 0 or -errno. */
int topology_start(struct topology *t);
/* Waits until a first map exists and has been handed to the publish callback (the workers), at
 * most timeout_ms. Returns 0 when it has, PX_EAGAIN if not. */
int topology_wait_ready(struct topology *t, uint64_t timeout_ms);
/* Asks for a refresh soon. Any thread; never blocks; cheap when one is already pending. */
void topology_request_refresh(struct topology *t);
/* A runner to the node at addr ("ip:port") stalled (woke_ms 0), or its node answered again at
 * woke_ms (clock_now_ms time). Workers repeat it while it lasts. Any thread; never blocks. In pool
 * mode, where no server can be failed over, stalls are not judged (the proxy turns
 * -stall-threshold off there). */
void topology_report_stall(struct topology *t, const char *addr, uint64_t woke_ms);
/* Pool mode: asks the thread to read the servers file again and publish the map it gives (a list
 * that does not parse is logged and ignored). Any thread (the SIGHUP handler); never blocks. A
 * no-op in cluster mode. */
void topology_request_reload(struct topology *t);
/* 1 in pool mode. */
int topology_is_pool(const struct topology *t);
/* The current map with a reference for the caller, or NULL before the first one. Any thread. */
struct slotmap *topology_current(struct topology *t);
/* Copies the counters into *st. Any thread. */
void topology_get_stats(struct topology *t, struct topology_stats *st);
/* Stops and joins the thread. */
void topology_stop(struct topology *t);
/* Stops the thread if it runs, drops the current map and frees t. NULL is ok. */
void topology_free(struct topology *t);

#endif
