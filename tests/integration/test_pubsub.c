/*
 * Pub/Sub through the proxy, against the real cluster.
 *
 * The proxy gives each subscribing client private connections of its own (one master for
 * channels and patterns, every master for keyspace notifications, the slot owner for shard
 * channels) and makes the confirmations itself. These tests check what a client sees: the
 * confirmation and message bytes a standalone redis-server (h_env.single_port) or a cluster node
 * sends for the same conversation, shard channels on all three masters merged into one stream,
 * keyspace events from every master each exactly once, many subscribers and a burst of
 * publishes, a subscriber that does not read (cut off at -pubsub-output-buffer-limit without the
 * proxy's memory growing), PUBSUB introspection merged over the masters, resubscription after a
 * failover, nothing left on the nodes by clients that leave, and RESET/QUIT in subscribed mode.
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
    ck_assert_msg(r == NULL, "%s: unexpected %s", what,
                  r ? h_show(r, n, 200, tmp, sizeof(tmp)) : "");
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
                  h_show(want, wl, 300, a, sizeof(a)), h_show(r, n, 300, b, sizeof(b)));
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
        h_show(rcopy, rl, 600, rs, sizeof(rs));
        if (p)
            h_show(p, pl, 600, ps, sizeof(ps));
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
    h_show(req, strlen(req), 120, what, sizeof(what));
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

/* An integer from a command on a fresh connection to port (PUBSUB NUMPAT and the like). */
static long long node_int(int port, const char *cmd)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, cmd);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s on %d: type %d", cmd, port, r->type);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* The count a node gives for one name in PUBSUB NUMSUB / SHARDNUMSUB (sub is the subcommand). */
static long long node_numsub(int port, const char *sub, const char *name)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "PUBSUB %s %s", sub, name);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    long long v = r->element[1]->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Sums PUBSUB <sub> name over the three masters of the shared cluster, asked directly. */
static long long masters_numsub(const char *sub, const char *name)
{
    long long v = 0;
    for (int m = 0; m < 3; m++) v += node_numsub(h_env.cluster_port + m, sub, name);
    return v;
}

/* connected_clients from INFO clients of the node on port. */
static long node_clients(int port)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "INFO clients");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    const char *p = strstr(r->str, "connected_clients:");
    ck_assert_ptr_nonnull(p);
    long v = strtol(p + strlen("connected_clients:"), NULL, 10);
    freeReplyObject(r);
    redisFree(c);
    return v;
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
                      h_show(r, n, 300, tmp, sizeof(tmp)));
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

/* ---- 3. keyspace notifications from the whole cluster ---- */

static char saved_nke[6][64];

/* Sets notify-keyspace-events on every node of the shared cluster (value NULL: back to what each
 * had). Runs outside the tests' processes, so it cannot use the check assertions. */
static void set_nke(const char *value)
{
    for (int i = 0; i < 6; i++) {
        struct timeval tv = {2, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", h_env.cluster_port + i, tv);
        if (!c || c->err) {
            fprintf(stderr, "pubsub: cannot reach node %d\n", h_env.cluster_port + i);
            if (c) redisFree(c);
            continue;
        }
        if (value) {
            redisReply *r = redisCommand(c, "CONFIG GET notify-keyspace-events");
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
                snprintf(saved_nke[i], sizeof(saved_nke[i]), "%s", r->element[1]->str);
            if (r) freeReplyObject(r);
        }
        redisReply *r =
            redisCommand(c, "CONFIG SET notify-keyspace-events %s", value ? value : saved_nke[i]);
        if (!r || r->type != REDIS_REPLY_STATUS)
            fprintf(stderr, "pubsub: CONFIG SET notify-keyspace-events failed on %d\n",
                    h_env.cluster_port + i);
        if (r) freeReplyObject(r);
        redisFree(c);
    }
}

static void keyspace_setup(void)
{
    set_nke("KEA");
}

static void keyspace_teardown(void)
{
    set_nke(NULL);
}

/* Counts of the pmessage/message pushes seen per (channel, payload). */
struct tally {
    char chan[256][64], payload[256][64];
    int count[256];
    int n, other;
};

static void tally_add(struct tally *t, const char *ch, const char *payload)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->chan[i], ch) == 0 && strcmp(t->payload[i], payload) == 0) {
            t->count[i]++;
            return;
        }
    ck_assert_int_lt(t->n, 256);
    snprintf(t->chan[t->n], sizeof(t->chan[0]), "%.63s", ch);
    snprintf(t->payload[t->n], sizeof(t->payload[0]), "%.63s", payload);
    t->count[t->n++] = 1;
}

static int tally_get(const struct tally *t, const char *ch, const char *payload)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->chan[i], ch) == 0 && strcmp(t->payload[i], payload) == 0) return t->count[i];
    return 0;
}

/* Reads pushes from c until it has been quiet for PS_QUIET_MS (at most 10 s), tallying those
 * whose channel or payload contains mark; the others are counted apart. */
static void tally_read(struct tally *t, struct h_rc *c, const char *mark)
{
    uint64_t end = h_now_ms() + 10000;
    size_t n;
    const char *r;
    while (h_now_ms() < end && (r = rc_next(c, PS_QUIET_MS, &n, NULL)) != NULL) {
        redisReply *rep = parse(r, n);
        ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
        int pm = strcmp(rep->element[0]->str, "pmessage") == 0;
        ck_assert_msg(pm || strcmp(rep->element[0]->str, "message") == 0, "got %s",
                      rep->element[0]->str);
        const char *ch = rep->element[pm ? 2 : 1]->str, *payload = rep->element[pm ? 3 : 2]->str;
        if (strstr(ch, mark) || strstr(payload, mark))
            tally_add(t, ch, payload);
        else
            t->other++;
        freeReplyObject(rep);
    }
}

/* Keys named "ps3:k<i>", at least per of them on each master. Returns how many. */
static int keys_on_every_master(char keys[][32], int max, int per)
{
    int have[3] = {0}, n = 0;
    for (int i = 0; n < max && (have[0] < per || have[1] < per || have[2] < per); i++) {
        snprintf(keys[n], 32, "ps3:k%d", i);
        int port = h_owner_port(h_env.cluster_port, keys[n], strlen(keys[n]));
        int m = port - h_env.cluster_port;
        ck_assert(m >= 0 && m < 3);
        if (have[m] >= per) continue;
        have[m]++;
        n++;
    }
    ck_assert(have[0] >= per && have[1] >= per && have[2] >= per);
    return n;
}

START_TEST(test_keyspace_events_once)
{
    char keys[24][32];
    int nkeys = keys_on_every_master(keys, 24, 4);
    long long numpat0[3];
    for (int m = 0; m < 3; m++) numpat0[m] = node_int(h_env.cluster_port + m, "PUBSUB NUMPAT");
    struct h_rc sub, evsub;
    h_rc_open(&sub, h_env.proxy_port);
    rc_send(&sub, "PSUBSCRIBE __key*__:*");
    expect_confirmation(&sub, "psubscribe", "__key*__:*", 1);
    h_rc_open(&evsub, h_env.proxy_port); /* an exact keyevent channel */
    rc_send(&evsub, "SUBSCRIBE __keyevent@0__:set");
    expect_confirmation(&evsub, "subscribe", "__keyevent@0__:set", 1);

    redisContext *c = h_connect(h_env.proxy_port);
    for (int i = 0; i < nkeys; i++) h_expect_str(h_cmd(c, "SET %s v", keys[i]), "OK");
    /* A regular publish to a channel the pattern matches (not a notification channel). */
    redisReply *pr = h_cmd(c, "PUBLISH __keyps3:plain__:x hello");
    ck_assert_int_eq(pr->type, REDIS_REPLY_INTEGER); /* the count is that node's own */
    freeReplyObject(pr);
    struct tally t = {0};
    tally_read(&t, &sub, "ps3:");
    for (int i = 0; i < nkeys; i++) {
        char ks[64];
        snprintf(ks, sizeof(ks), "__keyspace@0__:%.31s", keys[i]);
        ck_assert_msg(tally_get(&t, ks, "set") == 1, "%s set: %d times", ks,
                      tally_get(&t, ks, "set"));
        ck_assert_msg(tally_get(&t, "__keyevent@0__:set", keys[i]) == 1,
                      "__keyevent@0__:set %s: %d times", keys[i],
                      tally_get(&t, "__keyevent@0__:set", keys[i]));
    }
    ck_assert_msg(tally_get(&t, "__keyps3:plain__:x", "hello") == 1,
                  "PUBLISH __keyps3:plain__:x arrived %d times",
                  tally_get(&t, "__keyps3:plain__:x", "hello"));
    ck_assert_int_eq(t.n, 2 * nkeys + 1);
    struct tally e = {0};
    tally_read(&e, &evsub, "ps3:");
    for (int i = 0; i < nkeys; i++)
        ck_assert_msg(tally_get(&e, "__keyevent@0__:set", keys[i]) == 1,
                      "SUBSCRIBE __keyevent@0__:set: %s %d times", keys[i],
                      tally_get(&e, "__keyevent@0__:set", keys[i]));
    ck_assert_int_eq(e.n, nkeys);

    /* Unsubscribed from every master: the nodes forget it and nothing more arrives. */
    rc_send(&sub, "PUNSUBSCRIBE");
    expect_confirmation(&sub, "punsubscribe", "__key*__:*", 0);
    rc_send(&evsub, "UNSUBSCRIBE __keyevent@0__:set");
    expect_confirmation(&evsub, "unsubscribe", "__keyevent@0__:set", 0);
    for (int m = 0; m < 3; m++) {
        int port = h_env.cluster_port + m;
        ck_assert_int_eq(node_int(port, "PUBSUB NUMPAT"), numpat0[m]);
        ck_assert_int_eq(node_numsub(port, "NUMSUB", "__keyevent@0__:set"), 0);
    }
    for (int i = 0; i < nkeys; i++) h_expect_str(h_cmd(c, "SET %s w", keys[i]), "OK");
    rc_quiet(&sub, PS_QUIET_MS, "after PUNSUBSCRIBE");
    rc_quiet(&evsub, 0, "after UNSUBSCRIBE");
    redisFree(c);
    h_rc_close(&sub);
    h_rc_close(&evsub);
}
END_TEST

/* A client's PUBLISH to a channel named like a notification reaches a subscriber once, as it
 * would on one cluster node. */
START_TEST(test_keyspace_channel_publish_once)
{
    struct h_rc sub;
    h_rc_open(&sub, h_env.proxy_port);
    rc_send(&sub, "PSUBSCRIBE __key*__:*");
    expect_confirmation(&sub, "psubscribe", "__key*__:*", 1);
    redisContext *c = h_connect(h_env.proxy_port);
    redisReply *r = h_cmd(c, "PUBLISH __keyspace@0__:ps3:fake published");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    struct tally t = {0};
    tally_read(&t, &sub, "ps3:");
    ck_assert_msg(tally_get(&t, "__keyspace@0__:ps3:fake", "published") == 1,
                  "PUBLISH __keyspace@0__:ps3:fake published arrived %d times",
                  tally_get(&t, "__keyspace@0__:ps3:fake", "published"));
    redisFree(c);
    h_rc_close(&sub);
}
END_TEST

/* ---- 4. many subscribers, a burst of publishes ---- */

#define BURST_CLIENTS  60
#define BURST_CHANNELS 4
#define BURST_MSGS     4000 /* in all, spread over the channels */

/* A subscriber of the burst test: a non-blocking socket parsed with hiredis's reader. */
struct burst_sub {
    int fd;
    redisReader *rd;
    unsigned char seen[BURST_CHANNELS][BURST_MSGS / BURST_CHANNELS];
    int last[BURST_CHANNELS]; /* the sequence number received last on each channel */
    int got;                  /* distinct messages */
    int dups, disorder;       /* repeated messages; messages older than one before them */
    int closed;
};

/* Reads what is there for b and notes each message: channel i's payloads are "i:seq", seq
 * counting up from 0 in publishing order. */
static void burst_read(struct burst_sub *b, int idx)
{
    char buf[1 << 16];
    ssize_t n = read(b->fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        b->closed = 1;
        return;
    }
    if (n < 0) return;
    ck_assert_int_eq(redisReaderFeed(b->rd, buf, (size_t)n), REDIS_OK);
    void *rep;
    while (redisReaderGetReply(b->rd, &rep) == REDIS_OK && rep) {
        redisReply *r = rep;
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                          strcmp(r->element[0]->str, "message") == 0,
                      "client %d: not a message", idx);
        int ch = atoi(r->element[1]->str + strlen("ps4:c"));
        ck_assert(ch >= 0 && ch < BURST_CHANNELS);
        int pch = -1, seq = -1;
        ck_assert_int_eq(sscanf(r->element[2]->str, "%d:%d", &pch, &seq), 2);
        ck_assert_int_eq(pch, ch);
        ck_assert(seq >= 0 && seq < BURST_MSGS / BURST_CHANNELS);
        if (b->seen[ch][seq]) {
            b->dups++;
        } else {
            b->seen[ch][seq] = 1;
            b->got++;
        }
        if (seq < b->last[ch]) b->disorder++;
        b->last[ch] = seq;
        freeReplyObject(r);
    }
}

/* A subscriber of the burst: subscribed through the proxy to every channel, then a
 * non-blocking socket of its own. */
static void burst_subscribe(struct burst_sub *b)
{
    struct h_rc c;
    h_rc_open(&c, h_env.proxy_port);
    rc_send(&c, "SUBSCRIBE ps4:c0 ps4:c1 ps4:c2 ps4:c3");
    for (int k = 0; k < BURST_CHANNELS; k++) {
        char ch[16];
        snprintf(ch, sizeof(ch), "ps4:c%d", k);
        expect_confirmation(&c, "subscribe", ch, k + 1);
    }
    ck_assert_int_eq(c.len, c.start); /* nothing read ahead: the socket carries on alone */
    memset(b, 0, sizeof(*b));
    b->fd = dup(c.fd);
    b->rd = redisReaderCreate();
    fcntl(b->fd, F_SETFL, fcntl(b->fd, F_GETFL) | O_NONBLOCK);
    h_rc_close(&c);
}

/* The burst: every message through pub, pipelined 200 at a time. */
static void burst_publish(redisContext *pub)
{
    for (int i = 0; i < BURST_MSGS; i += 200) {
        for (int j = i; j < i + 200 && j < BURST_MSGS; j++)
            redisAppendCommand(pub, "PUBLISH ps4:c%d %d:%d", j % BURST_CHANNELS, j % BURST_CHANNELS,
                               j / BURST_CHANNELS);
        for (int j = i; j < i + 200 && j < BURST_MSGS; j++) {
            void *rep = NULL;
            ck_assert_int_eq(redisGetReply(pub, &rep), REDIS_OK);
            redisReply *r = rep;
            ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "PUBLISH %d: type %d (%s)", j, r->type,
                          r->type == REDIS_REPLY_ERROR ? r->str : "");
            freeReplyObject(r);
        }
    }
}

START_TEST(test_many_subscribers_burst)
{
    static struct burst_sub subs[BURST_CLIENTS];
    for (int i = 0; i < BURST_CLIENTS; i++) burst_subscribe(&subs[i]);
    redisContext *pub = h_connect(h_env.proxy_port);
    uint64_t t0 = h_now_ms();
    burst_publish(pub);
    uint64_t t1 = h_now_ms();
    /* Every subscriber gets every message, in order per channel. */
    static struct pollfd pfd[BURST_CLIENTS];
    int done = 0;
    uint64_t deadline = h_now_ms() + 60000;
    while (done < BURST_CLIENTS && h_now_ms() < deadline) {
        int np = 0, map[BURST_CLIENTS];
        for (int i = 0; i < BURST_CLIENTS; i++) {
            if (subs[i].got == BURST_MSGS || subs[i].closed) continue;
            pfd[np] = (struct pollfd){.fd = subs[i].fd, .events = POLLIN};
            map[np++] = i;
        }
        if (poll(pfd, (nfds_t)np, 1000) <= 0) continue;
        for (int k = 0; k < np; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            struct burst_sub *b = &subs[map[k]];
            burst_read(b, map[k]);
            if (b->got == BURST_MSGS) done++;
            ck_assert_msg(!b->closed, "subscriber %d was disconnected after %d messages", map[k],
                          b->got);
        }
    }
    int dups = 0, disorder = 0, out_of_order_clients = 0;
    for (int i = 0; i < BURST_CLIENTS; i++) {
        dups += subs[i].dups;
        disorder += subs[i].disorder;
        out_of_order_clients += subs[i].disorder > 0;
    }
    fprintf(stderr,
            "pubsub burst: %d publishes in %llu ms, %d of %d subscribers had all %d messages %llu "
            "ms after the first publish; %d repeated, %d out of order (at %d subscribers)\n",
            BURST_MSGS, (unsigned long long)(t1 - t0), done, BURST_CLIENTS, BURST_MSGS,
            (unsigned long long)(h_now_ms() - t0), dups, disorder, out_of_order_clients);
    for (int i = 0; i < BURST_CLIENTS; i++)
        ck_assert_msg(subs[i].got == BURST_MSGS, "subscriber %d got %d of %d messages", i,
                      subs[i].got, BURST_MSGS);
    ck_assert_msg(dups == 0, "%d messages arrived twice", dups);
    /* One publisher on one connection: Redis delivers its messages on a channel in order. */
    ck_assert_msg(disorder == 0,
                  "%d messages arrived after a later one of the same channel and publisher, at %d "
                  "of %d subscribers",
                  disorder, out_of_order_clients, BURST_CLIENTS);
    /* And nothing more. */
    for (int i = 0; i < BURST_CLIENTS; i++) {
        struct pollfd p = {.fd = subs[i].fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, i == 0 ? PS_QUIET_MS : 0) == 0, "subscriber %d: more data", i);
        redisReaderFree(subs[i].rd);
        close(subs[i].fd);
    }
    redisFree(pub);
}
END_TEST

/* ---- 5. a subscriber that does not read ---- */

/* VmRSS of process pid in kB. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    ck_assert_int_gt(kb, 0);
    return kb;
}

/* Reads fd until EOF or an error, for at most timeout_ms. Returns the bytes read, or -1 when the
 * connection was still open at the end. */
static long long drain_to_eof(int fd, int timeout_ms)
{
    static char buf[1 << 16];
    long long total = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int left = (int)((int64_t)end - (int64_t)h_now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0) return -1;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return total;
        if (n < 0) continue;
        total += n;
    }
}

/* A raw connection to port with a small receive buffer, subscribed to ps5:slow. */
static int slow_subscriber(int port)
{
    int fd = h_tcp_connect(port, 4096);
    const char sub[] = "SUBSCRIBE ps5:slow\r\n";
    ck_assert_int_eq(write(fd, sub, sizeof(sub) - 1), (ssize_t)sizeof(sub) - 1);
    char want[128], conf[128];
    size_t wl = confirmation(want, sizeof(want), "subscribe", "ps5:slow", 1), got = 0;
    while (got < wl) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 5000) == 1, "no subscribe confirmation");
        ssize_t n = read(fd, conf + got, wl - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert(memcmp(conf, want, wl) == 0);
    return fd;
}

#define SLOW_MSG   (64 * 1024)
#define SLOW_TOTAL (100LL << 20)
#define SLOW_BATCH 16

START_TEST(test_slow_subscriber_cut)
{
    int port = h_env.proxy_port + 60;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "1", "-pubsub-output-buffer-limit", "256kb", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-pubsub-slow.log");
    ck_assert_int_gt(pid, 0);

    /* The slow one: a small receive buffer, subscribed, and never read again. */
    int slow = slow_subscriber(port);
    /* A fast one on the same channel keeps up. */
    struct h_rc fast;
    h_rc_open(&fast, port);
    rc_send(&fast, "SUBSCRIBE ps5:slow");
    expect_confirmation(&fast, "subscribe", "ps5:slow", 1);

    redisContext *normal = h_connect(port);
    redisContext *pub = h_connect(port);
    char *msg = malloc(SLOW_MSG);
    memset(msg, 'x', SLOW_MSG);
    long rss0 = rss_kb(pid), rss_max = rss0;
    uint64_t t0 = h_now_ms(), worst_normal = 0;
    long long sent = 0;
    int fast_got = 0;
    for (int round = 0; sent < SLOW_TOTAL; round++) {
        for (int i = 0; i < SLOW_BATCH; i++)
            redisAppendCommand(pub, "PUBLISH ps5:slow %b", msg, (size_t)SLOW_MSG);
        for (int i = 0; i < SLOW_BATCH; i++) {
            void *rep = NULL;
            ck_assert_int_eq(redisGetReply(pub, &rep), REDIS_OK);
            ck_assert_int_eq(((redisReply *)rep)->type, REDIS_REPLY_INTEGER);
            freeReplyObject(rep);
        }
        sent += (long long)SLOW_BATCH * SLOW_MSG;
        /* The fast subscriber gets every message. */
        while (fast_got < (round + 1) * SLOW_BATCH) {
            size_t n;
            rc_must(&fast, &n, "the fast subscriber's message");
            ck_assert_int_gt(n, SLOW_MSG);
            fast_got++;
        }
        /* A normal client on the same proxy keeps being served. */
        uint64_t a = h_now_ms();
        h_expect_str(h_cmd(normal, "SET ps5:k %d", round), "OK");
        redisReply *r = h_cmd(normal, "GET ps5:k");
        ck_assert_int_eq(atoi(r->str), round);
        freeReplyObject(r);
        if (h_now_ms() - a > worst_normal) worst_normal = h_now_ms() - a;
        long rss = rss_kb(pid);
        if (rss > rss_max) rss_max = rss;
    }
    rc_quiet(&fast, PS_QUIET_MS, "the fast subscriber after the last message");
    long rss1 = rss_kb(pid);
    long long slow_bytes = drain_to_eof(slow, 10000);
    fprintf(stderr,
            "pubsub slow subscriber: %lld MB published in %llu ms; proxy RSS %ld kB before, %ld "
            "kB at most, %ld kB after; the slow client read %lld bytes before EOF; the fast one "
            "got %d of %lld messages; worst SET+GET %llu ms\n",
            sent >> 20, (unsigned long long)(h_now_ms() - t0), rss0, rss_max, rss1, slow_bytes,
            fast_got, sent / SLOW_MSG, (unsigned long long)worst_normal);
    ck_assert_msg(slow_bytes >= 0, "the slow subscriber was not disconnected");
    /* Its private connection is gone from the node too: only the fast one is counted. */
    uint64_t end = h_now_ms() + 5000;
    while (masters_numsub("NUMSUB", "ps5:slow") != 1 && h_now_ms() < end) h_sleep_ms(50);
    ck_assert_int_eq(masters_numsub("NUMSUB", "ps5:slow"), 1);
    ck_assert_msg(slow_bytes < 16LL << 20, "the slow subscriber read %lld bytes", slow_bytes);
    /* AddressSanitizer's quarantine keeps freed memory resident: RSS says nothing then. */
    if (h_sh("grep -q __asan_init %s", h_env.bin) == 0)
        fprintf(stderr, "pubsub slow subscriber: an ASan build; its RSS is not checked\n");
    else
        ck_assert_msg(rss_max - rss0 < 50 * 1024, "proxy RSS grew by %ld kB", rss_max - rss0);
    ck_assert_int_eq(fast_got, (int)(sent / SLOW_MSG));
    ck_assert_msg(worst_normal < 2000, "a SET+GET took %llu ms", (unsigned long long)worst_normal);
    free(msg);
    close(slow);
    h_rc_close(&fast);
    redisFree(normal);
    redisFree(pub);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-pubsub-slow.log"), 0);
    ck_assert_int_eq(
        h_sh("grep -q 'Pub/Sub output buffer over' %s/proxy-pubsub-slow.log", h_env.workdir), 0);
}
END_TEST

/* ---- 6. PUBSUB introspection over every master ---- */

/* Asserts the array reply r holds exactly the names want[0..n), in any order. */
static void expect_names(redisReply *r, const char *const *want, int n, const char *what)
{
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "%s: type %d (%s)", what, r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    ck_assert_msg(r->elements == (size_t)n, "%s: %zu names, %d expected", what, r->elements, n);
    for (int i = 0; i < n; i++) {
        int hits = 0;
        for (size_t j = 0; j < r->elements; j++) hits += strcmp(r->element[j]->str, want[i]) == 0;
        ck_assert_msg(hits == 1, "%s: %s %d times", what, want[i], hits);
    }
}

/* Asserts the PUBSUB NUMSUB-style reply r is [want[0], counts[0], ...] in that order. */
static void expect_pairs(redisReply *r, const char *const *want, const long long *counts, int n,
                         const char *what)
{
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "%s: type %d", what, r->type);
    ck_assert_int_eq(r->elements, (size_t)(2 * n));
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(r->element[2 * i]->str, want[i]);
        ck_assert_msg(r->element[2 * i + 1]->integer == counts[i], "%s: %s counts %lld, not %lld",
                      what, want[i], r->element[2 * i + 1]->integer, counts[i]);
    }
}

/* PUBSUB NUMPAT through c. */
static long long numpat(redisContext *c)
{
    redisReply *r = h_cmd(c, "PUBSUB NUMPAT");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Six clients through the proxy, spread over the masters by the proxy: all on ps6:a, three on
 * ps6:b, two on a pattern each, four on shard channel sh[0] and one on sh[1]. And one client d
 * connected to the third master directly: ps6:a, ps6:c, a pattern and sh[2]. */
static void intro_subscribe(struct h_rc *c, struct h_rc *d, char sh[3][32])
{
    for (int i = 0; i < 6; i++) {
        h_rc_open(&c[i], h_env.proxy_port);
        rc_send(&c[i], "SUBSCRIBE ps6:a");
        expect_confirmation(&c[i], "subscribe", "ps6:a", 1);
        if (i < 3) {
            rc_send(&c[i], "SUBSCRIBE ps6:b");
            expect_confirmation(&c[i], "subscribe", "ps6:b", 2);
        }
        if (i < 2) {
            char pat[16];
            snprintf(pat, sizeof(pat), "ps6:p%d*", i);
            rc_send(&c[i], "PSUBSCRIBE %s", pat);
            expect_confirmation(&c[i], "psubscribe", pat, 3);
        }
        if (i < 5) {
            rc_send(&c[i], "SSUBSCRIBE %s", sh[i < 4 ? 0 : 1]);
            expect_confirmation(&c[i], "ssubscribe", sh[i < 4 ? 0 : 1], 1);
        }
    }
    h_rc_open(d, h_env.cluster_port + 2);
    rc_send(d, "SUBSCRIBE ps6:a ps6:c");
    expect_confirmation(d, "subscribe", "ps6:a", 1);
    expect_confirmation(d, "subscribe", "ps6:c", 2);
    rc_send(d, "PSUBSCRIBE ps6:p2*");
    expect_confirmation(d, "psubscribe", "ps6:p2*", 3);
    rc_send(d, "SSUBSCRIBE %s", sh[2]);
    expect_confirmation(d, "ssubscribe", sh[2], 1);
}

START_TEST(test_introspection_merged)
{
    char sh[3][32];
    for (int m = 0; m < 3; m++)
        name_on(h_env.cluster_port + m, "ps6:s", sh[m], sizeof(sh[m]), sh, m);
    redisContext *q = h_connect(h_env.proxy_port);
    long long numpat0 = numpat(q);

    struct h_rc c[6], d;
    intro_subscribe(c, &d, sh);

    /* The proxy's subscribers sit on more than one master, so the answers must merge. */
    int used = 0;
    long long total = 0;
    for (int m = 0; m < 3; m++) {
        long long v = node_numsub(h_env.cluster_port + m, "NUMSUB", "ps6:a");
        total += v;
        used += v > 0;
    }
    ck_assert_int_eq(total, 7);
    ck_assert_msg(used >= 2, "every subscriber on one master: the merge is not exercised");

    static const char *const chans[] = {"ps6:a", "ps6:b", "ps6:c"};
    redisReply *r = h_cmd(q, "PUBSUB CHANNELS ps6:*");
    expect_names(r, chans, 3, "PUBSUB CHANNELS ps6:*");
    freeReplyObject(r);
    r = h_cmd(q, "PUBSUB CHANNELS");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    for (int i = 0; i < 3; i++) {
        int hits = 0;
        for (size_t j = 0; j < r->elements; j++) hits += strcmp(r->element[j]->str, chans[i]) == 0;
        ck_assert_msg(hits == 1, "PUBSUB CHANNELS: %s %d times", chans[i], hits);
    }
    freeReplyObject(r);
    static const char *const asked[] = {"ps6:a", "ps6:b", "ps6:c", "ps6:none", "ps6:a"};
    static const long long counts[] = {7, 3, 1, 0, 7};
    r = h_cmd(q, "PUBSUB NUMSUB ps6:a ps6:b ps6:c ps6:none ps6:a");
    expect_pairs(r, asked, counts, 5, "PUBSUB NUMSUB");
    freeReplyObject(r);
    r = h_cmd(q, "PUBSUB NUMSUB");
    expect_pairs(r, asked, counts, 0, "PUBSUB NUMSUB without channels");
    freeReplyObject(r);
    /* Redis counts distinct patterns: the proxy's two are on one master (the one PUBLISH goes
     * to), which counts them once whatever the other masters hold; d's, subscribed on the
     * third master directly, is not among them. */
    ck_assert_int_eq(numpat(q), numpat0 + 2);

    const char *const shards[] = {sh[0], sh[1], sh[2]};
    r = h_cmd(q, "PUBSUB SHARDCHANNELS ps6:*");
    expect_names(r, shards, 3, "PUBSUB SHARDCHANNELS ps6:*");
    freeReplyObject(r);
    const char *const sasked[] = {sh[0], sh[1], sh[2], "ps6:none"};
    static const long long scounts[] = {4, 1, 1, 0};
    r = h_cmd(q, "PUBSUB SHARDNUMSUB %s %s %s ps6:none", sh[0], sh[1], sh[2]);
    expect_pairs(r, sasked, scounts, 4, "PUBSUB SHARDNUMSUB");
    freeReplyObject(r);

    /* The proxy's clients leave: only the direct subscriber is counted. */
    for (int i = 0; i < 6; i++) h_rc_close(&c[i]);
    static const long long after[] = {1, 0, 1, 0, 1};
    uint64_t end = h_now_ms() + 5000;
    for (;;) {
        r = h_cmd(q, "PUBSUB NUMSUB ps6:a ps6:b ps6:c ps6:none ps6:a");
        int ok = r->elements == 10;
        for (int i = 0; ok && i < 5; i++) ok = r->element[2 * i + 1]->integer == after[i];
        if (ok || h_now_ms() > end) {
            expect_pairs(r, asked, after, 5, "PUBSUB NUMSUB after the clients left");
            freeReplyObject(r);
            break;
        }
        freeReplyObject(r);
        h_sleep_ms(50);
    }
    ck_assert_int_eq(numpat(q), numpat0 + 1);
    static const long long safter[] = {0, 0, 1, 0};
    r = h_cmd(q, "PUBSUB SHARDNUMSUB %s %s %s ps6:none", sh[0], sh[1], sh[2]);
    expect_pairs(r, sasked, safter, 4, "PUBSUB SHARDNUMSUB after the clients left");
    freeReplyObject(r);
    h_rc_close(&d);
    redisFree(q);
}
END_TEST

/* Keyspace-notification channels and patterns are subscribed on every master (pubsub.c), so
 * every master counts their subscribers: PUBSUB NUMSUB and NUMPAT through the proxy count them
 * once, as one Redis would, next to an ordinary channel and pattern. */
START_TEST(test_introspection_keyspace_once)
{
    redisContext *q = h_connect(h_env.proxy_port);
    long long numpat0 = numpat(q);
    struct h_rc c[2];
    for (int i = 0; i < 2; i++) {
        h_rc_open(&c[i], h_env.proxy_port);
        rc_send(&c[i], "SUBSCRIBE __keyspace@0__:ps8:foo ps8:plain");
        expect_confirmation(&c[i], "subscribe", "__keyspace@0__:ps8:foo", 1);
        expect_confirmation(&c[i], "subscribe", "ps8:plain", 2);
        rc_send(&c[i], "PSUBSCRIBE __keyevent@0__:ps8* ps8:p*");
        expect_confirmation(&c[i], "psubscribe", "__keyevent@0__:ps8*", 3);
        expect_confirmation(&c[i], "psubscribe", "ps8:p*", 4);
    }
    /* The case at hand: each master counts both subscribers of the keyspace channel. */
    for (int m = 0; m < 3; m++)
        ck_assert_int_eq(node_numsub(h_env.cluster_port + m, "NUMSUB", "__keyspace@0__:ps8:foo"),
                         2);
    static const char *const asked[] = {"__keyspace@0__:ps8:foo", "ps8:plain",
                                        "__keyevent@0__:none", "__keyspace@0__:ps8:foo"};
    static const long long counts[] = {2, 2, 0, 2};
    redisReply *r = h_cmd(q, "PUBSUB NUMSUB __keyspace@0__:ps8:foo ps8:plain __keyevent@0__:none "
                             "__keyspace@0__:ps8:foo");
    expect_pairs(r, asked, counts, 4, "PUBSUB NUMSUB");
    freeReplyObject(r);
    ck_assert_int_eq(numpat(q), numpat0 + 2); /* two patterns, each held by two clients */
    for (int i = 0; i < 2; i++) h_rc_close(&c[i]);
    uint64_t end = h_now_ms() + 5000;
    while (numpat(q) != numpat0 && h_now_ms() < end) h_sleep_ms(50);
    ck_assert_int_eq(numpat(q), numpat0);
    static const long long none[] = {0, 0, 0, 0};
    r = h_cmd(q, "PUBSUB NUMSUB __keyspace@0__:ps8:foo ps8:plain __keyevent@0__:none "
                 "__keyspace@0__:ps8:foo");
    expect_pairs(r, asked, none, 4, "PUBSUB NUMSUB after the clients left");
    freeReplyObject(r);
    redisFree(q);
}
END_TEST

/* ---- 7. failover during a subscription ---- */

/* The failover test's own cluster: 500 above the shared cluster (21501 by default), so that runs
 * with another PX_ITEST_PORT stay out of each other's way. */
#define PF_BASE (h_env.cluster_port + 500)

/* Sends a command through *pub without caring whether it worked (the cluster may be failing
 * over); reconnects when the connection broke. Returns 1 when it answered without an error. */
static int try_cmd(redisContext **pub, int port, const char *fmt, const char *a, const char *b)
{
    if (!*pub) {
        struct timeval tv = {1, 0};
        *pub = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (!*pub || (*pub)->err) {
            if (*pub) redisFree(*pub);
            *pub = NULL;
            return 0;
        }
        redisSetTimeout(*pub, tv);
    }
    redisReply *r = redisCommand(*pub, fmt, a, b);
    if (!r) {
        redisFree(*pub);
        *pub = NULL;
        return 0;
    }
    int ok = r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    return ok;
}

enum { PF_MESSAGE, PF_PMESSAGE, PF_SMESSAGE, PF_KEYSPACE, PF_KINDS };
static const char *const pf_kind[PF_KINDS] = {"message", "pmessage", "smessage", "keyspace event"};

/* What the failover test found wrong, so that one run reports every problem. */
static char pf_fail[4096];

static void pf_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pf_note(const char *fmt, ...)
{
    char one[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof(one), fmt, ap);
    va_end(ap);
    fprintf(stderr, "pubsub failover: problem: %s\n", one);
    size_t o = strlen(pf_fail);
    snprintf(pf_fail + o, sizeof(pf_fail) - o, "%s%s", o ? "; " : "", one);
}

/* Reads what c received for up to wait_ms and notes in first[] when the first push of each kind
 * came: messages whose payload starts with mark, and keyspace events (on the keyspace
 * subscriber) for key. */
static void pf_collect(struct h_rc *c, int wait_ms, const char *mark, const char *key,
                       uint64_t *first)
{
    uint64_t end = h_now_ms() + (uint64_t)wait_ms;
    char ks[64];
    snprintf(ks, sizeof(ks), "__keyspace@0__:%s", key);
    for (;;) {
        int left = (int)((int64_t)end - (int64_t)h_now_ms());
        size_t n;
        int closed;
        const char *r = rc_next(c, left > 0 ? left : 0, &n, &closed);
        ck_assert_msg(!closed, "a subscriber's connection was closed");
        if (!r) return;
        redisReply *rep = parse(r, n);
        ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
        const char *kind = rep->element[0]->str, *payload = rep->element[rep->elements - 1]->str;
        int pm = strcmp(kind, "pmessage") == 0;
        if (pm && strcmp(rep->element[2]->str, ks) == 0) {
            if (!first[PF_KEYSPACE]) first[PF_KEYSPACE] = h_now_ms();
        } else if (strncmp(payload, mark, strlen(mark)) == 0) {
            for (int k = PF_MESSAGE; k <= PF_SMESSAGE; k++)
                if (strcmp(kind, pf_kind[k]) == 0 && !first[k]) first[k] = h_now_ms();
        }
        freeReplyObject(rep);
    }
}

/* One round of publishing (and a write to key, for the keyspace event) through *pub. Returns
 * how many of the four failed. */
static int pf_publish(redisContext **pub, int port, const char *shard, const char *key,
                      const char *msg)
{
    int errors = !try_cmd(pub, port, "PUBLISH %s %s", "pf:ch", msg);
    errors += !try_cmd(pub, port, "PUBLISH %s %s", "pf:px", msg);
    errors += !try_cmd(pub, port, "SPUBLISH %s %s", shard, msg);
    errors += !try_cmd(pub, port, "SET %s %s", key, msg);
    return errors;
}

/* Publishes rounds until sub and ks have seen every kind or timeout_ms passed; fills first[].
 * Returns the failed publishes. */
static int pf_until_all(redisContext **pub, int port, struct h_rc *sub, struct h_rc *ks,
                        const char *shard, const char *key, const char *mark, int timeout_ms,
                        uint64_t *first)
{
    memset(first, 0, PF_KINDS * sizeof(*first));
    int errors = 0;
    uint64_t start = h_now_ms();
    for (int seq = 0; h_now_ms() - start < (uint64_t)timeout_ms; seq++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "%s%d", mark, seq);
        errors += pf_publish(pub, port, shard, key, msg);
        pf_collect(sub, 50, mark, key, first);
        pf_collect(ks, 50, mark, key, first);
        int all = 1;
        for (int k = 0; k < PF_KINDS; k++) all &= first[k] != 0;
        if (all) break;
    }
    return errors;
}

/* Whether r is a [name, 1] NUMSUB answer; else what it is, in why. */
static int count_is_one(const redisReply *r, char *why, size_t cap)
{
    if (!r)
        snprintf(why, cap, "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(why, cap, "%s", r->str);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        snprintf(why, cap, "a malformed reply");
    else if (r->element[1]->integer != 1)
        snprintf(why, cap, "count %lld", r->element[1]->integer);
    else
        return 1;
    return 0;
}

/* PUBSUB NUMSUB pf:ch and SHARDNUMSUB shard through the proxy on port answer 1 each (within
 * 5 s); noted otherwise. */
static void pf_introspection(int port, const char *shard)
{
    char wa[160] = "not asked", wb[160] = "not asked";
    uint64_t end = h_now_ms() + 5000;
    int ok = 0;
    while (!ok && h_now_ms() < end) {
        struct timeval tv = {2, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (c && !c->err) {
            redisSetTimeout(c, tv);
            redisReply *a = redisCommand(c, "PUBSUB NUMSUB pf:ch");
            ok = count_is_one(a, wa, sizeof(wa));
            if (a) freeReplyObject(a);
            redisReply *b = redisCommand(c, "PUBSUB SHARDNUMSUB %s", shard);
            ok &= count_is_one(b, wb, sizeof(wb));
            if (b) freeReplyObject(b);
        }
        if (c) redisFree(c);
        if (!ok) h_sleep_ms(200);
    }
    if (!ok)
        pf_note("PUBSUB through the proxy after the failover: NUMSUB pf:ch: %s; SHARDNUMSUB: %s",
                wa, wb);
}

/* Notes in seen[] which pf:steady:<i> key a keyspace event push r names. */
static void steady_note(const char *r, size_t n, unsigned char *seen, int nseen, int *got,
                        int *dups)
{
    redisReply *rep = parse(r, n);
    int k = -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4 &&
        sscanf(rep->element[2]->str, "__keyspace@0__:pf:steady:%d", &k) == 1 && k >= 0 &&
        k < nseen) {
        *dups += seen[k];
        *got += !seen[k];
        seen[k] = 1;
    }
    freeReplyObject(rep);
}

/* Keyspace events keep coming after the failover: writes spread over 3 s, to keys on every
 * master, each reach the keyspace subscriber ks once. */
static void pf_steady_events(int port, struct h_rc *ks)
{
    enum { NSETS = 150 };
    static unsigned char seen[NSETS];
    memset(seen, 0, sizeof(seen));
    redisContext *c = NULL;
    int failed = 0, got = 0, dups = 0;
    size_t n;
    const char *r;
    for (int i = 0; i < NSETS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "pf:steady:%d", i);
        failed += !try_cmd(&c, port, "SET %s %s", key, "v");
        uint64_t end = h_now_ms() + 20;
        while ((r = rc_next(ks, (int)((int64_t)end - (int64_t)h_now_ms()), &n, NULL)) != NULL)
            steady_note(r, n, seen, NSETS, &got, &dups);
    }
    while ((r = rc_next(ks, PS_QUIET_MS, &n, NULL)) != NULL)
        steady_note(r, n, seen, NSETS, &got, &dups);
    fprintf(stderr,
            "pubsub failover: %d of %d keyspace events after the recovery (%d failed SETs, %d "
            "repeated)\n",
            got, NSETS, failed, dups);
    if (got != NSETS - failed || dups)
        pf_note("after the recovery, %d of %d SETs produced no keyspace event (%d repeated)",
                NSETS - failed - got, NSETS - failed, dups);
    if (c) redisFree(c);
}

/* Once recovered, the proxy's Pub/Sub connections on the live masters stay up: none of them is
 * younger than min_age seconds. */
static void pf_stable_connections(int victim, int min_age)
{
    int young = 0, total = 0;
    for (int p = PF_BASE; p < PF_BASE + 6; p++) {
        if (p == victim || !h_is_master(p)) continue;
        redisContext *c = h_connect(p);
        redisReply *r = h_cmd(c, "CLIENT LIST TYPE pubsub");
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        for (const char *a = strstr(r->str, " age="); a; a = strstr(a + 1, " age=")) {
            total++;
            young += atoi(a + 5) < min_age;
        }
        freeReplyObject(r);
        redisFree(c);
    }
    fprintf(stderr,
            "pubsub failover: %d of %d Pub/Sub connections on the live masters are "
            "younger than %d s\n",
            young, total, min_age);
    if (young)
        pf_note("%d of %d Pub/Sub connections on the live masters were younger than %d s, over 3 "
                "s after the recovery: the proxy keeps making them again",
                young, total, min_age);
}

/* Clients that subscribe after the failover (spread by the proxy over whatever it takes for
 * masters) are subscribed for real: a PUBLISH reaches each of them. */
static void pf_new_subscribers(int port, int victim)
{
    enum { NNEW = 4 };
    struct h_rc c[NNEW];
    char want[128];
    size_t wl = confirmation(want, sizeof(want), "subscribe", "pf:new", 1);
    int confirmed = 0;
    for (int i = 0; i < NNEW; i++) {
        h_rc_open(&c[i], port);
        rc_send(&c[i], "SUBSCRIBE pf:new");
    }
    for (int i = 0; i < NNEW; i++) {
        size_t n;
        const char *r = rc_next(&c[i], 5000, &n, NULL);
        confirmed += r && n == wl && memcmp(r, want, n) == 0;
    }
    if (confirmed != NNEW)
        pf_note("%d of %d clients got no confirmation of SUBSCRIBE pf:new within 5 s",
                NNEW - confirmed, NNEW);
    long long on_nodes = 0;
    for (int p = PF_BASE; p < PF_BASE + 6; p++)
        if (p != victim && h_is_master(p)) on_nodes += node_numsub(p, "NUMSUB", "pf:new");
    if (on_nodes != confirmed)
        pf_note("%d clients had SUBSCRIBE pf:new confirmed after the failover, but the live "
                "masters count %lld subscribers",
                confirmed, on_nodes);
    redisContext *pub = NULL;
    uint64_t end = h_now_ms() + 3000;
    while (!try_cmd(&pub, port, "PUBLISH %s %s", "pf:new", "hello") && h_now_ms() < end)
        h_sleep_ms(100);
    int missing = 0;
    for (int i = 0; i < NNEW; i++) {
        size_t n;
        const char *r = rc_next(&c[i], 3000, &n, NULL);
        wl = (size_t)snprintf(want, sizeof(want),
                              "*3\r\n$7\r\nmessage\r\n$6\r\npf:new\r\n$5\r\nhello\r\n");
        missing += !r || n != wl || memcmp(r, want, wl) != 0;
        h_rc_close(&c[i]);
    }
    if (missing)
        pf_note("%d of %d clients subscribed after the failover got no message", missing, NNEW);
    if (pub) redisFree(pub);
}

/* Kills the master on victim with SIGKILL and waits (up to 30 s) until its replica says it is a
 * master. Returns when that was seen. */
static uint64_t pf_kill_and_promote(int victim)
{
    char id[41];
    ck_assert_int_eq(h_node_id(victim, id), 0);
    int replica = h_replica_of(victim == PF_BASE ? PF_BASE + 1 : PF_BASE, id);
    ck_assert_int_gt(replica, 0);
    pid_t vpid = h_cluster_pid("pubsub-failover", victim);
    ck_assert_int_gt(vpid, 0);
    uint64_t t0 = h_now_ms();
    ck_assert_int_eq(kill(vpid, SIGKILL), 0);
    while (h_now_ms() - t0 < 30000) {
        if (h_is_master(replica)) return h_now_ms();
        h_sleep_ms(50);
    }
    ck_abort_msg("the replica on %d was never promoted", replica);
    return 0;
}

/* Prints when each kind first arrived after the promotion; notes the ones that never came or
 * came late. */
static void pf_report(const uint64_t *first, uint64_t promoted)
{
    for (int k = 0; k < PF_KINDS; k++) {
        if (first[k])
            fprintf(stderr, "pubsub failover: first %s %lld ms after the promotion\n", pf_kind[k],
                    (long long)first[k] - (long long)promoted);
        if (!first[k])
            pf_note("no %s within 20 s of the promotion", pf_kind[k]);
        else if (first[k] > promoted && first[k] - promoted >= 5000)
            pf_note("the first %s came %llu ms after the promotion", pf_kind[k],
                    (unsigned long long)(first[k] - promoted));
    }
}

START_TEST(test_failover_resubscribes)
{
    ck_assert_int_eq(h_cluster_start("pubsub-failover", PF_BASE), 0);
    for (int p = PF_BASE; p < PF_BASE + 6; p++) {
        redisContext *n = h_connect(p);
        h_expect_str(h_cmd(n, "CONFIG SET notify-keyspace-events KEA"), "OK");
        redisFree(n);
    }
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d,127.0.0.1:%d", PF_BASE, PF_BASE + 1);
    int port = PF_BASE + 10;
    const char *extra[] = {"-threads", "2", "-slots-reload-interval", "1s", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-pubsub-failover.log");
    ck_assert_int_gt(pid, 0);

    struct h_rc sub, ks;
    h_rc_open(&sub, port);
    rc_send(&sub, "SUBSCRIBE pf:ch");
    expect_confirmation(&sub, "subscribe", "pf:ch", 1);
    rc_send(&sub, "PSUBSCRIBE pf:p*");
    expect_confirmation(&sub, "psubscribe", "pf:p*", 2);
    /* The master that carries the channel subscriptions is the one to kill; the shard channel
     * and the key whose events are watched live there too. */
    int victim = -1;
    for (int m = 0; m < 3; m++)
        if (node_numsub(PF_BASE + m, "NUMSUB", "pf:ch") == 1) victim = PF_BASE + m;
    ck_assert_msg(victim > 0, "no master has the subscription");
    char shard[32], key[32];
    name_on_in(PF_BASE, victim, "pf:s", shard, sizeof(shard), NULL, 0);
    name_on_in(PF_BASE, victim, "pf:k", key, sizeof(key), NULL, 0);
    rc_send(&sub, "SSUBSCRIBE %s", shard);
    expect_confirmation(&sub, "ssubscribe", shard, 1);
    h_rc_open(&ks, port);
    rc_send(&ks, "PSUBSCRIBE __keyspace@0__:pf:*");
    expect_confirmation(&ks, "psubscribe", "__keyspace@0__:pf:*", 1);

    /* Everything arrives before the failover. */
    redisContext *pub = NULL;
    uint64_t first[PF_KINDS];
    pf_until_all(&pub, port, &sub, &ks, shard, key, "before-", 3000, first);
    for (int k = 0; k < PF_KINDS; k++)
        ck_assert_msg(first[k], "no %s before the failover", pf_kind[k]);

    uint64_t t0 = h_now_ms(), promoted = pf_kill_and_promote(victim);
    /* Publish again and again; the subscribers only read. */
    pf_fail[0] = '\0';
    int errors = pf_until_all(&pub, port, &sub, &ks, shard, key, "after-", 20000, first);
    fprintf(stderr, "pubsub failover: promoted %llu ms after the kill; %d failed publishes\n",
            (unsigned long long)(promoted - t0), errors);
    pf_report(first, promoted);
    pf_steady_events(port, &ks);
    pf_stable_connections(victim, 2);
    pf_introspection(port, shard);
    pf_new_subscribers(port, victim);

    if (pub) redisFree(pub);
    h_rc_close(&sub);
    h_rc_close(&ks);
    int st = h_proxy_stop(pid, "proxy-pubsub-failover.log");
    h_cluster_stop("pubsub-failover");
    ck_assert_msg(st == 0 && pf_fail[0] == '\0', "%s%s",
                  st ? "the proxy did not exit cleanly; " : "", pf_fail);
}
END_TEST

/* ---- 7b. a node drops the proxy's connection ---- */

START_TEST(test_killed_connection_resubscribes)
{
    char shard[32];
    name_on(h_env.cluster_port + 1, "ps7:s", shard, sizeof(shard), NULL, 0);
    struct h_rc sub;
    h_rc_open(&sub, h_env.proxy_port);
    rc_send(&sub, "SUBSCRIBE ps7:ch");
    expect_confirmation(&sub, "subscribe", "ps7:ch", 1);
    rc_send(&sub, "PSUBSCRIBE ps7:p*");
    expect_confirmation(&sub, "psubscribe", "ps7:p*", 2);
    rc_send(&sub, "SSUBSCRIBE %s", shard);
    expect_confirmation(&sub, "ssubscribe", shard, 1);

    /* Every master drops its Pub/Sub clients: the proxy's private connections. */
    uint64_t t0 = h_now_ms();
    for (int m = 0; m < 3; m++) {
        redisContext *n = h_connect(h_env.cluster_port + m);
        redisReply *r = h_cmd(n, "CLIENT KILL TYPE pubsub");
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
        redisFree(n);
    }
    /* The client, which only reads, receives again once the proxy has subscribed anew. */
    redisContext *pub = NULL;
    uint64_t first[PF_KINDS] = {0};
    for (int seq = 0; h_now_ms() - t0 < 10000; seq++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "again-%d", seq);
        try_cmd(&pub, h_env.proxy_port, "PUBLISH %s %s", "ps7:ch", msg);
        try_cmd(&pub, h_env.proxy_port, "PUBLISH %s %s", "ps7:px", msg);
        try_cmd(&pub, h_env.proxy_port, "SPUBLISH %s %s", shard, msg);
        pf_collect(&sub, 50, "again-", "-", first);
        if (first[PF_MESSAGE] && first[PF_PMESSAGE] && first[PF_SMESSAGE]) break;
    }
    for (int k = PF_MESSAGE; k <= PF_SMESSAGE; k++) {
        if (first[k])
            fprintf(stderr, "pubsub connection killed: first %s %llu ms after the kill\n",
                    pf_kind[k], (unsigned long long)(first[k] - t0));
        ck_assert_msg(first[k], "no %s within 10 s of the kill", pf_kind[k]);
        ck_assert_msg(first[k] - t0 < 3000, "the first %s came %llu ms after the kill", pf_kind[k],
                      (unsigned long long)(first[k] - t0));
    }
    /* Subscribed once, not twice: one subscriber on the nodes, one copy of each message. */
    pf_collect(&sub, PS_QUIET_MS, "again-", "-", first);
    ck_assert_int_eq(masters_numsub("NUMSUB", "ps7:ch"), 1);
    ck_assert_int_eq(masters_numsub("SHARDNUMSUB", shard), 1);
    ck_assert(try_cmd(&pub, h_env.proxy_port, "PUBLISH %s %s", "ps7:ch", "once"));
    ck_assert(try_cmd(&pub, h_env.proxy_port, "SPUBLISH %s %s", shard, "once"));
    char want[2][128];
    size_t wl[2];
    wl[0] = (size_t)snprintf(want[0], sizeof(want[0]),
                             "*3\r\n$7\r\nmessage\r\n$6\r\nps7:ch\r\n$4\r\nonce\r\n");
    wl[1] = smessage(want[1], sizeof(want[1]), shard, "once");
    int seen[2] = {0};
    for (int i = 0; i < 2; i++) {
        size_t n;
        char tmp[512];
        const char *r = rc_must(&sub, &n, "a message after the recovery");
        int k = n == wl[0] && memcmp(r, want[0], n) == 0   ? 0
                : n == wl[1] && memcmp(r, want[1], n) == 0 ? 1
                                                           : -1;
        ck_assert_msg(k >= 0 && !seen[k], "after the recovery: %s",
                      h_show(r, n, 300, tmp, sizeof(tmp)));
        seen[k] = 1;
    }
    rc_quiet(&sub, PS_QUIET_MS, "after the recovery");
    if (pub) redisFree(pub);
    h_rc_close(&sub);
}
END_TEST

/* ---- 8. clients that leave leave nothing behind ---- */

/* A client subscribes to a channel, a keyspace pattern (a connection to every master) and a
 * shard channel, then disconnects: after the confirmations when wait is set, else at once. */
static void leave_cycle(const char *shard, int wait)
{
    struct h_rc c;
    h_rc_open(&c, h_env.proxy_port);
    rc_send(&c, "SUBSCRIBE ps8:ch");
    rc_send(&c, "PSUBSCRIBE __keyspace@0__:ps8*");
    rc_send(&c, "SSUBSCRIBE %s", shard);
    if (wait) {
        expect_confirmation(&c, "subscribe", "ps8:ch", 1);
        expect_confirmation(&c, "psubscribe", "__keyspace@0__:ps8*", 2);
        expect_confirmation(&c, "ssubscribe", shard, 1);
    }
    h_rc_close(&c);
}

/* Whether the masters have no subscription of ps8 left, and the nodes no more clients than
 * base[] (+slack); why says what is still there. */
static int nothing_left(const char *shard, const long long *numpat0, const long *base, int slack,
                        char *why, size_t cap)
{
    for (int m = 0; m < 3; m++) {
        int port = h_env.cluster_port + m;
        long long subs = node_numsub(port, "NUMSUB", "ps8:ch");
        long long ssubs = node_numsub(port, "SHARDNUMSUB", shard);
        long long pats = node_int(port, "PUBSUB NUMPAT");
        if (subs || ssubs || pats != numpat0[m]) {
            snprintf(why, cap, "node %d: NUMSUB %lld, SHARDNUMSUB %lld, NUMPAT %lld (was %lld)",
                     port, subs, ssubs, pats, numpat0[m]);
            return 0;
        }
    }
    for (int i = 0; base && i < 6; i++) {
        long n = node_clients(h_env.cluster_port + i);
        if (n > base[i] + slack) {
            snprintf(why, cap, "node %d: %ld connected clients, %ld before", h_env.cluster_port + i,
                     n, base[i]);
            return 0;
        }
    }
    return 1;
}

/* Polls nothing_left for up to 10 s. */
static void expect_nothing_left(const char *shard, const long long *numpat0, const long *base,
                                int slack)
{
    char why[256] = "";
    uint64_t end = h_now_ms() + 10000;
    while (!nothing_left(shard, numpat0, base, slack, why, sizeof(why))) {
        ck_assert_msg(h_now_ms() < end, "10 s after the clients left: %s", why);
        h_sleep_ms(100);
    }
}

START_TEST(test_no_leftovers)
{
    const char *shard = "ps8:s";
    long long numpat0[3];
    for (int m = 0; m < 3; m++) numpat0[m] = node_int(h_env.cluster_port + m, "PUBSUB NUMPAT");
    /* A few rounds first, so that whatever the proxy keeps on purpose (its pools) is there. */
    for (int i = 0; i < 10; i++) leave_cycle(shard, 1);
    expect_nothing_left(shard, numpat0, NULL, 0);
    long base[6];
    for (int i = 0; i < 6; i++) base[i] = node_clients(h_env.cluster_port + i);
    for (int i = 0; i < 200; i++) leave_cycle(shard, i % 2);
    expect_nothing_left(shard, numpat0, base, 2);
    /* The proxy still serves subscribers. */
    leave_cycle(shard, 1);
}
END_TEST

/* ---- 9. RESET and QUIT in subscribed mode ---- */

/* req on a new connection to the proxy and to the reference server: everything that comes back
 * until 500 ms of quiet, and whether the connection was closed, must be the same. */
static void same_conversation(const char *req)
{
    static char a[1 << 14], b[1 << 14], as[1 << 15], bs[1 << 15];
    int ca, cb;
    size_t na = h_raw(h_env.single_port, req, strlen(req), a, sizeof(a), 500, 0, &ca);
    size_t nb = h_raw(h_env.proxy_port, req, strlen(req), b, sizeof(b), 500, 0, &cb);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "%s\nredis-server: %s\nproxy:        %s", req,
                  h_show(a, na, 2000, as, sizeof(as)), h_show(b, nb, 2000, bs, sizeof(bs)));
    ck_assert_msg(ca == cb, "%s: closed by redis-server %d, by the proxy %d", req, ca, cb);
}

START_TEST(test_reset_and_quit)
{
    same_conversation("SUBSCRIBE ps9:a\r\nPSUBSCRIBE ps9:*\r\nRESET\r\nGET ps9:x\r\nPING\r\n"
                      "UNSUBSCRIBE\r\n");
    same_conversation("SSUBSCRIBE ps9:s\r\nRESET\r\nGET ps9:x\r\nSUNSUBSCRIBE\r\n");
    same_conversation("SUBSCRIBE ps9:a\r\nRESET\r\nSUBSCRIBE ps9:b\r\nRESET\r\nECHO e\r\n");
    same_conversation("SUBSCRIBE ps9:a\r\nQUIT\r\nPING\r\n");
    same_conversation("PSUBSCRIBE ps9:*\r\nSSUBSCRIBE ps9:s\r\nQUIT\r\nPING\r\n");

    /* After RESET nothing more is delivered, and the nodes no longer hold the subscription. */
    struct h_rc c;
    h_rc_open(&c, h_env.proxy_port);
    rc_send(&c, "SUBSCRIBE ps9:live");
    expect_confirmation(&c, "subscribe", "ps9:live", 1);
    size_t n;
    const char *r = h_rc_roundtrip(&c, "RESET\r\n", 7, &n);
    ck_assert_msg(n == 8 && memcmp(r, "+RESET\r\n", 8) == 0, "RESET: %.*s", (int)n, r);
    redisContext *q = h_connect(h_env.proxy_port);
    redisReply *rep = h_cmd(q, "PUBLISH ps9:live x");
    ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    rc_quiet(&c, PS_QUIET_MS, "after RESET");
    r = h_rc_roundtrip(&c, "SET ps9:k v\r\nGET ps9:k\r\n", 24, &n);
    ck_assert_msg(n == 5 && memcmp(r, "+OK\r\n", 5) == 0, "SET after RESET: %.*s", (int)n, r);
    r = h_rc_read(&c, &n);
    ck_assert_msg(n == 7 && memcmp(r, "$1\r\nv\r\n", 7) == 0, "GET after RESET: %.*s", (int)n, r);
    h_rc_close(&c);
    uint64_t end = h_now_ms() + 5000;
    for (;;) {
        rep = h_cmd(q, "PUBSUB NUMSUB ps9:live ps9:a ps9:b");
        ck_assert_int_eq(rep->elements, 6);
        long long sum =
            rep->element[1]->integer + rep->element[3]->integer + rep->element[5]->integer;
        freeReplyObject(rep);
        if (sum == 0) break;
        ck_assert_msg(h_now_ms() < end, "the nodes still count %lld subscribers", sum);
        h_sleep_ms(50);
    }
    redisFree(q);
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

    tc = tcase_create("keyspace");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, keyspace_setup, keyspace_teardown);
    tcase_add_test(tc, test_keyspace_events_once);
    tcase_add_test(tc, test_keyspace_channel_publish_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_many_subscribers_burst);
    tcase_add_test(tc, test_slow_subscriber_cut);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_introspection_merged);
    tcase_add_test(tc, test_introspection_keyspace_once);
    tcase_add_test(tc, test_killed_connection_resubscribes);
    tcase_add_test(tc, test_failover_resubscribes);
    tcase_add_test(tc, test_no_leftovers);
    tcase_add_test(tc, test_reset_and_quit);
    suite_add_tcase(s, tc);
    return s;
}
