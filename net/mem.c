/*
 * Allocator wrapper; see mem.h. Every module allocates through px_malloc and friends, and none
 * checks for NULL: exhaustion aborts here with a line on stderr, since a proxy that cannot
 * allocate cannot answer its clients correctly either, and an abort is easier to diagnose than a
 * half-served request. jemalloc is linked as the process's malloc, so the plain malloc calls
 * below are jemalloc's; only the statistics, the purge, the per-thread arenas and heap profiles
 * need its mallctl interface, and sanitizer builds (PX_NO_JEMALLOC) compile those to no-ops.
 */
#include "mem.h"

#include "px_errors.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#ifndef PX_NO_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

/* Aborts rather than returning NULL: no caller checks, by design (see the top of this file). */
static void px_oom(size_t size)
{
    fprintf(stderr, "slotproxy: out of memory allocating %zu bytes\n", size);
    abort();
}

void *px_malloc(size_t size)
{
    /* malloc(0) may return NULL, which would look like exhaustion: ask for one byte instead. */
    void *p = malloc(size ? size : 1);
    if (!p) px_oom(size);
    return p;
}

void *px_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) px_oom(n * size);
    return p;
}

void *px_calloc_aligned(size_t align, size_t size)
{
    size = (size + align - 1) / align * align; /* aligned_alloc wants a multiple */
    void *p = aligned_alloc(align, size);
    if (!p) px_oom(size);
    memset(p, 0, size);
    return p;
}

void *px_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) px_oom(size);
    return p;
}

char *px_strdup(const char *s)
{
    return px_strndup(s, strlen(s));
}

char *px_strndup(const char *s, size_t n)
{
    char *p = px_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void px_free(void *ptr)
{
    free(ptr);
}

void px_mem_stats(struct px_mem_stats *st)
{
    memset(st, 0, sizeof(*st));
#ifndef PX_NO_JEMALLOC
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    /* jemalloc's statistics are a snapshot refreshed only when the epoch is advanced. */
    mallctl("epoch", &epoch, &sz, &epoch, sz);
    sz = sizeof(size_t);
    if (mallctl("stats.allocated", &st->allocated, &sz, NULL, 0) == 0 &&
        mallctl("stats.resident", &st->resident, &sz, NULL, 0) == 0)
        st->available = 1;
#endif
}

int px_mem_heap_profile(const char *path)
{
#ifndef PX_NO_JEMALLOC
    bool prof = false;
    size_t sz = sizeof(prof);
    /* Profiling can only be turned on at startup (MALLOC_CONF): without it, say so plainly rather
     * than pass on prof.dump's failure. */
    if (mallctl("opt.prof", &prof, &sz, NULL, 0) != 0 || !prof) return PX_EINVAL;
    int rc = mallctl("prof.dump", NULL, NULL, &path, sizeof(path));
    return rc == 0 ? 0 : -rc;
#else
    (void)path;
    return -ENOSYS;
#endif
}

void px_mem_thread_arena(void)
{
#ifndef PX_NO_JEMALLOC
    unsigned arena;
    size_t sz = sizeof(arena);
    /* A fresh arena bound to this thread only: a worker's allocations stay apart from the
     * others'. */
    if (mallctl("arenas.create", &arena, &sz, NULL, 0) == 0)
        mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena));
#endif
}

void px_mem_purge(void)
{
#ifndef PX_NO_JEMALLOC
    char cmd[64];
    /* Every arena, the workers' own included; mallctl is thread-safe, so any thread may ask. */
    snprintf(cmd, sizeof(cmd), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl(cmd, NULL, NULL, NULL, 0);
#endif
}
