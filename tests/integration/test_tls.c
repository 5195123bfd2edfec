/*
 * TLS (issue 22), on both sides of the proxy, against clusters of its own (never the shared one):
 *
 *  - clients: a plain cluster on 22100-22105 and a proxy with -tls-port (22151; plain 22150,
 *    debug 22152), reached with redis-cli --tls, openssl s_client, redis-py and node-redis (both
 *    running their whole suites over TLS), and this file's own OpenSSL client for what needs
 *    exact control: replies compared byte for byte with the plain port, plain text and garbage
 *    on the TLS port, refused certificates (none, expired, another CA), handshakes that stall
 *    half way, a slow reader, certificates reloaded on SIGHUP while an old connection goes on,
 *    the counters. Other proxies (22155-22158) try -tls-auth-clients optional and no,
 *    -tls-protocols, -tls-ciphersuites, -tls-key-file-pass and -maxclients over TLS.
 *  - nodes: a TLS-only cluster (`--port 0 --tls-port --tls-cluster yes`) on 22200-22205, a proxy
 *    with no plain-text port that talks TLS on both sides (22251), one that serves plain clients
 *    and reads from replicas over TLS (22260), and one whose CA does not match the nodes' (22270).
 *  - pool mode: two standalone servers with a TLS port (22281, 22283) behind a proxy with
 *    -pool-server and -tls-cluster (22285).
 *
 * Certificates come from tests/tls_certs.sh, made once per run in the work directory. Every
 * server started here is stopped by pid (cluster.sh stop, h_proxy_stop).
 */
#include "harness.h"
#include "suites.h"

#include "crc16.h"
#include "px_errors.h"
#include "resp_reply.h"

#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define PLAIN_BASE   22100 /* plain cluster: 22100-22105 */
#define P1_PLAIN     22150
#define P1_TLS       22151
#define P1_DEBUG     22152
#define P_OPTIONAL   22155
#define P_NOAUTH     22156
#define P_FULL_TLS   22157
#define P_FULL_PLAIN 22158
#define TLS_BASE     22200 /* TLS cluster: 22200-22205 */
#define P2_TLS       22251
#define P2_DEBUG     22252
#define P3_PLAIN     22260
#define P6_PLAIN     22270
#define POOL_PLAIN   22280 /* pool mode: two standalone servers, plain 22280/22282 ... */
#define POOL_TLS     22281 /* ... and TLS 22281/22283 */
#define P7_PLAIN     22285

static char certs[1024]; /* tests/tls_certs.sh's output */
static char live[1024];  /* P1's certificate and key: copies, replaced by the reload test */
static pid_t p1 = -1, p2 = -1, p3 = -1;
static int plain_up, tls_up;

/* ---- certificates ---- */

static void cert_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", certs, name);
}

/* Makes the certificates once per run (the fixture of each test case calls it). */
static int make_certs(void)
{
    static int made;
    if (made) return 0;
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", PX_CLUSTER_SCRIPT);
    snprintf(certs, sizeof(certs), "%s/tls-certs", h_env.workdir);
    snprintf(live, sizeof(live), "%s/tls-live", h_env.workdir);
    if (h_sh("rm -rf %s %s && %s/tls_certs.sh %s >%s/tls-certs.log 2>&1 && mkdir -p %s && cp "
             "%s/server.crt %s/server.crt && cp %s/server.key %s/server.key",
             certs, live, dirname(tmp), certs, h_env.workdir, live, certs, live, certs, live) != 0)
        return -1;
    made = 1;
    return 0;
}

/* ---- a blocking TLS client with OpenSSL ---- */

struct t_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char *buf;
    size_t len, cap, start;
    char err[256];
};

/* The reason of the last OpenSSL failure, for messages. */
static void t_err(struct t_tls *c, const char *what)
{
    unsigned long e = ERR_get_error();
    char why[200] = "";
    if (e) ERR_error_string_n(e, why, sizeof(why));
    snprintf(c->err, sizeof(c->err), "%s: %s", what, why[0] ? why : strerror(errno));
    ERR_clear_error();
}

/* A TCP connection to port on loopback with 10 s timeouts, or -1. */
static int t_tcp(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Opens a TLS connection to port, verifying the proxy's certificate against the test CA and its
 * name against 127.0.0.1, showing the client certificate cert (a name in the certificate folder:
 * "client", "expired", "wrongca"; NULL for none). protocol: 0, or TLS1_2_VERSION... to force one.
 * Returns 0 once the handshake is done, -1 with c->err. */
static int t_tls_open_ex(struct t_tls *c, int port, const char *cert, int protocol, int rcvbuf)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->ctx = SSL_CTX_new(TLS_client_method());
    char ca[1100], crt[1100], key[1100];
    cert_path(ca, sizeof(ca), "ca.crt");
    SSL_CTX_load_verify_locations(c->ctx, ca, NULL);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (protocol) {
        SSL_CTX_set_min_proto_version(c->ctx, protocol);
        SSL_CTX_set_max_proto_version(c->ctx, protocol);
    }
    if (cert) {
        snprintf(crt, sizeof(crt), "%s/%s.crt", certs, cert);
        snprintf(key, sizeof(key), "%s/%s.key", certs, cert);
        ck_assert_int_eq(SSL_CTX_use_certificate_file(c->ctx, crt, SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM), 1);
    }
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    c->fd = t_tcp(port, rcvbuf);
    if (c->fd < 0) {
        snprintf(c->err, sizeof(c->err), "connect %d: %s", port, strerror(errno));
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        t_err(c, "handshake");
        return -1;
    }
    return 0;
}

static int t_tls_open(struct t_tls *c, int port, const char *cert)
{
    return t_tls_open_ex(c, port, cert, 0, 0);
}

static void t_tls_close(struct t_tls *c)
{
    if (c->ssl) SSL_free(c->ssl);
    if (c->ctx) SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static int t_tls_send(struct t_tls *c, const char *req, size_t len)
{
    size_t off = 0;
    while (off < len) {
        int w = SSL_write(c->ssl, req + off, (int)(len - off));
        if (w <= 0) {
            t_err(c, "write");
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* The next complete reply (valid until the next call), or NULL with c->err when the connection
 * ends or breaks first. */
static const char *t_tls_read(struct t_tls *c, size_t *rlen)
{
    memmove(c->buf, c->buf + c->start, c->len - c->start);
    c->len -= c->start;
    c->start = 0;
    struct resp_reply_framer f;
    resp_reply_init(&f);
    for (;;) {
        struct resp_reply_info info;
        int rc = c->len ? resp_reply_frame(&f, c->buf, c->len, &info) : PX_EAGAIN;
        if (rc == 0) {
            resp_reply_deinit(&f);
            c->start = info.len;
            *rlen = info.len;
            return c->buf;
        }
        ck_assert_msg(rc == PX_EAGAIN, "malformed reply");
        if (c->len == c->cap) c->buf = realloc(c->buf, c->cap *= 2);
        int n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
        if (n <= 0) {
            resp_reply_deinit(&f);
            t_err(c, "read");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

/* Sends a request and returns its reply as a NUL-terminated copy (free it), failing the test
 * when none comes. */
static char *t_tls_cmd(struct t_tls *c, const char *req)
{
    ck_assert_msg(t_tls_send(c, req, strlen(req)) == 0, "%s", c->err);
    size_t n;
    const char *r = t_tls_read(c, &n);
    ck_assert_msg(r != NULL, "no reply to %s: %s", req, c->err);
    char *s = malloc(n + 1);
    memcpy(s, r, n);
    s[n] = '\0';
    return s;
}

static void t_tls_expect(struct t_tls *c, const char *req, const char *want)
{
    char *got = t_tls_cmd(c, req);
    char a[256], b[256];
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s",
                  h_show(req, strlen(req), 60, a, 256), h_show(got, strlen(got), 100, b, 256),
                  want);
    free(got);
}

/* 1 when a fresh TLS connection with cert gets +PONG; 0 with the reason in why otherwise (the
 * handshake refused, or, in TLS 1.3, the first read failing on the server's alert). */
static int t_tls_ping(int port, const char *cert, char *why, size_t cap)
{
    struct t_tls c;
    int ok = 0;
    if (t_tls_open(&c, port, cert) == 0 && t_tls_send(&c, "PING\r\n", 6) == 0) {
        size_t n;
        const char *r = t_tls_read(&c, &n);
        ok = r && n == 7 && memcmp(r, "+PONG\r\n", 7) == 0;
    }
    snprintf(why, cap, "%s", c.err);
    t_tls_close(&c);
    return ok;
}

/* The serial number of the certificate the server showed on c (as a number). */
static long t_tls_peer_serial(struct t_tls *c)
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    ck_assert_ptr_nonnull(x);
    long v = ASN1_INTEGER_get(X509_get0_serialNumber(x));
    X509_free(x);
    return v;
}

/* ---- proxies ---- */

/* Starts slotproxy with argv (after the binary; NULL-terminated), logging to logname, and waits
 * until a TLS PING on tls_port (or a plain PING on plain_port when tls_port is 0) is answered.
 * Returns its pid or -1. */
static pid_t t_proxy_start(const char *const *args, int tls_port, int plain_port,
                           const char *logname)
{
    char log[1024];
    snprintf(log, sizeof(log), "%s/%s", h_env.workdir, logname);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        const char *argv[80];
        int n = 0;
        argv[n++] = h_env.bin;
        for (int i = 0; args[i] && n < 79; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(h_env.bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return -1;
        char why[256];
        if (tls_port && t_tls_ping(tls_port, "client", why, sizeof(why))) return pid;
        redisContext *c = tls_port ? NULL : h_connect_quick(plain_port, 200);
        if (c) {
            redisFree(c);
            return pid;
        }
        h_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* A proxy in front of the plain cluster, clients over TLS only, with extra flags. */
static pid_t start_tls_only(int tls_port, const char *logname, const char *a1, const char *a2,
                            const char *a3, const char *a4)
{
    char port[16], startup[64], crt[1100], key[1100], ca[1100];
    snprintf(port, sizeof(port), "%d", tls_port);
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", PLAIN_BASE);
    cert_path(crt, sizeof(crt), "server.crt");
    cert_path(key, sizeof(key), "server.key");
    cert_path(ca, sizeof(ca), "ca.crt");
    const char *args[] = {"-addr",
                          "127.0.0.1:0",
                          "-tls-port",
                          port,
                          "-startup-nodes",
                          startup,
                          "-threads",
                          "1",
                          "-tls-cert-file",
                          crt,
                          "-tls-key-file",
                          key,
                          "-tls-ca-cert-file",
                          ca,
                          a1,
                          a2,
                          a3,
                          a4,
                          NULL};
    return t_proxy_start(args, tls_port, 0, logname);
}

/* A numeric field of the proxy's INFO, asked over TLS. */
static long long t_info_num(int tls_port, const char *field)
{
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, tls_port, "client") == 0, "%s", c.err);
    char *info = t_tls_cmd(&c, "INFO proxy\r\n");
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s:", field);
    const char *p = strstr(info, key);
    ck_assert_msg(p != NULL, "INFO has no %s", field);
    long long v = atoll(p + strlen(key));
    free(info);
    t_tls_close(&c);
    return v;
}

/* redis-cli over TLS with the client certificate: "redis-cli --tls ... -p PORT " + rest. */
static int t_cli(const char *fmt_rest, int port, const char *out)
{
    return h_sh("redis-cli --tls --cacert %s/ca.crt --cert %s/client.crt --key %s/client.key -p %d "
                "%s >%s 2>&1",
                certs, certs, certs, port, fmt_rest, out);
}

/* 1 when file contains text. */
static int file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/* ---- the clients' side: fixture ---- */

static void clients_up(void)
{
    if (make_certs() < 0) return;
    plain_up = h_cluster_start("tls-plain", PLAIN_BASE) == 0;
    if (!plain_up) return;
    char startup[64], tlsport[16], crt[1100], key[1100], ca[1100], dbg[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", PLAIN_BASE);
    snprintf(tlsport, sizeof(tlsport), "%d", P1_TLS);
    snprintf(crt, sizeof(crt), "%s/server.crt", live);
    snprintf(key, sizeof(key), "%s/server.key", live);
    cert_path(ca, sizeof(ca), "ca.crt");
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", P1_DEBUG);
    const char *extra[] = {"-tls-port",
                           tlsport,
                           "-tls-cert-file",
                           crt,
                           "-tls-key-file",
                           key,
                           "-tls-ca-cert-file",
                           ca,
                           "-tls-handshake-timeout",
                           "2s",
                           "-threads",
                           "2",
                           "-debug-addr",
                           dbg,
                           NULL};
    p1 = h_proxy_start(P1_PLAIN, startup, extra, "proxy-tls1.log");
}

static void clients_down(void)
{
    if (p1 > 0) {
        int st = h_proxy_stop(p1, "proxy-tls1.log");
        if (st != 0) fprintf(stderr, "tls: proxy 1 did not exit cleanly (%d)\n", st);
    }
    p1 = -1;
    if (plain_up) h_cluster_stop("tls-plain");
    plain_up = 0;
}

static void need_p1(void)
{
    ck_assert_msg(plain_up, "the plain cluster did not start (see %s/tls-plain.start.log)",
                  h_env.workdir);
    ck_assert_msg(p1 > 0, "the TLS proxy did not start (see %s/proxy-tls1.log)", h_env.workdir);
}

/* ---- the clients' side: tests ---- */

/* redis-cli --tls: single commands, a pipe of 10,000 commands, keys spread over every master and
 * read back on their owners over plain TCP. */
START_TEST(test_tls_redis_cli)
{
    need_p1();
    char out[1100];
    snprintf(out, sizeof(out), "%s/tls-cli.out", h_env.workdir);
    ck_assert_int_eq(t_cli("SET tls:cli hello", P1_TLS, out), 0);
    ck_assert(file_has(out, "OK"));
    ck_assert_int_eq(t_cli("GET tls:cli", P1_TLS, out), 0);
    ck_assert(file_has(out, "hello"));
    /* --pipe: 10,000 SETs in one stream, the replies counted by redis-cli. */
    char cmds[1100];
    snprintf(cmds, sizeof(cmds), "%s/tls-pipe.txt", h_env.workdir);
    FILE *f = fopen(cmds, "w");
    for (int i = 0; i < 10000; i++) fprintf(f, "SET tls:pipe:%d v%d\r\n", i, i);
    fclose(f);
    char rest[1300];
    snprintf(rest, sizeof(rest), "--pipe <%s", cmds);
    ck_assert_int_eq(t_cli(rest, P1_TLS, out), 0);
    ck_assert_msg(file_has(out, "errors: 0, replies: 10000"), "redis-cli --pipe over TLS failed");
    /* Every key on its owning master, checked over plain TCP on the node. */
    for (int i = 0; i < 10000; i += 997) {
        char k[64], want[32];
        snprintf(k, sizeof(k), "tls:pipe:%d", i);
        snprintf(want, sizeof(want), "v%d", i);
        redisContext *n = h_connect(h_owner_port(PLAIN_BASE, k, strlen(k)));
        h_expect_str(h_cmd(n, "GET %s", k), want);
        redisFree(n);
    }
    /* MGET across slots, split and merged. */
    ck_assert_int_eq(t_cli("MGET tls:pipe:1 tls:pipe:2 tls:pipe:3 tls:nope", P1_TLS, out), 0);
    ck_assert(file_has(out, "v1\nv2\nv3\n\n"));
}
END_TEST

/* The replies to reqs, one request at a time, concatenated (each reply framed). */
static char *replies_plain(const char *const *reqs, size_t n, size_t *len)
{
    struct h_rc c;
    h_rc_open(&c, P1_PLAIN);
    char *all = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t rl;
        const char *r = h_rc_roundtrip(&c, reqs[i], strlen(reqs[i]), &rl);
        all = realloc(all, *len + rl + 1);
        memcpy(all + *len, r, rl);
        *len += rl;
    }
    h_rc_close(&c);
    return all;
}

static char *replies_tls(const char *const *reqs, size_t n, size_t *len)
{
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, P1_TLS, "client") == 0, "%s", c.err);
    char *all = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t rl;
        ck_assert_int_eq(t_tls_send(&c, reqs[i], strlen(reqs[i])), 0);
        const char *r = t_tls_read(&c, &rl);
        ck_assert_msg(r != NULL, "no TLS reply to %s: %s", reqs[i], c.err);
        all = realloc(all, *len + rl + 1);
        memcpy(all + *len, r, rl);
        *len += rl;
    }
    t_tls_close(&c);
    return all;
}

/* The same requests through the plain port and through the TLS port, each run from the same
 * state, answer the same bytes: the TLS transport changes nothing above it. Then a pipeline of
 * 5,000 requests in one write and a 1 MB value each way, over TLS. */
START_TEST(test_tls_same_bytes_as_plain)
{
    need_p1();
    static const char *const reqs[] = {
        "DEL tls:same:a tls:same:b tls:same:c {a}x {a}h\r\n",
        "PING\r\n",
        "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
        "SET tls:same:a 1\r\n",
        "INCR tls:same:a\r\n",
        "GET tls:same:a\r\n",
        "MSET tls:same:b 2 tls:same:c 3\r\n",
        "MGET tls:same:a tls:same:b tls:same:c tls:same:none\r\n",
        "EXISTS tls:same:a tls:same:b tls:same:none\r\n",
        "NOSUCHCOMMAND x\r\n",
        "GET\r\n",
        "MULTI\r\n",
        "SET {a}x 2\r\n",
        "INCR {a}x\r\n",
        "EXEC\r\n",
        "MSET {a}y 1 {b}y 2\r\n",
        "HSET {a}h f v g w\r\n",
        "HGETALL {a}h\r\n",
        "SELECT 1\r\n",
        "CLIENT SETNAME same\r\n",
        "CLIENT GETNAME\r\n",
        "DEL tls:same:a tls:same:b tls:same:c {a}x {a}h\r\n",
    };
    size_t n = sizeof(reqs) / sizeof(reqs[0]), pl, tl;
    char *p = replies_plain(reqs, n, &pl);
    char *t = replies_tls(reqs, n, &tl);
    char a[512], b[512];
    ck_assert_msg(pl == tl && memcmp(p, t, pl) == 0, "plain %s\nTLS   %s",
                  h_show(p, pl, 400, a, 512), h_show(t, tl, 400, b, 512));
    free(p);
    free(t);

    struct t_tls tc;
    ck_assert_msg(t_tls_open(&tc, P1_TLS, "client") == 0, "%s", tc.err);
    /* A pipeline of 2,500 SETs and 2,500 GETs in one write: every reply, in order. */
    size_t cap = 5000 * 64, len = 0;
    char *req = malloc(cap);
    for (int i = 0; i < 2500; i++)
        len +=
            (size_t)snprintf(req + len, cap - len, "SET tls:p:%d %d\r\nGET tls:p:%d\r\n", i, i, i);
    ck_assert_int_eq(t_tls_send(&tc, req, len), 0);
    for (int i = 0; i < 2500; i++) {
        size_t rl;
        const char *r = t_tls_read(&tc, &rl);
        ck_assert_msg(r && rl == 5 && memcmp(r, "+OK\r\n", 5) == 0, "SET %d: %s", i,
                      r ? "wrong reply" : tc.err);
        char num[16], want[32];
        int nl = snprintf(num, sizeof(num), "%d", i);
        snprintf(want, sizeof(want), "$%d\r\n%s\r\n", nl, num);
        r = t_tls_read(&tc, &rl);
        ck_assert_msg(r && rl == strlen(want) && memcmp(r, want, rl) == 0, "GET %d", i);
    }
    free(req);
    /* A 1 MB value in and out: many records each way. */
    size_t big = 1 << 20;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) v[i] = (char)('a' + i % 26);
    char hdr[128];
    int hl = snprintf(hdr, sizeof(hdr), "*3\r\n$3\r\nSET\r\n$10\r\ntls:bigval\r\n$%zu\r\n", big);
    ck_assert_int_eq(t_tls_send(&tc, hdr, (size_t)hl), 0);
    ck_assert_int_eq(t_tls_send(&tc, v, big), 0);
    ck_assert_int_eq(t_tls_send(&tc, "\r\n", 2), 0);
    size_t rl;
    const char *r = t_tls_read(&tc, &rl);
    ck_assert(r && rl == 5 && memcmp(r, "+OK\r\n", 5) == 0);
    ck_assert_int_eq(t_tls_send(&tc, "GET tls:bigval\r\n", 16), 0);
    r = t_tls_read(&tc, &rl);
    ck_assert_msg(r != NULL, "%s", tc.err);
    ck_assert_int_eq(rl, big + 12); /* "$1048576\r\n" + value + "\r\n" */
    ck_assert(memcmp(r + 10, v, big) == 0);
    free(v);
    t_tls_close(&tc);
}
END_TEST

/* A plain-text client on the TLS port is closed without an answer, garbage too; neither
 * disturbs a TLS client in the middle of its work, and each counts as a failed handshake. */
START_TEST(test_tls_plain_and_garbage_refused)
{
    need_p1();
    long long fail0 = t_info_num(P1_TLS, "tls_client_handshake_failures");
    struct t_tls keep;
    ck_assert_msg(t_tls_open(&keep, P1_TLS, "client") == 0, "%s", keep.err);
    t_tls_expect(&keep, "SET tls:keep 1\r\n", "+OK\r\n");

    char out[4096];
    int closed = 0;
    size_t n = h_raw(P1_TLS, "PING\r\n", 6, out, sizeof(out), 3000, 0, &closed);
    ck_assert_msg(closed, "a plain PING on the TLS port left the connection open");
    ck_assert_msg(memmem(out, n, "PONG", 4) == NULL, "a plain client was answered");
    /* hiredis (plain) gets an error, not a reply. */
    redisContext *hc = h_connect_quick(P1_TLS, 2000);
    if (hc) {
        redisReply *rr = redisCommand(hc, "PING");
        ck_assert_msg(rr == NULL, "hiredis got a reply in plain text from the TLS port");
        redisFree(hc);
    }
    /* 16 KB of garbage, then 64 bytes that look like a TLS record header with a huge length. */
    char junk[16384];
    for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (char)(i * 131 + 7);
    n = h_raw(P1_TLS, junk, sizeof(junk), out, sizeof(out), 3000, 0, &closed);
    ck_assert_msg(closed, "garbage on the TLS port left the connection open");
    const char rec[] = "\x16\x03\x01\xff\xff garbage that is not a ClientHello at all ........";
    n = h_raw(P1_TLS, rec, sizeof(rec) - 1, out, sizeof(out), 3000, 0, &closed);
    ck_assert_msg(closed, "a bogus record on the TLS port left the connection open");

    /* The TLS client in the middle of its work did not notice. */
    t_tls_expect(&keep, "INCR tls:keep\r\n", ":2\r\n");
    t_tls_close(&keep);
    /* And the plain port never cared. */
    redisContext *c = h_connect(P1_PLAIN);
    h_expect_str(h_cmd(c, "GET tls:keep"), "2");
    redisFree(c);
    long long fail1 = t_info_num(P1_TLS, "tls_client_handshake_failures");
    ck_assert_msg(fail1 >= fail0 + 4, "handshake failures %lld -> %lld", fail0, fail1);
}
END_TEST

/* -tls-auth-clients yes (the default): a certificate signed by the CA is needed; none, an
 * expired one and one of another CA are refused, and the proxy says why in its log. */
START_TEST(test_tls_client_certificates)
{
    need_p1();
    char why[256];
    ck_assert_msg(t_tls_ping(P1_TLS, "client", why, sizeof(why)), "good certificate: %s", why);
    ck_assert_msg(!t_tls_ping(P1_TLS, NULL, why, sizeof(why)), "no certificate was accepted");
    ck_assert_msg(!t_tls_ping(P1_TLS, "expired", why, sizeof(why)),
                  "an expired certificate was accepted");
    ck_assert_msg(!t_tls_ping(P1_TLS, "wrongca", why, sizeof(why)),
                  "a certificate of another CA was accepted");
    /* redis-cli without a certificate cannot get in either. */
    char out[1100];
    snprintf(out, sizeof(out), "%s/tls-nocert.out", h_env.workdir);
    h_sh("redis-cli --tls --cacert %s/ca.crt -p %d PING >%s 2>&1", certs, P1_TLS, out);
    ck_assert_msg(!file_has(out, "PONG"), "redis-cli without a certificate was answered");
    char log[1100];
    snprintf(log, sizeof(log), "%s/proxy-tls1.log", h_env.workdir);
    h_sleep_ms(1100); /* the failures' log lines are limited to one a second */
    ck_assert_msg(!t_tls_ping(P1_TLS, "expired", why, sizeof(why)), "expired accepted");
    h_sleep_ms(1100);
    ck_assert_msg(!t_tls_ping(P1_TLS, "wrongca", why, sizeof(why)), "wrong CA accepted");
    h_sleep_ms(200);
    ck_assert_msg(file_has(log, "certificate has expired"), "the log does not say it expired");
    ck_assert_msg(file_has(log, "unable to get local issuer certificate"),
                  "the log does not name the unknown CA");
    ck_assert_msg(t_tls_ping(P1_TLS, "client", why, sizeof(why)), "after refusals: %s", why);
}
END_TEST

/* Two clients stop half way through their handshake (half a ClientHello; a whole one and then
 * silence): both are closed after -tls-handshake-timeout (2 s), and meanwhile another TLS client
 * is served as fast as ever. */
START_TEST(test_tls_handshake_stall)
{
    need_p1();
    long long to0 = t_info_num(P1_TLS, "tls_client_handshake_timeouts");
    /* A real ClientHello, made by OpenSSL into a memory buffer. */
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    ck_assert_int_le(SSL_do_handshake(ssl), 0);
    char hello[4096];
    int hl = BIO_read(wb, hello, sizeof(hello));
    ck_assert_int_gt(hl, 40);
    SSL_free(ssl);
    SSL_CTX_free(ctx);

    int half = t_tcp(P1_TLS, 0), whole = t_tcp(P1_TLS, 0), silent = t_tcp(P1_TLS, 0);
    ck_assert(half >= 0 && whole >= 0 && silent >= 0);
    ck_assert_int_eq(write(half, hello, (size_t)hl / 2), hl / 2);
    ck_assert_int_eq(write(whole, hello, (size_t)hl), hl);
    uint64_t t0 = h_now_ms();
    /* While they stall: 100 round trips on another TLS connection, each quick. */
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, P1_TLS, "client") == 0, "%s", c.err);
    uint64_t worst = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t s = h_now_ms();
        t_tls_expect(&c, "PING\r\n", "+PONG\r\n");
        if (h_now_ms() - s > worst) worst = h_now_ms() - s;
    }
    ck_assert_msg(worst < 500, "a round trip took %llu ms while handshakes stalled",
                  (unsigned long long)worst);
    /* Each stalled socket is closed by the proxy: read returns 0 (after the server's first flight
     * for the whole ClientHello). */
    int fds[3] = {half, whole, silent};
    for (int k = 0; k < 3; k++) {
        char buf[8192];
        ssize_t r;
        do {
            r = read(fds[k], buf, sizeof(buf)); /* 10 s receive timeout */
        } while (r > 0);
        ck_assert_msg(r == 0, "stalled handshake %d not closed (%s)", k, strerror(errno));
        close(fds[k]);
    }
    uint64_t took = h_now_ms() - t0;
    ck_assert_msg(took >= 1900 && took < 5000, "closed after %llu ms, want about 2-3 s",
                  (unsigned long long)took);
    t_tls_expect(&c, "PING\r\n", "+PONG\r\n");
    t_tls_close(&c);
    long long to1 = t_info_num(P1_TLS, "tls_client_handshake_timeouts");
    ck_assert_msg(to1 >= to0 + 3, "handshake timeouts %lld -> %lld", to0, to1);
}
END_TEST

/* A TLS client with a small receive buffer asks for 8 MB and reads it slowly: the proxy keeps
 * what the socket cannot take (writes that return WANT_WRITE, retried as OpenSSL requires), answers
 * a key update asked for meanwhile, serves another client meanwhile, and every byte arrives
 * intact. */
START_TEST(test_tls_slow_reader)
{
    need_p1();
    struct t_tls w;
    ck_assert_msg(t_tls_open(&w, P1_TLS, "client") == 0, "%s", w.err);
    size_t big = 1 << 20;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) v[i] = (char)(i * 7 + i / 1000);
    char hdr[128];
    int hl = snprintf(hdr, sizeof(hdr), "*3\r\n$3\r\nSET\r\n$11\r\ntls:slowval\r\n$%zu\r\n", big);
    ck_assert_int_eq(t_tls_send(&w, hdr, (size_t)hl), 0);
    ck_assert_int_eq(t_tls_send(&w, v, big), 0);
    ck_assert_int_eq(t_tls_send(&w, "\r\n", 2), 0);
    size_t n;
    ck_assert(t_tls_read(&w, &n) != NULL);

    struct t_tls slow;
    ck_assert_msg(t_tls_open_ex(&slow, P1_TLS, "client", 0, 4096) == 0, "%s", slow.err);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(t_tls_send(&slow, "GET tls:slowval\r\n", 17), 0);
    /* While the proxy's writes to it are stuck, the client asks for a TLS 1.3 key update, which
     * the proxy must answer with one of its own in the middle of its blocked output, and sends one
     * more request behind it. */
    h_sleep_ms(300);
    ck_assert_int_eq(SSL_key_update(slow.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    ck_assert_int_eq(t_tls_send(&slow, "PING\r\n", 6), 0);
    /* Read 8 MB in 4 KB steps, a pause every 64 KB: several seconds. */
    size_t want = 8 * (big + 12) + 7, got = 0; /* "$1048576\r\n" + value + "\r\n", "+PONG" */
    char *all = malloc(want);
    uint64_t worst = 0;
    while (got < want) {
        int r = SSL_read(slow.ssl, all + got, (int)(want - got < 4096 ? want - got : 4096));
        ck_assert_msg(r > 0, "slow reader cut off after %zu bytes", got);
        if ((got + (size_t)r) / 65536 != got / 65536) {
            h_sleep_ms(10);
            if ((got / 65536) % 16 == 0) {
                uint64_t s = h_now_ms();
                t_tls_expect(&w, "PING\r\n", "+PONG\r\n");
                if (h_now_ms() - s > worst) worst = h_now_ms() - s;
            }
        }
        got += (size_t)r;
    }
    for (int i = 0; i < 8; i++) {
        const char *p = all + (size_t)i * (big + 12);
        ck_assert(memcmp(p, "$1048576\r\n", 10) == 0);
        ck_assert_msg(memcmp(p + 10, v, big) == 0, "reply %d corrupted", i);
    }
    ck_assert(memcmp(all + want - 7, "+PONG\r\n", 7) == 0);
    ck_assert_msg(worst < 500, "another client waited %llu ms", (unsigned long long)worst);
    free(all);
    free(v);
    t_tls_close(&slow);
    t_tls_close(&w);
}
END_TEST

/* The serial number openssl s_client sees on the TLS port (-1 when it cannot connect). */
static long s_client_serial(int port)
{
    char out[1100];
    snprintf(out, sizeof(out), "%s/tls-sclient.out", h_env.workdir);
    h_sh("printf 'QUIT\\r\\n' | timeout 10 openssl s_client -connect 127.0.0.1:%d -CAfile "
         "%s/ca.crt -cert %s/client.crt -key %s/client.key -ign_eof 2>/dev/null | openssl x509 "
         "-noout -serial >%s 2>&1",
         port, certs, certs, certs, out);
    FILE *f = fopen(out, "r");
    long v = -1;
    if (f) {
        char line[256];
        if (fgets(line, sizeof(line), f) && strncmp(line, "serial=", 7) == 0)
            v = strtol(line + 7, NULL, 16);
        fclose(f);
    }
    return v;
}

/* Waits up to 3 s for the proxy log to contain text; returns 1 when it does. */
static int wait_log(const char *logname, const char *text, int count)
{
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "test $(grep -c '%s' %s/%s) -ge %d", text, h_env.workdir, logname,
             count);
    for (int i = 0; i < 60; i++) {
        if (h_sh("%s", cmd) == 0) return 1;
        h_sleep_ms(50);
    }
    return 0;
}

/* SIGHUP reloads the certificate: new connections (openssl s_client, this file's client) get the
 * new one, a connection made before goes on with its session; a reload that fails (a key that
 * does not match) keeps the certificate in use. */
START_TEST(test_tls_sighup_reload)
{
    need_p1();
    ck_assert_int_eq(s_client_serial(P1_TLS), 1001);
    struct t_tls old;
    ck_assert_msg(t_tls_open(&old, P1_TLS, "client") == 0, "%s", old.err);
    ck_assert_int_eq(t_tls_peer_serial(&old), 1001);
    t_tls_expect(&old, "SET tls:reload before\r\n", "+OK\r\n");

    ck_assert_int_eq(h_sh("cp %s/server2.crt %s/server.crt && cp %s/server2.key %s/server.key",
                          certs, live, certs, live),
                     0);
    ck_assert_int_eq(kill(p1, SIGHUP), 0);
    ck_assert_msg(wait_log("proxy-tls1.log", "certificates reloaded", 1), "no reload in the log");
    ck_assert_int_eq(s_client_serial(P1_TLS), 1002);
    struct t_tls fresh;
    ck_assert_msg(t_tls_open(&fresh, P1_TLS, "client") == 0, "%s", fresh.err);
    ck_assert_int_eq(t_tls_peer_serial(&fresh), 1002);
    t_tls_expect(&fresh, "GET tls:reload\r\n", "$6\r\nbefore\r\n");
    /* The old connection keeps its session, and works. */
    t_tls_expect(&old, "SET tls:reload after\r\n", "+OK\r\n");
    t_tls_expect(&old, "GET tls:reload\r\n", "$5\r\nafter\r\n");
    ck_assert_int_eq(t_tls_peer_serial(&old), 1001);

    /* A broken reload: the first certificate with the second's key. */
    ck_assert_int_eq(h_sh("cp %s/server.crt %s/server.crt", certs, live), 0);
    ck_assert_int_eq(kill(p1, SIGHUP), 0);
    ck_assert_msg(wait_log("proxy-tls1.log", "reload failed, keeping the certificates in use", 1),
                  "a failed reload is not logged");
    ck_assert_int_eq(s_client_serial(P1_TLS), 1002);
    t_tls_expect(&fresh, "PING\r\n", "+PONG\r\n");
    t_tls_close(&fresh);
    t_tls_close(&old);
    /* Back to the first certificate for the tests after this one. */
    ck_assert_int_eq(h_sh("cp %s/server.key %s/server.key", certs, live), 0);
    ck_assert_int_eq(kill(p1, SIGHUP), 0);
    ck_assert_msg(wait_log("proxy-tls1.log", "certificates reloaded", 2), "no second reload");
    ck_assert_int_eq(s_client_serial(P1_TLS), 1001);
}
END_TEST

/* Sessions are resumed (tls-session-caching yes): openssl s_client saves one and offers it. */
START_TEST(test_tls_session_resumption)
{
    need_p1();
    char out[1100], sess[1100];
    snprintf(out, sizeof(out), "%s/tls-resume.out", h_env.workdir);
    snprintf(sess, sizeof(sess), "%s/tls-session.pem", h_env.workdir);
    const char *fmt = "printf 'PING\\r\\nQUIT\\r\\n' | timeout 10 openssl s_client -connect "
                      "127.0.0.1:%d -CAfile %s/ca.crt -cert %s/client.crt -key %s/client.key "
                      "-ign_eof %s %s >%s 2>&1";
    h_sh(fmt, P1_TLS, certs, certs, certs, "-sess_out", sess, out);
    ck_assert_msg(file_has(out, "+PONG"), "s_client got no PONG");
    ck_assert(file_has(out, "New, TLSv1.3"));
    h_sh(fmt, P1_TLS, certs, certs, certs, "-sess_in", sess, out);
    ck_assert_msg(file_has(out, "Reused, TLSv1.3"), "the session was not resumed");
    ck_assert(file_has(out, "+PONG"));
}
END_TEST

/* The proxy's own CLUSTER SHARDS lists both its ports, as a node with tls-cluster does: "port"
 * the plain one, "tls-port" the TLS one (CLUSTER SLOTS gives the port the client came on). */
START_TEST(test_tls_cluster_shards_answer)
{
    need_p1();
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, P1_TLS, "client") == 0, "%s", c.err);
    char *r = t_tls_cmd(&c, "CLUSTER SHARDS\r\n");
    char want[128];
    snprintf(want, sizeof(want), "$4\r\nport\r\n:%d\r\n$8\r\ntls-port\r\n:%d\r\n$2\r\nip\r\n",
             P1_PLAIN, P1_TLS);
    ck_assert_msg(strstr(r, want) != NULL, "CLUSTER SHARDS over TLS: %s", r);
    free(r);
    r = t_tls_cmd(&c, "CLUSTER SLOTS\r\n");
    snprintf(want, sizeof(want), "$9\r\n127.0.0.1\r\n:%d\r\n", P1_TLS);
    ck_assert_msg(strstr(r, want) != NULL, "CLUSTER SLOTS over TLS: %s", r);
    free(r);
    t_tls_close(&c);
    redisContext *pc = h_connect(P1_PLAIN);
    redisReply *rr = h_cmd(pc, "CLUSTER SLOTS");
    ck_assert_int_eq(rr->element[0]->element[2]->element[1]->integer, P1_PLAIN);
    freeReplyObject(rr);
    redisFree(pc);
}
END_TEST

/* INFO proxy, /metrics and /debug/vars count handshakes, failures and timeouts. */
START_TEST(test_tls_metrics)
{
    need_p1();
    char why[256];
    ck_assert(t_tls_ping(P1_TLS, "client", why, sizeof(why)));
    ck_assert(!t_tls_ping(P1_TLS, "wrongca", why, sizeof(why)));
    ck_assert_int_gt(t_info_num(P1_TLS, "tls_client_handshakes"), 0);
    ck_assert_int_gt(t_info_num(P1_TLS, "tls_client_handshake_failures"), 0);
    ck_assert_int_eq(t_info_num(P1_TLS, "tls_node_handshakes"), 0);
    struct h_http h;
    h_http(P1_DEBUG, "GET", "/metrics", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    const char *p = strstr(h.body, "slotproxy_tls_handshakes_total{side=\"clients\"} ");
    ck_assert_msg(p && atoll(p + 48) > 0, "no client handshakes in /metrics");
    p = strstr(h.body, "slotproxy_tls_handshake_failures_total{side=\"clients\"} ");
    ck_assert_msg(p && atoll(p + 56) > 0, "no client handshake failures in /metrics");
    ck_assert(strstr(h.body, "slotproxy_tls_handshakes_total{side=\"nodes\"} 0\n"));
    ck_assert(strstr(h.body, "# TYPE slotproxy_tls_handshake_timeouts_total counter"));
    h_http_free(&h);
    h_http(P1_DEBUG, "GET", "/debug/vars", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    ck_assert_msg(strstr(h.body, "\"tls\":{\"clients\":{\"enabled\":true,\"handshakes\":"),
                  "no TLS figures in /debug/vars");
    ck_assert(strstr(h.body, "\"nodes\":{\"enabled\":false"));
    h_http_free(&h);
}
END_TEST

/* The client libraries' whole suites over TLS: redis-py (client_redis_py.py) and node-redis 6
 * with its socket.tls options (client_node_redis.mjs), each verifying the proxy's certificate
 * and showing a client certificate. */
static void script_dir(char *out, size_t cap)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", PX_CLUSTER_SCRIPT);
    snprintf(out, cap, "%s/integration", dirname(tmp));
}

/* The client files the scripts expect: DIR/ca.crt, DIR/client.crt, DIR/client.key. */
START_TEST(test_tls_redis_py)
{
    need_p1();
    char dir[1100];
    script_dir(dir, sizeof(dir));
    ck_assert_msg(h_sh("/usr/bin/python3 -c 'import redis, ssl' >/dev/null 2>&1") == 0,
                  "/usr/bin/python3 with the redis package is needed (python3-redis)");
    int st = h_sh("PX_TLS_DIR=%s timeout -k 5 150 /usr/bin/python3 %s/client_redis_py.py %d "
                  ">%s/tls-pyclient.log 2>&1",
                  certs, dir, P1_TLS, h_env.workdir);
    if (st != 0) h_sh("tail -n 40 %s/tls-pyclient.log >&2", h_env.workdir);
    ck_assert_msg(st == 0, "redis-py over TLS failed (%s/tls-pyclient.log)", h_env.workdir);
    ck_assert_int_eq(h_sh("grep -q 'over TLS' %s/tls-pyclient.log && grep -q '^redis-py: all "
                          "checks passed' %s/tls-pyclient.log",
                          h_env.workdir, h_env.workdir),
                     0);
}
END_TEST

START_TEST(test_tls_node_redis)
{
    need_p1();
    ck_assert_msg(h_sh("node --version >/dev/null 2>&1 && npm --version >/dev/null 2>&1") == 0,
                  "node and npm are needed (Debian: apt-get install nodejs)");
    char dir[1100], nd[1100];
    script_dir(dir, sizeof(dir));
    snprintf(nd, sizeof(nd), "%s/node", h_env.workdir);
    /* The package the nodeclient suite installs into the build folder (once per folder). */
    if (h_sh("test -f %s/node_modules/redis/package.json", nd) != 0) {
        int st = h_sh("mkdir -p %s && cd %s && timeout 300 npm install --no-audit --no-fund "
                      "--no-save --loglevel=error redis@6.4.0 >%s/npm-install.log 2>&1",
                      nd, nd, h_env.workdir);
        ck_assert_msg(st == 0, "npm install redis failed (see %s/npm-install.log)", h_env.workdir);
    }
    ck_assert_int_eq(h_sh("cp %s/client_node_redis.mjs %s/client_node_redis.mjs", dir, nd), 0);
    int st = h_sh("cd %s && PX_TLS_DIR=%s timeout -k 5 150 node client_node_redis.mjs %d "
                  ">%s/tls-nodeclient.log 2>&1",
                  nd, certs, P1_TLS, h_env.workdir);
    if (st != 0) h_sh("tail -n 40 %s/tls-nodeclient.log >&2", h_env.workdir);
    ck_assert_msg(st == 0, "node-redis over TLS failed (%s/tls-nodeclient.log)", h_env.workdir);
    ck_assert_int_eq(h_sh("grep -q 'node-redis: over TLS' %s/tls-nodeclient.log && grep -q "
                          "'^node-redis: all checks passed' %s/tls-nodeclient.log",
                          h_env.workdir, h_env.workdir),
                     0);
}
END_TEST

/* ---- other proxies of the clients' side ---- */

/* -tls-auth-clients optional: no certificate is fine, a bad one is refused. -tls-auth-clients
 * no: nothing is verified. -tls-protocols and -tls-ciphersuites hold. */
START_TEST(test_tls_auth_modes_and_protocols)
{
    ck_assert(plain_up);
    char why[256];
    pid_t opt = start_tls_only(P_OPTIONAL, "proxy-tls-optional.log", "-tls-auth-clients",
                               "optional", "-tls-protocols", "TLSv1.3");
    ck_assert_msg(opt > 0, "proxy with -tls-auth-clients optional did not start");
    ck_assert_msg(t_tls_ping(P_OPTIONAL, NULL, why, sizeof(why)), "optional, none: %s", why);
    ck_assert_msg(t_tls_ping(P_OPTIONAL, "client", why, sizeof(why)), "optional, good: %s", why);
    ck_assert_msg(!t_tls_ping(P_OPTIONAL, "wrongca", why, sizeof(why)), "optional: wrong CA in");
    ck_assert_msg(!t_tls_ping(P_OPTIONAL, "expired", why, sizeof(why)), "optional: expired in");
    /* TLS 1.3 only: a TLS 1.2 client cannot get in. */
    struct t_tls c;
    ck_assert_msg(t_tls_open_ex(&c, P_OPTIONAL, "client", TLS1_2_VERSION, 0) < 0,
                  "TLS 1.2 accepted with -tls-protocols TLSv1.3");
    t_tls_close(&c);
    ck_assert_msg(t_tls_open_ex(&c, P_OPTIONAL, "client", TLS1_3_VERSION, 0) == 0, "%s", c.err);
    t_tls_expect(&c, "PING\r\n", "+PONG\r\n");
    t_tls_close(&c);
    ck_assert_int_eq(h_proxy_stop(opt, "proxy-tls-optional.log"), 0);

    pid_t no = start_tls_only(P_NOAUTH, "proxy-tls-noauth.log", "-tls-auth-clients", "no",
                              "-tls-ciphersuites", "TLS_AES_128_GCM_SHA256");
    ck_assert_msg(no > 0, "proxy with -tls-auth-clients no did not start");
    ck_assert_msg(t_tls_ping(P_NOAUTH, NULL, why, sizeof(why)), "no, none: %s", why);
    ck_assert_msg(t_tls_ping(P_NOAUTH, "wrongca", why, sizeof(why)), "no, wrong CA: %s", why);
    ck_assert_msg(t_tls_open(&c, P_NOAUTH, NULL) == 0, "%s", c.err);
    ck_assert_str_eq(SSL_get_cipher_name(c.ssl), "TLS_AES_128_GCM_SHA256");
    t_tls_close(&c);
    ck_assert_int_eq(h_proxy_stop(no, "proxy-tls-noauth.log"), 0);
}
END_TEST

/* -maxclients over TLS: the client that is one too many gets Redis's error through TLS, after
 * its handshake, then the connection closes. The key is loaded with -tls-key-file-pass. */
START_TEST(test_tls_maxclients_and_key_pass)
{
    ck_assert(plain_up);
    char tlsport[16], startup[64], crt[1100], key[1100], ca[1100], addr[64];
    snprintf(tlsport, sizeof(tlsport), "%d", P_FULL_TLS);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", P_FULL_PLAIN);
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", PLAIN_BASE);
    cert_path(crt, sizeof(crt), "server.crt");
    cert_path(key, sizeof(key), "server-enc.key");
    cert_path(ca, sizeof(ca), "ca.crt");
    /* A wrong passphrase stops the proxy at startup, naming the key. */
    const char *bad[] = {"-addr",
                         addr,
                         "-tls-port",
                         tlsport,
                         "-startup-nodes",
                         startup,
                         "-tls-cert-file",
                         crt,
                         "-tls-key-file",
                         key,
                         "-tls-key-file-pass",
                         "wrong",
                         "-tls-ca-cert-file",
                         ca,
                         NULL};
    pid_t b = t_proxy_start(bad, P_FULL_TLS, 0, "proxy-tls-badpass.log");
    ck_assert_msg(b < 0, "a wrong -tls-key-file-pass was accepted");
    ck_assert_int_eq(
        h_sh("grep -q 'cannot load private key' %s/proxy-tls-badpass.log", h_env.workdir), 0);
    const char *args[] = {"-addr",
                          addr,
                          "-tls-port",
                          tlsport,
                          "-startup-nodes",
                          startup,
                          "-tls-cert-file",
                          crt,
                          "-tls-key-file",
                          key,
                          "-tls-key-file-pass",
                          "s3cret",
                          "-tls-ca-cert-file",
                          ca,
                          "-maxclients",
                          "1",
                          "-threads",
                          "1",
                          NULL};
    pid_t p = t_proxy_start(args, 0, P_FULL_PLAIN, "proxy-tls-full.log");
    ck_assert_msg(p > 0, "proxy with an encrypted key did not start");
    h_sleep_ms(100); /* the readiness probe's connection is gone */
    struct t_tls one, two;
    ck_assert_msg(t_tls_open(&one, P_FULL_TLS, "client") == 0, "%s", one.err);
    t_tls_expect(&one, "PING\r\n", "+PONG\r\n");
    ck_assert_msg(t_tls_open(&two, P_FULL_TLS, "client") == 0, "%s", two.err);
    size_t n;
    const char *r = t_tls_read(&two, &n);
    ck_assert_msg(r && n == 36 && memcmp(r, "-ERR max number of clients reached\r\n", 36) == 0,
                  "the client over the limit got %s", r ? r : two.err);
    ck_assert_msg(t_tls_read(&two, &n) == NULL, "the refused connection stayed open");
    t_tls_close(&two);
    t_tls_expect(&one, "PING\r\n", "+PONG\r\n");
    t_tls_close(&one);
    ck_assert_int_eq(h_proxy_stop(p, "proxy-tls-full.log"), 0);
}
END_TEST

/* ---- the nodes' side ---- */

/* A command on a node of the TLS cluster, over TLS with the nodes' own certificate, its reply
 * parsed by hiredis's reader (free it). */
static redisReply *node_cmd(int port, const char *req)
{
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, port, "node") == 0, "node %d: %s", port, c.err);
    char *raw = t_tls_cmd(&c, req);
    t_tls_close(&c);
    redisReader *rd = redisReaderCreate();
    redisReaderFeed(rd, raw, strlen(raw));
    void *r = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &r), REDIS_OK);
    ck_assert_ptr_nonnull(r);
    redisReaderFree(rd);
    free(raw);
    return r;
}

static void nodes_up(void)
{
    if (make_certs() < 0) return;
    tls_up = h_sh("CLUSTER_TLS=%s %s start %s/tls-nodes %d %d >%s/tls-nodes.start.log 2>&1", certs,
                  PX_CLUSTER_SCRIPT, h_env.workdir, TLS_BASE, (int)getpid(), h_env.workdir) == 0;
    if (!tls_up) return;
    char startup[64], tlsport[16], crt[1100], key[1100], ca[1100], ncrt[1100], nkey[1100], dbg[64],
        addr3[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", TLS_BASE);
    snprintf(tlsport, sizeof(tlsport), "%d", P2_TLS);
    cert_path(crt, sizeof(crt), "server.crt");
    cert_path(key, sizeof(key), "server.key");
    cert_path(ca, sizeof(ca), "ca.crt");
    cert_path(ncrt, sizeof(ncrt), "node.crt");
    cert_path(nkey, sizeof(nkey), "node.key");
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", P2_DEBUG);
    /* TLS on both sides, no plain-text port at all. */
    const char *a2[] = {"-addr",
                        "127.0.0.1:0",
                        "-tls-port",
                        tlsport,
                        "-startup-nodes",
                        startup,
                        "-tls-cluster",
                        "yes",
                        "-tls-cert-file",
                        crt,
                        "-tls-key-file",
                        key,
                        "-tls-ca-cert-file",
                        ca,
                        "-tls-client-cert-file",
                        ncrt,
                        "-tls-client-key-file",
                        nkey,
                        "-threads",
                        "2",
                        "-debug-addr",
                        dbg,
                        "-slots-reload-interval",
                        "60s",
                        NULL};
    p2 = t_proxy_start(a2, P2_TLS, 0, "proxy-tls2.log");
    /* Plain clients, TLS nodes, reads from replicas (their health probed over TLS). */
    snprintf(addr3, sizeof(addr3), "127.0.0.1:%d", P3_PLAIN);
    const char *a3[] = {"-addr",
                        addr3,
                        "-startup-nodes",
                        startup,
                        "-tls-cluster",
                        "yes",
                        "-tls-ca-cert-file",
                        ca,
                        "-tls-client-cert-file",
                        ncrt,
                        "-tls-client-key-file",
                        nkey,
                        "-read-prefer",
                        "replica",
                        "-threads",
                        "2",
                        NULL};
    p3 = t_proxy_start(a3, 0, P3_PLAIN, "proxy-tls3.log");
}

static void nodes_down(void)
{
    if (p2 > 0 && h_proxy_stop(p2, "proxy-tls2.log") != 0)
        fprintf(stderr, "tls: proxy 2 did not exit cleanly\n");
    if (p3 > 0 && h_proxy_stop(p3, "proxy-tls3.log") != 0)
        fprintf(stderr, "tls: proxy 3 did not exit cleanly\n");
    p2 = p3 = -1;
    if (tls_up) h_sh("%s stop %s/tls-nodes >/dev/null 2>&1", PX_CLUSTER_SCRIPT, h_env.workdir);
    tls_up = 0;
}

static void need_nodes(void)
{
    ck_assert_msg(tls_up, "the TLS cluster did not start (see %s/tls-nodes.start.log)",
                  h_env.workdir);
    ck_assert_msg(p2 > 0, "proxy 2 did not start (see %s/proxy-tls2.log)", h_env.workdir);
    ck_assert_msg(p3 > 0, "proxy 3 did not start (see %s/proxy-tls3.log)", h_env.workdir);
}

/* The port of the master that owns key in the TLS cluster (CLUSTER SLOTS, over TLS), and the
 * masters' ports (up to 3, in *masters). */
static int tls_owner_masters(const char *key, int *masters, int *nmasters)
{
    unsigned slot = crc16_key_slot(key, strlen(key));
    redisReply *r = node_cmd(TLS_BASE, "CLUSTER SLOTS\r\n");
    int port = -1, n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        int p = (int)e->element[2]->element[1]->integer;
        if ((unsigned)e->element[0]->integer <= slot && slot <= (unsigned)e->element[1]->integer)
            port = p;
        int seen = 0;
        for (int k = 0; k < n; k++) seen |= masters && masters[k] == p;
        if (masters && !seen && n < 3) masters[n++] = p;
    }
    freeReplyObject(r);
    if (nmasters) *nmasters = n;
    return port;
}

static int tls_owner(const char *key)
{
    return tls_owner_masters(key, NULL, NULL);
}

/* TLS on both sides: the proxy reads the TLS ports from CLUSTER SHARDS (the nodes have no other),
 * and every key lands on its owner. */
START_TEST(test_tls_cluster_both_sides)
{
    need_nodes();
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, P2_TLS, "client") == 0, "%s", c.err);
    for (int i = 0; i < 200; i++) {
        char req[96];
        snprintf(req, sizeof(req), "SET tlsn:%d v%d\r\n", i, i);
        t_tls_expect(&c, req, "+OK\r\n");
    }
    t_tls_expect(&c, "MGET tlsn:1 tlsn:2 tlsn:3\r\n", "*3\r\n$2\r\nv1\r\n$2\r\nv2\r\n$2\r\nv3\r\n");
    t_tls_expect(&c, "DBSIZE\r\n", ":200\r\n");
    /* On the owning node, asked directly over TLS. */
    for (int i = 0; i < 200; i += 37) {
        char k[32], req[64], want[32];
        snprintf(k, sizeof(k), "tlsn:%d", i);
        snprintf(req, sizeof(req), "GET %s\r\n", k);
        snprintf(want, sizeof(want), "v%d", i);
        int port = tls_owner(k);
        ck_assert_int_ge(port, TLS_BASE);
        h_expect_str(node_cmd(port, req), want);
    }
    /* The proxy's plain port is off: INFO says so, as Redis's does with port 0. */
    char *info = t_tls_cmd(&c, "INFO server\r\n");
    ck_assert_msg(strstr(info, "\r\ntcp_port:0\r\n") != NULL, "INFO server: %s", info);
    free(info);
    /* ...and CLUSTER SHARDS lists only the TLS port, as a node started with --port 0. */
    char *shards = t_tls_cmd(&c, "CLUSTER SHARDS\r\n");
    char want[96];
    snprintf(want, sizeof(want), "$2\r\nid\r\n$40\r\n");
    ck_assert_ptr_nonnull(strstr(shards, want));
    snprintf(want, sizeof(want), "$8\r\ntls-port\r\n:%d\r\n", P2_TLS);
    ck_assert_msg(strstr(shards, want) && !strstr(shards, "$4\r\nport\r\n"), "%s", shards);
    free(shards);
    t_tls_close(&c);
    ck_assert_int_gt(t_info_num(P2_TLS, "tls_node_handshakes"), 0);
    ck_assert_int_eq(t_info_num(P2_TLS, "tls_node_handshake_failures"), 0);
    ck_assert_int_eq(t_info_num(P2_TLS, "slot_map_slots_served"), 16384);
}
END_TEST

/* Transactions, blocking commands and Pub/Sub take private node connections: over TLS too. */
START_TEST(test_tls_cluster_private_connections)
{
    need_nodes();
    redisContext *c = h_connect(P3_PLAIN);
    h_expect_str(h_cmd(c, "MULTI"), "OK");
    h_expect_str(h_cmd(c, "SET {tx}a 1"), "QUEUED");
    h_expect_str(h_cmd(c, "INCR {tx}a"), "QUEUED");
    redisReply *r = h_cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    ck_assert_int_eq(r->element[1]->integer, 2);
    freeReplyObject(r);
    /* BLPOP answered by a push from another client. */
    redisContext *pusher = h_connect(P3_PLAIN);
    redisAppendCommand(c, "BLPOP tls:list 5");
    h_sleep_ms(200);
    h_expect_int(h_cmd(pusher, "RPUSH tls:list x"), 1);
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[1]->str, "x");
    freeReplyObject(r);
    /* Pub/Sub. */
    redisContext *sub = h_connect(P3_PLAIN);
    r = h_cmd(sub, "SUBSCRIBE tls:ch");
    freeReplyObject(r);
    h_expect_int(h_cmd(pusher, "PUBLISH tls:ch hello"), 1);
    ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->element[2]->str, "hello");
    freeReplyObject(r);
    redisFree(sub);
    redisFree(pusher);
    redisFree(c);
}
END_TEST

/* Reads from replicas: the topology thread probes each replica's health over TLS, and reads
 * go there. */
START_TEST(test_tls_cluster_replica_reads)
{
    need_nodes();
    redisContext *c = h_connect(P3_PLAIN);
    h_expect_str(h_cmd(c, "SET tls:rr hello"), "OK");
    h_sleep_ms(300); /* replication */
    long long before = h_info_num(P3_PLAIN, "replica_reads");
    int hits = 0;
    for (int i = 0; i < 50; i++) {
        redisReply *r = h_cmd(c, "GET tls:rr");
        hits += r->type == REDIS_REPLY_STRING && strcmp(r->str, "hello") == 0;
        freeReplyObject(r);
    }
    ck_assert_int_eq(hits, 50);
    ck_assert_int_ge(h_info_num(P3_PLAIN, "replica_reads"), before + 50);
    redisFree(c);
}
END_TEST

/* A slot moved behind the proxy's back: the node answers MOVED with its TLS port (the connection
 * is TLS), and the proxy follows it over TLS. */
START_TEST(test_tls_cluster_moved)
{
    need_nodes();
    const char *key = "tls:moved:key";
    unsigned slot = crc16_key_slot(key, strlen(key));
    int masters[3], nm = 0;
    int from = tls_owner_masters(key, masters, &nm);
    ck_assert_int_ge(from, TLS_BASE);
    ck_assert_int_eq(nm, 3);
    int to = masters[0] == from ? masters[1] : masters[0];
    redisReply *r = node_cmd(to, "CLUSTER MYID\r\n");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    char req[256];
    snprintf(req, sizeof(req), "CLUSTER SETSLOT %u NODE %s\r\n", slot, r->str);
    freeReplyObject(r);
    /* The target first (it bumps its epoch), then the other masters. */
    h_expect_str(node_cmd(to, req), "OK");
    for (int k = 0; k < nm; k++)
        if (masters[k] != to) freeReplyObject(node_cmd(masters[k], req));
    long long moved0 = t_info_num(P2_TLS, "redirects_moved");
    struct t_tls c;
    ck_assert_msg(t_tls_open(&c, P2_TLS, "client") == 0, "%s", c.err);
    t_tls_expect(&c, "SET tls:moved:key there\r\n", "+OK\r\n");
    t_tls_expect(&c, "GET tls:moved:key\r\n", "$5\r\nthere\r\n");
    t_tls_close(&c);
    snprintf(req, sizeof(req), "GET %s\r\n", key);
    h_expect_str(node_cmd(to, req), "there");
    ck_assert_int_gt(t_info_num(P2_TLS, "redirects_moved"), moved0);
}
END_TEST

/* Everything again through redis-py, TLS on both sides of the proxy. */
START_TEST(test_tls_cluster_redis_py)
{
    need_nodes();
    char dir[1100];
    script_dir(dir, sizeof(dir));
    int st = h_sh("PX_TLS_DIR=%s timeout -k 5 150 /usr/bin/python3 %s/client_redis_py.py %d "
                  ">%s/tls-pyclient2.log 2>&1",
                  certs, dir, P2_TLS, h_env.workdir);
    if (st != 0) h_sh("tail -n 40 %s/tls-pyclient2.log >&2", h_env.workdir);
    ck_assert_msg(st == 0, "redis-py through TLS on both sides failed (%s/tls-pyclient2.log)",
                  h_env.workdir);
}
END_TEST

/* Nodes whose certificates the proxy cannot verify (another CA): no slot map, the reason in the
 * log and the counters, -CLUSTERDOWN for requests, nothing worse. */
START_TEST(test_tls_cluster_wrong_ca)
{
    need_nodes();
    char startup[64], ca[1100], ncrt[1100], nkey[1100], addr[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", TLS_BASE);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", P6_PLAIN);
    cert_path(ca, sizeof(ca), "other-ca.crt");
    cert_path(ncrt, sizeof(ncrt), "node.crt");
    cert_path(nkey, sizeof(nkey), "node.key");
    const char *args[] = {"-addr",
                          addr,
                          "-startup-nodes",
                          startup,
                          "-tls-cluster",
                          "yes",
                          "-tls-ca-cert-file",
                          ca,
                          "-tls-client-cert-file",
                          ncrt,
                          "-tls-client-key-file",
                          nkey,
                          "-threads",
                          "1",
                          "-connect-timeout",
                          "500ms",
                          "-failover-hold",
                          "500ms",
                          NULL};
    pid_t p = t_proxy_start(args, 0, P6_PLAIN, "proxy-tls-wrongca.log");
    ck_assert_msg(p > 0, "the proxy did not start");
    h_sleep_ms(500);
    redisContext *c = h_connect(P6_PLAIN);
    redisReply *r = h_cmd(c, "GET tls:x");
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strncmp(r->str, "CLUSTERDOWN", 11) == 0,
                  "GET without a slot map: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_gt(h_info_num(P6_PLAIN, "tls_node_handshake_failures"), 0);
    ck_assert_int_eq(h_info_num(P6_PLAIN, "slot_map_version"), 0);
    ck_assert_int_eq(h_proxy_stop(p, "proxy-tls-wrongca.log"), 0);
    ck_assert_int_eq(
        h_sh("grep -q 'certificate verify failed' %s/proxy-tls-wrongca.log", h_env.workdir), 0);
}
END_TEST

/* Pool mode with -tls-cluster: the pool's standalone servers are reached over TLS at the ports
 * the server list gives (probes and the workers' connections); a split MSET/MGET lands on both,
 * and a transaction runs on a private TLS connection. */
START_TEST(test_tls_pool_servers)
{
    ck_assert_int_eq(make_certs(), 0);
    char ncrt[1100], nkey[1100], ca[1100], tport[2][16], srv[2][64], addr[64];
    cert_path(ncrt, sizeof(ncrt), "node.crt");
    cert_path(nkey, sizeof(nkey), "node.key");
    cert_path(ca, sizeof(ca), "ca.crt");
    pid_t single[2];
    for (int i = 0; i < 2; i++) {
        snprintf(tport[i], sizeof(tport[i]), "%d", POOL_TLS + 2 * i);
        snprintf(srv[i], sizeof(srv[i]), "127.0.0.1:%d", POOL_TLS + 2 * i);
        /* The plain port is only for the harness's wait and the checks below. */
        const char *extra[] = {"--tls-port",
                               tport[i],
                               "--tls-cert-file",
                               ncrt,
                               "--tls-key-file",
                               nkey,
                               "--tls-ca-cert-file",
                               ca,
                               "--tls-auth-clients",
                               "yes",
                               NULL};
        single[i] = h_single_start_with(POOL_PLAIN + 2 * i, extra);
        ck_assert_msg(single[i] > 0, "pool server %d did not start", i);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", P7_PLAIN);
    const char *args[] = {"-addr",
                          addr,
                          "-pool-server",
                          srv[0],
                          "-pool-server",
                          srv[1],
                          "-tls-cluster",
                          "yes",
                          "-tls-ca-cert-file",
                          ca,
                          "-tls-client-cert-file",
                          ncrt,
                          "-tls-client-key-file",
                          nkey,
                          "-threads",
                          "1",
                          /* crc32 % 2 spreads tp:0..31 over both servers (ketama with
                             fnv1a_64 puts these similar keys all on one) */
                          "-distribution",
                          "crc32-mod",
                          NULL};
    pid_t p = t_proxy_start(args, 0, P7_PLAIN, "proxy-tls-pool.log");
    ck_assert_msg(p > 0, "the pool proxy did not start (see %s/proxy-tls-pool.log)", h_env.workdir);
    /* 32 keys in one MSET and one MGET, split over the two servers. */
    redisContext *c = h_connect(P7_PLAIN);
    char mset[1024] = "MSET", mget[1024] = "MGET";
    for (int i = 0; i < 32; i++) {
        size_t l = strlen(mset), g = strlen(mget);
        snprintf(mset + l, sizeof(mset) - l, " tp:%d %d", i, i);
        snprintf(mget + g, sizeof(mget) - g, " tp:%d", i);
    }
    redisReply *r = h_cmd(c, mset);
    ck_assert_msg(r->type == REDIS_REPLY_STATUS, "MSET: %s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
    r = h_cmd(c, mget);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq((int)r->elements, 32);
    for (size_t i = 0; i < 32; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%zu", i);
        ck_assert_msg(r->element[i]->type == REDIS_REPLY_STRING &&
                          strcmp(r->element[i]->str, want) == 0,
                      "MGET element %zu", i);
    }
    freeReplyObject(r);
    /* Every key is on exactly one server, and both servers hold some. */
    long long on[2];
    for (int i = 0; i < 2; i++) {
        redisContext *d = h_connect(POOL_PLAIN + 2 * i);
        r = h_cmd(d, "DBSIZE");
        on[i] = r->integer;
        freeReplyObject(r);
        redisFree(d);
    }
    ck_assert_int_eq(on[0] + on[1], 32);
    ck_assert_int_gt(on[0], 0);
    ck_assert_int_gt(on[1], 0);
    r = h_cmd(c, "MULTI");
    freeReplyObject(r);
    r = h_cmd(c, "INCR tp:1");
    freeReplyObject(r);
    r = h_cmd(c, "EXEC");
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                      r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 2,
                  "EXEC over a private TLS connection");
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_gt(h_info_num(P7_PLAIN, "tls_node_handshakes"), 1);
    ck_assert_int_eq(h_info_num(P7_PLAIN, "tls_node_handshake_failures"), 0);
    ck_assert_int_eq(h_info_num(P7_PLAIN, "pool_servers_unreachable"), 0);
    ck_assert_int_eq(h_proxy_stop(p, "proxy-tls-pool.log"), 0);
    for (int i = 0; i < 2; i++) h_single_stop(single[i]);
}
END_TEST

Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("clients");
    tcase_add_unchecked_fixture(tc, clients_up, clients_down);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_tls_redis_cli);
    tcase_add_test(tc, test_tls_same_bytes_as_plain);
    tcase_add_test(tc, test_tls_plain_and_garbage_refused);
    tcase_add_test(tc, test_tls_client_certificates);
    tcase_add_test(tc, test_tls_handshake_stall);
    tcase_add_test(tc, test_tls_slow_reader);
    tcase_add_test(tc, test_tls_sighup_reload);
    tcase_add_test(tc, test_tls_session_resumption);
    tcase_add_test(tc, test_tls_cluster_shards_answer);
    tcase_add_test(tc, test_tls_metrics);
    tcase_add_test(tc, test_tls_redis_py);
    tcase_add_test(tc, test_tls_node_redis);
    tcase_add_test(tc, test_tls_auth_modes_and_protocols);
    tcase_add_test(tc, test_tls_maxclients_and_key_pass);
    suite_add_tcase(s, tc);

    tc = tcase_create("nodes");
    tcase_add_unchecked_fixture(tc, nodes_up, nodes_down);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_tls_cluster_both_sides);
    tcase_add_test(tc, test_tls_cluster_private_connections);
    tcase_add_test(tc, test_tls_cluster_replica_reads);
    tcase_add_test(tc, test_tls_cluster_moved);
    tcase_add_test(tc, test_tls_cluster_redis_py);
    tcase_add_test(tc, test_tls_cluster_wrong_ca);
    suite_add_tcase(s, tc);

    tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tls_pool_servers);
    suite_add_tcase(s, tc);
    return s;
}
