/*
 * The nodes' MONITOR streams; see monfeed.h.
 *
 * Each stream is a private connection in raw mode (every frame reaches on_push): MONITOR is sent
 * without a FIFO entry, so its +OK arrives as the first push (the stream is then confirmed), and
 * every line after it too. A stream that goes down is closed and forgotten; the next check opens
 * a new one if a client still monitors. A stream is named by its node's address, which outlives
 * the view's runners.
 */
#include "monfeed.h"

#include "mem.h"
#include "monitor.h"

#include <stdio.h>
#include <string.h>

#define MONFEED_CHECK_MS 1000

struct monfeed_conn {
    struct monfeed *mf;
    struct privconn *pc;
    char ip[64];
    int port;
    uint8_t confirmed; /* its +OK came: its lines are flowing */
    uint8_t down;      /* failed: closed at the next check */
};

static const char monitor_cmd[] = "*1\r\n$7\r\nMONITOR\r\n";

static void on_timer(struct loop *l, void *ctx);

void monfeed_init(struct monfeed *mf, struct loop *loop, struct priv_pool *priv, struct view *view,
                  struct request_pool *rp, int worker)
{
    memset(mf, 0, sizeof(*mf));
    mf->loop = loop;
    mf->priv = priv;
    mf->view = view;
    mf->rp = rp;
    mf->worker = worker;
    loop_timer_init(&mf->timer, on_timer, mf);
}

/* ---- the monitoring clients of this worker ---- */

struct mon_count {
    int worker, n;
};

static void count_one(uint64_t id, int worker, void *arg)
{
    (void)id;
    struct mon_count *k = arg;
    if (worker == k->worker) k->n++;
}

static int local_monitors(const struct monfeed *mf)
{
    struct mon_count k = {mf->worker, 0};
    if (monitor_active()) monitor_each(count_one, &k);
    return k.n;
}

struct mon_line {
    struct monfeed *mf;
    const char *bytes;
    size_t len;
};

static void deliver_one(uint64_t id, int worker, void *arg)
{
    struct mon_line *m = arg;
    if (worker == m->mf->worker) m->mf->deliver(m->mf->deliver_up, worker, id, m->bytes, m->len);
}

/* ---- waiting MONITOR commands ---- */

static void answer_waiting(struct monfeed *mf)
{
    struct request *r = mf->waiting;
    mf->waiting = NULL;
    while (r) {
        struct request *next = r->hnext;
        r->hnext = NULL;
        request_reply_bytes(mf->rp, r, "+OK\r\n", 5); /* an orphan is freed */
        r = next;
    }
}

static int all_confirmed(const struct monfeed *mf)
{
    for (int i = 0; i < mf->nconns; i++)
        if (!mf->conns[i]->confirmed && !mf->conns[i]->down) return 0;
    return 1;
}

/* ---- streams ---- */

static void conn_free(struct monfeed_conn *mc)
{
    if (mc->pc) {
        priv_detach(mc->pc); /* the runner's last events must not reach mc, freed below */
        priv_close(mc->pc);
    }
    px_free(mc);
}

static void on_push(struct privconn *pc, struct buf_chunk *c, uint32_t off,
                    const struct resp_reply_info *info, void *ctx)
{
    (void)pc;
    struct monfeed_conn *mc = ctx;
    struct monfeed *mf = mc->mf;
    const char *p = c->data + off;
    if (!mc->confirmed) {
        mc->confirmed = 1; /* MONITOR's own +OK (an error: the stream never says more) */
        if (mf->waiting && all_confirmed(mf)) answer_waiting(mf);
        return;
    }
    /* "+<time> [<db> lua] ...": the marker sits before the first quoted argument. */
    if (info->len < 8 || p[0] != '+') return;
    const char *q = memchr(p, '"', info->len);
    size_t head = q ? (size_t)(q - p) : info->len;
    int lua = 0;
    for (size_t i = 0; i + 5 <= head; i++)
        if (memcmp(p + i, " lua]", 5) == 0) lua = 1;
    if (!lua) return;
    struct mon_line m = {mf, p, info->len};
    monitor_each(deliver_one, &m);
}

static void on_state(struct privconn *pc, enum backend_event ev, void *ctx)
{
    (void)pc;
    struct monfeed_conn *mc = ctx;
    if (ev != BACKEND_EV_DOWN) return;
    mc->down = 1;
    struct monfeed *mf = mc->mf;
    if (mf->waiting && all_confirmed(mf)) answer_waiting(mf);
    if (!loop_timer_active(&mf->timer)) loop_timer_start(mf->loop, &mf->timer, MONFEED_CHECK_MS);
}

static void on_reply(struct privconn *pc, struct backend_req *r, struct buf_chunk *c, uint32_t off,
                     const struct resp_reply_info *info, void *ctx)
{
    (void)pc, (void)r, (void)c, (void)off, (void)info, (void)ctx; /* nothing is sent with a FIFO entry */
}

static void on_failed(struct privconn *pc, struct backend_req *r, int written, void *ctx)
{
    (void)pc, (void)r, (void)written;
    ((struct monfeed_conn *)ctx)->down = 1;
}

static const struct priv_ops monfeed_ops = {
    .reply = on_reply,
    .failed = on_failed,
    .state = on_state,
    .push = on_push,
};

static int conn_for(const struct monfeed *mf, struct backend *node)
{
    for (int i = 0; i < mf->nconns; i++) {
        const struct monfeed_conn *mc = mf->conns[i];
        if (mc->port == backend_port(node) && strcmp(mc->ip, backend_ip(node)) == 0) return i;
    }
    return -1;
}

static void conn_open(struct monfeed *mf, struct backend *node)
{
    struct monfeed_conn *mc = px_calloc(1, sizeof(*mc));
    mc->mf = mf;
    snprintf(mc->ip, sizeof(mc->ip), "%s", backend_ip(node));
    mc->port = backend_port(node);
    mc->pc = priv_lease(mf->priv, NULL, node, &monfeed_ops, mc);
    backend_set_raw(mc->pc->b, 1);
    backend_set_timeout(mc->pc->b, 0); /* lines come when they come */
    if (backend_send_raw(mc->pc->b, monitor_cmd, sizeof(monitor_cmd) - 1) < 0) mc->down = 1;
    mf->conns = px_realloc(mf->conns, (size_t)(mf->nconns + 1) * sizeof(*mf->conns));
    mf->conns[mf->nconns++] = mc;
}

static int is_master(const struct monfeed *mf, const struct monfeed_conn *mc)
{
    for (int i = 0; i < mf->view->nmasters; i++) {
        struct backend *b = mf->view->masters[i];
        if (b && mc->port == backend_port(b) && strcmp(mc->ip, backend_ip(b)) == 0) return 1;
    }
    return 0;
}

/* Streams: one per master while want, none otherwise. */
static void reconcile(struct monfeed *mf, int want)
{
    int kept = 0;
    for (int i = 0; i < mf->nconns; i++) {
        struct monfeed_conn *mc = mf->conns[i];
        if (want && !mc->down && is_master(mf, mc))
            mf->conns[kept++] = mc;
        else
            conn_free(mc);
    }
    mf->nconns = kept;
    if (!want) return;
    for (int i = 0; i < mf->view->nmasters; i++) {
        struct backend *b = mf->view->masters[i];
        if (b && conn_for(mf, b) < 0) conn_open(mf, b);
    }
}

void monfeed_check(struct monfeed *mf)
{
    if (mf->nconns == 0 && !monitor_active()) return; /* the usual case: one atomic read */
    reconcile(mf, local_monitors(mf) > 0);
}

static void on_timer(struct loop *l, void *ctx)
{
    (void)l;
    struct monfeed *mf = ctx;
    answer_waiting(mf); /* whatever did not confirm in time */
    monfeed_check(mf);
    if (mf->nconns > 0) loop_timer_start(mf->loop, &mf->timer, MONFEED_CHECK_MS);
}

void monfeed_monitor(struct monfeed *mf, struct request *r)
{
    reconcile(mf, 1);
    if (all_confirmed(mf)) {
        request_reply_bytes(mf->rp, r, "+OK\r\n", 5);
        return;
    }
    r->state = REQ_GATHER;
    r->hnext = mf->waiting;
    mf->waiting = r;
    loop_timer_stop(mf->loop, &mf->timer);
    loop_timer_start(mf->loop, &mf->timer, MONFEED_WAIT_MS);
}

void monfeed_deinit(struct monfeed *mf)
{
    answer_waiting(mf);
    loop_timer_stop(mf->loop, &mf->timer);
    for (int i = 0; i < mf->nconns; i++) conn_free(mf->conns[i]);
    px_free(mf->conns);
    mf->conns = NULL;
    mf->nconns = 0;
}
