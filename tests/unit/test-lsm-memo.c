/*
 * test-lsm-memo.c - the point-lookup memo (memo.h): from its third read
 * on (the second is admitted by the doorkeeper), a key whose value is a
 * blob reference searches no table; what a read
 * returns is the same as without the memo after overwrites, deletes,
 * flushes, compactions, blob collection and a reopen (a random workload
 * checked read by read against a model, with the memo on and off); small
 * values and lookup_memo = false leave it unused; two keys with one hash
 * do not answer for each other. Searches are memoized only while no flush
 * or compaction is due (lsm_read.c), so the exact counts wait for that.
 */
#include "test-lsm-host.h"

#include "memo.h"

#define TM_BIG 2000 /* bytes of a large value (blob_min_size 1024) */

static void tm_big(char *v, int i, int gen)
{
    memset(v, 'a' + (i * 7 + gen) % 26, TM_BIG);
    int n = snprintf(v, 40, "big-%d-%d:", i, gen);
    v[n] = '#';
    v[TM_BIG] = '\0';
}

static lsm_db *tm_open(char *dir, lsm_env **env, const char *memo)
{
    dk_fake_host_set_option(&th, "lookup_memo", memo);
    return tl_open_blobs(dir, env, 1 << 20, "1024", "25");
}

/* Keys 0..n-1 with their generation-0 large values, flushed. */
static void tm_fill(lsm_db *db, int n)
{
    char k[32], v[TM_BIG + 1];
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        tm_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db); /* searches are memoized once no flush or compaction is due */
}

static int tm_compact(lsm_db *db)
{
    return dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0});
}

/* 1 when every key 0..n-1 reads as big value generation gen. */
static int tm_all(lsm_db *db, int n, int gen)
{
    char k[32], v[TM_BIG + 1];
    int ok = 1;
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        tm_big(v, i, gen);
        ok &= tl_has(db, k, v);
    }
    return ok;
}

/* The third read of a flushed large value is a memo hit: no table is
 * searched (the first is noted by the doorkeeper, the second memoized). A
 * new version (a flush of other keys, a compaction) starts over; values
 * stay right throughout. */
static void test_memoized_read_searches_nothing(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TM_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tm_open(dir, &env, "true");
    tm_fill(db, 20);
    uint64_t tables0 = tl_stat(db, "lsm_get_tables_total");
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 0);
    uint64_t tables1 = tl_stat(db, "lsm_get_tables_total");
    CU_ASSERT_TRUE(tables1 >= tables0 + 40);
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 20);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_tables_total"), tables1);
    /* Another key flushed: a new version, whose searches are new. */
    tl_key(k, 100);
    tm_big(v, 100, 0);
    CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db);
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 20);
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 40);
    /* A compaction: the same values through the new version. */
    CU_ASSERT_EQUAL(tm_compact(db), 0);
    tl_settle(db);
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_TRUE(tm_all(db, 20, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 60);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* An overwrite or delete of a memoized key is read right: first from the
 * memtable, then, after its flush, from the new version's tables (the
 * old version's memo entry is not asked). */
static void test_overwrite_and_delete_after_memo(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TM_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tm_open(dir, &env, "true");
    tm_fill(db, 10);
    CU_ASSERT_TRUE(tm_all(db, 10, 0));
    CU_ASSERT_TRUE(tm_all(db, 10, 0)); /* all memoized */
    CU_ASSERT_TRUE(tm_all(db, 10, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 10);
    tl_key(k, 3);
    tm_big(v, 3, 1);
    CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    CU_ASSERT_TRUE(tl_has(db, k, v)); /* the memtable's */
    tl_key(k, 5);
    CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    for (int pass = 0; pass < 2; pass++) {
        tl_key(k, 3);
        tm_big(v, 3, 1);
        CU_ASSERT_TRUE(tl_has(db, k, v));
        tl_key(k, 5);
        CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ENOTFOUND);
        tl_key(k, 4);
        tm_big(v, 4, 0);
        CU_ASSERT_TRUE(tl_has(db, k, v));
    }
    /* ... and again once compaction merged the two versions away. */
    CU_ASSERT_EQUAL(tm_compact(db), 0);
    tl_settle(db);
    for (int pass = 0; pass < 2; pass++) {
        tl_key(k, 3);
        tm_big(v, 3, 1);
        CU_ASSERT_TRUE(tl_has(db, k, v));
        tl_key(k, 5);
        CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ENOTFOUND);
    }
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Small values stay in the tables and are not memoized; with
 * lookup_memo = false nothing is. */
static void test_small_values_and_off(void)
{
    tl_host_reset();
    char dir[64], k[32], s[64];
    lsm_env *env = NULL;
    lsm_db *db = tm_open(dir, &env, "true");
    for (int i = 0; i < 10; i++) {
        tl_key(k, i);
        snprintf(s, sizeof(s), "small-%d", i);
        CU_ASSERT_EQUAL(tl_put(db, k, s, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < 10; i++) {
            tl_key(k, i);
            snprintf(s, sizeof(s), "small-%d", i);
            CU_ASSERT_TRUE(tl_has(db, k, s));
        }
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);

    env = NULL;
    db = tm_open(dir, &env, "false");
    tm_fill(db, 10);
    uint64_t tables0 = tl_stat(db, "lsm_get_tables_total");
    CU_ASSERT_TRUE(tm_all(db, 10, 0));
    CU_ASSERT_TRUE(tm_all(db, 10, 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_get_tables_total") >= tables0 + 20);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Two keys whose entries share a cache slot (the same hash, forced here)
 * do not answer for each other: the entry names its key. */
static void test_same_hash_other_key(void)
{
    lsm_cache *c = dk__lsm_cache_new(1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    uint8_t ref[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    lsm_found f = {.type = LSM_TYPE_BLOB, .seq = 42, .value = {ref, sizeof(ref)}};
    dk__lsm_memo_put(c, NULL, 7, tl_str("alpha"), 99, &f);
    lsm_found g = {0};
    CU_ASSERT_EQUAL(dk__lsm_memo_get(c, 7, tl_str("beta"), 99, &g), 0);
    CU_ASSERT_EQUAL(dk__lsm_memo_get(c, 8, tl_str("alpha"), 99, &g), 0); /* another version */
    CU_ASSERT_EQUAL_FATAL(dk__lsm_memo_get(c, 7, tl_str("alpha"), 99, &g), 1);
    CU_ASSERT_EQUAL(g.type, LSM_TYPE_BLOB);
    CU_ASSERT_EQUAL(g.seq, 42);
    CU_ASSERT_TRUE(g.value.len == sizeof(ref) && !memcmp(g.value.ptr, ref, sizeof(ref)));
    dk__lsm_cache_release(c, g.h);
    /* Memo lookups are not block cache hits or misses. */
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(c, &usage, &hits, &misses);
    CU_ASSERT_EQUAL(hits, 0);
    CU_ASSERT_EQUAL(misses, 0);
    /* Nothing but a blob reference is kept. */
    lsm_found inl = {.type = LSM_TYPE_VALUE, .seq = 1, .value = {ref, sizeof(ref)}};
    dk__lsm_memo_put(c, NULL, 7, tl_str("gamma"), 5, &inl);
    CU_ASSERT_EQUAL(dk__lsm_memo_get(c, 7, tl_str("gamma"), 5, &g), 0);
    /* Through a doorkeeper: the first put of a pair is only noted. */
    lsm_door *door = calloc(1, sizeof(*door));
    CU_ASSERT_PTR_NOT_NULL_FATAL(door);
    dk__lsm_memo_put(c, door, 7, tl_str("delta"), 11, &f);
    CU_ASSERT_EQUAL(dk__lsm_memo_get(c, 7, tl_str("delta"), 11, &g), 0);
    dk__lsm_memo_put(c, door, 7, tl_str("delta"), 11, &f);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_memo_get(c, 7, tl_str("delta"), 11, &g), 1);
    dk__lsm_cache_release(c, g.h);
    free(door);
    dk__lsm_cache_free(c);
}

/* A random workload (puts of large and small values, deletes, flushes,
 * compactions, a reopen) read back after every step against a model:
 * the memo never answers with anything but what the tables hold. */
static void tm_random(const char *memo, uint64_t seed)
{
    tl_host_reset();
    enum { KEYS = 60, STEPS = 1500 };
    char dir[64], k[32], v[TM_BIG + 1];
    int gen[KEYS]; /* -1: absent, else the generation; small values are odd generations */
    for (int i = 0; i < KEYS; i++)
        gen[i] = -1;
    lsm_env *env = NULL;
    lsm_db *db = tm_open(dir, &env, memo);
    uint64_t x = seed;
    int bad = 0;
    dk_buf b = DK_BUF_INIT;
    for (int step = 0; step < STEPS; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(x >> 33), i = r % KEYS, op = (r / KEYS) % 100;
        tl_key(k, (int)i);
        if (op < 30) {
            int g = step * 2 + (op < 5); /* a few small values */
            tm_big(v, (int)i, g);
            if (g % 2)
                snprintf(v, sizeof(v), "small-%d-%d", (int)i, g);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
            gen[i] = g;
        } else if (op < 36) {
            CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
            gen[i] = -1;
        } else if (op < 40) {
            CU_ASSERT_EQUAL(tl_flush(db), 0);
        } else if (op < 41) {
            CU_ASSERT_EQUAL(tm_compact(db), 0);
        } else if (op == 41 && step % 7 == 0) {
            CU_ASSERT_EQUAL(tl_close(db), 0);
            db = tm_open(dir, &env, memo);
        }
        /* Read a few keys, each twice (the second may be a memo hit). */
        for (int j = 0; j < 3; j++) {
            unsigned q = (i + (unsigned)j * 17u) % KEYS;
            tl_key(k, (int)q);
            for (int t = 0; t < 2; t++) {
                int rc = tl_get(db, k, &b);
                if (gen[q] < 0) {
                    bad += rc != DK_ENOTFOUND;
                } else {
                    tm_big(v, (int)q, gen[q]);
                    if (gen[q] % 2)
                        snprintf(v, sizeof(v), "small-%d-%d", (int)q, gen[q]);
                    bad += rc != 0 || strcmp((const char *)b.data, v) != 0;
                }
            }
        }
    }
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(bad, 0);
    uint64_t hits = tl_stat(db, "lsm_get_memo_hits_total");
    CU_ASSERT_TRUE(strcmp(memo, "true") ? hits == 0 : hits > 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static void test_random_against_model(void)
{
    tm_random("true", 1);
    tm_random("true", 77);
    tm_random("false", 1);
}

/* Readers beside a writer that overwrites every key with rising
 * generations through flushes and compactions (small memtables): a
 * reader never sees a key go back to an older generation than it saw
 * before, nor one the writer has not written yet. A memo entry served for
 * a version it was not searched in would show an older value. */
enum { TC_KEYS = 40, TC_GENS = 30, TC_READERS = 2 };

typedef struct tm_conc {
    lsm_db *db;
    _Atomic int written[TC_KEYS]; /* the newest generation put, per key */
    _Atomic int done;
    _Atomic int bad, reads;
} tm_conc;

static void *tm_conc_reader(void *arg)
{
    tm_conc *c = arg;
    int seen[TC_KEYS] = {0};
    char k[32];
    dk_buf b = DK_BUF_INIT;
    unsigned x = (unsigned)(uintptr_t)&seen;
    while (!atomic_load(&c->done)) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % TC_KEYS);
        /* Written before this read began: it must be seen. The writer
         * publishes a generation after its put returns, so one more than
         * published may be seen too. */
        int upto = atomic_load(&c->written[i]);
        tl_key(k, i);
        int key = -1, gen = -1;
        if (tl_get(c->db, k, &b) != 0 || sscanf((const char *)b.data, "big-%d-%d:", &key, &gen) != 2 ||
            key != i || gen < seen[i] || gen < upto || gen > atomic_load(&c->written[i]) + 1) {
            atomic_fetch_add(&c->bad, 1);
            continue;
        }
        seen[i] = gen;
        atomic_fetch_add(&c->reads, 1);
    }
    dk_buf_free(&b);
    return NULL;
}

static void test_concurrent_readers_never_go_back(void)
{
    tl_host_reset();
    dk_fake_host_set_option(&th, "lookup_memo", "true");
    char dir[64], k[32], v[TM_BIG + 1];
    lsm_env *env = NULL;
    tm_conc c = {.db = tl_open_blobs(dir, &env, 256 << 10, "1024", "25")};
    for (int i = 0; i < TC_KEYS; i++) { /* generation 0 of every key first */
        tl_key(k, i);
        tm_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(c.db, k, v, 0), 0);
    }
    pthread_t t[TC_READERS];
    for (int r = 0; r < TC_READERS; r++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[r], NULL, tm_conc_reader, &c), 0);
    for (int g = 1; g <= TC_GENS; g++) {
        for (int i = 0; i < TC_KEYS; i++) {
            tl_key(k, i);
            tm_big(v, i, g);
            CU_ASSERT_EQUAL(tl_put(c.db, k, v, 0), 0);
            atomic_store(&c.written[i], g);
        }
        int rc = g % 10 == 0 ? tm_compact(c.db) : g % 3 == 0 ? tl_flush(c.db) : 0;
        CU_ASSERT_EQUAL(rc, 0);
        if (g % 5 == 0)
            tl_settle(c.db); /* let the readers memoize this version */
    }
    atomic_store(&c.done, 1);
    for (int r = 0; r < TC_READERS; r++)
        pthread_join(t[r], NULL);
    CU_ASSERT_EQUAL(atomic_load(&c.bad), 0);
    CU_ASSERT_TRUE(atomic_load(&c.reads) > 0);
    CU_ASSERT_TRUE(tl_stat(c.db, "lsm_get_memo_hits_total") > 0);
    CU_ASSERT_EQUAL(tl_close(c.db), 0);
    tl_done(env, dir);
}

static CU_TestInfo tm_tests[] = {
    {"memoized_read_searches_nothing", test_memoized_read_searches_nothing},
    {"overwrite_and_delete_after_memo", test_overwrite_and_delete_after_memo},
    {"small_values_and_off", test_small_values_and_off},
    {"same_hash_other_key", test_same_hash_other_key},
    {"random_against_model", test_random_against_model},
    {"concurrent_readers_never_go_back", test_concurrent_readers_never_go_back},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-memo", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = tm_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
