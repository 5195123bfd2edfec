/*
 * The dispatcher; see dispatch.h. Every request the session parses comes through
 * dispatch_request once (and again through dispatch_resume when it had to wait for a slot map
 * before it could be routed). The decision is route_decide's; what happens here is only the
 * mapping from a route to the executor's entry point.
 */
#include "dispatch.h"

#include "busy.h"

#include "clock.h"
#include "errors.h"
#include "monitor.h"
#include "pause.h"
#include "sock.h"
#include "route.h"
#include "scan.h"

#include <string.h>

void dispatch_init(struct dispatch *d)
{
    memset(d, 0, sizeof(*d));
    sbuf_init(&d->out);
    sbuf_init(&d->mon);
    keys_result_init(&d->acl_keys);
    d->rng = 0x9E3779B9u;
}

/* The random distribution's pick for one request: any server, the same for all its keys. */
static uint32_t next_entropy(struct dispatch *d)
{
    uint32_t x = d->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    d->rng = x;
    return x;
}

/* Pool mode before the first map: nothing knows where keys go yet, so the request waits and is
 * routed from the start once a map is there. Returns 1 when r was held. */
static int pool_unplaced(struct dispatch *d, struct request *r)
{
    const struct view *v = d->fc->view;
    if (!v->cfg->pool || v->map) return 0;
    forward_hold_unrouted(d->fw, r);
    return 1;
}

/* -hash-tag-strip: the keys go to their server under the names rediscluster-py stores them
 * under ("bar{foo}" as "bar"); channels are not keys of the keyspace and keep their names. */
static void strip_keys(struct dispatch *d, struct request *r, const struct keyspace *ks)
{
    if (!ks->strip || d->keys->n == 0 || (r->cmd->cmd->flags & CMD_PUBSUB)) return;
    request_strip_keys(d->rp, r, d->keys->pos, d->keys->n);
}

void dispatch_deinit(struct dispatch *d)
{
    sbuf_free(&d->out);
    sbuf_free(&d->mon);
    keys_result_free(&d->acl_keys);
}

/* Refusals that Redis makes before it looks at ACL rules: an unknown command or subcommand, a
 * wrong number of arguments, a client that must AUTH first. */
static int refused_before_acl(const struct route *rt)
{
    return rt->kind == RT_REFUSE &&
           (rt->err == PXE_UNKNOWN_COMMAND || rt->err == PXE_UNKNOWN_SUBCOMMAND ||
            rt->err == PXE_WRONG_ARITY || rt->err == PXE_NOAUTH);
}

/* Records a refusal as Redis's addACLLogEntry does: the command's full name, or the key or
 * channel, the user, and the client's CLIENT LIST line. */
static void acl_log_denial(struct dispatch *d, const struct request *r, const struct client *c,
                           const struct acl_user *u, int res, int pos, int in_multi)
{
    const char *obj = r->cmd->cmd->name;
    size_t objlen = strlen(obj);
    if (res != ACL_DENIED_CMD) {
        obj = request_arg(r, (uint32_t)pos);
        objlen = r->argv[pos].len;
    }
    struct sbuf info;
    sbuf_init(&info);
    d->describe(d->describe_up, (struct client *)c, &info);
    if (info.len) info.len--; /* the line's newline */
    acl_store_log(res, in_multi ? ACL_LOG_MULTI : ACL_LOG_TOPLEVEL, obj, objlen, u->name,
                  u->namelen, info.buf ? info.buf : "", info.len, clock_wall_us() / 1000);
    sbuf_free(&info);
    stat_t *n = res == ACL_DENIED_CMD   ? &d->stats->acl_denied_cmd
                : res == ACL_DENIED_KEY ? &d->stats->acl_denied_key
                                        : &d->stats->acl_denied_channel;
    stat_add(n, 1);
}

/* Answers r with the refusal in d->out. An EXEC refused so, before it ran, ends the transaction
 * as Redis's execCommandAbort does: whatever was queued or watched is dropped (txn_reset: the
 * node connection goes, which discards and unwatches there), and the error comes as
 * "-EXECABORT Transaction discarded because of: <it>". */
static void reply_refusal(struct dispatch *d, struct request *r, const struct cmd_entry *e)
{
    if (e && e->local_id == LOCAL_EXEC && r->client) {
        struct sbuf msg;
        sbuf_init(&msg);
        errors_execabort_because(&msg, d->out.buf, d->out.len);
        txn_reset(r->client);
        request_reply_bytes(d->rp, r, msg.buf, msg.len);
        sbuf_free(&msg);
        return;
    }
    request_reply_bytes(d->rp, r, d->out.buf, d->out.len);
}

/* The ACL check, in Redis's place: after arity and authentication, before everything else
 * (CROSSSLOT, subscribed mode, the proxy's own refusals). Returns 1 when r may go on; otherwise r
 * is answered with -NOPERM (which, inside MULTI, makes EXEC fail as Redis does). */
static int acl_allows(struct dispatch *d, struct request *r, struct client *c,
                      const struct route *rt, int in_multi)
{
    const struct acl_user *u = client_user(c);
    if (!u) u = d->acl->dflt;
    if (in_multi && rt->cmd->local_id == LOCAL_EXEC && c->acl_changed) {
        /* The user's rules changed after commands were queued and sent to the node: the proxy
         * cannot check them again one by one as Redis does at EXEC, so the transaction fails. */
        txn_note_error(r);
    }
    if (rt->cmd->local_id >= LOCAL_MULTI && rt->cmd->local_id <= LOCAL_DISCARD &&
        rt->cmd->local_id != LOCAL_WATCH)
        c->acl_changed = 0;
    if (u->unrestricted || refused_before_acl(rt)) return 1;
    int pos = 0;
    enum acl_result res = acl_check(u, rt->cmd, r->breq.chunk->data, r->argv, r->argc,
                                    &d->acl_keys, &pos);
    if (res == ACL_OK) return 1;
    r->cmd = rt->cmd;
    acl_log_denial(d, r, c, u, res, pos, in_multi);
    r->flags |= REQ_F_REJECTED;
    txn_note_error(r);
    sbuf_clear(&d->out);
    errors_noperm(&d->out, res, rt->cmd->cmd->name);
    reply_refusal(d, r, rt->cmd);
    return 0;
}

/* Refuses r with the error routing chose (which, inside MULTI, makes EXEC fail as Redis does). */
static void reject(struct dispatch *d, struct request *r, const struct route *rt)
{
    const struct cmd_entry *e = rt->cmd;
    r->flags |= REQ_F_REJECTED;
    txn_note_error(r);
    sbuf_clear(&d->out);
    errors_route(&d->out, rt->err, r->breq.chunk->data, r->argv, r->argc,
                 e ? e->cmd->name : NULL, e ? e->unsupported : NULL);
    /* The HTTP front's refusal of EXEC is the proxy's own, not Redis's. */
    reply_refusal(d, r, rt->err == PXE_ONESHOT ? NULL : e);
}

/* Remembers the body of scripts the client runs (EVAL, SCRIPT LOAD), for NOSCRIPT recovery;
 * forgets them all on SCRIPT FLUSH. */
/* Whether EVAL's (EVAL_RO's) numkeys is one Redis takes: otherwise it refuses the call before it
 * compiles (and caches) the script. */
static int eval_numkeys_ok(const struct request *r)
{
    if (strncmp(r->cmd->cmd->name, "eval", 4) != 0) return 1; /* SCRIPT LOAD */
    long long n;
    return r->argc >= 3 && resp_str2ll(request_arg(r, 2), r->argv[2].len, &n) && n >= 0 &&
           n <= (long long)r->argc - 3;
}

static void note_script(struct dispatch *d, struct request *r, uint32_t flags)
{
    uint32_t arg = r->cmd->script_arg;
    if ((flags & RT_F_SCRIPT) && eval_numkeys_ok(r)) {
        scripts_remember(d->scripts, request_arg(r, arg), r->argv[arg].len);
        r->flags |= REQ_F_SCRIPT_NOTED;
    }
    if (flags & RT_F_SCRIPT_FLUSH) scripts_flush(d->scripts);
}

void dispatch_script_answered(struct dispatch *d, const struct request *r, const char *reply,
                              size_t len)
{
    if (len < 1 || reply[0] != '-' || !errors_is_script_refused(reply + 1, len - 1)) return;
    uint32_t arg = r->cmd->script_arg;
    scripts_forget(d->scripts, request_arg(r, arg), r->argv[arg].len);
}

/* FUNCTION LOAD tells CLIENT PAUSE WRITE which functions are read-only; FLUSH, DELETE and
 * RESTORE make it forget (pause.h). */
static void note_functions(const struct request *r)
{
    const char *name = r->cmd->cmd->name;
    if (strncmp(name, "function|", 9) != 0) return;
    if (strcmp(name + 9, "load") == 0 && r->argc >= 3)
        pause_note_functions(request_arg(r, r->argc - 1), r->argv[r->argc - 1].len);
    else if (strcmp(name + 9, "flush") == 0 || strcmp(name + 9, "delete") == 0 ||
             strcmp(name + 9, "restore") == 0)
        pause_forget_functions();
}

/* A script or function call is counted as running on its node until answered (busy.h). */
static void note_running(struct request *r)
{
    const char *name = r->cmd->cmd->name;
    int function = strncmp(name, "fcall", 5) == 0;
    if ((r->flags & REQ_F_SCRIPT_RUN) || (!function && strncmp(name, "eval", 4) != 0)) return;
    r->flags |= REQ_F_SCRIPT_RUN;
    busy_start(clock_now_ms(), function);
}

/* Every master, once a slot map says which they are (held until then). */
static void all_masters(struct dispatch *d, struct request *r)
{
    if (!d->fc->view->map) {
        r->flags |= REQ_F_ALL_MASTERS;
        forward_hold_unrouted(d->fw, r);
        return;
    }
    r->flags &= ~REQ_F_ALL_MASTERS;
    struct fan_merger m;
    merge_get(r->cmd->merge, d->menv, &m);
    fanout_all_masters(d->fc, r, &m, NULL, 0, 0);
}

/* r may block: its client counts as blocked until the session has the answer (or closes). */
static void make_blocking(struct dispatch *d, struct request *r)
{
    if (request_make_blocking(r)) stat_add(&d->stats->blocked_clients, 1);
}

/* The commands the proxy answers, each to the executor named for it. */
static void run_local(struct dispatch *d, struct request *r)
{
    int id = r->cmd->local_id;
    if (id == LOCAL_INFO)
        info_run(d->info, r);
    else if (id == LOCAL_SCAN)
        scan_run(d->fc, r);
    else if (id >= LOCAL_SUBSCRIBE && id <= LOCAL_SUNSUBSCRIBE)
        pubsub_run(d->ps, r);
    else if (id >= LOCAL_CONFIG_SET && id <= LOCAL_CONFIG_REWRITE)
        admin_run(d->admin, r);
    else if (id == LOCAL_ACL)
        aclcmd_run(d->aclcmd, r);
    else
        local_run(d->local, r);
}

/* CLIENT PAUSE: r waits when the pause covers it (its client blocked behind it, as Redis blocks
 * the client), and is routed again when the pause ends. Returns 1 when r was held. */
static int held_by_pause(struct dispatch *d, struct request *r)
{
    uint64_t end = 0;
    enum pause_mode m = pause_current(clock_now_ms(), &end);
    int covers = m == PAUSE_ALL ||
                 (m == PAUSE_WRITE &&
                  pause_is_write(r, d->scripts, txn_queued_writes(r->client)));
    if (!covers) {
        if (r->flags & REQ_F_PAUSED) {
            r->flags &= ~REQ_F_PAUSED;
            r->deadline_ms = 0;
            /* Timed from now, as Redis times a command it runs once the pause is over: the
             * wait is in no statistic (commandstats, latencystats, the slow log). */
            r->start_us = clock_now_us();
            stat_add(&d->stats->paused_clients, (uint64_t)-1);
        }
        return 0;
    }
    if (!(r->flags & REQ_F_PAUSED)) {
        r->flags |= REQ_F_PAUSED;
        stat_add(&d->stats->paused_clients, 1);
        request_make_barrier(r);
    }
    forward_hold_paused(d->fw, r, end);
    return 1;
}

/* r to the executor its route names. r may be answered, and freed, before this returns. */
static void run(struct dispatch *d, struct request *r, struct route *rt, struct keyspace *ks)
{
    switch (rt->kind) {
    case RT_REFUSE: reject(d, r, rt); return;
    case RT_LOCAL: run_local(d, r); return;
    case RT_TXN: txn_run(d->txn, r); return;
    case RT_ALL_MASTERS:
        note_script(d, r, rt->flags);
        note_functions(r);
        if (rt->flags & RT_F_BLOCKING) make_blocking(d, r); /* WAIT: each part blocks */
        all_masters(d, r);
        return;
    /* Nothing that can be split carries a script or blocks: no note_script, no blocking. */
    case RT_SPLIT: {
        if (pool_unplaced(d, r)) return;
        struct fan_merger m;
        merge_get(rt->merge, d->menv, &m);
        fanout_split_by_slot(d->fc, r, rt->split_step, &m, ks);
        return;
    }
    case RT_COMPUTE:
        if (pool_unplaced(d, r)) return;
        r->pool_gen = view_pool_gen(d->fc->view);
        cross_run(d->cross, r, rt->cross, d->keys, ks);
        return;
    case RT_SLOT:
    case RT_ANY_MASTER:
        if (pool_unplaced(d, r)) return;
        /* A shard channel's server must be the one SSUBSCRIBE chose (entropy 0): with the
         * random distribution, SPUBLISH may not pick one of its own. */
        if (ks->pool && rt->slot >= 0 && d->keys->n > 0 && (r->cmd->cmd->flags & CMD_PUBSUB)) {
            ks->entropy = 0;
            rt->slot = keys_slot(d->keys, r->breq.chunk->data, r->argv, ks);
        }
        note_script(d, r, rt->flags);
        note_running(r);
        if (rt->flags & RT_F_BLOCKING) make_blocking(d, r);
        r->slot = rt->slot;
        r->pool_gen = view_pool_gen(d->fc->view);
        strip_keys(d, r, ks);
        forward_send(d->fw, r);
        return;
    }
}

/* MONITOR: a monitoring client, of this worker or another, gets the line. */
struct mon_feed {
    struct dispatch *d;
};

static void feed_one(uint64_t id, int worker, void *arg)
{
    struct dispatch *d = ((struct mon_feed *)arg)->d;
    d->deliver(d->deliver_up, worker, id, d->mon.buf, d->mon.len);
}

void dispatch_request(struct dispatch *d, struct request *r)
{
    /* What a combining EXEC put behind itself: its collector, or a command of its own. */
    if ((r->flags & (REQ_F_TX_AFTER | REQ_F_TX_COLLECT)) && txn_after_dispatch(d->txn, r)) return;
    /* Never NULL: a held request whose client left is freed before it is routed again. */
    struct client *c = r->client;
    const struct view *v = d->fc->view;
    /* Authenticated, or the default user needs no password now (Redis's authRequired). */
    struct route_client rc = {.authed = (uint8_t)(c->authed || !d->acl->auth_required),
                              .resp = c->resp,
                              .subscribed = (uint8_t)pubsub_subscribed(c),
                              .oneshot = c->oneshot,
                              .cross_compute = (uint8_t)d->cross_compute};
    txn_route_state(c, &rc.tx, &rc.tx_slot);
    struct keyspace ks;
    view_keyspace(v, v->cfg->pool ? next_entropy(d) : 0, &ks);
    struct route rt;
    route_decide(r->breq.chunk->data, r->argv, r->argc, &rc, &ks, d->keys, &rt);
    if (rt.cmd) {
        /* CLIENT LIST's cmd=, counted when the command is known, even if refused. */
        c->last_cmd = (uint16_t)(rt.cmd->id + 1);
        if (!acl_allows(d, r, c, &rt, rc.tx == RT_TX_MULTI)) return;
        r->cmd = rt.cmd;
    }
    if (tracking_on(c)) {
        if (rt.kind != RT_REFUSE)
            tracking_dispatch(d->trk, r, d->keys, rc.tx == RT_TX_MULTI);
        else
            tracking_refused(r, rc.tx == RT_TX_MULTI);
    }
    if (rt.kind != RT_REFUSE && rt.cmd && held_by_pause(d, r)) return;
    /* The line is made now (r may be gone after run) and sent after it, as Redis feeds monitors
     * once a command has run: a RESET leaves monitor mode before its own line. */
    int mon = rt.kind != RT_REFUSE && monitor_active() && monitor_shows(r) &&
              !(r->flags & REQ_F_MONITORED);
    if (mon) {
        char addr[64] = "?";
        sock_peer_name(c->fd, addr, sizeof(addr));
        sbuf_clear(&d->mon);
        monitor_line(&d->mon, r, addr);
        r->flags |= REQ_F_MONITORED;
    }
    run(d, r, &rt, &ks);
    if (mon) {
        struct mon_feed f = {d};
        monitor_each(feed_one, &f);
    }
}

void dispatch_resume(void *ctx, struct request *r)
{
    struct dispatch *d = ctx;
    if (r->flags & REQ_F_ALL_MASTERS)
        all_masters(d, r);
    else
        dispatch_request(d, r);
}
