/* Private connections and their per-worker pool; see private.h. */
#include "private.h"

#include "dispatch.h"
#include "log.h"
#include "mem.h"
#include "pubsub.h"
#include "session.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>

/* One pool entry per node: the idle connections to it. */
struct priv_pool {
    char ip[SLOTMAP_IP_MAX];
    int port;
    struct privconn *idle;
    uint32_t nidle;
};

static struct priv_pool *pool_entry(struct worker *w, const char *ip, int port)
{
    for (int i = 0; i < w->npools; i++)
        if (w->pools[i].port == port && strcmp(w->pools[i].ip, ip) == 0) return &w->pools[i];
    w->pools = px_realloc(w->pools, (size_t)(w->npools + 1) * sizeof(*w->pools));
    struct priv_pool *p = &w->pools[w->npools++];
    memset(p, 0, sizeof(*p));
    snprintf(p->ip, sizeof(p->ip), "%s", ip);
    p->port = port;
    return p;
}

static void list_remove(struct privconn **head, struct privconn *pc)
{
    if (pc->prev)
        pc->prev->next = pc->next;
    else if (*head == pc)
        *head = pc->next;
    if (pc->next) pc->next->prev = pc->prev;
    pc->next = pc->prev = NULL;
}

static void list_push(struct privconn **head, struct privconn *pc)
{
    pc->prev = NULL;
    pc->next = *head;
    if (*head) (*head)->prev = pc;
    *head = pc;
}

struct privconn *priv_lease(struct worker *w, struct session *s, struct backend *shared)
{
    struct priv_pool *p = pool_entry(w, backend_ip(shared), backend_port(shared));
    struct privconn *pc = p->idle;
    if (pc) {
        list_remove(&p->idle, pc);
        p->nidle--;
    } else {
        pc = px_calloc(1, sizeof(*pc));
        pc->w = w;
        pc->pool = (int)(p - w->pools);
        pc->b =
            backend_create(w->loop, &w->pool, &dispatch_private_ops, pc, &w->bopts, p->ip, p->port);
        stat_add(&w->stats.private_conns, 1);
    }
    pc->owner = s;
    if (s) list_push(&session_ext_get(s)->privs, pc);
    backend_set_timeout(pc->b, w->cfg->backend_timeout_ms); /* callers may turn it off */
    return pc;
}

void priv_close(struct privconn *pc)
{
    if (pc->dead) return;
    struct worker *w = pc->w;
    if (pc->owner) list_remove(&pc->owner->ext->privs, pc); /* made by priv_lease */
    pc->owner = NULL;
    pc->dead = 1;
    list_push(&w->priv_dead, pc);
}

void priv_release(struct privconn *pc)
{
    if (pc->dead) return;
    struct worker *w = pc->w;
    struct priv_pool *p = &w->pools[pc->pool];
    int clean =
        !pc->ps && backend_inflight(pc->b) == 0 &&
        (backend_get_state(pc->b) == BACKEND_UP || backend_get_state(pc->b) == BACKEND_CONNECTING);
    if (!clean || p->nidle >= (uint32_t)w->cfg->backend_idle_connections) {
        priv_close(pc);
        return;
    }
    if (pc->owner) list_remove(&pc->owner->ext->privs, pc); /* made by priv_lease */
    pc->owner = NULL;
    backend_set_raw(pc->b, 0);
    list_push(&p->idle, pc);
    p->nidle++;
}

void priv_close_all(struct session *s)
{
    while (s->ext && s->ext->privs) priv_close(s->ext->privs);
}

void priv_free_dead(struct worker *w)
{
    while (w->priv_dead) {
        struct privconn *pc = w->priv_dead;
        list_remove(&w->priv_dead, pc);
        /* Fails whatever is still in flight: those requests' clients are gone or get errors. */
        backend_free(pc->b);
        if (pc->ps) pubsub_conn_gone(pc->ps);
        px_free(pc);
        stat_add(&w->stats.private_conns, (uint64_t)-1);
    }
}

/* An idle pooled connection that the node closed: drop it. */
void priv_idle_down(struct privconn *pc)
{
    struct worker *w = pc->w;
    struct priv_pool *p = &w->pools[pc->pool];
    list_remove(&p->idle, pc);
    p->nidle--;
    pc->dead = 1;
    list_push(&w->priv_dead, pc);
}

void priv_pool_free(struct worker *w)
{
    for (int i = 0; i < w->npools; i++) {
        while (w->pools[i].idle) {
            struct privconn *pc = w->pools[i].idle;
            list_remove(&w->pools[i].idle, pc);
            w->pools[i].nidle--;
            pc->dead = 1;
            list_push(&w->priv_dead, pc);
        }
    }
    priv_free_dead(w);
    px_free(w->pools);
    w->pools = NULL;
    w->npools = 0;
}

uint32_t priv_pool_idle(struct worker *w)
{
    uint32_t n = 0;
    for (int i = 0; i < w->npools; i++) n += w->pools[i].nidle;
    return n;
}
