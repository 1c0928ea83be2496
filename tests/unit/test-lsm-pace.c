/*
 * test-lsm-pace.c - how the LSM engine keeps its background work out of
 * the request path's way: compaction's rate limit (pace.c, driven by a
 * fake clock: the sleeps it asks for, the credit it keeps, the limit that
 * doubles per level-0 run and is lifted before writers are slowed), the
 * limit wired into a real compaction, the [engine.lsm] compaction_nice and
 * flush_nice options (validation, and the nice value the threads really
 * run at, read from /proc), and a table written back every interval as
 * it is written (the writeback covers what was written, the table reads
 * back byte for byte), and the flush's pace (flush_pace.c: the rate a
 * switch derives from the fill time, the hook that sleeps, and the lifts
 * that make it never hold up a writer or a flush() that waits). No
 * assertion depends on how fast the machine is.
 */
#include "test-lsm-host.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>

#include "env_fault.h"
#include "flush_pace.h"
#include "pace.h"
#include "table.h"

/* ---- the limiter, on a fake clock --------------------------------------- */

/* The limit by level-0 runs: the configured rate up to the base count,
 * doubled per run past it, none from LSM_PACE_L0_FREE on. */
static void test_pace_rate(void)
{
    const uint64_t r = 64u << 20;
    for (size_t l0 = 0; l0 <= LSM_PACE_L0_BASE; l0++)
        CU_ASSERT_EQUAL(dk__lsm_pace_rate(r, l0), r);
    for (size_t l0 = LSM_PACE_L0_BASE + 1; l0 < LSM_PACE_L0_FREE; l0++)
        CU_ASSERT_EQUAL(dk__lsm_pace_rate(r, l0), r << (l0 - LSM_PACE_L0_BASE));
    CU_ASSERT_EQUAL(dk__lsm_pace_rate(r, LSM_PACE_L0_FREE), 0);
    CU_ASSERT_EQUAL(dk__lsm_pace_rate(r, 100), 0);
    CU_ASSERT_EQUAL(dk__lsm_pace_rate(0, 0), 0);
    /* Lifted well before writers are slowed. */
    CU_ASSERT_TRUE(LSM_PACE_L0_FREE < LSM_L0_SLOWDOWN);
    /* The option's maximum doubled as far as it goes does not wrap. */
    CU_ASSERT_EQUAL(dk__lsm_pace_rate(1ull << 40, LSM_PACE_L0_FREE - 1),
                    (1ull << 40) << (LSM_PACE_L0_FREE - 1 - LSM_PACE_L0_BASE));
}

/* 1 MB/s: the sleeps the limiter asks for, second by second. */
static void test_pace_account(void)
{
    lsm_pace p;
    dk__lsm_pace_init(&p, 1000000);
    uint64_t t = 5000000; /* any start */
    /* A 1 MB chunk at once is a second ahead of the budget. */
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, 0), 1000000);
    /* Asked again after sleeping it: nothing more is due. */
    t += 1000000;
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 0, 0), 0);
    /* A lead under one slice is not worth a sleep ... */
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 4000, 0), 0);
    /* ... past it, the whole lead is slept at once. */
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 2000, 0), 6000);
    /* Half a second later half a megabyte more is just on budget. */
    t += 506000;
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 500000, 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 100000, 0), 100000);
}

/* A writer slower than the limit keeps LSM_PACE_CREDIT_US of credit, no
 * more: after a long pause the first chunk goes through, the next one
 * sleeps all but that credit. */
static void test_pace_credit(void)
{
    lsm_pace p;
    dk__lsm_pace_init(&p, 1000000);
    uint64_t t = 0;
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, 0), 1000000);
    t += 60 * 1000000ull; /* a minute without writes */
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, 0), 1000000 - LSM_PACE_CREDIT_US);
}

/* Level 0 growing mid-window raises the limit at once (a new window, so
 * the sleep owed at the old rate is forgotten); from LSM_PACE_L0_FREE runs
 * nothing is slept; back at the base count the configured rate holds
 * again, from a fresh window (no catch-up sleep for the unpaced bytes). */
static void test_pace_follows_l0(void)
{
    lsm_pace p;
    dk__lsm_pace_init(&p, 1000000);
    uint64_t t = 0;
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, LSM_PACE_L0_BASE), 1000000);
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 0, LSM_PACE_L0_BASE + 2), 0);
    CU_ASSERT_EQUAL(p.eff, 4000000);
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, LSM_PACE_L0_BASE + 2), 250000);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, LSM_PACE_L0_FREE), 0);
    CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, t, 1000000, 1), 1000000);
}

/* No limit configured: never a sleep, however much is written. */
static void test_pace_unlimited(void)
{
    lsm_pace p;
    dk__lsm_pace_init(&p, 0);
    for (int i = 0; i < 1000; i++)
        CU_ASSERT_EQUAL(dk__lsm_pace_account(&p, 0, 1u << 30, 0), 0);
}

/* ---- the limit in a real compaction ------------------------------------- */

/* A manual compaction at a 1 MiB/s limit sleeps (the paced-time stat
 * moves) and loses nothing. */
static void test_rate_limit(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    dk_fake_host_set_option(&th, "codec", "none");
    dk_fake_host_set_option(&th, "compaction_rate_limit", "1MiB");
    lsm_db *db = tl_open_conf(env, dir, 0);
    dk_engine *e = &db->base;
    tl_fill(db, 3000, 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(e), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(e, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    uint64_t written = tl_stat(db, "lsm_compaction_write_bytes_total");
    CU_ASSERT_TRUE(written > 300 * 1024);
    /* The output was due a third of a second after it was written. */
    CU_ASSERT_TRUE(tl_stat(db, "lsm_compaction_paced_us_total") > 0);
    CU_ASSERT_EQUAL(tl_missing(db, 3000, 0), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* With LSM_PACE_L0_FREE level-0 runs (made while the test holds
 * compact_mu) the merge of them all is not paced at all, though the
 * limit (64 KiB/s) would make it take seconds. */
static void test_rate_limit_lifted(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    dk_fake_host_set_option(&th, "codec", "none");
    dk_fake_host_set_option(&th, "compaction_rate_limit", "64KiB");
    lsm_db *db = tl_open_conf(env, dir, 0);
    pthread_mutex_lock(&db->compact_mu);
    tl_l0_runs(db, LSM_PACE_L0_FREE, 400);
    size_t l0 = tl_level0(db);
    CU_ASSERT_EQUAL(l0, LSM_PACE_L0_FREE);
    pthread_mutex_unlock(&db->compact_mu);
    /* Wait for the background job (a minute at most: at the limit it
     * would take about ten seconds). */
    for (int i = 0; i < 60000 && l0; i++) {
        usleep(1000);
        l0 = tl_level0(db);
    }
    CU_ASSERT_EQUAL(l0, 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_compaction_write_bytes_total") > 300 * 1024);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compaction_paced_us_total"), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* ---- the flush's pace ------------------------------------------------------ */

/* LSM_FLUSH_PACE_SPEEDUP times the fill rate, but done within LSM_FLUSH_PACE_MAX_US; no limit
 * for an unknown fill time. */
static void test_flush_rate(void)
{
    const uint64_t m = 64u << 20;
    CU_ASSERT_EQUAL(dk__lsm_flush_rate(m, 1000000), LSM_FLUSH_PACE_SPEEDUP * m);
    CU_ASSERT_EQUAL(dk__lsm_flush_rate(m, 500000), 2 * LSM_FLUSH_PACE_SPEEDUP * m);
    /* A slow fill (60 s) still flushes within the maximum. */
    CU_ASSERT_EQUAL(dk__lsm_flush_rate(m, 60000000), m * 1000000u / LSM_FLUSH_PACE_MAX_US);
    CU_ASSERT_EQUAL(dk__lsm_flush_rate(m, LSM_FLUSH_PACE_SPEEDUP - 1),
                    0); /* below the clock's grain: no limit */
    CU_ASSERT_EQUAL(dk__lsm_flush_rate(m, 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_flush_rate(0, 1000), 0);
}

/* The table builder's hook: at 1 MiB/s, 256 KiB is due a quarter of a
 * second after it was written, so the hook sleeps (the stat moves). Then
 * no more sleeps: once the next memtable is further along its fill than
 * half the flush's progress (the writes sped up); once hurried; closing;
 * or for a pace started hurried. */
static void test_flush_pace_hook(void)
{
    lsm_db *db = calloc(1, sizeof(*db));
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    atomic_store(&db->flush_rate, 1u << 20);
    lsm_flush_pace p;
    dk__lsm_flush_pace_init(&p, db, 64u << 20);
    dk__lsm_flush_pace_write(&p, 256u << 10);
    uint64_t slept = atomic_load(&db->st_flush_paced_us);
    CU_ASSERT_TRUE(slept > 0);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_pace_lifts), 0);
    /* The next memtable 10 % full, the flush at 0.4 %: behind. */
    atomic_store(&db->mem_fill_pm, 100);
    for (int i = 0; i < 100; i++)
        dk__lsm_flush_pace_write(&p, 1u << 20);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_paced_us), slept);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_pace_lifts), 1);
    /* A fresh table, the next memtable empty: paced again. */
    atomic_store(&db->mem_fill_pm, 0);
    dk__lsm_flush_pace_init(&p, db, 64u << 20);
    dk__lsm_flush_pace_write(&p, 256u << 10);
    CU_ASSERT_TRUE(atomic_load(&db->st_flush_paced_us) > slept);
    slept = atomic_load(&db->st_flush_paced_us);
    atomic_store(&db->flush_hurry, 1);
    for (int i = 0; i < 100; i++)
        dk__lsm_flush_pace_write(&p, 1u << 20);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_paced_us), slept);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_pace_lifts), 2);
    dk__lsm_flush_pace_init(&p, db, 64u << 20);
    CU_ASSERT_EQUAL(p.pace.rate, 0);
    atomic_store(&db->flush_hurry, 0);
    atomic_store(&db->closing, 1);
    dk__lsm_flush_pace_init(&p, db, 64u << 20);
    CU_ASSERT_EQUAL(p.pace.rate, 0);
    dk__lsm_flush_pace_write(&p, 100u << 20);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_paced_us), slept);
    free(db);
}

/* In an engine: the first switch since open has no fill time (no pace);
 * a switch made by writes sets a pace from how fast its memtable filled;
 * a flush() (a forced switch) lifts it, returns once the table is out,
 * and nothing is lost. */
static void test_flush_pace_engine(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    tl_host_reset();
    dk_fake_host_set_option(&th, "codec", "none");
    dk_fake_host_set_option(&th, "memtable_jitter", "0");
    lsm_db *db = tl_open_conf(env, dir, 64 * 1024);
    dk_engine *e = &db->base;
    int n = 0;
    tl_put_until(db, &n, tl_stat(db, "lsm_wal_switches_total") + 1, 100000);
    CU_ASSERT_EQUAL(db->flush_pace, 1);               /* the default */
    CU_ASSERT_EQUAL(atomic_load(&db->flush_rate), 0); /* first switch: fill time unknown */
    pthread_mutex_lock(&db->mu);
    CU_ASSERT_TRUE(db->mem_born_us > 0);
    pthread_mutex_unlock(&db->mu);
    tl_put_until(db, &n, tl_stat(db, "lsm_wal_switches_total") + 1, 200000);
    CU_ASSERT_TRUE(atomic_load(&db->flush_rate) > 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(e), 0);
    CU_ASSERT_EQUAL(atomic_load(&db->flush_rate), 0);
    CU_ASSERT_EQUAL(atomic_load(&db->flush_hurry), 1);
    pthread_mutex_lock(&db->mu);
    CU_ASSERT_PTR_NULL(db->imm);
    pthread_mutex_unlock(&db->mu);
    CU_ASSERT_EQUAL(tl_missing(db, n, 0), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* flush_pace = false: memtables switched by writes leave no pace. */
static void test_flush_pace_off(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    tl_host_reset();
    dk_fake_host_set_option(&th, "codec", "none");
    dk_fake_host_set_option(&th, "flush_pace", "false");
    lsm_db *db = tl_open_conf(env, dir, 64 * 1024);
    CU_ASSERT_EQUAL(db->flush_pace, 0);
    int n = 0;
    tl_put_until(db, &n, 3, 300000);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_switches_total"), 3);
    CU_ASSERT_EQUAL(atomic_load(&db->flush_rate), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
    tl_host_reset();
}

/* ---- compaction_nice, flush_nice ------------------------------------------ */

/* Open with the two options set; returns the rc and, on success, the
 * engine in *out. */
static int tp_open_nice(const char *dir, lsm_env *env, const char *cn, const char *fn, lsm_db **out)
{
    tl_host_reset();
    if (cn)
        dk_fake_host_set_option(&th, "compaction_nice", cn);
    if (fn)
        dk_fake_host_set_option(&th, "flush_nice", fn);
    dk_engine_conf conf = {.struct_size = sizeof(conf), .path = dir};
    dk_engine *e = NULL;
    int rc = dk__lsm_open_env(&th.host, &conf, env, &e);
    *out = (lsm_db *)e;
    return rc;
}

/* The nice value of this process's thread named `name` (-100: none). */
static int tp_thread_nice(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int nice = -100;
    while (d && (de = readdir(d))) {
        char path[300], comm[64] = "", stat[1024];
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        if (strcmp(comm, name))
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        if ((f = fopen(path, "r")) && fgets(stat, sizeof(stat), f)) {
            /* Field 19 is the nice value; count from after the comm's ')'. */
            const char *p = strrchr(stat, ')');
            int field = 2;
            while (p && *p && field < 19)
                if (*p++ == ' ')
                    field++;
            if (p)
                nice = atoi(p);
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return nice;
}

/* Values out of 0..19 are refused with the key named; valid ones are
 * taken, and the flush and compaction threads run at the node's nice
 * value plus theirs. */
static void test_nice_options(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    lsm_db *db;
    CU_ASSERT_EQUAL(tp_open_nice(dir, env, "20", NULL, &db), DK_ECONFIG);
    CU_ASSERT_PTR_NULL(db);
    CU_ASSERT_PTR_NOT_NULL(strstr(dk_fake_host_conf_error(&th), "compaction_nice"));
    CU_ASSERT_EQUAL(tp_open_nice(dir, env, NULL, "-1", &db), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(dk_fake_host_conf_error(&th), "flush_nice"));
    CU_ASSERT_EQUAL(tp_open_nice(dir, env, "ten", NULL, &db), DK_ECONFIG);

    /* Defaults: compaction 10, flush 0. */
    CU_ASSERT_EQUAL_FATAL(tp_open_nice(dir, env, NULL, NULL, &db), 0);
    CU_ASSERT_EQUAL(db->compaction_nice, 10);
    CU_ASSERT_EQUAL(db->flush_nice, 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);

    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    CU_ASSERT_EQUAL_FATAL(errno, 0);
    CU_ASSERT_EQUAL_FATAL(tp_open_nice(dir, env, "3", "2", &db), 0);
    CU_ASSERT_EQUAL(db->compaction_nice, 3);
    CU_ASSERT_EQUAL(db->flush_nice, 2);
    /* The threads set their priority first thing: wait until they ran. */
    int cn = -100, fn = -100;
    for (int i = 0; i < 5000 && (cn != base + 3 || fn != base + 2); i++) {
        usleep(1000);
        cn = tp_thread_nice("lsm-compact");
        fn = tp_thread_nice("lsm-flush");
    }
    CU_ASSERT_EQUAL(cn, base + 3 > 19 ? 19 : base + 3);
    CU_ASSERT_EQUAL(fn, base + 2 > 19 ? 19 : base + 2);
    /* The caller's own thread is left as it was. */
    CU_ASSERT_EQUAL(getpriority(PRIO_PROCESS, 0), base);
    /* And the engine works at those priorities. */
    tl_fill(db, 500, 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    char k[32], v[160];
    tl_key(k, 499);
    tl_val(v, 499, 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* ---- tables written back as they are written ------------------------------ */

/* The fault env's ops with append, appendv and writeback recorded. */
static lsm_env_ops tp_ops;
static const lsm_env_ops *tp_real;
static uint64_t tp_off, tp_writebacks, tp_bad_writeback, tp_last_wb;

static int tp_append(lsm_wfile *f, const void *p, size_t n)
{
    tp_off += n;
    return tp_real->append(f, p, n);
}

static int tp_appendv(lsm_wfile *f, const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++)
        tp_off += iov[i].iov_len;
    return tp_real->appendv(f, iov, n);
}

static int tp_writeback(lsm_wfile *f, uint64_t len)
{
    tp_writebacks++;
    /* Exactly what is written so far, at least one interval past the
     * previous call. */
    if (len != tp_off || len < tp_last_wb + 4096)
        tp_bad_writeback++;
    tp_last_wb = len;
    return tp_real->writeback(f, len);
}

/* Entries of odd sizes, some larger than the 4 KiB writeback interval:
 * the builder starts the writeback of what it wrote every interval (the
 * incremental syncs that keep a table's dirty pages short), and the
 * table reads back byte for byte. */
static void test_table_writeback(void)
{
    lsm_env *env = dk__lsm_env_fault(7);
    tp_real = tl_wrap_ops(env, &tp_ops);
    tp_ops.append = tp_append;
    tp_ops.appendv = tp_appendv;
    tp_ops.writeback = tp_writeback;
    tp_off = tp_writebacks = tp_bad_writeback = tp_last_wb = 0;

    lsm_tb_opts o = {.bits_per_key = 10, .writeback_bytes = 4096};
    lsm_table_builder *tb;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_open(env, "/c.sst", &o, &tb), 0);
    const int n = 300;
    static uint8_t val[20000];
    for (size_t i = 0; i < sizeof(val); i++)
        val[i] = (uint8_t)(i * 131 + (i >> 7));
    uint8_t kb[64];
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key%06d", i);
        size_t len = (size_t)(i * 7919) % sizeof(val); /* 0 .. 19999 bytes */
        dk_slice v = {val + i % 50, len < sizeof(val) - 50 ? len : sizeof(val) - 50};
        CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_add(tb, lsm_ikey_make(kb, tl_str(k), 10, LSM_TYPE_VALUE), v), 0);
    }
    uint64_t size = 0;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_finish(tb, NULL, &size), 0);
    CU_ASSERT_EQUAL(size, tp_off);
    CU_ASSERT_EQUAL(tp_bad_writeback, 0);
    /* About one per interval (a block larger than it counts once). */
    CU_ASSERT_TRUE(tp_writebacks > size / 4096 / 4);
    CU_ASSERT_TRUE(tp_writebacks <= size / 4096);

    lsm_codecs *codecs = NULL;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_codecs_new(&th.host, &codecs), 0);
    lsm_cache *cache = dk__lsm_cache_new(1 << 20);
    lsm_table *t;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_table_open(env, "/c.sst", 1, cache, codecs, &th.host, &t), 0);
    lsm_iter *it = dk__lsm_table_iter(t);
    int i = 0, bad = 0;
    for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++) {
        char k[32];
        snprintf(k, sizeof(k), "key%06d", i);
        size_t len = (size_t)(i * 7919) % sizeof(val);
        dk_slice want = {val + i % 50, len < sizeof(val) - 50 ? len : sizeof(val) - 50};
        dk_slice got = it->ops->value(it);
        bad += lsm_ucmp(lsm_ikey_user(it->ops->key(it)), tl_str(k)) != 0 || got.len != want.len ||
               (got.len && memcmp(got.ptr, want.ptr, got.len) != 0);
    }
    CU_ASSERT_EQUAL(it->ops->status(it), 0);
    it->ops->destroy(it);
    CU_ASSERT_EQUAL(i, n);
    CU_ASSERT_EQUAL(bad, 0);
    dk__lsm_table_close(t);
    dk__lsm_cache_free(cache);
    dk__lsm_codecs_free(codecs);
    env->ops = tp_real;
    env->ops->destroy(env);
}

/* The flush's lines, in thousandths of the next memtable's fill: the pace
 * keeps the flush LSM_FLUSH_PACE_SPEEDUP times as far along its table as
 * that memtable is along its fill, above the WAL-yield line and the lift
 * line (LSM_FLUSH_BEHIND_PM), and done by 1000 / SPEEDUP of the fill, before
 * writers hurry it (LSM_FLUSH_HURRY_PM). Then the lift line itself: 9 MiB
 * of a 64 MiB table (14 %) with the next memtable 10 % full is ahead of it
 * (paced, no lift; the old line of twice as far lifted here), and behind
 * it once that memtable is 12 % full. */
static void test_flush_pace_lines(void)
{
    CU_ASSERT_TRUE(LSM_FLUSH_PACE_SPEEDUP * 1000u > LSM_FLUSH_BEHIND_PM);
    CU_ASSERT_TRUE(LSM_FLUSH_BEHIND_PM > 1000u);
    CU_ASSERT_TRUE(1000u / LSM_FLUSH_PACE_SPEEDUP < LSM_FLUSH_HURRY_PM);
    CU_ASSERT_TRUE(LSM_FLUSH_HURRY_PM < 1000u);
    lsm_db *db = calloc(1, sizeof(*db));
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    atomic_store(&db->flush_rate, 64u << 20); /* 9 MiB: ~0.12 s past the pace's credit */
    atomic_store(&db->mem_fill_pm, 100);
    lsm_flush_pace p;
    dk__lsm_flush_pace_init(&p, db, 64u << 20);
    dk__lsm_flush_pace_write(&p, 9u << 20);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_pace_lifts), 0);
    CU_ASSERT_TRUE(atomic_load(&db->st_flush_paced_us) > 0);
    CU_ASSERT_TRUE(p.pace.rate > 0);
    atomic_store(&db->mem_fill_pm, 120);
    dk__lsm_flush_pace_write(&p, 1024);
    CU_ASSERT_EQUAL(atomic_load(&db->st_flush_pace_lifts), 1);
    CU_ASSERT_EQUAL(p.pace.rate, 0);
    free(db);
}

static CU_TestInfo tp_tests[] = {
    {"pace_rate", test_pace_rate},
    {"pace_account", test_pace_account},
    {"pace_credit", test_pace_credit},
    {"pace_follows_l0", test_pace_follows_l0},
    {"pace_unlimited", test_pace_unlimited},
    {"rate_limit", test_rate_limit},
    {"rate_limit_lifted", test_rate_limit_lifted},
    {"flush_rate", test_flush_rate},
    {"flush_pace_hook", test_flush_pace_hook},
    {"flush_pace_lines", test_flush_pace_lines},
    {"flush_pace_engine", test_flush_pace_engine},
    {"flush_pace_off", test_flush_pace_off},
    {"nice_options", test_nice_options},
    {"table_writeback", test_table_writeback},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-pace", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = tp_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
