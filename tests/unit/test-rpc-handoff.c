/*
 * test-rpc-handoff.c - the handoff check's messages (rpc_handoff.h):
 * round trips, the limits on encode and decode, truncations and trailing
 * bytes refused.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <string.h>

#include "rpc/rpc_handoff.h"

static void test_query(void)
{
    dk_msg_handoff_query q, q2;
    memset(&q, 0, sizeof(q));
    q.n_targets = 2;
    strcpy(q.targets[0], "n4");
    strcpy(q.targets[1], "node_b-7");
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_msg_handoff_query_encode(&b, &q), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_handoff_query_decode(dk_buf_slice(&b), &q2), 0);
    CU_ASSERT_EQUAL(q2.n_targets, 2);
    CU_ASSERT_STRING_EQUAL(q2.targets[0], "n4");
    CU_ASSERT_STRING_EQUAL(q2.targets[1], "node_b-7");
    /* every truncation and a trailing byte are refused */
    for (size_t n = 0; n < b.len; n++)
        CU_ASSERT_NOT_EQUAL(dk_msg_handoff_query_decode((dk_slice){b.data, n}, &q2), 0);
    CU_ASSERT_EQUAL(dk_buf_append(&b, "x", 1), 0);
    CU_ASSERT_NOT_EQUAL(dk_msg_handoff_query_decode(dk_buf_slice(&b), &q2), 0);
    /* limits: no target, too many, a bad id; the buffer is left as it was */
    dk_buf_reset(&b);
    q.n_targets = 0;
    CU_ASSERT_EQUAL(dk_msg_handoff_query_encode(&b, &q), -EINVAL);
    q.n_targets = DK_HANDOFF_TARGETS_MAX + 1;
    CU_ASSERT_EQUAL(dk_msg_handoff_query_encode(&b, &q), -EINVAL);
    q.n_targets = 1;
    strcpy(q.targets[0], "N4 ");
    CU_ASSERT_EQUAL(dk_msg_handoff_query_encode(&b, &q), -EINVAL);
    CU_ASSERT_EQUAL(b.len, 0);
    const uint8_t bad_id[] = {1, 2, 'n', '!'}, none[] = {0}, many[] = {DK_HANDOFF_TARGETS_MAX + 1};
    CU_ASSERT_NOT_EQUAL(dk_msg_handoff_query_decode((dk_slice){bad_id, sizeof(bad_id)}, &q2), 0);
    CU_ASSERT_NOT_EQUAL(dk_msg_handoff_query_decode((dk_slice){none, sizeof(none)}, &q2), 0);
    CU_ASSERT_NOT_EQUAL(dk_msg_handoff_query_decode((dk_slice){many, sizeof(many)}, &q2), 0);
    dk_buf_free(&b);
}

static void test_state(void)
{
    dk_msg_handoff_state s = {.epoch = 1ull << 40,
                              .flags = DK_HANDOFF_SETTLED | DK_HANDOFF_COUNTED,
                              .hinted = 3},
                         s2;
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_msg_handoff_state_encode(&b, &s), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_handoff_state_decode(dk_buf_slice(&b), &s2), 0);
    CU_ASSERT(s2.epoch == s.epoch && s2.flags == s.flags && s2.hinted == 3);
    for (size_t n = 0; n < b.len; n++)
        CU_ASSERT_NOT_EQUAL(dk_msg_handoff_state_decode((dk_slice){b.data, n}, &s2), 0);
    dk_buf_reset(&b);
    s.flags = 4;
    CU_ASSERT_EQUAL(dk_msg_handoff_state_encode(&b, &s), -EINVAL);
    const uint8_t bad_flags[] = {1, 4, 0}, bad_hinted[] = {1, 0, DK_HANDOFF_TARGETS_MAX + 1};
    CU_ASSERT_NOT_EQUAL(dk_msg_handoff_state_decode((dk_slice){bad_flags, 3}, &s2), 0);
    CU_ASSERT_NOT_EQUAL(dk_msg_handoff_state_decode((dk_slice){bad_hinted, 3}, &s2), 0);
    dk_buf_free(&b);
}

static CU_TestInfo handoff_tests[] = {
    {"HANDOFF_QUERY round trip and limits", test_query},
    {"HANDOFF_STATE round trip and limits", test_state},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc-handoff", .pTests = handoff_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
