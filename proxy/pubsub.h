/*
 * Pub/Sub through the proxy.
 *
 * A subscribing client gets private connections of its own in raw mode (no request/reply
 * matching): one to a master for channels and patterns (PUBLISH is broadcast to every node of a
 * cluster, so one node sees every message), one to each of the other masters when it listens to
 * keyspace notifications (__keyspace@.../__keyevent@..., which each node sends only for its own
 * keys), and one per node for shard channels (SSUBSCRIBE, routed by the channel's slot). The
 * client's subscriptions are kept here (struct pubsub_subs); the confirmations the client sees are
 * made here, with the counts Redis would give over one connection, and sent once every node
 * involved has confirmed, so a confirmed subscription is live. Messages from all the connections
 * reach the client through the deliver callback the worker gives, which keeps them behind pending
 * replies. On the extra keyspace connections only keyspace messages are passed on (anything else
 * is the broadcast copy the main connection already delivers).
 *
 * When a connection breaks, or the topology moves a node it relies on, every subscription is
 * made again on connections to the current nodes, so the client keeps receiving.
 */
#ifndef PX_PUBSUB_H
#define PX_PUBSUB_H

#include "private.h"
#include "request.h"
#include "resp_write.h"
#include "stats.h"
#include "strset.h"
#include "topology.h"
#include "view.h"

#include <stdint.h>

/* The subscribe and unsubscribe commands, in the order of their confirmation's first word. */
enum pubsub_kind {
    PSK_SUB = 0,
    PSK_PSUB,
    PSK_SSUB,
    PSK_UNSUB,
    PSK_PUNSUB,
    PSK_SUNSUB,
};

/* A client's subscriptions (pure state: no connection). Shard channels carry the index of the
 * connection they were made on. */
struct pubsub_subs {
    struct strset channels, patterns, shard;
};

/* Empty sets; pubsub_subs_free frees the names they hold. */
void pubsub_subs_init(struct pubsub_subs *s);
void pubsub_subs_free(struct pubsub_subs *s);
/* Channels and patterns (the count SUBSCRIBE and PSUBSCRIBE confirmations carry). */
uint32_t pubsub_subs_regular(const struct pubsub_subs *s);
/* Subscribes name (kind PSK_SUB, PSK_PSUB or PSK_SSUB; value: a shard channel's connection)
 * and appends its confirmation, as Redis writes it for protocol resp (a push in RESP3), to out.
 * Returns 1 when it was new. */
int pubsub_subs_add(struct pubsub_subs *s, enum pubsub_kind kind, const char *name, uint32_t len,
                    int value, int resp, struct sbuf *out);
/* Unsubscribes name (PSK_UNSUB, PSK_PUNSUB or PSK_SUNSUB) and appends its confirmation (Redis
 * confirms names that were not subscribed too). Returns 1 when it was subscribed. */
int pubsub_subs_remove(struct pubsub_subs *s, enum pubsub_kind kind, const char *name,
                       uint32_t len, int resp, struct sbuf *out);
/* The confirmation of an unsubscribe with nothing to unsubscribe (a null channel). */
void pubsub_confirm_none(const struct pubsub_subs *s, enum pubsub_kind kind, int resp,
                         struct sbuf *out);
/* Whether a channel is a keyspace-notification channel, and whether a glob pattern could match
 * one (its literal prefix agrees with "__keyspace@" or "__keyevent@"). */
int pubsub_keyspace_channel(const char *p, size_t len);
int pubsub_keyspace_pattern(const char *p, size_t len);

/* Hands a message to the client, behind any reply it still waits for (the session's job). */
typedef void pubsub_deliver_fn(void *ctx, struct client *c, struct buf_chunk *chunk, uint32_t off,
                               uint32_t len);

struct pubsub;

/* What Pub/Sub needs of its worker. */
struct pubsub_ctx {
    struct loop *loop;
    struct request_pool *rp;
    struct view *view;
    struct priv_pool *priv;
    struct topology *topo;
    struct worker_stats *stats;
    pubsub_deliver_fn *deliver;
    void *deliver_ctx;
    struct pubsub *all; /* every client's state, for pubsub_on_map */
    struct sbuf out;    /* confirmations and replies */
};

/* Prepares ctx; the pointers must outlive it. pubsub_ctx_deinit frees its scratch only: every
 * client's state must be gone first (pubsub_free, as each session closes). */
void pubsub_ctx_init(struct pubsub_ctx *ctx, struct loop *loop, struct request_pool *rp,
                     struct view *view, struct priv_pool *priv, struct topology *topo,
                     struct worker_stats *stats, pubsub_deliver_fn *deliver, void *deliver_ctx);
void pubsub_ctx_deinit(struct pubsub_ctx *ctx);

/* (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE. */
void pubsub_run(struct pubsub_ctx *ctx, struct request *r);
/* The client's subscriptions, or NULL when it has none (ACL changes look at them). */
const struct pubsub_subs *pubsub_client_subs(const struct client *c);
/* 1 when the client is in subscribed mode (has a channel, pattern or shard channel). */
int pubsub_subscribed(const struct client *c);
/* The client switched protocol (HELLO): its subscriptions are made again on connections that
 * speak the new one, so messages reach it in its protocol. */
void pubsub_protocol_changed(struct client *c);
/* Drops every subscription and connection (RESET, client closing). */
void pubsub_free(struct client *c);
/* The view has a new slot map: subscribe again where nodes changed. */
void pubsub_on_map(struct pubsub_ctx *ctx);

#endif
