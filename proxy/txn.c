/* Transactions; see txn.h. */
#include "txn.h"

#include "commands.h"
#include "dispatch.h"
#include "errors.h"
#include "keys.h"
#include "local.h"
#include "mem.h"
#include "private.h"
#include "request.h"
#include "session.h"
#include "worker.h"

#include <string.h>

static const char multi_cmd[] = "*1\r\n$5\r\nMULTI\r\n";
static const char discard_cmd[] = "*1\r\n$7\r\nDISCARD\r\n";
static const char null_array[] = "*-1\r\n";

static void reply_scratch(struct worker *w, struct request *r)
{
    request_reply_bytes(w, r, w->scratch.buf, w->scratch.len);
}

static void reply_str(struct worker *w, struct request *r, const char *s)
{
    request_reply_bytes(w, r, s, strlen(s));
}

/* The transaction state of r's session, made on first use (session_ext_get). */
static struct session_tx *tx_of(struct request *r)
{
    return &session_ext_get(r->sess)->tx;
}

/* An error while queuing: answered now, and EXEC will say EXECABORT. */
static void tx_error(struct worker *w, struct request *r)
{
    r->flags |= REQ_F_REJECTED;
    tx_of(r)->aborted = 1;
    reply_scratch(w, r);
}

void txn_note_error(struct request *r)
{
    if (r->sess && session_tx_state(r->sess) == TX_MULTI) r->sess->ext->tx.aborted = 1;
}

static void free_queued(struct session_tx *t)
{
    if (t->queued) {
        sbuf_free(t->queued);
        px_free(t->queued);
    }
    t->queued = NULL;
    t->nqueued = 0;
}

/* Forgets the transaction's connection, without closing it (it still has replies to read). */
static void detach(struct session_tx *t)
{
    t->priv = NULL;
    t->slot = -1;
    t->aborted = 0;
    t->watch_lost = 0;
    free_queued(t);
}

/* The transaction's connection is gone: what was going on fails at EXEC. */
static void conn_lost(struct session_tx *t)
{
    int watching = t->state == TX_WATCHING, multi = t->state == TX_MULTI;
    detach(t);
    if (multi) t->aborted = 1;
    if (watching) t->watch_lost = 1;
}

void txn_reset(struct session *s)
{
    if (!s->ext) return; /* never had a transaction */
    struct session_tx *t = &s->ext->tx;
    struct privconn *pc = t->priv;
    detach(t);
    t->state = TX_NONE;
    if (pc) priv_close(pc); /* it may hold MULTI or WATCH state: never reused */
}

/* Sends r on the transaction's connection, behind prefix (nprefix commands whose replies are not
 * wanted). */
static void tx_send(struct worker *w, struct request *r, const char *prefix, size_t plen,
                    int nprefix)
{
    struct session_tx *t = tx_of(r);
    r->flags |= REQ_F_TX;
    r->state = REQ_SENT;
    struct privconn *pc = t->priv;
    if (backend_send(pc->b, &r->breq, prefix, plen, nprefix) == 0) return;
    /* The connection is down: the transaction cannot go on. */
    sbuf_clear(&w->scratch);
    errors_tx_conn_lost(&w->scratch, backend_addr(pc->b));
    conn_lost(t);
    priv_close(pc);
    r->flags &= ~REQ_F_TX;
    reply_scratch(w, r);
}

/* Takes a private connection to the master of slot (any master when slot < 0). Returns 0, or -1
 * with the error in the worker's scratch buffer. */
static int lease(struct worker *w, struct request *r, int slot)
{
    struct backend *b = NULL;
    if (slot >= 0)
        b = worker_view(w, slot);
    else if (w->nmasters > 0)
        b = w->masters[w->rr++ % (uint32_t)w->nmasters];
    if (!b) {
        sbuf_clear(&w->scratch);
        if (w->map)
            errors_slot_unserved(&w->scratch);
        else
            errors_no_topology(&w->scratch);
        return -1;
    }
    struct session_tx *t = tx_of(r);
    t->priv = priv_lease(w, r->sess, b);
    t->slot = slot;
    return 0;
}

/* The slot of r's keys: >= 0, KEYS_SLOT_NONE, or KEYS_SLOT_CROSS. */
static int slot_of(struct worker *w, struct request *r)
{
    const char *base = r->breq.chunk->data;
    int n = keys_find(r->cmd->cmd, base, r->argv, r->argc, &w->keys);
    return n > 0 ? keys_slot(&w->keys, base, r->argv) : KEYS_SLOT_NONE;
}

/* Sends what waited for the node to be known (MULTI and keyless commands) ahead of r. */
static void send_with_queued(struct worker *w, struct request *r)
{
    struct session_tx *t = tx_of(r);
    if (t->queued) {
        struct sbuf *q = t->queued;
        int n = (int)t->nqueued;
        t->queued = NULL;
        t->nqueued = 0;
        tx_send(w, r, q->buf, q->len, n);
        sbuf_free(q);
        px_free(q);
    } else {
        tx_send(w, r, NULL, 0, 0);
    }
}

static void do_multi(struct worker *w, struct request *r)
{
    struct session_tx *t = tx_of(r);
    if (t->state == TX_MULTI) {
        reply_str(w, r, "-ERR MULTI calls can not be nested\r\n");
        return;
    }
    t->state = TX_MULTI;
    if (t->priv) { /* WATCH took the connection: MULTI goes there now */
        tx_send(w, r, NULL, 0, 0);
        return;
    }
    t->queued = px_malloc(sizeof(*t->queued));
    sbuf_init(t->queued);
    sbuf_put(t->queued, multi_cmd, sizeof(multi_cmd) - 1);
    t->nqueued = 1;
    reply_str(w, r, "+OK\r\n");
}

/* A command while MULTI is open. */
static void do_queued(struct worker *w, struct request *r)
{
    struct session_tx *t = tx_of(r);
    const struct cmd_entry *e = r->cmd;
    int id = e->local_id;
    int node_can = e->route == ROUTE_FORWARD || id == LOCAL_PING || id == LOCAL_ECHO ||
                   id == LOCAL_TIME || id == LOCAL_UNWATCH;
    if (!node_can || (e->cmd->flags & CMD_PUBSUB)) {
        sbuf_clear(&w->scratch);
        errors_not_in_multi(&w->scratch, e->cmd->name);
        tx_error(w, r);
        return;
    }
    if (t->aborted && !t->priv) {
        /* Already doomed (an error, or its connection broke): nothing is sent anywhere, EXEC
         * will fail; Redis too answers +QUEUED after a queuing error. */
        reply_str(w, r, "+QUEUED\r\n");
        return;
    }
    int slot = slot_of(w, r);
    if (slot == KEYS_SLOT_CROSS || (slot >= 0 && t->slot >= 0 && slot != t->slot)) {
        sbuf_clear(&w->scratch);
        errors_crossslot(&w->scratch);
        tx_error(w, r);
        return;
    }
    if (slot >= 0 && !t->priv) {
        if (lease(w, r, slot) < 0) {
            tx_error(w, r);
            return;
        }
    } else if (slot >= 0 && t->slot < 0) {
        t->slot = slot; /* the connection was taken for keyless commands only */
    }
    if (t->priv) {
        send_with_queued(w, r);
        return;
    }
    /* Keyless, node not known yet: queued here, sent behind MULTI later. */
    sbuf_put(t->queued, r->breq.chunk->data + r->breq.off, r->breq.len);
    t->nqueued++;
    reply_str(w, r, "+QUEUED\r\n");
}

static void do_exec(struct worker *w, struct request *r)
{
    struct session_ext *x = session_ext_get(r->sess);
    struct session_tx *t = &x->tx;
    if (t->state != TX_MULTI) {
        reply_str(w, r, "-ERR EXEC without MULTI\r\n");
        return;
    }
    t->state = TX_NONE;
    if (t->aborted || t->watch_lost) {
        const char *answer = t->aborted ? NULL : null_array;
        if (!t->priv) {
            detach(t);
            if (answer)
                reply_str(w, r, answer);
            else
                reply_str(w, r, "-EXECABORT Transaction discarded because of previous errors.\r\n");
            return;
        }
        /* Discard on the node; the reply to this EXEC becomes the answer. */
        r->flags |= REQ_F_EXECABORT | REQ_F_TX_END;
        if (answer) r->flags |= REQ_F_NO_EXEC_RESULT;
        struct privconn *pc = t->priv;
        free_queued(t);
        tx_send(w, r, discard_cmd, sizeof(discard_cmd) - 1, 1);
        if (t->priv == pc) detach(t);
        return;
    }
    /* Later requests of this client wait for EXEC, as they would on a Redis connection. */
    r->flags |= REQ_F_TX_END | REQ_F_BARRIER;
    x->barriers++;
    if (!t->priv && lease(w, r, -1) < 0) {
        detach(t);
        reply_scratch(w, r);
        return;
    }
    struct privconn *pc = t->priv;
    send_with_queued(w, r);
    if (t->priv == pc) detach(t); /* the next transaction starts afresh */
}

static void do_discard(struct worker *w, struct request *r)
{
    struct session_tx *t = tx_of(r);
    if (t->state != TX_MULTI) {
        reply_str(w, r, "-ERR DISCARD without MULTI\r\n");
        return;
    }
    t->state = TX_NONE;
    if (!t->priv) {
        detach(t);
        reply_str(w, r, "+OK\r\n");
        return;
    }
    r->flags |= REQ_F_TX_END;
    struct privconn *pc = t->priv;
    free_queued(t);
    tx_send(w, r, NULL, 0, 0);
    if (t->priv == pc) detach(t);
}

static void do_watch(struct worker *w, struct request *r)
{
    struct session_tx *t = tx_of(r);
    if (t->state == TX_MULTI) {
        reply_str(w, r, "-ERR WATCH inside MULTI is not allowed\r\n");
        return;
    }
    int slot = slot_of(w, r);
    if (slot == KEYS_SLOT_CROSS || (t->slot >= 0 && slot != t->slot)) {
        sbuf_clear(&w->scratch);
        errors_crossslot(&w->scratch);
        r->flags |= REQ_F_REJECTED;
        reply_scratch(w, r);
        return;
    }
    if (!t->priv && lease(w, r, slot) < 0) {
        reply_scratch(w, r);
        return;
    }
    t->state = TX_WATCHING;
    tx_send(w, r, NULL, 0, 0);
}

static void do_unwatch(struct worker *w, struct request *r)
{
    struct session_tx *t = tx_of(r);
    if (!t->priv) {
        t->state = TX_NONE;
        reply_str(w, r, "+OK\r\n");
        return;
    }
    r->flags |= REQ_F_TX_END;
    t->state = TX_NONE;
    struct privconn *pc = t->priv;
    tx_send(w, r, NULL, 0, 0);
    if (t->priv == pc) detach(t);
}

int txn_route(struct worker *w, struct request *r)
{
    enum sess_tx state = session_tx_state(r->sess);
    int id = r->cmd->local_id;
    int txcmd = id >= LOCAL_MULTI && id <= LOCAL_UNWATCH;
    if (state == TX_NONE && !txcmd) return 0; /* the common case, first */
    switch (id) {
    case LOCAL_MULTI: do_multi(w, r); return 1;
    case LOCAL_EXEC: do_exec(w, r); return 1;
    case LOCAL_DISCARD: do_discard(w, r); return 1;
    case LOCAL_WATCH: do_watch(w, r); return 1;
    case LOCAL_UNWATCH:
        if (state == TX_MULTI)
            do_queued(w, r);
        else
            do_unwatch(w, r);
        return 1;
    case LOCAL_QUIT:
    case LOCAL_RESET: return 0; /* answered at once, as Redis does even inside MULTI */
    default: break;
    }
    if (state == TX_MULTI) {
        do_queued(w, r);
        return 1;
    }
    /* Watching: commands for the watched slot go on the same connection, after the WATCH. */
    const struct session_tx *t = &r->sess->ext->tx; /* there is a transaction state */
    if (r->cmd->route == ROUTE_FORWARD && t->priv && slot_of(w, r) == t->slot) {
        tx_send(w, r, NULL, 0, 0);
        return 1;
    }
    return 0;
}

void txn_on_reply(struct worker *w, struct privconn *pc, struct request *r, struct buf_chunk *c,
                  uint32_t off, const struct resp_reply_info *info)
{
    if (r->flags & REQ_F_TX_END) priv_release(pc); /* EXEC, DISCARD, UNWATCH: done with it */
    struct session *s = r->sess;
    if (!s) {
        request_put(w, r);
        return;
    }
    if (r->flags & REQ_F_EXECABORT) {
        reply_str(w, r,
                  (r->flags & REQ_F_NO_EXEC_RESULT)
                      ? null_array
                      : "-EXECABORT Transaction discarded because of previous errors.\r\n");
        return;
    }
    if (info->err == RESP_ERRK_MOVED || info->err == RESP_ERRK_ASK) {
        /* The node refused the command and will fail EXEC; a redirect never reaches a client. */
        txn_note_error(r);
        sbuf_clear(&w->scratch);
        errors_tx_moved(&w->scratch);
        reply_scratch(w, r);
        return;
    }
    request_reply_span(w, r, c, off, info->len);
}

void txn_on_failed(struct worker *w, struct privconn *pc, struct request *r, int written)
{
    struct session *s = r->sess;
    priv_close(pc);
    if (!s) {
        request_put(w, r);
        return;
    }
    if (s->ext && s->ext->tx.priv == pc) conn_lost(&s->ext->tx);
    sbuf_clear(&w->scratch);
    if (written && (r->flags & REQ_F_TX_END) && r->cmd && r->cmd->local_id == LOCAL_EXEC)
        errors_connection_lost(&w->scratch, backend_addr(pc->b));
    else
        errors_tx_conn_lost(&w->scratch, backend_addr(pc->b));
    reply_scratch(w, r);
}

void txn_conn_down(struct session *s)
{
    struct privconn *pc = s->ext ? s->ext->tx.priv : NULL;
    if (!pc) return;
    conn_lost(&s->ext->tx);
    priv_close(pc);
}
