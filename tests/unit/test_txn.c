/*
 * Unit tests for proxy/txn's state machine: what each of MULTI, EXEC, DISCARD, WATCH, UNWATCH
 * and a queued command does in each state, as sequences a client sends. The answers are Redis's
 * (nested MULTI, EXEC without MULTI, EXECABORT after a queuing error, a null array when a watched
 * key's connection broke) plus the proxy's own rule that a transaction lives on one slot.
 */
#include "suites.h"

#include "crc16.h"
#include "txn.h"

#include <string.h>

static int slot(const char *key)
{
    return (int)crc16_key_slot(key, strlen(key));
}

/* One step, checked: what is done and answered, whether a connection is leased for which slot. */
static void step(struct txn_fsm *s, enum txn_event ev, int key_slot, int node_can,
                 enum txn_act act, enum txn_reply reply, int lease)
{
    struct txn_step st;
    txn_decide(s, ev, key_slot, node_can, &st);
    ck_assert_msg(st.act == act, "event %d: act %d, want %d", ev, st.act, act);
    ck_assert_msg(st.reply == reply, "event %d: reply %d, want %d", ev, st.reply, reply);
    ck_assert_msg(st.lease == lease, "event %d: lease %d, want %d", ev, st.lease, lease);
}

#define NONE KEYS_SLOT_NONE
#define NO_LEASE (-2)

START_TEST(test_txn_multi_exec)
{
    struct txn_fsm s;
    txn_fsm_init(&s);
    int k = slot("k");
    /* MULTI is kept by the proxy until the node is known. */
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    ck_assert_int_eq(s.phase, RT_TX_MULTI);
    ck_assert_uint_eq(s.nkept, 1);
    /* Keyless commands too. */
    step(&s, TXE_COMMAND, NONE, 1, TXA_KEEP, TXR_QUEUED, NO_LEASE);
    ck_assert_uint_eq(s.nkept, 2);
    /* The first key names the node: a connection to it, MULTI and the rest sent ahead. */
    step(&s, TXE_COMMAND, k, 1, TXA_SEND, TXR_NONE, k);
    ck_assert(s.conn && s.slot == k && s.nkept == 0);
    step(&s, TXE_COMMAND, k, 1, TXA_SEND, TXR_NONE, NO_LEASE);
    step(&s, TXE_COMMAND, NONE, 1, TXA_SEND, TXR_NONE, NO_LEASE);
    struct txn_step st;
    txn_decide(&s, TXE_EXEC, NONE, 1, &st);
    ck_assert(st.act == TXA_SEND && st.barrier && st.end && st.detach && st.lease == NO_LEASE);
    /* The next transaction starts afresh. */
    ck_assert(s.phase == RT_TX_NONE && !s.conn && s.slot == -1 && !s.aborted);
    /* Only keyless commands: EXEC takes any master. */
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, NONE, 1, TXA_KEEP, TXR_QUEUED, NO_LEASE);
    step(&s, TXE_EXEC, NONE, 1, TXA_SEND, TXR_NONE, -1);
}
END_TEST

START_TEST(test_txn_errors)
{
    struct txn_fsm s;
    txn_fsm_init(&s);
    step(&s, TXE_EXEC, NONE, 1, TXA_REPLY, TXR_ERR_EXEC_WITHOUT, NO_LEASE);
    step(&s, TXE_DISCARD, NONE, 1, TXA_REPLY, TXR_ERR_DISCARD_WITHOUT, NO_LEASE);
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    /* As Redis: a nested MULTI and WATCH inside MULTI are errors that do not abort. */
    step(&s, TXE_MULTI, NONE, 1, TXA_REPLY, TXR_ERR_NESTED, NO_LEASE);
    step(&s, TXE_WATCH, slot("k"), 1, TXA_REPLY, TXR_ERR_WATCH_IN_MULTI, NO_LEASE);
    ck_assert(!s.aborted);
    /* A command the proxy cannot queue aborts; later ones are +QUEUED and sent nowhere. */
    step(&s, TXE_COMMAND, NONE, 0, TXA_REPLY, TXR_ERR_NOT_IN_MULTI, NO_LEASE);
    ck_assert(s.aborted);
    step(&s, TXE_COMMAND, slot("k"), 1, TXA_REPLY, TXR_QUEUED, NO_LEASE);
    step(&s, TXE_EXEC, NONE, 1, TXA_REPLY, TXR_EXECABORT, NO_LEASE);
    ck_assert(s.phase == RT_TX_NONE && !s.aborted);
    /* A key of another slot: CROSSSLOT, and with a connection EXEC discards on the node. */
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, slot("a"), 1, TXA_SEND, TXR_NONE, slot("a"));
    struct txn_step st;
    txn_decide(&s, TXE_COMMAND, slot("b"), 1, &st);
    ck_assert(st.reply == TXR_ERR_CROSSSLOT && st.rejected && s.aborted);
    txn_decide(&s, TXE_COMMAND, KEYS_SLOT_CROSS, 1, &st);
    ck_assert(st.reply == TXR_ERR_CROSSSLOT);
    txn_decide(&s, TXE_EXEC, NONE, 1, &st);
    ck_assert(st.act == TXA_SEND_ABORT && st.reply == TXR_EXECABORT && st.end && st.detach);
    ck_assert(!s.conn && s.phase == RT_TX_NONE);
}
END_TEST

START_TEST(test_txn_watch)
{
    struct txn_fsm s;
    txn_fsm_init(&s);
    int k = slot("k");
    step(&s, TXE_WATCH, k, 1, TXA_SEND, TXR_NONE, k);
    ck_assert(s.phase == RT_TX_WATCHING && s.conn && s.slot == k);
    /* Another slot cannot be watched on the same connection. */
    step(&s, TXE_WATCH, slot("other"), 1, TXA_REPLY, TXR_ERR_CROSSSLOT, NO_LEASE);
    /* A read of the watched slot goes on the WATCH's connection. */
    step(&s, TXE_COMMAND, k, 1, TXA_SEND, TXR_NONE, NO_LEASE);
    /* MULTI goes to the node at once: the connection is there. */
    step(&s, TXE_MULTI, NONE, 1, TXA_SEND, TXR_NONE, NO_LEASE);
    step(&s, TXE_COMMAND, k, 1, TXA_SEND, TXR_NONE, NO_LEASE);
    step(&s, TXE_EXEC, NONE, 1, TXA_SEND, TXR_NONE, NO_LEASE);
    ck_assert(s.phase == RT_TX_NONE && !s.conn);
    /* The WATCH's connection breaks: EXEC answers a null array, as if the key had changed. */
    step(&s, TXE_WATCH, k, 1, TXA_SEND, TXR_NONE, k);
    txn_fsm_conn_lost(&s);
    ck_assert(s.watch_lost && !s.conn && s.phase == RT_TX_WATCHING);
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, k, 1, TXA_SEND, TXR_NONE, k);
    struct txn_step st;
    txn_decide(&s, TXE_EXEC, NONE, 1, &st);
    ck_assert(st.act == TXA_SEND_ABORT && st.reply == TXR_NULL_ARRAY);
    /* ... and without a connection by then, at once. */
    step(&s, TXE_WATCH, k, 1, TXA_SEND, TXR_NONE, k);
    txn_fsm_conn_lost(&s);
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_EXEC, NONE, 1, TXA_REPLY, TXR_NULL_ARRAY, NO_LEASE);
    /* UNWATCH forgets a broken WATCH: the next EXEC runs. */
    step(&s, TXE_WATCH, k, 1, TXA_SEND, TXR_NONE, k);
    txn_fsm_conn_lost(&s);
    step(&s, TXE_UNWATCH, NONE, 1, TXA_REPLY, TXR_OK, NO_LEASE);
    ck_assert(!s.watch_lost && s.phase == RT_TX_NONE);
    /* UNWATCH with a connection: sent, and the connection is done after it. */
    step(&s, TXE_WATCH, k, 1, TXA_SEND, TXR_NONE, k);
    txn_decide(&s, TXE_UNWATCH, NONE, 1, &st);
    ck_assert(st.act == TXA_SEND && st.end && st.detach && !s.conn);
}
END_TEST

/* Commands the proxy runs itself are kept for after the node's part; EXEC then combines. */
START_TEST(test_txn_after)
{
    struct txn_fsm s;
    txn_fsm_init(&s);
    int k = slot("k");
    step(&s, TXE_MULTI, NONE, TXW_NODE, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, k, TXW_NODE, TXA_SEND, TXR_NONE, k);
    step(&s, TXE_COMMAND, NONE, TXW_PROXY, TXA_AFTER, TXR_QUEUED, NO_LEASE);
    step(&s, TXE_COMMAND, k, TXW_NODE, TXA_SEND, TXR_NONE, NO_LEASE);
    ck_assert_uint_eq(s.nqueued, 3);
    ck_assert_uint_eq(s.nafter, 1);
    struct txn_step st;
    txn_decide(&s, TXE_EXEC, NONE, TXW_NODE, &st);
    ck_assert(st.act == TXA_SEND && st.combine && st.barrier);
    ck_assert(s.nqueued == 0 && s.nafter == 0);
    /* Without one, EXEC does not combine. */
    step(&s, TXE_MULTI, NONE, TXW_NODE, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, k, TXW_NODE, TXA_SEND, TXR_NONE, k);
    txn_decide(&s, TXE_EXEC, NONE, TXW_NODE, &st);
    ck_assert(st.act == TXA_SEND && !st.combine);
    /* Only proxy commands: the node's part is MULTI alone, on any master. */
    step(&s, TXE_MULTI, NONE, TXW_NODE, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, NONE, TXW_PROXY_WRITE, TXA_AFTER, TXR_QUEUED, NO_LEASE);
    txn_decide(&s, TXE_EXEC, NONE, TXW_NODE, &st);
    ck_assert(st.act == TXA_SEND && st.combine && st.lease == -1);
    /* A node command behind a write the proxy runs after it would run first: refused. */
    step(&s, TXE_MULTI, NONE, TXW_NODE, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, k, TXW_NODE, TXA_SEND, TXR_NONE, k);
    step(&s, TXE_COMMAND, NONE, TXW_PROXY_WRITE, TXA_AFTER, TXR_QUEUED, NO_LEASE);
    step(&s, TXE_COMMAND, k, TXW_NODE, TXA_REPLY, TXR_ERR_AFTER_WRITE, NO_LEASE);
    ck_assert(s.aborted);
    /* Doomed: what the proxy would run is not kept; EXEC aborts without combining. */
    step(&s, TXE_COMMAND, NONE, TXW_PROXY, TXA_REPLY, TXR_QUEUED, NO_LEASE);
    txn_decide(&s, TXE_EXEC, NONE, TXW_NODE, &st);
    ck_assert(st.act == TXA_SEND_ABORT && st.reply == TXR_EXECABORT && !st.combine);
    /* A proxy command with keys of another slot is still CROSSSLOT. */
    step(&s, TXE_MULTI, NONE, TXW_NODE, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, KEYS_SLOT_CROSS, TXW_PROXY, TXA_REPLY, TXR_ERR_CROSSSLOT, NO_LEASE);
    /* Nobody can run it: refused, EXEC fails. */
    step(&s, TXE_COMMAND, NONE, TXW_NEVER, TXA_REPLY, TXR_ERR_NOT_IN_MULTI, NO_LEASE);
    ck_assert(s.aborted);
}
END_TEST

START_TEST(test_txn_discard_and_loss)
{
    struct txn_fsm s;
    txn_fsm_init(&s);
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_DISCARD, NONE, 1, TXA_REPLY, TXR_OK, NO_LEASE);
    ck_assert(s.phase == RT_TX_NONE && s.nkept == 0);
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, slot("k"), 1, TXA_SEND, TXR_NONE, slot("k"));
    struct txn_step st;
    txn_decide(&s, TXE_DISCARD, NONE, 1, &st);
    ck_assert(st.act == TXA_SEND && st.end && st.detach && !s.conn);
    /* The connection breaks while MULTI is open: EXEC answers EXECABORT. */
    step(&s, TXE_MULTI, NONE, 1, TXA_KEEP, TXR_OK, NO_LEASE);
    step(&s, TXE_COMMAND, slot("k"), 1, TXA_SEND, TXR_NONE, slot("k"));
    txn_fsm_conn_lost(&s);
    ck_assert(s.aborted && !s.conn && s.phase == RT_TX_MULTI);
    step(&s, TXE_COMMAND, slot("k"), 1, TXA_REPLY, TXR_QUEUED, NO_LEASE);
    step(&s, TXE_EXEC, NONE, 1, TXA_REPLY, TXR_EXECABORT, NO_LEASE);
}
END_TEST

Suite *txn_suite(void)
{
    Suite *s = suite_create("txn");
    TCase *tc = tcase_create("txn");
    tcase_add_test(tc, test_txn_multi_exec);
    tcase_add_test(tc, test_txn_errors);
    tcase_add_test(tc, test_txn_watch);
    tcase_add_test(tc, test_txn_discard_and_loss);
    tcase_add_test(tc, test_txn_after);
    suite_add_tcase(s, tc);
    return s;
}
