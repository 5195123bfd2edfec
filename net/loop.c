/*
 * Event loop core: an fd table indexed by descriptor, a binary min-heap of embedded timers, and
 * one turn = poll (bounded by the nearest timer) -> fd callbacks -> due timers -> before-sleep.
 * The backend (loop_epoll.c) only translates readiness.
 */
#include "loop.h"

#include "clock.h"
#include "loop_internal.h"
#include "mem.h"

#include <errno.h>
#include <string.h>

struct loop_fd {
    int mask;       /* events of interest */
    int registered; /* known to the backend */
    loop_fd_cb *cb;
    void *ctx;
};

struct loop {
    struct loop_backend *backend;
    struct loop_fd *fds;
    int nfds;
    struct loop_timer **heap;
    uint32_t heap_len, heap_cap;
    loop_hook_cb *before_sleep;
    void *before_sleep_ctx;
    uint64_t now_ms;
    int in_timers; /* loop_run_timers() is calling timer callbacks */
    int stop;
    struct loop_fired fired[256];
};

struct loop *loop_create(void)
{
    struct loop_backend *b = loop_backend_create();
    if (!b) return NULL;
    struct loop *l = px_calloc(1, sizeof(*l));
    l->backend = b;
    l->now_ms = clock_now_ms();
    return l;
}

void loop_free(struct loop *l)
{
    if (!l) return;
    loop_backend_free(l->backend);
    px_free(l->fds);
    px_free(l->heap);
    px_free(l);
}

static int loop_fd_slot(struct loop *l, int fd)
{
    if (fd < 0) return -EBADF;
    if (fd >= l->nfds) {
        int n = l->nfds ? l->nfds : 64;
        while (n <= fd) n *= 2;
        l->fds = px_realloc(l->fds, (size_t)n * sizeof(*l->fds));
        memset(l->fds + l->nfds, 0, (size_t)(n - l->nfds) * sizeof(*l->fds));
        l->nfds = n;
    }
    return 0;
}

int loop_add(struct loop *l, int fd, int mask, loop_fd_cb *cb, void *ctx)
{
    int rc = loop_fd_slot(l, fd);
    if (rc < 0) return rc;
    struct loop_fd *f = &l->fds[fd];
    rc = f->registered ? loop_backend_mod(l->backend, fd, mask)
                       : loop_backend_add(l->backend, fd, mask);
    if (rc < 0) return rc;
    f->registered = 1;
    f->mask = mask;
    f->cb = cb;
    f->ctx = ctx;
    return 0;
}

int loop_set_mask(struct loop *l, int fd, int mask)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].registered) return -EBADF;
    struct loop_fd *f = &l->fds[fd];
    if (f->mask == mask) return 0;
    int rc = loop_backend_mod(l->backend, fd, mask);
    if (rc < 0) return rc;
    f->mask = mask;
    return 0;
}

int loop_get_mask(struct loop *l, int fd)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].registered) return 0;
    return l->fds[fd].mask;
}

void loop_del(struct loop *l, int fd)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].registered) return;
    loop_backend_del(l->backend, fd);
    memset(&l->fds[fd], 0, sizeof(l->fds[fd]));
}

/* ---- timers: a binary min-heap on when_ms; each timer knows its index ---- */

static void heap_swap(struct loop *l, uint32_t a, uint32_t b)
{
    struct loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(struct loop *l, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (l->heap[p]->when_ms <= l->heap[i]->when_ms) break;
        heap_swap(l, p, i);
        i = p;
    }
}

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
    t->when_ms = clock_now_ms() + delay_ms;
    /* A timer armed by a timer callback waits for a later turn: one that re-arms itself with no
     * delay would otherwise fire again and again until the clock ticks, starving fd events. */
    if (l->in_timers && t->when_ms <= l->now_ms) t->when_ms = l->now_ms + 1;
    t->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_idx);
}

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

void loop_run_once(struct loop *l, int timeout_ms)
{
    if (l->heap_len > 0) {
        uint64_t now = clock_now_ms();
        uint64_t when = l->heap[0]->when_ms;
        int t = when <= now ? 0 : (int)(when - now > 60000 ? 60000 : when - now);
        if (timeout_ms < 0 || t < timeout_ms) timeout_ms = t;
    }
    int n = loop_backend_poll(l->backend, l->fired, 256, timeout_ms);
    l->now_ms = clock_now_ms();
    for (int i = 0; i < n; i++) {
        int fd = l->fired[i].fd;
        if (fd < 0 || fd >= l->nfds) continue;
        struct loop_fd *f = &l->fds[fd];
        /* A callback earlier in this batch may have unregistered fd. */
        if (!f->registered || !f->cb) continue;
        int mask = l->fired[i].mask & (f->mask | LOOP_ERROR);
        if (mask) f->cb(l, fd, mask, f->ctx);
    }
    loop_run_timers(l);
    if (l->before_sleep) l->before_sleep(l, l->before_sleep_ctx);
}

void loop_run(struct loop *l)
{
    l->stop = 0;
    while (!l->stop) loop_run_once(l, -1);
}

void loop_stop(struct loop *l)
{
    l->stop = 1;
}
