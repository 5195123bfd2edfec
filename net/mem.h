/*
 * Allocator wrapper: the only place the allocator is named. Every allocation in slotproxy goes
 * through px_malloc and friends, which abort with a log line when memory is exhausted (a proxy
 * that runs out of memory cannot answer anyone correctly). jemalloc is linked as the process
 * allocator, so hiredis (whose Debian version has no allocator hooks) uses it too.
 */
#ifndef PX_MEM_H
#define PX_MEM_H

#include <stddef.h>

/* As malloc, calloc and realloc, but never NULL: when memory is exhausted they write a line to
 * stderr and abort. A size of 0 still gives a distinct pointer. The caller owns the result and
 * frees it with px_free. */
void *px_malloc(size_t size);
void *px_calloc(size_t n, size_t size);
void *px_realloc(void *ptr, size_t size);
/* Zeroed memory aligned to align (a power of two), for structs with _Alignas members. */
void *px_calloc_aligned(size_t align, size_t size);
/* A NUL-terminated copy of s (of its first n bytes), never NULL; free it with px_free. */
char *px_strdup(const char *s);
char *px_strndup(const char *s, size_t n);
/* Frees what the functions above returned. NULL is ok. */
void px_free(void *ptr);

struct px_mem_stats {
    size_t allocated; /* bytes handed out to the application */
    size_t resident;  /* bytes of physical memory the allocator holds */
    int available;    /* 0 when the allocator cannot report (sanitizer builds) */
};

/* Fills *st with the allocator's current figures; refreshes jemalloc's epoch first. */
void px_mem_stats(struct px_mem_stats *st);

/* Asks the allocator to return unused dirty pages to the OS. Safe to call from any thread. */
void px_mem_purge(void);
/* Gives the calling thread an arena of its own (jemalloc), so that what one worker allocates
 * never shares a slab, a lock or a cache line with another's. Best effort. */
void px_mem_thread_arena(void);
/* Writes a jemalloc heap profile (for jeprof) to path. Returns 0; PX_EINVAL when heap profiling
 * is off (start the process with MALLOC_CONF=prof:true); -ENOSYS when the build has no jemalloc
 * (sanitizer builds); or -errno. */
int px_mem_heap_profile(const char *path);

#endif
