/*
 * Fan-out: one client request served by several sub-requests, whose replies are merged into one.
 *
 * Two shapes. A multi-key command whose keys span slots (MGET, MSET, DEL, ...) is split into one
 * sub-request per slot, each carrying that slot's keys in the caller's order. A whole-keyspace
 * command (DBSIZE, KEYS, FLUSHALL, SCRIPT LOAD, ...) is sent as it is to every master. Each
 * sub-request is a struct request of its own (so MOVED, ASK, retries and holds apply to it as to
 * any request); it points at its parent, and its reply is kept in the parent's fanout until the
 * last one arrives. Then the replies are merged the way the command's response policy (from
 * Redis's command tips) says, and the parent is answered like any other request.
 */
#ifndef PX_FANOUT_H
#define PX_FANOUT_H

#include "buf.h"
#include "commands.h"

#include <stdint.h>

struct worker;
struct request;

struct fan_part {
    struct buf_chunk *c; /* the sub-request's reply: c->data[off .. off+len) */
    uint32_t off, len;
};

struct fanout {
    enum fan_merge merge;
    uint32_t nparts;
    uint32_t pending; /* parts not answered yet (+1 while the parts are being sent) */
    struct fan_part *parts;
    /* FAN_KEY_ORDER: key i of the request is element key_elem[i] of part key_part[i]. */
    uint32_t nkeys;
    uint32_t *key_part, *key_elem, *part_nkeys; /* one allocation, at key_part */
    /* FAN_SCAN: which master the page comes from, out of how many. */
    uint32_t scan_index, scan_nmasters;
    /* FAN_INFO: the sections asked for (info.c). */
    uint32_t info_sections;
    int info_all;
};

/*
 * Splits r, whose keys span slots, into one sub-request per slot and sends them. Only commands
 * whose arguments are all key groups (MGET key..., MSET key value..., DEL key...) can be split.
 * Returns 0; -1 when the command cannot be split (the caller answers CROSSSLOT); -2 when its
 * arguments do not make whole key groups (MSET k1 v1 k2: the caller answers, as Redis does, that
 * the number of arguments is wrong).
 */
int fanout_split_by_slot(struct worker *w, struct request *r, enum fan_merge merge);
/* Sends bytes [off, off+len) of c (r's own bytes when c is NULL) to every master the worker knows
 * (a fan-out of zero parts answers CLUSTERDOWN). */
void fanout_all_masters(struct worker *w, struct request *r, enum fan_merge merge,
                        struct buf_chunk *c, uint32_t off, uint32_t len);

/*
 * The general form: fanout_begin() makes r a fan-out of nparts parts (set the merge parameters
 * in the returned struct before adding parts), fanout_add() sends part idx (bytes [off, off+len)
 * of c, to the master of slot, or to master index shard when slot < 0), and fanout_end() says
 * every part has been sent. Parts may be answered, and r with them, from fanout_end() on.
 */
struct fanout *fanout_begin(struct worker *w, struct request *r, enum fan_merge merge,
                            uint32_t nparts);
void fanout_add(struct worker *w, struct request *r, uint32_t idx, struct buf_chunk *c,
                uint32_t off, uint32_t len, int slot, int shard);
void fanout_end(struct worker *w, struct request *r);
/* A sub-request's reply: bytes [off, off+len) of c. Frees the sub-request; answers the parent
 * when it was the last part. */
void fanout_child_done(struct worker *w, struct request *child, struct buf_chunk *c, uint32_t off,
                       uint32_t len);
/* Releases the merge state of a parent (from request_put). */
void fanout_free(struct worker *w, struct request *r);

#endif
