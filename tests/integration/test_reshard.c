/*
 * Resharding under load: while writers and readers go through the proxy, redis-cli moves 1,000
 * slots from one master to another and 1,000 more from a third back. No client may see MOVED or
 * ASK, no request may fail, and every acknowledged write must be readable afterwards.
 */
#include "harness.h"
#include "suites.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_BASE 21201
#define RS_KEYS 200000

struct load {
    int port;
    atomic_int stop;
    int *last; /* last[k]: the value of the last SET rk:k answered +OK, or -1 */
    _Atomic long long writes, reads;
    _Atomic long long errors, redirects_seen, wrong_values;
    char last_error[256];
};

static void note_error(struct load *ld, const redisReply *r)
{
    ld->errors++;
    if (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0) ld->redirects_seen++;
    snprintf(ld->last_error, sizeof(ld->last_error), "%s", r->str);
}

static void *writer(void *arg)
{
    struct load *ld = arg;
    redisContext *c = redisConnect("127.0.0.1", ld->port);
    if (!c || c->err) return NULL;
    int next = 0;
    while (!atomic_load(&ld->stop)) {
        int batch = 50;
        for (int i = 0; i < batch; i++)
            redisAppendCommand(c, "SET rk:%d %d", (next + i) % RS_KEYS, next + i);
        for (int i = 0; i < batch; i++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                ld->errors++;
                snprintf(ld->last_error, sizeof(ld->last_error), "connection: %s", c->errstr);
                redisFree(c);
                return NULL;
            }
            if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
                ld->last[(next + i) % RS_KEYS] = next + i;
            else if (r->type == REDIS_REPLY_ERROR)
                note_error(ld, r);
            freeReplyObject(r);
        }
        ld->writes += batch;
        next += batch;
    }
    redisFree(c);
    return NULL;
}

static void *reader(void *arg)
{
    struct load *ld = arg;
    redisContext *c = redisConnect("127.0.0.1", ld->port);
    if (!c || c->err) return NULL;
    unsigned seed = 7;
    while (!atomic_load(&ld->stop)) {
        int k[50];
        for (int i = 0; i < 50; i++) {
            k[i] = (int)(rand_r(&seed) % 20000); /* the preloaded range */
            redisAppendCommand(c, "GET pre:%d", k[i]);
        }
        for (int i = 0; i < 50; i++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                ld->errors++;
                redisFree(c);
                return NULL;
            }
            if (r->type == REDIS_REPLY_ERROR) {
                note_error(ld, r);
            } else if (r->type != REDIS_REPLY_STRING || atoi(r->str) != k[i]) {
                ld->wrong_values++;
            }
            freeReplyObject(r);
        }
        ld->reads += 50;
    }
    redisFree(c);
    return NULL;
}

START_TEST(test_reshard_under_load)
{
    ck_assert_int_eq(h_cluster_start("reshard", RS_BASE), 0);
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", RS_BASE);
    int port = RS_BASE + 10;
    /* Batched waits on (they are off by default): slots moving under load, ASK and TRYAGAIN
     * retries, with the loop waiting for batches. */
    const char *extra[] = {"-threads", "2", "-io-batch-us", "300", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-reshard.log");
    ck_assert_int_gt(pid, 0);

    /* Preload keys so that slots move with data in them (MIGRATE, ASK, TRYAGAIN). */
    redisContext *c = h_connect(port);
    for (int i = 0; i < 20000; i++) redisAppendCommand(c, "SET pre:%d %d", i, i);
    for (int i = 0; i < 20000; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        h_expect_str(r, "OK");
    }

    struct load ld = {.port = port};
    ld.last = malloc(RS_KEYS * sizeof(int));
    for (int i = 0; i < RS_KEYS; i++) ld.last[i] = -1;
    pthread_t tw, tr;
    pthread_create(&tw, NULL, writer, &ld);
    pthread_create(&tr, NULL, reader, &ld);
    h_sleep_ms(300);

    char a[41], b[41], cc[41];
    ck_assert_int_eq(h_node_id(RS_BASE, a), 0);
    ck_assert_int_eq(h_node_id(RS_BASE + 1, b), 0);
    ck_assert_int_eq(h_node_id(RS_BASE + 2, cc), 0);
    long long writes_before = ld.writes;
    int rc1 = h_sh("redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
                   "--cluster-slots 1000 --cluster-yes --cluster-pipeline 20 >%s/reshard1.log 2>&1",
                   RS_BASE, a, b, h_env.workdir);
    /* redis-cli refuses to start while the nodes still disagree about the first move. */
    for (int i = 0;
         i < 100 && h_sh("redis-cli --cluster check 127.0.0.1:%d >/dev/null 2>&1", RS_BASE) != 0;
         i++)
        h_sleep_ms(100);
    int rc2 = h_sh("redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
                   "--cluster-slots 1000 --cluster-yes --cluster-pipeline 20 >%s/reshard2.log 2>&1",
                   RS_BASE, cc, a, h_env.workdir);
    long long writes_during = ld.writes - writes_before;
    h_sleep_ms(500);
    atomic_store(&ld.stop, 1);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    ck_assert_msg(rc1 == 0 && rc2 == 0, "redis-cli reshard failed (%d, %d); see %s/reshard*.log",
                  rc1, rc2, h_env.workdir);

    fprintf(stderr,
            "reshard: %lld writes (%lld while slots moved), %lld reads, %lld errors during 2 x "
            "1000-slot moves\n",
            ld.writes, writes_during, ld.reads, ld.errors);
    ck_assert_int_gt(writes_during, 1000);
    ck_assert_msg(ld.redirects_seen == 0, "a client saw MOVED/ASK: %s", ld.last_error);
    ck_assert_msg(ld.errors == 0, "%lld errors, last: %s", ld.errors, ld.last_error);
    ck_assert_int_eq(ld.wrong_values, 0);
    /* The proxy really followed ASK redirections: the importing nodes counted ASKING. */
    long long asking = 0;
    for (int i = 0; i < 3; i++) {
        redisContext *d = h_connect(RS_BASE + i);
        redisReply *ri = h_cmd(d, "INFO commandstats");
        const char *p = strstr(ri->str, "cmdstat_asking:calls=");
        if (p) asking += atoll(p + strlen("cmdstat_asking:calls="));
        freeReplyObject(ri);
        redisFree(d);
    }
    fprintf(stderr, "reshard: the nodes counted %lld ASKING commands\n", asking);
    ck_assert_int_gt(asking, 0);

    redisReply *r;
    for (int i = 0;
         i < 100 && h_sh("redis-cli --cluster check 127.0.0.1:%d >/dev/null 2>&1", RS_BASE) != 0;
         i++)
        h_sleep_ms(100);
    ck_assert_int_eq(
        h_sh("redis-cli --cluster check 127.0.0.1:%d >%s/check.log 2>&1", RS_BASE, h_env.workdir),
        0);

    /* Every acknowledged write is there, read through the proxy. */
    long long checked = 0;
    for (int base = 0; base < RS_KEYS; base += 1000) {
        int n = 0, idx[1000];
        for (int i = base; i < base + 1000; i++)
            if (ld.last[i] >= 0) {
                idx[n++] = i;
                redisAppendCommand(c, "GET rk:%d", i);
            }
        for (int j = 0; j < n; j++) {
            ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            ck_assert_msg(r->type == REDIS_REPLY_STRING && atoi(r->str) == ld.last[idx[j]],
                          "acknowledged write rk:%d = %d lost (type %d, %s)", idx[j],
                          ld.last[idx[j]], r->type, r->type == REDIS_REPLY_STRING ? r->str : "");
            freeReplyObject(r);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 1000);
    redisFree(c);
    /* The workers batched their waits, and no node connection is left counted as owing replies
     * (its figures are copied once a second). */
    h_sleep_ms(1200);
    ck_assert_int_eq(h_info_num(port, "io_replies_due"), 0);
    if (h_info_num(port, "io_batch_us") > 0) ck_assert_int_gt(h_info_num(port, "io_batch_waits"), 0);
    free(ld.last);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-reshard.log"), 0);
    h_cluster_stop("reshard");
}
END_TEST

Suite *reshard_suite(void)
{
    Suite *s = suite_create("reshard");
    TCase *tc = tcase_create("reshard");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_reshard_under_load);
    suite_add_tcase(s, tc);
    return s;
}
