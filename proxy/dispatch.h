/*
 * The dispatcher: the step between a parsed request and the executor that serves it. It asks
 * routing (route.h) where the request goes, given its client's state, and hands it to that
 * executor: an error reply, an answer of the proxy's own (local.c, info.c, scan.c, pubsub.c), the
 * transaction logic (txn.c), a fan-out (fanout.c) or a single node (forward.c). It also does the
 * little routing asks of every request: remembering script bodies, marking blocking commands,
 * and for a tracking client, remembering the keys it reads (tracking.c), and in pool mode with
 * -hash-tag-strip, renaming the keys to the names they are stored under. Before any of that, the
 * client's ACL user must be allowed the command, its keys and its channels (acl.h): a refusal is
 * Redis's -NOPERM, an ACL LOG entry and a count.
 */
#ifndef PX_DISPATCH_H
#define PX_DISPATCH_H

#include "acl_store.h"
#include "aclcmd.h"
#include "admin.h"
#include "crossslot.h"
#include "fanout.h"
#include "forward.h"
#include "info.h"
#include "keys.h"
#include "local.h"
#include "merge.h"
#include "pubsub.h"
#include "request.h"
#include "scripts.h"
#include "tracking.h"
#include "txn.h"

/* A worker's executors, as the dispatcher reaches them. */
struct dispatch {
    struct request_pool *rp;
    struct keys_result *keys; /* scratch for routing */
    struct script_local *scripts;
    struct merge_env *menv;
    struct forward *fw;
    struct fanout_ctx *fc;
    struct txn_ctx *txn;
    struct pubsub_ctx *ps;
    struct local_ctx *local;
    struct info_ctx *info;
    struct tracking_ctx *trk;
    /* MONITOR: delivers bytes to client id, served by worker (this one or another). */
    void (*deliver)(void *up, int worker, uint64_t id, const char *bytes, size_t len);
    void *deliver_up;
    struct sbuf mon; /* the monitor line of the request being dispatched */
    struct admin_ctx *admin;
    struct aclcmd_ctx *aclcmd;
    struct acl_local *acl;       /* the worker's users */
    struct worker_stats *stats;  /* blocked_clients, ACL denials */
    struct keys_result acl_keys; /* scratch for the ACL key checks (keys holds routing's) */
    /* CLIENT LIST's line for a client (ACL LOG's client-info); up is describe_up. */
    void (*describe)(void *up, struct client *c, struct sbuf *out);
    void *describe_up;
    struct cross_ctx *cross;
    int cross_compute;           /* -cross-slot compute */
    uint32_t rng;                /* pool mode: the random distribution's picks (xorshift32) */
    struct sbuf out;             /* error replies */
};

/* Prepares d; the caller fills the executor pointers, which must outlive it. dispatch_deinit
 * frees d's scratch only. */
void dispatch_init(struct dispatch *d);
void dispatch_deinit(struct dispatch *d);

/* Routes r (freshly parsed, with its client) and hands it to its executor. r may be answered,
 * and freed, before this returns: the caller must not touch it afterwards. */
void dispatch_request(struct dispatch *d, struct request *r);
/* r, whose script the cache remembered when it was sent (REQ_F_SCRIPT_NOTED: EVAL, EVAL_RO,
 * SCRIPT LOAD), is answered with reply: when that says the script did not compile, the cache
 * forgets it, as Redis never cached it (an EVALSHA of it must stay NOSCRIPT). */
void dispatch_script_answered(struct dispatch *d, const struct request *r, const char *reply,
                              size_t len);
/* The forwarder's route_again: a request held before it could be routed goes on (a fan-out to
 * every master once a slot map exists, or routing from the start). ctx is the struct dispatch. */
void dispatch_resume(void *ctx, struct request *r);

#endif
