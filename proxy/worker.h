/*
 * A worker thread: the wiring of one event loop. It owns the loop, its inbox (the only way other
 * threads reach it), the chunk and request pools, the cluster view, every executor's per-worker
 * context and the sessions, and passes each part the narrow context it needs. Each turn of the
 * loop: client and node sockets are served, timers fire, then the before-sleep hook sends held
 * requests again if something changed, writes every runner's queued requests (one writev each),
 * writes every session's replies, and frees what was closed during the turn.
 *
 * Nothing here is touched by another thread except through the inbox and a few relaxed atomics:
 * nsessions (the acceptor's count), load_pm and bal_taken_until (load balancing, worker.c). A
 * client moves to another worker only between requests, handed over through that worker's inbox.
 */
#ifndef PX_WORKER_H
#define PX_WORKER_H

#include "acl_store.h"
#include "aclcmd.h"
#include "buf.h"
#include "chan.h"
#include "config.h"
#include "crossslot.h"
#include "dispatch.h"
#include "fanout.h"
#include "forward.h"
#include "info.h"
#include "inner.h"
#include "keys.h"
#include "local.h"
#include "loop.h"
#include "merge.h"
#include "private.h"
#include "pubsub.h"
#include "request.h"
#include "scripts.h"
#include "session.h"
#include "slotmap.h"
#include "stats.h"
#include "topology.h"
#include "tracking.h"
#include "txn.h"
#include "view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum worker_msg {
    WORKER_MSG_CONN = 1,    /* fd: a new client connection */
    WORKER_MSG_MAP,         /* ptr: a slot map, with a reference for this worker */
    WORKER_MSG_STOP,        /* leave the loop */
    WORKER_MSG_GATHER,      /* ptr: a CLIENT LIST gather; add this worker's sessions */
    WORKER_MSG_GATHER_DONE, /* ptr: the gather this worker started is complete */
    WORKER_MSG_SNAPSHOT,    /* ptr: a struct worker_snap to add this worker's part to */
    WORKER_MSG_DRAIN,       /* graceful shutdown: stop reading, finish, close */
    WORKER_MSG_VERDICT,     /* ptr: a node's address (px_strdup), fd: an enum topology_verdict */
    WORKER_MSG_TRACKING,    /* ptr: a struct worker_trk_msg for a client of this worker */
    WORKER_MSG_BYTES,       /* ptr: the same, bytes to write to the client as they are */
    WORKER_MSG_ACL_SYNC,    /* ptr: a struct acl_gather: take the current ACL users, then ack */
    WORKER_MSG_ACL_DONE,    /* ptr: the struct acl_gather this worker started is complete */
    WORKER_MSG_CALL,        /* ptr: a struct inner_call (HTTP front), with a reference */
    WORKER_MSG_CALL_CANCEL, /* ptr: a call sent here whose HTTP client left, with a reference */
    WORKER_MSG_CONN_TLS,    /* fd: a new client connection on the TLS port */
    WORKER_MSG_CONN_TLS_DENIED, /* ... to be refused (protected mode) after its handshake */
    WORKER_MSG_CONN_TLS_FULL,   /* ... to be refused (-maxclients) after its handshake */
    WORKER_MSG_ADOPT,           /* ptr: a struct worker_move, a client another worker hands over */
};

/* A backend as one worker sees it, for the debug port. */
struct snap_backend {
    int worker;
    char addr[SLOTMAP_ADDR_MAX];
    int readonly; /* a replica runner */
    enum backend_state state;
    int failing; /* the last connection failed or broke */
    uint32_t inflight;
    struct backend_stats st;
    char last_error[128];
};

/* A question the debug port asks every worker, answered on each worker's own thread. */
struct worker_snap {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int pending; /* workers yet to answer */
    int refs;    /* workers yet to answer + the asker */
    int abandoned;
    struct snap_backend *backends;
    int nbackends, cap;
    int clients_max;       /* sessions to describe in clients, over all workers */
    int nclients;          /* described so far */
    int clients_truncated; /* some sessions were left out */
    struct sbuf clients;   /* one JSON object per session, comma-separated */
    int *sessions;         /* per worker */
    int *private_conns;    /* per worker */
};

struct worker {
    int id;
    const struct config *cfg;
    struct topology *topo;
    pthread_t thread;
    struct loop *loop;
    /* The only fields other threads write (the acceptor and the topology thread send messages
     * and count connections): a cache line apart from what the worker touches per request, so
     * that a connection accepted for this worker does not bounce its hot fields. */
    _Alignas(64) struct chan inbox;
    atomic_uint nsessions; /* written by the acceptor and this worker; relaxed */
    /* The CPU this worker used lately, in thousandths of a CPU (worker_balance); written by this
     * worker, read by the others and the acceptor; relaxed. */
    atomic_uint load_pm;
    /* Until when (monotonic ms) clients another worker handed to this one may not show in load_pm
     * yet, and which worker handed them: no other hands it more before then (worker_claim). */
    atomic_ullong bal_taken_until;
    _Alignas(64) struct buf_pool pool;
    struct request_pool rp;
    uint64_t next_session_id;

    /* The parts, bottom up; each is given pointers to the ones below it. */
    struct view view;
    struct priv_pool priv;
    struct forward fwd;
    struct fanout_ctx fanout;
    struct txn_ctx txn;
    struct pubsub_ctx pubsub;
    struct tracking_ctx trk;
    struct admin_ctx admin;
    struct local_ctx local;
    struct monfeed monfeed;
    struct info_ctx info;
    struct acl_local acl; /* this worker's set of ACL users (acl_store.h) */
    struct aclcmd_ctx aclcmd;
    struct cross_ctx cross;
    struct dispatch dispatch;
    struct session_ctx sessions;
    struct inner_ctx inner;

    struct script_local *scripts;
    struct merge_env menv;
    struct keys_result keys;
    struct worker **all; /* every worker (CLIENT LIST), set before they start */
    int nall;

    struct loop_timer drain_timer; /* graceful shutdown: lingering sessions are looked at */
    struct loop_timer cron;        /* once a second: idle clients, output kept too long */
    /* Load balancing (-worker-busy): the load measure's last readings, and until when this worker
     * lets the load settle after clients moved. */
    struct loop_timer balance;
    uint64_t bal_cpu_ns, bal_wall_ns, bal_calm_ms;
    struct worker_stats stats;
    int stopping;
    int draining; /* graceful shutdown: sessions close once done */
};

/* Creates a worker (not started): scripts is the process-wide script cache, info what INFO
 * reports on, tls_clients and tls_nodes the TLS contexts of the two sides (NULL: plain; they
 * must outlive the worker). Returns NULL on failure. */
struct worker *worker_create(int id, const struct config *cfg, struct topology *topo,
                             struct script_cache *scripts, const struct info_src *info,
                             struct tls_ctx *tls_clients, struct tls_ctx *tls_nodes);
/* Starts its thread. Returns 0 or -errno. */
int worker_start(struct worker *w);
/* Asks the worker to stop and joins it. */
void worker_stop(struct worker *w);
/* Frees a stopped (or never started) worker. */
void worker_free(struct worker *w);
/* Hands an accepted connection (with its client id) to w. Any thread. */
void worker_give_conn(struct worker *w, int fd, uint64_t id);
/* Hands a connection accepted on the TLS port to w, with what to do after its handshake (serve,
 * or answer a refusal and close). Any thread. */
void worker_give_conn_tls(struct worker *w, int fd, uint64_t id, enum session_refuse refuse);
/* Hands w a call of the HTTP front (with a reference for w, which answers it). Any thread. */
void worker_call(struct worker *w, struct inner_call *call);
/* The HTTP client of call, given to w by worker_call, went away: w abandons the call if it has
 * not answered it yet (inner_cancel). Takes a reference of its own for the message. Any thread. */
void worker_cancel_call(struct worker *w, struct inner_call *call);
/* Gives w a slot map (the caller has taken a reference for it). Any thread. */
void worker_give_map(struct worker *w, struct slotmap *m);
/* Gives w the topology thread's verdict on the node at addr (forward_verdict). Any thread. */
void worker_give_verdict(struct worker *w, const char *addr, enum topology_verdict v);
/* Asks every worker for its backends and session counts, and for a description of up to
 * clients_max sessions, and waits up to timeout_ms (any thread but a worker's). Returns the
 * answers (free with worker_snap_put); workers that did not answer in time are missing. */
struct worker_snap *worker_snapshot(struct worker **all, int n, uint64_t timeout_ms,
                                    int clients_max);
void worker_snap_put(struct worker_snap *s);
/* Graceful shutdown: the worker stops reading, lets in-flight requests finish and closes every
 * session once its replies are out. Any thread. */
void worker_drain(struct worker *w);
/* The worker a new client goes to: with -worker-busy, the first with room (a load under the
 * packing mark), else the one with the fewest sessions; it is counted there at once. Any thread
 * (the acceptor's). */
struct worker *worker_pick(struct worker *const *all, int n);
/* The CPU w used lately (smoothed over its last ticks), in thousandths of a CPU; 0 unless clients
 * can move (-worker-busy, more than one worker). Any thread. */
unsigned worker_load(const struct worker *w);
/* Client connections open over all workers (accepted and not closed yet). Any thread; a
 * relaxed count, for limits, INFO and metrics. */
unsigned worker_sessions_open(struct worker *const *all, int n);

#endif
