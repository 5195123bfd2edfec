/*
 * Per-worker counters. Each counter has one writer (its worker) and may be read by any thread
 * (INFO on another worker, later the debug port), so counters are C11 atomics accessed with
 * relaxed ordering: the writer does a plain load and store (no locked instruction on the hot
 * path), readers see a value that is at most a little stale. Totals are sums over workers.
 */
#ifndef PX_STATS_H
#define PX_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lat_hist;
struct cmd_stats;

typedef _Atomic uint64_t stat_t;

/* Single-writer increment: relaxed load and store, no read-modify-write instruction. */
static inline void stat_add(stat_t *s, uint64_t n)
{
    atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Single-writer gauge: a relaxed store, as stat_add does. */
static inline void stat_set(stat_t *s, uint64_t v)
{
    atomic_store_explicit(s, v, memory_order_relaxed);
}

/* Reads a counter from any thread; the value may be a little stale. */
static inline uint64_t stat_get(const stat_t *s)
{
    return atomic_load_explicit((stat_t *)s, memory_order_relaxed);
}

/* Upper bounds of the latency histogram buckets, in microseconds (Prometheus "le"); the last
 * bucket, +Inf, is implicit. */
#define STATS_NBUCKETS 16
extern const uint64_t stats_bucket_us[STATS_NBUCKETS];

/*
 * INFO latencystats: one command's latencies in microseconds, exact below LAT_EXACT, then
 * LAT_SUB steps per power of two, so a bucket's highest value is at most 1/16 above its lowest
 * (Redis keeps two significant digits). Up to 2^40 us; longer counts in the last bucket.
 */
#define LAT_EXACT 32
#define LAT_SUB 16
#define LAT_NBUCKETS (LAT_EXACT + (40 - 5) * LAT_SUB)
struct lat_hist {
    stat_t b[LAT_NBUCKETS];
};
/* The bucket of a latency of us microseconds. */
unsigned lat_bucket(uint64_t us);
/* The highest latency bucket i holds: what a percentile that falls in it reports, as Redis's
 * HDR histogram reports a bucket's highest equivalent value. */
uint64_t lat_bucket_top(unsigned i);
/* CONFIG SET latency-tracking: whether lat_record records (on at start, as in Redis). Any
 * thread. */
void lat_set_tracking(int on);
/* CONFIG SET latency-tracking-info-percentiles: the percentiles INFO latencystats shows, n of
 * them (at most LAT_MAX_PCTS; 50, 99 and 99.9 at start). Any thread. */
#define LAT_MAX_PCTS 16
void lat_set_percentiles(const double *p, int n);
/* Copies the percentiles into p (LAT_MAX_PCTS room) and returns how many. Any thread. */
int lat_get_percentiles(double *p);
/* Records us in the command's histogram, making it on the first call (nothing while
 * latency-tracking is off). Only the worker that owns
 * cs calls this; readers load cs->lat with acquire ordering. */
void lat_record(struct cmd_stats *cs, uint64_t us);
/* The value at percentile pct (0-100] of the counts c[0..LAT_NBUCKETS), total of them, as
 * Redis's hdr_value_at_percentile chooses it: the first bucket at which the running count reaches
 * pct% of the total (rounded, at least one). */
uint64_t lat_percentile(const uint64_t *c, uint64_t total, double pct);

/* INFO commandstats and the /metrics histograms, per command and subcommand (indexed by
 * cmd_entry.id). */
struct cmd_stats {
    _Atomic(struct lat_hist *) lat; /* INFO latencystats; made by the worker at the first call */
    stat_t calls;
    stat_t usec;
    stat_t rejected;                    /* refused by the proxy before reaching a node */
    stat_t failed;                      /* answered with an error after being sent */
    stat_t buckets[STATS_NBUCKETS + 1]; /* time from parse to reply, cumulative is computed */
};

/* Error replies by their first word. */
enum stats_err {
    SERR_ERR = 0,
    SERR_WRONGTYPE,
    SERR_CROSSSLOT,
    SERR_CLUSTERDOWN,
    SERR_TRYAGAIN,
    SERR_NOAUTH,
    SERR_WRONGPASS,
    SERR_NOSCRIPT,
    SERR_EXECABORT,
    SERR_NOPROTO,
    SERR_LOADING,
    SERR_READONLY,
    SERR_MASTERDOWN,
    SERR_BUSY,
    SERR_OOM,
    SERR_NOPERM,
    SERR_OTHER,
    SERR_COUNT
};
extern const char *const stats_err_names[SERR_COUNT];
/* Which kind an error reply is (text starts after '-'). */
enum stats_err stats_classify_error(const char *text, size_t len);
/* The histogram bucket of a duration in microseconds. */
unsigned stats_bucket(uint64_t us);

/*
 * INFO errorstats: error replies by their code, as Redis counts them (the reply's text up to its
 * first space within 32 bytes, else ERR), for the whole process. At most ERRSTATS_MAX codes are
 * kept; replies with a code beyond them count only in total_error_replies (as Redis 7.0, which
 * stops adding codes there). Any thread: counting a known code is one atomic add.
 */
#define ERRSTATS_MAX 128
/* Counts the error reply of len bytes at reply (starting with '-'). */
void errstats_count(const char *reply, size_t len);
/* Calls fn for each code counted, in byte order of the codes, with its count. */
void errstats_each(void (*fn)(const char *code, uint64_t count, void *arg), void *arg);
/* CONFIG RESETSTAT: every code is forgotten. */
void errstats_reset(void);

struct worker_stats {
    stat_t sessions_total;
    stat_t clients_moved; /* handed to another worker (worker_balance) */
    stat_t requests;
    stat_t moved;
    stat_t ask;
    stat_t tryagain;
    stat_t held;
    stat_t hold_expired;
    stat_t conn_lost_errors;
    stat_t noscript_reloads;
    stat_t net_input_bytes;
    stat_t net_output_bytes;
    stat_t error_replies;
    stat_t nbackends;     /* runners this worker has */
    stat_t private_conns; /* private connections, leased or idle */
    stat_t blocked_clients; /* clients with a blocking command in flight (INFO's blocked_clients) */
    stat_t pubsub_messages;
    stat_t pubsub_cut;        /* subscribers closed for not reading */
    stat_t replica_reads;     /* reads sent to a replica */
    stat_t replica_fallbacks; /* reads that wanted a replica and got the master */
    stat_t read_retries;      /* reads sent again after their connection broke */
    stat_t rejected_conns;    /* clients refused (too many clients; counted on worker 0) */
    stat_t denied_conns;      /* clients refused by protected mode (counted on worker 0) */
    stat_t closed_idle;       /* clients closed after -timeout */
    stat_t closed_output;     /* clients closed for leaving replies unread */
    stat_t closed_query;      /* clients closed for a request over -query-buffer-limit */
    stat_t protocol_errors;   /* clients closed for a protocol error */
    stat_t backend_timeouts;  /* node connections recycled after -backend-timeout */
    stat_t inflight_pauses;   /* times a client's reading paused at -max-inflight */
    /* A master that stalls (-stall-threshold; forward.c): */
    stat_t stall_suspects;    /* runners that stalled and made their node suspect */
    stat_t stall_released;    /* ... held answers relayed after the node was confirmed */
    stat_t stall_hold_us;     /* total time held answers waited for the confirmation */
    stat_t stall_hold_max_us; /* the longest such wait */
    stat_t stall_deposed;     /* runners dropped because their node was failed over */
    stat_t stall_errors;      /* requests failed: in flight to a deposed or unconfirmed node */
    /* Batched waits of the io_uring loop (loop_batch_stats), copied by the worker's cron: */
    stat_t io_batch_waits;    /* waits for more than one completion */
    stat_t io_batch_short;    /* ... that the bound ended with fewer */
    stat_t io_replies_due;    /* node connections owing replies, at the last cron (a gauge) */
    /* Client-side caching (tracking.c): gauges of this worker's table, and counters. */
    stat_t paused_clients;    /* requests waiting for CLIENT PAUSE to end (blocked clients) */
    stat_t trk_clients;       /* clients with tracking on */
    stat_t trk_keys;          /* keys remembered */
    stat_t trk_items;         /* (key, reader) pairs */
    stat_t trk_prefixes;      /* BCAST prefixes followed */
    stat_t trk_invalidations; /* invalidation messages sent */
    stat_t trk_evictions;     /* keys forgotten (and invalidated) at -tracking-table-max-keys */
    stat_t tls_handshake_timeouts; /* TLS clients closed for not finishing their handshake */
    /* ACL denials (INFO's acl_access_denied_*): failed AUTH, and commands refused by command,
     * key or channel rules. */
    stat_t acl_denied_auth;
    stat_t acl_denied_cmd;
    stat_t acl_denied_key;
    stat_t acl_denied_channel;
    stat_t cross_computed;    /* -cross-slot compute: commands computed across slots */
    stat_t cross_failed;      /* ...answered with an error, nothing written (or all put back) */
    stat_t cross_partial;     /* ...that failed half way: a write may be partial (said in the
                                 error) */
    stat_t http_requests;     /* requests of the HTTP front run on this worker */
    stat_t errors[SERR_COUNT];
    struct cmd_stats *cmds;
};

/* The HTTP front's answers by status (http.c). Its threads are many and all write these, so they
 * are counted with a relaxed read-modify-write (stat_add_shared), not stat_add. */
enum http_status_slot {
    HTTP_ST_200 = 0,
    HTTP_ST_400,
    HTTP_ST_401,
    HTTP_ST_403,
    HTTP_ST_404,
    HTTP_ST_405,
    HTTP_ST_413,
    HTTP_ST_415,
    HTTP_ST_502,
    HTTP_ST_503,
    HTTP_ST_504,
    HTTP_ST_OTHER,
    HTTP_ST_COUNT
};
/* The status codes of the slots ("other" is 0). */
extern const unsigned stats_http_codes[HTTP_ST_COUNT];

struct http_stats {
    stat_t by_status[HTTP_ST_COUNT];
};

/* The slot of an HTTP status code. */
enum http_status_slot stats_http_slot(unsigned status);

/* Increment from any thread: a relaxed atomic add, for counters with several writers. */
static inline void stat_add_shared(stat_t *s, uint64_t n)
{
    atomic_fetch_add_explicit(s, n, memory_order_relaxed);
}

#endif
