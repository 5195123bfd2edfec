/*
 * TLS with OpenSSL; the contracts are in tls.h.
 *
 * One SSL_CTX per side, shared by every thread, rather than one per worker: OpenSSL 3 makes SSL
 * objects from a shared context safely (SSL_new takes a reference under the context's own lock,
 * once per connection, never per request), a session cached by one worker can then be resumed by
 * a client that lands on another, the certificates are loaded once, and a reload is one pointer
 * swap under c->lock. A connection's SSL holds its own reference to the context it was made from,
 * so the context swapped out lives until the last connection made from it is freed.
 *
 * Reads and writes follow the non-blocking rules of SSL_read/SSL_write: the error queue is
 * cleared before each call (it is per thread, and a stale entry would be taken for this call's
 * failure); SSL_ERROR_WANT_WRITE from a read and SSL_ERROR_WANT_READ from a write are remembered,
 * and tls_conn_mask/tls_conn_events turn them into the socket events to wait for; a write that
 * could not finish is retried with the same leading bytes, which
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets come from another address (the output queue rebuilds its
 * iovecs each time). Writes that gather many small spans are copied into one record-sized buffer,
 * so that a pipeline of short replies does not become one TLS record (and 22 bytes of overhead, and
 * a MAC) per reply.
 */
#include "tls.h"

#include "loop.h"
#include "mem.h"
#include "px_errors.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TLS_RECORD_MAX         16384 /* plaintext bytes in one TLS record */
#define TLS_SESSION_ID_CONTEXT "slotproxy"

enum tls_proto_bit { TLS_P10 = 1, TLS_P11 = 2, TLS_P12 = 4, TLS_P13 = 8 };

enum tls_state { TLS_HANDSHAKING = 0, TLS_READY, TLS_FAILED };

/* The settings, with owned copies of the strings, kept for reloads. */
struct tls_ctx {
    pthread_mutex_t lock; /* guards ssl: a reload swaps it while workers make connections */
    SSL_CTX *ssl;
    int server;
    struct tls_opts o;
    /* Written by every thread that finishes a handshake: relaxed read-modify-writes, once per
     * connection. */
    _Atomic uint64_t handshakes, failures;
};

struct tls_conn {
    SSL *ssl;
    struct tls_ctx *ctx; /* for the counters */
    uint8_t state;       /* enum tls_state */
    uint8_t want;        /* the handshake's wait: LOOP_READ or LOOP_WRITE */
    uint8_t read_want_write;
    uint8_t write_want_read;
    uint8_t shut;  /* close_notify sent */
    uint8_t fatal; /* a read or write failed: OpenSSL forbids SSL_shutdown after that */
};

static _Thread_local char tls_err[256];

const char *tls_last_error(void)
{
    return tls_err[0] ? tls_err : "unknown TLS error";
}

void tls_global_init(void)
{
    /* OpenSSL 1.1+ initialises itself; this only makes sure the error strings are there. */
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}

/* The oldest queued OpenSSL error as text (the queue is cleared), or fallback when it is empty. */
static void tls_queue_text(char *out, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(out, len, "%s", fallback);
        return;
    }
    /* The reason alone ("certificate verify failed") reads better in a log than the whole
     * "error:0A000086:SSL routines::..." string. */
    const char *reason = ERR_reason_error_string(e);
    if (reason)
        snprintf(out, len, "%s", reason);
    else
        ERR_error_string_n(e, out, len);
    ERR_clear_error();
}

/* ---- contexts ---- */

static int tls_parse_protocols(const char *s)
{
    if (!s) return TLS_P12 | TLS_P13; /* Redis's default */
    int bits = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        if (strcasecmp(tok, "tlsv1") == 0)
            bits |= TLS_P10;
        else if (strcasecmp(tok, "tlsv1.1") == 0)
            bits |= TLS_P11;
        else if (strcasecmp(tok, "tlsv1.2") == 0)
            bits |= TLS_P12;
        else if (strcasecmp(tok, "tlsv1.3") == 0)
            bits |= TLS_P13;
        else
            return PX_EINVAL;
    }
    return bits ? bits : PX_EINVAL;
}

int tls_protocols_check(const char *s)
{
    return tls_parse_protocols(s) < 0 ? PX_EINVAL : 0;
}

/* The passphrase of the key being loaded: OpenSSL asks through this callback. */
static int tls_pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pass = u;
    if (!pass) return 0;
    int n = (int)strlen(pass);
    if (n > size) n = size;
    memcpy(buf, pass, (size_t)n);
    return n;
}

/* Loads a certificate chain and its key into ctx. Returns 0, or -1 with err set. */
static int tls_load_cert(SSL_CTX *ctx, const char *cert, const char *key, const char *pass,
                         char *err, size_t errlen)
{
    SSL_CTX_set_default_passwd_cb(ctx, tls_pass_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)pass);
    char why[160];
    int rc = 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) <= 0) {
        tls_queue_text(why, sizeof(why), "cannot read it");
        snprintf(err, errlen, "cannot load certificate %s: %s", cert, why);
        rc = -1;
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert, SSL_FILETYPE_PEM) <= 0) {
        tls_queue_text(why, sizeof(why), "cannot read it");
        snprintf(err, errlen, "cannot load private key %s: %s", key ? key : cert, why);
        rc = -1;
    } else if (SSL_CTX_check_private_key(ctx) <= 0) {
        tls_queue_text(why, sizeof(why), "it does not match");
        snprintf(err, errlen, "private key %s does not match certificate %s: %s", key ? key : cert,
                 cert, why);
        rc = -1;
    }
    /* The passphrase is only needed while loading; the pointer must not outlive the settings. */
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    return rc;
}

/* Protocols, ciphers, session cache: what both sides share, as Redis's createSSLContext does. */
static int tls_setup_common(SSL_CTX *ctx, const struct tls_opts *o, char *err, size_t errlen)
{
    uint64_t opts = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION |
                    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    int protos = tls_parse_protocols(o->protocols);
    if (protos < 0) {
        snprintf(err, errlen,
                 "invalid tls-protocols \"%s\": use a combination of TLSv1, TLSv1.1, TLSv1.2 and "
                 "TLSv1.3",
                 o->protocols);
        return -1;
    }
    if (!(protos & TLS_P10)) opts |= SSL_OP_NO_TLSv1;
    if (!(protos & TLS_P11)) opts |= SSL_OP_NO_TLSv1_1;
    if (!(protos & TLS_P12)) opts |= SSL_OP_NO_TLSv1_2;
    if (!(protos & TLS_P13)) opts |= SSL_OP_NO_TLSv1_3;
    if (o->prefer_server_ciphers) opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    SSL_CTX_set_options(ctx, opts);
    /* Partial writes and a moving buffer: see the top of the file. Buffers are released while a
     * connection is idle, so ten thousand idle TLS clients do not each hold 50 KB of them. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) <= 0) {
        ERR_clear_error();
        snprintf(err, errlen, "invalid tls-ciphers \"%s\"", o->ciphers);
        return -1;
    }
    if (o->ciphersuites && SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) <= 0) {
        ERR_clear_error();
        snprintf(err, errlen, "invalid tls-ciphersuites \"%s\"", o->ciphersuites);
        return -1;
    }
    if (o->ca_cert_file || o->ca_cert_dir) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_cert_file, o->ca_cert_dir) <= 0) {
            char why[160];
            tls_queue_text(why, sizeof(why), "cannot read it");
            snprintf(err, errlen, "cannot load CA certificates from %s: %s",
                     o->ca_cert_file ? o->ca_cert_file : o->ca_cert_dir, why);
            return -1;
        }
    }
    return 0;
}

/* A new SSL_CTX from o, or NULL with err set. */
static SSL_CTX *tls_build(const struct tls_opts *o, int server, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        tls_queue_text(err, errlen, "cannot create an SSL context");
        return NULL;
    }
    if (tls_setup_common(ctx, o, err, errlen) < 0) goto fail;
    if (server) {
        if (tls_load_cert(ctx, o->cert_file, o->key_file, o->key_file_pass, err, errlen) < 0)
            goto fail;
        int mode = SSL_VERIFY_NONE;
        if (o->auth_clients == TLS_AUTH_CLIENTS_YES)
            mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        else if (o->auth_clients == TLS_AUTH_CLIENTS_OPTIONAL)
            mode = SSL_VERIFY_PEER;
        SSL_CTX_set_verify(ctx, mode, NULL);
        SSL_CTX_set_dh_auto(ctx, 1);
        if (o->session_caching) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
            SSL_CTX_sess_set_cache_size(ctx, o->session_cache_size);
            SSL_CTX_set_timeout(ctx, o->session_cache_timeout);
            SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                           sizeof(TLS_SESSION_ID_CONTEXT) - 1);
        } else {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        }
    } else {
        /* Towards the nodes, as Redis's own outgoing connections: the node's certificate must be
         * signed by a trusted CA (no host name check: nodes are reached by address). The client
         * certificate is the dedicated one when given, else the server's. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        const char *cert = o->client_cert_file ? o->client_cert_file : o->cert_file;
        const char *key = o->client_cert_file ? o->client_key_file : o->key_file;
        const char *pass = o->client_cert_file ? o->client_key_file_pass : o->key_file_pass;
        if (cert && tls_load_cert(ctx, cert, key, pass, err, errlen) < 0) goto fail;
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? px_strdup(s) : NULL;
}

struct tls_ctx *tls_ctx_create(const struct tls_opts *o, int server, char *err, size_t errlen)
{
    if (server && !o->cert_file) {
        snprintf(err, errlen, "a TLS listener needs tls-cert-file and tls-key-file");
        return NULL;
    }
    SSL_CTX *ssl = tls_build(o, server, err, errlen);
    if (!ssl) return NULL;
    struct tls_ctx *c = px_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->ssl = ssl;
    c->server = server;
    c->o = *o;
    c->o.cert_file = dup_or_null(o->cert_file);
    c->o.key_file = dup_or_null(o->key_file);
    c->o.key_file_pass = dup_or_null(o->key_file_pass);
    c->o.client_cert_file = dup_or_null(o->client_cert_file);
    c->o.client_key_file = dup_or_null(o->client_key_file);
    c->o.client_key_file_pass = dup_or_null(o->client_key_file_pass);
    c->o.ca_cert_file = dup_or_null(o->ca_cert_file);
    c->o.ca_cert_dir = dup_or_null(o->ca_cert_dir);
    c->o.protocols = dup_or_null(o->protocols);
    c->o.ciphers = dup_or_null(o->ciphers);
    c->o.ciphersuites = dup_or_null(o->ciphersuites);
    atomic_init(&c->handshakes, 0);
    atomic_init(&c->failures, 0);
    return c;
}

int tls_ctx_reload(struct tls_ctx *c, char *err, size_t errlen)
{
    /* Built outside the lock: reading the files may take a while, and workers making connections
     * meanwhile get the old context. */
    SSL_CTX *n = tls_build(&c->o, c->server, err, errlen);
    if (!n) return PX_EINVAL;
    pthread_mutex_lock(&c->lock);
    SSL_CTX *old = c->ssl;
    c->ssl = n;
    pthread_mutex_unlock(&c->lock);
    SSL_CTX_free(old); /* the connections made from it hold references of their own */
    return 0;
}

void tls_ctx_stats(struct tls_ctx *c, struct tls_stats *st)
{
    /* Relaxed: counters for operators, not a synchronisation point. */
    st->handshakes = atomic_load_explicit(&c->handshakes, memory_order_relaxed);
    st->handshake_failures = atomic_load_explicit(&c->failures, memory_order_relaxed);
}

void tls_ctx_free(struct tls_ctx *c)
{
    if (!c) return;
    SSL_CTX_free(c->ssl);
    pthread_mutex_destroy(&c->lock);
    px_free((char *)c->o.cert_file);
    px_free((char *)c->o.key_file);
    px_free((char *)c->o.key_file_pass);
    px_free((char *)c->o.client_cert_file);
    px_free((char *)c->o.client_key_file);
    px_free((char *)c->o.client_key_file_pass);
    px_free((char *)c->o.ca_cert_file);
    px_free((char *)c->o.ca_cert_dir);
    px_free((char *)c->o.protocols);
    px_free((char *)c->o.ciphers);
    px_free((char *)c->o.ciphersuites);
    px_free(c);
}

/* ---- connections ---- */

struct tls_conn *tls_conn_create(struct tls_ctx *c, int fd)
{
    pthread_mutex_lock(&c->lock);
    SSL *ssl = SSL_new(c->ssl); /* takes its own reference on the context */
    pthread_mutex_unlock(&c->lock);
    if (!ssl) {
        tls_queue_text(tls_err, sizeof(tls_err), "SSL_new failed");
        return NULL;
    }
    if (SSL_set_fd(ssl, fd) != 1) {
        tls_queue_text(tls_err, sizeof(tls_err), "SSL_set_fd failed");
        SSL_free(ssl);
        return NULL;
    }
    if (c->server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    struct tls_conn *t = px_calloc(1, sizeof(*t));
    t->ssl = ssl;
    t->ctx = c;
    t->state = TLS_HANDSHAKING;
    t->want = c->server ? LOOP_READ : LOOP_WRITE; /* a client speaks first */
    return t;
}

static void tls_count_failure(struct tls_conn *t)
{
    t->state = TLS_FAILED;
    atomic_fetch_add_explicit(&t->ctx->failures, 1, memory_order_relaxed);
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t) return;
    if (t->state == TLS_HANDSHAKING) tls_count_failure(t); /* timed out, or the peer left */
    SSL_free(t->ssl);
    px_free(t);
}

/* Explains a failed handshake: the verification result when a certificate was refused, else
 * the OpenSSL error, else the system's. */
static void tls_handshake_error(struct tls_conn *t, int e, int saved_errno)
{
    char why[200];
    tls_queue_text(why, sizeof(why), "");
    long vr = SSL_get_verify_result(t->ssl);
    if (e == SSL_ERROR_SYSCALL && !why[0]) {
        snprintf(tls_err, sizeof(tls_err), "%s",
                 saved_errno ? strerror(saved_errno) : "connection closed during the handshake");
    } else if (vr != X509_V_OK) {
        snprintf(tls_err, sizeof(tls_err), "%s: %s", why[0] ? why : "certificate verify failed",
                 X509_verify_cert_error_string(vr));
    } else {
        snprintf(tls_err, sizeof(tls_err), "%s", why[0] ? why : "handshake failed");
    }
}

int tls_conn_handshake(struct tls_conn *t)
{
    if (t->state == TLS_READY) return 0;
    if (t->state == TLS_FAILED) return PX_EPROTO;
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->state = TLS_READY;
        atomic_fetch_add_explicit(&t->ctx->handshakes, 1, memory_order_relaxed);
        return 0;
    }
    int saved = errno;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        t->want = LOOP_READ;
        return -EAGAIN;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        t->want = LOOP_WRITE;
        return -EAGAIN;
    }
    tls_handshake_error(t, e, saved);
    tls_count_failure(t);
    return PX_EPROTO;
}

int tls_conn_ready(const struct tls_conn *t)
{
    return t->state == TLS_READY;
}

/* A failed read or write: the code to return, noting what the socket must do first. */
static ssize_t tls_io_error(struct tls_conn *t, int rc, int saved_errno, int reading)
{
    int e = SSL_get_error(t->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (!reading) t->write_want_read = 1;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (reading) t->read_want_write = 1;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify, or the socket's end (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        return reading ? 0 : -EPIPE;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            snprintf(tls_err, sizeof(tls_err), "%s",
                     saved_errno ? strerror(saved_errno) : "connection closed");
            t->fatal = 1;
            /* A read that hit the end of the socket without an error is the end of the stream. */
            if (!saved_errno) return reading ? 0 : -EPIPE;
            return -saved_errno;
        }
        /* OpenSSL queued the reason: as below. */
        __attribute__((fallthrough));
    default:
        t->fatal = 1;
        tls_queue_text(tls_err, sizeof(tls_err), "TLS error");
        return PX_EPROTO;
    }
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t len)
{
    t->read_want_write = 0;
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) return n;
    return tls_io_error(t, n, errno, 1);
}

/* One SSL_write. Returns bytes written, or the code of tls_io_error. */
static ssize_t tls_write_once(struct tls_conn *t, const void *p, size_t len)
{
    ERR_clear_error();
    errno = 0;
    int w = SSL_write(t->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    if (w > 0) return w;
    return tls_io_error(t, w, errno, 0);
}

ssize_t tls_conn_writev(struct tls_conn *t, const struct iovec *iov, int iovcnt)
{
    char stage[TLS_RECORD_MAX];
    size_t total = 0, off = 0; /* off: bytes of iov[i] already written */
    int i = 0;
    t->write_want_read = 0;
    while (i < iovcnt) {
        const char *p = (const char *)iov[i].iov_base + off;
        size_t len = iov[i].iov_len - off;
        if (len == 0) {
            i++;
            off = 0;
            continue;
        }
        /* A long span goes as it is; short ones are gathered up to a record's worth. Either way
         * a retry after -EAGAIN starts with the same bytes and is at least as long. */
        if (len < TLS_RECORD_MAX && i + 1 < iovcnt) {
            size_t n = 0;
            size_t o = off;
            for (int k = i; k < iovcnt && n < TLS_RECORD_MAX; k++, o = 0) {
                size_t take = iov[k].iov_len - o;
                if (take > TLS_RECORD_MAX - n) take = TLS_RECORD_MAX - n;
                memcpy(stage + n, (const char *)iov[k].iov_base + o, take);
                n += take;
            }
            p = stage;
            len = n;
        }
        ssize_t w = tls_write_once(t, p, len);
        if (w <= 0) {
            /* Progress already made is reported as such, as writev does. */
            return total ? (ssize_t)total : w;
        }
        total += (size_t)w;
        /* Step over what went out; partial writes return after each record, so go on until
         * the socket pushes back. */
        size_t adv = (size_t)w;
        while (adv > 0 && i < iovcnt) {
            size_t rest = iov[i].iov_len - off;
            if (adv < rest) {
                off += adv;
                adv = 0;
            } else {
                adv -= rest;
                i++;
                off = 0;
            }
        }
    }
    return (ssize_t)total;
}

int tls_conn_pending(const struct tls_conn *t)
{
    return t->state == TLS_READY && SSL_pending(t->ssl) > 0;
}

int tls_conn_mask(const struct tls_conn *t, int want)
{
    if (t->state != TLS_READY) return t->want;
    int m = 0;
    if (want & LOOP_READ) m |= t->read_want_write ? LOOP_WRITE : LOOP_READ;
    if (want & LOOP_WRITE) m |= t->write_want_read ? LOOP_READ : LOOP_WRITE;
    return m;
}

int tls_conn_events(const struct tls_conn *t, int mask)
{
    int ev = mask & LOOP_ERROR;
    if (mask & LOOP_READ) {
        if (!t->read_want_write) ev |= LOOP_READ;
        if (t->write_want_read) ev |= LOOP_WRITE;
    }
    if (mask & LOOP_WRITE) {
        if (!t->write_want_read) ev |= LOOP_WRITE;
        if (t->read_want_write) ev |= LOOP_READ;
    }
    return ev;
}

void tls_conn_shutdown(struct tls_conn *t)
{
    if (t->state != TLS_READY) return;
    ERR_clear_error();
    /* One attempt: close_notify goes out if the socket takes it; nothing is waited for. */
    if (t->shut || t->fatal) return;
    t->shut = 1;
    if (SSL_shutdown(t->ssl) < 0) ERR_clear_error();
}

/* ---- output queues ---- */

#define TLS_IOV_MAX 128 /* spans per write, as obuf_write (the iovecs are on the stack) */

ssize_t obuf_write_tls(struct obuf *o, struct tls_conn *t)
{
    size_t total = 0;
    while (o->count > 0) {
        struct iovec iov[TLS_IOV_MAX];
        size_t want;
        int n = obuf_peek(o, iov, NULL, TLS_IOV_MAX, &want);
        ssize_t w = tls_conn_writev(t, iov, n);
        if (w < 0) return total ? (ssize_t)total : w;
        obuf_consume(o, (size_t)w);
        total += (size_t)w;
        if ((size_t)w < want) break; /* the socket is full, or waits for a read */
    }
    return (ssize_t)total;
}
