/*
 * Inline commands (telnet, nc: "set selam timu") against a standalone redis-server 7.0, byte for
 * byte: the same bytes go to the shared proxy and to the runner's redis-server on fresh
 * connections, and the replies, and whether the connection was closed, must be the same. Quoting
 * and escapes, empty and blank lines, bare LF and CR LF, inline lines mixed with multibulk ones in
 * a pipeline, unbalanced quotes, lines longer than Redis's 64 KiB inline limit (with and without
 * their end), and the same before AUTH on a proxy with -requirepass against a redis-server with
 * requirepass (its own, on port 22450).
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INLINE_OUT_MAX (256 * 1024)

/* Sends req on fresh connections to both ports and expects the same answer. */
static void same(int proxy, int ref, const char *req, size_t len, const char *what)
{
    static char a[INLINE_OUT_MAX], b[INLINE_OUT_MAX];
    char sa[512], sb[512];
    int ca, cb;
    size_t na = h_raw(ref, req, len, a, sizeof(a), 500, 0, &ca);
    size_t nb = h_raw(proxy, req, len, b, sizeof(b), 500, 0, &cb);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0 && ca == cb,
                  "%s:\n  redis (%s): %s\n  proxy (%s): %s", what, ca ? "closed" : "open",
                  h_show(a, na, 200, sa, sizeof(sa)), cb ? "closed" : "open",
                  h_show(b, nb, 200, sb, sizeof(sb)));
}

#define SAME(p, r, lit) same(p, r, lit, sizeof(lit) - 1, lit)

START_TEST(test_inline_like_redis)
{
    int p = h_env.proxy_port, r = h_env.single_port;
    SAME(p, r, "del inline:k inline:a\r\n");
    SAME(p, r, "set selam timu\r\nget selam\r\n");
    SAME(p, r, "set selam timu\nget selam\n");
    SAME(p, r, "\r\n\r\n\n   \r\n\t\r\nping\r\n");
    SAME(p, r, "set inline:k \"a b\"\r\nget inline:k\r\nset inline:k 'c d'\r\nget inline:k\r\n");
    SAME(p, r, "set inline:k \"\\x41\\n\\t\\\\z\\\"q\"\r\nget inline:k\r\n");
    SAME(p, r, "set inline:k 'it\\'s'\r\nget inline:k\r\n");
    SAME(p, r, "echo \"\"\r\necho ''\r\n\"\"\r\n");
    SAME(p, r, "echo \"\\xZZ\\u0041\"\r\n");
    SAME(p, r, "echo a\tb\r\n");
    SAME(p, r, "ping\rping\r\n");
    SAME(p, r, "'ping'\r\necho \"a\"   \r\n");
    SAME(p, r, "nosuch a b\r\nget\r\n");
    SAME(p, r, "*1\r\n$4\r\nping\r\nping\r\n*2\r\n$4\r\necho\r\n$1\r\nx\r\necho y\r\n");
    SAME(p, r, "echo a\r\n\x00\r\necho b\r\n");
    SAME(p, r, "set inline:k \"abc\r\nping\r\n");
    SAME(p, r, "set inline:k \"abc\"d\r\nping\r\n");
    SAME(p, r, "set inline:k 'abc'd\r\n");
    /* Lines past the 64 KiB inline limit: one whose end comes within Redis's reads is taken,
     * one without an end is refused once more than 64 KiB are in. */
    size_t n = 70000;
    char *line = malloc(n + 16);
    memcpy(line, "echo ", 5);
    memset(line + 5, 'y', n);
    memcpy(line + 5 + n, "\r\n", 2);
    same(p, r, line, n + 7, "echo <70000 bytes>");
    memset(line, 'x', n);
    same(p, r, line, n, "<70000 bytes without a line end>");
    same(p, r, line, 65536, "<65536 bytes without a line end>");
    free(line);
    /* A telnet session typing slowly: pieces of one line. */
    int fd = h_tcp_connect(p, 0);
    ck_assert_int_eq(write(fd, "set sel", 7), 7);
    h_sleep_ms(50);
    ck_assert_int_eq(write(fd, "am ti", 5), 5);
    h_sleep_ms(50);
    ck_assert_int_eq(write(fd, "mu\r\nget selam\r\n", 15), 15);
    char out[64];
    size_t got = 0;
    uint64_t deadline = h_now_ms() + 5000;
    while (got < 15 && h_now_ms() < deadline) {
        ssize_t k = read(fd, out + got, sizeof(out) - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    out[got] = '\0';
    close(fd);
    ck_assert_str_eq(out, "+OK\r\n$4\r\ntimu\r\n");
}
END_TEST

/* Before AUTH, with a password: a proxy with -requirepass against a redis-server with
 * requirepass. */
START_TEST(test_inline_before_auth)
{
    int rport = 22450, pport = h_env.proxy_port + 130;
    const char *sextra[] = {"--requirepass", "s3cret", NULL};
    pid_t ref = h_single_start_with(rport, sextra);
    ck_assert_int_gt(ref, 0);
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-requirepass", "s3cret", NULL};
    pid_t pid = h_proxy_start(pport, startup, extra, "proxy-inline-auth.log");
    ck_assert_int_gt(pid, 0);
    SAME(pport, rport, "get inline:k\r\n");
    SAME(pport, rport, "auth wrong\r\nping\r\n");
    SAME(pport, rport, "auth s3cret\r\nping\r\necho \"a b\"\r\n");
    SAME(pport, rport, "auth default s3cret\r\nping\r\n");
    SAME(pport, rport, "ping\r\nauth s3cret\r\nping\r\n");
    SAME(pport, rport, "a b c d e f g h i j k l\r\n");
    size_t n = 20000;
    char *line = malloc(n + 16);
    memcpy(line, "echo ", 5);
    memset(line + 5, 'z', n);
    memcpy(line + 5 + n, "\r\n", 2);
    same(pport, rport, line, n + 7, "echo <20000 bytes> before AUTH");
    free(line);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-inline-auth.log"), 0);
    h_single_stop(ref);
}
END_TEST

Suite *inline_suite(void)
{
    Suite *s = suite_create("inline");
    TCase *tc = tcase_create("inline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_inline_like_redis);
    tcase_add_test(tc, test_inline_before_auth);
    suite_add_tcase(s, tc);
    return s;
}
