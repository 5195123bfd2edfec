/*
 * Node-wide administration through the proxy: the commands that change or reset every node of
 * the cluster, replicas included, so that a client sees one Redis. CONFIG SET is applied to every
 * node all-or-nothing (the old values are read first, and restored where the change went through
 * when another node refused it); CONFIG RESETSTAT and CONFIG REWRITE go to every node and answer
 * +OK only when every node did. Each is a request whose parts go to the nodes by address
 * (request.to), one phase after another.
 */
#ifndef PX_ADMIN_H
#define PX_ADMIN_H

#include "forward.h"
#include "request.h"
#include "resp_write.h"
#include "view.h"

struct admin_ctx {
    struct request_pool *rp;
    struct forward *fw;
    struct view *view;
    const struct config *cfg;
    /* CONFIG RESETSTAT: the proxy's own counters start again from zero (set by the worker). */
    void (*reset_stats)(void *up);
    void *up;
    struct sbuf out;
};

/* Prepares a; the pointers must outlive it. admin_deinit frees its scratch. */
void admin_init(struct admin_ctx *a, struct request_pool *rp, struct forward *fw, struct view *view,
                const struct config *cfg);
void admin_deinit(struct admin_ctx *a);

/* Runs r: CONFIG SET, CONFIG RESETSTAT or CONFIG REWRITE (r->cmd->local_id says which). r is
 * answered once every node has answered (or could not be reached). */
void admin_run(struct admin_ctx *a, struct request *r);

#endif
