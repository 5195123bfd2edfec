/*
 * SCAN over the whole cluster. The cursor a client sees is one unsigned 64-bit integer: the low
 * SCAN_SHARD_BITS bits say which master (in the order of the slot map, which is sorted by
 * address, so every worker agrees), the rest is that master's own cursor. Each call scans one
 * master; when a master is finished the cursor moves to the next one, and 0 ends the iteration.
 * MATCH, COUNT and TYPE are passed on untouched, so the node validates them as Redis would.
 *
 * The cursor arithmetic is pure (scan_cursor_*), tested in tests/unit/test_scan.c; scan_run is
 * the executor that sends one master's SCAN as a part of the client's request and rewrites its
 * reply (going on to the next master at once when one ends without a key).
 */
#ifndef PX_SCAN_H
#define PX_SCAN_H

#include "fanout.h"

#include <stddef.h>
#include <stdint.h>

#define SCAN_SHARD_BITS 10 /* up to 1024 masters */

/* Parses a cursor the way Redis 7.0 does (strtoul on the argument up to its first NUL, of any
 * length: no leading space, nothing after the digits, no overflow; "-1" wraps around as strtoul
 * makes it). Returns 0 or -1. */
int scan_cursor_parse(const char *p, size_t len, unsigned long long *out);
/* Splits a client's cursor into the master's index and that master's own cursor. */
void scan_cursor_split(unsigned long long cursor, unsigned *index, unsigned long long *node_cursor);
/*
 * The client's next cursor after master index (of nmasters) answered node_cursor: the same
 * master further on, the next master from its start, or 0 when every master is done. Returns -1
 * when node_cursor is too large to be encoded.
 */
int scan_cursor_next(unsigned long long node_cursor, unsigned index, unsigned nmasters,
                     unsigned long long *next);

/* SCAN: sends the master the client's cursor names its SCAN (or holds r until a slot map exists);
 * r is answered with that master's page and the client's next cursor. */
void scan_run(struct fanout_ctx *fc, struct request *r);

#endif
