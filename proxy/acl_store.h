/*
 * The process's ACL state, shared by every worker: the current set of users (an immutable
 * acl_users, replaced whole by each change), the ACL file's name, and the ACL LOG. One mutex
 * guards it all; workers touch it only when a set changes (they keep a reference to their own
 * copy of the current set: struct acl_local) and when a command is refused, never per request.
 *
 * A change (ACL SETUSER, DELUSER, LOAD) publishes a new set and bumps the version; the worker
 * that made it then asks every worker to take the new set (worker.c), and only when all have is
 * the client answered, so that anything the client sends afterwards, on any connection, sees it.
 */
#ifndef PX_ACL_STORE_H
#define PX_ACL_STORE_H

#include "acl.h"

#include <stddef.h>
#include <stdint.h>

/* A worker's view of the users: its reference to a set, and what it looks at per client. */
struct acl_local {
    struct acl_users *users;    /* the set this worker uses (a reference) */
    const struct acl_user *dflt; /* its default user */
    int auth_required;           /* new connections must AUTH (acl_auth_required(dflt)) */
};

/* Startup, before any worker: the initial set (taken over: -aclfile's users or the default user,
 * with -requirepass applied), the ACL file (NULL: ACL LOAD/SAVE refuse) and -acllog-max-len. */
void acl_store_init(struct acl_users *initial, const char *aclfile, unsigned log_max_len);
/* Frees everything (at exit). */
void acl_store_shutdown(void);
/* The ACL file's name, or NULL. */
const char *acl_store_file(void);

/* Makes l refer to the current set (releasing what it held). Returns 1 when it changed. */
int acl_local_sync(struct acl_local *l);
/* Releases l's reference. */
void acl_local_release(struct acl_local *l);
/* 1 when the current default user needs no password (protected mode looks at it). Any thread. */
int acl_store_default_nopass(void);

/* ---- changes; each returns with the new set published (or nothing changed on error) ---- */

/* ACL SETUSER name rules...: 0, or -1 with err filled (nothing changed). */
int acl_store_setuser(const char *name, size_t len, const char *const *ops, const size_t *lens,
                      int n, struct acl_rule_error *err);
/* ACL DELUSER: removes the users named; returns how many existed. */
int acl_store_deluser(const char *const *names, const size_t *lens, int n);
/* ACL LOAD: reads the ACL file. Returns 0, -1 with the problems in rep, or -2 when the file cannot
 * be read (errno_out: why). */
int acl_store_load(struct acl_load_report *rep, int *errno_out);
/* ACL SAVE: writes the current users to the ACL file (a temporary file renamed over it).
 * Returns 0 or -1 (the reason is logged). */
int acl_store_save(void);

/* ---- the ACL LOG ---- */

enum acl_log_ctx { ACL_LOG_TOPLEVEL = 0, ACL_LOG_MULTI, ACL_LOG_LUA };

struct acl_log_entry {
    uint64_t count;
    int reason;  /* enum acl_result */
    int context; /* enum acl_log_ctx */
    char *object;
    size_t objlen;
    char *username;
    size_t userlen;
    uint64_t ctime_ms;
    char *cinfo; /* the client's CLIENT LIST line, without its newline */
    size_t cinfolen;
};

/* Adds an entry, or counts it on a similar one of the last 10 (same reason, context, object and
 * user within 60 s: Redis's grouping), trimming the log to -acllog-max-len. Any thread. */
void acl_store_log(int reason, int context, const char *object, size_t objlen, const char *user,
                   size_t userlen, const char *cinfo, size_t cinfolen, uint64_t now_ms);
/* ACL LOG RESET. */
void acl_store_log_reset(void);
/* Copies up to count entries, newest first, into *out (free with acl_store_log_free). Returns
 * how many. */
size_t acl_store_log_copy(long count, struct acl_log_entry **out);
void acl_store_log_free(struct acl_log_entry *v, size_t n);

#endif
