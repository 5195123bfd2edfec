/*
 * Unit tests for cluster/pool: the server-list formats (twemproxy's and redis-router's, told
 * apart), the -pool-server values, the checks a list must pass, twemproxy's auto-ejection as a
 * state machine (failures in a row, the retry time, the probe that brings a server back), the
 * replicas read from INFO replication, the slot map made of a pool (slot k is the k-th live
 * server, and its placement is the placement library's over exactly those servers), and the
 * servers file read again on SIGHUP. No network: probes are results handed in.
 */
#include "suites.h"

#include "keyspace.h"
#include "pool.h"
#include "px_errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct pool_probe ok_probe(void)
{
    struct pool_probe p;
    memset(&p, 0, sizeof(p));
    p.ok = 1;
    snprintf(p.ip, sizeof(p.ip), "127.0.0.1");
    return p;
}

static struct pool_probe failed_probe(void)
{
    struct pool_probe p;
    memset(&p, 0, sizeof(p));
    snprintf(p.ip, sizeof(p.ip), "127.0.0.1");
    snprintf(p.err, sizeof(p.err), "Connection refused");
    return p;
}

static struct pool *make_pool(const char *text, int auto_eject, uint32_t limit, uint64_t retry)
{
    struct pool_config cfg = {.text = text, .auto_eject = auto_eject, .failure_limit = limit,
                              .retry_timeout_ms = retry};
    placement_opts_init(&cfg.opts);
    struct pool *p;
    char err[256];
    ck_assert_msg(pool_create(&cfg, &p, err, sizeof(err)) == 0, "%s", err);
    return p;
}

START_TEST(test_pool_formats)
{
    struct serverlist sl;
    enum pool_format fmt;
    char err[256];
    const char *tw = "# twemproxy\n- 127.0.0.1:6379:2 alpha\n127.0.0.1:6380:1\n";
    ck_assert_int_eq(pool_parse_list(tw, strlen(tw), &sl, &fmt, err, sizeof(err)), 0);
    ck_assert_int_eq(fmt, POOL_FORMAT_TWEMPROXY);
    ck_assert_uint_eq(sl.n, 2);
    ck_assert_str_eq(sl.servers[0].name, "alpha");
    ck_assert_uint_eq(sl.servers[0].weight, 2);
    ck_assert_ptr_null(sl.servers[1].name);
    serverlist_deinit(&sl);

    const char *rr = "127.0.0.1:6379 100\n127.0.0.1:6380\t50\n";
    ck_assert_int_eq(pool_parse_list(rr, strlen(rr), &sl, &fmt, err, sizeof(err)), 0);
    ck_assert_int_eq(fmt, POOL_FORMAT_REDIS_ROUTER);
    ck_assert_uint_eq(sl.n, 2);
    ck_assert_uint_eq(sl.servers[1].weight, 50);
    ck_assert_int_eq(sl.servers[1].port, 6380);
    /* libketama hashes the address token: it is the server's name. */
    ck_assert_str_eq(sl.servers[0].name, "127.0.0.1:6379");
    serverlist_deinit(&sl);

    const char *bad = "127.0.0.1:6379:1\nnot a server\n";
    ck_assert_int_eq(pool_parse_list(bad, strlen(bad), &sl, &fmt, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, "line 2") != NULL, "%s", err);
    ck_assert_int_eq(pool_parse_list("", 0, &sl, &fmt, err, sizeof(err)), PX_EINVAL);
}
END_TEST

START_TEST(test_pool_server_flag)
{
    char out[256];
    ck_assert_int_eq(pool_server_line("127.0.0.1:6379", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.1:6379:1");
    ck_assert_int_eq(pool_server_line("127.0.0.1:6379:5", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.1:6379:5");
    ck_assert_int_eq(pool_server_line("  redis-a:6379  node_1 ", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "redis-a:6379:1 node_1");
    ck_assert_int_eq(pool_server_line("127.0.0.1:6379:3 alpha", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.1:6379:3 alpha");
    ck_assert_int_eq(pool_server_line("127.0.0.1", out, sizeof(out)), PX_EINVAL);
    ck_assert_int_eq(pool_server_line("127.0.0.1:0", out, sizeof(out)), PX_EINVAL);
    ck_assert_int_eq(pool_server_line("127.0.0.1:6379:0", out, sizeof(out)), PX_EINVAL);
    ck_assert_int_eq(pool_server_line("127.0.0.1:6379 a b", out, sizeof(out)), PX_EINVAL);
    ck_assert_int_eq(pool_server_line("", out, sizeof(out)), PX_EINVAL);
    ck_assert_int_eq(pool_server_line(":6379", out, sizeof(out)), PX_EINVAL);
    /* IPv6: in brackets, with or without a weight; without brackets, with its weight (read from
     * the end, as nutcracker reads a line). */
    ck_assert_int_eq(pool_server_line("[::1]:7611", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "[::1]:7611:1");
    ck_assert_int_eq(pool_server_line("[::1]:7611:2 six", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "[::1]:7611:2 six");
    ck_assert_int_eq(pool_server_line("::1:7611:1", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "::1:7611:1");
    ck_assert_int_eq(pool_server_line("[::1", out, sizeof(out)), PX_EINVAL);
    ck_assert_int_eq(pool_server_line("[::1]", out, sizeof(out)), PX_EINVAL);
}
END_TEST

START_TEST(test_pool_check)
{
    struct serverlist sl;
    enum pool_format fmt;
    char err[256];
    struct placement_opts o;
    placement_opts_init(&o);
    const char *dup = "127.0.0.1:6379:1 a\n127.0.0.1:6379:1 b\n";
    ck_assert_int_eq(pool_parse_list(dup, strlen(dup), &sl, &fmt, err, sizeof(err)), 0);
    ck_assert_int_eq(pool_check(&o, &sl, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, "listed twice") != NULL, "%s", err);
    serverlist_deinit(&sl);

    /* A host with a colon must be an IPv6 address: "::1:7623" without its weight reads as host
     * ":" port 1 weight 7623. */
    static const struct {
        const char *line;
        int ok;
    } hosts[] = {{"::1:7623", 0},        {"::1:7623:1", 1},  {"[::1]:7623", 1},
                 {"[::1]:7623:2 six", 1}, {"[zz]:7623", 0},  {"localhost:7623", 1},
                 {"fe80::1:6379:1", 1},  {"1:2:3:6379:1", 0}};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char line[128];
        ck_assert_int_eq(pool_server_line(hosts[i].line, line, sizeof(line)), 0);
        ck_assert_int_eq(pool_parse_list(line, strlen(line), &sl, &fmt, err, sizeof(err)), 0);
        int rc = pool_check(&o, &sl, err, sizeof(err));
        ck_assert_msg((rc == 0) == hosts[i].ok, "%s: %d %s", hosts[i].line, rc, err);
        if (!hosts[i].ok) ck_assert_msg(strstr(err, "[addr]:port:weight") != NULL, "%s", err);
        serverlist_deinit(&sl);
    }

    /* One IPv6 server written with brackets and without is listed twice. */
    const char *twice = "[::1]:7713:1 a\n::1:7713:2 b\n";
    ck_assert_int_eq(pool_parse_list(twice, strlen(twice), &sl, &fmt, err, sizeof(err)), 0);
    ck_assert_int_eq(pool_check(&o, &sl, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, "listed twice") != NULL, "%s", err);
    serverlist_deinit(&sl);

    const char *same_name = "127.0.0.1:6379:1 a\n127.0.0.1:6380:1 a\n";
    ck_assert_int_eq(pool_parse_list(same_name, strlen(same_name), &sl, &fmt, err, sizeof(err)),
                     0);
    ck_assert_int_eq(pool_check(&o, &sl, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, "same name") != NULL, "%s", err);
    /* crc32-mod places by position: names do not matter to it. */
    o.dist = PLACEMENT_CRC32_MOD;
    ck_assert_int_eq(pool_check(&o, &sl, err, sizeof(err)), 0);
    serverlist_deinit(&sl);

    /* More servers than SCAN's cursor can number. */
    char *big = malloc(64 * (POOL_MAX_SERVERS + 1));
    size_t n = 0;
    for (int i = 0; i <= POOL_MAX_SERVERS; i++)
        n += (size_t)sprintf(big + n, "10.0.%d.%d:6379:1\n", i / 200, i % 200);
    ck_assert_int_eq(pool_parse_list(big, n, &sl, &fmt, err, sizeof(err)), 0);
    ck_assert_int_eq(pool_check(&o, &sl, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, "at most") != NULL, "%s", err);
    serverlist_deinit(&sl);
    free(big);
}
END_TEST

/* The map of a fresh pool: slot k is server k, the placement is the library's over the list. */
START_TEST(test_pool_map)
{
    const char *text = "127.0.0.1:24001:1 alpha\n127.0.0.1:24002:2 beta\n127.0.0.1:24003:1\n";
    struct pool *p = make_pool(text, 0, 2, 30000);
    struct slotmap *m = pool_build_map(p, 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->nshards, 3);
    ck_assert_int_eq(m->covered, 3);
    ck_assert_ptr_nonnull(m->pool);
    ck_assert_ptr_nonnull(m->pool->placement);
    ck_assert_int_eq(m->pool->nservers, 3);
    ck_assert_str_eq(m->pool->servers[1].addr, "127.0.0.1:24002");
    ck_assert_str_eq(m->pool->servers[1].name, "beta");
    ck_assert_ptr_null(m->pool->servers[2].name);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(m->slot_shard[k], k);
        ck_assert_int_eq(m->nodes[m->shards[k].master].port, 24001 + k);
        ck_assert_int_eq(m->pool->servers[k].shard, k);
    }
    ck_assert_int_eq(m->slot_shard[3], -1);

    /* The keyspace places each key on the server the placement library names. */
    struct placement_server s[3] = {{"127.0.0.1", 24001, 1, "alpha"},
                                    {"127.0.0.1", 24002, 2, "beta"},
                                    {"127.0.0.1", 24003, 1, NULL}};
    struct placement_opts o;
    placement_opts_init(&o);
    struct placement *ref;
    ck_assert_int_eq(placement_create(&o, s, 3, &ref), 0);
    struct keyspace ks = {.pl = m->pool->placement, .pool = 1};
    for (int i = 0; i < 500; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "key:%d", i);
        ck_assert_int_eq(keyspace_slot(&ks, key, (size_t)n),
                         (int)placement_lookup(ref, key, (size_t)n, 0));
    }
    /* Without a pool the keyspace is Redis Cluster's. */
    ck_assert_int_eq(keyspace_slot(NULL, "foo", 3), (int)crc16_key_slot("foo", 3));
    struct keyspace cl = {0};
    ck_assert_int_eq(keyspace_slot(&cl, "{user1}.a", 9), (int)crc16_key_slot("user1", 5));
    /* A pool with no live server places every key on slot 0, which nobody serves. */
    struct keyspace empty = {.pool = 1};
    ck_assert_int_eq(keyspace_slot(&empty, "foo", 3), 0);
    placement_free(ref);

    /* The same pool again is the same map; the generation moves only when the placement does. */
    struct slotmap *m2 = pool_build_map(p, 0);
    ck_assert_int_eq(slotmap_same(m, m2), 1);
    ck_assert_uint_eq(m2->pool->gen, m->pool->gen);
    slotmap_unref(m2);
    slotmap_unref(m);
    pool_free(p);
}
END_TEST

/* Without -auto-eject-hosts a dead server stays in the placement: its keys fail, and the map
 * says it is unreachable. */
START_TEST(test_pool_no_eject)
{
    struct pool *p = make_pool("127.0.0.1:24001:1\n127.0.0.1:24002:1\n", 0, 2, 1000);
    struct slotmap *m0 = pool_build_map(p, 0);
    struct pool_probe f = failed_probe();
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(pool_should_probe(p, 1, (uint64_t)i * 100), 1);
        pool_note_probe(p, 1, &f, (uint64_t)i * 100);
    }
    struct slotmap *m = pool_build_map(p, 1000);
    ck_assert_int_eq(m->nshards, 2);
    ck_assert_uint_eq(m->pool->gen, m0->pool->gen);
    ck_assert_int_eq(m->pool->servers[1].ejected, 0);
    ck_assert_int_eq(m->pool->servers[1].reachable, 0);
    ck_assert_uint_eq(m->pool->servers[1].failures, 10);
    ck_assert_str_eq(m->pool->servers[1].last_error, "Connection refused");
    ck_assert_int_eq(m->nodes[m->shards[1].master].health, SLOTMAP_FAILED);
    /* A health change is a new map for the workers, not a new placement. */
    ck_assert_int_eq(slotmap_same(m0, m), 0);
    /* No fast probes without auto-ejection: the next round at the reload interval. */
    ck_assert_uint_eq(pool_next_due(p, 1000, 3000), 4000);
    slotmap_unref(m0);
    slotmap_unref(m);
    pool_free(p);
}
END_TEST

/* twemproxy's auto_eject_hosts: out after failure_limit failures in a row (a success in between
 * starts the count again), probed again at the retry time, back once a probe answers. */
START_TEST(test_pool_eject_and_return)
{
    const char *text = "127.0.0.1:24001:1 a\n127.0.0.1:24002:1 b\n127.0.0.1:24003:1 c\n";
    struct pool *p = make_pool(text, 1, 3, 5000);
    struct pool_probe f = failed_probe(), ok = ok_probe();
    struct slotmap *m0 = pool_build_map(p, 0);
    uint64_t gen0 = m0->pool->gen;

    pool_note_probe(p, 1, &f, 100);
    pool_note_probe(p, 1, &f, 200);
    pool_note_probe(p, 1, &ok, 300); /* the count starts again */
    pool_note_probe(p, 1, &f, 400);
    pool_note_probe(p, 1, &f, 500);
    /* Failing but not out: probed again soon. */
    ck_assert_uint_eq(pool_next_due(p, 500, 3000), 500 + POOL_FAST_PROBE_MS);
    struct slotmap *m1 = pool_build_map(p, 500);
    ck_assert_int_eq(m1->nshards, 3);
    ck_assert_uint_eq(m1->pool->gen, gen0);
    pool_note_probe(p, 1, &f, 600); /* the third in a row */

    struct slotmap *m2 = pool_build_map(p, 600);
    ck_assert_int_eq(m2->nshards, 2);
    ck_assert_int_eq(m2->covered, 2);
    ck_assert_uint_gt(m2->pool->gen, gen0);
    ck_assert_int_eq(m2->pool->servers[1].ejected, 1);
    ck_assert_int_eq(m2->pool->servers[1].shard, -1);
    ck_assert_int_eq(m2->pool->servers[2].shard, 1);
    ck_assert_uint_eq(m2->pool->servers[1].retry_in_ms, 5000);
    ck_assert_int_eq(m2->nodes[m2->shards[1].master].port, 24003);
    /* The placement is the library's over the two live servers: the ejected one's keys go to
     * them, the others stay where they were (ketama). */
    struct placement_server live[2] = {{"127.0.0.1", 24001, 1, "a"}, {"127.0.0.1", 24003, 1, "c"}};
    struct placement_server all[3] = {{"127.0.0.1", 24001, 1, "a"},
                                      {"127.0.0.1", 24002, 1, "b"},
                                      {"127.0.0.1", 24003, 1, "c"}};
    struct placement_opts o;
    placement_opts_init(&o);
    struct placement *ref_live, *ref_all;
    ck_assert_int_eq(placement_create(&o, live, 2, &ref_live), 0);
    ck_assert_int_eq(placement_create(&o, all, 3, &ref_all), 0);
    struct keyspace ks = {.pl = m2->pool->placement, .pool = 1};
    int moved = 0;
    for (int i = 0; i < 1000; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "user:%d", i * 7919);
        int slot = keyspace_slot(&ks, key, (size_t)n);
        ck_assert_int_eq(slot, (int)placement_lookup(ref_live, key, (size_t)n, 0));
        unsigned before = placement_lookup(ref_all, key, (size_t)n, 0);
        if (before != 1) ck_assert_int_eq(slot, before == 0 ? 0 : 1);
        moved += before == 1;
    }
    ck_assert_int_gt(moved, 0);
    placement_free(ref_live);
    placement_free(ref_all);

    /* Ejected: not probed before its retry time; the next round is due then. */
    ck_assert_int_eq(pool_should_probe(p, 1, 5599), 0);
    ck_assert_int_eq(pool_should_probe(p, 1, 5600), 1);
    ck_assert_uint_eq(pool_next_due(p, 600, 30000), 5600);
    /* Still down at its retry time: out for another timeout. */
    pool_note_probe(p, 1, &f, 5600);
    ck_assert_int_eq(pool_should_probe(p, 1, 10599), 0);
    struct slotmap *m3 = pool_build_map(p, 5600);
    ck_assert_uint_eq(m3->pool->gen, m2->pool->gen);
    ck_assert_int_eq(slotmap_same(m2, m3), 1);
    /* It answers: back in the placement, a new generation, every key where it was at first. */
    pool_note_probe(p, 1, &ok, 10600);
    struct slotmap *m4 = pool_build_map(p, 10600);
    ck_assert_int_eq(m4->nshards, 3);
    ck_assert_uint_gt(m4->pool->gen, m3->pool->gen);
    ck_assert_int_eq(m4->pool->servers[1].shard, 1);
    struct keyspace k0 = {.pl = m0->pool->placement, .pool = 1};
    struct keyspace k4 = {.pl = m4->pool->placement, .pool = 1};
    for (int i = 0; i < 200; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(keyspace_slot(&k4, key, (size_t)n), keyspace_slot(&k0, key, (size_t)n));
    }
    slotmap_unref(m0);
    slotmap_unref(m1);
    slotmap_unref(m2);
    slotmap_unref(m3);
    slotmap_unref(m4);
    pool_free(p);
}
END_TEST

/* Every server ejected: a map with no shard and no placement. */
START_TEST(test_pool_all_ejected)
{
    struct pool *p = make_pool("127.0.0.1:24001:1\n", 1, 1, 1000);
    struct pool_probe f = failed_probe();
    pool_note_probe(p, 0, &f, 10);
    struct slotmap *m = pool_build_map(p, 10);
    ck_assert_int_eq(m->nshards, 0);
    ck_assert_int_eq(m->covered, 0);
    ck_assert_ptr_null(m->pool->placement);
    ck_assert_int_eq(m->pool->servers[0].ejected, 1);
    slotmap_unref(m);
    pool_free(p);
}
END_TEST

START_TEST(test_pool_replicas)
{
    const char *info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n"
                       "slave0:ip=127.0.0.1,port=24011,state=online,offset=42,lag=0\r\n"
                       "slave1:ip=10.0.0.2,port=6380,state=wait_bgsave,offset=0,lag=0\r\n"
                       "slave2:ip=127.0.0.1,port=bad,state=online,offset=0,lag=0\r\n"
                       "master_failover_state:no-failover\r\n";
    struct pool_replica r[4];
    int n = pool_parse_replicas(info, r, 4);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(r[0].ip, "127.0.0.1");
    ck_assert_int_eq(r[0].port, 24011);
    ck_assert_int_eq(r[0].online, 1);
    ck_assert_str_eq(r[1].ip, "10.0.0.2");
    ck_assert_int_eq(r[1].online, 0);
    ck_assert_int_eq(pool_parse_replicas(info, r, 1), 1);

    struct pool *p = make_pool("127.0.0.1:24001:1\n127.0.0.1:24002:1\n", 0, 2, 1000);
    struct pool_probe pr = ok_probe();
    pr.nreplicas = 2;
    pr.replicas[0] = r[0];
    pr.replicas[1] = r[1];
    pool_note_probe(p, 1, &pr, 0);
    struct slotmap *m = pool_build_map(p, 0);
    ck_assert_int_eq(m->nnodes, 4);
    ck_assert_int_eq(m->shards[1].nreplicas, 2);
    const struct slotmap_node *a = &m->nodes[m->shards[1].replicas[0]];
    const struct slotmap_node *b = &m->nodes[m->shards[1].replicas[1]];
    ck_assert_int_eq(a->role, SLOTMAP_REPLICA);
    ck_assert_int_eq(a->port, 24011);
    ck_assert_int_eq(a->health, SLOTMAP_ONLINE);
    ck_assert_int_eq(b->health, SLOTMAP_LOADING); /* still syncing: not read from */
    ck_assert_int_eq(m->shards[0].nreplicas, 0);
    slotmap_unref(m);
    pool_free(p);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* SIGHUP: the file again. A bad file keeps the pool as it was; servers that stay keep their
 * state; a server added moves only the keys ketama gives it. */
START_TEST(test_pool_reload)
{
    char path[] = "/tmp/px-pool-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_file(path, "127.0.0.1:24001:1 a\n127.0.0.1:24002:1 b\n127.0.0.1:24003:1 c\n");
    struct pool_config cfg = {.file = path, .auto_eject = 1, .failure_limit = 1,
                              .retry_timeout_ms = 60000};
    placement_opts_init(&cfg.opts);
    struct pool *p;
    char err[512];
    ck_assert_int_eq(pool_create(&cfg, &p, err, sizeof(err)), 0);
    struct slotmap *m0 = pool_build_map(p, 0);
    ck_assert_int_eq(pool_reload(p, err, sizeof(err)), 0); /* unchanged */

    write_file(path, "127.0.0.1:24001:1 a\ngarbage\n");
    ck_assert_int_eq(pool_reload(p, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, path) && strstr(err, "line 2"), "%s", err);
    ck_assert_uint_eq(pool_size(p), 3);

    /* b is ejected, then d joins: b stays out, d is in. */
    struct pool_probe f = failed_probe();
    pool_note_probe(p, 1, &f, 10);
    write_file(path, "127.0.0.1:24001:1 a\n127.0.0.1:24002:1 b\n127.0.0.1:24003:1 c\n"
                     "127.0.0.1:24004:1 d\n");
    ck_assert_int_eq(pool_reload(p, err, sizeof(err)), 1);
    ck_assert_uint_eq(pool_size(p), 4);
    struct slotmap *m1 = pool_build_map(p, 20);
    ck_assert_int_eq(m1->pool->servers[1].ejected, 1);
    ck_assert_int_eq(m1->nshards, 3);
    ck_assert_str_eq(m1->pool->servers[3].name, "d");
    ck_assert_int_eq(m1->pool->servers[3].shard, 2);
    /* b answers again: the four are placed, and compared with the three at first, a key either
     * stayed on its server or moved to d. */
    struct pool_probe ok = ok_probe();
    pool_note_probe(p, 1, &ok, 60010);
    struct slotmap *m2 = pool_build_map(p, 60010);
    ck_assert_int_eq(m2->nshards, 4);
    struct keyspace k0 = {.pl = m0->pool->placement, .pool = 1};
    struct keyspace k2 = {.pl = m2->pool->placement, .pool = 1};
    int moved = 0;
    for (int i = 0; i < 2000; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "%d:key", i);
        int before = keyspace_slot(&k0, key, (size_t)n), after = keyspace_slot(&k2, key, (size_t)n);
        ck_assert_msg(after == before || after == 3, "%s moved from %d to %d", key, before, after);
        moved += after == 3;
    }
    ck_assert_int_gt(moved, 100);
    ck_assert_int_lt(moved, 1000);
    slotmap_unref(m0);
    slotmap_unref(m1);
    slotmap_unref(m2);
    pool_free(p);

    /* A pool made from -pool-server flags has no file to read again. */
    struct pool *q = make_pool("127.0.0.1:24001:1\n", 0, 2, 1000);
    ck_assert_int_eq(pool_reload(q, err, sizeof(err)), 0);
    pool_free(q);
    unlink(path);
    ck_assert_int_eq(pool_load_file(path, NULL, NULL, err, sizeof(err)), PX_EINVAL);
    ck_assert_msg(strstr(err, "cannot read") != NULL, "%s", err);
}
END_TEST

Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 30); /* sanitizer builds on a loaded machine */
    tcase_add_test(tc, test_pool_formats);
    tcase_add_test(tc, test_pool_server_flag);
    tcase_add_test(tc, test_pool_check);
    tcase_add_test(tc, test_pool_map);
    tcase_add_test(tc, test_pool_no_eject);
    tcase_add_test(tc, test_pool_eject_and_return);
    tcase_add_test(tc, test_pool_all_ejected);
    tcase_add_test(tc, test_pool_replicas);
    tcase_add_test(tc, test_pool_reload);
    suite_add_tcase(s, tc);
    return s;
}
