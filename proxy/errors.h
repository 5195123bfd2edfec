/*
 * Every error text a client can see, in one place, byte-identical to what Redis answers where
 * Redis has an answer. Routing code decides with codes; these functions render the text.
 */
#ifndef PX_REPLY_ERRORS_H
#define PX_REPLY_ERRORS_H

#include "resp.h"
#include "resp_write.h"

#include <stdint.h>

/* "-ERR unknown command '<name>', with args beginning with: '<a1>' '<a2>' ..." (Redis's text,
 * including its truncation to 128 characters). */
void errors_unknown_command(struct sbuf *s, const char *base, const struct resp_span *argv,
                            uint32_t argc);
/* "-ERR unknown subcommand '<sub>'. Try <CMD> HELP." */
void errors_unknown_subcommand(struct sbuf *s, const char *base, const struct resp_span *argv);
/* "-ERR wrong number of arguments for '<fullname>' command" */
void errors_wrong_arity(struct sbuf *s, const char *fullname);
/* "-CROSSSLOT Keys in request don't hash to the same slot" */
void errors_crossslot(struct sbuf *s);
/* "-CLUSTERDOWN Hash slot not served" */
void errors_slot_unserved(struct sbuf *s);
/* The node for a slot could not be reached within -failover-hold. */
void errors_node_unreachable(struct sbuf *s, const char *addr, const char *why);
/* No slot map yet: no node of the cluster has answered. */
void errors_no_topology(struct sbuf *s);
/* The connection to the node broke after the request was written: it may or may not have run. */
void errors_connection_lost(struct sbuf *s, const char *addr);
/* The node left the request unanswered for -backend-timeout: it may or may not have run. */
void errors_node_timeout(struct sbuf *s, const char *addr, uint64_t timeout_ms);
void errors_too_many_redirects(struct sbuf *s, const char *last, uint32_t len);
/* A command the proxy refuses; reason is the overlay's text after "-ERR ". */
void errors_unsupported(struct sbuf *s, const char *name, const char *reason);
/* "-NOAUTH Authentication required." */
void errors_noauth(struct sbuf *s);
/* A sub-request for a master that no longer exists (the topology changed under a SCAN). */
void errors_topology_changed(struct sbuf *s);
/* A command that cannot be queued in a transaction through the proxy. */
void errors_not_in_multi(struct sbuf *s, const char *name);
/* The transaction's connection broke: nothing queued will run. */
void errors_tx_conn_lost(struct sbuf *s, const char *addr);
/* A redirect while the transaction's commands were queued (the slot moved). */
void errors_tx_moved(struct sbuf *s);
/* "-ERR Protocol error: ..." */
void errors_protocol(struct sbuf *s, const char *text);

#endif
