/*
 * Command lookup and the proxy's overlay on Redis's table. The generated table says what each
 * command is (arity, flags, keys, tips); the overlay below says what the proxy does with it.
 * Lookup is a case-insensitive open-addressing hash over the command names, built once at
 * startup and read-only afterwards, so every worker reads it without locks.
 */
#include "commands.h"

#include "local.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CMD_HASH_SIZE 1024 /* power of two, comfortably above twice the command count */

static struct cmd_entry *entries;
static uint32_t nentries;
static const struct cmd_entry *hash_tab[CMD_HASH_SIZE];

/* Texts after "-ERR '<name>' ". */
#define NOT_YET     "is not supported by this version of slotproxy"
#define ONE_NODE    "cannot be used through slotproxy: it administers a single node"
#define REPLICATION "cannot be used through slotproxy: it is part of the replication protocol"

struct overlay {
    const char *name;
    enum cmd_route route;
    int local_id;
    const char *reason;
};

static const struct overlay overlays[] = {
    /* Answered by the proxy. */
    {"ping", ROUTE_LOCAL, LOCAL_PING, NULL},
    {"echo", ROUTE_LOCAL, LOCAL_ECHO, NULL},
    {"quit", ROUTE_LOCAL, LOCAL_QUIT, NULL},
    /* Connection state: the shared backend connections must never see these. */
    {"auth", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"hello", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"select", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"reset", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"client", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"readonly", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"readwrite", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"asking", ROUTE_UNSUPPORTED, 0, "is used by the proxy itself and cannot be sent by clients"},
    {"multi", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"exec", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"discard", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"watch", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"unwatch", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"subscribe", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"psubscribe", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"ssubscribe", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"unsubscribe", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"punsubscribe", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"sunsubscribe", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"pubsub", ROUTE_UNSUPPORTED, 0, NOT_YET},
    /* Whole-keyspace commands that need a fan-out. */
    {"dbsize", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"keys", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"scan", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"randomkey", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"flushall", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"flushdb", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"script", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"function", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"info", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"cluster", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"wait", ROUTE_UNSUPPORTED, 0, NOT_YET},
    {"lastsave", ROUTE_UNSUPPORTED, 0, NOT_YET},
    /* Cannot work through a proxy. */
    {"monitor", ROUTE_UNSUPPORTED, 0,
     "cannot be used through slotproxy: it streams one node's "
     "commands on the connection"},
    {"sync", ROUTE_UNSUPPORTED, 0, REPLICATION},
    {"psync", ROUTE_UNSUPPORTED, 0, REPLICATION},
    {"replconf", ROUTE_UNSUPPORTED, 0, REPLICATION},
    {"move", ROUTE_UNSUPPORTED, 0,
     "cannot be used in cluster mode: it needs more than one database"},
    {"swapdb", ROUTE_UNSUPPORTED, 0,
     "cannot be used in cluster mode: it needs more than one database"},
    {"migrate", ROUTE_UNSUPPORTED, 0, ONE_NODE},
};

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

/* The default decision for a command the overlay does not name, from Redis's metadata. */
static void decide(struct cmd_entry *e, const struct cmd_entry *parent)
{
    const struct command *c = e->cmd;
    const struct overlay *o = find_overlay(c->name);
    if (!o && parent) {
        /* A subcommand inherits its container's overlay (CLIENT, SCRIPT, ...). */
        char base[64];
        snprintf(base, sizeof(base), "%s", parent->cmd->name);
        o = find_overlay(base);
    }
    if (o) {
        e->route = o->route;
        e->local_id = o->local_id;
        e->unsupported = o->reason;
        return;
    }
    e->route = ROUTE_FORWARD;
    if (c->flags & CMD_ADMIN) {
        e->route = ROUTE_UNSUPPORTED;
        e->unsupported = ONE_NODE;
    } else if (c->flags & CMD_BLOCKING) {
        /* XREAD and XREADGROUP block only with BLOCK; the rest always may. */
        if (strcmp(c->name, "xread") == 0 || strcmp(c->name, "xreadgroup") == 0) {
            e->blocking_arg = 1;
        } else {
            e->route = ROUTE_UNSUPPORTED;
            e->unsupported = NOT_YET;
        }
    } else if (c->flags & CMD_PUBSUB) {
        /* PUBLISH is broadcast by the cluster and SPUBLISH routes by its channel: both can be
         * forwarded. */
    } else if ((c->tips & (CMD_REQ_ALL_NODES | CMD_REQ_ALL_SHARDS | CMD_REQ_SPECIAL)) &&
               c->nkeyspecs == 0) {
        e->route = ROUTE_UNSUPPORTED;
        e->unsupported = NOT_YET;
    }
}

static void add_entry(struct cmd_entry *e, const struct command *c, const struct cmd_entry *parent)
{
    e->cmd = c;
    e->id = (uint32_t)(e - entries);
    decide(e, parent);
}

void commands_init(void)
{
    if (entries) return;
    uint32_t n = 0;
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
        }
        size_t len = strlen(c->name);
        uint32_t h = name_hash(c->name, len) & (CMD_HASH_SIZE - 1);
        while (hash_tab[h]) h = (h + 1) & (CMD_HASH_SIZE - 1);
        hash_tab[h] = e;
    }
    nentries = k;
}

const struct cmd_entry *commands_lookup(const char *name, size_t len)
{
    /* A NUL inside the name would let strncasecmp stop early on both sides and compare a name
     * with the shorter one in the table: no command has one, so it is simply unknown. */
    if (memchr(name, '\0', len)) return NULL;
    uint32_t h = name_hash(name, len) & (CMD_HASH_SIZE - 1);
    for (;;) {
        const struct cmd_entry *e = hash_tab[h];
        if (!e) return NULL;
        const char *n = e->cmd->name;
        if (strncasecmp(n, name, len) == 0 && n[len] == '\0') return e;
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

uint32_t commands_count(void)
{
    return nentries;
}

const struct cmd_entry *commands_by_id(uint32_t id)
{
    return id < nentries ? &entries[id] : NULL;
}
