/*
 * Node-wide administration; see admin.h. An operation is the client's request with an admin_op
 * attached: the nodes it goes to (every node the map says is up, masters and replicas), the
 * phase it is in, and each node's reply to the phase. Parts are requests of their own, sent by
 * forward.c to a node named by address; their replies come back to part_done, and the last one
 * of a phase starts the next. Phases of CONFIG SET: GET (the old values), SET, and UNDO (only
 * when some nodes took the change and others refused it).
 */
#include "admin.h"

#include "busy.h"

#include "errors.h"
#include "mem.h"
#include "resp.h"
#include "resp_reply.h"
#include "slowlog.h"
#include "stats.h"
#include "tracking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum admin_phase { PH_GET = 0, PH_SET, PH_UNDO, PH_ALL };

struct admin_reply {
    struct buf_chunk *c; /* NULL: none (yet) */
    uint32_t off, len;
};

struct admin_op {
    struct request_attach attach; /* first: freed with the request */
    struct admin_ctx *a;
    enum admin_phase phase;
    uint32_t n, pending;
    struct request_node *nodes;
    struct admin_reply *old; /* PH_GET: each node's CONFIG GET reply */
    struct admin_reply *res; /* the current phase's replies */
    int refused;             /* PH_SET: the first node that refused, for the error */
    struct admin_reply why;  /* ...and what it said */
};

static void reply_put(struct admin_reply *r)
{
    buf_chunk_put(r->c);
    r->c = NULL;
}

static void op_free(struct request_pool *rp, struct request_attach *at)
{
    (void)rp;
    struct admin_op *op = (struct admin_op *)at;
    for (uint32_t i = 0; i < op->n; i++) {
        reply_put(&op->old[i]);
        reply_put(&op->res[i]);
    }
    reply_put(&op->why);
    px_free(op->old);
    px_free(op->res);
    px_free(op->nodes);
    px_free(op);
}

void admin_init(struct admin_ctx *a, struct request_pool *rp, struct forward *fw, struct view *view,
                const struct config *cfg)
{
    memset(a, 0, sizeof(*a));
    a->rp = rp;
    a->fw = fw;
    a->view = view;
    a->cfg = cfg;
    sbuf_init(&a->out);
}

void admin_deinit(struct admin_ctx *a)
{
    sbuf_free(&a->out);
}

static void part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                      uint32_t off, uint32_t len);
static void phase_done(struct admin_ctx *a, struct request *r, struct admin_op *op);

/* A part's reply comes back here (request.c copies replies the proxy writes itself, such as the
 * error of a node that cannot be reached, into its arena first). */
static const struct request_sink admin_sink = {.reply_span = part_done, .reply_bytes = NULL};

/* Sends bytes b to node i, as a part of r. */
static void send_part(struct admin_ctx *a, struct request *r, struct admin_op *op, uint32_t i,
                      const char *b, size_t len)
{
    struct buf_chunk *chunk = buf_chunk_get_exact(a->rp->chunks, len);
    memcpy(chunk->data, b, len);
    chunk->len = (uint32_t)len;
    struct request *part = request_get(a->rp);
    part->parent = r;
    part->sink = &admin_sink;
    part->owner_ctx = a;
    part->child_idx = i;
    part->cmd = r->cmd;
    part->start_us = r->start_us;
    part->breq.chunk = chunk; /* the part owns the only reference */
    part->breq.off = 0;
    part->breq.len = chunk->len;
    part->to = &op->nodes[i];
    forward_send(a->fw, part);
}

/* Sends the same command to every node; the phase ends when all have answered. */
static void send_all(struct admin_ctx *a, struct request *r, struct admin_op *op, const char *b,
                     size_t len)
{
    op->pending = op->n + 1; /* one more until every part is sent: none can end the phase */
    for (uint32_t i = 0; i < op->n; i++) send_part(a, r, op, i, b, len);
    /* Every part may have been answered already (a node that cannot be reached). */
    if (--op->pending == 0) phase_done(a, r, op);
}

static int is_ok(const struct admin_reply *rep)
{
    return rep->c && rep->len >= 5 && memcmp(rep->c->data + rep->off, "+OK\r\n", 5) == 0;
}

/* "CONFIG GET p1 p2 ..." for the parameters of r's CONFIG SET, into out. 0 when r's arguments do
 * not pair up (the nodes will say so themselves). */
static int build_get(const struct request *r, struct sbuf *out)
{
    if (r->argc < 4 || (r->argc % 2) != 0) return 0;
    uint32_t np = (r->argc - 2) / 2;
    resp_write_array_len(out, 2 + np);
    resp_write_bulk(out, "CONFIG", 6);
    resp_write_bulk(out, "GET", 3);
    for (uint32_t i = 2; i < r->argc; i += 2) resp_write_bulk(out, request_arg(r, i), r->argv[i].len);
    return 1;
}

/* "CONFIG SET name value ..." putting back what a node's CONFIG GET reply said, into out. 0 when
 * there is nothing to put back. */
static int build_undo(const struct admin_reply *old, struct sbuf *out)
{
    if (!old->c) return 0;
    const char *d = old->c->data + old->off;
    uint32_t n;
    if (resp_reply_elements(d, old->len, NULL, 0, &n) < 0 || n == 0 || n % 2) return 0;
    struct resp_span *el = px_malloc(n * sizeof(*el));
    resp_reply_elements(d, old->len, el, n, &n);
    resp_write_array_len(out, 2 + n);
    resp_write_bulk(out, "CONFIG", 6);
    resp_write_bulk(out, "SET", 3);
    for (uint32_t i = 0; i < n; i++) sbuf_put(out, d + el[i].off, el[i].len); /* bulk strings */
    px_free(el);
    return 1;
}

/* Parameters each node keeps for itself: its addresses, its files (its TLS certificates too: the
 * proxy's own are reloaded with SIGHUP), its place in replication and the password the proxy
 * logs in with. The same value on every node would break the cluster. */
static const char *const per_node[] = {
    "port", "tls-port", "bind", "bind-source-addr", "unixsocket", "unixsocketperm", "dir",
    "dbfilename", "logfile", "pidfile", "appendfilename", "appenddirname", "cluster-config-file",
    "cluster-port", "cluster-announce-ip", "cluster-announce-port", "cluster-announce-bus-port",
    "cluster-announce-tls-port", "cluster-announce-hostname", "replica-announce-ip",
    "slave-announce-ip", "replica-announce-port", "slave-announce-port", "replicaof", "slaveof",
    "masterauth", "masteruser", "requirepass", "aclfile", "cluster-enabled", "tls-cert-file",
    "tls-key-file", "tls-key-file-pass", "tls-client-cert-file", "tls-client-key-file",
    "tls-client-key-file-pass", "tls-ca-cert-file", "tls-ca-cert-dir", "tls-dh-params-file",
};

/* The first parameter of r's CONFIG SET that is kept per node, or -1. */
static int per_node_param(const struct request *r)
{
    for (uint32_t i = 2; i < r->argc; i += 2)
        for (size_t k = 0; k < sizeof(per_node) / sizeof(per_node[0]); k++)
            if (request_arg_is(r, i, per_node[k])) return (int)i;
    return -1;
}

/* latency-tracking-info-percentiles, which the nodes accepted: numbers between spaces. */
static void set_percentiles(const char *val, uint32_t len)
{
    double p[LAT_MAX_PCTS];
    int n = 0;
    char buf[512];
    if (len >= sizeof(buf)) return;
    memcpy(buf, val, len);
    buf[len] = '\0';
    for (char *s = buf, *end; n < LAT_MAX_PCTS;) {
        while (*s == ' ') s++;
        if (!*s) break;
        double d = strtod(s, &end);
        if (end == s || d < 0 || d > 100) return;
        p[n++] = d;
        s = end;
    }
    lat_set_percentiles(p, n);
}

/* The parameters the proxy itself follows, taken from a CONFIG SET every node accepted. */
static void apply_to_proxy(const struct request *r)
{
    for (uint32_t i = 2; i + 1 < r->argc; i += 2) {
        const char *val = request_arg(r, i + 1);
        uint32_t vlen = r->argv[i + 1].len;
        if (request_arg_is(r, i, "latency-tracking")) {
            lat_set_tracking(vlen == 3 && strncasecmp(val, "yes", 3) == 0);
            continue;
        }
        if (request_arg_is(r, i, "latency-tracking-info-percentiles")) {
            set_percentiles(val, vlen);
            continue;
        }
        long long v;
        if (!resp_str2ll(val, vlen, &v)) continue;
        if (request_arg_is(r, i, "slowlog-log-slower-than"))
            slowlog_set_threshold(v);
        else if (request_arg_is(r, i, "slowlog-max-len"))
            slowlog_set_max_len(v);
        else if (request_arg_is(r, i, "busy-reply-threshold") ||
                 request_arg_is(r, i, "lua-time-limit"))
            busy_set_threshold(v);
        else if (request_arg_is(r, i, "tracking-table-max-keys") && v >= 0)
            tracking_set_max_keys((uint64_t)v);
    }
}

/* The client's answer, and the operation is over. */
static void finish(struct admin_ctx *a, struct request *r, const char *b, size_t len)
{
    r->state = REQ_NEW;
    request_reply_bytes(a->rp, r, b, len);
}

/* Every node answered the phase: the next one, or the answer. */
static void phase_done(struct admin_ctx *a, struct request *r, struct admin_op *op)
{
    struct sbuf *out = &a->out;
    sbuf_clear(out);
    uint32_t nok = 0;
    int first_bad = -1;
    for (uint32_t i = 0; i < op->n; i++) {
        if (is_ok(&op->res[i]))
            nok++;
        else if (first_bad < 0)
            first_bad = (int)i;
    }
    switch (op->phase) {
    case PH_GET:
        /* A node that cannot say what it has now cannot be put back: change nothing. */
        for (uint32_t i = 0; i < op->n; i++) {
            const struct admin_reply *g = &op->res[i];
            if (g->c && g->len > 0 && g->c->data[g->off] == '*') continue;
            const char *text = g->c ? g->c->data + g->off : "no reply";
            size_t tl = g->c ? g->len : 8;
            if (tl > 0 && (text[0] == '-' || text[0] == '!')) text++, tl--;
            while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == '\r')) tl--;
            errors_config_unreachable(out, op->nodes[i].ip, op->nodes[i].port, text, tl);
            finish(a, r, out->buf, out->len);
            return;
        }
        /* Keep the old values; now the change itself. */
        for (uint32_t i = 0; i < op->n; i++) {
            op->old[i] = op->res[i];
            op->res[i].c = NULL;
        }
        op->phase = PH_SET;
        send_all(a, r, op, r->breq.chunk->data + r->breq.off, r->breq.len);
        return;
    case PH_SET:
        if (nok == op->n) {
            apply_to_proxy(r);
            finish(a, r, "+OK\r\n", 5);
            return;
        }
        if (nok == 0) {
            /* Every node refused (a bad parameter or value): Redis's own error, as it is. */
            const struct admin_reply *e = &op->res[first_bad];
            if (e->c) {
                finish(a, r, e->c->data + e->off, e->len);
            } else {
                errors_unexpected_reply(out, "CONFIG SET");
                finish(a, r, out->buf, out->len);
            }
            return;
        }
        /* Some took it, some did not: put the old values back where it went through. */
        op->refused = first_bad;
        op->why = op->res[first_bad];
        op->res[first_bad].c = NULL;
        op->phase = PH_UNDO;
        {
            struct sbuf cmd;
            sbuf_init(&cmd);
            uint8_t *ok = px_malloc(op->n);
            for (uint32_t i = 0; i < op->n; i++) ok[i] = (uint8_t)is_ok(&op->res[i]);
            for (uint32_t i = 0; i < op->n; i++) reply_put(&op->res[i]);
            op->pending = 1;
            for (uint32_t i = 0; i < op->n; i++) {
                sbuf_clear(&cmd);
                if (!ok[i] || !build_undo(&op->old[i], &cmd)) continue;
                op->pending++;
                send_part(a, r, op, i, cmd.buf, cmd.len);
            }
            sbuf_free(&cmd);
            px_free(ok);
            if (--op->pending > 0) return;
        }
        /* Nothing to undo: fall through to the answer. */
        /* fall through */
    case PH_UNDO: {
        const struct admin_reply *w = &op->why;
        const char *text = w->c ? w->c->data + w->off : "no reply";
        size_t tl = w->c ? w->len : 8;
        /* The node's error line without its '-' and CRLF. */
        if (tl > 0 && (text[0] == '-' || text[0] == '!')) text++, tl--;
        while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == '\r')) tl--;
        int undone = 1;
        for (uint32_t i = 0; i < op->n; i++)
            if (op->res[i].c && !is_ok(&op->res[i])) undone = 0;
        const struct request_node *nd = &op->nodes[op->refused];
        errors_config_partial(out, nd->ip, nd->port, text, tl, undone);
        finish(a, r, out->buf, out->len);
        return;
    }
    case PH_ALL:
        if (nok == op->n) {
            finish(a, r, "+OK\r\n", 5);
        } else {
            const struct admin_reply *e = &op->res[first_bad];
            if (nok == 0 && e->c) {
                finish(a, r, e->c->data + e->off, e->len);
            } else {
                const char *text = e->c ? e->c->data + e->off : "no reply";
                size_t tl = e->c ? e->len : 8;
                if (tl > 0 && (text[0] == '-' || text[0] == '!')) text++, tl--;
                while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == '\r')) tl--;
                const struct request_node *nd = &op->nodes[first_bad];
                errors_node_refused(out, nd->ip, nd->port, text, tl);
                finish(a, r, out->buf, out->len);
            }
        }
        return;
    }
}

static void part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                      uint32_t off, uint32_t len)
{
    struct admin_ctx *a = part->owner_ctx;
    struct request *r = part->parent;
    struct admin_op *op = (struct admin_op *)r->attach;
    uint32_t i = part->child_idx;
    reply_put(&op->res[i]);
    buf_chunk_ref(c);
    op->res[i].c = c;
    op->res[i].off = off;
    op->res[i].len = len;
    request_put(rp, part);
    if (--op->pending == 0) phase_done(a, r, op);
}

void admin_run(struct admin_ctx *a, struct request *r)
{
    struct view *v = a->view;
    if (!v->map) {
        /* Routed again once a map exists, which brings it back here. */
        forward_hold_unrouted(a->fw, r);
        return;
    }
    int pn = r->cmd->local_id == LOCAL_CONFIG_SET ? per_node_param(r) : -1;
    if (pn >= 0) {
        sbuf_clear(&a->out);
        errors_config_per_node(&a->out, request_arg(r, (uint32_t)pn), r->argv[pn].len);
        r->flags |= REQ_F_REJECTED;
        finish(a, r, a->out.buf, a->out.len);
        return;
    }
    const struct slotmap *m = v->map;
    struct admin_op *op = px_calloc(1, sizeof(*op));
    op->attach.free = op_free;
    op->a = a;
    op->nodes = px_calloc((size_t)m->nnodes + 1, sizeof(*op->nodes));
    for (int i = 0; i < m->nnodes; i++) {
        const struct slotmap_node *nd = &m->nodes[i];
        /* Every node the cluster counts as up: a failed one cannot be changed, and would stop
         * every change while it is down. */
        if (nd->health != SLOTMAP_ONLINE) continue;
        snprintf(op->nodes[op->n].ip, sizeof(op->nodes[op->n].ip), "%s", nd->ip);
        op->nodes[op->n++].port = nd->port;
    }
    op->old = px_calloc((size_t)op->n + 1, sizeof(*op->old));
    op->res = px_calloc((size_t)op->n + 1, sizeof(*op->res));
    r->attach = &op->attach;
    r->state = REQ_FANOUT;
    if (op->n == 0) {
        sbuf_clear(&a->out);
        errors_no_master(&a->out, errors_mode_of(a->cfg->pool, a->cfg->auto_eject_hosts));
        finish(a, r, a->out.buf, a->out.len);
        return;
    }
    if (r->cmd->local_id == LOCAL_CONFIG_SET) {
        struct sbuf get;
        sbuf_init(&get);
        if (build_get(r, &get)) {
            op->phase = PH_GET;
            send_all(a, r, op, get.buf, get.len);
        } else {
            op->phase = PH_SET;
            send_all(a, r, op, r->breq.chunk->data + r->breq.off, r->breq.len);
        }
        sbuf_free(&get);
        return;
    }
    /* The proxy's own statistics go with the nodes'. */
    if (r->cmd->local_id == LOCAL_CONFIG_RESETSTAT) {
        errstats_reset();
        if (a->reset_stats) a->reset_stats(a->up);
    }
    op->phase = PH_ALL;
    send_all(a, r, op, r->breq.chunk->data + r->breq.off, r->breq.len);
}
