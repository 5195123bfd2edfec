/*
 * A client connection as every layer below the session sees it: who the client is (id, names),
 * how it talks (protocol version, reply mode), what it is allowed (authenticated), and where each
 * executor keeps what only it knows about this client.
 *
 * The session (session.c) embeds a struct client and owns its lifetime; requests point at it
 * (request.h) so that routing and the executors can read a client's state without knowing the
 * session. What only some clients need hangs off `x`, made on first use: the names a client gives
 * itself, the barrier counters of the request queue, and one opaque pointer per executor, each
 * defined and touched by that executor alone (forward.c, txn.c, pubsub.c, private.c).
 */
#ifndef PX_CLIENT_H
#define PX_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct request;
struct fwd_client; /* forward.c: requests held and refused requests tried again */
struct txn;        /* txn.c: WATCH, MULTI and the commands queued in it */
struct pubsub;     /* pubsub.c: subscriptions and their connections */
struct privconn;   /* private.c: the private connections the client holds */
struct trk_client; /* tracking.c: CLIENT TRACKING's mode, prefixes and redirect */
struct acl_user;   /* acl.h: the user the client is authenticated as */

/* CLIENT REPLY. */
enum client_reply_mode { CLIENT_REPLY_ON = 0, CLIENT_REPLY_OFF, CLIENT_REPLY_SKIP_NEXT };

/* The side state of a client, made by client_ext_get and given back by client_trim once every
 * part of it is unused. */
struct client_ext {
    char *name;     /* CLIENT SETNAME, or NULL */
    char *lib_name; /* CLIENT SETINFO LIB-NAME, or NULL */
    char *lib_ver;  /* CLIENT SETINFO LIB-VER, or NULL */
    char *peer;     /* the peer's address, kept once the slow log needed it (or NULL) */
    /* The request queue's barriers (request_make_barrier): while barriers > 0, requests read
     * after a barrier wait, the first of them at `deferred`, until the session dispatches them. */
    uint32_t barriers;
    uint32_t nblocking;       /* blocking commands in flight */
    struct request *deferred; /* first request waiting for the barriers to fall (session.c) */
    size_t pushes_queued;     /* bytes of messages waiting behind owed replies (session.c) */
    /* Each executor's own state; NULL while it has none. */
    struct fwd_client *fwd;
    struct txn *txn;
    struct pubsub *ps;
    struct privconn *privs;
    struct trk_client *trk;
    /* The user the client authenticated as, in the worker's current set of users
     * (acl_store.h), or NULL for the default user (most clients: they need no side state). The
     * worker points it at the same user in each new set and closes the client when its user is
     * gone. */
    const struct acl_user *user;
};

struct client {
    uint64_t id;         /* CLIENT ID: unique in the process */
    int fd;              /* the connection's socket; -1 once closed */
    uint8_t resp;        /* protocol version: 2, or 3 after HELLO 3 */
    uint8_t authed;      /* authenticated: AUTH done, or the default user was nopass when the
                            client connected (Redis's c->authenticated) */
    uint8_t acl_changed; /* its user's rules changed while MULTI was open: EXEC aborts */
    uint8_t reply_mode;  /* enum client_reply_mode */
    uint8_t no_evict;    /* CLIENT NO-EVICT */
    uint8_t no_touch;    /* CLIENT NO-TOUCH */
    uint8_t close_after; /* QUIT: close once every reply is written */
    /* One bit each, so that the struct stays in its size class. */
    uint8_t readonly : 1;   /* READONLY was sent */
    uint8_t pin_master : 1; /* READWRITE: reads go to masters (read-your-writes) */
    uint8_t monitor : 1;    /* MONITOR: receives a line per command (monitor.h) */
    uint8_t oneshot : 1;    /* lives for one request (the HTTP front's clients): no socket, and
                               the commands that need a connection to stay are refused */
    uint16_t last_cmd;   /* the command table id of the last command + 1 (0: none yet) */
    struct client_ext *x; /* NULL until needed */
};

/* Fills c for a new connection on fd; authed says whether no password is required. */
void client_init(struct client *c, uint64_t id, int fd, int authed);
/* The side state, made on first use. Never NULL. */
struct client_ext *client_ext_get(struct client *c);
/* Frees the side state when nothing in it is in use (no names, no barrier, no executor state).
 * Called at safe points only (the session's cron), never while a caller may hold it. */
void client_trim(struct client *c);
/* Frees the side state whatever it holds; every executor must have let go of its part. */
void client_free(struct client *c);

/* The client's name (CLIENT SETNAME), or NULL. */
static inline const char *client_name(const struct client *c)
{
    return c->x ? c->x->name : NULL;
}
/* Sets *dst (one of the ext's name fields) to a copy of p, or to NULL when len is 0. */
void client_set_str(char **dst, const char *p, uint32_t len);
/* Forgets the names (RESET). */
void client_clear_names(struct client *c);

/* The client's user, or NULL for the default user (client_ext's user). */
static inline const struct acl_user *client_user(const struct client *c)
{
    return c->x ? c->x->user : NULL;
}
/* Sets the client's user; NULL (or is_default) for the default user. */
void client_set_user(struct client *c, const struct acl_user *u, int is_default);

/* Blocking commands in flight (0 when there is no side state). */
static inline uint32_t client_nblocking(const struct client *c)
{
    return c->x ? c->x->nblocking : 0;
}
/* Barrier requests in flight. */
static inline uint32_t client_barriers(const struct client *c)
{
    return c->x ? c->x->barriers : 0;
}

#endif
