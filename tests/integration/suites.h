/* Integration suites; run_integration.c runs them against the clusters it starts. */
#ifndef PX_ITEST_SUITES_H
#define PX_ITEST_SUITES_H

#include <check.h>

Suite *basic_suite(void);
Suite *pipeline_suite(void);
Suite *errors_suite(void);
Suite *startup_suite(void);
Suite *reshard_suite(void);
Suite *failover_suite(void);
Suite *limits_suite(void);
Suite *topology_suite(void);
Suite *fanout_suite(void);
Suite *keyspace_suite(void);
Suite *conn_suite(void);
Suite *scripts_suite(void);
Suite *txn_suite(void);
Suite *blocking_suite(void);
Suite *readpref_suite(void);
Suite *compare_suite(void);
Suite *pyclient_suite(void);
Suite *ops_suite(void);
Suite *pubsub_suite(void);
Suite *faults_suite(void);
Suite *resp3_suite(void);
Suite *nodeclient_suite(void);
Suite *fixes_suite(void);
Suite *acl_suite(void);
Suite *tracking_suite(void);
Suite *pool_suite(void);
Suite *http_suite(void);
Suite *inline_suite(void);
Suite *crossslot_suite(void);
Suite *tls_suite(void);

#endif
