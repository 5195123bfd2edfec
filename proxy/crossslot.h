/*
 * -cross-slot compute: commands whose keys live in different slots (and so, in general, on
 * different masters), computed by the proxy from what the nodes hold, as rediscluster-py does,
 * where Redis Cluster answers -CROSSSLOT. Routing decides (route.c, RT_COMPUTE, with an enum
 * cross_op); this executor runs the command as a short series of steps, each a few commands sent
 * to the nodes in parallel as parts of the client's request (forwarded like any request, so
 * MOVED, ASK, retries and -failover-hold apply), and answers the client once the last step is in.
 *
 * How each kind is computed (enum cross_op), and why:
 *
 *   GATHER (SUNION, SINTER, SDIFF and their STOREs, SINTERCARD, ZUNION, ZINTER, ZDIFF and their
 *   STOREs, ZINTERCARD, BITOP, PFCOUNT, PFMERGE): every key outside the slot of the command's
 *   first key (the destination of the STOREs, BITOP and PFMERGE) is read with DUMP and written
 *   next to that key with RESTORE under a temporary name ("{tag}slotproxy-tmp:...", the tag
 *   chosen to hash to that slot, with a TTL so that a crash leaves nothing for long); the command
 *   then runs on that node with the temporary names in place of the keys, and the temporary keys
 *   are deleted. Redis itself computes the answer, so it is Redis's byte for byte: WEIGHTS,
 *   AGGREGATE, WITHSCORES, LIMIT, RESP3 types, error texts and type checks included, and a
 *   destination is written by one command, whole or not at all.
 *   SMOVE: TYPE of both keys, SREM from the source, SADD to the destination.
 *   RENAME, RENAMENX: a script on the source's node renames the source to a temporary key of its
 *   slot and returns its DUMP and PEXPIRETIME (so the source disappears at once and a write to it
 *   after that point is not lost); RESTORE ... ABSTTL writes the destination with the same expiry;
 *   the temporary key is deleted.
 *   COPY: DUMP and PEXPIRETIME of the source (one script), RESTORE ... ABSTTL at the destination.
 *   LMOVE, RPOPLPUSH: TYPE of both keys, LPOP/RPOP from the source, LPUSH/RPUSH to the
 *   destination.
 *   MSETNX: EXISTS per slot; if none exists, MSETNX per slot; if a slot refuses or fails, what the
 *   other slots set is deleted again (only the keys that still hold the values written).
 *
 * None of this is atomic across nodes (proxy/README.md and the README spell out what a client can
 * see): the sources are read at slightly different times, another client can see a moved value in
 * neither place (RENAME, SMOVE, LMOVE) or MSETNX's keys set in some slots only, for the moment
 * between two steps. When a step fails, what was already done is put back where that is possible,
 * and the error says what state the keys are in (errors_cross); a destination is never left
 * half-written without the reply saying so.
 */
#ifndef PX_CROSSSLOT_H
#define PX_CROSSSLOT_H

#include "config.h"
#include "forward.h"
#include "keys.h"
#include "keyspace.h"
#include "request.h"
#include "resp_write.h"
#include "route.h"
#include "stats.h"

#include <stdint.h>

/* What the executor needs of its worker: requests, where to forward parts, counters. */
struct cross_ctx {
    struct request_pool *rp;
    struct forward *fw;
    struct worker_stats *stats;
    uint64_t tmp_ttl_ms; /* the TTL of temporary keys: long past any step's longest wait */
    uint64_t nonce;      /* makes temporary key names unique across workers and proxies */
    uint64_t seq;        /* and across this worker's commands */
    struct sbuf out;     /* replies and commands being built */
};

/* Prepares x (the pointers must outlive it); nonce should differ between workers and processes. */
void cross_ctx_init(struct cross_ctx *x, const struct config *cfg, struct request_pool *rp,
                    struct forward *fw, struct worker_stats *stats, uint64_t nonce);
void cross_ctx_deinit(struct cross_ctx *x);

/* Computes r, whose keys (positions among its arguments, as routing found them) span slots, as
 * op says. r is answered, possibly before this returns: the caller must not touch it after. */
void cross_run(struct cross_ctx *x, struct request *r, enum cross_op op,
               const struct keys_result *keys, const struct keyspace *ks);

/* A hash tag ("{...}" without the braces, NUL-terminated, static storage) of at most four
 * alphanumeric characters whose keys hash to slot. */
const char *cross_slot_tag(unsigned slot);

#endif
