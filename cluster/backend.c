/*
 * Backend runner; the contract is in backend.h. Each worker has one shared runner per node it
 * talks to (made by view.c, used by forward.c), and private ones leased for transactions,
 * blocking commands and Pub/Sub (private.c). A request comes in through backend_send as a span of
 * its client's input chunk, is queued on the obuf (by reference when long), and leaves in one
 * write per loop turn (stream_write: a writev, or a send request handed to io_uring with the rest
 * of the turn), when the worker's before-sleep hook calls backend_flush. Replies are
 * framed in the runner's own input chunk and handed to ops->reply in FIFO order (a RESP3 push,
 * which answers no request, goes to ops->push); the runner never looks inside one beyond its
 * framing. A shared runner with requests out tells its loop it owes replies (loop_due), for the
 * io_uring engine's batched wait.
 *
 * Bookkeeping is by byte counts rather than flags: each FIFO entry records bytes_queued after it,
 * so when the connection breaks, comparing with the bytes that left the queue (bytes_queued less
 * what the obuf still holds, plus what the kernel was still sending) says which requests went
 * out whole (the node may have run them) and which did not (they never ran and may be sent
 * again). The runner's own commands (AUTH, HELLO 3, READONLY, ASKING and the other prefixes) are
 * FIFO entries too, so their replies are consumed in order and never reach a caller.
 *
 * With opts->tls the connection is TLS (-tls-cluster): once the TCP connect succeeds, the
 * handshake runs in the loop like everything else (the connect timeout covers it), and only then
 * is the runner UP. Reads, writes and the events waited for go through net/tls.h at the three
 * places below that touch the socket; a plain runner pays one NULL test for it.
 */
#include "backend.h"

#include "log.h"
#include "mem.h"
#include "px_errors.h"
#include "resp_write.h"
#include "sock.h"
#include "stream.h"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BACKOFF_MIN_MS          10
#define BACKOFF_MAX_MS          1000
#define BACKEND_READ_MIN        4096
#define BACKEND_READS_PER_EVENT 4
#define BACKEND_LOG_INTERVAL_MS                                                                    \
    10000 /* a failing node is logged at most this often per connection */

/* BACKEND_READS_PER_EVENT bounds the reads per readiness event, so that one busy node cannot
 * starve the worker's other sockets; level triggering brings the rest next turn. */

/* What a FIFO entry's reply is for: a caller's request, or one of the runner's own commands,
 * whose reply is checked (AUTH, HELLO 3) or dropped. */
enum entry_kind { ENTRY_REQ = 0, ENTRY_AUTH, ENTRY_PREFIX, ENTRY_READONLY, ENTRY_HELLO, ENTRY_TRACKING };

struct backend_entry {
    struct backend_req *r; /* NULL for the runner's own commands */
    uint64_t end;          /* bytes_queued after this entry: written once that many have left */
    uint64_t at_ms;        /* when it was queued (loop time), for timeout_ms */
    uint8_t kind;
};

struct backend {
    struct loop *loop;
    struct buf_pool *pool;
    const struct backend_ops *ops;
    void *ctx;
    const struct backend_opts *opts;
    char ip[SLOTMAP_IP_MAX];
    int port;
    char addr[SLOTMAP_ADDR_MAX];

    int fd;
    struct tls_conn *tls; /* with opts->tls: the connection's TLS, from the TCP connect on */
    enum backend_state state;
    struct loop_timer timer;  /* connect timeout, then back-off */
    struct loop_timer rtimer; /* reply timeout (timeout_ms) */
    struct loop_timer stimer; /* stall check, then the bound of a hold (stall_ms, opts->hold_ms) */
    uint64_t timeout_ms;
    uint64_t stall_ms;
    uint64_t last_rx_ms; /* when bytes last came from the node */
    int stalled;         /* reported stalled, nothing read since */
    /* Suspicion (backend_suspect): sends refused; once the node sends, reading stops (holding)
     * until backend_confirm or backend_depose. */
    int suspect;
    int holding;
    uint64_t hold_since_ms;
    int deposing;      /* backend_depose is failing the connection */
    int hold_expiring; /* the hold ran out: failing the connection */
    uint64_t up_ms; /* when the connection came up: no reply is late before it */
    int due;        /* counted in the loop's due replies (backend_note_due) */
    int timing_out; /* backend_fail because a reply was late */
    uint32_t backoff_ms;

    struct obuf out;
    uint64_t bytes_queued; /* bytes ever queued on out; those that left are queued - out.bytes */
    struct backend_entry *fifo; /* ring */
    uint32_t fhead, fcount, fcap;

    /* Input: replies are framed from in_start on; need is the framer's hint for the next read. */
    struct buf_chunk *in;
    uint32_t in_start;
    uint32_t need;
    struct resp_reply_framer framer;

    char last_err[128];
    struct backend_stats stats;
    int raw;
    int removing;                /* backend_free: the failure is ours, not the node's */
    int failing;                 /* the last connection failed or broke; cleared when up */
    struct log_ratelimit log_rl; /* failures of a node that stays down are logged sparingly */
};

const char backend_asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";
static const char readonly_cmd[] = "*1\r\n$8\r\nREADONLY\r\n";
static const char hello3_cmd[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
static const char tracking_cmd[] = "*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n";
static const char tracking_bcast_cmd[] =
    "*4\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n$5\r\nBCAST\r\n";

static void backend_on_event(struct loop *l, int fd, int mask, void *ctx);
static void backend_note_due(struct backend *b);
static void backend_on_timer(struct loop *l, void *ctx);
static void backend_on_rtimer(struct loop *l, void *ctx);
static void backend_on_stimer(struct loop *l, void *ctx);
static void backend_fail(struct backend *b, const char *err);

struct backend *backend_create(struct loop *l, struct buf_pool *pool, const struct backend_ops *ops,
                               void *ctx, const struct backend_opts *opts, const char *ip, int port)
{
    struct backend *b = px_calloc(1, sizeof(*b));
    b->loop = l;
    b->pool = pool;
    b->ops = ops;
    b->ctx = ctx;
    b->opts = opts;
    snprintf(b->ip, sizeof(b->ip), "%s", ip);
    b->port = port;
    slotmap_format_addr(b->addr, sizeof(b->addr), ip, port);
    b->fd = -1;
    b->state = BACKEND_IDLE;
    b->backoff_ms = BACKOFF_MIN_MS;
    loop_timer_init(&b->timer, backend_on_timer, b);
    loop_timer_init(&b->rtimer, backend_on_rtimer, b);
    loop_timer_init(&b->stimer, backend_on_stimer, b);
    b->timeout_ms = opts->timeout_ms;
    b->stall_ms = opts->stall_ms;
    obuf_init(&b->out);
    resp_reply_init(&b->framer);
    return b;
}

/* Appends an entry for bytes just queued. The reply timer is started here only when idle; it
 * re-arms itself for the next oldest entry (backend_on_rtimer), not once per request. */
static void fifo_push(struct backend *b, struct backend_req *r, uint8_t kind)
{
    if (b->fcount == b->fcap) {
        uint32_t ncap = b->fcap ? b->fcap * 2 : 16;
        struct backend_entry *n = px_malloc(ncap * sizeof(*n));
        for (uint32_t i = 0; i < b->fcount; i++) n[i] = b->fifo[(b->fhead + i) % b->fcap];
        px_free(b->fifo);
        b->fifo = n;
        b->fcap = ncap;
        b->fhead = 0;
    }
    struct backend_entry *e = &b->fifo[(b->fhead + b->fcount) % b->fcap];
    e->r = r;
    e->end = b->bytes_queued;
    e->at_ms = loop_now_ms(b->loop);
    e->kind = kind;
    b->fcount++;
    if (b->timeout_ms && !loop_timer_active(&b->rtimer))
        loop_timer_start(b->loop, &b->rtimer, b->timeout_ms);
    if (b->stall_ms && !loop_timer_active(&b->stimer))
        loop_timer_start(b->loop, &b->stimer, b->stall_ms);
}

/* The reply timer: fails the connection when the oldest request has waited timeout_ms since it
 * was queued (or since the connection came up, if later); otherwise waits for that moment. */
static void backend_on_rtimer(struct loop *l, void *ctx)
{
    struct backend *b = ctx;
    if (b->fcount == 0 || b->timeout_ms == 0) return;
    uint64_t now = loop_now_ms(l);
    if (b->state != BACKEND_UP) {
        loop_timer_start(l, &b->rtimer, b->timeout_ms); /* the connect timeout covers this */
        return;
    }
    const struct backend_entry *e = &b->fifo[b->fhead];
    uint64_t since = e->at_ms > b->up_ms ? e->at_ms : b->up_ms;
    if (now < since + b->timeout_ms) {
        loop_timer_start(l, &b->rtimer, since + b->timeout_ms - now);
        return;
    }
    char err[128];
    snprintf(err, sizeof(err), "no reply within %llu ms (-backend-timeout)",
             (unsigned long long)b->timeout_ms);
    b->stats.timeouts++;
    b->timing_out = 1;
    backend_fail(b, err);
    b->timing_out = 0;
}

/* What the socket is watched for: reading unless a suspect holds its node's answer, writing
 * while output is left over. */
static int io_mask(const struct backend *b)
{
    return (b->holding ? 0 : LOOP_READ) | (obuf_empty(&b->out) ? 0 : LOOP_WRITE);
}

/* The stall timer. Holding: the hold's bound, and a reminder (EV_WOKE) every stall_ms. Otherwise:
 * reports a stall (EV_STALLED, again every stall_ms while it lasts) when the oldest request has
 * waited stall_ms with nothing read since it was queued (or since the connection came up). */
static void backend_on_stimer(struct loop *l, void *ctx)
{
    struct backend *b = ctx;
    uint64_t now = loop_now_ms(l);
    if (b->holding) {
        uint64_t end = b->hold_since_ms + b->opts->hold_ms;
        if (now >= end) {
            char err[128];
            snprintf(err, sizeof(err), "answered after a stall, unconfirmed within %llu ms",
                     (unsigned long long)b->opts->hold_ms);
            b->hold_expiring = 1;
            backend_fail(b, err);
            b->hold_expiring = 0;
            return;
        }
        loop_timer_start(l, &b->stimer, end - now < b->stall_ms ? end - now : b->stall_ms);
        b->ops->state(b, BACKEND_EV_WOKE, b->ctx);
        return;
    }
    if (b->fcount == 0 || b->stall_ms == 0 || b->state != BACKEND_UP) return; /* fifo_push re-arms */
    const struct backend_entry *e = &b->fifo[b->fhead];
    uint64_t since = e->at_ms > b->last_rx_ms ? e->at_ms : b->last_rx_ms;
    if (b->up_ms > since) since = b->up_ms;
    if (now < since + b->stall_ms) {
        loop_timer_start(l, &b->stimer, since + b->stall_ms - now);
        return;
    }
    if (!b->stalled) b->stats.stalls++;
    b->stalled = 1;
    loop_timer_start(l, &b->stimer, b->stall_ms);
    b->ops->state(b, BACKEND_EV_STALLED, b->ctx);
}

/* One of the runner's own commands: its bytes, and a FIFO entry with no request. */
static void queue_bytes(struct backend *b, const char *data, size_t len, uint8_t kind)
{
    obuf_append(&b->out, b->pool, data, len);
    b->bytes_queued += len;
    fifo_push(b, NULL, kind);
}

/* AUTH with the ACL user when there is one, else with the password alone. */
static void queue_auth(struct backend *b)
{
    struct sbuf cmd;
    sbuf_init(&cmd);
    const char *user = b->opts->user, *pass = b->opts->password;
    resp_write_array_len(&cmd, user ? 3 : 2);
    resp_write_bulk(&cmd, "AUTH", 4);
    if (user) resp_write_bulk(&cmd, user, strlen(user));
    resp_write_bulk(&cmd, pass, strlen(pass));
    queue_bytes(b, cmd.buf, cmd.len, ENTRY_AUTH);
    sbuf_free(&cmd);
}

/* Closes the connection and hands back everything in flight. err is for logs and /debug. */
static void backend_fail(struct backend *b, const char *err)
{
    int was_up = b->state == BACKEND_UP;
    snprintf(b->last_err, sizeof(b->last_err), "%s", err);
    /* backend_free's own teardown is not the node's failure: no "failing" mark and no log line. */
    if (!b->removing) b->failing = 1;
    if (!b->removing && log_ratelimit_ok(&b->log_rl, BACKEND_LOG_INTERVAL_MS)) {
        if (b->log_rl.suppressed)
            log_warn("node %s: %s (%s; %llu more failure(s) not logged in the last %d s)", b->addr,
                     err, was_up ? "connection lost" : "cannot connect",
                     (unsigned long long)b->log_rl.suppressed, BACKEND_LOG_INTERVAL_MS / 1000);
        else
            log_warn("node %s: %s (%s)", b->addr, err,
                     was_up ? "connection lost" : "cannot connect");
        b->log_rl.suppressed = 0;
    }
    /* What reached the node, or may have: bytes that left the queue, and those the kernel was
     * still sending (io_uring), which the node may have received. Counted before the queue goes. */
    uint64_t written = b->bytes_queued - b->out.bytes;
    if (b->fd >= 0) {
        written += stream_unsettled(b->loop, b->fd);
        loop_del(b->loop, b->fd);
        tls_conn_free(b->tls);
        b->tls = NULL;
        close(b->fd);
        b->fd = -1;
        if (was_up)
            b->stats.disconnects++;
        else
            b->stats.connect_failures++;
    }
    loop_timer_stop(b->loop, &b->timer);
    loop_timer_stop(b->loop, &b->rtimer);
    loop_timer_stop(b->loop, &b->stimer);
    b->holding = 0;
    b->stalled = 0;
    obuf_reset(&b->out);
    buf_chunk_put(b->in);
    b->in = NULL;
    b->in_start = 0;
    resp_reply_reset(&b->framer);

    /* Detach the FIFO before calling out: callbacks may send again (and get PX_EAGAIN). */
    struct backend_entry *fifo = b->fifo;
    uint32_t head = b->fhead, count = b->fcount, cap = b->fcap;
    b->fifo = NULL;
    b->fhead = b->fcount = b->fcap = 0;
    b->bytes_queued = 0;
    backend_note_due(b);

    /* Back-off: repeated connect failures double the wait, up to BACKOFF_MAX_MS. */
    if (was_up) b->backoff_ms = BACKOFF_MIN_MS; /* a working link that broke: retry soon */
    b->state = BACKEND_BACKOFF;
    loop_timer_start(b->loop, &b->timer, b->backoff_ms);
    b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;

    for (uint32_t i = 0; i < count; i++) {
        struct backend_entry *e = &fifo[(head + i) % cap];
        /* Only callers' requests go back; written means every byte of the request reached the
         * socket. The runner's own commands die with the connection. */
        if (e->kind == ENTRY_REQ) b->ops->failed(b, e->r, e->end <= written, b->ctx);
    }
    px_free(fifo);
    /* Last, with the runner consistent again: the owner may try to send, and gets PX_EAGAIN until
     * the retry timer fires. */
    b->ops->state(b, BACKEND_EV_DOWN, b->ctx);
}

/* Starts a non-blocking connection. b->timer is the connect timeout now and becomes the back-off
 * timer if this fails. Returns 0, or PX_EAGAIN when it failed at once (already backing off). */
static int backend_connect(struct backend *b)
{
    int fd = sock_connect_nb(b->ip, b->port);
    if (fd < 0) {
        char err[128];
        snprintf(err, sizeof(err), "connect: %s", strerror(-fd));
        b->state = BACKEND_CONNECTING; /* so that backend_fail counts a connect failure */
        backend_fail(b, err);
        return PX_EAGAIN;
    }
    b->fd = fd;
    b->state = BACKEND_CONNECTING;
    /* TLS: OpenSSL reads and writes the socket itself, so it is watched for readiness. */
    if (loop_add(b->loop, fd, LOOP_WRITE | (b->opts->tls ? 0 : LOOP_STREAM), backend_on_event, b) <
        0) {
        backend_fail(b, "cannot register the connection");
        return PX_EAGAIN;
    }
    loop_timer_start(b->loop, &b->timer, b->opts->connect_timeout_ms);
    /* The runner's own commands go first on every new connection. */
    if (b->opts->password) queue_auth(b);
    if (b->opts->resp3) queue_bytes(b, hello3_cmd, sizeof(hello3_cmd) - 1, ENTRY_HELLO);
    if (b->opts->resp3 && b->opts->tracking == 1)
        queue_bytes(b, tracking_cmd, sizeof(tracking_cmd) - 1, ENTRY_TRACKING);
    if (b->opts->resp3 && b->opts->tracking == 2)
        queue_bytes(b, tracking_bcast_cmd, sizeof(tracking_bcast_cmd) - 1, ENTRY_TRACKING);
    if (b->opts->readonly) queue_bytes(b, readonly_cmd, sizeof(readonly_cmd) - 1, ENTRY_READONLY);
    return 0;
}

/* IDLE: the first send connects. While CONNECTING, sends queue up and go out when the connection is
 * ready (backend_connected flushes). */
int backend_send(struct backend *b, struct backend_req *r, const char *prefix, size_t prefix_len,
                 int nprefix)
{
    if (b->state == BACKEND_BACKOFF || b->suspect) return PX_EAGAIN;
    if (b->state == BACKEND_IDLE && backend_connect(b) < 0) return PX_EAGAIN;
    int was_empty = obuf_empty(&b->out);
    if (nprefix > 0) {
        obuf_append(&b->out, b->pool, prefix, prefix_len);
        b->bytes_queued += prefix_len;
        for (int i = 0; i < nprefix; i++) fifo_push(b, NULL, ENTRY_PREFIX);
    }
    obuf_append_span(&b->out, b->pool, r->chunk, r->off, r->len);
    b->bytes_queued += r->len;
    fifo_push(b, r, ENTRY_REQ);
    /* The owner hears once per batch: on the first bytes queued since the last flush. */
    if (was_empty && b->state == BACKEND_UP) b->ops->want_flush(b, b->ctx);
    return 0;
}

/* Tells the loop whether this runner owes replies it will read (loop_due), for the batched wait:
 * requests in the FIFO on a connection that reads. Called wherever those change: after writes,
 * after reads, on a hold, on failure. */
static void backend_note_due(struct backend *b)
{
    int due = b->opts->batch && b->fcount > 0 && b->fd >= 0 && !b->holding && !b->raw;
    if (due != b->due) {
        loop_due(b->loop, due - b->due);
        b->due = due;
    }
}

/* The events of io_mask; over TLS, the ones those operations wait for (a read may need
 * writability, a write readability). */
static void backend_update_mask(struct backend *b)
{
    int want = io_mask(b);
    loop_set_mask(b->loop, b->fd, b->tls ? tls_conn_mask(b->tls, want) : want);
    backend_note_due(b);
}

/* A failed read or write's reason, for the log and /debug/backends. */
static void backend_io_error(struct backend *b, const char *what, ssize_t rc)
{
    char err[160];
    snprintf(err, sizeof(err), "%s: %s", what,
             rc == PX_EPROTO ? tls_last_error() : strerror((int)-rc));
    backend_fail(b, err);
}

int backend_flush(struct backend *b)
{
    if (b->state != BACKEND_UP) return 0;
    /* Plain text: also with nothing left to write, since with io_uring LOOP_WRITE reports a
     * completed send, and the mask must drop LOOP_WRITE once the queue is empty. TLS writes
     * through OpenSSL on a socket registered for readiness, as with epoll. */
    ssize_t w;
    if (b->tls)
        w = obuf_empty(&b->out) ? 0 : obuf_write_tls(&b->out, b->tls);
    else
        w = obuf_empty(&b->out) ? 0 : stream_write(b->loop, b->fd, &b->out);
    if (w < 0 && w != -EAGAIN) {
        backend_io_error(b, "write", w);
        return 0;
    }
    backend_update_mask(b);
    return 0;
}

void backend_set_raw(struct backend *b, int raw)
{
    b->raw = raw;
}

/* No FIFO entry: in raw mode, whatever these bytes bring back goes to ops->push. */
int backend_send_raw(struct backend *b, const char *bytes, size_t len)
{
    if (b->state == BACKEND_BACKOFF) return PX_EAGAIN;
    if (b->state == BACKEND_IDLE && backend_connect(b) < 0) return PX_EAGAIN;
    int was_empty = obuf_empty(&b->out);
    obuf_append(&b->out, b->pool, bytes, len);
    b->bytes_queued += len;
    if (was_empty && b->state == BACKEND_UP) b->ops->want_flush(b, b->ctx);
    return 0;
}

/* The connection (and its TLS handshake, if any) is made: the runner is up. */
static void backend_up(struct backend *b)
{
    loop_timer_stop(b->loop, &b->timer);
    /* UP before the state callback and the flush: what the callback sends goes out at once, behind
     * the AUTH, HELLO 3 and READONLY queued at connect time. */
    b->state = BACKEND_UP;
    b->up_ms = loop_now_ms(b->loop);
    b->last_rx_ms = b->up_ms;
    b->failing = 0;
    b->stats.connects++;
    b->last_err[0] = '\0';
    backend_update_mask(b);
    b->ops->state(b, BACKEND_EV_UP, b->ctx);
    backend_flush(b);
}

/* One step of the TLS handshake, on any event of the socket while it runs. */
static void backend_handshake(struct backend *b)
{
    int rc = tls_conn_handshake(b->tls);
    if (rc == -EAGAIN) {
        loop_set_mask(b->loop, b->fd, tls_conn_mask(b->tls, 0));
        return;
    }
    if (rc < 0) {
        char err[160];
        snprintf(err, sizeof(err), "TLS handshake: %s", tls_last_error());
        backend_fail(b, err);
        return;
    }
    backend_up(b);
}

/* The socket turned writable after connect(): SO_ERROR says whether it worked. */
static void backend_connected(struct backend *b)
{
    int rc = sock_connect_result(b->fd);
    if (rc < 0) {
        char err[128];
        snprintf(err, sizeof(err), "connect: %s", strerror(-rc));
        backend_fail(b, err);
        return;
    }
    sock_set_nodelay(b->fd);
    if (b->opts->keepalive_s > 0) sock_set_keepalive(b->fd, b->opts->keepalive_s);
    if (!b->opts->tls) {
        backend_up(b);
        return;
    }
    /* Still CONNECTING, and the connect timer still runs: it bounds the handshake too. */
    b->tls = tls_conn_create(b->opts->tls, b->fd);
    if (!b->tls) {
        char err[160];
        snprintf(err, sizeof(err), "TLS: %s", tls_last_error());
        backend_fail(b, err);
        return;
    }
    backend_handshake(b);
}

/* Handles one complete reply at b->in[b->in_start]. Returns -1 when the connection was failed. */
static int backend_dispatch(struct backend *b, const struct resp_reply_info *info)
{
    /* A RESP3 push answers no request: it goes to push (or nowhere), never to the FIFO. */
    if (info->type == '>' && !b->raw) {
        if (b->ops->push) b->ops->push(b, b->in, b->in_start, info, b->ctx);
        return 0;
    }
    /* Raw mode: unless one of the runner's own commands is waiting for it, a reply is a push (a
     * subscription confirmation or a message). */
    if (b->raw && (b->fcount == 0 || b->fifo[b->fhead].kind == ENTRY_REQ)) {
        b->stats.replies++;
        b->ops->push(b, b->in, b->in_start, info, b->ctx);
        return 0;
    }
    if (b->fcount == 0) {
        backend_fail(b, "reply without a request (stream out of sync)");
        return -1;
    }
    struct backend_entry e = b->fifo[b->fhead];
    b->fhead = (b->fhead + 1) % b->fcap;
    b->fcount--;
    switch (e.kind) {
    case ENTRY_REQ:
        b->stats.replies++;
        b->ops->reply(b, e.r, b->in, b->in_start, info, b->ctx);
        return 0;
    case ENTRY_AUTH:
    case ENTRY_HELLO:
    case ENTRY_TRACKING:
        /* A refused AUTH, HELLO 3 or CLIENT TRACKING leaves the runner unable to serve anything:
         * fail the connection with the node's words, for the log and /debug/backends. */
        if (info->type == '-') {
            char err[128];
            snprintf(err, sizeof(err), "%s failed: %.*s",
                     e.kind == ENTRY_AUTH    ? "AUTH"
                     : e.kind == ENTRY_HELLO ? "HELLO 3"
                                             : "CLIENT TRACKING",
                     (int)info->line_len, b->in->data + b->in_start + info->line_off);
            backend_fail(b, err);
            return -1;
        }
        return 0;
    default: return 0; /* prefix commands and READONLY: the reply is not needed */
    }
}

static void backend_read(struct backend *b)
{
    /* Over TLS, bytes OpenSSL has already decrypted are not signalled by the socket again: they are
     * read before returning, whatever the round (at most a record's worth). */
    for (int round = 0; round < BACKEND_READS_PER_EVENT || (b->tls && tls_conn_pending(b->tls));
         round++) {
        size_t kept = b->in ? b->in->len - b->in_start : 0;
        /* The partial reply at in_start is kept (moved if need be); the read is sized by what the
         * framer says is missing, at most doubling the buffer (buf_read_want). */
        int more = 0;
        ssize_t n;
        if (b->tls) {
            /* OpenSSL reads the socket itself (registered for readiness, not as a stream). */
            buf_chunk_make_room(b->pool, &b->in, &b->in_start,
                                buf_read_want(b->need, kept, BACKEND_READ_MIN));
            size_t room = buf_chunk_room(b->in);
            n = tls_conn_read(b->tls, b->in->data + b->in->len, room);
            if (n > 0) {
                b->in->len += (uint32_t)n;
                more = (size_t)n == room || tls_conn_pending(b->tls);
            }
        } else {
            n = stream_read(b->loop, b->fd, b->pool, &b->in, &b->in_start,
                            buf_read_want(b->need, kept, BACKEND_READ_MIN), 0, &more);
        }
        /* 0: the node closed its end. */
        if (n == 0) {
            backend_fail(b, "connection closed by the node");
            return;
        }
        if (n < 0) {
            /* A TLS read that waits for writability changes the events waited for. */
            if (n == -EAGAIN || n == -EINTR) {
                if (b->tls) backend_update_mask(b);
                return;
            }
            backend_io_error(b, "read", n);
            return;
        }
        struct buf_chunk *c = b->in;
        b->need = 0;
        b->last_rx_ms = loop_now_ms(b->loop);
        b->stalled = 0;
        for (;;) {
            struct resp_reply_info info;
            int rc =
                resp_reply_frame(&b->framer, c->data + b->in_start, c->len - b->in_start, &info);
            if (rc == PX_EAGAIN) {
                b->need = info.need;
                break;
            }
            if (rc < 0) {
                backend_fail(b, "protocol error in a reply");
                return;
            }
            /* Keep the chunk alive across the callback even if the runner drops it. */
            buf_chunk_ref(c);
            int gone = backend_dispatch(b, &info);
            b->in_start += info.len;
            resp_reply_reset(&b->framer);
            buf_chunk_put(c);
            if (gone < 0) return;
        }
        if (b->in_start == c->len && c->refcnt == 1) {
            c->len = 0; /* everything consumed and nobody points in: reuse from the start */
            b->in_start = 0;
        }
        if (!more) return; /* the socket is drained */
    }
}

/* While connecting, the socket says how the connect went by turning writable, or by an error. */
static void backend_on_event(struct loop *l, int fd, int mask, void *ctx)
{
    struct backend *b = ctx;
    if (b->state == BACKEND_CONNECTING) {
        if (b->tls)
            backend_handshake(b); /* any event: the handshake says what it waits for */
        else if (mask & (LOOP_WRITE | LOOP_ERROR))
            backend_connected(b);
        return;
    }
    if (b->tls) mask = tls_conn_events(b->tls, mask);
    if (mask & LOOP_ERROR) {
        /* SO_ERROR names the error; a plain hang-up has none. */
        int rc = sock_connect_result(fd);
        char err[128];
        snprintf(err, sizeof(err), "socket error: %s", rc < 0 ? strerror(-rc) : "hang-up");
        backend_fail(b, err);
        return;
    }
    if ((mask & LOOP_READ) && b->suspect && !b->holding) {
        /* The suspect's node speaks again: leave it unread until the owner knows whether the
         * node still serves its slots. */
        b->holding = 1;
        b->hold_since_ms = loop_now_ms(l);
        backend_update_mask(b);
        uint64_t in = b->stall_ms && b->stall_ms < b->opts->hold_ms ? b->stall_ms : b->opts->hold_ms;
        loop_timer_start(l, &b->stimer, in);
        b->ops->state(b, BACKEND_EV_WOKE, b->ctx);
        if (b->state != BACKEND_UP) return;
        mask &= ~LOOP_READ;
    }
    if ((mask & LOOP_READ) && !b->holding) {
        backend_read(b);
        if (b->state != BACKEND_UP) return;
        backend_note_due(b);
    }
    if (mask & LOOP_WRITE) backend_flush(b);
}

/* One timer, two roles: the connect timeout while CONNECTING, the end of the back-off while
 * BACKOFF. */
static void backend_on_timer(struct loop *l, void *ctx)
{
    struct backend *b = ctx;
    if (b->state == BACKEND_CONNECTING) {
        backend_fail(b, "connect timeout");
    } else if (b->state == BACKEND_BACKOFF) {
        b->state = BACKEND_IDLE;
        b->ops->state(b, BACKEND_EV_RETRY, b->ctx);
    }
}

int backend_failing(const struct backend *b)
{
    return b->failing;
}

void backend_reconnect(struct backend *b)
{
    if (b->state == BACKEND_IDLE) backend_connect(b);
}

void backend_free(struct backend *b)
{
    if (!b) return;
    /* Pending requests still go back through ops->failed, but the teardown is not logged as the
     * node's failure. */
    b->removing = 1;
    if (b->fcount > 0 || b->fd >= 0) backend_fail(b, "backend removed");
    loop_timer_stop(b->loop, &b->timer);
    loop_timer_stop(b->loop, &b->rtimer);
    loop_timer_stop(b->loop, &b->stimer);
    obuf_reset(&b->out);
    buf_chunk_put(b->in);
    resp_reply_deinit(&b->framer);
    px_free(b->fifo);
    px_free(b);
}

enum backend_state backend_get_state(const struct backend *b)
{
    return b->state;
}

int backend_readonly(const struct backend *b)
{
    return b->opts->readonly;
}

int backend_resp(const struct backend *b)
{
    return b->opts->resp3 ? 3 : 2;
}

int backend_tracking(const struct backend *b)
{
    return b->opts->resp3 ? b->opts->tracking : 0;
}

const char *backend_addr(const struct backend *b)
{
    return b->addr;
}

const char *backend_ip(const struct backend *b)
{
    return b->ip;
}

int backend_port(const struct backend *b)
{
    return b->port;
}

void backend_set_timeout(struct backend *b, uint64_t timeout_ms)
{
    b->timeout_ms = timeout_ms;
    if (timeout_ms == 0) {
        b->stall_ms = 0;
        loop_timer_stop(b->loop, &b->stimer);
    }
    /* Turned on with requests already waiting: their clock starts now. */
    if (timeout_ms == 0)
        loop_timer_stop(b->loop, &b->rtimer);
    else if (b->fcount > 0 && !loop_timer_active(&b->rtimer))
        loop_timer_start(b->loop, &b->rtimer, timeout_ms);
}

int backend_timed_out(const struct backend *b)
{
    return b->timing_out;
}

void backend_suspect(struct backend *b)
{
    b->suspect = 1;
}

void backend_confirm(struct backend *b)
{
    if (!b->suspect) return;
    b->suspect = 0;
    b->stalled = 0;
    if (b->holding) {
        b->holding = 0;
        loop_timer_stop(b->loop, &b->stimer);
        /* The held bytes are read next turn (level triggering); the stall clock starts again. */
        if (b->fd >= 0) backend_update_mask(b);
    }
    b->last_rx_ms = loop_now_ms(b->loop);
    if (b->stall_ms && b->fcount > 0 && !loop_timer_active(&b->stimer))
        loop_timer_start(b->loop, &b->stimer, b->stall_ms);
}

void backend_depose(struct backend *b, const char *why)
{
    b->suspect = 0;
    if (b->fd < 0 && b->fcount == 0) return;
    b->deposing = 1;
    backend_fail(b, why);
    b->deposing = 0;
}

int backend_suspected(const struct backend *b)
{
    return b->suspect;
}

int backend_holding(const struct backend *b, uint64_t *since_ms)
{
    if (b->holding && since_ms) *since_ms = b->hold_since_ms;
    return b->holding;
}

int backend_deposed(const struct backend *b)
{
    return b->deposing;
}

int backend_hold_expired(const struct backend *b)
{
    return b->hold_expiring;
}

const char *backend_last_error(const struct backend *b)
{
    return b->last_err;
}

uint32_t backend_inflight(const struct backend *b)
{
    return b->fcount;
}

void backend_get_stats(const struct backend *b, struct backend_stats *st)
{
    *st = b->stats;
}
