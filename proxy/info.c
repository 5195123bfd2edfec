/*
 * INFO; see info.h. The request is a fan-out whose parts (one per master, only when a section
 * with the nodes' figures is asked for: memory, persistence, stats, keyspace) are the masters'
 * INFO of those sections; the merger writes the proxy's sections from the counters of every
 * worker, and sums (or takes the largest of) the masters' figures where the proxy has none of its
 * own: the keyspace, writes since the last save, cached scripts, MIGRATE's cached sockets, objects
 * freed in the background.
 *
 * The dispatcher calls info_run for every INFO; the answer goes to the request's sink like any
 * fan-out's. To a client the proxy is one Redis in cluster mode: the fields clients and tools
 * read (redis_version, role, connected_clients, cluster_enabled, the keyspace) mean what they
 * would on one server; those the proxy does not track are constant (tracking_clients:0,
 * connected_slaves:0). The counters are read while the workers write them (relaxed loads): a
 * total may be a few requests behind, never torn.
 */
#include "info.h"

#include "clock.h"
#include "commands.h"
#include "hashkit.h"
#include "local.h"
#include "mem.h"
#include "tls.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

/* One bit per section INFO can name. "default" is Redis's default set plus the proxy's own
 * section; "all" and "everything" add commandstats and latencystats. */
enum {
    SEC_SERVER = 1u << 0,
    SEC_CLIENTS = 1u << 1,
    SEC_MEMORY = 1u << 2,
    SEC_STATS = 1u << 3,
    SEC_REPLICATION = 1u << 4,
    SEC_CPU = 1u << 5,
    SEC_COMMANDSTATS = 1u << 6,
    SEC_CLUSTER = 1u << 7,
    SEC_KEYSPACE = 1u << 8,
    SEC_PROXY = 1u << 9,
    SEC_PERSISTENCE = 1u << 10,
    SEC_ERRORSTATS = 1u << 11,
    SEC_MODULES = 1u << 12,
    SEC_LATENCYSTATS = 1u << 13,
};
#define SEC_DEFAULT                                                                                \
    (SEC_SERVER | SEC_CLIENTS | SEC_MEMORY | SEC_PERSISTENCE | SEC_STATS | SEC_REPLICATION |      \
     SEC_CPU | SEC_MODULES | SEC_ERRORSTATS | SEC_CLUSTER | SEC_KEYSPACE | SEC_PROXY)
/* The sections with figures from the masters. */
#define SEC_FROM_NODES (SEC_MEMORY | SEC_PERSISTENCE | SEC_STATS | SEC_KEYSPACE)
#define SEC_ALL (SEC_DEFAULT | SEC_COMMANDSTATS | SEC_LATENCYSTATS)

static const struct {
    const char *name;
    uint32_t bits;
} section_names[] = {
    {"server", SEC_SERVER},
    {"clients", SEC_CLIENTS},
    {"memory", SEC_MEMORY},
    {"persistence", SEC_PERSISTENCE},
    {"stats", SEC_STATS},
    {"replication", SEC_REPLICATION},
    {"cpu", SEC_CPU},
    {"commandstats", SEC_COMMANDSTATS},
    {"errorstats", SEC_ERRORSTATS},
    {"modules", SEC_MODULES},
    {"latencystats", SEC_LATENCYSTATS},
    {"cluster", SEC_CLUSTER},
    {"keyspace", SEC_KEYSPACE},
    {"proxy", SEC_PROXY},
    {"default", SEC_DEFAULT},
    {"all", SEC_ALL},
    {"everything", SEC_ALL},
};


static void info_merge(const struct fanout *f, const struct request *r, void *ctx,
                       struct sbuf *out);

void info_ctx_init(struct info_ctx *ic, struct fanout_ctx *fc, const struct info_src *src)
{
    ic->fc = fc;
    ic->src = src;
}

void info_run(struct info_ctx *ic, struct request *r)
{
    struct fanout_ctx *fc = ic->fc;
    /* Names compare without case; an unknown one adds nothing, so INFO of only unknown sections
     * answers an empty string, as Redis does. */
    uint32_t sec = r->argc == 1 ? SEC_DEFAULT : 0;
    for (uint32_t i = 1; i < r->argc; i++)
        for (size_t k = 0; k < sizeof(section_names) / sizeof(section_names[0]); k++)
            if (request_arg_is(r, i, section_names[k].name)) sec |= section_names[k].bits;
    /* Without a map the nodes' figures are missing rather than held: INFO answers even while no
     * node has. */
    uint32_t parts = (sec & SEC_FROM_NODES) && fc->view->map ? (uint32_t)fc->view->nmasters : 0;
    struct fan_merger m = {.merge = info_merge, .ctx = ic, .name = "INFO"};
    /* A fan-out even with no part: fanout_end then merges at once, so both cases answer alike. */
    struct fanout *f = fanout_begin(fc, r, &m, parts);
    f->mdata = sec;
    if (parts) {
        /* Each master is asked for the sections the proxy sums or takes the largest of. */
        static const struct {
            uint32_t bit;
            const char *name;
        } asked[] = {{SEC_MEMORY, "memory"},
                     {SEC_PERSISTENCE, "persistence"},
                     {SEC_STATS, "stats"},
                     {SEC_KEYSPACE, "keyspace"}};
        const char *args[5] = {"INFO"};
        uint32_t lens[5] = {4}, na = 1;
        for (size_t k = 0; k < sizeof(asked) / sizeof(asked[0]); k++)
            if (sec & asked[k].bit) {
                args[na] = asked[k].name;
                lens[na++] = (uint32_t)strlen(asked[k].name);
            }
        struct sbuf cmd;
        sbuf_init(&cmd);
        resp_write_array_len(&cmd, na);
        for (uint32_t k = 0; k < na; k++) resp_write_bulk(&cmd, args[k], lens[k]);
        struct buf_chunk *c = buf_chunk_get_exact(fc->rp->chunks, cmd.len);
        memcpy(c->data, cmd.buf, cmd.len);
        c->len = (uint32_t)cmd.len;
        sbuf_free(&cmd);
        for (uint32_t i = 0; i < parts; i++) fanout_add(fc, r, i, c, 0, c->len, -1, (int)i);
        buf_chunk_put(c);
    }
    fanout_end(fc, r);
}

/* Redis's bytesToHuman: B with no decimals, then K, M, G, T, P with two. */
static void human(char *buf, size_t len, double n)
{
    const char *units = "BKMGTP";
    int u = 0;
    while (n >= 1024 && u < 5) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0fB", n);
    else
        snprintf(buf, len, "%.2f%c", n, units[u]);
}

/* The sum over every worker of the counter at offset off in struct worker_stats. */
static unsigned long long sum_stat(const struct info_src *src, size_t off)
{
    uint64_t s = 0;
    for (int i = 0; i < src->nworkers; i++)
        s += stat_get((const stat_t *)((const char *)src->stats[i] + off));
    return (unsigned long long)s;
}
#define SUM(field) sum_stat(src, offsetof(struct worker_stats, field))

/* The largest over every worker of the figure at offset off (a maximum, not a counter). */
static unsigned long long max_stat(const struct info_src *src, size_t off)
{
    uint64_t mx = 0;
    for (int i = 0; i < src->nworkers; i++) {
        uint64_t v = stat_get((const stat_t *)((const char *)src->stats[i] + off));
        if (v > mx) mx = v;
    }
    return (unsigned long long)mx;
}
#define MAX(field) max_stat(src, offsetof(struct worker_stats, field))

/* ---- CONFIG RESETSTAT ---- */

/* What the counters summed to at the last reset, for the whole process. */
struct reset_base {
    uint64_t sessions, requests, net_in, net_out, rejected, errors;
    uint64_t *cmd; /* per command: calls, usec, rejected, failed */
    uint32_t ncmd;
};
/* What each command's latency histogram held at the last reset (NULL: nothing), read and written
 * only under base_lock; not in struct reset_base, so that INFO does not copy it. */
static uint64_t **base_lat;
static pthread_mutex_t base_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reset_base base;

static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* The counts of command id's latency histogram summed over the workers, into c; 0 when no
 * worker has one (c is then untouched). */
static int lat_sum(const struct info_src *src, uint32_t id, uint64_t *c)
{
    int any = 0;
    for (int i = 0; i < src->nworkers; i++) {
        struct cmd_stats *cs = &src->stats[i]->cmds[id];
        const struct lat_hist *h = atomic_load_explicit(&cs->lat, memory_order_acquire);
        if (!h) continue;
        if (!any) memset(c, 0, LAT_NBUCKETS * sizeof(*c));
        any = 1;
        for (unsigned b = 0; b < LAT_NBUCKETS; b++) c[b] += stat_get(&h->b[b]);
    }
    return any;
}

/* A percentile as Redis names it: "%f" without its trailing zeros (and point). */
static void pct_name(struct sbuf *t, double p)
{
    char b[64];
    int n = snprintf(b, sizeof(b), "%f", p);
    while (n > 0 && b[n - 1] == '0') n--;
    if (n > 0 && b[n - 1] == '.') n--;
    sbuf_put(t, b, (size_t)n);
}

/* INFO latencystats: the latency-tracking-info-percentiles (lat_get_percentiles) of each
 * command's latency since the last reset, in microseconds with three decimals as Redis writes
 * them. */
static void latencystats(const struct info_src *src, struct sbuf *t)
{
    double pcts[LAT_MAX_PCTS];
    int np = lat_get_percentiles(pcts);
    uint32_t nc = commands_count();
    pthread_mutex_lock(&base_lock);
    for (uint32_t id = 0; id < nc; id++) {
        uint64_t c[LAT_NBUCKETS], total = 0;
        if (!lat_sum(src, id, c)) continue;
        const uint64_t *b = base_lat ? base_lat[id] : NULL;
        for (unsigned k = 0; k < LAT_NBUCKETS; k++) {
            c[k] = b ? since(c[k], b[k]) : c[k];
            total += c[k];
        }
        if (!total) continue;
        sbuf_printf(t, "latency_percentiles_usec_%s:", commands_by_id(id)->cmd->name);
        for (int p = 0; p < np; p++) {
            sbuf_puts(t, p ? ",p" : "p");
            pct_name(t, pcts[p]);
            sbuf_printf(t, "=%.3f", (double)lat_percentile(c, total, pcts[p]));
        }
        sbuf_puts(t, "\r\n");
    }
    pthread_mutex_unlock(&base_lock);
}

void info_reset_stats(const struct info_src *src)
{
    uint32_t nc = commands_count();
    pthread_mutex_lock(&base_lock);
    base.sessions = SUM(sessions_total);
    base.requests = SUM(requests);
    base.net_in = SUM(net_input_bytes);
    base.net_out = SUM(net_output_bytes);
    base.rejected = SUM(rejected_conns) + SUM(denied_conns);
    base.errors = SUM(error_replies);
    if (!base.cmd) base.cmd = px_calloc((size_t)nc * 4, sizeof(*base.cmd));
    base.ncmd = nc;
    for (uint32_t id = 0; id < nc; id++) {
        uint64_t *b = &base.cmd[id * 4];
        b[0] = b[1] = b[2] = b[3] = 0;
        for (int i = 0; i < src->nworkers; i++) {
            const struct cmd_stats *cs = &src->stats[i]->cmds[id];
            b[0] += stat_get(&cs->calls);
            b[1] += stat_get(&cs->usec);
            b[2] += stat_get(&cs->rejected);
            b[3] += stat_get(&cs->failed);
        }
    }
    if (!base_lat) base_lat = px_calloc(nc, sizeof(*base_lat));
    for (uint32_t id = 0; id < nc; id++) {
        uint64_t c[LAT_NBUCKETS];
        if (!lat_sum(src, id, c)) continue;
        if (!base_lat[id]) base_lat[id] = px_malloc(sizeof(c));
        memcpy(base_lat[id], c, sizeof(c));
    }
    pthread_mutex_unlock(&base_lock);
}

/* A copy of the base (its per-command part in cmd, ncmd entries of 4; NULL before any reset). */
static struct reset_base base_get(void)
{
    pthread_mutex_lock(&base_lock);
    struct reset_base b = base;
    if (base.cmd) {
        b.cmd = px_malloc((size_t)base.ncmd * 4 * sizeof(*b.cmd));
        memcpy(b.cmd, base.cmd, (size_t)base.ncmd * 4 * sizeof(*b.cmd));
    }
    pthread_mutex_unlock(&base_lock);
    return b;
}

/* Starts a section when it was asked for: a blank line between sections, then the title. */
static int section(struct sbuf *t, uint32_t asked, uint32_t bit, const char *title, int *n)
{
    if (!(asked & bit)) return 0;
    if ((*n)++) sbuf_puts(t, "\r\n");
    sbuf_puts(t, title);
    return 1;
}

/* Sums "db0:keys=..,expires=..,avg_ttl=.." over the masters' INFO keyspace replies (db0 only: a
 * cluster has no other database). A master that failed is left out: INFO still answers, with
 * what the others said. */
static void keyspace(const struct fanout *f, struct sbuf *t)
{
    unsigned long long keys = 0, expires = 0;
    double ttl_weighted = 0;
    for (uint32_t i = 0; i < f->nparts; i++) {
        const struct fan_part *p = &f->parts[i];
        /* A bulk string (RESP2) or a verbatim one (RESP3); an error is skipped. */
        if (!p->c || p->len < 4 || (p->c->data[p->off] != '$' && p->c->data[p->off] != '='))
            continue;
        const char *d = p->c->data + p->off;
        const char *end = d + p->len;
        const char *db0 = NULL;
        for (const char *q = d; q + 4 <= end; q++)
            if (memcmp(q, "db0:", 4) == 0) {
                db0 = q;
                break;
            }
        if (!db0) continue;
        unsigned long long k = 0, e = 0, ttl = 0;
        if (sscanf(db0, "db0:keys=%llu,expires=%llu,avg_ttl=%llu", &k, &e, &ttl) >= 2) {
            keys += k;
            expires += e;
            /* Each master's average weighted by its keys with an expiry: the average over all. */
            ttl_weighted += (double)ttl * (double)e;
        }
    }
    sbuf_puts(t, "# Keyspace\r\n");
    /* As Redis: no line for an empty database. */
    if (keys > 0)
        sbuf_printf(t, "db0:keys=%llu,expires=%llu,avg_ttl=%llu\r\n", keys, expires,
                    expires ? (unsigned long long)(ttl_weighted / (double)expires) : 0ull);
}

/* A field of the masters' INFO replies ("name:" at a line's start, a number after it), summed
 * (or the largest, when largest). A master that failed or lacks it counts nothing. */
static unsigned long long nodes_field(const struct fanout *f, const char *name, int largest)
{
    unsigned long long total = 0;
    size_t nl = strlen(name);
    for (uint32_t i = 0; i < f->nparts; i++) {
        const struct fan_part *p = &f->parts[i];
        if (!p->c || p->len < 4 || (p->c->data[p->off] != '$' && p->c->data[p->off] != '='))
            continue;
        const char *d = p->c->data + p->off, *end = d + p->len;
        for (const char *q = d; (q = memmem(q, (size_t)(end - q), name, nl)) != NULL; q += nl) {
            if (q == d || q[-1] != '\n' || q + nl >= end || q[nl] != ':') continue;
            unsigned long long v = strtoull(q + nl + 1, NULL, 10);
            total = largest ? (v > total ? v : total) : total + v;
            break;
        }
    }
    return total;
}
#define NODES_SUM(name) nodes_field(f, name, 0)
#define NODES_MAX(name) nodes_field(f, name, 1)

/* Pool mode's part of the # Proxy section: how keys are placed, and the servers' state. */
static void pool_lines(struct sbuf *t, const struct config *cfg, const struct slotmap_pool *p)
{
    int ejected = 0, unreachable = 0;
    for (int i = 0; i < p->nservers; i++) {
        ejected += p->servers[i].ejected;
        unreachable += !p->servers[i].reachable;
    }
    sbuf_printf(t,
                "pool_distribution:%s\r\npool_hash:%s\r\npool_servers:%d\r\n"
                "pool_servers_ejected:%d\r\npool_servers_unreachable:%d\r\n"
                "pool_placement_generation:%llu\r\n",
                placement_dist_name(cfg->placement.dist), hashkit_name(cfg->placement.hash),
                p->nservers, ejected, unreachable, (unsigned long long)p->gen);
}

static void errorstat_line(const char *code, uint64_t count, void *arg)
{
    sbuf_printf(arg, "errorstat_%s:count=%llu\r\n", code, (unsigned long long)count);
}

static void info_merge(const struct fanout *f, const struct request *r, void *ctx,
                       struct sbuf *out)
{
    const struct info_ctx *ic = ctx;
    const struct info_src *src = ic->src;
    const struct config *cfg = src->cfg;
    const struct slotmap *map = ic->fc->view->map;
    uint32_t sec = (uint32_t)f->mdata;
    struct reset_base rb = base_get();
    struct sbuf t;
    sbuf_init(&t);
    int n = 0;
    uint64_t now = clock_wall_us();
    /* redis_version is the nodes' (from the slot map), so that a client that checks the version
     * sees the cluster's; 7.0.0 until a node has answered. run_id is the random id local.c made
     * at startup: new on every restart, like Redis's. */
    if (section(&t, sec, SEC_SERVER, "# Server\r\n", &n)) {
        struct utsname u;
        uname(&u);
        sbuf_printf(&t,
                    "redis_version:%s\r\nredis_mode:%s\r\nslotproxy_version:%s\r\n"
                    "os:%s %s %s\r\narch_bits:%d\r\nmultiplexing_api:%s\r\nprocess_id:%d\r\n"
                    "run_id:%s\r\ntcp_port:%d\r\nserver_time_usec:%llu\r\n"
                    "uptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n",
                    map && map->redis_version[0] ? map->redis_version : "7.0.0",
                    cfg->pool ? "standalone" : "cluster", PX_VERSION, u.sysname, u.release, u.machine,
                    (int)(sizeof(void *) * 8),
                    loop_get_io(ic->fc->view->loop) == LOOP_IO_URING ? "io_uring" : "epoll",
                    (int)getpid(), local_node_id(), cfg->listen_port, (unsigned long long)now,
                    (unsigned long long)((now - src->start_wall_us) / 1000000u),
                    (unsigned long long)((now - src->start_wall_us) / 86400000000ull));
    }
    if (section(&t, sec, SEC_CLIENTS, "# Clients\r\n", &n)) {
        unsigned long long clients = src->sessions_open(src->sessions_ctx);
        /* blocked_clients: those with a blocking command in flight on a private connection
         * (Redis counts them while the node keeps them blocked; here from the moment the
         * command is routed until its answer). */
        sbuf_printf(&t,
                    "connected_clients:%llu\r\nblocked_clients:%llu\r\ntracking_clients:%llu\r\n",
                    clients, SUM(blocked_clients) + SUM(paused_clients), SUM(trk_clients));
    }
    if (section(&t, sec, SEC_MEMORY, "# Memory\r\n", &n)) {
        struct px_mem_stats ms;
        px_mem_stats(&ms);
        char h1[32], h2[32];
        /* The allocator's own figures: jemalloc's when it is linked in. */
        human(h1, sizeof(h1), (double)ms.allocated);
        human(h2, sizeof(h2), (double)ms.resident);
        sbuf_printf(&t,
                    "used_memory:%zu\r\nused_memory_human:%s\r\nused_memory_rss:%zu\r\n"
                    "used_memory_rss_human:%s\r\nmem_allocator:%s\r\n",
                    ms.allocated, h1, ms.resident, h2, ms.available ? "jemalloc" : "libc");
        /* Scripts are loaded on every master: what EVALSHA can find is the largest cache.
         * Objects the masters still free in the background (UNLINK, FLUSHALL ASYNC) add up. */
        sbuf_printf(&t, "number_of_cached_scripts:%llu\r\nlazyfree_pending_objects:%llu\r\n",
                    NODES_MAX("number_of_cached_scripts"), NODES_SUM("lazyfree_pending_objects"));
    }
    /* The masters': loading or saving anywhere shows, writes since the last save add up. */
    if (section(&t, sec, SEC_PERSISTENCE, "# Persistence\r\n", &n)) {
        sbuf_printf(&t,
                    "loading:%llu\r\nasync_loading:%llu\r\nrdb_changes_since_last_save:%llu\r\n"
                    "rdb_bgsave_in_progress:%llu\r\naof_enabled:%llu\r\n"
                    "aof_rewrite_in_progress:%llu\r\n",
                    NODES_MAX("loading"), NODES_MAX("async_loading"),
                    NODES_SUM("rdb_changes_since_last_save"), NODES_MAX("rdb_bgsave_in_progress"),
                    NODES_MAX("aof_enabled"), NODES_MAX("aof_rewrite_in_progress"));
    }
    /* rejected_connections: -maxclients and protected-mode refusals, both turned away at
     * accept. */
    if (section(&t, sec, SEC_STATS, "# Stats\r\n", &n)) {
        sbuf_printf(&t,
                    "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
                    "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n"
                    "rejected_connections:%llu\r\ntotal_error_replies:%llu\r\n"
                    "tracking_total_keys:%llu\r\ntracking_total_items:%llu\r\n"
                    "tracking_total_prefixes:%llu\r\ntracking_invalidations:%llu\r\n"
                    "tracking_evictions:%llu\r\n"
                    "acl_access_denied_auth:%llu\r\nacl_access_denied_cmd:%llu\r\n"
                    "acl_access_denied_key:%llu\r\nacl_access_denied_channel:%llu\r\n"
                    "migrate_cached_sockets:%llu\r\nlazyfreed_objects:%llu\r\n",
                    (unsigned long long)since(SUM(sessions_total), rb.sessions),
                    (unsigned long long)since(SUM(requests), rb.requests),
                    (unsigned long long)since(SUM(net_input_bytes), rb.net_in),
                    (unsigned long long)since(SUM(net_output_bytes), rb.net_out),
                    (unsigned long long)since(SUM(rejected_conns) + SUM(denied_conns), rb.rejected),
                    (unsigned long long)since(SUM(error_replies), rb.errors), SUM(trk_keys),
                    SUM(trk_items), SUM(trk_prefixes), SUM(trk_invalidations), SUM(trk_evictions),
                    SUM(acl_denied_auth), SUM(acl_denied_cmd), SUM(acl_denied_key),
                    SUM(acl_denied_channel), NODES_SUM("migrate_cached_sockets"),
                    NODES_SUM("lazyfreed_objects"));
    }
    /* To a client the proxy is the master of everything it serves. */
    if (section(&t, sec, SEC_REPLICATION, "# Replication\r\n", &n)) {
        /* No replication stream of its own: an offset of 0, as a master without replicas. */
        sbuf_puts(&t, "role:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n");
    }
    if (section(&t, sec, SEC_CPU, "# CPU\r\n", &n)) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        sbuf_printf(&t, "used_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n",
                    (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, (long)ru.ru_utime.tv_sec,
                    (long)ru.ru_utime.tv_usec);
    }
    /* No modules: an empty section, as a redis-server without any. */
    section(&t, sec, SEC_MODULES, "# Modules\r\n", &n);
    /* Per command, over every worker. usec runs from the turn a request was read to the turn its
     * reply was, so unlike Redis's it includes the trip to the node. Commands never seen are left
     * out, as in Redis. */
    if (section(&t, sec, SEC_COMMANDSTATS, "# Commandstats\r\n", &n)) {
        uint32_t nc = commands_count();
        for (uint32_t id = 0; id < nc; id++) {
            uint64_t calls = 0, usec = 0, rej = 0, failed = 0;
            for (int i = 0; i < src->nworkers; i++) {
                const struct cmd_stats *cs = &src->stats[i]->cmds[id];
                calls += stat_get(&cs->calls);
                usec += stat_get(&cs->usec);
                rej += stat_get(&cs->rejected);
                failed += stat_get(&cs->failed);
            }
            if (rb.cmd && id < rb.ncmd) {
                const uint64_t *b = &rb.cmd[id * 4];
                calls = since(calls, b[0]);
                usec = since(usec, b[1]);
                rej = since(rej, b[2]);
                failed = since(failed, b[3]);
            }
            if (!calls && !rej && !failed) continue;
            sbuf_printf(&t,
                        "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                        "failed_calls=%llu\r\n",
                        commands_by_id(id)->cmd->name, (unsigned long long)calls,
                        (unsigned long long)usec, calls ? (double)usec / (double)calls : 0.0,
                        (unsigned long long)rej, (unsigned long long)failed);
        }
    }
    /* The error replies clients got, by code, as Redis counts them (stats.h). */
    if (section(&t, sec, SEC_ERRORSTATS, "# Errorstats\r\n", &n)) errstats_each(errorstat_line, &t);
    if (section(&t, sec, SEC_LATENCYSTATS, "# Latencystats\r\n", &n)) latencystats(src, &t);
    if (section(&t, sec, SEC_CLUSTER, "# Cluster\r\n", &n)) {
        sbuf_puts(&t, cfg->pool ? "cluster_enabled:0\r\n" : "cluster_enabled:1\r\n");
    }
    /* Not section(): keyspace() writes its own title. */
    if (sec & SEC_KEYSPACE) {
        if (n++) sbuf_puts(&t, "\r\n");
        keyspace(f, &t);
    }
    /* The proxy's own: counters summed over the workers, the slot map's figures from the map
     * this worker holds (every worker gets every map). */
    if (section(&t, sec, SEC_PROXY, "# Proxy\r\n", &n)) {
        struct topology_stats ts;
        topology_get_stats(src->topo, &ts);
        sbuf_printf(
            &t,
            "proxy_workers:%d\r\nproxy_sessions_total:%llu\r\nproxy_clients_moved:%llu\r\n"
            "proxy_backends:%llu\r\n"
            "slot_map_version:%llu\r\nslot_map_source:%s\r\nslot_map_nodes:%d\r\n"
            "slot_map_masters:%d\r\nslot_map_slots_served:%d\r\n"
            "topology_refreshes_ok:%llu\r\ntopology_refreshes_failed:%llu\r\n"
            "topology_refreshes_requested:%llu\r\ntopology_stale_views:%llu\r\n"
            "redirects_moved:%llu\r\n"
            "redirects_ask:%llu\r\ntryagain_retries:%llu\r\nrequests_held:%llu\r\n"
            "requests_hold_expired:%llu\r\nconnection_lost_errors:%llu\r\n"
            "noscript_reloads:%llu\r\nread_prefer:%s\r\nreplica_reads:%llu\r\n"
            "replica_fallbacks:%llu\r\nread_retries:%llu\r\nprivate_connections:%llu\r\n"
            "pubsub_messages:%llu\r\npubsub_clients_cut:%llu\r\n"
            "clients_denied_protected_mode:%llu\r\nclients_closed_idle:%llu\r\n"
            "clients_closed_output_limit:%llu\r\nclients_closed_query_limit:%llu\r\n"
            "clients_closed_protocol_error:%llu\r\nclient_reading_paused:%llu\r\n"
            "backend_timeouts:%llu\r\n"
            "stall_suspects:%llu\r\nstall_confirmed:%llu\r\nstall_deposed:%llu\r\n"
            "stall_expired:%llu\r\nstall_runners_deposed:%llu\r\nstall_holds_released:%llu\r\n"
            "stall_hold_usec:%llu\r\nstall_hold_max_usec:%llu\r\nstall_errors:%llu\r\n",
            src->nworkers, SUM(sessions_total), SUM(clients_moved), SUM(nbackends),
            (unsigned long long)(map ? map->version : 0), map ? map->source : "",
            map ? map->nnodes : 0, map ? map->nshards : 0, map ? map->covered : 0,
            (unsigned long long)ts.refresh_ok, (unsigned long long)ts.refresh_failed,
            (unsigned long long)ts.refresh_requested, (unsigned long long)ts.refresh_stale,
            SUM(moved), SUM(ask), SUM(tryagain), SUM(held), SUM(hold_expired),
            SUM(conn_lost_errors), SUM(noscript_reloads),
            config_read_prefer_name(cfg->read_prefer), SUM(replica_reads),
            SUM(replica_fallbacks), SUM(read_retries), SUM(private_conns), SUM(pubsub_messages),
            SUM(pubsub_cut), SUM(denied_conns), SUM(closed_idle), SUM(closed_output),
            SUM(closed_query), SUM(protocol_errors), SUM(inflight_pauses), SUM(backend_timeouts),
            (unsigned long long)ts.suspects, (unsigned long long)ts.confirmed,
            (unsigned long long)ts.deposed, (unsigned long long)ts.expired, SUM(stall_deposed),
            SUM(stall_released), SUM(stall_hold_us), MAX(stall_hold_max_us), SUM(stall_errors));
        /* Batched waits (-io-batch-us; 0 where the engine cannot batch), as of each worker's
         * last cron (a second at most). */
        sbuf_printf(&t,
                    "io_batch_us:%d\r\nio_batch_waits:%llu\r\nio_batch_short:%llu\r\n"
                    "io_replies_due:%llu\r\n",
                    loop_can_batch(ic->fc->view->loop) ? cfg->io_batch_us : 0,
                    SUM(io_batch_waits), SUM(io_batch_short), SUM(io_replies_due));
        struct tls_stats tc = {0}, tn = {0};
        if (src->tls_clients) tls_ctx_stats(src->tls_clients, &tc);
        if (src->tls_nodes) tls_ctx_stats(src->tls_nodes, &tn);
        sbuf_printf(&t,
                    "tls_client_handshakes:%llu\r\ntls_client_handshake_failures:%llu\r\n"
                    "tls_client_handshake_timeouts:%llu\r\ntls_node_handshakes:%llu\r\n"
                    "tls_node_handshake_failures:%llu\r\n",
                    (unsigned long long)tc.handshakes, (unsigned long long)tc.handshake_failures,
                    SUM(tls_handshake_timeouts), (unsigned long long)tn.handshakes,
                    (unsigned long long)tn.handshake_failures);
        if (map && map->pool) pool_lines(&t, cfg, map->pool);
        sbuf_printf(&t,
                    "cross_slot:%s\r\ncross_slot_computed:%llu\r\ncross_slot_failed:%llu\r\n"
                    "cross_slot_partial:%llu\r\nhttp_requests:%llu\r\n",
                    config_cross_slot_name(cfg->cross_slot), SUM(cross_computed),
                    SUM(cross_failed), SUM(cross_partial), SUM(http_requests));
        for (int i = 0; i < HTTP_ST_COUNT; i++) {
            uint64_t v = src->http ? stat_get(&src->http->by_status[i]) : 0;
            if (stats_http_codes[i])
                sbuf_printf(&t, "http_responses_%u:%llu\r\n", stats_http_codes[i],
                            (unsigned long long)v);
            else
                sbuf_printf(&t, "http_responses_other:%llu\r\n", (unsigned long long)v);
        }
    }
    /* As Redis answers INFO: a verbatim string (txt) over RESP3, a bulk string over RESP2. */
    resp_write_verbatim(out, "txt", t.buf ? t.buf : "", t.len, r->client ? r->client->resp : 2);
    sbuf_free(&t);
    px_free(rb.cmd);
}
