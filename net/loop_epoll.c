/*
 * epoll backend of the event loop (see loop_internal.h), level-triggered. Level triggering is
 * what lets sessions and runners stop after a few reads per event and be called again next turn
 * for the rest, with no bookkeeping of their own; edge triggering would make every owner drain
 * its socket to EAGAIN. Each event carries only the fd: loop.c looks up everything else in its
 * tables. EPOLLERR and EPOLLHUP are reported by the kernel whether asked for or not, hence
 * LOOP_ERROR is never requested. EPOLLRDHUP is not used: a half-closed peer reads as readable and
 * its read returns 0, which the owners already treat as a close.
 *
 * Streams (stream.h) are plain sockets here: stream_read is one read into the owner's chunk and
 * stream_write one obuf_write (writev), on the spot, each a system call of its own.
 */
#include "loop_internal.h"

#include "buf.h"
#include "loop.h"
#include "mem.h"
#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_EPOLL_BATCH 256

struct loop_backend {
    int epfd;
    struct epoll_event events[LOOP_EPOLL_BATCH];
};

static struct loop_backend *epoll_create_backend(void)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return NULL;
    struct loop_backend *b = px_calloc(1, sizeof(*b));
    b->epfd = fd;
    return b;
}

static void epoll_free(struct loop_backend *b)
{
    if (!b) return;
    close(b->epfd);
    px_free(b);
}

/* One epoll_ctl for add, mod and del (del ignores the event, but old kernels wanted one). */
static int loop_epoll_ctl(struct loop_backend *b, int op, int fd, int mask)
{
    struct epoll_event ev = {0};
    if (mask & LOOP_READ) ev.events |= EPOLLIN; /* LOOP_STREAM, LOOP_LISTEN: nothing here */
    if (mask & LOOP_WRITE) ev.events |= EPOLLOUT;
    ev.data.fd = fd;
    return epoll_ctl(b->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int epoll_add(struct loop_backend *b, int fd, int mask)
{
    return loop_epoll_ctl(b, EPOLL_CTL_ADD, fd, mask);
}

static int epoll_mod(struct loop_backend *b, int fd, int mask)
{
    return loop_epoll_ctl(b, EPOLL_CTL_MOD, fd, mask);
}

static int epoll_del(struct loop_backend *b, int fd)
{
    return loop_epoll_ctl(b, EPOLL_CTL_DEL, fd, 0);
}

/* epoll reads nothing ahead of the owner: what arrived is still in the socket. */
static int epoll_release(struct loop_backend *b, int fd, char **bytes, size_t *len)
{
    *bytes = NULL;
    *len = 0;
    return loop_epoll_ctl(b, EPOLL_CTL_DEL, fd, 0) < 0 ? -EBUSY : 0;
}

static int epoll_poll(struct loop_backend *b, struct loop_fired *out, int max, int timeout_ms,
                      unsigned batch, unsigned batch_us)
{
    (void)batch, (void)batch_us; /* epoll_wait returns at the first event */
    /* Events beyond the batch stay ready and come back next turn (level-triggered). */
    if (max > LOOP_EPOLL_BATCH) max = LOOP_EPOLL_BATCH;
    int n = epoll_wait(b->epfd, b->events, max, timeout_ms);
    if (n < 0) return 0; /* EINTR: just another turn */
    for (int i = 0; i < n; i++) {
        uint32_t e = b->events[i].events;
        int mask = 0;
        if (e & EPOLLIN) mask |= LOOP_READ;
        if (e & EPOLLOUT) mask |= LOOP_WRITE;
        if (e & (EPOLLERR | EPOLLHUP)) mask |= LOOP_ERROR;
        out[i].fd = b->events[i].data.fd;
        out[i].mask = mask;
    }
    return n;
}

/* One read into the room made after the owner's kept bytes (at most max of them). */
static ssize_t epoll_stream_read(struct loop_backend *b, int fd, struct buf_pool *p,
                                 struct buf_chunk **cp, uint32_t *keep, size_t want, size_t max,
                                 int *more)
{
    buf_chunk_make_room(p, cp, keep, want);
    struct buf_chunk *c = *cp;
    size_t room = buf_chunk_room(c);
    if (max && room > max) room = max;
    ssize_t n = read(fd, c->data + c->len, room);
    if (n < 0) return errno == EINTR ? -EAGAIN : -errno;
    c->len += (uint32_t)n;
    /* A read that filled the room may have left more in the socket. */
    if (more) *more = n > 0 && (size_t)n == room;
    return n;
}

static ssize_t epoll_stream_write(struct loop_backend *b, int fd, struct obuf *o)
{
    return obuf_write(o, fd);
}

/* A writev either took the bytes or did not: nothing is ever pending in the kernel's hands. */
static size_t epoll_unsettled(struct loop_backend *b, int fd)
{
    return 0;
}

/* A listener is watched like any readable descriptor; its connections are taken here. */
static int epoll_accept(struct loop_backend *b, int fd)
{
    (void)b;
    return sock_accept(fd);
}

const struct loop_backend_ops loop_epoll_ops = {
    .name = "epoll",
    .create = epoll_create_backend,
    .free = epoll_free,
    .add = epoll_add,
    .mod = epoll_mod,
    .del = epoll_del,
    .release = epoll_release,
    .poll = epoll_poll,
    .read = epoll_stream_read,
    .write = epoll_stream_write,
    .unsettled = epoll_unsettled,
    .accept = epoll_accept,
};
