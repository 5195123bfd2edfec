/*
 * Unit tests for proxy/keys: key positions from the command table's key specs, and the one slot
 * a request's keys share.
 *
 * fixtures/getkeys.txt holds what a real redis-server 7.0 answers to COMMAND GETKEYS for 130
 * command lines (made once by fixtures/gen_getkeys.py, committed next to it); keys_find() must
 * find the same positions. Invalid specs, many keys and CROSSSLOT are checked by hand.
 */
#include "suites.h"

#include "crc16.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

/* A request built from words: the bytes back to back in base, spans in argv. */
struct req {
    char base[4096];
    size_t used;
    struct resp_span argv[MAX_ARGS];
    uint32_t argc;
};

static void req_add(struct req *r, const char *s, size_t len)
{
    ck_assert_uint_lt(r->argc, MAX_ARGS);
    ck_assert_uint_le(r->used + len, sizeof(r->base));
    memcpy(r->base + r->used, s, len);
    r->argv[r->argc].off = (uint32_t)r->used;
    r->argv[r->argc].len = (uint32_t)len;
    r->argc++;
    r->used += len;
}

/* Builds a request from a space-separated line. */
static void req_words(struct req *r, const char *line)
{
    r->used = 0;
    r->argc = 0;
    const char *p = line;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        req_add(r, p, n);
        p += n;
    }
}

/* The command (or subcommand) a request names. */
static const struct command *req_command(const struct req *r)
{
    const struct cmd_entry *e = commands_lookup(r->base + r->argv[0].off, r->argv[0].len);
    ck_assert_msg(e != NULL, "unknown command %.*s", (int)r->argv[0].len, r->base);
    if (e->nsubs && r->argc > 1) {
        const struct cmd_entry *s =
            commands_lookup_sub(e, r->base + r->argv[1].off, r->argv[1].len);
        ck_assert_msg(s != NULL, "unknown subcommand %.*s", (int)r->argv[1].len,
                      r->base + r->argv[1].off);
        return s->cmd;
    }
    return e->cmd;
}

/* keys_find on a space-separated line; positions into pos (up to max). Returns its result. */
static int find(const char *line, int *pos, int max)
{
    struct req r;
    req_words(&r, line);
    struct keys_result k;
    keys_result_init(&k);
    int n = keys_find(req_command(&r), r.base, r.argv, r.argc, &k);
    if (n >= 0) ck_assert_uint_eq(k.n, (uint32_t)n);
    for (int i = 0; i < n && i < max; i++) pos[i] = k.pos[i];
    keys_result_free(&k);
    return n;
}

/* Commands whose routing keys deliberately differ from COMMAND GETKEYS. */
static const struct {
    const char *cmd;
    const char *positions;
} getkeys_overrides[] = {
    /* Shard channels are NOT_KEY specs, which COMMAND GETKEYS skips, but a cluster routes
     * SPUBLISH by its channel's slot (a node answers "MOVED 12182" to SPUBLISH foo), and so
     * must the proxy. */
    {"SPUBLISH", "1"},
};

START_TEST(test_keys_match_redis)
{
    commands_init();
    char path[512];
    snprintf(path, sizeof(path), "%s/getkeys.txt", PX_FIXTURES);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[1024];
    int checked = 0, with_keys = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t ll = strlen(line);
        while (ll && (line[ll - 1] == '\n' || line[ll - 1] == '\r')) line[--ll] = '\0';
        if (ll == 0 || line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        ck_assert_ptr_nonnull(tab);
        *tab = '\0';
        const char *want = line;
        /* The fixture separates arguments with tabs; turn them into spaces for req_words. */
        for (char *p = tab + 1; *p; p++)
            if (*p == '\t') *p = ' ';
        const char *args = tab + 1;
        for (size_t i = 0; i < sizeof(getkeys_overrides) / sizeof(getkeys_overrides[0]); i++) {
            size_t cl = strlen(getkeys_overrides[i].cmd);
            if (strncmp(args, getkeys_overrides[i].cmd, cl) == 0 && args[cl] == ' ')
                want = getkeys_overrides[i].positions;
        }
        int got[MAX_ARGS];
        int n = find(args, got, MAX_ARGS);
        char have[256] = "";
        size_t hl = 0;
        for (int i = 0; i < n; i++)
            hl += (size_t)snprintf(have + hl, sizeof(have) - hl, "%s%d", i ? "," : "", got[i]);
        if (n == 0) snprintf(have, sizeof(have), "%s", strcmp(want, "-") == 0 ? "-" : "none");
        if (n < 0) snprintf(have, sizeof(have), "error %d", n);
        ck_assert_msg(strcmp(have, want) == 0, "%s: keys_find gives %s, Redis %s", args, have,
                      want);
        checked++;
        if (n > 0) with_keys++;
    }
    fclose(f);
    ck_assert_int_ge(checked, 120);
    ck_assert_int_ge(with_keys, 100);
}
END_TEST

START_TEST(test_keys_by_hand)
{
    /* Cases beyond the fixture: shard channels, many keys, keywords at the edges. */
    commands_init();
    int pos[MAX_ARGS];
    ck_assert_int_eq(find("SSUBSCRIBE ch1 ch2 ch3", pos, MAX_ARGS), 3);
    ck_assert_int_eq(pos[0], 1);
    ck_assert_int_eq(pos[2], 3);
    ck_assert_int_eq(find("get k", pos, MAX_ARGS), 1);
    ck_assert_int_eq(pos[0], 1);
    /* STREAMS as a stream name: the first STREAMS keyword counts. */
    ck_assert_int_eq(find("XREAD STREAMS STREAMS s2 0 0", pos, MAX_ARGS), 2);
    ck_assert_int_eq(pos[0], 2);
    ck_assert_int_eq(pos[1], 3);
    /* A keyword in the last argument is not a keyword (nothing can follow it). */
    ck_assert_int_eq(find("GEORADIUS g 0 0 10 km WITHDIST STORE", pos, MAX_ARGS), 1);
    /* SORT: the last STORE wins; SORT_RO never stores. */
    ck_assert_int_eq(find("SORT k LIMIT 0 1 STORE d1 BY x STORE d2", pos, MAX_ARGS), 2);
    ck_assert_int_eq(pos[1], 10);
    ck_assert_int_eq(find("SORT_RO k STORE d", pos, MAX_ARGS), 1);
    ck_assert_int_eq(find("SORT k STORE", pos, MAX_ARGS), 1);
    /* Keyless commands. */
    ck_assert_int_eq(find("PING", pos, MAX_ARGS), 0);
    ck_assert_int_eq(find("CLUSTER KEYSLOT k", pos, MAX_ARGS), 0);
}
END_TEST

START_TEST(test_keys_many)
{
    /* More keys than the inline array holds: the result grows and is freed. */
    commands_init();
    struct req r = {.argc = 0};
    req_add(&r, "MSET", 4);
    char kv[16];
    for (int i = 0; i < 30; i++) {
        int n = snprintf(kv, sizeof(kv), "{t}k%d", i);
        req_add(&r, kv, (size_t)n);
        n = snprintf(kv, sizeof(kv), "v%d", i);
        req_add(&r, kv, (size_t)n);
    }
    struct keys_result k;
    keys_result_init(&k);
    ck_assert_int_eq(keys_find(req_command(&r), r.base, r.argv, r.argc, &k), 30);
    ck_assert_uint_gt(k.cap, KEYS_INLINE);
    for (int i = 0; i < 30; i++) ck_assert_int_eq(k.pos[i], 1 + 2 * i);
    /* All share the {t} tag. */
    ck_assert_int_eq(keys_slot(&k, r.base, r.argv, NULL), (int)crc16_key_slot("t", 1));
    /* A result is reusable: keys_find starts from zero keys. */
    ck_assert_int_eq(keys_find(req_command(&r), r.base, r.argv, 3, &k), 1);
    ck_assert_uint_eq(k.n, 1);
    keys_result_free(&k);
    ck_assert_ptr_eq(k.pos, k.inline_pos);
    ck_assert_uint_eq(k.n, 0);

    struct req d = {.argc = 0};
    req_add(&d, "DEL", 3);
    for (int i = 0; i < 60; i++) {
        int n = snprintf(kv, sizeof(kv), "key:%d", i);
        req_add(&d, kv, (size_t)n);
    }
    keys_result_init(&k);
    ck_assert_int_eq(keys_find(req_command(&d), d.base, d.argv, d.argc, &k), 60);
    ck_assert_int_eq(k.pos[59], 60);
    ck_assert_int_eq(keys_slot(&k, d.base, d.argv, NULL), KEYS_SLOT_CROSS);
    keys_result_free(&k);
}
END_TEST

/* The slot the keys of a request line share. */
static int slot_of(const char *line)
{
    struct req r;
    req_words(&r, line);
    struct keys_result k;
    keys_result_init(&k);
    ck_assert_int_ge(keys_find(req_command(&r), r.base, r.argv, r.argc, &k), 0);
    int s = keys_slot(&k, r.base, r.argv, NULL);
    keys_result_free(&k);
    return s;
}

START_TEST(test_keys_slot)
{
    commands_init();
    ck_assert_int_eq(slot_of("GET foo"), 12182);
    ck_assert_int_eq(slot_of("SET bar 1"), 5061);
    ck_assert_int_eq(slot_of("PING"), KEYS_SLOT_NONE);
    ck_assert_int_eq(slot_of("EVAL s 0"), KEYS_SLOT_NONE);
    /* foo and bar are in different slots; values never count, even when they differ. */
    ck_assert_int_eq(slot_of("MGET foo bar"), KEYS_SLOT_CROSS);
    ck_assert_int_eq(slot_of("MSET foo 1 bar 2"), KEYS_SLOT_CROSS);
    ck_assert_int_eq(slot_of("MSET foo bar foo baz"), 12182);
    ck_assert_int_eq(slot_of("MSET {user1000}.following 1 {user1000}.followers 2"), 3443);
    ck_assert_int_eq(slot_of("RENAME {a}x {a}y"), 15495);
    ck_assert_int_eq(slot_of("RENAME foo {foo}x"), 12182);
    ck_assert_int_eq(slot_of("EVAL s 2 foo bar"), KEYS_SLOT_CROSS);
    ck_assert_int_eq(slot_of("EVAL s 2 foo{bar} bar a1"), 5061);
    ck_assert_int_eq(slot_of("XREAD STREAMS foo {foo}1 0 0"), 12182);
    ck_assert_int_eq(slot_of("ZUNIONSTORE foo 2 {foo}a bar"), KEYS_SLOT_CROSS);
    ck_assert_int_eq(slot_of("SPUBLISH foo hello"), 12182);
    ck_assert_int_eq(slot_of("GEORADIUS {g}a 0 0 1 km STORE {g}b"), (int)crc16_key_slot("g", 1));
    ck_assert_int_eq(slot_of("GEORADIUS {g}a 0 0 1 km STORE foo"), KEYS_SLOT_CROSS);
    /* The key is a span: an empty key is slot 0. */
    struct req r = {.argc = 0};
    req_add(&r, "GET", 3);
    req_add(&r, "", 0);
    struct keys_result k;
    keys_result_init(&k);
    ck_assert_int_eq(keys_find(req_command(&r), r.base, r.argv, r.argc, &k), 1);
    ck_assert_int_eq(keys_slot(&k, r.base, r.argv, NULL), 0);
    keys_result_free(&k);
}
END_TEST

START_TEST(test_keys_invalid_specs)
{
    /* Arguments that do not fit the specs: -1, and the node reports the syntax error. */
    commands_init();
    static const char *const bad[] = {
        "EVAL s abc k1",  "EVAL s -1",          "EVAL s 01 k1", "EVAL s +1 k1",
        "EVAL s 3 k1 k2", "EVALSHA sha 2 k1",   "FCALL f 1",    "ZUNIONSTORE d 5 z1 z2",
        "ZUNION x z1",    "ZINTERCARD 3 z1 z2", "LMPOP 2 l1",   "BLMPOP 0 abc l1 LEFT",
        "BITOP AND",
    };
    int pos[MAX_ARGS];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(find(bad[i], pos, MAX_ARGS) == -1, "\"%s\": %d keys", bad[i],
                      find(bad[i], pos, MAX_ARGS));
    /* A numkeys of 0 or an absent keyword finds no key (a keyless request the node rejects). */
    ck_assert_int_eq(find("SINTERCARD 0", pos, MAX_ARGS), 0);
    ck_assert_int_eq(find("XREAD STREAMS", pos, MAX_ARGS), 0);
    ck_assert_int_eq(find("XREAD COUNT 1 s1 0", pos, MAX_ARGS), 0);
    /* After a failure the result holds no keys. */
    struct req r;
    req_words(&r, "EVAL s 3 k1 k2");
    struct keys_result k;
    keys_result_init(&k);
    ck_assert_int_eq(keys_find(req_command(&r), r.base, r.argv, r.argc, &k), -1);
    ck_assert_uint_eq(k.n, 0);
    ck_assert_int_eq(keys_slot(&k, r.base, r.argv, NULL), KEYS_SLOT_NONE);
    keys_result_free(&k);
}
END_TEST

/* Regression: keys_find() once computed "first + (int)numkeys - 1" in int, so numkeys near INT_MAX
 * overflows (undefined behaviour; UBSan aborts the sanitizer build on "EVAL s 2147483647 k"). */
START_TEST(test_keys_known_bug_numkeys_overflow)
{
    commands_init();
    int pos[MAX_ARGS];
    ck_assert_int_eq(find("EVAL s 2147483647 k1", pos, MAX_ARGS), -1);
    ck_assert_int_eq(find("ZUNIONSTORE d 2147483647 z1", pos, MAX_ARGS), -1);
}
END_TEST

Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_keys_match_redis);
    tcase_add_test(tc, test_keys_by_hand);
    tcase_add_test(tc, test_keys_many);
    tcase_add_test(tc, test_keys_slot);
    tcase_add_test(tc, test_keys_invalid_specs);
    tcase_add_test(tc, test_keys_known_bug_numkeys_overflow);
    suite_add_tcase(s, tc);
    return s;
}
