/*
 * Request objects, their per-worker pool and their replies; see request.h.
 *
 * The pool is a free list: request_get takes the head (or allocates), request_put pushes back,
 * and the worker's cron trims what a burst left unused. A reply goes to the request's sink; the
 * proxy's own replies that must wait (their request is not first in its client's queue, or they
 * are a fan-out part) are copied into the arena, a chunk filled from the front and replaced when
 * full, so that many small replies share one allocation.
 *
 * The session takes a request per parsed command and puts it back once its reply is written; a
 * fan-out takes one per part. Whoever answers calls request_reply_*, which hands the reply to the
 * request's sink: this file never names the session or an executor.
 */
#include "request.h"

#include "busy.h"
#include "clock.h"
#include "mem.h"
#include "placement.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Free requests a worker keeps; the rest go back to the allocator. A fan-out workload has many in
 * flight (50 clients pipelining 16 ten-key MSETs: 8,800), and the cron frees those unused for a
 * second, so the cap is generous. */
#define REQ_POOL_MAX 16384

void request_pool_init(struct request_pool *rp, struct buf_pool *chunks)
{
    memset(rp, 0, sizeof(*rp));
    rp->chunks = chunks;
}

void request_pool_deinit(struct request_pool *rp)
{
    while (rp->free) {
        struct request *r = rp->free;
        rp->free = r->next;
        px_free(r);
    }
    rp->nfree = rp->low_free = 0;
    buf_chunk_put(rp->arena);
    rp->arena = NULL;
}

struct request *request_get(struct request_pool *rp)
{
    struct request *r = rp->free;
    if (r) {
        rp->free = r->next;
        rp->nfree--;
        if (rp->nfree < rp->low_free) rp->low_free = rp->nfree;
    } else {
        r = px_malloc(sizeof(*r));
    }
    /* A pooled request still carries its last command's flags, pointers and counters. */
    memset(r, 0, sizeof(*r));
    r->argv = r->argv_inline;
    r->slot = -1;
    r->shard = -1;
    return r;
}

void request_put(struct request_pool *rp, struct request *r)
{
    if (r->flags & REQ_F_SCRIPT_RUN) busy_end(clock_now_ms()); /* never answered: dropped */
    if (r->attach) r->attach->free(rp, r->attach);
    buf_chunk_put(r->breq.chunk);
    buf_chunk_put(r->rchunk);
    if (r->argv != r->argv_inline) px_free(r->argv);
    /* The other fields are left as they are: request_get clears them on the next use. */
    if (rp->nfree < REQ_POOL_MAX) {
        r->next = rp->free;
        rp->free = r;
        rp->nfree++;
    } else {
        px_free(r);
    }
}

/* low_free is the fewest requests that sat in the pool at any moment since the last trim: that
 * many were not needed even at the busiest moment, so they can go. */
void request_pool_trim_unused(struct request_pool *rp, uint32_t keep)
{
    uint32_t unused = rp->low_free < rp->nfree ? rp->low_free : rp->nfree;
    for (; unused > keep; unused--) {
        struct request *r = rp->free;
        rp->free = r->next;
        rp->nfree--;
        px_free(r);
    }
    rp->low_free = rp->nfree;
}

/* The parser's spans count from the start of the request; base is where it starts in the chunk
 * (0 for an inline request, which was copied into a chunk of its own). Once per request. */
void request_set_argv(struct request *r, const struct resp_span *argv, uint32_t argc, uint32_t base)
{
    if (argc > REQ_ARGV_INLINE) r->argv = px_malloc(argc * sizeof(*argv));
    for (uint32_t i = 0; i < argc; i++) {
        r->argv[i].off = argv[i].off + base;
        r->argv[i].len = argv[i].len;
    }
    r->argc = argc;
}

void request_rewrite(struct request_pool *rp, struct request *r, const char *const *args,
                     const uint32_t *lens, uint32_t n)
{
    size_t total = 1 + (size_t)resp_ull_digits(n) + 2;
    for (uint32_t i = 0; i < n; i++) total += 1 + (size_t)resp_ull_digits(lens[i]) + 2 + lens[i] + 2;
    struct buf_chunk *c = buf_chunk_get_exact(rp->chunks, total);
    struct resp_span *argv = px_malloc((n ? n : 1) * sizeof(*argv));
    char *p = c->data;
    p += sprintf(p, "*%u\r\n", n);
    for (uint32_t i = 0; i < n; i++) {
        p += sprintf(p, "$%u\r\n", lens[i]);
        argv[i].off = (uint32_t)(p - c->data);
        argv[i].len = lens[i];
        memcpy(p, args[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    c->len = (uint32_t)(p - c->data);
    /* args may point into these old bytes: a caller that needs that holds its own reference
     * until this returns (evalsha_as_eval does). */
    buf_chunk_put(r->breq.chunk);
    r->breq.chunk = c;
    r->breq.off = 0;
    r->breq.len = c->len;
    if (r->argv != r->argv_inline) px_free(r->argv);
    r->argv = r->argv_inline;
    request_set_argv(r, argv, n, 0);
    px_free(argv);
}

int request_arg_is(const struct request *r, uint32_t i, const char *word)
{
    size_t l = strlen(word);
    return i < r->argc && r->argv[i].len == l && strncasecmp(request_arg(r, i), word, l) == 0;
}

int request_has_arg(const struct request *r, const char *word)
{
    for (uint32_t i = 1; i < r->argc; i++)
        if (request_arg_is(r, i, word)) return 1;
    return 0;
}

void request_make_barrier(struct request *r)
{
    if (r->flags & REQ_F_BARRIER) return;
    r->flags |= REQ_F_BARRIER;
    if (r->client) client_ext_get(r->client)->barriers++;
}

int request_make_blocking(struct request *r)
{
    int became = 0;
    /* Once only: a request held before it could be routed is routed again. */
    if (!(r->flags & REQ_F_BLOCKING)) {
        r->flags |= REQ_F_BLOCKING;
        if (r->client) became = client_ext_get(r->client)->nblocking++ == 0;
    }
    request_make_barrier(r);
    return became;
}

void request_make_drain(struct request *r)
{
    request_make_barrier(r);
    r->flags |= REQ_F_DRAIN;
}

struct buf_chunk *request_arena_copy(struct request_pool *rp, const char *data, size_t len,
                                     uint32_t *off)
{
    if (!rp->arena || buf_chunk_room(rp->arena) < len) {
        /* The full arena lives on while replies kept in it are still referenced. */
        buf_chunk_put(rp->arena);
        rp->arena = buf_chunk_get(rp->chunks, len);
    }
    memcpy(rp->arena->data + rp->arena->len, data, len);
    buf_chunk_ref(rp->arena);
    *off = rp->arena->len;
    rp->arena->len += (uint32_t)len;
    return rp->arena;
}

void request_reply_span(struct request_pool *rp, struct request *r, struct buf_chunk *c,
                        uint32_t off, uint32_t len)
{
    /* An orphan's reply has nowhere to go: sinks are never called for one. */
    if (request_orphan(r)) {
        request_put(rp, r);
        return;
    }
    r->sink->reply_span(rp, r, c, off, len);
}

void request_reply_bytes(struct request_pool *rp, struct request *r, const char *data, size_t len)
{
    if (request_orphan(r)) {
        request_put(rp, r);
        return;
    }
    if (r->sink->reply_bytes) {
        r->sink->reply_bytes(rp, r, data, len);
        return;
    }
    /* A sink that only takes spans: keep the bytes in the arena and hand them over as one. */
    uint32_t off;
    struct buf_chunk *c = request_arena_copy(rp, data, len, &off);
    r->sink->reply_span(rp, r, c, off, (uint32_t)len);
    buf_chunk_put(c);
}

int request_strip_keys(struct request_pool *rp, struct request *r, const int *pos, uint32_t n)
{
    int any = 0;
    for (uint32_t i = 0; i < n && !any; i++)
        any = memchr(request_arg(r, (uint32_t)pos[i]), '{', r->argv[pos[i]].len) != NULL;
    if (!any) return 0;
    const char **args = px_malloc(r->argc * sizeof(*args));
    uint32_t *lens = px_malloc(r->argc * sizeof(*lens));
    for (uint32_t i = 0; i < r->argc; i++) {
        args[i] = request_arg(r, i);
        lens[i] = r->argv[i].len;
    }
    for (uint32_t i = 0; i < n; i++)
        lens[pos[i]] = (uint32_t)placement_rc_stored_len(args[pos[i]], lens[pos[i]]);
    /* The arguments point into the old bytes, which stay referenced until the copy is made. */
    struct buf_chunk *old = r->breq.chunk;
    buf_chunk_ref(old);
    request_rewrite(rp, r, args, lens, r->argc);
    buf_chunk_put(old);
    px_free(args);
    px_free(lens);
    return 1;
}

long long request_account(struct worker_stats *st, const struct request *r, const char *reply,
                          size_t len, uint64_t now_us)
{
    int err = len > 0 && (reply[0] == '-' || reply[0] == '!');
    if (err) {
        stat_add(&st->error_replies, 1);
        stat_add(&st->errors[stats_classify_error(reply + 1, len - 1)], 1);
        errstats_count(reply, len);
    }
    if (!r->cmd) return -1;
    struct cmd_stats *cs = &st->cmds[r->cmd->id];
    if (r->flags & REQ_F_REJECTED) {
        stat_add(&cs->rejected, 1);
        return -1;
    }
    stat_add(&cs->calls, 1);
    /* From the turn the request was read in to the turn its reply was read in, both on the
     * loop's clock (read once per turn, not once per reply); a command answered in the turn it
     * was read in (PING, or anything the proxy answers itself) still shows the time it took. */
    uint64_t now = now_us;
    if (now <= r->start_us) now = clock_now_us();
    uint64_t us = now > r->start_us ? now - r->start_us : 0;
    stat_add(&cs->usec, us);
    stat_add(&cs->buckets[stats_bucket(us)], 1);
    lat_record(cs, us);
    if (err) stat_add(&cs->failed, 1);
    return (long long)us;
}
