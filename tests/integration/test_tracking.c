/*
 * Client-side caching through the proxy (issue 18): CLIENT TRACKING, CACHING, GETREDIR and
 * TRACKINGINFO, and the invalidation messages, against the real 3-master/3-replica cluster.
 *
 * - Compared with Redis: scenarios of three clients (A tracks, B writes, S receives REDIRECTed
 *   messages) run once through the proxy and once against the runner's standalone redis-server;
 *   every byte A and S receive must be the same (client ids aside). Each write is followed by a
 *   short pause so that the proxy, which hears of writes from the nodes, has had the message
 *   before A's next command; the order without pauses is the race tests' business.
 * - The order: A reads keys on every master, B writes them, A reads again: each invalidation
 *   must precede the reply to A's next read of its key (thousands of rounds, pipelined), and
 *   with B writing while A reads, no value A would cache may stay stale.
 * - REDIRECT across workers, keys read inside MGET across slots, flushes.
 * - Faults: the proxy's tracking connection to a master killed on the node, a slot moved with
 *   MIGRATE, a master killed with SIGKILL (on a cluster of the suite's own).
 * - Hostile input: thousands of prefixes, a redirect target that leaves, a tracking client that
 *   never reads, -tracking-table-max-keys reached.
 * - Memory per tracked key, and node-redis 6's clientSideCache.
 *
 * Ports: the shared cluster and proxy; proxies of the suite's own in front of the shared cluster
 * or of its own cluster at h_env.cluster_port + 400..406 (nodes) and + 410..420 (proxies, debug
 * ports). Figures go to stderr as "tracking: ..." lines.
 */
#include "crc16.h"
#include "harness.h"
#include "suites.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SETTLE_MS 80 /* after a write, before the tracking client's next command */

static const char hello3[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";

/* ---- bytes ---- */

struct lg {
    char *b;
    size_t n, cap;
};

static void lg_put(struct lg *l, const char *p, size_t n)
{
    if (l->n + n + 1 > l->cap) {
        l->cap = (l->n + n + 1) * 2;
        l->b = realloc(l->b, l->cap);
    }
    memcpy(l->b + l->n, p, n);
    l->n += n;
    l->b[l->n] = '\0';
}

static void lg_free(struct lg *l)
{
    free(l->b);
    memset(l, 0, sizeof(*l));
}

static void expect_bytes(const char *got, size_t n, const char *want, size_t wl, const char *what)
{
    static char a[4096], b[4096];
    ck_assert_msg(n == wl && memcmp(got, want, n) == 0, "%s:\n want %s\n  got %s", what,
                  h_show(want, wl, 1000, a, sizeof(a)), h_show(got, n, 1000, b, sizeof(b)));
}

#define EXPECT_LIT(x, n, lit, what) expect_bytes(x, n, lit, sizeof(lit) - 1, what)

/* ---- raw connections ---- */

static void send_all(int fd, const char *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
}

static void sendv(struct h_rc *c, const char *f, va_list ap)
{
    char *req;
    int len = redisvFormatCommand(&req, f, ap);
    ck_assert_int_gt(len, 0);
    send_all(c->fd, req, (size_t)len);
    redisFreeCommand(req);
}

static void sendf(struct h_rc *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    sendv(c, f, ap);
    va_end(ap);
}

/* The next complete frame within ms, or NULL. */
static const char *next_frame(struct h_rc *c, size_t *n, int ms)
{
    /* Bytes already buffered: a whole frame is returned at once, a partial one completed. */
    if (c->len > c->start) return h_rc_read(c, n);
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0) return NULL;
    return h_rc_read(c, n);
}

static int is_push(const char *x, size_t n)
{
    return n > 0 && x[0] == '>';
}

/* Reads frames until one that is not a push (the reply); pushes go to pushes (when given) or
 * fail the test. */
static const char *reply(struct h_rc *c, size_t *n, struct lg *pushes)
{
    for (;;) {
        const char *x = h_rc_read(c, n);
        if (!is_push(x, *n)) return x;
        ck_assert_msg(pushes != NULL, "unexpected push: %.*s", (int)*n, x);
        lg_put(pushes, x, *n);
    }
}

/* Sends a command and returns its reply (pushes before it go to pushes, or fail). */
static const char *rt(struct h_rc *c, size_t *n, struct lg *pushes, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    sendv(c, f, ap);
    va_end(ap);
    return reply(c, n, pushes);
}

static void open3(struct h_rc *c, int port)
{
    size_t n;
    h_rc_open(c, port);
    const char *x = h_rc_roundtrip(c, hello3, sizeof(hello3) - 1, &n);
    ck_assert_msg(n > 1 && x[0] == '%', "HELLO 3: %.*s", (int)n, x);
}

static long long rc_id(struct h_rc *c)
{
    size_t n;
    const char *x = rt(c, &n, NULL, "CLIENT ID");
    ck_assert_msg(n > 1 && x[0] == ':', "CLIENT ID: %.*s", (int)n, x);
    return atoll(x + 1);
}

static void rc_ok(struct h_rc *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    sendv(c, f, ap);
    va_end(ap);
    size_t n;
    const char *x = reply(c, &n, NULL);
    ck_assert_msg(n == 5 && memcmp(x, "+OK\r\n", 5) == 0, "%s: %.*s", f, (int)n, x);
}

/* Everything that arrives until nothing has for quiet_ms, appended to l. Returns frames read. */
static int drain(struct h_rc *c, struct lg *l, int quiet_ms)
{
    int k = 0;
    size_t n;
    const char *x;
    while ((x = next_frame(c, &n, quiet_ms)) != NULL) {
        if (l) lg_put(l, x, n);
        k++;
    }
    return k;
}

/* ---- invalidation messages ---- */

/* The message Redis sends: RESP3 push (resp3) or RESP2 message; nkeys < 0: a flush, with the null
 * of null_resp. */
static size_t inval(char *out, size_t cap, int resp3, const char *const *keys, int nkeys,
                    int null_resp)
{
    size_t o = (size_t)snprintf(out, cap, "%s",
                                resp3 ? ">2\r\n$10\r\ninvalidate\r\n"
                                      : "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    if (nkeys < 0) {
        o += (size_t)snprintf(out + o, cap - o, "%s", null_resp == 3 ? "_\r\n" : "$-1\r\n");
        return o;
    }
    o += (size_t)snprintf(out + o, cap - o, "*%d\r\n", nkeys);
    for (int i = 0; i < nkeys; i++)
        o += (size_t)snprintf(out + o, cap - o, "$%zu\r\n%s\r\n", strlen(keys[i]), keys[i]);
    return o;
}

static void expect_inval(const char *x, size_t n, int resp3, const char *key, const char *what)
{
    char want[1024];
    const char *k[] = {key};
    size_t wl = inval(want, sizeof(want), resp3, k, 1, 0);
    expect_bytes(x, n, want, wl, what);
}

/*
 * Parses an invalidation (RESP3 push or RESP2 message). Returns the number of keys (their
 * offsets and lengths in off/len, up to max), -1 for a flush (null), -2 when it is not one.
 */
static int parse_inval(const char *x, size_t n, size_t *off, size_t *len, int max)
{
    static const char p3[] = ">2\r\n$10\r\ninvalidate\r\n";
    static const char p2[] = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";
    size_t at;
    if (n >= sizeof(p3) - 1 && memcmp(x, p3, sizeof(p3) - 1) == 0)
        at = sizeof(p3) - 1;
    else if (n >= sizeof(p2) - 1 && memcmp(x, p2, sizeof(p2) - 1) == 0)
        at = sizeof(p2) - 1;
    else
        return -2;
    if (x[at] == '_' || (x[at] == '$' && x[at + 1] == '-')) return -1;
    if (x[at] != '*') return -2;
    char *end;
    long k = strtol(x + at + 1, &end, 10);
    at = (size_t)(end - x) + 2;
    for (long i = 0; i < k; i++) {
        long l = strtol(x + at + 1, &end, 10);
        at = (size_t)(end - x) + 2;
        if (i < max) {
            off[i] = at;
            len[i] = (size_t)l;
        }
        at += (size_t)l + 2;
    }
    ck_assert_uint_eq(at, n);
    return (int)k;
}

/* ---- the cluster's slots ---- */

struct smap {
    int n, lo[64], hi[64], port[64];
    int nm, masters[8];
};

static void smap_load(struct smap *m, int port)
{
    memset(m, 0, sizeof(*m));
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "CLUSTER SLOTS");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements && m->n < 64; i++) {
        redisReply *e = r->element[i];
        m->lo[m->n] = (int)e->element[0]->integer;
        m->hi[m->n] = (int)e->element[1]->integer;
        int p = (int)e->element[2]->element[1]->integer;
        m->port[m->n++] = p;
        int seen = 0;
        for (int k = 0; k < m->nm; k++) seen |= m->masters[k] == p;
        if (!seen && m->nm < 8) m->masters[m->nm++] = p;
    }
    freeReplyObject(r);
    redisFree(c);
    /* In port order, so that "master i" means the same in every test. */
    for (int i = 0; i < m->nm; i++)
        for (int j = i + 1; j < m->nm; j++)
            if (m->masters[j] < m->masters[i]) {
                int t = m->masters[i];
                m->masters[i] = m->masters[j];
                m->masters[j] = t;
            }
}

static int smap_owner(const struct smap *m, const char *key)
{
    int slot = (int)crc16_key_slot(key, strlen(key));
    for (int i = 0; i < m->n; i++)
        if (m->lo[i] <= slot && slot <= m->hi[i]) return m->port[i];
    return -1;
}

/* A key "<pfx><i>" served by the master on port. */
static void key_on(const struct smap *m, int port, const char *pfx, char *out, size_t cap)
{
    for (int i = 0;; i++) {
        snprintf(out, cap, "%s%d", pfx, i);
        if (smap_owner(m, out) == port) return;
    }
}

/* ---- proxies of the suite's own ---- */

static pid_t own_proxy(int port, int startup_port, const char *logname, const char *const *extra)
{
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", startup_port);
    h_sh(": > %s/%s", h_env.workdir, logname);
    pid_t pid = h_proxy_start(port, startup, extra, logname);
    ck_assert_msg(pid > 0, "proxy on %d did not start (see %s/%s)", port, h_env.workdir, logname);
    return pid;
}

/* A counter of /metrics on the debug port (the first series of that name). */
static double metric(int dport, const char *name)
{
    struct h_http hh;
    h_http(dport, "GET", "/metrics", 5000, &hh);
    char key[256];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(hh.body, key);
    ck_assert_msg(p != NULL, "/metrics has no %s", name);
    double v = atof(p + strlen(key));
    h_http_free(&hh);
    return v;
}

/* ================================================================================================
 * Compared with Redis
 * ============================================================================================== */

enum { A, B, S, NCL };

/* One side of a comparison: the proxy or the standalone redis-server. */
struct world {
    int port;
    struct h_rc c[NCL];
    long long id[NCL];
    struct lg log[NCL];
};

static void world_open(struct world *w, int port, int aresp, int sresp)
{
    memset(w, 0, sizeof(*w));
    w->port = port;
    for (int i = 0; i < NCL; i++) {
        int resp = i == A ? aresp : i == S ? sresp : 2;
        if (resp == 3)
            open3(&w->c[i], port);
        else
            h_rc_open(&w->c[i], port);
        w->id[i] = rc_id(&w->c[i]);
    }
}

static void world_close(struct world *w)
{
    for (int i = 0; i < NCL; i++) {
        if (w->c[i].buf) h_rc_close(&w->c[i]);
        lg_free(&w->log[i]);
    }
}

/* A command of client who; every frame up to its reply (pushes included) is logged. */
static void stepv(struct world *w, int who, const char *f, va_list ap)
{
    sendv(&w->c[who], f, ap);
    size_t n;
    const char *x;
    do {
        x = h_rc_read(&w->c[who], &n);
        lg_put(&w->log[who], x, n);
    } while (is_push(x, n));
}

/* Runs the same step in both worlds. */
static void step2(struct world *w, int who, const char *f, ...)
{
    for (int i = 0; i < 2; i++) {
        va_list ap;
        va_start(ap, f);
        stepv(&w[i], who, f, ap);
        va_end(ap);
    }
}

/* The same, for a command whose reply is itself a push (SUBSCRIBE in RESP3): one frame. */
static void step2_one(struct world *w, int who, const char *f, ...)
{
    for (int i = 0; i < 2; i++) {
        va_list ap;
        va_start(ap, f);
        sendv(&w[i].c[who], f, ap);
        va_end(ap);
        size_t n;
        const char *x = h_rc_read(&w[i].c[who], &n);
        lg_put(&w[i].log[who], x, n);
    }
}

/* A step in both worlds whose reply differs by nature (HELLO's mode: cluster or standalone):
 * checked to be of the type want, and not logged. */
static void step2_quiet(struct world *w, int who, char want, const char *f)
{
    for (int i = 0; i < 2; i++) {
        sendf(&w[i].c[who], f);
        size_t n;
        const char *x = reply(&w[i].c[who], &n, &w[i].log[who]);
        ck_assert_msg(n > 0 && x[0] == want, "%s: %.*s", f, (int)n, x);
    }
}

/* A write by B, then the pause that lets the proxy's message arrive. */
static void write2(struct world *w, const char *f, ...)
{
    for (int i = 0; i < 2; i++) {
        va_list ap;
        va_start(ap, f);
        stepv(&w[i], B, f, ap);
        va_end(ap);
    }
    h_sleep_ms(SETTLE_MS);
}

/* Replaces ":<id>\r\n" of the world's clients with a name, so the two worlds compare. */
static void normalize(const struct world *w, struct lg *l, struct lg *out)
{
    out->n = 0;
    lg_put(out, "", 0);
    char tok[NCL][32];
    size_t tl[NCL];
    for (int i = 0; i < NCL; i++)
        tl[i] = (size_t)snprintf(tok[i], sizeof(tok[i]), ":%lld\r\n", w->id[i]);
    for (size_t i = 0; i < l->n;) {
        int hit = -1;
        for (int k = 0; k < NCL && hit < 0; k++)
            if (l->n - i >= tl[k] && memcmp(l->b + i, tok[k], tl[k]) == 0) hit = k;
        if (hit >= 0) {
            static const char *const names[] = {":<A>\r\n", ":<B>\r\n", ":<S>\r\n"};
            lg_put(out, names[hit], strlen(names[hit]));
            i += tl[hit];
        } else {
            lg_put(out, l->b + i, 1);
            i++;
        }
    }
}

/* Drains every client and compares what A, B and S received in the two worlds. */
static void compare_worlds(struct world *w, const char *what)
{
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < NCL; k++) drain(&w[i].c[k], &w[i].log[k], 300);
    for (int k = 0; k < NCL; k++) {
        struct lg p = {0}, r = {0};
        normalize(&w[0], &w[0].log[k], &p);
        normalize(&w[1], &w[1].log[k], &r);
        char label[256];
        snprintf(label, sizeof(label),
                 "%s: what %c received through the proxy (got) and from "
                 "redis-server (want)",
                 what, "ABS"[k]);
        expect_bytes(p.b, p.n, r.b, r.n, label);
        lg_free(&p);
        lg_free(&r);
    }
}

static void worlds_close(struct world *w)
{
    world_close(&w[0]);
    world_close(&w[1]);
}

static void stepl(struct world *w, int who, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    stepv(w, who, f, ap);
    va_end(ap);
}

/* A step whose format takes S's id (one %lld): REDIRECT, which differs between the worlds. */
static void step2_sid(struct world *w, int who, const char *f)
{
    for (int i = 0; i < 2; i++) stepl(&w[i], who, f, w[i].id[S]);
}

/* Client ids above 100 in both worlds, so that a normalized id never meets a small integer
 * reply. */
static void bump_ids(int port)
{
    for (;;) {
        struct h_rc c;
        h_rc_open(&c, port);
        long long id = rc_id(&c);
        h_rc_close(&c);
        if (id > 100) return;
    }
}

static void worlds_open(struct world *w, int aresp, int sresp)
{
    bump_ids(h_env.proxy_port);
    bump_ids(h_env.single_port);
    world_open(&w[0], h_env.proxy_port, aresp, sresp);
    world_open(&w[1], h_env.single_port, aresp, sresp);
}

static void subscribe2(struct world *w, int sresp)
{
    if (sresp == 3)
        step2_one(w, S, "SUBSCRIBE __redis__:invalidate");
    else
        step2(w, S, "SUBSCRIBE __redis__:invalidate");
}

/* CLIENT TRACKING's options, errors and state reports, CLIENT CACHING's one-command life,
 * GETREDIR and TRACKINGINFO, in RESP2 and RESP3: every reply as redis-server sends it. */
START_TEST(test_cmp_commands)
{
    for (int resp = 2; resp <= 3; resp++) {
        struct world w[2];
        worlds_open(w, resp, 2);
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETREDIR");
        step2(w, A, "CLIENT CACHING yes");
        step2(w, A, "CLIENT CACHING no");
        for (int i = 0; i < 2; i++)
            stepl(&w[i], A, "CLIENT TRACKING on REDIRECT %lld REDIRECT %lld", w[i].id[S],
                  w[i].id[S]);
        static const char *const bad[] = {"CLIENT TRACKING on REDIRECT 999999999",
                                          "CLIENT TRACKING on REDIRECT abc",
                                          "CLIENT TRACKING on REDIRECT 0",
                                          "CLIENT TRACKING on REDIRECT -3",
                                          "CLIENT TRACKING on REDIRECT",
                                          "CLIENT TRACKING on PREFIX a",
                                          "CLIENT TRACKING on BCAST OPTIN",
                                          "CLIENT TRACKING on BCAST OPTOUT",
                                          "CLIENT TRACKING on OPTIN OPTOUT",
                                          "CLIENT TRACKING maybe",
                                          "CLIENT TRACKING on FOO",
                                          "CLIENT TRACKING",
                                          "CLIENT CACHING",
                                          "CLIENT CACHING yes extra",
                                          "CLIENT GETREDIR extra",
                                          "CLIENT TRACKINGINFO extra",
                                          "CLIENT TRACKING off REDIRECT 999999999"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) step2(w, A, bad[i]);
        /* OPTIN, and CLIENT CACHING yes for one command; other CLIENT subcommands keep it. */
        step2(w, A, "CLIENT TRACKING on OPTIN");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETREDIR");
        step2(w, A, "CLIENT CACHING no");
        step2(w, A, "CLIENT CACHING maybe");
        step2(w, A, "CLIENT CACHING yes");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETNAME");
        step2(w, A, "CLIENT ID");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "PING");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT CACHING YES");
        step2(w, A, "GET trk:cmd:k");
        step2(w, A, "CLIENT TRACKINGINFO");
        /* Switching modes while on, and re-enabling (which resets OPTIN, NOLOOP, REDIRECT). */
        step2(w, A, "CLIENT TRACKING on OPTOUT");
        step2(w, A, "CLIENT TRACKING on BCAST");
        step2(w, A, "CLIENT TRACKING on OPTIN NOLOOP");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2_sid(w, A, "CLIENT TRACKING on REDIRECT %lld");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETREDIR");
        step2(w, A, "CLIENT TRACKING off");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETREDIR");
        step2(w, A, "CLIENT TRACKING on optout");
        step2(w, A, "CLIENT CACHING yes");
        step2(w, A, "CLIENT CACHING no");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT TRACKING off");
        step2(w, A, "CLIENT TRACKING off");
        /* BCAST: prefixes reported in byte order, added to, refused when they overlap. */
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX foo PREFIX bar");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX fo");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX barb");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX foo");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX FOOBAR PREFIX FOO");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX x PREFIX xy");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX baz PREFIX qux");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT TRACKING on");
        step2(w, A, "CLIENT TRACKING on BCAST OPTIN");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX %b PREFIX %b", "x\r\ny", (size_t)4, "x",
              (size_t)1);
        step2(w, A, "CLIENT TRACKING on BCAST");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT TRACKING off");
        step2(w, A, "CLIENT TRACKINGINFO");
        /* Binary prefixes: NUL bytes compared, but cut in the error text. */
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX %b PREFIX %b", "a\0b", (size_t)3, "a\0c",
              (size_t)3);
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX a");
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX %b", "a\0bz", (size_t)4);
        step2(w, A, "CLIENT TRACKING on BCAST PREFIX %b", "", (size_t)0);
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT TRACKING off");
        /* RESET turns tracking off (and goes back to RESP2). */
        step2_sid(w, A, "CLIENT TRACKING on REDIRECT %lld NOLOOP OPTOUT");
        step2(w, A, "RESET");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETREDIR");
        char what[64];
        snprintf(what, sizeof(what), "tracking commands in RESP%d", resp);
        compare_worlds(w, what);
        worlds_close(w);
    }
}
END_TEST

/* CLIENT CACHING yes covers the next command and a whole transaction (MULTI included); a
 * refused command (unknown, unknown subcommand, wrong arity) uses it up, as in Redis. */
START_TEST(test_cmp_caching_life)
{
    struct world w[2];
    worlds_open(w, 3, 2);
    step2(w, A, "CLIENT TRACKING on OPTIN");
    step2(w, A, "CLIENT CACHING yes");
    step2(w, A, "MULTI");
    step2(w, A, "GET trk:cl:{t}1");
    step2(w, A, "GET trk:cl:{t}2");
    step2(w, A, "EXEC");
    step2(w, A, "CLIENT TRACKINGINFO");
    write2(w, "SET trk:cl:{t}1 x");
    write2(w, "SET trk:cl:{t}2 x");
    step2(w, A, "PING");
    static const char *const refused[] = {"NOSUCHCMD", "CLIENT NOSUCHSUB", "GET"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        step2(w, A, "CLIENT CACHING yes");
        step2(w, A, refused[i]);
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "GET trk:cl:3");
        write2(w, "SET trk:cl:3 x");
        step2(w, A, "PING");
    }
    /* OPTOUT: CACHING no, then a typo: the next read is tracked again. */
    step2(w, A, "CLIENT TRACKING off");
    step2(w, A, "CLIENT TRACKING on OPTOUT");
    step2(w, A, "CLIENT CACHING no");
    step2(w, A, "NOSUCHCMD");
    step2(w, A, "GET trk:cl:4");
    write2(w, "SET trk:cl:4 x");
    step2(w, A, "PING");
    compare_worlds(w, "CLIENT CACHING's life");
    worlds_close(w);
}
END_TEST

/* CLIENT TRACKING on, with REDIRECT to S when redirect: the same option string in both. */
static void track_on2(struct world *w, int redirect, const char *opts)
{
    for (int i = 0; i < 2; i++) {
        char f[512];
        if (redirect)
            snprintf(f, sizeof(f), "CLIENT TRACKING on REDIRECT %lld%s%s", w[i].id[S],
                     *opts ? " " : "", opts);
        else
            snprintf(f, sizeof(f), "CLIENT TRACKING on%s%s", *opts ? " " : "", opts);
        stepl(&w[i], A, f);
    }
}

/*
 * Default mode, in every combination of protocols Redis supports: A in RESP3 without REDIRECT,
 * and A in RESP2 or RESP3 redirecting to S in RESP2 or RESP3 (subscribed to
 * __redis__:invalidate). Reads, reads inside MGET and a transaction, writes by others and by A
 * itself, FLUSHALL / FLUSHDB (one null, in A's protocol, wherever it goes), TRACKING off, RESET.
 */
static void default_scenario(int aresp, int redirect, int sresp)
{
    struct world w[2];
    worlds_open(w, aresp, sresp);
    if (redirect) subscribe2(w, sresp);
    write2(w, "DEL trk:d:k1 trk:d:k2 trk:d:k3 trk:d:h trk:d:{t}a trk:d:{t}b");
    track_on2(w, redirect, "");
    write2(w, "SET trk:d:k1 1");
    write2(w, "SET trk:d:k2 1");
    step2(w, A, "GET trk:d:k1");
    write2(w, "SET trk:d:k2 2"); /* not read: no message */
    write2(w, "SET trk:d:k1 2");
    step2(w, A, "GET trk:d:k1");
    write2(w, "SET trk:d:k1 3");
    /* MGET across slots: each key is tracked. */
    step2(w, A, "MGET trk:d:k1 trk:d:k2 trk:d:k3");
    write2(w, "SET trk:d:k3 x");
    write2(w, "SET trk:d:k1 y");
    write2(w, "SET trk:d:k2 z");
    write2(w, "SET trk:d:k1 again"); /* invalidated already: no message */
    /* A's own write after its read: the reply, then the invalidation. */
    step2(w, A, "HSET trk:d:h f 1");
    step2(w, A, "HGET trk:d:h f");
    step2(w, A, "HDEL trk:d:h f");
    h_sleep_ms(SETTLE_MS);
    /* Inside a transaction: the invalidation after EXEC's reply. */
    step2(w, A, "MSET trk:d:{t}a 1 trk:d:{t}b 2");
    step2(w, A, "GET trk:d:{t}a");
    step2(w, A, "MULTI");
    step2(w, A, "SET trk:d:{t}a 2");
    step2(w, A, "GET trk:d:{t}b");
    step2(w, A, "EXEC");
    h_sleep_ms(SETTLE_MS);
    write2(w, "SET trk:d:{t}b 3");
    /* Flushes: one null each. */
    step2(w, A, "GET trk:d:k1");
    write2(w, "FLUSHALL");
    step2(w, A, "GET trk:d:k1");
    write2(w, "FLUSHDB");
    step2(w, A, "GET trk:d:k2");
    step2(w, A, "FLUSHALL");
    h_sleep_ms(SETTLE_MS);
    step2(w, A, "PING");
    /* Off: nothing more. RESET: off too. */
    step2(w, A, "GET trk:d:k1");
    step2(w, A, "CLIENT TRACKING off");
    write2(w, "SET trk:d:k1 off");
    step2(w, A, "PING");
    track_on2(w, redirect, "");
    step2(w, A, "GET trk:d:k1");
    step2(w, A, "RESET");
    write2(w, "SET trk:d:k1 reset");
    step2(w, A, "CLIENT TRACKINGINFO");
    char what[96];
    snprintf(what, sizeof(what), "default mode, A in RESP%d%s%s", aresp,
             redirect ? ", REDIRECT to S in RESP" : "", redirect ? (sresp == 3 ? "3" : "2") : "");
    compare_worlds(w, what);
    worlds_close(w);
}

START_TEST(test_cmp_default_resp3)
{
    default_scenario(3, 0, 0);
}
END_TEST

START_TEST(test_cmp_default_redirect)
{
    default_scenario(2, 1, 2);
    default_scenario(3, 1, 2);
    default_scenario(2, 1, 3);
    default_scenario(3, 1, 3);
}
END_TEST

/* Switching protocol while tracking (tracking.tcl): keys read in RESP2 are still invalidated,
 * through the REDIRECT, after HELLO 3, and back.
 *
 * Not compared: a RESP2 client without REDIRECT that reads and then switches to RESP3 gets,
 * from Redis, a push for the keys it read in RESP2; the proxy does not remember what such a
 * client reads (it could not have been told, so it could not have cached). */
START_TEST(test_cmp_protocol_switch)
{
    struct world w[2];
    worlds_open(w, 2, 2);
    step2(w, S, "SUBSCRIBE __redis__:invalidate");
    track_on2(w, 1, "");
    write2(w, "SET trk:ps:k1 1");
    step2(w, A, "GET trk:ps:k1");
    step2_quiet(w, A, '%', "HELLO 3");
    write2(w, "SET trk:ps:k1 2");
    step2(w, A, "GET trk:ps:k1");
    write2(w, "SET trk:ps:k1 3");
    step2_quiet(w, A, '*', "HELLO 2");
    step2(w, A, "GET trk:ps:k1");
    write2(w, "SET trk:ps:k1 4");
    /* Without REDIRECT: RESP3 gets pushes from its reads in RESP3. */
    step2(w, A, "CLIENT TRACKING off");
    step2_quiet(w, A, '%', "HELLO 3");
    step2(w, A, "CLIENT TRACKING on");
    step2(w, A, "GET trk:ps:k2");
    write2(w, "SET trk:ps:k2 1");
    step2(w, A, "GET trk:ps:k2");
    write2(w, "SET trk:ps:k2 2");
    step2(w, A, "PING");
    /* A key read in RESP2 (tracking on, no REDIRECT) is remembered: back in RESP3, its write is
     * pushed. */
    step2_quiet(w, A, '*', "HELLO 2");
    step2(w, A, "GET trk:ps:k3");
    step2_quiet(w, A, '%', "HELLO 3");
    write2(w, "SET trk:ps:k3 1");
    step2(w, A, "PING");
    compare_worlds(w, "protocol switches while tracking");
    worlds_close(w);
}
END_TEST

/* BCAST: one message per prefix with the keys written, prefixes added later, no prefix (every
 * key), NOLOOP, and a key that expires; A in RESP3, or RESP2 with REDIRECT. */
static void bcast_scenario(int aresp, int redirect)
{
    struct world w[2];
    worlds_open(w, aresp, 2);
    if (redirect) step2(w, S, "SUBSCRIBE __redis__:invalidate");
    track_on2(w, redirect, "BCAST PREFIX a: PREFIX b:");
    step2(w, B, "MULTI");
    static const char *const incr[] = {"a:1{t}", "a:2{t}", "b:1{t}", "b:2{t}", "c:1{t}"};
    for (int k = 0; k < 5; k++) step2(w, B, "INCR %s", incr[k]);
    write2(w, "EXEC");
    track_on2(w, redirect, "BCAST PREFIX c:");
    write2(w, "INCR c:1234");
    write2(w, "SET a:x 1");
    write2(w, "SET zz 1");
    write2(w, "SET b:y 1");
    write2(w, "SET c:z 1");
    write2(w, "DEL a:x b:y c:z zz a:none");
    step2(w, A, "CLIENT TRACKINGINFO");
    /* A flush: one null (a BCAST client that read something; one that read nothing since its
     * last flush message gets none from the proxy, where Redis sends one anyway). */
    step2(w, A, "GET a:x");
    write2(w, "FLUSHALL");
    step2(w, A, "CLIENT TRACKING off");
    write2(w, "SET a:off 1");
    track_on2(w, redirect, "BCAST");
    write2(w, "MSET x{t} 1 y{t} 2 z{t} 3");
    write2(w, "SET q 1");
    step2(w, A, "SET mine 1"); /* A's own write: told too (no NOLOOP) */
    h_sleep_ms(SETTLE_MS);
    step2(w, A, "CLIENT TRACKING off");
    track_on2(w, redirect, "BCAST NOLOOP");
    write2(w, "SET otherkey1 1");
    step2(w, A, "SET loopkey 1");
    h_sleep_ms(SETTLE_MS);
    write2(w, "SET otherkey2 1");
    /* An expiry is nobody's write: NOLOOP does not hide it. */
    step2(w, A, "SET mykey myval px 1");
    step2(w, A, "SET mykeyotherkey myval");
    h_sleep_ms(1200);
    step2(w, A, "CLIENT TRACKING off");
    track_on2(w, redirect, "BCAST PREFIX lp: NOLOOP");
    step2(w, A, "SET lp:1 1");
    write2(w, "SET lp:2 1");
    step2(w, A, "MSET lp:{t}3 1 lp:{t}4 1");
    h_sleep_ms(SETTLE_MS);
    write2(w, "MSET lp:{t}3 2 lp:{t}4 2");
    step2(w, A, "PING");
    char what[64];
    snprintf(what, sizeof(what), "BCAST, A in RESP%d%s", aresp, redirect ? " with REDIRECT" : "");
    compare_worlds(w, what);
    worlds_close(w);
}

START_TEST(test_cmp_bcast)
{
    bcast_scenario(3, 0);
    bcast_scenario(2, 1);
}
END_TEST

/* NOLOOP in default mode (tracking.tcl), and OPTIN / OPTOUT with CLIENT CACHING. */
static void optin_scenario(int aresp, int redirect)
{
    struct world w[2];
    worlds_open(w, aresp, 2);
    if (redirect) step2(w, S, "SUBSCRIBE __redis__:invalidate");
    track_on2(w, redirect, "NOLOOP");
    step2(w, A, "MGET otherkey1{t} loopkey{t} otherkey2{t}");
    write2(w, "SET otherkey1{t} 1");
    step2(w, A, "SET loopkey{t} 1");
    h_sleep_ms(SETTLE_MS);
    write2(w, "SET otherkey2{t} 1");
    write2(w, "SET loopkey{t} 2"); /* A's own write dropped it from the table */
    step2(w, A, "CLIENT TRACKING off");
    track_on2(w, redirect, "OPTIN");
    write2(w, "SET trk:o:k1 1");
    step2(w, A, "GET trk:o:k1");
    write2(w, "SET trk:o:k1 2");
    step2(w, A, "CLIENT CACHING yes");
    step2(w, A, "GET trk:o:k1");
    write2(w, "SET trk:o:k1 3");
    step2(w, A, "CLIENT CACHING yes");
    step2(w, A, "CLIENT GETNAME");
    step2(w, A, "CLIENT GETREDIR");
    step2(w, A, "GET trk:o:k2");
    step2(w, A, "GET trk:o:k3");
    write2(w, "SET trk:o:k2 1");
    write2(w, "SET trk:o:k3 1");
    step2(w, A, "CLIENT CACHING yes");
    step2(w, A, "PING");
    step2(w, A, "GET trk:o:k4");
    write2(w, "SET trk:o:k4 1");
    step2(w, A, "CLIENT CACHING yes");
    step2(w, A, "MGET trk:o:k5 trk:o:k6");
    write2(w, "SET trk:o:k5 1");
    write2(w, "SET trk:o:k6 1");
    step2(w, A, "CLIENT TRACKING off");
    track_on2(w, redirect, "OPTOUT");
    step2(w, A, "GET trk:o:k1");
    write2(w, "SET trk:o:k1 4");
    step2(w, A, "CLIENT CACHING no");
    step2(w, A, "GET trk:o:k2");
    step2(w, A, "GET trk:o:k3");
    write2(w, "SET trk:o:k2 2");
    write2(w, "SET trk:o:k3 2");
    step2(w, A, "CLIENT CACHING no");
    step2(w, A, "CLIENT ID");
    step2(w, A, "GET trk:o:k4");
    write2(w, "SET trk:o:k4 2");
    step2(w, A, "PING");
    char what[64];
    snprintf(what, sizeof(what), "NOLOOP, OPTIN, OPTOUT, A in RESP%d%s", aresp,
             redirect ? " with REDIRECT" : "");
    compare_worlds(w, what);
    worlds_close(w);
}

START_TEST(test_cmp_optin_noloop)
{
    optin_scenario(3, 0);
    optin_scenario(2, 1);
}
END_TEST

/* The REDIRECT target leaves: a RESP3 tracking client is told each time a message could not be
 * delivered (tracking-redir-broken), TRACKINGINFO says broken_redirect, GETREDIR keeps the id. */
START_TEST(test_cmp_redirect_broken)
{
    for (int aresp = 2; aresp <= 3; aresp++) {
        struct world w[2];
        worlds_open(w, aresp, 2);
        track_on2(w, 1, "");
        write2(w, "SET trk:rb:k1 1");
        step2(w, A, "GET trk:rb:k1");
        step2(w, S, "QUIT");
        for (int i = 0; i < 2; i++) h_rc_close(&w[i].c[S]);
        h_sleep_ms(SETTLE_MS);
        step2(w, A, "CLIENT TRACKINGINFO");
        write2(w, "SET trk:rb:k1 2");
        step2(w, A, "CLIENT TRACKINGINFO");
        step2(w, A, "CLIENT GETREDIR");
        step2(w, A, "GET trk:rb:k1");
        step2(w, A, "GET trk:rb:k2");
        write2(w, "MSET trk:rb:k1 3 trk:rb:k2 3");
        step2(w, A, "PING");
        /* Re-enabling clears the flag (and the id must exist again). */
        step2_sid(w, A, "CLIENT TRACKING on REDIRECT %lld");
        step2(w, A, "CLIENT TRACKING on");
        step2(w, A, "CLIENT TRACKINGINFO");
        char what[64];
        snprintf(what, sizeof(what), "a REDIRECT target that leaves, A in RESP%d", aresp);
        compare_worlds(w, what);
        worlds_close(w);
    }
}
END_TEST

/* ================================================================================================
 * Keys on every master, and the order of invalidations and replies
 * ============================================================================================== */

#define PER_MASTER 4

/* PER_MASTER keys on each master of the shared cluster: keys[i], i < nm * PER_MASTER. */
static int keys_everywhere(const struct smap *m, const char *pfx, char (*keys)[48])
{
    int n = 0;
    for (int k = 0; k < m->nm; k++)
        for (int j = 0; j < PER_MASTER; j++) {
            char p[32];
            snprintf(p, sizeof(p), "%.12s%d:%d:", pfx, k & 7, j & 7);
            key_on(m, m->masters[k], p, keys[n++], 48);
        }
    return n;
}

/* The index of the key named at off/len of x among keys, or -1. */
static int key_index(const char *x, size_t off, size_t len, char (*keys)[48], int n)
{
    for (int i = 0; i < n; i++)
        if (strlen(keys[i]) == len && memcmp(keys[i], x + off, len) == 0) return i;
    return -1;
}

/* A key on each master: read, written by another client, exactly Redis's push; MGET across the
 * three masters tracks each key; the table's figures in INFO. */
START_TEST(test_every_master)
{
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    ck_assert_int_eq(m.nm, 3);
    struct h_rc a;
    open3(&a, h_env.proxy_port);
    redisContext *b = h_connect(h_env.proxy_port);
    rc_ok(&a, "CLIENT TRACKING on");
    char k[3][48];
    for (int i = 0; i < 3; i++) {
        key_on(&m, m.masters[i], "trk:em:", k[i], sizeof(k[i]));
        h_expect_str(h_cmd(b, "SET %s v0", k[i]), "OK");
    }
    size_t n;
    for (int i = 0; i < 3; i++) {
        const char *x = rt(&a, &n, NULL, "GET %s", k[i]);
        EXPECT_LIT(x, n, "$2\r\nv0\r\n", "GET");
        h_expect_str(h_cmd(b, "SET %s v1", k[i]), "OK");
        x = next_frame(&a, &n, 3000);
        ck_assert_msg(x != NULL, "no invalidation for %s (master %d)", k[i], m.masters[i]);
        char what[96];
        snprintf(what, sizeof(what), "invalidation of %s on master %d", k[i], m.masters[i]);
        expect_inval(x, n, 1, k[i], what);
        ck_assert_ptr_null(next_frame(&a, &n, 200)); /* once */
    }
    /* MGET across the masters: each key told once, whichever master wrote it first. */
    const char *x = rt(&a, &n, NULL, "MGET %s %s %s", k[0], k[1], k[2]);
    EXPECT_LIT(x, n, "*3\r\n$2\r\nv1\r\n$2\r\nv1\r\n$2\r\nv1\r\n", "MGET");
    h_expect_str(h_cmd(b, "MSET %s v2 %s v2 %s v2", k[0], k[1], k[2]), "OK");
    int seen[3] = {0};
    for (int got = 0; got < 3; got++) {
        x = next_frame(&a, &n, 3000);
        ck_assert_msg(x != NULL, "%d of 3 invalidations after MSET", got);
        size_t off[4], len[4];
        ck_assert_int_eq(parse_inval(x, n, off, len, 4), 1);
        int j = key_index(x, off[0], len[0], k, 3);
        ck_assert_int_ge(j, 0);
        ck_assert_msg(!seen[j], "%s invalidated twice", k[j]);
        seen[j] = 1;
    }
    ck_assert_ptr_null(next_frame(&a, &n, 200));
    h_rc_close(&a);
    redisFree(b);
}
END_TEST

/* 1 when a key of the round had no invalidation at all. */
static int round_bad(const int *seen, int nk)
{
    for (int i = 0; i < nk; i++)
        if (!seen[i]) return 1;
    return 0;
}

/*
 * The order, thousands of times: A reads keys on every master (pipelined), B writes them and
 * gets its replies, A reads them again (pipelined). Each key's invalidation must reach A before
 * the reply to A's second read of it, as it does from one Redis server (the write happened
 * before A sent the read). A push that comes after that reply, late, or twice is counted.
 */
START_TEST(test_order_race)
{
    enum { ROUNDS = 2000 };
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    char keys[32][48];
    int nk = keys_everywhere(&m, "trk:or:", keys);
    redisContext *b = h_connect(h_env.proxy_port);
    for (int i = 0; i < nk; i++) h_expect_str(h_cmd(b, "SET %s -1", keys[i]), "OK");
    struct h_rc a;
    open3(&a, h_env.proxy_port);
    rc_ok(&a, "CLIENT TRACKING on");
    struct lg gets = {0};
    for (int i = 0; i < nk; i++) {
        char *req;
        int len = redisFormatCommand(&req, "GET %s", keys[i]);
        lg_put(&gets, req, (size_t)len);
        redisFreeCommand(req);
    }
    send_all(a.fd, gets.b, gets.n);
    size_t n;
    for (int i = 0; i < nk; i++) reply(&a, &n, NULL);
    long long after_reply = 0, late = 0, missing = 0, twice = 0, wrong = 0;
    long long late_before = 0, after_before = 0, bad_rounds = 0;
    uint64_t t0 = h_now_ms();
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < nk; i++) redisAppendCommand(b, "SET %s %d", keys[i], round);
        for (int i = 0; i < nk; i++) {
            redisReply *r;
            ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
            h_expect_str(r, "OK");
        }
        send_all(a.fd, gets.b, gets.n);
        int seen[32] = {0}, replies = 0;
        char want[32];
        int wl = snprintf(want, sizeof(want), "$%d\r\n%d\r\n",
                          round < 10     ? 1
                          : round < 100  ? 2
                          : round < 1000 ? 3
                                         : 4,
                          round);
        char trace[512];
        int tl = 0;
        while (replies < nk) {
            const char *x = h_rc_read(&a, &n);
            if (is_push(x, n)) {
                size_t off[32], len[32];
                int c = parse_inval(x, n, off, len, 32);
                ck_assert_msg(c > 0, "not an invalidation: %.*s", (int)n, x);
                for (int j = 0; j < c; j++) {
                    int idx = key_index(x, off[j], len[j], keys, nk);
                    if (tl < 480) tl += snprintf(trace + tl, sizeof(trace) - tl, " P%d", idx);
                    ck_assert_int_ge(idx, 0);
                    if (seen[idx]) twice++;
                    if (idx < replies) after_reply++;
                    seen[idx] = 1;
                }
                continue;
            }
            if (n != (size_t)wl || memcmp(x, want, n) != 0) wrong++;
            if (tl < 480) tl += snprintf(trace + tl, sizeof(trace) - tl, " R%d", replies);
            replies++;
        }
        for (int i = 0; i < nk; i++) {
            if (seen[i]) continue;
            const char *x = next_frame(&a, &n, 2000);
            if (!x) {
                missing++;
                break;
            }
            size_t off[32], len[32];
            int c = parse_inval(x, n, off, len, 32);
            for (int j = 0; j < c; j++) {
                int idx = key_index(x, off[j], len[j], keys, nk);
                if (idx < 0) continue;
                if (seen[idx]) twice++;
                seen[idx] = 1;
                late++; /* after every reply of the round, its own included */
            }
            i = -1; /* look again from the start */
        }
        int bad = round_bad(seen, nk) || late != late_before || after_reply != after_before;
        if (bad && bad_rounds++ < 5)
            fprintf(stderr,
                    "tracking: order: round %d: invalidations after the reply %lld, "
                    "missing %s:%s\n",
                    round, after_reply - after_before + late - late_before,
                    round_bad(seen, nk) ? "yes" : "no", trace);
        late_before = late;
        after_before = after_reply;
    }
    uint64_t ms = h_now_ms() - t0;
    fprintf(stderr,
            "tracking: order: %d rounds x %d keys on %d masters in %llu ms: %lld invalidations "
            "after the reply to the next read of their key (%lld of them after the whole "
            "round), %lld rounds with one missing, %lld twice, %lld wrong values, %lld rounds "
            "wrong\n",
            ROUNDS, nk, m.nm, (unsigned long long)ms, after_reply + late, late, missing, twice,
            wrong, bad_rounds);
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_eq(twice, 0);
    ck_assert_msg(after_reply + late == 0 && missing == 0,
                  "%lld invalidations reached the client after the reply to a read sent after "
                  "the write; %lld rounds with an invalidation missing",
                  after_reply + late, missing);
    lg_free(&gets);
    h_rc_close(&a);
    redisFree(b);
}
END_TEST

struct writer {
    int port, nk;
    char (*keys)[48];
    atomic_int stop;
    long long last[32]; /* the value of each key's last acknowledged SET */
    long long writes;
    char err[256];
};

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    redisContext *c = redisConnect("127.0.0.1", wr->port);
    if (!c || c->err) {
        snprintf(wr->err, sizeof(wr->err), "connect");
        return NULL;
    }
    long long v = 0;
    while (!atomic_load_explicit(&wr->stop, memory_order_relaxed)) {
        for (int i = 0; i < wr->nk; i++) redisAppendCommand(c, "SET %s %lld", wr->keys[i], ++v);
        for (int i = 0; i < wr->nk; i++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                snprintf(wr->err, sizeof(wr->err), "%s", c->errstr);
                redisFree(c);
                return NULL;
            }
            if (r->type == REDIS_REPLY_STATUS) wr->last[i] = v - wr->nk + 1 + i;
            freeReplyObject(r);
        }
        wr->writes += wr->nk;
    }
    redisFree(c);
    return NULL;
}

/*
 * No stale cache: B writes keys on every master as fast as it can while A reads them
 * (pipelined) and keeps a cache as a client would (a reply fills it, an invalidation empties
 * it). When B stops and the invalidations have arrived, every value still cached must be the
 * last one written. A message delivered ahead of the reply to a read that ran before the write
 * leaves an old value cached for good.
 */
START_TEST(test_no_stale)
{
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    char keys[32][48];
    int nk = keys_everywhere(&m, "trk:st:", keys);
    struct h_rc a;
    open3(&a, h_env.proxy_port);
    rc_ok(&a, "CLIENT TRACKING on");
    struct lg gets = {0};
    for (int i = 0; i < nk; i++) {
        char *req;
        int len = redisFormatCommand(&req, "GET %s", keys[i]);
        lg_put(&gets, req, (size_t)len);
        redisFreeCommand(req);
    }
    long long stale = 0, reads = 0, invalidations = 0, writes = 0;
    for (int round = 0; round < 8; round++) {
        struct writer wr = {.port = h_env.proxy_port, .nk = nk, .keys = keys};
        for (int i = 0; i < nk; i++) wr.last[i] = -1;
        long long cached[32];
        int valid[32] = {0};
        pthread_t th;
        pthread_create(&th, NULL, writer_main, &wr);
        uint64_t end = h_now_ms() + 700;
        size_t n;
        while (h_now_ms() < end) {
            send_all(a.fd, gets.b, gets.n);
            for (int replies = 0; replies < nk;) {
                const char *x = h_rc_read(&a, &n);
                if (is_push(x, n)) {
                    size_t off[32], len[32];
                    int c = parse_inval(x, n, off, len, 32);
                    ck_assert_msg(c > 0, "not an invalidation: %.*s", (int)n, x);
                    for (int j = 0; j < c; j++) {
                        int idx = key_index(x, off[j], len[j], keys, nk);
                        if (idx >= 0) valid[idx] = 0;
                    }
                    invalidations++;
                    continue;
                }
                valid[replies] = x[0] == '$' && x[1] != '-';
                if (valid[replies]) cached[replies] = atoll(memchr(x, '\n', n) + 1);
                replies++;
                reads++;
            }
        }
        atomic_store(&wr.stop, 1);
        pthread_join(th, NULL);
        ck_assert_msg(!wr.err[0], "writer: %s", wr.err);
        writes += wr.writes;
        const char *x;
        while ((x = next_frame(&a, &n, 500)) != NULL) {
            size_t off[32], len[32];
            int c = parse_inval(x, n, off, len, 32);
            for (int j = 0; j < c; j++) {
                int idx = key_index(x, off[j], len[j], keys, nk);
                if (idx >= 0) valid[idx] = 0;
            }
            invalidations++;
        }
        for (int i = 0; i < nk; i++)
            if (valid[i] && cached[i] != wr.last[i]) {
                fprintf(stderr, "tracking: stale: %s cached %lld, last written %lld\n", keys[i],
                        cached[i], wr.last[i]);
                stale++;
            }
    }
    fprintf(stderr,
            "tracking: no-stale: %lld reads and %lld writes at once, %lld invalidations, %lld "
            "values left stale\n",
            reads, writes, invalidations, stale);
    ck_assert_int_gt(invalidations, 0);
    ck_assert_int_eq(stale, 0);
    lg_free(&gets);
    h_rc_close(&a);
}
END_TEST

/* The GET of every key, pipelined, as one buffer. */
static void gets_of(struct lg *l, char (*keys)[48], int nk)
{
    for (int i = 0; i < nk; i++) {
        char *req;
        int len = redisFormatCommand(&req, "GET %s", keys[i]);
        lg_put(l, req, (size_t)len);
        redisFreeCommand(req);
    }
}

/* The SET of every key to value, pipelined, as one buffer. */
static void sets_of(struct lg *l, char (*keys)[48], int nk, const char *value)
{
    for (int i = 0; i < nk; i++) {
        char *req;
        int len = redisFormatCommand(&req, "SET %s %s", keys[i], value);
        lg_put(l, req, (size_t)len);
        redisFreeCommand(req);
    }
}

/* Marks in seen the keys of every invalidation S receives within ms; returns how many keys
 * are still unseen. */
static int collect(struct h_rc *s, char (*keys)[48], int nk, int *seen, int ms)
{
    uint64_t end = h_now_ms() + (uint64_t)ms;
    int left = nk;
    for (int i = 0; i < nk; i++) left -= seen[i] != 0;
    size_t n;
    const char *x;
    while (left > 0 && h_now_ms() < end && (x = next_frame(s, &n, 50)) != NULL) {
        size_t off[32], len[32];
        int c = parse_inval(x, n, off, len, 32);
        ck_assert_msg(c > 0, "not an invalidation: %.*s", (int)n, x);
        for (int j = 0; j < c && j < 32; j++) {
            int idx = key_index(x, off[j], len[j], keys, nk);
            if (idx >= 0 && !seen[idx]) {
                seen[idx] = 1;
                left--;
            }
        }
    }
    return left;
}

/*
 * A read that races with a write must stay tracked when it ran after the write. A (REDIRECT to
 * S) reads keys on every master while B writes them, at the same moment, so the node runs them
 * in either order. A read that returned the old value ran first: S must hear of the racing
 * write. A read that returned the new value ran after it, and the node tracks it again: once
 * both are done and S is quiet, B writes the keys again and S must hear of each such key. (A
 * read registered before the invalidation of the racing write was processed, then forgotten
 * with it, leaves A's value cached with no invalidation to come.)
 */
static void redirect_race(int aresp, long long *missing_out, long long *rounds_out)
{
    enum { ROUNDS = 60 };
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    char keys[32][48];
    char pfx[32];
    snprintf(pfx, sizeof(pfx), "trk:rr%d:", aresp);
    int nk = keys_everywhere(&m, pfx, keys);
    struct h_rc a, b, s;
    if (aresp == 3)
        open3(&a, h_env.proxy_port);
    else
        h_rc_open(&a, h_env.proxy_port);
    h_rc_open(&b, h_env.proxy_port);
    h_rc_open(&s, h_env.proxy_port);
    long long sid = rc_id(&s);
    size_t n;
    const char *x = rt(&s, &n, NULL, "SUBSCRIBE __redis__:invalidate");
    ck_assert_msg(x[0] == '*', "%.*s", (int)n, x);
    rc_ok(&a, "CLIENT TRACKING on REDIRECT %lld", sid);
    struct lg gets = {0};
    gets_of(&gets, keys, nk);
    long long missing = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct lg sets = {0}, again = {0};
        char v[32], v0[32];
        snprintf(v0, sizeof(v0), "%d", round);
        sets_of(&sets, keys, nk, v0);
        snprintf(v, sizeof(v), "%d.again", round);
        sets_of(&again, keys, nk, v);
        /* At once: the reads and the writes in flight together, either first. */
        if (round & 1) {
            send_all(a.fd, gets.b, gets.n);
            send_all(b.fd, sets.b, sets.n);
        } else {
            send_all(b.fd, sets.b, sets.n);
            send_all(a.fd, gets.b, gets.n);
        }
        /* Which reads ran after the racing write: they returned its value. */
        int fresh[32] = {0};
        char want[48];
        int wl = snprintf(want, sizeof(want), "$%zu\r\n%s\r\n", strlen(v0), v0);
        for (int i = 0; i < nk; i++) {
            const char *got = reply(&a, &n, NULL);
            fresh[i] = n == (size_t)wl && memcmp(got, want, n) == 0;
        }
        for (int i = 0; i < nk; i++) reply(&b, &n, NULL);
        /* Keys that need no message in a phase count as seen in it (collect waits for the rest;
         * extra messages are allowed). */
        int seen_race[32] = {0};
        for (int i = 0; i < nk; i++) seen_race[i] = fresh[i];
        collect(&s, keys, nk, seen_race, 2000);
        drain(&s, NULL, 50);
        /* Now a write that certainly comes after A's read. */
        send_all(b.fd, again.b, again.n);
        for (int i = 0; i < nk; i++) reply(&b, &n, NULL);
        int seen[32] = {0};
        for (int i = 0; i < nk; i++) seen[i] = !fresh[i];
        collect(&s, keys, nk, seen, 2000);
        drain(&s, NULL, 20);
        int left = 0;
        for (int i = 0; i < nk; i++) left += !seen[i] + !seen_race[i];
        if (left && missing < 3)
            fprintf(stderr,
                    "tracking: redirect race (A in RESP%d): round %d: %d of %d keys "
                    "not invalidated (the racing write for a value read before it, the next "
                    "one for a value read after it)\n",
                    aresp, round, left, nk);
        missing += left;
        lg_free(&sets);
        lg_free(&again);
    }
    lg_free(&gets);
    h_rc_close(&a);
    h_rc_close(&b);
    h_rc_close(&s);
    *missing_out = missing;
    *rounds_out = ROUNDS;
}

START_TEST(test_redirect_race)
{
    long long miss2, miss3, rounds;
    redirect_race(2, &miss2, &rounds);
    redirect_race(3, &miss3, &rounds);
    fprintf(stderr,
            "tracking: redirect race: %lld rounds x %d keys: %lld invalidations lost (A in "
            "RESP2), %lld (A in RESP3)\n",
            rounds, 3 * PER_MASTER, miss2, miss3);
    ck_assert_msg(miss2 == 0 && miss3 == 0,
                  "reads that raced with a write were forgotten: %lld later writes never "
                  "invalidated (RESP2), %lld (RESP3)",
                  miss2, miss3);
}
END_TEST

/* ================================================================================================
 * REDIRECT across workers
 * ============================================================================================== */

/* The worker serving client id, from the debug port's /debug/clients. */
static int worker_of(int dport, long long id)
{
    struct h_http hh;
    h_http(dport, "GET", "/debug/clients", 5000, &hh);
    char key[64];
    snprintf(key, sizeof(key), "\"id\":%lld,", id);
    const char *p = strstr(hh.body, key);
    ck_assert_msg(p != NULL, "client %lld not in /debug/clients", id);
    const char *w = p;
    while (w > hh.body && strncmp(w, "{\"worker\":", 10) != 0) w--;
    int worker = atoi(w + 10);
    h_http_free(&hh);
    return worker;
}

/*
 * A proxy with two workers and clients spread over both: RESP2 and RESP3 tracking clients
 * redirecting to one subscriber, some on its worker and some on the other. Every invalidation,
 * every flush null (in the tracking client's protocol) and every tracking-redir-broken arrives.
 */
START_TEST(test_redirect_workers)
{
    enum { NA = 8 };
    int port = h_env.cluster_port + 410, dport = port + 1;
    char dbg[32];
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", dport);
    /* Spread at connect, whatever the load (by default an idle proxy packs them on one). */
    const char *extra[] = {"-threads", "2", "-worker-busy", "0", "-debug-addr", dbg, NULL};
    pid_t pid = own_proxy(port, h_env.cluster_port, "proxy-trk-workers.log", extra);
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    for (int sresp = 2; sresp <= 3; sresp++) {
        struct h_rc s, a[NA];
        if (sresp == 3)
            open3(&s, port);
        else
            h_rc_open(&s, port);
        long long sid = rc_id(&s);
        size_t n;
        sendf(&s, "SUBSCRIBE __redis__:invalidate");
        h_rc_read(&s, &n);
        int sw = worker_of(dport, sid), same = 0, other = 0;
        char keys[NA][48];
        redisContext *b = h_connect(port);
        for (int i = 0; i < NA; i++) {
            int aresp = 2 + (i & 1);
            if (aresp == 3)
                open3(&a[i], port);
            else
                h_rc_open(&a[i], port);
            if (worker_of(dport, rc_id(&a[i])) == sw)
                same++;
            else
                other++;
            char pfx[32];
            snprintf(pfx, sizeof(pfx), "trk:rw%d:%d:", sresp, i);
            key_on(&m, m.masters[i % m.nm], pfx, keys[i], sizeof(keys[i]));
            rc_ok(&a[i], "CLIENT TRACKING on REDIRECT %lld", sid);
            h_expect_str(h_cmd(b, "SET %s 1", keys[i]), "OK");
            sendf(&a[i], "GET %s", keys[i]);
            const char *x = reply(&a[i], &n, NULL);
            EXPECT_LIT(x, n, "$1\r\n1\r\n", "GET");
        }
        ck_assert_msg(same > 0 && other > 0, "tracking clients on S's worker: %d, on the other: %d",
                      same, other);
        for (int i = 0; i < NA; i++) h_expect_str(h_cmd(b, "SET %s 2", keys[i]), "OK");
        int seen[NA] = {0};
        ck_assert_int_eq(collect(&s, keys, NA, seen, 5000), 0);
        ck_assert_ptr_null(next_frame(&s, &n, 200));
        /* The messages have the subscriber's protocol. */
        for (int i = 0; i < NA; i++) {
            sendf(&a[i], "GET %s", keys[i]);
            reply(&a[i], &n, NULL);
        }
        h_expect_str(h_cmd(b, "SET %s 3", keys[0]), "OK");
        const char *x = next_frame(&s, &n, 3000);
        ck_assert_ptr_nonnull(x);
        expect_inval(x, n, sresp == 3, keys[0], "a REDIRECTed invalidation");
        /* FLUSHALL: one null per tracking client, in that client's protocol. */
        h_expect_str(h_cmd(b, "FLUSHALL"), "OK");
        int nulls2 = 0, nulls3 = 0;
        while ((x = next_frame(&s, &n, 500)) != NULL) {
            size_t off[4], len[4];
            int c = parse_inval(x, n, off, len, 4);
            if (c > 0) continue; /* keys[1..] were still tracked: they may come first */
            ck_assert_int_eq(c, -1);
            if (memcmp(x + n - 3, "_\r\n", 3) == 0)
                nulls3++;
            else if (memcmp(x + n - 5, "$-1\r\n", 5) == 0)
                nulls2++;
        }
        ck_assert_msg(nulls2 == NA / 2 && nulls3 == NA / 2,
                      "FLUSHALL: %d RESP2 and %d RESP3 nulls for %d and %d tracking clients",
                      nulls2, nulls3, NA / 2, NA / 2);
        /* S goes: the RESP3 clients hear of it at the next message, each time. */
        for (int i = 0; i < NA; i++) {
            sendf(&a[i], "GET %s", keys[i]);
            reply(&a[i], &n, NULL);
        }
        h_rc_close(&s);
        h_sleep_ms(200);
        for (int i = 0; i < NA; i++) h_expect_str(h_cmd(b, "SET %s 4", keys[i]), "OK");
        char want[96];
        int wl =
            snprintf(want, sizeof(want), ">2\r\n$21\r\ntracking-redir-broken\r\n:%lld\r\n", sid);
        for (int i = 0; i < NA; i++) {
            struct lg pushes = {0};
            h_sleep_ms(50);
            x = rt(&a[i], &n, &pushes, "CLIENT TRACKINGINFO");
            ck_assert_msg(memmem(x, n, "$15\r\nbroken_redirect\r\n", 22) != NULL,
                          "client %d: TRACKINGINFO without broken_redirect: %.*s", i, (int)n, x);
            drain(&a[i], &pushes, 200);
            if (i & 1)
                expect_bytes(pushes.b, pushes.n, want, (size_t)wl, "tracking-redir-broken");
            else
                ck_assert_uint_eq(pushes.n, 0);
            lg_free(&pushes);
        }
        for (int i = 0; i < NA; i++) h_rc_close(&a[i]);
        redisFree(b);
    }
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-trk-workers.log"), 0);
}
END_TEST

/* ================================================================================================
 * Faults
 * ============================================================================================== */

/* The local ports of pid's TCP connections to port rport (from /proc). */
static int conn_ports(pid_t pid, int rport, int *ports, int max)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    static unsigned long inodes[8192];
    int ni = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && ni < 8192) {
        char lp[320], tgt[64];
        snprintf(lp, sizeof(lp), "%s/%s", dir, de->d_name);
        ssize_t l = readlink(lp, tgt, sizeof(tgt) - 1);
        if (l <= 0) continue;
        tgt[l] = '\0';
        unsigned long ino;
        if (sscanf(tgt, "socket:[%lu]", &ino) == 1) inodes[ni++] = ino;
    }
    closedir(d);
    FILE *f = fopen("/proc/net/tcp", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f) && n < max) {
        unsigned laddr, lport, raddr, rp, st;
        unsigned long ino;
        if (sscanf(line, " %*d: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %*d %*d %lu", &laddr, &lport,
                   &raddr, &rp, &st, &ino) != 6 ||
            (int)rp != rport)
            continue;
        for (int k = 0; k < ni; k++)
            if (inodes[k] == ino) {
                ports[n++] = (int)lport;
                break;
            }
    }
    fclose(f);
    return n;
}

/* Kills, on the node on node_port, the connections of proxy pid whose CLIENT LIST flags are
 * exactly flags ("t": a tracking runner, "tB": a BCAST one). Returns how many. */
static int kill_proxy_conns(int node_port, pid_t pid, const char *flags)
{
    int ports[256];
    int np = conn_ports(pid, node_port, ports, 256);
    redisContext *c = h_connect(node_port);
    redisReply *r = h_cmd(c, "CLIENT LIST");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    int killed = 0;
    char want[32];
    snprintf(want, sizeof(want), " flags=%s ", flags);
    for (char *line = r->str; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        long long id = -1;
        int port = -1;
        const char *p = strstr(line, "id=");
        if (p == line) id = atoll(p + 3);
        p = strstr(line, " addr=127.0.0.1:");
        if (p) port = atoi(p + 16);
        int mine = 0;
        for (int k = 0; k < np; k++) mine |= ports[k] == port;
        if (mine && id >= 0 && strstr(line, want)) {
            redisReply *k = h_cmd(c, "CLIENT KILL ID %lld", id);
            killed += k->type == REDIS_REPLY_INTEGER && k->integer == 1;
            freeReplyObject(k);
        }
        line = eol ? eol + 1 : NULL;
    }
    freeReplyObject(r);
    redisFree(c);
    return killed;
}

/*
 * The proxy's tracking connection to one master is killed on the node: the keys read through it
 * are invalidated (and only those); after reading again, a write invalidates again (the new
 * connection tracks). The listener to another master killed: its keys read by a RESP2 client
 * (REDIRECT) are invalidated, and a BCAST client gets a flush.
 */
START_TEST(test_fault_conn_drop)
{
    int port = h_env.cluster_port + 412;
    const char *extra[] = {"-threads", "1", NULL};
    pid_t pid = own_proxy(port, h_env.cluster_port, "proxy-trk-drop.log", extra);
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    char k[3][48];
    redisContext *b = h_connect(port);
    for (int i = 0; i < 3; i++) {
        key_on(&m, m.masters[i], "trk:cd:", k[i], sizeof(k[i]));
        h_expect_str(h_cmd(b, "SET %s v", k[i]), "OK");
    }
    struct h_rc a, a2, s2, bc;
    open3(&a, port);
    rc_ok(&a, "CLIENT TRACKING on");
    h_rc_open(&s2, port);
    long long s2id = rc_id(&s2);
    size_t n;
    rt(&s2, &n, NULL, "SUBSCRIBE __redis__:invalidate");
    h_rc_open(&a2, port);
    rc_ok(&a2, "CLIENT TRACKING on REDIRECT %lld", s2id);
    open3(&bc, port);
    rc_ok(&bc, "CLIENT TRACKING on BCAST");
    const char *x;
    for (int i = 0; i < 3; i++) {
        rt(&a, &n, NULL, "GET %s", k[i]);
        rt(&a2, &n, NULL, "GET %s", k[i]);
    }
    h_sleep_ms(100);
    x = next_frame(&a, &n, 100);
    char shown[512];
    ck_assert_msg(x == NULL, "before the kill: %s",
                  x ? h_show(x, n, 300, shown, sizeof(shown)) : "");
    /* The tracking runner to master 0. */
    int killed = kill_proxy_conns(m.masters[0], pid, "t");
    ck_assert_int_ge(killed, 1);
    x = next_frame(&a, &n, 5000);
    ck_assert_msg(x != NULL, "no invalidation after the tracking connection to %d died",
                  m.masters[0]);
    expect_inval(x, n, 1, k[0], "invalidation after the tracking connection died");
    ck_assert_ptr_null(next_frame(&a, &n, 300));
    x = rt(&a, &n, NULL, "GET %s", k[0]);
    EXPECT_LIT(x, n, "$1\r\nv\r\n", "GET after the connection died");
    h_expect_str(h_cmd(b, "SET %s w", k[0]), "OK");
    x = next_frame(&a, &n, 3000);
    ck_assert_msg(x != NULL, "no invalidation from the new tracking connection");
    expect_inval(x, n, 1, k[0], "invalidation through the new tracking connection");
    /* The writes told S2 (through the listener) and the BCAST client. */
    drain(&s2, NULL, 300);
    drain(&bc, NULL, 300);
    /* The listener to master 1. */
    killed = kill_proxy_conns(m.masters[1], pid, "tB");
    ck_assert_int_ge(killed, 1);
    x = next_frame(&s2, &n, 5000);
    ck_assert_msg(x != NULL, "no invalidation to S2 after the listener died");
    expect_inval(x, n, 0, k[1], "RESP2 invalidation after the listener died");
    x = next_frame(&bc, &n, 5000);
    ck_assert_msg(x != NULL, "no flush for the BCAST client after the listener died");
    EXPECT_LIT(x, n, ">2\r\n$10\r\ninvalidate\r\n_\r\n", "BCAST flush after the listener died");
    ck_assert_ptr_null(next_frame(&s2, &n, 300));
    /* A read k[1] too, on its tracking runner, which is still up: an invalidation of k[1] (the
     * entry is shared) is more than needed but harmless; anything else is wrong. */
    if ((x = next_frame(&a, &n, 100)) != NULL)
        expect_inval(x, n, 1, k[1], "the tracking client after the listener died");
    ck_assert_ptr_null(next_frame(&a, &n, 100));
    /* The new listener hears writes again. */
    h_expect_str(h_cmd(b, "SET %s w", k[1]), "OK");
    x = next_frame(&bc, &n, 3000);
    ck_assert_msg(x != NULL, "no BCAST invalidation after the listener came back");
    expect_inval(x, n, 1, k[1], "BCAST invalidation after the listener came back");
    h_rc_close(&a);
    h_rc_close(&a2);
    h_rc_close(&s2);
    h_rc_close(&bc);
    redisFree(b);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-trk-drop.log"), 0);
}
END_TEST

#define OWN_NAME "tracking"

/* Moves slot from the master on src to the one on dst as redis-cli does: IMPORTING, MIGRATING,
 * MIGRATE of its keys, then NODE on every master. */
static void move_slot(int base, int slot, int src, int dst)
{
    char sid[41], did[41];
    ck_assert_int_eq(h_node_id(src, sid), 0);
    ck_assert_int_eq(h_node_id(dst, did), 0);
    redisContext *s = h_connect(src), *d = h_connect(dst);
    h_expect_str(h_cmd(d, "CLUSTER SETSLOT %d IMPORTING %s", slot, sid), "OK");
    h_expect_str(h_cmd(s, "CLUSTER SETSLOT %d MIGRATING %s", slot, did), "OK");
    for (;;) {
        redisReply *r = h_cmd(s, "CLUSTER GETKEYSINSLOT %d 100", slot);
        size_t nk = r->elements;
        for (size_t i = 0; i < nk; i++) {
            redisReply *mr = h_cmd(s, "MIGRATE 127.0.0.1 %d %s 0 5000", dst, r->element[i]->str);
            h_expect_str(mr, "OK");
        }
        freeReplyObject(r);
        if (nk == 0) break;
    }
    for (int i = 0; i < 6; i++) {
        if (!h_is_master(base + i)) continue;
        redisContext *c = h_connect(base + i);
        h_expect_str(h_cmd(c, "CLUSTER SETSLOT %d NODE %s", slot, did), "OK");
        redisFree(c);
    }
    redisFree(s);
    redisFree(d);
}

/* Collects the keys of invalidations (or a flush) on a within ms until every key of want has
 * come; returns 1 when they all did. */
static struct lg *got_log; /* when set: what wait_invalidated saw, for failure messages */

static int wait_invalidated(struct h_rc *a, const char *const *want, int nw, int ms)
{
    int seen[8] = {0}, left = nw;
    uint64_t end = h_now_ms() + (uint64_t)ms;
    size_t n;
    const char *x;
    while (left > 0 && h_now_ms() < end) {
        if ((x = next_frame(a, &n, 100)) == NULL) continue;
        size_t off[16], len[16];
        int c = parse_inval(x, n, off, len, 16);
        char shown[512];
        if (got_log) lg_put(got_log, h_show(x, n, 200, shown, sizeof(shown)), strlen(shown));
        if (got_log) lg_put(got_log, " ", 1);
        ck_assert_msg(c != -2, "not an invalidation: %.*s", (int)n, x);
        if (c == -1) return 1; /* a flush covers them all */
        for (int j = 0; j < c && j < 16; j++)
            for (int w = 0; w < nw; w++)
                if (!seen[w] && strlen(want[w]) == len[j] &&
                    memcmp(want[w], x + off[j], len[j]) == 0) {
                    seen[w] = 1;
                    left--;
                }
    }
    return left == 0;
}

/*
 * A slot moves to another master (on a cluster of the suite's own): the keys read there are
 * invalidated, the one the migration deleted and the one that never existed alike; read again
 * from the new owner, a write there invalidates again. A BCAST client hears of both.
 */
START_TEST(test_fault_migration)
{
    int base = h_env.cluster_port + 400, port = h_env.cluster_port + 410;
    ck_assert_int_eq(h_cluster_start(OWN_NAME, base), 0);
    const char *extra[] = {"-threads", "1", "-slots-reload-interval", "1s", NULL};
    pid_t pid = own_proxy(port, base, "proxy-trk-migrate.log", extra);
    const char *k1 = "{trkmv}present", *k2 = "{trkmv}absent";
    int slot = (int)crc16_key_slot(k1, strlen(k1));
    int src = h_owner_port(base, k1, strlen(k1)), dst = -1;
    for (int i = 0; i < 3 && dst < 0; i++)
        if (base + i != src && h_is_master(base + i)) dst = base + i;
    ck_assert_int_gt(dst, 0);
    redisContext *b = h_connect(port);
    h_expect_str(h_cmd(b, "SET %s v1", k1), "OK");
    struct h_rc a, bc;
    open3(&a, port);
    rc_ok(&a, "CLIENT TRACKING on");
    open3(&bc, port);
    rc_ok(&bc, "CLIENT TRACKING on BCAST PREFIX {trkmv}");
    size_t n;
    const char *x = rt(&a, &n, NULL, "MGET %s %s", k1, k2);
    EXPECT_LIT(x, n, "*2\r\n$2\r\nv1\r\n_\r\n", "MGET before the move");
    move_slot(base, slot, src, dst);
    const char *both[] = {k1, k2};
    uint64_t t0 = h_now_ms();
    struct lg seen = {0};
    lg_put(&seen, "", 0);
    got_log = &seen;
    int ok = wait_invalidated(&a, both, 2, 10000);
    got_log = NULL;
    ck_assert_msg(ok,
                  "the keys of slot %d were not both invalidated after it moved %d -> %d; the "
                  "client got: %s",
                  slot, src, dst, seen.b);
    lg_free(&seen);
    fprintf(stderr, "tracking: migration: both keys invalidated %llu ms after the move\n",
            (unsigned long long)(h_now_ms() - t0));
    ck_assert_msg(wait_invalidated(&bc, both, 1, 10000), "the BCAST client heard nothing");
    drain(&bc, NULL, 300);
    /* Read again, now from the new owner; a write there invalidates again. */
    x = rt(&a, &n, NULL, "MGET %s %s", k1, k2);
    EXPECT_LIT(x, n, "*2\r\n$2\r\nv1\r\n_\r\n", "MGET after the move");
    drain(&a, NULL, 300);
    ck_assert_int_eq(h_owner_port(base, k1, strlen(k1)), dst);
    h_expect_str(h_cmd(b, "SET %s v2", k2), "OK");
    x = next_frame(&a, &n, 5000);
    ck_assert_msg(x != NULL, "no invalidation from the new owner");
    expect_inval(x, n, 1, k2, "invalidation from the new owner");
    x = next_frame(&bc, &n, 5000);
    ck_assert_msg(x != NULL, "no BCAST invalidation from the new owner");
    expect_inval(x, n, 1, k2, "BCAST invalidation from the new owner");
    x = rt(&a, &n, NULL, "GET %s", k1);
    EXPECT_LIT(x, n, "$2\r\nv1\r\n", "the migrated value");
    h_rc_close(&a);
    h_rc_close(&bc);
    redisFree(b);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-trk-migrate.log"), 0);
    h_cluster_stop(OWN_NAME);
}
END_TEST

/*
 * The master of a read key is killed with SIGKILL (on a cluster of the suite's own): the client
 * is told (an invalidation of the key or a flush) before the replica takes over; afterwards reads
 * give the replicated value, and a write on the new master invalidates again.
 */
START_TEST(test_fault_failover)
{
    int base = h_env.cluster_port + 400, port = h_env.cluster_port + 410;
    ck_assert_int_eq(h_cluster_start(OWN_NAME, base), 0);
    const char *extra[] = {"-threads", "1", "-slots-reload-interval", "1s", NULL};
    pid_t pid = own_proxy(port, base, "proxy-trk-failover.log", extra);
    struct smap m;
    smap_load(&m, base);
    char k[48], other[48];
    key_on(&m, m.masters[0], "trk:fo:", k, sizeof(k));
    key_on(&m, m.masters[1], "trk:fo:", other, sizeof(other));
    char id[41];
    ck_assert_int_eq(h_node_id(m.masters[0], id), 0);
    int replica = h_replica_of(m.masters[1], id);
    ck_assert_int_gt(replica, 0);
    redisContext *b = h_connect(port);
    h_expect_str(h_cmd(b, "SET %s before", k), "OK");
    h_expect_str(h_cmd(b, "SET %s before", other), "OK");
    redisContext *mc = h_connect(m.masters[0]);
    h_expect_int(h_cmd(mc, "WAIT 1 2000"), 1);
    redisFree(mc);
    struct h_rc a, bc;
    open3(&a, port);
    rc_ok(&a, "CLIENT TRACKING on");
    open3(&bc, port);
    rc_ok(&bc, "CLIENT TRACKING on BCAST");
    size_t n;
    const char *x = rt(&a, &n, NULL, "GET %s", k);
    EXPECT_LIT(x, n, "$6\r\nbefore\r\n", "GET before");
    rt(&a, &n, NULL, "GET %s", other);
    pid_t victim = h_cluster_pid(OWN_NAME, m.masters[0]);
    ck_assert_int_gt(victim, 0);
    uint64_t t0 = h_now_ms();
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    const char *one[] = {k};
    int told = wait_invalidated(&a, one, 1, 10000);
    uint64_t told_ms = h_now_ms() - t0;
    int bc_told = 0;
    while ((x = next_frame(&bc, &n, 2000)) != NULL)
        if (parse_inval(x, n, NULL, NULL, 0) == -1) bc_told = 1;
    /* The replica takes over; the proxy serves the slot again. */
    uint64_t promoted = 0, served = 0;
    while (h_now_ms() - t0 < 30000 && !served) {
        if (!promoted && h_is_master(replica)) promoted = h_now_ms();
        redisReply *r = redisCommand(b, "GET %s", k);
        if (!r) {
            redisFree(b);
            b = h_connect(port);
            continue;
        }
        if (r->type == REDIS_REPLY_STRING) served = h_now_ms();
        freeReplyObject(r);
        if (!served) h_sleep_ms(100);
    }
    fprintf(stderr,
            "tracking: failover: the client told %llu ms after the SIGKILL, the replica promoted "
            "after %llu ms, the key served again after %llu ms\n",
            (unsigned long long)told_ms, (unsigned long long)(promoted ? promoted - t0 : 0),
            (unsigned long long)(served ? served - t0 : 0));
    ck_assert_msg(told, "the tracking client was not told about %s after its master died", k);
    ck_assert_msg(bc_told, "the BCAST client got no flush after a master died");
    ck_assert_msg(served, "the key was not served again within 30 s");
    drain(&a, NULL, 200);
    x = rt(&a, &n, NULL, "GET %s", k);
    EXPECT_LIT(x, n, "$6\r\nbefore\r\n", "the replicated value after the failover");
    h_expect_str(h_cmd(b, "SET %s after", k), "OK");
    x = next_frame(&a, &n, 5000);
    ck_assert_msg(x != NULL, "no invalidation from the new master");
    expect_inval(x, n, 1, k, "invalidation from the new master");
    x = rt(&a, &n, NULL, "GET %s", k);
    EXPECT_LIT(x, n, "$5\r\nafter\r\n", "GET after");
    /* The other master's key is still tracked. */
    h_expect_str(h_cmd(b, "SET %s after", other), "OK");
    ck_assert_msg(wait_invalidated(&a, (const char *const[]){other}, 1, 5000),
                  "no invalidation for a key of another master");
    h_rc_close(&a);
    h_rc_close(&bc);
    redisFree(b);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-trk-failover.log"), 0);
    h_cluster_stop(OWN_NAME);
}
END_TEST

/* ================================================================================================
 * Hostile input
 * ============================================================================================== */

/* CLIENT TRACKING on BCAST with count prefixes "<pfx><i>:" in one command. */
static void many_prefixes_cmd(struct lg *l, const char *pfx, int count)
{
    const char **argv = malloc(sizeof(*argv) * (size_t)(4 + 2 * count));
    size_t *lens = malloc(sizeof(*lens) * (size_t)(4 + 2 * count));
    char(*names)[24] = malloc(sizeof(*names) * (size_t)count);
    int c = 0;
    argv[c++] = "CLIENT";
    argv[c++] = "TRACKING";
    argv[c++] = "on";
    argv[c++] = "BCAST";
    for (int i = 0; i < count; i++) {
        snprintf(names[i], sizeof(names[i]), "%s%04d:", pfx, i);
        argv[c++] = "PREFIX";
        argv[c++] = names[i];
    }
    for (int i = 0; i < c; i++) lens[i] = strlen(argv[i]);
    char *req;
    int len = redisFormatCommandArgv(&req, c, argv, lens);
    lg_put(l, req, (size_t)len);
    redisFreeCommand(req);
    free(argv);
    free(lens);
    free(names);
}

/*
 * Thousands of prefixes, compared with Redis: 3,000 in one command, then 1,000 more one per
 * command, pipelined; TRACKINGINFO lists them all in Redis's order; writes to keys under three
 * of them, on different masters, give one message each, and a key under none gives nothing.
 */
START_TEST(test_many_prefixes)
{
    struct world w[2];
    worlds_open(w, 3, 2);
    struct lg big = {0}, many = {0};
    many_prefixes_cmd(&big, "p", 3000);
    for (int i = 0; i < 1000; i++) {
        char *req;
        int len = redisFormatCommand(&req, "CLIENT TRACKING on BCAST PREFIX q%04d:", i);
        lg_put(&many, req, (size_t)len);
        redisFreeCommand(req);
    }
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = h_now_ms();
        send_all(w[i].c[A].fd, big.b, big.n);
        size_t n;
        const char *x = h_rc_read(&w[i].c[A], &n);
        EXPECT_LIT(x, n, "+OK\r\n", "3,000 prefixes");
        send_all(w[i].c[A].fd, many.b, many.n);
        for (int k = 0; k < 1000; k++) {
            x = h_rc_read(&w[i].c[A], &n);
            EXPECT_LIT(x, n, "+OK\r\n", "one prefix more");
        }
        if (i == 0)
            fprintf(stderr,
                    "tracking: 3,000 prefixes in one command and 1,000 in 1,000 took "
                    "%llu ms through the proxy\n",
                    (unsigned long long)(h_now_ms() - t0));
    }
    step2(w, A, "CLIENT TRACKINGINFO");
    step2(w, A, "CLIENT TRACKING on BCAST PREFIX p2999:x");
    step2(w, A, "CLIENT TRACKING on BCAST PREFIX q");
    write2(w, "SET p0017:key 1");
    write2(w, "SET p2999:key 1");
    write2(w, "SET q0999:key 1");
    write2(w, "SET nope:p0001: 1");
    write2(w, "MSET {pp}x 1 p1234:{pp}y 1 q0001:{pp}z 1");
    long long prefixes = h_info_num(h_env.proxy_port, "tracking_total_prefixes");
    ck_assert_msg(prefixes >= 4000, "INFO tracking_total_prefixes: %lld", prefixes);
    compare_worlds(w, "thousands of prefixes");
    worlds_close(w);
    lg_free(&big);
    lg_free(&many);
}
END_TEST

/*
 * A tracking client's own write, pipelined in one write with the commands after it: Redis sends
 * the invalidation for a key the client itself modified right behind that command's reply,
 * before the reply to anything later (Redis 7.0 defers the current client's own invalidations
 * until its reply is written). Through the proxy the write's push arrives on the tracking
 * connection right behind its reply, and must be delivered there, not after the later replies
 * (PING's, answered by the proxy itself, or a read of another master's).
 */

/* Sends n commands (argv vectors, NULL-terminated each) in one write to port; the first is
 * HELLO (its reply, which differs between the proxy and Redis, is checked for its type and not
 * logged). Every frame up to the reply to the last command, and what follows within a pause,
 * goes to out. */
static void pipe_once(int port, const char *const *cmds, int ncmds, struct lg *out)
{
    struct lg req = {0};
    for (int i = 0; i < ncmds; i++) {
        /* Words separated by single spaces. */
        const char *argv[16];
        size_t argl[16];
        int argc = 0;
        for (const char *p = cmds[i]; *p && argc < 16;) {
            const char *e = strchr(p, ' ');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            argv[argc] = p;
            argl[argc++] = l;
            p += l + (e ? 1 : 0);
        }
        char *f;
        long long len = redisFormatCommandArgv(&f, argc, argv, argl);
        ck_assert_int_gt(len, 0);
        lg_put(&req, f, (size_t)len);
        redisFreeCommand(f);
    }
    struct h_rc c;
    h_rc_open(&c, port);
    send_all(c.fd, req.b, req.n);
    size_t n;
    const char *x = h_rc_read(&c, &n);
    ck_assert_msg(n > 0 && (x[0] == '%' || x[0] == '*'), "HELLO: %.*s", (int)n, x);
    for (int replies = 1; replies < ncmds;) {
        x = h_rc_read(&c, &n);
        lg_put(out, x, n);
        if (!is_push(x, n)) replies++;
    }
    drain(&c, out, 200);
    h_rc_close(&c);
    lg_free(&req);
}

/* Runs the pipeline cmds (with "%K1"/"%K2" replaced by k1 and k2) against the proxy and the
 * standalone redis-server, each after deleting the keys, and compares every byte received. */
static void pipe_compare(const char *what, const char *const *cmds, int ncmds, const char *k1,
                         const char *k2)
{
    char buf[32][128];
    const char *exp[32];
    ck_assert_int_le(ncmds, 32);
    for (int i = 0; i < ncmds; i++) {
        const char *p = cmds[i];
        size_t o = 0;
        while (*p && o + 64 < sizeof(buf[i])) {
            if (p[0] == '%' && p[1] == 'K' && (p[2] == '1' || p[2] == '2')) {
                o += (size_t)snprintf(buf[i] + o, sizeof(buf[i]) - o, "%s", p[2] == '1' ? k1 : k2);
                p += 3;
            } else {
                buf[i][o++] = *p++;
            }
        }
        buf[i][o] = '\0';
        exp[i] = buf[i];
    }
    struct lg got[2] = {{0}, {0}};
    const int ports[2] = {h_env.proxy_port, h_env.single_port};
    for (int w = 0; w < 2; w++) {
        struct h_rc d;
        h_rc_open(&d, ports[w]);
        size_t n;
        rt(&d, &n, NULL, "DEL %s %s", k1, k2);
        h_rc_close(&d);
        pipe_once(ports[w], exp, ncmds, &got[w]);
    }
    char label[256];
    snprintf(label, sizeof(label),
             "%s: what the client received through the proxy (got) and "
             "from redis-server (want)",
             what);
    expect_bytes(got[0].b, got[0].n, got[1].b, got[1].n, label);
    lg_free(&got[0]);
    lg_free(&got[1]);
}

START_TEST(test_cmp_own_write_pipelined)
{
    /* The report's case: PING answered by the proxy itself. */
    static const char *const ping[] = {"HELLO 3", "CLIENT TRACKING ON", "GET %K1", "SET %K1 2",
                                       "PING"};
    /* Followed by reads of another master's key and of the key. */
    static const char *const other[] = {
        "HELLO 3", "CLIENT TRACKING ON", "GET %K1", "GET %K2", "SET %K1 2", "GET %K2", "GET %K1",
        "PING"};
    /* Followed by a transaction (of another master's key: a key read in a transaction is also
     * heard of on the listeners, which may add an invalidation of their own). */
    static const char *const multi[] = {
        "HELLO 3", "CLIENT TRACKING ON", "GET %K1", "SET %K1 2", "MULTI", "GET %K2", "EXEC",
        "PING"};
    /* Writes on two masters, each with its own push. */
    static const char *const two[] = {"HELLO 3",   "CLIENT TRACKING ON", "GET %K1",
                                      "GET %K2",   "SET %K1 2",          "GET %K1",
                                      "SET %K2 3", "SET %K1 4",          "PING"};
    static const struct {
        const char *what;
        const char *const *cmds;
        int n;
    } v[] = {
        {"own write, then PING", ping, 5},
        {"own write, then another master's read", other, 8},
        {"own write, then MULTI/EXEC", multi, 8},
        {"own writes on two masters", two, 9},
    };
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    ck_assert_int_ge(m.nm, 2);
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            /* Keys of their own: an entry a transaction read stays heard of on the listeners. */
            char pfx1[32], pfx2[32], k1[64], k2[64];
            snprintf(pfx1, sizeof(pfx1), "trk:own:%d:%zu:a", round, i);
            snprintf(pfx2, sizeof(pfx2), "trk:own:%d:%zu:b", round, i);
            key_on(&m, m.masters[0], pfx1, k1, sizeof(k1));
            key_on(&m, m.masters[1], pfx2, k2, sizeof(k2));
            pipe_compare(v[i].what, v[i].cmds, v[i].n, k1, k2);
        }
    }
}
END_TEST

/* A REDIRECT to a client that existed and left is refused as Redis refuses an unknown id. */
START_TEST(test_redirect_gone)
{
    struct h_rc s, a;
    h_rc_open(&s, h_env.proxy_port);
    long long sid = rc_id(&s);
    h_rc_close(&s);
    h_sleep_ms(100);
    h_rc_open(&a, h_env.proxy_port);
    size_t n;
    const char *x = rt(&a, &n, NULL, "CLIENT TRACKING on REDIRECT %lld", sid);
    EXPECT_LIT(x, n, "-ERR The client ID you want redirect to does not exist\r\n",
               "REDIRECT to a client that left");
    x = rt(&a, &n, NULL, "CLIENT TRACKINGINFO");
    ck_assert_ptr_nonnull(memmem(x, n, "$3\r\noff\r\n", 9));
    h_rc_close(&a);
}
END_TEST

/* The proxy's own used_memory (jemalloc's allocated bytes). */
static long long used_memory(int port)
{
    return h_info_num(port, "used_memory");
}

/* Writes count keys named "<pfx><i>" padded to klen bytes, pipelined in batches, all +OK. */
static void write_long_keys(redisContext *b, const char *pfx, int count, size_t klen)
{
    char *key = malloc(klen + 1);
    for (int base = 0; base < count; base += 200) {
        int end = base + 200 < count ? base + 200 : count;
        for (int i = base; i < end; i++) {
            int l = snprintf(key, klen + 1, "%s%d:", pfx, i);
            memset(key + l, 'x', klen - (size_t)l);
            redisAppendCommand(b, "SET %b 1", key, klen);
        }
        for (int i = base; i < end; i++) {
            redisReply *r;
            ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
            h_expect_str(r, "OK");
        }
    }
    free(key);
}

/*
 * Tracking clients that never read, on a proxy with -pubsub-output-buffer-limit 256kb: a BCAST
 * client is sent an invalidation for every key written; it must be cut off at the limit (not
 * grow the proxy without bound), while a writer and another tracking client keep being served.
 * The same with a request of its own in flight (a BLPOP that never returns), behind which its
 * messages wait.
 */
static void never_reads(int blocked)
{
    int port = h_env.cluster_port + 413 + blocked;
    const char *extra[] = {"-threads", "1", "-pubsub-output-buffer-limit", "256kb", NULL};
    char log[64];
    snprintf(log, sizeof(log), "proxy-trk-noread%d.log", blocked);
    pid_t pid = own_proxy(port, h_env.cluster_port, log, extra);
    int fd = h_tcp_connect(port, 4096);
    char req[256];
    int len = snprintf(
        req, sizeof(req), "%s*4\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n$5\r\nBCAST\r\n%s",
        hello3, blocked ? "*3\r\n$5\r\nBLPOP\r\n$11\r\ntrk:nr:list\r\n$1\r\n0\r\n" : "");
    send_all(fd, req, (size_t)len);
    h_sleep_ms(200);
    char buf[4096];
    ck_assert_int_gt(read(fd, buf, sizeof(buf)), 0); /* HELLO's and TRACKING's replies */
    struct h_rc c;
    open3(&c, port);
    rc_ok(&c, "CLIENT TRACKING on");
    size_t n;
    rt(&c, &n, NULL, "GET trk:nr:c");
    long long cut0 = h_info_num(port, "pubsub_clients_cut");
    long long mem0 = used_memory(port);
    redisContext *b = h_connect(port);
    uint64_t t0 = h_now_ms();
    write_long_keys(b, "trk:nr:", 8000, 512); /* about 4.3 MB of invalidations */
    uint64_t wrote_ms = h_now_ms() - t0;
    long long mem1 = used_memory(port);
    uint64_t deadline = h_now_ms() + 5000;
    while (h_info_num(port, "pubsub_clients_cut") == cut0 && h_now_ms() < deadline) h_sleep_ms(50);
    long long cut = h_info_num(port, "pubsub_clients_cut") - cut0;
    long long mem2 = used_memory(port);
    /* The other clients were served all along. */
    h_expect_str(h_cmd(b, "SET trk:nr:c 2"), "OK");
    const char *x = next_frame(&c, &n, 3000);
    ck_assert_msg(x != NULL, "the reading tracking client got nothing");
    expect_inval(x, n, 1, "trk:nr:c", "the reading tracking client");
    fprintf(stderr,
            "tracking: a BCAST client that never reads%s: 8,000 writes in %llu ms; proxy memory "
            "%lld KB before, %lld KB after the writes, %lld KB later; cut off: %s\n",
            blocked ? " (a BLPOP in flight)" : "", (unsigned long long)wrote_ms, mem0 / 1024,
            mem1 / 1024, mem2 / 1024, cut ? "yes" : "no");
    ck_assert_msg(cut == 1,
                  "the client that never reads was not cut off (the proxy holds %lld KB more than "
                  "before)",
                  (mem2 - mem0) / 1024);
    /* Its connection is closed. */
    int closed = 0;
    for (uint64_t end = h_now_ms() + 5000; !closed && h_now_ms() < end;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf, sizeof(buf));
        closed = r == 0 || (r < 0 && errno == ECONNRESET);
    }
    ck_assert_msg(closed, "the cut-off client's connection is still open");
    close(fd);
    h_rc_close(&c);
    redisFree(b);
    ck_assert_int_eq(h_proxy_stop(pid, log), 0);
}

START_TEST(test_never_reads)
{
    never_reads(0);
}
END_TEST

START_TEST(test_never_reads_blocked)
{
    never_reads(1);
}
END_TEST

/*
 * -tracking-table-max-keys 10 with one worker: reading 30 keys evicts the 20 oldest, each
 * invalidated as Redis invalidates an evicted key (a push with the key); INFO and /metrics count
 * them; an evicted key's write gives nothing, a kept key's write an invalidation. CONFIG SET
 * tracking-table-max-keys lowers the bound at run time.
 */
START_TEST(test_table_max_keys)
{
    int port = h_env.cluster_port + 415, dport = port + 1;
    char dbg[32];
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", dport);
    const char *extra[] = {"-threads", "1", "-tracking-table-max-keys", "10", "-debug-addr",
                           dbg,        NULL};
    pid_t pid = own_proxy(port, h_env.cluster_port, "proxy-trk-maxkeys.log", extra);
    struct h_rc a;
    open3(&a, port);
    rc_ok(&a, "CLIENT TRACKING on");
    struct lg pushes = {0};
    size_t n;
    for (int i = 0; i < 30; i++) rt(&a, &n, &pushes, "GET trk:mk:%d", i);
    drain(&a, &pushes, 300);
    struct lg want = {0};
    for (int i = 0; i < 20; i++) {
        char key[32], msg[128];
        snprintf(key, sizeof(key), "trk:mk:%d", i);
        const char *k[] = {key};
        size_t ml = inval(msg, sizeof(msg), 1, k, 1, 0);
        lg_put(&want, msg, ml);
    }
    expect_bytes(pushes.b, pushes.n, want.b, want.n, "evictions at 10 keys");
    ck_assert_int_eq(h_info_num(port, "tracking_total_keys"), 10);
    ck_assert_int_eq(h_info_num(port, "tracking_evictions"), 20);
    ck_assert_int_eq((long long)metric(dport, "slotproxy_tracking_evictions_total"), 20);
    ck_assert_int_eq((long long)metric(dport, "slotproxy_tracking_keys"), 10);
    redisContext *b = h_connect(port);
    h_expect_str(h_cmd(b, "SET trk:mk:5 x"), "OK");
    h_expect_str(h_cmd(b, "SET trk:mk:25 x"), "OK");
    const char *x = next_frame(&a, &n, 3000);
    ck_assert_ptr_nonnull(x);
    expect_inval(x, n, 1, "trk:mk:25", "a kept key's write");
    ck_assert_ptr_null(next_frame(&a, &n, 300));
    ck_assert_int_eq(h_info_num(port, "tracking_total_keys"), 9);
    /* CONFIG SET lowers the bound (the nodes' too): down to it within a second or so, each key
     * that goes invalidated (by the proxy, or by a node evicting its own). */
    h_expect_str(h_cmd(b, "CONFIG SET tracking-table-max-keys 4"), "OK");
    long long left = 9;
    for (int i = 0; i < 40 && left > 4; i++) {
        usleep(100 * 1000);
        left = h_info_num(port, "tracking_total_keys");
    }
    ck_assert_int_le(left, 4);
    struct lg more = {0};
    drain(&a, &more, 500);
    int got = 0;
    for (size_t off = 0; off < more.n; got++) {
        ck_assert_msg(more.b[off] == '>', "not a push: %.*s", (int)(more.n - off), more.b + off);
        const char *nl = memmem(more.b + off + 1, more.n - off - 1, ">2\r\n", 4);
        off = nl ? (size_t)(nl - more.b) : more.n;
    }
    ck_assert_int_eq(got, 9 - left);
    h_expect_str(h_cmd(b, "CONFIG SET tracking-table-max-keys 1000000"), "OK");
    lg_free(&more);
    lg_free(&pushes);
    lg_free(&want);
    h_rc_close(&a);
    redisFree(b);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-trk-maxkeys.log"), 0);
}
END_TEST

/* ================================================================================================
 * Memory
 * ============================================================================================== */

static long long masters_memory(const struct smap *m)
{
    long long sum = 0;
    for (int i = 0; i < m->nm; i++) sum += h_info_num(m->masters[i], "used_memory");
    return sum;
}

/* Reads count keys "trkmem:%09d" (16 bytes) with MGETs of 100, pipelined, on c. */
static void mget_all(struct h_rc *c, const char *fmt, int count)
{
    for (int base = 0; base < count; base += 2000) {
        struct lg l = {0};
        for (int j = base; j < base + 2000 && j < count; j += 100) {
            const char *argv[101];
            size_t lens[101];
            static char names[100][32];
            argv[0] = "MGET";
            lens[0] = 4;
            for (int k = 0; k < 100; k++) {
                lens[k + 1] = (size_t)snprintf(names[k], sizeof(names[k]), fmt, j + k);
                argv[k + 1] = names[k];
            }
            char *req;
            int len = redisFormatCommandArgv(&req, 101, argv, lens);
            lg_put(&l, req, (size_t)len);
            redisFreeCommand(req);
        }
        send_all(c->fd, l.b, l.n);
        size_t n;
        for (int j = base; j < base + 2000 && j < count; j += 100) reply(c, &n, NULL);
        lg_free(&l);
    }
}

/* What one tracked key costs the proxy (and, for comparison, the masters, which track it for
 * the proxy's connection): 100,000 keys of 16 bytes read by one tracking client, then by a
 * second one. */
START_TEST(test_memory_per_key)
{
    enum { K = 100000 };
    int port = h_env.cluster_port + 417;
    const char *extra[] = {"-threads", "1", NULL};
    pid_t pid = own_proxy(port, h_env.cluster_port, "proxy-trk-memory.log", extra);
    struct smap m;
    smap_load(&m, h_env.cluster_port);
    struct h_rc a, a2;
    open3(&a, port);
    open3(&a2, port);
    /* The same reads untracked first, so buffers and connections exist before measuring. */
    mget_all(&a, "trkmem:%09d", K);
    mget_all(&a2, "trkmem:%09d", K);
    h_sleep_ms(1500);
    rc_ok(&a, "CLIENT TRACKING on");
    rc_ok(&a2, "CLIENT TRACKING on");
    long long p0 = used_memory(port), n0 = masters_memory(&m);
    long long keys0 = h_info_num(port, "tracking_total_keys");
    mget_all(&a, "trkmem:%09d", K);
    h_sleep_ms(1500);
    long long p1 = used_memory(port), n1 = masters_memory(&m);
    long long keys1 = h_info_num(port, "tracking_total_keys");
    mget_all(&a2, "trkmem:%09d", K);
    h_sleep_ms(1500);
    long long p2 = used_memory(port);
    long long items = h_info_num(port, "tracking_total_items");
    double per_key = (double)(p1 - p0) / K, per_reader = (double)(p2 - p1) / K;
    fprintf(stderr,
            "tracking: memory: %d tracked keys of 16 bytes cost the proxy %.0f bytes each "
            "(%lld KB), %.1f bytes more per key for a second reader; the masters %.0f bytes "
            "each (they track them for the proxy's connections)\n",
            K, per_key, (p1 - p0) / 1024, per_reader, (double)(n1 - n0) / K);
    ck_assert_int_eq(keys1 - keys0, K);
    ck_assert_int_eq(items, 2 * K);
    /* A sanitizer build runs on libc's allocator, which reports nothing (used_memory 0). */
    if (p0 > 0) {
        ck_assert_msg(per_key > 16 && per_key < 1000, "%.0f bytes per tracked key", per_key);
        ck_assert_msg(per_reader >= 0 && per_reader < 200, "%.0f bytes per second reader",
                      per_reader);
    } else {
        fprintf(stderr, "tracking: memory: not measured (no jemalloc in this build)\n");
    }
    h_rc_close(&a);
    h_rc_close(&a2);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-trk-memory.log"), 0);
}
END_TEST

/* ================================================================================================
 * node-redis 6's clientSideCache
 * ============================================================================================== */

#define NODE_REDIS_VERSION "6.4.0"

START_TEST(test_node_redis_csc)
{
    ck_assert_msg(h_sh("node --version >/dev/null 2>&1 && npm --version >/dev/null 2>&1") == 0,
                  "node and npm are needed (Debian: apt-get install nodejs)");
    char dir[1100], script[1100], tmp[1024];
    snprintf(dir, sizeof(dir), "%s/node", h_env.workdir);
    snprintf(tmp, sizeof(tmp), "%s", PX_CLUSTER_SCRIPT);
    snprintf(script, sizeof(script), "%s/integration/client_node_redis_csc.mjs", dirname(tmp));
    ck_assert_msg(access(script, R_OK) == 0, "%s is missing", script);
    /* The same install as the nodeclient suite's: into the build folder, once. */
    if (h_sh("test -f %s/node_modules/redis/package.json && grep -q '\"version\": \"%s\"' "
             "%s/node_modules/redis/package.json",
             dir, NODE_REDIS_VERSION, dir) != 0) {
        int st = h_sh("mkdir -p %s && cd %s && timeout 300 npm install --no-audit --no-fund "
                      "--no-save --loglevel=error redis@%s >%s/npm-install.log 2>&1",
                      dir, dir, NODE_REDIS_VERSION, h_env.workdir);
        if (st != 0) h_sh("tail -n 30 %s/npm-install.log >&2", h_env.workdir);
        ck_assert_msg(st == 0, "npm install redis@%s failed (see %s/npm-install.log)",
                      NODE_REDIS_VERSION, h_env.workdir);
    }
    ck_assert_int_eq(h_sh("cp %s %s/client_node_redis_csc.mjs", script, dir), 0);
    int st = h_sh("cd %s && timeout -k 5 100 node client_node_redis_csc.mjs %d "
                  ">%s/nodeclient-csc.log 2>&1",
                  dir, h_env.proxy_port, h_env.workdir);
    if (st != 0) {
        fprintf(stderr, "client_node_redis_csc.mjs exited with %d; its output:\n", st);
        h_sh("tail -n 40 %s/nodeclient-csc.log >&2", h_env.workdir);
    }
    ck_assert_msg(st == 0,
                  "client_node_redis_csc.mjs exited with %d (output in %s/nodeclient-csc.log)", st,
                  h_env.workdir);
    ck_assert_int_eq(
        h_sh("grep -q '^node-redis csc: all checks passed' %s/nodeclient-csc.log", h_env.workdir),
        0);
}
END_TEST

Suite *tracking_suite(void)
{
    Suite *s = suite_create("tracking");
    TCase *tc = tcase_create("compare");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cmp_commands);
    tcase_add_test(tc, test_cmp_caching_life);
    tcase_add_test(tc, test_cmp_default_resp3);
    tcase_add_test(tc, test_cmp_default_redirect);
    tcase_add_test(tc, test_cmp_protocol_switch);
    tcase_add_test(tc, test_cmp_bcast);
    tcase_add_test(tc, test_cmp_optin_noloop);
    tcase_add_test(tc, test_cmp_redirect_broken);
    tcase_add_test(tc, test_many_prefixes);
    tcase_add_test(tc, test_redirect_gone);
    tcase_add_test(tc, test_cmp_own_write_pipelined);
    suite_add_tcase(s, tc);
    tc = tcase_create("order");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_every_master);
    tcase_add_test(tc, test_order_race);
    tcase_add_test(tc, test_no_stale);
    tcase_add_test(tc, test_redirect_race);
    tcase_add_test(tc, test_redirect_workers);
    suite_add_tcase(s, tc);
    tc = tcase_create("faults");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_fault_conn_drop);
    tcase_add_test(tc, test_fault_migration);
    tcase_add_test(tc, test_fault_failover);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_never_reads);
    tcase_add_test(tc, test_never_reads_blocked);
    tcase_add_test(tc, test_table_max_keys);
    tcase_add_test(tc, test_memory_per_key);
    tcase_add_test(tc, test_node_redis_csc);
    suite_add_tcase(s, tc);
    return s;
}
