/*
 * The debug port; see debug_http.h. main() starts it after the workers when -debug-addr is given,
 * and stops it before them, since a request may be waiting for their snapshots. libmicrohttpd
 * runs one thread per connection, and handle() routes each GET to a builder in metrics.c that
 * writes the body into an sbuf; the body is copied into the response (MHD_RESPMEM_MUST_COPY) so
 * that the sbuf is freed at once. Profiles are files: gperftools or jemalloc writes one to a
 * temporary file, which is read back, served and removed.
 *
 * Everything here is for operators, and nothing on the request path waits for it: the workers
 * answer snapshot requests when their loop gets to them, and a slow or stuck HTTP client holds
 * only its own thread (at most DEBUG_MAX_CONNECTIONS of them, each with a bounded memory pool and
 * a timeout).
 */
#include "debug_http.h"

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "px_errors.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gperftools/profiler.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEBUG_MAX_CONNECTIONS 32
#define DEBUG_PROFILE_MAX_S   300

/* DEBUG_PROFILE_MAX_S bounds a CPU profile; the connection timeout is set above it, so that the
 * longest profile is not cut off. */

struct debug_http {
    struct MHD_Daemon *daemon;
    /* A copy of main's: its pointers outlive the port. */
    struct metrics_ctx m;
    pthread_mutex_t profile_lock; /* one CPU profile at a time */
};

/* Every answer goes out this way: the body copied, and marked not to be cached (the figures are
 * live). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A plain-text answer; errors too, since operators read them with curl. */
static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return respond(c, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* Serves b and frees it. */
static enum MHD_Result sbuf_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                  struct sbuf *b)
{
    enum MHD_Result r = respond(c, status, type, b->buf ? b->buf : "", b->len);
    sbuf_free(b);
    return r;
}

/* Reads a whole file into memory and serves it. */
static enum MHD_Result serve_file(struct MHD_Connection *c, const char *path, const char *type)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return text(c, 500, "cannot read the profile\n");
    struct sbuf b;
    sbuf_init(&b);
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) sbuf_put(&b, chunk, (size_t)n);
    close(fd);
    if (b.len == 0) {
        sbuf_free(&b);
        return text(c, 500, "the profile is empty\n");
    }
    return sbuf_reply(c, 200, type, &b);
}

/* /debug/pprof/profile?seconds=N: gperftools samples the whole process (SIGPROF) for N seconds,
 * then the profile is served in pprof's format. One at a time, since the profiler is process-wide;
 * a second request is refused rather than queued. */
static enum MHD_Result cpu_profile(struct debug_http *d, struct MHD_Connection *c)
{
    const char *sec = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
    long seconds = 30;
    if (sec) {
        char *end;
        seconds = strtol(sec, &end, 10);
        if (!*sec || *end || seconds < 1 || seconds > DEBUG_PROFILE_MAX_S)
            return text(c, 400, "seconds must be an integer from 1 to 300\n");
    }
    if (pthread_mutex_trylock(&d->profile_lock) != 0)
        return text(c, 409, "a CPU profile is already being taken; try again when it is done\n");
    char path[] = "/tmp/slotproxy-cpu.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        pthread_mutex_unlock(&d->profile_lock);
        return text(c, 500, "cannot create a temporary file for the profile\n");
    }
    close(fd);
    enum MHD_Result ret;
    if (!ProfilerStart(path)) {
        ret = text(c, 500, "the CPU profiler could not start\n");
    } else {
        log_info("CPU profile: %ld seconds", seconds);
        /* SIGPROF interrupts sleeps on this thread too: sleep until the deadline. */
        uint64_t end = clock_now_ms() + (uint64_t)seconds * 1000;
        for (uint64_t now; (now = clock_now_ms()) < end;) {
            uint64_t left = end - now;
            struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
        ProfilerStop();
        ret = serve_file(c, path, "application/octet-stream");
    }
    unlink(path);
    pthread_mutex_unlock(&d->profile_lock);
    return ret;
}

/* /debug/pprof/heap: a jemalloc heap profile for jeprof, when the process was started with
 * MALLOC_CONF=prof:true. */
static enum MHD_Result heap_profile(struct MHD_Connection *c)
{
    char path[] = "/tmp/slotproxy-heap.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return text(c, 500, "cannot create a temporary file for the profile\n");
    close(fd);
    int rc = px_mem_heap_profile(path);
    enum MHD_Result ret;
    if (rc == PX_EINVAL)
        ret = text(c, 501,
                   "heap profiling is off: start slotproxy with the environment variable "
                   "MALLOC_CONF=prof:true (jemalloc) to take heap profiles\n");
    else if (rc == -ENOSYS)
        ret = text(c, 501,
                   "heap profiling needs jemalloc, and this build does not use it "
                   "(sanitizer builds use the sanitizer's allocator)\n");
    else if (rc < 0)
        ret = text(c, 500, "the heap profile could not be written\n");
    else
        ret = serve_file(c, path, "application/octet-stream");
    unlink(path);
    return ret;
}

/* GET shows the level; PUT or POST with ?level= changes it for every thread at once. The change is
 * logged at warn, so that it shows in the log whatever the new level. */
static enum MHD_Result loglevel(struct MHD_Connection *c, const char *method)
{
    if (strcmp(method, "GET") == 0) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%s\n", log_level_name(log_get_level()));
        return text(c, 200, msg);
    }
    const char *lv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "level");
    enum log_level level;
    if (!lv || log_level_parse(lv, &level) < 0)
        return text(c, 400, "level must be one of debug, info, warn, error (?level=debug)\n");
    log_set_level(level);
    log_warn("log level set to %s through the debug port", log_level_name(level));
    char msg[64];
    snprintf(msg, sizeof(msg), "%s\n", log_level_name(level));
    return text(c, 200, msg);
}

/* libmicrohttpd calls this several times per request: first with the headers only (*state NULL),
 * then once per piece of the body, then with *upload_size 0 when all is in; only that last call
 * answers. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    struct debug_http *d = cls;
    static int first_call;
    if (*state == NULL) { /* headers only so far: come back for the body */
        log_set_thread_name("debug");
        /* Any non-NULL marker will do; first_call is never read. */
        *state = &first_call;
        return MHD_YES;
    }
    if (*upload_size) { /* bodies are not used: accept and drop them */
        *upload_size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int put = strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
    if (strcmp(url, "/debug/loglevel") == 0) {
        if (!get && !put) return text(c, 405, "use GET, PUT or POST\n");
        return loglevel(c, get ? "GET" : "PUT");
    }
    if (!get) return text(c, 405, "use GET\n");
    struct sbuf b;
    sbuf_init(&b);
    if (strcmp(url, "/healthz") == 0) return text(c, 200, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        if (metrics_ready(&d->m, &b)) {
            sbuf_free(&b);
            return text(c, 200, "ready\n");
        }
        return sbuf_reply(c, 503, "text/plain; charset=utf-8", &b);
    }
    if (strcmp(url, "/metrics") == 0) {
        metrics_prometheus(&d->m, &b);
        return sbuf_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    }
    const char *json = "application/json";
    if (strcmp(url, "/debug/vars") == 0) {
        metrics_vars(&d->m, &b);
        return sbuf_reply(c, 200, json, &b);
    }
    if (strcmp(url, "/debug/slots") == 0) {
        metrics_slots(&d->m, &b);
        return sbuf_reply(c, 200, json, &b);
    }
    if (strcmp(url, "/debug/backends") == 0) {
        metrics_backends(&d->m, &b);
        return sbuf_reply(c, 200, json, &b);
    }
    if (strcmp(url, "/debug/clients") == 0) {
        metrics_clients(&d->m, &b);
        return sbuf_reply(c, 200, json, &b);
    }
    if (strcmp(url, "/debug/pprof/profile") == 0) return cpu_profile(d, c);
    if (strcmp(url, "/debug/pprof/heap") == 0) return heap_profile(c);
    if (strcmp(url, "/") == 0)
        return text(c, 200,
                    "slotproxy debug port: /healthz /readyz /metrics /debug/vars "
                    "/debug/slots /debug/backends /debug/clients /debug/loglevel "
                    "/debug/pprof/profile?seconds=N /debug/pprof/heap\n");
    return text(c, 404, "not found\n");
}

struct debug_http *debug_http_start(const char *addr, const struct metrics_ctx *m, char *err,
                                    size_t errlen)
{
    char host[SOCK_HOST_MAX], ip[SOCK_HOST_MAX];
    int port;
    if (sock_split_addr(addr, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "-debug-addr %s: expected host:port", addr);
        return NULL;
    }
    /* IPv4 only; a name is resolved once, here, at startup. */
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!host[0]) {
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (sock_resolve(host, ip, sizeof(ip)) < 0 ||
               inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "-debug-addr %s: not an IPv4 address", addr);
        return NULL;
    }
    struct debug_http *d = px_calloc(1, sizeof(*d));
    d->m = *m;
    pthread_mutex_init(&d->profile_lock, NULL);
    /* One thread per connection, so that a profile of several seconds holds up nobody else; the
     * limits keep a misbehaving client from taking much: 32 connections, 64 KiB of memory each, and
     * a timeout just above the longest profile. */
    d->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL,
        handle, d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)DEBUG_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(DEBUG_PROFILE_MAX_S + 30), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_END);
    if (!d->daemon) {
        snprintf(err, errlen, "cannot listen on -debug-addr %s: %s", addr, strerror(errno));
        pthread_mutex_destroy(&d->profile_lock);
        px_free(d);
        return NULL;
    }
    return d;
}

void debug_http_stop(struct debug_http *d)
{
    if (!d) return;
    /* Closes the listener and the connections and joins their threads. */
    MHD_stop_daemon(d->daemon);
    pthread_mutex_destroy(&d->profile_lock);
    px_free(d);
}
