/*
 * Commands answered by the proxy itself; see local.h. Texts and validation follow what a Redis
 * 7.0 cluster node answers, checked against a real one.
 */
#include "local.h"

#include "config.h"
#include "crc16.h"
#include "dispatch.h"
#include "errors.h"
#include "info.h"
#include "mem.h"
#include "pubsub.h"
#include "request.h"
#include "resp_write.h"
#include "scan.h"
#include "session.h"
#include "sock.h"
#include "worker.h"

#include <fcntl.h>
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

static int arg_is(const struct request *r, uint32_t i, const char *word)
{
    size_t l = strlen(word);
    return r->argv[i].len == l && strncasecmp(request_arg(r, i), word, l) == 0;
}

/* The cluster's redis_version, as the topology thread read it, or a plausible default. */
static const char *cluster_version(struct worker *w)
{
    return w->map && w->map->redis_version[0] ? w->map->redis_version : "7.0.0";
}

/* Redis's rule for client names and library attributes: no spaces or special characters. */
static int valid_name(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < '!' || p[i] > '~') return 0;
    return 1;
}

static void set_str(char **dst, const char *p, size_t len)
{
    px_free(*dst);
    *dst = len ? px_strndup(p, len) : NULL;
}

/* Checks user/password against -requirepass and authenticates s. Writes the error into sb and
 * returns -1 on failure. */
static int check_auth(struct worker *w, struct session *s, const char *user, size_t ulen,
                      const char *pass, size_t plen, struct sbuf *sb)
{
    const char *want = w->cfg->requirepass;
    int user_ok = ulen == 7 && memcmp(user, "default", 7) == 0;
    int ok;
    if (!want) {
        ok = user_ok; /* the default user needs no password: any will do */
    } else {
        size_t wl = strlen(want);
        unsigned diff = (unsigned)(wl ^ plen);
        for (size_t i = 0; i < plen; i++)
            diff |= (unsigned char)(pass[i] ^ want[i % (wl ? wl : 1)]);
        ok = user_ok && diff == 0;
    }
    if (!ok) {
        sbuf_puts(sb, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        return -1;
    }
    if (s) s->authed = 1;
    return 0;
}

static void do_auth(struct worker *w, struct request *r, struct sbuf *sb)
{
    struct session *s = r->sess;
    if (r->argc > 3) {
        resp_write_errorf(sb, "ERR syntax error");
        return;
    }
    if (r->argc == 2 && !w->cfg->requirepass) {
        resp_write_errorf(sb, "ERR AUTH <password> called without any password configured for "
                              "the default user. Are you sure your configuration is correct?");
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
    if (check_auth(w, s, user, ulen, request_arg(r, pi), r->argv[pi].len, sb) == 0)
        resp_write_simple(sb, "OK");
}

static void do_hello(struct worker *w, struct request *r, struct sbuf *sb)
{
    struct session *s = r->sess;
    long long ver = 0;
    uint32_t next = 1;
    if (r->argc >= 2) {
        if (!resp_str2ll(request_arg(r, 1), r->argv[1].len, &ver)) {
            resp_write_errorf(sb, "ERR Protocol version is not an integer or out of range");
            return;
        }
        /* RESP3 is not offered (yet): clients fall back to RESP2 on this answer. */
        if (ver < 2 || ver > 2) {
            sbuf_puts(sb, "-NOPROTO unsupported protocol version\r\n");
            return;
        }
        next = 2;
    }
    int auth = -1, name = -1;
    for (uint32_t j = next; j < r->argc; j++) {
        uint32_t more = r->argc - 1 - j;
        if (arg_is(r, j, "auth") && more >= 2) {
            auth = (int)j + 1;
            j += 2;
        } else if (arg_is(r, j, "setname") && more >= 1) {
            name = (int)j + 1;
            j++;
        } else {
            resp_write_errorf(sb, "ERR Syntax error in HELLO option '%.*s'", (int)r->argv[j].len,
                              request_arg(r, j));
            return;
        }
    }
    if (auth >= 0 && check_auth(w, s, request_arg(r, (uint32_t)auth), r->argv[auth].len,
                                request_arg(r, (uint32_t)auth + 1), r->argv[auth + 1].len, sb) < 0)
        return;
    if (s && !s->authed) {
        sbuf_puts(sb, "-NOAUTH HELLO must be called with the client already authenticated, "
                      "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                      "authenticate the client and select the RESP protocol version at the same "
                      "time\r\n");
        return;
    }
    if (name >= 0) {
        if (!valid_name(request_arg(r, (uint32_t)name), r->argv[name].len)) {
            resp_write_errorf(sb, "ERR Client names cannot contain spaces, newlines or special "
                                  "characters.");
            return;
        }
        if (s)
            set_str(&session_meta_get(s)->name, request_arg(r, (uint32_t)name), r->argv[name].len);
    }
    const char *v = cluster_version(w);
    resp_write_array_len(sb, 14);
    resp_write_bulk(sb, "server", 6);
    resp_write_bulk(sb, "redis", 5);
    resp_write_bulk(sb, "version", 7);
    resp_write_bulk(sb, v, strlen(v));
    resp_write_bulk(sb, "proto", 5);
    resp_write_int(sb, s ? s->resp : 2);
    resp_write_bulk(sb, "id", 2);
    resp_write_int(sb, s ? (long long)s->id : 0);
    resp_write_bulk(sb, "mode", 4);
    resp_write_bulk(sb, "cluster", 7);
    resp_write_bulk(sb, "role", 4);
    resp_write_bulk(sb, "master", 6);
    resp_write_bulk(sb, "modules", 7);
    resp_write_array_len(sb, 0);
}

static void do_select(struct request *r, struct sbuf *sb)
{
    long long db;
    if (!resp_str2ll(request_arg(r, 1), r->argv[1].len, &db)) {
        resp_write_errorf(sb, "ERR value is not an integer or out of range");
        return;
    }
    if (db < -2147483648LL || db > 2147483647LL) {
        resp_write_errorf(sb, "ERR value is out of range, value must between -2147483648 and "
                              "2147483647");
        return;
    }
    if (db != 0) {
        resp_write_errorf(sb, "ERR SELECT is not allowed in cluster mode");
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
        resp_write_errorf(sb, "ERR syntax error");
        return -1;
    }
    resp_write_simple(sb, "OK");
    return 0;
}

static void do_client(struct worker *w, struct request *r, struct sbuf *sb)
{
    struct session *s = r->sess;
    uint8_t dummy = 0;
    switch (r->cmd->local_id) {
    case LOCAL_CLIENT_SETNAME:
        if (!valid_name(request_arg(r, 2), r->argv[2].len)) {
            resp_write_errorf(sb, "ERR Client names cannot contain spaces, newlines or special "
                                  "characters.");
            return;
        }
        if (s) set_str(&session_meta_get(s)->name, request_arg(r, 2), r->argv[2].len);
        resp_write_simple(sb, "OK");
        return;
    case LOCAL_CLIENT_GETNAME:
        if (s && session_name(s))
            resp_write_bulk(sb, session_name(s), strlen(session_name(s)));
        else
            resp_write_null_bulk(sb);
        return;
    case LOCAL_CLIENT_ID: resp_write_int(sb, s ? (long long)s->id : 0); return;
    case LOCAL_CLIENT_INFO: {
        struct sbuf line;
        sbuf_init(&line);
        if (s) session_describe(s, &line);
        resp_write_bulk(sb, line.buf ? line.buf : "", line.len);
        sbuf_free(&line);
        return;
    }
    case LOCAL_CLIENT_SETINFO: {
        int lib_name = arg_is(r, 2, "lib-name");
        if (!lib_name && !arg_is(r, 2, "lib-ver")) {
            resp_write_errorf(sb, "ERR Unrecognized option '%.*s'", (int)r->argv[2].len,
                              request_arg(r, 2));
            return;
        }
        if (!valid_name(request_arg(r, 3), r->argv[3].len)) {
            resp_write_errorf(sb, "ERR %s cannot contain spaces, newlines or special characters.",
                              lib_name ? "lib-name" : "lib-ver");
            return;
        }
        if (s) {
            struct session_meta *m = session_meta_get(s);
            set_str(lib_name ? &m->lib_name : &m->lib_ver, request_arg(r, 3), r->argv[3].len);
        }
        resp_write_simple(sb, "OK");
        return;
    }
    case LOCAL_CLIENT_NO_EVICT: on_off(r, 2, s ? &s->no_evict : &dummy, sb); return;
    case LOCAL_CLIENT_NO_TOUCH: on_off(r, 2, s ? &s->no_touch : &dummy, sb); return;
    case LOCAL_CLIENT_REPLY:
        if (arg_is(r, 2, "on")) {
            if (s) s->reply_mode = REPLY_ON;
            r->flags &= ~REQ_F_NO_REPLY; /* it was read while replies were off: it answers */
            resp_write_simple(sb, "OK");
        } else if (arg_is(r, 2, "off")) {
            if (s) s->reply_mode = REPLY_OFF;
            r->flags |= REQ_F_NO_REPLY;
            resp_write_simple(sb, "OK");
        } else if (arg_is(r, 2, "skip")) {
            if (s && s->reply_mode != REPLY_OFF) s->reply_mode = REPLY_SKIP_NEXT;
            r->flags |= REQ_F_NO_REPLY;
            resp_write_simple(sb, "OK");
        } else {
            resp_write_errorf(sb, "ERR syntax error");
        }
        return;
    default: break;
    }
}

/* The proxy's own address as this client reached it. */
static void my_addr(struct request *r, char *ip, size_t iplen, int *port)
{
    snprintf(ip, iplen, "127.0.0.1");
    *port = 0;
    if (r->sess) sock_local_addr(r->sess->fd, ip, iplen, port);
}

static void do_cluster(struct worker *w, struct request *r, struct sbuf *sb)
{
    char ip[SOCK_HOST_MAX];
    int port;
    switch (r->cmd->local_id) {
    case LOCAL_CLUSTER_INFO: {
        int ok = w->map && w->map->covered == CRC16_SLOTS;
        int slots = w->map ? w->map->covered : 0;
        struct sbuf t;
        sbuf_init(&t);
        sbuf_printf(&t,
                    "cluster_state:%s\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"
                    "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n"
                    "cluster_size:1\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"
                    "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
                    "total_cluster_links_buffer_limit_exceeded:0\r\n",
                    ok ? "ok" : "fail", slots, slots);
        resp_write_bulk(sb, t.buf, t.len);
        sbuf_free(&t);
        return;
    }
    case LOCAL_CLUSTER_MYID: resp_write_bulk(sb, node_id, 40); return;
    case LOCAL_CLUSTER_SLOTS:
        my_addr(r, ip, sizeof(ip), &port);
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
    case LOCAL_CLUSTER_SHARDS:
        my_addr(r, ip, sizeof(ip), &port);
        resp_write_array_len(sb, 1);
        resp_write_array_len(sb, 4);
        resp_write_bulk(sb, "slots", 5);
        resp_write_array_len(sb, 2);
        resp_write_int(sb, 0);
        resp_write_int(sb, CRC16_SLOTS - 1);
        resp_write_bulk(sb, "nodes", 5);
        resp_write_array_len(sb, 1);
        resp_write_array_len(sb, 14);
        resp_write_bulk(sb, "id", 2);
        resp_write_bulk(sb, node_id, 40);
        resp_write_bulk(sb, "port", 4);
        resp_write_int(sb, port);
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
        my_addr(r, ip, sizeof(ip), &port);
        struct sbuf t;
        sbuf_init(&t);
        if (strchr(ip, ':'))
            sbuf_printf(&t, "%s [%s]:%d@0 myself,master - 0 0 1 connected 0-16383\n", node_id, ip,
                        port);
        else
            sbuf_printf(&t, "%s %s:%d@0 myself,master - 0 0 1 connected 0-16383\n", node_id, ip,
                        port);
        resp_write_bulk(sb, t.buf, t.len);
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
static int cluster_slot_routed(struct worker *w, struct request *r, struct sbuf *sb)
{
    long long slot, count = 0;
    if (!resp_str2ll(request_arg(r, 2), r->argv[2].len, &slot) ||
        (r->argc > 3 && !resp_str2ll(request_arg(r, 3), r->argv[3].len, &count))) {
        resp_write_errorf(sb, "ERR value is not an integer or out of range");
        return 0;
    }
    if (slot < 0 || slot >= CRC16_SLOTS || count < 0) {
        resp_write_errorf(sb,
                          r->argc > 3 ? "ERR Invalid slot or number of keys" : "ERR Invalid slot");
        return 0;
    }
    r->slot = (int)slot;
    dispatch_send(w, r);
    return 1;
}

void local_handle(struct worker *w, struct request *r)
{
    struct sbuf *sb = &w->scratch;
    sbuf_clear(sb);
    struct session *s = r->sess;
    switch (r->cmd->local_id) {
    case LOCAL_PING:
        if (r->argc == 1)
            resp_write_simple(sb, "PONG");
        else if (r->argc == 2)
            resp_write_bulk(sb, request_arg(r, 1), r->argv[1].len);
        else
            resp_write_errorf(sb, "ERR wrong number of arguments for 'ping' command");
        break;
    case LOCAL_ECHO: resp_write_bulk(sb, request_arg(r, 1), r->argv[1].len); break;
    case LOCAL_QUIT:
        resp_write_simple(sb, "OK");
        if (s) s->flags |= SESS_CLOSE_AFTER;
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
    case LOCAL_AUTH: do_auth(w, r, sb); break;
    case LOCAL_HELLO: do_hello(w, r, sb); break;
    case LOCAL_SELECT: do_select(r, sb); break;
    case LOCAL_RESET:
        if (s) session_reset_state(s);
        r->flags &= ~REQ_F_NO_REPLY; /* RESET turns replies back on, its own included */
        resp_write_simple(sb, "RESET");
        break;
    case LOCAL_READONLY:
    case LOCAL_READWRITE:
        if (s) {
            s->readonly = r->cmd->local_id == LOCAL_READONLY;
            s->pin_master = r->cmd->local_id == LOCAL_READWRITE;
        }
        resp_write_simple(sb, "OK");
        break;
    case LOCAL_ROLE: /* the proxy is a master without replicas, as its CLUSTER view says */
        resp_write_array_len(sb, 3);
        resp_write_bulk(sb, "master", 6);
        resp_write_int(sb, 0);
        resp_write_array_len(sb, 0);
        break;
    case LOCAL_ACL_WHOAMI: resp_write_bulk(sb, "default", 7); break;
    case LOCAL_CLIENT_LIST: worker_client_list(w, r); return;
    case LOCAL_INFO: info_dispatch(w, r); return;
    case LOCAL_SUBSCRIBE:
    case LOCAL_PSUBSCRIBE:
    case LOCAL_SSUBSCRIBE:
    case LOCAL_UNSUBSCRIBE:
    case LOCAL_PUNSUBSCRIBE:
    case LOCAL_SUNSUBSCRIBE: pubsub_command(w, r); return;
    case LOCAL_SCAN: scan_dispatch(w, r); return;
    case LOCAL_CLUSTER_SLOT_ROUTED:
        if (cluster_slot_routed(w, r, sb)) return;
        r->flags |= REQ_F_REJECTED;
        break;
    default:
        if (r->cmd->local_id >= LOCAL_CLIENT_SETNAME && r->cmd->local_id <= LOCAL_CLIENT_REPLY)
            do_client(w, r, sb);
        else if (r->cmd->local_id >= LOCAL_CLUSTER_INFO &&
                 r->cmd->local_id <= LOCAL_CLUSTER_KEYSLOT)
            do_cluster(w, r, sb);
        else
            resp_write_errorf(sb, "ERR internal error: no handler for '%s'", r->cmd->cmd->name);
        break;
    }
    request_reply_bytes(w, r, sb->buf, sb->len);
}
