/*
 * MD5 over a buffer in one call; see md5.h. Written from the description in RFC 1321: the
 * message is padded with 0x80, zeros and its bit length (little-endian) to a multiple of 64
 * bytes, and each 64-byte block goes through four rounds of sixteen steps that mix it into
 * four 32-bit words. Everything is little-endian, whatever the host.
 */
#include "md5.h"

#include <stdint.h>
#include <string.h>

/* The per-step additive constants: floor(2^32 * |sin(i + 1)|) for i = 0..63. */
/* clang-format off */
static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
    0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
    0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
    0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
    0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* The left-rotation of each step, by round: four distances per round, repeated four times. */
static const unsigned char md5_r[4][4] = {
    {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21},
};
/* clang-format on */

static uint32_t rotl32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void md5_block(uint32_t st[4], const unsigned char *blk)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++) m[i] = load_le32(blk + 4 * i);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    for (unsigned i = 0; i < 64; i++) {
        uint32_t f;
        unsigned word;
        switch (i / 16) {
        case 0:
            f = (b & c) | (~b & d);
            word = i;
            break;
        case 1:
            f = (b & d) | (c & ~d);
            word = (5 * i + 1) % 16;
            break;
        case 2:
            f = b ^ c ^ d;
            word = (3 * i + 5) % 16;
            break;
        default:
            f = c ^ (b | ~d);
            word = (7 * i) % 16;
            break;
        }
        uint32_t next = b + rotl32(a + f + md5_k[i] + m[word], md5_r[i / 16][i % 4]);
        a = d;
        d = c;
        c = b;
        b = next;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

void md5_digest(const void *data, size_t len, unsigned char out[MD5_DIGEST_LEN])
{
    uint32_t st[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64) md5_block(st, p);

    /* The tail, the 0x80 marker and the length fill one block, or two when fewer than 9 bytes
     * are free after the tail. */
    unsigned char tail[128];
    memset(tail, 0, sizeof(tail));
    if (left) memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tlen = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tlen - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(st, tail);
    if (tlen == 128) md5_block(st, tail + 64);

    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(st[i] >> (8 * j));
}
