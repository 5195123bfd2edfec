/*
 * The interface between loop.c and its I/O engines: loop_epoll.c (readiness, then read and writev
 * on the spot) and loop_uring.c (io_uring: receives and sends as requests that complete later,
 * handed to the kernel together once per turn). loop.c keeps the descriptor table, the timers and
 * the turn; an engine turns registrations into whatever its kernel interface wants and reports
 * what happened as (fd, mask) pairs. stream.c reaches the engine of a loop through loop_engine().
 */
#ifndef PX_LOOP_INTERNAL_H
#define PX_LOOP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct loop_backend;
struct buf_pool;
struct buf_chunk;
struct obuf;

struct loop_fired {
    int fd;
    int mask;
};

struct loop_backend_ops {
    const char *name;
    /* Creates the engine's state (an epoll instance, a ring). NULL with errno set when it cannot. */
    struct loop_backend *(*create)(void);
    /* Frees it; the descriptors it watched are not closed. NULL is ok. */
    void (*free)(struct loop_backend *b);
    /* Start, change or stop watching fd for the events in mask (LOOP_READ, LOOP_WRITE, and
     * LOOP_STREAM for a stream, stream.h, or LOOP_LISTEN for a listener). Each returns 0 or
     * -errno. */
    int (*add)(struct loop_backend *b, int fd, int mask);
    int (*mod)(struct loop_backend *b, int fd, int mask);
    int (*del)(struct loop_backend *b, int fd);
    /* loop_release for a stream: takes back what the kernel holds for fd, then forgets it without
     * closing it. Input that arrived and was not read goes to *bytes (px_malloc'd, *len bytes;
     * NULL when none). Returns 0, or -EBUSY when fd cannot be let go now (it stays as it was). */
    int (*release)(struct loop_backend *b, int fd, char **bytes, size_t *len);
    /* Hands the kernel what the turn queued, waits up to timeout_ms (-1 forever) for something to
     * happen and fills at most max events. Returns the count (>= 0). batch > 1: that many replies
     * are due (loop_due); an engine that can may sleep until that many completions are in, but no
     * longer than batch_us once the first one is (epoll cannot, and wakes at the first). */
    int (*poll)(struct loop_backend *b, struct loop_fired *out, int max, int timeout_ms,
                unsigned batch, unsigned batch_us);
    /* stream.h's stream_read, stream_write and stream_unsettled for a stream fd. */
    ssize_t (*read)(struct loop_backend *b, int fd, struct buf_pool *p, struct buf_chunk **cp,
                    uint32_t *keep, size_t want, size_t max, int *more);
    ssize_t (*write)(struct loop_backend *b, int fd, struct obuf *o);
    size_t (*unsettled)(struct loop_backend *b, int fd);
    /* loop_accept for a listener (LOOP_LISTEN). */
    int (*accept)(struct loop_backend *b, int fd);
    /* 1 when poll can honour its batch (a bounded wait for several completions). NULL: never. */
    int (*can_batch)(struct loop_backend *b);
    /* Batched waits so far, and those that ended short (loop_batch_stats). NULL: none. */
    void (*batch_stats)(struct loop_backend *b, uint64_t *waits, uint64_t *short_waits);
    /* The pool receive buffers come from (engines that read ahead of their owners). */
    void (*set_pool)(struct loop_backend *b, struct buf_pool *p);
};

extern const struct loop_backend_ops loop_epoll_ops;
#ifdef PX_HAVE_URING
extern const struct loop_backend_ops loop_uring_ops;
/* 0 when this kernel lets the process use what loop_uring.c needs, else -errno with why filled. */
int loop_uring_probe(char *why, size_t whylen);
#endif

/* The engine of l and its state, for stream.c. */
struct loop_backend *loop_engine(struct loop *l, const struct loop_backend_ops **ops);

#endif
