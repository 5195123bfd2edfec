/*
 * Client sessions; see session.h.
 *
 * Reading: bytes land in a pooled chunk; every complete request becomes a struct request that
 * references the chunk (its bytes are forwarded from there without copying) and is queued and
 * dispatched at once. When no partial request is left, the session lets go of the chunk, and after
 * a second without a request of the reader and its parser too, so an idle client holds no buffer.
 *
 * Replying: a request that is answered while it is at the head of the queue goes straight to the
 * output queue (short replies copied, long ones referenced); one answered early keeps its reply
 * until the requests before it are answered. The output is written once per loop turn.
 */
#include "session.h"

#include "clock.h"
#include "commands.h"
#include "dispatch.h"
#include "errors.h"
#include "fanout.h"
#include "private.h"
#include "pubsub.h"
#include "txn.h"
#include "log.h"
#include "mem.h"
#include "px_errors.h"
#include "request.h"
#include "resp_req.h"
#include "sock.h"
#include "worker.h"

#include <errno.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define SESS_READ_MIN 1024 /* read only when at least this much room is free */

/* Issue 8: an idle client connection should cost at most 256 bytes of resident memory at 10,000
 * of them. The session is allocated from jemalloc's 160-byte size class; one more byte would put
 * it in the 192-byte class. What only some sessions need lives in the side structs (session.h). */
_Static_assert(sizeof(struct session) <= 160, "struct session outgrew jemalloc's 160-byte class");

/* The reader: needed only while a client sends requests. Made at the first read, freed after a
 * second between requests (session_cron), so an idle session holds neither it nor the parser's
 * buffers; a client that keeps sending keeps it, so requests cost no allocation here. */
struct session_in {
    struct buf_chunk *chunk; /* read chunk; NULL when no partial request is left */
    uint32_t start;          /* first byte of the request being parsed */
    uint32_t need;           /* more bytes the partial request needs, at least */
    struct resp_req_parser parser;
};

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

struct session_ext *session_ext_get(struct session *s)
{
    if (!s->ext) {
        s->ext = px_calloc(1, sizeof(*s->ext));
        s->ext->tx.slot = -1;
    }
    return s->ext;
}

/* Gives the side state back when nothing in it is in use, so that a session that once held
 * requests through a failover, ran a transaction or blocked does not keep it while idle. (held_pass
 * only means something while requests of the session are held.) */
static void session_ext_trim(struct session *s)
{
    struct session_ext *x = s->ext;
    if (!x || x->privs || x->deferred || x->barriers || x->nblocking || x->nheld ||
        x->retry_inflight || x->out_soft_since || x->ps || x->tx.state != TX_NONE ||
        x->tx.aborted || x->tx.watch_lost || x->tx.slot >= 0 || x->tx.priv || x->tx.queued)
        return;
    px_free(x);
    s->ext = NULL;
}

struct session_meta *session_meta_get(struct session *s)
{
    if (!s->meta) s->meta = px_calloc(1, sizeof(*s->meta));
    return s->meta;
}

static void session_meta_free(struct session *s)
{
    struct session_meta *m = s->meta;
    if (!m) return;
    px_free(m->name);
    px_free(m->lib_name);
    px_free(m->lib_ver);
    px_free(m);
    s->meta = NULL;
}

static void session_on_event(struct loop *l, int fd, int mask, void *ctx);

static void session_update_mask(struct session *s)
{
    int mask = 0;
    if (!(s->flags & (SESS_READ_EOF | SESS_CLOSE_AFTER | SESS_READ_PAUSED)) ||
        (s->flags & SESS_LINGER))
        mask |= LOOP_READ;
    if (!obuf_empty(&s->out)) mask |= LOOP_WRITE;
    loop_set_mask(s->w->loop, s->fd, mask);
}

struct session *session_create(struct worker *w, int fd, uint64_t id)
{
    struct session *s = px_calloc(1, sizeof(*s));
    s->w = w;
    s->fd = fd;
    s->id = id;
    s->resp = 2;
    s->authed = w->cfg->requirepass == NULL;
    s->created_ms = s->last_ms = loop_now_ms(w->loop);
    obuf_init(&s->out);
    sock_set_nodelay(fd);
    if (w->cfg->tcp_keepalive_s > 0) sock_set_keepalive(fd, w->cfg->tcp_keepalive_s);
    if (loop_add(w->loop, fd, LOOP_READ, session_on_event, s) < 0) {
        px_free(s);
        return NULL;
    }
    s->next = w->sessions;
    if (w->sessions) w->sessions->prev = s;
    w->sessions = s;
    stat_add(&w->stats.sessions_total, 1);
    if (log_get_level() <= LOG_DEBUG) {
        char peer[64] = "?";
        sock_peer_name(fd, peer, sizeof(peer));
        log_debug("client %llu connected from %s", (unsigned long long)id, peer);
    }
    return s;
}

void session_reset_state(struct session *s)
{
    pubsub_free(s); /* RESET leaves subscribed mode and any transaction, silently */
    txn_reset(s);
    session_meta_free(s);
    s->resp = 2;
    s->reply_mode = REPLY_ON;
    s->readonly = 0;
    s->pin_master = 0;
    s->no_evict = s->no_touch = 0;
    if (s->w->cfg->requirepass) s->authed = 0;
}

void session_describe(struct session *s, struct sbuf *out)
{
    char addr[64] = "?", laddr[64] = "?";
    sock_peer_name(s->fd, addr, sizeof(addr));
    sock_local_name(s->fd, laddr, sizeof(laddr));
    uint64_t now = loop_now_ms(s->w->loop);
    const struct cmd_entry *last = s->last_cmd ? commands_by_id(s->last_cmd - 1) : NULL;
    const struct buf_chunk *in = s->in ? s->in->chunk : NULL;
    uint32_t in_start = s->in ? s->in->start : 0;
    const struct session_meta *m = s->meta;
    /* tot-mem: what the session itself holds, its side structs included. */
    size_t mem = sizeof(*s) + (s->in ? sizeof(*s->in) : 0) + (m ? sizeof(*m) : 0) +
                 (s->ext ? sizeof(*s->ext) : 0) + s->out.bytes + (in ? in->cap : 0);
    char flags[8];
    int nf = 0;
    if (s->readonly) flags[nf++] = 'r';
    if (s->no_evict) flags[nf++] = 'e';
    if (s->no_touch) flags[nf++] = 'T';
    if (nf == 0) flags[nf++] = 'N';
    flags[nf] = '\0';
    sbuf_printf(out,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=0 sub=0 "
                "psub=0 ssub=0 multi=-1 qbuf=%u qbuf-free=%u argv-mem=0 multi-mem=0 rbs=%u rbp=0 "
                "obl=0 oll=%u omem=%zu tot-mem=%zu events=r%s cmd=%s user=default redir=-1 "
                "resp=%d lib-name=%s lib-ver=%s\n",
                (unsigned long long)s->id, addr, laddr, s->fd, m && m->name ? m->name : "",
                (unsigned long long)((now - s->created_ms) / 1000),
                (unsigned long long)((now - s->last_ms) / 1000), flags, in ? in->len - in_start : 0,
                in ? buf_chunk_room(in) : 0, in ? in->cap : 0, s->out.count, s->out.bytes, mem,
                obuf_empty(&s->out) ? "" : "w", last ? last->cmd->name : "NULL", s->resp,
                m && m->lib_name ? m->lib_name : "", m && m->lib_ver ? m->lib_ver : "");
}

void session_close(struct session *s)
{
    if (s->flags & SESS_CLOSED) return;
    struct worker *w = s->w;
    s->flags |= SESS_CLOSED;
    log_debug("client %llu closed (%u request(s) unanswered)", (unsigned long long)s->id,
              s->nqueued);
    loop_del(w->loop, s->fd);
    close(s->fd);
    s->fd = -1;
    /* Orphan the queue. Answered requests live only here and go now; the others belong to a
     * backend FIFO or the held list, which free orphans when they are done with them. */
    struct request *r = s->head;
    struct request *first_deferred = s->ext ? s->ext->deferred : NULL;
    int deferred = 0;
    while (r) {
        struct request *next = r->next;
        if (r == first_deferred) deferred = 1; /* from here on, never dispatched */
        r->sess = NULL;
        r->next = NULL;
        if (r->state == REQ_DONE || deferred) request_put(w, r);
        r = next;
    }
    s->head = s->tail = NULL;
    if (s->ext) s->ext->deferred = NULL;
    s->nqueued = 0;
    obuf_reset(&s->out);
    session_in_free(s);
    /* A connection left blocked, mid-transaction or subscribed is closed, never reused. */
    pubsub_free(s);
    txn_reset(s);
    priv_close_all(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = NULL;
    s->next = w->dead;
    w->dead = s;
    /* Relaxed: a load hint for the acceptor, not a synchronisation point. */
    atomic_fetch_sub_explicit(&w->nsessions, 1, memory_order_relaxed);
}

void session_free(struct session *s)
{
    /* The side state goes only now: callers up the stack of session_close may still use it. */
    session_meta_free(s);
    px_free(s->ext);
    px_free(s);
}

static void session_enqueue(struct session *s, struct request *r)
{
    r->sess = s;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->nqueued++;
}

static void session_pop_head(struct session *s)
{
    struct request *r = s->head;
    s->head = r->next;
    if (!s->head) s->tail = NULL;
    r->next = NULL;
    s->nqueued--;
}

/* Moves every answered request at the head of the queue to the output. */
static void session_deliver(struct worker *w, struct session *s)
{
    while (s->head && s->head->state == REQ_DONE) {
        struct request *r = s->head;
        session_pop_head(s);
        if (!(r->flags & REQ_F_NO_REPLY))
            obuf_append_span(&s->out, &w->pool, r->rchunk, r->roff, r->rlen);
        request_put(w, r);
    }
    worker_want_flush(w, s);
}

/* A barrier request (a blocking command, EXEC) is done: the requests that waited behind it may go
 * now (dispatched at the
 * end of the turn, outside the reply callback). */
static void session_barrier_done(struct session *s)
{
    struct session_ext *x = s->ext; /* made when the request became a barrier */
    if (x && x->barriers > 0 && --x->barriers == 0 && x->deferred) {
        s->flags |= SESS_RESUME;
        worker_want_flush(s->w, s);
    }
}

/* A request of s is answered: a barrier or blocking command no longer holds the ones after it. */
static void session_answered(struct session *s, const struct request *r)
{
    if (r->flags & REQ_F_BARRIER) session_barrier_done(s);
    if ((r->flags & REQ_F_BLOCKING) && s->ext) s->ext->nblocking--;
}

/* Dispatches the requests that waited for a barrier, up to the next barrier. As in Redis, a
 * request after a blocking command or an EXEC on the same connection runs once it is done. */
static void session_dispatch_deferred(struct session *s)
{
    s->flags &= ~SESS_RESUME;
    struct session_ext *x = s->ext; /* freed only by the cron and session_free, not in here */
    while (x && x->deferred && x->barriers == 0 && !(s->flags & SESS_CLOSED)) {
        struct request *r = x->deferred;
        x->deferred = r->next;
        dispatch_request(s->w, r);
    }
}

/* Statistics for a request answered with the reply whose first byte is first. */
static void request_account(struct worker *w, struct request *r, const char *reply, size_t len)
{
    int err = len > 0 && (reply[0] == '-' || reply[0] == '!');
    if (err) {
        stat_add(&w->stats.error_replies, 1);
        stat_add(&w->stats.errors[stats_classify_error(reply + 1, len - 1)], 1);
    }
    if (!r->cmd) return;
    struct cmd_stats *cs = &w->stats.cmds[r->cmd->id];
    if (r->flags & REQ_F_REJECTED) {
        stat_add(&cs->rejected, 1);
        return;
    }
    stat_add(&cs->calls, 1);
    /* From the turn the request was read in to the turn its reply was read in, both on the
     * loop's clock (read once per turn, not once per reply); a command answered in the turn it
     * was read in (PING, or anything the proxy answers itself) still shows the time it took. */
    uint64_t now = loop_now_us(w->loop);
    if (now <= r->start_us) now = clock_now_us();
    uint64_t us = now > r->start_us ? now - r->start_us : 0;
    stat_add(&cs->usec, us);
    stat_add(&cs->buckets[stats_bucket(us)], 1);
    if (err) stat_add(&cs->failed, 1);
}

void request_reply_span(struct worker *w, struct request *r, struct buf_chunk *c, uint32_t off,
                        uint32_t len)
{
    if (r->parent) {
        fanout_child_done(w, r, c, off, len);
        return;
    }
    struct session *s = r->sess;
    if (!s) {
        request_put(w, r);
        return;
    }
    request_account(w, r, c->data + off, len);
    session_answered(s, r);
    if (r == s->head) {
        session_pop_head(s);
        if (!(r->flags & REQ_F_NO_REPLY)) obuf_append_span(&s->out, &w->pool, c, off, len);
        request_put(w, r);
        session_deliver(w, s);
        return;
    }
    buf_chunk_ref(c);
    r->rchunk = c;
    r->roff = off;
    r->rlen = len;
    r->state = REQ_DONE;
}

/* Copies data into the worker's reply arena and returns the chunk (with a reference for the
 * caller) and the offset. */
static struct buf_chunk *arena_copy(struct worker *w, const char *data, size_t len, uint32_t *off)
{
    if (!w->arena || buf_chunk_room(w->arena) < len) {
        buf_chunk_put(w->arena);
        w->arena = buf_chunk_get(&w->pool, len);
    }
    memcpy(w->arena->data + w->arena->len, data, len);
    buf_chunk_ref(w->arena);
    *off = w->arena->len;
    w->arena->len += (uint32_t)len;
    return w->arena;
}

void request_reply_bytes(struct worker *w, struct request *r, const char *data, size_t len)
{
    if (r->parent || (r->sess && r != r->sess->head)) {
        /* Not deliverable yet: keep the bytes in the arena and treat them as a span. */
        uint32_t off;
        struct buf_chunk *c = arena_copy(w, data, len, &off);
        request_reply_span(w, r, c, off, (uint32_t)len);
        buf_chunk_put(c);
        return;
    }
    struct session *s = r->sess;
    if (!s) {
        request_put(w, r);
        return;
    }
    request_account(w, r, data, len);
    session_answered(s, r);
    session_pop_head(s);
    if (!(r->flags & REQ_F_NO_REPLY)) obuf_append(&s->out, &w->pool, data, len);
    request_put(w, r);
    session_deliver(w, s);
}

/* Replies to a protocol error after the replies already due, then closes, as Redis does. */
static void session_protocol_error(struct session *s, const struct resp_req_result *res)
{
    struct worker *w = s->w;
    char text[128];
    resp_req_strerror(res, text, sizeof(text));
    struct sbuf *sb = &w->scratch;
    sbuf_clear(sb);
    errors_protocol(sb, text);
    struct request *r = request_get(w);
    session_enqueue(s, r);
    s->flags |= SESS_CLOSE_AFTER;
    request_reply_bytes(w, r, sb->buf, sb->len);
    stat_add(&w->stats.protocol_errors, 1);
    log_debug("client %llu: %s", (unsigned long long)s->id, text);
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
        sock_peer_name(s->fd, peer, sizeof(peer));
        log_warn("closing client %llu (%s): %s (%llu)%s", (unsigned long long)s->id, peer, why,
                 value, rl.suppressed ? "; more not logged" : "");
        rl.suppressed = 0;
    }
    session_close(s);
}

/* Parses and dispatches every complete request in the read chunk. s->in is looked at afresh for
 * each request: a request may close the session, which frees the reader. */
static void session_parse(struct session *s)
{
    struct worker *w = s->w;
    while (s->in && s->in->chunk && s->in->start < s->in->chunk->len &&
           !(s->flags & (SESS_CLOSE_AFTER | SESS_CLOSED))) {
        struct session_in *in = s->in;
        if (s->nqueued >= (uint32_t)w->cfg->max_inflight) {
            s->flags |= SESS_READ_PAUSED;
            stat_add(&w->stats.inflight_pauses, 1);
            break;
        }
        struct resp_req_result res;
        struct buf_chunk *c = in->chunk;
        struct resp_req_parser *p = &in->parser;
        const struct resp_req_limits *lim = s->authed ? &w->lim : &w->lim_unauth;
        int rc = resp_req_parse(p, c->data + in->start, c->len - in->start, lim, &res);
        if (rc == PX_EAGAIN) {
            in->need = res.need;
            break;
        }
        if (rc < 0) {
            session_protocol_error(s, &res);
            break;
        }
        uint32_t start = in->start;
        in->start += res.len;
        in->need = 0;
        if (p->argc == 0) {
            resp_req_reset(p);
            continue;
        }
        struct request *r = request_get(w);
        if (res.is_inline) {
            /* Inline requests were re-encoded as multibulk by the parser; forward that. */
            struct buf_chunk *ic = buf_chunk_get_exact(&w->pool, p->inl_len);
            memcpy(ic->data, p->inl, p->inl_len);
            ic->len = p->inl_len;
            r->breq.chunk = ic;
            r->breq.off = 0;
            r->breq.len = ic->len;
            request_set_argv(r, p->argv, p->argc, 0);
        } else {
            buf_chunk_ref(c);
            r->breq.chunk = c;
            r->breq.off = start;
            r->breq.len = res.len;
            request_set_argv(r, p->argv, p->argc, start);
        }
        resp_req_reset(p);
        session_enqueue(s, r);
        r->start_us = loop_now_us(w->loop);
        r->seq = ++w->next_seq;
        s->last_ms = loop_now_ms(w->loop);
        if (s->reply_mode == REPLY_OFF) {
            r->flags |= REQ_F_NO_REPLY;
        } else if (s->reply_mode == REPLY_SKIP_NEXT) {
            r->flags |= REQ_F_NO_REPLY;
            s->reply_mode = REPLY_ON;
        }
        stat_add(&w->stats.requests, 1);
        struct session_ext *x = s->ext;
        if (x && (x->barriers > 0 || x->deferred)) {
            /* Waits for the barrier before it, as it would on a Redis connection. */
            if (!x->deferred) x->deferred = r;
            continue;
        }
        dispatch_request(w, r);
    }
    /* Nothing partial left: let the chunk go, so an idle session holds no buffer. */
    if (s->in && session_in_drop_chunk(s->in)) resp_req_shrink(&s->in->parser);
}

/* A lingering session reads only to throw away: closing with unread input would make the kernel
 * reset the connection. */
static void session_discard_input(struct session *s)
{
    char junk[16384];
    for (;;) {
        ssize_t n = read(s->fd, junk, sizeof(junk));
        if (n > 0) continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        session_close(s); /* the client closed too */
        return;
    }
    session_linger(s);
}

static void session_read(struct session *s)
{
    struct worker *w = s->w;
    if (s->flags & SESS_LINGER) {
        session_discard_input(s);
        return;
    }
    if (!s->in) {
        s->in = px_calloc(1, sizeof(*s->in));
        resp_req_init(&s->in->parser);
    }
    struct session_in *in = s->in;
    size_t kept = in->chunk ? in->chunk->len - in->start : 0;
    buf_chunk_make_room(&w->pool, &in->chunk, &in->start,
                        buf_read_want(in->need, kept, SESS_READ_MIN));
    struct buf_chunk *c = in->chunk;
    ssize_t n = read(s->fd, c->data + c->len, buf_chunk_room(c));
    if (n == 0) {
        /* A client blocked or subscribed that goes away is gone, as Redis treats it: its node
         * connections are closed at once rather than left blocked or subscribed. */
        if (session_nblocking(s) > 0 || (session_pubsub(s) && pubsub_subscribed(s))) {
            session_close(s);
            return;
        }
        /* Half-closed: answer what was asked, then close. */
        s->flags |= SESS_READ_EOF;
        session_in_drop_chunk(in);
        session_update_mask(s);
        worker_want_flush(w, s);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        session_close(s);
        return;
    }
    c->len += (uint32_t)n;
    s->last_ms = loop_now_ms(w->loop); /* as Redis: any input is interaction, even a part */
    stat_add(&w->stats.net_input_bytes, (uint64_t)n);
    if (c->len - in->start > w->cfg->query_buf_limit) {
        /* As Redis: what was read and not yet run is over the limit; closed without a reply. */
        session_close_limit(s, &w->stats.closed_query, "unparsed input over -query-buffer-limit",
                            (unsigned long long)(c->len - in->start));
        return;
    }
    session_parse(s);
    if (!(s->flags & SESS_CLOSED)) session_update_mask(s);
}

void session_drain(struct session *s)
{
    if (session_nblocking(s) > 0 || (session_pubsub(s) && pubsub_subscribed(s))) {
        session_close(s);
        return;
    }
    s->flags |= SESS_READ_EOF | SESS_DRAINING; /* no more requests are read */
    session_update_mask(s);
    worker_want_flush(s->w, s);
}

void session_linger(struct session *s)
{
    if (s->flags & SESS_CLOSED) return;
    if (!(s->flags & SESS_LINGER)) {
        /* The FIN goes after the replies; the client sees them all, then end of stream. */
        s->flags |= SESS_LINGER;
        shutdown(s->fd, SHUT_WR);
        session_update_mask(s);
    }
    int unacked = 0;
    if (ioctl(s->fd, SIOCOUTQ, &unacked) < 0 || unacked == 0) session_close(s);
}

/* Writes what the kernel takes of the pending output. Returns -1 when the session was closed. */
static int session_write_out(struct session *s)
{
    if (obuf_empty(&s->out)) return 0;
    ssize_t n = obuf_write(&s->out, s->fd);
    if (n < 0 && n != -EAGAIN) {
        session_close(s);
        return -1;
    }
    if (n > 0) stat_add(&s->w->stats.net_output_bytes, (uint64_t)n);
    return 0;
}

/* The output limits of -client-output-buffer-limit. Returns -1 when the session was closed. */
static int session_check_output(struct session *s)
{
    const struct config *cfg = s->w->cfg;
    size_t pending = s->out.bytes;
    if (cfg->cobl_hard > 0 && pending > cfg->cobl_hard) {
        session_close_limit(s, &s->w->stats.closed_output,
                            "unread replies over the hard -client-output-buffer-limit",
                            (unsigned long long)pending);
        return -1;
    }
    if (cfg->cobl_soft == 0 || cfg->cobl_soft_s == 0 || pending <= cfg->cobl_soft) {
        if (s->ext) s->ext->out_soft_since = 0;
        return 0;
    }
    struct session_ext *x = session_ext_get(s);
    uint64_t now = loop_now_ms(s->w->loop);
    if (x->out_soft_since == 0) {
        x->out_soft_since = now;
    } else if (now - x->out_soft_since >= (uint64_t)cfg->cobl_soft_s * 1000) {
        session_close_limit(s, &s->w->stats.closed_output,
                            "unread replies over the soft -client-output-buffer-limit too long",
                            (unsigned long long)pending);
        return -1;
    }
    return 0;
}

void session_cron(struct session *s, uint64_t now_ms)
{
    if (s->flags & (SESS_CLOSED | SESS_LINGER)) return;
    if (session_check_output(s) < 0) return;
    /* Between requests for a second or more: the reader and its parser go too (unless a partial
     * request is still waiting for its end), the output queue's ring, and the side state once
     * nothing in it is used. */
    if (now_ms - s->last_ms >= 1000) {
        if (s->in && !s->in->chunk) session_in_free(s);
        obuf_release(&s->out);
        session_ext_trim(s);
    }
    int timeout = s->w->cfg->timeout_s;
    /* As Redis: blocked and subscribed clients are never idle; nor is one waiting for replies. */
    if (timeout > 0 && s->nqueued == 0 && obuf_empty(&s->out) && session_nblocking(s) == 0 &&
        !(session_pubsub(s) && pubsub_subscribed(s)) &&
        now_ms - s->last_ms > (uint64_t)timeout * 1000) {
        stat_add(&s->w->stats.closed_idle, 1);
        log_debug("client %llu closed: idle for %llu s (-timeout)", (unsigned long long)s->id,
                  (unsigned long long)((now_ms - s->last_ms) / 1000));
        session_close(s);
    }
}

void session_flush(struct session *s)
{
    s->flags &= ~SESS_FLUSH_QUEUED;
    if (s->flags & SESS_CLOSED) return;
    if (session_write_out(s) < 0) return;
    if (s->flags & SESS_RESUME) {
        session_dispatch_deferred(s);
        if (s->flags & SESS_CLOSED) return;
        if (session_write_out(s) < 0) return;
    }
    if (session_check_output(s) < 0) return;
    if ((s->flags & SESS_READ_PAUSED) && s->nqueued <= (uint32_t)s->w->cfg->max_inflight / 2) {
        s->flags &= ~SESS_READ_PAUSED;
        session_parse(s); /* requests already read come first */
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

static void session_on_event(struct loop *l, int fd, int mask, void *ctx)
{
    struct session *s = ctx;
    if (mask & LOOP_ERROR) {
        session_close(s);
        return;
    }
    if (mask & LOOP_READ) session_read(s);
    if ((mask & LOOP_WRITE) && !(s->flags & SESS_CLOSED)) session_flush(s);
}
