/* Request objects and their per-worker pool; see request.h. */
#include "request.h"

#include "fanout.h"
#include "mem.h"
#include "session.h"
#include "worker.h"

#include <string.h>

/* Free requests a worker keeps; the rest go back to the allocator. A fan-out workload has many in
 * flight (50 clients pipelining 16 ten-key MSETs: 8,800), and the cron frees those unused for a
 * second, so the cap is generous. */
#define REQ_POOL_MAX 16384

struct request *request_get(struct worker *w)
{
    struct request *r = w->free_reqs;
    if (r) {
        w->free_reqs = r->next;
        w->nfree_reqs--;
        if (w->nfree_reqs < w->low_free_reqs) w->low_free_reqs = w->nfree_reqs;
    } else {
        r = px_malloc(sizeof(*r));
    }
    memset(r, 0, sizeof(*r));
    r->argv = r->argv_inline;
    r->slot = -1;
    r->shard = -1;
    return r;
}

void request_put(struct worker *w, struct request *r)
{
    if (r->fan) fanout_free(w, r);
    buf_chunk_put(r->breq.chunk);
    buf_chunk_put(r->rchunk);
    if (r->argv != r->argv_inline) px_free(r->argv);
    if (w->nfree_reqs < REQ_POOL_MAX) {
        r->next = w->free_reqs;
        w->free_reqs = r;
        w->nfree_reqs++;
    } else {
        px_free(r);
    }
}

void request_pool_trim_unused(struct worker *w, uint32_t keep)
{
    uint32_t unused = w->low_free_reqs < w->nfree_reqs ? w->low_free_reqs : w->nfree_reqs;
    for (; unused > keep; unused--) {
        struct request *r = w->free_reqs;
        w->free_reqs = r->next;
        w->nfree_reqs--;
        px_free(r);
    }
    w->low_free_reqs = w->nfree_reqs;
}

void request_make_barrier(struct request *r)
{
    if (r->flags & REQ_F_BARRIER) return;
    r->flags |= REQ_F_BARRIER;
    if (r->sess) session_ext_get(r->sess)->barriers++;
}

void request_set_argv(struct request *r, const struct resp_span *argv, uint32_t argc, uint32_t base)
{
    if (argc > REQ_ARGV_INLINE) r->argv = px_malloc(argc * sizeof(*argv));
    for (uint32_t i = 0; i < argc; i++) {
        r->argv[i].off = argv[i].off + base;
        r->argv[i].len = argv[i].len;
    }
    r->argc = argc;
}
