/*
 * Routing; see route.h.
 *
 * The order of the checks is Redis's where Redis has one (an unknown command before its arity,
 * the arity before authentication), then the proxy's own: subscribed mode and transactions
 * first, because they change what every other command means; then the command table's decision
 * (answered here, refused, every master); then the keys. A command whose keys span slots is split
 * when it can be (its arguments are whole key groups and Redis's tips say how to merge); otherwise,
 * with -cross-slot compute, the commands of cross_ops[] are computed by the proxy, and the rest is
 * refused with -CROSSSLOT, as a cluster node would.
 */
#include "route.h"

#include <string.h>
#include <strings.h>

static void refuse(struct route *out, enum px_err e)
{
    out->kind = RT_REFUSE;
    out->err = e;
}

/* 1 when argument i is word (any case). */
static int arg_is(const char *base, const struct resp_span *argv, uint32_t i, const char *word)
{
    size_t l = strlen(word);
    return argv[i].len == l && strncasecmp(base + argv[i].off, word, l) == 0;
}

/*
 * Whether XREAD or XREADGROUP asks to block: a BLOCK option among the options, read as Redis
 * 7.0's xreadCommand reads them (from the first argument until STREAMS; COUNT and BLOCK take a
 * value, GROUP two, NOACK none; anything else is a syntax error, which does not block). A key or
 * an ID spelled "block" is not the option.
 */
static int xread_blocks(const char *base, const struct resp_span *argv, uint32_t argc)
{
    for (uint32_t i = 1; i < argc; i++) {
        uint32_t more = argc - i - 1;
        if (arg_is(base, argv, i, "block") && more) return 1;
        if (arg_is(base, argv, i, "count") && more) {
            i++;
        } else if (arg_is(base, argv, i, "group") && more >= 2) {
            i += 2;
        } else if (!arg_is(base, argv, i, "noack")) {
            return 0; /* STREAMS (the keys and IDs follow), or a syntax error */
        }
    }
    return 0;
}

/* The flags for the scripts the proxy remembers (EVAL, SCRIPT LOAD) or forgets (SCRIPT FLUSH). */
static uint32_t script_flags(const struct cmd_entry *e, uint32_t argc)
{
    uint32_t f = 0;
    if (e->script_arg && e->script_arg < argc) f |= RT_F_SCRIPT;
    if (strcmp(e->cmd->name, "script|flush") == 0) f |= RT_F_SCRIPT_FLUSH;
    return f;
}

/* The one slot of the request's keys, KEYS_SLOT_NONE or KEYS_SLOT_CROSS. */
static int slot_of(const struct cmd_entry *e, const char *base, const struct resp_span *argv,
                   uint32_t argc, const struct keyspace *ks, struct keys_result *keys)
{
    int n = keys_find(e->cmd, base, argv, argc, keys);
    return n > 0 ? keys_slot(keys, base, argv, ks) : KEYS_SLOT_NONE;
}

/* CLUSTER and its subcommands, which a standalone Redis refuses once it knows the subcommand
 * and its arity are right. */
static int is_cluster_command(const struct cmd_entry *e)
{
    return strncmp(e->cmd->name, "cluster|", 8) == 0;
}

int route_split_step(const struct command *c, uint32_t argc)
{
    if (c->nkeyspecs != 1) return 0;
    const struct keyspec *ks = &c->keyspecs[0];
    /* One range of keys from the first argument to the last, every step-th argument a key. */
    if (ks->begin != KS_BEGIN_INDEX || ks->bs_pos != 1 || ks->find != KS_FIND_RANGE ||
        ks->fk[0] != -1 || ks->fk[2] != 0 || ks->fk[1] < 1)
        return 0;
    uint32_t step = (uint32_t)ks->fk[1];
    if (argc < 2 || (argc - 1) % step) return -1;
    return (int)step;
}

/* The commands -cross-slot compute knows how to compute (crossslot.c does it). */
static const struct {
    const char *name;
    enum cross_op op;
} cross_ops[] = {
    {"sunion", CROSS_GATHER},      {"sinter", CROSS_GATHER},      {"sdiff", CROSS_GATHER},
    {"sunionstore", CROSS_GATHER}, {"sinterstore", CROSS_GATHER}, {"sdiffstore", CROSS_GATHER},
    {"sintercard", CROSS_GATHER},  {"zunion", CROSS_GATHER},      {"zinter", CROSS_GATHER},
    {"zdiff", CROSS_GATHER},       {"zunionstore", CROSS_GATHER}, {"zinterstore", CROSS_GATHER},
    {"zdiffstore", CROSS_GATHER},  {"zintercard", CROSS_GATHER},  {"bitop", CROSS_GATHER},
    {"pfcount", CROSS_GATHER},     {"pfmerge", CROSS_GATHER},     {"smove", CROSS_SMOVE},
    {"rename", CROSS_RENAME},      {"renamenx", CROSS_RENAME},    {"copy", CROSS_COPY},
    {"lmove", CROSS_LMOVE},        {"rpoplpush", CROSS_LMOVE},    {"msetnx", CROSS_MSETNX},
};

enum cross_op route_cross_op(const char *name)
{
    for (size_t i = 0; i < sizeof(cross_ops) / sizeof(cross_ops[0]); i++)
        if (strcmp(cross_ops[i].name, name) == 0) return cross_ops[i].op;
    return CROSS_NONE;
}

/* A client that lives for one request (an HTTP request) cannot use what needs the connection to
 * stay: subscriptions (messages come later), transactions (EXEC would come in another request),
 * client-side caching (invalidations come later), CLIENT REPLY (no reply to wait for) and
 * CLIENT INFO (there is no connection to describe). */
static int needs_connection(const struct cmd_entry *e)
{
    int id = e->local_id;
    return (id >= LOCAL_SUBSCRIBE && id <= LOCAL_SUNSUBSCRIBE) ||
           (id >= LOCAL_MULTI && id <= LOCAL_UNWATCH) || id == LOCAL_CLIENT_INFO ||
           id == LOCAL_CLIENT_REPLY || id == LOCAL_CLIENT_TRACKING || id == LOCAL_CLIENT_CACHING ||
           id == LOCAL_MONITOR;
}

/* Subscribed mode over RESP2: only the subscribe commands, PING, QUIT and RESET. Returns 1 when
 * the route is decided (PING is answered locally in its subscribed form, the rest refused). */
static int subscribed_mode(const struct cmd_entry *e, struct route *out)
{
    int id = e->local_id;
    if ((id >= LOCAL_SUBSCRIBE && id <= LOCAL_SUNSUBSCRIBE) || id == LOCAL_QUIT ||
        id == LOCAL_RESET)
        return 0;
    if (id == LOCAL_PING)
        out->kind = RT_LOCAL;
    else
        refuse(out, PXE_PUBSUB_CONTEXT);
    return 1;
}

/* Transactions: MULTI and friends, everything while MULTI is open (QUIT and RESET aside, which
 * Redis answers at once), and while keys are watched the commands for the watched slot, which go
 * on the same connection as the WATCH. Returns 1 when the transaction logic takes the request. */
static int transaction(const struct cmd_entry *e, const struct route_client *c, const char *base,
                       const struct resp_span *argv, uint32_t argc, const struct keyspace *ks,
                       struct keys_result *keys)
{
    int id = e->local_id;
    if (id >= LOCAL_MULTI && id <= LOCAL_UNWATCH) return 1;
    if (c->tx == RT_TX_NONE || id == LOCAL_QUIT || id == LOCAL_RESET) return 0;
    if (c->tx == RT_TX_MULTI) return 1;
    return e->route == ROUTE_FORWARD && c->tx_slot >= 0 &&
           slot_of(e, base, argv, argc, ks, keys) == c->tx_slot;
}

/* COPY src dst DB n with n an integer other than 0. In pool mode it would write into that
 * database of a server, where nothing reads it: every connection to the servers is on database 0
 * (a cluster's node refuses it itself; one that is not an integer gets the server's own error). */
static int copies_to_other_db(const struct command *cmd, const char *base,
                              const struct resp_span *argv, uint32_t argc)
{
    if (strcmp(cmd->name, "copy") != 0) return 0;
    /* Read as Redis reads it: REPLACE and DB n in any order, the last DB counting; a word that
     * is neither, or a DB that is not an integer, gets the server's own error. */
    int other = 0;
    for (uint32_t i = 3; i < argc; i++) {
        if (arg_is(base, argv, i, "replace")) continue;
        if (!arg_is(base, argv, i, "db") || i + 1 >= argc) return 0;
        long long db;
        i++;
        if (!resp_str2ll(base + argv[i].off, argv[i].len, &db)) return 0;
        other = db != 0;
    }
    return other;
}

void route_decide(const char *base, const struct resp_span *argv, uint32_t argc,
                  const struct route_client *c, const struct keyspace *ks,
                  struct keys_result *keys, struct route *out)
{
    memset(out, 0, sizeof(*out));
    out->slot = -1;
    const struct cmd_entry *e = commands_lookup(base + argv[0].off, argv[0].len);
    if (!e) {
        refuse(out, PXE_UNKNOWN_COMMAND);
        return;
    }
    if (e->nsubs && argc >= 2) {
        const struct cmd_entry *sub = commands_lookup_sub(e, base + argv[1].off, argv[1].len);
        if (!sub) {
            refuse(out, PXE_UNKNOWN_SUBCOMMAND);
            return;
        }
        e = sub;
    }
    const struct command *cmd = e->cmd;
    out->cmd = e;
    if ((cmd->arity > 0 && (int)argc != cmd->arity) || (int)argc < -cmd->arity) {
        refuse(out, PXE_WRONG_ARITY);
        return;
    }
    if (!c->authed && !(cmd->flags & CMD_NO_AUTH)) {
        refuse(out, PXE_NOAUTH);
        return;
    }
    if (c->oneshot && needs_connection(e)) {
        refuse(out, PXE_ONESHOT);
        return;
    }
    if (c->subscribed && c->resp == 2 && subscribed_mode(e, out)) return;
    if (ks && ks->pool && copies_to_other_db(cmd, base, argv, argc)) {
        refuse(out, PXE_OTHER_DB);
        return;
    }
    if (transaction(e, c, base, argv, argc, ks, keys)) {
        out->kind = RT_TXN;
        return;
    }
    if (ks && ks->pool && is_cluster_command(e)) {
        refuse(out, PXE_CLUSTER_DISABLED);
        return;
    }
    switch (e->route) {
    case ROUTE_LOCAL: out->kind = RT_LOCAL; return;
    case ROUTE_UNSUPPORTED: refuse(out, PXE_UNSUPPORTED); return;
    case ROUTE_ALL_MASTERS:
        out->kind = RT_ALL_MASTERS;
        out->merge = e->merge;
        out->flags = script_flags(e, argc);
        /* WAIT: every part blocks; SCRIPT KILL must not wait behind the script it stops. */
        if ((cmd->flags & CMD_BLOCKING) || e->own_conn) out->flags |= RT_F_BLOCKING;
        return;
    case ROUTE_FORWARD: break;
    }
    /* It may block (XREAD only with BLOCK): a private connection of its own, and the client's
     * later requests wait for it, as they would behind it on a Redis connection. */
    if ((cmd->flags & CMD_BLOCKING) && (!e->blocking_arg || xread_blocks(base, argv, argc)))
        out->flags |= RT_F_BLOCKING;
    int slot = slot_of(e, base, argv, argc, ks, keys);
    if (slot == KEYS_SLOT_CROSS) {
        int step = e->merge != FAN_NONE ? route_split_step(cmd, argc) : 0;
        enum cross_op op = c->cross_compute && step == 0 ? route_cross_op(cmd->name) : CROSS_NONE;
        if (step > 0) {
            out->kind = RT_SPLIT;
            out->merge = e->merge;
            out->split_step = (uint32_t)step;
        } else if (op == CROSS_MSETNX && (argc - 1) % 2) {
            refuse(out, PXE_WRONG_ARITY); /* MSETNX k1 v1 k2: as Redis says */
        } else if (op != CROSS_NONE) {
            out->kind = RT_COMPUTE;
            out->cross = op;
        } else {
            refuse(out, step < 0                ? PXE_WRONG_ARITY
                        : ks && ks->pool ? PXE_CROSSSERVER
                                         : PXE_CROSSSLOT);
        }
        return;
    }
    if (e->script_arg) out->flags |= script_flags(e, argc);
    /* PUBLISH goes where the subscriptions are (ROUTE_PUBSUB_SLOT's master), so that its count
     * of receivers is every subscriber's, as on one Redis. */
    if (slot == KEYS_SLOT_NONE && (cmd->flags & CMD_PUBSUB)) slot = ROUTE_PUBSUB_SLOT;
    out->slot = slot;
    out->kind = slot >= 0 ? RT_SLOT : RT_ANY_MASTER;
}
