/*
 * Unit tests for proxy/tracking's pure helpers: Redis's prefix overlap check for CLIENT TRACKING
 * ... BCAST PREFIX (its error texts byte for byte, as redis-server 7.0.15 answers them, with
 * prefixes that hold NUL, CR and LF bytes), and the exact bytes of the invalidation messages
 * (a RESP3 push `invalidate`, a RESP2 message on __redis__:invalidate, the flush nulls).
 *
 * The texts marked "redis-server" were captured from redis-server 7.0.15 with the same
 * commands; the integration suite `tracking` compares the same cases live.
 */
#include "suites.h"

#include "tracking.h"

#include <stdio.h>
#include <string.h>

static void expect_out(struct sbuf *out, const char *want, size_t wl)
{
    ck_assert_msg(out->len == wl && memcmp(out->buf, want, wl) == 0, "got %.*s, want %.*s",
                  (int)out->len, out->buf ? out->buf : "", (int)wl, want);
    sbuf_clear(out);
}

#define EXPECT_LIT(out, lit) expect_out(out, lit, sizeof(lit) - 1)

/* Runs the check with C-string lists (lens from strlen unless given). */
static int check(const char *const *have, uint32_t nhave, const char *const *add, uint32_t nadd,
                 struct sbuf *out)
{
    uint32_t hl[16], al[16];
    for (uint32_t i = 0; i < nhave; i++) hl[i] = (uint32_t)strlen(have[i]);
    for (uint32_t i = 0; i < nadd; i++) al[i] = (uint32_t)strlen(add[i]);
    return tracking_check_prefixes(have, hl, nhave, add, al, nadd, out);
}

#define OVERLAP_TAIL ". Prefixes for a single client must not overlap.\r\n"

START_TEST(test_prefixes_ok)
{
    struct sbuf out;
    sbuf_init(&out);
    static const char *const none[] = {NULL};
    /* Nothing to check, nothing new, disjoint prefixes: accepted without a word. */
    ck_assert_int_eq(check(none, 0, none, 0, &out), 0);
    static const char *const have[] = {"BAR", "FOO"};
    ck_assert_int_eq(check(have, 2, none, 0, &out), 0);
    static const char *const add[] = {"BAZ", "FOB", "a:", "b:"};
    ck_assert_int_eq(check(have, 2, add, 4, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    /* Case matters: "foo" does not overlap "FOO". */
    static const char *const lower[] = {"foo", "bar"};
    ck_assert_int_eq(check(have, 2, lower, 2, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    sbuf_free(&out);
}
END_TEST

/* The four cases of tracking.tcl's "BCAST with prefix collisions throw errors", whole. */
START_TEST(test_prefixes_redis_cases)
{
    struct sbuf out;
    sbuf_init(&out);
    static const char *const none[] = {NULL};
    static const char *const ab[] = {"FOOBAR", "FOO"};
    ck_assert_int_eq(check(none, 0, ab, 2, &out), -1);
    /* redis-server: CLIENT TRACKING ON BCAST PREFIX FOOBAR PREFIX FOO */
    EXPECT_LIT(&out,
               "-ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'" OVERLAP_TAIL);
    static const char *const ba[] = {"FOO", "FOOBAR"};
    ck_assert_int_eq(check(none, 0, ba, 2, &out), -1);
    EXPECT_LIT(&out,
               "-ERR Prefix 'FOO' overlaps with another provided prefix 'FOOBAR'" OVERLAP_TAIL);
    /* Against the client's prefixes (kept in byte order, as Redis's radix tree walks them). */
    static const char *const have[] = {"BAR", "FOO"};
    static const char *const fo[] = {"FO"};
    ck_assert_int_eq(check(have, 2, fo, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'FO' overlaps with an existing prefix 'FOO'" OVERLAP_TAIL);
    static const char *const barb[] = {"BARB"};
    ck_assert_int_eq(check(have, 2, barb, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'BARB' overlaps with an existing prefix 'BAR'" OVERLAP_TAIL);
    /* The same prefix again overlaps itself, existing or given twice. */
    static const char *const foo[] = {"FOO"};
    ck_assert_int_eq(check(have, 2, foo, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'FOO' overlaps with an existing prefix 'FOO'" OVERLAP_TAIL);
    static const char *const twice[] = {"x", "x"};
    ck_assert_int_eq(check(none, 0, twice, 2, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'x' overlaps with another provided prefix 'x'" OVERLAP_TAIL);
    sbuf_free(&out);
}
END_TEST

/* Which overlap is reported first: Redis walks the new prefixes in the order given, and for
 * each checks the existing ones (in byte order) before the later new ones. */
START_TEST(test_prefixes_order)
{
    struct sbuf out;
    sbuf_init(&out);
    static const char *const have[] = {"aa", "ab", "b"};
    /* "a" overlaps "aa" and "ab": the first in byte order is named. */
    static const char *const a[] = {"a"};
    ck_assert_int_eq(check(have, 3, a, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'a' overlaps with an existing prefix 'aa'" OVERLAP_TAIL);
    /* The first new prefix's collision with a later new one is found before the second new
     * prefix's collision with an existing one. */
    static const char *const add[] = {"c", "bz", "cd"};
    ck_assert_int_eq(check(have, 3, add, 3, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'c' overlaps with another provided prefix 'cd'" OVERLAP_TAIL);
    /* ... but an existing collision of the first new prefix comes before its new ones. */
    static const char *const add2[] = {"bq", "b"};
    ck_assert_int_eq(check(have, 3, add2, 2, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'bq' overlaps with an existing prefix 'b'" OVERLAP_TAIL);
    /* A later pair: redis-server answers this error (and then, by a bug of 7.0's
     * checkPrefixCollisionsOrReply returning the index, +OK as well and the prefixes are taken);
     * the proxy answers the error alone and takes nothing. */
    static const char *const none[] = {NULL};
    static const char *const add3[] = {"A", "FOO", "FOOBAR"};
    ck_assert_int_eq(check(none, 0, add3, 3, &out), -1);
    EXPECT_LIT(&out,
               "-ERR Prefix 'FOO' overlaps with another provided prefix 'FOOBAR'" OVERLAP_TAIL);
    sbuf_free(&out);
}
END_TEST

/* The empty prefix (BCAST without PREFIX) overlaps everything. */
START_TEST(test_prefixes_empty)
{
    struct sbuf out;
    sbuf_init(&out);
    static const char *const have[] = {"a"};
    static const char *const empty[] = {""};
    ck_assert_int_eq(check(have, 1, empty, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix '' overlaps with an existing prefix 'a'" OVERLAP_TAIL);
    ck_assert_int_eq(check(empty, 1, have, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'a' overlaps with an existing prefix ''" OVERLAP_TAIL);
    static const char *const none[] = {NULL};
    static const char *const two[] = {"q", ""};
    ck_assert_int_eq(check(none, 0, two, 2, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'q' overlaps with another provided prefix ''" OVERLAP_TAIL);
    sbuf_free(&out);
}
END_TEST

/* Binary prefixes: compared over their full length (a NUL is an ordinary byte), but Redis
 * formats them with %s, so the error names each up to its first NUL; CR and LF become spaces
 * (Redis 7's addReplyErrorFormat), so the error stays one line. */
START_TEST(test_prefixes_binary)
{
    struct sbuf out;
    sbuf_init(&out);
    static const char *const none[] = {NULL};
    /* redis-server: PREFIX "a\0b" PREFIX "a\0c" is +OK. */
    const char *nul2[] = {"a\0b", "a\0c"};
    uint32_t nul2l[] = {3, 3};
    ck_assert_int_eq(tracking_check_prefixes(none, NULL, 0, nul2, nul2l, 2, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    /* redis-server, with "a\0b" and "a\0c" taken: PREFIX "a" is refused naming 'a' and 'a'. */
    const char *one[] = {"a"};
    uint32_t onel[] = {1};
    ck_assert_int_eq(tracking_check_prefixes(nul2, nul2l, 2, one, onel, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'a' overlaps with an existing prefix 'a'" OVERLAP_TAIL);
    /* A prefix that differs only after a NUL is still a different prefix... */
    const char *nulx[] = {"a\0bz"};
    uint32_t nulxl[] = {4};
    ck_assert_int_eq(tracking_check_prefixes(nul2, nul2l, 2, nulx, nulxl, 1, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'a' overlaps with an existing prefix 'a'" OVERLAP_TAIL);
    const char *nuly[] = {"a\0d", "\0"};
    uint32_t nulyl[] = {3, 1};
    ck_assert_int_eq(tracking_check_prefixes(nul2, nul2l, 2, nuly, nulyl, 2, &out), 0);
    /* ... and one that starts with a NUL is named as ''. */
    const char *nulz[] = {"\0", "\0q"};
    uint32_t nulzl[] = {1, 2};
    ck_assert_int_eq(tracking_check_prefixes(none, NULL, 0, nulz, nulzl, 2, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix '' overlaps with another provided prefix ''" OVERLAP_TAIL);
    /* redis-server: PREFIX "x\r\ny" PREFIX "x" */
    static const char *const crlf[] = {"x\r\ny", "x"};
    ck_assert_int_eq(check(none, 0, crlf, 2, &out), -1);
    EXPECT_LIT(&out, "-ERR Prefix 'x  y' overlaps with another provided prefix 'x'" OVERLAP_TAIL);
    sbuf_free(&out);
}
END_TEST

/* Thousands of prefixes: the check stays correct (and quadratic work on 4,000 is fast enough
 * for a unit test's timeout). */
START_TEST(test_prefixes_many)
{
    enum { N = 4000 };
    static char buf[N][16];
    static const char *p[N];
    static uint32_t pl[N];
    for (int i = 0; i < N; i++) {
        pl[i] = (uint32_t)snprintf(buf[i], sizeof(buf[i]), "p:%05d:", i);
        p[i] = buf[i];
    }
    struct sbuf out;
    sbuf_init(&out);
    static const char *const none[] = {NULL};
    ck_assert_int_eq(tracking_check_prefixes(none, NULL, 0, p, pl, N, &out), 0);
    ck_assert_int_eq(tracking_check_prefixes(p, pl, N / 2, p + N / 2, pl + N / 2, N / 2, &out), 0);
    /* One more that extends the last of them. */
    const char *ext[] = {"p:03999:x"};
    uint32_t extl[] = {9};
    ck_assert_int_eq(tracking_check_prefixes(p, pl, N, ext, extl, 1, &out), -1);
    EXPECT_LIT(&out,
               "-ERR Prefix 'p:03999:x' overlaps with an existing prefix 'p:03999:'" OVERLAP_TAIL);
    sbuf_free(&out);
}
END_TEST

START_TEST(test_payload_keys)
{
    struct sbuf out;
    sbuf_init(&out);
    const char *k1[] = {"key1"};
    uint32_t l1[] = {4};
    tracking_payload_keys(&out, k1, l1, 1);
    EXPECT_LIT(&out, "*1\r\n$4\r\nkey1\r\n");
    const char *k3[] = {"a:1{t}", "a:2{t}", ""};
    uint32_t l3[] = {6, 6, 0};
    tracking_payload_keys(&out, k3, l3, 3);
    EXPECT_LIT(&out, "*3\r\n$6\r\na:1{t}\r\n$6\r\na:2{t}\r\n$0\r\n\r\n");
    /* Binary keys, by length. */
    const char *kb[] = {"a\0\r\nb"};
    uint32_t lb[] = {5};
    tracking_payload_keys(&out, kb, lb, 1);
    expect_out(&out, "*1\r\n$5\r\na\0\r\nb\r\n", 15);
    tracking_payload_keys(&out, NULL, NULL, 0);
    EXPECT_LIT(&out, "*0\r\n");
    sbuf_free(&out);
}
END_TEST

/* The messages as redis-server 7.0.15 writes them (tracking.c sendTrackingMessage). */
START_TEST(test_wrap)
{
    struct sbuf out, pl;
    sbuf_init(&out);
    sbuf_init(&pl);
    const char *k[] = {"key1"};
    uint32_t l[] = {4};
    tracking_payload_keys(&pl, k, l, 1);
    tracking_wrap(&out, 1, pl.buf, pl.len);
    EXPECT_LIT(&out, ">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey1\r\n");
    tracking_wrap(&out, 0, pl.buf, pl.len);
    EXPECT_LIT(&out, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$4\r\nkey1\r\n");
    /* Flushes: a null in the tracking client's protocol, whatever the receiver speaks (Redis
     * sends shared.null[c->resp] of the tracking client, also to its REDIRECT target). */
    tracking_wrap(&out, 1, "_\r\n", 3);
    EXPECT_LIT(&out, ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    tracking_wrap(&out, 1, "$-1\r\n", 5);
    EXPECT_LIT(&out, ">2\r\n$10\r\ninvalidate\r\n$-1\r\n");
    tracking_wrap(&out, 0, "$-1\r\n", 5);
    EXPECT_LIT(&out, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");
    tracking_wrap(&out, 0, "_\r\n", 3);
    EXPECT_LIT(&out, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n_\r\n");
    /* Appends: two messages in one buffer stay two whole messages. */
    tracking_wrap(&out, 1, pl.buf, pl.len);
    tracking_wrap(&out, 1, "_\r\n", 3);
    EXPECT_LIT(&out, ">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey1\r\n"
                     ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    sbuf_free(&out);
    sbuf_free(&pl);
}
END_TEST

Suite *tracking_suite(void)
{
    Suite *s = suite_create("tracking");
    TCase *tc = tcase_create("tracking");
    tcase_add_test(tc, test_prefixes_ok);
    tcase_add_test(tc, test_prefixes_redis_cases);
    tcase_add_test(tc, test_prefixes_order);
    tcase_add_test(tc, test_prefixes_empty);
    tcase_add_test(tc, test_prefixes_binary);
    tcase_add_test(tc, test_prefixes_many);
    tcase_add_test(tc, test_payload_keys);
    tcase_add_test(tc, test_wrap);
    suite_add_tcase(s, tc);
    return s;
}
