/*
 * A client connection. It reads bytes, parses requests (arguments are spans into its read chunk),
 * queues them in arrival order, hands each to the dispatcher, and writes replies strictly in that
 * order however the nodes answer: every request it makes has the session's sink, so an executor
 * answering a request (request_reply_*) lands here without knowing the session. Output is
 * batched: a session with something to write is flushed once per loop turn (session_flush_all,
 * from the worker's before-sleep hook).
 *
 * All of a worker's sessions share a struct session_ctx: what they need of the worker (loop,
 * pools, configuration, counters, the dispatcher) and the lists the worker walks.
 *
 * A client on the TLS port gets a bigger allocation (struct session_tls, session.c) that holds
 * its TLS state after the struct session, and the flag SESS_TLS: the plain path's only cost is
 * that flag's test where the socket is read or written. The handshake runs in the loop (any
 * event advances it), bounded by -tls-handshake-timeout (the cron).
 */
#ifndef PX_SESSION_H
#define PX_SESSION_H

#include "buf.h"
#include "client.h"
#include "config.h"
#include "dispatch.h"
#include "loop.h"
#include "request.h"
#include "resp_req.h"
#include "resp_write.h"
#include "stats.h"
#include "tls.h"

#include <stdatomic.h>
#include <stdint.h>

enum {
    SESS_READ_EOF = 1u << 0,     /* the client half-closed; reply, then close */
    SESS_CLOSE_AFTER = 1u << 1,  /* QUIT or a protocol error: close once replies are out */
    SESS_CLOSED = 1u << 2,       /* closed; freed at the end of the loop turn */
    SESS_FLUSH_QUEUED = 1u << 3, /* on the flush list */
    SESS_READ_PAUSED = 1u << 4,  /* too many requests in flight */
    SESS_RESUME = 1u << 5,       /* a barrier request is done: dispatch what waited for it */
    SESS_DRAINING = 1u << 6,     /* graceful shutdown: no more reading; finish, then linger */
    SESS_LINGER = 1u << 7,       /* replies all written and FIN sent: waiting for the client's
                                    acknowledgement before closing */
    SESS_TLS = 1u << 8,          /* a struct session_tls: reads and writes go through TLS */
    SESS_HANDSHAKE = 1u << 9,    /* TLS handshake under way: nothing is read or written yet */
    SESS_TRK_GATE = 1u << 10,    /* the last reply delivered may be followed by its own write's
                                    invalidation (REQ_F_TRK_REPLY): later replies wait in the
                                    queue until the flush */
};

/* What a session on the TLS port does once its handshake is done: serve, or answer a refusal the
 * acceptor decided (protected mode, -maxclients) in TLS, as Redis does, and close. */
enum session_refuse { SESSION_SERVE = 0, SESSION_REFUSE_DENIED, SESSION_REFUSE_MAXCLIENTS };

struct session;

/* What a worker's sessions share. */
struct session_ctx {
    /* The request being dispatched (its client's CLIENT INFO counts its bytes in qbuf, as Redis
     * counts the command it is running), or NULL. */
    const struct request *current;
    struct loop *loop;
    struct buf_pool *pool;
    struct request_pool *rp;
    const struct config *cfg;
    struct worker_stats *stats;
    struct dispatch *dispatch;
    struct tls_ctx *tls;    /* the clients' TLS context (-tls-port), or NULL */
    atomic_uint *nsessions; /* the worker's count of open sessions (the acceptor reads it) */
    struct resp_req_limits lim;        /* request limits for authenticated clients */
    struct resp_req_limits lim_unauth; /* ...and before AUTH, when a password is required */
    uint64_t next_seq;                 /* arrival order of requests */
    struct session *sessions;          /* every open session */
    struct session *flush_head;        /* sessions with output to write this turn */
    struct session *dead;              /* closed during this turn, freed before sleeping */
    int worker_id;                     /* the worker's index (client_dir.h) */
    const struct acl_local *acl;       /* the worker's users: a new client's user and AUTH state */
};

/* Prepares ctx; the pointers must outlive it. */
void session_ctx_init(struct session_ctx *ctx, struct loop *loop, struct buf_pool *pool,
                      struct request_pool *rp, const struct config *cfg,
                      struct worker_stats *stats, struct dispatch *dispatch,
                      atomic_uint *nsessions);

/*
 * A session keeps in itself only what every connection needs; an idle client should cost little
 * memory (its size is checked in session.c). What only some clients need hangs off it, made on
 * first use: the reader (struct session_in: the read chunk and the request parser, from the first
 * byte read until a second of idleness) and the client's side state (client.h).
 */
struct session {
    struct client client; /* first: requests point at it */
    struct session_ctx *ctx;
    uint32_t flags; /* SESS_* */
    uint32_t nqueued;
    uint64_t created_ms, last_ms;
    uint64_t out_soft_since;     /* when the unread output went over the soft limit (0: it is not) */
    struct request *head, *tail; /* requests in arrival order */
    struct session_in *in;       /* the reader; NULL before the first read and when idle */
    struct obuf out;
    struct session *flush_next;
    struct session *prev, *next; /* ctx->sessions */
};

/* Creates a session for an accepted socket and starts reading. NULL if it cannot. */
struct session *session_create(struct session_ctx *ctx, int fd, uint64_t id);
/* The same for a socket accepted on the TLS port (ctx->tls must be set): the handshake comes
 * first, then refuse says whether the client is served. NULL if it cannot. */
struct session *session_create_tls(struct session_ctx *ctx, int fd, uint64_t id,
                                   enum session_refuse refuse);
/* Closes the connection at once; queued requests become orphans. The memory is freed at the end
 * of the loop turn (session_free_dead). */
void session_close(struct session *s);
/* Writes the output of every session queued this turn (and dispatches what waited for a
 * barrier). Returns how many sessions were flushed. */
int session_flush_all(struct session_ctx *ctx);
/* Frees the sessions closed during this turn. */
void session_free_dead(struct session_ctx *ctx);
/* Once a second: -timeout, the soft output limit, and memory an idle session no longer needs. */
void session_cron_all(struct session_ctx *ctx, uint64_t now_ms);
/* Graceful shutdown: stop reading; each session closes once every reply read so far is written
 * (at once when blocked or subscribed, which never finish). */
void session_drain_all(struct session_ctx *ctx);
/* Graceful shutdown: lingering sessions close once their clients acknowledged every reply. */
void session_linger_all(struct session_ctx *ctx);
/* Closes every session (the worker stops). */
void session_close_all(struct session_ctx *ctx);

/*
 * Moving a client to another worker (worker.c's load balancing). A session is movable while it
 * is a plain-text client with nothing in flight, nothing owed, no partial request, and no state an
 * executor keeps for it on this worker (no transaction, subscription, tracking, private
 * connection, blocked command, MONITOR; the default user). session_export takes such a session
 * off its worker: the loop lets go of its socket (input the loop had received comes back in
 * *bytes, px_malloc'd, *len bytes), and it leaves the lists and counts; returns 0, or -1 when it
 * cannot go now (it stays as it was). The caller then hands s, and the bytes, to the other
 * worker's thread, which calls session_adopt: s joins ctx, the bytes are read first, and with
 * drain set (that worker shuts down gracefully) it is drained at once. The client directory
 * (client_dir_moving, before the hand-over) is the caller's.
 */
int session_movable(const struct session *s);
int session_export(struct session *s, char **bytes, size_t *len);
void session_adopt(struct session_ctx *ctx, struct session *s, const char *bytes, size_t len,
                   int drain);

/* Appends this client's CLIENT LIST / CLIENT INFO line (ending in "\n") to out. asking (may be
 * NULL) is the request that asks: when it is this client's, its bytes count in qbuf, as Redis
 * counts the command it is running. */
void session_describe(struct session *s, struct sbuf *out, const struct request *asking);
/* The same, for local.c's CLIENT INFO (up is unused; c is a session's client). */
void session_describe_client(void *up, struct client *c, struct sbuf *out);
/* Pub/Sub's deliver: a message for c, written after the replies it still owes (ctx is the
 * session_ctx). A subscriber over -pubsub-output-buffer-limit is closed. */
void session_deliver_push(void *ctx, struct client *c, struct buf_chunk *chunk, uint32_t off,
                          uint32_t len);
/* txn.c's inject: the n requests first..last (linked by next) join after's client's queue right
 * behind after, which must be a barrier still in flight: they are the first of the requests
 * waiting for it (ctx unused). */
void session_inject(void *ctx, struct request *after, struct request *first, struct request *last,
                    uint32_t n);
/* Tracking's deliver: an invalidation for c, written before c's first request for slot that
 * still waits for its reply (a node sends the invalidation ahead of the replies to reads it runs
 * after the write, so those come after it, as from Redis itself), else after every reply owed
 * (slot -1: always). When after is not 0, the node sent it right behind its reply to c's request
 * of that seq (c's own write, as a rule): it goes right behind that request's reply, before the
 * replies of c's later requests, as Redis writes it (unless a read of slot comes first, above);
 * that request delivered already in this loop turn (the gate, SESS_TRK_GATE, holds what came
 * after it), before everything still owed. Same limit. */
void session_deliver_invalidation(void *ctx, struct client *c, struct buf_chunk *chunk,
                                  uint32_t off, uint32_t len, int slot, uint64_t after);

#endif
