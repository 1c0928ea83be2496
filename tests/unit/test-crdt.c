/*
 * test-crdt.c - the crdt conflict resolver (conflict/crdt), loaded with
 * dlopen from $DYNKV_PLUGIN_PATH as a node loads it and driven the way
 * the framework drives it: objects live as encodings (typed CRDT,
 * object.h), every update or merge output is encoded and then released.
 *
 * Scenarios are scripted step by step (which node applies which operation
 * to which replica, which copies meet) for every type: counter, set
 * (add-wins, removes only what was observed), register (hybrid logical
 * clocks under clock skew), map (update-wins over a concurrent remove,
 * fields of two types), and the refusals. Random histories (the merge
 * laws, convergence) and the metadata bound are test-crdt-laws.c; both
 * use tc_crdt.h.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_crdt.h"

/* ---- counters ----------------------------------------------------------------------------- */

static void test_counter(void)
{
    dk_buf r[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT}, m = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&r[0], "n1", 5), 0);
    CU_ASSERT_STRING_EQUAL(show(&r[0]), "5");
    CU_ASSERT_EQUAL(inc(&r[0], "n1", -2), 0);
    CU_ASSERT_STRING_EQUAL(show(&r[0]), "3");
    copy(&r[1], &r[0]);
    copy(&r[2], &r[0]);
    /* three coordinators increment concurrently */
    CU_ASSERT_EQUAL(inc(&r[0], "n1", 10), 0);
    CU_ASSERT_EQUAL(inc(&r[1], "n2", 100), 0);
    CU_ASSERT_EQUAL(inc(&r[1], "n2", -1), 0);
    CU_ASSERT_EQUAL(inc(&r[2], "n3", 1000), 0);
    merge(&m, &r[0], &r[1]);
    CU_ASSERT_STRING_EQUAL(show(&m), "112");
    merge(&m, &m, &r[2]);
    CU_ASSERT_STRING_EQUAL(show(&m), "1112");
    /* stale copies change nothing; duplicates count once */
    dk_buf again = DK_BUF_INIT;
    merge(&again, &m, &r[1]);
    merge(&again, &again, &r[0]);
    CU_ASSERT_TRUE(same(&again, &m));
    /* an increment of 0 creates nothing but is valid; extremes saturate */
    dk_buf big = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&big, "n1", 0), 0);
    CU_ASSERT_STRING_EQUAL(show(&big), "0");
    CU_ASSERT_EQUAL(inc(&big, "n1", INT64_MAX), 0);
    CU_ASSERT_EQUAL(inc(&big, "n2", INT64_MAX), 0);
    CU_ASSERT_STRING_EQUAL(show(&big), "9223372036854775807");
    CU_ASSERT_EQUAL(inc(&big, "n1", INT64_MAX), 0);       /* n1's sum: 2^64 - 2 */
    CU_ASSERT_EQUAL(inc(&big, "n1", INT64_MAX), -ERANGE); /* one actor's sum would wrap */
    CU_ASSERT_STRING_EQUAL(show(&big), "9223372036854775807");
    dk_buf neg = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&neg, "n1", INT64_MIN), 0);
    CU_ASSERT_STRING_EQUAL(show(&neg), "-9223372036854775808");
    CU_ASSERT_EQUAL(inc(&neg, "n2", INT64_MIN), 0);
    CU_ASSERT_STRING_EQUAL(show(&neg), "-9223372036854775808");
    CU_ASSERT_EQUAL(inc(&neg, "n2", 5), 0);
    CU_ASSERT_STRING_EQUAL(show(&neg), "-9223372036854775808");
    dk_buf_free(&neg);
    free_all(r, 3);
    dk_buf_free(&m);
    dk_buf_free(&again);
    dk_buf_free(&big);
}

/* ---- sets ---------------------------------------------------------------------------------------- */

static void test_set_add_wins(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    dk_slice abc[] = {S("c"), S("a"), S("b"), S("a")};
    dk_crdt_op op = op_set(DK_CRDT_SET_ADD, abc, 4);
    CU_ASSERT_EQUAL(apply(&r1, "n1", NOW, &op), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "{a,b,c}");
    copy(&r2, &r1);
    /* n1 removes a while n2 adds a again: the add n1 did not see wins */
    CU_ASSERT_EQUAL(rm1(&r1, "n1", NOW + 1, "a"), 0);
    CU_ASSERT_EQUAL(add1(&r2, "n2", NOW + 1, "a"), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "{b,c}");
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "{a,b,c}");
    /* n1 removes b, n2 does nothing with b: the remove holds */
    CU_ASSERT_EQUAL(rm1(&r1, "n1", NOW + 2, "b"), 0);
    merge(&m, &m, &r1);
    CU_ASSERT_STRING_EQUAL(show(&m), "{a,c}");
    /* an old copy that still holds b does not bring it back */
    dk_buf old = DK_BUF_INIT;
    copy(&old, &r2);
    merge(&m, &m, &old);
    CU_ASSERT_STRING_EQUAL(show(&m), "{a,c}");
    /* a remove after seeing both adds of a removes it everywhere */
    CU_ASSERT_EQUAL(rm1(&m, "n3", NOW + 3, "a"), 0);
    merge(&m, &m, &r2);
    merge(&m, &r1, &m);
    CU_ASSERT_STRING_EQUAL(show(&m), "{c}");
    /* remove everything: the set exists, empty; adding again works */
    CU_ASSERT_EQUAL(rm1(&m, "n1", NOW + 4, "c"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "{}");
    CU_ASSERT_EQUAL(add1(&m, "n2", NOW + 5, "c"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "{c}");
    /* removing what is absent, and an empty add, are no-ops on the value */
    CU_ASSERT_EQUAL(rm1(&m, "n2", NOW + 6, "zz"), 0);
    dk_crdt_op none = op_set(DK_CRDT_SET_ADD, NULL, 0);
    CU_ASSERT_EQUAL(apply(&m, "n2", NOW + 7, &none), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "{c}");
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
    dk_buf_free(&old);
}

/* Elements are bytes: empty, UTF-8, a prefix of another; the value is
 * sorted bytewise. */
static void test_set_order(void)
{
    dk_buf r = DK_BUF_INIT;
    dk_slice e[] = {S("\xc3\xa9t\xc3\xa9"), S("b"), S(""), S("ba"), S("B")};
    dk_crdt_op op = op_set(DK_CRDT_SET_ADD, e, 5);
    CU_ASSERT_EQUAL(apply(&r, "n1", NOW, &op), 0);
    CU_ASSERT_STRING_EQUAL(show(&r), "{,B,b,ba,\xc3\xa9t\xc3\xa9}");
    dk_buf_free(&r);
}

/* ---- registers ------------------------------------------------------------------------------------- */

/* A node whose clock runs an hour ahead wins only the races against
 * writes that had not seen its own. */
static void test_register_skew(void)
{
    dk_buf fast = DK_BUF_INIT, slow = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    /* n9's clock runs one hour ahead. It assigns first. */
    const int64_t HOUR = 3600 * 1000;
    CU_ASSERT_EQUAL(assign(&fast, "n9", NOW + HOUR, "from the future"), 0);
    CU_ASSERT_STRING_EQUAL(show(&fast), "'from the future'");
    /* n1 (right clock) has seen it and assigns: the later write wins,
     * although its wall clock is an hour behind the first one's. */
    copy(&slow, &fast);
    CU_ASSERT_EQUAL(assign(&slow, "n1", NOW + 10, "later"), 0);
    merge(&m, &fast, &slow);
    merge(&m2, &slow, &fast);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "'later'");
    /* and again: n1 writes twice in the same millisecond, each wins */
    CU_ASSERT_EQUAL(assign(&m, "n1", NOW + 10, "again"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "'again'");
    CU_ASSERT_EQUAL(assign(&m, "n1", NOW + 10, "and again"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "'and again'");
    /* Concurrent: n9 (fast) and n1 assign without seeing each other. The
     * fast clock wins this race ... */
    copy(&slow, &m);
    copy(&fast, &m);
    CU_ASSERT_EQUAL(assign(&fast, "n9", NOW + HOUR + 20, "fast wins the race"), 0);
    CU_ASSERT_EQUAL(assign(&slow, "n1", NOW + 20, "slow loses the race"), 0);
    merge(&m, &slow, &fast);
    CU_ASSERT_STRING_EQUAL(show(&m), "'fast wins the race'");
    /* ... but n1's next write has seen n9's timestamp through the merged
     * state and wins, through any node. */
    CU_ASSERT_EQUAL(assign(&m, "n1", NOW + 30, "slow after seeing it"), 0);
    merge(&m, &m, &fast);
    CU_ASSERT_STRING_EQUAL(show(&m), "'slow after seeing it'");
    /* Two writes that both saw the fast node's x are concurrent with each
     * other: both take x's wall time with logical 1 (HLC), never an hour
     * less, and the tie goes to the higher dot (n2). */
    dk_buf a = DK_BUF_INIT;
    CU_ASSERT_EQUAL(assign(&a, "n9", NOW + HOUR, "x"), 0);
    dk_buf b = DK_BUF_INIT;
    copy(&b, &a);
    CU_ASSERT_EQUAL(assign(&b, "n1", NOW, "y"), 0); /* saw x: replaces it */
    CU_ASSERT_EQUAL(assign(&a, "n2", NOW, "z"), 0); /* saw x too, concurrent with y */
    merge(&m, &a, &b);
    merge(&m2, &b, &a);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "'z'");
    dk_buf_free(&fast);
    dk_buf_free(&slow);
    dk_buf_free(&m);
    dk_buf_free(&m2);
    dk_buf_free(&a);
    dk_buf_free(&b);
}

/* ---- maps ---------------------------------------------------------------------------------------------- */

static void test_map(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    dk_slice tags[] = {S("x"), S("y")};
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "visits", op_inc(2), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "tags", op_set(DK_CRDT_SET_ADD, tags, 2), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "name", op_reg("ann"), NULL), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "[name='ann' tags={x,y} visits=2]");
    /* an operation of another type on a field: refused, nothing changes */
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "visits", op_reg("oops"), NULL), DK_EWRONGTYPE);
    CU_ASSERT_STRING_EQUAL(show(&r1), "[name='ann' tags={x,y} visits=2]");
    /* a map operation on a map key of another type: refused */
    CU_ASSERT_EQUAL(inc(&r1, "n1", 1), DK_EWRONGTYPE);

    copy(&r2, &r1);
    /* n1 removes visits while n2 increments it: update wins, with n2's
     * increment only (what n1 had seen is gone) */
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW + 1, NULL, op_inc(0), "visits"), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "[name='ann' tags={x,y}]");
    CU_ASSERT_EQUAL(map_op(&r2, "n2", NOW + 1, "visits", op_inc(5), NULL), 0);
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='ann' tags={x,y} visits=5]");
    /* removing the last element of a set field removes the field */
    dk_crdt_op rm = op_set(DK_CRDT_SET_REMOVE, tags, 2);
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 2, "tags", rm, NULL), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='ann' visits=5]");
    /* an update and a removal in one operation */
    dk_crdt_field_op f = {.name = S("name"), .op = op_reg("bob")};
    dk_slice gone[] = {S("visits"), S("never-there")};
    dk_crdt_op both = {.type = DK_CRDT_MAP, .fields = &f, .n_fields = 1, .removes = gone, .n_removes = 2};
    CU_ASSERT_EQUAL(apply(&m, "n2", NOW + 3, &both), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='bob']");
    /* a removed field comes back empty: old state does not reappear */
    CU_ASSERT_EQUAL(map_op(&m, "n2", NOW + 4, "visits", op_inc(1), NULL), 0);
    merge(&m, &m, &r2);
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='bob' visits=1]");
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
}

/* Two coordinators create one field name with two types: both states are
 * kept, a read shows the higher type, operations must use it, and a
 * remove clears both. */
static void test_map_field_types(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    dk_slice e[] = {S("e")};
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "f", op_inc(7), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&r2, "n2", NOW, "f", op_set(DK_CRDT_SET_ADD, e, 1), NULL), 0);
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "[f={e}]");
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 1, "f", op_inc(1), NULL), DK_EWRONGTYPE);
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 1, "f", op_set(DK_CRDT_SET_ADD, e, 1), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 2, NULL, op_inc(0), "f"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[]");
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 3, "f", op_inc(1), NULL), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[f=1]");
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
}

/* Two coordinators create one key as two CRDT types: the higher type's
 * state wins on every replica; operations of the lower type are refused. */
static void test_key_types(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&r1, "n1", 3), 0);
    CU_ASSERT_EQUAL(add1(&r2, "n2", NOW, "s"), 0);
    CU_ASSERT_EQUAL(add1(&r1, "n1", NOW, "s"), DK_EWRONGTYPE);
    CU_ASSERT_EQUAL(assign(&r2, "n1", NOW, "x"), DK_EWRONGTYPE);
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "{s}");
    CU_ASSERT_EQUAL(inc(&m, "n1", 1), DK_EWRONGTYPE);
    merge(&m2, &m, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
}

/* ---- refusals ---------------------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    dk_object empty, out;
    dk_object_init(&empty);
    dk_object_init(&out);
    dk_write w = {.now_ms = NOW, .value = S("not an op")};
    CU_ASSERT_FATAL(dk_actor_set(&w.actor, "n1", 1) == 0);
    CU_ASSERT_EQUAL(P.ops->update(P.r, &empty, &w, &out), -EINVAL);
    static const uint8_t inc1[] = {DK_CRDT_FORMAT, DK_CRDT_COUNTER, 2};
    w.value = (dk_slice){inc1, sizeof(inc1)};
    w.flags = DK_SIB_TOMBSTONE;
    CU_ASSERT_EQUAL(P.ops->update(P.r, &empty, &w, &out), -EINVAL);
    w.flags = 0;
    w.expiry_ms = NOW + 1000;
    CU_ASSERT_EQUAL(P.ops->update(P.r, &empty, &w, &out), -EINVAL);
    w.expiry_ms = 0;
    CU_ASSERT_EQUAL_FATAL(P.ops->update(P.r, &empty, &w, &out), 0);
    CU_ASSERT_EQUAL(out.n_sib, 1);
    CU_ASSERT_EQUAL(out.vv.n, 1);
    CU_ASSERT_EQUAL(out.sib[0].counter, 1);

    /* a damaged state: every single-bit flip of the value is refused or
     * still a state (then merge and value work on it) */
    dk_buf val = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk_buf_append(&val, out.sib[0].value.ptr, out.sib[0].value.len), 0);
    P.ops->release(P.r, &out);
    unsigned handled = 0, tried = 0;
    for (size_t i = 0; i < val.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            dk_object d, m;
            dk_object_init(&d);
            dk_object_init(&m);
            CU_ASSERT_EQUAL_FATAL(dk_object_copy(&d, &out), 0);
            val.data[i] ^= (uint8_t)(1u << bit);
            d.sib[0].value = dk_buf_slice(&val);
            int rc = P.ops->merge(P.r, &d, &d, &m);
            tried++;
            handled += rc == DK_ECORRUPT || rc == 0;
            if (rc == 0)
                P.ops->release(P.r, &m);
            val.data[i] ^= (uint8_t)(1u << bit);
            dk_object_free(&m);
            dk_object_free(&d);
        }
    }
    CU_ASSERT_EQUAL(handled, tried);
    /* a sibling that is a tombstone, or two siblings: not a CRDT object */
    dk_object bad;
    dk_object_init(&bad);
    CU_ASSERT_EQUAL_FATAL(dk_object_copy(&bad, &out), 0);
    bad.sib[0].value = dk_buf_slice(&val);
    bad.sib[0].flags = DK_SIB_TOMBSTONE;
    dk_object m;
    dk_object_init(&m);
    CU_ASSERT_EQUAL(P.ops->merge(P.r, &bad, &bad, &m), DK_ECORRUPT);
    bad.sib[0].flags = 0;
    CU_ASSERT_EQUAL(dk_object_add_sibling(&bad, &bad.sib[0]), 0);
    CU_ASSERT_EQUAL(P.ops->merge(P.r, &bad, &bad, &m), DK_ECORRUPT);
    /* a dot the context has not seen */
    dk_object_free(&bad);
    CU_ASSERT_EQUAL_FATAL(dk_object_copy(&bad, &out), 0);
    bad.sib[0].value = dk_buf_slice(&val);
    bad.vv.e[0].counter = 0;
    bad.vv.n = 0;
    CU_ASSERT_EQUAL(P.ops->merge(P.r, &bad, &bad, &m), DK_ECORRUPT);
    dk_object_free(&bad);
    dk_object_free(&m);
    dk_object_free(&out);
    dk_buf_free(&val);
}

/* A state is capped at DK_CRDT_STATE_MAX after an operation. */
static void test_state_limit(void)
{
    dk_buf r = DK_BUF_INIT;
    char *big = malloc(DK_CRDT_STATE_MAX);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'x', DK_CRDT_STATE_MAX);
    big[DK_CRDT_STATE_MAX - 1] = '\0';
    CU_ASSERT_EQUAL(assign(&r, "n1", NOW, big), DK_ETOOBIG);
    CU_ASSERT_EQUAL(r.len, 0);
    big[DK_CRDT_STATE_MAX - 100] = '\0';
    CU_ASSERT_EQUAL(assign(&r, "n1", NOW, big), 0);
    free(big);
    dk_buf_free(&r);
}

static CU_TestInfo crdt_tests[] = {
    {"counter: increments, decrements, concurrent, saturation", test_counter},
    {"set: add wins, removes only what was seen", test_set_add_wins},
    {"set: elements are bytes, sorted", test_set_order},
    {"register: hybrid logical clocks under skew", test_register_skew},
    {"map: fields, update wins over remove", test_map},
    {"map: one name created with two types", test_map_field_types},
    {"key created as two types", test_key_types},
    {"refused writes and damaged states", test_refusals},
    {"state size limit", test_state_limit},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "crdt", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = crdt_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
