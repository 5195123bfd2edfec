/*
 * Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH through the proxy.
 *
 * A transaction runs on the master of the slot of its first key, over a private connection of
 * the session's. MULTI is answered at once; commands without keys queued before the first keyed
 * one are answered +QUEUED by the proxy and sent, behind MULTI, when the node is known (their
 * replies are part of EXEC's array, as in Redis). A command for another slot gets -CROSSSLOT, and
 * like every error given while queuing, makes EXEC answer -EXECABORT. WATCH takes the private
 * connection at once; while keys are watched, commands for that slot use it too, so a read after
 * WATCH sees what the WATCH protects. If the connection breaks, the transaction is discarded and
 * EXEC says so; EXEC written to a connection that then broke gets "may or may not have run".
 */
#ifndef PX_TXN_H
#define PX_TXN_H

#include "buf.h"
#include "resp_reply.h"

#include <stdint.h>

struct worker;
struct request;
struct session;
struct privconn;

/* Handles r when it belongs to transaction logic (MULTI/EXEC/DISCARD/WATCH/UNWATCH, a command
 * queued in MULTI, a command for the watched slot). Returns 1 when r was handled, 0 when it is
 * routed as usual. */
int txn_route(struct worker *w, struct request *r);
/* An error was given to r while its session queues a transaction: EXEC must fail. */
void txn_note_error(struct request *r);
/* Forgets the transaction state (RESET, session closing); its connection is closed. */
void txn_reset(struct session *s);
/* A reply or a failure on the transaction's connection. */
void txn_on_reply(struct worker *w, struct privconn *pc, struct request *r, struct buf_chunk *c,
                  uint32_t off, const struct resp_reply_info *info);
void txn_on_failed(struct worker *w, struct privconn *pc, struct request *r, int written);
/* The transaction's connection went down with nothing in flight. */
void txn_conn_down(struct session *s);

#endif
