/*
 * Unit tests for proxy/errors: every error text the proxy can send. Those Redis has are compared
 * with what redis-server 7.0.15 answers, byte for byte; every text is checked to be one RESP error
 * line (a '-', an upper-case code, no CR or LF before the final CRLF), whatever its arguments.
 */
#include "suites.h"

#include "errors.h"

#include <ctype.h>
#include <string.h>

/* One RESP error line: "-CODE text\r\n", nothing else. */
static void check_line(const struct sbuf *s)
{
    ck_assert_uint_ge(s->len, 5);
    ck_assert_int_eq(s->buf[0], '-');
    ck_assert_msg(isupper((unsigned char)s->buf[1]), "%.*s", (int)s->len, s->buf);
    ck_assert(s->buf[s->len - 2] == '\r' && s->buf[s->len - 1] == '\n');
    for (size_t i = 0; i + 2 < s->len; i++)
        ck_assert_msg(s->buf[i] != '\r' && s->buf[i] != '\n', "CR/LF inside %.*s", (int)s->len,
                      s->buf);
}

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        struct sbuf s_;                                                                            \
        sbuf_init(&s_);                                                                            \
        call;                                                                                      \
        check_line(&s_);                                                                           \
        ck_assert_msg(s_.len == strlen(want) && memcmp(s_.buf, want, s_.len) == 0, "got %.*s",     \
                      (int)s_.len, s_.buf);                                                        \
        sbuf_free(&s_);                                                                            \
    } while (0)

#define LINE(call)                                                                                 \
    do {                                                                                           \
        struct sbuf s_;                                                                            \
        sbuf_init(&s_);                                                                            \
        call;                                                                                      \
        check_line(&s_);                                                                           \
        sbuf_free(&s_);                                                                            \
    } while (0)

START_TEST(test_errors_redis_texts)
{
    /* redis-server 7.0.15's own texts. */
    EXPECT(errors_crossslot(&s_), "-CROSSSLOT Keys in request don't hash to the same slot\r\n");
    EXPECT(errors_noauth(&s_), "-NOAUTH Authentication required.\r\n");
    EXPECT(errors_wrong_arity(&s_, "get"), "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT(errors_syntax(&s_), "-ERR syntax error\r\n");
    EXPECT(errors_not_integer(&s_), "-ERR value is not an integer or out of range\r\n");
    EXPECT(errors_wrongpass(&s_),
           "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    EXPECT(errors_noproto(&s_), "-NOPROTO unsupported protocol version\r\n");
    EXPECT(errors_multi_nested(&s_), "-ERR MULTI calls can not be nested\r\n");
    EXPECT(errors_exec_without_multi(&s_), "-ERR EXEC without MULTI\r\n");
    EXPECT(errors_discard_without_multi(&s_), "-ERR DISCARD without MULTI\r\n");
    EXPECT(errors_watch_in_multi(&s_), "-ERR WATCH inside MULTI is not allowed\r\n");
    EXPECT(errors_execabort(&s_),
           "-EXECABORT Transaction discarded because of previous errors.\r\n");
    EXPECT(errors_slot_unserved(&s_), "-CLUSTERDOWN Hash slot not served\r\n");
    EXPECT(errors_invalid_cursor(&s_), "-ERR invalid cursor\r\n");
    /* A standalone redis-server 7.0.15's answer to CLUSTER INFO (pool mode's). */
    EXPECT(errors_cluster_disabled(&s_), "-ERR This instance has cluster support disabled\r\n");
    EXPECT(errors_maxclients(&s_), "-ERR max number of clients reached\r\n");
    EXPECT(errors_select_cluster(&s_), "-ERR SELECT is not allowed in cluster mode\r\n");
    EXPECT(errors_invalid_slot(&s_, 0), "-ERR Invalid slot\r\n");
    EXPECT(errors_invalid_slot(&s_, 1), "-ERR Invalid slot or number of keys\r\n");
    EXPECT(errors_unrecognized_option(&s_, "x", 1), "-ERR Unrecognized option 'x'\r\n");
    EXPECT(errors_hello_option(&s_, "FOO", 3), "-ERR Syntax error in HELLO option 'FOO'\r\n");
    EXPECT(errors_unknown_client_type(&s_, "x", 1), "-ERR Unknown client type 'x'\r\n");
    EXPECT(errors_wrongtype(&s_),
           "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    EXPECT(errors_no_such_key(&s_), "-ERR no such key\r\n");
    EXPECT(errors_db_out_of_range(&s_), "-ERR DB index is out of range\r\n");
    EXPECT(errors_copy_other_db(&s_),
           "-ERR Copying to another database is not allowed in cluster mode\r\n");
    EXPECT(errors_pubsub_context(&s_, "get"),
           "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
           "RESET are allowed in this context\r\n");
    /* Unknown command: the arguments quoted, cut at 128 characters, a NUL ends one. */
    const char base[] = "foo"
                        "a\0b"
                        "c";
    struct resp_span argv[3] = {{0, 3}, {3, 3}, {6, 1}};
    EXPECT(errors_unknown_command(&s_, base, argv, 3),
           "-ERR unknown command 'foo', with args beginning with: 'a' 'c' \r\n");
    struct resp_span sub[2] = {{0, 3}, {6, 1}};
    EXPECT(errors_unknown_subcommand(&s_, base, sub),
           "-ERR unknown subcommand 'c'. Try FOO HELP.\r\n");
}
END_TEST

START_TEST(test_errors_protocol)
{
    static const struct {
        enum resp_req_error err;
        char bad;
        const char *text;
    } cases[] = {
        {RESP_REQ_ERR_INLINE_TOO_BIG, 0, "-ERR Protocol error: too big inline request\r\n"},
        {RESP_REQ_ERR_UNBALANCED_QUOTES, 0,
         "-ERR Protocol error: unbalanced quotes in request\r\n"},
        {RESP_REQ_ERR_MBULK_TOO_BIG, 0, "-ERR Protocol error: too big mbulk count string\r\n"},
        {RESP_REQ_ERR_MBULK_INVALID, 0, "-ERR Protocol error: invalid multibulk length\r\n"},
        {RESP_REQ_ERR_BULK_TOO_BIG, 0, "-ERR Protocol error: too big bulk count string\r\n"},
        {RESP_REQ_ERR_BULK_INVALID, 0, "-ERR Protocol error: invalid bulk length\r\n"},
        {RESP_REQ_ERR_UNAUTH_MBULK, 0, "-ERR Protocol error: unauthenticated multibulk length\r\n"},
        {RESP_REQ_ERR_UNAUTH_BULK, 0, "-ERR Protocol error: unauthenticated bulk length\r\n"},
        {RESP_REQ_ERR_EXPECTED_DOLLAR, 'x', "-ERR Protocol error: expected '$', got 'x'\r\n"},
        {RESP_REQ_ERR_EXPECTED_DOLLAR, '\n', "-ERR Protocol error: expected '$', got ' '\r\n"},
        {RESP_REQ_ERR_EXPECTED_DOLLAR, '\0', "-ERR Protocol error: expected '$', got '\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct resp_req_result res = {.err = cases[i].err, .bad_char = cases[i].bad};
        EXPECT(errors_protocol(&s_, &res), cases[i].text);
    }
}
END_TEST

/* The proxy's own errors: one line each, whatever their arguments hold. */
START_TEST(test_errors_own_lines)
{
    LINE(errors_node_unreachable(&s_, "1.2.3.4:5", "connect: refused\r\nx"));
    LINE(errors_node_unreachable(&s_, "1.2.3.4:5", NULL));
    LINE(errors_no_topology(&s_));
    LINE(errors_no_master(&s_, ERRM_CLUSTER));
    LINE(errors_no_master(&s_, ERRM_POOL));
    LINE(errors_unserved(&s_, 1, ERRM_POOL_EJECT));
    LINE(errors_connection_lost(&s_, "a\nb"));
    LINE(errors_node_timeout(&s_, "a", 1000));
    LINE(errors_node_deposed(&s_, "a\r\nb"));
    LINE(errors_node_stalled(&s_, "a", 5000));
    LINE(errors_stall_unconfirmed(&s_, "a", 3000));
    LINE(errors_too_many_redirects(&s_, "MOVED 1 x\r\n", 11));
    LINE(errors_topology_changed(&s_));
    LINE(errors_unexpected_reply(&s_, "MGET"));
    LINE(errors_not_in_multi(&s_, "subscribe"));
    LINE(errors_tx_conn_lost(&s_, "a"));
    LINE(errors_tx_moved(&s_));
    LINE(errors_auth_no_password(&s_));
    LINE(errors_hello_proto_not_integer(&s_));
    LINE(errors_hello_noauth(&s_));
    LINE(errors_bad_client_name(&s_));
    LINE(errors_bad_lib_attr(&s_, "lib-name"));
    LINE(errors_select_range(&s_));
    LINE(errors_invalid_client_id(&s_));
    LINE(errors_no_handler(&s_, "x"));
    LINE(errors_denied(&s_));
    EXPECT(errors_server_unreachable(&s_, "10.0.0.1:6379", "connect: Connection refused"),
           "-ERR server 10.0.0.1:6379 is unreachable: connect: Connection refused\r\n");
    LINE(errors_server_unreachable(&s_, "a", "x\r\ny"));
    LINE(errors_server_unreachable(&s_, "a", NULL));
    LINE(errors_pool_empty(&s_, 1));
    LINE(errors_pool_empty(&s_, 0));
    LINE(errors_pool_changed(&s_));
    LINE(errors_crossserver(&s_));
    LINE(errors_copy_db_pool(&s_));
    LINE(errors_select_pool(&s_));
    LINE(errors_monitor_in_multi(&s_));
    for (int why = 0; why < PXU_COUNT; why++) {
        LINE(errors_unsupported(&s_, "cmd", errors_unsupported_text((enum px_unsupported)why)));
    }
    for (int e = PXE_UNKNOWN_COMMAND; e <= PXE_ONESHOT; e++) {
        const char base[] = "cmdsub";
        struct resp_span argv[2] = {{0, 3}, {3, 3}};
        LINE(errors_route(&s_, (enum px_err)e, base, argv, 2, "cmd", "is refused"));
    }
}
END_TEST

/* -cross-slot compute's half-way failures: one line each, saying what state the keys are in,
 * with or without errors to quote. */
START_TEST(test_errors_cross)
{
    const char lost[] = "ERR connection to node 1.2.3.4:5 lost before its reply; the command may "
                        "or may not have run";
    const char down[] = "CLUSTERDOWN Hash slot not served\r\nsecond line";
    for (int how = PXC_PUT_BACK; how <= PXC_NOT_UNDONE; how++) {
        LINE(errors_cross(&s_, "smove", (enum px_cross_fail)how, down, sizeof(down) - 1, down,
                          sizeof(down) - 1, NULL, 0));
        LINE(errors_cross(&s_, "rename", (enum px_cross_fail)how, NULL, 0, NULL, 0, "{x}tmp", 6));
    }
    struct sbuf s;
    sbuf_init(&s);
    errors_cross(&s, "rename", PXC_PUT_BACK, down, 16, NULL, 0, NULL, 0);
    ck_assert_ptr_nonnull(strstr(s.buf, "so nothing changed"));
    sbuf_clear(&s);
    errors_cross(&s, "rename", PXC_PUT_BACK, lost, sizeof(lost) - 1, NULL, 0, NULL, 0);
    ck_assert_ptr_nonnull(memmem(s.buf, s.len, "may have been written", 21));
    sbuf_clear(&s);
    errors_cross(&s, "msetnx", PXC_NOT_UNDONE, lost, sizeof(lost) - 1, down, 16, NULL, 0);
    ck_assert_ptr_nonnull(memmem(s.buf, s.len, "partially set", 13));
    sbuf_clear(&s);
    errors_cross(&s, "rename", PXC_LOST, down, 16, down, 16, "{x}tmp", 6);
    ck_assert_ptr_nonnull(memmem(s.buf, s.len, "'{x}tmp'", 8));
    sbuf_free(&s);
    /* What the classifiers make of the proxy's own texts and the nodes'. */
    ck_assert(errors_may_have_run(lost, sizeof(lost) - 1));
    ck_assert(!errors_may_have_run(down, 16));
    ck_assert(errors_is_unavailable(down, 16));
    ck_assert(errors_is_unavailable(lost, sizeof(lost) - 1));
    ck_assert(errors_is_unavailable("TRYAGAIN x", 10));
    ck_assert(errors_is_unavailable("LOADING Redis is loading", 24));
    ck_assert(!errors_is_unavailable("ERR syntax error", 16));
    ck_assert(!errors_is_unavailable("WRONGTYPE Operation", 19));
    ck_assert(errors_is_busykey("BUSYKEY Target key name already exists.", 39));
    ck_assert(!errors_is_busykey("ERR BUSYKEY", 11));
}
END_TEST

/* The HTTP status of an error reply; an EXEC refused before it ran takes its reason's. */
START_TEST(test_errors_http_status)
{
    static const struct {
        const char *line;
        unsigned status;
    } c[] = {{"NOPERM User u has no permissions to run the 'exec' command", 403},
             {"EXECABORT Transaction discarded because of: NOPERM User u has no permissions to "
              "run the 'exec' command",
              403},
             {"EXECABORT Transaction discarded because of: NOAUTH Authentication required.", 401},
             {"EXECABORT Transaction discarded because of previous errors.", 400},
             {"WRONGPASS invalid username-password pair or user is disabled.", 401},
             {"ERR no server of the pool is available", 502},
             {"WRONGTYPE Operation against a key holding the wrong kind of value", 400}};
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        ck_assert_msg(errors_http_status(c[i].line, strlen(c[i].line)) == c[i].status, "%s",
                      c[i].line);
}
END_TEST

/* The HTTP front's own refusals: plain text for {"error": ...}, starting like Redis's errors. */
START_TEST(test_errors_http)
{
    for (int e = 0; e < PXH_COUNT; e++) {
        struct sbuf s;
        sbuf_init(&s);
        errors_http(&s, (enum px_http_err)e, e % 2 ? "detail" : NULL);
        ck_assert_msg(s.len > 4 && memcmp(s.buf, "ERR ", 4) == 0, "%d: %.*s", e, (int)s.len, s.buf);
        ck_assert(!memchr(s.buf, '\r', s.len) && !memchr(s.buf, '\n', s.len));
        if (e % 2) ck_assert_ptr_nonnull(memmem(s.buf, s.len, ": detail", 8));
        sbuf_free(&s);
    }
}
END_TEST

Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, test_errors_redis_texts);
    tcase_add_test(tc, test_errors_protocol);
    tcase_add_test(tc, test_errors_own_lines);
    tcase_add_test(tc, test_errors_cross);
    tcase_add_test(tc, test_errors_http);
    tcase_add_test(tc, test_errors_http_status);
    suite_add_tcase(s, tc);
    return s;
}
