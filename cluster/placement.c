/*
 * Pool-mode placement; see placement.h for what each distribution reproduces. placement_create
 * turns a server list into lookup tables once (continuum points for ketama and libketama,
 * cumulative weights for modula, nutcracker's server order for modula and random); the lookups
 * afterwards only read them. The config layer calls placement_create when pool mode starts or
 * its server list changes, and the routing layer calls placement_lookup for every key.
 *
 * Written from reading how nutcracker 0.5.0 (nc_ketama.c, nc_modula.c, nc_random.c,
 * nc_server.c, nc_conf.c), libketama (ketama.c) and rediscluster-py (cluster_client.py) behave;
 * the comments describe that behaviour, and tests/unit/fixtures holds placements made by a real
 * nutcracker that the unit tests compare against.
 */
#include "placement.h"

#include "md5.h"
#include "mem.h"
#include "px_errors.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct placement {
    struct placement_opts opts;
    size_t nservers;
    /* Continuum (ketama, libketama): point values ascending, and the server (caller index) of
     * each point. */
    uint32_t *values;
    uint32_t *owners;
    size_t npoints;
    uint32_t *server_points; /* points per server, by caller index */
    /* nutcracker's order (modula, random): position -> caller index, and for modula the
     * running total of the weights up to and including each position. */
    uint32_t *order;
    uint64_t *cum_weight;
};

static const char *const dist_names[PLACEMENT_DIST_COUNT] = {
    [PLACEMENT_KETAMA] = "ketama",       [PLACEMENT_LIBKETAMA] = "libketama",
    [PLACEMENT_MODULA] = "modula",       [PLACEMENT_RANDOM] = "random",
    [PLACEMENT_CRC32_MOD] = "crc32-mod",
};

void placement_opts_init(struct placement_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->dist = PLACEMENT_KETAMA;
    o->hash = HASHKIT_DEFAULT;
}

int placement_dist_by_name(const char *name)
{
    for (int d = 0; d < PLACEMENT_DIST_COUNT; d++)
        if (strcmp(name, dist_names[d]) == 0) return d;
    return PX_EINVAL;
}

const char *placement_dist_name(enum placement_dist d)
{
    return (unsigned)d < PLACEMENT_DIST_COUNT ? dist_names[d] : "?";
}

/* ---- hash-tag rules ---------------------------------------------------------------------- */

void placement_tag_span(const char tag[2], const char *key, size_t len, size_t *off, size_t *n)
{
    *off = 0;
    *n = len;
    const char *open = memchr(key, tag[0], len);
    if (!open) return;
    size_t start = (size_t)(open - key) + 1;
    const char *close = memchr(key + start, tag[1], len - start);
    if (!close || close == key + start) return;
    *off = start;
    *n = (size_t)(close - key) - start;
}

void placement_rc_span(const char *key, size_t len, size_t *off, size_t *n)
{
    *off = 0;
    *n = len;
    const char *open = memchr(key, '{', len);
    if (!open) return;
    /* Python's key[i + 1:-1]: from after the '{' to the last byte, exclusive; empty when the
     * '{' is the last or second-to-last byte. */
    size_t start = (size_t)(open - key) + 1;
    *off = start;
    *n = len - 1 > start ? len - 1 - start : 0;
}

size_t placement_rc_stored_len(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    return open ? (size_t)(open - key) : len;
}

/* ---- building ---------------------------------------------------------------------------- */

/* A server's name as nutcracker or libketama hashes and sorts it. */
struct srv_name {
    const char *p;
    size_t len;
    uint32_t index; /* caller index */
};

/* A continuum point before sorting; seq keeps equal values in the order they were made, as
 * glibc's qsort (a merge sort for arrays this small) leaves them in both nutcracker and
 * libketama, so that a tie goes to the same server. */
struct raw_point {
    uint32_t value;
    uint32_t owner;
    uint32_t seq;
};

static int raw_point_cmp(const void *x, const void *y)
{
    const struct raw_point *a = x, *b = y;
    if (a->value != b->value) return a->value < b->value ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* nutcracker's string_compare: the shorter name first, then bytewise. */
static int srv_name_cmp(const void *x, const void *y)
{
    const struct srv_name *a = x, *b = y;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return memcmp(a->p, b->p, a->len);
}

/*
 * Fills names[i] for every server: the configured name, else "host:port", where nutcracker
 * (nc_conf.c, conf_add_server) drops ":port" for port 11211 and libketama never does. The
 * derived strings are written into buf (n * (longest host + 8) bytes, owned by the caller).
 */
static void derive_names(const struct placement_server *s, size_t n, bool nutcracker,
                         struct srv_name *names, char *buf, size_t bufsz)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        names[i].index = (uint32_t)i;
        if (s[i].name) {
            names[i].p = s[i].name;
            names[i].len = strlen(s[i].name);
        } else if (nutcracker && s[i].port == 11211) {
            names[i].p = s[i].host;
            names[i].len = strlen(s[i].host);
        } else {
            int w = snprintf(buf + used, bufsz - used, "%s:%d", s[i].host, s[i].port);
            assert(w > 0 && (size_t)w < bufsz - used);
            names[i].p = buf + used;
            names[i].len = (size_t)w;
            used += (size_t)w + 1;
        }
    }
}

/* Appends the four points of MD5(text): each 4-byte group of the digest, little-endian. */
static size_t add_digest_points(struct raw_point *pts, size_t np, const char *text, size_t len,
                                uint32_t owner)
{
    unsigned char d[MD5_DIGEST_LEN];
    md5_digest(text, len, d);
    for (int g = 0; g < 4; g++) {
        const unsigned char *q = d + 4 * g;
        pts[np].value =
            (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        pts[np].owner = owner;
        pts[np].seq = (uint32_t)np;
        np++;
    }
    return np;
}

/*
 * nutcracker's number of MD5 digests ("hashes", four points each) for a server, from
 * ketama_update: the server's share of the total weight, times 160, divided by 4, times the
 * number of live servers, each step in single precision; then 1e-10 is added in double
 * precision (too little to change any float in range, so it never rounds a 39.999998 up),
 * floored in single precision. The order of operations matters: it decides where the float
 * rounding falls, and so how many points a server with an awkward share of the weight gets.
 */
static uint32_t ketama_hashes(uint32_t weight, uint32_t total, size_t nlive)
{
    float share = (float)weight / (float)total;
    float x = share * 160.0f;
    x = x / 4.0f;
    x = x * (float)nlive;
    float nudged = (float)((double)x + 0.0000000001);
    return (uint32_t)floorf(nudged);
}

/*
 * libketama's digests per server (ketama_create_continuum): the share in single precision,
 * times 40.0 and the number of servers in double precision, handed to floorf (so rounded to
 * single precision first).
 */
static uint32_t libketama_hashes(uint64_t memory, uint64_t total, size_t nservers)
{
    float share = (float)memory / (float)total;
    double x = (double)share * 40.0 * (double)(float)nservers;
    return (uint32_t)floorf((float)x);
}

/* Builds the continuum of ketama or libketama from names given in the order each system walks
 * its servers (nutcracker's sorted order; libketama's file order). */
static int build_continuum(struct placement *pl, const struct placement_server *s,
                           const struct srv_name *names, size_t n)
{
    bool nc = pl->opts.dist == PLACEMENT_KETAMA;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += s[i].weight;

    uint32_t *hashes = px_calloc(n, sizeof(*hashes));
    size_t npoints = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = s[names[i].index].weight;
        hashes[i] = nc ? ketama_hashes(w, (uint32_t)total, n) : libketama_hashes(w, total, n);
        npoints += (size_t)hashes[i] * 4;
    }
    struct raw_point *pts = px_calloc(npoints ? npoints : 1, sizeof(*pts));
    size_t np = 0;
    char text[PLACEMENT_KETAMA_POINT_NAME_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        uint32_t owner = names[i].index;
        pl->server_points[owner] += hashes[i] * 4;
        for (uint32_t h = 0; h < hashes[i]; h++) {
            /* "<name>-<h>"; nutcracker formats into 273 bytes and hashes what fits. */
            int w = snprintf(text, sizeof(text), "%.*s-%u", (int)names[i].len, names[i].p, h);
            size_t tl = (size_t)w < sizeof(text) ? (size_t)w : sizeof(text) - 1;
            np = add_digest_points(pts, np, text, tl, owner);
        }
    }
    assert(np == npoints);
    qsort(pts, np, sizeof(*pts), raw_point_cmp);
    pl->values = px_malloc((np ? np : 1) * sizeof(*pl->values));
    pl->owners = px_malloc((np ? np : 1) * sizeof(*pl->owners));
    for (size_t i = 0; i < np; i++) {
        pl->values[i] = pts[i].value;
        pl->owners[i] = pts[i].owner;
    }
    pl->npoints = np;
    px_free(pts);
    px_free(hashes);
    return np ? 0 : PX_EINVAL;
}

/* modula and random walk nutcracker's sorted server order. */
static void build_order(struct placement *pl, const struct placement_server *s,
                        const struct srv_name *sorted, size_t n)
{
    pl->order = px_malloc(n * sizeof(*pl->order));
    pl->cum_weight = px_malloc(n * sizeof(*pl->cum_weight));
    uint64_t run = 0;
    for (size_t i = 0; i < n; i++) {
        pl->order[i] = sorted[i].index;
        run += s[sorted[i].index].weight;
        pl->cum_weight[i] = run;
    }
}

static int check_servers(const struct placement_opts *o, const struct placement_server *s, size_t n)
{
    if (n == 0 || n > PLACEMENT_MAX_SERVERS) return PX_EINVAL;
    if ((unsigned)o->dist >= PLACEMENT_DIST_COUNT || (unsigned)o->hash >= HASHKIT_COUNT)
        return PX_EINVAL;
    if ((o->hash_tag[0] != 0) != (o->hash_tag[1] != 0)) return PX_EINVAL;
    if (o->dist == PLACEMENT_CRC32_MOD && o->hash_tag[0]) return PX_EINVAL;
    bool weighted = o->dist == PLACEMENT_KETAMA || o->dist == PLACEMENT_LIBKETAMA ||
                    o->dist == PLACEMENT_MODULA;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s[i].host || !s[i].host[0] || s[i].port < 1 || s[i].port > 65535) return PX_EINVAL;
        if (s[i].name && !s[i].name[0]) return PX_EINVAL;
        if (weighted && s[i].weight == 0) return PX_EINVAL;
        total += s[i].weight;
    }
    /* nutcracker adds the weights in a uint32_t. */
    if (o->dist != PLACEMENT_LIBKETAMA && total > UINT32_MAX) return PX_EINVAL;
    return 0;
}

int placement_create(const struct placement_opts *opts, const struct placement_server *servers,
                     size_t n, struct placement **out)
{
    *out = NULL;
    int rc = check_servers(opts, servers, n);
    if (rc) return rc;

    size_t bufsz = 0;
    for (size_t i = 0; i < n; i++) bufsz += strlen(servers[i].host) + 8; /* ":65535" + NUL */
    char *buf = px_malloc(bufsz);
    struct srv_name *names = px_malloc(n * sizeof(*names));
    bool nc = opts->dist != PLACEMENT_LIBKETAMA && opts->dist != PLACEMENT_CRC32_MOD;
    derive_names(servers, n, nc, names, buf, bufsz);

    struct placement *pl = px_calloc(1, sizeof(*pl));
    pl->opts = *opts;
    pl->nservers = n;
    pl->server_points = px_calloc(n, sizeof(*pl->server_points));

    if (nc) {
        /* nutcracker sorts its servers by name (conf_validate_server) and refuses two with the
         * same name; everything after that walks the sorted array. */
        qsort(names, n, sizeof(*names), srv_name_cmp);
        for (size_t i = 1; i < n && rc == 0; i++)
            if (srv_name_cmp(&names[i - 1], &names[i]) == 0) rc = PX_EINVAL;
    } else if (opts->dist == PLACEMENT_LIBKETAMA) {
        for (size_t i = 0; i < n && rc == 0; i++)
            if (names[i].len > PLACEMENT_LIBKETAMA_ADDR_MAX) rc = PX_EINVAL;
    }

    if (rc == 0) {
        switch (opts->dist) {
        case PLACEMENT_KETAMA:
        case PLACEMENT_LIBKETAMA: rc = build_continuum(pl, servers, names, n); break;
        case PLACEMENT_MODULA:
        case PLACEMENT_RANDOM: build_order(pl, servers, names, n); break;
        default: break;
        }
    }
    px_free(names);
    px_free(buf);
    if (rc) {
        placement_free(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

void placement_free(struct placement *pl)
{
    if (!pl) return;
    px_free(pl->values);
    px_free(pl->owners);
    px_free(pl->server_points);
    px_free(pl->order);
    px_free(pl->cum_weight);
    px_free(pl);
}

size_t placement_size(const struct placement *pl)
{
    return pl->nservers;
}

enum placement_dist placement_distribution(const struct placement *pl)
{
    return pl->opts.dist;
}

size_t placement_server_points(const struct placement *pl, unsigned index)
{
    return index < pl->nservers ? pl->server_points[index] : 0;
}

/* ---- lookups ----------------------------------------------------------------------------- */

uint32_t placement_key_hash(const struct placement *pl, const char *key, size_t len)
{
    size_t off = 0, n = len;
    switch (pl->opts.dist) {
    case PLACEMENT_KETAMA:
    case PLACEMENT_MODULA:
        if (pl->opts.hash_tag[0]) placement_tag_span(pl->opts.hash_tag, key, len, &off, &n);
        /* nutcracker's server_pool_hash gives an empty key hash 0 without hashing it. */
        return n ? hashkit_hash(pl->opts.hash, key + off, n) : 0;
    case PLACEMENT_LIBKETAMA: {
        if (pl->opts.hash_tag[0]) placement_tag_span(pl->opts.hash_tag, key, len, &off, &n);
        /* libketama takes the key as a C string. */
        const char *nul = memchr(key + off, '\0', n);
        if (nul) n = (size_t)(nul - (key + off));
        return hashkit_hash(HASHKIT_MD5, key + off, n);
    }
    case PLACEMENT_CRC32_MOD:
        placement_rc_span(key, len, &off, &n);
        return hashkit_crc32(key + off, n);
    default: return 0;
    }
}

/* The first point at or after hash, wrapping past the last point to the first. */
static size_t continuum_find(const struct placement *pl, uint32_t hash)
{
    size_t lo = 0, hi = pl->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pl->values[mid] < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == pl->npoints ? 0 : lo;
}

/* The position in nutcracker's order that owns residue r of modula's table, where each server
 * owns as many consecutive residues as its weight. */
static size_t modula_find(const struct placement *pl, uint64_t r)
{
    size_t lo = 0, hi = pl->nservers - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pl->cum_weight[mid] <= r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

unsigned placement_lookup(const struct placement *pl, const char *key, size_t len, uint32_t entropy)
{
    switch (pl->opts.dist) {
    case PLACEMENT_KETAMA:
    case PLACEMENT_LIBKETAMA:
        return pl->owners[continuum_find(pl, placement_key_hash(pl, key, len))];
    case PLACEMENT_MODULA: {
        uint64_t total = pl->cum_weight[pl->nservers - 1];
        return pl->order[modula_find(pl, placement_key_hash(pl, key, len) % total)];
    }
    case PLACEMENT_RANDOM: return pl->order[entropy % pl->nservers];
    case PLACEMENT_CRC32_MOD: return (unsigned)(placement_key_hash(pl, key, len) % pl->nservers);
    default: return 0;
    }
}

int placement_point(const struct placement *pl, const char *key, size_t len, uint32_t *point)
{
    if (pl->opts.dist != PLACEMENT_KETAMA && pl->opts.dist != PLACEMENT_LIBKETAMA) return PX_EINVAL;
    *point = pl->values[continuum_find(pl, placement_key_hash(pl, key, len))];
    return 0;
}
