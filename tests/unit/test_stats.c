/* Unit tests for stats.c: the latency histogram behind INFO latencystats. */
#include "stats.h"

#include "suites.h"

#include <stdlib.h>

/* Every bucket's values map back to it, buckets are contiguous, and a value's bucket top is at
 * most 1/16 above it (exact below 32). */
START_TEST(test_lat_buckets)
{
    uint64_t next = 0;
    for (unsigned i = 0; i < LAT_NBUCKETS - 1; i++) {
        uint64_t top = lat_bucket_top(i);
        ck_assert_uint_ge(top, next);
        ck_assert_uint_eq(lat_bucket(next), i);
        ck_assert_uint_eq(lat_bucket(top), i);
        ck_assert_uint_eq(lat_bucket(top + 1), i + 1);
        ck_assert(top - next <= next / 16);
        next = top + 1;
    }
    ck_assert_uint_eq(next, 31ull << 35); /* the last bucket: from there on */
    for (uint64_t v = 0; v < 32; v++) ck_assert_uint_eq(lat_bucket_top(lat_bucket(v)), v);
    ck_assert_uint_eq(lat_bucket_top(lat_bucket(100)), 103);
    ck_assert_uint_eq(lat_bucket(UINT64_MAX), LAT_NBUCKETS - 1);
}
END_TEST

/* Percentiles as Redis's HDR histogram picks them: the first bucket where the running count
 * reaches pct% of the total, rounded half up, and at least one. */
START_TEST(test_lat_percentile)
{
    uint64_t *c = calloc(LAT_NBUCKETS, sizeof(*c));
    ck_assert_uint_eq(lat_percentile(c, 0, 50), 0);
    c[lat_bucket(10)] = 98;
    c[lat_bucket(1000)] = 1;
    c[lat_bucket(70000)] = 1;
    ck_assert_uint_eq(lat_percentile(c, 100, 50), 10);
    ck_assert_uint_eq(lat_percentile(c, 100, 98), 10);
    ck_assert_uint_eq(lat_percentile(c, 100, 99), lat_bucket_top(lat_bucket(1000)));
    ck_assert_uint_eq(lat_percentile(c, 100, 99.9), lat_bucket_top(lat_bucket(70000)));
    ck_assert_uint_eq(lat_percentile(c, 100, 100), lat_bucket_top(lat_bucket(70000)));
    ck_assert_uint_eq(lat_percentile(c, 100, 0.001), 10);
    free(c);
}
END_TEST

/* The histogram is made at the first record and counts each latency in its bucket. */
START_TEST(test_lat_record)
{
    struct cmd_stats cs = {0};
    ck_assert_ptr_null(atomic_load(&cs.lat));
    lat_record(&cs, 5);
    lat_record(&cs, 5);
    lat_record(&cs, 5000);
    struct lat_hist *h = atomic_load(&cs.lat);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(stat_get(&h->b[5]), 2);
    ck_assert_uint_eq(stat_get(&h->b[lat_bucket(5000)]), 1);
    free(h);
}
END_TEST

Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("latency");
    tcase_add_test(tc, test_lat_buckets);
    tcase_add_test(tc, test_lat_percentile);
    tcase_add_test(tc, test_lat_record);
    suite_add_tcase(s, tc);
    return s;
}
