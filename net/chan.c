/* Cross-thread channel; see chan.h. */
#include "chan.h"

#include "loop.h"
#include "mem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
