/*
 * epoll backend of the event loop (see loop_internal.h), level-triggered. Level triggering is
 * what lets sessions and runners stop after a few reads per event and be called again next turn
 * for the rest, with no bookkeeping of their own; edge triggering would make every owner drain
 * its socket to EAGAIN. Each event carries only the fd: loop.c looks up everything else in its
 * tables. EPOLLERR and EPOLLHUP are reported by the kernel whether asked for or not, hence
 * LOOP_ERROR is never requested. EPOLLRDHUP is not used: a half-closed peer reads as readable and
 * its read returns 0, which the owners already treat as a close.
 */
#include "loop_internal.h"

#include "loop.h"
#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_EPOLL_BATCH 256

struct loop_backend {
    int epfd;
    struct epoll_event events[LOOP_EPOLL_BATCH];
};

struct loop_backend *loop_backend_create(void)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return NULL;
    struct loop_backend *b = px_calloc(1, sizeof(*b));
    b->epfd = fd;
    return b;
}

void loop_backend_free(struct loop_backend *b)
{
    if (!b) return;
    close(b->epfd);
    px_free(b);
}

/* One epoll_ctl for add, mod and del (del ignores the event, but old kernels wanted one). */
static int loop_epoll_ctl(struct loop_backend *b, int op, int fd, int mask)
{
    struct epoll_event ev = {0};
    if (mask & LOOP_READ) ev.events |= EPOLLIN;
    if (mask & LOOP_WRITE) ev.events |= EPOLLOUT;
    ev.data.fd = fd;
    return epoll_ctl(b->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int loop_backend_add(struct loop_backend *b, int fd, int mask)
{
    return loop_epoll_ctl(b, EPOLL_CTL_ADD, fd, mask);
}

int loop_backend_mod(struct loop_backend *b, int fd, int mask)
{
    return loop_epoll_ctl(b, EPOLL_CTL_MOD, fd, mask);
}

int loop_backend_del(struct loop_backend *b, int fd)
{
    return loop_epoll_ctl(b, EPOLL_CTL_DEL, fd, 0);
}

int loop_backend_poll(struct loop_backend *b, struct loop_fired *out, int max, int timeout_ms)
{
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
