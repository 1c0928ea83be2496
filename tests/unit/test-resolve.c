/*
 * test-resolve.c - the choice of resolver per object type
 * (framework/node/resolve.c), with the real vclock and crdt plugins loaded
 * through the plugin host as a node loads them: a plain write and a CRDT
 * write to one key, the refusals between live objects of two types, a
 * deleted plain key that becomes a CRDT, merges of copies of two types
 * (the higher type wins in both orders, counted), and values.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/metrics.h"

#include "tc_resolve.h"

static dk_resolvers rs;

static int suite_init(void)
{
    return tr_host_open() || tr_resolvers_open(&rs, "vclock") ? -1 : 0;
}

static int suite_clean(void)
{
    tr_resolvers_close(&rs);
    tr_host_close();
    return 0;
}

/* Apply a write of type by n1 to the stored encoding *raw (replaced on
 * success); a tombstone goes over the copy's context. */
static int write(dk_buf *raw, int type, int64_t now, dk_slice value, int tombstone)
{
    return tr_write(&rs, raw, type, "n1", now, 0, tombstone, value);
}

static int incr(dk_buf *raw, int64_t n)
{
    dk_buf op = DK_BUF_INIT;
    dk_crdt_op o = {.type = DK_CRDT_COUNTER, .delta = n};
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_encode(&o, &op), 0);
    int rc = write(raw, DK_OBJECT_CRDT, NOW, dk_buf_slice(&op), 0);
    dk_buf_free(&op);
    return rc;
}

static int put(dk_buf *raw, const char *v)
{
    return write(raw, DK_OBJECT_PLAIN, NOW, (dk_slice){(const uint8_t *)v, strlen(v)}, 0);
}

static int type_of(const dk_buf *raw)
{
    dk_object_header h;
    CU_ASSERT_EQUAL_FATAL(dk_object_peek(dk_buf_slice(raw), &h), 0);
    return h.type;
}

static void merge(const dk_buf *a, const dk_buf *b, dk_buf *out)
{
    dk_object x, y;
    dk_object_init(&x);
    dk_object_init(&y);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(a), &x, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(b), &y, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_resolve_merge(&rs, dk_buf_slice(a), &x, dk_buf_slice(b), &y, out), 0);
    dk_object_free(&x);
    dk_object_free(&y);
}

static int64_t counter_of(const dk_buf *raw)
{
    return tr_counter_of(&rs, raw);
}

static void test_one_key_two_types(void)
{
    dk_buf plain = DK_BUF_INIT, crdt = DK_BUF_INIT, m = DK_BUF_INIT;
    CU_ASSERT_EQUAL(put(&plain, "v1"), 0);
    CU_ASSERT_EQUAL(type_of(&plain), DK_OBJECT_PLAIN);
    CU_ASSERT_EQUAL(plain.data[2], DK_OBJECT_VERSION); /* plain stays version 1 */
    CU_ASSERT_EQUAL(incr(&plain, 1), DK_EWRONGTYPE);   /* a live plain key */
    CU_ASSERT_EQUAL(incr(&crdt, 2), 0);
    CU_ASSERT_EQUAL(type_of(&crdt), DK_OBJECT_CRDT);
    CU_ASSERT_EQUAL(put(&crdt, "v"), DK_EWRONGTYPE); /* a CRDT key */
    CU_ASSERT_EQUAL(write(&crdt, DK_OBJECT_PLAIN, NOW, (dk_slice){NULL, 0}, 1), DK_EWRONGTYPE);
    CU_ASSERT_EQUAL(counter_of(&crdt), 2);
    /* a plain object has no CRDT value */
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&plain), &o, NULL, 0), 0);
    dk_crdt_value v;
    CU_ASSERT_EQUAL(dk_resolve_value(&rs, dk_buf_slice(&plain), &o, tr_value_sink, &v), DK_EUNSUPPORTED);
    dk_object_free(&o);

    /* deleted, the plain key may become a CRDT */
    CU_ASSERT_EQUAL(write(&plain, DK_OBJECT_PLAIN, NOW + 1, (dk_slice){NULL, 0}, 1), 0);
    CU_ASSERT_EQUAL(incr(&plain, 5), 0);
    CU_ASSERT_EQUAL(type_of(&plain), DK_OBJECT_CRDT);
    CU_ASSERT_EQUAL(counter_of(&plain), 5);

    /* copies of two types merge to the higher type, whole, in both orders */
    dk_buf other = DK_BUF_INIT, m2 = DK_BUF_INIT;
    CU_ASSERT_EQUAL(put(&other, "raced"), 0);
    uint64_t conflicts0 = dk_metrics_get("object_type_conflicts_total");
    merge(&other, &crdt, &m);
    merge(&crdt, &other, &m2);
    CU_ASSERT_TRUE(m.len == crdt.len && memcmp(m.data, crdt.data, m.len) == 0);
    CU_ASSERT_TRUE(m2.len == crdt.len && memcmp(m2.data, crdt.data, m2.len) == 0);
    CU_ASSERT_EQUAL(dk_metrics_get("object_type_conflicts_total"), conflicts0 + 2);
    /* same types: their resolver (the CRDT join; the plain DVV sync) */
    dk_buf later = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk_buf_append(&later, crdt.data, crdt.len), 0);
    CU_ASSERT_EQUAL(incr(&later, 3), 0);
    merge(&crdt, &later, &m);
    CU_ASSERT_EQUAL(counter_of(&m), 5);
    CU_ASSERT_TRUE(m.len == later.len && memcmp(m.data, later.data, m.len) == 0);
    dk_buf_free(&later);
    dk_buf p2 = DK_BUF_INIT;
    CU_ASSERT_EQUAL(put(&p2, "x"), 0);
    merge(&p2, &other, &m);
    CU_ASSERT_EQUAL(type_of(&m), DK_OBJECT_PLAIN);
    CU_ASSERT_EQUAL(dk_metrics_get("object_type_conflicts_total"), conflicts0 + 2);

    /* a header that does not peek */
    dk_object x;
    dk_object_init(&x);
    CU_ASSERT_EQUAL(
        dk_resolve_merge(&rs, (dk_slice){(const uint8_t *)"junk", 4}, &x, dk_buf_slice(&crdt), &x, &m),
        DK_ECORRUPT);
    dk_buf_free(&plain);
    dk_buf_free(&crdt);
    dk_buf_free(&m);
    dk_buf_free(&m2);
    dk_buf_free(&other);
    dk_buf_free(&p2);
}

/* A bad CRDT operation reaches the resolver as -EINVAL, nothing stored. */
static void test_refusals(void)
{
    dk_buf raw = DK_BUF_INIT;
    CU_ASSERT_EQUAL(write(&raw, DK_OBJECT_CRDT, NOW, (dk_slice){(const uint8_t *)"x", 1}, 0), -EINVAL);
    CU_ASSERT_EQUAL(raw.len, 0);
    CU_ASSERT_EQUAL(write(&raw, DK_OBJECT_TYPES, NOW, (dk_slice){(const uint8_t *)"x", 1}, 0),
                    DK_EUNSUPPORTED);
    dk_buf_free(&raw);
}

static CU_TestInfo resolve_tests[] = {
    {"one key, two types", test_one_key_two_types},
    {"refusals", test_refusals},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "resolve", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = resolve_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
