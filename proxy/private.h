/*
 * Private connections: a backend connection that serves one session alone, for what cannot share
 * a pipelined connection: transactions (MULTI ... EXEC and WATCH), blocking commands, and Pub/Sub.
 *
 * Each worker keeps a small pool of idle private connections per node (-backend-idle-connections).
 * A session leases one for as long as its state lasts and gives it back when the connection is
 * clean (nothing in flight, no transaction, no subscription); a connection that could carry state
 * to its next user (a session left mid-transaction, a client gone while blocked) is closed
 * instead. Closing is deferred to the end of the loop turn, because it may be asked for from
 * inside the connection's own callbacks.
 */
#ifndef PX_PRIVATE_H
#define PX_PRIVATE_H

#include "backend.h"

#include <stdint.h>

struct worker;
struct session;
struct ps_conn;

struct privconn {
    struct worker *w;
    struct backend *b;
    struct session *owner;        /* NULL while idle in the pool */
    struct privconn *next, *prev; /* the owner's list, or the pool's */
    int pool;                     /* index of the pool entry (the node) */
    int dead;                     /* closed; freed at the end of the turn */
    struct ps_conn *ps;           /* a Pub/Sub connection: its subscription state */
};

/*
 * Leases a private connection to the node the shared backend talks to, for session s (which may
 * be NULL for a request whose session is gone). Taken from the pool when one is idle there.
 */
struct privconn *priv_lease(struct worker *w, struct session *s, struct backend *shared);
/* Gives pc back: to the pool when it is clean (connected, nothing in flight) and the pool has
 * room, else closed. */
void priv_release(struct privconn *pc);
/* Closes pc (its requests in flight are failed) and frees it at the end of the turn. */
void priv_close(struct privconn *pc);
/* Closes every connection s still holds (the session is closing). */
void priv_close_all(struct session *s);
/* Frees the connections closed during this turn (the worker's before-sleep hook). */
void priv_free_dead(struct worker *w);
/* An idle pooled connection went down (its node closed it): dropped. */
void priv_idle_down(struct privconn *pc);
/* Frees the pool (worker_free). */
void priv_pool_free(struct worker *w);
/* Idle pooled connections (statistics). */
uint32_t priv_pool_idle(struct worker *w);

#endif
