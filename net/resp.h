/* RESP constants and types shared by the request parser, the reply framer and the writer. */
#ifndef PX_RESP_H
#define PX_RESP_H

#include <stddef.h>
#include <stdint.h>

/* An argument or element: bytes [off, off+len) relative to a base the owner knows. */
struct resp_span {
    uint32_t off;
    uint32_t len;
};

/* Redis's own limits, used as defaults. */
#define RESP_INLINE_MAX       (64 * 1024)           /* PROTO_INLINE_MAX_SIZE */
#define RESP_MAX_BULK_DEFAULT (512ll * 1024 * 1024) /* proto-max-bulk-len */
#define RESP_MAX_ARGS_DEFAULT 2147483647ll          /* INT_MAX, as Redis 7 */
#define RESP_MAX_DEPTH        1024                  /* nesting of replies */

/*
 * Parses a decimal long long with Redis's string2ll rules: optional '-', no '+', no leading
 * zeros, no spaces, no overflow. Returns 1 on success, 0 otherwise.
 */
int resp_str2ll(const char *s, size_t len, long long *out);
/* Formats v in decimal into buf (at least 21 bytes). Returns the length. */
int resp_ll2str(char *buf, long long v);
/* The number of decimal digits of u (1 for 0). */
int resp_ull_digits(unsigned long long u);

/* A "need" hint (bytes still missing) as the parsers report it: a bulk can announce more than
 * 4 GiB, and a count cut to 32 bits could read as zero; the hint saturates instead. */
static inline uint32_t resp_need(uint64_t missing)
{
    return missing > UINT32_MAX ? UINT32_MAX : (uint32_t)missing;
}

#endif
