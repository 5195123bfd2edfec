/*
 * Streams; see stream.h. The work is the engine's (loop_epoll.c, loop_uring.c): these calls pick
 * the loop's engine and pass the call on.
 */
#include "stream.h"

#include "loop_internal.h"

ssize_t stream_read(struct loop *l, int fd, struct buf_pool *p, struct buf_chunk **cp,
                    uint32_t *keep, size_t want, size_t max, int *more)
{
    const struct loop_backend_ops *ops;
    struct loop_backend *b = loop_engine(l, &ops);
    if (more) *more = 0;
    return ops->read(b, fd, p, cp, keep, want, max, more);
}

ssize_t stream_write(struct loop *l, int fd, struct obuf *o)
{
    const struct loop_backend_ops *ops;
    struct loop_backend *b = loop_engine(l, &ops);
    return ops->write(b, fd, o);
}

size_t stream_unsettled(struct loop *l, int fd)
{
    const struct loop_backend_ops *ops;
    struct loop_backend *b = loop_engine(l, &ops);
    return ops->unsettled(b, fd);
}
