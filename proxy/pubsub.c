/*
 * Pub/Sub; see pubsub.h.
 *
 * A client's struct pubsub holds its subscriptions and its connections (struct ps_conn, one per
 * node it listens to, each on a private connection in raw mode). Every subscribe command sent to
 * a node records, on that connection, how many confirmations it owes and for which client
 * request (struct ps_ack, a ring); the request is answered with the confirmations made here once
 * its last node confirmation arrives (request_confirmed). Messages pass through to the client as
 * the node wrote them. A broken connection (or a map that moved a node) rebuilds every
 * connection, with back-off, from the subscriptions recorded here.
 *
 * Calls come from the dispatcher (pubsub_run, for the six commands), the worker (pubsub_on_map,
 * on every map), local.c (HELLO, RESET) and the session (pubsub_free when it closes). Replies to
 * the commands go to the request's sink; messages go through ctx->deliver, because they answer
 * no request.
 */
#include "pubsub.h"

#include "commands.h"
#include "errors.h"
#include "keys.h"
#include "log.h"
#include "mem.h"
#include "resp_reply.h"
#include "route.h"

#include <stdio.h>
#include <string.h>

#define PS_BATCH        1000 /* channels per (re)subscribe command */
#define PS_RETRY_MIN_MS 20
#define PS_RETRY_MAX_MS 1000

/* A connection's job: channels and patterns; keyspace notifications from a master other than
 * the main connection's; shard channels of one node. */
enum ps_role { PS_MAIN = 0, PS_KEYSPACE, PS_SHARD };

/* By enum pubsub_kind: the first word of each confirmation. */
static const char *const kind_name[] = {"subscribe",   "psubscribe",   "ssubscribe",
                                        "unsubscribe", "punsubscribe", "sunsubscribe"};

/* A confirmation the connection owes: remaining of them, for request r (NULL: a resubscription
 * nobody waits for). */
struct ps_ack {
    struct request *r;
    uint32_t remaining;
    uint8_t kind;
};

struct ps_conn {
    struct pubsub *ps;
    struct privconn *pc;
    enum ps_role role;
    /* The node's address, copied: its runner in the view may be freed with a map meanwhile. */
    char ip[SLOTMAP_IP_MAX];
    int port;
    /* One entry per command sent, in order: a node confirms in the order it was asked. */
    struct ps_ack *acks; /* ring */
    uint32_t head, count, cap;
};

struct pubsub {
    struct client *c; /* the session's own, valid until pubsub_free (at the latest, its close) */
    struct pubsub_ctx *ctx;
    struct pubsub *next, *prev; /* ctx->all */
    struct pubsub_subs subs;
    struct ps_conn **conns;
    int nconns;
    int broken; /* waiting to subscribe everything again */
    struct loop_timer retry;
    uint32_t retry_ms;
};

static const struct priv_ops ps_priv_ops;

/* ---- the subscriptions ---- */

static int starts(const char *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(p, prefix, n) == 0;
}

int pubsub_keyspace_channel(const char *p, size_t len)
{
    return starts(p, len, "__keyspace@") || starts(p, len, "__keyevent@");
}

int pubsub_keyspace_pattern(const char *p, size_t len)
{
    /* Only the literal prefix, up to the first glob character, can be compared: "__key*" may
     * match a notification, and so may "*", which therefore counts. */
    size_t lit = 0;
    while (lit < len && p[lit] != '*' && p[lit] != '?' && p[lit] != '[' && p[lit] != '\\') lit++;
    static const char *const pre[] = {"__keyspace@", "__keyevent@"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(pre[i]), m = lit < n ? lit : n;
        if (memcmp(p, pre[i], m) == 0) return 1;
    }
    return 0;
}

/* Whether name of a (un)subscription of this kind is about keyspace notifications. */
static int keyspace_kind(enum pubsub_kind kind, const char *p, size_t len)
{
    int pattern = kind == PSK_PSUB || kind == PSK_PUNSUB;
    return pattern ? pubsub_keyspace_pattern(p, len) : pubsub_keyspace_channel(p, len);
}

void pubsub_subs_init(struct pubsub_subs *s)
{
    strset_init(&s->channels);
    strset_init(&s->patterns);
    strset_init(&s->shard);
}

void pubsub_subs_free(struct pubsub_subs *s)
{
    strset_free(&s->channels);
    strset_free(&s->patterns);
    strset_free(&s->shard);
}

uint32_t pubsub_subs_regular(const struct pubsub_subs *s)
{
    return s->channels.n + s->patterns.n;
}

static struct strset *set_of(struct pubsub_subs *s, enum pubsub_kind kind)
{
    switch (kind) {
    case PSK_PSUB:
    case PSK_PUNSUB: return &s->patterns;
    case PSK_SSUB:
    case PSK_SUNSUB: return &s->shard;
    default: return &s->channels;
    }
}

/* The count a confirmation of this kind carries: shard channels are counted apart. */
static uint32_t count_of(const struct pubsub_subs *s, enum pubsub_kind kind)
{
    return kind == PSK_SSUB || kind == PSK_SUNSUB ? s->shard.n : pubsub_subs_regular(s);
}

/* A confirmation as Redis writes it: [kind, channel (nil for none), count], a push frame in
 * RESP3. */
static void confirm(struct sbuf *out, enum pubsub_kind k, const char *ch, size_t len,
                    long long count, int resp)
{
    resp_write_push_len(out, 3, resp);
    resp_write_bulk(out, kind_name[k], strlen(kind_name[k]));
    if (ch)
        resp_write_bulk(out, ch, len);
    else
        resp_write_null(out, resp);
    resp_write_int(out, count);
}

int pubsub_subs_add(struct pubsub_subs *s, enum pubsub_kind kind, const char *name, uint32_t len,
                    int value, int resp, struct sbuf *out)
{
    struct strset *set = set_of(s, kind);
    int added = strset_add(set, name, len, value);
    /* A shard channel subscribed again lives on the connection it was sent to this time. */
    if (!added && kind == PSK_SSUB) strset_get(set, name, len)->value = value;
    confirm(out, kind, name, len, count_of(s, kind), resp);
    return added;
}

int pubsub_subs_remove(struct pubsub_subs *s, enum pubsub_kind kind, const char *name, uint32_t len,
                       int resp, struct sbuf *out)
{
    int was = strset_del(set_of(s, kind), name, len);
    confirm(out, kind, name, len, count_of(s, kind), resp);
    return was;
}

void pubsub_confirm_none(const struct pubsub_subs *s, enum pubsub_kind kind, int resp,
                         struct sbuf *out)
{
    confirm(out, kind, NULL, 0, count_of(s, kind), resp);
}

/* Subscribed mode: the RESP2 context where only subscribe commands, PING, QUIT and RESET work. */
static int subscribed(const struct pubsub *ps)
{
    return ps && (pubsub_subs_regular(&ps->subs) + ps->subs.shard.n) > 0;
}

/* 1 when a channel or pattern needs every master (keyspace notifications). A walk of both sets:
 * it runs on a map or an unsubscribe, never for a message. */
static int has_keyspace(const struct pubsub *ps)
{
    const struct strset *sets[2] = {&ps->subs.channels, &ps->subs.patterns};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < sets[k]->cap; i++) {
            const struct strset_item *it = &sets[k]->items[i];
            if (it->key && keyspace_kind(k ? PSK_PSUB : PSK_SUB, it->key, it->len)) return 1;
        }
    return 0;
}

/* ---- a client's state ---- */

static struct pubsub *ps_peek(const struct client *c)
{
    return c && c->x ? c->x->ps : NULL;
}

const struct pubsub_subs *pubsub_client_subs(const struct client *c)
{
    const struct pubsub *p = ps_peek(c);
    return p ? &p->subs : NULL;
}

int pubsub_subscribed(const struct client *c)
{
    return subscribed(ps_peek(c));
}

static void ps_rebuild_timer(struct loop *l, void *ctx);

/* Made by the first subscribe command, and linked into ctx->all so that every map reaches it. */
static struct pubsub *ps_get(struct pubsub_ctx *ctx, struct client *c)
{
    struct client_ext *x = client_ext_get(c);
    if (!x->ps) {
        struct pubsub *ps = px_calloc(1, sizeof(*ps));
        ps->c = c;
        ps->ctx = ctx;
        pubsub_subs_init(&ps->subs);
        ps->retry_ms = PS_RETRY_MIN_MS;
        loop_timer_init(&ps->retry, ps_rebuild_timer, ps);
        ps->next = ctx->all;
        if (ctx->all) ctx->all->prev = ps;
        ctx->all = ps;
        x->ps = ps;
    }
    return x->ps;
}

/* ---- waiting requests ---- */

/* r's confirmations are all in: it is answered with the bytes kept in it. */
static void request_confirmed(struct request_pool *rp, struct request *r)
{
    if (--r->ps_pending > 0) return;
    /* Taken out of r first: the sink may keep a reference of its own in r->rchunk. */
    struct buf_chunk *c = r->rchunk;
    r->rchunk = NULL;
    r->state = REQ_NEW;
    request_reply_span(rp, r, c, r->roff, r->rlen);
    buf_chunk_put(c);
}

/* A confirmation for r arrived (or will not): answered when it was the last, freed when its
 * client is gone and nothing else waits for it. */
static void ack_done(struct request_pool *rp, struct request *r)
{
    if (!r) return;
    if (!request_orphan(r))
        request_confirmed(rp, r);
    else if (--r->ps_pending == 0)
        request_put(rp, r);
}

/* pc owes n confirmations of kind k for r, which now waits for one more acknowledgement. */
static void ack_push(struct ps_conn *pc, struct request *r, uint32_t n, enum pubsub_kind k)
{
    if (pc->count == pc->cap) {
        uint32_t ncap = pc->cap ? pc->cap * 2 : 8;
        struct ps_ack *a = px_malloc(ncap * sizeof(*a));
        for (uint32_t i = 0; i < pc->count; i++) a[i] = pc->acks[(pc->head + i) % pc->cap];
        px_free(pc->acks);
        pc->acks = a;
        pc->cap = ncap;
        pc->head = 0;
    }
    struct ps_ack *a = &pc->acks[(pc->head + pc->count) % pc->cap];
    a->r = r;
    a->remaining = n;
    a->kind = (uint8_t)k;
    pc->count++;
    if (r) r->ps_pending++;
}

/* The connection is going away: what it owed is considered confirmed (the subscriptions are
 * recorded here and will be made again). */
static void acks_drop(struct request_pool *rp, struct ps_conn *pc)
{
    while (pc->count > 0) {
        struct ps_ack a = pc->acks[pc->head];
        pc->head = (pc->head + 1) % pc->cap;
        pc->count--;
        ack_done(rp, a.r);
    }
}

/* ---- connections ---- */

static void conn_close(struct pubsub_ctx *ctx, struct ps_conn *pc)
{
    acks_drop(ctx->rp, pc);
    if (pc->pc) {
        /* Detached first: the runner's last events, at the end of the turn, must not reach this
         * ps_conn, freed below. */
        priv_detach(pc->pc);
        priv_close(pc->pc);
    }
    px_free(pc->acks);
    px_free(pc);
}

static struct ps_conn *conn_open(struct pubsub_ctx *ctx, struct pubsub *ps, enum ps_role role,
                                 struct backend *node)
{
    struct ps_conn *pc = px_calloc(1, sizeof(*pc));
    pc->ps = ps;
    pc->role = role;
    snprintf(pc->ip, sizeof(pc->ip), "%s", backend_ip(node));
    pc->port = backend_port(node);
    /* In the client's protocol: RESP3 messages are push frames, passed on as they come. */
    pc->pc =
        priv_lease(ctx->priv, ps->c, view_twin(ctx->view, node, ps->c->resp), &ps_priv_ops, pc);
    backend_set_raw(pc->pc->b, 1); /* nothing is matched to requests: on_push sees every frame */
    backend_set_timeout(pc->pc->b, 0); /* messages come when they come */
    ps->conns = px_realloc(ps->conns, (size_t)(ps->nconns + 1) * sizeof(*ps->conns));
    ps->conns[ps->nconns++] = pc;
    return pc;
}

/* By address, not by runner: the connection may speak RESP3 to a node the view's runner talks to
 * in RESP2. */
static int conn_is(const struct ps_conn *pc, struct backend *node)
{
    return pc->port == backend_port(node) && strcmp(pc->ip, backend_ip(node)) == 0;
}

/* node NULL: any connection of that role (there is one main connection at most). */
static struct ps_conn *conn_find(struct pubsub *ps, enum ps_role role, struct backend *node)
{
    for (int i = 0; i < ps->nconns; i++) {
        struct ps_conn *pc = ps->conns[i];
        if (pc->role == role && (!node || conn_is(pc, node))) return pc;
    }
    return NULL;
}

static int conn_index(struct pubsub *ps, struct ps_conn *pc)
{
    for (int i = 0; i < ps->nconns; i++)
        if (ps->conns[i] == pc) return i;
    return -1;
}

/* The master for channels and patterns: the one serving ROUTE_PUBSUB_SLOT, for every client of
 * every worker (and of every proxy in front of the same cluster), the node PUBLISH is sent to as
 * well: its count of receivers is then every subscriber's, as one Redis counts them. A cluster
 * delivers a PUBLISH to every node's subscribers, so this costs no message. */
static struct backend *main_node(struct pubsub_ctx *ctx, const struct client *c)
{
    (void)c;
    struct backend *b = ctx->view->map ? view_slot_backend(ctx->view, ROUTE_PUBSUB_SLOT) : NULL;
    return b ? b : view_master(ctx->view, 0);
}

/* Rebuilds on a timer with a back-off that doubles up to PS_RETRY_MAX_MS and starts again from
 * PS_RETRY_MIN_MS once a rebuild succeeds (ps_rebuild_timer). */
static void schedule_rebuild(struct pubsub *ps)
{
    ps->broken = 1;
    if (!loop_timer_active(&ps->retry)) {
        loop_timer_start(ps->ctx->loop, &ps->retry, ps->retry_ms);
        ps->retry_ms = ps->retry_ms * 2 > PS_RETRY_MAX_MS ? PS_RETRY_MAX_MS : ps->retry_ms * 2;
    }
}

/* Sends cmd with the given arguments (in batches) on pc, and expects their confirmations for r
 * (NULL: nobody waits). Returns 0, or -1 when the connection cannot take it (it is rebuilt). */
static int conn_send(struct ps_conn *pc, const char *cmd, const char *const *args,
                     const uint32_t *lens, uint32_t n, struct request *r, enum pubsub_kind kind)
{
    /* A node confirms every name on its own: one ack entry per batch, owing m confirmations. */
    for (uint32_t start = 0; start < n; start += PS_BATCH) {
        uint32_t m = n - start < PS_BATCH ? n - start : PS_BATCH;
        struct sbuf b;
        sbuf_init(&b);
        resp_write_array_len(&b, m + 1);
        resp_write_bulk(&b, cmd, strlen(cmd));
        for (uint32_t i = 0; i < m; i++) resp_write_bulk(&b, args[start + i], lens[start + i]);
        int rc = backend_send_raw(pc->pc->b, b.buf, b.len);
        sbuf_free(&b);
        if (rc < 0) {
            schedule_rebuild(pc->ps);
            return -1;
        }
        ack_push(pc, r, m, kind);
    }
    return 0;
}

/* A list of names: pointers into the set or the request, which must outlive it. */
struct names {
    const char **p;
    uint32_t *len;
    uint32_t n;
};

static void names_init(struct names *nm, uint32_t cap)
{
    nm->p = px_malloc((cap + 1) * sizeof(char *));
    nm->len = px_malloc((cap + 1) * sizeof(uint32_t));
    nm->n = 0;
}

static void names_free(struct names *nm)
{
    px_free(nm->p);
    px_free(nm->len);
}

static void names_add(struct names *nm, const char *p, uint32_t len)
{
    nm->p[nm->n] = p;
    nm->len[nm->n++] = len;
}

/* Every member of set (only those about keyspace notifications when only_keyspace). */
static void set_names(const struct strset *set, struct names *nm, int only_keyspace,
                      enum pubsub_kind kind)
{
    names_init(nm, set->n);
    for (uint32_t i = 0; i < set->cap; i++) {
        const struct strset_item *it = &set->items[i];
        if (!it->key || (only_keyspace && !keyspace_kind(kind, it->key, it->len))) continue;
        names_add(nm, it->key, it->len);
    }
}

/* The request's arguments after the command name. */
static void req_names(const struct request *r, struct names *nm)
{
    names_init(nm, r->argc - 1);
    for (uint32_t i = 1; i < r->argc; i++) names_add(nm, request_arg(r, i), r->argv[i].len);
}

/* The names of src about keyspace notifications. */
static void keyspace_names(const struct names *src, enum pubsub_kind kind, struct names *nm)
{
    names_init(nm, src->n);
    for (uint32_t i = 0; i < src->n; i++)
        if (keyspace_kind(kind, src->p[i], src->len[i])) names_add(nm, src->p[i], src->len[i]);
}

/* Sends cmd for names to every keyspace connection, opening those missing when open_missing
 * (one per master other than the main connection's). */
static void send_keyspace(struct pubsub *ps, struct ps_conn *main, const char *cmd,
                          const struct names *nm, struct request *r, enum pubsub_kind kind,
                          int open_missing)
{
    struct pubsub_ctx *ctx = ps->ctx;
    if (!open_missing) {
        for (int i = 0; i < ps->nconns && !ps->broken; i++)
            if (ps->conns[i]->role == PS_KEYSPACE)
                conn_send(ps->conns[i], cmd, nm->p, nm->len, nm->n, r, kind);
        return;
    }
    for (int m = 0; m < ctx->view->nmasters && !ps->broken; m++) {
        if (main && conn_is(main, ctx->view->masters[m])) continue;
        struct ps_conn *kc = conn_find(ps, PS_KEYSPACE, ctx->view->masters[m]);
        if (!kc) kc = conn_open(ctx, ps, PS_KEYSPACE, ctx->view->masters[m]);
        conn_send(kc, cmd, nm->p, nm->len, nm->n, r, kind);
    }
}

/* Makes every subscription again on connections to the current nodes. */
static void ps_rebuild(struct pubsub *ps)
{
    struct pubsub_ctx *ctx = ps->ctx;
    /* Closing counts what was owed as confirmed (acks_drop): everything recorded here is about
     * to be made again. */
    for (int i = 0; i < ps->nconns; i++) conn_close(ctx, ps->conns[i]);
    px_free(ps->conns);
    ps->conns = NULL;
    ps->nconns = 0;
    ps->broken = 0;
    if (!subscribed(ps)) return;
    struct backend *main = main_node(ctx, ps->c);
    if (!main) {
        schedule_rebuild(ps);
        return;
    }
    struct names nm;
    if (pubsub_subs_regular(&ps->subs) > 0) {
        struct ps_conn *pc = conn_open(ctx, ps, PS_MAIN, main);
        static const enum pubsub_kind kinds[2] = {PSK_SUB, PSK_PSUB};
        for (int k = 0; k < 2; k++) {
            set_names(set_of(&ps->subs, kinds[k]), &nm, 0, kinds[k]);
            if (nm.n)
                conn_send(pc, k ? "PSUBSCRIBE" : "SUBSCRIBE", nm.p, nm.len, nm.n, NULL, kinds[k]);
            names_free(&nm);
        }
        /* Keyspace notifications: every other master too. */
        for (int k = 0; k < 2; k++) {
            set_names(set_of(&ps->subs, kinds[k]), &nm, 1, kinds[k]);
            if (nm.n) send_keyspace(ps, pc, k ? "PSUBSCRIBE" : "SUBSCRIBE", &nm, NULL, kinds[k], 1);
            names_free(&nm);
        }
    }
    /* Shard channels: to the master of each one's slot, one command per channel (a node refuses
     * an SSUBSCRIBE whose channels are in several slots). */
    for (uint32_t i = 0; i < ps->subs.shard.cap; i++) {
        struct strset_item *it = &ps->subs.shard.items[i];
        if (!it->key) continue;
        struct backend *owner =
            view_slot_backend(ctx->view, view_key_slot(ctx->view, it->key, it->len));
        if (!owner) {
            schedule_rebuild(ps);
            it->value = -1;
            continue;
        }
        struct ps_conn *sc = conn_find(ps, PS_SHARD, owner);
        if (!sc) sc = conn_open(ctx, ps, PS_SHARD, owner);
        it->value = conn_index(ps, sc);
        const char *a[1] = {it->key};
        uint32_t l[1] = {it->len};
        conn_send(sc, "SSUBSCRIBE", a, l, 1, NULL, PSK_SSUB);
    }
}

static void ps_rebuild_timer(struct loop *l, void *ctx)
{
    struct pubsub *ps = ctx;
    if (ps->broken) ps_rebuild(ps);
    if (!ps->broken) ps->retry_ms = PS_RETRY_MIN_MS;
}

/* Closes connections that carry nothing any more; clean ones go back to the pool. */
static void ps_tidy(struct pubsub *ps)
{
    int k = 0;
    for (int i = 0; i < ps->nconns; i++) {
        struct ps_conn *pc = ps->conns[i];
        int used = pc->count > 0;
        if (pc->role == PS_MAIN) {
            used |= pubsub_subs_regular(&ps->subs) > 0;
        } else if (pc->role == PS_KEYSPACE) {
            used |= has_keyspace(ps); /* while a keyspace channel or pattern remains */
        } else {
            for (uint32_t j = 0; j < ps->subs.shard.cap && !used; j++)
                if (ps->subs.shard.items[j].key && ps->subs.shard.items[j].value == i) used = 1;
        }
        if (used) {
            /* Shard channels record their connection's index: keep them right. */
            if (k != i)
                for (uint32_t j = 0; j < ps->subs.shard.cap; j++)
                    if (ps->subs.shard.items[j].key && ps->subs.shard.items[j].value == i)
                        ps->subs.shard.items[j].value = k;
            ps->conns[k++] = pc;
            continue;
        }
        /* A connection with no subscription left is clean again: back to the pool. */
        struct privconn *priv = pc->pc;
        pc->pc = NULL;
        if (priv) {
            priv_detach(priv);
            priv_release(priv);
        }
        conn_close(ps->ctx, pc);
    }
    ps->nconns = k;
}

/* Connections with nothing left to carry go (ps_tidy); with no subscription and no connection
 * left, the client's Pub/Sub state goes too. ps may be freed: callers touch it no more. */
static void ps_settle(struct pubsub *ps)
{
    if (!ps) return;
    ps_tidy(ps);
    if (!subscribed(ps) && ps->nconns == 0) pubsub_free(ps->c);
}

/* ---- client commands ---- */

/* Keeps the confirmations in r until the nodes have confirmed (request_confirmed). */
static void hold_reply(struct pubsub_ctx *ctx, struct request *r, struct sbuf *reply)
{
    if (r->ps_pending == 0) {
        request_reply_bytes(ctx->rp, r, reply->buf, reply->len);
        return;
    }
    struct buf_chunk *c = buf_chunk_get_exact(ctx->rp->chunks, reply->len);
    memcpy(c->data, reply->buf, reply->len);
    c->len = (uint32_t)reply->len;
    r->rchunk = c;
    r->roff = 0;
    r->rlen = c->len;
    r->state = REQ_GATHER; /* answered by request_confirmed when the last node confirms */
}

/* Refuses r with the error written into out. */
static void refuse(struct pubsub_ctx *ctx, struct request *r, struct sbuf *out)
{
    r->flags |= REQ_F_REJECTED;
    request_reply_bytes(ctx->rp, r, out->buf, out->len);
}

static void subscribe(struct pubsub_ctx *ctx, struct request *r, enum pubsub_kind kind)
{
    struct backend *main = main_node(ctx, r->client);
    struct sbuf *out = &ctx->out;
    sbuf_clear(out);
    if (!main) {
        errors_unserved(out, ctx->view->map != NULL,
                        errors_mode_of(ctx->view->cfg->pool, ctx->view->cfg->auto_eject_hosts));
        refuse(ctx, r, out);
        return;
    }
    /* The confirmations are made here, from the recorded sets, so that their counts are what
     * one Redis connection would say; the nodes' own confirmations are only counted. */
    struct pubsub *ps = ps_get(ctx, r->client);
    struct names nm, ks;
    req_names(r, &nm);
    int resp = r->client->resp;
    for (uint32_t i = 0; i < nm.n; i++)
        pubsub_subs_add(&ps->subs, kind, nm.p[i], nm.len[i], 0, resp, out);
    if (!ps->broken) {
        const char *cmd = kind == PSK_PSUB ? "PSUBSCRIBE" : "SUBSCRIBE";
        struct ps_conn *mc = conn_find(ps, PS_MAIN, NULL);
        if (!mc) mc = conn_open(ctx, ps, PS_MAIN, main);
        conn_send(mc, cmd, nm.p, nm.len, nm.n, r, kind);
        /* Keyspace notifications: on every other master as well. */
        keyspace_names(&nm, kind, &ks);
        if (ks.n && !ps->broken) send_keyspace(ps, mc, cmd, &ks, r, kind, 1);
        names_free(&ks);
    }
    names_free(&nm);
    hold_reply(ctx, r, out);
}

static void unsubscribe(struct pubsub_ctx *ctx, struct request *r, enum pubsub_kind kind)
{
    struct pubsub *ps = ps_get(ctx, r->client);
    struct sbuf *out = &ctx->out;
    sbuf_clear(out);
    struct names nm, gone, ks;
    if (r->argc == 1) {
        set_names(set_of(&ps->subs, kind), &nm, 0, kind); /* all of them */
        if (nm.n == 0) pubsub_confirm_none(&ps->subs, kind, r->client->resp, out);
    } else {
        req_names(r, &nm);
    }
    /* Confirm each; tell the nodes about those that were subscribed. Each name is copied first:
     * removing frees the set's own copy, which nm may point at. */
    names_init(&gone, nm.n);
    for (uint32_t i = 0; i < nm.n; i++) {
        char *name = px_malloc(nm.len[i] ? nm.len[i] : 1);
        memcpy(name, nm.p[i], nm.len[i]);
        if (pubsub_subs_remove(&ps->subs, kind, name, nm.len[i], r->client->resp, out))
            names_add(&gone, name, nm.len[i]);
        else
            px_free(name); /* not subscribed: confirmed all the same, as Redis does */
    }
    struct ps_conn *mc = conn_find(ps, PS_MAIN, NULL);
    if (gone.n > 0 && mc && !ps->broken) {
        const char *cmd = kind == PSK_PUNSUB ? "PUNSUBSCRIBE" : "UNSUBSCRIBE";
        conn_send(mc, cmd, gone.p, gone.len, gone.n, r, kind);
        keyspace_names(&gone, kind, &ks);
        if (ks.n) send_keyspace(ps, mc, cmd, &ks, r, kind, 0);
        names_free(&ks);
    }
    for (uint32_t i = 0; i < gone.n; i++) px_free((char *)gone.p[i]);
    names_free(&gone);
    names_free(&nm);
    hold_reply(ctx, r, out);
    ps_tidy(ps);
}

/* The slot of r's channels: >= 0, or KEYS_SLOT_CROSS (Redis's CROSSSLOT for SSUBSCRIBE). */
static int channels_slot(const struct view *view, const struct request *r)
{
    int slot = -1;
    for (uint32_t i = 1; i < r->argc; i++) {
        int s = view_key_slot(view, request_arg(r, i), r->argv[i].len);
        if (slot >= 0 && s != slot) return KEYS_SLOT_CROSS;
        slot = s;
    }
    return slot;
}

static void ssubscribe(struct pubsub_ctx *ctx, struct request *r)
{
    struct sbuf *out = &ctx->out;
    sbuf_clear(out);
    int slot = channels_slot(ctx->view, r);
    struct backend *owner = slot >= 0 ? view_slot_backend(ctx->view, slot) : NULL;
    if (slot == KEYS_SLOT_CROSS || !owner) {
        if (slot == KEYS_SLOT_CROSS)
            errors_crossslot(out);
        else
            errors_unserved(out, ctx->view->map != NULL,
                            errors_mode_of(ctx->view->cfg->pool, ctx->view->cfg->auto_eject_hosts));
        refuse(ctx, r, out);
        return;
    }
    /* Broken: recorded without a connection (index -1); the rebuild will place it. */
    struct pubsub *ps = ps_get(ctx, r->client);
    struct ps_conn *sc = NULL;
    if (!ps->broken) {
        sc = conn_find(ps, PS_SHARD, owner);
        if (!sc) sc = conn_open(ctx, ps, PS_SHARD, owner);
    }
    int idx = sc ? conn_index(ps, sc) : -1;
    struct names nm;
    req_names(r, &nm);
    for (uint32_t i = 0; i < nm.n; i++)
        pubsub_subs_add(&ps->subs, PSK_SSUB, nm.p[i], nm.len[i], idx, r->client->resp, out);
    if (sc) conn_send(sc, "SSUBSCRIBE", nm.p, nm.len, nm.n, r, PSK_SSUB);
    names_free(&nm);
    hold_reply(ctx, r, out);
}

static void sunsubscribe(struct pubsub_ctx *ctx, struct request *r)
{
    struct pubsub *ps = ps_get(ctx, r->client);
    struct sbuf *out = &ctx->out;
    sbuf_clear(out);
    struct names nm;
    if (r->argc == 1) {
        set_names(&ps->subs.shard, &nm, 0, PSK_SSUB);
        if (nm.n == 0) pubsub_confirm_none(&ps->subs, PSK_SUNSUB, r->client->resp, out);
    } else {
        req_names(r, &nm);
    }
    for (uint32_t i = 0; i < nm.n; i++) {
        char *name = px_malloc(nm.len[i] ? nm.len[i] : 1);
        memcpy(name, nm.p[i], nm.len[i]);
        /* Its connection is read before the removal frees the item. */
        struct strset_item *it = strset_get(&ps->subs.shard, name, nm.len[i]);
        int conn = it ? it->value : -1;
        pubsub_subs_remove(&ps->subs, PSK_SUNSUB, name, nm.len[i], r->client->resp, out);
        if (conn >= 0 && conn < ps->nconns && !ps->broken) {
            const char *a[1] = {name};
            uint32_t l[1] = {nm.len[i]};
            conn_send(ps->conns[conn], "SUNSUBSCRIBE", a, l, 1, r, PSK_SUNSUB);
        }
        px_free(name);
    }
    names_free(&nm);
    hold_reply(ctx, r, out);
    ps_tidy(ps);
}

void pubsub_run(struct pubsub_ctx *ctx, struct request *r)
{
    /* Read now: a handler that answers r at once hands it to its sink, which may free it. The
     * client outlives the call (a session closed meanwhile is freed at the end of the turn). */
    struct client *c = r->client;
    /* Confirmations are pushes in Redis 7.0 (written even under CLIENT REPLY OFF or SKIP), like
     * the messages that follow them. */
    r->flags &= ~REQ_F_NO_REPLY;
    switch (r->cmd->local_id) {
    case LOCAL_SUBSCRIBE: subscribe(ctx, r, PSK_SUB); break;
    case LOCAL_PSUBSCRIBE: subscribe(ctx, r, PSK_PSUB); break;
    case LOCAL_SSUBSCRIBE: ssubscribe(ctx, r); break;
    case LOCAL_UNSUBSCRIBE: unsubscribe(ctx, r, PSK_UNSUB); break;
    case LOCAL_PUNSUBSCRIBE: unsubscribe(ctx, r, PSK_PUNSUB); break;
    case LOCAL_SUNSUBSCRIBE: sunsubscribe(ctx, r); break;
    default: break;
    }
    /* Nothing subscribed and no connection left: the client's Pub/Sub state goes. */
    struct pubsub *ps = ps_peek(c);
    if (ps && !subscribed(ps) && ps->nconns == 0) pubsub_free(c);
}

void pubsub_protocol_changed(struct client *c)
{
    /* Made again when the rebuild timer fires, on connections leased in the client's new
     * protocol (conn_open). */
    struct pubsub *ps = ps_peek(c);
    if (ps && subscribed(ps)) schedule_rebuild(ps);
}

void pubsub_free(struct client *c)
{
    struct pubsub *ps = ps_peek(c);
    if (!ps) return;
    struct pubsub_ctx *ctx = ps->ctx;
    if (loop_timer_active(&ps->retry)) loop_timer_stop(ctx->loop, &ps->retry);
    /* Requests waiting for confirmations are answered, or freed when orphaned (acks_drop). */
    for (int i = 0; i < ps->nconns; i++) conn_close(ctx, ps->conns[i]);
    px_free(ps->conns);
    pubsub_subs_free(&ps->subs);
    if (ps->prev)
        ps->prev->next = ps->next;
    else
        ctx->all = ps->next;
    if (ps->next) ps->next->prev = ps->prev;
    px_free(ps);
    c->x->ps = NULL;
}

/* ---- what the nodes send ---- */

/* Whether element e is the bulk string word: compared with its header, without parsing it. */
static int el_is(const char *d, const struct resp_span *e, const char *word)
{
    size_t n = strlen(word);
    char hdr[24];
    int hl = snprintf(hdr, sizeof(hdr), "$%zu\r\n", n);
    return e->len == (uint32_t)hl + n + 2 && memcmp(d + e->off, hdr, (size_t)hl) == 0 &&
           memcmp(d + e->off + hl, word, n) == 0;
}

/* The text of a bulk element. */
static const char *el_text(const char *d, const struct resp_span *e, uint32_t *len)
{
    const char *p = memchr(d + e->off, '\n', e->len);
    if (!p || d[e->off] != '$') {
        *len = 0;
        return "";
    }
    p++;
    *len = (uint32_t)(d + e->off + e->len - 2 - p);
    return p;
}

/*
 * Keyspace notifications are subscribed on every master, but a PUBLISH to a keyspace-looking
 * channel reaches every node of the cluster: delivered from each, it would arrive once per
 * master. A real notification comes only from the master that owns its key, so a keyspace message
 * is passed on only from the connection to that key's master (by the slot map): the key is in
 * the channel for __keyspace@ and in the payload for __keyevent@. Other messages come from the
 * main connection only.
 */
static int keyspace_from_owner(const struct pubsub_ctx *ctx, const struct ps_conn *pc,
                               const char *d, const struct resp_span *el, uint32_t n)
{
    int pm = el_is(d, &el[0], "pmessage");
    if (n < (pm ? 4u : 3u)) return pc->role == PS_MAIN;
    uint32_t cl, pl;
    const char *ch = el_text(d, &el[pm ? 2 : 1], &cl);
    const char *payload = el_text(d, &el[pm ? 3 : 2], &pl);
    if (!pubsub_keyspace_channel(ch, cl)) return pc->role == PS_MAIN;
    /* A pool's servers share no PUBLISH: each keyspace message comes from one server only (and
     * with -hash-tag-strip its key is the stored name, which need not place where it is). */
    if (ctx->view->cfg->pool) return 1;
    const char *key = payload;
    size_t klen = pl;
    if (starts(ch, cl, "__keyspace@")) { /* __keyspace@<db>__:<key> */
        const char *sep = memmem(ch, cl, "__:", 3);
        if (!sep) return pc->role == PS_MAIN;
        key = sep + 3;
        klen = cl - (size_t)(key - ch);
    }
    struct backend *owner = view_slot_backend(ctx->view, view_key_slot(ctx->view, key, klen));
    if (!owner) return pc->role == PS_MAIN;
    return conn_is(pc, owner);
}

/* A confirmation or a message from a node. */
static void on_push(struct privconn *priv, struct buf_chunk *c, uint32_t off,
                    const struct resp_reply_info *info, void *arg)
{
    struct ps_conn *pc = arg;
    struct pubsub *ps = pc->ps;
    struct pubsub_ctx *ctx = ps->ctx;
    const char *d = c->data + off;
    struct resp_span el[4];
    uint32_t n;
    if (resp_reply_elements(d, info->len, el, 4, &n) < 0 || n < 2) return;
    if (el_is(d, &el[0], "message") || el_is(d, &el[0], "smessage") ||
        el_is(d, &el[0], "pmessage")) {
        if (pc->role != PS_SHARD && !keyspace_from_owner(ctx, pc, d, el, n)) return;
        stat_add(&ctx->stats->pubsub_messages, 1);
        /* The client may be closed from in here (a subscriber that does not read): nothing of
         * ps or pc may be touched after this call. */
        ctx->deliver(ctx->deliver_ctx, ps->c, c, off, info->len);
        return;
    }
    for (int k = PSK_SUB; k <= PSK_SUNSUB; k++) {
        if (!el_is(d, &el[0], kind_name[k])) continue;
        if (pc->count > 0 && pc->acks[pc->head].kind == k) {
            struct ps_ack *a = &pc->acks[pc->head];
            if (--a->remaining == 0) {
                struct request *r = a->r;
                pc->head = (pc->head + 1) % pc->cap;
                pc->count--;
                /* The last confirmation this connection owed: the unsubscribe that made it
                 * unused was looked at while this was still owed (ps_tidy keeps a connection
                 * that owes one), so it is looked at again now. Before the answer, which may
                 * close the client and free ps; pc and ps are not touched after either. */
                if (pc->count == 0) ps_settle(ps);
                ack_done(ctx->rp, r);
            }
        } else if (k == PSK_SUNSUB) {
            /* The node dropped a shard channel itself (its slot moved away): subscribe again
             * where the slot is now. */
            topology_request_refresh(ctx->topo);
            schedule_rebuild(ps);
        }
        return;
    }
}

/* Any DOWN: every subscription is made again, on whatever nodes the view names by then. */
static void on_state(struct privconn *priv, enum backend_event ev, void *arg)
{
    struct ps_conn *pc = arg;
    if (ev == BACKEND_EV_DOWN) schedule_rebuild(pc->ps);
}

/* Its private connection is being freed. */
static void on_gone(struct privconn *priv, void *arg)
{
    struct ps_conn *pc = arg;
    pc->pc = NULL;
}

/* Raw mode: nothing is sent with backend_send, so nothing is answered or failed that way. */
static void on_reply(struct privconn *priv, struct backend_req *r, struct buf_chunk *c,
                     uint32_t off, const struct resp_reply_info *info, void *arg)
{
}

static void on_failed(struct privconn *priv, struct backend_req *r, int written, void *arg) {}

static const struct priv_ops ps_priv_ops = {
    .reply = on_reply,
    .failed = on_failed,
    .state = on_state,
    .push = on_push,
    .gone = on_gone,
};

/* ---- the worker ---- */

void pubsub_ctx_init(struct pubsub_ctx *ctx, struct loop *loop, struct request_pool *rp,
                     struct view *view, struct priv_pool *priv, struct topology *topo,
                     struct worker_stats *stats, pubsub_deliver_fn *deliver, void *deliver_ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loop = loop;
    ctx->rp = rp;
    ctx->view = view;
    ctx->priv = priv;
    ctx->topo = topo;
    ctx->stats = stats;
    ctx->deliver = deliver;
    ctx->deliver_ctx = deliver_ctx;
    sbuf_init(&ctx->out);
}

void pubsub_ctx_deinit(struct pubsub_ctx *ctx)
{
    sbuf_free(&ctx->out);
}

void pubsub_on_map(struct pubsub_ctx *ctx)
{
    struct view *v = ctx->view;
    for (struct pubsub *ps = ctx->all; ps; ps = ps->next) {
        if (!subscribed(ps)) continue;
        /* Stale when a connection no longer goes where the view says: the main node moved, a
         * keyspace master left or joined, a shard channel's slot moved. */
        int stale = ps->broken;
        struct backend *main = main_node(ctx, ps->c);
        for (int i = 0; i < ps->nconns && !stale; i++) {
            struct ps_conn *pc = ps->conns[i];
            if (pc->role == PS_MAIN && (!main || !conn_is(pc, main))) stale = 1;
            if (pc->role == PS_KEYSPACE) {
                int still = 0;
                for (int m = 0; m < v->nmasters; m++) still |= conn_is(pc, v->masters[m]);
                if (!still) stale = 1;
            }
        }
        /* Keyspace: one connection per master other than the main one. */
        if (!stale && pubsub_subs_regular(&ps->subs) > 0 && has_keyspace(ps)) {
            int nks = 0;
            for (int i = 0; i < ps->nconns; i++) nks += ps->conns[i]->role == PS_KEYSPACE;
            if (nks != v->nmasters - 1) stale = 1;
        }
        for (uint32_t i = 0; i < ps->subs.shard.cap && !stale; i++) {
            struct strset_item *it = &ps->subs.shard.items[i];
            if (!it->key) continue;
            struct backend *owner = view_slot_backend(v, view_key_slot(v, it->key, it->len));
            if (it->value < 0 || !owner || !conn_is(ps->conns[it->value], owner)) stale = 1;
        }
        if (stale) ps_rebuild(ps);
    }
}
