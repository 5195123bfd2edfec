/*
 * Unit tests for net/stream (reads and writes of stream sockets through the loop's engine), each
 * run on both engines: epoll, where the calls are read and writev on the spot, and io_uring, where
 * they are requests that complete in a later turn. The contract is the same, and so are the
 * tests: bytes arrive whole and in order, a partial message kept by the owner stays in front of
 * what arrives next, a read takes at most the max its owner gives, writes larger than the socket takes complete as the peer reads, end of stream
 * and errors reach the owner, a stream whose owner stops reading is left alone, and a stream
 * closed with a write in flight lets the kernel finish with its chunks. And the batched wait
 * (loop_due): it waits for the replies due, bounded, and not when one is due. And a stream let go
 * by one loop and taken by another (loop_release) loses and repeats no byte. Socket pairs only:
 * no network.
 */
#include "suites.h"

#include "buf.h"
#include "clock.h"
#include "loop.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static enum loop_io want_io;

static void use_uring(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the proxy: a write to a closed peer is an error, not a signal */
    char why[256];
    want_io = loop_io_select(LOOP_IO_URING, why, sizeof(why));
    if (want_io != LOOP_IO_URING)
        fprintf(stderr, "io_uring not available (%s): the uring cases run on epoll\n", why);
}

static void use_epoll(void)
{
    signal(SIGPIPE, SIG_IGN);
    want_io = loop_io_select(LOOP_IO_EPOLL, NULL, 0);
}

/* A stream end: its input chunk and output queue, and what its callbacks saw. */
struct end {
    struct loop *l;
    struct buf_pool *pool;
    int fd;
    struct buf_chunk *in;
    uint32_t start; /* the owner keeps bytes from here */
    struct obuf out;
    int reads, writes, errors, eof;
    ssize_t last_err;
    size_t got;           /* bytes read */
    char acc[1 << 16];    /* what was read, when small */
    int keep_partial;     /* keep the last byte of each read as if it were a partial message */
    int stop_reading;     /* stop watching LOOP_READ at the first read */
    size_t max;           /* stream_read's max (0: as much as fits) */
    size_t biggest;       /* the most one read returned */
};

static void end_on_event(struct loop *l, int fd, int mask, void *arg)
{
    struct end *e = arg;
    if (mask & LOOP_ERROR) e->errors++;
    if (mask & LOOP_READ) {
        e->reads++;
        size_t kept = e->in ? e->in->len - e->start : 0;
        ssize_t n = stream_read(l, fd, e->pool, &e->in, &e->start, 1024, e->max, NULL);
        if (n == 0) {
            e->eof = 1;
            loop_set_mask(l, fd, obuf_empty(&e->out) ? 0 : LOOP_WRITE);
        } else if (n < 0 && n != -EAGAIN) {
            e->last_err = n;
        } else if (n > 0) {
            /* The kept bytes are still in front, and what arrived follows them. */
            ck_assert_uint_eq(e->in->len - e->start, kept + (size_t)n);
            const char *p = e->in->data + e->start + kept;
            if (e->got + (size_t)n <= sizeof(e->acc)) memcpy(e->acc + e->got, p, (size_t)n);
            e->got += (size_t)n;
            if ((size_t)n > e->biggest) e->biggest = (size_t)n;
            if (e->keep_partial && kept + (size_t)n > 0) {
                /* Only the last byte stays, as a partial request would. */
                e->start = e->in->len - 1;
                if (e->got <= sizeof(e->acc)) ck_assert_int_eq(e->in->data[e->start], e->acc[e->got - 1]);
            } else {
                e->start = e->in->len;
            }
            if (e->stop_reading) loop_set_mask(l, fd, 0);
        }
    }
    if (mask & LOOP_WRITE) {
        e->writes++;
        ssize_t n = obuf_empty(&e->out) ? 0 : stream_write(l, fd, &e->out);
        if (n < 0 && n != -EAGAIN) e->last_err = n;
        int m = loop_get_mask(l, fd) & LOOP_READ;
        loop_set_mask(l, fd, m | (obuf_empty(&e->out) ? 0 : LOOP_WRITE));
    }
}

static void end_init(struct end *e, struct loop *l, struct buf_pool *pool, int fd, int mask)
{
    memset(e, 0, sizeof(*e));
    e->l = l;
    e->pool = pool;
    e->fd = fd;
    obuf_init(&e->out);
    ck_assert_int_eq(loop_add(l, fd, mask | LOOP_STREAM, end_on_event, e), 0);
}

static void end_deinit(struct end *e)
{
    if (e->fd >= 0) {
        loop_del(e->l, e->fd);
        close(e->fd);
        e->fd = -1;
    }
    obuf_reset(&e->out);
    buf_chunk_put(e->in);
    e->in = NULL;
}

/* Queues bytes and writes what can be written now (the owner's flush). */
static void end_send(struct end *e, const void *data, size_t len)
{
    obuf_append(&e->out, e->pool, data, len);
    ssize_t n = stream_write(e->l, e->fd, &e->out);
    ck_assert_msg(n >= 0 || n == -EAGAIN, "stream_write: %zd", n);
    int m = loop_get_mask(e->l, e->fd) & LOOP_READ;
    loop_set_mask(e->l, e->fd, m | (obuf_empty(&e->out) ? 0 : LOOP_WRITE));
}

static void turns_until(struct loop *l, const int *flag, int want, uint64_t limit_ms)
{
    uint64_t end = clock_now_ms() + limit_ms;
    while (*flag < want) {
        ck_assert_msg(clock_now_ms() < end, "gave up waiting after %llu ms",
                      (unsigned long long)limit_ms);
        loop_run_once(l, 20);
    }
}

static void turns(struct loop *l, int n)
{
    for (int i = 0; i < n; i++) loop_run_once(l, 5);
}

static struct loop *new_loop(struct buf_pool *pool)
{
    struct loop *l = loop_create();
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(loop_get_io(l), want_io);
    buf_pool_init(pool, 16 * 1024, 64);
    loop_set_pool(l, pool);
    return l;
}

static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* Reads from a plain socket until len bytes came or limit_ms passed, running the loop meanwhile
 * (its writes progress only in its turns). */
static size_t drain_peer(struct loop *l, int fd, char *dst, size_t len, uint64_t limit_ms)
{
    size_t got = 0;
    uint64_t end = clock_now_ms() + limit_ms;
    while (got < len && clock_now_ms() < end) {
        ssize_t n = read(fd, dst + got, len - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        loop_run_once(l, 5);
    }
    return got;
}

/* n stream ends reading, each with the plain socket of its pair in peer[]. */
static void open_ends(struct loop *l, struct buf_pool *pool, struct end *e, int *peer, int n)
{
    for (int i = 0; i < n; i++) {
        int sv[2];
        pair(sv);
        end_init(&e[i], l, pool, sv[0], LOOP_READ);
        peer[i] = sv[1];
    }
}

static void close_ends(struct end *e, const int *peer, int n)
{
    for (int i = 0; i < n; i++) {
        end_deinit(&e[i]);
        close(peer[i]);
    }
}

START_TEST(test_stream_read_in_order)
{
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], LOOP_READ);
    e.keep_partial = 1;
    /* Many small writes, some in the same turn: read whole, in order, with the owner's kept byte
     * always in front of what follows. */
    char want[4000];
    for (size_t i = 0; i < sizeof(want); i++) want[i] = (char)('a' + i % 26);
    size_t sent = 0;
    for (int round = 0; sent < sizeof(want); round++) {
        size_t k = (size_t)(round % 7) * 37 + 1;
        if (k > sizeof(want) - sent) k = sizeof(want) - sent;
        ck_assert_int_eq(write(sv[1], want + sent, k), (ssize_t)k);
        sent += k;
        if (round % 3 == 0) loop_run_once(l, 5);
    }
    uint64_t end = clock_now_ms() + 5000;
    while (e.got < sizeof(want) && clock_now_ms() < end) loop_run_once(l, 20);
    ck_assert_uint_eq(e.got, sizeof(want));
    ck_assert_mem_eq(e.acc, want, sizeof(want));
    ck_assert_int_eq(e.eof, 0);
    /* End of stream after the bytes. */
    shutdown(sv[1], SHUT_WR);
    turns_until(l, &e.eof, 1, 5000);
    end_deinit(&e);
    close(sv[1]);
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_large_read_grows)
{
    /* One message far larger than a receive buffer: the owner keeps all of it (as the parser
     * does with a partial request) and asks for more room each time. */
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], LOOP_READ);
    size_t total = 300 * 1000;
    char *msg = malloc(total);
    for (size_t i = 0; i < total; i++) msg[i] = (char)(i * 7 + 3);
    size_t sent = 0;
    uint64_t end = clock_now_ms() + 10000;
    size_t kept = 0;
    while ((sent < total || kept < total) && clock_now_ms() < end) {
        if (sent < total) {
            ssize_t n = write(sv[1], msg + sent, total - sent);
            if (n > 0) sent += (size_t)n;
        }
        loop_run_once(l, 5);
        /* The callback moved start past what it read; keep it all instead. */
        e.start = 0;
        kept = e.in ? e.in->len : 0;
    }
    ck_assert_uint_eq(kept, total);
    ck_assert_mem_eq(e.in->data, msg, total);
    free(msg);
    end_deinit(&e);
    close(sv[1]);
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_read_max)
{
    /* A reader that takes input in steps (as the session reads an inline line, 16 KiB at a time):
     * no read returns more than max, whether the owner keeps nothing or a partial message, and
     * the bytes still arrive whole and in order, the rest reported in later turns. */
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    for (int keep = 0; keep < 2; keep++) {
        int sv[2];
        pair(sv);
        struct end e;
        end_init(&e, l, &pool, sv[0], LOOP_READ);
        e.max = 5000;
        e.keep_partial = keep;
        char want[60000];
        for (size_t i = 0; i < sizeof(want); i++) want[i] = (char)(i * 13 + 1);
        ck_assert_int_eq(write(sv[1], want, sizeof(want)), (ssize_t)sizeof(want));
        uint64_t end = clock_now_ms() + 5000;
        while (e.got < sizeof(want) && clock_now_ms() < end) loop_run_once(l, 20);
        ck_assert_uint_eq(e.got, sizeof(want));
        ck_assert_mem_eq(e.acc, want, sizeof(want));
        ck_assert_uint_le(e.biggest, e.max);
        ck_assert_int_ge(e.reads, (int)(sizeof(want) / e.max));
        end_deinit(&e);
        close(sv[1]);
    }
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_write_spans_in_order)
{
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], LOOP_READ);
    /* Copied spans and referenced ones, interleaved, over several flushes. */
    struct buf_chunk *big = buf_chunk_get(&pool, 8000);
    for (int i = 0; i < 8000; i++) big->data[i] = (char)('A' + i % 26);
    big->len = 8000;
    char want[64 * 1024];
    size_t wl = 0;
    for (int i = 0; i < 40; i++) {
        char small[32];
        int n = snprintf(small, sizeof(small), "<%d>", i);
        obuf_append(&e.out, &pool, small, (size_t)n);
        memcpy(want + wl, small, (size_t)n);
        wl += (size_t)n;
        if (i % 5 == 0) {
            obuf_append_ref(&e.out, big, (uint32_t)(i * 100), 1000);
            memcpy(want + wl, big->data + i * 100, 1000);
            wl += 1000;
        }
        if (i % 4 == 0) end_send(&e, "", 0);
        if (i % 8 == 0) loop_run_once(l, 0);
    }
    end_send(&e, "", 0);
    buf_chunk_put(big); /* the queue holds its own references */
    char got[64 * 1024];
    ck_assert_uint_eq(drain_peer(l, sv[1], got, wl, 5000), wl);
    ck_assert_mem_eq(got, want, wl);
    turns(l, 3);
    ck_assert(obuf_empty(&e.out));
    ck_assert_uint_eq(stream_unsettled(l, sv[0]), 0);
    end_deinit(&e);
    close(sv[1]);
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_write_backpressure)
{
    /* More than the socket takes while the peer does not read: the queue keeps the rest, and it
     * all arrives, in order, as the peer reads. */
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], 0);
    size_t total = 4 << 20;
    char *msg = malloc(total);
    for (size_t i = 0; i < total; i++) msg[i] = (char)(i % 251);
    for (size_t off = 0; off < total; off += 10000)
        obuf_append(&e.out, &pool, msg + off, total - off < 10000 ? total - off : 10000);
    end_send(&e, "", 0);
    turns(l, 5);
    ck_assert(!obuf_empty(&e.out)); /* the socket is full */
    ck_assert_int_eq(loop_get_mask(l, sv[0]), LOOP_WRITE);
    if (want_io == LOOP_IO_URING) ck_assert_uint_gt(stream_unsettled(l, sv[0]), 0);
    char *got = malloc(total);
    ck_assert_uint_eq(drain_peer(l, sv[1], got, total, 20000), total);
    ck_assert_mem_eq(got, msg, total);
    turns(l, 3);
    ck_assert(obuf_empty(&e.out));
    ck_assert_int_eq(loop_get_mask(l, sv[0]), 0);
    ck_assert_uint_eq(stream_unsettled(l, sv[0]), 0);
    ck_assert_int_eq(e.last_err, 0);
    free(msg);
    free(got);
    end_deinit(&e);
    close(sv[1]);
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_write_error)
{
    /* The peer is gone: the write fails, and the owner hears it (as LOOP_WRITE or LOOP_ERROR, then
     * an error from stream_write). */
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], LOOP_READ);
    close(sv[1]);
    turns_until(l, &e.eof, 1, 5000); /* end of stream first */
    obuf_append(&e.out, &pool, "hello", 5);
    ssize_t n = stream_write(l, sv[0], &e.out);
    loop_set_mask(l, sv[0], LOOP_WRITE);
    uint64_t end = clock_now_ms() + 5000;
    while (n >= 0 && e.last_err == 0 && clock_now_ms() < end) {
        loop_run_once(l, 20);
        n = stream_write(l, sv[0], &e.out);
    }
    ssize_t err = n < 0 ? n : e.last_err;
    ck_assert_msg(err == -EPIPE || err == -ECONNRESET, "got %zd", err);
    end_deinit(&e);
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_pause_reading)
{
    /* An owner that stops watching LOOP_READ is not called, and what the peer sends meanwhile is
     * all there when it watches again. */
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], LOOP_READ);
    e.stop_reading = 1;
    ck_assert_int_eq(write(sv[1], "first", 5), 5);
    turns_until(l, &e.reads, 1, 5000);
    ck_assert_int_eq(loop_get_mask(l, sv[0]), 0);
    ck_assert_int_eq(write(sv[1], "second", 6), 6);
    turns(l, 5);
    ck_assert_int_eq(e.reads, 1);
    ck_assert_uint_eq(e.got, 5);
    /* Most of a large burst stays in the socket (the peer's send buffer fills): nothing reads
     * ahead without bound for an owner that does not read. */
    char junk[4096];
    memset(junk, 'x', sizeof(junk));
    size_t pushed = 0;
    while (write(sv[1], junk, sizeof(junk)) > 0) pushed += sizeof(junk);
    ck_assert_uint_gt(pushed, 64 * 1024);
    e.stop_reading = 0;
    loop_set_mask(l, sv[0], LOOP_READ);
    turns_until(l, &e.reads, 2, 5000);
    ck_assert_mem_eq(e.acc, "firstsecond", 11);
    uint64_t end = clock_now_ms() + 5000;
    while (e.got < 11 + pushed && clock_now_ms() < end) loop_run_once(l, 5);
    ck_assert_uint_eq(e.got, 11 + pushed);
    end_deinit(&e);
    close(sv[1]);
    loop_free(l);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_close_with_write_in_flight)
{
    /* Closed while a large write waits for the peer: the owner frees its queue at once, the
     * kernel lets go of the chunks later, and the descriptor number, reused at once by a new
     * stream, gets none of the old bytes. */
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, l, &pool, sv[0], LOOP_READ);
    size_t total = 2 << 20;
    char *msg = malloc(total);
    memset(msg, 'o', total);
    for (size_t off = 0; off < total; off += 16000)
        obuf_append(&e.out, &pool, msg + off, total - off < 16000 ? total - off : 16000);
    /* Queued, not yet handed over: the close comes in the same turn. */
    end_send(&e, "", 0);
    int old = sv[0];
    end_deinit(&e);
    int nv[2];
    pair(nv); /* the lowest free numbers: old is one of them */
    int fresh = nv[0] == old ? nv[0] : nv[1];
    int other = fresh == nv[0] ? nv[1] : nv[0];
    ck_assert_int_eq(fresh, old);
    struct end e2;
    end_init(&e2, l, &pool, fresh, LOOP_READ);
    turns(l, 10);
    /* Nothing of the old write on the new pair, in either direction. */
    char b[16];
    ck_assert_int_eq(read(other, b, sizeof(b)), -1);
    ck_assert_int_eq(e2.got, 0);
    /* The old peer gets what was sent before the close, then end of stream. */
    size_t got = 0;
    uint64_t end = clock_now_ms() + 5000;
    for (;;) {
        char buf[65536];
        ssize_t n = read(sv[1], buf, sizeof(buf));
        if (n == 0) break;
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) ck_assert_int_eq(buf[i], 'o');
            got += (size_t)n;
            continue;
        }
        ck_assert_msg(clock_now_ms() < end, "no end of stream after %zu bytes", got);
        loop_run_once(l, 5);
    }
    ck_assert_uint_le(got, total);
    /* The new stream works. */
    ck_assert_int_eq(write(other, "ping", 4), 4);
    turns_until(l, &e2.reads, 1, 5000);
    ck_assert_mem_eq(e2.acc, "ping", 4);
    free(msg);
    end_deinit(&e2);
    close(other);
    close(sv[1]);
    turns(l, 3);
    loop_free(l);
    ck_assert_uint_eq(pool.chunks_live, 0);
    buf_pool_deinit(&pool);
}
END_TEST

START_TEST(test_stream_many)
{
    /* Many streams echoing at once: each one's bytes stay its own. */
    enum { N = 200 };
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    struct end *e = calloc(N, sizeof(*e));
    int peer[N];
    open_ends(l, &pool, e, peer, N);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            char m[32];
            int n = snprintf(m, sizeof(m), "%d:%d;", i, round);
            ck_assert_int_eq(write(peer[i], m, (size_t)n), n);
        }
        turns(l, 3);
    }
    uint64_t end = clock_now_ms() + 5000;
    for (int i = 0; i < N; i++) {
        char want[128];
        int n = snprintf(want, sizeof(want), "%d:0;%d:1;%d:2;", i, i, i);
        while (e[i].got < (size_t)n && clock_now_ms() < end) loop_run_once(l, 5);
        ck_assert_uint_eq(e[i].got, (size_t)n);
        ck_assert_mem_eq(e[i].acc, want, (size_t)n);
    }
    close_ends(e, peer, N);
    free(e);
    turns(l, 3);
    loop_free(l);
    ck_assert_uint_eq(pool.chunks_live, 0);
    buf_pool_deinit(&pool);
}
END_TEST

/* One turn (loop_run_once with a long timeout); returns how long it took, in ms. */
static uint64_t timed_turn(struct loop *l)
{
    uint64_t t0 = clock_now_us();
    loop_run_once(l, 2000);
    return (clock_now_us() - t0) / 1000;
}

START_TEST(test_stream_batched_wait)
{
    /* Batching (loop_due, loop_set_batch_us): with two replies due, a turn in which one came
     * waits for the other, but no longer than the bound; with both in, or one due, it does not
     * wait. A wait that brought many receives makes the next one wait for as many, once. Once
     * whole batches come fast, the bound shrinks to match. It is made long here (60 ms) so that
     * the waits can be told from the machine's noise. */
    enum { N = 6, BOUND_MS = 60 };
    struct buf_pool pool;
    struct loop *l = new_loop(&pool);
    struct end e[N];
    int peer[N];
    open_ends(l, &pool, e, peer, N);
    turns(l, 2);
    loop_set_batch_us(l, BOUND_MS * 1000);
    int batches = loop_can_batch(l);
    ck_assert_int_eq(batches, want_io == LOOP_IO_URING ? batches : 0); /* epoll never does */
    if (want_io == LOOP_IO_URING && !batches)
        fprintf(stderr, "this kernel cannot bound a batched wait: the uring case waits for one\n");

    /* Two due, one comes: the turn reads it, after the bound when the engine batches. */
    loop_due(l, 2);
    ck_assert_int_eq(write(peer[0], "a", 1), 1);
    uint64_t ms = timed_turn(l);
    ck_assert_uint_eq(e[0].got, 1);
    if (batches)
        ck_assert_msg(ms >= BOUND_MS * 3 / 4, "waited %llu ms for the second of two", (unsigned long long)ms);
    ck_assert_msg(ms < 1500, "a turn took %llu ms", (unsigned long long)ms);

    /* Nothing due, but a turn brought N receives: the next waits for as many (once). */
    loop_due(l, -2);
    for (int i = 0; i < N; i++) ck_assert_int_eq(write(peer[i], "d", 1), 1);
    turns(l, 1);
    size_t got = 0;
    for (int i = 0; i < N; i++) got += e[i].got;
    ck_assert_uint_eq(got, 1 + N);
    ck_assert_int_eq(write(peer[3], "e", 1), 1);
    ms = timed_turn(l);
    ck_assert_uint_eq(e[3].got, 2);
    if (batches)
        ck_assert_msg(ms >= BOUND_MS * 3 / 4, "after %d receives, waited only %llu ms", N,
                      (unsigned long long)ms);
    ck_assert_int_eq(write(peer[4], "f", 1), 1);
    ms = timed_turn(l);
    ck_assert_uint_eq(e[4].got, 2);
    ck_assert_msg(ms < BOUND_MS / 2, "the estimate did not come down: %llu ms",
                  (unsigned long long)ms);

    /* Two due, both come: no waiting. */
    loop_due(l, 2);
    ck_assert_int_eq(write(peer[0], "b", 1), 1);
    ck_assert_int_eq(write(peer[1], "b", 1), 1);
    ms = timed_turn(l);
    ck_assert_uint_eq(e[0].got + e[1].got, 2 + 2 + 1);
    ck_assert_msg(ms < BOUND_MS / 2, "both were in, yet the turn took %llu ms", (unsigned long long)ms);

    /* One due: the first completion ends the wait. */
    loop_due(l, -1);
    ck_assert_int_eq(write(peer[2], "c", 1), 1);
    ms = timed_turn(l);
    ck_assert_uint_eq(e[2].got, 2);
    ck_assert_msg(ms < BOUND_MS / 2, "one due, yet the turn took %llu ms", (unsigned long long)ms);

    /* A whole batch came at once: the bound follows what batches take, so one that falls short
     * now costs far less than BOUND_MS. */
    loop_due(l, 1);
    ck_assert_int_eq(write(peer[5], "g", 1), 1);
    ms = timed_turn(l);
    ck_assert_uint_eq(e[5].got, 2);
    ck_assert_msg(ms < BOUND_MS / 2, "the bound did not follow the batches: %llu ms",
                  (unsigned long long)ms);
    loop_due(l, -2);

    close_ends(e, peer, N);
    turns(l, 3);
    loop_free(l);
    ck_assert_uint_eq(pool.chunks_live, 0);
    buf_pool_deinit(&pool);
}
END_TEST

/* Hands e's stream from its loop to loop to (as a worker hands a client to another): the bytes
 * the old loop had received and e had not read are taken as if read first. */
static size_t end_move(struct end *e, struct loop *to)
{
    char *bytes = NULL;
    size_t len = 0;
    ck_assert_int_eq(loop_release(e->l, e->fd, &bytes, &len), 0);
    ck_assert_int_eq(loop_get_mask(e->l, e->fd), 0);
    if (len) {
        ck_assert_uint_le(e->got + len, sizeof(e->acc));
        memcpy(e->acc + e->got, bytes, len);
        e->got += len;
    }
    free(bytes);
    e->l = to;
    ck_assert_int_eq(loop_add(to, e->fd, LOOP_READ | LOOP_STREAM, end_on_event, e), 0);
    return len;
}

START_TEST(test_stream_release_to_another_loop)
{
    /* A stream goes back and forth between two loops while its peer keeps writing: every byte
     * arrives once and in order, whichever loop had received it; and a stream with a write in
     * flight is not let go (EBUSY) and stays as it was. */
    struct buf_pool pa, pb;
    struct loop *a = new_loop(&pa);
    struct loop *b = new_loop(&pb);
    int sv[2];
    pair(sv);
    struct end e;
    end_init(&e, a, &pa, sv[0], LOOP_READ);
    char sent[1 << 15];
    size_t nsent = 0;
    int handed = 0; /* moves that carried bytes the old loop had received */
    for (int round = 0; round < 200; round++) {
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "<%d:%s>", round, round % 3 ? "x" : "yyyyyyyyyyyy");
        ck_assert_int_eq(write(sv[1], msg, (size_t)n), n);
        memcpy(sent + nsent, msg, (size_t)n);
        nsent += (size_t)n;
        /* Some rounds let the old loop's kernel receive before the move, some do not. */
        if (round % 2) loop_run_once(e.l, 0);
        handed += end_move(&e, e.l == a ? b : a) > 0;
        loop_run_once(e.l, 0);
    }
    /* io_uring receives ahead of its owner: some moves had to carry bytes (epoll never does). */
    if (want_io == LOOP_IO_URING)
        ck_assert_int_gt(handed, 0);
    else
        ck_assert_int_eq(handed, 0);
    uint64_t end = clock_now_ms() + 5000;
    while (e.got < nsent && clock_now_ms() < end) loop_run_once(e.l, 5);
    ck_assert_uint_eq(e.got, nsent);
    ck_assert_mem_eq(e.acc, sent, nsent);
    /* A send in flight (io_uring) or queued: the stream cannot go now. */
    size_t big = 4 << 20;
    char *junk = calloc(1, big);
    obuf_append(&e.out, e.pool, junk, big);
    end_send(&e, "", 0);
    char *bytes = NULL;
    size_t len = 0;
    if (want_io == LOOP_IO_URING) {
        ck_assert_int_eq(loop_release(e.l, e.fd, &bytes, &len), -EBUSY);
        ck_assert_ptr_null(bytes);
        ck_assert_int_eq(loop_get_mask(e.l, e.fd), LOOP_READ | LOOP_WRITE);
    }
    /* Still served where it was: what the peer sends now is read. */
    ck_assert_int_eq(write(sv[1], "after", 5), 5);
    end = clock_now_ms() + 5000;
    while (e.got < nsent + 5 && clock_now_ms() < end) loop_run_once(e.l, 5);
    ck_assert_mem_eq(e.acc + nsent, "after", 5);
    free(junk);
    obuf_reset(&e.out);
    loop_del(e.l, e.fd);
    close(e.fd);
    e.fd = -1;
    end_deinit(&e);
    close(sv[1]);
    turns(a, 3);
    turns(b, 3);
    loop_free(a);
    loop_free(b);
    buf_pool_deinit(&pa);
    buf_pool_deinit(&pb);
}
END_TEST

Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    static const struct {
        const char *name;
        void (*setup)(void);
    } engines[] = {{"epoll", use_epoll}, {"uring", use_uring}};
    for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
        TCase *tc = tcase_create(engines[i].name);
        tcase_add_checked_fixture(tc, engines[i].setup, NULL);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_stream_read_in_order);
        tcase_add_test(tc, test_stream_large_read_grows);
        tcase_add_test(tc, test_stream_read_max);
        tcase_add_test(tc, test_stream_write_spans_in_order);
        tcase_add_test(tc, test_stream_write_backpressure);
        tcase_add_test(tc, test_stream_write_error);
        tcase_add_test(tc, test_stream_pause_reading);
        tcase_add_test(tc, test_stream_close_with_write_in_flight);
        tcase_add_test(tc, test_stream_many);
        tcase_add_test(tc, test_stream_batched_wait);
        tcase_add_test(tc, test_stream_release_to_another_loop);
        suite_add_tcase(s, tc);
    }
    return s;
}
