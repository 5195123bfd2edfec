/*
 * A blocking connection to a node for the control path (the topology thread): commands in,
 * hiredis reply objects out, every step bounded by a timeout. Plain TCP or TLS.
 *
 * Why not hiredis's own connection: Debian 12's hiredis is 0.14, which has neither hiredis_ssl
 * nor a way to put another transport under a redisContext, and a cluster started with `--port 0`
 * answers only over TLS. So the socket and its TLS are ours (net/sock.c, net/tls.c, the same
 * code the workers use) and hiredis only formats commands and parses replies
 * (redisFormatCommandArgv, redisReader), which 0.14 offers. Plain connections go the same way,
 * so the one code path serves both.
 */
#ifndef PX_NODECONN_H
#define PX_NODECONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

struct tls_ctx;
struct nodeconn;

/* Connects to the numeric address ip:port within timeout_ms, with a TLS handshake when tls is
 * not NULL. Returns the connection, or NULL with the reason in err. */
struct nodeconn *nodeconn_open(const char *ip, int port, uint64_t timeout_ms, struct tls_ctx *tls,
                               char *err, size_t errlen);
/* Sends a command and waits (timeout_ms at most per step) for its reply, which the caller frees
 * with freeReplyObject. NULL when the connection failed (nodeconn_error says why; it is unusable
 * from then on). */
redisReply *nodeconn_command_argv(struct nodeconn *c, int argc, const char **argv);
/* The same for a command without arguments that contain spaces ("CLUSTER SHARDS"). */
redisReply *nodeconn_command(struct nodeconn *c, const char *words);
/* Why the connection failed, "" when it has not. */
const char *nodeconn_error(const struct nodeconn *c);
/* The numeric address it is connected to. */
const char *nodeconn_ip(const struct nodeconn *c);
/* Closes and frees; NULL is ok. */
void nodeconn_free(struct nodeconn *c);

#endif
