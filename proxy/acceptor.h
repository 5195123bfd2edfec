/*
 * The acceptor: runs on the main thread, accepts client connections and hands each to the worker
 * with the fewest sessions. It also owns the signal handling (signalfd): SIGINT and SIGTERM stop
 * the proxy.
 */
#ifndef PX_ACCEPTOR_H
#define PX_ACCEPTOR_H

#include <stddef.h>

struct worker;
struct config;

struct acceptor;

/* Listens on cfg->addr. Returns NULL with a message in err when it cannot. */
struct acceptor *acceptor_create(const struct config *cfg, struct worker **workers, int nworkers,
                                 char *err, size_t errlen);
/* Accepts until SIGINT/SIGTERM. */
void acceptor_run(struct acceptor *a);
void acceptor_free(struct acceptor *a);

#endif
