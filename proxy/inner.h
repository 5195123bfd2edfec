/*
 * Internal clients: a client without a socket, made for one request that another thread hands
 * to a worker as RESP bytes (the HTTP front, http.c). On the worker, the request is parsed with
 * the same parser and limits as a connection's, and runs through the same dispatcher, routing and
 * executors: it is a struct request whose client is the internal client (flagged oneshot, so
 * that routing refuses what needs a connection to stay) and whose sink copies the reply back into
 * the call, where the asking thread waits for it.
 *
 * A call is shared by two threads. The asker makes it (inner_call_create), sends it to a worker
 * (worker_call), waits (inner_call_wait), reads the reply and lets go (inner_call_put). The worker
 * runs it (inner_run) and answers it exactly once, under the call's lock: with the reply, or, when
 * -http-timeout passes first, with a time-out (the request is then orphaned, as when a client
 * leaves, and its connection closed if it was blocked). Each side holds a reference; the last
 * one frees the call.
 */
#ifndef PX_INNER_H
#define PX_INNER_H

#include "buf.h"
#include "client.h"
#include "config.h"
#include "dispatch.h"
#include "local.h"
#include "loop.h"
#include "request.h"
#include "resp_req.h"
#include "stats.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* How a call ended. */
enum inner_status {
    INNER_PENDING = 0, /* not answered yet */
    INNER_DONE,        /* answered: the reply is in the call */
    INNER_TIMEOUT,     /* not answered within -http-timeout */
    INNER_STOPPING,    /* the worker is stopping: not run */
    INNER_TOO_BIG,     /* the reply was larger than the hard -client-output-buffer-limit */
    INNER_GONE,        /* the HTTP client went away first: abandoned (inner_cancel) */
};

struct inner_call;

/*
 * A call for the request of len bytes at req (one RESP request, copied), from a client with id,
 * speaking protocol resp (2 or 3), that authenticates as user with pass first (HTTP Basic auth;
 * user NULL: no credentials, the default user). Everything is copied. The caller holds two
 * references: its own and the one it hands to a worker with the call. Never NULL.
 */
struct inner_call *inner_call_create(const char *req, size_t len, uint64_t id, int resp,
                                     const char *user, const char *pass);
/*
 * Waits until the call is answered, timeout_ms pass, or *stop becomes non-zero (checked every
 * 100 ms; stop may be NULL). Returns the call's status (INNER_PENDING when it gave up waiting).
 * Any thread but the worker's.
 */
enum inner_status inner_call_wait(struct inner_call *call, uint64_t timeout_ms,
                                  const atomic_int *stop);
/* The reply of an INNER_DONE call (len bytes, owned by the call). */
const char *inner_call_reply(const struct inner_call *call, size_t *len);
/* Takes a reference (for a message that names the call). Any thread. */
void inner_call_ref(struct inner_call *call);
/* Drops a reference; the last frees the call. Any thread. */
void inner_call_put(struct inner_call *call);

/* A worker's internal clients. */
struct inner_client;
struct inner_ctx {
    struct loop *loop;
    struct buf_pool *pool;
    struct request_pool *rp;
    struct dispatch *dispatch;
    const struct config *cfg;
    struct worker_stats *stats;
    uint64_t *next_seq;         /* the worker's arrival order, shared with its sessions */
    struct acl_local *acl;      /* the worker's users: is AUTH required? */
    struct local_ctx *local;    /* authenticates as AUTH does (local_auth) */
    struct resp_req_limits lim; /* a connection's limits (the HTTP front authenticates first) */
    struct inner_client *live;  /* clients whose call is not answered yet */
    struct inner_client *dead;  /* answered during this turn, freed before the loop sleeps */
};

/* Prepares ctx; the pointers must outlive it (acl and local are set by the caller). */
void inner_ctx_init(struct inner_ctx *ctx, struct loop *loop, struct buf_pool *pool,
                    struct request_pool *rp, struct dispatch *dispatch,
                    const struct config *cfg, struct worker_stats *stats, uint64_t *next_seq);
/* An internal client's line for CLIENT LIST's format (ACL LOG's client-info): its id, the
 * address "http", its user and protocol. c must be an internal client (c->oneshot). */
void inner_describe(const struct client *c, struct sbuf *out);
/* Runs call (with the worker's reference) on this worker; it is answered later, or at once. */
void inner_run(struct inner_ctx *ctx, struct inner_call *call);
/* The HTTP client of call went away: if the call is not answered yet, its client lets go of it
 * as a session whose client leaves does (a blocked command's connection is closed, so that it
 * takes nothing more), and it is answered INNER_GONE. Drops the reference the caller took for
 * the message (inner_call_ref). The worker's thread. */
void inner_cancel(struct inner_ctx *ctx, struct inner_call *call);
/* Answers call INNER_STOPPING without running it and drops the worker's reference. */
void inner_refuse(struct inner_call *call);
/* The ACL users changed: each client not answered yet follows its user into users (or falls back
 * to unauthenticated default when its user is gone), as the worker's sessions do. */
void inner_acl_follow(struct inner_ctx *ctx, const struct acl_users *users);
/* Frees the clients answered during this turn (the worker's before-sleep hook). */
void inner_free_dead(struct inner_ctx *ctx);
/* Graceful shutdown: calls whose command blocks (BLPOP, ...) are answered INNER_STOPPING now, as
 * blocked connections are closed at once; the others finish. */
void inner_drain(struct inner_ctx *ctx);
/* The worker stops: every call not answered yet is answered INNER_STOPPING. */
void inner_close_all(struct inner_ctx *ctx);

#endif
