/*
 * The keyspace: how a key becomes the "slot" that routing, splitting and forwarding work with.
 * In cluster mode a slot is Redis Cluster's hash slot (CRC16 of the key or of its {hash tag},
 * mod 16384). In pool mode a slot is a placement bucket: the index of the standalone server
 * that holds the key (placement_lookup over the live servers of the slot map in use), so slot i
 * is served by shard i of that map. Everything above the keyspace (split by slot, every master,
 * SCAN, Pub/Sub's slot 0) then works unchanged over a pool.
 *
 * A keyspace is a small value the caller builds per request from the slot map it holds (the
 * worker's view does it, view_keyspace); these functions only read it, take no lock and
 * allocate nothing.
 */
#ifndef PX_KEYSPACE_H
#define PX_KEYSPACE_H

#include "crc16.h"
#include "placement.h"

#include <stddef.h>
#include <stdint.h>

struct keyspace {
    const struct placement *pl; /* pool mode: the live servers' placement; NULL otherwise, and in
                                   pool mode before a map or while every server is ejected */
    uint8_t pool;               /* pool mode (slots are servers, not CRC16 hash slots) */
    uint8_t strip;              /* -hash-tag-strip: keys are stored under placement_rc_stored_len */
    uint32_t entropy;           /* the random distribution's choice for this request */
};

/*
 * The slot of key[0..len): its CRC16 hash slot when ks is NULL or not a pool; in pool mode the
 * index of the server that holds it, or 0 when the pool has no live server (slot 0 is then
 * served by nobody, and forwarding says so). Every key of one request gets the same entropy, so
 * with the random distribution a request's keys all go to one server. Never fails.
 */
static inline int keyspace_slot(const struct keyspace *ks, const char *key, size_t len)
{
    if (!ks || !ks->pool) return (int)crc16_key_slot(key, len);
    return ks->pl ? (int)placement_lookup(ks->pl, key, len, ks->entropy) : 0;
}

/*
 * The length of the name key[0..len) is stored under on its server: len, or with
 * -hash-tag-strip the bytes before the first '{' (rediscluster-py stores "bar{foo}" as "bar").
 */
static inline size_t keyspace_stored_len(const struct keyspace *ks, const char *key, size_t len)
{
    return ks && ks->strip ? placement_rc_stored_len(key, len) : len;
}

#endif
