/*
 * MONITOR's registry and line format; see monitor.h.
 */
#include "monitor.h"

#include "mem.h"
#include "slowlog.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

struct mon {
    uint64_t id;
    int worker;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mon *mons;
static int nmons;
static atomic_int active;

void monitor_add(uint64_t id, int worker)
{
    pthread_mutex_lock(&lock);
    int have = 0;
    for (int i = 0; i < nmons; i++) have |= mons[i].id == id;
    if (!have) {
        mons = px_realloc(mons, (size_t)(nmons + 1) * sizeof(*mons));
        mons[nmons].id = id;
        mons[nmons++].worker = worker;
    }
    atomic_store(&active, nmons);
    pthread_mutex_unlock(&lock);
}

void monitor_del(uint64_t id)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nmons; i++) {
        if (mons[i].id != id) continue;
        mons[i] = mons[--nmons];
        break;
    }
    atomic_store(&active, nmons);
    pthread_mutex_unlock(&lock);
}

int monitor_active(void)
{
    return atomic_load_explicit(&active, memory_order_relaxed) > 0;
}

int monitor_shows(const struct request *r)
{
    if (!r->cmd) return 0;
    const struct command *cmd = r->cmd->cmd;
    if (!(cmd->flags & (CMD_SKIP_MONITOR | CMD_ADMIN))) return 1;
    /* Scripts and functions are flagged skip-monitor, yet Redis shows each call itself, ahead of
     * the commands it runs (eval.c, functions.c). */
    return strncmp(cmd->name, "eval", 4) == 0 || strncmp(cmd->name, "fcall", 5) == 0;
}

/* sdscatrepr: the bytes quoted, with Redis's escapes. */
static void repr(struct sbuf *out, const char *p, size_t len)
{
    sbuf_put(out, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        switch (ch) {
        case '\\': sbuf_puts(out, "\\\\"); break;
        case '"': sbuf_puts(out, "\\\""); break;
        case '\n': sbuf_puts(out, "\\n"); break;
        case '\r': sbuf_puts(out, "\\r"); break;
        case '\t': sbuf_puts(out, "\\t"); break;
        case '\a': sbuf_puts(out, "\\a"); break;
        case '\b': sbuf_puts(out, "\\b"); break;
        default:
            if (isprint(ch))
                sbuf_put(out, (const char *)&ch, 1);
            else
                sbuf_printf(out, "\\x%02x", ch);
            break;
        }
    }
    sbuf_put(out, "\"", 1);
}

void monitor_line(struct sbuf *out, const struct request *r, const char *addr)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    sbuf_printf(out, "+%ld.%06ld [0 %s]", (long)tv.tv_sec, (long)tv.tv_usec, addr);
    for (uint32_t j = 0; j < r->argc; j++) {
        sbuf_put(out, " ", 1);
        if (slowlog_redacted(r, j))
            repr(out, "(redacted)", 10);
        else
            repr(out, request_arg(r, j), r->argv[j].len);
    }
    sbuf_puts(out, "\r\n");
}

void monitor_each(void (*fn)(uint64_t id, int worker, void *arg), void *arg)
{
    /* A copy taken under the lock, called without it: fn may close a monitor (its output over
     * the limit), which takes the lock to leave the registry. */
    struct mon few[16], *v = few;
    pthread_mutex_lock(&lock);
    int n = nmons;
    if (n > (int)(sizeof(few) / sizeof(few[0]))) v = px_malloc((size_t)n * sizeof(*v));
    if (n) memcpy(v, mons, (size_t)n * sizeof(*v));
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) fn(v[i].id, v[i].worker, arg);
    if (v != few) px_free(v);
}
