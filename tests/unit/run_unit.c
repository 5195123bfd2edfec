/*
 * The unit-test runner: adds every suite and runs them (forked per test, libcheck's default).
 * CK_RUN_SUITE / CK_RUN_CASE select a subset; CK_TAP_LOG_FILE_NAME etc. work as usual.
 */
#include "suites.h"

#include <stdlib.h>

int main(void)
{
    Suite *(*const suites[])(void) = {
        crc16_suite,  resp_req_suite, resp_reply_suite, resp_write_suite,
        buf_suite,    loop_suite,     stream_suite,     redirect_suite,   slots_reply_suite,
        config_suite, commands_suite, keys_suite,       route_suite,
        merge_suite,  scan_suite,     txn_suite,        pubsub_suite,
        limits_suite, errors_suite,   placement_suite,  acl_suite,
        tracking_suite, pool_suite,     httpjson_suite, crossslot_suite, stats_suite, scripts_suite,
    };
    SRunner *sr = srunner_create(suites[0]());
    for (size_t i = 1; i < sizeof(suites) / sizeof(suites[0]); i++)
        srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
