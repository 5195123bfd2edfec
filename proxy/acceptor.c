/*
 * The acceptor; see acceptor.h. main() creates it once the workers run and then spends its life
 * in acceptor_run(): the main thread's own loop watches the listening sockets (plain text and
 * TLS), a signalfd, and a purge timer. A new client is checked here, before any worker sees it
 * (protected mode, then -maxclients), refused with Redis's error text and closed if need be, and
 * otherwise handed to the worker worker_pick chooses (worker.c's load balancing) through that
 * worker's inbox, with its CLIENT ID. A refused TLS client cannot be answered here (the text has to go through TLS, after
 * a handshake that would block this thread): it goes to a worker too, marked to be refused once
 * its handshake is done, as Redis answers it. The signals come as readable bytes on the signalfd
 * (main blocks them in every thread), so the handling runs as ordinary loop code: SIGINT and
 * SIGTERM stop the loop, and main then drains the workers; SIGHUP reopens the log file, loads
 * the TLS certificates again (new connections get them; existing ones keep theirs) and calls the
 * callback main set (in pool mode, the servers file is read again). Once a second, memory the
 * allocator holds but no longer uses is given back to the OS when there is much of it.
 */
#include "acceptor.h"

#include "config.h"
#include "errors.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "sock.h"
#include "tls.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* One listening socket: plain text or TLS. */
struct listener {
    struct acceptor *a;
    int fd; /* -1: not listening */
    int tls;
};

struct acceptor {
    const struct config *cfg;
    struct loop *loop;
    struct listener plain, tls;
    struct tls_ctx *tls_clients, *tls_nodes; /* reloaded on SIGHUP; NULL when not used */
    int sfd;
    struct worker **workers;
    int nworkers;
    struct log_ratelimit rl, rl_denied, rl_full;
    struct loop_timer pause; /* accept paused after EMFILE */
    struct loop_timer purge; /* once a second: memory a burst left behind goes back to the OS */
    uint64_t next_id;        /* CLIENT ID of the next connection */
    void (*on_hup)(void *);  /* SIGHUP, after the log is reopened (or NULL) */
    void *hup_ctx;
};

/* Starts or stops watching the listening sockets. */
static void acceptor_watch(struct acceptor *a, int mask)
{
    if (a->plain.fd >= 0) loop_set_mask(a->loop, a->plain.fd, mask);
    if (a->tls.fd >= 0) loop_set_mask(a->loop, a->tls.fd, mask);
}

/* The pause after EMFILE is over: watch the listening sockets again. */
static void acceptor_resume(struct loop *l, void *ctx)
{
    acceptor_watch(ctx, LOOP_READ);
}

/* 1 when the peer is on this host's loopback (127.0.0.0/8, ::1, or IPv4-mapped 127/8). */
static int peer_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return ss.ss_family == AF_UNIX;
}

/* Answers a refused client with the error write_err renders and closes it, as Redis does (one
 * write, no waiting). */
/* One non-blocking send on a fresh socket, whose send buffer is empty, so the short text fits; if
 * it cannot go out, the client just sees the close. */
static void refuse(int fd, void (*write_err)(struct sbuf *))
{
    struct sbuf err;
    sbuf_init(&err);
    write_err(&err);
    ssize_t n = send(fd, err.buf, err.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    sbuf_free(&err);
    (void)n;
    close(fd);
}

/* Refuses cfd: at once on the plain port; after the handshake, by a worker, on the TLS port. */
static void acceptor_refuse(struct acceptor *a, struct listener *ls, int cfd, uint64_t id,
                            enum session_refuse why)
{
    if (!ls->tls) {
        refuse(cfd, why == SESSION_REFUSE_DENIED ? errors_denied : errors_maxclients);
        return;
    }
    worker_give_conn_tls(worker_pick(a->workers, a->nworkers), cfd, id, why);
}

static void acceptor_on_accept(struct loop *l, int fd, int mask, void *ctx)
{
    struct listener *ls = ctx;
    struct acceptor *a = ls->a;
    /* At most 64 accepts per event, so that a connection storm cannot keep the signalfd and timers
     * waiting; the rest (in the backlog, or accepted by io_uring's multishot accept and queued)
     * are reported again next turn. */
    for (int i = 0; i < 64; i++) {
        int cfd = loop_accept(l, ls->fd);
        if (cfd == -EAGAIN) return;
        if (cfd < 0) {
            if (log_ratelimit_ok(&a->rl, 1000)) log_warn("accept: %s", strerror(-cfd));
            if (cfd == -EMFILE || cfd == -ENFILE) {
                /* Out of descriptors: stop accepting for a moment instead of spinning. */
                acceptor_watch(a, 0);
                loop_timer_start(l, &a->pause, 100);
            }
            return;
        }
        /* Refusals are counted on worker 0's statistics; the acceptor is their only writer. */
        /* As Redis: protected while the default user needs no password. */
        if (a->cfg->protected_mode && acl_store_default_nopass() && !peer_is_loopback(cfd)) {
            stat_add(&a->workers[0]->stats.denied_conns, 1);
            if (log_ratelimit_ok(&a->rl_denied, 10000)) {
                char peer[64] = "?";
                sock_peer_name(cfd, peer, sizeof(peer));
                log_warn("refused a client from %s: protected mode (no -requirepass; see "
                         "-protected-mode)",
                         peer);
            }
            acceptor_refuse(a, ls, cfd, ++a->next_id, SESSION_REFUSE_DENIED);
            continue;
        }
        /* Relaxed counts: the limit may be off by the connections of one loop turn. */
        if (worker_sessions_open(a->workers, a->nworkers) >= (unsigned)a->cfg->maxclients) {
            stat_add(&a->workers[0]->stats.rejected_conns, 1);
            if (log_ratelimit_ok(&a->rl_full, 10000))
                log_warn("refused a client: -maxclients %d reached", a->cfg->maxclients);
            acceptor_refuse(a, ls, cfd, ++a->next_id, SESSION_REFUSE_MAXCLIENTS);
            continue;
        }
        struct worker *best = worker_pick(a->workers, a->nworkers);
        if (ls->tls)
            worker_give_conn_tls(best, cfd, ++a->next_id, SESSION_SERVE);
        else
            worker_give_conn(best, cfd, ++a->next_id);
    }
}

/* SIGHUP: the certificates, keys and CAs are read again. A context that fails to load (a file
 * half written, a key that does not match) leaves the one in use in place. */
static void acceptor_reload_tls(struct acceptor *a)
{
    struct tls_ctx *ctxs[2] = {a->tls_clients, a->tls_nodes};
    const char *names[2] = {"clients", "nodes"};
    for (int i = 0; i < 2; i++) {
        if (!ctxs[i]) continue;
        char err[512];
        if (tls_ctx_reload(ctxs[i], err, sizeof(err)) == 0)
            log_info("TLS (%s' side): certificates reloaded; new connections use them", names[i]);
        else
            log_warn("TLS (%s' side): reload failed, keeping the certificates in use: %s", names[i],
                     err);
    }
}

/* Freed memory the allocator keeps beyond this (and beyond a quarter of what is in use) is
 * returned to the OS; below it, it is kept for reuse. */
#define PURGE_SLACK (4u << 20)

/* On the acceptor's thread rather than a worker's: purging every arena may take a while, and a
 * worker has requests waiting. */
static void acceptor_purge(struct loop *l, void *ctx)
{
    struct acceptor *a = ctx;
    struct px_mem_stats ms;
    px_mem_stats(&ms);
    size_t slack = ms.allocated / 4 > PURGE_SLACK ? ms.allocated / 4 : PURGE_SLACK;
    if (ms.available && ms.resident > ms.allocated + slack) {
        px_mem_purge();
        log_debug("memory: %zu bytes resident for %zu allocated: purged", ms.resident,
                  ms.allocated);
    }
    loop_timer_start(l, &a->purge, 1000);
}

static void acceptor_on_signal(struct loop *l, int fd, int mask, void *ctx)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
            log_info("received %s, shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            loop_stop(l);
        } else if (si.ssi_signo == SIGHUP) {
            struct acceptor *a = ctx;
            log_reopen();
            log_info("received SIGHUP, log reopened");
            acceptor_reload_tls(a);
            if (a->on_hup) a->on_hup(a->hup_ctx);
        }
    }
}

struct acceptor *acceptor_create(const struct config *cfg, struct worker **workers, int nworkers,
                                 struct tls_ctx *tls_clients, struct tls_ctx *tls_nodes, char *err,
                                 size_t errlen)
{
    /* 511, Redis's default tcp-backlog. Port 0 means no listener of that kind. */
    int lfd = -1, tfd = -1;
    if (cfg->listen_port) {
        lfd = sock_listen_tcp(cfg->listen_host, cfg->listen_port, 511);
        if (lfd < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", cfg->addr, strerror(-lfd));
            return NULL;
        }
    }
    if (cfg->tls_port) {
        tfd = sock_listen_tcp(cfg->listen_host, cfg->tls_port, 511);
        if (tfd < 0) {
            snprintf(err, errlen, "cannot listen on %s port %d (-tls-port): %s", cfg->listen_host,
                     cfg->tls_port, strerror(-tfd));
            if (lfd >= 0) close(lfd);
            return NULL;
        }
    }
    struct acceptor *a = px_calloc(1, sizeof(*a));
    a->plain = (struct listener){a, lfd, 0};
    a->tls = (struct listener){a, tfd, 1};
    a->tls_clients = tls_clients;
    a->tls_nodes = tls_nodes;
    a->cfg = cfg;
    a->workers = workers;
    a->nworkers = nworkers;
    a->loop = loop_create();
    loop_timer_init(&a->pause, acceptor_resume, a);
    loop_timer_init(&a->purge, acceptor_purge, a);
    loop_timer_start(a->loop, &a->purge, 1000);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Without a signalfd the proxy still serves, but SIGINT and SIGTERM, blocked in every thread,
     * no longer stop it. */
    a->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (lfd >= 0) loop_add(a->loop, lfd, LOOP_READ | LOOP_LISTEN, acceptor_on_accept, &a->plain);
    if (tfd >= 0) loop_add(a->loop, tfd, LOOP_READ | LOOP_LISTEN, acceptor_on_accept, &a->tls);
    if (a->sfd >= 0) loop_add(a->loop, a->sfd, LOOP_READ, acceptor_on_signal, a);
    return a;
}

void acceptor_on_hup(struct acceptor *a, void (*fn)(void *ctx), void *ctx)
{
    a->on_hup = fn;
    a->hup_ctx = ctx;
}

void acceptor_run(struct acceptor *a)
{
    loop_run(a->loop);
}

void acceptor_free(struct acceptor *a)
{
    if (!a) return;
    struct listener *ls[2] = {&a->plain, &a->tls};
    for (int i = 0; i < 2; i++) {
        if (ls[i]->fd < 0) continue;
        loop_del(a->loop, ls[i]->fd);
        close(ls[i]->fd);
    }
    if (a->sfd >= 0) {
        loop_del(a->loop, a->sfd);
        close(a->sfd);
    }
    loop_free(a->loop);
    px_free(a);
}
