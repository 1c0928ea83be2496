/*
 * test-merkle.c - the anti-entropy hash tree (framework/coord/merkle.c):
 * incremental updates in any order, from several threads at once, equal a
 * rebuild from the final data; tombstones count as absent; an item's hash
 * changes with any byte of the object (through its header's CRC); the top-down
 * diff finds exactly the leaves that differ; the wire helpers (select,
 * compare, children) refuse wrong lengths.
 *
 * The "store" here is an array of keys and their current encoded objects,
 * written with real object encodings (object.h), so the tombstone rule is
 * exercised on what a node stores.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/merkle.h"
#include "node/object.h"
#include "util/vv.h"

#define NKEYS 3000

typedef struct tkey {
    char key[24];
    dk_token tok;
    dk_buf obj; /* current encoding, empty = absent */
} tkey;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* An encoded object: a value, or a tombstone, written by actor n<who>. */
static void make_obj(dk_buf *out, uint64_t counter, int tombstone, const char *value)
{
    dk_object o;
    dk_object_init(&o);
    dk_sibling s = {.counter = counter,
                    .write_time_ms = 1000 + (int64_t)counter,
                    .flags = tombstone ? DK_SIB_TOMBSTONE : 0,
                    .value = {(const uint8_t *)value, tombstone ? 0 : strlen(value)}};
    CU_ASSERT_FATAL(dk_actor_set(&s.actor, "n1", 1) == 0);
    CU_ASSERT_FATAL(dk_object_add_sibling(&o, &s) == 0);
    CU_ASSERT_FATAL(dk_vv_set(&o.vv, &s.actor, counter, s.write_time_ms) == 0);
    dk_buf_reset(out);
    CU_ASSERT_FATAL(dk_object_encode(&o, out) == 0);
    dk_object_free(&o);
}

static tkey *keys_new(void)
{
    tkey *k = calloc(NKEYS, sizeof(*k));
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(k[i].key, sizeof(k[i].key), "key-%05d", i);
        k[i].tok = dk_ring_key_token(k[i].key, strlen(k[i].key));
    }
    return k;
}

static void keys_free(tkey *k)
{
    for (int i = 0; i < NKEYS; i++)
        dk_buf_free(&k[i].obj);
    free(k);
}

/* One write of key i through the tree: replace its object. */
static void write_key(dk_merkle *m, tkey *k, uint64_t counter, int tombstone)
{
    dk_buf next = DK_BUF_INIT;
    char value[32];
    snprintf(value, sizeof(value), "v%llu", (unsigned long long)counter);
    make_obj(&next, counter, tombstone, value);
    dk_merkle_apply(m, k->tok, dk_buf_slice(&k->obj), dk_buf_slice(&next));
    dk_buf_free(&k->obj);
    k->obj = next;
}

/* What a scan of the final data builds. */
static void rebuild(dk_merkle *m, const tkey *k)
{
    dk_merkle_clear(m);
    for (int i = 0; i < NKEYS; i++)
        dk_merkle_xor(m, dk_merkle_leaf_of(k[i].tok), dk_merkle_item(k[i].tok, dk_buf_slice(&k[i].obj)));
}

static int same_leaves(const dk_merkle *a, const dk_merkle *b)
{
    for (uint32_t i = 0; i < DK_MERKLE_LEAVES; i++)
        if (atomic_load(&a->leaf[i]) != atomic_load(&b->leaf[i]))
            return 0;
    return 1;
}

static void test_incremental_equals_rebuild(void)
{
    static dk_merkle inc, full;
    tkey *k = keys_new();
    dk_merkle_clear(&inc);
    for (uint64_t step = 1; step <= 20000; step++) {
        tkey *x = &k[rnd() % NKEYS];
        write_key(&inc, x, step, rnd() % 5 == 0);
    }
    rebuild(&full, k);
    CU_ASSERT(same_leaves(&inc, &full));
    dk_merkle_view a, b;
    dk_merkle_view_of(&inc, &a);
    dk_merkle_view_of(&full, &b);
    CU_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
    keys_free(k);
}

typedef struct writer {
    dk_merkle *m;
    tkey *k;
    int first, count;
} writer;

static void *writer_run(void *arg)
{
    writer *w = arg;
    for (uint64_t round = 1; round <= 20; round++)
        for (int i = w->first; i < w->first + w->count; i++)
            write_key(w->m, &w->k[i], round * 100000 + (uint64_t)i, (round + (uint64_t)i) % 7 == 0);
    return NULL;
}

static void test_concurrent_writers(void)
{
    static dk_merkle inc, full;
    tkey *k = keys_new();
    dk_merkle_clear(&inc);
    pthread_t t[4];
    writer w[4];
    for (int i = 0; i < 4; i++) {
        /* Disjoint keys per thread (a store serialises one key's writes
         * under its stripe lock), shared leaves. */
        w[i] = (writer){&inc, k, i * (NKEYS / 4), NKEYS / 4};
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, writer_run, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    rebuild(&full, k);
    CU_ASSERT(same_leaves(&inc, &full));
    keys_free(k);
}

static void test_tombstone_is_absent(void)
{
    static dk_merkle m;
    dk_merkle_clear(&m);
    tkey *k = keys_new();
    dk_merkle_view empty, v;
    dk_merkle_view_of(&m, &empty);
    write_key(&m, &k[7], 1, 0);
    dk_merkle_view_of(&m, &v);
    CU_ASSERT(memcmp(&v, &empty, sizeof(v)) != 0);
    write_key(&m, &k[7], 2, 1); /* deleted: as if never written */
    dk_merkle_view_of(&m, &v);
    CU_ASSERT(memcmp(&v, &empty, sizeof(v)) == 0);
    CU_ASSERT_EQUAL(dk_merkle_item(k[7].tok, dk_buf_slice(&k[7].obj)), 0);
    CU_ASSERT_NOT_EQUAL(dk_merkle_version(k[7].tok, dk_buf_slice(&k[7].obj)), 0);
    CU_ASSERT_EQUAL(dk_merkle_item(k[7].tok, (dk_slice){NULL, 0}), 0);
    keys_free(k);
}

/* An item is hashed through the object's header (length and CRC32C):
 * every change of one byte of the value, the length and the time kept,
 * still changes it; bytes that are not an object are hashed whole. */
static void test_version_sees_every_byte(void)
{
    dk_token t = dk_ring_key_token("k", 1);
    dk_buf a = DK_BUF_INIT, b = DK_BUF_INIT;
    char value[] = "0123456789abcdefghijklmnopqrstuv";
    make_obj(&a, 5, 0, value);
    uint64_t base = dk_merkle_version(t, dk_buf_slice(&a));
    make_obj(&b, 5, 0, value);
    CU_ASSERT_EQUAL(dk_merkle_version(t, dk_buf_slice(&b)), base); /* same bytes, same hash */
    CU_ASSERT_NOT_EQUAL(dk_merkle_version(dk_ring_key_token("l", 1), dk_buf_slice(&b)), base);
    for (size_t i = 0; i < strlen(value); i++) {
        char v[sizeof(value)];
        memcpy(v, value, sizeof(v));
        v[i] ^= 0x01;
        make_obj(&b, 5, 0, v);
        CU_ASSERT_EQUAL(a.len, b.len);
        CU_ASSERT_NOT_EQUAL(dk_merkle_version(t, dk_buf_slice(&b)), base);
        CU_ASSERT_NOT_EQUAL(dk_merkle_item(t, dk_buf_slice(&b)), dk_merkle_item(t, dk_buf_slice(&a)));
    }
    /* Not an object: a flipped byte anywhere changes the hash. */
    uint8_t raw[100] = {0};
    uint64_t h0 = dk_merkle_version(t, (dk_slice){raw, sizeof(raw)});
    for (size_t i = 0; i < sizeof(raw); i++) {
        raw[i] ^= 0x80;
        CU_ASSERT_NOT_EQUAL(dk_merkle_version(t, (dk_slice){raw, sizeof(raw)}), h0);
        raw[i] ^= 0x80;
    }
    dk_buf_free(&a);
    dk_buf_free(&b);
}

static void test_diff_finds_exactly(void)
{
    static dk_merkle a, b;
    tkey *ka = keys_new(), *kb = keys_new();
    dk_merkle_clear(&a);
    dk_merkle_clear(&b);
    for (int i = 0; i < NKEYS; i++) {
        write_key(&a, &ka[i], 1, 0);
        write_key(&b, &kb[i], 1, 0);
    }
    dk_merkle_view va, vb;
    uint8_t leaves[DK_MERKLE_BITMAP_MAX];
    dk_merkle_view_of(&a, &va);
    dk_merkle_view_of(&b, &vb);
    CU_ASSERT_EQUAL(dk_merkle_diff(&va, &vb, leaves), 0);

    for (int round = 0; round < 20; round++) {
        /* Change a random set of keys on b only (new value, delete, or a
         * key a never had) and predict the differing leaves. */
        uint8_t want[DK_MERKLE_BITMAP_MAX] = {0};
        int n = 1 + (int)(rnd() % 200), expect = 0;
        for (int j = 0; j < n; j++) {
            int i = (int)(rnd() % NKEYS);
            write_key(&b, &kb[i], 1000 + (uint64_t)round * 1000 + (uint64_t)j, rnd() % 3 == 0);
        }
        for (int i = 0; i < NKEYS; i++) {
            uint32_t leaf = dk_merkle_leaf_of(ka[i].tok);
            if (dk_merkle_item(ka[i].tok, dk_buf_slice(&ka[i].obj)) !=
                dk_merkle_item(kb[i].tok, dk_buf_slice(&kb[i].obj)))
                want[leaf >> 3] |= (uint8_t)(1u << (leaf & 7));
        }
        for (uint32_t l = 0; l < DK_MERKLE_LEAVES; l++)
            expect += dk_merkle_bit(want, l);
        dk_merkle_view_of(&b, &vb);
        int got = dk_merkle_diff(&va, &vb, leaves);
        CU_ASSERT_EQUAL(got, expect);
        CU_ASSERT(memcmp(leaves, want, sizeof(want)) == 0);
        CU_ASSERT_EQUAL(dk_merkle_diff(&vb, &va, leaves), expect); /* symmetric */
    }
    /* Bring a up to b's data: equal again. */
    for (int i = 0; i < NKEYS; i++) {
        dk_merkle_apply(&a, ka[i].tok, dk_buf_slice(&ka[i].obj), dk_buf_slice(&kb[i].obj));
        dk_buf_reset(&ka[i].obj);
        CU_ASSERT_FATAL(dk_buf_append(&ka[i].obj, kb[i].obj.data, kb[i].obj.len) == 0);
    }
    dk_merkle_view_of(&a, &va);
    CU_ASSERT_EQUAL(dk_merkle_diff(&va, &vb, leaves), 0);
    keys_free(ka);
    keys_free(kb);
}

static void test_wire_helpers(void)
{
    static dk_merkle m;
    dk_merkle_clear(&m);
    dk_merkle_xor(&m, 5, 0x55);
    dk_merkle_xor(&m, 4095, 0x77);
    dk_merkle_view v;
    dk_merkle_view_of(&m, &v);
    CU_ASSERT_EQUAL(dk_merkle_level_size(0), 1);
    CU_ASSERT_EQUAL(dk_merkle_level_size(3), DK_MERKLE_LEAVES);
    CU_ASSERT_EQUAL(dk_merkle_bitmap_len(0), 1);
    CU_ASSERT_EQUAL(dk_merkle_bitmap_len(1), 2);
    CU_ASSERT_EQUAL(dk_merkle_bitmap_len(3), DK_MERKLE_BITMAP_MAX);

    uint8_t bm[DK_MERKLE_BITMAP_MAX] = {0}, differ[DK_MERKLE_BITMAP_MAX] = {0};
    bm[0] = 0x20;   /* leaf 5 */
    bm[511] = 0x80; /* leaf 4095 */
    dk_buf out = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk_merkle_select(&v, 3, (dk_slice){bm, sizeof(bm)}, &out), 2);
    CU_ASSERT_EQUAL(out.len, 16);
    CU_ASSERT_EQUAL(out.data[0], 0x55);
    CU_ASSERT_EQUAL(out.data[8], 0x77);
    CU_ASSERT_EQUAL(dk_merkle_compare(&v, 3, (dk_slice){bm, sizeof(bm)}, dk_buf_slice(&out), differ), 0);
    out.data[8] ^= 1;
    CU_ASSERT_EQUAL(dk_merkle_compare(&v, 3, (dk_slice){bm, sizeof(bm)}, dk_buf_slice(&out), differ), 1);
    CU_ASSERT_EQUAL(differ[511], 0x80);
    CU_ASSERT_EQUAL(differ[0], 0);
    /* Wrong lengths: a short answer, a bitmap of another level, a bad level. */
    CU_ASSERT_EQUAL(dk_merkle_compare(&v, 3, (dk_slice){bm, sizeof(bm)}, (dk_slice){out.data, 8}, differ),
                    -EINVAL);
    CU_ASSERT_EQUAL(dk_merkle_select(&v, 2, (dk_slice){bm, sizeof(bm)}, &out), -EINVAL);
    CU_ASSERT_EQUAL(dk_merkle_select(&v, 4, (dk_slice){bm, 1}, &out), -EINVAL);

    uint8_t parents[2] = {0x01, 0x80}, children[32];
    dk_merkle_children(1, parents, children); /* level-1 nodes 0 and 15 */
    CU_ASSERT(children[0] == 0xff && children[1] == 0xff && children[30] == 0xff && children[31] == 0xff);
    CU_ASSERT(children[2] == 0 && children[29] == 0);
    dk_buf_free(&out);
}

static CU_TestInfo merkle_tests[] = {
    {"incremental updates equal a rebuild", test_incremental_equals_rebuild},
    {"concurrent writers equal a rebuild", test_concurrent_writers},
    {"a tombstone counts as absent", test_tombstone_is_absent},
    {"an item's hash sees every byte", test_version_sees_every_byte},
    {"diff finds exactly the differing leaves", test_diff_finds_exactly},
    {"select, compare, children", test_wire_helpers},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "merkle", .pTests = merkle_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
