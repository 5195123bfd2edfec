/*
 * Unit tests for cluster/crc16: the CRC16/XMODEM checksum and the key -> hash slot mapping with
 * Redis Cluster's hash-tag rule. Every expected slot below was read from a real Redis 7.0 node
 * with CLUSTER KEYSLOT; the tests themselves use no network.
 */
#include "suites.h"

#include "crc16.h"

#include <stdio.h>
#include <string.h>

/* A key and the slot Redis gives it. Keys may hold NUL bytes, so the length is explicit. */
struct slot_case {
    const char *key;
    size_t len;
    unsigned slot;
};

#define KEY(s) s, sizeof(s) - 1

static const struct slot_case known_slots[] = {
    {KEY("foo"), 12182},
    {KEY("bar"), 5061},
    {KEY("123456789"), 12739},
    {KEY(""), 0},
    {KEY("a"), 15495},
    {KEY("key:0"), 2592},
    {KEY("hello world"), 15332},
    {KEY("user1000"), 3443},
    {KEY("{user1000}.following"), 3443},
    {KEY("{user1000}.followers"), 3443},
    /* "{}" is an empty tag: the whole key is hashed. */
    {KEY("foo{}{bar}"), 8363},
    /* The tag runs from the first '{' to the first '}' after it: "{bar". */
    {KEY("foo{{bar}}zap"), 4015},
    {KEY("{bar"), 4015},
    /* Only the first tag counts. */
    {KEY("foo{bar}{zap}"), 5061},
    {KEY("x{y}"), 12222},
    {KEY("y"), 12222},
    /* Lone braces, and braces in the wrong order, hash the whole key. */
    {KEY("{"), 4092},
    {KEY("}"), 12090},
    {KEY("{}"), 15257},
    {KEY("{a"), 10276},
    {KEY("a}"), 5921},
    {KEY("}{a}"), 15495},
    {KEY("{a}}"), 15495},
    {KEY("{}{"), 6400},
    {KEY("{{}}"), 4092},
    /* Binary keys: an embedded NUL and bytes above 0x7f are hashed like any other byte. */
    {KEY("a\0b"), 8383},
    {KEY("\xff\xfe\x80"), 11813},
};

START_TEST(test_crc16_check_value)
{
    /* The standard check value of CRC-16/XMODEM, also quoted by the Redis Cluster spec. */
    ck_assert_uint_eq(crc16("123456789", 9), 0x31C3);
    ck_assert_uint_eq(crc16("", 0), 0);
    ck_assert_uint_eq(crc16("A", 1), 0x58E5);
    /* A single NUL byte leaves the register at zero: the table's entry 0 is 0. */
    ck_assert_uint_eq(crc16("\0", 1), 0);
    ck_assert_uint_eq(crc16("\0\0\x01", 3), 0x1021);
}
END_TEST

/* Bit by bit, as the CRC-16/XMODEM definition reads: the table-driven code (one, two and four
 * bytes a step) must agree with it at every length and every starting offset. */
static uint16_t crc16_bitwise(const unsigned char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

START_TEST(test_crc16_matches_bitwise)
{
    unsigned char buf[80];
    uint32_t x = 12345;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(buf); i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (unsigned char)(x >> 16);
        }
        for (size_t off = 0; off < 4; off++)
            for (size_t len = 0; len + off <= 70; len++)
                ck_assert_msg(crc16((const char *)buf + off, len) == crc16_bitwise(buf + off, len),
                              "round %d offset %zu length %zu", round, off, len);
    }
}
END_TEST

START_TEST(test_crc16_known_slots)
{
    for (size_t i = 0; i < sizeof(known_slots) / sizeof(known_slots[0]); i++) {
        const struct slot_case *c = &known_slots[i];
        ck_assert_msg(crc16_key_slot(c->key, c->len) == c->slot,
                      "slot of case %zu (len %zu): got %u, Redis says %u", i, c->len,
                      crc16_key_slot(c->key, c->len), c->slot);
    }
}
END_TEST

START_TEST(test_crc16_tag_same_slot)
{
    const char *a = "{user1000}.following", *b = "{user1000}.followers";
    ck_assert_uint_eq(crc16_key_slot(a, strlen(a)), crc16_key_slot(b, strlen(b)));
    ck_assert_uint_eq(crc16_key_slot(a, strlen(a)), crc16_key_slot("user1000", 8));
    /* "foo{}{bar}" hashes the whole key, so it differs from "bar" and "{bar}". */
    ck_assert_uint_ne(crc16_key_slot("foo{}{bar}", 10), crc16_key_slot("bar", 3));
    ck_assert_uint_eq(crc16_key_slot("foo{}{bar}", 10), crc16("foo{}{bar}", 10) & 16383);
    ck_assert_uint_eq(crc16_key_slot("foo{{bar}}zap", 13), crc16("{bar", 4) & 16383);
    ck_assert_uint_eq(crc16_key_slot("foo{bar}{zap}", 13), crc16("bar", 3) & 16383);
}
END_TEST

START_TEST(test_crc16_length_is_honoured)
{
    /* The key is a span, not a C string: bytes past len must not count, even braces. */
    ck_assert_uint_eq(crc16_key_slot("foo{bar}", 3), 12182);
    /* A '}' just past the span does not close the tag. */
    ck_assert_uint_eq(crc16_key_slot("x{y}", 3), crc16("x{y", 3) & 16383);
    ck_assert_uint_eq(crc16_key_slot("{", 0), 0);
}
END_TEST

START_TEST(test_crc16_slot_range)
{
    /* Every slot is within 0..16383, and a large sample of keys reaches both ends of it. */
    unsigned min = 16384, max = 0;
    static unsigned char seen[CRC16_SLOTS];
    unsigned distinct = 0;
    char key[32];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof(key), "key:%d", i);
        unsigned s = crc16_key_slot(key, (size_t)n);
        ck_assert_uint_lt(s, CRC16_SLOTS);
        if (s < min) min = s;
        if (s > max) max = s;
        if (!seen[s]) {
            seen[s] = 1;
            distinct++;
        }
    }
    ck_assert_uint_eq(min, 0);
    ck_assert_uint_eq(max, CRC16_SLOTS - 1);
    /* CRC16 spreads these keys over (nearly) every slot. */
    ck_assert_uint_gt(distinct, 16300);
}
END_TEST

Suite *crc16_suite(void)
{
    Suite *s = suite_create("crc16");
    TCase *tc = tcase_create("crc16");
    tcase_add_test(tc, test_crc16_check_value);
    tcase_add_test(tc, test_crc16_matches_bitwise);
    tcase_add_test(tc, test_crc16_known_slots);
    tcase_add_test(tc, test_crc16_tag_same_slot);
    tcase_add_test(tc, test_crc16_length_is_honoured);
    tcase_add_test(tc, test_crc16_slot_range);
    suite_add_tcase(s, tc);
    return s;
}
