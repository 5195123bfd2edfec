/*
 * Pool mode's servers: the list (from a servers file or from -pool-server flags), the health of
 * each server as the topology thread's probes find it, twemproxy's auto-ejection, and the slot
 * map made of it all (cluster/slotmap.h: one shard per live server, with the replicas its
 * INFO replication names, and the placement over the live servers).
 *
 * The object belongs to the topology thread, which reads the file again on SIGHUP
 * (pool_reload), probes each server (a connect and INFO; the I/O is topology.c's) and reports
 * what it found (pool_note_probe), then publishes pool_build_map's result. Nothing here does
 * network I/O; pool_load_file and pool_reload read the servers file. The decisions (when a
 * server is ejected, when it is looked at again, when the placement changes) are plain state
 * changes, tested in tests/unit/test_pool.c.
 *
 * Ejection, as twemproxy's auto_eject_hosts: a server whose probes fail server_failure_limit
 * times in a row leaves the placement (its keys re-hash to the other servers) for
 * server_retry_timeout; then it is probed again, and it comes back only when that probe
 * answers (twemproxy puts it back blindly and lets traffic fail on it again). Without
 * auto-ejection a server that does not answer stays in the placement and its keys fail.
 */
#ifndef PX_POOL_H
#define PX_POOL_H

#include "placement.h"
#include "serverlist.h"
#include "slotmap.h"

#include <stddef.h>
#include <stdint.h>

/* SCAN's cursor carries the server's index in 10 bits (proxy/scan.h). */
#define POOL_MAX_SERVERS  1024
#define POOL_FILE_MAX     (1u << 20)
#define POOL_MAX_REPLICAS 16
/* A live server whose probe failed is probed again this soon (auto-ejection on). */
#define POOL_FAST_PROBE_MS 250

enum pool_format {
    POOL_FORMAT_TWEMPROXY = 0, /* "host:port:weight [name]" */
    POOL_FORMAT_REDIS_ROUTER,  /* "host:port weight" (libketama's servers file) */
};

struct pool_config {
    const char *file;          /* the servers file, read again by pool_reload; or NULL */
    const char *text;          /* without a file: twemproxy lines (the -pool-server flags) */
    struct placement_opts opts;
    int strip;                 /* -hash-tag-strip (carried into the maps) */
    int auto_eject;            /* -auto-eject-hosts */
    uint32_t failure_limit;    /* -server-failure-limit, >= 1 */
    uint64_t retry_timeout_ms; /* -server-retry-timeout */
};

/* A replica its master names in INFO replication ("slave0:ip=...,port=...,state=online,..."). */
struct pool_replica {
    char ip[SLOTMAP_IP_MAX];
    int port;
    int online; /* state=online: the initial sync is done */
};

/* What one probe of a server found. */
struct pool_probe {
    int ok;                  /* the server answered */
    char ip[SLOTMAP_IP_MAX]; /* its numeric address; "" when its name did not resolve */
    char err[128];           /* when !ok: why */
    int nreplicas;
    struct pool_replica replicas[POOL_MAX_REPLICAS];
};

struct pool;

/*
 * Parses a server list from buf[0..len), in twemproxy's format or redis-router's (libketama's),
 * whichever parses: an IPv4 or named "host:port weight" line never parses as a twemproxy line.
 * Stores the format in *fmt. Returns 0 and fills out (serverlist_deinit releases it), or
 * PX_EINVAL with a message ("line N: ...") in err.
 */
int pool_parse_list(const char *buf, size_t len, struct serverlist *out, enum pool_format *fmt,
                    char *err, size_t errlen);
/* Reads the file at path (at most POOL_FILE_MAX bytes) and parses it as pool_parse_list does;
 * err names the file. May block (a file read). */
int pool_load_file(const char *path, struct serverlist *out, enum pool_format *fmt, char *err,
                   size_t errlen);
/*
 * Turns one -pool-server value, "host:port[:weight] [name]" (weight 1 when left out), into a
 * twemproxy server line in out. Returns 0, or PX_EINVAL when it is not of that shape (an IPv6
 * host needs its weight written, since "::1:6379" would read as port 1, weight 6379).
 */
int pool_server_line(const char *spec, char *out, size_t outlen);
/* Checks that sl can be placed with o: at most POOL_MAX_SERVERS servers, no address listed
 * twice, and what placement_create checks. Returns 0 or PX_EINVAL with the reason in err. */
int pool_check(const struct placement_opts *o, const struct serverlist *sl, char *err,
               size_t errlen);

/* Reads the list (cfg is copied) and makes the pool, every server live. Returns 0, or
 * PX_EINVAL with err. */
int pool_create(const struct pool_config *cfg, struct pool **out, char *err, size_t errlen);
void pool_free(struct pool *p);
/*
 * Reads the servers file again. A list that does not parse or cannot be placed is refused
 * (PX_EINVAL, err says why) and the pool keeps its list. Servers that stay (same host, port
 * and name) keep their health and ejection; the placement changes (a new generation) when the
 * list did. Returns 1 when the list changed, 0 when it is the same or there is no file.
 */
int pool_reload(struct pool *p, char *err, size_t errlen);
/* The format the list was read in. */
enum pool_format pool_format_of(const struct pool *p);
/* The number of configured servers, and server i (in the configuration's order). */
size_t pool_size(const struct pool *p);
const struct placement_server *pool_server(const struct pool *p, size_t i);
/* 1 when server i is due a probe at now_ms: a live server always; an ejected one once its
 * retry timeout is over. */
int pool_should_probe(const struct pool *p, size_t i, uint64_t now_ms);
/* Records the probe of server i made at now_ms: its health, failure count, ejection or return,
 * address and replicas. */
void pool_note_probe(struct pool *p, size_t i, const struct pool_probe *pr, uint64_t now_ms);
/* Records server i's numeric address, resolved without a probe (the first map's, so that a
 * server named by host name is reached from the start). */
void pool_note_ip(struct pool *p, size_t i, const char *ip);
/* When the next round of probes is due, given the last one at last_ms and the reload interval:
 * sooner while a live server is failing with auto-ejection on, or an ejected server's retry
 * time comes first. */
uint64_t pool_next_due(const struct pool *p, uint64_t last_ms, uint64_t interval_ms);
/* Parses the replicas out of an INFO (replication section) text, at most max. Returns how
 * many. */
int pool_parse_replicas(const char *info, struct pool_replica *out, int max);
/*
 * The slot map of the pool now: shard k is the k-th live server (its address as last resolved,
 * or its host as written before it ever was), with the replicas its last probe found; the
 * placement over the live servers; covered = their number. Returns a map with one reference,
 * or NULL only when the placement cannot be built (never for a list pool_check accepted).
 */
struct slotmap *pool_build_map(struct pool *p, uint64_t now_ms);

#endif
