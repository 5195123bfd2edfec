/*
 * String sets; see strset.h. pubsub.c keeps a subscriber's channels, patterns and shard channels
 * here, adding and removing one for each name of every (UN)SUBSCRIBE and its pattern and shard
 * forms. Open addressing keeps a set one array of small items with no per-entry node; the keys
 * are copied (the caller's bytes are in a request that will be freed). Deletion shifts later
 * items back instead of leaving tombstones, so a client that subscribes and unsubscribes all day
 * does not slowly fill its table with dead slots.
 */
#include "strset.h"

#include "mem.h"

#include <string.h>

void strset_init(struct strset *s)
{
    memset(s, 0, sizeof(*s));
}

void strset_free(struct strset *s)
{
    for (uint32_t i = 0; i < s->cap; i++) px_free(s->items[i].key);
    px_free(s->items);
    strset_init(s);
}

/* 32-bit FNV-1a: short and unseeded. A client that picks colliding names only slows its own set. */
static uint32_t hash(const char *p, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* The slot holding key, or the empty slot where it would go. The table is never full (see
 * strset_add), so the probe always ends. */
static uint32_t find(const struct strset *s, const char *key, size_t len)
{
    uint32_t mask = s->cap - 1, i = hash(key, len) & mask;
    while (s->items[i].key) {
        if (s->items[i].len == len && memcmp(s->items[i].key, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

/* Doubles the table (16 slots to start) and places every item again, since each one's home slot
 * depends on the table's size. */
static void grow(struct strset *s)
{
    struct strset_item *old = s->items;
    uint32_t ocap = s->cap;
    s->cap = ocap ? ocap * 2 : 16;
    s->items = px_calloc(s->cap, sizeof(*s->items));
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i].key) s->items[find(s, old[i].key, old[i].len)] = old[i];
    px_free(old);
}

int strset_add(struct strset *s, const char *key, size_t len, int value)
{
    /* At most three quarters full, which keeps probe runs short. */
    if ((s->n + 1) * 4 > s->cap * 3) grow(s);
    uint32_t i = find(s, key, len);
    if (s->items[i].key) return 0;
    s->items[i].key = px_malloc(len ? len : 1);
    memcpy(s->items[i].key, key, len);
    s->items[i].len = (uint32_t)len;
    s->items[i].value = value;
    s->n++;
    return 1;
}

struct strset_item *strset_get(const struct strset *s, const char *key, size_t len)
{
    if (!s->cap) return NULL;
    uint32_t i = find(s, key, len);
    return s->items[i].key ? &s->items[i] : NULL;
}

int strset_del(struct strset *s, const char *key, size_t len)
{
    if (!s->cap) return 0;
    uint32_t mask = s->cap - 1, i = find(s, key, len);
    if (!s->items[i].key) return 0;
    px_free(s->items[i].key);
    s->items[i].key = NULL;
    s->n--;
    /* Backward shift: move later items of the run into the hole when their home allows it. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->items[j].key) break;
        uint32_t home = hash(s->items[j].key, s->items[j].len) & mask;
        /* Item j may fill hole i when its home is not in (i, j] (cyclically). */
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            s->items[i] = s->items[j];
            s->items[j].key = NULL;
            i = j;
        }
    }
    return 1;
}
