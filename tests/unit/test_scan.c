/*
 * Unit tests for proxy/scan's cursor arithmetic: parsing a cursor as Redis does, and the cursor a
 * client sees (the master's index in the low bits, that master's own cursor above them) moving
 * through every master and ending at 0.
 */
#include "suites.h"

#include "scan.h"

#include <string.h>

static int parse(const char *s, unsigned long long *v)
{
    return scan_cursor_parse(s, strlen(s), v);
}

START_TEST(test_scan_cursor_parse)
{
    unsigned long long v;
    ck_assert_int_eq(parse("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(parse("18446744073709551615", &v), 0);
    ck_assert_uint_eq(v, 18446744073709551615ull);
    /* As strtoul makes it: "-1" wraps around; leading zeros are fine. */
    ck_assert_int_eq(parse("-1", &v), 0);
    ck_assert_uint_eq(v, 18446744073709551615ull);
    ck_assert_int_eq(parse("007", &v), 0);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(parse("", &v), 0); /* strtoul reads nothing and stops at the end: 0 */
    ck_assert_uint_eq(v, 0);
    /* Redis answers "invalid cursor" to these. */
    static const char *const bad[] = {" 1", "1 ", "1x", "x", "18446744073709551616", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i], &v) < 0, "\"%s\" parsed", bad[i]);
    /* As Redis 7.0: the argument is read as a C string, up to its first NUL, and any number of
     * leading zeros is fine (a cursor of 64 characters or more was refused). */
    ck_assert_int_eq(scan_cursor_parse("1\0", 2, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(scan_cursor_parse("5\0junk", 6, &v), 0);
    ck_assert_uint_eq(v, 5);
    static const char lead_nul[] = {'\0', '1', '2'};
    ck_assert_int_eq(scan_cursor_parse(lead_nul, sizeof(lead_nul), &v), 0);
    ck_assert_uint_eq(v, 0);
    char longc[201];
    memset(longc, '0', 200);
    longc[200] = '\0';
    longc[199] = '7';
    ck_assert_int_eq(parse(longc, &v), 0);
    ck_assert_uint_eq(v, 7);
    longc[0] = ' ';
    ck_assert_int_lt(parse(longc, &v), 0);
    longc[0] = '0';
    longc[179] = '1'; /* 21 significant digits: past 2^64 */
    ck_assert_int_lt(parse(longc, &v), 0);
}
END_TEST

START_TEST(test_scan_cursor_walk)
{
    unsigned idx;
    unsigned long long node, next;
    /* Cursor 0: the first master, from its start. */
    scan_cursor_split(0, &idx, &node);
    ck_assert_uint_eq(idx, 0);
    ck_assert_uint_eq(node, 0);
    /* The master is part way: same master, its cursor above the index bits. */
    ck_assert_int_eq(scan_cursor_next(17, 1, 3, &next), 0);
    ck_assert_uint_eq(next, (17ull << SCAN_SHARD_BITS) | 1);
    scan_cursor_split(next, &idx, &node);
    ck_assert_uint_eq(idx, 1);
    ck_assert_uint_eq(node, 17);
    /* A master is done: the next one from its start; the last one done: 0. */
    ck_assert_int_eq(scan_cursor_next(0, 0, 3, &next), 0);
    ck_assert_uint_eq(next, 1);
    ck_assert_int_eq(scan_cursor_next(0, 1, 3, &next), 0);
    ck_assert_uint_eq(next, 2);
    ck_assert_int_eq(scan_cursor_next(0, 2, 3, &next), 0);
    ck_assert_uint_eq(next, 0);
    ck_assert_int_eq(scan_cursor_next(0, 0, 1, &next), 0);
    ck_assert_uint_eq(next, 0);
    /* The largest node cursor that still fits, and one that does not. */
    unsigned long long max = ~0ull >> SCAN_SHARD_BITS;
    ck_assert_int_eq(scan_cursor_next(max, 5, 6, &next), 0);
    scan_cursor_split(next, &idx, &node);
    ck_assert_uint_eq(idx, 5);
    ck_assert_uint_eq(node, max);
    ck_assert_int_eq(scan_cursor_next(max + 1, 0, 2, &next), -1);
    /* Every index a client can see round-trips. */
    for (unsigned i = 0; i < (1u << SCAN_SHARD_BITS); i += 37) {
        ck_assert_int_eq(scan_cursor_next(12345, i, 1u << SCAN_SHARD_BITS, &next), 0);
        scan_cursor_split(next, &idx, &node);
        ck_assert_uint_eq(idx, i);
        ck_assert_uint_eq(node, 12345);
    }
}
END_TEST

Suite *scan_suite(void)
{
    Suite *s = suite_create("scan");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, test_scan_cursor_parse);
    tcase_add_test(tc, test_scan_cursor_walk);
    suite_add_tcase(s, tc);
    return s;
}
