/*
 * Unit tests for proxy/commands: the generated command table (sanity of every entry) and the
 * lookup built on it: case-insensitive names that are spans rather than C strings, subcommands,
 * and the proxy's routing overlay. Arities quoted here are what redis-server 7.0.15 says in
 * COMMAND INFO.
 */
#include "suites.h"

#include "commands.h"
#include "local.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cmd_entry *lookup(const char *name)
{
    return commands_lookup(name, strlen(name));
}

static const struct cmd_entry *lookup_sub(const char *parent, const char *sub)
{
    const struct cmd_entry *p = lookup(parent);
    ck_assert_msg(p != NULL, "no command %s", parent);
    return commands_lookup_sub(p, sub, strlen(sub));
}

START_TEST(test_commands_lookup_case)
{
    commands_init();
    commands_init(); /* idempotent */
    const struct cmd_entry *e = lookup("GET");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->cmd->name, "get");
    ck_assert_int_eq(e->cmd->arity, 2);
    ck_assert_ptr_eq(lookup("get"), e);
    ck_assert_ptr_eq(lookup("GeT"), e);
    ck_assert_ptr_eq(lookup("gET"), e);
    /* The name is a span: the bytes after len are not part of it. */
    ck_assert_ptr_eq(commands_lookup("GETRANGE", 3), e);
    ck_assert_ptr_eq(commands_lookup("getxyz", 3), e);
    static const struct {
        const char *name;
        int arity;
    } known[] = {
        {"set", -3},         {"mset", -3},
        {"eval", -3},        {"xread", -4},
        {"ping", -1},        {"echo", 2},
        {"quit", -1},        {"georadius", -6},
        {"migrate", -6},     {"restore-asking", -4},
        {"bitfield_ro", -2}, {"sort_ro", -2},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const struct cmd_entry *k = lookup(known[i].name);
        ck_assert_msg(k != NULL, "%s not found", known[i].name);
        ck_assert_str_eq(k->cmd->name, known[i].name);
        ck_assert_msg(k->cmd->arity == known[i].arity, "%s: arity %d", known[i].name,
                      k->cmd->arity);
    }
}
END_TEST

START_TEST(test_commands_unknown_names)
{
    commands_init();
    static const char *const unknown[] = {"",     "ge",    "g",         "gets",       "get ",
                                          " get", "getX",  "nosuchcmd", "config|get", "CONFIG GET",
                                          "pin",  "pingg", "é"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        ck_assert_msg(lookup(unknown[i]) == NULL, "\"%s\" was found", unknown[i]);
    /* Embedded NUL bytes never match, wherever they are. */
    ck_assert_ptr_null(commands_lookup("get\0", 4));
    ck_assert_ptr_null(commands_lookup("g\0et", 4));
    ck_assert_ptr_null(commands_lookup("\0get", 4));
    ck_assert_ptr_null(commands_lookup("get\0\0\0", 6));
    /* A long name made of a real one and junk. */
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    memcpy(longname, "get", 3);
    ck_assert_ptr_null(commands_lookup(longname, sizeof(longname)));
}
END_TEST

/* The lookup table's hash (FNV-1a over lower-cased bytes), copied here only to build names that
 * land on a real command's slot. If the table's hash changes, the names below stop colliding
 * and the test still passes, checking less. */
static uint32_t fnv1a_lower(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

/* Regression: commands_lookup() once compared a name holding a NUL byte
 * with strncasecmp() (which stops at the NUL) and then reads name[len] of the table's name,
 * past its end, before it checks the request's name for NUL bytes; ASan reports a
 * global-buffer-overflow here. */
START_TEST(test_commands_nul_collision)
{
    /* "get\0" plus a suffix chosen so the name hashes to the slot of "get": the lookup then
     * compares against "get" itself, and must say no without reading past the end of "get". */
    commands_init();
    static const char *const bases[] = {"get", "set", "ping", "del", "hset", "xadd"};
    int tried = 0;
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        size_t bl = strlen(bases[b]);
        uint32_t want = fnv1a_lower(bases[b], bl) & 1023;
        char name[16];
        memcpy(name, bases[b], bl);
        name[bl] = '\0';
        for (int k = 0; k < 100000; k++) {
            int n = snprintf(name + bl + 1, sizeof(name) - bl - 1, "%d", k);
            size_t len = bl + 1 + (size_t)n;
            if ((fnv1a_lower(name, len) & 1023) != want) continue;
            ck_assert_ptr_null(commands_lookup(name, len));
            tried++;
            break;
        }
    }
    ck_assert_int_eq(tried, 6);
}
END_TEST

START_TEST(test_commands_subcommands)
{
    commands_init();
    const struct cmd_entry *cfg = lookup("CONFIG");
    ck_assert_ptr_nonnull(cfg);
    ck_assert_uint_gt(cfg->nsubs, 0);
    const struct cmd_entry *get = lookup_sub("config", "GET");
    ck_assert_ptr_nonnull(get);
    ck_assert_str_eq(get->cmd->name, "config|get");
    ck_assert_int_eq(get->cmd->arity, -3);
    ck_assert_ptr_eq(lookup_sub("config", "get"), get);
    ck_assert_ptr_eq(lookup_sub("CoNfIg", "gEt"), get);
    ck_assert_ptr_eq(commands_lookup_sub(cfg, "getx", 3), get);
    static const char *const bad[] = {"", "ge", "gett", "config|get", "|get", "get "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(lookup_sub("config", bad[i]) == NULL, "CONFIG \"%s\" was found", bad[i]);
    ck_assert_ptr_null(commands_lookup_sub(cfg, "get\0", 4));
    ck_assert_ptr_null(commands_lookup_sub(cfg, "g\0t", 3));
    /* A command without subcommands has none to find. */
    ck_assert_ptr_null(lookup_sub("get", "get"));
    static const struct {
        const char *parent, *sub, *name;
        int arity;
    } subs[] = {
        {"client", "KILL", "client|kill", -3},        {"object", "encoding", "object|encoding", 3},
        {"memory", "usage", "memory|usage", -3},      {"xinfo", "STREAM", "xinfo|stream", -3},
        {"cluster", "keyslot", "cluster|keyslot", 3},
    };
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        const struct cmd_entry *e = lookup_sub(subs[i].parent, subs[i].sub);
        ck_assert_msg(e != NULL, "%s %s not found", subs[i].parent, subs[i].sub);
        ck_assert_str_eq(e->cmd->name, subs[i].name);
        ck_assert_int_eq(e->cmd->arity, subs[i].arity);
    }
}
END_TEST

START_TEST(test_commands_routes)
{
    commands_init();
    static const struct {
        const char *name;
        enum cmd_route route;
        int local_id;
    } routes[] = {
        {"ping", ROUTE_LOCAL, LOCAL_PING},   {"echo", ROUTE_LOCAL, LOCAL_ECHO},
        {"quit", ROUTE_LOCAL, LOCAL_QUIT},   {"get", ROUTE_FORWARD, 0},
        {"set", ROUTE_FORWARD, 0},           {"eval", ROUTE_FORWARD, 0},
        {"publish", ROUTE_FORWARD, 0},       {"spublish", ROUTE_FORWARD, 0},
        {"xread", ROUTE_FORWARD, 0},         {"xreadgroup", ROUTE_FORWARD, 0},
        {"monitor", ROUTE_LOCAL, LOCAL_MONITOR},   {"multi", ROUTE_LOCAL, LOCAL_MULTI},
        {"subscribe", ROUTE_LOCAL, LOCAL_SUBSCRIBE}, {"select", ROUTE_LOCAL, LOCAL_SELECT},
        {"migrate", ROUTE_UNSUPPORTED, 0},   {"move", ROUTE_UNSUPPORTED, 0},
        {"blpop", ROUTE_FORWARD, 0},     {"keys", ROUTE_ALL_MASTERS, 0},
        {"shutdown", ROUTE_UNSUPPORTED, 0},  {"asking", ROUTE_UNSUPPORTED, 0},
        {"dbsize", ROUTE_ALL_MASTERS, 0},    {"flushall", ROUTE_ALL_MASTERS, 0},
        {"mget", ROUTE_FORWARD, 0},          {"msetnx", ROUTE_FORWARD, 0},
        {"auth", ROUTE_LOCAL, LOCAL_AUTH},   {"hello", ROUTE_LOCAL, LOCAL_HELLO},
        {"info", ROUTE_LOCAL, LOCAL_INFO},   {"scan", ROUTE_LOCAL, LOCAL_SCAN},
        {"time", ROUTE_LOCAL, LOCAL_TIME},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct cmd_entry *e = lookup(routes[i].name);
        ck_assert_msg(e != NULL, "%s not found", routes[i].name);
        ck_assert_msg(e->route == routes[i].route, "%s: route %d, want %d", routes[i].name,
                      e->route, routes[i].route);
        ck_assert_int_eq(e->local_id, routes[i].local_id);
    }
    /* Merges come from the response policies in Redis's command tips. */
    ck_assert_int_eq(lookup("mget")->merge, FAN_KEY_ORDER);
    ck_assert_int_eq(lookup("mset")->merge, FAN_ALL_OK);
    ck_assert_int_eq(lookup("del")->merge, FAN_SUM);
    ck_assert_int_eq(lookup("unlink")->merge, FAN_SUM);
    ck_assert_int_eq(lookup("exists")->merge, FAN_SUM);
    ck_assert_int_eq(lookup("touch")->merge, FAN_SUM);
    ck_assert_int_eq(lookup("dbsize")->merge, FAN_SUM);
    ck_assert_int_eq(lookup("keys")->merge, FAN_CONCAT);
    ck_assert_int_eq(lookup("flushdb")->merge, FAN_ALL_OK);
    ck_assert_int_eq(lookup("msetnx")->merge, FAN_NONE); /* never split: all or nothing */
    ck_assert_int_eq(lookup("randomkey")->merge, FAN_RANDOM);
    const struct cmd_entry *script = lookup("script");
    ck_assert_int_eq(commands_lookup_sub(script, "exists", 6)->merge, FAN_AND);
    ck_assert_int_eq(commands_lookup_sub(script, "load", 4)->route, ROUTE_ALL_MASTERS);
    ck_assert_int_eq(commands_lookup_sub(script, "kill", 4)->merge, FAN_ONE_OK);
    const struct cmd_entry *client = lookup("client");
    ck_assert_int_eq(commands_lookup_sub(client, "SETINFO", 7)->local_id, LOCAL_CLIENT_SETINFO);
    ck_assert_int_eq(commands_lookup_sub(client, "no-touch", 8)->local_id, LOCAL_CLIENT_NO_TOUCH);
    ck_assert_int_eq(commands_lookup_sub(client, "kill", 4)->local_id, LOCAL_CLIENT_KILL);
    const struct cmd_entry *config = lookup("config");
    ck_assert_int_eq(commands_lookup_sub(config, "get", 3)->route, ROUTE_FORWARD);
    ck_assert_int_eq(commands_lookup_sub(config, "set", 3)->local_id, LOCAL_CONFIG_SET);
    ck_assert_int_eq(commands_lookup_sub(config, "resetstat", 9)->local_id, LOCAL_CONFIG_RESETSTAT);
    ck_assert_ptr_null(lookup("monitor")->unsupported); /* the proxy's own (monitor.c) */
    /* XREAD and XREADGROUP block only with BLOCK, so they are forwarded and marked. */
    ck_assert_int_eq(lookup("xread")->blocking_arg, 1);
    ck_assert_int_eq(lookup("get")->blocking_arg, 0);
    /* Subcommands inherit their container's overlay, or are judged on their own flags. */
    ck_assert_int_eq(lookup_sub("client", "list")->route, ROUTE_LOCAL);
    ck_assert_int_eq(lookup_sub("client", "pause")->local_id, LOCAL_CLIENT_PAUSE);
    ck_assert_int_eq(lookup_sub("client", "unblock")->route, ROUTE_UNSUPPORTED);
    ck_assert_int_eq(lookup_sub("config", "rewrite")->local_id, LOCAL_CONFIG_REWRITE);
    ck_assert_int_eq(lookup_sub("client", "tracking")->local_id, LOCAL_CLIENT_TRACKING);
    ck_assert_int_eq(lookup_sub("object", "encoding")->route, ROUTE_FORWARD);
    ck_assert_int_eq(lookup_sub("memory", "usage")->route, ROUTE_FORWARD);
}
END_TEST

/* Every byte of a command name is lower case, a digit, '_' or '-'; a subcommand has one '|'
 * after its parent's name. */
static int plausible_name(const char *n, const char *parent)
{
    if (parent) {
        size_t pl = strlen(parent);
        if (strncmp(n, parent, pl) != 0 || n[pl] != '|') return 0;
        n += pl + 1;
    }
    if (!*n) return 0;
    for (; *n; n++)
        if (!(islower((unsigned char)*n) || isdigit((unsigned char)*n) || *n == '_' || *n == '-'))
            return 0;
    return 1;
}

static void check_command(const struct command *c, const char *parent)
{
    ck_assert_msg(plausible_name(c->name, parent), "odd name \"%s\"", c->name);
    /* Arity counts the command name, so |arity| >= 1, and >= 2 for a subcommand; no Redis 7
     * command needs more than 7 fixed arguments. */
    int a = c->arity < 0 ? -c->arity : c->arity;
    ck_assert_msg(a >= (parent ? 2 : 1) && a <= 8, "%s: arity %d", c->name, c->arity);
    ck_assert_msg((c->nkeyspecs == 0) == (c->keyspecs == NULL), "%s: keyspecs", c->name);
    ck_assert_msg((c->nsubs == 0) == (c->subs == NULL), "%s: subs", c->name);
    /* A container takes a variable number of arguments (COMMAND alone is valid: -1). */
    if (c->nsubs) ck_assert_msg(c->arity < 0, "%s: container arity %d", c->name, c->arity);
    for (int k = 0; k < c->nkeyspecs; k++) {
        const struct keyspec *ks = &c->keyspecs[k];
        ck_assert_msg(ks->begin >= KS_BEGIN_INDEX && ks->begin <= KS_BEGIN_UNKNOWN,
                      "%s spec %d: begin %d", c->name, k, ks->begin);
        ck_assert_msg(ks->find >= KS_FIND_RANGE && ks->find <= KS_FIND_UNKNOWN,
                      "%s spec %d: find %d", c->name, k, ks->find);
        if (ks->begin == KS_BEGIN_INDEX) {
            ck_assert_msg(ks->bs_pos >= 1, "%s spec %d: index %d", c->name, k, ks->bs_pos);
            /* A key at a fixed index must fit a command of fixed arity. */
            if (c->arity > 0)
                ck_assert_msg(ks->bs_pos < c->arity, "%s spec %d: index %d, arity %d", c->name, k,
                              ks->bs_pos, c->arity);
        }
        if (ks->begin == KS_BEGIN_KEYWORD)
            ck_assert_msg(ks->keyword && *ks->keyword && ks->bs_pos != 0, "%s spec %d: keyword",
                          c->name, k);
        if (ks->find == KS_FIND_KEYNUM)
            ck_assert_msg(ks->fk[1] >= 1 && ks->fk[2] >= 1, "%s spec %d: keynum", c->name, k);
        if (ks->find == KS_FIND_RANGE)
            ck_assert_msg(ks->fk[1] >= 1 && ks->fk[2] >= 0, "%s spec %d: range", c->name, k);
    }
}

START_TEST(test_commands_table_sane)
{
    commands_init();
    /* Redis 7.0 has 240 top-level commands. */
    ck_assert_uint_ge(command_table_len, 230);
    ck_assert_ptr_nonnull(strstr(command_table_source, "7."));
    uint32_t total = 0;
    for (size_t i = 0; i < command_table_len; i++) {
        const struct command *c = &command_table[i];
        check_command(c, NULL);
        if (i > 0)
            ck_assert_msg(strcmp(command_table[i - 1].name, c->name) < 0, "%s after %s: not sorted",
                          c->name, command_table[i - 1].name);
        /* Every name finds itself. */
        const struct cmd_entry *e = lookup(c->name);
        ck_assert_msg(e != NULL && e->cmd == c, "%s does not find itself", c->name);
        for (int j = 0; j < c->nsubs; j++) {
            const struct command *s = &c->subs[j];
            check_command(s, c->name);
            const char *sub = s->name + strlen(c->name) + 1;
            const struct cmd_entry *se = commands_lookup_sub(e, sub, strlen(sub));
            ck_assert_msg(se != NULL && se->cmd == s, "%s does not find itself", s->name);
        }
        total += 1 + c->nsubs;
    }
    /* Plus the CLIENT subcommands newer than the table (SETINFO, NO-TOUCH). */
    ck_assert_uint_eq(commands_count(), total + 2);
    total += 2;
    for (uint32_t id = 0; id < total; id++) {
        const struct cmd_entry *e = commands_by_id(id);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->id, id);
        /* Each route carries what it needs. */
        if (e->route == ROUTE_LOCAL) ck_assert_int_ne(e->local_id, LOCAL_NONE);
        if (e->route == ROUTE_UNSUPPORTED)
            ck_assert_msg(e->unsupported && *e->unsupported, "%s: no reason", e->cmd->name);
        if (e->route == ROUTE_FORWARD) ck_assert_ptr_null(e->unsupported);
    }
    ck_assert_ptr_null(commands_by_id(total));
    ck_assert_ptr_null(commands_by_id(UINT32_MAX));
}
END_TEST

Suite *commands_suite(void)
{
    Suite *s = suite_create("commands");
    TCase *tc = tcase_create("commands");
    tcase_add_test(tc, test_commands_lookup_case);
    tcase_add_test(tc, test_commands_unknown_names);
    tcase_add_test(tc, test_commands_subcommands);
    tcase_add_test(tc, test_commands_routes);
    tcase_add_test(tc, test_commands_table_sane);
    tcase_add_test(tc, test_commands_nul_collision);
    suite_add_tcase(s, tc);
    return s;
}
