/*
 * test-lsm-block.c - the restart interval of blocks (block.h): a new
 * block puts a restart point (an entry stored whole, shared = 0) every
 * LSM_RESTART_INTERVAL (8) entries, and blocks written with any interval
 * (1 as index blocks use, 8, the 16 of tables written before, and one
 * restart for the whole block) read back the same: a full scan, a seek to
 * every key and to every gap between keys, through the heap iterator and
 * the stack one a point read uses.
 */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "block.h"

#define TB_N 300 /* keys per block: 2 * i for i < TB_N, so the odd numbers are gaps */

static dk_slice tb_ikey(uint8_t *buf, unsigned i, uint64_t seq, int type)
{
    char k[24];
    int n = snprintf(k, sizeof(k), "user-key-%08u", i);
    return lsm_ikey_make(buf, (dk_slice){(const uint8_t *)k, (size_t)n}, seq, type);
}

static void tb_build(lsm_block_builder *bb, int interval, dk_slice *blk)
{
    dk__lsm_bb_init(bb);
    if (interval)
        bb->interval = interval;
    for (unsigned i = 0; i < TB_N; i++) {
        uint8_t kb[64];
        char v[24];
        int n = snprintf(v, sizeof(v), "v%u", i);
        CU_ASSERT_EQUAL_FATAL(dk__lsm_bb_add(bb, tb_ikey(kb, 2 * i, 7, LSM_TYPE_VALUE),
                                             (dk_slice){(const uint8_t *)v, (size_t)n}),
                              0);
    }
    CU_ASSERT_EQUAL_FATAL(dk__lsm_bb_finish(bb, blk), 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_block_check(blk->ptr, blk->len), 0);
}

/* A new block restarts every 8th entry: the trailer counts
 * ceil(TB_N / 8) restarts, each at an entry with nothing shared, and the
 * entries between them share their prefix with the previous key. */
static void test_default_interval(void)
{
    CU_ASSERT_EQUAL(LSM_RESTART_INTERVAL, 8);
    lsm_block_builder bb;
    dk_slice blk;
    tb_build(&bb, 0, &blk);
    uint32_t nres = dk_get_u32(blk.ptr + blk.len - 4);
    CU_ASSERT_EQUAL(nres, (TB_N + 7) / 8);
    const uint8_t *arr = blk.ptr + blk.len - 4 - 4 * (size_t)nres;
    int bad = 0;
    for (uint32_t r = 0; r < nres; r++) {
        uint32_t off = dk_get_u32(arr + 4 * r);
        bad += off >= (uint32_t)(arr - blk.ptr) || blk.ptr[off] != 0; /* shared = 0 (one varint byte) */
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* The second entry shares "user-key-0000000" with the first. */
    size_t second = 0;
    uint64_t shared = 0, unshared = 0, vlen = 0;
    const uint8_t *p = blk.ptr, *end = arr;
    size_t k = dk_get_varint(p, end, &shared);
    k += dk_get_varint(p + k, end, &unshared);
    k += dk_get_varint(p + k, end, &vlen);
    second = k + unshared + vlen;
    CU_ASSERT_EQUAL_FATAL(dk_get_varint(p + second, end, &shared) > 0, 1);
    CU_ASSERT_TRUE(shared >= 16);
    dk__lsm_bb_free(&bb);
}

/* Every key and every gap, found through both iterators, for a block
 * written with the given interval. */
static void tb_read_back(int interval)
{
    lsm_block_builder bb;
    dk_slice blk;
    tb_build(&bb, interval, &blk);
    uint32_t nres = dk_get_u32(blk.ptr + blk.len - 4);
    CU_ASSERT_EQUAL(nres, (uint32_t)((TB_N + interval - 1) / interval));

    lsm_iter *it = dk__lsm_block_iter(blk.ptr, blk.len, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(it);
    unsigned n = 0, bad = 0;
    uint8_t kb[64], tk[64];
    for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), n++)
        bad += lsm_icmp(it->ops->key(it), tb_ikey(kb, 2 * n, 7, LSM_TYPE_VALUE)) != 0;
    CU_ASSERT_EQUAL(n, TB_N);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(it->ops->status(it), 0);

    for (unsigned i = 0; i < 2 * TB_N - 1; i++) {
        unsigned want = (i + 1) / 2 * 2; /* a gap seeks to the next key */
        char v[24];
        int vn = snprintf(v, sizeof(v), "v%u", want / 2);
        dk_slice target = lsm_ikey_lookup(tk, lsm_ikey_user(tb_ikey(kb, i, 0, 0)), LSM_SEQ_MAX);
        it->ops->seek(it, target);
        bad += !it->ops->valid(it) || lsm_icmp(it->ops->key(it), tb_ikey(kb, want, 7, LSM_TYPE_VALUE)) != 0 ||
               it->ops->value(it).len != (size_t)vn || memcmp(it->ops->value(it).ptr, v, (size_t)vn) != 0;
        lsm_block_iter bi;
        dk__lsm_block_iter_init(&bi, blk.ptr, blk.len);
        bi.base.ops->seek(&bi.base, target);
        bad += !bi.base.ops->valid(&bi.base) ||
               lsm_icmp(bi.base.ops->key(&bi.base), tb_ikey(kb, want, 7, LSM_TYPE_VALUE)) != 0;
        dk__lsm_block_iter_done(&bi);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* Past the last key: nothing; before the first: the first. */
    it->ops->seek(it, lsm_ikey_lookup(tk, lsm_ikey_user(tb_ikey(kb, 2 * TB_N, 0, 0)), LSM_SEQ_MAX));
    CU_ASSERT_FALSE(it->ops->valid(it));
    it->ops->seek(it, lsm_ikey_lookup(tk, (dk_slice){(const uint8_t *)"a", 1}, LSM_SEQ_MAX));
    CU_ASSERT_TRUE(it->ops->valid(it) && lsm_icmp(it->ops->key(it), tb_ikey(kb, 0, 7, LSM_TYPE_VALUE)) == 0);
    it->ops->destroy(it);
    dk__lsm_bb_free(&bb);
}

static void test_interval_1(void)
{
    tb_read_back(1);
}
static void test_interval_8(void)
{
    tb_read_back(8);
}
static void test_interval_16(void)
{
    tb_read_back(16);
}
static void test_interval_whole_block(void)
{
    tb_read_back(TB_N);
}

static CU_TestInfo tb_tests[] = {
    {"default_interval", test_default_interval},
    {"interval_1", test_interval_1},
    {"interval_8", test_interval_8},
    {"interval_16_earlier_tables", test_interval_16},
    {"interval_whole_block", test_interval_whole_block},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-block", .pTests = tb_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
