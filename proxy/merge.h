/*
 * The generic ways of merging a fan-out's replies into one, as Redis's command tips name them
 * (response_policy: all_succeeded, one_succeeded, agg_sum, agg_min, agg_logical_and, ...) and as
 * a cluster client combines them: values in the caller's key order for a split MGET, sums,
 * minimums, maximums, concatenated arrays, a union, per-channel sums. Each is a pure function of the parts'
 * bytes (plus, for two of them, the worker's script cache and random numbers), so
 * tests/unit/test_merge.c checks them without sockets.
 */
#ifndef PX_MERGE_H
#define PX_MERGE_H

#include "commands.h"
#include "fanout.h"
#include "scripts.h"

#include <stdint.h>

/* What two of the merges need of their worker: SCRIPT EXISTS asks the script cache (a script
 * the proxy can load anywhere exists), RANDOMKEY a random number. */
struct merge_env {
    struct script_local *scripts;
    uint64_t rng; /* xorshift state, never 0 */
};

/* Fills m with the merger for kind (not FAN_SCAN and FAN_INFO, which their executors bring,
 * nor FAN_NONE). env must outlive every fan-out that uses m. */
void merge_get(enum fan_merge kind, struct merge_env *env, struct fan_merger *m);

/* The cases every merge shares: no part at all (no master known: -CLUSTERDOWN) or an error among
 * the parts (the first one is the reply). Returns 1 when it wrote the reply to out. */
int merge_errors(const struct fanout *f, struct sbuf *out);

/* The next pseudo-random number of env (xorshift64). */
uint64_t merge_random(struct merge_env *env);

#endif
