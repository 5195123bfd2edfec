/*
 * Every error text a client can see, in one place, byte-identical to what Redis answers where
 * Redis has an answer. The code decides with codes (routing returns an enum px_err, the parsers
 * an error kind); the functions here render the text, as a RESP error line ("-...\r\n") appended
 * to an sbuf. No other file of the proxy writes an error text (tests/check_errors.py enforces it).
 */
#ifndef PX_PROXY_ERRORS_H
#define PX_PROXY_ERRORS_H

#include "resp.h"
#include "resp_req.h"
#include "resp_write.h"

#include <stddef.h>
#include <stdint.h>

/* The errors routing decides on (route.c); errors_route() renders them. */
enum px_err {
    PXE_NONE = 0,
    PXE_UNKNOWN_COMMAND,    /* no such command */
    PXE_UNKNOWN_SUBCOMMAND, /* no such subcommand of a container command */
    PXE_WRONG_ARITY,        /* wrong number of arguments */
    PXE_NOAUTH,             /* a password is required and the client has not given it */
    PXE_CROSSSLOT,          /* keys in different slots */
    PXE_UNSUPPORTED,        /* a command the proxy refuses (the command table says why) */
    PXE_PUBSUB_CONTEXT,     /* RESP2 subscribed mode allows only a few commands */
    PXE_CLUSTER_DISABLED,   /* pool mode: CLUSTER commands, as a standalone Redis answers them */
    PXE_CROSSSERVER,        /* pool mode: keys on different servers of the pool */
    PXE_ONESHOT,            /* needs a connection that outlives the request (HTTP front) */
    PXE_OTHER_DB,           /* pool mode: COPY ... DB n into a database other than 0 */
};

/* The reasons a command is refused (the command table's overlay names one per command). */
enum px_unsupported {
    PXU_NOT_YET = 0,  /* not supported by this version */
    PXU_ONE_NODE,     /* it administers a single node */
    PXU_NODE_REPORT,  /* it reports on a single node */
    PXU_REPLICATION,  /* it is part of the replication protocol */
    PXU_ONE_DB,       /* it needs more than one database */
    PXU_ASKING,       /* the proxy sends ASKING itself */
    PXU_SCRIPT_DEBUG, /* it needs a debugging session on one node */
    PXU_MONITOR,      /* it streams one node's commands */
    PXU_COUNT
};
/* The text of a reason, as it follows "ERR '<command>' " (static storage). */
const char *errors_unsupported_text(enum px_unsupported why);

/*
 * Renders a routing error for the request whose arguments are argv (spans into base), whose
 * command (when known) is named name, and which the command table refuses for reason (for
 * PXE_UNSUPPORTED).
 */
void errors_route(struct sbuf *s, enum px_err e, const char *base, const struct resp_span *argv,
                  uint32_t argc, const char *name, const char *reason);

/* "-ERR unknown command '<name>', with args beginning with: '<a1>' '<a2>' ..." (Redis's text,
 * including its truncation to 128 characters). */
void errors_unknown_command(struct sbuf *s, const char *base, const struct resp_span *argv,
                            uint32_t argc);
/* "-ERR unknown subcommand '<sub>'. Try <CMD> HELP." */
void errors_unknown_subcommand(struct sbuf *s, const char *base, const struct resp_span *argv);
/* "-ERR wrong number of arguments for '<fullname>' command" */
void errors_wrong_arity(struct sbuf *s, const char *fullname);
/* "-CROSSSLOT Keys in request don't hash to the same slot" */
void errors_crossslot(struct sbuf *s);
/* Pool mode's CROSSSLOT: the keys are on different servers of the pool. */
void errors_crossserver(struct sbuf *s);
/* Pool mode: COPY ... DB n, n not 0 (the cluster's nodes refuse it themselves). */
void errors_copy_db_pool(struct sbuf *s);
/* "-ERR This instance has cluster support disabled" (a standalone Redis's CLUSTER answer). */
void errors_cluster_disabled(struct sbuf *s);
/* A command that needs a connection of its own, sent over the HTTP front. */
void errors_oneshot(struct sbuf *s, const char *name);
/* "-NOAUTH Authentication required." */
void errors_noauth(struct sbuf *s);
/* A command the proxy refuses; reason is the text after "ERR '<name>' ". */
void errors_unsupported(struct sbuf *s, const char *name, const char *reason);
/* RESP2 subscribed mode: "-ERR Can't execute '<name>': only (P|S)SUBSCRIBE / ..." */
void errors_pubsub_context(struct sbuf *s, const char *name);

/* ---- the cluster behind the proxy ---- */

/* "-CLUSTERDOWN Hash slot not served" */
void errors_slot_unserved(struct sbuf *s);
/* The node for a slot could not be reached within -failover-hold. */
void errors_node_unreachable(struct sbuf *s, const char *addr, const char *why);
/* No slot map yet: no node of the cluster has answered. */
void errors_no_topology(struct sbuf *s);
/* What the proxy is in front of, for the texts that say no node could take a command. */
enum errors_mode { ERRM_CLUSTER = 0, ERRM_POOL, ERRM_POOL_EJECT };
/* The mode from the configuration's -pool-server(s) and -auto-eject-hosts. */
static inline enum errors_mode errors_mode_of(int pool, int auto_eject)
{
    return !pool ? ERRM_CLUSTER : auto_eject ? ERRM_POOL_EJECT : ERRM_POOL;
}
/* A fan-out with no master to send to (in pool mode: no server available). */
void errors_no_master(struct sbuf *s, enum errors_mode m);
/* No node for a command that needs one: no map yet (have_map 0), else a slot without a master,
 * or in pool mode no server available. */
void errors_unserved(struct sbuf *s, int have_map, enum errors_mode m);
/* The connection to the node broke after the request was written: it may or may not have run. */
void errors_connection_lost(struct sbuf *s, const char *addr);
/* The node left the request unanswered for -backend-timeout: it may or may not have run. */
void errors_node_timeout(struct sbuf *s, const char *addr, uint64_t timeout_ms);
/* CONFIG SET taken by some nodes and refused by the node at ip:port with err (len bytes, without
 * its '-'); undone says whether the others were put back as they were. */
void errors_config_partial(struct sbuf *s, const char *ip, int port, const char *err, size_t len,
                           int undone);
/* CLIENT KILL's refusals, Redis's texts. */
/* CONFIG SET of a parameter each node keeps for itself (its address, files, replication): set
 * on every node at once it would break the cluster, so the proxy refuses it. */
void errors_config_per_node(struct sbuf *s, const char *name, size_t len);
/* What a Redis server busy with a script answers (function: one started by FCALL). */
void errors_busy_script(struct sbuf *s, int function);
/* -cross-slot compute in pool mode: no temporary key name the pool places on the server needed
 * (after 10,000 tries). */
void errors_cross_no_tmp(struct sbuf *s);
/* A command Redis flags no-multi (SAVE, SHUTDOWN, SYNC, ...) queued in a transaction. */
void errors_no_multi_command(struct sbuf *s);
void errors_no_such_client(struct sbuf *s);
void errors_client_id_positive(struct sbuf *s);
void errors_no_such_user(struct sbuf *s, const char *name, size_t len);
/* CLIENT PAUSE's refusals, Redis's texts. */
void errors_pause_mode(struct sbuf *s);
void errors_timeout_not_integer(struct sbuf *s);
void errors_timeout_negative(struct sbuf *s);
/* SLOWLOG GET with a count below -1 (or not a number), Redis's text. */
void errors_slowlog_count(struct sbuf *s);
/* CONFIG SET not tried: the node at ip:port could not say its current values (err). */
void errors_config_unreachable(struct sbuf *s, const char *ip, int port, const char *err,
                               size_t len);
/* A node-wide command (CONFIG RESETSTAT, REWRITE) that the node at ip:port refused with err. */
void errors_node_refused(struct sbuf *s, const char *ip, int port, const char *err, size_t len);
/* CLIENT TRACKING and CLIENT CACHING refusals, with Redis's texts (tracking.c). */
enum px_trk_err {
    PXT_REDIRECT_TWICE = 0, /* REDIRECT given twice */
    PXT_REDIRECT_MISSING,   /* REDIRECT to an id no client has */
    PXT_PREFIX_NEEDS_BCAST, /* PREFIX without BCAST */
    PXT_BCAST_SWITCH,       /* ON with BCAST while on without it, or the reverse */
    PXT_OPT_BCAST,          /* OPTIN or OPTOUT with BCAST */
    PXT_OPTIN_OPTOUT,       /* both OPTIN and OPTOUT */
    PXT_OPT_SWITCH,         /* OPTIN while in OPTOUT mode, or the reverse */
    PXT_CACHING_OFF,        /* CLIENT CACHING without tracking */
    PXT_CACHING_YES,        /* CLIENT CACHING YES outside OPTIN mode */
    PXT_CACHING_NO,         /* CLIENT CACHING NO outside OPTOUT mode */
};
void errors_tracking(struct sbuf *s, enum px_trk_err e);
/* A BCAST prefix overlapping one the client has (other 0) or another one given with it. */
void errors_tracking_prefix_overlap(struct sbuf *s, const char *prefix, size_t len,
                                    const char *with, size_t with_len, int other);
/* A request held (never sent) while its master stalled, for timeout_ms (-backend-timeout). */
void errors_node_stalled(struct sbuf *s, const char *addr, uint64_t timeout_ms);
/* A request in flight to a master that stalled and was then failed over (forward.c). */
void errors_node_deposed(struct sbuf *s, const char *addr);
/* A request whose stalled master answered again but was not confirmed within hold_ms. */
void errors_stall_unconfirmed(struct sbuf *s, const char *addr, uint64_t hold_ms);
/* More MOVED/ASK redirections than -max-redirects; last is the last one (len bytes). */
void errors_too_many_redirects(struct sbuf *s, const char *last, uint32_t len);
/* A part for a master that no longer exists (the topology changed under a SCAN). */
void errors_topology_changed(struct sbuf *s);
/* A node answered something a merge cannot use; what names the merge ("MGET", "a sum"). */
void errors_unexpected_reply(struct sbuf *s, const char *what);

/* ---- pool mode's servers ---- */

/* The server that holds the key could not be reached (why: its last connection error). */
void errors_server_unreachable(struct sbuf *s, const char *addr, const char *why);
/* No server of the pool can take the command: every one is ejected (ejecting: with
 * -auto-eject-hosts), or none answers. */
void errors_pool_empty(struct sbuf *s, int ejecting);
/* The pool's servers changed (a reload, an ejection) while the request waited to be sent: it
 * never ran, and the server it was placed on may no longer be the key's. */
void errors_pool_changed(struct sbuf *s);
/* 1 when the error line (the text after '-') says that the cluster (or a pool's server) could
 * not be reached or did not answer (CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, a lost or stuck
 * node connection, a pool server unreachable or ejected, ...), as opposed to an error in the
 * request itself. */
int errors_is_unavailable(const char *line, size_t len);
/* 1 when the error line (the text after '-') is a node's refusal to compile a script (a syntax
 * error, a bad shebang): Redis did not cache it. */
int errors_is_script_refused(const char *line, size_t len);
/* The HTTP status for a reply that is the error line (the text after '-'): 401 for NOAUTH and
 * WRONGPASS, 403 for NOPERM, 502 when the cluster could not be reached (errors_is_unavailable),
 * 400 for the rest (the request is at fault). */
unsigned errors_http_status(const char *line, size_t len);
/* 1 when the error line says the command may or may not have run (a connection lost after the
 * command was written). */
int errors_may_have_run(const char *line, size_t len);
/* 1 when the error line is RESTORE's BUSYKEY (the target key exists). */
int errors_is_busykey(const char *line, size_t len);
/* 1 when the error line is a node's BUSY (a script or function is running there). */
int errors_is_busy(const char *line, size_t len);

/* ---- -cross-slot compute ---- */

/* "-WRONGTYPE Operation against a key holding the wrong kind of value" */
void errors_wrongtype(struct sbuf *s);
/* "-ERR no such key" (RENAME) */
void errors_no_such_key(struct sbuf *s);
/* COPY ... DB n on a cluster node: n out of range, or another database. */
void errors_db_out_of_range(struct sbuf *s);
void errors_copy_other_db(struct sbuf *s);

/* What a command computed across slots did to the data when it failed half way. */
enum px_cross_fail {
    PXC_PUT_BACK,   /* writing the destination failed; the source was put back */
    PXC_LOST,       /* ...and putting it back failed too */
    PXC_UNDONE,     /* MSETNX: a slot failed; what the other slots set was deleted again */
    PXC_NOT_UNDONE, /* ...and deleting it failed: some keys may be set */
};
/*
 * The error of a command (name) computed across slots that failed half way: err is the error
 * line (without '-' and CRLF) that stopped it (NULL: another client's write did), err2 the one
 * that stopped the repair (NULL: another client's write did), key (may be NULL) where a parked
 * value was left. Every text says what state the keys may be in.
 */
void errors_cross(struct sbuf *s, const char *name, enum px_cross_fail how, const char *err,
                  uint32_t errlen, const char *err2, uint32_t err2len, const char *key,
                  uint32_t keylen);

/* ---- the HTTP front ---- */

/* What the HTTP front refuses before a request reaches a worker. */
enum px_http_err {
    PXH_METHOD = 0,      /* not POST */
    PXH_NOT_FOUND,       /* a path other than / */
    PXH_CONTENT_TYPE,    /* neither a form nor JSON */
    PXH_BODY_TOO_LARGE,  /* over -query-buffer-limit */
    PXH_BAD_JSON,        /* not JSON, or not the object expected (detail says why) */
    PXH_BAD_FORM,        /* a form that cannot be read */
    PXH_NO_COMMAND,      /* no command, or an empty one */
    PXH_BAD_ARGUMENT,    /* an argument that is not a string, a number or {"base64": ...} */
    PXH_TOO_MANY_ARGS,   /* over Redis's limit on a request's arguments */
    PXH_ARG_TOO_LONG,    /* an argument over -proto-max-bulk-len */
    PXH_BAD_RESP,        /* "resp" other than 2 or 3 */
    PXH_TIMEOUT,         /* not answered within -http-timeout */
    PXH_SHUTTING_DOWN,   /* the proxy is stopping */
    PXH_REPLY_TOO_LARGE, /* a reply over the hard -client-output-buffer-limit */
    PXH_BAD_REPLY,       /* a reply that is not one RESP value (a bug) */
    PXH_BAD_AUTH,        /* an Authorization header that is not Basic user:password */
    PXH_COUNT
};
/* Appends the text (no '-', no CRLF: the HTTP front puts it in {"error": ...}) of e to s, with
 * detail (may be NULL) where the text has one. */
void errors_http(struct sbuf *s, enum px_http_err e, const char *detail);

/* ---- transactions ---- */

/* A command that cannot be queued in a transaction through the proxy. */
void errors_not_in_multi(struct sbuf *s, const char *name);
/* A command for the node queued behind a write the proxy runs after the node's part (txn.h). */
void errors_tx_after_write(struct sbuf *s, const char *name);
/* The node's EXEC array had got elements where the proxy queued want commands on it. */
void errors_tx_combine(struct sbuf *s, uint32_t got, uint32_t want);
/* The transaction's connection broke: nothing queued will run. */
void errors_tx_conn_lost(struct sbuf *s, const char *addr);
/* A redirect while the transaction's commands were queued (the slot moved). */
void errors_tx_moved(struct sbuf *s);
/* "-ERR MULTI calls can not be nested" */
void errors_multi_nested(struct sbuf *s);
/* "-ERR EXEC without MULTI" */
void errors_exec_without_multi(struct sbuf *s);
/* "-ERR DISCARD without MULTI" */
void errors_discard_without_multi(struct sbuf *s);
/* "-ERR WATCH inside MULTI is not allowed" */
void errors_watch_in_multi(struct sbuf *s);
/* "-EXECABORT Transaction discarded because of previous errors." */
void errors_execabort(struct sbuf *s);
/* EXEC refused before it ran (its arity, NOAUTH, NOPERM), in Redis's words: err is the refusal's
 * error line as sent ("-ERR ...\r\n"), quoted without its '-', an ERR code and its line end. */
void errors_execabort_because(struct sbuf *s, const char *err, size_t len);

/* ---- connection state and the commands the proxy answers ---- */

/* "-ERR syntax error" */
void errors_syntax(struct sbuf *s);
/* "-ERR value is not an integer or out of range" */
void errors_not_integer(struct sbuf *s);
/* "-WRONGPASS invalid username-password pair or user is disabled." */
void errors_wrongpass(struct sbuf *s);
/* AUTH <password> without a password configured. */
void errors_auth_no_password(struct sbuf *s);
/* HELLO's protocol version is not an integer. */
void errors_hello_proto_not_integer(struct sbuf *s);
/* "-NOPROTO unsupported protocol version" */
void errors_noproto(struct sbuf *s);
/* "-ERR Syntax error in HELLO option '<opt>'" */
void errors_hello_option(struct sbuf *s, const char *opt, uint32_t len);
/* HELLO without AUTH from a client that has not authenticated. */
void errors_hello_noauth(struct sbuf *s);
/* A client name with spaces or special characters. */
void errors_bad_client_name(struct sbuf *s);
/* A CLIENT SETINFO value with spaces or special characters; attr is "lib-name" or "lib-ver". */
void errors_bad_lib_attr(struct sbuf *s, const char *attr);
/* "-ERR Unrecognized option '<opt>'" */
void errors_unrecognized_option(struct sbuf *s, const char *opt, uint32_t len);
/* SELECT's index outside a 32-bit integer. */
void errors_select_range(struct sbuf *s);
/* SELECT of a database other than 0. */
void errors_select_cluster(struct sbuf *s);
/* The same in pool mode, where the servers would allow it but their connections are shared. */
void errors_select_pool(struct sbuf *s);
/* MONITOR run by EXEC, in Redis's words. */
void errors_monitor_in_multi(struct sbuf *s);
/* CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT with a bad slot (with_count: GETKEYSINSLOT's text). */
void errors_invalid_slot(struct sbuf *s, int with_count);
/* CLIENT LIST TYPE with an unknown type. */
void errors_unknown_client_type(struct sbuf *s, const char *t, uint32_t len);
/* CLIENT LIST ID with an id that is not a positive integer. */
void errors_invalid_client_id(struct sbuf *s);
/* SCAN with a cursor that is not an unsigned integer. */
void errors_invalid_cursor(struct sbuf *s);
/* A command the table routes to a handler that does not exist (a bug, never expected). */
void errors_no_handler(struct sbuf *s, const char *name);

/* ---- ACL users (acl.c, aclcmd.c) ---- */

/* The codes the ACL engine decides with (acl.h); the texts are below. */
/* Why a command is refused (Redis's ACL_DENIED_* values: the order picks the error to report). */
enum acl_result {
    ACL_OK = 0,
    ACL_DENIED_CMD = 1,
    ACL_DENIED_KEY = 2,
    ACL_DENIED_AUTH = 3,
    ACL_DENIED_CHANNEL = 4,
};

/* Why a rule was refused (Redis's errno values in ACLSetUserStringError). */
enum acl_err {
    ACL_ERR_NONE = 0,
    ACL_ERR_UNKNOWN,         /* ENOENT: no such command or category */
    ACL_ERR_SYNTAX,          /* EINVAL */
    ACL_ERR_KEYS_AFTER_ALL,  /* EEXIST: a key pattern after allkeys */
    ACL_ERR_CHANS_AFTER_ALL, /* EISDIR: a channel pattern after allchannels */
    ACL_ERR_NO_SUCH_PASS,    /* ENODEV: removing a password the user lacks */
    ACL_ERR_BAD_HASH,        /* EBADMSG: #hash / !hash not 64 lower-case hex digits */
    ACL_ERR_DUPLICATE,       /* EALREADY */
    ACL_ERR_FIRSTARG_OF_SUB, /* ECHILD: +cmd|sub|arg */
    ACL_ERR_UNMATCHED_PAREN, /* a selector opened and never closed (its own message) */
};

/* One problem found in an ACL file, for errors_acl_load (Redis's texts). */
enum acl_load_kind {
    ACL_LOAD_NO_USER_KEYWORD, /* "should start with user keyword followed by the username" */
    ACL_LOAD_BAD_USERNAME,    /* the name has spaces */
    ACL_LOAD_DUPLICATE,       /* a user defined twice */
    ACL_LOAD_UNMATCHED_PAREN, /* a selector never closed */
    ACL_LOAD_UNKNOWN_OP,      /* a rule naming an unknown command or category (arg: the rule) */
    ACL_LOAD_BAD_OP,          /* the first other bad rule of the line (code: why) */
};
struct acl_load_problem {
    enum acl_load_kind kind;
    int line;
    enum acl_err code;
    char *arg; /* the user name or the rule, owned */
    size_t arglen;
};
struct acl_load_report {
    struct acl_load_problem *v;
    uint32_t n, cap;
};

/* A command refused by the user's ACL rules: reason is an enum acl_result (command, key or
 * channel); name is the command's full name ("client|kill"). Redis 7.0's -NOPERM texts. */
void errors_noperm(struct sbuf *s, int reason, const char *name);
/* The text of an enum acl_err, as ACLSetUserStringError words it (static storage). */
const char *errors_acl_reason(int code);
/* "-ERR Error in ACL SETUSER modifier '<op>': <reason>" (op as Redis prints it: up to a NUL,
 * line breaks made spaces), or for an unclosed selector "-ERR Unmatched parenthesis in acl
 * selector starting at '<op>'." */
void errors_acl_setuser(struct sbuf *s, int code, const char *op, size_t oplen);
/* "-ERR Usernames can't contain spaces or null characters" */
void errors_acl_username(struct sbuf *s);
/* "-ERR The 'default' user cannot be removed" */
void errors_acl_deldefault(struct sbuf *s);
/* ACL LOAD or SAVE without -aclfile. */
void errors_acl_no_file(struct sbuf *s);
/* ACL LOAD: the file could not be opened (why: strerror's text). */
void errors_acl_load_open(struct sbuf *s, const char *file, const char *why);
/* ACL LOAD (as_reply: an error reply) or startup (the text alone, for the log): every problem
 * of the file, as Redis strings them together. */
void errors_acl_load(struct sbuf *s, const char *file, const struct acl_load_report *rep,
                     int as_reply);
/* ACL SAVE failed. */
void errors_acl_save(struct sbuf *s);
/* ACL CAT with an unknown category. */
void errors_acl_unknown_category(struct sbuf *s, const char *name, size_t len);
/* ACL GENPASS with a bad number of bits. */
void errors_acl_genpass(struct sbuf *s);
/* ACL DRYRUN: no such user / no such command. */
void errors_acl_no_user(struct sbuf *s, const char *name, size_t len);
void errors_acl_no_command(struct sbuf *s, const char *name, size_t len);
/* ACL DRYRUN's answer when refused: a bulk string (not an error) in Redis's words; arg is the
 * key or channel for those reasons. */
void errors_acl_dryrun(struct sbuf *s, int reason, const char *name, const char *arg,
                       size_t arglen);
/* "-ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP." */
void errors_subcommand_syntax(struct sbuf *s, const char *cmd, size_t cmdlen, const char *sub,
                              size_t sublen);

/* ---- the connection itself ---- */

/* "-ERR Protocol error: ..." for the request parser's error res (Redis's texts). */
void errors_protocol(struct sbuf *s, const struct resp_req_result *res);
/* "-ERR max number of clients reached" */
void errors_maxclients(struct sbuf *s);
/* Redis 7's -DENIED reply to a non-loopback client in protected mode. */
void errors_denied(struct sbuf *s);

#endif
