/*
 * Limits and hostile clients (issue 7): -maxclients, -client-output-buffer-limit (hard and soft),
 * -query-buffer-limit, -proto-max-bulk-len, -max-inflight, -timeout, the unauthenticated request
 * limits, protected mode, and clients that vanish mid-pipeline or half-close. Error texts are
 * compared byte for byte with a real redis-server configured the same way. Each test starts its
 * own proxy (ports cluster_port + 170 ...) in front of the shared cluster.
 */
#include "harness.h"
#include "suites.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lim_port(int k)
{
    return h_env.cluster_port + 170 + k;
}

static char startup[64];

static pid_t lim_proxy(int k, const char *const *extra)
{
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    char log[64];
    snprintf(log, sizeof(log), "proxy-limits-%d.log", k);
    pid_t pid = h_proxy_start(lim_port(k), startup, extra, log);
    ck_assert_msg(pid > 0, "proxy %d did not start", k);
    return pid;
}

static void lim_stop(int k, pid_t pid)
{
    char log[64];
    snprintf(log, sizeof(log), "proxy-limits-%d.log", k);
    ck_assert_int_eq(h_proxy_stop(pid, log), 0);
}

/* Polls INFO until field reaches at least want or timeout_ms passes; returns the last value. */
static long long wait_info(int port, const char *field, long long want, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    long long v;
    while ((v = h_info_num(port, field)) < want && h_now_ms() < end) h_sleep_ms(50);
    return v;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until the peer closes or timeout_ms passes. Returns the bytes read (out may be NULL to
 * discard); *closed says whether the peer closed (EOF or reset). */
static size_t read_until_close(int fd, char *out, size_t cap, int timeout_ms, int *closed)
{
    static char junk[65536];
    size_t got = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    *closed = 0;
    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        char *dst = out ? out + got : junk;
        size_t room = out ? cap - 1 - got : sizeof(junk);
        if (room == 0) break;
        ssize_t n = read(fd, dst, room);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        got += (size_t)n;
    }
    if (out) out[got] = '\0';
    return got;
}

/* The bytes a server sends on a new connection without being asked anything (a refusal). */
static size_t greeting(int fd, char *out, size_t cap, int *closed)
{
    return read_until_close(fd, out, cap, 2000, closed);
}

START_TEST(test_maxclients)
{
    const char *extra[] = {"-maxclients", "3", "-threads", "2", NULL};
    pid_t pid = lim_proxy(0, extra);
    redisContext *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = h_connect(lim_port(0));
        h_expect_str(h_cmd(c[i], "PING"), "PONG");
    }
    /* The fourth gets Redis's text and is closed; the others keep working. */
    char buf[256];
    int closed;
    int fd = h_tcp_connect(lim_port(0), 0);
    size_t n = greeting(fd, buf, sizeof(buf), &closed);
    close(fd);
    ck_assert_msg(closed && n == strlen("-ERR max number of clients reached\r\n") &&
                      strcmp(buf, "-ERR max number of clients reached\r\n") == 0,
                  "got %zu bytes [%s] closed=%d", n, buf, closed);
    for (int i = 0; i < 3; i++) h_expect_str(h_cmd(c[i], "SET maxc:%d v", i), "OK");
    /* A freed place is taken again. */
    redisFree(c[2]);
    h_sleep_ms(100);
    redisContext *d = h_connect(lim_port(0));
    h_expect_str(h_cmd(d, "PING"), "PONG");
    redisReply *r = h_cmd(d, "INFO stats");
    ck_assert_ptr_nonnull(strstr(r->str, "\r\nrejected_connections:1\r\n"));
    freeReplyObject(r);
    redisFree(d);
    redisFree(c[0]);
    redisFree(c[1]);
    lim_stop(0, pid);
}
END_TEST

/* Sets key to a value of len bytes through port. */
static void set_big(int port, const char *key, size_t len)
{
    char *v = malloc(len);
    memset(v, 'v', len);
    redisContext *c = h_connect(port);
    const char *argv[] = {"SET", key, v};
    size_t lens[] = {3, strlen(key), len};
    h_expect_str(h_cmd_argv(c, 3, argv, lens), "OK");
    redisFree(c);
    free(v);
}

/* A client that asks for count copies of a big value and reads nothing. */
static int unread_gets(int port, const char *key, int count)
{
    int fd = h_tcp_connect(port, 4096);
    char req[128];
    int n = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
    size_t total = (size_t)n * (size_t)count;
    char *all = malloc(total);
    for (int i = 0; i < count; i++) memcpy(all + (size_t)i * (size_t)n, req, (size_t)n);
    write_all(fd, all, total);
    free(all);
    return fd;
}

START_TEST(test_output_limit_hard)
{
    const char *extra[] = {"-client-output-buffer-limit", "1mb 0 0", NULL};
    pid_t pid = lim_proxy(1, extra);
    set_big(lim_port(1), "cobl:big", 100000);
    /* 400 x 100 KB = 40 MB of replies nobody reads: cut at 1 MB, not kept in memory. */
    int fd = unread_gets(lim_port(1), "cobl:big", 400);
    ck_assert_int_eq(wait_info(lim_port(1), "clients_closed_output_limit", 1, 5000), 1);
    /* The other clients were never affected. */
    redisContext *c = h_connect(lim_port(1));
    redisReply *r = h_cmd(c, "STRLEN cobl:big");
    ck_assert_int_eq(r->integer, 100000);
    freeReplyObject(r);
    redisFree(c);
    int closed;
    size_t got = read_until_close(fd, NULL, 0, 5000, &closed);
    close(fd);
    ck_assert_msg(closed, "the client was not disconnected");
    ck_assert_msg(got < 8u << 20, "read %zu bytes before the cut", got);
    /* A client that reads each reply is never cut, whatever their total. */
    c = h_connect(lim_port(1));
    for (int i = 0; i < 100; i++) {
        r = h_cmd(c, "GET cobl:big");
        ck_assert_int_eq(r->len, 100000);
        freeReplyObject(r);
    }
    redisFree(c);
    lim_stop(1, pid);
}
END_TEST

START_TEST(test_output_limit_soft)
{
    const char *extra[] = {"-client-output-buffer-limit", "0 256kb 2", NULL};
    pid_t pid = lim_proxy(2, extra);
    set_big(lim_port(2), "cobl:soft", 100000);
    uint64_t t0 = h_now_ms();
    int fd = unread_gets(lim_port(2), "cobl:soft", 50); /* 5 MB, over the soft limit */
    h_sleep_ms(1000);
    ck_assert_int_eq(h_info_num(lim_port(2), "clients_closed_output_limit"), 0);
    ck_assert_int_eq(wait_info(lim_port(2), "clients_closed_output_limit", 1, 6000), 1);
    uint64_t took = h_now_ms() - t0;
    ck_assert_msg(took >= 1900 && took < 5000, "cut after %llu ms (soft limit 2 s)",
                  (unsigned long long)took);
    close(fd);
    lim_stop(2, pid);
}
END_TEST

START_TEST(test_query_buffer_and_bulk_limits)
{
    const char *extra[] = {"-query-buffer-limit", "1mb", "-proto-max-bulk-len", "1mb", NULL};
    pid_t pid = lim_proxy(3, extra);
    /* A request under both limits goes through. */
    set_big(lim_port(3), "qbuf:ok", 1000000);
    /* One argument of exactly 1 MB: allowed by -proto-max-bulk-len, but the request as a whole is
     * over -query-buffer-limit: closed without a reply, as Redis does. */
    size_t vlen = 1 << 20;
    char hdr[128];
    int hl = snprintf(hdr, sizeof(hdr), "*3\r\n$3\r\nSET\r\n$6\r\nqbuf:x\r\n$%zu\r\n", vlen);
    char *req = malloc((size_t)hl + vlen + 2);
    memcpy(req, hdr, (size_t)hl);
    memset(req + hl, 'x', vlen);
    memcpy(req + hl + vlen, "\r\n", 2);
    int fd = h_tcp_connect(lim_port(3), 0);
    ssize_t w = write(fd, req, (size_t)hl + vlen + 2); /* may stop short: the proxy closes */
    (void)w;
    free(req);
    char out[256];
    int closed;
    size_t n = read_until_close(fd, out, sizeof(out), 5000, &closed);
    close(fd);
    ck_assert_msg(closed && n == 0, "got %zu bytes [%s], closed=%d", n, out, closed);
    ck_assert_int_eq(h_info_num(lim_port(3), "clients_closed_query_limit"), 1);
    /* An argument over -proto-max-bulk-len: Redis's error, byte for byte, from a redis-server
     * with the same setting. */
    int sport = h_env.cluster_port + 181;
    const char *sextra[] = {"--proto-max-bulk-len", "1mb", NULL};
    pid_t single = h_single_start_with(sport, sextra);
    ck_assert_int_gt(single, 0);
    const char *big = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n";
    char a[256], b[256];
    int ca, cb;
    size_t na = h_raw(sport, big, strlen(big), a, sizeof(a), 500, 0, &ca);
    size_t nb = h_raw(lim_port(3), big, strlen(big), b, sizeof(b), 500, 0, &cb);
    h_single_stop(single);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0 && ca && cb, "redis [%s] proxy [%s]", a, b);
    ck_assert_str_eq(b, "-ERR Protocol error: invalid bulk length\r\n");
    lim_stop(3, pid);
}
END_TEST

START_TEST(test_max_inflight_pauses_without_loss)
{
    const char *extra[] = {"-max-inflight", "16", NULL};
    pid_t pid = lim_proxy(4, extra);
    redisContext *c = h_connect(lim_port(4));
    freeReplyObject(h_cmd(c, "DEL inflight:n"));
    /* 20,000 INCRs in one burst, read only after a pause: every one runs exactly once, in
     * order, although the proxy never has more than 16 of them in flight. */
    const int count = 20000;
    const char *one = "*2\r\n$4\r\nINCR\r\n$10\r\ninflight:n\r\n";
    size_t ol = strlen(one);
    char *all = malloc(ol * (size_t)count);
    for (int i = 0; i < count; i++) memcpy(all + (size_t)i * ol, one, ol);
    int fd = h_tcp_connect(lim_port(4), 0);
    write_all(fd, all, ol * (size_t)count);
    free(all);
    h_sleep_ms(300);
    size_t cap = (size_t)count * 16 + 1;
    char *out = malloc(cap);
    size_t got = 0;
    int seen = 0;
    uint64_t end = h_now_ms() + 20000;
    char want[32];
    size_t pos = 0;
    while (seen < count && h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = read(fd, out + got, cap - 1 - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
        for (;;) {
            int wl = snprintf(want, sizeof(want), ":%d\r\n", seen + 1);
            if (got - pos < (size_t)wl) break;
            ck_assert_msg(memcmp(out + pos, want, (size_t)wl) == 0, "reply %d is not %s", seen + 1,
                          want);
            pos += (size_t)wl;
            seen++;
        }
    }
    close(fd);
    free(out);
    ck_assert_int_eq(seen, count);
    ck_assert_int_gt(h_info_num(lim_port(4), "client_reading_paused"), 0);
    redisReply *r = h_cmd(c, "GET inflight:n");
    ck_assert_str_eq(r->str, "20000");
    freeReplyObject(r);
    redisFree(c);
    lim_stop(4, pid);
}
END_TEST

START_TEST(test_idle_timeout)
{
    const char *extra[] = {"-timeout", "1", NULL};
    pid_t pid = lim_proxy(5, extra);
    int port = lim_port(5);
    /* Idle: closed after 1-3 s, silently as Redis does. */
    int idle = h_tcp_connect(port, 0);
    /* Blocked: not idle; gets its timeout reply. */
    redisContext *blocked = h_connect(port);
    freeReplyObject(h_cmd(blocked, "DEL idle:list"));
    redisAppendCommand(blocked, "BLPOP idle:list 3");
    redisBufferWrite(blocked, &(int){0});
    /* Subscribed: not idle. */
    redisContext *sub = h_connect(port);
    freeReplyObject(h_cmd(sub, "SUBSCRIBE idle:chan"));
    /* Busy: a PING every 400 ms keeps it open. */
    redisContext *busy = h_connect(port);
    /* Slow: one request sent a byte every 400 ms is not idle either, as in Redis. */
    int slow = h_tcp_connect(port, 0);
    const char *slow_hdr = "*3\r\n$3\r\nSET\r\n$9\r\nidle:slow\r\n$9\r\n";
    write_all(slow, slow_hdr, strlen(slow_hdr));
    int slow_sent = 0;
    uint64_t t0 = h_now_ms();
    int closed = 0;
    uint64_t closed_at = 0;
    while (h_now_ms() - t0 < 3600) {
        h_expect_str(h_cmd(busy, "PING"), "PONG");
        if (slow_sent < 9) {
            write_all(slow, "s", 1);
            slow_sent++;
        }
        struct pollfd p = {.fd = idle, .events = POLLIN};
        if (!closed && poll(&p, 1, 0) > 0) {
            char b[16];
            ck_assert_int_le(read(idle, b, sizeof(b)), 0);
            closed = 1;
            closed_at = h_now_ms() - t0;
        }
        h_sleep_ms(400);
    }
    close(idle);
    write_all(slow, "\r\n", 2);
    char sout[64];
    struct pollfd sp = {.fd = slow, .events = POLLIN};
    ck_assert_int_eq(poll(&sp, 1, 2000), 1);
    ssize_t sn = read(slow, sout, sizeof(sout) - 1);
    sout[sn > 0 ? sn : 0] = '\0';
    ck_assert_str_eq(sout, "+OK\r\n");
    close(slow);
    ck_assert_msg(closed && closed_at >= 900 && closed_at <= 3200,
                  "idle client closed=%d after %llu ms", closed, (unsigned long long)closed_at);
    redisReply *r;
    ck_assert_int_eq(redisGetReply(blocked, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = h_cmd(sub, "PING");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    ck_assert_int_ge(h_info_num(port, "clients_closed_idle"), 1);
    redisFree(blocked);
    redisFree(sub);
    redisFree(busy);
    lim_stop(5, pid);
}
END_TEST

/* The same bytes to a redis-server and to the proxy, each on a new connection: same replies. */
static void same_as_redis(int rport, int pport, const char *req, size_t len)
{
    static char a[1 << 15], b[1 << 15];
    int ca, cb;
    size_t na = h_raw(rport, req, len, a, sizeof(a), 300, 0, &ca);
    size_t nb = h_raw(pport, req, len, b, sizeof(b), 300, 0, &cb);
    char sa[512], sb[512];
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0 && ca == cb,
                  "redis [%s] (closed %d)\nproxy [%s] (closed %d)",
                  h_show(a, na, 200, sa, sizeof(sa)), ca, h_show(b, nb, 200, sb, sizeof(sb)), cb);
}

START_TEST(test_unauthenticated_limits)
{
    const char *extra[] = {"-requirepass", "s3cret", NULL};
    pid_t pid = lim_proxy(6, extra);
    int sport = h_env.cluster_port + 182;
    const char *sextra[] = {"--requirepass", "s3cret", NULL};
    pid_t single = h_single_start_with(sport, sextra);
    ck_assert_int_gt(single, 0);
    int pport = lim_port(6);
    /* Before AUTH: at most 10 arguments of 16 KB, as Redis (CVE-2021-32675). */
    const char *many = "*11\r\n$4\r\nMSET\r\n";
    same_as_redis(sport, pport, many, strlen(many));
    const char *bulk = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16385\r\n";
    same_as_redis(sport, pport, bulk, strlen(bulk));
    const char *ok_sizes = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\nAUTH wrong\r\nAUTH default wrong\r\n";
    same_as_redis(sport, pport, ok_sizes, strlen(ok_sizes));
    /* After AUTH, the usual limits. */
    size_t vlen = 20000;
    char hdr[128];
    int hl = snprintf(hdr, sizeof(hdr),
                      "AUTH s3cret\r\n*3\r\n$3\r\nSET\r\n$9\r\n{ua}big:k\r\n$%zu\r\n", vlen);
    char *req = malloc((size_t)hl + vlen + 64);
    memcpy(req, hdr, (size_t)hl);
    memset(req + hl, 'u', vlen);
    size_t rl = (size_t)hl + vlen;
    memcpy(req + rl, "\r\nMSET {ua}1 a {ua}2 b {ua}3 c {ua}4 d {ua}5 e {ua}6 f\r\n", 56);
    rl += 56;
    char out[256];
    int closed;
    size_t n = h_raw(pport, req, rl, out, sizeof(out), 500, 0, &closed);
    free(req);
    ck_assert_msg(n == 15 && strcmp(out, "+OK\r\n+OK\r\n+OK\r\n") == 0 && !closed, "got [%s]", out);
    h_single_stop(single);
    lim_stop(6, pid);
}
END_TEST

/* The first non-loopback IPv4 address of this machine, or 0 when there is none. */
static int outside_addr(char *ip, size_t len)
{
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) < 0) return 0;
    int found = 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)i->ifa_addr;
        if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
        inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)len);
        found = 1;
    }
    freeifaddrs(ifs);
    return found;
}

static int connect_to(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s:%d: %s", ip,
                  port, strerror(errno));
    return fd;
}

/* What a client connecting from ip gets when it sends PING and waits. */
static size_t ping_from_outside(const char *ip, int port, char *out, size_t cap, int *closed)
{
    int fd = connect_to(ip, port);
    /* A refusal is written at once; a PING sent into it would only make the peer reset. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    size_t n;
    if (poll(&p, 1, 300) > 0) {
        n = read_until_close(fd, out, cap, 2000, closed);
    } else {
        write_all(fd, "PING\r\n", 6);
        n = read_until_close(fd, out, cap, 500, closed);
    }
    close(fd);
    return n;
}

START_TEST(test_protected_mode)
{
    char ip[64];
    if (!outside_addr(ip, sizeof(ip))) {
        fprintf(stderr, "test_protected_mode: no non-loopback IPv4 address here; only the "
                        "loopback side is checked\n");
    }
    int port = lim_port(7);
    char addr[64];
    snprintf(addr, sizeof(addr), "0.0.0.0:%d", port);
    const char *extra[] = {"-addr", addr, NULL};
    pid_t pid = lim_proxy(7, extra);
    /* Loopback clients are served. */
    redisContext *c = h_connect(port);
    h_expect_str(h_cmd(c, "PING"), "PONG");
    redisFree(c);
    if (outside_addr(ip, sizeof(ip))) {
        /* A redis-server with protected mode, reached from the same address, is the reference. */
        int sport = h_env.cluster_port + 180;
        const char *sextra[] = {"--bind", "*", "--protected-mode", "yes", NULL};
        pid_t single = h_single_start_with(sport, sextra);
        ck_assert_int_gt(single, 0);
        static char a[4096], b[4096];
        int ca, cb;
        size_t na = ping_from_outside(ip, sport, a, sizeof(a), &ca);
        size_t nb = ping_from_outside(ip, port, b, sizeof(b), &cb);
        h_single_stop(single);
        ck_assert_msg(na > 100 && strncmp(a, "-DENIED ", 8) == 0, "redis said [%s]", a);
        ck_assert_msg(na == nb && memcmp(a, b, na) == 0 && ca && cb, "redis [%s]\nproxy [%s]", a,
                      b);
        ck_assert_int_eq(h_info_num(port, "clients_denied_protected_mode"), 1);
    }
    lim_stop(7, pid);
    if (!outside_addr(ip, sizeof(ip))) return;
    /* -protected-mode no, or a password: served from outside (AUTH asked for, not DENIED). */
    const char *open_extra[] = {"-addr", addr, "-protected-mode", "no", NULL};
    pid = lim_proxy(7, open_extra);
    char out[256];
    int closed;
    ping_from_outside(ip, port, out, sizeof(out), &closed);
    ck_assert_str_eq(out, "+PONG\r\n");
    lim_stop(7, pid);
    const char *pass_extra[] = {"-addr", addr, "-requirepass", "pw", NULL};
    pid = lim_proxy(7, pass_extra);
    ping_from_outside(ip, port, out, sizeof(out), &closed);
    ck_assert_str_eq(out, "-NOAUTH Authentication required.\r\n");
    lim_stop(7, pid);
}
END_TEST

/* Clients that go away mid-pipeline leave the shared node connections aligned: later clients get
 * their own replies. A half-closed client still gets every reply. */
START_TEST(test_vanishing_and_half_closed_clients)
{
    const char *extra[] = {"-threads", "1", NULL};
    pid_t pid = lim_proxy(8, extra);
    int port = lim_port(8);
    redisContext *c = h_connect(port);
    for (int k = 0; k < 50; k++) h_expect_str(h_cmd(c, "SET van:%d val-%d", k, k), "OK");
    for (int round = 0; round < 20; round++) {
        int fd = h_tcp_connect(port, 0);
        char req[256];
        size_t len = 0;
        static char all[1 << 20];
        for (int i = 0; i < 2000; i++) {
            int n = snprintf(req, sizeof(req), "GET van:%d\r\n", i % 50);
            memcpy(all + len, req, (size_t)n);
            len += (size_t)n;
        }
        write_all(fd, all, len);
        if (round % 2) {
            struct linger lg = {1, 0}; /* vanish with a reset */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
        /* Meanwhile, and after: every reply is for its own request. */
        for (int k = 0; k < 50; k += 7) {
            redisReply *r = h_cmd(c, "GET van:%d", k);
            char want[32];
            snprintf(want, sizeof(want), "val-%d", k);
            ck_assert_str_eq(r->str, want);
            freeReplyObject(r);
        }
    }
    /* Half-closed: the pipeline is answered in full, then the proxy closes. */
    static char out[1 << 16];
    const char *req = "SET van:h 1\r\nINCR van:h\r\nGET van:h\r\nGET van:3\r\n";
    int closed;
    size_t n = h_raw(port, req, strlen(req), out, sizeof(out), 2000, 1, &closed);
    ck_assert_msg(closed && n == strlen("+OK\r\n:2\r\n$1\r\n2\r\n$5\r\nval-3\r\n") &&
                      strcmp(out, "+OK\r\n:2\r\n$1\r\n2\r\n$5\r\nval-3\r\n") == 0,
                  "got [%s]", out);
    /* Nothing is left in flight on the node connections. */
    uint64_t end = h_now_ms() + 3000;
    long long queued;
    /* c and INFO's own connection. */
    while ((queued = h_info_num(port, "connected_clients")) > 2 && h_now_ms() < end) h_sleep_ms(50);
    ck_assert_int_eq(queued, 2);
    redisFree(c);
    lim_stop(8, pid);
}
END_TEST

/* A protocol error closes that connection only; a pipeline on another connection is unharmed. */
START_TEST(test_protocol_error_isolated)
{
    const char *extra[] = {"-threads", "1", NULL};
    pid_t pid = lim_proxy(9, extra);
    int port = lim_port(9);
    redisContext *c = h_connect(port);
    for (int i = 0; i < 200; i++) redisAppendCommand(c, "SET iso:%d %d", i, i);
    const char *bad[] = {"*1\r\n$-5\r\n", "*3\r\n$3\r\nSET\r\nxx\r\n", "*99999999999\r\n",
                         "\"unbalanced\r\n", "*1\r\n$4294967296\r\n"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char out[256];
        int closed;
        size_t n = h_raw(port, bad[k], strlen(bad[k]), out, sizeof(out), 2000, 0, &closed);
        ck_assert_msg(closed && n > 0 && strncmp(out, "-ERR Protocol error: ", 21) == 0,
                      "[%s] -> [%s]", bad[k], out);
    }
    for (int i = 0; i < 200; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_str_eq(r->str, "OK");
        freeReplyObject(r);
    }
    redisReply *r = h_cmd(c, "GET iso:199");
    ck_assert_str_eq(r->str, "199");
    freeReplyObject(r);
    ck_assert_int_eq(h_info_num(port, "clients_closed_protocol_error"), 5);
    redisFree(c);
    lim_stop(9, pid);
}
END_TEST

Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_maxclients);
    tcase_add_test(tc, test_output_limit_hard);
    tcase_add_test(tc, test_output_limit_soft);
    tcase_add_test(tc, test_query_buffer_and_bulk_limits);
    tcase_add_test(tc, test_max_inflight_pauses_without_loss);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_unauthenticated_limits);
    tcase_add_test(tc, test_protected_mode);
    tcase_add_test(tc, test_vanishing_and_half_closed_clients);
    tcase_add_test(tc, test_protocol_error_isolated);
    suite_add_tcase(s, tc);
    return s;
}
