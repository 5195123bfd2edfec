/*
 * Leveled logging; see log.h. Every thread logs, and nothing here takes a lock on the way: the
 * level and the descriptor are atomics, the thread's name is thread-local, and each line is
 * formatted on the stack and written with a single write(2) to a descriptor opened O_APPEND, so
 * concurrent lines land whole and in some order. The only lock serialises log_reopen() (SIGHUP,
 * from the acceptor), which swaps the file under the same descriptor number with dup2 so that
 * writers never need to know it happened.
 */
#include "log.h"

#include "clock.h"
#include "px_errors.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level_cur = LOG_INFO;
static _Atomic int log_fd = 2;
/* Set once by log_init, before other threads exist, and only read afterwards. */
static char *log_path;
static pthread_mutex_t log_reopen_lock = PTHREAD_MUTEX_INITIALIZER;
/* 15 characters and a NUL, the same limit as pthread_setname_np. */
static _Thread_local char log_thread[16] = "main";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_init(const char *path, enum log_level level)
{
    /* Relaxed: startup, before any other thread exists. */
    atomic_store_explicit(&log_level_cur, level, memory_order_relaxed);
    if (!path) return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    log_path = strdup(path);
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
    return 0;
}

int log_reopen(void)
{
    if (!log_path) return 0;
    pthread_mutex_lock(&log_reopen_lock);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        /* dup2 swaps the file under the same descriptor number atomically, so a writer in
         * another thread writes either to the old file or to the new one, never to a closed fd. */
        int cur = atomic_load_explicit(&log_fd, memory_order_relaxed);
        dup2(fd, cur);
        close(fd);
    }
    pthread_mutex_unlock(&log_reopen_lock);
    return rc;
}

void log_set_level(enum log_level level)
{
    /* Relaxed: the level is an independent flag; a reader seeing it a little late is fine. */
    atomic_store_explicit(&log_level_cur, level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    /* Relaxed: see log_set_level. */
    return (enum log_level)atomic_load_explicit(&log_level_cur, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return PX_EINVAL;
}

const char *log_level_name(enum log_level level)
{
    return (level >= LOG_DEBUG && level <= LOG_ERROR) ? level_names[level] : "?";
}

void log_set_thread_name(const char *name)
{
    snprintf(log_thread, sizeof(log_thread), "%s", name);
}

/* "2024-01-02 15:04:05.123 warn  [worker-3] message": local time to the millisecond, the level
 * padded to five, the thread's name. A message too long for the 2 KiB line is cut, never split. */
void log_write(enum log_level level, const char *fmt, ...)
{
    if (level < log_get_level()) return;
    char line[2048];
    uint64_t now = clock_wall_us();
    time_t secs = (time_t)(now / 1000000u);
    struct tm tm;
    localtime_r(&secs, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03u %-5s [%s] ",
                  (unsigned)((now / 1000u) % 1000u), level_names[level], log_thread);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* Relaxed: the descriptor number never changes after log_init; reopening swaps what it refers
     * to. */
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
}

/* last_ms 0 means never logged: the first message always passes. */
int log_ratelimit_ok(struct log_ratelimit *rl, uint64_t interval_ms)
{
    uint64_t now = clock_now_ms();
    if (rl->last_ms == 0 || now - rl->last_ms >= interval_ms) {
        rl->last_ms = now;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
