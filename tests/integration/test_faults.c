/*
 * Faults (issue 7, "Resilience"): a node paused with SIGSTOP for longer than -backend-timeout, a
 * master killed and restarted before the cluster fails it over, every node down and then back, a
 * startup node that never existed, and a SIGKILL failover under load, measured.
 *
 * The suite runs its own 3-master/3-replica cluster on FT_BASE..FT_BASE+5, started once by an
 * unchecked fixture (in the runner, so it outlives each forked test) and stopped by pid at the
 * end. Each test starts with ft_heal(), which resumes paused nodes, restarts dead ones and waits
 * for a healthy cluster, so one test's failure does not cascade. Nothing is asserted while a node
 * is paused: the results are gathered, the node resumed, and then the assertions run.
 *
 * The figures (timings, error counts) go to stderr as "faults: ..." lines for the test log.
 * tests/integration/test_failover.c covers the single-request view of a failover (transactions,
 * blocked clients, /readyz, log rate limits); test_startup.c covers unreachable startup ports.
 */
#include "crc16.h"
#include "harness.h"
#include "suites.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FT_BASE    21701
#define FT_NODES   6
#define FT_PROXY   21711 /* and FT_PROXY + 1 */
#define FT_DEBUG   21713 /* the debug port of the proxy on FT_PROXY */
#define FT_NOBODY  21719 /* nothing listens here */
#define FT_NAME    "faults"
#define FT_SLOTS   16384
#define FT_BATCH   16 /* requests a load client pipelines at once */
#define FT_LOST    "lost before its reply"
#define FT_TIMEOUT "did not answer within 1000 ms (-backend-timeout)"
/* A request held (not sent) while its node is suspect, failed after -backend-timeout too. */
#define FT_STALLED "has answered nothing for 1000 ms (-backend-timeout); the command was not sent"

static int ft_cluster_started;
static int ft_owner[FT_SLOTS];         /* the master port of each slot */
static char ft_slot_key[FT_SLOTS][16]; /* a key of each slot */

/* ---- the cluster ---- */

static void ft_cluster_up(void)
{
    ft_cluster_started = h_cluster_start(FT_NAME, FT_BASE) == 0;
}

static void ft_cluster_down(void)
{
    h_cluster_stop(FT_NAME);
}

static pid_t ft_pid(int port)
{
    return h_cluster_pid(FT_NAME, port);
}

/* Starts the node on port again, as cluster.sh started it; returns once it answers PING. */
static int ft_restart(int port)
{
    return h_sh("%s restart %s/%s %d >>%s/%s.restart.log 2>&1", PX_CLUSTER_SCRIPT, h_env.workdir,
                FT_NAME, port, h_env.workdir, FT_NAME);
}

/* The text of a command's reply on the node on port ("" when it does not answer); free it. */
static char *ft_node_text(int port, const char *cmd)
{
    redisContext *c = h_connect_quick(port, 300);
    redisReply *r = c ? redisCommand(c, cmd) : NULL;
    char *s =
        strdup(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : "");
    if (r) freeReplyObject(r);
    if (c) redisFree(c);
    return s;
}

static int ft_node_ok(int port)
{
    char *s = ft_node_text(port, "CLUSTER INFO");
    int ok = strstr(s, "cluster_state:ok") != NULL;
    free(s);
    return ok;
}

static int ft_node_pings(int port)
{
    redisContext *c = h_connect_quick(port, 300);
    redisReply *r = c ? redisCommand(c, "PING") : NULL;
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r) freeReplyObject(r);
    if (c) redisFree(c);
    return ok;
}

/* Healthy: every node up and cluster_state:ok, no node flagged fail by anyone, three masters with
 * one connected replica each. */
static int ft_cluster_healthy(void)
{
    int masters = 0, linked = 0;
    for (int i = 0; i < FT_NODES; i++) {
        int port = FT_BASE + i;
        if (!ft_node_ok(port)) return 0;
        char *nodes = ft_node_text(port, "CLUSTER NODES");
        int failed = strstr(nodes, "fail") || strstr(nodes, "noaddr") ||
                     strstr(nodes, "disconnected") || !nodes[0];
        free(nodes);
        if (failed) return 0;
        char *repl = ft_node_text(port, "INFO replication");
        if (strstr(repl, "role:master") && strstr(repl, "connected_slaves:1")) masters++;
        if (strstr(repl, "role:slave") && strstr(repl, "master_link_status:up")) linked++;
        free(repl);
    }
    return masters == 3 && linked == 3;
}

/* CONFIG SET name value on every node that answers. */
static void ft_config_all(const char *name, const char *value)
{
    for (int i = 0; i < FT_NODES; i++) {
        redisContext *c = h_connect_quick(FT_BASE + i, 300);
        if (!c) continue;
        redisReply *r = redisCommand(c, "CONFIG SET %s %s", name, value);
        if (r) freeReplyObject(r);
        redisFree(c);
    }
}

/* Starts the proxy on FT_PROXY with the second node as its only startup node. */
static pid_t ft_proxy_start(const char *const *extra, const char *log)
{
    char startup[32];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", FT_BASE + 1);
    pid_t pid = h_proxy_start(FT_PROXY, startup, extra, log);
    ck_assert_int_gt(pid, 0);
    return pid;
}

/* Sends sig to the node on port (never to a pid that is not a node's). */
static void ft_kill(int port, int sig)
{
    pid_t p = ft_pid(port);
    ck_assert_msg(p > 0, "no pid for node %d", port);
    ck_assert_int_eq(kill(p, sig), 0);
}

static void ft_cont_all(void)
{
    for (int i = 0; i < FT_NODES; i++) {
        pid_t p = ft_pid(FT_BASE + i);
        if (p > 0) kill(p, SIGCONT);
    }
}

/* Reads the slot map from any node into ft_owner. */
static void ft_load_slots(void)
{
    for (int i = 0; i < FT_NODES; i++) {
        redisContext *c = h_connect_quick(FT_BASE + i, 300);
        if (!c) continue;
        redisReply *r = redisCommand(c, "CLUSTER SLOTS");
        int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
        for (size_t k = 0; ok && k < r->elements; k++) {
            redisReply *e = r->element[k];
            for (long long s = e->element[0]->integer; s <= e->element[1]->integer; s++)
                ft_owner[s] = (int)e->element[2]->element[1]->integer;
        }
        if (r) freeReplyObject(r);
        redisFree(c);
        if (ok) return;
    }
    ck_abort_msg("no node answered CLUSTER SLOTS");
}

/* The checked fixture: resumes paused nodes, restarts dead ones, waits (up to 60 s) for a healthy
 * cluster, and makes failovers slow (node timeout 20 s) so that only the test that wants one gets
 * one. */
static void ft_heal(void)
{
    ck_assert_msg(ft_cluster_started, "the faults cluster did not start; see %s/%s.start.log",
                  h_env.workdir, FT_NAME);
    ft_cont_all();
    for (int i = 0; i < FT_NODES; i++)
        if (!ft_node_pings(FT_BASE + i))
            ck_assert_msg(ft_restart(FT_BASE + i) == 0, "cannot restart node %d", FT_BASE + i);
    int healthy = 0;
    for (uint64_t t0 = h_now_ms(); !healthy && h_now_ms() - t0 < 60000;) {
        healthy = ft_cluster_healthy();
        if (!healthy) h_sleep_ms(100);
    }
    ck_assert_msg(healthy, "the faults cluster is not healthy at the start of the test");
    ft_config_all("cluster-node-timeout", "20000");
    ft_config_all("cluster-require-full-coverage", "yes");
    ft_load_slots();
    if (!ft_slot_key[0][0]) {
        int left = FT_SLOTS;
        for (unsigned i = 0; left > 0; i++) {
            char k[16];
            snprintf(k, sizeof(k), "s:%u", i);
            unsigned slot = crc16_key_slot(k, strlen(k));
            if (ft_slot_key[slot][0]) continue;
            memcpy(ft_slot_key[slot], k, sizeof(k));
            left--;
        }
    }
}

/* The n-th key (from 0) of the form prefix:i whose slot the master on port serves, or whose slot
 * it does not serve (other != 0). */
static void ft_key(const char *prefix, int port, int other, int n, char *key, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(key, len, "%s:%d", prefix, i);
        int mine = ft_owner[crc16_key_slot(key, strlen(key))] == port;
        if (mine != !other) continue;
        if (n-- == 0) return;
    }
}

/* Connects to port with a timeout of secs for the connection and every reply, from a test's
 * helper thread (no ck_assert there). NULL, with "cannot connect" in err, when it cannot. */
static redisContext *ft_connect(int port, int secs, char *err, size_t errlen)
{
    struct timeval tv = {secs, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* Sends SET for a key of every slot through the proxy on port, pipelined. Returns how many were
 * answered OK; *first_err gets the first other answer (empty when none). */
static int ft_set_every_slot(int port, const char *val, char *first_err, size_t errlen)
{
    first_err[0] = '\0';
    redisContext *c = ft_connect(port, 10, first_err, errlen);
    if (!c) return 0;
    int ok = 0;
    for (int base = 0; base < FT_SLOTS; base += 1024) {
        for (int s = base; s < base + 1024; s++)
            redisAppendCommand(c, "SET %s %s", ft_slot_key[s], val);
        for (int s = base; s < base + 1024; s++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                if (!first_err[0]) snprintf(first_err, errlen, "connection: %s", c->errstr);
                redisFree(c);
                return ok;
            }
            if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
                ok++;
            else if (!first_err[0])
                snprintf(first_err, errlen, "slot %d: %s", s,
                         r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)");
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return ok;
}

/* ---- a client of the healthy slots: SET then GET, one round trip each pair ---- */

struct ft_steady {
    pthread_t th;
    int port;
    int victim;          /* the keys it uses are served by other masters */
    atomic_int stop;     /* relaxed: a flag read in a loop, nothing else published through it */
    atomic_int phase;    /* relaxed: 0 before the fault, 1 during it, 2 after it */
    atomic_int window;   /* relaxed: 1 while the fault is at its worst (set only by its test) */
    long ops[3];         /* SET+GET pairs per phase */
    long in_window;      /* pairs sent and answered while window was 1 */
    uint64_t max_lat[3]; /* slowest pair per phase, ms */
    long errors, wrong;
    char first[256]; /* the first error or wrong reply */
};

static void *ft_steady_main(void *arg)
{
    struct ft_steady *s = arg;
    redisContext *c = ft_connect(s->port, 10, s->first, sizeof(s->first));
    if (!c) {
        s->errors++;
        return NULL;
    }
    char keys[64][32];
    for (int i = 0; i < 64; i++) ft_key("ft:steady", s->victim, 1, i, keys[i], sizeof(keys[i]));
    for (long n = 0; !atomic_load_explicit(&s->stop, memory_order_relaxed); n++) {
        int ph = atomic_load_explicit(&s->phase, memory_order_relaxed);
        int win = atomic_load_explicit(&s->window, memory_order_relaxed);
        const char *key = keys[n % 64];
        char val[64];
        snprintf(val, sizeof(val), "%s=%ld", key, n);
        uint64_t t0 = h_now_ms();
        redisAppendCommand(c, "SET %s %s", key, val);
        redisAppendCommand(c, "GET %s", key);
        redisReply *r1 = NULL, *r2 = NULL;
        if (redisGetReply(c, (void **)&r1) != REDIS_OK ||
            redisGetReply(c, (void **)&r2) != REDIS_OK) {
            snprintf(s->first, sizeof(s->first), "connection: %s", c->errstr);
            s->errors++;
            if (r1) freeReplyObject(r1);
            break;
        }
        uint64_t lat = h_now_ms() - t0;
        if (lat > s->max_lat[ph]) s->max_lat[ph] = lat;
        s->ops[ph]++;
        if (win == 1 && atomic_load_explicit(&s->window, memory_order_relaxed) == 1) s->in_window++;
        if (r1->type == REDIS_REPLY_ERROR || r2->type == REDIS_REPLY_ERROR) {
            if (!s->errors && !s->wrong)
                snprintf(s->first, sizeof(s->first), "%s",
                         r1->type == REDIS_REPLY_ERROR ? r1->str : r2->str);
            s->errors++;
        } else if (r1->type != REDIS_REPLY_STATUS || strcmp(r1->str, "OK") != 0 ||
                   r2->type != REDIS_REPLY_STRING || strcmp(r2->str, val) != 0) {
            if (!s->errors && !s->wrong)
                snprintf(s->first, sizeof(s->first), "GET %s answered %s, want %s", key,
                         r2->type == REDIS_REPLY_STRING ? r2->str : "(not a string)", val);
            s->wrong++;
        }
        freeReplyObject(r1);
        freeReplyObject(r2);
    }
    redisFree(c);
    return NULL;
}

static void ft_steady_start(struct ft_steady *s, int port, int victim)
{
    memset(s, 0, sizeof(*s));
    s->port = port;
    s->victim = victim;
    ck_assert_int_eq(pthread_create(&s->th, NULL, ft_steady_main, s), 0);
}

static void ft_steady_stop(struct ft_steady *s)
{
    atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
    pthread_join(s->th, NULL);
}

/* ---- 4. startup nodes that never existed (test_startup.c has ports nobody listens on) ---- */

START_TEST(test_startup_bogus_names)
{
    /* A name that does not resolve and a port nobody listens on, then a real node. */
    char startup[160];
    snprintf(startup, sizeof(startup), "nonexistent.invalid:7000,127.0.0.1:%d,127.0.0.1:%d",
             FT_NOBODY, FT_BASE + 2);
    const char *extra[] = {"-threads", "1", "-connect-timeout", "500ms", NULL};
    pid_t pid = h_proxy_start(FT_PROXY, startup, extra, "proxy-faults-names.log");
    ck_assert_int_gt(pid, 0);
    char err[256];
    int ok = ft_set_every_slot(FT_PROXY, "names", err, sizeof(err));
    ck_assert_msg(ok == FT_SLOTS, "%d of %d slots served; first error: %s", ok, FT_SLOTS, err);
    redisContext *c = h_connect(FT_PROXY);
    h_expect_str(h_cmd(c, "GET %s", ft_slot_key[12345]), "names");
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-names.log"), 0);

    /* Only bogus ones: the proxy starts, answers what it can answer itself, and fails keyed
     * requests after -failover-hold with the no-slot-map error. */
    snprintf(startup, sizeof(startup), "nonexistent.invalid:7000,127.0.0.1:%d", FT_NOBODY);
    const char *extra2[] = {"-threads", "1", "-connect-timeout", "200ms", "-failover-hold",
                            "500ms",    NULL};
    pid = h_proxy_start(FT_PROXY, startup, extra2, "proxy-faults-bogus.log");
    ck_assert_int_gt(pid, 0);
    c = h_connect(FT_PROXY);
    h_expect_str(h_cmd(c, "PING"), "PONG");
    uint64_t t0 = h_now_ms();
    redisReply *r = h_cmd(c, "SET foo bar");
    uint64_t dt = h_now_ms() - t0;
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strstr(r->str, "CLUSTERDOWN") == r->str && strstr(r->str, "no slot map yet"),
                  "%s", r->str);
    fprintf(stderr, "faults: only bogus startup nodes: SET answered after %llu ms: %s\n",
            (unsigned long long)dt, r->str);
    freeReplyObject(r);
    ck_assert_msg(dt >= 400 && dt < 3000, "the error took %llu ms (-failover-hold 500ms)",
                  (unsigned long long)dt);
    /* A request for every master fails the same way instead of hanging. */
    r = h_cmd(c, "DBSIZE");
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, "CLUSTERDOWN") == r->str,
                  "DBSIZE: type %d %s", r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    h_expect_str(h_cmd(c, "ECHO still"), "still");
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-bogus.log"), 0);
}
END_TEST

/* ---- 1. a node paused (SIGSTOP) for longer than -backend-timeout ---- */

START_TEST(test_sigstop_backend_timeout)
{
    /* One worker: both clients share it, so a stuck node must not hold up the others. */
    const char *extra[] = {"-threads", "1", "-backend-timeout", "1s", NULL};
    pid_t pid = ft_proxy_start(extra, "proxy-faults-stop.log");
    int victim = ft_owner[0];
    char akeys[FT_BATCH][32], want[FT_BATCH][48];
    redisContext *a = h_connect(FT_PROXY);
    for (int i = 0; i < FT_BATCH; i++) {
        ft_key("ft:stop", victim, 0, i, akeys[i], sizeof(akeys[i]));
        snprintf(want[i], sizeof(want[i]), "v=%.31s", akeys[i]);
        h_expect_str(h_cmd(a, "SET %s %s", akeys[i], want[i]), "OK");
    }
    struct ft_steady b;
    ft_steady_start(&b, FT_PROXY, victim);
    h_sleep_ms(500);

    /* Nothing is asserted while the node is paused: gather, resume, then check. */
    pid_t vpid = ft_pid(victim);
    ck_assert_int_gt(vpid, 0);
    ck_assert_int_eq(kill(vpid, SIGSTOP), 0);
    uint64_t t_stop = h_now_ms();
    atomic_store_explicit(&b.phase, 1, memory_order_relaxed);
    int batches = 0, timeouts = 0, other = 0, broken = 0;
    uint64_t min_dt = UINT64_MAX, max_dt = 0;
    char other_text[256] = "";
    while (h_now_ms() - t_stop < 2500 && !broken) {
        for (int i = 0; i < FT_BATCH; i++) redisAppendCommand(a, "GET %s", akeys[i]);
        uint64_t t0 = h_now_ms();
        for (int i = 0; i < FT_BATCH && !broken; i++) {
            redisReply *r = NULL;
            if (redisGetReply(a, (void **)&r) != REDIS_OK) {
                snprintf(other_text, sizeof(other_text), "connection: %s", a->errstr);
                broken = 1;
                break;
            }
            uint64_t dt = h_now_ms() - t0;
            if (r->type == REDIS_REPLY_ERROR &&
                (strstr(r->str, FT_TIMEOUT) || strstr(r->str, FT_STALLED))) {
                timeouts++;
                if (dt < min_dt) min_dt = dt;
                if (dt > max_dt) max_dt = dt;
            } else {
                other++;
                if (!other_text[0])
                    snprintf(other_text, sizeof(other_text), "type %d: %s", r->type,
                             r->str ? r->str : "");
            }
            freeReplyObject(r);
        }
        batches++;
    }
    uint64_t stopped_ms = h_now_ms() - t_stop;
    kill(vpid, SIGCONT);
    uint64_t t_cont = h_now_ms();
    atomic_store_explicit(&b.phase, 2, memory_order_relaxed);

    /* The node's slots work again soon after it resumes. */
    uint64_t back = 0;
    while (!broken && !back && h_now_ms() - t_cont < 5000) {
        redisReply *r = redisCommand(a, "GET %s", akeys[0]);
        if (!r) break;
        if (r->type == REDIS_REPLY_STRING && strcmp(r->str, want[0]) == 0)
            back = h_now_ms() - t_cont;
        else
            h_sleep_ms(20);
        freeReplyObject(r);
    }
    h_sleep_ms(300);
    ft_steady_stop(&b);
    fprintf(stderr,
            "faults: SIGSTOP %llu ms with -backend-timeout 1s: %d batches, %d timeout errors "
            "after %llu..%llu ms, %d other replies; other masters: %ld ops during the pause, "
            "slowest %llu ms (before: %llu ms), %ld errors; node's slots back %llu ms after "
            "SIGCONT\n",
            (unsigned long long)stopped_ms, batches, timeouts,
            (unsigned long long)(timeouts ? min_dt : 0), (unsigned long long)max_dt, other,
            b.ops[1], (unsigned long long)b.max_lat[1], (unsigned long long)b.max_lat[0],
            b.errors + b.wrong, (unsigned long long)back);

    ck_assert_msg(!broken, "the paused node's client lost its connection: %s", other_text);
    ck_assert_msg(other == 0, "%d replies other than the timeout error, first: %s", other,
                  other_text);
    ck_assert_int_ge(batches, 2);
    ck_assert_int_eq(timeouts, batches * FT_BATCH);
    ck_assert_msg(min_dt >= 900 && max_dt <= 2500, "timeout errors after %llu..%llu ms, want ~1 s",
                  (unsigned long long)min_dt, (unsigned long long)max_dt);
    ck_assert_msg(b.errors == 0 && b.wrong == 0, "other masters: %ld errors, %ld wrong: %s",
                  b.errors, b.wrong, b.first);
    ck_assert_msg(b.ops[1] >= 20, "only %ld requests to the other masters during the pause",
                  b.ops[1]);
    /* No head-of-line blocking: the other masters stay as quick as before the pause (generous,
     * for sanitizer builds), far below the 1 s the paused node makes its clients wait. */
    /* Held behind the frozen master, they would wait seconds (the freeze lasts until the
     * promotion); a woken master's full resync and a sanitizer build on two shared CPUs can
     * still cost a few hundred milliseconds, which is not what this checks. */
    uint64_t limit = b.max_lat[0] * 5 > 1000 ? b.max_lat[0] * 5 : 1000;
    ck_assert_msg(b.max_lat[1] <= limit, "requests to healthy masters took up to %llu ms",
                  (unsigned long long)b.max_lat[1]);
    ck_assert_msg(back && back <= 2000, "the node's slots were not served again within 2 s");
    for (int i = 0; i < FT_BATCH; i++) h_expect_str(h_cmd(a, "GET %s", akeys[i]), want[i]);
    h_expect_str(h_cmd(a, "SET %s after", akeys[0]), "OK");
    h_expect_str(h_cmd(a, "GET %s", akeys[0]), "after");
    redisFree(a);
    ck_assert_int_ge(h_info_num(FT_PROXY, "backend_timeouts"), 1);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-stop.log"), 0);
}
END_TEST

/* ---- 2. a master killed and restarted before the cluster fails it over ---- */

/* One client pipelining RPUSH list c (c counting up) to one key: the replies say in which order
 * the node ran them, and the list afterwards says what it ran. */
struct ft_pusher {
    pthread_t th;
    int port;
    char key[32];
    atomic_int stop; /* relaxed: a flag */
    long n;          /* pushes sent */
    struct ft_push {
        long long len;  /* the reply: the list's length, or -1 for an error */
        uint64_t t_rep; /* when the reply came */
        int lost;       /* the error was "connection lost" */
    } * rec;
    long cap;
    long other_errors;
    char first_err[256];
};

static void *ft_pusher_main(void *arg)
{
    struct ft_pusher *p = arg;
    redisContext *c = ft_connect(p->port, 15, p->first_err, sizeof(p->first_err));
    if (!c) {
        p->other_errors++;
        return NULL;
    }
    while (!atomic_load_explicit(&p->stop, memory_order_relaxed) && p->n + FT_BATCH <= p->cap) {
        for (int i = 0; i < FT_BATCH; i++) redisAppendCommand(c, "RPUSH %s %ld", p->key, p->n + i);
        for (int i = 0; i < FT_BATCH; i++, p->n++) {
            redisReply *r = NULL;
            struct ft_push *e = &p->rec[p->n];
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                snprintf(p->first_err, sizeof(p->first_err), "connection: %s", c->errstr);
                p->other_errors++;
                redisFree(c);
                return NULL;
            }
            e->t_rep = h_now_ms();
            e->len = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
            if (r->type == REDIS_REPLY_ERROR && strstr(r->str, FT_LOST)) {
                e->lost = 1;
            } else if (r->type != REDIS_REPLY_INTEGER) {
                if (!p->other_errors)
                    snprintf(p->first_err, sizeof(p->first_err), "RPUSH %ld: type %d %s", p->n,
                             r->type, r->str ? r->str : "");
                p->other_errors++;
            }
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return NULL;
}

START_TEST(test_master_restarted)
{
    const char *extra[] = {"-threads", "2", NULL};
    pid_t pid = ft_proxy_start(extra, "proxy-faults-restart.log");
    int victim = ft_owner[FT_SLOTS - 1];
    struct ft_pusher p = {.port = FT_PROXY, .cap = 1000000};
    ft_key("ft:restart", victim, 0, 0, p.key, sizeof(p.key));
    p.rec = calloc((size_t)p.cap, sizeof(*p.rec));
    redisContext *c = h_connect(FT_PROXY);
    freeReplyObject(h_cmd(c, "DEL %s", p.key));
    redisFree(c);
    long long held0 = h_info_num(FT_PROXY, "requests_held");
    struct ft_steady b;
    ft_steady_start(&b, FT_PROXY, victim);
    ck_assert_int_eq(pthread_create(&p.th, NULL, ft_pusher_main, &p), 0);
    h_sleep_ms(500);

    /* A second client's pipeline, sent while the node is down, is held whole. */
    char key2[32];
    ft_key("ft:restart", victim, 0, 1, key2, sizeof(key2));
    redisContext *c2 = h_connect(FT_PROXY);
    freeReplyObject(h_cmd(c2, "DEL %s", key2));
    ft_kill(victim, SIGKILL);
    uint64_t t_kill = h_now_ms();
    atomic_store_explicit(&b.phase, 1, memory_order_relaxed);
    h_sleep_ms(100);
    for (int i = 1; i <= 2 * FT_BATCH; i++) redisAppendCommand(c2, "RPUSH %s %d", key2, i);
    int wdone = 0;
    while (!wdone && redisBufferWrite(c2, &wdone) == REDIS_OK) {
    }
    h_sleep_ms(200);
    int restarted = ft_restart(victim) == 0;
    uint64_t t_ping = h_now_ms(), t_ok = 0;
    while (restarted && !t_ok && h_now_ms() - t_ping < 10000) {
        if (ft_node_ok(victim))
            t_ok = h_now_ms();
        else
            h_sleep_ms(10);
    }
    h_sleep_ms(1000);
    atomic_store_explicit(&p.stop, 1, memory_order_relaxed);
    pthread_join(p.th, NULL);
    atomic_store_explicit(&b.phase, 2, memory_order_relaxed);
    ft_steady_stop(&b);
    ck_assert_msg(restarted, "cluster.sh restart failed; see %s/%s.restart.log", h_env.workdir,
                  FT_NAME);
    ck_assert_msg(t_ok, "the restarted node never reported cluster_state:ok");
    /* The held pipeline ran after the restart, in the order it was sent. */
    for (int i = 1; i <= 2 * FT_BATCH; i++) {
        redisReply *r = NULL;
        ck_assert_int_eq(redisGetReply(c2, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer == i,
                      "held RPUSH %d answered type %d (%lld) %s", i, r->type, r->integer,
                      r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
    }
    redisReply *l2 = h_cmd(c2, "LRANGE %s 0 -1", key2);
    ck_assert_int_eq(l2->elements, 2 * FT_BATCH);
    for (int i = 0; i < 2 * FT_BATCH; i++)
        ck_assert_msg(atoi(l2->element[i]->str) == i + 1,
                      "held pushes ran out of order: list[%d] is %s", i, l2->element[i]->str);
    freeReplyObject(l2);
    redisFree(c2);

    /* The list holds what the node ran after the restart (it came back empty: no persistence).
     * Those pushes are the ones answered from the last length 1 on, and the node must have run
     * them in the order the client sent them. */
    long first_post = -1, lost = 0;
    for (long i = 0; i < p.n; i++) {
        if (p.rec[i].lost) lost++;
        if (p.rec[i].len == 1) first_post = i;
    }
    ck_assert_msg(p.other_errors == 0, "%ld errors other than connection lost; first: %s",
                  p.other_errors, p.first_err);
    ck_assert_msg(first_post > 0, "no push answered after the restart (%ld sent)", p.n);
    /* Before the kill, too, the node ran them in order. */
    long long expect = 0;
    for (long i = 0; i < first_post; i++) {
        if (p.rec[i].len < 0) continue;
        ck_assert_msg(p.rec[i].len == ++expect,
                      "push %ld answered length %lld, want %lld (before the last length 1: pushes "
                      "ran out of order)",
                      i, p.rec[i].len, expect);
    }
    c = h_connect(FT_PROXY);
    redisReply *l = h_cmd(c, "LRANGE %s 0 -1", p.key);
    ck_assert_int_eq(l->type, REDIS_REPLY_ARRAY);
    ck_assert_msg((long)l->elements == p.n - first_post, "list has %zu, %ld pushes answered since",
                  l->elements, p.n - first_post);
    for (long i = first_post; i < p.n; i++) {
        ck_assert_msg(p.rec[i].len == i - first_post + 1, "push %ld answered %lld, want %ld", i,
                      p.rec[i].len, i - first_post + 1);
        long got = atol(l->element[i - first_post]->str);
        ck_assert_msg(got == i, "list[%ld] is push %ld, want %ld: pushes ran out of order",
                      i - first_post, got, i);
    }
    freeReplyObject(l);
    redisFree(c);
    uint64_t t_back = p.rec[first_post].t_rep;
    long long held = h_info_num(FT_PROXY, "requests_held") - held0;
    fprintf(stderr,
            "faults: master killed, restarted %llu ms later: %ld connection-lost errors, %lld "
            "requests held, first push served %llu ms after the node answered PING, %lld ms "
            "after its cluster_state:ok; other masters: %ld ops, slowest %llu ms, %ld errors\n",
            (unsigned long long)(t_ping - t_kill), lost, held,
            (unsigned long long)(t_back - t_ping), (long long)t_back - (long long)t_ok, b.ops[1],
            (unsigned long long)b.max_lat[1], b.errors + b.wrong);
    ck_assert_msg(lost <= FT_BATCH, "%ld connection-lost errors, more than were in flight", lost);
    /* Each held request counts once, however many passes it waited: the pipeline, and what
     * the pusher had sent since the kill. */
    long since_kill = 0;
    for (long i = 0; i < p.n; i++) since_kill += p.rec[i].t_rep >= t_kill && !p.rec[i].lost;
    ck_assert_msg(held >= 2 * FT_BATCH && held <= 2 * FT_BATCH + since_kill,
                  "requests_held rose by %lld (%d held in a pipeline, %ld pushes since the kill)",
                  held, 2 * FT_BATCH, since_kill);
    /* A restarted master refuses requests for about 2 s (Redis's writable delay); the proxy
     * must serve its slots as soon as the node does. */
    ck_assert_msg(t_back <= t_ok + 2000, "served %llu ms after the node's cluster_state:ok",
                  (unsigned long long)(t_back - t_ok));
    ck_assert_msg(b.errors == 0 && b.wrong == 0, "other masters: %ld errors, %ld wrong: %s",
                  b.errors, b.wrong, b.first);
    free(p.rec);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-restart.log"), 0);
}
END_TEST

/* A client that streams writes without waiting for replies while its master restarts (and then
 * answers CLUSTERDOWN for a while): every write that runs, runs in the order it was sent. A held
 * or retried request holds back the client's later requests, as one Redis connection would. */
START_TEST(test_streaming_writes_stay_in_order)
{
    const char *extra[] = {"-threads", "2", "-failover-hold", "10s", NULL};
    pid_t pid = ft_proxy_start(extra, "proxy-faults-stream.log");
    int victim = ft_owner[FT_SLOTS - 1];
    char key[32];
    ft_key("ft:stream", victim, 0, 0, key, sizeof(key));
    redisContext *c = h_connect(FT_PROXY);
    freeReplyObject(h_cmd(c, "DEL %s", key));
    redisFree(c);
    int fd = h_tcp_connect(FT_PROXY, 0);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    long sent = 0, replies = 0, errors = 0;
    static char in[1 << 20];
    size_t inlen = 0;
    uint64_t t0 = h_now_ms(), t_ok = 0;
    int phase = 0; /* 0 before the kill, 1 down, 2 restarted */
    for (;;) {
        uint64_t now = h_now_ms();
        if (phase == 0 && now - t0 > 300) {
            ft_kill(victim, SIGKILL);
            phase = 1;
        } else if (phase == 1 && now - t0 > 600) {
            ck_assert_int_eq(ft_restart(victim), 0);
            phase = 2;
        } else if (phase == 2 && !t_ok && ft_node_ok(victim)) {
            t_ok = h_now_ms();
        }
        if (t_ok && now - t_ok > 1000) break;
        ck_assert_msg(now - t0 < 20000, "the node did not come back");
        char req[96];
        int n = snprintf(req, sizeof(req), "*3\r\n$5\r\nRPUSH\r\n$%zu\r\n%s\r\n$%d\r\n%ld\r\n",
                         strlen(key), key, snprintf(NULL, 0, "%ld", sent), sent);
        if (write(fd, req, (size_t)n) == n) sent++;
        ssize_t r = read(fd, in + inlen, sizeof(in) - inlen);
        if (r > 0) inlen += (size_t)r;
        for (char *p; (p = memchr(in, '\n', inlen));) {
            replies++;
            if (in[0] == '-') errors++;
            size_t used = (size_t)(p - in) + 1;
            memmove(in, in + used, inlen - used);
            inlen -= used;
        }
        h_sleep_ms(1);
    }
    /* Every push is answered (nothing is dropped), then the list is checked. */
    uint64_t end = h_now_ms() + 15000;
    while (replies < sent && h_now_ms() < end) {
        ssize_t r = read(fd, in + inlen, sizeof(in) - inlen);
        if (r > 0) inlen += (size_t)r;
        for (char *p; (p = memchr(in, '\n', inlen));) {
            replies++;
            if (in[0] == '-') errors++;
            size_t used = (size_t)(p - in) + 1;
            memmove(in, in + used, inlen - used);
            inlen -= used;
        }
        if (r <= 0) h_sleep_ms(5);
    }
    close(fd);
    ck_assert_int_eq(replies, sent);
    c = h_connect(FT_PROXY);
    redisReply *l = h_cmd(c, "LRANGE %s 0 -1", key);
    long inversions = 0, prev = -1;
    for (size_t i = 0; i < l->elements; i++) {
        long v = atol(l->element[i]->str);
        if (v <= prev) inversions++;
        prev = v;
    }
    fprintf(stderr,
            "faults: streaming pusher across a master restart: %ld sent, %ld errors, %zu in the "
            "list, %ld out of order\n",
            sent, errors, l->elements, inversions);
    ck_assert_msg(inversions == 0, "%ld pushes ran out of order", inversions);
    ck_assert_int_gt(l->elements, 0);
    freeReplyObject(l);
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-stream.log"), 0);
}
END_TEST

/* ---- 3. every node down, then back ---- */

static int ft_readyz(int dport)
{
    struct h_http hh;
    h_http(dport, "GET", "/readyz", 5000, &hh);
    int st = hh.status;
    h_http_free(&hh);
    return st;
}

START_TEST(test_all_nodes_down)
{
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d,127.0.0.1:%d", FT_BASE, FT_BASE + 1);
    char dbg[32];
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", FT_DEBUG);
    const char *extra[] = {"-threads", "2", "-failover-hold", "1s", "-debug-addr", dbg, NULL};
    pid_t pid = h_proxy_start(FT_PROXY, startup, extra, "proxy-faults-down.log");
    ck_assert_int_gt(pid, 0);
    char err[256];
    int ok = ft_set_every_slot(FT_PROXY, "before", err, sizeof(err));
    ck_assert_msg(ok == FT_SLOTS, "%d of %d slots served before; first error: %s", ok, FT_SLOTS,
                  err);

    for (int i = 0; i < FT_NODES; i++) ft_kill(FT_BASE + i, SIGKILL);
    uint64_t t_kill = h_now_ms();
    /* A second proxy started now knows no slot map; it must pick one up once the cluster is
     * back (its first startup node does not resolve). */
    char startup2[128];
    snprintf(startup2, sizeof(startup2), "nonexistent.invalid:%d,127.0.0.1:%d,127.0.0.1:%d",
             FT_BASE, FT_BASE + 3, FT_BASE + 4);
    const char *extra2[] = {"-threads", "1", "-failover-hold", "1s", "-connect-timeout",
                            "500ms",    NULL};
    pid_t pid2 = h_proxy_start(FT_PROXY + 1, startup2, extra2, "proxy-faults-down2.log");
    ck_assert_int_gt(pid2, 0);

    redisContext *c = h_connect(FT_PROXY);
    h_expect_str(h_cmd(c, "PING"), "PONG");
    struct h_http hh;
    h_http(FT_DEBUG, "GET", "/healthz", 5000, &hh);
    ck_assert_int_eq(hh.status, 200);
    h_http_free(&hh);
    int unready = 0;
    for (uint64_t t0 = h_now_ms(); !unready && h_now_ms() - t0 < 3000; h_sleep_ms(20))
        unready = ft_readyz(FT_DEBUG) == 503;
    ck_assert_msg(unready, "/readyz did not say 503 with every node down");
    uint64_t t0 = h_now_ms();
    redisReply *r = h_cmd(c, "GET %s", ft_slot_key[100]);
    uint64_t dt = h_now_ms() - t0;
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    fprintf(stderr, "faults: every node down: GET answered after %llu ms: %s\n",
            (unsigned long long)dt, r->str);
    ck_assert_msg(strstr(r->str, "CLUSTERDOWN") == r->str && strstr(r->str, "unreachable"), "%s",
                  r->str);
    ck_assert_msg(dt >= 900 && dt < 4000, "answered after %llu ms (-failover-hold 1s)",
                  (unsigned long long)dt);
    freeReplyObject(r);
    redisContext *c2 = h_connect(FT_PROXY + 1);
    h_expect_str(h_cmd(c2, "PING"), "PONG");
    r = h_cmd(c2, "GET %s", ft_slot_key[100]);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, "no slot map yet"), "%s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)");
    freeReplyObject(r);
    redisFree(c2);

    /* Everything comes back, with its nodes.conf: the cluster re-forms as it was. */
    int restarted = 0;
    for (int i = 0; i < FT_NODES; i++) restarted += ft_restart(FT_BASE + i) == 0;
    uint64_t t_up = h_now_ms(), t_ok = 0;
    ck_assert_int_eq(restarted, FT_NODES);
    while (!t_ok && h_now_ms() - t_up < 20000) {
        int n = 0;
        for (int i = 0; i < FT_NODES; i++) n += ft_node_ok(FT_BASE + i);
        if (n == FT_NODES)
            t_ok = h_now_ms();
        else
            h_sleep_ms(20);
    }
    ck_assert_msg(t_ok, "the cluster did not become ok within 20 s of the restart");
    uint64_t served[2] = {0, 0};
    int ports[2] = {FT_PROXY, FT_PROXY + 1};
    for (int k = 0; k < 2; k++) {
        while (!served[k] && h_now_ms() - t_ok < 15000) {
            if (ft_set_every_slot(ports[k], "after", err, sizeof(err)) == FT_SLOTS)
                served[k] = h_now_ms();
            else
                h_sleep_ms(50);
        }
    }
    int ready = 0;
    for (uint64_t t1 = h_now_ms(); !ready && h_now_ms() - t1 < 5000; h_sleep_ms(50))
        ready = ft_readyz(FT_DEBUG) == 200;
    fprintf(stderr,
            "faults: every node down for %llu ms: cluster ok %llu ms after the restart; every "
            "slot served %lld ms after that (proxy started before the outage), %lld ms (proxy "
            "started during it); last error meanwhile: %s\n",
            (unsigned long long)(t_up - t_kill), (unsigned long long)(t_ok - t_up),
            served[0] ? (long long)(served[0] - t_ok) : -1LL,
            served[1] ? (long long)(served[1] - t_ok) : -1LL, err);
    ck_assert_msg(served[0] && served[0] - t_ok <= 3000,
                  "the proxy did not serve every slot within 3 s of the cluster being ok");
    /* The second proxy was checked after the first: it gets their time added. */
    ck_assert_msg(served[1] && served[1] - t_ok <= 6000,
                  "the proxy started during the outage did not serve every slot");
    ck_assert_msg(ready, "/readyz not 200 after the cluster came back");
    h_expect_str(h_cmd(c, "GET %s", ft_slot_key[100]), "after");
    h_expect_str(h_cmd(c, "PING"), "PONG");
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid2, "proxy-faults-down2.log"), 0);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-down.log"), 0);
}
END_TEST

/* ---- 5. a SIGKILL failover under load, measured ---- */

#define FT_WRITERS 4

struct ft_rec {
    uint32_t n; /* the write's counter: key ft5:<writer>:<n> */
    uint16_t slot;
    uint8_t kind;    /* FT_OK, FT_ELOST, FT_EOTHER, FT_WRONG */
    uint32_t t_send; /* ms since the test's start */
    uint32_t t_rep;
};
enum { FT_OK = 0, FT_ELOST, FT_EOTHER, FT_WRONG };

struct ft_writer {
    pthread_t th;
    int id, port;
    const char *prefix;     /* keys <prefix>:<id>:<n>; "ft5" when NULL */
    int only;               /* 0, or the port of the master whose slots alone are written to */
    const char *expect_err; /* the error counted as FT_ELOST; FT_LOST when NULL */
    uint32_t seq;           /* the next n to try */
    uint64_t t_base;
    atomic_int *stop; /* relaxed: a flag */
    struct ft_rec *rec;
    long n, cap;
    char first_other[256];
    int broken;
};

static void *ft_writer_main(void *arg)
{
    struct ft_writer *w = arg;
    redisContext *c = ft_connect(w->port, 15, w->first_other, sizeof(w->first_other));
    if (!c) {
        w->broken = 1;
        return NULL;
    }
    char key[48], val[64];
    const char *prefix = w->prefix ? w->prefix : "ft5";
    const char *expect = w->expect_err ? w->expect_err : FT_LOST;
    while (!atomic_load_explicit(w->stop, memory_order_relaxed) && w->n + FT_BATCH <= w->cap) {
        uint32_t t_send = (uint32_t)(h_now_ms() - w->t_base);
        for (int i = 0; i < FT_BATCH; i++) {
            struct ft_rec *e = &w->rec[w->n + i];
            do {
                e->n = w->seq++;
                snprintf(key, sizeof(key), "%s:%d:%u", prefix, w->id, e->n);
                e->slot = (uint16_t)crc16_key_slot(key, strlen(key));
            } while (w->only && ft_owner[e->slot] != w->only);
            snprintf(val, sizeof(val), "v=%s", key);
            e->t_send = t_send;
            redisAppendCommand(c, "SET %s %s", key, val);
        }
        for (int i = 0; i < FT_BATCH; i++, w->n++) {
            struct ft_rec *e = &w->rec[w->n];
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                w->broken = 1;
                snprintf(w->first_other, sizeof(w->first_other), "connection: %s", c->errstr);
                redisFree(c);
                return NULL;
            }
            e->t_rep = (uint32_t)(h_now_ms() - w->t_base);
            if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
                e->kind = FT_OK;
            } else if (r->type == REDIS_REPLY_ERROR && strstr(r->str, expect)) {
                e->kind = FT_ELOST;
            } else {
                e->kind = r->type == REDIS_REPLY_ERROR ? FT_EOTHER : FT_WRONG;
                if (!w->first_other[0])
                    snprintf(w->first_other, sizeof(w->first_other), "SET %s:%d:%u: type %d %s",
                             prefix, w->id, e->n, r->type, r->str ? r->str : "");
            }
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return NULL;
}

/* Reads back every acknowledged write through the proxy on port. Counts the writes missing in
 * *lost_x (the killed master's slots, acknowledged before the promotion, so by the old master:
 * lost with it when its replica had not received them yet) and *lost_bad (all others: must not
 * happen), and how long before the kill the earliest of the first kind was acknowledged in
 * *lost_window. */
static void ft_check_acked(struct ft_writer *w, int port, int victim, uint32_t t_kill,
                           uint32_t t_promo, long *lost_x, long *lost_bad, int *lost_window)
{
    redisContext *c = h_connect(port);
    char key[48], val[64];
    const char *prefix = w->prefix ? w->prefix : "ft5";
    for (long base = 0; base < w->n; base += 512) {
        long end = base + 512 < w->n ? base + 512 : w->n;
        for (long i = base; i < end; i++) {
            snprintf(key, sizeof(key), "%s:%d:%u", prefix, w->id, w->rec[i].n);
            redisAppendCommand(c, "GET %s", key);
        }
        for (long i = base; i < end; i++) {
            struct ft_rec *e = &w->rec[i];
            redisReply *r = NULL;
            ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            snprintf(key, sizeof(key), "%s:%d:%u", prefix, w->id, e->n);
            snprintf(val, sizeof(val), "v=%s", key);
            int present = r->type == REDIS_REPLY_STRING && strcmp(r->str, val) == 0;
            ck_assert_msg(present || r->type == REDIS_REPLY_NIL, "GET %s: type %d %s", key, r->type,
                          r->str ? r->str : "");
            freeReplyObject(r);
            if (e->kind != FT_OK || present) continue;
            if (ft_owner[e->slot] == victim && e->t_rep < t_promo) {
                (*lost_x)++;
                if ((int)t_kill - (int)e->t_rep > *lost_window)
                    *lost_window = (int)t_kill - (int)e->t_rep;
            } else {
                (*lost_bad)++;
            }
        }
    }
    redisFree(c);
}

START_TEST(test_failover_under_load)
{
    ft_config_all("cluster-node-timeout", "2000");
    /* Otherwise every master refuses every key (CLUSTERDOWN) from the moment the dead one is
     * flagged failed until its replica is promoted, about 1 s here: the proxy retries through
     * that without errors, but the other masters' clients stall with the whole cluster. */
    ft_config_all("cluster-require-full-coverage", "no");
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d,127.0.0.1:%d", FT_BASE, FT_BASE + 1);
    /* With a node timeout of 2 s the promotion takes 3 to 5 s here: longer than the default hold,
     * which would fail the requests sent right after the kill (test_all_nodes_down covers the
     * hold running out). */
    const char *extra[] = {"-threads", "2", "-failover-hold", "10s", NULL};
    pid_t pid = h_proxy_start(FT_PROXY, startup, extra, "proxy-faults-failover.log");
    ck_assert_int_gt(pid, 0);
    int victim = ft_owner[0];
    char id[41];
    ck_assert_int_eq(h_node_id(victim, id), 0);
    int replica = h_replica_of(victim == FT_BASE ? FT_BASE + 1 : FT_BASE, id);
    ck_assert_int_gt(replica, 0);

    /* The writers pipeline over every slot, so they stall while the dead master's requests are
     * held (replies go back in order); this client of the other masters must not. */
    struct ft_steady b;
    ft_steady_start(&b, FT_PROXY, victim);
    uint64_t t_base = h_now_ms();
    atomic_int stop = 0;
    struct ft_writer w[FT_WRITERS];
    for (int i = 0; i < FT_WRITERS; i++) {
        w[i] = (struct ft_writer){
            .id = i, .port = FT_PROXY, .t_base = t_base, .stop = &stop, .cap = 1000000};
        w[i].rec = calloc((size_t)w[i].cap, sizeof(*w[i].rec));
        ck_assert_int_eq(pthread_create(&w[i].th, NULL, ft_writer_main, &w[i]), 0);
    }
    h_sleep_ms(1000);
    ft_kill(victim, SIGKILL);
    atomic_store_explicit(&b.phase, 1, memory_order_relaxed);
    uint32_t t_kill = (uint32_t)(h_now_ms() - t_base), t_promo = 0;
    while (!t_promo && h_now_ms() - t_base < t_kill + 20000u) {
        if (h_is_master(replica))
            t_promo = (uint32_t)(h_now_ms() - t_base);
        else
            h_sleep_ms(10);
    }
    h_sleep_ms(3000);
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    for (int i = 0; i < FT_WRITERS; i++) pthread_join(w[i].th, NULL);
    atomic_store_explicit(&b.phase, 2, memory_order_relaxed);
    ft_steady_stop(&b);
    ck_assert_msg(t_promo, "the replica on %d was not promoted within 20 s", replica);

    /* The slowest batch before the kill sets what "slow" means for this build. */
    uint32_t base_max = 0;
    long total = 0, to_x = 0, lost = 0, other = 0, wrong = 0;
    for (int i = 0; i < FT_WRITERS; i++)
        for (long k = 0; k < w[i].n; k++)
            if (w[i].rec[k].t_rep < t_kill && w[i].rec[k].t_rep - w[i].rec[k].t_send > base_max)
                base_max = w[i].rec[k].t_rep - w[i].rec[k].t_send;
    uint32_t slow = base_max * 5 > 250 ? base_max * 5 : 250;
    uint32_t first_ok = 0, last_bad = 0;
    struct ft_rec late_bad = {0};
    for (int i = 0; i < FT_WRITERS; i++) {
        for (long k = 0; k < w[i].n; k++) {
            struct ft_rec *e = &w[i].rec[k];
            total++;
            lost += e->kind == FT_ELOST;
            other += e->kind == FT_EOTHER;
            wrong += e->kind == FT_WRONG;
            if (ft_owner[e->slot] != victim) continue;
            to_x++;
            /* Sent after the kill: only the new master can have run it. */
            if (e->kind == FT_OK && e->t_send > t_kill && (!first_ok || e->t_rep < first_ok))
                first_ok = e->t_rep;
            /* Answered after the kill with an error or late (held): service was not full yet. */
            if (e->t_rep > t_kill && (e->kind != FT_OK || e->t_rep - e->t_send > slow) &&
                e->t_rep > last_bad)
                last_bad = e->t_rep;
            /* Once service is back, an error or a request held for a second means it was not. */
            if (t_promo && e->t_send > t_promo + 1000 &&
                (e->kind != FT_OK || e->t_rep - e->t_send > 1000) && !late_bad.t_rep)
                late_bad = *e;
        }
    }
    long lost_x = 0, lost_bad = 0;
    int lost_window = 0;
    for (int i = 0; i < FT_WRITERS; i++)
        ft_check_acked(&w[i], FT_PROXY, victim, t_kill, t_promo, &lost_x, &lost_bad, &lost_window);
    long long held = h_info_num(FT_PROXY, "requests_held");
    int full = last_bad > t_promo ? (int)(last_bad - t_promo) : 0;
    fprintf(stderr,
            "faults: SIGKILL failover under load: %ld writes (%ld to the killed master's slots) "
            "from %d clients pipelining %d; %ld errors (%ld connection lost, %ld other), %ld "
            "wrong replies; %lld requests held; promoted %u ms after the kill; first write to its "
            "slots served %d ms after the promotion, full service (no error, none slower than %u "
            "ms) %d ms after it; acknowledged writes missing: %ld on the killed master (acked up "
            "to %d ms before the kill), %ld elsewhere; other masters meanwhile: %ld ops, slowest "
            "%llu ms (before: %llu ms), %ld errors\n",
            total, to_x, FT_WRITERS, FT_BATCH, lost + other + wrong, lost, other, wrong, held,
            t_promo - t_kill, first_ok ? (int)first_ok - (int)t_promo : -1, slow, full, lost_x,
            lost_window, lost_bad, b.ops[1], (unsigned long long)b.max_lat[1],
            (unsigned long long)b.max_lat[0], b.errors + b.wrong);
    for (int i = 0; i < FT_WRITERS; i++)
        ck_assert_msg(!w[i].broken && !w[i].first_other[0], "writer %d: %s", i, w[i].first_other);
    ck_assert_msg(other == 0 && wrong == 0, "%ld other errors, %ld wrong replies", other, wrong);
    ck_assert_msg(b.errors == 0 && b.wrong == 0, "other masters: %ld errors, %ld wrong: %s",
                  b.errors, b.wrong, b.first);
    /* Held behind the frozen master, they would wait seconds (the freeze lasts until the
     * promotion); a woken master's full resync and a sanitizer build on two shared CPUs can
     * still cost a few hundred milliseconds, which is not what this checks. */
    uint64_t limit = b.max_lat[0] * 5 > 1000 ? b.max_lat[0] * 5 : 1000;
    ck_assert_msg(b.ops[1] >= 20 && b.max_lat[1] <= limit,
                  "other masters during the failover: %ld requests, slowest %llu ms", b.ops[1],
                  (unsigned long long)b.max_lat[1]);
    ck_assert_msg(lost <= FT_WRITERS * FT_BATCH,
                  "%ld connection-lost errors, more than can have been in flight", lost);
    ck_assert_msg(first_ok, "no write to the killed master's slots was served after the kill");
    /* A shared two-core machine can still stall any process a few hundred milliseconds later
     * (full then comes late, one batch per writer slow): reported above, not what fails. */
    ck_assert_msg(!late_bad.t_rep,
                  "after the promotion (+1 s), a write to slot %u sent %d ms after it: %s in %u ms",
                  late_bad.slot, (int)late_bad.t_send - (int)t_promo,
                  late_bad.kind == FT_OK ? "answered" : "failed", late_bad.t_rep - late_bad.t_send);
    ck_assert_msg(lost_bad == 0, "%ld acknowledged writes missing", lost_bad);
    /* Asynchronous replication may lose what the master acknowledged just before it died. */
    ck_assert_msg(lost_x == 0 || lost_window <= 1000,
                  "acknowledged writes lost from up to %d ms before the kill", lost_window);
    for (int i = 0; i < FT_WRITERS; i++) free(w[i].rec);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-failover.log"), 0);
    /* The old master comes back as a replica, for whatever runs next. */
    ft_restart(victim);
}
END_TEST

/* ---- 7. a master that freezes (SIGSTOP) and wakes after its replica was promoted ---- */

#define FT_DEPOSED "stalled and was failed over before its reply"

struct ft_freeze {
    long acked, to_x, errors, other, lost_before, lost_after;
    uint32_t t_promo, t_first_ok; /* ms after the freeze */
    long long deposed;
    char first_other[256];
};

/*
 * Four clients pipeline unique writes to one master's slots through a proxy with default
 * settings; the master is frozen (SIGSTOP), and resumed cont_ms after its replica is promoted
 * (node timeout 1 s). Then every acknowledged write is read back.
 */
static void ft_freeze_run(int run, int cont_ms, struct ft_freeze *out)
{
    memset(out, 0, sizeof(*out));
    ft_config_all("cluster-node-timeout", "1000");
    ft_config_all("cluster-require-full-coverage", "no");
    char startup[64], log[64], prefix[16];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d,127.0.0.1:%d", FT_BASE, FT_BASE + 1);
    snprintf(log, sizeof(log), "proxy-faults-freeze-%d.log", run);
    snprintf(prefix, sizeof(prefix), "fz%d", run);
    const char *extra[] = {"-threads", "2", NULL};
    pid_t pid = h_proxy_start(FT_PROXY, startup, extra, log);
    ck_assert_int_gt(pid, 0);
    int victim = ft_owner[0];
    char id[41];
    ck_assert_int_eq(h_node_id(victim, id), 0);
    int replica = h_replica_of(victim == FT_BASE ? FT_BASE + 1 : FT_BASE, id);
    ck_assert_int_gt(replica, 0);

    struct ft_steady b;
    ft_steady_start(&b, FT_PROXY, victim);
    uint64_t t_base = h_now_ms();
    atomic_int stop = 0;
    struct ft_writer w[FT_WRITERS];
    for (int i = 0; i < FT_WRITERS; i++) {
        w[i] = (struct ft_writer){.id = i,
                                  .port = FT_PROXY,
                                  .t_base = t_base,
                                  .stop = &stop,
                                  .cap = 1000000,
                                  .prefix = prefix,
                                  .only = victim,
                                  .expect_err = FT_DEPOSED};
        w[i].rec = calloc((size_t)w[i].cap, sizeof(*w[i].rec));
        ck_assert_int_eq(pthread_create(&w[i].th, NULL, ft_writer_main, &w[i]), 0);
    }
    h_sleep_ms(1000);
    ft_kill(victim, SIGSTOP);
    atomic_store_explicit(&b.phase, 1, memory_order_relaxed);
    atomic_store_explicit(&b.window, 1, memory_order_relaxed);
    uint32_t t_stop = (uint32_t)(h_now_ms() - t_base), t_promo = 0;
    /* Nothing asserted while the node is frozen: it is resumed whatever happens. */
    while (!t_promo && h_now_ms() - t_base < t_stop + 20000u) {
        if (h_is_master(replica))
            t_promo = (uint32_t)(h_now_ms() - t_base);
        else
            h_sleep_ms(2);
    }
    atomic_store_explicit(&b.window, 2, memory_order_relaxed);
    if (cont_ms > 0) h_sleep_ms(cont_ms);
    ft_kill(victim, SIGCONT);
    h_sleep_ms(3000);
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    for (int i = 0; i < FT_WRITERS; i++) pthread_join(w[i].th, NULL);
    atomic_store_explicit(&b.phase, 2, memory_order_relaxed);
    ft_steady_stop(&b);
    ck_assert_msg(t_promo, "the replica on %d was not promoted within 20 s", replica);

    for (int i = 0; i < FT_WRITERS; i++) {
        if (w[i].first_other[0] && !out->first_other[0])
            snprintf(out->first_other, sizeof(out->first_other), "%s", w[i].first_other);
        for (long k = 0; k < w[i].n; k++) {
            struct ft_rec *e = &w[i].rec[k];
            out->to_x++;
            out->acked += e->kind == FT_OK;
            out->errors += e->kind == FT_ELOST;
            out->other += e->kind == FT_EOTHER || e->kind == FT_WRONG;
            if (e->kind == FT_OK && e->t_send > t_promo &&
                (!out->t_first_ok || e->t_rep - t_stop < out->t_first_ok))
                out->t_first_ok = e->t_rep - t_stop;
        }
    }
    int window = 0;
    /* Missing and acknowledged before the promotion: the frozen master ran it before it froze
     * (its replies can reach the client a little after kill() returns) and its replica never
     * got it, Redis's asynchronous replication. Acknowledged after the promotion (the woken
     * master answers only after SIGCONT, which comes after it): the proxy relayed a deposed
     * master's answer. */
    for (int i = 0; i < FT_WRITERS; i++)
        ft_check_acked(&w[i], FT_PROXY, victim, t_stop, t_promo, &out->lost_before,
                       &out->lost_after, &window);
    out->t_promo = t_promo - t_stop;
    out->deposed = h_info_num(FT_PROXY, "stall_deposed");
    fprintf(stderr,
            "faults: freeze run %d (SIGCONT %d ms after the promotion): %ld writes to the frozen "
            "master's slots, %ld acknowledged, %ld 'failed over' errors (at most %d in flight), "
            "%ld other; promoted %u ms after the freeze, first write acknowledged by the new "
            "master %d ms after the promotion; acknowledged writes missing: %ld acknowledged after "
            "the promotion, %ld before it (asynchronous replication, the earliest acknowledged %d ms "
            "before the freeze); other masters: %ld ops (%ld of them before the promotion), "
            "slowest %llu ms (before: %llu ms), %ld errors\n",
            run, cont_ms, out->to_x, out->acked, out->errors, FT_WRITERS * FT_BATCH, out->other,
            out->t_promo, out->t_first_ok ? (int)out->t_first_ok - (int)out->t_promo : -1,
            out->lost_after, out->lost_before, window, b.ops[1], b.in_window,
            (unsigned long long)b.max_lat[1],
            (unsigned long long)b.max_lat[0], b.errors + b.wrong);
    for (int i = 0; i < FT_WRITERS; i++) free(w[i].rec);
    ck_assert_msg(b.errors == 0 && b.wrong == 0, "other masters: %ld errors, %ld wrong: %s",
                  b.errors, b.wrong, b.first);
    /* Held behind the frozen master, no pair would be sent and answered between the freeze and
     * the promotion. After it, a woken master's full resync and a sanitizer build on two shared
     * CPUs can still cost a few hundred milliseconds (a pause of the machine once took 1.2 s in
     * CI's ASan run of the test below), which is not what this checks: only seconds are. */
    uint64_t limit = b.max_lat[0] * 5 > 2000 ? b.max_lat[0] * 5 : 2000;
    ck_assert_msg(b.in_window >= 10 && b.max_lat[1] <= limit,
                  "other masters during the freeze: %ld requests answered before the promotion, "
                  "%ld in all, slowest %llu ms",
                  b.in_window, b.ops[1], (unsigned long long)b.max_lat[1]);
    ck_assert_int_eq(h_proxy_stop(pid, log), 0);
}

/* The guarantee of -stall-threshold (on by default): no acknowledged write is lost when a frozen
 * master wakes after its replica was promoted, at most one error per request in flight when it
 * froze, and writes resume on the new master. Three runs resuming it at the promotion, one 2 s
 * after. */
START_TEST(test_frozen_master_wakes_deposed)
{
    static const int cont[] = {0, 0, 0, 2000};
    for (int run = 0; run < 4; run++) {
        if (run > 0) ft_heal();
        struct ft_freeze f;
        ft_freeze_run(run, cont[run], &f);
        ck_assert_msg(f.other == 0, "run %d: %ld errors other than 'failed over': %s", run,
                      f.other, f.first_other);
        ck_assert_msg(f.lost_after == 0, "run %d: %ld writes acknowledged after the promotion are lost",
                      run, f.lost_after);
        ck_assert_msg(f.errors <= FT_WRITERS * FT_BATCH,
                      "run %d: %ld errors, more than the %d requests in flight at the freeze", run,
                      f.errors, FT_WRITERS * FT_BATCH);
        ck_assert_msg(f.deposed >= 1, "run %d: the proxy never judged the master deposed", run);
        ck_assert_msg(f.t_first_ok && f.t_first_ok <= f.t_promo + 1000,
                      "run %d: no write acknowledged within 1 s of the promotion", run);
    }
    /* The old master rejoined as a replica, for whatever runs next. */
}
END_TEST

/* A master that is only slow (DEBUG SLEEP 0.8 s, less than the node timeout): the stall makes it
 * suspect, the cluster confirms it, and its replies go on: no error at all, nothing lost. */
START_TEST(test_slow_master_no_errors)
{
    ft_config_all("cluster-node-timeout", "2000");
    const char *extra[] = {"-threads", "2", NULL};
    pid_t pid = ft_proxy_start(extra, "proxy-faults-slow.log");
    int victim = ft_owner[0];
    struct ft_steady b;
    ft_steady_start(&b, FT_PROXY, victim);
    uint64_t t_base = h_now_ms();
    atomic_int stop = 0;
    struct ft_writer w[FT_WRITERS];
    for (int i = 0; i < FT_WRITERS; i++) {
        w[i] = (struct ft_writer){.id = i,
                                  .port = FT_PROXY,
                                  .t_base = t_base,
                                  .stop = &stop,
                                  .cap = 1000000,
                                  .prefix = "slow",
                                  .only = victim};
        w[i].rec = calloc((size_t)w[i].cap, sizeof(*w[i].rec));
        ck_assert_int_eq(pthread_create(&w[i].th, NULL, ft_writer_main, &w[i]), 0);
    }
    h_sleep_ms(700);
    atomic_store_explicit(&b.phase, 1, memory_order_relaxed);
    uint32_t t_sleep = (uint32_t)(h_now_ms() - t_base);
    redisContext *d = h_connect(victim);
    atomic_store_explicit(&b.window, 1, memory_order_relaxed);
    uint64_t t_asleep = h_now_ms();
    redisReply *r = redisCommand(d, "DEBUG SLEEP 0.8");
    uint64_t slept = h_now_ms() - t_asleep;
    atomic_store_explicit(&b.window, 2, memory_order_relaxed);
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    redisFree(d);
    h_sleep_ms(1500);
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    for (int i = 0; i < FT_WRITERS; i++) pthread_join(w[i].th, NULL);
    atomic_store_explicit(&b.phase, 2, memory_order_relaxed);
    ft_steady_stop(&b);
    long total = 0, bad = 0, lost_before = 0, lost_after = 0;
    uint32_t slowest = 0;
    char first[256] = "";
    for (int i = 0; i < FT_WRITERS; i++) {
        if (w[i].first_other[0] && !first[0]) snprintf(first, sizeof(first), "%s", w[i].first_other);
        for (long k = 0; k < w[i].n; k++) {
            struct ft_rec *e = &w[i].rec[k];
            total++;
            bad += e->kind != FT_OK;
            if (e->t_rep - e->t_send > slowest) slowest = e->t_rep - e->t_send;
        }
    }
    int window = 0;
    for (int i = 0; i < FT_WRITERS; i++)
        ft_check_acked(&w[i], FT_PROXY, victim, t_sleep, t_sleep, &lost_before, &lost_after,
                       &window);
    long long suspects = h_info_num(FT_PROXY, "stall_suspects");
    long long confirmed = h_info_num(FT_PROXY, "stall_confirmed");
    long long hold_max = h_info_num(FT_PROXY, "stall_hold_max_usec");
    fprintf(stderr,
            "faults: DEBUG SLEEP 0.8 under load: %ld writes, %ld errors, slowest %u ms; "
            "suspected %lld, confirmed %lld; the hold after the stall added at most %lld us; "
            "other masters: %ld ops, %ld of them sent and answered in the %llu ms it slept, "
            "slowest %llu ms (before: %llu ms), %ld errors\n",
            total, bad, slowest, suspects, confirmed, hold_max, b.ops[1], b.in_window,
            (unsigned long long)slept, (unsigned long long)b.max_lat[1],
            (unsigned long long)b.max_lat[0], b.errors + b.wrong);
    for (int i = 0; i < FT_WRITERS; i++) free(w[i].rec);
    ck_assert_msg(bad == 0, "%ld errors while the master was slow: %s", bad, first);
    ck_assert_msg(lost_before + lost_after == 0, "%ld acknowledged writes missing",
                  lost_before + lost_after);
    ck_assert_msg(suspects >= 1 && confirmed >= 1,
                  "the stall was not noticed and confirmed (%lld suspected, %lld confirmed)",
                  suspects, confirmed);
    ck_assert_msg(b.errors == 0 && b.wrong == 0, "other masters: %ld errors: %s", b.errors,
                  b.first);
    /* Held behind the sleeping master, no pair would be both sent and answered while it slept
     * (thousands are, here). The slowest pair alone cannot tell a hold from a pause of the
     * machine: in one CI run of an ASan build it was 1.2 s, longer than the sleep, while the
     * proxy's counters showed it had held the sleeping master's replies 25 ms at most. */
    ck_assert_msg(slept >= 700, "DEBUG SLEEP 0.8 returned after %llu ms",
                  (unsigned long long)slept);
    ck_assert_msg(b.in_window >= 10,
                  "other masters answered %ld requests in the %llu ms the master slept (slowest "
                  "%llu ms)",
                  b.in_window, (unsigned long long)slept, (unsigned long long)b.max_lat[1]);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-faults-slow.log"), 0);
}
END_TEST

Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_add_unchecked_fixture(tc, ft_cluster_up, ft_cluster_down);
    tcase_add_checked_fixture(tc, ft_heal, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_startup_bogus_names);
    tcase_add_test(tc, test_sigstop_backend_timeout);
    tcase_add_test(tc, test_master_restarted);
    tcase_add_test(tc, test_streaming_writes_stay_in_order);
    tcase_add_test(tc, test_all_nodes_down);
    tcase_add_test(tc, test_failover_under_load);
    tcase_add_test(tc, test_slow_master_no_errors);
    tcase_add_test(tc, test_frozen_master_wakes_deposed);
    suite_add_tcase(s, tc);
    return s;
}
