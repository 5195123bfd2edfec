/*
 * The directory of every open client connection of the process: client id -> the worker that
 * serves it. Sessions add themselves when they open and leave when they close; anyone may ask
 * whether an id is open and on which worker (CLIENT TRACKING ... REDIRECT <id> checks that the
 * target exists, and sends it invalidations through that worker). The client pointer it keeps may
 * be used only on that worker's thread. A client that moves to another worker is marked as on its
 * way there until it has arrived.
 */
#ifndef PX_CLIENT_DIR_H
#define PX_CLIENT_DIR_H

#include <stdint.h>

struct client;

/* Records c (id c->id) as served by worker. Any thread. */
void client_dir_add(struct client *c, int worker);
/* Forgets id. Any thread. */
void client_dir_del(uint64_t id);
/* The worker serving id, or -1 when no such client is open; *c (when not NULL) gets its client,
 * which only that worker's thread may touch, or NULL while the client moves to that worker (the
 * caller tries again once it has arrived). Any thread. */
int client_dir_find(uint64_t id, struct client **c);
/* id's client is on its way to worker `to` (worker.c's load balancing): from now on it is found
 * there, without its client until client_dir_arrived. Any thread. */
void client_dir_moving(uint64_t id, int to);
/* id's client has arrived where client_dir_moving sent it. */
void client_dir_arrived(uint64_t id);
/* How many clients are open. Any thread. */
uint64_t client_dir_count(void);

#endif
