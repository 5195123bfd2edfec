/*
 * Backend runner: one pipelined connection from one worker to one cluster node, shared by all of
 * that worker's sessions.
 *
 * Requests are queued with backend_send() and written in one writev per loop turn when the worker
 * calls backend_flush() (its before-sleep hook). Every request written is remembered in a FIFO;
 * replies are framed (never parsed into objects) and matched to the FIFO's head. The runner
 * authenticates new connections itself and can prefix a request with ASKING.
 *
 * When the connection fails, every request in the FIFO is handed back through ops->failed() in
 * order, saying whether its bytes had been written completely (the node may have run it, so the
 * client must get an error) or not (it never ran and may be sent again). The runner then backs
 * off: backend_send() returns PX_EAGAIN until the retry timer fires (ops->state(RETRY)).
 *
 * The runner knows nothing of clients: requests are struct backend_req, which the caller embeds
 * in its own request object.
 */
#ifndef PX_BACKEND_H
#define PX_BACKEND_H

#include "buf.h"
#include "loop.h"
#include "resp_reply.h"
#include "slotmap.h"

#include <stdint.h>

struct backend;
struct tls_ctx;

/* The bytes of one request; the owner keeps the chunk referenced until the request ends. */
struct backend_req {
    struct buf_chunk *chunk;
    uint32_t off;
    uint32_t len;
};

enum backend_state {
    BACKEND_IDLE = 0, /* no connection; the next send connects */
    BACKEND_CONNECTING,
    BACKEND_UP,
    BACKEND_BACKOFF, /* failed recently; sends are refused until the retry timer */
};

enum backend_event {
    BACKEND_EV_UP = 0, /* connected */
    BACKEND_EV_DOWN,   /* connection lost or could not be made */
    BACKEND_EV_RETRY,  /* back-off over: sends are accepted again */
    BACKEND_EV_STALLED, /* requests wait and nothing came for opts->stall_ms (again every stall_ms
                           while it lasts) */
    BACKEND_EV_WOKE,    /* a suspect runner's node sent something: it is held unread (again every
                           stall_ms while it is) */
};

struct backend_ops {
    /* A reply for r: bytes [off, off + info->len) of chunk c, valid during the call only (take a
     * chunk reference to keep them). */
    void (*reply)(struct backend *b, struct backend_req *r, struct buf_chunk *c, uint32_t off,
                  const struct resp_reply_info *info, void *ctx);
    /* r will get no reply: the connection failed. written says whether all its bytes went out. */
    void (*failed)(struct backend *b, struct backend_req *r, int written, void *ctx);
    void (*state)(struct backend *b, enum backend_event ev, void *ctx);
    /* The backend has output to write: call backend_flush() before the loop sleeps. */
    void (*want_flush)(struct backend *b, void *ctx);
    /* Raw mode only: a reply that answers none of the requests sent with backend_send (Pub/Sub
     * confirmations and messages), valid during the call only. */
    void (*push)(struct backend *b, struct buf_chunk *c, uint32_t off,
                 const struct resp_reply_info *info, void *ctx);
};

struct backend_opts {
    uint64_t connect_timeout_ms;
    const char *user;     /* AUTH user, or NULL */
    const char *password; /* AUTH password, or NULL for no AUTH */
    int readonly;         /* send READONLY after connecting (replica reads) */
    int resp3;            /* send HELLO 3 after connecting: replies come in RESP3 */
    int tracking;         /* with resp3: then CLIENT TRACKING ON (1) or ON BCAST (2): the node's
                             invalidations arrive as pushes (ops->push) among the replies */
    int keepalive_s;
    uint64_t timeout_ms; /* a request unanswered this long fails the connection (0: never) */
    uint64_t stall_ms;   /* requests waiting and nothing read this long: BACKEND_EV_STALLED (0:
                            never) */
    uint64_t hold_ms;    /* a suspect runner holds what its node sent at most this long, then fails
                            the connection (backend_hold_expired) */
    struct tls_ctx *tls; /* -tls-cluster: TLS to the node (net/tls.h), NULL for plain TCP */
    int batch;           /* replies owed count toward the loop's batched wait (loop_due): only
                            for connections whose node answers at once, never a blocked one */
};

struct backend_stats {
    uint64_t sent; /* requests written */
    uint64_t replies;
    uint64_t connects;
    uint64_t connect_failures;
    uint64_t disconnects;
    uint64_t timeouts; /* connections failed because a reply took longer than timeout_ms */
    uint64_t stalls;   /* times requests waited stall_ms with nothing read */
};

/* Creates a runner for ip:port. ops and opts (and the strings in opts) must outlive it. */
struct backend *backend_create(struct loop *l, struct buf_pool *pool, const struct backend_ops *ops,
                               void *ctx, const struct backend_opts *opts, const char *ip,
                               int port);
/* Closes the connection, hands every pending request to ops->failed(), and frees the runner. */
void backend_free(struct backend *b);

/* "ASKING" as a RESP command, for the prefix of backend_send. */
extern const char backend_asking_cmd[];
#define BACKEND_ASKING_LEN 16

/*
 * Queues r, preceded by prefix: nprefix complete RESP commands whose replies the runner reads and
 * drops (ASKING after an ASK redirect, SCRIPT LOAD before a retried EVALSHA). Returns 0, or
 * PX_EAGAIN while backing off (the caller keeps r and tries again after BACKEND_EV_RETRY or a
 * topology change).
 */
int backend_send(struct backend *b, struct backend_req *r, const char *prefix, size_t prefix_len,
                 int nprefix);
/* Raw mode (a Pub/Sub connection): every reply that is not for the runner's own commands goes
 * to ops->push instead of being matched with a request. */
void backend_set_raw(struct backend *b, int raw);
/* Queues bytes that expect no reply of their own (in raw mode: SUBSCRIBE ...). Returns 0, or
 * PX_EAGAIN while backing off. */
int backend_send_raw(struct backend *b, const char *bytes, size_t len);
/* Writes queued output. Returns 0; on a write error the connection is failed as above. */
int backend_flush(struct backend *b);

/* The runner's state: forwarding avoids a runner that is backing off; /debug/backends shows it. */
enum backend_state backend_get_state(const struct backend *b);
/* 1 when the runner sends READONLY on connecting (a replica used for reads). */
int backend_readonly(const struct backend *b);
/* The protocol the runner's connection speaks: 3 when it sends HELLO 3 on connecting, else 2. */
int backend_resp(const struct backend *b);
/* opts->tracking: 0, 1 (CLIENT TRACKING ON) or 2 (ON BCAST). */
int backend_tracking(const struct backend *b);
/* The node's address ("ip:port", brackets for IPv6), its ip and its port. The strings live as long
 * as the runner. */
const char *backend_addr(const struct backend *b);
const char *backend_ip(const struct backend *b);
int backend_port(const struct backend *b);
/* 1 when the last connection failed or broke and none has been made since. */
int backend_failing(const struct backend *b);
/* Connects now if the runner has no connection and is not backing off (a failing node is
 * retried without waiting for a request). */
void backend_reconnect(struct backend *b);
/* Overrides opts->timeout_ms for this runner (0: never time out, and never report a stall; a
 * private connection leased for a blocking command). */
void backend_set_timeout(struct backend *b, uint64_t timeout_ms);
/* 1 while the runner hands back its requests because a reply took too long (in ops->failed). */
int backend_timed_out(const struct backend *b);
/*
 * Suspicion (a master that may have frozen and been failed over while its requests waited; see
 * proxy/forward.c). A suspect runner refuses sends (PX_EAGAIN, like a back-off) and, when its
 * node sends something, stops reading and says BACKEND_EV_WOKE: what the node said stays unread
 * in the socket until backend_confirm() lets it through in order, or backend_depose() drops the
 * connection unread. A suspect that holds replies longer than opts->hold_ms fails its connection
 * (backend_hold_expired() is 1 during the ops->failed calls). Suspicion outlives a broken
 * connection: only the owner ends it.
 */
void backend_suspect(struct backend *b);
/* Ends suspicion: held replies are read and dispatched in order, sends are accepted again. */
void backend_confirm(struct backend *b);
/* Ends suspicion by failing the connection unread, with why for logs and /debug; every request in
 * flight goes back through ops->failed while backend_deposed() is 1. */
void backend_depose(struct backend *b, const char *why);
/* 1 while suspect; backend_holding: 1 while the node's answer is held unread (since *since_ms). */
int backend_suspected(const struct backend *b);
int backend_holding(const struct backend *b, uint64_t *since_ms);
/* 1 during the ops->failed calls of backend_depose / of a hold that ran out. */
int backend_deposed(const struct backend *b);
int backend_hold_expired(const struct backend *b);

/* The last connection error, "" when none. */
const char *backend_last_error(const struct backend *b);
/* Requests written or queued and not answered yet. */
uint32_t backend_inflight(const struct backend *b);
/* Copies the runner's counters into *st. */
void backend_get_stats(const struct backend *b, struct backend_stats *st);

#endif
