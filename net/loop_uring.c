/*
 * io_uring engine of the event loop (loop_internal.h); loop.c's turn and callbacks are unchanged.
 *
 * What it buys is system calls. With epoll a turn costs an epoll_wait, then a read per ready
 * socket and a writev per socket with output (sessions' replies, runners' requests). Here a turn
 * costs one io_uring_enter: it hands the kernel the sends the turn queued, runs the receives that
 * completed meanwhile (DEFER_TASKRUN: the kernel does that work in this call, in this thread) and
 * waits for more. And it buys wake-ups: when several replies are due (loop_due), the wait asks for
 * that many completions, bounded in time (loop_set_batch_us), and the kernel does not wake the
 * thread for each (DEFER_TASKRUN again). The sends then go in by a call of their own first, since
 * their completions would count. Per descriptor:
 *
 * - A stream (LOOP_STREAM, stream.h) with LOOP_READ has one multishot receive armed: the kernel
 *   fills a buffer of the loop's provided-buffer ring each time bytes arrive and posts a
 *   completion. The buffers are standard chunks of the loop's pool (loop_set_pool); a completed one
 *   leaves the ring, waits in the stream's pending list, and stream_read makes it the owner's
 *   input chunk without a copy (or copies it after a partial message the owner keeps). The ring is
 *   refilled from the pool in the same turn. Without LOOP_READ the receive is cancelled, so what the
 *   peer sends stays in the socket (a paused client, a suspect node) but for what the kernel had
 *   already received, which waits in the pending list.
 * - stream_write makes one send request of the obuf's first spans (send, or sendmsg for several),
 *   queued in the submission ring and handed over by the next io_uring_enter. At most one per
 *   stream is in flight, so bytes keep their order; the completion drops what went out from the
 *   obuf and reports LOOP_WRITE, and the owner's flush sends the rest. The request holds its own
 *   references on the chunks it sends from, so an owner that closes may free its obuf at once.
 * - A listener (LOOP_LISTEN) has one multishot accept armed: each connection the kernel takes comes
 *   as a completion with its new descriptor, queued for loop_accept. Without LOOP_READ the accept
 *   is cancelled and connections wait in the socket's backlog; after a failed accept none is armed
 *   until the owner was told (a listener out of descriptors would otherwise fail every turn).
 * - Anything else (an eventfd, a signalfd, a socket while it connects) gets a
 *   one-shot poll, armed again at the next turn after it fires: level-triggered, as with epoll.
 *   A stream that neither receives nor sends is watched the same way for errors only.
 *
 * Requests carry a pointer with a kind in its low bits (their user_data). A descriptor's state
 * (struct ufd) outlives loop_del while the kernel still holds requests for it: they are
 * cancelled, and the state is freed when the last completion comes back. Closing the descriptor
 * right after loop_del is fine: the kernel keeps the file until the cancellation, then lets go.
 * loop_release (a stream handed to another thread's loop) cannot wait for that: it cancels the
 * receive synchronously and reaps at once, so that no completion for the stream can come later,
 * and copies out what was received and not read.
 */
#include "loop_internal.h"

#include "buf.h"
#include "clock.h"
#include "loop.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define UR_SQ_ENTRIES 512
#define UR_CQ_ENTRIES 4096
#define UR_NBUFS      128 /* provided receive buffers per loop (a power of two) */
#define UR_BGID       7   /* the buffer group of the ring of receive buffers */
#define UR_IOV_MAX    64  /* spans in one send request (the rest go in the next) */
#define UR_WOPS_KEEP  256 /* free send requests kept for reuse */
#define UR_POOL_CHUNK (16 * 1024)
/* A poll that brought this many receives makes the next wait a batched one (loop_set_batch_us),
 * for as many, up to the max. Below it a loop is not busy enough to gain from waiting. */
#define UR_BATCH_SEEN_MIN  3
#define UR_BATCH_SEEN_MAX  16
#define UR_BATCH_BOUND_MIN 20 /* µs: the shortest bound ur_batch_bound gives */

/* io_uring_getevents_arg as kernels since 6.12 read it: what older headers call pad is the bound
 * of a batched wait (IORING_FEAT_MIN_TIMEOUT): once that many microseconds have passed with at
 * least one completion in, the wait ends even if fewer than it asked for came. */
struct ur_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t min_wait_usec;
    uint64_t ts;
};
#define UR_FEAT_MIN_TIMEOUT (1u << 15)

/* What a completion is for: the low bits of user_data. Pointers are at least 8-byte aligned. */
enum ur_kind { UK_IGNORE = 0, UK_RECV = 1, UK_POLL = 2, UK_WRITE = 3, UK_ACCEPT = 4 };
#define UK_BITS 7ull

enum {
    UF_STREAM = 1u << 0,
    UF_EOF = 1u << 1,    /* the receive said end of stream */
    UF_DIRTY = 1u << 2,  /* on the dirty list: requests to arm or cancel at the next poll */
    UF_READY = 1u << 3,  /* on the ready list: look again whether input waits for the owner */
    UF_FIRED = 1u << 4,  /* on the fired list: events to report */
    UF_ORPHAN = 1u << 5, /* unregistered; freed once the kernel holds no request for it */
    UF_QUIET = 1u << 6,  /* the poll saw only what the owner does not want (a half-close): not
                            armed again until the owner's interest changes */
    UF_LISTEN = 1u << 7, /* a listener (LOOP_LISTEN): its multishot request is an accept */
};

enum { OP_IDLE = 0, OP_ARMED, OP_CANCELLING };

struct ur_wop;

/* A listener's connections accepted by the kernel and not yet taken by its owner (ur_accept). */
struct ur_accq {
    int err; /* an accept that failed (-errno), told after the connections before it */
    uint32_t head, n, cap;
    int fd[];
};

/* One registered descriptor. */
struct ufd {
    int fd;
    int rerr; /* a failed receive (-errno), reported after the input before it */
    int werr; /* a failed send (-errno) */
    uint16_t flags;
    uint8_t mask;  /* LOOP_READ | LOOP_WRITE | LOOP_STREAM */
    uint8_t fired; /* LOOP_* to report this turn */
    uint8_t recv;  /* OP_* of the multishot receive (of the multishot accept, for a listener) */
    uint8_t poll;  /* OP_* of the one-shot poll */
    uint8_t nops;  /* receive and poll requests the kernel holds */
    uint32_t poll_events;
    uint32_t pend_off; /* bytes of the first pending chunk already taken */
    struct buf_chunk *pend;
    union {
        struct buf_chunk *pend_tail; /* a stream */
        struct ur_accq *accq;        /* a listener (UF_LISTEN), which has no pending input */
    };
    struct ur_wop *wop; /* the send in flight */
    uint64_t wdone;     /* bytes sent since the owner last asked */
    struct ufd *all_prev, *all_next; /* every state not freed yet, orphans included (ur_free) */
};

/* A send in flight. Its iovecs and msghdr must stay put until the kernel has read them, and its
 * chunk references keep the bytes alive until the send completes. */
struct ur_wop {
    struct ufd *u;  /* NULL once the stream was unregistered */
    struct obuf *o; /* the owner's queue the bytes are dropped from on completion */
    uint32_t niov;
    uint32_t bytes;
    uint32_t gen;        /* b->gen when it was queued: not handed to the kernel while equal */
    struct io_uring_sqe *sqe; /* its entry in the submission ring, while not handed over */
    struct ur_wop *next; /* the free list, or the list of sends in flight */
    struct ur_wop *prev; /* the list of sends in flight */
    struct msghdr msg;
    struct buf_chunk *refs[UR_IOV_MAX];
    struct iovec iov[UR_IOV_MAX];
};

struct ulist {
    struct ufd **v;
    int n, cap;
};

struct loop_backend {
    struct io_uring ring;
    int enabled;             /* the ring was enabled by the thread that runs the loop */
    uint32_t gen;            /* io_uring_enter calls that handed SQEs over */
    uint64_t nrecv;          /* receive completions so far */
    unsigned seen;           /* receive completions the last poll brought (for batching) */
    uint64_t full_us;        /* moving average of how long a whole batch took (ur_batch_bound) */
    uint64_t nbatched, nshort; /* batched waits, and those the bound ended short */
    unsigned enter_flags;    /* IORING_ENTER_REGISTERED_RING once the ring fd is registered */
    int enter_fd;
    struct ufd **fds;        /* by descriptor */
    int nfds;
    struct ulist dirty, ready, fired;
    struct ufd *all;        /* every descriptor state, orphans included */
    struct ur_wop *live;    /* sends in flight */
    struct ur_wop *free_wops;
    int nfree_wops;
    int validate_epfd; /* registrations of non-streams are checked with epoll (see ur_add) */
    /* The ring of provided receive buffers and the chunk in each slot. */
    struct io_uring_buf_ring *br;
    struct buf_chunk *bufs[UR_NBUFS];
    uint16_t refill[UR_NBUFS];
    int nrefill;
    struct buf_pool *pool;
    struct buf_pool own_pool; /* when the owner gave none */
};

static void ulist_push(struct ulist *l, struct ufd *u)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = px_realloc(l->v, (size_t)l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = u;
}

static uint64_t ud_of(const void *p, enum ur_kind k)
{
    return (uint64_t)(uintptr_t)p | (uint64_t)k;
}

/* ---- the submission ring ---- */

/* What liburing's submit does first: publishes the SQEs prepared since the last call. Returns how
 * many the kernel has not consumed yet. */
static unsigned ur_flush_sq(struct io_uring *r)
{
    struct io_uring_sq *sq = &r->sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    return tail - IO_URING_READ_ONCE(*sq->khead);
}

static int ur_enter(struct loop_backend *b, unsigned submit, unsigned wait, unsigned flags,
                    void *arg, size_t argsz)
{
    if (submit) b->gen++;
    int rc = io_uring_enter2((unsigned)b->enter_fd, submit, wait, flags | b->enter_flags,
                             (sigset_t *)arg, argsz);
    return rc < 0 ? -errno : rc;
}

/* A free SQE; when the ring is full, what it holds goes to the kernel first. NULL only when even
 * that fails (a ring used from another thread at teardown). */
static struct io_uring_sqe *ur_sqe(struct loop_backend *b)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (sqe || !b->enabled) return sqe;
    ur_enter(b, ur_flush_sq(&b->ring), 0, 0, NULL, 0);
    return io_uring_get_sqe(&b->ring);
}

static void ur_cancel(struct loop_backend *b, uint64_t ud)
{
    struct io_uring_sqe *sqe = ur_sqe(b);
    if (!sqe) return; /* the ring's teardown cancels it */
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, UK_IGNORE);
}

/* ---- descriptors ---- */

static void ur_mark(struct ulist *l, struct ufd *u, uint16_t flag)
{
    if (u->flags & flag) return;
    u->flags |= flag;
    ulist_push(l, u);
}

static void ur_fire(struct loop_backend *b, struct ufd *u, int m)
{
    if (!m) return;
    u->fired |= (uint8_t)m;
    ur_mark(&b->fired, u, UF_FIRED);
}

/* An unregistered descriptor's state goes once no request and no list refers to it. */
static void ur_maybe_free(struct loop_backend *b, struct ufd *u)
{
    if (!(u->flags & UF_ORPHAN) || u->nops != 0 || (u->flags & (UF_DIRTY | UF_READY | UF_FIRED)))
        return;
    if (u->all_prev)
        u->all_prev->all_next = u->all_next;
    else
        b->all = u->all_next;
    if (u->all_next) u->all_next->all_prev = u->all_prev;
    px_free(u);
}

static void ur_drop_pending(struct ufd *u)
{
    while (u->pend) {
        struct buf_chunk *c = u->pend;
        u->pend = c->next;
        c->next = NULL;
        buf_chunk_put(c);
    }
    u->pend_tail = NULL;
    u->pend_off = 0;
}

static int ur_latched(const struct ufd *u)
{
    return (u->flags & UF_EOF) || u->rerr;
}

/* Whether there is something for the owner to take (input, an end, an error, a connection). */
static int ur_has_input(const struct ufd *u)
{
    if (u->flags & UF_LISTEN) return u->accq->head < u->accq->n || u->accq->err;
    return u->pend || ur_latched(u);
}

/* Closes the connections a listener accepted that its owner never took. */
static void ur_drop_accepted(struct ufd *u)
{
    struct ur_accq *q = u->accq;
    if (!q) return;
    for (uint32_t i = q->head; i < q->n; i++) close(q->fd[i]);
    px_free(q);
    u->accq = NULL;
}

static void ur_arm_accept(struct loop_backend *b, struct ufd *u)
{
    struct io_uring_sqe *sqe = ur_sqe(b);
    if (!sqe) return;
    io_uring_prep_multishot_accept(sqe, u->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud_of(u, UK_ACCEPT));
    u->recv = OP_ARMED;
    u->nops++;
}

static void ur_arm_recv(struct loop_backend *b, struct ufd *u)
{
    struct io_uring_sqe *sqe = ur_sqe(b);
    if (!sqe) return;
    io_uring_prep_recv_multishot(sqe, u->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    io_uring_sqe_set_data64(sqe, ud_of(u, UK_RECV));
    u->recv = OP_ARMED;
    u->nops++;
}

static void ur_arm_poll(struct loop_backend *b, struct ufd *u, uint32_t events)
{
    struct io_uring_sqe *sqe = ur_sqe(b);
    if (!sqe) return;
    io_uring_prep_poll_add(sqe, u->fd, events);
    io_uring_sqe_set_data64(sqe, ud_of(u, UK_POLL));
    u->poll = OP_ARMED;
    u->poll_events = events;
    u->nops++;
}

/* Changes what an armed poll watches, in place (the kernel looks at the descriptor again). If
 * the poll completed meanwhile, the update fails and that completion arms it anew. */
static void ur_update_poll(struct loop_backend *b, struct ufd *u, uint32_t events)
{
    struct io_uring_sqe *sqe = ur_sqe(b);
    if (!sqe) return;
    io_uring_prep_poll_update(sqe, ud_of(u, UK_POLL), 0, events, IORING_POLL_UPDATE_EVENTS);
    io_uring_sqe_set_data64(sqe, UK_IGNORE);
    u->poll_events = events;
}

/* Makes the requests in the kernel match what the owner wants now. */
static void ur_sync(struct loop_backend *b, struct ufd *u)
{
    if (u->flags & UF_LISTEN) {
        /* After a failed accept, none is armed until the owner has been told. */
        int want = (u->mask & LOOP_READ) && !u->accq->err;
        if (want && u->recv == OP_IDLE) ur_arm_accept(b, u);
        if (!want && u->recv == OP_ARMED) {
            ur_cancel(b, ud_of(u, UK_ACCEPT));
            u->recv = OP_CANCELLING;
        }
        return;
    }
    int stream = u->flags & UF_STREAM;
    int want_recv = stream && (u->mask & LOOP_READ) && !ur_latched(u);
    if (want_recv && u->recv == OP_IDLE) ur_arm_recv(b, u);
    if (!want_recv && u->recv == OP_ARMED) {
        ur_cancel(b, ud_of(u, UK_RECV));
        u->recv = OP_CANCELLING;
    }
    int want_poll = 0;
    uint32_t ev = 0;
    if (!stream) {
        want_poll = !(u->flags & UF_QUIET);
        ev = ((u->mask & LOOP_READ) ? POLLIN : 0) | ((u->mask & LOOP_WRITE) ? POLLOUT : 0);
    } else if ((u->mask & LOOP_WRITE) && !u->wop && !u->werr) {
        want_poll = 1; /* connecting, or a send to retry */
        ev = POLLOUT;
    } else if (!want_recv && !u->wop && !ur_latched(u) && !u->werr) {
        want_poll = !(u->flags & UF_QUIET); /* errors only (a hang-up, a reset) */
    }
    if (want_poll && u->poll == OP_IDLE)
        ur_arm_poll(b, u, ev);
    else if (want_poll && u->poll == OP_ARMED && u->poll_events != ev)
        ur_update_poll(b, u, ev);
    else if (!want_poll && u->poll == OP_ARMED) {
        ur_cancel(b, ud_of(u, UK_POLL));
        u->poll = OP_CANCELLING;
    }
}

static struct ufd *ur_get(struct loop_backend *b, int fd)
{
    return fd >= 0 && fd < b->nfds ? b->fds[fd] : NULL;
}

static int ur_add(struct loop_backend *b, int fd, int mask)
{
    if (fd < 0) return -EBADF;
    if (!(mask & LOOP_STREAM)) {
        /* A poll request on a file that cannot be polled (a regular file) would report it ready
         * forever; epoll refuses those at registration, so ask it. Only a few descriptors are not
         * streams (eventfds, the listening socket, the signalfd), so the two calls are rare. */
        if (b->validate_epfd < 0) b->validate_epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = 0};
        if (b->validate_epfd >= 0) {
            if (epoll_ctl(b->validate_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
            epoll_ctl(b->validate_epfd, EPOLL_CTL_DEL, fd, &ev);
        }
    }
    if (fd >= b->nfds) {
        int n = fd + 1 + (fd + 1) / 4;
        n = (n + 255) & ~255;
        b->fds = px_realloc(b->fds, (size_t)n * sizeof(*b->fds));
        memset(b->fds + b->nfds, 0, (size_t)(n - b->nfds) * sizeof(*b->fds));
        b->nfds = n;
    }
    if (b->fds[fd]) return -EEXIST;
    if ((mask & LOOP_STREAM) && !b->pool) {
        buf_pool_init(&b->own_pool, UR_POOL_CHUNK, 64);
        b->pool = &b->own_pool;
    }
    if (mask & LOOP_LISTEN) {
        /* A multishot accept on a non-blocking listener never waits for connections (the kernel
         * takes O_NONBLOCK as "do not wait"): the socket is made blocking while registered (only
         * the kernel accepts on it), and non-blocking again by ur_del. */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) return -errno;
    }
    struct ufd *u = px_calloc(1, sizeof(*u));
    u->fd = fd;
    u->mask = (uint8_t)mask;
    if (mask & LOOP_STREAM) u->flags |= UF_STREAM;
    if (mask & LOOP_LISTEN) {
        u->flags |= UF_LISTEN;
        u->accq = px_calloc(1, sizeof(*u->accq) + 16 * sizeof(int));
        u->accq->cap = 16;
    }
    u->all_next = b->all;
    if (b->all) b->all->all_prev = u;
    b->all = u;
    b->fds[fd] = u;
    ur_mark(&b->dirty, u, UF_DIRTY);
    return 0;
}

static int ur_mod(struct loop_backend *b, int fd, int mask)
{
    struct ufd *u = ur_get(b, fd);
    if (!u) return -ENOENT;
    if (!(mask & LOOP_LISTEN) != !(u->flags & UF_LISTEN)) return -EINVAL;
    int had_read = u->mask & LOOP_READ;
    u->mask = (uint8_t)mask;
    u->flags = (uint16_t)((u->flags & ~(UF_QUIET | UF_STREAM)) | ((mask & LOOP_STREAM) ? UF_STREAM : 0));
    /* Input that arrived while the owner was not reading is reported as soon as it is again. */
    if (!had_read && (mask & LOOP_READ) && ur_has_input(u)) ur_mark(&b->ready, u, UF_READY);
    ur_mark(&b->dirty, u, UF_DIRTY);
    return 0;
}

static int ur_del(struct loop_backend *b, int fd)
{
    struct ufd *u = ur_get(b, fd);
    if (!u) return -ENOENT;
    b->fds[fd] = NULL;
    u->flags |= UF_ORPHAN;
    if (u->recv == OP_ARMED) {
        ur_cancel(b, ud_of(u, (u->flags & UF_LISTEN) ? UK_ACCEPT : UK_RECV));
        u->recv = OP_CANCELLING;
    }
    if (u->flags & UF_LISTEN) {
        ur_drop_accepted(u);
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    if (u->poll == OP_ARMED) {
        ur_cancel(b, ud_of(u, UK_POLL));
        u->poll = OP_CANCELLING;
    }
    if (u->wop) {
        /* A send still in the submission ring names the descriptor by number, which the owner
         * is about to close and the next socket may take: it becomes a no-op, never sent
         * (stream_unsettled had counted its bytes as possibly sent, which errs on the safe side).
         * One the kernel has is cancelled. Either way it keeps its chunk references and ends on
         * its own completion. */
        struct ur_wop *w = u->wop;
        if (w->gen == b->gen) {
            io_uring_prep_nop(w->sqe);
            io_uring_sqe_set_data64(w->sqe, ud_of(w, UK_WRITE));
        } else {
            ur_cancel(b, ud_of(w, UK_WRITE));
        }
        w->u = NULL;
        u->wop = NULL;
    }
    ur_drop_pending(u);
    ur_maybe_free(b, u);
    return 0;
}

static void ur_reap(struct loop_backend *b);

/* The kernel's requests for fd are cancelled and waited for (a synchronous cancel), and their
 * completions reaped at once: the input they brought joins the pending chunks, which are copied
 * out for the next owner. Completions of other descriptors reaped on the way are reported at the
 * next poll, as if they had come then. */
static int ur_release(struct loop_backend *b, int fd, char **bytes, size_t *len)
{
    struct ufd *u = ur_get(b, fd);
    if (!u || !(u->flags & UF_STREAM)) return -EBADF;
    if (u->wop || u->werr || ur_latched(u)) return -EBUSY;
    if (u->nops) {
        /* What completed already is taken first (with DEFER_TASKRUN, completions wait for the
         * ring's thread to ask for them), then the receive is cancelled and waited for. */
        ur_enter(b, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
        ur_reap(b);
    }
    if (u->nops) {
        struct io_uring_sync_cancel_reg reg;
        memset(&reg, 0, sizeof(reg));
        reg.fd = fd;
        reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        int rc = io_uring_register_sync_cancel(&b->ring, &reg);
        if (rc < 0 && rc != -ENOENT) return -EBUSY;
        ur_enter(b, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
        ur_reap(b);
    }
    if (u->nops || u->wop || u->werr || ur_latched(u)) {
        ur_mark(&b->dirty, u, UF_DIRTY); /* what was cancelled is armed again */
        return -EBUSY;
    }
    size_t n = 0;
    for (struct buf_chunk *c = u->pend; c; c = c->next) n += c->len;
    n -= u->pend_off;
    *bytes = NULL;
    *len = n;
    if (n) {
        char *p = px_malloc(n);
        size_t at = 0;
        uint32_t off = u->pend_off;
        for (struct buf_chunk *c = u->pend; c; c = c->next, off = 0) {
            memcpy(p + at, c->data + off, c->len - off);
            at += c->len - off;
        }
        *bytes = p;
    }
    ur_drop_pending(u);
    b->fds[fd] = NULL;
    u->flags |= UF_ORPHAN;
    ur_maybe_free(b, u);
    return 0;
}

/* ---- completions ---- */

static void ur_on_recv(struct loop_backend *b, struct ufd *u, int res, unsigned flags)
{
    struct buf_chunk *c = NULL;
    if (flags & IORING_CQE_F_BUFFER) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        c = b->bufs[bid];
        b->bufs[bid] = NULL;
        b->refill[b->nrefill++] = (uint16_t)bid;
    }
    int ended = !(flags & IORING_CQE_F_MORE);
    if (ended) {
        u->recv = OP_IDLE;
        u->nops--;
    }
    if (u->flags & UF_ORPHAN) {
        buf_chunk_put(c);
        ur_maybe_free(b, u);
        return;
    }
    if (c && res > 0) {
        c->len = (uint32_t)res;
        c->next = NULL;
        if (u->pend_tail)
            u->pend_tail->next = c;
        else
            u->pend = c;
        u->pend_tail = c;
    } else {
        buf_chunk_put(c);
    }
    if (res == 0)
        u->flags |= UF_EOF;
    else if (res < 0 && res != -ENOBUFS && res != -ECANCELED && res != -EINTR && res != -EAGAIN)
        u->rerr = res;
    /* Reported only while the owner reads; otherwise it waits for LOOP_READ to come back. */
    if ((u->mask & LOOP_READ) && (u->pend || ur_latched(u))) ur_fire(b, u, LOOP_READ);
    /* A receive that ended (out of buffers, cancelled, or the kernel's choice) is armed again at
     * the next poll if the owner still reads. */
    if (ended) ur_mark(&b->dirty, u, UF_DIRTY);
}

static void ur_accq_push(struct ufd *u, int cfd)
{
    struct ur_accq *q = u->accq;
    if (q->head > 0 && q->n == q->cap) {
        memmove(q->fd, q->fd + q->head, (q->n - q->head) * sizeof(int));
        q->n -= q->head;
        q->head = 0;
    }
    if (q->n == q->cap) {
        q->cap *= 2;
        q = px_realloc(q, sizeof(*q) + q->cap * sizeof(int));
        u->accq = q;
    }
    q->fd[q->n++] = cfd;
}

static void ur_on_accept(struct loop_backend *b, struct ufd *u, int res, unsigned flags)
{
    int ended = !(flags & IORING_CQE_F_MORE);
    if (ended) {
        u->recv = OP_IDLE;
        u->nops--;
    }
    if (u->flags & UF_ORPHAN) {
        if (res >= 0) close(res);
        ur_maybe_free(b, u);
        return;
    }
    if (res >= 0)
        ur_accq_push(u, res);
    else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN && res != -ECONNABORTED &&
             !u->accq->err)
        u->accq->err = res;
    if ((u->mask & LOOP_READ) && ur_has_input(u)) ur_fire(b, u, LOOP_READ);
    /* An accept that ended (an error, a cancel, the kernel's choice) is armed again at the next
     * poll if the owner still wants connections (after an error, once told of it). */
    if (ended) ur_mark(&b->dirty, u, UF_DIRTY);
}

static void ur_on_poll(struct loop_backend *b, struct ufd *u, int res)
{
    u->poll = OP_IDLE;
    u->nops--;
    if (u->flags & UF_ORPHAN) {
        ur_maybe_free(b, u);
        return;
    }
    ur_mark(&b->dirty, u, UF_DIRTY); /* armed again (level-triggered) at the next poll */
    if (res == -ECANCELED) return;
    int m = 0;
    if (res < 0) {
        m = LOOP_ERROR; /* the descriptor cannot be polled any more */
    } else {
        if (res & POLLIN) m |= LOOP_READ;
        if (res & POLLOUT) m |= LOOP_WRITE;
        if (res & (POLLERR | POLLHUP)) m |= LOOP_ERROR;
    }
    if (u->flags & UF_STREAM) m &= ~LOOP_READ; /* a stream's input comes from its receive */
    m &= (u->mask & (LOOP_READ | LOOP_WRITE)) | LOOP_ERROR;
    if (!m) {
        u->flags |= UF_QUIET;
        return;
    }
    ur_fire(b, u, m);
}

static struct ur_wop *ur_wop_get(struct loop_backend *b)
{
    struct ur_wop *w = b->free_wops;
    if (!w) return px_malloc(sizeof(*w));
    b->free_wops = w->next;
    b->nfree_wops--;
    return w;
}

static void ur_wop_put(struct loop_backend *b, struct ur_wop *w)
{
    if (b->nfree_wops >= UR_WOPS_KEEP) {
        px_free(w);
        return;
    }
    w->next = b->free_wops;
    b->free_wops = w;
    b->nfree_wops++;
}

/* Takes a completed (or abandoned) send off the list of those in flight. */
static void ur_wop_unlink(struct loop_backend *b, struct ur_wop *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        b->live = w->next;
    if (w->next) w->next->prev = w->prev;
}

static void ur_on_write(struct loop_backend *b, struct ur_wop *w, int res)
{
    /* The references go before the obuf drops the bytes, so that obuf_consume sees the counts it
     * expects (it keeps its tail chunk appendable while anyone else holds it). */
    for (uint32_t i = 0; i < w->niov; i++) buf_chunk_put(w->refs[i]);
    ur_wop_unlink(b, w);
    struct ufd *u = w->u;
    if (u) {
        u->wop = NULL;
        if (res > 0) {
            obuf_consume(w->o, (size_t)res);
            u->wdone += (uint64_t)res;
        } else if (res < 0 && res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
            u->werr = res;
        }
        ur_fire(b, u, (u->mask & LOOP_WRITE) ? LOOP_WRITE : (u->werr ? LOOP_ERROR : 0));
        ur_mark(&b->dirty, u, UF_DIRTY);
    }
    ur_wop_put(b, w);
}

static void ur_on_cqe(struct loop_backend *b, const struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    void *p = (void *)(uintptr_t)(ud & ~UK_BITS);
    switch ((enum ur_kind)(ud & UK_BITS)) {
    case UK_IGNORE: break;
    case UK_RECV: b->nrecv++; ur_on_recv(b, p, cqe->res, cqe->flags); break;
    case UK_POLL: ur_on_poll(b, p, cqe->res); break;
    case UK_WRITE: ur_on_write(b, p, cqe->res); break;
    case UK_ACCEPT: ur_on_accept(b, p, cqe->res, cqe->flags); break;
    }
}

/* Puts a fresh chunk in every slot of the buffer ring the kernel used. */
static void ur_refill(struct loop_backend *b)
{
    if (!b->pool || b->nrefill == 0) return;
    int mask = io_uring_buf_ring_mask(UR_NBUFS);
    for (int i = 0; i < b->nrefill; i++) {
        uint16_t bid = b->refill[i];
        struct buf_chunk *c = buf_chunk_get(b->pool, buf_pool_std_cap(b->pool));
        b->bufs[bid] = c;
        io_uring_buf_ring_add(b->br, c->data, c->cap, bid, mask, i);
    }
    io_uring_buf_ring_advance(b->br, b->nrefill);
    b->nrefill = 0;
}

/* ---- the turn ---- */

/* io_uring_enable_rings, which Debian's liburing 2.3 declares but does not export from its shared
 * library. */
static int ur_enable_rings(struct io_uring *r)
{
    return io_uring_register((unsigned)r->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

/* The first poll runs in the loop's thread: with SINGLE_ISSUER, the thread that enables the ring
 * is the only one that may submit to it. */
static void ur_enable(struct loop_backend *b)
{
    b->enabled = 1;
    if (b->ring.flags & IORING_SETUP_R_DISABLED) ur_enable_rings(&b->ring);
    /* A registered ring descriptor spares each io_uring_enter a descriptor lookup. */
    if (io_uring_register_ring_fd(&b->ring) == 1) {
        b->enter_fd = (int)b->ring.enter_ring_fd;
        b->enter_flags = IORING_ENTER_REGISTERED_RING;
    }
}

static int ur_can_batch(struct loop_backend *b)
{
    return (b->ring.features & UR_FEAT_MIN_TIMEOUT) != 0;
}

/* The bound of a batched wait: twice what a whole batch has lately taken to come, within
 * [UR_BATCH_BOUND_MIN, batch_us]. A batch that falls short then costs its first completion at
 * most that, which scales with the load: a few tens of microseconds with a handful of busy
 * clients, the whole batch_us with dozens. Before any measure, batch_us. */
static unsigned ur_batch_bound(struct loop_backend *b, unsigned batch_us)
{
    if (b->full_us == 0) return batch_us;
    uint64_t us = 2 * b->full_us;
    if (us < UR_BATCH_BOUND_MIN) us = UR_BATCH_BOUND_MIN;
    return us < batch_us ? (unsigned)us : batch_us;
}

/* Takes every completion the ring holds, and gives the receive ring its buffers back. */
static void ur_reap(struct loop_backend *b)
{
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&b->ring, head, cqe)
    {
        ur_on_cqe(b, cqe);
        n++;
    }
    io_uring_cq_advance(&b->ring, n);
    ur_refill(b);
}

/* For each descriptor marked dirty, arms or cancels requests to match what it now wants (ur_sync). */
static void ur_sync_dirty(struct loop_backend *b)
{
    for (int i = 0; i < b->dirty.n; i++) {
        struct ufd *u = b->dirty.v[i];
        u->flags &= (uint16_t)~UF_DIRTY;
        if (u->flags & UF_ORPHAN)
            ur_maybe_free(b, u);
        else
            ur_sync(b, u);
    }
    b->dirty.n = 0;
}

static int ur_poll(struct loop_backend *b, struct loop_fired *out, int max, int timeout_ms,
                   unsigned batch, unsigned batch_us)
{
    if (!b->enabled) ur_enable(b);
    ur_refill(b);
    /* Input left for owners that read only part of it (level-triggered, as epoll would say). */
    for (int i = 0; i < b->ready.n; i++) {
        struct ufd *u = b->ready.v[i];
        u->flags &= (uint16_t)~UF_READY;
        if (u->flags & UF_ORPHAN) {
            ur_maybe_free(b, u);
            continue;
        }
        if ((u->mask & LOOP_READ) && ur_has_input(u)) ur_fire(b, u, LOOP_READ);
    }
    b->ready.n = 0;
    ur_sync_dirty(b);

    /* One system call: what the turn queued goes in, completions come out, and it waits only when
     * there is nothing to report yet. */
    unsigned submit = ur_flush_sq(&b->ring);
    int reaped = 0;
    /* Replies due are one measure of what comes soon; how many receives the last wait brought is
     * another, which also counts clients (that under load send again as soon as answered). */
    if (batch_us && b->seen >= UR_BATCH_SEEN_MIN) {
        unsigned s = b->seen > UR_BATCH_SEEN_MAX ? UR_BATCH_SEEN_MAX : b->seen;
        if (s > batch) batch = s;
    }
    if (batch > 1 && batch_us && ur_can_batch(b) && b->fired.n == 0 &&
        timeout_ms != 0 && io_uring_cq_ready(&b->ring) == 0) {
        /* A batched wait counts completions: the sends of this turn, which mostly complete while
         * they are handed over, must not be among them. So they go in first, on their own. */
        if (submit) {
            ur_enter(b, submit, 0, IORING_ENTER_GETEVENTS, NULL, 0);
            ur_reap(b);
            reaped = 1;
            /* What those completions changed is armed before the wait (a receive that ran out of
             * buffers, a poll for a send to retry): otherwise the wait could be for input that no
             * armed request will ever report. The requests go in with the wait. */
            ur_sync_dirty(b);
            submit = ur_flush_sq(&b->ring);
        }
    } else {
        batch = 1;
    }
    unsigned wait = 0, flags = IORING_ENTER_GETEVENTS;
    struct __kernel_timespec ts;
    struct ur_getevents_arg arg;
    void *argp = NULL;
    size_t argsz = 0;
    if (b->fired.n == 0 && timeout_ms != 0 && io_uring_cq_ready(&b->ring) == 0) {
        wait = batch;
        if (timeout_ms > 0 || batch > 1) {
            memset(&arg, 0, sizeof(arg));
            if (timeout_ms > 0) {
                ts.tv_sec = timeout_ms / 1000;
                ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
                arg.ts = (uint64_t)(uintptr_t)&ts;
            }
            if (batch > 1) arg.min_wait_usec = ur_batch_bound(b, batch_us);
            argp = &arg;
            argsz = sizeof(arg);
            flags |= IORING_ENTER_EXT_ARG;
        }
    }
    if (!reaped || wait) {
        uint64_t t0 = wait > 1 ? clock_now_us() : 0;
        ur_enter(b, submit, wait, flags, argp, argsz); /* -ETIME, -EINTR: just another turn */
        uint64_t before = b->nrecv;
        ur_reap(b);
        unsigned got = (unsigned)(b->nrecv - before);
        /* A wait sets the measure; a turn that did not wait can only raise it. */
        if (wait || got > b->seen) b->seen = got;
        /* A batched wait: counted, and when the batch came whole, how long it took (a moving
         * average, for ur_batch_bound). */
        if (wait > 1) {
            b->nbatched++;
            if (got < wait) {
                b->nshort++;
            } else {
                uint64_t took = clock_now_us() - t0 + 1;
                b->full_us = b->full_us ? (b->full_us * 7 + took) / 8 : took;
            }
        }
    }

    int k = 0, i = 0;
    for (; i < b->fired.n && k < max; i++) {
        struct ufd *u = b->fired.v[i];
        u->flags &= (uint16_t)~UF_FIRED;
        if (u->flags & UF_ORPHAN) {
            ur_maybe_free(b, u);
            continue;
        }
        out[k].fd = u->fd;
        out[k].mask = u->fired;
        u->fired = 0;
        k++;
    }
    /* More than max descriptors fired: the rest are reported first next turn. */
    if (b->fired.n > i)
        memmove(b->fired.v, b->fired.v + i, (size_t)(b->fired.n - i) * sizeof(*b->fired.v));
    b->fired.n -= i;
    return k;
}

/* ---- streams ---- */

static ssize_t ur_read(struct loop_backend *b, int fd, struct buf_pool *p, struct buf_chunk **cp,
                       uint32_t *keep, size_t want, size_t max, int *more)
{
    struct ufd *u = ur_get(b, fd);
    if (!u || !(u->flags & UF_STREAM)) return -EBADF;
    if (!u->pend) {
        if (u->rerr) return u->rerr;
        return (u->flags & UF_EOF) ? 0 : -EAGAIN;
    }
    ssize_t total = 0;
    size_t cap = max ? max : SIZE_MAX;
    struct buf_chunk *c = *cp;
    if ((!c || c->len == *keep) && u->pend->len - u->pend_off <= cap) {
        /* The owner keeps nothing: the first pending chunk becomes its chunk. */
        struct buf_chunk *first = u->pend;
        u->pend = first->next;
        if (!u->pend) u->pend_tail = NULL;
        first->next = NULL;
        buf_chunk_put(c);
        *cp = first;
        *keep = u->pend_off;
        total = first->len - u->pend_off;
        u->pend_off = 0;
    } else {
        /* A partial message is kept (or the owner takes less than the first buffer holds): what
         * arrived is copied after it. */
        size_t avail = u->pend->len - u->pend_off;
        if (avail > cap) avail = cap;
        buf_chunk_make_room(p, cp, keep, want > avail ? want : avail);
    }
    /* Whatever else is pending is copied after, as far as there is room (and max allows). */
    c = *cp;
    while (u->pend && buf_chunk_room(c) > 0 && (size_t)total < cap) {
        struct buf_chunk *n = u->pend;
        size_t avail = n->len - u->pend_off;
        size_t take = avail < buf_chunk_room(c) ? avail : buf_chunk_room(c);
        if (take > cap - (size_t)total) take = cap - (size_t)total;
        memcpy(c->data + c->len, n->data + u->pend_off, take);
        c->len += (uint32_t)take;
        total += (ssize_t)take;
        u->pend_off += (uint32_t)take;
        if (u->pend_off == n->len) {
            u->pend = n->next;
            if (!u->pend) u->pend_tail = NULL;
            n->next = NULL;
            buf_chunk_put(n);
            u->pend_off = 0;
        }
    }
    /* What is left (and an end of stream behind it) is reported again next turn. */
    if (u->pend || ur_latched(u)) ur_mark(&b->ready, u, UF_READY);
    if (more) *more = u->pend != NULL;
    return total;
}

static ssize_t ur_write(struct loop_backend *b, int fd, struct obuf *o)
{
    struct ufd *u = ur_get(b, fd);
    if (!u || !(u->flags & UF_STREAM)) return -EBADF;
    if (u->werr) return u->werr;
    ssize_t done = (ssize_t)u->wdone;
    u->wdone = 0;
    if (u->wop || obuf_empty(o)) return done;
    struct ur_wop *w = ur_wop_get(b);
    size_t bytes;
    int n = obuf_peek(o, w->iov, w->refs, UR_IOV_MAX, &bytes);
    struct io_uring_sqe *sqe = ur_sqe(b);
    if (!sqe) {
        ur_wop_put(b, w);
        return done ? done : -EAGAIN;
    }
    for (int i = 0; i < n; i++) buf_chunk_ref(w->refs[i]);
    w->u = u;
    w->o = o;
    w->niov = (uint32_t)n;
    w->bytes = (uint32_t)bytes;
    if (n == 1) {
        io_uring_prep_send(sqe, fd, w->iov[0].iov_base, w->iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        memset(&w->msg, 0, sizeof(w->msg));
        w->msg.msg_iov = w->iov;
        w->msg.msg_iovlen = (size_t)n;
        io_uring_prep_sendmsg(sqe, fd, &w->msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, ud_of(w, UK_WRITE));
    u->wop = w;
    w->gen = b->gen;
    w->sqe = sqe;
    w->prev = NULL;
    w->next = b->live;
    if (b->live) b->live->prev = w;
    b->live = w;
    return done;
}

static int ur_accept(struct loop_backend *b, int fd)
{
    struct ufd *u = ur_get(b, fd);
    if (!u || !(u->flags & UF_LISTEN)) return -EBADF;
    struct ur_accq *q = u->accq;
    if (q->head < q->n) {
        int cfd = q->fd[q->head++];
        if (q->head == q->n)
            q->head = q->n = 0;
        else
            ur_mark(&b->ready, u, UF_READY); /* the rest are reported again next turn */
        return cfd;
    }
    if (q->err) {
        int e = q->err;
        q->err = 0;
        ur_mark(&b->dirty, u, UF_DIRTY); /* accepting may go on */
        return e;
    }
    return -EAGAIN;
}

static size_t ur_unsettled(struct loop_backend *b, int fd)
{
    struct ufd *u = ur_get(b, fd);
    return u && u->wop ? u->wop->bytes : 0;
}

/* ---- setup ---- */

static void ur_batch_stats(struct loop_backend *b, uint64_t *waits, uint64_t *short_waits)
{
    *waits = b->nbatched;
    *short_waits = b->nshort;
}

static void ur_set_pool(struct loop_backend *b, struct buf_pool *p)
{
    if (b->pool == p) return;
    /* Buffers already in the ring stay there; they go back to the pool they came from. */
    b->pool = p;
}

/* A ring with what the engine wants, the best this kernel offers: the completion work done in
 * the waiting call by the thread that runs the loop (DEFER_TASKRUN, 6.1), else at least not by
 * interrupting it (COOP_TASKRUN, 5.19), else plain. */
static int ur_ring_init(struct io_uring *ring)
{
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = UR_CQ_ENTRIES;
        rc = io_uring_queue_init_params(UR_SQ_ENTRIES, ring, &p);
        if (rc == 0) return 0;
        if (rc != -EINVAL) return rc; /* not a flag this kernel lacks: no io_uring for us */
    }
    return rc;
}

/* The ring of provided receive buffers (5.19), empty until the first poll fills it. */
static int ur_buf_ring_init(struct io_uring *ring, struct io_uring_buf_ring **brp)
{
    void *mem = NULL;
    size_t sz = UR_NBUFS * sizeof(struct io_uring_buf);
    if (posix_memalign(&mem, 4096, sz < 4096 ? 4096 : sz)) return -ENOMEM;
    memset(mem, 0, sz);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = UR_NBUFS;
    reg.bgid = UR_BGID;
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    *brp = mem;
    io_uring_buf_ring_init(*brp);
    return 0;
}

static struct loop_backend *ur_create(void)
{
    struct loop_backend *b = px_calloc(1, sizeof(*b));
    int rc = ur_ring_init(&b->ring);
    if (rc == 0) {
        rc = ur_buf_ring_init(&b->ring, &b->br);
        if (rc < 0) io_uring_queue_exit(&b->ring);
    }
    if (rc < 0) {
        px_free(b);
        errno = -rc;
        return NULL;
    }
    b->enter_fd = b->ring.ring_fd;
    b->validate_epfd = -1;
    for (int i = 0; i < UR_NBUFS; i++) b->refill[i] = (uint16_t)i;
    b->nrefill = UR_NBUFS;
    return b;
}

static void ur_free(struct loop_backend *b)
{
    if (!b) return;
    /* Closing the ring cancels what the kernel still holds; after it, no buffer is written to. */
    io_uring_queue_exit(&b->ring);
    free(b->br);
    for (int i = 0; i < UR_NBUFS; i++) buf_chunk_put(b->bufs[i]);
    /* What the kernel held at the end will not complete now: sends (and their references), and
     * descriptors registered or waiting for their last completion. */
    while (b->live) {
        struct ur_wop *w = b->live;
        b->live = w->next;
        for (uint32_t i = 0; i < w->niov; i++) buf_chunk_put(w->refs[i]);
        px_free(w);
    }
    while (b->all) {
        struct ufd *u = b->all;
        b->all = u->all_next;
        if (u->flags & UF_LISTEN)
            ur_drop_accepted(u);
        else
            ur_drop_pending(u);
        px_free(u);
    }
    while (b->free_wops) {
        struct ur_wop *w = b->free_wops;
        b->free_wops = w->next;
        px_free(w);
    }
    px_free(b->fds);
    px_free(b->dirty.v);
    px_free(b->ready.v);
    px_free(b->fired.v);
    if (b->validate_epfd >= 0) close(b->validate_epfd);
    if (b->pool == &b->own_pool) buf_pool_deinit(&b->own_pool);
    px_free(b);
}

/* ---- can this process use it? ---- */

int loop_uring_probe(char *why, size_t whylen)
{
    if (why && whylen) why[0] = '\0';
    struct io_uring ring;
    int rc = ur_ring_init(&ring);
    if (rc < 0) {
        if (why) snprintf(why, whylen, "io_uring_setup: %s", strerror(-rc));
        return rc;
    }
    struct io_uring_buf_ring *br = NULL;
    int sv[2] = {-1, -1};
    char *buf = NULL;
    rc = ur_buf_ring_init(&ring, &br);
    if (rc < 0) {
        if (why) snprintf(why, whylen, "no provided-buffer rings: %s", strerror(-rc));
        goto out;
    }
    if (ring.flags & IORING_SETUP_R_DISABLED) ur_enable_rings(&ring);
    /* A multishot receive into the buffer ring (6.0), tried on a socket pair. */
    buf = malloc(64);
    io_uring_buf_ring_add(br, buf, 64, 0, io_uring_buf_ring_mask(UR_NBUFS), 0);
    io_uring_buf_ring_advance(br, 1);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
        write(sv[1], "x", 1) != 1) {
        rc = -errno;
        if (why) snprintf(why, whylen, "socketpair: %s", strerror(-rc));
        goto out;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    io_uring_sqe_set_data64(sqe, 1);
    struct io_uring_cqe *cqe = NULL;
    rc = io_uring_submit_and_wait(&ring, 1);
    if (rc >= 0) rc = io_uring_peek_cqe(&ring, &cqe);
    if (rc < 0 || !cqe) {
        if (why) snprintf(why, whylen, "receive: %s", strerror(rc < 0 ? -rc : EIO));
        rc = rc < 0 ? rc : -EIO;
        goto out;
    }
    if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_BUFFER) || !(cqe->flags & IORING_CQE_F_MORE)) {
        if (why)
            snprintf(why, whylen, "no multishot receive (res %d, flags %#x)", cqe->res,
                     cqe->flags);
        rc = -EOPNOTSUPP;
        goto out;
    }
    rc = 0;
out:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    io_uring_queue_exit(&ring);
    free(br);
    free(buf);
    return rc;
}

const struct loop_backend_ops loop_uring_ops = {
    .name = "uring",
    .create = ur_create,
    .free = ur_free,
    .add = ur_add,
    .mod = ur_mod,
    .del = ur_del,
    .release = ur_release,
    .poll = ur_poll,
    .read = ur_read,
    .write = ur_write,
    .unsettled = ur_unsettled,
    .accept = ur_accept,
    .set_pool = ur_set_pool,
    .can_batch = ur_can_batch,
    .batch_stats = ur_batch_stats,
};
