/*
 * Status convention shared by every layer: 0 is success, a negative value is failure. Failures
 * are either -errno (from a system call) or one of the project codes below, which sit above the
 * errno range so the two never collide.
 */
#ifndef PX_ERRORS_H
#define PX_ERRORS_H

enum px_status {
    PX_OK = 0,
    PX_EAGAIN = -10001,  /* need more input, or would block */
    PX_EPROTO = -10002,  /* malformed protocol data */
    PX_ENOMEM = -10003,  /* allocation failed or a limit was hit */
    PX_ECLOSED = -10004, /* the peer closed the connection */
    PX_ELIMIT = -10005,  /* a configured limit was exceeded */
    PX_EINVAL = -10006,  /* invalid argument */
};

#endif
