/*
 * test-lsm-yield.c - the flush's and compaction's writeback yields to the
 * WAL's fdatasync (io_yield.c). The wait itself on a fake clock: nothing
 * in flight means no wait, a sync in flight is waited out (and only that
 * one, not the next), a stuck one for at most the bound, and an urgent
 * caller not at all, and without an urgent() it sleeps once for all the
 * time there is. The real wait (a futex) wakes when the WAL side ends the
 * sync. The table builder asks before every writeback step
 * and before its final fsync, and with a sync in flight holds the step
 * until the sync has ended. In the engine: the WAL shows its fdatasync in
 * the gauge while it runs, a compaction behind a WAL sync that never ends
 * still finishes (each step gives up after the bound) and loses nothing,
 * wal_yield = false turns it off, and a compaction with level 0 at
 * LSM_PACE_L0_FREE runs does not wait at all. No assertion depends on how
 * fast the machine is.
 */
#include "test-lsm-host.h"

#include "env_fault.h"
#include "io_yield.h"
#include "pace.h"
#include "table.h"

#include <errno.h>

/* ---- the wait, on a fake clock ------------------------------------------ */

/* A fake clock whose wait advances it by all the time asked for and,
 * at the end of the end_after-th wait, ends the sync in flight (gauge to
 * `next`: 0, or a later sync's start). */
typedef struct ty_clock {
    uint64_t now, asked;
    int sleeps, end_after, urgent_after;
    uint64_t next;
    lsm_wal_gauge *gauge;
} ty_clock;

static uint64_t ty_now(void *arg)
{
    return ((ty_clock *)arg)->now;
}

static int ty_sleep(void *arg, lsm_wal_gauge *g, uint64_t seen, uint64_t us)
{
    ty_clock *c = arg;
    CU_ASSERT_PTR_EQUAL(g, c->gauge);
    CU_ASSERT_EQUAL(atomic_load(&g->since), seen);
    CU_ASSERT_TRUE(us > 0);
    c->asked = us;
    c->now += us;
    if (++c->sleeps != c->end_after)
        return -ETIMEDOUT;
    atomic_store(&c->gauge->since, c->next);
    return 0;
}

static int ty_urgent(void *arg)
{
    ty_clock *c = arg;
    return c->urgent_after >= 0 && c->sleeps >= c->urgent_after;
}

static lsm_yield_result ty_wait(ty_clock *c, uint64_t gauge_now)
{
    static lsm_wal_gauge g;
    atomic_store(&g.since, gauge_now);
    c->gauge = &g;
    c->now = 1000;
    c->sleeps = 0;
    lsm_yield_env e = {.now_us = ty_now, .wait_us = ty_sleep, .urgent = ty_urgent, .arg = c};
    return dk__lsm_yield_wait(&g, 5000, &e);
}

static void test_wait_none(void)
{
    ty_clock c = {.end_after = -1, .urgent_after = -1};
    lsm_yield_result r = ty_wait(&c, 0);
    CU_ASSERT_EQUAL(r.waited, 0);
    CU_ASSERT_EQUAL(r.waited_us, 0);
    CU_ASSERT_EQUAL(c.sleeps, 0);
}

/* The sync in flight ends during the third wait (each for at most the
 * slice after which urgent() is asked again): the writer goes on at once. */
static void test_wait_until_end(void)
{
    ty_clock c = {.end_after = 3, .urgent_after = -1, .next = 0};
    lsm_yield_result r = ty_wait(&c, 77);
    CU_ASSERT_EQUAL(r.waited, 1);
    CU_ASSERT_EQUAL(r.timed_out, 0);
    CU_ASSERT_EQUAL(c.sleeps, 3);
    CU_ASSERT_EQUAL(c.asked, LSM_YIELD_URGENT_US);
    CU_ASSERT_EQUAL(r.waited_us, 3 * LSM_YIELD_URGENT_US);
}

/* The next sync started right after the one seen: that one is not waited
 * for (back-to-back syncs must not starve the writer). */
static void test_wait_one_sync_only(void)
{
    ty_clock c = {.end_after = 2, .urgent_after = -1, .next = 99};
    lsm_yield_result r = ty_wait(&c, 77);
    CU_ASSERT_EQUAL(r.waited, 1);
    CU_ASSERT_EQUAL(r.timed_out, 0);
    CU_ASSERT_EQUAL(c.sleeps, 2);
}

/* A sync that never ends: the writer gives up after the bound, exactly. */
static void test_wait_bounded(void)
{
    ty_clock c = {.end_after = -1, .urgent_after = -1};
    lsm_yield_result r = ty_wait(&c, 77);
    CU_ASSERT_EQUAL(r.waited, 1);
    CU_ASSERT_EQUAL(r.timed_out, 1);
    CU_ASSERT_EQUAL(r.waited_us, 5000);
    CU_ASSERT_EQUAL(c.sleeps, 5000 / LSM_YIELD_URGENT_US);
}

/* Urgent from the start: no wait; urgent on the way: the wait stops. */
static void test_wait_urgent(void)
{
    ty_clock c = {.end_after = -1, .urgent_after = 0};
    lsm_yield_result r = ty_wait(&c, 77);
    CU_ASSERT_EQUAL(r.waited, 0);
    CU_ASSERT_EQUAL(c.sleeps, 0);
    ty_clock d = {.end_after = -1, .urgent_after = 4};
    r = ty_wait(&d, 77);
    CU_ASSERT_EQUAL(r.waited, 1);
    CU_ASSERT_EQUAL(r.timed_out, 0);
    CU_ASSERT_EQUAL(d.sleeps, 4);
}

/* Without an urgent() there is nothing to look at meanwhile: one wait
 * for all the time there is. */
static void test_wait_one_sleep(void)
{
    static lsm_wal_gauge g;
    atomic_store(&g.since, 77);
    ty_clock c = {.now = 1000, .end_after = -1, .urgent_after = -1, .gauge = &g};
    lsm_yield_env e = {.now_us = ty_now, .wait_us = ty_sleep, .arg = &c};
    lsm_yield_result r = dk__lsm_yield_wait(&g, 5000, &e);
    CU_ASSERT_EQUAL(r.timed_out, 1);
    CU_ASSERT_EQUAL(c.sleeps, 1);
    CU_ASSERT_EQUAL(c.asked, 5000);
}

/* The real wait (a futex) wakes when the WAL ends the sync: a writer
 * that waits with a bound of a minute and no urgent() (so one sleep for
 * all of it) is woken once the WAL side ends the sync (its sleep did not
 * run out), and the sleeper count is back to 0. No time is asserted:
 * without the wake-up the sleep would end at its bound, timed out. */
typedef struct ty_waiter {
    lsm_wal_gauge *g;
    lsm_yield_result r;
    _Atomic int waits, timeouts;
} ty_waiter;

static int ty_real_wait(void *arg, lsm_wal_gauge *g, uint64_t seen, uint64_t us)
{
    ty_waiter *w = arg;
    atomic_fetch_add(&w->waits, 1);
    int rc = dk__lsm_yield_wait_us(NULL, g, seen, us);
    if (rc == -ETIMEDOUT)
        atomic_fetch_add(&w->timeouts, 1);
    return rc;
}

static void *ty_waiter_main(void *arg)
{
    ty_waiter *w = arg;
    lsm_yield_env e = {.now_us = dk__lsm_yield_now_us, .wait_us = ty_real_wait, .arg = w};
    w->r = dk__lsm_yield_wait(w->g, 60u * 1000000u, &e);
    return NULL;
}

static void test_wait_wakes_on_end(void)
{
    static lsm_wal_gauge g;
    dk__lsm_wal_gauge_begin(&g, 4242);
    /* Nobody ends it: a sleep of 1 ms runs out. */
    CU_ASSERT_EQUAL(dk__lsm_yield_wait_us(NULL, &g, 4243, 1000), -ETIMEDOUT);
    CU_ASSERT_EQUAL(atomic_load(&g.waiters), 0);
    ty_waiter w = {.g = &g};
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, ty_waiter_main, &w), 0);
    while (atomic_load(&g.waiters) == 0)
        usleep(1000);
    dk__lsm_wal_gauge_end(&g);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(w.r.waited, 1);
    CU_ASSERT_EQUAL(w.r.timed_out, 0);
    CU_ASSERT_TRUE(atomic_load(&w.waits) >= 1);
    CU_ASSERT_EQUAL(atomic_load(&w.timeouts), 0);
    CU_ASSERT_EQUAL(atomic_load(&g.waiters), 0);
    CU_ASSERT_EQUAL(atomic_load(&g.ends), 1);
    CU_ASSERT_EQUAL(atomic_load(&g.since), 0);
    /* A sync that ended before the sleep: no sleep at all. */
    CU_ASSERT_EQUAL(dk__lsm_yield_wait_us(NULL, &g, 4243, 60u * 1000000u), 0);
    CU_ASSERT_EQUAL(atomic_load(&g.waiters), 0);
}

/* ---- the table builder holds its steps ------------------------------------ */

static lsm_env_ops ty_ops;
static const lsm_env_ops *ty_real;
static lsm_wal_gauge ty_gauge;
static int ty_hooks, ty_writebacks, ty_final, ty_in_flight_io;

/* The "WAL sync" is in flight whenever the builder asks; the fake clock
 * ends it after two polls. */
static void ty_on_sync(void *arg)
{
    (void)arg;
    ty_hooks++;
    atomic_store(&ty_gauge.since, 1234567);
    ty_clock c = {.end_after = 2, .urgent_after = -1, .next = 0, .gauge = &ty_gauge};
    lsm_yield_env e = {.now_us = ty_now, .wait_us = ty_sleep, .urgent = ty_urgent, .arg = &c};
    lsm_yield_result r = dk__lsm_yield_wait(&ty_gauge, LSM_YIELD_MAX_US, &e);
    CU_ASSERT_EQUAL(r.waited, 1);
    CU_ASSERT_EQUAL(r.timed_out, 0);
}

static int ty_writeback(lsm_wfile *f, uint64_t len)
{
    ty_writebacks++;
    ty_in_flight_io += atomic_load(&ty_gauge.since) != 0;
    /* The hook ran right before this step. */
    CU_ASSERT_EQUAL(ty_hooks, ty_writebacks);
    return ty_real->writeback(f, len);
}

static int ty_sync(lsm_wfile *f, int data_only)
{
    ty_final++;
    ty_in_flight_io += atomic_load(&ty_gauge.since) != 0;
    CU_ASSERT_EQUAL(ty_hooks, ty_writebacks + 1);
    return ty_real->sync(f, data_only);
}

static void test_table_steps_wait(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    ty_real = tl_wrap_ops(env, &ty_ops);
    ty_ops.writeback = ty_writeback;
    ty_ops.sync = ty_sync;
    ty_hooks = ty_writebacks = ty_final = ty_in_flight_io = 0;
    lsm_tb_opts o = {.bits_per_key = 10, .writeback_bytes = 4096, .on_sync = ty_on_sync};
    lsm_table_builder *tb;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_open(env, "/y.sst", &o, &tb), 0);
    static uint8_t val[3000];
    memset(val, 'v', sizeof(val));
    uint8_t kb[64];
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key%06d", i);
        CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_add(tb, lsm_ikey_make(kb, tl_str(k), 10, LSM_TYPE_VALUE),
                                             (dk_slice){val, sizeof(val)}),
                              0);
    }
    uint64_t size = 0;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_tb_finish(tb, NULL, &size), 0);
    CU_ASSERT_TRUE(ty_writebacks >= 50); /* 300 KB at a 4 KiB interval */
    CU_ASSERT_EQUAL(ty_final, 1);
    CU_ASSERT_EQUAL(ty_hooks, ty_writebacks + 1);
    /* No step and no fsync was issued while the "WAL sync" was in flight. */
    CU_ASSERT_EQUAL(ty_in_flight_io, 0);
    env->ops = ty_real;
    env->ops->destroy(env);
}

/* ---- in the engine ---------------------------------------------------------- */

/* The WAL's fdatasync (data_only) runs with the gauge set. */
static lsm_db *ty_db;
static int ty_wal_syncs, ty_wal_syncs_unseen;

static int ty_sync_seen(lsm_wfile *f, int data_only)
{
    if (data_only && ty_db) {
        ty_wal_syncs++;
        ty_wal_syncs_unseen += atomic_load(&ty_db->wal_sync.since) == 0;
    }
    return ty_real->sync(f, data_only);
}

static void test_wal_sets_gauge(void)
{
    char dir[64], k[32], v[160];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    ty_real = tl_wrap_ops(env, &ty_ops);
    ty_ops.sync = ty_sync_seen;
    ty_wal_syncs = ty_wal_syncs_unseen = 0;
    tl_host_reset();
    int rc;
    ty_db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    for (int i = 0; i < 20; i++) {
        tl_key(k, i);
        tl_val(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(ty_db, k, v, 1), 0);
    }
    CU_ASSERT_TRUE(ty_wal_syncs >= 20);
    CU_ASSERT_EQUAL(ty_wal_syncs_unseen, 0);
    CU_ASSERT_EQUAL(atomic_load(&ty_db->wal_sync.since), 0); /* none in flight now */
    CU_ASSERT_EQUAL(tl_close(ty_db), 0);
    ty_db = NULL;
    env->ops = ty_real;
    tl_done(env, dir);
}

/* Three flushed tables, then a manual compaction while the gauge says a
 * WAL sync is in flight and never ends. */
static lsm_db *ty_compact_stuck(char *dir, lsm_env **env, const char *yield)
{
    tl_host_reset();
    dk_fake_host_set_option(&th, "table_writeback", "16KiB");
    dk_fake_host_set_option(&th, "wal_yield", yield);
    lsm_db *db = tl_start(dir, env, 0, "none");
    for (int g = 0; g < 3; g++) {
        tl_fill(db, 2000, g);
        CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    }
    tl_settle(db);
    uint64_t y0 = tl_stat(db, "lsm_wal_yields_total");
    CU_ASSERT_EQUAL(y0, 0); /* flush() hurries: its flushes never wait */
    atomic_store(&db->wal_sync.since, 4242424243u);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    atomic_store(&db->wal_sync.since, 0);
    CU_ASSERT_EQUAL(tl_missing(db, 2000, 2), 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_compaction_write_bytes_total") > 200 * 1024);
    return db;
}

static void test_compaction_stuck_wal(void)
{
    char dir[64];
    lsm_env *env;
    lsm_db *db = ty_compact_stuck(dir, &env, "true");
    CU_ASSERT_EQUAL(db->wal_yield, 1); /* the default */
    uint64_t y = tl_stat(db, "lsm_wal_yields_total");
    /* One per 16 KiB step of ~250 KB of output plus the final fsync. */
    CU_ASSERT_TRUE(y >= 10);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_yield_timeouts_total"), y);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_wal_yield_us_total") >= y * LSM_YIELD_MAX_US);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static void test_compaction_yield_off(void)
{
    char dir[64];
    lsm_env *env;
    lsm_db *db = ty_compact_stuck(dir, &env, "false");
    CU_ASSERT_EQUAL(db->wal_yield, 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_yields_total"), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* LSM_PACE_L0_FREE level-0 runs (made while the test holds compact_mu):
 * their merge does not wait for the stuck WAL sync at all. */
static void test_compaction_l0_no_wait(void)
{
    char dir[64];
    tl_host_reset();
    dk_fake_host_set_option(&th, "table_writeback", "16KiB");
    lsm_env *env;
    lsm_db *db = tl_start(dir, &env, 0, "none");
    pthread_mutex_lock(&db->compact_mu);
    tl_l0_runs(db, LSM_PACE_L0_FREE, 400);
    atomic_store(&db->wal_sync.since, 4242424243u);
    pthread_mutex_unlock(&db->compact_mu);
    tl_settle(db);
    CU_ASSERT_TRUE(tl_level0(db) < LSM_PACE_L0_FREE);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_compaction_write_bytes_total") > 200 * 1024);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_yields_total"), 0);
    atomic_store(&db->wal_sync.since, 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static CU_TestInfo ty_tests[] = {
    {"wait_none", test_wait_none},
    {"wait_until_end", test_wait_until_end},
    {"wait_one_sync_only", test_wait_one_sync_only},
    {"wait_bounded", test_wait_bounded},
    {"wait_urgent", test_wait_urgent},
    {"wait_one_sleep", test_wait_one_sleep},
    {"wait_wakes_on_end", test_wait_wakes_on_end},
    {"table_steps_wait", test_table_steps_wait},
    {"wal_sets_gauge", test_wal_sets_gauge},
    {"compaction_stuck_wal", test_compaction_stuck_wal},
    {"compaction_yield_off", test_compaction_yield_off},
    {"compaction_l0_no_wait", test_compaction_l0_no_wait},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-yield", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = ty_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
