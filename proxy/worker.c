/*
 * Worker threads; see worker.h. Each turn of a worker's loop: client and node sockets are served,
 * timers fire, then the before-sleep hook re-sends held requests if something changed, writes
 * every backend's queued requests (one writev each), writes every session's replies, and frees the
 * sessions closed during the turn.
 */
#include "worker.h"

#include "clock.h"
#include "dispatch.h"
#include "errors.h"
#include "log.h"
#include "mem.h"
#include "commands.h"
#include "private.h"
#include "pubsub.h"
#include "request.h"
#include "scripts.h"
#include "session.h"
#include "sock.h"
#include "txn.h"

#include <errno.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WORKER_CHUNK_SIZE (16 * 1024)
#define WORKER_POOL_KEEP  256 /* free chunks a worker keeps (4 MiB) */
#define HELD_TICK_MS      50  /* the held list is looked at least this often */
#define DRAIN_TICK_MS     10  /* graceful shutdown: lingering sessions are looked at this often */
#define WORKER_CRON_MS    1000
#define WORKER_POOL_MIN   4           /* free chunks always kept (64 KiB) */
#define WORKER_REQS_MIN   64          /* free requests always kept */
#define WORKER_SBUF_KEEP  (64 * 1024) /* scratch buffers larger than this are freed when idle */

static void worker_on_msg(struct chan_msg *m, void *ctx);
static void worker_start_drain(struct worker *w);
static void worker_before_sleep(struct loop *l, void *ctx);
static void worker_held_timer(struct loop *l, void *ctx);
static void worker_drain_timer(struct loop *l, void *ctx);
static void worker_cron(struct loop *l, void *ctx);

struct worker *worker_create(int id, const struct config *cfg, struct topology *topo,
                             struct script_cache *scripts)
{
    struct worker *w = px_calloc_aligned(_Alignof(struct worker), sizeof(*w));
    w->id = id;
    w->cfg = cfg;
    w->topo = topo;
    w->scripts = scripts;
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
    buf_pool_init(&w->pool, WORKER_CHUNK_SIZE, WORKER_POOL_KEEP);
    w->view_idx = px_calloc(CRC16_SLOTS, sizeof(*w->view_idx));
    w->view_cap = 8;
    w->view_ent = px_calloc(w->view_cap, sizeof(*w->view_ent));
    w->view_ent[0].shard = -1;
    w->nview = 1;
    w->bopts.connect_timeout_ms = cfg->connect_timeout_ms;
    w->bopts.user = cfg->user;
    w->bopts.password = cfg->password;
    w->bopts.keepalive_s = cfg->tcp_keepalive_s;
    w->bopts.timeout_ms = cfg->backend_timeout_ms;
    w->bopts_ro = w->bopts;
    w->bopts_ro.readonly = 1;
    loop_timer_init(&w->held_timer, worker_held_timer, w);
    loop_timer_init(&w->drain_timer, worker_drain_timer, w);
    loop_timer_init(&w->cron, worker_cron, w);
    resp_req_limits_default(&w->lim);
    w->lim.max_bulk = (long long)cfg->proto_max_bulk;
    w->lim_unauth = w->lim;
    w->lim_unauth.unauth = 1;
    sbuf_init(&w->scratch);
    sbuf_init(&w->merge);
    keys_result_init(&w->keys);
    w->slot_part = px_malloc(CRC16_SLOTS * sizeof(*w->slot_part));
    for (int i = 0; i < CRC16_SLOTS; i++) w->slot_part[i] = -1;
    w->rng = clock_wall_us() ^ ((uint64_t)(id + 1) << 32) ^ 0x9E3779B97F4A7C15ull;
    w->stats.cmds = px_calloc(commands_count() + 1, sizeof(*w->stats.cmds));
    atomic_init(&w->nsessions, 0);
    loop_set_before_sleep(w->loop, worker_before_sleep, w);
    loop_timer_start(w->loop, &w->cron, WORKER_CRON_MS);
    return w;
}

/* Once a second: clients idle longer than -timeout, and clients whose unread output stayed over
 * the soft limit too long, are closed; memory a burst left behind (free chunks nobody used in the
 * last second, oversized scratch buffers) goes back to the allocator. */
static void worker_cron(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    uint64_t now = loop_now_ms(l);
    struct session *s = w->sessions;
    while (s) {
        struct session *next = s->next;
        session_cron(s, now);
        s = next;
    }
    buf_pool_trim_unused(&w->pool, WORKER_POOL_MIN);
    request_pool_trim_unused(w, WORKER_REQS_MIN);
    sbuf_trim(&w->scratch, WORKER_SBUF_KEEP);
    sbuf_trim(&w->merge, WORKER_SBUF_KEEP);
    loop_timer_start(l, &w->cron, WORKER_CRON_MS);
}

static struct backend *backend_for(struct worker *w, const char *ip, int port, int ro)
{
    for (int i = 0; i < w->nbackends; i++) {
        struct backend *b = w->backends[i];
        if (backend_port(b) == port && strcmp(backend_ip(b), ip) == 0 && backend_readonly(b) == ro)
            return b;
    }
    if (w->nbackends == w->backends_cap) {
        w->backends_cap = w->backends_cap ? w->backends_cap * 2 : 16;
        w->backends = px_realloc(w->backends, (size_t)w->backends_cap * sizeof(*w->backends));
    }
    struct backend *b = backend_create(w->loop, &w->pool, &dispatch_backend_ops, w,
                                       ro ? &w->bopts_ro : &w->bopts, ip, port);
    w->backends[w->nbackends++] = b;
    stat_add(&w->stats.nbackends, 1);
    return b;
}

struct backend *worker_backend(struct worker *w, const char *ip, int port)
{
    return backend_for(w, ip, port, 0);
}

struct backend *worker_backend_ro(struct worker *w, const char *ip, int port)
{
    return backend_for(w, ip, port, 1);
}

/* Frees the runners of nodes that left the cluster and have nothing in flight. The view has just
 * been rebuilt from the map, so nothing else points at them. */
static void worker_sweep_backends(struct worker *w, const struct slotmap *m)
{
    int k = 0;
    for (int i = 0; i < w->nbackends; i++) {
        struct backend *b = w->backends[i];
        if (slotmap_find_addr(m, backend_addr(b)) < 0 && backend_inflight(b) == 0) {
            int n = 0;
            for (int j = 0; j < w->nbflush; j++)
                if (w->bflush[j] != b) w->bflush[n++] = w->bflush[j];
            w->nbflush = n;
            backend_free(b);
            atomic_store_explicit(&w->stats.nbackends, stat_get(&w->stats.nbackends) - 1,
                                  memory_order_relaxed);
            continue;
        }
        w->backends[k++] = b;
    }
    w->nbackends = k;
}

/* Rebuilds the worker's view from a new map. */
static void worker_apply_map(struct worker *w, struct slotmap *m)
{
    struct backend **shard_b = px_calloc((size_t)m->nshards + 1, sizeof(*shard_b));
    w->nmasters = 0;
    w->masters = px_realloc(w->masters, (size_t)(m->nshards + 1) * sizeof(*w->masters));
    for (int i = 0; i < m->nshards; i++) {
        const struct slotmap_node *n = &m->nodes[m->shards[i].master];
        shard_b[i] = worker_backend(w, n->ip, n->port);
        w->masters[w->nmasters++] = shard_b[i];
    }
    /* The view: entry 0 unserved, then one per shard that serves slots, in the order first
     * seen (so at most one per slot: the index always fits). */
    uint32_t *ent_of = px_calloc((size_t)m->nshards + 1, sizeof(*ent_of));
    w->nview = 1;
    for (int s = 0; s < CRC16_SLOTS; s++) {
        int sh = m->slot_shard[s];
        if (sh < 0) {
            w->view_idx[s] = 0;
            continue;
        }
        if (!ent_of[sh]) {
            if (w->nview == w->view_cap) {
                w->view_cap *= 2;
                w->view_ent = px_realloc(w->view_ent, w->view_cap * sizeof(*w->view_ent));
            }
            w->view_ent[w->nview].b = shard_b[sh];
            w->view_ent[w->nview].shard = sh;
            ent_of[sh] = w->nview++;
        }
        w->view_idx[s] = (uint16_t)ent_of[sh];
    }
    px_free(ent_of);
    /* Replicas for reads (only marked usable when the topology thread probes them). */
    for (int i = 0; i < w->nshards; i++) px_free(w->shards[i].replicas);
    w->shards = px_realloc(w->shards, (size_t)(m->nshards + 1) * sizeof(*w->shards));
    w->nshards = m->nshards;
    for (int i = 0; i < m->nshards; i++) {
        struct wshard *ws = &w->shards[i];
        const struct slotmap_shard *sh = &m->shards[i];
        memset(ws, 0, sizeof(*ws));
        ws->master = shard_b[i];
        ws->replicas = px_malloc((size_t)(sh->nreplicas + 1) * sizeof(*ws->replicas));
        for (int local = 1; local >= 0; local--)
            for (int j = 0; j < sh->nreplicas; j++) {
                const struct slotmap_node *n = &m->nodes[sh->replicas[j]];
                if (!n->usable || config_in_idc(w->cfg, n->ip) != local) continue;
                ws->replicas[ws->nreplicas++] = worker_backend_ro(w, n->ip, n->port);
                if (local) ws->nlocal++;
            }
    }
    px_free(shard_b);
    worker_sweep_backends(w, m);
    slotmap_unref(w->map);
    w->map = m;
    worker_kick_held(w);
    pubsub_on_map(w);
}

void worker_view_patch(struct worker *w, int slot, struct backend *b)
{
    if (w->view_ent[w->view_idx[slot]].b == b) return; /* already there, shard and all */
    uint32_t k = 1;
    while (k < w->nview && !(w->view_ent[k].b == b && w->view_ent[k].shard < 0)) k++;
    if (k == w->nview) {
        if (k > UINT16_MAX) return; /* no room: the refresh a MOVED asks for will bring it */
        if (w->nview == w->view_cap) {
            w->view_cap *= 2;
            w->view_ent = px_realloc(w->view_ent, w->view_cap * sizeof(*w->view_ent));
        }
        w->view_ent[k].b = b;
        w->view_ent[k].shard = -1;
        w->nview++;
    }
    w->view_idx[slot] = (uint16_t)k;
}

/*
 * CLIENT LIST across workers: the origin sends the gather to every other worker; each appends
 * its sessions under the gather's lock and the last one hands it back to the origin, which
 * answers the request (kept in state REQ_GATHER meanwhile, so a closing session leaves it be).
 */
struct gather {
    pthread_mutex_t lock;
    int pending;
    struct worker *origin;
    struct request *req;
    struct sbuf out;
    uint64_t *ids; /* CLIENT LIST ID ...: only these; NULL for all */
    uint32_t nids;
    int none; /* CLIENT LIST TYPE master|replica|pubsub: nothing matches */
};

static void gather_add(struct worker *w, struct gather *g)
{
    pthread_mutex_lock(&g->lock);
    for (struct session *s = w->sessions; s && !g->none; s = s->next) {
        int keep = !g->ids;
        for (uint32_t i = 0; g->ids && i < g->nids; i++)
            if (g->ids[i] == s->id) keep = 1;
        if (keep) session_describe(s, &g->out);
    }
    int last = --g->pending == 0;
    pthread_mutex_unlock(&g->lock);
    if (!last) return;
    if (g->origin == w) {
        struct chan_msg m = {.type = WORKER_MSG_GATHER_DONE, .ptr = g};
        worker_on_msg(&m, w);
    } else {
        struct chan_msg m = {.type = WORKER_MSG_GATHER_DONE, .ptr = g};
        chan_send(&g->origin->inbox, &m);
    }
}

static void gather_done(struct worker *w, struct gather *g)
{
    struct sbuf *sb = &w->scratch;
    sbuf_clear(sb);
    resp_write_bulk(sb, g->out.buf ? g->out.buf : "", g->out.len);
    g->req->state = REQ_NEW;
    request_reply_bytes(w, g->req, sb->buf, sb->len);
    sbuf_free(&g->out);
    px_free(g->ids);
    pthread_mutex_destroy(&g->lock);
    px_free(g);
}

void worker_client_list(struct worker *w, struct request *r)
{
    struct gather *g = px_calloc(1, sizeof(*g));
    for (uint32_t i = 2; i < r->argc; i++) {
        const char *a = request_arg(r, i);
        uint32_t l = r->argv[i].len;
        if (l == 4 && strncasecmp(a, "type", 4) == 0 && i + 1 < r->argc) {
            const char *t = request_arg(r, i + 1);
            uint32_t tl = r->argv[i + 1].len;
            if (tl == 6 && strncasecmp(t, "normal", 6) == 0) {
            } else if ((tl == 6 && strncasecmp(t, "master", 6) == 0) ||
                       (tl == 7 && strncasecmp(t, "replica", 7) == 0) ||
                       (tl == 5 && strncasecmp(t, "slave", 5) == 0) ||
                       (tl == 6 && strncasecmp(t, "pubsub", 6) == 0)) {
                g->none = 1;
            } else {
                sbuf_clear(&w->scratch);
                resp_write_errorf(&w->scratch, "ERR Unknown client type '%.*s'", (int)tl, t);
                goto fail;
            }
            i++;
        } else if (l == 2 && strncasecmp(a, "id", 2) == 0 && i + 1 < r->argc) {
            for (i++; i < r->argc; i++) {
                long long id;
                if (!resp_str2ll(request_arg(r, i), r->argv[i].len, &id) || id <= 0) {
                    sbuf_clear(&w->scratch);
                    resp_write_errorf(&w->scratch, "ERR Invalid client ID");
                    goto fail;
                }
                g->ids = px_realloc(g->ids, (g->nids + 1) * sizeof(uint64_t));
                g->ids[g->nids++] = (uint64_t)id;
            }
        } else {
            sbuf_clear(&w->scratch);
            resp_write_errorf(&w->scratch, "ERR syntax error");
            goto fail;
        }
    }
    pthread_mutex_init(&g->lock, NULL);
    sbuf_init(&g->out);
    g->origin = w;
    g->req = r;
    g->pending = w->nall;
    r->state = REQ_GATHER;
    for (int i = 0; i < w->nall; i++) {
        if (w->all[i] == w) continue;
        struct chan_msg m = {.type = WORKER_MSG_GATHER, .ptr = g};
        chan_send(&w->all[i]->inbox, &m);
    }
    gather_add(w, g);
    return;
fail:
    px_free(g->ids);
    px_free(g);
    r->flags |= REQ_F_REJECTED;
    request_reply_bytes(w, r, w->scratch.buf, w->scratch.len);
}

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

/* This worker's part of a snapshot, under the snapshot's lock. */
static void snap_fill(struct worker *w, struct worker_snap *s)
{
    for (int i = 0; i < w->nbackends; i++) {
        struct backend *b = w->backends[i];
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
    int n = 0;
    uint64_t now = loop_now_ms(w->loop);
    for (struct session *ss = w->sessions; ss; ss = ss->next, n++) {
        if (s->nclients >= s->clients_max) {
            if (s->clients_max) s->clients_truncated = 1;
            continue;
        }
        s->nclients++;
        if (s->clients.len) sbuf_put(&s->clients, ",", 1);
        char addr[64] = "?";
        sock_peer_name(ss->fd, addr, sizeof(addr));
        sbuf_printf(&s->clients, "{\"worker\":%d,\"id\":%llu,\"addr\":\"%s\",\"name\":", w->id,
                    (unsigned long long)ss->id, addr);
        const char *name = session_name(ss);
        json_str(&s->clients, name ? name : "", name ? strlen(name) : 0);
        sbuf_printf(&s->clients,
                    ",\"age_seconds\":%llu,\"idle_seconds\":%llu,\"queued\":%u,"
                    "\"output_bytes\":%zu,\"subscribed\":%s,\"transaction\":%s}",
                    (unsigned long long)((now - ss->created_ms) / 1000),
                    (unsigned long long)((now - ss->last_ms) / 1000), ss->nqueued, ss->out.bytes,
                    session_pubsub(ss) && pubsub_subscribed(ss) ? "true" : "false",
                    session_tx_state(ss) != TX_NONE ? "true" : "false");
    }
    s->sessions[w->id] = n;
    int priv = 0;
    for (struct session *ss = w->sessions; ss; ss = ss->next)
        for (struct privconn *pc = ss->ext ? ss->ext->privs : NULL; pc; pc = pc->next) priv++;
    s->private_conns[w->id] = priv + (int)priv_pool_idle(w);
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

static void worker_on_msg(struct chan_msg *m, void *ctx)
{
    struct worker *w = ctx;
    switch (m->type) {
    case WORKER_MSG_CONN:
        if (w->stopping || w->draining || !session_create(w, m->fd, m->u64)) {
            close(m->fd);
            /* Relaxed: see session_close. */
            atomic_fetch_sub_explicit(&w->nsessions, 1, memory_order_relaxed);
        }
        break;
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
    }
}

void worker_want_flush(struct worker *w, struct session *s)
{
    if (s->flags & (SESS_FLUSH_QUEUED | SESS_CLOSED)) return;
    s->flags |= SESS_FLUSH_QUEUED;
    s->flush_next = w->flush_head;
    w->flush_head = s;
}

void worker_kick_held(struct worker *w)
{
    if (w->held) w->held_kick = 1;
}

/* The error for a request that waited for its node until -failover-hold ran out. */
static void worker_hold_expired(struct worker *w, struct request *r)
{
    stat_add(&w->stats.hold_expired, 1);
    sbuf_clear(&w->scratch);
    struct backend *b = NULL;
    if (!w->map) {
        errors_no_topology(&w->scratch);
    } else {
        b = r->slot >= 0 ? worker_view(w, r->slot) : NULL;
        if (b)
            errors_node_unreachable(&w->scratch, backend_addr(b), backend_last_error(b));
        else if (r->slot >= 0)
            errors_slot_unserved(&w->scratch);
        else
            errors_node_unreachable(&w->scratch, "(any master)", "no master is reachable");
    }
    request_reply_bytes(w, r, w->scratch.buf, w->scratch.len);
}

void worker_hold(struct worker *w, struct request *r, uint64_t delay_ms)
{
    uint64_t now = clock_now_ms();
    if (r->deadline_ms == 0) r->deadline_ms = now + w->cfg->failover_hold_ms;
    if (now >= r->deadline_ms && r->hold_reason == HOLD_UNREACHABLE) {
        worker_hold_expired(w, r);
        return;
    }
    /* The node refused it (CLUSTERDOWN, TRYAGAIN, LOADING): the client's later requests wait
     * until it is answered, or they could run at the node before it (for a fan-out part, the
     * barrier is its parent, the client's request). A request that could not be written at all
     * needs no barrier: the client's later requests join it on the held list, in order. */
    struct request *own = r->parent ? r->parent : r;
    if (r->hold_reason == HOLD_RETRY && !(own->flags & REQ_F_TX)) request_make_barrier(own);
    /* Once per request: a held request goes round the list every pass until it can be sent. */
    if (!(r->flags & REQ_F_WAS_HELD)) stat_add(&w->stats.held, 1);
    r->flags |= REQ_F_WAS_HELD;
    r->state = REQ_HELD;
    r->not_before_ms = now + delay_ms;
    worker_held_append(w, r);
    uint64_t wake = r->not_before_ms < r->deadline_ms ? r->not_before_ms : r->deadline_ms;
    uint64_t in = wake > now ? wake - now : 0;
    if (in > HELD_TICK_MS) in = HELD_TICK_MS;
    if (!loop_timer_active(&w->held_timer) || w->held_timer.when_ms > now + in)
        loop_timer_start(w->loop, &w->held_timer, in);
}

/* At the tail: a client's requests for a node that is down are sent again in the order the
 * client sent them (a list used as a stack reversed them on every pass). */
void worker_held_append(struct worker *w, struct request *r)
{
    r->hnext = NULL;
    struct session *s = request_session(r);
    if (s) session_ext_get(s)->nheld++;
    if (w->held)
        w->held_last->hnext = r;
    else
        w->held = r;
    w->held_last = r;
}

void worker_arm_held_timer(struct worker *w)
{
    if (w->held && !loop_timer_active(&w->held_timer))
        loop_timer_start(w->loop, &w->held_timer, HELD_TICK_MS);
}

static void worker_held_timer(struct loop *l, void *ctx)
{
    dispatch_process_held(ctx);
}

static void worker_before_sleep(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    if (w->held_kick) dispatch_process_held(w);
    /* Requests out first, then replies; a flush may queue more of either, so go until quiet. */
    for (int rounds = 0; rounds < 4 && (w->nbflush || w->flush_head); rounds++) {
        for (int i = 0; i < w->nbflush; i++) backend_flush(w->bflush[i]);
        w->nbflush = 0;
        while (w->flush_head) {
            struct session *s = w->flush_head;
            w->flush_head = s->flush_next;
            s->flush_next = NULL;
            session_flush(s);
        }
    }
    while (w->dead) {
        struct session *s = w->dead;
        w->dead = s->next;
        session_free(s);
    }
    priv_free_dead(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "worker-%d", w->id);
    log_set_thread_name(name);
    px_mem_thread_arena();
    loop_run(w->loop);
    /* Stopping: close every client, then every node connection. */
    while (w->sessions) session_close(w->sessions);
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

/* Graceful shutdown: nothing more is read; each session closes once its replies are out. */
static void worker_start_drain(struct worker *w)
{
    w->draining = 1;
    struct session *s = w->sessions;
    while (s) {
        struct session *next = s->next;
        session_drain(s);
        s = next;
    }
    loop_timer_start(w->loop, &w->drain_timer, DRAIN_TICK_MS);
}

/* Lingering sessions close once their clients have acknowledged every reply. */
static void worker_drain_timer(struct loop *l, void *ctx)
{
    struct worker *w = ctx;
    struct session *s = w->sessions;
    while (s) {
        struct session *next = s->next;
        if (s->flags & SESS_LINGER) session_linger(s);
        s = next;
    }
    loop_timer_start(l, &w->drain_timer, DRAIN_TICK_MS);
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

uint64_t worker_random(struct worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return x;
}

void worker_give_conn(struct worker *w, int fd, uint64_t id)
{
    struct chan_msg m = {.type = WORKER_MSG_CONN, .fd = fd, .u64 = id};
    chan_send(&w->inbox, &m);
}

void worker_give_map(struct worker *w, struct slotmap *m)
{
    struct chan_msg msg = {.type = WORKER_MSG_MAP, .ptr = m};
    chan_send(&w->inbox, &msg);
}

void worker_free(struct worker *w)
{
    if (!w) return;
    w->stopping = 1;
    /* Connections and maps still queued in the inbox: closed and released. */
    chan_drain(&w->inbox);
    priv_pool_free(w);
    /* Runners first: failing their FIFOs frees the requests that were still in flight. */
    for (int i = 0; i < w->nbackends; i++) backend_free(w->backends[i]);
    px_free(w->backends);
    while (w->held) {
        struct request *r = w->held;
        w->held = r->hnext;
        request_put(w, r);
    }
    while (w->dead) {
        struct session *s = w->dead;
        w->dead = s->next;
        session_free(s);
    }
    while (w->free_reqs) {
        struct request *r = w->free_reqs;
        w->free_reqs = r->next;
        px_free(r);
    }
    chan_deinit(&w->inbox, w->loop);
    slotmap_unref(w->map);
    buf_chunk_put(w->arena);
    px_free(w->view_idx);
    px_free(w->view_ent);
    px_free(w->masters);
    for (int i = 0; i < w->nshards; i++) px_free(w->shards[i].replicas);
    px_free(w->shards);
    px_free(w->bflush);
    sbuf_free(&w->scratch);
    sbuf_free(&w->merge);
    px_free(w->slot_part);
    px_free(w->stats.cmds);
    scripts_local_free(w->scripts_local);
    keys_result_free(&w->keys);
    buf_pool_deinit(&w->pool);
    loop_free(w->loop);
    px_free(w);
}
