/*
 * The proxy's figures for operators: Prometheus text (/metrics) and JSON (/debug/vars), the
 * slot map (/debug/slots), backends per node (/debug/backends), sessions per worker
 * (/debug/clients), and readiness (/readyz). Runs on the debug port's threads: counters are read
 * with relaxed atomics, and what only a worker may touch (its backends and sessions) comes from a
 * snapshot each worker makes on its own thread (worker_snapshot).
 */
#ifndef PX_METRICS_H
#define PX_METRICS_H

#include "resp_write.h"

#include <stdatomic.h>
#include <stdint.h>

struct worker;
struct topology;
struct config;
struct tls_ctx;
struct http_stats;

struct metrics_ctx {
    struct worker **workers;
    int nworkers;
    struct topology *topo;
    const struct config *cfg;
    uint64_t start_wall_us;
    const atomic_int *shutting_down; /* set once the proxy stops taking clients; may be NULL */
    const struct http_stats *http;   /* the HTTP front's answers by status; may be NULL */
    struct tls_ctx *tls_clients, *tls_nodes; /* their handshake counters; NULL when unused */
};

/* Each appends the body of one URL to out: /metrics (Prometheus text), then /debug/vars,
 * /debug/slots, /debug/backends and /debug/clients (JSON). Any thread but a worker's: those that
 * use the workers' snapshots wait up to a second for them, and a worker that does not answer in
 * time is missing from the figures. They cannot fail. */
void metrics_prometheus(const struct metrics_ctx *m, struct sbuf *out);
void metrics_vars(const struct metrics_ctx *m, struct sbuf *out);
void metrics_slots(const struct metrics_ctx *m, struct sbuf *out);
void metrics_backends(const struct metrics_ctx *m, struct sbuf *out);
void metrics_clients(const struct metrics_ctx *m, struct sbuf *out);
/* 1 when ready to serve (not shutting down, a slot map covering every slot, and no master that a
 * worker cannot reach); otherwise 0 with the reasons, one per line, in why. */
int metrics_ready(const struct metrics_ctx *m, struct sbuf *why);

#endif
