/*
 * Worker threads; see worker.h.
 *
 * worker_create builds the parts bottom up (view, private connections, forwarding, fan-out,
 * transactions, Pub/Sub, local answers, INFO, the dispatcher, the sessions), giving each the
 * pointers it needs and wiring the few questions that go upward as callbacks: the forwarder's
 * route_again is the dispatcher's resume, Pub/Sub's deliver is the session's, CLIENT INFO and
 * CLIENT LIST are answered by the session and by the gather below. The thread then runs the
 * loop; messages from other threads arrive through the inbox (worker_on_msg).
 *
 * ACL changes span every worker too: the worker whose client changed the users (ACL SETUSER,
 * DELUSER, LOAD) asks every worker to take the new set, and answers once all have; each worker
 * points its clients at their users in the new set and closes the clients whose user is gone or
 * whose channel permissions no longer cover their subscriptions, as Redis does.
 *
 * Two questions span every worker. CLIENT LIST sends a gather to every other worker; each
 * appends its sessions under the gather's lock and the last hands it back to the origin, which
 * answers. The debug port's snapshot is the same idea with the asking thread waiting on a
 * condition variable.
 *
 * And the load: clients are packed on as few workers as keep up with them, and handed to another
 * worker when one gets busy (-worker-busy; the section "load balancing" below).
 */
#include "worker.h"

#include "busy.h"

#include "client_dir.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKER_CHUNK_SIZE (16 * 1024)
#define WORKER_POOL_KEEP  256 /* free chunks a worker keeps (4 MiB) */
#define DRAIN_TICK_MS     10  /* graceful shutdown: lingering sessions are looked at this often */
#define WORKER_CRON_MS    1000
#define WORKER_POOL_MIN   4           /* free chunks always kept (64 KiB) */
#define WORKER_REQS_MIN   64          /* free requests always kept */
#define WORKER_SBUF_KEEP  (64 * 1024) /* scratch buffers larger than this are freed when idle */

static void worker_on_msg(struct chan_msg *m, void *ctx);
static void worker_before_sleep(struct loop *l, void *ctx);
static void worker_drain_timer(struct loop *l, void *ctx);
static void worker_cron(struct loop *l, void *ctx);
static void worker_balance(struct loop *l, void *ctx);
static void worker_trk_send(void *up, struct request *part);
static void worker_trk_remote(void *up, int worker, uint64_t id, const char *payload, size_t len);
static void worker_deliver(void *up, int worker, uint64_t id, const char *bytes, size_t len);
static void worker_client_list(void *up, struct request *r);
static void worker_acl_publish(void *up, struct request *r, const char *reply, size_t len);
static void worker_describe_client(void *up, struct client *c, struct sbuf *out);
static void worker_reset_stats(void *up);

struct worker *worker_create(int id, const struct config *cfg, struct topology *topo,
                             struct script_cache *scripts, const struct info_src *info,
                             struct tls_ctx *tls_clients, struct tls_ctx *tls_nodes)
{
    struct worker *w = px_calloc_aligned(_Alignof(struct worker), sizeof(*w));
    w->id = id;
    w->cfg = cfg;
    w->topo = topo;
    w->loop = loop_create();
    if (!w->loop) {
        px_free(w);
        return NULL;
    }
    if (chan_init(&w->inbox, w->loop, worker_on_msg, w) < 0) {
        loop_free(w->loop);
        px_free(w);
        return NULL;
    }
    atomic_init(&w->nsessions, 0);
    buf_pool_init(&w->pool, WORKER_CHUNK_SIZE, WORKER_POOL_KEEP);
    /* With io_uring, the kernel receives into chunks of this pool, which become the sessions' and
     * runners' input chunks as they are. */
    loop_set_pool(w->loop, &w->pool);
    loop_set_batch_us(w->loop, (unsigned)w->cfg->io_batch_us);
    if (id == 0 && cfg->io_batch_us && loop_get_io(w->loop) == LOOP_IO_URING &&
        !loop_can_batch(w->loop))
        log_info("io_uring here cannot bound a wait (Linux 6.12 can): -io-batch-us has no effect");
    request_pool_init(&w->rp, &w->pool);
    w->stats.cmds = px_calloc(commands_count() + 1, sizeof(*w->stats.cmds));
    w->scripts = scripts_local_create(scripts);
    w->menv.scripts = w->scripts;
    w->menv.rng = clock_wall_us() ^ ((uint64_t)(id + 1) << 32) ^ 0x9E3779B97F4A7C15ull;
    keys_result_init(&w->keys);

    view_init(&w->view, w->loop, &w->pool, cfg, tls_nodes, &forward_backend_ops, &w->fwd,
              &w->stats.nbackends);
    priv_pool_init(&w->priv, &w->view, topo, cfg, &w->stats);
    forward_init(&w->fwd, w->loop, cfg, &w->rp, &w->view, &w->priv, topo, &w->stats, w->scripts,
                 dispatch_resume, &w->dispatch);
    fanout_ctx_init(&w->fanout, &w->rp, &w->fwd, &w->view);
    txn_ctx_init(&w->txn, &w->rp, &w->view, &w->priv, &w->keys, w->scripts);
    w->txn.inject = session_inject;
    w->txn.inject_up = &w->sessions;
    pubsub_ctx_init(&w->pubsub, w->loop, &w->rp, &w->view, &w->priv, topo, &w->stats,
                    session_deliver_push, &w->sessions);
    tracking_init(&w->trk, &w->view, &w->rp, &w->keys, cfg, &w->stats, id);
    w->trk.deliver = session_deliver_invalidation;
    w->trk.deliver_up = &w->sessions;
    w->trk.remote = worker_trk_remote;
    w->trk.remote_up = w;
    w->trk.send = worker_trk_send;
    w->trk.send_up = &w->fwd;
    w->fwd.trk = &w->trk;
    acl_local_sync(&w->acl);
    local_ctx_init(&w->local, cfg, &w->rp, &w->view, &w->fwd);
    w->local.trk = &w->trk;
    monfeed_init(&w->monfeed, w->loop, &w->priv, &w->view, &w->rp, id);
    w->monfeed.deliver = worker_deliver;
    w->monfeed.deliver_up = w;
    w->local.monfeed = &w->monfeed;
    w->local.worker = id;
    w->local.acl = &w->acl;
    w->local.stats = &w->stats;
    w->local.describe = worker_describe_client;
    w->local.client_list = worker_client_list;
    w->local.up = w;
    info_ctx_init(&w->info, &w->fanout, info);
    cross_ctx_init(&w->cross, cfg, &w->rp, &w->fwd, &w->stats,
                   clock_wall_us() ^ ((uint64_t)getpid() << 20) ^ ((uint64_t)id << 48));
    dispatch_init(&w->dispatch);
    w->dispatch.rp = &w->rp;
    w->dispatch.keys = &w->keys;
    w->dispatch.scripts = w->scripts;
    w->dispatch.menv = &w->menv;
    w->dispatch.fw = &w->fwd;
    w->dispatch.fc = &w->fanout;
    w->dispatch.txn = &w->txn;
    w->dispatch.ps = &w->pubsub;
    w->dispatch.local = &w->local;
    w->dispatch.info = &w->info;
    w->dispatch.trk = &w->trk;
    w->dispatch.deliver = worker_deliver;
    w->dispatch.deliver_up = w;
    admin_init(&w->admin, &w->rp, &w->fwd, &w->view, cfg);
    w->admin.reset_stats = worker_reset_stats;
    w->admin.up = w;
    w->dispatch.admin = &w->admin;
    w->dispatch.stats = &w->stats;
    aclcmd_init(&w->aclcmd, &w->rp, &w->acl, &w->dispatch.acl_keys);
    w->aclcmd.publish = worker_acl_publish;
    w->aclcmd.up = w;
    w->dispatch.aclcmd = &w->aclcmd;
    w->dispatch.acl = &w->acl;
    w->dispatch.describe = worker_describe_client;
    w->dispatch.describe_up = w;
    session_ctx_init(&w->sessions, w->loop, &w->pool, &w->rp, cfg, &w->stats, &w->dispatch,
                     &w->nsessions);
    w->sessions.worker_id = id;
    w->sessions.tls = tls_clients;
    w->sessions.acl = &w->acl;
    w->dispatch.cross = &w->cross;
    w->dispatch.cross_compute = cfg->cross_slot == CROSS_SLOT_COMPUTE;
    inner_ctx_init(&w->inner, w->loop, &w->pool, &w->rp, &w->dispatch, cfg, &w->stats,
                   &w->sessions.next_seq);
    w->inner.acl = &w->acl;
    w->inner.local = &w->local;

    loop_timer_init(&w->drain_timer, worker_drain_timer, w);
    loop_timer_init(&w->cron, worker_cron, w);
    loop_set_before_sleep(w->loop, worker_before_sleep, w);
    loop_timer_start(w->loop, &w->cron, WORKER_CRON_MS);
    atomic_init(&w->load_pm, 0);
    atomic_init(&w->bal_taken_until, 0);
    loop_timer_init(&w->balance, worker_balance, w);
    return w;
}

/* Once a second: clients idle longer than -timeout, and clients whose unread output stayed over
 * the soft limit too long, are closed; memory a burst left behind (free chunks nobody used in the
 * last second, oversized scratch buffers) goes back to the allocator. */
static void worker_cron(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    session_cron_all(&w->sessions, loop_now_ms(l));
    monfeed_check(&w->monfeed);
    tracking_cron(&w->trk);
    struct loop_batch_stats bs;
    loop_batch_stats(l, &bs);
    stat_set(&w->stats.io_batch_waits, bs.waits);
    stat_set(&w->stats.io_batch_short, bs.short_waits);
    stat_set(&w->stats.io_replies_due, (uint64_t)bs.due);
    buf_pool_trim_unused(&w->pool, WORKER_POOL_MIN);
    request_pool_trim_unused(&w->rp, WORKER_REQS_MIN);
    sbuf_trim(&w->fwd.scratch, WORKER_SBUF_KEEP);
    sbuf_trim(&w->fanout.out, WORKER_SBUF_KEEP);
    sbuf_trim(&w->txn.scratch, WORKER_SBUF_KEEP);
    sbuf_trim(&w->pubsub.out, WORKER_SBUF_KEEP);
    sbuf_trim(&w->local.out, WORKER_SBUF_KEEP);
    sbuf_trim(&w->dispatch.out, WORKER_SBUF_KEEP);
    sbuf_trim(&w->cross.out, WORKER_SBUF_KEEP);
    loop_timer_start(l, &w->cron, WORKER_CRON_MS);
}

/* ---- load balancing between workers (-worker-busy) ----
 *
 * A worker that serves few requests per wake-up pays a sleep, a wake-up and an io_uring_enter for
 * each handful of them; one that is busy enough batches dozens per turn. So clients are packed on
 * as few workers as the load needs, and spread only when a worker gets busy: every BAL_TICK_MS
 * each worker measures the CPU it used (its thread's CPU time over the wall time, smoothed) and
 *   - over -worker-busy, hands a share of its movable clients to the idlest worker, if that one
 *     is under half the mark (the share that evens their loads out);
 *   - when its load and a lower worker's add up to under the packing mark (BAL_PACK_PCT of
 *     -worker-busy), hands that worker every movable client; packing goes only downwards, so two
 *     workers never trade the same clients back and forth.
 * After clients moved, both sides let the load settle for BAL_CALM_MS before deciding again. The
 * acceptor sends a new client to the first worker under the packing mark (worker_pick). Nothing
 * here is on the request path: a tick reads one clock and a few relaxed counters.
 *
 * A client moves only between requests (session_movable) and in order: the directory marks it as
 * moving before the hand-over (client_dir_moving), the new worker reads first what the old one's
 * loop had received (session_export, session_adopt), and a message for it that arrives before it
 * does is tried again (worker_not_yet).
 */
#define BAL_TICK_MS  100
#define BAL_CALM_MS  1000
#define BAL_PACK_PCT 85

/* Clients handed over so far, and those on their way (CLIENT LIST runs again when one moved while
 * it ran: gather_done). */
static atomic_ullong moves_started;
static atomic_uint moves_in_flight;

struct worker_move {
    struct session *s;
    size_t len;
    char bytes[]; /* what the old worker's loop had received for it */
};

/* The packing mark and the busy mark, in thousandths of a CPU. */
static unsigned bal_busy_pm(const struct config *cfg)
{
    return (unsigned)cfg->worker_busy * 10u;
}

static unsigned bal_pack_pm(const struct config *cfg)
{
    return bal_busy_pm(cfg) * BAL_PACK_PCT / 100u;
}

unsigned worker_load(const struct worker *w)
{
    return atomic_load_explicit(&w->load_pm, memory_order_relaxed);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reserves worker `to` for a hand-over by w: 0 when another worker handed it clients within the
 * last BAL_CALM_MS (their load may not show yet), so that two workers never pack into one at
 * once. The reservation holds the time it ends and who made it (ms * BAL_IDS + worker id). */
#define BAL_IDS 2048 /* more than -threads allows */
static int worker_claim(struct worker *to, const struct worker *w, uint64_t now)
{
    unsigned long long v = atomic_load(&to->bal_taken_until);
    if (v / BAL_IDS > now && v % BAL_IDS != (unsigned)w->id) return 0;
    unsigned long long nv = (now + BAL_CALM_MS) * BAL_IDS + (unsigned)w->id;
    return atomic_compare_exchange_strong(&to->bal_taken_until, &v, nv);
}

/* Hands up to n movable sessions to worker `to`. Returns how many went. */
static int worker_move_sessions(struct worker *w, struct worker *to, int n)
{
    int moved = 0;
    for (struct session *s = w->sessions.sessions, *next; s && moved < n; s = next) {
        next = s->next;
        if (!session_movable(s)) continue;
        char *bytes = NULL;
        size_t len = 0;
        /* Counted before it leaves (a CLIENT LIST under way then runs again: gather_done). */
        atomic_fetch_add(&moves_in_flight, 1);
        atomic_fetch_add(&moves_started, 1);
        if (session_export(s, &bytes, &len) < 0) {
            atomic_fetch_sub(&moves_in_flight, 1);
            continue;
        }
        struct worker_move *mv = px_malloc(sizeof(*mv) + len);
        mv->s = s;
        mv->len = len;
        if (len) memcpy(mv->bytes, bytes, len);
        px_free(bytes);
        /* Marked first: whatever is sent for it from now on goes to `to`, and waits there until
         * it has arrived. */
        client_dir_moving(s->client.id, to->id);
        struct chan_msg m = {.type = WORKER_MSG_ADOPT, .ptr = mv};
        chan_send(&to->inbox, &m);
        moved++;
    }
    if (moved) stat_add(&w->stats.clients_moved, (uint64_t)moved);
    return moved;
}

static void worker_balance(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    loop_timer_start(l, &w->balance, BAL_TICK_MS);
    uint64_t cpu = thread_cpu_ns(), wall = clock_now_us() * 1000u;
    if (w->bal_wall_ns && wall > w->bal_wall_ns) {
        uint64_t pm = (cpu - w->bal_cpu_ns) * 1000u / (wall - w->bal_wall_ns);
        unsigned prev = worker_load(w);
        /* Smoothed over a few ticks: one slow turn does not move clients. */
        atomic_store_explicit(&w->load_pm, (unsigned)((prev + pm) / 2), memory_order_relaxed);
    }
    w->bal_cpu_ns = cpu;
    w->bal_wall_ns = wall;
    uint64_t now = loop_now_ms(l);
    if (w->stopping || w->draining || now < w->bal_calm_ms || !w->sessions.sessions) return;
    unsigned load = worker_load(w);
    unsigned busy = bal_busy_pm(w->cfg);
    if (load > busy) {
        struct worker *idlest = NULL;
        for (int i = 0; i < w->nall; i++)
            if (w->all[i] != w && (!idlest || worker_load(w->all[i]) < worker_load(idlest)))
                idlest = w->all[i];
        unsigned other = worker_load(idlest);
        if (other >= busy / 2 || !worker_claim(idlest, w, now)) return;
        unsigned n = atomic_load_explicit(&w->nsessions, memory_order_relaxed);
        int share = (int)((uint64_t)n * (load - other) / (2u * load));
        if (worker_move_sessions(w, idlest, share > 0 ? share : 1))
            w->bal_calm_ms = now + BAL_CALM_MS;
        return;
    }
    for (int i = 0; i < w->id; i++) {
        struct worker *to = w->all[i];
        if (worker_load(to) + load < bal_pack_pm(w->cfg) && worker_claim(to, w, now)) {
            worker_move_sessions(w, to, INT32_MAX);
            return;
        }
    }
}

/* A client another worker handed over: it joins this worker (closed at once when stopping). */
static void worker_adopt(struct worker *w, struct worker_move *mv)
{
    session_adopt(&w->sessions, mv->s, mv->bytes, mv->len, w->draining);
    atomic_fetch_sub(&moves_in_flight, 1);
    if (w->stopping) session_close(mv->s);
    w->bal_calm_ms = loop_now_ms(w->loop) + BAL_CALM_MS;
    px_free(mv);
}

struct worker *worker_pick(struct worker *const *all, int n)
{
    struct worker *best = NULL;
    if (all[0]->cfg->worker_busy > 0) {
        /* Packed: the first worker with room. */
        for (int k = 0; k < n && !best; k++)
            if (worker_load(all[k]) < bal_pack_pm(all[k]->cfg)) best = all[k];
    }
    if (!best) {
        /* Spread: by sessions open rather than round-robin, as clients stay for different
         * times. Relaxed: a load estimate; a slightly stale count only skews the balance. */
        best = all[0];
        unsigned bn = atomic_load_explicit(&best->nsessions, memory_order_relaxed);
        for (int k = 1; k < n; k++) {
            unsigned c = atomic_load_explicit(&all[k]->nsessions, memory_order_relaxed);
            if (c < bn) {
                best = all[k];
                bn = c;
            }
        }
    }
    /* Counted here, not by the worker when the message arrives, so that the next accept of a
     * burst already sees it; the worker takes it off when the session closes. */
    atomic_fetch_add_explicit(&best->nsessions, 1, memory_order_relaxed);
    return best;
}

/* A new map: the view first, then whatever waited for it. */
static void worker_apply_map(struct worker *w, struct slotmap *m)
{
    view_apply_map(&w->view, m);
    forward_kick(&w->fwd);
    pubsub_on_map(&w->pubsub);
    tracking_topology_changed(&w->trk, -1);
    monfeed_check(&w->monfeed);
}

/* ---- invalidations for a REDIRECT target served by another worker ---- */

struct worker_trk_msg {
    uint64_t id;
    size_t len;
    char payload[];
};

static void worker_send_bytes(struct worker *w, int type, int worker, uint64_t id,
                              const char *payload, size_t len)
{
    if (worker < 0 || worker >= w->nall) return;
    struct worker_trk_msg *tm = px_malloc(sizeof(*tm) + len);
    tm->id = id;
    tm->len = len;
    memcpy(tm->payload, payload, len);
    struct chan_msg m = {.type = type, .ptr = tm};
    chan_send(&w->all[worker]->inbox, &m);
}

/* tracking.c's sync PINGs to the listeners. */
static void worker_trk_send(void *up, struct request *part)
{
    forward_send(up, part);
}

static void worker_trk_remote(void *up, int worker, uint64_t id, const char *payload, size_t len)
{
    worker_send_bytes(up, WORKER_MSG_TRACKING, worker, id, payload, len);
}

/* Bytes for client id of this worker, after the replies it is owed (MONITOR lines); passed on
 * when the client has moved to another worker meanwhile. Returns 0 when the client is on its way
 * here: the caller tries again later (worker_not_yet). */
static int worker_deliver_local(struct worker *w, uint64_t id, const char *bytes, size_t len)
{
    struct client *c = NULL;
    int at = client_dir_find(id, &c);
    if (at < 0) return 1; /* gone */
    if (at != w->id) {
        worker_send_bytes(w, WORKER_MSG_BYTES, at, id, bytes, len);
        return 1;
    }
    if (!c) return 0;
    uint32_t off;
    struct buf_chunk *chunk = request_arena_copy(&w->rp, bytes, len, &off);
    session_deliver_push(&w->sessions, c, chunk, off, (uint32_t)len);
    buf_chunk_put(chunk);
    return 1;
}

static void worker_deliver(void *up, int worker, uint64_t id, const char *bytes, size_t len)
{
    struct worker *w = up;
    if (worker != w->id || !worker_deliver_local(w, id, bytes, len))
        worker_send_bytes(w, WORKER_MSG_BYTES, worker, id, bytes, len);
}

/* A message for a client on its way to this worker (client_dir_moving) goes to the back of the
 * inbox, behind the hand-over the old worker sends right after marking it. */
static void worker_not_yet(struct worker *w, const struct chan_msg *m)
{
    chan_send(&w->inbox, m);
}

/* A client's CLIENT LIST line (CLIENT INFO, ACL LOG): a session's, or an HTTP request's. */
static void worker_describe_client(void *up, struct client *c, struct sbuf *out)
{
    if (c->oneshot)
        inner_describe(c, out);
    else
        session_describe_client(up, c, out);
}

/* ---- CLIENT LIST across workers ---- */

/* The origin sends the gather to every other worker; each appends its sessions under the
 * gather's lock and the last one hands it back to the origin, which answers the request (kept in
 * state REQ_GATHER meanwhile, so a closing session leaves it be). */
struct gather {
    pthread_mutex_t lock;
    int pending;
    struct worker *origin;
    struct request *req;
    struct sbuf out;
    uint64_t *ids; /* CLIENT LIST ID ...: only these; NULL for all */
    uint32_t nids;
    struct sbuf *lines; /* CLIENT LIST ID: lines[i], the line of ids[i] (empty: no such client) */
    int none; /* TYPE master|replica: nothing matches (the proxy has no replication clients) */
    int type; /* TYPE normal or pubsub: GATHER_NORMAL or GATHER_PUBSUB; 0 for any */
    /* CLIENT KILL: the clients that match every filter are closed and counted. */
    int kill, old_form;
    uint64_t skip_id;          /* SKIPME yes: the client that asked (0: none) */
    char addr[64], laddr[64];  /* the filters, when has_addr / has_laddr */
    int has_addr, has_laddr;   /* an empty address is a filter too: it matches nobody */
    char user[128];
    int has_user;
    long long killed;
    /* A client moving between workers when the gather starts or while it runs may be missed or
     * listed twice: then it runs again (GATHER_TRIES at most; moves are rare). */
    uint64_t moves0;
    int moving0, tries;
};

#define GATHER_TRIES 5

enum { GATHER_NORMAL = 1, GATHER_PUBSUB = 2 };

/* Whether c is of the type g asks for (Redis's getClientType: a subscribed client is of type
 * pubsub, any other, MONITOR included, normal). */
static int type_matches(const struct gather *g, const struct client *c)
{
    if (!g->type) return 1;
    return (g->type == GATHER_PUBSUB) == (pubsub_subscribed(c) != 0);
}

/* Whether session s matches CLIENT KILL's filters in g. */
static int kill_matches(struct gather *g, struct session *s)
{
    struct client *c = &s->client;
    if (g->none || (g->skip_id && c->id == g->skip_id) || (s->flags & SESS_CLOSED)) return 0;
    if (g->nids && c->id != g->ids[0]) return 0;
    if (!type_matches(g, c)) return 0;
    if (g->has_addr || g->has_laddr) {
        char a[64] = "", la[64] = "";
        sock_peer_name(c->fd, a, sizeof(a));
        sock_local_name(c->fd, la, sizeof(la));
        if (g->has_addr && strcmp(a, g->addr) != 0) return 0;
        if (g->has_laddr && strcmp(la, g->laddr) != 0) return 0;
    }
    if (g->has_user) {
        const struct acl_user *u = client_user(c);
        const char *name = u ? u->name : "default";
        size_t nl = u ? u->namelen : 7;
        if (nl != strlen(g->user) || memcmp(name, g->user, nl) != 0) return 0;
    }
    return 1;
}

/* CLIENT KILL on this worker's sessions. The client that asked, when it matches (SKIPME no), is
 * closed once its reply is written, as Redis does. */
static void kill_add(struct worker *w, struct gather *g)
{
    for (struct session *s = w->sessions.sessions, *next; s; s = next) {
        next = s->next;
        if (!kill_matches(g, s)) continue;
        g->killed++;
        if (g->req->client == &s->client)
            s->client.close_after = 1;
        else
            session_close(s);
    }
}

static void gather_add(struct worker *w, struct gather *g)
{
    pthread_mutex_lock(&g->lock);
    if (g->kill) kill_add(w, g);
    for (struct session *s = w->sessions.sessions; s && !g->none && !g->kill; s = s->next) {
        if (!g->lines) {
            if (type_matches(g, &s->client)) session_describe(s, &g->out, g->req);
            continue;
        }
        /* In the order the ids were given, each time it is given, as Redis lists them. */
        for (uint32_t i = 0; i < g->nids; i++)
            if (g->ids[i] == s->client.id) session_describe(s, &g->lines[i], g->req);
    }
    int last = --g->pending == 0;
    pthread_mutex_unlock(&g->lock);
    if (!last) return;
    struct chan_msg m = {.type = WORKER_MSG_GATHER_DONE, .ptr = g};
    if (g->origin == w)
        worker_on_msg(&m, w);
    else
        chan_send(&g->origin->inbox, &m);
}

static void gather_free_lines(struct gather *g)
{
    for (uint32_t i = 0; g->lines && i < g->nids; i++) sbuf_free(&g->lines[i]);
    px_free(g->lines);
    g->lines = NULL;
}

/* Sends g to every worker, the origin included (last). */
static void gather_send(struct worker *w, struct gather *g)
{
    g->moves0 = atomic_load(&moves_started);
    g->moving0 = atomic_load(&moves_in_flight) > 0;
    g->pending = w->nall;
    for (int i = 0; i < w->nall; i++) {
        if (w->all[i] == w) continue;
        struct chan_msg m = {.type = WORKER_MSG_GATHER, .ptr = g};
        chan_send(&w->all[i]->inbox, &m);
    }
    gather_add(w, g);
}

static void gather_done(struct worker *w, struct gather *g)
{
    if (g->tries < GATHER_TRIES && (g->moving0 || atomic_load(&moves_started) != g->moves0)) {
        /* Again, from scratch (CLIENT KILL keeps its count: the clients it closed are gone). */
        g->tries++;
        sbuf_clear(&g->out);
        for (uint32_t i = 0; g->lines && i < g->nids; i++) sbuf_clear(&g->lines[i]);
        gather_send(w, g);
        return;
    }
    struct sbuf *sb = &w->local.out;
    sbuf_clear(sb);
    int resp = g->req->client ? g->req->client->resp : 2;
    if (g->kill && g->old_form) {
        if (g->killed)
            resp_write_simple(sb, "OK");
        else
            errors_no_such_client(sb);
    } else if (g->kill) {
        resp_write_int(sb, g->killed);
    } else {
        for (uint32_t i = 0; g->lines && i < g->nids; i++)
            sbuf_put(&g->out, g->lines[i].buf ? g->lines[i].buf : "", g->lines[i].len);
        resp_write_verbatim(sb, "txt", g->out.buf ? g->out.buf : "", g->out.len, resp);
    }
    g->req->state = REQ_NEW;
    request_reply_bytes(&w->rp, g->req, sb->buf, sb->len);
    sbuf_free(&g->out);
    gather_free_lines(g);
    px_free(g->ids);
    pthread_mutex_destroy(&g->lock);
    px_free(g);
}

/* Reads CLIENT LIST's options into g, as Redis 7.0 reads them: one filter, either TYPE t alone
 * or ID id [id ...] (every argument after ID an id). An id only has to be an integer: one no
 * client has (0, -1) lists nothing. Returns 0, or -1 with the error in out. */
static int gather_options(struct gather *g, const struct request *r, struct sbuf *out)
{
    if (r->argc == 4 && request_arg_is(r, 2, "type")) {
        if (request_arg_is(r, 3, "normal")) {
            g->type = GATHER_NORMAL;
        } else if (request_arg_is(r, 3, "pubsub")) {
            g->type = GATHER_PUBSUB;
        } else if (request_arg_is(r, 3, "master") || request_arg_is(r, 3, "replica") ||
                   request_arg_is(r, 3, "slave")) {
            g->none = 1;
        } else {
            errors_unknown_client_type(out, request_arg(r, 3), r->argv[3].len);
            return -1;
        }
        return 0;
    }
    if (r->argc > 3 && request_arg_is(r, 2, "id")) {
        g->nids = r->argc - 3;
        g->ids = px_malloc(g->nids * sizeof(uint64_t));
        for (uint32_t i = 3; i < r->argc; i++) {
            long long id;
            if (!resp_str2ll(request_arg(r, i), r->argv[i].len, &id)) {
                errors_invalid_client_id(out);
                return -1;
            }
            g->ids[i - 3] = (uint64_t)id; /* a negative id matches no client */
        }
        g->lines = px_calloc(g->nids, sizeof(struct sbuf));
        return 0;
    }
    if (r->argc != 2) {
        errors_syntax(out);
        return -1;
    }
    return 0;
}

/* CLIENT KILL's filters, as Redis 7.0 reads them. Returns 0, or -1 with the error in out. */
static int kill_options(struct worker *w, struct gather *g, const struct request *r,
                        struct sbuf *out)
{
    g->kill = 1;
    g->skip_id = r->client ? r->client->id : 0;
    if (r->argc == 3) { /* the old form: CLIENT KILL addr:port */
        g->old_form = 1;
        g->skip_id = 0;
        snprintf(g->addr, sizeof(g->addr), "%.*s", (int)r->argv[2].len, request_arg(r, 2));
        g->has_addr = 1;
        return 0;
    }
    for (uint32_t i = 2; i < r->argc; i += 2) {
        if (i + 1 >= r->argc) {
            errors_syntax(out);
            return -1;
        }
        const char *v = request_arg(r, i + 1);
        uint32_t vl = r->argv[i + 1].len;
        if (request_arg_is(r, i, "id")) {
            long long id;
            if (!resp_str2ll(v, vl, &id) || id <= 0) {
                errors_client_id_positive(out);
                return -1;
            }
            g->ids = px_realloc(g->ids, sizeof(uint64_t));
            g->ids[0] = (uint64_t)id;
            g->nids = 1;
        } else if (request_arg_is(r, i, "type")) {
            if (request_arg_is(r, i + 1, "normal")) {
                g->type = GATHER_NORMAL;
            } else if (request_arg_is(r, i + 1, "pubsub")) {
                g->type = GATHER_PUBSUB;
            } else if (request_arg_is(r, i + 1, "master") || request_arg_is(r, i + 1, "replica") ||
                       request_arg_is(r, i + 1, "slave")) {
                g->none = 1; /* the proxy has no replication clients */
            } else {
                errors_unknown_client_type(out, v, vl);
                return -1;
            }
        } else if (request_arg_is(r, i, "addr")) {
            snprintf(g->addr, sizeof(g->addr), "%.*s", (int)vl, v);
            g->has_addr = 1;
        } else if (request_arg_is(r, i, "laddr")) {
            snprintf(g->laddr, sizeof(g->laddr), "%.*s", (int)vl, v);
            g->has_laddr = 1;
        } else if (request_arg_is(r, i, "user")) {
            if (!acl_users_find(w->acl.users, v, vl)) {
                errors_no_such_user(out, v, vl);
                return -1;
            }
            snprintf(g->user, sizeof(g->user), "%.*s", (int)vl, v);
            g->has_user = 1;
        } else if (request_arg_is(r, i, "skipme")) {
            if (request_arg_is(r, i + 1, "yes")) {
                g->skip_id = r->client ? r->client->id : 0;
            } else if (request_arg_is(r, i + 1, "no")) {
                g->skip_id = 0;
            } else {
                errors_syntax(out);
                return -1;
            }
        } else {
            errors_syntax(out);
            return -1;
        }
    }
    return 0;
}

/* CLIENT LIST (local.c's callback): collects the sessions of every worker, then answers r. */
static void worker_client_list(void *up, struct request *r)
{
    struct worker *w = up;
    struct gather *g = px_calloc(1, sizeof(*g));
    sbuf_clear(&w->local.out);
    int kill = r->cmd->local_id == LOCAL_CLIENT_KILL;
    if ((kill ? kill_options(w, g, r, &w->local.out) : gather_options(g, r, &w->local.out)) < 0) {
        gather_free_lines(g);
        px_free(g->ids);
        px_free(g);
        r->flags |= REQ_F_REJECTED;
        request_reply_bytes(&w->rp, r, w->local.out.buf, w->local.out.len);
        return;
    }
    pthread_mutex_init(&g->lock, NULL);
    sbuf_init(&g->out);
    g->origin = w;
    g->req = r;
    r->state = REQ_GATHER;
    gather_send(w, g);
}

/* ---- ACL changes across workers ---- */

/* The worker whose client changed the users sends this to every worker; each takes the new set
 * and the last hands it back to the origin, which answers the request (kept in state
 * REQ_GATHER meanwhile, as CLIENT LIST's). */
struct acl_gather {
    pthread_mutex_t lock;
    int pending;
    struct worker *origin;
    struct request *req;
    uint64_t client_id; /* the client that asked: closed after its reply, not before */
    size_t len;
    char reply[];
};

/* Closes s as Redis closes a client whose user went away; the client that made the change gets
 * its reply first (Redis's CLIENT_CLOSE_AFTER_COMMAND). */
static void acl_close_client(struct session *s, const struct acl_local *nl, uint64_t self_id)
{
    struct client *c = &s->client;
    (void)nl;
    client_set_user(c, NULL, 1);
    c->authed = 0;
    if (c->id == self_id) {
        c->close_after = 1;
        s->flags |= SESS_CLOSE_AFTER;
    } else {
        session_close(s);
    }
}

/* Whether every subscription of c is still allowed to its user's new rules
 * (ACLKillPubsubClientsIfNeeded). */
static int acl_subscriptions_kept(const struct client *c, const struct acl_user *nu,
                                  const struct acl_user *ou)
{
    const struct pubsub_subs *subs = pubsub_client_subs(c);
    if (!subs || !pubsub_subscribed(c) || !acl_pubsub_revoked(nu, ou)) return 1;
    const struct strset *sets[3] = {&subs->patterns, &subs->channels, &subs->shard};
    for (int k = 0; k < 3; k++)
        for (uint32_t i = 0; i < sets[k]->cap; i++) {
            const struct strset_item *it = &sets[k]->items[i];
            if (it->key && !acl_channel_kept(nu, it->key, it->len, k == 0)) return 0;
        }
    return 1;
}

/* Takes the current set of users: every client follows its user into it. */
static void worker_acl_apply(struct worker *w, uint64_t self_id)
{
    struct acl_local nl = {0};
    acl_local_sync(&nl);
    if (nl.users == w->acl.users) {
        acl_local_release(&nl);
        return;
    }
    struct session *next;
    for (struct session *s = w->sessions.sessions; s; s = next) {
        next = s->next;
        struct client *c = &s->client;
        const struct acl_user *ou = client_user(c);
        const struct acl_user *nu = ou ? acl_users_find_uid(nl.users, ou->uid) : nl.dflt;
        if (!ou) ou = w->acl.dflt;
        if (!nu || (nu != ou && !acl_subscriptions_kept(c, nu, ou))) {
            acl_close_client(s, &nl, self_id);
            continue;
        }
        if (nu != ou) {
            uint8_t tx;
            int slot;
            txn_route_state(c, &tx, &slot);
            if (tx == RT_TX_MULTI) c->acl_changed = 1;
        }
        if (client_user(c)) c->x->user = nu;
    }
    inner_acl_follow(&w->inner, nl.users);
    struct acl_local old = w->acl;
    w->acl = nl;
    acl_local_release(&old);
}

static void acl_gather_add(struct worker *w, struct acl_gather *g)
{
    if (!w->stopping) worker_acl_apply(w, g->origin == w ? g->client_id : 0);
    pthread_mutex_lock(&g->lock);
    int last = --g->pending == 0;
    pthread_mutex_unlock(&g->lock);
    if (!last) return;
    struct chan_msg m = {.type = WORKER_MSG_ACL_DONE, .ptr = g};
    if (g->origin == w)
        worker_on_msg(&m, w);
    else
        chan_send(&g->origin->inbox, &m);
}

static void acl_gather_done(struct worker *w, struct acl_gather *g)
{
    g->req->state = REQ_NEW;
    request_reply_bytes(&w->rp, g->req, g->reply, g->len);
    pthread_mutex_destroy(&g->lock);
    px_free(g);
}

/* aclcmd's publish: every worker takes the new set, then r is answered with reply. */
static void worker_acl_publish(void *up, struct request *r, const char *reply, size_t len)
{
    struct worker *w = up;
    struct acl_gather *g = px_calloc(1, sizeof(*g) + len);
    pthread_mutex_init(&g->lock, NULL);
    g->pending = w->nall;
    g->origin = w;
    g->req = r;
    g->client_id = r->client ? r->client->id : 0;
    g->len = len;
    memcpy(g->reply, reply, len);
    r->state = REQ_GATHER;
    for (int i = 0; i < w->nall; i++) {
        if (w->all[i] == w) continue;
        struct chan_msg m = {.type = WORKER_MSG_ACL_SYNC, .ptr = g};
        chan_send(&w->all[i]->inbox, &m);
    }
    acl_gather_add(w, g);
}

/* ---- snapshots for the debug port ---- */

static void snap_unref(struct worker_snap *s)
{
    pthread_mutex_lock(&s->lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last) return;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->done);
    px_free(s->backends);
    sbuf_free(&s->clients);
    px_free(s->sessions);
    px_free(s->private_conns);
    px_free(s);
}

static void json_str(struct sbuf *o, const char *p, size_t len)
{
    sbuf_put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\')
            sbuf_printf(o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            sbuf_printf(o, "\\u%04x", c);
        else
            sbuf_put(o, &p[i], 1);
    }
    sbuf_put(o, "\"", 1);
}

/* This worker's runners, for the snapshot. */
static void snap_backends(struct worker *w, struct worker_snap *s)
{
    for (int i = 0; i < w->view.nbackends; i++) {
        struct backend *b = w->view.backends[i];
        if (s->nbackends == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 32;
            s->backends = px_realloc(s->backends, (size_t)s->cap * sizeof(*s->backends));
        }
        struct snap_backend *x = &s->backends[s->nbackends++];
        x->worker = w->id;
        snprintf(x->addr, sizeof(x->addr), "%s", backend_addr(b));
        x->readonly = backend_readonly(b);
        x->state = backend_get_state(b);
        x->failing = backend_failing(b);
        x->inflight = backend_inflight(b);
        backend_get_stats(b, &x->st);
        snprintf(x->last_error, sizeof(x->last_error), "%s", backend_last_error(b));
    }
}

/* One session as a JSON object, for /debug/clients. */
static void snap_client(struct worker *w, struct session *ss, struct sbuf *o, uint64_t now)
{
    char addr[64] = "?";
    sock_peer_name(ss->client.fd, addr, sizeof(addr));
    sbuf_printf(o, "{\"worker\":%d,\"id\":%llu,\"addr\":\"%s\",\"name\":", w->id,
                (unsigned long long)ss->client.id, addr);
    const char *name = client_name(&ss->client);
    json_str(o, name ? name : "", name ? strlen(name) : 0);
    sbuf_printf(o,
                ",\"age_seconds\":%llu,\"idle_seconds\":%llu,\"queued\":%u,"
                "\"output_bytes\":%zu,\"subscribed\":%s,\"transaction\":%s}",
                (unsigned long long)((now - ss->created_ms) / 1000),
                (unsigned long long)((now - ss->last_ms) / 1000), ss->nqueued, ss->out.bytes,
                pubsub_subscribed(&ss->client) ? "true" : "false",
                txn_active(&ss->client) ? "true" : "false");
}

/* This worker's part of a snapshot, under the snapshot's lock. */
static void snap_fill(struct worker *w, struct worker_snap *s)
{
    snap_backends(w, s);
    int n = 0;
    uint32_t priv = 0;
    uint64_t now = loop_now_ms(w->loop);
    for (struct session *ss = w->sessions.sessions; ss; ss = ss->next, n++) {
        priv += priv_count(&ss->client);
        if (s->nclients >= s->clients_max) {
            if (s->clients_max) s->clients_truncated = 1;
            continue;
        }
        s->nclients++;
        if (s->clients.len) sbuf_put(&s->clients, ",", 1);
        snap_client(w, ss, &s->clients, now);
    }
    s->sessions[w->id] = n;
    s->private_conns[w->id] = (int)(priv + priv_pool_idle(&w->priv));
}

static void snap_answer(struct worker *w, struct worker_snap *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->abandoned) snap_fill(w, s);
    s->pending--;
    pthread_cond_signal(&s->done);
    pthread_mutex_unlock(&s->lock);
    snap_unref(s);
}

struct worker_snap *worker_snapshot(struct worker **all, int n, uint64_t timeout_ms,
                                    int clients_max)
{
    struct worker_snap *s = px_calloc(1, sizeof(*s));
    s->clients_max = clients_max;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->done, NULL);
    sbuf_init(&s->clients);
    s->sessions = px_calloc((size_t)n + 1, sizeof(int));
    s->private_conns = px_calloc((size_t)n + 1, sizeof(int));
    s->pending = n;
    s->refs = n + 1;
    for (int i = 0; i < n; i++) {
        struct chan_msg m = {.type = WORKER_MSG_SNAPSHOT, .ptr = s};
        chan_send(&all[i]->inbox, &m);
    }
    struct timespec ts;
    clock_deadline_ts(timeout_ms, &ts);
    pthread_mutex_lock(&s->lock);
    while (s->pending > 0)
        if (pthread_cond_timedwait(&s->done, &s->lock, &ts) == ETIMEDOUT) break;
    s->abandoned = 1; /* late answers add nothing to what the caller reads now */
    pthread_mutex_unlock(&s->lock);
    return s;
}

void worker_snap_put(struct worker_snap *s)
{
    snap_unref(s);
}

/* ---- the loop ---- */

/* Graceful shutdown: nothing more is read; each session closes once its replies are out. */
static void worker_start_drain(struct worker *w)
{
    w->draining = 1;
    session_drain_all(&w->sessions);
    inner_drain(&w->inner);
    loop_timer_start(w->loop, &w->drain_timer, DRAIN_TICK_MS);
}

/* Lingering sessions close once their clients have acknowledged every reply. */
static void worker_drain_timer(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    session_linger_all(&w->sessions);
    loop_timer_start(l, &w->drain_timer, DRAIN_TICK_MS);
}

static void worker_on_msg(struct chan_msg *m, void *ctx)
{
    struct worker *w = ctx;
    switch (m->type) {
    case WORKER_MSG_CONN:
    case WORKER_MSG_CONN_TLS:
    case WORKER_MSG_CONN_TLS_DENIED:
    case WORKER_MSG_CONN_TLS_FULL: {
        struct session *s = NULL;
        if (!w->stopping && !w->draining) {
            if (m->type == WORKER_MSG_CONN)
                s = session_create(&w->sessions, m->fd, m->u64);
            else
                s = session_create_tls(&w->sessions, m->fd, m->u64,
                                       m->type == WORKER_MSG_CONN_TLS_DENIED ? SESSION_REFUSE_DENIED
                                       : m->type == WORKER_MSG_CONN_TLS_FULL
                                           ? SESSION_REFUSE_MAXCLIENTS
                                           : SESSION_SERVE);
        }
        if (!s) {
            close(m->fd);
            /* Relaxed: see session_close. */
            atomic_fetch_sub_explicit(&w->nsessions, 1, memory_order_relaxed);
        }
        break;
    }
    case WORKER_MSG_MAP:
        if (w->stopping)
            slotmap_unref(m->ptr);
        else
            worker_apply_map(w, m->ptr);
        break;
    case WORKER_MSG_STOP:
        w->stopping = 1;
        loop_stop(w->loop);
        break;
    case WORKER_MSG_GATHER: gather_add(w, m->ptr); break;
    case WORKER_MSG_SNAPSHOT: snap_answer(w, m->ptr); break;
    case WORKER_MSG_DRAIN: worker_start_drain(w); break;
    case WORKER_MSG_GATHER_DONE: gather_done(w, m->ptr); break;
    case WORKER_MSG_ACL_SYNC: acl_gather_add(w, m->ptr); break;
    case WORKER_MSG_ACL_DONE: acl_gather_done(w, m->ptr); break;
    case WORKER_MSG_ADOPT:
        worker_adopt(w, m->ptr);
        break;
    case WORKER_MSG_BYTES: {
        struct worker_trk_msg *tm = m->ptr;
        if (!w->stopping && !worker_deliver_local(w, tm->id, tm->payload, tm->len)) {
            worker_not_yet(w, m);
            break;
        }
        px_free(tm);
        break;
    }
    case WORKER_MSG_TRACKING: {
        struct worker_trk_msg *tm = m->ptr;
        if (!w->stopping && !tracking_deliver_remote(&w->trk, tm->id, tm->payload, tm->len)) {
            worker_not_yet(w, m);
            break;
        }
        px_free(tm);
        break;
    }
    case WORKER_MSG_VERDICT:
        if (!w->stopping) forward_verdict(&w->fwd, m->ptr, (enum topology_verdict)m->fd);
        px_free(m->ptr);
        break;
    case WORKER_MSG_CALL:
        if (w->stopping)
            inner_refuse(m->ptr);
        else
            inner_run(&w->inner, m->ptr);
        break;
    case WORKER_MSG_CALL_CANCEL: inner_cancel(&w->inner, m->ptr); break;
    }
}

static void worker_before_sleep(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    if (forward_kicked(&w->fwd)) forward_process_held(&w->fwd);
    /* Private connections closed during the turn (RESET, UNSUBSCRIBE, a client gone) close
     * before the replies go out: a client that was told it is unsubscribed is, at the node.
     * Bytes they queued this turn are never written (priv_free_dead unqueues their runners). */
    priv_free_dead(&w->priv);
    /* Requests out first, then replies; a flush may queue more of either, so go until quiet. */
    for (int rounds = 0; rounds < 4 && (w->view.nflush || w->sessions.flush_head); rounds++) {
        view_flush(&w->view);
        session_flush_all(&w->sessions);
    }
    session_free_dead(&w->sessions);
    inner_free_dead(&w->inner);
    priv_free_dead(&w->priv);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "worker-%d", w->id);
    log_set_thread_name(name);
    px_mem_thread_arena();
    busy_bind(w->id);
    if (w->nall > 1 && w->cfg->worker_busy > 0) loop_timer_start(w->loop, &w->balance, BAL_TICK_MS);
    loop_run(w->loop);
    /* Stopping: close every client, then every node connection. */
    session_close_all(&w->sessions);
    inner_close_all(&w->inner);
    worker_before_sleep(w->loop, w);
    return NULL;
}

int worker_start(struct worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    return rc ? -rc : 0;
}

void worker_stop(struct worker *w)
{
    struct chan_msg m = {.type = WORKER_MSG_STOP};
    chan_send(&w->inbox, &m);
    pthread_join(w->thread, NULL);
}

void worker_drain(struct worker *w)
{
    struct chan_msg m = {.type = WORKER_MSG_DRAIN};
    chan_send(&w->inbox, &m);
}

unsigned worker_sessions_open(struct worker *const *all, int n)
{
    unsigned total = 0;
    for (int i = 0; i < n; i++)
        total += atomic_load_explicit(&all[i]->nsessions, memory_order_relaxed);
    return total;
}

void worker_give_conn(struct worker *w, int fd, uint64_t id)
{
    struct chan_msg m = {.type = WORKER_MSG_CONN, .fd = fd, .u64 = id};
    chan_send(&w->inbox, &m);
}

void worker_give_conn_tls(struct worker *w, int fd, uint64_t id, enum session_refuse refuse)
{
    int type = refuse == SESSION_REFUSE_DENIED       ? WORKER_MSG_CONN_TLS_DENIED
               : refuse == SESSION_REFUSE_MAXCLIENTS ? WORKER_MSG_CONN_TLS_FULL
                                                     : WORKER_MSG_CONN_TLS;
    struct chan_msg m = {.type = type, .fd = fd, .u64 = id};
    chan_send(&w->inbox, &m);
}

void worker_call(struct worker *w, struct inner_call *call)
{
    struct chan_msg m = {.type = WORKER_MSG_CALL, .ptr = call};
    chan_send(&w->inbox, &m);
}

void worker_cancel_call(struct worker *w, struct inner_call *call)
{
    inner_call_ref(call);
    struct chan_msg m = {.type = WORKER_MSG_CALL_CANCEL, .ptr = call};
    chan_send(&w->inbox, &m);
}

void worker_give_map(struct worker *w, struct slotmap *m)
{
    struct chan_msg msg = {.type = WORKER_MSG_MAP, .ptr = m};
    chan_send(&w->inbox, &msg);
}

void worker_give_verdict(struct worker *w, const char *addr, enum topology_verdict v)
{
    struct chan_msg msg = {.type = WORKER_MSG_VERDICT, .ptr = px_strdup(addr), .fd = (int)v};
    chan_send(&w->inbox, &msg);
}

void worker_free(struct worker *w)
{
    if (!w) return;
    w->stopping = 1;
    /* Connections and maps still queued in the inbox: closed and released. */
    chan_drain(&w->inbox);
    inner_close_all(&w->inner); /* a worker that never ran may have calls (none when it ran) */
    monfeed_deinit(&w->monfeed); /* its streams are private connections */
    priv_pool_deinit(&w->priv);
    /* Runners first: failing their FIFOs frees the requests that were still in flight. */
    view_deinit(&w->view);
    forward_deinit(&w->fwd);
    session_free_dead(&w->sessions);
    inner_free_dead(&w->inner);
    request_pool_deinit(&w->rp);
    chan_deinit(&w->inbox, w->loop);
    fanout_ctx_deinit(&w->fanout);
    txn_ctx_deinit(&w->txn);
    pubsub_ctx_deinit(&w->pubsub);
    tracking_deinit(&w->trk);
    admin_deinit(&w->admin);
    local_ctx_deinit(&w->local);
    aclcmd_deinit(&w->aclcmd);
    acl_local_release(&w->acl);
    dispatch_deinit(&w->dispatch);
    cross_ctx_deinit(&w->cross);
    for (uint32_t id = 0; id <= commands_count(); id++)
        px_free(atomic_load_explicit(&w->stats.cmds[id].lat, memory_order_relaxed));
    px_free(w->stats.cmds);
    scripts_local_free(w->scripts);
    keys_result_free(&w->keys);
    /* The loop first: its receive buffers go back to the pool. */
    loop_free(w->loop);
    buf_pool_deinit(&w->pool);
    px_free(w);
}

/* CONFIG RESETSTAT, for the proxy's own INFO (admin.c calls it once the nodes have reset). */
static void worker_reset_stats(void *up)
{
    struct worker *w = up;
    info_reset_stats(w->info.src);
}
