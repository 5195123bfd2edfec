/*
 * Forwarding: a request routed to one slot (or any master, or one master of a fan-out) goes to
 * the runner the view names, and its reply comes back through forward_backend_ops. Here the
 * proxy absorbs what the cluster throws at it: MOVED patches the view and resends, ASK resends
 * once with ASKING, TRYAGAIN / CLUSTERDOWN / LOADING / MASTERDOWN mean the command did not run so
 * it is retried after a short back-off, NOSCRIPT for a script the proxy has seen loads it on that
 * node and runs it again, and a broken connection hands its requests back: those written may have
 * run and get an error, the others are sent again. Reads may go to a replica (-read-prefer);
 * blocking commands go on a private connection of their own.
 *
 * Requests that cannot be sent now (no slot map yet, the node down, a retry's back-off) wait on
 * the held list, in arrival order, until something changes (a new map, a node back up: call
 * forward_kick) or -failover-hold runs out. A client with requests held has its later requests
 * held behind them, so they cannot overtake.
 *
 * A master that stalls (requests waiting -stall-threshold with nothing read) may have frozen, and
 * a frozen master that wakes after its replica was promoted first answers +OK to the writes
 * waiting in its socket, then throws them away. So a stall makes the node suspect, in every
 * worker: new requests for it wait on the held list, and what it answers stays unread in the
 * socket, until the topology thread (which asks the other nodes at once, and keeps asking) gives
 * a verdict: confirmed (the answers go on, in order), deposed (the connection is dropped unread:
 * requests in flight get an error saying they may or may not have run, the held ones go to the
 * new master), or expired. Answers held longer than -stall-hold fail the same way.
 */
#ifndef PX_FORWARD_H
#define PX_FORWARD_H

#include "backend.h"
#include "config.h"
#include "loop.h"
#include "private.h"
#include "request.h"
#include "resp_write.h"
#include "scripts.h"
#include "stats.h"
#include "topology.h"
#include "tracking.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>

/* Routes a request again (the dispatcher's entry point): for requests held before they could be
 * routed, such as a fan-out over every master before the first slot map. */
typedef void forward_route_fn(void *ctx, struct request *r);

struct forward {
    struct loop *loop;
    const struct config *cfg;
    struct request_pool *rp;
    struct view *view;
    struct priv_pool *priv;
    struct topology *topo;
    struct worker_stats *stats;
    struct script_local *scripts;
    forward_route_fn *route_again;
    void *route_ctx;
    struct request *held, *held_last; /* oldest first: sent again in the order they came */
    uint32_t held_pass;               /* passes over the held list, to spot a client's turn */
    int held_passing;                 /* sending held requests again */
    int held_kick;                    /* something changed: look at the held list this turn */
    struct loop_timer held_timer;
    struct sbuf scratch; /* error replies */
    uint32_t rr;         /* keyless requests of clients that are gone: round robin */
    struct tracking_ctx *trk; /* client-side caching: set by the worker after forward_init */
};

/* Prepares f; the pointers must outlive it. route_again(route_ctx, r) routes a request held with
 * forward_hold_unrouted when its time comes. */
void forward_init(struct forward *f, struct loop *loop, const struct config *cfg,
                  struct request_pool *rp, struct view *view, struct priv_pool *priv,
                  struct topology *topo, struct worker_stats *stats, struct script_local *scripts,
                  forward_route_fn *route_again, void *route_ctx);
/* Frees the requests still held (the worker is stopping). */
void forward_deinit(struct forward *f);

/* The callbacks of the view's shared runners (their ctx is the struct forward). */
extern const struct backend_ops forward_backend_ops;

/*
 * Sends r to the runner its slot maps to (r->slot >= 0), to master r->shard (r->shard >= 0), or
 * to any master, or holds it when none can take it now. Its reply reaches r's sink.
 */
void forward_send(struct forward *f, struct request *r);
/* Holds r, not yet routed, until a slot map exists (then forward's route_again routes it). */
void forward_hold_unrouted(struct forward *f, struct request *r);
/* Holds r, not yet routed, while CLIENT PAUSE lasts (until end_ms at the latest); then
 * route_again routes it, which checks the pause again. */
void forward_hold_paused(struct forward *f, struct request *r, uint64_t end_ms);
/* The topology thread's verdict on the node at addr (see above). */
void forward_verdict(struct forward *f, const char *addr, enum topology_verdict v);
/* Something changed (a new map, a node came back): look at the held list this turn. */
void forward_kick(struct forward *f);
/* 1 when forward_process_held should run before the loop sleeps. */
static inline int forward_kicked(const struct forward *f)
{
    return f->held_kick;
}
/* Sends again the held requests whose time has come (in arrival order); the rest stay. */
void forward_process_held(struct forward *f);

/* Bytes the client's forwarding state holds (CLIENT LIST's tot-mem); 0 without one. */
size_t forward_client_mem(const struct client *c);
/* Frees the client's forwarding state when it holds nothing (the session's cron). */
void forward_client_trim(struct client *c);
/* Frees the client's forwarding state (the client is freed). */
void forward_client_free(struct client *c);

#endif
