/*
 * Script calls out on the nodes; see busy.h. Each worker has a slot: how many calls are out,
 * since when the oldest, and whether it is a function. The slot's fields are separate atomics,
 * so a reader may pair a count with a stale start for one check; that only shifts the answer of
 * one PING by the span of a call.
 */
#include "busy.h"

#include <stdatomic.h>

struct busy_slot {
    atomic_uint count;
    atomic_uint_fast64_t since_ms;
    atomic_int function;
};

static struct busy_slot slots[BUSY_MAX_WORKERS];
static atomic_llong threshold_ms = 5000;
static _Thread_local int my_slot = -1;

void busy_set_threshold(long long ms)
{
    atomic_store(&threshold_ms, ms < 0 ? 0 : ms);
}

void busy_bind(int w)
{
    my_slot = w >= 0 && w < BUSY_MAX_WORKERS ? w : -1;
}

void busy_start(uint64_t now_ms, int function)
{
    if (my_slot < 0) return;
    struct busy_slot *s = &slots[my_slot];
    if (atomic_fetch_add(&s->count, 1) == 0) {
        atomic_store(&s->since_ms, now_ms);
        atomic_store(&s->function, function);
    }
}

void busy_end(uint64_t now_ms)
{
    if (my_slot < 0) return;
    struct busy_slot *s = &slots[my_slot];
    if (atomic_load(&s->count) == 0) return;
    if (atomic_fetch_sub(&s->count, 1) > 1) atomic_store(&s->since_ms, now_ms);
}

int busy_now(uint64_t now_ms, int *function)
{
    long long th = atomic_load_explicit(&threshold_ms, memory_order_relaxed);
    uint64_t oldest = UINT64_MAX;
    int fn = 0;
    for (int i = 0; i < BUSY_MAX_WORKERS; i++) {
        struct busy_slot *s = &slots[i];
        if (atomic_load_explicit(&s->count, memory_order_relaxed) == 0) continue;
        uint64_t since = atomic_load_explicit(&s->since_ms, memory_order_relaxed);
        if (since < oldest) {
            oldest = since;
            fn = atomic_load_explicit(&s->function, memory_order_relaxed);
        }
    }
    if (oldest == UINT64_MAX || now_ms < oldest || now_ms - oldest <= (uint64_t)th) return 0;
    if (function) *function = fn;
    return 1;
}
