/*
 * Statistics helpers; see stats.h. The counters themselves live in each worker; this file holds
 * what is shared by everyone who fills or reads them: the histogram's bucket bounds and the names
 * of the error kinds, which /metrics and /debug/vars print, and INFO latencystats' finer
 * histogram (its buckets, percentiles and the latency-tracking settings).
 */
#include "stats.h"

#include "mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A 1-2.5-5 progression from 100 us to 10 s, in microseconds. */
const uint64_t stats_bucket_us[STATS_NBUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

const char *const stats_err_names[SERR_COUNT] = {
    "ERR",        "WRONGTYPE", "CROSSSLOT", "CLUSTERDOWN", "TRYAGAIN", "NOAUTH",
    "WRONGPASS",  "NOSCRIPT",  "EXECABORT", "NOPROTO",     "LOADING",  "READONLY",
    "MASTERDOWN", "BUSY",      "OOM",       "NOPERM",      "OTHER"};

/* By the first word, as Redis's INFO errorstats groups errors; an unknown code is OTHER. */
enum stats_err stats_classify_error(const char *text, size_t len)
{
    size_t w = 0;
    while (w < len && text[w] != ' ' && text[w] != '\r') w++;
    for (int i = 0; i < SERR_OTHER; i++) {
        size_t n = strlen(stats_err_names[i]);
        if (n == w && memcmp(text, stats_err_names[i], n) == 0) return (enum stats_err)i;
    }
    return SERR_OTHER;
}

/* A linear scan: sixteen bounds, and most latencies fall in the first few buckets. */
unsigned stats_bucket(uint64_t us)
{
    unsigned i = 0;
    while (i < STATS_NBUCKETS && us > stats_bucket_us[i]) i++;
    return i;
}

const unsigned stats_http_codes[HTTP_ST_COUNT] = {200, 400, 401, 403, 404, 405,
                                                  413, 415, 502, 503, 504, 0};

enum http_status_slot stats_http_slot(unsigned status)
{
    for (int i = 0; i < HTTP_ST_OTHER; i++)
        if (stats_http_codes[i] == status) return (enum http_status_slot)i;
    return HTTP_ST_OTHER;
}

/* ---- errorstats ---- */

/* Codes are appended under the lock and published by the release store of errs_n; a counter is
 * found without the lock (an entry never changes its code once published, until a reset, which
 * takes the lock and only zeroes the count of entries: codes stay, so a reader never sees a code
 * change under it; reset codes are left out of INFO until they count again). */
struct errstat {
    char code[32];
    uint32_t len;
    _Atomic uint64_t count;
};
static struct errstat errs[ERRSTATS_MAX];
static _Atomic uint32_t errs_n;
static pthread_mutex_t errs_lock = PTHREAD_MUTEX_INITIALIZER;

static struct errstat *errstat_find(const char *code, size_t len, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (errs[i].len == len && memcmp(errs[i].code, code, len) == 0) return &errs[i];
    return NULL;
}

void errstats_count(const char *reply, size_t len)
{
    const char *code = "ERR";
    size_t clen = 3;
    if (len > 1 && reply[0] == '-') {
        const char *sp = memchr(reply, ' ', len < 32 ? len : 32);
        if (sp && sp > reply + 1) {
            code = reply + 1;
            clen = (size_t)(sp - reply - 1);
        }
    }
    uint32_t n = atomic_load_explicit(&errs_n, memory_order_acquire);
    struct errstat *e = errstat_find(code, clen, n);
    if (!e) {
        pthread_mutex_lock(&errs_lock);
        n = atomic_load_explicit(&errs_n, memory_order_relaxed);
        e = errstat_find(code, clen, n);
        if (!e && n < ERRSTATS_MAX) {
            e = &errs[n];
            memcpy(e->code, code, clen);
            e->len = (uint32_t)clen;
            atomic_store_explicit(&e->count, 0, memory_order_relaxed);
            atomic_store_explicit(&errs_n, n + 1, memory_order_release);
        }
        pthread_mutex_unlock(&errs_lock);
        if (!e) return;
    }
    atomic_fetch_add_explicit(&e->count, 1, memory_order_relaxed);
}

static int by_code(const void *a, const void *b)
{
    const struct errstat *x = *(const struct errstat *const *)a, *y = *(const struct errstat *const *)b;
    size_t l = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->code, y->code, l);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

void errstats_each(void (*fn)(const char *code, uint64_t count, void *arg), void *arg)
{
    uint32_t n = atomic_load_explicit(&errs_n, memory_order_acquire);
    const struct errstat *sorted[ERRSTATS_MAX];
    for (uint32_t i = 0; i < n; i++) sorted[i] = &errs[i];
    qsort(sorted, n, sizeof(sorted[0]), by_code);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t c = atomic_load_explicit((_Atomic uint64_t *)&sorted[i]->count, memory_order_relaxed);
        if (!c) continue;
        char code[33];
        memcpy(code, sorted[i]->code, sorted[i]->len);
        code[sorted[i]->len] = '\0';
        fn(code, c, arg);
    }
}

void errstats_reset(void)
{
    pthread_mutex_lock(&errs_lock);
    uint32_t n = atomic_load_explicit(&errs_n, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) atomic_store_explicit(&errs[i].count, 0, memory_order_relaxed);
    pthread_mutex_unlock(&errs_lock);
}

/* ---- INFO latencystats ---- */

unsigned lat_bucket(uint64_t us)
{
    if (us < LAT_EXACT) return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* 2^e <= us, e >= 5 */
    if (e >= 40) return LAT_NBUCKETS - 1;
    unsigned sub = (unsigned)(us >> (e - 4)) & (LAT_SUB - 1);
    return LAT_EXACT + (e - 5) * LAT_SUB + sub;
}

uint64_t lat_bucket_top(unsigned i)
{
    if (i < LAT_EXACT) return i;
    unsigned e = (i - LAT_EXACT) / LAT_SUB + 5, sub = (i - LAT_EXACT) % LAT_SUB;
    uint64_t step = 1ull << (e - 4);
    return (LAT_SUB + sub) * step + step - 1;
}

static atomic_int lat_tracking = 1;
static pthread_mutex_t lat_lock = PTHREAD_MUTEX_INITIALIZER;
static double lat_pcts[LAT_MAX_PCTS] = {50, 99, 99.9};
static int lat_npcts = 3;

void lat_set_tracking(int on)
{
    atomic_store_explicit(&lat_tracking, on != 0, memory_order_relaxed);
}

void lat_set_percentiles(const double *p, int n)
{
    if (n > LAT_MAX_PCTS) n = LAT_MAX_PCTS;
    pthread_mutex_lock(&lat_lock);
    memcpy(lat_pcts, p, (size_t)n * sizeof(*p));
    lat_npcts = n;
    pthread_mutex_unlock(&lat_lock);
}

int lat_get_percentiles(double *p)
{
    pthread_mutex_lock(&lat_lock);
    int n = lat_npcts;
    memcpy(p, lat_pcts, (size_t)n * sizeof(*p));
    pthread_mutex_unlock(&lat_lock);
    return n;
}

void lat_record(struct cmd_stats *cs, uint64_t us)
{
    if (!atomic_load_explicit(&lat_tracking, memory_order_relaxed)) return;
    struct lat_hist *h = atomic_load_explicit(&cs->lat, memory_order_relaxed);
    if (!h) {
        h = px_calloc(1, sizeof(*h));
        atomic_store_explicit(&cs->lat, h, memory_order_release);
    }
    stat_add(&h->b[lat_bucket(us)], 1);
}

uint64_t lat_percentile(const uint64_t *c, uint64_t total, double pct)
{
    if (!total) return 0;
    double want = pct / 100.0 * (double)total + 0.5;
    uint64_t need = want < 1.0 ? 1 : (uint64_t)want;
    if (need > total) need = total;
    uint64_t run = 0;
    for (unsigned i = 0; i < LAT_NBUCKETS; i++) {
        run += c[i];
        if (run >= need) return lat_bucket_top(i);
    }
    return lat_bucket_top(LAT_NBUCKETS - 1);
}
