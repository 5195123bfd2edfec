/*
 * Cross-thread channel; the contract is in chan.h. Each worker's inbox is one: the acceptor sends
 * it new connections, the topology thread new slot maps, the main thread drain and stop, and the
 * debug port's threads and other workers their snapshot and CLIENT LIST requests and answers.
 * Senders append a copy of their message to an array under the mutex; the receiver swaps the
 * whole array out under the lock and runs the callbacks without it, so a callback may send again,
 * even to its own channel, and a sender never waits for a callback. The eventfd is written only
 * when the queue goes from empty to non-empty: one wake-up per batch rather than one per message.
 */
#include "chan.h"

#include "loop.h"
#include "mem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The eventfd is readable. Its counter is reset before draining, not after: a message queued
 * once the drain has looked writes the eventfd again, and that wake-up must not be read away. */
static void chan_on_event(struct loop *l, int fd, int mask, void *ctx)
{
    struct chan *ch = ctx;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    chan_drain(ch);
}

int chan_init(struct chan *ch, struct loop *l, chan_cb *cb, void *ctx)
{
    memset(ch, 0, sizeof(*ch));
    ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ch->efd < 0) return -errno;
    pthread_mutex_init(&ch->lock, NULL);
    ch->cb = cb;
    ch->ctx = ctx;
    /* Without a loop, nobody watches the eventfd and the owner calls chan_drain() itself. */
    if (l) {
        int rc = loop_add(l, ch->efd, LOOP_READ, chan_on_event, ch);
        if (rc < 0) {
            close(ch->efd);
            return rc;
        }
    }
    return 0;
}

void chan_deinit(struct chan *ch, struct loop *l)
{
    if (l) loop_del(l, ch->efd);
    close(ch->efd);
    pthread_mutex_destroy(&ch->lock);
    px_free(ch->msgs);
    ch->msgs = NULL;
}

void chan_send(struct chan *ch, const struct chan_msg *msg)
{
    pthread_mutex_lock(&ch->lock);
    if (ch->len == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 16;
        ch->msgs = px_realloc(ch->msgs, ch->cap * sizeof(*ch->msgs));
    }
    ch->msgs[ch->len++] = *msg;
    /* Only the first message of a batch wakes the receiver: the later ones are in the array it is
     * about to take. */
    int wake = ch->len == 1;
    pthread_mutex_unlock(&ch->lock);
    if (wake) {
        uint64_t one = 1;
        ssize_t w = write(ch->efd, &one, sizeof(one));
        (void)w;
    }
}

void chan_drain(struct chan *ch)
{
    /* Until a swap finds the queue empty: messages sent while the callbacks ran are delivered in
     * this call too. */
    for (;;) {
        pthread_mutex_lock(&ch->lock);
        uint32_t n = ch->len;
        struct chan_msg *msgs = ch->msgs;
        ch->msgs = NULL;
        ch->len = ch->cap = 0;
        pthread_mutex_unlock(&ch->lock);
        if (n == 0) {
            px_free(msgs);
            return;
        }
        for (uint32_t i = 0; i < n; i++) ch->cb(&msgs[i], ch->ctx);
        px_free(msgs);
    }
}
