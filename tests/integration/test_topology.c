/*
 * Topology disagreement (issue 7): when one node answers with an older view of the cluster than
 * another (it has not heard of a failover: its masters have lower config epochs), the newer view
 * wins. The stale node is a real redis-server: a "ghost" started from a copy of a replica's
 * nodes.conf taken before a failover, with the other nodes' cluster-bus ports pointed at a port
 * nobody listens on, so that it never hears the news. Its own cluster (ports 21801-21806, ghost
 * 21807, proxies 21811+).
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPO_BASE  21801
#define GHOST_PORT 21807
#define TOPO_PROXY 21811
#define TOPO_DEBUG 21813

/* The flags field of node id's line in CLUSTER NODES asked on port ("" when absent). */
static void node_flags(int port, const char *id, char *out, size_t cap)
{
    out[0] = '\0';
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "CLUSTER NODES");
    /* The line that starts with id (it also appears as the master of its replicas' lines). */
    const char *p = NULL;
    for (const char *l = r->type == REDIS_REPLY_STRING ? r->str : NULL; l && *l;) {
        if (strncmp(l, id, 40) == 0) {
            p = l;
            break;
        }
        l = strchr(l, '\n');
        if (l) l++;
    }
    if (p) {
        const char *f = strchr(p, ' ');
        f = f ? strchr(f + 1, ' ') : NULL;
        if (f) {
            f++;
            size_t n = strcspn(f, " ");
            if (n >= cap) n = cap - 1;
            memcpy(out, f, n);
            out[n] = '\0';
        }
    }
    freeReplyObject(r);
    redisFree(c);
}

/* Copies a node's nodes.conf for the ghost: "myself" moves to GHOST_PORT, every other node keeps
 * its client address but gets cluster-bus port 1, which refuses connections. */
static void write_ghost_conf(const char *src, const char *dst)
{
    FILE *in = fopen(src, "r");
    ck_assert_msg(in != NULL, "cannot read %s", src);
    FILE *out = fopen(dst, "w");
    ck_assert_msg(out != NULL, "cannot write %s", dst);
    char line[4096];
    while (fgets(line, sizeof(line), in)) {
        if (strncmp(line, "vars ", 5) == 0) {
            fputs(line, out);
            continue;
        }
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp2) continue;
        char *at = memchr(sp1 + 1, '@', (size_t)(sp2 - sp1 - 1));
        ck_assert_ptr_nonnull(at);
        fwrite(line, 1, (size_t)(sp1 + 1 - line), out);
        if (strstr(sp2, "myself"))
            fprintf(out, "127.0.0.1:%d@%d", GHOST_PORT, GHOST_PORT + 10000);
        else
            fprintf(out, "%.*s@1", (int)(at - sp1 - 1), sp1 + 1);
        fputs(sp2, out);
    }
    fclose(in);
    fclose(out);
}

/* The master address /debug/slots names for the range that starts at slot from ("" if none). */
static void debug_slot_master(int from, char *out, size_t cap)
{
    struct h_http h;
    h_http(TOPO_DEBUG, "GET", "/debug/slots", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    char key[64];
    snprintf(key, sizeof(key), "{\"from\":%d,", from);
    out[0] = '\0';
    const char *p = strstr(h.body, key);
    const char *a = p ? strstr(p, "\"master\":{\"addr\":\"") : NULL;
    if (a) {
        a += strlen("\"master\":{\"addr\":\"");
        size_t n = strcspn(a, "\"");
        if (n >= cap) n = cap - 1;
        memcpy(out, a, n);
        out[n] = '\0';
    }
    h_http_free(&h);
}

/* Waits until /debug/slots names want as the master of slot 0's range; returns 1 when it does. */
static int wait_slot0_master(const char *want, int timeout_ms)
{
    char got[64];
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    do {
        debug_slot_master(0, got, sizeof(got));
        if (strcmp(got, want) == 0) return 1;
        h_sleep_ms(100);
    } while (h_now_ms() < end);
    fprintf(stderr, "topology: slot 0 still served by [%s], want %s\n", got, want);
    return 0;
}

START_TEST(test_older_view_loses)
{
    ck_assert_int_eq(h_cluster_start("topo", TOPO_BASE), 0);
    char a_id[41], b_id[41];
    ck_assert_int_eq(h_node_id(TOPO_BASE, a_id), 0);     /* master of slots 0-5460 */
    ck_assert_int_eq(h_node_id(TOPO_BASE + 1, b_id), 0); /* another master */
    int a2 = h_replica_of(TOPO_BASE, a_id);              /* will take A's slots */
    int s = h_replica_of(TOPO_BASE, b_id);               /* the node the ghost copies */
    ck_assert_int_gt(a2, 0);
    ck_assert_int_gt(s, 0);
    char src[1024], dst[1024];
    snprintf(src, sizeof(src), "%s/topo/node-%d/nodes.conf", h_env.workdir, s);
    snprintf(dst, sizeof(dst), "%s/ghost-nodes.conf", h_env.workdir);
    write_ghost_conf(src, dst); /* before the failover: the ghost's view is A's */

    /* A manual failover: A's replica becomes master with a higher config epoch. */
    redisContext *c = h_connect(a2);
    h_expect_str(h_cmd(c, "CLUSTER FAILOVER"), "OK");
    redisFree(c);
    char flags[128];
    uint64_t end = h_now_ms() + 15000;
    for (;;) {
        node_flags(TOPO_BASE + 1, a_id, flags, sizeof(flags));
        int a_demoted = strstr(flags, "slave") != NULL;
        node_flags(TOPO_BASE + 2, a_id, flags, sizeof(flags));
        if (a_demoted && strstr(flags, "slave") && h_is_master(a2)) break;
        ck_assert_msg(h_now_ms() < end, "the failover did not complete");
        h_sleep_ms(100);
    }

    const char *gextra[] = {
        "--cluster-enabled", "yes", "--cluster-config-file", dst, "--cluster-node-timeout",
        "3600000",           NULL};
    pid_t ghost = h_single_start_with(GHOST_PORT, gextra);
    ck_assert_int_gt(ghost, 0);
    /* The ghost still believes A is the master. */
    node_flags(GHOST_PORT, a_id, flags, sizeof(flags));
    ck_assert_msg(strstr(flags, "master") != NULL, "ghost sees A as [%s]", flags);

    char a2_addr[32];
    snprintf(a2_addr, sizeof(a2_addr), "127.0.0.1:%d", a2);
    char startup[128], debug[64];
    snprintf(debug, sizeof(debug), "127.0.0.1:%d", TOPO_DEBUG);

    /* 1. The ghost is asked first, the real cluster second: the newer view wins from the start,
     * and stays in use although the ghost keeps answering. */
    snprintf(startup, sizeof(startup), "127.0.0.1:%d,%s", GHOST_PORT, a2_addr);
    const char *extra[] = {"-slots-reload-interval", "200ms", "-debug-addr", debug, NULL};
    pid_t proxy = h_proxy_start(TOPO_PROXY, startup, extra, "proxy-topo-1.log");
    ck_assert_int_gt(proxy, 0);
    ck_assert(wait_slot0_master(a2_addr, 3000));
    h_sleep_ms(1000); /* five periodic refreshes */
    ck_assert(wait_slot0_master(a2_addr, 0));
    ck_assert_int_ge(h_info_num(TOPO_PROXY, "topology_stale_views"), 1);
    c = h_connect(TOPO_PROXY);
    for (int i = 0; i < 50; i++) h_expect_str(h_cmd(c, "SET {b}%d v%d", i, i), "OK");
    redisFree(c);
    ck_assert_int_eq(h_info_num(TOPO_PROXY, "redirects_moved"), 0);
    ck_assert_int_eq(h_proxy_stop(proxy, "proxy-topo-1.log"), 0);

    /* 2. Only the ghost is known at first: its view is taken (there is nothing to compare it
     * with), the first MOVED makes the proxy ask a second node, and the newer view wins. */
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", GHOST_PORT);
    proxy = h_proxy_start(TOPO_PROXY, startup, extra, "proxy-topo-2.log");
    ck_assert_int_gt(proxy, 0);
    c = h_connect(TOPO_PROXY);
    redisReply *r = h_cmd(c, "GET {b}7");
    ck_assert_str_eq(r->str, "v7");
    freeReplyObject(r);
    ck_assert(wait_slot0_master(a2_addr, 3000));
    h_sleep_ms(1000);
    ck_assert(wait_slot0_master(a2_addr, 0));
    for (int i = 0; i < 50; i++) {
        r = h_cmd(c, "GET {b}%d", i);
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        ck_assert_str_eq(r->str, want);
        freeReplyObject(r);
    }
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(proxy, "proxy-topo-2.log"), 0);
    h_single_stop(ghost);
    h_cluster_stop("topo");
}
END_TEST

Suite *topology_suite(void)
{
    Suite *s = suite_create("topology");
    TCase *tc = tcase_create("topology");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_older_view_loses);
    suite_add_tcase(s, tc);
    return s;
}
