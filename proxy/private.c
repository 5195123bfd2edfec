/*
 * Private connections and their per-worker pool; see private.h.
 *
 * Every private connection is a backend runner of its own whose callbacks (priv_backend_ops) pass
 * each event on to whoever leased it (pc->ops), so this file knows nothing of transactions,
 * blocking commands or Pub/Sub. The pool keeps idle connections per node; a lease takes one from
 * there or makes one; a release puts it back only when nothing it carries could surprise its
 * next user.
 *
 * The leasers are forward.c (blocking commands), txn.c and pubsub.c. A runner's events go
 * through priv_backend_ops to pc->ops; once a leaser detaches, they reach nobody. Nothing is
 * freed where it is closed: priv_close marks and lists, and priv_free_dead, from the worker's
 * before-sleep hook, frees the runner (failing what it still has in flight through pc->ops),
 * tells the leaser (gone) and frees the connection.
 */
#include "private.h"

#include "log.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>

/* One pool entry per node and protocol: the idle connections to it. */
struct priv_entry {
    char ip[SLOTMAP_IP_MAX];
    int port;
    int resp; /* 2, or 3 for RESP3 clients' connections (HELLO 3 on connect) */
    struct privconn *idle;
    uint32_t nidle;
};

static const struct backend_ops priv_backend_ops;

void priv_pool_init(struct priv_pool *pp, struct view *view, struct topology *topo,
                    const struct config *cfg, struct worker_stats *stats)
{
    memset(pp, 0, sizeof(*pp));
    pp->view = view;
    pp->topo = topo;
    pp->cfg = cfg;
    pp->stats = stats;
}

/* The entry of a node, made on first use and kept (a handful per worker). entries moves when it
 * grows, which is why a connection records its entry's index, not its address. */
static struct priv_entry *entry_for(struct priv_pool *pp, const char *ip, int port, int resp)
{
    for (int i = 0; i < pp->nentries; i++)
        if (pp->entries[i].port == port && pp->entries[i].resp == resp &&
            strcmp(pp->entries[i].ip, ip) == 0)
            return &pp->entries[i];
    pp->entries = px_realloc(pp->entries, (size_t)(pp->nentries + 1) * sizeof(*pp->entries));
    struct priv_entry *p = &pp->entries[pp->nentries++];
    memset(p, 0, sizeof(*p));
    snprintf(p->ip, sizeof(p->ip), "%s", ip);
    p->port = port;
    p->resp = resp;
    return p;
}

/* For any of the lists a connection can be on (its owner's, its node's idle ones, the dead):
 * the caller names the head. */
static void list_remove(struct privconn **head, struct privconn *pc)
{
    if (pc->prev)
        pc->prev->next = pc->next;
    else if (*head == pc)
        *head = pc->next;
    if (pc->next) pc->next->prev = pc->prev;
    pc->next = pc->prev = NULL;
}

static void list_push(struct privconn **head, struct privconn *pc)
{
    pc->prev = NULL;
    pc->next = *head;
    if (*head) (*head)->prev = pc;
    *head = pc;
}

/* Takes pc off its owner's list (made by priv_lease). */
static void disown(struct privconn *pc)
{
    if (pc->owner) list_remove(&pc->owner->x->privs, pc);
    pc->owner = NULL;
}

/* A new connection for entry p, not connected yet (it connects on its first send, or at once
 * with backend_reconnect). */
static struct privconn *priv_new(struct priv_pool *pp, struct priv_entry *p)
{
    struct privconn *pc = px_calloc(1, sizeof(*pc));
    pc->pool = pp;
    pc->entry = (int)(p - pp->entries);
    /* The masters' options (no READONLY): transactions, blocking commands and subscriptions all
     * go to masters. */
    pc->b = backend_create(pp->view->loop, pp->view->pool, &priv_backend_ops, pc,
                           p->resp == 3 ? &pp->view->bopts3 : &pp->view->bopts, p->ip, p->port);
    stat_add(&pp->stats->private_conns, 1);
    return pc;
}

struct privconn *priv_lease(struct priv_pool *pp, struct client *owner, struct backend *shared,
                            const struct priv_ops *ops, void *ctx)
{
    struct priv_entry *p = entry_for(pp, backend_ip(shared), backend_port(shared),
                                     backend_resp(shared));
    /* A pooled connection is connected already: no handshake on the request path. */
    struct privconn *pc = p->idle;
    if (pc) {
        list_remove(&p->idle, pc);
        p->nidle--;
        pc->idle = 0;
    } else {
        pc = priv_new(pp, p);
    }
    /* The pool ran dry: a spare starts connecting now, so that the next lease (another client's
     * blocking command, sent right after this one) does not wait for a handshake that a command
     * on a shared connection, sent after it, would not wait for. */
    if (p->nidle == 0 && pp->cfg->backend_idle_connections > 0) {
        struct privconn *spare = priv_new(pp, p);
        spare->idle = 1;
        list_push(&p->idle, spare);
        p->nidle++;
        backend_reconnect(spare->b); /* a failure at once drops it from the pool (idle_down) */
    }
    pc->ops = ops;
    pc->ctx = ctx;
    pc->owner = owner;
    if (owner) list_push(&client_ext_get(owner)->privs, pc);
    backend_set_timeout(pc->b, pp->cfg->backend_timeout_ms); /* leasers may turn it off */
    return pc;
}

void priv_detach(struct privconn *pc)
{
    pc->ops = NULL;
    pc->ctx = NULL;
}

void priv_close(struct privconn *pc)
{
    if (pc->dead) return;
    disown(pc);
    pc->dead = 1;
    list_push(&pc->pool->dead, pc);
}

void priv_close_when_done(struct privconn *pc)
{
    if (pc->dead) return;
    pc->retiring = 1;
    if (backend_inflight(pc->b) == 0) priv_close(pc);
}

void priv_release(struct privconn *pc)
{
    if (pc->dead) return;
    if (pc->retiring) { /* it may carry state: never pooled */
        priv_close_when_done(pc);
        return;
    }
    struct priv_pool *pp = pc->pool;
    struct priv_entry *p = &pp->entries[pc->entry];
    enum backend_state st = backend_get_state(pc->b);
    /* Clean: no reply on its way to the next leaser. A connection still connecting has sent
     * nothing, so it qualifies. */
    int clean = backend_inflight(pc->b) == 0 && (st == BACKEND_UP || st == BACKEND_CONNECTING);
    if (!clean || p->nidle >= (uint32_t)pp->cfg->backend_idle_connections) {
        priv_close(pc);
        return;
    }
    disown(pc);
    priv_detach(pc);
    backend_set_raw(pc->b, 0); /* the next leaser gets request/reply mode, whatever this one used */
    pc->idle = 1;
    list_push(&p->idle, pc);
    p->nidle++;
}

void priv_close_all(struct client *c)
{
    /* priv_close takes the head off the client's list, so the loop moves on. */
    while (c->x && c->x->privs) priv_close(c->x->privs);
}

uint32_t priv_count(const struct client *c)
{
    uint32_t n = 0;
    for (const struct privconn *pc = c->x ? c->x->privs : NULL; pc; pc = pc->next) n++;
    return n;
}

void priv_free_dead(struct priv_pool *pp)
{
    while (pp->dead) {
        struct privconn *pc = pp->dead;
        list_remove(&pp->dead, pc);
        /* It may have queued bytes this turn, before it was closed: this turn's flush, which
         * comes after (so that a client told it is unsubscribed is, at the node), must not
         * reach the runner freed here. */
        view_forget_flush(pp->view, pc->b);
        /* Fails whatever is still in flight: those requests' clients are gone or get errors. */
        backend_free(pc->b);
        /* After the failures, so the leaser can still match them to its state. */
        if (pc->ops && pc->ops->gone) pc->ops->gone(pc, pc->ctx);
        px_free(pc);
        stat_add(&pp->stats->private_conns, (uint64_t)-1);
    }
}

/* An idle pooled connection that the node closed (its timeout, a restart): dropped now, rather
 * than handed to a leaser broken. */
static void idle_down(struct privconn *pc)
{
    struct priv_pool *pp = pc->pool;
    struct priv_entry *p = &pp->entries[pc->entry];
    list_remove(&p->idle, pc);
    p->nidle--;
    pc->idle = 0;
    pc->dead = 1;
    list_push(&pp->dead, pc);
}

void priv_pool_deinit(struct priv_pool *pp)
{
    for (int i = 0; i < pp->nentries; i++)
        while (pp->entries[i].idle) idle_down(pp->entries[i].idle);
    priv_free_dead(pp);
    px_free(pp->entries);
    pp->entries = NULL;
    pp->nentries = 0;
}

uint32_t priv_pool_idle(const struct priv_pool *pp)
{
    uint32_t n = 0;
    for (int i = 0; i < pp->nentries; i++) n += pp->entries[i].nidle;
    return n;
}

/* ---- the runner's callbacks, passed on to the leaser ---- */

/* ops NULL: the connection is idle, or its leaser detached; the event reaches nobody. */
static void on_reply(struct backend *b, struct backend_req *r, struct buf_chunk *c, uint32_t off,
                     const struct resp_reply_info *info, void *ctx)
{
    struct privconn *pc = ctx;
    if (pc->ops) pc->ops->reply(pc, r, c, off, info, pc->ctx);
    if (pc->retiring && !pc->dead && backend_inflight(b) == 0) priv_close(pc); /* its last reply */
}

static void on_failed(struct backend *b, struct backend_req *r, int written, void *ctx)
{
    struct privconn *pc = ctx;
    if (pc->ops) pc->ops->failed(pc, r, written, pc->ctx);
    if (pc->retiring && !pc->dead) priv_close(pc); /* broken: nothing more will come */
}

static void on_state(struct backend *b, enum backend_event ev, void *ctx)
{
    struct privconn *pc = ctx;
    if (pc->dead) return;
    /* An idle connection concerns only the pool; a leased one's leaser hears every event. */
    if (pc->idle) {
        if (ev == BACKEND_EV_DOWN) idle_down(pc);
    } else if (pc->ops && pc->ops->state) {
        pc->ops->state(pc, ev, pc->ctx);
    }
    /* A private connection that fails is news about its node as much as a shared one. */
    if (ev == BACKEND_EV_DOWN) topology_request_refresh(pc->pool->topo);
}

static void on_want_flush(struct backend *b, void *ctx)
{
    struct privconn *pc = ctx;
    view_want_flush(pc->pool->view, b);
}

static void on_push(struct backend *b, struct buf_chunk *c, uint32_t off,
                    const struct resp_reply_info *info, void *ctx)
{
    struct privconn *pc = ctx;
    if (pc->ops && pc->ops->push) pc->ops->push(pc, c, off, info, pc->ctx);
}

static const struct backend_ops priv_backend_ops = {
    .reply = on_reply,
    .failed = on_failed,
    .state = on_state,
    .want_flush = on_want_flush,
    .push = on_push,
};
