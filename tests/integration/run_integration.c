/*
 * Integration-test runner. Starts one shared 3-master/3-replica cluster and one proxy in front of
 * it for the suites that do not disturb the cluster; the suites that reshard or kill nodes start
 * clusters of their own. Exits 77 (skipped) when redis-server is not installed. The proxy's exit
 * status is checked at the end, so a sanitizer report in the proxy fails the run.
 *
 * Environment: SLOTPROXY_BIN (the binary under test), PX_WORKDIR (scratch directory),
 * PX_ITEST_PORT (first port of the shared cluster, default 21001; ports and their cluster-bus
 * ports, +10000, stay below the kernel's ephemeral range), PX_POOL_PORT (the pool suite's first
 * port, default 24200; it uses 100), CK_RUN_SUITE (one suite only: when it is one that brings its
 * own cluster, the shared servers are not started at all), PX_PROXY_FLAGS (flags appended to every
 * proxy the tests start, e.g. "-io epoll" or "-io uring").
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* 1 unless CK_RUN_SUITE names a suite that starts every server it uses itself. */
static int need_shared_servers(void)
{
    static const char *const own[] = {"reshard", "failover", "readpref", "faults",
                                      "topology", "pool",     "tls"};
    const char *only = getenv("CK_RUN_SUITE");
    for (size_t i = 0; only && i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(only, own[i]) == 0) return 0;
    return 1;
}

int main(void)
{
    if (system("command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1")) {
        fprintf(stderr, "redis-server / redis-cli not installed: integration tests skipped\n");
        return 77;
    }
    struct rlimit rl; /* thousands of client connections in some tests */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    h_env.bin = getenv("SLOTPROXY_BIN");
    if (!h_env.bin || access(h_env.bin, X_OK) != 0) {
        fprintf(stderr, "SLOTPROXY_BIN must name the slotproxy binary\n");
        return 1;
    }
    h_env.workdir = getenv("PX_WORKDIR");
    if (!h_env.workdir) h_env.workdir = "/tmp/slotproxy-itest";
    h_sh("mkdir -p %s", h_env.workdir);
    const char *p = getenv("PX_ITEST_PORT");
    h_env.cluster_port = p ? atoi(p) : 21001;
    h_env.proxy_port = h_env.cluster_port + 100;
    h_env.single_port = h_env.cluster_port + 90;

    int shared = need_shared_servers();
    pid_t single = -1, proxy = -1;
    if (shared && h_cluster_start("main", h_env.cluster_port) < 0) {
        fprintf(stderr, "cannot start the test cluster; see %s/main.start.log\n", h_env.workdir);
        h_sh("cat %s/main.start.log >&2", h_env.workdir);
        return 1;
    }
    if (shared) single = h_single_start(h_env.single_port);
    if (shared && single < 0) {
        fprintf(stderr, "cannot start the standalone redis-server on %d\n", h_env.single_port);
        h_cluster_stop("main");
        return 1;
    }
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "2", "-log-level", "info", NULL};
    if (shared) proxy = h_proxy_start(h_env.proxy_port, startup, extra, "proxy-main.log");
    if (shared && proxy < 0) {
        fprintf(stderr, "cannot start slotproxy; see %s/proxy-main.log\n", h_env.workdir);
        h_sh("tail -n 40 %s/proxy-main.log >&2", h_env.workdir);
        h_cluster_stop("main");
        h_single_stop(single);
        return 1;
    }

    /* The suites that kill nodes or move slots (on clusters of their own) come last. */
    Suite *(*const suites[])(void) = {
        basic_suite,    pipeline_suite, errors_suite,   fanout_suite,   keyspace_suite,
        conn_suite,     scripts_suite,  txn_suite,      blocking_suite, compare_suite,
        pyclient_suite, resp3_suite,    nodeclient_suite, ops_suite,    pubsub_suite,
        fixes_suite,    acl_suite,      tracking_suite, http_suite,     inline_suite,
        crossslot_suite, limits_suite,  startup_suite,
        readpref_suite, reshard_suite,  failover_suite, faults_suite,   topology_suite,
        pool_suite,     tls_suite,
    };
    SRunner *sr = srunner_create(suites[0]());
    for (size_t i = 1; i < sizeof(suites) / sizeof(suites[0]); i++)
        srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    int st = 0;
    if (shared) {
        st = h_proxy_stop(proxy, "proxy-main.log");
        if (st != 0) fprintf(stderr, "the shared slotproxy did not exit cleanly (%d)\n", st);
        h_cluster_stop("main");
        h_single_stop(single);
    }
    return failed || st ? EXIT_FAILURE : EXIT_SUCCESS;
}
