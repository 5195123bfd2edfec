/*
 * Unit tests for proxy/crossslot that need no cluster: the hash tag chosen for each slot, which
 * the temporary keys of -cross-slot compute carry so that they land next to the command's first
 * key. (The computations themselves are compared with a redis-server in the crossslot
 * integration suite.)
 */
#include "suites.h"

#include "crc16.h"
#include "crossslot.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

START_TEST(test_crossslot_tags)
{
    for (unsigned slot = 0; slot < CRC16_SLOTS; slot++) {
        const char *tag = cross_slot_tag(slot);
        size_t n = strlen(tag);
        ck_assert_msg(n >= 1 && n <= 4, "slot %u: tag of %zu bytes", slot, n);
        for (size_t i = 0; i < n; i++) ck_assert(isalnum((unsigned char)tag[i]));
        ck_assert_uint_eq(crc16_key_slot(tag, n), slot);
        /* As a key's hash tag, whatever follows it. */
        char key[64];
        size_t k = (size_t)snprintf(key, sizeof(key), "{%s}slotproxy-tmp:1", tag);
        ck_assert_uint_eq(crc16_key_slot(key, k), slot);
    }
}
END_TEST

Suite *crossslot_suite(void)
{
    Suite *s = suite_create("crossslot");
    TCase *tc = tcase_create("crossslot");
    tcase_add_test(tc, test_crossslot_tags);
    suite_add_tcase(s, tc);
    return s;
}
