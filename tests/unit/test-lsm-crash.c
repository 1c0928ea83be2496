/*
 * test-lsm-crash.c - crash at every I/O point of a workload.
 *
 * The workload (300 batches of puts and deletes over 40 keys, most of
 * them synced, through an 8 KiB memtable so it flushes and compacts, plus
 * an explicit flush and a compact_range) runs once on the fault env to
 * count its mutating I/O points (writes, fsyncs, renames, unlinks, ...).
 * Then, for every point p, a fresh in-memory env runs the same workload
 * armed to "crash" at p: that call and every later one fails. The engine
 * is closed, the env reboots (dropping whatever was not made durable,
 * every other time keeping a torn prefix of the unsynced tail), and the
 * engine reopens on it. The recovered contents must equal the state after
 * some prefix of the batches issued that includes every batch whose
 * synced write returned 0: no acknowledged batch lost, none half-applied,
 * nothing invented. The engine must then accept and keep a new write.
 *
 * The same runs again with the batches queued through write_async, up to
 * CR_WINDOW at a time (so the WAL thread commits them in groups): a
 * batch counts as acknowledged when its callback reported 0, every
 * callback must run exactly once, failures included. A third pass forces
 * the group-commit window on for every group (siblings 0, 500 µs), so
 * crash points fall inside windows too: after a group's first records
 * were appended and while more join, before the one fdatasync.
 *
 * A fourth pass (synchronous writes) sends every value of at least 100
 * bytes to blob files (blob_min_size, blob.h) with the GC cutoff at 100 %
 * (every compaction relocates the values of every blob file with garbage),
 * so crash points fall while blob files are written and synced at flush
 * and relocated by compaction; after each recovery no blob file may be
 * left that no table names (the engine's count equals the directory's).
 *
 * DK_LSM_CRASH_STRIDE=n tests every n-th point (default 1: all of them).
 */
#include "test-lsm-util.h"
#include "util/errors.h"

#include "env_fault.h"

#include <pthread.h>

#define CR_BATCHES 600
#define CR_KEYS 40
#define CR_WINDOW 8

static dk_fake_host ch;

/* Thousands of expected I/O errors: keep the log readable. */
static void cr_quiet(const dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);
static void cr_quiet(const dk_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static int cr_init(void)
{
    dk_fake_host_init(&ch);
    ch.host.log = cr_quiet;
    return 0;
}
static int cr_clean(void)
{
    dk_fake_host_destroy(&ch);
    return 0;
}

typedef struct cr_model {
    int present[CR_KEYS];
    char val[CR_KEYS][400];
} cr_model;

/* The ops of batch i, deterministic. Returns the op count. */
static size_t cr_batch(int i, dk_batch_op *ops, char keys[][16], char vals[][400])

{
    size_t n = 1 + (size_t)(i % 3);
    for (size_t j = 0; j < n; j++) {
        int k = (i * 7 + (int)j * 13) % CR_KEYS;
        snprintf(keys[j], 16, "k%02d", k);
        int pad = (i * 37 + (int)j * 11) % 300;
        snprintf(vals[j], 400, "v%d.%zu:%0*d", i, j, pad, i);
        ops[j].key = tl_str(keys[j]);
        if (i % 5 == 4 && j == 0) {
            ops[j].type = DK_BATCH_DELETE;
            ops[j].value = (dk_slice){NULL, 0};
        } else {
            ops[j].type = DK_BATCH_PUT;
            ops[j].value = tl_str(vals[j]);
        }
    }
    return n;
}

static void cr_apply(cr_model *m, int i)
{
    dk_batch_op ops[3];
    char keys[3][16], vals[3][400];
    size_t n = cr_batch(i, ops, keys, vals);
    for (size_t j = 0; j < n; j++) {
        int k = atoi(keys[j] + 1);
        m->present[k] = ops[j].type == DK_BATCH_PUT;
        if (m->present[k])
            memcpy(m->val[k], vals[j], sizeof(m->val[k]));
    }
}

/* Run the workload; returns how many batches were issued (the last may
 * have failed) and the index past the last synced, acknowledged one. */
static int cr_workload(lsm_db *db, int *synced_upto)
{
    *synced_upto = 0;
    for (int i = 0; i < CR_BATCHES; i++) {
        dk_batch_op ops[3];
        char keys[3][16], vals[3][400];
        dk_batch b = {ops, cr_batch(i, ops, keys, vals)};
        int sync = i % 4 != 3;
        int rc = dk__lsm_engine_ops.write(&db->base, &b, sync);
        if (rc)
            return i + 1;
        if (sync)
            *synced_upto = i + 1;
        if (i == CR_BATCHES / 2 && dk__lsm_engine_ops.flush(&db->base))
            return i + 1;
        if (i == 3 * CR_BATCHES / 4 &&
            dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}))
            return i + 1;
    }
    return CR_BATCHES;
}

/* The asynchronous workload: batches in flight and their outcomes. */
typedef struct cr_async {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending, calls, bad_calls;
    int rc[CR_BATCHES];
    int done[CR_BATCHES];
    /* each batch's memory stays put until its callback */
    dk_batch_op ops[CR_BATCHES][3];
    char keys[CR_BATCHES][3][16], vals[CR_BATCHES][3][400];
    dk_batch b[CR_BATCHES];
} cr_async;

typedef struct cr_slot {
    cr_async *a;
    int i;
} cr_slot;
static cr_slot cr_slots[CR_BATCHES];

/* The engine's thread: one batch's outcome. */
static void cr_async_cb(void *arg, int status)
{
    cr_slot *sl = arg;
    cr_async *a = sl->a;
    pthread_mutex_lock(&a->mu);
    a->calls++;
    if (a->done[sl->i]++)
        a->bad_calls++; /* a second callback for one batch */
    a->rc[sl->i] = status;
    a->pending--;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void cr_async_wait(cr_async *a, int upto)
{
    pthread_mutex_lock(&a->mu);
    while (a->pending > upto)
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

/* As cr_workload, through write_async with up to CR_WINDOW batches in
 * flight; *synced_upto is past the last synced batch acknowledged (the
 * recovered state must still include every batch before it: a queue
 * applies in order). *bad counts missing or repeated callbacks. */
static int cr_workload_async(lsm_db *db, int *synced_upto, int *bad)
{
    static cr_async a;
    memset(&a, 0, sizeof(a));
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    int issued = CR_BATCHES;
    for (int i = 0; i < CR_BATCHES; i++) {
        a.b[i] = (dk_batch){a.ops[i], cr_batch(i, a.ops[i], a.keys[i], a.vals[i])};
        cr_slots[i] = (cr_slot){&a, i};
        cr_async_wait(&a, CR_WINDOW - 1);
        pthread_mutex_lock(&a.mu);
        a.pending++;
        pthread_mutex_unlock(&a.mu);
        int rc = dk__lsm_engine_ops.write_async(&db->base, &a.b[i], i % 4 != 3, cr_async_cb, &cr_slots[i]);
        if (rc) {
            /* Refused: no callback will come. */
            pthread_mutex_lock(&a.mu);
            a.pending--;
            a.done[i] = 1;
            a.rc[i] = rc;
            pthread_mutex_unlock(&a.mu);
            issued = i + 1;
            break;
        }
        if (i == CR_BATCHES / 2 || i == 3 * CR_BATCHES / 4) {
            cr_async_wait(&a, 0);
            int frc = i == CR_BATCHES / 2 ? dk__lsm_engine_ops.flush(&db->base)
                                          : dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0},
                                                                             (dk_slice){NULL, 0});
            if (frc) {
                issued = i + 1;
                break;
            }
        }
    }
    cr_async_wait(&a, 0);
    *synced_upto = 0;
    *bad = a.bad_calls;
    for (int i = 0; i < issued; i++) {
        *bad += !a.done[i];
        if (a.done[i] && a.rc[i] == 0 && i % 4 != 3)
            *synced_upto = i + 1;
    }
    pthread_cond_destroy(&a.cv);
    pthread_mutex_destroy(&a.mu);
    return issued;
}

/* Read the whole engine into a model; -1 on a read error. */
static int cr_read(lsm_db *db, cr_model *m)
{
    memset(m, 0, sizeof(*m));
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    if (dk__lsm_engine_ops.iter_open(&db->base, &o, &it))
        return -1;
    dk_slice k, v;
    int rc;
    while ((rc = dk__lsm_engine_ops.iter_next(it, &k, &v)) == 0) {
        if (k.len != 3 || k.ptr[0] != 'k' || v.len >= 400) {
            rc = -1;
            break;
        }
        int i = (k.ptr[1] - '0') * 10 + (k.ptr[2] - '0');
        m->present[i] = 1;
        memcpy(m->val[i], v.ptr, v.len);
    }
    dk__lsm_engine_ops.iter_close(it);
    return rc == DK_EEOF ? 0 : -1;
}

static int cr_equal(const cr_model *a, const cr_model *b)
{
    for (int i = 0; i < CR_KEYS; i++) {
        if (a->present[i] != b->present[i])
            return 0;
        if (a->present[i] && strcmp(a->val[i], b->val[i]))
            return 0;
    }
    return 1;
}

/* The recovered state must be the state after k batches, synced <= k <= issued. */
static int cr_check(const cr_model *got, int synced, int issued)
{
    cr_model m;
    memset(&m, 0, sizeof(m));
    for (int i = 0; i < synced; i++)
        cr_apply(&m, i);
    for (int k = synced;; k++) {
        if (cr_equal(got, &m))
            return 1;
        if (k >= issued)
            return 0;
        cr_apply(&m, k);
    }
}

/* Open with table writeback every 256 bytes, so the crash points include
 * the writeback calls of flushes and compactions (the default 1 MiB
 * interval is never reached by this workload's small tables). Set before
 * the first write: the background threads read it only after taking the
 * mutex the write path releases. */
enum { CR_SYNC, CR_ASYNC, CR_WINDOWED, CR_BLOB };

static lsm_db *cr_open(lsm_env *env, int mode, int *rc)
{
    dk_fake_host_set_option(&ch, "blob_min_size", mode == CR_BLOB ? "100" : "0");
    dk_fake_host_set_option(&ch, "blob_gc_age_cutoff", "100");
    lsm_db *db = tl_open(&ch, env, "/db", 4096, "zstd", rc);
    if (db)
        db->writeback_bytes = 256;
    if (db && mode == CR_WINDOWED) {
        db->gc_window_us = 500;
        db->gc_siblings = 0;
    }
    return db;
}

/* The workload of the mode: synchronous writes, or write_async. */
static int cr_run(lsm_db *db, int async, int *synced_upto, int *bad)
{
    *bad = 0;
    return async ? cr_workload_async(db, synced_upto, bad) : cr_workload(db, synced_upto);
}

static void cr_every_crash_point(int mode)
{
    int async = mode != CR_SYNC && mode != CR_BLOB;
    /* Count the points of a clean run. */
    lsm_env *env = dk__lsm_env_fault(42);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    dk__lsm_fault_arm(env, 0, LSM_FAULT_CRASH);
    int rc, synced, bad_cb = 0, bad;
    lsm_db *db = cr_open(env, mode, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cr_run(db, async, &synced, &bad), CR_BATCHES);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(synced, CR_BATCHES - 1);
    /* The windowed pass must really wait inside groups. */
    uint64_t waits = tl_stat(db, "lsm_group_commit_waits_total");
    CU_ASSERT_TRUE(mode == CR_WINDOWED ? waits > 0 : 1);
    /* The blob pass must really write blob files and collect them. */
    CU_ASSERT_TRUE(mode == CR_BLOB ? tl_stat(db, "lsm_blob_flush_bytes_total") > 0 : 1);
    CU_ASSERT_TRUE(mode == CR_BLOB ? tl_stat(db, "lsm_blob_gc_records_total") > 0 : 1);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    uint64_t points = dk__lsm_fault_points(env);
    env->ops->destroy(env);
    /* The workload must really flush and compact, or the test proves little. */
    static const char *const names[] = {"write", "write_async", "write_async, window", "write, blob files"};
    fprintf(stderr, "%s: %llu points in a clean run (%llu windows)\n", names[mode],
            (unsigned long long)points, (unsigned long long)waits);
    CU_ASSERT_TRUE_FATAL(points > (async ? 300u : 1500u));

    const char *s = getenv("DK_LSM_CRASH_STRIDE");
    uint64_t stride = s && atoi(s) > 0 ? (uint64_t)atoi(s) : 1;
    int tested = 0, failed_open = 0, bad_state = 0, bad_after = 0, orphans = 0;
    /* Points past the clean run's count can still fire: background work
     * interleaves differently each run. */
    for (uint64_t p = 1; p <= points + 20; p += stride) {
        env = dk__lsm_env_fault(p);
        dk__lsm_fault_arm(env, p, LSM_FAULT_CRASH);
        int issued = 0;
        synced = 0;
        db = cr_open(env, mode, &rc);
        if (db) {
            issued = cr_run(db, async, &synced, &bad);
            bad_cb += bad;
            tl_close(db);
        }
        if (!dk__lsm_fault_fired(env)) {
            env->ops->destroy(env);
            continue;
        }
        tested++;
        dk__lsm_fault_crash(env, (int)(p & 1));
        db = cr_open(env, mode, &rc);
        if (!db) {
            if (failed_open++ < 3)
                fprintf(stderr, "crash point %llu: reopen failed: %s\n", (unsigned long long)p,
                        dk_strerror(rc));
            env->ops->destroy(env);
            continue;
        }
        cr_model got;
        if (cr_read(db, &got) || !cr_check(&got, synced, issued)) {
            if (bad_state++ < 3)
                fprintf(stderr,
                        "crash point %llu: recovered state is not a prefix covering the "
                        "%d synced batches (%d issued)\n",
                        (unsigned long long)p, synced, issued);
        }
        if ((uint64_t)tl_count_files(env, "/db", ".blob") != tl_stat(db, "lsm_blob_files") && orphans++ < 3)
            fprintf(stderr, "crash point %llu: %d blob files, the engine knows %llu\n", (unsigned long long)p,
                    tl_count_files(env, "/db", ".blob"), (unsigned long long)tl_stat(db, "lsm_blob_files"));
        /* The recovered engine takes and keeps a new synced write. */
        if (tl_put(db, "after", "crash", 1) || !tl_has(db, "after", "crash"))
            bad_after++;
        tl_close(db);
        env->ops->destroy(env);
    }
    fprintf(stderr, "%s: crash points: %llu in a clean run, %d crashed and recovered (stride %llu)\n",
            names[mode], (unsigned long long)points, tested, (unsigned long long)stride);
    /* The clean run's count varies by a few dozen with how flushes and
     * compactions interleave (2198-2230 seen; 1964 of 2033 fired under load 7
     * once the LSM gained a reaper thread), so allow a 10% shortfall.
     * With write_async the WAL thread's grouping depends on scheduling as
     * well: on a loaded 2-core machine one clean run counted 1146-1324
     * points and the crashed runs fired 89% of them; a clean run that
     * happened to make small groups (1266 points, the sanitizer pass's
     * units running beside it) once saw 79% fire, so allow 30%: the
     * check is that the crash loop reaches most points, and every point
     * that fired is checked in full either way. */
    CU_ASSERT_TRUE((uint64_t)tested * 100 >= points / stride * (async ? 70u : 90u));
    CU_ASSERT_EQUAL(failed_open, 0);
    CU_ASSERT_EQUAL(bad_state, 0);
    CU_ASSERT_EQUAL(bad_after, 0);
    CU_ASSERT_EQUAL(bad_cb, 0);
    CU_ASSERT_EQUAL(orphans, 0);
}

static void test_every_crash_point(void)
{
    cr_every_crash_point(CR_SYNC);
}
static void test_every_crash_point_async(void)
{
    cr_every_crash_point(CR_ASYNC);
}
static void test_every_crash_point_window(void)
{
    cr_every_crash_point(CR_WINDOWED);
}

static void test_every_crash_point_blob(void)
{
    cr_every_crash_point(CR_BLOB);
}

static CU_TestInfo cr_tests[] = {
    {"every_crash_point", test_every_crash_point},
    {"every_crash_point_async", test_every_crash_point_async},
    {"every_crash_point_window", test_every_crash_point_window},
    {"every_crash_point_blob", test_every_crash_point_blob},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-crash", .pInitFunc = cr_init, .pCleanupFunc = cr_clean, .pTests = cr_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
