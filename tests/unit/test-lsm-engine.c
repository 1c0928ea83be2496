/*
 * test-lsm-engine.c - the LSM engine's reads and writes end to end
 * through its ops table: flushes and reopen, the built-in compaction,
 * snapshot iterators across flush and compaction, memory
 * bounds, reads during churn, record_filter drops (and when they must not
 * happen), whole-file drops, point reads over overlapping and disjoint
 * runs, and the non-blocking read. How the engine survives failed syncs,
 * a full disk and damaged files is in test-lsm-recovery.c; compaction's
 * rate limit and the background threads' priority in test-lsm-pace.c.
 */
#include "test-lsm-host.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

/* Many writes through a 64 KiB memtable: flushes, compactions, reopen. */
static void test_flush_reopen(void)
{
    char dir[64], k[32], v[160];
    lsm_env *env;
    int rc;
    lsm_db *db = tl_start(dir, &env, 64 * 1024, "zstd");
    const int N = 4000;
    for (int i = 0; i < N; i++) {
        tl_key(k, (i * 7919) % N);
        tl_val(v, (i * 7919) % N, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    for (int i = 0; i < N; i += 3) {
        tl_key(k, i);
        tl_val(v, i, 1);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    for (int i = 0; i < N; i += 5) {
        tl_key(k, i);
        CU_ASSERT_EQUAL(tl_del(db, k, i % 10 == 0), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_flushes_total") >= 5);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_files") >= 1);
    for (int pass = 0; pass < 2; pass++) {
        int bad = 0;
        dk_buf b = DK_BUF_INIT;
        for (int i = 0; i < N; i++) {
            tl_key(k, i);
            tl_val(v, i, i % 3 == 0);
            if (i % 5 == 0)
                bad += tl_get(db, k, &b) != DK_ENOTFOUND;
            else
                bad += !tl_has(db, k, v);
        }
        dk_buf_free(&b);
        CU_ASSERT_EQUAL(bad, 0);
        if (pass == 1) {
            /* Read amplification, just after a reopen (empty cache): every
             * lookup counted once, and the tables they probed and the
             * blocks they read from files counted too. */
            uint64_t blocks = tl_stat(db, "lsm_get_blocks_read_total");
            CU_ASSERT_EQUAL(tl_stat(db, "lsm_gets_total"), (uint64_t)N);
            CU_ASSERT_TRUE(tl_stat(db, "lsm_get_tables_total") >= (uint64_t)N / 2);
            CU_ASSERT_TRUE(blocks >= 1);
            CU_ASSERT_TRUE(tl_stat(db, "lsm_get_bytes_read_total") > blocks);
        }
        CU_ASSERT_EQUAL(tl_close(db), 0);
        db = tl_open(&th, env, dir, 64 * 1024, "none", &rc);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
    }
    /* Only the live WAL remains, and the one prepared for the first
     * switch (recovery.c); built-in compaction kept level 0 below
     * the point where writers are slowed (pace.h lets it grow to there
     * while the compaction thread, at a lower priority, waits for a core
     * on a loaded machine: 8 were seen under the sanitizers). */
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".log"), 2);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_l0_files") < LSM_L0_SLOWDOWN);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* The non-blocking read answers from the memtables, and from tables once
 * the blocks it needs are in memory; otherwise -EAGAIN, never a read. When
 * it answers, it answers as get() does. */
static void test_try_get(void)
{
    char dir[64], k[32], v[160];
    lsm_env *env;
    int rc;
    lsm_db *db = tl_start(dir, &env, 0, "none");
    tl_fill(db, 200, 0);
    dk_buf b = DK_BUF_INIT;
    tl_key(k, 17);
    tl_val(v, 17, 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str(k), tl_sink, &b), 0);
    CU_ASSERT_TRUE(b.len == strlen(v) && memcmp(b.data, v, b.len) == 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str("absent"), tl_sink, &b), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str(k), tl_sink, &b), DK_ENOTFOUND);
    /* From tables, with a cold cache after a reopen. */
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    tl_key(k, 42);
    tl_val(v, 42, 0);
    rc = dk__lsm_engine_ops.try_get(&db->base, tl_str(k), tl_sink, &b);
    CU_ASSERT_TRUE(rc == -EAGAIN || rc == 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.get(&db->base, tl_str(k), tl_sink, &b), 0);
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str(k), tl_sink, &b), 0);
    CU_ASSERT_TRUE(b.len == strlen(v) && memcmp(b.data, v, b.len) == 0);
    rc = dk__lsm_engine_ops.try_get(&db->base, tl_str("absent"), tl_sink, &b);
    CU_ASSERT_TRUE(rc == DK_ENOTFOUND || rc == -EAGAIN);
    tl_key(k, 17);
    rc = dk__lsm_engine_ops.try_get(&db->base, tl_str(k), tl_sink, &b);
    CU_ASSERT_TRUE(rc == DK_ENOTFOUND || rc == -EAGAIN);
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* An iterator keeps its snapshot while flushes and compactions replace
 * the tables under it. */
static void test_snapshot_across_compaction(void)
{
    char dir[64], k[32], v[160];
    lsm_env *env;
    lsm_db *db = tl_start(dir, &env, 32 * 1024, NULL);
    tl_fill(db, 1000, 0);
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    for (int i = 0; i < 1000; i++) {
        tl_key(k, i);
        if (i % 2)
            CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
        tl_val(v, i, 9);
        CU_ASSERT_EQUAL(tl_put(db, i % 2 ? "zz-new" : k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    dk_slice ik, iv;
    int n = 0, bad = 0;
    while (dk__lsm_engine_ops.iter_next(it, &ik, &iv) == 0) {
        tl_key(k, n);
        tl_val(v, n, 0);
        bad += ik.len != strlen(k) || memcmp(ik.ptr, k, ik.len) || iv.len != strlen(v) ||
               memcmp(iv.ptr, v, iv.len);
        n++;
    }
    CU_ASSERT_EQUAL(n, 1000);
    CU_ASSERT_EQUAL(bad, 0);
    dk__lsm_engine_ops.iter_close(it);
    /* A new iterator sees the new state: 500 keys plus "zz-new". */
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    n = 0;
    while (dk__lsm_engine_ops.iter_next(it, &ik, &iv) == 0)
        n++;
    CU_ASSERT_EQUAL(n, 501);
    dk__lsm_engine_ops.iter_close(it);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Writers outrunning the flush stall instead of growing memory: sampled
 * memtable bytes stay under two memtables (each at most its limit plus
 * one arena chunk). */
static void test_memory_bound(void)
{
    char dir[64], k[32], v[160];
    lsm_env *env;
    lsm_db *db = tl_start(dir, &env, 64 * 1024, "none");
    uint64_t peak = 0;
    for (int i = 0; i < 20000; i++) {
        tl_key(k, i);
        tl_val(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        if (i % 100 == 0) {
            uint64_t m = tl_stat(db, "lsm_memtable_bytes");
            if (m > peak)
                peak = m;
        }
    }
    fprintf(stderr, "memtable peak %llu bytes, stalled %llu us\n", (unsigned long long)peak,
            (unsigned long long)tl_stat(db, "lsm_write_stall_us_total"));
    CU_ASSERT_TRUE(peak <= 2 * (64 * 1024 + 256 * 1024 + 1024));
    CU_ASSERT_TRUE(tl_stat(db, "lsm_flushes_total") >= 20);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* ---- reads racing flushes and compactions --------------------------------- */

#define CH_KEYS 500
typedef struct ch_state {
    lsm_db *db;
    _Atomic int stop;
    _Atomic int errors;
} ch_state;

static void *ch_writer(void *arg)
{
    ch_state *c = arg;
    char k[32], v[160];
    for (int g = 1; g < 40 && !atomic_load(&c->stop); g++)
        for (int i = 0; i < CH_KEYS; i++) {
            tl_key(k, i);
            snprintf(v, sizeof(v), "%d:%0100d", g, i);
            if (tl_put(c->db, k, v, 0))
                atomic_fetch_add(&c->errors, 1);
        }
    atomic_store(&c->stop, 1);
    return NULL;
}

/* Point reads: every key is present and its generation never goes back. */
static void *ch_reader(void *arg)
{
    ch_state *c = arg;
    int seen[CH_KEYS] = {0};
    char k[32];
    dk_buf b = DK_BUF_INIT;
    unsigned r = 1;
    while (!atomic_load(&c->stop)) {
        r = r * 1103515245u + 12345u;
        int i = (int)(r >> 8) % CH_KEYS;
        tl_key(k, i);
        if (tl_get(c->db, k, &b) != 0) {
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        int g = atoi((const char *)b.data);
        if (g < seen[i])
            atomic_fetch_add(&c->errors, 1);
        seen[i] = g;
    }
    dk_buf_free(&b);
    return NULL;
}

/* Scans: every key once, in order, from one consistent snapshot. */
static void *ch_scanner(void *arg)
{
    ch_state *c = arg;
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    while (!atomic_load(&c->stop)) {
        dk_engine_iter *it;
        if (dk__lsm_engine_ops.iter_open(&c->db->base, &o, &it)) {
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        dk_slice k, v;
        int n = 0, rc;
        char want[32];
        while ((rc = dk__lsm_engine_ops.iter_next(it, &k, &v)) == 0) {
            tl_key(want, n++);
            if (k.len != strlen(want) || memcmp(k.ptr, want, k.len))
                atomic_fetch_add(&c->errors, 1);
        }
        if (rc != DK_EEOF || n != CH_KEYS)
            atomic_fetch_add(&c->errors, 1);
        dk__lsm_engine_ops.iter_close(it);
    }
    return NULL;
}

static void test_reads_during_churn(void)
{
    char dir[64], k[32], v[160];
    lsm_env *env;
    lsm_db *db = tl_start(dir, &env, 32 * 1024, NULL);
    for (int i = 0; i < CH_KEYS; i++) {
        tl_key(k, i);
        snprintf(v, sizeof(v), "0:%0100d", i);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    ch_state c = {.db = db};
    pthread_t t[4];
    pthread_create(&t[0], NULL, ch_writer, &c);
    pthread_create(&t[1], NULL, ch_reader, &c);
    pthread_create(&t[2], NULL, ch_reader, &c);
    pthread_create(&t[3], NULL, ch_scanner, &c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(atomic_load(&c.errors), 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_flushes_total") >= 10);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_compactions_total") >= 1);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* ---- a scripted policy and a filtering host ------------------------------ */

static int tp_mode; /* 0 none, 1 newest run alone to L1, 2 drop run tp_drop,
                                 3 every level-0 run alone to L1 (stays on) */
static uint64_t tp_drop;
static int tp_pick(dk_compaction_policy *p, const dk_run_view *view, dk_compaction_job *job)
{
    (void)p;
    if (tp_mode == 1 && view->count >= 2) { /* once both tables exist */
        for (size_t i = 0; i < view->count; i++)
            if (view->runs[i].level == 0 && !view->runs[i].busy) {
                tp_mode = 0;
                job->kind = DK_JOB_MERGE;
                job->output_level = 1;
                job->target_file_size = 0;
                job->inputs[0] = view->runs[i].id; /* L0 is newest first */
                job->n_inputs = 1;
                return 0;
            }
    }
    if (tp_mode == 3) {
        for (size_t i = 0; i < view->count; i++)
            if (view->runs[i].level == 0 && !view->runs[i].busy) {
                job->kind = DK_JOB_MERGE;
                job->output_level = 1;
                job->target_file_size = 0;
                job->inputs[0] = view->runs[i].id;
                job->n_inputs = 1;
                return 0;
            }
    }
    if (tp_mode == 2) {
        tp_mode = 0;
        job->kind = DK_JOB_DROP;
        job->inputs[0] = tp_drop;
        job->n_inputs = 1;
        return 0;
    }
    return DK_ENOTFOUND;
}
static const dk_compaction_ops tp_ops = {.struct_size = sizeof(dk_compaction_ops), .pick = tp_pick};

/* Values starting with 'X' are dead (expired). */
static int tf_filter(const dk_host *h, dk_slice key, dk_slice value, int64_t now_ms)
{
    (void)h;
    (void)key;
    (void)now_ms;
    return value.len && value.ptr[0] == 'X' ? DK_RECORD_DROP : DK_RECORD_KEEP;
}

static void te_wait_compactions(lsm_db *db, uint64_t n)
{
    for (int i = 0; i < 3000 && tl_stat(db, "lsm_compactions_total") < n;
         i++) /* 30 s: a bound, not a target */
        usleep(10000);
}

static void test_record_filter(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    dk_fake_host fh;
    dk_fake_host_init(&fh);
    fh.host.record_filter = tf_filter;
    dk_compaction_policy pol = {.host = &fh.host};
    dk_engine_conf conf = {
        .struct_size = sizeof(conf), .path = dir, .compaction = &tp_ops, .compaction_policy = &pol};
    dk_engine *e;
    tp_mode = 0;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_open_env(&fh.host, &conf, env, &e), 0);
    lsm_db *db = (lsm_db *)e;
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_put(db, "a", "old", 0), 0);
    CU_ASSERT_EQUAL(tl_put(db, "keep", "k", 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(e), 0);
    CU_ASSERT_EQUAL(tl_put(db, "a", "Xdead", 0), 0);
    CU_ASSERT_EQUAL(tl_put(db, "m", "Xdead", 0), 0);
    tp_mode = 1; /* compact only the newest table: "a" has an older version outside */
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(e), 0);
    te_wait_compactions(db, 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compactions_total"), 1);
    /* "m" had no older version: dropped. "a" must not fall back to "old". */
    CU_ASSERT_EQUAL(tl_get(db, "m", &b), DK_ENOTFOUND);
    CU_ASSERT_TRUE(tl_has(db, "a", "Xdead"));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_compaction_records_dropped_total"), 1);
    /* A full compaction sees both versions and drops the key for good. */
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(e, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    CU_ASSERT_EQUAL(tl_get(db, "a", &b), DK_ENOTFOUND);
    CU_ASSERT_TRUE(tl_has(db, "keep", "k"));
    /* A whole-file drop job removes the run named. */
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_files"), 1);
    pthread_mutex_lock(&db->mu);
    tp_drop = db->cur->files[0]->number;
    pthread_mutex_unlock(&db->mu);
    tp_mode = 2;
    CU_ASSERT_EQUAL(tl_put(db, "z", "z", 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(e), 0);
    te_wait_compactions(db, 3);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_files_dropped_total"), 1);
    CU_ASSERT_EQUAL(tl_get(db, "keep", &b), DK_ENOTFOUND);
    CU_ASSERT_TRUE(tl_has(db, "z", "z"));
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* The dropped table is gone from disk too. */
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".sst"), 1);
    dk_fake_host_destroy(&fh);
    tl_done(env, dir);
}

/* ---- point reads across run shapes -------------------------------------- */

#define RS_KEYS 200
static char rs_model[RS_KEYS][32]; /* "" = absent */

static int rs_check(lsm_db *db)
{
    char k[32];
    dk_buf b = DK_BUF_INIT;
    int bad = 0;
    for (int i = 0; i < RS_KEYS + 20; i++) {
        tl_key(k, i);
        int rc = tl_get(db, k, &b);
        if (i < RS_KEYS && rs_model[i][0])
            bad += rc != 0 || strcmp((const char *)b.data, rs_model[i]) != 0;
        else
            bad += rc != DK_ENOTFOUND;
    }
    bad += tl_get(db, "a", &b) != DK_ENOTFOUND;            /* below every run */
    bad += tl_get(db, "key-0000005x", &b) != DK_ENOTFOUND; /* between keys */
    dk_buf_free(&b);
    return bad;
}

/* Write keys [lo, hi) (deleting every del-th when del), flush; with
 * tp_mode 3 the new run then moves alone into level 1. */
static void rs_round(lsm_db *db, int lo, int hi, int gen, int del, uint64_t *compactions)
{
    char k[32];
    for (int i = lo; i < hi; i++) {
        tl_key(k, i);
        if (del && i % del == 0) {
            CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
            rs_model[i][0] = 0;
        } else {
            snprintf(rs_model[i], sizeof(rs_model[i]), "g%d-%d", gen, i);
            CU_ASSERT_EQUAL(tl_put(db, k, rs_model[i], 0), 0);
        }
    }
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    if (tp_mode == 3) {
        te_wait_compactions(db, ++*compactions);
        CU_ASSERT_EQUAL(tl_stat(db, "lsm_compactions_total"), *compactions);
    }
}

/* Point reads stay right whatever the run shape: level-1 runs that
 * overlap (a tiered shape: searched newest data first), level-1 runs that
 * do not (binary-searched), and level-0 runs above either, with newer
 * values and tombstones in both directions. */
static void test_point_read_run_shapes(void)
{
    for (int overlap = 1; overlap >= 0; overlap--) {
        char dir[64];
        tl_mkdtemp(dir);
        lsm_env *env = dk__lsm_env_posix();
        dk_compaction_policy pol = {.host = &th.host};
        dk_fake_host_set_option(&th, "codec", "none");
        dk_fake_host_set_option(&th, "compaction_rate_limit", "0");
        dk_engine_conf conf = {
            .struct_size = sizeof(conf), .path = dir, .compaction = &tp_ops, .compaction_policy = &pol};
        dk_engine *e;
        memset(rs_model, 0, sizeof(rs_model));
        tp_mode = 3;
        CU_ASSERT_EQUAL_FATAL(dk__lsm_open_env(&th.host, &conf, env, &e), 0);
        lsm_db *db = (lsm_db *)e;
        uint64_t comp = 0;
        for (int r = 0; r < 6; r++) {
            int lo = overlap ? r * 20 : r * 30, hi = overlap ? lo + 60 : lo + 20;
            rs_round(db, lo, hi, r, overlap && r == 3 ? 5 : 0, &comp);
        }
        pthread_mutex_lock(&db->mu);
        CU_ASSERT_EQUAL(dk__lsm_version_level_count(db->cur, 0), 0);
        CU_ASSERT_EQUAL(dk__lsm_version_level_count(db->cur, 1), 6);
        CU_ASSERT_EQUAL(db->cur->disjoint[1], !overlap);
        pthread_mutex_unlock(&db->mu);
        CU_ASSERT_EQUAL(rs_check(db), 0);
        /* Newer values and tombstones in level 0 over the level-1 runs. */
        tp_mode = 0;
        rs_round(db, 5, 15, 9, 3, &comp);
        rs_round(db, 40, 50, 10, 4, &comp);
        CU_ASSERT_EQUAL(tl_stat(db, "lsm_l0_files"), 2);
        CU_ASSERT_EQUAL(rs_check(db), 0);
        /* And again from a reopen (versions rebuilt from the manifest). */
        CU_ASSERT_EQUAL(tl_close(db), 0);
        CU_ASSERT_EQUAL_FATAL(dk__lsm_open_env(&th.host, &conf, env, &e), 0);
        db = (lsm_db *)e;
        CU_ASSERT_EQUAL(rs_check(db), 0);
        CU_ASSERT_EQUAL(tl_close(db), 0);
        tl_done(env, dir);
    }
}

static CU_TestInfo te_tests[] = {
    {"flush_reopen", test_flush_reopen},
    {"try_get", test_try_get},
    {"snapshot_across_compaction", test_snapshot_across_compaction},
    {"memory_bound", test_memory_bound},
    {"reads_during_churn", test_reads_during_churn},
    {"record_filter", test_record_filter},
    {"point_read_run_shapes", test_point_read_run_shapes},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-engine", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = te_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
