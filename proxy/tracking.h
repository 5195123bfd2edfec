/*
 * Client-side caching (CLIENT TRACKING) through the proxy. Each worker keeps, for its clients,
 * what Redis keeps for its own: the keys each tracking client read (default mode) or the
 * prefixes it follows (BCAST), and sends them Redis's invalidation messages: a RESP3 push
 * `invalidate [keys]` (or null for a flush), or for RESP2 a message on `__redis__:invalidate` to
 * the client named by REDIRECT, which may be served by another worker.
 *
 * Where the invalidations come from: the nodes track for the proxy. A RESP3 tracking client's
 * requests go on a runner with CLIENT TRACKING ON (view.h's VIEW_TRACK; VIEW_BCAST for BCAST
 * clients), so the node's invalidation for a key arrives on the same connection, and so before
 * the reply to any later request that could return the new value. RESP2 clients (whose
 * invalidations go to another connection anyway, as in Redis, or nowhere until they switch to
 * RESP3 when they have no REDIRECT), and keys read inside
 * transactions, are covered by listening: a VIEW_BCAST runner to every master hears every key
 * written. A push for a key reaches every client of the worker that read it (and follows
 * REDIRECT). A tracking connection's push for a key goes to the reader before its first read of
 * the key's slot still waiting for a reply, and after everything else it is owed
 * (session_deliver_invalidation): replies on that connection come in order, so the reads
 * answered before the push ran before the write and the ones still waiting ran after it. Other
 * messages (a listener's, flushes, REDIRECT targets) go after every reply owed: a reply read
 * before the write can never arrive after its invalidation.
 *
 * A client's own write: Redis writes the invalidations a command causes to its own client right
 * behind that command's reply, before the replies of the commands after it. On a tracking
 * connection the node does the same, so a push that comes right behind the reply to a request of
 * the client it is for (tracking_note_reply remembers each runner's last reply) goes right behind
 * that request's reply, unless a read of the key's slot still waiting comes first (as above).
 * That reply may have gone out already, with the replies of later requests answered meanwhile
 * (PING's, answered by the proxy) about to follow it: a reply flagged REQ_F_TRK_REPLY raises the
 * session's gate (SESS_TRK_GATE), which keeps the later replies in the queue until the end of the
 * loop turn, when every reply read in the turn, and the push behind it, has come. A push that
 * comes in a later turn than its reply (split by the network) goes after every reply owed, as
 * before: it cannot be told from a write of the client's on another connection (a transaction's,
 * whose message Redis writes after EXEC's reply).
 *
 * A read is remembered when it is sent, and its client holds on to every key it reads until the
 * reply has arrived: an invalidation that comes meanwhile reaches the client (before the reply)
 * but does not forget it, since the node may have run the read after the write and tracks it
 * again. A listener's invalidation travels on a connection of its own, so it may arrive after
 * the reply to a read the node ran after the write: readers whose last read came back less than
 * TRACKING_LISTEN_GRACE_MS before it stay remembered too. Holding on costs at most an extra
 * invalidation; forgetting too early would leave a value cached with no invalidation to come.
 *
 * When the source may have lost track (a tracking connection drops, a slot moves, a master is
 * failed over), the keys read there are invalidated at once; BCAST clients get a flush. The table
 * holds at most -tracking-table-max-keys keys per worker: past it the oldest key is invalidated
 * for its readers and forgotten, as Redis does with tracking-table-max-keys.
 */
#ifndef PX_TRACKING_H
#define PX_TRACKING_H

#include "backend.h"
#include "buf.h"
#include "client.h"
#include "config.h"
#include "keys.h"
#include "request.h"
#include "resp_reply.h"
#include "resp_write.h"
#include "stats.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>

struct trk_entry;

/* A worker's tracking state. */
/* deliver's slot for a message that goes right behind the reply to the request being dispatched
 * (a tracking client's own FLUSHALL: Redis writes the flush message after its +OK). */
#define TRK_AFTER_CURRENT (-2)

struct tracking_ctx {
    struct view *view;
    struct request_pool *rp;
    struct keys_result *keys;
    const struct config *cfg;
    struct worker_stats *stats;
    int worker;         /* this worker's index (client_dir.h) */
    uint32_t max_keys;  /* per worker; 0: no bound */
    /* Delivers bytes [off, off + len) of chunk to c (the session's
     * session_deliver_invalidation): before the first read of slot still waiting for its reply,
     * after every reply owed when slot is -1, or right behind the request of c being dispatched
     * when slot is TRK_AFTER_CURRENT; after (not 0): right behind the reply to c's request of
     * that seq when no read of slot comes first (the push came right behind that reply). */
    void (*deliver)(void *up, struct client *c, struct buf_chunk *chunk, uint32_t off, uint32_t len,
                    int slot, uint64_t after);
    void *deliver_up;
    /* Hands payload (an invalidation's value part) for client id to the worker that serves it
     * (tracking_deliver_remote runs there). */
    void (*remote)(void *up, int worker, uint64_t id, const char *payload, size_t len);
    void *remote_up;
    /* Sends part, a request for the node named by part->to (forward_send). */
    void (*send)(void *up, struct request *part);
    void *send_up;
    /* Sync rounds with the listeners (above): started, finished, PINGs still out, a round wanted
     * once this one is over, and the nodes of the round. */
    uint64_t sync_seq, sync_done;
    uint32_t sync_pending;
    int sync_wanted;
    struct request_node *sync_nodes;
    uint32_t sync_cap;
    struct trk_entry **tab; /* open addressing, NULL: empty */
    uint32_t cap, n;
    uint64_t items;                       /* reader ids over every key */
    struct trk_entry *oldest, *newest;    /* eviction order */
    struct trk_client *clients;           /* every tracking client of the worker */
    uint32_t nclients, nbcast, nprefixes; /* statistics */
    uint32_t listen_refs;                 /* clients that need the listeners */
    struct sbuf msg, keyv;                /* scratch */
    void *aux;                            /* tracking.c's indexes (nodes, clients, slots) */
};

/* Prepares t; the pointers must outlive it. */
void tracking_init(struct tracking_ctx *t, struct view *view, struct request_pool *rp,
                   struct keys_result *keys, const struct config *cfg, struct worker_stats *stats,
                   int worker);
/* Frees the table and the scratch buffers (the clients' state goes with each client). */
void tracking_deinit(struct tracking_ctx *t);
/* CONFIG SET tracking-table-max-keys n (0: no bound), for every worker from its next cron on.
 * Any thread. */
void tracking_set_max_keys(uint64_t n);
/* Once a second: the worker's share of the bound again, and keys evicted down to it (each with
 * its invalidation) when it was lowered. */
void tracking_cron(struct tracking_ctx *t);

/* 1 when c has tracking on. */
int tracking_on(const struct client *c);
/* CLIENT LIST's flags: 1 when c tracks in BCAST mode (B), when its REDIRECT target was gone
 * when a message was due (R). */
int tracking_bcast(const struct client *c);
int tracking_broken(const struct client *c);
/* CLIENT LIST's redir=: the REDIRECT target while tracking is on (0 without one), else -1. */
long long tracking_redirect(const struct client *c);
/* The kind of runner (enum view_kind) c's requests to a master go on: VIEW_TRACK for a RESP3
 * client tracking in default mode, VIEW_BCAST in BCAST mode, else its protocol's. */
int tracking_kind(const struct client *c);

/* CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO for r's client, with Redis's replies and
 * errors written to out. Sets REQ_F_DRAIN on r when later requests must wait for earlier ones
 * (they change connections). */
void tracking_command(struct tracking_ctx *t, struct request *r, struct sbuf *out);
/* r, a command of a tracking client, was routed (keys: its keys, as routing found them;
 * in_multi: it is queued in a transaction): the keys a read reads are remembered for its client
 * (unless OPTIN/OPTOUT says not), a NOLOOP client's writes noted, and CLIENT CACHING's one
 * command used up. Before r goes to its executor. */
void tracking_dispatch(struct tracking_ctx *t, struct request *r, const struct keys_result *keys,
                       int in_multi);
/* r, a command of a tracking client, was refused (unknown, wrong arity, not allowed; in_multi:
 * the client is in a transaction): it uses up CLIENT CACHING's one command, as in Redis. */
void tracking_refused(struct request *r, int in_multi);
/* r (flagged REQ_F_TRACKED by tracking_dispatch) has its reply: its client stops holding on to
 * the keys it read. Called by the client's sink as the reply arrives, in the order of the node
 * connection it came on (not when it is written to the client). */
void tracking_read_done(struct request *r);
/* Runner b read a reply, the answer to r (NULL: a reply that answers nothing, or not yet: a
 * redirect, a retry). When b is a tracking runner, r (its fan-out, for a part) is not a read and
 * its client tracks in default mode without REDIRECT, r is remembered as b's last reply and flagged
 * REQ_F_TRK_REPLY, and 1 is returned: a push that comes next on b goes to that client right behind
 * r's reply. Else 0. Call before the reply goes to r's sink. */
int tracking_note_reply(struct tracking_ctx *t, const struct backend *b, struct request *r);
/* A push from runner b (a node's invalidation): sent on to the clients concerned. */
void tracking_on_push(struct tracking_ctx *t, struct backend *b, struct buf_chunk *c, uint32_t off,
                      const struct resp_reply_info *info);
/* b's connection dropped: what was read through it (or, for a listener, what the listener
 * covered) is invalidated. */
void tracking_runner_down(struct tracking_ctx *t, struct backend *b);
/* A new map (or a MOVED for slot, slot >= 0): keys whose slot no longer has the node they were
 * read from are invalidated; BCAST clients get a flush when any slot changed node. */
void tracking_topology_changed(struct tracking_ctx *t, int slot);
/* Runs on the worker serving id: delivers payload to it as an invalidation message (passed on
 * when id has moved to another worker meanwhile). Returns 1, or 0 when id is on its way to this
 * worker and not here yet: the caller tries again later. */
int tracking_deliver_remote(struct tracking_ctx *t, uint64_t id, const char *payload, size_t len);
/* The client is freed (at the end of the loop turn it closed in), or RESET: its tracking state
 * goes (RESET keeps the client). */
void tracking_client_free(struct client *c);

/* ---- pure helpers, for tests/unit ---- */

/* Redis's prefix overlap check for CLIENT TRACKING ... BCAST PREFIX: 0 when none of the new
 * prefixes overlaps an existing one or another new one (one is a prefix of the other), else
 * writes Redis's error to out and returns -1. */
int tracking_check_prefixes(const char *const *have, const uint32_t *have_len, uint32_t nhave,
                            const char *const *add, const uint32_t *add_len, uint32_t nadd,
                            struct sbuf *out);
/* Appends the value part of an invalidation for keys (an array of them) to out. */
void tracking_payload_keys(struct sbuf *out, const char *const *keys, const uint32_t *lens,
                           uint32_t n);
/* Wraps payload as the message a client receives: a RESP3 push `invalidate`, or for RESP2 a
 * Pub/Sub message on __redis__:invalidate. */
void tracking_wrap(struct sbuf *out, int resp3, const char *payload, size_t len);

#endif
