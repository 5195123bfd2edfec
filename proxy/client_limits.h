/*
 * The client limits' decisions, as pure functions of the configuration and what a session
 * measures, so that tests/unit/test_limits.c checks them without sockets: the output buffer limit
 * (-client-output-buffer-limit: hard, or soft for some seconds), the idle timeout (-timeout), the
 * query buffer limit and the requests in flight at which reading pauses (-max-inflight). The
 * session acts on the verdicts (closing, pausing) and counts them.
 */
#ifndef PX_CLIENT_LIMITS_H
#define PX_CLIENT_LIMITS_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

enum limits_output {
    LIMITS_OUTPUT_OK = 0, /* within the limits */
    LIMITS_OUTPUT_HARD,   /* over the hard limit: close now */
    LIMITS_OUTPUT_SOFT,   /* over the soft limit for longer than its seconds: close now */
};

/*
 * The verdict for `pending` unread output bytes at now_ms. *soft_since is when the output went
 * over the soft limit (0: it is not over it); the function keeps it up to date.
 */
enum limits_output limits_output(const struct config *cfg, size_t pending, uint64_t now_ms,
                                 uint64_t *soft_since);
/* 1 when a client last heard from at last_ms is idle past -timeout at now_ms (never when
 * -timeout is 0, or when the client waits for something: busy). */
int limits_idle(const struct config *cfg, uint64_t last_ms, uint64_t now_ms, int busy);
/* 1 when `unparsed` bytes read and not yet run are over -query-buffer-limit. */
int limits_query(const struct config *cfg, size_t unparsed);
/* 1 when a client with `queued` requests in flight must stop being read (-max-inflight), and
 * whether a paused one may resume: at half of it. */
int limits_inflight_full(const struct config *cfg, uint32_t queued);
int limits_inflight_resume(const struct config *cfg, uint32_t queued);

#endif
