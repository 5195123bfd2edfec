/*
 * Unit tests for cluster/redirect: parsing the text of -MOVED and -ASK errors into a slot and a
 * node address, including IPv6 (bracketed or, as Redis 7 writes it, bare) and the empty host
 * that means "the node that sent the redirect".
 */
#include "suites.h"

#include "px_errors.h"
#include "redirect.h"

#include <stdio.h>
#include <string.h>

static int parse(const char *text, const char *from_ip, struct redirect *rd)
{
    memset(rd, 0x5a, sizeof(*rd));
    return redirect_parse(text, strlen(text), from_ip, rd);
}

static void assert_redirect(const char *text, const char *from_ip, int slot, const char *ip,
                            int port, const char *addr)
{
    struct redirect rd;
    int rc = parse(text, from_ip, &rd);
    ck_assert_msg(rc == 0, "\"%s\": rc %d", text, rc);
    ck_assert_int_eq(rd.slot, slot);
    ck_assert_str_eq(rd.ip, ip);
    ck_assert_int_eq(rd.port, port);
    ck_assert_str_eq(rd.addr, addr);
}

START_TEST(test_redirect_moved_and_ask)
{
    assert_redirect("MOVED 3999 127.0.0.1:6381", "10.0.0.9", 3999, "127.0.0.1", 6381,
                    "127.0.0.1:6381");
    assert_redirect("ASK 3999 127.0.0.1:6381", "10.0.0.9", 3999, "127.0.0.1", 6381,
                    "127.0.0.1:6381");
    assert_redirect("MOVED 0 127.0.0.1:1", "x", 0, "127.0.0.1", 1, "127.0.0.1:1");
    assert_redirect("MOVED 16383 127.0.0.1:65535", "x", 16383, "127.0.0.1", 65535,
                    "127.0.0.1:65535");
    /* A hostname endpoint (cluster-preferred-endpoint-type hostname) is kept as it is. */
    assert_redirect("MOVED 12182 redis-3.example.net:7003", "x", 12182, "redis-3.example.net", 7003,
                    "redis-3.example.net:7003");
}
END_TEST

START_TEST(test_redirect_ipv6)
{
    assert_redirect("MOVED 1 [::1]:7000", "x", 1, "::1", 7000, "[::1]:7000");
    /* Redis writes IPv6 endpoints without brackets: the port follows the last colon. */
    assert_redirect("MOVED 1 ::1:7000", "x", 1, "::1", 7000, "[::1]:7000");
    assert_redirect("ASK 5461 fe80::1:2:3:7002", "x", 5461, "fe80::1:2:3", 7002,
                    "[fe80::1:2:3]:7002");
    assert_redirect("ASK 5461 [2001:db8::7]:7002", "x", 5461, "2001:db8::7", 7002,
                    "[2001:db8::7]:7002");
}
END_TEST

START_TEST(test_redirect_empty_host)
{
    /* Redis 7 sends ":port" when the node's endpoint is unknown: it is the sender's host. */
    assert_redirect("MOVED 7000 :7001", "127.0.0.5", 7000, "127.0.0.5", 7001, "127.0.0.5:7001");
    assert_redirect("ASK 7000 :7001", "::1", 7000, "::1", 7001, "[::1]:7001");
}
END_TEST

START_TEST(test_redirect_rejected)
{
    static const char *const bad[] = {
        "",
        "MOVED",
        "MOVED ",
        "ASK",
        "ASK ",
        "moved 1 a:1",
        "ERR MOVED 1 a:1",
        "ASKING 1 a:1",
        "MOVED 1",
        "MOVED 1 ",
        "MOVED 1 a",
        "MOVED 1 a:",
        "MOVED 16384 a:1",
        "MOVED 99999999999999999999 a:1",
        "MOVED -1 a:1",
        "MOVED 01 a:1",
        "MOVED +1 a:1",
        "MOVED x a:1",
        "MOVED  1 a:1",
        "MOVED 1 a:0",
        "MOVED 1 a:65536",
        "MOVED 1 a:-1",
        "MOVED 1 a:+1",
        "MOVED 1 a:07000",
        "MOVED 1 a:1 ",
        "MOVED 1 a:1x",
        "MOVED 1 a:1\r\n",
        "MOVED 1 [::1]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct redirect rd;
        ck_assert_msg(parse(bad[i], "127.0.0.1", &rd) == PX_EPROTO, "\"%s\" was accepted", bad[i]);
    }
    /* A host that does not fit the ip field is refused rather than cut. */
    char text[128];
    char host[SLOTMAP_IP_MAX + 1];
    memset(host, 'h', sizeof(host) - 1);
    host[SLOTMAP_IP_MAX] = '\0';
    snprintf(text, sizeof(text), "MOVED 1 %s:7000", host);
    struct redirect rd;
    ck_assert_int_eq(parse(text, "x", &rd), PX_EPROTO);
    host[SLOTMAP_IP_MAX - 1] = '\0'; /* 63 characters fit */
    snprintf(text, sizeof(text), "MOVED 1 %s:7000", host);
    ck_assert_int_eq(parse(text, "x", &rd), 0);
    ck_assert_str_eq(rd.ip, host);
}
END_TEST

START_TEST(test_redirect_length_honoured)
{
    /* The text is a span of a reply: bytes past len are not part of it. */
    struct redirect rd;
    const char *t = "MOVED 12 127.0.0.1:70001";
    ck_assert_int_eq(redirect_parse(t, strlen(t) - 1, "x", &rd), 0);
    ck_assert_int_eq(rd.port, 7000);
    ck_assert_int_eq(rd.slot, 12);
    ck_assert_int_eq(redirect_parse(t, 5, "x", &rd), PX_EPROTO);
    ck_assert_int_eq(redirect_parse(t, 6, "x", &rd), PX_EPROTO);
}
END_TEST

Suite *redirect_suite(void)
{
    Suite *s = suite_create("redirect");
    TCase *tc = tcase_create("redirect");
    tcase_add_test(tc, test_redirect_moved_and_ask);
    tcase_add_test(tc, test_redirect_ipv6);
    tcase_add_test(tc, test_redirect_empty_host);
    tcase_add_test(tc, test_redirect_rejected);
    tcase_add_test(tc, test_redirect_length_honoured);
    suite_add_tcase(s, tc);
    return s;
}
