/*
 * ACL users (issue 22, point 5) through the proxy, against the shared cluster: users from
 * -aclfile, AUTH and HELLO AUTH, command/key/channel permissions with Redis's exact -NOPERM
 * texts, MULTI/EXEC with a refused command, ACL LOG entries, INFO and /metrics counts, ACL SAVE
 * and LOAD through the file, DELUSER closing the user's clients on both workers (-threads 2),
 * subscribers closed when their channels are revoked, -requirepass, and hostile input. ACL
 * replies are compared byte for byte with the shared standalone redis-server (RESP2 and RESP3).
 * Each test starts its own proxy (ports cluster_port + 200 ...) and stops it by pid.
 */
#include "harness.h"
#include "suites.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int acl_port(int k)
{
    return h_env.cluster_port + 200 + k;
}

static char startup[64];

/* Writes an ACL file in the work directory and returns its path (static storage per k). */
static const char *acl_file(int k, const char *text)
{
    static char path[8][512];
    snprintf(path[k], sizeof(path[k]), "%s/acl-%d.acl", h_env.workdir, k);
    FILE *f = fopen(path[k], "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path[k];
}

static pid_t acl_proxy(int k, const char *const *extra)
{
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    char log[64];
    snprintf(log, sizeof(log), "proxy-acl-%d.log", k);
    pid_t pid = h_proxy_start(acl_port(k), startup, extra, log);
    ck_assert_msg(pid > 0, "proxy %d did not start", k);
    return pid;
}

static void acl_stop(int k, pid_t pid)
{
    char log[64];
    snprintf(log, sizeof(log), "proxy-acl-%d.log", k);
    ck_assert_int_eq(h_proxy_stop(pid, log), 0);
}

/* One request of space-separated words ("\s" in a word is a space) on c; returns the reply. */
static const char *rt(struct h_rc *c, const char *words, size_t *len)
{
    char buf[8192];
    char *argv[64];
    size_t lens[64];
    int n = 0;
    snprintf(buf, sizeof(buf), "%s", words);
    for (char *p = strtok(buf, " "); p && n < 64; p = strtok(NULL, " ")) {
        argv[n] = p;
        lens[n++] = strlen(p);
    }
    struct sbuf_lite {
        char *p;
        size_t len, cap;
    } out = {malloc(65536), 0, 65536};
    out.len += (size_t)snprintf(out.p, out.cap, "*%d\r\n", n);
    for (int i = 0; i < n; i++) {
        char arg[4096];
        size_t al = 0;
        for (size_t j = 0; j < lens[i]; j++) {
            if (argv[i][j] == '\\' && argv[i][j + 1] == 's') {
                arg[al++] = ' ';
                j++;
            } else {
                arg[al++] = argv[i][j];
            }
        }
        out.len += (size_t)snprintf(out.p + out.len, out.cap - out.len, "$%zu\r\n", al);
        memcpy(out.p + out.len, arg, al);
        out.len += al;
        memcpy(out.p + out.len, "\r\n", 2);
        out.len += 2;
    }
    const char *r = h_rc_roundtrip(c, out.p, out.len, len);
    free(out.p);
    return r;
}

/* The reply to words must be want, byte for byte. */
static void expect(struct h_rc *c, const char *words, const char *want)
{
    size_t len;
    const char *got = rt(c, words, &len);
    char a[600], b[600];
    ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0, "%s:\n got  %s\n want %s",
                  words, h_show(got, len, 280, a, sizeof(a)),
                  h_show(want, strlen(want), 280, b, sizeof(b)));
}

/* The reply to words must start with prefix. */
static void expect_prefix(struct h_rc *c, const char *words, const char *prefix)
{
    size_t len;
    const char *got = rt(c, words, &len);
    char a[600];
    ck_assert_msg(len >= strlen(prefix) && memcmp(got, prefix, strlen(prefix)) == 0,
                  "%s: got %s, want it to start with %s", words, h_show(got, len, 280, a, sizeof(a)),
                  prefix);
}

/* Waits up to timeout_ms for the peer to close fd; 1 when it did. */
static int closed_within(int fd, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    char buf[4096];
    while (h_now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return 1;
    }
    return 0;
}

static const char *const NOPERM_KEYS =
    "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
static const char *const NOPERM_CHANNELS =
    "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n";
static const char *const WRONGPASS =
    "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

static const char *const USERS = "user alice on >alicepw ~* &* +@all\n"
                                 "user bob on >bobpw -@all +@set +acl +multi +exec ~set* &*\n"
                                 "user carol on nopass +@all %R~r:* %W~w:* resetchannels &news:*\n"
                                 "user dave off >davepw ~* &* +@all\n";

/* Users from -aclfile; AUTH and HELLO AUTH; commands, keys and channels refused with Redis's
 * texts, allowed ones served by the cluster; MULTI with a refused command fails at EXEC. */
START_TEST(test_acl_file_auth_permissions)
{
    const char *file = acl_file(0, USERS);
    const char *extra[] = {"-threads", "2", "-aclfile", file, NULL};
    pid_t pid = acl_proxy(0, extra);
    struct h_rc c;
    h_rc_open(&c, acl_port(0));
    expect(&c, "ACL WHOAMI", "$7\r\ndefault\r\n");
    expect_prefix(&c, "DEL set:acl:1 set:acl:2", ":");
    expect(&c, "AUTH bob wrong", WRONGPASS);
    expect(&c, "AUTH nobody x", WRONGPASS);
    expect(&c, "AUTH dave davepw", WRONGPASS); /* off */
    expect(&c, "AUTH x", "-ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?\r\n");
    expect(&c, "AUTH bob bobpw", "+OK\r\n");
    expect(&c, "ACL WHOAMI", "$3\r\nbob\r\n");
    /* Allowed: it reaches the node (SADD answers a count only a node gives). */
    expect(&c, "SADD set:acl:1 a b", ":2\r\n");
    expect(&c, "SCARD set:acl:1", ":2\r\n");
    expect(&c, "SET set:acl:1 v", "-NOPERM this user has no permissions to run the 'set' command\r\n");
    expect(&c, "SADD other:acl x", NOPERM_KEYS);
    expect(&c, "CLIENT ID",
           "-NOPERM this user has no permissions to run the 'client|id' command\r\n");
    /* NOPERM comes before CROSSSLOT and before the proxy's own refusals, as in Redis. */
    expect(&c, "SUNIONSTORE set:acl:1 other1 other2", NOPERM_KEYS);
    expect(&c, "MONITOR", "-NOPERM this user has no permissions to run the 'monitor' command\r\n");
    /* ...but after arity and unknown commands. */
    expect(&c, "SADD set:acl:1", "-ERR wrong number of arguments for 'sadd' command\r\n");
    /* MULTI: the refusal is answered at once and EXEC fails. */
    expect(&c, "MULTI", "+OK\r\n");
    expect(&c, "SADD set:acl:1 c", "+QUEUED\r\n");
    expect(&c, "GET set:acl:1", "-NOPERM this user has no permissions to run the 'get' command\r\n");
    expect(&c, "EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n");
    expect(&c, "SCARD set:acl:1", ":2\r\n");
    /* carol: read and write patterns, channels. */
    expect(&c, "AUTH carol anything", "+OK\r\n");
    expect(&c, "GET r:1", "$-1\r\n");
    expect(&c, "SET r:1 v", NOPERM_KEYS);
    expect(&c, "SET w:1 v", "+OK\r\n");
    expect(&c, "SET w:1 v GET", NOPERM_KEYS);
    expect(&c, "GET w:1", NOPERM_KEYS);
    expect(&c, "COPY w:1 r:2", NOPERM_KEYS);
    expect(&c, "PUBLISH news:1 hello", ":0\r\n");
    expect(&c, "PUBLISH sport hello", NOPERM_CHANNELS);
    expect(&c, "SPUBLISH sport hello", NOPERM_CHANNELS);
    expect(&c, "PSUBSCRIBE news:1*", NOPERM_CHANNELS); /* patterns compare literally */
    expect(&c, "SUBSCRIBE news:1 sport", NOPERM_CHANNELS);
    expect(&c, "SUBSCRIBE news:1", "*3\r\n$9\r\nsubscribe\r\n$6\r\nnews:1\r\n:1\r\n");
    expect(&c, "UNSUBSCRIBE", "*3\r\n$11\r\nunsubscribe\r\n$6\r\nnews:1\r\n:0\r\n");
    /* HELLO AUTH switches user and protocol; a bad pair changes nothing. */
    expect(&c, "HELLO 3 AUTH alice nope", WRONGPASS);
    expect(&c, "ACL WHOAMI", "$5\r\ncarol\r\n");
    expect_prefix(&c, "HELLO 3 AUTH alice alicepw", "%7\r\n$6\r\nserver\r\n");
    expect(&c, "ACL WHOAMI", "$5\r\nalice\r\n");
    expect(&c, "DEL w:1 set:acl:1", ":2\r\n");
    /* RESET goes back to the default user. */
    expect(&c, "RESET", "+RESET\r\n");
    expect(&c, "ACL WHOAMI", "$7\r\ndefault\r\n");
    /* CLIENT LIST names the user. */
    expect(&c, "AUTH alice alicepw", "+OK\r\n");
    size_t len;
    const char *r = rt(&c, "CLIENT INFO", &len);
    ck_assert_ptr_nonnull(memmem(r, len, " user=alice ", 12));
    h_rc_close(&c);
    acl_stop(0, pid);
}
END_TEST

/* ACL LOG entries as Redis writes them, and the denials in INFO and /metrics. */
START_TEST(test_acl_log_and_metrics)
{
    const char *file = acl_file(1, USERS);
    char dbg[32];
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", acl_port(6));
    const char *extra[] = {"-threads", "2", "-aclfile", file, "-debug-addr", dbg,
                           "-acllog-max-len", "5", NULL};
    pid_t pid = acl_proxy(1, extra);
    struct h_rc c, adm;
    h_rc_open(&c, acl_port(1));
    h_rc_open(&adm, acl_port(1));
    expect(&c, "auth bob badpass", WRONGPASS);
    size_t len;
    const char *r = rt(&adm, "ACL LOG", &len);
    char want[256];
    /* count 1, reason auth, context toplevel, object as typed, the user tried */
    snprintf(want, sizeof(want),
             "*1\r\n*14\r\n$5\r\ncount\r\n:1\r\n$6\r\nreason\r\n$4\r\nauth\r\n$7\r\ncontext\r\n"
             "$8\r\ntoplevel\r\n$6\r\nobject\r\n$4\r\nauth\r\n$8\r\nusername\r\n$3\r\nbob\r\n"
             "$11\r\nage-seconds\r\n");
    char a[700];
    ck_assert_msg(len > strlen(want) && memcmp(r, want, strlen(want)) == 0, "ACL LOG: %s",
                  h_show(r, len, 600, a, sizeof(a)));
    ck_assert_ptr_nonnull(memmem(r, len, "client-info", 11));
    ck_assert_ptr_nonnull(memmem(r, len, " user=default ", 14));
    expect(&c, "AUTH bob bobpw", "+OK\r\n");
    expect(&c, "GET set:x", "-NOPERM this user has no permissions to run the 'get' command\r\n");
    expect(&c, "GET set:x", "-NOPERM this user has no permissions to run the 'get' command\r\n");
    expect(&c, "SADD nokey:1 a", NOPERM_KEYS);
    r = rt(&adm, "ACL LOG 2", &len);
    snprintf(want, sizeof(want),
             "*2\r\n*14\r\n$5\r\ncount\r\n:1\r\n$6\r\nreason\r\n$3\r\nkey\r\n$7\r\ncontext\r\n"
             "$8\r\ntoplevel\r\n$6\r\nobject\r\n$7\r\nnokey:1\r\n$8\r\nusername\r\n$3\r\nbob\r\n");
    ck_assert_msg(memcmp(r, want, strlen(want)) == 0, "ACL LOG 2: %s",
                  h_show(r, len, 600, a, sizeof(a)));
    snprintf(want, sizeof(want),
             "*14\r\n$5\r\ncount\r\n:2\r\n$6\r\nreason\r\n$7\r\ncommand\r\n$7\r\ncontext\r\n"
             "$8\r\ntoplevel\r\n$6\r\nobject\r\n$3\r\nget\r\n");
    ck_assert_msg(memmem(r, len, want, strlen(want)) != NULL, "grouped entry: %s",
                  h_show(r, len, 600, a, sizeof(a)));
    ck_assert_ptr_nonnull(memmem(r, len, " cmd=get user=bob ", 18));
    /* In MULTI the context is multi. */
    expect(&c, "MULTI", "+OK\r\n");
    expect(&c, "INCR set:n", "-NOPERM this user has no permissions to run the 'incr' command\r\n");
    expect(&c, "EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n");
    r = rt(&adm, "ACL LOG 1", &len);
    ck_assert_ptr_nonnull(memmem(r, len, "$7\r\ncontext\r\n$5\r\nmulti\r\n", 24));
    /* RESP3: maps, and age-seconds a double. */
    expect_prefix(&adm, "HELLO 3", "%7\r\n");
    r = rt(&adm, "ACL LOG 1", &len);
    ck_assert_msg(len > 20 && memcmp(r, "*1\r\n%7\r\n$5\r\ncount\r\n", 19) == 0, "%s",
                  h_show(r, len, 300, a, sizeof(a)));
    ck_assert_ptr_nonnull(memmem(r, len, "$11\r\nage-seconds\r\n,", 19));
    expect_prefix(&adm, "HELLO 2", "*14\r\n");
    /* -acllog-max-len 5 */
    for (int i = 0; i < 8; i++) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "SADD obj:%d x", i);
        expect(&c, cmd, NOPERM_KEYS);
    }
    expect_prefix(&adm, "ACL LOG 100", "*5\r\n");
    expect(&adm, "ACL LOG -3", "*0\r\n");
    expect(&adm, "ACL LOG x", "-ERR value is not an integer or out of range\r\n");
    expect(&adm, "ACL LOG RESET", "+OK\r\n");
    expect(&adm, "ACL LOG", "*0\r\n");
    /* The counts: 1 auth, 4 command (get x2, incr... and the EXEC's), keys, no channel. */
    ck_assert_int_eq(h_info_num(acl_port(1), "acl_access_denied_auth"), 1);
    ck_assert_int_eq(h_info_num(acl_port(1), "acl_access_denied_cmd"), 3);
    ck_assert_int_eq(h_info_num(acl_port(1), "acl_access_denied_key"), 9);
    ck_assert_int_eq(h_info_num(acl_port(1), "acl_access_denied_channel"), 0);
    struct h_http h;
    h_http(acl_port(6), "GET", "/metrics", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    ck_assert_ptr_nonnull(strstr(h.body, "slotproxy_acl_denied_total{reason=\"auth\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(h.body, "slotproxy_acl_denied_total{reason=\"key\"} 9\n"));
    ck_assert_ptr_nonnull(strstr(h.body, "slotproxy_acl_denied_total{reason=\"channel\"} 0\n"));
    h_http_free(&h);
    h_rc_close(&c);
    h_rc_close(&adm);
    acl_stop(1, pid);
}
END_TEST

/* The same ACL commands to the proxy and to a real redis-server give the same bytes. */
START_TEST(test_acl_replies_like_redis)
{
    const char *extra[] = {"-threads", "1", NULL};
    pid_t pid = acl_proxy(2, extra);
    static const char *const cmds[] = {
        "ACL SETUSER itest-u1",
        "ACL SETUSER a\\sa",
        "ACL SETUSER itest-u1 >passwd1 on +acl (~a +get) (%R~r +@read)",
        "ACL GETUSER itest-u1",
        "ACL SETUSER itest-u2 %R~foo %W~foo %RW~bar resetchannels &c1 &c2 +@all -@string",
        "ACL GETUSER itest-u2",
        "ACL SETUSER itest-u2 reset +@all ~* -debug +debug|digest",
        "ACL GETUSER itest-u2",
        "ACL SETUSER itest-u3 -@all +select|0 +@set nopass",
        "ACL GETUSER itest-u3",
        "ACL GETUSER itest-nobody",
        "ACL SETUSER itest-u1 foo",
        "ACL SETUSER itest-u1 +nosuch",
        "ACL SETUSER itest-u1 +config|get|x",
        "ACL SETUSER itest-u1 allkeys ~y",
        "ACL SETUSER itest-u1 &* &x",
        "ACL SETUSER itest-u1 (~a +get",
        "ACL SETUSER itest-u1 (this-is-invalid)",
        "ACL SETUSER itest-u1 #abc",
        "ACL SETUSER itest-u1 <notapassword",
        "ACL SETUSER itest-u1 )",
        "ACL DRYRUN itest-u2 get foo",
        "ACL DRYRUN itest-u2 set foo v get",
        "ACL DRYRUN itest-u2 set bar v",
        "ACL DRYRUN itest-u2 debug digest",
        "ACL DRYRUN itest-u2 debug object x",
        "ACL DRYRUN itest-u2 publish c3 m",
        "ACL DRYRUN itest-u2 set v",
        "ACL DRYRUN itest-nobody get x",
        "ACL DRYRUN itest-u2 nocommand x",
        "ACL CAT nosuchcategory",
        "ACL CAT a b",
        "ACL CAT",
        "ACL GENPASS 5000",
        "ACL GENPASS abc",
        "ACL DELUSER default",
        "ACL DELUSER itest-u1 itest-u2 itest-u3 itest-nobody",
        "ACL HELP",
        "ACL HELP xxx",
        "ACL NOSUCH",
        "ACL",
    };
    for (int proto = 2; proto <= 3; proto++) {
        struct h_rc p, s;
        h_rc_open(&p, acl_port(2));
        h_rc_open(&s, h_env.single_port);
        if (proto == 3) {
            size_t l;
            rt(&p, "HELLO 3", &l);
            rt(&s, "HELLO 3", &l);
        }
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            size_t pl, sl;
            const char *pr = rt(&p, cmds[i], &pl);
            char *pcopy = malloc(pl + 1);
            memcpy(pcopy, pr, pl);
            const char *sr = rt(&s, cmds[i], &sl);
            char a[700], b[700];
            ck_assert_msg(pl == sl && memcmp(pcopy, sr, pl) == 0,
                          "RESP%d %s:\n proxy %s\n redis %s", proto, cmds[i],
                          h_show(pcopy, pl, 320, a, sizeof(a)), h_show(sr, sl, 320, b, sizeof(b)));
            free(pcopy);
        }
        h_rc_close(&p);
        h_rc_close(&s);
    }
    acl_stop(2, pid);
}
END_TEST

/* ACL SAVE writes the users to -aclfile; ACL LOAD reads them back (clients of the old users are
 * closed, as Redis does); a bad file changes nothing and says why. */
START_TEST(test_acl_save_load)
{
    const char *file = acl_file(3, USERS);
    const char *extra[] = {"-threads", "2", "-aclfile", file, NULL};
    pid_t pid = acl_proxy(3, extra);
    struct h_rc adm, al;
    h_rc_open(&adm, acl_port(3));
    h_rc_open(&al, acl_port(3));
    expect(&al, "AUTH alice alicepw", "+OK\r\n");
    expect(&adm, "ACL SETUSER eve on >evepw +get allkeys", "+OK\r\n");
    expect(&adm, "ACL SAVE", "+OK\r\n");
    char text[4096];
    FILE *f = fopen(file, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    ck_assert_msg(strstr(text, "user eve on #") != NULL, "%s", text);
    ck_assert_msg(strstr(text, " ~* resetchannels -@all +get\n") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "user default on nopass ~* &* +@all\n") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "user dave off #") != NULL, "%s", text);
    /* Round trip: LOAD what SAVE wrote. alice's client is closed (its user was replaced); the
     * default user's stays. */
    expect(&adm, "ACL LOAD", "+OK\r\n");
    ck_assert(closed_within(al.fd, 3000));
    expect(&adm, "PING", "+PONG\r\n");
    expect(&adm, "AUTH eve evepw", "+OK\r\n");
    expect(&adm, "GET anykey", "$-1\r\n");
    expect(&adm, "SET anykey v", "-NOPERM this user has no permissions to run the 'set' command\r\n");
    expect(&adm, "AUTH alice alicepw", "+OK\r\n");
    /* A bad file: the error names every problem, and the users stay as they were. */
    acl_file(3, "user alice on >alicepw ~* &* +@all\nuser alice on\nusr x\nuser z +nosuch\n");
    char want[2048];
    snprintf(want, sizeof(want),
             "-ERR WARNING: Duplicate user 'alice' found on line 2. %s:3 should start with user "
             "keyword followed by the username. %s:4: Error in applying operation '+nosuch': "
             "Unknown command or category name in ACL. WARNING: ACL errors detected, no change "
             "to the previously active ACL rules was performed\r\n",
             file, file);
    expect(&adm, "ACL LOAD", want);
    expect_prefix(&adm, "ACL USERS", "*6\r\n");
    h_rc_close(&al);
    h_rc_close(&adm);
    acl_stop(3, pid);
}
END_TEST

/* ACL DELUSER closes every client of the user, on both workers, before it answers; the client
 * that deleted its own user gets its reply, then is closed. */
START_TEST(test_acl_deluser_kills_clients)
{
    const char *file = acl_file(4, USERS);
    char dbg[32];
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", acl_port(7));
    const char *extra[] = {"-threads", "2", "-aclfile", file, "-debug-addr", dbg, NULL};
    pid_t pid = acl_proxy(4, extra);
    struct h_rc adm, v[6], other;
    h_rc_open(&adm, acl_port(4));
    expect(&adm, "ACL SETUSER victim on >v ~* &* +@all", "+OK\r\n");
    h_rc_open(&other, acl_port(4));
    expect(&other, "AUTH alice alicepw", "+OK\r\n");
    for (int i = 0; i < 6; i++) {
        h_rc_open(&v[i], acl_port(4));
        expect(&v[i], "AUTH victim v", "+OK\r\n");
    }
    /* The victims are spread over both workers. */
    struct h_http h;
    h_http(acl_port(7), "GET", "/debug/clients", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    ck_assert_ptr_nonnull(strstr(h.body, "\"worker\":0"));
    ck_assert_ptr_nonnull(strstr(h.body, "\"worker\":1"));
    h_http_free(&h);
    size_t len;
    const char *r = rt(&adm, "CLIENT LIST", &len);
    int seen = 0;
    for (const char *p = r; (p = memmem(p, len - (size_t)(p - r), " user=victim ", 13)); p++)
        seen++;
    ck_assert_int_eq(seen, 6);
    uint64_t t0 = h_now_ms();
    expect(&adm, "ACL DELUSER victim nosuch", ":1\r\n");
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(closed_within(v[i].fd, 2000), "victim %d still open", i);
        h_rc_close(&v[i]);
    }
    ck_assert_uint_lt(h_now_ms() - t0, 3000);
    r = rt(&adm, "CLIENT LIST", &len);
    ck_assert_ptr_null(memmem(r, len, "user=victim", 11));
    expect(&other, "PING", "+PONG\r\n"); /* other users' clients stay */
    /* Deleting one's own user: the reply first, then the connection closes. */
    expect(&adm, "ACL SETUSER selfdel on >s +@all ~*", "+OK\r\n");
    struct h_rc self;
    h_rc_open(&self, acl_port(4));
    expect(&self, "AUTH selfdel s", "+OK\r\n");
    expect(&self, "ACL DELUSER selfdel", ":1\r\n");
    ck_assert(closed_within(self.fd, 2000));
    h_rc_close(&self);
    /* The user is gone: AUTH fails. */
    struct h_rc again;
    h_rc_open(&again, acl_port(4));
    expect(&again, "AUTH victim v", WRONGPASS);
    h_rc_close(&again);
    h_rc_close(&other);
    h_rc_close(&adm);
    acl_stop(4, pid);
}
END_TEST

/* Subscribers are closed when their user's channel rules no longer cover their subscriptions,
 * and pardoned when the rules only grow (acl.tcl's tests). */
START_TEST(test_acl_revoke_subscribers)
{
    const char *extra[] = {"-threads", "2", NULL};
    pid_t pid = acl_proxy(5, extra);
    struct h_rc adm, sub, kept;
    h_rc_open(&adm, acl_port(5));
    expect(&adm, "ACL SETUSER psuser on nopass +@all ~* resetchannels &foo:1 &bar:*", "+OK\r\n");
    h_rc_open(&sub, acl_port(5));
    h_rc_open(&kept, acl_port(5));
    expect(&sub, "AUTH psuser x", "+OK\r\n");
    expect(&kept, "AUTH psuser x", "+OK\r\n");
    expect(&sub, "SUBSCRIBE foo:1", "*3\r\n$9\r\nsubscribe\r\n$5\r\nfoo:1\r\n:1\r\n");
    expect(&kept, "PSUBSCRIBE bar:*", "*3\r\n$10\r\npsubscribe\r\n$5\r\nbar:*\r\n:1\r\n");
    /* Widening: both stay. */
    expect(&adm, "ACL SETUSER psuser resetchannels &foo:1 &bar:* &baz", "+OK\r\n");
    expect(&sub, "PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    /* Narrowing foo:1 away: its subscriber is closed; the bar:* one stays. */
    expect(&adm, "ACL SETUSER psuser resetchannels &bar:*", "+OK\r\n");
    ck_assert(closed_within(sub.fd, 2000));
    expect(&kept, "PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    expect(&adm, "PUBLISH bar:x hi", ":1\r\n");
    size_t len;
    const char *m = h_rc_read(&kept, &len);
    ck_assert_ptr_nonnull(memmem(m, len, "hi", 2));
    h_rc_close(&sub);
    h_rc_close(&kept);
    h_rc_close(&adm);
    acl_stop(5, pid);
}
END_TEST

/* -requirepass is the default user's password, as before; users from a file work beside it. */
START_TEST(test_acl_requirepass)
{
    const char *file = acl_file(6, "user ops on >opspw ~* &* +@all\n");
    const char *extra[] = {"-threads", "2", "-requirepass", "s3cret", "-aclfile", file, NULL};
    pid_t pid = acl_proxy(8, extra);
    struct h_rc c;
    h_rc_open(&c, acl_port(8));
    expect(&c, "PING", "-NOAUTH Authentication required.\r\n");
    expect(&c, "ACL WHOAMI", "-NOAUTH Authentication required.\r\n");
    expect(&c, "AUTH wrong", WRONGPASS);
    expect(&c, "AUTH s3cret", "+OK\r\n");
    expect(&c, "AUTH default s3cret", "+OK\r\n");
    expect(&c, "AUTH ops opspw", "+OK\r\n");
    expect_prefix(&c, "ACL GETUSER default",
                  "*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n");
    /* Making the default user nopass lets unauthenticated clients in (Redis's authRequired). */
    struct h_rc fresh;
    h_rc_open(&fresh, acl_port(8));
    expect(&fresh, "GET x", "-NOAUTH Authentication required.\r\n");
    expect(&c, "ACL SETUSER default nopass", "+OK\r\n");
    expect(&fresh, "GET acl:nokey", "$-1\r\n");
    h_rc_close(&fresh);
    h_rc_close(&c);
    acl_stop(8, pid);
}
END_TEST

/* Hostile input: thousands of rules, huge patterns, thousands of users, bad syntax. */
START_TEST(test_acl_hostile)
{
    const char *extra[] = {"-threads", "2", NULL};
    pid_t pid = acl_proxy(9, extra);
    redisContext *c = h_connect(acl_port(9));
    /* 5000 rules in one SETUSER. */
    int n = 5001;
    const char **argv = malloc((size_t)(n + 3) * sizeof(*argv));
    size_t *lens = malloc((size_t)(n + 3) * sizeof(*lens));
    char (*rules)[32] = malloc((size_t)n * 32);
    argv[0] = "ACL";
    argv[1] = "SETUSER";
    argv[2] = "many";
    for (int i = 0; i < n - 1; i++) {
        snprintf(rules[i], 32, i % 2 ? "~k:%d:*" : "&ch:%d", i);
        argv[i + 3] = rules[i];
    }
    argv[3] = "+@all";
    argv[n + 2] = "on";
    for (int i = 0; i < n + 3; i++) lens[i] = strlen(argv[i]);
    redisReply *r = h_cmd_argv(c, n + 3, argv, lens);
    h_expect_str(r, "OK");
    /* A 1 MB pattern. */
    size_t big = 1 << 20;
    char *pat = malloc(big + 2);
    pat[0] = '~';
    memset(pat + 1, '?', big);
    pat[big + 1] = '\0';
    const char *a2[] = {"ACL", "SETUSER", "many", pat};
    size_t l2[] = {3, 7, 4, big + 1};
    r = h_cmd_argv(c, 4, a2, l2);
    h_expect_str(r, "OK");
    r = h_cmd(c, "ACL GETUSER many");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_gt(r->element[7]->len, big); /* keys */
    freeReplyObject(r);
    r = h_cmd(c, "ACL DRYRUN many get k:1:x");
    h_expect_str(r, "OK");
    r = h_cmd(c, "ACL DRYRUN many get nokey");
    h_expect_str(r, "This user has no permissions to access the 'nokey' key");
    /* 1000 users. */
    for (int i = 0; i < 1000; i++) {
        r = h_cmd(c, "ACL SETUSER bulk%d on >p%d ~* +get", i, i);
        h_expect_str(r, "OK");
    }
    r = h_cmd(c, "ACL USERS");
    ck_assert_uint_eq(r->elements, 1002);
    freeReplyObject(r);
    /* Bad syntax, in Redis's words. */
    r = h_cmd(c, "ACL SETUSER many on bogus");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR Error in ACL SETUSER modifier 'bogus': Syntax error");
    freeReplyObject(r);
    r = h_cmd(c, "ACL SETUSER many %s", "(~a");
    ck_assert_str_eq(r->str, "ERR Unmatched parenthesis in acl selector starting at '(~a'.");
    freeReplyObject(r);
    const char *a3[] = {"ACL", "SETUSER", "many", "~a\r\nb"};
    size_t l3[] = {3, 7, 4, 5};
    r = h_cmd_argv(c, 4, a3, l3);
    ck_assert_str_eq(r->str, "ERR Error in ACL SETUSER modifier '~a  b': Syntax error");
    freeReplyObject(r);
    const char *a4[] = {"ACL", "SETUSER", "nul\0name"};
    size_t l4[] = {3, 7, 8};
    r = h_cmd_argv(c, 3, a4, l4);
    ck_assert_str_eq(r->str, "ERR Usernames can't contain spaces or null characters");
    freeReplyObject(r);
    r = h_cmd(c, "PING");
    h_expect_str(r, "PONG");
    free(pat);
    free(rules);
    free(argv);
    free(lens);
    redisFree(c);
    acl_stop(9, pid);
}
END_TEST

Suite *acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("acl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_acl_file_auth_permissions);
    tcase_add_test(tc, test_acl_log_and_metrics);
    tcase_add_test(tc, test_acl_replies_like_redis);
    tcase_add_test(tc, test_acl_save_load);
    tcase_add_test(tc, test_acl_deluser_kills_clients);
    tcase_add_test(tc, test_acl_revoke_subscribers);
    tcase_add_test(tc, test_acl_requirepass);
    tcase_add_test(tc, test_acl_hostile);
    suite_add_tcase(s, tc);
    return s;
}
