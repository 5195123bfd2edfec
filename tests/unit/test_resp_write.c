/*
 * Unit tests for net/resp_write: the growable sbuf and the RESP writers. Every writer's output is
 * compared byte for byte with what Redis sends for the same value.
 */
#include "suites.h"

#include "resp_write.h"

#include <limits.h>
#include <string.h>

/* Asserts that s holds exactly the len bytes of want. */
static void assert_bytes(const struct sbuf *s, const char *want, size_t len)
{
    ck_assert_msg(s->len == len, "length %zu, want %zu", s->len, len);
    ck_assert_mem_eq(s->buf, want, len);
}

#define S(lit) lit, sizeof(lit) - 1

START_TEST(test_write_simple_and_int)
{
    struct sbuf s;
    sbuf_init(&s);
    resp_write_simple(&s, "OK");
    assert_bytes(&s, S("+OK\r\n"));
    sbuf_clear(&s);
    resp_write_simple(&s, "");
    assert_bytes(&s, S("+\r\n"));
    sbuf_clear(&s);
    resp_write_int(&s, 0);
    resp_write_int(&s, -1);
    resp_write_int(&s, 1000);
    resp_write_int(&s, LLONG_MAX);
    resp_write_int(&s, LLONG_MIN);
    assert_bytes(&s, S(":0\r\n:-1\r\n:1000\r\n:9223372036854775807\r\n:-9223372036854775808\r\n"));
    sbuf_free(&s);
    ck_assert_ptr_null(s.buf);
    ck_assert_uint_eq(s.len, 0);
}
END_TEST

START_TEST(test_write_bulk_and_array)
{
    struct sbuf s;
    sbuf_init(&s);
    resp_write_array_len(&s, 3);
    resp_write_bulk(&s, "hello", 5);
    resp_write_bulk(&s, "", 0);
    resp_write_null_bulk(&s);
    assert_bytes(&s, S("*3\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n"));
    sbuf_clear(&s);
    /* Bulks are binary-safe. */
    resp_write_bulk(&s, "a\r\n\0b", 5);
    assert_bytes(&s, S("$5\r\na\r\n\0b\r\n"));
    sbuf_clear(&s);
    resp_write_array_len(&s, 0);
    resp_write_array_len(&s, -1);
    assert_bytes(&s, S("*0\r\n*-1\r\n"));
    sbuf_free(&s);
}
END_TEST

START_TEST(test_write_error)
{
    struct sbuf s;
    sbuf_init(&s);
    resp_write_error(&s, S("ERR unknown command 'foo'"));
    assert_bytes(&s, S("-ERR unknown command 'foo'\r\n"));
    sbuf_clear(&s);
    /* CR and LF become spaces so the error stays one line; other bytes are untouched. */
    resp_write_error(&s, S("ERR a\r\nb\nc\rd\te"));
    assert_bytes(&s, S("-ERR a  b c d\te\r\n"));
    sbuf_clear(&s);
    resp_write_error(&s, S("\r\n"));
    assert_bytes(&s, S("-  \r\n"));
    sbuf_clear(&s);
    /* The length is honoured, not the NUL. */
    resp_write_error(&s, "ERR xyz", 5);
    assert_bytes(&s, S("-ERR x\r\n"));
    sbuf_clear(&s);
    resp_write_errorf(&s, "ERR wrong number of arguments for '%s' command", "get");
    assert_bytes(&s, S("-ERR wrong number of arguments for 'get' command\r\n"));
    sbuf_clear(&s);
    resp_write_errorf(&s, "ERR %s", "multi\nline\r\ntext");
    assert_bytes(&s, S("-ERR multi line  text\r\n"));
    sbuf_clear(&s);
    resp_write_errorf(&s, "%s", "");
    assert_bytes(&s, S("-\r\n"));
    /* Appending after other output keeps what was there. */
    sbuf_clear(&s);
    resp_write_simple(&s, "OK");
    resp_write_error(&s, S("ERR\nx"));
    assert_bytes(&s, S("+OK\r\n-ERR x\r\n"));
    sbuf_free(&s);
}
END_TEST

START_TEST(test_write_sbuf_growth)
{
    struct sbuf s;
    sbuf_init(&s);
    /* Many small appends, then a large one: the bytes stay in order across reallocations. */
    for (int i = 0; i < 1000; i++) sbuf_put(&s, "0123456789", 10);
    ck_assert_uint_eq(s.len, 10000);
    ck_assert_uint_ge(s.cap, s.len);
    for (int i = 0; i < 1000; i++) ck_assert_mem_eq(s.buf + i * 10, "0123456789", 10);
    static char big[100000];
    memset(big, 'z', sizeof(big));
    resp_write_bulk(&s, big, sizeof(big));
    ck_assert_uint_eq(s.len, 10000 + 9 + 100000 + 2);
    ck_assert_mem_eq(s.buf + 10000, "$100000\r\n", 9);
    ck_assert_mem_eq(s.buf + 10009, big, sizeof(big));
    ck_assert_mem_eq(s.buf + 110009, "\r\n", 2);
    sbuf_clear(&s);
    ck_assert_uint_eq(s.len, 0);
    sbuf_puts(&s, "abc");
    sbuf_printf(&s, "%d-%s", 42, "x");
    sbuf_printf(&s, "%s", ""); /* nothing to add */
    assert_bytes(&s, S("abc42-x"));
    /* A formatted string longer than the current capacity. */
    sbuf_printf(&s, "%0500d", 7);
    ck_assert_uint_eq(s.len, 507);
    ck_assert_int_eq(s.buf[506], '7');
    ck_assert_int_eq(s.buf[7], '0');
    sbuf_free(&s);
}
END_TEST

Suite *resp_write_suite(void)
{
    Suite *s = suite_create("resp_write");
    TCase *tc = tcase_create("resp_write");
    tcase_add_test(tc, test_write_simple_and_int);
    tcase_add_test(tc, test_write_bulk_and_array);
    tcase_add_test(tc, test_write_error);
    tcase_add_test(tc, test_write_sbuf_growth);
    suite_add_tcase(s, tc);
    return s;
}
