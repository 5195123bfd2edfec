/* Unit tests for scripts.c: the script cache's worker and shared parts. */
#include "mem.h"
#include "scripts.h"
#include "sha1.h"

#include "suites.h"

#include <string.h>

static const char *A = "return 1", *B = "return 2";

static int known(struct script_local *l, const char *body)
{
    char sha[41];
    sha1_hex(body, strlen(body), sha);
    size_t len = 0;
    char *got = scripts_lookup(l, sha, &len);
    int ok = got && len == strlen(body) && memcmp(got, body, len) == 0;
    px_free(got);
    return ok;
}

/* A script one worker forgets (the nodes refused it) is unknown to every worker, even one that
 * had its own copy; other scripts stay known; a later remember makes it known again. */
START_TEST(test_scripts_forget_everywhere)
{
    struct script_cache *sc = scripts_create();
    struct script_local *w1 = scripts_local_create(sc), *w2 = scripts_local_create(sc);
    scripts_remember(w1, A, strlen(A));
    scripts_remember(w2, A, strlen(A));
    scripts_remember(w2, B, strlen(B));
    ck_assert(known(w1, A) && known(w2, A) && known(w1, B));
    scripts_forget(w1, A, strlen(A));
    ck_assert(!known(w1, A));
    ck_assert(!known(w2, A));
    ck_assert(known(w2, B) && known(w1, B));
    scripts_remember(w2, A, strlen(A));
    ck_assert(known(w1, A) && known(w2, A));
    scripts_flush(w1);
    ck_assert(!known(w1, A) && !known(w2, A) && !known(w2, B));
    scripts_local_free(w1);
    scripts_local_free(w2);
    scripts_free(sc);
}
END_TEST

Suite *scripts_suite(void)
{
    Suite *s = suite_create("scripts");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_scripts_forget_everywhere);
    suite_add_tcase(s, tc);
    return s;
}
