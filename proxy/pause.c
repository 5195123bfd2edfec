/*
 * CLIENT PAUSE's state; see pause.h. The end time and the mode are two atomics: a worker reading
 * them between the two stores of pause_start sees an old end with the new mode or the reverse,
 * which only shifts that one check by a turn.
 */
#include "pause.h"

#include "mem.h"
#include "strset.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static atomic_uint_fast64_t pause_end;
static atomic_int pause_mode_now;

/* Serialises the read-modify-write of pause_start and pause_stop; readers take no lock. */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

void pause_start(uint64_t now_ms, uint64_t end_ms, enum pause_mode mode)
{
    pthread_mutex_lock(&start_lock);
    uint64_t old_end = 0;
    enum pause_mode old = pause_current(now_ms, &old_end);
    if (old != PAUSE_OFF) {
        if (old_end > end_ms) end_ms = old_end;
        if (old > mode) mode = old; /* PAUSE_ALL > PAUSE_WRITE */
    }
    if (end_ms > now_ms) {
        atomic_store(&pause_end, end_ms);
        atomic_store(&pause_mode_now, (int)mode);
    }
    pthread_mutex_unlock(&start_lock);
}

void pause_stop(void)
{
    pthread_mutex_lock(&start_lock);
    atomic_store(&pause_mode_now, PAUSE_OFF);
    atomic_store(&pause_end, 0);
    pthread_mutex_unlock(&start_lock);
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

/* ---- functions declared no-writes ---- */

/* The names of the functions that FUNCTION LOAD bodies sent through the proxy register with the
 * no-writes flag. A function not in the set counts as one that writes (held by a WRITE pause),
 * which is never wrong for safety: a function loaded some other way waits with the writes. */
static pthread_mutex_t ro_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strset ro_functions;
static int ro_ready;

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p)) p++;
    return p;
}

/* The end of the Lua table starting at p ('{'), quoted strings skipped; NULL when unbalanced. */
static const char *table_end(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            for (p++; p < end && *p != q; p++)
                if (*p == '\\') p++;
            continue;
        }
        if (*p == '{') depth++;
        if (*p == '}' && --depth == 0) return p;
    }
    return NULL;
}

/* In the table [p, end): the value of field `name = '...'` (a quoted string). */
static int field_string(const char *p, const char *end, const char *name, const char **v,
                        size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *f = p; (f = memmem(f, (size_t)(end - f), name, nl)) != NULL; f += nl) {
        const char *q = skip_space(f + nl, end);
        if (q >= end || *q != '=') continue;
        q = skip_space(q + 1, end);
        if (q >= end || (*q != '\'' && *q != '"')) continue;
        const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));
        if (!close) return 0;
        *v = q + 1;
        *vlen = (size_t)(close - q - 1);
        return 1;
    }
    return 0;
}

/* In the table [p, end): whether field flags = {...} holds 'no-writes'. */
static int flags_no_writes(const char *p, const char *end)
{
    for (const char *f = p; (f = memmem(f, (size_t)(end - f), "flags", 5)) != NULL; f += 5) {
        const char *q = skip_space(f + 5, end);
        if (q >= end || *q != '=') continue;
        q = skip_space(q + 1, end);
        if (q >= end || *q != '{') continue;
        const char *close = table_end(q, end);
        if (!close) return 0;
        return memmem(q, (size_t)(close - q), "'no-writes'", 11) != NULL ||
               memmem(q, (size_t)(close - q), "\"no-writes\"", 11) != NULL;
    }
    return 0;
}

void pause_note_functions(const char *body, size_t len)
{
    const char *end = body + len;
    pthread_mutex_lock(&ro_lock);
    if (!ro_ready) {
        strset_init(&ro_functions);
        ro_ready = 1;
    }
    static const char reg[] = "register_function";
    for (const char *p = body; (p = memmem(p, (size_t)(end - p), reg, sizeof(reg) - 1)) != NULL;) {
        p += sizeof(reg) - 1;
        /* Only the table form, register_function{...} or ({...}), can carry flags. */
        const char *q = skip_space(p, end);
        if (q < end && *q == '(') q = skip_space(q + 1, end);
        if (q >= end || *q != '{') continue;
        const char *close = table_end(q, end);
        if (!close) break;
        const char *name;
        size_t nlen;
        if (field_string(q, close, "function_name", &name, &nlen)) {
            if (flags_no_writes(q, close))
                strset_add(&ro_functions, name, nlen, 1);
            else
                strset_del(&ro_functions, name, nlen);
        }
        p = close;
    }
    pthread_mutex_unlock(&ro_lock);
}

void pause_forget_functions(void)
{
    pthread_mutex_lock(&ro_lock);
    if (ro_ready) {
        strset_free(&ro_functions);
        strset_init(&ro_functions);
    }
    pthread_mutex_unlock(&ro_lock);
}

static int function_no_writes(const char *name, size_t len)
{
    pthread_mutex_lock(&ro_lock);
    int ro = ro_ready && strset_get(&ro_functions, name, len) != NULL;
    pthread_mutex_unlock(&ro_lock);
    return ro;
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
    if (strcmp(name, "fcall") == 0 && r->argc >= 2)
        return !function_no_writes(request_arg(r, 1), r->argv[1].len);
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
