/*
 * The HTTP/JSON front; see http.h. main() starts it after the workers when -http-addr is given,
 * drains it with the client sessions on shutdown and stops it before the workers.
 *
 * libmicrohttpd calls handle() several times per request: with the headers only (*state NULL),
 * then with each piece of the body, then with *upload_size 0 once all is in. The first call
 * checks what needs no body (method, path, protected mode, Basic auth, content type, a declared
 * length over the limit) and may answer at once; the body is collected into the request's state
 * (a form through libmicrohttpd's post processor, which decodes url-encoded and multipart forms;
 * JSON as bytes for httpjson_parse_json), and the last call runs the command: its RESP bytes go
 * to a worker as an inner_call (round robin), and this thread waits for the answer. Each
 * connection has a thread of its own (at most HTTP_MAX_CONNECTIONS), so a blocking command holds
 * up only its own connection, and only for -http-timeout.
 *
 * Every status written is counted in the shared struct http_stats (several threads write it:
 * relaxed atomic adds).
 */
#include "http.h"

#include "acl_store.h"
#include "errors.h"
#include "httpjson.h"
#include "inner.h"
#include "log.h"
#include "mem.h"
#include "sock.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_MAX_CONNECTIONS 1024
#define HTTP_POST_BUFFER     (64 * 1024) /* libmicrohttpd's post processor's buffer */
#define HTTP_IDLE_TIMEOUT_S  60          /* an idle keep-alive connection is closed after this */
#define HTTP_WAIT_MARGIN_MS  2000        /* beyond -http-timeout, in case the worker is stuck */
#define HTTP_GONE_CHECK_MS   100         /* how often a waiting request looks for its client */
#define HTTP_FIRST_ID        (1ull << 48) /* CLIENT ID of the first HTTP request */
#define HTTP_REALM           "slotproxy"
#define HTTP_STOP_GRACE_MS   100 /* for the last answers to be written at shutdown */

struct http_front {
    struct MHD_Daemon *daemon;
    const struct config *cfg;
    struct worker **workers;
    int nworkers;
    struct http_stats *stats;
    atomic_uint next_worker; /* round robin; relaxed */
    atomic_ullong next_id;   /* CLIENT ID of the internal clients; relaxed */
    atomic_int draining;     /* new requests get 503 */
    atomic_int stopping;     /* waits give up */
    atomic_int answered;     /* a request was answered (http_stop gives answers time to go) */
    atomic_int inflight;     /* requests handed to a worker and not answered yet */
};

enum body_kind { BODY_FORM = 1, BODY_JSON };

/* One of errors.c's writers of a RESP error line (errors_noauth, errors_denied, ...). */
typedef void error_writer(struct sbuf *s);

/* One request's state, from its headers to its answer. */
struct http_req {
    enum body_kind kind;
    struct MHD_PostProcessor *pp;
    struct sbuf body;                     /* JSON */
    struct sbuf command, arguments, resp; /* form fields */
    int has_arguments, has_resp;
    int form_bad;
    uint64_t received;
    enum px_http_err refused; /* with refused_status: answered at the last call */
    unsigned refused_status;
};

/* ---- answers ---- */

static enum MHD_Result respond(struct http_front *h, struct MHD_Connection *c, unsigned status,
                               const struct sbuf *body)
{
    stat_add_shared(&h->stats->by_status[stats_http_slot(status)], 1);
    struct MHD_Response *r = MHD_create_response_from_buffer(body->len, body->buf ? body->buf : "",
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == 405) MHD_add_response_header(r, "Allow", "POST");
    if (status == 503) MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret;
    if (status == 401)
        ret = MHD_queue_basic_auth_fail_response(c, HTTP_REALM, r);
    else
        ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* {"error": "<text>"} with the text of a RESP error line ("-...\r\n") the errors module wrote. */
static enum MHD_Result respond_resp_error(struct http_front *h, struct MHD_Connection *c,
                                          unsigned status, error_writer *write)
{
    struct sbuf line, body;
    sbuf_init(&line);
    sbuf_init(&body);
    write(&line);
    httpjson_error(&body, line.buf + 1, line.len - 3);
    sbuf_puts(&body, "\n");
    enum MHD_Result ret = respond(h, c, status, &body);
    sbuf_free(&line);
    sbuf_free(&body);
    return ret;
}

/* {"error": ...} for what the front refuses itself. */
static enum MHD_Result refuse(struct http_front *h, struct MHD_Connection *c, unsigned status,
                              enum px_http_err e, const char *detail)
{
    struct sbuf text, body;
    sbuf_init(&text);
    sbuf_init(&body);
    errors_http(&text, e, detail);
    httpjson_error(&body, text.buf, text.len);
    sbuf_puts(&body, "\n");
    enum MHD_Result ret = respond(h, c, status, &body);
    sbuf_free(&text);
    sbuf_free(&body);
    return ret;
}

/* ---- checks on the headers ---- */

/* Protected mode, as the Redis port applies it: while the default user needs no password,
 * loopback clients only. */
static int denied(struct http_front *h, struct MHD_Connection *c)
{
    if (!h->cfg->protected_mode || !acl_store_default_nopass()) return 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return !ci || !ci->client_addr || !sock_addr_is_loopback(ci->client_addr);
}

/* The request's Authorization headers: how many, and the first one's value (NULs included). */
struct auth_hdr {
    unsigned n;
    const char *value;
    size_t len;
};

static enum MHD_Result auth_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    struct auth_hdr *a = cls;
    if (key_size == 13 && strncasecmp(key, "Authorization", 13) == 0 && a->n++ == 0) {
        a->value = value ? value : "";
        a->len = value ? value_size : 0;
    }
    return MHD_YES;
}

/* HTTP Basic auth's credentials (httpjson_basic_auth), checked on the worker against the ACL
 * users as AUTH user pass would be; an empty user name is the default user, as AUTH <password>
 * is. Returns 0 without an Authorization header (user and pass left empty), 1 with credentials,
 * -1 for a header that is not Basic user:password, or more than one header: refused rather than
 * taken as no credentials, which would run the command as the default user the client did not
 * mean. */
static int credentials(struct MHD_Connection *c, struct sbuf *user, struct sbuf *pass)
{
    struct auth_hdr a = {0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, auth_header, &a);
    if (a.n == 0) return 0;
    if (a.n > 1 || httpjson_basic_auth(a.value, a.len, user, pass) < 0) return -1;
    return 1;
}

/* Frees credentials' strings, the password wiped first. */
static void credentials_free(struct sbuf *user, struct sbuf *pass)
{
    if (pass->buf) memset(pass->buf, 0, pass->cap);
    sbuf_free(user);
    sbuf_free(pass);
}

static int has_bad_credentials(struct MHD_Connection *c)
{
    struct sbuf user, pass;
    sbuf_init(&user);
    sbuf_init(&pass);
    int rc = credentials(c, &user, &pass);
    credentials_free(&user, &pass);
    return rc < 0;
}

/* The media type of the body, without parameters. */
static enum body_kind body_kind(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!ct) return 0;
    while (*ct == ' ') ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", n) == 0) return BODY_JSON;
    if ((n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0) ||
        (n == 19 && strncasecmp(ct, "multipart/form-data", n) == 0))
        return BODY_FORM;
    return 0;
}

/* The body may not be larger than what a connection may send before its request is read. */
static int over_limit(const struct http_front *h, uint64_t bytes)
{
    return h->cfg->query_buf_limit && bytes > h->cfg->query_buf_limit;
}

/* The form's fields, as libmicrohttpd decodes them, piece by piece; other fields are ignored. */
static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size)
{
    struct http_req *q = cls;
    struct sbuf *dst = NULL;
    if (strcmp(key, "command") == 0) {
        dst = &q->command;
    } else if (strcmp(key, "arguments") == 0) {
        dst = &q->arguments;
        q->has_arguments = 1;
    } else if (strcmp(key, "resp") == 0) {
        dst = &q->resp;
        q->has_resp = 1;
    }
    if (!dst) return MHD_YES;
    if (off == 0) sbuf_clear(dst); /* a field given twice: the last one counts */
    if (size) sbuf_put(dst, data, size);
    return MHD_YES;
}

static void req_free(struct http_req *q)
{
    if (q->pp) MHD_destroy_post_processor(q->pp);
    sbuf_free(&q->body);
    sbuf_free(&q->command);
    sbuf_free(&q->arguments);
    sbuf_free(&q->resp);
    px_free(q);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **state,
                              enum MHD_RequestTerminationCode toe)
{
    if (*state) req_free(*state);
    *state = NULL;
}

/* The first call: what can be decided on the headers. Returns 1 with a response queued in *ret,
 * 0 to go on reading the body. */
static int check_headers(struct http_front *h, struct MHD_Connection *c, const char *url,
                         const char *method, struct http_req *q, enum MHD_Result *ret)
{
    if (atomic_load_explicit(&h->draining, memory_order_relaxed)) {
        *ret = refuse(h, c, 503, PXH_SHUTTING_DOWN, NULL);
    } else if (denied(h, c)) {
        *ret = respond_resp_error(h, c, 403, errors_denied);
    } else if (strcmp(method, "POST") != 0) {
        *ret = refuse(h, c, 405, PXH_METHOD, NULL);
    } else if (strcmp(url, "/") != 0) {
        *ret = refuse(h, c, 404, PXH_NOT_FOUND, NULL);
    } else if (has_bad_credentials(c)) {
        *ret = refuse(h, c, 401, PXH_BAD_AUTH, NULL);
    } else if ((q->kind = body_kind(c)) == 0) {
        *ret = refuse(h, c, 415, PXH_CONTENT_TYPE, NULL);
    } else {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (over_limit(h, declared)) {
            *ret = refuse(h, c, 413, PXH_BODY_TOO_LARGE, NULL);
        } else if (q->kind == BODY_FORM &&
                   !(q->pp = MHD_create_post_processor(c, HTTP_POST_BUFFER, form_field, q))) {
            *ret = refuse(h, c, 400, PXH_BAD_FORM, NULL);
        } else {
            return 0;
        }
    }
    return 1;
}

/* A piece of the body. */
static void take_body(struct http_front *h, struct http_req *q, const char *data, size_t size)
{
    if (q->refused_status) return;
    q->received += size;
    if (over_limit(h, q->received)) {
        q->refused_status = 413;
        q->refused = PXH_BODY_TOO_LARGE;
        return;
    }
    if (q->kind == BODY_JSON)
        sbuf_put(&q->body, data, size);
    else if (MHD_post_process(q->pp, data, size) != MHD_YES)
        q->form_bad = 1;
}

/* ---- running the command ---- */

/* The arguments of the request's body, or an error (refuse()'s arguments). */
static int body_args(struct http_req *q, struct http_args *a, char *detail, size_t dlen)
{
    detail[0] = '\0';
    if (q->kind == BODY_JSON)
        return httpjson_parse_json(q->body.buf ? q->body.buf : "", q->body.len, a, detail, dlen);
    if (q->form_bad || MHD_destroy_post_processor(q->pp) != MHD_YES) {
        q->pp = NULL;
        return PXH_BAD_FORM;
    }
    q->pp = NULL;
    return httpjson_from_form(q->command.buf, q->command.len,
                              q->has_arguments ? q->arguments.buf : NULL, q->arguments.len,
                              q->has_resp ? (q->resp.buf ? q->resp.buf : "") : NULL, q->resp.len,
                              a);
}

/* Whether the client of connection c closed its end (or reset it) while its request waits. A
 * client that sends its next request meanwhile is still there. */
static int client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) != 1) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Sends the command to a worker and waits for its reply; answers the client either way. A client
 * that goes away while its command waits (a BLPOP, say) has the command abandoned, as a Redis
 * connection that closes would: otherwise it could still take a value pushed later, for nobody. */
static enum MHD_Result run(struct http_front *h, struct MHD_Connection *c,
                           const struct http_args *a)
{
    struct sbuf req;
    sbuf_init(&req);
    httpjson_request(a, &req);
    uint64_t id = atomic_fetch_add_explicit(&h->next_id, 1, memory_order_relaxed);
    struct sbuf user, pass;
    sbuf_init(&user);
    sbuf_init(&pass);
    int with = credentials(c, &user, &pass) > 0; /* a bad header was refused in check_headers */
    sbuf_put(&user, "", 1);
    sbuf_put(&pass, "", 1);
    const char *u = with ? (user.buf[0] ? user.buf : "default") : NULL;
    struct inner_call *call =
        inner_call_create(req.buf, req.len, id, a->resp, u, with ? pass.buf : NULL);
    credentials_free(&user, &pass);
    sbuf_free(&req);
    unsigned w = atomic_fetch_add_explicit(&h->next_worker, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->inflight, 1, memory_order_relaxed);
    struct worker *wk = h->workers[w % (unsigned)h->nworkers];
    worker_call(wk, call);
    /* The worker answers a time-out itself at -http-timeout; the margin covers a stuck worker.
     * -http-timeout 0 waits as long as the command takes (or until the front stops). */
    uint64_t wait_ms =
        h->cfg->http_timeout_ms ? h->cfg->http_timeout_ms + HTTP_WAIT_MARGIN_MS : UINT64_MAX / 4;
    uint64_t waited = 0;
    enum inner_status st;
    for (;;) {
        uint64_t slice = wait_ms - waited < HTTP_GONE_CHECK_MS ? wait_ms - waited : HTTP_GONE_CHECK_MS;
        st = inner_call_wait(call, slice, &h->stopping);
        waited += slice;
        if (st != INNER_PENDING || waited >= wait_ms ||
            atomic_load_explicit(&h->stopping, memory_order_relaxed))
            break;
        if (client_gone(c)) {
            worker_cancel_call(wk, call);
            st = inner_call_wait(call, HTTP_WAIT_MARGIN_MS, &h->stopping);
            if (st == INNER_GONE || st == INNER_PENDING) st = INNER_GONE;
            break;
        }
    }
    enum MHD_Result ret;
    if (st == INNER_GONE) {
        ret = MHD_NO; /* nobody to answer: the connection is closed */
    } else if (st == INNER_DONE) {
        size_t len;
        const char *reply = inner_call_reply(call, &len);
        struct sbuf body;
        sbuf_init(&body);
        unsigned status = httpjson_reply(reply, len, &body);
        sbuf_puts(&body, "\n");
        ret = respond(h, c, status, &body);
        sbuf_free(&body);
    } else if (st == INNER_TOO_BIG) {
        ret = refuse(h, c, 502, PXH_REPLY_TOO_LARGE, NULL);
    } else if (st == INNER_STOPPING ||
               atomic_load_explicit(&h->stopping, memory_order_relaxed)) {
        ret = refuse(h, c, 503, PXH_SHUTTING_DOWN, NULL);
    } else {
        ret = refuse(h, c, 504, PXH_TIMEOUT, NULL);
    }
    inner_call_put(call);
    /* Counted until the answer is queued: http_stop waits for it, then lets it go out. */
    atomic_fetch_sub_explicit(&h->inflight, 1, memory_order_relaxed);
    atomic_store_explicit(&h->answered, 1, memory_order_relaxed);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    struct http_front *h = cls;
    struct http_req *q = *state;
    if (!q) {
        log_set_thread_name("http");
        q = px_calloc(1, sizeof(*q));
        *state = q;
        enum MHD_Result ret;
        if (check_headers(h, c, url, method, q, &ret)) return ret;
        return MHD_YES;
    }
    if (*upload_size) {
        take_body(h, q, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->refused_status) return refuse(h, c, q->refused_status, q->refused, NULL);
    struct http_args a;
    http_args_init(&a);
    char detail[256];
    int e = body_args(q, &a, detail, sizeof(detail));
    enum MHD_Result ret = e ? refuse(h, c, 400, (enum px_http_err)e, detail) : run(h, c, &a);
    http_args_free(&a);
    return ret;
}

/* ---- start and stop ---- */

struct http_front *http_start(const struct config *cfg, struct worker **workers, int n,
                              struct http_stats *stats, char *err, size_t errlen)
{
    char host[SOCK_HOST_MAX], ip[SOCK_HOST_MAX];
    int port;
    if (sock_split_addr(cfg->http_addr, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "-http-addr %s: expected host:port", cfg->http_addr);
        return NULL;
    }
    /* IPv4 only; loopback unless a host is named (0.0.0.0 for every address). */
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!host[0]) {
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (sock_resolve(host, ip, sizeof(ip)) < 0 ||
               inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "-http-addr %s: not an IPv4 address", cfg->http_addr);
        return NULL;
    }
    json_set_alloc_funcs(px_malloc, px_free); /* jansson allocates as the proxy does */
    struct http_front *h = px_calloc(1, sizeof(*h));
    h->cfg = cfg;
    h->workers = workers;
    h->nworkers = n;
    h->stats = stats;
    atomic_init(&h->next_worker, 0);
    atomic_init(&h->next_id, HTTP_FIRST_ID);
    atomic_init(&h->draining, 0);
    atomic_init(&h->stopping, 0);
    atomic_init(&h->answered, 0);
    atomic_init(&h->inflight, 0);
    unsigned limit = cfg->maxclients < HTTP_MAX_CONNECTIONS ? (unsigned)cfg->maxclients
                                                            : HTTP_MAX_CONNECTIONS;
    uint64_t idle_s = cfg->http_timeout_ms / 1000 + HTTP_IDLE_TIMEOUT_S;
    h->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL,
        NULL, handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle_s, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, h, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on -http-addr %s: %s", cfg->http_addr,
                 strerror(errno));
        px_free(h);
        return NULL;
    }
    return h;
}

void http_quiesce(struct http_front *h)
{
    if (h) atomic_store_explicit(&h->draining, 1, memory_order_relaxed);
}

void http_drain(struct http_front *h, uint64_t timeout_ms)
{
    if (!h) return;
    http_quiesce(h);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (uint64_t waited = 0; waited < timeout_ms; waited += 10) {
        if (atomic_load_explicit(&h->inflight, memory_order_relaxed) == 0) return;
        nanosleep(&tick, NULL);
    }
    log_warn("shutdown timeout: %d HTTP request(s) still waiting",
             atomic_load_explicit(&h->inflight, memory_order_relaxed));
}

void http_stop(struct http_front *h)
{
    if (!h) return;
    atomic_store_explicit(&h->draining, 1, memory_order_relaxed);
    atomic_store_explicit(&h->stopping, 1, memory_order_relaxed);
    /* A thread still waiting for a reply sees stopping within 100 ms and answers 503; give those
     * answers a moment to go out before the connections are closed. */
    if (atomic_load_explicit(&h->inflight, memory_order_relaxed) > 0 ||
        atomic_load_explicit(&h->answered, memory_order_relaxed)) {
        struct timespec tick = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 50 && atomic_load_explicit(&h->inflight, memory_order_relaxed); i++)
            nanosleep(&tick, NULL);
        struct timespec grace = {0, HTTP_STOP_GRACE_MS * 1000 * 1000};
        nanosleep(&grace, NULL);
    }
    /* Closes the listener and the connections and joins their threads. */
    MHD_stop_daemon(h->daemon);
    px_free(h);
}
