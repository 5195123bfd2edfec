/*
 * The acceptor: runs on the main thread, accepts client connections and hands each to the worker
 * with the fewest sessions. It also owns the signal handling (signalfd): SIGINT and SIGTERM stop
 * the proxy, SIGHUP reopens the log and calls back whoever asked (acceptor_on_hup).
 */
#ifndef PX_ACCEPTOR_H
#define PX_ACCEPTOR_H

#include <stddef.h>

struct worker;
struct config;

struct acceptor;

/* Listens on cfg->addr. cfg and the workers array stay the caller's and must outlive the
 * acceptor. Returns NULL with a message in err when it cannot listen. */
struct acceptor *acceptor_create(const struct config *cfg, struct worker **workers, int nworkers,
                                 char *err, size_t errlen);
/* Also called on SIGHUP, after the log file is reopened (pool mode: reload the servers file). */
void acceptor_on_hup(struct acceptor *a, void (*fn)(void *ctx), void *ctx);
/* Accepts until SIGINT/SIGTERM (SIGHUP reopens the log file, calls the SIGHUP callback and
 * carries on). */
void acceptor_run(struct acceptor *a);
/* Stops listening and frees a; clients already handed out belong to their workers. NULL is ok. */
void acceptor_free(struct acceptor *a);

#endif
