/*
 * Event loop: level-triggered readiness on file descriptors plus one-shot timers kept in a
 * min-heap, and a before-sleep hook that runs once per turn (where the proxy batches its writes).
 * The loop knows nothing of what it serves: it calls (fd, mask, ctx) callbacks. One loop belongs
 * to one thread; none of these functions may be called from another thread (use chan.h).
 *
 * Two I/O engines sit behind it (loop_io_select): epoll, and io_uring, where the reads and writes
 * of stream sockets (LOOP_STREAM, stream.h) are requests handed to the kernel together once per
 * turn and the callbacks report their completions. The callbacks' contract is the same for both.
 */
#ifndef PX_LOOP_H
#define PX_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;

/* LOOP_ERROR is only ever reported, never requested: the socket has an error or was hung up in
 * both directions. It is delivered even when no event is of interest, so owners must handle it
 * (usually by closing), or a level-triggered loop would report it again and again. */
enum { LOOP_READ = 1, LOOP_WRITE = 2, LOOP_ERROR = 4 };
/* A registration flag for loop_add, never reported: fd is a connected stream socket whose owner
 * reads and writes it only through stream.h (stream_read, stream_write). Then LOOP_READ means
 * "input arrived, stream_read will return it", and LOOP_WRITE "the socket takes more, or a write
 * handed over earlier has completed": the owner calls its flush, as it does on readiness. */
enum { LOOP_STREAM = 8 };
/* A registration flag for loop_add, never reported: fd is a listening socket whose owner takes its
 * connections only through loop_accept. Then LOOP_READ means "connections are waiting". With
 * io_uring one multishot accept request takes them as they come, without a system call of the
 * loop's per connection; with epoll, loop_accept calls accept4 on the ready socket. */
enum { LOOP_LISTEN = 16 };

/* The loop's I/O engine. */
enum loop_io { LOOP_IO_EPOLL = 0, LOOP_IO_URING = 1 };

typedef void loop_fd_cb(struct loop *l, int fd, int mask, void *ctx);
typedef void loop_timer_cb(struct loop *l, void *ctx);
typedef void loop_hook_cb(struct loop *l, void *ctx);

/* A timer is embedded in its owner's struct; the loop never allocates or frees it. */
struct loop_timer {
    uint64_t when_ms;  /* deadline on the monotonic clock */
    uint32_t heap_idx; /* position in the heap, or LOOP_TIMER_IDLE */
    loop_timer_cb *cb;
    void *ctx;
};
#define LOOP_TIMER_IDLE UINT32_MAX

/* Chooses the engine of the loops created from now on (loop_create). For LOOP_IO_URING it checks
 * that the kernel lets this process use what the io_uring engine needs (a ring, a ring of provided
 * receive buffers, multishot receive); when it does not (an old kernel, seccomp,
 * /proc/sys/kernel/io_uring_disabled, a build without liburing), epoll is chosen and why is
 * written to why. Returns the engine chosen. Call once at startup, before other threads run. */
enum loop_io loop_io_select(enum loop_io want, char *why, size_t whylen);
/* "epoll" or "uring". */
const char *loop_io_name(enum loop_io io);
/* Creates a loop with the engine loop_io_select chose (epoll by default). Returns NULL (with errno
 * set) when neither engine can be created. */
struct loop *loop_create(void);
/* Creates a loop with the given engine; an io_uring ring that cannot be made falls back to epoll
 * (said once in the log). */
struct loop *loop_create_io(enum loop_io io);
/* The engine l runs on. */
enum loop_io loop_get_io(const struct loop *l);
/* Frees the loop. Registered fds are not closed; active timers are simply forgotten. */
void loop_free(struct loop *l);

/* Registers fd with the events in mask (LOOP_READ|LOOP_WRITE, may be 0; plus LOOP_STREAM for a
 * stream) and the callback, or replaces its registration. Returns 0 or -errno (-ENOMEM when the loop already knows 64
 * distinct callbacks: it stores each fd's callback as a one-byte index). */
int loop_add(struct loop *l, int fd, int mask, loop_fd_cb *cb, void *ctx);
/* Changes the events of a registered fd (LOOP_STREAM and LOOP_LISTEN are kept). Returns 0 or
 * -errno. */
int loop_set_mask(struct loop *l, int fd, int mask);
/* The events fd is registered for (LOOP_READ|LOOP_WRITE); 0 when it is not registered. */
int loop_get_mask(struct loop *l, int fd);
/* Unregisters fd (call before closing it). Events already fetched for fd are dropped; a stream's
 * reads and writes still in the kernel are cancelled, and the chunks a write was sending stay
 * referenced until the kernel lets go of them, so the owner may reset its obuf at once. */
void loop_del(struct loop *l, int fd);
/* Unregisters stream fd so that another loop (another thread) may take it, without closing it or
 * losing a byte: with io_uring the receive the kernel holds is cancelled and waited for (no send
 * may be in flight: the owner's obuf must be empty). Input that arrived and was not read yet is
 * returned in *bytes, px_malloc'd (*len bytes, NULL when none), for the next owner to read first.
 * Returns 0; -EBUSY when fd cannot be let go now (a send in flight, an end of stream or an error
 * not yet read, a receive the kernel did not give back): it stays registered as it was; -EBADF when
 * fd is not a registered stream. Call it from a callback or a timer, not from a stream call. */
int loop_release(struct loop *l, int fd, char **bytes, size_t *len);

/* The next connection of listening socket fd (registered with LOOP_LISTEN): a new descriptor,
 * non-blocking and close-on-exec, that the caller owns; -EAGAIN when none waits; or the -errno of
 * an accept that failed (-EMFILE, -ENFILE, -ENOBUFS, ...), once. Connections the peer aborted
 * before they were taken are skipped. After an error the io_uring engine takes no more
 * connections until the owner has been told of it; what the owner does then (pause, as the
 * acceptor does when out of descriptors) is its own. -EBADF when fd is not such a listener. */
int loop_accept(struct loop *l, int fd);

/* Prepares an embedded timer, inactive; call once before the first loop_timer_start. */
void loop_timer_init(struct loop_timer *t, loop_timer_cb *cb, void *ctx);
/* (Re)arms t to fire once after delay_ms. */
void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ms);
/* Disarms t; a timer that is not armed is left alone. Call before freeing t's owner. */
void loop_timer_stop(struct loop *l, struct loop_timer *t);
/* 1 while t is armed and has not fired. */
static inline int loop_timer_active(const struct loop_timer *t)
{
    return t->heap_idx != LOOP_TIMER_IDLE;
}

/* The pool the io_uring engine takes its receive buffers from (standard chunks, which then become
 * the owners' input chunks without a copy). Set it before registering streams; it must outlive
 * the loop. The epoll engine reads into the owners' chunks and ignores it. */
struct buf_pool;
void loop_set_pool(struct loop *l, struct buf_pool *pool);

/*
 * Batching (the io_uring engine; epoll ignores it). An owner that sent requests on a stream and
 * awaits the replies says so: loop_due(l, +1) when the stream starts owing input, -1 when it no
 * longer does (never for a connection that may wait on purpose: a blocked command, Pub/Sub).
 * When more than one reply is due, the poll sleeps until that many completions are in (replies,
 * and new requests, count alike), but no longer than loop_set_batch_us microseconds once the
 * first is in. One wake-up and one turn then serve a batch, and the turn's writes to each node
 * carry the batch: fewer sleeps and sends per request under load, at the price of at most
 * batch_us on a reply that comes in while another is late. With one reply due (a lone client)
 * the loop wakes at the first completion, as without batching. 0 (the default) turns it off;
 * kernels before 6.12 cannot bound the wait, and there it is off too.
 */
void loop_due(struct loop *l, int delta);
void loop_set_batch_us(struct loop *l, unsigned us);
/* 1 when this loop's engine and kernel can batch (io_uring on Linux 6.12 or later), else 0. */
int loop_can_batch(struct loop *l);
/* What batching did so far: batched waits, those the bound ended with fewer completions than
 * asked, and the replies due now. The loop's thread only. */
struct loop_batch_stats {
    uint64_t waits;
    uint64_t short_waits;
    int due;
};
void loop_batch_stats(struct loop *l, struct loop_batch_stats *out);

/* Sets the hook run once per turn, after events and timers and before waiting. */
void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *ctx);

/* Runs until loop_stop() is called from a callback. */
void loop_run(struct loop *l);
/* Makes loop_run() return once the current turn is over. The loop's thread only. */
void loop_stop(struct loop *l);
/* Runs one turn, waiting at most timeout_ms (-1: until an event or timer). For tests. */
void loop_run_once(struct loop *l, int timeout_ms);
/* The monotonic time cached at the start of the current turn (when the poll returned), in
 * milliseconds and in microseconds: one clock read per turn rather than one per request. */
uint64_t loop_now_ms(const struct loop *l);
uint64_t loop_now_us(const struct loop *l);

#endif
