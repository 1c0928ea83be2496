/*
 * test-lsm-memtable.c - the memtable's key filter (memtable.c): a key
 * added is always found (values and tombstones, through a filter
 * overloaded far past its design), most keys never added are answered
 * absent by the filter alone, the filter is sized by the memtable size,
 * and readers racing the writer find every key whose sequence was
 * published to them the way the engine publishes it (under a mutex after
 * the insert). Thread results are collected and asserted on the main
 * thread; nothing depends on timing. The skip list keeps values longer
 * than 256 bytes apart from its nodes: every length reads back intact,
 * through find and the iterator, and the nodes of 10 KiB values lie
 * close together. A long value keeps its crc32c (the one given, else its
 * own) for the flush.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtable.h"
#include "util/crc32c.h"

static dk_slice tm_key(char *buf, size_t cap, const char *pfx, unsigned i)
{
    int n = snprintf(buf, cap, "%s%08u", pfx, i);
    return (dk_slice){(const uint8_t *)buf, (size_t)n};
}

static void test_filter_size(void)
{
    lsm_sl_pool *big = dk__lsm_sl_pool_new((size_t)64 << 20), *tiny = dk__lsm_sl_pool_new(64 << 10);
    lsm_memtable *a = dk__lsm_mem_new(1, big), *b = dk__lsm_mem_new(2, tiny), *c = dk__lsm_mem_new(3, NULL);
    CU_ASSERT_FATAL(a && b && c);
    CU_ASSERT_EQUAL(dk__lsm_mem_filter_bytes(a), (size_t)1 << 20); /* a bit per 8 bytes */
    CU_ASSERT_EQUAL(dk__lsm_mem_filter_bytes(b), 4096u);           /* the least */
    CU_ASSERT_EQUAL(dk__lsm_mem_filter_bytes(c), 65536u);          /* no pool */
    CU_ASSERT_EQUAL((uintptr_t)a->filter % 64, 0);
    dk__lsm_mem_unref(a);
    dk__lsm_mem_unref(b);
    dk__lsm_mem_unref(c);
    dk__lsm_sl_pool_unref(big);
    dk__lsm_sl_pool_unref(tiny);
}

/* 40 000 keys in a 4 KiB filter (under one bit per key: nearly every bit
 * set) and in a 1 MiB one: every key is found with its newest version at
 * the snapshot, every third as a tombstone; of keys never added, the
 * large filter turns most away itself and find answers none. */
static void test_filter_finds_added(void)
{
    for (int which = 0; which < 2; which++) {
        lsm_sl_pool *pool = dk__lsm_sl_pool_new(which ? (size_t)64 << 20 : 64 << 10);
        lsm_memtable *m = dk__lsm_mem_new(7, pool);
        CU_ASSERT_FATAL(m != NULL);
        char kb[32];
        uint64_t seq = 1;
        const unsigned n = 40000;
        for (unsigned i = 0; i < n; i++) {
            dk_slice v = {(const uint8_t *)"value", 5};
            CU_ASSERT_FATAL(dk__lsm_mem_add(m, seq++, LSM_TYPE_VALUE, tm_key(kb, sizeof(kb), "k", i), v) ==
                            0);
        }
        for (unsigned i = 0; i < n; i += 3)
            CU_ASSERT_FATAL(dk__lsm_mem_add(m, seq++, LSM_TYPE_DELETE, tm_key(kb, sizeof(kb), "k", i),
                                            (dk_slice){NULL, 0}) == 0);
        unsigned missed = 0, wrong = 0;
        for (unsigned i = 0; i < n; i++) {
            dk_slice v;
            int type;
            uint64_t s;
            dk_slice k = tm_key(kb, sizeof(kb), "k", i);
            if (!dk__lsm_mem_may_hold(m, k) || dk__lsm_mem_find(m, k, seq, &v, &type, &s) != 0) {
                missed++;
                continue;
            }
            if (i % 3 == 0)
                wrong += type != LSM_TYPE_DELETE || s <= n;
            else
                wrong += type != LSM_TYPE_VALUE || v.len != 5 || memcmp(v.ptr, "value", 5) != 0 || s != i + 1;
        }
        CU_ASSERT_EQUAL(missed, 0);
        CU_ASSERT_EQUAL(wrong, 0);
        /* the tombstone's snapshot: before it, the value */
        dk_slice v;
        int type;
        uint64_t s;
        CU_ASSERT_EQUAL(dk__lsm_mem_find(m, tm_key(kb, sizeof(kb), "k", 3), n, &v, &type, &s), 0);
        CU_ASSERT_EQUAL(type, LSM_TYPE_VALUE);
        unsigned turned = 0, found = 0;
        for (unsigned i = 0; i < 10000; i++) {
            dk_slice k = tm_key(kb, sizeof(kb), "absent", i);
            turned += !dk__lsm_mem_may_hold(m, k);
            found += dk__lsm_mem_find(m, k, seq, &v, &type, &s) == 0;
        }
        CU_ASSERT_EQUAL(found, 0);
        if (which) /* ~76 bits a key: false positives are rare */
            CU_ASSERT(turned >= 9900);
        dk__lsm_mem_unref(m);
        dk__lsm_sl_pool_unref(pool);
    }
}

/* One writer adds keys and publishes how many under a mutex after each
 * add (as the engine publishes last_seq); readers take the published
 * count under the mutex and look for keys below it, the newest ones
 * first (their filter bits were just set). */
typedef struct tm_race {
    lsm_memtable *m;
    pthread_mutex_t mu;
    unsigned published, n;
    unsigned missed[3], looked[3];
} tm_race;

typedef struct tm_reader {
    tm_race *r;
    int id;
} tm_reader;

static void *tm_writer(void *arg)
{
    tm_race *r = arg;
    char kb[32];
    for (unsigned i = 0; i < r->n; i++) {
        dk_slice v = {(const uint8_t *)kb, 4};
        int type = i % 5 == 4 ? LSM_TYPE_DELETE : LSM_TYPE_VALUE;
        if (dk__lsm_mem_add(r->m, i + 1, type, tm_key(kb, sizeof(kb), "r", i), v) != 0)
            break;
        pthread_mutex_lock(&r->mu);
        r->published = i + 1;
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

static void *tm_read(void *arg)
{
    tm_reader *rd = arg;
    tm_race *r = rd->r;
    char kb[32];
    unsigned seen = 0, rng = (unsigned)rd->id * 2654435761u + 1;
    while (seen < r->n) {
        pthread_mutex_lock(&r->mu);
        seen = r->published;
        pthread_mutex_unlock(&r->mu);
        if (!seen)
            continue;
        for (unsigned j = 0; j < 8; j++) {
            rng = rng * 1103515245u + 12345u;
            unsigned i = j < 4 && seen > j ? seen - 1 - j : (rng >> 8) % seen;
            dk_slice v;
            int type;
            uint64_t s;
            r->looked[rd->id]++;
            if (dk__lsm_mem_find(r->m, tm_key(kb, sizeof(kb), "r", i), seen, &v, &type, &s) != 0 ||
                s != i + 1 || type != (i % 5 == 4 ? LSM_TYPE_DELETE : LSM_TYPE_VALUE))
                r->missed[rd->id]++;
        }
    }
    return NULL;
}

static void test_filter_concurrent(void)
{
    /* a small filter, so that readers also see blocks whose bits are
     * being set */
    lsm_sl_pool *pool = dk__lsm_sl_pool_new(256 << 10);
    tm_race *r = calloc(1, sizeof(*r));
    CU_ASSERT_FATAL(r != NULL);
    r->m = dk__lsm_mem_new(9, pool);
    CU_ASSERT_FATAL(r->m != NULL);
    pthread_mutex_init(&r->mu, NULL);
    r->n = 30000;
    pthread_t w, t[3];
    tm_reader rd[3];
    for (int i = 0; i < 3; i++) {
        rd[i] = (tm_reader){r, i};
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, tm_read, &rd[i]) == 0);
    }
    CU_ASSERT_FATAL(pthread_create(&w, NULL, tm_writer, r) == 0);
    pthread_join(w, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(r->published, r->n);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(r->missed[i], 0);
        CU_ASSERT(r->looked[i] > 0);
    }
    dk__lsm_mem_unref(r->m);
    pthread_mutex_destroy(&r->mu);
    free(r);
    dk__lsm_sl_pool_unref(pool);
}

/* Values of every size class (empty, short, the 256-byte inline limit and
 * one past it, 10 KiB, and past the 64 KiB big-allocation size) read back
 * byte for byte, through find and the iterator; the nodes of 10 KiB
 * values (their keys) lie within a few KiB of one another, where inline
 * values put each on its own pages. */
static void test_values_apart(void)
{
    static const size_t lens[] = {0, 1, 100, 256, 257, 10240, 70000};
    enum { NL = sizeof(lens) / sizeof(lens[0]), N = 700 };
    static uint8_t val[70000];
    lsm_sl_pool *pool = dk__lsm_sl_pool_new((size_t)4 << 20);
    lsm_memtable *m = dk__lsm_mem_new(3, pool);
    CU_ASSERT_FATAL(m != NULL);
    char kb[32];
    for (unsigned i = 0; i < N; i++) {
        for (size_t j = 0; j < lens[i % NL]; j++)
            val[j] = (uint8_t)(i * 31 + j);
        CU_ASSERT_FATAL(dk__lsm_mem_add(m, i + 1, LSM_TYPE_VALUE, tm_key(kb, sizeof(kb), "v", i),
                                        (dk_slice){val, lens[i % NL]}) == 0);
    }
    unsigned wrong = 0;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (unsigned i = 0; i < N; i++) {
        dk_slice v;
        int type;
        uint64_t s;
        size_t len = lens[i % NL];
        if (dk__lsm_mem_find(m, tm_key(kb, sizeof(kb), "v", i), N, &v, &type, &s) != 0 || v.len != len) {
            wrong++;
            continue;
        }
        for (size_t j = 0; j < len; j++)
            wrong += v.ptr[j] != (uint8_t)(i * 31 + j);
    }
    CU_ASSERT_EQUAL(wrong, 0);
    /* The iterator: every entry, in key order, the same values. */
    lsm_iter *it = dk__lsm_mem_iter(m);
    CU_ASSERT_FATAL(it != NULL);
    unsigned n = 0, tenk = 0;
    for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), n++) {
        dk_slice k = lsm_ikey_user(it->ops->key(it)), v = it->ops->value(it);
        char num[9] = {0};
        memcpy(num, k.ptr + 1, k.len == 9 ? 8 : 0);
        unsigned i = (unsigned)strtoul(num, NULL, 10);
        wrong += k.len != 9 || v.len != lens[i % NL] ||
                 (v.len && v.ptr[v.len - 1] != (uint8_t)(i * 31 + v.len - 1));
        if (v.len == 10240) {
            tenk++;
            lo = (uintptr_t)k.ptr < lo ? (uintptr_t)k.ptr : lo;
            hi = (uintptr_t)k.ptr > hi ? (uintptr_t)k.ptr : hi;
        }
    }
    it->ops->destroy(it);
    CU_ASSERT_EQUAL(n, N);
    CU_ASSERT_EQUAL(wrong, 0);
    /* 100 nodes of 10 KiB values: inline they would span over 1 MiB. */
    CU_ASSERT_EQUAL(tenk, N / NL);
    CU_ASSERT(hi - lo < (uintptr_t)N * 200);
    dk__lsm_mem_unref(m);
    dk__lsm_sl_pool_unref(pool);
}

/* Long values keep a CRC: the caller's when given (the WAL encoder's;
 * kept as given, not checked), else computed from the value; short ones
 * (inline in the node) have none. */
static void test_value_crc(void)
{
    lsm_memtable *m = dk__lsm_mem_new(1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    static const size_t lens[] = {0, 1, 256, 257, 4096, 10240, 70000};
    enum { NL = sizeof(lens) / sizeof(lens[0]) };
    uint8_t *v = malloc(70000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (size_t i = 0; i < 70000; i++)
        v[i] = (uint8_t)(i * 131 + 7);
    char kb[32];
    for (unsigned i = 0; i < NL; i++) {
        dk_slice val = {v, lens[i]};
        uint32_t given = 0x12345678u + i;
        CU_ASSERT_EQUAL(dk__lsm_mem_add(m, 1 + 2 * i, LSM_TYPE_VALUE, tm_key(kb, sizeof(kb), "own-", i), val),
                        0);
        CU_ASSERT_EQUAL(dk__lsm_mem_add_crc(m, 2 + 2 * i, LSM_TYPE_VALUE, tm_key(kb, sizeof(kb), "given-", i),
                                            val, &given),
                        0);
    }
    for (unsigned i = 0; i < NL; i++) {
        dk_slice got;
        int type;
        uint64_t seq;
        uint32_t crc = 0;
        CU_ASSERT_EQUAL_FATAL(
            dk__lsm_mem_find(m, tm_key(kb, sizeof(kb), "own-", i), UINT64_MAX, &got, &type, &seq), 0);
        CU_ASSERT_TRUE(got.len == lens[i] && (!got.len || memcmp(got.ptr, v, got.len) == 0));
        CU_ASSERT_EQUAL(dk__lsm_sl_value_crc(got, &crc), lens[i] > 256);
        if (lens[i] > 256)
            CU_ASSERT_EQUAL(crc, dk_crc32c(v, lens[i]));
        CU_ASSERT_EQUAL_FATAL(
            dk__lsm_mem_find(m, tm_key(kb, sizeof(kb), "given-", i), UINT64_MAX, &got, &type, &seq), 0);
        CU_ASSERT_TRUE(got.len == lens[i] && (!got.len || memcmp(got.ptr, v, got.len) == 0));
        CU_ASSERT_EQUAL(dk__lsm_sl_value_crc(got, &crc), lens[i] > 256);
        if (lens[i] > 256)
            CU_ASSERT_EQUAL(crc, 0x12345678u + i);
    }
    free(v);
    dk__lsm_mem_unref(m);
}

static CU_TestInfo tm_tests[] = {
    {"value_crc", test_value_crc},
    {"filter_size", test_filter_size},
    {"filter_finds_added", test_filter_finds_added},
    {"filter_concurrent", test_filter_concurrent},
    {"values_apart", test_values_apart},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-memtable", .pTests = tm_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
