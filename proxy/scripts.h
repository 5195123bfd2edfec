/*
 * The script cache: bodies of the Lua scripts clients have sent (EVAL, SCRIPT LOAD), by SHA-1, so
 * that an EVALSHA answered NOSCRIPT by a node that never saw the script (a promoted replica, a
 * node that took over the slot) can be loaded there and run again, invisibly. Each worker keeps
 * a small cache of its own (no lock on the request path); a process-wide cache behind a mutex
 * is consulted only on a worker miss and on NOSCRIPT. SCRIPT FLUSH empties both, so that a client
 * that flushed its scripts sees NOSCRIPT as it would from Redis.
 */
#ifndef PX_SCRIPTS_H
#define PX_SCRIPTS_H

#include <stddef.h>

struct script_cache; /* the process-wide part */
struct script_local; /* one worker's part */

/* The process-wide cache, empty. Free it after every worker's part. */
struct script_cache *scripts_create(void);
void scripts_free(struct script_cache *sc);
/* A worker's own cache in front of shared (which must outlive it). */
struct script_local *scripts_local_create(struct script_cache *shared);
void scripts_local_free(struct script_local *l);

/* Remembers body (on the worker's thread that owns l). */
void scripts_remember(struct script_local *l, const char *body, size_t len);
/* Finds the body of the script whose SHA-1 is sha (40 hex digits, any case). Returns a copy the
 * caller frees with px_free, and its length in *len; NULL when unknown. */
char *scripts_lookup(struct script_local *l, const char *sha, size_t *len);
/* Forgets body, which the nodes refused to compile (Redis caches no such script), here and in
 * the shared cache; another worker's own copy no longer counts (scripts_lookup checks it
 * against the shared cache from then on). */
void scripts_forget(struct script_local *l, const char *body, size_t len);
/* SCRIPT FLUSH: forgets every script, in every worker. */
void scripts_flush(struct script_local *l);

#endif
