/*
 * The script cache; see scripts.h. A worker looks in its own direct-mapped slots first (by the
 * first byte of the SHA-1), then in the shared list under the mutex. SCRIPT FLUSH bumps an epoch
 * that every entry carries, so workers ignore their stale entries without being told.
 */
#include "scripts.h"

#include "mem.h"
#include "sha1.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define LOCAL_SLOTS      256   /* per worker, direct-mapped by SHA-1 */
#define GLOBAL_MAX       10000 /* scripts kept process-wide */
#define GLOBAL_MAX_BYTES (64u << 20)

struct script {
    char sha[41];
    char *body;
    size_t len;
    uint64_t epoch;
    uint64_t forgets; /* the shared cache's forgets when this copy was made */
};

/* Process-wide part, shared by all workers. */
struct script_cache {
    pthread_mutex_t lock;
    struct script *all;
    size_t n, cap, bytes;
    atomic_uint_fast64_t epoch; /* bumped by SCRIPT FLUSH; stale local entries are ignored */
    /* Bumped by scripts_forget: a local entry made before may be a script the nodes refused,
     * so it counts only while the shared list still has it. */
    atomic_uint_fast64_t forgets;
};

/* Per-worker part: a direct-mapped cache of recent scripts, read without the lock. */
struct script_local {
    struct script_cache *shared;
    struct script slot[LOCAL_SLOTS];
};

struct script_cache *scripts_create(void)
{
    struct script_cache *sc = px_calloc(1, sizeof(*sc));
    pthread_mutex_init(&sc->lock, NULL);
    atomic_init(&sc->epoch, 1);
    atomic_init(&sc->forgets, 0);
    return sc;
}

void scripts_free(struct script_cache *sc)
{
    if (!sc) return;
    for (size_t i = 0; i < sc->n; i++) px_free(sc->all[i].body);
    px_free(sc->all);
    pthread_mutex_destroy(&sc->lock);
    px_free(sc);
}

struct script_local *scripts_local_create(struct script_cache *shared)
{
    struct script_local *l = px_calloc(1, sizeof(*l));
    l->shared = shared;
    return l;
}

/* The SHA-1's first byte: already uniform, so the direct-mapped slots need no hash of their own. */
static unsigned slot_of(const char *sha)
{
    unsigned v = 0;
    for (int i = 0; i < 2; i++)
        v = v * 16 + (unsigned)(isdigit((unsigned char)sha[i])
                                    ? sha[i] - '0'
                                    : (tolower((unsigned char)sha[i]) - 'a' + 10));
    return v % LOCAL_SLOTS;
}

static void set_entry(struct script *e, const char *sha, const char *body, size_t len,
                      uint64_t epoch, uint64_t forgets)
{
    px_free(e->body);
    memcpy(e->sha, sha, 41);
    /* At least one byte, even for an empty script: a NULL body marks an unused slot. */
    e->body = px_malloc(len ? len : 1);
    memcpy(e->body, body, len);
    e->len = len;
    e->epoch = epoch;
    e->forgets = forgets;
}

/* Linear, under the lock: only a worker's miss or a NOSCRIPT comes here. No epoch to check: a
 * flush empties the list. */
static struct script *global_find(struct script_cache *sc, const char *sha)
{
    for (size_t i = 0; i < sc->n; i++)
        if (memcmp(sc->all[i].sha, sha, 40) == 0) return &sc->all[i];
    return NULL;
}

void scripts_remember(struct script_local *l, const char *body, size_t len)
{
    struct script_cache *sc = l->shared;
    char sha[41];
    sha1_hex(body, len, sha);
    /* Acquire: pairs with the release in scripts_flush, so a flush is seen before new work. */
    uint64_t epoch = atomic_load_explicit(&sc->epoch, memory_order_acquire);
    uint64_t forgets = atomic_load_explicit(&sc->forgets, memory_order_acquire);
    struct script *e = &l->slot[slot_of(sha)];
    if (e->body && e->epoch == epoch && e->forgets == forgets && memcmp(e->sha, sha, 40) == 0)
        return; /* known here */
    set_entry(e, sha, body, len, epoch, forgets);
    /* Shared too, so that another worker can answer its own NOSCRIPT. Once the shared list is
     * full, new scripts are known to the worker that saw them only. */
    pthread_mutex_lock(&sc->lock);
    if (!global_find(sc, sha) && sc->n < GLOBAL_MAX && sc->bytes + len <= GLOBAL_MAX_BYTES) {
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? sc->cap * 2 : 64;
            sc->all = px_realloc(sc->all, sc->cap * sizeof(*sc->all));
        }
        struct script *g = &sc->all[sc->n++];
        memset(g, 0, sizeof(*g));
        set_entry(g, sha, body, len, epoch, forgets);
        sc->bytes += len;
    }
    pthread_mutex_unlock(&sc->lock);
}

char *scripts_lookup(struct script_local *l, const char *sha_in, size_t *len)
{
    struct script_cache *sc = l->shared;
    char sha[41];
    for (int i = 0; i < 40; i++) sha[i] = (char)tolower((unsigned char)sha_in[i]);
    sha[40] = '\0';
    uint64_t epoch = atomic_load_explicit(&sc->epoch, memory_order_acquire);
    uint64_t forgets = atomic_load_explicit(&sc->forgets, memory_order_acquire);
    struct script *e = &l->slot[slot_of(sha)];
    /* A copy, never a pointer: this slot may be overwritten by the next remember, and the shared
     * entry freed by a flush on another worker. A copy made before a script was forgotten
     * anywhere is checked against the shared list (a script known to this worker only, because
     * that list was full, is then lost). */
    char *out = NULL;
    if (e->body && e->epoch == epoch && memcmp(e->sha, sha, 40) == 0 && e->forgets != forgets) {
        px_free(e->body);
        e->body = NULL;
    }
    if (e->body && e->epoch == epoch && memcmp(e->sha, sha, 40) == 0) {
        out = px_malloc(e->len ? e->len : 1);
        memcpy(out, e->body, e->len);
        *len = e->len;
        return out;
    }
    pthread_mutex_lock(&sc->lock);
    struct script *g = global_find(sc, sha);
    if (g) {
        out = px_malloc(g->len ? g->len : 1);
        memcpy(out, g->body, g->len);
        *len = g->len;
    }
    pthread_mutex_unlock(&sc->lock);
    return out;
}

void scripts_forget(struct script_local *l, const char *body, size_t len)
{
    struct script_cache *sc = l->shared;
    char sha[41];
    sha1_hex(body, len, sha);
    struct script *e = &l->slot[slot_of(sha)];
    if (e->body && memcmp(e->sha, sha, 40) == 0) {
        px_free(e->body);
        e->body = NULL;
    }
    pthread_mutex_lock(&sc->lock);
    struct script *g = global_find(sc, sha);
    if (g) {
        sc->bytes -= g->len;
        px_free(g->body);
        *g = sc->all[--sc->n];
    }
    /* Release: another worker that sees the new count sees the list without the script. */
    atomic_fetch_add_explicit(&sc->forgets, 1, memory_order_release);
    pthread_mutex_unlock(&sc->lock);
}

void scripts_flush(struct script_local *l)
{
    struct script_cache *sc = l->shared;
    pthread_mutex_lock(&sc->lock);
    for (size_t i = 0; i < sc->n; i++) px_free(sc->all[i].body);
    sc->n = 0;
    sc->bytes = 0;
    /* Release: local entries of the old epoch are ignored from now on by every worker. */
    atomic_fetch_add_explicit(&sc->epoch, 1, memory_order_release);
    pthread_mutex_unlock(&sc->lock);
}

void scripts_local_free(struct script_local *l)
{
    if (!l) return;
    for (int i = 0; i < LOCAL_SLOTS; i++) px_free(l->slot[i].body);
    px_free(l);
}
