/*
 * Key finding; see keys.h. keys_find() follows Redis's getKeysUsingKeySpecs(); the few commands
 * whose specs cannot find every key (SORT's STORE, whose keyword may appear anywhere) have a
 * hand-written finder, as Redis itself does.
 */
#include "keys.h"

#include "mem.h"

#include <string.h>
#include <strings.h>

void keys_result_init(struct keys_result *k)
{
    k->pos = k->inline_pos;
    k->flags = k->inline_flags;
    k->n = 0;
    k->cap = KEYS_INLINE;
}

void keys_result_free(struct keys_result *k)
{
    if (k->pos != k->inline_pos) {
        px_free(k->pos);
        px_free(k->flags);
    }
    keys_result_init(k);
}

/* Grows past the inline slots only for commands with more than KEYS_INLINE keys. */
static void add_key(struct keys_result *k, int pos, uint16_t flags)
{
    if (k->n == k->cap) {
        uint32_t ncap = k->cap * 2;
        int *p = px_malloc(ncap * sizeof(int));
        uint16_t *f = px_malloc(ncap * sizeof(uint16_t));
        memcpy(p, k->pos, k->n * sizeof(int));
        memcpy(f, k->flags, k->n * sizeof(uint16_t));
        if (k->pos != k->inline_pos) {
            px_free(k->pos);
            px_free(k->flags);
        }
        k->pos = p;
        k->flags = f;
        k->cap = ncap;
    }
    k->flags[k->n] = flags;
    k->pos[k->n++] = pos;
}

/* Keywords compare without case, as Redis compares them (strcasecmp). */
static int arg_is(const char *base, const struct resp_span *a, const char *word)
{
    size_t l = strlen(word);
    return a->len == l && strncasecmp(base + a->off, word, l) == 0;
}

/* SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]:
 * the key, and the destination of STORE (SORT_RO has no STORE). Mirrors Redis's sortGetKeys. */
static int sort_keys(const struct command *cmd, const char *base, const struct resp_span *argv,
                     uint32_t argc, struct keys_result *out)
{
    if (argc < 2) return -1;
    add_key(out, 1, KSF_RO | KSF_ACCESS);
    if (strcmp(cmd->name, "sort") != 0) return (int)out->n;
    int store = -1;
    for (uint32_t i = 2; i < argc; i++) {
        if (arg_is(base, &argv[i], "limit")) {
            i += 2;
        } else if (arg_is(base, &argv[i], "get") || arg_is(base, &argv[i], "by")) {
            i += 1;
        } else if (arg_is(base, &argv[i], "store") && i + 1 < argc) {
            store = (int)i + 1; /* the last STORE wins, as in Redis */
            i += 1;
        }
    }
    if (store > 0) add_key(out, store, KSF_OW | KSF_UPDATE);
    return (int)out->n;
}

int keys_find(const struct command *cmd, const char *base, const struct resp_span *argv,
              uint32_t argc, struct keys_result *out)
{
    out->n = 0;
    if (cmd->nkeyspecs == 0) return 0;
    const struct keyspec *ks0 = &cmd->keyspecs[0];
    if (cmd->nkeyspecs == 1 && ks0->begin == KS_BEGIN_INDEX && ks0->bs_pos == 1 &&
        ks0->find == KS_FIND_RANGE && ks0->fk[0] == 0) {
        /* Most commands (GET, SET, INCR, HGET, ...): one key, the first argument. What the
         * general path below gives for this spec, without walking it. */
        if (argc < 2) return -1;
        add_key(out, 1, ks0->flags);
        return 1;
    }
    int has_unknown = 0;
    for (uint32_t j = 0; j < cmd->nkeyspecs; j++)
        if (cmd->keyspecs[j].begin == KS_BEGIN_UNKNOWN || cmd->keyspecs[j].find == KS_FIND_UNKNOWN)
            has_unknown = 1;
    /* A spec Redis marks unknown cannot be walked: Redis then asks the command's own key
     * function, and so does this. */
    if (has_unknown) return sort_keys(cmd, base, argv, argc, out);

    for (uint32_t j = 0; j < cmd->nkeyspecs; j++) {
        const struct keyspec *ks = &cmd->keyspecs[j];
        int first = 0;
        if (ks->begin == KS_BEGIN_INDEX) {
            first = ks->bs_pos;
        } else {
            /* Redis's bounds, kept exactly: forwards the search stops before the last argument
             * (a keyword there has no key after it), backwards before argument 1. */
            int start = ks->bs_pos > 0 ? ks->bs_pos : (int)argc + ks->bs_pos;
            int end = ks->bs_pos > 0 ? (int)argc - 1 : 1;
            for (int i = start; i != end; i = start <= end ? i + 1 : i - 1) {
                if (i >= (int)argc || i < 1) break;
                if (arg_is(base, &argv[i], ks->keyword)) {
                    first = i + 1;
                    break;
                }
            }
            if (!first) continue; /* keyword absent: this spec finds nothing */
        }
        int last, step;
        if (ks->find == KS_FIND_RANGE) {
            /* A negative lastkey counts from the end; a limit of n keeps the keys to the first
             * 1/n of what follows (Redis's formula, as it is). */
            int lastkey = ks->fk[0], limit = ks->fk[2];
            step = ks->fk[1];
            if (lastkey >= 0)
                last = first + lastkey;
            else if (!limit)
                last = (int)argc + lastkey;
            else
                last = first + (((int)argc - first) / limit + lastkey);
        } else {
            /* The number of keys is an argument itself (EVAL's numkeys). */
            step = ks->fk[2];
            int idx = first + ks->fk[0];
            long long numkeys;
            if (idx >= (int)argc) goto invalid;
            if (!resp_str2ll(base + argv[idx].off, argv[idx].len, &numkeys) || numkeys < 0 ||
                numkeys > (long long)argc)
                goto invalid; /* (more keys than arguments cannot fit either) */
            first += ks->fk[1];
            last = first + (int)numkeys - 1;
            if (numkeys == 0) continue; /* valid (EVAL script 0): no keys from this spec */
        }
        if (last >= (int)argc || last < first || first >= (int)argc) goto invalid;
        if (step <= 0) step = 1;
        for (int i = first; i <= last; i += step) add_key(out, i, ks->flags);
    }
    return (int)out->n;
invalid:
    /* As Redis: one malformed spec voids every key found. Routing then sends the command to any
     * master, which answers the syntax error itself. */
    out->n = 0;
    return -1;
}

/* MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k...]:
 * Redis's migrateGetKeys. */
static int migrate_keys(const char *base, const struct resp_span *argv, uint32_t argc,
                        struct keys_result *out)
{
    uint32_t first = 3, num = 1;
    if (argc > 6) {
        for (uint32_t i = 6; i < argc; i++) {
            if (arg_is(base, &argv[i], "keys")) {
                if (argv[3].len > 0) {
                    num = 0; /* a syntax error the node reports */
                } else {
                    first = i + 1;
                    num = argc - first;
                }
                break;
            }
            if (arg_is(base, &argv[i], "auth"))
                i += 1;
            else if (arg_is(base, &argv[i], "auth2"))
                i += 2;
        }
    }
    for (uint32_t i = 0; i < num && first + i < argc; i++)
        add_key(out, (int)(first + i), KSF_RW | KSF_ACCESS | KSF_DELETE);
    return (int)out->n;
}

/* SET key value [... GET ...]: read and write with GET, overwrite without (setGetKeys). */
static int set_keys(const char *base, const struct resp_span *argv, uint32_t argc,
                    struct keys_result *out)
{
    uint16_t flags = KSF_OW | KSF_UPDATE;
    for (uint32_t i = 3; i < argc; i++)
        if (arg_is(base, &argv[i], "get")) flags = KSF_RW | KSF_ACCESS | KSF_UPDATE;
    add_key(out, 1, flags);
    return 1;
}

/* BITFIELD key [GET ...] [SET ...] [INCRBY ...] [OVERFLOW ...]: read-only while only GET and
 * OVERFLOW appear (bitfieldGetKeys). */
static int bitfield_keys(const char *base, const struct resp_span *argv, uint32_t argc,
                         struct keys_result *out)
{
    int readonly = 1;
    for (uint32_t i = 2; i < argc; i++) {
        uint32_t rem = argc - i - 1;
        if (arg_is(base, &argv[i], "get") && rem >= 2) {
            i += 2;
        } else if ((arg_is(base, &argv[i], "set") || arg_is(base, &argv[i], "incrby")) &&
                   rem >= 3) {
            readonly = 0;
            break;
        } else if (arg_is(base, &argv[i], "overflow") && rem >= 1) {
            i += 1;
        } else {
            readonly = 0; /* a syntax error: safer to assume it writes */
            break;
        }
    }
    add_key(out, 1, readonly ? KSF_RO | KSF_ACCESS : KSF_RW | KSF_ACCESS | KSF_UPDATE);
    return 1;
}

int keys_find_acl(const struct command *cmd, const char *base, const struct resp_span *argv,
                  uint32_t argc, struct keys_result *out)
{
    out->n = 0;
    if (cmd->nkeyspecs == 0 || argc < 2) return 0;
    uint32_t all = 0, real = 0;
    for (uint32_t j = 0; j < cmd->nkeyspecs; j++) {
        all |= cmd->keyspecs[j].flags;
        if (!(cmd->keyspecs[j].flags & KSF_NOT_KEY)) real = 1;
    }
    if (!real) return 0; /* shard channels only: channel rules cover them */
    if (!(all & KSF_VARIABLE_FLAGS)) {
        int n = keys_find(cmd, base, argv, argc, out);
        if (n < 0) n = 0;
        if (strcmp(cmd->name, "migrate") == 0) { /* incomplete spec: Redis asks the command */
            out->n = 0;
            return migrate_keys(base, argv, argc, out);
        }
        /* Drop what specs marked not_key found (none of Redis 7.0's keyed commands mixes them,
         * but the rule is Redis's). */
        uint32_t k = 0;
        for (uint32_t i = 0; i < out->n; i++) {
            if (out->flags[i] & KSF_NOT_KEY) continue;
            out->pos[k] = out->pos[i];
            out->flags[k++] = out->flags[i];
        }
        out->n = k;
        return (int)k;
    }
    if (strcmp(cmd->name, "set") == 0) return set_keys(base, argv, argc, out);
    if (strcmp(cmd->name, "bitfield") == 0) return bitfield_keys(base, argv, argc, out);
    int n = keys_find(cmd, base, argv, argc, out);
    return n < 0 ? 0 : n;
}

int keys_slot(const struct keys_result *k, const char *base, const struct resp_span *argv,
              const struct keyspace *ks)
{
    if (k->n == 0) return KEYS_SLOT_NONE;
    int slot = -1;
    for (uint32_t i = 0; i < k->n; i++) {
        const struct resp_span *a = &argv[k->pos[i]];
        int s = keyspace_slot(ks, base + a->off, a->len);
        if (slot >= 0 && s != slot) return KEYS_SLOT_CROSS;
        slot = s;
    }
    return slot;
}
