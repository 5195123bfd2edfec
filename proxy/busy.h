/*
 * Scripts running on the nodes, as the proxy sees them: a script or function call sent and not
 * answered yet. A Redis server busy with a script longer than busy-reply-threshold (alias
 * lua-time-limit) answers nearly every command with -BUSY; through the proxy, the commands
 * routed to that node still get the node's own answer, and PING, which the proxy answers
 * itself, answers -BUSY too while any such call has been out longer than the threshold (5000 ms,
 * Redis's default, until CONFIG SET through the proxy changes it). One state per worker, in
 * atomics: each worker writes its own, any worker reads them all.
 */
#ifndef PX_BUSY_H
#define PX_BUSY_H

#include <stdint.h>

#define BUSY_MAX_WORKERS 256

/* busy-reply-threshold in milliseconds (negative values count as 0). Any thread. */
void busy_set_threshold(long long ms);
/* This thread is worker w (0 <= w < BUSY_MAX_WORKERS); others do not count calls. */
void busy_bind(int w);
/* A script call (function: FCALL or FCALL_RO) was sent at now_ms by this thread's worker. */
void busy_start(uint64_t now_ms, int function);
/* One of them was answered (or dropped with its client) at now_ms. The oldest call still out is
 * then counted from now_ms: a second call, sent while one ran, looks younger than it is. */
void busy_end(uint64_t now_ms);
/* 1 when a call has been out longer than the threshold at now_ms; *function (may be NULL) says
 * whether the oldest such one is a function. Any thread. */
int busy_now(uint64_t now_ms, int *function);

#endif
