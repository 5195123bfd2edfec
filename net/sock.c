/*
 * Socket helpers; see sock.h. Thin wrappers over the socket calls that return -errno, and that
 * make every socket non-blocking and close-on-exec from its creation (SOCK_NONBLOCK |
 * SOCK_CLOEXEC), so that no descriptor leaks into a child process and none can block a loop by
 * accident. Callers: the acceptor (listen, accept), backend runners and sessions (connect, socket
 * options), sessions and CLIENT LIST (addresses as text), the topology thread, the configuration
 * and the debug port (splitting and resolving addresses). Only sock_resolve() may block, on DNS:
 * workers are only ever given numeric addresses, as the cluster announces them.
 */
#include "sock.h"

#include "px_errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sock_split_addr(const char *s, char *host, size_t hostlen, int *port)
{
    /* The port follows the last colon, so "[::1]:6379" splits right; a lone "6379" is a port with
     * an empty host (every address, for a listener). */
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    const char *h = s;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (colon && memchr(s, ':', hl)) {
        return PX_EINVAL; /* bare IPv6 without brackets is ambiguous */
    }
    if (hl >= hostlen || *p == '\0') return PX_EINVAL;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || *end != '\0' || v < 1 || v > 65535) return PX_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

int sock_resolve(const char *host, char *ip, size_t iplen)
{
    /* An IPv6 address may come in brackets ("[::1]", as written before a port). */
    char unbracketed[64];
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof(unbracketed)) {
        memcpy(unbracketed, host + 1, hl - 2);
        unbracketed[hl - 2] = '\0';
        host = unbracketed;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return PX_EINVAL;
    /* IPv4 is preferred when a name has addresses of both kinds: getaddrinfo may list ::1 first for
     * localhost, and cluster nodes are most often reached over IPv4. */
    struct addrinfo *pick = res;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    }
    int rc = 0;
    if (pick->ai_family == AF_INET) {
        if (!inet_ntop(AF_INET, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, ip,
                       (socklen_t)iplen))
            rc = PX_EINVAL;
    } else {
        if (!inet_ntop(AF_INET6, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, ip,
                       (socklen_t)iplen))
            rc = PX_EINVAL;
    }
    freeaddrinfo(res);
    return rc;
}

/* Fills ss from a numeric host (IPv4 or IPv6) and port. Returns the address length or 0. */
static socklen_t sock_numeric(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '\0') host = "0.0.0.0";
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return sizeof(*in4);
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return sizeof(*in6);
    }
    return 0;
}

int sock_listen_tcp(const char *host, int port, int backlog)
{
    struct sockaddr_storage ss;
    char ip[SOCK_HOST_MAX];
    socklen_t sl = sock_numeric(host, port, &ss);
    /* Not a numeric address: resolve the name. This runs at startup on the main thread, where
     * blocking is fine. */
    if (!sl) {
        if (sock_resolve(host, ip, sizeof(ip)) < 0) return -EADDRNOTAVAIL;
        sl = sock_numeric(ip, port, &ss);
        if (!sl) return -EADDRNOTAVAIL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    /* So that a restarted proxy can bind while its old connections sit in TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int sock_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) return fd;
        /* A signal (a CPU profile's SIGPROF), or a client gone before we took it: next one. */
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

int sock_connect_nb(const char *ip, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sock_numeric(ip, port, &ss);
    if (!sl) return -EADDRNOTAVAIL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    /* EINPROGRESS is the normal answer of a non-blocking connect: the outcome comes later, when the
     * socket turns writable. */
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int sock_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    /* SO_ERROR holds the pending error of the connect (0 once it succeeded). */
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    return err ? -err : 0;
}

int sock_set_nodelay(int fd)
{
    int one = 1;
    /* Requests and replies are written in whole batches once per loop turn: Nagle's algorithm would
     * only hold the last packet of each batch back. */
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

int sock_set_keepalive(int fd, int interval_s)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0) return -errno;
    if (interval_s <= 0) return 0;
    /* As Redis's anetKeepAlive: the first probe after interval_s of silence, then one every third
     * of it, and three unanswered probes drop the connection. These three are best effort (not
     * every system has them), so their failures are ignored. */
    int idle = interval_s, intvl = interval_s / 3 ? interval_s / 3 : 1, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    return 0;
}

/* An address in Redis's notation, "ip:port" or "[ipv6]:port"; "unix" for anything else. */
static int sock_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%d", ip, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
        snprintf(buf, len, "unix");
    }
    return 0;
}

int sock_peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    return sock_format(&ss, buf, len);
}

int sock_local_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    return sock_format(&ss, buf, len);
}

/* The proxy describes itself to clients with this (CLUSTER SLOTS, SHARDS and NODES answered
 * locally), which wants the ip and the port apart rather than as one string. */
int sock_local_addr(int fd, char *ip, size_t iplen, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin6_port);
    } else {
        return -EAFNOSUPPORT;
    }
    return 0;
}

int sock_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return 1;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) return a->sin6_addr.s6_addr[12] == 127;
        return 0;
    }
    /* Any other family (a Unix socket) is local. */
    return 1;
}

int sock_peer_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) return 0;
    return sock_addr_is_loopback((const struct sockaddr *)&ss);
}
