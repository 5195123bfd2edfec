/*
 * ACL subcommands; see aclcmd.h. Each handler follows aclCommand in Redis 7.0.15's acl.c: the
 * same argument checks in the same order, the same replies (maps in RESP3 where Redis writes
 * maps), and error texts from errors.c.
 */
#include "aclcmd.h"

#include "clock.h"
#include "errors.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define GENPASS_MAX_BITS 4096

void aclcmd_init(struct aclcmd_ctx *ctx, struct request_pool *rp, struct acl_local *acl,
                 struct keys_result *keys)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->rp = rp;
    ctx->acl = acl;
    ctx->keys = keys;
    sbuf_init(&ctx->out);
}

void aclcmd_deinit(struct aclcmd_ctx *ctx)
{
    sbuf_free(&ctx->out);
}

/* The subcommand as a C string compares, as Redis's strcasecmp does. */
static int sub_is(const struct request *r, const char *word)
{
    return request_arg_is(r, 1, word);
}

/* ---- SETUSER / DELUSER: changes, answered once every worker has them ---- */

static void do_setuser(struct aclcmd_ctx *ctx, struct request *r, struct sbuf *sb)
{
    const char *name = request_arg(r, 2);
    size_t nlen = r->argv[2].len;
    if (acl_has_spaces(name, nlen)) {
        errors_acl_username(sb);
        return;
    }
    int n = (int)r->argc - 3;
    const char **ops = px_malloc(((size_t)n + 1) * sizeof(*ops));
    size_t *lens = px_malloc(((size_t)n + 1) * sizeof(*lens));
    for (int i = 0; i < n; i++) {
        ops[i] = request_arg(r, (uint32_t)i + 3);
        lens[i] = r->argv[i + 3].len;
    }
    struct acl_rule_error err;
    int rc = acl_store_setuser(name, nlen, ops, lens, n, &err);
    px_free(ops);
    px_free(lens);
    if (rc < 0) {
        errors_acl_setuser(sb, err.code, err.op, err.oplen);
        acl_rule_error_clear(&err);
        return;
    }
    resp_write_simple(sb, "OK");
    ctx->publish(ctx->up, r, sb->buf, sb->len);
    sbuf_clear(sb);
}

/* Redis compares the names as C strings: "default" followed by a NUL is the default user too. */
static int is_default(const char *p, size_t len)
{
    return strnlen(p, len) == 7 && memcmp(p, "default", 7) == 0;
}

static void do_deluser(struct aclcmd_ctx *ctx, struct request *r, struct sbuf *sb)
{
    for (uint32_t j = 2; j < r->argc; j++) {
        if (is_default(request_arg(r, j), r->argv[j].len)) {
            errors_acl_deldefault(sb);
            return;
        }
    }
    int n = (int)r->argc - 2;
    const char **names = px_malloc((size_t)n * sizeof(*names));
    size_t *lens = px_malloc((size_t)n * sizeof(*lens));
    for (int i = 0; i < n; i++) {
        names[i] = request_arg(r, (uint32_t)i + 2);
        lens[i] = r->argv[i + 2].len;
    }
    int deleted = acl_store_deluser(names, lens, n);
    px_free(names);
    px_free(lens);
    resp_write_int(sb, deleted);
    if (deleted) {
        ctx->publish(ctx->up, r, sb->buf, sb->len);
        sbuf_clear(sb);
    }
}

/* ---- reads ---- */

static void put_sbuf_bulk(struct sbuf *sb, struct sbuf *t)
{
    resp_write_bulk(sb, t->buf ? t->buf : "", t->len);
    sbuf_clear(t);
}

/* aclAddReplySelectorDescription: commands, keys, channels. */
static void selector_fields(struct sbuf *sb, const struct acl_selector *s)
{
    struct sbuf t;
    sbuf_init(&t);
    resp_write_bulk(sb, "commands", 8);
    acl_describe_commands(s, &t);
    put_sbuf_bulk(sb, &t);
    resp_write_bulk(sb, "keys", 4);
    acl_describe_keys(s, &t);
    put_sbuf_bulk(sb, &t);
    resp_write_bulk(sb, "channels", 8);
    acl_describe_channels(s, &t);
    put_sbuf_bulk(sb, &t);
    sbuf_free(&t);
}

static void do_getuser(struct aclcmd_ctx *ctx, struct request *r, struct sbuf *sb)
{
    int resp = r->client->resp;
    const struct acl_user *u = acl_users_find(ctx->acl->users, request_arg(r, 2), r->argv[2].len);
    if (!u) {
        resp_write_null(sb, resp);
        return;
    }
    resp_write_map_len(sb, 6, resp);
    resp_write_bulk(sb, "flags", 5);
    const char *names[5];
    int nf = acl_user_flag_names(u, names);
    resp_write_set_len(sb, nf, resp);
    for (int i = 0; i < nf; i++) resp_write_bulk(sb, names[i], strlen(names[i]));
    resp_write_bulk(sb, "passwords", 9);
    resp_write_array_len(sb, u->npass);
    for (uint32_t i = 0; i < u->npass; i++) resp_write_bulk(sb, u->pass[i], 64);
    selector_fields(sb, &u->sel[0]);
    resp_write_bulk(sb, "selectors", 9);
    resp_write_array_len(sb, u->nsel - 1);
    for (uint32_t i = 1; i < u->nsel; i++) {
        resp_write_map_len(sb, 3, resp);
        selector_fields(sb, &u->sel[i]);
    }
}

static void do_list(struct aclcmd_ctx *ctx, struct request *r, struct sbuf *sb, int names_only)
{
    (void)r;
    const struct acl_users *s = ctx->acl->users;
    resp_write_array_len(sb, s->n);
    struct sbuf t;
    sbuf_init(&t);
    for (uint32_t i = 0; i < s->n; i++) {
        const struct acl_user *u = s->v[i];
        if (names_only) {
            resp_write_bulk(sb, u->name, u->namelen);
            continue;
        }
        sbuf_puts(&t, "user ");
        sbuf_put(&t, u->name, u->namelen);
        sbuf_put(&t, " ", 1);
        acl_describe_user(u, &t);
        put_sbuf_bulk(sb, &t);
    }
    sbuf_free(&t);
}

struct cat_ctx {
    struct sbuf *sb;
    long n;
};

static void cat_one(void *p, const char *name)
{
    struct cat_ctx *cc = p;
    cc->n++;
    resp_write_bulk(cc->sb, name, strlen(name));
}

static void do_cat(struct request *r, struct sbuf *sb)
{
    if (r->argc == 2) {
        resp_write_array_len(sb, ACL_NCATS);
        for (int i = 0; i < ACL_NCATS; i++)
            resp_write_bulk(sb, acl_cat_name(i), strlen(acl_cat_name(i)));
        return;
    }
    /* Redis looks the category up as a C string. */
    const char *name = request_arg(r, 2);
    size_t len = r->argv[2].len;
    uint32_t flag = strnlen(name, len) == len ? acl_cat_lookup(name, len) : 0;
    if (!flag) {
        errors_acl_unknown_category(sb, name, len);
        return;
    }
    struct sbuf items;
    sbuf_init(&items);
    struct cat_ctx cc = {&items, 0};
    acl_cat_commands(flag, cat_one, &cc);
    resp_write_array_len(sb, cc.n);
    sbuf_put(sb, items.buf, items.len);
    sbuf_free(&items);
}

static void do_genpass(struct request *r, struct sbuf *sb)
{
    long long bits = 256;
    if (r->argc == 3 && !resp_str2ll(request_arg(r, 2), r->argv[2].len, &bits)) {
        errors_not_integer(sb);
        return;
    }
    if (bits <= 0 || bits > GENPASS_MAX_BITS) {
        errors_acl_genpass(sb);
        return;
    }
    size_t chars = (size_t)(bits + 3) / 4;
    unsigned char rnd[GENPASS_MAX_BITS / 8];
    size_t need = (chars + 1) / 2, got = 0;
    while (got < need) {
        ssize_t g = getrandom(rnd + got, need - got, 0);
        if (g <= 0) {
            if (g < 0 && errno == EINTR) continue;
            break;
        }
        got += (size_t)g;
    }
    if (got < need) { /* no entropy source: the clock, mixed; never expected on Linux */
        uint64_t x = clock_wall_us() ^ 0x9E3779B97F4A7C15ull;
        for (size_t i = got; i < need; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rnd[i] = (unsigned char)x;
        }
    }
    static const char hex[] = "0123456789abcdef";
    char pass[GENPASS_MAX_BITS / 4];
    for (size_t i = 0; i < chars; i++) pass[i] = hex[(rnd[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    resp_write_bulk(sb, pass, chars);
}

/* A double as Redis writes one (%.17g; a bulk string in RESP2). */
static void write_double(struct sbuf *sb, double d, int resp)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.17g", d);
    if (resp >= 3) {
        sbuf_put(sb, ",", 1);
        sbuf_put(sb, buf, (size_t)n);
        sbuf_put(sb, "\r\n", 2);
    } else {
        resp_write_bulk(sb, buf, (size_t)n);
    }
}

static void do_log(struct request *r, struct sbuf *sb)
{
    int resp = r->client->resp;
    long long count = 10;
    if (r->argc == 3) {
        if (request_arg_is(r, 2, "reset")) {
            acl_store_log_reset();
            resp_write_simple(sb, "OK");
            return;
        }
        if (!resp_str2ll(request_arg(r, 2), r->argv[2].len, &count)) {
            errors_not_integer(sb);
            return;
        }
        if (count < 0) count = 0;
    }
    struct acl_log_entry *v;
    size_t n = acl_store_log_copy(count > 1000000000 ? 1000000000 : (long)count, &v);
    uint64_t now = clock_wall_us() / 1000;
    resp_write_array_len(sb, (long long)n);
    for (size_t i = 0; i < n; i++) {
        const struct acl_log_entry *e = &v[i];
        static const char *const reasons[] = {"unknown", "command", "key", "auth", "channel"};
        static const char *const ctxs[] = {"toplevel", "multi", "lua"};
        const char *reason = e->reason >= 0 && e->reason <= 4 ? reasons[e->reason] : "unknown";
        const char *context = e->context >= 0 && e->context <= 2 ? ctxs[e->context] : "unknown";
        resp_write_map_len(sb, 7, resp);
        resp_write_bulk(sb, "count", 5);
        resp_write_int(sb, (long long)e->count);
        resp_write_bulk(sb, "reason", 6);
        resp_write_bulk(sb, reason, strlen(reason));
        resp_write_bulk(sb, "context", 7);
        resp_write_bulk(sb, context, strlen(context));
        resp_write_bulk(sb, "object", 6);
        resp_write_bulk(sb, e->object, e->objlen);
        resp_write_bulk(sb, "username", 8);
        resp_write_bulk(sb, e->username, e->userlen);
        resp_write_bulk(sb, "age-seconds", 11);
        write_double(sb, (double)(int64_t)(now - e->ctime_ms) / 1000, resp);
        resp_write_bulk(sb, "client-info", 11);
        resp_write_bulk(sb, e->cinfo, e->cinfolen);
    }
    acl_store_log_free(v, n);
}

/* lookupCommand over argv[3..]: the command, or its subcommand when it is a container and a
 * second word follows. */
static const struct cmd_entry *dryrun_lookup(const struct request *r)
{
    const struct cmd_entry *e = commands_lookup(request_arg(r, 3), r->argv[3].len);
    if (!e || r->argc - 3 == 1 || !e->nsubs) return e;
    return commands_lookup_sub(e, request_arg(r, 4), r->argv[4].len);
}

static void do_dryrun(struct aclcmd_ctx *ctx, struct request *r, struct sbuf *sb)
{
    const struct acl_user *u = acl_users_find(ctx->acl->users, request_arg(r, 2), r->argv[2].len);
    if (!u) {
        errors_acl_no_user(sb, request_arg(r, 2), r->argv[2].len);
        return;
    }
    const struct cmd_entry *e = dryrun_lookup(r);
    if (!e) {
        errors_acl_no_command(sb, request_arg(r, 3), r->argv[3].len);
        return;
    }
    int argc = (int)r->argc - 3;
    if ((e->cmd->arity > 0 && e->cmd->arity != argc) || argc < -e->cmd->arity) {
        errors_wrong_arity(sb, e->cmd->name);
        return;
    }
    int idx = 0;
    enum acl_result res = acl_check(u, e, r->breq.chunk->data, r->argv + 3, (uint32_t)argc,
                                    ctx->keys, &idx);
    if (res == ACL_OK) {
        resp_write_simple(sb, "OK");
        return;
    }
    errors_acl_dryrun(sb, res, e->cmd->name, request_arg(r, (uint32_t)idx + 3),
                      r->argv[idx + 3].len);
}

static void do_load(struct aclcmd_ctx *ctx, struct request *r, struct sbuf *sb)
{
    struct acl_load_report rep;
    int err = 0;
    int rc = acl_store_load(&rep, &err);
    if (rc == -2) {
        errors_acl_load_open(sb, acl_store_file(), strerror(err));
    } else if (rc == -1) {
        errors_acl_load(sb, acl_store_file(), &rep, 1);
    } else {
        resp_write_simple(sb, "OK");
        ctx->publish(ctx->up, r, sb->buf, sb->len);
        sbuf_clear(sb);
    }
    acl_load_report_free(&rep);
}

static void do_help(struct sbuf *sb)
{
    static const char *const help[] = {
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the "
        "command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    };
    size_t n = sizeof(help) / sizeof(help[0]);
    resp_write_array_len(sb, (long long)n);
    for (size_t i = 0; i < n; i++) resp_write_simple(sb, help[i]);
}

void aclcmd_run(struct aclcmd_ctx *ctx, struct request *r)
{
    struct sbuf *sb = &ctx->out;
    sbuf_clear(sb);
    uint32_t argc = r->argc;
    if (sub_is(r, "setuser") && argc >= 3) {
        do_setuser(ctx, r, sb);
    } else if (sub_is(r, "deluser") && argc >= 3) {
        do_deluser(ctx, r, sb);
    } else if (sub_is(r, "getuser") && argc == 3) {
        do_getuser(ctx, r, sb);
    } else if ((sub_is(r, "list") || sub_is(r, "users")) && argc == 2) {
        do_list(ctx, r, sb, sub_is(r, "users"));
    } else if (sub_is(r, "whoami") && argc == 2) {
        const struct acl_user *u = client_user(r->client);
        if (!u) u = ctx->acl->dflt;
        resp_write_bulk(sb, u->name, u->namelen);
    } else if (!acl_store_file() && (sub_is(r, "load") || sub_is(r, "save"))) {
        errors_acl_no_file(sb);
    } else if (sub_is(r, "load") && argc == 2) {
        do_load(ctx, r, sb);
    } else if (sub_is(r, "save") && argc == 2) {
        if (acl_store_save() == 0)
            resp_write_simple(sb, "OK");
        else
            errors_acl_save(sb);
    } else if (sub_is(r, "cat") && (argc == 2 || argc == 3)) {
        do_cat(r, sb);
    } else if (sub_is(r, "genpass") && (argc == 2 || argc == 3)) {
        do_genpass(r, sb);
    } else if (sub_is(r, "log") && (argc == 2 || argc == 3)) {
        do_log(r, sb);
    } else if (sub_is(r, "dryrun") && argc >= 4) {
        do_dryrun(ctx, r, sb);
    } else if (sub_is(r, "help") && argc == 2) {
        do_help(sb);
    } else {
        errors_subcommand_syntax(sb, request_arg(r, 0), r->argv[0].len, request_arg(r, 1),
                                 r->argv[1].len);
    }
    if (sb->len == 0) return; /* published: the worker answers once every worker has the set */
    if (sb->buf[0] == '-') r->flags |= REQ_F_REJECTED;
    request_reply_bytes(ctx->rp, r, sb->buf, sb->len);
}
