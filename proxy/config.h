/*
 * Configuration: one table of options shared by the command line (and, later, the config file).
 * The parsed struct is immutable once the proxy starts and is passed explicitly to whoever needs
 * it; nothing reads a global.
 */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include "log.h"
#include "loop.h"
#include "placement.h"
#include "sock.h"
#include "tls.h"

#include <stddef.h>
#include <stdint.h>

enum read_prefer { RP_MASTER = 0, RP_REPLICA, RP_PREFER_REPLICA, RP_REPLICA_IDC };

/* -cross-slot: what becomes of a command whose keys span slots and that cannot be split. */
enum cross_slot_mode {
    CROSS_SLOT_REFUSE = 0, /* Redis Cluster's -CROSSSLOT (the default) */
    CROSS_SLOT_COMPUTE,    /* computed by the proxy from the nodes' data (crossslot.c) */
};

/* An IPv4 network of the proxy's data centre (-idc). */
struct cidr {
    uint32_t net, mask; /* host byte order */
};

/* 64-bit words of struct config's given mask: one bit per option of config.c's table. */
#define CONFIG_GIVEN_WORDS 2

struct config {
    char addr[SOCK_HOST_MAX + 8]; /* -addr, "host:port" */
    char listen_host[SOCK_HOST_MAX];
    int listen_port;     /* 0: no plain-text listener (-port 0, or -addr host:0) */
    char *startup_nodes; /* -startup-nodes, comma-separated */
    char **startup;      /* split */
    int nstartup;
    int threads;
    enum loop_io io; /* -io: the event loops' I/O engine (uring falls back to epoll) */
    int worker_busy; /* -worker-busy: % of a CPU before a worker sheds clients; 0: never move */
    int io_batch_us; /* -io-batch-us: bound of the batched wait (loop_set_batch_us), 0: off */
    uint64_t connect_timeout_ms;
    uint64_t slots_reload_interval_ms;
    uint64_t failover_hold_ms;
    char *requirepass; /* the default user's password (clients must AUTH with it) */
    char *aclfile;     /* -aclfile: the proxy's users, in Redis's ACL file syntax */
    int acllog_max_len; /* -acllog-max-len: entries ACL LOG keeps */
    char *password;    /* AUTH to the backends (-password, -backend-password) */
    char *user;        /* ...as this ACL user (-user, -backend-user) */
    enum log_level log_level;
    char *log_file;
    int tcp_keepalive_s;
    int max_redirects;
    int backend_idle_connections;           /* idle private connections kept per node per worker */
    unsigned long long pubsub_buffer_limit; /* bytes a subscriber may leave unread */
    char *debug_addr;                       /* -debug-addr host:port, or NULL: off */
    char *http_addr;                        /* -http-addr host:port, or NULL: off */
    uint64_t http_timeout_ms;               /* -http-timeout: an HTTP request's longest wait */
    enum cross_slot_mode cross_slot;        /* -cross-slot */
    char *announce_addr;                    /* -announce-addr host:port, or NULL */
    uint64_t shutdown_timeout_ms;           /* graceful shutdown: at most this long */
    char *config_file;                      /* -config */
    enum read_prefer read_prefer;
    /* Limits (issue 7). 0 means off where the flag's help says so. */
    int maxclients;                     /* client connections at once */
    unsigned long long cobl_hard;       /* -client-output-buffer-limit: cut at once above this */
    unsigned long long cobl_soft;       /* ...or when above this ... */
    int cobl_soft_s;                    /* ... for this many seconds */
    unsigned long long query_buf_limit; /* -query-buffer-limit: one partial request's bytes */
    unsigned long long proto_max_bulk;  /* -proto-max-bulk-len */
    unsigned long long tracking_max_keys; /* -tracking-table-max-keys (over every worker) */
    int max_inflight;                   /* requests in flight per client before reading pauses */
    int timeout_s;                      /* -timeout: idle clients are closed (0: never) */
    uint64_t backend_timeout_ms;        /* -backend-timeout: a node's reply is awaited this long */
    uint64_t stall_threshold_ms; /* -stall-threshold: no reply this long makes a master suspect */
    uint64_t stall_hold_ms;      /* -stall-hold: a suspect's replies wait this long, at most */
    int protected_mode;                 /* -protected-mode: no password => loopback clients only */
    char *idc;                          /* -idc as given, or NULL for the default */
    struct cidr *cidrs;                 /* parsed -idc (or the default /16) */
    int ncidrs;
    /* TLS (issue 22), with Redis's names: the clients' side on -tls-port, the nodes' side with
     * -tls-cluster. Strings are NULL when not set. */
    int tls_port; /* 0: no TLS listener */
    char *tls_cert_file, *tls_key_file, *tls_key_file_pass;
    char *tls_client_cert_file, *tls_client_key_file, *tls_client_key_file_pass;
    char *tls_ca_cert_file, *tls_ca_cert_dir;
    int tls_auth_clients; /* enum tls_auth_clients */
    char *tls_protocols, *tls_ciphers, *tls_ciphersuites;
    int tls_prefer_server_ciphers;
    int tls_session_caching;
    int tls_session_cache_size;
    int tls_session_cache_timeout;
    int tls_cluster;                   /* talk TLS to the nodes */
    uint64_t tls_handshake_timeout_ms; /* a client that has not finished its handshake by then */
    /* Pool mode (issue 20): standalone servers placed as twemproxy / redis-router /
     * rediscluster-py place keys, instead of a cluster. */
    int pool;                             /* -pool-servers or -pool-server was given */
    char *pool_servers;                   /* -pool-servers FILE */
    char *pool_server_lines;              /* the -pool-server values as twemproxy lines */
    int npool_server;                     /* how many -pool-server values */
    struct placement_opts placement;      /* -distribution, -hash, -hash-tag */
    int hash_tag_strip;                   /* -hash-tag-strip: "bar{foo}" is stored as "bar" */
    int auto_eject_hosts;                 /* -auto-eject-hosts */
    int server_failure_limit;             /* -server-failure-limit */
    uint64_t server_retry_timeout_ms;     /* -server-retry-timeout */
    uint64_t given[CONFIG_GIVEN_WORDS];   /* bit i: option i of the table was set (file or flag) */
};

enum config_result {
    CONFIG_OK = 0,
    CONFIG_EXIT_OK = 1, /* --help or -version was handled: exit 0 */
};

/* Reads "key value" lines (# comments; keys are the flag names) from path. Returns 0, or
 * PX_EINVAL with "path:line: ..." in err. */
int config_parse_file(struct config *c, const char *path, char *err, size_t errlen);
/* Fills c with the defaults. */
void config_defaults(struct config *c);
/*
 * Parses command-line flags (one dash or two; "-flag value" or "-flag=value"). Returns CONFIG_OK,
 * CONFIG_EXIT_OK after printing help or the version to out, or PX_EINVAL with a one-line message
 * naming the flag and what it expects in err.
 */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen,
                      void *out /* FILE * */);
/* Frees every string and array c holds (c itself is the caller's) and zeroes it. */
void config_free(struct config *c);
/* Parses a duration such as "3s", "500ms", "1m30s", "1.5s" or "0". Returns 0 or PX_EINVAL. */
int config_parse_duration(const char *s, uint64_t *ms);
/* Parses a size as Redis does: bytes, or k/kb/m/mb/g/gb (k = 1000, kb = 1024). Returns 0 or
 * PX_EINVAL. */
int config_parse_size(const char *s, unsigned long long *bytes);
/* Parses "10.0.0.0/8,192.168.1.0/24". Returns the count (>= 1) or PX_EINVAL. */
int config_parse_cidrs(const char *s, struct cidr **out);
/* 1 when the numeric IPv4 address ip is inside one of the networks. */
int config_in_idc(const struct config *c, const char *ip);
/* Fills the default data centre (the /16 of the first non-loopback IPv4 address) when -idc was
 * not given. */
void config_default_idc(struct config *c);
/* "refuse" or "compute" (static strings). */
const char *config_cross_slot_name(enum cross_slot_mode m);
/* "master", "replica", "prefer-replica" or "replica-idc" (static strings). */
const char *config_read_prefer_name(enum read_prefer rp);
/* The TLS settings of c as net/tls.h takes them (pointers into c). */
void config_tls_opts(const struct config *c, struct tls_opts *o);
/* 1 when the option named name (as on the command line, without dashes) was given. */
int config_given(const struct config *c, const char *name);
/* Logs the effective configuration (passwords masked). */
void config_log(const struct config *c);

#endif
