/* Parsing of Redis Cluster redirections: "MOVED <slot> <host>:<port>" and "ASK ...". */
#ifndef PX_REDIRECT_H
#define PX_REDIRECT_H

#include "slotmap.h"

#include <stddef.h>

struct redirect {
    int slot;
    char ip[SLOTMAP_IP_MAX];
    int port;
    char addr[SLOTMAP_ADDR_MAX];
};

/*
 * Parses the text of a -MOVED or -ASK error (without the leading '-'). An empty host (Redis 7
 * sends ":port" when the endpoint is unknown) means the node that sent the redirect, whose ip is
 * from_ip. Returns 0, or PX_EPROTO when the text is not a redirect.
 */
int redirect_parse(const char *text, size_t len, const char *from_ip, struct redirect *out);

#endif
