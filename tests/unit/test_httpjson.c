/*
 * Unit tests for proxy/httpjson: the HTTP front's bodies into Redis arguments, and RESP replies
 * into JSON. Every RESP2 and RESP3 type is rendered from bytes as Redis writes them, including
 * binary and non-UTF-8 strings, errors at the top and nested, maps with and without string keys;
 * JSON bodies that are malformed, of the wrong shape, or hostile (deep nesting, duplicate keys,
 * NUL bytes) are refused with the right error; base64 and UTF-8 checks at their edges.
 */
#include "suites.h"

#include "errors.h"
#include "httpjson.h"

#include <stdio.h>
#include <string.h>

/* The JSON rendering of reply (len bytes) and its status. */
static unsigned render(const char *reply, size_t len, char *out, size_t cap)
{
    struct sbuf s;
    sbuf_init(&s);
    unsigned st = httpjson_reply(reply, len, &s);
    ck_assert_uint_lt(s.len, cap);
    memcpy(out, s.buf, s.len);
    out[s.len] = '\0';
    sbuf_free(&s);
    return st;
}

#define RENDERS(reply, want_status, want)                                                          \
    do {                                                                                           \
        char out_[4096];                                                                           \
        unsigned st_ = render(reply, sizeof(reply) - 1, out_, sizeof(out_));                       \
        ck_assert_msg(st_ == (want_status) && strcmp(out_, want) == 0, "%s -> %u %s", #reply,     \
                      st_, out_);                                                                  \
    } while (0)

START_TEST(test_httpjson_resp2)
{
    RENDERS(":2\r\n", 200, "{\"response\": 2}");
    RENDERS(":-17\r\n", 200, "{\"response\": -17}");
    RENDERS("+OK\r\n", 200, "{\"response\": \"OK\"}");
    RENDERS("$4\r\ntimu\r\n", 200, "{\"response\": \"timu\"}");
    RENDERS("$0\r\n\r\n", 200, "{\"response\": \"\"}");
    RENDERS("$-1\r\n", 200, "{\"response\": null}");
    RENDERS("*-1\r\n", 200, "{\"response\": null}");
    RENDERS("*0\r\n", 200, "{\"response\": []}");
    /* redis-router's example, byte for byte. */
    RENDERS("*2\r\n$10\r\nfenerbahce\r\n$11\r\ngalatasaray\r\n", 200,
            "{\"response\": [\"fenerbahce\", \"galatasaray\"]}");
    RENDERS("*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR inner\r\n", 200,
            "{\"response\": [1, [\"a\", null], {\"error\": \"ERR inner\"}]}");
    /* Escapes: quotes, backslashes, control bytes; UTF-8 as it is. */
    RENDERS("$8\r\na\"b\\c\n\t\x01\r\n", 200, "{\"response\": \"a\\\"b\\\\c\\n\\t\\u0001\"}");
    RENDERS("$7\r\nsel\xc3\xa2m!\r\n", 200, "{\"response\": \"sel\xc3\xa2m!\"}");
    /* Not UTF-8: base64. */
    RENDERS("$3\r\n\xff\x00\x01\r\n", 200, "{\"response\": {\"base64\": \"/wAB\"}}");
    RENDERS("$2\r\n\xc3\x28\r\n", 200, "{\"response\": {\"base64\": \"wyg=\"}}");
    /* Errors: about the request 400, about the cluster 502. */
    RENDERS("-ERR unknown command 'x', with args beginning with: \r\n", 400,
            "{\"error\": \"ERR unknown command 'x', with args beginning with: \"}");
    RENDERS("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 400,
            "{\"error\": \"WRONGTYPE Operation against a key holding the wrong kind of value\"}");
    RENDERS("-CLUSTERDOWN Hash slot not served\r\n", 502,
            "{\"error\": \"CLUSTERDOWN Hash slot not served\"}");
    RENDERS("-ERR connection to node a:1 lost before its reply; the command may or may not "
            "have run\r\n",
            502,
            "{\"error\": \"ERR connection to node a:1 lost before its reply; the command may or "
            "may not have run\"}");
    RENDERS("-NOAUTH Authentication required.\r\n", 401,
            "{\"error\": \"NOAUTH Authentication required.\"}");
    RENDERS("-WRONGPASS invalid username-password pair or user is disabled.\r\n", 401,
            "{\"error\": \"WRONGPASS invalid username-password pair or user is disabled.\"}");
    RENDERS("-NOPERM this user has no permissions to run the 'get' command\r\n", 403,
            "{\"error\": \"NOPERM this user has no permissions to run the 'get' command\"}");
    RENDERS("-TRYAGAIN Multiple keys request during rehashing of slot\r\n", 502,
            "{\"error\": \"TRYAGAIN Multiple keys request during rehashing of slot\"}");
    /* A pool's server that cannot be reached, none left, or the pool changed: 502 too. */
    struct sbuf e;
    sbuf_init(&e);
    char out[512];
    errors_server_unreachable(&e, "127.0.0.1:7699", "connect: Connection refused");
    ck_assert_uint_eq(render(e.buf, e.len, out, sizeof(out)), 502);
    sbuf_clear(&e);
    errors_pool_empty(&e, 1);
    ck_assert_uint_eq(render(e.buf, e.len, out, sizeof(out)), 502);
    sbuf_clear(&e);
    errors_pool_changed(&e);
    ck_assert_uint_eq(render(e.buf, e.len, out, sizeof(out)), 502);
    sbuf_clear(&e);
    errors_crossserver(&e); /* the request's own fault */
    ck_assert_uint_eq(render(e.buf, e.len, out, sizeof(out)), 400);
    sbuf_free(&e);
}
END_TEST

START_TEST(test_httpjson_resp3)
{
    RENDERS("_\r\n", 200, "{\"response\": null}");
    RENDERS("#t\r\n", 200, "{\"response\": true}");
    RENDERS("#f\r\n", 200, "{\"response\": false}");
    RENDERS(",3.5\r\n", 200, "{\"response\": 3.5}");
    RENDERS(",-0\r\n", 200, "{\"response\": -0}");
    RENDERS(",1e+300\r\n", 200, "{\"response\": 1e+300}");
    RENDERS(",inf\r\n", 200, "{\"response\": \"inf\"}");
    RENDERS(",-inf\r\n", 200, "{\"response\": \"-inf\"}");
    RENDERS(",nan\r\n", 200, "{\"response\": \"nan\"}");
    RENDERS("(3492890328409238509324850943850943825024385\r\n", 200,
            "{\"response\": \"3492890328409238509324850943850943825024385\"}");
    RENDERS("=15\r\ntxt:Some string\r\n", 200, "{\"response\": \"Some string\"}");
    RENDERS("~2\r\n$1\r\na\r\n:1\r\n", 200, "{\"response\": [\"a\", 1]}");
    RENDERS(">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n", 200, "{\"response\": [\"message\", \"x\"]}");
    RENDERS("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n+proto\r\n:3\r\n", 200,
            "{\"response\": {\"server\": \"redis\", \"proto\": 3}}");
    RENDERS("%1\r\n:7\r\n*1\r\n$1\r\nx\r\n", 200, "{\"response\": {\"7\": [\"x\"]}}");
    RENDERS("%0\r\n", 200, "{\"response\": {}}");
    /* A key that cannot be an object key: [key, value] pairs for the whole map. */
    RENDERS("%2\r\n$1\r\na\r\n:1\r\n*1\r\n:2\r\n:3\r\n", 200,
            "{\"response\": [[\"a\", 1], [[2], 3]]}");
    RENDERS("%1\r\n$1\r\n\xff\r\n:1\r\n", 200,
            "{\"response\": [[{\"base64\": \"/w==\"}, 1]]}");
    /* Attributes are left out; bulk errors are errors. */
    RENDERS("|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n", 200, "{\"response\": \"v\"}");
    RENDERS("*2\r\n|1\r\n+a\r\n:1\r\n:5\r\n:6\r\n", 200, "{\"response\": [5, 6]}");
    RENDERS("!21\r\nSYNTAX invalid syntax\r\n", 400, "{\"error\": \"SYNTAX invalid syntax\"}");
    RENDERS("*1\r\n!3\r\nERR\r\n", 200, "{\"response\": [{\"error\": \"ERR\"}]}");
}
END_TEST

/* Bytes that are not one reply (cut short, trailing bytes, nested too deep) are not rendered. */
START_TEST(test_httpjson_bad_replies)
{
    char out[4096];
    static const char *const bad[] = {"", "$5\r\nab\r\n", ":1\r\n:2\r\n", "*2\r\n:1\r\n",
                                      ":x\r\n", "#x\r\n", "?\r\n", "%-1\r\n", "$3\r\nabcd\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned st = render(bad[i], strlen(bad[i]), out, sizeof(out));
        ck_assert_msg(st == 502 && strstr(out, "\"error\""), "%s -> %u %s", bad[i], st, out);
    }
    /* 200 levels of arrays: over the depth limit, refused rather than recursed into. */
    char deep[1024];
    size_t n = 0;
    for (int i = 0; i < 200; i++) n += (size_t)snprintf(deep + n, sizeof(deep) - n, "*1\r\n");
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, ":1\r\n");
    ck_assert_uint_eq(render(deep, n, out, sizeof(out)), 502);
}
END_TEST

static void args_expect(const struct http_args *a, uint32_t n, const char *const *want,
                        const uint32_t *lens)
{
    ck_assert_uint_eq(a->n, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t wl = lens ? lens[i] : (uint32_t)strlen(want[i]);
        ck_assert_msg(a->len[i] == wl && memcmp(a->bytes.buf + a->off[i], want[i], wl) == 0,
                      "argument %u: %.*s", i, (int)a->len[i], a->bytes.buf + a->off[i]);
    }
}

static int parse_json(const char *body, struct http_args *a, char *detail)
{
    http_args_init(a);
    return httpjson_parse_json(body, strlen(body), a, detail, 256);
}

START_TEST(test_httpjson_json_bodies)
{
    struct http_args a;
    char detail[256];
    ck_assert_int_eq(parse_json("{\"command\": \"set\", \"arguments\": [\"k\", \"v,with,commas\"]}",
                                &a, detail),
                     0);
    args_expect(&a, 3, (const char *const[]){"set", "k", "v,with,commas"}, NULL);
    ck_assert_int_eq(a.resp, 2);
    struct sbuf s;
    sbuf_init(&s);
    httpjson_request(&a, &s);
    ck_assert_uint_eq(s.len, strlen("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$13\r\nv,with,commas\r\n"));
    ck_assert(memcmp(s.buf, "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$13\r\nv,with,commas\r\n", s.len) == 0);
    sbuf_free(&s);
    http_args_free(&a);
    /* Numbers as their text, base64 for bytes, \u0000 kept, resp 3. */
    ck_assert_int_eq(parse_json("{\"command\": \"x\", \"arguments\": [5, -2, 1.5, 0.1, 1e100, "
                                "{\"base64\": \"/wAB\"}, \"a\\u0000b\", \"\\u00e2\"], \"resp\": 3}",
                                &a, detail),
                     0);
    args_expect(&a, 9,
                (const char *const[]){"x", "5", "-2", "1.5", "0.1", "1e+100", "\xff\x00\x01",
                                      "a\0b", "\xc3\xa2"},
                (const uint32_t[]){1, 1, 2, 3, 3, 6, 3, 3, 2});
    ck_assert_int_eq(a.resp, 3);
    http_args_free(&a);
    /* No arguments. */
    ck_assert_int_eq(parse_json("{\"command\": \"dbsize\"}", &a, detail), 0);
    ck_assert_uint_eq(a.n, 1);
    http_args_free(&a);
    /* Refused, each for its reason. */
    static const struct {
        const char *body;
        int err;
    } bad[] = {
        {"", PXH_BAD_JSON},
        {"{", PXH_BAD_JSON},
        {"{\"command\": \"get\"} x", PXH_BAD_JSON},
        {"[\"get\", \"k\"]", PXH_BAD_JSON},
        {"\"get\"", PXH_BAD_JSON},
        {"{\"command\": \"get\", \"command\": \"set\"}", PXH_BAD_JSON},
        {"{\"command\": \"get\", \"argument\": [\"k\"]}", PXH_BAD_JSON},
        {"{\"command\": \"get\", \"arguments\": \"k\"}", PXH_BAD_JSON},
        {"{\"arguments\": [\"k\"]}", PXH_NO_COMMAND},
        {"{\"command\": \"\"}", PXH_NO_COMMAND},
        {"{\"command\": 5}", PXH_NO_COMMAND},
        {"{\"command\": \"get\", \"arguments\": [true]}", PXH_BAD_ARGUMENT},
        {"{\"command\": \"get\", \"arguments\": [null]}", PXH_BAD_ARGUMENT},
        {"{\"command\": \"get\", \"arguments\": [[\"k\"]]}", PXH_BAD_ARGUMENT},
        {"{\"command\": \"get\", \"arguments\": [{\"base64\": \"***\"}]}", PXH_BAD_ARGUMENT},
        {"{\"command\": \"get\", \"arguments\": [{\"b64\": \"AA==\"}]}", PXH_BAD_ARGUMENT},
        {"{\"command\": \"get\", \"resp\": 4}", PXH_BAD_RESP},
        {"{\"command\": \"get\", \"resp\": \"3\"}", PXH_BAD_RESP},
        {"{\"command\": \"get\xff\"}", PXH_BAD_JSON},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_json(bad[i].body, &a, detail);
        ck_assert_msg(rc == bad[i].err, "%s: %d (%s)", bad[i].body, rc, detail);
        http_args_free(&a);
    }
    /* Nesting far past jansson's limit: an error, not a crash. */
    static char deep[200001];
    memset(deep, '[', 200000);
    ck_assert_int_eq(parse_json(deep, &a, detail), PXH_BAD_JSON);
    http_args_free(&a);
}
END_TEST

START_TEST(test_httpjson_forms)
{
    struct http_args a;
    http_args_init(&a);
    const char args[] = "teams,galatasaray,fenerbahce";
    ck_assert_int_eq(httpjson_from_form("sadd", 4, args, sizeof(args) - 1, NULL, 0, &a), 0);
    args_expect(&a, 4, (const char *const[]){"sadd", "teams", "galatasaray", "fenerbahce"}, NULL);
    http_args_free(&a);
    /* Empty pieces stay (",a," is three arguments); binary bytes as they are. */
    http_args_init(&a);
    ck_assert_int_eq(httpjson_from_form("x", 1, ",\xff\x00,", 4, "3", 1, &a), 0);
    args_expect(&a, 4, (const char *const[]){"x", "", "\xff\x00", ""},
                (const uint32_t[]){1, 0, 2, 0});
    ck_assert_int_eq(a.resp, 3);
    http_args_free(&a);
    /* Missing or empty arguments: none. */
    http_args_init(&a);
    ck_assert_int_eq(httpjson_from_form("dbsize", 6, "", 0, NULL, 0, &a), 0);
    ck_assert_uint_eq(a.n, 1);
    http_args_free(&a);
    http_args_init(&a);
    ck_assert_int_eq(httpjson_from_form(NULL, 0, "a", 1, NULL, 0, &a), PXH_NO_COMMAND);
    http_args_free(&a);
    http_args_init(&a);
    ck_assert_int_eq(httpjson_from_form("get", 3, "a", 1, "4", 1, &a), PXH_BAD_RESP);
    http_args_free(&a);
}
END_TEST

START_TEST(test_httpjson_base64_utf8)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        struct sbuf s;
        sbuf_init(&s);
        httpjson_base64(&s, (const unsigned char *)plain[i], strlen(plain[i]));
        ck_assert_uint_eq(s.len, strlen(enc[i]));
        ck_assert(s.len == 0 || memcmp(s.buf, enc[i], s.len) == 0);
        sbuf_clear(&s);
        ck_assert_int_eq(httpjson_unbase64(enc[i], strlen(enc[i]), &s), 0);
        ck_assert_uint_eq(s.len, strlen(plain[i]));
        ck_assert(s.len == 0 || memcmp(s.buf, plain[i], s.len) == 0);
        sbuf_free(&s);
    }
    static const char *const notb64[] = {"Zg=", "Zg", "Z===", "Zm9v!", "Zg==Zg==", "=Zg="};
    for (size_t i = 0; i < sizeof(notb64) / sizeof(notb64[0]); i++) {
        struct sbuf s;
        sbuf_init(&s);
        ck_assert_msg(httpjson_unbase64(notb64[i], strlen(notb64[i]), &s) < 0, "%s", notb64[i]);
        sbuf_free(&s);
    }
    ck_assert(httpjson_utf8_valid("plain", 5));
    ck_assert(httpjson_utf8_valid("\xc3\xa2\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    ck_assert(!httpjson_utf8_valid("\xc0\xaf", 2));          /* overlong '/' */
    ck_assert(!httpjson_utf8_valid("\xed\xa0\x80", 3));      /* a surrogate */
    ck_assert(!httpjson_utf8_valid("\xf4\x90\x80\x80", 4));  /* past U+10FFFF */
    ck_assert(!httpjson_utf8_valid("\xe2\x82", 2));          /* cut short */
    ck_assert(!httpjson_utf8_valid("\x80", 1));
}
END_TEST

/* Authorization headers as RFC 7617 and 9110 read them: the scheme in any case, whitespace
 * around, the user up to the first colon; anything else is no credentials at all. */
START_TEST(test_httpjson_basic_auth)
{
    static const struct {
        const char *value;
        size_t len; /* 0: strlen */
        const char *user, *pass; /* NULL: refused */
    } c[] = {
        {"Basic YWxpY2U6czNjcmV0", 0, "alice", "s3cret"},
        {"basic YWxpY2U6czNjcmV0", 0, "alice", "s3cret"},
        {"BASIC  YWxpY2U6czNjcmV0 \t ", 0, "alice", "s3cret"},
        {" \tBasic\tYWxpY2U6czNjcmV0", 0, "alice", "s3cret"},
        {"Basic YWxpY2U6YTpiOmM=", 0, "alice", "a:b:c"},
        {"Basic OnMzY3JldA==", 0, "", "s3cret"},
        {"Basic Og==", 0, "", ""},
        {"Basic YWxpY2U6", 0, "alice", ""},
        {"Basic czNjcmV0", 0, NULL, NULL},               /* no colon */
        {"Basic !!!", 0, NULL, NULL},                    /* not base64 */
        {"Basic YWxpY2U6czNjcmV0=", 0, NULL, NULL},      /* bad length */
        {"Basic", 0, NULL, NULL},
        {"Basic ", 0, NULL, NULL},
        {"Basicx YWxpY2U6czNjcmV0", 0, NULL, NULL},
        {"Bearer YWxpY2U6czNjcmV0", 0, NULL, NULL},
        {"", 0, NULL, NULL},
        {"Basic YWxpY2U6czNjcmV0\0junk", 27, NULL, NULL}, /* a NUL in the header */
        {"Basic YWxpY2U6czMAY3JldA==", 0, NULL, NULL},   /* a NUL in the password */
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct sbuf u, p;
        sbuf_init(&u);
        sbuf_init(&p);
        size_t len = c[i].len ? c[i].len : strlen(c[i].value);
        int rc = httpjson_basic_auth(c[i].value, len, &u, &p);
        if (!c[i].user) {
            ck_assert_msg(rc == -1 && u.len == 0 && p.len == 0, "%s: accepted", c[i].value);
        } else {
            ck_assert_msg(rc == 0, "%s: refused", c[i].value);
            ck_assert(u.len == strlen(c[i].user) &&
                      memcmp(u.buf ? u.buf : "", c[i].user, u.len) == 0);
            ck_assert(p.len == strlen(c[i].pass) &&
                      memcmp(p.buf ? p.buf : "", c[i].pass, p.len) == 0);
        }
        sbuf_free(&u);
        sbuf_free(&p);
    }
}
END_TEST

Suite *httpjson_suite(void)
{
    Suite *s = suite_create("httpjson");
    TCase *tc = tcase_create("httpjson");
    tcase_add_test(tc, test_httpjson_resp2);
    tcase_add_test(tc, test_httpjson_resp3);
    tcase_add_test(tc, test_httpjson_bad_replies);
    tcase_add_test(tc, test_httpjson_json_bodies);
    tcase_add_test(tc, test_httpjson_forms);
    tcase_add_test(tc, test_httpjson_base64_utf8);
    tcase_add_test(tc, test_httpjson_basic_auth);
    suite_add_tcase(s, tc);
    return s;
}
