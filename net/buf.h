/*
 * I/O buffers.
 *
 * A chunk is a refcounted block of bytes. Bytes read from a socket land in a chunk; a parsed
 * request or a framed reply is a span (chunk, offset, length) that holds a reference, so bytes are
 * forwarded without copying and the chunk lives until the last span is done with it. Chunks of
 * the standard size come from a per-thread pool that keeps a bounded number of free chunks and
 * gives the rest back to the allocator. Chunks and pools belong to one thread: refcounts are not
 * atomic.
 *
 * An obuf is an output queue: a FIFO of spans written with one writev. Small payloads are copied
 * into a chunk the obuf owns (obuf_append); large ones are referenced (obuf_append_ref).
 */
#ifndef PX_BUF_H
#define PX_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf_pool;
struct iovec;

struct buf_chunk {
    uint32_t refcnt;
    uint32_t cap;    /* bytes available in data[] */
    uint32_t len;    /* bytes filled so far */
    uint32_t pooled; /* 1 when the chunk has the pool's standard size */
    struct buf_pool *pool;
    struct buf_chunk *next; /* free-list link while pooled */
    char data[];
};

struct buf_pool {
    struct buf_chunk *free;
    uint32_t nfree;
    uint32_t max_free;    /* free chunks kept for reuse; the rest are released */
    uint32_t chunk_size;  /* total size of a standard chunk, header included */
    uint64_t chunks_live; /* chunks handed out and not yet released */
    uint64_t bytes_live;
    uint32_t low_free; /* fewest free chunks since the last buf_pool_trim_unused */
};

/* An empty pool of chunks chunk_size bytes long (header included) that keeps up to max_free free
 * chunks for reuse. Allocates nothing until the first buf_chunk_get. */
void buf_pool_init(struct buf_pool *p, uint32_t chunk_size, uint32_t max_free);
/* Frees the pool's free chunks. Chunks still referenced elsewhere are not touched. */
void buf_pool_deinit(struct buf_pool *p);
/* Releases free chunks beyond keep to the allocator. */
void buf_pool_trim(struct buf_pool *p, uint32_t keep);
/* Releases the free chunks that were not needed since the last call (keeping at least keep): a
 * pool that grew for a burst shrinks back within two calls once the burst is over. */
void buf_pool_trim_unused(struct buf_pool *p, uint32_t keep);
/* Capacity of a standard chunk's data area. */
static inline uint32_t buf_pool_std_cap(const struct buf_pool *p)
{
    return p->chunk_size - (uint32_t)sizeof(struct buf_chunk);
}

/* Returns an empty chunk with at least min_cap bytes of room and a refcount of 1. */
struct buf_chunk *buf_chunk_get(struct buf_pool *p, size_t min_cap);
/* A chunk for exactly len bytes about to be written once (a command or reply the proxy builds):
 * below a quarter of the standard size it is its own small allocation, so that thousands of them
 * in flight do not each hold a standard chunk; otherwise as buf_chunk_get(). */
struct buf_chunk *buf_chunk_get_exact(struct buf_pool *p, size_t len);
/* Takes one more reference; on the owning thread only (the count is not atomic). */
static inline void buf_chunk_ref(struct buf_chunk *c)
{
    c->refcnt++;
}
/* Drops one reference; the chunk returns to its pool (or the allocator) at zero. NULL is ok. */
void buf_chunk_put(struct buf_chunk *c);
/* Bytes that can still be written after the filled part. */
static inline uint32_t buf_chunk_room(const struct buf_chunk *c)
{
    return c->cap - c->len;
}

/*
 * Ensures the chunk held in *cp has at least need bytes of room after its filled part, keeping
 * the bytes from *keep to the end. The kept bytes may move: to the front of the same chunk when
 * nobody else references it, or to a new chunk (the caller's reference to the old one is dropped
 * and *cp replaced). *keep is updated to the kept bytes' new offset. A NULL *cp gets a new chunk.
 * A new chunk of 256 KB or more has half again the room asked for, so that a long message
 * growing read by read moves O(log n) times.
 */
void buf_chunk_make_room(struct buf_pool *p, struct buf_chunk **cp, uint32_t *keep, size_t need);

/*
 * How much room to ask for before a read, given that the parser needs `need` more bytes to finish
 * the partial message (kept bytes long) it holds: at least min_room, and never more than the
 * message has shown so far (the buffer at most doubles per read, plus the half buf_chunk_make_room
 * adds), so a peer that merely announces a huge length cannot make us allocate it.
 */
static inline size_t buf_read_want(size_t need, size_t kept, size_t min_room)
{
    size_t cap = kept > min_room ? kept : min_room;
    size_t want = need < cap ? need : cap;
    return want > min_room ? want : min_room;
}

struct obuf_seg {
    struct buf_chunk *c;
    uint32_t off;
    uint32_t len;
};

struct obuf {
    struct obuf_seg *segs; /* ring of cap entries */
    uint32_t head, count, cap;
    struct buf_chunk *tail; /* owned chunk that obuf_append may extend, or NULL */
    size_t bytes;           /* bytes queued */
};

/* An empty queue; the ring is allocated on the first append. */
void obuf_init(struct obuf *o);
/* Drops every queued span and frees the ring. */
void obuf_reset(struct obuf *o);
/* Frees the ring of an empty queue (an emptied queue keeps a small ring for the next reply). */
void obuf_release(struct obuf *o);
/* Copies len bytes to the end of the queue. */
void obuf_append(struct obuf *o, struct buf_pool *p, const void *data, size_t len);
/* Queues a reference to c's bytes [off, off+len); takes its own reference on c. */
void obuf_append_ref(struct obuf *o, struct buf_chunk *c, uint32_t off, uint32_t len);
/* Appends a span: copied when short, referenced otherwise. */
void obuf_append_span(struct obuf *o, struct buf_pool *p, struct buf_chunk *c, uint32_t off,
                      uint32_t len);
/* Writes as much as the socket takes with writev. Returns the bytes written (>= 0, the queue is
 * consumed by that much), -EAGAIN when nothing could be written, or another -errno. */
ssize_t obuf_write(struct obuf *o, int fd);
/* For a writer that hands bytes to the kernel and learns later how many went out (io_uring): the
 * first spans of the queue, at most max, as iovecs, and (when chunks is not NULL) each span's
 * chunk. Returns the count and sets *bytes to their total. The queue is not changed. */
int obuf_peek(const struct obuf *o, struct iovec *iov, struct buf_chunk **chunks, int max,
              size_t *bytes);
/* Drops n written bytes from the front of the queue (n at most o->bytes). */
void obuf_consume(struct obuf *o, size_t n);
/* 1 when nothing is queued. */
static inline int obuf_empty(const struct obuf *o)
{
    return o->count == 0;
}

#endif
