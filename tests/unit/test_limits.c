/*
 * Unit tests for proxy/client_limits: the verdicts of the client limits. The output limit is
 * hard (at once) or soft (only after the output stayed over it for its seconds, the clock
 * restarting when it goes back under), the idle timeout spares busy clients, and 0 turns each
 * limit off.
 */
#include "suites.h"

#include "client_limits.h"

#include <string.h>

static struct config cfg_with(unsigned long long hard, unsigned long long soft, int soft_s)
{
    struct config c;
    memset(&c, 0, sizeof(c));
    c.cobl_hard = hard;
    c.cobl_soft = soft;
    c.cobl_soft_s = soft_s;
    return c;
}

START_TEST(test_limits_output)
{
    struct config c = cfg_with(1000, 100, 2);
    uint64_t since = 0;
    ck_assert_int_eq(limits_output(&c, 100, 5000, &since), LIMITS_OUTPUT_OK);
    ck_assert_uint_eq(since, 0);
    ck_assert_int_eq(limits_output(&c, 1001, 5000, &since), LIMITS_OUTPUT_HARD);
    /* Over the soft limit: the clock starts, and runs out after 2 s over it. */
    ck_assert_int_eq(limits_output(&c, 101, 5000, &since), LIMITS_OUTPUT_OK);
    ck_assert_uint_eq(since, 5000);
    ck_assert_int_eq(limits_output(&c, 500, 6999, &since), LIMITS_OUTPUT_OK);
    ck_assert_int_eq(limits_output(&c, 500, 7000, &since), LIMITS_OUTPUT_SOFT);
    /* Back under it: the clock restarts from zero. */
    ck_assert_int_eq(limits_output(&c, 50, 7100, &since), LIMITS_OUTPUT_OK);
    ck_assert_uint_eq(since, 0);
    ck_assert_int_eq(limits_output(&c, 500, 7200, &since), LIMITS_OUTPUT_OK);
    ck_assert_int_eq(limits_output(&c, 500, 9100, &since), LIMITS_OUTPUT_OK);
    ck_assert_int_eq(limits_output(&c, 500, 9200, &since), LIMITS_OUTPUT_SOFT);
    /* 0 is no limit. */
    struct config off = cfg_with(0, 0, 0);
    since = 0;
    ck_assert_int_eq(limits_output(&off, 1ull << 40, 1, &since), LIMITS_OUTPUT_OK);
    struct config soft_only = cfg_with(0, 100, 0);
    ck_assert_int_eq(limits_output(&soft_only, 1ull << 40, 1, &since), LIMITS_OUTPUT_OK);
}
END_TEST

START_TEST(test_limits_idle_query_inflight)
{
    struct config c;
    memset(&c, 0, sizeof(c));
    c.timeout_s = 2;
    c.query_buf_limit = 1024;
    c.max_inflight = 10;
    ck_assert(!limits_idle(&c, 1000, 3000, 0));
    ck_assert(limits_idle(&c, 1000, 3001, 0));
    ck_assert(!limits_idle(&c, 1000, 100000, 1)); /* blocked, subscribed, waiting: never idle */
    c.timeout_s = 0;
    ck_assert(!limits_idle(&c, 0, 1ull << 40, 0));
    ck_assert(!limits_query(&c, 1024));
    ck_assert(limits_query(&c, 1025));
    ck_assert(!limits_inflight_full(&c, 9));
    ck_assert(limits_inflight_full(&c, 10));
    ck_assert(!limits_inflight_resume(&c, 6));
    ck_assert(limits_inflight_resume(&c, 5));
}
END_TEST

Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, test_limits_output);
    tcase_add_test(tc, test_limits_idle_query_inflight);
    suite_add_tcase(s, tc);
    return s;
}
