/*
 * Unit tests for proxy/merge: the generic ways a fan-out's replies become one reply. Each case
 * builds a fan-out's parts from RESP bytes as nodes send them and checks the merged reply byte
 * for byte, including what happens with an error among the parts, no part at all, and a part of
 * the wrong shape.
 */
#include "suites.h"

#include "config.h"
#include "fanout.h"
#include "merge.h"
#include "request.h"
#include "view.h"
#include "scripts.h"
#include "sha1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct buf_pool pool;
/* What a merger reads of the worker: the configuration (cluster mode, or pool mode when
 * merge_cfg.pool is set). */
static struct config merge_cfg;
static struct view merge_view = {.cfg = &merge_cfg};
static struct fanout_ctx merge_fc = {.view = &merge_view};

/* A fan-out whose n parts answered replies[0 .. n). Free with free_fan. */
static struct fanout *make_fan(uint32_t n, const char *const *replies)
{
    struct fanout *f = calloc(1, sizeof(*f) + (n ? n : 1) * sizeof(struct fan_part));
    f->fc = &merge_fc;
    f->nparts = n;
    f->parts = (struct fan_part *)(f + 1);
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(replies[i]);
        struct buf_chunk *c = buf_chunk_get(&pool, len);
        memcpy(c->data, replies[i], len);
        c->len = (uint32_t)len;
        f->parts[i].c = c;
        f->parts[i].off = 0;
        f->parts[i].len = (uint32_t)len;
    }
    return f;
}

static void free_fan(struct fanout *f)
{
    for (uint32_t i = 0; i < f->nparts; i++) buf_chunk_put(f->parts[i].c);
    free(f);
}

/* Merges the parts with kind and compares the reply with want. */
static void check_merge(enum fan_merge kind, struct merge_env *env, const struct request *r,
                        uint32_t n, const char *const *replies, const char *want)
{
    struct fanout *f = make_fan(n, replies);
    struct fan_merger m;
    merge_get(kind, env, &m);
    struct sbuf out;
    sbuf_init(&out);
    m.merge(f, r, m.ctx, &out);
    ck_assert_msg(out.len == strlen(want) && memcmp(out.buf, want, out.len) == 0,
                  "merge %s: got %.*s, want %s", m.name, (int)out.len, out.buf, want);
    sbuf_free(&out);
    free_fan(f);
}

static const struct request no_request;

#define CHECK(kind, want, ...)                                                                     \
    do {                                                                                           \
        const char *const parts_[] = {__VA_ARGS__};                                                \
        check_merge(kind, &env, &no_request, sizeof(parts_) / sizeof(parts_[0]), parts_, want);    \
    } while (0)

static const char unexpected_sum[] =
    "-ERR slotproxy: unexpected reply from a node while merging a sum\r\n";
static const char no_master[] = "-CLUSTERDOWN The cluster is down (no master known)\r\n";

START_TEST(test_merge_numbers)
{
    buf_pool_init(&pool, 4096, 8);
    struct merge_env env = {.rng = 1};
    CHECK(FAN_SUM, ":6\r\n", ":1\r\n", ":2\r\n", ":3\r\n");
    CHECK(FAN_SUM, ":-4\r\n", ":1\r\n", ":-5\r\n");
    CHECK(FAN_MIN, ":3\r\n", ":5\r\n", ":3\r\n", ":9\r\n");
    CHECK(FAN_MIN, ":-1\r\n", ":-1\r\n");
    /* PUBSUB NUMPAT: every pattern of the proxy's clients is on one master; those of keyspace
     * notifications on every master as well. */
    CHECK(FAN_MAX, ":3\r\n", ":1\r\n", ":3\r\n", ":1\r\n");
    CHECK(FAN_MAX, "-ERR slotproxy: unexpected reply from a node while merging a maximum\r\n",
          ":1\r\n", "+OK\r\n");
    check_merge(FAN_MAX, &env, &no_request, 0, NULL, no_master);
    /* The first error wins over every other part. */
    CHECK(FAN_SUM, "-ERR first\r\n", ":1\r\n", "-ERR first\r\n", "-ERR second\r\n");
    /* A part of the wrong shape: an error naming the merge, never half a sum. */
    CHECK(FAN_SUM, unexpected_sum, ":1\r\n", "$1\r\n2\r\n");
    check_merge(FAN_SUM, &env, &no_request, 0, NULL, no_master);
    check_merge(FAN_MIN, &env, &no_request, 0, NULL, no_master);
    /* In pool mode no part means every server is ejected, and it says so in the pool's words. */
    merge_cfg.pool = 1;
    merge_cfg.auto_eject_hosts = 1;
    check_merge(FAN_SUM, &env, &no_request, 0, NULL,
                "-ERR no server of the pool is available: every server is ejected "
                "(-auto-eject-hosts)\r\n");
    merge_cfg.auto_eject_hosts = 0;
    check_merge(FAN_SUM, &env, &no_request, 0, NULL,
                "-ERR no server of the pool is available: none answers\r\n");
    merge_cfg.pool = 0;
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_merge_status)
{
    buf_pool_init(&pool, 4096, 8);
    struct merge_env env = {.rng = 1};
    CHECK(FAN_ALL_OK, "+OK\r\n", "+OK\r\n", "+OK\r\n");
    CHECK(FAN_ALL_OK, "-READONLY no\r\n", "+OK\r\n", "-READONLY no\r\n");
    CHECK(FAN_ONE_OK, "+OK\r\n", "-NOTBUSY No scripts in execution right now.\r\n", "+OK\r\n");
    CHECK(FAN_ONE_OK, "-NOTBUSY a\r\n", "-NOTBUSY a\r\n", "-NOTBUSY b\r\n");
    CHECK(FAN_ONE_OK, "-BUSY use FUNCTION KILL\r\n", "-NOTBUSY a\r\n", "-BUSY use FUNCTION KILL\r\n");
    check_merge(FAN_ONE_OK, &env, &no_request, 0, NULL, no_master);
    check_merge(FAN_ALL_OK, &env, &no_request, 0, NULL, no_master);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_merge_arrays)
{
    buf_pool_init(&pool, 4096, 8);
    struct merge_env env = {.rng = 1};
    CHECK(FAN_CONCAT, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "*1\r\n$1\r\na\r\n", "*0\r\n",
          "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
    CHECK(FAN_CONCAT, "*0\r\n", "*0\r\n", "*0\r\n");
    CHECK(FAN_CONCAT, "-ERR slotproxy: unexpected reply from a node while merging arrays\r\n",
          "*0\r\n", ":1\r\n");
    /* PUBSUB CHANNELS: each channel once, in the order first seen. */
    CHECK(FAN_UNION, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
          "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
    /* PUBSUB NUMSUB: the counts summed per channel, the names as the first master gave them. */
    CHECK(FAN_PAIR_SUM, "*4\r\n$1\r\na\r\n:4\r\n$1\r\nb\r\n:2\r\n",
          "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n", "*4\r\n$1\r\na\r\n:3\r\n$1\r\nb\r\n:0\r\n");
    CHECK(FAN_PAIR_SUM, "-ERR slotproxy: unexpected reply from a node while merging counts\r\n",
          "*2\r\n$1\r\na\r\n:1\r\n", "*2\r\n$1\r\na\r\n$1\r\nx\r\n");
    /* A keyspace-notification channel's subscribers are subscribed on every master: each master
     * counts them all, so the largest count is theirs; other channels are summed. */
    CHECK(FAN_NUMSUB,
          "*6\r\n$1\r\na\r\n:4\r\n$18\r\n__keyspace@0__:foo\r\n:2\r\n"
          "$18\r\n__keyevent@0__:set\r\n:3\r\n",
          "*6\r\n$1\r\na\r\n:1\r\n$18\r\n__keyspace@0__:foo\r\n:2\r\n"
          "$18\r\n__keyevent@0__:set\r\n:2\r\n",
          "*6\r\n$1\r\na\r\n:3\r\n$18\r\n__keyspace@0__:foo\r\n:2\r\n"
          "$18\r\n__keyevent@0__:set\r\n:3\r\n",
          "*6\r\n$1\r\na\r\n:0\r\n$18\r\n__keyspace@0__:foo\r\n:1\r\n"
          "$18\r\n__keyevent@0__:set\r\n:0\r\n");
    /* A pattern is a channel name like any other here ("__key*" is no keyspace channel). */
    CHECK(FAN_NUMSUB, "*2\r\n$6\r\n__key*\r\n:2\r\n", "*2\r\n$6\r\n__key*\r\n:1\r\n",
          "*2\r\n$6\r\n__key*\r\n:1\r\n");
    CHECK(FAN_NUMSUB, "-ERR slotproxy: unexpected reply from a node while merging counts\r\n",
          "*2\r\n$1\r\na\r\n:1\r\n", "*2\r\n$1\r\na\r\n$1\r\nx\r\n");
    /* FUNCTION STATS: the master running a script (RESP2 and RESP3), else the first. */
    CHECK(FAN_BUSIEST, "*4\r\n$14\r\nrunning_script\r\n*2\r\n$4\r\nname\r\n$1\r\nf\r\n$7\r\nengines\r\n*0\r\n",
          "*4\r\n$14\r\nrunning_script\r\n*-1\r\n$7\r\nengines\r\n*0\r\n",
          "*4\r\n$14\r\nrunning_script\r\n*2\r\n$4\r\nname\r\n$1\r\nf\r\n$7\r\nengines\r\n*0\r\n");
    CHECK(FAN_BUSIEST, "%2\r\n$14\r\nrunning_script\r\n_\r\n$7\r\nengines\r\n%0\r\n",
          "%2\r\n$14\r\nrunning_script\r\n_\r\n$7\r\nengines\r\n%0\r\n",
          "%2\r\n$14\r\nrunning_script\r\n_\r\n$7\r\nengines\r\n%0\r\n");
    buf_pool_deinit(&pool);
}
END_TEST

/* MGET k1 k2 k3 with k1 and k3 on one master (part 0) and k2 on another (part 1). */
START_TEST(test_merge_key_order)
{
    buf_pool_init(&pool, 4096, 8);
    const char *const parts[] = {"*2\r\n$2\r\nv1\r\n$2\r\nv3\r\n", "*1\r\n$-1\r\n"};
    struct fanout *f = make_fan(2, parts);
    uint32_t key_part[3] = {0, 1, 0}, key_elem[3] = {0, 0, 1}, part_nkeys[2] = {2, 1};
    f->nkeys = 3;
    f->key_part = key_part;
    f->key_elem = key_elem;
    f->part_nkeys = part_nkeys;
    struct fan_merger m;
    merge_get(FAN_KEY_ORDER, NULL, &m);
    struct sbuf out;
    sbuf_init(&out);
    m.merge(f, &no_request, m.ctx, &out);
    static const char want[] = "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n";
    ck_assert_uint_eq(out.len, sizeof(want) - 1);
    ck_assert(memcmp(out.buf, want, out.len) == 0);
    /* A node that answers fewer values than it was asked for. */
    part_nkeys[0] = 3;
    sbuf_clear(&out);
    m.merge(f, &no_request, m.ctx, &out);
    static const char bad[] = "-ERR slotproxy: unexpected reply from a node while merging MGET\r\n";
    ck_assert(out.len == sizeof(bad) - 1 && memcmp(out.buf, bad, out.len) == 0);
    sbuf_free(&out);
    f->key_part = NULL; /* not the fan-out's own allocation here */
    free_fan(f);
    buf_pool_deinit(&pool);
}
END_TEST

/* SCRIPT EXISTS: 1 only when every master has it, or when the proxy can load it anywhere. */
START_TEST(test_merge_and)
{
    buf_pool_init(&pool, 4096, 8);
    struct script_cache *sc = scripts_create();
    struct script_local *sl = scripts_local_create(sc);
    struct merge_env env = {.scripts = sl, .rng = 1};
    const char body[] = "return 1";
    char sha[41];
    sha1_hex(body, sizeof(body) - 1, sha);
    /* SCRIPT EXISTS <unknown sha> <sha of body>: the request the merge reads the SHAs from. */
    char line[200];
    int n = snprintf(line, sizeof(line), "SCRIPTEXISTS%s%s", "0000000000000000000000000000000000000000",
                     sha);
    struct buf_chunk *c = buf_chunk_get(&pool, (size_t)n);
    memcpy(c->data, line, (size_t)n);
    c->len = (uint32_t)n;
    struct request r;
    memset(&r, 0, sizeof(r));
    r.breq.chunk = c;
    r.argv = r.argv_inline;
    r.argc = 4;
    r.argv[0] = (struct resp_span){0, 6};
    r.argv[1] = (struct resp_span){6, 6};
    r.argv[2] = (struct resp_span){12, 40};
    r.argv[3] = (struct resp_span){52, 40};
    const char *const parts[] = {"*2\r\n:1\r\n:0\r\n", "*2\r\n:1\r\n:1\r\n"};
    check_merge(FAN_AND, &env, &r, 2, parts, "*2\r\n:1\r\n:0\r\n");
    /* The second script is missing on a master, but the proxy knows it: it exists. */
    scripts_remember(sl, body, sizeof(body) - 1);
    check_merge(FAN_AND, &env, &r, 2, parts, "*2\r\n:1\r\n:1\r\n");
    const char *const uneven[] = {"*2\r\n:1\r\n:0\r\n", "*1\r\n:1\r\n"};
    check_merge(FAN_AND, &env, &r, 2, uneven,
                "-ERR slotproxy: unexpected reply from a node while merging SCRIPT EXISTS\r\n");
    buf_chunk_put(c);
    scripts_local_free(sl);
    scripts_free(sc);
    buf_pool_deinit(&pool);
}
END_TEST

/* RANDOMKEY: one of the non-nil replies, each of them sometimes; nil when every master is empty. */
START_TEST(test_merge_random)
{
    buf_pool_init(&pool, 4096, 8);
    struct merge_env env = {.rng = 0x9E3779B97F4A7C15ull};
    const char *const parts[] = {"$-1\r\n", "$1\r\na\r\n", "$1\r\nb\r\n"};
    int seen_a = 0, seen_b = 0;
    struct fan_merger m;
    merge_get(FAN_RANDOM, &env, &m);
    struct fanout *f = make_fan(3, parts);
    struct sbuf out;
    sbuf_init(&out);
    for (int i = 0; i < 200; i++) {
        sbuf_clear(&out);
        m.merge(f, &no_request, m.ctx, &out);
        ck_assert_uint_eq(out.len, 7);
        if (memcmp(out.buf, "$1\r\na\r\n", 7) == 0) seen_a++;
        if (memcmp(out.buf, "$1\r\nb\r\n", 7) == 0) seen_b++;
    }
    ck_assert_int_eq(seen_a + seen_b, 200);
    ck_assert_int_gt(seen_a, 40);
    ck_assert_int_gt(seen_b, 40);
    free_fan(f);
    CHECK(FAN_RANDOM, "$-1\r\n", "$-1\r\n", "$-1\r\n");
    CHECK(FAN_RANDOM, "-LOADING x\r\n", "$-1\r\n", "-LOADING x\r\n");
    sbuf_free(&out);
    buf_pool_deinit(&pool);
}
END_TEST

Suite *merge_suite(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, test_merge_numbers);
    tcase_add_test(tc, test_merge_status);
    tcase_add_test(tc, test_merge_arrays);
    tcase_add_test(tc, test_merge_key_order);
    tcase_add_test(tc, test_merge_and);
    tcase_add_test(tc, test_merge_random);
    suite_add_tcase(s, tc);
    return s;
}
