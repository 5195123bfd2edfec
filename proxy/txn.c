/*
 * Transactions; see txn.h.
 *
 * Each client in a transaction has a struct txn (its part of the client's side state): the
 * state machine's state, the private connection once the transaction's node is known, and the
 * commands the proxy keeps until then (MULTI and keyless commands, as RESP bytes). txn_run finds
 * the event and the request's slot, asks txn_decide what to do, and does it: leasing the
 * connection, sending (behind the kept commands), or answering. Replies on the connection come
 * back through txn_priv_ops; a redirect there means the slot moved under the transaction, which
 * the node will fail at EXEC, so the client is told at once.
 *
 * The dispatcher calls txn_run for what routing gives the transaction logic (routing reads the
 * state through txn_route_state); RESET and a closing session call txn_reset, the session's cron
 * txn_trim.
 */
#include "txn.h"

#include "errors.h"
#include "mem.h"
#include "pause.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define REQ_OF(breq) ((struct request *)((char *)(breq)-offsetof(struct request, breq)))

/* Sent ahead of a client's command, as prefixes whose replies the runner drops. */
static const char multi_cmd[] = "*1\r\n$5\r\nMULTI\r\n";
static const char discard_cmd[] = "*1\r\n$7\r\nDISCARD\r\n";

/* EXEC combining the node's part with the commands the proxy runs after it (txn.h). */
struct txn_combine {
    uint32_t n;       /* places in EXEC's array */
    uint32_t nafter;  /* the proxy's commands among them */
    uint32_t *pos;    /* their places, ascending */
    struct sbuf *rep; /* their replies, as they come */
    uint32_t nrep;
    struct sbuf node;  /* the node's reply to EXEC */
    uint8_t node_in;   /* ...is in */
    uint8_t cancelled; /* ...and is not an array: it is EXEC's answer, nothing else runs */
};

/* A client's transaction. */
struct txn {
    struct txn_fsm fsm;
    struct privconn *priv; /* the transaction's connection, once its node is known */
    struct sbuf kept;      /* commands kept until then (fsm.nkept of them) */
    /* Commands kept for after the node's part (fsm.nafter of them), each as its place in EXEC's
     * array, its argument count and each argument's length (uint32_t) and bytes. */
    struct sbuf after;
    struct txn_combine *comb; /* from a combining EXEC until its collector is answered */
    int qwrites;              /* a command queued since MULTI may write (CLIENT PAUSE WRITE) */
};

static const struct priv_ops txn_priv_ops;

/* ---- the state machine ---- */

void txn_fsm_init(struct txn_fsm *s)
{
    memset(s, 0, sizeof(*s));
    s->slot = -1;
}

/* The phase stays: forgetting the connection does not close MULTI or end a WATCH. */
void txn_fsm_detach(struct txn_fsm *s)
{
    s->conn = 0;
    s->slot = -1;
    s->aborted = 0;
    s->watch_lost = 0;
    s->wrote_after = 0;
    s->nkept = 0;
    s->nqueued = 0;
    s->nafter = 0;
}

void txn_fsm_conn_lost(struct txn_fsm *s)
{
    int watching = s->phase == RT_TX_WATCHING, multi = s->phase == RT_TX_MULTI;
    txn_fsm_detach(s);
    if (multi) s->aborted = 1;
    if (watching) s->watch_lost = 1;
}

/* An error while queuing: answered now, and EXEC will say EXECABORT. */
static void queue_error(struct txn_fsm *s, struct txn_step *out, enum txn_reply why)
{
    out->reply = why;
    out->rejected = 1;
    s->aborted = 1;
}

/* A command while MULTI is open. */
static void decide_queued(struct txn_fsm *s, int slot, int who, struct txn_step *out)
{
    if (who == TXW_NEVER) {
        queue_error(s, out, TXR_ERR_NOT_IN_MULTI);
        return;
    }
    if (s->aborted && (!s->conn || who != TXW_NODE)) {
        /* Already doomed (an error, or its connection broke): nothing is sent anywhere, EXEC
         * will fail; Redis too answers +QUEUED after a queuing error. */
        out->reply = TXR_QUEUED;
        return;
    }
    if (slot == KEYS_SLOT_CROSS || (slot >= 0 && s->slot >= 0 && slot != s->slot)) {
        queue_error(s, out, TXR_ERR_CROSSSLOT);
        return;
    }
    if (who != TXW_NODE) {
        /* Kept by the proxy and run once the node has run its part; its reply takes its place
         * in EXEC's array. */
        out->act = TXA_AFTER;
        out->reply = TXR_QUEUED;
        s->nafter++;
        s->nqueued++;
        if (who == TXW_PROXY_WRITE) s->wrote_after = 1;
        return;
    }
    if (s->wrote_after) {
        /* It would run before the write queued ahead of it (the node's part runs first). */
        queue_error(s, out, TXR_ERR_AFTER_WRITE);
        return;
    }
    s->nqueued++;
    if (slot >= 0 && !s->conn) {
        out->lease = slot; /* the first key: the transaction's node is known now */
        s->conn = 1;
        s->slot = slot;
    } else if (slot >= 0 && s->slot < 0) {
        s->slot = slot; /* the connection was taken for keyless commands only */
    }
    if (s->conn) {
        out->act = TXA_SEND;
        s->nkept = 0;
        return;
    }
    /* Keyless, node not known yet: kept here, sent behind MULTI later. */
    out->act = TXA_KEEP;
    out->reply = TXR_QUEUED;
    s->nkept++;
}

static void decide_exec(struct txn_fsm *s, struct txn_step *out)
{
    if (s->phase != RT_TX_MULTI) {
        out->reply = TXR_ERR_EXEC_WITHOUT;
        return;
    }
    s->phase = RT_TX_NONE;
    if (s->aborted || s->watch_lost) {
        out->reply = s->aborted ? TXR_EXECABORT : TXR_NULL_ARRAY;
        /* With a connection, the node discards what it queued; EXEC's reply is replaced. */
        if (s->conn) {
            out->act = TXA_SEND_ABORT;
            out->end = 1;
            out->detach = 1;
        }
        txn_fsm_detach(s);
        return;
    }
    /* Later requests of this client wait for EXEC, as they would on a Redis connection. */
    out->barrier = 1;
    out->end = 1;
    out->detach = 1;
    out->act = TXA_SEND;
    out->combine = s->nafter > 0;
    if (!s->conn) out->lease = -1; /* only keyless commands: any master will do */
    txn_fsm_detach(s);             /* the next transaction starts afresh */
}

void txn_decide(struct txn_fsm *s, enum txn_event ev, int slot, int who, struct txn_step *out)
{
    memset(out, 0, sizeof(*out));
    out->lease = -2;
    switch (ev) {
    case TXE_MULTI:
        if (s->phase == RT_TX_MULTI) {
            out->reply = TXR_ERR_NESTED;
            return;
        }
        s->phase = RT_TX_MULTI;
        s->nqueued = 0;
        s->nshown = 0;
        s->nafter = 0;
        s->wrote_after = 0;
        if (s->conn) { /* WATCH took the connection: MULTI goes there now */
            out->act = TXA_SEND;
            return;
        }
        out->act = TXA_KEEP;
        out->reply = TXR_OK;
        s->nkept = 1;
        return;
    case TXE_COMMAND:
        if (s->phase == RT_TX_MULTI) {
            int doomed = s->aborted;
            decide_queued(s, slot, who, out);
            if (!doomed && !s->aborted && (out->reply == TXR_QUEUED || out->act == TXA_SEND))
                s->nshown++;
            return;
        }
        out->act = TXA_SEND; /* watching: the watched slot's command, behind the WATCH */
        return;
    case TXE_EXEC: decide_exec(s, out); return;
    case TXE_DISCARD:
        if (s->phase != RT_TX_MULTI) {
            out->reply = TXR_ERR_DISCARD_WITHOUT;
            return;
        }
        s->phase = RT_TX_NONE;
        if (s->conn) {
            out->act = TXA_SEND;
            out->end = 1;
            out->detach = 1;
        } else {
            out->reply = TXR_OK;
        }
        txn_fsm_detach(s);
        return;
    case TXE_WATCH:
        if (s->phase == RT_TX_MULTI) {
            out->reply = TXR_ERR_WATCH_IN_MULTI;
            return;
        }
        /* Before MULTI an error dooms nothing: the client may WATCH again, or go on without. */
        if (slot == KEYS_SLOT_CROSS || (s->slot >= 0 && slot != s->slot)) {
            out->reply = TXR_ERR_CROSSSLOT;
            out->rejected = 1;
            return;
        }
        if (!s->conn) {
            out->lease = slot;
            s->conn = 1;
            s->slot = slot;
        }
        s->phase = RT_TX_WATCHING;
        out->act = TXA_SEND;
        return;
    case TXE_UNWATCH:
        s->phase = RT_TX_NONE;
        if (!s->conn) {
            /* Nothing is watched any more: a broken WATCH connection no longer fails EXEC. */
            txn_fsm_detach(s);
            out->reply = TXR_OK;
            return;
        }
        out->act = TXA_SEND;
        out->end = 1;
        out->detach = 1;
        txn_fsm_detach(s);
        return;
    }
}

/* ---- a client's transaction ---- */

static struct txn *txn_peek(const struct client *c)
{
    return c && c->x ? c->x->txn : NULL;
}

static struct txn *txn_of(struct client *c)
{
    struct client_ext *x = client_ext_get(c);
    if (!x->txn) {
        x->txn = px_calloc(1, sizeof(*x->txn));
        txn_fsm_init(&x->txn->fsm);
        sbuf_init(&x->txn->kept);
    }
    return x->txn;
}

void txn_route_state(const struct client *c, uint8_t *phase, int *watched_slot)
{
    const struct txn *t = txn_peek(c);
    *phase = t ? t->fsm.phase : RT_TX_NONE;
    /* Only while a connection holds the WATCH: once it broke, that slot's commands go the usual
     * way. */
    *watched_slot = t && t->priv ? t->fsm.slot : -1;
}

size_t txn_client_mem(const struct client *c)
{
    const struct txn *t = txn_peek(c);
    return t ? sizeof(*t) + t->kept.cap + t->after.cap : 0;
}

int txn_in_multi(const struct client *c)
{
    const struct txn *t = txn_peek(c);
    return t && t->fsm.phase == RT_TX_MULTI;
}

long long txn_multi_count(const struct client *c)
{
    const struct txn *t = txn_peek(c);
    return t && t->fsm.phase == RT_TX_MULTI ? (long long)t->fsm.nshown : -1;
}

int txn_queued_writes(const struct client *c)
{
    const struct txn *t = txn_peek(c);
    return t && t->fsm.phase == RT_TX_MULTI && t->qwrites;
}

int txn_active(const struct client *c)
{
    const struct txn *t = txn_peek(c);
    return t && t->fsm.phase != RT_TX_NONE;
}

void txn_note_error(struct request *r)
{
    struct txn *t = txn_peek(r->client);
    if (t && t->fsm.phase == RT_TX_MULTI) t->fsm.aborted = 1;
}

/* The connection is forgotten (it still has replies to read, or it is closed by the caller). */
static void forget_conn(struct txn *t)
{
    t->priv = NULL;
    sbuf_free(&t->kept);
}

/* The connection is gone: what was going on fails at EXEC. */
static void conn_lost(struct txn *t)
{
    txn_fsm_conn_lost(&t->fsm);
    forget_conn(t);
}

static void combine_free(struct txn *t)
{
    struct txn_combine *m = t->comb;
    if (!m) return;
    for (uint32_t i = 0; i < m->nafter; i++) sbuf_free(&m->rep[i]);
    px_free(m->rep);
    px_free(m->pos);
    sbuf_free(&m->node);
    px_free(m);
    t->comb = NULL;
}

void txn_reset(struct client *c)
{
    struct txn *t = txn_peek(c);
    if (!t) return; /* never had a transaction */
    struct privconn *pc = t->priv;
    sbuf_free(&t->kept);
    sbuf_free(&t->after);
    /* The requests of a combining EXEC are orphans now (or freed): none reaches its sinks. */
    combine_free(t);
    px_free(t);
    c->x->txn = NULL;
    /* It may hold MULTI or WATCH state: never reused. Not detached and not closed at once:
     * what is in flight on it (a command being queued, a read of a watched key) is answered
     * through txn_priv_ops, which need no struct txn, and the client's later replies (RESET's)
     * wait for those; a closing client's requests are failed and freed when priv_close_all
     * closes it. */
    if (pc) priv_close_when_done(pc);
}

void txn_trim(struct client *c)
{
    struct txn *t = txn_peek(c);
    if (!t || t->priv || t->fsm.phase != RT_TX_NONE || t->fsm.aborted || t->fsm.watch_lost ||
        t->fsm.slot >= 0 || t->fsm.nkept || t->comb)
        return;
    sbuf_free(&t->kept);
    sbuf_free(&t->after);
    px_free(t);
    c->x->txn = NULL;
}

/* ---- the executor ---- */

void txn_ctx_init(struct txn_ctx *tc, struct request_pool *rp, struct view *view,
                  struct priv_pool *priv, struct keys_result *keys, struct script_local *scripts)
{
    memset(tc, 0, sizeof(*tc));
    tc->rp = rp;
    tc->view = view;
    tc->priv = priv;
    tc->keys = keys;
    tc->scripts = scripts;
    sbuf_init(&tc->scratch);
}

void txn_ctx_deinit(struct txn_ctx *tc)
{
    sbuf_free(&tc->scratch);
}

static void reply_scratch(struct txn_ctx *tc, struct request *r)
{
    request_reply_bytes(tc->rp, r, tc->scratch.buf, tc->scratch.len);
}

/* Answers r with the machine's reply (TXR_NONE never reaches here). */
static void reply_with(struct txn_ctx *tc, struct request *r, enum txn_reply why)
{
    struct sbuf *sb = &tc->scratch;
    sbuf_clear(sb);
    switch (why) {
    case TXR_OK: sbuf_puts(sb, "+OK\r\n"); break;
    case TXR_QUEUED: sbuf_puts(sb, "+QUEUED\r\n"); break;
    case TXR_NULL_ARRAY: resp_write_null_array(sb, r->client ? r->client->resp : 2); break;
    case TXR_EXECABORT: errors_execabort(sb); break;
    case TXR_ERR_NESTED: errors_multi_nested(sb); break;
    case TXR_ERR_EXEC_WITHOUT: errors_exec_without_multi(sb); break;
    case TXR_ERR_DISCARD_WITHOUT: errors_discard_without_multi(sb); break;
    case TXR_ERR_WATCH_IN_MULTI: errors_watch_in_multi(sb); break;
    case TXR_ERR_NOT_IN_MULTI:
        /* Commands Redis itself refuses in a transaction get Redis's words. */
        if (r->cmd->cmd->flags & CMD_NO_MULTI)
            errors_no_multi_command(sb);
        else
            errors_not_in_multi(sb, r->cmd->cmd->name);
        break;
    case TXR_ERR_AFTER_WRITE: errors_tx_after_write(sb, r->cmd->cmd->name); break;
    case TXR_ERR_CROSSSLOT:
        if (tc->view->cfg->pool)
            errors_crossserver(sb);
        else
            errors_crossslot(sb);
        break;
    case TXR_NONE: errors_no_handler(sb, r->cmd->cmd->name); break;
    }
    reply_scratch(tc, r);
}

/* Takes a private connection to the master of slot (any master when slot < 0). Returns 0, or -1
 * with the error in the scratch buffer. */
static int lease(struct txn_ctx *tc, struct txn *t, struct request *r, int slot)
{
    struct backend *b = NULL;
    if (slot >= 0)
        b = view_slot_backend(tc->view, slot);
    else if (tc->view->nmasters > 0)
        b = tc->view->masters[tc->rr++ % (uint32_t)tc->view->nmasters];
    b = view_twin(tc->view, b, r->client->resp); /* replies in the client's protocol */
    if (!b) {
        sbuf_clear(&tc->scratch);
        errors_unserved(&tc->scratch, tc->view->map != NULL,
                        errors_mode_of(tc->view->cfg->pool, tc->view->cfg->auto_eject_hosts));
        return -1;
    }
    t->priv = priv_lease(tc->priv, r->client, b, &txn_priv_ops, tc);
    return 0;
}

/* Sends r on the transaction's connection, behind prefix (nprefix commands whose replies are not
 * wanted). When the connection cannot take it, the transaction is lost and r says so. */
static void send_on(struct txn_ctx *tc, struct txn *t, struct request *r, const char *prefix,
                    size_t plen, int nprefix)
{
    r->flags |= REQ_F_TX;
    r->state = REQ_SENT;
    struct privconn *pc = t->priv;
    if (backend_send(pc->b, &r->breq, prefix, plen, nprefix) == 0) return;
    sbuf_clear(&tc->scratch);
    errors_tx_conn_lost(&tc->scratch, backend_addr(pc->b));
    conn_lost(t);
    priv_close(pc);
    r->flags &= ~REQ_F_TX;
    reply_scratch(tc, r);
}

/* The request's event for the state machine. */
static enum txn_event event_of(const struct request *r, uint8_t phase)
{
    switch (r->cmd->local_id) {
    case LOCAL_MULTI: return TXE_MULTI;
    case LOCAL_EXEC: return TXE_EXEC;
    case LOCAL_DISCARD: return TXE_DISCARD;
    case LOCAL_WATCH: return TXE_WATCH;
    /* Inside MULTI, Redis queues UNWATCH like any command. */
    case LOCAL_UNWATCH: return phase == RT_TX_MULTI ? TXE_COMMAND : TXE_UNWATCH;
    default: return TXE_COMMAND;
    }
}

/* Who runs r inside MULTI (enum txn_who): the node what the proxy forwards, and the few commands
 * the proxy answers itself that a node answers the same; the proxy, after the node's part, the
 * other commands it answers or fans out; nobody Pub/Sub commands, those Redis refuses in a
 * transaction, and those that change the connection itself (AUTH, HELLO, CLIENT REPLY). */
static int who_runs(const struct request *r)
{
    const struct cmd_entry *e = r->cmd;
    int id = e->local_id;
    if (e->cmd->flags & (CMD_PUBSUB | CMD_NO_MULTI)) return TXW_NEVER;
    if (e->route == ROUTE_FORWARD || id == LOCAL_PING || id == LOCAL_ECHO || id == LOCAL_TIME ||
        id == LOCAL_UNWATCH)
        return TXW_NODE;
    if (e->route == ROUTE_UNSUPPORTED || id == LOCAL_AUTH || id == LOCAL_HELLO ||
        id == LOCAL_CLIENT_REPLY || id == LOCAL_QUIT || id == LOCAL_RESET ||
        (r->client && r->client->oneshot))
        return TXW_NEVER;
    return (e->cmd->flags & CMD_WRITE) ? TXW_PROXY_WRITE : TXW_PROXY;
}

/* ---- commands the proxy runs after the node's part ---- */

static void put_u32(struct sbuf *sb, uint32_t v)
{
    sbuf_put(sb, (const char *)&v, sizeof(v));
}

static uint32_t get_u32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Keeps r (the command at place pos of EXEC's array) for after the node's part. */
static void keep_after(struct txn *t, const struct request *r, uint32_t pos)
{
    put_u32(&t->after, pos);
    put_u32(&t->after, r->argc);
    for (uint32_t i = 0; i < r->argc; i++) {
        put_u32(&t->after, r->argv[i].len);
        sbuf_put(&t->after, request_arg(r, i), r->argv[i].len);
    }
}

static struct txn_combine *combine_of(const struct request *r)
{
    struct txn *t = txn_peek(request_client(r));
    return t ? t->comb : NULL;
}

/* The session's sink, which each request of a combining EXEC had: kept in the request itself
 * (top-level requests have no other use for owner_ctx), so that it is found whatever happens to
 * the combiner. */
static void keep_down(struct request *r)
{
    r->owner_ctx = (void *)(uintptr_t)r->sink;
}

static const struct request_sink *down_of(struct request *r)
{
    const struct request_sink *down = (const struct request_sink *)(uintptr_t)r->owner_ctx;
    r->owner_ctx = NULL;
    r->sink = down;
    return down;
}

/* The node's answer to a combining EXEC: kept for the collector; the client sees none of it. */
static void exec_reply_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                            uint32_t off, uint32_t len)
{
    struct txn_combine *m = combine_of(r);
    if (m) {
        m->node_in = 1;
        m->cancelled = len == 0 || c->data[off] != '*' || (len >= 3 && c->data[off + 1] == '-');
        uint32_t want = m->n - m->nafter, got = 0;
        if (!m->cancelled && resp_reply_elements(c->data + off, len, NULL, 0, &got) == 0 &&
            got != want) {
            /* The node ran a different transaction than the proxy queued: say so, never guess. */
            m->cancelled = 1;
            errors_tx_combine(&m->node, got, want);
        } else {
            sbuf_put(&m->node, c->data + off, len);
        }
    }
    r->flags |= REQ_F_NO_REPLY;
    down_of(r)->reply_span(rp, r, c, off, len);
}

static const struct request_sink exec_sink = {.reply_span = exec_reply_span, .reply_bytes = NULL};

/* A command run after the node's part is answered: its reply is kept for its place. */
static void after_reply_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                             uint32_t off, uint32_t len)
{
    struct txn_combine *m = combine_of(r);
    if (m && !m->cancelled && r->child_idx < m->nafter) {
        sbuf_put(&m->rep[r->child_idx], c->data + off, len);
        m->nrep++;
    }
    down_of(r)->reply_span(rp, r, c, off, len);
}

static const struct request_sink after_sink = {.reply_span = after_reply_span, .reply_bytes = NULL};

/* A request of the client's made here, with args for its bytes (the client's queue takes it). */
static struct request *made_request(struct txn_ctx *tc, const struct request *exec,
                                    const char *const *args, const uint32_t *lens, uint32_t n)
{
    struct request *q = request_get(tc->rp);
    request_rewrite(tc->rp, q, args, lens, n);
    q->start_us = exec->start_us;
    q->seq = exec->seq;
    return q;
}

/*
 * Sets up a combining EXEC r (n places, the proxy's commands kept in t->after): the commands and
 * a collector go into the client's queue behind r, to be dispatched once r is answered; r's
 * answer, theirs and the collector's go through the sinks above.
 */
static void combine_start(struct txn_ctx *tc, struct txn *t, struct request *r, uint32_t n,
                          uint32_t nafter)
{
    struct txn_combine *m = px_calloc(1, sizeof(*m));
    m->n = n;
    m->nafter = nafter;
    m->pos = px_calloc(nafter, sizeof(*m->pos));
    m->rep = px_calloc(nafter, sizeof(*m->rep));
    sbuf_init(&m->node);
    t->comb = m;
    struct request *first = NULL, *last = NULL;
    const char *p = t->after.buf;
    const char **args = NULL;
    uint32_t *lens = NULL, cap = 0;
    for (uint32_t i = 0; i < nafter; i++) {
        sbuf_init(&m->rep[i]);
        m->pos[i] = get_u32(p);
        uint32_t argc = get_u32(p + 4);
        p += 8;
        if (argc > cap) {
            cap = argc;
            args = px_realloc(args, cap * sizeof(*args));
            lens = px_realloc(lens, cap * sizeof(*lens));
        }
        for (uint32_t a = 0; a < argc; a++) {
            lens[a] = get_u32(p);
            args[a] = p + 4;
            p += 4 + lens[a];
        }
        struct request *q = made_request(tc, r, args, lens, argc);
        /* Their replies are part of EXEC's; MONITOR showed them when they were queued. */
        q->flags |= REQ_F_TX_AFTER | REQ_F_NO_REPLY | REQ_F_MONITORED;
        q->child_idx = i;
        if (last)
            last->next = q;
        else
            first = q;
        last = q;
    }
    px_free(args);
    px_free(lens);
    sbuf_free(&t->after);
    static const char *const exec_arg[] = {"EXEC"};
    static const uint32_t exec_len[] = {4};
    struct request *col = made_request(tc, r, exec_arg, exec_len, 1);
    /* No command: the collector counts as no call (EXEC was counted). */
    col->flags |= REQ_F_TX_COLLECT | REQ_F_MONITORED | (r->flags & REQ_F_NO_REPLY);
    last->next = col;
    tc->inject(tc->inject_up, r, first, col, nafter + 1);
    keep_down(r);
    r->sink = &exec_sink;
    for (struct request *q = first; q != col; q = q->next) {
        keep_down(q);
        q->sink = &after_sink;
    }
}

/* EXEC's array: the node's elements, with the proxy's replies in their places. */
static void combine_answer(struct txn_ctx *tc, struct txn_combine *m, struct request *col)
{
    struct sbuf *sb = &tc->scratch;
    sbuf_clear(sb);
    if (!m->node_in || m->cancelled) {
        if (m->node_in)
            sbuf_put(sb, m->node.buf, m->node.len);
        else
            errors_tx_conn_lost(sb, "?"); /* cannot happen: the node's reply came first */
        reply_scratch(tc, col);
        return;
    }
    uint32_t nnode = m->n - m->nafter, count = 0;
    struct resp_span *el = px_malloc((nnode ? nnode : 1) * sizeof(*el));
    if (resp_reply_elements(m->node.buf, m->node.len, el, nnode, &count) != 0 || count != nnode ||
        m->nrep != m->nafter) {
        /* The node ran a different transaction than the proxy queued: say so, never guess. */
        px_free(el);
        errors_tx_combine(sb, count, nnode);
        reply_scratch(tc, col);
        return;
    }
    resp_write_array_len(sb, m->n);
    for (uint32_t i = 0, a = 0, e = 0; i < m->n; i++) {
        if (a < m->nafter && m->pos[a] == i) {
            sbuf_put(sb, m->rep[a].buf, m->rep[a].len);
            a++;
        } else {
            sbuf_put(sb, m->node.buf + el[e].off, el[e].len);
            e++;
        }
    }
    px_free(el);
    reply_scratch(tc, col);
}

int txn_after_dispatch(struct txn_ctx *tc, struct request *r)
{
    struct txn *t = txn_peek(r->client);
    struct txn_combine *m = t ? t->comb : NULL;
    if (r->flags & REQ_F_TX_COLLECT) {
        if (m) {
            combine_answer(tc, m, r);
            combine_free(t);
        } else {
            request_reply_bytes(tc->rp, r, "", 0); /* cannot happen: kept until here */
        }
        return 1;
    }
    if (!m || m->cancelled) {
        down_of(r);
        request_reply_bytes(tc->rp, r, "", 0); /* NO_REPLY: the client sees nothing of it */
        return 1;
    }
    request_make_barrier(r); /* one after the other, as inside the transaction */
    return 0;
}

/* The slot of r's keys: >= 0, KEYS_SLOT_NONE, or KEYS_SLOT_CROSS. In pool mode with
 * -hash-tag-strip the keys are then renamed to the names they are stored under, as outside a
 * transaction (dispatch.c). */
static int slot_of(struct txn_ctx *tc, struct request *r)
{
    const char *base = r->breq.chunk->data;
    struct keyspace ks;
    view_keyspace(tc->view, 0, &ks);
    int n = keys_find(r->cmd->cmd, base, r->argv, r->argc, tc->keys);
    int slot = n > 0 ? keys_slot(tc->keys, base, r->argv, &ks) : KEYS_SLOT_NONE;
    if (n > 0 && ks.strip && !(r->cmd->cmd->flags & CMD_PUBSUB))
        request_strip_keys(tc->rp, r, tc->keys->pos, tc->keys->n);
    return slot;
}

/* A lease failed: the request gets the error, the machine forgets what it assumed. */
static void lease_failed(struct txn_ctx *tc, struct txn *t, struct request *r, enum txn_event ev,
                         const struct txn_fsm *before)
{
    if (ev == TXE_COMMAND) {
        t->fsm = *before; /* no connection; EXEC will fail */
        t->fsm.aborted = 1;
        r->flags |= REQ_F_REJECTED;
    } else if (ev == TXE_WATCH) {
        t->fsm = *before;
    } else {
        forget_conn(t); /* EXEC: the machine has already forgotten the transaction */
        sbuf_free(&t->after);
    }
    reply_scratch(tc, r);
}

/*
 * EVALSHA queued in MULTI, of a script the proxy has seen: sent as EVAL of its body. A node that
 * lacks the script (a promoted replica, a master that never saw the EVAL) would fail it only at
 * EXEC, too late to load it first; EVAL loads and runs it in one step, with the same reply.
 */
static void evalsha_as_eval(struct txn_ctx *tc, struct request *r)
{
    const char *name = r->cmd->cmd->name;
    int ro = strcmp(name, "evalsha_ro") == 0;
    if ((!ro && strcmp(name, "evalsha") != 0) || r->argc < 3 || r->argv[1].len != 40) return;
    size_t blen;
    char *body = scripts_lookup(tc->scripts, request_arg(r, 1), &blen);
    if (!body) return;
    const char **args = px_malloc(r->argc * sizeof(*args));
    uint32_t *lens = px_malloc(r->argc * sizeof(*lens));
    args[0] = ro ? "EVAL_RO" : "EVAL";
    lens[0] = ro ? 7 : 4;
    args[1] = body;
    lens[1] = (uint32_t)blen;
    for (uint32_t i = 2; i < r->argc; i++) {
        args[i] = request_arg(r, i);
        lens[i] = r->argv[i].len;
    }
    /* The arguments point into the old bytes, which stay referenced until the copy is made. */
    struct buf_chunk *old = r->breq.chunk;
    buf_chunk_ref(old);
    request_rewrite(tc->rp, r, args, lens, r->argc);
    buf_chunk_put(old);
    px_free(args);
    px_free(lens);
    px_free(body);
}

void txn_run(struct txn_ctx *tc, struct request *r)
{
    struct txn *t = txn_of(r->client);
    enum txn_event ev = event_of(r, t->fsm.phase);
    if (ev == TXE_COMMAND && t->fsm.phase == RT_TX_MULTI) evalsha_as_eval(tc, r);
    int slot = ev == TXE_COMMAND || ev == TXE_WATCH ? slot_of(tc, r) : KEYS_SLOT_NONE;
    /* The machine moves on as if the lease will work; a failed lease restores this copy. */
    struct txn_fsm before = t->fsm;
    struct txn_step st;
    txn_decide(&t->fsm, ev, slot, ev == TXE_COMMAND ? who_runs(r) : TXW_NODE, &st);
    /* The machine dropped the commands kept for after the node's part (DISCARD, an aborted
     * EXEC): so does this. */
    if (t->fsm.nafter == 0 && !st.combine) sbuf_free(&t->after);
    if (st.rejected) r->flags |= REQ_F_REJECTED;
    if (ev == TXE_MULTI) t->qwrites = 0;
    /* Queued: answered QUEUED here, or sent for the node to queue. */
    if (ev == TXE_COMMAND && before.phase == RT_TX_MULTI && !st.rejected &&
        (st.reply == TXR_QUEUED || st.act == TXA_SEND))
        t->qwrites |= pause_is_write(r, tc->scripts, 0);
    switch (st.act) {
    case TXA_REPLY:
        if (t->fsm.nkept == 0) sbuf_free(&t->kept); /* the machine dropped what was kept */
        reply_with(tc, r, st.reply);
        return;
    case TXA_AFTER:
        keep_after(t, r, before.nqueued);
        reply_with(tc, r, st.reply);
        return;
    case TXA_KEEP:
        if (ev == TXE_MULTI)
            sbuf_put(&t->kept, multi_cmd, sizeof(multi_cmd) - 1);
        else
            sbuf_put(&t->kept, r->breq.chunk->data + r->breq.off, r->breq.len);
        reply_with(tc, r, st.reply);
        return;
    case TXA_SEND_ABORT: {
        /* Discard on the node; the reply to this EXEC becomes the answer. */
        r->flags |= REQ_F_EXECABORT | REQ_F_TX_END;
        if (st.reply == TXR_NULL_ARRAY) r->flags |= REQ_F_NO_EXEC_RESULT;
        sbuf_free(&t->kept);
        send_on(tc, t, r, discard_cmd, sizeof(discard_cmd) - 1, 1);
        t->priv = NULL;
        return;
    }
    case TXA_SEND: break;
    }
    if (st.end) r->flags |= REQ_F_TX_END;
    if (st.barrier) request_make_barrier(r);
    if (st.lease != -2 && lease(tc, t, r, st.lease) < 0) {
        lease_failed(tc, t, r, ev, &before);
        return;
    }
    /* Before the send, which may answer r at once. */
    if (st.combine) combine_start(tc, t, r, before.nqueued, before.nafter);
    /* What waited for the node to be known (MULTI and keyless commands) goes first. Taken out
     * of t: a send that fails forgets the transaction, and what it kept with it. */
    struct sbuf kept = t->kept;
    uint32_t nkept = before.nkept;
    sbuf_init(&t->kept);
    if (kept.len)
        send_on(tc, t, r, kept.buf, kept.len, (int)nkept);
    else
        send_on(tc, t, r, NULL, 0, 0);
    sbuf_free(&kept);
    if (st.detach) t->priv = NULL; /* released when the node answers (TX_END) */
}

/* ---- the transaction's connection ---- */

static void on_reply(struct privconn *pc, struct backend_req *breq, struct buf_chunk *c,
                     uint32_t off, const struct resp_reply_info *info, void *ctx)
{
    struct txn_ctx *tc = ctx;
    struct request *r = REQ_OF(breq);
    /* Before the orphan check: the connection goes back to the pool whoever waits. */
    if (r->flags & REQ_F_TX_END) priv_release(pc); /* EXEC, DISCARD, UNWATCH: done with it */
    if (request_orphan(r)) {
        request_put(tc->rp, r);
        return;
    }
    if (r->flags & REQ_F_EXECABORT) {
        reply_with(tc, r, (r->flags & REQ_F_NO_EXEC_RESULT) ? TXR_NULL_ARRAY : TXR_EXECABORT);
        return;
    }
    if (info->err == RESP_ERRK_MOVED || info->err == RESP_ERRK_ASK) {
        /* The node refused the command and will fail EXEC; a redirect never reaches a client.
         * Only while pc is the transaction's: after RESET, a new transaction is not this one. */
        struct txn *t = txn_peek(r->client);
        if (t && t->priv == pc) txn_note_error(r);
        sbuf_clear(&tc->scratch);
        errors_tx_moved(&tc->scratch);
        reply_scratch(tc, r);
        return;
    }
    request_reply_span(tc->rp, r, c, off, info->len);
}

static void on_failed(struct privconn *pc, struct backend_req *breq, int written, void *ctx)
{
    struct txn_ctx *tc = ctx;
    struct request *r = REQ_OF(breq);
    priv_close(pc);
    if (request_orphan(r)) {
        request_put(tc->rp, r);
        return;
    }
    /* Only when it is still the transaction's connection: after EXEC, the machine has moved on. */
    struct txn *t = txn_peek(r->client);
    if (t && t->priv == pc) conn_lost(t);
    sbuf_clear(&tc->scratch);
    /* An EXEC fully written may have run; anything else means nothing queued will run. */
    if (written && (r->flags & REQ_F_TX_END) && r->cmd && r->cmd->local_id == LOCAL_EXEC)
        errors_connection_lost(&tc->scratch, backend_addr(pc->b));
    else
        errors_tx_conn_lost(&tc->scratch, backend_addr(pc->b));
    reply_scratch(tc, r);
}

/* The connection went down with nothing in flight: the transaction is lost. */
static void on_state(struct privconn *pc, enum backend_event ev, void *ctx)
{
    if (ev != BACKEND_EV_DOWN || !pc->owner) return;
    struct txn *t = txn_peek(pc->owner);
    if (!t || t->priv != pc) return;
    conn_lost(t);
    priv_close(pc);
}

static const struct priv_ops txn_priv_ops = {
    .reply = on_reply,
    .failed = on_failed,
    .state = on_state,
};
