/*
 * Failover: a master is killed with SIGKILL; once its replica is promoted, the proxy must serve
 * that master's slots again within a few seconds, without a restart, while slots of the other
 * masters keep working.
 */
#include "harness.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define FO_BASE 21301

/* Finds a key served by the master on port. */
static void key_on(int port, char *key, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(key, len, "fo:%d", i);
        if (h_owner_port(FO_BASE, key, strlen(key)) == port) return;
    }
}

START_TEST(test_master_killed)
{
    ck_assert_int_eq(h_cluster_start("failover", FO_BASE), 0);
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d,127.0.0.1:%d", FO_BASE, FO_BASE + 1);
    int port = FO_BASE + 10, dport = FO_BASE + 12;
    char dbg[32];
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", dport);
    const char *extra[] = {"-threads", "2", "-slots-reload-interval", "1s", "-debug-addr",
                           dbg,        NULL};
    h_sh(": > %s/proxy-failover.log", h_env.workdir); /* its lines are counted below */
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-failover.log");
    ck_assert_int_gt(pid, 0);

    char victim_key[32], other_key[32], id[41];
    key_on(FO_BASE, victim_key, sizeof(victim_key));
    key_on(FO_BASE + 1, other_key, sizeof(other_key));
    ck_assert_int_eq(h_node_id(FO_BASE, id), 0);
    int replica = h_replica_of(FO_BASE + 1, id);
    ck_assert_int_gt(replica, 0);

    redisContext *c = h_connect(port);
    h_expect_str(h_cmd(c, "SET %s before", victim_key), "OK");
    h_expect_str(h_cmd(c, "SET %s before", other_key), "OK");
    h_sleep_ms(500); /* let the replica have it */
    /* A transaction open on the master that will die, and a client blocked on it. */
    redisContext *tx = h_connect(port);
    h_expect_str(h_cmd(tx, "MULTI"), "OK");
    h_expect_str(h_cmd(tx, "SET %s during-tx", victim_key), "QUEUED");
    redisContext *blocked = h_connect(port);
    char bkey[40];
    snprintf(bkey, sizeof(bkey), "{%s}list", victim_key);
    redisAppendCommand(blocked, "BLPOP %s 0", bkey);
    int wdone = 0;
    redisBufferWrite(blocked, &wdone);
    h_sleep_ms(100);

    pid_t victim = h_cluster_pid("failover", FO_BASE);
    ck_assert_int_gt(victim, 0);
    uint64_t t0 = h_now_ms();
    ck_assert_int_eq(kill(victim, SIGKILL), 0);

    /* Keep asking through the proxy; note when the replica is promoted and when the proxy
     * serves the slot again. */
    uint64_t promoted = 0, served = 0;
    long long errors = 0;
    int saw_unready = 0;
    struct h_http hh;
    /* The debug port says why the proxy is not ready (the first poll may come before the proxy
     * has seen the connection break), and /metrics counts the broken connection. */
    while (!saw_unready && h_now_ms() - t0 < 3000) {
        h_http(dport, "GET", "/readyz", 5000, &hh);
        saw_unready = hh.status == 503 && strstr(hh.body, "unreachable");
        h_http_free(&hh);
        if (!saw_unready) h_sleep_ms(20);
    }
    if (saw_unready) {
        h_http(dport, "GET", "/metrics", 5000, &hh);
        char series[128];
        snprintf(series, sizeof(series),
                 "slotproxy_backend_disconnects_total{node=\"127.0.0.1:%d\",role=\"master\"} ",
                 FO_BASE);
        const char *dis = strstr(hh.body, series);
        ck_assert_msg(dis && atof(dis + strlen(series)) >= 1,
                      "no disconnect counted for the dead master");
        h_http_free(&hh);
    }
    while (h_now_ms() - t0 < 30000 && !served) {
        if (!promoted && h_is_master(replica)) promoted = h_now_ms();
        redisReply *r = redisCommand(c, "SET %s after", victim_key);
        if (!r) {
            redisFree(c);
            c = h_connect(port);
            errors++;
            continue;
        }
        if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
            served = h_now_ms();
        } else {
            ck_assert_msg(r->type == REDIS_REPLY_ERROR, "unexpected reply type %d", r->type);
            ck_assert_msg(strncmp(r->str, "MOVED", 5) && strncmp(r->str, "ASK", 3),
                          "a redirect reached the client: %s", r->str);
            fprintf(stderr, "failover: error after %llu ms: %s\n",
                    (unsigned long long)(h_now_ms() - t0), r->str);
            errors++;
        }
        freeReplyObject(r);
        if (!served) h_sleep_ms(100);
    }
    if (!promoted && h_is_master(replica)) promoted = h_now_ms();
    fprintf(stderr, "failover: promoted after %llu ms, served after %llu ms, %lld errors\n",
            (unsigned long long)(promoted ? promoted - t0 : 0),
            (unsigned long long)(served ? served - t0 : 0), errors);
    ck_assert_msg(promoted, "the replica was never promoted");
    ck_assert_msg(served, "the proxy never served the slot again");
    ck_assert_msg(served <= promoted || served - promoted < 4000,
                  "served %llu ms after the promotion", (unsigned long long)(served - promoted));

    h_expect_str(h_cmd(c, "GET %s", victim_key), "after");
    h_expect_str(h_cmd(c, "GET %s", other_key), "before");
    ck_assert_msg(saw_unready, "/readyz never reported the dead master");
    int ready = 0;
    for (uint64_t t1 = h_now_ms(); !ready && h_now_ms() - t1 < 10000; h_sleep_ms(100)) {
        h_http(dport, "GET", "/readyz", 5000, &hh);
        ready = hh.status == 200;
        h_http_free(&hh);
    }
    ck_assert_msg(ready, "/readyz not ready 10 s after the failover");
    /* The dead node was retried many times, but its failures are logged sparingly: at most
     * once per 10 s per connection (2 workers, shared and private connections). */
    char cmdline[512];
    snprintf(cmdline, sizeof(cmdline), "test $(grep -c 'node 127.0.0.1:%d:' %s/%s) -le 8", FO_BASE,
             h_env.workdir, "proxy-failover.log");
    ck_assert_msg(h_sh("%s", cmdline) == 0, "node failures not rate-limited in the log");
    ck_assert(h_sh("grep -q 'node 127.0.0.1:%d:' %s/proxy-failover.log", FO_BASE, h_env.workdir) ==
              0);
    /* The transaction's node died between MULTI and EXEC: EXEC fails, nothing half-applied. */
    redisReply *er = h_cmd(tx, "EXEC");
    ck_assert_msg(er->type == REDIS_REPLY_ERROR, "EXEC after the failover answered type %d",
                  er->type);
    fprintf(stderr, "failover: EXEC after its master died: %s\n", er->str);
    freeReplyObject(er);
    h_expect_str(h_cmd(c, "GET %s", victim_key), "after");
    h_expect_str(h_cmd(tx, "PING"), "PONG"); /* the session goes on */
    redisFree(tx);
    /* The blocked client got an error when its node died (it may or may not have popped), not a
     * hang; it can block again on the new master. */
    redisReply *br;
    ck_assert_int_eq(redisGetReply(blocked, (void **)&br), REDIS_OK);
    ck_assert_int_eq(br->type, REDIS_REPLY_ERROR);
    freeReplyObject(br);
    h_expect_int(h_cmd(c, "RPUSH %s v", bkey), 1);
    br = h_cmd(blocked, "BLPOP %s 5", bkey);
    ck_assert_str_eq(br->element[1]->str, "v");
    freeReplyObject(br);
    redisFree(blocked);
    /* The new master has it. */
    redisContext *d = h_connect(replica);
    h_expect_str(h_cmd(d, "GET %s", victim_key), "after");
    redisFree(d);
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-failover.log"), 0);

    /* A new proxy whose first startup node is the dead master starts and serves every slot. */
    const char *extra2[] = {"-threads", "1", "-connect-timeout", "500ms", NULL};
    pid_t pid2 = h_proxy_start(port + 1, startup, extra2, "proxy-failover2.log");
    ck_assert_int_gt(pid2, 0);
    c = h_connect(port + 1);
    h_expect_str(h_cmd(c, "GET %s", victim_key), "after");
    h_expect_str(h_cmd(c, "GET %s", other_key), "before");
    for (int i = 0; i < 100; i++) h_expect_str(h_cmd(c, "SET fo2:%d x", i), "OK");
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid2, "proxy-failover2.log"), 0);
    h_cluster_stop("failover");
}
END_TEST

Suite *failover_suite(void)
{
    Suite *s = suite_create("failover");
    TCase *tc = tcase_create("failover");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_master_killed);
    suite_add_tcase(s, tc);
    return s;
}
