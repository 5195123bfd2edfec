/*
 * slotproxy's entry point: parse the flags, start the topology thread and the workers, wait for a
 * first slot map (bounded), accept clients until SIGINT/SIGTERM (SIGHUP: the log file, and in pool
 * mode the servers file, are read again), then stop everything in order.
 *
 * Once running, the threads talk only through channels: the topology thread hands each new slot
 * map to every worker (publish_map), the acceptor (this thread, in acceptor_run) hands each new
 * client to a worker and takes the signals, the workers serve, and the debug port, when asked
 * for, runs threads of its own. What is shared (the configuration, the command table, the script
 * cache) is built here before any of them starts.
 */
#include "acceptor.h"
#include "acl_store.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "debug_http.h"
#include "errors.h"
#include "http.h"
#include "info.h"
#include "local.h"
#include "log.h"
#include "scripts.h"
#include "mem.h"
#include "tls.h"
#include "topology.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The workers, as publish_map and sessions_open see them: filled in before either can run. */
struct publish_ctx {
    struct worker **workers;
    int n;
};

/* Runs on the topology thread: every worker gets the new map, with a reference of its own. */
static void publish_map(struct slotmap *m, void *ctx)
{
    struct publish_ctx *p = ctx;
    for (int i = 0; i < p->n; i++) worker_give_map(p->workers[i], slotmap_ref(m));
}

/* Runs on the topology thread: every worker hears each verdict on a suspect node. */
static void publish_verdict(const char *addr, enum topology_verdict v, void *ctx)
{
    struct publish_ctx *p = ctx;
    for (int i = 0; i < p->n; i++) worker_give_verdict(p->workers[i], addr, v);
}

/* INFO's count of client connections: over every worker. */
static unsigned sessions_open(void *ctx)
{
    struct publish_ctx *p = ctx;
    return worker_sessions_open(p->workers, p->n);
}

/* SIGHUP (the acceptor's callback): in pool mode, the servers file is read again. */
static void reload_pool(void *ctx)
{
    struct topology *t = ctx;
    if (topology_is_pool(t)) topology_request_reload(t);
}

/* Set once, when the acceptor returns; the debug port's /readyz reads it. */
static atomic_int shutting_down;
static struct http_stats http_stats; /* the HTTP front's answers by status */

/* The users the proxy starts with: -aclfile's (or the default user alone), then -requirepass as
 * the default user's password. Returns 0, or -1 after printing why. */
static int acl_setup(const struct config *cfg)
{
    acl_init();
    struct acl_users *set;
    if (cfg->aclfile) {
        FILE *f = fopen(cfg->aclfile, "r");
        if (!f) {
            fprintf(stderr, "slotproxy: cannot read -aclfile %s: %s\n", cfg->aclfile,
                    strerror(errno));
            return -1;
        }
        struct sbuf text;
        sbuf_init(&text);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) sbuf_put(&text, buf, n);
        fclose(f);
        struct acl_load_report rep;
        set = acl_load_text(text.buf ? text.buf : "", text.len, &rep);
        sbuf_free(&text);
        if (!set) {
            struct sbuf msg;
            sbuf_init(&msg);
            errors_acl_load(&msg, cfg->aclfile, &rep, 0);
            fprintf(stderr, "slotproxy: -aclfile %s: %.*s\n", cfg->aclfile, (int)msg.len,
                    msg.buf);
            sbuf_free(&msg);
            acl_load_report_free(&rep);
            return -1;
        }
    } else {
        set = acl_users_create();
        acl_users_put(set, acl_user_create_default());
    }
    if (cfg->requirepass) {
        struct acl_user *d = acl_user_dup(acl_users_find(set, "default", 7));
        acl_user_set(d, "resetpass", 9);
        size_t len = strlen(cfg->requirepass);
        char *op = px_malloc(len + 2);
        op[0] = '>';
        memcpy(op + 1, cfg->requirepass, len + 1);
        acl_user_set(d, op, len + 1);
        px_free(op);
        acl_users_put(set, d);
    }
    acl_store_init(set, cfg->aclfile, (unsigned)cfg->acllog_max_len);
    log_info("ACL: %u user(s)%s%s", set->n, cfg->aclfile ? " from " : "",
             cfg->aclfile ? cfg->aclfile : "");
    return 0;
}

/* Graceful shutdown, after the listener is closed: every worker stops reading and closes each
 * session once the replies to what it has read are written. Waits until no session is left, the
 * timeout passes, or a second SIGINT/SIGTERM asks for an immediate stop. */
static void drain_sessions(struct worker **workers, int n, uint64_t timeout_ms,
                           const sigset_t *signals)
{
    /* Every worker drains, sessions or not: the HTTP front's blocked requests end there too. */
    for (int i = 0; i < n; i++) worker_drain(workers[i]);
    unsigned open = worker_sessions_open(workers, n);
    if (open == 0) return;
    log_info("shutting down: finishing %u client connection(s), at most %llu ms", open,
             (unsigned long long)timeout_ms);
    uint64_t deadline = clock_now_ms() + timeout_ms;
    struct timespec tick = {0, 10 * 1000 * 1000};
    while ((open = worker_sessions_open(workers, n)) > 0) {
        if (clock_now_ms() >= deadline) {
            log_warn("shutdown timeout: closing %u client connection(s) still open", open);
            return;
        }
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            log_warn("second signal: closing %u client connection(s) now", open);
            return;
        }
    }
    log_info("every client connection finished");
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, argc, argv, err, sizeof(err), stdout);
    if (rc == CONFIG_EXIT_OK) { /* -help or -version was printed */
        config_free(&cfg);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "slotproxy: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    if (log_init(cfg.log_file, cfg.log_level) < 0) {
        fprintf(stderr, "slotproxy: cannot open log file %s\n", cfg.log_file);
        config_free(&cfg);
        return 1;
    }
    /* Signals are taken by the acceptor's signalfd; block them in every thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("slotproxy %s starting", PX_VERSION);
    config_default_idc(&cfg);
    config_log(&cfg);
    /* Before any loop is made: every worker's loop runs on the engine chosen here. */
    char why[256];
    enum loop_io io = loop_io_select(cfg.io, why, sizeof(why));
    if (io != cfg.io)
        log_warn("io_uring is not available (%s): using epoll", why);
    else
        log_info("I/O engine: %s", loop_io_name(io));
    cfg.io = io;
    /* Every client and every private connection is a descriptor: take what the system allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_info("open files limit raised to %llu", (unsigned long long)rl.rlim_cur);
    }
    /* Before any worker: every worker reads the command table and the node id without a lock. */
    commands_init();
    local_init();
    /* TLS contexts, one per side, shared by every thread (net/tls.c says why). A certificate that
     * cannot be loaded stops the proxy here, as it stops Redis. */
    struct tls_ctx *tls_clients = NULL, *tls_nodes = NULL;
    if (cfg.tls_port || cfg.tls_cluster) {
        struct tls_opts to;
        tls_global_init();
        config_tls_opts(&cfg, &to);
        if ((cfg.tls_port && !(tls_clients = tls_ctx_create(&to, 1, err, sizeof(err)))) ||
            (cfg.tls_cluster && !(tls_nodes = tls_ctx_create(&to, 0, err, sizeof(err))))) {
            log_error("TLS (%s' side): %s", cfg.tls_port && !tls_clients ? "clients" : "nodes",
                      err);
            fprintf(stderr, "slotproxy: TLS: %s\n", err);
            tls_ctx_free(tls_clients);
            config_free(&cfg);
            return 1;
        }
    }
    if (acl_setup(&cfg) < 0) {
        tls_ctx_free(tls_clients);
        tls_ctx_free(tls_nodes);
        config_free(&cfg);
        return 1;
    }

    struct worker **workers = px_calloc((size_t)cfg.threads, sizeof(*workers));
    struct publish_ctx pctx = {workers, cfg.threads};
    struct pool_config pcfg = {
        .file = cfg.pool_servers,
        .text = cfg.pool_server_lines,
        .opts = cfg.placement,
        .strip = cfg.hash_tag_strip,
        .auto_eject = cfg.auto_eject_hosts,
        .failure_limit = (uint32_t)cfg.server_failure_limit,
        .retry_timeout_ms = cfg.server_retry_timeout_ms,
    };
    struct topology_config tcfg = {
        .startup = (const char *const *)cfg.startup,
        .nstartup = cfg.nstartup,
        .connect_timeout_ms = cfg.connect_timeout_ms,
        .reload_interval_ms = cfg.slots_reload_interval_ms,
        .min_refresh_interval_ms = 100,
        .user = cfg.user,
        .password = cfg.password,
        .probe_replicas = cfg.read_prefer != RP_MASTER,
        /* While a master is suspect: the topology every 50 ms, and a suspect no worker has
         * reported for a second (its requests answered or failed) is forgotten. */
        .suspect_poll_ms = 50,
        .suspect_expire_ms = 1000,
        .tls = tls_nodes,
        .pool = cfg.pool ? &pcfg : NULL,
    };
    /* Made before the workers, which ask it for refreshes; started after them, so that the first
     * map finds every worker in place. */
    struct topology *topo = topology_create(&tcfg, publish_map, &pctx, err, sizeof(err));
    if (!topo) {
        fprintf(stderr, "slotproxy: %s\n", err);
        return 2;
    }
    struct script_cache *scripts = scripts_create();
    /* What INFO reports on: every worker's counters, filled in as the workers are made. */
    struct worker_stats **all_stats = px_calloc((size_t)cfg.threads, sizeof(*all_stats));
    struct info_src isrc = {.stats = all_stats,
                            .nworkers = cfg.threads,
                            .sessions_open = sessions_open,
                            .sessions_ctx = &pctx,
                            .topo = topo,
                            .cfg = &cfg,
                            .http = &http_stats,
                            .start_wall_us = clock_wall_us(),
                            .tls_clients = tls_clients,
                            .tls_nodes = tls_nodes};
    for (int i = 0; i < cfg.threads; i++) {
        workers[i] = worker_create(i, &cfg, topo, scripts, &isrc, tls_clients, tls_nodes);
        if (!workers[i]) {
            log_error("cannot create worker %d", i);
            return 1;
        }
        all_stats[i] = &workers[i]->stats;
    }
    /* Every worker knows the others: CLIENT LIST and the debug snapshots gather across them. */
    for (int i = 0; i < cfg.threads; i++) {
        workers[i]->all = workers;
        workers[i]->nall = cfg.threads;
        if (worker_start(workers[i]) < 0) {
            log_error("cannot start worker %d", i);
            return 1;
        }
    }
    struct acceptor *acc =
        acceptor_create(&cfg, workers, cfg.threads, tls_clients, tls_nodes, err, sizeof(err));
    if (!acc) {
        log_error("%s", err);
        return 1;
    }
    topology_on_verdict(topo, publish_verdict, &pctx);
    acceptor_on_hup(acc, reload_pool, topo);
    if (topology_start(topo) < 0) {
        log_error("cannot start the topology thread");
        return 1;
    }
    /* Serve as soon as one node has answered; if none does for a while, serve anyway (requests
     * wait for a map, then fail with CLUSTERDOWN) while discovery keeps trying. */
    uint64_t wait = cfg.connect_timeout_ms * 2 + 1000;
    if (topology_wait_ready(topo, wait) < 0)
        log_warn("no cluster node has answered yet (startup nodes: %s); serving anyway and "
                 "retrying",
                 cfg.pool ? "(pool mode)" : cfg.startup_nodes);
    struct debug_http *dbg = NULL;
    if (cfg.debug_addr) {
        /* Copied by debug_http_start: a local will do. */
        struct metrics_ctx mctx = {workers,     cfg.threads,     topo,
                                   &cfg,        clock_wall_us(), &shutting_down,
                                   &http_stats, tls_clients,     tls_nodes};
        dbg = debug_http_start(cfg.debug_addr, &mctx, err, sizeof(err));
        if (!dbg) {
            log_error("%s", err);
            return 1;
        }
        log_info("debug port on %s", cfg.debug_addr);
    }
    struct http_front *http = NULL;
    if (cfg.http_addr) {
        http = http_start(&cfg, workers, cfg.threads, &http_stats, err, sizeof(err));
        if (!http) {
            log_error("%s", err);
            return 1;
        }
        log_info("HTTP/JSON front on %s", cfg.http_addr);
    }
    if (cfg.tls_port)
        log_info("ready to accept connections on %s and TLS connections on port %d (%d worker "
                 "threads)",
                 cfg.listen_port ? cfg.addr : "(no plain-text port)", cfg.tls_port, cfg.threads);
    else
        log_info("ready to accept connections on %s (%d worker threads)", cfg.addr, cfg.threads);
    acceptor_run(acc);

    /* Sequentially consistent (the default): stored once, and nothing else is ordered by it. */
    atomic_store(&shutting_down, 1);
    acceptor_free(acc); /* no new clients from here on */
    http_quiesce(http); /* new HTTP requests get 503; those in flight finish with the sessions */
    uint64_t drain_start = clock_now_ms();
    drain_sessions(workers, cfg.threads, cfg.shutdown_timeout_ms, &set);
    uint64_t spent = clock_now_ms() - drain_start;
    http_drain(http, spent < cfg.shutdown_timeout_ms ? cfg.shutdown_timeout_ms - spent : 0);
    http_stop(http);      /* before the workers stop: its threads may wait on their answers */
    debug_http_stop(dbg); /* likewise */
    /* The workers first: they ask the topology for maps until they stop. Maps sent meanwhile wait
     * in their inboxes, which worker_free empties; the topology thread stops before that. */
    for (int i = 0; i < cfg.threads; i++) worker_stop(workers[i]);
    topology_stop(topo);
    for (int i = 0; i < cfg.threads; i++) worker_free(workers[i]);
    topology_free(topo);
    tls_ctx_free(tls_clients); /* every connection made from them is closed by now */
    tls_ctx_free(tls_nodes);
    scripts_free(scripts);
    acl_store_shutdown();
    px_free(all_stats);
    px_free(workers);
    log_info("bye");
    config_free(&cfg);
    return 0;
}
