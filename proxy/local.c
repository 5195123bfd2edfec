/*
 * Commands answered by the proxy itself; see local.h. Texts and validation follow what a Redis
 * 7.0 cluster node answers, checked against a real one. Each handler writes its reply into the
 * context's buffer; local_run sends it. The connection state they change is the client's
 * (client.h); RESET also drops the client's transaction and subscriptions.
 */
#include "local.h"

#include "busy.h"

#include "clock.h"
#include "crc16.h"
#include "errors.h"
#include "mem.h"
#include "monfeed.h"
#include "monitor.h"
#include "pause.h"
#include "pubsub.h"
#include "slowlog.h"
#include "sock.h"
#include "txn.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

static char node_id[41];

void local_init(void)
{
    unsigned char rnd[20];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)((tv.tv_usec >> (i % 8)) ^ (getpid() >> (i % 16)) ^ i * 131);
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        node_id[2 * i] = hex[rnd[i] >> 4];
        node_id[2 * i + 1] = hex[rnd[i] & 15];
    }
    node_id[40] = '\0';
}

const char *local_node_id(void)
{
    return node_id;
}

#define arg_is request_arg_is

void local_ctx_init(struct local_ctx *lc, const struct config *cfg, struct request_pool *rp,
                    struct view *view, struct forward *fw)
{
    memset(lc, 0, sizeof(*lc));
    lc->cfg = cfg;
    lc->rp = rp;
    lc->view = view;
    lc->fw = fw;
    sbuf_init(&lc->out);
}

void local_ctx_deinit(struct local_ctx *lc)
{
    sbuf_free(&lc->out);
}

/* The cluster's redis_version, as the topology thread read it, or a plausible default. */
static const char *cluster_version(const struct local_ctx *lc)
{
    const struct slotmap *m = lc->view->map;
    return m && m->redis_version[0] ? m->redis_version : "7.0.0";
}

/* Redis's rule for client names and library attributes: no spaces or special characters. */
static int valid_name(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < '!' || p[i] > '~') return 0;
    return 1;
}

/* Checks user/password against the ACL users (Redis's ACLAuthenticateUser) and authenticates c
 * as that user. On failure: an "auth" entry in the ACL LOG (the object is the command as the
 * client spelled it), the error in sb, and -1. */
static int check_auth_as(struct local_ctx *lc, struct client *c, const char *object,
                         size_t objlen, const char *user, size_t ulen, const char *pass,
                         size_t plen, struct sbuf *sb)
{
    const struct acl_user *u = acl_users_find(lc->acl->users, user, ulen);
    if (u && !(u->flags & ACL_USER_DISABLED) && acl_user_check_password(u, pass, plen) == 0) {
        c->authed = 1;
        client_set_user(c, u, u->uid == ACL_DEFAULT_UID);
        return 0;
    }
    struct sbuf info;
    sbuf_init(&info);
    lc->describe(lc->up, c, &info);
    if (info.len) info.len--; /* the line's newline */
    uint8_t tx;
    int slot;
    txn_route_state(c, &tx, &slot);
    acl_store_log(ACL_DENIED_AUTH, tx == RT_TX_MULTI ? ACL_LOG_MULTI : ACL_LOG_TOPLEVEL, object,
                  objlen, user, ulen, info.buf ? info.buf : "", info.len,
                  clock_wall_us() / 1000);
    sbuf_free(&info);
    stat_add(&lc->stats->acl_denied_auth, 1);
    errors_wrongpass(sb);
    return -1;
}

static int check_auth(struct local_ctx *lc, struct request *r, const char *user, size_t ulen,
                      const char *pass, size_t plen, struct sbuf *sb)
{
    return check_auth_as(lc, r->client, request_arg(r, 0), r->argv[0].len, user, ulen, pass, plen,
                         sb);
}

int local_auth(struct local_ctx *lc, struct client *c, const char *user, size_t ulen,
               const char *pass, size_t plen, struct sbuf *err)
{
    return check_auth_as(lc, c, "auth", 4, user, ulen, pass, plen, err);
}

static void do_auth(struct local_ctx *lc, struct request *r, struct sbuf *sb)
{
    if (r->argc > 3) {
        errors_syntax(sb);
        return;
    }
    if (r->argc == 2 && (lc->acl->dflt->flags & ACL_USER_NOPASS)) {
        errors_auth_no_password(sb);
        return;
    }
    const char *user = "default";
    size_t ulen = 7;
    uint32_t pi = 1;
    if (r->argc == 3) {
        user = request_arg(r, 1);
        ulen = r->argv[1].len;
        pi = 2;
    }
    if (check_auth(lc, r, user, ulen, request_arg(r, pi), r->argv[pi].len, sb) == 0)
        resp_write_simple(sb, "OK");
}

static void do_hello(struct local_ctx *lc, struct request *r, struct sbuf *sb)
{
    struct client *c = r->client;
    long long ver = 0;
    uint32_t next = 1;
    if (r->argc >= 2) {
        if (!resp_str2ll(request_arg(r, 1), r->argv[1].len, &ver)) {
            errors_hello_proto_not_integer(sb);
            return;
        }
        if (ver < 2 || ver > 3) {
            errors_noproto(sb);
            return;
        }
        next = 2;
    }
    /* Options take effect one by one, in order, as in Redis: an AUTH authenticates at once, a
     * SETNAME names at once (even before the client is authenticated), and the first that fails
     * ends the command with what came before it done. */
    for (uint32_t j = next; j < r->argc; j++) {
        uint32_t more = r->argc - 1 - j;
        if (arg_is(r, j, "auth") && more >= 2) {
            if (check_auth(lc, r, request_arg(r, j + 1), r->argv[j + 1].len, request_arg(r, j + 2),
                           r->argv[j + 2].len, sb) < 0)
                return;
            j += 2;
        } else if (arg_is(r, j, "setname") && more >= 1) {
            if (!valid_name(request_arg(r, j + 1), r->argv[j + 1].len)) {
                errors_bad_client_name(sb);
                return;
            }
            client_set_str(&client_ext_get(c)->name, request_arg(r, j + 1), r->argv[j + 1].len);
            j++;
        } else {
            errors_hello_option(sb, request_arg(r, j), r->argv[j].len);
            return;
        }
    }
    if (!c->authed) {
        errors_hello_noauth(sb);
        return;
    }
    /* The new protocol from this reply on, as Redis switches it (a map in RESP3). A subscribed
     * client's node connections switch with it. */
    if (ver && ver != c->resp) {
        c->resp = (uint8_t)ver;
        request_make_drain(r); /* later requests use the other protocol's connections */
        pubsub_protocol_changed(c);
    }
    const char *v = cluster_version(lc);
    resp_write_map_len(sb, 7, c->resp);
    resp_write_bulk(sb, "server", 6);
    resp_write_bulk(sb, "redis", 5);
    resp_write_bulk(sb, "version", 7);
    resp_write_bulk(sb, v, strlen(v));
    resp_write_bulk(sb, "proto", 5);
    resp_write_int(sb, c->resp);
    resp_write_bulk(sb, "id", 2);
    resp_write_int(sb, (long long)c->id);
    resp_write_bulk(sb, "mode", 4);
    /* In pool mode the proxy stands for standalone servers, and says so, as they would. */
    if (lc->cfg->pool)
        resp_write_bulk(sb, "standalone", 10);
    else
        resp_write_bulk(sb, "cluster", 7);
    resp_write_bulk(sb, "role", 4);
    resp_write_bulk(sb, "master", 6);
    resp_write_bulk(sb, "modules", 7);
    resp_write_array_len(sb, 0);
}

static void do_select(const struct local_ctx *lc, struct request *r, struct sbuf *sb)
{
    long long db;
    if (!resp_str2ll(request_arg(r, 1), r->argv[1].len, &db)) {
        errors_not_integer(sb);
        return;
    }
    if (db < -2147483648LL || db > 2147483647LL) {
        errors_select_range(sb);
        return;
    }
    if (db != 0) {
        if (lc->cfg->pool)
            errors_select_pool(sb);
        else
            errors_select_cluster(sb);
        return;
    }
    resp_write_simple(sb, "OK");
}

static int on_off(struct request *r, uint32_t i, uint8_t *flag, struct sbuf *sb)
{
    if (arg_is(r, i, "on")) {
        *flag = 1;
    } else if (arg_is(r, i, "off")) {
        *flag = 0;
    } else {
        errors_syntax(sb);
        return -1;
    }
    resp_write_simple(sb, "OK");
    return 0;
}

static void do_client(struct local_ctx *lc, struct request *r, struct sbuf *sb)
{
    struct client *c = r->client;
    switch (r->cmd->local_id) {
    case LOCAL_CLIENT_SETNAME:
        if (!valid_name(request_arg(r, 2), r->argv[2].len)) {
            errors_bad_client_name(sb);
            return;
        }
        client_set_str(&client_ext_get(c)->name, request_arg(r, 2), r->argv[2].len);
        resp_write_simple(sb, "OK");
        return;
    case LOCAL_CLIENT_GETNAME:
        if (client_name(c))
            resp_write_bulk(sb, client_name(c), strlen(client_name(c)));
        else
            resp_write_null(sb, c->resp);
        return;
    case LOCAL_CLIENT_ID: resp_write_int(sb, (long long)c->id); return;
    case LOCAL_CLIENT_INFO: {
        struct sbuf line;
        sbuf_init(&line);
        lc->describe(lc->up, c, &line);
        resp_write_verbatim(sb, "txt", line.buf ? line.buf : "", line.len, c->resp);
        sbuf_free(&line);
        return;
    }
    case LOCAL_CLIENT_SETINFO: {
        int lib_name = arg_is(r, 2, "lib-name");
        if (!lib_name && !arg_is(r, 2, "lib-ver")) {
            errors_unrecognized_option(sb, request_arg(r, 2), r->argv[2].len);
            return;
        }
        if (!valid_name(request_arg(r, 3), r->argv[3].len)) {
            errors_bad_lib_attr(sb, lib_name ? "lib-name" : "lib-ver");
            return;
        }
        struct client_ext *x = client_ext_get(c);
        client_set_str(lib_name ? &x->lib_name : &x->lib_ver, request_arg(r, 3), r->argv[3].len);
        resp_write_simple(sb, "OK");
        return;
    }
    case LOCAL_CLIENT_NO_EVICT: on_off(r, 2, &c->no_evict, sb); return;
    case LOCAL_CLIENT_NO_TOUCH: on_off(r, 2, &c->no_touch, sb); return;
    case LOCAL_CLIENT_REPLY:
        if (arg_is(r, 2, "on")) {
            c->reply_mode = CLIENT_REPLY_ON;
            r->flags &= ~REQ_F_NO_REPLY; /* it was read while replies were off: it answers */
            resp_write_simple(sb, "OK");
        } else if (arg_is(r, 2, "off")) {
            c->reply_mode = CLIENT_REPLY_OFF;
            r->flags |= REQ_F_NO_REPLY;
            resp_write_simple(sb, "OK");
        } else if (arg_is(r, 2, "skip")) {
            if (c->reply_mode != CLIENT_REPLY_OFF) c->reply_mode = CLIENT_REPLY_SKIP_NEXT;
            r->flags |= REQ_F_NO_REPLY;
            resp_write_simple(sb, "OK");
        } else {
            errors_syntax(sb);
        }
        return;
    default: break;
    }
}

/* The proxy's own address for the CLUSTER commands: -announce-addr when given, else the address
 * this client reached the proxy at (never a wildcard: it is the socket's own end). */
static void my_addr(const struct local_ctx *lc, struct request *r, char *ip, size_t iplen,
                    int *port)
{
    if (lc->cfg->announce_addr && sock_split_addr(lc->cfg->announce_addr, ip, iplen, port) == 0)
        return;
    snprintf(ip, iplen, "127.0.0.1");
    *port = 0;
    if (r->client && r->client->fd >= 0) sock_local_addr(r->client->fd, ip, iplen, port);
}

static void do_cluster(struct local_ctx *lc, struct request *r, struct sbuf *sb)
{
    char ip[SOCK_HOST_MAX];
    int port;
    const struct slotmap *map = lc->view->map;
    int resp = r->client->resp;
    switch (r->cmd->local_id) {
    case LOCAL_CLUSTER_INFO: {
        int ok = map && map->covered == CRC16_SLOTS;
        int slots = map ? map->covered : 0;
        struct sbuf t;
        sbuf_init(&t);
        sbuf_printf(&t,
                    "cluster_state:%s\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"
                    "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n"
                    "cluster_size:1\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"
                    "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
                    "total_cluster_links_buffer_limit_exceeded:0\r\n",
                    ok ? "ok" : "fail", slots, slots);
        resp_write_verbatim(sb, "txt", t.buf, t.len, resp);
        sbuf_free(&t);
        return;
    }
    case LOCAL_CLUSTER_MYID: resp_write_bulk(sb, node_id, 40); return;
    case LOCAL_CLUSTER_SLOTS:
        my_addr(lc, r, ip, sizeof(ip), &port);
        resp_write_array_len(sb, 1);
        resp_write_array_len(sb, 3);
        resp_write_int(sb, 0);
        resp_write_int(sb, CRC16_SLOTS - 1);
        resp_write_array_len(sb, 4);
        resp_write_bulk(sb, ip, strlen(ip));
        resp_write_int(sb, port);
        resp_write_bulk(sb, node_id, 40);
        resp_write_array_len(sb, 0);
        return;
    case LOCAL_CLUSTER_SHARDS: /* a map per shard and per node, as Redis writes them */
        my_addr(lc, r, ip, sizeof(ip), &port);
        resp_write_array_len(sb, 1);
        resp_write_map_len(sb, 2, resp);
        resp_write_bulk(sb, "slots", 5);
        resp_write_array_len(sb, 2);
        resp_write_int(sb, 0);
        resp_write_int(sb, CRC16_SLOTS - 1);
        resp_write_bulk(sb, "nodes", 5);
        resp_write_array_len(sb, 1);
        /* With a TLS port, both ports as a node with tls-cluster lists them: "port" the plain
         * one (left out when it is off), "tls-port" the TLS one, whichever this client used. */
        int plain = port, tls = 0;
        if (lc->cfg->tls_port && !lc->cfg->announce_addr) {
            plain = port == lc->cfg->tls_port ? lc->cfg->listen_port : port;
            tls = lc->cfg->tls_port;
        }
        int with_plain = !tls || plain != 0;
        resp_write_map_len(sb, 6 + with_plain + (tls != 0), resp);
        resp_write_bulk(sb, "id", 2);
        resp_write_bulk(sb, node_id, 40);
        if (with_plain) {
            resp_write_bulk(sb, "port", 4);
            resp_write_int(sb, plain);
        }
        if (tls) {
            resp_write_bulk(sb, "tls-port", 8);
            resp_write_int(sb, tls);
        }
        resp_write_bulk(sb, "ip", 2);
        resp_write_bulk(sb, ip, strlen(ip));
        resp_write_bulk(sb, "endpoint", 8);
        resp_write_bulk(sb, ip, strlen(ip));
        resp_write_bulk(sb, "role", 4);
        resp_write_bulk(sb, "master", 6);
        resp_write_bulk(sb, "replication-offset", 18);
        resp_write_int(sb, 0);
        resp_write_bulk(sb, "health", 6);
        resp_write_bulk(sb, "online", 6);
        return;
    case LOCAL_CLUSTER_NODES: {
        my_addr(lc, r, ip, sizeof(ip), &port);
        struct sbuf t;
        sbuf_init(&t);
        if (strchr(ip, ':'))
            sbuf_printf(&t, "%s [%s]:%d@0 myself,master - 0 0 1 connected 0-16383\n", node_id, ip,
                        port);
        else
            sbuf_printf(&t, "%s %s:%d@0 myself,master - 0 0 1 connected 0-16383\n", node_id, ip,
                        port);
        resp_write_verbatim(sb, "txt", t.buf, t.len, resp);
        sbuf_free(&t);
        return;
    }
    case LOCAL_CLUSTER_KEYSLOT:
        resp_write_int(sb, crc16_key_slot(request_arg(r, 2), r->argv[2].len));
        return;
    default: break;
    }
}

/* CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT: validated here as the node would, then sent to the
 * master of that slot. Returns 1 when r was sent. */
static int cluster_slot_routed(struct local_ctx *lc, struct request *r, struct sbuf *sb)
{
    long long slot, count = 0;
    if (!resp_str2ll(request_arg(r, 2), r->argv[2].len, &slot) ||
        (r->argc > 3 && !resp_str2ll(request_arg(r, 3), r->argv[3].len, &count))) {
        errors_not_integer(sb);
        return 0;
    }
    if (slot < 0 || slot >= CRC16_SLOTS || count < 0) {
        errors_invalid_slot(sb, r->argc > 3);
        return 0;
    }
    r->slot = (int)slot;
    forward_send(lc->fw, r);
    return 1;
}

/* RESET: the connection as new, as Redis leaves it (subscriptions and any transaction dropped
 * silently; authentication too when a password is required). */
static void do_reset(struct local_ctx *lc, struct client *c)
{
    pubsub_free(c);
    txn_reset(c);
    tracking_client_free(c);
    if (c->monitor) monitor_del(c->id);
    c->monitor = 0;
    client_clear_names(c);
    c->resp = 2;
    c->reply_mode = CLIENT_REPLY_ON;
    c->readonly = 0;
    c->pin_master = 0;
    c->no_touch = 0; /* NO-EVICT stays: Redis 7.0's RESET keeps it */
    /* Back to the default user, authenticated only if it needs no password (Redis's
     * clientSetDefaultAuth). */
    client_set_user(c, NULL, 1);
    c->authed = !lc->acl->auth_required;
    c->acl_changed = 0;
}

/* CLIENT PAUSE timeout [WRITE|ALL], Redis's checks in Redis's order. */
static void do_pause(struct request *r, struct sbuf *sb)
{
    enum pause_mode mode = PAUSE_ALL;
    if (r->argc > 4) { /* Redis 7.0 matches PAUSE with 3 or 4 arguments only */
        errors_subcommand_syntax(sb, request_arg(r, 0), r->argv[0].len, request_arg(r, 1),
                                 r->argv[1].len);
        return;
    }
    if (r->argc == 4) {
        if (arg_is(r, 3, "write")) {
            mode = PAUSE_WRITE;
        } else if (!arg_is(r, 3, "all")) {
            errors_pause_mode(sb);
            return;
        }
    }
    long long ms;
    if (!resp_str2ll(request_arg(r, 2), r->argv[2].len, &ms)) {
        errors_timeout_not_integer(sb);
        return;
    }
    if (ms < 0) {
        errors_timeout_negative(sb);
        return;
    }
    /* Redis 7.0.15 adds the Unix time in ms to the timeout in a signed 64-bit integer: past
     * LLONG_MAX the sum wraps to a negative end, already passed, and the command pauses nothing
     * (it still answers +OK, and a pause in force goes on). A timeout of 0 ends at once too. */
    uint64_t now = clock_now_ms(), wall = clock_wall_us() / 1000;
    uint64_t end = (uint64_t)ms > (uint64_t)LLONG_MAX - wall ? 0 : now + (uint64_t)ms;
    pause_start(now, end, mode);
    resp_write_simple(sb, "OK");
}

static void do_ping(struct request *r, struct sbuf *sb)
{
    int function;
    if (r->argc > 2) {
        errors_wrong_arity(sb, "ping");
    } else if (busy_now(clock_now_ms(), &function)) {
        /* A node runs a script past busy-reply-threshold: as one Redis server would say. */
        errors_busy_script(sb, function);
        r->flags |= REQ_F_REJECTED;
    } else if (pubsub_subscribed(r->client) && r->client->resp == 2) {
        /* In subscribed mode PING answers an array, as Redis does over RESP2. */
        resp_write_array_len(sb, 2);
        resp_write_bulk(sb, "pong", 4);
        resp_write_bulk(sb, r->argc == 2 ? request_arg(r, 1) : "", r->argc == 2 ? r->argv[1].len : 0);
    } else if (r->argc == 2) {
        resp_write_bulk(sb, request_arg(r, 1), r->argv[1].len);
    } else {
        resp_write_simple(sb, "PONG");
    }
}

void local_run(struct local_ctx *lc, struct request *r)
{
    struct sbuf *sb = &lc->out;
    sbuf_clear(sb);
    struct client *c = r->client;
    switch (r->cmd->local_id) {
    case LOCAL_PING: do_ping(r, sb); break;
    case LOCAL_ECHO: resp_write_bulk(sb, request_arg(r, 1), r->argv[1].len); break;
    case LOCAL_QUIT:
        resp_write_simple(sb, "OK");
        c->close_after = 1;
        break;
    case LOCAL_TIME: {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        char a[24], b[24];
        int na = resp_ll2str(a, (long long)tv.tv_sec), nb = resp_ll2str(b, (long long)tv.tv_usec);
        resp_write_array_len(sb, 2);
        resp_write_bulk(sb, a, (size_t)na);
        resp_write_bulk(sb, b, (size_t)nb);
        break;
    }
    case LOCAL_AUTH: do_auth(lc, r, sb); break;
    case LOCAL_HELLO: do_hello(lc, r, sb); break;
    case LOCAL_SELECT: do_select(lc, r, sb); break;
    case LOCAL_RESET:
        if (c->resp != 2) request_make_drain(r); /* back to RESP2's connections */
        do_reset(lc, c);
        r->flags &= ~REQ_F_NO_REPLY; /* RESET turns replies back on, its own included */
        resp_write_simple(sb, "RESET");
        break;
    case LOCAL_READONLY:
    case LOCAL_READWRITE:
        c->readonly = r->cmd->local_id == LOCAL_READONLY;
        c->pin_master = r->cmd->local_id == LOCAL_READWRITE;
        resp_write_simple(sb, "OK");
        break;
    case LOCAL_ROLE: /* the proxy is a master without replicas, as its CLUSTER view says */
        resp_write_array_len(sb, 3);
        resp_write_bulk(sb, "master", 6);
        resp_write_int(sb, 0);
        resp_write_array_len(sb, 0);
        break;
    case LOCAL_SLOWLOG: slowlog_command(r, c->resp, sb); break;
    case LOCAL_CLIENT_PAUSE: do_pause(r, sb); break;
    case LOCAL_MONITOR:
        /* Queued in a transaction: Redis refuses it when EXEC runs it. */
        if (r->flags & REQ_F_TX_AFTER) {
            errors_monitor_in_multi(sb);
            break;
        }
        c->monitor = 1;
        monitor_add(c->id, lc->worker);
        if (lc->monfeed) {
            monfeed_monitor(lc->monfeed, r); /* +OK once the nodes' streams are on */
            return;
        }
        resp_write_simple(sb, "OK");
        break;
    case LOCAL_CLIENT_UNPAUSE:
        pause_stop();
        resp_write_simple(sb, "OK");
        break;
    case LOCAL_CLIENT_LIST:
    case LOCAL_CLIENT_KILL: lc->client_list(lc->up, r); return;
    case LOCAL_CLUSTER_SLOT_ROUTED:
        if (cluster_slot_routed(lc, r, sb)) return;
        r->flags |= REQ_F_REJECTED;
        break;
    default:
        if (r->cmd->local_id >= LOCAL_CLIENT_SETNAME && r->cmd->local_id <= LOCAL_CLIENT_REPLY)
            do_client(lc, r, sb);
        else if (r->cmd->local_id >= LOCAL_CLIENT_TRACKING &&
                 r->cmd->local_id <= LOCAL_CLIENT_TRACKINGINFO)
            tracking_command(lc->trk, r, sb);
        else if (r->cmd->local_id >= LOCAL_CLUSTER_INFO &&
                 r->cmd->local_id <= LOCAL_CLUSTER_KEYSLOT)
            do_cluster(lc, r, sb);
        else
            errors_no_handler(sb, r->cmd->cmd->name);
        break;
    }
    request_reply_bytes(lc->rp, r, sb->buf, sb->len);
}
