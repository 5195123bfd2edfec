/*
 * Connection-level commands answered by the proxy (HELLO, AUTH, SELECT, CLIENT ..., RESET,
 * READONLY/READWRITE, QUIT), its one-node CLUSTER view, clear refusals for commands that cannot
 * work through a proxy, and -requirepass. Texts are compared with what a cluster node answers
 * where the proxy answers as a cluster node would.
 */
#include "harness.h"
#include "suites.h"

#include "crc16.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The same bytes to a cluster node and to the proxy on one connection each: identical replies. */
static void same_as_node(const char *req)
{
    static char a[1 << 14], b[1 << 14];
    int ca, cb;
    size_t len = strlen(req);
    size_t na = h_raw(h_env.cluster_port, req, len, a, sizeof(a), 300, 0, &ca);
    size_t nb = h_raw(h_env.proxy_port, req, len, b, sizeof(b), 300, 0, &cb);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "request %s\nnode:  [%s]\nproxy: [%s]", req, a,
                  b);
}

START_TEST(test_same_texts_as_a_node)
{
    same_as_node("SELECT 0\r\nSELECT 1\r\nSELECT x\r\nSELECT -1\r\nSELECT 99999999999\r\n");
    same_as_node("HELLO 4\r\nHELLO x\r\nHELLO 2 FOO\r\nHELLO 2 SETNAME \"a b\"\r\n");
    same_as_node("HELLO 2 AUTH default\r\nHELLO 2 SETNAME\r\n");
    same_as_node("AUTH foo\r\nAUTH default foo\r\nAUTH bob foo\r\nAUTH a b c\r\n");
    same_as_node("CLIENT SETNAME \"a b\"\r\nCLIENT SETNAME abc\r\nCLIENT GETNAME\r\n"
                 "CLIENT SETNAME \"\"\r\nCLIENT GETNAME\r\n");
    same_as_node("CLIENT REPLY FOO\r\nCLIENT NO-EVICT maybe\r\nCLIENT NO-EVICT on\r\n");
    same_as_node("RESET\r\nREADONLY\r\nREADWRITE\r\nPING\r\nPING a\r\nPING a b\r\nECHO x\r\n");
    same_as_node("CLUSTER KEYSLOT foo\r\nCLUSTER KEYSLOT {user1}.x\r\n"
                 "CLUSTER COUNTKEYSINSLOT 99999\r\nCLUSTER COUNTKEYSINSLOT x\r\n"
                 "CLUSTER GETKEYSINSLOT 5 x\r\nCLUSTER GETKEYSINSLOT 5 -1\r\n"
                 "CLUSTER GETKEYSINSLOT 16384 1\r\n");
    same_as_node("CLIENT LIST TYPE foo\r\nCLIENT LIST ID x\r\nCLIENT LIST TYPE master\r\n");
}
END_TEST

/* CLIENT LIST's filters as Redis 7.0.15 reads them: an id that is an integer but no client's
 * (0, -1) lists nothing, a word is an invalid id wherever it stands, and TYPE or ID is the one
 * filter (TYPE with nothing after its type). The ids no client has give the node's bytes. */
START_TEST(test_client_list_filters_as_a_node)
{
    same_as_node("CLIENT LIST ID -1\r\nCLIENT LIST ID 0\r\nCLIENT LIST ID 0 -1\r\n"
                 "CLIENT LIST ID abc\r\nCLIENT LIST ID -1 abc\r\nCLIENT LIST ID 1 TYPE normal\r\n"
                 "CLIENT LIST ID 9223372036854775808\r\nCLIENT LIST ID +1\r\n");
    same_as_node("CLIENT LIST TYPE normal ID 1\r\nCLIENT LIST TYPE normal TYPE pubsub\r\n"
                 "CLIENT LIST TYPE normal x\r\nCLIENT LIST ID\r\nCLIENT LIST TYPE\r\n"
                 "CLIENT LIST foo\r\n");
    /* Each id in the order given, as often as given; ids of nobody skipped. */
    redisContext *a = h_connect(h_env.proxy_port), *b = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(a, "CLIENT SETNAME la"), "OK");
    h_expect_str(h_cmd(b, "CLIENT SETNAME lb"), "OK");
    redisReply *r = h_cmd(a, "CLIENT ID");
    long long ia = r->integer;
    freeReplyObject(r);
    r = h_cmd(b, "CLIENT ID");
    long long ib = r->integer;
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT LIST ID %lld -1 %lld %lld 0", ib, ia, ib);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    const char *p = r->str;
    const long long order[] = {ib, ia, ib};
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "id=%lld ", order[i]);
        ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "line %d: want %s in\n%s", i, want,
                      r->str);
        ck_assert_ptr_nonnull(strstr(p, order[i] == ia ? " name=la " : " name=lb "));
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    ck_assert_str_eq(p, "");
    freeReplyObject(r);
    redisFree(a);
    redisFree(b);
}
END_TEST

START_TEST(test_hello_and_client)
{
    redisContext *p = h_connect(h_env.proxy_port);
    redisReply *r = h_cmd(p, "HELLO 2 SETNAME myconn");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 14);
    ck_assert_str_eq(r->element[0]->str, "server");
    ck_assert_str_eq(r->element[1]->str, "redis");
    ck_assert_str_eq(r->element[2]->str, "version");
    ck_assert(strncmp(r->element[3]->str, "7.", 2) == 0);
    ck_assert_str_eq(r->element[4]->str, "proto");
    ck_assert_int_eq(r->element[5]->integer, 2);
    ck_assert_str_eq(r->element[6]->str, "id");
    long long id = r->element[7]->integer;
    ck_assert_str_eq(r->element[9]->str, "cluster");
    ck_assert_str_eq(r->element[11]->str, "master");
    ck_assert_int_eq(r->element[13]->elements, 0);
    freeReplyObject(r);
    /* Versions other than 2 and 3 are refused with Redis's text (RESP3 itself: the resp3
     * suite; this hiredis speaks RESP2 only). */
    r = h_cmd(p, "HELLO 4");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "NOPROTO unsupported protocol version");
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "CLIENT GETNAME"), "myconn");
    h_expect_int(h_cmd(p, "CLIENT ID"), id);
    h_expect_str(h_cmd(p, "CLIENT SETINFO LIB-NAME mylib"), "OK");
    h_expect_str(h_cmd(p, "CLIENT SETINFO lib-ver 1.2.3"), "OK");
    r = h_cmd(p, "CLIENT SETINFO lib-name \"a b\"");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "CLIENT NO-TOUCH on"), "OK");
    h_expect_str(h_cmd(p, "READONLY"), "OK");
    r = h_cmd(p, "CLIENT INFO");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof(want), "id=%lld addr=127.0.0.1:", id);
    ck_assert_msg(strncmp(r->str, want, strlen(want)) == 0, "%s", r->str);
    ck_assert_ptr_nonnull(strstr(r->str, " name=myconn "));
    ck_assert_ptr_nonnull(strstr(r->str, " flags=rT "));
    ck_assert_ptr_nonnull(strstr(r->str, " cmd=client|info "));
    ck_assert_ptr_nonnull(strstr(r->str, " lib-name=mylib lib-ver=1.2.3\n"));
    freeReplyObject(r);
    /* CLIENT LIST shows the clients of every worker. */
    redisContext *others[6];
    for (int i = 0; i < 6; i++) {
        others[i] = h_connect(h_env.proxy_port);
        h_expect_str(h_cmd(others[i], "CLIENT SETNAME other%d", i), "OK");
    }
    r = h_cmd(p, "CLIENT LIST");
    for (int i = 0; i < 6; i++) {
        char n[32];
        snprintf(n, sizeof(n), " name=other%d ", i);
        ck_assert_msg(strstr(r->str, n) != NULL, "%s missing from\n%s", n, r->str);
    }
    ck_assert_ptr_nonnull(strstr(r->str, " name=myconn "));
    freeReplyObject(r);
    r = h_cmd(p, "CLIENT LIST ID %lld", id);
    ck_assert_ptr_nonnull(strstr(r->str, " name=myconn "));
    ck_assert_ptr_null(strstr(r->str, " name=other0 "));
    freeReplyObject(r);
    for (int i = 0; i < 6; i++) redisFree(others[i]);

    /* A subscriber: its counts, and of type pubsub (not normal), as Redis lists it. */
    redisContext *sub = h_connect(h_env.proxy_port);
    r = h_cmd(sub, "CLIENT ID");
    long long sub_id = r->integer;
    freeReplyObject(r);
    freeReplyObject(h_cmd(sub, "SUBSCRIBE ch:x ch:y"));
    ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
    freeReplyObject(r);
    freeReplyObject(h_cmd(sub, "PSUBSCRIBE ch:p*"));
    freeReplyObject(h_cmd(sub, "SSUBSCRIBE {t}s"));
    r = h_cmd(p, "CLIENT LIST ID %lld", sub_id);
    ck_assert_msg(strstr(r->str, " flags=P db=0 sub=2 psub=1 ssub=1 ") != NULL, "%s", r->str);
    freeReplyObject(r);
    r = h_cmd(p, "CLIENT LIST TYPE pubsub");
    snprintf(want, sizeof(want), "id=%lld ", sub_id);
    ck_assert_msg(strstr(r->str, want) != NULL, "%s", r->str);
    ck_assert_ptr_null(strstr(r->str, " name=myconn "));
    freeReplyObject(r);
    r = h_cmd(p, "CLIENT LIST TYPE normal");
    ck_assert_ptr_null(strstr(r->str, want));
    ck_assert_ptr_nonnull(strstr(r->str, " name=myconn "));
    freeReplyObject(r);
    redisFree(sub);

    /* Tracking in BCAST mode: t and B. */
    h_expect_str(h_cmd(p, "CLIENT TRACKING on BCAST"), "OK");
    r = h_cmd(p, "CLIENT INFO");
    ck_assert_msg(strstr(r->str, " flags=tBrT ") != NULL, "%s", r->str);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "CLIENT NO-EVICT on"), "OK");

    /* RESET forgets the connection state; NO-EVICT stays, as with Redis 7.0. */
    h_expect_str(h_cmd(p, "RESET"), "RESET");
    r = h_cmd(p, "CLIENT GETNAME");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = h_cmd(p, "CLIENT INFO");
    ck_assert_msg(strstr(r->str, " flags=e ") != NULL, "%s", r->str);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "CLIENT NO-EVICT off"), "OK");
    r = h_cmd(p, "CLIENT INFO");
    ck_assert_ptr_nonnull(strstr(r->str, " flags=N "));
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

/* CLIENT INFO's tot-mem for the connection c. */
static long long tot_mem(redisContext *c)
{
    redisReply *r = h_cmd(c, "CLIENT INFO");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    const char *t = strstr(r->str, " tot-mem=");
    ck_assert_ptr_nonnull(t);
    long long n = atoll(t + 9);
    freeReplyObject(r);
    return n;
}

/* A second without requests, and the session gives back its reader (with the parser) and the
 * state of transactions and the like (issue 8: memory per idle connection). What the client set
 * up survives that: a partial request, its names, a WATCH. The worker looks at its sessions once
 * a second, so 2.2 s of quiet take in a look after at least one second of it. */
START_TEST(test_state_survives_idle_release)
{
    redisContext *p = h_connect(h_env.proxy_port);
    redisContext *q = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(p, "CLIENT SETNAME idler"), "OK");
    h_expect_str(h_cmd(p, "CLIENT SETINFO lib-name idlelib"), "OK");
    h_expect_str(h_cmd(p, "SET idle:{w} 0"), "OK");
    h_expect_str(h_cmd(p, "WATCH idle:{w}"), "OK");
    struct h_rc raw;
    h_rc_open(&raw, h_env.proxy_port);
    const char head[] = "*3\r\n$3\r\nSET\r\n$8\r\nidle:{p}\r\n";
    ck_assert_int_eq(write(raw.fd, head, sizeof(head) - 1), (ssize_t)sizeof(head) - 1);
    h_sleep_ms(2200);
    size_t n;
    const char *rep = h_rc_roundtrip(&raw, "$2\r\nok\r\n", 8, &n);
    ck_assert_msg(n == 5 && memcmp(rep, "+OK\r\n", 5) == 0, "%.*s", (int)n, rep);
    h_rc_close(&raw);
    h_expect_str(h_cmd(q, "GET idle:{p}"), "ok");
    h_expect_str(h_cmd(p, "CLIENT GETNAME"), "idler");
    redisReply *r = h_cmd(p, "CLIENT INFO");
    ck_assert_ptr_nonnull(strstr(r->str, " lib-name=idlelib "));
    freeReplyObject(r);
    /* The WATCH still holds: a change by another client makes EXEC fail. */
    h_expect_str(h_cmd(q, "SET idle:{w} 1"), "OK");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "GET idle:{w}"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* The transaction is over: once idle, its state is given back, and the next one starts
     * afresh. */
    long long busy = tot_mem(p);
    h_sleep_ms(2200);
    long long idle = tot_mem(p);
    ck_assert_msg(idle < busy, "tot-mem %lld after a quiet second, %lld before", idle, busy);
    h_expect_str(h_cmd(p, "WATCH idle:{w}"), "OK");
    h_expect_str(h_cmd(p, "MULTI"), "OK");
    h_expect_str(h_cmd(p, "SET idle:{w} 2"), "QUEUED");
    r = h_cmd(p, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->str, "OK");
    freeReplyObject(r);
    h_expect_str(h_cmd(q, "GET idle:{w}"), "2");
    h_expect_str(h_cmd(p, "CLIENT GETNAME"), "idler");
    redisFree(q);
    redisFree(p);
}
END_TEST

START_TEST(test_client_reply)
{
    int closed;
    char out[1024];
    const char req[] = "CLIENT REPLY OFF\r\nSET cr:1 a\r\nGET cr:1\r\nCLIENT REPLY ON\r\n"
                       "GET cr:1\r\nCLIENT REPLY SKIP\r\nGET cr:1\r\nECHO after\r\n";
    h_raw(h_env.proxy_port, req, sizeof(req) - 1, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "+OK\r\n$1\r\na\r\n$5\r\nafter\r\n");
}
END_TEST

START_TEST(test_cluster_view)
{
    redisContext *p = h_connect(h_env.proxy_port);
    redisReply *r = h_cmd(p, "CLUSTER MYID");
    ck_assert_int_eq(r->len, 40);
    char id[41];
    memcpy(id, r->str, 41);
    freeReplyObject(r);
    r = h_cmd(p, "CLUSTER SLOTS");
    ck_assert_int_eq(r->elements, 1);
    ck_assert_int_eq(r->element[0]->element[0]->integer, 0);
    ck_assert_int_eq(r->element[0]->element[1]->integer, 16383);
    ck_assert_str_eq(r->element[0]->element[2]->element[0]->str, "127.0.0.1");
    ck_assert_int_eq(r->element[0]->element[2]->element[1]->integer, h_env.proxy_port);
    ck_assert_str_eq(r->element[0]->element[2]->element[2]->str, id);
    freeReplyObject(r);
    r = h_cmd(p, "CLUSTER SHARDS");
    ck_assert_int_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->element[0]->str, "slots");
    ck_assert_int_eq(r->element[0]->element[1]->element[1]->integer, 16383);
    redisReply *node = r->element[0]->element[3]->element[0];
    ck_assert_str_eq(node->element[1]->str, id);
    ck_assert_int_eq(node->element[3]->integer, h_env.proxy_port);
    ck_assert_str_eq(node->element[13]->str, "online");
    freeReplyObject(r);
    r = h_cmd(p, "CLUSTER NODES");
    char want[128];
    snprintf(want, sizeof(want), "%s 127.0.0.1:%d@0 myself,master - 0 0 1 connected 0-16383\n", id,
             h_env.proxy_port);
    ck_assert_str_eq(r->str, want);
    freeReplyObject(r);
    r = h_cmd(p, "CLUSTER INFO");
    ck_assert_ptr_nonnull(strstr(r->str, "cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"));
    ck_assert_ptr_nonnull(strstr(r->str, "cluster_known_nodes:1\r\ncluster_size:1\r\n"));
    freeReplyObject(r);
    /* COUNTKEYSINSLOT and GETKEYSINSLOT ask the node that owns the slot. */
    h_expect_str(h_cmd(p, "SET {slotkey}1 a"), "OK");
    h_expect_str(h_cmd(p, "SET {slotkey}2 b"), "OK");
    int slot = (int)crc16_key_slot("slotkey", 7);
    h_expect_int(h_cmd(p, "CLUSTER KEYSLOT {slotkey}1"), slot);
    h_expect_int(h_cmd(p, "CLUSTER COUNTKEYSINSLOT %d", slot), 2);
    r = h_cmd(p, "CLUSTER GETKEYSINSLOT %d 10", slot);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

START_TEST(test_refused_with_reason)
{
    redisContext *p = h_connect(h_env.proxy_port);
    const char *cmds[] = {"SHUTDOWN",
                          "DEBUG SLEEP 0",
                          "SYNC",
                          "PSYNC ? -1",
                          "REPLICAOF NO ONE",
                          "SLAVEOF NO ONE",
                          "CLUSTER SETSLOT 1 STABLE",
                          "CLUSTER ADDSLOTS 1",
                          "CLUSTER FAILOVER",
                          "CLUSTER RESET",
                          "MIGRATE h 1 k 0 1",
                          "SWAPDB 0 1",
                          "MOVE k 1",
                          "CONFIG SET port 1",
                          "CONFIG SET maxmemory 0 cluster-announce-ip 1.2.3.4",
                          "CONFIG SET tls-cert-file /tmp/x.crt",
                          "FAILOVER",
                          "SCRIPT DEBUG YES",
                          "BGSAVE",
                          "MEMORY STATS"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        redisReply *r = h_cmd(p, cmds[i]);
        ck_assert_msg(r->type == REDIS_REPLY_ERROR, "%s was not refused", cmds[i]);
        ck_assert_msg(strncmp(r->str, "ERR '", 5) == 0 &&
                          (strstr(r->str, "cannot be used") || strstr(r->str, "not supported")),
                      "%s: %s", cmds[i], r->str);
        freeReplyObject(r);
    }
    /* The proxy describes itself: a master, and the default user. */
    redisReply *role = h_cmd(p, "ROLE");
    ck_assert_int_eq(role->elements, 3);
    ck_assert_str_eq(role->element[0]->str, "master");
    ck_assert_int_eq(role->element[2]->elements, 0);
    freeReplyObject(role);
    h_expect_str(h_cmd(p, "ACL WHOAMI"), "default");
    /* CONFIG GET is a harmless read of a node's configuration. */
    redisReply *r = h_cmd(p, "CONFIG GET maxmemory-policy");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);
    h_expect_str(h_cmd(p, "PING"), "PONG");
    redisFree(p);
}
END_TEST

/* The addr= field of c's CLIENT INFO, into out. */
static void client_addr(redisContext *c, char *out, size_t cap)
{
    redisReply *r = h_cmd(c, "CLIENT INFO");
    const char *a = strstr(r->str, " addr=");
    ck_assert_ptr_nonnull(a);
    a += 6;
    size_t n = strcspn(a, " ");
    ck_assert_uint_lt(n, cap);
    memcpy(out, a, n);
    out[n] = 0;
    freeReplyObject(r);
}

/* 1 when c's connection was closed by the proxy (the next command finds it gone). */
static int is_closed(redisContext *c)
{
    redisReply *r = redisCommand(c, "PING");
    int closed = r == NULL;
    if (r) freeReplyObject(r);
    return closed;
}

/* The next MONITOR line on m (a status reply), which must contain want. */
static void expect_line(redisContext *m, const char *want)
{
    redisReply *r = NULL;
    ck_assert_int_eq(redisGetReply(m, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    ck_assert_msg(strstr(r->str, want) != NULL, "monitor line [%s], want [%s]", r->str, want);
    freeReplyObject(r);
}

/* Nodes among the 6 of the shared cluster with a client in monitor mode (flag O). */
static int nodes_monitored(void)
{
    int n = 0;
    for (int i = 0; i < 6; i++) {
        redisContext *c = h_connect(h_env.cluster_port + i);
        redisReply *r = h_cmd(c, "CLIENT LIST");
        if (r->type == REDIS_REPLY_STRING && strstr(r->str, "flags=O ")) n++;
        freeReplyObject(r);
        redisFree(c);
    }
    return n;
}

/* MONITOR: every command of every client, as Redis writes the lines; a script's and a function's
 * own commands right after their call (from the nodes' streams, "[0 lua]"); a transaction's
 * MULTI, commands and EXEC in order. The nodes' streams close when the last monitor leaves. */
START_TEST(test_monitor)
{
    redisContext *m = h_connect(h_env.proxy_port), *c = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(m, "MONITOR"), "OK");
    /* Every master streams to the proxy once MONITOR has answered. */
    ck_assert_int_eq(nodes_monitored(), 3);
    h_expect_str(h_cmd(c, "SET {mon}k v"), "OK");
    expect_line(m, "\"SET\" \"{mon}k\" \"v\"");
    freeReplyObject(h_cmd(c, "EVAL %s 1 %s %s", "return redis.call('set',KEYS[1],ARGV[1])",
                          "{mon}k", "fromlua"));
    expect_line(m, "\"EVAL\" \"return redis.call('set',KEYS[1],ARGV[1])\" \"1\" \"{mon}k\"");
    expect_line(m, "[0 lua] \"set\" \"{mon}k\" \"fromlua\"");
    freeReplyObject(h_cmd(c, "FUNCTION LOAD REPLACE %s",
                          "#!lua name=montest\nredis.register_function('monf', function(k) "
                          "return redis.call('get', k[1]) end)"));
    expect_line(m, "\"FUNCTION\" \"LOAD\"");
    redisReply *r = h_cmd(c, "FCALL monf 1 {mon}k");
    ck_assert_str_eq(r->str, "fromlua");
    freeReplyObject(r);
    expect_line(m, "\"FCALL\" \"monf\" \"1\" \"{mon}k\"");
    expect_line(m, "[0 lua] \"get\" \"{mon}k\"");
    h_expect_str(h_cmd(c, "MULTI"), "OK");
    h_expect_str(h_cmd(c, "INCR {mon}n"), "QUEUED");
    freeReplyObject(h_cmd(c, "EXEC"));
    expect_line(m, "\"MULTI\"");
    expect_line(m, "\"INCR\" \"{mon}n\"");
    expect_line(m, "\"EXEC\"");
    /* Secrets are redacted, as Redis does. */
    freeReplyObject(h_cmd(c, "AUTH nobody secret"));
    expect_line(m, "\"AUTH\" \"(redacted)\" \"(redacted)\"");
    freeReplyObject(h_cmd(c, "FUNCTION DELETE montest"));
    expect_line(m, "\"FUNCTION\" \"DELETE\"");
    /* The last monitor leaves: the streams close (at the next check, within a second or so). */
    h_expect_str(h_cmd(m, "RESET"), "RESET");
    int left = 3;
    for (int i = 0; i < 40 && left; i++) {
        usleep(100 * 1000);
        left = nodes_monitored();
    }
    ck_assert_int_eq(left, 0);
    /* MONITOR queued in a transaction is refused when EXEC runs it, as Redis refuses it; the
     * client stays an ordinary one. */
    h_expect_str(h_cmd(c, "MULTI"), "OK");
    h_expect_str(h_cmd(c, "MONITOR"), "QUEUED");
    redisReply *x = h_cmd(c, "EXEC");
    ck_assert_int_eq(x->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(x->elements, 1);
    ck_assert_int_eq(x->element[0]->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(x->element[0]->str, "ERR MONITOR isn't allowed for DENY BLOCKING client");
    freeReplyObject(x);
    h_expect_str(h_cmd(c, "PING"), "PONG");
    ck_assert_int_eq(nodes_monitored(), 0);
    redisFree(m);
    redisFree(c);
}
END_TEST

/* 1 when fd has bytes to read within ms. */
static int readable_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* Sends req on c and asserts it is held by the pause (no reply within 300 ms). */
static void expect_held(struct h_rc *c, const char *req)
{
    ck_assert_int_eq(write(c->fd, req, strlen(req)), (ssize_t)strlen(req));
    ck_assert_msg(!readable_within(c->fd, 300), "%s was not held by the pause", req);
}

/* Sends req on c and asserts it is answered at once with want. */
static void expect_now(struct h_rc *c, const char *req, const char *want)
{
    size_t n;
    const char *r = h_rc_roundtrip(c, req, strlen(req), &n);
    ck_assert_msg(n == strlen(want) && memcmp(r, want, n) == 0, "%s: [%.*s], want [%s]", req,
                  (int)n, r, want);
}

/* CLIENT PAUSE's argument errors are Redis's, in Redis's order (none of these pauses the node
 * nor the proxy). */
START_TEST(test_client_pause_texts_as_a_node)
{
    same_as_node("CLIENT PAUSE 10 WRITE x\r\nCLIENT PAUSE x y z\r\nclient Pause 1 2 3\r\n"
                 "CLIENT PAUSE x y\r\nCLIENT PAUSE x\r\nCLIENT PAUSE -1\r\n"
                 "CLIENT PAUSE 9223372036854775808\r\nCLIENT PAUSE 1.5 WRITE\r\n");
}
END_TEST

/* Sends req on c, then gives it up to ms to be answered. Returns 1 when it was (with want). */
static int answered_within(struct h_rc *c, const char *req, const char *want, int ms)
{
    ck_assert_int_eq(write(c->fd, req, strlen(req)), (ssize_t)strlen(req));
    if (!readable_within(c->fd, ms)) return 0;
    size_t n;
    const char *got = h_rc_read(c, &n);
    ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0, "%s: [%.*s], want [%s]", req,
                  (int)n, got, want);
    return 1;
}

/* A timeout whose end overflows Redis's 64-bit time (9223372036854775807 ms) pauses nothing, as
 * on Redis 7.0.15, where the end wraps into the past. WRITE pauses only in these tests: their
 * own CLIENT UNPAUSE goes through whatever happens. */
START_TEST(test_client_pause_overflow)
{
    redisContext *adm = h_connect(h_env.proxy_port);
    struct h_rc w;
    h_rc_open(&w, h_env.proxy_port);
    h_expect_str(h_cmd(adm, "CLIENT PAUSE 9223372036854775807 WRITE"), "OK");
    int now = answered_within(&w, "SET {pe}k 1\r\n", "+OK\r\n", 300);
    h_expect_str(h_cmd(adm, "CLIENT UNPAUSE"), "OK");
    if (!now) { /* held: let it go before failing */
        size_t n;
        h_rc_read(&w, &n);
    }
    ck_assert_msg(now, "CLIENT PAUSE 9223372036854775807 WRITE paused");
    freeReplyObject(h_cmd(adm, "DEL {pe}k"));
    h_rc_close(&w);
    redisFree(adm);
}
END_TEST

/* A client that goes away while CLIENT PAUSE holds its command is freed, as Redis frees it: the
 * command never runs (it ran once the pause ended). */
START_TEST(test_client_pause_client_gone)
{
    redisContext *adm = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(adm, "DEL {pg}k {pg}k2"));
    static const char *const modes[] = {"ALL", "WRITE"};
    for (int m = 0; m < 2; m++) {
        h_expect_str(h_cmd(adm, "CLIENT PAUSE 400 %s", modes[m]), "OK");
        struct h_rc w;
        h_rc_open(&w, h_env.proxy_port);
        const char *req = m ? "SET {pg}k2 v\r\n" : "SET {pg}k v\r\n";
        ck_assert_int_eq(write(w.fd, req, strlen(req)), (ssize_t)strlen(req));
        h_sleep_ms(50);
        h_rc_close(&w);
        h_sleep_ms(700);
    }
    redisReply *r = h_cmd(adm, "MGET {pg}k {pg}k2");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_msg(r->element[0]->type == REDIS_REPLY_NIL, "the paused SET ran (ALL)");
    ck_assert_msg(r->element[1]->type == REDIS_REPLY_NIL, "the paused SET ran (WRITE)");
    freeReplyObject(r);
    /* ... and they are no longer counted as blocked clients. */
    ck_assert_int_eq(h_info_num(h_env.proxy_port, "blocked_clients"), 0);
    redisFree(adm);
}
END_TEST

/* A command held by a pause is timed from its release, as Redis times it from when it runs:
 * the wait is not in the slow log. */
START_TEST(test_client_pause_not_in_slowlog)
{
    redisContext *adm = h_connect(h_env.proxy_port);
    h_expect_str(h_cmd(adm, "SLOWLOG RESET"), "OK");
    h_expect_str(h_cmd(adm, "CLIENT PAUSE 300 WRITE"), "OK");
    struct h_rc w;
    h_rc_open(&w, h_env.proxy_port);
    size_t n;
    static const char set[] = "SET {ps}slow v\r\n";
    const char *got = h_rc_roundtrip(&w, set, sizeof(set) - 1, &n);
    ck_assert(n == 5 && memcmp(got, "+OK\r\n", 5) == 0);
    redisReply *r = h_cmd(adm, "SLOWLOG GET 128");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *args = r->element[i]->element[3];
        ck_assert_msg(strcasecmp(args->element[0]->str, "SET") != 0,
                      "the paused SET is in the slow log (%lld us)",
                      r->element[i]->element[2]->integer);
    }
    freeReplyObject(r);
    freeReplyObject(h_cmd(adm, "DEL {ps}slow"));
    h_rc_close(&w);
    redisFree(adm);
}
END_TEST

/* A pause is added to the one in force as Redis 7.0.15 adds it: the later end wins, so neither
 * the overflowing timeout nor a shorter one cuts it short. */
START_TEST(test_client_pause_adds_up)
{
    redisContext *adm = h_connect(h_env.proxy_port);
    struct h_rc w;
    h_rc_open(&w, h_env.proxy_port);
    h_expect_str(h_cmd(adm, "CLIENT PAUSE 20000 WRITE"), "OK");
    h_expect_str(h_cmd(adm, "CLIENT PAUSE 9223372036854775807 WRITE"), "OK");
    h_expect_str(h_cmd(adm, "CLIENT PAUSE 10 WRITE"), "OK");
    h_sleep_ms(50);
    int held = !answered_within(&w, "SET {pe}k 2\r\n", "+OK\r\n", 300);
    h_expect_str(h_cmd(adm, "CLIENT UNPAUSE"), "OK");
    if (held) {
        size_t n;
        const char *got = h_rc_read(&w, &n);
        ck_assert(n == 5 && memcmp(got, "+OK\r\n", 5) == 0);
    }
    ck_assert_msg(held, "a shorter CLIENT PAUSE ended the pause in force");
    h_expect_str(h_cmd(adm, "GET {pe}k"), "2");
    freeReplyObject(h_cmd(adm, "DEL {pe}k"));
    h_rc_close(&w);
    redisFree(adm);
}
END_TEST

/* CLIENT PAUSE WRITE holds what may write or replicate and lets reads through, as Redis decides
 * it: writes, PFCOUNT, EVAL without no-writes, FCALL of a function not declared no-writes, EXEC
 * of a transaction that queued a write; CLIENT UNPAUSE releases them in order. Inside MULTI the
 * pause starts at the end of the transaction. */
START_TEST(test_client_pause)
{
    redisContext *adm = h_connect(h_env.proxy_port);
    freeReplyObject(h_cmd(adm, "FUNCTION LOAD REPLACE %s",
                          "#!lua name=pauselib\n"
                          "redis.register_function{function_name='pro', callback=function() "
                          "return 'ro' end, flags={'no-writes'}}\n"
                          "redis.register_function('prw', function() return 'rw' end)"));
    h_expect_str(h_cmd(adm, "SET {pz}k v"), "OK");
    struct h_rc r, w, p, f, x;
    /* Queued before the pause: its EXEC is held (a write queued during it waits itself). */
    h_rc_open(&x, h_env.proxy_port);
    expect_now(&x, "MULTI\r\n", "+OK\r\n");
    expect_now(&x, "SET {pz}k x\r\n", "+QUEUED\r\n");
    h_expect_str(h_cmd(adm, "CLIENT PAUSE 20000 WRITE"), "OK");
    h_rc_open(&r, h_env.proxy_port);
    expect_now(&r, "GET {pz}k\r\n", "$1\r\nv\r\n");
    expect_now(&r, "*3\r\n$4\r\nEVAL\r\n$30\r\n#!lua flags=no-writes\nreturn 1\r\n$1\r\n0\r\n",
               ":1\r\n");
    expect_now(&r, "FCALL pro 0\r\n", "$2\r\nro\r\n");
    expect_now(&r, "MULTI\r\n", "+OK\r\n");
    expect_now(&r, "GET {pz}k\r\n", "+QUEUED\r\n");
    expect_now(&r, "EXEC\r\n", "*1\r\n$1\r\nv\r\n");
    h_rc_open(&w, h_env.proxy_port);
    expect_held(&w, "SET {pz}k w\r\n");
    h_rc_open(&p, h_env.proxy_port);
    expect_held(&p, "PFCOUNT {pz}h\r\n");
    h_rc_open(&f, h_env.proxy_port);
    expect_held(&f, "FCALL prw 0\r\n");
    expect_held(&x, "EXEC\r\n");
    h_expect_str(h_cmd(adm, "CLIENT UNPAUSE"), "OK");
    size_t n;
    const char *got = h_rc_read(&w, &n);
    ck_assert(n == 5 && memcmp(got, "+OK\r\n", 5) == 0);
    got = h_rc_read(&p, &n);
    ck_assert(n == 4 && memcmp(got, ":0\r\n", 4) == 0);
    got = h_rc_read(&f, &n);
    ck_assert(n == 8 && memcmp(got, "$2\r\nrw\r\n", 8) == 0);
    got = h_rc_read(&x, &n);
    ck_assert(n == 9 && memcmp(got, "*1\r\n+OK\r\n", 9) == 0);
    /* A pause queued inside MULTI starts when the transaction is done: its writes run. */
    expect_now(&x, "MULTI\r\n", "+OK\r\n");
    expect_now(&x, "SET {pz}a 1\r\n", "+QUEUED\r\n");
    expect_now(&x, "CLIENT PAUSE 20000 WRITE\r\n", "+QUEUED\r\n");
    expect_now(&x, "SET {pz}b 2\r\n", "+QUEUED\r\n");
    expect_now(&x, "EXEC\r\n", "*3\r\n+OK\r\n+OK\r\n+OK\r\n");
    expect_held(&w, "SET {pz}c 3\r\n");
    h_expect_str(h_cmd(adm, "GET {pz}b"), "2");
    h_expect_str(h_cmd(adm, "CLIENT UNPAUSE"), "OK");
    got = h_rc_read(&w, &n);
    ck_assert(n == 5 && memcmp(got, "+OK\r\n", 5) == 0);
    freeReplyObject(h_cmd(adm, "FUNCTION DELETE pauselib"));
    h_rc_close(&r);
    h_rc_close(&w);
    h_rc_close(&p);
    h_rc_close(&f);
    h_rc_close(&x);
    redisFree(adm);
}
END_TEST

START_TEST(test_client_kill)
{
    redisContext *a = h_connect(h_env.proxy_port);
    /* qbuf counts the command being run, as Redis counts it ("CLIENT INFO" is 26 bytes). */
    redisReply *q = h_cmd(a, "CLIENT INFO");
    ck_assert_msg(strstr(q->str, " qbuf=26 ") != NULL, "%s", q->str);
    freeReplyObject(q);

    /* Redis's texts for bad filters. */
    redisReply *r = h_cmd(a, "CLIENT KILL ID 0");
    ck_assert_str_eq(r->str, "ERR client-id should be greater than 0");
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT KILL ID x");
    ck_assert_str_eq(r->str, "ERR client-id should be greater than 0");
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT KILL 1.2.3.4:5");
    ck_assert_str_eq(r->str, "ERR No such client");
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT KILL USER nosuchuser");
    ck_assert_str_eq(r->str, "ERR No such user 'nosuchuser'");
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT KILL TYPE bogus");
    ck_assert_str_eq(r->str, "ERR Unknown client type 'bogus'");
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT KILL ID 1 SKIPME maybe");
    ck_assert_str_eq(r->str, "ERR syntax error");
    freeReplyObject(r);
    r = h_cmd(a, "CLIENT KILL ID 1 FOO bar");
    ck_assert_str_eq(r->str, "ERR syntax error");
    freeReplyObject(r);
    h_expect_int(h_cmd(a, "CLIENT KILL TYPE master"), 0);

    /* By ID (whichever worker holds the client), by address (the old form answers OK), and a
     * subscriber by TYPE pubsub; the others stay connected. */
    redisContext *b = h_connect(h_env.proxy_port), *c = h_connect(h_env.proxy_port);
    redisContext *sub = h_connect(h_env.proxy_port);
    r = h_cmd(b, "CLIENT ID");
    long long bid = r->integer;
    freeReplyObject(r);
    h_expect_int(h_cmd(a, "CLIENT KILL ID %lld", bid), 1);
    ck_assert(is_closed(b));
    h_expect_int(h_cmd(a, "CLIENT KILL ID %lld", bid), 0);
    char addr[64];
    client_addr(c, addr, sizeof(addr));
    h_expect_str(h_cmd(a, "CLIENT KILL %s", addr), "OK");
    ck_assert(is_closed(c));
    r = h_cmd(a, "CLIENT KILL %s", addr);
    ck_assert_str_eq(r->str, "ERR No such client");
    freeReplyObject(r);
    freeReplyObject(h_cmd(sub, "SUBSCRIBE killme"));
    h_expect_int(h_cmd(a, "CLIENT KILL TYPE pubsub"), 1);
    redisReply *m = NULL;
    ck_assert_int_ne(redisGetReply(sub, (void **)&m), REDIS_OK);
    h_expect_str(h_cmd(a, "PING"), "PONG");

    /* An empty address matches nobody (it once matched everybody). */
    redisContext *e = h_connect(h_env.proxy_port);
    r = h_cmd(a, "CLIENT KILL %s", "");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR No such client");
    freeReplyObject(r);
    h_expect_int(h_cmd(a, "CLIENT KILL ADDR %s", ""), 0);
    h_expect_int(h_cmd(a, "CLIENT KILL LADDR %s SKIPME no", ""), 0);
    h_expect_str(h_cmd(a, "PING"), "PONG");
    h_expect_str(h_cmd(e, "PING"), "PONG");
    redisFree(e);
    /* SKIPME: the client that asks is spared unless it says no; then it gets its answer first. */
    client_addr(a, addr, sizeof(addr));
    h_expect_int(h_cmd(a, "CLIENT KILL ADDR %s", addr), 0);
    h_expect_int(h_cmd(a, "CLIENT KILL ADDR %s SKIPME no", addr), 1);
    ck_assert(is_closed(a));
    redisFree(a);
    redisFree(b);
    redisFree(c);
    redisFree(sub);
}
END_TEST

START_TEST(test_requirepass)
{
    int port = h_env.proxy_port + 50;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "1", "-requirepass", "s3cret", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-auth.log");
    ck_assert_int_gt(pid, 0);
    int closed;
    char out[2048];
    const char req[] = "GET x\r\nFOO\r\nAUTH wrong\r\nAUTH default wrong\r\nAUTH s3cret\r\n"
                       "SET auth:1 v\r\nGET auth:1\r\nRESET\r\nGET auth:1\r\n"
                       "HELLO 2 AUTH default s3cret SETNAME n\r\nCLIENT GETNAME\r\nQUIT\r\n";
    h_raw(port, req, sizeof(req) - 1, out, sizeof(out), 1000, 0, &closed);
    const char *want_start = "-NOAUTH Authentication required.\r\n"
                             "-ERR unknown command 'FOO', with args beginning with: \r\n"
                             "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                             "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                             "+OK\r\n+OK\r\n$1\r\nv\r\n+RESET\r\n"
                             "-NOAUTH Authentication required.\r\n*14\r\n";
    ck_assert_msg(strncmp(out, want_start, strlen(want_start)) == 0, "got:\n%s", out);
    const char *tail = "$1\r\nn\r\n+OK\r\n";
    ck_assert_msg(strlen(out) > strlen(tail) && strcmp(out + strlen(out) - strlen(tail), tail) == 0,
                  "got:\n%s", out);
    ck_assert_int_eq(closed, 1);
    /* HELLO before authenticating says how to authenticate, in Redis 7.0's words. */
    h_raw(port, "HELLO 2\r\n", 9, out, sizeof(out), 500, 0, &closed);
    ck_assert_str_eq(out, "-NOAUTH HELLO must be called with the client already authenticated, "
                          "otherwise the HELLO AUTH <user> <pass> option can be used to "
                          "authenticate the client and select the RESP protocol version at the "
                          "same time\r\n");

    /* HELLO's options take effect one by one, as in Redis: each case on a connection of its own,
     * what was sent and what Redis 7.0 answers. */
    static const struct {
        const char *req, *want;
    } hello[] = {
        /* A bad name ends the command before the AUTH after it. */
        {"HELLO 3 SETNAME \"a b\" AUTH default s3cret\r\nPING\r\n",
         "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
         "-NOAUTH Authentication required.\r\n"},
        /* An AUTH before a bad option has authenticated. */
        {"HELLO 3 AUTH default s3cret FOO\r\nPING\r\n",
         "-ERR Syntax error in HELLO option 'FOO'\r\n+PONG\r\n"},
        /* The first AUTH that fails ends it: the right password after it is not tried. */
        {"HELLO 3 AUTH default bad AUTH default s3cret\r\nPING\r\n",
         "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
         "-NOAUTH Authentication required.\r\n"},
        /* A name is set before the check for authentication. */
        {"HELLO 3 SETNAME n2\r\nAUTH s3cret\r\nCLIENT GETNAME\r\n",
         "-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
         "HELLO AUTH <user> <pass> option can be used to authenticate the client and select the "
         "RESP protocol version at the same time\r\n+OK\r\n$2\r\nn2\r\n"},
        /* A good name before a bad one stays. */
        {"AUTH s3cret\r\nHELLO 2 SETNAME ok1 SETNAME \"a b\"\r\nCLIENT GETNAME\r\n",
         "+OK\r\n-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
         "$3\r\nok1\r\n"},
        {"AUTH s3cret\r\nHELLO 2 SETNAME ok2 BOGUS\r\nCLIENT GETNAME\r\n",
         "+OK\r\n-ERR Syntax error in HELLO option 'BOGUS'\r\n$3\r\nok2\r\n"},
        /* EXEC before AUTH: refused as Redis refuses an EXEC, with EXECABORT. */
        {"EXEC\r\n",
         "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"},
    };
    for (size_t i = 0; i < sizeof(hello) / sizeof(hello[0]); i++) {
        h_raw(port, hello[i].req, strlen(hello[i].req), out, sizeof(out), 300, 0, &closed);
        ck_assert_msg(strcmp(out, hello[i].want) == 0, "case %zu: sent\n%s\ngot\n%s\nwant\n%s", i,
                      hello[i].req, out, hello[i].want);
    }
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-auth.log"), 0);
}
END_TEST

START_TEST(test_monitor_not_reading)
{
    /* A MONITOR client that stops reading, on the worker of the client whose commands it is sent:
     * it is closed at the normal clients' output limit (as Redis classes a monitor), and the proxy
     * goes on serving everyone (it used to deadlock on its monitor registry). */
    int port = h_env.proxy_port + 162;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "1", "-client-output-buffer-limit", "2mb 1mb 60", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-monitor.log");
    ck_assert_int_gt(pid, 0);
    int m = h_tcp_connect(port, 4096);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(write(m, "MONITOR\r\n", 9), 9);
    redisContext *c = h_connect(port);
    h_sleep_ms(200);
    static char big[100000];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 100; i++) { /* 10 MB of monitor lines */
        redisReply *r = h_cmd(c, "ECHO %b", big, sizeof(big));
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert_uint_eq(r->len, sizeof(big));
        freeReplyObject(r);
    }
    redisContext *fresh = h_connect(port);
    h_expect_str(h_cmd(fresh, "PING"), "PONG");
    /* The monitor was cut off: reading it ends in end of stream (or a reset). */
    char buf[65536];
    ssize_t n;
    uint64_t until = h_now_ms() + 10000;
    while ((n = read(m, buf, sizeof(buf))) > 0 && h_now_ms() < until) {
    }
    ck_assert_msg(n <= 0, "the monitor that did not read is still open");
    close(m);
    redisFree(c);
    redisFree(fresh);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-monitor.log"), 0);
}
END_TEST

START_TEST(test_slowlog_keeps_its_length)
{
    /* Every request slow (a threshold of 0): SLOWLOG LEN and GET show exactly slowlog-max-len
     * entries, the newest, whatever the number logged (the oldest are dropped in batches). */
    int port = h_env.proxy_port + 163;
    char startup[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    const char *extra[] = {"-threads", "1", NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-slowlog.log");
    ck_assert_int_gt(pid, 0);
    redisContext *c = h_connect(port);
    h_expect_str(h_cmd(c, "CONFIG SET slowlog-log-slower-than 0"), "OK");
    h_expect_str(h_cmd(c, "CONFIG SET slowlog-max-len 10"), "OK");
    for (int i = 0; i < 300; i++) freeReplyObject(h_cmd(c, "GET slow:%d", i));
    for (int round = 0; round < 2; round++) {
        redisReply *r = h_cmd(c, "SLOWLOG LEN");
        ck_assert_int_eq(r->integer, 10);
        freeReplyObject(r);
        r = h_cmd(c, "SLOWLOG GET -1");
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_int_eq(r->elements, 10);
        /* Newest first, ids one apart; the newest is the last command (SLOWLOG LEN). */
        for (size_t i = 1; i < r->elements; i++)
            ck_assert_int_eq(r->element[i - 1]->element[0]->integer,
                             r->element[i]->element[0]->integer + 1);
        ck_assert_str_eq(r->element[0]->element[3]->element[0]->str, "SLOWLOG");
        freeReplyObject(r);
        for (int i = 0; i < 7; i++) freeReplyObject(h_cmd(c, "PING"));
    }
    h_expect_str(h_cmd(c, "CONFIG SET slowlog-max-len 3"), "OK");
    h_expect_int(h_cmd(c, "SLOWLOG LEN"), 3);
    redisFree(c);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-slowlog.log"), 0);
}
END_TEST

/* ---- clients moving between workers (-worker-busy) ---- */

/* The worker /debug/clients says client id is on (-1: not listed), and each worker's sessions. */
static int worker_of(int dbg, long long id, int *sessions)
{
    struct h_http h;
    h_http(dbg, "GET", "/debug/clients", 5000, &h);
    ck_assert_int_eq(h.status, 200);
    for (int w = 0; w < 2; w++) {
        char key[32];
        snprintf(key, sizeof(key), "{\"worker\":%d,\"sessions\":", w);
        const char *p = strstr(h.body, key);
        ck_assert_msg(p, "no worker %d in %s", w, h.body);
        sessions[w] = atoi(p + strlen(key));
    }
    int at = -1;
    char key[48];
    snprintf(key, sizeof(key), ",\"id\":%lld,", id);
    const char *p = strstr(h.body, key);
    if (p) {
        while (p > h.body && strncmp(p, "{\"worker\":", 10) != 0) p--;
        at = atoi(p + 10);
    }
    h_http_free(&h);
    return at;
}

/* CLIENT ID of c. */
static long long client_id(redisContext *c)
{
    redisReply *r = h_cmd(c, "CLIENT ID");
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "CLIENT ID: %s", r->str ? r->str : "?");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* n pipelined SET/GET pairs on c with values of its own, every reply checked in order. */
static void busy_round(redisContext *c, int who, int round, int n)
{
    for (int i = 0; i < n; i++) {
        redisAppendCommand(c, "SET mv:%d:%d %d-%d", who, i, round, i);
        redisAppendCommand(c, "GET mv:%d:%d", who, i);
    }
    for (int i = 0; i < n; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, "SET: %s",
                      r->str ? r->str : "?");
        freeReplyObject(r);
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        char want[32];
        snprintf(want, sizeof(want), "%d-%d", round, i);
        ck_assert_msg(r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0,
                      "GET mv:%d:%d: want %s, got %s", who, i, want, r->str ? r->str : "?");
        freeReplyObject(r);
    }
}

START_TEST(test_clients_move_between_workers)
{
    /* A low busy mark (2% of a CPU): clients start packed on worker 0, a burst of requests spreads
     * them over both workers, and once it is over they are packed again. Those that move keep
     * their id, name, protocol and replies in order; a subscriber and a client in MULTI never
     * move. */
    int port = h_env.proxy_port + 160, dbg = h_env.proxy_port + 161;
    char startup[64], dbgaddr[64];
    snprintf(startup, sizeof(startup), "127.0.0.1:%d", h_env.cluster_port);
    snprintf(dbgaddr, sizeof(dbgaddr), "127.0.0.1:%d", dbg);
    const char *extra[] = {"-threads", "2", "-worker-busy", "2", "-debug-addr", dbgaddr, NULL};
    pid_t pid = h_proxy_start(port, startup, extra, "proxy-balance.log");
    ck_assert_int_gt(pid, 0);
    enum { NIDLE = 12, NBUSY = 4 };
    redisContext *idle[NIDLE], *busy[NBUSY];
    long long ids[NIDLE];
    int sessions[2];
    for (int i = 0; i < NIDLE; i++) {
        idle[i] = h_connect(port);
        ids[i] = client_id(idle[i]);
        h_expect_str(h_cmd(idle[i], "CLIENT SETNAME idle-%d", i), "OK");
        h_expect_str(h_cmd(idle[i], "SET mv:idle:%d v%d", i, i), "OK");
    }
    /* Two RESP3 clients (raw: this hiredis speaks RESP2 only). */
    struct h_rc r3[2];
    size_t rl;
    for (int i = 0; i < 2; i++) {
        h_rc_open(&r3[i], port);
        ck_assert_int_eq(h_rc_roundtrip(&r3[i], "HELLO 3\r\n", 9, &rl)[0], '%');
        const char *set = i ? "SET mv:r3:1 b\r\n" : "SET mv:r3:0 a\r\n";
        ck_assert_int_eq(strncmp(h_rc_roundtrip(&r3[i], set, strlen(set), &rl), "+OK\r\n", 5), 0);
    }
    redisContext *sub = h_connect(port), *multi = h_connect(port);
    long long sub_id = client_id(sub);
    long long multi_id = client_id(multi);
    freeReplyObject(h_cmd(sub, "SUBSCRIBE mv:chan"));
    h_expect_str(h_cmd(multi, "MULTI"), "OK");
    h_expect_str(h_cmd(multi, "SET mv:multi 1"), "QUEUED");
    for (int i = 0; i < NBUSY; i++) busy[i] = h_connect(port);
    /* Packed: an idle proxy puts every new client on worker 0. */
    ck_assert_int_eq(worker_of(dbg, ids[0], sessions), 0);
    ck_assert_int_eq(sessions[1], 0);
    int sub_worker = worker_of(dbg, sub_id, sessions);
    int multi_worker = worker_of(dbg, multi_id, sessions);
    /* Load: the busy clients send pipelines until some clients have moved to worker 1. */
    uint64_t until = h_now_ms() + 10000;
    int round = 0;
    do {
        for (int i = 0; i < NBUSY; i++) busy_round(busy[i], i, round, 50);
        round++;
        if (round % 20 == 0) worker_of(dbg, 0, sessions);
    } while (sessions[1] == 0 && h_now_ms() < until);
    ck_assert_msg(sessions[1] > 0, "no client moved to worker 1 after %d rounds", round);
    long long moved = h_info_num(port, "proxy_clients_moved");
    ck_assert_int_gt(moved, 0);
    /* More load while they are spread, then quiet: they are packed on worker 0 again. */
    for (int k = 0; k < 40; k++)
        for (int i = 0; i < NBUSY; i++) busy_round(busy[i], i, round + k, 50);
    until = h_now_ms() + 10000;
    do {
        h_sleep_ms(200);
        worker_of(dbg, 0, sessions);
    } while (sessions[1] > 0 && h_now_ms() < until);
    ck_assert_msg(sessions[1] == (sub_worker == 1) + (multi_worker == 1),
                  "worker 1 still has %d sessions", sessions[1]);
    ck_assert_int_gt(h_info_num(port, "proxy_clients_moved"), moved);
    /* The subscriber and the open transaction stayed where they were, and work. */
    ck_assert_int_eq(worker_of(dbg, sub_id, sessions), sub_worker);
    ck_assert_int_eq(worker_of(dbg, multi_id, sessions), multi_worker);
    h_expect_int(h_cmd(busy[0], "PUBLISH mv:chan hello"), 1);
    redisReply *m;
    ck_assert_int_eq(redisGetReply(sub, (void **)&m), REDIS_OK);
    ck_assert_int_eq(m->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(m->element[2]->str, "hello");
    freeReplyObject(m);
    redisReply *ex = h_cmd(multi, "EXEC");
    ck_assert_int_eq(ex->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(ex->elements, 1);
    freeReplyObject(ex);
    /* Every client that moved is itself still. */
    for (int i = 0; i < NIDLE; i++) {
        h_expect_int(h_cmd(idle[i], "CLIENT ID"), ids[i]);
        char name[16], val[16];
        snprintf(name, sizeof(name), "idle-%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        h_expect_str(h_cmd(idle[i], "CLIENT GETNAME"), name);
        h_expect_str(h_cmd(idle[i], "GET mv:idle:%d", i), val);
        ck_assert_int_ge(worker_of(dbg, ids[i], sessions), 0);
    }
    for (int i = 0; i < 2; i++) {
        const char *get = i ? "GET mv:r3:1\r\n" : "GET mv:r3:0\r\n";
        const char *r = h_rc_roundtrip(&r3[i], get, strlen(get), &rl);
        ck_assert_int_eq(strncmp(r, i ? "$1\r\nb\r\n" : "$1\r\na\r\n", 7), 0);
        /* Still RESP3: a map. */
        ck_assert_int_eq(h_rc_roundtrip(&r3[i], "HELLO\r\n", 7, &rl)[0], '%');
        h_rc_close(&r3[i]);
    }
    for (int i = 0; i < NIDLE; i++) redisFree(idle[i]);
    for (int i = 0; i < NBUSY; i++) redisFree(busy[i]);
    redisFree(sub);
    redisFree(multi);
    ck_assert_int_eq(h_proxy_stop(pid, "proxy-balance.log"), 0);
}
END_TEST

Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("conn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_same_texts_as_a_node);
    tcase_add_test(tc, test_client_list_filters_as_a_node);
    tcase_add_test(tc, test_client_pause_texts_as_a_node);
    tcase_add_test(tc, test_hello_and_client);
    tcase_add_test(tc, test_state_survives_idle_release);
    tcase_add_test(tc, test_client_reply);
    tcase_add_test(tc, test_cluster_view);
    tcase_add_test(tc, test_refused_with_reason);
    tcase_add_test(tc, test_client_kill);
    tcase_add_test(tc, test_monitor);
    tcase_add_test(tc, test_monitor_not_reading);
    tcase_add_test(tc, test_slowlog_keeps_its_length);
    tcase_add_test(tc, test_client_pause);
    tcase_add_test(tc, test_client_pause_overflow);
    tcase_add_test(tc, test_client_pause_adds_up);
    tcase_add_test(tc, test_client_pause_client_gone);
    tcase_add_test(tc, test_client_pause_not_in_slowlog);
    tcase_add_test(tc, test_requirepass);
    tcase_add_test(tc, test_clients_move_between_workers);
    suite_add_tcase(s, tc);
    return s;
}
