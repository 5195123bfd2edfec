/*
 * A client's state below the session; see client.h. The side state is allocated on first use
 * and given back once unused, so an idle connection costs only its struct client.
 */
#include "client.h"

#include "mem.h"

#include <string.h>

void client_init(struct client *c, uint64_t id, int fd, int authed)
{
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->fd = fd;
    c->resp = 2;
    c->authed = (uint8_t)(authed != 0);
}

/* Zeroed: every counter 0 and every executor pointer NULL, which is "no state" to each of them. */
struct client_ext *client_ext_get(struct client *c)
{
    if (!c->x) c->x = px_calloc(1, sizeof(*c->x));
    return c->x;
}

/* deferred counts as in use: the requests waiting for a barrier are reachable only from it. */
void client_trim(struct client *c)
{
    const struct client_ext *x = c->x;
    if (!x || x->name || x->lib_name || x->lib_ver || x->barriers || x->nblocking ||
        x->deferred || x->fwd || x->txn || x->ps || x->privs || x->trk || x->user ||
        x->pushes_queued)
        return;
    px_free(c->x->peer);
    px_free(c->x);
    c->x = NULL;
}

void client_set_user(struct client *c, const struct acl_user *u, int is_default)
{
    if (is_default) u = NULL;
    if (u)
        client_ext_get(c)->user = u;
    else if (c->x)
        c->x->user = NULL;
}

/* An empty value clears the name, as CLIENT SETNAME "" does in Redis. */
void client_set_str(char **dst, const char *p, uint32_t len)
{
    px_free(*dst);
    *dst = len ? px_strndup(p, len) : NULL;
}

void client_clear_names(struct client *c)
{
    struct client_ext *x = c->x;
    if (!x) return;
    px_free(x->name);
    px_free(x->lib_name);
    px_free(x->lib_ver);
    x->name = x->lib_name = x->lib_ver = NULL;
}

/* Only what this file made: each executor gives its own part back first (the session's close
 * calls pubsub_free, txn_reset and priv_close_all; its free calls forward_client_free). */
void client_free(struct client *c)
{
    client_clear_names(c);
    if (c->x) px_free(c->x->peer);
    px_free(c->x);
    c->x = NULL;
}
