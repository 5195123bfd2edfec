/*
 * Client-side caching through the proxy; see tracking.h for the design. This file owns a
 * worker's tracking table (key -> the ids of the clients that read it, with the slot and the node
 * it was read from), each tracking client's state (mode, REDIRECT, BCAST prefixes), the
 * CLIENT TRACKING family of commands, and the invalidation messages.
 *
 * The table: an open-addressing hash of entries (linear probing, backward-shift deletion), each
 * entry also on a list in eviction order (oldest first) and on a list per slot (so that a slot
 * that moves invalidates its keys without a walk of the whole table). An entry costs about 90
 * bytes plus its key, plus 8 per reader beyond the first.
 */
#include "tracking.h"

#include "clock.h"
#include "client_dir.h"
#include "crc16.h"
#include "errors.h"
#include "log.h"
#include "mem.h"
#include "pubsub.h"
#include "resp.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A client's tracking flags (Redis's CLIENT_TRACKING_*), and the proxy's own. */
enum {
    TRK_ON = 1u << 0,
    TRK_BCAST = 1u << 1,
    TRK_OPTIN = 1u << 2,
    TRK_OPTOUT = 1u << 3,
    TRK_NOLOOP = 1u << 4,
    TRK_CACHING = 1u << 5, /* CLIENT CACHING yes/no given for the next command */
    TRK_BROKEN = 1u << 6,  /* the REDIRECT target was gone when a message was due */
    TRK_READ = 1u << 7,    /* read something since its last flush message */
    TRK_LISTEN = 1u << 8,  /* counted in listen_refs */
};

/* How long a BCAST NOLOOP client's own write waits for the push it causes. */
#define TRK_OWN_MS 2000
#define TRK_OWN_MAX 1024 /* own writes remembered per client at most */

struct trk_own {
    char *key;
    uint32_t len;
    uint64_t at_ms;
};

struct trk_client {
    struct client *c;
    struct tracking_ctx *t;
    uint32_t flags;
    uint64_t redirect; /* 0: none */
    char **prefix;     /* BCAST prefixes, in Redis's (byte) order */
    uint32_t *plen;
    uint32_t nprefix;
    struct trk_own *own; /* BCAST NOLOOP: keys this client wrote, not yet seen in a push */
    uint32_t nown;
    uint32_t inflight;   /* tracked reads sent and not answered yet (and open transactions) */
    uint8_t multi_hold;  /* a transaction read keys: held (one inflight) until EXEC/DISCARD */
    uint64_t need_sync;  /* the listeners' sync round its last answered read waits for */
    struct trk_client *prev, *next; /* the worker's tracking clients */
};

/* Who made an entry: a tracking runner (its node tracks the key for the proxy) or a listener. */
enum { VIA_TRACK = 1, VIA_LISTEN = 2 };

struct trk_entry {
    struct trk_entry *older, *newer;
    struct trk_entry *snext, **sprev; /* the slot's list */
    uint64_t *ids;                    /* readers: &id1 while there is at most one */
    uint64_t id1;
    uint32_t nids, cap;
    uint32_t hash;
    uint16_t slot;
    uint16_t node; /* index into nodes: where it was read */
    uint8_t via;
    uint32_t klen;
    char key[];
};

/* ---- per-worker state that is not in the header: nodes, client index, slot lists ---- */

/* The last reply a tracking runner handed over, when it answered a request of a tracking client
 * (tracking_note_reply): a push that comes next on that runner may be the invalidation of that
 * client's own write, which Redis writes right behind the write's reply. */
struct trk_last {
    const struct backend *b; /* NULL: none */
    uint64_t id;             /* the client */
    uint64_t seq;            /* its request (the fan-out's, for a part) */
};

struct trk_aux {
    char (*nodes)[SLOTMAP_ADDR_MAX]; /* interned node addresses */
    uint32_t nnodes;
    struct trk_entry **slots; /* [CRC16_SLOTS] list heads, made with the first entry */
    struct trk_client **byid; /* open addressing by client id */
    uint32_t idcap, nid;
    uint64_t pool_gen; /* pool mode: the placement the entries' slots were computed in */
    struct trk_last last;
};

static struct trk_aux *aux(struct tracking_ctx *t)
{
    if (!t->aux) t->aux = px_calloc(1, sizeof(struct trk_aux));
    return t->aux;
}

static uint32_t node_id(struct tracking_ctx *t, const char *addr)
{
    struct trk_aux *a = aux(t);
    for (uint32_t i = 0; i < a->nnodes; i++)
        if (strcmp(a->nodes[i], addr) == 0) return i;
    if (a->nnodes == UINT16_MAX) return UINT16_MAX; /* never happens: a node per address */
    a->nodes = px_realloc(a->nodes, (size_t)(a->nnodes + 1) * sizeof(*a->nodes));
    snprintf(a->nodes[a->nnodes], SLOTMAP_ADDR_MAX, "%s", addr);
    return a->nnodes++;
}

static uint64_t id_hash(uint64_t id)
{
    return id * 0x9E3779B97F4A7C15ull;
}

static void byid_put(struct trk_aux *a, struct trk_client *tc);

static void byid_grow(struct trk_aux *a)
{
    struct trk_client **old = a->byid;
    uint32_t oldcap = a->idcap;
    a->idcap = oldcap ? oldcap * 2 : 64;
    a->byid = px_calloc(a->idcap, sizeof(*a->byid));
    a->nid = 0;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i]) byid_put(a, old[i]);
    px_free(old);
}

static void byid_put(struct trk_aux *a, struct trk_client *tc)
{
    if ((a->nid + 1) * 2 > a->idcap) byid_grow(a);
    uint32_t i = (uint32_t)(id_hash(tc->c->id) >> 32) & (a->idcap - 1);
    while (a->byid[i]) i = (i + 1) & (a->idcap - 1);
    a->byid[i] = tc;
    a->nid++;
}

static struct trk_client *byid_get(const struct trk_aux *a, uint64_t id)
{
    if (!a->idcap) return NULL;
    uint32_t i = (uint32_t)(id_hash(id) >> 32) & (a->idcap - 1);
    for (; a->byid[i]; i = (i + 1) & (a->idcap - 1))
        if (a->byid[i]->c->id == id) return a->byid[i];
    return NULL;
}

static void byid_del(struct trk_aux *a, uint64_t id)
{
    if (!a->idcap) return;
    uint32_t mask = a->idcap - 1, i = (uint32_t)(id_hash(id) >> 32) & mask;
    for (; a->byid[i]; i = (i + 1) & mask)
        if (a->byid[i]->c->id == id) break;
    if (!a->byid[i]) return;
    a->byid[i] = NULL;
    a->nid--;
    /* Backward shift: later members of the run move up if their home allows it. */
    for (uint32_t j = (i + 1) & mask; a->byid[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)(id_hash(a->byid[j]->c->id) >> 32) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            a->byid[i] = a->byid[j];
            a->byid[j] = NULL;
            i = j;
        }
    }
}

/* ---- the table ---- */

static uint32_t key_hash(const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h ^ (h >> 15);
}

static uint32_t find_pos(const struct tracking_ctx *t, const char *k, size_t len, uint32_t h)
{
    uint32_t mask = t->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const struct trk_entry *e = t->tab[i];
        if (!e || (e->hash == h && e->klen == len && memcmp(e->key, k, len) == 0)) return i;
    }
}

static struct trk_entry *find(const struct tracking_ctx *t, const char *k, size_t len)
{
    if (!t->cap) return NULL;
    return t->tab[find_pos(t, k, len, key_hash(k, len))];
}

static void tab_grow(struct tracking_ctx *t)
{
    struct trk_entry **old = t->tab;
    uint32_t oldcap = t->cap;
    t->cap = oldcap ? oldcap * 2 : 1024;
    t->tab = px_calloc(t->cap, sizeof(*t->tab));
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i]) t->tab[find_pos(t, old[i]->key, old[i]->klen, old[i]->hash)] = old[i];
    px_free(old);
}

static void tab_del(struct tracking_ctx *t, struct trk_entry *e)
{
    uint32_t mask = t->cap - 1, i = find_pos(t, e->key, e->klen, e->hash);
    t->tab[i] = NULL;
    for (uint32_t j = (i + 1) & mask; t->tab[j]; j = (j + 1) & mask) {
        uint32_t home = t->tab[j]->hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->tab[i] = t->tab[j];
            t->tab[j] = NULL;
            i = j;
        }
    }
}

static void update_gauges(struct tracking_ctx *t)
{
    stat_set(&t->stats->trk_keys, t->n);
    stat_set(&t->stats->trk_items, t->items);
    stat_set(&t->stats->trk_clients, t->nclients);
    stat_set(&t->stats->trk_prefixes, t->nprefixes);
}

/* Unlinks e from every list and frees it. */
static void entry_free(struct tracking_ctx *t, struct trk_entry *e)
{
    tab_del(t, e);
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    *e->sprev = e->snext;
    if (e->snext) e->snext->sprev = e->sprev;
    t->n--;
    t->items -= e->nids;
    if (e->ids != &e->id1) px_free(e->ids);
    px_free(e);
}

/* ---- messages ---- */

void tracking_payload_keys(struct sbuf *out, const char *const *keys, const uint32_t *lens,
                           uint32_t n)
{
    resp_write_array_len(out, n);
    for (uint32_t i = 0; i < n; i++) resp_write_bulk(out, keys[i], lens[i]);
}

void tracking_wrap(struct sbuf *out, int resp3, const char *payload, size_t len)
{
    if (resp3) {
        sbuf_puts(out, ">2\r\n$10\r\ninvalidate\r\n");
    } else {
        sbuf_puts(out, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    }
    sbuf_put(out, payload, len);
}

/* Hands bytes to c (a client of this worker), where slot and after say (tracking_ctx's
 * deliver). */
static void deliver_bytes(struct tracking_ctx *t, struct client *c, const char *bytes, size_t len,
                          int slot, uint64_t after)
{
    uint32_t off;
    struct buf_chunk *chunk = request_arena_copy(t->rp, bytes, len, &off);
    t->deliver(t->deliver_up, c, chunk, off, (uint32_t)len, slot, after);
    buf_chunk_put(chunk);
}

/* Sends the message for payload to target, a client of this worker: a push in RESP3, a Pub/Sub
 * message in RESP2 when it is a REDIRECT target in Pub/Sub mode, else nothing (as Redis). */
static void deliver_wrapped(struct tracking_ctx *t, struct client *target, int redirected,
                            const char *payload, size_t len, int slot, uint64_t after)
{
    if (target->resp != 3 && !(redirected && pubsub_subscribed(target))) return;
    sbuf_clear(&t->msg);
    tracking_wrap(&t->msg, target->resp == 3, payload, len);
    deliver_bytes(t, target, t->msg.buf, t->msg.len, slot, after);
    stat_add(&t->stats->trk_invalidations, 1);
}

/* One invalidation (payload: its value part) for tracking client tc, following REDIRECT (after:
 * the seq of tc's request whose reply it followed, for tc itself only; 0: none). */
static void send_payload(struct tracking_ctx *t, struct trk_client *tc, const char *payload,
                         size_t len, int slot, uint64_t after)
{
    if (!tc->redirect) {
        deliver_wrapped(t, tc->c, 0, payload, len, slot, after);
        return;
    }
    struct client *target = NULL;
    int w = client_dir_find(tc->redirect, &target);
    if (w < 0) {
        /* Redis tells a RESP3 client each time a message could not reach its target. */
        tc->flags |= TRK_BROKEN;
        if (tc->c->resp == 3) {
            sbuf_clear(&t->msg);
            sbuf_puts(&t->msg, ">2\r\n$21\r\ntracking-redir-broken\r\n");
            resp_write_int(&t->msg, (long long)tc->redirect);
            deliver_bytes(t, tc->c, t->msg.buf, t->msg.len, -1, 0);
        }
        return;
    }
    if (w != t->worker || !target) { /* elsewhere, or on its way here */
        t->remote(t->remote_up, w, tc->redirect, payload, len);
        stat_add(&t->stats->trk_invalidations, 1);
        return;
    }
    deliver_wrapped(t, target, 1, payload, len, -1, 0);
}

int tracking_deliver_remote(struct tracking_ctx *t, uint64_t id, const char *payload, size_t len)
{
    struct client *target = NULL;
    int w = client_dir_find(id, &target);
    if (w < 0) return 1; /* gone meanwhile */
    if (w != t->worker) {
        t->remote(t->remote_up, w, id, payload, len); /* moved on to another worker */
        return 1;
    }
    if (!target) return 0; /* on its way here */
    deliver_wrapped(t, target, 1, payload, len, -1, 0);
    return 1;
}

/* Whether reader tc must stay remembered for a key it read, though an invalidation for it just
 * came: a read of its is in flight (the node may run it after the write), or, when the news came
 * from a listener, the sync round after its last answered read is not over (tracking.h). */
static int holds(const struct tracking_ctx *t, const struct trk_client *tc, int from_listener)
{
    if (tc->inflight) return 1;
    return from_listener && tc->need_sync > t->sync_done;
}

/* Forgets the readers of e that do not hold on to it, and e when none is left. Returns 1 when e
 * was freed. */
static int settle(struct tracking_ctx *t, struct trk_entry *e, int from_listener)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < e->nids; i++) {
        struct trk_client *tc = byid_get(aux(t), e->ids[i]);
        if (tc && (tc->flags & TRK_ON) && holds(t, tc, from_listener)) e->ids[k++] = e->ids[i];
    }
    t->items -= e->nids - k;
    e->nids = k;
    if (k) return 0;
    entry_free(t, e);
    return 1;
}

/* The invalidation of one key, for every reader of e still tracking in default mode; then the
 * readers that do not hold on to it (settle) are forgotten. own (or NULL): the tracking runner's
 * push came right behind its reply to own's client, whose message goes right behind that reply.
 * Returns 1 when e was freed. */
static int invalidate_entry(struct tracking_ctx *t, struct trk_entry *e, int from_listener,
                            const struct trk_last *own)
{
    sbuf_clear(&t->keyv);
    const char *k = e->key;
    tracking_payload_keys(&t->keyv, &k, &e->klen, 1);
    for (uint32_t i = 0; i < e->nids; i++) {
        struct trk_client *tc = byid_get(aux(t), e->ids[i]);
        if (!tc || !(tc->flags & TRK_ON) || (tc->flags & TRK_BCAST)) continue;
        uint64_t after = own && own->id == tc->c->id ? own->seq : 0;
        send_payload(t, tc, t->keyv.buf, t->keyv.len, from_listener ? -1 : e->slot, after);
    }
    return settle(t, e, from_listener);
}

/* A flush message (null) to tc, unless it read nothing since its last one (several masters
 * flushing for one FLUSHALL make one message). Redis writes the null in the tracking client's
 * protocol, even when it goes to a REDIRECT target. */
static void send_flush(struct tracking_ctx *t, struct trk_client *tc)
{
    if (!(tc->flags & TRK_READ)) return;
    tc->flags &= ~TRK_READ;
    if (tc->c->resp == 3)
        send_payload(t, tc, "_\r\n", 3, -1, 0);
    else
        send_payload(t, tc, "$-1\r\n", 5, -1, 0);
}

/* ---- clients ---- */

static struct trk_client *trk_of(const struct client *c)
{
    return c && c->x ? c->x->trk : NULL;
}

int tracking_on(const struct client *c)
{
    const struct trk_client *tc = trk_of(c);
    return tc && (tc->flags & TRK_ON);
}

int tracking_bcast(const struct client *c)
{
    const struct trk_client *tc = trk_of(c);
    return tc && (tc->flags & TRK_ON) && (tc->flags & TRK_BCAST);
}

int tracking_broken(const struct client *c)
{
    const struct trk_client *tc = trk_of(c);
    return tc && (tc->flags & TRK_ON) && (tc->flags & TRK_BROKEN);
}

long long tracking_redirect(const struct client *c)
{
    const struct trk_client *tc = trk_of(c);
    return tc && (tc->flags & TRK_ON) ? (long long)tc->redirect : -1;
}

/* The kind of runner c's requests go on (view.h). */
static int kind_of(const struct client *c)
{
    const struct trk_client *tc = trk_of(c);
    if (c->resp != 3) return VIEW_RESP2;
    if (!tc || !(tc->flags & TRK_ON)) return VIEW_RESP3;
    return tc->flags & TRK_BCAST ? VIEW_BCAST : VIEW_TRACK;
}

int tracking_kind(const struct client *c)
{
    return kind_of(c);
}

/* Whether tc needs the listeners: a RESP2 client (its reads go on plain connections), or a
 * BCAST client (every master's writes matter to it). A RESP2 client without REDIRECT is told
 * nothing, but Redis remembers what it reads: should it switch to RESP3, a write of those keys
 * is pushed to it. */
static int needs_listen(const struct trk_client *tc)
{
    if (!(tc->flags & TRK_ON)) return 0;
    return (tc->flags & TRK_BCAST) || tc->c->resp != 3;
}

static void update_listen(struct tracking_ctx *t, struct trk_client *tc)
{
    int want = needs_listen(tc), has = !!(tc->flags & TRK_LISTEN);
    if (want == has) return;
    if (want) {
        tc->flags |= TRK_LISTEN;
        if (t->listen_refs++ == 0) view_set_listen(t->view, 1);
    } else {
        tc->flags &= ~TRK_LISTEN;
        if (--t->listen_refs == 0) view_set_listen(t->view, 0);
    }
}

static void free_prefixes(struct tracking_ctx *t, struct trk_client *tc)
{
    for (uint32_t i = 0; i < tc->nprefix; i++) px_free(tc->prefix[i]);
    t->nprefixes -= tc->nprefix;
    px_free(tc->prefix);
    px_free(tc->plen);
    tc->prefix = NULL;
    tc->plen = NULL;
    tc->nprefix = 0;
}

static void free_own(struct trk_client *tc)
{
    for (uint32_t i = 0; i < tc->nown; i++) px_free(tc->own[i].key);
    px_free(tc->own);
    tc->own = NULL;
    tc->nown = 0;
}

/* disableTracking: off, with every mode flag and the prefixes. */
static void disable(struct tracking_ctx *t, struct trk_client *tc)
{
    if (tc->flags & TRK_BCAST) free_prefixes(t, tc);
    free_own(tc);
    if (tc->flags & TRK_ON) {
        t->nclients--;
        if (tc->flags & TRK_BCAST) t->nbcast--;
    }
    tc->flags &= ~(TRK_ON | TRK_BROKEN | TRK_BCAST | TRK_OPTIN | TRK_OPTOUT | TRK_CACHING |
                   TRK_NOLOOP | TRK_READ);
    tc->inflight = 0; /* replies still due find nothing to release (tracking_read_done) */
    tc->multi_hold = 0;
    update_listen(t, tc);
    update_gauges(t);
}

void tracking_client_free(struct client *c)
{
    struct trk_client *tc = trk_of(c);
    if (!tc) return;
    struct tracking_ctx *t = tc->t;
    disable(t, tc);
    byid_del(aux(t), c->id);
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        t->clients = tc->next;
    if (tc->next) tc->next->prev = tc->prev;
    c->x->trk = NULL;
    px_free(tc);
}

static struct trk_client *trk_get(struct tracking_ctx *t, struct client *c)
{
    struct client_ext *x = client_ext_get(c);
    if (x->trk) return x->trk;
    struct trk_client *tc = px_calloc(1, sizeof(*tc));
    tc->c = c;
    tc->t = t;
    tc->next = t->clients;
    if (t->clients) t->clients->prev = tc;
    t->clients = tc;
    byid_put(aux(t), tc);
    x->trk = tc;
    return tc;
}

/* Byte order, a prefix before its extensions: the order of Redis's radix tree. */
static int prefix_cmp(const char *a, uint32_t al, const char *b, uint32_t bl)
{
    int r = memcmp(a, b, al < bl ? al : bl);
    if (r) return r;
    return al < bl ? -1 : al > bl;
}

static void add_prefix(struct tracking_ctx *t, struct trk_client *tc, const char *p, uint32_t len)
{
    uint32_t at = 0;
    while (at < tc->nprefix) {
        int r = prefix_cmp(tc->prefix[at], tc->plen[at], p, len);
        if (r == 0) return; /* already followed */
        if (r > 0) break;
        at++;
    }
    tc->prefix = px_realloc(tc->prefix, (size_t)(tc->nprefix + 1) * sizeof(*tc->prefix));
    tc->plen = px_realloc(tc->plen, (size_t)(tc->nprefix + 1) * sizeof(*tc->plen));
    memmove(&tc->prefix[at + 1], &tc->prefix[at], (tc->nprefix - at) * sizeof(*tc->prefix));
    memmove(&tc->plen[at + 1], &tc->plen[at], (tc->nprefix - at) * sizeof(*tc->plen));
    tc->prefix[at] = px_malloc(len ? len : 1);
    memcpy(tc->prefix[at], p, len);
    tc->plen[at] = len;
    tc->nprefix++;
    t->nprefixes++;
}

/* ---- the commands ---- */

static int overlaps(const char *a, uint32_t al, const char *b, uint32_t bl)
{
    return memcmp(a, b, al < bl ? al : bl) == 0;
}

int tracking_check_prefixes(const char *const *have, const uint32_t *have_len, uint32_t nhave,
                            const char *const *add, const uint32_t *add_len, uint32_t nadd,
                            struct sbuf *out)
{
    for (uint32_t i = 0; i < nadd; i++) {
        for (uint32_t h = 0; h < nhave; h++)
            if (overlaps(have[h], have_len[h], add[i], add_len[i])) {
                errors_tracking_prefix_overlap(out, add[i], add_len[i], have[h], have_len[h], 0);
                return -1;
            }
        for (uint32_t j = i + 1; j < nadd; j++)
            if (overlaps(add[i], add_len[i], add[j], add_len[j])) {
                errors_tracking_prefix_overlap(out, add[i], add_len[i], add[j], add_len[j], 1);
                return -1;
            }
    }
    return 0;
}

/* CLIENT TRACKING on|off [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN] [OPTOUT] [NOLOOP] */
static void cmd_tracking(struct tracking_ctx *t, struct request *r, struct sbuf *out)
{
    struct client *c = r->client;
    long long redir = 0;
    uint32_t opts = 0, np = 0;
    const char **pfx = px_malloc((size_t)(r->argc + 1) * sizeof(*pfx));
    uint32_t *plen = px_malloc((size_t)(r->argc + 1) * sizeof(*plen));
    for (uint32_t j = 3; j < r->argc; j++) {
        int more = j + 1 < r->argc;
        if (request_arg_is(r, j, "redirect") && more) {
            j++;
            if (redir != 0) {
                errors_tracking(out, PXT_REDIRECT_TWICE);
                goto done;
            }
            if (!resp_str2ll(request_arg(r, j), r->argv[j].len, &redir)) {
                errors_not_integer(out);
                goto done;
            }
            if (redir <= 0 || client_dir_find((uint64_t)redir, NULL) < 0) {
                errors_tracking(out, PXT_REDIRECT_MISSING);
                goto done;
            }
        } else if (request_arg_is(r, j, "bcast")) {
            opts |= TRK_BCAST;
        } else if (request_arg_is(r, j, "optin")) {
            opts |= TRK_OPTIN;
        } else if (request_arg_is(r, j, "optout")) {
            opts |= TRK_OPTOUT;
        } else if (request_arg_is(r, j, "noloop")) {
            opts |= TRK_NOLOOP;
        } else if (request_arg_is(r, j, "prefix") && more) {
            j++;
            pfx[np] = request_arg(r, j);
            plen[np++] = r->argv[j].len;
        } else {
            errors_syntax(out);
            goto done;
        }
    }
    struct trk_client *tc = trk_of(c);
    uint32_t cur = tc ? tc->flags : 0;
    int kind_before = kind_of(c);
    if (request_arg_is(r, 2, "on")) {
        if (!(opts & TRK_BCAST) && np) {
            errors_tracking(out, PXT_PREFIX_NEEDS_BCAST);
            goto done;
        }
        if ((cur & TRK_ON) && !!(cur & TRK_BCAST) != !!(opts & TRK_BCAST)) {
            errors_tracking(out, PXT_BCAST_SWITCH);
            goto done;
        }
        if ((opts & TRK_BCAST) && (opts & (TRK_OPTIN | TRK_OPTOUT))) {
            errors_tracking(out, PXT_OPT_BCAST);
            goto done;
        }
        if ((opts & TRK_OPTIN) && (opts & TRK_OPTOUT)) {
            errors_tracking(out, PXT_OPTIN_OPTOUT);
            goto done;
        }
        if (((opts & TRK_OPTIN) && (cur & TRK_OPTOUT)) || ((opts & TRK_OPTOUT) && (cur & TRK_OPTIN))) {
            errors_tracking(out, PXT_OPT_SWITCH);
            goto done;
        }
        if ((opts & TRK_BCAST) &&
            tracking_check_prefixes((const char *const *)(tc ? tc->prefix : NULL),
                                    tc ? tc->plen : NULL, tc ? tc->nprefix : 0, pfx, plen, np,
                                    out) < 0)
            goto done;
        tc = trk_get(t, c);
        if (!(tc->flags & TRK_ON)) {
            t->nclients++;
            if (opts & TRK_BCAST) t->nbcast++;
        }
        tc->flags |= TRK_ON;
        tc->flags &= ~(TRK_BROKEN | TRK_BCAST | TRK_OPTIN | TRK_OPTOUT | TRK_NOLOOP);
        tc->redirect = (uint64_t)redir;
        if (opts & TRK_BCAST) {
            tc->flags |= TRK_BCAST;
            if (np == 0) add_prefix(t, tc, "", 0);
            for (uint32_t i = 0; i < np; i++) add_prefix(t, tc, pfx[i], plen[i]);
        }
        tc->flags |= opts & (TRK_OPTIN | TRK_OPTOUT | TRK_NOLOOP);
        update_listen(t, tc);
    } else if (request_arg_is(r, 2, "off")) {
        if (tc) disable(t, tc);
    } else {
        errors_syntax(out);
        goto done;
    }
    update_gauges(t);
    /* A change of connections: later requests must not reach a node before earlier ones. */
    if (kind_of(c) != kind_before) request_make_drain(r);
    resp_write_simple(out, "OK");
done:
    px_free(pfx);
    px_free(plen);
}

static void cmd_trackinginfo(struct client *c, struct sbuf *out)
{
    const struct trk_client *tc = trk_of(c);
    uint32_t f = tc ? tc->flags : 0;
    const char *flags[8];
    int n = 0;
    flags[n++] = f & TRK_ON ? "on" : "off";
    if (f & TRK_BCAST) flags[n++] = "bcast";
    if (f & TRK_OPTIN) flags[n++] = "optin";
    if ((f & TRK_OPTIN) && (f & TRK_CACHING)) flags[n++] = "caching-yes";
    if (f & TRK_OPTOUT) flags[n++] = "optout";
    if ((f & TRK_OPTOUT) && (f & TRK_CACHING)) flags[n++] = "caching-no";
    if (f & TRK_NOLOOP) flags[n++] = "noloop";
    if (f & TRK_BROKEN) flags[n++] = "broken_redirect";
    resp_write_map_len(out, 3, c->resp);
    resp_write_bulk(out, "flags", 5);
    resp_write_set_len(out, n, c->resp);
    for (int i = 0; i < n; i++) resp_write_bulk(out, flags[i], strlen(flags[i]));
    resp_write_bulk(out, "redirect", 8);
    resp_write_int(out, f & TRK_ON ? (long long)tc->redirect : -1);
    resp_write_bulk(out, "prefixes", 8);
    uint32_t np = tc ? tc->nprefix : 0;
    resp_write_array_len(out, np);
    for (uint32_t i = 0; i < np; i++) resp_write_bulk(out, tc->prefix[i], tc->plen[i]);
}

void tracking_command(struct tracking_ctx *t, struct request *r, struct sbuf *out)
{
    struct client *c = r->client;
    struct trk_client *tc = trk_of(c);
    uint32_t f = tc ? tc->flags : 0;
    switch (r->cmd->local_id) {
    case LOCAL_CLIENT_TRACKING: cmd_tracking(t, r, out); return;
    case LOCAL_CLIENT_CACHING:
        if (!(f & TRK_ON)) {
            errors_tracking(out, PXT_CACHING_OFF);
        } else if (request_arg_is(r, 2, "yes")) {
            if (!(f & TRK_OPTIN)) {
                errors_tracking(out, PXT_CACHING_YES);
                return;
            }
            tc->flags |= TRK_CACHING;
            resp_write_simple(out, "OK");
        } else if (request_arg_is(r, 2, "no")) {
            if (!(f & TRK_OPTOUT)) {
                errors_tracking(out, PXT_CACHING_NO);
                return;
            }
            tc->flags |= TRK_CACHING;
            resp_write_simple(out, "OK");
        } else {
            errors_syntax(out);
        }
        return;
    case LOCAL_CLIENT_GETREDIR:
        resp_write_int(out, f & TRK_ON ? (long long)tc->redirect : -1);
        return;
    case LOCAL_CLIENT_TRACKINGINFO: cmd_trackinginfo(c, out); return;
    default: errors_no_handler(out, r->cmd->cmd->name); return;
    }
}

/* ---- remembering what clients read ---- */

/* Makes room for one more key: the oldest is invalidated for its readers and forgotten. */
static void make_newest(struct tracking_ctx *t, struct trk_entry *e);

/* Makes room for one more key at the bound: the oldest keys are invalidated; one a reader holds
 * on to (tracking.h) becomes the newest instead, and when every key is held the bound waits. */
static void evict_for_one(struct tracking_ctx *t)
{
    for (uint32_t tries = t->n; t->max_keys && t->n >= t->max_keys && t->oldest && tries; tries--) {
        struct trk_entry *e = t->oldest;
        stat_add(&t->stats->trk_evictions, 1);
        if (!invalidate_entry(t, e, 0, NULL)) make_newest(t, e);
    }
}

/* Moves e (on the eviction list) to its newest end. */
static void make_newest(struct tracking_ctx *t, struct trk_entry *e)
{
    if (e == t->newest) return;
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    e->newer->older = e->older;
    e->older = t->newest;
    e->newer = NULL;
    t->newest->newer = e;
    t->newest = e;
}

static void remember(struct tracking_ctx *t, struct trk_client *tc, const char *k, uint32_t len,
                     int slot, uint32_t node, uint8_t via)
{
    struct trk_entry *e = find(t, k, len);
    if (!e) {
        evict_for_one(t);
        if ((t->n + 1) * 2 > t->cap) tab_grow(t);
        e = px_calloc(1, sizeof(*e) + len);
        e->hash = key_hash(k, len);
        e->klen = len;
        memcpy(e->key, k, len);
        e->ids = &e->id1;
        e->cap = 1;
        e->slot = (uint16_t)slot;
        t->tab[find_pos(t, k, len, e->hash)] = e;
        t->n++;
        struct trk_aux *a = aux(t);
        if (!a->slots) a->slots = px_calloc(CRC16_SLOTS, sizeof(*a->slots));
        e->snext = a->slots[slot];
        if (e->snext) e->snext->sprev = &e->snext;
        a->slots[slot] = e;
        e->sprev = &a->slots[slot];
    } else {
        /* Read again: it becomes the newest (the last to be evicted). */
        make_newest(t, e);
        goto linked;
    }
    e->older = t->newest;
    e->newer = NULL;
    if (t->newest)
        t->newest->newer = e;
    else
        t->oldest = e;
    t->newest = e;
linked:
    e->node = (uint16_t)node;
    e->via |= via;
    uint64_t id = tc->c->id;
    for (uint32_t i = 0; i < e->nids; i++)
        if (e->ids[i] == id) return;
    if (e->nids == e->cap) {
        uint32_t ncap = e->cap * 2;
        uint64_t *ids = px_malloc(ncap * sizeof(*ids));
        memcpy(ids, e->ids, e->nids * sizeof(*ids));
        if (e->ids != &e->id1) px_free(e->ids);
        e->ids = ids;
        e->cap = ncap;
    }
    e->ids[e->nids++] = id;
    t->items++;
}

/* A NOLOOP client writes key: it will not hear of its own change. */
static void forget_reader(struct tracking_ctx *t, struct trk_client *tc, const char *k,
                          uint32_t len)
{
    if (tc->flags & TRK_BCAST) {
        if (tc->nown >= TRK_OWN_MAX) return;
        tc->own = px_realloc(tc->own, (size_t)(tc->nown + 1) * sizeof(*tc->own));
        struct trk_own *o = &tc->own[tc->nown++];
        o->key = px_malloc(len ? len : 1);
        memcpy(o->key, k, len);
        o->len = len;
        o->at_ms = clock_now_ms();
        return;
    }
    struct trk_entry *e = find(t, k, len);
    if (!e) return;
    for (uint32_t i = 0; i < e->nids; i++) {
        if (e->ids[i] != tc->c->id) continue;
        e->ids[i] = e->ids[--e->nids];
        t->items--;
        break;
    }
}

/* CLIENT CACHING yes/no covers the next command, or a whole transaction (MULTI included, up to
 * EXEC or DISCARD), and survives other CLIENT subcommands: Redis clears the flag after any
 * command, refused ones too, unless the client is in MULTI after it or the command was CLIENT
 * (resetClient). cmd is NULL for a command the proxy does not know. */
static void caching_used(struct trk_client *tc, const struct command *cmd, int in_multi)
{
    int client_cmd = cmd && strncmp(cmd->name, "client", 6) == 0;
    int multi_after = cmd && strcmp(cmd->name, "multi") == 0;
    if (in_multi && !(cmd && (strcmp(cmd->name, "exec") == 0 || strcmp(cmd->name, "discard") == 0)))
        multi_after = 1;
    if (!multi_after && !client_cmd) tc->flags &= ~TRK_CACHING;
}

void tracking_refused(struct request *r, int in_multi)
{
    struct trk_client *tc = trk_of(r->client);
    if (!tc || !(tc->flags & TRK_ON)) return;
    caching_used(tc, r->cmd ? r->cmd->cmd : NULL, in_multi);
}

void tracking_dispatch(struct tracking_ctx *t, struct request *r, const struct keys_result *keys,
                       int in_multi)
{
    struct client *c = r->client;
    struct trk_client *tc = trk_of(c);
    if (!tc || !(tc->flags & TRK_ON) || !r->cmd) return;
    update_listen(t, tc); /* HELLO may have changed the protocol */
    const struct command *cmd = r->cmd->cmd;
    /* The end of a transaction that read keys: they are held until its reply. */
    if (tc->multi_hold && !(r->flags & REQ_F_TRACKED) &&
        (strcmp(cmd->name, "exec") == 0 || strcmp(cmd->name, "discard") == 0)) {
        tc->multi_hold = 0;
        r->flags |= REQ_F_TRACKED;
    }
    /* Its own flush: the message goes right behind the reply, ahead of the replies to what it
     * sends next, as Redis writes it (the nodes' message, later, finds nothing read since). */
    if (!in_multi && (strcmp(cmd->name, "flushall") == 0 || strcmp(cmd->name, "flushdb") == 0) &&
        !tc->redirect && (tc->flags & TRK_READ)) {
        tc->flags &= ~TRK_READ;
        send_payload(t, tc, c->resp == 3 ? "_\r\n" : "$-1\r\n", c->resp == 3 ? 3 : 5,
                     TRK_AFTER_CURRENT, 0);
    }
    int readonly = (cmd->flags & CMD_READONLY) != 0;
    /* A script's declared keys are tracked by Redis when the script reads anything: the node
     * decides, and its push finds them remembered here (a script that reads nothing costs an
     * entry, or with listeners an extra message). In NOLOOP mode its writes are the client's
     * own, below. Pub/Sub's shard channels are not keys to track. */
    int script = strncmp(cmd->name, "eval", 4) == 0 || strncmp(cmd->name, "fcall", 5) == 0;
    int trackable = keys->n > 0 && !(cmd->flags & CMD_PUBSUB) &&
                    (script ? !(tc->flags & TRK_NOLOOP) : readonly);
    if (readonly) tc->flags |= TRK_READ;
    if (trackable && !(tc->flags & TRK_BCAST)) {
        int optin = tc->flags & TRK_OPTIN, optout = tc->flags & TRK_OPTOUT;
        int caching = tc->flags & TRK_CACHING;
        int skip = (optin && !caching) || (optout && caching);
        /* Remembered in RESP2 without REDIRECT too, as Redis does (needs_listen). */
        if (!skip) {
            uint8_t via = c->resp == 3 && !in_multi ? VIA_TRACK : VIA_LISTEN;
            if (via == VIA_LISTEN && !(tc->flags & TRK_LISTEN)) {
                /* Transactions run on private connections: the listeners hear their keys. */
                tc->flags |= TRK_LISTEN;
                if (t->listen_refs++ == 0) view_set_listen(t->view, 1);
            }
            const char *base = r->breq.chunk->data;
            for (uint32_t i = 0; i < keys->n; i++) {
                const struct resp_span *a = &r->argv[keys->pos[i]];
                /* The key's slot: its hash slot, or in pool mode its server's. */
                int slot = view_key_slot(t->view, base + a->off, a->len);
                struct backend *b = t->view->map ? view_slot_backend(t->view, slot) : NULL;
                uint32_t node = b ? node_id(t, backend_addr(b)) : UINT16_MAX;
                remember(t, tc, base + a->off, a->len, slot, node, via);
            }
            /* Held until the reply (or, in a transaction, until EXEC's or DISCARD's). */
            if (in_multi && !tc->multi_hold) {
                tc->multi_hold = 1;
                tc->inflight++;
            } else if (!in_multi && !(r->flags & REQ_F_TRACKED)) {
                r->flags |= REQ_F_TRACKED;
                tc->inflight++;
            }
            update_gauges(t);
        }
    } else if ((!readonly || script) && keys->n > 0 && (tc->flags & TRK_NOLOOP)) {
        const char *base = r->breq.chunk->data;
        for (uint32_t i = 0; i < keys->n; i++) {
            const struct resp_span *a = &r->argv[keys->pos[i]];
            forget_reader(t, tc, base + a->off, a->len);
        }
    }
    caching_used(tc, cmd, in_multi);
}

/* ---- sync rounds with the listeners ---- */

static void sync_start(struct tracking_ctx *t);

/* One PING of the round (or the round's own hold) is done: the last ends the round, and starts
 * the next one when reads answered meanwhile wait for it. */
static void sync_one_less(struct tracking_ctx *t)
{
    if (--t->sync_pending > 0) return;
    t->sync_done = t->sync_seq;
    if (t->sync_wanted) sync_start(t);
}

static void sync_part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                           uint32_t off, uint32_t len)
{
    (void)c, (void)off, (void)len; /* PONG, or an error: a listener that broke says so itself */
    struct tracking_ctx *t = part->owner_ctx;
    request_put(rp, part);
    sync_one_less(t);
}

static const struct request_sink sync_sink = {.reply_span = sync_part_done, .reply_bytes = NULL};

/* A round: PING to every master's listener. */
static void sync_start(struct tracking_ctx *t)
{
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    const struct view *v = t->view;
    t->sync_wanted = 0;
    t->sync_seq++;
    uint32_t n = v->map && v->listen ? (uint32_t)v->nmasters : 0;
    if (n > t->sync_cap) {
        t->sync_nodes = px_realloc(t->sync_nodes, n * sizeof(*t->sync_nodes));
        t->sync_cap = n;
    }
    t->sync_pending = n + 1; /* parts may be answered at once (an unreachable node) */
    for (uint32_t i = 0; i < n; i++) {
        struct request_node *nd = &t->sync_nodes[i];
        struct backend *b = v->masters[i];
        snprintf(nd->ip, sizeof(nd->ip), "%s", backend_ip(b));
        nd->port = backend_port(b);
        nd->kind = VIEW_BCAST;
        struct buf_chunk *chunk = buf_chunk_get_exact(t->rp->chunks, sizeof(ping) - 1);
        memcpy(chunk->data, ping, sizeof(ping) - 1);
        chunk->len = sizeof(ping) - 1;
        struct request *part = request_get(t->rp);
        part->sink = &sync_sink;
        part->flags |= REQ_F_INTERNAL;
        part->owner_ctx = t;
        part->breq.chunk = chunk; /* the part owns the only reference */
        part->breq.off = 0;
        part->breq.len = chunk->len;
        part->to = nd;
        t->send(t->send_up, part);
    }
    sync_one_less(t);
}

void tracking_read_done(struct request *r)
{
    struct trk_client *tc = trk_of(r->client);
    r->flags &= ~REQ_F_TRACKED;
    if (!tc || !tc->inflight) return; /* tracking was turned off (and on) meanwhile */
    tc->inflight--;
    if (!(tc->flags & TRK_LISTEN)) return;
    /* Its keys are heard of on the listeners: held until a round started from now is over. */
    struct tracking_ctx *t = tc->t;
    if (t->sync_pending == 0 && t->send) {
        sync_start(t);
        tc->need_sync = t->sync_seq;
    } else {
        tc->need_sync = t->sync_seq + 1;
        t->sync_wanted = 1;
    }
}

/* ---- invalidations from the nodes ---- */

int tracking_note_reply(struct tracking_ctx *t, const struct backend *b, struct request *r)
{
    if (t->aux && aux(t)->last.b == b) aux(t)->last.b = NULL;
    if (!r) return 0;
    struct request *top = r->parent ? r->parent : r;
    const struct trk_client *tc = trk_of(top->client);
    /* A read's reply is never followed by an invalidation of the reader's own: what comes behind
     * it is another connection's write (a transaction's, run on a private connection, whose
     * message Redis writes after EXEC's reply), which goes where tracking.h says. A client with
     * REDIRECT gets no invalidation of its own. */
    if (!tc || (tc->flags & (TRK_ON | TRK_BCAST)) != TRK_ON || tc->redirect || !top->seq ||
        !top->cmd || !top->cmd->cmd || (top->cmd->cmd->flags & CMD_READONLY) ||
        view_kind_of(b) != VIEW_TRACK)
        return 0;
    struct trk_last *last = &aux(t)->last;
    last->b = b;
    last->id = tc->c->id;
    last->seq = top->seq;
    top->flags |= REQ_F_TRK_REPLY;
    return 1;
}

/* The bytes of a bulk string element (span over "$<n>\r\n<bytes>\r\n"); 0 when it is not one. */
static int bulk_of(const char *base, const struct resp_span *sp, const char **p, uint32_t *len)
{
    const char *s = base + sp->off;
    if (sp->len < 4 || (s[0] != '$' && s[0] != '+')) return 0;
    const char *cr = memchr(s, '\r', sp->len);
    if (!cr) return 0;
    if (s[0] == '+') {
        *p = s + 1;
        *len = (uint32_t)(cr - s - 1);
        return 1;
    }
    *p = cr + 2;
    *len = sp->len - (uint32_t)(cr + 2 - s) - 2;
    return 1;
}

/* BCAST clients hear of keys matching their prefixes: one message per prefix, as Redis sends
 * them (NOLOOP: without the keys the client itself wrote). */
static void bcast_keys(struct tracking_ctx *t, const char *const *keys, const uint32_t *lens,
                       uint32_t n)
{
    if (!t->nbcast) return;
    uint64_t now = clock_now_ms();
    const char **sel = px_malloc((size_t)(n ? n : 1) * sizeof(*sel));
    uint32_t *sl = px_malloc((size_t)(n ? n : 1) * sizeof(*sl));
    for (struct trk_client *tc = t->clients; tc; tc = tc->next) {
        if ((tc->flags & (TRK_ON | TRK_BCAST)) != (TRK_ON | TRK_BCAST)) continue;
        /* Own writes too old to be waiting for their push are forgotten. */
        uint32_t k = 0;
        for (uint32_t i = 0; i < tc->nown; i++) {
            if (now > tc->own[i].at_ms + TRK_OWN_MS) {
                px_free(tc->own[i].key);
                continue;
            }
            tc->own[k++] = tc->own[i];
        }
        tc->nown = k;
        for (uint32_t p = 0; p < tc->nprefix; p++) {
            uint32_t m = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (lens[i] < tc->plen[p] || memcmp(keys[i], tc->prefix[p], tc->plen[p]) != 0)
                    continue;
                int own = 0;
                for (uint32_t o = 0; o < tc->nown && !own; o++) {
                    if (tc->own[o].len != lens[i] || memcmp(tc->own[o].key, keys[i], lens[i]))
                        continue;
                    own = 1;
                    px_free(tc->own[o].key);
                    tc->own[o] = tc->own[--tc->nown];
                }
                if (own) continue;
                sel[m] = keys[i];
                sl[m++] = lens[i];
            }
            if (!m) continue;
            sbuf_clear(&t->keyv);
            tracking_payload_keys(&t->keyv, sel, sl, m);
            send_payload(t, tc, t->keyv.buf, t->keyv.len, -1, 0);
        }
    }
    px_free(sel);
    px_free(sl);
}

/* A node flushed (FLUSHALL, FLUSHDB): every tracking client of the kind that listens to this
 * runner hears it once, and the keys read on that node are forgotten. */
static void node_flushed(struct tracking_ctx *t, struct backend *b)
{
    int listener = view_kind_of(b) == VIEW_BCAST;
    for (struct trk_client *tc = t->clients; tc; tc = tc->next) {
        if (!(tc->flags & TRK_ON)) continue;
        if (!!(tc->flags & TRK_LISTEN) != listener && !(tc->flags & TRK_BCAST)) continue;
        send_flush(t, tc);
    }
    uint32_t node = node_id(t, backend_addr(b));
    for (uint32_t i = 0; i < t->cap; i++) {
        struct trk_entry *e = t->tab[i];
        /* The backward shift may have moved another entry here: look again. */
        if (e && e->node == node && settle(t, e, listener)) i--;
    }
    update_gauges(t);
}

void tracking_on_push(struct tracking_ctx *t, struct backend *b, struct buf_chunk *c, uint32_t off,
                      const struct resp_reply_info *info)
{
    int kind = view_kind_of(b);
    if (kind != VIEW_TRACK && kind != VIEW_BCAST) return;
    const char *d = c->data + off;
    struct resp_span el[3];
    uint32_t n;
    if (resp_reply_elements(d, info->len, el, 3, &n) < 0 || n != 2) return;
    const char *word;
    uint32_t wl;
    if (!bulk_of(d, &el[0], &word, &wl) || wl != 10 || memcmp(word, "invalidate", 10) != 0)
        return;
    const char *pl = d + el[1].off;
    if (pl[0] == '_' || (pl[0] == '*' && pl[1] == '-')) {
        node_flushed(t, b);
        return;
    }
    uint32_t nk = 0;
    if (resp_reply_elements(pl, el[1].len, NULL, 0, &nk) < 0 || nk == 0) return;
    struct resp_span *ks = px_malloc(nk * sizeof(*ks));
    const char **keys = px_malloc(nk * sizeof(*keys));
    uint32_t *lens = px_malloc(nk * sizeof(*lens));
    uint32_t got = 0;
    resp_reply_elements(pl, el[1].len, ks, nk, &nk);
    /* Right behind the runner's reply to a tracking client's request: its own write, as a rule. */
    const struct trk_last *own =
        kind == VIEW_TRACK && t->aux && aux(t)->last.b == b ? &aux(t)->last : NULL;
    for (uint32_t i = 0; i < nk; i++)
        if (bulk_of(pl, &ks[i], &keys[got], &lens[got])) got++;
    for (uint32_t i = 0; i < got; i++) {
        struct trk_entry *e = find(t, keys[i], lens[i]);
        /* A listener's news reaches the keys read without a tracking runner; a tracking
         * runner's, every reader (its node tracked the key for this worker). */
        if (e && (kind == VIEW_TRACK || (e->via & VIA_LISTEN)))
            invalidate_entry(t, e, kind == VIEW_BCAST, own);
    }
    if (kind == VIEW_BCAST) bcast_keys(t, keys, lens, got);
    update_gauges(t);
    px_free(ks);
    px_free(keys);
    px_free(lens);
}

/* ---- when the nodes may have lost track ---- */

void tracking_runner_down(struct tracking_ctx *t, struct backend *b)
{
    if (t->aux && aux(t)->last.b == b) aux(t)->last.b = NULL;
    int kind = view_kind_of(b);
    if ((kind != VIEW_TRACK && kind != VIEW_BCAST) || !t->cap) {
        if (kind == VIEW_BCAST && t->nbcast) goto bcast;
        return;
    }
    uint8_t via = kind == VIEW_TRACK ? VIA_TRACK : VIA_LISTEN;
    uint32_t node = node_id(t, backend_addr(b));
    for (uint32_t i = 0; i < t->cap; i++) {
        struct trk_entry *e = t->tab[i];
        /* The backward shift may have moved another entry here: look again. */
        if (e && e->node == node && (e->via & via) && invalidate_entry(t, e, 0, NULL)) i--;
    }
    if (kind != VIEW_BCAST) {
        update_gauges(t);
        return;
    }
bcast:
    /* A listener's connection broke: BCAST clients may have missed any key of that node. */
    for (struct trk_client *tc = t->clients; tc; tc = tc->next)
        if ((tc->flags & (TRK_ON | TRK_BCAST)) == (TRK_ON | TRK_BCAST)) {
            tc->flags |= TRK_READ;
            send_flush(t, tc);
        }
    update_gauges(t);
}

void tracking_topology_changed(struct tracking_ctx *t, int slot)
{
    struct trk_aux *a = aux(t);
    if (!t->view->map) return;
    int moved = 0;
    /* Pool mode: a new placement moves keys between servers without any slot changing node, so
     * every key read before it is invalidated. */
    uint64_t gen = view_pool_gen(t->view);
    int replaced = gen != a->pool_gen;
    a->pool_gen = gen;
    for (int s = slot >= 0 ? slot : 0; s < CRC16_SLOTS && (slot < 0 || s == slot); s++) {
        struct trk_entry *e = a->slots ? a->slots[s] : NULL;
        if (!e) continue;
        struct backend *b = view_slot_backend(t->view, s);
        uint32_t node = b ? node_id(t, backend_addr(b)) : UINT16_MAX;
        while (e) {
            struct trk_entry *next = e->snext;
            if (e->node != node || replaced) {
                moved = 1;
                invalidate_entry(t, e, 0, NULL);
            }
            e = next;
        }
    }
    /* BCAST clients hear every key of every master, but a master that just took slots over was
     * not necessarily listened to when it did: a flush is the safe news. */
    if (moved && t->nbcast)
        for (struct trk_client *tc = t->clients; tc; tc = tc->next)
            if ((tc->flags & (TRK_ON | TRK_BCAST)) == (TRK_ON | TRK_BCAST)) {
                tc->flags |= TRK_READ;
                send_flush(t, tc);
            }
    update_gauges(t);
}

/* ---- lifetime ---- */

/* CONFIG SET tracking-table-max-keys: the bound for the whole process, in place of the flag's
 * (UINT64_MAX while never set). Each worker keeps its share. */
static atomic_uint_fast64_t bound_set = UINT64_MAX;

void tracking_set_max_keys(uint64_t n)
{
    atomic_store_explicit(&bound_set, n, memory_order_relaxed);
}

/* This worker's share of the bound; 0: none. */
static uint32_t share_of_bound(const struct tracking_ctx *t)
{
    uint64_t all = atomic_load_explicit(&bound_set, memory_order_relaxed);
    if (all == UINT64_MAX) all = t->cfg->tracking_max_keys;
    int threads = t->cfg->threads > 0 ? t->cfg->threads : 1;
    uint64_t share = all ? (all + (uint64_t)threads - 1) / threads : 0;
    return share > UINT32_MAX ? UINT32_MAX : (uint32_t)share;
}

void tracking_cron(struct tracking_ctx *t)
{
    t->max_keys = share_of_bound(t);
    /* A bound lowered by CONFIG SET: down to it now, as Redis's cron does (keys a reader holds on
     * to wait, as at an insertion). */
    uint32_t before = t->n;
    for (uint32_t tries = t->n; t->max_keys && t->n > t->max_keys && t->oldest && tries; tries--) {
        struct trk_entry *e = t->oldest;
        stat_add(&t->stats->trk_evictions, 1);
        if (!invalidate_entry(t, e, 0, NULL)) make_newest(t, e);
    }
    if (t->n != before) update_gauges(t);
}

void tracking_init(struct tracking_ctx *t, struct view *view, struct request_pool *rp,
                   struct keys_result *keys, const struct config *cfg, struct worker_stats *stats,
                   int worker)
{
    memset(t, 0, sizeof(*t));
    t->view = view;
    t->rp = rp;
    t->keys = keys;
    t->cfg = cfg;
    t->stats = stats;
    t->worker = worker;
    t->max_keys = share_of_bound(t);
    sbuf_init(&t->msg);
    sbuf_init(&t->keyv);
}

void tracking_deinit(struct tracking_ctx *t)
{
    for (uint32_t i = 0; i < t->cap; i++) {
        struct trk_entry *e = t->tab[i];
        if (!e) continue;
        if (e->ids != &e->id1) px_free(e->ids);
        px_free(e);
    }
    px_free(t->tab);
    px_free(t->sync_nodes);
    struct trk_aux *a = t->aux;
    if (a) {
        px_free(a->nodes);
        px_free(a->slots);
        px_free(a->byid);
        px_free(a);
    }
    sbuf_free(&t->msg);
    sbuf_free(&t->keyv);
    memset(t, 0, sizeof(*t));
}
