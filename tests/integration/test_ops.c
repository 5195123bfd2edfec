/*
 * Operations: the debug port (-debug-addr) while traffic flows through the proxy, the config
 * file (-config), and graceful shutdown.
 *
 * /metrics is parsed with a strict exposition-format checker (HELP and TYPE before every family,
 * families contiguous, valid names, labels and values, no duplicate series, histograms cumulative
 * with _sum, _count and a +Inf bucket equal to _count, counters named _total) and its counters are
 * checked to move with the traffic this test sends. /debug/slots is compared with CLUSTER SHARDS,
 * the JSON documents are parsed by Python's json module (ops_check.py), the CPU profile is read
 * back with google-pprof. Graceful shutdown: a client pipelines SETs without pause, the proxy gets
 * SIGTERM, and every SET the client saw +OK for is in the cluster and every key in the cluster was
 * answered +OK: no reply is lost.
 */
#include "harness.h"
#include "suites.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static int ops_port(void)
{
    return h_env.proxy_port + 350;
}

static int ops_debug_port(void)
{
    return h_env.proxy_port + 351;
}

static void ops_check_script(char *out, size_t cap)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", PX_CLUSTER_SCRIPT);
    snprintf(out, cap, "%s/integration/ops_check.py", dirname(tmp));
}

/* Saves body to workdir/name and returns the path in path. */
static void save(const char *name, const struct h_http *h, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", h_env.workdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(h->body, 1, h->len, f);
    fclose(f);
}

/* ---- a strict Prometheus text-format (0.0.4) checker ---- */

struct prom_family {
    char name[128];
    char type[16];
    int help, typed, closed;
};

struct prom {
    struct prom_family fam[256];
    int nfam;
    char **series; /* "name{labels}" of every sample, for duplicates */
    int nseries, capseries;
    char err[1024];
};

static int name_ok(const char *p, size_t n, int colon)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

static struct prom_family *fam_find(struct prom *p, const char *name)
{
    for (int i = 0; i < p->nfam; i++)
        if (strcmp(p->fam[i].name, name) == 0) return &p->fam[i];
    return NULL;
}

/* The family a sample belongs to: histograms own name_bucket, name_sum and name_count. */
static struct prom_family *fam_of_sample(struct prom *p, const char *name)
{
    struct prom_family *f = fam_find(p, name);
    if (f) return f;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(name), m = strlen(sfx[i]);
        if (n > m && strcmp(name + n - m, sfx[i]) == 0) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(n - m), name);
            f = fam_find(p, base);
            if (f && (strcmp(f->type, "histogram") == 0 || strcmp(f->type, "summary") == 0))
                return f;
        }
    }
    return NULL;
}

/* Opens family name (HELP or TYPE or a sample): families must be contiguous. */
static struct prom_family *fam_open(struct prom *p, const char *name, int line)
{
    struct prom_family *f = fam_find(p, name);
    for (int i = 0; i < p->nfam; i++)
        if (&p->fam[i] != f) p->fam[i].closed = 1;
    if (f) {
        if (f->closed) {
            snprintf(p->err, sizeof(p->err), "line %d: family %s appears again after others", line,
                     name);
            return NULL;
        }
        return f;
    }
    ck_assert_int_lt(p->nfam, 256);
    f = &p->fam[p->nfam++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    return f;
}

/* Parses one label set "{a="x",b="y"}" at *s; returns 0 or -1. */
static int labels_ok(const char **s)
{
    const char *q = *s;
    if (*q != '{') return 0;
    q++;
    while (*q != '}') {
        const char *n = q;
        while (*q && *q != '=') q++;
        if (*q != '=' || !name_ok(n, (size_t)(q - n), 0)) return -1;
        q++;
        if (*q++ != '"') return -1;
        while (*q && *q != '"') {
            if (*q == '\\') {
                q++;
                if (*q != '\\' && *q != '"' && *q != 'n') return -1;
            } else if (*q == '\n') {
                return -1;
            }
            q++;
        }
        if (*q++ != '"') return -1;
        if (*q == ',')
            q++;
        else if (*q != '}')
            return -1;
    }
    *s = q + 1;
    return 0;
}

static int value_ok(const char *v, double *out)
{
    if (strcmp(v, "+Inf") == 0) return *out = INFINITY, 1;
    if (strcmp(v, "-Inf") == 0) return *out = -INFINITY, 1;
    if (strcmp(v, "NaN") == 0) return *out = NAN, 1;
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    return end != v && *end == 0 && errno == 0;
}

/* The value of label key in a series' label text, or NULL. */
static const char *label_get(const char *labels, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "%s=\"", key);
    const char *p = labels;
    while ((p = strstr(p, pat)) != NULL) {
        if (p == labels || p[-1] == '{' || p[-1] == ',') {
            p += strlen(pat);
            const char *e = strchr(p, '"');
            snprintf(out, cap, "%.*s", (int)(e - p), p);
            return out;
        }
        p++;
    }
    return NULL;
}

/* The labels without le, for grouping histogram series. */
static void labels_without_le(const char *labels, char *out, size_t cap)
{
    out[0] = 0;
    const char *p = labels;
    if (*p != '{') return;
    p++;
    size_t o = 0;
    while (*p && *p != '}') {
        const char *start = p;
        int in_quote = 0;
        while (*p && (in_quote || (*p != ',' && *p != '}'))) {
            if (*p == '\\' && in_quote)
                p++;
            else if (*p == '"')
                in_quote = !in_quote;
            p++;
        }
        if (strncmp(start, "le=", 3) != 0) {
            o += (size_t)snprintf(out + o, cap - o, "%.*s,", (int)(p - start), start);
            if (o >= cap) o = cap - 1;
        }
        if (*p == ',') p++;
    }
}

struct hist_state {
    char key[700]; /* family + labels without le */
    double last_le, last_count, inf_count;
    int buckets, has_inf, has_sum, has_count;
    double count;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns 0 when text is valid exposition format; otherwise -1 with the reason in p->err. */
static int prom_check(struct prom *p, const char *text)
{
    memset(p, 0, sizeof(*p));
    size_t tl = strlen(text);
    if (tl == 0 || text[tl - 1] != '\n') {
        snprintf(p->err, sizeof(p->err), "the text does not end with a newline");
        return -1;
    }
    struct hist_state *hs = calloc(4096, sizeof(*hs));
    int nhs = 0;
    char *copy = strdup(text), *save = NULL;
    int line = 0, rc = 0;
    for (char *l = strtok_r(copy, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (l[0] == '#') {
            char kind[8], name[256];
            int off = 0;
            if (sscanf(l, "# %7s %255s %n", kind, name, &off) < 2 ||
                (strcmp(kind, "HELP") != 0 && strcmp(kind, "TYPE") != 0))
                continue; /* a plain comment */
            if (!name_ok(name, strlen(name), 1)) {
                snprintf(p->err, sizeof(p->err), "line %d: bad metric name %s", line, name);
                rc = -1;
                break;
            }
            struct prom_family *f = fam_open(p, name, line);
            if (!f) {
                rc = -1;
                break;
            }
            const char *rest = l + off;
            if (strcmp(kind, "HELP") == 0) {
                if (f->help || !*rest) {
                    snprintf(p->err, sizeof(p->err), "line %d: HELP for %s %s", line, name,
                             f->help ? "twice" : "empty");
                    rc = -1;
                    break;
                }
                for (const char *q = rest; *q; q++)
                    if (*q == '\\' && q[1] != '\\' && q[1] != 'n') {
                        snprintf(p->err, sizeof(p->err), "line %d: bad escape in HELP", line);
                        rc = -1;
                    }
                f->help = 1;
            } else {
                static const char *const types[] = {"counter", "gauge", "histogram", "summary",
                                                    "untyped"};
                int ok = 0;
                for (int i = 0; i < 5; i++) ok |= strcmp(rest, types[i]) == 0;
                if (!ok || f->typed) {
                    snprintf(p->err, sizeof(p->err), "line %d: TYPE %s: %s", line, name,
                             f->typed ? "given twice" : "unknown type");
                    rc = -1;
                    break;
                }
                snprintf(f->type, sizeof(f->type), "%s", rest);
                f->typed = 1;
            }
            continue;
        }
        /* A sample: name[{labels}] value [timestamp] */
        const char *q = l;
        while (*q && *q != '{' && *q != ' ') q++;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(q - l), l);
        const char *lab = q;
        if (!name_ok(name, strlen(name), 1) || labels_ok(&q) < 0 || *q != ' ') {
            snprintf(p->err, sizeof(p->err), "line %d: malformed sample: %s", line, l);
            rc = -1;
            break;
        }
        char labels[512];
        snprintf(labels, sizeof(labels), "%.*s", (int)(q - lab), lab);
        q++;
        char val[64], ts[64];
        int nf = sscanf(q, "%63s %63s", val, ts);
        double v;
        if (nf < 1 || !value_ok(val, &v)) {
            snprintf(p->err, sizeof(p->err), "line %d: bad value: %s", line, l);
            rc = -1;
            break;
        }
        struct prom_family *f = fam_of_sample(p, name);
        if (!f || !f->help || !f->typed) {
            snprintf(p->err, sizeof(p->err), "line %d: sample %s without HELP and TYPE before it",
                     line, name);
            rc = -1;
            break;
        }
        if (!fam_open(p, f->name, line)) {
            rc = -1;
            break;
        }
        if (p->nseries == p->capseries) {
            p->capseries = p->capseries ? p->capseries * 2 : 256;
            p->series = realloc(p->series, (size_t)p->capseries * sizeof(char *));
        }
        char series[800];
        snprintf(series, sizeof(series), "%s%s", name, labels);
        p->series[p->nseries++] = strdup(series);
        if (strcmp(f->type, "counter") == 0 && v < 0) {
            snprintf(p->err, sizeof(p->err), "line %d: negative counter", line);
            rc = -1;
        }
        if (strcmp(f->type, "histogram") == 0) {
            char key[700], rest[512];
            labels_without_le(labels, rest, sizeof(rest));
            snprintf(key, sizeof(key), "%s|%s", f->name, rest);
            struct hist_state *h = NULL;
            for (int i = 0; i < nhs; i++)
                if (strcmp(hs[i].key, key) == 0) h = &hs[i];
            if (!h) {
                ck_assert_int_lt(nhs, 4096);
                h = &hs[nhs++];
                snprintf(h->key, sizeof(h->key), "%s", key);
                h->last_le = -INFINITY;
            }
            size_t nl = strlen(name);
            if (nl > 7 && strcmp(name + nl - 7, "_bucket") == 0) {
                char le[64];
                double lev = 0;
                if (!label_get(labels, "le", le, sizeof(le)) || !value_ok(le, &lev) ||
                    lev <= h->last_le || v < h->last_count || h->has_sum || h->has_count) {
                    snprintf(p->err, sizeof(p->err),
                             "line %d: histogram bucket out of order or not cumulative: %s", line,
                             l);
                    rc = -1;
                }
                h->last_le = lev;
                h->last_count = v;
                h->buckets++;
                if (isinf(lev)) h->has_inf = 1, h->inf_count = v;
            } else if (nl > 4 && strcmp(name + nl - 4, "_sum") == 0) {
                h->has_sum = 1;
            } else {
                h->has_count = 1;
                h->count = v;
            }
        }
    }
    free(copy);
    for (int i = 0; i < nhs && rc == 0; i++) {
        struct hist_state *h = &hs[i];
        if (!h->has_inf || !h->has_sum || !h->has_count || h->count != h->inf_count) {
            snprintf(p->err, sizeof(p->err),
                     "histogram %s: +Inf bucket %d, _sum %d, _count %d, count %g vs +Inf %g",
                     h->key, h->has_inf, h->has_sum, h->has_count, h->count, h->inf_count);
            rc = -1;
        }
    }
    free(hs);
    for (int i = 0; i < p->nfam && rc == 0; i++) {
        struct prom_family *f = &p->fam[i];
        size_t n = strlen(f->name);
        int total = n > 6 && strcmp(f->name + n - 6, "_total") == 0;
        if (!f->help || !f->typed) {
            snprintf(p->err, sizeof(p->err), "family %s lacks HELP or TYPE", f->name);
            rc = -1;
        } else if (strncmp(f->name, "slotproxy_", 10) != 0) {
            snprintf(p->err, sizeof(p->err), "family %s is not named slotproxy_...", f->name);
            rc = -1;
        } else if ((strcmp(f->type, "counter") == 0) != total) {
            snprintf(p->err, sizeof(p->err), "%s %s: counters, and only counters, end in _total",
                     f->type, f->name);
            rc = -1;
        }
    }
    if (rc == 0 && p->nseries > 1) {
        qsort(p->series, (size_t)p->nseries, sizeof(char *), cmp_str);
        for (int i = 1; i < p->nseries; i++)
            if (strcmp(p->series[i], p->series[i - 1]) == 0) {
                snprintf(p->err, sizeof(p->err), "series %s appears twice", p->series[i]);
                rc = -1;
                break;
            }
    }
    for (int i = 0; i < p->nseries; i++) free(p->series[i]);
    free(p->series);
    p->series = NULL;
    return rc;
}

/* The value of the sample "series" (name{labels} exactly as written), or NAN. */
static double prom_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    }
    return NAN;
}

static void fetch_metrics(struct h_http *h)
{
    h_http(ops_debug_port(), "GET", "/metrics", 10000, h);
    ck_assert_int_eq(h->status, 200);
    ck_assert_msg(strstr(h->ctype, "text/plain") && strstr(h->ctype, "version=0.0.4"),
                  "Content-Type %s", h->ctype);
    struct prom p;
    int rc = prom_check(&p, h->body);
    if (rc < 0) {
        char path[1024];
        save("metrics-bad.txt", h, path, sizeof(path));
        ck_abort_msg("/metrics is not valid exposition format: %s (saved in %s)", p.err, path);
    }
}

/* ---- traffic ---- */

struct traffic {
    int port;
    atomic_int stop;
    atomic_long ops;
    atomic_int errors;
    char first_error[256];
};

static void *traffic_main(void *arg)
{
    struct traffic *t = arg;
    redisContext *c = redisConnect("127.0.0.1", t->port);
    if (!c || c->err) {
        atomic_fetch_add(&t->errors, 1);
        snprintf(t->first_error, sizeof(t->first_error), "cannot connect");
        if (c) redisFree(c);
        return NULL;
    }
    long i = 0;
    while (!atomic_load(&t->stop)) {
        for (int k = 0; k < 32; k++, i++) {
            redisAppendCommand(c, "SET ops:t:%ld %ld", i % 5000, i);
            redisAppendCommand(c, "GET ops:t:%ld", i % 5000);
        }
        for (int k = 0; k < 64; k++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR) {
                if (atomic_fetch_add(&t->errors, 1) == 0)
                    snprintf(t->first_error, sizeof(t->first_error), "%s", r ? r->str : c->errstr);
                if (!r) goto out;
            }
            freeReplyObject(r);
            atomic_fetch_add(&t->ops, 1);
        }
    }
out:
    redisFree(c);
    return NULL;
}

/* Starts traffic on t->port and returns once min_ops replies have come back. */
static void traffic_start(struct traffic *t, pthread_t *th, long min_ops)
{
    pthread_create(th, NULL, traffic_main, t);
    while (atomic_load(&t->ops) < min_ops && !atomic_load(&t->errors)) h_sleep_ms(10);
}

static pid_t ops_proxy;

static void ops_setup(void)
{
    char startup[64], dbg[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", ops_debug_port());
    const char *extra[] = {"-threads", "2", "-debug-addr", dbg, NULL};
    h_sh(": > %s/proxy-ops.log", h_env.workdir); /* each test reads its own log */
    ops_proxy = h_proxy_start(ops_port(), startup, extra, "proxy-ops.log");
    ck_assert_int_gt(ops_proxy, 0);
}

static void ops_teardown(void)
{
    ck_assert_int_eq(h_proxy_stop(ops_proxy, "proxy-ops.log"), 0);
}

START_TEST(test_metrics_under_traffic)
{
    struct traffic t = {.port = ops_port()};
    pthread_t th;
    traffic_start(&t, &th, 2000);

    struct h_http a, b;
    fetch_metrics(&a);
    /* Errors of two kinds, counted by type. */
    redisContext *c = h_connect(ops_port());
    freeReplyObject(h_cmd(c, "DEL ops:list"));
    h_expect_int(h_cmd(c, "RPUSH ops:list x"), 1);
    redisReply *r = h_cmd(c, "GET ops:list");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = h_cmd(c, "NOSUCHCOMMAND x");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    h_sleep_ms(300);
    fetch_metrics(&b);

    /* While the traffic connection and c are open. */
    ck_assert_double_ge(prom_value(b.body, "slotproxy_client_connections"), 2);
    ck_assert_double_ge(prom_value(b.body, "slotproxy_client_connections_total"), 2);
    ck_assert_double_eq(
        prom_value(b.body, "slotproxy_client_connections_rejected_total{reason=\"maxclients\"}"),
        0);
    const char *grow[] = {
        "slotproxy_requests_total{command=\"get\"}",
        "slotproxy_requests_total{command=\"set\"}",
        "slotproxy_request_duration_seconds_count{command=\"get\"}",
        "slotproxy_request_duration_seconds_sum{command=\"get\"}",
        "slotproxy_request_duration_seconds_bucket{command=\"set\",le=\"+Inf\"}",
        "slotproxy_net_input_bytes_total",
        "slotproxy_net_output_bytes_total",
    };
    for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
        double va = prom_value(a.body, grow[i]), vb = prom_value(b.body, grow[i]);
        ck_assert_msg(!isnan(va) && vb > va, "%s did not grow: %g -> %g", grow[i], va, vb);
    }
    double wa = prom_value(a.body, "slotproxy_error_replies_total{type=\"WRONGTYPE\"}");
    double wb = prom_value(b.body, "slotproxy_error_replies_total{type=\"WRONGTYPE\"}");
    ck_assert_msg(wb == wa + 1, "WRONGTYPE errors %g -> %g", wa, wb);
    double ea = prom_value(a.body, "slotproxy_error_replies_total{type=\"ERR\"}");
    double eb = prom_value(b.body, "slotproxy_error_replies_total{type=\"ERR\"}");
    ck_assert_msg(eb == ea + 1, "ERR errors %g -> %g", ea, eb);
    double ga = prom_value(a.body, "slotproxy_request_errors_total{command=\"get\"}");
    double gb = prom_value(b.body, "slotproxy_request_errors_total{command=\"get\"}");
    ck_assert_msg(gb == ga + 1, "GET errors %g -> %g", ga, gb);

    /* One backend series per master, with connections up. */
    for (int i = 0; i < 3; i++) {
        char series[128];
        snprintf(series, sizeof(series),
                 "slotproxy_backend_connections{node=\"127.0.0.1:%d\",role=\"master\"}",
                 h_env.cluster_port + i);
        ck_assert_msg(prom_value(b.body, series) >= 1, "%s: %g", series,
                      prom_value(b.body, series));
        snprintf(series, sizeof(series),
                 "slotproxy_backend_requests_in_flight{node=\"127.0.0.1:%d\",role=\"master\"}",
                 h_env.cluster_port + i);
        ck_assert_msg(!isnan(prom_value(b.body, series)), "%s missing", series);
    }
    ck_assert_double_ge(prom_value(b.body, "slotproxy_topology_refreshes_total{result=\"ok\"}"), 1);
    ck_assert_double_ge(prom_value(b.body, "slotproxy_slot_map_version"), 1);
    ck_assert_double_eq(prom_value(b.body, "slotproxy_slot_map_slots_served"), 16384);
    ck_assert(!isnan(prom_value(b.body, "slotproxy_memory_allocated_bytes")));
    ck_assert(!isnan(prom_value(b.body, "slotproxy_memory_resident_bytes")));
    ck_assert(!isnan(prom_value(b.body, "slotproxy_redirects_total{type=\"moved\"}")));
    ck_assert(!isnan(prom_value(b.body, "slotproxy_redirects_total{type=\"ask\"}")));
    ck_assert(!isnan(prom_value(b.body, "slotproxy_tryagain_total")));
    h_http_free(&a);
    h_http_free(&b);

    /* With the traffic stopped, every GET is in the histogram once. */
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    ck_assert_msg(t.errors == 0, "traffic errors: %d (%s)", t.errors, t.first_error);
    h_sleep_ms(100);
    fetch_metrics(&a);
    ck_assert_double_eq(
        prom_value(a.body, "slotproxy_requests_total{command=\"get\"}"),
        prom_value(a.body, "slotproxy_request_duration_seconds_count{command=\"get\"}"));
    h_http_free(&a);
    redisFree(c);
}
END_TEST

START_TEST(test_json_endpoints)
{
    struct traffic t = {.port = ops_port()};
    pthread_t th;
    traffic_start(&t, &th, 2000);
    redisContext *c = h_connect(ops_port());
    h_expect_str(h_cmd(c, "CLIENT SETNAME ops-\"named\"-client"), "OK");

    char script[1024], files[4][1024];
    ops_check_script(script, sizeof(script));
    const char *paths[] = {"/debug/vars", "/debug/slots", "/debug/backends", "/debug/clients"};
    const char *names[] = {"vars.json", "slots.json", "backends.json", "clients.json"};
    struct h_http h[4];
    for (int i = 0; i < 4; i++) {
        h_http(ops_debug_port(), "GET", paths[i], 10000, &h[i]);
        ck_assert_msg(h[i].status == 200, "%s: %d", paths[i], h[i].status);
        ck_assert_msg(strstr(h[i].ctype, "application/json"), "%s: %s", paths[i], h[i].ctype);
        save(names[i], &h[i], files[i], sizeof(files[i]));
    }
    ck_assert_int_eq(
        h_sh(PYTHON " %s json %s %s %s %s", script, files[0], files[1], files[2], files[3]), 0);
    /* The slot map is the cluster's. */
    ck_assert_int_eq(h_sh(PYTHON " %s slots %s %d", script, files[1], h_env.cluster_port), 0);
    /* vars: counters that moved with the traffic. */
    ck_assert_ptr_nonnull(strstr(h[0].body, "\"requests_total\":"));
    ck_assert_ptr_nonnull(strstr(h[0].body, "\"get\":{\"calls\":"));
    /* backends: the three masters, each with a worker entry. */
    for (int i = 0; i < 3; i++) {
        char node[64];
        snprintf(node, sizeof(node), "\"node\":\"127.0.0.1:%d\"", h_env.cluster_port + i);
        ck_assert_msg(strstr(h[2].body, node), "%s missing from /debug/backends", node);
    }
    ck_assert_ptr_nonnull(strstr(h[2].body, "\"last_error\":"));
    ck_assert_ptr_nonnull(strstr(h[2].body, "\"in_flight\":"));
    /* clients: the named session, its name escaped, and the traffic session. */
    ck_assert_msg(strstr(h[3].body, "\"name\":\"ops-\\\"named\\\"-client\""), "%s", h[3].body);
    ck_assert_ptr_nonnull(strstr(h[3].body, "\"sessions\":"));
    for (int i = 0; i < 4; i++) h_http_free(&h[i]);

    /* The traffic's GET count, as the JSON document says, grows. */
    struct h_http v1, v2;
    h_http(ops_debug_port(), "GET", "/debug/vars", 10000, &v1);
    h_sleep_ms(200);
    h_http(ops_debug_port(), "GET", "/debug/vars", 10000, &v2);
    long long c1 = atoll(strstr(v1.body, "\"get\":{\"calls\":") + 15);
    long long c2 = atoll(strstr(v2.body, "\"get\":{\"calls\":") + 15);
    ck_assert_msg(c2 > c1, "get calls %lld -> %lld", c1, c2);
    h_http_free(&v1);
    h_http_free(&v2);

    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    ck_assert_msg(t.errors == 0, "traffic errors: %d (%s)", t.errors, t.first_error);
    redisFree(c);
}
END_TEST

START_TEST(test_health_and_bad_requests)
{
    int port = ops_debug_port();
    struct h_http h;
    h_http(port, "GET", "/healthz", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    h_http_free(&h);
    h_http(port, "GET", "/readyz", 5000, &h);
    ck_assert_msg(h.status == 200, "/readyz %d: %s", h.status, h.body);
    h_http_free(&h);
    struct {
        const char *method, *path;
        int status;
    } bad[] = {
        {"GET", "/nope", 404},
        {"GET", "/metrics/../etc/passwd", 404},
        {"POST", "/metrics", 405},
        {"DELETE", "/debug/loglevel", 405},
        {"GET", "/debug/pprof/profile?seconds=0", 400},
        {"GET", "/debug/pprof/profile?seconds=abc", 400},
        {"GET", "/debug/pprof/profile?seconds=100000", 400},
        {"PUT", "/debug/loglevel?level=loud", 400},
        {"PUT", "/debug/loglevel", 400},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h_http(port, bad[i].method, bad[i].path, 5000, &h);
        ck_assert_msg(h.status == bad[i].status, "%s %s: %d, want %d", bad[i].method, bad[i].path,
                      h.status, bad[i].status);
        ck_assert_msg(h.len > 0, "%s %s: no message", bad[i].method, bad[i].path);
        h_http_free(&h);
    }
    /* Garbage, a header flood and a client that stops mid-request: the port stays up and the
     * proxy keeps serving. */
    char junk[8192];
    memset(junk, 'A', sizeof(junk));
    char out[4096];
    int closed;
    h_raw(port, "\x00\x01\x02 garbage\r\n\r\n", 16, out, sizeof(out), 300, 1, &closed);
    h_raw(port, junk, sizeof(junk), out, sizeof(out), 300, 1, &closed);
    h_raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 31, out, sizeof(out), 100, 0, &closed);
    h_http(port, "GET", "/healthz", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    h_http_free(&h);
    redisContext *c = h_connect(ops_port());
    h_expect_str(h_cmd(c, "PING"), "PONG");
    redisFree(c);
}
END_TEST

START_TEST(test_readyz_without_cluster)
{
    char dbg[64];
    int dport = ops_debug_port() + 2;
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", dport);
    const char *extra[] = {"-threads", "1", "-connect-timeout", "200ms", "-debug-addr", dbg, NULL};
    pid_t pid = h_proxy_start(ops_port() + 2, "127.0.0.1:1", extra, "proxy-ops-noready.log");
    ck_assert_int_gt(pid, 0);
    struct h_http h;
    h_http(dport, "GET", "/readyz", 5000, &h);
    ck_assert_msg(h.status == 503 && strstr(h.body, "no slot map"), "%d %s", h.status, h.body);
    h_http_free(&h);
    h_http(dport, "GET", "/healthz", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    h_http_free(&h);
    /* Every endpoint answers without a slot map. */
    const char *paths[] = {"/metrics", "/debug/vars", "/debug/slots", "/debug/backends",
                           "/debug/clients"};
    for (int i = 0; i < 5; i++) {
        h_http(dport, "GET", paths[i], 5000, &h);
        ck_assert_msg(h.status == 200, "%s: %d", paths[i], h.status);
        h_http_free(&h);
    }
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-ops-noready.log"), 0);
}
END_TEST

static int log_contains(const char *logname, const char *needle)
{
    return h_sh("grep -qF -- '%s' %s/%s", needle, h_env.workdir, logname) == 0;
}

START_TEST(test_loglevel_at_runtime)
{
    int port = ops_debug_port();
    struct h_http h;
    h_http(port, "GET", "/debug/loglevel", 5000, &h);
    ck_assert_str_eq(h.body, "info\n");
    h_http_free(&h);
    /* Nothing per request at info. */
    ck_assert(h_sh("grep -Eq '^[0-9-]+ [0-9:.]+ debug ' %s/proxy-ops.log", h_env.workdir) != 0);
    h_http(port, "PUT", "/debug/loglevel?level=debug", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    h_http_free(&h);
    h_http(port, "GET", "/debug/loglevel", 5000, &h);
    ck_assert_str_eq(h.body, "debug\n");
    h_http_free(&h);
    ck_assert(log_contains("proxy-ops.log", "log level set to debug"));
    /* Debug lines appear at once: a new client connection is logged at debug. */
    redisContext *c = h_connect(ops_port());
    h_expect_str(h_cmd(c, "PING"), "PONG");
    redisFree(c);
    int seen = 0;
    for (int i = 0; i < 50 && !seen; i++, h_sleep_ms(20))
        seen = h_sh("grep -Eq '^[0-9-]+ [0-9:.]+ debug ' %s/proxy-ops.log", h_env.workdir) == 0;
    ck_assert_msg(seen, "no debug line in the log after the level changed");
    h_http(port, "POST", "/debug/loglevel?level=warn", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    h_http_free(&h);
    h_http(port, "GET", "/debug/loglevel", 5000, &h);
    ck_assert_str_eq(h.body, "warn\n");
    h_http_free(&h);
    h_http(port, "PUT", "/debug/loglevel?level=info", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    h_http_free(&h);
}
END_TEST

START_TEST(test_cpu_profile)
{
    struct traffic t = {.port = ops_port()};
    pthread_t th;
    traffic_start(&t, &th, 1000);
    struct h_http h;
    uint64_t t0 = h_now_ms();
    h_http(ops_debug_port(), "GET", "/debug/pprof/profile?seconds=2", 30000, &h);
    uint64_t dt = h_now_ms() - t0;
    long ops_during = atomic_load(&t.ops);
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    ck_assert_msg(t.errors == 0, "traffic errors: %d (%s)", t.errors, t.first_error);
    ck_assert_msg(h.status == 200, "profile: %d %s", h.status, h.body);
    ck_assert_msg(dt >= 1900 && dt < 15000, "a 2 s profile took %llu ms", (unsigned long long)dt);
    ck_assert_msg(ops_during > 1000, "the traffic stalled while profiling");
    /* gperftools' format: 64-bit words 0, 3 (header words), 0 (version), period, 0. */
    ck_assert_msg(h.len > 5 * 8, "profile of %zu bytes", h.len);
    uint64_t w[5];
    memcpy(w, h.body, sizeof(w));
    ck_assert_msg(w[0] == 0 && w[1] == 3 && w[2] == 0 && w[3] > 0 && w[4] == 0,
                  "not a gperftools CPU profile header: %llu %llu %llu %llu %llu",
                  (unsigned long long)w[0], (unsigned long long)w[1], (unsigned long long)w[2],
                  (unsigned long long)w[3], (unsigned long long)w[4]);
    char path[1024];
    save("cpu.prof", &h, path, sizeof(path));
    h_http_free(&h);
    /* google-pprof reads it and finds samples. */
    if (h_sh("command -v google-pprof >/dev/null") == 0) {
        ck_assert_int_eq(h_sh("google-pprof --text %s %s > %s.txt 2>&1", h_env.bin, path, path), 0);
        ck_assert_int_eq(h_sh("grep -Eq '^Total: [1-9][0-9]* samples' %s.txt", path), 0);
    }
}
END_TEST

START_TEST(test_heap_profile)
{
    struct h_http h;
    h_http(ops_debug_port(), "GET", "/debug/pprof/heap", 10000, &h);
    ck_assert_msg(h.status == 501, "heap profile without MALLOC_CONF: %d", h.status);
    int no_jemalloc = strstr(h.body, "does not use") != NULL;
    ck_assert_msg(no_jemalloc || strstr(h.body, "MALLOC_CONF=prof:true"), "%s", h.body);
    h_http_free(&h);
    if (no_jemalloc) return; /* a sanitizer build */
    char startup[64], dbg[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    int dport = ops_debug_port() + 4;
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", dport);
    const char *extra[] = {"-threads", "1", "-debug-addr", dbg, NULL};
    setenv("MALLOC_CONF", "prof:true", 1);
    pid_t pid = h_proxy_start(ops_port() + 4, startup, extra, "proxy-ops-heap.log");
    unsetenv("MALLOC_CONF");
    ck_assert_int_gt(pid, 0);
    redisContext *c = h_connect(ops_port() + 4);
    for (int i = 0; i < 200; i++) h_expect_str(h_cmd(c, "SET ops:heap:%d %d", i, i), "OK");
    redisFree(c);
    h_http(dport, "GET", "/debug/pprof/heap", 10000, &h);
    ck_assert_msg(h.status == 200, "heap profile: %d %s", h.status, h.body);
    ck_assert_msg(strncmp(h.body, "heap_v2/", 8) == 0, "not a jemalloc heap profile: %.40s",
                  h.body);
    char path[1024];
    save("heap.prof", &h, path, sizeof(path));
    h_http_free(&h);
    if (h_sh("command -v jeprof >/dev/null") == 0)
        ck_assert_int_eq(
            h_sh("jeprof --text %s %s 2>&1 | grep -Eq '^Total: [0-9.]+ [kKMG]?B'", h_env.bin, path),
            0);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-ops-heap.log"), 0);
}
END_TEST

/* ---- configuration file ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_config_file)
{
    char conf[1024], text[1024];
    snprintf(conf, sizeof(conf), "%s/ops.conf", h_env.workdir);
    int port = ops_port() + 6;
    snprintf(text, sizeof(text),
             "# slotproxy configuration\n"
             "\n"
             "   # indented comment\n"
             "addr 127.0.0.1:1\n"
             "startup-nodes 127.0.0.1:%d\n"
             "threads 3\n"
             "read-prefer master\n"
             "client-name-test-ignored-by-nobody-no\n",
             h_env.cluster_port);
    /* The unknown key on line 8 stops startup with its line number. */
    write_file(conf, text);
    char errlog[1024];
    snprintf(errlog, sizeof(errlog), "%s/ops-conf-err.log", h_env.workdir);
    int st = h_sh("%s -config %s > %s 2>&1", h_env.bin, conf, errlog);
    ck_assert_msg(st == 2, "unknown key: exit status %d", st);
    char want[1200];
    snprintf(want, sizeof(want), "%s:8:", conf);
    ck_assert_msg(h_sh("grep -qF -- '%s' %s", want, errlog) == 0, "no line number in the error");
    /* A bad value, with its line. */
    write_file(conf, "threads 2\nshutdown-timeout forever\n");
    st = h_sh("%s -config %s > %s 2>&1", h_env.bin, conf, errlog);
    ck_assert_int_eq(st, 2);
    snprintf(want, sizeof(want), "%s:2:", conf);
    ck_assert(h_sh("grep -qF -- '%s' %s", want, errlog) == 0);
    ck_assert(h_sh("grep -qF -- 'shutdown-timeout' %s", errlog) == 0);
    /* A missing file. */
    st = h_sh("%s -config %s/no-such.conf > %s 2>&1", h_env.bin, h_env.workdir, errlog);
    ck_assert_int_eq(st, 2);

    /* A good file; -addr on the command line wins over the file's, -threads comes from it. */
    snprintf(text, sizeof(text),
             "# slotproxy configuration\n"
             "addr 127.0.0.1:1\n"
             "startup-nodes 127.0.0.1:%d\n"
             "threads 3\n"
             "shutdown-timeout 2s\n",
             h_env.cluster_port);
    write_file(conf, text);
    const char *extra[] = {"-config", conf, NULL};
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-ops-conf.log");
    ck_assert_int_gt(pid, 0);
    redisContext *c = h_connect(port);
    h_expect_str(h_cmd(c, "SET ops:conf 1"), "OK");
    redisReply *r = h_cmd(c, "INFO proxy");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_msg(strstr(r->str, "proxy_workers:3\r\n"), "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
    /* The effective configuration is logged once at startup. */
    ck_assert(log_contains("proxy-ops-conf.log", "threads"));
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-ops-conf.log"), 0);
}
END_TEST

START_TEST(test_sighup_reopens_log)
{
    int port = ops_port() + 7;
    char startup[64], logf[1024];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(logf, sizeof(logf), "%s/ops-rotate.log", h_env.workdir);
    h_sh("rm -f %s %s.1", logf, logf);
    const char *extra[] = {"-threads", "1", "-log-file", logf, NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-ops-rotate.out");
    ck_assert_int_gt(pid, 0);
    ck_assert(h_sh("grep -q 'ready to accept' %s", logf) == 0);
    /* logrotate: rename, then SIGHUP; the proxy writes to a new file of the old name. */
    ck_assert_int_eq(h_sh("mv %s %s.1", logf, logf), 0);
    ck_assert_int_eq(kill(pid, SIGHUP), 0);
    int reopened = 0;
    for (int i = 0; i < 100 && !reopened; i++, h_sleep_ms(20))
        reopened = h_sh("grep -q 'SIGHUP' %s 2>/dev/null", logf) == 0;
    ck_assert_msg(reopened, "no new log file after SIGHUP");
    ck_assert(h_sh("grep -q 'SIGHUP' %s.1", logf) != 0);
    redisContext *c = h_connect(port);
    h_expect_str(h_cmd(c, "PING"), "PONG"); /* still serving */
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-ops-rotate.out"), 0);
    ck_assert(h_sh("grep -q 'bye' %s", logf) == 0);
}
END_TEST

/* ---- graceful shutdown ---- */

struct pipeliner {
    int fd;
    atomic_long sent;
    atomic_int done;
    long n;
};

static void *pipeliner_write(void *arg)
{
    struct pipeliner *p = arg;
    char cmd[128];
    for (long i = 0; i < p->n; i++) {
        int len = snprintf(cmd, sizeof(cmd), "*3\r\n$3\r\nSET\r\n$%d\r\nops:gs:%ld\r\n$1\r\n1\r\n",
                           (int)(7 + snprintf(NULL, 0, "%ld", i)), i);
        size_t off = 0;
        while (off < (size_t)len) {
            ssize_t w = send(p->fd, cmd + off, (size_t)len - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) goto out; /* the proxy closed */
            off += (size_t)w;
        }
        atomic_store(&p->sent, i + 1);
    }
out:
    atomic_store(&p->done, 1);
    return NULL;
}

START_TEST(test_graceful_shutdown)
{
    int port = ops_port() + 8;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "2", "-shutdown-timeout", "10s", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-ops-shutdown.log");
    ck_assert_int_gt(pid, 0);
    /* Clear earlier runs' keys. */
    redisContext *m = h_connect(h_env.proxy_port);
    const long n = 200000;
    for (long i = 0; i < n; i += 1000) {
        for (long k = i; k < i + 1000; k++) redisAppendCommand(m, "DEL ops:gs:%ld", k);
        for (long k = i; k < i + 1000; k++) {
            redisReply *r;
            ck_assert_int_eq(redisGetReply(m, (void **)&r), REDIS_OK);
            freeReplyObject(r);
        }
    }

    int fd = h_tcp_connect(port, 0);
    struct pipeliner p = {.fd = fd, .n = n};
    pthread_t th;
    pthread_create(&th, NULL, pipeliner_write, &p);

    /* Read replies; once some thousands have come back, SIGTERM the proxy mid-stream. */
    static const char ok[] = "+OK\r\n";
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    long oks = 0;
    int signalled = 0, reset = 0;
    uint64_t deadline = h_now_ms() + 60000, t_sig = 0;
    for (;;) {
        ck_assert_msg(h_now_ms() < deadline, "no end of stream 60 s after the start");
        if (!signalled && oks >= 20000) {
            kill(pid, SIGTERM);
            signalled = 1;
            t_sig = h_now_ms();
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == ECONNRESET) {
            reset = 1;
            break;
        }
        ck_assert_msg(r >= 0, "read: %s", strerror(errno));
        if (r == 0) break;
        len += (size_t)r;
        size_t off = 0;
        while (len - off >= 5) {
            ck_assert_msg(memcmp(buf + off, ok, 5) == 0, "reply %ld is not +OK: %.20s", oks,
                          buf + off);
            off += 5;
            oks++;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
    free(buf);
    uint64_t t_end = h_now_ms();
    ck_assert_msg(signalled, "the stream ended before the signal (%ld replies)", oks);
    ck_assert_msg(len == 0, "a partial reply at the end of the stream");
    pthread_join(th, NULL);
    close(fd);
    long sent = atomic_load(&p.sent);
    ck_assert_msg(oks < sent || sent == n, "more replies (%ld) than requests sent (%ld)", oks,
                  sent);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the proxy's exit status: %d", st);
    ck_assert_msg(t_end - t_sig < 5000, "the stream took %llu ms to end after SIGTERM",
                  (unsigned long long)(t_end - t_sig));
    ck_assert(log_contains("proxy-ops-shutdown.log", "shutting down"));

    /* Every +OK the client saw is a key in the cluster, and no key was set without its +OK
     * reaching the client: keys 0..oks-1 exist, none after. */
    long present = 0, missing_first = -1;
    for (long i = 0; i < n; i += 1000) {
        for (long k = i; k < i + 1000; k++) redisAppendCommand(m, "EXISTS ops:gs:%ld", k);
        for (long k = i; k < i + 1000; k++) {
            redisReply *r;
            ck_assert_int_eq(redisGetReply(m, (void **)&r), REDIS_OK);
            ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
            if (r->integer) present++;
            if ((k < oks) != (r->integer == 1) && missing_first < 0) missing_first = k;
            freeReplyObject(r);
        }
    }
    redisFree(m);
    ck_assert_msg(missing_first < 0 && present == oks,
                  "%ld +OK replies, %ld keys present, first mismatch at key %ld (reset %d, "
                  "%ld sent)",
                  oks, present, missing_first, reset, sent);
    fprintf(stderr, "graceful shutdown: %ld of %ld pipelined SETs sent, %ld answered, %ld ms\n",
            sent, n, oks, (long)(t_end - t_sig));
}
END_TEST

Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("debug-port");
    tcase_add_checked_fixture(tc, ops_setup, ops_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_metrics_under_traffic);
    tcase_add_test(tc, test_json_endpoints);
    tcase_add_test(tc, test_health_and_bad_requests);
    tcase_add_test(tc, test_loglevel_at_runtime);
    tcase_add_test(tc, test_cpu_profile);
    tcase_add_test(tc, test_heap_profile);
    suite_add_tcase(s, tc);
    TCase *lc = tcase_create("lifecycle");
    tcase_set_timeout(lc, 180);
    tcase_add_test(lc, test_readyz_without_cluster);
    tcase_add_test(lc, test_config_file);
    tcase_add_test(lc, test_sighup_reopens_log);
    tcase_add_test(lc, test_graceful_shutdown);
    suite_add_tcase(s, lc);
    return s;
}
