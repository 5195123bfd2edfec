/*
 * The newest Node.js client through the proxy: client_node_redis.mjs (next to this file) drives
 * the shared proxy with node-redis 6 (npm "redis"), with its default settings (which open every
 * connection with HELLO 3), then with RESP: 2, then as a cluster client seeded with the proxy.
 * The script asserts every result itself; this suite installs the package from the npm registry
 * into the build folder (once; never into the source tree), runs the script from a copy there so
 * that its import finds the package, and expects exit status 0.
 */
#include "harness.h"
#include "suites.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NODE_REDIS_VERSION "6.4.0"

static void script_path(char *out, size_t cap)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", PX_CLUSTER_SCRIPT);
    snprintf(out, cap, "%s/integration/client_node_redis.mjs", dirname(tmp));
}

START_TEST(test_node_redis)
{
    ck_assert_msg(h_sh("node --version >/dev/null 2>&1 && npm --version >/dev/null 2>&1") == 0,
                  "node and npm are needed (Debian: apt-get install nodejs)");
    char dir[1100], script[1100];
    snprintf(dir, sizeof(dir), "%s/node", h_env.workdir);
    script_path(script, sizeof(script));
    ck_assert_msg(access(script, R_OK) == 0, "%s is missing", script);
    /* The package goes into the build folder, once per build folder. */
    if (h_sh("test -f %s/node_modules/redis/package.json && grep -q '\"version\": \"%s\"' "
             "%s/node_modules/redis/package.json",
             dir, NODE_REDIS_VERSION, dir) != 0) {
        int st = h_sh("mkdir -p %s && cd %s && timeout 300 npm install --no-audit --no-fund "
                      "--no-save --loglevel=error redis@%s >%s/npm-install.log 2>&1",
                      dir, dir, NODE_REDIS_VERSION, h_env.workdir);
        if (st != 0) h_sh("tail -n 30 %s/npm-install.log >&2", h_env.workdir);
        ck_assert_msg(st == 0, "npm install redis@%s failed (see %s/npm-install.log)",
                      NODE_REDIS_VERSION, h_env.workdir);
    }
    ck_assert_int_eq(h_sh("cp %s %s/client_node_redis.mjs", script, dir), 0);
    int st = h_sh("cd %s && timeout -k 5 150 node client_node_redis.mjs %d >%s/nodeclient.log 2>&1",
                  dir, h_env.proxy_port, h_env.workdir);
    if (st != 0) {
        fprintf(stderr, "client_node_redis.mjs exited with %d; its output:\n", st);
        h_sh("tail -n 60 %s/nodeclient.log >&2", h_env.workdir);
    }
    ck_assert_msg(st == 0, "client_node_redis.mjs exited with %d (output in %s/nodeclient.log)",
                  st, h_env.workdir);
    ck_assert_int_eq(h_sh("grep -q '^node-redis: all checks passed' %s/nodeclient.log",
                          h_env.workdir),
                     0);
}
END_TEST

Suite *nodeclient_suite(void)
{
    Suite *s = suite_create("nodeclient");
    TCase *tc = tcase_create("node_redis");
    tcase_set_timeout(tc, 480);
    tcase_add_test(tc, test_node_redis);
    suite_add_tcase(s, tc);
    return s;
}
