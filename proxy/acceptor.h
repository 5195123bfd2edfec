/*
 * The acceptor: runs on the main thread, accepts client connections (plain text and TLS) and
 * hands each to a worker (worker_pick). It also owns the signal handling (signalfd):
 * SIGINT and SIGTERM stop the proxy; SIGHUP reopens the log, reloads the TLS certificates and
 * calls back whoever asked (acceptor_on_hup).
 */
#ifndef PX_ACCEPTOR_H
#define PX_ACCEPTOR_H

#include <stddef.h>

struct worker;
struct config;
struct tls_ctx;

struct acceptor;

/* Listens on cfg->addr (unless its port is 0) and on -tls-port. cfg, the workers array and the
 * TLS contexts (reloaded on SIGHUP; NULL when unused) stay the caller's and must outlive the
 * acceptor. Returns NULL with a message in err when it cannot listen. */
struct acceptor *acceptor_create(const struct config *cfg, struct worker **workers, int nworkers,
                                 struct tls_ctx *tls_clients, struct tls_ctx *tls_nodes, char *err,
                                 size_t errlen);
/* Also called on SIGHUP, after the log file is reopened and the TLS certificates reloaded (pool
 * mode: reload the servers file). */
void acceptor_on_hup(struct acceptor *a, void (*fn)(void *ctx), void *ctx);
/* Accepts until SIGINT/SIGTERM (SIGHUP reopens the log file, reloads the TLS certificates, calls
 * the SIGHUP callback and carries on). */
void acceptor_run(struct acceptor *a);
/* Stops listening and frees a; clients already handed out belong to their workers. NULL is ok. */
void acceptor_free(struct acceptor *a);

#endif
