/*
 * test-crdt-laws.c - the crdt conflict resolver (conflict/crdt) on random
 * histories over three replicas: for every type, and for types mixed
 * under one key, merge is commutative, associative and idempotent and
 * the replicas converge; a counter incremented through three coordinators
 * sums exactly; and the metadata of a set after 10 000 adds and 10 000
 * removes stays bounded (measured and printed). The scripted scenarios
 * per type are test-crdt.c; both use tc_crdt.h.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_crdt.h"

/* ---- join properties on random histories ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const nodes[] = {"n1", "n2", "n3"};
static dk_slice universe[] = {S("a"), S("b"), S("c"), S("d")};
static const char *const fields[] = {"f", "g", "h"};

/* A random operation of type t (map fields may take any other type, so
 * that field type conflicts happen too). */
static int random_op(dk_buf *raw, const char *node, int64_t now, uint8_t t)
{
    dk_slice pick[2] = {universe[rnd(4)], universe[rnd(4)]};
    uint8_t kind = rnd(3) ? DK_CRDT_SET_ADD : DK_CRDT_SET_REMOVE;
    switch (t) {
    case DK_CRDT_COUNTER: return inc(raw, node, (int64_t)rnd(21) - 10);
    case DK_CRDT_SET: {
        dk_crdt_op op = op_set(kind, pick, 1 + rnd(2));
        return apply(raw, node, now, &op);
    }
    case DK_CRDT_REGISTER: {
        char text[16];
        snprintf(text, sizeof(text), "v%u", rnd(1000));
        return assign(raw, node, now, text);
    }
    default: {
        const char *field = fields[rnd(3)];
        if (rnd(4) == 0)
            return map_op(raw, node, now, NULL, op_inc(0), field);
        uint8_t ft = (uint8_t)(1 + rnd(3));
        char text[16];
        snprintf(text, sizeof(text), "w%u", rnd(1000));
        dk_crdt_op fop = ft == DK_CRDT_COUNTER ? op_inc((int64_t)rnd(5))
                         : ft == DK_CRDT_SET   ? op_set(kind, pick, 1 + rnd(2))
                                               : op_reg(text);
        int rc = map_op(raw, node, now, field, fop, NULL);
        return rc == DK_EWRONGTYPE ? 0 : rc;
    }
    }
}

/* Random histories: operations at three replicas (clocks skewed by up to a
 * second), random pairwise merges; at every step three copies are taken
 * and the merge laws checked byte for byte on the encodings. */
static void check_laws(uint8_t type, int mixed_types)
{
    dk_buf r[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT};
    dk_buf ab = DK_BUF_INIT, ba = DK_BUF_INIT, x = DK_BUF_INIT, y = DK_BUF_INIT, aa = DK_BUF_INIT;
    unsigned checks = 0;
    for (int k = 0; k < 3; k++) {
        uint8_t t = mixed_types ? (uint8_t)(1 + k) : type;
        CU_ASSERT_EQUAL_FATAL(random_op(&r[k], nodes[k], NOW, t), 0);
    }
    for (int step = 0; step < 300; step++) {
        int i = (int)rnd(3), j = (int)rnd(3);
        int64_t now = NOW + step * 10 + (int64_t)rnd(2000) - 1000;
        if (rnd(3)) {
            int rc = random_op(&r[i], nodes[i], now, mixed_types ? (uint8_t)(1 + rnd(4)) : type);
            CU_ASSERT_TRUE(rc == 0 || rc == DK_EWRONGTYPE);
        } else if (i != j) {
            merge(&r[i], &r[i], &r[j]);
        }
        /* commutative, idempotent, associative */
        merge(&ab, &r[0], &r[1]);
        merge(&ba, &r[1], &r[0]);
        CU_ASSERT_TRUE(same(&ab, &ba));
        merge(&aa, &r[2], &r[2]);
        CU_ASSERT_TRUE(same(&aa, &r[2]));
        merge(&aa, &ab, &r[0]);
        CU_ASSERT_TRUE(same(&aa, &ab)); /* a stale copy changes nothing */
        merge(&x, &ab, &r[2]);
        merge(&y, &r[1], &r[2]);
        merge(&y, &r[0], &y);
        CU_ASSERT_TRUE(same(&x, &y));
        checks += 4;
    }
    /* gossip until everyone has everything: all equal */
    merge(&x, &r[0], &r[1]);
    merge(&x, &x, &r[2]);
    for (int k = 0; k < 3; k++) {
        merge(&y, &r[k], &x);
        CU_ASSERT_TRUE(same(&y, &x));
    }
    CU_ASSERT_EQUAL(checks, 1200);
    free_all(r, 3);
    dk_buf_free(&ab);
    dk_buf_free(&ba);
    dk_buf_free(&x);
    dk_buf_free(&y);
    dk_buf_free(&aa);
}

static void test_laws_counter(void)
{
    check_laws(DK_CRDT_COUNTER, 0);
}
static void test_laws_set(void)
{
    check_laws(DK_CRDT_SET, 0);
}
static void test_laws_register(void)
{
    check_laws(DK_CRDT_REGISTER, 0);
}
static void test_laws_map(void)
{
    check_laws(DK_CRDT_MAP, 0);
}
static void test_laws_mixed(void)
{
    check_laws(0, 1);
}

/* Concurrent increments through three coordinators, merged in random
 * orders with duplicates: every replica ends at the exact sum. */
static void test_counter_exact(void)
{
    dk_buf r[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT}, all = DK_BUF_INIT;
    int64_t sum = 0;
    for (int step = 0; step < 600; step++) {
        int i = (int)rnd(3);
        if (rnd(4)) {
            int64_t d = (int64_t)rnd(7) - 2;
            CU_ASSERT_EQUAL(inc(&r[i], nodes[i], d), 0);
            sum += d;
        } else {
            int j = (int)rnd(3);
            if (r[j].len && r[i].len)
                merge(&r[i], &r[i], &r[j]);
            else if (r[j].len)
                copy(&r[i], &r[j]);
        }
    }
    merge(&all, &r[0], &r[1]);
    merge(&all, &all, &r[2]);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)sum);
    CU_ASSERT_STRING_EQUAL(show(&all), want);
    free_all(r, 3);
    dk_buf_free(&all);
}

/* ---- metadata -------------------------------------------------------------------------------------------------- */

/* Set batch[0..100) to the elements "<prefix>-<base + k>". */
static void make_batch(dk_slice *batch, char (*text)[16], const char *prefix, int base)
{
    for (int k = 0; k < 100; k++) {
        snprintf(text[k], sizeof(text[k]), "%s-%05d", prefix, base + k);
        batch[k] = (dk_slice){(const uint8_t *)text[k], strlen(text[k])};
    }
}

static void test_metadata_bound(void)
{
    dk_buf gone = DK_BUF_INIT, kept = DK_BUF_INIT;
    dk_slice batch[100];
    char text[100][16];
    /* (a) 10 000 adds, then 10 000 removes of the same elements, one
     * element per operation, through three coordinators in turn: what is
     * left is the version vector, nothing per element. */
    for (int i = 0; i < 10000; i++) {
        snprintf(text[0], sizeof(text[0]), "x%08d", i);
        CU_ASSERT_EQUAL_FATAL(add1(&gone, nodes[i % 3], NOW + i, text[0]), 0);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(text[0], sizeof(text[0]), "x%08d", i);
        CU_ASSERT_EQUAL_FATAL(rm1(&gone, nodes[(i + 1) % 3], NOW + 10000 + i, text[0]), 0);
    }
    CU_ASSERT_STRING_EQUAL(show(&gone), "{}");
    printf("\n# crdt set metadata: 10000 adds then 10000 removes (one element each, 3 coordinators): "
           "object %zu bytes in all, %.4f bytes per element added and removed\n",
           gone.len, (double)gone.len / 10000.0);
    CU_ASSERT_TRUE(gone.len < 128);

    /* (b) 10 000 elements present after 20 000 adds and 10 000 removes
     * (batches of 100 through three coordinators): bytes of the whole
     * object beyond the elements' own bytes. */
    size_t elem_bytes = 0;
    for (int b = 0; b < 100; b++) {
        make_batch(batch, text, "gone", b * 100);
        dk_crdt_op op = op_set(DK_CRDT_SET_ADD, batch, 100);
        CU_ASSERT_EQUAL_FATAL(apply(&kept, nodes[b % 3], NOW + b, &op), 0);
        make_batch(batch, text, "kept", b * 100);
        op = op_set(DK_CRDT_SET_ADD, batch, 100);
        CU_ASSERT_EQUAL_FATAL(apply(&kept, nodes[(b + 1) % 3], NOW + b, &op), 0);
        for (int k = 0; k < 100; k++)
            elem_bytes += batch[k].len;
    }
    for (int b = 0; b < 100; b++) {
        make_batch(batch, text, "gone", b * 100);
        dk_crdt_op op = op_set(DK_CRDT_SET_REMOVE, batch, 100);
        CU_ASSERT_EQUAL_FATAL(apply(&kept, nodes[(b + 2) % 3], NOW + 100 + b, &op), 0);
    }
    CU_ASSERT_EQUAL(strncmp(show(&kept), "{kept-00000,kept-00001,", 23), 0);
    size_t meta = kept.len - elem_bytes;
    printf("# crdt set metadata: 10000 elements present after 20000 adds and 10000 removes: "
           "object %zu bytes, elements %zu bytes, metadata %zu bytes = %.2f bytes per element\n",
           kept.len, elem_bytes, meta, (double)meta / 10000.0);
    CU_ASSERT_TRUE(meta < 10000 * 8);
    dk_buf_free(&gone);
    dk_buf_free(&kept);
}

static CU_TestInfo laws_tests[] = {
    {"counter: exact sum through three coordinators", test_counter_exact},
    {"merge laws: counter", test_laws_counter},
    {"merge laws: set", test_laws_set},
    {"merge laws: register", test_laws_register},
    {"merge laws: map", test_laws_map},
    {"merge laws: types mixed under one key", test_laws_mixed},
    {"metadata bound of a set", test_metadata_bound},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "crdt laws", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = laws_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
