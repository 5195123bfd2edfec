/* Integration-test harness; see harness.h. */
#include "harness.h"

#include "crc16.h"
#include "px_errors.h"
#include "resp_reply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct h_env h_env;

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int h_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int h_cluster_start(const char *name, int base_port)
{
    return h_sh("%s start %s/%s %d %d >%s/%s.start.log 2>&1", PX_CLUSTER_SCRIPT, h_env.workdir,
                name, base_port, (int)getpid(), h_env.workdir, name) == 0
               ? 0
               : -1;
}

void h_cluster_stop(const char *name)
{
    h_sh("%s stop %s/%s >/dev/null 2>&1", PX_CLUSTER_SCRIPT, h_env.workdir, name);
}

pid_t h_cluster_pid(const char *name, int port)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/node-%d/redis.pid", h_env.workdir, name, port);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int pid = -1;
    if (fscanf(f, "%d", &pid) != 1) pid = -1;
    fclose(f);
    return pid;
}

long long h_info_num(int port, const char *field)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "INFO everything");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s:", field);
    const char *p = strstr(r->str, key);
    ck_assert_msg(p != NULL, "INFO on %d has no %s", port, field);
    long long v = atoll(p + strlen(key));
    freeReplyObject(r);
    redisFree(c);
    return v;
}

redisContext *h_connect(int port)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    ck_assert_msg(c && !c->err, "connect to %d: %s", port, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    return c;
}

redisReply *h_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "command '%s' failed: %s", fmt, c->errstr);
    return r;
}

redisReply *h_cmd_argv(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    ck_assert_msg(r != NULL, "command '%s' failed: %s", argv[0], c->errstr);
    return r;
}

void h_expect_str(redisReply *r, const char *want)
{
    ck_assert_msg(r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING,
                  "expected \"%s\", got reply type %d (%s)", want, r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    ck_assert_str_eq(r->str, want);
    freeReplyObject(r);
}

void h_expect_int(redisReply *r, long long want)
{
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "expected :%lld, got type %d (%s)", want, r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    ck_assert_int_eq(r->integer, want);
    freeReplyObject(r);
}

int h_owner_port(int base_port, const char *key, size_t len)
{
    unsigned slot = crc16_key_slot(key, len);
    redisContext *c = h_connect(base_port);
    redisReply *r = h_cmd(c, "CLUSTER SLOTS");
    int port = -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if ((unsigned)e->element[0]->integer <= slot && slot <= (unsigned)e->element[1]->integer)
            port = (int)e->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
    redisFree(c);
    return port;
}

int h_node_id(int port, char *id)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "CLUSTER MYID");
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(id, r->str, 41);
        rc = 0;
    }
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

redisContext *h_connect_quick(int port, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

int h_is_master(int port)
{
    redisContext *c = h_connect_quick(port, 300);
    if (!c) return 0;
    redisReply *r = redisCommand(c, "ROLE");
    int m = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
            strcmp(r->element[0]->str, "master") == 0;
    if (r) freeReplyObject(r);
    redisFree(c);
    return m;
}

int h_replica_of(int ask_port, const char *id)
{
    redisContext *c = h_connect(ask_port);
    redisReply *r = h_cmd(c, "CLUSTER REPLICAS %s", id);
    int port = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        const char *colon = strchr(r->element[0]->str, ':');
        if (colon) port = atoi(colon + 1);
    }
    freeReplyObject(r);
    redisFree(c);
    return port;
}

char *h_show(const char *s, size_t n, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < max && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r') {
            memcpy(out + o, "\\r", 2);
            o += 2;
        } else if (ch == '\n') {
            memcpy(out + o, "\\n", 2);
            o += 2;
        } else if (ch < 32 || ch > 126 || ch == '\\') {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    if (n > max && o + 32 < cap) o += (size_t)snprintf(out + o, cap - o, "...(%zu bytes)", n);
    out[o] = '\0';
    return out;
}

static int port_answers(int port)
{
    redisContext *c = h_connect_quick(port, 200);
    if (!c) return 0;
    redisReply *r = redisCommand(c, "PING");
    /* PONG, or NOAUTH from a server that wants a password: either way it is up. */
    int ok = r && ((r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) ||
                   (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0));
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

pid_t h_proxy_start(int port, const char *startup, const char *const *extra, const char *logname)
{
    char addr[64], log[1024];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(log, sizeof(log), "%s/%s", h_env.workdir, logname);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* The proxy dies with the test that started it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        const char *argv[64];
        int n = 0;
        argv[n++] = h_env.bin;
        argv[n++] = "-addr";
        argv[n++] = addr;
        if (startup) { /* NULL in pool mode, which has no cluster to learn from */
            argv[n++] = "-startup-nodes";
            argv[n++] = startup;
        }
        /* PX_PROXY_FLAGS (space-separated) come before the test's own flags, which win where they
         * name the same one: the whole suite runs, say, with -io epoll, and a test that needs
         * -worker-busy 2 still gets it. */
        const char *more = getenv("PX_PROXY_FLAGS");
        char *copy = more ? strdup(more) : NULL, *save = NULL;
        for (char *w = copy ? strtok_r(copy, " ", &save) : NULL; w && n < 62;
             w = strtok_r(NULL, " ", &save))
            argv[n++] = w;
        for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
        argv[n] = NULL;
        execv(h_env.bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return -1; /* it died */
        if (port_answers(port)) return pid;
        h_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int h_proxy_stop(pid_t pid, const char *logname)
{
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 400; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
            fprintf(stderr, "slotproxy exited badly (%s %d); log %s/%s:\n",
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), h_env.workdir, logname);
            h_sh("tail -n 60 %s/%s >&2", h_env.workdir, logname);
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        h_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "slotproxy did not stop on SIGTERM within 20 s\n");
    return -1;
}

int h_tcp_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %d: %s", port,
                  strerror(errno));
    return fd;
}

size_t h_raw(int port, const void *req, size_t len, char *out, size_t cap, int quiet_ms,
             int shut_wr, int *closed)
{
    int fd = h_tcp_connect(port, 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const char *)req + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    if (shut_wr) shutdown(fd, SHUT_WR);
    size_t got = 0;
    *closed = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, quiet_ms) <= 0) break;
        ssize_t n = read(fd, out + got, cap - 1 - got);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        got += (size_t)n;
        if (got == cap - 1) break;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

pid_t h_single_start(int port)
{
    return h_single_start_with(port, NULL);
}

pid_t h_single_start_with(int port, const char *const *extra)
{
    char dir[1024], portstr[16];
    snprintf(dir, sizeof(dir), "%s/single-%d", h_env.workdir, port);
    h_sh("rm -rf %s && mkdir -p %s", dir, dir);
    snprintf(portstr, sizeof(portstr), "%d", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        if (chdir(dir) != 0) _exit(127);
        int fd = open("redis.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        const char *argv[64] = {"redis-server", "--port",      portstr, "--bind",
                                "127.0.0.1",    "--save",      "",      "--appendonly",
                                "no",           "--daemonize", "no"};
        int n = 11;
        for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
        argv[n] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        if (port_answers(port)) return pid;
        h_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

void h_single_stop(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

void h_rc_open(struct h_rc *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = h_tcp_connect(port, 0);
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
}

void h_rc_close(struct h_rc *c)
{
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

const char *h_rc_read(struct h_rc *c, size_t *rlen)
{
    /* Drop the reply returned last time. */
    memmove(c->buf, c->buf + c->start, c->len - c->start);
    c->len -= c->start;
    c->start = 0;
    struct resp_reply_framer f;
    resp_reply_init(&f);
    uint64_t deadline = h_now_ms() + 10000;
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
        if (c->len == c->cap) {
            c->cap *= 2;
            c->buf = realloc(c->buf, c->cap);
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int left = (int)(deadline - h_now_ms());
        ck_assert_msg(left > 0 && poll(&p, 1, left) > 0, "no reply within 10 s");
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        ck_assert_msg(n > 0, "connection closed while waiting for a reply");
        c->len += (size_t)n;
    }
}

const char *h_rc_roundtrip(struct h_rc *c, const char *req, size_t len, size_t *rlen)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(c->fd, req + off, len - off);
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
    return h_rc_read(c, rlen);
}

/* Decodes a chunked body in place; returns its length, or (size_t)-1 when malformed. */
static size_t http_dechunk(char *p, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long n = strtoul(p + in, &end, 16);
        char *crlf = memmem(p + in, len - in, "\r\n", 2);
        if (end == p + in || !crlf) return (size_t)-1;
        in = (size_t)(crlf - p) + 2;
        if (n == 0) return out;
        if (in + n + 2 > len) return (size_t)-1;
        memmove(p + out, p + in, n);
        out += n;
        in += n + 2;
    }
}

void h_http(int port, const char *method, const char *path, int timeout_ms, struct h_http *out)
{
    int body = strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
    h_http_req(port, method, path, body ? "Content-Length: 0\r\n" : "", NULL, 0, timeout_ms, out);
}

void h_http_req(int port, const char *method, const char *path, const char *headers,
                const void *reqbody, size_t bodylen, int timeout_ms, struct h_http *out)
{
    memset(out, 0, sizeof(*out));
    int fd = h_tcp_connect(port, 0);
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n",
                     method, path, port, headers);
    ck_assert_int_lt(n, (int)sizeof(req));
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    /* The body may be refused before it is all read (the peer then closes): send what goes. */
    for (size_t off = 0; off < bodylen;) {
        ssize_t w = send(fd, (const char *)reqbody + off, bodylen - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = h_now_ms();
        ck_assert_msg(now < deadline, "%s %s: no complete answer within %d ms", method, path,
                      timeout_ms);
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0) continue;
        if (len + 65536 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) continue;
        ck_assert_msg(r >= 0 || (errno == ECONNRESET && len > 0), "%s %s: read: %s", method, path,
                      strerror(errno));
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    ck_assert_msg(sscanf(buf, "HTTP/1.1 %d", &out->status) == 1, "%s %s: no status line: %.80s",
                  method, path, buf);
    char *hend = strstr(buf, "\r\n\r\n");
    ck_assert_msg(hend != NULL, "%s %s: no end of headers", method, path);
    *hend = 0;
    const char *ct = strcasestr(buf, "\r\nContent-Type:");
    if (ct) sscanf(ct + 15, " %127[^\r\n]", out->ctype);
    const char *wa = strcasestr(buf, "\r\nWWW-Authenticate:");
    if (wa) sscanf(wa + 19, " %127[^\r\n]", out->www_auth);
    const char *al = strcasestr(buf, "\r\nAllow:");
    if (al) sscanf(al + 8, " %63[^\r\n]", out->allow);
    long clen = -1;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl) clen = atol(cl + 17);
    int chunked = strcasestr(buf, "\r\nTransfer-Encoding: chunked") != NULL;
    size_t blen = len - (size_t)(hend + 4 - buf);
    memmove(buf, hend + 4, blen);
    if (chunked) {
        blen = http_dechunk(buf, blen);
        ck_assert_msg(blen != (size_t)-1, "%s %s: malformed chunked body", method, path);
    } else if (clen >= 0 && strcmp(method, "HEAD") != 0) {
        ck_assert_msg((size_t)clen == blen, "%s %s: Content-Length %ld but %zu bytes", method, path,
                      clen, blen);
    }
    buf[blen] = 0;
    out->body = buf;
    out->len = blen;
}

void h_http_free(struct h_http *h)
{
    free(h->body);
    h->body = NULL;
}
