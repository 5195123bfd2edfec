/*
 * Unit tests for net/buf: the chunk pool (get, put, reference counts, the free-list bound and
 * trimming), buf_chunk_make_room (compaction in place, moving when the chunk is shared, growing
 * geometrically for a long message) and the
 * output queue, written into socketpairs and pipes whose buffers are made small so that writes
 * are partial, with the bytes that come out compared to the bytes that went in.
 */
#include "suites.h"

#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK_SIZE 4096

START_TEST(test_buf_pool_get_put)
{
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 2);
    const uint32_t cap = buf_pool_std_cap(&p);
    ck_assert_uint_eq(cap, CHUNK_SIZE - sizeof(struct buf_chunk));

    struct buf_chunk *a = buf_chunk_get(&p, 10);
    ck_assert_uint_eq(a->refcnt, 1);
    ck_assert_uint_eq(a->cap, cap);
    ck_assert_uint_eq(a->len, 0);
    ck_assert_uint_eq(a->pooled, 1);
    ck_assert_ptr_eq(a->pool, &p);
    ck_assert_uint_eq(buf_chunk_room(a), cap);
    ck_assert_uint_eq(p.chunks_live, 1);
    ck_assert_uint_eq(p.bytes_live, cap);
    memset(a->data, 'x', cap); /* the whole data area is usable (ASan checks) */
    a->len = cap;

    /* A released chunk goes to the free list and is handed out again, emptied. */
    buf_chunk_put(a);
    ck_assert_uint_eq(p.nfree, 1);
    ck_assert_uint_eq(p.chunks_live, 0);
    ck_assert_uint_eq(p.bytes_live, 0);
    struct buf_chunk *b = buf_chunk_get(&p, cap);
    ck_assert_ptr_eq(b, a);
    ck_assert_uint_eq(b->len, 0);
    ck_assert_uint_eq(b->refcnt, 1);
    ck_assert_uint_eq(p.nfree, 0);

    /* References: the chunk lives until the last one is dropped. */
    buf_chunk_ref(b);
    buf_chunk_ref(b);
    ck_assert_uint_eq(b->refcnt, 3);
    buf_chunk_put(b);
    buf_chunk_put(b);
    ck_assert_uint_eq(p.chunks_live, 1);
    ck_assert_uint_eq(p.nfree, 0);
    buf_chunk_put(b);
    ck_assert_uint_eq(p.chunks_live, 0);
    ck_assert_uint_eq(p.nfree, 1);
    buf_chunk_put(NULL); /* allowed, does nothing */

    /* A chunk bigger than the standard size is not pooled and goes back to the allocator. */
    struct buf_chunk *big = buf_chunk_get(&p, cap + 1);
    ck_assert_uint_eq(big->pooled, 0);
    ck_assert_uint_eq(big->cap, cap + 1);
    ck_assert_uint_eq(p.bytes_live, cap + 1);
    memset(big->data, 'y', cap + 1);
    buf_chunk_put(big);
    ck_assert_uint_eq(p.nfree, 1);
    ck_assert_uint_eq(p.bytes_live, 0);
    buf_pool_deinit(&p);
    ck_assert_uint_eq(p.nfree, 0);
    ck_assert_ptr_null(p.free);
}
END_TEST

START_TEST(test_buf_pool_bound_and_trim)
{
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 3);
    struct buf_chunk *c[6];
    for (int i = 0; i < 6; i++) c[i] = buf_chunk_get(&p, 1);
    ck_assert_uint_eq(p.chunks_live, 6);
    for (int i = 0; i < 6; i++) buf_chunk_put(c[i]);
    /* Only max_free chunks are kept; the rest went back to the allocator. */
    ck_assert_uint_eq(p.nfree, 3);
    ck_assert_uint_eq(p.chunks_live, 0);
    /* The kept ones are reused before anything new is allocated. */
    struct buf_chunk *d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = buf_chunk_get(&p, 1);
        int found = 0;
        for (int k = 0; k < 6; k++) found |= d[i] == c[k];
        ck_assert(found);
    }
    ck_assert_uint_eq(p.nfree, 0);
    for (int i = 0; i < 3; i++) buf_chunk_put(d[i]);
    buf_pool_trim(&p, 1);
    ck_assert_uint_eq(p.nfree, 1);
    buf_pool_trim(&p, 5); /* keeping more than there is changes nothing */
    ck_assert_uint_eq(p.nfree, 1);
    buf_pool_trim(&p, 0);
    ck_assert_uint_eq(p.nfree, 0);
    ck_assert_ptr_null(p.free);
    buf_pool_deinit(&p);
}
END_TEST

static void fill_pattern(char *d, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) d[i] = (char)(seed + i * 7);
}

static int check_pattern(const char *d, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] != (char)(seed + i * 7)) return 0;
    return 1;
}

START_TEST(test_buf_make_room)
{
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    const uint32_t cap = buf_pool_std_cap(&p);

    /* No chunk yet: one is made, big enough. */
    struct buf_chunk *c = NULL;
    uint32_t keep = 77;
    buf_chunk_make_room(&p, &c, &keep, 100);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(keep, 0);
    ck_assert_uint_ge(buf_chunk_room(c), 100);
    buf_chunk_put(c);
    c = NULL;
    buf_chunk_make_room(&p, &c, &keep, cap * 3);
    ck_assert_uint_ge(buf_chunk_room(c), cap * 3);
    buf_chunk_put(c);

    /* Enough room already: nothing moves. */
    c = buf_chunk_get(&p, 1);
    fill_pattern(c->data, 1000, 1);
    c->len = 1000;
    keep = 400;
    struct buf_chunk *before = c;
    buf_chunk_make_room(&p, &c, &keep, cap - 1000);
    ck_assert_ptr_eq(c, before);
    ck_assert_uint_eq(keep, 400);
    ck_assert_uint_eq(c->len, 1000);

    /* Not enough room at the end, but enough after sliding the kept bytes to the front. */
    buf_chunk_make_room(&p, &c, &keep, cap - 1000 + 1);
    ck_assert_ptr_eq(c, before);
    ck_assert_uint_eq(keep, 0);
    ck_assert_uint_eq(c->len, 600);
    ck_assert(check_pattern(c->data, 600, 1 + 400 * 7));
    ck_assert_uint_ge(buf_chunk_room(c), cap - 1000 + 1);

    /* Kept bytes plus the room asked for exceed the chunk: the bytes move to a bigger one. */
    keep = 100;
    buf_chunk_make_room(&p, &c, &keep, cap);
    ck_assert_ptr_ne(c, before);
    ck_assert_uint_eq(keep, 0);
    ck_assert_uint_eq(c->len, 500);
    ck_assert_uint_ge(buf_chunk_room(c), cap);
    ck_assert(check_pattern(c->data, 500, 1 + 500 * 7));
    ck_assert_uint_eq(p.chunks_live, 1); /* the old chunk was released */
    buf_chunk_put(c);

    /* Shared: someone else points into the chunk, so the bytes must not move inside it even
     * though compaction would make room. They go to a new chunk; the old one is untouched. */
    c = buf_chunk_get(&p, 1);
    fill_pattern(c->data, cap, 9);
    c->len = cap;
    struct buf_chunk *other = c;
    buf_chunk_ref(other);
    keep = cap - 50;
    buf_chunk_make_room(&p, &c, &keep, 100);
    ck_assert_ptr_ne(c, other);
    ck_assert_uint_eq(keep, 0);
    ck_assert_uint_eq(c->len, 50);
    ck_assert(check_pattern(c->data, 50, 9 + (cap - 50) * 7));
    ck_assert_uint_eq(other->refcnt, 1);
    ck_assert_uint_eq(other->len, cap);
    ck_assert(check_pattern(other->data, cap, 9));
    ck_assert_uint_eq(p.chunks_live, 2);
    /* A new chunk is at least the standard size, so small requests do not make tiny chunks. */
    ck_assert_uint_ge(c->cap, cap);
    buf_chunk_put(other);
    buf_chunk_put(c);

    /* Nothing kept (keep == len): the whole chunk is free again. */
    c = buf_chunk_get(&p, 1);
    c->len = cap;
    keep = cap;
    before = c;
    buf_chunk_make_room(&p, &c, &keep, cap);
    ck_assert_ptr_eq(c, before);
    ck_assert_uint_eq(c->len, 0);
    ck_assert_uint_eq(keep, 0);
    buf_chunk_put(c);
    ck_assert_uint_eq(p.chunks_live, 0);
    buf_pool_deinit(&p);
}
END_TEST

START_TEST(test_buf_long_message_moves_few_times)
{
    /* A 64 MB argument arriving 16 KB per read, each read preceded by buf_read_want and
     * buf_chunk_make_room as the session does: the kept bytes move a logarithmic number of
     * times. Sized exactly, the chunk was too small again after nearly every read, and each move
     * copied all that was held: 4,000 moves and about 128 GB copied for this message. */
    struct buf_pool p;
    buf_pool_init(&p, 16384, 4);
    const size_t total = 64u << 20, step = 16384, min_room = 4096;
    struct buf_chunk *c = NULL;
    uint32_t keep = 0;
    size_t have = 0, moves = 0, copied = 0;
    while (have < total) {
        size_t kept = c ? c->len - keep : 0;
        struct buf_chunk *before = c;
        buf_chunk_make_room(&p, &c, &keep, buf_read_want(total - have, kept, min_room));
        if (before && c != before) {
            moves++;
            copied += kept;
        }
        size_t n = buf_chunk_room(c) < step ? buf_chunk_room(c) : step;
        if (n > total - have) n = total - have;
        ck_assert_uint_gt(n, 0);
        memset(c->data + c->len, 'x', n);
        c->len += (uint32_t)n;
        have += n;
    }
    ck_assert_uint_eq(c->len - keep, total);
    ck_assert_msg(moves <= 40, "%zu moves", moves);
    ck_assert_msg(copied <= 4 * total, "%zu bytes copied", copied);
    /* The room never runs far ahead of the message: at most three times what it holds. */
    ck_assert_uint_le(c->cap, 3 * total);
    buf_chunk_put(c);
    buf_pool_deinit(&p);
}
END_TEST

START_TEST(test_buf_read_want)
{
    /* Room to ask for before a read: at least the minimum, what the parser needs when that is
     * modest, but never more than the partial message already holds (it at most doubles). */
    ck_assert_uint_eq(buf_read_want(0, 0, 4096), 4096);
    ck_assert_uint_eq(buf_read_want(100, 0, 4096), 4096);
    ck_assert_uint_eq(buf_read_want(5000, 10000, 4096), 5000);
    ck_assert_uint_eq(buf_read_want(20000, 10000, 4096), 10000);
    /* A peer announcing a 1 GB bulk gets no 1 GB buffer up front. */
    ck_assert_uint_eq(buf_read_want(1000000000, 100, 4096), 4096);
    ck_assert_uint_eq(buf_read_want(1000000000, 1000000, 4096), 1000000);
    ck_assert_uint_eq(buf_read_want(1000000000, 999999999, 4096), 999999999);
}
END_TEST

/* Reads everything currently available from a non-blocking fd, appending to out. */
static size_t drain(int fd, char *out, size_t off, size_t max)
{
    for (;;) {
        if (off >= max) return off;
        ssize_t n = read(fd, out + off, max - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "read: %d", (int)n);
        return off;
    }
}

static void set_nonblock(int fd)
{
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* A connected pair of non-blocking Unix stream sockets: the queue writes into sv[0]. */
static void nb_socketpair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
}

START_TEST(test_obuf_append_coalesces)
{
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    struct obuf o;
    obuf_init(&o);
    ck_assert(obuf_empty(&o));
    obuf_append(&o, &p, "", 0); /* empty appends queue nothing */
    ck_assert(obuf_empty(&o));
    obuf_append(&o, &p, "+OK\r\n", 5);
    obuf_append(&o, &p, ":1\r\n", 4);
    /* Small copies share the queue's own tail chunk, as one span. */
    ck_assert_uint_eq(o.count, 1);
    ck_assert_uint_eq(o.bytes, 9);
    ck_assert_mem_eq(o.segs[o.head].c->data + o.segs[o.head].off, "+OK\r\n:1\r\n", 9);

    /* References into another chunk: contiguous ones merge, others are new spans. */
    struct buf_chunk *in = buf_chunk_get(&p, 1);
    fill_pattern(in->data, 3000, 3);
    in->len = 3000;
    obuf_append_ref(&o, in, 0, 1500);
    ck_assert_uint_eq(in->refcnt, 2);
    obuf_append_ref(&o, in, 1500, 500);
    ck_assert_uint_eq(o.count, 2);
    ck_assert_uint_eq(in->refcnt, 2);
    obuf_append_ref(&o, in, 2500, 100); /* a gap: not contiguous */
    ck_assert_uint_eq(o.count, 3);
    ck_assert_uint_eq(in->refcnt, 3);
    obuf_append_ref(&o, in, 0, 0); /* empty: nothing */
    ck_assert_uint_eq(o.count, 3);
    /* A copy after a reference starts a new chunk of the queue's own. */
    obuf_append(&o, &p, "$1\r\nx\r\n", 7);
    ck_assert_uint_eq(o.count, 4);
    ck_assert_uint_eq(o.bytes, 9 + 2000 + 100 + 7);

    /* append_span copies short spans and references long ones. */
    uint32_t refs = in->refcnt;
    obuf_append_span(&o, &p, in, 10, 1024);
    ck_assert_uint_eq(in->refcnt, refs);
    obuf_append_span(&o, &p, in, 10, 1025);
    ck_assert_uint_eq(in->refcnt, refs + 1);

    /* Reset drops every reference the queue held. */
    obuf_reset(&o);
    ck_assert(obuf_empty(&o));
    ck_assert_uint_eq(o.bytes, 0);
    ck_assert_uint_eq(in->refcnt, 1);
    buf_chunk_put(in);
    ck_assert_uint_eq(p.chunks_live, 0);
    buf_pool_deinit(&p);
}
END_TEST

START_TEST(test_obuf_write_partial_pipe)
{
    /* A one-page pipe: a large queue needs many writes, each partial. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    set_nonblock(fds[0]);
    set_nonblock(fds[1]);
    int psz = fcntl(fds[1], F_SETPIPE_SZ, 4096);
    ck_assert_int_ge(psz, 4096);

    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    struct obuf o;
    obuf_init(&o);
    const size_t total = 200000;
    char *want = malloc(total), *got = malloc(total);
    fill_pattern(want, total, 11);
    /* Queue it as a mix of copied pieces and 300 referenced spans (more than one writev takes). */
    struct buf_chunk *src = buf_chunk_get(&p, total);
    memcpy(src->data, want, total);
    src->len = (uint32_t)total;
    size_t off = 0;
    int piece = 0;
    while (off < total) {
        size_t n = piece % 3 == 0 ? 37 : 500 + (size_t)(piece % 7) * 100;
        if (n > total - off) n = total - off;
        if (piece % 3 == 0)
            obuf_append(&o, &p, want + off, n);
        else
            obuf_append_ref(&o, src, (uint32_t)off, (uint32_t)n);
        off += n;
        piece++;
    }
    ck_assert_uint_eq(o.bytes, total);
    ck_assert_uint_gt(o.count, 128);

    size_t got_len = 0;
    int rounds = 0, eagain = 0;
    while (!obuf_empty(&o)) {
        size_t queued = o.bytes;
        ssize_t w = obuf_write(&o, fds[1]);
        if (w == -EAGAIN) {
            eagain++;
        } else {
            ck_assert_int_gt(w, 0);
            ck_assert_uint_eq(o.bytes, queued - (size_t)w);
        }
        got_len = drain(fds[0], got, got_len, total);
        ck_assert_int_lt(++rounds, 100000);
    }
    got_len = drain(fds[0], got, got_len, total);
    ck_assert_uint_eq(got_len, total);
    ck_assert_mem_eq(got, want, total);
    ck_assert_uint_gt(rounds, 10); /* the writes really were partial */
    /* Once drained the queue holds no chunk and no ring. */
    ck_assert_ptr_null(o.segs);
    ck_assert_uint_eq(o.bytes, 0);
    ck_assert_uint_eq(src->refcnt, 1);
    buf_chunk_put(src);
    ck_assert_uint_eq(p.chunks_live, 0);
    /* Writing an empty queue writes nothing. */
    ck_assert_int_eq(obuf_write(&o, fds[1]), 0);
    /* A full pipe with nothing written: -EAGAIN, and the queue is untouched. */
    char fill[4096];
    memset(fill, 'f', sizeof(fill));
    while (write(fds[1], fill, sizeof(fill)) > 0) {
    }
    obuf_append(&o, &p, "abc", 3);
    ck_assert_int_eq(obuf_write(&o, fds[1]), -EAGAIN);
    ck_assert_uint_eq(o.bytes, 3);
    obuf_reset(&o);
    close(fds[0]);
    close(fds[1]);
    free(want);
    free(got);
    buf_pool_deinit(&p);
    (void)eagain;
}
END_TEST

struct rng {
    uint64_t s;
};

static uint32_t rng_below(struct rng *r, uint32_t n)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ull) >> 33) % n;
}

START_TEST(test_obuf_write_socketpair_random)
{
    /*
     * Random appends (copies, references, spans) interleaved with writes into a socketpair with
     * small kernel buffers and reads of random size on the other end. Whatever the interleaving,
     * the receiver gets exactly the bytes appended, in order, and every chunk goes back to the
     * pool. The ring of spans wraps around and grows while wrapped along the way.
     */
    int sv[2];
    nb_socketpair(sv);
    int small = 4096;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);

    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 8);
    struct rng rng = {0xb0f5eedull};
    const size_t srclen = 60000;
    struct buf_chunk *src = buf_chunk_get(&p, srclen);
    fill_pattern(src->data, srclen, 5);
    src->len = (uint32_t)srclen;

    const size_t cap = 8 << 20;
    char *want = malloc(cap), *got = malloc(cap);
    size_t want_len = 0, got_len = 0;
    struct obuf o;
    obuf_init(&o);
    int wraps = 0, partial = 0;
    char tmp[2048];
    for (int step = 0; step < 4000; step++) {
        uint32_t op = rng_below(&rng, 10);
        if (op < 3) {
            size_t n = 1 + rng_below(&rng, sizeof(tmp));
            for (size_t i = 0; i < n; i++) tmp[i] = (char)rng_below(&rng, 256);
            obuf_append(&o, &p, tmp, n);
            memcpy(want + want_len, tmp, n);
            want_len += n;
        } else if (op < 6) {
            uint32_t off = rng_below(&rng, (uint32_t)srclen - 1);
            uint32_t n = 1 + rng_below(&rng, (uint32_t)(srclen - off < 3000 ? srclen - off : 3000));
            if (op == 5)
                obuf_append_span(&o, &p, src, off, n);
            else
                obuf_append_ref(&o, src, off, n);
            memcpy(want + want_len, src->data + off, n);
            want_len += n;
        } else if (op < 9) {
            ssize_t w = obuf_write(&o, sv[0]);
            ck_assert(w >= 0 || w == -EAGAIN);
            if (!obuf_empty(&o)) partial++;
        } else {
            size_t n = 1 + rng_below(&rng, 8192);
            if (got_len + n > cap) n = cap - got_len;
            got_len = drain(sv[1], got, got_len, got_len + n);
        }
        if (o.count && o.head + o.count > o.cap) wraps++;
        ck_assert_uint_lt(want_len, cap - 4096);
    }
    while (!obuf_empty(&o)) {
        ssize_t w = obuf_write(&o, sv[0]);
        ck_assert(w >= 0 || w == -EAGAIN);
        got_len = drain(sv[1], got, got_len, cap);
    }
    got_len = drain(sv[1], got, got_len, cap);
    ck_assert_uint_eq(got_len, want_len);
    ck_assert_mem_eq(got, want, want_len);
    ck_assert_int_gt(wraps, 0);
    ck_assert_int_gt(partial, 0);
    ck_assert_uint_eq(src->refcnt, 1);
    buf_chunk_put(src);
    ck_assert_uint_eq(p.chunks_live, 0);
    ck_assert_uint_eq(p.bytes_live, 0);
    obuf_reset(&o);
    buf_pool_deinit(&p);
    close(sv[0]);
    close(sv[1]);
    free(want);
    free(got);
}
END_TEST

START_TEST(test_obuf_reuse_after_write)
{
    /* A queue written out completely holds nothing; it is then reused for new copies. */
    int sv[2];
    nb_socketpair(sv);
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    struct obuf o;
    obuf_init(&o);
    obuf_append(&o, &p, "hello ", 6);
    ck_assert_int_eq(obuf_write(&o, sv[0]), 6);
    ck_assert(obuf_empty(&o));
    obuf_append(&o, &p, "world", 5);
    obuf_append(&o, &p, "!", 1);
    ck_assert_uint_eq(o.count, 1);
    ck_assert_int_eq(obuf_write(&o, sv[0]), 6);
    char got[32];
    size_t n = drain(sv[1], got, 0, sizeof(got));
    ck_assert_uint_eq(n, 12);
    ck_assert_mem_eq(got, "hello world!", 12);
    ck_assert_uint_eq(p.chunks_live, 0);
    obuf_reset(&o);
    buf_pool_deinit(&p);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_obuf_ring_kept_while_busy)
{
    /* An emptied queue keeps a small ring for the next reply (no allocation per reply) until
     * obuf_release(); a ring grown past 16 spans by a burst is freed as soon as it empties. */
    int sv[2];
    nb_socketpair(sv);
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    struct obuf o;
    obuf_init(&o);
    obuf_append(&o, &p, "+OK\r\n", 5);
    ck_assert_int_eq(obuf_write(&o, sv[0]), 5);
    ck_assert(obuf_empty(&o));
    ck_assert_ptr_nonnull(o.segs);
    ck_assert_uint_le(o.cap, 16);
    struct obuf_seg *ring = o.segs;
    obuf_append(&o, &p, "+OK\r\n", 5);
    ck_assert_ptr_eq(o.segs, ring); /* the same ring, not a new allocation */
    ck_assert_int_eq(obuf_write(&o, sv[0]), 5);
    obuf_release(&o);
    ck_assert_ptr_null(o.segs);
    ck_assert_uint_eq(o.cap, 0);

    /* 20 spans of 20 different chunks cannot coalesce: the ring grows to 32. */
    struct buf_chunk *cs[20];
    for (int i = 0; i < 20; i++) {
        cs[i] = buf_chunk_get(&p, 8);
        memcpy(cs[i]->data, "abcdefgh", 8);
        cs[i]->len = 8;
        obuf_append_ref(&o, cs[i], 0, 8);
        buf_chunk_put(cs[i]); /* the queue holds its own reference */
    }
    ck_assert_uint_gt(o.cap, 16);
    ck_assert_int_eq(obuf_write(&o, sv[0]), 160);
    ck_assert_ptr_null(o.segs);
    ck_assert_uint_eq(p.chunks_live, 0);
    char got[256];
    ck_assert_uint_eq(drain(sv[1], got, 0, sizeof(got)), 170);
    obuf_reset(&o);
    buf_pool_deinit(&p);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_buf_chunk_get_exact)
{
    /* Small built commands get a chunk of their own size, outside the pool; large ones a
     * standard pooled chunk. Both are counted live until put. */
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    struct buf_chunk *c = buf_chunk_get_exact(&p, 100);
    ck_assert_uint_eq(c->cap, 100);
    ck_assert_uint_eq(c->pooled, 0);
    ck_assert_uint_eq(p.chunks_live, 1);
    ck_assert_uint_eq(p.bytes_live, 100);
    memset(c->data, 'x', 100);
    buf_chunk_put(c);
    ck_assert_uint_eq(p.chunks_live, 0);
    ck_assert_uint_eq(p.bytes_live, 0);
    ck_assert_uint_eq(p.nfree, 0); /* not kept by the pool */

    struct buf_chunk *z = buf_chunk_get_exact(&p, 0);
    ck_assert_uint_eq(z->cap, 0);
    buf_chunk_put(z);

    struct buf_chunk *big = buf_chunk_get_exact(&p, buf_pool_std_cap(&p) / 2);
    ck_assert_uint_eq(big->pooled, 1);
    ck_assert_uint_eq(big->cap, buf_pool_std_cap(&p));
    buf_chunk_put(big);
    ck_assert_uint_eq(p.nfree, 1);
    ck_assert_uint_eq(p.chunks_live, 0);
    buf_pool_deinit(&p);
}
END_TEST

START_TEST(test_obuf_write_error)
{
    /* The peer is gone: the error is returned as -errno and the queue keeps its bytes. */
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    struct buf_pool p;
    buf_pool_init(&p, CHUNK_SIZE, 4);
    struct obuf o;
    obuf_init(&o);
    obuf_append(&o, &p, "+OK\r\n", 5);
    ck_assert_int_eq(obuf_write(&o, sv[0]), -EPIPE);
    ck_assert_uint_eq(o.bytes, 5);
    ck_assert_int_eq(obuf_write(&o, -1), -EBADF);
    obuf_reset(&o);
    ck_assert_uint_eq(p.chunks_live, 0);
    buf_pool_deinit(&p);
    close(sv[0]);
}
END_TEST

Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_buf_pool_get_put);
    tcase_add_test(tc, test_buf_pool_bound_and_trim);
    tcase_add_test(tc, test_buf_make_room);
    tcase_add_test(tc, test_buf_read_want);
    tcase_add_test(tc, test_buf_long_message_moves_few_times);
    tcase_add_test(tc, test_obuf_append_coalesces);
    tcase_add_test(tc, test_obuf_write_partial_pipe);
    tcase_add_test(tc, test_obuf_write_socketpair_random);
    tcase_add_test(tc, test_obuf_reuse_after_write);
    tcase_add_test(tc, test_obuf_ring_kept_while_busy);
    tcase_add_test(tc, test_buf_chunk_get_exact);
    tcase_add_test(tc, test_obuf_write_error);
    suite_add_tcase(s, tc);
    return s;
}
