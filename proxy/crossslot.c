/*
 * -cross-slot compute; see crossslot.h for what each command does and why.
 *
 * The client's request carries a struct cross as its attachment (freed with it). Each step sends
 * its parts (requests whose parent is the client's request and whose sink is part_sink) and
 * counts them in `pending`, one more than the parts while they are being sent, so that a part
 * answered at once cannot end the step early. When the last part is in, advance() looks at the
 * replies and sends the next step, or answers the client. advance() first takes the step's replies
 * out of the struct: the next step's parts may be answered, and the client with them, before the
 * sending returns, and then the struct is gone.
 *
 * Parts carry no command entry, so that they always go to masters (never to a replica, which may
 * not have a temporary key yet) and are never sent twice after a lost connection. They are
 * answered in the client's protocol; the replies read here are parsed in either.
 */
#include "crossslot.h"

#include "crc16.h"
#include "errors.h"
#include "mem.h"
#include "resp_reply.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CROSS_TMP_TTL_BASE_MS 60000 /* temporary keys live this long, plus the longest waits */
#define CROSS_PARK_TTL_MS     600000 /* a parked RENAME source without a TTL of its own */
#define CROSS_ARGS_INLINE     8

/* ---- the hash tag of each slot ---- */

static char slot_tags[CRC16_SLOTS][5];
static pthread_once_t slot_tags_once = PTHREAD_ONCE_INIT;

/* Every string of one to four alphanumeric characters, shortest first, until each slot has one
 * (three characters already cover every slot). Runs once, in about a millisecond. */
static void slot_tags_fill(void)
{
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const unsigned n = sizeof(alnum) - 1;
    unsigned left = CRC16_SLOTS;
    for (unsigned len = 1; len <= 4 && left; len++) {
        unsigned total = 1;
        for (unsigned i = 0; i < len; i++) total *= n;
        for (unsigned v = 0; v < total && left; v++) {
            char s[5];
            unsigned x = v;
            for (unsigned i = 0; i < len; i++, x /= n) s[i] = alnum[x % n];
            s[len] = '\0';
            unsigned slot = crc16_key_slot(s, len);
            if (slot_tags[slot][0]) continue;
            memcpy(slot_tags[slot], s, len + 1);
            left--;
        }
    }
}

const char *cross_slot_tag(unsigned slot)
{
    pthread_once(&slot_tags_once, slot_tags_fill);
    return slot_tags[slot % CRC16_SLOTS];
}

/* ---- scripts run on one node (their keys share a slot) ---- */

/* RENAME's first step: the source is renamed to the temporary key (KEYS[2], same slot) at once;
 * its DUMP and absolute expiry come back. A source without an expiry gets ARGV[1] ms on the
 * temporary key, so that a crash cannot leave it for ever. */
static const char park_script[] =
    "local v = redis.call('DUMP', KEYS[1]) "
    "if not v then return false end "
    "local t = redis.call('PEXPIRETIME', KEYS[1]) "
    "redis.call('RENAME', KEYS[1], KEYS[2]) "
    "if t < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end "
    "return {v, t}";

/* RENAME failed at the destination: the parked value goes back to the source (unless the source
 * was written meanwhile: 0), without the safety expiry when it had none (ARGV[1] is -1). */
static const char unpark_script[] =
    "if redis.call('RENAMENX', KEYS[2], KEYS[1]) == 0 then return 0 end "
    "if ARGV[1] == '-1' then redis.call('PERSIST', KEYS[1]) end "
    "return 1";

/* COPY's read: DUMP and absolute expiry, at one moment. */
static const char read_script[] =
    "local v = redis.call('DUMP', KEYS[1]) "
    "if not v then return false end "
    "return {v, redis.call('PEXPIRETIME', KEYS[1])}";

/* MSETNX undone: each key that still holds the value written (ARGV[i]) is deleted. */
static const char unset_script[] =
    "local n = 0 "
    "for i = 1, #KEYS do "
    "if redis.pcall('GET', KEYS[i]) == ARGV[i] then redis.call('DEL', KEYS[i]) n = n + 1 end "
    "end "
    "return n";

/* ---- replies, in RESP2 or RESP3 ---- */

struct cross_rep {
    struct buf_chunk *c;
    uint32_t off, len;
};

static const char *rep_data(const struct cross_rep *p)
{
    return p->c->data + p->off;
}

static int rep_is_error(const struct cross_rep *p)
{
    return p->len > 0 && (rep_data(p)[0] == '-' || rep_data(p)[0] == '!');
}

/* The text of an error reply (without '-' and CRLF; a RESP3 bulk error's body). */
static void rep_error_text(const struct cross_rep *p, const char **t, uint32_t *len)
{
    const char *d = rep_data(p);
    if (d[0] == '!') {
        const char *nl = memchr(d, '\n', p->len);
        *t = nl ? nl + 1 : d;
        *len = nl && p->len >= (uint32_t)(nl + 1 - d) + 2 ? p->len - (uint32_t)(nl + 1 - d) - 2
                                                          : 0;
        return;
    }
    *t = d + 1;
    *len = p->len >= 3 ? p->len - 3 : 0;
}

static int rep_is_null(const struct cross_rep *p)
{
    const char *d = rep_data(p);
    return (p->len == 5 && (memcmp(d, "$-1\r\n", 5) == 0 || memcmp(d, "*-1\r\n", 5) == 0)) ||
           (p->len == 3 && memcmp(d, "_\r\n", 3) == 0);
}

/* An integer reply's value. Returns 0, or -1 when the reply is not an integer. */
static int rep_int(const char *d, uint32_t len, long long *v)
{
    if (len < 4 || d[0] != ':') return -1;
    return resp_str2ll(d + 1, len - 3, v) ? 0 : -1;
}

/* A simple string reply is word (TYPE's answer, OK). */
static int rep_is_word(const struct cross_rep *p, const char *word)
{
    size_t n = strlen(word);
    return p->len == n + 3 && rep_data(p)[0] == '+' && memcmp(rep_data(p) + 1, word, n) == 0;
}

/* The body of a bulk string at d (len bytes). Returns 0, or -1 when it is not one. */
static int bulk_body(const char *d, uint32_t len, const char **body, uint32_t *blen)
{
    if (len < 4 || d[0] != '$') return -1;
    const char *nl = memchr(d, '\n', len);
    long long n;
    if (!nl || !resp_str2ll(d + 1, (size_t)(nl - 1 - (d + 1)), &n) || n < 0 ||
        (uint64_t)(nl + 1 - d) + (uint64_t)n + 2 != len)
        return -1;
    *body = nl + 1;
    *blen = (uint32_t)n;
    return 0;
}

/* A script's {payload, expiry} reply. Returns 0, or -1 when the reply is something else. */
static int rep_dump_pair(const struct cross_rep *p, const char **payload, uint32_t *plen,
                         long long *expiry)
{
    struct resp_span el[2];
    uint32_t n;
    const char *d = rep_data(p);
    if (d[0] != '*' || resp_reply_elements(d, p->len, el, 2, &n) < 0 || n != 2) return -1;
    if (bulk_body(d + el[0].off, el[0].len, payload, plen) < 0) return -1;
    return rep_int(d + el[1].off, el[1].len, expiry);
}

/* ---- one command in flight ---- */

/* Where a command is in its steps. */
enum cross_step {
    ST_READ = 0, /* GATHER: DUMP; SMOVE, LMOVE: TYPE; RENAME: park; COPY: read; MSETNX: EXISTS */
    ST_CHECK,    /* RENAMENX: EXISTS of both keys, before parking */
    ST_WRITE,    /* GATHER: RESTORE; SMOVE: SREM; LMOVE: pop; RENAME, COPY: RESTORE; MSETNX */
    ST_RUN,      /* GATHER: the command on the copies; SMOVE: SADD; LMOVE: push */
    ST_CLEAN,    /* GATHER: DEL the copies; RENAME: DEL the parked key */
    ST_REPAIR,   /* putting back (SMOVE, LMOVE, RENAME) or deleting again (MSETNX) */
};

struct cross {
    struct request_attach attach; /* first: the struct hangs on the client's request */
    struct cross_ctx *x;
    enum cross_op op;
    enum cross_step step;
    uint32_t pending; /* parts of the step not answered (+1 while they are being sent) */
    uint32_t nparts;
    struct cross_rep *rep; /* the step's replies */
    /* The keyspace of the request (pool mode: slots are servers). Its placement is only read
     * while cross_run runs, where every temporary name is made. */
    struct keyspace ks;
    /* The keys: argument position and slot. */
    uint32_t nkeys;
    int *kpos;
    unsigned *kslot;
    /* GATHER: key i is read from temporary copy ktmp[i] (-1: it is in the target slot);
     * copy t is of key tmp_key[t], named in names at t * name_len. */
    int *ktmp;
    uint32_t ntmp;
    uint32_t *tmp_key;
    uint8_t *tmp_made; /* RESTOREd, so to delete */
    struct sbuf names;
    uint32_t name_len;
    /* What a later step needs of an earlier one: the result to answer with (GATHER's command, a
     * failed write's error), the value moved (LMOVE, RENAME), the parked key's expiry. */
    struct cross_rep kept;
    struct sbuf value;
    long long expiry;
    int nx, replace, left_from, left_to; /* RENAMENX, COPY REPLACE, LMOVE's ends */
    /* MSETNX: the slots (parts) and which key pairs each has. */
    uint32_t *pair_part;
    uint8_t *part_set; /* the part's MSETNX may have set its keys */
};

static void part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                      uint32_t off, uint32_t len);
static const struct request_sink part_sink = {.reply_span = part_done, .reply_bytes = NULL};
static void advance(struct cross *cs, struct request *r);

static void reps_put(struct cross_rep *rep, uint32_t n)
{
    for (uint32_t i = 0; rep && i < n; i++) buf_chunk_put(rep[i].c);
    px_free(rep);
}

static void cross_free(struct request_pool *rp, struct request_attach *a)
{
    struct cross *cs = (struct cross *)a;
    reps_put(cs->rep, cs->nparts);
    buf_chunk_put(cs->kept.c);
    sbuf_free(&cs->names);
    sbuf_free(&cs->value);
    px_free(cs->kpos); /* kslot, ktmp, tmp_key, tmp_made, pair_part, part_set: same block */
    px_free(cs);
}

void cross_ctx_init(struct cross_ctx *x, const struct config *cfg, struct request_pool *rp,
                    struct forward *fw, struct worker_stats *stats, uint64_t nonce)
{
    memset(x, 0, sizeof(*x));
    x->rp = rp;
    x->fw = fw;
    x->stats = stats;
    x->nonce = nonce;
    x->tmp_ttl_ms = CROSS_TMP_TTL_BASE_MS + cfg->failover_hold_ms + cfg->backend_timeout_ms;
    sbuf_init(&x->out);
}

void cross_ctx_deinit(struct cross_ctx *x)
{
    sbuf_free(&x->out);
}

static int client_resp(const struct request *r)
{
    const struct client *c = request_client(r);
    return c ? c->resp : 2;
}

static const char *arg(const struct request *r, uint32_t i)
{
    return request_arg(r, i);
}

/* ---- steps ---- */

/* Starts a step of n parts; its replies land in a fresh array. */
static void step_begin(struct cross *cs, enum cross_step st, uint32_t n)
{
    cs->step = st;
    cs->nparts = n;
    cs->rep = px_calloc(n ? n : 1, sizeof(*cs->rep));
    cs->pending = n + 1;
}

/* Every part of the step is sent: the step may end now. r must not be touched after. */
static void step_end(struct cross *cs, struct request *r)
{
    if (--cs->pending == 0) advance(cs, r);
}

/* Sends part idx of the step: the command of argc arguments argv[i] (lens[i] bytes) to the
 * master of slot. */
static void send_part(struct cross *cs, struct request *r, uint32_t idx, unsigned slot,
                      uint32_t argc, const char *const *argv, const uint32_t *lens)
{
    struct cross_ctx *x = cs->x;
    size_t total = 1 + (size_t)resp_ull_digits(argc) + 2;
    for (uint32_t i = 0; i < argc; i++)
        total += 1 + (size_t)resp_ull_digits(lens[i]) + 2 + lens[i] + 2;
    struct buf_chunk *c = buf_chunk_get_exact(x->rp->chunks, total);
    char *p = c->data;
    *p++ = '*';
    p += resp_ll2str(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    for (uint32_t i = 0; i < argc; i++) {
        *p++ = '$';
        p += resp_ll2str(p, lens[i]);
        *p++ = '\r';
        *p++ = '\n';
        if (lens[i]) memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    c->len = (uint32_t)(p - c->data);
    struct request *part = request_get(x->rp);
    part->parent = r;
    part->sink = &part_sink;
    part->child_idx = idx;
    part->start_us = r->start_us;
    part->breq.chunk = c; /* the reference buf_chunk_get_exact gave */
    part->breq.off = 0;
    part->breq.len = c->len;
    part->slot = (int)slot;
    part->pool_gen = r->pool_gen; /* pool mode: refused if the pool changed meanwhile */
    forward_send(x->fw, part);
}

/* A command of up to CROSS_ARGS_INLINE arguments given as C strings and spans. */
struct cmdv {
    const char *argv[CROSS_ARGS_INLINE];
    uint32_t lens[CROSS_ARGS_INLINE];
    uint32_t argc;
};

static void cv_add(struct cmdv *v, const char *p, size_t len)
{
    v->argv[v->argc] = p;
    v->lens[v->argc++] = (uint32_t)len;
}

static void cv_str(struct cmdv *v, const char *s)
{
    cv_add(v, s, strlen(s));
}

static void cv_key(struct cmdv *v, const struct request *r, const struct cross *cs, uint32_t k)
{
    cv_add(v, arg(r, (uint32_t)cs->kpos[k]), r->argv[cs->kpos[k]].len);
}

static void send_cv(struct cross *cs, struct request *r, uint32_t idx, unsigned slot,
                    const struct cmdv *v)
{
    send_part(cs, r, idx, slot, v->argc, v->argv, v->lens);
}

/* The part's reply as it came (chunk referenced), ending the command with it. */
static void answer_span(struct cross *cs, struct request *r, const struct cross_rep *p)
{
    struct buf_chunk *c = p->c;
    buf_chunk_ref(c); /* p may live in cs, which goes with r */
    request_reply_span(cs->x->rp, r, c, p->off, p->len);
    buf_chunk_put(c);
}

/* The reply written in x->out, ending the command with it. */
static void answer_out(struct cross *cs, struct request *r)
{
    struct cross_ctx *x = cs->x;
    request_reply_bytes(x->rp, r, x->out.buf, x->out.len);
}

static void answer_int(struct cross *cs, struct request *r, long long v)
{
    sbuf_clear(&cs->x->out);
    resp_write_int(&cs->x->out, v);
    answer_out(cs, r);
}

/* Ends the command with an error that stopped it before it wrote anything. */
static void answer_failed(struct cross *cs, struct request *r, const struct cross_rep *p)
{
    stat_add(&cs->x->stats->cross_failed, 1);
    answer_span(cs, r, p);
}

/* The first error among the step's replies, or NULL. */
static const struct cross_rep *first_error(const struct cross_rep *rep, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (rep_is_error(&rep[i])) return &rep[i];
    return NULL;
}

/* Renders a half-way failure (errors_cross) as the answer. p is the error that stopped the
 * command; q the one that stopped the repair (NULL: the repair found the key written meanwhile,
 * or there was none). */
static void answer_cross(struct cross *cs, struct request *r, enum px_cross_fail how,
                         const struct cross_rep *p, const struct cross_rep *q, const char *key,
                         uint32_t keylen)
{
    struct cross_ctx *x = cs->x;
    const char *e1 = "", *e2 = "";
    uint32_t l1 = 0, l2 = 0;
    if (p) rep_error_text(p, &e1, &l1);
    if (q) rep_error_text(q, &e2, &l2);
    int partial = how == PXC_LOST || how == PXC_NOT_UNDONE ||
                  (how == PXC_PUT_BACK && errors_may_have_run(e1, l1));
    stat_add(partial ? &x->stats->cross_partial : &x->stats->cross_failed, 1);
    sbuf_clear(&x->out);
    errors_cross(&x->out, r->cmd ? r->cmd->cmd->name : "?", how, p ? e1 : NULL, l1,
                 q ? e2 : NULL, l2, key, keylen);
    answer_out(cs, r);
}

/* ---- GATHER: copies next to the first key, the command run there ---- */

static const char *tmp_name(const struct cross *cs, uint32_t t)
{
    return cs->names.buf + (size_t)t * cs->name_len;
}

/* The temporary names, all of the same length: {tag}slotproxy-tmp:<nonce>:<seq>:<t>, the tag of
 * the target slot, t zero-padded to the width of the largest. In pool mode a slot is a server:
 * the tag is "p" and four digits, tried in turn until the pool places the name on the target
 * (the pool's hash tag, if any, covers the digits; else the whole name is hashed). Returns 0, or
 * -1 when no name could be placed there. */
static int gather_names(struct cross *cs, unsigned target)
{
    struct cross_ctx *x = cs->x;
    uint64_t seq = ++x->seq;
    int width = resp_ull_digits(cs->ntmp ? cs->ntmp - 1 : 0);
    char name[128];
    for (uint32_t t = 0; t < cs->ntmp; t++) {
        int n = 0, placed = 0;
        for (unsigned k = 0; k < 10000 && !placed; k++) {
            char tag[8];
            if (cs->ks.pool)
                snprintf(tag, sizeof(tag), "p%04u", k);
            else
                snprintf(tag, sizeof(tag), "%s", cross_slot_tag(target));
            n = snprintf(name, sizeof(name), "{%s}slotproxy-tmp:%016llx:%llu:%0*u", tag,
                         (unsigned long long)x->nonce, (unsigned long long)seq, width, t);
            placed = keyspace_slot(&cs->ks, name, (size_t)n) == (int)target;
        }
        if (!placed) return -1;
        cs->name_len = (uint32_t)n;
        sbuf_put(&cs->names, name, (size_t)n);
    }
    return 0;
}

static void gather_start(struct cross *cs, struct request *r)
{
    unsigned target = cs->kslot[0];
    /* One copy per distinct key outside the target slot. */
    for (uint32_t i = 0; i < cs->nkeys; i++) {
        cs->ktmp[i] = -1;
        if (cs->kslot[i] == target) continue;
        const struct resp_span *a = &r->argv[cs->kpos[i]];
        for (uint32_t j = 0; j < i && cs->ktmp[i] < 0; j++) {
            const struct resp_span *b = &r->argv[cs->kpos[j]];
            if (cs->ktmp[j] >= 0 && a->len == b->len && memcmp(arg(r, (uint32_t)cs->kpos[i]),
                                                               arg(r, (uint32_t)cs->kpos[j]),
                                                               a->len) == 0)
                cs->ktmp[i] = cs->ktmp[j];
        }
        if (cs->ktmp[i] < 0) {
            cs->tmp_key[cs->ntmp] = i;
            cs->ktmp[i] = (int)cs->ntmp++;
        }
    }
    if (gather_names(cs, target) < 0) {
        sbuf_clear(&cs->x->out);
        errors_cross_no_tmp(&cs->x->out);
        answer_out(cs, r);
        return;
    }
    step_begin(cs, ST_READ, cs->ntmp);
    for (uint32_t t = 0; t < cs->ntmp; t++) {
        struct cmdv v = {.argc = 0};
        cv_str(&v, "DUMP");
        cv_key(&v, r, cs, cs->tmp_key[t]);
        send_cv(cs, r, t, cs->kslot[cs->tmp_key[t]], &v);
    }
    step_end(cs, r);
}

/* The DUMPs are in: RESTORE each existing one under its temporary name. */
static void gather_restore(struct cross *cs, struct request *r, struct cross_rep *rep, uint32_t n)
{
    const struct cross_rep *err = first_error(rep, n);
    if (err) {
        answer_failed(cs, r, err);
        return;
    }
    char ttl[24];
    int ttl_len = resp_ll2str(ttl, (long long)cs->x->tmp_ttl_ms);
    uint32_t nrestore = 0;
    for (uint32_t t = 0; t < n; t++) nrestore += !rep_is_null(&rep[t]);
    step_begin(cs, ST_WRITE, nrestore);
    uint32_t idx = 0;
    for (uint32_t t = 0; t < n; t++) {
        const char *payload;
        uint32_t plen;
        if (rep_is_null(&rep[t])) continue;
        if (bulk_body(rep_data(&rep[t]), rep[t].len, &payload, &plen) < 0) {
            payload = ""; /* not a DUMP: RESTORE says what is wrong with it */
            plen = 0;
        }
        cs->tmp_made[t] = 1;
        struct cmdv v = {.argc = 0};
        cv_str(&v, "RESTORE");
        cv_add(&v, tmp_name(cs, t), cs->name_len);
        cv_add(&v, ttl, (size_t)ttl_len);
        cv_add(&v, payload, plen);
        send_cv(cs, r, idx++, cs->kslot[0], &v);
    }
    step_end(cs, r);
}

/* Deletes the copies made (those RESTORE accepted, or may have), then answers with cs->kept. */
static void gather_clean(struct cross *cs, struct request *r)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < cs->ntmp; t++) n += cs->tmp_made[t];
    if (n == 0) {
        answer_span(cs, r, &cs->kept);
        return;
    }
    const char **argv = px_malloc((n + 1) * sizeof(*argv));
    uint32_t *lens = px_malloc((n + 1) * sizeof(*lens));
    argv[0] = "DEL";
    lens[0] = 3;
    uint32_t k = 1;
    for (uint32_t t = 0; t < cs->ntmp; t++) {
        if (!cs->tmp_made[t]) continue;
        argv[k] = tmp_name(cs, t);
        lens[k++] = cs->name_len;
    }
    step_begin(cs, ST_CLEAN, 1);
    send_part(cs, r, 0, cs->kslot[0], k, argv, lens);
    px_free(argv);
    px_free(lens);
    step_end(cs, r);
}

/* The copies are made: the client's command, the copies named in place of their keys. */
static void gather_run(struct cross *cs, struct request *r, struct cross_rep *rep, uint32_t n)
{
    const struct cross_rep *err = first_error(rep, n);
    if (err) { /* a RESTORE failed: nothing was written but copies, which go */
        stat_add(&cs->x->stats->cross_failed, 1);
        buf_chunk_ref(err->c);
        cs->kept = *err;
        gather_clean(cs, r);
        return;
    }
    uint32_t argc = r->argc;
    const char **argv = px_malloc(argc * sizeof(*argv));
    uint32_t *lens = px_malloc(argc * sizeof(*lens));
    for (uint32_t i = 0; i < argc; i++) {
        argv[i] = arg(r, i);
        lens[i] = r->argv[i].len;
    }
    for (uint32_t k = 0; k < cs->nkeys; k++) {
        if (cs->ktmp[k] < 0) continue;
        argv[cs->kpos[k]] = tmp_name(cs, (uint32_t)cs->ktmp[k]);
        lens[cs->kpos[k]] = cs->name_len;
    }
    step_begin(cs, ST_RUN, 1);
    send_part(cs, r, 0, cs->kslot[0], argc, argv, lens);
    px_free(argv);
    px_free(lens);
    step_end(cs, r);
}

static void gather_advance(struct cross *cs, struct request *r, struct cross_rep *rep, uint32_t n)
{
    switch (cs->step) {
    case ST_READ: gather_restore(cs, r, rep, n); return;
    case ST_WRITE: gather_run(cs, r, rep, n); return;
    case ST_RUN:
        /* The command's answer, whatever it is, once the copies are gone. A lost connection
         * leaves a destination whole or untouched (one command), as the error already says. */
        buf_chunk_ref(rep[0].c);
        cs->kept = rep[0];
        gather_clean(cs, r);
        return;
    default: /* ST_CLEAN: a failed DEL leaves copies that expire on their own */
        answer_span(cs, r, &cs->kept);
        return;
    }
}

/* ---- SMOVE and LMOVE: check the types, take from the source, give to the destination ---- */

/* TYPE of the source (part 0) and of the destination (part 1). */
static void move_start(struct cross *cs, struct request *r)
{
    step_begin(cs, ST_READ, 2);
    for (uint32_t k = 0; k < 2; k++) {
        struct cmdv v = {.argc = 0};
        cv_str(&v, "TYPE");
        cv_key(&v, r, cs, k);
        send_cv(cs, r, k, cs->kslot[k], &v);
    }
    step_end(cs, r);
}

/* Sends the pop (SREM for SMOVE) or, put_back 0, the push to the destination (SADD), or, put_back
 * 1, the push back to the source. */
static void move_send(struct cross *cs, struct request *r, enum cross_step st, int put_back)
{
    int smove = cs->op == CROSS_SMOVE;
    uint32_t key = st == ST_RUN && !put_back ? 1 : 0;
    struct cmdv v = {.argc = 0};
    if (st == ST_WRITE)
        cv_str(&v, smove ? "SREM" : cs->left_from ? "LPOP" : "RPOP");
    else if (smove)
        cv_str(&v, "SADD");
    else if (put_back)
        cv_str(&v, cs->left_from ? "LPUSH" : "RPUSH");
    else
        cv_str(&v, cs->left_to ? "LPUSH" : "RPUSH");
    cv_key(&v, r, cs, key);
    if (smove)
        cv_add(&v, arg(r, 3), r->argv[3].len);
    else if (st != ST_WRITE)
        cv_add(&v, cs->value.buf ? cs->value.buf : "", cs->value.len);
    step_begin(cs, put_back ? ST_REPAIR : st, 1);
    send_cv(cs, r, 0, cs->kslot[key], &v);
    step_end(cs, r);
}

/* The answer of a move that happened: SMOVE's 1, or the element LMOVE moved. */
static void move_done(struct cross *cs, struct request *r)
{
    if (cs->op == CROSS_SMOVE) {
        answer_int(cs, r, 1);
        return;
    }
    sbuf_clear(&cs->x->out);
    resp_write_bulk(&cs->x->out, cs->value.buf ? cs->value.buf : "", cs->value.len);
    answer_out(cs, r);
}

static void move_advance(struct cross *cs, struct request *r, struct cross_rep *rep, uint32_t n)
{
    int smove = cs->op == CROSS_SMOVE;
    const char *type = smove ? "set" : "list";
    switch (cs->step) {
    case ST_READ: {
        const struct cross_rep *err = first_error(rep, n);
        if (err) {
            answer_failed(cs, r, err);
            return;
        }
        /* Redis's order: a missing source first (0, or nil), then the types. */
        if (rep_is_word(&rep[0], "none")) {
            if (smove) {
                answer_int(cs, r, 0);
            } else {
                sbuf_clear(&cs->x->out);
                resp_write_null(&cs->x->out, client_resp(r));
                answer_out(cs, r);
            }
            return;
        }
        if (!rep_is_word(&rep[0], type) ||
            (!rep_is_word(&rep[1], "none") && !rep_is_word(&rep[1], type))) {
            sbuf_clear(&cs->x->out);
            errors_wrongtype(&cs->x->out);
            answer_out(cs, r);
            return;
        }
        move_send(cs, r, ST_WRITE, 0);
        return;
    }
    case ST_WRITE: {
        /* SREM's count, or the popped element (nil: the list was emptied meanwhile). */
        if (rep_is_error(&rep[0])) {
            answer_failed(cs, r, &rep[0]);
            return;
        }
        long long removed;
        if (smove) {
            if (rep_int(rep_data(&rep[0]), rep[0].len, &removed) < 0 || removed == 0) {
                answer_int(cs, r, 0);
                return;
            }
        } else {
            const char *body;
            uint32_t blen;
            if (rep_is_null(&rep[0]) || bulk_body(rep_data(&rep[0]), rep[0].len, &body, &blen)) {
                sbuf_clear(&cs->x->out);
                resp_write_null(&cs->x->out, client_resp(r));
                answer_out(cs, r);
                return;
            }
            sbuf_put(&cs->value, body, blen);
        }
        move_send(cs, r, ST_RUN, 0);
        return;
    }
    case ST_RUN:
        if (!rep_is_error(&rep[0])) {
            move_done(cs, r);
            return;
        }
        /* The destination refused it: back where it came from. */
        buf_chunk_ref(rep[0].c);
        cs->kept = rep[0];
        move_send(cs, r, ST_RUN, 1);
        return;
    default: /* ST_REPAIR */
        answer_cross(cs, r, rep_is_error(&rep[0]) ? PXC_LOST : PXC_PUT_BACK, &cs->kept,
                     rep_is_error(&rep[0]) ? &rep[0] : NULL, NULL, 0);
        return;
    }
}

/* ---- RENAME, RENAMENX, COPY: DUMP and RESTORE ---- */

/* The parked source's name: a temporary key of the source's slot. Returns -1 when none can be
 * made (gather_names). */
static int rename_names(struct cross *cs)
{
    cs->ntmp = 1;
    return gather_names(cs, cs->kslot[0]);
}

static void rename_park(struct cross *cs, struct request *r)
{
    char ttl[24];
    int ttl_len = resp_ll2str(ttl, CROSS_PARK_TTL_MS);
    struct cmdv v = {.argc = 0};
    cv_str(&v, "EVAL");
    cv_str(&v, park_script);
    cv_str(&v, "2");
    cv_key(&v, r, cs, 0);
    cv_add(&v, tmp_name(cs, 0), cs->name_len);
    cv_add(&v, ttl, (size_t)ttl_len);
    step_begin(cs, ST_READ, 1);
    send_cv(cs, r, 0, cs->kslot[0], &v);
    step_end(cs, r);
}

static void copy_read(struct cross *cs, struct request *r)
{
    struct cmdv v = {.argc = 0};
    cv_str(&v, "EVAL");
    cv_str(&v, read_script);
    cv_str(&v, "1");
    cv_key(&v, r, cs, 0);
    step_begin(cs, ST_READ, 1);
    send_cv(cs, r, 0, cs->kslot[0], &v);
    step_end(cs, r);
}

/* RENAMENX: does the source exist (part 0), does the destination (part 1)? */
static void renamenx_check(struct cross *cs, struct request *r)
{
    step_begin(cs, ST_CHECK, 2);
    for (uint32_t k = 0; k < 2; k++) {
        struct cmdv v = {.argc = 0};
        cv_str(&v, "EXISTS");
        cv_key(&v, r, cs, k);
        send_cv(cs, r, k, cs->kslot[k], &v);
    }
    step_end(cs, r);
}

/* RESTORE of the value read at the destination, with the source's absolute expiry. */
static void restore_dest(struct cross *cs, struct request *r, const char *payload, uint32_t plen)
{
    char ttl[24];
    int ttl_len = resp_ll2str(ttl, cs->expiry > 0 ? cs->expiry : 0);
    struct cmdv v = {.argc = 0};
    cv_str(&v, "RESTORE");
    cv_key(&v, r, cs, 1);
    cv_add(&v, ttl, (size_t)ttl_len);
    cv_add(&v, payload, plen);
    cv_str(&v, "ABSTTL");
    if (cs->replace) cv_str(&v, "REPLACE");
    step_begin(cs, ST_WRITE, 1);
    send_cv(cs, r, 0, cs->kslot[1], &v);
    step_end(cs, r);
}

/* The answer for a RENAME that happened (or, done 0, a RENAMENX whose destination existed). */
static void rename_answer(struct cross *cs, struct request *r, int done)
{
    if (cs->nx) {
        answer_int(cs, r, done);
        return;
    }
    sbuf_clear(&cs->x->out);
    resp_write_simple(&cs->x->out, "OK");
    answer_out(cs, r);
}

/* Deletes the parked key (ST_CLEAN) or puts it back at the source (ST_REPAIR). */
static void rename_finish(struct cross *cs, struct request *r, enum cross_step st)
{
    struct cmdv v = {.argc = 0};
    char exp[24];
    if (st == ST_CLEAN) {
        cv_str(&v, "DEL");
        cv_add(&v, tmp_name(cs, 0), cs->name_len);
    } else {
        cv_str(&v, "EVAL");
        cv_str(&v, unpark_script);
        cv_str(&v, "2");
        cv_key(&v, r, cs, 0);
        cv_add(&v, tmp_name(cs, 0), cs->name_len);
        cv_add(&v, exp, (size_t)resp_ll2str(exp, cs->expiry < 0 ? -1 : cs->expiry));
    }
    step_begin(cs, st, 1);
    send_cv(cs, r, 0, cs->kslot[0], &v);
    step_end(cs, r);
}

static int rep_is_busykey(const struct cross_rep *p)
{
    const char *t;
    uint32_t len;
    if (!rep_is_error(p)) return 0;
    rep_error_text(p, &t, &len);
    return errors_is_busykey(t, len);
}

static void rename_advance(struct cross *cs, struct request *r, struct cross_rep *rep, uint32_t n)
{
    int copy = cs->op == CROSS_COPY;
    switch (cs->step) {
    case ST_CHECK: {
        const struct cross_rep *err = first_error(rep, n);
        long long src = 0, dst = 0;
        if (err) {
            answer_failed(cs, r, err);
            return;
        }
        rep_int(rep_data(&rep[0]), rep[0].len, &src);
        rep_int(rep_data(&rep[1]), rep[1].len, &dst);
        if (!src) {
            sbuf_clear(&cs->x->out);
            errors_no_such_key(&cs->x->out);
            answer_out(cs, r);
        } else if (dst) {
            answer_int(cs, r, 0);
        } else {
            rename_park(cs, r);
        }
        return;
    }
    case ST_READ: {
        const char *payload;
        uint32_t plen;
        if (rep_is_error(&rep[0])) {
            answer_failed(cs, r, &rep[0]);
            return;
        }
        if (rep_is_null(&rep[0]) ||
            rep_dump_pair(&rep[0], &payload, &plen, &cs->expiry) < 0) {
            if (copy) {
                answer_int(cs, r, 0);
            } else {
                sbuf_clear(&cs->x->out);
                errors_no_such_key(&cs->x->out);
                answer_out(cs, r);
            }
            return;
        }
        restore_dest(cs, r, payload, plen);
        return;
    }
    case ST_WRITE:
        if (copy) {
            /* BUSYKEY: the destination exists and there is no REPLACE. */
            if (rep_is_busykey(&rep[0]))
                answer_int(cs, r, 0);
            else if (rep_is_error(&rep[0]))
                answer_failed(cs, r, &rep[0]);
            else
                answer_int(cs, r, 1);
            return;
        }
        if (!rep_is_error(&rep[0])) {
            rename_finish(cs, r, ST_CLEAN);
            return;
        }
        buf_chunk_ref(rep[0].c);
        cs->kept = rep[0]; /* BUSYKEY (RENAMENX lost a race) or a failure: put it back */
        rename_finish(cs, r, ST_REPAIR);
        return;
    case ST_CLEAN: /* a failed DEL leaves the parked key to its expiry */
        rename_answer(cs, r, 1);
        return;
    default: { /* ST_REPAIR */
        long long back = 0;
        int ok = !rep_is_error(&rep[0]) && rep_int(rep_data(&rep[0]), rep[0].len, &back) == 0 &&
                 back == 1;
        if (ok && rep_is_busykey(&cs->kept)) {
            answer_int(cs, r, 0); /* RENAMENX: the destination appeared meanwhile */
            return;
        }
        answer_cross(cs, r, ok ? PXC_PUT_BACK : PXC_LOST, &cs->kept,
                     rep_is_error(&rep[0]) ? &rep[0] : NULL, tmp_name(cs, 0), cs->name_len);
        return;
    }
    }
}

/* ---- MSETNX: EXISTS per slot, MSETNX per slot, undone when a slot refuses ---- */

/* Sends one part per slot: for ST_READ EXISTS of the slot's keys, for ST_WRITE MSETNX of its
 * pairs, for ST_REPAIR the undoing script, to the parts whose MSETNX may have set keys. */
static void msetnx_send(struct cross *cs, struct request *r, enum cross_step st, uint32_t nslots)
{
    uint32_t npairs = cs->nkeys;
    const char **argv = px_malloc((2 * npairs + 4) * sizeof(*argv));
    uint32_t *lens = px_malloc((2 * npairs + 4) * sizeof(*lens));
    uint32_t nsend = 0;
    for (uint32_t p = 0; p < nslots; p++) nsend += st != ST_REPAIR || cs->part_set[p];
    uint8_t *was_set = px_malloc(nslots ? nslots : 1);
    memcpy(was_set, cs->part_set, nslots);
    step_begin(cs, st, st == ST_REPAIR ? nsend : nslots);
    uint32_t idx = 0;
    for (uint32_t p = 0; p < nslots; p++) {
        if (st == ST_REPAIR && !was_set[p]) continue;
        uint32_t argc = 0, nk = 0;
        unsigned slot = 0;
        if (st == ST_REPAIR) {
            argv[argc] = "EVAL";
            lens[argc++] = 4;
            argv[argc] = unset_script;
            lens[argc++] = (uint32_t)strlen(unset_script);
            argc++; /* numkeys, written below */
        } else {
            argv[argc] = st == ST_READ ? "EXISTS" : "MSETNX";
            lens[argc++] = 6;
        }
        for (uint32_t i = 0; i < npairs; i++) {
            if (cs->pair_part[i] != p) continue;
            slot = cs->kslot[i];
            argv[argc] = arg(r, 1 + 2 * i);
            lens[argc++] = r->argv[1 + 2 * i].len;
            nk++;
            if (st == ST_WRITE) {
                argv[argc] = arg(r, 2 + 2 * i);
                lens[argc++] = r->argv[2 + 2 * i].len;
            }
        }
        char num[24];
        if (st == ST_REPAIR) {
            /* KEYS then ARGV: the values, in the same order. */
            argv[2] = num;
            lens[2] = (uint32_t)resp_ll2str(num, nk);
            for (uint32_t i = 0; i < npairs; i++) {
                if (cs->pair_part[i] != p) continue;
                argv[argc] = arg(r, 2 + 2 * i);
                lens[argc++] = r->argv[2 + 2 * i].len;
            }
        }
        cs->part_set[p] = 0;
        send_part(cs, r, idx++, slot, argc, argv, lens);
    }
    px_free(was_set);
    px_free(argv);
    px_free(lens);
    step_end(cs, r);
}

static void msetnx_start(struct cross *cs, struct request *r)
{
    /* Pairs grouped by slot, in the order the slots first appear. */
    uint32_t nslots = 0;
    for (uint32_t i = 0; i < cs->nkeys; i++) {
        uint32_t p;
        for (p = 0; p < i; p++)
            if (cs->kslot[p] == cs->kslot[i]) break;
        cs->pair_part[i] = p < i ? cs->pair_part[p] : nslots++;
    }
    cs->ntmp = nslots; /* the number of parts, kept here for the later steps */
    msetnx_send(cs, r, ST_READ, nslots);
}

static void msetnx_advance(struct cross *cs, struct request *r, struct cross_rep *rep, uint32_t n)
{
    uint32_t nslots = cs->ntmp;
    switch (cs->step) {
    case ST_READ: {
        const struct cross_rep *err = first_error(rep, n);
        if (err) {
            answer_failed(cs, r, err);
            return;
        }
        long long total = 0, v;
        for (uint32_t p = 0; p < n; p++)
            if (rep_int(rep_data(&rep[p]), rep[p].len, &v) == 0) total += v;
        if (total > 0) {
            answer_int(cs, r, 0);
            return;
        }
        msetnx_send(cs, r, ST_WRITE, nslots);
        return;
    }
    case ST_WRITE: {
        /* Every slot set its keys: done. Otherwise, undo the slots that set them (or may have). */
        uint32_t set = 0;
        const struct cross_rep *err = NULL;
        for (uint32_t p = 0; p < n; p++) {
            long long v = 0;
            if (rep_is_error(&rep[p])) {
                const char *t;
                uint32_t tl;
                rep_error_text(&rep[p], &t, &tl);
                if (errors_may_have_run(t, tl)) cs->part_set[p] = 1;
                if (!err) err = &rep[p];
            } else if (rep_int(rep_data(&rep[p]), rep[p].len, &v) == 0 && v == 1) {
                cs->part_set[p] = 1;
                set++;
            }
        }
        if (set == n) {
            answer_int(cs, r, 1);
            return;
        }
        if (err) {
            buf_chunk_ref(err->c);
            cs->kept = *err;
        }
        uint32_t undo = 0;
        for (uint32_t p = 0; p < n; p++) undo += cs->part_set[p];
        if (undo == 0) {
            if (err) /* nothing was set anywhere */
                answer_failed(cs, r, &cs->kept);
            else
                answer_int(cs, r, 0); /* a key appeared meanwhile: refused everywhere */
            return;
        }
        msetnx_send(cs, r, ST_REPAIR, nslots);
        return;
    }
    default: { /* ST_REPAIR */
        const struct cross_rep *err2 = first_error(rep, n);
        const struct cross_rep *err = cs->kept.c ? &cs->kept : NULL;
        if (!err2 && !err) {
            answer_int(cs, r, 0); /* undone: a key appeared meanwhile, so nothing is set */
            return;
        }
        answer_cross(cs, r, err2 ? PXC_NOT_UNDONE : PXC_UNDONE, err, err2, NULL, 0);
        return;
    }
    }
}

/* ---- the steps' replies ---- */

static void part_done(struct request_pool *rp, struct request *part, struct buf_chunk *c,
                      uint32_t off, uint32_t len)
{
    struct request *r = part->parent;
    struct cross *cs = (struct cross *)r->attach;
    uint32_t i = part->child_idx;
    request_put(rp, part);
    if (i < cs->nparts) {
        buf_chunk_ref(c);
        cs->rep[i].c = c;
        cs->rep[i].off = off;
        cs->rep[i].len = len;
    }
    if (--cs->pending == 0) advance(cs, r);
}

/* The step is complete: its replies are taken out of cs (the next step, or the answer, may free
 * cs before this returns) and handed to the command's logic, then released. */
static void advance(struct cross *cs, struct request *r)
{
    struct cross_rep *rep = cs->rep;
    uint32_t n = cs->nparts;
    cs->rep = NULL;
    cs->nparts = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rep[i].c) continue;
        /* Every part answers (a failure is an error reply); a missing one is a bug, made an error
         * rather than a crash. */
        sbuf_clear(&cs->x->out);
        errors_unexpected_reply(&cs->x->out, "a cross-slot step");
        uint32_t off;
        rep[i].c = request_arena_copy(cs->x->rp, cs->x->out.buf, cs->x->out.len, &off);
        rep[i].off = off;
        rep[i].len = (uint32_t)cs->x->out.len;
    }
    switch (cs->op) {
    case CROSS_GATHER: gather_advance(cs, r, rep, n); break;
    case CROSS_SMOVE:
    case CROSS_LMOVE: move_advance(cs, r, rep, n); break;
    case CROSS_RENAME:
    case CROSS_COPY: rename_advance(cs, r, rep, n); break;
    case CROSS_MSETNX: msetnx_advance(cs, r, rep, n); break;
    case CROSS_NONE: break;
    }
    reps_put(rep, n);
}

/* ---- the start ---- */

/* LEFT or RIGHT (any case): 1 for LEFT, 0 for RIGHT, -1 otherwise. */
static int end_of(const struct request *r, uint32_t i)
{
    if (request_arg_is(r, i, "left")) return 1;
    if (request_arg_is(r, i, "right")) return 0;
    return -1;
}

/* COPY's options, checked as a cluster node checks them. Returns 0, or -1 with the error in
 * x->out. */
static int copy_options(struct cross *cs, const struct request *r)
{
    struct sbuf *out = &cs->x->out;
    int other_db = 0;
    for (uint32_t j = 3; j < r->argc; j++) {
        if (request_arg_is(r, j, "replace")) {
            cs->replace = 1;
        } else if (request_arg_is(r, j, "db") && j + 1 < r->argc) {
            long long db;
            j++;
            if (!resp_str2ll(arg(r, j), r->argv[j].len, &db)) {
                errors_not_integer(out);
                return -1;
            }
            if (db < 0 || db >= 16) {
                errors_db_out_of_range(out);
                return -1;
            }
            other_db |= db != 0;
        } else {
            errors_syntax(out);
            return -1;
        }
    }
    if (other_db) {
        errors_copy_other_db(out);
        return -1;
    }
    return 0;
}

/* The checks a node makes before it touches anything (LMOVE's ends, COPY's options). Returns 0,
 * or -1 with the error in x->out. */
static int check_syntax(struct cross *cs, const struct request *r)
{
    const char *name = r->cmd->cmd->name;
    if (cs->op == CROSS_LMOVE) {
        if (strcmp(name, "rpoplpush") == 0) {
            cs->left_from = 0;
            cs->left_to = 1;
            return 0;
        }
        cs->left_from = end_of(r, 3);
        cs->left_to = end_of(r, 4);
        if (cs->left_from < 0 || cs->left_to < 0) {
            errors_syntax(&cs->x->out);
            return -1;
        }
        return 0;
    }
    if (cs->op == CROSS_COPY) return copy_options(cs, r);
    if (cs->op == CROSS_RENAME) {
        cs->nx = strcmp(name, "renamenx") == 0;
        cs->replace = !cs->nx;
    }
    return 0;
}

void cross_run(struct cross_ctx *x, struct request *r, enum cross_op op,
               const struct keys_result *keys, const struct keyspace *ks)
{
    stat_add(&x->stats->cross_computed, 1);
    uint32_t nk = keys->n;
    /* The struct, then one block for the per-key and per-copy arrays. */
    struct cross *cs = px_calloc(1, sizeof(*cs));
    cs->attach.free = cross_free;
    cs->x = x;
    cs->op = op;
    cs->nkeys = nk;
    size_t block = nk * (sizeof(int) * 2 + sizeof(unsigned) + sizeof(uint32_t) * 2 + 2);
    char *b = px_calloc(1, block ? block : 1);
    cs->kpos = (int *)b;
    cs->kslot = (unsigned *)(cs->kpos + nk);
    cs->ktmp = (int *)(cs->kslot + nk);
    cs->tmp_key = (uint32_t *)(cs->ktmp + nk);
    cs->pair_part = cs->tmp_key + nk;
    cs->tmp_made = (uint8_t *)(cs->pair_part + nk);
    cs->part_set = cs->tmp_made + nk;
    sbuf_init(&cs->names);
    sbuf_init(&cs->value);
    if (ks) cs->ks = *ks;
    for (uint32_t i = 0; i < nk; i++) {
        cs->kpos[i] = keys->pos[i];
        cs->kslot[i] = (unsigned)keyspace_slot(ks, arg(r, (uint32_t)keys->pos[i]),
                                               r->argv[keys->pos[i]].len);
    }
    r->attach = &cs->attach;
    r->state = REQ_FANOUT;
    sbuf_clear(&x->out);
    if (nk < 2 || check_syntax(cs, r) < 0) {
        if (nk < 2) errors_syntax(&x->out); /* routing sends only commands with keys in two slots */
        r->flags |= REQ_F_REJECTED;
        answer_out(cs, r);
        return;
    }
    switch (op) {
    case CROSS_GATHER: gather_start(cs, r); return;
    case CROSS_SMOVE:
    case CROSS_LMOVE: move_start(cs, r); return;
    case CROSS_RENAME:
        if (rename_names(cs) < 0) {
            sbuf_clear(&x->out);
            errors_cross_no_tmp(&x->out);
            answer_out(cs, r);
            return;
        }
        if (cs->nx)
            renamenx_check(cs, r);
        else
            rename_park(cs, r);
        return;
    case CROSS_COPY: copy_read(cs, r); return;
    case CROSS_MSETNX: msetnx_start(cs, r); return;
    case CROSS_NONE: break;
    }
    errors_syntax(&x->out);
    answer_out(cs, r);
}
