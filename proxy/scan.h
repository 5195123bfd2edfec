/*
 * SCAN over the whole cluster. The cursor a client sees is one unsigned 64-bit integer: the low
 * SCAN_SHARD_BITS bits say which master (in the order of the worker's slot map, which is sorted by
 * address, so every worker agrees), the rest is that master's own cursor. Each call scans one
 * master; when a master is finished the cursor moves to the next one, and 0 ends the iteration.
 * MATCH, COUNT and TYPE are passed on untouched, so the node validates them as Redis would.
 */
#ifndef PX_SCAN_H
#define PX_SCAN_H

#include "fanout.h"
#include "resp_write.h"

#define SCAN_SHARD_BITS 10 /* up to 1024 masters */

struct worker;
struct request;

void scan_dispatch(struct worker *w, struct request *r);
/* Rewrites the node's reply (part) into the client's: the encoded cursor, then the keys. */
void scan_merge(struct worker *w, struct request *r, const struct fan_part *part, struct sbuf *out);

#endif
