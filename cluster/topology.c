/*
 * The topology thread; see topology.h. It talks to the cluster over blocking connections
 * (nodeconn.c: hiredis parses the replies; plain TCP, or TLS with -tls-cluster), every step
 * bounded by the connect timeout, and wakes on an eventfd (refresh requests, stop) or when the
 * next periodic refresh is due.
 *
 * A refresh asks candidate nodes in turn for CLUSTER SHARDS (or SLOTS), turns the answer into a
 * slot map (slots_reply.c), stamps each node with its config epoch from CLUSTER NODES, and, when
 * replica reads are on, probes every replica's health. A view older than the map in use is
 * refused (a node that has not heard of a failover yet), and a changed map is published: stored
 * as current under the mutex, then handed to the callback, which gives every worker a reference
 * through its inbox. Workers reach this thread only through topology_request_refresh() (after a
 * MOVED or a lost connection, say); INFO and the debug port read its stats, the debug port its
 * current map. Everything else belongs to the thread, such as the one cached connection to the
 * node that answered last.
 */
#include "topology.h"

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "nodeconn.h"
#include "px_errors.h"
#include "slots_reply.h"
#include "sock.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define TOPO_REPROBE_MS    250 /* replicas not usable yet are looked at again this soon */
#define TOPO_FAST_REPROBES 40  /* ... this many times in a row at the most */
#define TOPO_KNOWN_MAX     256
#define TOPO_RETRY_MIN_MS  100 /* first retry while no map has been fetched yet */
#define TOPO_RETRY_MAX_MS  1000
#define TOPO_STALE_ACCEPT  3 /* refreshes in a row where every view was older: accept it anyway */
#define TOPO_SUSPECTS_MAX  64 /* nodes suspected at once; reports beyond are ignored */

/* TOPO_KNOWN_MAX bounds the addresses remembered from past maps (the oldest goes first): they are
 * the last resort when neither the current map's nodes nor the startup nodes answer. */

/* A node to ask: a name or a numeric address, as given or as announced, and a port. */
struct topo_addr {
    char host[SOCK_HOST_MAX];
    int port;
};

/* A cached connection to a replica, for the health probes of replica reads. */
struct topo_probe {
    char ip[SLOTMAP_IP_MAX];
    int port;
    struct nodeconn *c;
    int seen; /* still in the map */
};

/* A node a worker reported stalled (under the lock). */
struct topo_suspect {
    char addr[SLOTMAP_ADDR_MAX];
    uint64_t woke_ms;   /* the latest time a worker saw it answer again; 0 while it has not */
    uint64_t report_ms; /* the latest report */
    int announced;      /* workers were told to hold it (TOPO_V_SUSPECT) */
};

struct topology {
    struct topology_config cfg;
    topology_verdict_cb *verdict;
    void *verdict_ctx;
    char **startup;
    char *user, *password;
    topology_publish_cb *publish;
    void *ctx;

    pthread_t thread;
    int started;
    int efd;
    /* Written by other threads: stop by topology_stop, want_refresh by topology_request_refresh. */
    atomic_int stop;
    atomic_int want_refresh;
    atomic_int want_reload; /* pool mode: read the servers file again (SIGHUP) */

    pthread_mutex_t lock; /* guards current, published and the stats below */
    pthread_cond_t ready;
    struct slotmap *current;
    int published; /* a map has been handed to the workers (topology_wait_ready) */
    struct topology_stats stats;
    struct topo_suspect sus[TOPO_SUSPECTS_MAX];
    int nsus;
    atomic_int sus_news; /* a report came: look at the suspects now */

    /* Topology thread only. */
    struct nodeconn *conn;
    char conn_host[SOCK_HOST_MAX];
    int conn_port;
    struct topo_addr known[TOPO_KNOWN_MAX];
    int nknown;
    uint64_t version;
    struct log_ratelimit rl, rl_stale;
    int stale_rounds; /* refreshes in a row where every view that came back was older */
    char redis_version[32];
    struct topo_probe *probes; /* cached connections to replicas (replica health) */
    int nprobes;
    /* Replicas that answered but were not usable yet (their link to the master still coming up,
     * as right after a cluster starts): the topology is fetched again soon, a bounded number of
     * times, rather than after a whole reload interval, so they serve reads as soon as they can. */
    int replicas_pending;
    int fast_reprobes;
    /* The suspects of the current round: never asked for the topology (a frozen node would hold
     * the thread, a woken one would describe its own past). */
    char (*avoid)[SLOTMAP_ADDR_MAX];
    int navoid;
    struct pool *pool; /* pool mode; NULL for a cluster */
};

/* Copies the strings cfg points to, so the caller's need not outlive the topology. The startup
 * addresses are only split here, to refuse a bad one early; names are resolved at each connect. */
struct topology *topology_create(const struct topology_config *cfg, topology_publish_cb *cb,
                                 void *ctx, char *err, size_t errlen)
{
    struct topology *t = px_calloc(1, sizeof(*t));
    t->cfg = *cfg;
    t->cfg.pool = NULL; /* the pool object below is the copy */
    if (cfg->pool) {
        char msg[512];
        if (pool_create(cfg->pool, &t->pool, msg, sizeof(msg)) != 0) {
            if (err) snprintf(err, errlen, "%s", msg);
            px_free(t);
            return NULL;
        }
    }
    t->startup = px_calloc((size_t)cfg->nstartup + 1, sizeof(char *));
    for (int i = 0; i < cfg->nstartup; i++) {
        char host[SOCK_HOST_MAX];
        int port;
        if (sock_split_addr(cfg->startup[i], host, sizeof(host), &port) < 0 || !host[0]) {
            for (int j = 0; j < i; j++) px_free(t->startup[j]);
            px_free(t->startup);
            pool_free(t->pool);
            px_free(t);
            if (err) snprintf(err, errlen, "invalid -startup-nodes");
            return NULL;
        }
        t->startup[i] = px_strdup(cfg->startup[i]);
    }
    t->cfg.startup = (const char *const *)t->startup;
    if (t->cfg.suspect_poll_ms == 0) t->cfg.suspect_poll_ms = 50;
    if (t->cfg.suspect_expire_ms == 0) t->cfg.suspect_expire_ms = 1000;
    t->user = cfg->user ? px_strdup(cfg->user) : NULL;
    t->password = cfg->password ? px_strdup(cfg->password) : NULL;
    t->cfg.user = t->user;
    t->cfg.password = t->password;
    t->publish = cb;
    t->ctx = ctx;
    t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->ready, NULL);
    return t;
}

/* Forgets the cached connection: the next fetch connects afresh, maybe to another node. */
static void topo_drop_conn(struct topology *t)
{
    nodeconn_free(t->conn);
    t->conn = NULL;
    t->conn_host[0] = '\0';
}

/* Remembers a node of a published map; when the list is full, the oldest is forgotten. */
static void topo_remember(struct topology *t, const char *host, int port)
{
    for (int i = 0; i < t->nknown; i++)
        if (t->known[i].port == port && strcmp(t->known[i].host, host) == 0) return;
    if (t->nknown == TOPO_KNOWN_MAX) {
        memmove(&t->known[0], &t->known[1], (TOPO_KNOWN_MAX - 1) * sizeof(t->known[0]));
        t->nknown--;
    }
    snprintf(t->known[t->nknown].host, sizeof(t->known[0].host), "%s", host);
    t->known[t->nknown].port = port;
    t->nknown++;
}

/* 1 when ip:port is one of the suspects of the current round. */
static int topo_avoided(const struct topology *t, const char *ip, int port)
{
    if (t->navoid == 0) return 0;
    char addr[SLOTMAP_ADDR_MAX];
    slotmap_format_addr(addr, sizeof(addr), ip, port);
    for (int i = 0; i < t->navoid; i++)
        if (strcmp(t->avoid[i], addr) == 0) return 1;
    return 0;
}

/* AUTH on a new connection, with the ACL user when there is one. Returns 0, or -1 with err set. */
static int topo_auth(struct topology *t, struct nodeconn *c, char *err, size_t errlen)
{
    if (!t->password) return 0;
    const char *argv[3] = {"AUTH", t->user ? t->user : t->password, t->password};
    redisReply *r = nodeconn_command_argv(c, t->user ? 3 : 2, argv);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok) snprintf(err, errlen, "AUTH failed: %s", r ? r->str : nodeconn_error(c));
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Connects (or reuses the cached connection) and authenticates. Returns 0 or -1 with err set. */
static int topo_connect(struct topology *t, const char *host, int port, char *ip, size_t iplen,
                        char *err, size_t errlen)
{
    /* The connection is kept between refreshes: asking the same node again costs no connect, no
     * TLS handshake and no AUTH. */
    if (t->conn && t->conn_port == port && strcmp(t->conn_host, host) == 0) {
        snprintf(ip, iplen, "%s", nodeconn_ip(t->conn));
        if (!topo_avoided(t, ip, port)) return 0;
    }
    topo_drop_conn(t);
    if (sock_resolve(host, ip, iplen) < 0) {
        snprintf(err, errlen, "cannot resolve %s", host);
        return -1;
    }
    if (topo_avoided(t, ip, port)) {
        snprintf(err, errlen, "suspect (stalled): not asked");
        return -1;
    }
    /* The connect timeout bounds every command too: a node that hangs cannot hold the thread. */
    struct nodeconn *c =
        nodeconn_open(ip, port, t->cfg.connect_timeout_ms, t->cfg.tls, err, errlen);
    if (!c) return -1;
    if (topo_auth(t, c, err, errlen) < 0) {
        nodeconn_free(c);
        return -1;
    }
    t->conn = c;
    snprintf(t->conn_host, sizeof(t->conn_host), "%s", host);
    t->conn_port = port;
    /* The version clients see in HELLO and INFO: the cluster's own. */
    redisReply *info = nodeconn_command(c, "INFO server");
    if (info && info->type == REDIS_REPLY_STRING) {
        const char *v = strstr(info->str, "redis_version:");
        if (v) {
            v += strlen("redis_version:");
            size_t n = strcspn(v, "\r\n");
            if (n >= sizeof(t->redis_version)) n = sizeof(t->redis_version) - 1;
            memcpy(t->redis_version, v, n);
            t->redis_version[n] = '\0';
        }
    }
    if (info) freeReplyObject(info);
    return 0;
}

/* Reads each node's config epoch from CLUSTER NODES ("<id> <addr> <flags> <master> <ping-sent>
 * <pong-recv> <config-epoch> ..."), so that views from different nodes can be ordered. Without
 * an answer (an ACL may forbid it), epochs stay 0 and the view is never judged older. */
static void topo_read_epochs(struct topology *t, struct slotmap *m)
{
    redisReply *r = nodeconn_command(t->conn, "CLUSTER NODES");
    if (r && r->type == REDIS_REPLY_STRING) {
        for (char *line = r->str; line && *line;) {
            char *nl = strchr(line, '\n');
            char *f[8];
            int nf = 0;
            for (char *p = line; nf < 8 && p && (!nl || p < nl);) {
                f[nf++] = p;
                p = strchr(p, ' ');
                if (p) p++;
            }
            if (nf == 8) {
                int idx = slotmap_find_id(m, f[0], (size_t)(f[1] - f[0] - 1));
                if (idx >= 0) {
                    m->nodes[idx].config_epoch = strtoll(f[6], NULL, 10);
                    /* "fail" or "fail?" among the comma-separated flags of field 3 */
                    char *fail = strstr(f[2], "fail");
                    m->nodes[idx].flagged_fail = fail && fail < f[3];
                }
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    if (r) freeReplyObject(r);
}

/* Asks one node for its view. Returns a new map or NULL with err set. */
static struct slotmap *topo_fetch(struct topology *t, const char *host, int port, char *err,
                                  size_t errlen)
{
    char ip[SOCK_HOST_MAX];
    if (topo_connect(t, host, port, ip, sizeof(ip), err, errlen) < 0) return NULL;
    redisReply *r = nodeconn_command(t->conn, "CLUSTER SHARDS");
    if (!r) {
        snprintf(err, errlen, "%s", nodeconn_error(t->conn));
        topo_drop_conn(t);
        return NULL;
    }
    struct slotmap *m = NULL;
    if (r->type == REDIS_REPLY_ERROR) {
        /* Redis before 7.0 has no CLUSTER SHARDS. */
        freeReplyObject(r);
        r = nodeconn_command(t->conn, "CLUSTER SLOTS");
        if (!r) {
            snprintf(err, errlen, "%s", nodeconn_error(t->conn));
            topo_drop_conn(t);
            return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR)
            snprintf(err, errlen, "CLUSTER SLOTS: %s", r->str);
        else
            m = slots_reply_from_slots(r, ip, err, errlen);
    } else {
        m = t->cfg.tls ? slots_reply_from_shards_tls(r, ip, err, errlen)
                       : slots_reply_from_shards(r, ip, err, errlen);
    }
    freeReplyObject(r);
    /* The map learns where it came from and when (for /debug/slots), and the node's version. */
    if (m) {
        char addr[SLOTMAP_ADDR_MAX];
        slotmap_format_addr(addr, sizeof(addr), ip, port);
        snprintf(m->source, sizeof(m->source), "%s", addr);
        snprintf(m->redis_version, sizeof(m->redis_version), "%s", t->redis_version);
        m->fetched_wall_us = clock_wall_us();
        if (t->conn) topo_read_epochs(t, m);
    }
    return m;
}

/* The pool servers (live or ejected) whose last probe failed. */
static int topo_unreachable(const struct slotmap *m)
{
    int n = 0;
    for (int i = 0; i < m->pool->nservers; i++) n += !m->pool->servers[i].reachable;
    return n;
}

/* Publishes m (taking over the caller's reference) when it differs from the current map; an
 * unchanged one is dropped and the version does not move. Only the swap happens under the lock: the
 * log line and the workers' callback run outside it, so topology_current() never waits on them. */
static void topo_publish(struct topology *t, struct slotmap *m)
{
    pthread_mutex_lock(&t->lock);
    int changed = !t->current || !slotmap_same(t->current, m);
    if (changed) {
        m->version = ++t->version;
        struct slotmap *old = t->current;
        t->current = m;
        t->stats.version = m->version;
        pthread_mutex_unlock(&t->lock);
        slotmap_unref(old);
        if (m->pool) {
            log_info("pool map v%llu: %d of %d servers in the placement (generation %llu), %d "
                     "nodes counting replicas, %d unreachable",
                     (unsigned long long)m->version, m->nshards, m->pool->nservers,
                     (unsigned long long)m->pool->gen, m->nnodes, topo_unreachable(m));
        } else {
            for (int i = 0; i < m->nnodes; i++)
                topo_remember(t, m->nodes[i].ip, m->nodes[i].port);
            log_info("slot map v%llu from %s: %d nodes, %d shards, %d of %d slots served",
                     (unsigned long long)m->version, m->source, m->nnodes, m->nshards,
                     m->covered, CRC16_SLOTS);
        }
        t->publish(m, t->ctx);
        /* Ready only now: every worker has the map in its inbox, ahead of any client the
         * acceptor hands it once main sees the topology ready. */
        pthread_mutex_lock(&t->lock);
        t->published = 1;
        pthread_cond_broadcast(&t->ready);
        pthread_mutex_unlock(&t->lock);
    } else {
        pthread_mutex_unlock(&t->lock);
        slotmap_unref(m);
    }
}

/* Adds host:port to the candidates unless it is there already or the list is full. */
static void cand_add(struct topo_addr *cand, int *n, int max, const char *host, int port)
{
    for (int k = 0; k < *n; k++)
        if (cand[k].port == port && strcmp(cand[k].host, host) == 0) return;
    if (*n == max) return;
    snprintf(cand[*n].host, sizeof(cand[*n].host), "%s", host);
    cand[*n].port = port;
    (*n)++;
}

/* Connects for a probe (cached), with a short timeout, authenticated. NULL when unreachable (err,
 * when not NULL, says why). */
static struct nodeconn *probe_conn(struct topology *t, const char *ip, int port, char *err,
                                   size_t errlen)
{
    struct topo_probe *p = NULL;
    for (int i = 0; i < t->nprobes; i++)
        if (t->probes[i].port == port && strcmp(t->probes[i].ip, ip) == 0) p = &t->probes[i];
    if (!p) {
        t->probes = px_realloc(t->probes, (size_t)(t->nprobes + 1) * sizeof(*t->probes));
        p = &t->probes[t->nprobes++];
        memset(p, 0, sizeof(*p));
        snprintf(p->ip, sizeof(p->ip), "%s", ip);
        p->port = port;
    }
    p->seen = 1;
    if (p->c) return p->c;
    uint64_t ms = t->cfg.connect_timeout_ms < 1000 ? t->cfg.connect_timeout_ms : 1000;
    char why[256]; /* the reason when the caller does not want it */
    char *e = err ? err : why;
    size_t elen = err ? errlen : sizeof(why);
    struct nodeconn *c = nodeconn_open(ip, port, ms, t->cfg.tls, e, elen);
    if (!c) return NULL;
    if (topo_auth(t, c, e, elen) < 0) {
        nodeconn_free(c);
        return NULL;
    }
    p->c = c;
    return c;
}

/* Closes a probe connection that failed, so that the next probe reconnects. */
static void probe_drop(struct topology *t, const char *ip, int port)
{
    for (int i = 0; i < t->nprobes; i++)
        if (t->probes[i].port == port && strcmp(t->probes[i].ip, ip) == 0 && t->probes[i].c) {
            nodeconn_free(t->probes[i].c);
            t->probes[i].c = NULL;
        }
}

/* Closes the probe connections no probe used since the last sweep (nodes that left the map), and
 * starts the next round: seen marks the probes used in a round. */
static void probes_sweep(struct topology *t)
{
    int k = 0;
    for (int i = 0; i < t->nprobes; i++) {
        if (!t->probes[i].seen) {
            nodeconn_free(t->probes[i].c);
            continue;
        }
        t->probes[i].seen = 0;
        t->probes[k++] = t->probes[i];
    }
    t->nprobes = k;
}

/* A replica is usable for reads when the cluster does not flag it fail or pfail (CLUSTER NODES
 * of the node that gave the map), it is not loading, and its own link to its master is up. */
static void topo_probe_replicas(struct topology *t, struct slotmap *m)
{
    char *failed = px_calloc((size_t)m->nnodes + 1, 1);
    redisReply *r = t->conn ? nodeconn_command(t->conn, "CLUSTER NODES") : NULL;
    if (r && r->type == REDIS_REPLY_STRING) {
        for (char *line = r->str; line && *line;) {
            char *nl = strchr(line, '\n');
            /* "<id> <ip:port@cport> <flags> <master> ..." */
            char *sp1 = strchr(line, ' ');
            char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
            char *sp3 = sp2 ? strchr(sp2 + 1, ' ') : NULL;
            if (sp1 && sp3 && (!nl || sp3 < nl)) {
                int idx = slotmap_find_id(m, line, (size_t)(sp1 - line));
                char flags[128];
                size_t fl = (size_t)(sp3 - sp2 - 1);
                if (fl >= sizeof(flags)) fl = sizeof(flags) - 1;
                memcpy(flags, sp2 + 1, fl);
                flags[fl] = '\0';
                if (idx >= 0 && strstr(flags, "fail")) failed[idx] = 1; /* "fail" or "fail?" */
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    if (r) freeReplyObject(r);
    t->replicas_pending = 0;
    for (int i = 0; i < m->nnodes; i++) {
        struct slotmap_node *n = &m->nodes[i];
        if (n->role != SLOTMAP_REPLICA) continue;
        n->usable = 0;
        if (failed[i] || n->health != SLOTMAP_ONLINE) continue;
        struct nodeconn *c = probe_conn(t, n->ip, n->port, NULL, 0);
        redisReply *info = c ? nodeconn_command(c, "INFO replication") : NULL;
        if (info && info->type == REDIS_REPLY_STRING) {
            n->usable = strstr(info->str, "master_link_status:up") != NULL;
            if (!n->usable) t->replicas_pending = 1;
        } else {
            probe_drop(t, n->ip, n->port);
        }
        if (info) freeReplyObject(info);
    }
    px_free(failed);
    probes_sweep(t);
}

/* Counts and logs (sparingly) a view refused for being older. */
static void topo_note_stale(struct topology *t, const struct slotmap *m, const char *what)
{
    pthread_mutex_lock(&t->lock);
    t->stats.refresh_stale++;
    pthread_mutex_unlock(&t->lock);
    if (log_ratelimit_ok(&t->rl_stale, 10000))
        log_warn("%s answered an older view (lower config epochs, or slots unserved) than another; %s", m->source,
                 what);
}

/* Publishes m, the result of a successful refresh; *seen gets a reference to it when asked. */
static int topo_refreshed(struct topology *t, struct slotmap *m, struct slotmap **seen)
{
    if (t->cfg.probe_replicas) topo_probe_replicas(t, m);
    if (seen) *seen = slotmap_ref(m);
    topo_publish(t, m);
    pthread_mutex_lock(&t->lock);
    t->stats.refresh_ok++;
    t->stats.last_ok_wall_us = clock_wall_us();
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/*
 * Asks the candidates in order for their view. A view older than the map in use (a node that has
 * not heard of a failover yet: its masters have lower config epochs) is refused and the next node
 * is asked. With second_opinion (the first fetch, or something suggested a change), two nodes are
 * asked and the newer view wins. Returns 0 when a map was published (or the current one stands);
 * *seen (when not NULL) gets a reference to the view accepted, NULL when none was.
 */
static int topo_refresh(struct topology *t, int second_opinion, struct slotmap **seen)
{
    const int max = TOPO_KNOWN_MAX * 2 + 64;
    struct topo_addr *cand = px_malloc((size_t)max * sizeof(*cand));
    int n = 0;
    if (seen) *seen = NULL;
    /* Candidates in order of preference: the suspects' replicas (a failover promotes one of them,
     * which knows it first), the node that answered last, the current map's masters and then
     * replicas (failed ones skipped), the startup nodes, then every node ever seen. Suspects
     * themselves are never asked (topo_connect refuses them). */
    struct slotmap *cur = topology_current(t);
    for (int a = 0; cur && a < t->navoid; a++) {
        int i = slotmap_find_addr(cur, t->avoid[a]);
        if (i < 0 || cur->nodes[i].shard < 0) continue;
        const struct slotmap_shard *sh = &cur->shards[cur->nodes[i].shard];
        for (int k = 0; k < sh->nreplicas; k++)
            cand_add(cand, &n, max, cur->nodes[sh->replicas[k]].ip, cur->nodes[sh->replicas[k]].port);
    }
    if (t->conn) cand_add(cand, &n, max, t->conn_host, t->conn_port);
    if (cur) {
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < cur->nnodes; i++)
                if ((cur->nodes[i].role == SLOTMAP_MASTER) == (pass == 0) &&
                    cur->nodes[i].health != SLOTMAP_FAILED)
                    cand_add(cand, &n, max, cur->nodes[i].ip, cur->nodes[i].port);
        slotmap_unref(cur);
    }
    for (int i = 0; i < t->cfg.nstartup; i++) {
        char host[SOCK_HOST_MAX];
        int port;
        if (sock_split_addr(t->cfg.startup[i], host, sizeof(host), &port) == 0)
            cand_add(cand, &n, max, host, port);
    }
    for (int i = 0; i < t->nknown; i++) cand_add(cand, &n, max, t->known[i].host, t->known[i].port);

    char err[256] = "no node to ask";
    struct slotmap *fallback = NULL, *best = NULL, *stale = NULL;
    cur = topology_current(t);
    /* Relaxed: stop is only a hint to give up early here; topo_main reads it with acquire. */
    for (int i = 0; i < n && !atomic_load_explicit(&t->stop, memory_order_relaxed); i++) {
        struct slotmap *m = topo_fetch(t, cand[i].host, cand[i].port, err, sizeof(err));
        if (!m) {
            log_debug("topology: %s:%d: %s", cand[i].host, cand[i].port, err);
            continue;
        }
        if (m->covered == 0) {
            /* A node that knows no slots (just reset, or not joined yet): keep asking. */
            if (!fallback)
                fallback = m;
            else
                slotmap_unref(m);
            topo_drop_conn(t);
            continue;
        }
        /* Older than the map in use, or than the first opinion; or leaving slots unserved that
         * they serve (a node deposed a moment ago answers so): someone else is asked. After
         * TOPO_STALE_ACCEPT rounds where every node answers so, it is the truth (DELSLOTS). */
        if ((cur && (slotmap_older_somewhere(m, cur) || slotmap_loses_slots(m, cur))) ||
            (best && (slotmap_older_somewhere(m, best) || slotmap_loses_slots(m, best)))) {
            topo_note_stale(t, m, "asking another node");
            if (!stale) {
                stale = m;
            } else {
                slotmap_unref(m);
            }
            topo_drop_conn(t); /* ask someone else first next time */
            continue;
        }
        /* This is the second opinion: the newer of the two views wins, and the search ends. */
        if (best) {
            if (slotmap_older(best, m) || slotmap_loses_slots(best, m)) {
                topo_note_stale(t, best, "the second node's is newer");
                slotmap_unref(best);
                best = m;
            } else {
                slotmap_unref(m);
            }
            break;
        }
        best = m;
        if (!second_opinion) break;
    }
    px_free(cand);
    slotmap_unref(cur);
    int saw_stale = stale != NULL;
    if (best || !stale) t->stale_rounds = 0;
    if (!best && stale && ++t->stale_rounds >= TOPO_STALE_ACCEPT) {
        /* Every node that answers has gone back in time (the cluster was rebuilt): follow it. */
        log_warn("every node that answers has an older view, %d refreshes in a row; "
                 "taking it",
                 t->stale_rounds);
        t->stale_rounds = 0;
        best = stale;
        stale = NULL;
    }
    slotmap_unref(stale);
    if (best) {
        slotmap_unref(fallback);
        return topo_refreshed(t, best, seen);
    }
    /* A view with no slot is published only when no node knows better (a cluster being created). */
    if (fallback) return topo_refreshed(t, fallback, NULL);
    if (saw_stale) return 0; /* only older views came back: the map in use stands */
    pthread_mutex_lock(&t->lock);
    t->stats.refresh_failed++;
    pthread_mutex_unlock(&t->lock);
    if (log_ratelimit_ok(&t->rl, 5000))
        log_warn("topology refresh failed: no reachable node answered (last error: %s)", err);
    return -1;
}

/* ---- suspects ---- */

/* Whether the replica at ip:port still follows the master whose id is master_id and sees it
 * healthy (its own CLUSTER NODES: "myself,slave <master_id>", and no "fail" flag on the master).
 * 1 yes, 0 no, -1 when it does not answer (a replica that cannot be reached is not counted). */
static int replica_agrees(struct topology *t, const char *ip, int port, const char *master_id)
{
    struct nodeconn *c = probe_conn(t, ip, port, NULL, 0);
    redisReply *r = c ? nodeconn_command(c, "CLUSTER NODES") : NULL;
    int verdict = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        int follows = 0, healthy = 0;
        size_t idlen = strlen(master_id);
        for (char *line = r->str; line && *line;) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            /* "<id> <addr> <flags> <master> ..." */
            char *f[4];
            int nf = 0;
            for (char *p = line; nf < 4 && p && p < line + len;) {
                f[nf++] = p;
                p = memchr(p, ' ', (size_t)(line + len - p));
                if (p) p++;
            }
            if (nf == 4) {
                size_t flen = (size_t)(f[3] - f[2] - 1);
                int myself = flen >= 6 && memmem(f[2], flen, "myself", 6) != NULL;
                int fail = memmem(f[2], flen, "fail", 4) != NULL;
                if (myself && memmem(f[2], flen, "slave", 5) && strncmp(f[3], master_id, idlen) == 0)
                    follows = 1;
                if (!myself && (size_t)(f[1] - f[0] - 1) == idlen &&
                    memcmp(f[0], master_id, idlen) == 0 && !fail)
                    healthy = 1;
            }
            line = nl ? nl + 1 : NULL;
        }
        verdict = follows && healthy;
    } else {
        probe_drop(t, ip, port);
    }
    if (r) freeReplyObject(r);
    return verdict;
}

/* The verdict on suspect s given m, a view accepted in this round (fetched from another node,
 * from fetched_ms on): TOPO_V_DEPOSED, TOPO_V_CONFIRMED, or TOPO_V_SUSPECT while it cannot tell
 * yet (the node has not answered again since, or someone sees it failing). */
static enum topology_verdict topo_judge(struct topology *t, const struct slotmap *m,
                                        const struct topo_suspect *s, uint64_t fetched_ms)
{
    int i = slotmap_find_addr(m, s->addr);
    /* Gone from the view, now a replica, or a master without slots: they went elsewhere. */
    if (i < 0 || !slotmap_serves_slots(m, i)) return TOPO_V_DEPOSED;
    if (s->woke_ms == 0 || fetched_ms <= s->woke_ms || m->nodes[i].flagged_fail)
        return TOPO_V_SUSPECT;
    /* A failover promotes one of its replicas: each that answers must still follow it. */
    const struct slotmap_shard *sh = &m->shards[m->nodes[i].shard];
    for (int k = 0; k < sh->nreplicas; k++) {
        const struct slotmap_node *rn = &m->nodes[sh->replicas[k]];
        if (replica_agrees(t, rn->ip, rn->port, m->nodes[i].id) == 0) return TOPO_V_SUSPECT;
    }
    return TOPO_V_CONFIRMED;
}

void topology_on_verdict(struct topology *t, topology_verdict_cb *cb, void *ctx)
{
    t->verdict = cb;
    t->verdict_ctx = ctx;
}

void topology_report_stall(struct topology *t, const char *addr, uint64_t woke_ms)
{
    pthread_mutex_lock(&t->lock);
    struct topo_suspect *s = NULL;
    for (int i = 0; i < t->nsus; i++)
        if (strcmp(t->sus[i].addr, addr) == 0) s = &t->sus[i];
    if (!s && t->nsus < TOPO_SUSPECTS_MAX) {
        s = &t->sus[t->nsus++];
        memset(s, 0, sizeof(*s));
        snprintf(s->addr, sizeof(s->addr), "%s", addr);
        t->stats.suspects++;
    }
    if (s) {
        s->report_ms = clock_now_ms();
        if (woke_ms > s->woke_ms) s->woke_ms = woke_ms;
    }
    pthread_mutex_unlock(&t->lock);
    /* Release: pairs with the acquire in topo_main; only the first report of a batch wakes it. */
    if (s && !atomic_exchange_explicit(&t->sus_news, 1, memory_order_acq_rel)) {
        uint64_t one = 1;
        ssize_t w = write(t->efd, &one, sizeof(one));
        (void)w;
    }
}

/* A verdict for each suspect that has one, the suspects left, and the view s was judged on. */
struct topo_round {
    struct topo_suspect sus[TOPO_SUSPECTS_MAX];
    enum topology_verdict v[TOPO_SUSPECTS_MAX];
    int n;
};

/*
 * One round while nodes are suspect: new suspects are announced to the workers, the topology is
 * fetched from other nodes (two of them, the suspects' replicas first), and each suspect is
 * judged on the view accepted. Verdicts go out after the map that led to them. Returns 1 while
 * suspects are left.
 */
static int topo_suspect_round(struct topology *t)
{
    struct topo_round *rd = px_calloc(1, sizeof(*rd));
    uint64_t now = clock_now_ms();
    /* Snapshot under the lock; forget those nobody reports any more. */
    pthread_mutex_lock(&t->lock);
    int k = 0;
    for (int i = 0; i < t->nsus; i++) {
        struct topo_suspect *s = &t->sus[i];
        if (now > s->report_ms + t->cfg.suspect_expire_ms) {
            rd->sus[rd->n] = *s;
            rd->v[rd->n++] = TOPO_V_EXPIRED;
            t->stats.expired++;
            continue;
        }
        if (!s->announced) {
            s->announced = 1;
            rd->sus[rd->n] = *s;
            rd->v[rd->n++] = TOPO_V_SUSPECT;
        }
        t->sus[k++] = *s;
    }
    t->nsus = k;
    t->avoid = px_malloc((size_t)(k ? k : 1) * sizeof(*t->avoid));
    t->navoid = k;
    for (int i = 0; i < k; i++) memcpy(t->avoid[i], t->sus[i].addr, SLOTMAP_ADDR_MAX);
    struct topo_suspect *judged = px_malloc((size_t)(k ? k : 1) * sizeof(*judged));
    memcpy(judged, t->sus, (size_t)k * sizeof(*judged));
    pthread_mutex_unlock(&t->lock);

    for (int i = 0; i < rd->n; i++) {
        if (rd->v[i] == TOPO_V_EXPIRED)
            log_info("node %s: no longer reported stalled; suspicion ends without a verdict",
                     rd->sus[i].addr);
        else
            log_warn("node %s: requests to it stalled; holding it until the cluster says "
                     "whether it still serves its slots",
                     rd->sus[i].addr);
        if (t->verdict) t->verdict(rd->sus[i].addr, rd->v[i], t->verdict_ctx);
    }
    rd->n = 0;

    uint64_t fetched_ms = clock_now_ms();
    struct slotmap *m = NULL;
    if (k > 0) topo_refresh(t, 1, &m);
    if (m && m->covered > 0) {
        for (int i = 0; i < k; i++) {
            enum topology_verdict v = topo_judge(t, m, &judged[i], fetched_ms);
            if (v == TOPO_V_SUSPECT) continue;
            rd->sus[rd->n] = judged[i];
            rd->v[rd->n++] = v;
        }
    }
    slotmap_unref(m);
    /* Judged ones leave the table (a later stall makes them suspect again). */
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < rd->n; i++) {
        for (int j = 0; j < t->nsus; j++) {
            if (strcmp(t->sus[j].addr, rd->sus[i].addr) != 0) continue;
            t->sus[j] = t->sus[--t->nsus];
            break;
        }
        if (rd->v[i] == TOPO_V_CONFIRMED)
            t->stats.confirmed++;
        else
            t->stats.deposed++;
    }
    int left = t->nsus;
    pthread_mutex_unlock(&t->lock);
    for (int i = 0; i < rd->n; i++) {
        if (rd->v[i] == TOPO_V_CONFIRMED)
            log_info("node %s: still serves its slots (confirmed by %s:%d); its replies go on",
                     rd->sus[i].addr, t->conn_host, t->conn_port);
        else
            log_warn("node %s: failed over while suspect; what it answers from now on is dropped "
                     "and its requests in flight get an error",
                     rd->sus[i].addr);
        if (t->verdict) t->verdict(rd->sus[i].addr, rd->v[i], t->verdict_ctx);
    }
    px_free(judged);
    px_free(t->avoid);
    t->avoid = NULL;
    t->navoid = 0;
    px_free(rd);
    return left > 0;
}

/* ---- pool mode ---- */

/* Probes one pool server: resolves its name, connects (the cached probe connection) and asks
 * INFO, whose replication section names its replicas; its redis_version is what clients see. */
static void topo_pool_probe(struct topology *t, const struct placement_server *s,
                            struct pool_probe *pr)
{
    memset(pr, 0, sizeof(*pr));
    if (sock_resolve(s->host, pr->ip, sizeof(pr->ip)) < 0) {
        pr->ip[0] = '\0';
        snprintf(pr->err, sizeof(pr->err), "cannot resolve %s", s->host);
        return;
    }
    struct nodeconn *c = probe_conn(t, pr->ip, s->port, pr->err, sizeof(pr->err));
    if (!c) return;
    redisReply *r = nodeconn_command(c, "INFO");
    if (!r) {
        const char *why = nodeconn_error(c);
        snprintf(pr->err, sizeof(pr->err), "%s", why[0] ? why : "no answer to INFO");
        probe_drop(t, pr->ip, s->port);
        return;
    }
    /* An error (LOADING, say) is an answer too: the server is there. */
    pr->ok = 1;
    if (r->type == REDIS_REPLY_STRING) {
        pr->nreplicas = pool_parse_replicas(r->str, pr->replicas, POOL_MAX_REPLICAS);
        const char *v = strstr(r->str, "redis_version:");
        if (v && !t->redis_version[0]) {
            v += strlen("redis_version:");
            size_t n = strcspn(v, "\r\n");
            if (n >= sizeof(t->redis_version)) n = sizeof(t->redis_version) - 1;
            memcpy(t->redis_version, v, n);
            t->redis_version[n] = '\0';
        }
    }
    freeReplyObject(r);
}

/* One round over the pool: the servers file again when SIGHUP asked for it, a probe of every
 * server that is due one (none with probe 0: the first map is published before any), and the
 * map of the result, published when it changed. Returns 0, or -1 when no map could be made. */
static int topo_pool_round(struct topology *t, int probe)
{
    /* Acquire: pairs with the release in topology_request_reload. */
    if (atomic_exchange_explicit(&t->want_reload, 0, memory_order_acq_rel)) {
        char err[512];
        int rc = pool_reload(t->pool, err, sizeof(err));
        if (rc < 0)
            log_warn("SIGHUP: the servers file was not reloaded, the pool stays as it was: %s",
                     err);
        else
            log_info("SIGHUP: servers file %s (%zu servers)", rc ? "reloaded" : "unchanged",
                     pool_size(t->pool));
    }
    for (size_t i = 0; !probe && i < pool_size(t->pool); i++) {
        /* The first map: no probe, but host names resolved, as the workers connect to numbers. */
        char ip[SLOTMAP_IP_MAX];
        if (sock_resolve(pool_server(t->pool, i)->host, ip, sizeof(ip)) == 0)
            pool_note_ip(t->pool, i, ip);
    }
    for (size_t i = 0; probe && i < pool_size(t->pool); i++) {
        if (!pool_should_probe(t->pool, i, clock_now_ms())) continue;
        struct pool_probe pr;
        topo_pool_probe(t, pool_server(t->pool, i), &pr);
        pool_note_probe(t->pool, i, &pr, clock_now_ms());
    }
    struct slotmap *m = pool_build_map(t->pool, clock_now_ms());
    if (!m) {
        pthread_mutex_lock(&t->lock);
        t->stats.refresh_failed++;
        pthread_mutex_unlock(&t->lock);
        log_warn("pool: the placement could not be built");
        return -1;
    }
    snprintf(m->source, sizeof(m->source), "%.79s", m->pool->source);
    snprintf(m->redis_version, sizeof(m->redis_version), "%s", t->redis_version);
    m->fetched_wall_us = clock_wall_us();
    if (!t->cfg.probe_replicas) probes_sweep(t);
    return topo_refreshed(t, m, NULL);
}

/* The thread: work out when the next refresh is due, sleep on the eventfd until then or until
 * woken, refresh. Before the first map it retries from TOPO_RETRY_MIN_MS, doubling up to
 * TOPO_RETRY_MAX_MS; afterwards every reload interval, or sooner when asked, but no more often than
 * min_refresh_interval_ms. */
static void *topo_main(void *arg)
{
    struct topology *t = arg;
    log_set_thread_name("topology");
    uint64_t last = 0, retry = TOPO_RETRY_MIN_MS, last_round = 0;
    int have = 0, first = 1, suspects = 0, probe_soon = 0;
    while (!atomic_load_explicit(&t->stop, memory_order_acquire)) {
        uint64_t now = clock_now_ms();
        /* Suspects: a round at once on news, then every suspect_poll_ms while any is left. A pool
         * has no failover to wait for: the proxy does not detect stalls there, and nothing is
         * judged. */
        int news = have && !t->pool &&
                   atomic_exchange_explicit(&t->sus_news, 0, memory_order_acq_rel);
        if (news || (have && suspects && now >= last_round + t->cfg.suspect_poll_ms)) {
            last_round = last = now;
            suspects = topo_suspect_round(t);
            continue;
        }
        uint64_t due;
        if (first) {
            due = now;
        } else if (!have) {
            due = last + retry;
        } else {
            due = t->pool ? pool_next_due(t->pool, last, t->cfg.reload_interval_ms)
                          : last + t->cfg.reload_interval_ms;
            /* Pool mode: the first probes right after the first map; the servers file at once
             * (relaxed: the exchange in topo_pool_round is what orders the reload). */
            if (t->pool && (probe_soon || atomic_load_explicit(&t->want_reload,
                                                               memory_order_relaxed)))
                due = now;
            /* A replica not usable yet: look again soon (40 times at most in a row). */
            if (t->replicas_pending && t->fast_reprobes < TOPO_FAST_REPROBES &&
                last + TOPO_REPROBE_MS < due)
                due = last + TOPO_REPROBE_MS;
            /* Acquire: pairs with the release in topology_request_refresh. */
            if (atomic_load_explicit(&t->want_refresh, memory_order_acquire)) {
                uint64_t soon = last + t->cfg.min_refresh_interval_ms;
                if (soon < due) due = soon;
            }
            if (suspects && last_round + t->cfg.suspect_poll_ms < due)
                due = last_round + t->cfg.suspect_poll_ms;
        }
        if (due > now) {
            struct pollfd pfd = {.fd = t->efd, .events = POLLIN};
            uint64_t wait = due - now;
            if (poll(&pfd, 1, (int)(wait > 60000 ? 60000 : wait)) > 0) {
                uint64_t v;
                ssize_t r = read(t->efd, &v, sizeof(v));
                (void)r;
            }
            continue; /* recompute: woken early, or the deadline moved */
        }
        int was_first = first;
        first = 0;
        t->fast_reprobes = t->replicas_pending ? t->fast_reprobes + 1 : 0;
        /* Clear before fetching, so a request made during the fetch gets a fetch of its own. */
        int requested = atomic_exchange_explicit(&t->want_refresh, 0, memory_order_acq_rel);
        last = clock_now_ms();
        probe_soon = t->pool && was_first;
        /* Asked for, or still without a map: ask two nodes, since something may have changed. */
        int rc = t->pool ? topo_pool_round(t, !was_first)
                         : topo_refresh(t, !have || requested, NULL);
        if (rc == 0) {
            have = 1;
            retry = TOPO_RETRY_MIN_MS;
        } else if (!have) {
            retry = retry * 2 > TOPO_RETRY_MAX_MS ? TOPO_RETRY_MAX_MS : retry * 2;
        }
    }
    /* Stopping: the connections belong to this thread, so it closes them itself. */
    topo_drop_conn(t);
    for (int i = 0; i < t->nprobes; i++) nodeconn_free(t->probes[i].c);
    px_free(t->probes);
    t->probes = NULL;
    t->nprobes = 0;
    return NULL;
}

int topology_start(struct topology *t)
{
    int rc = pthread_create(&t->thread, NULL, topo_main, t);
    if (rc) return -rc;
    t->started = 1;
    return 0;
}

int topology_wait_ready(struct topology *t, uint64_t timeout_ms)
{
    struct timespec ts;
    clock_deadline_ts(timeout_ms, &ts);
    pthread_mutex_lock(&t->lock);
    /* Waits for the broadcast of topo_publish; the deadline is absolute, on the wall clock. */
    while (!t->published) {
        if (pthread_cond_timedwait(&t->ready, &t->lock, &ts) == ETIMEDOUT) break;
    }
    int ok = t->published;
    pthread_mutex_unlock(&t->lock);
    return ok ? 0 : PX_EAGAIN;
}

void topology_request_reload(struct topology *t)
{
    if (!t->pool) return;
    /* Release: pairs with the acquire exchange in topo_pool_round. */
    atomic_store_explicit(&t->want_reload, 1, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(t->efd, &one, sizeof(one));
    (void)w;
}

int topology_is_pool(const struct topology *t)
{
    return t->pool != NULL;
}

void topology_request_refresh(struct topology *t)
{
    /* Release: pairs with the acquire in topo_main; only the first request wakes the thread. */
    if (atomic_exchange_explicit(&t->want_refresh, 1, memory_order_acq_rel)) return;
    pthread_mutex_lock(&t->lock);
    t->stats.refresh_requested++;
    pthread_mutex_unlock(&t->lock);
    uint64_t one = 1;
    ssize_t w = write(t->efd, &one, sizeof(one));
    (void)w;
}

struct slotmap *topology_current(struct topology *t)
{
    pthread_mutex_lock(&t->lock);
    /* The reference is taken under the lock, so that the map cannot be freed between reading the
     * pointer and counting the reference. */
    struct slotmap *m = t->current ? slotmap_ref(t->current) : NULL;
    pthread_mutex_unlock(&t->lock);
    return m;
}

void topology_get_stats(struct topology *t, struct topology_stats *st)
{
    pthread_mutex_lock(&t->lock);
    *st = t->stats;
    pthread_mutex_unlock(&t->lock);
}

void topology_stop(struct topology *t)
{
    if (!t->started) return;
    /* Release: the thread sees stop after waking. */
    atomic_store_explicit(&t->stop, 1, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(t->efd, &one, sizeof(one));
    (void)w;
    pthread_join(t->thread, NULL);
    t->started = 0;
}

void topology_free(struct topology *t)
{
    if (!t) return;
    /* The thread first: it may still be using the connections and the map. */
    topology_stop(t);
    slotmap_unref(t->current);
    for (int i = 0; i < t->cfg.nstartup; i++) px_free(t->startup[i]);
    px_free(t->startup);
    px_free(t->user);
    px_free(t->password);
    pool_free(t->pool);
    close(t->efd);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->ready);
    px_free(t);
}
