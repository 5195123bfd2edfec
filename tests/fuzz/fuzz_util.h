/*
 * Helpers shared by the fuzz targets: checks that abort with the failing line, a fresh copy of
 * the input (so ASan sees stale pointers into a moved buffer), Redis's string2ll written apart
 * from resp_str2ll, and the pseudo-random piece sizes in which bytes "arrive".
 */
#ifndef PX_FUZZ_UTIL_H
#define PX_FUZZ_UTIL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) ((c) ? (void)0 : fuzz_check_failed(__FILE__, __LINE__, #c))

static inline void fuzz_check_failed(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

static inline char *dup_bytes(const char *s, size_t n)
{
    char *b = malloc(n ? n : 1);
    CHECK(b != NULL);
    if (n) memcpy(b, s, n);
    return b;
}

/* Redis's string2ll, written independently of resp_str2ll. */
static inline int ref_str2ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20) return 0;
    size_t i = s[0] == '-';
    if (i == n) return 0;
    if (s[i] == '0' && n != 1) return 0; /* no leading zeros; "-0" is refused too */
    __int128 v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (s[0] == '-') v = -v;
    if (v > LLONG_MAX || v < LLONG_MIN) return 0;
    *out = (long long)v;
    return 1;
}

static inline uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* How many more bytes arrive with the next read; 0 is a parse without a new read. */
static inline size_t next_step(uint32_t *rng, size_t left)
{
    uint32_t r = xorshift32(rng);
    switch (r & 7) {
    case 0: return 0;
    case 1:
    case 2:
    case 3: return 1 + (r >> 3) % 4;
    case 4:
    case 5: return 1 + (r >> 3) % 32;
    case 6: return 1 + (r >> 3) % 512;
    default: return left;
    }
}

/* How much of the n bytes has been fed after one more random step from fed: never two empty
 * steps in a row, so every run ends. */
static inline size_t next_fed(uint32_t *rng, size_t fed, size_t n, size_t *last_step)
{
    size_t step = next_step(rng, n - fed);
    if (step == 0 && *last_step == 0) step = 1;
    *last_step = step;
    return fed + step > n ? n : fed + step;
}

#endif
