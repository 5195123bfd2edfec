/*
 * A set of byte strings with an integer attached to each: open addressing with linear probing
 * and backward-shift deletion. Used for a subscriber's channels and patterns, which may number in
 * the thousands. One thread only.
 */
#ifndef PX_STRSET_H
#define PX_STRSET_H

#include <stddef.h>
#include <stdint.h>

struct strset_item {
    char *key; /* NULL: empty slot */
    uint32_t len;
    int value;
};

struct strset {
    struct strset_item *items;
    uint32_t cap; /* power of two, or 0 */
    uint32_t n;
};

/* An empty set; nothing is allocated until the first add. */
void strset_init(struct strset *s);
/* Frees every key and the table; s is left empty and usable. */
void strset_free(struct strset *s);
/* Adds key with value; returns 1 when added, 0 when it was there (its value is left as it was). */
int strset_add(struct strset *s, const char *key, size_t len, int value);
/* Removes key; returns 1 when it was there. */
int strset_del(struct strset *s, const char *key, size_t len);
/* The item for key, or NULL; valid until the next add or delete, which may move items. */
struct strset_item *strset_get(const struct strset *s, const char *key, size_t len);
/* Iteration: i from 0 while i < s->cap, skipping items whose key is NULL. */

#endif
