/*
 * Finding a request's keys from the command's key specifications, as Redis does, and the slot
 * they hash to (a CRC16 hash slot, or in pool mode the server that holds them: keyspace.h).
 */
#ifndef PX_KEYS_H
#define PX_KEYS_H

#include "commands.h"
#include "keyspace.h"
#include "resp.h"

#include <stdint.h>

#define KEYS_INLINE 16

/* Argument positions of the keys found, and each key's key-spec flags (KSF_*: how the command
 * uses it). Small results stay inline. */
struct keys_result {
    int *pos;
    uint16_t *flags;
    uint32_t n, cap;
    int inline_pos[KEYS_INLINE];
    uint16_t inline_flags[KEYS_INLINE];
};

/* Prepares k, empty, in its inline slots. keys_result_free gives back what keys_find grew it
 * into and leaves k empty and ready for reuse (routing keeps one per worker as scratch). */
void keys_result_init(struct keys_result *k);
void keys_result_free(struct keys_result *k);

/*
 * Finds the keys of a request (argv[i] is base + argv[i].off, argv[i].len bytes) with Redis's
 * rules for key specs, including shard channels. Returns the number found (0 for keyless
 * commands), or -1 when the arguments do not fit the specs (a syntax error the node will report).
 */
int keys_find(const struct command *cmd, const char *base, const struct resp_span *argv,
              uint32_t argc, struct keys_result *out);

/*
 * The keys ACL rules are checked against, with how the command uses each (KSF_RO/RW/OW/RM and
 * ACCESS/INSERT/DELETE/UPDATE), as Redis's getKeysFromCommandWithSpecs finds them: specs marked
 * not_key (shard channels) are left out; commands whose flags depend on the arguments (SET with
 * GET, BITFIELD) and whose specs are incomplete or unknown (SORT's STORE, MIGRATE's KEYS) use
 * the finders Redis uses for them. Returns the number found (0 when the arguments do not fit the
 * specs: the node reports the syntax error, as in Redis, where ACL then checks no key).
 */
int keys_find_acl(const struct command *cmd, const char *base, const struct resp_span *argv,
                  uint32_t argc, struct keys_result *out);

enum keys_slot_result {
    KEYS_SLOT_NONE = -1,  /* no keys */
    KEYS_SLOT_CROSS = -2, /* keys in different slots */
};

/* The one slot all the keys share in keyspace ks (NULL: Redis Cluster's CRC16 slots; in pool
 * mode a slot is a server), or KEYS_SLOT_NONE / KEYS_SLOT_CROSS. */
int keys_slot(const struct keys_result *k, const char *base, const struct resp_span *argv,
              const struct keyspace *ks);

#endif
