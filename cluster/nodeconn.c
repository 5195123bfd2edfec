/*
 * Blocking node connections for the topology thread; see nodeconn.h. The socket is
 * non-blocking underneath (sock_connect_nb, as the workers' are), and blocking is done here with
 * poll() against a deadline, so that a node that stops answering cannot hold the thread longer
 * than the timeout, and TLS's "this read needs a write" is handled by waiting for the event
 * tls_conn_mask names. Only the topology thread uses this; it may block, workers never do.
 */
#include "nodeconn.h"

#include "clock.h"
#include "loop.h"
#include "mem.h"
#include "px_errors.h"
#include "sock.h"
#include "tls.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NODECONN_READ_CHUNK 16384
#define NODECONN_MAX_WORDS  8

struct nodeconn {
    int fd;
    struct tls_conn *tls; /* NULL: plain TCP */
    redisReader *reader;
    uint64_t timeout_ms;
    char ip[SOCK_HOST_MAX];
    char err[160];
};

/* Waits until fd is ready for the events in mask (LOOP_READ | LOOP_WRITE) or the deadline
 * passes. Returns 0 or -ETIMEDOUT. */
static int nodeconn_wait(int fd, int mask, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = clock_now_ms();
        if (now >= deadline_ms) return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = 0};
        if (mask & LOOP_READ) p.events |= POLLIN;
        if (mask & LOOP_WRITE) p.events |= POLLOUT;
        int rc = poll(&p, 1, (int)(deadline_ms - now));
        if (rc > 0) return 0; /* ready, or an error the next call will report */
        if (rc < 0 && errno != EINTR) return -errno;
    }
}

static void nodeconn_fail(struct nodeconn *c, const char *what, const char *why)
{
    if (!c->err[0]) snprintf(c->err, sizeof(c->err), "%s: %s", what, why);
}

struct nodeconn *nodeconn_open(const char *ip, int port, uint64_t timeout_ms, struct tls_ctx *tls,
                               char *err, size_t errlen)
{
    uint64_t deadline = clock_now_ms() + timeout_ms;
    int fd = sock_connect_nb(ip, port);
    if (fd < 0) {
        snprintf(err, errlen, "connect: %s", strerror(-fd));
        return NULL;
    }
    int rc = nodeconn_wait(fd, LOOP_WRITE, deadline);
    if (rc == 0) rc = sock_connect_result(fd);
    if (rc < 0) {
        snprintf(err, errlen, "connect: %s", rc == -ETIMEDOUT ? "timeout" : strerror(-rc));
        close(fd);
        return NULL;
    }
    sock_set_nodelay(fd);
    struct nodeconn *c = px_calloc(1, sizeof(*c));
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    snprintf(c->ip, sizeof(c->ip), "%s", ip);
    if (tls) {
        c->tls = tls_conn_create(tls, fd);
        if (!c->tls) {
            snprintf(err, errlen, "TLS: %s", tls_last_error());
            nodeconn_free(c);
            return NULL;
        }
        while ((rc = tls_conn_handshake(c->tls)) == -EAGAIN) {
            if (nodeconn_wait(fd, tls_conn_mask(c->tls, 0), deadline) < 0) {
                snprintf(err, errlen, "TLS handshake: timeout");
                nodeconn_free(c);
                return NULL;
            }
        }
        if (rc < 0) {
            snprintf(err, errlen, "TLS handshake: %s", tls_last_error());
            nodeconn_free(c);
            return NULL;
        }
    }
    c->reader = redisReaderCreate();
    return c;
}

/* Writes all of buf. Returns 0, or -1 with the error noted. */
static int nodeconn_write_all(struct nodeconn *c, const char *buf, size_t len)
{
    uint64_t deadline = clock_now_ms() + c->timeout_ms;
    size_t off = 0;
    while (off < len) {
        ssize_t w;
        if (c->tls) {
            struct iovec iov = {.iov_base = (void *)(buf + off), .iov_len = len - off};
            w = tls_conn_writev(c->tls, &iov, 1);
        } else {
            w = write(c->fd, buf + off, len - off);
            if (w < 0) w = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w != -EAGAIN && w != -EINTR) {
            nodeconn_fail(c, "write",
                          c->tls && w == PX_EPROTO ? tls_last_error() : strerror((int)-w));
            return -1;
        }
        int mask = c->tls ? tls_conn_mask(c->tls, LOOP_WRITE) : LOOP_WRITE;
        if (nodeconn_wait(c->fd, mask, deadline) < 0) {
            nodeconn_fail(c, "write", "timeout");
            return -1;
        }
    }
    return 0;
}

/* Reads until the reader holds a whole reply. Returns it, or NULL with the error noted. */
static redisReply *nodeconn_read_reply(struct nodeconn *c)
{
    uint64_t deadline = clock_now_ms() + c->timeout_ms;
    char buf[NODECONN_READ_CHUNK];
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            nodeconn_fail(c, "reply", c->reader->errstr);
            return NULL;
        }
        if (reply) return reply;
        ssize_t n;
        if (c->tls) {
            n = tls_conn_read(c->tls, buf, sizeof(buf));
        } else {
            n = read(c->fd, buf, sizeof(buf));
            if (n < 0) n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if (n > 0) {
            redisReaderFeed(c->reader, buf, (size_t)n);
            continue;
        }
        if (n == 0) {
            nodeconn_fail(c, "read", "connection closed by the node");
            return NULL;
        }
        if (n != -EAGAIN && n != -EINTR) {
            nodeconn_fail(c, "read",
                          c->tls && n == PX_EPROTO ? tls_last_error() : strerror((int)-n));
            return NULL;
        }
        int mask = c->tls ? tls_conn_mask(c->tls, LOOP_READ) : LOOP_READ;
        /* Bytes OpenSSL already decrypted are read without waiting for the socket. */
        if (c->tls && tls_conn_pending(c->tls)) continue;
        if (nodeconn_wait(c->fd, mask, deadline) < 0) {
            nodeconn_fail(c, "read", "timeout");
            return NULL;
        }
    }
}

redisReply *nodeconn_command_argv(struct nodeconn *c, int argc, const char **argv)
{
    if (c->err[0]) return NULL;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0) {
        nodeconn_fail(c, "command", "out of memory");
        return NULL;
    }
    int rc = nodeconn_write_all(c, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc < 0 ? NULL : nodeconn_read_reply(c);
}

redisReply *nodeconn_command(struct nodeconn *c, const char *words)
{
    char buf[128];
    const char *argv[NODECONN_MAX_WORDS];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", words);
    char *save = NULL;
    for (char *w = strtok_r(buf, " ", &save); w && argc < NODECONN_MAX_WORDS;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    return nodeconn_command_argv(c, argc, argv);
}

const char *nodeconn_error(const struct nodeconn *c)
{
    return c->err;
}

const char *nodeconn_ip(const struct nodeconn *c)
{
    return c->ip;
}

void nodeconn_free(struct nodeconn *c)
{
    if (!c) return;
    if (c->tls) {
        tls_conn_shutdown(c->tls);
        tls_conn_free(c->tls);
    }
    if (c->reader) redisReaderFree(c->reader);
    close(c->fd);
    px_free(c);
}
