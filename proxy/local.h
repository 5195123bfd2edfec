/*
 * Commands the proxy answers itself: connection state (AUTH, HELLO, SELECT, CLIENT ..., RESET,
 * READONLY/READWRITE), the CLUSTER commands of a one-node cluster at the proxy's address, and a
 * few that need no node (PING, ECHO, TIME, QUIT).
 */
#ifndef PX_LOCAL_H
#define PX_LOCAL_H

struct worker;
struct request;
struct config;

enum local_id {
    LOCAL_NONE = 0,
    LOCAL_PING,
    LOCAL_ECHO,
    LOCAL_QUIT,
    LOCAL_TIME,
    LOCAL_AUTH,
    LOCAL_HELLO,
    LOCAL_SELECT,
    LOCAL_RESET,
    LOCAL_READONLY,
    LOCAL_READWRITE,
    LOCAL_CLIENT_SETNAME,
    LOCAL_CLIENT_GETNAME,
    LOCAL_CLIENT_ID,
    LOCAL_CLIENT_INFO,
    LOCAL_CLIENT_LIST,
    LOCAL_CLIENT_SETINFO,
    LOCAL_CLIENT_NO_EVICT,
    LOCAL_CLIENT_NO_TOUCH,
    LOCAL_CLIENT_REPLY,
    LOCAL_CLUSTER_INFO,
    LOCAL_CLUSTER_SLOTS,
    LOCAL_CLUSTER_SHARDS,
    LOCAL_CLUSTER_NODES,
    LOCAL_CLUSTER_MYID,
    LOCAL_CLUSTER_KEYSLOT,
    LOCAL_CLUSTER_SLOT_ROUTED, /* COUNTKEYSINSLOT / GETKEYSINSLOT: validated, sent to the owner */
    LOCAL_INFO,
    LOCAL_SCAN,
    LOCAL_ROLE,
    LOCAL_ACL_WHOAMI,
    /* Handled by txn.c, which sees them first. */
    LOCAL_MULTI,
    LOCAL_EXEC,
    LOCAL_DISCARD,
    LOCAL_WATCH,
    LOCAL_UNWATCH,
    /* Handled by pubsub.c. */
    LOCAL_SUBSCRIBE,
    LOCAL_PSUBSCRIBE,
    LOCAL_SSUBSCRIBE,
    LOCAL_UNSUBSCRIBE,
    LOCAL_PUNSUBSCRIBE,
    LOCAL_SUNSUBSCRIBE,
};

/* Once at startup, before any worker runs: the proxy's node id for the CLUSTER commands. */
void local_init(void);
/* The 40-character node id. */
const char *local_node_id(void);
/* Answers req (whose command is ROUTE_LOCAL) on the worker's thread. */
void local_handle(struct worker *w, struct request *req);

#endif
