/* The acceptor; see acceptor.h. */
#include "acceptor.h"

#include "config.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "sock.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct acceptor {
    struct loop *loop;
    int lfd;
    int sfd;
    struct worker **workers;
    int nworkers;
    struct log_ratelimit rl;
    struct loop_timer pause; /* accept paused after EMFILE */
    uint64_t next_id;        /* CLIENT ID of the next connection */
};

static void acceptor_resume(struct loop *l, void *ctx)
{
    struct acceptor *a = ctx;
    loop_set_mask(l, a->lfd, LOOP_READ);
}

static void acceptor_on_accept(struct loop *l, int fd, int mask, void *ctx)
{
    struct acceptor *a = ctx;
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
        atomic_fetch_add_explicit(&best->nsessions, 1, memory_order_relaxed);
        worker_give_conn(best, cfd, ++a->next_id);
    }
}

static void acceptor_on_signal(struct loop *l, int fd, int mask, void *ctx)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
            log_info("received %s, shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            loop_stop(l);
        } else if (si.ssi_signo == SIGHUP) {
            log_reopen();
            log_info("received SIGHUP, log reopened");
        }
    }
}

struct acceptor *acceptor_create(const struct config *cfg, struct worker **workers, int nworkers,
                                 char *err, size_t errlen)
{
    int lfd = sock_listen_tcp(cfg->listen_host, cfg->listen_port, 511);
    if (lfd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->addr, strerror(-lfd));
        return NULL;
    }
    struct acceptor *a = px_calloc(1, sizeof(*a));
    a->lfd = lfd;
    a->workers = workers;
    a->nworkers = nworkers;
    a->loop = loop_create();
    loop_timer_init(&a->pause, acceptor_resume, a);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    a->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_add(a->loop, a->lfd, LOOP_READ, acceptor_on_accept, a);
    if (a->sfd >= 0) loop_add(a->loop, a->sfd, LOOP_READ, acceptor_on_signal, a);
    return a;
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
