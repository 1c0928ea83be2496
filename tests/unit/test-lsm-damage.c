/*
 * test-lsm-damage.c - a bit flip inside a data block of a real SSTable:
 * iterators skip the block, log it (file and offset) and count it, and go
 * on with the next block; its keys read as absent (point reads answer
 * DK_ECORRUPT) and never as an older version from an older table; keys
 * written again read back, also after a flush and a reopen; a compaction
 * over the damaged block fails without dropping or rewriting anything,
 * leaves the engine writable and never picks the damaged table again, not
 * even after a restart (the mark is persisted beside the table).
 */
#include "test-lsm-host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TD_KEYS 2000

/* Put keys 0..TD_KEYS-1 with generation gen, then flush them to a table. */
static void td_fill(lsm_db *db, int gen)
{
    tl_fill(db, TD_KEYS, gen);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
}

typedef struct td_newest {
    unsigned long long best;
    int n;
} td_newest;
static int td_newest_cb(void *arg, const char *name)
{
    td_newest *t = arg;
    unsigned long long num;
    size_t len = strlen(name);
    if (len > 4 && !strcmp(name + len - 4, ".sst") && sscanf(name, "%llu", &num) == 1) {
        t->n++;
        if (num > t->best)
            t->best = num;
    }
    return 0;
}

/* Path of the newest table of dir into out; returns the number of tables. */
static int td_newest_table(lsm_env *env, const char *dir, char *out, size_t len)
{
    td_newest t = {0, 0};
    env->ops->list(env, dir, td_newest_cb, &t);
    CU_ASSERT_FATAL(t.n > 0);
    snprintf(out, len, "%s/%06llu.sst", dir, t.best);
    return t.n;
}

typedef struct td_scan {
    int seen[TD_KEYS]; /* generation + 1 of the value seen, 0 absent */
    int n, bad, rc;
} td_scan;

/* Scan everything: rc 0 when the scan ended at EOF; bad counts pairs
 * whose key or value is not one the test wrote. */
static void td_scan_all(lsm_db *db, td_scan *s)
{
    memset(s, 0, sizeof(*s));
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    dk_slice k, v;
    int rc;
    while ((rc = dk__lsm_engine_ops.iter_next(it, &k, &v)) == 0) {
        char ks[64], vs[200], want[160];
        int i, gen;
        snprintf(ks, sizeof(ks), "%.*s", (int)k.len, (const char *)k.ptr);
        snprintf(vs, sizeof(vs), "%.*s", (int)v.len, (const char *)v.ptr);
        if (sscanf(ks, "key-%d", &i) != 1 || i < 0 || i >= TD_KEYS || sscanf(vs, "value-%*d-%d", &gen) != 1) {
            s->bad++;
            continue;
        }
        tl_val(want, i, gen);
        if (strcmp(vs, want) != 0 || s->seen[i])
            s->bad++;
        s->seen[i] = gen + 1;
        s->n++;
    }
    s->rc = rc == DK_EEOF ? 0 : rc;
    dk__lsm_engine_ops.iter_close(it);
}

/* The offset logged by the skip message for path, or -1. */
static long long td_logged_offset(const char *path)
{
    char pat[600];
    snprintf(pat, sizeof(pat), "skipping the damaged data block of %s at offset ", path);
    const char *p = strstr(tl_logs, pat);
    return p ? atoll(p + strlen(pat)) : -1;
}

/* One table of TD_KEYS keys, a byte flipped in the middle of its data. */
static void test_scan_skips_damaged_block(void)
{
    char dir[64], path[512], k[32], v[160];
    lsm_env *env;
    int rc;
    lsm_db *db = tl_start(dir, &env, 0, "none");
    td_fill(db, 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    td_newest_table(env, dir, path, sizeof(path));
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    uint64_t flip = (uint64_t)st.st_size / 3; /* the data blocks come first */
    tl_flip(path, flip);
    tl_host_reset();
    db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    td_scan s;
    td_scan_all(db, &s);
    CU_ASSERT_EQUAL(s.rc, 0); /* the scan went on past the block */
    CU_ASSERT_EQUAL(s.bad, 0);
    /* One block's keys (4 KiB of ~130-byte entries) are missing, in one run,
     * and only those. */
    int first = -1, last = -1;
    for (int i = 0; i < TD_KEYS; i++)
        if (!s.seen[i]) {
            if (first < 0)
                first = i;
            last = i;
        }
    CU_ASSERT_TRUE_FATAL(first > 0);
    CU_ASSERT_TRUE(last < TD_KEYS - 1);
    CU_ASSERT_EQUAL(last - first + 1, TD_KEYS - s.n);
    CU_ASSERT_TRUE(TD_KEYS - s.n >= 5 && TD_KEYS - s.n <= 64);
    /* Logged with the file and the block's offset, and counted. */
    long long off = td_logged_offset(path);
    CU_ASSERT_TRUE(off > 0 && (uint64_t)off <= flip && flip - (uint64_t)off < 8192);
    CU_ASSERT_TRUE(dk_fake_host_metric(&th, "lsm_corrupt_blocks_skipped_total") >= 1);
    CU_ASSERT_TRUE(dk_fake_host_metric(&th, "lsm_corrupt_blocks_total") >= 1);

    /* Point reads agree: the lost keys fail with the damage, the others read. */
    dk_buf b = DK_BUF_INIT;
    for (int i = 0; i < TD_KEYS; i++) {
        tl_key(k, i);
        if (s.seen[i]) {
            tl_val(v, i, 0);
            CU_ASSERT_TRUE(tl_has(db, k, v));
        } else {
            CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ECORRUPT);
        }
    }
    /* A seek into the damaged block skips it too. */
    tl_key(k, first + 1);
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    dk_slice ik, iv;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.iter_seek(it, tl_str(k)), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.iter_next(it, &ik, &iv), 0);
    tl_key(k, last + 1);
    CU_ASSERT_TRUE(ik.len == strlen(k) && !memcmp(ik.ptr, k, ik.len));
    /* Seeking back before the damaged block: the keys there are intact
     * and none is hidden by what the first seek found. */
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.iter_seek(it, tl_str("key-000000")), 0);
    int n = 0;
    while (dk__lsm_engine_ops.iter_next(it, &ik, &iv) == 0)
        n++;
    CU_ASSERT_EQUAL(n, s.n);
    dk__lsm_engine_ops.iter_close(it);

    /* Repair: the lost keys written again read back, from the memtable,
     * from a new table and after a reopen. */
    for (int i = first; i <= last; i++) {
        tl_key(k, i);
        tl_val(v, i, 1);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
        if (pass == 2) {
            CU_ASSERT_EQUAL(tl_close(db), 0);
            db = tl_open(&th, env, dir, 0, "none", &rc);
            CU_ASSERT_EQUAL_FATAL(rc, 0);
        }
        for (int i = first; i <= last; i++) {
            tl_key(k, i);
            tl_val(v, i, 1);
            CU_ASSERT_TRUE(tl_has(db, k, v));
        }
        td_scan_all(db, &s);
        CU_ASSERT_EQUAL(s.rc, 0);
        CU_ASSERT_EQUAL(s.bad, 0);
        CU_ASSERT_EQUAL(s.n, TD_KEYS);
    }
    dk_buf_free(&b);
    tl_close(db);
    tl_done(env, dir);
}

/* Two tables: generation 0 (older), then generation 1 of every key; the
 * newer one is damaged. The damaged keys must read as absent, never as
 * their generation-0 values (a lost tombstone or update coming back). */
static void test_damage_hides_older_versions(void)
{
    char dir[64], path[512], k[32], v[160];
    lsm_env *env;
    int rc;
    lsm_db *db = tl_start(dir, &env, 0, "none");
    td_fill(db, 0);
    td_fill(db, 1);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    CU_ASSERT_EQUAL(td_newest_table(env, dir, path, sizeof(path)), 2);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    tl_flip(path, (uint64_t)st.st_size / 2);
    tl_host_reset();
    db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    td_scan s;
    td_scan_all(db, &s);
    CU_ASSERT_EQUAL(s.rc, 0);
    CU_ASSERT_EQUAL(s.bad, 0);
    int missing = 0, old = 0;
    dk_buf b = DK_BUF_INIT;
    for (int i = 0; i < TD_KEYS; i++) {
        tl_key(k, i);
        if (s.seen[i] == 1)
            old++;
        if (!s.seen[i]) {
            missing++;
            CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ECORRUPT);
        } else {
            tl_val(v, i, 1);
            CU_ASSERT_TRUE(tl_has(db, k, v));
        }
    }
    CU_ASSERT_EQUAL(old, 0);
    CU_ASSERT_TRUE(missing >= 5 && missing <= 64);
    CU_ASSERT_TRUE(td_logged_offset(path) > 0);

    /* Compaction over the damaged block: the job fails, nothing is
     * rewritten or dropped, the engine stays writable. */
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}),
                    DK_ECORRUPT);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&th, "lsm_tables_damaged_total"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "compaction leaves it as it is"));
    char again[512];
    CU_ASSERT_EQUAL(td_newest_table(env, dir, again, sizeof(again)), 2);
    CU_ASSERT_STRING_EQUAL(again, path);
    td_scan s2;
    td_scan_all(db, &s2);
    CU_ASSERT_EQUAL(s2.rc, 0);
    CU_ASSERT_EQUAL(memcmp(s.seen, s2.seen, sizeof(s.seen)), 0);
    /* The mark is persisted beside the table and survives a restart: the
     * reopened engine knows the table is damaged without a failed job. */
    char mark[512];
    snprintf(mark, sizeof(mark), "%.*s.bad", (int)(strlen(path) - 4), path);
    CU_ASSERT_EQUAL(access(mark, F_OK), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_host_reset();
    db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(access(mark, F_OK), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "has a damaged block (marked by"));
    /* The damaged table is not picked again: the next compaction runs (over
     * the older table alone), no job fails on the damage again, and still no
     * damaged key reads as old. */
    CU_ASSERT_EQUAL(tl_put(db, "zz-after", "x", 1), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&th, "lsm_tables_damaged_total"), 0);
    CU_ASSERT_PTR_NULL(strstr(tl_logs, "compaction leaves it as it is from now on"));
    td_scan_all(db, &s2);
    CU_ASSERT_EQUAL(s2.rc, 0);
    CU_ASSERT_EQUAL(memcmp(s.seen, s2.seen, sizeof(s.seen)), 0);
    CU_ASSERT_TRUE(tl_has(db, "zz-after", "x"));
    CU_ASSERT_EQUAL(tl_del(db, "zz-after", 0), 0);
    CU_ASSERT_EQUAL(access(mark, F_OK), 0);
    for (int i = 0; i < TD_KEYS; i++) {
        tl_key(k, i);
        if (!s.seen[i])
            CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ECORRUPT);
    }
    /* Written again, they read back and the scan is whole. */
    for (int i = 0; i < TD_KEYS; i++) {
        if (s.seen[i])
            continue;
        tl_key(k, i);
        tl_val(v, i, 2);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    td_scan_all(db, &s2);
    CU_ASSERT_EQUAL(s2.rc, 0);
    CU_ASSERT_EQUAL(s2.bad, 0);
    CU_ASSERT_EQUAL(s2.n, TD_KEYS);
    for (int i = 0; i < TD_KEYS; i++) {
        tl_key(k, i);
        tl_val(v, i, s.seen[i] ? 1 : 2);
        CU_ASSERT_TRUE(tl_has(db, k, v));
    }
    dk_buf_free(&b);
    tl_close(db);
    tl_done(env, dir);
}

static CU_TestInfo td_tests[] = {
    {"scan_skips_damaged_block", test_scan_skips_damaged_block},
    {"damage_hides_older_versions", test_damage_hides_older_versions},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-damage", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = td_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
