/*
 * A client request on its way through the proxy. It owns a reference to the chunk holding its
 * bytes (embedded backend_req) and, once answered out of order, to the chunk holding its reply.
 * Requests come from a per-worker pool; they belong to one session until that session closes,
 * after which they are orphans that live until the backend that holds them lets go.
 */
#ifndef PX_REQUEST_H
#define PX_REQUEST_H

#include "backend.h"
#include "commands.h"
#include "resp.h"

#include <stdint.h>

#define REQ_ARGV_INLINE 5

struct session;
struct worker;

enum req_state {
    REQ_NEW = 0, /* parsed, being routed */
    REQ_SENT,    /* in a backend's FIFO */
    REQ_HELD,    /* waiting in the worker's held list */
    REQ_DONE,    /* answered, waiting for the requests before it */
};

enum req_hold {
    HOLD_UNREACHABLE = 0, /* no usable connection to the node (or no slot map yet) */
    HOLD_RETRY,           /* the node said TRYAGAIN, CLUSTERDOWN or LOADING */
};

struct request {
    struct backend_req breq; /* the request's bytes; breq.chunk is referenced */
    struct session *sess;    /* NULL once the client is gone */
    struct request *next;    /* the session's queue, in arrival order */
    struct request *hnext;   /* the worker's held list */
    const struct cmd_entry *cmd;
    struct resp_span *argv; /* offsets into breq.chunk->data */
    uint32_t argc;
    int slot;            /* -1: no key, any master */
    uint8_t state;       /* enum req_state */
    uint8_t hold_reason; /* enum req_hold */
    uint8_t asking;      /* send with ASKING (after an ASK redirect) */
    uint8_t redirects;
    uint16_t retries;
    uint64_t deadline_ms;     /* when holding gives up; 0 until first held */
    uint64_t not_before_ms;   /* held: not re-sent before this */
    struct buf_chunk *rchunk; /* REQ_DONE: the reply's bytes */
    uint32_t roff, rlen;
    struct resp_span argv_inline[REQ_ARGV_INLINE];
};

/* Takes a request from the worker's pool (zeroed). */
struct request *request_get(struct worker *w);
/* Releases its chunk references and returns it to the pool. */
void request_put(struct worker *w, struct request *r);
/* Copies argc spans, adding base to each offset (argv storage grows beyond the inline slots). */
void request_set_argv(struct request *r, const struct resp_span *argv, uint32_t argc,
                      uint32_t base);
/* The bytes of argument i. */
static inline const char *request_arg(const struct request *r, uint32_t i)
{
    return r->breq.chunk->data + r->argv[i].off;
}

#endif
