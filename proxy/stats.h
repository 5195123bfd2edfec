/*
 * Per-worker counters. Each counter has one writer (its worker) and may be read by any thread
 * (INFO on another worker, later the debug port), so counters are C11 atomics accessed with
 * relaxed ordering: the writer does a plain load and store (no locked instruction on the hot
 * path), readers see a value that is at most a little stale. Totals are sums over workers.
 */
#ifndef PX_STATS_H
#define PX_STATS_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t stat_t;

/* Single-writer increment: relaxed load and store, no read-modify-write instruction. */
static inline void stat_add(stat_t *s, uint64_t n)
{
    atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t stat_get(const stat_t *s)
{
    return atomic_load_explicit((stat_t *)s, memory_order_relaxed);
}

/* INFO commandstats, per command and subcommand (indexed by cmd_entry.id). */
struct cmd_stats {
    stat_t calls;
    stat_t usec;
    stat_t rejected; /* refused by the proxy before reaching a node */
    stat_t failed;   /* answered with an error after being sent */
};

struct worker_stats {
    stat_t sessions_total;
    stat_t requests;
    stat_t moved;
    stat_t ask;
    stat_t tryagain;
    stat_t held;
    stat_t hold_expired;
    stat_t conn_lost_errors;
    stat_t noscript_reloads;
    stat_t net_input_bytes;
    stat_t net_output_bytes;
    stat_t error_replies;
    stat_t nbackends;     /* runners this worker has */
    stat_t private_conns; /* private connections, leased or idle */
    stat_t pubsub_messages;
    stat_t pubsub_cut;        /* subscribers closed for not reading */
    stat_t replica_reads;     /* reads sent to a replica */
    stat_t replica_fallbacks; /* reads that wanted a replica and got the master */
    stat_t read_retries;      /* reads sent again after their connection broke */
    struct cmd_stats *cmds;
};

#endif
