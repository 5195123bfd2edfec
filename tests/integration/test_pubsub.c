/*
 * Pub/Sub through the proxy, against the real cluster.
 *
 * The proxy gives each subscribing client private connections of its own (one master for
 * channels and patterns, every master for keyspace notifications, the slot owner for shard
 * channels) and makes the confirmations itself. These tests check what a client sees: the
 * confirmation and message bytes a standalone redis-server (h_env.single_port) or a cluster node
 * sends for the same conversation, and shard channels on all three masters merged into one
 * stream.
 *
 * Subscribers are raw connections (struct h_rc) so that replies and pushes can be compared byte
 * for byte; publishers and probes are hiredis connections. Waiting for a message is always a
 * poll() with a deadline, and "exactly once" means nothing more arrived within a quiet period.
 */
#include "harness.h"
#include "suites.h"

#include "crc16.h"
#include "px_errors.h"
#include "resp_reply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define PS_QUIET_MS 400 /* how long nothing more must arrive for "exactly once" */

/* ---- raw subscriber connections ---- */

/* Escapes bytes for messages (CR, LF and non-printables as \xNN), cut at max input bytes. */
static char *show(const char *s, size_t n, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < max && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r') {
            memcpy(out + o, "\\r", 2);
            o += 2;
        } else if (ch == '\n') {
            memcpy(out + o, "\\n", 2);
            o += 2;
        } else if (ch < 32 || ch > 126 || ch == '\\') {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    if (n > max && o + 32 < cap) o += (size_t)snprintf(out + o, cap - o, "...(%zu bytes)", n);
    out[o] = '\0';
    return out;
}

/*
 * The next complete reply or push on c, waiting at most timeout_ms. Returns NULL when none came
 * in time or the peer closed the connection (then *closed is set, when closed is not NULL). The
 * bytes stay valid until the next call on c, as with h_rc_read.
 */
static const char *rc_next(struct h_rc *c, int timeout_ms, size_t *rlen, int *closed)
{
    memmove(c->buf, c->buf + c->start, c->len - c->start);
    c->len -= c->start;
    c->start = 0;
    if (closed) *closed = 0;
    struct resp_reply_framer f;
    resp_reply_init(&f);
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    const char *got = NULL;
    for (;;) {
        struct resp_reply_info info;
        int rc = c->len ? resp_reply_frame(&f, c->buf, c->len, &info) : PX_EAGAIN;
        if (rc == 0) {
            c->start = info.len;
            *rlen = info.len;
            got = c->buf;
            break;
        }
        ck_assert_msg(rc == PX_EAGAIN, "malformed reply");
        if (c->len == c->cap) {
            c->cap *= 2;
            c->buf = realloc(c->buf, c->cap);
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int left = (int)((int64_t)deadline - (int64_t)h_now_ms());
        if (poll(&p, 1, left > 0 ? left : 0) <= 0) break; /* a zero timeout still looks once */
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n <= 0) {
            if (closed) *closed = 1;
            break;
        }
        c->len += (size_t)n;
    }
    resp_reply_deinit(&f);
    return got;
}

/* The next reply on c, which must come within 5 s; what for names it in the failure. */
static const char *rc_must(struct h_rc *c, size_t *rlen, const char *what)
{
    int closed;
    const char *r = rc_next(c, 5000, rlen, &closed);
    ck_assert_msg(r != NULL, "%s: %s", what,
                  closed ? "the connection was closed" : "nothing within 5 s");
    return r;
}

/* Asserts nothing more arrives on c within quiet_ms. */
static void rc_quiet(struct h_rc *c, int quiet_ms, const char *what)
{
    size_t n;
    const char *r = rc_next(c, quiet_ms, &n, NULL);
    char tmp[512];
    ck_assert_msg(r == NULL, "%s: unexpected %s", what, r ? show(r, n, 200, tmp, sizeof(tmp)) : "");
}

static void rc_write(struct h_rc *c, const char *req, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(c->fd, req + off, len - off);
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
}

/* Sends a command formatted by hiredis (%s, %b; not printf formats, hence no format
 * attribute) without reading anything. */
static void rc_send(struct h_rc *c, const char *fmt, ...)
{
    char *req;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&req, fmt, ap);
    va_end(ap);
    ck_assert_int_gt(len, 0);
    rc_write(c, req, (size_t)len);
    redisFreeCommand(req);
}

/* Parses one complete reply's bytes with hiredis. */
static redisReply *parse(const char *p, size_t n)
{
    redisReader *rd = redisReaderCreate();
    void *rep = NULL;
    ck_assert_int_eq(redisReaderFeed(rd, p, n), REDIS_OK);
    ck_assert_msg(redisReaderGetReply(rd, &rep) == REDIS_OK && rep, "unparsable reply");
    redisReaderFree(rd);
    return rep;
}

/* The RESP2 bytes of a subscribe-family confirmation; ch NULL for the nil of an unsubscribe
 * with nothing left. */
static size_t confirmation(char *out, size_t cap, const char *kind, const char *ch, long count)
{
    if (!ch)
        return (size_t)snprintf(out, cap, "*3\r\n$%zu\r\n%s\r\n$-1\r\n:%ld\r\n", strlen(kind), kind,
                                count);
    return (size_t)snprintf(out, cap, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n:%ld\r\n", strlen(kind),
                            kind, strlen(ch), ch, count);
}

/* Reads the next reply on c and asserts it is the confirmation (kind, ch, count). */
static void expect_confirmation(struct h_rc *c, const char *kind, const char *ch, long count)
{
    char want[512], a[1024], b[1024];
    size_t wl = confirmation(want, sizeof(want), kind, ch, count), n;
    const char *r = rc_must(c, &n, kind);
    ck_assert_msg(n == wl && memcmp(r, want, n) == 0, "want %s\n got %s",
                  show(want, wl, 300, a, sizeof(a)), show(r, n, 300, b, sizeof(b)));
}

/* ---- byte comparison with a reference server ---- */

/* A client connection to the proxy and one to a reference server, fed the same bytes. */
struct twin {
    struct h_rc proxy, ref;
    const char *ref_name;
    int compared, mismatches;
    char first[1024];
};

static void twin_open(struct twin *t, int ref_port, const char *ref_name)
{
    memset(t, 0, sizeof(*t));
    h_rc_open(&t->proxy, h_env.proxy_port);
    h_rc_open(&t->ref, ref_port);
    t->ref_name = ref_name;
}

/* Compares the next reply of each side (what: the request, for messages); a missing reply
 * counts as a mismatch. Every mismatch is printed; twin_close fails the test. */
static void twin_compare_next(struct twin *t, const char *what)
{
    static char rs[4096], ps[4096];
    size_t rl = 0, pl = 0;
    const char *r = rc_next(&t->ref, 3000, &rl, NULL);
    ck_assert_msg(r != NULL, "test bug: %s sent no reply to %s", t->ref_name, what);
    char *rcopy = malloc(rl);
    memcpy(rcopy, r, rl);
    const char *p = rc_next(&t->proxy, 3000, &pl, NULL);
    t->compared++;
    if (!p || pl != rl || memcmp(p, rcopy, rl) != 0) {
        show(rcopy, rl, 600, rs, sizeof(rs));
        if (p)
            show(p, pl, 600, ps, sizeof(ps));
        else
            snprintf(ps, sizeof(ps), "(nothing within 3 s)");
        fprintf(stderr, "pubsub compare: %s\n  %s: %s\n  proxy: %s\n", what, t->ref_name, rs, ps);
        if (t->mismatches++ == 0)
            snprintf(t->first, sizeof(t->first), "%s -> %s [%.300s] proxy [%.300s]", what,
                     t->ref_name, rs, ps);
    }
    free(rcopy);
}

/* Sends the inline or multibulk request req to both sides and compares the next n replies. */
static void twin_req(struct twin *t, const char *req, int n)
{
    char what[256];
    show(req, strlen(req), 120, what, sizeof(what));
    rc_write(&t->ref, req, strlen(req));
    rc_write(&t->proxy, req, strlen(req));
    for (int i = 0; i < n; i++) twin_compare_next(t, what);
}

static void twin_close(struct twin *t)
{
    h_rc_close(&t->proxy);
    h_rc_close(&t->ref);
    ck_assert_msg(t->mismatches == 0, "%d of %d replies differ from %s; the first: %s",
                  t->mismatches, t->compared, t->ref_name, t->first);
}

/*
 * UNSUBSCRIBE-like commands without arguments confirm every remaining name in an order a
 * dictionary decides: reads n confirmations from c and checks the kind, the counts (n-1 down to
 * 0 after base) and that the names are exactly names[0..n).
 */
static void expect_unsub_all(struct h_rc *c, const char *kind, const char *const *names, int n,
                             long base)
{
    int seen[64] = {0};
    ck_assert_int_le(n, 64);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *bytes = rc_must(c, &len, kind);
        redisReply *r = parse(bytes, len);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_int_eq(r->elements, 3);
        ck_assert_str_eq(r->element[0]->str, kind);
        ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_STRING);
        ck_assert_int_eq(r->element[2]->integer, base + n - 1 - i);
        int found = -1;
        for (int j = 0; j < n; j++)
            if (strcmp(names[j], r->element[1]->str) == 0) found = j;
        ck_assert_msg(found >= 0 && !seen[found], "%s: %s unexpected or twice", kind,
                      r->element[1]->str);
        seen[found] = 1;
        freeReplyObject(r);
    }
}

/* ---- cluster helpers ---- */

/* A name "prefix<i>" whose slot the master on port (of the cluster whose first port is base)
 * owns and that does not share a slot with any of the avoid[0..navoid) names. */
static void name_on_in(int base, int port, const char *prefix, char *out, size_t cap,
                       char avoid[][32], int navoid)
{
    for (int i = 0; i < 100000; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        unsigned slot = crc16_key_slot(out, strlen(out));
        int clash = 0;
        for (int j = 0; j < navoid; j++)
            clash |= crc16_key_slot(avoid[j], strlen(avoid[j])) == slot;
        if (!clash && h_owner_port(base, out, strlen(out)) == port) return;
    }
    ck_abort_msg("no name for port %d", port);
}

static void name_on(int port, const char *prefix, char *out, size_t cap, char avoid[][32],
                    int navoid)
{
    name_on_in(h_env.cluster_port, port, prefix, out, cap, avoid, navoid);
}

/* ---- 1. the conversation and messages, byte for byte ---- */

START_TEST(test_conversation_bytes)
{
    struct twin t;
    twin_open(&t, h_env.single_port, "redis-server");
    /* Outside subscribed mode first: unsubscribing from nothing. */
    twin_req(&t, "UNSUBSCRIBE\r\n", 1);
    twin_req(&t, "PUNSUBSCRIBE ps1:nothing\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE\r\n", 1);
    twin_req(&t, "PING\r\n", 1);
    /* Subscribed mode. */
    twin_req(&t, "SUBSCRIBE ps1:a ps1:b\r\n", 2);
    twin_req(&t, "SUBSCRIBE ps1:a\r\n", 1); /* again: the count stays */
    twin_req(&t, "PSUBSCRIBE ps1:p*\r\n", 1);
    twin_req(&t, "PING\r\n", 1);
    twin_req(&t, "PING hi\r\n", 1);
    twin_req(&t, "PING a b\r\n", 1);
    twin_req(&t, "GET ps1:x\r\n", 1);
    twin_req(&t, "SET ps1:x 1\r\n", 1);
    twin_req(&t, "CLIENT ID\r\n", 1);
    twin_req(&t, "GET\r\n", 1);
    twin_req(&t, "NOSUCHCOMMAND x\r\n", 1);
    twin_req(&t, "SUBSCRIBE\r\n", 1);
    /* Pipelined: the answers come back in request order. */
    twin_req(&t, "PING 1\r\nSUBSCRIBE ps1:c\r\nPING 2\r\nUNSUBSCRIBE ps1:c\r\nPING 3\r\n", 5);
    twin_req(&t, "UNSUBSCRIBE ps1:a\r\n", 1);
    twin_req(&t, "PUNSUBSCRIBE\r\n", 1);
    twin_req(&t, "PUNSUBSCRIBE ps1:x\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE ps1:s\r\n", 1);
    twin_req(&t, "UNSUBSCRIBE\r\n", 1); /* one left: ps1:b */
    twin_req(&t, "UNSUBSCRIBE\r\n", 1); /* none left */
    /* Normal mode again. */
    twin_req(&t, "GET ps1:x\r\n", 1);
    twin_req(&t, "PING\r\n", 1);
    twin_req(&t, "ECHO back\r\n", 1);
    twin_close(&t);
}
END_TEST

START_TEST(test_unsubscribe_all_counts)
{
    /* Several left: each confirmed once, the counts going down to 0 as Redis counts them. */
    static const char *const names[] = {"ps1:u1", "ps1:u2", "ps1:u3", "ps1:u4"};
    static const char *const pats[] = {"ps1:q1*", "ps1:q2*"};
    const int ports[] = {h_env.proxy_port, h_env.single_port};
    for (size_t i = 0; i < NELEMS(ports); i++) {
        struct h_rc c;
        h_rc_open(&c, ports[i]);
        rc_send(&c, "SUBSCRIBE ps1:u1 ps1:u2 ps1:u3 ps1:u4");
        rc_send(&c, "PSUBSCRIBE ps1:q1* ps1:q2*");
        for (int k = 0; k < 4; k++) expect_confirmation(&c, "subscribe", names[k], k + 1);
        for (int k = 0; k < 2; k++) expect_confirmation(&c, "psubscribe", pats[k], 5 + k);
        rc_send(&c, "UNSUBSCRIBE");
        expect_unsub_all(&c, "unsubscribe", names, 4, 2);
        rc_send(&c, "PUNSUBSCRIBE");
        expect_unsub_all(&c, "punsubscribe", pats, 2, 0);
        size_t n;
        const char *r = h_rc_roundtrip(&c, "PING\r\n", 6, &n);
        ck_assert_msg(n == 7 && memcmp(r, "+PONG\r\n", 7) == 0, "port %d: not in normal mode",
                      ports[i]);
        h_rc_close(&c);
    }
}
END_TEST

/* Publishes the same message on the proxy and on the reference server. */
static void publish_both(redisContext *pp, redisContext *rp, const char *ch, const char *msg,
                         size_t len)
{
    redisReply *r = h_cmd(pp, "PUBLISH %s %b", ch, msg, len);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "PUBLISH through the proxy: type %d (%s)",
                  r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    r = h_cmd(rp, "PUBLISH %s %b", ch, msg, len);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

START_TEST(test_message_bytes)
{
    struct twin t;
    twin_open(&t, h_env.single_port, "redis-server");
    twin_req(&t, "SUBSCRIBE ps1:m ps1:n\r\n", 2);
    twin_req(&t, "PSUBSCRIBE ps1:m* ps1:[xy]?\r\n", 2);
    redisContext *pp = h_connect(h_env.proxy_port);
    redisContext *rp = h_connect(h_env.single_port);

    publish_both(pp, rp, "ps1:n", "hello", 5);
    twin_compare_next(&t, "message on ps1:n");
    /* A channel and a pattern that both match: message, then pmessage. */
    publish_both(pp, rp, "ps1:m", "both", 4);
    twin_compare_next(&t, "message on ps1:m");
    twin_compare_next(&t, "pmessage ps1:m* on ps1:m");
    publish_both(pp, rp, "ps1:mx", "pattern only", 12);
    twin_compare_next(&t, "pmessage ps1:m* on ps1:mx");
    publish_both(pp, rp, "ps1:xq", "class", 5);
    twin_compare_next(&t, "pmessage ps1:[xy]? on ps1:xq");
    publish_both(pp, rp, "ps1:n", "", 0);
    twin_compare_next(&t, "empty message on ps1:n");
    static const char bin[] = "a\r\nb\0c\xff\r\n";
    publish_both(pp, rp, "ps1:n", bin, sizeof(bin) - 1);
    twin_compare_next(&t, "binary message on ps1:n");
    size_t big_len = 200000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) big[i] = (char)('a' + i % 26);
    publish_both(pp, rp, "ps1:m", big, big_len);
    twin_compare_next(&t, "200 kB message on ps1:m");
    twin_compare_next(&t, "200 kB pmessage on ps1:m");
    free(big);
    /* Not subscribed, matches nothing: nothing arrives. */
    publish_both(pp, rp, "ps1:other", "x", 1);
    rc_quiet(&t.proxy, PS_QUIET_MS, "proxy after a publish to ps1:other");
    /* After UNSUBSCRIBE nothing more comes on that channel; the others carry on. */
    twin_req(&t, "UNSUBSCRIBE ps1:n\r\n", 1);
    publish_both(pp, rp, "ps1:n", "gone", 4);
    publish_both(pp, rp, "ps1:m", "still", 5);
    twin_compare_next(&t, "message on ps1:m after UNSUBSCRIBE ps1:n");
    twin_compare_next(&t, "pmessage on ps1:m after UNSUBSCRIBE ps1:n");
    rc_quiet(&t.proxy, PS_QUIET_MS, "proxy after the last publish");
    redisFree(pp);
    redisFree(rp);
    twin_close(&t);
}
END_TEST

/* More channels in one command than the proxy sends to a node at once. */
START_TEST(test_many_channels_bytes)
{
    enum { NCH = 2500, NPAT = 1100 };
    struct twin t;
    twin_open(&t, h_env.single_port, "redis-server");
    const char **argv = malloc((NCH + 1) * sizeof(char *));
    size_t *lens = malloc((NCH + 1) * sizeof(size_t));
    char(*names)[24] = malloc((size_t)NCH * sizeof(*names));
    for (int round = 0; round < 4; round++) {
        /* SUBSCRIBE, PSUBSCRIBE, then their unsubscribes with every name given. */
        static const char *const cmds[] = {"SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE",
                                           "PUNSUBSCRIBE"};
        int n = round % 2 ? NPAT : NCH;
        argv[0] = cmds[round];
        lens[0] = strlen(cmds[round]);
        for (int i = 0; i < n; i++) {
            snprintf(names[i], sizeof(names[i]), round % 2 ? "ps1:many%d:*" : "ps1:many%d", i);
            argv[i + 1] = names[i];
            lens[i + 1] = strlen(names[i]);
        }
        char *req;
        int len = redisFormatCommandArgv(&req, n + 1, argv, lens);
        ck_assert_int_gt(len, 0);
        rc_write(&t.ref, req, (size_t)len);
        rc_write(&t.proxy, req, (size_t)len);
        redisFreeCommand(req);
        for (int i = 0; i < n; i++) twin_compare_next(&t, cmds[round]);
        if (round == 1) {
            /* Every one is live: a message on the last channel, a pmessage on the last
             * pattern. */
            redisContext *pp = h_connect(h_env.proxy_port);
            redisContext *rp = h_connect(h_env.single_port);
            char ch[32];
            snprintf(ch, sizeof(ch), "ps1:many%d", NCH - 1);
            publish_both(pp, rp, ch, "last", 4);
            twin_compare_next(&t, "message on the last channel");
            snprintf(ch, sizeof(ch), "ps1:many%d:x", NPAT - 1);
            publish_both(pp, rp, ch, "last", 4);
            twin_compare_next(&t, "pmessage on the last pattern");
            redisFree(pp);
            redisFree(rp);
        }
    }
    twin_req(&t, "PING\r\n", 1);
    free(argv);
    free(lens);
    free(names);
    twin_close(&t);
}
END_TEST

/* ---- 2. shard channels on every master ---- */

/* The same-slot conversation against the cluster node that owns the slot. */
START_TEST(test_shard_same_slot_as_node)
{
    int port = h_owner_port(h_env.cluster_port, "{ps2t}", 6);
    ck_assert_int_gt(port, 0);
    struct twin t;
    twin_open(&t, port, "cluster node");
    twin_req(&t, "SSUBSCRIBE {ps2t}a {ps2t}b\r\n", 2);
    twin_req(&t, "SSUBSCRIBE {ps2t}c\r\n", 1);
    twin_req(&t, "SSUBSCRIBE {ps2t}a\r\n", 1);
    twin_req(&t, "SSUBSCRIBE {ps2t}x ps2:elsewhere\r\n", 1); /* CROSSSLOT */
    twin_req(&t, "SSUBSCRIBE\r\n", 1);
    twin_req(&t, "PING\r\n", 1);
    twin_req(&t, "GET {ps2t}k\r\n", 1);
    twin_req(&t, "SUBSCRIBE ps2:plain\r\n", 1);
    twin_req(&t, "UNSUBSCRIBE\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE {ps2t}a\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE {ps2t}zz\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE {ps2t}b\r\n", 1);
    twin_req(&t, "SUNSUBSCRIBE\r\n", 1); /* one left: {ps2t}c */
    twin_req(&t, "SUNSUBSCRIBE\r\n", 1); /* none left */
    twin_req(&t, "GET {ps2t}k\r\n", 1);
    twin_close(&t);
}
END_TEST

/* The bytes of an smessage. */
static size_t smessage(char *out, size_t cap, const char *ch, const char *msg)
{
    return (size_t)snprintf(out, cap, "*3\r\n$8\r\nsmessage\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                            strlen(ch), ch, strlen(msg), msg);
}

START_TEST(test_shard_channels_all_masters)
{
    /* Two channels in distinct slots on each master, and two sharing a slot. */
    enum { PER = 2, N = 3 * PER + 2 };
    char ch[N][32];
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < PER; k++)
            name_on(h_env.cluster_port + m, "ps2:s", ch[m * PER + k], sizeof(ch[0]), ch,
                    m * PER + k);
    snprintf(ch[N - 2], sizeof(ch[0]), "{ps2same}1");
    snprintf(ch[N - 1], sizeof(ch[0]), "{ps2same}2");

    struct h_rc sub;
    h_rc_open(&sub, h_env.proxy_port);
    for (int i = 0; i < N - 2; i++) {
        rc_send(&sub, "SSUBSCRIBE %s", ch[i]);
        expect_confirmation(&sub, "ssubscribe", ch[i], i + 1);
    }
    rc_send(&sub, "SSUBSCRIBE %s %s", ch[N - 2], ch[N - 1]);
    expect_confirmation(&sub, "ssubscribe", ch[N - 2], N - 1);
    expect_confirmation(&sub, "ssubscribe", ch[N - 1], N);
    /* One SSUBSCRIBE's channels must share a slot, as on a cluster node. */
    rc_send(&sub, "SSUBSCRIBE %s %s", ch[0], ch[2]);
    size_t n;
    const char *r = rc_must(&sub, &n, "cross-slot SSUBSCRIBE");
    static const char crossslot[] = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    ck_assert_msg(n == sizeof(crossslot) - 1 && memcmp(r, crossslot, n) == 0, "got %.*s", (int)n,
                  r);

    /* Every node's smessage arrives on the one client connection. */
    redisContext *pub = h_connect(h_env.proxy_port);
    char want[N][128];
    size_t wl[N];
    for (int i = 0; i < N; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "m-%d", i);
        wl[i] = smessage(want[i], sizeof(want[i]), ch[i], msg);
        h_expect_int(h_cmd(pub, "SPUBLISH %s %s", ch[i], msg), 1);
    }
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        char tmp[512];
        r = rc_must(&sub, &n, "smessage");
        int found = -1;
        for (int j = 0; j < N; j++)
            if (n == wl[j] && memcmp(r, want[j], n) == 0) found = j;
        ck_assert_msg(found >= 0 && !seen[found], "unexpected or repeated: %s",
                      show(r, n, 300, tmp, sizeof(tmp)));
        seen[found] = 1;
    }
    rc_quiet(&sub, PS_QUIET_MS, "after every smessage");

    /* SUNSUBSCRIBE with arguments, then without: the counts as Redis gives them. */
    rc_send(&sub, "SUNSUBSCRIBE %s %s", ch[0], ch[3]);
    expect_confirmation(&sub, "sunsubscribe", ch[0], N - 1);
    expect_confirmation(&sub, "sunsubscribe", ch[3], N - 2);
    rc_send(&sub, "SUNSUBSCRIBE ps2:never");
    expect_confirmation(&sub, "sunsubscribe", "ps2:never", N - 2);
    const char *left[N];
    int nleft = 0;
    for (int i = 0; i < N; i++)
        if (i != 0 && i != 3) left[nleft++] = ch[i];
    rc_send(&sub, "SUNSUBSCRIBE");
    expect_unsub_all(&sub, "sunsubscribe", left, nleft, 0);
    rc_send(&sub, "SUNSUBSCRIBE");
    expect_confirmation(&sub, "sunsubscribe", NULL, 0);
    r = h_rc_roundtrip(&sub, "GET ps2:k\r\n", 11, &n);
    ck_assert_msg(n == 5 && memcmp(r, "$-1\r\n", 5) == 0, "not in normal mode: %.*s", (int)n, r);
    /* The nodes were told: nobody listens there any more. */
    for (int i = 0; i < N; i++) h_expect_int(h_cmd(pub, "SPUBLISH %s late", ch[i]), 0);
    rc_quiet(&sub, PS_QUIET_MS, "after SUNSUBSCRIBE");
    redisFree(pub);
    h_rc_close(&sub);
}
END_TEST

Suite *pubsub_suite(void)
{
    Suite *s = suite_create("pubsub");
    TCase *tc = tcase_create("bytes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conversation_bytes);
    tcase_add_test(tc, test_unsubscribe_all_counts);
    tcase_add_test(tc, test_message_bytes);
    tcase_add_test(tc, test_many_channels_bytes);
    tcase_add_test(tc, test_shard_same_slot_as_node);
    tcase_add_test(tc, test_shard_channels_all_masters);
    suite_add_tcase(s, tc);
    return s;
}
