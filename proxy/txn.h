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
    int slot;           /* the transaction's slot, -1 until the first key */
    uint32_t nkept;     /* commands the proxy keeps until the node is known (MULTI first) */
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
};

/* A fresh state: no transaction. */
void txn_fsm_init(struct txn_fsm *s);
/*
 * Decides what event ev (with the request's key slot: >= 0, KEYS_SLOT_NONE or KEYS_SLOT_CROSS;
 * node_can: whether a node can queue the command) does, and moves s on as if every lease and send
 * succeeds. Pure.
 */
void txn_decide(struct txn_fsm *s, enum txn_event ev, int slot, int node_can,
                struct txn_step *out);
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
};

/* Prepares tc; the pointers must outlive it. txn_ctx_deinit frees its scratch only. */
void txn_ctx_init(struct txn_ctx *tc, struct request_pool *rp, struct view *view,
                  struct priv_pool *priv, struct keys_result *keys, struct script_local *scripts);
void txn_ctx_deinit(struct txn_ctx *tc);

/* The client's transaction state as routing sees it (route.h): phase and watched slot. */
void txn_route_state(const struct client *c, uint8_t *phase, int *watched_slot);
/* Handles r, which routing gave to the transaction logic (RT_TXN). */
void txn_run(struct txn_ctx *tc, struct request *r);
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

#endif
