/*
 * Operator figures; see metrics.h. Each function here answers one URL of the debug port and runs
 * on that connection's thread (debug_http.c), writing the body into the sbuf it is given. The
 * figures come from three places, read three ways. The workers' counters are summed with relaxed
 * loads: each counter has one writer, so a sum may be a moment stale but is never torn. The
 * topology's stats and current map are read under its mutex (topology_get_stats,
 * topology_current). What only a worker may touch, its runners and sessions, comes from a
 * snapshot each worker fills on its own thread when asked (worker_snapshot); the wait is bounded
 * by SNAP_TIMEOUT_MS, so a stuck worker makes a page incomplete but never hangs the port.
 *
 * The text is written by hand, in Prometheus's text exposition format (a HELP and a TYPE line per
 * family, then its samples) or as JSON; strings that come from outside (node addresses, error
 * texts, command and client names) are escaped for each.
 */
#include "metrics.h"

#include "clock.h"
#include "commands.h"
#include "config.h"
#include "mem.h"
#include "tls.h"
#include "topology.h"
#include "worker.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SNAP_TIMEOUT_MS     1000
#define METRICS_CLIENTS_MAX 10000 /* /debug/clients describes at most this many sessions */

/* SNAP_TIMEOUT_MS bounds the wait for the workers' snapshots: a worker that misses it is left out
 * of that page. */

/* One counter summed over the workers, named by its offset in struct worker_stats, so that one
 * function serves every counter (SUM(field) below). */
static uint64_t sum_off(const struct metrics_ctx *m, size_t off)
{
    uint64_t s = 0;
    for (int i = 0; i < m->nworkers; i++)
        s += stat_get((const stat_t *)((const char *)&m->workers[i]->stats + off));
    return s;
}
/* SUM(field) expects the context to be called m where it is used. */
#define SUM(field) sum_off(m, offsetof(struct worker_stats, field))

/* The largest over every worker of the figure at off (a maximum, not a counter). */
static uint64_t max_off(const struct metrics_ctx *m, size_t off)
{
    uint64_t mx = 0;
    for (int i = 0; i < m->nworkers; i++) {
        uint64_t v = stat_get((const stat_t *)((const char *)&m->workers[i]->stats + off));
        if (v > mx) mx = v;
    }
    return mx;
}

/* Connections open over every worker: the relaxed counts the acceptor balances by. */
static uint64_t clients_now(const struct metrics_ctx *m)
{
    return worker_sessions_open(m->workers, m->nworkers);
}

/* Per command, summed over workers. */
struct cmd_sum {
    uint64_t calls, usec, rejected, failed;
    uint64_t buckets[STATS_NBUCKETS + 1];
};

/* One command's counters summed over the workers; id indexes every worker's cmds array. */
static void cmd_sum(const struct metrics_ctx *m, uint32_t id, struct cmd_sum *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < m->nworkers; i++) {
        const struct cmd_stats *cs = &m->workers[i]->stats.cmds[id];
        c->calls += stat_get(&cs->calls);
        c->usec += stat_get(&cs->usec);
        c->rejected += stat_get(&cs->rejected);
        c->failed += stat_get(&cs->failed);
        for (int b = 0; b <= STATS_NBUCKETS; b++) c->buckets[b] += stat_get(&cs->buckets[b]);
    }
}

/* Backends grouped by node and role. */
struct node_sum {
    char addr[SLOTMAP_ADDR_MAX];
    int readonly;
    /* conns counts the group's runners and up those connected; the rest are summed over them. */
    uint64_t up, conns, inflight, sent, replies, connects, failures, disconnects;
    char last_error[128];
};

/* Groups the snapshot's runners by node and role: every worker has a runner of its own per node,
 * and operators think in nodes. Returns the number of groups; *out is the caller's to free. A
 * group's last_error is the last non-empty one among its runners. */
static int node_sums(const struct worker_snap *s, struct node_sum **out)
{
    struct node_sum *v = px_calloc((size_t)s->nbackends + 1, sizeof(*v));
    int n = 0;
    for (int i = 0; i < s->nbackends; i++) {
        const struct snap_backend *b = &s->backends[i];
        int k;
        for (k = 0; k < n; k++)
            if (v[k].readonly == b->readonly && strcmp(v[k].addr, b->addr) == 0) break;
        if (k == n) {
            snprintf(v[n].addr, sizeof(v[n].addr), "%s", b->addr);
            v[n].readonly = b->readonly;
            n++;
        }
        struct node_sum *x = &v[k];
        x->conns++;
        x->up += b->state == BACKEND_UP;
        x->inflight += b->inflight;
        x->sent += b->st.sent;
        x->replies += b->st.replies;
        x->connects += b->st.connects;
        x->failures += b->st.connect_failures;
        x->disconnects += b->st.disconnects;
        if (b->last_error[0]) snprintf(x->last_error, sizeof(x->last_error), "%s", b->last_error);
    }
    *out = v;
    return n;
}

/* ---- Prometheus text format ---- */

/* A family's HELP and TYPE lines, which Prometheus wants once, before its samples. */
static void family(struct sbuf *o, const char *name, const char *type, const char *help)
{
    sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value escaped as the exposition format requires: backslash, double quote, newline. */
static void label_value(struct sbuf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_printf(o, "\\%c", *v);
        else if (*v == '\n')
            sbuf_puts(o, "\\n");
        else
            sbuf_put(o, v, 1);
    }
}

/* One sample, with at most one label. */
static void sample(struct sbuf *o, const char *name, const char *label, const char *value,
                   unsigned long long v)
{
    sbuf_puts(o, name);
    if (label) {
        sbuf_printf(o, "{%s=\"", label);
        label_value(o, value);
        sbuf_puts(o, "\"}");
    }
    sbuf_printf(o, " %llu\n", v);
}

/* A family of a single sample without labels. */
static void one(struct sbuf *o, const char *name, const char *type, const char *help,
                unsigned long long v)
{
    family(o, name, type, help);
    sample(o, name, NULL, NULL, v);
}

/* In sections: the process and its clients, requests by command, errors and routing, the nodes
 * (from a snapshot), the topology, memory. */
/* Pool mode: the servers by state, and the placement's generation. */
static void pool_prometheus(struct sbuf *o, const struct slotmap_pool *p)
{
    unsigned long long live = 0, ejected = 0, unreachable = 0;
    for (int i = 0; i < p->nservers; i++) {
        ejected += (unsigned long long)p->servers[i].ejected;
        live += (unsigned long long)!p->servers[i].ejected;
        unreachable += (unsigned long long)!p->servers[i].reachable;
    }
    family(o, "slotproxy_pool_servers", "gauge",
           "Pool mode: configured servers, in the placement (live) or ejected; unreachable: "
           "those whose last probe failed, whether live or ejected.");
    sample(o, "slotproxy_pool_servers", "state", "live", live);
    sample(o, "slotproxy_pool_servers", "state", "ejected", ejected);
    sample(o, "slotproxy_pool_servers", "state", "unreachable", unreachable);
    one(o, "slotproxy_pool_placement_generation", "gauge",
        "Pool mode: grows by one each time the placement changes (reload, ejection, return).",
        p->gen);
}

void metrics_prometheus(const struct metrics_ctx *m, struct sbuf *o)
{
    uint64_t now = clock_wall_us();
    /* The version as a label of a constant 1, the usual way to export build information. */
    family(o, "slotproxy_info", "gauge", "Version of slotproxy (always 1).");
    sbuf_printf(o, "slotproxy_info{version=\"%s\"} 1\n", PX_VERSION);
    family(o, "slotproxy_uptime_seconds", "gauge", "Seconds since the proxy started.");
    sbuf_printf(o, "slotproxy_uptime_seconds %.3f\n", (double)(now - m->start_wall_us) / 1e6);
    one(o, "slotproxy_workers", "gauge", "Worker threads.", (unsigned long long)m->nworkers);
    one(o, "slotproxy_client_connections", "gauge", "Client connections open now.", clients_now(m));
    one(o, "slotproxy_client_connections_total", "counter", "Client connections accepted.",
        SUM(sessions_total));
    family(o, "slotproxy_client_connections_rejected_total", "counter",
           "Client connections refused at accept, by reason.");
    sample(o, "slotproxy_client_connections_rejected_total", "reason", "maxclients",
           SUM(rejected_conns));
    sample(o, "slotproxy_client_connections_rejected_total", "reason", "protected_mode",
           SUM(denied_conns));
    family(o, "slotproxy_client_connections_closed_total", "counter",
           "Client connections closed by the proxy, by reason.");
    sample(o, "slotproxy_client_connections_closed_total", "reason", "idle_timeout",
           SUM(closed_idle));
    sample(o, "slotproxy_client_connections_closed_total", "reason", "output_buffer_limit",
           SUM(closed_output));
    sample(o, "slotproxy_client_connections_closed_total", "reason", "query_buffer_limit",
           SUM(closed_query));
    sample(o, "slotproxy_client_connections_closed_total", "reason", "protocol_error",
           SUM(protocol_errors));
    family(o, "slotproxy_acl_denied_total", "counter",
           "Requests refused by the ACL rules of the client's user, and failed AUTHs, by reason "
           "(as INFO's acl_access_denied_*).");
    sample(o, "slotproxy_acl_denied_total", "reason", "auth", SUM(acl_denied_auth));
    sample(o, "slotproxy_acl_denied_total", "reason", "cmd", SUM(acl_denied_cmd));
    sample(o, "slotproxy_acl_denied_total", "reason", "key", SUM(acl_denied_key));
    sample(o, "slotproxy_acl_denied_total", "reason", "channel", SUM(acl_denied_channel));
    one(o, "slotproxy_client_reading_paused_total", "counter",
        "Times a client's reading paused at -max-inflight requests in flight.",
        SUM(inflight_pauses));
    one(o, "slotproxy_backend_timeouts_total", "counter",
        "Node connections recycled because a reply took longer than -backend-timeout.",
        SUM(backend_timeouts));
    one(o, "slotproxy_tracking_clients", "gauge", "Clients with CLIENT TRACKING on.",
        SUM(trk_clients));
    one(o, "slotproxy_tracking_keys", "gauge",
        "Keys remembered for client-side caching (over every worker).", SUM(trk_keys));
    one(o, "slotproxy_tracking_items", "gauge", "(key, reader) pairs remembered.",
        SUM(trk_items));
    one(o, "slotproxy_tracking_prefixes", "gauge", "BCAST prefixes followed.",
        SUM(trk_prefixes));
    one(o, "slotproxy_tracking_invalidations_total", "counter",
        "Invalidation messages sent to tracking clients.", SUM(trk_invalidations));
    one(o, "slotproxy_tracking_evictions_total", "counter",
        "Keys forgotten, and invalidated, at -tracking-table-max-keys.", SUM(trk_evictions));
    one(o, "slotproxy_stall_runners_suspected_total", "counter",
        "Connections to a master that stalled (-stall-threshold) and made it suspect.",
        SUM(stall_suspects));
    one(o, "slotproxy_stall_holds_released_total", "counter",
        "Answers of a suspect master held, then relayed once the cluster confirmed it.",
        SUM(stall_released));
    family(o, "slotproxy_stall_hold_seconds_total", "counter",
           "Time held answers waited for that confirmation.");
    sbuf_printf(o, "slotproxy_stall_hold_seconds_total %.6f\n", (double)SUM(stall_hold_us) / 1e6);
    family(o, "slotproxy_stall_hold_max_seconds", "gauge", "The longest such wait since the start.");
    sbuf_printf(o, "slotproxy_stall_hold_max_seconds %.6f\n",
                (double)max_off(m, offsetof(struct worker_stats, stall_hold_max_us)) / 1e6);
    one(o, "slotproxy_stall_runners_deposed_total", "counter",
        "Connections dropped unread because their suspect master was failed over.",
        SUM(stall_deposed));
    one(o, "slotproxy_stall_errors_total", "counter",
        "Requests failed because they were in flight to a master failed over while suspect, or "
        "not confirmed within -stall-hold.",
        SUM(stall_errors));
    /* Both sides, zeros included when TLS is off, so that rate() has a series from the start. */
    struct tls_stats tc = {0}, tn = {0};
    if (m->tls_clients) tls_ctx_stats(m->tls_clients, &tc);
    if (m->tls_nodes) tls_ctx_stats(m->tls_nodes, &tn);
    family(o, "slotproxy_tls_handshakes_total", "counter",
           "TLS handshakes completed, with clients (-tls-port) and with nodes (-tls-cluster).");
    sample(o, "slotproxy_tls_handshakes_total", "side", "clients", tc.handshakes);
    sample(o, "slotproxy_tls_handshakes_total", "side", "nodes", tn.handshakes);
    family(o, "slotproxy_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed or were given up (timeouts included), by side.");
    sample(o, "slotproxy_tls_handshake_failures_total", "side", "clients", tc.handshake_failures);
    sample(o, "slotproxy_tls_handshake_failures_total", "side", "nodes", tn.handshake_failures);
    one(o, "slotproxy_tls_handshake_timeouts_total", "counter",
        "TLS clients closed for not finishing their handshake within -tls-handshake-timeout.",
        SUM(tls_handshake_timeouts));

    uint32_t nc = commands_count();
    struct cmd_sum *sums = px_malloc(nc * sizeof(*sums));
    for (uint32_t id = 0; id < nc; id++) cmd_sum(m, id, &sums[id]);
    /* Requests count the rejected ones too, so that errors over requests is a true error rate.
     * Commands never called are left out: hundreds of commands times the histogram's buckets would
     * swamp the page. */
    family(o, "slotproxy_requests_total", "counter",
           "Requests answered, by command (rejected ones included).");
    for (uint32_t id = 0; id < nc; id++)
        if (sums[id].calls + sums[id].rejected)
            sample(o, "slotproxy_requests_total", "command", commands_by_id(id)->cmd->name,
                   sums[id].calls + sums[id].rejected);
    family(o, "slotproxy_request_errors_total", "counter",
           "Requests answered with an error, by command.");
    for (uint32_t id = 0; id < nc; id++)
        if (sums[id].calls + sums[id].rejected)
            sample(o, "slotproxy_request_errors_total", "command", commands_by_id(id)->cmd->name,
                   sums[id].failed + sums[id].rejected);
    family(o, "slotproxy_request_duration_seconds", "histogram",
           "Time from a request's parsing to its reply, by command.");
    for (uint32_t id = 0; id < nc; id++) {
        const struct cmd_sum c = sums[id];
        if (!c.calls) continue;
        const char *name = commands_by_id(id)->cmd->name;
        /* Stored per bucket, summed here: Prometheus wants cumulative buckets, with le in
         * seconds. */
        uint64_t cum = 0;
        for (int b = 0; b <= STATS_NBUCKETS; b++) {
            cum += c.buckets[b];
            sbuf_puts(o, "slotproxy_request_duration_seconds_bucket{command=\"");
            label_value(o, name);
            if (b < STATS_NBUCKETS)
                sbuf_printf(o, "\",le=\"%g\"} %llu\n", (double)stats_bucket_us[b] / 1e6,
                            (unsigned long long)cum);
            else
                sbuf_printf(o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        sbuf_puts(o, "slotproxy_request_duration_seconds_sum{command=\"");
        label_value(o, name);
        sbuf_printf(o, "\"} %.6f\n", (double)c.usec / 1e6);
        sbuf_puts(o, "slotproxy_request_duration_seconds_count{command=\"");
        label_value(o, name);
        sbuf_printf(o, "\"} %llu\n", (unsigned long long)c.calls);
    }
    px_free(sums);
    /* Every kind, zeros included, so that rate() has a series from the start. */
    family(o, "slotproxy_error_replies_total", "counter",
           "Error replies sent to clients, by error type (first word).");
    for (int e = 0; e < SERR_COUNT; e++)
        sample(o, "slotproxy_error_replies_total", "type", stats_err_names[e],
               sum_off(m, offsetof(struct worker_stats, errors) + (size_t)e * sizeof(stat_t)));
    family(o, "slotproxy_redirects_total", "counter", "MOVED and ASK redirections followed.");
    sample(o, "slotproxy_redirects_total", "type", "moved", SUM(moved));
    sample(o, "slotproxy_redirects_total", "type", "ask", SUM(ask));
    one(o, "slotproxy_tryagain_total", "counter", "TRYAGAIN answers retried.", SUM(tryagain));
    one(o, "slotproxy_requests_held_total", "counter",
        "Requests held because their node could not be reached yet.", SUM(held));
    one(o, "slotproxy_requests_hold_expired_total", "counter",
        "Held requests that failed after -failover-hold.", SUM(hold_expired));
    one(o, "slotproxy_connection_lost_errors_total", "counter",
        "Requests failed because their node connection broke after they were written.",
        SUM(conn_lost_errors));
    one(o, "slotproxy_noscript_reloads_total", "counter",
        "Scripts loaded again on a node that answered NOSCRIPT.", SUM(noscript_reloads));
    one(o, "slotproxy_replica_reads_total", "counter", "Reads sent to replicas.",
        SUM(replica_reads));
    one(o, "slotproxy_replica_fallbacks_total", "counter",
        "Reads that wanted a replica and were served by the master.", SUM(replica_fallbacks));
    one(o, "slotproxy_read_retries_total", "counter",
        "Reads sent again after their node connection broke.", SUM(read_retries));
    one(o, "slotproxy_pubsub_messages_total", "counter", "Pub/Sub messages delivered to clients.",
        SUM(pubsub_messages));
    one(o, "slotproxy_pubsub_clients_cut_total", "counter",
        "Subscribers disconnected for not reading.", SUM(pubsub_cut));
    one(o, "slotproxy_private_connections", "gauge",
        "Private node connections (transactions, blocking, Pub/Sub), leased or idle.",
        SUM(private_conns));
    one(o, "slotproxy_blocked_clients", "gauge",
        "Clients with a blocking command in flight (INFO's blocked_clients).",
        SUM(blocked_clients));
    one(o, "slotproxy_cross_slot_computed_total", "counter",
        "Commands whose keys span slots computed by the proxy (-cross-slot compute).",
        SUM(cross_computed));
    family(o, "slotproxy_cross_slot_failures_total", "counter",
           "Commands computed across slots that failed: with nothing written (or all put back), "
           "or half way, with a write that may be partial (the error says which).");
    sample(o, "slotproxy_cross_slot_failures_total", "kind", "failed", SUM(cross_failed));
    sample(o, "slotproxy_cross_slot_failures_total", "kind", "partial", SUM(cross_partial));
    family(o, "slotproxy_http_requests_total", "counter",
           "Requests answered by the HTTP/JSON front (-http-addr), by HTTP status.");
    for (int i = 0; i < HTTP_ST_COUNT; i++) {
        char code[16];
        snprintf(code, sizeof(code), "%u", stats_http_codes[i]);
        sample(o, "slotproxy_http_requests_total", "status",
               stats_http_codes[i] ? code : "other",
               m->http ? stat_get(&m->http->by_status[i]) : 0);
    }
    one(o, "slotproxy_net_input_bytes_total", "counter", "Bytes read from clients.",
        SUM(net_input_bytes));
    one(o, "slotproxy_net_output_bytes_total", "counter", "Bytes written to clients.",
        SUM(net_output_bytes));

    struct worker_snap *s = worker_snapshot(m->workers, m->nworkers, SNAP_TIMEOUT_MS, 0);
    struct node_sum *ns;
    int n = node_sums(s, &ns);
    /* Per node and role, one family for each of these fields of struct node_sum, read by offset. */
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } nf[] = {
        {"slotproxy_backend_connections", "gauge", "Shared connections to a node that are up.",
         offsetof(struct node_sum, up)},
        {"slotproxy_backend_requests_in_flight", "gauge",
         "Requests written or queued to a node and not answered yet.",
         offsetof(struct node_sum, inflight)},
        {"slotproxy_backend_requests_total", "counter", "Replies received from a node.",
         offsetof(struct node_sum, replies)},
        {"slotproxy_backend_connects_total", "counter", "Connections made to a node.",
         offsetof(struct node_sum, connects)},
        {"slotproxy_backend_connect_failures_total", "counter",
         "Connections to a node that could not be made.", offsetof(struct node_sum, failures)},
        {"slotproxy_backend_disconnects_total", "counter",
         "Working connections to a node that broke (each is followed by a reconnect).",
         offsetof(struct node_sum, disconnects)},
    };
    for (size_t f = 0; f < sizeof(nf) / sizeof(nf[0]); f++) {
        family(o, nf[f].name, nf[f].type, nf[f].help);
        for (int i = 0; i < n; i++) {
            unsigned long long v = *(const uint64_t *)((const char *)&ns[i] + nf[f].off);
            sbuf_printf(o, "%s{node=\"", nf[f].name);
            label_value(o, ns[i].addr);
            sbuf_printf(o, "\",role=\"%s\"} %llu\n", ns[i].readonly ? "replica" : "master", v);
        }
    }
    px_free(ns);
    worker_snap_put(s);

    struct topology_stats ts;
    topology_get_stats(m->topo, &ts);
    family(o, "slotproxy_topology_refreshes_total", "counter", "Slot map fetches, by result.");
    sample(o, "slotproxy_topology_refreshes_total", "result", "ok", ts.refresh_ok);
    sample(o, "slotproxy_topology_refreshes_total", "result", "failed", ts.refresh_failed);
    one(o, "slotproxy_topology_stale_views_total", "counter",
        "Views refused because they were older (lower config epochs) than the map in use.",
        ts.refresh_stale);
    family(o, "slotproxy_stall_suspects_total", "counter",
           "Masters that stalled (-stall-threshold) and became suspect, by verdict.");
    sample(o, "slotproxy_stall_suspects_total", "verdict", "reported", ts.suspects);
    sample(o, "slotproxy_stall_suspects_total", "verdict", "confirmed", ts.confirmed);
    sample(o, "slotproxy_stall_suspects_total", "verdict", "deposed", ts.deposed);
    sample(o, "slotproxy_stall_suspects_total", "verdict", "expired", ts.expired);
    one(o, "slotproxy_slot_map_version", "gauge",
        "Version (epoch) of the current slot map; grows by one per change.", ts.version);
    struct slotmap *map = topology_current(m->topo);
    /* Fewer than 16384 slots served means some keys cannot be served at all. */
    one(o, "slotproxy_slot_map_slots_served", "gauge", "Slots with a master in the slot map.",
        map ? (unsigned long long)map->covered : 0);
    if (map && map->pool) pool_prometheus(o, map->pool);
    slotmap_unref(map);
    struct px_mem_stats ms;
    px_mem_stats(&ms);
    /* From jemalloc's statistics; zero in sanitizer builds, whose allocator does not say. */
    one(o, "slotproxy_memory_allocated_bytes", "gauge", "Bytes allocated (jemalloc).",
        ms.allocated);
    one(o, "slotproxy_memory_resident_bytes", "gauge", "Resident bytes the allocator holds.",
        ms.resident);
}

/* ---- JSON ---- */

/* A JSON string. Control bytes and every byte outside printable ASCII are escaped as \u00XX, so the
 * output is valid JSON whatever bytes an address or an error text holds; non-ASCII text shows as
 * Latin-1 code points rather than as UTF-8. */
static void jstr(struct sbuf *o, const char *p)
{
    sbuf_put(o, "\"", 1);
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            sbuf_printf(o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            sbuf_printf(o, "\\u%04x", c);
        else
            sbuf_put(o, p, 1);
    }
    sbuf_put(o, "\"", 1);
}

/* The runners grouped by node and role (node_sums), each group with its runners per worker: state,
 * failing, requests in flight. */
static void backends_json(struct sbuf *o, const struct worker_snap *s)
{
    struct node_sum *ns;
    int n = node_sums(s, &ns);
    sbuf_puts(o, "[");
    for (int i = 0; i < n; i++) {
        sbuf_printf(o, "%s{\"node\":", i ? "," : "");
        jstr(o, ns[i].addr);
        sbuf_printf(o,
                    ",\"role\":\"%s\",\"connections\":%llu,\"connections_up\":%llu,"
                    "\"in_flight\":%llu,\"replies\":%llu,\"connects\":%llu,"
                    "\"connect_failures\":%llu,\"disconnects\":%llu,\"last_error\":",
                    ns[i].readonly ? "replica" : "master", (unsigned long long)ns[i].conns,
                    (unsigned long long)ns[i].up, (unsigned long long)ns[i].inflight,
                    (unsigned long long)ns[i].replies, (unsigned long long)ns[i].connects,
                    (unsigned long long)ns[i].failures, (unsigned long long)ns[i].disconnects);
        jstr(o, ns[i].last_error);
        sbuf_puts(o, ",\"workers\":[");
        int first = 1;
        for (int k = 0; k < s->nbackends; k++) {
            const struct snap_backend *b = &s->backends[k];
            if (b->readonly != ns[i].readonly || strcmp(b->addr, ns[i].addr)) continue;
            /* In the order of enum backend_state. */
            static const char *const states[] = {"idle", "connecting", "up", "backoff"};
            sbuf_printf(o, "%s{\"worker\":%d,\"state\":\"%s\",\"failing\":%s,\"in_flight\":%u}",
                        first ? "" : ",", b->worker, states[b->state],
                        b->failing ? "true" : "false", b->inflight);
            first = 0;
        }
        sbuf_puts(o, "]}");
    }
    sbuf_puts(o, "]");
    px_free(ns);
}

/* The figures of /metrics as one JSON object (expvar style), without the histograms, and with the
 * backends as /debug/backends shows them. */
void metrics_vars(const struct metrics_ctx *m, struct sbuf *o)
{
    uint64_t now = clock_wall_us();
    struct topology_stats ts;
    topology_get_stats(m->topo, &ts);
    struct px_mem_stats ms;
    px_mem_stats(&ms);
    sbuf_printf(o,
                "{\"version\":\"%s\",\"uptime_seconds\":%.3f,\"workers\":%d,"
                "\"clients\":{\"current\":%llu,\"total\":%llu,\"rejected\":%llu,"
                "\"denied_protected_mode\":%llu,\"closed_idle\":%llu,\"closed_output_limit\":%llu,"
                "\"closed_query_limit\":%llu,\"closed_protocol_error\":%llu,"
                "\"reading_paused\":%llu},\"backend_timeouts\":%llu,"
                "\"requests_total\":%llu,\"error_replies_total\":%llu,"
                "\"acl_denied\":{\"auth\":%llu,\"cmd\":%llu,\"key\":%llu,\"channel\":%llu},",
                PX_VERSION, (double)(now - m->start_wall_us) / 1e6, m->nworkers,
                (unsigned long long)clients_now(m), (unsigned long long)SUM(sessions_total),
                (unsigned long long)SUM(rejected_conns), (unsigned long long)SUM(denied_conns),
                (unsigned long long)SUM(closed_idle), (unsigned long long)SUM(closed_output),
                (unsigned long long)SUM(closed_query), (unsigned long long)SUM(protocol_errors),
                (unsigned long long)SUM(inflight_pauses), (unsigned long long)SUM(backend_timeouts),
                (unsigned long long)SUM(requests), (unsigned long long)SUM(error_replies),
                (unsigned long long)SUM(acl_denied_auth), (unsigned long long)SUM(acl_denied_cmd),
                (unsigned long long)SUM(acl_denied_key),
                (unsigned long long)SUM(acl_denied_channel));
    struct tls_stats tc = {0}, tn = {0};
    if (m->tls_clients) tls_ctx_stats(m->tls_clients, &tc);
    if (m->tls_nodes) tls_ctx_stats(m->tls_nodes, &tn);
    sbuf_printf(o,
                "\"tls\":{\"clients\":{\"enabled\":%s,\"handshakes\":%llu,"
                "\"handshake_failures\":%llu,\"handshake_timeouts\":%llu},"
                "\"nodes\":{\"enabled\":%s,\"handshakes\":%llu,\"handshake_failures\":%llu}},",
                m->tls_clients ? "true" : "false", (unsigned long long)tc.handshakes,
                (unsigned long long)tc.handshake_failures,
                (unsigned long long)SUM(tls_handshake_timeouts), m->tls_nodes ? "true" : "false",
                (unsigned long long)tn.handshakes, (unsigned long long)tn.handshake_failures);
    sbuf_puts(o, "\"commands\":{");
    uint32_t nc = commands_count();
    int first = 1;
    for (uint32_t id = 0; id < nc; id++) {
        struct cmd_sum c;
        cmd_sum(m, id, &c);
        if (!c.calls && !c.rejected) continue;
        sbuf_printf(o, "%s", first ? "" : ",");
        jstr(o, commands_by_id(id)->cmd->name);
        sbuf_printf(o, ":{\"calls\":%llu,\"usec\":%llu,\"rejected\":%llu,\"failed\":%llu}",
                    (unsigned long long)c.calls, (unsigned long long)c.usec,
                    (unsigned long long)c.rejected, (unsigned long long)c.failed);
        first = 0;
    }
    sbuf_puts(o, "},\"errors\":{");
    for (int e = 0; e < SERR_COUNT; e++)
        sbuf_printf(o, "%s\"%s\":%llu", e ? "," : "", stats_err_names[e],
                    (unsigned long long)sum_off(m, offsetof(struct worker_stats, errors) +
                                                       (size_t)e * sizeof(stat_t)));
    sbuf_printf(o,
                "},\"redirects\":{\"moved\":%llu,\"ask\":%llu},\"tryagain\":%llu,"
                "\"held\":%llu,\"hold_expired\":%llu,\"connection_lost_errors\":%llu,"
                "\"noscript_reloads\":%llu,\"replica_reads\":%llu,\"replica_fallbacks\":%llu,"
                "\"read_retries\":%llu,\"pubsub_messages\":%llu,\"pubsub_clients_cut\":%llu,"
                "\"private_connections\":%llu,"
                "\"net\":{\"input_bytes\":%llu,\"output_bytes\":%llu},"
                "\"memory\":{\"allocated_bytes\":%zu,\"resident_bytes\":%zu},"
                "\"topology\":{\"refreshes_ok\":%llu,\"refreshes_failed\":%llu,"
                "\"refreshes_requested\":%llu,\"stale_views\":%llu,\"slot_map_version\":%llu,"
                "\"last_refresh_unix_ms\":%llu},",
                (unsigned long long)SUM(moved), (unsigned long long)SUM(ask),
                (unsigned long long)SUM(tryagain), (unsigned long long)SUM(held),
                (unsigned long long)SUM(hold_expired), (unsigned long long)SUM(conn_lost_errors),
                (unsigned long long)SUM(noscript_reloads), (unsigned long long)SUM(replica_reads),
                (unsigned long long)SUM(replica_fallbacks), (unsigned long long)SUM(read_retries),
                (unsigned long long)SUM(pubsub_messages), (unsigned long long)SUM(pubsub_cut),
                (unsigned long long)SUM(private_conns), (unsigned long long)SUM(net_input_bytes),
                (unsigned long long)SUM(net_output_bytes), ms.allocated, ms.resident,
                (unsigned long long)ts.refresh_ok, (unsigned long long)ts.refresh_failed,
                (unsigned long long)ts.refresh_requested, (unsigned long long)ts.refresh_stale,
                (unsigned long long)ts.version, (unsigned long long)(ts.last_ok_wall_us / 1000));
    sbuf_printf(o,
                "\"cross_slot\":{\"mode\":\"%s\",\"computed\":%llu,\"failed\":%llu,"
                "\"partial\":%llu},\"http\":{\"requests\":{",
                config_cross_slot_name(m->cfg->cross_slot),
                (unsigned long long)SUM(cross_computed), (unsigned long long)SUM(cross_failed),
                (unsigned long long)SUM(cross_partial));
    for (int i = 0; i < HTTP_ST_COUNT; i++) {
        unsigned long long v = m->http ? stat_get(&m->http->by_status[i]) : 0;
        if (stats_http_codes[i])
            sbuf_printf(o, "%s\"%u\":%llu", i ? "," : "", stats_http_codes[i], v);
        else
            sbuf_printf(o, "%s\"other\":%llu", i ? "," : "", v);
    }
    sbuf_puts(o, "}},\"backends\":");
    struct worker_snap *s = worker_snapshot(m->workers, m->nworkers, SNAP_TIMEOUT_MS, 0);
    backends_json(o, s);
    worker_snap_put(s);
    sbuf_puts(o, "}\n");
}

/* A node of the map: address, id, health, config epoch, and for a replica whether reads may go to
 * it. */
static void node_json(struct sbuf *o, const struct slotmap_node *n)
{
    /* In the order of enum slotmap_health. */
    static const char *const health[] = {"online", "failed", "loading"};
    sbuf_puts(o, "{\"addr\":");
    jstr(o, n->addr);
    sbuf_puts(o, ",\"id\":");
    jstr(o, n->id);
    sbuf_printf(o, ",\"health\":\"%s\",\"config_epoch\":%lld", health[n->health], n->config_epoch);
    if (n->role == SLOTMAP_REPLICA) sbuf_printf(o, ",\"usable\":%s", n->usable ? "true" : "false");
    sbuf_puts(o, "}");
}

/* Pool mode: every configured server with its place (its slot, which is its shard), weight,
 * health and ejection. */
static void pool_json(struct sbuf *o, const struct slotmap_pool *p)
{
    sbuf_printf(o, ",\"pool\":{\"placement_generation\":%llu,\"servers_file\":",
                (unsigned long long)p->gen);
    jstr(o, p->source);
    sbuf_puts(o, ",\"servers\":[");
    for (int i = 0; i < p->nservers; i++) {
        const struct slotmap_pool_server *ps = &p->servers[i];
        sbuf_puts(o, i ? ",{\"addr\":" : "{\"addr\":");
        jstr(o, ps->addr);
        sbuf_puts(o, ",\"name\":");
        if (ps->name)
            jstr(o, ps->name);
        else
            sbuf_puts(o, "null");
        sbuf_printf(o,
                    ",\"weight\":%u,\"slot\":%d,\"ejected\":%s,\"retry_in_ms\":%llu,"
                    "\"reachable\":%s,\"failures\":%u,\"last_error\":",
                    ps->weight, ps->shard, ps->ejected ? "true" : "false",
                    (unsigned long long)ps->retry_in_ms, ps->reachable ? "true" : "false",
                    ps->failures);
        jstr(o, ps->last_error);
        sbuf_puts(o, "}");
    }
    sbuf_puts(o, "]}");
}

/* The current map as slot ranges: consecutive slots of one shard make a range, shown with its
 * master and replicas; unserved slots are left out (slots_served tells how many are served). */
void metrics_slots(const struct metrics_ctx *m, struct sbuf *o)
{
    struct slotmap *map = topology_current(m->topo);
    if (!map) {
        /* Before the first map: an answer of the same shape, with nothing in it. */
        sbuf_puts(o, "{\"version\":0,\"slots_served\":0,\"ranges\":[]}\n");
        return;
    }
    struct topology_stats ts;
    topology_get_stats(m->topo, &ts);
    sbuf_printf(o,
                "{\"version\":%llu,\"fetched_unix_ms\":%llu,\"last_refresh_unix_ms\":%llu,"
                "\"source\":",
                (unsigned long long)map->version, (unsigned long long)(map->fetched_wall_us / 1000),
                (unsigned long long)(ts.last_ok_wall_us / 1000));
    jstr(o, map->source);
    sbuf_puts(o, ",\"redis_version\":");
    jstr(o, map->redis_version);
    if (map->pool) pool_json(o, map->pool);
    sbuf_printf(o, ",\"slots_served\":%d,\"ranges\":[", map->covered);
    int first = 1;
    for (int s = 0; s < CRC16_SLOTS;) {
        int sh = map->slot_shard[s], e = s;
        while (e + 1 < CRC16_SLOTS && map->slot_shard[e + 1] == sh) e++;
        if (sh >= 0) {
            const struct slotmap_shard *shard = &map->shards[sh];
            sbuf_printf(o, "%s{\"from\":%d,\"to\":%d,\"master\":", first ? "" : ",", s, e);
            node_json(o, &map->nodes[shard->master]);
            sbuf_puts(o, ",\"replicas\":[");
            for (int r = 0; r < shard->nreplicas; r++) {
                if (r) sbuf_puts(o, ",");
                node_json(o, &map->nodes[shard->replicas[r]]);
            }
            sbuf_puts(o, "]}");
            first = 0;
        }
        s = e + 1;
    }
    sbuf_puts(o, "]}\n");
    slotmap_unref(map);
}

/* Runners per node, and each worker's count of private connections. */
void metrics_backends(const struct metrics_ctx *m, struct sbuf *o)
{
    struct worker_snap *s = worker_snapshot(m->workers, m->nworkers, SNAP_TIMEOUT_MS, 0);
    sbuf_puts(o, "{\"backends\":");
    backends_json(o, s);
    /* Private connections are not among the snapshot's runners (those are the shared ones): they
     * come as a count per worker, leased and idle together. */
    sbuf_puts(o, ",\"private_connections\":[");
    for (int i = 0; i < m->nworkers; i++)
        sbuf_printf(o, "%s{\"worker\":%d,\"count\":%d}", i ? "," : "", i, s->private_conns[i]);
    sbuf_puts(o, "]}\n");
    worker_snap_put(s);
}

/* Each worker's session count and load (worker_load, in CPUs), and up to METRICS_CLIENTS_MAX sessions described by the workers
 * themselves, one JSON object each (id, address, name, age, idle time, queued requests, output
 * bytes, subscribed, in a transaction); truncated says whether some were left out. */
void metrics_clients(const struct metrics_ctx *m, struct sbuf *o)
{
    struct worker_snap *s =
        worker_snapshot(m->workers, m->nworkers, SNAP_TIMEOUT_MS, METRICS_CLIENTS_MAX);
    sbuf_puts(o, "{\"workers\":[");
    for (int i = 0; i < m->nworkers; i++)
        sbuf_printf(o, "%s{\"worker\":%d,\"sessions\":%d,\"load\":%.3f}", i ? "," : "", i,
                    s->sessions[i], worker_load(m->workers[i]) / 1000.0);
    sbuf_puts(o, "],\"clients\":[");
    sbuf_put(o, s->clients.buf ? s->clients.buf : "", s->clients.len);
    sbuf_printf(o, "],\"truncated\":%s}\n", s->clients_truncated ? "true" : "false");
    worker_snap_put(s);
}

/* Ready means able to serve every key now: not shutting down, a map serving all 16384 slots (in
 * pool mode: at least one server in the placement), and no master (pool server) that a worker's
 * runner fails to reach. Every reason found is given, one per line. */
int metrics_ready(const struct metrics_ctx *m, struct sbuf *why)
{
    /* Sequentially consistent (the default): one load per probe, and main sets it once. */
    if (m->shutting_down && atomic_load(m->shutting_down)) {
        sbuf_puts(why, "shutting down\n");
        return 0;
    }
    struct slotmap *map = topology_current(m->topo);
    if (!map) {
        sbuf_puts(why, "no slot map yet: no cluster node has answered\n");
        return 0;
    }
    int ok = 1;
    if (map->pool && map->nshards == 0) {
        sbuf_puts(why, "every server of the pool is ejected\n");
        ok = 0;
    } else if (map->pool) {
        /* The probes' word, for servers no client has used yet. */
        for (int i = 0; i < map->pool->nservers; i++) {
            const struct slotmap_pool_server *ps = &map->pool->servers[i];
            if (ps->ejected || ps->reachable) continue;
            sbuf_printf(why, "server %s does not answer: %s\n", ps->addr, ps->last_error);
            ok = 0;
        }
    } else if (!map->pool && map->covered != CRC16_SLOTS) {
        sbuf_printf(why, "the slot map serves %d of %d slots\n", map->covered, CRC16_SLOTS);
        ok = 0;
    }
    struct worker_snap *s = worker_snapshot(m->workers, m->nworkers, SNAP_TIMEOUT_MS, 0);
    /* A master is unreachable when any worker's shared runner to it is backing off or failing;
     * runners to replicas (readonly) do not count here. */
    for (int i = 0; i < map->nshards; i++) {
        const struct slotmap_node *mn = &map->nodes[map->shards[i].master];
        for (int k = 0; k < s->nbackends; k++) {
            const struct snap_backend *b = &s->backends[k];
            if (!b->readonly && (b->state == BACKEND_BACKOFF || b->failing) &&
                strcmp(b->addr, mn->addr) == 0) {
                sbuf_printf(why, "master %s is unreachable: %s\n", mn->addr, b->last_error);
                ok = 0;
                break;
            }
        }
    }
    worker_snap_put(s);
    slotmap_unref(map);
    return ok;
}
