/*
 * A worker thread: its own event loop, sessions, backend runners (one per cluster node), chunk and
 * request pools, and its own view of the slot map (slot -> backend), rebuilt from each snapshot
 * the topology thread publishes and patched at once on MOVED. Nothing here is touched by another
 * thread except through the inbox channel and the relaxed counter nsessions.
 */
#ifndef PX_WORKER_H
#define PX_WORKER_H

#include "backend.h"
#include "buf.h"
#include "chan.h"
#include "config.h"
#include "crc16.h"
#include "keys.h"
#include "loop.h"
#include "resp_req.h"
#include "resp_write.h"
#include "slotmap.h"
#include "stats.h"
#include "topology.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct session;
struct request;
struct script_cache;
struct priv_pool;
struct privconn;

enum worker_msg {
    WORKER_MSG_CONN = 1, /* fd: a new client connection */
    WORKER_MSG_MAP,      /* ptr: a slot map, with a reference for this worker */
    WORKER_MSG_STOP,
    WORKER_MSG_GATHER,      /* ptr: a CLIENT LIST gather; add this worker's sessions */
    WORKER_MSG_GATHER_DONE, /* ptr: the gather this worker started is complete */
    WORKER_MSG_SNAPSHOT,    /* ptr: a struct worker_snap to add this worker's part to */
    WORKER_MSG_DRAIN,       /* graceful shutdown: stop reading, finish, close */
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

/* A shard as this worker sees it: its master's runner and, for replica reads, the runners of
 * its usable replicas (those in the proxy's data centre first). */
struct wshard {
    struct backend *master;
    struct backend **replicas;
    int nreplicas;
    int nlocal; /* replicas[0 .. nlocal) are in the data centre */
    uint32_t rr;
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
    _Alignas(64) struct buf_pool pool;
    uint64_t next_session_id;
    uint64_t next_seq; /* arrival order of requests */

    struct slotmap *map;
    /* The worker's view of the slot map, slot -> backend, kept small so that the lookup each
     * request makes stays in cache (a pointer per slot was 128 KB, and its load was the
     * proxy's costliest instruction at GET -P 16): view_idx[slot] indexes view_ent. Entry 0 is
     * unserved (NULL); then one per shard that serves slots (its master and shard index); then
     * backends a MOVED pointed slots at (shard -1: its replicas do not serve them). Read it
     * through worker_view() and worker_view_shard(); change it through worker_view_patch(). */
    uint16_t *view_idx; /* [CRC16_SLOTS] */
    struct view_ent {
        struct backend *b;
        int shard;
    } * view_ent;
    uint32_t nview, view_cap;
    struct backend **masters; /* one per shard, for keyless commands */
    int nmasters;
    uint32_t rr;
    struct backend **backends; /* every runner this worker created */
    int nbackends, backends_cap;
    struct backend_opts bopts;
    struct backend_opts bopts_ro; /* replica runners: READONLY on connect */
    struct wshard *shards;        /* per shard of the map (index = master index) */
    int nshards;

    struct session *sessions;
    struct session *flush_head;
    struct backend **bflush;
    int nbflush, bflush_cap;
    struct session *dead;

    struct request *held, *held_last; /* oldest first: sent again in the order they came */
    uint32_t held_pass;               /* passes over the held list, to spot a session's turn */
    int held_passing;                 /* sending held requests again (dispatch_process_held) */
    int held_kick;
    struct loop_timer held_timer;
    struct loop_timer drain_timer; /* graceful shutdown: lingering sessions are looked at */
    struct request *free_reqs;
    uint32_t nfree_reqs;
    uint32_t low_free_reqs; /* fewest free requests since the last cron: the unused ones */

    struct sbuf scratch;          /* for building local replies */
    struct sbuf merge;            /* for merging fan-out replies */
    int32_t *slot_part;           /* [CRC16_SLOTS], -1: scratch for splitting keys by slot */
    uint64_t rng;                 /* xorshift state */
    struct script_cache *scripts; /* shared by all workers */
    void *scripts_local;          /* this worker's own script cache */
    struct worker **all;          /* every worker (for INFO totals), set before they start */
    int nall;
    struct buf_chunk *arena; /* keeps local replies that wait for earlier requests */
    struct keys_result keys;
    struct priv_pool *pools; /* idle private connections per node (private.c) */
    int npools;
    struct privconn *priv_dead; /* closed during this turn, freed before sleeping */

    struct resp_req_limits lim;        /* request limits for authenticated clients */
    struct resp_req_limits lim_unauth; /* ...and before AUTH, when a password is required */
    struct loop_timer cron;            /* once a second: idle clients, output kept too long */

    struct worker_stats stats;
    int stopping;
    int draining; /* graceful shutdown: sessions close once done */
};

/* Creates a worker (not started). Returns NULL on failure. */
struct worker *worker_create(int id, const struct config *cfg, struct topology *topo,
                             struct script_cache *scripts);
int worker_start(struct worker *w);
/* Asks the worker to stop and joins it. */
void worker_stop(struct worker *w);
void worker_free(struct worker *w);
/* Hands an accepted connection (with its client id) to w. Any thread. */
void worker_give_conn(struct worker *w, int fd, uint64_t id);
/* CLIENT LIST: collects the sessions of every worker, then answers r. */
void worker_client_list(struct worker *w, struct request *r);
/* Asks every worker for its backends and session counts, and for a description of up to
 * clients_max sessions, and waits up to timeout_ms (any thread but a worker's). Returns the
 * answers (free with worker_snap_put); workers that did not answer in time are missing. */
struct worker_snap *worker_snapshot(struct worker **all, int n, uint64_t timeout_ms,
                                    int clients_max);
void worker_snap_put(struct worker_snap *s);
/* Graceful shutdown: the worker stops reading, lets in-flight requests finish and closes every
 * session once its replies are out. Any thread. */
void worker_drain(struct worker *w);
/* Client connections open over all workers (accepted and not closed yet). Any thread; a
 * relaxed count, for limits, INFO and metrics. */
unsigned worker_sessions_open(struct worker *const *all, int n);
/* A pseudo-random number (worker thread only). */
uint64_t worker_random(struct worker *w);
/* Gives w a slot map (the caller has taken a reference for it). Any thread. */
void worker_give_map(struct worker *w, struct slotmap *m);

/* On the worker's thread: the runner for ip:port, created on first use. */
struct backend *worker_backend(struct worker *w, const char *ip, int port);
/* The same for reads from a replica (its runner sends READONLY when it connects). */
struct backend *worker_backend_ro(struct worker *w, const char *ip, int port);
/* Queues a session for the end-of-turn flush. */
void worker_want_flush(struct worker *w, struct session *s);
/* Puts r on the held list until not_before_ms (and asks for the list to be looked at). */
void worker_hold(struct worker *w, struct request *r, uint64_t delay_ms);
/* Something changed (new map, a node came back): look at the held list this turn. */
void worker_kick_held(struct worker *w);
/* Makes sure the held list is looked at again while it is not empty. */
void worker_arm_held_timer(struct worker *w);
/* Appends r to the held list as it is (dispatch_process_held puts back what is not due). */
void worker_held_append(struct worker *w, struct request *r);

/* The master backend serving slot (NULL when no shard serves it). */
static inline struct backend *worker_view(const struct worker *w, int slot)
{
    return w->view_ent[w->view_idx[slot]].b;
}
/* The shard whose master serves slot per the map, or -1 (unserved, or moved by a MOVED since). */
static inline int worker_view_shard(const struct worker *w, int slot)
{
    return w->view_ent[w->view_idx[slot]].shard;
}
/* Points slot at b until the next map (after a MOVED). */
void worker_view_patch(struct worker *w, int slot, struct backend *b);

#endif
