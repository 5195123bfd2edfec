/*
 * Pool mode (issue 20): slotproxy in front of standalone redis-servers, placing keys as an
 * existing sharding system placed them. Every test starts the servers it needs (standalone
 * redis-server, and Debian's nutcracker as the reference for twemproxy's placements) and its own
 * proxy, on ports PX_POOL_PORT .. +99 (default 24200; nothing else in the test run uses
 * 24000-24499), and stops each by pid.
 *
 * Placement is checked against references the proxy's code did not compute: keys written through
 * a real nutcracker (ketama with weights and names, modula) and read back through slotproxy, each
 * from the one server that holds it; libketama (redis-router's README vector, and weights) and
 * crc32-mod (rediscluster-py) from tests/unit/fixtures/placement, whose placements come from
 * models of libketama and rediscluster-py, checked by GETs straight on the servers. Then the
 * pool's life: a server added to the servers file with SIGHUP (a key either stays or moves to
 * the new server, exactly as nutcracker with the new list places it), a dead server (its keys
 * answer -ERR naming it, the others are served, all come back with it), auto-ejection (keys
 * re-hash while it is out, return after), replica reads found through INFO replication, and the
 * cluster-mode features over a pool: MGET/MSET split across servers, DBSIZE/KEYS/SCAN over every
 * server, Pub/Sub, BLPOP and MULTI/EXEC on one server, client-side caching's invalidations,
 * -hash-tag-strip, the CLUSTER commands
 * answered as a standalone Redis answers them, the debug port, limits and protected mode.
 */
#include "harness.h"
#include "suites.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Ports: servers and replicas +0..39, proxies +40..59, nutcracker +60..79 (listen, stats),
 * debug ports +80..99. */
static int pbase(void)
{
    const char *p = getenv("PX_POOL_PORT");
    return p ? atoi(p) : 24200;
}
#define SRV(i)   (pbase() + (i))
#define PROXY(i) (pbase() + 40 + (i))
#define NCP(i)   (pbase() + 60 + 2 * (i))
#define DBG(i)   (pbase() + 80 + (i))

/* ---- helpers ---------------------------------------------------------------------------- */

struct keyset {
    int n;
    char **k;
    size_t *len;
};

static void keys_add(struct keyset *ks, const char *p, size_t len)
{
    ks->k = realloc(ks->k, (size_t)(ks->n + 1) * sizeof(*ks->k));
    ks->len = realloc(ks->len, (size_t)(ks->n + 1) * sizeof(*ks->len));
    ks->k[ks->n] = malloc(len + 1);
    memcpy(ks->k[ks->n], p, len);
    ks->k[ks->n][len] = '\0';
    ks->len[ks->n++] = len;
}

/* n keys of several shapes: plain, with a hash tag, and with bytes >= 0x80 (nutcracker reads
 * key bytes as signed char, which its hashes show). */
static void keys_make(struct keyset *ks, int n, const char *prefix)
{
    memset(ks, 0, sizeof(*ks));
    for (int i = 0; i < n; i++) {
        char b[128];
        int l;
        if (i % 7 == 3)
            l = snprintf(b, sizeof(b), "%s:\xc3\xa9t\xe9:%d:\xff", prefix, i);
        else if (i % 5 == 1)
            l = snprintf(b, sizeof(b), "%s:{user%d}:cart", prefix, i % 40);
        else
            l = snprintf(b, sizeof(b), "%s:%d:%x", prefix, i, (unsigned)i * 2654435761u);
        /* Tagged keys repeat their tag: make them distinct keys all the same. */
        if (i % 5 == 1) l += snprintf(b + l, sizeof(b) - (size_t)l, ":%d", i);
        keys_add(ks, b, (size_t)l);
    }
}

static void keys_free(struct keyset *ks)
{
    for (int i = 0; i < ks->n; i++) free(ks->k[i]);
    free(ks->k);
    free(ks->len);
    memset(ks, 0, sizeof(*ks));
}

static char *wpath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", h_env.workdir, name);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static pid_t srv_start(int port)
{
    pid_t p = h_single_start(port);
    ck_assert_msg(p > 0, "cannot start redis-server on %d", port);
    return p;
}

static pid_t proxy_start(int idx, const char *const *extra, const char *log)
{
    pid_t p = h_proxy_start(PROXY(idx), NULL, extra, log);
    ck_assert_msg(p > 0, "slotproxy did not start; see %s/%s", h_env.workdir, log);
    return p;
}

static void proxy_stop(pid_t p, const char *log)
{
    ck_assert_msg(h_proxy_stop(p, log) == 0, "slotproxy did not exit cleanly; see %s/%s",
                  h_env.workdir, log);
}

/* Starts nutcracker with one pool listening on NCP(idx), whose yml body (hash, distribution,
 * servers, ...) is given; returns its pid once it accepts connections. */
static pid_t nc_start(int idx, const char *body)
{
    char conf[1024], log[1024], text[8192], listen[64], stats[16];
    snprintf(conf, sizeof(conf), "%s/nutcracker-%d.yml", h_env.workdir, idx);
    snprintf(log, sizeof(log), "%s/nutcracker-%d.log", h_env.workdir, idx);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", NCP(idx));
    snprintf(stats, sizeof(stats), "%d", NCP(idx) + 1);
    snprintf(text, sizeof(text), "pool:\n  listen: %s\n  redis: true\n%s", listen, body);
    write_file(conf, text);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        execlp("nutcracker", "nutcracker", "-c", conf, "-s", stats, "-a", "127.0.0.1", "-o", log,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        redisContext *c = h_connect_quick(NCP(idx), 100);
        if (c) {
            redisFree(c);
            return pid;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) break;
        h_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    h_sh("cat %s >&2", log);
    ck_abort_msg("nutcracker did not start (%s)", conf);
    return -1;
}

static void nc_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* SETs every key to prefix+key, pipelined. */
static void pipe_set(redisContext *c, const struct keyset *ks, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (int start = 0; start < ks->n; start += 500) {
        int end = start + 500 < ks->n ? start + 500 : ks->n;
        for (int i = start; i < end; i++) {
            char *v = malloc(pl + ks->len[i]);
            memcpy(v, prefix, pl);
            memcpy(v + pl, ks->k[i], ks->len[i]);
            const char *argv[3] = {"SET", ks->k[i], v};
            size_t lens[3] = {3, ks->len[i], pl + ks->len[i]};
            redisAppendCommandArgv(c, 3, argv, lens);
            free(v);
        }
        for (int i = start; i < end; i++) {
            redisReply *r;
            ck_assert_msg(redisGetReply(c, (void **)&r) == REDIS_OK, "SET: %s", c->errstr);
            ck_assert_msg(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
                          "SET %s: %s", ks->k[i], r->type == REDIS_REPLY_ERROR ? r->str : "?");
            freeReplyObject(r);
        }
    }
}

/* Runs cmd (GET or EXISTS) on every key, pipelined; the replies, in key order. */
static redisReply **pipe_keys(redisContext *c, const struct keyset *ks, const char *cmd)
{
    redisReply **out = calloc((size_t)ks->n + 1, sizeof(*out));
    for (int start = 0; start < ks->n; start += 500) {
        int end = start + 500 < ks->n ? start + 500 : ks->n;
        for (int i = start; i < end; i++) {
            const char *argv[2] = {cmd, ks->k[i]};
            size_t lens[2] = {strlen(cmd), ks->len[i]};
            redisAppendCommandArgv(c, 2, argv, lens);
        }
        for (int i = start; i < end; i++)
            ck_assert_msg(redisGetReply(c, (void **)&out[i]) == REDIS_OK, "%s: %s", cmd,
                          c->errstr);
    }
    return out;
}

static void replies_free(redisReply **r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i]) freeReplyObject(r[i]);
    free(r);
}

/* 1 when r is the bulk string prefix+key. */
static int is_value(const redisReply *r, const char *prefix, const struct keyset *ks, int i)
{
    size_t pl = strlen(prefix);
    return r->type == REDIS_REPLY_STRING && r->len == pl + ks->len[i] &&
           memcmp(r->str, prefix, pl) == 0 && memcmp(r->str + pl, ks->k[i], ks->len[i]) == 0;
}

/* For every key, the index (into ports) of the one server that holds it; fails when a key is on
 * none or on several. counts[s] gets the keys of server s. */
static int *holders(const int *ports, int n, const struct keyset *ks, int *counts)
{
    int *h = malloc((size_t)ks->n * sizeof(int));
    for (int i = 0; i < ks->n; i++) h[i] = -1;
    for (int s = 0; s < n; s++) {
        if (counts) counts[s] = 0;
        redisContext *c = h_connect(ports[s]);
        redisReply **r = pipe_keys(c, ks, "EXISTS");
        for (int i = 0; i < ks->n; i++) {
            ck_assert_int_eq(r[i]->type, REDIS_REPLY_INTEGER);
            if (!r[i]->integer) continue;
            ck_assert_msg(h[i] < 0, "key %s is on %d and %d", ks->k[i], ports[h[i]], ports[s]);
            h[i] = s;
            if (counts) counts[s]++;
        }
        replies_free(r, ks->n);
        redisFree(c);
    }
    for (int i = 0; i < ks->n; i++) ck_assert_msg(h[i] >= 0, "key %s is on no server", ks->k[i]);
    return h;
}

/* The number after "field:" in INFO of the server (or proxy) on port; -1 when absent. */
static long long info_field(int port, const char *section, const char *field)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "INFO %s", section);
    long long v = -1;
    char key[128];
    snprintf(key, sizeof(key), "%s:", field);
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, key) : NULL;
    if (p) v = atoll(p + strlen(key));
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* How many times the server on port has run cmd (INFO commandstats), 0 when never. */
static long long calls(int port, const char *cmd)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "INFO commandstats");
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    const char *q = strstr(r->str, needle);
    long long v = q ? atoll(q + strlen(needle)) : 0;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* DBSIZE of the server on port. */
static long long dbsize(int port)
{
    redisContext *c = h_connect(port);
    redisReply *r = h_cmd(c, "DBSIZE");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Waits (up to ms) until the proxy's INFO field satisfies want (== when eq, else !=). */
static long long wait_info(int port, const char *field, long long want, int eq, int ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)ms;
    long long v;
    do {
        v = info_field(port, "proxy", field);
        if ((v == want) == eq) return v;
        h_sleep_ms(50);
    } while (h_now_ms() < deadline);
    ck_abort_msg("INFO %s stayed %lld (wanted %s %lld) for %d ms", field, v, eq ? "==" : "!=",
                 want, ms);
    return v;
}

/* The server (index into ports) a key written through the proxy on pport lands on. */
static int land(int pport, const int *ports, int n, const char *key)
{
    redisContext *p = h_connect(pport);
    h_expect_str(h_cmd(p, "SET %s landed", key), "OK");
    redisFree(p);
    int where = -1;
    for (int s = 0; s < n; s++) {
        redisContext *c = h_connect(ports[s]);
        redisReply *r = h_cmd(c, "EXISTS %s", key);
        if (r->integer) where = s;
        freeReplyObject(r);
        redisFree(c);
    }
    ck_assert_msg(where >= 0, "%s landed nowhere", key);
    return where;
}

/* Fixtures of tests/unit/fixtures/placement: keys.txt (escaped: \xHH for other bytes, '\' and
 * '#'), and placement files ("server <line>" directives, then one base-36 server index per key). */
static void load_fixture_keys(struct keyset *ks)
{
    memset(ks, 0, sizeof(*ks));
    char path[1024];
    snprintf(path, sizeof(path), "%s/placement/keys.txt", PX_FIXTURES);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n') line[--l] = '\0';
        char out[4096];
        size_t o = 0;
        for (size_t i = 0; i < l; i++) {
            if (line[i] == '\\' && i + 3 < l + 1 && line[i + 1] == 'x') {
                char hex[3] = {line[i + 2], line[i + 3], 0};
                out[o++] = (char)strtol(hex, NULL, 16);
                i += 3;
            } else {
                out[o++] = line[i];
            }
        }
        keys_add(ks, out, o);
    }
    fclose(f);
    ck_assert_int_gt(ks->n, 2000);
}

struct fixture {
    char servers[8][64]; /* the "server" lines */
    int nservers;
    char *placement; /* one char per key */
    int n;
};

static void load_fixture(const char *name, struct fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    char path[1024];
    snprintf(path, sizeof(path), "%s/placement/%s", PX_FIXTURES, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    char line[4096];
    int in_placement = 0;
    fx->placement = malloc(1 << 16);
    while (fgets(line, sizeof(line), f)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n') line[--l] = '\0';
        if (in_placement) {
            memcpy(fx->placement + fx->n, line, l);
            fx->n += (int)l;
        } else if (strncmp(line, "server ", 7) == 0) {
            snprintf(fx->servers[fx->nservers++], sizeof(fx->servers[0]), "%.63s", line + 7);
        } else if (strcmp(line, "placement") == 0) {
            in_placement = 1;
        }
    }
    fclose(f);
}

static int fixture_server(const struct fixture *fx, int i)
{
    char c = fx->placement[i];
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* ---- placements against their references -------------------------------------------------- */

/* Writes ks through nutcracker (yml servers given), then checks that slotproxy, given the same
 * servers and options, reads every key back from the one server that holds it, and that what it
 * writes nutcracker reads back. */
static void check_against_nutcracker(const char *nc_body, const char *const *proxy_flags,
                                     const int *ports, int n, const char *log, int nkeys)
{
    pid_t nc = nc_start(0, nc_body);
    struct keyset ks;
    keys_make(&ks, nkeys, "nc");
    redisContext *c = h_connect(NCP(0));
    pipe_set(c, &ks, "v:");
    int counts[8];
    int *h = holders(ports, n, &ks, counts);
    for (int s = 0; s < n; s++)
        ck_assert_msg(counts[s] > 0, "nutcracker put no key on server %d (%d)", s, ports[s]);
    free(h);

    pid_t px = proxy_start(0, proxy_flags, log);
    redisContext *p = h_connect(PROXY(0));
    redisReply **r = pipe_keys(p, &ks, "GET");
    int bad = 0, first = -1;
    char shown[256];
    for (int i = 0; i < ks.n; i++)
        if (!is_value(r[i], "v:", &ks, i) && bad++ == 0) first = i;
    ck_assert_msg(bad == 0,
                  "%d of %d keys written by nutcracker not read back by slotproxy, the first "
                  "\"%s\" (%s)",
                  bad, ks.n, first >= 0 ? h_show(ks.k[first], ks.len[first], 80, shown, 256) : "",
                  first >= 0 && r[first]->type == REDIS_REPLY_ERROR ? r[first]->str : "no error");
    replies_free(r, ks.n);
    /* And the other way: what slotproxy writes, nutcracker reads. */
    pipe_set(p, &ks, "w:");
    r = pipe_keys(c, &ks, "GET");
    for (int i = 0; i < ks.n; i++) bad += !is_value(r[i], "w:", &ks, i);
    ck_assert_msg(bad == 0, "%d keys written by slotproxy not read back by nutcracker", bad);
    replies_free(r, ks.n);
    redisFree(p);
    redisFree(c);
    proxy_stop(px, log);
    nc_stop(nc);
    keys_free(&ks);
}

/* ketama with weights and names, fnv1a_64, hash tag {}: nutcracker's ring. */
START_TEST(test_pool_ketama_nutcracker)
{
    int ports[4];
    pid_t pids[4];
    for (int i = 0; i < 4; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char lines[1024], body[2048], file[1024];
    snprintf(lines, sizeof(lines),
             "127.0.0.1:%d:1 alpha\n127.0.0.1:%d:2\n127.0.0.1:%d:1 gamma\n127.0.0.1:%d:3\n",
             ports[0], ports[1], ports[2], ports[3]);
    snprintf(body, sizeof(body),
             "  hash: fnv1a_64\n  distribution: ketama\n  hash_tag: \"{}\"\n  servers:\n"
             "   - 127.0.0.1:%d:1 alpha\n   - 127.0.0.1:%d:2\n   - 127.0.0.1:%d:1 gamma\n"
             "   - 127.0.0.1:%d:3\n",
             ports[0], ports[1], ports[2], ports[3]);
    wpath(file, sizeof(file), "pool-ketama.txt");
    write_file(file, lines);
    const char *flags[] = {"-pool-servers", file, "-hash-tag", "{}", "-threads", "2", NULL};
    check_against_nutcracker(body, flags, ports, 4, "pool-ketama.log", 3000);
    for (int i = 0; i < 4; i++) h_single_stop(pids[i]);
}
END_TEST

/* modula with weights and murmur, the servers given as -pool-server flags (and one without a
 * weight, which is weight 1). */
START_TEST(test_pool_modula_nutcracker)
{
    int ports[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char body[2048], s0[64], s1[64], s2[64];
    snprintf(body, sizeof(body),
             "  hash: murmur\n  distribution: modula\n  servers:\n   - 127.0.0.1:%d:1\n"
             "   - 127.0.0.1:%d:3 bravo\n   - 127.0.0.1:%d:2\n",
             ports[0], ports[1], ports[2]);
    snprintf(s0, sizeof(s0), "127.0.0.1:%d", ports[0]);
    snprintf(s1, sizeof(s1), "127.0.0.1:%d:3 bravo", ports[1]);
    snprintf(s2, sizeof(s2), "127.0.0.1:%d:2", ports[2]);
    const char *flags[] = {"-pool-server", s0,       "-pool-server", s1,     "-pool-server",
                           s2,             "-hash",  "murmur",       "-distribution",
                           "modula",       "-threads", "2",          NULL};
    check_against_nutcracker(body, flags, ports, 3, "pool-modula.log", 2500);
    for (int i = 0; i < 3; i++) h_single_stop(pids[i]);
}
END_TEST

/* libketama (redis-router): the README's vector, and a weighted continuum, from the fixtures.
 * The servers' names are the addresses libketama hashed; they are served on our ports. */
START_TEST(test_pool_libketama)
{
    struct keyset ks;
    load_fixture_keys(&ks);
    static const char *const names[] = {"libketama_readme.txt", "libketama_weighted.txt"};
    for (size_t f = 0; f < NELEMS(names); f++) {
        struct fixture fx;
        load_fixture(names[f], &fx);
        ck_assert_int_eq(fx.n, ks.n);
        int ports[8];
        pid_t pids[8];
        char lines[2048] = "", file[1024];
        for (int s = 0; s < fx.nservers; s++) {
            char addr[64];
            unsigned weight;
            ck_assert_int_eq(sscanf(fx.servers[s], "%63s %u", addr, &weight), 2);
            pids[s] = srv_start(ports[s] = SRV(s));
            size_t l = strlen(lines);
            snprintf(lines + l, sizeof(lines) - l, "127.0.0.1:%d:%u %s\n", ports[s], weight, addr);
        }
        wpath(file, sizeof(file), "pool-libketama.txt");
        write_file(file, lines);
        const char *flags[] = {"-pool-servers", file, "-distribution", "libketama", NULL};
        pid_t px = proxy_start(0, flags, "pool-libketama.log");
        redisContext *p = h_connect(PROXY(0));
        if (f == 0) {
            /* redis-router's README: forge on 127.0.0.1:6379, spawning_pool on :6380. */
            ck_assert_int_eq(land(PROXY(0), ports, fx.nservers, "forge"), 0);
            ck_assert_int_eq(land(PROXY(0), ports, fx.nservers, "spawning_pool"), 1);
            h_expect_int(h_cmd(p, "DEL forge spawning_pool"), 2);
        }
        pipe_set(p, &ks, "L");
        int *h = holders(ports, fx.nservers, &ks, NULL);
        int bad = 0;
        for (int i = 0; i < ks.n; i++) bad += h[i] != fixture_server(&fx, i);
        ck_assert_msg(bad == 0, "%s: %d of %d keys not where libketama puts them", names[f], bad,
                      ks.n);
        free(h);
        redisFree(p);
        proxy_stop(px, "pool-libketama.log");
        for (int s = 0; s < fx.nservers; s++) h_single_stop(pids[s]);
        free(fx.placement);
    }
    keys_free(&ks);
}
END_TEST

/* CRC-32 (zlib's), bit by bit: the reference for rediscluster-py, computed here. */
static uint32_t ref_crc32(const char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

/* rediscluster-py's node for key: crc32 of the part after '{' but the last byte, or the key. */
static int rc_node(const char *key, size_t len, int n)
{
    const char *b = memchr(key, '{', len);
    if (!b) return (int)(ref_crc32(key, len) % (uint32_t)n);
    size_t start = (size_t)(b - key) + 1;
    return (int)(ref_crc32(key + start, len - 1 > start ? len - 1 - start : 0) % (uint32_t)n);
}

/* crc32-mod as rediscluster-py places keys (the fixture), and -hash-tag-strip: keys written
 * "bar{foo}" are stored as "bar" on foo's server, one key or many, in a split or a transaction. */
START_TEST(test_pool_crc32_mod_and_strip)
{
    struct keyset ks;
    load_fixture_keys(&ks);
    struct fixture fx;
    load_fixture("rediscluster_crc32mod_3.txt", &fx);
    ck_assert_int_eq(fx.n, ks.n);
    int ports[3];
    pid_t pids[3];
    char lines[512] = "", file[1024];
    for (int s = 0; s < 3; s++) {
        pids[s] = srv_start(ports[s] = SRV(s));
        size_t l = strlen(lines);
        snprintf(lines + l, sizeof(lines) - l, "127.0.0.1:%d:1 node_%d\n", ports[s], s + 1);
    }
    wpath(file, sizeof(file), "pool-crc32.txt");
    write_file(file, lines);
    const char *flags[] = {"-pool-servers", file, "-distribution", "crc32-mod", NULL};
    pid_t px = proxy_start(0, flags, "pool-crc32.log");
    redisContext *p = h_connect(PROXY(0));
    pipe_set(p, &ks, "R");
    int *h = holders(ports, 3, &ks, NULL);
    int bad = 0;
    for (int i = 0; i < ks.n; i++) bad += h[i] != fixture_server(&fx, i);
    ck_assert_msg(bad == 0, "%d of %d keys not where rediscluster-py puts them", bad, ks.n);
    free(h);
    h_expect_str(h_cmd(p, "FLUSHALL"), "OK");
    redisFree(p);
    proxy_stop(px, "pool-crc32.log");

    /* -hash-tag-strip yes. */
    const char *sflags[] = {"-pool-servers", file,  "-distribution", "crc32-mod",
                            "-hash-tag-strip", "yes", "-threads",    "2",        NULL};
    px = proxy_start(0, sflags, "pool-strip.log");
    p = h_connect(PROXY(0));
    static const char *const tags[] = {"foo", "tag-b", "x", "user:1000", "zz9"};
    for (size_t t = 0; t < NELEMS(tags); t++) {
        char key[64];
        snprintf(key, sizeof(key), "bar%zu{%s}", t, tags[t]);
        h_expect_str(h_cmd(p, "SET %s v%d", key, (int)t), "OK");
        int node = rc_node(key, strlen(key), 3);
        for (int s = 0; s < 3; s++) {
            redisContext *c = h_connect(ports[s]);
            redisReply *r = h_cmd(c, "GET bar%d", (int)t);
            if (s == node) {
                ck_assert_msg(r->type == REDIS_REPLY_STRING, "bar%zu not on node %d", t, s);
                char want[16];
                snprintf(want, sizeof(want), "v%zu", t);
                ck_assert_str_eq(r->str, want);
            } else {
                ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
            }
            freeReplyObject(r);
            h_expect_int(h_cmd(c, "EXISTS %s", key), 0); /* never under the written name */
            redisFree(c);
        }
        redisReply *r = h_cmd(p, "GET %s", key);
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    /* A split across the servers: every key stripped in its part. */
    h_expect_str(h_cmd(p, "MSET m{foo} 1 m{x} 2 m{y} 3 plain 4"), "OK");
    redisReply *r = h_cmd(p, "MGET m{foo} m{x} m{y} plain");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    for (int i = 0; i < 4; i++) {
        char want[4];
        snprintf(want, sizeof(want), "%d", i + 1);
        ck_assert_str_eq(r->element[i]->str, want);
    }
    freeReplyObject(r);
    long long total = 0;
    for (int s = 0; s < 3; s++) {
        redisContext *c = h_connect(ports[s]);
        redisReply *e = h_cmd(c, "EXISTS m");
        total += e->integer;
        freeReplyObject(e);
        redisFree(c);
    }
    /* "m" on each server: the three tags place on the three servers (crc32 % 3: 2, 0, 1). */
    int a = rc_node("m{foo}", 6, 3), b = rc_node("m{x}", 4, 3), d = rc_node("m{y}", 4, 3);
    ck_assert(a != b && b != d && a != d);
    ck_assert_int_eq(total, 3);
    h_expect_int(h_cmd(p, "EXISTS m{foo} m{x} plain nothere{x}"), 3);
    /* A transaction on foo's server: its keys stripped too. */
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET t{foo} 5"), "QUEUED");
    h_expect_str(h_cmd(p, "INCR t{foo}"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer == 6);
    freeReplyObject(r);
    redisContext *c = h_connect(ports[rc_node("t{foo}", 6, 3)]);
    h_expect_str(h_cmd(c, "GET t"), "6");
    redisFree(c);
    h_expect_int(h_cmd(p, "DEL m{foo} m{x} m{y} plain"), 4);
    redisFree(p);
    proxy_stop(px, "pool-strip.log");
    for (int s = 0; s < 3; s++) h_single_stop(pids[s]);
    free(fx.placement);
    keys_free(&ks);
}
END_TEST

/* ---- the pool's life ------------------------------------------------------------------------ */

/* A server added to the file and SIGHUP: a key stays where it was or moves to the new server,
 * and exactly the keys nutcracker with four servers puts on the new one have moved. */
START_TEST(test_pool_reload_add_server)
{
    int ports[4];
    pid_t pids[4];
    for (int i = 0; i < 4; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char lines3[512], lines4[1024], body3[1024], body4[2048], file[1024];
    snprintf(lines3, sizeof(lines3), "127.0.0.1:%d:1 s0\n127.0.0.1:%d:1 s1\n127.0.0.1:%d:1 s2\n",
             ports[0], ports[1], ports[2]);
    snprintf(lines4, sizeof(lines4), "%s127.0.0.1:%d:1 s3\n", lines3, ports[3]);
    snprintf(body3, sizeof(body3),
             "  hash: fnv1a_64\n  distribution: ketama\n  servers:\n   - 127.0.0.1:%d:1 s0\n"
             "   - 127.0.0.1:%d:1 s1\n   - 127.0.0.1:%d:1 s2\n",
             ports[0], ports[1], ports[2]);
    snprintf(body4, sizeof(body4), "%s   - 127.0.0.1:%d:1 s3\n", body3, ports[3]);
    wpath(file, sizeof(file), "pool-reload.txt");
    write_file(file, lines3);
    const char *flags[] = {"-pool-servers", file, "-threads", "2", NULL};
    pid_t px = proxy_start(0, flags, "pool-reload.log");
    struct keyset ks;
    keys_make(&ks, 2000, "rl");
    pid_t nc3 = nc_start(0, body3);
    redisContext *n3 = h_connect(NCP(0));
    pipe_set(n3, &ks, "3:");
    redisFree(n3);
    nc_stop(nc3);
    int *before = holders(ports, 4, &ks, NULL);
    redisContext *p = h_connect(PROXY(0));
    redisReply **r = pipe_keys(p, &ks, "GET");
    for (int i = 0; i < ks.n; i++) ck_assert_msg(is_value(r[i], "3:", &ks, i), "%s", ks.k[i]);
    replies_free(r, ks.n);

    /* A bad file is refused: the pool stays as it was. */
    long long gen = info_field(PROXY(0), "proxy", "pool_placement_generation");
    write_file(file, "127.0.0.1:1:1 x\nthis is not a server line\n");
    ck_assert_int_eq(kill(px, SIGHUP), 0);
    h_sleep_ms(300);
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_placement_generation"), gen);
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_servers"), 3);

    /* A tracking client that read a key before the change is told to drop it: the new
     * placement may put it elsewhere. */
    struct h_rc t;
    h_rc_open(&t, PROXY(0));
    size_t n;
    static const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    static const char on[] = "*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n";
    ck_assert_int_eq(h_rc_roundtrip(&t, hello, sizeof(hello) - 1, &n)[0], '%');
    ck_assert_int_eq(h_rc_roundtrip(&t, on, sizeof(on) - 1, &n)[0], '+');
    char req[256];
    int l = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", ks.len[1], ks.k[1]);
    ck_assert_int_eq(h_rc_roundtrip(&t, req, (size_t)l, &n)[0], '$');

    write_file(file, lines4);
    ck_assert_int_eq(kill(px, SIGHUP), 0);
    wait_info(PROXY(0), "pool_placement_generation", gen, 0, 5000);
    const char *push = h_rc_read(&t, &n);
    char want[256];
    l = snprintf(want, sizeof(want), ">2\r\n$10\r\ninvalidate\r\n*1\r\n$%zu\r\n%s\r\n", ks.len[1],
                 ks.k[1]);
    ck_assert_msg(n == (size_t)l && memcmp(push, want, n) == 0, "%.*s", (int)n, push);
    h_rc_close(&t);
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_servers"), 4);
    /* Through the proxy now: a key still on its server reads back; a moved one is missing. */
    r = pipe_keys(p, &ks, "GET");
    int *moved = calloc((size_t)ks.n, sizeof(int));
    int nmoved = 0;
    for (int i = 0; i < ks.n; i++) {
        if (r[i]->type == REDIS_REPLY_NIL) {
            moved[i] = 1;
            nmoved++;
        } else {
            ck_assert_msg(is_value(r[i], "3:", &ks, i), "%s", ks.k[i]);
        }
    }
    replies_free(r, ks.n);
    /* nutcracker with the four servers: the keys it puts on the new server are the moved ones,
     * and it reads the others from where they were. */
    pid_t nc4 = nc_start(1, body4);
    redisContext *n4 = h_connect(NCP(1));
    pipe_set(n4, &ks, "4:");
    redisFree(n4);
    nc_stop(nc4);
    /* The old copy of a moved key is still on its old server, so holders() cannot be asked:
     * the new server holds exactly the keys nutcracker put there. */
    redisContext *c3 = h_connect(ports[3]);
    r = pipe_keys(c3, &ks, "EXISTS");
    int wrong = 0;
    for (int i = 0; i < ks.n; i++) wrong += (r[i]->integer == 1) != moved[i];
    replies_free(r, ks.n);
    redisFree(c3);
    ck_assert_msg(wrong == 0, "%d keys moved by slotproxy differ from nutcracker's", wrong);
    ck_assert_msg(nmoved > ks.n / 20 && nmoved < ks.n / 2, "%d of %d keys moved", nmoved, ks.n);
    /* And every key reads back as nutcracker wrote it. */
    r = pipe_keys(p, &ks, "GET");
    for (int i = 0; i < ks.n; i++) ck_assert_msg(is_value(r[i], "4:", &ks, i), "%s", ks.k[i]);
    replies_free(r, ks.n);
    free(moved);
    free(before);
    redisFree(p);
    proxy_stop(px, "pool-reload.log");
    for (int i = 0; i < 4; i++) h_single_stop(pids[i]);
    keys_free(&ks);
}
END_TEST

/* Keys that land on each of n servers: keys[s] is one that the proxy on pport puts on server s
 * (found by writing candidates through it and looking on the servers). */
static void keys_per_server(int pport, const int *ports, int n, char keys[][64])
{
    int found = 0;
    for (int s = 0; s < n; s++) keys[s][0] = '\0';
    for (int i = 0; found < n && i < 1000; i++) {
        char k[64];
        snprintf(k, sizeof(k), "probe:%d", i);
        int s = land(pport, ports, n, k);
        if (!keys[s][0]) {
            snprintf(keys[s], 64, "%s", k);
            found++;
        }
    }
    ck_assert_msg(found == n, "no key found for every server");
}

/* Without -auto-eject-hosts: a dead server's keys answer -ERR naming it, the other servers'
 * keys are served meanwhile, and everything comes back with the server. */
START_TEST(test_pool_dead_server)
{
    int ports[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char s0[64], s1[64], s2[64], dbg[64];
    snprintf(s0, sizeof(s0), "127.0.0.1:%d", ports[0]);
    snprintf(s1, sizeof(s1), "127.0.0.1:%d", ports[1]);
    snprintf(s2, sizeof(s2), "127.0.0.1:%d", ports[2]);
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", DBG(0));
    const char *flags[] = {"-pool-server", s0, "-pool-server", s1, "-pool-server", s2,
                           "-debug-addr", dbg, "-slots-reload-interval", "500ms", NULL};
    pid_t px = proxy_start(0, flags, "pool-dead.log");
    char keys[3][64];
    keys_per_server(PROXY(0), ports, 3, keys);
    redisContext *p = h_connect(PROXY(0));
    struct h_http hh;
    h_http(DBG(0), "GET", "/readyz", 5000, &hh);
    ck_assert_int_eq(hh.status, 200);
    h_http_free(&hh);

    h_single_stop(pids[1]);
    char want[128];
    snprintf(want, sizeof(want), "ERR server 127.0.0.1:%d is unreachable", ports[1]);
    for (int round = 0; round < 5; round++) {
        redisReply *r = h_cmd(p, "GET %s", keys[1]);
        ck_assert_msg(r->type == REDIS_REPLY_ERROR && strncmp(r->str, want, strlen(want)) == 0,
                      "GET on the dead server's key: %s", r->type == REDIS_REPLY_ERROR ? r->str
                                                                                       : "(no error)");
        freeReplyObject(r);
        h_expect_str(h_cmd(p, "GET %s", keys[0]), "landed");
        h_expect_str(h_cmd(p, "SET %s again", keys[2]), "OK");
    }
    /* A split with a part on the dead server says so; the live parts are not lost. */
    redisReply *r = h_cmd(p, "MGET %s %s", keys[0], keys[1]);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, "is unreachable"), "MGET: %d",
                  r->type);
    freeReplyObject(r);
    /* The debug port and INFO tell. */
    wait_info(PROXY(0), "pool_servers_unreachable", 1, 1, 5000);
    h_http(DBG(0), "GET", "/readyz", 5000, &hh);
    ck_assert_int_eq(hh.status, 503);
    ck_assert_msg(strstr(hh.body, "is unreachable") != NULL, "%s", hh.body);
    h_http_free(&hh);
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_servers_ejected"), 0);

    /* Back: served again within a second or two (the connection's back-off). */
    pids[1] = srv_start(ports[1]);
    uint64_t deadline = h_now_ms() + 5000;
    int ok = 0;
    while (!ok && h_now_ms() < deadline) {
        r = h_cmd(p, "SET %s back", keys[1]);
        ok = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok) h_sleep_ms(100);
    }
    ck_assert_msg(ok, "the server's keys were not served again within 5 s");
    redisContext *c = h_connect(ports[1]);
    h_expect_str(h_cmd(c, "GET %s", keys[1]), "back");
    redisFree(c);
    wait_info(PROXY(0), "pool_servers_unreachable", 0, 1, 5000);
    redisFree(p);
    proxy_stop(px, "pool-dead.log");
    for (int i = 0; i < 3; i++) h_single_stop(pids[i]);
}
END_TEST

/* -auto-eject-hosts: after -server-failure-limit failed probes the server leaves the placement
 * and its keys re-hash to the others (as twemproxy documents); after -server-retry-timeout it
 * is probed, and once it answers its keys are placed on it again. */
START_TEST(test_pool_auto_eject)
{
    int ports[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char lines[512], file[1024];
    snprintf(lines, sizeof(lines), "127.0.0.1:%d:1 a\n127.0.0.1:%d:1 b\n127.0.0.1:%d:1 c\n",
             ports[0], ports[1], ports[2]);
    wpath(file, sizeof(file), "pool-eject.txt");
    write_file(file, lines);
    const char *flags[] = {"-pool-servers",       file,   "-auto-eject-hosts", "yes",
                           "-server-failure-limit", "2",  "-server-retry-timeout", "1500",
                           "-threads",            "2",    NULL};
    pid_t px = proxy_start(0, flags, "pool-eject.log");
    char keys[3][64];
    keys_per_server(PROXY(0), ports, 3, keys);
    long long gen = info_field(PROXY(0), "proxy", "pool_placement_generation");
    redisContext *p = h_connect(PROXY(0));

    h_single_stop(pids[1]);
    uint64_t t0 = h_now_ms();
    /* Requests for its keys may fail until it is ejected (at most a second or so)... */
    int served = 0;
    while (!served && h_now_ms() < t0 + 5000) {
        redisReply *r = h_cmd(p, "SET %s rehashed", keys[1]);
        served = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!served) h_sleep_ms(50);
    }
    ck_assert_msg(served, "the ejected server's key was not served by another within 5 s");
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_servers_ejected"), 1);
    ck_assert_int_gt(info_field(PROXY(0), "proxy", "pool_placement_generation"), gen);
    /* ...then they live on the other servers; the others' keys did not move (ketama). */
    int where = -1;
    int live[2] = {ports[0], ports[2]};
    for (int s = 0; s < 2; s++) {
        redisContext *c = h_connect(live[s]);
        redisReply *r = h_cmd(c, "GET %s", keys[1]);
        if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "rehashed") == 0) where = s;
        freeReplyObject(r);
        redisFree(c);
    }
    ck_assert_msg(where >= 0, "the re-hashed key is on no live server");
    h_expect_str(h_cmd(p, "GET %s", keys[0]), "landed");
    h_expect_str(h_cmd(p, "GET %s", keys[2]), "landed");
    /* Still down at the retry time: stays out. */
    h_sleep_ms(1800);
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_servers_ejected"), 1);
    /* Back: at the next retry it is probed and put back; its keys go to it again. */
    pids[1] = srv_start(ports[1]);
    gen = info_field(PROXY(0), "proxy", "pool_placement_generation");
    wait_info(PROXY(0), "pool_servers_ejected", 0, 1, 5000);
    ck_assert_int_gt(info_field(PROXY(0), "proxy", "pool_placement_generation"), gen);
    ck_assert_int_eq(land(PROXY(0), ports, 3, keys[1]), 1);
    /* Every server ejected: keyed commands, fan-outs and scripts say so in the pool's words
     * (they said CLUSTERDOWN, as if a cluster were behind the proxy). */
    for (int i = 0; i < 3; i++) {
        h_single_stop(pids[i]);
        pids[i] = -1;
    }
    wait_info(PROXY(0), "pool_servers_ejected", 3, 1, 8000);
    static const char *const none[] = {"DBSIZE",    "SCRIPT LOAD return", "RANDOMKEY",
                                       "SET k v",   "MGET a b c",         "FLUSHALL",
                                       "EVAL return 0", "SCAN 0",         "WATCH a",
                                       "SUBSCRIBE x",   "PSUBSCRIBE x*",  "SSUBSCRIBE x"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        redisReply *r = h_cmd(p, none[i]);
        ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                          strncmp(r->str, "ERR no server of the pool is available", 38) == 0,
                      "%s: %s", none[i], r->str ? r->str : "(not an error)");
        freeReplyObject(r);
    }
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(p);
    proxy_stop(px, "pool-eject.log");
}
END_TEST

/* Replicas found with INFO replication on each master serve reads with -read-prefer replica;
 * writes go to the masters (each server's own command statistics say so). */
START_TEST(test_pool_replicas)
{
    int m[2] = {SRV(0), SRV(1)}, rp[2] = {SRV(10), SRV(11)};
    pid_t mp[2], rpid[2];
    for (int i = 0; i < 2; i++) mp[i] = srv_start(m[i]);
    for (int i = 0; i < 2; i++) {
        char mport[16];
        snprintf(mport, sizeof(mport), "%d", m[i]);
        const char *extra[] = {"--replicaof", "127.0.0.1", mport, NULL};
        rpid[i] = h_single_start_with(rp[i], extra);
        ck_assert_int_gt(rpid[i], 0);
    }
    for (int i = 0; i < 2; i++) {
        uint64_t deadline = h_now_ms() + 10000;
        int up = 0;
        while (!up && h_now_ms() < deadline) {
            redisContext *c = h_connect(rp[i]);
            redisReply *r = h_cmd(c, "INFO replication");
            up = strstr(r->str, "master_link_status:up") != NULL;
            freeReplyObject(r);
            redisFree(c);
            if (!up) h_sleep_ms(100);
        }
        ck_assert_msg(up, "replica %d never synced", rp[i]);
    }
    char s0[64], s1[64], dbg[64];
    snprintf(s0, sizeof(s0), "127.0.0.1:%d", m[0]);
    snprintf(s1, sizeof(s1), "127.0.0.1:%d", m[1]);
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", DBG(1));
    const char *flags[] = {"-pool-server", s0, "-pool-server", s1, "-read-prefer", "replica",
                           "-debug-addr", dbg, "-slots-reload-interval", "500ms", NULL};
    pid_t px = proxy_start(1, flags, "pool-replicas.log");
    /* The map has both replicas, usable, once their masters have been probed. */
    uint64_t deadline = h_now_ms() + 10000;
    int usable = 0;
    while (usable < 2 && h_now_ms() < deadline) {
        struct h_http hh;
        h_http(DBG(1), "GET", "/debug/slots", 5000, &hh);
        usable = 0;
        for (const char *q = hh.body; (q = strstr(q, "\"usable\":true")) != NULL; q++) usable++;
        h_http_free(&hh);
        if (usable < 2) h_sleep_ms(100);
    }
    ck_assert_msg(usable == 2, "%d usable replicas in /debug/slots", usable);
    redisContext *p = h_connect(PROXY(1));
    for (int i = 0; i < 200; i++) h_expect_str(h_cmd(p, "SET rk:%d v%d", i, i), "OK");
    h_expect_int(h_cmd(p, "WAIT 1 2000"), 1); /* every master: each has its replica in sync */
    long long mget0[2], rget0[2];
    for (int i = 0; i < 2; i++) {
        mget0[i] = calls(m[i], "get");
        rget0[i] = calls(rp[i], "get");
    }
    for (int i = 0; i < 200; i++) {
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        h_expect_str(h_cmd(p, "GET rk:%d", i), want);
    }
    long long on_replicas = 0;
    for (int i = 0; i < 2; i++) {
        long long mg = calls(m[i], "get");
        ck_assert_msg(mg == mget0[i], "master %d served %lld GETs", m[i], mg - mget0[i]);
        long long rg = calls(rp[i], "get");
        ck_assert_msg(rg > rget0[i], "replica %d served no GET", rp[i]);
        on_replicas += rg - rget0[i];
    }
    /* Writes went to the masters (the replicas run them only as replication sends them). */
    ck_assert_int_eq(calls(m[0], "set") + calls(m[1], "set"), 200);
    ck_assert_int_eq(on_replicas, 200);
    ck_assert_int_ge(info_field(PROXY(1), "proxy", "replica_reads"), 200);
    redisFree(p);
    proxy_stop(px, "pool-replicas.log");
    for (int i = 0; i < 2; i++) {
        h_single_stop(rpid[i]);
        h_single_stop(mp[i]);
    }
}
END_TEST

/* IPv6 servers: "[::1]:port" (weight 1), and "::1:port:weight" read from the end as nutcracker
 * reads it; both reached, each holding its share of the keys. */
START_TEST(test_pool_ipv6)
{
    const char *const v6[] = {"--bind", "127.0.0.1 ::1", NULL};
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = h_single_start_with(SRV(i), v6);
        ck_assert_msg(pids[i] > 0, "cannot start redis-server on %d", SRV(i));
    }
    char a[64], b[64];
    snprintf(a, sizeof(a), "[::1]:%d", SRV(0));
    snprintf(b, sizeof(b), "::1:%d:1", SRV(1));
    /* md5: fnv1a_64 (the default, as nutcracker's) happens to put all of these keys on one of
     * these two servers. */
    const char *flags[] = {"-pool-server", a, "-pool-server", b, "-hash", "md5", NULL};
    pid_t px = proxy_start(0, flags, "pool-ipv6.log");
    redisContext *p = h_connect(PROXY(0));
    for (int i = 0; i < 100; i++) h_expect_str(h_cmd(p, "SET v6:%d %d", i, i), "OK");
    for (int i = 0; i < 100; i++) {
        redisReply *r = h_cmd(p, "GET v6:%d", i);
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert_int_eq(atoi(r->str), i);
        freeReplyObject(r);
    }
    long long total = 0;
    for (int i = 0; i < 2; i++) {
        redisContext *s = h_connect(SRV(i));
        redisReply *r = h_cmd(s, "DBSIZE");
        ck_assert_msg(r->integer > 0, "server %d holds no key (%lld on the other)", i,
                      100 - r->integer);
        total += r->integer;
        freeReplyObject(r);
        redisFree(s);
    }
    ck_assert_int_eq(total, 100);
    redisFree(p);
    proxy_stop(px, "pool-ipv6.log");
    for (int i = 0; i < 2; i++) h_single_stop(pids[i]);
}
END_TEST

/* MGET/MSET/DEL/EXISTS split by server and merged; DBSIZE, KEYS and SCAN over every server;
 * the CLUSTER commands, HELLO and INFO as a standalone Redis has them; MOVED relayed. */
START_TEST(test_pool_fanout)
{
    int ports[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char lines[512], file[1024];
    snprintf(lines, sizeof(lines), "127.0.0.1:%d:1\n127.0.0.1:%d:1\n127.0.0.1:%d:1\n", ports[0],
             ports[1], ports[2]);
    wpath(file, sizeof(file), "pool-fanout.txt");
    write_file(file, lines);
    const char *flags[] = {"-pool-servers", file, "-threads", "2", NULL};
    pid_t px = proxy_start(0, flags, "pool-fanout.log");
    redisContext *p = h_connect(PROXY(0));
    /* One MSET of 300 keys: split over the three servers, every key on exactly one. */
    enum { N = 300 };
    const char *argv[1 + 2 * N];
    size_t lens[1 + 2 * N];
    static char kb[N][32], vb[N][32];
    argv[0] = "MSET";
    lens[0] = 4;
    struct keyset ks;
    memset(&ks, 0, sizeof(ks));
    for (int i = 0; i < N; i++) {
        snprintf(kb[i], sizeof(kb[i]), "fan:%d:%x", i, (unsigned)i * 2654435761u);
        snprintf(vb[i], sizeof(vb[i]), "val:%d", i);
        argv[1 + 2 * i] = kb[i];
        lens[1 + 2 * i] = strlen(kb[i]);
        argv[2 + 2 * i] = vb[i];
        lens[2 + 2 * i] = strlen(vb[i]);
        keys_add(&ks, kb[i], strlen(kb[i]));
    }
    h_expect_str(h_cmd_argv(p, 1 + 2 * N, argv, lens), "OK");
    int counts[3];
    free(holders(ports, 3, &ks, counts));
    for (int s = 0; s < 3; s++) ck_assert_msg(counts[s] > 0, "no key on server %d", s);
    /* MGET in the caller's order. */
    argv[0] = "MGET";
    for (int i = 0; i < N; i++) {
        argv[1 + i] = kb[N - 1 - i];
        lens[1 + i] = strlen(kb[N - 1 - i]);
    }
    redisReply *r = h_cmd_argv(p, 1 + N, argv, lens);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == N);
    for (int i = 0; i < N; i++) ck_assert_str_eq(r->element[i]->str, vb[N - 1 - i]);
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "DBSIZE"), N);
    r = h_cmd(p, "KEYS fan:*");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == N);
    freeReplyObject(r);
    /* SCAN walks the servers one after the other: every key once, and the walk ends at 0. */
    char *seen = calloc(N, 1);
    unsigned long long cursor = 0;
    int pages = 0, total = 0;
    do {
        r = h_cmd(p, "SCAN %llu COUNT 40", cursor);
        ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        cursor = strtoull(r->element[0]->str, NULL, 10);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            int k = atoi(r->element[1]->element[i]->str + 4);
            ck_assert(k >= 0 && k < N);
            ck_assert_msg(!seen[k], "SCAN gave fan:%d twice", k);
            seen[k] = 1;
            total++;
        }
        freeReplyObject(r);
        ck_assert_int_lt(++pages, 1000);
    } while (cursor != 0);
    ck_assert_int_eq(total, N);
    free(seen);
    h_expect_int(h_cmd(p, "EXISTS %s %s %s nothere", kb[1], kb[2], kb[3]), 3);
    h_expect_int(h_cmd(p, "DEL %s %s %s nothere", kb[1], kb[2], kb[3]), 3);
    h_expect_int(h_cmd(p, "DBSIZE"), N - 3);
    /* Two keys on different servers in a command that cannot be split. */
    char keys[3][64];
    keys_per_server(PROXY(0), ports, 3, keys);
    r = h_cmd(p, "RENAME %s %s", keys[0], keys[1]);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                      strcmp(r->str, "CROSSSLOT Keys in request don't hash to the same server of "
                                     "the pool") == 0,
                  "%s", r->str);
    freeReplyObject(r);
    /* The CLUSTER commands as a standalone redis-server answers them, byte for byte. */
    redisContext *ref = h_connect(ports[0]);
    static const char *const cl[] = {"CLUSTER INFO", "CLUSTER SLOTS", "CLUSTER KEYSLOT a",
                                     "CLUSTER NOSUCH", "CLUSTER"};
    for (size_t i = 0; i < NELEMS(cl); i++) {
        redisReply *a = h_cmd(ref, cl[i]), *b = h_cmd(p, cl[i]);
        ck_assert_msg(a->type == REDIS_REPLY_ERROR && b->type == REDIS_REPLY_ERROR, "%s", cl[i]);
        ck_assert_str_eq(b->str, a->str);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisFree(ref);
    r = h_cmd(p, "HELLO 2");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements >= 10);
    ck_assert_str_eq(r->element[8]->str, "mode");
    ck_assert_str_eq(r->element[9]->str, "standalone");
    freeReplyObject(r);
    ck_assert_int_eq(info_field(PROXY(0), "cluster", "cluster_enabled"), 0);
    h_expect_str(h_cmd(p, "SELECT 0"), "OK");
    r = h_cmd(p, "SELECT 1");
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, "only database 0"), "%s", r->str);
    freeReplyObject(r);
    ck_assert_int_eq(info_field(PROXY(0), "proxy", "pool_servers"), 3);
    /* A server that answers MOVED (not expected of a standalone one): relayed as it is. */
    redisContext *c = h_connect(ports[2]);
    h_expect_str(h_cmd(c, "SET %s 1", keys[2]), "OK");
    redisFree(c);
    r = h_cmd(p, "EVAL %s 1 %s", "return redis.error_reply('MOVED 1 127.0.0.1:1')", keys[2]);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strcmp(r->str, "MOVED 1 127.0.0.1:1") == 0,
                  "%s", r->str);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    keys_free(&ks);
    redisFree(p);
    proxy_stop(px, "pool-fanout.log");
    for (int i = 0; i < 3; i++) h_single_stop(pids[i]);
}
END_TEST

/* Pub/Sub (channels, shard channels), BLPOP on a private connection, and MULTI/EXEC on the
 * transaction's server; a transaction across servers is refused and aborted; a tracking client's
 * invalidations from every server. */
START_TEST(test_pool_pubsub_blocking_txn)
{
    int ports[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char lines[512], file[1024];
    snprintf(lines, sizeof(lines), "127.0.0.1:%d:1 a\n127.0.0.1:%d:1 b\n127.0.0.1:%d:1 c\n",
             ports[0], ports[1], ports[2]);
    wpath(file, sizeof(file), "pool-state.txt");
    write_file(file, lines);
    const char *flags[] = {"-pool-servers", file, "-hash-tag", "{}", "-threads", "2", NULL};
    pid_t px = proxy_start(0, flags, "pool-state.log");
    char keys[3][64];
    keys_per_server(PROXY(0), ports, 3, keys);

    /* SUBSCRIBE, and PUBLISH from another client: the message, and the count of 1. */
    redisContext *sub = h_connect(PROXY(0));
    redisReply *r = h_cmd(sub, "SUBSCRIBE news");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->integer == 1);
    freeReplyObject(r);
    r = h_cmd(sub, "SSUBSCRIBE {%s}", keys[2]); /* a shard channel of server 2 */
    freeReplyObject(r);
    redisContext *p = h_connect(PROXY(0));
    h_expect_int(h_cmd(p, "PUBLISH news hello"), 1);
    ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    ck_assert_str_eq(r->element[0]->str, "message");
    ck_assert_str_eq(r->element[2]->str, "hello");
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "SPUBLISH {%s} sharded", keys[2]), 1);
    ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    ck_assert_str_eq(r->element[0]->str, "smessage");
    ck_assert_str_eq(r->element[2]->str, "sharded");
    freeReplyObject(r);
    /* The shard channel's subscription is on server 2 itself. */
    redisContext *c = h_connect(ports[2]);
    r = h_cmd(c, "PUBSUB SHARDNUMSUB {%s}", keys[2]);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer == 1);
    freeReplyObject(r);
    redisFree(c);
    redisFree(sub);

    /* BLPOP waits on its own connection; the shared ones keep serving. */
    redisContext *b = h_connect(PROXY(0));
    char list[80];
    snprintf(list, sizeof(list), "{%s}:list", keys[1]);
    redisAppendCommand(b, "BLPOP %s 10", list);
    int done = 0;
    while (!done) ck_assert_int_eq(redisBufferWrite(b, &done), REDIS_OK);
    h_sleep_ms(200);
    h_expect_str(h_cmd(p, "GET %s", keys[0]), "landed"); /* not blocked behind it */
    h_expect_int(h_cmd(p, "LPUSH %s item", list), 1);
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    ck_assert_str_eq(r->element[1]->str, "item");
    freeReplyObject(r);
    redisFree(b);

    /* MULTI/EXEC on server 1 (the hash tag keeps the keys together). */
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET {%s}:n 10", keys[1]), "QUEUED");
    h_expect_str(h_cmd(p, "INCRBY {%s}:n 5", keys[1]), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer == 15);
    freeReplyObject(r);
    c = h_connect(ports[1]);
    h_expect_str(h_cmd(c, "GET {%s}:n", keys[1]), "15");
    redisFree(c);
    /* Across servers: refused while queuing, and EXEC aborts. */
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET %s x", keys[0]), "QUEUED");
    r = h_cmd(p, "SET %s y", keys[2]);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR && strstr(r->str, "same server of the pool"), "%s",
                  r->str);
    freeReplyObject(r);
    r = h_cmd(p, "EXEC");
    ck_assert(r->type == REDIS_REPLY_ERROR && strncmp(r->str, "EXECABORT", 9) == 0);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "GET %s", keys[0]), "landed");

    /* Client-side caching: a RESP3 client that read a key hears of its change, whichever server
     * holds it. */
    struct h_rc t;
    h_rc_open(&t, PROXY(0));
    size_t n;
    static const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    const char *rep = h_rc_roundtrip(&t, hello, sizeof(hello) - 1, &n);
    ck_assert_int_eq(rep[0], '%');
    static const char on[] = "*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n";
    rep = h_rc_roundtrip(&t, on, sizeof(on) - 1, &n);
    ck_assert_msg(n == 5 && memcmp(rep, "+OK\r\n", 5) == 0, "%.*s", (int)n, rep);
    for (int s = 0; s < 3; s++) {
        char req[256], want[256];
        int l = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(keys[s]),
                         keys[s]);
        rep = h_rc_roundtrip(&t, req, (size_t)l, &n);
        ck_assert_msg(n == 12 && memcmp(rep, "$6\r\nlanded\r\n", 12) == 0, "%.*s", (int)n, rep);
        h_expect_str(h_cmd(p, "SET %s changed", keys[s]), "OK");
        l = snprintf(want, sizeof(want), ">2\r\n$10\r\ninvalidate\r\n*1\r\n$%zu\r\n%s\r\n",
                     strlen(keys[s]), keys[s]);
        rep = h_rc_read(&t, &n);
        ck_assert_msg(n == (size_t)l && memcmp(rep, want, n) == 0, "server %d: %.*s", s, (int)n,
                      rep);
    }
    h_rc_close(&t);
    redisFree(p);
    proxy_stop(px, "pool-state.log");
    for (int i = 0; i < 3; i++) h_single_stop(pids[i]);
}
END_TEST

/* A non-loopback IPv4 address of this host, for protected mode; 0 when there is none. */
static int outside_ip(char *ip, size_t cap)
{
    struct ifaddrs *ifs = NULL;
    int found = 0;
    if (getifaddrs(&ifs) < 0) return 0;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        if ((ntohl(a.s_addr) >> 24) == 127) continue;
        inet_ntop(AF_INET, &a, ip, (socklen_t)cap);
        found = 1;
    }
    freeifaddrs(ifs);
    return found;
}

/* The debug port's pool view and metrics; limits and protected mode, as in cluster mode. */
START_TEST(test_pool_ops)
{
    int ports[2];
    pid_t pids[2];
    for (int i = 0; i < 2; i++) pids[i] = srv_start(ports[i] = SRV(i));
    char s0[64], s1[64], dbg[64], addr[64];
    snprintf(s0, sizeof(s0), "127.0.0.1:%d:2 big", ports[0]);
    snprintf(s1, sizeof(s1), "localhost:%d:1 small", ports[1]); /* a name, resolved */
    snprintf(dbg, sizeof(dbg), "127.0.0.1:%d", DBG(2));
    snprintf(addr, sizeof(addr), "0.0.0.0:%d", PROXY(2));
    const char *flags[] = {"-addr",       addr, "-pool-server", s0, "-pool-server", s1,
                           "-debug-addr", dbg,  "-maxclients",  "3", NULL};
    pid_t px = proxy_start(2, flags, "pool-ops.log");
    struct h_http hh;
    h_http(DBG(2), "GET", "/debug/slots", 5000, &hh);
    ck_assert_int_eq(hh.status, 200);
    char want[128];
    snprintf(want, sizeof(want), "\"addr\":\"127.0.0.1:%d\",\"name\":\"big\",\"weight\":2,\"slot\":0",
             ports[0]);
    ck_assert_msg(strstr(hh.body, want) != NULL, "%s", hh.body);
    ck_assert_msg(strstr(hh.body, "\"slots_served\":2") != NULL, "%s", hh.body);
    snprintf(want, sizeof(want), "\"addr\":\"localhost:%d\",\"name\":\"small\"", ports[1]);
    ck_assert_msg(strstr(hh.body, want) != NULL, "%s", hh.body);
    h_http_free(&hh);
    h_http(DBG(2), "GET", "/metrics", 5000, &hh);
    ck_assert_msg(strstr(hh.body, "slotproxy_pool_servers{state=\"live\"} 2\n") != NULL, "%s",
                  hh.body);
    ck_assert(strstr(hh.body, "slotproxy_pool_servers{state=\"ejected\"} 0\n") != NULL);
    h_http_free(&hh);
    h_http(DBG(2), "GET", "/readyz", 5000, &hh);
    ck_assert_int_eq(hh.status, 200);
    h_http_free(&hh);
    /* Keys on both servers, the one named localhost included: served, and every key where the
     * weights put it (two thirds of them, roughly, on the weight-2 server). */
    redisContext *k = h_connect(PROXY(2));
    for (int i = 0; i < 300; i++)
        h_expect_str(h_cmd(k, "SET ops:%d:%x v", i, (unsigned)i * 2654435761u), "OK");
    long long n0 = dbsize(ports[0]), n1 = dbsize(ports[1]);
    ck_assert_msg(n0 + n1 == 300 && n0 > n1 && n1 > 30, "%lld and %lld keys", n0, n1);
    h_expect_int(h_cmd(k, "DBSIZE"), 300);
    redisFree(k);
    /* -maxclients 3: the fourth client is refused with Redis's text. */
    redisContext *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = h_connect(PROXY(2));
        h_expect_str(h_cmd(c[i], "PING"), "PONG");
    }
    char out[256];
    int closed;
    h_raw(PROXY(2), "PING\r\n", 6, out, sizeof(out), 1000, 0, &closed);
    ck_assert_str_eq(out, "-ERR max number of clients reached\r\n");
    for (int i = 0; i < 3; i++) redisFree(c[i]);
    /* Protected mode: a client from outside loopback gets -DENIED (without a password). */
    char ip[64];
    if (outside_ip(ip, sizeof(ip))) {
        h_sleep_ms(200); /* the three clients above are gone */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)PROXY(2))};
        inet_pton(AF_INET, ip, &sa.sin_addr);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ck_assert_int_eq(poll(&pf, 1, 3000), 1);
        ssize_t n = read(fd, out, sizeof(out) - 1);
        ck_assert_int_gt(n, 8);
        out[n] = '\0';
        ck_assert_msg(strncmp(out, "-DENIED ", 8) == 0, "%s", out);
        close(fd);
        ck_assert_int_eq(info_field(PROXY(2), "proxy", "clients_denied_protected_mode"), 1);
    } else {
        fprintf(stderr, "test_pool_ops: no non-loopback address; protected mode not checked\n");
    }
    proxy_stop(px, "pool-ops.log");
    for (int i = 0; i < 2; i++) h_single_stop(pids[i]);
}
END_TEST

/* The port of -http-addr among flags, or 0. */
static int http_port_of(const char *const *flags)
{
    for (int i = 0; flags[i] && flags[i + 1]; i++)
        if (strcmp(flags[i], "-http-addr") == 0) return atoi(strchr(flags[i + 1], ':') + 1);
    return 0;
}

/* The headers of a form POST with body form (static storage). */
static const char *http_form_headers(const char *form)
{
    static char h[128];
    snprintf(h, sizeof(h), "Content-Type: application/x-www-form-urlencoded\r\n"
                           "Content-Length: %zu\r\n",
             strlen(form));
    return h;
}

/* -cross-slot compute over a pool: rediscluster-py's example (SDIFFSTORE of sets on different
 * servers), SUNIONSTORE, RENAME and MSETNX across servers, with and without the pool's hash tag;
 * the temporary keys land next to the first key and are gone afterwards. */
static void cross_pool_round(const char *const *flags, const char *log)
{
    int ports[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) pids[i] = srv_start(ports[i] = SRV(i));
    pid_t px = proxy_start(0, flags, log);
    char k[3][64];
    keys_per_server(PROXY(0), ports, 3, k);
    redisContext *p = h_connect(PROXY(0));
    for (int i = 0; i < 3; i++) freeReplyObject(h_cmd(p, "DEL %s", k[i]));
    h_expect_int(h_cmd(p, "SADD %s a1 a2 a3", k[0]), 3);
    h_expect_int(h_cmd(p, "SADD %s b1 a2 b3", k[1]), 3);
    h_expect_int(h_cmd(p, "SDIFFSTORE %s %s %s", k[2], k[0], k[1]), 2);
    redisReply *r = h_cmd(p, "SORT %s ALPHA", k[2]);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    ck_assert_str_eq(r->element[0]->str, "a1");
    ck_assert_str_eq(r->element[1]->str, "a3");
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "SUNIONSTORE %s %s %s", k[0], k[1], k[2]), 5);
    h_expect_str(h_cmd(p, "SET %s moved", k[1]), "OK");
    h_expect_str(h_cmd(p, "RENAME %s %s", k[1], k[2]), "OK");
    h_expect_int(h_cmd(p, "EXISTS %s", k[1]), 0);
    r = h_cmd(p, "GET %s", k[2]);
    ck_assert_str_eq(r->str, "moved");
    freeReplyObject(r);
    h_expect_int(h_cmd(p, "MSETNX %s x %s y", k[1], "msetnx:other"), 1);
    h_expect_int(h_cmd(p, "MSETNX %s x %s y", k[1], "msetnx:new"), 0);
    /* The HTTP/JSON front over the pool: redis-router's example, keys on two servers. */
    if (http_port_of(flags) > 0) {
        char form[256];
        struct h_http h;
        snprintf(form, sizeof(form), "command=sadd&arguments=http:teams,galatasaray,fenerbahce");
        h_http_req(http_port_of(flags), "POST", "/", http_form_headers(form), form, strlen(form),
                   10000, &h);
        ck_assert_int_eq(h.status, 200);
        ck_assert_msg(strncmp(h.body, "{\"response\": 2}", 15) == 0, "%s", h.body);
        h_http_free(&h);
        snprintf(form, sizeof(form), "command=smembers&arguments=http:teams");
        h_http_req(http_port_of(flags), "POST", "/", http_form_headers(form), form, strlen(form),
                   10000, &h);
        ck_assert_int_eq(h.status, 200);
        ck_assert_msg(strstr(h.body, "galatasaray") && strstr(h.body, "fenerbahce"), "%s", h.body);
        h_http_free(&h);
        /* Across servers, computed (-cross-slot compute): nothing in common. */
        snprintf(form, sizeof(form), "command=sinterstore&arguments=http:dst,%s,http:teams", k[0]);
        h_http_req(http_port_of(flags), "POST", "/", http_form_headers(form), form, strlen(form),
                   10000, &h);
        ck_assert_int_eq(h.status, 200);
        ck_assert_msg(strncmp(h.body, "{\"response\": 0}", 15) == 0, "%s", h.body);
        h_http_free(&h);
    }
    /* No temporary key left on any server. */
    for (int i = 0; i < 3; i++) {
        redisContext *c = h_connect(ports[i]);
        r = h_cmd(c, "KEYS *slotproxy-tmp*");
        ck_assert_msg(r->elements == 0, "%zu temporary keys left on server %d", r->elements, i);
        freeReplyObject(r);
        redisFree(c);
    }
    redisFree(p);
    proxy_stop(px, log);
    for (int i = 0; i < 3; i++) h_single_stop(pids[i]);
}

START_TEST(test_pool_cross_compute)
{
    char lines[512], file[1024];
    snprintf(lines, sizeof(lines), "127.0.0.1:%d:1\n127.0.0.1:%d:1\n127.0.0.1:%d:1\n", SRV(0),
             SRV(1), SRV(2));
    wpath(file, sizeof(file), "pool-cross.txt");
    write_file(file, lines);
    char http[64];
    snprintf(http, sizeof(http), "127.0.0.1:%d", PROXY(1));
    const char *plain[] = {"-pool-servers", file, "-cross-slot", "compute", "-http-addr", http,
                           NULL};
    cross_pool_round(plain, "pool-cross.log");
    const char *tagged[] = {"-pool-servers", file, "-hash-tag", "{}", "-cross-slot", "compute",
                            NULL};
    cross_pool_round(tagged, "pool-cross-tag.log");
}
END_TEST

Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("placement");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pool_ketama_nutcracker);
    tcase_add_test(tc, test_pool_modula_nutcracker);
    tcase_add_test(tc, test_pool_libketama);
    tcase_add_test(tc, test_pool_crc32_mod_and_strip);
    tcase_add_test(tc, test_pool_reload_add_server);
    suite_add_tcase(s, tc);
    tc = tcase_create("life");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pool_dead_server);
    tcase_add_test(tc, test_pool_auto_eject);
    tcase_add_test(tc, test_pool_replicas);
    tcase_add_test(tc, test_pool_fanout);
    tcase_add_test(tc, test_pool_ipv6);
    tcase_add_test(tc, test_pool_pubsub_blocking_txn);
    tcase_add_test(tc, test_pool_ops);
    tcase_add_test(tc, test_pool_cross_compute);
    suite_add_tcase(s, tc);
    return s;
}
