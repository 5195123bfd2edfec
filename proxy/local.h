/* Commands the proxy answers itself. */
#ifndef PX_LOCAL_H
#define PX_LOCAL_H

struct worker;
struct request;

enum local_id {
    LOCAL_NONE = 0,
    LOCAL_PING,
    LOCAL_ECHO,
    LOCAL_QUIT,
};

/* Answers req (whose command is ROUTE_LOCAL) on the worker's thread. */
void local_handle(struct worker *w, struct request *req);

#endif
