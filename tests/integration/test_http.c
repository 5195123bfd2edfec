/*
 * The HTTP/JSON front (-http-addr) in front of the shared cluster: redis-router's examples run
 * with curl exactly as its README writes them, every reply type (RESP2, and RESP3 with "resp":
 * 3), errors with their statuses (400 for the request, 502 for a cluster that cannot be reached,
 * and the front's own 401/403/404/405/413/415/504), binary values both ways, the limits (body
 * size from -query-buffer-limit, argument length from -proto-max-bulk-len, many arguments),
 * HTTP Basic auth against -requirepass and protected mode, hostile bodies, and the counters in
 * INFO and /metrics. Each test starts its own proxy (ports h_env.proxy_port + 110 .. + 119); the
 * values written through HTTP are read back over RESP from the same proxy, so both paths agree.
 */
#include "harness.h"
#include "suites.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int resp_port(void)
{
    return h_env.proxy_port + 110;
}
static int http_port(void)
{
    return h_env.proxy_port + 111;
}
static int debug_port(void)
{
    return h_env.proxy_port + 112;
}

static pid_t http_proxy;

/* The proxy of most tests: the shared cluster, the HTTP front and the debug port. */
static void http_setup(void)
{
    char startup[64], http[64], dbg[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(http, sizeof(http), ":%d", http_port());
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", debug_port());
    const char *extra[] = {"-threads",      "2",   "-http-addr", http, "-debug-addr",
                           dbg,             "-http-timeout", "2s", NULL};
    http_proxy = h_proxy_start(resp_port(), startup, extra, "proxy-http.log");
    ck_assert_int_gt(http_proxy, 0);
}

static void http_teardown(void)
{
    ck_assert_int_eq(h_proxy_stop(http_proxy, "proxy-http.log"), 0);
}

/* POST with a body of the given content type. */
static void post(int port, const char *ctype, const void *body, size_t len, struct h_http *out)
{
    char headers[256];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, len);
    h_http_req(port, "POST", "/", headers, body, len, 10000, out);
}

static void post_form(int port, const char *form, struct h_http *out)
{
    post(port, "application/x-www-form-urlencoded", form, strlen(form), out);
}

static void post_json(int port, const char *json, struct h_http *out)
{
    post(port, "application/json", json, strlen(json), out);
}

/* The answer is status with exactly want as its body (plus the final newline). */
static void expect(struct h_http *h, int status, const char *want, const char *what)
{
    ck_assert_msg(h->status == status, "%s: status %d, want %d (%s)", what, h->status, status,
                  h->body);
    ck_assert_msg(h->len >= 1 && h->body[h->len - 1] == '\n', "%s: no final newline", what);
    h->body[h->len - 1] = '\0';
    ck_assert_msg(strcmp(h->body, want) == 0, "%s:\n  got  %s\n  want %s", what, h->body, want);
    ck_assert_msg(strncmp(h->ctype, "application/json", 16) == 0, "%s: content type %s", what,
                  h->ctype);
    h_http_free(h);
}

static void form_is(const char *form, int status, const char *want)
{
    struct h_http h;
    post_form(http_port(), form, &h);
    expect(&h, status, want, form);
}

static void json_is(const char *json, int status, const char *want)
{
    struct h_http h;
    post_json(http_port(), json, &h);
    expect(&h, status, want, json);
}

/* curl's output for a command line (its stdout, trailing newline dropped). */
static void curl(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "curl -s -S --max-time 10 %s", args);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    while (n && out[n - 1] == '\n') out[--n] = '\0';
}

START_TEST(test_http_redis_router_examples)
{
    redisContext *c = h_connect(resp_port());
    freeReplyObject(h_cmd(c, "DEL teams"));
    char url[64], args[512], out[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", http_port());
    /* As redis-router's README writes them. */
    snprintf(args, sizeof(args),
             "-X POST --data \"command=sadd&arguments=teams,galatasaray,fenerbahce\" %s", url);
    curl(args, out, sizeof(out));
    ck_assert_str_eq(out, "{\"response\": 2}");
    snprintf(args, sizeof(args), "-X POST --data \"command=smembers&arguments=teams\" %s", url);
    curl(args, out, sizeof(out));
    /* In the order Redis returns them. */
    redisReply *r = h_cmd(c, "SMEMBERS teams");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 2);
    char want[256];
    snprintf(want, sizeof(want), "{\"response\": [\"%s\", \"%s\"]}", r->element[0]->str,
             r->element[1]->str);
    freeReplyObject(r);
    ck_assert_str_eq(out, want);
    /* JSON: a value with commas. */
    snprintf(args, sizeof(args),
             "-H 'Content-Type: application/json' -d '{\"command\": \"set\", \"arguments\": "
             "[\"http:k\", \"v,with,commas\"]}' %s",
             url);
    curl(args, out, sizeof(out));
    ck_assert_str_eq(out, "{\"response\": \"OK\"}");
    h_expect_str(h_cmd(c, "GET http:k"), "v,with,commas");
    /* telnet's inline protocol on the Redis port, as redis-router's TCP interface. */
    char raw[256];
    int closed;
    h_raw(resp_port(), "set selam timu\r\nget selam\r\n", 27, raw, sizeof(raw), 300, 1, &closed);
    ck_assert_str_eq(raw, "+OK\r\n$4\r\ntimu\r\n");
    redisFree(c);
}
END_TEST

START_TEST(test_http_reply_types)
{
    redisContext *c = h_connect(resp_port());
    freeReplyObject(h_cmd(c, "DEL http:h http:z http:s http:l http:nil"));
    form_is("command=ping", 200, "{\"response\": \"PONG\"}");
    form_is("command=del&arguments=http:nil", 200, "{\"response\": 0}");
    form_is("command=incrby&arguments=http:n,-5", 200, "{\"response\": -5}");
    form_is("command=del&arguments=http:n", 200, "{\"response\": 1}");
    form_is("command=get&arguments=http:nil", 200, "{\"response\": null}");
    form_is("command=set&arguments=http:s,%22quoted%22%0A%5Ctab%09", 200, "{\"response\": \"OK\"}");
    form_is("command=get&arguments=http:s", 200, "{\"response\": \"\\\"quoted\\\"\\n\\\\tab\\t\"}");
    form_is("command=rpush&arguments=http:l,a,b,c", 200, "{\"response\": 3}");
    form_is("command=lrange&arguments=http:l,0,-1", 200, "{\"response\": [\"a\", \"b\", \"c\"]}");
    form_is("command=lrange&arguments=http:nil,0,-1", 200, "{\"response\": []}");
    form_is("command=mget&arguments=http:l,http:nil,http:s", 200,
            "{\"response\": [null, null, \"\\\"quoted\\\"\\n\\\\tab\\t\"]}");
    /* Nested arrays, nil and an error inside an array (from a script). */
    json_is("{\"command\": \"eval\", \"arguments\": [\"return {1, {2, 'x'}, false, "
            "redis.error_reply('ERR inner')}\", 0]}",
            200, "{\"response\": [1, [2, \"x\"], null, {\"error\": \"ERR inner\"}]}");
    /* RESP2 shapes of what RESP3 types: a flat array for a map, strings for scores. */
    form_is("command=hset&arguments=http:h,f1,v1,f2,v2", 200, "{\"response\": 2}");
    form_is("command=hgetall&arguments=http:h", 200,
            "{\"response\": [\"f1\", \"v1\", \"f2\", \"v2\"]}");
    form_is("command=zadd&arguments=http:z,1.5,m", 200, "{\"response\": 1}");
    form_is("command=zscore&arguments=http:z,m", 200, "{\"response\": \"1.5\"}");
    /* RESP3: maps as objects, doubles as numbers, sets as arrays, null, booleans, verbatim
     * strings, big numbers; a map with a key that is not a string as pairs. */
    json_is("{\"command\": \"hgetall\", \"arguments\": [\"http:h\"], \"resp\": 3}", 200,
            "{\"response\": {\"f1\": \"v1\", \"f2\": \"v2\"}}");
    json_is("{\"command\": \"zscore\", \"arguments\": [\"http:z\", \"m\"], \"resp\": 3}", 200,
            "{\"response\": 1.5}");
    json_is("{\"command\": \"zrange\", \"arguments\": [\"http:z\", 0, -1, \"withscores\"], "
            "\"resp\": 3}",
            200, "{\"response\": [[\"m\", 1.5]]}");
    json_is("{\"command\": \"get\", \"arguments\": [\"http:nil\"], \"resp\": 3}", 200,
            "{\"response\": null}");
    json_is("{\"command\": \"eval\", \"arguments\": [\"redis.setresp(3) return "
            "{true, false, {double=3.25}, {big_number='12345678901234567890123'}, "
            "{verbatim_string={format='txt', string='hi'}}, {map={[1]='a'}}, {set={s=true}}}\", 0], "
            "\"resp\": 3}",
            200,
            "{\"response\": [true, false, 3.25, \"12345678901234567890123\", \"hi\", "
            "{\"1\": \"a\"}, [\"s\"]]}");
    json_is("{\"command\": \"eval\", \"arguments\": [\"redis.setresp(3) return "
            "{map={[1]='a', x='b'}}\", 0], \"resp\": 3}",
            200, "{\"response\": {\"1\": \"a\", \"x\": \"b\"}}");
    json_is("{\"command\": \"eval\", \"arguments\": [\"redis.setresp(3) return "
            "{map={[{1}]='a'}}\", 0], \"resp\": 3}",
            200, "{\"response\": [[[1], \"a\"]]}");
    redisFree(c);
}
END_TEST

START_TEST(test_http_errors)
{
    form_is("command=nosuch&arguments=a,b", 400,
            "{\"error\": \"ERR unknown command 'nosuch', with args beginning with: 'a' 'b' \"}");
    form_is("command=get", 400, "{\"error\": \"ERR wrong number of arguments for 'get' command\"}");
    form_is("command=set&arguments=http:e,v,bogus", 400, "{\"error\": \"ERR syntax error\"}");
    form_is("command=set&arguments=http:e,v", 200, "{\"response\": \"OK\"}");
    form_is("command=lpush&arguments=http:e,x", 400,
            "{\"error\": \"WRONGTYPE Operation against a key holding the wrong kind of value\"}");
    form_is("command=mget&arguments=a,b", 200, "{\"response\": [null, null]}");
    form_is("command=sunion&arguments=a,b", 400,
            "{\"error\": \"CROSSSLOT Keys in request don't hash to the same slot\"}");
    /* What needs a connection that outlives the request. */
    form_is("command=subscribe&arguments=ch", 400,
            "{\"error\": \"ERR 'SUBSCRIBE' cannot be used over HTTP: it needs a connection that "
            "outlives one request\"}");
    form_is("command=multi", 400,
            "{\"error\": \"ERR 'MULTI' cannot be used over HTTP: it needs a connection that "
            "outlives one request\"}");
    /* The front's own refusals. */
    struct h_http h;
    h_http(http_port(), "GET", "/", 5000, &h);
    ck_assert_str_eq(h.allow, "POST");
    expect(&h, 405, "{\"error\": \"ERR use POST\"}", "GET /");
    h_http_req(http_port(), "POST", "/nowhere",
               "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n",
               "command=ping", 12, 5000, &h);
    expect(&h, 404, "{\"error\": \"ERR not found: send commands to /\"}", "POST /nowhere");
    /* A blocking command longer than -http-timeout (2s): 504, and the proxy goes on. */
    uint64_t t0 = h_now_ms();
    form_is("command=blpop&arguments=http:never,0", 504,
            "{\"error\": \"ERR no reply within -http-timeout; the command may or may not have "
            "run\"}");
    ck_assert_uint_lt(h_now_ms() - t0, 5000);
    ck_assert_int_eq(h_info_num(resp_port(), "blocked_clients"), 0);
    form_is("command=lpush&arguments=http:never,x", 200, "{\"response\": 1}");
    form_is("command=lpop&arguments=http:never", 200, "{\"response\": \"x\"}");
}
END_TEST

/* A cluster that cannot be reached: 502, with the proxy's error. */
START_TEST(test_http_backend_unreachable)
{
    int port = h_env.proxy_port + 113, hport = h_env.proxy_port + 114;
    char http[64];
    snprintf(http, sizeof(http), "127.0.0.1:%d", hport);
    const char *extra[] = {"-http-addr", http, "-failover-hold", "300ms", "-connect-timeout",
                           "200ms", NULL};
    pid_t pid = h_proxy_start(port, "127.0.0.1:1", extra, "proxy-http-down.log");
    ck_assert_int_gt(pid, 0);
    struct h_http h;
    post_form(hport, "command=get&arguments=k", &h);
    ck_assert_msg(h.status == 502 && strstr(h.body, "{\"error\": \"CLUSTERDOWN "), "%d %s",
                  h.status, h.body);
    h_http_free(&h);
    /* What the proxy answers itself still works. */
    post_form(hport, "command=echo&arguments=hi", &h);
    expect(&h, 200, "{\"response\": \"hi\"}", "echo");
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-down.log"), 0);
}
END_TEST

START_TEST(test_http_binary)
{
    redisContext *c = h_connect(resp_port());
    /* Form: percent-encoded bytes, NUL and 0xFF included; not UTF-8, so base64 back. */
    form_is("command=set&arguments=http:bin,%FF%00%01%80", 200, "{\"response\": \"OK\"}");
    redisReply *r = h_cmd(c, "GET http:bin");
    ck_assert(r->type == REDIS_REPLY_STRING && r->len == 4 && memcmp(r->str, "\xff\0\x01\x80", 4) == 0);
    freeReplyObject(r);
    form_is("command=get&arguments=http:bin", 200, "{\"response\": {\"base64\": \"/wABgA==\"}}");
    form_is("command=strlen&arguments=http:bin", 200, "{\"response\": 4}");
    /* JSON: base64 in, NUL in a string, UTF-8 both ways. */
    json_is("{\"command\": \"set\", \"arguments\": [\"http:bin2\", {\"base64\": \"AAECAwT/\"}]}",
            200, "{\"response\": \"OK\"}");
    r = h_cmd(c, "GET http:bin2");
    ck_assert(r->len == 6 && memcmp(r->str, "\0\x01\x02\x03\x04\xff", 6) == 0);
    freeReplyObject(r);
    json_is("{\"command\": \"set\", \"arguments\": [\"http:nul\", \"a\\u0000b\"]}", 200,
            "{\"response\": \"OK\"}");
    h_expect_int(h_cmd(c, "STRLEN http:nul"), 3);
    json_is("{\"command\": \"get\", \"arguments\": [\"http:nul\"]}", 200,
            "{\"response\": \"a\\u0000b\"}");
    json_is("{\"command\": \"set\", \"arguments\": [\"http:utf\", \"sel\\u00e2m \\u20ac\"]}", 200,
            "{\"response\": \"OK\"}");
    h_expect_str(h_cmd(c, "GET http:utf"), "sel\xc3\xa2m \xe2\x82\xac");
    json_is("{\"command\": \"get\", \"arguments\": [\"http:utf\"]}", 200,
            "{\"response\": \"sel\xc3\xa2m \xe2\x82\xac\"}");
    /* Keys are binary-safe too, and numbers are their text. */
    json_is("{\"command\": \"set\", \"arguments\": [{\"base64\": \"a2V5AP8=\"}, 42]}", 200,
            "{\"response\": \"OK\"}");
    r = h_cmd(c, "GET %b", "key\0\xff", (size_t)5);
    ck_assert(r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "42");
    freeReplyObject(r);
    redisFree(c);
}
END_TEST

/* Many arguments: a 50,000-member SADD in one JSON body, and the same through a form. */
START_TEST(test_http_many_arguments)
{
    size_t n = 50000;
    size_t cap = n * 16 + 256;
    char *json = malloc(cap), *form = malloc(cap);
    size_t j = (size_t)snprintf(json, cap, "{\"command\": \"sadd\", \"arguments\": [\"http:big\"");
    size_t f = (size_t)snprintf(form, cap, "command=sadd&arguments=http:big2");
    for (size_t i = 0; i < n; i++) {
        j += (size_t)snprintf(json + j, cap - j, ", \"m%zu\"", i);
        f += (size_t)snprintf(form + f, cap - f, ",m%zu", i);
    }
    j += (size_t)snprintf(json + j, cap - j, "]}");
    struct h_http h;
    form_is("command=del&arguments=http:big,http:big2", 200, "{\"response\": 0}");
    post(http_port(), "application/json", json, j, &h);
    expect(&h, 200, "{\"response\": 50000}", "50,000 arguments (JSON)");
    post(http_port(), "application/x-www-form-urlencoded", form, f, &h);
    expect(&h, 200, "{\"response\": 50000}", "50,000 arguments (form)");
    form_is("command=scard&arguments=http:big", 200, "{\"response\": 50000}");
    form_is("command=del&arguments=http:big,http:big2", 200, "{\"response\": 2}");
    free(json);
    free(form);
}
END_TEST

/* Bodies meant to hurt: each gets an error, and the proxy keeps serving. */
START_TEST(test_http_hostile_bodies)
{
    static const struct {
        const char *ctype, *body;
        int status;
        const char *want_prefix;
    } cases[] = {
        {"application/json", "{", 400, "{\"error\": \"ERR malformed JSON body: "},
        {"application/json", "", 400, "{\"error\": \"ERR malformed JSON body: "},
        {"application/json", "[\"get\", \"k\"]", 400, "{\"error\": \"ERR malformed JSON body: "},
        {"application/json", "{\"command\": \"get\", \"command\": \"set\"}", 400,
         "{\"error\": \"ERR malformed JSON body: "},
        {"application/json", "{\"command\": \"get\", \"argument\": [\"k\"]}", 400,
         "{\"error\": \"ERR malformed JSON body: unknown field"},
        {"application/json", "{\"command\": \"get\", \"arguments\": [true]}", 400,
         "{\"error\": \"ERR arguments must be strings"},
        {"application/json", "{\"command\": \"get\", \"arguments\": [\"k\"]}garbage", 400,
         "{\"error\": \"ERR malformed JSON body: "},
        {"application/json", "{\"command\": \"get\xff\"}", 400,
         "{\"error\": \"ERR malformed JSON body: "},
        {"application/json", "{\"arguments\": [\"k\"]}", 400, "{\"error\": \"ERR no command given"},
        {"application/x-www-form-urlencoded", "arguments=k", 400,
         "{\"error\": \"ERR no command given"},
        {"application/x-www-form-urlencoded", "", 400, "{\"error\": \"ERR no command given"},
        {"text/plain", "command=ping", 415, "{\"error\": \"ERR unsupported content type"},
        {"application/xml", "<command>ping</command>", 415,
         "{\"error\": \"ERR unsupported content type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct h_http h;
        post(http_port(), cases[i].ctype, cases[i].body, strlen(cases[i].body), &h);
        ck_assert_msg(h.status == cases[i].status &&
                          strncmp(h.body, cases[i].want_prefix, strlen(cases[i].want_prefix)) == 0,
                      "%s %s: %d %s", cases[i].ctype, cases[i].body, h.status, h.body);
        h_http_free(&h);
    }
    /* No content type at all. */
    struct h_http h;
    h_http_req(http_port(), "POST", "/", "Content-Length: 12\r\n", "command=ping", 12, 5000, &h);
    ck_assert_int_eq(h.status, 415);
    h_http_free(&h);
    /* Nesting far past the JSON parser's limit. */
    size_t depth = 100000;
    char *deep = malloc(depth + 64);
    size_t n = (size_t)snprintf(deep, 64, "{\"command\": \"get\", \"arguments\": ");
    memset(deep + n, '[', depth);
    post(http_port(), "application/json", deep, n + depth, &h);
    ck_assert_msg(h.status == 400, "deep nesting: %d", h.status);
    h_http_free(&h);
    free(deep);
    /* A chunked body. */
    const char chunked[] = "c\r\ncommand=echo\r\nd\r\n&arguments=ok\r\n0\r\n\r\n";
    h_http_req(http_port(), "POST", "/",
               "Content-Type: application/x-www-form-urlencoded\r\n"
               "Transfer-Encoding: chunked\r\n",
               chunked, sizeof(chunked) - 1, 5000, &h);
    expect(&h, 200, "{\"response\": \"ok\"}", "chunked");
    /* A client that sends headers and part of the body, then goes. */
    int fd = h_tcp_connect(http_port(), 0);
    const char half[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 1000\r\n\r\n{\"command\":";
    ck_assert_int_eq(write(fd, half, sizeof(half) - 1), (ssize_t)(sizeof(half) - 1));
    close(fd);
    /* Still serving, over HTTP and RESP. */
    form_is("command=ping", 200, "{\"response\": \"PONG\"}");
    redisContext *c = h_connect(resp_port());
    h_expect_str(h_cmd(c, "PING"), "PONG");
    redisFree(c);
}
END_TEST

/* The limits of a connection: -query-buffer-limit for the body, -proto-max-bulk-len for one
 * argument (the same parser and text as for a RESP client). */
START_TEST(test_http_limits)
{
    int port = h_env.proxy_port + 115, hport = h_env.proxy_port + 116;
    char startup[64], http[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(http, sizeof(http), ":%d", hport);
    const char *extra[] = {"-http-addr", http, "-query-buffer-limit", "1mb",
                           "-proto-max-bulk-len", "100", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-http-limits.log");
    ck_assert_int_gt(pid, 0);
    struct h_http h;
    /* An argument of 101 bytes, over -proto-max-bulk-len. */
    char form[512];
    int n = snprintf(form, sizeof(form), "command=set&arguments=http:lim,");
    memset(form + n, 'v', 101);
    form[n + 101] = '\0';
    post_form(hport, form, &h);
    expect(&h, 400, "{\"error\": \"ERR Protocol error: invalid bulk length\"}", "101 bytes");
    form[n + 100] = '\0';
    post_form(hport, form, &h);
    expect(&h, 200, "{\"response\": \"OK\"}", "100 bytes");
    /* A body over 1 MB (the smallest -query-buffer-limit), declared or not (chunked). */
    size_t big = (1 << 20) + 4096;
    char *body = malloc(big + 64);
    memset(body, 'x', big + 64);
    memcpy(body, "command=echo&arguments=", 23);
    post(hport, "application/x-www-form-urlencoded", body, big, &h);
    ck_assert_msg(h.status == 413 && strstr(h.body, "-query-buffer-limit"), "%d %s", h.status,
                  h.body);
    h_http_free(&h);
    char chunk[64];
    int cl = snprintf(chunk, sizeof(chunk), "%zx\r\n", big);
    char *chunked = malloc(big + 128);
    memcpy(chunked, chunk, (size_t)cl);
    memcpy(chunked + cl, body, big);
    memcpy(chunked + cl + big, "\r\n0\r\n\r\n", 7);
    h_http_req(hport, "POST", "/",
               "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n",
               chunked, (size_t)cl + big + 7, 5000, &h);
    ck_assert_msg(h.status == 413, "chunked: %d %s", h.status, h.body);
    h_http_free(&h);
    free(chunked);
    free(body);
    post_form(hport, "command=ping", &h);
    expect(&h, 200, "{\"response\": \"PONG\"}", "after the refusals");
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-limits.log"), 0);
}
END_TEST

static void auth_post(int port, const char *user_pass, struct h_http *out)
{
    char headers[512], b64[256];
    char cmd[300];
    headers[0] = '\0';
    if (user_pass) {
        snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | base64 -w0", user_pass);
        FILE *f = popen(cmd, "r");
        size_t n = fread(b64, 1, sizeof(b64) - 1, f);
        b64[n] = '\0';
        pclose(f);
        snprintf(headers, sizeof(headers), "Authorization: Basic %s\r\n", b64);
    }
    size_t hl = strlen(headers);
    snprintf(headers + hl, sizeof(headers) - hl,
             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n");
    h_http_req(port, "POST", "/", headers, "command=ping", 12, 5000, out);
}

/* HTTP Basic auth with -requirepass: the password as AUTH takes it (user default, or none). */
START_TEST(test_http_basic_auth)
{
    int port = h_env.proxy_port + 117, hport = h_env.proxy_port + 118;
    char startup[64], http[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(http, sizeof(http), ":%d", hport);
    const char *extra[] = {"-http-addr", http, "-requirepass", "s3cret", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-http-auth.log");
    ck_assert_int_gt(pid, 0);
    struct h_http h;
    auth_post(hport, NULL, &h);
    ck_assert_msg(strstr(h.www_auth, "Basic") && strstr(h.www_auth, "slotproxy"), "%s",
                  h.www_auth);
    expect(&h, 401, "{\"error\": \"NOAUTH Authentication required.\"}", "no credentials");
    auth_post(hport, "default:wrong", &h);
    expect(&h, 401,
           "{\"error\": \"WRONGPASS invalid username-password pair or user is disabled.\"}",
           "wrong password");
    auth_post(hport, "bob:s3cret", &h);
    ck_assert_int_eq(h.status, 401);
    h_http_free(&h);
    auth_post(hport, "default:s3cret", &h);
    expect(&h, 200, "{\"response\": \"PONG\"}", "default:s3cret");
    auth_post(hport, ":s3cret", &h);
    expect(&h, 200, "{\"response\": \"PONG\"}", ":s3cret");
    /* The scheme in any case, with spaces around (RFC 9110); "ZGVmYXVsdDpzM2NyZXQ=" is
     * default:s3cret. A header that is not Basic user:password is refused, not taken as none;
     * so are two of them. */
    static const char refused[] = "{\"error\": \"ERR the Authorization header is not HTTP Basic "
                                  "credentials (user:password in base64)\"}";
    static const struct {
        const char *value;
        int status;
    } hdr[] = {{"basic ZGVmYXVsdDpzM2NyZXQ=", 200},
               {"BASIC   ZGVmYXVsdDpzM2NyZXQ=    ", 200},
               {"Basic !!!", 401},
               {"Basic czNjcmV0", 401},
               {"Bearer czNjcmV0", 401},
               {"Basic", 401},
               {"Basic ZGVmYXVsdDpzM2NyZXQ=\r\nAuthorization: Basic Og==", 401}};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
        char headers[256];
        snprintf(headers, sizeof(headers),
                 "Authorization: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 12\r\n",
                 hdr[i].value);
        h_http_req(hport, "POST", "/", headers, "command=ping", 12, 5000, &h);
        expect(&h, hdr[i].status, hdr[i].status == 200 ? "{\"response\": \"PONG\"}" : refused,
               hdr[i].value);
    }
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-auth.log"), 0);
}
END_TEST

static void auth_post_form(int port, const char *user_pass, const char *form, struct h_http *out)
{
    char headers[512], b64[256], cmd[300];
    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | base64 -w0", user_pass);
    FILE *f = popen(cmd, "r");
    size_t n = fread(b64, 1, sizeof(b64) - 1, f);
    b64[n] = '\0';
    pclose(f);
    snprintf(headers, sizeof(headers),
             "Authorization: Basic %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: %zu\r\n",
             b64, strlen(form));
    h_http_req(port, "POST", "/", headers, form, strlen(form), 5000, out);
}

/* ACL users: Basic auth authenticates as the user AUTH would, and the user's rules apply
 * (NOPERM is 403); a failed login is in ACL LOG with the client as "addr=http". */
START_TEST(test_http_acl_users)
{
    int port = h_env.proxy_port + 137, hport = h_env.proxy_port + 136;
    char startup[64], http[64], path[512];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(http, sizeof(http), ":%d", hport);
    snprintf(path, sizeof(path), "%s/http-users.acl", h_env.workdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "user default on nopass ~* &* +@all\nuser bob on >bobpass ~bob:* +get +set\n");
    fclose(f);
    const char *extra[] = {"-http-addr", http, "-aclfile", path, NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-http-acl.log");
    ck_assert_int_gt(pid, 0);
    struct h_http h;
    auth_post_form(hport, "bob:bobpass", "command=set&arguments=bob:k,v", &h);
    expect(&h, 200, "{\"response\": \"OK\"}", "bob sets bob:k");
    auth_post_form(hport, "bob:bobpass", "command=get&arguments=other:k", &h);
    ck_assert_msg(h.status == 403 && strstr(h.body, "{\"error\": \"NOPERM "), "%d %s", h.status,
                  h.body);
    h_http_free(&h);
    auth_post_form(hport, "bob:bobpass", "command=del&arguments=bob:k", &h);
    ck_assert_int_eq(h.status, 403);
    h_http_free(&h);
    auth_post_form(hport, "bob:wrong", "command=get&arguments=bob:k", &h);
    expect(&h, 401,
           "{\"error\": \"WRONGPASS invalid username-password pair or user is disabled.\"}",
           "bob with a wrong password");
    /* No credentials: the default user, who needs no password here. */
    post_form(hport, "command=get&arguments=bob:k", &h);
    expect(&h, 200, "{\"response\": \"v\"}", "default user");
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "ACL LOG");
    int found = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        for (size_t k = 0; k + 1 < r->element[i]->elements; k += 2)
            if (strcmp(r->element[i]->element[k]->str, "client-info") == 0 &&
                strstr(r->element[i]->element[k + 1]->str, "addr=http"))
                found = 1;
    ck_assert_msg(found, "no ACL LOG entry for the HTTP client");
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-acl.log"), 0);
}
END_TEST

/* The first non-loopback IPv4 address of this machine, or 0 when there is none. */
static int outside_addr(char *ip, size_t len)
{
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) < 0) return 0;
    int found = 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)i->ifa_addr;
        if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
        inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)len);
        found = 1;
    }
    freeifaddrs(ifs);
    return found;
}

/* Protected mode: without a password, only loopback clients, as on the Redis port. */
START_TEST(test_http_protected_mode)
{
    char ip[64];
    if (!outside_addr(ip, sizeof(ip))) {
        fprintf(stderr, "test_http_protected_mode: no non-loopback IPv4 address: skipped\n");
        return;
    }
    int port = h_env.proxy_port + 119, hport = h_env.proxy_port + 138;
    char startup[64], http[64], args[256], out[4096];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(http, sizeof(http), "0.0.0.0:%d", hport);
    const char *extra[] = {"-http-addr", http, NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-http-protected.log");
    ck_assert_int_gt(pid, 0);
    snprintf(args, sizeof(args), "-w ' %%{http_code}' --data command=ping http://%s:%d/", ip,
             hport);
    curl(args, out, sizeof(out));
    ck_assert_msg(strstr(out, "{\"error\": \"DENIED Redis is running in protected mode") &&
                      strstr(out, " 403"),
                  "%s", out);
    snprintf(args, sizeof(args), "-w ' %%{http_code}' --data command=ping http://127.0.0.1:%d/",
             hport);
    curl(args, out, sizeof(out));
    ck_assert_str_eq(out, "{\"response\": \"PONG\"}\n 200");
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-protected.log"), 0);
    /* -protected-mode no: served from outside too. */
    const char *open_extra[] = {"-http-addr", http, "-protected-mode", "no", NULL};
    pid = h_proxy_start(port, startup, open_extra, "proxy-http-protected.log");
    ck_assert_int_gt(pid, 0);
    snprintf(args, sizeof(args), "-w ' %%{http_code}' --data command=ping http://%s:%d/", ip,
             hport);
    curl(args, out, sizeof(out));
    ck_assert_str_eq(out, "{\"response\": \"PONG\"}\n 200");
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-protected.log"), 0);
}
END_TEST

/* Graceful shutdown: a blocked HTTP request is answered 503 at once (as a blocked connection is
 * closed at once), and the proxy exits cleanly without waiting for -shutdown-timeout. */
START_TEST(test_http_shutdown)
{
    int port = h_env.proxy_port + 139, hport = h_env.proxy_port + 140;
    char startup[64], http[64], cmd[256];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(http, sizeof(http), ":%d", hport);
    const char *extra[] = {"-http-addr", http, "-shutdown-timeout", "10s", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-http-shutdown.log");
    ck_assert_int_gt(pid, 0);
    snprintf(cmd, sizeof(cmd),
             "curl -s -w ' %%{http_code}' --max-time 20 -d 'command=blpop&arguments=http:none,0' "
             "http://127.0.0.1:%d/",
             hport);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    /* The BLPOP is blocked at its node (curl may take a while to start on a loaded machine). */
    for (int i = 0; i < 200 && h_info_num(port, "blocked_clients") < 1; i++) h_sleep_ms(25);
    ck_assert_int_ge(h_info_num(port, "blocked_clients"), 1);
    h_sleep_ms(100);
    uint64_t t0 = h_now_ms();
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-http-shutdown.log"), 0);
    uint64_t took = h_now_ms() - t0;
    char out[512];
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    pclose(f);
    ck_assert_str_eq(out, "{\"error\": \"ERR slotproxy is shutting down\"}\n 503");
    ck_assert_msg(took < 5000, "shutdown took %llu ms", (unsigned long long)took);
}
END_TEST

/* A client that goes away while its BLPOP waits: the command is abandoned at once, as when a
 * Redis connection closes, and a value pushed afterwards stays in the list (it used to be taken
 * by the abandoned BLPOP until -http-timeout, for nobody). */
START_TEST(test_http_blocked_client_leaves)
{
    redisContext *c = h_connect(resp_port());
    freeReplyObject(h_cmd(c, "DEL http:gone"));
    long long before = h_info_num(resp_port(), "blocked_clients");
    int fd = h_tcp_connect(http_port(), 0);
    const char body[] = "command=blpop&arguments=http:gone,0";
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "POST / HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     sizeof(body) - 1, body);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    for (int i = 0; i < 200 && h_info_num(resp_port(), "blocked_clients") <= before; i++)
        h_sleep_ms(10);
    ck_assert_int_eq(h_info_num(resp_port(), "blocked_clients"), before + 1);
    close(fd);
    /* Well before -http-timeout (2 s): the front looks for its client every 100 ms. */
    uint64_t t0 = h_now_ms();
    while (h_info_num(resp_port(), "blocked_clients") > before && h_now_ms() - t0 < 1000)
        h_sleep_ms(10);
    ck_assert_int_eq(h_info_num(resp_port(), "blocked_clients"), before);
    h_expect_int(h_cmd(c, "RPUSH http:gone precious"), 1);
    h_sleep_ms(200);
    h_expect_int(h_cmd(c, "LLEN http:gone"), 1);
    h_expect_str(h_cmd(c, "LPOP http:gone"), "precious");
    redisFree(c);
}
END_TEST

/* A line of /metrics: the value of the sample whose name and labels are sample. */
static long long metric(const char *text, const char *sample)
{
    const char *p = text;
    size_t n = strlen(sample);
    while ((p = strstr(p, sample))) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') return atoll(p + n + 1);
        p += n;
    }
    return -1;
}

START_TEST(test_http_counters)
{
    form_is("command=ping", 200, "{\"response\": \"PONG\"}");
    form_is("command=nosuch", 400,
            "{\"error\": \"ERR unknown command 'nosuch', with args beginning with: \"}");
    struct h_http h;
    h_http(http_port(), "GET", "/", 5000, &h);
    h_http_free(&h);
    ck_assert_int_eq(h_info_num(resp_port(), "http_responses_200"), 1);
    ck_assert_int_eq(h_info_num(resp_port(), "http_responses_400"), 1);
    ck_assert_int_eq(h_info_num(resp_port(), "http_responses_405"), 1);
    ck_assert_int_eq(h_info_num(resp_port(), "http_requests"), 2);
    h_http(debug_port(), "GET", "/metrics", 5000, &h);
    ck_assert_int_eq(metric(h.body, "slotproxy_http_requests_total{status=\"200\"}"), 1);
    ck_assert_int_eq(metric(h.body, "slotproxy_http_requests_total{status=\"400\"}"), 1);
    ck_assert_int_eq(metric(h.body, "slotproxy_http_requests_total{status=\"405\"}"), 1);
    ck_assert_int_eq(metric(h.body, "slotproxy_http_requests_total{status=\"504\"}"), 0);
    h_http_free(&h);
    h_http(debug_port(), "GET", "/debug/vars", 5000, &h);
    ck_assert_ptr_nonnull(strstr(h.body, "\"http\":{\"requests\":{\"200\":1,\"400\":1,"));
    h_http_free(&h);
    /* The HTTP requests count among the commands, as a connection's do. */
    ck_assert_int_ge(h_info_num(resp_port(), "total_commands_processed"), 2);
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, http_setup, http_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_http_redis_router_examples);
    tcase_add_test(tc, test_http_reply_types);
    tcase_add_test(tc, test_http_errors);
    tcase_add_test(tc, test_http_binary);
    tcase_add_test(tc, test_http_many_arguments);
    tcase_add_test(tc, test_http_hostile_bodies);
    tcase_add_test(tc, test_http_counters);
    tcase_add_test(tc, test_http_blocked_client_leaves);
    suite_add_tcase(s, tc);
    TCase *own = tcase_create("own-proxy");
    tcase_set_timeout(own, 120);
    tcase_add_test(own, test_http_backend_unreachable);
    tcase_add_test(own, test_http_limits);
    tcase_add_test(own, test_http_basic_auth);
    tcase_add_test(own, test_http_protected_mode);
    tcase_add_test(own, test_http_shutdown);
    tcase_add_test(own, test_http_acl_users);
    suite_add_tcase(s, own);
    return s;
}
