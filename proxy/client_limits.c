/*
 * The client limits' decisions; see client_limits.h. Each follows what Redis does with the limit
 * of the same name: the output limit counts what the client has not read yet, the soft limit only
 * after it has been exceeded continuously for its seconds, and a 0 turns the output limits and
 * the idle timeout off (not -query-buffer-limit, which config.c keeps at 1mb or more, as Redis
 * does its client-query-buffer-limit).
 */
#include "client_limits.h"

enum limits_output limits_output(const struct config *cfg, size_t pending, uint64_t now_ms,
                                 uint64_t *soft_since)
{
    if (cfg->cobl_hard > 0 && pending > cfg->cobl_hard) return LIMITS_OUTPUT_HARD;
    if (cfg->cobl_soft == 0 || cfg->cobl_soft_s == 0 || pending <= cfg->cobl_soft) {
        *soft_since = 0;
        return LIMITS_OUTPUT_OK;
    }
    if (*soft_since == 0) {
        *soft_since = now_ms; /* over it from now on: the clock starts */
        return LIMITS_OUTPUT_OK;
    }
    return now_ms - *soft_since >= (uint64_t)cfg->cobl_soft_s * 1000 ? LIMITS_OUTPUT_SOFT
                                                                     : LIMITS_OUTPUT_OK;
}

/* busy: Redis does not time out blocked or subscribed clients; the proxy also spares a client
 * waiting for a node's reply, which is not idle by its own choice. */
int limits_idle(const struct config *cfg, uint64_t last_ms, uint64_t now_ms, int busy)
{
    return cfg->timeout_s > 0 && !busy && now_ms - last_ms > (uint64_t)cfg->timeout_s * 1000;
}

int limits_query(const struct config *cfg, size_t unparsed)
{
    return unparsed > cfg->query_buf_limit;
}

int limits_inflight_full(const struct config *cfg, uint32_t queued)
{
    return queued >= (uint32_t)cfg->max_inflight;
}

/* At half, not just under the limit: a pipelining client is not paused and resumed on every
 * request (-max-inflight is at least 2, so half is at least 1). */
int limits_inflight_resume(const struct config *cfg, uint32_t queued)
{
    return queued <= (uint32_t)cfg->max_inflight / 2;
}
