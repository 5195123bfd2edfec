/*
 * ACL users, Redis 7.0's model, for the proxy's own clients: a pure engine with no threads and no
 * I/O. A user has flags (on/off, nopass), SHA-256 password hashes and one or more selectors (the
 * root one, plus Redis 7.0's "(...)" selectors); a selector has a bitmap of allowed commands
 * (indexed by the command table's dense ids, with Redis's reserved "future commands" bit),
 * first-args, key patterns with read/write flags and channel patterns. The functions here mirror
 * acl.c of Redis 7.0.15 function by function: rules (ACLSetUser, ACLSetSelector, ACLStringSetUser),
 * their description (ACLDescribeUser, with the same category approximation), the permission
 * check (ACLCheckAllUserCommandPerm), passwords, and the ACL file's text (ACLLoadFromFile,
 * ACLSaveToFile).
 *
 * A set of users (struct acl_users) is what the proxy publishes to its workers (acl_store.c):
 * once published it is never changed, and its users may be shared with later sets (a reference
 * count each, which the caller serialises). Error texts are not written here: functions return
 * codes (enum acl_err) that errors.c renders in Redis's words.
 */
#ifndef PX_ACL_H
#define PX_ACL_H

#include "commands.h"
#include "errors.h"
#include "keys.h"
#include "resp.h"
#include "resp_write.h"

#include <stddef.h>
#include <stdint.h>

#define ACL_CMD_BITS  1024 /* as Redis's USER_COMMAND_BITS_COUNT; the last bit: future commands */
#define ACL_CMD_WORDS (ACL_CMD_BITS / 64)
#define ACL_DEFAULT_UID 1  /* the default user's id; it survives ACL LOAD */


/* User flags, in the order ACL LIST and GETUSER show them. */
enum {
    ACL_USER_ENABLED = 1u << 0,
    ACL_USER_DISABLED = 1u << 1,
    ACL_USER_NOPASS = 1u << 2,
    ACL_USER_SKIP_SANITIZE = 1u << 3,
    ACL_USER_SANITIZE = 1u << 4,
};

/* Selector flags. */
enum {
    ACL_SEL_ROOT = 1u << 0,
    ACL_SEL_ALLKEYS = 1u << 1,
    ACL_SEL_ALLCHANNELS = 1u << 2,
    ACL_SEL_ALLCOMMANDS = 1u << 3,
};

/* Key pattern permissions (%R~, %W~; ~ is both). */
enum { ACL_KEY_READ = 1, ACL_KEY_WRITE = 2, ACL_KEY_ALL = 3 };

/* A pattern or first-arg: len bytes at p (NUL-terminated too), with key permissions for keys. */
struct acl_str {
    char *p;
    uint32_t len;
    uint8_t flags;
};

struct acl_firstargs {
    uint32_t cmd; /* command id */
    struct acl_str *args;
    uint32_t n;
};

struct acl_selector {
    uint32_t flags; /* ACL_SEL_* */
    uint64_t allowed[ACL_CMD_WORDS];
    struct acl_firstargs *fa; /* first-args of otherwise denied commands (+select|0) */
    uint32_t nfa;
    struct acl_str *keys;
    uint32_t nkeys;
    struct acl_str *chans;
    uint32_t nchans;
};

struct acl_user {
    char *name;
    uint32_t namelen;
    uint32_t flags;   /* ACL_USER_* */
    uint64_t uid;     /* stays the same while rules change; a deleted or reloaded user's is gone */
    char (*pass)[65]; /* SHA-256 hex of each password */
    uint32_t npass;
    struct acl_selector *sel; /* sel[0] is the root selector */
    uint32_t nsel;
    uint8_t unrestricted;     /* one selector allows every command, key and channel: no checks */
    int refs;                 /* sets holding it (acl_users_*; the caller serialises) */
};

/* A set of users, sorted by name (Redis's rax order: bytes, a prefix first). */
struct acl_users {
    struct acl_user **v;
    uint32_t n, cap;
    struct acl_user **by_uid; /* the same users sorted by uid (acl_users_seal) */
    uint64_t version;         /* set by whoever publishes it */
    int refs;                 /* holders (acl_store.c); the caller serialises */
};

/* Once at startup, after commands_init: the per-command facts the checks need. */
void acl_init(void);

/* ---- users ---- */

/* A new user, off, without passwords or permissions (Redis's ACLCreateUser), with a new uid. */
struct acl_user *acl_user_create(const char *name, size_t len);
/* The default user: on nopass ~* &* +@all, uid ACL_DEFAULT_UID. */
struct acl_user *acl_user_create_default(void);
/* A copy of u (same name and uid), refs 0. */
struct acl_user *acl_user_dup(const struct acl_user *u);
void acl_user_free(struct acl_user *u);
/* Applies one rule (ACLSetUser). Returns 0 or -(enum acl_err). op may hold any bytes. */
int acl_user_set(struct acl_user *u, const char *op, size_t oplen);

/* A rule ACL SETUSER or a file refused: which (the selector as merged) and why. */
struct acl_rule_error {
    enum acl_err code;
    char *op; /* a copy of the rule (owned); for ACL_ERR_UNMATCHED_PAREN the opening argument */
    size_t oplen;
};
void acl_rule_error_clear(struct acl_rule_error *e);

/*
 * ACL SETUSER's rules applied all or nothing (ACLStringSetUser): selectors spread over several
 * arguments are merged first, then every rule is applied to a copy of base (or to a new user
 * named name when base is NULL). Returns the new user (refs 0; base is untouched), or NULL with
 * err filled.
 */
struct acl_user *acl_user_apply(const struct acl_user *base, const char *name, size_t namelen,
                                const char *const *ops, const size_t *lens, int n,
                                struct acl_rule_error *err);

/* 1 when name has a space or a NUL (not allowed in user names and patterns). */
int acl_has_spaces(const char *p, size_t len);

/* 0 when pass is one of u's passwords (or u is nopass), -1 otherwise; the user's state (on/off)
 * is not looked at. Time independent of where the hashes differ. */
int acl_user_check_password(const struct acl_user *u, const char *pass, size_t len);
/* Whether clients must AUTH: the default user d is not nopass, or is off (Redis's
 * authRequired, for a client that has not authenticated). */
int acl_auth_required(const struct acl_user *d);

/* ---- descriptions ---- */

/* ACL LIST's text for u after "user <name> " (ACLDescribeUser). */
void acl_describe_user(const struct acl_user *u, struct sbuf *out);
/* The command rules of a selector ("+@all -debug ..."), as GETUSER's "commands". */
void acl_describe_commands(const struct acl_selector *s, struct sbuf *out);
/* GETUSER's "keys" ("~* " or "%R~a ~b") and "channels" ("&*" or "&a &b"). */
void acl_describe_keys(const struct acl_selector *s, struct sbuf *out);
void acl_describe_channels(const struct acl_selector *s, struct sbuf *out);
/* The flags of u in order, as GETUSER lists them: calls fn for each name. */
int acl_user_flag_names(const struct acl_user *u, const char *names[5]);

/* ---- categories ---- */

#define ACL_NCATS 21
/* The name of category i (0 .. ACL_NCATS-1), in ACL CAT's order. */
const char *acl_cat_name(int i);
/* The ACL_CAT_* flag of a category name (any case, not NUL-terminated), or 0. */
uint32_t acl_cat_lookup(const char *name, size_t len);
/* Calls fn with the full name of every command and subcommand in category flag (ACL CAT c). */
void acl_cat_commands(uint32_t flag, void (*fn)(void *ctx, const char *name), void *ctx);

/* ---- checks ---- */

/*
 * Whether user u may run command e with arguments argv (spans into base): its command bits,
 * every key it touches against the key patterns (read/write as the key specs say), and the
 * channels of (P|S)SUBSCRIBE and (S)PUBLISH against the channel patterns. With several
 * selectors one that allows everything suffices; otherwise the error reported is Redis's pick
 * (a command error only when no selector allows the command, else the last key or channel no
 * selector matched). keys is scratch space. *errpos gets the argument of the denied key or
 * channel.
 */
enum acl_result acl_check(const struct acl_user *u, const struct cmd_entry *e, const char *base,
                          const struct resp_span *argv, uint32_t argc, struct keys_result *keys,
                          int *errpos);

/* Channel rules that changed for subscribers (ACLKillPubsubClientsIfNeeded): 1 when some
 * subscription allowed under oldu may not be under newu, so subscribers must be looked at. */
int acl_pubsub_revoked(const struct acl_user *newu, const struct acl_user *oldu);
/* Whether newu still allows a subscription to ch (a pattern when is_pattern, compared
 * literally, as Redis does) in any selector's channel list. */
int acl_channel_kept(const struct acl_user *newu, const char *ch, size_t len, int is_pattern);

/* Redis's stringmatchlen (glob: * ? [a-z] [^x] \x), nocase 0. 1 on a match. */
int acl_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* ---- sets of users ---- */

/* An empty set (refs 1). */
struct acl_users *acl_users_create(void);
/* A set with the same users (each gains a reference), refs 1. */
struct acl_users *acl_users_copy(const struct acl_users *s);
/* Drops a reference; the last frees the set and drops its users' references. */
void acl_users_unref(struct acl_users *s);
/* The user named name, or NULL. */
struct acl_user *acl_users_find(const struct acl_users *s, const char *name, size_t len);
/* The user with this uid, or NULL (after acl_users_seal). */
struct acl_user *acl_users_find_uid(const struct acl_users *s, uint64_t uid);
/* Adds u (taking a reference), replacing the user of the same name. */
void acl_users_put(struct acl_users *s, struct acl_user *u);
/* Removes the user named name. Returns 1 when there was one. */
int acl_users_del(struct acl_users *s, const char *name, size_t len);
/* Builds the uid index: call once the set is complete, before it is published. */
void acl_users_seal(struct acl_users *s);
/* The default user (always present in a set the proxy uses). */
static inline struct acl_user *acl_users_default(const struct acl_users *s)
{
    return acl_users_find_uid(s, ACL_DEFAULT_UID);
}

/* ---- the ACL file ---- */

void acl_load_report_free(struct acl_load_report *r);

/*
 * Parses an ACL file's text (Redis's ACLLoadFromFile: "user <name> <rules...>" lines, split at
 * single spaces; blank lines skipped). Returns a new sealed set (refs 1) with a default user (the
 * file's, keeping ACL_DEFAULT_UID, or a fresh "on nopass ~* &* +@all" one), or NULL with the
 * problems in rep (nothing is half-loaded).
 */
struct acl_users *acl_load_text(const char *text, size_t len, struct acl_load_report *rep);
/* The ACL file for s: one "user <name> <rules>\n" line per user (ACLSaveToFile). */
void acl_save_text(const struct acl_users *s, struct sbuf *out);

/* Redis's sdssplitargs over len bytes at p: arguments separated by spaces, "double quotes" with
 * \n \r \t \b \a \xHH escapes, 'single quotes' with \'. Returns the count, or -1 for unbalanced
 * quotes. args[i] are NUL-terminated copies (free with acl_free_args). */
int acl_split_args(const char *p, size_t len, char ***args, size_t **lens);
void acl_free_args(char **args, size_t *lens, int n);

#endif
