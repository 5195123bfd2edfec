/*
 * Resumable RESP request parser: multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline
 * ("GET k\n") requests, with Redis's own rules and error texts.
 *
 * The parser never reads a socket. The caller hands it the bytes of the current request from its
 * first byte (buf, len); the parser remembers how far it got, relative to that first byte, so the
 * caller may move the partial request to a bigger buffer between calls. A multibulk request's
 * arguments come back as spans into buf; an inline request is re-encoded as multibulk into the
 * parser's own inline buffer (inline arguments may contain quotes and escapes), with spans into
 * that.
 */
#ifndef PX_RESP_REQ_H
#define PX_RESP_REQ_H

#include "resp.h"

#include <stddef.h>
#include <stdint.h>

struct resp_req_limits {
    long long max_bulk;  /* longest argument (proto-max-bulk-len) */
    long long max_args;  /* most arguments in one multibulk request */
    uint32_t inline_max; /* longest inline line / length header */
    int unauth; /* the client has not authenticated yet: Redis's small limits apply (at most
                   RESP_UNAUTH_MAX_ARGS arguments of RESP_UNAUTH_MAX_BULK bytes) */
};

/* Redis's limits before AUTH (CVE-2021-32675). */
#define RESP_UNAUTH_MAX_ARGS 10
#define RESP_UNAUTH_MAX_BULK 16384

enum resp_req_error {
    RESP_REQ_ERR_NONE = 0,
    RESP_REQ_ERR_INLINE_TOO_BIG,    /* too big inline request */
    RESP_REQ_ERR_UNBALANCED_QUOTES, /* unbalanced quotes in request */
    RESP_REQ_ERR_MBULK_TOO_BIG,     /* too big mbulk count string */
    RESP_REQ_ERR_MBULK_INVALID,     /* invalid multibulk length */
    RESP_REQ_ERR_BULK_TOO_BIG,      /* too big bulk count string */
    RESP_REQ_ERR_BULK_INVALID,      /* invalid bulk length */
    RESP_REQ_ERR_EXPECTED_DOLLAR,   /* expected '$', got '%c' */
    RESP_REQ_ERR_UNAUTH_MBULK,      /* unauthenticated multibulk length */
    RESP_REQ_ERR_UNAUTH_BULK,       /* unauthenticated bulk length */
};

struct resp_req_parser {
    uint32_t pos;    /* bytes of the current request consumed so far */
    long long nargs; /* declared argument count, 0 before the header */
    long long bulk;  /* length of the argument being read, -1 before its header */
    struct resp_span *argv;
    uint32_t argc, argv_cap;
    /* Inline requests are re-encoded here. */
    char *inl;
    uint32_t inl_len, inl_cap;
};

struct resp_req_result {
    uint32_t len;  /* bytes of buf the request occupies (valid when complete) */
    uint32_t need; /* when incomplete: at least this many more bytes are needed */
    int is_inline; /* complete: spans point into parser->inl rather than buf; incomplete: the
                      partial request is an inline line (no line end yet) */
    enum resp_req_error err;
    char bad_char; /* for RESP_REQ_ERR_EXPECTED_DOLLAR */
};

/* An empty parser; its arrays are allocated by the first request that needs them. */
void resp_req_init(struct resp_req_parser *p);
/* Frees p->argv and the inline buffer (which an inline request's spans point into). */
void resp_req_deinit(struct resp_req_parser *p);
/* Forgets the current request (after it was taken, or to start over). Keeps the buffers. */
void resp_req_reset(struct resp_req_parser *p);
/* Releases the argument array and inline buffer when they grew large (idle trimming). */
void resp_req_shrink(struct resp_req_parser *p);
/* Releases them whatever their size, between requests (an idle client keeps no buffer). */
void resp_req_release(struct resp_req_parser *p);

/*
 * Parses the request starting at buf[0]. Returns:
 *   0          complete: p->argc spans in p->argv, res->len bytes long. argc == 0 means an
 *              empty request ("*0\r\n", a blank inline line) that is skipped without a reply;
 *   PX_EAGAIN  incomplete: call again with the same start and more bytes (res->need hints how
 *              many);
 *   PX_EPROTO  protocol error: res->err says which; the connection must be closed after the
 *              error reply (the proxy renders Redis's text for res->err).
 * After 0, call resp_req_reset() before parsing the next request.
 */
int resp_req_parse(struct resp_req_parser *p, const char *buf, size_t len,
                   const struct resp_req_limits *lim, struct resp_req_result *res);

/* Fills lim with Redis's defaults (inline max, bulk and argument limits; authenticated). */
void resp_req_limits_default(struct resp_req_limits *lim);

#endif
