/*
 * test-lsm-recovery.c - how the LSM engine comes through failures, end to
 * end through its ops table: a failed fdatasync makes it read-only for
 * good (reads go on); a full disk or a lack of descriptors is transient
 * (read-only while it lasts, retried, writable again on its own, nothing
 * acknowledged lost); and at open, a damaged data block reads as
 * DK_ECORRUPT with the file and offset logged, a damaged index block or a
 * missing table costs that table only (set aside, counted, the engine
 * serves the rest), a torn WAL tail drops the last record only, and a
 * damaged manifest refuses the open. Faults come from env_fault.c's
 * in-memory env, damage from flipping one byte of a real file. The reads
 * and writes themselves are in test-lsm-engine.c; a damaged block met by
 * iterators and compactions, in test-lsm-damage.c.
 */
#include "test-lsm-host.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env_fault.h"

/* An engine on a fresh in-memory fault env (*env, nothing armed yet)
 * holding a = 1, synced. */
static lsm_db *te_fault_db(lsm_env **env)
{
    int rc;
    *env = dk__lsm_env_fault(1);
    lsm_db *db = tl_open(&th, *env, "/db", 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0);
    return db;
}

/* A failed fdatasync: that write fails, later writes get DK_EREADONLY,
 * reads keep working and never see the failed write. A synced group is
 * inserted into the memtable while the device writes it (lsm_write.c's
 * lsm_sync_insert): its first sync point is the WAL's writeback, the
 * second its fdatasync, and either failing is the same, with a short
 * value and with a long one (the memtable's value arena). */
static void test_fsync_gate(void)
{
    static char big[20001];
    memset(big, 'v', sizeof(big) - 1);
    for (int at = 1; at <= 4; at++) {
        lsm_env *env;
        lsm_db *db = te_fault_db(&env);
        dk__lsm_fault_arm(env, (uint64_t)(at + 1) / 2, LSM_FAULT_SYNC_ONLY);
        CU_ASSERT_EQUAL(tl_put(db, "b", at % 2 ? "2" : big, 1), -EIO);
        CU_ASSERT_TRUE(dk__lsm_fault_fired(env));
        CU_ASSERT_EQUAL(tl_put(db, "c", "3", 0), DK_EREADONLY);
        CU_ASSERT_EQUAL(tl_stat(db, "lsm_readonly"), 1);
        CU_ASSERT_TRUE(tl_has(db, "a", "1"));
        dk_buf v = DK_BUF_INIT;
        CU_ASSERT_EQUAL(tl_get(db, "b", &v), DK_ENOTFOUND);
        dk_buf_free(&v);
        CU_ASSERT_EQUAL(tl_stat(db, "lsm_last_sequence"), 1);
        CU_ASSERT_EQUAL(tl_close(db), DK_EREADONLY);
        env->ops->destroy(env);
    }
}

/* Wait up to 10 s for stat name to read want. */
static int te_wait_stat(lsm_db *db, const char *name, uint64_t want)
{
    for (int i = 0; i < 1000; i++) {
        if (tl_stat(db, name) == want)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* A full disk is transient: the write that hits it fails with -ENOSPC
 * (half of it reached the WAL), later writes get DK_EREADONLY while the
 * disk stays full (the retries fail too), and once there is room the
 * engine takes writes again on its own. Nothing acknowledged is lost and
 * the refused write never appears, also after a reopen. */
static void test_full_disk_recovers(void)
{
    lsm_env *env;
    int rc;
    lsm_db *db = te_fault_db(&env);
    CU_ASSERT_EQUAL(tl_put(db, "u", "unsynced", 0), 0);
    dk__lsm_fault_full(env, -ENOSPC);
    CU_ASSERT_EQUAL(tl_put(db, "b", "2", 1), -ENOSPC);
    CU_ASSERT_EQUAL(tl_put(db, "c", "3", 0), DK_EREADONLY);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_readonly"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_readonly_retrying"), 1);
    /* Retries (at 100 and 300 ms) fail: still full. Waited for rather than
     * slept past: a loaded machine may run the retry thread late. */
    for (int i = 0; i < 1000 && tl_stat(db, "lsm_write_retries_total") < 1; i++)
        usleep(10000);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_readonly"), 1);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_write_retries_total") >= 1);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    dk__lsm_fault_full(env, 0);
    CU_ASSERT_TRUE(te_wait_stat(db, "lsm_readonly", 0));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_readonly_retrying"), 0);
    CU_ASSERT_EQUAL(tl_put(db, "d", "4", 1), 0);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tl_has(db, "u", "unsynced"));
    CU_ASSERT_TRUE(tl_has(db, "d", "4"));
    dk_buf v = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, "b", &v), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&th, env, "/db", 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tl_has(db, "u", "unsynced"));
    CU_ASSERT_TRUE(tl_has(db, "d", "4"));
    CU_ASSERT_EQUAL(tl_get(db, "b", &v), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_get(db, "c", &v), DK_ENOTFOUND);
    /* A memtable switch or flush that cannot create its file (out of
     * descriptors) is retried too; the memtables stay readable. */
    CU_ASSERT_EQUAL(tl_put(db, "x", "in the memtable", 0), 0);
    dk__lsm_fault_full(env, -EMFILE);
    rc = dk__lsm_engine_ops.flush(&db->base);
    CU_ASSERT_TRUE(rc == -EMFILE || rc == DK_EREADONLY);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_readonly"), 1);
    CU_ASSERT_EQUAL(tl_put(db, "y", "refused", 0), DK_EREADONLY);
    CU_ASSERT_TRUE(tl_has(db, "d", "4") && tl_has(db, "x", "in the memtable"));
    dk__lsm_fault_full(env, 0);
    CU_ASSERT_TRUE(te_wait_stat(db, "lsm_readonly", 0));
    CU_ASSERT_EQUAL(tl_put(db, "e", "5", 1), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_TRUE(tl_has(db, "d", "4") && tl_has(db, "e", "5") && tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tl_has(db, "x", "in the memtable"));
    CU_ASSERT_EQUAL(tl_get(db, "y", &v), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    dk_buf_free(&v);
    env->ops->destroy(env);
}

/* ---- corruption ---------------------------------------------------------- */

typedef struct te_find {
    const char *suffix;
    char name[256];
} te_find;
static int te_find_cb(void *arg, const char *name)
{
    te_find *f = arg;
    size_t a = strlen(name), b = strlen(f->suffix);
    if (a >= b && !strncmp(name + (f->suffix[0] == 'M' ? 0 : a - b), f->suffix, b))
        snprintf(f->name, sizeof(f->name), "%s", name);
    return 0;
}

/* Path of the (last listed) file of dir matching suffix ("MANIFEST" matches a prefix). */
static void te_path(lsm_env *env, const char *dir, const char *suffix, char *out, size_t len)
{
    te_find f = {suffix, ""};
    env->ops->list(env, dir, te_find_cb, &f);
    CU_ASSERT_FATAL(f.name[0] != '\0');
    snprintf(out, len, "%s/%s", dir, f.name);
}

static uint64_t te_size(const char *path)
{
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* A fresh directory in dir (64 bytes) holding a database of 2000 keys in
 * one table (uncompressed, ~60 data blocks), closed after one more clean
 * open; path gets the file of dir that matches suffix (te_path). Returns
 * the posix env it was made with. */
static lsm_env *te_make_table(char *dir, const char *suffix, char *path, size_t len)
{
    int rc;
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    lsm_db *db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    tl_fill(db, 2000, 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    tl_close(db);
    te_path(env, dir, suffix, path, len);
    return env;
}

static void test_corrupt_data_block(void)
{
    char dir[64], path[512], k[32], v[160], msg[1024];
    lsm_env *env = te_make_table(dir, ".sst", path, sizeof(path));
    tl_flip(path, 100); /* inside the first data block */
    dk_fake_host_reset(&th);
    int rc;
    lsm_db *db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, "key-000000", &b), DK_ECORRUPT);
    CU_ASSERT_TRUE(dk_fake_host_metric(&th, "lsm_corrupt_blocks_total") >= 1);
    dk_fake_host_last_log(&th, msg, sizeof(msg));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, ".sst"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "offset 0"));
    /* Keys in other blocks still read. */
    tl_key(k, 1500);
    tl_val(v, 1500, 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    /* A scan skips the block (test-lsm-damage.c has the details). */
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    dk_slice ik, iv;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.iter_next(it, &ik, &iv), 0);
    CU_ASSERT_FALSE(ik.len == 10 && !memcmp(ik.ptr, "key-000000", 10));
    dk__lsm_engine_ops.iter_close(it);
    dk_buf_free(&b);
    tl_close(db);
    tl_done(env, dir);
}

static void test_corrupt_index_block(void)
{
    char dir[64], path[512];
    lsm_env *env = te_make_table(dir, ".sst", path, sizeof(path));
    /* The footer's index handle: offset at footer + 32. */
    int fd = open(path, O_RDONLY);
    uint8_t ft[LSM_FOOTER_SIZE];
    CU_ASSERT_EQUAL(pread(fd, ft, sizeof(ft), (off_t)(te_size(path) - LSM_FOOTER_SIZE)), (ssize_t)sizeof(ft));
    close(fd);
    uint64_t ioff = dk_get_u64(ft + 32);
    tl_flip(path, ioff + 3);
    dk_fake_host_reset(&th);
    tl_logs[0] = '\0';
    int rc;
    lsm_db *db = tl_open(&th, env, dir, 0, "none", &rc);
    /* Documented: a table whose index is damaged cannot be used; the engine
     * opens without it (a bad file stops that file, not the node), says which
     * file and offset, keeps the file aside as .sst.damaged, and its keys are
     * gone from this replica until anti-entropy brings them back. */
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_TRUE(dk_fake_host_metric(&th, "lsm_corrupt_blocks_total") >= 1);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&th, "lsm_tables_lost_total"), 1);
    char want[1024];
    snprintf(want, sizeof(want), "corrupt index block in %s at offset %llu", path, (unsigned long long)ioff);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "is damaged"));
    char aside[600];
    snprintf(aside, sizeof(aside), "%s.damaged", path);
    CU_ASSERT_EQUAL(access(aside, F_OK), 0);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    char k[32];
    dk_buf b = DK_BUF_INIT;
    tl_key(k, 7);
    CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ENOTFOUND);
    /* The node keeps working: new writes land and survive a reopen. */
    CU_ASSERT_EQUAL(tl_put(db, "after", "1", 1), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(tl_get(db, "after", &b), 0);
    dk_buf_free(&b);
    tl_close(db);
    tl_done(env, dir);
}

/* A table the manifest names is gone (deleted by hand, lost with a disk):
 * the engine opens without it, names the file, and keeps serving. */
static void test_missing_table(void)
{
    char dir[64], path[512], k[32];
    lsm_env *env = te_make_table(dir, ".sst", path, sizeof(path));
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    dk_fake_host_reset(&th);
    tl_logs[0] = '\0';
    int rc;
    lsm_db *db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&th, "lsm_tables_lost_total"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "is missing"));
    dk_buf b = DK_BUF_INIT;
    tl_key(k, 3);
    CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_put(db, k, "again", 1), 0);
    CU_ASSERT_EQUAL(tl_get(db, k, &b), 0);
    dk_buf_free(&b);
    tl_close(db);
    tl_done(env, dir);
}

static void test_corrupt_wal_tail(void)
{
    char dir[64], path[512];
    lsm_env *env;
    int rc;
    lsm_db *db = tl_start(dir, &env, 0, NULL);
    CU_ASSERT_EQUAL(tl_put(db, "first", "1", 1), 0);
    CU_ASSERT_EQUAL(tl_put(db, "second", "2", 1), 0);
    CU_ASSERT_EQUAL(tl_put(db, "third", "3", 1), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    te_path(env, dir, ".log", path, sizeof(path));
    uint64_t size = te_size(path);
    tl_flip(path, size - 2); /* inside the last record */
    dk_fake_host_reset(&th);
    db = tl_open(&th, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(tl_has(db, "first", "1"));
    CU_ASSERT_TRUE(tl_has(db, "second", "2"));
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, "third", &b), DK_ENOTFOUND);
    dk_buf_free(&b);
    uint64_t dropped = dk_fake_host_metric(&th, "lsm_wal_bytes_dropped_total");
    CU_ASSERT_TRUE(dropped > 0 && dropped < 64);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_bytes_dropped_total"), dropped);
    tl_close(db);
    tl_done(env, dir);
}

static void test_corrupt_manifest(void)
{
    char dir[64], path[512];
    lsm_env *env = te_make_table(dir, "MANIFEST", path, sizeof(path));
    tl_flip(path, 10);
    dk_fake_host_reset(&th);
    int rc;
    lsm_db *db = tl_open(&th, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL(rc, DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(db);
    tl_done(env, dir);
}

static CU_TestInfo tr_tests[] = {
    {"fsync_gate", test_fsync_gate},
    {"full_disk_recovers", test_full_disk_recovers},
    {"corrupt_data_block", test_corrupt_data_block},
    {"corrupt_index_block", test_corrupt_index_block},
    {"missing_table", test_missing_table},
    {"corrupt_wal_tail", test_corrupt_wal_tail},
    {"corrupt_manifest", test_corrupt_manifest},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-recovery", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = tr_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
