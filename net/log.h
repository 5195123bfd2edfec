/*
 * Leveled logging. Each line carries a wall-clock timestamp, the level and the name of the thread
 * that wrote it. The level can be changed from any thread at any time; the sink is stderr or a
 * file that log_reopen() can reopen (for logrotate). Lines are written with one write(2) each, so
 * lines from different threads never interleave.
 */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Opens the sink: path NULL means stderr. Returns 0 or -errno. Call once before threads start. */
int log_init(const char *path, enum log_level level);
/* Reopens the log file (no-op on stderr). Returns 0 or -errno; on failure the old file stays. */
int log_reopen(void);
/* Changes the level from any thread; lines written afterwards follow it. */
void log_set_level(enum log_level level);
/* The current level, from any thread; log_debug() checks it before formatting anything. */
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn" ("warning") or "error". Returns 0 or PX_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* "debug", "info", "warn" or "error" (a static string); "?" for a value outside the enum. */
const char *log_level_name(enum log_level level);
/* Names the calling thread in log lines (at most 15 characters are kept). */
void log_set_thread_name(const char *name);

/* Writes one line when level is at or above the current level. Cannot fail: a line that cannot be
 * written (a full disk) is lost. Lines longer than about 2 KiB are cut. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Rate limiter for repeated messages: returns 1 when a message may be logged now, at most once
 * per interval_ms per limiter, and counts the suppressed ones in *suppressed. Not thread-safe;
 * give each thread its own limiter.
 */
struct log_ratelimit {
    uint64_t last_ms;
    uint64_t suppressed;
};
int log_ratelimit_ok(struct log_ratelimit *rl, uint64_t interval_ms);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() <= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__);                       \
    } while (0)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
