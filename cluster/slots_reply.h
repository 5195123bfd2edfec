/*
 * Builds a slot map from a node's CLUSTER SHARDS or CLUSTER SLOTS reply (as parsed by hiredis on
 * the topology thread). Pure functions: no I/O, so they are tested on captured replies.
 */
#ifndef PX_SLOTS_REPLY_H
#define PX_SLOTS_REPLY_H

#include "slotmap.h"

#include <stddef.h>

struct redisReply;

/*
 * Each returns a new map (refcount 1), or NULL with a reason in err when the reply is not what
 * the command returns. source_ip is the address of the node that answered: nodes announced with
 * an empty endpoint are reachable there, as the cluster specification says.
 */
struct slotmap *slots_reply_from_shards(const struct redisReply *r, const char *source_ip,
                                        char *err, size_t errlen);
/* The same with each node's "tls-port", for a proxy that reaches the nodes over TLS. (CLUSTER
 * SLOTS needs no such variant: a node gives the port of the kind of connection it is asked on.) */
struct slotmap *slots_reply_from_shards_tls(const struct redisReply *r, const char *source_ip,
                                            char *err, size_t errlen);
struct slotmap *slots_reply_from_slots(const struct redisReply *r, const char *source_ip, char *err,
                                       size_t errlen);

/* Orders nodes by address and shards by their master's address, so that two maps of the same
 * topology compare equal however the nodes listed them. Replaces *m. */
void slots_reply_canonicalize(struct slotmap **m);

#endif
