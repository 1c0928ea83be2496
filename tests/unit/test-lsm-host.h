/*
 * test-lsm-host.h - the set-up test-lsm-engine.c, test-lsm-recovery.c and
 * test-lsm-damage.c share on top of test-lsm-util.h: one fake host per
 * program (th) whose log messages are also kept in tl_logs for tests that
 * look for a file name or an offset there, the suite's init/cleanup, the
 * keys and values they write (tl_fill writes a range of them, tl_missing
 * reads them back, tl_put_until writes until memtable switches,
 * tl_l0_runs makes level-0 runs), tl_flip to damage a file, and an engine
 * opened in a fresh directory on a posix env (tl_start) or with the
 * host's options as set (tl_open_conf).
 *
 * Header-only with static state, like tc_cluster.h: each program is one
 * file. Apart from test-lsm-util.h because the other LSM tests have their
 * own hosts and would not use the state.
 */
#ifndef DK_TEST_LSM_HOST_H
#define DK_TEST_LSM_HOST_H
#include "test-lsm-util.h" /* first: it sets _GNU_SOURCE */

#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

static dk_fake_host th;
static char tl_logs[65536]; /* every message since the last reset */
static void (*tl_fake_log)(const dk_host *h, int level, const char *fmt, ...);

/* Any thread the engine logs from: append to tl_logs, then log as the fake
 * host does. */
static void tl_log(const dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);
static void tl_log(const dk_host *h, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t n = strlen(tl_logs);
    snprintf(tl_logs + n, sizeof(tl_logs) - n, "%s\n", msg);
    tl_fake_log(h, level, "%s", msg);
}

/* CUnit suite init and cleanup: the fake host with tl_log. */
static inline int tl_host_init(void)
{
    dk_fake_host_init(&th);
    tl_fake_log = th.host.log;
    th.host.log = tl_log;
    return 0;
}

static inline int tl_host_clean(void)
{
    dk_fake_host_destroy(&th);
    return 0;
}

/* Forget the host's logs, metrics and options, and tl_logs. */
static inline void tl_host_reset(void)
{
    dk_fake_host_reset(&th);
    th.host.log = tl_log;
    tl_logs[0] = '\0';
}

/* Key i (32 bytes) and its value of generation gen (160 bytes). */
static inline void tl_key(char *k, int i)
{
    snprintf(k, 32, "key-%06d", i);
}
static inline void tl_val(char *v, int i, int gen)
{
    snprintf(v, 160, "value-%d-%d-%0100d", i, gen, i);
}

/* Put keys 0..n-1 with their generation-gen values, one assertion per put. */
static inline void tl_fill(lsm_db *db, int n, int gen)
{
    char k[32], v[160];
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        tl_val(v, i, gen);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
}

/* How many of keys 0..n-1 do not hold their generation-gen value. */
static inline int tl_missing(lsm_db *db, int n, int gen)
{
    char k[32], v[160];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        tl_val(v, i, gen);
        bad += !tl_has(db, k, v);
    }
    return bad;
}

/* Put keys *n, *n + 1, ... (generation 0; a failed put ends the test)
 * until the engine has made `switches` memtable switches or *n reaches
 * max. */
static inline void tl_put_until(lsm_db *db, int *n, uint64_t switches, int max)
{
    char k[32], v[160];
    while (tl_stat(db, "lsm_wal_switches_total") < switches && *n < max) {
        tl_key(k, *n);
        tl_val(v, *n, 0);
        CU_ASSERT_EQUAL_FATAL(tl_put(db, k, v, 0), 0);
        (*n)++;
    }
}

/* runs level-0 runs of per keys each (generation 0, a flush after each);
 * the caller holds compact_mu, so that no compaction takes them
 * meanwhile. */
static inline void tl_l0_runs(lsm_db *db, int runs, int per)
{
    char k[32], v[160];
    for (int r = 0; r < runs; r++) {
        for (int i = 0; i < per; i++) {
            tl_key(k, r * per + i);
            tl_val(v, r * per + i, 0);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        }
        CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    }
}

/* The engine's level-0 run count now. */
static inline size_t tl_level0(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    size_t n = dk__lsm_version_level_count(db->cur, 0);
    pthread_mutex_unlock(&db->mu);
    return n;
}

/* The engine at dir on env with the host's options as set (none of
 * tl_open's), memtable bytes (0: the default); a failed open ends the
 * test. */
static inline lsm_db *tl_open_conf(lsm_env *env, const char *dir, uint64_t memtable)
{
    dk_engine_conf conf = {.struct_size = sizeof(conf), .path = dir, .memtable_size = memtable};
    dk_engine *e;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_open_env(&th.host, &conf, env, &e), 0);
    return (lsm_db *)e;
}

/* Damage the file at path: flip bits of the byte at off. */
static inline void tl_flip(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    uint8_t c;
    CU_ASSERT_EQUAL(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x5a;
    CU_ASSERT_EQUAL(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

/* A fresh directory in dir (64 bytes), a posix env in *env and the engine
 * opened there (memtable bytes, codec); a failed open ends the test. */
static inline lsm_db *tl_start(char *dir, lsm_env **env, uint64_t memtable, const char *codec)
{
    tl_mkdtemp(dir);
    *env = dk__lsm_env_posix();
    int rc;
    lsm_db *db = tl_open(&th, *env, dir, memtable, codec, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return db;
}

/* The engine in dir with key-value separation (blob_min_size min, the
 * blob GC's age cutoff pct, no memtable jitter, memtable bytes, no codec):
 * on a fresh directory and posix env when *env is NULL, else reopened on
 * *env; a failed open ends the test. */
static inline lsm_db *tl_open_blobs(char *dir, lsm_env **env, uint64_t memtable, const char *min,
                                    const char *pct)
{
    dk_fake_host_set_option(&th, "blob_min_size", min);
    dk_fake_host_set_option(&th, "blob_gc_age_cutoff", pct);
    dk_fake_host_set_option(&th, "memtable_jitter", "0");
    if (!*env) {
        tl_mkdtemp(dir);
        *env = dk__lsm_env_posix();
    }
    int rc;
    lsm_db *db = tl_open(&th, *env, dir, memtable, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return db;
}

static inline int tl_flush(lsm_db *db)
{
    return dk__lsm_engine_ops.flush(&db->base);
}

/* Free the env and remove the test's directory. */
static inline void tl_done(lsm_env *env, const char *dir)
{
    env->ops->destroy(env);
    tl_rmtree(dir);
}

#endif /* DK_TEST_LSM_HOST_H */
