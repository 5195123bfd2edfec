/*
 * The proxy's slow log: what SLOWLOG GET/LEN/RESET answer. Like Redis's, it keeps the commands
 * this server took longer than slowlog-log-slower-than microseconds to answer (here: from the
 * moment the request was read to the moment its reply was ready, the trip to the node included),
 * at most slowlog-max-len of them, newest first, each with an id, the time, the duration, the
 * arguments (at most 32, each cut at 128 bytes, Redis's way), the client's address and name.
 * CONFIG SET of those two parameters reaches it (admin.c) as well as the nodes. One log for the
 * process, under a mutex: only commands slower than the threshold take it.
 */
#ifndef PX_SLOWLOG_H
#define PX_SLOWLOG_H

#include "request.h"
#include "resp_write.h"

#include <stdint.h>

/* slowlog-log-slower-than (microseconds; -1: log nothing) and slowlog-max-len. Any thread. */
void slowlog_set_threshold(long long us);
void slowlog_set_max_len(long long n);
long long slowlog_threshold(void);

/* 1 when a command that took us microseconds is to be logged. Cheap; any thread. */
int slowlog_wants(uint64_t us);
/* Logs r (its command and arguments), which took us microseconds, for the client at addr with
 * name (NULL: none). Any thread. */
void slowlog_add(const struct request *r, uint64_t us, const char *addr, const char *name);

/* 1 when argument i of r is one Redis writes as "(redacted)" in the slow log and MONITOR
 * (passwords, ACL rules). */
int slowlog_redacted(const struct request *r, uint32_t i);

/* SLOWLOG GET [count] / LEN / RESET (routing checked their arity): Redis's reply (or error) to
 * out, in protocol resp. */
void slowlog_command(const struct request *r, int resp, struct sbuf *out);

#endif
