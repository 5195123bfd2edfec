/*
 * The client directory; see client_dir.h. A chained hash table of fixed size under one mutex:
 * it is touched when a connection opens, moves or closes and when a tracking client names or
 * reaches a redirect target, never per request.
 */
#include "client_dir.h"

#include "client.h"
#include "mem.h"

#include <pthread.h>
#include <stddef.h>

#define DIR_BUCKETS 4096 /* a power of two */

struct dir_ent {
    uint64_t id;
    struct client *c;
    int worker;
    int moving; /* on its way to worker: its client is not to be touched yet */
    struct dir_ent *next;
};

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir_ent *dir[DIR_BUCKETS];
static uint64_t dir_n;

static size_t bucket(uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 52) & (DIR_BUCKETS - 1);
}

void client_dir_add(struct client *c, int worker)
{
    struct dir_ent *e = px_malloc(sizeof(*e));
    e->id = c->id;
    e->c = c;
    e->worker = worker;
    e->moving = 0;
    size_t b = bucket(c->id);
    pthread_mutex_lock(&dir_lock);
    e->next = dir[b];
    dir[b] = e;
    dir_n++;
    pthread_mutex_unlock(&dir_lock);
}

void client_dir_del(uint64_t id)
{
    size_t b = bucket(id);
    struct dir_ent *gone = NULL;
    pthread_mutex_lock(&dir_lock);
    for (struct dir_ent **p = &dir[b]; *p; p = &(*p)->next) {
        if ((*p)->id != id) continue;
        gone = *p;
        *p = gone->next;
        dir_n--;
        break;
    }
    pthread_mutex_unlock(&dir_lock);
    px_free(gone);
}

int client_dir_find(uint64_t id, struct client **c)
{
    int worker = -1;
    pthread_mutex_lock(&dir_lock);
    for (struct dir_ent *e = dir[bucket(id)]; e; e = e->next) {
        if (e->id != id) continue;
        worker = e->worker;
        if (c) *c = e->moving ? NULL : e->c;
        break;
    }
    pthread_mutex_unlock(&dir_lock);
    return worker;
}

/* Sets id's worker and moving flag. */
static void dir_set(uint64_t id, int worker, int moving)
{
    pthread_mutex_lock(&dir_lock);
    for (struct dir_ent *e = dir[bucket(id)]; e; e = e->next) {
        if (e->id != id) continue;
        if (worker >= 0) e->worker = worker;
        e->moving = moving;
        break;
    }
    pthread_mutex_unlock(&dir_lock);
}

void client_dir_moving(uint64_t id, int to)
{
    dir_set(id, to, 1);
}

void client_dir_arrived(uint64_t id)
{
    dir_set(id, -1, 0);
}

uint64_t client_dir_count(void)
{
    pthread_mutex_lock(&dir_lock);
    uint64_t n = dir_n;
    pthread_mutex_unlock(&dir_lock);
    return n;
}
