/*
 * The HTTP/JSON front (-http-addr): Redis commands over HTTP, for languages without a good Redis
 * client, as redis-router serves them. `POST /` with form fields command and arguments
 * (comma-separated), or a JSON body {"command": ..., "arguments": [...]}, answers
 * {"response": ...} or {"error": ...} (httpjson.h has the mapping and the statuses).
 *
 * It is a front, not a second proxy: libmicrohttpd's threads (one per connection) read and check
 * a request (protected mode, HTTP Basic auth against -requirepass, the body limit), turn it into
 * RESP bytes and hand it to a worker as an internal client's request (inner.h, worker_call); the
 * worker runs it through the same routing and executors as any connection's, and the connection's
 * thread waits for the reply (at most -http-timeout) and writes it as JSON.
 */
#ifndef PX_HTTP_H
#define PX_HTTP_H

#include "config.h"
#include "stats.h"

#include <stddef.h>
#include <stdint.h>

struct http_front;
struct worker;

/* Listens on cfg->http_addr (IPv4; an empty host is 127.0.0.1) and serves from threads of its
 * own, handing commands to the n workers. The pointers must outlive the front; stats is counted
 * from its threads. Returns NULL with the reason in err. */
struct http_front *http_start(const struct config *cfg, struct worker **workers, int n,
                              struct http_stats *stats, char *err, size_t errlen);
/* Graceful shutdown: new requests get 503 from now on. NULL is ok. */
void http_quiesce(struct http_front *h);
/* Waits up to timeout_ms for the requests in flight to be answered. NULL is ok. */
void http_drain(struct http_front *h, uint64_t timeout_ms);
/* Stops serving (requests still waiting give up with 503), joins the threads and frees h. Before
 * the workers stop. NULL is ok. */
void http_stop(struct http_front *h);

#endif
