/*
 * Routing and redirect handling; see dispatch.h.
 *
 * A request's life: dispatch_request() decides (local answer, refusal, a slot, a split across
 * slots, or every master); dispatch_send() gives it to the backend serving its slot (or master),
 * or holds it when there is none usable right now. The backend answers through
 * dispatch_backend_ops: a normal reply goes to the session (or to the fan-out it is part of);
 * MOVED patches this worker's view and resends; ASK resends once with ASKING; TRYAGAIN,
 * CLUSTERDOWN, LOADING and MASTERDOWN mean the node did not run the command, so it is retried
 * after a short back-off until -failover-hold runs out; NOSCRIPT for an EVALSHA whose script the
 * proxy has seen loads the script on that node and runs it again. A connection that breaks hands
 * its requests back: those written may have run and get an error, the others are held and sent
 * again.
 */
#include "dispatch.h"

#include "clock.h"
#include "commands.h"
#include "errors.h"
#include "fanout.h"
#include "keys.h"
#include "local.h"
#include "log.h"
#include "mem.h"
#include "private.h"
#include "pubsub.h"
#include "redirect.h"
#include "request.h"
#include "scripts.h"
#include "session.h"
#include "txn.h"
#include "worker.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RETRY_BACKOFF_MIN_MS 5
#define RETRY_BACKOFF_MAX_MS 200

#define REQ_OF(breq) ((struct request *)((char *)(breq)-offsetof(struct request, breq)))

/* A top-level request whose client is gone (sub-requests always finish, for their parent). */
static int orphan(const struct request *r)
{
    return !r->parent && !r->sess;
}

/* Answers r with the error the statement writes into the worker's scratch buffer. */
#define REPLY_ERROR(w, r, call)                                                                    \
    do {                                                                                           \
        sbuf_clear(&(w)->scratch);                                                                 \
        call;                                                                                      \
        request_reply_bytes((w), (r), (w)->scratch.buf, (w)->scratch.len);                         \
    } while (0)

/* The same for an error the proxy gives before the request reaches a node (which, inside
 * MULTI, makes EXEC fail as Redis does). */
#define REJECT(w, r, call)                                                                         \
    do {                                                                                           \
        (r)->flags |= REQ_F_REJECTED;                                                              \
        txn_note_error(r);                                                                         \
        REPLY_ERROR(w, r, call);                                                                   \
    } while (0)

/* 1 when argument word appears among r's arguments (case-insensitive). */
static int has_arg(const struct request *r, const char *word)
{
    size_t l = strlen(word);
    for (uint32_t i = 1; i < r->argc; i++)
        if (r->argv[i].len == l && strncasecmp(request_arg(r, i), word, l) == 0) return 1;
    return 0;
}

static int cmd_is(const struct command *c, const char *name)
{
    return strcmp(c->name, name) == 0;
}

/* Remembers the body of scripts the client runs (EVAL, SCRIPT LOAD), for NOSCRIPT recovery;
 * forgets them all on SCRIPT FLUSH. */
static void note_script(struct worker *w, struct request *r)
{
    uint32_t arg = r->cmd->script_arg;
    if (arg && arg < r->argc) scripts_remember(w, request_arg(r, arg), r->argv[arg].len);
    if (cmd_is(r->cmd->cmd, "script|flush")) scripts_flush(w);
}

/* A blocking request: on a private connection, and a barrier for its session's later requests.
 * Once only: a request held before it could be routed comes through here again. */
static void mark_blocking(struct request *r)
{
    if (!(r->flags & REQ_F_BLOCKING)) {
        r->flags |= REQ_F_BLOCKING;
        if (r->sess) session_ext_get(r->sess)->nblocking++;
    }
    request_make_barrier(r);
}

void dispatch_request(struct worker *w, struct request *r)
{
    const char *base = r->breq.chunk->data;
    const struct cmd_entry *e = commands_lookup(base + r->argv[0].off, r->argv[0].len);
    if (!e) {
        REJECT(w, r, errors_unknown_command(&w->scratch, base, r->argv, r->argc));
        return;
    }
    if (e->nsubs && r->argc >= 2) {
        const struct cmd_entry *sub = commands_lookup_sub(e, base + r->argv[1].off, r->argv[1].len);
        if (!sub) {
            REJECT(w, r, errors_unknown_subcommand(&w->scratch, base, r->argv));
            return;
        }
        e = sub;
    }
    const struct command *c = e->cmd;
    r->cmd = e;
    if (r->sess) r->sess->last_cmd = e->id + 1;
    if ((c->arity > 0 && (int)r->argc != c->arity) || (int)r->argc < -c->arity) {
        REJECT(w, r, errors_wrong_arity(&w->scratch, c->name));
        return;
    }
    if (r->sess && !r->sess->authed && !(c->flags & CMD_NO_AUTH)) {
        REJECT(w, r, errors_noauth(&w->scratch));
        return;
    }
    if (r->sess && session_pubsub(r->sess) && pubsub_route(w, r)) return; /* subscribed mode */
    if (r->sess && txn_route(w, r)) return; /* MULTI, WATCH and their commands */
    switch (e->route) {
    case ROUTE_LOCAL: local_handle(w, r); return;
    case ROUTE_UNSUPPORTED:
        REJECT(w, r, errors_unsupported(&w->scratch, c->name, e->unsupported));
        return;
    case ROUTE_ALL_MASTERS:
        note_script(w, r);
        r->flags |= REQ_F_ALL_MASTERS;
        if (c->flags & CMD_BLOCKING) mark_blocking(r); /* WAIT: each part on a private conn */
        dispatch_send(w, r);
        return;
    case ROUTE_FORWARD: break;
    }
    if ((c->flags & CMD_BLOCKING) && (!e->blocking_arg || has_arg(r, "block"))) {
        /* It may block: a private connection of its own, and the session's later requests wait
         * for it, as they would behind it on a Redis connection. */
        mark_blocking(r);
    }
    int n = keys_find(c, base, r->argv, r->argc, &w->keys);
    int slot = n > 0 ? keys_slot(&w->keys, base, r->argv) : KEYS_SLOT_NONE;
    if (slot == KEYS_SLOT_CROSS) {
        int rc = e->merge != FAN_NONE ? fanout_split_by_slot(w, r, e->merge) : -1;
        if (rc == 0) return;
        if (rc == -2)
            REJECT(w, r, errors_wrong_arity(&w->scratch, c->name));
        else
            REJECT(w, r, errors_crossslot(&w->scratch));
        return;
    }
    if (e->script_arg) note_script(w, r);
    r->slot = slot;
    dispatch_send(w, r);
}

/* 1 when r may be served by a replica: replica reads are on, Redis flags the command read-only,
 * it is not part of a transaction, and its client did not pin reads to masters (READWRITE). */
static int replica_read(const struct worker *w, const struct request *r)
{
    if (w->cfg->read_prefer == RP_MASTER || !r->cmd || !(r->cmd->cmd->flags & CMD_READONLY))
        return 0;
    if (r->flags & (REQ_F_TX | REQ_F_BLOCKING)) return 0;
    const struct session *s = r->parent ? r->parent->sess : r->sess;
    return !(s && s->pin_master);
}

/* A usable replica of shard for a read, round robin, those in the data centre first for
 * replica-idc; NULL when none is usable (the read goes to the master). A replica whose
 * connection just broke is skipped at once. */
static struct backend *pick_replica(struct worker *w, int shard)
{
    if (shard < 0 || shard >= w->nshards) return NULL;
    struct wshard *ws = &w->shards[shard];
    int nlocal = w->cfg->read_prefer == RP_REPLICA_IDC ? ws->nlocal : 0;
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
 * request of a session while the masters stay the same, so that a client's PUBLISHes reach the
 * cluster, and its subscribers, in the order it sent them; sessions are spread over the masters.
 * NULL when there is none. */
static struct backend *any_master(struct worker *w, const struct request *r)
{
    if (w->nmasters == 0) return NULL;
    const struct session *s = r->parent ? r->parent->sess : r->sess;
    uint64_t pick = s ? s->id : w->rr++;
    return w->masters[pick % (uint64_t)w->nmasters];
}

/* Sends r to b, with ASKING first when r->asking, or with prefix (SCRIPT LOAD ...) when given;
 * holds r when b cannot take it now. */
static void send_to(struct worker *w, struct request *r, struct backend *b, const char *prefix,
                    size_t prefix_len)
{
    r->state = REQ_SENT;
    if (r->flags & REQ_F_BLOCKING) {
        r->priv = priv_lease(w, r->parent ? r->parent->sess : r->sess, b);
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
        if ((r->flags & (REQ_F_RETRYING | REQ_F_RETRY_SENT)) == REQ_F_RETRYING) {
            struct session *s = request_session(r);
            r->flags |= REQ_F_RETRY_SENT;
            if (s) session_ext_get(s)->retry_inflight++;
        }
        return;
    }
    if (r->priv) {
        priv_release(r->priv);
        r->priv = NULL;
    }
    r->asking = 0; /* a held request goes back to the slot owner, which will say ASK again */
    r->hold_reason = HOLD_UNREACHABLE;
    worker_hold(w, r, 0);
}

void dispatch_send(struct worker *w, struct request *r)
{
    /* The client has requests waiting on the held list: this one goes behind them, so that it
     * cannot reach a node before them. */
    struct session *s = w->held_passing ? NULL : request_session(r);
    if (s && session_nheld(s) > 0) {
        r->hold_reason = HOLD_UNREACHABLE;
        worker_hold(w, r, 0);
        return;
    }
    if (r->flags & REQ_F_ALL_MASTERS) {
        if (!w->map) {
            r->hold_reason = HOLD_UNREACHABLE; /* no slot map yet: nobody to send to */
            worker_hold(w, r, 0);
            return;
        }
        r->flags &= ~REQ_F_ALL_MASTERS;
        fanout_all_masters(w, r, r->cmd->merge, NULL, 0, 0);
        return;
    }
    struct backend *b;
    int shard = -1;
    if (r->shard >= 0) {
        b = r->shard < w->nmasters ? w->masters[r->shard] : NULL;
        if (!b && w->map) {
            REPLY_ERROR(w, r, errors_topology_changed(&w->scratch));
            return;
        }
        shard = r->shard;
    } else if (r->slot >= 0) {
        b = worker_view(w, r->slot);
        if (!b && w->map) {
            REPLY_ERROR(w, r, errors_slot_unserved(&w->scratch));
            return;
        }
        /* -1 for a slot patched by MOVED: it has left its shard, whose replicas no longer
         * serve it. */
        shard = worker_view_shard(w, r->slot);
    } else {
        b = any_master(w, r);
    }
    if (b && replica_read(w, r)) {
        struct backend *rb = pick_replica(w, shard);
        if (rb) {
            b = rb;
            stat_add(&w->stats.replica_reads, 1);
        } else {
            stat_add(&w->stats.replica_fallbacks, 1);
        }
    }
    if (!b) {
        r->hold_reason = HOLD_UNREACHABLE; /* no slot map yet */
        worker_hold(w, r, 0);
        return;
    }
    send_to(w, r, b, NULL, 0);
}

struct held_ent {
    struct request *r;
    uint64_t seq; /* arrival order (a fan-out part takes its parent's) */
    uint32_t pos; /* place on the list, for ties */
};

static int held_order(const void *a, const void *b)
{
    const struct held_ent *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void dispatch_process_held(struct worker *w)
{
    uint64_t now = clock_now_ms();
    /* In arrival order: a refused request held again went to the end of the list, behind the
     * same client's later requests. */
    uint32_t n = 0;
    for (struct request *r = w->held; r; r = r->hnext) n++;
    struct held_ent *list = px_malloc((size_t)(n ? n : 1) * sizeof(*list));
    n = 0;
    for (struct request *r = w->held; r; r = r->hnext, n++) {
        list[n].r = r;
        list[n].seq = r->parent ? r->parent->seq : r->seq;
        list[n].pos = n;
    }
    qsort(list, n, sizeof(*list), held_order);
    w->held = w->held_last = NULL;
    w->held_kick = 0;
    uint32_t pass = ++w->held_pass;
    w->held_passing = 1;
    for (uint32_t i = 0; i < n; i++) {
        struct request *r = list[i].r;
        r->hnext = NULL;
        if (orphan(r)) {
            request_put(w, r);
            continue;
        }
        struct session *s = request_session(r);
        struct session_ext *x = s ? session_ext_get(s) : NULL; /* made when r was held */
        if (x) x->nheld--;
        /* Back on the list when it is not time yet, when an earlier request of the same client
         * stays, or while a refused request of the client is being tried again (the node may
         * refuse that one and take the next: they would run out of order). */
        if ((x && (x->held_pass == pass || x->retry_inflight > 0)) ||
            (now < r->not_before_ms && now < r->deadline_ms)) {
            if (x) x->held_pass = pass;
            worker_held_append(w, r);
            continue;
        }
        r->state = REQ_NEW;
        if (r->flags & REQ_F_ROUTE_AGAIN) {
            r->flags &= ~REQ_F_ROUTE_AGAIN;
            dispatch_request(w, r);
        } else {
            dispatch_send(w, r);
        }
    }
    px_free(list);
    w->held_passing = 0;
    /* Requests wait for a node that cannot be reached: the cluster may be failing it over. Ask
     * for the map on every pass (the topology thread spaces the fetches), so that the new master
     * is used as soon as it is promoted rather than after the runners' next back-off. */
    for (struct request *r = w->held; r && w->map; r = r->hnext) {
        if (r->hold_reason == HOLD_UNREACHABLE) {
            topology_request_refresh(w->topo);
            break;
        }
    }
    worker_arm_held_timer(w);
}

/* The node said to try again later (TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN): the command did
 * not run. Returns 1 when r was held for another try, 0 when time is up. */
static int retry_later(struct worker *w, struct request *r)
{
    uint64_t now = clock_now_ms();
    if (r->deadline_ms == 0) r->deadline_ms = now + w->cfg->failover_hold_ms;
    if (now >= r->deadline_ms) return 0;
    uint64_t delay = RETRY_BACKOFF_MIN_MS << (r->retries < 6 ? r->retries : 6);
    if (delay > RETRY_BACKOFF_MAX_MS) delay = RETRY_BACKOFF_MAX_MS;
    r->retries++;
    r->hold_reason = HOLD_RETRY;
    r->flags |= REQ_F_RETRYING;
    worker_hold(w, r, delay);
    return 1;
}

/* A refused request that was sent again has its answer (or lost its connection): the client's
 * next refused request may go, at once. */
static void retry_answered(struct worker *w, struct request *r)
{
    if (!(r->flags & REQ_F_RETRY_SENT)) return;
    r->flags &= ~REQ_F_RETRY_SENT;
    struct session *s = request_session(r);
    struct session_ext *x = s ? s->ext : NULL;
    if (x && x->retry_inflight > 0 && --x->retry_inflight == 0 && x->nheld > 0) worker_kick_held(w);
}

static void on_redirect(struct worker *w, struct request *r, struct backend *from, const char *text,
                        uint32_t len, int ask, struct buf_chunk *c, uint32_t off, uint32_t rlen)
{
    struct redirect rd;
    if (redirect_parse(text, len, backend_ip(from), &rd) < 0) {
        request_reply_span(w, r, c, off, rlen); /* not a redirect we understand: pass it on */
        return;
    }
    if (++r->redirects > w->cfg->max_redirects) {
        REPLY_ERROR(w, r, errors_too_many_redirects(&w->scratch, text, len));
        return;
    }
    struct backend *to = worker_backend(w, rd.ip, rd.port);
    if (ask) {
        stat_add(&w->stats.ask, 1);
        r->asking = 1;
    } else {
        stat_add(&w->stats.moved, 1);
        r->asking = 0;
        worker_view_patch(w, rd.slot, to); /* believe it now; the refresh will confirm */
        topology_request_refresh(w->topo);
    }
    send_to(w, r, to, NULL, 0);
}

/* NOSCRIPT for an EVALSHA: load the script on that node and run it again, once. Returns 1 when
 * r was sent again. */
static int reload_script(struct worker *w, struct request *r, struct backend *b)
{
    const struct command *c = r->cmd ? r->cmd->cmd : NULL;
    if (!c || (r->flags & REQ_F_NOSCRIPT_RETRIED) || r->argc < 2 || r->argv[1].len != 40 ||
        !(cmd_is(c, "evalsha") || cmd_is(c, "evalsha_ro")))
        return 0;
    size_t len;
    char *body = scripts_lookup(w, request_arg(r, 1), &len);
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
    stat_add(&w->stats.noscript_reloads, 1);
    send_to(w, r, b, pre.buf, pre.len);
    sbuf_free(&pre);
    return 1;
}

static void on_reply(struct backend *b, struct backend_req *breq, struct buf_chunk *c, uint32_t off,
                     const struct resp_reply_info *info, void *ctx)
{
    struct worker *w = ctx;
    struct request *r = REQ_OF(breq);
    retry_answered(w, r);
    if (orphan(r)) {
        request_put(w, r);
        return;
    }
    const char *text = c->data + off + info->line_off;
    switch (info->err) {
    case RESP_ERRK_MOVED:
    case RESP_ERRK_ASK:
        on_redirect(w, r, b, text, info->line_len, info->err == RESP_ERRK_ASK, c, off, info->len);
        return;
    case RESP_ERRK_NOSCRIPT:
        if (reload_script(w, r, b)) return;
        break;
    case RESP_ERRK_CLUSTERDOWN:
        topology_request_refresh(w->topo);
        /* fall through */
    case RESP_ERRK_TRYAGAIN:
    case RESP_ERRK_LOADING:
    case RESP_ERRK_MASTERDOWN:
        if (info->err == RESP_ERRK_TRYAGAIN) stat_add(&w->stats.tryagain, 1);
        r->asking = 0;
        if (retry_later(w, r)) return;
        break;
    default: break;
    }
    request_reply_span(w, r, c, off, info->len);
}

static void on_failed(struct backend *b, struct backend_req *breq, int written, void *ctx)
{
    struct worker *w = ctx;
    struct request *r = REQ_OF(breq);
    retry_answered(w, r);
    if (orphan(r)) {
        request_put(w, r);
        return;
    }
    if (written && backend_timed_out(b)) {
        /* The node is stuck: an error now, rather than another wait on it (reads included). */
        REPLY_ERROR(w, r,
                    errors_node_timeout(&w->scratch, backend_addr(b), w->cfg->backend_timeout_ms));
        return;
    }
    if (written && r->cmd && (r->cmd->cmd->flags & CMD_READONLY) && !(r->flags & REQ_F_TX)) {
        /* A read changes nothing: send it again, to another replica or the master. */
        stat_add(&w->stats.read_retries, 1);
        written = 0;
    }
    if (written) {
        /* It may have run: the client must not see it run twice. */
        stat_add(&w->stats.conn_lost_errors, 1);
        REPLY_ERROR(w, r, errors_connection_lost(&w->scratch, backend_addr(b)));
        return;
    }
    r->asking = 0;
    r->hold_reason = HOLD_UNREACHABLE;
    worker_hold(w, r, 0);
}

static void on_state(struct backend *b, enum backend_event ev, void *ctx)
{
    struct worker *w = ctx;
    if (ev == BACKEND_EV_DOWN) {
        if (backend_timed_out(b)) stat_add(&w->stats.backend_timeouts, 1);
        log_debug("backend %s down: %s", backend_addr(b), backend_last_error(b));
        topology_request_refresh(w->topo);
        return;
    }
    /* After a back-off, a node that failed is tried again at once, requests or not: it is up
     * again as soon as it can be, and /readyz tells the truth meanwhile. */
    if (ev == BACKEND_EV_RETRY && backend_failing(b)) backend_reconnect(b);
    worker_kick_held(w);
}

static void on_want_flush(struct backend *b, void *ctx)
{
    struct worker *w = ctx;
    if (w->nbflush == w->bflush_cap) {
        w->bflush_cap = w->bflush_cap ? w->bflush_cap * 2 : 16;
        w->bflush = px_realloc(w->bflush, (size_t)w->bflush_cap * sizeof(*w->bflush));
    }
    w->bflush[w->nbflush++] = b;
}

/* ---- private connections (private.c): blocking commands, transactions, Pub/Sub ---- */

static void on_private_reply(struct backend *b, struct backend_req *breq, struct buf_chunk *c,
                             uint32_t off, const struct resp_reply_info *info, void *ctx)
{
    struct privconn *pc = ctx;
    struct worker *w = pc->w;
    struct request *r = REQ_OF(breq);
    if (r->flags & REQ_F_TX) {
        txn_on_reply(w, pc, r, c, off, info);
        return;
    }
    /* A blocking command: its connection is free again whatever the answer. */
    r->priv = NULL;
    priv_release(pc);
    on_reply(b, breq, c, off, info, w);
}

static void on_private_failed(struct backend *b, struct backend_req *breq, int written, void *ctx)
{
    struct privconn *pc = ctx;
    struct worker *w = pc->w;
    struct request *r = REQ_OF(breq);
    if (r->flags & REQ_F_TX) {
        txn_on_failed(w, pc, r, written);
        return;
    }
    r->priv = NULL;
    priv_close(pc);
    on_failed(b, breq, written, w);
}

static void on_private_state(struct backend *b, enum backend_event ev, void *ctx)
{
    struct privconn *pc = ctx;
    if (pc->dead) return;
    if (pc->ps) {
        pubsub_conn_state(pc->ps, ev);
    } else if (ev == BACKEND_EV_DOWN) {
        if (!pc->owner)
            priv_idle_down(pc);
        else if (pc->owner->ext->tx.priv == pc) /* an owner's ext holds its privs list */
            txn_conn_down(pc->owner);
    }
    if (ev == BACKEND_EV_DOWN) topology_request_refresh(pc->w->topo);
}

static void on_private_flush(struct backend *b, void *ctx)
{
    struct privconn *pc = ctx;
    on_want_flush(b, pc->w);
}

static void on_private_push(struct backend *b, struct buf_chunk *c, uint32_t off,
                            const struct resp_reply_info *info, void *ctx)
{
    struct privconn *pc = ctx;
    if (pc->ps) pubsub_on_push(pc->ps, c, off, info);
}

const struct backend_ops dispatch_private_ops = {
    .reply = on_private_reply,
    .failed = on_private_failed,
    .state = on_private_state,
    .want_flush = on_private_flush,
    .push = on_private_push,
};

const struct backend_ops dispatch_backend_ops = {
    .reply = on_reply,
    .failed = on_failed,
    .state = on_state,
    .want_flush = on_want_flush,
};
