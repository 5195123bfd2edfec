/*
 * The proxy's slow log; see slowlog.h. Entries are kept newest first in a list under one mutex;
 * the threshold and the length are atomics read without it. Arguments are copied (cut Redis's
 * way) when an entry is made, so an entry outlives its request. Up to half the length again
 * of older entries may be kept past it, hidden, and dropped together (slowlog_add).
 */
#include "slowlog.h"

#include "errors.h"
#include "mem.h"
#include "resp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SLOWLOG_MAX_ARGC   32  /* SLOWLOG_ENTRY_MAX_ARGC */
#define SLOWLOG_MAX_STRING 128 /* SLOWLOG_ENTRY_MAX_STRING */

struct slow_entry {
    struct slow_entry *next;
    long long id, time, duration;
    uint32_t argc;
    char **argv;
    uint32_t *lens;
    char *addr, *name;
};

static atomic_llong threshold = 10000; /* Redis's defaults */
static atomic_llong max_len = 128;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slow_entry *head; /* newest first */
static long long len, next_id;

static void entry_free(struct slow_entry *e)
{
    for (uint32_t i = 0; i < e->argc; i++) px_free(e->argv[i]);
    px_free(e->argv);
    px_free(e->lens);
    px_free(e->addr);
    px_free(e->name);
    px_free(e);
}

/* Keeps the newest n entries (under the lock). */
static void trim(long long n)
{
    if (n < 0) n = 0;
    if (len <= n) return; /* the common case: nothing to walk */
    struct slow_entry **p = &head;
    for (long long i = 0; *p && i < n; i++) p = &(*p)->next;
    struct slow_entry *e = *p;
    *p = NULL;
    while (e) {
        struct slow_entry *next = e->next;
        entry_free(e);
        len--;
        e = next;
    }
}

void slowlog_set_threshold(long long us)
{
    atomic_store(&threshold, us);
}

long long slowlog_threshold(void)
{
    return atomic_load(&threshold);
}

void slowlog_set_max_len(long long n)
{
    atomic_store(&max_len, n);
    pthread_mutex_lock(&lock);
    trim(n);
    pthread_mutex_unlock(&lock);
}

int slowlog_wants(uint64_t us)
{
    long long t = atomic_load_explicit(&threshold, memory_order_relaxed);
    return t >= 0 && (long long)us >= t;
}

int slowlog_redacted(const struct request *r, uint32_t i)
{
    const char *name = r->cmd ? r->cmd->cmd->name : "";
    if (strcmp(name, "auth") == 0) return i >= 1;
    if (strcmp(name, "acl|setuser") == 0) return i >= 2;
    if (strcmp(name, "hello") == 0)
        return i >= 2 && (request_arg_is(r, i - 1, "auth") ||
                          (i >= 3 && request_arg_is(r, i - 2, "auth")));
    if (strcmp(name, "config|set") == 0)
        return i >= 3 && (i % 2) == 1 &&
               (request_arg_is(r, i - 1, "masterauth") || request_arg_is(r, i - 1, "masteruser") ||
                request_arg_is(r, i - 1, "requirepass"));
    if (strcmp(name, "migrate") == 0)
        return i >= 2 && (request_arg_is(r, i - 1, "auth") || request_arg_is(r, i - 1, "auth2") ||
                          (i >= 3 && request_arg_is(r, i - 2, "auth2")));
    return 0;
}

void slowlog_add(const struct request *r, uint64_t us, const char *addr, const char *name)
{
    if (!r->cmd || (r->cmd->cmd->flags & CMD_SKIP_SLOWLOG) || !slowlog_wants(us)) return;
    struct slow_entry *e = px_calloc(1, sizeof(*e));
    uint32_t argc = r->argc > SLOWLOG_MAX_ARGC ? SLOWLOG_MAX_ARGC : r->argc;
    e->argc = argc;
    e->argv = px_calloc(argc, sizeof(*e->argv));
    e->lens = px_calloc(argc, sizeof(*e->lens));
    for (uint32_t j = 0; j < argc; j++) {
        char buf[160];
        const char *p = request_arg(r, j);
        size_t n = r->argv[j].len;
        if (argc != r->argc && j == argc - 1) {
            n = (size_t)snprintf(buf, sizeof(buf), "... (%u more arguments)", r->argc - argc + 1);
            p = buf;
        } else if (slowlog_redacted(r, j)) {
            p = "(redacted)";
            n = 10;
        } else if (n > SLOWLOG_MAX_STRING) {
            int k = snprintf(buf + SLOWLOG_MAX_STRING, sizeof(buf) - SLOWLOG_MAX_STRING,
                             "... (%zu more bytes)", n - SLOWLOG_MAX_STRING);
            memcpy(buf, p, SLOWLOG_MAX_STRING);
            p = buf;
            n = SLOWLOG_MAX_STRING + (size_t)k;
        }
        e->argv[j] = px_malloc(n ? n : 1);
        memcpy(e->argv[j], p, n);
        e->lens[j] = (uint32_t)n;
    }
    e->addr = px_strdup(addr ? addr : "");
    e->name = px_strdup(name ? name : "");
    e->time = (long long)time(NULL);
    e->duration = (long long)us;
    pthread_mutex_lock(&lock);
    e->id = next_id++;
    e->next = head;
    head = e;
    len++;
    /* Up to half as many again are kept hidden (never listed or counted), so that the oldest go
     * in one walk now and then, not one walk of the whole list per entry when every request of a
     * deep pipeline is slow. */
    long long keep = atomic_load(&max_len);
    if (len > keep + keep / 2 + 16) trim(keep);
    pthread_mutex_unlock(&lock);
}

/* The entries SLOWLOG shows (under the lock): the newest slowlog-max-len of those kept. */
static long long shown(void)
{
    long long keep = atomic_load(&max_len);
    return len < keep ? len : keep;
}

void slowlog_command(const struct request *r, int resp, struct sbuf *out)
{
    (void)resp;
    if (request_arg_is(r, 1, "reset") && r->argc == 2) {
        pthread_mutex_lock(&lock);
        trim(0);
        pthread_mutex_unlock(&lock);
        resp_write_simple(out, "OK");
        return;
    }
    if (request_arg_is(r, 1, "len") && r->argc == 2) {
        pthread_mutex_lock(&lock);
        long long n = shown();
        pthread_mutex_unlock(&lock);
        resp_write_int(out, n);
        return;
    }
    if (!request_arg_is(r, 1, "get") || r->argc > 3) {
        /* Routing checked the arity: SLOWLOG GET with too many arguments, or LEN/RESET with any,
         * in Redis's words (the subcommand as the client spelled it). */
        errors_subcommand_syntax(out, "SLOWLOG", 7, request_arg(r, 1), r->argv[1].len);
        return;
    }
    long long count = 10;
    if (r->argc == 3 && (!resp_str2ll(request_arg(r, 2), r->argv[2].len, &count) || count < -1)) {
        errors_slowlog_count(out);
        return;
    }
    pthread_mutex_lock(&lock);
    long long have = shown();
    if (count == -1) count = have;
    long long sent = count < have ? count : have;
    resp_write_array_len(out, sent);
    struct slow_entry *e = head;
    for (long long i = 0; i < sent && e; i++, e = e->next) {
        resp_write_array_len(out, 6);
        resp_write_int(out, e->id);
        resp_write_int(out, e->time);
        resp_write_int(out, e->duration);
        resp_write_array_len(out, e->argc);
        for (uint32_t j = 0; j < e->argc; j++) resp_write_bulk(out, e->argv[j], e->lens[j]);
        resp_write_bulk(out, e->addr, strlen(e->addr));
        resp_write_bulk(out, e->name, strlen(e->name));
    }
    pthread_mutex_unlock(&lock);
}
