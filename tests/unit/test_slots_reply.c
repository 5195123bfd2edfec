/*
 * Unit tests for cluster/slots_reply: slot maps built from CLUSTER SHARDS and CLUSTER SLOTS.
 *
 * The fixtures are raw replies captured from real 3-master/3-replica clusters (one asked through
 * a master, one through a replica; tests/unit/fixtures/capture_reply.py) and turned into
 * redisReply trees with hiredis's reader, exactly as the topology thread gets them. Hand-made
 * replies, written with the RESP writers, cover the edge cases: malformed replies, failed and
 * loading nodes, shards without slots, unknown and empty endpoints, and listing order.
 */
#include "suites.h"

#include "resp_write.h"
#include "slots_reply.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses exactly one RESP reply from bytes with hiredis; fails the test if there is more. */
static redisReply *reply_from(const char *s, size_t len)
{
    redisReader *rd = redisReaderCreate();
    ck_assert_int_eq(redisReaderFeed(rd, s, len), REDIS_OK);
    void *r = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &r), REDIS_OK);
    ck_assert_msg(r != NULL, "incomplete reply");
    void *extra = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &extra), REDIS_OK);
    ck_assert_msg(extra == NULL, "more than one reply");
    redisReaderFree(rd);
    return r;
}

static redisReply *reply_from_fixture(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", PX_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char data[65536];
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, sizeof(data));
    return reply_from(data, n);
}

static redisReply *reply_from_sbuf(const struct sbuf *b)
{
    return reply_from(b->buf, b->len);
}

/* ---- writers for hand-made replies ---- */

struct node_spec {
    const char *id;
    const char *ip;       /* NULL: field absent */
    const char *endpoint; /* NULL: field absent */
    int port;
    const char *role;
    const char *health;
    long long offset;
};

static void put_str(struct sbuf *b, const char *s)
{
    resp_write_bulk(b, s, strlen(s));
}

static void put_shards_node(struct sbuf *b, const struct node_spec *n)
{
    int pairs = 5 + (n->ip != NULL) + (n->endpoint != NULL);
    resp_write_array_len(b, pairs * 2);
    put_str(b, "id");
    put_str(b, n->id);
    put_str(b, "port");
    resp_write_int(b, n->port);
    if (n->ip) {
        put_str(b, "ip");
        put_str(b, n->ip);
    }
    if (n->endpoint) {
        put_str(b, "endpoint");
        put_str(b, n->endpoint);
    }
    put_str(b, "role");
    put_str(b, n->role);
    put_str(b, "replication-offset");
    resp_write_int(b, n->offset);
    put_str(b, "health");
    put_str(b, n->health);
}

/* One CLUSTER SHARDS entry: ranges holds nranges (from, to) pairs. */
static void put_shard(struct sbuf *b, const int *ranges, int nranges, const struct node_spec *nodes,
                      int nnodes)
{
    resp_write_array_len(b, 4);
    put_str(b, "slots");
    resp_write_array_len(b, nranges * 2);
    for (int i = 0; i < nranges * 2; i++) resp_write_int(b, ranges[i]);
    put_str(b, "nodes");
    resp_write_array_len(b, nnodes);
    for (int i = 0; i < nnodes; i++) put_shards_node(b, &nodes[i]);
}

/* One CLUSTER SLOTS node: [endpoint, port, id, {}]; endpoint NULL is a null bulk. */
static void put_slots_node(struct sbuf *b, const char *endpoint, int port, const char *id)
{
    resp_write_array_len(b, 4);
    if (endpoint)
        put_str(b, endpoint);
    else
        resp_write_null_bulk(b);
    resp_write_int(b, port);
    put_str(b, id);
    resp_write_array_len(b, 0);
}

#define ID(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const struct node_spec n7001 = {ID("a"),  "127.0.0.1", "127.0.0.1", 7001,
                                       "master", "online",    100};
static const struct node_spec n7002 = {ID("b"),  "127.0.0.1", "127.0.0.1", 7002,
                                       "master", "online",    100};
static const struct node_spec n7003 = {ID("c"),  "127.0.0.1", "127.0.0.1", 7003,
                                       "master", "online",    100};
static const struct node_spec n7004 = {ID("d"),   "127.0.0.1", "127.0.0.1", 7004,
                                       "replica", "online",    90};
static const struct node_spec n7005 = {ID("e"),   "127.0.0.1", "127.0.0.1", 7005,
                                       "replica", "online",    90};
static const struct node_spec n7006 = {ID("f"),   "127.0.0.1", "127.0.0.1", 7006,
                                       "replica", "online",    90};

/* ---- checks ---- */

/* Asserts the standard 3x1 layout: masters 7001..7003 own 0-5460, 5461-10922, 10923-16383 with
 * replicas 7005, 7006, 7004, nodes and shards in canonical (address) order. */
static void assert_3x1(const struct slotmap *m)
{
    ck_assert_int_eq(m->nnodes, 6);
    ck_assert_int_eq(m->nshards, 3);
    ck_assert_int_eq(m->covered, 16384);
    for (int i = 0; i < 6; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 7001 + i);
        ck_assert_str_eq(m->nodes[i].addr, addr);
        ck_assert_str_eq(m->nodes[i].ip, "127.0.0.1");
        ck_assert_int_eq(m->nodes[i].port, 7001 + i);
        ck_assert_int_eq(m->nodes[i].role, i < 3 ? SLOTMAP_MASTER : SLOTMAP_REPLICA);
        ck_assert_int_eq(m->nodes[i].health, SLOTMAP_ONLINE);
        ck_assert_uint_eq(strlen(m->nodes[i].id), 40);
        ck_assert_int_eq(slotmap_find_addr(m, addr), i);
    }
    static const int replica_of[3] = {4, 5, 3}; /* 7005, 7006, 7004 */
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(m->shards[s].master, s);
        ck_assert_int_eq(m->shards[s].nreplicas, 1);
        ck_assert_int_eq(m->shards[s].replicas[0], replica_of[s]);
        ck_assert_int_eq(m->nodes[s].shard, s);
        ck_assert_int_eq(m->nodes[replica_of[s]].shard, s);
    }
    for (int slot = 0; slot < 16384; slot++) {
        int want = slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;
        ck_assert_msg(m->slot_shard[slot] == want, "slot %d: shard %d", slot, m->slot_shard[slot]);
    }
    ck_assert_int_eq(slotmap_master(m, 0)->port, 7001);
    ck_assert_int_eq(slotmap_master(m, 5460)->port, 7001);
    ck_assert_int_eq(slotmap_master(m, 5461)->port, 7002);
    ck_assert_int_eq(slotmap_master(m, 12182)->port, 7003);
    ck_assert_int_eq(slotmap_master(m, 16383)->port, 7003);
    ck_assert_ptr_null(slotmap_master(m, 16384));
    ck_assert_uint_eq(atomic_load(&m->refcnt), 1);
}

START_TEST(test_slots_fixtures)
{
    char err[256] = "";
    redisReply *r = reply_from_fixture("cluster_shards_3x1.resp");
    struct slotmap *sh = slots_reply_from_shards(r, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(sh != NULL, "%s", err);
    freeReplyObject(r);
    assert_3x1(sh);
    ck_assert_str_eq(sh->nodes[0].id, "592e59cda6d209dc418bbaaf7d5725dcaa590624");
    ck_assert_str_eq(sh->nodes[3].id, "47798b34998f1890cc7dfe66b52b34615d6a721f");
    ck_assert_int_eq(sh->nodes[0].repl_offset, 14);

    r = reply_from_fixture("cluster_slots_3x1.resp");
    struct slotmap *sl = slots_reply_from_slots(r, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(sl != NULL, "%s", err);
    freeReplyObject(r);
    assert_3x1(sl);
    ck_assert_str_eq(sl->nodes[0].id, "592e59cda6d209dc418bbaaf7d5725dcaa590624");
    ck_assert_int_eq(slotmap_same(sh, sl), 1);
    ck_assert_int_eq(slotmap_same(sl, sh), 1);

    /* Another cluster of the same shape, asked through a replica: same layout, other node ids,
     * so not the same map. */
    r = reply_from_fixture("cluster_shards_3x1_replica.resp");
    struct slotmap *sh2 = slots_reply_from_shards(r, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(sh2 != NULL, "%s", err);
    freeReplyObject(r);
    assert_3x1(sh2);
    r = reply_from_fixture("cluster_slots_3x1_replica.resp");
    struct slotmap *sl2 = slots_reply_from_slots(r, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(sl2 != NULL, "%s", err);
    freeReplyObject(r);
    assert_3x1(sl2);
    ck_assert_int_eq(slotmap_same(sh2, sl2), 1);
    ck_assert_int_eq(slotmap_same(sh, sh2), 0);
    ck_assert_int_eq(slotmap_same(sl, sl2), 0);

    slotmap_unref(sh);
    slotmap_unref(sl);
    slotmap_unref(sh2);
    slotmap_unref(sl2);
}
END_TEST

START_TEST(test_slots_handmade_3x1)
{
    /* The same layout written by hand, shards and nodes listed in a scrambled order. */
    struct sbuf b;
    sbuf_init(&b);
    resp_write_array_len(&b, 3);
    const int r2[] = {5461, 10922}, r1[] = {0, 5460}, r3[] = {10923, 16383};
    const struct node_spec s2[] = {n7006, n7002}, s1[] = {n7001, n7005}, s3[] = {n7004, n7003};
    put_shard(&b, r2, 1, s2, 2);
    put_shard(&b, r3, 1, s3, 2);
    put_shard(&b, r1, 1, s1, 2);
    redisReply *r = reply_from_sbuf(&b);
    char err[256] = "";
    struct slotmap *sh = slots_reply_from_shards(r, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(sh != NULL, "%s", err);
    freeReplyObject(r);
    assert_3x1(sh);
    ck_assert_int_eq(sh->nodes[3].repl_offset, 90);

    /* CLUSTER SLOTS of the same cluster, entries in another order. */
    sbuf_clear(&b);
    resp_write_array_len(&b, 3);
    resp_write_array_len(&b, 4);
    resp_write_int(&b, 10923);
    resp_write_int(&b, 16383);
    put_slots_node(&b, "127.0.0.1", 7003, ID("c"));
    put_slots_node(&b, "127.0.0.1", 7004, ID("d"));
    resp_write_array_len(&b, 4);
    resp_write_int(&b, 0);
    resp_write_int(&b, 5460);
    put_slots_node(&b, "127.0.0.1", 7001, ID("a"));
    put_slots_node(&b, "127.0.0.1", 7005, ID("e"));
    resp_write_array_len(&b, 4);
    resp_write_int(&b, 5461);
    resp_write_int(&b, 10922);
    put_slots_node(&b, "127.0.0.1", 7002, ID("b"));
    put_slots_node(&b, "127.0.0.1", 7006, ID("f"));
    r = reply_from_sbuf(&b);
    struct slotmap *sl = slots_reply_from_slots(r, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(sl != NULL, "%s", err);
    freeReplyObject(r);
    assert_3x1(sl);
    ck_assert_int_eq(slotmap_same(sh, sl), 1);

    /* Canonicalising a canonical map changes nothing. */
    struct slotmap *again = slotmap_ref(sl);
    slots_reply_canonicalize(&again);
    ck_assert_ptr_ne(again, sl);
    ck_assert_int_eq(slotmap_same(again, sl), 1);
    slotmap_unref(again);
    slotmap_unref(sl);
    slotmap_unref(sh);
    sbuf_free(&b);
}
END_TEST

START_TEST(test_slots_order_does_not_matter)
{
    /* Many ranges per master, replicas listed in different orders: CLUSTER SLOTS repeats a
     * master once per range, and every ordering gives the same map. Masters are 7101 and 7102;
     * master m has replicas 7201+10m and 7202+10m. */
    static const char *const ids[] = {ID("1"), ID("2"), ID("3"), ID("4"), ID("5"), ID("6")};
    struct sbuf a, b;
    sbuf_init(&a);
    sbuf_init(&b);
    enum { RANGES = 8 };
    resp_write_array_len(&a, RANGES);
    resp_write_array_len(&b, RANGES);
    for (int pass = 0; pass < 2; pass++) {
        struct sbuf *o = pass ? &b : &a;
        for (int k = 0; k < RANGES; k++) {
            int i = pass ? RANGES - 1 - k : k;
            int m = i % 2;
            resp_write_array_len(o, 5);
            resp_write_int(o, i * 2048);
            resp_write_int(o, i * 2048 + 2047);
            put_slots_node(o, "10.0.0.1", 7101 + m, ids[m]);
            for (int j = 0; j < 2; j++) {
                int r = pass ? 1 - j : j;
                put_slots_node(o, "10.0.0.2", 7201 + 10 * m + r, ids[2 + 2 * m + r]);
            }
        }
    }
    char err[256];
    redisReply *ra = reply_from_sbuf(&a), *rb = reply_from_sbuf(&b);
    struct slotmap *ma = slots_reply_from_slots(ra, "x", err, sizeof(err));
    struct slotmap *mb = slots_reply_from_slots(rb, "x", err, sizeof(err));
    ck_assert_ptr_nonnull(ma);
    ck_assert_ptr_nonnull(mb);
    ck_assert_int_eq(ma->nshards, 2);
    ck_assert_int_eq(ma->nnodes, 6);
    ck_assert_int_eq(ma->covered, 16384);
    /* Slots alternate between the two masters in blocks of 2048. */
    ck_assert_int_eq(slotmap_master(ma, 0)->port, 7101);
    ck_assert_int_eq(slotmap_master(ma, 2048)->port, 7102);
    ck_assert_int_eq(slotmap_master(ma, 4095)->port, 7102);
    ck_assert_int_eq(slotmap_master(ma, 4096)->port, 7101);
    ck_assert_int_eq(slotmap_master(ma, 16383)->port, 7102);
    ck_assert_int_eq(slotmap_same(ma, mb), 1);
    /* Each shard has its two replicas, in address order. */
    for (int sh = 0; sh < 2; sh++) {
        const struct slotmap_shard *x = &ma->shards[sh];
        int base = ma->nodes[x->master].port == 7101 ? 7201 : 7211;
        ck_assert_int_eq(x->nreplicas, 2);
        ck_assert_int_eq(ma->nodes[x->replicas[0]].port, base);
        ck_assert_int_eq(ma->nodes[x->replicas[1]].port, base + 1);
        ck_assert_int_eq(ma->nodes[x->replicas[0]].role, SLOTMAP_REPLICA);
    }
    freeReplyObject(ra);
    freeReplyObject(rb);
    slotmap_unref(ma);
    slotmap_unref(mb);
    sbuf_free(&a);
    sbuf_free(&b);
}
END_TEST

/* Builds a map from a hand-made CLUSTER SHARDS reply; NULL and err on failure. */
static struct slotmap *shards_map(const struct sbuf *b, const char *source, char *err,
                                  size_t errlen)
{
    redisReply *r = reply_from_sbuf(b);
    struct slotmap *m = slots_reply_from_shards(r, source, err, errlen);
    freeReplyObject(r);
    return m;
}

static struct slotmap *slots_map(const struct sbuf *b, const char *source, char *err, size_t errlen)
{
    redisReply *r = reply_from_sbuf(b);
    struct slotmap *m = slots_reply_from_slots(r, source, err, errlen);
    freeReplyObject(r);
    return m;
}

START_TEST(test_slots_failed_master_and_loading)
{
    struct sbuf b;
    sbuf_init(&b);
    struct node_spec failed = n7001, loading = n7005;
    failed.health = "fail";
    loading.health = "loading";
    const int r1[] = {0, 16383};
    const struct node_spec s1[] = {failed, loading};
    resp_write_array_len(&b, 1);
    put_shard(&b, r1, 1, s1, 2);
    char err[256];
    struct slotmap *m = shards_map(&b, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    /* The failed master still owns its slots (a failover will replace it). */
    ck_assert_int_eq(m->nshards, 1);
    const struct slotmap_node *master = slotmap_master(m, 100);
    ck_assert_ptr_nonnull(master);
    ck_assert_int_eq(master->port, 7001);
    ck_assert_int_eq(master->health, SLOTMAP_FAILED);
    ck_assert_int_eq(master->role, SLOTMAP_MASTER);
    ck_assert_int_eq(m->nodes[m->shards[0].replicas[0]].health, SLOTMAP_LOADING);

    /* The same topology with healthy nodes is a different map. */
    sbuf_clear(&b);
    const struct node_spec s2[] = {n7001, n7005};
    resp_write_array_len(&b, 1);
    put_shard(&b, r1, 1, s2, 2);
    struct slotmap *ok = shards_map(&b, "127.0.0.1", err, sizeof(err));
    ck_assert_ptr_nonnull(ok);
    ck_assert_int_eq(ok->nodes[0].health, SLOTMAP_ONLINE);
    ck_assert_int_eq(slotmap_same(m, ok), 0);
    slotmap_unref(m);
    slotmap_unref(ok);
    sbuf_free(&b);
}
END_TEST

START_TEST(test_slots_shard_without_slots)
{
    /* A master with no slots (just added, or emptied by a reshard) is a shard of its own that
     * serves nothing; a shard of replicas only and no slots is skipped. */
    struct sbuf b;
    sbuf_init(&b);
    const int r1[] = {0, 8191}, r2[] = {8192, 16383};
    const struct node_spec s1[] = {n7001, n7004}, s2[] = {n7002, n7005}, s3[] = {n7003, n7006};
    struct node_spec orphan = n7006;
    orphan.port = 7007;
    orphan.id = ID("g");
    resp_write_array_len(&b, 4);
    put_shard(&b, r1, 1, s1, 2);
    put_shard(&b, NULL, 0, s3, 2);
    put_shard(&b, r2, 1, s2, 2);
    put_shard(&b, NULL, 0, &orphan, 1);
    char err[256];
    struct slotmap *m = shards_map(&b, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->nshards, 3);
    ck_assert_int_eq(m->covered, 16384);
    int empty = m->nodes[slotmap_find_addr(m, "127.0.0.1:7003")].shard;
    ck_assert_int_ge(empty, 0);
    for (int s = 0; s < 16384; s++) ck_assert_int_ne(m->slot_shard[s], empty);
    ck_assert_int_eq(m->shards[empty].nreplicas, 1);
    int orphan_idx = slotmap_find_addr(m, "127.0.0.1:7007");
    if (orphan_idx >= 0) ck_assert_int_eq(m->nodes[orphan_idx].shard, -1);
    ck_assert_int_eq(slotmap_master(m, 8191)->port, 7001);
    ck_assert_int_eq(slotmap_master(m, 8192)->port, 7002);
    slotmap_unref(m);

    /* A failed master without slots (failed over, still listed by Redis 7.0 with health
     * "fail") is left out with its replicas: nothing may be sent to it. */
    sbuf_clear(&b);
    struct node_spec dead = n7003;
    dead.health = "fail";
    const struct node_spec s4[] = {dead};
    resp_write_array_len(&b, 3);
    put_shard(&b, r1, 1, s1, 2);
    put_shard(&b, NULL, 0, s4, 1);
    put_shard(&b, r2, 1, s2, 2);
    m = shards_map(&b, "127.0.0.1", err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->nshards, 2);
    ck_assert_int_eq(slotmap_find_addr(m, "127.0.0.1:7003"), -1);
    slotmap_unref(m);

    /* Ranges split over several pairs, and uncovered slots. */
    sbuf_clear(&b);
    const int split[] = {0, 99, 200, 299, 16383, 16383};
    resp_write_array_len(&b, 1);
    put_shard(&b, split, 3, s1, 2);
    m = shards_map(&b, "127.0.0.1", err, sizeof(err));
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->covered, 201);
    ck_assert_ptr_nonnull(slotmap_master(m, 99));
    ck_assert_ptr_null(slotmap_master(m, 100));
    ck_assert_ptr_null(slotmap_master(m, 199));
    ck_assert_ptr_nonnull(slotmap_master(m, 200));
    ck_assert_ptr_nonnull(slotmap_master(m, 16383));
    ck_assert_int_eq(m->slot_shard[300], -1);
    slotmap_unref(m);
    sbuf_free(&b);
}
END_TEST

START_TEST(test_slots_endpoints)
{
    char err[256];
    struct sbuf b;
    sbuf_init(&b);
    /* CLUSTER SLOTS: an empty or null endpoint is the answering node's host; "?" (unknown)
     * leaves a master's slots unserved and drops a replica. */
    resp_write_array_len(&b, 3);
    resp_write_array_len(&b, 5);
    resp_write_int(&b, 0);
    resp_write_int(&b, 999);
    put_slots_node(&b, "", 7001, ID("a"));
    put_slots_node(&b, NULL, 7004, ID("d"));
    put_slots_node(&b, "?", 7005, ID("e"));
    resp_write_array_len(&b, 3);
    resp_write_int(&b, 1000);
    resp_write_int(&b, 1999);
    put_slots_node(&b, "?", 7002, ID("b"));
    resp_write_array_len(&b, 4);
    resp_write_int(&b, 2000);
    resp_write_int(&b, 16383);
    put_slots_node(&b, "::1", 7003, ID("c"));
    put_slots_node(&b, "10.1.2.3", 70000, ID("f")); /* bad port: dropped */
    struct slotmap *m = slots_map(&b, "192.0.2.7", err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->nshards, 2);
    ck_assert_int_eq(m->nnodes, 3);
    ck_assert_int_eq(m->covered, 16384 - 1000);
    const struct slotmap_node *a = slotmap_master(m, 0);
    ck_assert_str_eq(a->ip, "192.0.2.7");
    ck_assert_str_eq(a->addr, "192.0.2.7:7001");
    ck_assert_int_eq(m->shards[a->shard].nreplicas, 1);
    ck_assert_str_eq(m->nodes[m->shards[a->shard].replicas[0]].addr, "192.0.2.7:7004");
    ck_assert_ptr_null(slotmap_master(m, 1000));
    ck_assert_ptr_null(slotmap_master(m, 1999));
    const struct slotmap_node *c = slotmap_master(m, 2000);
    ck_assert_str_eq(c->ip, "::1");
    ck_assert_str_eq(c->addr, "[::1]:7003");
    ck_assert_int_eq(m->shards[c->shard].nreplicas, 0);
    ck_assert_int_lt(slotmap_find_addr(m, "127.0.0.1:7005"), 0);
    slotmap_unref(m);

    /* CLUSTER SHARDS: "ip" first, then "endpoint", then the answering node; "?" is skipped. */
    sbuf_clear(&b);
    struct node_spec no_ip = n7001, empty = n7004, unknown = n7005, v6 = n7002, bad_port = n7006;
    no_ip.ip = NULL;
    no_ip.endpoint = "10.0.0.1";
    empty.ip = "";
    empty.endpoint = "";
    unknown.ip = NULL;
    unknown.endpoint = "?";
    v6.ip = "fe80::2";
    v6.endpoint = "host.example";
    bad_port.port = 0;
    const int r1[] = {0, 8000}, r2[] = {8001, 16383};
    const struct node_spec s1[] = {no_ip, empty, unknown}, s2[] = {v6, bad_port};
    resp_write_array_len(&b, 2);
    put_shard(&b, r1, 1, s1, 3);
    put_shard(&b, r2, 1, s2, 2);
    m = shards_map(&b, "192.0.2.9", err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->nnodes, 3);
    ck_assert_int_eq(m->covered, 16384);
    ck_assert_str_eq(slotmap_master(m, 0)->addr, "10.0.0.1:7001");
    const struct slotmap_shard *sh = &m->shards[slotmap_master(m, 0)->shard];
    ck_assert_int_eq(sh->nreplicas, 1);
    ck_assert_str_eq(m->nodes[sh->replicas[0]].addr, "192.0.2.9:7004");
    ck_assert_str_eq(slotmap_master(m, 8001)->addr, "[fe80::2]:7002");
    ck_assert_int_eq(m->shards[slotmap_master(m, 8001)->shard].nreplicas, 0);
    slotmap_unref(m);
    sbuf_free(&b);
}
END_TEST

/* A malformed reply and the error text it must produce. */
static void assert_rejected(struct slotmap *(*fn)(const redisReply *, const char *, char *, size_t),
                            const struct sbuf *b, const char *want)
{
    redisReply *r = reply_from_sbuf(b);
    char err[256] = "";
    struct slotmap *m = fn(r, "127.0.0.1", err, sizeof(err));
    freeReplyObject(r);
    ck_assert_msg(m == NULL, "accepted; want \"%s\"", want);
    ck_assert_str_eq(err, want);
}

START_TEST(test_slots_malformed)
{
    struct sbuf b;
    sbuf_init(&b);
    char err[256] = "";
    ck_assert_ptr_null(slots_reply_from_shards(NULL, "x", err, sizeof(err)));
    ck_assert_str_eq(err, "CLUSTER SHARDS: reply is not an array");
    ck_assert_ptr_null(slots_reply_from_slots(NULL, "x", err, sizeof(err)));
    ck_assert_str_eq(err, "CLUSTER SLOTS: reply is not an array");

    resp_write_error(&b, "ERR unknown subcommand 'shards'", 31);
    assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: reply is not an array");
    assert_rejected(slots_reply_from_slots, &b, "CLUSTER SLOTS: reply is not an array");

    /* CLUSTER SHARDS. */
    const int ok[] = {0, 16383}, bad1[] = {5, 3}, bad2[] = {0, 16384}, bad3[] = {-1, 5};
    const struct node_spec s[] = {n7001, n7004};
    const int *bads[] = {bad1, bad2, bad3};
    for (int i = 0; i < 3; i++) {
        sbuf_clear(&b);
        resp_write_array_len(&b, 2);
        put_shard(&b, ok, 1, s, 2);
        put_shard(&b, bads[i], 1, s, 2);
        assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: bad slot range in shard 1");
    }
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    resp_write_int(&b, 1);
    assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: shard 0 is malformed");
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    resp_write_array_len(&b, 2);
    put_str(&b, "slots");
    resp_write_array_len(&b, 0);
    assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: shard 0 is malformed");
    /* An odd number of slot bounds. */
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    resp_write_array_len(&b, 4);
    put_str(&b, "slots");
    resp_write_array_len(&b, 3);
    resp_write_int(&b, 0);
    resp_write_int(&b, 1);
    resp_write_int(&b, 2);
    put_str(&b, "nodes");
    resp_write_array_len(&b, 0);
    assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: shard 0 is malformed");
    /* Slot bounds that are not integers. */
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    resp_write_array_len(&b, 4);
    put_str(&b, "slots");
    resp_write_array_len(&b, 2);
    put_str(&b, "0");
    put_str(&b, "16383");
    put_str(&b, "nodes");
    resp_write_array_len(&b, 1);
    put_shards_node(&b, &n7001);
    assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: bad slot range in shard 0");
    /* Slots but only a replica. */
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    put_shard(&b, ok, 1, &n7004, 1);
    assert_rejected(slots_reply_from_shards, &b, "CLUSTER SHARDS: shard 0 has slots but no master");

    /* CLUSTER SLOTS. */
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    resp_write_int(&b, 0);
    assert_rejected(slots_reply_from_slots, &b, "CLUSTER SLOTS: entry 0 is malformed");
    sbuf_clear(&b);
    resp_write_array_len(&b, 2);
    resp_write_array_len(&b, 3);
    resp_write_int(&b, 0);
    resp_write_int(&b, 100);
    put_slots_node(&b, "127.0.0.1", 7001, ID("a"));
    resp_write_array_len(&b, 2);
    resp_write_int(&b, 101);
    resp_write_int(&b, 200);
    assert_rejected(slots_reply_from_slots, &b, "CLUSTER SLOTS: entry 1 is malformed");
    sbuf_clear(&b);
    resp_write_array_len(&b, 1);
    resp_write_array_len(&b, 3);
    put_str(&b, "0");
    resp_write_int(&b, 100);
    put_slots_node(&b, "127.0.0.1", 7001, ID("a"));
    assert_rejected(slots_reply_from_slots, &b, "CLUSTER SLOTS: entry 0 is malformed");
    static const int ranges[][2] = {{100, 99}, {0, 16384}, {-1, 10}};
    for (int i = 0; i < 3; i++) {
        sbuf_clear(&b);
        resp_write_array_len(&b, 1);
        resp_write_array_len(&b, 3);
        resp_write_int(&b, ranges[i][0]);
        resp_write_int(&b, ranges[i][1]);
        put_slots_node(&b, "127.0.0.1", 7001, ID("a"));
        assert_rejected(slots_reply_from_slots, &b, "CLUSTER SLOTS: bad slot range in entry 0");
    }
    /* An empty reply is a valid map that serves nothing. */
    sbuf_clear(&b);
    resp_write_array_len(&b, 0);
    struct slotmap *m = slots_map(&b, "x", err, sizeof(err));
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->nnodes, 0);
    ck_assert_int_eq(m->covered, 0);
    ck_assert_ptr_null(slotmap_master(m, 0));
    slotmap_unref(m);
    m = shards_map(&b, "x", err, sizeof(err));
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->nshards, 0);
    slotmap_unref(m);
    sbuf_free(&b);
}
END_TEST

/* Two masters A (slots 0-99) and B (100-199), each with the given config epoch, in one map. */
static struct slotmap *epoch_map(const char *a_id, long long a_ep, const char *b_id, long long b_ep)
{
    struct slotmap *m = slotmap_create();
    int a = slotmap_add_node(m, a_id, "127.0.0.1", 7001, SLOTMAP_MASTER, SLOTMAP_ONLINE, 0);
    int b = slotmap_add_node(m, b_id, "127.0.0.1", 7002, SLOTMAP_MASTER, SLOTMAP_ONLINE, 0);
    m->nodes[a].config_epoch = a_ep;
    m->nodes[b].config_epoch = b_ep;
    slotmap_assign(m, 0, 99, slotmap_add_shard(m, a));
    slotmap_assign(m, 100, 199, slotmap_add_shard(m, b));
    return m;
}

START_TEST(test_slotmap_older_by_config_epoch)
{
    char A[41], B[41], C[41];
    memset(A, 'a', 40), memset(B, 'b', 40), memset(C, 'c', 40);
    A[40] = B[40] = C[40] = '\0';
    struct slotmap *old = epoch_map(A, 1, B, 2);
    /* C took A's slots in a failover: its epoch is higher. */
    struct slotmap *cur = epoch_map(C, 3, B, 2);
    ck_assert_int_eq(slotmap_older(old, cur), 1);
    ck_assert_int_eq(slotmap_older(cur, old), 0);
    /* The same owners: neither is older, whatever the epochs. */
    struct slotmap *same = epoch_map(A, 1, B, 2);
    ck_assert_int_eq(slotmap_older(old, same), 0);
    ck_assert_int_eq(slotmap_same(old, same), 1);
    same->nodes[0].config_epoch = 5;
    ck_assert_int_eq(slotmap_same(old, same), 0);
    /* Mixed (each newer for some slots): neither is older. */
    struct slotmap *mixed = epoch_map(C, 3, A, 0);
    struct slotmap *other = epoch_map(A, 1, B, 4);
    ck_assert_int_eq(slotmap_older(mixed, other), 0);
    ck_assert_int_eq(slotmap_older(other, mixed), 0);
    /* ... but each is older somewhere: neither may replace the other as a whole. */
    ck_assert_int_eq(slotmap_older_somewhere(mixed, other), 1);
    ck_assert_int_eq(slotmap_older_somewhere(other, mixed), 1);
    ck_assert_int_eq(slotmap_older_somewhere(cur, old), 0);
    ck_assert_int_eq(slotmap_older_somewhere(old, cur), 1);
    /* Unknown epochs (0, CLUSTER NODES refused) never make a view older. */
    struct slotmap *unk = epoch_map(C, 0, B, 0);
    struct slotmap *unk2 = epoch_map(A, 0, B, 0);
    ck_assert_int_eq(slotmap_older(unk, unk2), 0);
    ck_assert_int_eq(slotmap_older(unk2, unk), 0);
    ck_assert_int_eq(slotmap_older_somewhere(unk, unk2), 0);
    slotmap_unref(old), slotmap_unref(cur), slotmap_unref(same), slotmap_unref(mixed);
    slotmap_unref(other), slotmap_unref(unk), slotmap_unref(unk2);
}
END_TEST

/* A deposed master that woke may answer with its slots unserved; a master that serves nothing (a
 * replica now, or gone) is what the suspect verdict calls deposed. */
START_TEST(test_slotmap_loses_slots_and_serves)
{
    char A[41], B[41], C[41];
    memset(A, 'a', 40), memset(B, 'b', 40), memset(C, 'c', 40);
    A[40] = B[40] = C[40] = '\0';
    struct slotmap *cur = epoch_map(A, 1, B, 2);
    struct slotmap *zombie = epoch_map(A, 1, B, 2);
    ck_assert_int_eq(slotmap_loses_slots(zombie, cur), 0);
    zombie->slot_shard[42] = -1; /* A dropped slot 42 and does not know who has it */
    ck_assert_int_eq(slotmap_loses_slots(zombie, cur), 1);
    ck_assert_int_eq(slotmap_loses_slots(cur, zombie), 0);
    ck_assert_int_eq(slotmap_older(zombie, cur), 0); /* the epochs alone would not refuse it */
    ck_assert_int_eq(slotmap_serves_slots(cur, 0), 1);
    ck_assert_int_eq(slotmap_serves_slots(cur, 1), 1);
    ck_assert_int_eq(slotmap_serves_slots(cur, 2), 0);
    ck_assert_int_eq(slotmap_serves_slots(cur, -1), 0);
    /* After a failover C serves A's slots; A, now a replica, serves none. */
    struct slotmap *after = epoch_map(C, 3, B, 2);
    int a = slotmap_add_node(after, A, "127.0.0.1", 7003, SLOTMAP_REPLICA, SLOTMAP_ONLINE, 0);
    slotmap_shard_add_replica(after, 0, a);
    ck_assert_int_eq(slotmap_serves_slots(after, a), 0);
    ck_assert_int_eq(slotmap_serves_slots(after, 0), 1);
    slotmap_unref(cur), slotmap_unref(zombie), slotmap_unref(after);
}
END_TEST

Suite *slots_reply_suite(void)
{
    Suite *s = suite_create("slots_reply");
    TCase *tc = tcase_create("slots_reply");
    tcase_add_test(tc, test_slots_fixtures);
    tcase_add_test(tc, test_slots_handmade_3x1);
    tcase_add_test(tc, test_slots_order_does_not_matter);
    tcase_add_test(tc, test_slots_failed_master_and_loading);
    tcase_add_test(tc, test_slots_shard_without_slots);
    tcase_add_test(tc, test_slots_endpoints);
    tcase_add_test(tc, test_slots_malformed);
    tcase_add_test(tc, test_slotmap_older_by_config_epoch);
    tcase_add_test(tc, test_slotmap_loses_slots_and_serves);
    suite_add_tcase(s, tc);
    return s;
}
