/*
 * test-lsm-policy.c - the LSM engine driven by each shipped compaction
 * policy plugin (leveled, size_tiered, time_window), loaded with dlopen
 * from DYNKV_PLUGIN_PATH, on the same overwrite-heavy workload: the data
 * stays exactly right, level 0 stays bounded, and each policy's write and
 * space amplification are printed for comparison. Switching policy on an
 * existing data directory is also exercised: the on-disk format does not
 * depend on the policy. A scripted policy checks compaction moves: a
 * single table from a level >= 1 into a deeper level with nothing
 * overlapping it in between is re-listed, not rewritten, and survives a
 * reopen. With values in blob files the policy sees each table's size as
 * the data it references, and a job's outputs are split by it.
 */
#include "test-lsm-util.h"

#include <unistd.h>


#define PL_KEYS 2000
#define PL_WRITES 12000

static dk_fake_host ph;  /* the engine's host */
static dk_fake_host pph; /* the policy's: its options are its own */
static int pl_init(void)
{
    dk_fake_host_init(&ph);
    dk_fake_host_init(&pph);
    return 0;
}
static int pl_clean(void)
{
    dk_fake_host_destroy(&pph);
    dk_fake_host_destroy(&ph);
    return 0;
}

typedef struct pl_stats {
    uint64_t l0, files, table_bytes, flush_bytes, compact_write, compactions;
} pl_stats;
static void pl_stat_cb(void *arg, const char *name, uint64_t v)
{
    pl_stats *s = arg;
    if (!strcmp(name, "lsm_l0_files"))
        s->l0 = v;
    if (!strcmp(name, "lsm_files"))
        s->files = v;
    if (!strcmp(name, "lsm_table_bytes"))
        s->table_bytes = v;
    if (!strcmp(name, "lsm_flush_bytes_total"))
        s->flush_bytes = v;
    if (!strcmp(name, "lsm_compaction_write_bytes_total"))
        s->compact_write = v;
    if (!strcmp(name, "lsm_compactions_total"))
        s->compactions = v;
}

static lsm_db *pl_open(const char *dir, lsm_env *env, tl_policy *pl)
{
    dk_fake_host_set_option(&ph, "codec", "none");
    dk_fake_host_set_option(&ph, "compaction_rate_limit", "0");
    /* Memtables switch exactly at memtable_size: test_move counts on
     * 1000 small writes making one table (a drawn 75 % limit made two). */
    dk_fake_host_set_option(&ph, "memtable_jitter", "0");
    dk_engine_conf conf = {.struct_size = sizeof(conf),
                           .path = dir,
                           .memtable_size = 64 * 1024,
                           .compaction = pl->ops,
                           .compaction_policy = pl->p};
    dk_engine *e = NULL;
    CU_ASSERT_EQUAL(dk__lsm_open_env(&ph.host, &conf, env, &e), 0);
    return (lsm_db *)e;
}

/* Wait until no flush or compaction runs or is pending, then read the
 * stats (200 ms without a new compaction was no proof on a loaded
 * machine: the first one may not have started yet). */
static void pl_settle(lsm_db *db, pl_stats *s)
{
    tl_settle(db);
    memset(s, 0, sizeof(*s));
    dk__lsm_engine_ops.stats(&db->base, pl_stat_cb, s);
}

static int pl_verify(lsm_db *db, int gen_max)
{
    int bad = 0;
    char k[32], v[200];
    dk_buf b = DK_BUF_INIT;
    for (int i = 0; i < PL_KEYS; i++) {
        snprintf(k, sizeof(k), "user%05d", i);
        if (i % 11 == 0) {
            bad += tl_get(db, k, &b) != DK_ENOTFOUND;
            continue;
        }
        int last = (PL_WRITES - 1 - i) / PL_KEYS * PL_KEYS + i; /* last write of key i */
        snprintf(v, sizeof(v), "gen%d-%d-%0120d", gen_max, last, i);
        bad += !tl_has(db, k, v);
    }
    dk_buf_free(&b);
    return bad;
}

static void pl_workload(lsm_db *db, int gen)
{
    char k[32], v[200];
    for (int w = 0; w < PL_WRITES; w++) {
        int i = w % PL_KEYS;
        snprintf(k, sizeof(k), "user%05d", i);
        snprintf(v, sizeof(v), "gen%d-%d-%0120d", gen, w, i);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        if (w >= PL_WRITES - PL_KEYS && i % 11 == 0)
            CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
}

static void pl_case(const char *name, const char *next)
{
    char dir[64];
    tl_mkdtemp(dir);
    tl_policy pl;
    CU_ASSERT_EQUAL_FATAL(tl_policy_load(&pph, name, &pl), 0);
    lsm_env *env = dk__lsm_env_posix();
    lsm_db *db = pl_open(dir, env, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    pl_workload(db, 1);
    pl_stats s;
    pl_settle(db, &s);
    CU_ASSERT_EQUAL(pl_verify(db, 1), 0);
    uint64_t user = (uint64_t)PL_WRITES * (9 + 140);
    uint64_t live = (uint64_t)PL_KEYS * (9 + 140 + 8);
    fprintf(stderr,
            "policy %-11s: %llu compactions, %llu files (%llu in L0), write amp %.2f, space amp %.2f\n", name,
            (unsigned long long)s.compactions, (unsigned long long)s.files, (unsigned long long)s.l0,
            (double)(s.flush_bytes + s.compact_write) / (double)user, (double)s.table_bytes / (double)live);
    CU_ASSERT_TRUE(s.compactions > 0);
    CU_ASSERT_TRUE(s.l0 <= 12);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_policy_unload(&pl);
    /* Reopen the same directory under another policy and keep going. */
    CU_ASSERT_EQUAL_FATAL(tl_policy_load(&pph, next, &pl), 0);
    db = pl_open(dir, env, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(pl_verify(db, 1), 0);
    pl_workload(db, 2);
    pl_settle(db, &s);
    CU_ASSERT_EQUAL(pl_verify(db, 2), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_policy_unload(&pl);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

static void test_leveled(void)
{
    pl_case("leveled", "size_tiered");
}
static void test_size_tiered(void)
{
    pl_case("size_tiered", "time_window");
}
static void test_time_window(void)
{
    pl_case("time_window", "leveled");
}

/* ---- moves, with a scripted policy ----------------------------------------- */

static uint64_t pm_input;
static uint32_t pm_level;
static uint64_t pm_target;    /* the job's target_file_size */
static uint64_t pm_seen_size; /* dk_run.size of pm_input in the view of the job */
static _Atomic int pm_armed;  /* the next pick() returns the scripted job */
static dk_compaction_policy pm_policy;

static int pm_open(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out)
{
    (void)conf;
    pm_policy.host = host;
    *out = &pm_policy;
    return 0;
}
static void pm_close(dk_compaction_policy *p)
{
    (void)p;
}
static int pm_pick(dk_compaction_policy *p, const dk_run_view *v, dk_compaction_job *job)
{
    (void)p;
    if (!atomic_exchange(&pm_armed, 0))
        return DK_ENOTFOUND;
    for (size_t i = 0; i < v->count; i++)
        if (v->runs[i].id == pm_input && !v->runs[i].busy) {
            job->kind = DK_JOB_MERGE;
            job->output_level = pm_level;
            job->target_file_size = pm_target;
            job->inputs[0] = pm_input;
            pm_seen_size = v->runs[i].size;
            job->n_inputs = 1;
            return 0;
        }
    return DK_ENOTFOUND;
}
static const dk_compaction_ops pm_ops = {
    .struct_size = sizeof(pm_ops), .open = pm_open, .close = pm_close, .pick = pm_pick};

/* Level of table `number` in the current version, or -1. */
static int pm_level_of(lsm_db *db, uint64_t number)
{
    int level = -1;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->cur->n; i++)
        if (db->cur->files[i]->number == number)
            level = (int)db->cur->files[i]->level;
    pthread_mutex_unlock(&db->mu);
    return level;
}

/* Number of the only table of level `level` (0 when not exactly one). */
static uint64_t pm_only(lsm_db *db, uint32_t level)
{
    uint64_t n = 0;
    int count = 0;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->cur->n; i++)
        if (db->cur->files[i]->level == level) {
            n = db->cur->files[i]->number;
            count++;
        }
    pthread_mutex_unlock(&db->mu);
    return count == 1 ? n : 0;
}

/* Have the background thread run the job "table `number` into `level`". */
static void pm_run(lsm_db *db, uint64_t number, uint32_t level)
{
    pm_input = number;
    pm_level = level;
    atomic_store(&pm_armed, 1);
    pthread_mutex_lock(&db->mu);
    db->compact_pending = 1;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&db->mu);
        int idle = !db->compacting && !db->compact_pending;
        pthread_mutex_unlock(&db->mu);
        if (idle && !atomic_load(&pm_armed))
            return;
        usleep(1000);
    }
    CU_FAIL("scripted compaction did not run");
}


/* Keys [from, to) hold "<tag>-<i>". */
static int pm_bad(lsm_db *db, int from, int to, char tag)
{
    char k[32], v[32];
    int bad = 0;
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof(k), "user%05d", i);
        snprintf(v, sizeof(v), "%c-%d", tag, i);
        bad += !tl_has(db, k, v);
    }
    return bad;
}

static void pm_write(lsm_db *db, int from, int to, char tag)
{
    char k[32], v[32];
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof(k), "user%05d", i);
        snprintf(v, sizeof(v), "%c-%d", tag, i);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
}

static void test_move(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    tl_policy pl = {.ops = &pm_ops};
    CU_ASSERT_EQUAL_FATAL(pm_ops.open(&ph.host, NULL, &pl.p), 0);
    lsm_db *db = pl_open(dir, env, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    pm_write(db, 0, 1000, 'a');
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    uint64_t f1 = pm_only(db, 1);
    CU_ASSERT_FATAL(f1 != 0);
    /* L1 -> L3 with L2 and L3 empty: a move of the same file. */
    pm_run(db, f1, 3);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compaction_moves_total"), 1);
    CU_ASSERT_EQUAL(pm_level_of(db, f1), 3);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".sst"), 1);
    CU_ASSERT_EQUAL(pm_bad(db, 0, 1000, 'a'), 0);
    /* A level-0 table is always merged (older level-0 tables may overlap it). */
    pm_write(db, 500, 1500, 'b');
    uint64_t f2 = pm_only(db, 0);
    CU_ASSERT_FATAL(f2 != 0);
    pm_run(db, f2, 2);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compaction_moves_total"), 1);
    CU_ASSERT_EQUAL(pm_level_of(db, f2), -1);
    uint64_t f3 = pm_only(db, 2);
    CU_ASSERT_FATAL(f3 != 0);
    /* L2 -> L4 across f1 in L3, which overlaps it: merged, not moved. */
    pm_run(db, f3, 4);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compaction_moves_total"), 1);
    CU_ASSERT_EQUAL(pm_level_of(db, f3), -1);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".sst"), 2);
    CU_ASSERT_EQUAL(pm_bad(db, 0, 500, 'a') + pm_bad(db, 500, 1500, 'b'), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* The manifest lists the moved file at its new level. */
    db = tl_open(&ph, env, dir, 0, "none", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(pm_level_of(db, f1), 3);
    CU_ASSERT_EQUAL(pm_bad(db, 0, 500, 'a') + pm_bad(db, 500, 1500, 'b'), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

/* ---- tables of blob references are sized by their data -------------------- */

#define PR_KEYS 50
#define PR_VAL 1000

static void pr_val(char *v, int i)
{
    snprintf(v, PR_VAL + 1, "r-%d-%0*d", i, PR_VAL - 16, i);
}

/* Keys [0, PR_KEYS) hold pr_val; the number of those that do not. */
static int pr_bad(lsm_db *db)
{
    char k[32], v[PR_VAL + 1];
    int bad = 0;
    for (int i = 0; i < PR_KEYS; i++) {
        snprintf(k, sizeof(k), "ref%05d", i);
        pr_val(v, i);
        bad += !tl_has(db, k, v);
    }
    return bad;
}

/* Tables, and the largest data_size, of level `level`. */
static int pr_level(lsm_db *db, uint32_t level, uint64_t *max_data)
{
    int n = 0;
    *max_data = 0;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->cur->n; i++) {
        const lsm_file *f = db->cur->files[i];
        if (f->level != level)
            continue;
        n++;
        *max_data = f->data_size > *max_data ? f->data_size : *max_data;
    }
    pthread_mutex_unlock(&db->mu);
    return n;
}

/* 50 values of 1000 bytes go to a blob file; the level-0 table of their
 * references is ~2.5 KB, and the policy sees ~52 KB (dk_run.size). A job
 * with a 16 KiB target_file_size splits its outputs by the data too (four
 * tables, where bytes on disk made one), and the sizes are the same after
 * a reopen (they come from the tables' properties, the manifest is as it
 * was) and after a move. */
static void test_refs_sized_by_data(void)
{
    char dir[64], k[32], v[PR_VAL + 1];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    tl_policy pl = {.ops = &pm_ops};
    CU_ASSERT_EQUAL_FATAL(pm_ops.open(&ph.host, NULL, &pl.p), 0);
    dk_fake_host_set_option(&ph, "blob_min_size", "100");
    lsm_db *db = pl_open(dir, env, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    for (int i = 0; i < PR_KEYS; i++) {
        snprintf(k, sizeof(k), "ref%05d", i);
        pr_val(v, i);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    uint64_t f0 = pm_only(db, 0), table_bytes = tl_stat(db, "lsm_table_bytes");
    CU_ASSERT_FATAL(f0 != 0);
    CU_ASSERT(table_bytes < PR_KEYS * 100);
    pm_target = 16 << 10;
    pm_run(db, f0, 1);
    CU_ASSERT(pm_seen_size >= table_bytes + PR_KEYS * PR_VAL);
    CU_ASSERT(pm_seen_size <= table_bytes + PR_KEYS * (PR_VAL + 64)); /* + record headers and keys */
    uint64_t max_data;
    int n1 = pr_level(db, 1, &max_data);
    CU_ASSERT(n1 == (int)(pm_seen_size / pm_target) + 1);
    CU_ASSERT(n1 >= 3);
    CU_ASSERT(max_data < pm_target + PR_VAL + 64); /* split after the entry that reached it */
    CU_ASSERT_EQUAL(pr_bad(db), 0);
    /* A move keeps what the table stands for. */
    uint64_t first = 0;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->cur->n && !first; i++)
        if (db->cur->files[i]->level == 1)
            first = db->cur->files[i]->number;
    pthread_mutex_unlock(&db->mu);
    pm_target = 0;
    pm_run(db, first, 3);
    uint64_t moved = pm_seen_size;
    CU_ASSERT(moved > 8 << 10);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = pl_open(dir, env, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    pm_run(db, first, 4);
    CU_ASSERT_EQUAL(pm_seen_size, moved);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compaction_moves_total"), 2 - 1); /* counters restart at open */
    CU_ASSERT_EQUAL(pr_bad(db), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    dk_fake_host_set_option(&ph, "blob_min_size", LSM_DEFAULT_BLOB_MIN);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

static CU_TestInfo pl_tests[] = {
    {"leveled", test_leveled},
    {"size_tiered", test_size_tiered},
    {"time_window", test_time_window},
    {"move", test_move},
    {"tables of blob references are sized by their data", test_refs_sized_by_data},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-policy", .pInitFunc = pl_init, .pCleanupFunc = pl_clean, .pTests = pl_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
