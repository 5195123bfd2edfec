/*
 * The directory of every open client connection of the process: client id -> the worker that
 * serves it. Sessions add themselves when they open and leave when they close; anyone may ask
 * whether an id is open and on which worker (CLIENT TRACKING ... REDIRECT <id> checks that the
 * target exists, and sends it invalidations through that worker). The client pointer it keeps may
 * be used only on that worker's thread.
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
 * which only that worker's thread may touch. Any thread. */
int client_dir_find(uint64_t id, struct client **c);
/* How many clients are open. Any thread. */
uint64_t client_dir_count(void);

#endif
