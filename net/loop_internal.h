/* The interface between loop.c and its polling backend (loop_epoll.c). */
#ifndef PX_LOOP_INTERNAL_H
#define PX_LOOP_INTERNAL_H

struct loop_backend;

struct loop_fired {
    int fd;
    int mask;
};

/* Creates the backend's poller (an epoll instance). Returns NULL with errno set when it cannot. */
struct loop_backend *loop_backend_create(void);
/* Closes the poller; the fds it watched are not closed. NULL is ok. */
void loop_backend_free(struct loop_backend *b);
/* Start, change or stop watching fd for the events in mask. Each returns 0 or -errno. */
int loop_backend_add(struct loop_backend *b, int fd, int mask);
int loop_backend_mod(struct loop_backend *b, int fd, int mask);
int loop_backend_del(struct loop_backend *b, int fd);
/* Waits up to timeout_ms (-1 forever) and fills at most max events. Returns the count (>= 0). */
int loop_backend_poll(struct loop_backend *b, struct loop_fired *out, int max, int timeout_ms);

#endif
