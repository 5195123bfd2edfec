/*
 * The generic merges; see merge.h. Each takes the parts' replies as the nodes sent them (RESP
 * bytes kept by fanout.c) and writes one reply. A part that is not what the merge expects (a node
 * answering an integer where an array was due) gives the client an error naming the merge,
 * never a reply built from half of the data.
 *
 * The dispatcher picks a merger with merge_get from the command table's merge kind and hands it
 * to the fan-out; fanout.c calls it once every part has answered, and sends what it wrote to the
 * parent's sink. A merger writes exactly one reply, error or not. Elements are copied as the
 * nodes encoded them, so a RESP3 client gets RESP3 elements without a conversion here.
 */
#include "merge.h"

#include "errors.h"
#include "mem.h"
#include "pubsub.h"
#include "px_errors.h"
#include "resp_reply.h"
#include "strset.h"

#include <string.h>

/* A nil in either protocol: RESP2's null bulk or null array, RESP3's null. */
/* Whether the len bytes at d are a nil (RESP2 null bulk or array, RESP3 null). */
static int is_nil(const char *d, uint32_t len)
{
    return (len == 5 && (memcmp(d, "$-1\r\n", 5) == 0 || memcmp(d, "*-1\r\n", 5) == 0)) ||
           (len == 3 && memcmp(d, "_\r\n", 3) == 0);
}

static int part_is_nil(const struct fan_part *p)
{
    return is_nil(fan_part_data(p), p->len);
}

/* The integer of a ':' reply. Returns 0, or -1 when the part is something else. */
static int part_int(const struct fan_part *p, long long *v)
{
    const char *d = fan_part_data(p);
    if (p->len < 4 || d[0] != ':') return -1;
    /* A part is one whole reply: the digits lie between the ':' and its final CRLF. */
    return resp_str2ll(d + 1, p->len - 3, v) ? 0 : -1;
}

/* Index of the first part that is an error, or -1. */
static int first_error(const struct fanout *f)
{
    for (uint32_t i = 0; i < f->nparts; i++)
        if (fan_part_is_error(&f->parts[i])) return (int)i;
    return -1;
}

static void put_part(struct sbuf *out, const struct fan_part *p)
{
    sbuf_put(out, fan_part_data(p), p->len);
}

/* The fan-out had no master to send to. */
static void no_master(const struct fanout *f, struct sbuf *out)
{
    const struct config *cfg = f->fc->view->cfg;
    errors_no_master(out, errors_mode_of(cfg->pool, cfg->auto_eject_hosts));
}

/* An error beats the other parts' data: a merge of some of them would pass for the whole answer. */
int merge_errors(const struct fanout *f, struct sbuf *out)
{
    if (f->nparts == 0) {
        no_master(f, out);
        return 1;
    }
    int e = first_error(f);
    if (e < 0) return 0;
    put_part(out, &f->parts[e]);
    return 1;
}

/* Enough to spread RANDOMKEY over the masters; nothing secret depends on it. From a state that
 * is not 0, xorshift never reaches 0. */
uint64_t merge_random(struct merge_env *env)
{
    uint64_t x = env->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    env->rng = x;
    return x;
}

/* MGET split over slots: one array, each element where its key stood in the request. */
static void merge_key_order(const struct fanout *f, const struct request *r, void *ctx,
                            struct sbuf *out)
{
    if (merge_errors(f, out)) return;
    /* Every part's elements one after another in el; part p's start at base[p]. */
    uint32_t *base = px_malloc((f->nparts + 1) * sizeof(uint32_t));
    struct resp_span *el = px_malloc((f->nkeys + 1) * sizeof(*el));
    uint32_t sum = 0;
    for (uint32_t p = 0; p < f->nparts; p++) {
        base[p] = sum;
        uint32_t n;
        if (resp_reply_elements(fan_part_data(&f->parts[p]), f->parts[p].len, el + sum,
                                f->part_nkeys[p], &n) < 0 ||
            n != f->part_nkeys[p]) {
            /* Not one element per key sent: never a short or shifted array. */
            errors_unexpected_reply(out, "MGET");
            goto done;
        }
        sum += n;
    }
    resp_write_array_len(out, f->nkeys);
    for (uint32_t i = 0; i < f->nkeys; i++) {
        uint32_t p = f->key_part[i];
        const struct resp_span *e = &el[base[p] + f->key_elem[i]];
        sbuf_put(out, fan_part_data(&f->parts[p]) + e->off, e->len);
    }
done:
    px_free(base);
    px_free(el);
}

enum int_merge { MERGE_INTS_SUM, MERGE_INTS_MIN, MERGE_INTS_MAX };

/* DEL, EXISTS, DBSIZE, ... (agg_sum), LASTSAVE, WAIT (agg_min) and PUBSUB NUMPAT (the largest):
 * one integer. For WAIT, the minimum is the count every master reached: what the client may rely
 * on everywhere. */
static void merge_ints(const struct fanout *f, struct sbuf *out, enum int_merge how)
{
    static const char *const what[] = {"a sum", "a minimum", "a maximum"};
    if (merge_errors(f, out)) return;
    long long acc = 0;
    for (uint32_t i = 0; i < f->nparts; i++) {
        long long v;
        if (part_int(&f->parts[i], &v) < 0) {
            errors_unexpected_reply(out, what[how]);
            return;
        }
        if (how == MERGE_INTS_MIN)
            acc = (i == 0 || v < acc) ? v : acc;
        else if (how == MERGE_INTS_MAX)
            acc = (i == 0 || v > acc) ? v : acc;
        else
            acc += v;
    }
    resp_write_int(out, acc);
}

static void merge_sum(const struct fanout *f, const struct request *r, void *ctx, struct sbuf *out)
{
    merge_ints(f, out, MERGE_INTS_SUM);
}

static void merge_min(const struct fanout *f, const struct request *r, void *ctx, struct sbuf *out)
{
    merge_ints(f, out, MERGE_INTS_MIN);
}

/* PUBSUB NUMPAT: Redis counts distinct patterns. Every pattern a client of the proxy subscribes
 * is on one master, ROUTE_PUBSUB_SLOT's (pubsub.c), and those that may match a keyspace
 * notification on every other master too: a sum would count those once per master, and the
 * same pattern of clients on two nodes twice. That master's count, the largest, is every
 * pattern of the proxy's clients once (patterns subscribed directly on another node count only
 * through the maximum). */
static void merge_max(const struct fanout *f, const struct request *r, void *ctx, struct sbuf *out)
{
    merge_ints(f, out, MERGE_INTS_MAX);
}

/* MSET, FLUSHALL, SCRIPT LOAD (all_succeeded): the first part's reply, or the first error. */
static void merge_all_ok(const struct fanout *f, const struct request *r, void *ctx,
                         struct sbuf *out)
{
    if (merge_errors(f, out)) return;
    /* Every part said the same (+OK, or SCRIPT LOAD's SHA-1): the first speaks for all. */
    put_part(out, &f->parts[0]);
}

/* SCRIPT KILL (one_succeeded): the first success, or the first error. Masters running no
 * script answer NOTBUSY, which is no failure as long as one of them killed a script. */
static void merge_one_ok(const struct fanout *f, const struct request *r, void *ctx,
                         struct sbuf *out)
{
    if (f->nparts == 0) {
        no_master(f, out);
        return;
    }
    for (uint32_t i = 0; i < f->nparts; i++)
        if (!fan_part_is_error(&f->parts[i])) {
            put_part(out, &f->parts[i]);
            return;
        }
    /* Every master refused: the busy one's reason (SCRIPT KILL of a function: BUSY, use FUNCTION
     * KILL) says more than the idle ones' NOTBUSY, as one busy Redis would answer. */
    for (uint32_t i = 0; i < f->nparts; i++) {
        const struct fan_part *p = &f->parts[i];
        const char *d = fan_part_data(p);
        if (p->len > 1 && d[0] == '-' && errors_is_busy(d + 1, p->len - 1)) {
            put_part(out, p);
            return;
        }
    }
    put_part(out, &f->parts[0]);
}

/* SCRIPT EXISTS: a script exists when every master has it, or when the proxy knows its body and
 * would load it on any master that lacks it (so EVALSHA of it works). */
static void merge_and(const struct fanout *f, const struct request *r, void *ctx, struct sbuf *out)
{
    struct merge_env *env = ctx;
    if (merge_errors(f, out)) return;
    /* Every master was asked about the same SHA-1s: every array must be as long as the first. */
    uint32_t n0;
    if (resp_reply_elements(fan_part_data(&f->parts[0]), f->parts[0].len, NULL, 0, &n0) < 0) {
        errors_unexpected_reply(out, "SCRIPT EXISTS");
        return;
    }
    struct resp_span *el = px_malloc((n0 + 1) * sizeof(*el));
    char *all = px_malloc(n0 + 1);
    memset(all, 1, n0 + 1);
    for (uint32_t p = 0; p < f->nparts; p++) {
        uint32_t n;
        if (resp_reply_elements(fan_part_data(&f->parts[p]), f->parts[p].len, el, n0, &n) < 0 ||
            n != n0) {
            errors_unexpected_reply(out, "SCRIPT EXISTS");
            goto done;
        }
        for (uint32_t i = 0; i < n; i++) {
            const char *d = fan_part_data(&f->parts[p]) + el[i].off;
            if (!(el[i].len == 4 && memcmp(d, ":1\r\n", 4) == 0)) all[i] = 0;
        }
    }
    resp_write_array_len(out, n0);
    /* Answer i is about argument i + 2 (SCRIPT EXISTS sha1 sha2 ...). */
    for (uint32_t i = 0; i < n0; i++) {
        if (!all[i] && env && env->scripts && i + 2 < r->argc && r->argv[i + 2].len == 40) {
            size_t len;
            char *body = scripts_lookup(env->scripts, request_arg(r, i + 2), &len);
            if (body) all[i] = 1;
            px_free(body);
        }
        resp_write_int(out, all[i]);
    }
done:
    px_free(el);
    px_free(all);
}

/* KEYS: every array's elements, one array. */
static void merge_concat(const struct fanout *f, const struct request *r, void *ctx,
                         struct sbuf *out)
{
    if (merge_errors(f, out)) return;
    /* Only the array headers are parsed: each part's elements follow as one block, whatever
     * their types. */
    long long total = 0;
    size_t *hdr = px_malloc((f->nparts + 1) * sizeof(size_t));
    for (uint32_t p = 0; p < f->nparts; p++) {
        const char *d = fan_part_data(&f->parts[p]);
        const char *cr = memchr(d, '\r', f->parts[p].len);
        long long n;
        if (d[0] != '*' || !cr || !resp_str2ll(d + 1, (size_t)(cr - d - 1), &n)) {
            errors_unexpected_reply(out, "arrays");
            px_free(hdr);
            return;
        }
        hdr[p] = (size_t)(cr - d) + 2;
        if (n > 0) total += n; /* a null array (*-1) adds nothing */
    }
    resp_write_array_len(out, total);
    for (uint32_t p = 0; p < f->nparts; p++)
        sbuf_put(out, fan_part_data(&f->parts[p]) + hdr[p], f->parts[p].len - hdr[p]);
    px_free(hdr);
}

/* PUBSUB CHANNELS: the elements of every array, each once, in the order first seen. */
static void merge_union(const struct fanout *f, const struct request *r, void *ctx,
                        struct sbuf *out)
{
    if (merge_errors(f, out)) return;
    struct strset seen;
    strset_init(&seen);
    struct sbuf body;
    sbuf_init(&body);
    long long n = 0;
    for (uint32_t p = 0; p < f->nparts; p++) {
        const char *d = fan_part_data(&f->parts[p]);
        uint32_t cnt;
        if (resp_reply_elements(d, f->parts[p].len, NULL, 0, &cnt) < 0) {
            errors_unexpected_reply(out, "arrays");
            goto done;
        }
        /* Counted first, then located, so that el has exactly the room it needs. */
        struct resp_span *el = px_malloc((cnt + 1) * sizeof(*el));
        resp_reply_elements(d, f->parts[p].len, el, cnt, &cnt);
        for (uint32_t i = 0; i < cnt; i++) {
            if (strset_add(&seen, d + el[i].off, el[i].len, 0)) {
                sbuf_put(&body, d + el[i].off, el[i].len);
                n++;
            }
        }
        px_free(el);
    }
    resp_write_array_len(out, n);
    sbuf_put(out, body.buf ? body.buf : "", body.len);
done:
    strset_free(&seen);
    sbuf_free(&body);
}

/* The payload of the bulk string of len bytes at d ("$3\r\nfoo\r\n": "foo"). Returns 0, or -1
 * when it is no bulk string. */
static int bulk_payload(const char *d, uint32_t len, const char **p, uint32_t *plen)
{
    if (len < 4 || d[0] != '$') return -1;
    const char *crlf = memchr(d, '\r', len);
    if (!crlf || (uint32_t)(crlf - d) + 2 > len - 2) return -1;
    *p = crlf + 2;
    *plen = len - (uint32_t)(crlf + 2 - d) - 2;
    return 0;
}

/* PUBSUB NUMSUB and SHARDNUMSUB: [name, count, name, count ...] from each master. A channel's
 * subscribers are on one master each (its count there, summed), except, for NUMSUB when
 * keyspace_max, a keyspace-notification channel: every subscriber of one is subscribed on every
 * master (pubsub.c, by the same rule), so each master counts them all and the largest count is
 * theirs. */
static void merge_pairs(const struct fanout *f, struct sbuf *out, int keyspace_max)
{
    if (merge_errors(f, out)) return;
    /* The names come from the request, so every master lists the same ones in the same order:
     * the counts are summed by position. */
    const char *d0 = fan_part_data(&f->parts[0]);
    uint32_t n0;
    if (resp_reply_elements(d0, f->parts[0].len, NULL, 0, &n0) < 0 || n0 % 2) {
        errors_unexpected_reply(out, "counts");
        return;
    }
    struct resp_span *el = px_malloc((n0 + 1) * sizeof(*el));
    long long *sum = px_calloc(n0 / 2 + 1, sizeof(long long));
    uint8_t *every = px_calloc(n0 / 2 + 1, 1); /* by pair: a channel on every master */
    if (keyspace_max) {
        resp_reply_elements(d0, f->parts[0].len, el, n0, &n0);
        for (uint32_t i = 0; i < n0; i += 2) {
            const char *name;
            uint32_t nl;
            every[i / 2] = bulk_payload(d0 + el[i].off, el[i].len, &name, &nl) == 0 &&
                           pubsub_keyspace_channel(name, nl);
        }
    }
    for (uint32_t p = 0; p < f->nparts; p++) {
        const char *d = fan_part_data(&f->parts[p]);
        uint32_t n;
        if (resp_reply_elements(d, f->parts[p].len, el, n0, &n) < 0 || n != n0) {
            errors_unexpected_reply(out, "counts");
            goto done;
        }
        for (uint32_t i = 1; i < n; i += 2) {
            long long v;
            if (d[el[i].off] != ':' || !resp_str2ll(d + el[i].off + 1, el[i].len - 3, &v)) {
                errors_unexpected_reply(out, "counts");
                goto done;
            }
            if (!every[i / 2])
                sum[i / 2] += v;
            else if (p == 0 || v > sum[i / 2])
                sum[i / 2] = v;
        }
    }
    /* el holds the last part's spans: part 0's are found again for the names. */
    resp_reply_elements(d0, f->parts[0].len, el, n0, &n0);
    resp_write_array_len(out, n0);
    for (uint32_t i = 0; i < n0; i += 2) {
        sbuf_put(out, d0 + el[i].off, el[i].len);
        resp_write_int(out, sum[i / 2]);
    }
done:
    px_free(el);
    px_free(sum);
    px_free(every);
}

static void merge_numsub(const struct fanout *f, const struct request *r, void *ctx,
                         struct sbuf *out)
{
    merge_pairs(f, out, 1);
}

static void merge_pair_sum(const struct fanout *f, const struct request *r, void *ctx,
                           struct sbuf *out)
{
    merge_pairs(f, out, 0);
}

/* RANDOMKEY: one of the non-nil replies, chosen at random; nil when every master is empty. */
static void merge_random_one(const struct fanout *f, const struct request *r, void *ctx,
                             struct sbuf *out)
{
    struct merge_env *env = ctx;
    if (f->nparts == 0) {
        no_master(f, out);
        return;
    }
    /* Count the candidates, then take the pick-th: no allocation. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->nparts; i++)
        if (!fan_part_is_error(&f->parts[i]) && !part_is_nil(&f->parts[i])) n++;
    if (n > 0) {
        uint32_t pick = (uint32_t)(merge_random(env) % n);
        for (uint32_t i = 0; i < f->nparts; i++)
            if (!fan_part_is_error(&f->parts[i]) && !part_is_nil(&f->parts[i]) && pick-- == 0) {
                put_part(out, &f->parts[i]);
                return;
            }
    }
    /* No key anywhere: the first error if a master failed (an empty answer might be wrong),
     * else the first part's nil. */
    int e = first_error(f);
    put_part(out, &f->parts[e >= 0 ? (uint32_t)e : 0]);
}

/* FUNCTION STATS: a map (an array in RESP2) whose second element, running_script, is nil unless
 * that master runs a script. The libraries are the same on every master. */
static void merge_busiest(const struct fanout *f, const struct request *r, void *ctx,
                          struct sbuf *out)
{
    (void)r, (void)ctx;
    if (merge_errors(f, out)) return;
    for (uint32_t i = 0; i < f->nparts; i++) {
        const char *d = fan_part_data(&f->parts[i]);
        struct resp_span el[4];
        uint32_t n;
        if (resp_reply_elements(d, f->parts[i].len, el, 4, &n) < 0 || n < 2) continue;
        if (!is_nil(d + el[1].off, el[1].len)) {
            put_part(out, &f->parts[i]);
            return;
        }
    }
    put_part(out, &f->parts[0]);
}

/* A merge the proxy does not know (a table entry without one): an error, never a guess. */
static void merge_unknown(const struct fanout *f, const struct request *r, void *ctx,
                          struct sbuf *out)
{
    if (merge_errors(f, out)) return;
    errors_unexpected_reply(out, "replies");
}

/* Every merger gets env, whether it uses it or not. FAN_NONE, FAN_SCAN and FAN_INFO have no
 * generic merger: reaching them here is a table bug, which the client sees as an error. */
void merge_get(enum fan_merge kind, struct merge_env *env, struct fan_merger *m)
{
    m->ctx = env;
    switch (kind) {
    case FAN_KEY_ORDER: m->merge = merge_key_order, m->name = "key order"; return;
    case FAN_SUM: m->merge = merge_sum, m->name = "sum"; return;
    case FAN_MIN: m->merge = merge_min, m->name = "minimum"; return;
    case FAN_ALL_OK: m->merge = merge_all_ok, m->name = "all succeeded"; return;
    case FAN_ONE_OK: m->merge = merge_one_ok, m->name = "one succeeded"; return;
    case FAN_AND: m->merge = merge_and, m->name = "logical and"; return;
    case FAN_CONCAT: m->merge = merge_concat, m->name = "concatenation"; return;
    case FAN_RANDOM: m->merge = merge_random_one, m->name = "random"; return;
    case FAN_UNION: m->merge = merge_union, m->name = "union"; return;
    case FAN_MAX: m->merge = merge_max, m->name = "maximum"; return;
    case FAN_PAIR_SUM: m->merge = merge_pair_sum, m->name = "sums per name"; return;
    case FAN_NUMSUB: m->merge = merge_numsub, m->name = "subscribers per channel"; return;
    case FAN_BUSIEST: m->merge = merge_busiest, m->name = "the busiest"; return;
    default: m->merge = merge_unknown, m->name = "unknown"; return;
    }
}
