/*
 * test-lsm-iter.c - the LSM engine's sorted runs in memory and how runs
 * are merged: the skip list (ordering, versions, its chunk pool shared
 * between lists) and the merging iterator over skip-list children (order,
 * long runs from one child, one-entry and empty children, seek then next).
 */
#include "test-lsm-util.h"

#include "skiplist.h"
#include "table.h"

static uint8_t it_kbuf[64][DK_KEY_MAX + LSM_TRAILER];

/* Internal key "key%06d"@seq in slot s of a static buffer. */
static dk_slice it_ikey(int slot, int i, uint64_t seq, int type)
{
    char k[32];
    snprintf(k, sizeof(k), "key%06d", i);
    return lsm_ikey_make(it_kbuf[slot], tl_str(k), seq, type);
}

static void test_skiplist(void)
{
    lsm_skiplist *sl = dk__lsm_sl_new(7, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sl);
    /* Insert 2000 keys in a scrambled order, two versions of some. */
    for (int i = 0; i < 2000; i++) {
        int k = (i * 7919) % 2000;
        CU_ASSERT_EQUAL(dk__lsm_sl_insert(sl, it_ikey(0, k, 10, LSM_TYPE_VALUE), tl_str("old")), 0);
        if (k % 10 == 0)
            CU_ASSERT_EQUAL(dk__lsm_sl_insert(sl, it_ikey(0, k, 20, LSM_TYPE_VALUE), tl_str("new")), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_sl_count(sl), 2200);
    CU_ASSERT_TRUE(dk__lsm_sl_used(sl) <= dk__lsm_sl_memory(sl));
    lsm_iter *it = dk__lsm_sl_iter(sl);
    int n = 0, ordered = 1;
    dk_buf prev = DK_BUF_INIT;
    for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
        dk_slice k = it->ops->key(it);
        if (n && lsm_icmp(dk_buf_slice(&prev), k) >= 0)
            ordered = 0;
        dk_buf_reset(&prev);
        dk_buf_append(&prev, k.ptr, k.len);
        n++;
    }
    CU_ASSERT_EQUAL(n, 2200);
    CU_ASSERT_TRUE(ordered);
    /* Newest first within a key; a lookup at seq 15 sees the old one. */
    it->ops->seek(it, it_ikey(1, 30, LSM_SEQ_MAX, 0xff));
    CU_ASSERT_TRUE_FATAL(it->ops->valid(it));
    CU_ASSERT_EQUAL(lsm_ikey_seq(it->ops->key(it)), 20);
    it->ops->seek(it, lsm_ikey_lookup(it_kbuf[1], tl_str("key000030"), 15));
    CU_ASSERT_EQUAL(lsm_ikey_seq(it->ops->key(it)), 10);
    CU_ASSERT_EQUAL(it->ops->value(it).len, 3);
    /* Past the end. */
    it->ops->seek(it, it_ikey(1, 999999, 1, 1));
    CU_ASSERT_FALSE(it->ops->valid(it));
    it->ops->destroy(it);
    dk_buf_free(&prev);
    dk__lsm_sl_free(sl);
}

/* A freed list's chunks go back to its pool (up to the pool's cap) and
 * the next list fills them; a list outlives the pool's owner. */
static void test_skiplist_pool(void)
{
    static uint8_t val[10240];
    lsm_sl_pool *pool = dk__lsm_sl_pool_new(4 * 300 * 1024); /* 4 chunks */
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    lsm_skiplist *a = dk__lsm_sl_new(1, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    memset(val, 'a', sizeof(val));
    for (int i = 0; i < 200; i++) /* ~2 MiB: 8 chunks */
        CU_ASSERT_EQUAL(dk__lsm_sl_insert(a, it_ikey(0, i, 1, LSM_TYPE_VALUE), (dk_slice){val, sizeof(val)}),
                        0);
    CU_ASSERT_EQUAL(dk__lsm_sl_pool_kept(pool), 0);
    dk__lsm_sl_free(a);
    CU_ASSERT_EQUAL(dk__lsm_sl_pool_kept(pool), 4); /* capped; the rest freed */
    lsm_skiplist *b = dk__lsm_sl_new(2, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    memset(val, 'b', sizeof(val));
    for (int i = 0; i < 40; i++) /* ~400 KiB of values: 2 chunks, and 1 of nodes, from the pool */
        CU_ASSERT_EQUAL(dk__lsm_sl_insert(b, it_ikey(0, i, 2, LSM_TYPE_VALUE), (dk_slice){val, sizeof(val)}),
                        0);
    CU_ASSERT_EQUAL(dk__lsm_sl_pool_kept(pool), 1);
    dk__lsm_sl_pool_unref(pool); /* the owner goes first: b keeps it alive */
    dk_slice k, v;
    for (int i = 0; i < 40; i++) {
        CU_ASSERT_EQUAL_FATAL(dk__lsm_sl_seek(b, it_ikey(1, i, LSM_SEQ_MAX, 0xff), &k, &v), 1);
        CU_ASSERT_EQUAL(lsm_ikey_seq(k), 2);
        CU_ASSERT_TRUE(v.len == sizeof(val) && memcmp(v.ptr, val, v.len) == 0);
    }
    dk__lsm_sl_free(b);
}

/* ---- merging iterator over arrays -------------------------------------- */

static void test_merge_iter(void)
{
    lsm_skiplist *a = dk__lsm_sl_new(1, NULL), *b = dk__lsm_sl_new(2, NULL), *c = dk__lsm_sl_new(3, NULL);
    uint64_t seq = 1;
    for (int i = 0; i < 300; i++) {
        lsm_skiplist *t = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
        dk__lsm_sl_insert(t, it_ikey(0, i / 2, seq++, LSM_TYPE_VALUE), tl_str("x"));
    }
    lsm_iter **kids = malloc(3 * sizeof(*kids));
    kids[0] = dk__lsm_sl_iter(a);
    kids[1] = dk__lsm_sl_iter(b);
    kids[2] = dk__lsm_sl_iter(c);
    lsm_iter *m = dk__lsm_merge_iter(kids, 3);
    int n = 0, ordered = 1;
    uint8_t prev[64];
    size_t plen = 0;
    for (m->ops->first(m); m->ops->valid(m); m->ops->next(m)) {
        dk_slice k = m->ops->key(m);
        if (n && lsm_icmp((dk_slice){prev, plen}, k) >= 0)
            ordered = 0;
        memcpy(prev, k.ptr, k.len);
        plen = k.len;
        n++;
    }
    CU_ASSERT_EQUAL(n, 300);
    CU_ASSERT_TRUE(ordered);
    /* Seek lands on the newest version of key 75 (two versions exist). */
    m->ops->seek(m, it_ikey(1, 75, LSM_SEQ_MAX, 0xff));
    CU_ASSERT_TRUE_FATAL(m->ops->valid(m));
    CU_ASSERT_EQUAL(lsm_ikey_seq(m->ops->key(m)), 152);
    m->ops->next(m);
    CU_ASSERT_EQUAL(lsm_ikey_seq(m->ops->key(m)), 151);
    CU_ASSERT_EQUAL(m->ops->status(m), 0);
    m->ops->destroy(m);
    dk__lsm_sl_free(a);
    dk__lsm_sl_free(b);
    dk__lsm_sl_free(c);
}

/* Children of long runs, short runs, one entry and none, in a random
 * interleaving: the merge returns every key once, in order (merge.c keeps
 * the current child while it stays below the runner-up). */
static void test_merge_iter_runs(void)
{
    enum { KIDS = 5, N = 4000 };
    lsm_skiplist *sl[KIDS];
    for (int i = 0; i < KIDS; i++)
        sl[i] = dk__lsm_sl_new((uint64_t)i + 1, NULL);
    uint64_t x = 88172645463325252ull;
    int run = 0, kid = 0;
    for (int i = 0; i < N; i++) {
        if (run-- <= 0) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            kid = (int)(x % 3); /* kids 3 (one entry) and 4 (none) aside */
            run = (int)(x >> 8) % (kid == 0 ? 60 : 3);
        }
        dk__lsm_sl_insert(sl[kid], it_ikey(0, i, 1, LSM_TYPE_VALUE), tl_str("x"));
    }
    dk__lsm_sl_insert(sl[3], it_ikey(0, N / 2, 2, LSM_TYPE_VALUE), tl_str("y"));
    lsm_iter **kids = malloc(KIDS * sizeof(*kids));
    for (int i = 0; i < KIDS; i++)
        kids[i] = dk__lsm_sl_iter(sl[i]);
    lsm_iter *m = dk__lsm_merge_iter(kids, KIDS);
    int n = 0, bad = 0;
    for (m->ops->first(m); m->ops->valid(m); m->ops->next(m), n++) {
        /* key N/2 twice: the newer version (seq 2, kid 3) first */
        int i = n <= N / 2 ? n : n - 1;
        uint64_t seq = n == N / 2 ? 2 : 1;
        bad += lsm_icmp(m->ops->key(m), it_ikey(1, i, seq, LSM_TYPE_VALUE)) != 0;
    }
    CU_ASSERT_EQUAL(n, N + 1);
    CU_ASSERT_EQUAL(bad, 0);
    /* After a seek into a run, next goes on in order. */
    m->ops->seek(m, it_ikey(1, 1234, LSM_SEQ_MAX, 0xff));
    for (int i = 1234; i < 1300; i++, m->ops->next(m))
        bad += !m->ops->valid(m) || lsm_icmp(m->ops->key(m), it_ikey(1, i, 1, LSM_TYPE_VALUE)) != 0;
    CU_ASSERT_EQUAL(bad, 0);
    m->ops->destroy(m);
    for (int i = 0; i < KIDS; i++)
        dk__lsm_sl_free(sl[i]);
}

static CU_TestInfo it_tests[] = {
    {.pName = "skiplist", .pTestFunc = test_skiplist},
    {.pName = "skiplist_pool", .pTestFunc = test_skiplist_pool},
    {.pName = "merge_iter", .pTestFunc = test_merge_iter},
    {.pName = "merge_iter_runs", .pTestFunc = test_merge_iter_runs},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-iter", .pTests = it_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
