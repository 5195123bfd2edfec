/*
 * Unit tests for proxy/acl (the ACL engine) and net/sha256: rules and their errors, passwords,
 * categories, first-args, key patterns with read/write flags, channels, selectors, the check
 * (which error Redis picks with several selectors), ACL LIST descriptions (compared with what
 * redis-server 7.0.15 prints for the same rules), the ACL file's text, sdssplitargs and the glob
 * matcher, including hostile input.
 */
#include "suites.h"

#include "acl.h"
#include "commands.h"
#include "mem.h"
#include "sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

struct req {
    char base[2048];
    size_t used;
    struct resp_span argv[MAX_ARGS];
    uint32_t argc;
};

/* A request from space-separated words. */
static void req_words(struct req *r, const char *line)
{
    memset(r, 0, sizeof(*r));
    const char *p = line;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        ck_assert_uint_lt(r->argc, MAX_ARGS);
        memcpy(r->base + r->used, p, len);
        r->argv[r->argc].off = (uint32_t)r->used;
        r->argv[r->argc].len = (uint32_t)len;
        r->argc++;
        r->used += len;
        p += len;
    }
}

static void setup(void)
{
    commands_init();
    acl_init();
}

/* The command entry (or subcommand) a request names. */
static const struct cmd_entry *cmd_of(const struct req *r)
{
    const struct cmd_entry *e = commands_lookup(r->base + r->argv[0].off, r->argv[0].len);
    ck_assert_ptr_nonnull(e);
    if (e->nsubs && r->argc > 1) e = commands_lookup_sub(e, r->base + r->argv[1].off, r->argv[1].len);
    ck_assert_ptr_nonnull(e);
    return e;
}

/* Applies space-separated rules (as ACL SETUSER arguments) to a new user; asserts success. */
static struct acl_user *user_with(const char *rules)
{
    struct req r;
    req_words(&r, rules);
    const char *ops[MAX_ARGS];
    size_t lens[MAX_ARGS];
    for (uint32_t i = 0; i < r.argc; i++) {
        ops[i] = r.base + r.argv[i].off;
        lens[i] = r.argv[i].len;
    }
    /* acl_user_apply wants NUL-terminated rules: copy them. */
    char *copies[MAX_ARGS];
    for (uint32_t i = 0; i < r.argc; i++) {
        copies[i] = px_strndup(ops[i], lens[i]);
        ops[i] = copies[i];
    }
    struct acl_rule_error err;
    struct acl_user *u = acl_user_apply(NULL, "u", 1, ops, lens, (int)r.argc, &err);
    ck_assert_msg(u != NULL, "rules '%s' refused at '%s' (%d)", rules, err.op ? err.op : "",
                  err.code);
    for (uint32_t i = 0; i < r.argc; i++) px_free(copies[i]);
    return u;
}

/* The error code of one rule on a fresh user (0 when accepted). */
static int rule_err(const char *pre, const char *op)
{
    struct acl_user *u = user_with(pre);
    int rc = acl_user_set(u, op, strlen(op));
    acl_user_free(u);
    return rc < 0 ? -rc : 0;
}

static enum acl_result check(const struct acl_user *u, const char *line, int *pos)
{
    struct req r;
    req_words(&r, line);
    struct keys_result k;
    keys_result_init(&k);
    int p = -1;
    enum acl_result res = acl_check(u, cmd_of(&r), r.base, r.argv, r.argc, &k, &p);
    keys_result_free(&k);
    if (pos) *pos = p;
    return res;
}

static void expect_describe(const char *rules, const char *want)
{
    struct acl_user *u = user_with(rules);
    struct sbuf out;
    sbuf_init(&out);
    acl_describe_user(u, &out);
    sbuf_put(&out, "", 1);
    ck_assert_msg(strcmp(out.buf, want) == 0, "rules '%s' describe as\n  '%s', want\n  '%s'", rules,
                  out.buf, want);
    sbuf_free(&out);
    acl_user_free(u);
}

START_TEST(test_sha256_vectors)
{
    char hex[65];
    sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes */
    sha256_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* The hash Redis's own test (acl.tcl) gives for "passwd4". */
    sha256_hex("passwd4", 7, hex);
    ck_assert_str_eq(hex, "34344e4d60c2b6d639b7bd22e18f2b0b91bc34bf0ac5f9952744435093cfb4e6");
    char big[1000];
    memset(big, 'a', sizeof(big));
    sha256_hex(big, sizeof(big), hex);
    ck_assert_str_eq(hex, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}
END_TEST

START_TEST(test_default_user)
{
    struct acl_user *d = acl_user_create_default();
    ck_assert_uint_eq(d->uid, ACL_DEFAULT_UID);
    ck_assert(d->unrestricted);
    ck_assert_int_eq(acl_auth_required(d), 0);
    ck_assert_int_eq(acl_user_check_password(d, "anything", 8), 0);
    struct sbuf out;
    sbuf_init(&out);
    acl_describe_user(d, &out);
    ck_assert_uint_eq(out.len, 21);
    ck_assert(memcmp(out.buf, "on nopass ~* &* +@all", 21) == 0);
    sbuf_free(&out);
    /* requirepass: the default user needs a password, and only that one works. */
    acl_user_set(d, "resetpass", 9);
    acl_user_set(d, ">s3cret", 7);
    ck_assert_int_eq(acl_auth_required(d), 1);
    ck_assert_int_eq(acl_user_check_password(d, "s3cret", 6), 0);
    ck_assert_int_eq(acl_user_check_password(d, "s3cre", 5), -1);
    ck_assert_int_eq(acl_user_check_password(d, "", 0), -1);
    acl_user_set(d, "off", 3);
    acl_user_set(d, "nopass", 6);
    ck_assert_int_eq(acl_auth_required(d), 1); /* off: AUTH required whatever the password */
    acl_user_free(d);
}
END_TEST

START_TEST(test_describe_like_redis)
{
    /* Each expected text is what redis-server 7.0.15 prints in ACL LIST for the same rules
     * (after "user u "). */
    expect_describe("", "off resetchannels -@all");
    expect_describe("on nopass ~* &* +@all", "on nopass ~* &* +@all");
    expect_describe("reset", "off sanitize-payload resetchannels -@all");
    expect_describe("on nopass resetchannels &foo +@all", "on nopass resetchannels &foo +@all");
    expect_describe("%R~foo %W~foo %RW~bar %RW~baz resetchannels &c1 &c2",
                    "off ~foo ~bar ~baz resetchannels &c1 &c2 -@all");
    expect_describe(">passwd1 on +acl (~a +get) (%R~r +@read)",
                    "on #3b1d7e9a7c37141350fb473fa099b8b18030cde1909f363e3758e52d4ea1a7b4 "
                    "resetchannels -@all +acl (~a resetchannels -@all +get) (%R~r resetchannels "
                    "-@all +@read)");
    expect_describe("+@all -@string", "off resetchannels +@all -@string");
    expect_describe("-@all +@set +acl ~set* &*", "off ~set* &* -@all +@set +acl");
    expect_describe("+@all -client|kill", "off resetchannels +@all -client|kill");
    expect_describe("-@all +select|0", "off resetchannels -@all +select|0");
    expect_describe("+memory|doctor", "off resetchannels -@all +memory|doctor");
    expect_describe("+memory|doctor +memory", "off resetchannels -@all +memory");
}
END_TEST

/* Every category alone, added or removed, describes as itself (acl.tcl's "reasonable results"). */
START_TEST(test_describe_each_category)
{
    for (int i = 0; i < ACL_NCATS; i++) {
        char rules[64], want[96];
        snprintf(rules, sizeof(rules), "+@all -@%s", acl_cat_name(i));
        snprintf(want, sizeof(want), "off resetchannels +@all -@%s", acl_cat_name(i));
        expect_describe(rules, want);
        snprintf(rules, sizeof(rules), "-@all +@%s", acl_cat_name(i));
        snprintf(want, sizeof(want), "off resetchannels -@all +@%s", acl_cat_name(i));
        expect_describe(rules, want);
    }
}
END_TEST

START_TEST(test_rule_errors)
{
    ck_assert_int_eq(rule_err("", "foo"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", ")"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", "+nosuchcommand"), ACL_ERR_UNKNOWN);
    ck_assert_int_eq(rule_err("", "-@nosuchcat"), ACL_ERR_UNKNOWN);
    ck_assert_int_eq(rule_err("", "+config|asdf"), ACL_ERR_UNKNOWN);
    ck_assert_int_eq(rule_err("", "+get|key1|key2"), ACL_ERR_UNKNOWN);
    ck_assert_int_eq(rule_err("", "+config|get|appendonly"), ACL_ERR_FIRSTARG_OF_SUB);
    ck_assert_int_eq(rule_err("", "+select|"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("allkeys", "~foo"), ACL_ERR_KEYS_AFTER_ALL);
    ck_assert_int_eq(rule_err("allchannels", "&foo"), ACL_ERR_CHANS_AFTER_ALL);
    ck_assert_int_eq(rule_err("", "<nothere"), ACL_ERR_NO_SUCH_PASS);
    ck_assert_int_eq(rule_err("", "#abc"), ACL_ERR_BAD_HASH);
    ck_assert_int_eq(
        rule_err("", "#34344E4D60C2B6D639B7BD22E18F2B0B91BC34BF0AC5F9952744435093CFB4E6"),
        ACL_ERR_BAD_HASH); /* upper case */
    ck_assert_int_eq(rule_err("", "%X~foo"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", "%RR~foo"), ACL_ERR_SYNTAX);
    /* '%' without R or W, as Redis 7.0.15 refuses it (it takes '%R', '%R~' and '~'). */
    ck_assert_int_eq(rule_err("", "%~*"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", "%~a"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", "%"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", "%R"), 0);
    ck_assert_int_eq(rule_err("", "%R~"), 0);
    ck_assert_int_eq(rule_err("", "~"), 0);
    ck_assert_int_eq(rule_err("", "%W~a"), 0);
    ck_assert_int_eq(rule_err("", "(this-is-invalid)"), ACL_ERR_SYNTAX);
    ck_assert_int_eq(rule_err("", "(&* &fail)"), ACL_ERR_CHANS_AFTER_ALL);
    ck_assert_int_eq(rule_err("", "ON"), 0); /* keywords without case */
    ck_assert_int_eq(rule_err("", "+GET"), 0);
    ck_assert_int_eq(rule_err("", ""), 0); /* an empty rule does nothing */
    /* A NUL inside a pattern is refused; one after a keyword ends it, as in Redis's strcasecmp. */
    struct acl_user *u = user_with("");
    ck_assert_int_eq(acl_user_set(u, "~a\0b", 4), -ACL_ERR_SYNTAX);
    ck_assert_int_eq(acl_user_set(u, "on\0xyz", 6), 0);
    ck_assert(u->flags & ACL_USER_ENABLED);
    acl_user_free(u);
}
END_TEST

START_TEST(test_apply_all_or_nothing)
{
    const char *ops[] = {"on", ">pw", "~k*", "+bogus"};
    size_t lens[] = {2, 3, 3, 6};
    struct acl_rule_error err;
    ck_assert_ptr_null(acl_user_apply(NULL, "x", 1, ops, lens, 4, &err));
    ck_assert_int_eq(err.code, ACL_ERR_UNKNOWN);
    ck_assert_str_eq(err.op, "+bogus");
    acl_rule_error_clear(&err);
    /* Selectors spread over arguments are merged; an unclosed one names its opening argument. */
    const char *sel[] = {"(~a", "+get", "&c)", "(~b"};
    size_t sl[] = {3, 4, 3, 3};
    ck_assert_ptr_null(acl_user_apply(NULL, "x", 1, sel, sl, 4, &err));
    ck_assert_int_eq(err.code, ACL_ERR_UNMATCHED_PAREN);
    ck_assert_str_eq(err.op, "(~b");
    acl_rule_error_clear(&err);
    struct acl_user *u = acl_user_apply(NULL, "x", 1, sel, sl, 3, &err);
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(u->nsel, 2);
    ck_assert_uint_eq(u->sel[1].nkeys, 1);
    ck_assert_str_eq(u->sel[1].keys[0].p, "a");
    ck_assert_uint_eq(u->sel[1].nchans, 1);
    /* A change keeps the uid (clients stay attached) and leaves the base untouched. */
    const char *more[] = {"clearselectors", "on"};
    size_t ml[] = {14, 2};
    struct acl_user *v = acl_user_apply(u, "x", 1, more, ml, 2, &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->uid, u->uid);
    ck_assert_uint_eq(v->nsel, 1);
    ck_assert_uint_eq(u->nsel, 2);
    ck_assert(!(u->flags & ACL_USER_ENABLED));
    acl_user_free(u);
    acl_user_free(v);
}
END_TEST

START_TEST(test_passwords)
{
    struct acl_user *u = user_with("on >p1 >p2 >p1");
    ck_assert_uint_eq(u->npass, 2); /* added once */
    ck_assert_int_eq(acl_user_check_password(u, "p1", 2), 0);
    ck_assert_int_eq(acl_user_check_password(u, "p2", 2), 0);
    ck_assert_int_eq(acl_user_check_password(u, "p3", 2), -1);
    ck_assert_int_eq(acl_user_set(u, "<p1", 3), 0);
    ck_assert_int_eq(acl_user_check_password(u, "p1", 2), -1);
    char hex[65];
    sha256_hex("p2", 2, hex);
    char op[66] = "!";
    strcat(op, hex);
    ck_assert_int_eq(acl_user_set(u, op, 65), 0);
    ck_assert_uint_eq(u->npass, 0);
    ck_assert_int_eq(acl_user_check_password(u, "p2", 2), -1);
    ck_assert_int_eq(acl_user_set(u, "nopass", 6), 0);
    ck_assert_int_eq(acl_user_check_password(u, "whatever", 8), 0);
    ck_assert_int_eq(acl_user_set(u, ">bin\0ary", 8), 0); /* passwords are binary */
    ck_assert_int_eq(acl_user_check_password(u, "bin\0ary", 7), 0);
    ck_assert_int_eq(acl_user_check_password(u, "bin", 3), -1);
    acl_user_free(u);
}
END_TEST

START_TEST(test_commands_and_categories)
{
    struct acl_user *u = user_with("on ~* &* -@all +@set +acl");
    ck_assert_int_eq(check(u, "sadd s a", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "set k v", NULL), ACL_DENIED_CMD);
    ck_assert_int_eq(check(u, "acl whoami", NULL), ACL_OK); /* a container allows its subs */
    ck_assert_int_eq(check(u, "auth x", NULL), ACL_OK);     /* no-auth commands always pass */
    acl_user_free(u);
    u = user_with("on ~* &* +@all -client +client|id +client|setname");
    ck_assert_int_eq(check(u, "client id", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "client kill type master", NULL), ACL_DENIED_CMD);
    acl_user_free(u);
    u = user_with("on ~* &* -@all +select|0 +debug|object");
    ck_assert_int_eq(check(u, "select 0", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "SELECT 1", NULL), ACL_DENIED_CMD);
    ck_assert_int_eq(check(u, "debug OBJECT k", NULL), ACL_OK); /* first-args without case */
    ck_assert_int_eq(check(u, "debug segfault", NULL), ACL_DENIED_CMD);
    acl_user_free(u);
    /* +readonly alone is not scripting: EVAL_RO needs @scripting (acl.tcl) */
    u = user_with("on ~* &* -@all +@read");
    ck_assert_int_eq(check(u, "get k", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "eval_ro s 0", NULL), ACL_DENIED_CMD);
    acl_user_free(u);
    /* ACL CAT: categories by name without case; commands of a category. */
    ck_assert_uint_eq(acl_cat_lookup("KEYSPACE", 8), ACL_CAT_KEYSPACE);
    ck_assert_uint_eq(acl_cat_lookup("nope", 4), 0);
    ck_assert_str_eq(acl_cat_name(0), "keyspace");
    ck_assert_str_eq(acl_cat_name(ACL_NCATS - 1), "scripting");
    const struct cmd_entry *multi = commands_lookup("multi", 5);
    ck_assert(multi->cmd->acl_cats & ACL_CAT_TRANSACTION);
    ck_assert(!(commands_lookup("set", 3)->cmd->acl_cats & ACL_CAT_KEYSPACE));
    ck_assert(commands_lookup("get", 3)->cmd->acl_cats & ACL_CAT_READ);
}
END_TEST

START_TEST(test_keys_read_write)
{
    struct acl_user *u = user_with("on &* +@all %R~read* %W~write* %RW~rw*");
    int pos;
    ck_assert_int_eq(check(u, "get read1", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "get write1", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 1);
    ck_assert_int_eq(check(u, "lpush write1 x", NULL), ACL_OK); /* insert: write only */
    ck_assert_int_eq(check(u, "set write1 v", NULL), ACL_OK);   /* SET without GET overwrites */
    ck_assert_int_eq(check(u, "set write1 v get", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check(u, "set read1 v", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check(u, "set rw1 v get", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "copy read1 write1", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "copy write1 read1", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 1);
    ck_assert_int_eq(check(u, "bitfield read1 get u4 0", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "bitfield read1 set u4 0 1", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check(u, "hexists write1 f", NULL), ACL_OK); /* no access flag */
    ck_assert_int_eq(check(u, "hexists nothing f", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check(u, "sort read1 store write1", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "sort write1 store write1", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check(u, "eval s 1 read1", NULL), ACL_DENIED_KEY); /* RW, access */
    ck_assert_int_eq(check(u, "eval s 1 rw1", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "eval s 0 read1", NULL), ACL_OK);  /* not a key */
    ck_assert_int_eq(check(u, "eval s 3 rw read", NULL), ACL_OK); /* bad numkeys: no keys */
    ck_assert_int_eq(check(u, "georadius read1 1 2 3 M STORE read2", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 7);
    ck_assert_int_eq(check(u, "migrate h p  0 5000 AUTH2 USER KEYS KEYS rw", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "mget rw1 read2 nope", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 3);
    acl_user_free(u);
}
END_TEST

START_TEST(test_channels)
{
    struct acl_user *u = user_with("on ~* +@all resetchannels &foo:1 &bar:*");
    int pos;
    ck_assert_int_eq(check(u, "publish foo:1 m", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "publish bar:2 m", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "publish zap:3 m", &pos), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(pos, 1);
    ck_assert_int_eq(check(u, "spublish zap:3 m", NULL), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(check(u, "subscribe foo:1 zap", &pos), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(pos, 2);
    ck_assert_int_eq(check(u, "ssubscribe bar:9", NULL), ACL_OK);
    /* Patterns compare literally against the rules. */
    ck_assert_int_eq(check(u, "psubscribe bar:*", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "psubscribe bar:baz", NULL), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(check(u, "unsubscribe zap", NULL), ACL_OK);
    /* Revocation: narrowing the channels matters to subscribers, widening does not. */
    struct acl_user *wider = user_with("on ~* +@all resetchannels &foo:1 &bar:* &baz");
    struct acl_user *narrower = user_with("on ~* +@all resetchannels &foo:1");
    struct acl_user *all = user_with("on ~* +@all allchannels");
    ck_assert_int_eq(acl_pubsub_revoked(wider, u), 0);
    ck_assert_int_eq(acl_pubsub_revoked(all, u), 0);
    ck_assert_int_eq(acl_pubsub_revoked(narrower, u), 1);
    ck_assert_int_eq(acl_pubsub_revoked(narrower, all), 1);
    ck_assert_int_eq(acl_channel_kept(narrower, "foo:1", 5, 0), 1);
    ck_assert_int_eq(acl_channel_kept(narrower, "bar:*", 5, 1), 0);
    acl_user_free(u);
    acl_user_free(wider);
    acl_user_free(narrower);
    acl_user_free(all);
}
END_TEST

/* acl-v2.tcl: which object is reported with several selectors. */
START_TEST(test_selectors)
{
    struct acl_user *u = user_with("on nopass -@all resetkeys (+@write ~write::*) (+@read ~read::*)");
    ck_assert_int_eq(check(u, "ping", NULL), ACL_DENIED_CMD);
    ck_assert_int_eq(check(u, "set write::foo bar", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "get read::foo", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "get write::foo", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check(u, "set read::foo bar", NULL), ACL_DENIED_KEY);
    acl_user_free(u);
    u = user_with("on nopass +mget ~key (+mget ~key ~otherkey)");
    int pos;
    ck_assert_int_eq(check(u, "get key", NULL), ACL_DENIED_CMD);
    ck_assert_int_eq(check(u, "mget otherkey someotherkey", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 2);
    ck_assert_int_eq(check(u, "mget key otherkey someotherkey", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 3);
    acl_user_free(u);
    /* Read in one selector and write in another do not add up. */
    u = user_with("on nopass (%R~read* +@all) (%W~write* +@all)");
    ck_assert_int_eq(check(u, "lpush writelist 1", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "get readstr", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "copy read write", NULL), ACL_DENIED_KEY);
    acl_user_free(u);
}
END_TEST

START_TEST(test_glob)
{
    ck_assert(acl_glob_match("*", 1, "anything", 8));
    ck_assert(acl_glob_match("foo:*", 5, "foo:1", 5));
    ck_assert(!acl_glob_match("foo:*", 5, "fo", 2));
    ck_assert(acl_glob_match("h?llo", 5, "hello", 5));
    ck_assert(acl_glob_match("h[ae]llo", 8, "hallo", 5));
    ck_assert(!acl_glob_match("h[^e]llo", 8, "hello", 5));
    ck_assert(acl_glob_match("h[a-c]llo", 9, "hbllo", 5));
    ck_assert(acl_glob_match("h[c-a]llo", 9, "hbllo", 5)); /* reversed range */
    ck_assert(acl_glob_match("a\\*b", 4, "a*b", 3));
    ck_assert(!acl_glob_match("a\\*b", 4, "axb", 3));
    ck_assert(acl_glob_match("a*", 2, "a", 1));
    ck_assert(!acl_glob_match("[", 1, "[", 1)); /* an unclosed class matches nothing */
    /* Hostile: many stars over a long subject ends quickly (no exponential walk, no deep
     * recursion past the nesting bound). */
    size_t n = 100000;
    char *pat = px_malloc(n + 1), *s = px_malloc(n);
    for (size_t i = 0; i < n; i++) pat[i] = i % 2 ? 'a' : '*';
    pat[n] = 'b';
    memset(s, 'a', n);
    ck_assert(!acl_glob_match(pat, n + 1, s, n));
    px_free(pat);
    px_free(s);
}
END_TEST

START_TEST(test_split_args)
{
    char **a;
    size_t *l;
    int n = acl_split_args(" ~a  \"+g\\x65t\" 'it\\'s' ", 24, &a, &l);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(a[0], "~a");
    ck_assert_str_eq(a[1], "+get");
    ck_assert_str_eq(a[2], "it's");
    acl_free_args(a, l, n);
    ck_assert_int_eq(acl_split_args("\"open", 5, &a, &l), -1);
    ck_assert_int_eq(acl_split_args("\"a\"b", 4, &a, &l), -1);
    n = acl_split_args("", 0, &a, &l);
    ck_assert_int_eq(n, 0);
    acl_free_args(a, l, n);
}
END_TEST

START_TEST(test_users_set)
{
    struct acl_users *s = acl_users_create();
    acl_users_put(s, acl_user_create_default());
    acl_users_put(s, acl_user_create("bob", 3));
    acl_users_put(s, acl_user_create("al", 2));
    acl_users_put(s, acl_user_create("alice", 5));
    acl_users_seal(s);
    ck_assert_uint_eq(s->n, 4);
    /* rax order: a prefix before its extensions */
    ck_assert_str_eq(s->v[0]->name, "al");
    ck_assert_str_eq(s->v[1]->name, "alice");
    ck_assert_str_eq(s->v[2]->name, "bob");
    ck_assert_str_eq(s->v[3]->name, "default");
    struct acl_user *bob = acl_users_find(s, "bob", 3);
    ck_assert_ptr_eq(acl_users_find_uid(s, bob->uid), bob);
    ck_assert_ptr_eq(acl_users_default(s), s->v[3]);
    struct acl_users *c = acl_users_copy(s);
    ck_assert_int_eq(acl_users_del(c, "bob", 3), 1);
    ck_assert_int_eq(acl_users_del(c, "bob", 3), 0);
    acl_users_seal(c);
    ck_assert_ptr_null(acl_users_find_uid(c, bob->uid));
    ck_assert_ptr_eq(acl_users_find(s, "bob", 3), bob); /* the first set is untouched */
    acl_users_unref(s);
    acl_users_unref(c);
}
END_TEST

START_TEST(test_file_round_trip)
{
    const char *text = "user alice on >alice ~* &* +@all\n"
                       "\n"
                       "user bob on -@all +@set +acl ~set* &* >bob (%R~r* +get)\n";
    struct acl_load_report rep;
    struct acl_users *s = acl_load_text(text, strlen(text), &rep);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n, 3); /* a default user is added */
    ck_assert_uint_eq(acl_users_default(s)->uid, ACL_DEFAULT_UID);
    struct sbuf out;
    sbuf_init(&out);
    acl_save_text(s, &out);
    struct acl_users *t = acl_load_text(out.buf, out.len, &rep);
    ck_assert_ptr_nonnull(t);
    struct sbuf again;
    sbuf_init(&again);
    acl_save_text(t, &again);
    ck_assert_uint_eq(out.len, again.len);
    ck_assert(memcmp(out.buf, again.buf, out.len) == 0);
    ck_assert_int_eq(acl_user_check_password(acl_users_find(t, "bob", 3), "bob", 3), 0);
    /* New uids: clients of the old users are not carried over (Redis's ACL LOAD). */
    ck_assert_uint_ne(acl_users_find(t, "bob", 3)->uid, acl_users_find(s, "bob", 3)->uid);
    sbuf_free(&out);
    sbuf_free(&again);
    acl_users_unref(s);
    acl_users_unref(t);
}
END_TEST

START_TEST(test_file_errors)
{
    const char *text = "user alice on ~* +@all\n"
                       "usr bob on\n"
                       "user alice on\n"
                       "user carol on +nosuch +alsonot foo bar\n"
                       "user dave (~a +get\n";
    struct acl_load_report rep;
    ck_assert_ptr_null(acl_load_text(text, strlen(text), &rep));
    ck_assert_uint_eq(rep.n, 6);
    ck_assert_int_eq(rep.v[0].kind, ACL_LOAD_NO_USER_KEYWORD);
    ck_assert_int_eq(rep.v[0].line, 2);
    ck_assert_int_eq(rep.v[1].kind, ACL_LOAD_DUPLICATE);
    ck_assert_int_eq(rep.v[2].kind, ACL_LOAD_UNKNOWN_OP);
    ck_assert_str_eq(rep.v[2].arg, "+nosuch");
    ck_assert_int_eq(rep.v[3].kind, ACL_LOAD_UNKNOWN_OP); /* every unknown one */
    ck_assert_int_eq(rep.v[4].kind, ACL_LOAD_BAD_OP);       /* only the first syntax error */
    ck_assert_int_eq(rep.v[4].code, ACL_ERR_SYNTAX);
    ck_assert_int_eq(rep.v[5].kind, ACL_LOAD_UNMATCHED_PAREN);
    ck_assert_int_eq(rep.v[5].line, 5);
    struct sbuf msg;
    sbuf_init(&msg);
    errors_acl_load(&msg, "users.acl", &rep, 1);
    sbuf_put(&msg, "", 1);
    ck_assert_msg(strstr(msg.buf, "-ERR users.acl:2 should start with user keyword followed by "
                                  "the username. WARNING: Duplicate user 'alice' found on line 3. "
                                  "users.acl:4: Error in applying operation '+nosuch': Unknown "
                                  "command or category name in ACL. ") == msg.buf,
                  "%s", msg.buf);
    sbuf_free(&msg);
    acl_load_report_free(&rep);
}
END_TEST

/* Hostile input: thousands of rules and patterns, huge patterns. */
START_TEST(test_hostile)
{
    struct acl_user *u = acl_user_create("h", 1);
    char op[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(op, sizeof(op), "~key:%d:*", i);
        ck_assert_int_eq(acl_user_set(u, op, strlen(op)), 0);
        snprintf(op, sizeof(op), "&ch%d", i);
        ck_assert_int_eq(acl_user_set(u, op, strlen(op)), 0);
        ck_assert_int_eq(acl_user_set(u, "+get", 4), 0);
    }
    ck_assert_uint_eq(u->sel[0].nkeys, 5000);
    ck_assert_int_eq(check(u, "get key:4999:x", NULL), ACL_OK);
    ck_assert_int_eq(check(u, "get nokey", NULL), ACL_DENIED_KEY);
    size_t big = 1 << 20;
    char *p = px_malloc(big + 2);
    p[0] = '~';
    memset(p + 1, '*', big);
    p[big + 1] = '\0';
    ck_assert_int_eq(acl_user_set(u, p, big + 1), 0);
    ck_assert_int_eq(check(u, "get anything", NULL), ACL_OK);
    struct sbuf out;
    sbuf_init(&out);
    acl_describe_user(u, &out);
    ck_assert_uint_gt(out.len, big);
    sbuf_free(&out);
    px_free(p);
    acl_user_free(u);
}
END_TEST

Suite *acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("acl");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_default_user);
    tcase_add_test(tc, test_describe_like_redis);
    tcase_add_test(tc, test_describe_each_category);
    tcase_add_test(tc, test_rule_errors);
    tcase_add_test(tc, test_apply_all_or_nothing);
    tcase_add_test(tc, test_passwords);
    tcase_add_test(tc, test_commands_and_categories);
    tcase_add_test(tc, test_keys_read_write);
    tcase_add_test(tc, test_channels);
    tcase_add_test(tc, test_selectors);
    tcase_add_test(tc, test_glob);
    tcase_add_test(tc, test_split_args);
    tcase_add_test(tc, test_users_set);
    tcase_add_test(tc, test_file_round_trip);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_hostile);
    suite_add_tcase(s, tc);
    return s;
}
