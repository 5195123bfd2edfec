/*
 * Routing. dispatch_request() takes a freshly parsed request: looks its command up, checks the
 * arity, finds its keys and slot, answers locally or refuses where it must, and sends the rest to
 * the node serving the slot. The backend callbacks follow MOVED/ASK, retry TRYAGAIN and friends,
 * and hold requests that cannot be sent yet (node down, no slot map) until the topology or the
 * connection recovers, or -failover-hold runs out.
 */
#ifndef PX_DISPATCH_H
#define PX_DISPATCH_H

#include "backend.h"

struct worker;
struct request;

void dispatch_request(struct worker *w, struct request *r);
/* Sends r to the node its slot maps to now (or holds it). */
void dispatch_send(struct worker *w, struct request *r);
/* Re-sends held requests whose time has come; called by the worker when something changed. */
void dispatch_process_held(struct worker *w);

/* The backend callbacks of every worker: shared connections, and private ones (private.c). */
extern const struct backend_ops dispatch_backend_ops;
extern const struct backend_ops dispatch_private_ops;

#endif
