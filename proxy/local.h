/*
 * Commands the proxy answers itself: connection state (AUTH, HELLO, SELECT, CLIENT ..., RESET,
 * READONLY/READWRITE), the CLUSTER commands of a one-node cluster at the proxy's address, and a
 * few that need no node (PING, ECHO, TIME, QUIT, ROLE). Texts and validation follow what a Redis
 * 7.0 cluster node answers.
 */
#ifndef PX_LOCAL_H
#define PX_LOCAL_H

#include "acl_store.h"
#include "config.h"
#include "forward.h"
#include "monfeed.h"
#include "tracking.h"
#include "request.h"
#include "resp_write.h"
#include "view.h"

/* What the commands answered here need: the configuration (passwords), the view (CLUSTER INFO),
 * where to send the CLUSTER commands that a slot's master answers, and two questions only the
 * layers above can answer (up is their argument). */
struct local_ctx {
    const struct config *cfg;
    struct request_pool *rp;
    struct view *view;
    struct forward *fw;
    struct tracking_ctx *trk; /* CLIENT TRACKING and friends (set by the worker) */
    struct monfeed *monfeed;  /* MONITOR's streams from the nodes (set by the worker; may be NULL) */
    int worker;               /* this worker's index (MONITOR's registry) */
    struct acl_local *acl;    /* the worker's users (AUTH, HELLO AUTH, RESET; set by the worker) */
    struct worker_stats *stats; /* failed AUTHs are counted (set by the worker) */
    struct sbuf out;
    /* CLIENT INFO: appends the client's line, as CLIENT LIST writes it, to out. */
    void (*describe)(void *up, struct client *c, struct sbuf *out);
    /* CLIENT LIST [TYPE t] [ID id ...], and CLIENT KILL: answers r over every worker's clients. */
    void (*client_list)(void *up, struct request *r);
    void *up;
};

/* Once at startup, before any worker runs: the proxy's node id for the CLUSTER commands. */
void local_init(void);
/* The proxy's 40-character node id. */
const char *local_node_id(void);

/* Prepares lc (the pointers must outlive it); describe, client_list and up are set by the
 * caller. */
void local_ctx_init(struct local_ctx *lc, const struct config *cfg, struct request_pool *rp,
                    struct view *view, struct forward *fw);
void local_ctx_deinit(struct local_ctx *lc);
/* Authenticates c as user with pass, as AUTH user pass would (the ACL users; a failure is
 * logged in the ACL LOG and counted). Returns 0, or -1 with the WRONGPASS error in err. */
int local_auth(struct local_ctx *lc, struct client *c, const char *user, size_t ulen,
               const char *pass, size_t plen, struct sbuf *err);
/* Answers r, whose command the table routes to the proxy (RT_LOCAL). */
void local_run(struct local_ctx *lc, struct request *r);

#endif
