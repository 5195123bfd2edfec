/* Pub/Sub; see pubsub.h. */
#include "pubsub.h"

#include "clock.h"
#include "commands.h"
#include "crc16.h"
#include "errors.h"
#include "keys.h"
#include "local.h"
#include "log.h"
#include "mem.h"
#include "private.h"
#include "request.h"
#include "resp_reply.h"
#include "session.h"
#include "strset.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>

#define PS_BATCH        1000 /* channels per (re)subscribe command */
#define PS_RETRY_MIN_MS 20
#define PS_RETRY_MAX_MS 1000

enum ps_role { PS_MAIN = 0, PS_KEYSPACE, PS_SHARD };
enum ps_kind { K_SUB = 0, K_PSUB, K_SSUB, K_UNSUB, K_PUNSUB, K_SUNSUB };

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
    char ip[SLOTMAP_IP_MAX];
    int port;
    struct ps_ack *acks; /* ring */
    uint32_t head, count, cap;
};

struct pubsub {
    struct session *s;
    struct strset channels, patterns, shard; /* shard: value = index in conns */
    struct ps_conn **conns;
    int nconns;
    int broken; /* waiting to subscribe everything again */
    struct loop_timer retry;
    uint32_t retry_ms;
};

/* ---- helpers ---- */

static int starts(const char *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(p, prefix, n) == 0;
}

static int keyspace_channel(const char *p, size_t len)
{
    return starts(p, len, "__keyspace@") || starts(p, len, "__keyevent@");
}

/* Could the glob pattern match a keyspace-notification channel? Its literal prefix (before the
 * first special character) must agree with "__keyspace@" or "__keyevent@". */
static int keyspace_pattern(const char *p, size_t len)
{
    size_t lit = 0;
    while (lit < len && p[lit] != '*' && p[lit] != '?' && p[lit] != '[' && p[lit] != '\\') lit++;
    static const char *const pre[] = {"__keyspace@", "__keyevent@"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(pre[i]), m = lit < n ? lit : n;
        if (memcmp(p, pre[i], m) == 0) return 1;
    }
    return 0;
}

static uint32_t total_regular(const struct pubsub *ps)
{
    return ps->channels.n + ps->patterns.n;
}

/* Subscribed mode: the RESP2 context where only subscribe commands, PING, QUIT and RESET work. */
static int subscribed(const struct pubsub *ps)
{
    return ps && (total_regular(ps) + ps->shard.n) > 0;
}

static void confirm(struct sbuf *out, enum ps_kind k, const char *ch, size_t len, long long count)
{
    resp_write_array_len(out, 3);
    resp_write_bulk(out, kind_name[k], strlen(kind_name[k]));
    if (ch)
        resp_write_bulk(out, ch, len);
    else
        resp_write_null_bulk(out);
    resp_write_int(out, count);
}

static void ps_rebuild_timer(struct loop *l, void *ctx);

static struct pubsub *ps_get(struct session *s)
{
    struct session_ext *x = session_ext_get(s);
    if (!x->ps) {
        struct pubsub *ps = px_calloc(1, sizeof(*ps));
        ps->s = s;
        strset_init(&ps->channels);
        strset_init(&ps->patterns);
        strset_init(&ps->shard);
        ps->retry_ms = PS_RETRY_MIN_MS;
        loop_timer_init(&ps->retry, ps_rebuild_timer, ps);
        x->ps = ps;
    }
    return x->ps;
}

static void ps_rebuild_timer(struct loop *l, void *ctx);

/* ---- waiting requests ---- */

/* r's confirmations are all in: it is answered with the bytes kept in it. */
static void request_confirmed(struct worker *w, struct request *r)
{
    if (--r->ps_pending > 0) return;
    struct buf_chunk *c = r->rchunk;
    r->rchunk = NULL;
    r->state = REQ_NEW;
    request_reply_span(w, r, c, r->roff, r->rlen);
    buf_chunk_put(c);
}

static void ack_push(struct ps_conn *pc, struct request *r, uint32_t n, enum ps_kind k)
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
 * recorded here and will be made again). Requests of a closed session are freed. */
static void acks_drop(struct worker *w, struct ps_conn *pc)
{
    while (pc->count > 0) {
        struct ps_ack a = pc->acks[pc->head];
        pc->head = (pc->head + 1) % pc->cap;
        pc->count--;
        if (!a.r) continue;
        if (a.r->sess) {
            request_confirmed(w, a.r);
        } else if (--a.r->ps_pending == 0) {
            request_put(w, a.r);
        }
    }
}

/* ---- connections ---- */

static void conn_close(struct worker *w, struct ps_conn *pc)
{
    acks_drop(w, pc);
    if (pc->pc) {
        pc->pc->ps = NULL;
        priv_close(pc->pc);
    }
    px_free(pc->acks);
    px_free(pc);
}

static struct ps_conn *conn_open(struct worker *w, struct pubsub *ps, enum ps_role role,
                                 struct backend *node)
{
    struct ps_conn *pc = px_calloc(1, sizeof(*pc));
    pc->ps = ps;
    pc->role = role;
    snprintf(pc->ip, sizeof(pc->ip), "%s", backend_ip(node));
    pc->port = backend_port(node);
    pc->pc = priv_lease(w, ps->s, node);
    pc->pc->ps = pc;
    backend_set_raw(pc->pc->b, 1);
    backend_set_timeout(pc->pc->b, 0); /* messages come when they come */
    ps->conns = px_realloc(ps->conns, (size_t)(ps->nconns + 1) * sizeof(*ps->conns));
    ps->conns[ps->nconns++] = pc;
    return pc;
}

static int conn_is(const struct ps_conn *pc, struct backend *node)
{
    return pc->port == backend_port(node) && strcmp(pc->ip, backend_ip(node)) == 0;
}

static struct ps_conn *conn_find(struct pubsub *ps, enum ps_role role, struct backend *node)
{
    for (int i = 0; i < ps->nconns; i++) {
        struct ps_conn *pc = ps->conns[i];
        if (pc->role == role &&
            (!node || (pc->port == backend_port(node) && strcmp(pc->ip, backend_ip(node)) == 0)))
            return pc;
    }
    return NULL;
}

static int conn_index(struct pubsub *ps, struct ps_conn *pc)
{
    for (int i = 0; i < ps->nconns; i++)
        if (ps->conns[i] == pc) return i;
    return -1;
}

/* The master for channels and patterns: the same for a session as long as the masters do. */
static struct backend *main_node(struct worker *w, struct session *s)
{
    return w->nmasters ? w->masters[s->id % (uint64_t)w->nmasters] : NULL;
}

static void schedule_rebuild(struct pubsub *ps)
{
    struct worker *w = ps->s->w;
    ps->broken = 1;
    if (!loop_timer_active(&ps->retry)) {
        loop_timer_start(w->loop, &ps->retry, ps->retry_ms);
        ps->retry_ms = ps->retry_ms * 2 > PS_RETRY_MAX_MS ? PS_RETRY_MAX_MS : ps->retry_ms * 2;
    }
}

/* Sends cmd with the given arguments (in batches) on pc, and expects their confirmations for r
 * (NULL: nobody waits). Returns 0, or -1 when the connection cannot take it (it is rebuilt). */
static int conn_send(struct ps_conn *pc, const char *cmd, const char *const *args,
                     const uint32_t *lens, uint32_t n, struct request *r, enum ps_kind kind)
{
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

/* Every member of set, as argument arrays (the caller frees both). */
static uint32_t set_args(const struct strset *set, const char ***args, uint32_t **lens,
                         int only_keyspace, int pattern)
{
    *args = px_malloc((set->n + 1) * sizeof(char *));
    *lens = px_malloc((set->n + 1) * sizeof(uint32_t));
    uint32_t n = 0;
    for (uint32_t i = 0; i < set->cap; i++) {
        const struct strset_item *it = &set->items[i];
        if (!it->key) continue;
        if (only_keyspace &&
            !(pattern ? keyspace_pattern(it->key, it->len) : keyspace_channel(it->key, it->len)))
            continue;
        (*args)[n] = it->key;
        (*lens)[n] = it->len;
        n++;
    }
    return n;
}

/* The request's arguments after the command name, as argument arrays (the caller frees both). */
static uint32_t req_args(const struct request *r, const char ***args, uint32_t **lens)
{
    uint32_t n = r->argc - 1;
    *args = px_malloc((n + 1) * sizeof(char *));
    *lens = px_malloc((n + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        (*args)[i] = request_arg(r, i + 1);
        (*lens)[i] = r->argv[i + 1].len;
    }
    return n;
}

/* Makes every subscription again on connections to the current nodes. */
static void ps_rebuild(struct pubsub *ps)
{
    struct session *s = ps->s;
    struct worker *w = s->w;
    for (int i = 0; i < ps->nconns; i++) conn_close(w, ps->conns[i]);
    px_free(ps->conns);
    ps->conns = NULL;
    ps->nconns = 0;
    ps->broken = 0;
    if (!subscribed(ps)) return;
    struct backend *main = main_node(w, s);
    if (!main) {
        schedule_rebuild(ps);
        return;
    }
    const char **args;
    uint32_t *lens, n;
    if (total_regular(ps) > 0) {
        struct ps_conn *pc = conn_open(w, ps, PS_MAIN, main);
        n = set_args(&ps->channels, &args, &lens, 0, 0);
        if (n) conn_send(pc, "SUBSCRIBE", args, lens, n, NULL, K_SUB);
        px_free(args);
        px_free(lens);
        n = set_args(&ps->patterns, &args, &lens, 0, 1);
        if (n) conn_send(pc, "PSUBSCRIBE", args, lens, n, NULL, K_PSUB);
        px_free(args);
        px_free(lens);
        /* Keyspace notifications: every other master too. */
        const char **ka, **kp;
        uint32_t *kal, *kpl;
        uint32_t nka = set_args(&ps->channels, &ka, &kal, 1, 0);
        uint32_t nkp = set_args(&ps->patterns, &kp, &kpl, 1, 1);
        if (nka + nkp > 0) {
            for (int m = 0; m < w->nmasters; m++) {
                if (w->masters[m] == main) continue;
                struct ps_conn *kc = conn_open(w, ps, PS_KEYSPACE, w->masters[m]);
                if (nka) conn_send(kc, "SUBSCRIBE", ka, kal, nka, NULL, K_SUB);
                if (nkp) conn_send(kc, "PSUBSCRIBE", kp, kpl, nkp, NULL, K_PSUB);
            }
        }
        px_free(ka);
        px_free(kal);
        px_free(kp);
        px_free(kpl);
    }
    /* Shard channels: to the master of each one's slot, one command per slot. */
    for (uint32_t i = 0; i < ps->shard.cap; i++) {
        struct strset_item *it = &ps->shard.items[i];
        if (!it->key) continue;
        struct backend *owner = worker_view(w, (int)crc16_key_slot(it->key, it->len));
        if (!owner) {
            schedule_rebuild(ps);
            it->value = -1;
            continue;
        }
        struct ps_conn *sc = conn_find(ps, PS_SHARD, owner);
        if (!sc) sc = conn_open(w, ps, PS_SHARD, owner);
        it->value = conn_index(ps, sc);
        const char *a[1] = {it->key};
        uint32_t l[1] = {it->len};
        conn_send(sc, "SSUBSCRIBE", a, l, 1, NULL, K_SSUB);
    }
}

static void ps_rebuild_timer(struct loop *l, void *ctx)
{
    struct pubsub *ps = ctx;
    if (ps->broken) ps_rebuild(ps);
    if (!ps->broken) ps->retry_ms = PS_RETRY_MIN_MS;
}

/* 1 when a channel or pattern needs every master (keyspace notifications). */
static int has_keyspace(const struct pubsub *ps)
{
    for (uint32_t i = 0; i < ps->channels.cap; i++)
        if (ps->channels.items[i].key &&
            keyspace_channel(ps->channels.items[i].key, ps->channels.items[i].len))
            return 1;
    for (uint32_t i = 0; i < ps->patterns.cap; i++)
        if (ps->patterns.items[i].key &&
            keyspace_pattern(ps->patterns.items[i].key, ps->patterns.items[i].len))
            return 1;
    return 0;
}

/* Closes connections that carry nothing any more. */
static void ps_tidy(struct pubsub *ps)
{
    struct worker *w = ps->s->w;
    int k = 0;
    for (int i = 0; i < ps->nconns; i++) {
        struct ps_conn *pc = ps->conns[i];
        int used = pc->count > 0;
        if (pc->role == PS_MAIN) {
            used |= total_regular(ps) > 0;
        } else if (pc->role == PS_KEYSPACE) {
            used |= has_keyspace(ps); /* while a keyspace channel or pattern remains */
        } else {
            for (uint32_t j = 0; j < ps->shard.cap && !used; j++)
                if (ps->shard.items[j].key && ps->shard.items[j].value == i) used = 1;
        }
        if (used) {
            /* Shard channels record their connection's index: keep them right. */
            if (k != i)
                for (uint32_t j = 0; j < ps->shard.cap; j++)
                    if (ps->shard.items[j].key && ps->shard.items[j].value == i)
                        ps->shard.items[j].value = k;
            ps->conns[k++] = pc;
            continue;
        }
        /* A connection with no subscription left is clean again: back to the pool. */
        struct privconn *priv = pc->pc;
        pc->pc = NULL;
        if (priv) {
            priv->ps = NULL;
            priv_release(priv);
        }
        conn_close(w, pc);
    }
    ps->nconns = k;
}

int pubsub_subscribed(const struct session *s)
{
    return subscribed(session_pubsub(s));
}

/* ---- client commands ---- */

/* Keeps the confirmations in r until the nodes have confirmed (request_confirmed). */
static void hold_reply(struct worker *w, struct request *r, struct sbuf *reply)
{
    if (r->ps_pending == 0) {
        request_reply_bytes(w, r, reply->buf, reply->len);
        return;
    }
    struct buf_chunk *c = buf_chunk_get_exact(&w->pool, reply->len);
    memcpy(c->data, reply->buf, reply->len);
    c->len = (uint32_t)reply->len;
    r->rchunk = c;
    r->roff = 0;
    r->rlen = c->len;
    r->state = REQ_GATHER; /* answered by request_confirmed when the last node confirms */
}

static void subscribe(struct worker *w, struct request *r, int pattern)
{
    struct session *s = r->sess;
    struct backend *main = main_node(w, s);
    struct sbuf *out = &w->merge;
    sbuf_clear(out);
    if (!main) {
        errors_no_topology(out);
        r->flags |= REQ_F_REJECTED;
        request_reply_bytes(w, r, out->buf, out->len);
        return;
    }
    struct pubsub *ps = ps_get(s);
    struct strset *set = pattern ? &ps->patterns : &ps->channels;
    const char **args;
    uint32_t *lens, nks = 0;
    uint32_t n = req_args(r, &args, &lens);
    for (uint32_t i = 0; i < n; i++) {
        strset_add(set, args[i], lens[i], 0);
        confirm(out, pattern ? K_PSUB : K_SUB, args[i], lens[i], total_regular(ps));
        if (pattern ? keyspace_pattern(args[i], lens[i]) : keyspace_channel(args[i], lens[i]))
            nks++;
    }
    if (!ps->broken) {
        struct ps_conn *mc = conn_find(ps, PS_MAIN, NULL);
        if (!mc) mc = conn_open(w, ps, PS_MAIN, main);
        conn_send(mc, pattern ? "PSUBSCRIBE" : "SUBSCRIBE", args, lens, n, r,
                  pattern ? K_PSUB : K_SUB);
        if (nks > 0 && !ps->broken) {
            /* Keyspace notifications: on every other master as well. */
            const char **ka = px_malloc(nks * sizeof(char *));
            uint32_t *kl = px_malloc(nks * sizeof(uint32_t)), k = 0;
            for (uint32_t i = 0; i < n; i++)
                if (pattern ? keyspace_pattern(args[i], lens[i])
                            : keyspace_channel(args[i], lens[i])) {
                    ka[k] = args[i];
                    kl[k++] = lens[i];
                }
            for (int m = 0; m < w->nmasters && !ps->broken; m++) {
                if (conn_is(mc, w->masters[m])) continue;
                struct ps_conn *kc = conn_find(ps, PS_KEYSPACE, w->masters[m]);
                if (!kc) kc = conn_open(w, ps, PS_KEYSPACE, w->masters[m]);
                conn_send(kc, pattern ? "PSUBSCRIBE" : "SUBSCRIBE", ka, kl, k, r,
                          pattern ? K_PSUB : K_SUB);
            }
            px_free(ka);
            px_free(kl);
        }
    }
    px_free(args);
    px_free(lens);
    hold_reply(w, r, out);
}

static void unsubscribe(struct worker *w, struct request *r, int pattern)
{
    struct session *s = r->sess;
    struct pubsub *ps = ps_get(s);
    struct strset *set = pattern ? &ps->patterns : &ps->channels;
    enum ps_kind kind = pattern ? K_PUNSUB : K_UNSUB;
    struct sbuf *out = &w->merge;
    sbuf_clear(out);
    const char **args;
    uint32_t *lens, n;
    if (r->argc == 1) {
        n = set_args(set, &args, &lens, 0, pattern); /* all of them */
        if (n == 0) confirm(out, kind, NULL, 0, total_regular(ps));
    } else {
        n = req_args(r, &args, &lens);
    }
    /* Confirm each; tell the nodes about those that were subscribed. */
    const char **gone = px_malloc((n + 1) * sizeof(char *));
    uint32_t *gl = px_malloc((n + 1) * sizeof(uint32_t)), ng = 0, nks = 0;
    for (uint32_t i = 0; i < n; i++) {
        /* Copy first: deleting frees the set's own copy, which args may point at. */
        char *name = px_malloc(lens[i] ? lens[i] : 1);
        memcpy(name, args[i], lens[i]);
        int was = strset_del(set, name, lens[i]);
        confirm(out, kind, name, lens[i], total_regular(ps));
        if (!was) { /* not subscribed: confirmed all the same, as Redis does; nothing to send */
            px_free(name);
            continue;
        }
        gone[ng] = name;
        gl[ng++] = lens[i];
        if (pattern ? keyspace_pattern(name, lens[i]) : keyspace_channel(name, lens[i])) nks++;
    }
    struct ps_conn *mc = conn_find(ps, PS_MAIN, NULL);
    if (ng > 0 && mc && !ps->broken) {
        conn_send(mc, pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", gone, gl, ng, r, kind);
        if (nks > 0) {
            const char **ka = px_malloc(nks * sizeof(char *));
            uint32_t *kl = px_malloc(nks * sizeof(uint32_t)), k = 0;
            for (uint32_t i = 0; i < ng; i++)
                if (pattern ? keyspace_pattern(gone[i], gl[i]) : keyspace_channel(gone[i], gl[i])) {
                    ka[k] = gone[i];
                    kl[k++] = gl[i];
                }
            for (int i = 0; i < ps->nconns && !ps->broken; i++)
                if (ps->conns[i]->role == PS_KEYSPACE)
                    conn_send(ps->conns[i], pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", ka, kl, k, r,
                              kind);
            px_free(ka);
            px_free(kl);
        }
    }
    for (uint32_t i = 0; i < ng; i++) px_free((char *)gone[i]);
    px_free(gone);
    px_free(gl);
    px_free(args);
    px_free(lens);
    hold_reply(w, r, out);
    ps_tidy(ps);
}

/* The slot of r's channels: >= 0, or KEYS_SLOT_CROSS (Redis's CROSSSLOT for SSUBSCRIBE). */
static int channels_slot(struct worker *w, struct request *r, uint32_t from)
{
    int slot = -1;
    for (uint32_t i = from; i < r->argc; i++) {
        int s = (int)crc16_key_slot(request_arg(r, i), r->argv[i].len);
        if (slot >= 0 && s != slot) return KEYS_SLOT_CROSS;
        slot = s;
    }
    return slot;
}

static void ssubscribe(struct worker *w, struct request *r)
{
    struct session *s = r->sess;
    struct sbuf *out = &w->merge;
    sbuf_clear(out);
    int slot = channels_slot(w, r, 1);
    struct backend *owner = slot >= 0 ? worker_view(w, slot) : NULL;
    if (slot == KEYS_SLOT_CROSS || !owner) {
        if (slot == KEYS_SLOT_CROSS)
            errors_crossslot(out);
        else if (w->map)
            errors_slot_unserved(out);
        else
            errors_no_topology(out);
        r->flags |= REQ_F_REJECTED;
        request_reply_bytes(w, r, out->buf, out->len);
        return;
    }
    struct pubsub *ps = ps_get(s);
    struct ps_conn *sc = NULL;
    if (!ps->broken) {
        sc = conn_find(ps, PS_SHARD, owner);
        if (!sc) sc = conn_open(w, ps, PS_SHARD, owner);
    }
    int idx = sc ? conn_index(ps, sc) : -1;
    const char **args;
    uint32_t *lens;
    uint32_t n = req_args(r, &args, &lens);
    for (uint32_t i = 0; i < n; i++) {
        if (!strset_add(&ps->shard, args[i], lens[i], idx))
            strset_get(&ps->shard, args[i], lens[i])->value = idx;
        confirm(out, K_SSUB, args[i], lens[i], ps->shard.n);
    }
    if (sc) conn_send(sc, "SSUBSCRIBE", args, lens, n, r, K_SSUB);
    px_free(args);
    px_free(lens);
    hold_reply(w, r, out);
}

static void sunsubscribe(struct worker *w, struct request *r)
{
    struct session *s = r->sess;
    struct pubsub *ps = ps_get(s);
    struct sbuf *out = &w->merge;
    sbuf_clear(out);
    const char **args;
    uint32_t *lens, n;
    if (r->argc == 1) {
        n = set_args(&ps->shard, &args, &lens, 0, 0);
        if (n == 0) confirm(out, K_SUNSUB, NULL, 0, ps->shard.n);
    } else {
        n = req_args(r, &args, &lens);
    }
    for (uint32_t i = 0; i < n; i++) {
        char *name = px_malloc(lens[i] ? lens[i] : 1);
        memcpy(name, args[i], lens[i]);
        struct strset_item *it = strset_get(&ps->shard, name, lens[i]);
        int conn = it ? it->value : -1;
        if (it) strset_del(&ps->shard, name, lens[i]);
        confirm(out, K_SUNSUB, name, lens[i], ps->shard.n);
        if (conn >= 0 && conn < ps->nconns && !ps->broken) {
            const char *a[1] = {name};
            uint32_t l[1] = {lens[i]};
            conn_send(ps->conns[conn], "SUNSUBSCRIBE", a, l, 1, r, K_SUNSUB);
        }
        px_free(name);
    }
    px_free(args);
    px_free(lens);
    hold_reply(w, r, out);
    ps_tidy(ps);
}

void pubsub_command(struct worker *w, struct request *r)
{
    if (!r->sess) {
        request_put(w, r);
        return;
    }
    switch (r->cmd->local_id) {
    case LOCAL_SUBSCRIBE: subscribe(w, r, 0); break;
    case LOCAL_PSUBSCRIBE: subscribe(w, r, 1); break;
    case LOCAL_SSUBSCRIBE: ssubscribe(w, r); break;
    case LOCAL_UNSUBSCRIBE: unsubscribe(w, r, 0); break;
    case LOCAL_PUNSUBSCRIBE: unsubscribe(w, r, 1); break;
    case LOCAL_SUNSUBSCRIBE: sunsubscribe(w, r); break;
    default: break;
    }
    struct session *s = r->sess;
    struct pubsub *ps = s ? session_pubsub(s) : NULL;
    if (ps && !subscribed(ps) && ps->nconns == 0) pubsub_free(s);
}

int pubsub_route(struct worker *w, struct request *r)
{
    struct session *s = r->sess;
    int id = r->cmd->local_id;
    if (id >= LOCAL_SUBSCRIBE && id <= LOCAL_SUNSUBSCRIBE) return 0; /* local.c sends them here */
    if (!subscribed(session_pubsub(s)) || id == LOCAL_QUIT || id == LOCAL_RESET) return 0;
    struct sbuf *out = &w->scratch;
    sbuf_clear(out);
    if (id == LOCAL_PING) {
        if (r->argc > 2) {
            resp_write_errorf(out, "ERR wrong number of arguments for 'ping' command");
        } else {
            /* In subscribed mode PING answers an array, as Redis does over RESP2. */
            resp_write_array_len(out, 2);
            resp_write_bulk(out, "pong", 4);
            resp_write_bulk(out, r->argc == 2 ? request_arg(r, 1) : "",
                            r->argc == 2 ? r->argv[1].len : 0);
        }
    } else {
        resp_write_errorf(out,
                          "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                          "QUIT / RESET are allowed in this context",
                          r->cmd->cmd->name);
        r->flags |= REQ_F_REJECTED;
    }
    request_reply_bytes(w, r, out->buf, out->len);
    return 1;
}

void pubsub_free(struct session *s)
{
    struct pubsub *ps = session_pubsub(s);
    if (!ps) return;
    struct worker *w = s->w;
    if (loop_timer_active(&ps->retry)) loop_timer_stop(w->loop, &ps->retry);
    for (int i = 0; i < ps->nconns; i++) conn_close(w, ps->conns[i]);
    px_free(ps->conns);
    strset_free(&ps->channels);
    strset_free(&ps->patterns);
    strset_free(&ps->shard);
    px_free(ps);
    s->ext->ps = NULL;
}

/* ---- what the nodes send ---- */

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

/* Passes a message to the client, behind any confirmation it still waits for. */
static void deliver(struct worker *w, struct session *s, struct buf_chunk *c, uint32_t off,
                    uint32_t len)
{
    if (s->flags & SESS_CLOSED) return;
    if (!s->head) {
        obuf_append_span(&s->out, &w->pool, c, off, len);
        worker_want_flush(w, s);
    } else {
        struct request *m = request_get(w);
        m->sess = s;
        buf_chunk_ref(c);
        m->rchunk = c;
        m->roff = off;
        m->rlen = len;
        m->state = REQ_DONE;
        s->tail->next = m;
        s->tail = m;
        s->nqueued++;
    }
    stat_add(&w->stats.pubsub_messages, 1);
    /* A subscriber that does not read is cut off before its backlog grows without bound. */
    if (s->out.bytes > w->cfg->pubsub_buffer_limit) {
        log_warn("client %llu: Pub/Sub output buffer over %llu bytes: closing it",
                 (unsigned long long)s->id, (unsigned long long)w->cfg->pubsub_buffer_limit);
        stat_add(&w->stats.pubsub_cut, 1);
        session_close(s);
    }
}

/*
 * Keyspace notifications are subscribed on every master, but a PUBLISH to a keyspace-looking
 * channel reaches every node of the cluster: delivered from each, it would arrive once per
 * master. A real notification comes only from the master that owns its key, so a keyspace message
 * is passed on only from the connection to that key's master (by the slot map): the key is in
 * the channel for __keyspace@ and in the payload for __keyevent@. Other messages come from the
 * main connection only.
 */
static int keyspace_from_owner(struct worker *w, const struct ps_conn *pc, const char *d,
                               const struct resp_span *el, uint32_t n)
{
    int pm = el_is(d, &el[0], "pmessage");
    if (n < (pm ? 4u : 3u)) return pc->role == PS_MAIN;
    uint32_t cl, pl;
    const char *ch = el_text(d, &el[pm ? 2 : 1], &cl);
    const char *payload = el_text(d, &el[pm ? 3 : 2], &pl);
    if (!keyspace_channel(ch, cl)) return pc->role == PS_MAIN;
    const char *key = payload;
    size_t klen = pl;
    if (starts(ch, cl, "__keyspace@")) { /* __keyspace@<db>__:<key> */
        const char *sep = memmem(ch, cl, "__:", 3);
        if (!sep) return pc->role == PS_MAIN;
        key = sep + 3;
        klen = cl - (size_t)(key - ch);
    }
    struct backend *owner = worker_view(w, (int)crc16_key_slot(key, klen));
    if (!owner) return pc->role == PS_MAIN;
    return conn_is(pc, owner);
}

void pubsub_on_push(struct ps_conn *pc, struct buf_chunk *c, uint32_t off,
                    const struct resp_reply_info *info)
{
    struct pubsub *ps = pc->ps;
    struct session *s = ps->s;
    struct worker *w = s->w;
    const char *d = c->data + off;
    struct resp_span el[4];
    uint32_t n;
    if (resp_reply_elements(d, info->len, el, 4, &n) < 0 || n < 2) return;
    if (el_is(d, &el[0], "message") || el_is(d, &el[0], "smessage") ||
        el_is(d, &el[0], "pmessage")) {
        if (pc->role != PS_SHARD && !keyspace_from_owner(w, pc, d, el, n)) return;
        deliver(w, s, c, off, info->len);
        return;
    }
    for (int k = K_SUB; k <= K_SUNSUB; k++) {
        if (!el_is(d, &el[0], kind_name[k])) continue;
        if (pc->count > 0 && pc->acks[pc->head].kind == k) {
            struct ps_ack *a = &pc->acks[pc->head];
            if (--a->remaining == 0) {
                struct request *r = a->r;
                pc->head = (pc->head + 1) % pc->cap;
                pc->count--;
                if (r) {
                    if (r->sess)
                        request_confirmed(w, r);
                    else if (--r->ps_pending == 0)
                        request_put(w, r);
                }
            }
        } else if (k == K_SUNSUB) {
            /* The node dropped a shard channel itself (its slot moved away): subscribe again
             * where the slot is now. */
            topology_request_refresh(w->topo);
            schedule_rebuild(ps);
        }
        return;
    }
}

void pubsub_conn_state(struct ps_conn *pc, enum backend_event ev)
{
    if (ev == BACKEND_EV_DOWN) schedule_rebuild(pc->ps);
}

void pubsub_conn_gone(struct ps_conn *pc)
{
    pc->pc = NULL;
}

void pubsub_on_map(struct worker *w)
{
    for (struct session *s = w->sessions; s; s = s->next) {
        struct pubsub *ps = session_pubsub(s);
        if (!ps || !subscribed(ps)) continue;
        int stale = ps->broken;
        struct backend *main = main_node(w, s);
        for (int i = 0; i < ps->nconns && !stale; i++) {
            struct ps_conn *pc = ps->conns[i];
            if (pc->role == PS_MAIN && (!main || !conn_is(pc, main))) stale = 1;
            if (pc->role == PS_KEYSPACE) {
                int still = 0;
                for (int m = 0; m < w->nmasters; m++) still |= conn_is(pc, w->masters[m]);
                if (!still) stale = 1;
            }
        }
        /* Keyspace: one connection per master other than the main one. */
        if (!stale && total_regular(ps) > 0 && has_keyspace(ps)) {
            int nks = 0;
            for (int i = 0; i < ps->nconns; i++) nks += ps->conns[i]->role == PS_KEYSPACE;
            if (nks != w->nmasters - 1) stale = 1;
        }
        for (uint32_t i = 0; i < ps->shard.cap && !stale; i++) {
            struct strset_item *it = &ps->shard.items[i];
            if (!it->key) continue;
            struct backend *owner = worker_view(w, (int)crc16_key_slot(it->key, it->len));
            if (it->value < 0 || !owner || !conn_is(ps->conns[it->value], owner)) stale = 1;
        }
        if (stale) ps_rebuild(ps);
    }
}
