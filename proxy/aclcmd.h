/*
 * The ACL command, answered by the proxy for its own users: SETUSER, GETUSER, DELUSER, LIST,
 * USERS, WHOAMI, CAT, LOG, DRYRUN, SAVE, LOAD, GENPASS, HELP, with Redis 7.0's replies (RESP2 and
 * RESP3) and error texts. Reads come from the worker's set of users (struct acl_local); changes go
 * through acl_store, and their reply waits until every worker has taken the new set (the
 * publish callback, which the worker answers), so that a client that was told OK sees the change
 * on any connection, and clients of a deleted user are gone.
 */
#ifndef PX_ACLCMD_H
#define PX_ACLCMD_H

#include "acl_store.h"
#include "keys.h"
#include "request.h"
#include "resp_write.h"
#include "stats.h"

struct aclcmd_ctx {
    struct request_pool *rp;
    struct acl_local *acl;    /* the worker's users */
    struct keys_result *keys; /* scratch (DRYRUN) */
    struct sbuf out;
    /* A change was published: answer r with reply (len bytes, copied) once every worker has
     * taken the new set. */
    void (*publish)(void *up, struct request *r, const char *reply, size_t len);
    void *up;
};

/* Prepares ctx (the pointers must outlive it); publish and up are set by the caller. */
void aclcmd_init(struct aclcmd_ctx *ctx, struct request_pool *rp, struct acl_local *acl,
                 struct keys_result *keys);
void aclcmd_deinit(struct aclcmd_ctx *ctx);
/* Answers ACL <subcommand> ... (r's command is one of ACL's subcommands). */
void aclcmd_run(struct aclcmd_ctx *ctx, struct request *r);

#endif
