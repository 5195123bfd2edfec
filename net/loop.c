/*
 * Event loop core: an fd table indexed by descriptor, a binary min-heap of embedded timers, and
 * one turn = poll (bounded by the nearest timer) -> fd callbacks -> due timers -> before-sleep.
 * The engine (loop_epoll.c or loop_uring.c, loop_internal.h) translates registrations and what
 * the kernel reports; with io_uring, the poll at the end of a turn is also where the writes the
 * turn queued go to the kernel, all in the one system call that waits.
 *
 * Each worker thread runs one loop with its sessions' and runners' sockets, the acceptor another
 * with the listening socket and the signalfd. Nothing in a turn allocates for the fd table or
 * the timers except to grow them: a timer lives inside its owner, and an fd's callback, context
 * and mask sit in arrays indexed by the descriptor, so dispatching an event is a few loads. The
 * before-sleep hook is where the proxy does its batched work (one writev per connection per
 * turn, freeing what was closed), after every callback of the turn has run.
 */
#include "loop.h"

#include "clock.h"
#include "log.h"
#include "loop_internal.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Per-descriptor state, indexed by fd, kept as parallel arrays so that a descriptor costs 10
 * bytes in each worker's loop (every worker's table spans the whole fd range, since the acceptor
 * may hand any connection to any worker): the callback's context, the events of interest plus
 * LOOP_FD_REGISTERED, and the callback as an index into the loop's few distinct callbacks. */
#define LOOP_FD_REGISTERED 0x80
#define LOOP_FD_EVENTS     (LOOP_READ | LOOP_WRITE)
#define LOOP_MAX_CBS       64
#define LOOP_BATCH_MAX     64 /* completions a batched poll waits for, at most */

struct loop {
    struct loop_backend *backend;
    const struct loop_backend_ops *ops;
    enum loop_io io;
    void **fd_ctx;
    uint8_t *fd_mask;
    uint8_t *fd_cb;
    int nfds;
    loop_fd_cb *cbs[LOOP_MAX_CBS];
    int ncbs;
    struct loop_timer **heap;
    uint32_t heap_len, heap_cap;
    loop_hook_cb *before_sleep;
    void *before_sleep_ctx;
    uint64_t now_ms, now_us;
    int in_timers; /* loop_run_timers() is calling timer callbacks */
    int stop;
    int due;           /* streams owing the owners input (loop_due) */
    unsigned batch_us; /* loop_set_batch_us; 0: no batching */
    struct loop_fired fired[256];
};

/* The engine loop_create uses. Written once by loop_io_select at startup, before any other thread
 * exists (thread creation orders it before their reads), so it needs no atomic. */
static enum loop_io loop_io_default = LOOP_IO_EPOLL;

const char *loop_io_name(enum loop_io io)
{
    return io == LOOP_IO_URING ? "uring" : "epoll";
}

enum loop_io loop_io_select(enum loop_io want, char *why, size_t whylen)
{
    if (why && whylen) why[0] = '\0';
    loop_io_default = LOOP_IO_EPOLL;
    if (want != LOOP_IO_URING) return LOOP_IO_EPOLL;
#ifdef PX_HAVE_URING
    if (loop_uring_probe(why, whylen) == 0) loop_io_default = LOOP_IO_URING;
#else
    if (why) snprintf(why, whylen, "this build has no io_uring support (liburing was not found)");
#endif
    return loop_io_default;
}

struct loop *loop_create(void)
{
    return loop_create_io(loop_io_default);
}

struct loop *loop_create_io(enum loop_io io)
{
    const struct loop_backend_ops *ops = &loop_epoll_ops;
    struct loop_backend *b = NULL;
#ifdef PX_HAVE_URING
    if (io == LOOP_IO_URING) {
        b = loop_uring_ops.create();
        if (b) {
            ops = &loop_uring_ops;
        } else {
            static _Thread_local int said; /* once per thread is plenty */
            if (!said++)
                log_warn("cannot set up io_uring (%s): this loop uses epoll", strerror(errno));
        }
    }
#endif
    if (!b) {
        io = LOOP_IO_EPOLL;
        b = ops->create();
    }
    if (!b) return NULL;
    struct loop *l = px_calloc(1, sizeof(*l));
    l->backend = b;
    l->ops = ops;
    l->io = io;
    /* The cached time is valid before the first turn, for whoever arms a timer or stamps a request
     * while setting up. */
    l->now_us = clock_now_us();
    l->now_ms = l->now_us / 1000u;
    return l;
}

enum loop_io loop_get_io(const struct loop *l)
{
    return l->io;
}

void loop_set_pool(struct loop *l, struct buf_pool *pool)
{
    if (l->ops->set_pool) l->ops->set_pool(l->backend, pool);
}

struct loop_backend *loop_engine(struct loop *l, const struct loop_backend_ops **ops)
{
    *ops = l->ops;
    return l->backend;
}

void loop_free(struct loop *l)
{
    if (!l) return;
    l->ops->free(l->backend);
    px_free(l->fd_ctx);
    px_free(l->fd_mask);
    px_free(l->fd_cb);
    px_free(l->heap);
    px_free(l);
}

/* Grows the tables to cover fd; new entries are zero, that is unregistered. */
static int loop_fd_slot(struct loop *l, int fd)
{
    if (fd < 0) return -EBADF;
    if (fd >= l->nfds) {
        /* A quarter of headroom, rounded to 256: tables sized for 10,000 connections waste
         * little, and a burst of accepts reallocates a few dozen times at most. */
        int n = fd + 1 + (fd + 1) / 4;
        n = (n + 255) & ~255;
        l->fd_ctx = px_realloc(l->fd_ctx, (size_t)n * sizeof(*l->fd_ctx));
        l->fd_mask = px_realloc(l->fd_mask, (size_t)n);
        l->fd_cb = px_realloc(l->fd_cb, (size_t)n);
        memset(l->fd_ctx + l->nfds, 0, (size_t)(n - l->nfds) * sizeof(*l->fd_ctx));
        memset(l->fd_mask + l->nfds, 0, (size_t)(n - l->nfds));
        memset(l->fd_cb + l->nfds, 0, (size_t)(n - l->nfds));
        l->nfds = n;
    }
    return 0;
}

/* The index of cb in the loop's callback table, added on first use; -1 when it is full. */
static int loop_cb_index(struct loop *l, loop_fd_cb *cb)
{
    for (int i = 0; i < l->ncbs; i++)
        if (l->cbs[i] == cb) return i;
    if (l->ncbs == LOOP_MAX_CBS) return -1;
    l->cbs[l->ncbs] = cb;
    return l->ncbs++;
}

static int loop_fd_registered(const struct loop *l, int fd)
{
    return fd >= 0 && fd < l->nfds && (l->fd_mask[fd] & LOOP_FD_REGISTERED);
}

int loop_add(struct loop *l, int fd, int mask, loop_fd_cb *cb, void *ctx)
{
    int rc = loop_fd_slot(l, fd);
    if (rc < 0) return rc;
    int cbi = loop_cb_index(l, cb);
    if (cbi < 0) return -ENOMEM;
    mask &= LOOP_FD_EVENTS | LOOP_STREAM | LOOP_LISTEN;
    /* Already registered (a new callback or context for the same fd): a MOD, since epoll refuses to
     * add an fd twice. */
    rc = (l->fd_mask[fd] & LOOP_FD_REGISTERED) ? l->ops->mod(l->backend, fd, mask)
                                               : l->ops->add(l->backend, fd, mask);
    if (rc < 0) return rc;
    l->fd_mask[fd] = (uint8_t)(mask | LOOP_FD_REGISTERED);
    l->fd_cb[fd] = (uint8_t)cbi;
    l->fd_ctx[fd] = ctx;
    return 0;
}

int loop_set_mask(struct loop *l, int fd, int mask)
{
    if (!loop_fd_registered(l, fd)) return -EBADF;
    mask = (mask & LOOP_FD_EVENTS) | (l->fd_mask[fd] & (LOOP_STREAM | LOOP_LISTEN));
    /* Owners set the mask after every flush, mostly to what it already was: no system call then. */
    if ((l->fd_mask[fd] & ~LOOP_FD_REGISTERED) == mask) return 0;
    int rc = l->ops->mod(l->backend, fd, mask);
    if (rc < 0) return rc;
    l->fd_mask[fd] = (uint8_t)(mask | LOOP_FD_REGISTERED);
    return 0;
}

int loop_get_mask(struct loop *l, int fd)
{
    return loop_fd_registered(l, fd) ? l->fd_mask[fd] & LOOP_FD_EVENTS : 0;
}

int loop_accept(struct loop *l, int fd)
{
    if (!loop_fd_registered(l, fd) || !(l->fd_mask[fd] & LOOP_LISTEN)) return -EBADF;
    return l->ops->accept(l->backend, fd);
}

void loop_del(struct loop *l, int fd)
{
    if (!loop_fd_registered(l, fd)) return;
    /* Clearing the entry also makes loop_run_once skip events already fetched for fd this turn. */
    l->ops->del(l->backend, fd);
    l->fd_mask[fd] = 0;
    l->fd_cb[fd] = 0;
    l->fd_ctx[fd] = NULL;
}

int loop_release(struct loop *l, int fd, char **bytes, size_t *len)
{
    *bytes = NULL;
    *len = 0;
    if (!loop_fd_registered(l, fd) || !(l->fd_mask[fd] & LOOP_STREAM)) return -EBADF;
    int rc = l->ops->release(l->backend, fd, bytes, len);
    if (rc < 0) return rc;
    l->fd_mask[fd] = 0;
    l->fd_cb[fd] = 0;
    l->fd_ctx[fd] = NULL;
    return 0;
}

/* ---- timers: a binary min-heap on when_ms; each timer knows its index ---- */

/* Every move keeps the timers' heap_idx in step, so that stopping one needs no search. */
static void heap_swap(struct loop *l, uint32_t a, uint32_t b)
{
    struct loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

/* Moves entry i towards the root while it is due before its parent. */
static void heap_up(struct loop *l, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (l->heap[p]->when_ms <= l->heap[i]->when_ms) break;
        heap_swap(l, p, i);
        i = p;
    }
}

/* Moves entry i towards the leaves while a child is due before it. */
static void heap_down(struct loop *l, uint32_t i)
{
    for (;;) {
        uint32_t c = 2 * i + 1, m = i;
        if (c < l->heap_len && l->heap[c]->when_ms < l->heap[m]->when_ms) m = c;
        if (c + 1 < l->heap_len && l->heap[c + 1]->when_ms < l->heap[m]->when_ms) m = c + 1;
        if (m == i) break;
        heap_swap(l, i, m);
        i = m;
    }
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb *cb, void *ctx)
{
    t->when_ms = 0;
    t->heap_idx = LOOP_TIMER_IDLE;
    t->cb = cb;
    t->ctx = ctx;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    if (t->heap_idx == LOOP_TIMER_IDLE) return;
    uint32_t i = t->heap_idx;
    l->heap_len--;
    /* The last entry fills the hole, then moves whichever way restores the order. */
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_idx = LOOP_TIMER_IDLE;
}

void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ms)
{
    loop_timer_stop(l, t);
    if (l->heap_len == l->heap_cap) {
        l->heap_cap = l->heap_cap ? l->heap_cap * 2 : 64;
        l->heap = px_realloc(l->heap, l->heap_cap * sizeof(*l->heap));
    }
    /* From the clock rather than the turn's cached time: a timer armed late in a long turn still
     * waits its full delay. */
    t->when_ms = clock_now_ms() + delay_ms;
    /* A timer armed by a timer callback waits for a later turn: one that re-arms itself with no
     * delay would otherwise fire again and again until the clock ticks, starving fd events. */
    if (l->in_timers && t->when_ms <= l->now_ms) t->when_ms = l->now_ms + 1;
    t->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_idx);
}

/* Fires the due timers, earliest first. Each leaves the heap before its callback runs, so the
 * callback may re-arm it, stop other timers or free its owner. */
static void loop_run_timers(struct loop *l)
{
    l->in_timers = 1;
    while (l->heap_len > 0 && l->heap[0]->when_ms <= l->now_ms) {
        struct loop_timer *t = l->heap[0];
        loop_timer_stop(l, t);
        t->cb(l, t->ctx); /* may re-arm t or free its owner */
    }
    l->in_timers = 0;
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *ctx)
{
    l->before_sleep = cb;
    l->before_sleep_ctx = ctx;
}

uint64_t loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

uint64_t loop_now_us(const struct loop *l)
{
    return l->now_us;
}

void loop_run_once(struct loop *l, int timeout_ms)
{
    if (l->heap_len > 0) {
        uint64_t now = clock_now_ms();
        uint64_t when = l->heap[0]->when_ms;
        /* The wait ends at the nearest deadline; a minute at most, so that it always fits an
         * int. */
        int t = when <= now ? 0 : (int)(when - now > 60000 ? 60000 : when - now);
        if (timeout_ms < 0 || t < timeout_ms) timeout_ms = t;
    }
    unsigned batch = l->batch_us && l->due > 1
                         ? (unsigned)(l->due > LOOP_BATCH_MAX ? LOOP_BATCH_MAX : l->due)
                         : 1;
    int n = l->ops->poll(l->backend, l->fired, 256, timeout_ms, batch, l->batch_us);
    /* One clock read per turn: callbacks and timers of this turn all see this time. */
    l->now_us = clock_now_us();
    l->now_ms = l->now_us / 1000u;
    for (int i = 0; i < n; i++) {
        int fd = l->fired[i].fd;
        /* A callback earlier in this batch may have unregistered fd. */
        if (!loop_fd_registered(l, fd)) continue;
        /* Only what the owner still wants (an earlier callback may have changed it), and errors,
         * which are always delivered. */
        int mask = l->fired[i].mask & ((l->fd_mask[fd] & LOOP_FD_EVENTS) | LOOP_ERROR);
        if (mask) l->cbs[l->fd_cb[fd]](l, fd, mask, l->fd_ctx[fd]);
    }
    loop_run_timers(l);
    if (l->before_sleep) l->before_sleep(l, l->before_sleep_ctx);
}

void loop_due(struct loop *l, int delta)
{
    l->due += delta;
}

void loop_set_batch_us(struct loop *l, unsigned us)
{
    l->batch_us = us;
}

int loop_can_batch(struct loop *l)
{
    return l->ops->can_batch ? l->ops->can_batch(l->backend) : 0;
}

void loop_batch_stats(struct loop *l, struct loop_batch_stats *out)
{
    out->waits = out->short_waits = 0;
    if (l->ops->batch_stats) l->ops->batch_stats(l->backend, &out->waits, &out->short_waits);
    out->due = l->due;
}

void loop_run(struct loop *l)
{
    l->stop = 0;
    while (!l->stop) loop_run_once(l, -1);
}

/* Takes effect when the current turn ends; the turn itself runs to the end. */
void loop_stop(struct loop *l)
{
    l->stop = 1;
}
