/*
 * Socket helpers. Everything returns a descriptor or 0 on success and -errno on failure. The
 * functions a worker thread uses (accept, non-blocking connect) only take numeric addresses, so
 * they never block on name resolution; sock_resolve() is for the threads that may block.
 */
#ifndef PX_SOCK_H
#define PX_SOCK_H

#include <stddef.h>

#define SOCK_HOST_MAX 256

/* Splits "host:port", "[v6addr]:port" or "port" into host and port (1..65535). Returns 0 or
 * PX_EINVAL. An empty host is returned as "". */
int sock_split_addr(const char *s, char *host, size_t hostlen, int *port);
/* Resolves host (a name, an address, or an IPv6 address in brackets) to a numeric address string
 * (IPv4 preferred). May block. Returns 0 or PX_EINVAL. */
int sock_resolve(const char *host, char *ip, size_t iplen);

/* Binds and listens on host:port (empty host or "0.0.0.0": all IPv4 addresses). */
int sock_listen_tcp(const char *host, int port, int backlog);
/* Accepts one connection, non-blocking and close-on-exec. -EAGAIN when none is pending. */
int sock_accept(int lfd);
/* Starts a non-blocking connect to a numeric ip:port. The socket becomes writable when the
 * connection is established or has failed; sock_connect_result() tells which. */
int sock_connect_nb(const char *ip, int port);
/* Once the socket is writable: 0 when the connection is up, otherwise the connect's -errno. */
int sock_connect_result(int fd);

/* Disables Nagle's algorithm. Returns 0 or -errno. */
int sock_set_nodelay(int fd);
/* Turns TCP keepalive on and, with interval_s > 0, tunes it as Redis does (first probe after
 * interval_s idle, then every interval_s / 3, three probes). Returns 0 or -errno. */
int sock_set_keepalive(int fd, int interval_s);
/* Writes "ip:port" of the peer (or of the local end) into buf. Returns 0 or -errno. */
int sock_peer_name(int fd, char *buf, size_t len);
int sock_local_name(int fd, char *buf, size_t len);
/* The numeric ip (no brackets) and port of the local end of fd. Returns 0 or -errno. */
int sock_local_addr(int fd, char *ip, size_t iplen, int *port);
/* Returns 1 when the peer address of fd is a loopback address (or a Unix socket), else 0. */
int sock_peer_is_loopback(int fd);
/* The same for an address (127.0.0.0/8, ::1, IPv4-mapped 127/8, or not an IP address). */
struct sockaddr;
int sock_addr_is_loopback(const struct sockaddr *sa);

#endif
