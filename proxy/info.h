/*
 * INFO: Redis's sections answered for the proxy as a whole (server, clients, memory, stats,
 * replication, cpu, commandstats, cluster), the keyspace summed over the masters (asked with
 * INFO keyspace), and a "# Proxy" section of the proxy's own figures. Counters are summed over
 * all workers (relaxed reads of their single-writer counters).
 */
#ifndef PX_INFO_H
#define PX_INFO_H

#include "config.h"
#include "fanout.h"
#include "stats.h"
#include "topology.h"

#include <stdint.h>

/* What INFO reports on, for the whole process: filled once before the workers start. */
struct tls_ctx;

struct info_src {
    struct worker_stats *const *stats; /* every worker's counters */
    int nworkers;
    unsigned (*sessions_open)(void *ctx); /* client connections open now, over all workers */
    void *sessions_ctx;
    struct topology *topo;
    const struct config *cfg;
    const struct http_stats *http;           /* the HTTP front's answers, or NULL */
    uint64_t start_wall_us;                  /* when the proxy started (uptime) */
    struct tls_ctx *tls_clients, *tls_nodes; /* their handshake counters; NULL when unused */
};

/* One worker's INFO: where its fan-outs go and what it reports on. */
struct info_ctx {
    struct fanout_ctx *fc;
    const struct info_src *src;
};

/* Prepares ic; both pointers must outlive it. */
void info_ctx_init(struct info_ctx *ic, struct fanout_ctx *fc, const struct info_src *src);
/* INFO [section ...]: answers r, asking the masters for their keyspace when it is wanted. */
void info_run(struct info_ctx *ic, struct request *r);
/* CONFIG RESETSTAT: from now on INFO counts connections, commands, network bytes, rejected
 * connections, error replies and commandstats from zero, as Redis's resetServerStats (the
 * counters themselves run on: INFO shows them less what they were at the reset). Any worker. */
void info_reset_stats(const struct info_src *src);

#endif
