/*
 * Configuration: one table of options shared by the command line (and, later, the config file).
 * The parsed struct is immutable once the proxy starts and is passed explicitly to whoever needs
 * it; nothing reads a global.
 */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include "log.h"
#include "sock.h"
#include "tls.h"

#include <stddef.h>
#include <stdint.h>

enum read_prefer { RP_MASTER = 0, RP_REPLICA, RP_PREFER_REPLICA, RP_REPLICA_IDC };

/* An IPv4 network of the proxy's data centre (-idc). */
struct cidr {
    uint32_t net, mask; /* host byte order */
};

struct config {
    char addr[SOCK_HOST_MAX + 8]; /* -addr, "host:port" */
    char listen_host[SOCK_HOST_MAX];
    int listen_port;     /* 0: no plain-text listener (-port 0, or -addr host:0) */
    char *startup_nodes; /* -startup-nodes, comma-separated */
    char **startup;      /* split */
    int nstartup;
    int threads;
    uint64_t connect_timeout_ms;
    uint64_t slots_reload_interval_ms;
    uint64_t failover_hold_ms;
    char *requirepass; /* clients must AUTH with this */
    char *password;    /* AUTH to the backends */
    char *user;
    enum log_level log_level;
    char *log_file;
    int tcp_keepalive_s;
    int max_redirects;
    int backend_idle_connections;           /* idle private connections kept per node per worker */
    unsigned long long pubsub_buffer_limit; /* bytes a subscriber may leave unread */
    char *debug_addr;                       /* -debug-addr host:port, or NULL: off */
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
/* "master", "replica", "prefer-replica" or "replica-idc" (static strings). */
const char *config_read_prefer_name(enum read_prefer rp);
/* The TLS settings of c as net/tls.h takes them (pointers into c). */
void config_tls_opts(const struct config *c, struct tls_opts *o);
/* Logs the effective configuration (passwords masked). */
void config_log(const struct config *c);

#endif
