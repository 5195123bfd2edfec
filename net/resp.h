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
#define RESP_IOBUF_LEN        (16 * 1024)           /* PROTO_IOBUF_LEN: Redis's first read */
#define RESP_MAX_BULK_DEFAULT (512ll * 1024 * 1024) /* proto-max-bulk-len */
#define RESP_MAX_ARGS_DEFAULT 2147483647ll          /* INT_MAX, as Redis 7 */
/* Nesting of replies: a Lua script can return about 8,000 levels (its stack limit). */
#define RESP_MAX_DEPTH 16384

/*
 * Parses a decimal long long with Redis's string2ll rules: optional '-', no '+', no leading
 * zeros, no spaces, no overflow. Returns 1 on success, 0 otherwise.
 */
int resp_str2ll(const char *s, size_t len, long long *out);
/* Formats v in decimal into buf (at least 21 bytes). Returns the length. */
int resp_ll2str(char *buf, long long v);
/* The number of decimal digits of u (1 for 0). */
int resp_ull_digits(unsigned long long u);

/*
 * The common length line, in one pass: p (n bytes) starts with the digits of a count or length
 * just after its '*' or '$'. When they are 1 to 9 digits without a leading zero (or a lone "0"),
 * followed by '\r' and at least one more byte, stores the value and the number of digits and
 * returns 1. Anything else (a sign, more digits, a stray byte, a line not all there) returns 0,
 * and the caller takes its general path, which gives the same answer or the right error. For
 * the lines it accepts, it is the same as finding the first '\r' and parsing what comes before
 * it with resp_str2ll.
 */
static inline int resp_len_line(const char *p, size_t n, long long *out, size_t *ndigits)
{
    if (n < 3) return 0;
    unsigned d = (unsigned)(unsigned char)p[0] - '0';
    if (d > 9) return 0;
    long long v = d;
    size_t i = 1;
    if (d != 0) {
        size_t lim = n < 9 ? n : 9;
        while (i < lim && (d = (unsigned)(unsigned char)p[i] - '0') <= 9) {
            v = v * 10 + d;
            i++;
        }
    }
    if (i + 1 >= n || p[i] != '\r') return 0;
    *out = v;
    *ndigits = i;
    return 1;
}

/* A "need" hint (bytes still missing) as the parsers report it: a bulk can announce more than
 * 4 GiB, and a count cut to 32 bits could read as zero; the hint saturates instead. */
static inline uint32_t resp_need(uint64_t missing)
{
    return missing > UINT32_MAX ? UINT32_MAX : (uint32_t)missing;
}

#endif
