/*
 * Pool mode's servers and their health; see pool.h. The topology thread owns a struct pool: it
 * asks pool_should_probe which servers to look at, probes them, hands each result to
 * pool_note_probe (which counts failures and ejects or brings back a server), and publishes
 * pool_build_map's map. The config layer uses the list parsers and pool_check at startup, so a
 * bad servers file stops the proxy before it serves; pool_reload applies the same checks on
 * SIGHUP and keeps the old list when the new one is bad.
 */
#include "pool.h"

#include "log.h"
#include "mem.h"
#include "px_errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One configured server and what the probes found of it. */
struct pool_srv {
    struct placement_server s; /* strings in the pool's list */
    char ip[SLOTMAP_IP_MAX];   /* as last resolved; "" before */
    int reachable;             /* the last probe answered (1 before any) */
    int ejected;
    uint32_t failures; /* probes failed in a row */
    uint64_t retry_at_ms;
    char last_error[128];
    int nreplicas;
    struct pool_replica replicas[POOL_MAX_REPLICAS];
};

struct pool {
    struct pool_config cfg; /* file and text point at copies owned here */
    char *file, *text;
    struct serverlist list;
    enum pool_format fmt;
    struct pool_srv *srv;
    size_t n;
    uint64_t gen;
    int changed; /* the placement must be made again (a new generation) */
};

/* ---- the list ---------------------------------------------------------------------------- */

int pool_parse_list(const char *buf, size_t len, struct serverlist *out, enum pool_format *fmt,
                    char *err, size_t errlen)
{
    struct serverlist_error e1, e2;
    if (serverlist_parse_twemproxy(buf, len, out, &e1) == 0) {
        *fmt = POOL_FORMAT_TWEMPROXY;
        return 0;
    }
    if (serverlist_parse_ketama(buf, len, out, &e2) == 0) {
        *fmt = POOL_FORMAT_REDIS_ROUTER;
        return 0;
    }
    /* Neither: the message of the format the list looks most like, the one that got further. */
    const struct serverlist_error *e = e2.line > e1.line ? &e2 : &e1;
    snprintf(err, errlen, "%s (expected \"host:port:weight [name]\" or \"host:port weight\" lines)",
             e->msg);
    return PX_EINVAL;
}

int pool_load_file(const char *path, struct serverlist *out, enum pool_format *fmt, char *err,
                   size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read servers file %s: %s", path, strerror(errno));
        return PX_EINVAL;
    }
    char *buf = px_malloc(POOL_FILE_MAX + 1);
    size_t len = fread(buf, 1, POOL_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc = 0;
    if (bad) {
        snprintf(err, errlen, "cannot read servers file %s", path);
        rc = PX_EINVAL;
    } else if (len > POOL_FILE_MAX) {
        snprintf(err, errlen, "servers file %s is larger than %u bytes", path, POOL_FILE_MAX);
        rc = PX_EINVAL;
    } else {
        char msg[256];
        rc = pool_parse_list(buf, len, out, fmt, msg, sizeof(msg));
        if (rc) snprintf(err, errlen, "servers file %s: %s", path, msg);
    }
    px_free(buf);
    return rc;
}

int pool_server_line(const char *spec, char *out, size_t outlen)
{
    while (*spec == ' ' || *spec == '\t') spec++;
    size_t alen = strcspn(spec, " \t");
    const char *name = spec + alen;
    while (*name == ' ' || *name == '\t') name++;
    size_t nlen = strlen(name);
    while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t')) nlen--;
    if (alen == 0 || memchr(name, ' ', nlen) || memchr(name, '\t', nlen)) return PX_EINVAL;
    /* The colons that separate port and weight: those after a bracketed IPv6 address ("[::1]"),
     * or all of them (an IPv6 address without brackets needs its weight, read from the end). */
    const char *tail = spec;
    if (spec[0] == '[') {
        tail = memchr(spec, ']', alen);
        if (!tail) return PX_EINVAL;
    }
    int colons = 0;
    for (const char *q = tail; q < spec + alen; q++) colons += *q == ':';
    if (colons == 0 || spec[alen - 1] == ':') return PX_EINVAL;
    /* One colon: host:port, weight 1. More: twemproxy's host:port:weight, read from the end. */
    int w = snprintf(out, outlen, "%.*s%s%s%.*s", (int)alen, spec, colons == 1 ? ":1" : "",
                     nlen ? " " : "", (int)nlen, name);
    if (w < 0 || (size_t)w >= outlen) return PX_EINVAL;
    /* The parser has the last word on ports and weights. */
    struct serverlist sl;
    struct serverlist_error e;
    if (serverlist_parse_twemproxy(out, (size_t)w, &sl, &e) != 0) return PX_EINVAL;
    int one = sl.n == 1;
    serverlist_deinit(&sl);
    return one ? 0 : PX_EINVAL;
}

/* A host with a colon must be an IPv6 address, in brackets or not: "::1:7623" without a weight
 * reads as host ":" port 1 weight 7623, which no server answers. */
static int host_ok(const char *host)
{
    char a[64];
    size_t n = strlen(host);
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof(a)) return 0;
        memcpy(a, host + 1, n - 2);
        a[n - 2] = '\0';
    } else if (strchr(host, ':')) {
        if (n >= sizeof(a)) return 0;
        memcpy(a, host, n + 1);
    } else {
        return 1;
    }
    struct in6_addr six;
    return inet_pton(AF_INET6, a, &six) == 1;
}

/* One host written two ways: an IPv6 address with brackets and without. */
static int same_host(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (a[0] == '[' && la >= 2) {
        a++;
        la -= 2;
    }
    if (b[0] == '[' && lb >= 2) {
        b++;
        lb -= 2;
    }
    return la == lb && strncasecmp(a, b, la) == 0;
}

int pool_check(const struct placement_opts *o, const struct serverlist *sl, char *err,
               size_t errlen)
{
    for (size_t i = 0; i < sl->n; i++)
        if (!host_ok(sl->servers[i].host)) {
            snprintf(err, errlen,
                     "server host %s is not an address: write IPv6 as [addr]:port:weight",
                     sl->servers[i].host);
            return PX_EINVAL;
        }
    if (sl->n > POOL_MAX_SERVERS) {
        snprintf(err, errlen, "%zu servers; a pool has at most %d", sl->n, POOL_MAX_SERVERS);
        return PX_EINVAL;
    }
    for (size_t i = 0; i < sl->n; i++)
        for (size_t j = 0; j < i; j++)
            if (sl->servers[i].port == sl->servers[j].port &&
                same_host(sl->servers[i].host, sl->servers[j].host)) {
                snprintf(err, errlen, "server %s:%d is listed twice", sl->servers[i].host,
                         sl->servers[i].port);
                return PX_EINVAL;
            }
    struct placement *pl;
    if (placement_create(o, sl->servers, sl->n, &pl) != 0) {
        const char *why = "invalid server list";
        if (o->dist == PLACEMENT_CRC32_MOD && o->hash_tag[0])
            why = "crc32-mod has rediscluster-py's hash-tag rule built in; -hash-tag cannot be set";
        else if (o->dist == PLACEMENT_LIBKETAMA)
            why = "libketama takes addresses (or names) of at most 23 bytes";
        else if (o->dist != PLACEMENT_CRC32_MOD)
            why = "two servers have the same name (or the same host:port without a name)";
        snprintf(err, errlen, "%s", why);
        return PX_EINVAL;
    }
    placement_free(pl);
    return 0;
}

/* Reads the list the configuration names (the file, else the flags' lines) into *out. */
static int read_list(const struct pool *p, struct serverlist *out, enum pool_format *fmt,
                     char *err, size_t errlen)
{
    int rc;
    if (p->file) {
        rc = pool_load_file(p->file, out, fmt, err, errlen);
    } else {
        char msg[256];
        const char *text = p->text ? p->text : "";
        rc = pool_parse_list(text, strlen(text), out, fmt, msg, sizeof(msg));
        if (rc) snprintf(err, errlen, "-pool-server: %s", msg);
    }
    if (rc) return rc;
    char msg[256];
    rc = pool_check(&p->cfg.opts, out, msg, sizeof(msg));
    if (rc) {
        snprintf(err, errlen, "%s: %s", p->file ? p->file : "-pool-server", msg);
        serverlist_deinit(out);
    }
    return rc;
}

static int same_server(const struct placement_server *a, const struct placement_server *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0 &&
           (a->name == NULL) == (b->name == NULL) && (!a->name || strcmp(a->name, b->name) == 0);
}

/* Takes over list as the pool's servers; each keeps the state it had under old, if any. */
static void adopt_list(struct pool *p, struct serverlist *list, enum pool_format fmt)
{
    struct pool_srv *srv = px_calloc(list->n ? list->n : 1, sizeof(*srv));
    for (size_t i = 0; i < list->n; i++) {
        srv[i].s = list->servers[i];
        srv[i].reachable = 1;
        for (size_t j = 0; j < p->n; j++) {
            if (!same_server(&p->srv[j].s, &list->servers[i])) continue;
            srv[i] = p->srv[j];
            srv[i].s = list->servers[i]; /* the strings now live in the new list */
            break;
        }
    }
    px_free(p->srv);
    serverlist_deinit(&p->list);
    p->list = *list;
    p->fmt = fmt;
    p->srv = srv;
    p->n = list->n;
    p->changed = 1;
}

int pool_create(const struct pool_config *cfg, struct pool **out, char *err, size_t errlen)
{
    struct pool *p = px_calloc(1, sizeof(*p));
    p->cfg = *cfg;
    p->file = cfg->file ? px_strdup(cfg->file) : NULL;
    p->text = cfg->text ? px_strdup(cfg->text) : NULL;
    p->cfg.file = p->file;
    p->cfg.text = p->text;
    if (p->cfg.failure_limit == 0) p->cfg.failure_limit = 1;
    struct serverlist list;
    enum pool_format fmt;
    if (read_list(p, &list, &fmt, err, errlen) != 0) {
        pool_free(p);
        *out = NULL;
        return PX_EINVAL;
    }
    adopt_list(p, &list, fmt);
    *out = p;
    return 0;
}

void pool_free(struct pool *p)
{
    if (!p) return;
    serverlist_deinit(&p->list);
    px_free(p->srv);
    px_free(p->file);
    px_free(p->text);
    px_free(p);
}

int pool_reload(struct pool *p, char *err, size_t errlen)
{
    if (!p->file) return 0;
    struct serverlist list;
    enum pool_format fmt;
    if (read_list(p, &list, &fmt, err, errlen) != 0) return PX_EINVAL;
    int same = list.n == p->n;
    for (size_t i = 0; same && i < list.n; i++)
        same = same_server(&list.servers[i], &p->srv[i].s) &&
               list.servers[i].weight == p->srv[i].s.weight;
    if (same) {
        serverlist_deinit(&list);
        return 0;
    }
    adopt_list(p, &list, fmt);
    return 1;
}

enum pool_format pool_format_of(const struct pool *p)
{
    return p->fmt;
}

size_t pool_size(const struct pool *p)
{
    return p->n;
}

const struct placement_server *pool_server(const struct pool *p, size_t i)
{
    return &p->srv[i].s;
}

/* ---- health ------------------------------------------------------------------------------ */

int pool_should_probe(const struct pool *p, size_t i, uint64_t now_ms)
{
    return !p->srv[i].ejected || now_ms >= p->srv[i].retry_at_ms;
}

void pool_note_probe(struct pool *p, size_t i, const struct pool_probe *pr, uint64_t now_ms)
{
    struct pool_srv *s = &p->srv[i];
    if (pr->ip[0]) snprintf(s->ip, sizeof(s->ip), "%s", pr->ip);
    if (pr->ok) {
        s->reachable = 1;
        s->failures = 0;
        s->last_error[0] = '\0';
        s->nreplicas = pr->nreplicas < POOL_MAX_REPLICAS ? pr->nreplicas : POOL_MAX_REPLICAS;
        memcpy(s->replicas, pr->replicas, (size_t)s->nreplicas * sizeof(s->replicas[0]));
        if (s->ejected) {
            s->ejected = 0;
            p->changed = 1;
            log_info("pool: server %s:%d answers again; it is back in the placement", s->s.host,
                     s->s.port);
        }
        return;
    }
    s->reachable = 0;
    s->nreplicas = 0;
    snprintf(s->last_error, sizeof(s->last_error), "%s", pr->err);
    if (s->ejected) {
        /* Still down at its retry time: ejected for another timeout. */
        s->retry_at_ms = now_ms + p->cfg.retry_timeout_ms;
        return;
    }
    s->failures++;
    if (!p->cfg.auto_eject || s->failures < p->cfg.failure_limit) return;
    s->ejected = 1;
    s->failures = 0;
    s->retry_at_ms = now_ms + p->cfg.retry_timeout_ms;
    p->changed = 1;
    log_warn("pool: server %s:%d failed %u probe(s) in a row (%s); ejected for %llu ms, its keys "
             "go to the other servers meanwhile",
             s->s.host, s->s.port, p->cfg.failure_limit, s->last_error,
             (unsigned long long)p->cfg.retry_timeout_ms);
}

void pool_note_ip(struct pool *p, size_t i, const char *ip)
{
    snprintf(p->srv[i].ip, sizeof(p->srv[i].ip), "%s", ip);
}

uint64_t pool_next_due(const struct pool *p, uint64_t last_ms, uint64_t interval_ms)
{
    uint64_t due = last_ms + interval_ms;
    for (size_t i = 0; i < p->n; i++) {
        const struct pool_srv *s = &p->srv[i];
        if (s->ejected) {
            if (s->retry_at_ms < due) due = s->retry_at_ms;
        } else if (p->cfg.auto_eject && s->failures > 0 && last_ms + POOL_FAST_PROBE_MS < due) {
            due = last_ms + POOL_FAST_PROBE_MS;
        }
    }
    return due;
}

int pool_parse_replicas(const char *info, struct pool_replica *out, int max)
{
    int n = 0;
    for (const char *line = info; line && *line && n < max;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        /* "slave<N>:ip=<ip>,port=<port>,state=<state>,offset=...,lag=..." */
        if (len > 6 && strncmp(line, "slave", 5) == 0 && line[5] >= '0' && line[5] <= '9') {
            char buf[512];
            size_t bl = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
            memcpy(buf, line, bl);
            buf[bl] = '\0';
            char *p = strchr(buf, ':');
            struct pool_replica r = {.port = 0};
            char *save = NULL;
            for (char *f = p ? strtok_r(p + 1, ",\r", &save) : NULL; f;
                 f = strtok_r(NULL, ",\r", &save)) {
                if (strncmp(f, "ip=", 3) == 0)
                    snprintf(r.ip, sizeof(r.ip), "%s", f + 3);
                else if (strncmp(f, "port=", 5) == 0)
                    r.port = atoi(f + 5);
                else if (strncmp(f, "state=", 6) == 0)
                    r.online = strcmp(f + 6, "online") == 0;
            }
            if (r.ip[0] && r.port > 0 && r.port <= 65535) out[n++] = r;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* ---- the map ----------------------------------------------------------------------------- */

/* The description of the pool the map carries (copies). */
static struct slotmap_pool *describe(const struct pool *p, uint64_t now_ms)
{
    struct slotmap_pool *d = px_calloc(1, sizeof(*d));
    d->gen = p->gen;
    d->strip = p->cfg.strip;
    d->nservers = (int)p->n;
    d->servers = px_calloc(p->n ? p->n : 1, sizeof(*d->servers));
    snprintf(d->source, sizeof(d->source), "%s", p->file ? p->file : "-pool-server");
    int shard = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct pool_srv *s = &p->srv[i];
        struct slotmap_pool_server *o = &d->servers[i];
        size_t al = strlen(s->s.host) + 8;
        o->addr = px_malloc(al);
        snprintf(o->addr, al, "%s:%d", s->s.host, s->s.port);
        o->name = s->s.name ? px_strdup(s->s.name) : NULL;
        o->weight = s->s.weight;
        o->ejected = s->ejected;
        o->shard = s->ejected ? -1 : shard++;
        o->reachable = s->reachable;
        o->failures = s->failures;
        o->retry_in_ms = s->ejected && s->retry_at_ms > now_ms ? s->retry_at_ms - now_ms : 0;
        snprintf(o->last_error, sizeof(o->last_error), "%s", s->last_error);
    }
    return d;
}

struct slotmap *pool_build_map(struct pool *p, uint64_t now_ms)
{
    struct placement_server *live = px_calloc(p->n ? p->n : 1, sizeof(*live));
    size_t nlive = 0;
    struct slotmap *m = slotmap_create();
    for (size_t i = 0; i < p->n; i++) {
        const struct pool_srv *s = &p->srv[i];
        if (s->ejected) continue;
        live[nlive] = s->s;
        const char *ip = s->ip[0] ? s->ip : s->s.host;
        int node = slotmap_add_node(m, "", ip, s->s.port, SLOTMAP_MASTER,
                                    s->reachable ? SLOTMAP_ONLINE : SLOTMAP_FAILED, 0);
        int shard = slotmap_add_shard(m, node);
        slotmap_assign(m, (int)nlive, (int)nlive, shard);
        nlive++;
    }
    /* Replicas after every master, so that a replica that is also listed as a pool server
     * (a mistake) is not added twice. */
    for (size_t i = 0, shard = 0; i < p->n; i++) {
        const struct pool_srv *s = &p->srv[i];
        if (s->ejected) continue;
        for (int k = 0; k < s->nreplicas; k++) {
            const struct pool_replica *r = &s->replicas[k];
            char addr[SLOTMAP_ADDR_MAX];
            slotmap_format_addr(addr, sizeof(addr), r->ip, r->port);
            if (slotmap_find_addr(m, addr) >= 0) continue;
            int node = slotmap_add_node(m, "", r->ip, r->port, SLOTMAP_REPLICA,
                                        r->online ? SLOTMAP_ONLINE : SLOTMAP_LOADING, 0);
            slotmap_shard_add_replica(m, (int)shard, node);
        }
        shard++;
    }
    if (p->changed) {
        p->gen++;
        p->changed = 0;
    }
    m->pool = describe(p, now_ms);
    if (nlive > 0 && placement_create(&p->cfg.opts, live, nlive, &m->pool->placement) != 0) {
        px_free(live);
        slotmap_unref(m);
        return NULL;
    }
    px_free(live);
    return m;
}
