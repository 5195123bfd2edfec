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
#include "resp_write.h"
#include "slotmap.h"
#include "topology.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct session;
struct request;

enum worker_msg {
    WORKER_MSG_CONN = 1, /* fd: a new client connection */
    WORKER_MSG_MAP,      /* ptr: a slot map, with a reference for this worker */
    WORKER_MSG_STOP,
};

struct worker_stats {
    uint64_t sessions_total;
    uint64_t requests;
    uint64_t moved;
    uint64_t ask;
    uint64_t tryagain;
    uint64_t held;
    uint64_t hold_expired;
    uint64_t conn_lost_errors;
};

struct worker {
    int id;
    const struct config *cfg;
    struct topology *topo;
    pthread_t thread;
    struct loop *loop;
    struct chan inbox;
    struct buf_pool pool;
    atomic_uint nsessions; /* written by the acceptor and this worker; relaxed */
    uint64_t next_session_id;

    struct slotmap *map;
    struct backend **view;    /* [CRC16_SLOTS]: master backend per slot, NULL when unserved */
    struct backend **masters; /* one per shard, for keyless commands */
    int nmasters;
    uint32_t rr;
    struct backend **backends; /* every runner this worker created */
    int nbackends, backends_cap;
    struct backend_opts bopts;

    struct session *sessions;
    struct session *flush_head;
    struct backend **bflush;
    int nbflush, bflush_cap;
    struct session *dead;

    struct request *held;
    int held_kick;
    struct loop_timer held_timer;
    struct request *free_reqs;
    uint32_t nfree_reqs;

    struct sbuf scratch;     /* for building local replies */
    struct buf_chunk *arena; /* keeps local replies that wait for earlier requests */
    struct keys_result keys;

    struct worker_stats stats;
    int stopping;
};

/* Creates a worker (not started). Returns NULL on failure. */
struct worker *worker_create(int id, const struct config *cfg, struct topology *topo);
int worker_start(struct worker *w);
/* Asks the worker to stop and joins it. */
void worker_stop(struct worker *w);
void worker_free(struct worker *w);
/* Hands an accepted connection to w. Any thread. */
void worker_give_conn(struct worker *w, int fd);
/* Gives w a slot map (the caller has taken a reference for it). Any thread. */
void worker_give_map(struct worker *w, struct slotmap *m);

/* On the worker's thread: the runner for ip:port, created on first use. */
struct backend *worker_backend(struct worker *w, const char *ip, int port);
/* Queues a session for the end-of-turn flush. */
void worker_want_flush(struct worker *w, struct session *s);
/* Puts r on the held list until not_before_ms (and asks for the list to be looked at). */
void worker_hold(struct worker *w, struct request *r, uint64_t delay_ms);
/* Something changed (new map, a node came back): look at the held list this turn. */
void worker_kick_held(struct worker *w);
/* Makes sure the held list is looked at again while it is not empty. */
void worker_arm_held_timer(struct worker *w);

#endif
