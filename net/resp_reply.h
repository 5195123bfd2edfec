/*
 * Resumable RESP reply framer. It finds where one reply ends (RESP2 and RESP3, nested aggregates
 * and attributes included) without building any object, and reports the reply's type byte and,
 * for a top-level error, which kind of error it is (MOVED, ASK, TRYAGAIN, ...), so the backend can
 * act on redirects and splice every other reply to the client untouched.
 *
 * As with the request parser, the caller passes the reply's bytes from its first byte; progress
 * is kept relative to that byte, so a partial reply may be moved between calls.
 */
#ifndef PX_RESP_REPLY_H
#define PX_RESP_REPLY_H

#include "resp.h"

#include <stddef.h>
#include <stdint.h>

enum resp_err_kind {
    RESP_ERRK_NONE = 0,
    RESP_ERRK_OTHER,
    RESP_ERRK_MOVED,
    RESP_ERRK_ASK,
    RESP_ERRK_TRYAGAIN,
    RESP_ERRK_CLUSTERDOWN,
    RESP_ERRK_LOADING,
    RESP_ERRK_READONLY,
    RESP_ERRK_NOSCRIPT,
    RESP_ERRK_MASTERDOWN,
};

struct resp_frame_level {
    int64_t remaining; /* elements still to come at this level */
    int attr;          /* this level is an attribute map, which does not count as an element */
};

struct resp_reply_framer {
    uint32_t pos;      /* bytes of the current reply consumed so far */
    int64_t bulk;      /* >= 0: inside a bulk body of this many bytes; -1 otherwise */
    char type;         /* type byte of the top-level reply, 0 until seen */
    uint32_t line_off; /* top-level simple reply: its text after the type byte */
    uint32_t line_len;
    uint32_t depth;
    uint32_t cap;
    struct resp_frame_level *stack;
    struct resp_frame_level stack_inline[8];
};

struct resp_reply_info {
    uint32_t len;           /* bytes of the complete reply */
    uint32_t need;          /* when incomplete: at least this many more bytes are needed */
    char type;              /* '+', '-', ':', '$', '*', '%', ... of the top-level reply */
    enum resp_err_kind err; /* for '-' and '!' replies */
    uint32_t line_off;      /* for simple top-level replies ('+', '-', ':' ...): the text */
    uint32_t line_len;
};

/* Prepares a framer; it allocates only for a reply nested deeper than its inline stack. */
void resp_reply_init(struct resp_reply_framer *f);
/* Frees what the framer allocated. */
void resp_reply_deinit(struct resp_reply_framer *f);
/* Forgets the current reply; call after a complete one before framing the next. */
void resp_reply_reset(struct resp_reply_framer *f);

/*
 * Frames the reply starting at buf[0]. Returns 0 when complete (info filled), PX_EAGAIN when
 * more bytes are needed (info->need), PX_EPROTO when the bytes are not valid RESP (the
 * connection cannot be trusted any more).
 */
int resp_reply_frame(struct resp_reply_framer *f, const char *buf, size_t len,
                     struct resp_reply_info *info);

/*
 * Splits a complete aggregate reply (RESP2 '*' or RESP3 '*', '~', '>') into its top-level
 * elements: fills up to max spans (offsets relative to buf) and sets *count to the number of
 * elements. Returns 0, or PX_EPROTO when buf is not one complete aggregate (a null array counts
 * as zero elements). Allocates only when elements nest deeper than the framer's inline stack.
 */
int resp_reply_elements(const char *buf, size_t len, struct resp_span *out, uint32_t max,
                        uint32_t *count);

/* Classifies an error line (the text after '-'). */
enum resp_err_kind resp_reply_classify(const char *s, size_t len);

#endif
