/*
 * TLS over the proxy's sockets, with OpenSSL: the same configuration Redis takes (tls-cert-file,
 * tls-ca-cert-file, tls-auth-clients, tls-protocols, ...), for the clients' side (a server
 * context) and the nodes' side (a client context).
 *
 * A tls_ctx is one shared SSL_CTX, built on the main thread and read-only afterwards; every
 * connection made from it takes its own reference (SSL_new), so tls_ctx_reload() can swap in a
 * context built from the files as they are now while connections made earlier go on with the old
 * one. A tls_conn is one connection's TLS state over a non-blocking socket its owner keeps. Its
 * read and write functions behave like read() and writev(): bytes, 0 at end of stream, -EAGAIN
 * when the socket is not ready, another negative code on failure. Which socket event a blocked
 * call needs is not always the obvious one (a read may need to write, a write may need to read),
 * so the owner asks tls_conn_mask() which events to wait for and hands what arrives through
 * tls_conn_events(). OpenSSL may also hold decrypted bytes the socket no longer signals:
 * tls_conn_pending() says when to read again without waiting.
 *
 * Nothing here knows what runs over the connection: sessions (proxy/), backend runners and the
 * topology thread (cluster/) use it alike.
 */
#ifndef PX_TLS_H
#define PX_TLS_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum tls_auth_clients { TLS_AUTH_CLIENTS_NO = 0, TLS_AUTH_CLIENTS_YES, TLS_AUTH_CLIENTS_OPTIONAL };

/* The settings a context is built from, with Redis's meanings. Strings may be NULL (not set);
 * tls_ctx_create copies them, so they need not outlive the call. */
struct tls_opts {
    const char *cert_file;        /* the server's certificate chain (PEM) */
    const char *key_file;         /* its private key */
    const char *key_file_pass;    /* the key's passphrase */
    const char *client_cert_file; /* the certificate shown to nodes (default: cert_file) */
    const char *client_key_file;  /* its key (default: key_file) */
    const char *client_key_file_pass;
    const char *ca_cert_file; /* CAs that peers' certificates are verified against */
    const char *ca_cert_dir;
    enum tls_auth_clients auth_clients; /* server: whether clients must show a certificate */
    const char *protocols;              /* "TLSv1.2 TLSv1.3" (the default when NULL) */
    const char *ciphers;                /* TLS 1.2 and below: an OpenSSL cipher list */
    const char *ciphersuites;           /* TLS 1.3 */
    int prefer_server_ciphers;
    int session_caching;       /* server: resume sessions (cache and tickets) */
    int session_cache_size;    /* sessions kept */
    int session_cache_timeout; /* seconds */
};

/* Handshakes made from a context, counted since it was created (any thread). */
struct tls_stats {
    uint64_t handshakes;         /* completed */
    uint64_t handshake_failures; /* failed, or given up before completing */
};

struct tls_ctx;
struct tls_conn;

/* Loads OpenSSL's error strings once; call before any other function here (main thread). */
void tls_global_init(void);

/* Builds a context from o: server (the clients' side) or client (the nodes' side). Returns NULL
 * with a one-line reason in err (a file that cannot be read, a key that does not match, a bad
 * protocol name, ...). Free with tls_ctx_free once no connection made from it is left. */
struct tls_ctx *tls_ctx_create(const struct tls_opts *o, int server, char *err, size_t errlen);
/* Builds the context again from the same settings, reading the files anew, and makes it the one
 * new connections get; connections made earlier keep the old one until they close. Returns 0, or
 * a negative code with the reason in err (the context in use is kept). Any thread. */
int tls_ctx_reload(struct tls_ctx *c, char *err, size_t errlen);
/* The context's handshake counters. Any thread. */
void tls_ctx_stats(struct tls_ctx *c, struct tls_stats *st);
/* NULL is ok. */
void tls_ctx_free(struct tls_ctx *c);

/* TLS state for connected socket fd, as the server or client its context is. The handshake has
 * not started: call tls_conn_handshake until it returns 0. NULL when OpenSSL cannot make one. The
 * caller keeps fd and closes it after tls_conn_free. */
struct tls_conn *tls_conn_create(struct tls_ctx *c, int fd);
/* Frees t (a handshake left unfinished counts as failed). NULL is ok. */
void tls_conn_free(struct tls_conn *t);

/* Advances the handshake. Returns 0 when it is complete, -EAGAIN when it waits for the socket
 * (tls_conn_mask(t, 0) says for which event), or another negative code when it failed
 * (tls_last_error() says why). */
int tls_conn_handshake(struct tls_conn *t);
/* 1 once the handshake is complete. */
int tls_conn_ready(const struct tls_conn *t);

/* As read(2): bytes read (> 0), 0 at the end of the stream (close_notify, or the peer closed the
 * socket), -EAGAIN when nothing can be read now, another negative code on failure. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t len);
/* As writev(2): bytes written (> 0; fewer than offered when the socket filled up), -EAGAIN when
 * nothing could be written, another negative code on failure. A write that returned -EAGAIN or a
 * short count must be offered again starting with the same bytes (an output queue does that). */
ssize_t tls_conn_writev(struct tls_conn *t, const struct iovec *iov, int iovcnt);

/* Writes o's bytes over t, as obuf_write does over a socket: bytes written, -EAGAIN when nothing
 * could be written (tls_conn_mask says which socket event to wait for), or another negative code.
 * The queue keeps every byte until the connection says it is written, so a write that has to be
 * retried is offered the same leading bytes again, as OpenSSL requires. */
ssize_t obuf_write_tls(struct obuf *o, struct tls_conn *t);/* 1 when decrypted bytes wait inside OpenSSL: read again now, the socket will not say so. */
int tls_conn_pending(const struct tls_conn *t);

/* The socket events (LOOP_READ | LOOP_WRITE) to wait for, given the operations the owner wants to
 * make (LOOP_READ: reading, LOOP_WRITE: writing): a read that needs a write waits for
 * writability, and the other way round; during the handshake, whatever the handshake needs. */
int tls_conn_mask(const struct tls_conn *t, int want);
/* The operations that the socket events in mask make possible (LOOP_ERROR is kept). */
int tls_conn_events(const struct tls_conn *t, int mask);

/* Sends close_notify, once, without waiting (a client sees a clean end rather than a cut). */
void tls_conn_shutdown(struct tls_conn *t);

/* The last TLS failure on this thread, as text ("certificate verify failed: certificate has
 * expired", "wrong version number", ...). */
const char *tls_last_error(void);

/* Parses a tls-protocols value ("TLSv1.2 TLSv1.3", any case). Returns 0 or a negative code. */
int tls_protocols_check(const char *s);

#endif
