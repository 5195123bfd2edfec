/*
 * CLIENT PAUSE's state; see pause.h. The end time and the mode are two atomics: a worker reading
 * them between the two stores of pause_start sees an old end with the new mode or the reverse,
 * which only shifts that one check by a turn.
 */
#include "pause.h"

#include "mem.h"

#include <stdatomic.h>
#include <string.h>

static atomic_uint_fast64_t pause_end;
static atomic_int pause_mode_now;

void pause_start(uint64_t end_ms, enum pause_mode mode)
{
    atomic_store(&pause_end, end_ms);
    atomic_store(&pause_mode_now, (int)mode);
}

void pause_stop(void)
{
    atomic_store(&pause_mode_now, PAUSE_OFF);
    atomic_store(&pause_end, 0);
}

enum pause_mode pause_current(uint64_t now_ms, uint64_t *end_ms)
{
    int m = atomic_load_explicit(&pause_mode_now, memory_order_relaxed);
    if (m == PAUSE_OFF) return PAUSE_OFF;
    uint64_t end = atomic_load_explicit(&pause_end, memory_order_relaxed);
    if (now_ms >= end) return PAUSE_OFF;
    if (end_ms) *end_ms = end;
    return (enum pause_mode)m;
}

/* A script body's shebang ("#!lua flags=a,b") declares no-writes: it neither writes nor
 * replicates. A body without a shebang may do both. */
static int script_no_writes(const char *body, size_t len)
{
    if (len < 2 || body[0] != '#' || body[1] != '!') return 0;
    const char *nl = memchr(body, '\n', len);
    size_t l = nl ? (size_t)(nl - body) : len;
    const char *f = memmem(body, l, "flags=", 6);
    if (!f) return 0;
    f += 6;
    size_t rest = l - (size_t)(f - body);
    /* The flags end at the first space; each is separated by a comma. */
    const char *end = memchr(f, ' ', rest);
    size_t fl = end ? (size_t)(end - f) : rest;
    for (size_t i = 0; i + 9 <= fl; i++)
        if (memcmp(f + i, "no-writes", 9) == 0 && (i == 0 || f[i - 1] == ',') &&
            (i + 9 == fl || f[i + 9] == ','))
            return 1;
    return 0;
}

int pause_is_write(const struct request *r, struct script_local *scripts, int tx_writes)
{
    const struct command *cmd = r->cmd->cmd;
    const char *name = cmd->name;
    if (r->cmd->local_id == LOCAL_EXEC) return tx_writes;
    if (!(cmd->flags & (CMD_WRITE | CMD_MAY_REPLICATE))) return 0;
    if (strcmp(name, "eval") == 0 && r->argc >= 2)
        return !script_no_writes(request_arg(r, 1), r->argv[1].len);
    if (strcmp(name, "evalsha") == 0 && r->argc >= 2 && r->argv[1].len == 40 && scripts) {
        size_t blen;
        char *body = scripts_lookup(scripts, request_arg(r, 1), &blen);
        if (!body) return 1;
        int nw = script_no_writes(body, blen);
        px_free(body);
        return !nw;
    }
    return 1;
}
