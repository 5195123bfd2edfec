/*
 * The number conversions every RESP parser and writer shares (see resp.h): parsing a decimal
 * with Redis's string2ll rules, formatting one, and counting its digits. They sit on the hot path
 * of every request (lengths and counts), so the common short cases come first.
 */
#include "resp.h"

#include <limits.h>

int resp_str2ll(const char *s, size_t len, long long *out)
{
    const char *p = s;
    size_t plen = 0;
    int neg = 0;
    unsigned long long v;
    if (len == 0 || len > 20) return 0;
    if (len <= 9 && p[0] >= '1' && p[0] <= '9') {
        /* The common case, every length in a request: at most 9 digits cannot overflow. */
        long long x = p[0] - '0';
        for (size_t i = 1; i < len; i++) {
            if (p[i] < '0' || p[i] > '9') return 0;
            x = x * 10 + (p[i] - '0');
        }
        *out = x;
        return 1;
    }
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return 1;
    }
    if (p[0] == '-') {
        neg = 1;
        p++;
        plen++;
        if (plen == len) return 0;
    }
    if (p[0] >= '1' && p[0] <= '9') {
        v = (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    } else {
        return 0;
    }
    while (plen < len && p[0] >= '0' && p[0] <= '9') {
        if (v > (~0ULL) / 10) return 0;
        v *= 10;
        if (v > (~0ULL) - (unsigned long long)(p[0] - '0')) return 0;
        v += (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    }
    if (plen < len) return 0;
    if (neg) {
        if (v > ((unsigned long long)(-(LLONG_MIN + 1)) + 1)) return 0;
        *out = (long long)(0 - v);
    } else {
        if (v > (unsigned long long)LLONG_MAX) return 0;
        *out = (long long)v;
    }
    return 1;
}

int resp_ull_digits(unsigned long long u)
{
    int n = 1;
    for (;;) {
        if (u < 10) return n;
        if (u < 100) return n + 1;
        if (u < 1000) return n + 2;
        if (u < 10000) return n + 3;
        u /= 10000;
        n += 4;
    }
}

int resp_ll2str(char *buf, long long v)
{
    unsigned long long u =
        v < 0 ? (unsigned long long)0 - (unsigned long long)v : (unsigned long long)v;
    int len = v < 0;
    if (v < 0) buf[0] = '-';
    len += resp_ull_digits(u);
    buf[len] = '\0';
    /* Backwards, digit by digit: the count is known, so no reversal. */
    char *q = buf + len;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return len;
}
