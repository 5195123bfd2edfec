/*
 * A client connection. It reads bytes, parses requests (arguments are spans into its read chunk),
 * queues them in arrival order, hands each to the dispatcher, and writes replies strictly in that
 * order however the nodes answer. Output is batched: a session with something to write is flushed
 * once per loop turn by the worker.
 */
#ifndef PX_SESSION_H
#define PX_SESSION_H

#include "buf.h"
#include "resp_write.h"

#include <stdint.h>

struct worker;
struct request;
struct privconn;
struct pubsub;

enum {
    SESS_READ_EOF = 1u << 0,     /* the client half-closed; reply, then close */
    SESS_CLOSE_AFTER = 1u << 1,  /* QUIT or a protocol error: close once replies are out */
    SESS_CLOSED = 1u << 2,       /* closed; freed at the end of the loop turn */
    SESS_FLUSH_QUEUED = 1u << 3, /* on the worker's flush list */
    SESS_READ_PAUSED = 1u << 4,  /* too many requests in flight */
    SESS_RESUME = 1u << 5,       /* a barrier request is done: dispatch what waited for it */
    SESS_DRAINING = 1u << 6,     /* graceful shutdown: no more reading; finish, then linger */
    SESS_LINGER = 1u << 7,       /* replies all written and FIN sent: waiting for the client's
                                    acknowledgement before closing */
};

enum sess_tx { TX_NONE = 0, TX_WATCHING, TX_MULTI };

enum sess_reply_mode { REPLY_ON = 0, REPLY_OFF, REPLY_SKIP_NEXT };

/*
 * A session keeps in itself only what every connection needs; an idle client should cost little
 * memory (sizeof is checked in session.c). What only some clients need hangs off it, allocated on
 * first use: the reader (struct session_in, session.c: the read chunk and the request parser,
 * from the first byte read until a second of idleness), the names a client gives itself
 * (session_meta) and the state of transactions, blocking commands, Pub/Sub and held requests
 * (session_ext).
 */

/* CLIENT SETNAME and CLIENT SETINFO; freed by RESET and when the session is freed. */
struct session_meta {
    char *name;               /* CLIENT SETNAME, or NULL */
    char *lib_name, *lib_ver; /* CLIENT SETINFO, or NULL */
};

/* A transaction (txn.c): WATCH, or MULTI and the commands queued in it. */
struct session_tx {
    uint8_t state;         /* enum sess_tx */
    uint8_t aborted;       /* an error while queuing: EXEC answers EXECABORT */
    uint8_t watch_lost;    /* the WATCH connection broke: EXEC answers a null array */
    int slot;              /* the transaction's slot, -1 until the first key */
    struct privconn *priv; /* the transaction's connection, once its node is known */
    struct sbuf *queued;   /* MULTI and the keyless commands queued before the first key */
    uint32_t nqueued;      /* commands in queued */
};

/*
 * The state of what few sessions do: private connections and what needs them (blocking commands,
 * EXEC, transactions, Pub/Sub), requests held for a node, output over the soft limit. Made by
 * session_ext_get; given back by session_cron after a second without requests once nothing in it
 * is in use, else when the session is freed (not when it is closed: callers up the stack may
 * still hold it).
 */
struct session_ext {
    struct privconn *privs;   /* every private connection this session holds */
    struct request *deferred; /* first request that waits for a barrier to be done */
    uint32_t barriers;        /* barrier requests in flight (blocking commands, EXEC) */
    uint32_t nblocking;       /* blocking commands in flight */
    uint32_t nheld;           /* requests (or parts of them) on the worker's held list */
    uint32_t held_pass;       /* the held pass in which one of them had to stay */
    uint32_t retry_inflight;  /* refused requests sent again and not answered yet (at most one) */
    uint64_t out_soft_since;  /* when the unread output went over the soft limit (0: it is not) */
    struct pubsub *ps;        /* subscriptions (pubsub.c), or NULL */
    struct session_tx tx;
};

struct session_in;

struct session {
    struct worker *w;
    int fd;
    uint32_t flags;
    uint64_t id; /* CLIENT ID: unique in the process */
    uint64_t created_ms, last_ms;
    struct request *head, *tail; /* requests in arrival order */
    uint32_t nqueued;
    uint32_t last_cmd;  /* cmd_entry id of the last command + 1 (0: none yet) */
    uint8_t resp;       /* protocol version: 2 (HELLO 3 is refused for now) */
    uint8_t authed;     /* AUTH done, or no password required */
    uint8_t reply_mode; /* enum sess_reply_mode */
    uint8_t readonly;   /* READONLY was sent (replica reads, when enabled) */
    uint8_t pin_master; /* READWRITE: reads go to masters (read-your-writes) */
    uint8_t no_evict, no_touch;
    struct session_in *in; /* the reader (session.c); NULL before the first read and when idle */
    struct obuf out;
    struct session *flush_next;
    struct session *prev, *next; /* the worker's list of sessions */
    struct session_meta *meta;   /* NULL until the client names itself */
    struct session_ext *ext;     /* NULL until needed */
};

/* The session's side state, made on first use. Never NULL. */
struct session_ext *session_ext_get(struct session *s);
/* The session's names, made on first use. Never NULL. */
struct session_meta *session_meta_get(struct session *s);

/* Cheap looks at the side state that do not make it. */
static inline const char *session_name(const struct session *s)
{
    return s->meta ? s->meta->name : NULL;
}
static inline struct pubsub *session_pubsub(const struct session *s)
{
    return s->ext ? s->ext->ps : NULL;
}
static inline enum sess_tx session_tx_state(const struct session *s)
{
    return s->ext ? (enum sess_tx)s->ext->tx.state : TX_NONE;
}
static inline uint32_t session_nblocking(const struct session *s)
{
    return s->ext ? s->ext->nblocking : 0;
}
static inline uint32_t session_nheld(const struct session *s)
{
    return s->ext ? s->ext->nheld : 0;
}

/* Creates a session for an accepted socket and starts reading. NULL if it cannot. */
struct session *session_create(struct worker *w, int fd, uint64_t id);
/* Forgets the connection state (RESET): name, protocol, reply mode, READONLY; authentication
 * too when a password is required. */
void session_reset_state(struct session *s);
/* Appends this session's CLIENT LIST / CLIENT INFO line (ending in "\n") to out. */
void session_describe(struct session *s, struct sbuf *out);
/* Closes the connection at once; queued requests become orphans. The memory is freed at the end
 * of the loop turn (session_free_dead). */
void session_close(struct session *s);
/* Graceful shutdown: stop reading; close once every reply read so far is written (at once when
 * blocked or subscribed, which never finish). */
void session_drain(struct session *s);
/* A lingering session: closes it once the client has acknowledged every reply. */
void session_linger(struct session *s);
/* Writes pending output. Called once per loop turn for each session on the flush list. */
void session_flush(struct session *s);
/* The worker's once-a-second look: -timeout and the soft output limit. */
void session_cron(struct session *s, uint64_t now_ms);
/* Frees a closed session. */
void session_free(struct session *s);

/* A request's reply is ready (bytes [off, off+len) of c, or data). Delivers it now when every
 * request before it has been answered, keeps it otherwise. Frees orphans. */
void request_reply_span(struct worker *w, struct request *r, struct buf_chunk *c, uint32_t off,
                        uint32_t len);
void request_reply_bytes(struct worker *w, struct request *r, const char *data, size_t len);

#endif
