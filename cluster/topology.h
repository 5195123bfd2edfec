/*
 * Topology discovery. One thread owns it: it asks a reachable node for CLUSTER SHARDS (CLUSTER
 * SLOTS on nodes that lack it), trying the node that answered last, then every node of the current
 * map, then the startup nodes, then every node it has ever seen, so no single node is a point of
 * failure. It refreshes every reload interval and on demand (rate-limited), and publishes each
 * changed map through a callback, on its own thread. This thread may block on the network; worker
 * threads never call into it except through topology_request_refresh(), which does not block.
 */
#ifndef PX_TOPOLOGY_H
#define PX_TOPOLOGY_H

#include "slotmap.h"

#include <stdint.h>

struct topology;

struct topology_config {
    const char *const *startup; /* "host:port" strings */
    int nstartup;
    uint64_t connect_timeout_ms;
    uint64_t reload_interval_ms;
    uint64_t min_refresh_interval_ms; /* on-demand refreshes are at least this far apart */
    const char *user;                 /* AUTH user (NULL: password only) */
    const char *password;             /* AUTH password (NULL: none) */
    int probe_replicas;               /* check each replica's health (for replica reads) */
};

/* Called on the topology thread with each new map; the map is borrowed (take a reference to
 * keep it). */
typedef void topology_publish_cb(struct slotmap *map, void *ctx);

struct topology_stats {
    uint64_t refresh_ok;
    uint64_t refresh_failed;
    uint64_t refresh_requested;
    uint64_t refresh_stale; /* views refused: older (lower config epoch) than the map in use */
    uint64_t version;
    uint64_t last_ok_wall_us;
};

/* Copies cfg. Returns NULL when a startup address does not parse. */
struct topology *topology_create(const struct topology_config *cfg, topology_publish_cb *cb,
                                 void *ctx);
/* Starts the thread. Returns 0 or -errno. */
int topology_start(struct topology *t);
/* Waits until a first map exists, at most timeout_ms. Returns 0 when it does, PX_EAGAIN if not. */
int topology_wait_ready(struct topology *t, uint64_t timeout_ms);
/* Asks for a refresh soon. Any thread; never blocks; cheap when one is already pending. */
void topology_request_refresh(struct topology *t);
/* The current map with a reference for the caller, or NULL before the first one. Any thread. */
struct slotmap *topology_current(struct topology *t);
/* Copies the counters into *st. Any thread. */
void topology_get_stats(struct topology *t, struct topology_stats *st);
/* Stops and joins the thread. */
void topology_stop(struct topology *t);
/* Stops the thread if it runs, drops the current map and frees t. NULL is ok. */
void topology_free(struct topology *t);

#endif
