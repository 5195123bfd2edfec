/*
 * The ACL engine; see acl.h. Each function follows its counterpart in Redis 7.0.15's acl.c, named
 * in its comment, so that the two can be read side by side. Where Redis walks its command dict
 * (in hash order), this walks the command table in its order (names sorted, each container
 * followed by its subcommands): descriptions and ACL CAT list the same commands, possibly in
 * another order, which Redis itself does not keep stable either.
 */
#include "acl.h"

#include "mem.h"
#include "sha256.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#define ACL_FUTURE_BIT (ACL_CMD_BITS - 1)
#define GLOB_MAX_NESTING 1000 /* '*'s a pattern may nest before it stops matching (Redis 7.2) */

/* What acl_init learns of each command (by id). */
enum chan_kind { CHAN_NONE = 0, CHAN_SUBSCRIBE, CHAN_PSUBSCRIBE, CHAN_PUBLISH };
static uint8_t *chan_kind;    /* per command id */
static uint8_t *cmd_has_keys; /* per command id: a key spec that is not not_key */
static uint32_t ncmds;
static atomic_uint_fast64_t next_uid = ACL_DEFAULT_UID + 1;

static const char *const cat_names[ACL_NCATS] = {
    "keyspace", "read", "write",    "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",  "stream",     "pubsub",      "admin",
    "fast",     "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
};

void acl_init(void)
{
    if (chan_kind) return;
    ncmds = commands_count();
    /* A command id is a bit of the bitmap, below the reserved one. */
    if (ncmds >= ACL_FUTURE_BIT) ncmds = ACL_FUTURE_BIT;
    chan_kind = px_calloc(ncmds + 1, 1);
    cmd_has_keys = px_calloc(ncmds + 1, 1);
    static const struct {
        const char *name;
        uint8_t kind;
    } chans[] = {
        {"subscribe", CHAN_SUBSCRIBE}, {"ssubscribe", CHAN_SUBSCRIBE},
        {"psubscribe", CHAN_PSUBSCRIBE}, {"publish", CHAN_PUBLISH}, {"spublish", CHAN_PUBLISH},
    };
    for (uint32_t id = 0; id < ncmds; id++) {
        const struct command *c = commands_by_id(id)->cmd;
        for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]); i++)
            if (strcmp(c->name, chans[i].name) == 0) chan_kind[id] = chans[i].kind;
        for (uint32_t j = 0; j < c->nkeyspecs; j++)
            if (!(c->keyspecs[j].flags & KSF_NOT_KEY)) cmd_has_keys[id] = 1;
    }
}

/* ---- small helpers ---- */

int acl_has_spaces(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)p[i]) || p[i] == 0) return 1;
    return 0;
}

/* Redis compares rule keywords with strcasecmp on C strings: a NUL ends the rule there. */
static int op_is(const char *op, const char *word)
{
    return strcasecmp(op, word) == 0;
}

static void str_set(struct acl_str *s, const char *p, size_t len, uint8_t flags)
{
    s->p = px_malloc(len + 1);
    memcpy(s->p, p, len);
    s->p[len] = '\0';
    s->len = (uint32_t)len;
    s->flags = flags;
}

static void strs_free(struct acl_str *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) px_free(v[i].p);
    px_free(v);
}

static struct acl_str *strs_dup(const struct acl_str *v, uint32_t n)
{
    if (!n) return NULL;
    struct acl_str *d = px_malloc(n * sizeof(*d));
    for (uint32_t i = 0; i < n; i++) str_set(&d[i], v[i].p, v[i].len, v[i].flags);
    return d;
}

/* Appends, or for an equal string (a pattern added twice) ORs the flags in. */
static void strs_add(struct acl_str **v, uint32_t *n, const char *p, size_t len, uint8_t flags)
{
    for (uint32_t i = 0; i < *n; i++)
        if ((*v)[i].len == len && memcmp((*v)[i].p, p, len) == 0) {
            (*v)[i].flags |= flags;
            return;
        }
    *v = px_realloc(*v, (*n + 1) * sizeof(**v));
    str_set(&(*v)[*n], p, len, flags);
    (*n)++;
}

static void strs_clear(struct acl_str **v, uint32_t *n)
{
    strs_free(*v, *n);
    *v = NULL;
    *n = 0;
}

/* ---- glob matching: Redis's stringmatchlen ---- */

static int glob_impl(const char *pattern, long patternLen, const char *string, long stringLen,
                     int *skipLonger, int nesting)
{
    if (nesting > GLOB_MAX_NESTING) return 0;
    while (patternLen && stringLen) {
        switch (pattern[0]) {
        case '*':
            while (patternLen && pattern[1] == '*') {
                pattern++;
                patternLen--;
            }
            if (patternLen == 1) return 1;
            while (stringLen) {
                if (glob_impl(pattern + 1, patternLen - 1, string, stringLen, skipLonger,
                              nesting + 1))
                    return 1;
                if (*skipLonger) return 0;
                string++;
                stringLen--;
            }
            *skipLonger = 1;
            return 0;
        case '?':
            string++;
            stringLen--;
            break;
        case '[': {
            int not, match;
            pattern++;
            patternLen--;
            not = pattern[0] == '^';
            if (not) {
                pattern++;
                patternLen--;
            }
            match = 0;
            while (1) {
                if (pattern[0] == '\\' && patternLen >= 2) {
                    pattern++;
                    patternLen--;
                    if (pattern[0] == string[0]) match = 1;
                } else if (pattern[0] == ']') {
                    break;
                } else if (patternLen == 0) {
                    pattern--;
                    patternLen++;
                    break;
                } else if (patternLen >= 3 && pattern[1] == '-') {
                    int start = pattern[0], end = pattern[2], c = string[0];
                    if (start > end) {
                        int t = start;
                        start = end;
                        end = t;
                    }
                    pattern += 2;
                    patternLen -= 2;
                    if (c >= start && c <= end) match = 1;
                } else if (pattern[0] == string[0]) {
                    match = 1;
                }
                pattern++;
                patternLen--;
            }
            if (not) match = !match;
            if (!match) return 0;
            string++;
            stringLen--;
            break;
        }
        case '\\':
            if (patternLen >= 2) {
                pattern++;
                patternLen--;
            }
            /* fall through */
        default:
            if (pattern[0] != string[0]) return 0;
            string++;
            stringLen--;
            break;
        }
        pattern++;
        patternLen--;
        if (stringLen == 0) {
            /* Patterns here are NUL-terminated, so this stops at their end as Redis's sds do. */
            while (*pattern == '*') {
                pattern++;
                patternLen--;
            }
            break;
        }
    }
    return patternLen == 0 && stringLen == 0;
}

int acl_glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    int skip = 0;
    return glob_impl(pat, (long)plen, s, (long)slen, &skip, 0);
}

/* ---- selectors ---- */

static void sel_init(struct acl_selector *s, uint32_t flags)
{
    memset(s, 0, sizeof(*s));
    s->flags = flags; /* acl-pubsub-default is resetchannels, as in Redis 7.0 */
}

static void sel_reset_firstargs(struct acl_selector *s)
{
    for (uint32_t i = 0; i < s->nfa; i++) strs_free(s->fa[i].args, s->fa[i].n);
    px_free(s->fa);
    s->fa = NULL;
    s->nfa = 0;
}

static void sel_deinit(struct acl_selector *s)
{
    strs_free(s->keys, s->nkeys);
    strs_free(s->chans, s->nchans);
    sel_reset_firstargs(s);
    memset(s, 0, sizeof(*s));
}

static void sel_copy(struct acl_selector *d, const struct acl_selector *s)
{
    *d = *s;
    d->keys = strs_dup(s->keys, s->nkeys);
    d->chans = strs_dup(s->chans, s->nchans);
    d->fa = NULL;
    d->nfa = 0;
    if (s->nfa) {
        d->fa = px_malloc(s->nfa * sizeof(*d->fa));
        d->nfa = s->nfa;
        for (uint32_t i = 0; i < s->nfa; i++) {
            d->fa[i].cmd = s->fa[i].cmd;
            d->fa[i].n = s->fa[i].n;
            d->fa[i].args = strs_dup(s->fa[i].args, s->fa[i].n);
        }
    }
}

static int get_bit(const struct acl_selector *s, uint32_t id)
{
    if (id >= ACL_CMD_BITS) return 0;
    return (s->allowed[id / 64] >> (id % 64)) & 1;
}

/* ACLSetSelectorCommandBit: clearing a bit clears allcommands. */
static void set_bit(struct acl_selector *s, uint32_t id, int value)
{
    if (id >= ACL_CMD_BITS) return;
    if (value) {
        s->allowed[id / 64] |= 1ull << (id % 64);
    } else {
        s->allowed[id / 64] &= ~(1ull << (id % 64));
        s->flags &= ~(uint32_t)ACL_SEL_ALLCOMMANDS;
    }
}

static struct acl_firstargs *find_fa(const struct acl_selector *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->nfa; i++)
        if (s->fa[i].cmd == id) return &s->fa[i];
    return NULL;
}

/* ACLResetFirstArgsForCommand */
static void reset_fa(struct acl_selector *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->nfa; i++) {
        if (s->fa[i].cmd != id) continue;
        strs_free(s->fa[i].args, s->fa[i].n);
        s->fa[i] = s->fa[--s->nfa];
        if (!s->nfa) {
            px_free(s->fa);
            s->fa = NULL;
        }
        return;
    }
}

/* ACLAddAllowedFirstArg: once per first-arg, compared without case. */
static void add_fa(struct acl_selector *s, uint32_t id, const char *sub, size_t len)
{
    struct acl_firstargs *f = find_fa(s, id);
    if (!f) {
        s->fa = px_realloc(s->fa, (s->nfa + 1) * sizeof(*s->fa));
        f = &s->fa[s->nfa++];
        f->cmd = id;
        f->args = NULL;
        f->n = 0;
    }
    for (uint32_t i = 0; i < f->n; i++)
        if (strcasecmp(f->args[i].p, sub) == 0) return;
    f->args = px_realloc(f->args, (f->n + 1) * sizeof(*f->args));
    str_set(&f->args[f->n++], sub, len, 0);
}

/* ACLChangeSelectorPerm: a container's subcommands follow it. */
static void change_perm(struct acl_selector *s, const struct cmd_entry *e, int allow)
{
    set_bit(s, e->id, allow);
    reset_fa(s, e->id);
    for (uint32_t i = 0; i < e->nsubs; i++) set_bit(s, e->subs[i].id, allow);
}

/* The top-level commands, in table order (subcommands follow their container). */
#define FOR_EACH_TOP(e)                                                                           \
    for (uint32_t id_ = 0; id_ < ncmds; id_++)                                                    \
        if (((e) = commands_by_id(id_)) && !strchr((e)->cmd->name, '|'))

/* ACLSetSelectorCommandBitsForCategoryLogic */
static void set_category(struct acl_selector *s, uint32_t cflag, int value)
{
    const struct cmd_entry *e;
    FOR_EACH_TOP(e)
    {
        if (e->cmd->acl_cats & cflag) change_perm(s, e, value);
        for (uint32_t i = 0; i < e->nsubs; i++)
            if (e->subs[i].cmd->acl_cats & cflag) change_perm(s, &e->subs[i], value);
    }
}

/* ACLCountCategoryBitsForCommands */
static void count_category(const struct acl_selector *s, uint32_t cflag, unsigned long *on,
                           unsigned long *off)
{
    *on = *off = 0;
    for (uint32_t id = 0; id < ncmds; id++) {
        const struct cmd_entry *e = commands_by_id(id);
        if (!(e->cmd->acl_cats & cflag)) continue;
        if (get_bit(s, id))
            (*on)++;
        else
            (*off)++;
    }
}

uint32_t acl_cat_lookup(const char *name, size_t len)
{
    for (int i = 0; i < ACL_NCATS; i++)
        if (strlen(cat_names[i]) == len && strncasecmp(cat_names[i], name, len) == 0)
            return 1u << i;
    return 0;
}

const char *acl_cat_name(int i)
{
    return i >= 0 && i < ACL_NCATS ? cat_names[i] : "";
}

void acl_cat_commands(uint32_t flag, void (*fn)(void *ctx, const char *name), void *ctx)
{
    const struct cmd_entry *e;
    FOR_EACH_TOP(e)
    {
        if (e->cmd->acl_cats & flag) fn(ctx, e->cmd->name);
        for (uint32_t i = 0; i < e->nsubs; i++)
            if (e->subs[i].cmd->acl_cats & flag) fn(ctx, e->subs[i].cmd->name);
    }
}

/* ACLLookupCommand: "name" or "container|sub" (any case); NULL when unknown or deeper. */
static const struct cmd_entry *lookup_cmd(const char *name)
{
    const char *bar = strchr(name, '|');
    if (!bar) return commands_lookup(name, strlen(name));
    if (strchr(bar + 1, '|')) return NULL;
    const struct cmd_entry *e = commands_lookup(name, (size_t)(bar - name));
    if (!e || !e->nsubs) return NULL;
    return commands_lookup_sub(e, bar + 1, strlen(bar + 1));
}

/* ACLSetSelector. Returns 0 or -(enum acl_err). */
static int sel_set(struct acl_selector *s, const char *op, size_t oplen)
{
    if (op_is(op, "allkeys") || op_is(op, "~*")) {
        s->flags |= ACL_SEL_ALLKEYS;
        strs_clear(&s->keys, &s->nkeys);
    } else if (op_is(op, "resetkeys")) {
        s->flags &= ~(uint32_t)ACL_SEL_ALLKEYS;
        strs_clear(&s->keys, &s->nkeys);
    } else if (op_is(op, "allchannels") || op_is(op, "&*")) {
        s->flags |= ACL_SEL_ALLCHANNELS;
        strs_clear(&s->chans, &s->nchans);
    } else if (op_is(op, "resetchannels")) {
        s->flags &= ~(uint32_t)ACL_SEL_ALLCHANNELS;
        strs_clear(&s->chans, &s->nchans);
    } else if (op_is(op, "allcommands") || op_is(op, "+@all")) {
        memset(s->allowed, 255, sizeof(s->allowed));
        s->flags |= ACL_SEL_ALLCOMMANDS;
        sel_reset_firstargs(s);
    } else if (op_is(op, "nocommands") || op_is(op, "-@all")) {
        memset(s->allowed, 0, sizeof(s->allowed));
        s->flags &= ~(uint32_t)ACL_SEL_ALLCOMMANDS;
        sel_reset_firstargs(s);
    } else if (op[0] == '~' || op[0] == '%') {
        if (s->flags & ACL_SEL_ALLKEYS) return -ACL_ERR_KEYS_AFTER_ALL;
        uint8_t flags = 0;
        size_t off = 1;
        if (op[0] == '%') {
            for (; off < oplen; off++) {
                int c = toupper((unsigned char)op[off]);
                if (c == 'R' && !(flags & ACL_KEY_READ)) {
                    flags |= ACL_KEY_READ;
                } else if (c == 'W' && !(flags & ACL_KEY_WRITE)) {
                    flags |= ACL_KEY_WRITE;
                } else if (op[off] == '~') {
                    off++;
                    break;
                } else {
                    return -ACL_ERR_SYNTAX;
                }
            }
        } else {
            flags = ACL_KEY_ALL;
        }
        /* As Redis: '%' needs R or W (a '%~*' granting nothing would be written back as '~*',
         * every key, by ACL LIST and ACL SAVE). */
        if (!flags) return -ACL_ERR_SYNTAX;
        if (acl_has_spaces(op + off, oplen - off)) return -ACL_ERR_SYNTAX;
        strs_add(&s->keys, &s->nkeys, op + off, oplen - off, flags);
        s->flags &= ~(uint32_t)ACL_SEL_ALLKEYS;
    } else if (op[0] == '&') {
        if (s->flags & ACL_SEL_ALLCHANNELS) return -ACL_ERR_CHANS_AFTER_ALL;
        if (acl_has_spaces(op + 1, oplen - 1)) return -ACL_ERR_SYNTAX;
        strs_add(&s->chans, &s->nchans, op + 1, oplen - 1, 0);
        s->flags &= ~(uint32_t)ACL_SEL_ALLCHANNELS;
    } else if (op[0] == '+' && op[1] != '@') {
        const char *bar = strrchr(op, '|');
        if (!bar) {
            const struct cmd_entry *e = lookup_cmd(op + 1);
            if (!e) return -ACL_ERR_UNKNOWN;
            change_perm(s, e, 1);
        } else {
            size_t clen = (size_t)(bar - (op + 1));
            char *copy = px_strndup(op + 1, clen);
            const struct cmd_entry *e = lookup_cmd(copy);
            px_free(copy);
            if (!e) return -ACL_ERR_UNKNOWN;
            if (strchr(e->cmd->name, '|')) return -ACL_ERR_FIRSTARG_OF_SUB;
            if (bar[1] == '\0') return -ACL_ERR_SYNTAX;
            if (e->nsubs) {
                e = lookup_cmd(op + 1);
                if (!e) return -ACL_ERR_UNKNOWN;
                change_perm(s, e, 1);
            } else {
                add_fa(s, e->id, bar + 1, strlen(bar + 1));
            }
        }
    } else if (op[0] == '-' && op[1] != '@') {
        const struct cmd_entry *e = lookup_cmd(op + 1);
        if (!e) return -ACL_ERR_UNKNOWN;
        change_perm(s, e, 0);
    } else if ((op[0] == '+' || op[0] == '-') && op[1] == '@') {
        uint32_t cflag = acl_cat_lookup(op + 2, strlen(op + 2));
        if (!cflag) return -ACL_ERR_UNKNOWN;
        set_category(s, cflag, op[0] == '+');
    } else {
        return -ACL_ERR_SYNTAX;
    }
    return 0;
}

/* ---- users ---- */

static void user_update_unrestricted(struct acl_user *u)
{
    u->unrestricted = 0;
    const uint32_t all = ACL_SEL_ALLKEYS | ACL_SEL_ALLCHANNELS | ACL_SEL_ALLCOMMANDS;
    for (uint32_t i = 0; i < u->nsel; i++)
        if ((u->sel[i].flags & all) == all) u->unrestricted = 1;
}

struct acl_user *acl_user_create(const char *name, size_t len)
{
    struct acl_user *u = px_calloc(1, sizeof(*u));
    u->name = px_malloc(len + 1);
    memcpy(u->name, name, len);
    u->name[len] = '\0';
    u->namelen = (uint32_t)len;
    u->flags = ACL_USER_DISABLED;
    u->uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed); /* unique is all */
    u->sel = px_calloc(1, sizeof(*u->sel));
    u->nsel = 1;
    sel_init(&u->sel[0], ACL_SEL_ROOT);
    return u;
}

/* ACLCreateDefaultUser */
struct acl_user *acl_user_create_default(void)
{
    struct acl_user *u = acl_user_create("default", 7);
    u->uid = ACL_DEFAULT_UID;
    acl_user_set(u, "+@all", 5);
    acl_user_set(u, "~*", 2);
    acl_user_set(u, "&*", 2);
    acl_user_set(u, "on", 2);
    acl_user_set(u, "nopass", 6);
    return u;
}

struct acl_user *acl_user_dup(const struct acl_user *src)
{
    struct acl_user *u = px_calloc(1, sizeof(*u));
    u->name = px_strndup(src->name, src->namelen);
    u->namelen = src->namelen;
    u->flags = src->flags;
    u->uid = src->uid;
    u->unrestricted = src->unrestricted;
    if (src->npass) {
        u->pass = px_malloc(src->npass * sizeof(*u->pass));
        memcpy(u->pass, src->pass, src->npass * sizeof(*u->pass));
        u->npass = src->npass;
    }
    u->sel = px_calloc(src->nsel, sizeof(*u->sel));
    u->nsel = src->nsel;
    for (uint32_t i = 0; i < src->nsel; i++) sel_copy(&u->sel[i], &src->sel[i]);
    return u;
}

void acl_user_free(struct acl_user *u)
{
    if (!u) return;
    for (uint32_t i = 0; i < u->nsel; i++) sel_deinit(&u->sel[i]);
    px_free(u->sel);
    px_free(u->pass);
    px_free(u->name);
    px_free(u);
}

/* ACLCheckPasswordHash: 64 lower-case hex digits. */
static int valid_hash(const char *h, size_t len)
{
    if (len != 64) return 0;
    for (size_t i = 0; i < 64; i++)
        if ((h[i] < 'a' || h[i] > 'f') && (h[i] < '0' || h[i] > '9')) return 0;
    return 1;
}

static int find_pass(const struct acl_user *u, const char *hex)
{
    for (uint32_t i = 0; i < u->npass; i++)
        if (memcmp(u->pass[i], hex, 64) == 0) return (int)i;
    return -1;
}

/* Selector text "(...)": its rules split as Redis's sdssplitargs splits them. */
static int add_selector(struct acl_user *u, const char *op, size_t oplen)
{
    struct acl_selector s;
    sel_init(&s, 0);
    char **args;
    size_t *lens;
    int n = acl_split_args(op + 1, oplen - 2, &args, &lens);
    /* Unbalanced quotes give Redis no rules at all: an empty selector. */
    for (int i = 0; i < n; i++) {
        int rc = sel_set(&s, args[i], lens[i]);
        if (rc < 0) {
            acl_free_args(args, lens, n);
            sel_deinit(&s);
            return rc;
        }
    }
    if (n > 0) acl_free_args(args, lens, n);
    u->sel = px_realloc(u->sel, (u->nsel + 1) * sizeof(*u->sel));
    u->sel[u->nsel++] = s;
    return 0;
}

/* ACLSetUser */
static int user_set(struct acl_user *u, const char *op, size_t oplen)
{
    if (oplen == 0) return 0;
    if (op_is(op, "on")) {
        u->flags |= ACL_USER_ENABLED;
        u->flags &= ~(uint32_t)ACL_USER_DISABLED;
    } else if (op_is(op, "off")) {
        u->flags |= ACL_USER_DISABLED;
        u->flags &= ~(uint32_t)ACL_USER_ENABLED;
    } else if (op_is(op, "skip-sanitize-payload")) {
        u->flags |= ACL_USER_SKIP_SANITIZE;
        u->flags &= ~(uint32_t)ACL_USER_SANITIZE;
    } else if (op_is(op, "sanitize-payload")) {
        u->flags &= ~(uint32_t)ACL_USER_SKIP_SANITIZE;
        u->flags |= ACL_USER_SANITIZE;
    } else if (op_is(op, "nopass")) {
        u->flags |= ACL_USER_NOPASS;
        px_free(u->pass);
        u->pass = NULL;
        u->npass = 0;
    } else if (op_is(op, "resetpass")) {
        u->flags &= ~(uint32_t)ACL_USER_NOPASS;
        px_free(u->pass);
        u->pass = NULL;
        u->npass = 0;
    } else if (op[0] == '>' || op[0] == '#') {
        char hex[65];
        if (op[0] == '>') {
            sha256_hex(op + 1, oplen - 1, hex);
        } else {
            if (!valid_hash(op + 1, oplen - 1)) return -ACL_ERR_BAD_HASH;
            memcpy(hex, op + 1, 64);
            hex[64] = '\0';
        }
        if (find_pass(u, hex) < 0) {
            u->pass = px_realloc(u->pass, (u->npass + 1) * sizeof(*u->pass));
            memcpy(u->pass[u->npass++], hex, 65);
        }
        u->flags &= ~(uint32_t)ACL_USER_NOPASS;
    } else if (op[0] == '<' || op[0] == '!') {
        char hex[65];
        if (op[0] == '<') {
            sha256_hex(op + 1, oplen - 1, hex);
        } else {
            if (!valid_hash(op + 1, oplen - 1)) return -ACL_ERR_BAD_HASH;
            memcpy(hex, op + 1, 64);
            hex[64] = '\0';
        }
        int i = find_pass(u, hex);
        if (i < 0) return -ACL_ERR_NO_SUCH_PASS;
        memmove(&u->pass[i], &u->pass[i + 1], (u->npass - (uint32_t)i - 1) * sizeof(*u->pass));
        u->npass--;
    } else if (op[0] == '(' && op[oplen - 1] == ')') {
        return add_selector(u, op, oplen);
    } else if (op_is(op, "clearselectors")) {
        for (uint32_t i = 1; i < u->nsel; i++) sel_deinit(&u->sel[i]);
        u->nsel = 1;
    } else if (op_is(op, "reset")) {
        user_set(u, "resetpass", 9);
        user_set(u, "resetkeys", 9);
        user_set(u, "resetchannels", 13);
        user_set(u, "off", 3);
        user_set(u, "sanitize-payload", 16);
        user_set(u, "clearselectors", 14);
        user_set(u, "-@all", 5);
    } else {
        return sel_set(&u->sel[0], op, oplen);
    }
    return 0;
}

int acl_user_set(struct acl_user *u, const char *op, size_t oplen)
{
    int rc = user_set(u, op, oplen);
    user_update_unrestricted(u);
    return rc;
}

void acl_rule_error_clear(struct acl_rule_error *e)
{
    px_free(e->op);
    memset(e, 0, sizeof(*e));
}

/* ACLMergeSelectorArguments: "(~a" "+get)" become "(~a +get)". Returns the merged count, or -1
 * with *bad set to the argument that opened a selector never closed. */
static int merge_selectors(const char *const *ops, const size_t *lens, int n, char ***out,
                           size_t **outlens, int *bad)
{
    char **v = px_malloc(((size_t)n + 1) * sizeof(char *));
    size_t *l = px_malloc(((size_t)n + 1) * sizeof(size_t));
    int m = 0, open = -1;
    struct sbuf sel;
    sbuf_init(&sel);
    for (int j = 0; j < n; j++) {
        const char *op = ops[j];
        size_t len = lens[j];
        int ends = len > 0 && op[len - 1] == ')';
        if (len > 0 && op[0] == '(' && !ends) {
            sbuf_clear(&sel);
            sbuf_put(&sel, op, len);
            open = j;
            continue;
        }
        if (open != -1) {
            sbuf_put(&sel, " ", 1);
            sbuf_put(&sel, op, len);
            if (ends) {
                open = -1;
                v[m] = px_strndup(sel.buf, sel.len);
                l[m++] = sel.len;
            }
            continue;
        }
        v[m] = px_strndup(op, len);
        l[m++] = len;
    }
    sbuf_free(&sel);
    if (open != -1) {
        for (int i = 0; i < m; i++) px_free(v[i]);
        px_free(v);
        px_free(l);
        *bad = open;
        return -1;
    }
    *out = v;
    *outlens = l;
    return m;
}

/* px_strndup keeps embedded NULs? It copies len bytes and terminates: rules compare as Redis's
 * C strings do, passwords and patterns use the length. */
struct acl_user *acl_user_apply(const struct acl_user *base, const char *name, size_t namelen,
                                const char *const *ops, const size_t *lens, int n,
                                struct acl_rule_error *err)
{
    memset(err, 0, sizeof(*err));
    char **v;
    size_t *l;
    int bad = 0;
    int m = merge_selectors(ops, lens, n, &v, &l, &bad);
    if (m < 0) {
        err->code = ACL_ERR_UNMATCHED_PAREN;
        err->op = px_strndup(ops[bad], lens[bad]);
        err->oplen = lens[bad];
        return NULL;
    }
    struct acl_user *u = base ? acl_user_dup(base) : acl_user_create(name, namelen);
    for (int j = 0; j < m; j++) {
        int rc = acl_user_set(u, v[j], l[j]);
        if (rc < 0) {
            err->code = (enum acl_err)-rc;
            err->op = v[j];
            err->oplen = l[j];
            v[j] = NULL;
            acl_user_free(u);
            u = NULL;
            break;
        }
    }
    for (int j = 0; j < m; j++) px_free(v[j]);
    px_free(v);
    px_free(l);
    return u;
}

int acl_user_check_password(const struct acl_user *u, const char *pass, size_t len)
{
    if (u->flags & ACL_USER_NOPASS) return 0;
    char hex[65];
    sha256_hex(pass, len, hex);
    int ok = 0;
    for (uint32_t i = 0; i < u->npass; i++) {
        unsigned diff = 0;
        for (int j = 0; j < 64; j++) diff |= (unsigned char)(hex[j] ^ u->pass[i][j]);
        ok |= diff == 0;
    }
    return ok ? 0 : -1;
}

int acl_auth_required(const struct acl_user *d)
{
    return !d || !(d->flags & ACL_USER_NOPASS) || (d->flags & ACL_USER_DISABLED);
}

/* ---- descriptions ---- */

int acl_user_flag_names(const struct acl_user *u, const char *names[5])
{
    static const struct {
        const char *name;
        uint32_t flag;
    } f[] = {
        {"on", ACL_USER_ENABLED},
        {"off", ACL_USER_DISABLED},
        {"nopass", ACL_USER_NOPASS},
        {"skip-sanitize-payload", ACL_USER_SKIP_SANITIZE},
        {"sanitize-payload", ACL_USER_SANITIZE},
    };
    int n = 0;
    for (size_t i = 0; i < 5; i++)
        if (u->flags & f[i].flag) names[n++] = f[i].name;
    return n;
}

/* ACLDescribeSelectorCommandRulesSingleCommands, over the table instead of Redis's dict. */
static void describe_single(const struct acl_selector *s, struct acl_selector *fake,
                            struct sbuf *out, const struct cmd_entry *e)
{
    int userbit = get_bit(s, e->id), fakebit = get_bit(fake, e->id);
    if (userbit != fakebit) {
        sbuf_put(out, userbit ? "+" : "-", 1);
        sbuf_puts(out, e->cmd->name);
        sbuf_put(out, " ", 1);
        change_perm(fake, e, userbit);
    }
    for (uint32_t i = 0; i < e->nsubs; i++) describe_single(s, fake, out, &e->subs[i]);
    const struct acl_firstargs *f = userbit ? NULL : find_fa(s, e->id);
    for (uint32_t j = 0; f && j < f->n; j++) {
        sbuf_printf(out, "+%s|", e->cmd->name);
        sbuf_put(out, f->args[j].p, f->args[j].len);
        sbuf_put(out, " ", 1);
    }
}

/* ACLDescribeSelectorCommandRules: +@all or -@all, then the categories that fit best, then
 * single commands until the bitmap is exactly the selector's. */
void acl_describe_commands(const struct acl_selector *s, struct sbuf *out)
{
    size_t start = out->len;
    int additive;
    struct acl_selector fake, temp;
    sel_init(&fake, 0);
    sel_init(&temp, 0);
    if (get_bit(s, ACL_FUTURE_BIT)) {
        additive = 0;
        sbuf_puts(out, "+@all ");
        sel_set(&fake, "+@all", 5);
    } else {
        additive = 1;
        sbuf_puts(out, "-@all ");
        sel_set(&fake, "-@all", 5);
    }
    memcpy(temp.allowed, s->allowed, sizeof(s->allowed));
    char applied[ACL_NCATS];
    memset(applied, 0, sizeof(applied));
    for (;;) {
        int best = -1;
        unsigned long mindiff = (unsigned long)-1 >> 1, maxsame = 0;
        for (int j = 0; j < ACL_NCATS; j++) {
            if (applied[j]) continue;
            unsigned long on, off;
            count_category(&temp, 1u << j, &on, &off);
            unsigned long diff = additive ? off : on, same = additive ? on : off;
            if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
                best = j;
                mindiff = diff;
                maxsame = same;
            }
        }
        if (best == -1) break;
        set_category(&fake, 1u << best, additive);
        set_category(&temp, 1u << best, !additive);
        sbuf_printf(out, "%s@%s ", additive ? "+" : "-", cat_names[best]);
        applied[best] = 1;
    }
    const struct cmd_entry *e;
    FOR_EACH_TOP(e) describe_single(s, &fake, out, e);
    if (out->len > start) out->len--; /* the last space */
    sel_deinit(&fake);
    sel_deinit(&temp);
}

static void put_key_pattern(struct sbuf *out, const struct acl_str *k)
{
    if (k->flags == ACL_KEY_READ)
        sbuf_puts(out, "%R~");
    else if (k->flags == ACL_KEY_WRITE)
        sbuf_puts(out, "%W~");
    else
        sbuf_puts(out, "~");
    sbuf_put(out, k->p, k->len);
}

void acl_describe_keys(const struct acl_selector *s, struct sbuf *out)
{
    if (s->flags & ACL_SEL_ALLKEYS) {
        sbuf_puts(out, "~*");
        return;
    }
    for (uint32_t i = 0; i < s->nkeys; i++) {
        if (i) sbuf_put(out, " ", 1);
        put_key_pattern(out, &s->keys[i]);
    }
}

void acl_describe_channels(const struct acl_selector *s, struct sbuf *out)
{
    if (s->flags & ACL_SEL_ALLCHANNELS) {
        sbuf_puts(out, "&*");
        return;
    }
    for (uint32_t i = 0; i < s->nchans; i++) {
        if (i) sbuf_put(out, " ", 1);
        sbuf_put(out, "&", 1);
        sbuf_put(out, s->chans[i].p, s->chans[i].len);
    }
}

/* ACLDescribeSelector */
static void describe_selector(const struct acl_selector *s, struct sbuf *out)
{
    if (s->flags & ACL_SEL_ALLKEYS) {
        sbuf_puts(out, "~* ");
    } else {
        for (uint32_t i = 0; i < s->nkeys; i++) {
            put_key_pattern(out, &s->keys[i]);
            sbuf_put(out, " ", 1);
        }
    }
    if (s->flags & ACL_SEL_ALLCHANNELS) {
        sbuf_puts(out, "&* ");
    } else {
        sbuf_puts(out, "resetchannels ");
        for (uint32_t i = 0; i < s->nchans; i++) {
            sbuf_put(out, "&", 1);
            sbuf_put(out, s->chans[i].p, s->chans[i].len);
            sbuf_put(out, " ", 1);
        }
    }
    acl_describe_commands(s, out);
}

/* ACLDescribeUser */
void acl_describe_user(const struct acl_user *u, struct sbuf *out)
{
    const char *names[5];
    int n = acl_user_flag_names(u, names);
    for (int i = 0; i < n; i++) sbuf_printf(out, "%s ", names[i]);
    for (uint32_t i = 0; i < u->npass; i++) sbuf_printf(out, "#%s ", u->pass[i]);
    for (uint32_t i = 0; i < u->nsel; i++) {
        if (i) sbuf_puts(out, " (");
        describe_selector(&u->sel[i], out);
        if (i) sbuf_puts(out, ")");
    }
}

/* ---- checks ---- */

/* ACLSelectorCheckKey */
static int sel_check_key(const struct acl_selector *s, const char *key, size_t len,
                         uint16_t ksflags)
{
    if (s->flags & ACL_SEL_ALLKEYS) return ACL_OK;
    uint8_t want = 0;
    if (ksflags & KSF_ACCESS) want |= ACL_KEY_READ;
    if (ksflags & (KSF_INSERT | KSF_DELETE | KSF_UPDATE)) want |= ACL_KEY_WRITE;
    for (uint32_t i = 0; i < s->nkeys; i++) {
        if ((s->keys[i].flags & want) != want) continue;
        if (acl_glob_match(s->keys[i].p, s->keys[i].len, key, len)) return ACL_OK;
    }
    return ACL_DENIED_KEY;
}

/* ACLCheckChannelAgainstList: a pattern (PSUBSCRIBE) is compared literally. */
static int chan_in_list(const struct acl_str *v, uint32_t n, const char *ch, size_t len,
                        int is_pattern)
{
    for (uint32_t i = 0; i < n; i++) {
        if (is_pattern ? (v[i].len == len && memcmp(v[i].p, ch, len) == 0)
                       : acl_glob_match(v[i].p, v[i].len, ch, len))
            return 1;
    }
    return 0;
}

/* What the key finder found, kept between selectors (Redis's aclKeyResultCache). */
struct key_cache {
    int done;
    struct keys_result *keys;
};

/* ACLSelectorCheckCmd */
static enum acl_result sel_check(const struct acl_selector *s, const struct cmd_entry *e,
                                 const char *base, const struct resp_span *argv, uint32_t argc,
                                 int *pos, struct key_cache *kc)
{
    const struct command *cmd = e->cmd;
    if (!(s->flags & ACL_SEL_ALLCOMMANDS) && !(cmd->flags & CMD_NO_AUTH) && !get_bit(s, e->id)) {
        const struct acl_firstargs *f = find_fa(s, e->id);
        if (argc < 2 || !f) return ACL_DENIED_CMD;
        uint32_t idx = strchr(cmd->name, '|') ? 2 : 1;
        if (idx >= argc) return ACL_DENIED_CMD;
        const char *a = base + argv[idx].off;
        size_t alen = argv[idx].len;
        uint32_t j;
        for (j = 0; j < f->n; j++) {
            /* strcasecmp on the argument as a C string, as Redis compares it */
            size_t cl = strnlen(a, alen);
            if (cl == f->args[j].len && strncasecmp(a, f->args[j].p, cl) == 0) break;
        }
        if (j == f->n) return ACL_DENIED_CMD;
    }
    if (!(s->flags & ACL_SEL_ALLKEYS) && e->id < ncmds && cmd_has_keys[e->id]) {
        if (!kc->done) {
            keys_find_acl(cmd, base, argv, argc, kc->keys);
            kc->done = 1;
        }
        for (uint32_t j = 0; j < kc->keys->n; j++) {
            int p = kc->keys->pos[j];
            if (sel_check_key(s, base + argv[p].off, argv[p].len, kc->keys->flags[j]) != ACL_OK) {
                *pos = p;
                return ACL_DENIED_KEY;
            }
        }
    }
    uint8_t ck = e->id < ncmds ? chan_kind[e->id] : CHAN_NONE;
    if (!(s->flags & ACL_SEL_ALLCHANNELS) && ck != CHAN_NONE) {
        uint32_t last = ck == CHAN_PUBLISH ? (argc > 1 ? 1 : 0) : argc - 1;
        for (uint32_t j = 1; j <= last; j++) {
            if (!chan_in_list(s->chans, s->nchans, base + argv[j].off, argv[j].len,
                              ck == CHAN_PSUBSCRIBE)) {
                *pos = (int)j;
                return ACL_DENIED_CHANNEL;
            }
        }
    }
    return ACL_OK;
}

/* ACLCheckAllUserCommandPerm */
enum acl_result acl_check(const struct acl_user *u, const struct cmd_entry *e, const char *base,
                          const struct resp_span *argv, uint32_t argc, struct keys_result *keys,
                          int *errpos)
{
    if (u->unrestricted) return ACL_OK;
    enum acl_result relevant = ACL_DENIED_CMD;
    int last_idx = 0, pos = 0;
    struct key_cache kc = {0, keys};
    for (uint32_t i = 0; i < u->nsel; i++) {
        enum acl_result r = sel_check(&u->sel[i], e, base, argv, argc, &pos, &kc);
        if (r == ACL_OK) return ACL_OK;
        if (r > relevant || (r == relevant && pos > last_idx)) {
            relevant = r;
            last_idx = pos;
        }
    }
    *errpos = last_idx;
    return relevant;
}

/* ACLKillPubsubClientsIfNeeded's two shortcuts: a selector with every channel, or a new list
 * that holds every old pattern. */
int acl_pubsub_revoked(const struct acl_user *newu, const struct acl_user *oldu)
{
    for (uint32_t i = 0; i < newu->nsel; i++)
        if (newu->sel[i].flags & ACL_SEL_ALLCHANNELS) return 0;
    for (uint32_t i = 0; i < oldu->nsel; i++) {
        const struct acl_selector *s = &oldu->sel[i];
        if (s->flags & ACL_SEL_ALLCHANNELS) return 1;
        for (uint32_t j = 0; j < s->nchans; j++) {
            int found = 0;
            for (uint32_t k = 0; k < newu->nsel && !found; k++) {
                const struct acl_selector *t = &newu->sel[k];
                for (uint32_t m = 0; m < t->nchans && !found; m++)
                    found = t->chans[m].len == s->chans[j].len &&
                            memcmp(t->chans[m].p, s->chans[j].p, s->chans[j].len) == 0;
            }
            if (!found) return 1;
        }
    }
    return 0;
}

int acl_channel_kept(const struct acl_user *newu, const char *ch, size_t len, int is_pattern)
{
    for (uint32_t i = 0; i < newu->nsel; i++) {
        const struct acl_selector *s = &newu->sel[i];
        if (chan_in_list(s->chans, s->nchans, ch, len, is_pattern)) return 1;
    }
    return 0;
}

/* ---- sets of users ---- */

struct acl_users *acl_users_create(void)
{
    struct acl_users *s = px_calloc(1, sizeof(*s));
    s->refs = 1;
    return s;
}

struct acl_users *acl_users_copy(const struct acl_users *src)
{
    struct acl_users *s = acl_users_create();
    if (src->n) {
        s->v = px_malloc(src->n * sizeof(*s->v));
        memcpy(s->v, src->v, src->n * sizeof(*s->v));
        s->n = s->cap = src->n;
        for (uint32_t i = 0; i < s->n; i++) s->v[i]->refs++;
    }
    return s;
}

static void user_unref(struct acl_user *u)
{
    if (--u->refs == 0) acl_user_free(u);
}

void acl_users_unref(struct acl_users *s)
{
    if (!s || --s->refs > 0) return;
    for (uint32_t i = 0; i < s->n; i++) user_unref(s->v[i]);
    px_free(s->v);
    px_free(s->by_uid);
    px_free(s);
}

/* rax order: bytes compared, a prefix before its extensions. */
static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

/* The index of name, or -(insertion point) - 1. */
static long find_idx(const struct acl_users *s, const char *name, size_t len)
{
    long lo = 0, hi = (long)s->n - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        int c = name_cmp(s->v[mid]->name, s->v[mid]->namelen, name, len);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

struct acl_user *acl_users_find(const struct acl_users *s, const char *name, size_t len)
{
    long i = find_idx(s, name, len);
    return i >= 0 ? s->v[i] : NULL;
}

void acl_users_put(struct acl_users *s, struct acl_user *u)
{
    u->refs++;
    long i = find_idx(s, u->name, u->namelen);
    if (i >= 0) {
        user_unref(s->v[i]);
        s->v[i] = u;
        return;
    }
    size_t at = (size_t)(-i - 1);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = px_realloc(s->v, s->cap * sizeof(*s->v));
    }
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
    s->v[at] = u;
    s->n++;
}

int acl_users_del(struct acl_users *s, const char *name, size_t len)
{
    long i = find_idx(s, name, len);
    if (i < 0) return 0;
    user_unref(s->v[i]);
    memmove(&s->v[i], &s->v[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->v));
    s->n--;
    return 1;
}

static int uid_cmp(const void *a, const void *b)
{
    uint64_t x = (*(struct acl_user *const *)a)->uid, y = (*(struct acl_user *const *)b)->uid;
    return x < y ? -1 : x > y;
}

void acl_users_seal(struct acl_users *s)
{
    px_free(s->by_uid);
    s->by_uid = px_malloc((s->n + 1) * sizeof(*s->by_uid));
    memcpy(s->by_uid, s->v, s->n * sizeof(*s->v));
    qsort(s->by_uid, s->n, sizeof(*s->by_uid), uid_cmp);
}

struct acl_user *acl_users_find_uid(const struct acl_users *s, uint64_t uid)
{
    if (!s->by_uid) return NULL;
    long lo = 0, hi = (long)s->n - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        uint64_t m = s->by_uid[mid]->uid;
        if (m == uid) return s->by_uid[mid];
        if (m < uid)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* ---- sdssplitargs ---- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int acl_split_args(const char *line, size_t len, char ***args, size_t **lens)
{
    /* Redis splits a C string: the first NUL ends the text. */
    char *buf = px_strndup(line, len);
    const char *p = buf;
    char **v = NULL;
    size_t *l = NULL;
    int n = 0;
    struct sbuf cur;
    sbuf_init(&cur);
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        int inq = 0, insq = 0, done = 0;
        sbuf_clear(&cur);
        while (!done) {
            if (inq) {
                if (*p == '\\' && p[1] == 'x' && hex_val(p[2]) >= 0 && hex_val(p[3]) >= 0) {
                    char byte = (char)(hex_val(p[2]) * 16 + hex_val(p[3]));
                    sbuf_put(&cur, &byte, 1);
                    p += 3;
                } else if (*p == '\\' && p[1]) {
                    char c;
                    p++;
                    switch (*p) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = *p; break;
                    }
                    sbuf_put(&cur, &c, 1);
                } else if (*p == '"') {
                    if (p[1] && !isspace((unsigned char)p[1])) goto err;
                    done = 1;
                } else if (!*p) {
                    goto err;
                } else {
                    sbuf_put(&cur, p, 1);
                }
            } else if (insq) {
                if (*p == '\\' && p[1] == '\'') {
                    p++;
                    sbuf_put(&cur, "'", 1);
                } else if (*p == '\'') {
                    if (p[1] && !isspace((unsigned char)p[1])) goto err;
                    done = 1;
                } else if (!*p) {
                    goto err;
                } else {
                    sbuf_put(&cur, p, 1);
                }
            } else {
                switch (*p) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0': done = 1; break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: sbuf_put(&cur, p, 1); break;
                }
            }
            if (*p) p++;
        }
        v = px_realloc(v, ((size_t)n + 1) * sizeof(*v));
        l = px_realloc(l, ((size_t)n + 1) * sizeof(*l));
        v[n] = px_strndup(cur.buf ? cur.buf : "", cur.len);
        l[n++] = cur.len;
    }
    sbuf_free(&cur);
    px_free(buf);
    *args = v;
    *lens = l;
    return n;
err:
    sbuf_free(&cur);
    px_free(buf);
    acl_free_args(v, l, n);
    *args = NULL;
    *lens = NULL;
    return -1;
}

void acl_free_args(char **args, size_t *lens, int n)
{
    for (int i = 0; i < n; i++) px_free(args[i]);
    px_free(args);
    px_free(lens);
}

/* ---- the ACL file ---- */

static void report_add(struct acl_load_report *r, enum acl_load_kind kind, int line,
                       enum acl_err code, const char *arg, size_t arglen)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->v = px_realloc(r->v, r->cap * sizeof(*r->v));
    }
    struct acl_load_problem *p = &r->v[r->n++];
    p->kind = kind;
    p->line = line;
    p->code = code;
    p->arg = arg ? px_strndup(arg, arglen) : NULL;
    p->arglen = arg ? arglen : 0;
}

void acl_load_report_free(struct acl_load_report *r)
{
    for (uint32_t i = 0; i < r->n; i++) px_free(r->v[i].arg);
    px_free(r->v);
    memset(r, 0, sizeof(*r));
}

/* sdstrim: the characters of cset dropped from both ends. */
static void trim(const char **p, size_t *len, const char *cset)
{
    while (*len && strchr(cset, (*p)[0]) && (*p)[0]) {
        (*p)++;
        (*len)--;
    }
    while (*len && strchr(cset, (*p)[*len - 1]) && (*p)[*len - 1]) (*len)--;
}

/* One line of the file, into set (ACLLoadFromFile's loop body). */
static void load_line(struct acl_users *set, const char *line, size_t len, int lineno,
                      struct acl_load_report *rep)
{
    trim(&line, &len, " \t\r\n");
    if (len == 0) return;
    /* sdssplitlen at single spaces: two spaces make an empty argument. */
    int argc = 0, cap = 8;
    const char **argv = px_malloc((size_t)cap * sizeof(*argv));
    size_t *lens = px_malloc((size_t)cap * sizeof(*lens));
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ' ') continue;
        if (argc == cap) {
            cap *= 2;
            argv = px_realloc(argv, (size_t)cap * sizeof(*argv));
            lens = px_realloc(lens, (size_t)cap * sizeof(*lens));
        }
        argv[argc] = line + start;
        lens[argc++] = i - start;
        start = i + 1;
    }
    if (lens[0] != 4 || memcmp(argv[0], "user", 4) != 0 || argc < 2) {
        report_add(rep, ACL_LOAD_NO_USER_KEYWORD, lineno, ACL_ERR_NONE, NULL, 0);
        goto done;
    }
    if (acl_has_spaces(argv[1], lens[1])) {
        report_add(rep, ACL_LOAD_BAD_USERNAME, lineno, ACL_ERR_NONE, argv[1], lens[1]);
        goto done;
    }
    if (acl_users_find(set, argv[1], lens[1])) {
        report_add(rep, ACL_LOAD_DUPLICATE, lineno, ACL_ERR_NONE, argv[1], lens[1]);
        goto done;
    }
    struct acl_user *u = acl_user_create(argv[1], lens[1]);
    if (lens[1] == 7 && memcmp(argv[1], "default", 7) == 0) u->uid = ACL_DEFAULT_UID;
    acl_users_put(set, u);
    char **m;
    size_t *ml;
    int bad;
    int mc = merge_selectors(argv + 2, lens + 2, argc - 2, &m, &ml, &bad);
    if (mc < 0) {
        report_add(rep, ACL_LOAD_UNMATCHED_PAREN, lineno, ACL_ERR_NONE, NULL, 0);
        goto done;
    }
    int syntax_error = 0;
    for (int j = 0; j < mc; j++) {
        const char *op = m[j];
        size_t ol = ml[j];
        trim(&op, &ol, "\t\r\n");
        char *opz = px_strndup(op, ol);
        int rc = acl_user_set(u, opz, ol);
        if (rc == -ACL_ERR_UNKNOWN) {
            report_add(rep, ACL_LOAD_UNKNOWN_OP, lineno, ACL_ERR_UNKNOWN, opz, ol);
        } else if (rc < 0 && !syntax_error) {
            report_add(rep, ACL_LOAD_BAD_OP, lineno, (enum acl_err)-rc, NULL, 0);
            syntax_error = 1;
        }
        px_free(opz);
    }
    for (int j = 0; j < mc; j++) px_free(m[j]);
    px_free(m);
    px_free(ml);
done:
    px_free(argv);
    px_free(lens);
}

struct acl_users *acl_load_text(const char *text, size_t len, struct acl_load_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    struct acl_users *set = acl_users_create();
    /* Redis reads the file with fgets into a C string: a NUL ends it. */
    len = strnlen(text, len);
    size_t start = 0;
    int lineno = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n') continue;
        lineno++;
        load_line(set, text + start, i - start, lineno, rep);
        start = i + 1;
    }
    if (rep->n) {
        acl_users_unref(set);
        return NULL;
    }
    if (!acl_users_find(set, "default", 7)) acl_users_put(set, acl_user_create_default());
    acl_users_seal(set);
    return set;
}

void acl_save_text(const struct acl_users *s, struct sbuf *out)
{
    for (uint32_t i = 0; i < s->n; i++) {
        sbuf_puts(out, "user ");
        sbuf_put(out, s->v[i]->name, s->v[i]->namelen);
        sbuf_put(out, " ", 1);
        acl_describe_user(s->v[i], out);
        sbuf_put(out, "\n", 1);
    }
}
