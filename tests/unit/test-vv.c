/*
 * test-vv.c - version vectors and actors (framework/util/vv.c): causal
 * comparison, merge, coverage, pruning, the binary encoding and the actor
 * text form.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "util/vv.h"

static dk_actor act(const char *node, uint32_t inc)
{
    dk_actor a;
    CU_ASSERT_FATAL(dk_actor_set(&a, node, inc) == 0);
    return a;
}

/* Set v[node#1] = counter with time t. */
static void put(dk_vv *v, const char *node, uint64_t counter, int64_t t)
{
    dk_actor a = act(node, 1);
    CU_ASSERT_FATAL(dk_vv_set(v, &a, counter, t) == 0);
}

/* Field-wise equality (structs have padding, so no memcmp). */
static int vv_same(const dk_vv *a, const dk_vv *b)
{
    if (a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++)
        if (dk_actor_cmp(&a->e[i].actor, &b->e[i].actor) || a->e[i].counter != b->e[i].counter ||
            a->e[i].time_ms != b->e[i].time_ms)
            return 0;
    return 1;
}

static uint64_t get(const dk_vv *v, const char *node)
{
    dk_actor a = act(node, 1);
    return dk_vv_get(v, &a);
}

static void test_compare(void)
{
    dk_vv a, b;
    dk_vv_init(&a);
    dk_vv_init(&b);
    CU_ASSERT_EQUAL(dk_vv_compare(&a, &b), DK_VV_EQUAL); /* empty vs empty */
    put(&a, "n1", 1, 10);
    CU_ASSERT_EQUAL(dk_vv_compare(&a, &b), DK_VV_AFTER); /* non-empty vs empty */
    CU_ASSERT_EQUAL(dk_vv_compare(&b, &a), DK_VV_BEFORE);
    CU_ASSERT_TRUE(dk_vv_descends(&a, &b));
    CU_ASSERT_FALSE(dk_vv_descends(&b, &a));
    put(&b, "n1", 1, 99); /* time does not matter */
    CU_ASSERT_EQUAL(dk_vv_compare(&a, &b), DK_VV_EQUAL);
    CU_ASSERT_TRUE(dk_vv_descends(&a, &b) && dk_vv_descends(&b, &a));
    put(&b, "n2", 3, 0);
    CU_ASSERT_EQUAL(dk_vv_compare(&a, &b), DK_VV_BEFORE);
    put(&a, "n1", 2, 0);
    CU_ASSERT_EQUAL(dk_vv_compare(&a, &b), DK_VV_CONCURRENT);
    CU_ASSERT_EQUAL(dk_vv_compare(&b, &a), DK_VV_CONCURRENT);
    CU_ASSERT_FALSE(dk_vv_descends(&a, &b) || dk_vv_descends(&b, &a));
    /* incarnations are distinct actors */
    dk_actor n1b = act("n1", 2);
    dk_vv c;
    dk_vv_init(&c);
    CU_ASSERT_EQUAL(dk_vv_set(&c, &n1b, 5, 0), 0);
    CU_ASSERT_EQUAL(get(&c, "n1"), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&c, &n1b), 5);
    CU_ASSERT_EQUAL(dk_vv_compare(&a, &c), DK_VV_CONCURRENT);
    dk_vv_free(&a);
    dk_vv_free(&b);
    dk_vv_free(&c);
}

static void test_set_sorted_and_remove(void)
{
    dk_vv v;
    dk_vv_init(&v);
    put(&v, "n3", 1, 0);
    put(&v, "n1", 1, 0);
    put(&v, "n2", 1, 0);
    CU_ASSERT_EQUAL_FATAL(v.n, 3);
    CU_ASSERT_STRING_EQUAL(v.e[0].actor.node, "n1");
    CU_ASSERT_STRING_EQUAL(v.e[1].actor.node, "n2");
    CU_ASSERT_STRING_EQUAL(v.e[2].actor.node, "n3");
    put(&v, "n2", 0, 0); /* counter 0 removes */
    CU_ASSERT_EQUAL(v.n, 2);
    CU_ASSERT_EQUAL(get(&v, "n2"), 0);
    put(&v, "n9", 0, 0); /* removing an absent actor is a no-op */
    CU_ASSERT_EQUAL(v.n, 2);
    dk_vv_free(&v);
}

static void test_merge_and_increment(void)
{
    dk_vv a, b, c;
    dk_vv_init(&a);
    dk_vv_init(&b);
    dk_vv_init(&c);
    put(&a, "n1", 3, 100);
    put(&a, "n2", 1, 50);
    put(&b, "n2", 4, 40);
    put(&b, "n3", 2, 70);
    CU_ASSERT_EQUAL_FATAL(dk_vv_copy(&c, &a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_vv_merge(&c, &b), 0);
    CU_ASSERT_EQUAL(c.n, 3);
    CU_ASSERT_EQUAL(get(&c, "n1"), 3);
    CU_ASSERT_EQUAL(get(&c, "n2"), 4);
    CU_ASSERT_EQUAL(get(&c, "n3"), 2);
    CU_ASSERT_EQUAL(c.e[1].time_ms, 50); /* the later time wins, whatever the counters */
    CU_ASSERT_TRUE(dk_vv_descends(&c, &a) && dk_vv_descends(&c, &b));
    /* commutative and idempotent */
    dk_vv d;
    dk_vv_init(&d);
    CU_ASSERT_EQUAL(dk_vv_copy(&d, &b), 0);
    CU_ASSERT_EQUAL(dk_vv_merge(&d, &a), 0);
    CU_ASSERT_TRUE(vv_same(&d, &c));
    CU_ASSERT_EQUAL(dk_vv_merge(&d, &d), 0);
    CU_ASSERT_EQUAL(dk_vv_merge(&d, &c), 0);
    CU_ASSERT_TRUE(vv_same(&d, &c));
    /* increment: set a counter one higher makes it strictly newer */
    put(&d, "n1", get(&d, "n1") + 1, 200);
    CU_ASSERT_EQUAL(dk_vv_compare(&d, &c), DK_VV_AFTER);
    CU_ASSERT_EQUAL(get(&d, "n1"), 4);
    dk_vv_free(&a);
    dk_vv_free(&b);
    dk_vv_free(&c);
    dk_vv_free(&d);
}

static void test_covers(void)
{
    dk_vv v;
    dk_vv_init(&v);
    put(&v, "n1", 3, 0);
    dk_actor n1 = act("n1", 1), n2 = act("n2", 1);
    CU_ASSERT_TRUE(dk_vv_covers(&v, &n1, 1));
    CU_ASSERT_TRUE(dk_vv_covers(&v, &n1, 3));
    CU_ASSERT_FALSE(dk_vv_covers(&v, &n1, 4));
    CU_ASSERT_FALSE(dk_vv_covers(&v, &n2, 1));
    dk_vv_free(&v);
}

/* An object whose only sibling has a dot from `node`. */
static void one_dot(dk_object *o, const char *node)
{
    dk_sibling s = {.actor = act(node, 1), .counter = 1};
    CU_ASSERT_FATAL(dk_object_add_sibling(o, &s) == 0);
}

static void test_prune_count(void)
{
    dk_vv v;
    dk_object keep;
    dk_vv_init(&v);
    dk_object_init(&keep);
    char name[16];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "n%02d", i);
        put(&v, name, 1, 1000 + i); /* n00 oldest */
    }
    one_dot(&keep, "n00"); /* the oldest is a sibling's dot: protected */
    dk_vv_prune(&v, &keep, 10, 0, 5000);
    CU_ASSERT_EQUAL(v.n, 10);
    CU_ASSERT_EQUAL(get(&v, "n00"), 1);
    CU_ASSERT_EQUAL(get(&v, "n01"), 0);
    CU_ASSERT_EQUAL(get(&v, "n02"), 0);
    CU_ASSERT_EQUAL(get(&v, "n03"), 1);
    /* when only protected entries are left, pruning stops short */
    dk_vv_prune(&v, &keep, 0, 0, 5000); /* 0 = no count limit */
    CU_ASSERT_EQUAL(v.n, 10);
    dk_vv_prune(&v, &keep, 1, 0, 5000);
    CU_ASSERT_EQUAL(v.n, 1);
    CU_ASSERT_EQUAL(get(&v, "n00"), 1);
    dk_vv_prune(&v, NULL, 0, 0, 5000);
    CU_ASSERT_EQUAL(v.n, 1);
    dk_vv_free(&v);
    dk_object_free(&keep);
}

static void test_prune_age(void)
{
    dk_vv v;
    dk_object keep;
    dk_vv_init(&v);
    dk_object_init(&keep);
    put(&v, "old1", 1, 100);
    put(&v, "old2", 1, 200);
    put(&v, "new", 1, 9000);
    put(&v, "edge", 1, 5000); /* exactly max_age old: kept */
    one_dot(&keep, "old2");
    dk_vv_prune(&v, &keep, 100, 5000, 10000);
    CU_ASSERT_EQUAL(v.n, 3);
    CU_ASSERT_EQUAL(get(&v, "old1"), 0);
    CU_ASSERT_EQUAL(get(&v, "old2"), 1);
    CU_ASSERT_EQUAL(get(&v, "new"), 1);
    CU_ASSERT_EQUAL(get(&v, "edge"), 1);
    dk_vv_prune(&v, NULL, 0, 0, INT64_MAX); /* no age limit: nothing goes */
    CU_ASSERT_EQUAL(v.n, 3);
    dk_vv_free(&v);
    dk_object_free(&keep);
}

static void test_encode_roundtrip(void)
{
    dk_vv v, w;
    dk_buf b = DK_BUF_INIT;
    dk_vv_init(&v);
    dk_vv_init(&w);
    size_t used = 99;
    CU_ASSERT_EQUAL(dk_vv_encode(&v, &b), 0); /* empty */
    CU_ASSERT_EQUAL(b.len, 1);
    CU_ASSERT_EQUAL(dk_vv_decode(b.data, b.len, &w, &used), 0);
    CU_ASSERT_EQUAL(used, 1);
    CU_ASSERT_EQUAL(w.n, 0);
    dk_buf_reset(&b);
    put(&v, "n1", 1, 0);
    put(&v, "a-very_long-node-name-0123456789-0123456789-0123456789-012345678", UINT64_MAX, INT64_MAX);
    dk_actor n1b = act("n1", UINT32_MAX);
    CU_ASSERT_EQUAL(dk_vv_set(&v, &n1b, 300, 1234567890123), 0);
    CU_ASSERT_EQUAL(dk_vv_encode(&v, &b), 0);
    CU_ASSERT_EQUAL(dk_buf_append(&b, "xyz", 3), 0); /* trailing bytes are not consumed */
    CU_ASSERT_EQUAL_FATAL(dk_vv_decode(b.data, b.len, &w, &used), 0);
    CU_ASSERT_EQUAL(used, b.len - 3);
    CU_ASSERT_TRUE(vv_same(&w, &v));
    /* every truncation fails cleanly */
    for (size_t n = 0; n < used; n++)
        CU_ASSERT_EQUAL(dk_vv_decode(b.data, n, &w, &used), DK_ECORRUPT);
    /* a negative time cannot be encoded */
    put(&v, "n1", 1, -5);
    CU_ASSERT_EQUAL(dk_vv_encode(&v, &b), -EINVAL);
    dk_vv_free(&v);
    dk_vv_free(&w);
    dk_buf_free(&b);
}

static void test_decode_corrupt(void)
{
    dk_vv w;
    dk_vv_init(&w);
    size_t used;
    static const uint8_t unsorted[] = {2, 2, 'n', '2', 1, 1, 0, 2, 'n', '1', 1, 1, 0};
    static const uint8_t dup[] = {2, 2, 'n', '1', 1, 1, 0, 2, 'n', '1', 1, 2, 0};
    static const uint8_t badnode[] = {1, 2, 'N', '1', 1, 1, 0};
    static const uint8_t emptynode[] = {1, 0, 1, 1, 0};
    static const uint8_t zero_inc[] = {1, 2, 'n', '1', 0, 1, 0};
    static const uint8_t zero_ctr[] = {1, 2, 'n', '1', 1, 0, 0};
    static const uint8_t huge_count[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 2, 'n', '1', 1, 1, 0};
    static const uint8_t neg_time[] = {1,    2,    'n',  '1',  1,    1,    0x80, 0x80,
                                       0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t long_varint[] = {1,    2,    'n',  '1',  1,    0x81, 0x80, 0x80, 0x80,
                                          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0};
    static const uint8_t long_form[] = {1, 2, 'n', '1', 0x81, 0x00, 1, 0}; /* 1 in two bytes */
    const struct {
        const uint8_t *p;
        size_t n;
    } bad[] = {
        {long_form, sizeof(long_form)},     {unsorted, sizeof(unsorted)},     {dup, sizeof(dup)},
        {badnode, sizeof(badnode)},         {emptynode, sizeof(emptynode)},   {zero_inc, sizeof(zero_inc)},
        {zero_ctr, sizeof(zero_ctr)},       {huge_count, sizeof(huge_count)}, {neg_time, sizeof(neg_time)},
        {long_varint, sizeof(long_varint)},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(dk_vv_decode(bad[i].p, bad[i].n, &w, &used), DK_ECORRUPT);
    dk_vv_free(&w);
}

/* An empty vv with room is decoded into without a new array (what a
 * coordinator's pooled read relies on); an error leaves any vv as it was. */
static void test_decode_reuse(void)
{
    dk_vv v, w, before;
    dk_buf b = DK_BUF_INIT, one = DK_BUF_INIT;
    dk_vv_init(&v);
    dk_vv_init(&w);
    dk_vv_init(&before);
    size_t used;
    put(&v, "n1", 3, 1000);
    put(&v, "n2", 7, 2000);
    CU_ASSERT_EQUAL_FATAL(dk_vv_encode(&v, &b), 0);
    CU_ASSERT_EQUAL_FATAL(dk_vv_decode(b.data, b.len, &w, &used), 0);
    dk_vv_entry *arr = w.e;
    uint32_t cap = w.cap;
    w.n = 0; /* emptied, its array kept */
    CU_ASSERT_EQUAL_FATAL(dk_vv_decode(b.data, b.len, &w, &used), 0);
    CU_ASSERT_PTR_EQUAL(w.e, arr);
    CU_ASSERT_EQUAL(w.cap, cap);
    CU_ASSERT_TRUE(vv_same(&w, &v));
    /* corrupt input into the emptied vv: still empty, array kept */
    w.n = 0;
    CU_ASSERT_EQUAL(dk_vv_decode(b.data, b.len - 1, &w, &used), DK_ECORRUPT);
    CU_ASSERT_EQUAL(w.n, 0);
    CU_ASSERT_PTR_EQUAL(w.e, arr);
    /* a vv with entries is replaced on success, unchanged on error */
    CU_ASSERT_EQUAL_FATAL(dk_vv_decode(b.data, b.len, &w, &used), 0);
    CU_ASSERT_EQUAL_FATAL(dk_vv_copy(&before, &w), 0);
    CU_ASSERT_EQUAL(dk_vv_decode(b.data, b.len - 1, &w, &used), DK_ECORRUPT);
    CU_ASSERT_TRUE(vv_same(&w, &before));
    put(&v, "n2", 0, 0); /* removes n2 */
    CU_ASSERT_EQUAL_FATAL(dk_vv_encode(&v, &one), 0);
    CU_ASSERT_EQUAL_FATAL(dk_vv_decode(one.data, one.len, &w, &used), 0);
    CU_ASSERT_TRUE(vv_same(&w, &v));
    CU_ASSERT_EQUAL(w.n, 1);
    dk_vv_free(&v);
    dk_vv_free(&w);
    dk_vv_free(&before);
    dk_buf_free(&b);
    dk_buf_free(&one);
}

static void test_actor_text(void)
{
    dk_actor a, b;
    char buf[DK_ACTOR_TEXT_MAX];
    CU_ASSERT_EQUAL(dk_actor_set(&a, "n1", 1), 0);
    CU_ASSERT_EQUAL(dk_actor_format(&a, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "n1");
    CU_ASSERT_EQUAL(dk_actor_set(&a, "node_7-x", 4294967295u), 0);
    CU_ASSERT_EQUAL(dk_actor_format(&a, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "node_7-x#4294967295");
    CU_ASSERT_EQUAL(dk_actor_parse(buf, strlen(buf), &b), 0);
    CU_ASSERT_EQUAL(dk_actor_cmp(&a, &b), 0);
    CU_ASSERT_EQUAL(dk_actor_format(&a, buf, 5), -ENOSPC);
    CU_ASSERT_EQUAL(dk_actor_parse("n1#2xyz", 4, &b), 0); /* length-bounded */
    CU_ASSERT_STRING_EQUAL(b.node, "n1");
    CU_ASSERT_EQUAL(b.incarnation, 2);
    CU_ASSERT_EQUAL(dk_actor_parse("n1#1", 4, &b), 0);
    CU_ASSERT_EQUAL(b.incarnation, 1);
    const char *bad[] = {"",
                         "N1",
                         "n 1",
                         "n1#",
                         "n1#0",
                         "n1#01",
                         "n1#4294967296",
                         "n1#2#3",
                         "#2",
                         "n1#-1",
                         "n1#x",
                         "a1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(dk_actor_parse(bad[i], strlen(bad[i]), &b), -EINVAL);
    CU_ASSERT_EQUAL(dk_actor_set(&b, "n1", 0), -EINVAL);
    CU_ASSERT_EQUAL(dk_actor_set(&b, "n.1", 1), -EINVAL);
    /* order: node bytes first, then incarnation */
    dk_actor x = act("n1", 9), y = act("n2", 1), z = act("n1", 10);
    CU_ASSERT_TRUE(dk_actor_cmp(&x, &y) < 0);
    CU_ASSERT_TRUE(dk_actor_cmp(&x, &z) < 0);
    CU_ASSERT_TRUE(dk_actor_cmp(&y, &z) > 0);
}

static void test_object_helpers(void)
{
    dk_object o, c;
    dk_object_init(&o);
    dk_object_init(&c);
    dk_sibling live = {.actor = act("n1", 1), .counter = 1, .value = {(const uint8_t *)"v", 1}};
    dk_sibling tomb = {.actor = act("n1", 1), .counter = 2, .flags = DK_SIB_TOMBSTONE};
    dk_sibling ttl = {.actor = act("n2", 1), .counter = 1, .expiry_ms = 500};
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &live), 0);
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &tomb), 0);
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &ttl), 0);
    put(&o.vv, "n1", 2, 0);
    CU_ASSERT_EQUAL(dk_object_live_count(&o, 499), 2);
    CU_ASSERT_EQUAL(dk_object_live_count(&o, 500), 1);
    CU_ASSERT_EQUAL(dk_object_copy(&c, &o), 0);
    CU_ASSERT_EQUAL(c.n_sib, 3);
    CU_ASSERT_EQUAL(c.vv.n, 1);
    CU_ASSERT_PTR_EQUAL(c.sib[0].value.ptr, live.value.ptr); /* shallow on values */
    dk_object_free(&o);
    CU_ASSERT_EQUAL(o.n_sib, 0);
    CU_ASSERT_PTR_NULL(o.sib);
    dk_object_free(&c);
}

/* After pruning, an actor may reuse a dot a stale copy still holds: sync
 * keeps the newer write, in both orders, and drops the stale value. */
static void test_sync_reused_dot(void)
{
    dk_object fresh, stale, m1, m2;
    dk_object_init(&fresh);
    dk_object_init(&stale);
    dk_object_init(&m1);
    dk_object_init(&m2);
    dk_sibling old = {
        .actor = act("n1", 1), .counter = 1, .write_time_ms = 100, .value = {(const uint8_t *)"old", 3}};
    dk_sibling new = old;
    new.write_time_ms = 900;
    new.value = (dk_slice){(const uint8_t *)"new", 3};
    CU_ASSERT_EQUAL(dk_object_add_sibling(&stale, &old), 0);
    put(&stale.vv, "n1", 1, 100);
    CU_ASSERT_EQUAL(dk_object_add_sibling(&fresh, &new), 0);
    put(&fresh.vv, "n1", 1, 900);
    put(&fresh.vv, "n2", 4, 800);
    CU_ASSERT_EQUAL(dk_dvv_sync(&stale, &fresh, &m1), 0);
    CU_ASSERT_EQUAL(dk_dvv_sync(&fresh, &stale, &m2), 0);
    CU_ASSERT_EQUAL_FATAL(m1.n_sib, 1);
    CU_ASSERT_EQUAL_FATAL(m2.n_sib, 1);
    CU_ASSERT_EQUAL(m1.sib[0].write_time_ms, 900);
    CU_ASSERT_EQUAL(m2.sib[0].write_time_ms, 900);
    CU_ASSERT_TRUE(vv_same(&m1.vv, &m2.vv));
    CU_ASSERT_EQUAL(get(&m1.vv, "n2"), 4);
    dk_object_free(&fresh);
    dk_object_free(&stale);
    dk_object_free(&m1);
    dk_object_free(&m2);
}

static CU_TestInfo vv_tests[] = {
    {"compare", test_compare},
    {"set keeps actors sorted, 0 removes", test_set_sorted_and_remove},
    {"merge and increment", test_merge_and_increment},
    {"covers", test_covers},
    {"prune by count keeps dot actors", test_prune_count},
    {"prune by age keeps dot actors", test_prune_age},
    {"encode/decode round trip and truncation", test_encode_roundtrip},
    {"decode refuses corrupt input", test_decode_corrupt},
    {"decode reuses an emptied vv's array", test_decode_reuse},
    {"actor format/parse", test_actor_text},
    {"object helpers", test_object_helpers},
    {"sync keeps the newer write of a reused dot", test_sync_reused_dot},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "vv", .pTests = vv_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
