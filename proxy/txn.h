/*
 * Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH through the proxy.
 *
 * A transaction runs on the master of the slot of its first key, over a private connection of
 * the client's. MULTI is answered at once; commands without keys queued before the first keyed
 * one are answered +QUEUED by the proxy and sent, behind MULTI, when the node is known (their
 * replies are part of EXEC's array, as in Redis). A command for another slot gets -CROSSSLOT, and
 * like every error given while queuing, makes EXEC answer -EXECABORT. WATCH takes the private
 * connection at once; while keys are watched, commands for that slot use it too, so a read after
 * WATCH sees what the WATCH protects. If the connection breaks, the transaction is discarded and
 * EXEC says so; EXEC written to a connection that then broke gets "may or may not have run".
 *
 * Commands the proxy runs itself (FLUSHALL, CONFIG SET, CLIENT PAUSE, SLOWLOG, DBSIZE...) cannot
 * be queued on the node: they are kept, answered +QUEUED, and run by the proxy one after another
 * once the node has run its part at EXEC, as ordinary commands of the client; EXEC's array is the
 * node's with their replies put in their places. They are therefore not atomic with the node's
 * part, and run after it: a command for the node behind one of them that writes keys (FLUSHALL,
 * FLUSHDB, FUNCTION LOAD) is refused, since it would run first. When the node's part fails (a
 * watched key changed, EXECABORT, a lost connection), they do not run.
 *
 * The decisions are a pure state machine (txn_decide over struct txn_fsm, tested in
 * tests/unit/test_txn.c); txn_run carries them out with connections and replies.
 */
#ifndef PX_TXN_H
#define PX_TXN_H

#include "keys.h"
#include "private.h"
#include "request.h"
#include "resp_write.h"
#include "route.h"
#include "scripts.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>

/* The state the machine decides on. */
struct txn_fsm {
    uint8_t phase;      /* enum route_tx: none, watching, or MULTI open */
    uint8_t aborted;    /* an error while queuing: EXEC answers EXECABORT */
    uint8_t watch_lost; /* the WATCH connection broke: EXEC answers a null array */
    uint8_t conn;       /* a private connection holds the transaction */
    uint8_t wrote_after; /* a command the proxy runs after the node's part writes keys
                            (FLUSHALL): nothing may be queued for the node behind it */
    int slot;           /* the transaction's slot, -1 until the first key */
    uint32_t nkept;     /* commands the proxy keeps until the node is known (MULTI first) */
    uint32_t nqueued;   /* commands queued since MULTI: their places in EXEC's array */
    uint32_t nafter;    /* of them, run by the proxy after the node's part (TXA_AFTER) */
    uint32_t nshown;    /* CLIENT LIST's multi=: queued before any error (Redis stops counting
                           there), kept when the connection is forgotten */
};

/* Who can run a command queued inside MULTI (txn_decide's `who`). */
enum txn_who {
    TXW_NEVER = 0,   /* nobody: refused, EXEC fails */
    TXW_NODE = 1,    /* the transaction's node queues it */
    TXW_PROXY,       /* the proxy runs it after the node's part (CONFIG SET, CLIENT PAUSE...) */
    TXW_PROXY_WRITE, /* the same, and it writes keys (FLUSHALL, FLUSHDB) */
};

/* What happens to a request of the transaction logic. */
enum txn_event {
    TXE_MULTI = 0,
    TXE_EXEC,
    TXE_DISCARD,
    TXE_WATCH,
    TXE_UNWATCH,
    TXE_COMMAND, /* any other command while MULTI is open, or for the watched slot */
};

enum txn_act {
    TXA_REPLY = 0,  /* answer at once with `reply`; nothing is sent */
    TXA_KEEP,       /* the proxy keeps the command (MULTI itself for TXE_MULTI) and answers */
    TXA_SEND,       /* send on the transaction's connection, behind what the proxy kept */
    TXA_SEND_ABORT, /* EXEC of a doomed transaction: DISCARD on the node, EXEC answers `reply` */
    TXA_AFTER,      /* the proxy keeps the command to run it after EXEC's node part; answers */
};

enum txn_reply {
    TXR_NONE = 0, /* the node's reply is the answer */
    TXR_OK,
    TXR_QUEUED,
    TXR_NULL_ARRAY, /* EXEC after a watched key's connection broke */
    TXR_EXECABORT,
    TXR_ERR_NESTED,          /* MULTI inside MULTI */
    TXR_ERR_EXEC_WITHOUT,    /* EXEC without MULTI */
    TXR_ERR_DISCARD_WITHOUT, /* DISCARD without MULTI */
    TXR_ERR_WATCH_IN_MULTI,
    TXR_ERR_NOT_IN_MULTI, /* a command the proxy cannot queue */
    TXR_ERR_CROSSSLOT,    /* a key of another slot than the transaction's */
    TXR_ERR_AFTER_WRITE,  /* a command for the node behind one the proxy runs after it */
};

struct txn_step {
    enum txn_act act;
    enum txn_reply reply;
    int lease;        /* TXA_SEND without a connection: lease one to this slot's master first
                         (-1: any master); -2 when no lease is needed */
    uint8_t rejected; /* refused by the proxy (statistics; fails EXEC when queuing) */
    uint8_t end;      /* the transaction's connection is done after this request (TX_END) */
    uint8_t barrier;  /* EXEC: the client's later requests wait for it */
    uint8_t detach;   /* the transaction forgets its connection once the request is sent */
    uint8_t combine;  /* EXEC: commands kept for after the node's part (TXA_AFTER) run then, and
                         EXEC's array is the node's with their replies in their places */
};

/* A fresh state: no transaction. */
void txn_fsm_init(struct txn_fsm *s);
/*
 * Decides what event ev (with the request's key slot: >= 0, KEYS_SLOT_NONE or KEYS_SLOT_CROSS;
 * who: an enum txn_who, who can run the command inside MULTI) does, and moves s on as if every
 * lease and send succeeds. Pure.
 */
void txn_decide(struct txn_fsm *s, enum txn_event ev, int slot, int who, struct txn_step *out);
/* The connection broke (or could not be written): what was going on fails at EXEC. */
void txn_fsm_conn_lost(struct txn_fsm *s);
/* The transaction forgets its connection and what it kept (its request was sent, or it ends). */
void txn_fsm_detach(struct txn_fsm *s);

/* What transactions need of their worker. */
struct txn_ctx {
    struct request_pool *rp;
    struct view *view;
    struct priv_pool *priv;
    struct keys_result *keys; /* scratch for finding a request's slot */
    struct script_local *scripts; /* EVALSHA queued in MULTI: the scripts the proxy has seen */
    struct sbuf scratch;      /* replies */
    uint32_t rr;              /* EXEC of keyless transactions: masters in turn */
    /* Puts the n requests first..last (linked by next) into after's client's queue right behind
     * after, as requests read after it that wait for it (the session's; set by the wiring). */
    void (*inject)(void *up, struct request *after, struct request *first, struct request *last,
                   uint32_t n);
    void *inject_up;
};

/* Prepares tc; the pointers must outlive it. txn_ctx_deinit frees its scratch only. */
void txn_ctx_init(struct txn_ctx *tc, struct request_pool *rp, struct view *view,
                  struct priv_pool *priv, struct keys_result *keys, struct script_local *scripts);
void txn_ctx_deinit(struct txn_ctx *tc);

/* The client's transaction state as routing sees it (route.h): phase and watched slot. */
void txn_route_state(const struct client *c, uint8_t *phase, int *watched_slot);
/* Handles r, which routing gave to the transaction logic (RT_TXN). */
void txn_run(struct txn_ctx *tc, struct request *r);
/*
 * A request txn_run put behind a combining EXEC (REQ_F_TX_AFTER or REQ_F_TX_COLLECT), now that
 * the session dispatches it. Returns 1 when it was answered here (the collector, with EXEC's
 * array; a command whose transaction failed on the node, with nothing), 0 when it is to be routed
 * as any command (it is made a barrier first: the next one runs once it is answered).
 */
int txn_after_dispatch(struct txn_ctx *tc, struct request *r);
/* An error was given to r while its client queues a transaction: EXEC must fail. */
void txn_note_error(struct request *r);
/* Forgets the transaction (RESET, client closing); its connection is closed once the requests in
 * flight on it are answered (they are, in order, before the client's later replies). */
void txn_reset(struct client *c);
/* Frees the client's transaction state when no transaction is going on (the session's cron). */
void txn_trim(struct client *c);
/* Bytes the client's transaction state holds (CLIENT LIST's tot-mem); 0 without one. */
size_t txn_client_mem(const struct client *c);
/* 1 when the client is watching keys or has MULTI open (statistics). */
int txn_active(const struct client *c);
/* 1 when c is in MULTI and a command it queued may write or replicate (CLIENT PAUSE WRITE holds
 * its EXEC). */
int txn_queued_writes(const struct client *c);
/* 1 while c is between MULTI and EXEC/DISCARD (CLIENT LIST's flag x). */
int txn_in_multi(const struct client *c);
/* CLIENT LIST's multi=: the commands c queued since MULTI, -1 outside MULTI. */
long long txn_multi_count(const struct client *c);

#endif
