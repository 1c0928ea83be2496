/*
 * test-lsm-cache.c - the block cache's CLOCK replacement and its shards
 * (cache.c): a hit gives a block a second chance, a block evicted or
 * replaced while a reader holds it stays intact until released and is no
 * longer charged, a sharded cache stays under its capacity with pinned
 * bytes, entries are reused as blocks come and go, and readers on several threads racing inserts, evictions and file
 * erases see only their own blocks' bytes and are all counted. The LRU
 * order, erase by file and the pinning budget of a small cache are in
 * test-lsm-format. Thread results are collected and asserted on the main
 * thread; nothing depends on timing.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

/* A block whose every byte says which (file, off) it belongs to. */
static uint8_t tc_byte(uint64_t file, uint64_t off)
{
    return (uint8_t)(file * 31 + off * 7 + 1);
}

static uint8_t *tc_block(uint64_t file, uint64_t off, size_t n)
{
    uint8_t *d = malloc(n);
    memset(d, tc_byte(file, off), n);
    return d;
}

static int tc_intact(const lsm_cblock *h, uint64_t file, uint64_t off, size_t n)
{
    if (h->size != n)
        return 0;
    uint8_t b = tc_byte(file, off);
    return h->data[0] == b && h->data[n / 2] == b && h->data[n - 1] == b;
}

static int tc_present(lsm_cache *c, uint64_t file, uint64_t off)
{
    lsm_cblock *h = dk__lsm_cache_lookup(c, file, off);
    if (h)
        dk__lsm_cache_release(c, h);
    return h != NULL;
}

static void tc_put(lsm_cache *c, uint64_t file, uint64_t off, size_t n)
{
    dk__lsm_cache_release(c, dk__lsm_cache_insert(c, file, off, tc_block(file, off, n), n));
}

/* The charge of one block of n bytes, measured on an empty cache. */
static uint64_t tc_charge(size_t n)
{
    lsm_cache *c = dk__lsm_cache_new(1 << 20);
    tc_put(c, 1, 0, n);
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    dk__lsm_cache_free(c);
    return usage;
}

/* Four blocks fill the cache; hits on 0 and 2 spare them once each:
 * inserting 4 evicts 1 (0's bit is cleared on the way), inserting 5 evicts
 * 3 (2's bit cleared), inserting 6 evicts 4, and only then 0, whose bit
 * is gone. An LRU would evict 1, 3, 0; FIFO 0, 1, 2. */
static void test_second_chance(void)
{
    uint64_t ch = tc_charge(1000);
    lsm_cache *c = dk__lsm_cache_new(4 * ch + ch / 2);
    for (uint64_t i = 0; i < 4; i++)
        tc_put(c, 1, i, 1000);
    lsm_cblock *h = dk__lsm_cache_lookup(c, 1, 0);
    dk__lsm_cache_release(c, h);
    h = dk__lsm_cache_lookup(c, 1, 2);
    dk__lsm_cache_release(c, h);
    tc_put(c, 1, 4, 1000); /* evicts 1 */
    tc_put(c, 1, 5, 1000); /* evicts 3 */
    tc_put(c, 1, 6, 1000); /* evicts 4 */
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(hits, 2);
    CU_ASSERT_EQUAL(misses, 0);
    CU_ASSERT_EQUAL(usage, 4 * ch);
    int want[7] = {1, 0, 1, 0, 0, 1, 1};
    for (uint64_t i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(tc_present(c, 1, i), want[i]);
    dk__lsm_cache_free(c);
}

/* A block evicted while a reader holds it: the reader's bytes stay
 * intact, lookups miss it, its bytes are no longer charged; the same for
 * a block replaced under the same key (the reader keeps the old bytes). */
static void test_evict_while_held(void)
{
    uint64_t ch = tc_charge(1000);
    lsm_cache *c = dk__lsm_cache_new(3 * ch);
    tc_put(c, 1, 0, 1000);
    lsm_cblock *held = dk__lsm_cache_lookup(c, 1, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    /* The hit's bit spares it once: 1, 2 and 3 go first, then 0. */
    for (uint64_t i = 1; i <= 6; i++)
        tc_put(c, 1, i, 1000);
    CU_ASSERT_TRUE(tc_present(c, 1, 4) && tc_present(c, 1, 5) && tc_present(c, 1, 6));
    CU_ASSERT_FALSE(tc_present(c, 1, 0));
    CU_ASSERT_TRUE(tc_intact(held, 1, 0, 1000));
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, 3 * ch);
    dk__lsm_cache_release(c, held);

    /* Replaced while held. */
    held = dk__lsm_cache_lookup(c, 1, 6);
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    uint8_t *d = malloc(1000);
    memset(d, 0xee, 1000);
    lsm_cblock *fresh = dk__lsm_cache_insert(c, 1, 6, d, 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
    CU_ASSERT_TRUE(tc_intact(held, 1, 6, 1000));
    CU_ASSERT_EQUAL(fresh->data[999], 0xee);
    lsm_cblock *again = dk__lsm_cache_lookup(c, 1, 6);
    CU_ASSERT_PTR_EQUAL(again, fresh);
    dk__lsm_cache_release(c, again);
    dk__lsm_cache_release(c, fresh);
    dk__lsm_cache_release(c, held);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, 3 * ch);

    /* Pinning evicts too, held blocks included. */
    held = dk__lsm_cache_lookup(c, 1, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    CU_ASSERT_EQUAL(dk__lsm_cache_pin(c, (size_t)(3 * ch / 2)), 1);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_TRUE(usage <= 3 * ch);
    CU_ASSERT_TRUE(tc_intact(held, 1, 5, 1000));
    dk__lsm_cache_release(c, held);
    dk__lsm_cache_unpin(c, (size_t)(3 * ch / 2));
    dk__lsm_cache_erase_file(c, 1);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, 0);
    dk__lsm_cache_free(c);
}

/* Entries are reused once their last reference goes (cache.c's chunks):
 * 20 000 blocks through a cache of 4, every 100th held until the end.
 * Each held block stays intact and absent from the cache however many
 * entries were recycled around it, the last four are present and intact,
 * and the charge is exactly theirs. */
static void test_entries_reused(void)
{
    uint64_t ch = tc_charge(100);
    lsm_cache *c = dk__lsm_cache_new(4 * ch);
    lsm_cblock *held[200];
    unsigned nheld = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        lsm_cblock *h = dk__lsm_cache_insert(c, 2 + i % 3, i, tc_block(2 + i % 3, i, 100), 100);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        if (i % 100 == 0)
            held[nheld++] = h;
        else
            dk__lsm_cache_release(c, h);
    }
    for (unsigned k = 0; k < nheld; k++) {
        uint64_t i = (uint64_t)k * 100;
        CU_ASSERT_TRUE(tc_intact(held[k], 2 + i % 3, i, 100));
        CU_ASSERT_FALSE(tc_present(c, 2 + i % 3, i));
        dk__lsm_cache_release(c, held[k]);
    }
    for (uint64_t i = 19996; i < 20000; i++) {
        lsm_cblock *h = dk__lsm_cache_lookup(c, 2 + i % 3, i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        CU_ASSERT_TRUE(tc_intact(h, 2 + i % 3, i, 100));
        dk__lsm_cache_release(c, h);
    }
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, 4 * ch);
    dk__lsm_cache_free(c);
}

/* A cache large enough for shards: every block is found until the
 * capacity is reached, the charge never passes the capacity (also with
 * pinned bytes), and every lookup is counted once. */
static void test_shards_capacity(void)
{
    size_t cap = (size_t)64 << 20, n = 4096;
    uint64_t ch = tc_charge(n);
    lsm_cache *c = dk__lsm_cache_new(cap);
    uint64_t fits = cap / ch / 2; /* half the capacity: no shard is full */
    for (uint64_t i = 0; i < fits; i++)
        tc_put(c, 5, i, n);
    uint64_t found = 0;
    for (uint64_t i = 0; i < fits; i++)
        found += tc_present(c, 5, i);
    CU_ASSERT_EQUAL(found, fits);
    uint64_t usage, hits, misses, over = 0;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, fits * ch);
    for (uint64_t i = fits; i < 3 * fits; i++) {
        tc_put(c, 5, i, n);
        dk__lsm_cache_stats(c, &usage, &hits, &misses);
        over += usage > cap;
    }
    CU_ASSERT_EQUAL(over, 0);
    CU_ASSERT_TRUE(usage > cap / 2);
    CU_ASSERT_EQUAL(dk__lsm_cache_pin(c, cap / 4), 1);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_TRUE(usage <= cap);
    CU_ASSERT_EQUAL(hits + misses, fits);
    found = 0;
    for (uint64_t i = 0; i < 3 * fits; i++)
        found += tc_present(c, 5, i);
    CU_ASSERT_EQUAL(found * ch + cap / 4, usage);
    dk__lsm_cache_erase_file(c, 5);
    dk__lsm_cache_unpin(c, cap / 4);
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(usage, 0);
    CU_ASSERT_EQUAL(hits + misses, 4 * fits);
    dk__lsm_cache_free(c);
}

/* Readers on four threads look up blocks of file 1, insert what they
 * miss (as the table reader does) and check every byte they get, while a
 * fifth thread inserts and erases file 2 and the cache evicts throughout. */
#define TC_READERS 4
#define TC_LOOKUPS 20000

typedef struct tc_arg {
    lsm_cache *c;
    size_t bsize;
    uint64_t keys;
    unsigned seed;
    uint64_t hits, misses, bad, failed;
} tc_arg;

static void *tc_reader(void *p)
{
    tc_arg *a = p;
    lsm_cblock *hold[8] = {0};
    uint64_t holdkey[8] = {0};
    for (unsigned i = 0; i < TC_LOOKUPS; i++) {
        a->seed = a->seed * 1103515245u + 12345u;
        uint64_t off = (a->seed >> 8) % a->keys;
        lsm_cblock *h = dk__lsm_cache_lookup(a->c, 1, off);
        if (h) {
            a->hits++;
        } else {
            a->misses++;
            if (!(h = dk__lsm_cache_insert(a->c, 1, off, tc_block(1, off, a->bsize), a->bsize))) {
                a->failed++;
                continue;
            }
        }
        a->bad += !tc_intact(h, 1, off, a->bsize);
        /* Keep a few handles across later lookups, so evictions and
         * replacements happen to held blocks. */
        unsigned slot = i % 8;
        if (hold[slot]) {
            a->bad += !tc_intact(hold[slot], 1, holdkey[slot], a->bsize);
            dk__lsm_cache_release(a->c, hold[slot]);
        }
        hold[slot] = h;
        holdkey[slot] = off;
    }
    for (unsigned s = 0; s < 8; s++)
        if (hold[s]) {
            a->bad += !tc_intact(hold[s], 1, holdkey[s], a->bsize);
            dk__lsm_cache_release(a->c, hold[s]);
        }
    return NULL;
}

static void *tc_churn(void *p)
{
    tc_arg *a = p;
    for (unsigned round = 0; round < 40; round++) {
        for (uint64_t off = 0; off < 100; off++)
            tc_put(a->c, 2, off, a->bsize);
        dk__lsm_cache_erase_file(a->c, 2);
        if (round % 10 == 0) {
            a->bad += dk__lsm_cache_pin(a->c, a->bsize * 4) != 1;
            dk__lsm_cache_unpin(a->c, a->bsize * 4);
        }
    }
    return NULL;
}

static void tc_concurrent(size_t capacity, size_t bsize, uint64_t keys)
{
    lsm_cache *c = dk__lsm_cache_new(capacity);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    tc_arg args[TC_READERS + 1];
    pthread_t th[TC_READERS + 1];
    for (unsigned i = 0; i <= TC_READERS; i++) {
        args[i] = (tc_arg){.c = c, .bsize = bsize, .keys = keys, .seed = 7 + i * 1000};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, i < TC_READERS ? tc_reader : tc_churn, &args[i]),
                              0);
    }
    uint64_t hits = 0, misses = 0, bad = 0, failed = 0;
    for (unsigned i = 0; i <= TC_READERS; i++) {
        pthread_join(th[i], NULL);
        hits += args[i].hits;
        misses += args[i].misses;
        bad += args[i].bad;
        failed += args[i].failed;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(hits + misses, TC_READERS * TC_LOOKUPS);
    CU_ASSERT_TRUE(hits > 0);
    uint64_t usage, chits, cmisses;
    dk__lsm_cache_stats(c, &usage, &chits, &cmisses);
    CU_ASSERT_EQUAL(chits, hits);
    CU_ASSERT_EQUAL(cmisses, misses);
    CU_ASSERT_TRUE(usage <= capacity);
    CU_ASSERT_EQUAL(dk__lsm_cache_pinned(c), 0);
    /* What is left is file 1's, all released: erasing it empties the
     * cache (a leaked reference would show under the sanitizers). */
    dk__lsm_cache_erase_file(c, 1);
    dk__lsm_cache_stats(c, &usage, &chits, &cmisses);
    CU_ASSERT_EQUAL(usage, 0);
    dk__lsm_cache_free(c);
}

/* One shard: the capacity holds a third of file 1's 600 blocks. */
static void test_concurrent_one_shard(void)
{
    tc_concurrent(200 * (tc_charge(1000)), 1000, 600);
}

/* Four shards of 4 MiB: about half of file 1's 2000 blocks of 16 KiB. */
static void test_concurrent_shards(void)
{
    tc_concurrent((size_t)16 << 20, 16 << 10, 2000);
}

static CU_TestInfo tc_tests[] = {
    {"second_chance", test_second_chance},
    {"entries_reused", test_entries_reused},
    {"evict_while_held", test_evict_while_held},
    {"shards_capacity", test_shards_capacity},
    {"concurrent_one_shard", test_concurrent_one_shard},
    {"concurrent_shards", test_concurrent_shards},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-cache", .pTests = tc_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
