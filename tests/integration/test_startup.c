/*
 * Startup: the proxy starts and serves when a startup node is down, and when no node is
 * reachable it still starts, answers PING, and fails keyed requests with CLUSTERDOWN instead of
 * hanging or crashing.
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <string.h>

START_TEST(test_startup_node_down)
{
    char startup[128];
    /* Nothing listens on the first two; the third is a redis-server without cluster support
     * (its CLUSTER commands fail); the fourth is a real node. */
    snprintf(startup, sizeof(startup), "127.0.0.1:1,127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d",
             h_env.cluster_port + 95, h_env.single_port, h_env.cluster_port + 1);
    int port = h_env.proxy_port + 300;
    const char *extra[] = {"-threads", "1", "-connect-timeout", "500ms", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-startup.log");
    ck_assert_int_gt(pid, 0);
    redisContext *c = h_connect(port);
    for (int i = 0; i < 50; i++) {
        h_expect_str(h_cmd(c, "SET su:%d %d", i, i), "OK");
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        h_expect_str(h_cmd(c, "GET su:%d", i), v);
    }
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-startup.log"), 0);
}
END_TEST

START_TEST(test_no_node_reachable)
{
    int port = h_env.proxy_port + 301;
    const char *extra[] = {"-threads", "1", "-connect-timeout", "200ms", "-failover-hold",
                           "300ms",    NULL};
    pid_t pid = h_proxy_start(port, "127.0.0.1:1", extra, "proxy-nonode.log");
    ck_assert_int_gt(pid, 0);
    redisContext *c = h_connect(port);
    h_expect_str(h_cmd(c, "PING"), "PONG");
    uint64_t t0 = h_now_ms();
    redisReply *r = h_cmd(c, "GET foo");
    uint64_t dt = h_now_ms() - t0;
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strncmp(r->str, "CLUSTERDOWN", 11) == 0, "%s", r->str);
    freeReplyObject(r);
    ck_assert_msg(dt < 3000, "the error took %llu ms", (unsigned long long)dt);
    /* Still serving afterwards. */
    h_expect_str(h_cmd(c, "ECHO x"), "x");
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-nonode.log"), 0);
}
END_TEST

Suite *startup_suite(void)
{
    Suite *s = suite_create("startup");
    TCase *tc = tcase_create("startup");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_startup_node_down);
    tcase_add_test(tc, test_no_node_reachable);
    suite_add_tcase(s, tc);
    return s;
}
