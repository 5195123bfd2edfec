/*
 * Internal clients; see inner.h.
 *
 * The call's lock guards its status, its reply and its references; the asker waits on its
 * condition variable. Everything else here belongs to the worker: an internal client lives from
 * inner_run until its call is answered, on the ctx's live list, then on the dead list until the
 * before-sleep hook frees it (the sink runs deep inside an executor, which may still hold the
 * client). A client whose time runs out lets go of its request the way a closing session does:
 * the request becomes an orphan that whoever holds it (a node's queue, the held list, a fan-out)
 * frees when done, and a private connection it was blocked on is closed.
 */
#include "inner.h"

#include "clock.h"
#include "errors.h"
#include "forward.h"
#include "mem.h"
#include "private.h"
#include "pubsub.h"
#include "slowlog.h"
#include "tracking.h"
#include "txn.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#define INNER_WAIT_SLICE_MS 100

struct inner_call {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int refs;                 /* under lock */
    enum inner_status status; /* under lock; set once */
    char *reply;              /* INNER_DONE: the reply's bytes */
    size_t reply_len;
    /* Set at creation, read-only afterwards. */
    char *req;
    size_t req_len;
    uint64_t id;
    uint8_t resp;
    char *user, *pass; /* HTTP Basic auth's credentials, or NULL */
};

struct inner_client {
    struct client client; /* first: requests point at it */
    struct inner_ctx *ctx;
    struct inner_call *call; /* the worker's reference, until answered */
    struct request *req;     /* until answered */
    struct loop_timer timer; /* -http-timeout */
    struct inner_client *prev, *next;
};

#define INNER_OF(c) ((struct inner_client *)((char *)(c)-offsetof(struct inner_client, client)))

/* ---- the call, on either thread ---- */

static char *dup_or_null(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = px_malloc(n);
    memcpy(d, s, n);
    return d;
}

struct inner_call *inner_call_create(const char *req, size_t len, uint64_t id, int resp,
                                     const char *user, const char *pass)
{
    struct inner_call *call = px_calloc(1, sizeof(*call));
    pthread_mutex_init(&call->lock, NULL);
    pthread_cond_init(&call->done, NULL);
    call->refs = 2;
    call->req = px_malloc(len ? len : 1);
    memcpy(call->req, req, len);
    call->req_len = len;
    call->id = id;
    call->resp = (uint8_t)resp;
    call->user = dup_or_null(user);
    call->pass = dup_or_null(user ? pass : NULL);
    return call;
}

void inner_call_ref(struct inner_call *call)
{
    pthread_mutex_lock(&call->lock);
    call->refs++;
    pthread_mutex_unlock(&call->lock);
}

void inner_call_put(struct inner_call *call)
{
    pthread_mutex_lock(&call->lock);
    int last = --call->refs == 0;
    pthread_mutex_unlock(&call->lock);
    if (!last) return;
    pthread_mutex_destroy(&call->lock);
    pthread_cond_destroy(&call->done);
    px_free(call->req);
    px_free(call->reply);
    px_free(call->user);
    if (call->pass) memset(call->pass, 0, strlen(call->pass)); /* a password: not left behind */
    px_free(call->pass);
    px_free(call);
}

enum inner_status inner_call_wait(struct inner_call *call, uint64_t timeout_ms,
                                  const atomic_int *stop)
{
    uint64_t deadline = clock_now_ms() + timeout_ms;
    pthread_mutex_lock(&call->lock);
    while (call->status == INNER_PENDING) {
        uint64_t now = clock_now_ms();
        /* Relaxed: a flag looked at every slice, ordering nothing else. */
        if (now >= deadline || (stop && atomic_load_explicit(stop, memory_order_relaxed))) break;
        uint64_t left = deadline - now;
        struct timespec ts;
        clock_deadline_ts(left < INNER_WAIT_SLICE_MS ? left : INNER_WAIT_SLICE_MS, &ts);
        pthread_cond_timedwait(&call->done, &call->lock, &ts);
    }
    enum inner_status st = call->status;
    pthread_mutex_unlock(&call->lock);
    return st;
}

const char *inner_call_reply(const struct inner_call *call, size_t *len)
{
    *len = call->reply_len;
    return call->reply ? call->reply : "";
}

/* Answers call (once: a later answer is dropped), copying len bytes at data for INNER_DONE, and
 * drops the worker's reference. */
static void call_answer(struct inner_call *call, enum inner_status st, const char *data,
                        size_t len)
{
    pthread_mutex_lock(&call->lock);
    if (call->status == INNER_PENDING) {
        if (st == INNER_DONE) {
            call->reply = px_malloc(len ? len : 1);
            memcpy(call->reply, data, len);
            call->reply_len = len;
        }
        call->status = st;
        pthread_cond_broadcast(&call->done);
    }
    pthread_mutex_unlock(&call->lock);
    inner_call_put(call);
}

void inner_refuse(struct inner_call *call)
{
    call_answer(call, INNER_STOPPING, NULL, 0);
}

/* ---- internal clients, on the worker ---- */

static void inner_sink_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                            uint32_t off, uint32_t len);
static void inner_sink_bytes(struct request_pool *rp, struct request *r, const char *data,
                             size_t len);
static const struct request_sink inner_sink = {
    .reply_span = inner_sink_span,
    .reply_bytes = inner_sink_bytes,
};

void inner_ctx_init(struct inner_ctx *ctx, struct loop *loop, struct buf_pool *pool,
                    struct request_pool *rp, struct dispatch *dispatch,
                    const struct config *cfg, struct worker_stats *stats, uint64_t *next_seq)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loop = loop;
    ctx->pool = pool;
    ctx->rp = rp;
    ctx->dispatch = dispatch;
    ctx->cfg = cfg;
    ctx->stats = stats;
    ctx->next_seq = next_seq;
    resp_req_limits_default(&ctx->lim);
    ctx->lim.max_bulk = (long long)cfg->proto_max_bulk;
}

/* The client's call is answered: off the live list, onto the dead one. */
static void client_retire(struct inner_client *ic)
{
    struct inner_ctx *ctx = ic->ctx;
    loop_timer_stop(ctx->loop, &ic->timer);
    if (ic->prev)
        ic->prev->next = ic->next;
    else
        ctx->live = ic->next;
    if (ic->next) ic->next->prev = ic->prev;
    ic->prev = NULL;
    ic->next = ctx->dead;
    ctx->dead = ic;
}

/* Answers the client's call with the reply (or what stands for it) and retires the client. */
static void client_answer(struct inner_client *ic, enum inner_status st, const char *data,
                          size_t len)
{
    const struct config *cfg = ic->ctx->cfg;
    /* Its one request was blocking: it counted among INFO's blocked_clients until now. */
    struct client *c = &ic->client;
    if (client_nblocking(c) > 0) {
        stat_add(&ic->ctx->stats->blocked_clients, (uint64_t)-1);
        c->x->nblocking = 0;
    }
    if (st == INNER_DONE && cfg->cobl_hard && len > cfg->cobl_hard) st = INNER_TOO_BIG;
    struct inner_call *call = ic->call;
    ic->call = NULL;
    ic->req = NULL;
    client_retire(ic);
    call_answer(call, st, data, len);
}

/* The sink: the reply of the client's one request. */
static void inner_sink_bytes(struct request_pool *rp, struct request *r, const char *data,
                             size_t len)
{
    struct inner_client *ic = INNER_OF(r->client);
    long long us = request_account(ic->ctx->stats, r, data, len, loop_now_us(ic->ctx->loop));
    /* The slow log names the HTTP front where a connection's entry has its address. */
    if (us >= 0 && slowlog_wants((uint64_t)us)) slowlog_add(r, (uint64_t)us, "http", NULL);
    client_answer(ic, INNER_DONE, data, len);
    request_put(rp, r);
}

static void inner_sink_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                            uint32_t off, uint32_t len)
{
    inner_sink_bytes(rp, r, c->data + off, len);
}

/* Lets go of the request as a closing session does: an orphan from now on (freed by whoever
 * holds it), and whatever connection state the client had is dropped. */
static void client_abandon(struct inner_client *ic, enum inner_status st)
{
    struct request *r = ic->req;
    if (r) r->client = NULL;
    struct client *c = &ic->client;
    pubsub_free(c);
    txn_reset(c);
    priv_close_all(c); /* a blocked command's connection is closed, not reused */
    client_answer(ic, st, NULL, 0);
}

static void client_timeout(struct loop *l, void *arg)
{
    client_abandon(arg, INNER_TIMEOUT);
}

void inner_cancel(struct inner_ctx *ctx, struct inner_call *call)
{
    for (struct inner_client *ic = ctx->live; ic; ic = ic->next) {
        if (ic->call != call) continue;
        client_abandon(ic, INNER_GONE);
        break;
    }
    inner_call_put(call);
}

/* Answers a call that could not become a request (an error from the parser) with the error. */
static void refuse_request(struct inner_client *ic, const struct resp_req_result *res)
{
    struct sbuf sb;
    sbuf_init(&sb);
    errors_protocol(&sb, res);
    stat_add(&ic->ctx->stats->protocol_errors, 1);
    client_answer(ic, INNER_DONE, sb.buf, sb.len);
    sbuf_free(&sb);
}

void inner_run(struct inner_ctx *ctx, struct inner_call *call)
{
    struct inner_client *ic = px_calloc(1, sizeof(*ic));
    ic->ctx = ctx;
    ic->call = call;
    client_init(&ic->client, call->id, -1, !ctx->acl->auth_required);
    ic->client.resp = call->resp;
    ic->client.oneshot = 1;
    loop_timer_init(&ic->timer, client_timeout, ic);
    ic->next = ctx->live;
    if (ctx->live) ctx->live->prev = ic;
    ctx->live = ic;
    stat_add(&ctx->stats->http_requests, 1);

    /* HTTP Basic auth: as AUTH user pass, before the command (a failure is its answer). */
    if (call->user) {
        struct sbuf err;
        sbuf_init(&err);
        int rc = local_auth(ctx->local, &ic->client, call->user, strlen(call->user),
                            call->pass ? call->pass : "", call->pass ? strlen(call->pass) : 0,
                            &err);
        if (rc < 0) client_answer(ic, INNER_DONE, err.buf, err.len);
        sbuf_free(&err);
        if (rc < 0) return;
    }
    /* The same parser and limits as a connection's (argument length, count). */
    struct resp_req_parser p;
    struct resp_req_result res;
    resp_req_init(&p);
    int rc = resp_req_parse(&p, call->req, call->req_len, &ctx->lim, &res);
    if (rc != 0 || p.argc == 0 || res.len != call->req_len || res.is_inline) {
        if (rc == 0) res.err = RESP_REQ_ERR_MBULK_INVALID; /* not one multibulk request */
        resp_req_deinit(&p);
        refuse_request(ic, &res);
        return;
    }
    struct request *r = request_get(ctx->rp);
    struct buf_chunk *chunk = buf_chunk_get_exact(ctx->pool, call->req_len);
    memcpy(chunk->data, call->req, call->req_len);
    chunk->len = (uint32_t)call->req_len;
    r->breq.chunk = chunk;
    r->breq.off = 0;
    r->breq.len = chunk->len;
    request_set_argv(r, p.argv, p.argc, 0);
    resp_req_deinit(&p);
    r->client = &ic->client;
    r->sink = &inner_sink;
    r->start_us = loop_now_us(ctx->loop);
    r->seq = ++*ctx->next_seq;
    ic->req = r;
    stat_add(&ctx->stats->requests, 1);
    if (ctx->cfg->http_timeout_ms)
        loop_timer_start(ctx->loop, &ic->timer, ctx->cfg->http_timeout_ms);
    dispatch_request(ctx->dispatch, r);
}

void inner_acl_follow(struct inner_ctx *ctx, const struct acl_users *users)
{
    for (struct inner_client *ic = ctx->live; ic; ic = ic->next) {
        struct client *c = &ic->client;
        const struct acl_user *ou = client_user(c);
        if (!ou) continue;
        const struct acl_user *nu = acl_users_find_uid(users, ou->uid);
        if (nu) {
            c->x->user = nu;
        } else {
            client_set_user(c, NULL, 1);
            c->authed = 0;
        }
    }
}

void inner_describe(const struct client *c, struct sbuf *out)
{
    const struct acl_user *u = client_user(c);
    sbuf_printf(out,
                "id=%llu addr=http laddr=http fd=-1 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 "
                "ssub=0 multi=-1 cmd=NULL user=%s resp=%d\n",
                (unsigned long long)c->id, u ? u->name : "default", c->resp);
}

void inner_free_dead(struct inner_ctx *ctx)
{
    while (ctx->dead) {
        struct inner_client *ic = ctx->dead;
        ctx->dead = ic->next;
        struct client *c = &ic->client;
        pubsub_free(c);
        txn_reset(c);
        priv_close_all(c);
        forward_client_free(c);
        tracking_client_free(c);
        client_free(c);
        px_free(ic);
    }
}

void inner_drain(struct inner_ctx *ctx)
{
    struct inner_client *ic = ctx->live;
    while (ic) {
        struct inner_client *next = ic->next;
        if (ic->req && (ic->req->flags & REQ_F_BLOCKING)) client_abandon(ic, INNER_STOPPING);
        ic = next;
    }
}

void inner_close_all(struct inner_ctx *ctx)
{
    while (ctx->live) client_abandon(ctx->live, INNER_STOPPING);
}
