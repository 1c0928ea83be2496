/*
 * test-lsm-format.c - the LSM engine's on-disk building blocks in
 * isolation (the skip list and the merging iterator: test-lsm-iter.c):
 * block builder and iterator, bloom filter false-positive rate,
 * block cache (LRU order and the pinned-bytes budget), table builder and
 * reader (raw, zstd and lz4 through the codec plugins, corrupt blocks,
 * index and filter pinned or read through the cache, a table read back
 * with another codec configured, a table whose codec plugin is missing, a
 * table written before codecs were plugins), the stack block iterator
 * with long keys, and crc32c.
 */
#include "test-lsm-util.h"

#include <errno.h>

#include "blob.h"
#include "block.h"
#include "bloom.h"
#include "cache.h"
#include "env_fault.h"
#include "skiplist.h"
#include "table.h"
#include "util/crc32c.h"

static uint8_t fm_kbuf[64][DK_KEY_MAX + LSM_TRAILER];

/* The codec plugins come through a fake host, as the engine gets them. */
static dk_fake_host fm_host;

static int fm_init(void)
{
    dk_fake_host_init(&fm_host);
    return fm_host.plugins ? 0 : 1;
}

static int fm_clean(void)
{
    dk_fake_host_destroy(&fm_host);
    return 0;
}

/* A codec registry on fm_host with `codec` registered (NULL: none). */
static lsm_codecs *fm_codecs(const char *codec, const dk_codec_ref **ref)
{
    lsm_codecs *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_codecs_new(&fm_host.host, &c), 0);
    *ref = NULL;
    if (codec)
        CU_ASSERT_EQUAL_FATAL(dk__lsm_codecs_open(c, codec, 0, ref), 0);
    return c;
}

/* Internal key "key%06d"@seq in slot s of a static buffer. */
static dk_slice fm_ikey(int slot, int i, uint64_t seq, int type)
{
    char k[32];
    snprintf(k, sizeof(k), "key%06d", i);
    return lsm_ikey_make(fm_kbuf[slot], tl_str(k), seq, type);
}

static void test_block_roundtrip(void)
{
    lsm_block_builder bb;
    dk__lsm_bb_init(&bb);
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof(v), "val%d", i);
        CU_ASSERT_EQUAL(dk__lsm_bb_add(&bb, fm_ikey(0, i * 2, 5, LSM_TYPE_VALUE), tl_str(v)), 0);
    }
    dk_slice blk;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_bb_finish(&bb, &blk), 0);
    /* Prefix compression: far smaller than 100 full keys. */
    CU_ASSERT_TRUE(blk.len < 100 * (9 + 8 + 6));
    CU_ASSERT_EQUAL(dk__lsm_block_check(blk.ptr, blk.len), 0);
    lsm_iter *it = dk__lsm_block_iter(blk.ptr, blk.len, NULL, NULL);
    int n = 0;
    for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
        CU_ASSERT_EQUAL(lsm_icmp(it->ops->key(it), fm_ikey(1, n * 2, 5, LSM_TYPE_VALUE)), 0);
        n++;
    }
    CU_ASSERT_EQUAL(n, 100);
    CU_ASSERT_EQUAL(it->ops->status(it), 0);
    /* Seek to every present key and to every gap. */
    int bad = 0;
    for (int i = 0; i < 199; i++) {
        it->ops->seek(it, fm_ikey(1, i, LSM_SEQ_MAX, 0xff));
        int want = (i + 1) / 2 * 2;
        bad += !it->ops->valid(it) || lsm_icmp(it->ops->key(it), fm_ikey(2, want, 5, LSM_TYPE_VALUE)) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    it->ops->seek(it, fm_ikey(1, 199, 5, 1));
    CU_ASSERT_FALSE(it->ops->valid(it));
    it->ops->destroy(it);
    /* Bad restart counts are refused; a damaged entry invalidates the
     * iterator with DK_ECORRUPT instead of reading out of bounds. */
    uint8_t bad_blk[8] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
    CU_ASSERT_EQUAL(dk__lsm_block_check(bad_blk, sizeof(bad_blk)), DK_ECORRUPT);
    uint8_t *copy = malloc(blk.len);
    memcpy(copy, blk.ptr, blk.len);
    copy[0] = 0x7f; /* shared length > 0 at a restart point */
    it = dk__lsm_block_iter(copy, blk.len, free, copy);
    it->ops->first(it);
    CU_ASSERT_FALSE(it->ops->valid(it));
    CU_ASSERT_EQUAL(it->ops->status(it), DK_ECORRUPT);
    it->ops->destroy(it);
    dk__lsm_bb_free(&bb);
}

/* The stack iterator a point read uses: keys longer than its inline
 * room spill to the heap and still seek and compare right. */
static void test_block_stack_iter_long_keys(void)
{
    lsm_block_builder bb;
    dk__lsm_bb_init(&bb);
    static uint8_t keys[40][700];
    for (int i = 0; i < 40; i++) {
        size_t len = i % 2 ? 600 : 20; /* long and short keys alternate */
        char num[8];
        snprintf(num, sizeof(num), "%06d", i); /* the order of the keys */
        memset(keys[i], 'k', len);
        memcpy(keys[i], num, 6);
        dk_put_u64(keys[i] + len, lsm_trailer(7, LSM_TYPE_VALUE));
        CU_ASSERT_EQUAL(dk__lsm_bb_add(&bb, (dk_slice){keys[i], len + LSM_TRAILER}, tl_str("v")), 0);
    }
    dk_slice blk;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_bb_finish(&bb, &blk), 0);
    int bad = 0;
    for (int i = 0; i < 40; i++) {
        lsm_block_iter bi;
        dk__lsm_block_iter_init(&bi, blk.ptr, blk.len);
        dk_slice target = {keys[i], (i % 2 ? 600 : 20) + LSM_TRAILER};
        bi.base.ops->seek(&bi.base, target);
        bad += !bi.base.ops->valid(&bi.base) || lsm_icmp(bi.base.ops->key(&bi.base), target) != 0;
        if (i % 2)
            bad += bi.key == bi.kin; /* the long key lives on the heap */
        dk__lsm_block_iter_done(&bi);
    }
    CU_ASSERT_EQUAL(bad, 0);
    dk__lsm_bb_free(&bb);
}

static void test_bloom_fp_rate(void)
{
    const size_t n = 20000;
    uint64_t *h = malloc(n * sizeof(*h));
    char k[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "user:%zu", i);
        h[i] = dk__lsm_hash64(k, strlen(k));
    }
    dk_buf f = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_bloom_build(&f, h, n, 10), 0);
    CU_ASSERT_EQUAL(f.len, n * 10 / 8 + 1);
    int missed = 0;
    for (size_t i = 0; i < n; i++)
        missed += !dk__lsm_bloom_may_match(f.data, f.len, h[i]);
    CU_ASSERT_EQUAL(missed, 0); /* no false negatives, ever */
    size_t fp = 0, probes = 100000;
    for (size_t i = 0; i < probes; i++) {
        snprintf(k, sizeof(k), "absent:%zu", i);
        fp += dk__lsm_bloom_may_match(f.data, f.len, dk__lsm_hash64(k, strlen(k)));
    }
    double rate = (double)fp / (double)probes;
    fprintf(stderr, "bloom: %.3f%% false positives at 10 bits/key\n", rate * 100);
    CU_ASSERT_TRUE(rate > 0.002 && rate < 0.015);
    /* A malformed filter never says "absent". */
    CU_ASSERT_EQUAL(dk__lsm_bloom_may_match(f.data, 1, 123), 1);
    dk_buf_free(&f);
    free(h);
}

static void test_cache_lru(void)
{
    lsm_cache *c = dk__lsm_cache_new(4 * 1200);
    for (uint64_t i = 0; i < 4; i++)
        dk__lsm_cache_release(c, dk__lsm_cache_insert(c, 1, i, calloc(1, 1000), 1000));
    /* Touch block 0 so block 1 is the least recently used. */
    lsm_cblock *h = dk__lsm_cache_lookup(c, 1, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    dk__lsm_cache_release(c, h);
    dk__lsm_cache_release(c, dk__lsm_cache_insert(c, 1, 4, calloc(1, 1000), 1000));
    h = dk__lsm_cache_lookup(c, 1, 1);
    CU_ASSERT_PTR_NULL(h);
    h = dk__lsm_cache_lookup(c, 1, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    /* A held block survives eviction and erase. */
    dk__lsm_cache_erase_file(c, 1);
    CU_ASSERT_EQUAL(h->size, 1000);
    dk__lsm_cache_release(c, h);
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, 0);
    CU_ASSERT_EQUAL(hits, 2);
    CU_ASSERT_EQUAL(misses, 1);
    dk__lsm_cache_free(c);
}

/* Erasing a file drops that file's blocks and nothing else, whatever
 * their order in the LRU list, also for files sharing hash slots. */
static void test_cache_erase_file(void)
{
    lsm_cache *c = dk__lsm_cache_new(1 << 20);
    for (uint64_t i = 0; i < 600; i++) /* 300 files, two blocks each */
        dk__lsm_cache_release(c, dk__lsm_cache_insert(c, i % 300, i, calloc(1, 100), 100));
    uint64_t usage0, usage, hits, misses;
    dk__lsm_cache_stats(c, &usage0, &hits, &misses);
    lsm_cblock *held = dk__lsm_cache_lookup(c, 7, 307);
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    for (uint64_t f = 0; f < 300; f += 7)
        dk__lsm_cache_erase_file(c, f);
    dk__lsm_cache_erase_file(c, 12345); /* no such file: nothing happens */
    int wrong = 0;
    for (uint64_t i = 0; i < 600; i++) {
        lsm_cblock *h = dk__lsm_cache_lookup(c, i % 300, i);
        wrong += (h != NULL) != ((i % 300) % 7 != 0);
        if (h)
            dk__lsm_cache_release(c, h);
    }
    CU_ASSERT_EQUAL(wrong, 0);
    /* The held block outlives its erased file until released. */
    CU_ASSERT_EQUAL(held->size, 100);
    dk__lsm_cache_release(c, held);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, usage0 / 600 * (600 - 2 * 43));
    /* Blocks of an erased file can come back (a new reader). */
    dk__lsm_cache_release(c, dk__lsm_cache_insert(c, 7, 7, calloc(1, 100), 100));
    held = dk__lsm_cache_lookup(c, 7, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    dk__lsm_cache_erase_file(c, 7);
    CU_ASSERT_PTR_NULL(dk__lsm_cache_lookup(c, 7, 7));
    dk__lsm_cache_release(c, held);
    dk__lsm_cache_free(c);
}

/* Pinned bytes count against the capacity, evict LRU blocks, and are
 * refused past half the capacity. */
static void test_cache_pin_budget(void)
{
    lsm_cache *c = dk__lsm_cache_new(10000);
    for (uint64_t i = 0; i < 4; i++)
        dk__lsm_cache_release(c, dk__lsm_cache_insert(c, 1, i, calloc(1, 1500), 1500));
    uint64_t usage, hits, misses, before;
    dk__lsm_cache_stats(c, &before, &hits, &misses);
    CU_ASSERT_TRUE(before > 6000 && before <= 10000);
    CU_ASSERT_EQUAL(dk__lsm_cache_pin(c, 4500), 1);
    CU_ASSERT_EQUAL(dk__lsm_cache_pinned(c), 4500);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_TRUE(usage <= 10000);
    CU_ASSERT_TRUE(usage < before + 4500); /* something was evicted */
    /* The oldest block went first. */
    lsm_cblock *h = dk__lsm_cache_lookup(c, 1, 0);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h = dk__lsm_cache_lookup(c, 1, 3));
    dk__lsm_cache_release(c, h);
    /* Past half the capacity: refused, nothing charged. */
    CU_ASSERT_EQUAL(dk__lsm_cache_pin(c, 600), 0);
    CU_ASSERT_EQUAL(dk__lsm_cache_pin(c, 20000), 0);
    CU_ASSERT_EQUAL(dk__lsm_cache_pinned(c), 4500);
    CU_ASSERT_EQUAL(dk__lsm_cache_pin(c, 500), 1);
    dk__lsm_cache_unpin(c, 5000);
    CU_ASSERT_EQUAL(dk__lsm_cache_pinned(c), 0);
    /* New blocks fit again under the whole capacity. */
    for (uint64_t i = 10; i < 19; i++)
        dk__lsm_cache_release(c, dk__lsm_cache_insert(c, 2, i, calloc(1, 1000), 1000));
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_TRUE(usage > 5000 && usage <= 10000);
    dk__lsm_cache_free(c);
}

/* Build a table of n keys (two versions of every 10th, tombstones for
 * every 7th) on env at path. */
static void fm_build(lsm_env *env, const char *path, int n, const dk_codec_ref *codec, lsm_props *props)
{
    lsm_tb_opts o = {.bits_per_key = 10, .codec = codec};
    lsm_table_builder *tb;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_open(env, path, &o, &tb), 0);
    for (int i = 0; i < n; i++) {
        char v[200];
        snprintf(v, sizeof(v), "value %d %0150d", i, i);
        int rc = 0;
        if (i % 10 == 0)
            rc |= dk__lsm_tb_add(tb, fm_ikey(0, i, 100 + (uint64_t)i, LSM_TYPE_VALUE), tl_str("newer"));
        if (i % 7 == 0)
            rc |= dk__lsm_tb_add(tb, fm_ikey(0, i, 50, LSM_TYPE_DELETE), (dk_slice){NULL, 0});
        else
            rc |= dk__lsm_tb_add(tb, fm_ikey(0, i, 50, LSM_TYPE_VALUE), tl_str(v));
        CU_ASSERT_EQUAL(rc, 0);
    }
    uint64_t size;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_finish(tb, props, &size), 0);
    CU_ASSERT_TRUE(size > 0);
}

/* Build, open and read a table. With a cache too small to pin its index
 * and filter, both are read through the LRU (and evicted at once here):
 * every read must still be right and the cache stay under its size. */
static void fm_table_case(const char *codec, size_t cache_size)
{
    lsm_env *env = dk__lsm_env_fault(1);
    lsm_cache *cache = dk__lsm_cache_new(cache_size);
    lsm_props props;
    dk__lsm_props_init(&props);
    const int n = 3000;
    const dk_codec_ref *ref;
    lsm_codecs *codecs = fm_codecs(codec, &ref);
    fm_build(env, "/t.sst", n, ref, &props);
    CU_ASSERT_EQUAL(props.entries, (uint64_t)(n + n / 10));
    CU_ASSERT_EQUAL(props.tombstones, (uint64_t)((n + 6) / 7));
    CU_ASSERT_EQUAL(props.min_seq, 50);
    CU_ASSERT_EQUAL(props.max_seq, 100 + 2990);
    lsm_table *t;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_table_open(env, "/t.sst", 9, cache, codecs, &fm_host.host, &t), 0);
    CU_ASSERT_EQUAL(t->props.entries, props.entries);
    CU_ASSERT_EQUAL(lsm_ucmp(lsm_ikey_user(dk_buf_slice(&t->props.smallest)), tl_str("key000000")), 0);
    CU_ASSERT_EQUAL(lsm_ucmp(lsm_ikey_user(dk_buf_slice(&t->props.largest)), tl_str("key002999")), 0);
    int pinned = cache_size >= 2 * (t->index_size + t->filter_size);
    CU_ASSERT_EQUAL(t->index != NULL, pinned);
    CU_ASSERT_EQUAL(t->filter != NULL, pinned);
    CU_ASSERT_EQUAL(dk__lsm_cache_pinned(cache), pinned ? t->index_size + t->filter_size : 0);
    CU_ASSERT_TRUE(t->index_size > 0 && t->filter_size > 0);
    /* A codec shrinks these repetitive blocks; raw keeps them 4 KiB-ish. */
    int shrunk = codec && strcmp(codec, "none") != 0;
    CU_ASSERT_TRUE(shrunk ? t->props.data_size < (uint64_t)n * 70 : t->props.data_size > (uint64_t)n * 150);
    dk_buf v = DK_BUF_INIT;
    int type, bad = 0;
    uint64_t seq;
    /* Nothing read yet: the non-blocking find will not read the file, but
     * the filter (in memory) still rules out a missing key. */
    lsm_found nf;
    CU_ASSERT_EQUAL(dk__lsm_table_find(t, tl_str("key000001"), LSM_SEQ_MAX, 1, &nf), -EAGAIN);
    CU_ASSERT_PTR_NULL(nf.h);
    int nrc = dk__lsm_table_find(t, tl_str("nokey"), LSM_SEQ_MAX, 1, &nf);
    CU_ASSERT_TRUE(t->filter ? nrc == DK_ENOTFOUND : nrc == DK_ENOTFOUND || nrc == -EAGAIN);
    for (int i = 0; i < n; i++) {
        char k[32], want[200];
        snprintf(k, sizeof(k), "key%06d", i);
        snprintf(want, sizeof(want), "value %d %0150d", i, i);
        int rc = dk__lsm_table_get(t, tl_str(k), LSM_SEQ_MAX, &v, &type, &seq);
        if (i % 10 == 0)
            bad += rc || type != LSM_TYPE_VALUE || v.len != 5;
        else if (i % 7 == 0)
            bad += rc || type != LSM_TYPE_DELETE;
        else
            bad += rc || type != LSM_TYPE_VALUE || v.len != strlen(want) || memcmp(v.data, want, v.len);
        /* A snapshot before the newer version sees the older one. */
        if (i % 10 == 0 && i % 7 != 0)
            bad += dk__lsm_table_get(t, tl_str(k), 60, &v, &type, &seq) || seq != 50;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(dk__lsm_table_get(t, tl_str("key0000005"), LSM_SEQ_MAX, &v, &type, &seq), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk__lsm_table_get(t, tl_str("zzz"), LSM_SEQ_MAX, &v, &type, &seq), DK_ENOTFOUND);
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(cache, &usage, &hits, &misses);
    CU_ASSERT_TRUE(usage <= cache_size);
    /* find hands out the cached block holding the value, not a copy. */
    lsm_found f;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_table_find(t, tl_str("key000001"), LSM_SEQ_MAX, 0, &f), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.h);
    CU_ASSERT_TRUE(f.value.ptr >= f.h->data && f.value.ptr + f.value.len <= f.h->data + f.h->size);
    CU_ASSERT_TRUE(f.value.len > 9 && !memcmp(f.value.ptr, "value 1 0", 9));
    /* The block is cached now (f holds it): with the index and filter in
     * memory (pinned), the non-blocking find answers. */
    nrc = dk__lsm_table_find(t, tl_str("key000001"), LSM_SEQ_MAX, 1, &nf);
    if (t->index && t->filter) {
        CU_ASSERT_EQUAL(nrc, 0);
        CU_ASSERT_TRUE(nf.h == f.h && nf.value.len == f.value.len);
    }
    if (nrc == 0 && nf.h)
        dk__lsm_cache_release(cache, nf.h);
    dk__lsm_cache_release(cache, f.h);
    CU_ASSERT_EQUAL(dk__lsm_table_find(t, tl_str("key000007"), LSM_SEQ_MAX, 0, &f), 0);
    CU_ASSERT_TRUE(f.type == LSM_TYPE_DELETE && f.h == NULL);
    /* A full scan returns every entry in order. */
    lsm_iter *it = dk__lsm_table_iter(t);
    uint64_t cnt = 0;
    for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
        cnt++;
    CU_ASSERT_EQUAL(cnt, props.entries);
    it->ops->seek(it, fm_ikey(1, 1501, LSM_SEQ_MAX, 0xff));
    CU_ASSERT_TRUE(it->ops->valid(it) && lsm_ucmp(lsm_ikey_user(it->ops->key(it)), tl_str("key001501")) == 0);
    it->ops->destroy(it);
    dk_buf_free(&v);
    dk__lsm_table_close(t);
    CU_ASSERT_EQUAL(dk__lsm_cache_pinned(cache), 0);
    dk__lsm_props_free(&props);
    dk__lsm_codecs_free(codecs);
    dk__lsm_cache_free(cache);
    env->ops->destroy(env);
}

static void test_table_raw(void)
{
    fm_table_case(NULL, 1 << 20);
}
static void test_table_none(void)
{
    fm_table_case("none", 1 << 20);
}
static void test_table_zstd(void)
{
    fm_table_case("zstd", 1 << 20);
}

/* Incompressible values (one block each) stop being offered to the codec
 * after a run of blocks that did not shrink; a probe every so often finds
 * compressible data again and compression resumes. Every value reads
 * back either way. */
static void test_table_skip_incompressible(void)
{
    lsm_env *env = dk__lsm_env_fault(1);
    lsm_cache *cache = dk__lsm_cache_new(1 << 20);
    const dk_codec_ref *ref;
    lsm_codecs *codecs = fm_codecs("zstd", &ref);
    lsm_tb_opts o = {.bits_per_key = 10, .codec = ref};
    lsm_table_builder *tb;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_open(env, "/s.sst", &o, &tb), 0);
    enum { RANDOM = 200, ZEROS = 200, VLEN = 6000 };
    static uint8_t v[VLEN];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < RANDOM + ZEROS; i++) {
        for (size_t j = 0; j < VLEN; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v[j] = i < RANDOM ? (uint8_t)x : 0;
        }
        CU_ASSERT_EQUAL(dk__lsm_tb_add(tb, fm_ikey(0, i, 1, LSM_TYPE_VALUE), (dk_slice){v, VLEN}), 0);
        if (i == RANDOM - 1)
            /* after the first run of 8, all but one block in 32 skipped */
            CU_ASSERT_TRUE(dk__lsm_tb_blocks_skipped(tb) >= (RANDOM - 8) * 31 / 32 - 1);
    }
    uint64_t skipped = dk__lsm_tb_blocks_skipped(tb);
    lsm_props props;
    dk__lsm_props_init(&props);
    uint64_t size;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_finish(tb, &props, &size), 0);
    /* The zero blocks compress again after at most one probe interval. */
    CU_ASSERT_TRUE(skipped < (RANDOM - 8) + 32 + 1);
    CU_ASSERT_TRUE(props.data_size < (uint64_t)RANDOM * VLEN + (uint64_t)ZEROS * VLEN / 2);
    lsm_table *t;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_table_open(env, "/s.sst", 9, cache, codecs, &fm_host.host, &t), 0);
    dk_buf b = DK_BUF_INIT;
    int type, bad = 0;
    uint64_t seq;
    for (int i = 0; i < RANDOM + ZEROS; i += 7) {
        char k[32];
        snprintf(k, sizeof(k), "key%06d", i);
        bad += dk__lsm_table_get(t, tl_str(k), LSM_SEQ_MAX, &b, &type, &seq) != 0 || b.len != VLEN ||
               (i >= RANDOM && b.data[VLEN / 2] != 0);
    }
    CU_ASSERT_EQUAL(bad, 0);
    dk_buf_free(&b);
    dk__lsm_table_close(t);
    dk__lsm_props_free(&props);
    dk__lsm_codecs_free(codecs);
    dk__lsm_cache_free(cache);
    env->ops->destroy(env);
}
/* Build a table of n entries with codec: blob references (every 5th key a
 * tombstone) and, when `values` is not 0, an inline value in every
 * values-th entry. Returns its data_size. */
static uint64_t fm_build_refs(lsm_env *env, const char *path, int n, const dk_codec_ref *codec, int values)
{
    lsm_tb_opts o = {.bits_per_key = 10, .codec = codec};
    lsm_table_builder *tb;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_open(env, path, &o, &tb), 0);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        uint8_t ref[LSM_BLOB_REF_MAX];
        lsm_blob_ref r = {.file = 12, .off = LSM_BLOB_HEADER + (uint64_t)i * 10270, .len = 10240};
        if (values && i % values == 0)
            rc |= dk__lsm_tb_add(tb, fm_ikey(0, i, 7, LSM_TYPE_VALUE),
                                 tl_str("an inline value, an inline value"));
        else if (i % 5 == 0)
            rc |= dk__lsm_tb_add(tb, fm_ikey(0, i, 7, LSM_TYPE_DELETE), (dk_slice){NULL, 0});
        else
            rc |= dk__lsm_tb_add(tb, fm_ikey(0, i, 7, LSM_TYPE_BLOB),
                                 (dk_slice){ref, dk__lsm_blob_ref_encode(ref, &r)});
    }
    CU_ASSERT_EQUAL(rc, 0);
    lsm_props props;
    dk__lsm_props_init(&props);
    uint64_t size;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_finish(tb, &props, &size), 0);
    uint64_t data = props.data_size;
    dk__lsm_props_free(&props);
    return data;
}

/* Read back a table fm_build_refs wrote; the number of wrong entries. */
static int fm_check_refs(lsm_env *env, const char *path, uint64_t number, int n, int values, lsm_cache *cache,
                         lsm_codecs *codecs)
{
    lsm_table *t; /* the block cache tells tables apart by number */
    CU_ASSERT_EQUAL_FATAL(dk__lsm_table_open(env, path, number, cache, codecs, &fm_host.host, &t), 0);
    dk_buf v = DK_BUF_INIT;
    int type, bad = 0;
    uint64_t seq;
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key%06d", i);
        lsm_blob_ref r;
        int rc = dk__lsm_table_get(t, tl_str(k), LSM_SEQ_MAX, &v, &type, &seq);
        if (values && i % values == 0)
            bad += rc || type != LSM_TYPE_VALUE || v.len != 32 || memcmp(v.data, "an inline value", 15);
        else if (i % 5 == 0)
            bad += rc || type != LSM_TYPE_DELETE;
        else
            bad += rc || type != LSM_TYPE_BLOB || dk__lsm_blob_ref_decode(dk_buf_slice(&v), &r) ||
                   r.file != 12 || r.off != LSM_BLOB_HEADER + (uint64_t)i * 10270 || r.len != 10240;
    }
    dk_buf_free(&v);
    dk__lsm_table_close(t);
    return bad;
}

/* Data blocks of blob references and tombstones only are stored raw even
 * with a codec (table_builder.c): the table is as large as one written
 * without a codec, and reads back. A block holding an inline value is
 * still offered to the codec, which shrinks these repetitive ones; a
 * table holding both kinds of block reads back whole. */
static void test_table_refs_raw(void)
{
    lsm_env *env = dk__lsm_env_fault(1);
    lsm_cache *cache = dk__lsm_cache_new(1 << 20);
    const dk_codec_ref *ref;
    lsm_codecs *codecs = fm_codecs("zstd", &ref);
    const int n = 3000;
    uint64_t zstd = fm_build_refs(env, "/r.sst", n, ref, 0), raw = fm_build_refs(env, "/n.sst", n, NULL, 0);
    CU_ASSERT_EQUAL(zstd, raw);
    uint64_t mixed = fm_build_refs(env, "/m.sst", n, ref, 50),
             mixed_raw = fm_build_refs(env, "/o.sst", n, NULL, 50);
    CU_ASSERT_TRUE(mixed < mixed_raw * 3 / 4);
    /* A value in every 1000th entry: a few compressed blocks among raw ones. */
    uint64_t some = fm_build_refs(env, "/s.sst", n, ref, 1000),
             some_raw = fm_build_refs(env, "/t.sst", n, NULL, 1000);
    CU_ASSERT_TRUE(some < some_raw && some > some_raw / 2);
    CU_ASSERT_EQUAL(fm_check_refs(env, "/r.sst", 9, n, 0, cache, codecs), 0);
    CU_ASSERT_EQUAL(fm_check_refs(env, "/m.sst", 10, n, 50, cache, codecs), 0);
    CU_ASSERT_EQUAL(fm_check_refs(env, "/s.sst", 11, n, 1000, cache, codecs), 0);
    dk__lsm_codecs_free(codecs);
    dk__lsm_cache_free(cache);
    env->ops->destroy(env);
}
static void test_table_lz4(void)
{
    fm_table_case("lz4", 1 << 20);
}
static void test_table_unpinned(void)
{
    fm_table_case(NULL, 4096);
}

/* Count the entries of the table at path read through codecs; -1 when it
 * does not open. */
static long fm_count(lsm_env *env, const char *path, lsm_codecs *codecs, int *rc_out)
{
    lsm_cache *cache = dk__lsm_cache_new(1 << 20);
    lsm_table *t;
    long cnt = -1;
    *rc_out = dk__lsm_table_open(env, path, 9, cache, codecs, &fm_host.host, &t);
    if (*rc_out == 0) {
        lsm_iter *it = dk__lsm_table_iter(t);
        for (cnt = 0, it->ops->first(it); it->ops->valid(it); it->ops->next(it))
            cnt++;
        if (it->ops->status(it))
            cnt = -2;
        it->ops->destroy(it);
        dk__lsm_table_close(t);
    }
    dk__lsm_cache_free(cache);
    return cnt;
}

/* A table written with lz4 stays readable by an engine configured for
 * zstd (its properties name lz4, which the open registers); a table
 * whose codec plugin is missing fails to open, naming the file. */
static void test_table_other_codec(void)
{
    lsm_env *env = dk__lsm_env_fault(1);
    lsm_props props;
    dk__lsm_props_init(&props);
    const dk_codec_ref *ref;
    lsm_codecs *w = fm_codecs("lz4", &ref);
    fm_build(env, "/d/000009.sst", 2000, ref, &props);
    dk__lsm_codecs_free(w);

    lsm_codecs *r = fm_codecs("zstd", &ref);
    CU_ASSERT_PTR_NULL(dk__lsm_codecs_get(r, DK_CODEC_ID_LZ4));
    int rc;
    CU_ASSERT_EQUAL(fm_count(env, "/d/000009.sst", r, &rc), (long)props.entries);
    const dk_codec_ref *l4 = dk__lsm_codecs_get(r, DK_CODEC_ID_LZ4);
    CU_ASSERT_PTR_NOT_NULL(l4);
    CU_ASSERT_STRING_EQUAL(l4 ? l4->name : "", "lz4");
    dk__lsm_codecs_free(r);

    /* A plugin folder without codec-lz4.so. */
    char dir[64], src[4200], dst[128], cmd[4500], msg[DK_FAKE_HOST_MSG];
    tl_mkdtemp(dir);
    snprintf(src, sizeof src, "%s/codec-zstd.so",
             getenv("DYNKV_PLUGIN_PATH") ? getenv("DYNKV_PLUGIN_PATH") : ".libs");
    snprintf(dst, sizeof dst, "%s/codec-zstd.so", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    dk_plugin_host *saved = fm_host.plugins, *only_zstd = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_plugin_host_new(dir, &only_zstd, msg, sizeof msg), 0);
    fm_host.plugins = fm_host.ctx.plugins = only_zstd;
    r = fm_codecs("zstd", &ref);
    CU_ASSERT_EQUAL(fm_count(env, "/d/000009.sst", r, &rc), -1);
    CU_ASSERT_EQUAL(rc, -ENOENT);
    CU_ASSERT_EQUAL(dk_fake_host_last_log(&fm_host, msg, sizeof msg), DK_LOG_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "table /d/000009.sst was written with codec 'lz4' (id 2), which "
                                       "cannot be opened"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "install the codec plugin codec-lz4.so"));
    dk__lsm_codecs_free(r);
    fm_host.plugins = fm_host.ctx.plugins = saved;
    dk_plugin_host_free(only_zstd);
    tl_rmtree(dir);
    dk__lsm_props_free(&props);
    env->ops->destroy(env);
}

/* A table written before codecs were plugins (the fuzz seed, zstd blocks
 * of id 1 and no codec list) is read with the zstd plugin. */
static void test_table_legacy(void)
{
    const char *srcdir = getenv("DYNKV_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/sstable/seed-zstd-40-keys", srcdir ? srcdir : ".");
    lsm_env *posix = dk__lsm_env_posix(), *env = dk__lsm_env_fault(1);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(posix, path, &data, &len), 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_write_atomic(env, "/d", "000009.sst", data, len), 0);
    free(data);
    const dk_codec_ref *ref;
    lsm_codecs *r = fm_codecs("lz4", &ref);
    int rc;
    CU_ASSERT_EQUAL(fm_count(env, "/d/000009.sst", r, &rc), 40);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(dk__lsm_codecs_get(r, DK_CODEC_ID_ZSTD));
    dk__lsm_codecs_free(r);
    env->ops->destroy(env);
    posix->ops->destroy(posix);
}

/* Truncated and damaged tables fail to open or read with DK_ECORRUPT. */
static void test_table_corrupt(void)
{
    char dir[64], path[128];
    tl_mkdtemp(dir);
    snprintf(path, sizeof(path), "%s/000009.sst", dir);
    lsm_env *env = dk__lsm_env_posix();
    lsm_cache *cache = dk__lsm_cache_new(1 << 20);
    lsm_props props;
    dk__lsm_props_init(&props);
    const dk_codec_ref *ref;
    lsm_codecs *codecs = fm_codecs("zstd", &ref);
    fm_build(env, path, 500, ref, &props);
    dk__lsm_props_free(&props);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, path, &data, &len), 0);
    lsm_table *t;
    /* Every single-byte flip in the footer is caught at open. */
    int missed = 0;
    for (size_t off = len - LSM_FOOTER_SIZE; off < len; off++) {
        data[off] ^= 0x10;
        CU_ASSERT_EQUAL(dk__lsm_env_write_atomic(env, dir, "000009.sst", data, len), 0);
        if (dk__lsm_table_open(env, path, 9, cache, codecs, &fm_host.host, &t) != DK_ECORRUPT) {
            missed++;
            dk__lsm_table_close(t);
        }
        data[off] ^= 0x10;
    }
    CU_ASSERT_EQUAL(missed, 0);
    /* Truncated files. */
    for (size_t cut = 0; cut < len; cut += len / 7 + 1) {
        CU_ASSERT_EQUAL(dk__lsm_env_write_atomic(env, dir, "000009.sst", data, cut), 0);
        CU_ASSERT_EQUAL(dk__lsm_table_open(env, path, 9, cache, codecs, &fm_host.host, &t), DK_ECORRUPT);
    }
    free(data);
    dk__lsm_codecs_free(codecs);
    dk__lsm_cache_free(cache);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

/* Bit-at-a-time CRC-32C, the definition the fast paths must match. */
static uint32_t fm_crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

/* The check value, then every length around the 3-stream rounds (3 KiB)
 * at odd alignments, and extend() over random split points. */
static void test_crc32c(void)
{
    CU_ASSERT_EQUAL(dk_crc32c("123456789", 9), 0xe3069283u);
    size_t cap = 20000;
    uint8_t *buf = malloc(cap + 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < cap + 8; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    int bad = 0;
    for (size_t n = 0; n < cap; n += n < 3200 ? 1 : 997) {
        size_t al = n % 7;
        bad += dk_crc32c(buf + al, n) != fm_crc_ref(0, buf + al, n);
    }
    for (int t = 0; t < 200; t++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % cap), cut = n ? (size_t)((x >> 20) % n) : 0;
        uint32_t c = dk_crc32c_extend(dk_crc32c(buf, cut), buf + cut, n - cut);
        bad += c != fm_crc_ref(0, buf, n);
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(buf);
}

static CU_TestInfo fm_tests[] = {
    {"crc32c", test_crc32c},
    {"block_roundtrip", test_block_roundtrip},
    {"bloom_fp_rate", test_bloom_fp_rate},
    {"cache_lru", test_cache_lru},
    {"cache_erase_file", test_cache_erase_file},
    {"cache_pin_budget", test_cache_pin_budget},
    {"block_stack_iter_long_keys", test_block_stack_iter_long_keys},
    {"table_unpinned", test_table_unpinned},
    {"table_raw", test_table_raw},
    {"table_none", test_table_none},
    {"table_zstd", test_table_zstd},
    {"table_skip_incompressible", test_table_skip_incompressible},
    {"table_lz4", test_table_lz4},
    {"table_refs_raw", test_table_refs_raw},
    {"table_other_codec", test_table_other_codec},
    {"table_legacy", test_table_legacy},
    {"table_corrupt", test_table_corrupt},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-format", .pInitFunc = fm_init, .pCleanupFunc = fm_clean, .pTests = fm_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
