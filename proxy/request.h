/*
 * The request model: a client command on its way through the proxy, the per-worker pool it comes
 * from, and how its reply reaches whoever waits for it.
 *
 * A request owns a reference to the chunk holding its bytes (the embedded backend_req, forwarded
 * as they are) and, once answered out of order, to the chunk holding its reply. Its arguments are
 * spans into that chunk. It belongs to the client it came from (r->client) until that client
 * goes; then it is an orphan that lives until whoever holds it (a backend's FIFO, the held list)
 * lets go. A part of a fan-out has a parent instead (the request it is part of).
 *
 * Replies flow up through a sink: whoever makes a request says, with r->sink, what must happen
 * when it is answered (the session queues the reply in client order; a fan-out keeps a part's
 * reply for its merge). Executors answer with request_reply_span or request_reply_bytes and
 * never know who listens.
 */
#ifndef PX_REQUEST_H
#define PX_REQUEST_H

#include "backend.h"
#include "buf.h"
#include "client.h"
#include "commands.h"
#include "resp.h"
#include "stats.h"

#include <stddef.h>
#include <stdint.h>

#define REQ_ARGV_INLINE 5

struct request;
struct request_pool;
struct privconn;

enum req_state {
    REQ_NEW = 0, /* parsed, being routed */
    REQ_SENT,    /* in a backend's FIFO */
    REQ_HELD,    /* waiting on the held list (forward.c) */
    REQ_DONE,    /* answered, waiting for the requests before it */
    REQ_FANOUT,  /* waiting for its parts (fanout.c) */
    REQ_GATHER,  /* waiting for something else: other workers, Pub/Sub confirmations */
};

enum {
    REQ_F_ALL_MASTERS = 1u << 0, /* held before a slot map existed: a fan-out to every master */
    REQ_F_NOSCRIPT_RETRIED = 1u << 1, /* the script was loaded on the node once already */
    REQ_F_NO_REPLY = 1u << 2,         /* CLIENT REPLY OFF/SKIP: the reply is dropped */
    REQ_F_REJECTED = 1u << 3,         /* refused by the proxy before reaching a node (statistics) */
    REQ_F_ROUTE_AGAIN = 1u << 4,      /* held before it could be routed: route it again when sent */
    REQ_F_BLOCKING = 1u << 5,         /* may block: sent on a private connection of its own */
    REQ_F_TX = 1u << 6,        /* part of a transaction, on the client's private connection */
    REQ_F_EXECABORT = 1u << 7, /* EXEC of an aborted transaction: sent as DISCARD */
    REQ_F_BARRIER = 1u << 8,   /* later requests of the client wait until this one is done */
    REQ_F_TX_END = 1u << 9,    /* EXEC, DISCARD or UNWATCH: the transaction's connection goes */
    REQ_F_NO_EXEC_RESULT = 1u << 10, /* with EXECABORT: a watched key's connection broke, so EXEC
                                        answers a null array (as if the key had changed) */
    REQ_F_WAS_HELD = 1u << 11,       /* counted in requests_held already */
    REQ_F_RETRYING = 1u << 12,   /* a node refused it (CLUSTERDOWN, TRYAGAIN, ...): tried again */
    REQ_F_RETRY_SENT = 1u << 13, /* ...and sent again: counted in the client's retries in flight */
    REQ_F_DRAIN = 1u << 14,      /* a barrier that falls when the request is delivered (when every
                                    request before it is answered), not when it is answered */
    REQ_F_PAUSED = 1u << 15,     /* waiting for CLIENT PAUSE to end (a blocked client) */
    REQ_F_MONITORED = 1u << 16,  /* shown to MONITOR clients already (routed again after a hold) */
    REQ_F_TRACKED = 1u << 17,    /* a tracking client's read (or the end of a transaction that
                                    read): its client holds its keys until the reply (tracking.h) */
    REQ_F_INTERNAL = 1u << 18,   /* the proxy's own request, answered to its sink though it has
                                    neither client nor parent (tracking.c's sync PINGs) */
    REQ_F_SCRIPT_RUN = 1u << 19, /* a script call counted in busy.h until answered or freed */
    /* Behind an EXEC with commands the proxy runs after the node's part (txn.h): */
    REQ_F_TX_AFTER = 1u << 20,     /* one of those commands, run once the node's EXEC is in */
    REQ_F_TX_COLLECT = 1u << 21,   /* behind them: answered with the combined array */
    REQ_F_SCRIPT_NOTED = 1u << 22, /* its script body went into the script cache (dispatch.c) */
    REQ_F_TRK_REPLY = 1u << 23, /* answered on a tracking runner (tracking_note_reply): the node's
                                   invalidation for the client's own write may come right behind
                                   the reply, so the session holds later replies back until the
                                   end of the loop turn */
};

/* Why a request is on the held list. */
enum req_hold {
    HOLD_UNREACHABLE = 0, /* no usable connection to the node (or no slot map yet) */
    HOLD_RETRY,           /* the node said TRYAGAIN, CLUSTERDOWN or LOADING */
    HOLD_SUSPECT,         /* the node stalled and is suspect (forward.h): not sent meanwhile */
    HOLD_PAUSED,          /* CLIENT PAUSE covers it (pause.h): routed again when it ends */
};

/* A node named by address: a part sent to each node of the cluster, replicas included (admin.c
 * keeps these for as long as its parts live). */
struct request_node {
    char ip[64]; /* SLOTMAP_IP_MAX */
    int port;
    int kind; /* the kind of runner (view.h's VIEW_*); 0: a RESP2 one */
};

/* Where a request's reply goes. Both calls own nothing of what they are given: the bytes are
 * valid during the call only (take a chunk reference to keep them). */
struct request_sink {
    /* r is answered with bytes [off, off + len) of c. */
    void (*reply_span)(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                       uint32_t off, uint32_t len);
    /* r is answered with len bytes at data (the proxy's own reply). */
    void (*reply_bytes)(struct request_pool *rp, struct request *r, const char *data, size_t len);
};

/* State an executor hangs on a request (a fan-out's parts): freed with the request. */
struct request_attach {
    void (*free)(struct request_pool *rp, struct request_attach *a);
};

struct request {
    struct backend_req breq;        /* the request's bytes; breq.chunk is referenced */
    struct client *client;          /* the client it came from; NULL once the client is gone */
    struct request *parent;         /* a part of a fan-out: the request it is part of */
    const struct request_sink *sink; /* where its reply goes */
    struct request *next;           /* the session's queue, in arrival order */
    struct request *hnext;          /* the held list (forward.c) */
    const struct cmd_entry *cmd;
    struct resp_span *argv; /* offsets into breq.chunk->data */
    uint32_t argc;
    int slot;            /* -1: no key, any master */
    uint32_t flags;      /* REQ_F_* */
    int16_t shard;       /* >= 0: goes to this master (index in the view's masters) */
    uint8_t state;       /* enum req_state */
    uint8_t hold_reason; /* enum req_hold */
    uint8_t asking;      /* send with ASKING (after an ASK redirect) */
    uint8_t redirects;
    uint16_t retries;
    uint64_t deadline_ms;     /* when holding gives up; 0 until first held */
    uint64_t not_before_ms;   /* held: not re-sent before this */
    struct buf_chunk *rchunk; /* REQ_DONE: the reply's bytes */
    uint32_t roff, rlen;
    struct request_attach *attach; /* an executor's state for this request, or NULL */
    void *owner_ctx;               /* a part: the context of the executor that made it */
    uint32_t child_idx;            /* a fan-out part: its place among the parts */
    uint64_t start_us;             /* when it was parsed (statistics) */
    uint64_t seq;                  /* arrival order in the worker (held requests go in order) */
    uint64_t pool_gen;             /* pool mode: the placement generation its slot (or shard)
                                      was chosen in; 0 when not chosen by placement */
    struct privconn *priv;         /* a blocking request: the private connection it is sent on */
    const struct request_node *to; /* a part for one node named by address (admin.c), or NULL */
    uint32_t ps_pending;           /* a subscribe command: confirmations still owed by nodes */
    struct resp_span argv_inline[REQ_ARGV_INLINE];
};

/*
 * A worker's requests: a free list (requests are reused, not allocated per command), the chunk
 * pool their bytes come from, and an arena where replies the proxy writes itself are kept while
 * they wait for the requests before them. One thread only.
 */
struct request_pool {
    struct buf_pool *chunks;
    struct request *free;
    uint32_t nfree;
    uint32_t low_free; /* fewest free requests since the last trim: the unused ones */
    struct buf_chunk *arena;
};

/* Prepares a pool whose chunks come from chunks (which must outlive it). */
void request_pool_init(struct request_pool *rp, struct buf_pool *chunks);
/* Frees the free list and the arena; requests still in use are not touched. */
void request_pool_deinit(struct request_pool *rp);
/* Frees the pooled requests that were not needed since the last call, keeping at least keep
 * (called once a second, so a burst's requests do not stay allocated). */
void request_pool_trim_unused(struct request_pool *rp, uint32_t keep);

/* Takes a zeroed request from the pool (slot and shard -1, argv inline). Never NULL. */
struct request *request_get(struct request_pool *rp);
/* Frees its attachment, releases its chunk references and returns it to the pool. */
void request_put(struct request_pool *rp, struct request *r);
/* Copies argc spans, adding base to each offset (storage grows beyond the inline slots). */
void request_set_argv(struct request *r, const struct resp_span *argv, uint32_t argc,
                      uint32_t base);

/* Replaces r's bytes and arguments with the command made of n arguments args[i] (lens[i]
 * bytes each), in a chunk of rp's: an executor sending a command other than the client's (EVAL
 * for an EVALSHA whose script a node may lack). */
void request_rewrite(struct request_pool *rp, struct request *r, const char *const *args,
                     const uint32_t *lens, uint32_t n);

/*
 * -hash-tag-strip: rewrites r (as request_rewrite does) so that each of its keys, the arguments
 * at positions pos[0 .. n), becomes the name rediscluster-py stores it under: the bytes before
 * its first '{' ("bar{foo}" -> "bar"). Returns 1 when r was rewritten, 0 when no key has a '{'.
 */
int request_strip_keys(struct request_pool *rp, struct request *r, const int *pos, uint32_t n);

/* The client a request (or the request a fan-out part belongs to) came from, or NULL. */
static inline struct client *request_client(const struct request *r)
{
    return r->parent ? r->parent->client : r->client;
}
/* A top-level request whose client is gone (fan-out parts and the proxy's own requests always
 * finish, for whoever made them). */
static inline int request_orphan(const struct request *r)
{
    return !r->parent && !r->client && !(r->flags & REQ_F_INTERNAL);
}
/* The bytes of argument i. */
static inline const char *request_arg(const struct request *r, uint32_t i)
{
    return r->breq.chunk->data + r->argv[i].off;
}
/* 1 when argument i is word (ASCII, any case). */
int request_arg_is(const struct request *r, uint32_t i, const char *word);
/* 1 when word appears among r's arguments after the command name (any case). */
int request_has_arg(const struct request *r, const char *word);

/* Makes r a barrier: its client's later requests wait until it is answered (once; a no-op for a
 * request whose client is gone). */
void request_make_barrier(struct request *r);
/* Marks r blocking (sent on a private connection of its own) and a barrier; once. Returns 1 when
 * this made its client blocked (it had no other blocking command in flight), else 0. */
int request_make_blocking(struct request *r);
/* Makes r a barrier that falls only once every request before it is answered too (HELLO that
 * switches protocol: the requests after it go on other connections, which must not overtake the
 * ones before it at a node). */
void request_make_drain(struct request *r);

/*
 * Answers r: bytes [off, off + len) of c (a node's reply, not copied when r can take a
 * reference), or len bytes at data (a reply the proxy wrote). An orphan is simply freed. Either
 * way r may be freed before the call returns: the caller must not touch it afterwards.
 */
void request_reply_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                        uint32_t off, uint32_t len);
void request_reply_bytes(struct request_pool *rp, struct request *r, const char *data,
                         size_t len);
/* Counts r, answered with the len bytes at reply, in st: an error reply by its kind, and r's
 * command (calls, latency from r->start_us to now_us, failures; or a rejection). Called by the
 * sinks that deliver replies to clients. Returns the latency counted in microseconds, or -1 when
 * r counts as no call (no command, or refused by the proxy). */
long long request_account(struct worker_stats *st, const struct request *r, const char *reply,
                          size_t len, uint64_t now_us);
/* Copies len bytes into the pool's reply arena and returns the chunk (with a reference for the
 * caller) and, in *off, where they start: for sinks that must keep the proxy's own replies. */
struct buf_chunk *request_arena_copy(struct request_pool *rp, const char *data, size_t len,
                                     uint32_t *off);

#endif
