/*
 * MONITOR for the proxy's clients: the clients in monitor mode, over every worker, and the line
 * each receives for every command the proxy runs (Redis's format: "+<unix time> [0 <client
 * address>] "arg" ..."). The proxy sees the commands its clients send; the commands a script or
 * a function runs on a node come from the nodes' own streams (monfeed.h). The registry is under a
 * mutex; whether anyone monitors at all is one atomic read, so commands cost nothing while nobody
 * does.
 */
#ifndef PX_MONITOR_H
#define PX_MONITOR_H

#include "request.h"
#include "resp_write.h"

#include <stdint.h>

/* Client id, served by worker, enters (monitor_add) or leaves (monitor_del) monitor mode. Any
 * thread. */
void monitor_add(uint64_t id, int worker);
void monitor_del(uint64_t id);
/* 1 when some client monitors. Any thread; cheap. */
int monitor_active(void);
/* 1 when r's command is shown to monitors (not flagged skip-monitor or admin, as in Redis). */
int monitor_shows(const struct request *r);
/* Appends the monitor line for r from the client at addr to out. */
void monitor_line(struct sbuf *out, const struct request *r, const char *addr);
/* Calls fn(id, worker, arg) for each client monitoring when it is called (from a copy of the
 * registry: fn may add or remove monitors). Any thread. */
void monitor_each(void (*fn)(uint64_t id, int worker, void *arg), void *arg);

#endif
