/*
 * test-lsm-lend.c - the LSM engine's lending read (engine.h get_lent and
 * release, ABI 1.4): a lent value stays valid and unchanged while the
 * engine overwrites the key, flushes the memtable it lives in, evicts its
 * block from the cache and compacts away the table it came from; with
 * DK_GET_NOWAIT it answers only from memory; a damaged block is reported
 * (DK_ECORRUPT, nothing to release), since the node trusts the engine's
 * checksum (DK_ENGINE_CAP_VERIFIED) and skips its own.
 */
#include "test-lsm-host.h"

#include <fcntl.h>
#include <unistd.h>

static int tln_lend(lsm_db *db, const char *k, uint32_t flags, dk_slice *v, void **pin)
{
    return dk__lsm_engine_ops.get_lent(&db->base, tl_str(k), flags, v, pin);
}

static void tln_release(lsm_db *db, void *pin)
{
    dk__lsm_engine_ops.release(&db->base, pin);
}

static int tln_is(dk_slice v, const char *want)
{
    return v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
}

/* The engine opened in dir with a 16 KiB block cache (so that reading a
 * few hundred other keys evicts any block) and memtable bytes. */
static lsm_db *tln_open(lsm_env *env, const char *dir, uint64_t memtable)
{
    dk_fake_host_set_option(&th, "codec", "none");
    dk_fake_host_set_option(&th, "compaction_rate_limit", "0");
    dk_engine_conf conf = {.struct_size = sizeof(conf),
                           .path = dir,
                           .sync = 1,
                           .memtable_size = memtable,
                           .block_cache_size = 16 * 1024};
    dk_engine *e = NULL;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_open_env(&th.host, &conf, env, &e), 0);
    return (lsm_db *)e;
}

/* Read every key through get(): the small cache turns over many times. */
static void tln_churn(lsm_db *db, int n)
{
    char k[32];
    dk_buf b = DK_BUF_INIT;
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        CU_ASSERT_EQUAL(tl_get(db, k, &b), 0);
    }
    dk_buf_free(&b);
}

/* A value lent from a table's block outlives the block's eviction, the
 * key's overwrite and the compaction that deletes the table. */
static void test_lent_outlives_compaction(void)
{
    char dir[64], k[32], v0[160], v1[160];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    lsm_db *db = tln_open(env, dir, 0);
    CU_ASSERT_TRUE_FATAL(DK_HAS(&dk__lsm_engine_ops, release) &&
                         (dk__lsm_engine_ops.caps & DK_ENGINE_CAP_VERIFIED));
    tl_fill(db, 2000, 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".sst"), 1);
    tl_key(k, 17);
    tl_val(v0, 17, 0);
    tl_val(v1, 17, 1);
    dk_slice lent;
    void *pin = NULL;
    CU_ASSERT_EQUAL_FATAL(tln_lend(db, k, 0, &lent, &pin), 0);
    CU_ASSERT_TRUE(tln_is(lent, v0));
    /* Overwrite everything, flush, compact: the first table is gone. */
    tl_fill(db, 2000, 1);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    tln_churn(db, 2000);
    CU_ASSERT_TRUE(tl_has(db, k, v1));
    CU_ASSERT_TRUE(tln_is(lent, v0)); /* the lent bytes did not move or change */
    tln_release(db, pin);
    /* A new loan sees the new value. */
    CU_ASSERT_EQUAL_FATAL(
        tln_lend(db, k, DK_GET_NOWAIT, &lent, &pin) == 0 || tln_lend(db, k, 0, &lent, &pin) == 0, 1);
    CU_ASSERT_TRUE(tln_is(lent, v1));
    tln_release(db, pin);
    CU_ASSERT_EQUAL(tln_lend(db, "absent", 0, &lent, &pin), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* A value lent from the memtable outlives the memtable's flush. */
static void test_lent_outlives_flush(void)
{
    char dir[64], k[32], v0[160];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    lsm_db *db = tln_open(env, dir, 32 * 1024);
    tl_key(k, 5);
    tl_val(v0, 5, 0);
    CU_ASSERT_EQUAL(tl_put(db, k, v0, 0), 0);
    dk_slice lent;
    void *pin = NULL;
    CU_ASSERT_EQUAL_FATAL(tln_lend(db, k, DK_GET_NOWAIT, &lent, &pin), 0); /* from memory */
    CU_ASSERT_TRUE(tln_is(lent, v0));
    tl_fill(db, 2000, 1); /* many 32 KiB memtables, flushed */
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
    CU_ASSERT_TRUE(tln_is(lent, v0));
    tln_release(db, pin);
    CU_ASSERT_EQUAL(tln_lend(db, k, DK_GET_NOWAIT, &lent, &pin), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static int tln_find_cb(void *arg, const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && !strcmp(name + n - 4, ".sst"))
        snprintf(arg, 256, "%s", name);
    return 0;
}

/* The path of the (one) table in dir. */
static void tln_table_path(lsm_env *env, const char *dir, char *out, size_t len)
{
    char name[256] = "";
    env->ops->list(env, dir, tln_find_cb, name);
    CU_ASSERT_FATAL(name[0] != '\0');
    snprintf(out, len, "%s/%s", dir, name);
}

/* With a cold cache DK_GET_NOWAIT answers or says -EAGAIN, never waits;
 * a damaged data block is DK_ECORRUPT with nothing lent. */
static void test_lent_nowait_and_damage(void)
{
    char dir[64], path[512], k[32], v[160];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    lsm_db *db = tln_open(env, dir, 0);
    tl_fill(db, 2000, 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tln_open(env, dir, 0);
    tl_key(k, 1500);
    tl_val(v, 1500, 0);
    dk_slice lent;
    void *pin = NULL;
    int rc = tln_lend(db, k, DK_GET_NOWAIT, &lent, &pin);
    CU_ASSERT_TRUE(rc == 0 || rc == -EAGAIN);
    if (rc == 0) {
        CU_ASSERT_TRUE(tln_is(lent, v));
        tln_release(db, pin);
    }
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* Flip a byte inside the table's first data block. */
    tln_table_path(env, dir, path, sizeof(path));
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    uint8_t b;
    CU_ASSERT_EQUAL(pread(fd, &b, 1, 100), 1);
    b ^= 0x5a;
    CU_ASSERT_EQUAL(pwrite(fd, &b, 1, 100), 1);
    close(fd);
    db = tln_open(env, dir, 0);
    pin = NULL;
    CU_ASSERT_EQUAL(tln_lend(db, "key-000000", 0, &lent, &pin), DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(pin);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static CU_TestInfo tln_tests[] = {
    {"lent_outlives_compaction", test_lent_outlives_compaction},
    {"lent_outlives_flush", test_lent_outlives_flush},
    {"lent_nowait_and_damage", test_lent_nowait_and_damage},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-lend", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = tln_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
