/* Every unit-test suite; run_unit.c adds them all. Each test_<module>.c defines one. */
#ifndef PX_TEST_SUITES_H
#define PX_TEST_SUITES_H

#include <check.h>

Suite *crc16_suite(void);
Suite *resp_req_suite(void);
Suite *resp_reply_suite(void);
Suite *resp_write_suite(void);
Suite *buf_suite(void);
Suite *loop_suite(void);
Suite *stream_suite(void);
Suite *redirect_suite(void);
Suite *slots_reply_suite(void);
Suite *config_suite(void);
Suite *commands_suite(void);
Suite *keys_suite(void);
Suite *route_suite(void);
Suite *merge_suite(void);
Suite *scan_suite(void);
Suite *txn_suite(void);
Suite *pubsub_suite(void);
Suite *limits_suite(void);
Suite *errors_suite(void);
Suite *placement_suite(void);
Suite *acl_suite(void);
Suite *tracking_suite(void);
Suite *pool_suite(void);
Suite *httpjson_suite(void);
Suite *crossslot_suite(void);
Suite *stats_suite(void);
Suite *scripts_suite(void);

#endif
