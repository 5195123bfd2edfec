/*
 * Configuration and command-line flags; see config.h. main() calls config_defaults(), then
 * config_parse_args(), which reads the -config file first when one is named and every other flag
 * after it, so the command line wins over the file. The result is a plain struct that main owns,
 * fills once at startup and passes by const pointer to every part that needs a setting.
 *
 * Every option is one row of opts[]: its name (the flag without dashes, and the key in the file),
 * how its value is parsed, where it goes in struct config, the default shown in --help, and the
 * help text. set_opt() is the one place a value is parsed and checked, so a flag and its file key
 * accept exactly the same values and fail with the same message. The notations are those of the
 * Go proxy this one replaces, and of redis.conf: durations as Go writes them (3s, 500ms, 1m30s),
 * sizes as Redis does (32mb, 1gb), flags with one dash or two.
 */
#include "config.h"

#include "commands.h"
#include "hashkit.h"
#include "mem.h"
#include "pool.h"
#include "px_errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* How set_opt() parses an option's value and where it stores it. */
enum opt_type {
    OPT_ADDR,
    OPT_NODES,
    OPT_INT,
    OPT_DURATION,
    OPT_STRING,
    OPT_LOGLEVEL,
    OPT_SIZE,
    OPT_READPREFER,
    OPT_IDC,
    OPT_HOSTPORT,   /* a string that must be host:port */
    OPT_FILE,       /* -config: read before the other flags */
    OPT_BOOL,       /* yes/no */
    OPT_COBL,       /* -client-output-buffer-limit: "hard [soft seconds]" */
    OPT_PORT,       /* -port: the port of -addr (0: no plain-text listener) */
    OPT_TLSAUTH,    /* -tls-auth-clients: yes, no or optional */
    OPT_PROTOCOLS,  /* -tls-protocols: "TLSv1.2 TLSv1.3" */
    OPT_POOLSERVER, /* -pool-server: repeated, each value one more server */
    OPT_DIST,       /* -distribution */
    OPT_HASH,       /* -hash */
    OPT_HASHTAG,    /* -hash-tag: two characters, or "" for none */
    OPT_MS,         /* milliseconds as twemproxy writes them (30000), or a duration (30s) */
    OPT_CROSSSLOT,  /* -cross-slot: refuse or compute */
    OPT_IO,         /* -io: uring or epoll */
};

/* One option: what set_opt needs to parse and store it, and what --help shows of it. */
struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    const char *dflt; /* shown in --help */
    const char *help;
    long long min, max; /* for OPT_INT; min also for OPT_SIZE (0: any size) */
};

/* Options name their field by offset, and set_opt writes through it according to the type. */
#define OFF(f) offsetof(struct config, f)

/* In the order --help lists them. The dflt column is only shown: config_defaults() sets the real
 * defaults, and the two must agree. */
static const struct opt opts[] = {
    /* Where the proxy listens, the cluster it serves, and how it watches the topology. */
    {"addr", OPT_ADDR, OFF(addr), "0.0.0.0:8088",
     "address the proxy listens on (host:port; port 0: no plain-text listener, the host is still "
     "where -tls-port listens)",
     0, 0},
    {"port", OPT_PORT, OFF(listen_port), "8088",
     "the port of -addr, as Redis names it; 0 turns the plain-text listener off (with -tls-port)",
     0, 65535},
    {"startup-nodes", OPT_NODES, OFF(startup_nodes), "127.0.0.1:7001",
     "comma-separated host:port of cluster nodes to learn the topology from", 0, 0},
    {"threads", OPT_INT, OFF(threads), "number of CPUs", "worker threads", 1, 1024},
    {"worker-busy", OPT_INT, OFF(worker_busy), "70",
     "percent of a CPU a worker may use before it hands some of its clients to a worker that is "
     "idler; below that, clients are packed on as few workers as the load needs (fewer wake-ups, "
     "less CPU per request), new ones go to the first worker with room, and a worker whose "
     "clients would fit in a lower one hands them over; 0: clients are spread evenly at connect "
     "and never move. A client moves only between requests, and only a plain-text one with no "
     "transaction, subscription, tracking, blocked command or non-default user",
     0, 100},
    {"io", OPT_IO, OFF(io), "uring",
     "how the workers do their I/O: uring (io_uring: a turn's reads and writes of every "
     "connection in one system call) or epoll; where io_uring is not available (old kernel, "
     "seccomp, kernel.io_uring_disabled) uring runs on epoll and the log says why",
     0, 0},
    {"io-batch-us", OPT_INT, OFF(io_batch_us), "0",
     "with -io uring: when several nodes owe replies, or the last wait brought three or more "
     "events, a worker sleeps until that many events are in, but at most this many microseconds "
     "after the first, so that one wake-up serves a batch; 0 (off) wakes at every event",
     0, 100000},
    {"connect-timeout", OPT_DURATION, OFF(connect_timeout_ms), "3s",
     "timeout for connecting to a cluster node", 0, 0},
    {"slots-reload-interval", OPT_DURATION, OFF(slots_reload_interval_ms), "3s",
     "how often the slot map is fetched again", 0, 0},
    {"failover-hold", OPT_DURATION, OFF(failover_hold_ms), "5s",
     "how long a request that cannot be sent yet (node down, slot moving) waits before failing", 0,
     0},
    /* Credentials: the clients' password, and the proxy's own on the nodes. */
    {"requirepass", OPT_STRING, OFF(requirepass), "",
     "the default user's password: clients must AUTH with it (none: no AUTH needed)", 0, 0},
    {"aclfile", OPT_STRING, OFF(aclfile), "",
     "the proxy's own client users, in Redis's ACL file syntax (\"user <name> <rules...>\" "
     "lines); ACL LOAD and ACL SAVE read and write it",
     0, 0},
    {"acllog-max-len", OPT_INT, OFF(acllog_max_len), "128", "entries ACL LOG keeps", 0,
     1000000000},
    {"password", OPT_STRING, OFF(password), "", "password to AUTH with on the cluster nodes", 0, 0},
    {"backend-password", OPT_STRING, OFF(password), "", "the same as -password", 0, 0},
    {"user", OPT_STRING, OFF(user), "", "ACL user to AUTH as on the cluster nodes (with -password)",
     0, 0},
    {"backend-user", OPT_STRING, OFF(user), "", "the same as -user", 0, 0},
    /* Connections to clients and nodes. */
    {"tcp-keepalive", OPT_INT, OFF(tcp_keepalive_s), "300",
     "TCP keepalive interval in seconds for client and node connections (0: off)", 0, 86400},
    {"max-redirects", OPT_INT, OFF(max_redirects), "16",
     "MOVED/ASK redirections followed for one request before giving up", 1, 1000},
    {"backend-idle-connections", OPT_INT, OFF(backend_idle_connections), "5",
     "idle private connections (transactions, blocking commands, Pub/Sub) kept per node and "
     "worker",
     0, 100000},
    /* Client limits, with Redis's names and meanings where Redis has the same limit. */
    {"maxclients", OPT_INT, OFF(maxclients), "10000",
     "client connections served at once; more get \"-ERR max number of clients reached\" and "
     "are closed",
     1, 100000000},
    {"client-output-buffer-limit", OPT_COBL, OFF(cobl_hard), "256mb 64mb 60",
     "a client whose unread replies exceed the hard size, or stay above the soft size for the "
     "given seconds, is disconnected (\"hard soft seconds\", or one size; 0: no limit)",
     0, 0},
    /* At least 1mb, as Redis's client-query-buffer-limit: below, ordinary requests would close
     * their clients (at 0, every client on its first read). */
    {"query-buffer-limit", OPT_SIZE, OFF(query_buf_limit), "1gb",
     "a client whose request being read grows past this is disconnected (at least 1mb)", 1ll << 20,
     0},
    {"proto-max-bulk-len", OPT_SIZE, OFF(proto_max_bulk), "512mb",
     "longest argument a request may carry (longer: \"Protocol error: invalid bulk length\")", 0,
     0},
    {"max-inflight", OPT_INT, OFF(max_inflight), "4096",
     "requests one client may have in flight; reading from it pauses there (nothing is dropped) "
     "and resumes at half",
     2, 10000000},
    {"timeout", OPT_INT, OFF(timeout_s), "0",
     "close a client idle for this many seconds (not blocked, subscribed or waiting for a "
     "reply; 0: never)",
     0, 100000000},
    {"backend-timeout", OPT_DURATION, OFF(backend_timeout_ms), "5s",
     "a node that leaves a request (other than a blocking command) unanswered this long has its "
     "requests failed and its connection recycled (0: wait forever)",
     0, 0},
    {"tracking-table-max-keys", OPT_SIZE, OFF(tracking_max_keys), "1000000",
     "keys the proxy remembers for client-side caching (CLIENT TRACKING), over every worker; "
     "past it the oldest are invalidated for their readers and forgotten (0: no bound)",
     0, 0},
    {"stall-threshold", OPT_DURATION, OFF(stall_threshold_ms), "300ms",
     "a master that leaves requests unanswered this long is suspect: new requests wait, the "
     "topology is asked at once, and its replies are relayed only once the cluster confirms it "
     "still serves its slots (0: off)",
     0, 0},
    {"stall-hold", OPT_DURATION, OFF(stall_hold_ms), "3s",
     "how long the replies of a suspect master that answers again may wait for that "
     "confirmation before its requests fail",
     0, 0},
    {"protected-mode", OPT_BOOL, OFF(protected_mode), "yes",
     "without -requirepass, refuse clients from non-loopback addresses with Redis's -DENIED "
     "error (yes or no)",
     0, 0},
    {"pubsub-output-buffer-limit", OPT_SIZE, OFF(pubsub_buffer_limit), "32mb",
     "a subscriber (or a tracking client) that leaves more than this unread is disconnected "
     "(sizes: 512kb, 32mb, 1gb; 0: no limit, as Redis's client-output-buffer-limit pubsub 0)",
     0, 0},
    /* Pool mode: standalone servers instead of a cluster, with twemproxy's names and defaults. */
    {"pool-servers", OPT_STRING, OFF(pool_servers), "",
     "pool mode: a file of standalone servers, one per line, as twemproxy writes them "
     "(\"host:port:weight [name]\") or redis-router (\"host:port weight\"); SIGHUP reads it "
     "again",
     0, 0},
    {"pool-server", OPT_POOLSERVER, OFF(pool_server_lines), "",
     "pool mode: one standalone server, \"host:port[:weight] [name]\"; repeat the flag for "
     "each",
     0, 0},
    {"distribution", OPT_DIST, OFF(placement), "ketama",
     "pool mode: how keys are placed: ketama (twemproxy), libketama (redis-router), modula, "
     "random or crc32-mod (rediscluster-py)",
     0, 0},
    {"hash", OPT_HASH, OFF(placement), "fnv1a_64",
     "pool mode: twemproxy's key hash for ketama and modula: fnv1a_64, fnv1a_32, fnv1_64, "
     "fnv1_32, md5, crc16, crc32, crc32a, murmur, one_at_a_time, hsieh or jenkins",
     0, 0},
    {"hash-tag", OPT_HASHTAG, OFF(placement), "",
     "pool mode: twemproxy's hash_tag, two characters such as \"{}\": only the part of a key "
     "between them is hashed (none by default)",
     0, 0},
    {"hash-tag-strip", OPT_BOOL, OFF(hash_tag_strip), "no",
     "pool mode, crc32-mod: store \"bar{foo}\" under the name \"bar\" on foo's server, as "
     "rediscluster-py does (yes or no)",
     0, 0},
    {"auto-eject-hosts", OPT_BOOL, OFF(auto_eject_hosts), "no",
     "pool mode: take a server that fails -server-failure-limit probes in a row out of the "
     "placement for -server-retry-timeout (its keys re-hash to the other servers meanwhile)",
     0, 0},
    {"server-failure-limit", OPT_INT, OFF(server_failure_limit), "2",
     "pool mode: failed probes in a row that eject a server (with -auto-eject-hosts)", 1,
     1000000},
    {"server-retry-timeout", OPT_MS, OFF(server_retry_timeout_ms), "30000",
     "pool mode: how long an ejected server stays out before it is probed again (milliseconds, "
     "or a duration such as 30s)",
     0, 0},
    /* Replica reads. */
    {"read-prefer", OPT_READPREFER, OFF(read_prefer), "master",
     "where reads go: master, replica, prefer-replica or replica-idc (also READ_PREFER_MASTER, "
     "READ_PREFER_SLAVE, READ_PREFER_SLAVE_IDC or 0, 1, 2)",
     0, 0},
    {"idc", OPT_IDC, OFF(idc), "the /16 of the first non-loopback IPv4 address",
     "the proxy's data centre for replica-idc, as CIDR ranges (10.1.0.0/16,10.2.0.0/16)", 0, 0},
    {"announce-addr", OPT_HOSTPORT, OFF(announce_addr), "",
     "the host:port CLUSTER SLOTS, SHARDS and NODES give clients for the proxy (as Redis's "
     "cluster-announce-ip/port), for a proxy behind NAT or a load balancer; by default the address "
     "each client reached the proxy at",
     0, 0},
    /* TLS, with Redis's names and meanings. */
    {"tls-port", OPT_INT, OFF(tls_port), "0",
     "also accept TLS clients on this port, at the host of -addr (0: no TLS listener)", 0, 65535},
    {"tls-cert-file", OPT_STRING, OFF(tls_cert_file), "",
     "the proxy's certificate (PEM, chain allowed) for TLS clients", 0, 0},
    {"tls-key-file", OPT_STRING, OFF(tls_key_file), "", "the private key of -tls-cert-file", 0, 0},
    {"tls-key-file-pass", OPT_STRING, OFF(tls_key_file_pass), "", "the passphrase of -tls-key-file",
     0, 0},
    {"tls-client-cert-file", OPT_STRING, OFF(tls_client_cert_file), "",
     "the certificate the proxy shows to nodes with -tls-cluster (default: -tls-cert-file)", 0, 0},
    {"tls-client-key-file", OPT_STRING, OFF(tls_client_key_file), "",
     "the private key of -tls-client-cert-file", 0, 0},
    {"tls-client-key-file-pass", OPT_STRING, OFF(tls_client_key_file_pass), "",
     "the passphrase of -tls-client-key-file", 0, 0},
    {"tls-ca-cert-file", OPT_STRING, OFF(tls_ca_cert_file), "",
     "CA certificates (PEM) that client and node certificates are verified against", 0, 0},
    {"tls-ca-cert-dir", OPT_STRING, OFF(tls_ca_cert_dir), "",
     "a directory of CA certificates (c_rehash layout), as -tls-ca-cert-file", 0, 0},
    {"tls-auth-clients", OPT_TLSAUTH, OFF(tls_auth_clients), "yes",
     "whether TLS clients must show a certificate signed by a trusted CA: yes, no or optional "
     "(verified when shown)",
     0, 0},
    {"tls-protocols", OPT_PROTOCOLS, OFF(tls_protocols), "TLSv1.2 TLSv1.3",
     "TLS versions accepted, among TLSv1, TLSv1.1, TLSv1.2 and TLSv1.3 (space-separated)", 0, 0},
    {"tls-ciphers", OPT_STRING, OFF(tls_ciphers), "",
     "ciphers for TLS 1.2 and below, as an OpenSSL cipher list (default: OpenSSL's)", 0, 0},
    {"tls-ciphersuites", OPT_STRING, OFF(tls_ciphersuites), "",
     "cipher suites for TLS 1.3, as OpenSSL names them (default: OpenSSL's)", 0, 0},
    {"tls-prefer-server-ciphers", OPT_BOOL, OFF(tls_prefer_server_ciphers), "no",
     "choose the cipher by the proxy's preference rather than the client's", 0, 0},
    {"tls-session-caching", OPT_BOOL, OFF(tls_session_caching), "yes",
     "let TLS clients resume sessions (faster reconnects)", 0, 0},
    {"tls-session-cache-size", OPT_INT, OFF(tls_session_cache_size), "20480",
     "TLS sessions kept for resumption", 1, 100000000},
    {"tls-session-cache-timeout", OPT_INT, OFF(tls_session_cache_timeout), "300",
     "seconds a TLS session can be resumed for", 1, 100000000},
    {"tls-cluster", OPT_BOOL, OFF(tls_cluster), "no",
     "talk TLS to the cluster's nodes, at the TLS port they announce (needs -tls-ca-cert-file or "
     "-tls-ca-cert-dir)",
     0, 0},
    {"tls-handshake-timeout", OPT_DURATION, OFF(tls_handshake_timeout_ms), "10s",
     "a TLS client that has not finished its handshake this long after connecting is closed", 0, 0},
    /* What the proxy does beyond a cluster node's protocol (off unless asked for). */
    {"http-addr", OPT_HOSTPORT, OFF(http_addr), "",
     "serve Redis commands as HTTP/JSON on this host:port (POST command= and arguments=, or a "
     "JSON body); a host left empty (:8090) is 127.0.0.1; off unless given",
     0, 0},
    {"http-timeout", OPT_DURATION, OFF(http_timeout_ms), "30s",
     "an HTTP request not answered within this gets 504 (blocking commands included; 0: wait as "
     "long as the command takes)",
     0, 0},
    {"cross-slot", OPT_CROSSSLOT, OFF(cross_slot), "refuse",
     "commands whose keys span slots and cannot be split: refuse (Redis's -CROSSSLOT) or compute "
     "(the proxy reads the keys from their nodes and computes the answer; not atomic)",
     0, 0},
    /* Operating the proxy. */
    {"debug-addr", OPT_HOSTPORT, OFF(debug_addr), "",
     "serve /metrics, /debug/... and profiles over HTTP on this host:port (off unless given)", 0,
     0},
    {"shutdown-timeout", OPT_DURATION, OFF(shutdown_timeout_ms), "5s",
     "on SIGTERM/SIGINT, how long requests in flight may take to finish before the proxy exits", 0,
     0},
    {"config", OPT_FILE, OFF(config_file), "",
     "read flags from this file first (\"key value\" per line; lines starting with # are "
     "comments); flags given on the command line win",
     0, 0},
    {"log-level", OPT_LOGLEVEL, OFF(log_level), "info", "debug, info, warn or error", 0, 0},
    {"log-file", OPT_STRING, OFF(log_file), "", "write the log here instead of stderr", 0, 0},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))
/* config.given has a bit per option. */
_Static_assert(NOPTS <= 64 * CONFIG_GIVEN_WORDS, "struct config's given mask is too small");

/* Marks option o as given. */
static void config_mark_given(struct config *c, const struct opt *o)
{
    size_t i = (size_t)(o - opts);
    c->given[i / 64] |= 1ull << (i % 64);
}

/* Must agree with the dflt column of opts[]. */
void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->addr, sizeof(c->addr), "0.0.0.0:8088");
    snprintf(c->listen_host, sizeof(c->listen_host), "0.0.0.0");
    c->listen_port = 8088;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    /* One worker per online CPU. */
    c->threads = n > 0 ? (int)n : 1;
    c->io = LOOP_IO_URING;
    c->worker_busy = 70;
    c->io_batch_us = 0; /* measured: fewer sleeps, but no CPU saved overall (bench/README.md) */
    c->connect_timeout_ms = 3000;
    c->slots_reload_interval_ms = 3000;
    c->failover_hold_ms = 5000;
    c->log_level = LOG_INFO;
    c->tcp_keepalive_s = 300;
    c->max_redirects = 16;
    c->backend_idle_connections = 5;
    c->pubsub_buffer_limit = 32ull << 20;
    c->shutdown_timeout_ms = 5000;
    c->maxclients = 10000;
    c->cobl_hard = 256ull << 20;
    c->cobl_soft = 64ull << 20;
    c->cobl_soft_s = 60;
    c->query_buf_limit = 1ull << 30;
    c->proto_max_bulk = 512ull << 20;
    c->tracking_max_keys = 1000000;
    c->max_inflight = 4096;
    c->backend_timeout_ms = 5000;
    c->stall_threshold_ms = 300;
    c->stall_hold_ms = 3000;
    c->protected_mode = 1;
    c->tls_auth_clients = TLS_AUTH_CLIENTS_YES;
    c->tls_session_caching = 1;
    c->tls_session_cache_size = 20480;
    c->tls_session_cache_timeout = 300;
    c->tls_handshake_timeout_ms = 10000;
    c->acllog_max_len = 128;
    placement_opts_init(&c->placement);
    c->server_failure_limit = 2;
    c->server_retry_timeout_ms = 30000;
    c->http_timeout_ms = 30000;
    c->cross_slot = CROSS_SLOT_REFUSE;
}

/* "hard soft seconds" (as Redis's client-output-buffer-limit, without the class) or one size. */
static int parse_cobl(struct config *c, const char *v)
{
    char a[64], b[64], s[64], extra[2];
    int n = sscanf(v, "%63s %63s %63s %1s", a, b, s, extra);
    unsigned long long hard, soft = 0;
    long long secs = 0;
    /* %1s catches a fourth word. One size alone sets the hard limit and turns the soft one off. */
    if (n != 1 && n != 3) return PX_EINVAL;
    if (config_parse_size(a, &hard) < 0) return PX_EINVAL;
    if (n == 3) {
        char *end;
        errno = 0;
        secs = strtoll(s, &end, 10);
        if (config_parse_size(b, &soft) < 0 || errno || *end || secs < 0 || secs > 100000000)
            return PX_EINVAL;
    }
    c->cobl_hard = hard;
    c->cobl_soft = soft;
    c->cobl_soft_s = (int)secs;
    return 0;
}

/* Drops the split startup list (the -startup-nodes text is kept). */
static void free_nodes(struct config *c)
{
    for (int i = 0; i < c->nstartup; i++) px_free(c->startup[i]);
    px_free(c->startup);
    c->startup = NULL;
    c->nstartup = 0;
}

/* The struct owns every string in it; c is left zeroed. */
void config_free(struct config *c)
{
    px_free(c->startup_nodes);
    free_nodes(c);
    px_free(c->requirepass);
    px_free(c->aclfile);
    px_free(c->debug_addr);
    px_free(c->http_addr);
    px_free(c->announce_addr);
    px_free(c->config_file);
    px_free(c->idc);
    px_free(c->cidrs);
    px_free(c->password);
    px_free(c->user);
    px_free(c->log_file);
    char **tls_strings[] = {
        &c->tls_cert_file,        &c->tls_key_file,        &c->tls_key_file_pass,
        &c->tls_client_cert_file, &c->tls_client_key_file, &c->tls_client_key_file_pass,
        &c->tls_ca_cert_file,     &c->tls_ca_cert_dir,     &c->tls_protocols,
        &c->tls_ciphers,          &c->tls_ciphersuites};
    for (size_t i = 0; i < sizeof(tls_strings) / sizeof(tls_strings[0]); i++)
        px_free(*tls_strings[i]);
    px_free(c->pool_servers);
    px_free(c->pool_server_lines);
    memset(c, 0, sizeof(*c));
}

/* Go's time.ParseDuration syntax without a sign, to the millisecond: number-unit parts that add
 * up ("1m30s"), each number possibly with a fraction; "0" is the only number without a unit. */
int config_parse_duration(const char *s, uint64_t *ms)
{
    if (!*s) return PX_EINVAL;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    /* A double, for the fractions; a total past 1e15 ms is refused before the cast could
     * overflow. */
    double total = 0;
    const char *p = s;
    while (*p) {
        /* digits, optionally with a fraction: no sign, exponent or hex, as in Go */
        const char *start = p;
        double v = 0, scale = 0;
        for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
        if (*p == '.') {
            p++;
            scale = 1;
            for (; *p >= '0' && *p <= '9'; p++) {
                scale /= 10;
                v += (*p - '0') * scale;
            }
        }
        /* At least one digit: "." alone is not a number. */
        if (p == start || (p - start == 1 && *start == '.')) return PX_EINVAL;
        double unit;
        /* The two-letter units first: "m" alone would take the start of "ms". */
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            unit = 0.001;
            p += 2;
        } else if (strncmp(p, "ns", 2) == 0) {
            unit = 0.000001;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else {
            return PX_EINVAL; /* a number needs a unit, as in Go's time.ParseDuration */
        }
        total += v * unit;
        if (total > 1e15) return PX_EINVAL;
    }
    uint64_t r = (uint64_t)total;
    if ((double)r < total) r++; /* round sub-millisecond parts up */
    *ms = r;
    return 0;
}

/* A bare address is a /32, and host bits are cleared ("10.1.2.3/16" is 10.1.0.0/16). On success
 * *out is an array the caller frees with px_free. */
int config_parse_cidrs(const char *s, struct cidr **out)
{
    struct cidr *v = NULL;
    int n = 0;
    char *copy = px_strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *slash = strchr(tok, '/');
        long bits = 32;
        if (slash) {
            char *end;
            *slash = '\0';
            bits = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || bits < 0 || bits > 32) goto bad;
        }
        struct in_addr a;
        if (inet_pton(AF_INET, tok, &a) != 1) goto bad;
        v = px_realloc(v, (size_t)(n + 1) * sizeof(*v));
        v[n].mask = bits == 0 ? 0 : ~0u << (32 - bits);
        v[n].net = ntohl(a.s_addr) & v[n].mask;
        n++;
    }
    px_free(copy);
    if (n == 0) {
        px_free(v);
        return PX_EINVAL;
    }
    *out = v;
    return n;
bad:
    px_free(copy);
    px_free(v);
    return PX_EINVAL;
}

/* IPv4 only: an IPv6 address is never in the data centre. */
int config_in_idc(const struct config *c, const char *ip)
{
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1) return 0;
    uint32_t h = ntohl(a.s_addr);
    for (int i = 0; i < c->ncidrs; i++)
        if ((h & c->cidrs[i].mask) == c->cidrs[i].net) return 1;
    return 0;
}

/* A guess for the usual layout, where each data centre is one /16; -idc overrides it. With no
 * non-loopback IPv4 address there is no data centre, and no replica counts as local. */
void config_default_idc(struct config *c)
{
    if (c->cidrs) return;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0) return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        uint32_t h = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
        if ((h >> 24) == 127) continue;
        c->cidrs = px_malloc(sizeof(*c->cidrs));
        c->cidrs[0].mask = 0xffff0000u;
        c->cidrs[0].net = h & 0xffff0000u;
        c->ncidrs = 1;
        break;
    }
    freeifaddrs(ifs);
}

/* The canonical name, as --help and the log write it. */
const char *config_read_prefer_name(enum read_prefer rp)
{
    static const char *const names[] = {"master", "replica", "prefer-replica", "replica-idc"};
    return rp <= RP_REPLICA_IDC ? names[rp] : "?";
}

const char *config_cross_slot_name(enum cross_slot_mode m)
{
    return m == CROSS_SLOT_COMPUTE ? "compute" : "refuse";
}

/* As redis.conf: k, m and g are powers of ten, kb, mb and gb powers of two, in any case. A value
 * that does not fit 64 bits is refused rather than wrapped. */
int config_parse_size(const char *s, unsigned long long *bytes)
{
    const char *p = s;
    unsigned long long v = 0;
    /* A digit first: no sign, no space. */
    if (*p < '0' || *p > '9') return PX_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (~0ull - 9) / 10) return PX_EINVAL;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    static const struct {
        const char *unit;
        unsigned long long mul;
    } units[] = {{"", 1},        {"b", 1},           {"k", 1000},       {"kb", 1024},
                 {"m", 1000000}, {"mb", 1ull << 20}, {"g", 1000000000}, {"gb", 1ull << 30}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            if (v > ~0ull / units[i].mul) return PX_EINVAL;
            *bytes = v * units[i].mul;
            return 0;
        }
    }
    return PX_EINVAL;
}

/* Splits -startup-nodes into c->startup. Every entry must be host:port with a host; spaces around
 * the commas are ignored. On error the list is left empty. */
static int parse_nodes(struct config *c, const char *v)
{
    free_nodes(c);
    char *copy = px_strdup(v);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ') tok[--l] = '\0';
        if (!l) continue;
        char host[SOCK_HOST_MAX];
        int port;
        if (sock_split_addr(tok, host, sizeof(host), &port) < 0 || !host[0]) {
            px_free(copy);
            free_nodes(c);
            return PX_EINVAL;
        }
        c->startup = px_realloc(c->startup, (size_t)(c->nstartup + 1) * sizeof(char *));
        c->startup[c->nstartup++] = px_strdup(tok);
    }
    px_free(copy);
    return c->nstartup ? 0 : PX_EINVAL;
}

/* Parses v as the value of option o into c: the one place values are checked, for the command line
 * and the file alike. Returns 0, or PX_EINVAL with a message naming the flag and what it
 * expects. */
static int set_opt(struct config *c, const struct opt *o, const char *v, char *err, size_t errlen)
{
    char *base = (char *)c;
    switch (o->type) {
    /* The text is kept for logs and messages, and split for the listener; an empty host means every
     * IPv4 address. */
    case OPT_ADDR: {
        char host[SOCK_HOST_MAX];
        int port;
        int rc = sock_split_addr(v, host, sizeof(host), &port);
        size_t vl = strlen(v);
        if (rc < 0 && vl >= 2 && strcmp(v + vl - 2, ":0") == 0) {
            /* host:0: the host is where -tls-port listens, and there is no plain listener. */
            char probe[SOCK_HOST_MAX + 8];
            snprintf(probe, sizeof(probe), "%.*s:1", (int)(vl - 2), v);
            rc = sock_split_addr(probe, host, sizeof(host), &port);
            port = 0;
        }
        if (rc < 0) {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: expected host:port", v,
                     o->name);
            return PX_EINVAL;
        }
        snprintf(c->addr, sizeof(c->addr), "%s", v);
        snprintf(c->listen_host, sizeof(c->listen_host), "%s", host[0] ? host : "0.0.0.0");
        c->listen_port = port;
        return 0;
    }
    /* The text is kept for the log; the split list is what the topology thread is given. */
    case OPT_NODES:
        if (parse_nodes(c, v) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected host:port[,host:port...]", v,
                     o->name);
            return PX_EINVAL;
        }
        px_free(c->startup_nodes);
        c->startup_nodes = px_strdup(v);
        return 0;
    /* The whole value must be a number in the table's bounds; errno catches overflow. */
    case OPT_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || !*v || *end || n < o->min || n > o->max) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected an integer from %lld to %lld", v,
                     o->name, o->min, o->max);
            return PX_EINVAL;
        }
        *(int *)(base + o->off) = (int)n;
        return 0;
    }
    /* Kept in milliseconds, whatever unit was written. */
    case OPT_DURATION: {
        uint64_t ms;
        if (config_parse_duration(v, &ms) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected a duration such as 3s or 500ms",
                     v, o->name);
            return PX_EINVAL;
        }
        *(uint64_t *)(base + o->off) = ms;
        return 0;
    }
    /* An empty value means unset: -requirepass "" turns the password off. */
    case OPT_STRING: {
        char **dst = (char **)(base + o->off);
        px_free(*dst);
        *dst = *v ? px_strdup(v) : NULL;
        return 0;
    }
    case OPT_SIZE: {
        unsigned long long bytes;
        if (config_parse_size(v, &bytes) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected a size such as 32mb or 1gb", v,
                     o->name);
            return PX_EINVAL;
        }
        if (bytes < (unsigned long long)o->min) {
            char least[32];
            if (o->min % (1ll << 20) == 0)
                snprintf(least, sizeof(least), "%lldmb", o->min >> 20);
            else
                snprintf(least, sizeof(least), "%lld bytes", o->min);
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected a size of at least %s", v,
                     o->name, least);
            return PX_EINVAL;
        }
        *(unsigned long long *)(base + o->off) = bytes;
        return 0;
    }
    /* Both are kept as text; only the host:port flags must look like one. */
    case OPT_HOSTPORT:
    case OPT_FILE: {
        char host[SOCK_HOST_MAX];
        int port;
        if (o->type == OPT_HOSTPORT && sock_split_addr(v, host, sizeof(host), &port) < 0) {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: expected host:port", v,
                     o->name);
            return PX_EINVAL;
        }
        char **dst = (char **)(base + o->off);
        px_free(*dst);
        *dst = *v ? px_strdup(v) : NULL;
        return 0;
    }
    /* The Go proxy's names and numbers work too, so its configurations carry over. */
    case OPT_READPREFER: {
        static const struct {
            const char *name;
            enum read_prefer rp;
        } names[] = {
            {"master", RP_MASTER},
            {"replica", RP_REPLICA},
            {"prefer-replica", RP_PREFER_REPLICA},
            {"replica-idc", RP_REPLICA_IDC},
            {"read_prefer_master", RP_MASTER},
            {"read_prefer_slave", RP_REPLICA},
            {"read_prefer_slave_idc", RP_REPLICA_IDC},
            {"0", RP_MASTER},
            {"1", RP_REPLICA},
            {"2", RP_REPLICA_IDC},
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcasecmp(v, names[i].name) == 0) {
                c->read_prefer = names[i].rp;
                return 0;
            }
        snprintf(err, errlen,
                 "invalid value \"%s\" for flag -%s: expected master, replica, prefer-replica or "
                 "replica-idc",
                 v, o->name);
        return PX_EINVAL;
    }
    case OPT_CROSSSLOT:
        if (strcasecmp(v, "refuse") == 0) {
            c->cross_slot = CROSS_SLOT_REFUSE;
            return 0;
        }
        if (strcasecmp(v, "compute") == 0) {
            c->cross_slot = CROSS_SLOT_COMPUTE;
            return 0;
        }
        snprintf(err, errlen, "invalid value \"%s\" for flag -%s: expected refuse or compute", v,
                 o->name);
        return PX_EINVAL;
    /* Parsed now, so that a bad range stops the proxy at startup; the text is kept for the log. */
    case OPT_IDC: {
        struct cidr *cidrs;
        int n = config_parse_cidrs(v, &cidrs);
        if (n < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected IPv4 CIDR ranges such as "
                     "10.1.0.0/16,10.2.0.0/16",
                     v, o->name);
            return PX_EINVAL;
        }
        px_free(c->cidrs);
        px_free(c->idc);
        c->cidrs = cidrs;
        c->ncidrs = n;
        c->idc = px_strdup(v);
        return 0;
    }
    /* yes/no as in redis.conf, and true/false and 1/0 for those used to other tools. */
    case OPT_BOOL: {
        int yes = strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
        int no = strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0;
        if (!yes && !no) {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: expected yes or no", v,
                     o->name);
            return PX_EINVAL;
        }
        *(int *)(base + o->off) = yes;
        return 0;
    }
    case OPT_IO:
        if (strcasecmp(v, "uring") == 0 || strcasecmp(v, "io_uring") == 0) {
            c->io = LOOP_IO_URING;
        } else if (strcasecmp(v, "epoll") == 0) {
            c->io = LOOP_IO_EPOLL;
        } else {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: expected uring or epoll", v,
                     o->name);
            return PX_EINVAL;
        }
        return 0;
    /* The port alone: the text of -addr follows, for the log and messages. */
    case OPT_PORT: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || !*v || *end || n < o->min || n > o->max) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected a port from 0 to 65535 (0: no "
                     "plain-text listener)",
                     v, o->name);
            return PX_EINVAL;
        }
        c->listen_port = (int)n;
        int v6 = strchr(c->listen_host, ':') != NULL;
        snprintf(c->addr, sizeof(c->addr), v6 ? "[%s]:%d" : "%s:%d", c->listen_host,
                 c->listen_port);
        return 0;
    }
    case OPT_TLSAUTH:
        if (strcasecmp(v, "optional") == 0) {
            c->tls_auth_clients = TLS_AUTH_CLIENTS_OPTIONAL;
        } else if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "no") == 0) {
            c->tls_auth_clients =
                strcasecmp(v, "yes") == 0 ? TLS_AUTH_CLIENTS_YES : TLS_AUTH_CLIENTS_NO;
        } else {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: expected yes, no or optional",
                     v, o->name);
            return PX_EINVAL;
        }
        return 0;
    /* Checked now, so that a typo stops the proxy at startup rather than at the first client. */
    case OPT_PROTOCOLS:
        if (tls_protocols_check(v) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected a combination of TLSv1, "
                     "TLSv1.1, TLSv1.2 and TLSv1.3",
                     v, o->name);
            return PX_EINVAL;
        }
        px_free(c->tls_protocols);
        c->tls_protocols = px_strdup(v);
        return 0;
    /* Each value is one more server, kept as a twemproxy line for the pool's parser. */
    case OPT_POOLSERVER: {
        char line[1024];
        if (pool_server_line(v, line, sizeof(line)) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected host:port[:weight] [name]", v,
                     o->name);
            return PX_EINVAL;
        }
        size_t old = c->pool_server_lines ? strlen(c->pool_server_lines) : 0;
        c->pool_server_lines = px_realloc(c->pool_server_lines, old + strlen(line) + 2);
        snprintf(c->pool_server_lines + old, strlen(line) + 2, "%s\n", line);
        c->npool_server++;
        return 0;
    }
    case OPT_DIST: {
        int d = placement_dist_by_name(v);
        if (d < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected ketama, libketama, modula, "
                     "random or crc32-mod",
                     v, o->name);
            return PX_EINVAL;
        }
        c->placement.dist = (enum placement_dist)d;
        return 0;
    }
    case OPT_HASH: {
        int h = hashkit_by_name(v);
        if (h < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected fnv1a_64, fnv1a_32, fnv1_64, "
                     "fnv1_32, md5, crc16, crc32, crc32a, murmur, one_at_a_time, hsieh or jenkins",
                     v, o->name);
            return PX_EINVAL;
        }
        c->placement.hash = (enum hashkit_kind)h;
        return 0;
    }
    /* Two characters, as twemproxy's hash_tag; the empty string turns it off. */
    case OPT_HASHTAG:
        if (*v && strlen(v) != 2) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected two characters such as {}", v,
                     o->name);
            return PX_EINVAL;
        }
        c->placement.hash_tag[0] = *v ? v[0] : '\0';
        c->placement.hash_tag[1] = *v ? v[1] : '\0';
        return 0;
    /* twemproxy writes milliseconds as a bare number; durations work too. */
    case OPT_MS: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        uint64_t ms;
        if (*v >= '0' && *v <= '9' && !*end && !errno && n <= 1000000000000ull) {
            ms = n;
        } else if (config_parse_duration(v, &ms) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected milliseconds (30000) or a "
                     "duration (30s)",
                     v, o->name);
            return PX_EINVAL;
        }
        *(uint64_t *)(base + o->off) = ms;
        return 0;
    }
    /* Three fields at once (hard, soft, seconds), hence a parser of its own. */
    case OPT_COBL:
        if (parse_cobl(c, v) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected \"hard soft seconds\" such as "
                     "\"256mb 64mb 60\", or one size",
                     v, o->name);
            return PX_EINVAL;
        }
        return 0;
    /* Stored only: main() opens the log with it once parsing is done. */
    case OPT_LOGLEVEL: {
        enum log_level lv;
        if (log_level_parse(v, &lv) < 0) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag -%s: expected debug, info, warn or error", v,
                     o->name);
            return PX_EINVAL;
        }
        c->log_level = lv;
        return 0;
    }
    }
    return PX_EINVAL;
}

/* Generated from opts[], so the help cannot forget a flag; the three actions that are not options
 * come last. */
static void print_help(FILE *out)
{
    fprintf(out,
            "slotproxy %s: a Redis Cluster proxy.\n\nUsage: slotproxy [flags]\n\n"
            "Flags (one dash or two; -flag value or -flag=value):\n",
            PX_VERSION);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        fprintf(out, "  -%-27s %s", o->name, o->help);
        if (o->dflt[0]) fprintf(out, " (default %s)", o->dflt);
        fprintf(out, "\n");
    }
    fprintf(out, "  -%-27s %s\n  -%-27s %s\n  -%-27s %s\n", "h, -help", "show this help and exit",
            "version", "print the version and exit", "commands",
            "list every command and how the proxy handles it, and exit");
}

/* Linear: a few dozen options, looked up once each at startup. */
static const struct opt *find_opt(const char *name)
{
    for (size_t k = 0; k < NOPTS; k++)
        if (strcmp(opts[k].name, name) == 0) return &opts[k];
    return NULL;
}

/* A line is "key value": the value is the rest of the line, trimmed, in double quotes when it has
 * to keep its spaces. Keys may carry leading dashes, so that a flag can be pasted from a command
 * line. The first bad line stops the reading, and err says where it was. */
int config_parse_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return PX_EINVAL;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            /* Refused rather than read as two lines. */
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = PX_EINVAL;
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
            line[--len] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0' || *p == '#') continue; /* blank lines and comments */
        char *key = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = '\0';
        while (*p == ' ' || *p == '\t') p++;
        char *value = p;
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') { /* "a value with spaces" */
            value[vl - 1] = '\0';
            value++;
        }
        while (*key == '-') key++; /* "addr" or "-addr" */
        const struct opt *o = find_opt(key);
        /* A file cannot name another file: -config is for the command line only. */
        if (!o || o->type == OPT_FILE) {
            snprintf(err, errlen, "%s:%d: unknown key \"%s\"", path, lineno, key);
            rc = PX_EINVAL;
            break;
        }
        /* set_opt's message, prefixed with where in the file the value was. */
        char msg[512];
        if (set_opt(c, o, value, msg, sizeof(msg)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = PX_EINVAL;
        }
        config_mark_given(c, o);
    }
    fclose(f);
    return rc;
}

/* One pass over the command line. With config_only, only -config is applied (the file is read
 * before the other flags, so that they win); otherwise every flag but -config. */
static int walk_args(struct config *c, int argc, char **argv, int config_only, char *err,
                     size_t errlen, FILE *out)
{
    /* Every argument is a flag: there are no positional arguments. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            snprintf(err, errlen, "unexpected argument \"%s\" (flags start with -; see --help)", a);
            return PX_EINVAL;
        }
        /* One dash or two; the name ends at '=' when the value is attached. */
        a += (a[1] == '-') ? 2 : 1;
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name)) nl = sizeof(name) - 1;
        memcpy(name, a, nl);
        name[nl] = '\0';
        /* The actions (-help, -version, -commands) are carried out at once and end the parsing. */
        if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
            print_help(out);
            return CONFIG_EXIT_OK;
        }
        if (strcmp(name, "version") == 0) {
            fprintf(out, "slotproxy %s\n", PX_VERSION);
            return CONFIG_EXIT_OK;
        }
        if (strcmp(name, "commands") == 0) {
            commands_init();
            commands_print(out);
            return CONFIG_EXIT_OK;
        }
        const struct opt *o = find_opt(name);
        if (!o) {
            snprintf(err, errlen, "unknown flag -%s (see --help)", name);
            return PX_EINVAL;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            snprintf(err, errlen, "flag -%s needs a value", name);
            return PX_EINVAL;
        }
        /* The value was consumed either way, so the second pass skips the same arguments. */
        if ((o->type == OPT_FILE) != config_only) continue;
        int rc = set_opt(c, o, v, err, errlen);
        if (rc < 0) return rc;
        config_mark_given(c, o);
        if (o->type == OPT_FILE && c->config_file) {
            rc = config_parse_file(c, c->config_file, err, errlen);
            if (rc < 0) return rc;
        }
    }
    return CONFIG_OK;
}

/* The combinations of TLS flags that cannot work, refused as Redis refuses them. */
static int config_check_tls(const struct config *c, char *err, size_t errlen)
{
    if (c->listen_port == 0 && c->tls_port == 0) {
        snprintf(err, errlen,
                 "nothing to listen on: the plain-text port is 0 and -tls-port is not "
                 "given");
        return PX_EINVAL;
    }
    if (c->tls_port && c->tls_port == c->listen_port) {
        snprintf(err, errlen, "-tls-port %d is also the plain-text port of -addr", c->tls_port);
        return PX_EINVAL;
    }
    if (c->tls_port && (!c->tls_cert_file || !c->tls_key_file)) {
        snprintf(err, errlen, "flag -tls-port needs -tls-cert-file and -tls-key-file");
        return PX_EINVAL;
    }
    if (c->tls_client_cert_file && !c->tls_client_key_file) {
        snprintf(err, errlen, "flag -tls-client-cert-file needs -tls-client-key-file");
        return PX_EINVAL;
    }
    /* Redis's rule: whoever verifies a peer's certificate needs CAs to verify it with. */
    int verify = (c->tls_port && c->tls_auth_clients != TLS_AUTH_CLIENTS_NO) || c->tls_cluster;
    if (verify && !c->tls_ca_cert_file && !c->tls_ca_cert_dir) {
        snprintf(err, errlen,
                 "%s needs -tls-ca-cert-file or -tls-ca-cert-dir (or -tls-auth-clients no)",
                 c->tls_cluster ? "flag -tls-cluster" : "flag -tls-port");
        return PX_EINVAL;
    }
    return CONFIG_OK;
}

void config_tls_opts(const struct config *c, struct tls_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->cert_file = c->tls_cert_file;
    o->key_file = c->tls_key_file;
    o->key_file_pass = c->tls_key_file_pass;
    o->client_cert_file = c->tls_client_cert_file;
    o->client_key_file = c->tls_client_key_file;
    o->client_key_file_pass = c->tls_client_key_file_pass;
    o->ca_cert_file = c->tls_ca_cert_file;
    o->ca_cert_dir = c->tls_ca_cert_dir;
    o->auth_clients = (enum tls_auth_clients)c->tls_auth_clients;
    o->protocols = c->tls_protocols;
    o->ciphers = c->tls_ciphers;
    o->ciphersuites = c->tls_ciphersuites;
    o->prefer_server_ciphers = c->tls_prefer_server_ciphers;
    o->session_caching = c->tls_session_caching;
    o->session_cache_size = c->tls_session_cache_size;
    o->session_cache_timeout = c->tls_session_cache_timeout;
}

/* Pool mode's flags together: one source of servers, options that fit the distribution, and a
 * list that parses and can be placed (read now, so that a bad file stops the proxy at startup;
 * the topology thread reads it again). Pool mode answers at once when a server is down unless
 * -failover-hold is given. */
static int check_pool(struct config *c, char *err, size_t errlen)
{
    static const char *const pool_only[] = {"distribution",         "hash",
                                            "hash-tag",             "hash-tag-strip",
                                            "auto-eject-hosts",     "server-failure-limit",
                                            "server-retry-timeout"};
    c->pool = c->pool_servers || c->pool_server_lines;
    if (!c->pool) {
        for (size_t i = 0; i < sizeof(pool_only) / sizeof(pool_only[0]); i++)
            if (config_given(c, pool_only[i])) {
                snprintf(err, errlen, "flag -%s needs pool mode (-pool-servers or -pool-server)",
                         pool_only[i]);
                return PX_EINVAL;
            }
        return CONFIG_OK;
    }
    if (c->pool_servers && c->pool_server_lines) {
        snprintf(err, errlen, "flags -pool-servers and -pool-server cannot be used together");
        return PX_EINVAL;
    }
    if (config_given(c, "startup-nodes")) {
        snprintf(err, errlen, "flag -startup-nodes is for a cluster; pool mode takes its servers "
                              "from -pool-servers or -pool-server");
        return PX_EINVAL;
    }
    const struct placement_opts *o = &c->placement;
    if (o->dist == PLACEMENT_CRC32_MOD && o->hash_tag[0]) {
        snprintf(err, errlen, "flag -hash-tag cannot be used with -distribution crc32-mod, which "
                              "has rediscluster-py's hash-tag rule built in");
        return PX_EINVAL;
    }
    if (c->hash_tag_strip && o->dist != PLACEMENT_CRC32_MOD) {
        snprintf(err, errlen, "flag -hash-tag-strip needs -distribution crc32-mod (it stores keys "
                              "as rediscluster-py does)");
        return PX_EINVAL;
    }
    struct serverlist sl;
    enum pool_format fmt;
    char msg[512];
    int rc;
    if (c->pool_servers) {
        rc = pool_load_file(c->pool_servers, &sl, &fmt, msg, sizeof(msg));
    } else {
        rc = pool_parse_list(c->pool_server_lines, strlen(c->pool_server_lines), &sl, &fmt, msg,
                             sizeof(msg));
    }
    if (rc == 0) {
        char why[256];
        rc = pool_check(o, &sl, why, sizeof(why));
        if (rc) snprintf(msg, sizeof(msg), "%s", why);
        serverlist_deinit(&sl);
    }
    if (rc) {
        snprintf(err, errlen, "flag -%s: %s", c->pool_servers ? "pool-servers" : "pool-server",
                 msg);
        return PX_EINVAL;
    }
    if (!config_given(c, "failover-hold")) c->failover_hold_ms = 0;
    /* A pool's server cannot be failed over: a stalled one is waited for, never judged deposed. */
    if (config_given(c, "stall-threshold") && c->stall_threshold_ms) {
        snprintf(err, errlen, "flag -stall-threshold is for a cluster: a pool's servers are not "
                              "failed over, so a stall is simply waited for (-backend-timeout)");
        return PX_EINVAL;
    }
    c->stall_threshold_ms = 0;
    /* Computing across servers sends the keys under the names the client gave; with
     * -hash-tag-strip the servers hold them under other names. */
    if (c->cross_slot == CROSS_SLOT_COMPUTE && c->hash_tag_strip) {
        snprintf(err, errlen, "flags -cross-slot compute and -hash-tag-strip cannot be used "
                              "together");
        return PX_EINVAL;
    }
    return CONFIG_OK;
}

/* Two passes over argv (walk_args): -config first, so that flags override the file's values
 * wherever they stand on the line. */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen, void *outp)
{
    FILE *out = outp ? outp : stdout;
    /* The default startup node, unless a caller already set a list. */
    if (!c->startup) parse_nodes(c, "127.0.0.1:7001");
    if (!c->startup_nodes) c->startup_nodes = px_strdup("127.0.0.1:7001");
    int rc = walk_args(c, argc, argv, 1, err, errlen, out);
    if (rc != CONFIG_OK) return rc;
    rc = walk_args(c, argc, argv, 0, err, errlen, out);
    if (rc != CONFIG_OK) return rc;
    /* AUTH with a user needs that user's password; a user alone cannot log in. */
    if (c->user && !c->password) {
        snprintf(err, errlen, "flag -user needs -password as well");
        return PX_EINVAL;
    }
    rc = config_check_tls(c, err, errlen);
    if (rc != CONFIG_OK) return rc;
    return check_pool(c, err, errlen);
}

int config_given(const struct config *c, const char *name)
{
    const struct opt *o = find_opt(name);
    if (!o) return 0;
    size_t i = (size_t)(o - opts);
    return (int)(c->given[i / 64] >> (i % 64) & 1);
}

/* Four lines, so that each stays readable; passwords are shown only as set or not. */
void config_log(const struct config *c)
{
    log_info("config: addr=%s startup-nodes=%s threads=%d io=%s connect-timeout=%llums "
             "slots-reload-interval=%llums failover-hold=%llums requirepass=%s aclfile=%s "
             "acllog-max-len=%d user=%s password=%s tcp-keepalive=%d max-redirects=%d "
             "log-level=%s log-file=%s",
             c->addr, c->pool ? "(pool mode)" : c->startup_nodes, c->threads, loop_io_name(c->io),
             (unsigned long long)c->connect_timeout_ms,
             (unsigned long long)c->slots_reload_interval_ms,
             (unsigned long long)c->failover_hold_ms, c->requirepass ? "(set)" : "(none)",
             c->aclfile ? c->aclfile : "(none)", c->acllog_max_len, c->user ? c->user : "(none)", c->password ? "(set)" : "(none)", c->tcp_keepalive_s,
             c->max_redirects, log_level_name(c->log_level),
             c->log_file ? c->log_file : "(stderr)");
    char idc[256] = "";
    /* The ranges in CIDR notation again, the prefix length counted from the mask. */
    for (int i = 0; i < c->ncidrs; i++) {
        struct in_addr a = {htonl(c->cidrs[i].net)};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        int bits = 0;
        for (uint32_t m = c->cidrs[i].mask; m; m <<= 1) bits++;
        size_t l = strlen(idc);
        snprintf(idc + l, sizeof(idc) - l, "%s%s/%d", i ? "," : "", ip, bits);
    }
    log_info("config: read-prefer=%s idc=%s backend-idle-connections=%d "
             "pubsub-output-buffer-limit=%llu",
             config_read_prefer_name(c->read_prefer), c->ncidrs ? idc : "(none)",
             c->backend_idle_connections, c->pubsub_buffer_limit);
    log_info("config: maxclients=%d client-output-buffer-limit=%llu/%llu/%ds "
             "query-buffer-limit=%llu proto-max-bulk-len=%llu max-inflight=%d timeout=%ds "
             "backend-timeout=%llums stall-threshold=%llums stall-hold=%llums protected-mode=%s",
             c->maxclients, c->cobl_hard, c->cobl_soft, c->cobl_soft_s, c->query_buf_limit,
             c->proto_max_bulk, c->max_inflight, c->timeout_s,
             (unsigned long long)c->backend_timeout_ms, (unsigned long long)c->stall_threshold_ms,
             (unsigned long long)c->stall_hold_ms, c->protected_mode ? "yes" : "no");
    if (c->tls_port || c->tls_cluster) {
        static const char *const auth[] = {"no", "yes", "optional"};
        log_info(
            "config: tls-port=%d tls-cert-file=%s tls-key-file=%s tls-ca-cert-file=%s "
            "tls-ca-cert-dir=%s tls-auth-clients=%s tls-protocols=%s tls-cluster=%s "
            "tls-client-cert-file=%s tls-session-caching=%s tls-handshake-timeout=%llums",
            c->tls_port, c->tls_cert_file ? c->tls_cert_file : "(none)",
            c->tls_key_file ? c->tls_key_file : "(none)",
            c->tls_ca_cert_file ? c->tls_ca_cert_file : "(none)",
            c->tls_ca_cert_dir ? c->tls_ca_cert_dir : "(none)", auth[c->tls_auth_clients % 3],
            c->tls_protocols ? c->tls_protocols : "TLSv1.2 TLSv1.3", c->tls_cluster ? "yes" : "no",
            c->tls_client_cert_file ? c->tls_client_cert_file : "(tls-cert-file)",
            c->tls_session_caching ? "yes" : "no", (unsigned long long)c->tls_handshake_timeout_ms);
    }
    log_info("config: debug-addr=%s shutdown-timeout=%llums config=%s announce-addr=%s",
             c->debug_addr ? c->debug_addr : "(off)", (unsigned long long)c->shutdown_timeout_ms,
             c->config_file ? c->config_file : "(none)",
             c->announce_addr ? c->announce_addr : "(the address each client reached)");
    log_info("config: http-addr=%s http-timeout=%llums cross-slot=%s",
             c->http_addr ? c->http_addr : "(off)", (unsigned long long)c->http_timeout_ms,
             config_cross_slot_name(c->cross_slot));
    if (!c->pool) return;
    char tag[8] = "(none)";
    if (c->placement.hash_tag[0])
        snprintf(tag, sizeof(tag), "%c%c", c->placement.hash_tag[0], c->placement.hash_tag[1]);
    char src[300];
    if (c->pool_servers)
        snprintf(src, sizeof(src), "pool-servers=%s", c->pool_servers);
    else
        snprintf(src, sizeof(src), "pool-server x%d", c->npool_server);
    log_info("config: pool mode: %s distribution=%s hash=%s hash-tag=%s hash-tag-strip=%s "
             "auto-eject-hosts=%s server-failure-limit=%d server-retry-timeout=%llums",
             src, placement_dist_name(c->placement.dist), hashkit_name(c->placement.hash), tag,
             c->hash_tag_strip ? "yes" : "no", c->auto_eject_hosts ? "yes" : "no",
             c->server_failure_limit, (unsigned long long)c->server_retry_timeout_ms);
}
