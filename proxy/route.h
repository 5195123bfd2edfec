/*
 * Routing: where a command goes. route_decide() is a pure function of the request's arguments,
 * the keyspace its keys are placed in (Redis Cluster's CRC16 slots, or in pool mode the servers
 * of a pool: cluster/keyspace.h), and the few facts about its client that matter
 * (authenticated, subscribed, in a transaction);
 * it looks the command up, checks its arity and authentication, finds its keys and their slot,
 * and says which executor serves it: an answer of the proxy's own, a refusal with which error, one
 * slot, any master, a split across slots, every master, or the transaction logic. It touches no
 * socket, no session and no worker, so tests/unit/test_route.c checks it over the whole command
 * table. This is the one place to read to learn where any command goes; the executors named in
 * enum route_kind do the rest.
 */
#ifndef PX_ROUTE_H
#define PX_ROUTE_H

#include "commands.h"
#include "errors.h"
#include "keys.h"
#include "keyspace.h"
#include "resp.h"

#include <stdint.h>

enum route_kind {
    RT_REFUSE = 0,  /* answered with the error `err` (errors_route renders it) */
    RT_LOCAL,       /* answered by the proxy: the handler is cmd->local_id */
    RT_TXN,         /* transaction logic (txn.c): MULTI ... EXEC, WATCH, queued commands */
    RT_SLOT,        /* to the master (or a replica, for reads) serving `slot` (forward.c) */
    RT_ANY_MASTER,  /* a keyless command: any master (forward.c) */
    RT_SPLIT,       /* keys span slots: one part per slot, merged by `merge` (fanout.c) */
    RT_ALL_MASTERS, /* the whole keyspace: every master, merged by `merge` (fanout.c) */
    RT_COMPUTE,     /* keys span slots and -cross-slot compute is on: the proxy computes the
                       answer from the nodes' data as `cross` says (crossslot.c) */
};

/* How a command whose keys span slots is computed (-cross-slot compute). */
enum cross_op {
    CROSS_NONE = 0,
    CROSS_GATHER, /* the keys outside the first key's slot are copied (DUMP/RESTORE) next to it
                     under temporary names, and the command runs there on the copies: SUNION,
                     SINTER, SDIFF(STORE), SINTERCARD, ZUNION, ZINTER, ZDIFF(STORE),
                     ZINTERCARD, BITOP, PFCOUNT, PFMERGE */
    CROSS_SMOVE,  /* SREM from the source, SADD to the destination */
    CROSS_RENAME, /* RENAME, RENAMENX: the source parked, restored at the destination */
    CROSS_COPY,   /* COPY: DUMP, RESTORE */
    CROSS_LMOVE,  /* LMOVE, RPOPLPUSH: pop, push */
    CROSS_MSETNX, /* EXISTS per slot, then MSETNX per slot, undone if one slot refuses */
};

enum {
    RT_F_BLOCKING = 1u << 0,     /* may block: a private connection of its own (forward.c) */
    RT_F_SCRIPT = 1u << 1,       /* carries a script body to remember (argument script_arg) */
    RT_F_SCRIPT_FLUSH = 1u << 2, /* SCRIPT FLUSH: forget the remembered scripts */
};

/* The slot whose master carries every subscription and every PUBLISH (commands.h says why). */
#define ROUTE_PUBSUB_SLOT CMD_PUBSUB_SLOT

/* The transaction state of a client, as routing sees it. */
enum route_tx { RT_TX_NONE = 0, RT_TX_WATCHING, RT_TX_MULTI };

/* What routing needs to know of the client that sent the request. */
struct route_client {
    uint8_t authed;     /* authenticated, or no password required */
    uint8_t resp;       /* protocol version (2 or 3) */
    uint8_t subscribed; /* has a channel, pattern or shard channel */
    uint8_t tx;         /* enum route_tx */
    int tx_slot;        /* while watching: the slot of the watched keys, when a connection holds
                           them; -1 otherwise */
    uint8_t oneshot;    /* the client lives for one request (the HTTP front): commands whose
                           effect needs the connection to stay (subscriptions, transactions,
                           CLIENT INFO/REPLY) are refused */
    uint8_t cross_compute; /* -cross-slot compute: the proxy's option, not the client's; carried
                              here so that routing stays a function of its arguments */
};

struct route {
    enum route_kind kind;
    enum px_err err;             /* RT_REFUSE: which error */
    const struct cmd_entry *cmd; /* the command (or subcommand), NULL when unknown */
    int slot;                    /* RT_SLOT: the slot; -1 otherwise */
    uint32_t flags;              /* RT_F_* */
    enum fan_merge merge;        /* RT_SPLIT and RT_ALL_MASTERS: how the replies are merged */
    uint32_t split_step;         /* RT_SPLIT: arguments per key group (MSET: 2) */
    enum cross_op cross;         /* RT_COMPUTE: how */
};

/*
 * Decides where the request whose arguments are argv[0 .. argc) (spans into base; argc >= 1)
 * goes for client c, its keys placed by ks (NULL: Redis Cluster's slots; in pool mode the slot
 * is a server, and the CLUSTER commands are refused as a standalone Redis refuses them). keys
 * is scratch space for the key finder (it holds the keys found on return). Always fills out;
 * never fails.
 */
void route_decide(const char *base, const struct resp_span *argv, uint32_t argc,
                  const struct route_client *c, const struct keyspace *ks,
                  struct keys_result *keys, struct route *out);

/*
 * Whether a command whose keys span slots can be split into one command per slot: only when its
 * arguments are all key groups of the same size (MGET key..., MSET key value..., DEL key...).
 * Returns the group size (>= 1), 0 when the command cannot be split, or -1 when its arguments do
 * not make whole groups (MSET k1 v1 k2: a wrong number of arguments, as Redis says).
 */
int route_split_step(const struct command *c, uint32_t argc);

/* How -cross-slot compute computes the command named name (the table's lower-case name), or
 * CROSS_NONE when it cannot be computed across slots. */
enum cross_op route_cross_op(const char *name);

#endif
