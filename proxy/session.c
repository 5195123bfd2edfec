/*
 * Client sessions; see session.h.
 *
 * Reading: bytes land in a pooled chunk; every complete request becomes a struct request that
 * references the chunk (its bytes are forwarded from there without copying), is queued, and is
 * dispatched at once, unless a barrier request before it (a blocking command, EXEC) is still in
 * flight: then it waits in the queue (the client's `deferred`) and is dispatched when the barrier
 * is answered, as it would run on a Redis connection. A combining EXEC (txn.h) puts requests of
 * its own first among those waiting (session_inject); a push message queued among them is
 * delivered in its turn, never dispatched. When no partial request is left, the
 * session lets go of the chunk, and after a second without a request of the reader and its parser
 * too, so an idle client holds no buffer.
 *
 * Replying: a request answered while it is at the head of the queue goes straight to the output
 * queue (short replies copied, long ones referenced); one answered early keeps its reply until the
 * requests before it are answered. Pub/Sub messages join the queue the same way, so a message
 * never overtakes a reply. The output is written once per loop turn.
 *
 * TLS clients: the socket is read with tls_conn_read and written with obuf_write_tls at the two
 * places that touch it, the events waited for are those TLS says its pending operations need
 * (session_update_mask), and what OpenSSL decrypted beyond the room of one read is read at once
 * (session_read's loop), since the socket will not signal it again.
 *
 * Moving: a session with nothing of its own on its worker (session_movable) can be taken off it
 * (session_export: the loop lets go of the socket, and what it had received comes along) and
 * joined to another worker's (session_adopt), which reads those bytes first.
 */
#include "session.h"

#include "busy.h"
#include "clock.h"

#include "client_dir.h"
#include "errors.h"
#include "forward.h"
#include "client_limits.h"
#include "log.h"
#include "mem.h"
#include "private.h"
#include "pubsub.h"
#include "px_errors.h"
#include "monitor.h"
#include "slowlog.h"
#include "sock.h"
#include "stream.h"
#include "tracking.h"
#include "txn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define SESS_READ_MIN 1024 /* read only when at least this much room is free */

/* Issue 8: an idle client connection should cost at most 256 bytes of resident memory at 10,000
 * of them. The session is allocated from jemalloc's 160-byte size class; one more byte would put
 * it in the 192-byte class. What only some sessions need lives in side structs. */
_Static_assert(sizeof(struct session) <= 160, "struct session outgrew jemalloc's 160-byte class");

/* A TLS client's session: the session first (a pointer to one is a pointer to the other), its
 * TLS after it, so that plain sessions keep their size. SESS_TLS says which a session is. */
struct session_tls {
    struct session s;
    struct tls_conn *tls; /* NULL once closed */
    uint8_t refuse;       /* enum session_refuse */
};

/* The session's TLS, or NULL for a plain client: the test every socket access makes. */
static inline struct tls_conn *session_tls(const struct session *s)
{
    return (s->flags & SESS_TLS) ? ((const struct session_tls *)s)->tls : NULL;
}

#define SESSION_OF(c) ((struct session *)((char *)(c)-offsetof(struct session, client)))

/* The reader: needed only while a client sends requests. Made at the first read, freed after a
 * second between requests (the cron), so an idle session holds neither it nor the parser's
 * buffers; a client that keeps sending keeps it, so requests cost no allocation here. */
struct session_in {
    struct buf_chunk *chunk; /* read chunk; NULL when no partial request is left */
    uint32_t start;          /* first byte of the request being parsed */
    uint32_t need;           /* more bytes the partial request needs, at least */
    uint8_t inline_partial;  /* the partial request is an inline line without its end yet */
    struct resp_req_parser parser;
};

static void session_on_event(struct loop *l, int fd, int mask, void *ctx);
static void sink_reply_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                            uint32_t off, uint32_t len);
static void sink_reply_bytes(struct request_pool *rp, struct request *r, const char *data,
                             size_t len);

/* Where the replies of a client's requests go: this session's queue. */
static const struct request_sink session_sink = {
    .reply_span = sink_reply_span,
    .reply_bytes = sink_reply_bytes,
};
/* A message queued behind the replies its client is owed (session_deliver_push) is a request
 * answered already; this sink, never called, marks it so that its bytes are counted. */
static const struct request_sink session_push_sink = {
    .reply_span = sink_reply_span,
    .reply_bytes = sink_reply_bytes,
};

void session_ctx_init(struct session_ctx *ctx, struct loop *loop, struct buf_pool *pool,
                      struct request_pool *rp, const struct config *cfg,
                      struct worker_stats *stats, struct dispatch *dispatch,
                      atomic_uint *nsessions)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loop = loop;
    ctx->pool = pool;
    ctx->rp = rp;
    ctx->cfg = cfg;
    ctx->stats = stats;
    ctx->dispatch = dispatch;
    ctx->nsessions = nsessions;
    resp_req_limits_default(&ctx->lim);
    ctx->lim.max_bulk = (long long)cfg->proto_max_bulk;
    ctx->lim_unauth = ctx->lim;
    ctx->lim_unauth.unauth = 1;
}

/* ---- the reader ---- */

/* Lets the read chunk go once every request in it was taken, so an idle session holds no buffer.
 * Returns whether it did. */
static int session_in_drop_chunk(struct session_in *in)
{
    if (!in->chunk || in->start != in->chunk->len) return 0;
    buf_chunk_put(in->chunk);
    in->chunk = NULL;
    in->start = 0;
    return 1;
}

static void session_in_free(struct session *s)
{
    struct session_in *in = s->in;
    if (!in) return;
    buf_chunk_put(in->chunk);
    resp_req_deinit(&in->parser);
    px_free(in);
    s->in = NULL;
}

/* ---- lifecycle ---- */

static void session_update_mask(struct session *s)
{
    int mask = 0;
    if (!(s->flags & (SESS_READ_EOF | SESS_CLOSE_AFTER | SESS_READ_PAUSED)) ||
        (s->flags & SESS_LINGER))
        mask |= LOOP_READ;
    if (!obuf_empty(&s->out)) mask |= LOOP_WRITE;
    struct tls_conn *t = session_tls(s);
    if (t) mask = tls_conn_mask(t, mask); /* during the handshake: what the handshake waits for */
    loop_set_mask(s->ctx->loop, s->client.fd, mask);
}

/* Queues s for the end-of-turn flush. */
static void session_want_flush(struct session *s)
{
    if (s->flags & (SESS_FLUSH_QUEUED | SESS_CLOSED)) return;
    s->flags |= SESS_FLUSH_QUEUED;
    s->flush_next = s->ctx->flush_head;
    s->ctx->flush_head = s;
}

/* Sets up s (zeroed, allocated by the caller) for fd and starts watching it. Returns 0, or -1
 * when the loop cannot take fd. */
static int session_start(struct session_ctx *ctx, struct session *s, int fd, uint64_t id,
                         uint32_t flags)
{
    s->ctx = ctx;
    s->flags = flags;
    client_init(&s->client, id, fd, !ctx->acl->auth_required);
    s->created_ms = s->last_ms = loop_now_ms(ctx->loop);
    obuf_init(&s->out);
    sock_set_nodelay(fd);
    if (ctx->cfg->tcp_keepalive_s > 0) sock_set_keepalive(fd, ctx->cfg->tcp_keepalive_s);
    /* A TLS client speaks first (its ClientHello), as a plain one does. Plain text goes through
     * stream.h (io_uring or epoll); OpenSSL reads and writes a TLS socket itself, watched for
     * readiness. */
    if (loop_add(ctx->loop, fd, LOOP_READ | ((flags & SESS_TLS) ? 0 : LOOP_STREAM),
                 session_on_event, s) < 0)
        return -1;
    s->next = ctx->sessions;
    if (ctx->sessions) ctx->sessions->prev = s;
    ctx->sessions = s;
    client_dir_add(&s->client, ctx->worker_id);
    stat_add(&ctx->stats->sessions_total, 1);
    if (log_get_level() <= LOG_DEBUG) {
        char peer[64] = "?";
        sock_peer_name(fd, peer, sizeof(peer));
        log_debug("client %llu connected from %s%s", (unsigned long long)id, peer,
                  (flags & SESS_TLS) ? " (TLS)" : "");
    }
    return 0;
}

struct session *session_create(struct session_ctx *ctx, int fd, uint64_t id)
{
    struct session *s = px_calloc(1, sizeof(*s));
    if (session_start(ctx, s, fd, id, 0) < 0) {
        px_free(s);
        return NULL;
    }
    return s;
}

struct session *session_create_tls(struct session_ctx *ctx, int fd, uint64_t id,
                                   enum session_refuse refuse)
{
    struct tls_conn *t = ctx->tls ? tls_conn_create(ctx->tls, fd) : NULL;
    if (!t) {
        log_warn("client %llu: cannot set up TLS: %s", (unsigned long long)id, tls_last_error());
        return NULL;
    }
    struct session_tls *st = px_calloc(1, sizeof(*st));
    st->tls = t;
    st->refuse = (uint8_t)refuse;
    if (session_start(ctx, &st->s, fd, id, SESS_TLS | SESS_HANDSHAKE) < 0) {
        tls_conn_free(t);
        px_free(st);
        return NULL;
    }
    return &st->s;
}

void session_describe(struct session *s, struct sbuf *out, const struct request *asking)
{
    const struct client *c = &s->client;
    char addr[64] = "?", laddr[64] = "?";
    sock_peer_name(c->fd, addr, sizeof(addr));
    sock_local_name(c->fd, laddr, sizeof(laddr));
    uint64_t now = loop_now_ms(s->ctx->loop);
    const struct cmd_entry *last = c->last_cmd ? commands_by_id(c->last_cmd - 1u) : NULL;
    const struct buf_chunk *in = s->in ? s->in->chunk : NULL;
    uint32_t in_start = s->in ? s->in->start : 0;
    const struct client_ext *x = c->x;
    const struct acl_user *user = x && x->user ? x->user : s->ctx->acl->dflt;
    uint32_t qbuf = (in ? in->len - in_start : 0) +
                    (asking && asking->client == c ? asking->breq.len : 0);
    /* tot-mem: what the session itself holds, its side structs included. */
    size_t mem = ((s->flags & SESS_TLS) ? sizeof(struct session_tls) : sizeof(*s)) +
                 (s->in ? sizeof(*s->in) : 0) + (x ? sizeof(*x) : 0) + s->out.bytes +
                 (in ? in->cap : 0) + txn_client_mem(c) + forward_client_mem(c);
    char flags[16];
    int nf = 0;
    /* Redis's letters, in Redis's order. */
    if (c->monitor) flags[nf++] = 'O';
    if (pubsub_subscribed(c)) flags[nf++] = 'P';
    if (txn_in_multi(c)) flags[nf++] = 'x';
    if (tracking_on(c)) flags[nf++] = 't';
    if (tracking_broken(c)) flags[nf++] = 'R';
    if (tracking_bcast(c)) flags[nf++] = 'B';
    if (c->readonly) flags[nf++] = 'r';
    if (c->no_evict) flags[nf++] = 'e';
    if (c->no_touch) flags[nf++] = 'T';
    if (nf == 0) flags[nf++] = 'N';
    flags[nf] = '\0';
    const struct pubsub_subs *subs = pubsub_client_subs(c);
    sbuf_printf(out,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=0 sub=%u "
                "psub=%u ssub=%u multi=%lld qbuf=%u qbuf-free=%u argv-mem=0 multi-mem=0 rbs=%u "
                "rbp=0 obl=0 oll=%u omem=%zu tot-mem=%zu events=r%s cmd=%s user=%.*s redir=%lld "
                "resp=%d lib-name=%s lib-ver=%s\n",
                (unsigned long long)c->id, addr, laddr, c->fd, x && x->name ? x->name : "",
                (unsigned long long)((now - s->created_ms) / 1000),
                (unsigned long long)((now - s->last_ms) / 1000), flags,
                subs ? subs->channels.n : 0, subs ? subs->patterns.n : 0, subs ? subs->shard.n : 0,
                txn_multi_count(c), qbuf,
                in ? buf_chunk_room(in) : 0, in ? in->cap : 0, s->out.count, s->out.bytes, mem,
                obuf_empty(&s->out) ? "" : "w", last ? last->cmd->name : "NULL",
                (int)user->namelen, user->name, tracking_redirect(c), c->resp,
                x && x->lib_name ? x->lib_name : "", x && x->lib_ver ? x->lib_ver : "");
}

void session_describe_client(void *up, struct client *c, struct sbuf *out)
{
    struct session *s = SESSION_OF(c);
    session_describe(s, out, s->ctx->current);
}

/* Takes s off its worker's list of open sessions. */
static void session_unlink(struct session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->ctx->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

void session_close(struct session *s)
{
    if (s->flags & SESS_CLOSED) return;
    struct session_ctx *ctx = s->ctx;
    struct client *c = &s->client;
    s->flags |= SESS_CLOSED;
    log_debug("client %llu closed (%u request(s) unanswered)", (unsigned long long)c->id,
              s->nqueued);
    loop_del(ctx->loop, c->fd);
    if (s->flags & SESS_TLS) {
        /* close_notify first (when the handshake was done), so the client sees a clean end. */
        struct session_tls *st = (struct session_tls *)s;
        if (!(s->flags & SESS_HANDSHAKE)) tls_conn_shutdown(st->tls);
        tls_conn_free(st->tls);
        st->tls = NULL;
    }
    close(c->fd);
    c->fd = -1;
    client_dir_del(c->id);
    if (c->monitor) monitor_del(c->id);
    /* Orphan the queue. Answered requests live only here and go now; the others belong to a
     * backend FIFO or the held list, which free orphans when they are done with them. */
    struct request *r = s->head;
    struct request *first_deferred = c->x ? c->x->deferred : NULL;
    int deferred = 0;
    while (r) {
        struct request *next = r->next;
        if (r == first_deferred) deferred = 1; /* from here on, never dispatched */
        if (r->flags & REQ_F_PAUSED) {
            /* Held by CLIENT PAUSE: no longer a blocked client (dispatch.c counted it). */
            r->flags &= ~REQ_F_PAUSED;
            stat_add(&ctx->stats->paused_clients, (uint64_t)-1);
        }
        r->client = NULL;
        r->next = NULL;
        if (r->state == REQ_DONE || deferred) request_put(ctx->rp, r);
        r = next;
    }
    s->head = s->tail = NULL;
    if (c->x) c->x->deferred = NULL;
    /* Gone while blocked: its blocking commands are orphans now, never answered here. */
    if (client_nblocking(c) > 0) {
        stat_add(&ctx->stats->blocked_clients, (uint64_t)-1);
        c->x->nblocking = 0;
    }
    s->nqueued = 0;
    obuf_reset(&s->out);
    session_in_free(s);
    /* A connection left blocked, mid-transaction or subscribed is closed, never reused. */
    pubsub_free(c);
    txn_reset(c);
    priv_close_all(c);
    session_unlink(s);
    s->next = ctx->dead;
    ctx->dead = s;
    /* Relaxed: a load hint for the acceptor, not a synchronisation point. */
    atomic_fetch_sub_explicit(ctx->nsessions, 1, memory_order_relaxed);
}

void session_free_dead(struct session_ctx *ctx)
{
    /* A session closed while on the flush list is still there if the turn's flush rounds ran out
     * (worker_before_sleep bounds them): it leaves the list before it is freed. */
    if (ctx->dead) {
        struct session **pp = &ctx->flush_head;
        while (*pp) {
            if ((*pp)->flags & SESS_CLOSED)
                *pp = (*pp)->flush_next;
            else
                pp = &(*pp)->flush_next;
        }
    }
    while (ctx->dead) {
        struct session *s = ctx->dead;
        ctx->dead = s->next;
        /* The side state goes only now: callers up the stack of session_close may still use
         * it. */
        forward_client_free(&s->client);
        tracking_client_free(&s->client);
        client_free(&s->client);
        px_free(s);
    }
}

void session_close_all(struct session_ctx *ctx)
{
    while (ctx->sessions) session_close(ctx->sessions);
}

/* ---- the request queue ---- */

static void session_enqueue(struct session *s, struct request *r)
{
    r->client = &s->client;
    r->sink = &session_sink;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->nqueued++;
}

void session_inject(void *ctx, struct request *after, struct request *first, struct request *last,
                    uint32_t n)
{
    (void)ctx;
    struct session *s = SESSION_OF(after->client);
    struct client_ext *x = client_ext_get(&s->client);
    /* Everything behind after waits (after is a barrier): they go first among those. */
    for (struct request *r = first;; r = r->next) {
        r->client = &s->client;
        r->sink = &session_sink;
        if (r == last) break;
    }
    last->next = after->next;
    after->next = first;
    if (s->tail == after) s->tail = last;
    x->deferred = first;
    s->nqueued += n;
}

static void session_delivered(struct session *s, const struct request *r);

static void session_pop_head(struct session *s)
{
    struct request *r = s->head;
    s->head = r->next;
    if (!s->head) s->tail = NULL;
    /* A message among the waiting requests can reach the head first (they are all answered
     * before it): the waiting ones then start after it. */
    if (s->client.x && s->client.x->deferred == r) s->client.x->deferred = r->next;
    r->next = NULL;
    s->nqueued--;
    if (r->sink == &session_push_sink) s->client.x->pushes_queued -= r->rlen;
    session_delivered(s, r);
}

/* Moves every answered request at the head of the queue to the output; while the gate is up
 * (SESS_TRK_GATE), none: they go at the flush. */
static void session_deliver(struct session *s)
{
    struct session_ctx *ctx = s->ctx;
    while (!(s->flags & SESS_TRK_GATE) && s->head && s->head->state == REQ_DONE) {
        struct request *r = s->head;
        session_pop_head(s);
        if (!(r->flags & REQ_F_NO_REPLY))
            obuf_append_span(&s->out, ctx->pool, r->rchunk, r->roff, r->rlen);
        request_put(ctx->rp, r);
    }
    session_want_flush(s);
}

/* A barrier request (a blocking command, EXEC) is done: the requests that waited behind it may
 * go now (dispatched at the end of the turn, outside the reply callback). */
static void session_barrier_done(struct session *s)
{
    struct client_ext *x = s->client.x; /* made when the request became a barrier */
    if (x && x->barriers > 0 && --x->barriers == 0 && x->deferred) {
        s->flags |= SESS_RESUME;
        session_want_flush(s);
    }
}

/* A request of s is answered: a barrier or blocking command no longer holds the ones after it
 * (a drain barrier holds them until it is delivered). */
static void session_answered(struct session *s, const struct request *r)
{
    if ((r->flags & (REQ_F_BARRIER | REQ_F_DRAIN)) == REQ_F_BARRIER) session_barrier_done(s);
    /* Its last blocking command answered: the client is not blocked any more (dispatch.c counted
     * it in when its first one was routed). */
    if ((r->flags & REQ_F_BLOCKING) && s->client.x && --s->client.x->nblocking == 0)
        stat_add(&s->ctx->stats->blocked_clients, (uint64_t)-1);
}

/* A request of s leaves the head of the queue: every request before it has been answered, so a
 * drain barrier falls now. */
static void session_delivered(struct session *s, const struct request *r)
{
    if (r->flags & REQ_F_DRAIN) session_barrier_done(s);
}

/* Hands r to the dispatcher; a QUIT among them stops the reading. */
static void session_dispatch(struct session *s, struct request *r)
{
    s->ctx->current = r;
    dispatch_request(s->ctx->dispatch, r);
    s->ctx->current = NULL;
    if (s->client.close_after) s->flags |= SESS_CLOSE_AFTER;
}

/* Dispatches the requests that waited for a barrier, up to the next barrier. As in Redis, a
 * request after a blocking command or an EXEC on the same connection runs once it is done. */
static void session_dispatch_deferred(struct session *s)
{
    s->flags &= ~SESS_RESUME;
    struct client_ext *x = s->client.x; /* freed only by the cron and at free, not in here */
    while (x && x->deferred && x->barriers == 0 && !(s->flags & SESS_CLOSED)) {
        struct request *r = x->deferred;
        x->deferred = r->next;
        /* A message queued behind the waiting requests is in the queue too: delivered in its
         * turn, never dispatched. */
        if (r->sink == &session_push_sink) continue;
        session_dispatch(s, r);
    }
}

/* A script call is answered: it no longer runs on its node (busy.h). */
static void script_done(struct request *r)
{
    if (!(r->flags & REQ_F_SCRIPT_RUN)) return;
    r->flags &= ~REQ_F_SCRIPT_RUN;
    busy_end(clock_now_ms());
}

/* Statistics for a request answered with the reply of len bytes at reply. */
static void request_account_now(struct session_ctx *ctx, struct request *r, const char *reply,
                                size_t len)
{
    long long us = request_account(ctx->stats, r, reply, len, loop_now_us(ctx->loop));
    if (us >= 0 && slowlog_wants((uint64_t)us) && r->client) {
        /* The address is looked up once per client: under a deep pipeline every request may be
         * slow, and a getpeername each was a fifth of the proxy's CPU. */
        struct client_ext *x = client_ext_get(r->client);
        if (!x->peer) {
            char peer[64] = "";
            sock_peer_name(r->client->fd, peer, sizeof(peer));
            x->peer = px_strdup(peer);
        }
        slowlog_add(r, (uint64_t)us, x->peer, client_name(r->client));
    }
}

/* The sink: r (of this session's client) is answered with bytes [off, off+len) of c. Delivered
 * now when every request before it has been answered, kept (a chunk reference) otherwise. */
static void sink_reply_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                            uint32_t off, uint32_t len)
{
    struct session *s = SESSION_OF(r->client);
    request_account_now(s->ctx, r, c->data + off, len);
    script_done(r);
    if (r->flags & REQ_F_SCRIPT_NOTED)
        dispatch_script_answered(s->ctx->dispatch, r, c->data + off, len);
    if (r->flags & REQ_F_TRACKED) tracking_read_done(r);
    session_answered(s, r);
    if (r == s->head && !(s->flags & SESS_TRK_GATE)) {
        session_pop_head(s);
        if (!(r->flags & REQ_F_NO_REPLY)) obuf_append_span(&s->out, s->ctx->pool, c, off, len);
        if (r->flags & REQ_F_TRK_REPLY) s->flags |= SESS_TRK_GATE;
        request_put(rp, r);
        session_deliver(s);
        return;
    }
    buf_chunk_ref(c);
    r->rchunk = c;
    r->roff = off;
    r->rlen = len;
    r->state = REQ_DONE;
}

/* The sink for the proxy's own replies: straight to the output when r is first in the queue,
 * else kept in the reply arena like a node's reply. */
static void sink_reply_bytes(struct request_pool *rp, struct request *r, const char *data,
                             size_t len)
{
    struct session *s = SESSION_OF(r->client);
    if (r != s->head || (s->flags & SESS_TRK_GATE)) {
        uint32_t off;
        struct buf_chunk *c = request_arena_copy(rp, data, len, &off);
        sink_reply_span(rp, r, c, off, (uint32_t)len);
        buf_chunk_put(c);
        return;
    }
    request_account_now(s->ctx, r, data, len);
    script_done(r);
    if (r->flags & REQ_F_SCRIPT_NOTED) dispatch_script_answered(s->ctx->dispatch, r, data, len);
    if (r->flags & REQ_F_TRACKED) tracking_read_done(r);
    session_answered(s, r);
    session_pop_head(s);
    if (!(r->flags & REQ_F_NO_REPLY)) obuf_append(&s->out, s->ctx->pool, data, len);
    if (r->flags & REQ_F_TRK_REPLY) s->flags |= SESS_TRK_GATE;
    request_put(rp, r);
    session_deliver(s);
}

/* Closes a client that broke a limit, saying why in the log (sparingly: a flood of them is one
 * line per second). */
static void session_close_limit(struct session *s, stat_t *counter, const char *why,
                                unsigned long long value)
{
    static _Thread_local struct log_ratelimit rl;
    stat_add(counter, 1);
    if (log_ratelimit_ok(&rl, 1000)) {
        char peer[64] = "?";
        sock_peer_name(s->client.fd, peer, sizeof(peer));
        log_warn("closing client %llu (%s): %s (%llu)%s", (unsigned long long)s->client.id, peer,
                 why, value, rl.suppressed ? "; more not logged" : "");
        rl.suppressed = 0;
    }
    session_close(s);
}

/* Queues bytes for c as an answered request of their own, after request at (NULL: at the end). */
static void queue_push(struct session *s, struct request *at, struct buf_chunk *chunk,
                       uint32_t off, uint32_t len)
{
    struct session_ctx *sc = s->ctx;
    struct request *m = request_get(sc->rp);
    m->client = &s->client;
    buf_chunk_ref(chunk);
    m->rchunk = chunk;
    m->roff = off;
    m->rlen = len;
    m->sink = &session_push_sink; /* marks it: its bytes count toward the limit below */
    m->state = REQ_DONE;
    client_ext_get(&s->client)->pushes_queued += len;
    if (!at) at = s->tail;
    m->next = at->next;
    at->next = m;
    if (s->tail == at) s->tail = m;
    s->nqueued++;
}

static int session_check_output(struct session *s);

/* A subscriber that does not read is cut off before its backlog grows without bound, the
 * messages waiting behind a reply it is owed (a blocking command's) counted too. */
static void push_limit(struct session *s)
{
    struct session_ctx *sc = s->ctx;
    struct client *c = &s->client;
    /* MONITOR's lines: a normal client's limits, as Redis classes a monitor. */
    if (c->monitor) {
        session_check_output(s);
        return;
    }
    size_t queued = c->x ? c->x->pushes_queued : 0;
    if (sc->cfg->pubsub_buffer_limit && s->out.bytes + queued > sc->cfg->pubsub_buffer_limit) {
        log_warn("client %llu: Pub/Sub output buffer over %llu bytes: closing it",
                 (unsigned long long)c->id, (unsigned long long)sc->cfg->pubsub_buffer_limit);
        stat_add(&sc->stats->pubsub_cut, 1);
        session_close(s);
    }
}

void session_deliver_push(void *ctx, struct client *c, struct buf_chunk *chunk, uint32_t off,
                          uint32_t len)
{
    struct session *s = SESSION_OF(c);
    struct session_ctx *sc = ctx;
    if (s->flags & SESS_CLOSED) return;
    if (!s->head) {
        obuf_append_span(&s->out, sc->pool, chunk, off, len);
        session_want_flush(s);
    } else {
        queue_push(s, NULL, chunk, off, len); /* behind the replies still owed */
    }
    push_limit(s);
}

void session_deliver_invalidation(void *ctx, struct client *c, struct buf_chunk *chunk,
                                  uint32_t off, uint32_t len, int slot, uint64_t after)
{
    struct session *s = SESSION_OF(c);
    struct session_ctx *sc = ctx;
    if (s->flags & SESS_CLOSED) return;
    if (slot == TRK_AFTER_CURRENT) {
        struct request *at = s->head;
        while (at && at != sc->current) at = at->next;
        if (!at) {
            session_deliver_push(ctx, c, chunk, off, len);
            return;
        }
        /* Run after a transaction's node part, its reply is part of EXEC's: behind that. */
        while ((at->flags & REQ_F_TX_AFTER) && at->next) at = at->next;
        queue_push(s, at, chunk, off, len);
        push_limit(s);
        return;
    }
    /* w: c's first read of slot still waiting (wprev before it); r: c's request of seq after. */
    struct request *prev = NULL, *r = s->head, *w = NULL, *wprev = NULL;
    for (; slot >= 0 && r; prev = r, r = r->next) {
        if (after && r->seq == after) break;
        if (!w && r->slot == slot && r->state != REQ_DONE) {
            w = r;
            wprev = prev;
            if (!after) break;
        }
    }
    if (r && after && r->seq == after && !w) {
        /* Right behind the reply it followed on the node's connection: the replies after it
         * on that connection (c's later requests there) ran after the write. */
        while ((r->flags & REQ_F_TX_AFTER) && r->next) r = r->next;
        queue_push(s, r, chunk, off, len);
        push_limit(s);
        return;
    }
    if (slot >= 0 && !r && after && (s->flags & SESS_TRK_GATE)) {
        /* The request it followed was delivered in this turn, and the gate keeps the replies
         * after it back: everything still owed came after it. (Had that reply gone out in an
         * earlier turn, the push could as well be another connection's write, a transaction's
         * of c, whose message Redis writes after EXEC's reply: it goes as any other.) */
        w = s->head;
        wprev = NULL;
    }
    if (slot < 0 || !w) {
        session_deliver_push(ctx, c, chunk, off, len);
        return;
    }
    if (!wprev) {
        /* Before the first reply owed. */
        obuf_append_span(&s->out, sc->pool, chunk, off, len);
        session_want_flush(s);
    } else {
        queue_push(s, wprev, chunk, off, len);
    }
    push_limit(s);
}

/* ---- reading ---- */

/* Replies to a protocol error after the replies already due, then closes, as Redis does. */
static void session_protocol_error(struct session *s, const struct resp_req_result *res)
{
    struct session_ctx *ctx = s->ctx;
    struct sbuf sb;
    sbuf_init(&sb);
    errors_protocol(&sb, res);
    struct request *r = request_get(ctx->rp);
    session_enqueue(s, r);
    s->flags |= SESS_CLOSE_AFTER;
    request_reply_bytes(ctx->rp, r, sb.buf, sb.len);
    stat_add(&ctx->stats->protocol_errors, 1);
    log_debug("client %llu: protocol error %d", (unsigned long long)s->client.id, (int)res->err);
    sbuf_free(&sb);
}

/* Makes a request of the parser's complete request (res.len bytes at the reader's start). */
static struct request *session_take_request(struct session *s, const struct resp_req_result *res)
{
    struct session_ctx *ctx = s->ctx;
    struct session_in *in = s->in;
    struct resp_req_parser *p = &in->parser;
    struct request *r = request_get(ctx->rp);
    if (res->is_inline) {
        /* Inline requests were re-encoded as multibulk by the parser; forward that. */
        struct buf_chunk *ic = buf_chunk_get_exact(ctx->pool, p->inl_len);
        memcpy(ic->data, p->inl, p->inl_len);
        ic->len = p->inl_len;
        r->breq.chunk = ic;
        r->breq.off = 0;
        r->breq.len = ic->len;
        request_set_argv(r, p->argv, p->argc, 0);
    } else {
        buf_chunk_ref(in->chunk);
        r->breq.chunk = in->chunk;
        r->breq.off = in->start;
        r->breq.len = res->len;
        request_set_argv(r, p->argv, p->argc, in->start);
    }
    return r;
}

/* Parses and dispatches every complete request in the read chunk. s->in is looked at afresh for
 * each request: a request may close the session, which frees the reader. */
static void session_parse(struct session *s)
{
    struct session_ctx *ctx = s->ctx;
    struct client *c = &s->client;
    while (s->in && s->in->chunk && s->in->start < s->in->chunk->len &&
           !(s->flags & (SESS_CLOSE_AFTER | SESS_CLOSED))) {
        struct session_in *in = s->in;
        if (limits_inflight_full(ctx->cfg, s->nqueued)) {
            s->flags |= SESS_READ_PAUSED;
            stat_add(&ctx->stats->inflight_pauses, 1);
            break;
        }
        struct resp_req_result res;
        struct buf_chunk *chunk = in->chunk;
        struct resp_req_parser *p = &in->parser;
        int authed = c->authed || !ctx->acl->auth_required;
        const struct resp_req_limits *lim = authed ? &ctx->lim : &ctx->lim_unauth;
        int rc = resp_req_parse(p, chunk->data + in->start, chunk->len - in->start, lim, &res);
        if (rc == PX_EAGAIN) {
            in->need = res.need;
            in->inline_partial = (uint8_t)res.is_inline;
            break;
        }
        if (rc < 0) {
            session_protocol_error(s, &res);
            break;
        }
        if (p->argc == 0) {
            in->start += res.len;
            in->need = 0;
            in->inline_partial = 0;
            resp_req_reset(p);
            continue;
        }
        struct request *r = session_take_request(s, &res);
        in->start += res.len;
        in->need = 0;
        in->inline_partial = 0;
        resp_req_reset(p);
        session_enqueue(s, r);
        r->start_us = loop_now_us(ctx->loop);
        r->seq = ++ctx->next_seq;
        s->last_ms = loop_now_ms(ctx->loop);
        if (c->reply_mode == CLIENT_REPLY_OFF) {
            r->flags |= REQ_F_NO_REPLY;
        } else if (c->reply_mode == CLIENT_REPLY_SKIP_NEXT) {
            r->flags |= REQ_F_NO_REPLY;
            c->reply_mode = CLIENT_REPLY_ON;
        }
        stat_add(&ctx->stats->requests, 1);
        struct client_ext *x = c->x;
        if (x && (x->barriers > 0 || x->deferred)) {
            /* Waits for the barrier before it, as it would on a Redis connection. */
            if (!x->deferred) x->deferred = r;
            continue;
        }
        session_dispatch(s, r);
    }
    /* Nothing partial left: let the chunk go, so an idle session holds no buffer. */
    if (s->in && session_in_drop_chunk(s->in)) resp_req_shrink(&s->in->parser);
}

static void session_linger(struct session *s);

/* A lingering session reads only to throw away: closing with unread input would make the kernel
 * reset the connection. */
static void session_discard_input(struct session *s)
{
    if (s->flags & SESS_TLS) {
        /* Not a stream: the socket is read directly (the bytes are encrypted; all go). */
        char raw[16384];
        for (;;) {
            ssize_t n = read(s->client.fd, raw, sizeof(raw));
            if (n > 0) continue;
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
            session_close(s); /* the client closed too */
            return;
        }
        session_linger(s);
        return;
    }
    struct buf_chunk *junk = NULL;
    uint32_t keep = 0;
    for (;;) {
        ssize_t n = stream_read(s->ctx->loop, s->client.fd, s->ctx->pool, &junk, &keep, 16384, 0,
                                NULL);
        if (n > 0) {
            junk->len = keep = 0;
            continue;
        }
        buf_chunk_put(junk);
        if (n == -EAGAIN) break;
        session_close(s); /* the client closed too */
        return;
    }
    session_linger(s);
}

/* A client that is blocked or subscribed never finishes: it is closed rather than waited for. */
static int session_never_done(const struct session *s)
{
    if (client_nblocking(&s->client) > 0 || pubsub_subscribed(&s->client)) return 1;
    /* Blocked by CLIENT PAUSE: Redis frees such a client at once, its commands never run. */
    for (const struct request *r = s->head; r; r = r->next)
        if (r->flags & REQ_F_PAUSED) return 1;
    return 0;
}

/* One read of the client's socket, plain or TLS: bytes (> 0), 0 at the end of the stream, or
 * -errno (-EAGAIN when there is nothing now). */
static ssize_t session_sock_read(struct session *s, void *buf, size_t len)
{
    struct tls_conn *t = session_tls(s);
    if (t) return tls_conn_read(t, buf, len);
    ssize_t n = read(s->client.fd, buf, len);
    return n >= 0 ? n : errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* 1 when a TLS client has bytes decrypted inside OpenSSL and is still being read: the socket will
 * not say so again, so they are read now. */
static int session_tls_more(const struct session *s)
{
    struct tls_conn *t = session_tls(s);
    return t &&
           !(s->flags &
             (SESS_CLOSED | SESS_READ_EOF | SESS_CLOSE_AFTER | SESS_READ_PAUSED | SESS_LINGER)) &&
           tls_conn_pending(t);
}

/* n bytes were added to the reader's chunk: they are counted, checked against the query buffer
 * limit, and the requests they complete parsed and dispatched. Returns 0, or -1 when the session
 * closed. */
static int session_took(struct session *s, size_t n)
{
    struct session_ctx *ctx = s->ctx;
    struct session_in *in = s->in;
    struct buf_chunk *c = in->chunk;
    s->last_ms = loop_now_ms(ctx->loop); /* as Redis: any input is interaction, even a part */
    stat_add(&ctx->stats->net_input_bytes, (uint64_t)n);
    if (limits_query(ctx->cfg, c->len - in->start)) {
        /* As Redis: what was read and not yet run is over the limit; closed without a reply. */
        session_close_limit(s, &ctx->stats->closed_query,
                            "unparsed input over -query-buffer-limit",
                            (unsigned long long)(c->len - in->start));
        return -1;
    }
    session_parse(s);
    if (s->flags & SESS_CLOSED) return -1;
    session_update_mask(s);
    return 0;
}

/* The reader, made on the first read. */
static struct session_in *session_in_get(struct session *s)
{
    if (!s->in) {
        s->in = px_calloc(1, sizeof(*s->in));
        resp_req_init(&s->in->parser);
    }
    return s->in;
}

/* One read into the reader's chunk, and the requests it completes. Returns 0 when bytes were
 * read, -1 when there is nothing more to do now (nothing to read, end of stream, closed). */
static int session_read_once(struct session *s)
{
    struct session_ctx *ctx = s->ctx;
    struct session_in *in = session_in_get(s);
    size_t kept = in->chunk ? in->chunk->len - in->start : 0;
    /* An inline line without its end is read as Redis 7.0 reads one, 16 KiB at a time (and
     * refused once more than 64 KiB are held without a line end), so that a long line is taken or
     * refused after the same reads as on a redis-server. */
    size_t want =
        in->inline_partial ? RESP_IOBUF_LEN : buf_read_want(in->need, kept, SESS_READ_MIN);
    ssize_t n;
    if (s->flags & SESS_TLS) {
        buf_chunk_make_room(ctx->pool, &in->chunk, &in->start, want);
        struct buf_chunk *c = in->chunk;
        size_t room = buf_chunk_room(c);
        if (in->inline_partial && room > RESP_IOBUF_LEN) room = RESP_IOBUF_LEN;
        n = session_sock_read(s, c->data + c->len, room);
        if (n > 0) c->len += (uint32_t)n;
    } else {
        n = stream_read(ctx->loop, s->client.fd, ctx->pool, &in->chunk, &in->start, want,
                        in->inline_partial ? RESP_IOBUF_LEN : 0, NULL);
    }
    if (n == 0) {
        /* A client blocked or subscribed that goes away is gone, as Redis treats it: its node
         * connections are closed at once rather than left blocked or subscribed. */
        if (session_never_done(s)) {
            session_close(s);
            return -1;
        }
        /* Half-closed: answer what was asked, then close. */
        s->flags |= SESS_READ_EOF;
        session_in_drop_chunk(in);
        session_update_mask(s);
        session_want_flush(s);
        return -1;
    }
    if (n < 0) {
        if (n == -EAGAIN || n == -EINTR) {
            /* Nothing came (a TLS record not yet whole, or a read that waits for writability):
             * keep no empty chunk, and wait for what TLS says. */
            session_in_drop_chunk(in);
            if (s->flags & SESS_TLS) session_update_mask(s);
            return -1;
        }
        session_close(s);
        return -1;
    }
    return session_took(s, (size_t)n);
}

static void session_read(struct session *s)
{
    if (s->flags & SESS_LINGER) {
        session_discard_input(s);
        return;
    }
    /* A plain client: one read per event (level-triggered: the rest comes next turn). A TLS
     * client: as many as OpenSSL holds decrypted bytes for, a record's worth at most. */
    while (session_read_once(s) == 0 && session_tls_more(s)) {
    }
}

/* ---- shutting down ---- */

static void session_drain(struct session *s)
{
    if (session_never_done(s)) {
        session_close(s);
        return;
    }
    s->flags |= SESS_READ_EOF | SESS_DRAINING; /* no more requests are read */
    session_update_mask(s);
    session_want_flush(s);
}

void session_drain_all(struct session_ctx *ctx)
{
    struct session *s = ctx->sessions;
    while (s) {
        struct session *next = s->next;
        session_drain(s);
        s = next;
    }
}

/* A lingering session: closes it once the client has acknowledged every reply. */
static void session_linger(struct session *s)
{
    if (s->flags & SESS_CLOSED) return;
    if (!(s->flags & SESS_LINGER)) {
        /* The FIN goes after the replies; the client sees them all, then end of stream. */
        s->flags |= SESS_LINGER;
        struct tls_conn *t = session_tls(s);
        if (t) tls_conn_shutdown(t); /* close_notify before the FIN */
        shutdown(s->client.fd, SHUT_WR);
        session_update_mask(s);
    }
    int unacked = 0;
    if (ioctl(s->client.fd, SIOCOUTQ, &unacked) < 0 || unacked == 0) session_close(s);
}

void session_linger_all(struct session_ctx *ctx)
{
    struct session *s = ctx->sessions;
    while (s) {
        struct session *next = s->next;
        if (s->flags & SESS_LINGER) session_linger(s);
        s = next;
    }
}

/* ---- moving to another worker ---- */

int session_movable(const struct session *s)
{
    const struct client *c = &s->client;
    /* Nothing in flight, owed, queued or half read, and no flag at all: not TLS, not closing. */
    if (s->flags || s->head || !obuf_empty(&s->out) || (s->in && s->in->chunk)) return 0;
    if (c->monitor || c->oneshot || c->close_after) return 0;
    if (s->ctx->current && s->ctx->current->client == c) return 0;
    /* No executor keeps anything for it on this worker, and its user is the default one (a user
     * points into this worker's set). Its names go along. */
    const struct client_ext *x = c->x;
    return !x || !(x->fwd || x->txn || x->ps || x->privs || x->trk || x->user || x->barriers ||
                   x->nblocking || x->deferred || x->pushes_queued);
}

int session_export(struct session *s, char **bytes, size_t *len)
{
    struct session_ctx *ctx = s->ctx;
    if (!session_movable(s) || loop_release(ctx->loop, s->client.fd, bytes, len) < 0) return -1;
    session_in_free(s);
    session_unlink(s);
    atomic_fetch_sub_explicit(ctx->nsessions, 1, memory_order_relaxed);
    s->ctx = NULL;
    return 0;
}

void session_adopt(struct session_ctx *ctx, struct session *s, const char *bytes, size_t len,
                   int drain)
{
    s->ctx = ctx;
    s->next = ctx->sessions;
    if (ctx->sessions) ctx->sessions->prev = s;
    ctx->sessions = s;
    atomic_fetch_add_explicit(ctx->nsessions, 1, memory_order_relaxed);
    client_dir_arrived(s->client.id);
    if (loop_add(ctx->loop, s->client.fd, LOOP_READ | LOOP_STREAM, session_on_event, s) < 0) {
        session_close(s);
        return;
    }
    if (len) {
        /* What the old worker's loop had received: read first, as if it came now. */
        struct session_in *in = session_in_get(s);
        buf_chunk_make_room(ctx->pool, &in->chunk, &in->start, len);
        memcpy(in->chunk->data + in->chunk->len, bytes, len);
        in->chunk->len += (uint32_t)len;
        if (session_took(s, len) < 0) return;
    }
    if (drain) session_drain(s);
}

/* ---- writing and limits ---- */

/* Writes what the kernel takes of the pending output. Returns -1 when the session was closed. */
static int session_write_out(struct session *s)
{
    if (obuf_empty(&s->out)) return 0;
    struct tls_conn *t = session_tls(s);
    ssize_t n = t ? obuf_write_tls(&s->out, t) : stream_write(s->ctx->loop, s->client.fd, &s->out);
    if (n < 0 && n != -EAGAIN) {
        session_close(s);
        return -1;
    }
    if (n > 0) stat_add(&s->ctx->stats->net_output_bytes, (uint64_t)n);
    return 0;
}

/* The output limits of -client-output-buffer-limit. Returns -1 when the session was closed. */
static int session_check_output(struct session *s)
{
    size_t pending = s->out.bytes;
    switch (limits_output(s->ctx->cfg, pending, loop_now_ms(s->ctx->loop), &s->out_soft_since)) {
    case LIMITS_OUTPUT_OK: return 0;
    case LIMITS_OUTPUT_HARD:
        session_close_limit(s, &s->ctx->stats->closed_output,
                            "unread replies over the hard -client-output-buffer-limit",
                            (unsigned long long)pending);
        return -1;
    case LIMITS_OUTPUT_SOFT:
        session_close_limit(s, &s->ctx->stats->closed_output,
                            "unread replies over the soft -client-output-buffer-limit too long",
                            (unsigned long long)pending);
        return -1;
    }
    return 0;
}

/* The once-a-second look at one session. */
static void session_cron(struct session *s, uint64_t now_ms)
{
    if (s->flags & (SESS_CLOSED | SESS_LINGER)) return;
    if (s->flags & SESS_HANDSHAKE) {
        /* A client that stops half way through its handshake holds a socket and an SSL object,
         * and nothing else will ever close it. */
        if (now_ms - s->created_ms >= s->ctx->cfg->tls_handshake_timeout_ms) {
            stat_add(&s->ctx->stats->tls_handshake_timeouts, 1);
            log_debug("client %llu closed: no TLS handshake within %llu ms",
                      (unsigned long long)s->client.id,
                      (unsigned long long)s->ctx->cfg->tls_handshake_timeout_ms);
            session_close(s);
        }
        return;
    }
    if (session_check_output(s) < 0) return;
    /* Between requests for a second or more: the reader and its parser go too (unless a partial
     * request is still waiting for its end), the output queue's ring, and the side state once
     * nothing in it is used. */
    if (now_ms - s->last_ms >= 1000) {
        if (s->in && !s->in->chunk) session_in_free(s);
        obuf_release(&s->out);
        forward_client_trim(&s->client);
        txn_trim(&s->client);
        client_trim(&s->client);
    }
    /* As Redis: blocked and subscribed clients are never idle; nor is one waiting for replies. */
    int busy = s->nqueued > 0 || !obuf_empty(&s->out) || session_never_done(s);
    if (limits_idle(s->ctx->cfg, s->last_ms, now_ms, busy)) {
        stat_add(&s->ctx->stats->closed_idle, 1);
        log_debug("client %llu closed: idle for %llu s (-timeout)",
                  (unsigned long long)s->client.id,
                  (unsigned long long)((now_ms - s->last_ms) / 1000));
        session_close(s);
    }
}

void session_cron_all(struct session_ctx *ctx, uint64_t now_ms)
{
    struct session *s = ctx->sessions;
    while (s) {
        struct session *next = s->next;
        session_cron(s, now_ms);
        s = next;
    }
}

/* Writes pending output, dispatches what waited for a barrier, resumes reading. Called from the
 * flush list (session_flush_all) and on LOOP_WRITE; it leaves SESS_FLUSH_QUEUED alone, since only
 * the list's walk may clear it: a session flushed on LOOP_WRITE while it is on the list stays
 * there, and had the flag gone, its next want_flush would put it on the list a second time (a
 * loop in the list, and a session behind it dropped with its flag set: never flushed again). */
static void session_flush(struct session *s)
{
    if (s->flags & SESS_CLOSED) return;
    if (s->flags & SESS_TRK_GATE) {
        /* The turn's replies are all read: an invalidation that was to come right behind the
         * last reply delivered has come. What waited behind the gate goes now. */
        s->flags &= ~SESS_TRK_GATE;
        session_deliver(s);
    }
    if (session_write_out(s) < 0) return;
    if (s->flags & SESS_RESUME) {
        session_dispatch_deferred(s);
        if (s->flags & SESS_CLOSED) return;
        if (session_write_out(s) < 0) return;
    }
    if (session_check_output(s) < 0) return;
    if ((s->flags & SESS_READ_PAUSED) && limits_inflight_resume(s->ctx->cfg, s->nqueued)) {
        s->flags &= ~SESS_READ_PAUSED;
        session_parse(s); /* requests already read come first */
        if (s->flags & SESS_CLOSED) return;
        if (session_tls_more(s)) session_read(s); /* then what OpenSSL still holds */
        if (s->flags & SESS_CLOSED) return;
    }
    /* Half-closed or draining: close once everything read has been answered and written. */
    if (obuf_empty(&s->out) && s->nqueued == 0 && !(s->flags & SESS_READ_PAUSED) &&
        (s->flags & (SESS_CLOSE_AFTER | SESS_READ_EOF))) {
        if (s->flags & SESS_DRAINING)
            session_linger(s); /* closes once the client has every reply */
        else
            session_close(s);
        return;
    }
    session_update_mask(s);
}

int session_flush_all(struct session_ctx *ctx)
{
    int n = 0;
    while (ctx->flush_head) {
        struct session *s = ctx->flush_head;
        ctx->flush_head = s->flush_next;
        s->flush_next = NULL;
        s->flags &= ~SESS_FLUSH_QUEUED;
        session_flush(s);
        n++;
    }
    return n;
}

/* The handshake is done: answer the refusal the acceptor decided, if any, and close. */
static void session_refuse(struct session *s, enum session_refuse why)
{
    struct sbuf sb;
    sbuf_init(&sb);
    if (why == SESSION_REFUSE_DENIED)
        errors_denied(&sb);
    else
        errors_maxclients(&sb);
    obuf_append(&s->out, s->ctx->pool, sb.buf, sb.len);
    sbuf_free(&sb);
    s->flags |= SESS_CLOSE_AFTER;
    session_want_flush(s);
}

/* One step of the TLS handshake. A failure (a plain-text client, a certificate refused, a client
 * that gave up) closes the session and nothing else: it never had a request. */
static void session_handshake(struct session *s)
{
    struct session_tls *st = (struct session_tls *)s;
    int rc = tls_conn_handshake(st->tls);
    if (rc == -EAGAIN) {
        session_update_mask(s);
        return;
    }
    if (rc < 0) {
        static _Thread_local struct log_ratelimit rl;
        if (log_ratelimit_ok(&rl, 1000)) {
            char peer[64] = "?";
            sock_peer_name(s->client.fd, peer, sizeof(peer));
            log_info("client %llu (%s): TLS handshake failed: %s%s",
                     (unsigned long long)s->client.id, peer, tls_last_error(),
                     rl.suppressed ? "; more not logged" : "");
            rl.suppressed = 0;
        }
        session_close(s);
        return;
    }
    s->flags &= ~SESS_HANDSHAKE;
    s->last_ms = loop_now_ms(s->ctx->loop);
    if (st->refuse != SESSION_SERVE) {
        session_refuse(s, (enum session_refuse)st->refuse);
        return;
    }
    /* Requests sent with the client's last handshake message may already be decrypted. */
    if (tls_conn_pending(st->tls))
        session_read(s);
    else
        session_update_mask(s);
}

static void session_on_event(struct loop *l, int fd, int mask, void *ctx)
{
    struct session *s = ctx;
    if (mask & LOOP_ERROR) {
        session_close(s);
        return;
    }
    if (s->flags & SESS_TLS) {
        if (s->flags & SESS_HANDSHAKE) {
            session_handshake(s);
            return;
        }
        mask = tls_conn_events(session_tls(s), mask);
    }
    if (mask & LOOP_READ) session_read(s);
    if ((mask & LOOP_WRITE) && !(s->flags & SESS_CLOSED)) session_flush(s);
}
