/*
 * Pool-mode placement: which of a list of standalone Redis servers holds a key, computed exactly
 * as an existing sharding system computes it, so that a team can put slotproxy in front of the
 * servers that system filled and find every key where it already is. Pure functions over an
 * immutable object: no I/O, no locks, no allocation after placement_create.
 *
 * Distributions, and whose behaviour each reproduces:
 *  - PLACEMENT_KETAMA: twemproxy (nutcracker) 0.5.0 "distribution: ketama". A continuum of
 *    160 points per server on average (fewer or more by weight share), each point four bytes of
 *    MD5("<name>-<i>") where <name> is the server's name when one is configured, else
 *    "host:port" (only "host" when the port is 11211, a libmemcached habit nutcracker keeps).
 *    A key is hashed with the configured key hash (default fnv1a_64) and lands on the first
 *    point at or after its hash, wrapping to the first point.
 *  - PLACEMENT_LIBKETAMA: last.fm's libketama, as redis-router uses it (servers file of
 *    "host:port weight" lines). Points as above from MD5("host:port-i") with libketama's own
 *    rounding of the weight share; the key hash is always libketama's: the first four bytes of
 *    MD5(key), little-endian, with the key read as a C string (up to its first NUL byte).
 *  - PLACEMENT_MODULA: nutcracker's modula: hash % (sum of weights), each server owning
 *    `weight` consecutive residues, servers taken in nutcracker's order (see below).
 *  - PLACEMENT_RANDOM: nutcracker's random: any server, chosen per request. The caller supplies
 *    the randomness (placement_lookup's entropy), so this stays a pure function.
 *  - PLACEMENT_CRC32_MOD: rediscluster-py: node (crc32(key) & 0xffffffff) % N, node_1..node_N
 *    being servers 0..N-1, where a key containing '{' is hashed by rediscluster-py's tag (see
 *    placement_rc_span) and stored under the part before the '{' (placement_rc_stored_len).
 *
 * Server indexes are always positions in the list given to placement_create. nutcracker itself
 * sorts its servers by name (shorter names first, then bytewise) before it builds modula's and
 * random's tables, so for those two the order of the configuration lines does not matter to it;
 * this module does the same and maps the result back to the caller's positions.
 */
#ifndef PX_PLACEMENT_H
#define PX_PLACEMENT_H

#include "hashkit.h"

#include <stddef.h>
#include <stdint.h>

enum placement_dist {
    PLACEMENT_KETAMA = 0,
    PLACEMENT_LIBKETAMA,
    PLACEMENT_MODULA,
    PLACEMENT_RANDOM,
    PLACEMENT_CRC32_MOD,
    PLACEMENT_DIST_COUNT
};

/* At most this many servers in one placement. */
#define PLACEMENT_MAX_SERVERS 4096
/* libketama keeps a server's address in 22 bytes plus padding; longer addresses it refuses. */
#define PLACEMENT_LIBKETAMA_ADDR_MAX 23
/* nutcracker hashes at most this many bytes of "<name>-<i>" (its KETAMA_MAX_HOSTLEN - 1). */
#define PLACEMENT_KETAMA_POINT_NAME_MAX 272

struct placement_server {
    const char *host; /* as written in the configuration; hashed verbatim */
    int port;         /* 1..65535 */
    uint32_t weight;  /* > 0: nutcracker's weight, libketama's memory; random and crc32-mod
                         ignore it */
    const char *name; /* NULL, or what the continuum hashes instead of "host:port"; also the
                         name nutcracker sorts and deduplicates by */
};

struct placement_opts {
    enum placement_dist dist;
    enum hashkit_kind hash; /* the key hash of ketama and modula; the others have their own */
    char hash_tag[2];       /* nutcracker's hash_tag ("{}"), or two NULs for none; not allowed
                               with crc32-mod, which has rediscluster-py's rule built in */
};

struct placement;

/* Sets o to nutcracker's defaults: ketama, fnv1a_64, no hash tag. */
void placement_opts_init(struct placement_opts *o);

/*
 * The distribution named by the NUL-terminated name: "ketama", "libketama", "modula", "random"
 * or "crc32-mod". Returns it (>= 0), or PX_EINVAL.
 */
int placement_dist_by_name(const char *name);

/* The name of d as placement_dist_by_name spells it; "?" when out of range. */
const char *placement_dist_name(enum placement_dist d);

/*
 * Builds the placement of n servers (copied; the caller keeps servers) and stores it in *out.
 * Returns 0; or PX_EINVAL when n is 0 or above PLACEMENT_MAX_SERVERS, a host is NULL or empty,
 * a port is out of range, a weight is 0 where the distribution uses weights, nutcracker's
 * weights add up past 2^32 - 1, two servers share a name where nutcracker refuses that (ketama,
 * modula, random), a libketama address is longer than PLACEMENT_LIBKETAMA_ADDR_MAX, or a hash
 * tag is set with crc32-mod. The result is immutable and may be shared by any number of threads;
 * free it with placement_free. Allocates the continuum (about 160 points per server).
 */
int placement_create(const struct placement_opts *opts, const struct placement_server *servers,
                     size_t n, struct placement **out);

/* Frees pl (NULL is fine). */
void placement_free(struct placement *pl);

/* The number of servers. */
size_t placement_size(const struct placement *pl);

enum placement_dist placement_distribution(const struct placement *pl);

/*
 * The index (into the list given to placement_create) of the server that holds key[0..len).
 * entropy is used only by PLACEMENT_RANDOM, which returns a server chosen from it as nutcracker
 * chooses from random(); pass a fresh random number per request. Never fails.
 */
unsigned placement_lookup(const struct placement *pl, const char *key, size_t len,
                          uint32_t entropy);

/*
 * The 32-bit hash the distribution computes for key[0..len) after applying its hash-tag rule:
 * the key hash for ketama and modula (0 for an empty key, as nutcracker has it), libketama's MD5
 * hash, rediscluster-py's CRC-32, and 0 for random. For tests and debugging output.
 */
uint32_t placement_key_hash(const struct placement *pl, const char *key, size_t len);

/*
 * For the continuum distributions (ketama, libketama): stores in *point the continuum point
 * key[0..len) lands on (the value libketama's ketama_get_server reports) and returns 0.
 * Returns PX_EINVAL for the other distributions.
 */
int placement_point(const struct placement *pl, const char *key, size_t len, uint32_t *point);

/* How many continuum points server index has (0 for non-continuum distributions). */
size_t placement_server_points(const struct placement *pl, unsigned index);

/*
 * nutcracker's hash_tag rule: when the key holds tag[0], and tag[1] occurs after that first
 * tag[0] with at least one byte between them, the bytes between them are hashed; otherwise
 * (no opening char, no closing char after it, or an empty tag) the whole key is. Only the first
 * opening char is considered. Stores the hashed span as *off, *n (into key).
 */
void placement_tag_span(const char tag[2], const char *key, size_t len, size_t *off, size_t *n);

/*
 * rediscluster-py's hash-tag rule: when the key holds '{', the part hashed is everything after
 * the first '{' except the key's last byte, whatever that byte is ("bar{foo}" -> "foo",
 * "a{bc}d" -> "bc}", "a{" -> ""); without '{', the whole key. Stores the span as *off, *n.
 * rediscluster-py slices Python strings, so for keys given as non-ASCII text it removes the last
 * character where this removes the last byte; keys given as bytes agree.
 */
void placement_rc_span(const char *key, size_t len, size_t *off, size_t *n);

/*
 * The length of the name rediscluster-py stores key[0..len) under: the bytes before the first
 * '{' ("bar{foo}" is stored as "bar", "{foo}" as ""), or len when the key has no '{'. For the
 * opt-in -hash-tag-strip, which rewrites keys the way rediscluster-py did.
 */
size_t placement_rc_stored_len(const char *key, size_t len);

#endif
