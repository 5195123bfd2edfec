/*
 * Client-visible error texts; see errors.h. Where Redis 7.0 has the same error, the text is
 * Redis's own, checked against a real redis-server (the integration suites compare them byte for
 * byte); the proxy's own errors keep Redis's conventions: an upper-case code first (ERR,
 * CLUSTERDOWN, ...), one line, and for anything that may have run, a plain statement that it may
 * or may not have.
 */
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

/* Why a command is refused; each text follows "ERR '<command>' " (errors_unsupported). */
static const char *const unsupported_text[PXU_COUNT] = {
    [PXU_NOT_YET] = "is not supported by this version of slotproxy",
    [PXU_ONE_NODE] = "cannot be used through slotproxy: it administers a single node",
    [PXU_NODE_REPORT] = "cannot be used through slotproxy: it reports on a single node",
    [PXU_REPLICATION] = "cannot be used through slotproxy: it is part of the replication protocol",
    [PXU_ONE_DB] = "cannot be used through slotproxy: it needs more than one database",
    [PXU_ASKING] = "is used by the proxy itself and cannot be sent by clients",
    [PXU_SCRIPT_DEBUG] = "cannot be used through slotproxy: it needs a debugging session on one "
                         "node",
    [PXU_MONITOR] = "cannot be used through slotproxy: it streams one node's commands on the "
                    "connection",
};

const char *errors_unsupported_text(enum px_unsupported why)
{
    return why < PXU_COUNT ? unsupported_text[why] : unsupported_text[PXU_NOT_YET];
}

/* ---- routing's refusals (enum px_err), in Redis's words ---- */

void errors_route(struct sbuf *s, enum px_err e, const char *base, const struct resp_span *argv,
                  uint32_t argc, const char *name, const char *reason)
{
    switch (e) {
    case PXE_UNKNOWN_COMMAND: errors_unknown_command(s, base, argv, argc); return;
    case PXE_UNKNOWN_SUBCOMMAND: errors_unknown_subcommand(s, base, argv); return;
    case PXE_WRONG_ARITY: errors_wrong_arity(s, name); return;
    case PXE_NOAUTH: errors_noauth(s); return;
    case PXE_CROSSSLOT: errors_crossslot(s); return;
    case PXE_UNSUPPORTED: errors_unsupported(s, name, reason); return;
    case PXE_PUBSUB_CONTEXT: errors_pubsub_context(s, name); return;
    case PXE_CLUSTER_DISABLED: errors_cluster_disabled(s); return;
    case PXE_CROSSSERVER: errors_crossserver(s); return;
    case PXE_ONESHOT: errors_oneshot(s, name); return;
    case PXE_OTHER_DB: errors_copy_db_pool(s); return;
    case PXE_NONE: break;
    }
    errors_no_handler(s, name ? name : "?");
}

void errors_unknown_command(struct sbuf *s, const char *base, const struct resp_span *argv,
                            uint32_t argc)
{
    /* Redis's rejectCommandFormat: each argument quoted and cut to what is left of 128 bytes,
     * stopping once 128 are used (the quotes may take the list a little past), the name cut at
     * 128. */
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
    /* As Redis writes it: the command upper-cased, the subcommand as the client typed it. */
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

/* A subcommand's full name is "config|get": Redis prints that too. */
void errors_wrong_arity(struct sbuf *s, const char *fullname)
{
    resp_write_errorf(s, "ERR wrong number of arguments for '%s' command", fullname);
}

void errors_crossslot(struct sbuf *s)
{
    sbuf_puts(s, "-CROSSSLOT Keys in request don't hash to the same slot\r\n");
}

void errors_crossserver(struct sbuf *s)
{
    sbuf_puts(s, "-CROSSSLOT Keys in request don't hash to the same server of the pool\r\n");
}

void errors_copy_db_pool(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Copying to another database is not allowed through slotproxy: only "
                 "database 0, as the connections to the pool's servers are shared\r\n");
}

void errors_cluster_disabled(struct sbuf *s)
{
    sbuf_puts(s, "-ERR This instance has cluster support disabled\r\n");
}

void errors_oneshot(struct sbuf *s, const char *name)
{
    /* "client|info" as a client writes it: CLIENT INFO. */
    char cmd[64];
    size_t n = 0;
    for (; name[n] && n < sizeof(cmd) - 1; n++)
        cmd[n] = name[n] == '|' ? ' ' : (char)toupper((unsigned char)name[n]);
    cmd[n] = '\0';
    resp_write_errorf(s,
                      "ERR '%s' cannot be used over HTTP: it needs a connection that outlives one "
                      "request",
                      cmd);
}

void errors_noauth(struct sbuf *s)
{
    sbuf_puts(s, "-NOAUTH Authentication required.\r\n");
}

void errors_unsupported(struct sbuf *s, const char *name, const char *reason)
{
    resp_write_errorf(s, "ERR '%s' %s", name, reason);
}

void errors_pubsub_context(struct sbuf *s, const char *name)
{
    resp_write_errorf(s,
                      "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                      "QUIT / RESET are allowed in this context",
                      name);
}

/* ---- the cluster behind the proxy ---- */

/* The proxy's own texts. CLUSTERDOWN where the command did not run (a client may retry it as it
 * would on a cluster that is down); ERR saying "may or may not have run" where it may have. */

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

void errors_no_master(struct sbuf *s, enum errors_mode m)
{
    if (m != ERRM_CLUSTER)
        errors_pool_empty(s, m == ERRM_POOL_EJECT);
    else
        sbuf_puts(s, "-CLUSTERDOWN The cluster is down (no master known)\r\n");
}

void errors_unserved(struct sbuf *s, int have_map, enum errors_mode m)
{
    if (!have_map)
        errors_no_topology(s);
    else if (m != ERRM_CLUSTER)
        errors_pool_empty(s, m == ERRM_POOL_EJECT);
    else
        errors_slot_unserved(s);
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

void errors_config_partial(struct sbuf *s, const char *ip, int port, const char *err, size_t len,
                           int undone)
{
    resp_write_errorf(s, "ERR CONFIG SET refused by node %s:%d (%.*s); %s", ip, port, (int)len, err,
                      undone ? "the change was undone on the nodes that had taken it"
                             : "it could not be undone on every node that had taken it");
}

void errors_config_per_node(struct sbuf *s, const char *name, size_t len)
{
    resp_write_errorf(s,
                      "ERR 'config|set' of '%.*s' cannot be used through slotproxy: each node "
                      "keeps its own, set it on the node itself",
                      (int)strnlen(name, len), name);
}

void errors_busy_script(struct sbuf *s, int function)
{
    sbuf_puts(s, function ? "-BUSY Redis is busy running a script. You can only call FUNCTION "
                            "KILL or SHUTDOWN NOSAVE.\r\n"
                          : "-BUSY Redis is busy running a script. You can only call SCRIPT "
                            "KILL or SHUTDOWN NOSAVE.\r\n");
}

void errors_cross_no_tmp(struct sbuf *s)
{
    sbuf_puts(s, "-ERR cannot compute across servers: no temporary key name is placed on the "
                 "server that holds the first key\r\n");
}

void errors_no_such_client(struct sbuf *s)
{
    sbuf_puts(s, "-ERR No such client\r\n");
}

void errors_client_id_positive(struct sbuf *s)
{
    sbuf_puts(s, "-ERR client-id should be greater than 0\r\n");
}

void errors_no_such_user(struct sbuf *s, const char *name, size_t len)
{
    /* Redis formats the name with %s: it ends at a NUL byte. */
    resp_write_errorf(s, "ERR No such user '%.*s'", (int)strnlen(name, len), name);
}

void errors_pause_mode(struct sbuf *s)
{
    sbuf_puts(s, "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n");
}

void errors_timeout_not_integer(struct sbuf *s)
{
    sbuf_puts(s, "-ERR timeout is not an integer or out of range\r\n");
}

void errors_timeout_negative(struct sbuf *s)
{
    sbuf_puts(s, "-ERR timeout is negative\r\n");
}

void errors_slowlog_count(struct sbuf *s)
{
    sbuf_puts(s, "-ERR count should be greater than or equal to -1\r\n");
}

void errors_config_unreachable(struct sbuf *s, const char *ip, int port, const char *err,
                               size_t len)
{
    resp_write_errorf(
        s, "ERR CONFIG SET not applied: node %s:%d did not give its current values (%.*s)", ip,
        port, (int)len, err);
}

void errors_node_refused(struct sbuf *s, const char *ip, int port, const char *err, size_t len)
{
    resp_write_errorf(s, "ERR node %s:%d refused it (%.*s); the other nodes did it", ip, port,
                      (int)len, err);
}

void errors_tracking(struct sbuf *s, enum px_trk_err e)
{
    static const char *const text[] = {
        [PXT_REDIRECT_TWICE] = "-ERR A client can only redirect to a single other client\r\n",
        [PXT_REDIRECT_MISSING] = "-ERR The client ID you want redirect to does not exist\r\n",
        [PXT_PREFIX_NEEDS_BCAST] = "-ERR PREFIX option requires BCAST mode to be enabled\r\n",
        [PXT_BCAST_SWITCH] = "-ERR You can't switch BCAST mode on/off before disabling tracking "
                             "for this client, and then re-enabling it with a different mode.\r\n",
        [PXT_OPT_BCAST] = "-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
        [PXT_OPTIN_OPTOUT] = "-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n",
        [PXT_OPT_SWITCH] = "-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for "
                           "this client, and then re-enabling it with a different mode.\r\n",
        [PXT_CACHING_OFF] = "-ERR CLIENT CACHING can be called only when the client is in "
                            "tracking mode with OPTIN or OPTOUT mode enabled\r\n",
        [PXT_CACHING_YES] = "-ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                            "OPTIN mode.\r\n",
        [PXT_CACHING_NO] = "-ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                           "OPTOUT mode.\r\n",
    };
    sbuf_puts(s, text[e]);
}

void errors_tracking_prefix_overlap(struct sbuf *s, const char *prefix, size_t len,
                                    const char *with, size_t with_len, int other)
{
    /* Redis formats them with %s: each ends at its first NUL byte. */
    size_t n = strnlen(prefix, len), m = strnlen(with, with_len);
    resp_write_errorf(s,
                      "ERR Prefix '%.*s' overlaps with %s prefix '%.*s'. Prefixes for a single "
                      "client must not overlap.",
                      (int)n, prefix, other ? "another provided" : "an existing", (int)m, with);
}

void errors_node_stalled(struct sbuf *s, const char *addr, uint64_t timeout_ms)
{
    resp_write_errorf(
        s,
        "ERR node %s has answered nothing for %llu ms (-backend-timeout); the command "
        "was not sent",
        addr, (unsigned long long)timeout_ms);
}

void errors_node_deposed(struct sbuf *s, const char *addr)
{
    resp_write_errorf(s,
                      "ERR node %s stalled and was failed over before its reply; the command may "
                      "or may not have run",
                      addr);
}

void errors_stall_unconfirmed(struct sbuf *s, const char *addr, uint64_t hold_ms)
{
    resp_write_errorf(s,
                      "ERR node %s answered after stalling, but the cluster did not confirm it "
                      "still serves its slots within %llu ms (-stall-hold); the command may or may "
                      "not have run",
                      addr, (unsigned long long)hold_ms);
}

void errors_too_many_redirects(struct sbuf *s, const char *last, uint32_t len)
{
    resp_write_errorf(s, "ERR too many cluster redirections (last: %.*s)", (int)len, last);
}

void errors_topology_changed(struct sbuf *s)
{
    sbuf_puts(s, "-ERR the cluster's masters changed during the request; retry it\r\n");
}

void errors_unexpected_reply(struct sbuf *s, const char *what)
{
    resp_write_errorf(s, "ERR slotproxy: unexpected reply from a node while merging %s", what);
}

/* ---- pool mode's servers ---- */

void errors_server_unreachable(struct sbuf *s, const char *addr, const char *why)
{
    resp_write_errorf(s, "ERR server %s is unreachable%s%s", addr, why && *why ? ": " : "",
                      why ? why : "");
}

void errors_pool_empty(struct sbuf *s, int ejecting)
{
    if (ejecting)
        sbuf_puts(s, "-ERR no server of the pool is available: every server is ejected "
                     "(-auto-eject-hosts)\r\n");
    else
        sbuf_puts(s, "-ERR no server of the pool is available: none answers\r\n");
}

void errors_pool_changed(struct sbuf *s)
{
    sbuf_puts(s, "-ERR the pool's servers changed while the request waited; it did not run, "
                 "retry it\r\n");
}

/* The word at the start of line is code. */
static int starts_with(const char *line, size_t len, const char *code)
{
    size_t n = strlen(code);
    return len >= n && memcmp(line, code, n) == 0;
}

/* 1 when line starts with one of the n prefixes. */
static int starts_with_any(const char *line, size_t len, const char *const *codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (starts_with(line, len, codes[i])) return 1;
    return 0;
}

int errors_is_unavailable(const char *line, size_t len)
{
    static const char *const codes[] = {
        "CLUSTERDOWN ", "TRYAGAIN ", "LOADING ", "MASTERDOWN ", "BUSY ", "ERR connection to node ",
        "ERR node ", "ERR too many cluster redirections", "ERR the cluster's masters changed",
        /* a pool's (errors_server_unreachable, ...) */
        "ERR server ", "ERR no server of the pool is available", "ERR the pool's servers changed"};
    return starts_with_any(line, len, codes, sizeof(codes) / sizeof(codes[0]));
}

int errors_is_script_refused(const char *line, size_t len)
{
    static const char *const codes[] = {
        "ERR Error compiling script", "ERR Unexpected flag in script shebang",
        "ERR Unknown lua shebang option", "ERR Unexpected engine in script shebang"};
    return starts_with_any(line, len, codes, sizeof(codes) / sizeof(codes[0]));
}

unsigned errors_http_status(const char *line, size_t len)
{
    /* An EXEC refused before it ran: the status of its reason (NOPERM is still 403). */
    static const char abort_prefix[] = "EXECABORT Transaction discarded because of: ";
    size_t ap = sizeof(abort_prefix) - 1;
    if (len > ap && memcmp(line, abort_prefix, ap) == 0) {
        line += ap;
        len -= ap;
    }
    if (starts_with(line, len, "NOAUTH ") || starts_with(line, len, "WRONGPASS ")) return 401;
    if (starts_with(line, len, "NOPERM ")) return 403;
    return errors_is_unavailable(line, len) ? 502 : 400;
}

int errors_may_have_run(const char *line, size_t len)
{
    static const char tail[] = "the command may or may not have run";
    size_t n = sizeof(tail) - 1;
    return len >= n && memcmp(line + len - n, tail, n) == 0;
}

int errors_is_busykey(const char *line, size_t len)
{
    return starts_with(line, len, "BUSYKEY ");
}

int errors_is_busy(const char *line, size_t len)
{
    return starts_with(line, len, "BUSY ");
}

/* ---- -cross-slot compute ---- */

void errors_wrongtype(struct sbuf *s)
{
    sbuf_puts(s, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
}

void errors_no_such_key(struct sbuf *s)
{
    sbuf_puts(s, "-ERR no such key\r\n");
}

void errors_db_out_of_range(struct sbuf *s)
{
    sbuf_puts(s, "-ERR DB index is out of range\r\n");
}

void errors_copy_other_db(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Copying to another database is not allowed in cluster mode\r\n");
}

#define CROSS_DETAIL_MAX 200 /* an error quoted inside another is cut here */

void errors_cross(struct sbuf *s, const char *name, enum px_cross_fail how, const char *err,
                  uint32_t errlen, const char *err2, uint32_t err2len, const char *key,
                  uint32_t keylen)
{
    /* No error to quote: what the proxy found instead. */
    if (!err) {
        err = "a key was written meanwhile by another client";
        errlen = (uint32_t)strlen(err);
    }
    if (!err2) {
        err2 = "the source key was written meanwhile by another client";
        err2len = (uint32_t)strlen(err2);
    }
    int l1 = (int)(errlen < CROSS_DETAIL_MAX ? errlen : CROSS_DETAIL_MAX);
    int l2 = (int)(err2len < CROSS_DETAIL_MAX ? err2len : CROSS_DETAIL_MAX);
    switch (how) {
    case PXC_PUT_BACK:
        resp_write_errorf(s,
                          "ERR cross-slot %s failed: writing the destination failed (%.*s); the "
                          "source was put back as it was%s",
                          name, l1, err,
                          errors_may_have_run(err, errlen)
                              ? ", but the destination may have been written as well"
                              : ", so nothing changed");
        return;
    case PXC_LOST:
        if (key)
            resp_write_errorf(s,
                              "ERR cross-slot %s failed half way: writing the destination failed "
                              "(%.*s) and putting the source back failed (%.*s); the value is "
                              "left under the key '%.*s'",
                              name, l1, err, l2, err2, (int)keylen, key);
        else
            resp_write_errorf(s,
                              "ERR cross-slot %s failed half way: the value was taken from the "
                              "source, writing the destination failed (%.*s) and putting it back "
                              "failed (%.*s); it may be lost",
                              name, l1, err, l2, err2);
        return;
    case PXC_UNDONE:
        resp_write_errorf(s,
                          "ERR cross-slot %s failed (%.*s); the keys it had set in other slots "
                          "were deleted again, so nothing was set",
                          name, l1, err);
        return;
    case PXC_NOT_UNDONE:
        resp_write_errorf(s,
                          "ERR cross-slot %s failed half way (%.*s) and deleting the keys it had "
                          "set failed (%.*s): the keys may be partially set",
                          name, l1, err, l2, err2);
        return;
    }
}

/* ---- the HTTP front ---- */

void errors_http(struct sbuf *s, enum px_http_err e, const char *detail)
{
    static const char *const text[PXH_COUNT] = {
        [PXH_METHOD] = "ERR use POST",
        [PXH_NOT_FOUND] = "ERR not found: send commands to /",
        /* One string over two lines: the parentheses tell clang it is meant. */
        [PXH_CONTENT_TYPE] = ("ERR unsupported content type: send application/json, "
                              "application/x-www-form-urlencoded or multipart/form-data"),
        [PXH_BODY_TOO_LARGE] = "ERR request body larger than -query-buffer-limit",
        [PXH_BAD_JSON] = "ERR malformed JSON body",
        [PXH_BAD_FORM] = "ERR malformed form body",
        [PXH_NO_COMMAND] = "ERR no command given",
        [PXH_BAD_ARGUMENT] = "ERR arguments must be strings, numbers or {\"base64\": \"...\"}",
        [PXH_TOO_MANY_ARGS] = "ERR too many arguments",
        [PXH_ARG_TOO_LONG] = "ERR argument longer than -proto-max-bulk-len",
        [PXH_BAD_RESP] = "ERR resp must be 2 or 3",
        [PXH_TIMEOUT] = "ERR no reply within -http-timeout; the command may or may not have run",
        [PXH_SHUTTING_DOWN] = "ERR slotproxy is shutting down",
        [PXH_REPLY_TOO_LARGE] = "ERR reply larger than -client-output-buffer-limit",
        [PXH_BAD_REPLY] = "ERR slotproxy could not turn the reply into JSON",
        [PXH_BAD_AUTH] = ("ERR the Authorization header is not HTTP Basic credentials "
                          "(user:password in base64)"),
    };
    sbuf_puts(s, e < PXH_COUNT && text[e] ? text[e] : "ERR bad request");
    if (detail && *detail) {
        sbuf_puts(s, ": ");
        sbuf_puts(s, detail);
    }
}

/* ---- transactions ---- */

/* Redis's texts, and the proxy's own for what a transaction over a cluster adds: a connection
 * lost, a slot that moved. */

void errors_no_multi_command(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Command not allowed inside a transaction\r\n");
}

void errors_not_in_multi(struct sbuf *s, const char *name)
{
    resp_write_errorf(s, "ERR '%s' cannot be used inside MULTI through slotproxy", name);
}

void errors_tx_after_write(struct sbuf *s, const char *name)
{
    resp_write_errorf(s,
                      "ERR '%s' cannot follow FLUSHALL, FLUSHDB or another write slotproxy runs "
                      "itself inside MULTI: slotproxy runs those after the rest of the "
                      "transaction",
                      name);
}

void errors_tx_combine(struct sbuf *s, uint32_t got, uint32_t want)
{
    resp_write_errorf(s,
                      "ERR the node answered EXEC with %u replies where slotproxy queued %u "
                      "commands; the commands slotproxy runs itself were not run",
                      got, want);
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

void errors_multi_nested(struct sbuf *s)
{
    sbuf_puts(s, "-ERR MULTI calls can not be nested\r\n");
}

void errors_exec_without_multi(struct sbuf *s)
{
    sbuf_puts(s, "-ERR EXEC without MULTI\r\n");
}

void errors_discard_without_multi(struct sbuf *s)
{
    sbuf_puts(s, "-ERR DISCARD without MULTI\r\n");
}

void errors_watch_in_multi(struct sbuf *s)
{
    sbuf_puts(s, "-ERR WATCH inside MULTI is not allowed\r\n");
}

void errors_execabort_because(struct sbuf *s, const char *err, size_t len)
{
    if (len && err[0] == '-') {
        err++;
        len--;
    }
    /* Redis quotes the text of a refusal it formats (arity) without the ERR code it would add. */
    if (len >= 4 && memcmp(err, "ERR ", 4) == 0) {
        err += 4;
        len -= 4;
    }
    while (len && (err[len - 1] == '\n' || err[len - 1] == '\r')) len--;
    sbuf_puts(s, "-EXECABORT Transaction discarded because of: ");
    sbuf_put(s, err, len);
    sbuf_puts(s, "\r\n");
}

void errors_execabort(struct sbuf *s)
{
    sbuf_puts(s, "-EXECABORT Transaction discarded because of previous errors.\r\n");
}

/* ---- connection state and the commands the proxy answers ---- */

/* Redis 7's texts, for the commands the proxy answers without a node. */

void errors_syntax(struct sbuf *s)
{
    sbuf_puts(s, "-ERR syntax error\r\n");
}

void errors_not_integer(struct sbuf *s)
{
    sbuf_puts(s, "-ERR value is not an integer or out of range\r\n");
}

void errors_wrongpass(struct sbuf *s)
{
    sbuf_puts(s, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
}

void errors_auth_no_password(struct sbuf *s)
{
    sbuf_puts(s, "-ERR AUTH <password> called without any password configured for the default "
                 "user. Are you sure your configuration is correct?\r\n");
}

void errors_hello_proto_not_integer(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Protocol version is not an integer or out of range\r\n");
}

void errors_noproto(struct sbuf *s)
{
    sbuf_puts(s, "-NOPROTO unsupported protocol version\r\n");
}

void errors_hello_option(struct sbuf *s, const char *opt, uint32_t len)
{
    resp_write_errorf(s, "ERR Syntax error in HELLO option '%.*s'", (int)len, opt);
}

void errors_hello_noauth(struct sbuf *s)
{
    sbuf_puts(s, "-NOAUTH HELLO must be called with the client already authenticated, otherwise "
                 "the HELLO AUTH <user> <pass> option can be used to authenticate the "
                 "client and select the RESP protocol version at the same time\r\n");
}

void errors_bad_client_name(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
}

void errors_bad_lib_attr(struct sbuf *s, const char *attr)
{
    resp_write_errorf(s, "ERR %s cannot contain spaces, newlines or special characters.", attr);
}

void errors_unrecognized_option(struct sbuf *s, const char *opt, uint32_t len)
{
    resp_write_errorf(s, "ERR Unrecognized option '%.*s'", (int)len, opt);
}

/* Redis's text, its missing "be" included. */
void errors_select_range(struct sbuf *s)
{
    sbuf_puts(s, "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n");
}

void errors_select_cluster(struct sbuf *s)
{
    sbuf_puts(s, "-ERR SELECT is not allowed in cluster mode\r\n");
}

void errors_monitor_in_multi(struct sbuf *s)
{
    sbuf_puts(s, "-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n");
}

void errors_select_pool(struct sbuf *s)
{
    sbuf_puts(s, "-ERR SELECT is not allowed through slotproxy: only database 0, as the "
                 "connections to the pool's servers are shared\r\n");
}

void errors_invalid_slot(struct sbuf *s, int with_count)
{
    sbuf_puts(s, with_count ? "-ERR Invalid slot or number of keys\r\n" : "-ERR Invalid slot\r\n");
}

void errors_unknown_client_type(struct sbuf *s, const char *t, uint32_t len)
{
    resp_write_errorf(s, "ERR Unknown client type '%.*s'", (int)len, t);
}

void errors_invalid_client_id(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Invalid client ID\r\n");
}

void errors_invalid_cursor(struct sbuf *s)
{
    sbuf_puts(s, "-ERR invalid cursor\r\n");
}

void errors_no_handler(struct sbuf *s, const char *name)
{
    resp_write_errorf(s, "ERR internal error: no handler for '%s'", name);
}

/* ---- ACL users ---- */

/* Redis 7.0.15's texts (server.c's processCommand, acl.c's aclCommand and ACLLoadFromFile). */

void errors_noperm(struct sbuf *s, int reason, const char *name)
{
    if (reason == ACL_DENIED_CMD)
        resp_write_errorf(s, "NOPERM this user has no permissions to run the '%s' command", name);
    else if (reason == ACL_DENIED_KEY)
        sbuf_puts(s, "-NOPERM this user has no permissions to access one of the keys used as "
                     "arguments\r\n");
    else if (reason == ACL_DENIED_CHANNEL)
        sbuf_puts(s, "-NOPERM this user has no permissions to access one of the channels used "
                     "as arguments\r\n");
    else
        sbuf_puts(s, "-ERR no permission\r\n");
}

const char *errors_acl_reason(int code)
{
    switch (code) {
    case ACL_ERR_UNKNOWN: return "Unknown command or category name in ACL";
    case ACL_ERR_SYNTAX: return "Syntax error";
    case ACL_ERR_KEYS_AFTER_ALL:
        return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
               "does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
    case ACL_ERR_CHANS_AFTER_ALL:
        return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid "
               "and does not have any effect. Try 'resetchannels' to start with an empty list of "
               "channels";
    case ACL_ERR_NO_SUCH_PASS:
        return "The password you are trying to remove from the user does not exist";
    case ACL_ERR_BAD_HASH:
        return "The password hash must be exactly 64 characters and contain only lowercase "
               "hexadecimal characters";
    case ACL_ERR_DUPLICATE:
        return "Duplicate user found. A user can only be defined once in config files";
    case ACL_ERR_FIRSTARG_OF_SUB: return "Allowing first-arg of a subcommand is not supported";
    default: return "Wrong format";
    }
}

/* An error reply whose text carries a client's bytes: cut at the first NUL (Redis formats it
 * as a C string) and with line breaks made spaces (addReplyErrorSdsSafe). */
static void error_safe(struct sbuf *s, const char *text, size_t len)
{
    sbuf_put(s, "-", 1);
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        sbuf_put(s, c == '\r' || c == '\n' ? " " : &c, 1);
    }
    sbuf_puts(s, "\r\n");
}

void errors_acl_setuser(struct sbuf *s, int code, const char *op, size_t oplen)
{
    struct sbuf t;
    sbuf_init(&t);
    size_t l = c_len(op, oplen);
    if (code == ACL_ERR_UNMATCHED_PAREN) {
        sbuf_puts(&t, "ERR Unmatched parenthesis in acl selector starting at '");
        sbuf_put(&t, op, l);
        sbuf_puts(&t, "'.");
    } else {
        sbuf_puts(&t, "ERR Error in ACL SETUSER modifier '");
        sbuf_put(&t, op, l);
        sbuf_printf(&t, "': %s", errors_acl_reason(code));
    }
    error_safe(s, t.buf, t.len);
    sbuf_free(&t);
}

void errors_acl_username(struct sbuf *s)
{
    sbuf_puts(s, "-ERR Usernames can't contain spaces or null characters\r\n");
}

void errors_acl_deldefault(struct sbuf *s)
{
    sbuf_puts(s, "-ERR The 'default' user cannot be removed\r\n");
}

void errors_acl_no_file(struct sbuf *s)
{
    sbuf_puts(s, "-ERR This Redis instance is not configured to use an ACL file. You may want to "
                 "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
                 "(assuming you have a Redis configuration file set) in order to store users in "
                 "the Redis configuration.\r\n");
}

void errors_acl_load_open(struct sbuf *s, const char *file, const char *why)
{
    struct sbuf t;
    sbuf_init(&t);
    sbuf_printf(&t, "ERR Error loading ACLs, opening file '%s': %s", file, why);
    error_safe(s, t.buf, t.len);
    sbuf_free(&t);
}

void errors_acl_load(struct sbuf *s, const char *file, const struct acl_load_report *rep,
                     int as_reply)
{
    struct sbuf t;
    sbuf_init(&t);
    if (as_reply) sbuf_puts(&t, "ERR ");
    for (uint32_t i = 0; i < rep->n; i++) {
        const struct acl_load_problem *p = &rep->v[i];
        size_t al = p->arg ? c_len(p->arg, p->arglen) : 0;
        switch (p->kind) {
        case ACL_LOAD_NO_USER_KEYWORD:
            sbuf_printf(&t, "%s:%d should start with user keyword followed by the username. ", file,
                        p->line);
            break;
        case ACL_LOAD_BAD_USERNAME: /* Redis's text, its stray quote included */
            sbuf_printf(&t, "'%s:%d: username '%.*s' contains invalid characters. ", file, p->line,
                        (int)al, p->arg);
            break;
        case ACL_LOAD_DUPLICATE:
            sbuf_printf(&t, "WARNING: Duplicate user '%.*s' found on line %d. ", (int)al, p->arg,
                        p->line);
            break;
        case ACL_LOAD_UNMATCHED_PAREN:
            sbuf_printf(&t, "%s:%d: Unmatched parenthesis in selector definition.", file, p->line);
            break;
        case ACL_LOAD_UNKNOWN_OP:
            sbuf_printf(&t, "%s:%d: Error in applying operation '%.*s': %s. ", file, p->line,
                        (int)al, p->arg, errors_acl_reason(p->code));
            break;
        case ACL_LOAD_BAD_OP:
            sbuf_printf(&t, "%s:%d: %s. ", file, p->line, errors_acl_reason(p->code));
            break;
        }
    }
    sbuf_puts(&t, "WARNING: ACL errors detected, no change to the previously active ACL rules "
                  "was performed");
    if (as_reply)
        error_safe(s, t.buf, t.len);
    else
        sbuf_put(s, t.buf, t.len);
    sbuf_free(&t);
}

void errors_acl_save(struct sbuf *s)
{
    sbuf_puts(s, "-ERR There was an error trying to save the ACLs. Please check the server logs "
                 "for more information\r\n");
}

void errors_acl_unknown_category(struct sbuf *s, const char *name, size_t len)
{
    size_t l = c_len(name, len);
    resp_write_errorf(s, "ERR Unknown category '%.*s'", (int)(l > 128 ? 128 : l), name);
}

void errors_acl_genpass(struct sbuf *s)
{
    sbuf_puts(s, "-ERR ACL GENPASS argument must be the number of bits for the output password, "
                 "a positive number up to 4096\r\n");
}

void errors_acl_no_user(struct sbuf *s, const char *name, size_t len)
{
    struct sbuf t;
    sbuf_init(&t);
    sbuf_puts(&t, "ERR User '");
    sbuf_put(&t, name, c_len(name, len));
    sbuf_puts(&t, "' not found");
    error_safe(s, t.buf, t.len);
    sbuf_free(&t);
}

void errors_acl_no_command(struct sbuf *s, const char *name, size_t len)
{
    struct sbuf t;
    sbuf_init(&t);
    sbuf_puts(&t, "ERR Command '");
    sbuf_put(&t, name, c_len(name, len));
    sbuf_puts(&t, "' not found");
    error_safe(s, t.buf, t.len);
    sbuf_free(&t);
}

void errors_acl_dryrun(struct sbuf *s, int reason, const char *name, const char *arg, size_t arglen)
{
    struct sbuf t;
    sbuf_init(&t);
    if (reason == ACL_DENIED_CMD) {
        sbuf_printf(&t, "This user has no permissions to run the '%s' command", name);
    } else {
        sbuf_puts(&t, "This user has no permissions to access the '");
        sbuf_put(&t, arg, c_len(arg, arglen));
        sbuf_puts(&t, reason == ACL_DENIED_KEY ? "' key" : "' channel");
    }
    resp_write_bulk(s, t.buf, t.len);
    sbuf_free(&t);
}

void errors_subcommand_syntax(struct sbuf *s, const char *cmd, size_t cmdlen, const char *sub,
                              size_t sublen)
{
    char up[129];
    size_t nl = c_len(cmd, cmdlen);
    if (nl > 128) nl = 128;
    for (size_t i = 0; i < nl; i++) up[i] = (char)toupper((unsigned char)cmd[i]);
    up[nl] = '\0';
    size_t sl = c_len(sub, sublen);
    if (sl > 128) sl = 128;
    resp_write_errorf(s,
                      "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try %s "
                      "HELP.",
                      (int)sl, sub, up);
}

/* ---- the connection itself ---- */

/* Each is the last thing the client reads: the connection is closed once it is written (by the
 * session, or by the acceptor for the last two), as Redis does. */

void errors_protocol(struct sbuf *s, const struct resp_req_result *res)
{
    switch (res->err) {
    case RESP_REQ_ERR_INLINE_TOO_BIG:
        sbuf_puts(s, "-ERR Protocol error: too big inline request\r\n");
        return;
    case RESP_REQ_ERR_UNBALANCED_QUOTES:
        sbuf_puts(s, "-ERR Protocol error: unbalanced quotes in request\r\n");
        return;
    case RESP_REQ_ERR_MBULK_TOO_BIG:
        sbuf_puts(s, "-ERR Protocol error: too big mbulk count string\r\n");
        return;
    case RESP_REQ_ERR_MBULK_INVALID:
        sbuf_puts(s, "-ERR Protocol error: invalid multibulk length\r\n");
        return;
    case RESP_REQ_ERR_BULK_TOO_BIG:
        sbuf_puts(s, "-ERR Protocol error: too big bulk count string\r\n");
        return;
    case RESP_REQ_ERR_BULK_INVALID:
        sbuf_puts(s, "-ERR Protocol error: invalid bulk length\r\n");
        return;
    case RESP_REQ_ERR_UNAUTH_MBULK:
        sbuf_puts(s, "-ERR Protocol error: unauthenticated multibulk length\r\n");
        return;
    case RESP_REQ_ERR_UNAUTH_BULK:
        sbuf_puts(s, "-ERR Protocol error: unauthenticated bulk length\r\n");
        return;
    case RESP_REQ_ERR_EXPECTED_DOLLAR: {
        /* Redis turns CR and LF in error messages into spaces, so the reply stays one line. */
        char c = (res->bad_char == '\r' || res->bad_char == '\n') ? ' ' : res->bad_char;
        sbuf_puts(s, "-ERR Protocol error: expected '$', got '");
        /* Redis formats the byte into a C string: a NUL byte ends the text there. */
        if (c != '\0') {
            sbuf_put(s, &c, 1);
            sbuf_puts(s, "'");
        }
        sbuf_puts(s, "\r\n");
        return;
    }
    default: sbuf_puts(s, "-ERR Protocol error\r\n"); return;
    }
}

void errors_maxclients(struct sbuf *s)
{
    sbuf_puts(s, "-ERR max number of clients reached\r\n");
}

/* Redis's remedies map to the proxy's -protected-mode no and -requirepass. The text is Redis's
 * byte for byte, "Setup a an" included. */
void errors_denied(struct sbuf *s)
{
    sbuf_puts(
        s, "-DENIED Redis is running in protected mode because protected mode is enabled and no "
           "password is set for the default user. In this mode connections are only accepted from "
           "the loopback interface. If you want to connect from external computers to Redis you "
           "may adopt one of the following solutions: 1) Just disable protected mode sending the "
           "command 'CONFIG SET protected-mode no' from the loopback interface by connecting to "
           "Redis from the same host the server is running, however MAKE SURE Redis is not "
           "publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change "
           "permanent. 2) Alternatively you can just disable the protected mode by editing the "
           "Redis configuration file, and setting the protected mode option to 'no', and then "
           "restarting the server. 3) If you started the server manually just for testing, "
           "restart it with the '--protected-mode no' option. 4) Setup a an authentication "
           "password for the default user. NOTE: You only need to do one of the above things in "
           "order for the server to start accepting connections from the outside.\r\n");
}
