/*
 * The nodes' own MONITOR streams, for the one thing the proxy cannot see itself: the commands a
 * script or a function runs on a node. While a client served by this worker is in monitor mode
 * (monitor.h), the worker keeps one connection per master in monitor mode and passes on to its
 * monitoring clients the lines a node marks as run by Lua ("+<time> [0 lua] "set" ..."), as the
 * node wrote them. Every other line is a command some client sent, which the proxy showed its
 * monitors when it dispatched it (or which came from outside the proxy), so it is dropped.
 *
 * MONITOR is answered once every master's stream is on, so that a script run right after the
 * reply is seen; a master that does not confirm within MONFEED_WAIT_MS does not hold it longer
 * (its lines start whenever its stream does). Masters that join are followed at the next check;
 * the streams close when the worker's last monitoring client leaves. Only masters: a script run
 * on a replica (EVAL_RO with -read-prefer) is not shown.
 */
#ifndef PX_MONFEED_H
#define PX_MONFEED_H

#include "loop.h"
#include "private.h"
#include "request.h"
#include "view.h"

#include <stdint.h>

#define MONFEED_WAIT_MS 1000

struct monfeed_conn;

struct monfeed {
    struct loop *loop;
    struct priv_pool *priv;
    struct view *view;
    struct request_pool *rp;
    int worker;
    /* Delivers bytes to client id served by worker (this worker, here). */
    void (*deliver)(void *up, int worker, uint64_t id, const char *bytes, size_t len);
    void *deliver_up;
    struct monfeed_conn **conns;
    int nconns;
    struct request *waiting; /* MONITOR commands owed their +OK (linked by hnext) */
    struct loop_timer timer; /* answers them after MONFEED_WAIT_MS; checks the masters */
};

/* Prepares mf (the pointers must outlive it); deliver and deliver_up are set by the caller. */
void monfeed_init(struct monfeed *mf, struct loop *loop, struct priv_pool *priv, struct view *view,
                  struct request_pool *rp, int worker);
/* Closes the streams and answers (or frees) the MONITOR commands still waiting. */
void monfeed_deinit(struct monfeed *mf);
/* r is a MONITOR whose client has just entered monitor mode: starts the streams this worker does
 * not have yet and answers r +OK once they are on (at once when they are). */
void monfeed_monitor(struct monfeed *mf, struct request *r);
/* A check (the worker's cron, and after a new slot map): streams for masters that joined, none
 * for those gone, none at all once no client of this worker monitors. */
void monfeed_check(struct monfeed *mf);

#endif
