/*
 * Forwarding and redirect handling; see forward.h.
 *
 * A request's life here: forward_send() picks the runner (the slot's master, a replica for a
 * read, master r->shard for a fan-out part, any master for a keyless command) and queues the
 * request on it, or holds it. The runner answers through on_reply or on_failed (or, for a
 * blocking command on a private connection, through the same two by way of fwd_priv_ops); a
 * normal reply goes to the request's sink, the rest is handled here as forward.h says.
 *
 * The held list keeps arrival order: forward_process_held sorts it by the order the client
 * requests arrived in (a fan-out part takes its parent's), sends again what is due, and puts
 * back what is not, including every later request of a client that still has one waiting, so
 * that no request overtakes an earlier one of the same client at a node.
 */
#include "forward.h"

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "mem.h"
#include "redirect.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_BACKOFF_MIN_MS 5
#define RETRY_BACKOFF_MAX_MS 200
#define HELD_TICK_MS         50 /* the held list is looked at least this often */

/* Runners hand back the backend_req embedded in a request. */
#define REQ_OF(breq) ((struct request *)((char *)(breq)-offsetof(struct request, breq)))

/* A client's forwarding state: its requests on the held list, the pass in which one of them had
 * to stay, and its refused requests sent again and not answered yet (at most one). */
struct fwd_client {
    uint32_t nheld;
    uint32_t held_pass;
    uint32_t retry_inflight;
};

static const struct priv_ops fwd_priv_ops;

static struct fwd_client *fwd_of(struct client *c)
{
    struct client_ext *x = client_ext_get(c);
    if (!x->fwd) x->fwd = px_calloc(1, sizeof(*x->fwd));
    return x->fwd;
}

/* The state without making it: NULL when the client never had one. */
static struct fwd_client *fwd_peek(const struct client *c)
{
    return c && c->x ? c->x->fwd : NULL;
}

size_t forward_client_mem(const struct client *c)
{
    return fwd_peek(c) ? sizeof(struct fwd_client) : 0;
}

void forward_client_trim(struct client *c)
{
    struct fwd_client *fc = fwd_peek(c);
    if (!fc || fc->nheld || fc->retry_inflight) return;
    px_free(fc);
    c->x->fwd = NULL;
}

void forward_client_free(struct client *c)
{
    if (!c->x) return;
    px_free(c->x->fwd);
    c->x->fwd = NULL;
}

static void held_timer_cb(struct loop *l, void *ctx);

void forward_init(struct forward *f, struct loop *loop, const struct config *cfg,
                  struct request_pool *rp, struct view *view, struct priv_pool *priv,
                  struct topology *topo, struct worker_stats *stats, struct script_local *scripts,
                  forward_route_fn *route_again, void *route_ctx)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->cfg = cfg;
    f->rp = rp;
    f->view = view;
    f->priv = priv;
    f->topo = topo;
    f->stats = stats;
    f->scripts = scripts;
    f->route_again = route_again;
    f->route_ctx = route_ctx;
    sbuf_init(&f->scratch);
    loop_timer_init(&f->held_timer, held_timer_cb, f);
}

void forward_deinit(struct forward *f)
{
    while (f->held) {
        struct request *r = f->held;
        f->held = r->hnext;
        request_put(f->rp, r);
    }
    f->held_last = NULL;
    sbuf_free(&f->scratch);
}

/* Answers r with the error the statement writes into f's scratch buffer. */
#define REPLY_ERROR(f, r, call)                                                                    \
    do {                                                                                           \
        sbuf_clear(&(f)->scratch);                                                                 \
        call;                                                                                      \
        request_reply_bytes((f)->rp, (r), (f)->scratch.buf, (f)->scratch.len);                     \
    } while (0)

/* ---- the held list ---- */

void forward_kick(struct forward *f)
{
    if (f->held) f->held_kick = 1;
}

/* Makes sure the held list is looked at again while it is not empty. */
static void arm_held_timer(struct forward *f)
{
    if (f->held && !loop_timer_active(&f->held_timer))
        loop_timer_start(f->loop, &f->held_timer, HELD_TICK_MS);
}

/* At the tail: a client's requests for a node that is down are sent again in the order the
 * client sent them (a list used as a stack reversed them on every pass). */
static void held_append(struct forward *f, struct request *r)
{
    r->hnext = NULL;
    struct client *c = request_client(r);
    if (c) fwd_of(c)->nheld++;
    if (f->held)
        f->held_last->hnext = r;
    else
        f->held = r;
    f->held_last = r;
}

/* The error for a request that waited for its node until -failover-hold ran out (or, for a
 * suspect node, -backend-timeout: as long as it would have waited for the node's answer). */
static void hold_expired(struct forward *f, struct request *r)
{
    stat_add(&f->stats->hold_expired, 1);
    sbuf_clear(&f->scratch);
    /* The node it waited for: a fan-out part's master, or its slot's. */
    struct backend *b = r->shard >= 0  ? view_master(f->view, r->shard)
                        : r->slot >= 0 ? view_slot_backend(f->view, r->slot)
                                       : NULL;
    if (!f->view->map) {
        errors_no_topology(&f->scratch);
    } else if (b && r->hold_reason == HOLD_SUSPECT) {
        errors_node_stalled(&f->scratch, backend_addr(b), f->cfg->backend_timeout_ms);
    } else if (b && f->cfg->pool) {
        errors_server_unreachable(&f->scratch, backend_addr(b), backend_last_error(b));
    } else if (b) {
        errors_node_unreachable(&f->scratch, backend_addr(b), backend_last_error(b));
    } else if (r->shard >= 0) {
        /* Its master left the view meanwhile: what forward_send answers then. */
        errors_topology_changed(&f->scratch);
    } else if (r->slot >= 0 && f->cfg->pool) {
        errors_pool_empty(&f->scratch, f->cfg->auto_eject_hosts);
    } else if (r->slot >= 0) {
        errors_slot_unserved(&f->scratch);
    } else if (f->cfg->pool) {
        errors_pool_empty(&f->scratch, f->cfg->auto_eject_hosts);
    } else {
        errors_node_unreachable(&f->scratch, "(any master)", "no master is reachable");
    }
    request_reply_bytes(f->rp, r, f->scratch.buf, f->scratch.len);
}

/* Puts r on the held list until delay_ms from now (or fails it when -failover-hold is over). */
static void hold(struct forward *f, struct request *r, uint64_t delay_ms)
{
    uint64_t now = clock_now_ms();
    if (r->deadline_ms == 0) {
        uint64_t bound = f->cfg->failover_hold_ms;
        /* Waiting for a stalled node: as long as a request sent to it would wait for its reply. */
        if (r->hold_reason == HOLD_SUSPECT && f->cfg->backend_timeout_ms &&
            f->cfg->backend_timeout_ms < bound)
            bound = f->cfg->backend_timeout_ms;
        r->deadline_ms = now + bound;
    }
    if (now >= r->deadline_ms && r->hold_reason != HOLD_RETRY) {
        hold_expired(f, r);
        return;
    }
    /* The node refused it (CLUSTERDOWN, TRYAGAIN, LOADING): the client's later requests wait
     * until it is answered, or they could run at the node before it (for a fan-out part, the
     * barrier is its parent, the client's request). A request that could not be written at all
     * needs no barrier: the client's later requests join it on the held list, in order. */
    struct request *own = r->parent ? r->parent : r;
    if (r->hold_reason == HOLD_RETRY && !(own->flags & REQ_F_TX)) request_make_barrier(own);
    /* Once per request: a held request goes round the list every pass until it can be sent. */
    if (!(r->flags & REQ_F_WAS_HELD)) stat_add(&f->stats->held, 1);
    r->flags |= REQ_F_WAS_HELD;
    r->state = REQ_HELD;
    r->not_before_ms = now + delay_ms;
    held_append(f, r);
    uint64_t wake = r->not_before_ms < r->deadline_ms ? r->not_before_ms : r->deadline_ms;
    uint64_t in = wake > now ? wake - now : 0;
    if (in > HELD_TICK_MS) in = HELD_TICK_MS;
    if (!loop_timer_active(&f->held_timer) || f->held_timer.when_ms > now + in)
        loop_timer_start(f->loop, &f->held_timer, in);
}

/* Holds r because no runner can take it now. */
static void hold_unreachable(struct forward *f, struct request *r)
{
    if (r->to) {
        /* A part for one named node (admin.c) does not wait for it: its caller decides. */
        char addr[SLOTMAP_ADDR_MAX];
        slotmap_format_addr(addr, sizeof(addr), r->to->ip, r->to->port);
        struct backend *b = view_backend(f->view, r->to->ip, r->to->port, 0,
                                         r->to->kind ? r->to->kind : VIEW_RESP2);
        REPLY_ERROR(f, r, errors_node_unreachable(&f->scratch, addr, backend_last_error(b)));
        return;
    }
    r->hold_reason = HOLD_UNREACHABLE;
    hold(f, r, 0);
}

void forward_hold_paused(struct forward *f, struct request *r, uint64_t end_ms)
{
    uint64_t now = clock_now_ms();
    r->flags |= REQ_F_ROUTE_AGAIN;
    r->hold_reason = HOLD_PAUSED;
    r->deadline_ms = UINT64_MAX; /* a pause does not run out of -failover-hold */
    /* Looked at again soon: CLIENT UNPAUSE ends the pause before its end time. */
    uint64_t in = end_ms > now ? end_ms - now : 0;
    hold(f, r, in < 10 ? in : 10);
}

void forward_hold_unrouted(struct forward *f, struct request *r)
{
    r->flags |= REQ_F_ROUTE_AGAIN;
    hold_unreachable(f, r);
}

static void held_timer_cb(struct loop *l, void *ctx)
{
    forward_process_held(ctx);
}

struct held_ent {
    struct request *r;
    uint64_t seq; /* arrival order (a fan-out part takes its parent's) */
    uint32_t pos; /* place on the list, for ties */
};

/* Ties (the parts of one fan-out) keep their places on the list. */
static int held_order(const void *a, const void *b)
{
    const struct held_ent *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The held requests in arrival order (a refused request held again went to the end of the list,
 * behind the same client's later requests). The caller frees the array. */
static struct held_ent *held_sorted(struct forward *f, uint32_t *n)
{
    uint32_t k = 0;
    for (struct request *r = f->held; r; r = r->hnext) k++;
    struct held_ent *list = px_malloc((size_t)(k ? k : 1) * sizeof(*list));
    k = 0;
    for (struct request *r = f->held; r; r = r->hnext, k++) {
        list[k].r = r;
        list[k].seq = r->parent ? r->parent->seq : r->seq;
        list[k].pos = k;
    }
    qsort(list, k, sizeof(*list), held_order);
    *n = k;
    return list;
}

void forward_process_held(struct forward *f)
{
    uint64_t now = clock_now_ms();
    uint32_t n;
    struct held_ent *list = held_sorted(f, &n);
    f->held = f->held_last = NULL;
    f->held_kick = 0;
    uint32_t pass = ++f->held_pass;
    f->held_passing = 1;
    for (uint32_t i = 0; i < n; i++) {
        struct request *r = list[i].r;
        r->hnext = NULL;
        if (request_orphan(r)) {
            request_put(f->rp, r);
            continue;
        }
        struct fwd_client *fc = fwd_peek(request_client(r)); /* made when r was held */
        if (fc) fc->nheld--;
        /* Back on the list when it is not time yet, when an earlier request of the same client
         * stays, or while a refused request of the client is being tried again (the node may
         * refuse that one and take the next: they would run out of order). */
        if ((fc && (fc->held_pass == pass || fc->retry_inflight > 0)) ||
            (now < r->not_before_ms && now < r->deadline_ms)) {
            if (fc) fc->held_pass = pass;
            held_append(f, r);
            continue;
        }
        r->state = REQ_NEW;
        if (r->flags & REQ_F_ROUTE_AGAIN) {
            r->flags &= ~REQ_F_ROUTE_AGAIN;
            f->route_again(f->route_ctx, r);
        } else {
            forward_send(f, r);
        }
    }
    px_free(list);
    f->held_passing = 0;
    /* Requests wait for a node that cannot be reached: the cluster may be failing it over. Ask
     * for the map on every pass (the topology thread spaces the fetches), so that the new master
     * is used as soon as it is promoted rather than after the runners' next back-off. */
    for (struct request *r = f->held; r && f->view->map; r = r->hnext) {
        if (r->hold_reason == HOLD_UNREACHABLE) {
            topology_request_refresh(f->topo);
            break;
        }
    }
    arm_held_timer(f);
}

/* ---- choosing a runner ---- */

/* The kind of runner r goes on (view.h): one that speaks its client's protocol, so that replies
 * pass through unchanged, and for a tracking client one whose node tracks what it reads. */
static int kind_of(const struct request *r)
{
    const struct client *c = request_client(r);
    return c ? tracking_kind(c) : VIEW_RESP2;
}

/* 1 when r may be served by a replica: replica reads are on, Redis flags the command read-only,
 * it is not part of a transaction, and its client did not pin reads to masters (READWRITE). */
static int replica_read(const struct forward *f, const struct request *r)
{
    if (f->cfg->read_prefer == RP_MASTER || !r->cmd || !(r->cmd->cmd->flags & CMD_READONLY))
        return 0;
    if (r->flags & (REQ_F_TX | REQ_F_BLOCKING)) return 0;
    const struct client *c = request_client(r);
    /* A tracking client reads from masters: their connections carry its invalidations. */
    return !(c && (c->pin_master || tracking_on(c)));
}

/* A usable replica of shard for a read, round robin, those in the data centre first for
 * replica-idc; NULL when none is usable (the read goes to the master). A replica whose
 * connection just broke is skipped at once. */
static struct backend *pick_replica(struct forward *f, int shard)
{
    if (shard < 0 || shard >= f->view->nshards) return NULL;
    struct view_shard *ws = &f->view->shards[shard];
    int nlocal = f->cfg->read_prefer == RP_REPLICA_IDC ? ws->nlocal : 0;
    /* Two passes for replica-idc (local ones, then the others); one for the rest. */
    for (int pass = nlocal > 0 ? 0 : 1; pass < 2; pass++) {
        int a = pass == 0 ? 0 : nlocal, n = pass == 0 ? nlocal : ws->nreplicas - nlocal;
        for (int k = 0; k < n; k++) {
            struct backend *b = ws->replicas[a + (int)(ws->rr++ % (uint32_t)n)];
            if (backend_get_state(b) != BACKEND_BACKOFF) return b;
        }
    }
    return NULL;
}

/* Picks a master for a keyless command (PUBLISH, EVAL without keys, ...): the same one for every
 * request of a client while the masters stay the same, so that a client's PUBLISHes reach the
 * cluster, and its subscribers, in the order it sent them; clients are spread over the masters.
 * NULL when there is none. */
static struct backend *any_master(struct forward *f, const struct request *r)
{
    if (f->view->nmasters == 0) return NULL;
    const struct client *c = request_client(r);
    uint64_t pick = c ? c->id : f->rr++;
    return f->view->masters[pick % (uint64_t)f->view->nmasters];
}

/* Sends r to b, with ASKING first when r->asking, or with prefix (SCRIPT LOAD ...) when given;
 * holds r when b cannot take it now. */
static void send_to(struct forward *f, struct request *r, struct backend *b, const char *prefix,
                    size_t prefix_len)
{
    r->state = REQ_SENT;
    if (r->flags & REQ_F_BLOCKING) {
        r->priv = priv_lease(f->priv, request_client(r), b, &fwd_priv_ops, f);
        b = r->priv->b;
        backend_set_timeout(b, 0); /* it blocks as long as the command says */
    }
    int rc;
    if (prefix)
        rc = backend_send(b, &r->breq, prefix, prefix_len, r->asking ? 2 : 1);
    else if (r->asking)
        rc = backend_send(b, &r->breq, backend_asking_cmd, BACKEND_ASKING_LEN, 1);
    else
        rc = backend_send(b, &r->breq, NULL, 0, 0);
    if (rc == 0) {
        /* Counted once per retry sent: the client's next refused request waits for its answer. */
        if ((r->flags & (REQ_F_RETRYING | REQ_F_RETRY_SENT)) == REQ_F_RETRYING) {
            struct client *c = request_client(r);
            r->flags |= REQ_F_RETRY_SENT;
            if (c) fwd_of(c)->retry_inflight++;
        }
        return;
    }
    if (r->priv) {
        priv_release(r->priv);
        r->priv = NULL;
    }
    r->asking = 0; /* a held request goes back to the slot owner, which will say ASK again */
    if (backend_suspected(b)) {
        r->hold_reason = HOLD_SUSPECT;
        hold(f, r, 0);
        return;
    }
    hold_unreachable(f, r);
}

void forward_send(struct forward *f, struct request *r)
{
    /* The client has requests waiting on the held list: this one goes behind them, so that it
     * cannot reach a node before them. */
    struct fwd_client *fc = f->held_passing ? NULL : fwd_peek(request_client(r));
    if (fc && fc->nheld > 0) {
        hold_unreachable(f, r);
        return;
    }
    struct view *v = f->view;
    struct backend *b;
    int shard = -1;
    if (r->to) {
        /* A part for one node, whoever it is (a master or a replica), on the kind of runner it
         * names (RESP2 unless told): the caller reads the reply. */
        send_to(f, r,
                view_backend(v, r->to->ip, r->to->port, 0, r->to->kind ? r->to->kind : VIEW_RESP2),
                NULL, 0);
        return;
    }
    /* Pool mode: a slot is a server of one placement; chosen under another (the pool changed
     * while the request waited), it may not be the key's server any more. */
    if (r->pool_gen && r->pool_gen != view_pool_gen(v) && (r->slot >= 0 || r->shard >= 0)) {
        REPLY_ERROR(f, r, errors_pool_changed(&f->scratch));
        return;
    }
    if (r->shard >= 0) {
        b = view_master(v, r->shard);
        if (!b && v->map) {
            REPLY_ERROR(f, r, errors_topology_changed(&f->scratch));
            return;
        }
        shard = r->shard;
    } else if (r->slot >= 0) {
        b = view_slot_backend(v, r->slot);
        if (!b && v->map) {
            if (f->cfg->pool)
                REPLY_ERROR(f, r, errors_pool_empty(&f->scratch, f->cfg->auto_eject_hosts));
            else
                REPLY_ERROR(f, r, errors_slot_unserved(&f->scratch));
            return;
        }
        /* -1 for a slot patched by MOVED: it has left its shard, whose replicas no longer
         * serve it. */
        shard = view_slot_shard(v, r->slot);
    } else {
        b = any_master(f, r);
    }
    if (b && replica_read(f, r)) {
        struct backend *rb = pick_replica(f, shard);
        if (rb) {
            b = rb;
            stat_add(&f->stats->replica_reads, 1);
        } else {
            stat_add(&f->stats->replica_fallbacks, 1);
        }
    }
    if (!b) {
        hold_unreachable(f, r); /* no slot map yet */
        return;
    }
    send_to(f, r, view_twin(v, b, kind_of(r)), NULL, 0);
}

/* ---- what the nodes answer ---- */

/* The node said to try again later (TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN): the command did
 * not run. Returns 1 when r was held for another try, 0 when time is up. */
static int retry_later(struct forward *f, struct request *r)
{
    uint64_t now = clock_now_ms();
    if (r->deadline_ms == 0) r->deadline_ms = now + f->cfg->failover_hold_ms;
    if (now >= r->deadline_ms) return 0;
    uint64_t delay = RETRY_BACKOFF_MIN_MS << (r->retries < 6 ? r->retries : 6);
    if (delay > RETRY_BACKOFF_MAX_MS) delay = RETRY_BACKOFF_MAX_MS;
    r->retries++;
    r->hold_reason = HOLD_RETRY;
    r->flags |= REQ_F_RETRYING;
    hold(f, r, delay);
    return 1;
}

/* A refused request that was sent again has its answer (or lost its connection): the client's
 * next refused request may go, at once. */
static void retry_answered(struct forward *f, struct request *r)
{
    if (!(r->flags & REQ_F_RETRY_SENT)) return;
    r->flags &= ~REQ_F_RETRY_SENT;
    struct fwd_client *fc = fwd_peek(request_client(r));
    if (fc && fc->retry_inflight > 0 && --fc->retry_inflight == 0 && fc->nheld > 0) forward_kick(f);
}

/* MOVED: the slot has a new owner for good, so the view is patched at once and a map asked for.
 * ASK: only this request goes there, once, behind ASKING. -max-redirects ends a loop between
 * nodes that disagree. */
static void on_redirect(struct forward *f, struct request *r, struct backend *from,
                        const char *text, uint32_t len, int ask, struct buf_chunk *c, uint32_t off,
                        uint32_t rlen)
{
    struct redirect rd;
    if (redirect_parse(text, len, backend_ip(from), &rd) < 0) {
        request_reply_span(f->rp, r, c, off, rlen); /* not a redirect we understand: pass it on */
        return;
    }
    if (++r->redirects > f->cfg->max_redirects) {
        REPLY_ERROR(f, r, errors_too_many_redirects(&f->scratch, text, len));
        return;
    }
    struct backend *to = view_backend(f->view, rd.ip, rd.port, 0, 2);
    if (ask) {
        stat_add(&f->stats->ask, 1);
        r->asking = 1;
    } else {
        stat_add(&f->stats->moved, 1);
        r->asking = 0;
        view_patch(f->view, rd.slot, to); /* believe it now; the refresh will confirm */
        topology_request_refresh(f->topo);
        if (f->trk) tracking_topology_changed(f->trk, rd.slot);
    }
    send_to(f, r, view_twin(f->view, to, kind_of(r)), NULL, 0);
}

/* NOSCRIPT for an EVALSHA: load the script on that node and run it again, once. Returns 1 when
 * r was sent again. */
static int reload_script(struct forward *f, struct request *r, struct backend *b)
{
    const struct command *c = r->cmd ? r->cmd->cmd : NULL;
    if (!c || (r->flags & REQ_F_NOSCRIPT_RETRIED) || r->argc < 2 || r->argv[1].len != 40 ||
        !(strcmp(c->name, "evalsha") == 0 || strcmp(c->name, "evalsha_ro") == 0))
        return 0;
    size_t len;
    char *body = scripts_lookup(f->scripts, request_arg(r, 1), &len);
    if (!body) return 0;
    struct sbuf pre;
    sbuf_init(&pre);
    resp_write_array_len(&pre, 3);
    resp_write_bulk(&pre, "SCRIPT", 6);
    resp_write_bulk(&pre, "LOAD", 4);
    resp_write_bulk(&pre, body, len);
    if (r->asking) sbuf_put(&pre, backend_asking_cmd, BACKEND_ASKING_LEN);
    px_free(body);
    r->flags |= REQ_F_NOSCRIPT_RETRIED;
    stat_add(&f->stats->noscript_reloads, 1);
    send_to(f, r, b, pre.buf, pre.len);
    sbuf_free(&pre);
    return 1;
}

/* The request a runner hands back (answered or failed), its retry accounted for; NULL when its
 * client is gone, and then it is freed. */
static struct request *handed_back(struct forward *f, struct backend_req *breq)
{
    struct request *r = REQ_OF(breq);
    retry_answered(f, r);
    if (!request_orphan(r)) return r;
    request_put(f->rp, r);
    return NULL;
}

/* Every reply a shared runner reads: redirects, NOSCRIPT and "try again later" are dealt with
 * here; anything else, errors included, is the answer. */
static void on_reply(struct backend *b, struct backend_req *breq, struct buf_chunk *c, uint32_t off,
                     const struct resp_reply_info *info, void *ctx)
{
    struct forward *f = ctx;
    /* Only a tracking runner's replies matter to tracking (the pushes that follow them). */
    int trk = f->trk && view_kind_of(b) == VIEW_TRACK;
    /* Nothing a push behind this reply could be for, unless it is r's answer (below). */
    if (trk) tracking_note_reply(f->trk, b, NULL);
    struct request *r = handed_back(f, breq);
    if (!r) return;
    const char *text = c->data + off + info->line_off;
    switch (info->err) {
    case RESP_ERRK_MOVED:
    case RESP_ERRK_ASK:
        /* A standalone server of a pool redirects nowhere the proxy should follow: whatever said
         * MOVED is relayed as it is. */
        if (f->cfg->pool) break;
        on_redirect(f, r, b, text, info->line_len, info->err == RESP_ERRK_ASK, c, off, info->len);
        return;
    case RESP_ERRK_NOSCRIPT:
        if (reload_script(f, r, b)) return;
        break;
    case RESP_ERRK_CLUSTERDOWN:
        topology_request_refresh(f->topo);
        /* fall through */
    case RESP_ERRK_TRYAGAIN:
    case RESP_ERRK_LOADING:
    case RESP_ERRK_MASTERDOWN:
        if (info->err == RESP_ERRK_TRYAGAIN) stat_add(&f->stats->tryagain, 1);
        r->asking = 0;
        if (retry_later(f, r)) return;
        break;
    default: break;
    }
    if (trk) tracking_note_reply(f->trk, b, r);
    request_reply_span(f->rp, r, c, off, info->len);
}

/* r will get no reply from b (its connection broke, timed out, or the runner is being freed);
 * written says whether all of r's bytes went out. */
static void on_failed(struct backend *b, struct backend_req *breq, int written, void *ctx)
{
    struct forward *f = ctx;
    struct request *r = handed_back(f, breq);
    if (!r) return;
    if (written && backend_timed_out(b)) {
        /* The node is stuck: an error now, rather than another wait on it (reads included). */
        REPLY_ERROR(f, r,
                    errors_node_timeout(&f->scratch, backend_addr(b), f->cfg->backend_timeout_ms));
        return;
    }
    if (written && r->cmd && (r->cmd->cmd->flags & CMD_READONLY) && !(r->flags & REQ_F_TX)) {
        /* A read changes nothing: send it again, to another replica or the master. */
        stat_add(&f->stats->read_retries, 1);
        written = 0;
    }
    if (written && (backend_deposed(b) || backend_hold_expired(b))) {
        /* Its node was failed over while the request waited, or never confirmed after a stall:
         * it may have run there, and may be thrown away with the rest of that node's writes. */
        stat_add(&f->stats->stall_errors, 1);
        if (backend_deposed(b))
            REPLY_ERROR(f, r, errors_node_deposed(&f->scratch, backend_addr(b)));
        else
            REPLY_ERROR(
                f, r,
                errors_stall_unconfirmed(&f->scratch, backend_addr(b), f->cfg->stall_hold_ms));
        return;
    }
    if (written) {
        /* It may have run: the client must not see it run twice. */
        stat_add(&f->stats->conn_lost_errors, 1);
        REPLY_ERROR(f, r, errors_connection_lost(&f->scratch, backend_addr(b)));
        return;
    }
    r->asking = 0;
    hold_unreachable(f, r);
}

/* A node went down (ask for a map), came up or may be tried again (the held list may move). */
/* ---- masters that stall ---- */

/* A runner to a master stalled, or its suspect node answered again (repeated while it lasts):
 * the node is suspect here at once, and the topology thread hears of it. */
static void on_stall(struct forward *f, struct backend *b, enum backend_event ev)
{
    uint64_t since = 0;
    if (ev == BACKEND_EV_STALLED) {
        if (!backend_suspected(b)) stat_add(&f->stats->stall_suspects, 1);
        view_set_suspect(f->view, backend_addr(b), 1);
        topology_report_stall(f->topo, backend_addr(b), 0);
        return;
    }
    backend_holding(b, &since);
    topology_report_stall(f->topo, backend_addr(b), since ? since : loop_now_ms(f->loop));
}

/* Ends suspicion of one runner: confirmed (held answers go on; the wait is measured) or
 * deposed. */
static void settle(struct forward *f, struct backend *b, enum topology_verdict v)
{
    uint64_t since;
    if (v == TOPO_V_DEPOSED) {
        stat_add(&f->stats->stall_deposed, 1);
        backend_depose(b, "failed over while suspect (stalled)");
        return;
    }
    if (backend_holding(b, &since)) {
        uint64_t us = (loop_now_ms(f->loop) - since) * 1000;
        stat_add(&f->stats->stall_released, 1);
        stat_add(&f->stats->stall_hold_us, us);
        if (us > stat_get(&f->stats->stall_hold_max_us))
            atomic_store_explicit(&f->stats->stall_hold_max_us, us, memory_order_relaxed);
    }
    backend_confirm(b);
}

void forward_verdict(struct forward *f, const char *addr, enum topology_verdict v)
{
    struct view *view = f->view;
    if (v == TOPO_V_SUSPECT) {
        view_set_suspect(view, addr, 1);
        return;
    }
    view_set_suspect(view, addr, 0);
    for (int i = 0; i < view->nbackends; i++) {
        struct backend *b = view->backends[i];
        if (!backend_suspected(b) || strcmp(backend_addr(b), addr) != 0) continue;
        /* Expired with an answer held here: this worker still wants a verdict; ask again. */
        if (v == TOPO_V_EXPIRED && backend_holding(b, NULL)) {
            view_set_suspect(view, addr, 1);
            on_stall(f, b, BACKEND_EV_WOKE);
            continue;
        }
        settle(f, b, v);
    }
    forward_kick(f);
}

static void on_state(struct backend *b, enum backend_event ev, void *ctx)
{
    struct forward *f = ctx;
    if (ev == BACKEND_EV_STALLED || ev == BACKEND_EV_WOKE) {
        on_stall(f, b, ev);
        return;
    }
    if (ev == BACKEND_EV_DOWN) {
        if (backend_timed_out(b)) stat_add(&f->stats->backend_timeouts, 1);
        if (f->trk) tracking_runner_down(f->trk, b);
        log_debug("backend %s down: %s", backend_addr(b), backend_last_error(b));
        topology_request_refresh(f->topo);
        return;
    }
    /* After a back-off, a node that failed is tried again at once, requests or not: it is up
     * again as soon as it can be, and /readyz tells the truth meanwhile. */
    if (ev == BACKEND_EV_RETRY && backend_failing(b)) backend_reconnect(b);
    forward_kick(f);
}

static void on_want_flush(struct backend *b, void *ctx)
{
    struct forward *f = ctx;
    view_want_flush(f->view, b);
}

/* A push among the replies: the invalidations of the tracking runners. */
static void on_push(struct backend *b, struct buf_chunk *c, uint32_t off,
                    const struct resp_reply_info *info, void *ctx)
{
    struct forward *f = ctx;
    if (f->trk) tracking_on_push(f->trk, b, c, off, info);
}

const struct backend_ops forward_backend_ops = {
    .reply = on_reply,
    .failed = on_failed,
    .state = on_state,
    .want_flush = on_want_flush,
    .push = on_push,
};

/* ---- blocking commands, each on a private connection of its own ---- */

static void on_blocking_reply(struct privconn *pc, struct backend_req *breq, struct buf_chunk *c,
                              uint32_t off, const struct resp_reply_info *info, void *ctx)
{
    struct request *r = REQ_OF(breq);
    struct backend *b = pc->b;
    /* Its connection is free again whatever the answer. */
    r->priv = NULL;
    priv_release(pc);
    on_reply(b, breq, c, off, info, ctx);
}

static void on_blocking_failed(struct privconn *pc, struct backend_req *breq, int written,
                               void *ctx)
{
    struct request *r = REQ_OF(breq);
    r->priv = NULL;
    /* priv_close only marks pc: pc->b stays valid until the end of the turn. */
    priv_close(pc);
    on_failed(pc->b, breq, written, ctx);
}

static const struct priv_ops fwd_priv_ops = {
    .reply = on_blocking_reply,
    .failed = on_blocking_failed,
};
