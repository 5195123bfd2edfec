/*
 * Statistics helpers; see stats.h. The counters themselves live in each worker; this file holds
 * what is shared by everyone who fills or reads them: the histogram's bucket bounds and the names
 * of the error kinds, which /metrics and /debug/vars print.
 */
#include "stats.h"

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
