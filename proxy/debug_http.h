/*
 * The debug port (-debug-addr): a small HTTP/1.1 server (libmicrohttpd) on threads of its own,
 * one per connection, so a CPU profile that takes N seconds holds up nobody else. It serves
 * /healthz, /readyz, /metrics (Prometheus), /debug/vars, /debug/slots, /debug/backends,
 * /debug/clients, /debug/loglevel (GET shows, PUT/POST ?level= changes), /debug/pprof/profile
 * (gperftools CPU profile) and /debug/pprof/heap (jemalloc heap profile). It reads only counters
 * and snapshots the workers make for it; it cannot stall or crash the proxy.
 */
#ifndef PX_DEBUG_HTTP_H
#define PX_DEBUG_HTTP_H

#include "metrics.h"

#include <stddef.h>

struct debug_http;

/* Listens on addr (host:port, IPv4) and serves from its own threads. *m is copied; what it points
 * to must outlive the port. Returns NULL with the reason in err. */
struct debug_http *debug_http_start(const char *addr, const struct metrics_ctx *m, char *err,
                                    size_t errlen);
/* Stops serving, waits for the connection threads, and frees d. NULL is ok. */
void debug_http_stop(struct debug_http *d);

#endif
