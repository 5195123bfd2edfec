/*
 * Whole-keyspace commands through the proxy: DBSIZE and KEYS over every master, FLUSHALL and
 * FLUSHDB (sync and async), RANDOMKEY, LASTSAVE, TIME, SCAN over 10,000 keys with MATCH, COUNT
 * and TYPE and the cursor rules, and INFO with the keyspace summed over the masters.
 */
#include "harness.h"
#include "suites.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* DBSIZE summed directly over the masters. */
static long long direct_dbsize(void)
{
    long long n = 0;
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(h_env.cluster_port + i);
        redisReply *r = h_cmd(d, "DBSIZE");
        n += r->integer;
        freeReplyObject(r);
        redisFree(d);
    }
    return n;
}

static void fill(redisContext *p, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) redisAppendCommand(p, "SET %s:%d %d", prefix, i, i);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(p, (void **)&r), REDIS_OK);
        h_expect_str(r, "OK");
    }
}

START_TEST(test_flush_dbsize_keys_randomkey)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "FLUSHALL"), "OK");
    h_expect_int(h_cmd(p, "DBSIZE"), 0);
    redisReply *r = h_cmd(p, "RANDOMKEY");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    fill(p, "ks", 500);
    h_expect_int(h_cmd(p, "DBSIZE"), 500);
    ck_assert_int_eq(direct_dbsize(), 500);
    r = h_cmd(p, "KEYS ks:1?");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 10); /* ks:10 .. ks:19 */
    int seen[10] = {0};
    for (size_t i = 0; i < r->elements; i++) seen[atoi(r->element[i]->str + 3) - 10] = 1;
    for (int i = 0; i < 10; i++) ck_assert(seen[i]);
    freeReplyObject(r);
    r = h_cmd(p, "KEYS *");
    ck_assert_int_eq(r->elements, 500);
    freeReplyObject(r);
    for (int i = 0; i < 20; i++) {
        r = h_cmd(p, "RANDOMKEY");
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert(strncmp(r->str, "ks:", 3) == 0);
        freeReplyObject(r);
    }
    h_expect_str(h_cmd(p, "FLUSHDB ASYNC"), "OK");
    for (int i = 0; i < 50 && direct_dbsize() != 0; i++) h_sleep_ms(20);
    h_expect_int(h_cmd(p, "DBSIZE"), 0);
    fill(p, "ks", 100);
    h_expect_str(h_cmd(p, "FLUSHALL SYNC"), "OK");
    ck_assert_int_eq(direct_dbsize(), 0);
    r = h_cmd(p, "FLUSHALL BOGUS");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR syntax error");
    freeReplyObject(r);
    r = h_cmd(p, "LASTSAVE");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_gt(r->integer, 1600000000);
    freeReplyObject(r);
    r = h_cmd(p, "TIME");
    ck_assert_int_eq(r->elements, 2);
    long long secs = atoll(r->element[0]->str);
    ck_assert(llabs(secs - (long long)time(NULL)) <= 2);
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

/* Runs a full SCAN with the given extra arguments; counts how often each key of the "sc:" set
 * was returned, and checks the cursors. Returns the number of calls. */
static int full_scan(redisContext *p, const char *extra, int *seen, int n, int *others)
{
    char cursor[32] = "0";
    int calls = 0;
    *others = 0;
    /* extra holds space-separated arguments. */
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", extra);
    const char *argv[8] = {"SCAN", cursor};
    int argc = 2;
    for (char *t = strtok(copy, " "); t && argc < 8; t = strtok(NULL, " ")) argv[argc++] = t;
    do {
        redisReply *r = h_cmd_argv(p, argc, argv, NULL);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_int_eq(r->elements, 2);
        /* The cursor is an unsigned 64-bit integer in decimal. */
        char *end;
        strtoull(r->element[0]->str, &end, 10);
        ck_assert_msg(*end == '\0', "cursor %s", r->element[0]->str);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *k = r->element[1]->element[i]->str;
            if (strncmp(k, "sc:", 3) == 0) {
                int idx = atoi(k + 3);
                ck_assert(idx >= 0 && idx < n);
                seen[idx]++;
            } else {
                (*others)++;
            }
        }
        freeReplyObject(r);
        ck_assert_int_lt(++calls, 100000);
    } while (strcmp(cursor, "0") != 0);
    return calls;
}

START_TEST(test_scan_whole_cluster)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "FLUSHALL"), "OK");
    enum { N = 10000 };
    fill(p, "sc", N);
    for (int i = 0; i < 100; i++) h_expect_int(h_cmd(p, "HSET hs:%d f v", i), 1);
    int *seen = calloc(N, sizeof(int));
    int others;
    int calls = full_scan(p, "COUNT 500", seen, N, &others);
    for (int i = 0; i < N; i++) ck_assert_msg(seen[i] >= 1, "sc:%d never returned", i);
    ck_assert_int_eq(others, 100);
    ck_assert_int_gt(calls, 3); /* at least one page per master */
    /* MATCH and TYPE are passed on. */
    memset(seen, 0, N * sizeof(int));
    full_scan(p, "MATCH sc:1* COUNT 1000", seen, N, &others);
    ck_assert_int_eq(others, 0);
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%d", i);
        ck_assert_int_eq(seen[i] > 0, k[0] == '1');
    }
    memset(seen, 0, N * sizeof(int));
    full_scan(p, "TYPE hash COUNT 1000", seen, N, &others);
    ck_assert_int_eq(others, 100);
    for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 0);
    free(seen);
    /* Cursor rules as Redis has them. */
    redisReply *r = h_cmd(p, "SCAN notanumber");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR invalid cursor");
    freeReplyObject(r);
    r = h_cmd(p, "SCAN 18446744073709551616");
    ck_assert_str_eq(r->str, "ERR invalid cursor");
    freeReplyObject(r);
    r = h_cmd(p, "SCAN 0 COUNT 0");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR syntax error");
    freeReplyObject(r);
    /* A cursor naming a master that does not exist ends the iteration. */
    r = h_cmd(p, "SCAN 1023");
    ck_assert_str_eq(r->element[0]->str, "0");
    ck_assert_int_eq(r->element[1]->elements, 0);
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

static long long info_field(const char *info, const char *name)
{
    const char *p = strstr(info, name);
    if (!p) return -1;
    return atoll(p + strlen(name));
}

START_TEST(test_info)
{
    redisContext *p = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "FLUSHALL"), "OK");
    fill(p, "inf", 321);
    h_expect_str(h_cmd(p, "SET inf:ttl v EX 1000"), "OK");
    redisReply *r = h_cmd(p, "INFO");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    const char *s = r->str;
    ck_assert_ptr_nonnull(strstr(s, "# Server\r\nredis_version:7."));
    ck_assert_ptr_nonnull(strstr(s, "redis_mode:cluster\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\n# Clients\r\nconnected_clients:"));
    ck_assert_ptr_nonnull(strstr(s, "# Memory\r\nused_memory:"));
    ck_assert_ptr_nonnull(strstr(s, "# Stats\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "# Cluster\r\ncluster_enabled:1\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "# Keyspace\r\ndb0:keys=322,expires=1,avg_ttl="));
    ck_assert_ptr_nonnull(strstr(s, "# Proxy\r\nproxy_workers:2\r\n"));
    ck_assert_ptr_null(strstr(s, "# Commandstats"));
    ck_assert_ptr_null(strstr(s, "# Latencystats"));
    /* No modules: an empty section after CPU's, as a redis-server without any writes it. */
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\n# Modules\r\n\r\n# Errorstats\r\n"));
    ck_assert_int_eq(info_field(s, "slot_map_slots_served:"), 16384);
    ck_assert_int_ge(info_field(s, "connected_clients:"), 1);
    ck_assert_int_gt(info_field(s, "total_commands_processed:"), 321);
    freeReplyObject(r);
    /* One section; several; case-insensitive; unknown ones are empty. */
    r = h_cmd(p, "INFO keyspace");
    ck_assert_msg(strncmp(r->str, "# Keyspace\r\ndb0:keys=322,expires=1,avg_ttl=", 42) == 0, "%s",
                  r->str);
    freeReplyObject(r);
    r = h_cmd(p, "INFO CLUSTER replication");
    ck_assert_str_eq(r->str, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                             "master_repl_offset:0\r\n\r\n# Cluster\r\ncluster_enabled:1\r\n");
    freeReplyObject(r);
    /* The masters' figures: writes since the last save add up over them (each write is one). */
    r = h_cmd(p, "INFO persistence");
    long long dirty = info_field(r->str, "rdb_changes_since_last_save:");
    ck_assert_msg(strncmp(r->str, "# Persistence\r\nloading:0\r\n", 26) == 0, "%s", r->str);
    freeReplyObject(r);
    for (int i = 0; i < 10; i++) h_expect_int(h_cmd(p, "INCR inf:dirty:%d", i), 1);
    r = h_cmd(p, "INFO persistence");
    ck_assert_int_eq(info_field(r->str, "rdb_changes_since_last_save:"), dirty + 10);
    freeReplyObject(r);
    /* A script loaded through the proxy is on every master: counted once. */
    h_expect_str(h_cmd(p, "SCRIPT FLUSH"), "OK");
    freeReplyObject(h_cmd(p, "SCRIPT LOAD %s", "return 'inf'"));
    r = h_cmd(p, "INFO memory");
    ck_assert_int_eq(info_field(r->str, "number_of_cached_scripts:"), 1);
    freeReplyObject(r);
    r = h_cmd(p, "INFO stats");
    ck_assert_int_eq(info_field(r->str, "migrate_cached_sockets:"), 0);
    freeReplyObject(r);
    r = h_cmd(p, "INFO nosuchsection");
    ck_assert_str_eq(r->str, "");
    freeReplyObject(r);
    r = h_cmd(p, "INFO commandstats");
    ck_assert_int_ge(info_field(r->str, "cmdstat_set:calls="), 322);
    ck_assert_ptr_nonnull(strstr(r->str, "cmdstat_flushall:calls="));
    freeReplyObject(r);
    /* Rejected and failed calls are told apart. */
    freeReplyObject(h_cmd(p, "GET"));
    freeReplyObject(h_cmd(p, "LPUSH inf:1 x"));
    r = h_cmd(p, "INFO commandstats");
    ck_assert_ptr_nonnull(strstr(r->str, "cmdstat_get:calls="));
    const char *g = strstr(r->str, "cmdstat_get:");
    ck_assert_int_ge(info_field(g, "rejected_calls="), 1);
    const char *l = strstr(r->str, "cmdstat_lpush:");
    ck_assert_int_ge(info_field(l, "failed_calls="), 1);
    freeReplyObject(r);
    /* A command the proxy answers itself, in the turn that read it, still takes time, as in
     * Redis: its usec is not 0 (it was while the latency ended at the turn's clock). */
    for (int i = 0; i < 50; i++) h_expect_str(h_cmd(p, "PING"), "PONG");
    r = h_cmd(p, "INFO commandstats");
    const char *pg = strstr(r->str, "cmdstat_ping:");
    ck_assert_ptr_nonnull(pg);
    ck_assert_int_ge(info_field(pg, "calls="), 50);
    ck_assert_int_gt(info_field(pg, "usec="), 0);
    freeReplyObject(r);
    /* A command a node answers is timed from the turn that read it to the turn that read its
     * reply: a round trip to the node, never 0. */
    for (int i = 0; i < 50; i++) freeReplyObject(h_cmd(p, "GET inf:usec"));
    r = h_cmd(p, "INFO commandstats");
    g = strstr(r->str, "cmdstat_get:");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_ge(info_field(g, "calls="), 50);
    ck_assert_int_ge(info_field(g, "usec="), 50);
    freeReplyObject(r);
    /* Error replies by code, as Redis counts them; CONFIG RESETSTAT forgets them. */
    h_expect_str(h_cmd(p, "CONFIG RESETSTAT"), "OK");
    freeReplyObject(h_cmd(p, "EVAL %s 0", "return redis.error_reply('MY_CODE custom')"));
    freeReplyObject(h_cmd(p, "EVAL %s 0", "return redis.error_reply('')"));
    freeReplyObject(h_cmd(p, "NOSUCHCOMMAND"));
    freeReplyObject(h_cmd(p, "LPUSH inf:1 x"));
    r = h_cmd(p, "INFO errorstats");
    ck_assert_str_eq(r->str, "# Errorstats\r\nerrorstat_ERR:count=2\r\n"
                             "errorstat_MY_CODE:count=1\r\nerrorstat_WRONGTYPE:count=1\r\n");
    freeReplyObject(r);
    /* ... and the proxy's counters and commandstats count from it again. */
    r = h_cmd(p, "INFO stats");
    ck_assert_int_eq(info_field(r->str, "total_error_replies:"), 4);
    freeReplyObject(r);
    r = h_cmd(p, "INFO commandstats");
    ck_assert_ptr_nonnull(strstr(r->str, "cmdstat_lpush:calls=1,"));
    ck_assert_ptr_nonnull(strstr(r->str, "cmdstat_eval:calls=2,"));
    ck_assert_ptr_null(strstr(r->str, "cmdstat_incr:"));
    freeReplyObject(r);
    r = h_cmd(p, "INFO modules");
    ck_assert_str_eq(r->str, "# Modules\r\n");
    freeReplyObject(r);
    /* Latencystats: the percentiles Redis shows by default, per command called since the
     * reset, in microseconds with three decimals; in "all" after errorstats, as Redis orders
     * them. */
    r = h_cmd(p, "INFO latencystats");
    ck_assert_msg(strncmp(r->str, "# Latencystats\r\n", 16) == 0, "%s", r->str);
    ck_assert_ptr_null(strstr(r->str, "latency_percentiles_usec_incr:"));
    const char *ev = strstr(r->str, "\r\nlatency_percentiles_usec_eval:p50=");
    ck_assert_ptr_nonnull(ev);
    double p50 = -1, p99 = -1, p999 = -1;
    int got = sscanf(ev, "\r\nlatency_percentiles_usec_eval:p50=%lf,p99=%lf,p99.9=%lf\r\n", &p50,
                     &p99, &p999);
    ck_assert_int_eq(got, 3);
    ck_assert(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 < 10e6);
    freeReplyObject(r);
    for (int i = 0; i < 20; i++) h_expect_int(h_cmd(p, "INCR inf:lat"), i + 1);
    r = h_cmd(p, "INFO all");
    const char *es = strstr(r->str, "# Errorstats\r\n"), *ls = strstr(r->str, "# Latencystats\r\n"),
               *cl = strstr(r->str, "# Cluster\r\n");
    ck_assert(es && ls && cl && es < ls && ls < cl);
    ck_assert_ptr_nonnull(strstr(ls, "\r\nlatency_percentiles_usec_incr:p50="));
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "CONFIG RESETSTAT"), "OK");
    r = h_cmd(p, "INFO latencystats");
    ck_assert_ptr_null(strstr(r->str, "latency_percentiles_usec_incr:"));
    ck_assert_ptr_null(strstr(r->str, "latency_percentiles_usec_eval:"));
    freeReplyObject(r);
    /* CONFIG SET latency-tracking no stops the recording; the percentiles shown follow
     * latency-tracking-info-percentiles, named as Redis names them. */
    h_expect_str(h_cmd(p, "CONFIG SET latency-tracking no"), "OK");
    h_expect_int(h_cmd(p, "INCR inf:lat"), 21);
    h_expect_str(h_cmd(p, "CONFIG SET latency-tracking yes"), "OK");
    h_expect_str(h_cmd(p, "CONFIG SET latency-tracking-info-percentiles %s", "0.5 100"), "OK");
    freeReplyObject(h_cmd(p, "GET inf:lat"));
    r = h_cmd(p, "INFO latencystats");
    ck_assert_ptr_null(strstr(r->str, "latency_percentiles_usec_incr:"));
    ck_assert_msg(strstr(r->str, "\r\nlatency_percentiles_usec_get:p0.5=") &&
                      strstr(strstr(r->str, "usec_get:"), ",p100="),
                  "%s", r->str);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "CONFIG SET latency-tracking-info-percentiles %s", "50 99 99.9"), "OK");
    redisFree(p);
}
END_TEST

Suite *keyspace_suite(void)
{
    Suite *s = suite_create("keyspace");
    TCase *tc = tcase_create("keyspace");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_flush_dbsize_keys_randomkey);
    tcase_add_test(tc, test_scan_whole_cluster);
    tcase_add_test(tc, test_info);
    suite_add_tcase(s, tc);
    return s;
}
