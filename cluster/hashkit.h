/*
 * The key hash functions of twemproxy (nutcracker) 0.5.0, bit for bit, so that pool mode can
 * place keys where a nutcracker pool with the same "hash:" setting places them. Each kind is
 * named as in nutcracker's configuration ("fnv1a_64", "murmur", ...).
 *
 * Several of nutcracker's functions are not the textbook algorithm their name suggests, and
 * these reproduce nutcracker, not the textbook:
 *  - fnv1a_64 runs in 32 bits with the 64-bit FNV constants cut to their low 32 bits;
 *    fnv1_64 runs in 64 bits and keeps the low 32 (the same as a 32-bit run, because the low
 *    bits of a product depend only on the low bits of its factors).
 *  - one_at_a_time, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32 and hsieh (its 3-byte tail) read key
 *    bytes as C `char`, which is signed on x86-64: a byte >= 0x80 enters as 0xFFFFFFxx. We
 *    reproduce the x86-64 build (Debian's amd64 package); an arm64 build of nutcracker, where
 *    char is unsigned, places keys with such bytes differently.
 *  - crc16 (XMODEM) keeps shifting a 32-bit register and never masks it to 16 bits, so its
 *    result has up to 32 significant bits.
 *  - crc32 is libmemcached's: bits 16..30 of the standard CRC-32 (a value below 32768);
 *    crc32a is the standard CRC-32 (zlib's).
 *  - md5 is the first four digest bytes read little-endian.
 *  - murmur is MurmurHash2 seeded with 0xdeadbeef * len; jenkins is Bob Jenkins' lookup3
 *    "hashlittle" with initval 13.
 *
 * Pure functions, no allocation, safe from any thread.
 */
#ifndef PX_HASHKIT_H
#define PX_HASHKIT_H

#include <stddef.h>
#include <stdint.h>

/* In nutcracker's order (its HASH_CODEC list). */
enum hashkit_kind {
    HASHKIT_ONE_AT_A_TIME = 0,
    HASHKIT_MD5,
    HASHKIT_CRC16,
    HASHKIT_CRC32,
    HASHKIT_CRC32A,
    HASHKIT_FNV1_64,
    HASHKIT_FNV1A_64,
    HASHKIT_FNV1_32,
    HASHKIT_FNV1A_32,
    HASHKIT_HSIEH,
    HASHKIT_MURMUR,
    HASHKIT_JENKINS,
    HASHKIT_COUNT
};

/* nutcracker's default "hash:". */
#define HASHKIT_DEFAULT HASHKIT_FNV1A_64

/*
 * The kind named by the NUL-terminated name, spelled as in nutcracker's configuration
 * (lower case, e.g. "fnv1a_64"). Returns the kind (>= 0), or PX_EINVAL for an unknown name.
 */
int hashkit_by_name(const char *name);

/* The configuration name of kind ("fnv1a_64"), a static string; "?" when kind is out of range. */
const char *hashkit_name(enum hashkit_kind kind);

/*
 * Hashes key[0..len) with kind exactly as nutcracker's hash_<kind>() does (see the file comment
 * for the quirks kept). Note that nutcracker itself never hashes an empty key: its pool gives it
 * hash 0 (placement.c does the same); here an empty key gets the function's own value.
 */
uint32_t hashkit_hash(enum hashkit_kind kind, const char *key, size_t len);

/* The standard CRC-32 (IEEE 802.3, as zlib.crc32 and nutcracker's crc32a compute it). */
uint32_t hashkit_crc32(const void *data, size_t len);

#endif
