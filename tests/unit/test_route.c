/*
 * Unit tests for proxy/route: where every command goes.
 *
 * Every entry of the command table (commands and subcommands) is routed once with the fewest
 * arguments its arity allows and once with one too few or too many, and must go where the table
 * says (answered by the proxy, refused with its reason, every master, a slot, any master), be
 * refused with Redis's arity text otherwise, and be refused before AUTH unless Redis lets it
 * through. The 130 command lines of fixtures/getkeys.txt (COMMAND GETKEYS of a real redis-server
 * 7.0.15) check the key positions through routing: the keys as given span slots (split or
 * CROSSSLOT), and written with a hash tag they land on the tag's slot. The refusals are rendered
 * and compared with what redis-server 7.0.15 answers, byte for byte.
 */
#include "suites.h"

#include "crc16.h"
#include "errors.h"
#include "keys.h"
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

/* A request built from words: the bytes back to back in base, spans in argv. */
struct req {
    char base[4096];
    size_t used;
    struct resp_span argv[MAX_ARGS];
    uint32_t argc;
};

static void req_add(struct req *r, const char *s, size_t len)
{
    ck_assert_uint_lt(r->argc, MAX_ARGS);
    ck_assert_uint_le(r->used + len, sizeof(r->base));
    memcpy(r->base + r->used, s, len);
    r->argv[r->argc].off = (uint32_t)r->used;
    r->argv[r->argc].len = (uint32_t)len;
    r->argc++;
    r->used += len;
}

/* Builds a request from words separated by sep. */
static void req_split(struct req *r, const char *line, char sep)
{
    r->used = 0;
    r->argc = 0;
    const char *p = line;
    while (*p) {
        while (*p == sep) p++;
        if (!*p) break;
        const char *e = strchr(p, sep);
        size_t n = e ? (size_t)(e - p) : strlen(p);
        req_add(r, p, n);
        p += n;
    }
}

static struct keys_result keys;

static const struct route_client authed = {.authed = 1, .resp = 2, .tx_slot = -1};

static void route(const struct req *r, const struct route_client *c, struct route *out)
{
    route_decide(r->base, r->argv, r->argc, c, NULL, &keys, out);
}

/* Routes the space-separated line for an authenticated RESP2 client. */
static struct route route_line(const char *line)
{
    struct req r;
    req_split(&r, line, ' ');
    struct route rt;
    route(&r, &authed, &rt);
    return rt;
}

/* The error text routing's refusal of line renders. */
static void refusal_text(const char *line, const struct route_client *c, char *out, size_t cap)
{
    struct req r;
    req_split(&r, line, ' ');
    struct route rt;
    route(&r, c, &rt);
    ck_assert_msg(rt.kind == RT_REFUSE, "%s: route %d, not refused", line, rt.kind);
    struct sbuf s;
    sbuf_init(&s);
    errors_route(&s, rt.err, r.base, r.argv, r.argc, rt.cmd ? rt.cmd->cmd->name : NULL,
                 rt.cmd ? rt.cmd->unsupported : NULL);
    ck_assert_uint_lt(s.len, cap);
    memcpy(out, s.buf, s.len);
    out[s.len] = '\0';
    sbuf_free(&s);
}

/* The request naming entry e (its parent first for a subcommand) with n arguments in all. */
static void entry_request(struct req *r, const struct cmd_entry *e, uint32_t n)
{
    r->used = 0;
    r->argc = 0;
    const char *name = e->cmd->name;
    const char *bar = strchr(name, '|');
    if (bar) {
        req_add(r, name, (size_t)(bar - name));
        req_add(r, bar + 1, strlen(bar + 1));
    } else {
        req_add(r, name, strlen(name));
    }
    /* Arguments that fit most specs: numbers where a count may be read. */
    for (uint32_t i = r->argc; i < n; i++) req_add(r, "1", 1);
}

START_TEST(test_route_every_command)
{
    commands_init();
    keys_result_init(&keys);
    uint32_t n = commands_count(), checked = 0;
    for (uint32_t id = 0; id < n; id++) {
        const struct cmd_entry *e = commands_by_id(id);
        if (e->nsubs) continue; /* a container: its subcommands are routed */
        const struct command *c = e->cmd;
        int sub = strchr(c->name, '|') != NULL;
        uint32_t fit = (uint32_t)(c->arity < 0 ? -c->arity : c->arity);
        struct req r;
        struct route rt;
        entry_request(&r, e, fit);
        route(&r, &authed, &rt);
        ck_assert_msg(rt.cmd == e, "%s: found %s", c->name, rt.cmd ? rt.cmd->cmd->name : "none");
        int id_local = e->local_id;
        switch (e->route) {
        case ROUTE_UNSUPPORTED:
            ck_assert_msg(rt.kind == RT_REFUSE && rt.err == PXE_UNSUPPORTED, "%s: %d", c->name,
                          rt.kind);
            break;
        case ROUTE_LOCAL:
            if (id_local >= LOCAL_MULTI && id_local <= LOCAL_UNWATCH)
                ck_assert_msg(rt.kind == RT_TXN, "%s: %d", c->name, rt.kind);
            else
                ck_assert_msg(rt.kind == RT_LOCAL, "%s: %d", c->name, rt.kind);
            break;
        case ROUTE_ALL_MASTERS:
            ck_assert_msg(rt.kind == RT_ALL_MASTERS && rt.merge == e->merge, "%s", c->name);
            /* Blocking parts, SCRIPT/FUNCTION KILL and WAIT, each on a connection of its own. */
            ck_assert_int_eq((rt.flags & RT_F_BLOCKING) != 0,
                             (c->flags & CMD_BLOCKING) != 0 || e->own_conn);
            ck_assert_int_eq(e->own_conn, strcmp(c->name, "script|kill") == 0 ||
                                              strcmp(c->name, "function|kill") == 0 ||
                                              strcmp(c->name, "function|stats") == 0 ||
                                              strcmp(c->name, "wait") == 0);
            break;
        case ROUTE_FORWARD:
            /* One key at most ("1" everywhere): one slot, or any master without keys. */
            if (rt.kind == RT_SLOT && c->nkeyspecs == 0) {
                /* PUBLISH: the subscriptions' node. */
                ck_assert_msg(c->flags & CMD_PUBSUB, "%s: a slot without key specs", c->name);
                ck_assert_int_eq(rt.slot, ROUTE_PUBSUB_SLOT);
            } else if (rt.kind == RT_SLOT) {
                ck_assert_int_eq(rt.slot, (int)crc16_key_slot("1", 1));
            } else {
                ck_assert_msg(rt.kind == RT_ANY_MASTER, "%s: %d", c->name, rt.kind);
                ck_assert_int_eq(rt.slot, -1);
            }
            if ((c->flags & CMD_BLOCKING) && !e->blocking_arg)
                ck_assert_msg(rt.flags & RT_F_BLOCKING, "%s: not blocking", c->name);
            if (!(c->flags & CMD_BLOCKING))
                ck_assert_msg(!(rt.flags & RT_F_BLOCKING), "%s: blocking", c->name);
            break;
        }
        /* One argument too few (below the minimum), or one too many for a fixed arity. */
        uint32_t wrong = c->arity > 0 ? fit + 1 : fit - 1;
        if (wrong >= (uint32_t)(sub ? 2 : 1) && !(c->arity < 0 && fit - 1 < (sub ? 2u : 1u))) {
            entry_request(&r, e, wrong);
            route(&r, &authed, &rt);
            ck_assert_msg(rt.kind == RT_REFUSE && rt.err == PXE_WRONG_ARITY, "%s with %u args",
                          c->name, wrong);
        }
        /* Before AUTH only the commands Redis allows then get through. */
        struct route_client noauth = authed;
        noauth.authed = 0;
        entry_request(&r, e, fit);
        route(&r, &noauth, &rt);
        if (c->flags & CMD_NO_AUTH)
            ck_assert_msg(rt.kind != RT_REFUSE || rt.err != PXE_NOAUTH, "%s refused", c->name);
        else
            ck_assert_msg(rt.kind == RT_REFUSE && rt.err == PXE_NOAUTH, "%s not refused",
                          c->name);
        checked++;
    }
    ck_assert_uint_ge(checked, 300);
    keys_result_free(&keys);
}
END_TEST

/* What `slotproxy -commands` prints for entry e (commands_print), without the name column. */
static void listed_as(const struct cmd_entry *e, const char *list, char *out, size_t cap)
{
    char name[64];
    snprintf(name, sizeof(name), "%s", e->cmd->name);
    for (char *p = name; *p; p++) {
        if (*p == '|')
            *p = ' ';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    }
    size_t nl = strlen(name);
    for (const char *l = list; l && *l;) {
        const char *end = strchr(l, '\n');
        if (!end) break;
        if (strncmp(l, name, nl) == 0 && l[nl] == ' ') {
            const char *t = l + nl;
            while (*t == ' ') t++;
            snprintf(out, cap, "%.*s", (int)(end - t), t);
            return;
        }
        l = end + 1;
    }
    ck_abort_msg("%s is not in the command list", name);
}

/* The command list says what routing does: "any master" only for what goes to any master,
 * PUBLISH to the subscriptions' slot, CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT to the master of
 * the slot they name (local.c checks them and forwards them). */
START_TEST(test_route_command_list_is_true)
{
    commands_init();
    keys_result_init(&keys);
    char *list = NULL;
    size_t listlen = 0;
    FILE *f = open_memstream(&list, &listlen);
    ck_assert_ptr_nonnull(f);
    commands_print(f);
    fclose(f);
    int publish = 0, slot_routed = 0;
    for (uint32_t id = 0; id < commands_count(); id++) {
        const struct cmd_entry *e = commands_by_id(id);
        if (e->nsubs) continue;
        uint32_t fit = (uint32_t)(e->cmd->arity < 0 ? -e->cmd->arity : e->cmd->arity);
        struct req r;
        struct route rt;
        entry_request(&r, e, fit);
        route(&r, &authed, &rt);
        char text[256], want[256];
        listed_as(e, list, text, sizeof(text));
        /* (A keyed command with no key in the sample, EVAL 1 1, goes to any master too.) */
        int any = strcmp(text, "forwarded to any master") == 0;
        ck_assert_msg(any ? rt.kind == RT_ANY_MASTER
                          : rt.kind != RT_ANY_MASTER || e->cmd->nkeyspecs > 0,
                      "%s: listed as \"%s\", routed %d", e->cmd->name, text, rt.kind);
        if (rt.kind == RT_SLOT && e->cmd->nkeyspecs == 0) {
            snprintf(want, sizeof(want),
                     "to the master of slot %d, where the proxy subscribes to channels and "
                     "patterns",
                     rt.slot);
            ck_assert_str_eq(text, want);
            publish++;
        }
        if (e->local_id == LOCAL_CLUSTER_SLOT_ROUTED) {
            ck_assert_str_eq(text, "checked by the proxy, answered by the master of the slot it "
                                   "names");
            slot_routed++;
        }
    }
    ck_assert_int_eq(publish, 1);
    ck_assert_int_eq(slot_routed, 2);
    free(list);
    keys_result_free(&keys);
}
END_TEST

/* Reads fixtures/getkeys.txt: positions and the command line. */
static int next_fixture(FILE *f, char *pos, size_t poscap, char *line, size_t linecap)
{
    char buf[4096];
    while (fgets(buf, sizeof(buf), f)) {
        if (buf[0] == '#' || buf[0] == '\n') continue;
        buf[strcspn(buf, "\n")] = '\0';
        char *tab = strchr(buf, '\t');
        ck_assert_ptr_nonnull(tab);
        *tab = '\0';
        size_t pl = strlen(buf), ll = strlen(tab + 1);
        ck_assert(pl < poscap && ll < linecap);
        memcpy(pos, buf, pl + 1);
        memcpy(line, tab + 1, ll + 1);
        return 1;
    }
    return 0;
}

/* The key positions of a fixture line ("1,3,5"; none for "none" and "-"). */
static int parse_positions(const char *pos, int *out, int cap)
{
    if (strcmp(pos, "none") == 0 || strcmp(pos, "-") == 0) return 0;
    int n = 0;
    for (const char *p = pos; *p;) {
        ck_assert_int_lt(n, cap);
        out[n++] = atoi(p);
        const char *comma = strchr(p, ',');
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

START_TEST(test_route_key_positions)
{
    commands_init();
    keys_result_init(&keys);
    FILE *f = fopen(PX_FIXTURES "/getkeys.txt", "r");
    ck_assert_ptr_nonnull(f);
    char pos[256], line[2048];
    int lines = 0, slotted = 0;
    while (next_fixture(f, pos, sizeof(pos), line, sizeof(line))) {
        struct req r;
        req_split(&r, line, '\t');
        int p[MAX_ARGS];
        int np = parse_positions(pos, p, MAX_ARGS);
        struct route rt;
        route(&r, &authed, &rt);
        ck_assert_ptr_nonnull(rt.cmd);
        if (rt.cmd->route != ROUTE_FORWARD || (rt.kind == RT_REFUSE && rt.err != PXE_CROSSSLOT)) {
            lines++;
            continue;
        }
        /* The keys as Redis finds them, hashed independently of routing. */
        int slot = -1, cross = 0;
        for (int i = 0; i < np; i++) {
            const struct resp_span *a = &r.argv[p[i]];
            int s = (int)crc16_key_slot(r.base + a->off, a->len);
            if (slot >= 0 && s != slot) cross = 1;
            slot = s;
        }
        if (np == 0 && rt.kind == RT_SLOT && rt.cmd->cmd->nkeyspecs == 0) {
            ck_assert_int_eq(rt.slot, ROUTE_PUBSUB_SLOT); /* PUBLISH */
        } else if (np == 0 && rt.kind == RT_SLOT) {
            /* Not a key for GETKEYS, but routed by it: a shard channel (SPUBLISH). */
            ck_assert_msg(rt.cmd->cmd->nkeyspecs > 0 &&
                              (rt.cmd->cmd->keyspecs[0].flags & KSF_NOT_KEY),
                          "%s: a slot without keys", line);
            ck_assert_int_eq(rt.slot, (int)crc16_key_slot(r.base + r.argv[1].off,
                                                          r.argv[1].len));
        } else if (np == 0) {
            ck_assert_msg(rt.kind == RT_ANY_MASTER, "%s: %d", line, rt.kind);
        } else if (cross) {
            ck_assert_msg(rt.kind == RT_SPLIT || (rt.kind == RT_REFUSE && rt.err == PXE_CROSSSLOT),
                          "%s: %d", line, rt.kind);
            ck_assert_int_eq(rt.kind == RT_SPLIT, rt.cmd->merge != FAN_NONE);
        } else {
            ck_assert_msg(rt.kind == RT_SLOT && rt.slot == slot, "%s: %d slot %d, want %d", line,
                          rt.kind, rt.slot, slot);
            slotted++;
        }
        /* The same keys behind a hash tag: one slot, the tag's. */
        if (np > 0) {
            struct req t;
            t.used = 0;
            t.argc = 0;
            for (uint32_t i = 0; i < r.argc; i++) {
                int key = 0;
                for (int k = 0; k < np; k++) key |= p[k] == (int)i;
                char buf[512];
                int n = snprintf(buf, sizeof(buf), "%s%.*s", key ? "{tag}" : "",
                                 (int)r.argv[i].len, r.base + r.argv[i].off);
                req_add(&t, buf, (size_t)n);
            }
            route(&t, &authed, &rt);
            ck_assert_msg(rt.kind == RT_SLOT && rt.slot == (int)crc16_key_slot("tag", 3),
                          "{tag} %s: %d slot %d", line, rt.kind, rt.slot);
            slotted++;
        }
        lines++;
    }
    fclose(f);
    ck_assert_int_ge(lines, 120);
    ck_assert_int_ge(slotted, 100);
    keys_result_free(&keys);
}
END_TEST

START_TEST(test_route_refusal_texts)
{
    commands_init();
    keys_result_init(&keys);
    /* What redis-server 7.0.15 answers, byte for byte. */
    static const struct {
        const char *line;
        const char *text;
    } cases[] = {
        {"foo a b", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"},
        {"config foo", "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n"},
        {"get", "-ERR wrong number of arguments for 'get' command\r\n"},
        {"config get", "-ERR wrong number of arguments for 'config|get' command\r\n"},
        {"mset k1 v1 k2", "-ERR wrong number of arguments for 'mset' command\r\n"},
        {"mset k1 v1 k2 v2 k3", "-ERR wrong number of arguments for 'mset' command\r\n"},
        {"msetnx k1 v1 k2 v2", "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
        {"rename k1 k2", "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
        {"blpop k1 k2 0", "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
        {"sync", "-ERR 'sync' cannot be used through slotproxy: it is part of the replication "
                 "protocol\r\n"},
        {"move k 1",
         "-ERR 'move' cannot be used through slotproxy: it needs more than one database\r\n"},
        {"asking", "-ERR 'asking' is used by the proxy itself and cannot be sent by clients\r\n"},
    };
    char text[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refusal_text(cases[i].line, &authed, text, sizeof(text));
        ck_assert_msg(strcmp(text, cases[i].text) == 0, "%s: %s", cases[i].line, text);
    }
    struct route_client c = authed;
    c.authed = 0;
    refusal_text("get k", &c, text, sizeof(text));
    ck_assert_str_eq(text, "-NOAUTH Authentication required.\r\n");
    c = authed;
    c.subscribed = 1;
    refusal_text("get k", &c, text, sizeof(text));
    ck_assert_str_eq(text, "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                           "PING / QUIT / RESET are allowed in this context\r\n");
    keys_result_free(&keys);
}
END_TEST

START_TEST(test_route_client_state)
{
    commands_init();
    keys_result_init(&keys);
    struct req r;
    struct route rt;
    /* Subscribed over RESP2: only the subscribe commands, PING, QUIT and RESET. */
    struct route_client sub = authed;
    sub.subscribed = 1;
    static const char *const allowed[] = {"subscribe a",   "psubscribe a*", "ssubscribe a",
                                          "unsubscribe",   "punsubscribe",  "sunsubscribe",
                                          "ping",          "quit",          "reset"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        req_split(&r, allowed[i], ' ');
        route(&r, &sub, &rt);
        ck_assert_msg(rt.kind == RT_LOCAL, "%s: %d", allowed[i], rt.kind);
    }
    req_split(&r, "multi", ' ');
    route(&r, &sub, &rt);
    ck_assert(rt.kind == RT_REFUSE && rt.err == PXE_PUBSUB_CONTEXT);
    /* Over RESP3 a subscribed client may send anything. */
    sub.resp = 3;
    req_split(&r, "get k", ' ');
    route(&r, &sub, &rt);
    ck_assert_int_eq(rt.kind, RT_SLOT);
    /* MULTI open: everything goes to the transaction but QUIT and RESET. */
    struct route_client tx = authed;
    tx.tx = RT_TX_MULTI;
    static const char *const queued[] = {"get k", "ping", "keys *", "monitor", "subscribe a",
                                         "exec",  "foo"};
    for (size_t i = 0; i < sizeof(queued) / sizeof(queued[0]); i++) {
        req_split(&r, queued[i], ' ');
        route(&r, &tx, &rt);
        if (strcmp(queued[i], "foo") == 0) /* unknown: refused before the transaction */
            ck_assert_int_eq(rt.kind, RT_REFUSE);
        else
            ck_assert_msg(rt.kind == RT_TXN, "%s: %d", queued[i], rt.kind);
    }
    req_split(&r, "quit", ' ');
    route(&r, &tx, &rt);
    ck_assert_int_eq(rt.kind, RT_LOCAL);
    /* Watching: the watched slot's commands go on the WATCH's connection, others as usual. */
    struct route_client w = authed;
    w.tx = RT_TX_WATCHING;
    w.tx_slot = (int)crc16_key_slot("k", 1);
    req_split(&r, "get k", ' ');
    route(&r, &w, &rt);
    ck_assert_int_eq(rt.kind, RT_TXN);
    req_split(&r, "get other", ' ');
    route(&r, &w, &rt);
    ck_assert_int_eq(rt.kind, RT_SLOT);
    req_split(&r, "ping", ' ');
    route(&r, &w, &rt);
    ck_assert_int_eq(rt.kind, RT_LOCAL);
    keys_result_free(&keys);
}
END_TEST

START_TEST(test_route_split_and_flags)
{
    commands_init();
    keys_result_init(&keys);
    struct route rt = route_line("mget k1 k2 k3");
    ck_assert_int_eq(rt.kind, RT_SPLIT);
    ck_assert_int_eq(rt.merge, FAN_KEY_ORDER);
    ck_assert_uint_eq(rt.split_step, 1);
    rt = route_line("mset k1 v1 k2 v2");
    ck_assert_int_eq(rt.kind, RT_SPLIT);
    ck_assert_int_eq(rt.merge, FAN_ALL_OK);
    ck_assert_uint_eq(rt.split_step, 2);
    rt = route_line("del k1 k2");
    ck_assert(rt.kind == RT_SPLIT && rt.merge == FAN_SUM);
    /* Keys that share a slot are never split. */
    rt = route_line("mget {a}1 {a}2");
    ck_assert(rt.kind == RT_SLOT && rt.slot == (int)crc16_key_slot("a", 1));
    /* Blocking: always, or (XREAD) only with BLOCK. */
    rt = route_line("blpop k 0");
    ck_assert(rt.kind == RT_SLOT && (rt.flags & RT_F_BLOCKING));
    rt = route_line("xread streams k 0");
    ck_assert(rt.kind == RT_SLOT && !(rt.flags & RT_F_BLOCKING));
    rt = route_line("xread block 0 streams k 0");
    ck_assert(rt.kind == RT_SLOT && (rt.flags & RT_F_BLOCKING));
    /* Only the BLOCK option counts, read as Redis reads the options (until STREAMS): a key, an
     * ID, a COUNT value or a group named "block" is not one. */
    static const char *const xreads[][2] = {
        {"xread count 2 BLOCK 10 streams k 0", "1"},
        {"xreadgroup group g c noack block 0 streams k >", "1"},
        {"xread streams block 0", ""},
        {"xread streams k block", ""},
        {"xread count block streams k 0", ""},
        {"xreadgroup group block block streams k >", ""},
        {"xread count 1 block", ""}, /* no value: a syntax error for Redis, not a block */
    };
    for (size_t i = 0; i < sizeof(xreads) / sizeof(xreads[0]); i++) {
        rt = route_line(xreads[i][0]);
        ck_assert_msg(rt.kind == RT_SLOT || rt.kind == RT_ANY_MASTER, "%s: %d", xreads[i][0],
                      rt.kind);
        ck_assert_msg(((rt.flags & RT_F_BLOCKING) != 0) == (xreads[i][1][0] != 0), "%s: flags %u",
                      xreads[i][0], rt.flags);
    }
    rt = route_line("wait 1 0"); /* every master, the smallest count (not flagged blocking) */
    ck_assert(rt.kind == RT_ALL_MASTERS && rt.merge == FAN_MIN);
    /* Scripts: EVAL and SCRIPT LOAD carry a body to remember, SCRIPT FLUSH forgets. */
    rt = route_line("eval return 0");
    ck_assert(rt.kind == RT_ANY_MASTER && (rt.flags & RT_F_SCRIPT));
    rt = route_line("eval return 1 k");
    ck_assert(rt.kind == RT_SLOT && (rt.flags & RT_F_SCRIPT));
    rt = route_line("script load return");
    ck_assert(rt.kind == RT_ALL_MASTERS && (rt.flags & RT_F_SCRIPT));
    rt = route_line("script flush");
    ck_assert(rt.kind == RT_ALL_MASTERS && (rt.flags & RT_F_SCRIPT_FLUSH));
    /* Keyless: any master; hash tags: the tag's slot, an empty tag is no tag. */
    rt = route_line("ping");
    ck_assert_int_eq(rt.kind, RT_LOCAL);
    rt = route_line("eval return 0");
    ck_assert_int_eq(rt.kind, RT_ANY_MASTER);
    /* PUBLISH: where the subscriptions are, so that its count is every subscriber's. */
    rt = route_line("publish ch m");
    ck_assert(rt.kind == RT_SLOT && rt.slot == ROUTE_PUBSUB_SLOT);
    rt = route_line("get user{1000}:name");
    ck_assert_int_eq(rt.slot, (int)crc16_key_slot("1000", 4));
    rt = route_line("get {}k");
    ck_assert_int_eq(rt.slot, (int)crc16_key_slot("{}k", 3));
    /* The split rule itself. */
    const struct cmd_entry *mset = commands_lookup("mset", 4);
    ck_assert_int_eq(route_split_step(mset->cmd, 5), 2);
    ck_assert_int_eq(route_split_step(mset->cmd, 4), -1);
    ck_assert_int_eq(route_split_step(commands_lookup("rename", 6)->cmd, 3), 0);
    keys_result_free(&keys);
}
END_TEST

/* Pool mode: a slot is a server. The keyspace places keys with the placement library, split
 * and cross-server decisions follow it, and the CLUSTER commands get a standalone Redis's answer
 * (after the unknown-subcommand and arity checks, as Redis orders them). */
START_TEST(test_route_pool)
{
    commands_init();
    keys_result_init(&keys);
    struct placement_server srv[3] = {{"127.0.0.1", 24001, 1, "a"},
                                      {"127.0.0.1", 24002, 1, "b"},
                                      {"127.0.0.1", 24003, 1, "c"}};
    struct placement_opts o;
    placement_opts_init(&o);
    o.hash_tag[0] = '{';
    o.hash_tag[1] = '}';
    struct placement *pl;
    ck_assert_int_eq(placement_create(&o, srv, 3, &pl), 0);
    struct keyspace ks = {.pl = pl, .pool = 1};
    /* Two keys on different servers, found by trying. */
    char k1[16] = "", k2[16] = "";
    for (int i = 0; !k2[0]; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        unsigned s = placement_lookup(pl, k, strlen(k), 0);
        if (!k1[0] && s == 0) snprintf(k1, sizeof(k1), "%s", k);
        if (k1[0] && s == 2) snprintf(k2, sizeof(k2), "%s", k);
    }
    struct req r;
    struct route rt;
    char line[128];
    snprintf(line, sizeof(line), "get %s", k2);
    req_split(&r, line, ' ');
    route_decide(r.base, r.argv, r.argc, &authed, &ks, &keys, &rt);
    ck_assert(rt.kind == RT_SLOT && rt.slot == 2);
    snprintf(line, sizeof(line), "mget %s %s", k1, k2);
    req_split(&r, line, ' ');
    route_decide(r.base, r.argv, r.argc, &authed, &ks, &keys, &rt);
    ck_assert(rt.kind == RT_SPLIT && rt.merge == FAN_KEY_ORDER);
    /* The pool's hash tag: both on the tag's server, one slot. */
    snprintf(line, sizeof(line), "rename x{%s} y{%s}", k1, k1);
    req_split(&r, line, ' ');
    route_decide(r.base, r.argv, r.argc, &authed, &ks, &keys, &rt);
    ck_assert(rt.kind == RT_SLOT && rt.slot == 0);
    snprintf(line, sizeof(line), "rename %s %s", k1, k2);
    req_split(&r, line, ' ');
    route_decide(r.base, r.argv, r.argc, &authed, &ks, &keys, &rt);
    ck_assert(rt.kind == RT_REFUSE && rt.err == PXE_CROSSSERVER);
    struct sbuf sb;
    sbuf_init(&sb);
    errors_route(&sb, rt.err, r.base, r.argv, r.argc, rt.cmd->cmd->name, NULL);
    sbuf_put(&sb, "", 1); /* as a C string */
    ck_assert_str_eq(sb.buf, "-CROSSSLOT Keys in request don't hash to the same server of the "
                             "pool\r\n");
    /* COPY into a database other than 0 is refused (it would write where nothing reads); DB 0,
     * and a DB that is not a number (the server's own error), go to the server. */
    static const struct {
        const char *line;
        int refused;
    } cp[] = {{"copy a{x} b{x} db 5", 1}, {"copy a{x} b{x} REPLACE DB -1", 1},
              {"copy a{x} b{x} db 0", 0}, {"copy a{x} b{x} db x", 0},
              {"copy a{x} b{x} replace", 0}, {"copy a{x} b{x} db 5 db 0", 0},
              {"copy a{x} b{x} db 0 replace db 3", 1}, {"copy a{x} b{x} db 5 foo", 0},
              {"copy a{x} b{x} db 5 db", 0}, {"copy a{x} b{x} db x db 5", 0}};
    for (size_t i = 0; i < sizeof(cp) / sizeof(cp[0]); i++) {
        req_split(&r, cp[i].line, ' ');
        route_decide(r.base, r.argv, r.argc, &authed, &ks, &keys, &rt);
        ck_assert_msg((rt.kind == RT_REFUSE && rt.err == PXE_OTHER_DB) == cp[i].refused, "%s",
                      cp[i].line);
        /* In cluster mode the node answers it. */
        route_decide(r.base, r.argv, r.argc, &authed, NULL, &keys, &rt);
        ck_assert_msg(rt.kind == RT_SLOT, "%s", cp[i].line);
    }
    sbuf_clear(&sb);
    errors_route(&sb, PXE_OTHER_DB, r.base, r.argv, r.argc, "copy", NULL);
    sbuf_put(&sb, "", 1);
    ck_assert_str_eq(sb.buf, "-ERR Copying to another database is not allowed through slotproxy: "
                             "only database 0, as the connections to the pool's servers are "
                             "shared\r\n");
    /* CLUSTER: a standalone Redis's answers (redis-server 7.0.15 without cluster-enabled). */
    static const struct {
        const char *line, *text;
    } cl[] = {
        {"cluster info", "-ERR This instance has cluster support disabled\r\n"},
        {"cluster keyslot a", "-ERR This instance has cluster support disabled\r\n"},
        {"cluster help", "-ERR This instance has cluster support disabled\r\n"},
        {"cluster foo", "-ERR unknown subcommand 'foo'. Try CLUSTER HELP.\r\n"},
        {"cluster", "-ERR wrong number of arguments for 'cluster' command\r\n"},
        {"cluster slots x", "-ERR wrong number of arguments for 'cluster|slots' command\r\n"},
    };
    for (size_t i = 0; i < sizeof(cl) / sizeof(cl[0]); i++) {
        req_split(&r, cl[i].line, ' ');
        route_decide(r.base, r.argv, r.argc, &authed, &ks, &keys, &rt);
        ck_assert_msg(rt.kind == RT_REFUSE, "%s", cl[i].line);
        sbuf_clear(&sb);
        errors_route(&sb, rt.err, r.base, r.argv, r.argc, rt.cmd ? rt.cmd->cmd->name : NULL,
                     rt.cmd ? rt.cmd->unsupported : NULL);
        sbuf_put(&sb, "", 1);
        ck_assert_str_eq(sb.buf, cl[i].text);
    }
    /* Before AUTH, NOAUTH comes first; in cluster mode CLUSTER INFO is the proxy's own. */
    const struct route_client anon = {.authed = 0, .resp = 2, .tx_slot = -1};
    req_split(&r, "cluster info", ' ');
    route_decide(r.base, r.argv, r.argc, &anon, &ks, &keys, &rt);
    ck_assert(rt.kind == RT_REFUSE && rt.err == PXE_NOAUTH);
    route_decide(r.base, r.argv, r.argc, &authed, NULL, &keys, &rt);
    ck_assert_int_eq(rt.kind, RT_LOCAL);
    /* A pool without a live server: every key on slot 0, which nobody serves. */
    struct keyspace none = {.pool = 1};
    snprintf(line, sizeof(line), "mget %s %s", k1, k2);
    req_split(&r, line, ' ');
    route_decide(r.base, r.argv, r.argc, &authed, &none, &keys, &rt);
    ck_assert(rt.kind == RT_SLOT && rt.slot == 0);
    sbuf_free(&sb);
    placement_free(pl);
    keys_result_free(&keys);
}
END_TEST

/* -cross-slot compute: the commands crossslot.c computes, with keys in different slots, go to it
 * with the right kind; everything else keeps splitting or CROSSSLOT; keys in one slot go to
 * their slot as before; and without the option nothing changes. */
START_TEST(test_route_cross_compute)
{
    commands_init();
    keys_result_init(&keys);
    static const struct {
        const char *line;
        enum cross_op op;
    } cases[] = {
        {"sunion a b", CROSS_GATHER},
        {"sinter a b c", CROSS_GATHER},
        {"sdiff a b", CROSS_GATHER},
        {"sunionstore d a b", CROSS_GATHER},
        {"sinterstore d a b", CROSS_GATHER},
        {"sdiffstore d a b", CROSS_GATHER},
        {"sintercard 2 a b limit 1", CROSS_GATHER},
        {"zunion 2 a b withscores", CROSS_GATHER},
        {"zinter 2 a b weights 1 2 aggregate max", CROSS_GATHER},
        {"zdiff 2 a b", CROSS_GATHER},
        {"zunionstore d 2 a b", CROSS_GATHER},
        {"zinterstore d 2 a b", CROSS_GATHER},
        {"zdiffstore d 2 a b", CROSS_GATHER},
        {"zintercard 2 a b", CROSS_GATHER},
        {"bitop and d a b", CROSS_GATHER},
        {"pfcount a b", CROSS_GATHER},
        {"pfmerge d a b", CROSS_GATHER},
        {"smove a b m", CROSS_SMOVE},
        {"rename a b", CROSS_RENAME},
        {"renamenx a b", CROSS_RENAME},
        {"copy a b", CROSS_COPY},
        {"copy a b replace", CROSS_COPY},
        {"lmove a b left right", CROSS_LMOVE},
        {"rpoplpush a b", CROSS_LMOVE},
        {"msetnx a 1 b 2", CROSS_MSETNX},
    };
    /* "a", "b", "c" and "d" hash to four different slots. */
    ck_assert_uint_ne(crc16_key_slot("a", 1), crc16_key_slot("b", 1));
    ck_assert_uint_ne(crc16_key_slot("a", 1), crc16_key_slot("d", 1));
    struct route_client compute = authed;
    compute.cross_compute = 1;
    struct req r;
    struct route rt;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req_split(&r, cases[i].line, ' ');
        route(&r, &compute, &rt);
        ck_assert_msg(rt.kind == RT_COMPUTE && rt.cross == cases[i].op, "%s: kind %d op %d",
                      cases[i].line, rt.kind, rt.cross);
        ck_assert_int_eq(route_cross_op(rt.cmd->cmd->name), cases[i].op);
        /* Without the option: Redis Cluster's answer. */
        route(&r, &authed, &rt);
        ck_assert_msg(rt.kind == RT_REFUSE && rt.err == PXE_CROSSSLOT, "%s", cases[i].line);
    }
    /* One slot: forwarded as ever, option or not. */
    req_split(&r, "sunionstore {t}d {t}a {t}b", ' ');
    route(&r, &compute, &rt);
    ck_assert(rt.kind == RT_SLOT && rt.slot == (int)crc16_key_slot("t", 1));
    /* What can be split is still split; what is not listed is still refused. */
    req_split(&r, "mget a b", ' ');
    route(&r, &compute, &rt);
    ck_assert_int_eq(rt.kind, RT_SPLIT);
    req_split(&r, "lmpop 2 a b left", ' ');
    route(&r, &compute, &rt);
    ck_assert(rt.kind == RT_REFUSE && rt.err == PXE_CROSSSLOT);
    req_split(&r, "blmove a b left left 0", ' ');
    route(&r, &compute, &rt);
    ck_assert(rt.kind == RT_REFUSE && rt.err == PXE_CROSSSLOT);
    /* MSETNX with a key and no value: Redis's arity error, not a computation. */
    req_split(&r, "msetnx a 1 b", ' ');
    route(&r, &compute, &rt);
    ck_assert(rt.kind == RT_REFUSE && rt.err == PXE_WRONG_ARITY);
    /* Inside MULTI the transaction decides (a cross-slot command aborts it, as in Redis). */
    struct route_client tx = compute;
    tx.tx = RT_TX_MULTI;
    req_split(&r, "sunion a b", ' ');
    route(&r, &tx, &rt);
    ck_assert_int_eq(rt.kind, RT_TXN);
    /* Every name of the list is a command of the table. */
    static const char *const names[] = {"sunion", "sinter", "sdiff", "sunionstore", "sinterstore",
                                        "sdiffstore", "sintercard", "zunion", "zinter", "zdiff",
                                        "zunionstore", "zinterstore", "zdiffstore", "zintercard",
                                        "bitop", "pfcount", "pfmerge", "smove", "rename",
                                        "renamenx", "copy", "lmove", "rpoplpush", "msetnx"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ck_assert_msg(commands_lookup(names[i], strlen(names[i])) != NULL, "%s", names[i]);
        ck_assert_int_ne(route_cross_op(names[i]), CROSS_NONE);
    }
    ck_assert_int_eq(route_cross_op("get"), CROSS_NONE);
    keys_result_free(&keys);
}
END_TEST

/* A client that lives for one request (the HTTP front) cannot subscribe, open a transaction or
 * ask about its connection; everything else routes as for a connection. */
START_TEST(test_route_oneshot)
{
    commands_init();
    keys_result_init(&keys);
    struct route_client one = authed;
    one.oneshot = 1;
    static const char *const refused[] = {
        "subscribe c",  "psubscribe c*", "ssubscribe c", "unsubscribe", "punsubscribe",
        "sunsubscribe", "multi",         "exec",         "discard",     "watch k",
        "unwatch",      "client info",   "client reply off", "client tracking on",
        "client caching yes", "monitor"};
    struct req r;
    struct route rt;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        req_split(&r, refused[i], ' ');
        route(&r, &one, &rt);
        ck_assert_msg(rt.kind == RT_REFUSE && rt.err == PXE_ONESHOT, "%s: %d", refused[i],
                      rt.kind);
        route(&r, &authed, &rt);
        ck_assert_msg(rt.kind != RT_REFUSE, "%s refused for a connection", refused[i]);
    }
    static const char *const served[] = {"get k", "blpop k 0", "publish c m", "ping",
                                         "client id", "client setname x", "hello 3", "keys *"};
    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
        req_split(&r, served[i], ' ');
        route(&r, &one, &rt);
        ck_assert_msg(rt.kind != RT_REFUSE, "%s: refused (%d)", served[i], rt.err);
    }
    /* Arity and unknown commands come first, as for everyone. */
    req_split(&r, "subscribe", ' ');
    route(&r, &one, &rt);
    ck_assert_int_eq(rt.err, PXE_WRONG_ARITY);
    char text[256];
    refusal_text("client info", &one, text, sizeof(text));
    ck_assert_str_eq(text, "-ERR 'CLIENT INFO' cannot be used over HTTP: it needs a connection "
                           "that outlives one request\r\n");
    keys_result_free(&keys);
}
END_TEST

Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");
    tcase_add_test(tc, test_route_every_command);
    tcase_add_test(tc, test_route_command_list_is_true);
    tcase_add_test(tc, test_route_key_positions);
    tcase_add_test(tc, test_route_refusal_texts);
    tcase_add_test(tc, test_route_client_state);
    tcase_add_test(tc, test_route_split_and_flags);
    tcase_add_test(tc, test_route_pool);
    tcase_add_test(tc, test_route_cross_compute);
    tcase_add_test(tc, test_route_oneshot);
    suite_add_tcase(s, tc);
    return s;
}
