/*
 * SHA-1 over a buffer in one call; see sha1.h. Written from the FIPS 180-4 description. The proxy
 * needs it for one thing: the name Redis gives a Lua script (the SHA-1 of its body in lower-case
 * hex), so that scripts.c can remember the body of every script a client sent with EVAL or SCRIPT
 * LOAD and load it again on a node that answers EVALSHA with NOSCRIPT (after a failover or a
 * restart). That is a name, not a security boundary, so SHA-1's weakness does not matter here;
 * it only has to agree with Redis. Scripts are short, so the code is plain rather than fast, and
 * it hashes a whole buffer at once (there is no streaming interface).
 */
#include "sha1.h"

#include <string.h>

/* Rotate left; n is always 1, 5 or 30, so neither shift is by 32. */
static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* One 64-byte block into the state h: the message schedule w, then 80 rounds in four groups of
 * twenty, each with its own function and constant. */
static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1_hex(const void *data, size_t len, char hex[41])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const unsigned char *p = data;
    size_t n = len;
    while (n >= 64) {
        sha1_block(h, p);
        p += 64;
        n -= 64;
    }
    /* The tail, a 1 bit, zeros, and the length in bits as a 64-bit big-endian number. */
    unsigned char last[128];
    memset(last, 0, sizeof(last));
    memcpy(last, p, n);
    last[n] = 0x80;
    /* The padding needs 9 bytes (0x80 and the length): when the tail leaves less room, it spills
     * into a second block. */
    size_t blocks = n + 9 > 64 ? 2 : 1;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) last[blocks * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t b = 0; b < blocks; b++) sha1_block(h, last + 64 * b);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 8; j++) hex[i * 8 + j] = digits[(h[i] >> (28 - 4 * j)) & 0xf];
    hex[40] = '\0';
}
