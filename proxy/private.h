/*
 * Private connections: a backend connection that serves one client alone, for what cannot share
 * a pipelined connection: transactions (MULTI ... EXEC and WATCH), blocking commands, and Pub/Sub.
 *
 * Each worker keeps a small pool of idle private connections per node (-backend-idle-connections).
 * An executor leases one for a client, with callbacks of its own (struct priv_ops), for as long as
 * the client's state lasts, and gives it back when the connection is clean (nothing in flight, no
 * transaction, no subscription); a connection that could carry state to its next user (a client
 * left mid-transaction, a client gone while blocked) is closed instead. Closing is deferred to the
 * end of the loop turn, because it may be asked for from inside the connection's own callbacks.
 */
#ifndef PX_PRIVATE_H
#define PX_PRIVATE_H

#include "backend.h"
#include "client.h"
#include "config.h"
#include "stats.h"
#include "topology.h"
#include "view.h"

#include <stdint.h>

struct privconn;

/* What the executor that leased a connection is told; ctx is what it gave priv_lease. The reply
 * bytes are valid during the call only. */
struct priv_ops {
    void (*reply)(struct privconn *pc, struct backend_req *r, struct buf_chunk *c, uint32_t off,
                  const struct resp_reply_info *info, void *ctx);
    /* r gets no reply: the connection failed; written says whether all its bytes went out. */
    void (*failed)(struct privconn *pc, struct backend_req *r, int written, void *ctx);
    /* The connection came up, went down or may be retried (optional). */
    void (*state)(struct privconn *pc, enum backend_event ev, void *ctx);
    /* Raw mode: a reply that answers none of the requests sent (Pub/Sub; optional). */
    void (*push)(struct privconn *pc, struct buf_chunk *c, uint32_t off,
                 const struct resp_reply_info *info, void *ctx);
    /* The connection is being freed: forget it (optional). */
    void (*gone)(struct privconn *pc, void *ctx);
};

struct privconn {
    struct priv_pool *pool;
    struct backend *b;
    struct client *owner;         /* NULL while idle in the pool */
    const struct priv_ops *ops;   /* the leaser's callbacks, NULL while idle */
    void *ctx;                    /* ... and their argument */
    struct privconn *next, *prev; /* the owner's list, or the pool's */
    int entry;                    /* index of the pool entry (the node) */
    uint8_t idle;                 /* in the pool, waiting for a lease */
    uint8_t dead;                 /* closed; freed at the end of the turn */
    uint8_t retiring;             /* closed once nothing is in flight (priv_close_when_done) */
};

struct priv_entry; /* private.c: the idle connections to one node */

/* A worker's private connections: the idle ones by node and those closed this turn. */
struct priv_pool {
    struct view *view; /* where their runners queue their output, and their options */
    struct topology *topo;
    const struct config *cfg;
    struct worker_stats *stats;
    struct priv_entry *entries;
    int nentries;
    struct privconn *dead; /* closed during this turn, freed before sleeping */
};

/* Prepares an empty pool; the arguments must outlive it. */
void priv_pool_init(struct priv_pool *pp, struct view *view, struct topology *topo,
                    const struct config *cfg, struct worker_stats *stats);
/* Closes and frees every connection, idle or closed (the worker is stopping). */
void priv_pool_deinit(struct priv_pool *pp);
/* Idle pooled connections (statistics). */
uint32_t priv_pool_idle(const struct priv_pool *pp);

/*
 * Leases a private connection to the node the shared runner talks to, in the protocol it speaks,
 * for owner (NULL for a request whose client is gone), with ops/ctx as its callbacks. Taken from
 * the pool when one is idle there, else made. Its timeout is -backend-timeout (backend_set_timeout
 * to change it). Never NULL.
 */
struct privconn *priv_lease(struct priv_pool *pp, struct client *owner, struct backend *shared,
                            const struct priv_ops *ops, void *ctx);
/* Gives pc back: to the pool when it is clean (connected, nothing in flight) and the pool has
 * room, else closed. */
void priv_release(struct privconn *pc);
/* Closes pc (its requests in flight are failed when it is freed, at the end of the turn). */
void priv_close(struct privconn *pc);
/* Closes pc once nothing is in flight on it (at once when nothing is): the requests on it still
 * get their replies through the leaser's callbacks, and it is never pooled again. For a leaser
 * whose state ends while the node still owes replies (RESET mid-transaction). */
void priv_close_when_done(struct privconn *pc);
/* The leaser forgets pc: no callback reaches it any more (call before priv_close when the
 * leaser's state goes away first). */
void priv_detach(struct privconn *pc);
/* Closes every connection the client still holds (it is closing). */
void priv_close_all(struct client *c);
/* Frees the connections closed during this turn (the worker's before-sleep hook). */
void priv_free_dead(struct priv_pool *pp);
/* Private connections the client holds (statistics). */
uint32_t priv_count(const struct client *c);

#endif
