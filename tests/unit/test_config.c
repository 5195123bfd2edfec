/*
 * Unit tests for proxy/config: command-line flags (one dash or two, "-flag value" and
 * "-flag=value"), defaults, durations, and the one-line error for every kind of bad value.
 * Help and version output go to a memory stream, so the tests print nothing.
 */
#include "suites.h"

#include "config.h"
#include "hashkit.h"
#include "px_errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parses a NULL-terminated list of flags (argv[0] is added). Output goes to *out when asked. */
static int parse(struct config *c, const char *const *flags, char *err, size_t errlen, char **out)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"slotproxy";
    for (; *flags; flags++) argv[argc++] = (char *)*flags;
    argv[argc] = NULL;
    config_defaults(c);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    err[0] = '\0';
    int rc = config_parse_args(c, argc, argv, err, errlen, f);
    fclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
    return rc;
}

#define FLAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_config_defaults)
{
    struct config c;
    char err[256];
    char *out = NULL;
    ck_assert_int_eq(parse(&c, (const char *const[]){NULL}, err, sizeof(err), &out), CONFIG_OK);
    ck_assert_str_eq(out, ""); /* nothing printed */
    free(out);
    ck_assert_str_eq(c.addr, "0.0.0.0:8088");
    ck_assert_str_eq(c.listen_host, "0.0.0.0");
    ck_assert_int_eq(c.listen_port, 8088);
    ck_assert_str_eq(c.startup_nodes, "127.0.0.1:7001");
    ck_assert_int_eq(c.nstartup, 1);
    ck_assert_str_eq(c.startup[0], "127.0.0.1:7001");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(c.threads, ncpu > 0 ? (int)ncpu : 1);
    ck_assert_uint_eq(c.connect_timeout_ms, 3000);
    ck_assert_uint_eq(c.slots_reload_interval_ms, 3000);
    ck_assert_uint_eq(c.failover_hold_ms, 5000);
    ck_assert_ptr_null(c.password);
    ck_assert_ptr_null(c.user);
    ck_assert_int_eq(c.log_level, LOG_INFO);
    ck_assert_ptr_null(c.log_file);
    ck_assert_int_eq(c.tcp_keepalive_s, 300);
    ck_assert_int_eq(c.max_redirects, 16);
    config_free(&c);
}
END_TEST

START_TEST(test_config_flag_forms)
{
    struct config c;
    char err[256];
    int rc = parse(&c,
                   FLAGS("-addr", "127.0.0.1:9000", "--threads=4", "--connect-timeout", "500ms",
                         "-slots-reload-interval=1m30s", "-failover-hold=1.5s", "--password",
                         "secret", "-user=bob", "-tcp-keepalive=0", "-max-redirects", "5",
                         "-log-level=debug", "--log-file", "/tmp/slotproxy.log",
                         "-startup-nodes=127.0.0.1:7001, 127.0.0.1:7002 ,[::1]:7003"),
                   err, sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_str_eq(c.addr, "127.0.0.1:9000");
    ck_assert_str_eq(c.listen_host, "127.0.0.1");
    ck_assert_int_eq(c.listen_port, 9000);
    ck_assert_int_eq(c.threads, 4);
    ck_assert_uint_eq(c.connect_timeout_ms, 500);
    ck_assert_uint_eq(c.slots_reload_interval_ms, 90000);
    ck_assert_uint_eq(c.failover_hold_ms, 1500);
    ck_assert_str_eq(c.password, "secret");
    ck_assert_str_eq(c.user, "bob");
    ck_assert_int_eq(c.tcp_keepalive_s, 0);
    ck_assert_int_eq(c.max_redirects, 5);
    ck_assert_int_eq(c.log_level, LOG_DEBUG);
    ck_assert_str_eq(c.log_file, "/tmp/slotproxy.log");
    ck_assert_int_eq(c.nstartup, 3);
    ck_assert_str_eq(c.startup[0], "127.0.0.1:7001");
    ck_assert_str_eq(c.startup[1], "127.0.0.1:7002");
    ck_assert_str_eq(c.startup[2], "[::1]:7003");
    ck_assert_str_eq(c.startup_nodes, "127.0.0.1:7001, 127.0.0.1:7002 ,[::1]:7003");
    config_free(&c);

    /* A port alone listens on every address; an IPv6 host in brackets; the last flag wins;
     * a value may itself contain '='; an empty string value clears a string option. */
    rc = parse(&c,
               FLAGS("-addr=7777", "--addr", "[::1]:6000", "-password=a=b",
                     "-log-file=", "-threads", "2", "-threads=3", "-log-level=WARNING"),
               err, sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_str_eq(c.addr, "[::1]:6000");
    ck_assert_str_eq(c.listen_host, "::1");
    ck_assert_int_eq(c.listen_port, 6000);
    ck_assert_str_eq(c.password, "a=b");
    ck_assert_ptr_null(c.log_file);
    ck_assert_int_eq(c.threads, 3);
    ck_assert_int_eq(c.log_level, LOG_WARN);
    config_free(&c);

    rc = parse(&c, FLAGS("-addr=7777"), err, sizeof(err), NULL);
    ck_assert_int_eq(rc, CONFIG_OK);
    ck_assert_str_eq(c.listen_host, "0.0.0.0");
    ck_assert_int_eq(c.listen_port, 7777);
    /* The HTTP front and cross-slot computing: off by default. */
    ck_assert_ptr_null(c.http_addr);
    ck_assert_uint_eq(c.http_timeout_ms, 30000);
    ck_assert_int_eq(c.cross_slot, CROSS_SLOT_REFUSE);
    config_free(&c);

    rc = parse(&c, FLAGS("-http-addr=:8090", "-http-timeout", "2s", "--cross-slot=COMPUTE"), err,
               sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_str_eq(c.http_addr, ":8090");
    ck_assert_uint_eq(c.http_timeout_ms, 2000);
    ck_assert_int_eq(c.cross_slot, CROSS_SLOT_COMPUTE);
    ck_assert_str_eq(config_cross_slot_name(c.cross_slot), "compute");
    config_free(&c);
}
END_TEST

START_TEST(test_config_durations)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } good[] = {
        {"0", 0},       {"3s", 3000},     {"500ms", 500},     {"1m30s", 90000},
        {"1.5s", 1500}, {"1h", 3600000},  {"2h45m", 9900000}, {"0s", 0},
        {"0ms", 0},     {".5s", 500},     {"1m0.5s", 60500},  {"250ms1s", 1250},
        {"1500us", 2},  {"1us", 1},       {"1ns", 1},         {"999999ns", 1},
        {"0.4ms", 1},   {"10.0s", 10000}, {"00s", 0},         {"1h1h", 7200000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t ms = 12345;
        int rc = config_parse_duration(good[i].s, &ms);
        ck_assert_msg(rc == 0, "\"%s\" rejected", good[i].s);
        ck_assert_msg(ms == good[i].ms, "\"%s\": %llu ms, want %llu", good[i].s,
                      (unsigned long long)ms, (unsigned long long)good[i].ms);
    }
    static const char *const bad[] = {
        "",       "3",
        "s",      "ms",
        "3x",     "-3s",
        "+3s",    "3 s",
        " 3s",    "3s ",
        "3S",     "3sec",
        "1..5s",  "inf",
        "nan",    "3s-1s",
        "1m30",   "1.5",
        ".s",     "3ms5",
        "1e400s", "9999999999999h",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 12345;
        ck_assert_msg(config_parse_duration(bad[i], &ms) == PX_EINVAL, "\"%s\" accepted (%llu)",
                      bad[i], (unsigned long long)ms);
        ck_assert_uint_eq(ms, 12345); /* untouched on error */
    }
}
END_TEST

/* A bad command line and the exact one-line message it must give. */
struct bad_case {
    const char *flags[4];
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {{"-threads=0"}, "invalid value \"0\" for flag -threads: expected an integer from 1 to 1024"},
    {{"-threads=1025"},
     "invalid value \"1025\" for flag -threads: expected an integer from 1 to 1024"},
    {{"--threads", "abc"},
     "invalid value \"abc\" for flag -threads: expected an integer from 1 to 1024"},
    {{"-threads="}, "invalid value \"\" for flag -threads: expected an integer from 1 to 1024"},
    {{"-threads=1.5"},
     "invalid value \"1.5\" for flag -threads: expected an integer from 1 to 1024"},
    {{"-threads=99999999999999999999"},
     "invalid value \"99999999999999999999\" for flag -threads: expected an integer from 1 to "
     "1024"},
    {{"-tcp-keepalive=-1"},
     "invalid value \"-1\" for flag -tcp-keepalive: expected an integer from 0 to 86400"},
    {{"-max-redirects=0"},
     "invalid value \"0\" for flag -max-redirects: expected an integer from 1 to 1000"},
    {{"-connect-timeout=3"},
     "invalid value \"3\" for flag -connect-timeout: expected a duration such as 3s or 500ms"},
    {{"--failover-hold", "soon"},
     "invalid value \"soon\" for flag -failover-hold: expected a duration such as 3s or 500ms"},
    {{"-slots-reload-interval=-1s"},
     "invalid value \"-1s\" for flag -slots-reload-interval: expected a duration such as 3s or "
     "500ms"},
    {{"-addr=nohost"}, "invalid value \"nohost\" for flag -addr: expected host:port"},
    /* Port 0 turns the plain-text listener off, which leaves nothing without -tls-port. */
    {{"-addr=1.2.3.4:0"},
     "nothing to listen on: the plain-text port is 0 and -tls-port is not given"},
    {{"-port=0"}, "nothing to listen on: the plain-text port is 0 and -tls-port is not given"},
    {{"-port=65536"},
     "invalid value \"65536\" for flag -port: expected a port from 0 to 65535 (0: no plain-text "
     "listener)"},
    {{"-addr=1.2.3.4:65536"}, "invalid value \"1.2.3.4:65536\" for flag -addr: expected host:port"},
    {{"-addr=1.2.3.4:"}, "invalid value \"1.2.3.4:\" for flag -addr: expected host:port"},
    {{"-addr=::1:80"}, "invalid value \"::1:80\" for flag -addr: expected host:port"},
    {{"-startup-nodes="},
     "invalid value \"\" for flag -startup-nodes: expected host:port[,host:port...]"},
    {{"-startup-nodes", " , ,"},
     "invalid value \" , ,\" for flag -startup-nodes: expected host:port[,host:port...]"},
    {{"-startup-nodes=127.0.0.1:7001,nohost"},
     "invalid value \"127.0.0.1:7001,nohost\" for flag -startup-nodes: expected "
     "host:port[,host:port...]"},
    {{"-startup-nodes=:7001"},
     "invalid value \":7001\" for flag -startup-nodes: expected host:port[,host:port...]"},
    {{"-log-level=loud"},
     "invalid value \"loud\" for flag -log-level: expected debug, info, warn or error"},
    {{"-nope"}, "unknown flag -nope (see --help)"},
    {{"--nope=1"}, "unknown flag -nope (see --help)"},
    {{"-Threads=2"}, "unknown flag -Threads (see --help)"},
    {{"-threads"}, "flag -threads needs a value"},
    {{"-threads=2", "--log-level"}, "flag -log-level needs a value"},
    {{"foo"}, "unexpected argument \"foo\" (flags start with -; see --help)"},
    {{"-"}, "unexpected argument \"-\" (flags start with -; see --help)"},
    {{"-threads", "2", "extra"}, "unexpected argument \"extra\" (flags start with -; see --help)"},
    {{"-user=bob"}, "flag -user needs -password as well"},
    {{"-tls-port=6380"}, "flag -tls-port needs -tls-cert-file and -tls-key-file"},
    {{"-tls-port=6380", "-tls-cert-file=c.pem", "-tls-key-file=k.pem"},
     "flag -tls-port needs -tls-ca-cert-file or -tls-ca-cert-dir (or -tls-auth-clients no)"},
    {{"-tls-cluster=yes"},
     "flag -tls-cluster needs -tls-ca-cert-file or -tls-ca-cert-dir (or -tls-auth-clients no)"},
    {{"-tls-port=8088", "-tls-cert-file=c.pem", "-tls-key-file=k.pem", "-tls-auth-clients=no"},
     "-tls-port 8088 is also the plain-text port of -addr"},
    {{"-tls-client-cert-file=c.pem"}, "flag -tls-client-cert-file needs -tls-client-key-file"},
    {{"-tls-auth-clients=maybe"},
     "invalid value \"maybe\" for flag -tls-auth-clients: expected yes, no or optional"},
    {{"-tls-protocols=TLSv1.2 TLSv1.4"},
     "invalid value \"TLSv1.2 TLSv1.4\" for flag -tls-protocols: expected a combination of "
     "TLSv1, TLSv1.1, TLSv1.2 and TLSv1.3"},
    {{"-tls-cluster=maybe"}, "invalid value \"maybe\" for flag -tls-cluster: expected yes or no"},
    {{"-tls-port=-1"},
     "invalid value \"-1\" for flag -tls-port: expected an integer from 0 to 65535"},
    /* At 0 every client was closed on its first read; Redis's minimum is 1mb too. */
    {{"-query-buffer-limit=0"},
     "invalid value \"0\" for flag -query-buffer-limit: expected a size of at least 1mb"},
    {{"-query-buffer-limit", "1048575"},
     "invalid value \"1048575\" for flag -query-buffer-limit: expected a size of at least 1mb"},
    {{"-query-buffer-limit=512kb"},
     "invalid value \"512kb\" for flag -query-buffer-limit: expected a size of at least 1mb"},
    {{"-cross-slot=merge"}, "invalid value \"merge\" for flag -cross-slot: expected refuse or compute"},
    {{"-http-addr", "nowhere"}, "invalid value \"nowhere\" for flag -http-addr: expected host:port"},
    {{"-http-timeout=soon"},
     "invalid value \"soon\" for flag -http-timeout: expected a duration such as 3s or 500ms"},
};

START_TEST(test_config_bad_values)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *b = &bad_cases[i];
        const char *flags[5] = {0};
        for (int k = 0; k < 4 && b->flags[k]; k++) flags[k] = b->flags[k];
        struct config c;
        char err[512];
        char *out = NULL;
        int rc = parse(&c, flags, err, sizeof(err), &out);
        ck_assert_msg(rc == PX_EINVAL, "case %zu (%s): rc %d", i, b->flags[0], rc);
        ck_assert_msg(strcmp(err, b->msg) == 0, "case %zu: message\n  \"%s\"\nwant\n  \"%s\"", i,
                      err, b->msg);
        ck_assert_ptr_null(strchr(err, '\n'));
        ck_assert_str_eq(out, "");
        free(out);
        config_free(&c);
    }
}
END_TEST

/* -query-buffer-limit's smallest value is taken, and from a file too only 1mb or more. */
START_TEST(test_config_query_buffer_limit_min)
{
    struct config c;
    char err[512];
    ck_assert_int_eq(parse(&c, FLAGS("-query-buffer-limit=1mb"), err, sizeof(err), NULL),
                     CONFIG_OK);
    ck_assert_uint_eq(c.query_buf_limit, 1ull << 20);
    config_free(&c);
    char path[] = "/tmp/px-config-qbl-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char line[] = "query-buffer-limit 0\n";
    ck_assert_int_eq(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
    close(fd);
    char flag[64];
    snprintf(flag, sizeof(flag), "-config=%s", path);
    ck_assert_int_eq(parse(&c, FLAGS(flag), err, sizeof(err), NULL), PX_EINVAL);
    ck_assert_msg(strstr(err,
                         ":1: invalid value \"0\" for flag -query-buffer-limit: expected a size "
                         "of at least 1mb") != NULL,
                  "%s", err);
    config_free(&c);
    unlink(path);
}
END_TEST

/* Pool mode's flags: the two sources of servers, twemproxy's names and defaults, what goes with
 * what, and the servers file read at startup so that a bad one stops the proxy. */
START_TEST(test_config_pool)
{
    struct config c;
    char err[512];
    ck_assert_int_eq(parse(&c, FLAGS("-threads", "1"), err, sizeof(err), NULL), CONFIG_OK);
    ck_assert_int_eq(c.pool, 0);
    ck_assert_uint_eq(c.failover_hold_ms, 5000);
    config_free(&c);

    ck_assert_int_eq(parse(&c,
                           FLAGS("-pool-server", "127.0.0.1:6379", "--pool-server",
                                 "127.0.0.1:6380:3 beta", "-distribution=modula", "-hash", "murmur",
                                 "-hash-tag", "{}", "-auto-eject-hosts", "yes",
                                 "-server-failure-limit", "5", "-server-retry-timeout", "1500"),
                           err, sizeof(err), NULL),
                     CONFIG_OK);
    ck_assert_int_eq(c.pool, 1);
    ck_assert_int_eq(c.npool_server, 2);
    ck_assert_str_eq(c.pool_server_lines, "127.0.0.1:6379:1\n127.0.0.1:6380:3 beta\n");
    ck_assert_int_eq(c.placement.dist, PLACEMENT_MODULA);
    ck_assert_int_eq(c.placement.hash, HASHKIT_MURMUR);
    ck_assert(c.placement.hash_tag[0] == '{' && c.placement.hash_tag[1] == '}');
    ck_assert_int_eq(c.auto_eject_hosts, 1);
    ck_assert_int_eq(c.server_failure_limit, 5);
    ck_assert_uint_eq(c.server_retry_timeout_ms, 1500);
    /* A request for a server that is down fails at once, unless -failover-hold says otherwise;
     * no stall is judged (no failover can depose a pool's server). */
    ck_assert_uint_eq(c.failover_hold_ms, 0);
    ck_assert_uint_eq(c.stall_threshold_ms, 0);
    config_free(&c);

    /* twemproxy's defaults; -server-retry-timeout as a duration; -failover-hold kept. */
    ck_assert_int_eq(parse(&c,
                           FLAGS("-pool-server", "127.0.0.1:6379", "-server-retry-timeout", "2s",
                                 "-failover-hold", "1s"),
                           err, sizeof(err), NULL),
                     CONFIG_OK);
    ck_assert_int_eq(c.placement.dist, PLACEMENT_KETAMA);
    ck_assert_int_eq(c.placement.hash, HASHKIT_FNV1A_64);
    ck_assert_int_eq(c.placement.hash_tag[0], 0);
    ck_assert_int_eq(c.auto_eject_hosts, 0);
    ck_assert_int_eq(c.server_failure_limit, 2);
    ck_assert_uint_eq(c.server_retry_timeout_ms, 2000);
    ck_assert_uint_eq(c.failover_hold_ms, 1000);
    config_free(&c);

    /* A servers file in redis-router's format, through a config file. */
    char sf[] = "/tmp/px-config-servers-XXXXXX", cf[] = "/tmp/px-config-file-XXXXXX";
    int fd = mkstemp(sf);
    ck_assert(fd >= 0 && write(fd, "127.0.0.1:6379 100\n127.0.0.1:6380 100\n", 38) == 38);
    close(fd);
    fd = mkstemp(cf);
    char text[256];
    int n = snprintf(text, sizeof(text), "pool-servers %s\ndistribution libketama\n", sf);
    ck_assert(fd >= 0 && write(fd, text, (size_t)n) == n);
    close(fd);
    ck_assert_int_eq(parse(&c, FLAGS("-config", cf), err, sizeof(err), NULL), CONFIG_OK);
    ck_assert_int_eq(c.pool, 1);
    ck_assert_str_eq(c.pool_servers, sf);
    ck_assert_int_eq(c.placement.dist, PLACEMENT_LIBKETAMA);
    ck_assert_int_eq(config_given(&c, "distribution"), 1);
    ck_assert_int_eq(config_given(&c, "hash"), 0);
    config_free(&c);

    const struct {
        const char *flags[9];
        const char *msg;
    } bad[] = {
        {{"-distribution", "ketama"},
         "flag -distribution needs pool mode (-pool-servers or -pool-server)"},
        {{"-pool-server", "127.0.0.1:6379", "-startup-nodes", "127.0.0.1:7001"},
         "flag -startup-nodes is for a cluster; pool mode takes its servers from -pool-servers "
         "or -pool-server"},
        {{"-pool-server", "127.0.0.1"},
         "invalid value \"127.0.0.1\" for flag -pool-server: expected host:port[:weight] [name]"},
        {{"-pool-server", "127.0.0.1:6379", "-distribution", "consistent"},
         "invalid value \"consistent\" for flag -distribution: expected ketama, libketama, "
         "modula, random or crc32-mod"},
        {{"-pool-server", "127.0.0.1:6379", "-hash", "sha1"},
         "invalid value \"sha1\" for flag -hash: expected fnv1a_64, fnv1a_32, fnv1_64, fnv1_32, "
         "md5, crc16, crc32, crc32a, murmur, one_at_a_time, hsieh or jenkins"},
        {{"-pool-server", "127.0.0.1:6379", "-hash-tag", "{"},
         "invalid value \"{\" for flag -hash-tag: expected two characters such as {}"},
        {{"-pool-server", "127.0.0.1:6379", "-hash-tag-strip", "yes"},
         "flag -hash-tag-strip needs -distribution crc32-mod (it stores keys as rediscluster-py "
         "does)"},
        {{"-pool-server", "127.0.0.1:6379", "-distribution", "crc32-mod", "-hash-tag", "{}"},
         "flag -hash-tag cannot be used with -distribution crc32-mod, which has rediscluster-py's "
         "hash-tag rule built in"},
        {{"-pool-server", "127.0.0.1:6379 a", "-pool-server", "127.0.0.1:6380 a"},
         "flag -pool-server: two servers have the same name (or the same host:port without a "
         "name)"},
        {{"-pool-servers", "/nonexistent/servers"},
         "flag -pool-servers: cannot read servers file /nonexistent/servers: No such file or "
         "directory"},
        {{"-pool-servers", sf, "-pool-server", "127.0.0.1:6379"},
         "flags -pool-servers and -pool-server cannot be used together"},
        {{"-pool-server", "127.0.0.1:6379", "-stall-threshold", "300ms"},
         "flag -stall-threshold is for a cluster: a pool's servers are not failed over, so a stall "
         "is simply waited for (-backend-timeout)"},
        {{"-pool-server", "127.0.0.1:6379", "-distribution", "crc32-mod", "-hash-tag-strip", "yes",
          "-cross-slot", "compute"},
         "flags -cross-slot compute and -hash-tag-strip cannot be used together"},
        {{"-pool-server", "127.0.0.1:6379", "-server-retry-timeout", "soon"},
         "invalid value \"soon\" for flag -server-retry-timeout: expected milliseconds (30000) or "
         "a duration (30s)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(&c, bad[i].flags, err, sizeof(err), NULL);
        ck_assert_msg(rc == PX_EINVAL, "case %zu: rc %d", i, rc);
        ck_assert_msg(strcmp(err, bad[i].msg) == 0, "case %zu: message\n  \"%s\"\nwant\n  \"%s\"",
                      i, err, bad[i].msg);
        config_free(&c);
    }
    unlink(sf);
    unlink(cf);
}
END_TEST

START_TEST(test_config_help_and_version)
{
    static const char *const help_forms[] = {"-h", "--h", "-help", "--help"};
    for (size_t i = 0; i < sizeof(help_forms) / sizeof(help_forms[0]); i++) {
        struct config c;
        char err[256];
        char *out = NULL;
        /* Help wins over a bad flag after it, but not over one before it. */
        ck_assert_int_eq(parse(&c, FLAGS(help_forms[i], "-nope"), err, sizeof(err), &out),
                         CONFIG_EXIT_OK);
        ck_assert_str_eq(err, "");
        ck_assert_ptr_nonnull(strstr(out, "Usage: slotproxy [flags]"));
        static const char *const names[] = {
            "-addr",
            "-startup-nodes",
            "-threads",
            "-connect-timeout",
            "-slots-reload-interval",
            "-failover-hold",
            "-password",
            "-user",
            "-tcp-keepalive",
            "-max-redirects",
            "-log-level",
            "-log-file",
            "-version",
        };
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            ck_assert_msg(strstr(out, names[k]) != NULL, "help does not mention %s", names[k]);
        ck_assert_ptr_nonnull(strstr(out, "(default 3s)"));
        free(out);
        config_free(&c);
    }
    struct config c;
    char err[256];
    char *out = NULL;
    ck_assert_int_eq(parse(&c, FLAGS("-nope", "-h"), err, sizeof(err), &out), PX_EINVAL);
    ck_assert_str_eq(out, "");
    free(out);
    config_free(&c);
    static const char *const version_forms[] = {"-version", "--version"};
    for (size_t i = 0; i < 2; i++) {
        out = NULL;
        ck_assert_int_eq(parse(&c, FLAGS("-threads=2", version_forms[i]), err, sizeof(err), &out),
                         CONFIG_EXIT_OK);
        ck_assert_str_eq(out, "slotproxy " PX_VERSION "\n");
        free(out);
        config_free(&c);
    }
}
END_TEST

/* The TLS flags, with Redis's names: parsed values, defaults, -port and -addr host:0, and the
 * options handed to net/tls. */
START_TEST(test_config_tls)
{
    struct config c;
    char err[512];
    ck_assert_int_eq(parse(&c, (const char *const[]){NULL}, err, sizeof(err), NULL), CONFIG_OK);
    ck_assert_int_eq(c.tls_port, 0);
    ck_assert_int_eq(c.tls_cluster, 0);
    ck_assert_int_eq(c.tls_auth_clients, TLS_AUTH_CLIENTS_YES);
    ck_assert_int_eq(c.tls_session_caching, 1);
    ck_assert_int_eq(c.tls_session_cache_size, 20480);
    ck_assert_int_eq(c.tls_session_cache_timeout, 300);
    ck_assert_uint_eq(c.tls_handshake_timeout_ms, 10000);
    ck_assert_ptr_null(c.tls_protocols);
    config_free(&c);

    int rc = parse(&c,
                   FLAGS("-addr=127.0.0.1:0", "-tls-port=6380", "--tls-cert-file", "s.crt",
                         "-tls-key-file=s.key", "-tls-key-file-pass=pw", "-tls-ca-cert-file=ca.crt",
                         "-tls-ca-cert-dir=/etc/ssl/certs", "-tls-auth-clients=optional",
                         "-tls-protocols=tlsv1.3", "-tls-ciphers=HIGH", "-tls-ciphersuites",
                         "TLS_AES_256_GCM_SHA384", "-tls-prefer-server-ciphers=yes",
                         "-tls-session-caching=no", "-tls-cluster=yes",
                         "-tls-client-cert-file=c.crt", "-tls-client-key-file=c.key",
                         "-tls-client-key-file-pass=cpw", "-tls-handshake-timeout=2s"),
                   err, sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_int_eq(c.listen_port, 0);
    ck_assert_str_eq(c.listen_host, "127.0.0.1");
    ck_assert_int_eq(c.tls_port, 6380);
    ck_assert_int_eq(c.tls_cluster, 1);
    ck_assert_uint_eq(c.tls_handshake_timeout_ms, 2000);
    struct tls_opts o;
    config_tls_opts(&c, &o);
    ck_assert_str_eq(o.cert_file, "s.crt");
    ck_assert_str_eq(o.key_file, "s.key");
    ck_assert_str_eq(o.key_file_pass, "pw");
    ck_assert_str_eq(o.client_cert_file, "c.crt");
    ck_assert_str_eq(o.client_key_file, "c.key");
    ck_assert_str_eq(o.client_key_file_pass, "cpw");
    ck_assert_str_eq(o.ca_cert_file, "ca.crt");
    ck_assert_str_eq(o.ca_cert_dir, "/etc/ssl/certs");
    ck_assert_int_eq(o.auth_clients, TLS_AUTH_CLIENTS_OPTIONAL);
    ck_assert_str_eq(o.protocols, "tlsv1.3");
    ck_assert_str_eq(o.ciphers, "HIGH");
    ck_assert_str_eq(o.ciphersuites, "TLS_AES_256_GCM_SHA384");
    ck_assert_int_eq(o.prefer_server_ciphers, 1);
    ck_assert_int_eq(o.session_caching, 0);
    config_free(&c);

    /* -port is the port of -addr, as Redis names it; the later of the two wins. */
    rc = parse(&c,
               FLAGS("-addr=10.0.0.1:7000", "-port=0", "-tls-port=7001", "-tls-cert-file=a",
                     "-tls-key-file=b", "-tls-auth-clients=no"),
               err, sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_int_eq(c.listen_port, 0);
    ck_assert_str_eq(c.listen_host, "10.0.0.1");
    ck_assert_str_eq(c.addr, "10.0.0.1:0");
    config_free(&c);
    rc = parse(&c, FLAGS("-port=9001", "-addr=[::1]:9002"), err, sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_int_eq(c.listen_port, 9002);
    config_free(&c);
    rc = parse(&c, FLAGS("-addr=[::1]:9002", "-port=9003"), err, sizeof(err), NULL);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_str_eq(c.addr, "[::1]:9003");
    config_free(&c);

    /* The same names as configuration file keys, as in redis.conf. */
    char path[] = "/tmp/slotproxy-tls-conf.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("port 0\ntls-port 6380\ntls-cert-file /etc/proxy.crt\ntls-key-file /etc/proxy.key\n"
          "tls-ca-cert-file /etc/ca.crt\ntls-auth-clients optional\n"
          "tls-protocols \"TLSv1.2 TLSv1.3\"\ntls-cluster yes\ntls-session-caching no\n",
          f);
    fclose(f);
    rc = parse(&c, FLAGS("-config", path), err, sizeof(err), NULL);
    unlink(path);
    ck_assert_msg(rc == CONFIG_OK, "%s", err);
    ck_assert_int_eq(c.listen_port, 0);
    ck_assert_int_eq(c.tls_port, 6380);
    ck_assert_str_eq(c.tls_cert_file, "/etc/proxy.crt");
    ck_assert_str_eq(c.tls_protocols, "TLSv1.2 TLSv1.3");
    ck_assert_int_eq(c.tls_auth_clients, TLS_AUTH_CLIENTS_OPTIONAL);
    ck_assert_int_eq(c.tls_cluster, 1);
    ck_assert_int_eq(c.tls_session_caching, 0);
    config_free(&c);
}
END_TEST

/* Regression: Go's duration syntax has no exponents or hex floats; the parser once used strtod,
 * which reads them. */
START_TEST(test_config_known_bug_durations)
{
    /* Go's time.ParseDuration, which the parser follows, has no exponents or hex floats, but
     * strtod reads them: "1e3s" is taken as 1000 seconds and "0x10s" as 16 seconds. */
    static const char *const bad[] = {"1e3s", "0x10s", "1E1ms", "0x1p4s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 0;
        ck_assert_msg(config_parse_duration(bad[i], &ms) == PX_EINVAL, "\"%s\" accepted as %llu ms",
                      bad[i], (unsigned long long)ms);
    }
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_config_defaults);
    tcase_add_test(tc, test_config_flag_forms);
    tcase_add_test(tc, test_config_durations);
    tcase_add_test(tc, test_config_bad_values);
    tcase_add_test(tc, test_config_query_buffer_limit_min);
    tcase_add_test(tc, test_config_pool);
    tcase_add_test(tc, test_config_help_and_version);
    tcase_add_test(tc, test_config_known_bug_durations);
    tcase_add_test(tc, test_config_tls);
    suite_add_tcase(s, tc);
    return s;
}
