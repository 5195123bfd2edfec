/*
 * Command lookup and the proxy's overlay on Redis's table. The generated table says what each
 * command is (arity, flags, keys, tips); the overlay below says what the proxy does with it.
 * Lookup is a case-insensitive open-addressing hash over the command names, built once at
 * startup and read-only afterwards, so every worker reads it without locks.
 */
#include "commands.h"

#include "errors.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CMD_HASH_SIZE 1024 /* power of two, comfortably above twice the command count */

static struct cmd_entry *entries;
static uint32_t nentries;
static const struct cmd_entry *hash_tab[CMD_HASH_SIZE];

/* Why a command is refused: the text (errors.c) follows "-ERR '<name>' ". */
#define NOT_YET     PXU_NOT_YET
#define ONE_NODE    PXU_ONE_NODE
#define NODE_REPORT PXU_NODE_REPORT
#define REPLICATION PXU_REPLICATION
#define ONE_DB      PXU_ONE_DB
#define NO_REASON   (-1)

struct overlay {
    const char *name;
    enum cmd_route route;
    int local_id;
    int reason; /* enum px_unsupported, for ROUTE_UNSUPPORTED; NO_REASON otherwise */
    enum fan_merge merge;
};

/*
 * The exceptions to what Redis's metadata implies (see decide()). Everything not named here is
 * routed from its flags and tips: keyed commands by slot, multi_shard ones split per slot,
 * all_shards/all_nodes ones sent to every master and merged by their response policy.
 */
static const struct overlay overlays[] = {
    /* Answered by the proxy. */
    {"ping", ROUTE_LOCAL, LOCAL_PING, NO_REASON, FAN_NONE},
    {"echo", ROUTE_LOCAL, LOCAL_ECHO, NO_REASON, FAN_NONE},
    {"quit", ROUTE_LOCAL, LOCAL_QUIT, NO_REASON, FAN_NONE},
    {"time", ROUTE_LOCAL, LOCAL_TIME, NO_REASON, FAN_NONE},
    {"auth", ROUTE_LOCAL, LOCAL_AUTH, NO_REASON, FAN_NONE},
    {"hello", ROUTE_LOCAL, LOCAL_HELLO, NO_REASON, FAN_NONE},
    {"select", ROUTE_LOCAL, LOCAL_SELECT, NO_REASON, FAN_NONE},
    {"reset", ROUTE_LOCAL, LOCAL_RESET, NO_REASON, FAN_NONE},
    {"readonly", ROUTE_LOCAL, LOCAL_READONLY, NO_REASON, FAN_NONE},
    {"readwrite", ROUTE_LOCAL, LOCAL_READWRITE, NO_REASON, FAN_NONE},
    {"client|setname", ROUTE_LOCAL, LOCAL_CLIENT_SETNAME, NO_REASON, FAN_NONE},
    {"client|getname", ROUTE_LOCAL, LOCAL_CLIENT_GETNAME, NO_REASON, FAN_NONE},
    {"client|id", ROUTE_LOCAL, LOCAL_CLIENT_ID, NO_REASON, FAN_NONE},
    {"client|info", ROUTE_LOCAL, LOCAL_CLIENT_INFO, NO_REASON, FAN_NONE},
    {"client|list", ROUTE_LOCAL, LOCAL_CLIENT_LIST, NO_REASON, FAN_NONE},
    {"client|setinfo", ROUTE_LOCAL, LOCAL_CLIENT_SETINFO, NO_REASON, FAN_NONE},
    {"client|no-evict", ROUTE_LOCAL, LOCAL_CLIENT_NO_EVICT, NO_REASON, FAN_NONE},
    {"client|no-touch", ROUTE_LOCAL, LOCAL_CLIENT_NO_TOUCH, NO_REASON, FAN_NONE},
    {"client|reply", ROUTE_LOCAL, LOCAL_CLIENT_REPLY, NO_REASON, FAN_NONE},
    {"client|tracking", ROUTE_LOCAL, LOCAL_CLIENT_TRACKING, NO_REASON, FAN_NONE},
    {"client|pause", ROUTE_LOCAL, LOCAL_CLIENT_PAUSE, NO_REASON, FAN_NONE},
    {"client|kill", ROUTE_LOCAL, LOCAL_CLIENT_KILL, NO_REASON, FAN_NONE},
    {"client|unpause", ROUTE_LOCAL, LOCAL_CLIENT_UNPAUSE, NO_REASON, FAN_NONE},
    {"client|caching", ROUTE_LOCAL, LOCAL_CLIENT_CACHING, NO_REASON, FAN_NONE},
    {"client|getredir", ROUTE_LOCAL, LOCAL_CLIENT_GETREDIR, NO_REASON, FAN_NONE},
    {"client|trackinginfo", ROUTE_LOCAL, LOCAL_CLIENT_TRACKINGINFO, NO_REASON, FAN_NONE},
    {"client|help", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    {"client", ROUTE_UNSUPPORTED, 0, NOT_YET, FAN_NONE}, /* KILL, PAUSE, TRACKING, ... */
    {"cluster|info", ROUTE_LOCAL, LOCAL_CLUSTER_INFO, NO_REASON, FAN_NONE},
    {"cluster|slots", ROUTE_LOCAL, LOCAL_CLUSTER_SLOTS, NO_REASON, FAN_NONE},
    {"cluster|shards", ROUTE_LOCAL, LOCAL_CLUSTER_SHARDS, NO_REASON, FAN_NONE},
    {"cluster|nodes", ROUTE_LOCAL, LOCAL_CLUSTER_NODES, NO_REASON, FAN_NONE},
    {"cluster|myid", ROUTE_LOCAL, LOCAL_CLUSTER_MYID, NO_REASON, FAN_NONE},
    {"cluster|keyslot", ROUTE_LOCAL, LOCAL_CLUSTER_KEYSLOT, NO_REASON, FAN_NONE},
    {"cluster|countkeysinslot", ROUTE_LOCAL, LOCAL_CLUSTER_SLOT_ROUTED, NO_REASON, FAN_NONE},
    {"cluster|getkeysinslot", ROUTE_LOCAL, LOCAL_CLUSTER_SLOT_ROUTED, NO_REASON, FAN_NONE},
    {"cluster|help", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    {"cluster", ROUTE_UNSUPPORTED, 0, ONE_NODE, FAN_NONE},
    {"info", ROUTE_LOCAL, LOCAL_INFO, NO_REASON, FAN_INFO},
    {"role", ROUTE_LOCAL, LOCAL_ROLE, NO_REASON, FAN_NONE},
    {"acl", ROUTE_LOCAL, LOCAL_ACL, NO_REASON, FAN_NONE}, /* the proxy's own users */
    {"scan", ROUTE_LOCAL, LOCAL_SCAN, NO_REASON, FAN_SCAN},
    /* Whole keyspace, where the tips alone do not say it all. */
    {"randomkey", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_RANDOM},
    {"lastsave", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_MIN},
    {"keys", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_CONCAT},
    /* The running script is on one master: asked of all, on connections of their own (the shared
     * one waits behind the script). */
    {"function|stats", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_BUSIEST},
    {"memory|purge", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_ALL_OK},
    {"memory|doctor", ROUTE_UNSUPPORTED, 0, NODE_REPORT, FAN_NONE},
    {"memory|stats", ROUTE_UNSUPPORTED, 0, NODE_REPORT, FAN_NONE},
    {"memory|malloc-stats", ROUTE_UNSUPPORTED, 0, NODE_REPORT, FAN_NONE},
    /* Keys in different slots would make MSETNX half-applied: it keeps Redis's CROSSSLOT. */
    {"msetnx", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    /* Harmless reads of one node's configuration (some libraries ask on connect). */
    {"config|get", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    /* Every node, replicas included (admin.c). */
    {"config|set", ROUTE_LOCAL, LOCAL_CONFIG_SET, NO_REASON, FAN_NONE},
    {"config|resetstat", ROUTE_LOCAL, LOCAL_CONFIG_RESETSTAT, NO_REASON, FAN_NONE},
    {"config|rewrite", ROUTE_LOCAL, LOCAL_CONFIG_REWRITE, NO_REASON, FAN_NONE},
    /* The proxy's own slow log (slowlog.c): the commands this server was slow to answer. */
    {"slowlog|get", ROUTE_LOCAL, LOCAL_SLOWLOG, NO_REASON, FAN_NONE},
    {"slowlog|len", ROUTE_LOCAL, LOCAL_SLOWLOG, NO_REASON, FAN_NONE},
    {"slowlog|reset", ROUTE_LOCAL, LOCAL_SLOWLOG, NO_REASON, FAN_NONE},
    {"slowlog|help", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    {"config|help", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    {"asking", ROUTE_UNSUPPORTED, 0, PXU_ASKING, FAN_NONE},
    /* Transactions (txn.c decides first; these answer when no transaction is going on). */
    {"multi", ROUTE_LOCAL, LOCAL_MULTI, NO_REASON, FAN_NONE},
    {"exec", ROUTE_LOCAL, LOCAL_EXEC, NO_REASON, FAN_NONE},
    {"discard", ROUTE_LOCAL, LOCAL_DISCARD, NO_REASON, FAN_NONE},
    {"watch", ROUTE_LOCAL, LOCAL_WATCH, NO_REASON, FAN_NONE},
    {"unwatch", ROUTE_LOCAL, LOCAL_UNWATCH, NO_REASON, FAN_NONE},
    /* Pub/Sub (pubsub.c): subscriptions on private connections; introspection over masters. */
    {"subscribe", ROUTE_LOCAL, LOCAL_SUBSCRIBE, NO_REASON, FAN_NONE},
    {"psubscribe", ROUTE_LOCAL, LOCAL_PSUBSCRIBE, NO_REASON, FAN_NONE},
    {"ssubscribe", ROUTE_LOCAL, LOCAL_SSUBSCRIBE, NO_REASON, FAN_NONE},
    {"unsubscribe", ROUTE_LOCAL, LOCAL_UNSUBSCRIBE, NO_REASON, FAN_NONE},
    {"punsubscribe", ROUTE_LOCAL, LOCAL_PUNSUBSCRIBE, NO_REASON, FAN_NONE},
    {"sunsubscribe", ROUTE_LOCAL, LOCAL_SUNSUBSCRIBE, NO_REASON, FAN_NONE},
    {"pubsub|channels", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_UNION},
    {"pubsub|shardchannels", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_UNION},
    {"pubsub|numsub", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_NUMSUB},
    {"pubsub|shardnumsub", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_PAIR_SUM},
    {"pubsub|numpat", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_MAX},
    {"pubsub|help", ROUTE_FORWARD, 0, NO_REASON, FAN_NONE},
    {"wait", ROUTE_ALL_MASTERS, 0, NO_REASON, FAN_MIN},
    {"script|debug", ROUTE_UNSUPPORTED, 0, PXU_SCRIPT_DEBUG, FAN_NONE},
    /* Cannot work through a proxy. */
    {"monitor", ROUTE_LOCAL, LOCAL_MONITOR, NO_REASON, FAN_NONE},
    {"sync", ROUTE_UNSUPPORTED, 0, REPLICATION, FAN_NONE},
    {"psync", ROUTE_UNSUPPORTED, 0, REPLICATION, FAN_NONE},
    {"replconf", ROUTE_UNSUPPORTED, 0, REPLICATION, FAN_NONE},
    {"move", ROUTE_UNSUPPORTED, 0, ONE_DB, FAN_NONE},
    {"swapdb", ROUTE_UNSUPPORTED, 0, ONE_DB, FAN_NONE},
    {"migrate", ROUTE_UNSUPPORTED, 0, ONE_NODE, FAN_NONE},
};

/* Subcommands newer than the generated table (Redis 7.2) that clients send on connect. */
static const struct command client_extra[] = {
    {"client|setinfo", 4, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE, 0, 0, 0, NULL, NULL,
     ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client|no-touch", 3, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE, 0, 0, 0, NULL, NULL,
     ACL_CAT_SLOW | ACL_CAT_CONNECTION},
};
#define NCLIENT_EXTRA (sizeof(client_extra) / sizeof(client_extra[0]))

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static const struct overlay *find_overlay(const char *name)
{
    for (size_t i = 0; i < sizeof(overlays) / sizeof(overlays[0]); i++)
        if (strcmp(overlays[i].name, name) == 0) return &overlays[i];
    return NULL;
}

static enum fan_merge merge_from_tips(uint32_t tips, enum fan_merge dflt)
{
    if (tips & CMD_RESP_AGG_SUM) return FAN_SUM;
    if (tips & CMD_RESP_ALL_SUCCEEDED) return FAN_ALL_OK;
    if (tips & CMD_RESP_ONE_SUCCEEDED) return FAN_ONE_OK;
    if (tips & CMD_RESP_AGG_LOGICAL_AND) return FAN_AND;
    if (tips & CMD_RESP_AGG_MIN) return FAN_MIN;
    if (tips & CMD_RESP_SPECIAL) return FAN_NONE;
    return dflt;
}

/* The decision for a command, from the overlay or else from Redis's metadata. */
static void decide(struct cmd_entry *e, const struct cmd_entry *parent)
{
    const struct command *c = e->cmd;
    /* The node is busy running the script they stop: the shared connection waits behind it.
     * WAIT blocks its connection up to its timeout (Redis does not flag it as blocking). */
    e->own_conn = strcmp(c->name, "script|kill") == 0 || strcmp(c->name, "function|kill") == 0 ||
                  strcmp(c->name, "function|stats") == 0 || strcmp(c->name, "wait") == 0;
    const struct overlay *o = find_overlay(c->name);
    if (!o && parent) {
        /* A subcommand inherits its container's overlay (CLIENT KILL, CLUSTER SETSLOT, ...). */
        o = find_overlay(parent->cmd->name);
    }
    if (o) {
        e->route = o->route;
        e->local_id = o->local_id;
        e->unsupported = o->reason == NO_REASON ? NULL : errors_unsupported_text(o->reason);
        e->merge = o->merge;
        return;
    }
    e->route = ROUTE_FORWARD;
    if (c->flags & CMD_ADMIN) {
        e->route = ROUTE_UNSUPPORTED;
        e->unsupported = errors_unsupported_text(ONE_NODE);
    } else if (c->flags & CMD_BLOCKING) {
        /* Sent on a private connection (dispatch.c). XREAD and XREADGROUP block only with
         * BLOCK; the rest always may. */
        if (strcmp(c->name, "xread") == 0 || strcmp(c->name, "xreadgroup") == 0)
            e->blocking_arg = 1;
    } else if (c->tips & CMD_REQ_MULTI_SHARD) {
        /* Split across slots; no response policy means "the values in key order" (MGET). */
        e->merge = merge_from_tips(c->tips, FAN_KEY_ORDER);
    } else if ((c->tips & (CMD_REQ_ALL_SHARDS | CMD_REQ_ALL_NODES)) && c->nkeyspecs == 0) {
        e->route = ROUTE_ALL_MASTERS;
        e->merge = merge_from_tips(c->tips, FAN_CONCAT);
        if (e->merge == FAN_NONE) { /* a special response policy with no merge of ours */
            e->route = ROUTE_UNSUPPORTED;
            e->unsupported = errors_unsupported_text(NODE_REPORT);
        }
    } else if (c->tips & CMD_REQ_SPECIAL) {
        e->route = ROUTE_UNSUPPORTED;
        e->unsupported = errors_unsupported_text(NOT_YET);
    }
}

static void add_entry(struct cmd_entry *e, const struct command *c, const struct cmd_entry *parent)
{
    e->cmd = c;
    e->id = (uint32_t)(e - entries);
    decide(e, parent);
    if (strcmp(c->name, "eval") == 0 || strcmp(c->name, "eval_ro") == 0) e->script_arg = 1;
    if (strcmp(c->name, "script|load") == 0) e->script_arg = 2;
}

void commands_init(void)
{
    if (entries) return;
    uint32_t n = NCLIENT_EXTRA;
    for (size_t i = 0; i < command_table_len; i++) n += 1 + command_table[i].nsubs;
    entries = px_calloc(n, sizeof(*entries));
    uint32_t k = 0;
    for (size_t i = 0; i < command_table_len; i++) {
        const struct command *c = &command_table[i];
        struct cmd_entry *e = &entries[k++];
        add_entry(e, c, NULL);
        if (c->nsubs) {
            e->subs = &entries[k];
            e->nsubs = c->nsubs;
            for (uint32_t j = 0; j < c->nsubs; j++) add_entry(&entries[k++], &c->subs[j], e);
            if (strcmp(c->name, "client") == 0) {
                for (uint32_t j = 0; j < NCLIENT_EXTRA; j++) {
                    /* Only when the table does not have them already. */
                    if (commands_lookup_sub(e, client_extra[j].name + 7,
                                            strlen(client_extra[j].name + 7)))
                        continue;
                    add_entry(&entries[k++], &client_extra[j], e);
                    e->nsubs++;
                }
            }
        }
        size_t len = strlen(c->name);
        uint32_t h = name_hash(c->name, len) & (CMD_HASH_SIZE - 1);
        while (hash_tab[h]) h = (h + 1) & (CMD_HASH_SIZE - 1);
        hash_tab[h] = e;
    }
    nentries = k;
}

/* Whether name (len bytes, any case) is the table's lowercase name n. A NUL inside name never
 * matches, since n's bytes before its end are not NUL. */
static int name_is(const char *n, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + ('a' - 'A'));
        if (n[i] != c || c == '\0') return 0;
    }
    return n[len] == '\0';
}

const struct cmd_entry *commands_lookup(const char *name, size_t len)
{
    uint32_t h = name_hash(name, len) & (CMD_HASH_SIZE - 1);
    for (;;) {
        const struct cmd_entry *e = hash_tab[h];
        if (!e) return NULL;
        if (name_is(e->cmd->name, name, len)) return e;
        h = (h + 1) & (CMD_HASH_SIZE - 1);
    }
}

const struct cmd_entry *commands_lookup_sub(const struct cmd_entry *parent, const char *name,
                                            size_t len)
{
    size_t plen = strlen(parent->cmd->name) + 1; /* "config|" */
    if (memchr(name, '\0', len)) return NULL;
    for (uint32_t i = 0; i < parent->nsubs; i++) {
        const char *n = parent->subs[i].cmd->name + plen;
        if (strncasecmp(n, name, len) == 0 && n[len] == '\0') return &parent->subs[i];
    }
    return NULL;
}

static const char *merge_name(enum fan_merge m)
{
    switch (m) {
    case FAN_KEY_ORDER: return "values in key order";
    case FAN_SUM: return "sum";
    case FAN_ALL_OK: return "OK when all succeed, else the first error";
    case FAN_ONE_OK: return "OK when one succeeds";
    case FAN_AND: return "logical AND";
    case FAN_MIN: return "minimum";
    case FAN_CONCAT: return "arrays concatenated";
    case FAN_RANDOM: return "a random non-nil reply";
    case FAN_SCAN: return "cursor over every master";
    case FAN_INFO: return "proxy sections + keyspace summed";
    case FAN_UNION: return "union";
    case FAN_PAIR_SUM: return "counts summed per channel";
    case FAN_BUSIEST: return "the master running a script";
    case FAN_MAX: return "maximum";
    case FAN_NUMSUB:
        return "counts summed per channel; for a keyspace-notification channel, which the proxy "
               "subscribes on every master, the largest";
    default: return "";
    }
}

void commands_print(void *outp)
{
    FILE *out = outp;
    for (uint32_t i = 0; i < nentries; i++) {
        const struct cmd_entry *e = &entries[i];
        if (e->nsubs) continue; /* the container itself: its subcommands say it all */
        const char *how = "";
        char detail[160] = "";
        switch (e->route) {
        case ROUTE_FORWARD:
            if (e->cmd->nkeyspecs == 0 && (e->cmd->flags & CMD_PUBSUB)) {
                /* PUBLISH: route.c sends keyless Pub/Sub commands to CMD_PUBSUB_SLOT's master. */
                how = "to the master of slot";
                snprintf(detail, sizeof(detail),
                         " %d, where the proxy subscribes to channels and patterns",
                         CMD_PUBSUB_SLOT);
            } else if (e->cmd->nkeyspecs == 0) {
                how = "forwarded to any master";
            } else if (e->merge != FAN_NONE) {
                how = "by slot; split across slots";
                snprintf(detail, sizeof(detail), " (merge: %s)", merge_name(e->merge));
            } else {
                how = "by slot (keys must share one)";
            }
            break;
        case ROUTE_LOCAL:
            how = e->local_id == LOCAL_CLUSTER_SLOT_ROUTED
                      ? "checked by the proxy, answered by the master of the slot it names"
                      : "answered by the proxy";
            if (e->merge != FAN_NONE)
                snprintf(detail, sizeof(detail), " (%s)", merge_name(e->merge));
            break;
        case ROUTE_ALL_MASTERS:
            how = "every master";
            snprintf(detail, sizeof(detail), " (merge: %s)", merge_name(e->merge));
            break;
        case ROUTE_UNSUPPORTED:
            how = "refused";
            snprintf(detail, sizeof(detail), ": %s", e->unsupported);
            break;
        }
        char name[64];
        snprintf(name, sizeof(name), "%s", e->cmd->name);
        for (char *p = name; *p; p++) {
            if (*p == '|')
                *p = ' ';
            else if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 32);
        }
        fprintf(out, "%-28s %s%s%s\n", name, how, detail,
                e->blocking_arg ? " (with BLOCK: on a connection of its own)" : "");
    }
}

uint32_t commands_count(void)
{
    return nentries;
}

const struct cmd_entry *commands_by_id(uint32_t id)
{
    return id < nentries ? &entries[id] : NULL;
}
