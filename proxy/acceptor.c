/*
 * The acceptor; see acceptor.h. main() creates it once the workers run and then spends its life
 * in acceptor_run(): the main thread's own loop watches the listening socket, a signalfd, and a
 * purge timer. A new client is checked here, before any worker sees it (protected mode, then
 * -maxclients), refused with Redis's error text and closed if need be, and otherwise handed to
 * the worker with the fewest sessions through that worker's inbox, with its CLIENT ID. The
 * signals come as readable bytes on the signalfd (main blocks them in every thread), so the
 * handling runs as ordinary loop code: SIGINT and SIGTERM stop the loop, and main then drains the
 * workers; SIGHUP reopens the log file and calls the callback main set (in pool mode, the servers
 * file is read again). Once a second, memory the allocator holds but no longer
 * uses is given back to the OS when there is much of it.
 */
#include "acceptor.h"

#include "config.h"
#include "errors.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "sock.h"
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

struct acceptor {
    const struct config *cfg;
    struct loop *loop;
    int lfd;
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

/* The pause after EMFILE is over: watch the listening socket again. */
static void acceptor_resume(struct loop *l, void *ctx)
{
    struct acceptor *a = ctx;
    loop_set_mask(l, a->lfd, LOOP_READ);
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

static void acceptor_on_accept(struct loop *l, int fd, int mask, void *ctx)
{
    struct acceptor *a = ctx;
    /* At most 64 accepts per event, so that a connection storm cannot keep the signalfd and timers
     * waiting; the listening socket stays readable and the rest come next turn. */
    for (int i = 0; i < 64; i++) {
        int cfd = sock_accept(a->lfd);
        if (cfd == -EAGAIN) return;
        if (cfd < 0) {
            if (log_ratelimit_ok(&a->rl, 1000)) log_warn("accept: %s", strerror(-cfd));
            if (cfd == -EMFILE || cfd == -ENFILE) {
                /* Out of descriptors: stop accepting for a moment instead of spinning. */
                loop_set_mask(l, a->lfd, 0);
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
            refuse(cfd, errors_denied);
            continue;
        }
        /* Relaxed counts: the limit may be off by the connections of one loop turn. */
        if (worker_sessions_open(a->workers, a->nworkers) >= (unsigned)a->cfg->maxclients) {
            stat_add(&a->workers[0]->stats.rejected_conns, 1);
            if (log_ratelimit_ok(&a->rl_full, 10000))
                log_warn("refused a client: -maxclients %d reached", a->cfg->maxclients);
            refuse(cfd, errors_maxclients);
            continue;
        }
        /* Least loaded, by sessions open, rather than round-robin: clients stay for different
         * times, and a new one goes to the worker that has fewest. */
        struct worker *best = a->workers[0];
        /* Relaxed: a load estimate; a slightly stale count only skews the balance a little. */
        unsigned bn = atomic_load_explicit(&best->nsessions, memory_order_relaxed);
        for (int k = 1; k < a->nworkers; k++) {
            unsigned n = atomic_load_explicit(&a->workers[k]->nsessions, memory_order_relaxed);
            if (n < bn) {
                best = a->workers[k];
                bn = n;
            }
        }
        /* Counted here, not by the worker when the message arrives, so that the next accept of
         * this burst already sees it; the worker takes it off when the session closes. Relaxed:
         * a hint. */
        atomic_fetch_add_explicit(&best->nsessions, 1, memory_order_relaxed);
        worker_give_conn(best, cfd, ++a->next_id);
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
            if (a->on_hup) a->on_hup(a->hup_ctx);
        }
    }
}

struct acceptor *acceptor_create(const struct config *cfg, struct worker **workers, int nworkers,
                                 char *err, size_t errlen)
{
    /* 511, Redis's default tcp-backlog. */
    int lfd = sock_listen_tcp(cfg->listen_host, cfg->listen_port, 511);
    if (lfd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->addr, strerror(-lfd));
        return NULL;
    }
    struct acceptor *a = px_calloc(1, sizeof(*a));
    a->lfd = lfd;
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
    loop_add(a->loop, a->lfd, LOOP_READ, acceptor_on_accept, a);
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
    loop_del(a->loop, a->lfd);
    close(a->lfd);
    if (a->sfd >= 0) {
        loop_del(a->loop, a->sfd);
        close(a->sfd);
    }
    loop_free(a->loop);
    px_free(a);
}
