/*
 * INFO: Redis's sections answered for the proxy as a whole (server, clients, memory, stats,
 * replication, cpu, commandstats, cluster), the keyspace summed over the masters (asked with
 * INFO keyspace), and a "# Proxy" section of the proxy's own figures. Counters are summed over
 * all workers (relaxed reads of their single-writer counters).
 */
#ifndef PX_INFO_H
#define PX_INFO_H

#include "resp_write.h"

struct worker;
struct request;
struct topology;

/* Once at startup: the start time and the topology (for the proxy section). */
void info_init(struct topology *topo);
void info_dispatch(struct worker *w, struct request *r);
/* Builds the reply of r (a FAN_INFO fan-out whose parts, if any, are the masters' keyspace). */
void info_merge(struct worker *w, struct request *r, struct sbuf *out);

#endif
