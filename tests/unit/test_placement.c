/*
 * Unit tests for pool-mode placement: cluster/md5, cluster/hashkit, cluster/placement and
 * cluster/serverlist.
 *
 * The references are not this code's own idea of the algorithms:
 *  - MD5: RFC 1321's test suite;
 *  - the twelve key hashes: fixtures/placement/hash_vectors.txt, computed by the independent
 *    Python implementations in fixtures/gen_placement.py;
 *  - ketama and modula: placements made by a real nutcracker 0.5.0 in front of real
 *    redis-servers (fixtures/placement/nutcracker_*.txt: every hash, weights, names, hash tags,
 *    a fifth server added, port 11211, 25 servers), read back from the servers;
 *  - libketama: redis-router's README vector, and fixtures from a Python model that
 *    python3-uhashring agreed with;
 *  - crc32-mod: fixtures from Python's zlib.crc32 with rediscluster-py's tag rule.
 * The fixtures are made by gen_placement.py; these tests only read them (no network).
 */
#include "suites.h"

#include "hashkit.h"
#include "md5.h"
#include "placement.h"
#include "px_errors.h"
#include "serverlist.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 1024

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/placement/%s", PX_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Undoes gen_placement.py's escaping (\xHH for any byte that is not printable ASCII, for '\\'
 * and for '#'). Returns the key's length. */
static size_t unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x') {
            char hex[3] = {s[i + 2], s[i + 3], 0};
            out[o++] = (char)strtoul(hex, NULL, 16);
            i += 3;
        } else {
            out[o++] = s[i];
        }
        ck_assert(o < KEY_MAX);
    }
    return o;
}

struct key {
    char *p;
    size_t len;
};

static struct key *load_keys(size_t *nkeys)
{
    size_t len;
    char *buf = read_fixture("keys.txt", &len);
    size_t cap = 4096, n = 0;
    struct key *keys = malloc(cap * sizeof(*keys));
    char tmp[KEY_MAX];
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (ll == 0 || line[0] != '#') {
            ck_assert(n < cap);
            keys[n].len = unescape(line, ll, tmp);
            keys[n].p = malloc(keys[n].len + 1);
            memcpy(keys[n].p, tmp, keys[n].len);
            n++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(buf);
    *nkeys = n;
    return keys;
}

static void free_keys(struct key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) free(keys[i].p);
    free(keys);
}

/* ---- MD5 and the key hashes --------------------------------------------------------------- */

static void md5_hex(const char *s, char hex[33])
{
    unsigned char d[MD5_DIGEST_LEN];
    md5_digest(s, strlen(s), d);
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

START_TEST(test_md5_rfc1321)
{
    static const char *const v[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890"
         "1234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    char hex[33];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        md5_hex(v[i][0], hex);
        ck_assert_str_eq(hex, v[i][1]);
    }
}
END_TEST

START_TEST(test_hashkit_names)
{
    for (int k = 0; k < HASHKIT_COUNT; k++) {
        const char *name = hashkit_name((enum hashkit_kind)k);
        ck_assert_int_eq(hashkit_by_name(name), k);
    }
    ck_assert_int_eq(hashkit_by_name("fnv1a_64"), HASHKIT_FNV1A_64);
    ck_assert_int_eq(hashkit_by_name("FNV1A_64"), PX_EINVAL);
    ck_assert_int_eq(hashkit_by_name("crc64"), PX_EINVAL);
    ck_assert_int_eq(hashkit_by_name(""), PX_EINVAL);
    ck_assert_str_eq(hashkit_name(HASHKIT_COUNT), "?");
    ck_assert_int_eq(HASHKIT_DEFAULT, HASHKIT_FNV1A_64);
}
END_TEST

/* Every line of hash_vectors.txt: "<hash> <escaped key or -> <value>". */
START_TEST(test_hashkit_vectors)
{
    size_t len;
    char *buf = read_fixture("hash_vectors.txt", &len);
    int per_kind[HASHKIT_COUNT] = {0};
    size_t n = 0;
    char key[KEY_MAX];
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        ck_assert_msg(sp1 && sp2, "bad vector line: %s", line);
        *sp1 = '\0';
        int kind = hashkit_by_name(line);
        ck_assert_msg(kind >= 0, "unknown hash %s", line);
        size_t kl =
            sp2 == sp1 + 2 && sp1[1] == '-' ? 0 : unescape(sp1 + 1, (size_t)(sp2 - sp1 - 1), key);
        unsigned long want = strtoul(sp2 + 1, NULL, 10);
        uint32_t got = hashkit_hash((enum hashkit_kind)kind, key, kl);
        ck_assert_msg(got == want, "%s of %.*s (%zu bytes): got %u, want %lu", line,
                      (int)(sp2 - sp1 - 1), sp1 + 1, kl, got, want);
        per_kind[kind]++;
        n++;
    }
    free(buf);
    for (int k = 0; k < HASHKIT_COUNT; k++)
        ck_assert_msg(per_kind[k] >= 50, "only %d vectors for %s", per_kind[k],
                      hashkit_name((enum hashkit_kind)k));
    ck_assert_uint_ge(n, 12 * 50);
}
END_TEST

/* A few vectors written out, so a reader sees the quirks without opening the fixture. */
START_TEST(test_hashkit_quirks)
{
    /* fnv1a_64 is 32-bit FNV-1a with the 64-bit constants' low halves: "" -> 0x84222325. */
    ck_assert_uint_eq(hashkit_hash(HASHKIT_FNV1A_64, "", 0), 0x84222325u);
    /* The same key through the signed-char view: 0xff enters as 0xffffffff. */
    uint32_t h = (0x84222325u ^ 0xffffffffu) * 0x1b3u;
    ck_assert_uint_eq(hashkit_hash(HASHKIT_FNV1A_64, "\xff", 1), h);
    /* crc32a is zlib's crc32 ("123456789" is the CRC catalogue's check input). */
    ck_assert_uint_eq(hashkit_hash(HASHKIT_CRC32A, "123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(hashkit_crc32("123456789", 9), 0xcbf43926u);
    /* crc32 is libmemcached's: 15 bits of it. */
    ck_assert_uint_eq(hashkit_hash(HASHKIT_CRC32, "123456789", 9), (0xcbf43926u >> 16) & 0x7fff);
    /* crc16: the low 16 bits are XMODEM's check value 0x31c3; the register is never masked. */
    uint32_t c16 = hashkit_hash(HASHKIT_CRC16, "123456789", 9);
    ck_assert_uint_eq(c16 & 0xffff, 0x31c3);
    ck_assert_uint_gt(c16, 0xffff);
    /* jenkins of an empty key is lookup3's seed: 0xdeadbeef + 0 + 13. hsieh's is 0. */
    ck_assert_uint_eq(hashkit_hash(HASHKIT_JENKINS, "", 0), 0xdeadbeefu + 13u);
    ck_assert_uint_eq(hashkit_hash(HASHKIT_HSIEH, "", 0), 0);
    /* md5 is the first four digest bytes, little-endian: md5("") = d41d8cd9... */
    ck_assert_uint_eq(hashkit_hash(HASHKIT_MD5, "", 0), 0xd98c1dd4u);
}
END_TEST

/* ---- hash-tag rules ----------------------------------------------------------------------- */

static void assert_tag(const char *tag, const char *key, const char *want)
{
    size_t off, n;
    placement_tag_span(tag, key, strlen(key), &off, &n);
    ck_assert_msg(n == strlen(want) && memcmp(key + off, want, n) == 0,
                  "tag %s of \"%s\": got \"%.*s\", want \"%s\"", tag, key, (int)n, key + off, want);
}

START_TEST(test_nutcracker_hash_tag)
{
    assert_tag("{}", "{user1000}.following", "user1000");
    assert_tag("{}", "foo{bar}{zap}", "bar");
    /* An empty tag means the whole key; nutcracker does not look for a later tag. */
    assert_tag("{}", "foo{}{bar}", "foo{}{bar}");
    /* From the first '{' to the first '}' after it. */
    assert_tag("{}", "foo{{bar}}zap", "{bar");
    assert_tag("{}", "{bar", "{bar");
    assert_tag("{}", "a}b{c}", "c");
    assert_tag("{}", "plain", "plain");
    assert_tag("{}", "", "");
    assert_tag("<>", "<tag1>rest", "tag1");
    /* The same character may open and close. */
    assert_tag("$$", "a$b$c", "b");
    assert_tag("$$", "a$$b$c$", "a$$b$c$");
}
END_TEST

static void assert_rc(const char *key, const char *hashed, const char *stored)
{
    size_t off, n, len = strlen(key);
    placement_rc_span(key, len, &off, &n);
    ck_assert_msg(n == strlen(hashed) && memcmp(key + off, hashed, n) == 0,
                  "rediscluster hash key of \"%s\": got \"%.*s\"", key, (int)n, key + off);
    size_t sl = placement_rc_stored_len(key, len);
    ck_assert_msg(sl == strlen(stored) && memcmp(key, stored, sl) == 0,
                  "rediscluster name of \"%s\": got \"%.*s\"", key, (int)sl, key);
}

START_TEST(test_rediscluster_hash_tag)
{
    assert_rc("bar{foo}", "foo", "bar");
    assert_rc("foo", "foo", "foo");
    assert_rc("{foo}", "foo", "");
    /* key[i + 1:-1] drops the last byte, whatever it is. */
    assert_rc("a{bc}d", "bc}", "a");
    assert_rc("a{bcd", "bc", "a");
    assert_rc("a{", "", "a");
    assert_rc("{", "", "");
    assert_rc("{}", "", "");
    assert_rc("a{b}{c}", "b}{c", "a");
    assert_rc("", "", "");
}
END_TEST

/* ---- the server-list parsers -------------------------------------------------------------- */

START_TEST(test_serverlist_twemproxy)
{
    const char text[] = "# pool alpha\n"
                        "\n"
                        "   - 127.0.0.1:6379:1\n"
                        "- 127.0.0.1:6380:2 server-b\r\n"
                        "\"10.0.0.1:7000:30 q\"\n"
                        "::1:6381:4   # IPv6 needs no brackets\n"
                        "redis.example.net:11211:1\n";
    struct serverlist sl;
    struct serverlist_error err;
    ck_assert_int_eq(serverlist_parse_twemproxy(text, sizeof(text) - 1, &sl, &err), 0);
    ck_assert_uint_eq(sl.n, 5);
    ck_assert_str_eq(sl.servers[0].host, "127.0.0.1");
    ck_assert_int_eq(sl.servers[0].port, 6379);
    ck_assert_uint_eq(sl.servers[0].weight, 1);
    ck_assert_ptr_null(sl.servers[0].name);
    ck_assert_str_eq(sl.servers[1].name, "server-b");
    ck_assert_uint_eq(sl.servers[1].weight, 2);
    ck_assert_str_eq(sl.servers[2].host, "10.0.0.1");
    ck_assert_str_eq(sl.servers[2].name, "q");
    ck_assert_uint_eq(sl.servers[2].weight, 30);
    ck_assert_str_eq(sl.servers[3].host, "::1");
    ck_assert_int_eq(sl.servers[3].port, 6381);
    ck_assert_ptr_null(sl.servers[3].name);
    ck_assert_str_eq(sl.servers[4].host, "redis.example.net");
    serverlist_deinit(&sl);
}
END_TEST

static void assert_parse_error(int ketama, const char *text, unsigned line, const char *part)
{
    struct serverlist sl;
    struct serverlist_error err;
    int rc = ketama ? serverlist_parse_ketama(text, strlen(text), &sl, &err)
                    : serverlist_parse_twemproxy(text, strlen(text), &sl, &err);
    ck_assert_msg(rc == PX_EINVAL, "accepted: %s", text);
    ck_assert_msg(err.line == line, "\"%s\": error on line %u, want %u (%s)", text, err.line, line,
                  err.msg);
    ck_assert_msg(strstr(err.msg, part) != NULL, "\"%s\": message \"%s\" lacks \"%s\"", text,
                  err.msg, part);
    ck_assert_ptr_null(sl.servers);
    ck_assert_uint_eq(sl.n, 0);
}

START_TEST(test_serverlist_twemproxy_errors)
{
    assert_parse_error(0, "127.0.0.1:6379:1\n127.0.0.1:6380:0\n", 2, "zero weight");
    assert_parse_error(0, "127.0.0.1:6379:x\n", 1, "invalid weight");
    assert_parse_error(0, "127.0.0.1:6379:-1\n", 1, "invalid weight");
    assert_parse_error(0, "\n\n127.0.0.1:70000:1\n", 3, "invalid port");
    assert_parse_error(0, "127.0.0.1:0:1\n", 1, "invalid port");
    assert_parse_error(0, "127.0.0.1:6379\n", 1, "expected");
    assert_parse_error(0, ":6379:1\n", 1, "expected");
    /* Two spaces: nutcracker takes the weight as "1 " and refuses it. */
    assert_parse_error(0, "127.0.0.1:6379:1  name\n", 1, "invalid weight");
    assert_parse_error(0, "/tmp/redis.sock:1\n", 1, "unix socket");
    assert_parse_error(0, "-\n", 1, "empty list item");
    assert_parse_error(0, "# nothing\n\n", 0, "no servers");
    assert_parse_error(0, "", 0, "no servers");
}
END_TEST

START_TEST(test_serverlist_ketama)
{
    /* redis-router's README file, with a comment, a tab and CRLF. */
    const char text[] = "# servers\n127.0.0.1:6379 100\n\n127.0.0.1:6380\t400\r\n";
    struct serverlist sl;
    struct serverlist_error err;
    ck_assert_int_eq(serverlist_parse_ketama(text, sizeof(text) - 1, &sl, &err), 0);
    ck_assert_uint_eq(sl.n, 2);
    ck_assert_str_eq(sl.servers[0].host, "127.0.0.1");
    ck_assert_int_eq(sl.servers[0].port, 6379);
    ck_assert_uint_eq(sl.servers[0].weight, 100);
    ck_assert_str_eq(sl.servers[0].name, "127.0.0.1:6379");
    ck_assert_uint_eq(sl.servers[1].weight, 400);
    serverlist_deinit(&sl);

    /* libketama drops the weight's last byte, meant to be the newline: without a final newline,
     * or with another token after the weight, a digit goes. */
    const char no_nl[] = "127.0.0.1:6379 100\n127.0.0.1:6380 100";
    ck_assert_int_eq(serverlist_parse_ketama(no_nl, sizeof(no_nl) - 1, &sl, &err), 0);
    ck_assert_uint_eq(sl.servers[0].weight, 100);
    ck_assert_uint_eq(sl.servers[1].weight, 10);
    serverlist_deinit(&sl);
    const char trailing[] = "127.0.0.1:6379 250 # main\n";
    ck_assert_int_eq(serverlist_parse_ketama(trailing, sizeof(trailing) - 1, &sl, &err), 0);
    ck_assert_uint_eq(sl.servers[0].weight, 25);
    serverlist_deinit(&sl);
}
END_TEST

START_TEST(test_serverlist_ketama_errors)
{
    assert_parse_error(1, "127.0.0.1:6379 100\n127.0.0.1:6380\n", 2, "expected");
    /* A whitespace-only line of two bytes or more: libketama refuses it too. */
    assert_parse_error(1, "127.0.0.1:6379 100\n \n", 2, "expected");
    assert_parse_error(1, "127.0.0.1:6379 0\n", 1, "invalid weight");
    assert_parse_error(1, "127.0.0.1:6379 -5\n", 1, "invalid weight");
    assert_parse_error(1, "127.0.0.1:6379 abc\n", 1, "invalid weight");
    /* "5" without a newline reads as "" */
    assert_parse_error(1, "127.0.0.1:6379 5", 1, "invalid weight");
    assert_parse_error(1, "redis-primary.example.com:6379 100\n", 1, "longer than 23");
    assert_parse_error(1, "localhost 100\n", 1, "not host:port");
    assert_parse_error(1, "localhost:http 100\n", 1, "not host:port");
    assert_parse_error(1, "#\n\n", 0, "no servers");
    char longline[200];
    memset(longline, ' ', sizeof(longline));
    memcpy(longline, "127.0.0.1:6379 100", 18);
    longline[150] = '\n';
    longline[151] = '\0';
    assert_parse_error(1, longline, 1, "longer than 125");
}
END_TEST

/* ---- placements --------------------------------------------------------------------------- */

static struct placement *make(enum placement_dist dist, enum hashkit_kind hash,
                              const struct placement_server *s, size_t n)
{
    struct placement_opts o;
    placement_opts_init(&o);
    o.dist = dist;
    o.hash = hash;
    struct placement *pl = NULL;
    ck_assert_int_eq(placement_create(&o, s, n, &pl), 0);
    return pl;
}

START_TEST(test_dist_names)
{
    for (int d = 0; d < PLACEMENT_DIST_COUNT; d++)
        ck_assert_int_eq(placement_dist_by_name(placement_dist_name((enum placement_dist)d)), d);
    ck_assert_int_eq(placement_dist_by_name("crc32-mod"), PLACEMENT_CRC32_MOD);
    ck_assert_int_eq(placement_dist_by_name("libketama"), PLACEMENT_LIBKETAMA);
    ck_assert_int_eq(placement_dist_by_name("vnode"), PX_EINVAL);
    struct placement_opts o;
    placement_opts_init(&o);
    ck_assert_int_eq(o.dist, PLACEMENT_KETAMA);
    ck_assert_int_eq(o.hash, HASHKIT_FNV1A_64);
    ck_assert_int_eq(o.hash_tag[0], 0);
}
END_TEST

/* redis-router's README: servers 127.0.0.1:6379 and :6380 with weight 100 each; 'forge' lands
 * on point 4113771093 of :6379 and 'spawning_pool' on 1434709819 of :6380. Its tests.py uses
 * weights 600 and 400 and expects the same. */
START_TEST(test_libketama_redis_router_readme)
{
    const char *files[] = {"127.0.0.1:6379 100\n127.0.0.1:6380 100\n",
                           "127.0.0.1:6379\t600\n127.0.0.1:6380\t400\n"};
    for (int f = 0; f < 2; f++) {
        struct serverlist sl;
        struct serverlist_error err;
        ck_assert_int_eq(serverlist_parse_ketama(files[f], strlen(files[f]), &sl, &err), 0);
        struct placement *pl = make(PLACEMENT_LIBKETAMA, HASHKIT_DEFAULT, sl.servers, sl.n);
        uint32_t point;
        ck_assert_int_eq(placement_point(pl, "forge", 5, &point), 0);
        ck_assert_uint_eq(point, 4113771093u);
        ck_assert_uint_eq(placement_lookup(pl, "forge", 5, 0), 0);
        ck_assert_int_eq(placement_point(pl, "spawning_pool", 13, &point), 0);
        ck_assert_uint_eq(point, 1434709819u);
        ck_assert_uint_eq(placement_lookup(pl, "spawning_pool", 13, 0), 1);
        /* The README's "hashed as" is the point; the key's own hash is just below it. */
        ck_assert_uint_lt(placement_key_hash(pl, "forge", 5), 4113771093u);
        if (f == 0) {
            ck_assert_uint_eq(placement_server_points(pl, 0), 160);
            ck_assert_uint_eq(placement_server_points(pl, 1), 160);
        } else {
            ck_assert_uint_eq(placement_server_points(pl, 0), 192); /* 0.6 * 80 digests */
            ck_assert_uint_eq(placement_server_points(pl, 1), 128);
        }
        /* libketama reads a key as a C string: nothing after a NUL counts. */
        ck_assert_uint_eq(placement_key_hash(pl, "forge\0x", 7),
                          placement_key_hash(pl, "forge", 5));
        placement_free(pl);
        serverlist_deinit(&sl);
    }
}
END_TEST

/* Points per server: nutcracker's and libketama's single-precision arithmetic. */
START_TEST(test_ketama_points)
{
    struct placement_server s[61];
    char hosts[61][16];
    for (int i = 0; i < 61; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "10.0.0.%d", i + 1);
        s[i] = (struct placement_server){.host = hosts[i], .port = 6379, .weight = 1};
    }
    /* Weights 1, 1, 2, 3: 22, 22, 45 and 68 digests of 4 points. */
    s[2].weight = 2;
    s[3].weight = 3;
    struct placement *pl = make(PLACEMENT_KETAMA, HASHKIT_DEFAULT, s, 4);
    const size_t want[] = {88, 88, 180, 272};
    for (unsigned i = 0; i < 4; i++) ck_assert_uint_eq(placement_server_points(pl, i), want[i]);
    placement_free(pl);
    s[2].weight = s[3].weight = 1;

    /* Equal weights give 160 points each, except where the float share rounds 40 digests down
     * to 39: nutcracker at 25 servers (libketama not), both at 61. nutcracker_ketama_25servers
     * shows the real nutcracker doing it. */
    const struct {
        size_t n;
        size_t nc, lk;
    } cases[] = {{4, 160, 160}, {24, 160, 160}, {25, 156, 160}, {61, 156, 156}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct placement *nc = make(PLACEMENT_KETAMA, HASHKIT_DEFAULT, s, cases[c].n);
        struct placement *lk = make(PLACEMENT_LIBKETAMA, HASHKIT_DEFAULT, s, cases[c].n);
        for (unsigned i = 0; i < cases[c].n; i++) {
            ck_assert_uint_eq(placement_server_points(nc, i), cases[c].nc);
            ck_assert_uint_eq(placement_server_points(lk, i), cases[c].lk);
        }
        placement_free(nc);
        placement_free(lk);
    }
}
END_TEST

START_TEST(test_placement_errors)
{
    struct placement_server s[2] = {{.host = "127.0.0.1", .port = 6379, .weight = 1},
                                    {.host = "127.0.0.1", .port = 6380, .weight = 1}};
    struct placement_opts o;
    placement_opts_init(&o);
    struct placement *pl = (struct placement *)&o;
    ck_assert_int_eq(placement_create(&o, s, 0, &pl), PX_EINVAL);
    ck_assert_ptr_null(pl);
    s[1].weight = 0;
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    /* random and crc32-mod ignore weights. */
    o.dist = PLACEMENT_RANDOM;
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), 0);
    placement_free(pl);
    o.dist = PLACEMENT_KETAMA;
    s[1].weight = 1;
    s[1].port = 0;
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    s[1].port = 6379; /* the same "host:port" twice: nutcracker refuses duplicate names */
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    s[1].name = "127.0.0.1:6379";
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    s[1].name = "b";
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), 0);
    placement_free(pl);
    /* libketama allows it, and an address of up to 23 bytes. */
    o.dist = PLACEMENT_LIBKETAMA;
    s[1].name = NULL;
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), 0);
    placement_free(pl);
    s[1].host = "redis-1234.example.net"; /* 27 bytes with ":6379" */
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    s[1].host = "127.0.0.1";
    /* rediscluster-py's tag rule is built into crc32-mod. */
    o.dist = PLACEMENT_CRC32_MOD;
    o.hash_tag[0] = '{';
    o.hash_tag[1] = '}';
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    o.dist = PLACEMENT_KETAMA;
    o.hash_tag[1] = 0;
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    o.hash_tag[0] = 0;
    o.hash = HASHKIT_COUNT;
    ck_assert_int_eq(placement_create(&o, s, 2, &pl), PX_EINVAL);
    placement_free(NULL);
}
END_TEST

START_TEST(test_random_and_modula_order)
{
    /* nutcracker sorts by name, shorter first: "be" < "alpha" < "gamma" < "server-b". */
    struct placement_server s[4] = {
        {.host = "h", .port = 1, .weight = 1, .name = "gamma"},
        {.host = "h", .port = 2, .weight = 1, .name = "alpha"},
        {.host = "h", .port = 3, .weight = 2, .name = "server-b"},
        {.host = "h", .port = 4, .weight = 3, .name = "be"},
    };
    struct placement *pl = make(PLACEMENT_RANDOM, HASHKIT_DEFAULT, s, 4);
    const unsigned order[4] = {3, 1, 0, 2};
    for (uint32_t e = 0; e < 12; e++)
        ck_assert_uint_eq(placement_lookup(pl, "any", 3, e), order[e % 4]);
    ck_assert_int_eq(placement_point(pl, "any", 3, &(uint32_t){0}), PX_EINVAL);
    ck_assert_uint_eq(placement_key_hash(pl, "any", 3), 0);
    placement_free(pl);

    /* modula: residues 0-2 to "be" (weight 3), 3 "alpha", 4 "gamma", 5-6 "server-b". */
    pl = make(PLACEMENT_MODULA, HASHKIT_DEFAULT, s, 4);
    const unsigned by_residue[7] = {3, 3, 3, 1, 0, 2, 2};
    int seen[7] = {0};
    char key[16];
    for (int i = 0; i < 500; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        uint32_t h = hashkit_hash(HASHKIT_FNV1A_64, key, (size_t)n);
        ck_assert_uint_eq(placement_lookup(pl, key, (size_t)n, 0), by_residue[h % 7]);
        seen[h % 7] = 1;
    }
    for (int r = 0; r < 7; r++) ck_assert(seen[r]);
    /* An empty key hashes to 0 in nutcracker, whatever the hash function. */
    ck_assert_uint_eq(placement_key_hash(pl, "", 0), 0);
    ck_assert_uint_eq(placement_lookup(pl, "", 0, 0), 3);
    placement_free(pl);
}
END_TEST

/* ---- placements made by the real systems -------------------------------------------------- */

struct fixture {
    struct placement_opts opts;
    char servers[4096];
    size_t slen;
    int unreachable[64];
    const char *placement; /* the characters after "placement" */
};

static void parse_fixture(char *buf, struct fixture *fx, const char *name)
{
    memset(fx, 0, sizeof(*fx));
    placement_opts_init(&fx->opts);
    char *line = buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strncmp(line, "distribution ", 13) == 0) {
            int d = placement_dist_by_name(line + 13);
            ck_assert_msg(d >= 0, "%s: %s", name, line);
            fx->opts.dist = (enum placement_dist)d;
        } else if (strncmp(line, "hash ", 5) == 0) {
            int h = hashkit_by_name(line + 5);
            ck_assert_msg(h >= 0, "%s: %s", name, line);
            fx->opts.hash = (enum hashkit_kind)h;
        } else if (strncmp(line, "hash_tag ", 9) == 0) {
            ck_assert(strlen(line + 9) == 2);
            memcpy(fx->opts.hash_tag, line + 9, 2);
        } else if (strncmp(line, "server ", 7) == 0) {
            int w =
                snprintf(fx->servers + fx->slen, sizeof(fx->servers) - fx->slen, "%s\n", line + 7);
            fx->slen += (size_t)w;
            ck_assert(fx->slen < sizeof(fx->servers));
        } else if (strncmp(line, "unreachable ", 12) == 0) {
            int i = atoi(line + 12);
            ck_assert(i >= 0 && i < 64);
            fx->unreachable[i] = 1;
        } else if (strcmp(line, "placement") == 0) {
            fx->placement = nl ? nl + 1 : "";
            return;
        } else {
            ck_assert_msg(line[0] == '#', "%s: unknown line %s", name, line);
        }
        line = nl ? nl + 1 : NULL;
    }
    ck_abort_msg("%s: no placement", name);
}

/* Checks every key of one fixture; returns how many keys it checked. */
static size_t check_fixture(const char *name, const struct key *keys, size_t nkeys)
{
    size_t len;
    char *buf = read_fixture(name, &len);
    struct fixture fx;
    parse_fixture(buf, &fx, name);
    struct serverlist sl;
    struct serverlist_error err;
    int rc = fx.opts.dist == PLACEMENT_LIBKETAMA
                 ? serverlist_parse_ketama(fx.servers, fx.slen, &sl, &err)
                 : serverlist_parse_twemproxy(fx.servers, fx.slen, &sl, &err);
    ck_assert_msg(rc == 0, "%s: servers: %s", name, err.msg);
    struct placement *pl = NULL;
    ck_assert_msg(placement_create(&fx.opts, sl.servers, sl.n, &pl) == 0, "%s: create", name);

    size_t k = 0;
    for (const char *p = fx.placement; *p; p++) {
        if (*p == '\n') continue;
        ck_assert_msg(k < nkeys, "%s: more placements than keys", name);
        unsigned got = placement_lookup(pl, keys[k].p, keys[k].len, 0);
        if (*p == '?') {
            ck_assert_msg(got < 64 && fx.unreachable[got],
                          "%s: key %zu went to an unreachable server, we say %u", name, k, got);
        } else {
            unsigned want = (unsigned)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
            ck_assert_msg(got == want, "%s: key %zu (\"%.*s\") is on server %u, we say %u", name, k,
                          (int)keys[k].len, keys[k].p, want, got);
        }
        k++;
    }
    ck_assert_msg(k == nkeys, "%s: %zu placements for %zu keys", name, k, nkeys);
    placement_free(pl);
    serverlist_deinit(&sl);
    free(buf);
    return k;
}

static int fixture_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_fixtures)
{
    size_t nkeys;
    struct key *keys = load_keys(&nkeys);
    ck_assert_uint_ge(nkeys, 2000);
    ck_assert_uint_eq(keys[0].len, 0); /* the empty key is among them */

    char dir[512];
    snprintf(dir, sizeof(dir), "%s/placement", PX_FIXTURES);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char *names[64];
    size_t nf = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *n = e->d_name;
        size_t l = strlen(n);
        if (l < 5 || strcmp(n + l - 4, ".txt") != 0) continue;
        if (strncmp(n, "nutcracker_", 11) && strncmp(n, "libketama_", 10) &&
            strncmp(n, "rediscluster_", 13))
            continue;
        ck_assert(nf < 64);
        names[nf++] = strdup(n);
    }
    closedir(d);
    qsort(names, nf, sizeof(names[0]), fixture_name_cmp);

    size_t nc = 0, total = 0;
    for (size_t i = 0; i < nf; i++) {
        total += check_fixture(names[i], keys, nkeys);
        nc += strncmp(names[i], "nutcracker_", 11) == 0;
        free(names[i]);
    }
    /* 12 hashes under ketama, 5 under modula, names, tags, a 5th server, 11211, 25 servers. */
    ck_assert_uint_ge(nc, 24);
    ck_assert_uint_ge(nf, 28);
    ck_assert_uint_eq(total, nf * nkeys);
    free_keys(keys, nkeys);
}
END_TEST

/* Adding a fifth server to nutcracker's ketama moves keys to it, but with unequal weights also
 * between the old four: every server's share of the 160 * n points changes. */
START_TEST(test_ketama_fifth_server_moves)
{
    size_t nkeys;
    struct key *keys = load_keys(&nkeys);
    struct placement_server s[5] = {
        {.host = "127.0.0.1", .port = 24003, .weight = 2},
        {.host = "127.0.0.1", .port = 24001, .weight = 1},
        {.host = "127.0.0.1", .port = 24004, .weight = 3},
        {.host = "127.0.0.1", .port = 24002, .weight = 1},
        {.host = "127.0.0.1", .port = 24005, .weight = 1},
    };
    struct placement *four = make(PLACEMENT_KETAMA, HASHKIT_FNV1A_64, s, 4);
    struct placement *five = make(PLACEMENT_KETAMA, HASHKIT_FNV1A_64, s, 5);
    size_t to_new = 0, between_old = 0;
    for (size_t k = 0; k < nkeys; k++) {
        unsigned a = placement_lookup(four, keys[k].p, keys[k].len, 0);
        unsigned b = placement_lookup(five, keys[k].p, keys[k].len, 0);
        if (a == b) continue;
        if (b == 4)
            to_new++;
        else
            between_old++;
    }
    /* The same counts the real nutcracker's two runs show (the fixtures agree key by key). */
    ck_assert_uint_eq(to_new, 445);
    ck_assert_uint_eq(between_old, 94);
    placement_free(four);
    placement_free(five);
    free_keys(keys, nkeys);
}
END_TEST

Suite *placement_suite(void)
{
    Suite *s = suite_create("placement");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60); /* the fixtures place millions of keys: slow under sanitizers */
    tcase_add_test(tc, test_md5_rfc1321);
    tcase_add_test(tc, test_hashkit_names);
    tcase_add_test(tc, test_hashkit_vectors);
    tcase_add_test(tc, test_hashkit_quirks);
    tcase_add_test(tc, test_nutcracker_hash_tag);
    tcase_add_test(tc, test_rediscluster_hash_tag);
    tcase_add_test(tc, test_serverlist_twemproxy);
    tcase_add_test(tc, test_serverlist_twemproxy_errors);
    tcase_add_test(tc, test_serverlist_ketama);
    tcase_add_test(tc, test_serverlist_ketama_errors);
    tcase_add_test(tc, test_dist_names);
    tcase_add_test(tc, test_libketama_redis_router_readme);
    tcase_add_test(tc, test_ketama_points);
    tcase_add_test(tc, test_placement_errors);
    tcase_add_test(tc, test_random_and_modula_order);
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_ketama_fifth_server_moves);
    suite_add_tcase(s, tc);
    return s;
}
