/*
 * Streams: the reads and writes of a connected socket registered with the loop as LOOP_STREAM,
 * through whichever I/O engine the loop runs on (loop.h). Sessions and backend runners move all
 * their bytes through these three calls and nothing else.
 *
 * With epoll they are what they look like: stream_read is one read() into the owner's chunk,
 * stream_write one writev() of its obuf. With io_uring the kernel works ahead of the owner: a
 * multishot receive fills buffers of the loop's ring as bytes arrive (LOOP_READ says some did),
 * and stream_read hands them over, the first without a copy (it becomes the owner's chunk when the
 * owner keeps no partial message); stream_write turns the obuf's first spans into one send request
 * that the loop hands to the kernel with everything else of the turn, in the one system call that
 * also waits. The obuf's bytes stay queued until the send completes (obuf_consume then), so the
 * owner's view of what is pending is exact in both engines, and at most one send per stream is
 * in the kernel's hands at a time, which keeps the bytes in order.
 *
 * Ownership: the owner keeps its obuf and its input chunk as before. It must not drop bytes from
 * the front of the obuf itself (stream_write does, now or at completion), and must call loop_del
 * before resetting the obuf of a closed stream (loop_del lets the kernel keep what it still sends
 * from, by reference).
 */
#ifndef PX_STREAM_H
#define PX_STREAM_H

#include "buf.h"
#include "loop.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Reads what the stream has for its owner into *cp after the owner's kept bytes (from *keep to
 * the chunk's end), making room for at least want bytes first as buf_chunk_make_room does (the
 * chunk may be replaced, the kept bytes moved and *keep updated; a NULL *cp gets a chunk from p).
 * At most max bytes are read when max is not 0 (a reader that must see input in steps of a given
 * size, as Redis reads an inline line); 0 reads as much as fits. The chunk's len grows by what was
 * read. Returns the bytes read (> 0), 0 at end of stream,
 * -EAGAIN when nothing is there yet, or another -errno when the connection failed (an error stays:
 * every later call returns it too). *more (when not NULL) is set to 1 when another call may
 * return more right away.
 */
ssize_t stream_read(struct loop *l, int fd, struct buf_pool *p, struct buf_chunk **cp,
                    uint32_t *keep, size_t want, size_t max, int *more);
/*
 * Writes o's bytes, or hands them to the kernel to write. Returns the bytes written since the last
 * call (>= 0; with io_uring those whose send completed meanwhile, which obuf_consume has already
 * dropped from o), -EAGAIN when none could be written (epoll: the socket is full), or another
 * -errno when the connection failed. Bytes not written yet stay in o; the owner watches LOOP_WRITE
 * while o is not empty and calls stream_write again when it fires.
 */
ssize_t stream_write(struct loop *l, int fd, struct obuf *o);
/* Bytes of o handed to the kernel whose send has not completed: after a failure, the peer may or
 * may not have received them. Always 0 with epoll. */
size_t stream_unsettled(struct loop *l, int fd);

#endif
