/*
 * test-lsm-jitter.c - where the LSM engine switches its memtables
 * ([engine.lsm] memtable_jitter, flush.c): each memtable is switched once
 * it holds its own drawn limit, between (100 - jitter) % of memtable_size
 * and memtable_size; two engines fed the same writes (the replicas of a
 * cluster with N = RF) switch at different points; jitter 0 switches at
 * memtable_size exactly as before; values out of 0..50 are refused. The
 * switch is observed from the same writes a node makes, one at a time:
 * the memtable the engine writes into changes. No timing.
 */
#include "test-lsm-host.h"

#define TJ_MEM (1u << 20)
#define TJ_SWITCHES 4

/* Open an engine on a fresh dir with memtable_jitter = jitter (NULL: the
 * default); the caller closes it and removes dir. */
static lsm_db *tj_open(char *dir, lsm_env **env, const char *jitter)
{
    tl_host_reset();
    if (jitter)
        dk_fake_host_set_option(&th, "memtable_jitter", jitter);
    return tl_start(dir, env, TJ_MEM, "none");
}

/* Write 1 KiB values (the same keys and values for every engine) until
 * the memtable has been switched TJ_SWITCHES times; for each switch, the
 * limit the memtable had (limits[]) and the bytes it held when the write
 * that switched it arrived (sizes[]). */
static void tj_feed(lsm_db *db, uint64_t *limits, uint64_t *sizes)
{
    char k[32], v[1024];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    int n = 0;
    for (int i = 0; n < TJ_SWITCHES && i < 100000; i++) {
        pthread_mutex_lock(&db->mu);
        lsm_memtable *before = db->mem;
        uint64_t limit = db->mem_limit, used = dk__lsm_sl_used(db->mem->sl);
        pthread_mutex_unlock(&db->mu);
        snprintf(k, sizeof k, "key-%08d", i);
        CU_ASSERT_EQUAL_FATAL(tl_put(db, k, v, 0), 0);
        pthread_mutex_lock(&db->mu);
        int switched = db->mem != before;
        pthread_mutex_unlock(&db->mu);
        if (switched) {
            limits[n] = limit;
            sizes[n++] = used;
        }
    }
    CU_ASSERT_EQUAL(n, TJ_SWITCHES);
}

/* The default (25 %): every memtable is switched at its own limit, drawn
 * in 75..100 % of memtable_size; the limits vary from memtable to
 * memtable, and a second engine fed the same writes switches elsewhere. */
static void test_jitter_default(void)
{
    char da[64], db_[64];
    lsm_env *ea, *eb;
    lsm_db *a = tj_open(da, &ea, NULL);
    CU_ASSERT_EQUAL(a->mem_jitter, 25);
    lsm_db *b = tj_open(db_, &eb, NULL);
    uint64_t la[TJ_SWITCHES], sa[TJ_SWITCHES], lb[TJ_SWITCHES], sb[TJ_SWITCHES];
    tj_feed(a, la, sa);
    tj_feed(b, lb, sb);
    int a_varies = 0, differ = 0;
    for (int i = 0; i < TJ_SWITCHES; i++) {
        CU_ASSERT_TRUE(la[i] >= TJ_MEM / 4 * 3 && la[i] <= TJ_MEM);
        CU_ASSERT_TRUE(lb[i] >= TJ_MEM / 4 * 3 && lb[i] <= TJ_MEM);
        /* Switched by the first write that found the limit reached: the
         * one before it (at most a record and its node less) had not. */
        CU_ASSERT_TRUE(sa[i] >= la[i] && sa[i] < la[i] + 2048);
        CU_ASSERT_TRUE(sb[i] >= lb[i] && sb[i] < lb[i] + 2048);
        /* A new limit for every memtable, whichever way it was switched
         * (a prepared WAL or one opened by the switch). */
        if (i > 0) {
            CU_ASSERT_NOT_EQUAL(la[i], la[i - 1]);
            CU_ASSERT_NOT_EQUAL(lb[i], lb[i - 1]);
        }
        a_varies |= la[i] != la[0];
        differ |= sa[i] / 2048 != sb[i] / 2048;
    }
    CU_ASSERT_TRUE(a_varies);
    CU_ASSERT_TRUE(differ);
    /* The current limit is exported for /metrics. */
    pthread_mutex_lock(&a->mu);
    uint64_t cur = a->mem_limit;
    pthread_mutex_unlock(&a->mu);
    CU_ASSERT_EQUAL(tl_stat(a, "lsm_memtable_switch_bytes"), cur);
    CU_ASSERT_EQUAL(tl_close(a), 0);
    CU_ASSERT_EQUAL(tl_close(b), 0);
    tl_done(ea, da);
    tl_done(eb, db_);
}

/* memtable_jitter = 0: every memtable is switched at memtable_size, on
 * every engine alike (the behaviour before the option). */
static void test_jitter_off(void)
{
    char da[64], db_[64];
    lsm_env *ea, *eb;
    lsm_db *a = tj_open(da, &ea, "0");
    lsm_db *b = tj_open(db_, &eb, "0");
    uint64_t la[TJ_SWITCHES], sa[TJ_SWITCHES], lb[TJ_SWITCHES], sb[TJ_SWITCHES];
    tj_feed(a, la, sa);
    tj_feed(b, lb, sb);
    for (int i = 0; i < TJ_SWITCHES; i++) {
        CU_ASSERT_EQUAL(la[i], TJ_MEM);
        CU_ASSERT_EQUAL(lb[i], TJ_MEM);
        CU_ASSERT_EQUAL(sa[i], sb[i]);
    }
    CU_ASSERT_EQUAL(tl_close(a), 0);
    CU_ASSERT_EQUAL(tl_close(b), 0);
    tl_done(ea, da);
    tl_done(eb, db_);
}

/* Out of 0..50, or not a number: refused, naming the key. */
static void test_jitter_refused(void)
{
    const char *bad[] = {"51", "-1", "lots"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dir[64];
        tl_mkdtemp(dir);
        lsm_env *env = dk__lsm_env_posix();
        tl_host_reset();
        dk_fake_host_set_option(&th, "memtable_jitter", bad[i]);
        int rc;
        lsm_db *db = tl_open(&th, env, dir, TJ_MEM, "none", &rc);
        CU_ASSERT_EQUAL(rc, DK_ECONFIG);
        CU_ASSERT_PTR_NULL(db);
        CU_ASSERT_PTR_NOT_NULL(strstr(dk_fake_host_conf_error(&th), "memtable_jitter"));
        tl_done(env, dir);
    }
}

static CU_TestInfo tj_tests[] = {
    {"jitter_default", test_jitter_default},
    {"jitter_off", test_jitter_off},
    {"jitter_refused", test_jitter_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-jitter", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = tj_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
