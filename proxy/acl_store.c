/*
 * The shared ACL state; see acl_store.h. Every change copies the current set (sharing the users
 * it does not touch), changes the copy, seals it and makes it current; the sets and users that
 * no worker holds any more are freed when their last reference goes, all under the one mutex.
 */
#include "acl_store.h"

#include "log.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ACL_LOG_GROUP_MS 60000 /* ACL_LOG_GROUPING_MAX_TIME_DELTA */
#define ACL_LOG_SCAN     10    /* entries looked at for grouping */
#define ACL_FILE_MAX     (256u << 20) /* an ACL file larger than this is refused */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct acl_users *current;
static uint64_t version;
static char *aclfile;
static atomic_int default_nopass; /* relaxed: a hint for the acceptor */

/* The log: newest first, at most log_max entries. */
static struct acl_log_entry *log_v;
static size_t log_n, log_cap, log_max = 128;

static void publish(struct acl_users *s)
{
    acl_users_seal(s);
    s->version = ++version;
    acl_users_unref(current);
    current = s;
    const struct acl_user *d = acl_users_default(s);
    atomic_store_explicit(&default_nopass, !acl_auth_required(d), memory_order_relaxed);
}

void acl_store_init(struct acl_users *initial, const char *file, unsigned log_max_len)
{
    pthread_mutex_lock(&lock);
    px_free(aclfile);
    aclfile = file ? px_strdup(file) : NULL;
    log_max = log_max_len;
    publish(initial);
    pthread_mutex_unlock(&lock);
}

void acl_store_shutdown(void)
{
    pthread_mutex_lock(&lock);
    acl_users_unref(current);
    current = NULL;
    px_free(aclfile);
    aclfile = NULL;
    acl_store_log_free(log_v, log_n);
    log_v = NULL;
    log_n = log_cap = 0;
    pthread_mutex_unlock(&lock);
}

const char *acl_store_file(void)
{
    return aclfile; /* set once at startup */
}

int acl_local_sync(struct acl_local *l)
{
    pthread_mutex_lock(&lock);
    if (l->users == current) {
        pthread_mutex_unlock(&lock);
        return 0;
    }
    struct acl_users *old = l->users;
    l->users = current;
    current->refs++;
    l->dflt = acl_users_default(current);
    l->auth_required = acl_auth_required(l->dflt);
    acl_users_unref(old);
    pthread_mutex_unlock(&lock);
    return 1;
}

void acl_local_release(struct acl_local *l)
{
    pthread_mutex_lock(&lock);
    acl_users_unref(l->users);
    pthread_mutex_unlock(&lock);
    l->users = NULL;
    l->dflt = NULL;
}

int acl_store_default_nopass(void)
{
    return atomic_load_explicit(&default_nopass, memory_order_relaxed);
}

int acl_store_setuser(const char *name, size_t len, const char *const *ops, const size_t *lens,
                      int n, struct acl_rule_error *err)
{
    pthread_mutex_lock(&lock);
    const struct acl_user *base = acl_users_find(current, name, len);
    struct acl_user *u = acl_user_apply(base, name, len, ops, lens, n, err);
    if (!u) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    struct acl_users *s = acl_users_copy(current);
    acl_users_put(s, u);
    publish(s);
    pthread_mutex_unlock(&lock);
    return 0;
}

int acl_store_deluser(const char *const *names, const size_t *lens, int n)
{
    pthread_mutex_lock(&lock);
    struct acl_users *s = acl_users_copy(current);
    int deleted = 0;
    for (int i = 0; i < n; i++) deleted += acl_users_del(s, names[i], lens[i]);
    if (deleted)
        publish(s);
    else
        acl_users_unref(s);
    pthread_mutex_unlock(&lock);
    return deleted;
}

/* The whole file as one string (Redis reads it line by line into one string too). */
static char *read_file(const char *path, size_t *len, int *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *err = errno;
        return NULL;
    }
    struct sbuf b;
    sbuf_init(&b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        sbuf_put(&b, buf, n);
        if (b.len > ACL_FILE_MAX) {
            sbuf_free(&b);
            fclose(f);
            *err = EFBIG;
            return NULL;
        }
    }
    fclose(f);
    *len = b.len;
    if (!b.buf) return px_strdup("");
    return b.buf;
}

int acl_store_load(struct acl_load_report *rep, int *errno_out)
{
    memset(rep, 0, sizeof(*rep));
    if (!aclfile) return -2;
    size_t len;
    char *text = read_file(aclfile, &len, errno_out);
    if (!text) return -2;
    struct acl_users *s = acl_load_text(text, len, rep);
    px_free(text);
    if (!s) return -1;
    pthread_mutex_lock(&lock);
    publish(s);
    pthread_mutex_unlock(&lock);
    return 0;
}

int acl_store_save(void)
{
    if (!aclfile) return -1;
    struct sbuf out;
    sbuf_init(&out);
    pthread_mutex_lock(&lock);
    acl_save_text(current, &out);
    pthread_mutex_unlock(&lock);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%llu", aclfile, (int)getpid(),
             (unsigned long long)(uintptr_t)&out);
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        log_warn("ACL SAVE: cannot open %s: %s", tmp, strerror(errno));
        goto done;
    }
    size_t off = 0;
    while (off < out.len) {
        ssize_t w = write(fd, out.buf + off, out.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            log_warn("ACL SAVE: cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto done;
        }
        off += (size_t)w;
    }
    close(fd);
    if (rename(tmp, aclfile) < 0) {
        log_warn("ACL SAVE: cannot rename %s to %s: %s", tmp, aclfile, strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = 0;
done:
    sbuf_free(&out);
    return rc;
}

/* ---- the ACL LOG ---- */

static void entry_free(struct acl_log_entry *e)
{
    px_free(e->object);
    px_free(e->username);
    px_free(e->cinfo);
}

void acl_store_log(int reason, int context, const char *object, size_t objlen, const char *user,
                   size_t userlen, const char *cinfo, size_t cinfolen, uint64_t now_ms)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < log_n && i < ACL_LOG_SCAN; i++) {
        struct acl_log_entry *e = &log_v[i];
        uint64_t delta = e->ctime_ms > now_ms ? e->ctime_ms - now_ms : now_ms - e->ctime_ms;
        if (e->reason != reason || e->context != context || delta > ACL_LOG_GROUP_MS ||
            e->objlen != objlen || memcmp(e->object, object, objlen) != 0 ||
            e->userlen != userlen || memcmp(e->username, user, userlen) != 0)
            continue;
        /* The match moves to the head, with the last client's details. */
        struct acl_log_entry m = *e;
        memmove(&log_v[1], &log_v[0], i * sizeof(*log_v));
        px_free(m.cinfo);
        m.cinfo = px_strndup(cinfo, cinfolen);
        m.cinfolen = cinfolen;
        m.ctime_ms = now_ms;
        m.count++;
        log_v[0] = m;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (log_n == log_cap) {
        log_cap = log_cap ? log_cap * 2 : 16;
        log_v = px_realloc(log_v, log_cap * sizeof(*log_v));
    }
    memmove(&log_v[1], &log_v[0], log_n * sizeof(*log_v));
    struct acl_log_entry *e = &log_v[0];
    e->count = 1;
    e->reason = reason;
    e->context = context;
    e->object = px_strndup(object, objlen);
    e->objlen = objlen;
    e->username = px_strndup(user, userlen);
    e->userlen = userlen;
    e->ctime_ms = now_ms;
    e->cinfo = px_strndup(cinfo, cinfolen);
    e->cinfolen = cinfolen;
    log_n++;
    while (log_n > log_max) entry_free(&log_v[--log_n]);
    pthread_mutex_unlock(&lock);
}

void acl_store_log_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < log_n; i++) entry_free(&log_v[i]);
    log_n = 0;
    pthread_mutex_unlock(&lock);
}

size_t acl_store_log_copy(long count, struct acl_log_entry **out)
{
    pthread_mutex_lock(&lock);
    size_t n = count < 0 ? 0 : (size_t)count;
    if (n > log_n) n = log_n;
    struct acl_log_entry *v = px_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i] = log_v[i];
        v[i].object = px_strndup(log_v[i].object, log_v[i].objlen);
        v[i].username = px_strndup(log_v[i].username, log_v[i].userlen);
        v[i].cinfo = px_strndup(log_v[i].cinfo, log_v[i].cinfolen);
    }
    pthread_mutex_unlock(&lock);
    *out = v;
    return n;
}

void acl_store_log_free(struct acl_log_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) entry_free(&v[i]);
    px_free(v);
}
