/*
 * Unit tests for proxy/pubsub's subscription state: the confirmations a client sees, with the
 * counts Redis gives over one connection (channels and patterns counted together, shard channels
 * apart; names that were not subscribed confirmed all the same), and which channels and patterns
 * are about keyspace notifications (those go to every master).
 */
#include "suites.h"

#include "pubsub.h"

#include <string.h>

/* The confirmation Redis writes: [kind, name or nil, count]. */
static void expect(struct sbuf *out, const char *want)
{
    ck_assert_msg(out->len == strlen(want) && memcmp(out->buf, want, out->len) == 0,
                  "got %.*s, want %s", (int)out->len, out->buf, want);
    sbuf_clear(out);
}

START_TEST(test_pubsub_counts)
{
    struct pubsub_subs s;
    pubsub_subs_init(&s);
    struct sbuf out;
    sbuf_init(&out);
    ck_assert_int_eq(pubsub_subs_add(&s, PSK_SUB, "a", 1, 0, 2, &out), 1);
    expect(&out, "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    /* Again: confirmed with the same count, not added twice. */
    ck_assert_int_eq(pubsub_subs_add(&s, PSK_SUB, "a", 1, 0, 2, &out), 0);
    expect(&out, "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    /* Patterns share the count with channels. */
    pubsub_subs_add(&s, PSK_PSUB, "a*", 2, 0, 2, &out);
    expect(&out, "*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n");
    /* Shard channels are counted apart. */
    pubsub_subs_add(&s, PSK_SSUB, "s", 1, 3, 2, &out);
    expect(&out, "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n");
    ck_assert_int_eq(strset_get(&s.shard, "s", 1)->value, 3);
    pubsub_subs_add(&s, PSK_SSUB, "s", 1, 5, 2, &out); /* moved to another connection */
    ck_assert_int_eq(strset_get(&s.shard, "s", 1)->value, 5);
    sbuf_clear(&out);
    ck_assert_uint_eq(pubsub_subs_regular(&s), 2);
    /* Unsubscribing something never subscribed is confirmed too. */
    ck_assert_int_eq(pubsub_subs_remove(&s, PSK_UNSUB, "zz", 2, 2, &out), 0);
    expect(&out, "*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:2\r\n");
    ck_assert_int_eq(pubsub_subs_remove(&s, PSK_UNSUB, "a", 1, 2, &out), 1);
    expect(&out, "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n");
    ck_assert_int_eq(pubsub_subs_remove(&s, PSK_PUNSUB, "a*", 2, 2, &out), 1);
    expect(&out, "*3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n");
    /* Nothing left to unsubscribe: one confirmation with a nil name. */
    pubsub_confirm_none(&s, PSK_UNSUB, 2, &out);
    expect(&out, "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    pubsub_subs_remove(&s, PSK_SUNSUB, "s", 1, 2, &out);
    expect(&out, "*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n");
    pubsub_confirm_none(&s, PSK_SUNSUB, 2, &out);
    expect(&out, "*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
    /* RESP3: push frames, and a null for no channel. */
    pubsub_subs_add(&s, PSK_SUB, "b", 1, 0, 3, &out);
    expect(&out, ">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:1\r\n");
    pubsub_subs_remove(&s, PSK_UNSUB, "b", 1, 3, &out);
    expect(&out, ">3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n");
    pubsub_confirm_none(&s, PSK_PUNSUB, 3, &out);
    expect(&out, ">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n");
    /* Binary names pass untouched. */
    pubsub_subs_add(&s, PSK_SUB, "a\0b\r\n", 5, 0, 2, &out);
    ck_assert(out.len == 34 && memcmp(out.buf + 19, "$5\r\na\0b\r\n\r\n", 11) == 0);
    sbuf_free(&out);
    pubsub_subs_free(&s);
}
END_TEST

START_TEST(test_pubsub_keyspace)
{
    static const char *const yes[] = {"__keyspace@0__:k", "__keyevent@0__:set", "__keyspace@"};
    static const char *const no[] = {"__keyspace", "news", "", "_keyspace@0__:k", "__keyevent0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(pubsub_keyspace_channel(yes[i], strlen(yes[i])), "%s", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(!pubsub_keyspace_channel(no[i], strlen(no[i])), "%s", no[i]);
    ck_assert(!pubsub_keyspace_channel("__keyspace@0", 10)); /* the length is what counts */
    /* A pattern is about keyspace notifications when it could match one. */
    static const char *const pyes[] = {"*", "__key*", "__keyspace@*", "__keyevent@0__:*",
                                       "_?keyspace@*", "[_]*", "__k"};
    static const char *const pno[] = {"news*", "__keyx*", "a", "__keyspacE@*"};
    for (size_t i = 0; i < sizeof(pyes) / sizeof(pyes[0]); i++)
        ck_assert_msg(pubsub_keyspace_pattern(pyes[i], strlen(pyes[i])), "%s", pyes[i]);
    for (size_t i = 0; i < sizeof(pno) / sizeof(pno[0]); i++)
        ck_assert_msg(!pubsub_keyspace_pattern(pno[i], strlen(pno[i])), "%s", pno[i]);
}
END_TEST

Suite *pubsub_suite(void)
{
    Suite *s = suite_create("pubsub");
    TCase *tc = tcase_create("pubsub");
    tcase_add_test(tc, test_pubsub_counts);
    tcase_add_test(tc, test_pubsub_keyspace);
    suite_add_tcase(s, tc);
    return s;
}
