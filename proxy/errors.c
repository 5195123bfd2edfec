/* Client-visible error texts; see errors.h. */
#include "errors.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Redis prints arguments with "%.*s"/"%.128s", which stop at a NUL byte. */
static size_t c_len(const char *p, size_t len)
{
    const char *z = memchr(p, '\0', len);
    return z ? (size_t)(z - p) : len;
}

void errors_unknown_command(struct sbuf *s, const char *base, const struct resp_span *argv,
                            uint32_t argc)
{
    struct sbuf args;
    sbuf_init(&args);
    for (uint32_t i = 1; i < argc && args.len < 128; i++) {
        size_t room = 128 - args.len;
        size_t l = c_len(base + argv[i].off, argv[i].len);
        if (l > room) l = room;
        sbuf_put(&args, "'", 1);
        sbuf_put(&args, base + argv[i].off, l);
        sbuf_put(&args, "' ", 2);
    }
    size_t nl = c_len(base + argv[0].off, argv[0].len);
    if (nl > 128) nl = 128;
    resp_write_errorf(s, "ERR unknown command '%.*s', with args beginning with: %.*s", (int)nl,
                      base + argv[0].off, (int)args.len, args.buf ? args.buf : "");
    sbuf_free(&args);
}

void errors_unknown_subcommand(struct sbuf *s, const char *base, const struct resp_span *argv)
{
    char cmd[129];
    size_t nl = c_len(base + argv[0].off, argv[0].len);
    if (nl > 128) nl = 128;
    for (size_t i = 0; i < nl; i++) cmd[i] = (char)toupper((unsigned char)base[argv[0].off + i]);
    cmd[nl] = '\0';
    size_t sl = c_len(base + argv[1].off, argv[1].len);
    if (sl > 128) sl = 128;
    resp_write_errorf(s, "ERR unknown subcommand '%.*s'. Try %s HELP.", (int)sl, base + argv[1].off,
                      cmd);
}

void errors_wrong_arity(struct sbuf *s, const char *fullname)
{
    resp_write_errorf(s, "ERR wrong number of arguments for '%s' command", fullname);
}

void errors_crossslot(struct sbuf *s)
{
    sbuf_puts(s, "-CROSSSLOT Keys in request don't hash to the same slot\r\n");
}

void errors_slot_unserved(struct sbuf *s)
{
    sbuf_puts(s, "-CLUSTERDOWN Hash slot not served\r\n");
}

void errors_node_unreachable(struct sbuf *s, const char *addr, const char *why)
{
    resp_write_errorf(s, "CLUSTERDOWN node %s is unreachable%s%s", addr, why && *why ? ": " : "",
                      why ? why : "");
}

void errors_no_topology(struct sbuf *s)
{
    sbuf_puts(s, "-CLUSTERDOWN The cluster is down (slotproxy has no slot map yet: no node of "
                 "the cluster has answered)\r\n");
}

void errors_connection_lost(struct sbuf *s, const char *addr)
{
    resp_write_errorf(s,
                      "ERR connection to node %s lost before its reply; the command may or may "
                      "not have run",
                      addr);
}

void errors_node_timeout(struct sbuf *s, const char *addr, uint64_t timeout_ms)
{
    resp_write_errorf(s,
                      "ERR node %s did not answer within %llu ms (-backend-timeout); the command "
                      "may or may not have run",
                      addr, (unsigned long long)timeout_ms);
}

void errors_too_many_redirects(struct sbuf *s, const char *last, uint32_t len)
{
    resp_write_errorf(s, "ERR too many cluster redirections (last: %.*s)", (int)len, last);
}

void errors_unsupported(struct sbuf *s, const char *name, const char *reason)
{
    resp_write_errorf(s, "ERR '%s' %s", name, reason);
}

void errors_protocol(struct sbuf *s, const char *text)
{
    resp_write_errorf(s, "ERR %s", text);
}

void errors_noauth(struct sbuf *s)
{
    sbuf_puts(s, "-NOAUTH Authentication required.\r\n");
}

void errors_topology_changed(struct sbuf *s)
{
    sbuf_puts(s, "-ERR the cluster's masters changed during the request; retry it\r\n");
}

void errors_not_in_multi(struct sbuf *s, const char *name)
{
    resp_write_errorf(s, "ERR '%s' cannot be used inside MULTI through slotproxy", name);
}

void errors_tx_conn_lost(struct sbuf *s, const char *addr)
{
    resp_write_errorf(s,
                      "ERR connection to node %s lost during the transaction; nothing queued in "
                      "it will run",
                      addr);
}

void errors_tx_moved(struct sbuf *s)
{
    resp_write_errorf(s, "ERR the slot moved to another node during the transaction; EXEC will "
                         "fail, retry the transaction");
}
