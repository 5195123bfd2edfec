/*
 * Integration-test harness: real Redis Clusters started with tests/cluster.sh, the proxy as a
 * subprocess, hiredis connections, and raw-socket exchanges for byte-exact comparisons. Every
 * server a test starts is stopped by pid; a watchdog in cluster.sh stops the servers if the
 * process that started them dies.
 */
#ifndef PX_HARNESS_H
#define PX_HARNESS_H

#include <check.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <sys/types.h>

struct h_env {
    const char *bin;     /* the slotproxy binary */
    const char *workdir; /* scratch space for clusters and logs */
    int cluster_port;    /* first port of the shared cluster */
    int proxy_port;      /* the shared proxy */
    int single_port;     /* a standalone redis-server, the reference for byte comparisons */
};

extern struct h_env h_env;

/* Starts a 3x1 cluster on base_port..base_port+5 under workdir/name; the servers die with the
 * calling process. Returns 0 or -1. */
int h_cluster_start(const char *name, int base_port);
void h_cluster_stop(const char *name);
/* The pid of the redis-server on port (from its pid file), or -1. */
pid_t h_cluster_pid(const char *name, int port);

/* Starts a standalone (non-cluster) redis-server on port; it dies with the caller. Returns its
 * pid or -1. */
pid_t h_single_start(int port);
/* The same with extra redis-server arguments (NULL-terminated; later ones win). */
pid_t h_single_start_with(int port, const char *const *extra);
void h_single_stop(pid_t pid);

/* Starts slotproxy on port with the given startup nodes (NULL: no -startup-nodes flag, for pool
 * mode) and extra flags (NULL-terminated), logging to workdir/logname. Waits until it answers
 * PING. Returns its pid or -1. */
pid_t h_proxy_start(int port, const char *startup, const char *const *extra, const char *logname);
/* SIGTERM, wait (up to 20 s), SIGKILL if needed. Returns the exit status (0 for a clean exit, as
 * sanitizers make it non-zero on errors), or -1 when it had to be killed or crashed. */
int h_proxy_stop(pid_t pid, const char *logname);

redisContext *h_connect(int port);
/* A connection with short connect and reply timeouts, or NULL when nothing answers. */
redisContext *h_connect_quick(int port, int timeout_ms);
/* Runs a command and returns the reply, failing the test on a connection error. */
redisReply *h_cmd(redisContext *c, const char *fmt, ...);
redisReply *h_cmd_argv(redisContext *c, int argc, const char **argv, const size_t *lens);
/* Asserts the reply is a status/string equal to want, frees it. */
void h_expect_str(redisReply *r, const char *want);
void h_expect_int(redisReply *r, long long want);

/* The port of the master that serves key in the cluster whose first port is base_port. */
int h_owner_port(int base_port, const char *key, size_t len);
/* Node id of the node on port. Returns 0 and fills id[41]. */
int h_node_id(int port, char *id);

/* A connected TCP socket to port on loopback (rcvbuf > 0: SO_RCVBUF set first); fails the test
 * when nothing listens. */
int h_tcp_connect(int port, int rcvbuf);

/*
 * Sends req on a new connection and collects what comes back until the peer closes or nothing
 * arrives for quiet_ms. Returns the byte count (out is NUL-terminated) and sets *closed when the
 * peer closed the connection. shut_wr half-closes after sending.
 */
size_t h_raw(int port, const void *req, size_t len, char *out, size_t cap, int quiet_ms,
             int shut_wr, int *closed);

/*
 * A raw connection that sends request bytes and reads back exactly one complete reply (framed
 * with the proxy's own framer), for comparing replies byte for byte.
 */
struct h_rc {
    int fd;
    char *buf;
    size_t len, cap, start;
};
void h_rc_open(struct h_rc *c, int port);
void h_rc_close(struct h_rc *c);
/* Sends len bytes and returns the next reply (valid until the next call); *rlen is its length.
 * Fails the test when no complete reply arrives within 10 s. */
const char *h_rc_roundtrip(struct h_rc *c, const char *req, size_t len, size_t *rlen);
/* Reads the next reply without sending anything. */
const char *h_rc_read(struct h_rc *c, size_t *rlen);

/* An HTTP/1.1 exchange with the debug port: status, Content-Type and the whole body (chunked
 * bodies decoded; body NUL-terminated, free with h_http_free). */
struct h_http {
    int status;
    char ctype[128];
    char www_auth[128]; /* WWW-Authenticate, when given */
    char allow[64];     /* Allow, when given */
    char *body;
    size_t len;
};
/* Sends method path (with an empty body for PUT/POST) and reads the answer; fails the test when
 * no complete answer arrives within timeout_ms. */
void h_http(int port, const char *method, const char *path, int timeout_ms, struct h_http *out);
/* The same with extra header lines (each ending in CRLF; "" for none) and a body of bodylen
 * bytes sent after the headers (the caller's headers say its length or encoding). A reset after
 * part of the answer arrived ends the answer (a refusal before the body was read). */
void h_http_req(int port, const char *method, const char *path, const char *headers,
                const void *body, size_t bodylen, int timeout_ms, struct h_http *out);
void h_http_free(struct h_http *h);

/* Escapes bytes for messages (CR, LF, NUL and other non-printables as \xNN), cut at max input
 * bytes. Returns out. */
char *h_show(const char *s, size_t n, size_t max, char *out, size_t cap);
/* 1 when the node on port answers ROLE with master (0 when it is down or a replica). */
int h_is_master(int port);
/* The port of the first replica of the master with id, asking the node on ask_port; -1 if none. */
int h_replica_of(int ask_port, const char *id);

/* A number from the INFO of the server (or proxy) on port, any section; fails the test when the
 * field is absent. */
long long h_info_num(int port, const char *field);

/* Runs a shell command; returns its exit status. */
int h_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t h_now_ms(void);
void h_sleep_ms(int ms);

#endif
