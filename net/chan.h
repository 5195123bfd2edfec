/*
 * Cross-thread channel: any thread may send small messages; one loop thread receives them. The
 * receiver registers the channel's eventfd on its loop, and chan_drain() hands every queued
 * message to a callback. Used for control traffic (new connections, new slot maps, shutdown) and
 * for the HTTP front's requests (one message per HTTP request, a slow path next to the RESP
 * port's), never per RESP request, so a short mutex-protected queue is enough.
 */
#ifndef PX_CHAN_H
#define PX_CHAN_H

#include <pthread.h>
#include <stdint.h>

struct loop;

/* A message is copied into the channel by value; what ptr points to is neither copied nor freed
 * by it. The meaning of type, fd, ptr and u64, and who owns ptr, is agreed between the parties. */
struct chan_msg {
    int type;
    int fd;
    void *ptr;
    uint64_t u64;
};

/* Called on the receiver's thread for each message, in the order they were sent, no lock held. */
typedef void chan_cb(struct chan_msg *msg, void *ctx);

struct chan {
    pthread_mutex_t lock;
    struct chan_msg *msgs;
    uint32_t len, cap;
    int efd;
    chan_cb *cb;
    void *ctx;
};

/* Initialises ch and registers its eventfd on loop l (the receiver's loop). Returns 0 or -errno. */
int chan_init(struct chan *ch, struct loop *l, chan_cb *cb, void *ctx);
/* Unregisters from l and frees queued messages' storage (not what their pointers point to). */
void chan_deinit(struct chan *ch, struct loop *l);
/* Queues a copy of *msg and wakes the receiver. Safe from any thread. */
void chan_send(struct chan *ch, const struct chan_msg *msg);
/* Delivers every queued message to the callback, on the receiver's thread. */
void chan_drain(struct chan *ch);

#endif
