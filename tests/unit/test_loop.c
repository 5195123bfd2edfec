/*
 * Unit tests for net/loop (timers, fd callbacks, the before-sleep hook, listeners) and net/chan
 * (messages from other threads). Only pipes, socketpairs, eventfds and Unix-domain listeners are
 * used: no network. Timing is
 * checked only in the direction that cannot flake (a timer never fires before its deadline);
 * every wait is bounded.
 */
#include "suites.h"

#include "chan.h"
#include "clock.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Runs turns until *done is set, failing after limit_ms. */
static void run_until(struct loop *l, const int *done, uint64_t limit_ms)
{
    uint64_t end = clock_now_ms() + limit_ms;
    while (!*done) {
        ck_assert_msg(clock_now_ms() < end, "gave up waiting after %llu ms",
                      (unsigned long long)limit_ms);
        loop_run_once(l, 20);
    }
}

/* ---- timers ---- */

struct tstate {
    int order[64];
    int n;
    int want;
    int done;
    uint64_t started_ms;
};

struct tctx {
    struct tstate *st;
    int id;
    uint64_t delay;
    uint64_t when_ms; /* the deadline the loop computed when the timer was started */
    uint64_t fired_ms;
    int rearm; /* times left to re-arm from the callback */
    int fires;
    struct loop_timer t;
};

static void on_timer(struct loop *l, void *arg)
{
    struct tctx *c = arg;
    /* The loop takes the timer off the heap before calling back. */
    ck_assert(!loop_timer_active(&c->t));
    c->fired_ms = clock_now_ms();
    c->fires++;
    struct tstate *st = c->st;
    ck_assert_int_lt(st->n, 64);
    st->order[st->n++] = c->id;
    if (c->rearm > 0) {
        c->rearm--;
        loop_timer_start(l, &c->t, c->delay);
        ck_assert(loop_timer_active(&c->t));
    }
    if (st->n == st->want) st->done = 1;
}

START_TEST(test_loop_timers_in_order)
{
    struct loop *l = loop_create();
    ck_assert_ptr_nonnull(l);
    static const uint64_t delays[] = {60, 10, 40, 0, 25, 5, 50, 15};
    enum { N = sizeof(delays) / sizeof(delays[0]) };
    struct tstate st = {.want = N};
    struct tctx c[N];
    uint64_t t0 = clock_now_ms();
    for (int i = 0; i < N; i++) {
        c[i] = (struct tctx){.st = &st, .id = i, .delay = delays[i]};
        loop_timer_init(&c[i].t, on_timer, &c[i]);
        ck_assert(!loop_timer_active(&c[i].t));
        loop_timer_start(l, &c[i].t, delays[i]);
        c[i].when_ms = c[i].t.when_ms;
        ck_assert(loop_timer_active(&c[i].t));
    }
    run_until(l, &st.done, 5000);
    /* Deadline order. Unless this thread stalled between two starts, that is the order of the
     * delays; a stall can only make a later-started timer's deadline later, so compare the
     * deadlines the loop computed, and the delays when nothing stalled. */
    static const int want[] = {3, 5, 1, 7, 4, 2, 6, 0};
    int stalled = c[N - 1].when_ms - delays[N - 1] > t0 + 4;
    for (int i = 0; i < N; i++) {
        if (i > 0) ck_assert_uint_le(c[st.order[i - 1]].when_ms, c[st.order[i]].when_ms);
        if (!stalled)
            ck_assert_msg(st.order[i] == want[i], "position %d: timer %d, want %d", i, st.order[i],
                          want[i]);
        ck_assert_uint_ge(c[i].when_ms, t0 + delays[i]);
        ck_assert_uint_ge(c[i].fired_ms, c[i].when_ms);
        ck_assert_int_eq(c[i].fires, 1);
        ck_assert(!loop_timer_active(&c[i].t));
    }
    loop_free(l);
}
END_TEST

START_TEST(test_loop_timer_stop)
{
    struct loop *l = loop_create();
    /* Many timers, half stopped from anywhere in the heap: the rest still fire in order. */
    enum { N = 40 };
    struct tstate st = {0};
    struct tctx c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct tctx){.st = &st, .id = i, .delay = (uint64_t)((i * 17) % N)};
        loop_timer_init(&c[i].t, on_timer, &c[i]);
        loop_timer_start(l, &c[i].t, c[i].delay);
        c[i].when_ms = c[i].t.when_ms;
    }
    for (int i = 0; i < N; i += 2) {
        loop_timer_stop(l, &c[i].t);
        ck_assert(!loop_timer_active(&c[i].t));
        loop_timer_stop(l, &c[i].t); /* stopping twice is harmless */
    }
    st.want = N / 2;
    run_until(l, &st.done, 5000);
    for (int i = 0; i < N; i++) ck_assert_int_eq(c[i].fires, i % 2);
    for (int k = 1; k < st.n; k++)
        ck_assert_uint_le(c[st.order[k - 1]].when_ms, c[st.order[k]].when_ms);
    for (int i = 1; i < N; i += 2) ck_assert_uint_ge(c[i].fired_ms, c[i].when_ms);
    /* A stopped timer does not fire later either. */
    uint64_t end = clock_now_ms() + 60;
    while (clock_now_ms() < end) loop_run_once(l, 10);
    ck_assert_int_eq(st.n, N / 2);
    /* Re-starting a running timer moves its deadline instead of adding it twice. */
    struct tstate st2 = {.want = 1};
    struct tctx r = {.st = &st2, .id = 99};
    loop_timer_init(&r.t, on_timer, &r);
    loop_timer_start(l, &r.t, 5000);
    loop_timer_start(l, &r.t, 1);
    run_until(l, &st2.done, 2000);
    end = clock_now_ms() + 30;
    while (clock_now_ms() < end) loop_run_once(l, 10);
    ck_assert_int_eq(r.fires, 1);
    loop_free(l);
}
END_TEST

START_TEST(test_loop_timer_rearm_from_callback)
{
    struct loop *l = loop_create();
    struct tstate st = {.want = 5};
    struct tctx c = {.st = &st, .id = 1, .delay = 2, .rearm = 4};
    loop_timer_init(&c.t, on_timer, &c);
    uint64_t t0 = clock_now_ms();
    loop_timer_start(l, &c.t, 2);
    run_until(l, &st.done, 5000);
    ck_assert_int_eq(c.fires, 5);
    ck_assert_uint_ge(c.fired_ms, t0 + 10);
    ck_assert(!loop_timer_active(&c.t));
    loop_free(l);
}
END_TEST

START_TEST(test_loop_timer_rearm_zero_once_per_turn)
{
    /* A timer that re-arms itself with no delay fires once per turn, not in a loop within one
     * turn (fd events and the before-sleep hook must get their turn too). */
    struct loop *l = loop_create();
    struct tstate st = {.want = 1000};
    struct tctx c = {.st = &st, .id = 1, .delay = 0, .rearm = 1000};
    loop_timer_init(&c.t, on_timer, &c);
    loop_timer_start(l, &c.t, 0);
    for (int turn = 1; turn <= 5; turn++) {
        loop_run_once(l, 0);
        ck_assert_msg(c.fires <= turn, "after %d turns the timer fired %d times", turn, c.fires);
    }
    ck_assert_int_ge(c.fires, 1);
    loop_timer_stop(l, &c.t);
    loop_free(l);
}
END_TEST

/* ---- fds ---- */

struct fdctx {
    int calls;
    int last_mask;
    int last_fd;
    char got[64];
    size_t got_len;
    struct loop *l;
    int other_fd; /* for loop_del from a callback */
    int *deleted_calls;
    int seq[8];
    int nseq;
};

static void on_read(struct loop *l, int fd, int mask, void *arg)
{
    struct fdctx *c = arg;
    c->calls++;
    c->last_mask = mask;
    c->last_fd = fd;
    if (mask & LOOP_READ) {
        ssize_t n = read(fd, c->got + c->got_len, sizeof(c->got) - c->got_len);
        if (n > 0) c->got_len += (size_t)n;
    }
}

START_TEST(test_loop_fd_read_write)
{
    struct loop *l = loop_create();
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
    struct fdctx c = {0};
    ck_assert_int_eq(loop_add(l, fds[0], LOOP_READ, on_read, &c), 0);
    ck_assert_int_eq(loop_get_mask(l, fds[0]), LOOP_READ);
    /* Nothing to read: no call. */
    loop_run_once(l, 0);
    ck_assert_int_eq(c.calls, 0);
    ck_assert_int_eq(write(fds[1], "abc", 3), 3);
    loop_run_once(l, 1000);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.last_mask, LOOP_READ);
    ck_assert_int_eq(c.last_fd, fds[0]);
    ck_assert_uint_eq(c.got_len, 3);
    ck_assert_mem_eq(c.got, "abc", 3);
    /* Level-triggered: unread bytes are reported again on the next turn. */
    ck_assert_int_eq(loop_set_mask(l, fds[0], 0), 0);
    ck_assert_int_eq(write(fds[1], "de", 2), 2);
    loop_run_once(l, 0);
    ck_assert_int_eq(c.calls, 1); /* mask 0: not interested */
    ck_assert_int_eq(loop_set_mask(l, fds[0], LOOP_READ), 0);
    loop_run_once(l, 1000);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_mem_eq(c.got, "abcde", 5);

    /* The write end of a pipe with room is writable at once. */
    struct fdctx w = {0};
    ck_assert_int_eq(loop_add(l, fds[1], LOOP_WRITE, on_read, &w), 0);
    loop_run_once(l, 1000);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(w.last_mask, LOOP_WRITE);
    /* Re-adding replaces the registration (callback, context and events). */
    struct fdctx w2 = {0};
    ck_assert_int_eq(loop_add(l, fds[1], LOOP_WRITE, on_read, &w2), 0);
    loop_run_once(l, 1000);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(w2.calls, 1);
    loop_del(l, fds[1]);
    ck_assert_int_eq(loop_get_mask(l, fds[1]), 0);
    loop_run_once(l, 0);
    ck_assert_int_eq(w2.calls, 1);
    loop_del(l, fds[1]); /* twice is harmless */

    /* Errors. */
    ck_assert_int_eq(loop_add(l, -1, LOOP_READ, on_read, &c), -EBADF);
    ck_assert_int_eq(loop_set_mask(l, fds[1], LOOP_READ), -EBADF);
    ck_assert_int_eq(loop_set_mask(l, 100000, LOOP_READ), -EBADF);
    ck_assert_int_eq(loop_get_mask(l, -5), 0);
    int devnull = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(loop_add(l, devnull, LOOP_READ, on_read, &c), -EPERM);
    ck_assert_int_eq(loop_get_mask(l, devnull), 0);
    close(devnull);
    loop_del(l, fds[0]);
    close(fds[0]);
    close(fds[1]);
    loop_free(l);
}
END_TEST

START_TEST(test_loop_high_fd)
{
    /* Descriptors far beyond the initial table still work (the table grows). */
    struct loop *l = loop_create();
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
    int hi = dup2(fds[0], 700);
    ck_assert_int_eq(hi, 700);
    struct fdctx c = {0};
    ck_assert_int_eq(loop_add(l, hi, LOOP_READ, on_read, &c), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    loop_run_once(l, 1000);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.last_fd, 700);
    loop_del(l, hi);
    close(hi);
    close(fds[0]);
    close(fds[1]);
    loop_free(l);
}
END_TEST

static void on_read_other(struct loop *l, int fd, int mask, void *arg)
{
    struct fdctx *c = arg;
    c->calls += 100; /* tells this callback's calls from on_read's */
    on_read(l, fd, mask, arg);
    c->calls--;
}

START_TEST(test_loop_callbacks_and_contexts_by_fd)
{
    /* The loop keeps each descriptor's callback as an index into the callbacks it has seen and
     * its context apart: interleaved descriptors with two callbacks, one registration replaced
     * by another callback, and a descriptor number reused after loop_del all reach the right
     * (callback, context). */
    struct loop *l = loop_create();
    enum { N = 6 };
    int rd[N], wr[N];
    struct fdctx c[N];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < N; i++) {
        int fds[2];
        ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
        rd[i] = fds[0];
        wr[i] = fds[1];
        ck_assert_int_eq(loop_add(l, rd[i], LOOP_READ, i % 2 ? on_read_other : on_read, &c[i]), 0);
    }
    /* Descriptor 0 changes callback (and keeps its context). */
    ck_assert_int_eq(loop_add(l, rd[0], LOOP_READ, on_read_other, &c[0]), 0);
    ck_assert_int_eq(loop_get_mask(l, rd[0]), LOOP_READ);
    for (int i = 0; i < N; i++) {
        char b = (char)('a' + i);
        ck_assert_int_eq(write(wr[i], &b, 1), 1);
    }
    loop_run_once(l, 1000);
    for (int i = 0; i < N; i++) {
        int other = i % 2 || i == 0;
        ck_assert_int_eq(c[i].calls, other ? 100 : 1);
        ck_assert_int_eq(c[i].last_fd, rd[i]);
        ck_assert_uint_eq(c[i].got_len, 1);
        ck_assert_int_eq(c[i].got[0], 'a' + i);
    }
    /* Reuse: rd[2]'s number given to a new pipe with a new context. */
    int n2 = rd[2];
    loop_del(l, n2);
    ck_assert_int_eq(loop_get_mask(l, n2), 0);
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0); /* while n2 is open, so not n2 itself */
    close(n2);
    ck_assert_int_eq(dup2(fds[0], n2), n2);
    close(fds[0]);
    struct fdctx fresh = {0};
    ck_assert_int_eq(loop_add(l, n2, LOOP_READ, on_read_other, &fresh), 0);
    ck_assert_int_eq(write(fds[1], "z", 1), 1);
    loop_run_once(l, 1000);
    ck_assert_int_eq(fresh.calls, 100);
    ck_assert_int_eq(fresh.got[0], 'z');
    ck_assert_int_eq(c[2].calls, 1);
    for (int i = 0; i < N; i++) {
        loop_del(l, rd[i]);
        close(rd[i]);
        close(wr[i]);
    }
    close(fds[1]);
    loop_free(l);
}
END_TEST

static void on_read_del_other(struct loop *l, int fd, int mask, void *arg)
{
    struct fdctx *c = arg;
    c->calls++;
    loop_del(l, c->other_fd);
}

START_TEST(test_loop_del_in_callback)
{
    /* Two fds ready in the same turn; whichever runs first unregisters the other, whose event
     * (already fetched) must then be dropped. */
    struct loop *l = loop_create();
    int a[2], b[2];
    ck_assert_int_eq(pipe2(a, O_NONBLOCK), 0);
    ck_assert_int_eq(pipe2(b, O_NONBLOCK), 0);
    struct fdctx ca = {.other_fd = b[0]}, cb = {.other_fd = a[0]};
    ck_assert_int_eq(loop_add(l, a[0], LOOP_READ, on_read_del_other, &ca), 0);
    ck_assert_int_eq(loop_add(l, b[0], LOOP_READ, on_read_del_other, &cb), 0);
    ck_assert_int_eq(write(a[1], "1", 1), 1);
    ck_assert_int_eq(write(b[1], "2", 1), 1);
    loop_run_once(l, 1000);
    ck_assert_int_eq(ca.calls + cb.calls, 1);
    /* The survivor is still registered and keeps firing (level-triggered, never read). */
    loop_run_once(l, 1000);
    ck_assert_int_eq(ca.calls + cb.calls, 2);
    ck_assert_int_eq(loop_get_mask(l, a[0]) + loop_get_mask(l, b[0]), LOOP_READ);
    loop_del(l, a[0]);
    loop_del(l, b[0]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    loop_free(l);
}
END_TEST

static void on_read_del_self(struct loop *l, int fd, int mask, void *arg)
{
    struct fdctx *c = arg;
    c->calls++;
    loop_del(l, fd);
    close(fd);
}

START_TEST(test_loop_del_self_and_close)
{
    struct loop *l = loop_create();
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
    struct fdctx c = {0};
    ck_assert_int_eq(loop_add(l, fds[0], LOOP_READ, on_read_del_self, &c), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    loop_run_once(l, 1000);
    ck_assert_int_eq(c.calls, 1);
    loop_run_once(l, 0);
    ck_assert_int_eq(c.calls, 1);
    close(fds[1]);
    loop_free(l);
}
END_TEST

START_TEST(test_loop_error_always_reported)
{
    /* A hung-up socket reports LOOP_ERROR even to an owner interested in nothing. */
    struct loop *l = loop_create();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct fdctx c = {0};
    ck_assert_int_eq(loop_add(l, sv[0], 0, on_read, &c), 0);
    loop_run_once(l, 0);
    ck_assert_int_eq(c.calls, 0);
    close(sv[1]);
    loop_run_once(l, 1000);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.last_mask, LOOP_ERROR);
    /* With read interest the same event also says readable (EOF). */
    ck_assert_int_eq(loop_set_mask(l, sv[0], LOOP_READ), 0);
    loop_run_once(l, 1000);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_int_eq(c.last_mask, LOOP_READ | LOOP_ERROR);
    loop_del(l, sv[0]);
    close(sv[0]);
    loop_free(l);
}
END_TEST

/* ---- one turn: fd callbacks, then due timers, then the before-sleep hook ---- */

struct turn {
    char log[32];
    int n;
    int hooks;
    uint64_t now_in_fd, now_in_timer;
    struct loop_timer t;
    int stop_after_hooks;
};

static void turn_fd(struct loop *l, int fd, int mask, void *arg)
{
    struct turn *t = arg;
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    t->log[t->n++] = 'f';
    t->now_in_fd = loop_now_ms(l);
}

static void turn_timer(struct loop *l, void *arg)
{
    struct turn *t = arg;
    t->log[t->n++] = 't';
    t->now_in_timer = loop_now_ms(l);
}

static void turn_noop(struct loop *l, int fd, int mask, void *arg)
{
    (*(int *)arg)++;
}

static void turn_hook(struct loop *l, void *arg)
{
    struct turn *t = arg;
    t->log[t->n++] = 'h';
    t->hooks++;
    if (t->stop_after_hooks && t->hooks >= t->stop_after_hooks) loop_stop(l);
}

START_TEST(test_loop_turn_order_and_hook)
{
    struct loop *l = loop_create();
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
    struct turn t = {0};
    ck_assert_int_eq(loop_add(l, fds[0], LOOP_READ, turn_fd, &t), 0);
    loop_timer_init(&t.t, turn_timer, &t);
    loop_set_before_sleep(l, turn_hook, &t);
    loop_timer_start(l, &t.t, 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    usleep(2000); /* the timer is due and the byte is there before the turn starts */
    loop_run_once(l, 1000);
    ck_assert_int_eq(t.n, 3);
    ck_assert_mem_eq(t.log, "fth", 3);
    /* The loop's clock is read once per turn. */
    ck_assert_uint_eq(t.now_in_fd, t.now_in_timer);
    /* The hook runs on every turn, even an idle one. */
    loop_run_once(l, 0);
    ck_assert_int_eq(t.hooks, 2);
    ck_assert_int_eq(t.n, 4);
    /* loop_run runs until loop_stop() is called from a callback (an always-writable fd keeps
     * the turns coming). */
    int writable = 0;
    ck_assert_int_eq(loop_add(l, fds[1], LOOP_WRITE, turn_noop, &writable), 0);
    t.stop_after_hooks = 5;
    loop_run(l);
    ck_assert_int_eq(t.hooks, 5);
    ck_assert_int_eq(writable, 3);
    loop_del(l, fds[1]);
    /* The hook can be removed. */
    loop_set_before_sleep(l, NULL, NULL);
    loop_run_once(l, 0);
    ck_assert_int_eq(t.hooks, 5);
    loop_del(l, fds[0]);
    close(fds[0]);
    close(fds[1]);
    loop_free(l);
}
END_TEST

START_TEST(test_loop_wait_bounded_by_timer)
{
    /* A turn that may wait forever still wakes for the next timer. */
    struct loop *l = loop_create();
    struct tstate st = {.want = 1};
    struct tctx c = {.st = &st, .id = 0, .delay = 30};
    loop_timer_init(&c.t, on_timer, &c);
    uint64_t t0 = clock_now_ms();
    loop_timer_start(l, &c.t, 30);
    for (int i = 0; i < 100 && !st.done; i++) loop_run_once(l, -1);
    ck_assert(st.done);
    ck_assert_uint_ge(c.fired_ms, t0 + 30);
    ck_assert_uint_lt(clock_now_ms() - t0, 5000);
    loop_free(l);
}
END_TEST

/* ---- chan ---- */

enum { CHAN_THREADS = 4, CHAN_PER_THREAD = 20000 };

struct chan_test {
    struct chan ch;
    int *seen; /* [thread][seq] counts */
    uint64_t next[CHAN_THREADS];
    int in_order;
    int received;
    int done;
    pthread_t self;
    int wrong_thread;
};

static void on_msg(struct chan_msg *m, void *arg)
{
    struct chan_test *t = arg;
    if (!pthread_equal(pthread_self(), t->self)) t->wrong_thread = 1;
    int th = m->type;
    uint64_t seq = m->u64;
    if (th < 0 || th >= CHAN_THREADS || seq >= CHAN_PER_THREAD) {
        t->in_order = 0;
        return;
    }
    t->seen[th * CHAN_PER_THREAD + (int)seq]++;
    /* One sender's messages keep their order. */
    if (seq != t->next[th]) t->in_order = 0;
    t->next[th] = seq + 1;
    if (m->fd != th * 1000 || m->ptr != &t->seen[th]) t->in_order = 0;
    if (++t->received == CHAN_THREADS * CHAN_PER_THREAD) t->done = 1;
}

struct sender {
    struct chan_test *t;
    int id;
};

static void *send_thread(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < CHAN_PER_THREAD; i++) {
        struct chan_msg m = {
            .type = s->id, .fd = s->id * 1000, .ptr = &s->t->seen[s->id], .u64 = (uint64_t)i};
        chan_send(&s->t->ch, &m);
        if (i % 1000 == 0) sched_yield();
    }
    return NULL;
}

START_TEST(test_chan_many_senders)
{
    struct loop *l = loop_create();
    struct chan_test *t = calloc(1, sizeof(*t));
    t->seen = calloc(CHAN_THREADS * CHAN_PER_THREAD, sizeof(int));
    t->in_order = 1;
    t->self = pthread_self();
    ck_assert_int_eq(chan_init(&t->ch, l, on_msg, t), 0);
    /* Nothing queued: draining delivers nothing. */
    chan_drain(&t->ch);
    ck_assert_int_eq(t->received, 0);
    pthread_t th[CHAN_THREADS];
    struct sender s[CHAN_THREADS];
    for (int i = 0; i < CHAN_THREADS; i++) {
        s[i] = (struct sender){t, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, send_thread, &s[i]), 0);
    }
    run_until(l, &t->done, 30000);
    for (int i = 0; i < CHAN_THREADS; i++) pthread_join(th[i], NULL);
    /* Anything sent after the last wake-up is still delivered. */
    for (int i = 0; i < 20; i++) loop_run_once(l, 0);
    ck_assert_int_eq(t->received, CHAN_THREADS * CHAN_PER_THREAD);
    for (int i = 0; i < CHAN_THREADS * CHAN_PER_THREAD; i++)
        ck_assert_msg(t->seen[i] == 1, "message %d/%d arrived %d times", i / CHAN_PER_THREAD,
                      i % CHAN_PER_THREAD, t->seen[i]);
    ck_assert(t->in_order);
    ck_assert(!t->wrong_thread);
    chan_deinit(&t->ch, l);
    free(t->seen);
    free(t);
    loop_free(l);
}
END_TEST

START_TEST(test_chan_wakes_loop)
{
    /* A message sent while the receiver is blocked waking it, and one sent before it waits. */
    struct loop *l = loop_create();
    struct chan_test *t = calloc(1, sizeof(*t));
    t->seen = calloc(CHAN_THREADS * CHAN_PER_THREAD, sizeof(int));
    t->in_order = 1;
    t->self = pthread_self();
    ck_assert_int_eq(chan_init(&t->ch, l, on_msg, t), 0);
    struct chan_msg m = {.type = 0, .fd = 0, .ptr = &t->seen[0], .u64 = 0};
    chan_send(&t->ch, &m);
    uint64_t t0 = clock_now_ms();
    loop_run_once(l, 5000);
    ck_assert_int_eq(t->received, 1);
    ck_assert_uint_lt(clock_now_ms() - t0, 4000);
    /* The eventfd was consumed: an idle turn does not deliver anything again. */
    loop_run_once(l, 0);
    ck_assert_int_eq(t->received, 1);
    ck_assert_int_eq(t->seen[0], 1);
    chan_deinit(&t->ch, l);
    free(t->seen);
    free(t);
    loop_free(l);
}
END_TEST

/* ---- listeners (LOOP_LISTEN, loop_accept) ---- */

/* A listening Unix-domain socket, non-blocking as the proxy's are, at an address of the kernel's
 * choosing (autobind), which is written to *sa for the clients. */
static int listener_new(struct sockaddr_un *sa, socklen_t *salen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un any = {.sun_family = AF_UNIX};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&any, sizeof(sa_family_t)), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    *salen = sizeof(*sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sa, salen), 0);
    return fd;
}

static int client_new(const struct sockaddr_un *sa, socklen_t salen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (const struct sockaddr *)sa, salen), 0);
    return fd;
}

struct lctx {
    int calls;
    int take;       /* connections to take per call (then stop, as the acceptor does at 64) */
    int fds[16];    /* what loop_accept returned: descriptors */
    int n;
    int errs[4];    /* and errors */
    int nerr;
};

static void on_listen(struct loop *l, int fd, int mask, void *arg)
{
    struct lctx *c = arg;
    c->calls++;
    ck_assert_int_eq(mask, LOOP_READ);
    for (int i = 0; i < c->take; i++) {
        int cfd = loop_accept(l, fd);
        if (cfd == -EAGAIN) return;
        if (cfd < 0) {
            ck_assert_int_lt(c->nerr, 4);
            c->errs[c->nerr++] = cfd;
            return;
        }
        ck_assert_int_lt(c->n, 16);
        c->fds[c->n++] = cfd;
    }
}

/* Runs turns until c has n connections, failing after a second. */
static void run_until_accepted(struct loop *l, struct lctx *c, int n)
{
    uint64_t end = clock_now_ms() + 1000;
    while (c->n < n) {
        ck_assert_msg(clock_now_ms() < end, "%d of %d connections accepted after a second", c->n,
                      n);
        loop_run_once(l, 20);
    }
}

/* Whether the peer of fd closed (or reset) it within a second. */
static int peer_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1000) != 1) return 0;
    char b;
    return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

START_TEST(test_loop_listener)
{
    struct loop *l = loop_create();
    struct sockaddr_un sa;
    socklen_t salen;
    int lfd = listener_new(&sa, &salen);
    struct lctx c = {.take = 2};
    ck_assert_int_eq(loop_add(l, lfd, LOOP_READ | LOOP_LISTEN, on_listen, &c), 0);
    ck_assert_int_eq(loop_get_mask(l, lfd), LOOP_READ);
    loop_run_once(l, 0);
    ck_assert_int_eq(c.calls, 0);
    ck_assert_int_eq(loop_accept(l, lfd), -EAGAIN);

    /* Three connections, taken two per call: the third is reported again. */
    int cl[8];
    for (int i = 0; i < 3; i++) cl[i] = client_new(&sa, salen);
    run_until_accepted(l, &c, 3);
    ck_assert_int_ge(c.calls, 2);
    for (int i = 0; i < 3; i++) {
        int fl = fcntl(c.fds[i], F_GETFL);
        ck_assert(fl & O_NONBLOCK);
        ck_assert(fcntl(c.fds[i], F_GETFD) & FD_CLOEXEC);
        for (int j = 0; j < i; j++) ck_assert_int_ne(c.fds[i], c.fds[j]);
    }
    /* Each is a live connection to one of the clients. */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(write(cl[i], "x", 1), 1);
    for (int i = 0; i < 3; i++) {
        struct pollfd p = {.fd = c.fds[i], .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, 1000), 1);
        char b;
        ck_assert_int_eq(read(c.fds[i], &b, 1), 1);
        ck_assert_int_eq(b, 'x');
    }

    /* Paused: connections wait (in the backlog) and are not reported; resumed, they are. */
    ck_assert_int_eq(loop_set_mask(l, lfd, 0), 0);
    int calls = c.calls;
    cl[3] = client_new(&sa, salen);
    cl[4] = client_new(&sa, salen);
    for (int i = 0; i < 5; i++) loop_run_once(l, 10);
    ck_assert_int_eq(c.calls, calls);
    ck_assert_int_eq(c.n, 3);
    ck_assert_int_eq(loop_set_mask(l, lfd, LOOP_READ), 0);
    run_until_accepted(l, &c, 5);

    /* Only a listener accepts. */
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    ck_assert_int_eq(loop_add(l, sp[0], LOOP_READ, on_read, &(struct fdctx){0}), 0);
    ck_assert_int_eq(loop_accept(l, sp[0]), -EBADF);
    ck_assert_int_eq(loop_accept(l, 100000), -EBADF);
    loop_del(l, sp[0]);
    close(sp[0]);
    close(sp[1]);

    /* Unregistered with a connection not taken: it is closed (or reset) for its client, none is
     * left open, and the listener is non-blocking again. */
    c.take = 0;
    cl[5] = client_new(&sa, salen);
    for (int i = 0; i < 5; i++) loop_run_once(l, 10);
    loop_del(l, lfd);
    ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    close(lfd);
    ck_assert(peer_gone(cl[5]));
    loop_run_once(l, 0); /* the cancelled accept's completion, if any */
    for (int i = 0; i < 6; i++) close(cl[i]);
    for (int i = 0; i < c.n; i++) close(c.fds[i]);
    loop_free(l);
}
END_TEST

START_TEST(test_loop_listener_out_of_descriptors)
{
    struct loop *l = loop_create();
    struct sockaddr_un sa;
    socklen_t salen;
    int lfd = listener_new(&sa, &salen);
    struct lctx c = {.take = 4};
    int cl = client_new(&sa, salen);
    /* No descriptor left for the accepted connection (this test runs in a process of its own).
     * Lowered before the listener is watched: io_uring's accept reads the limit when it is armed. */
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0);
    ck_assert_int_ge(probe, 0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(loop_add(l, lfd, LOOP_READ | LOOP_LISTEN, on_listen, &c), 0);
    uint64_t end = clock_now_ms() + 1000;
    while (c.nerr == 0 && clock_now_ms() < end) loop_run_once(l, 20);
    ck_assert_int_eq(c.nerr, 1);
    ck_assert_int_eq(c.errs[0], -EMFILE);
    ck_assert_int_eq(c.n, 0);
    /* With descriptors again, the connection (still waiting) is taken. */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    run_until_accepted(l, &c, 1);
    ck_assert_int_eq(write(cl, "y", 1), 1);
    struct pollfd p = {.fd = c.fds[0], .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 1000), 1);
    loop_del(l, lfd);
    close(lfd);
    close(cl);
    close(c.fds[0]);
    loop_free(l);
}
END_TEST

/* The uring cases run every test again on the io_uring engine (on epoll where this kernel does
 * not allow io_uring: the fixture says so). */
static void use_uring(void)
{
    char why[256];
    if (loop_io_select(LOOP_IO_URING, why, sizeof(why)) != LOOP_IO_URING)
        fprintf(stderr, "io_uring not available (%s): the uring cases run on epoll\n", why);
}

static void use_epoll(void)
{
    loop_io_select(LOOP_IO_EPOLL, NULL, 0);
}

Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    static const struct {
        const char *name, *chan_name;
        void (*setup)(void);
    } engines[] = {{"loop", "chan", use_epoll}, {"loop-uring", "chan-uring", use_uring}};
    for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
        TCase *tc = tcase_create(engines[i].name);
        tcase_add_checked_fixture(tc, engines[i].setup, NULL);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_loop_timers_in_order);
        tcase_add_test(tc, test_loop_timer_stop);
        tcase_add_test(tc, test_loop_timer_rearm_from_callback);
        tcase_add_test(tc, test_loop_timer_rearm_zero_once_per_turn);
        tcase_add_test(tc, test_loop_fd_read_write);
        tcase_add_test(tc, test_loop_high_fd);
        tcase_add_test(tc, test_loop_callbacks_and_contexts_by_fd);
        tcase_add_test(tc, test_loop_del_in_callback);
        tcase_add_test(tc, test_loop_del_self_and_close);
        tcase_add_test(tc, test_loop_error_always_reported);
        tcase_add_test(tc, test_loop_turn_order_and_hook);
        tcase_add_test(tc, test_loop_wait_bounded_by_timer);
        tcase_add_test(tc, test_loop_listener);
        tcase_add_test(tc, test_loop_listener_out_of_descriptors);
        suite_add_tcase(s, tc);
        TCase *tch = tcase_create(engines[i].chan_name);
        tcase_add_checked_fixture(tch, engines[i].setup, NULL);
        tcase_set_timeout(tch, 60);
        tcase_add_test(tch, test_chan_many_senders);
        tcase_add_test(tch, test_chan_wakes_loop);
        suite_add_tcase(s, tch);
    }
    return s;
}
