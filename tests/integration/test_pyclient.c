/*
 * A real client library through the proxy: client_redis_py.py (next to this file) drives the
 * shared proxy with redis-py, the way an application would, both as a plain redis.Redis client
 * and as a redis.cluster.RedisCluster client that sees the proxy as a one-node cluster. The
 * script asserts every result itself; this suite runs it under Debian's /usr/bin/python3 (the
 * python3 first on PATH may be an interpreter without the redis package) and expects exit status
 * 0, printing the script's output when it is not.
 */
#include "harness.h"
#include "suites.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

/* The script lives in tests/integration/; the build only tells us where tests/cluster.sh is. */
static void script_path(char *out, size_t cap)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", PX_CLUSTER_SCRIPT);
    snprintf(out, cap, "%s/integration/client_redis_py.py", dirname(tmp));
}

START_TEST(test_redis_py)
{
    char script[1100];
    script_path(script, sizeof(script));
    ck_assert_msg(access(script, R_OK) == 0, "%s is missing", script);
    ck_assert_msg(access(PYTHON, X_OK) == 0 &&
                      h_sh(PYTHON " -c 'import redis, redis.cluster' >/dev/null 2>&1") == 0,
                  PYTHON " with the redis package is needed (Debian: apt-get install "
                         "python3-redis)");
    /* timeout(1) bounds the script even if libcheck's own timeout kills only this process. */
    int st = h_sh("timeout -k 5 150 " PYTHON " %s %d >%s/pyclient.log 2>&1", script,
                  h_env.proxy_port, h_env.workdir);
    if (st != 0) {
        fprintf(stderr, "client_redis_py.py exited with %d; its output:\n", st);
        h_sh("tail -n 60 %s/pyclient.log >&2", h_env.workdir);
    }
    ck_assert_msg(st == 0, "client_redis_py.py exited with %d (output in %s/pyclient.log)", st,
                  h_env.workdir);
    /* The script ends by printing a line per part it ran; all of them must be there. */
    ck_assert_int_eq(h_sh("grep -q '^redis-py: all checks passed' %s/pyclient.log", h_env.workdir),
                     0);
}
END_TEST

Suite *pyclient_suite(void)
{
    Suite *s = suite_create("pyclient");
    TCase *tc = tcase_create("redis_py");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_redis_py);
    suite_add_tcase(s, tc);
    return s;
}
