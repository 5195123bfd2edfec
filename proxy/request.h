/*
 * A client request on its way through the proxy. It owns a reference to the chunk holding its
 * bytes (embedded backend_req) and, once answered out of order, to the chunk holding its reply.
 * Requests come from a per-worker pool; they belong to one session until that session closes,
 * after which they are orphans that live until the backend that holds them lets go.
 */
#ifndef PX_REQUEST_H
#define PX_REQUEST_H

#include "backend.h"
#include "commands.h"
#include "resp.h"

#include <stdint.h>

#define REQ_ARGV_INLINE 5

struct session;
struct worker;
struct fanout;
struct privconn;

enum req_state {
    REQ_NEW = 0, /* parsed, being routed */
    REQ_SENT,    /* in a backend's FIFO */
    REQ_HELD,    /* waiting in the worker's held list */
    REQ_DONE,    /* answered, waiting for the requests before it */
    REQ_FANOUT,  /* waiting for its sub-requests (fanout.c) */
    REQ_GATHER,  /* waiting for the other workers (CLIENT LIST) */
};

enum {
    REQ_F_ALL_MASTERS = 1u << 0, /* fan out to every master when sent (held until a map exists) */
    REQ_F_NOSCRIPT_RETRIED = 1u << 1, /* the script was loaded on the node once already */
    REQ_F_NO_REPLY = 1u << 2,         /* CLIENT REPLY OFF/SKIP: the reply is dropped */
    REQ_F_REJECTED = 1u << 3,         /* refused by the proxy before reaching a node (statistics) */
    REQ_F_ROUTE_AGAIN = 1u << 4,      /* held before it could be routed: route it again when sent */
    REQ_F_BLOCKING = 1u << 5,         /* may block: sent on a private connection of its own */
    REQ_F_TX = 1u << 6,        /* part of a transaction, on the session's private connection */
    REQ_F_EXECABORT = 1u << 7, /* EXEC of an aborted transaction: sent as DISCARD */
    REQ_F_BARRIER = 1u << 8,   /* later requests of the session wait until this one is done */
    REQ_F_TX_END = 1u << 9,    /* EXEC, DISCARD or UNWATCH: the transaction's connection goes */
    REQ_F_NO_EXEC_RESULT = 1u << 10, /* with EXECABORT: a watched key's connection broke, so EXEC
                                        answers a null array (as if the key had changed) */
    REQ_F_WAS_HELD = 1u << 11,       /* counted in requests_held already */
    REQ_F_RETRYING = 1u << 12,   /* a node refused it (CLUSTERDOWN, TRYAGAIN, ...): tried again */
    REQ_F_RETRY_SENT = 1u << 13, /* ...and sent again: counted in its session's retry_inflight */
};

enum req_hold {
    HOLD_UNREACHABLE = 0, /* no usable connection to the node (or no slot map yet) */
    HOLD_RETRY,           /* the node said TRYAGAIN, CLUSTERDOWN or LOADING */
};

struct request {
    struct backend_req breq; /* the request's bytes; breq.chunk is referenced */
    struct session *sess;    /* NULL once the client is gone */
    struct request *next;    /* the session's queue, in arrival order */
    struct request *hnext;   /* the worker's held list */
    const struct cmd_entry *cmd;
    struct resp_span *argv; /* offsets into breq.chunk->data */
    uint32_t argc;
    int slot;            /* -1: no key, any master */
    int16_t shard;       /* >= 0: goes to this master (index in the worker's masters) */
    uint16_t flags;      /* REQ_F_* */
    uint8_t state;       /* enum req_state */
    uint8_t hold_reason; /* enum req_hold */
    uint8_t asking;      /* send with ASKING (after an ASK redirect) */
    uint8_t redirects;
    uint16_t retries;
    uint64_t deadline_ms;     /* when holding gives up; 0 until first held */
    uint64_t not_before_ms;   /* held: not re-sent before this */
    struct buf_chunk *rchunk; /* REQ_DONE: the reply's bytes */
    uint32_t roff, rlen;
    struct request *parent; /* a sub-request: the fan-out it belongs to */
    struct fanout *fan;     /* a fan-out: its sub-requests' replies and how to merge them */
    uint32_t child_idx;     /* a sub-request: its place in the parent's fan-out */
    uint64_t start_us;      /* when it was parsed (statistics) */
    uint64_t seq;           /* arrival order in the worker (held requests go out in this order) */
    struct privconn *priv;  /* a blocking request: the private connection it is sent on */
    uint32_t ps_pending;    /* a subscribe command: confirmations still owed by the nodes */
    struct resp_span argv_inline[REQ_ARGV_INLINE];
};

/* Takes a request from the worker's pool (zeroed). */
struct request *request_get(struct worker *w);
/* Releases its chunk references and returns it to the pool. */
void request_put(struct worker *w, struct request *r);
/* Frees the pooled requests that were not needed since the last call, keeping at least keep
 * (the worker's cron calls it once a second, so a burst's requests do not stay allocated). */
void request_pool_trim_unused(struct worker *w, uint32_t keep);
/* Copies argc spans, adding base to each offset (argv storage grows beyond the inline slots). */
void request_set_argv(struct request *r, const struct resp_span *argv, uint32_t argc,
                      uint32_t base);
/* The client session a request (or the request a fan-out part belongs to) came from, or NULL. */
static inline struct session *request_session(const struct request *r)
{
    return r->parent ? r->parent->sess : r->sess;
}
/* Makes r a barrier: its session's later requests wait until it is answered (once; a no-op for
 * a request whose client is gone). */
void request_make_barrier(struct request *r);
/* The bytes of argument i. */
static inline const char *request_arg(const struct request *r, uint32_t i)
{
    return r->breq.chunk->data + r->argv[i].off;
}

#endif
