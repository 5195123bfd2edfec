/*
 * Read preference, on a cluster of its own (3 masters with 2 replicas each, the nodes on
 * 127.0.0.1-3 so data centres can be told apart): with -read-prefer replica, reads land on
 * replicas and never on masters, writes only on masters (checked with each node's own command
 * statistics); MGET parts, SCAN and EVAL_RO go to replicas, EVAL and transactions to masters;
 * READWRITE pins a session's reads to masters; a killed replica costs no client an error; with
 * no usable replica, reads fall back to the master; replica-idc prefers the replicas inside the
 * given CIDR.
 */
#include "harness.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_BASE  21601
#define RP_NODES 9

struct rnode {
    int port;
    char ip[64];
    char id[41];
    char master_id[41]; /* "" for a master */
};

static struct rnode nodes[RP_NODES];

static void load_nodes(int base)
{
    redisContext *c = redisConnect("127.0.0.1", base);
    redisReply *r = h_cmd(c, "CLUSTER NODES");
    int n = 0;
    for (char *line = r->str; line && *line && n < RP_NODES;) {
        char *nl = strchr(line, '\n');
        char id[41], addr[64], flags[64], master[41];
        if (sscanf(line, "%40s %63s %63s %40s", id, addr, flags, master) == 4) {
            struct rnode *x = &nodes[n++];
            memcpy(x->id, id, 41);
            char *colon = strchr(addr, ':');
            *colon = '\0';
            snprintf(x->ip, sizeof(x->ip), "%s", addr);
            x->port = atoi(colon + 1);
            snprintf(x->master_id, sizeof(x->master_id), "%s",
                     strstr(flags, "slave") ? master : "");
        }
        line = nl ? nl + 1 : NULL;
    }
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(n, RP_NODES);
}

static redisContext *node_conn(const struct rnode *x)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(x->ip, x->port, tv);
    ck_assert_msg(c && !c->err, "connect %s:%d", x->ip, x->port);
    return c;
}

static long long calls(const struct rnode *x, const char *cmd)
{
    redisContext *c = node_conn(x);
    redisReply *r = h_cmd(c, "INFO commandstats");
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    const char *p = strstr(r->str, needle);
    long long v = p ? atoll(p + strlen(needle)) : 0;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static long long errorstat(const struct rnode *x, const char *err)
{
    redisContext *c = node_conn(x);
    redisReply *r = h_cmd(c, "INFO errorstats");
    char needle[64];
    snprintf(needle, sizeof(needle), "errorstat_%s:count=", err);
    const char *p = strstr(r->str, needle);
    long long v = p ? atoll(p + strlen(needle)) : 0;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void reset_stats(void)
{
    for (int i = 0; i < RP_NODES; i++) {
        redisContext *c = node_conn(&nodes[i]);
        freeReplyObject(h_cmd(c, "CONFIG RESETSTAT"));
        redisFree(c);
    }
}

static long long sum_calls(const char *cmd, int replicas)
{
    long long s = 0;
    for (int i = 0; i < RP_NODES; i++)
        if ((nodes[i].master_id[0] != '\0') == replicas) s += calls(&nodes[i], cmd);
    return s;
}

static pid_t start_proxy(int port, const char *const *extra, const char *log)
{
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", RP_BASE);
    pid_t pid = h_proxy_start(port, startup, extra, log);
    ck_assert_int_gt(pid, 0);
    /* The replicas are probed by the topology thread; give it a refresh. */
    h_sleep_ms(1500);
    return pid;
}

START_TEST(test_read_prefer)
{
    setenv("CLUSTER_REPLICAS", "2", 1);
    setenv("CLUSTER_SPREAD_IPS", "1", 1);
    int rc = h_cluster_start("readpref", RP_BASE);
    unsetenv("CLUSTER_REPLICAS");
    unsetenv("CLUSTER_SPREAD_IPS");
    ck_assert_int_eq(rc, 0);
    load_nodes(RP_BASE);
    int port = RP_BASE + 20;
    const char *extra[] = {"-threads", "2", "-read-prefer", "replica", "-slots-reload-interval",
                           "1s",       NULL};
    pid_t pid = start_proxy(port, extra, "proxy-readpref.log");
    redisContext *p = h_connect(port);
    for (int i = 0; i < 300; i++) h_expect_str(h_cmd(p, "SET rp:%d %d", i, i), "OK");
    h_sleep_ms(300); /* replicated */
    reset_stats();

    /* Reads: replicas only. */
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < 300; i++) {
            char v[16];
            snprintf(v, sizeof(v), "%d", i);
            h_expect_str(h_cmd(p, "GET rp:%d", i), v);
        }
    ck_assert_int_eq(sum_calls("get", 0), 0);
    ck_assert_int_eq(sum_calls("get", 1), 3000);
    /* Spread over the replicas: every replica served some. */
    for (int i = 0; i < RP_NODES; i++)
        if (nodes[i].master_id[0]) ck_assert_int_gt(calls(&nodes[i], "get"), 100);
    /* MGET parts, SCAN, EVAL_RO: replicas. EVAL and transactions: masters. */
    redisReply *r = h_cmd(p, "MGET rp:1 rp:2 rp:3 rp:4 rp:5");
    ck_assert_str_eq(r->element[4]->str, "5");
    freeReplyObject(r);
    r = h_cmd(p, "SCAN 0 COUNT 100");
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "EVAL_RO %s 1 rp:7", "return redis.call('GET', KEYS[1])"), "7");
    h_expect_str(h_cmd(p, "EVAL %s 1 rp:8", "return redis.call('GET', KEYS[1])"), "8");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "GET rp:9"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_str_eq(r->element[0]->str, "9");
    freeReplyObject(r);
    ck_assert_int_eq(sum_calls("mget", 0), 0);
    ck_assert_int_gt(sum_calls("mget", 1), 0);
    ck_assert_int_eq(sum_calls("scan", 0), 0);
    ck_assert_int_eq(sum_calls("scan", 1), 1);
    ck_assert_int_eq(sum_calls("eval_ro", 0), 0);
    ck_assert_int_eq(sum_calls("eval_ro", 1), 1);
    ck_assert_int_eq(sum_calls("eval", 0), 1);
    /* The one inside MULTI, and the one EVAL's script ran (scripts' calls count too). */
    ck_assert_int_eq(sum_calls("get", 0), 2);
    /* Writes: masters only; no replica refused one with MOVED. */
    for (int i = 0; i < 100; i++) h_expect_str(h_cmd(p, "SET rpw:%d x", i), "OK");
    ck_assert_int_eq(sum_calls("set", 0), 100);
    for (int i = 0; i < RP_NODES; i++) ck_assert_int_eq(errorstat(&nodes[i], "MOVED"), 0);
    /* READWRITE pins this session's reads to masters; READONLY goes back. */
    reset_stats();
    h_expect_str(h_cmd(p, "READWRITE"), "OK");
    for (int i = 0; i < 50; i++) freeReplyObject(h_cmd(p, "GET rp:%d", i));
    ck_assert_int_eq(sum_calls("get", 0), 50);
    h_expect_str(h_cmd(p, "READONLY"), "OK");
    for (int i = 0; i < 50; i++) freeReplyObject(h_cmd(p, "GET rp:%d", i));
    ck_assert_int_eq(sum_calls("get", 1), 50);

    /* A replica killed while reads flow: no client error. */
    int victim = -1;
    for (int i = 0; i < RP_NODES && victim < 0; i++)
        if (nodes[i].master_id[0]) victim = i;
    pid_t vpid = h_cluster_pid("readpref", nodes[victim].port);
    long long errors = 0;
    for (int i = 0; i < 3000; i++) {
        if (i == 500) kill(vpid, SIGKILL);
        redisReply *g = h_cmd(p, "GET rp:%d", i % 300);
        if (g->type != REDIS_REPLY_STRING) errors++;
        freeReplyObject(g);
    }
    ck_assert_int_eq(errors, 0);
    /* Both replicas of a shard gone: that shard's reads fall back to its master. */
    const char *shard = nodes[victim].master_id;
    for (int i = 0; i < RP_NODES; i++)
        if (i != victim && strcmp(nodes[i].master_id, shard) == 0)
            kill(h_cluster_pid("readpref", nodes[i].port), SIGKILL);
    for (int i = 0; i < 600; i++) {
        redisReply *g = h_cmd(p, "GET rp:%d", i % 300);
        if (g->type != REDIS_REPLY_STRING) errors++;
        freeReplyObject(g);
    }
    ck_assert_int_eq(errors, 0);
    r = h_cmd(p, "INFO proxy");
    const char *fb = strstr(r->str, "replica_fallbacks:");
    const char *rt = strstr(r->str, "read_retries:");
    ck_assert_ptr_nonnull(fb);
    ck_assert_int_gt(atoll(fb + 18), 0); /* said so in a counter */
    fprintf(stderr,
            "readpref: %lld fallbacks to masters, %lld reads retried after a replica died\n",
            atoll(fb + 18), rt ? atoll(rt + 13) : -1);
    freeReplyObject(r);
    redisFree(p);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-readpref.log"), 0);
    h_cluster_stop("readpref");
}
END_TEST

/* replica-idc: with -idc naming one address, its replicas take the reads wherever a shard has
 * one there; the others only for shards without one. Both choices of address are checked. */
START_TEST(test_replica_idc)
{
    setenv("CLUSTER_REPLICAS", "2", 1);
    setenv("CLUSTER_SPREAD_IPS", "1", 1);
    int rc = h_cluster_start("readidc", RP_BASE + 30);
    unsetenv("CLUSTER_REPLICAS");
    unsetenv("CLUSTER_SPREAD_IPS");
    ck_assert_int_eq(rc, 0);
    load_nodes(RP_BASE + 30);
    const char *dcs[2] = {"127.0.0.2", "127.0.0.3"};
    for (int d = 0; d < 2; d++) {
        char cidr[32];
        snprintf(cidr, sizeof(cidr), "%s/32", dcs[d]);
        int port = RP_BASE + 50 + d;
        const char *extra[] = {"-threads", "1", "-read-prefer", "replica-idc", "-idc", cidr, NULL};
        char startup[64];
        snprintf(startup, sizeof(startup), "127.0.0.1:%d", RP_BASE + 30);
        pid_t pid = h_proxy_start(port, startup, extra, "proxy-idc.log");
        ck_assert_int_gt(pid, 0);
        h_sleep_ms(1500);
        reset_stats();
        redisContext *p = h_connect(port);
        for (int i = 0; i < 600; i++) freeReplyObject(h_cmd(p, "GET idc:%d", i));
        redisFree(p);
        long long total = 0;
        for (int i = 0; i < RP_NODES; i++) {
            struct rnode *x = &nodes[i];
            long long g = calls(x, "get");
            total += g;
            if (!x->master_id[0]) {
                ck_assert_msg(g == 0, "master %s:%d served %lld reads", x->ip, x->port, g);
                continue;
            }
            /* Does this replica's shard have a replica in the data centre? */
            int shard_has_local = 0;
            for (int j = 0; j < RP_NODES; j++)
                if (strcmp(nodes[j].master_id, x->master_id) == 0 && !strcmp(nodes[j].ip, dcs[d]))
                    shard_has_local = 1;
            if (!strcmp(x->ip, dcs[d]))
                ck_assert_msg(g > 0, "local replica %s:%d served nothing", x->ip, x->port);
            else if (shard_has_local)
                ck_assert_msg(g == 0, "remote replica %s:%d served %lld reads with a local one up",
                              x->ip, x->port, g);
        }
        ck_assert_int_eq(total, 600);
        ck_assert_int_eq(h_proxy_stop(pid, "proxy-idc.log"), 0);
    }
    h_cluster_stop("readidc");
}
END_TEST

Suite *readpref_suite(void)
{
    Suite *s = suite_create("readpref");
    TCase *tc = tcase_create("readpref");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_read_prefer);
    tcase_add_test(tc, test_replica_idc);
    suite_add_tcase(s, tc);
    return s;
}
