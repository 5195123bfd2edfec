/*
 * The command table: every Redis command and subcommand with its arity, flags, request/response
 * tips and key specifications, generated from Redis's own COMMAND metadata (command_table.c, made
 * by gen_command_table.py), plus the proxy's overlay that says how each one is routed.
 */
#ifndef PX_COMMANDS_H
#define PX_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

/* Command flags, as Redis names them. */
enum {
    CMD_WRITE = 1u << 0,
    CMD_READONLY = 1u << 1,
    CMD_DENYOOM = 1u << 2,
    CMD_ADMIN = 1u << 3,
    CMD_PUBSUB = 1u << 4,
    CMD_NOSCRIPT = 1u << 5,
    CMD_BLOCKING = 1u << 6,
    CMD_LOADING = 1u << 7,
    CMD_STALE = 1u << 8,
    CMD_SKIP_MONITOR = 1u << 9,
    CMD_SKIP_SLOWLOG = 1u << 10,
    CMD_ASKING = 1u << 11,
    CMD_FAST = 1u << 12,
    CMD_NO_AUTH = 1u << 13,
    CMD_MAY_REPLICATE = 1u << 14,
    CMD_NO_MANDATORY_KEYS = 1u << 15,
    CMD_NO_ASYNC_LOADING = 1u << 16,
    CMD_NO_MULTI = 1u << 17,
    CMD_MOVABLEKEYS = 1u << 18,
    CMD_ALLOW_BUSY = 1u << 19,
};

/* Command tips: how a cluster client should route and merge. */
enum {
    CMD_TIP_NONDETERMINISTIC = 1u << 0,
    CMD_TIP_NONDETERMINISTIC_ORDER = 1u << 1,
    CMD_REQ_ALL_NODES = 1u << 2,
    CMD_REQ_ALL_SHARDS = 1u << 3,
    CMD_REQ_MULTI_SHARD = 1u << 4,
    CMD_REQ_SPECIAL = 1u << 5,
    CMD_RESP_ONE_SUCCEEDED = 1u << 6,
    CMD_RESP_ALL_SUCCEEDED = 1u << 7,
    CMD_RESP_AGG_LOGICAL_AND = 1u << 8,
    CMD_RESP_AGG_LOGICAL_OR = 1u << 9,
    CMD_RESP_AGG_MIN = 1u << 10,
    CMD_RESP_AGG_MAX = 1u << 11,
    CMD_RESP_AGG_SUM = 1u << 12,
    CMD_RESP_SPECIAL = 1u << 13,
};

/* ACL categories, as Redis names them (ACL CAT lists them in this order). */
enum {
    ACL_CAT_KEYSPACE = 1u << 0,
    ACL_CAT_READ = 1u << 1,
    ACL_CAT_WRITE = 1u << 2,
    ACL_CAT_SET = 1u << 3,
    ACL_CAT_SORTEDSET = 1u << 4,
    ACL_CAT_LIST = 1u << 5,
    ACL_CAT_HASH = 1u << 6,
    ACL_CAT_STRING = 1u << 7,
    ACL_CAT_BITMAP = 1u << 8,
    ACL_CAT_HYPERLOGLOG = 1u << 9,
    ACL_CAT_GEO = 1u << 10,
    ACL_CAT_STREAM = 1u << 11,
    ACL_CAT_PUBSUB = 1u << 12,
    ACL_CAT_ADMIN = 1u << 13,
    ACL_CAT_FAST = 1u << 14,
    ACL_CAT_SLOW = 1u << 15,
    ACL_CAT_BLOCKING = 1u << 16,
    ACL_CAT_DANGEROUS = 1u << 17,
    ACL_CAT_CONNECTION = 1u << 18,
    ACL_CAT_TRANSACTION = 1u << 19,
    ACL_CAT_SCRIPTING = 1u << 20,
};

/* Key-spec flags. */
enum {
    KSF_RO = 1u << 0,
    KSF_RW = 1u << 1,
    KSF_OW = 1u << 2,
    KSF_RM = 1u << 3,
    KSF_ACCESS = 1u << 4,
    KSF_UPDATE = 1u << 5,
    KSF_INSERT = 1u << 6,
    KSF_DELETE = 1u << 7,
    KSF_NOT_KEY = 1u << 8,
    KSF_INCOMPLETE = 1u << 9,
    KSF_VARIABLE_FLAGS = 1u << 10,
};

enum keyspec_begin { KS_BEGIN_INVALID = 0, KS_BEGIN_INDEX, KS_BEGIN_KEYWORD, KS_BEGIN_UNKNOWN };
enum keyspec_find { KS_FIND_INVALID = 0, KS_FIND_RANGE, KS_FIND_KEYNUM, KS_FIND_UNKNOWN };

struct keyspec {
    uint8_t begin;  /* enum keyspec_begin */
    uint8_t find;   /* enum keyspec_find */
    uint16_t flags; /* KSF_* */
    int16_t bs_pos; /* index: argument position; keyword: where the search starts */
    const char *keyword;
    /* range: lastkey, keystep, limit; keynum: keynumidx, firstkey, keystep */
    int16_t fk[3];
};

/* The commands the proxy answers itself (ROUTE_LOCAL): which handler. local.c answers most;
 * txn.c, pubsub.c, scan.c and info.c the ones named for them. */
enum local_id {
    LOCAL_NONE = 0,
    LOCAL_PING,
    LOCAL_ECHO,
    LOCAL_QUIT,
    LOCAL_TIME,
    LOCAL_AUTH,
    LOCAL_HELLO,
    LOCAL_SELECT,
    LOCAL_RESET,
    LOCAL_READONLY,
    LOCAL_READWRITE,
    LOCAL_CLIENT_SETNAME,
    LOCAL_CLIENT_GETNAME,
    LOCAL_CLIENT_ID,
    LOCAL_CLIENT_INFO,
    LOCAL_CLIENT_LIST,
    LOCAL_CLIENT_SETINFO,
    LOCAL_CLIENT_NO_EVICT,
    LOCAL_CLIENT_NO_TOUCH,
    LOCAL_CLIENT_REPLY,
    LOCAL_CLIENT_TRACKING, /* tracking.c: TRACKING, CACHING, GETREDIR, TRACKINGINFO */
    LOCAL_CLIENT_CACHING,
    LOCAL_CLIENT_GETREDIR,
    LOCAL_CLIENT_TRACKINGINFO,
    LOCAL_CONFIG_SET, /* admin.c: on every node */
    LOCAL_CONFIG_RESETSTAT,
    LOCAL_CONFIG_REWRITE,
    LOCAL_SLOWLOG, /* slowlog.c: GET, LEN, RESET of the proxy's own log */
    LOCAL_CLIENT_PAUSE, /* pause.c */
    LOCAL_CLIENT_UNPAUSE,
    LOCAL_MONITOR, /* monitor.c */
    LOCAL_CLIENT_KILL, /* worker.c, across workers, as CLIENT LIST */
    LOCAL_CLUSTER_INFO,
    LOCAL_CLUSTER_SLOTS,
    LOCAL_CLUSTER_SHARDS,
    LOCAL_CLUSTER_NODES,
    LOCAL_CLUSTER_MYID,
    LOCAL_CLUSTER_KEYSLOT,
    LOCAL_CLUSTER_SLOT_ROUTED, /* COUNTKEYSINSLOT / GETKEYSINSLOT: validated, sent to the owner */
    LOCAL_INFO,
    LOCAL_SCAN,
    LOCAL_ROLE,
    LOCAL_ACL, /* aclcmd.c: every ACL subcommand */
    /* Transactions (txn.c). */
    LOCAL_MULTI,
    LOCAL_EXEC,
    LOCAL_DISCARD,
    LOCAL_WATCH,
    LOCAL_UNWATCH,
    /* Pub/Sub (pubsub.c). */
    LOCAL_SUBSCRIBE,
    LOCAL_PSUBSCRIBE,
    LOCAL_SSUBSCRIBE,
    LOCAL_UNSUBSCRIBE,
    LOCAL_PUNSUBSCRIBE,
    LOCAL_SUNSUBSCRIBE,
};

/* How the proxy handles a command (the overlay in commands.c). */
enum cmd_route {
    ROUTE_FORWARD = 0, /* by its keys to the slot's master (split across slots when merge is
                          set); keyless: any master */
    ROUTE_LOCAL,       /* answered by the proxy (local_id says which handler) */
    ROUTE_UNSUPPORTED, /* refused with the overlay's reason */
    ROUTE_ALL_MASTERS, /* sent to every master, the replies merged as merge says */
};

/* The slot whose master carries every subscription to channels and patterns and every PUBLISH
 * (route.c, pubsub.c): one node sees all of a channel's subscribers, so PUBLISH counts them as
 * one Redis would. Here, below routing, so that the command list can name it. */
#define CMD_PUBSUB_SLOT 0

/* How the replies of a fan-out are merged into one (merge.c, or the executor named). */
enum fan_merge {
    FAN_NONE = 0,
    FAN_KEY_ORDER, /* MGET: one array, elements in the caller's key order */
    FAN_SUM,       /* DEL, EXISTS, DBSIZE, ...: the sum of the integers */
    FAN_ALL_OK,    /* MSET, FLUSHALL, SCRIPT LOAD: the first part's reply, or the first error */
    FAN_ONE_OK,    /* SCRIPT KILL: the first success, or a BUSY error, or the first error */
    FAN_AND,       /* SCRIPT EXISTS: element-wise AND of integer arrays */
    FAN_MIN,       /* LASTSAVE: the smallest integer */
    FAN_CONCAT,    /* KEYS: every array, concatenated */
    FAN_RANDOM,    /* RANDOMKEY: one of the non-nil replies, chosen at random */
    FAN_SCAN,      /* SCAN: one master's page, its cursor rewritten (scan.c) */
    FAN_INFO,      /* INFO: the proxy's sections plus the masters' keyspace (info.c) */
    FAN_UNION,     /* PUBSUB CHANNELS: every array's elements, each once */
    FAN_PAIR_SUM,  /* PUBSUB SHARDNUMSUB: [name, count, ...] arrays, the counts summed */
    FAN_BUSIEST,   /* FUNCTION STATS: the reply of a master running a script, else the first */
    FAN_MAX,       /* PUBSUB NUMPAT: the largest integer */
    FAN_NUMSUB,    /* PUBSUB NUMSUB: as FAN_PAIR_SUM, but the largest count for a channel the
                      proxy subscribes on every master (keyspace notifications) */
};

struct command {
    const char *name; /* lower case; "config|get" for a subcommand */
    int16_t arity;
    uint32_t flags; /* CMD_* */
    uint32_t tips;  /* CMD_TIP_*, CMD_REQ_*, CMD_RESP_* */
    uint8_t nkeyspecs;
    uint8_t nsubs;
    const struct keyspec *keyspecs;
    const struct command *subs; /* subcommands of a container command */
    uint32_t acl_cats;          /* ACL_CAT_*: the command's ACL categories (implicit ones too) */
};

/* The generated table (command_table.c). */
extern const struct command command_table[];
extern const size_t command_table_len;
extern const char command_table_source[];

/* A command with the proxy's decision attached, built at startup. */
struct cmd_entry {
    const struct command *cmd;
    enum cmd_route route;
    int local_id;            /* for ROUTE_LOCAL: which handler (enum local_id) */
    const char *unsupported; /* for ROUTE_UNSUPPORTED: the error text */
    int blocking_arg;        /* blocking only when this keyword is present (XREAD BLOCK) */
    uint8_t own_conn;        /* sent on a connection of its own, never behind other requests:
                                SCRIPT KILL and FUNCTION KILL reach a node busy with a script */
    enum fan_merge merge;    /* ROUTE_ALL_MASTERS, or a ROUTE_FORWARD that may be split */
    uint32_t script_arg;     /* the argument holding a Lua script body (EVAL, SCRIPT LOAD) */
    const struct cmd_entry *subs;
    uint32_t nsubs;
    uint32_t id; /* dense index for statistics */
};

/* Builds the lookup structures. Call once at startup, before any worker runs. */
void commands_init(void);
/* Finds a command by name (case-insensitive, not NUL-terminated). NULL if unknown. */
const struct cmd_entry *commands_lookup(const char *name, size_t len);
/* Finds a subcommand of a container command (case-insensitive). NULL if unknown. */
const struct cmd_entry *commands_lookup_sub(const struct cmd_entry *parent, const char *name,
                                            size_t len);
/* Writes one line per command and subcommand: its name and how the proxy handles it. */
void commands_print(void *out /* FILE * */);
/* Number of entries (commands and subcommands) for per-command statistics. */
uint32_t commands_count(void);
const struct cmd_entry *commands_by_id(uint32_t id);

#endif
