/*
 * Pub/Sub through the proxy.
 *
 * A subscribing session gets private connections of its own in raw mode (no request/reply
 * matching): one to a master for channels and patterns (PUBLISH is broadcast to every node of a
 * cluster, so one node sees every message), one to each of the other masters when it listens to
 * keyspace notifications (__keyspace@.../__keyevent@..., which each node sends only for its own
 * keys), and one per node for shard channels (SSUBSCRIBE, routed by the channel's slot). The
 * session's subscriptions are kept here; the confirmations the client sees are made here, with
 * the counts Redis would give over one connection, and sent once every node involved has
 * confirmed, so a confirmed subscription is live. Messages from all the connections are merged
 * into the client's one stream, in order behind pending confirmations. On the extra keyspace
 * connections only keyspace messages are passed on (anything else is the broadcast copy the
 * main connection already delivers).
 *
 * When a connection breaks, or the topology moves a node it relies on, every subscription is
 * made again on connections to the current nodes, so the client keeps receiving. A subscriber
 * that does not read is cut off past -pubsub-output-buffer-limit.
 */
#ifndef PX_PUBSUB_H
#define PX_PUBSUB_H

#include "backend.h"

struct worker;
struct request;
struct session;
struct ps_conn;

/* A command from a session that has Pub/Sub state. Returns 1 when r was handled here (subscribe
 * commands, PING and refusals in subscribed mode), 0 when it is routed as usual. */
int pubsub_route(struct worker *w, struct request *r);
/* (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE (from local.c). */
void pubsub_command(struct worker *w, struct request *r);
/* 1 when the session is in subscribed mode (has a channel, pattern or shard channel). */
int pubsub_subscribed(const struct session *s);
/* Drops every subscription and connection (RESET, session closing). */
void pubsub_free(struct session *s);
/* Events on a Pub/Sub connection (dispatch.c's private backend callbacks). */
void pubsub_on_push(struct ps_conn *pc, struct buf_chunk *c, uint32_t off,
                    const struct resp_reply_info *info);
void pubsub_conn_state(struct ps_conn *pc, enum backend_event ev);
/* Its private connection was freed. */
void pubsub_conn_gone(struct ps_conn *pc);
/* The worker has a new slot map: resubscribe where nodes changed. */
void pubsub_on_map(struct worker *w);

#endif
