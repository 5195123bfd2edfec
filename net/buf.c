/*
 * Chunks, the chunk pool and output queues; the contracts are in buf.h.
 *
 * Nearly every byte the proxy moves passes through here. A session or a backend runner reads its
 * socket into a chunk (buf_chunk_make_room before each read), the parsers frame requests and
 * replies as spans of that chunk, and the spans leave through another connection's obuf, by
 * reference when they are long, so a forwarded request or reply is not copied on its way. Short
 * spans are copied instead (OBUF_COPY_MAX): a small reply must not pin a whole input chunk until
 * a slow client reads it. Standard-size chunks are recycled through the pool's free list, and the
 * worker's cron hands back what a burst left unused (buf_pool_trim_unused). Everything here
 * belongs to one worker thread, which is why reference counts are plain integers.
 */
#include "buf.h"

#include "mem.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

/* Spans shorter than this are copied into the output queue rather than referenced: copying a
 * few hundred bytes costs less than pinning a whole input chunk until the write. */
#define OBUF_COPY_MAX  1024
#define OBUF_IOV_MAX   128
#define OBUF_KEEP_SEGS 16 /* an emptied ring this small is kept for the next reply */
#define BUF_GROW_MIN   (256 * 1024) /* from this size on, a chunk grows by half again (make_room) */
/* OBUF_IOV_MAX bounds the spans given to one writev (the iovec array is on the stack); a longer
 * queue takes several calls. */

void buf_pool_init(struct buf_pool *p, uint32_t chunk_size, uint32_t max_free)
{
    memset(p, 0, sizeof(*p));
    p->chunk_size = chunk_size;
    p->max_free = max_free;
}

void buf_pool_trim(struct buf_pool *p, uint32_t keep)
{
    while (p->nfree > keep) {
        struct buf_chunk *c = p->free;
        p->free = c->next;
        p->nfree--;
        px_free(c);
    }
}

void buf_pool_trim_unused(struct buf_pool *p, uint32_t keep)
{
    /* low_free is the shortest the free list has been since the last call: that many chunks sat
     * there the whole time, so nobody needed them. */
    uint32_t unused = p->low_free < p->nfree ? p->low_free : p->nfree;
    if (unused > keep) buf_pool_trim(p, p->nfree - (unused - keep));
    p->low_free = p->nfree;
}

void buf_pool_deinit(struct buf_pool *p)
{
    buf_pool_trim(p, 0);
}

/* Sets up a chunk just taken from the pool or the allocator and counts it live. */
static struct buf_chunk *chunk_start(struct buf_pool *p, struct buf_chunk *c, uint32_t cap,
                                     int pooled)
{
    c->cap = cap;
    c->pooled = pooled;
    c->refcnt = 1;
    c->len = 0;
    c->pool = p;
    c->next = NULL;
    p->chunks_live++;
    p->bytes_live += c->cap;
    return c;
}

struct buf_chunk *buf_chunk_get(struct buf_pool *p, size_t min_cap)
{
    /* Bigger than standard: a one-off allocation that never enters the free list. */
    if (min_cap > buf_pool_std_cap(p))
        return chunk_start(p, px_malloc(sizeof(struct buf_chunk) + min_cap), (uint32_t)min_cap, 0);
    struct buf_chunk *c = p->free;
    if (c) {
        p->free = c->next;
        p->nfree--;
        /* The low-water mark that buf_pool_trim_unused goes by. */
        if (p->nfree < p->low_free) p->low_free = p->nfree;
    } else {
        c = px_malloc(p->chunk_size);
    }
    return chunk_start(p, c, buf_pool_std_cap(p), 1);
}

struct buf_chunk *buf_chunk_get_exact(struct buf_pool *p, size_t len)
{
    if (len >= buf_pool_std_cap(p) / 4) return buf_chunk_get(p, len);
    return chunk_start(p, px_malloc(sizeof(struct buf_chunk) + (len ? len : 1)), (uint32_t)len, 0);
}

void buf_chunk_put(struct buf_chunk *c)
{
    if (!c) return;
    assert(c->refcnt > 0);
    if (--c->refcnt > 0) return;
    struct buf_pool *p = c->pool;
    p->chunks_live--;
    p->bytes_live -= c->cap;
    /* Only standard chunks are recycled, and only up to max_free: a pool that grew for a burst
     * does not keep all of it. */
    if (c->pooled && p->nfree < p->max_free) {
        c->next = p->free;
        p->free = c;
        p->nfree++;
    } else {
        px_free(c);
    }
}

void buf_chunk_make_room(struct buf_pool *p, struct buf_chunk **cp, uint32_t *keep, size_t need)
{
    struct buf_chunk *c = *cp;
    if (!c) {
        *cp = buf_chunk_get(p, need);
        *keep = 0;
        return;
    }
    if (buf_chunk_room(c) >= need) return;
    uint32_t kept = c->len - *keep;
    if (c->refcnt == 1 && c->cap >= kept + need) {
        /* Nobody else points into this chunk: slide the kept bytes to the front. */
        memmove(c->data, c->data + *keep, kept);
        c->len = kept;
        *keep = 0;
        return;
    }
    /* Someone else still points into the chunk (a request or reply in flight), or it is too small:
     * the kept bytes move to a new chunk of at least the standard size, and the old one lives on
     * until its last span is done with it. */
    size_t want = (size_t)kept + need;
    if (want < buf_pool_std_cap(p)) {
        want = buf_pool_std_cap(p);
    } else if (want >= BUF_GROW_MIN) {
        /* A long message read in many short reads, each asking for room to double what is held
         * (buf_read_want), would be copied again after nearly every read if sized exactly:
         * quadratic in its length. Half again what was asked makes it move a logarithmic number
         * of times. Below BUF_GROW_MIN the copies cost little, and a chunk sized exactly keeps
         * what one read takes in (and so what a turn hands on) as it was. */
        want += want / 2;
        if (want > UINT32_MAX) want = UINT32_MAX;
    }
    struct buf_chunk *n = buf_chunk_get(p, want);
    memcpy(n->data, c->data + *keep, kept);
    n->len = kept;
    buf_chunk_put(c);
    *cp = n;
    *keep = 0;
}

void obuf_init(struct obuf *o)
{
    memset(o, 0, sizeof(*o));
}

void obuf_reset(struct obuf *o)
{
    for (uint32_t i = 0; i < o->count; i++) buf_chunk_put(o->segs[(o->head + i) % o->cap].c);
    px_free(o->segs);
    memset(o, 0, sizeof(*o));
}

/* A new slot at the end of the ring. A full ring doubles, unrolled so that head restarts at 0. */
static struct obuf_seg *obuf_push(struct obuf *o)
{
    if (o->count == o->cap) {
        uint32_t ncap = o->cap ? o->cap * 2 : 4;
        struct obuf_seg *n = px_malloc(ncap * sizeof(*n));
        for (uint32_t i = 0; i < o->count; i++) n[i] = o->segs[(o->head + i) % o->cap];
        px_free(o->segs);
        o->segs = n;
        o->cap = ncap;
        o->head = 0;
    }
    struct obuf_seg *s = &o->segs[(o->head + o->count) % o->cap];
    o->count++;
    return s;
}

/* The last queued span (the one an append may extend), or NULL when the queue is empty. */
static struct obuf_seg *obuf_last(struct obuf *o)
{
    return o->count ? &o->segs[(o->head + o->count - 1) % o->cap] : NULL;
}

void obuf_append(struct obuf *o, struct buf_pool *p, const void *data, size_t len)
{
    if (len == 0) return;
    struct obuf_seg *last = obuf_last(o);
    struct buf_chunk *t = o->tail;
    /* Small payloads fill the owned tail chunk, so a burst of short replies is one span and one
     * iovec rather than one each. */
    if (t && buf_chunk_room(t) >= len) {
        memcpy(t->data + t->len, data, len);
        if (last && last->c == t && last->off + last->len == t->len) {
            last->len += (uint32_t)len; /* extends the last span */
        } else {
            /* A referenced span came in between: a new span in the same owned chunk. */
            buf_chunk_ref(t);
            struct obuf_seg *s = obuf_push(o);
            s->c = t;
            s->off = t->len;
            s->len = (uint32_t)len;
        }
        t->len += (uint32_t)len;
        o->bytes += len;
        return;
    }
    /* No owned chunk with room: start a new one, which later appends may fill. */
    struct buf_chunk *c = buf_chunk_get(p, len);
    memcpy(c->data, data, len);
    c->len = (uint32_t)len;
    struct obuf_seg *s = obuf_push(o);
    s->c = c; /* the queue owns the reference from buf_chunk_get */
    s->off = 0;
    s->len = (uint32_t)len;
    o->tail = c;
    o->bytes += len;
}

void obuf_append_ref(struct obuf *o, struct buf_chunk *c, uint32_t off, uint32_t len)
{
    if (len == 0) return;
    struct obuf_seg *last = obuf_last(o);
    if (last && last->c == c && last->off + last->len == off) {
        last->len += len; /* contiguous with the previous span of the same chunk */
        o->bytes += len;
        return;
    }
    buf_chunk_ref(c);
    struct obuf_seg *s = obuf_push(o);
    s->c = c;
    s->off = off;
    s->len = len;
    o->bytes += len;
}

void obuf_append_span(struct obuf *o, struct buf_pool *p, struct buf_chunk *c, uint32_t off,
                      uint32_t len)
{
    if (len <= OBUF_COPY_MAX)
        obuf_append(o, p, c->data + off, len);
    else
        obuf_append_ref(o, c, off, len);
}

/* A partly written span keeps its rest, and each span written in full gives up its chunk
 * reference. */
void obuf_consume(struct obuf *o, size_t n)
{
    o->bytes -= n;
    while (n > 0) {
        struct obuf_seg *s = &o->segs[o->head];
        if (n < s->len) {
            s->off += (uint32_t)n;
            s->len -= (uint32_t)n;
            return;
        }
        n -= s->len;
        /* The tail chunk stays appendable while a span still holds it (refcnt > 1 here). */
        if (s->c == o->tail && s->c->refcnt == 1) o->tail = NULL;
        buf_chunk_put(s->c);
        o->head = (o->head + 1) % o->cap;
        o->count--;
    }
    if (o->count == 0) {
        /* A small ring stays for the next reply (no allocation per request on a busy
         * connection); obuf_release() frees it once the connection is idle. A large one, left
         * by a burst, goes at once. */
        o->head = 0;
        o->tail = NULL;
        if (o->cap > OBUF_KEEP_SEGS) obuf_release(o);
    }
}

void obuf_release(struct obuf *o)
{
    if (o->count) return;
    px_free(o->segs);
    o->segs = NULL;
    o->cap = o->head = 0;
    o->tail = NULL;
}

int obuf_peek(const struct obuf *o, struct iovec *iov, struct buf_chunk **chunks, int max,
              size_t *bytes)
{
    int n = 0;
    size_t total = 0;
    for (uint32_t i = 0; i < o->count && n < max; i++) {
        const struct obuf_seg *s = &o->segs[(o->head + i) % o->cap];
        iov[n].iov_base = s->c->data + s->off;
        iov[n].iov_len = s->len;
        if (chunks) chunks[n] = s->c;
        total += s->len;
        n++;
    }
    *bytes = total;
    return n;
}

/* Keeps calling writev while the socket takes all that is offered, so a queue longer than
 * OBUF_IOV_MAX spans goes out in one obuf_write; a short write means the socket buffer is full and
 * the caller waits for LOOP_WRITE. */
ssize_t obuf_write(struct obuf *o, int fd)
{
    size_t total = 0;
    while (o->count > 0) {
        struct iovec iov[OBUF_IOV_MAX];
        size_t want;
        int n = obuf_peek(o, iov, NULL, OBUF_IOV_MAX, &want);
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            /* Progress already made is reported as such; -EAGAIN only when nothing went out. */
            if (errno == EAGAIN || errno == EWOULDBLOCK) return total ? (ssize_t)total : -EAGAIN;
            return -errno;
        }
        obuf_consume(o, (size_t)w);
        total += (size_t)w;
        if ((size_t)w < want) break; /* the socket is full */
    }
    return (ssize_t)total;
}
