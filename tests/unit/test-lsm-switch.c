/*
 * test-lsm-switch.c - the memtable switch off the write path (flush.c):
 * the flush thread prepares the next WAL, a switch only swaps into it, a
 * sync write after a switch does not wait for the old log's settle, and
 * recovery replays past the stale tail a recycled log keeps (nothing cuts
 * it any more: recovery.c). Crashes are modelled with the fault env: at the
 * chosen moment every later I/O fails, and the reboot keeps only what was
 * made durable.
 */
#include "test-lsm-util.h"
#include "util/errors.h"

#include "env_fault.h"

#include <pthread.h>
#include <unistd.h>

static dk_fake_host sh;
static int sw_init(void)
{
    dk_fake_host_init(&sh);
    return 0;
}
static int sw_clean(void)
{
    dk_fake_host_destroy(&sh);
    return 0;
}

/* A log whose tail does not replay, followed by a log that continues the
 * sequence: nothing was lost there (a recycled log's stale bytes that a
 * switch no longer waits to cut), so the next log is replayed and nothing
 * counts as dropped. Followed by a gap instead, the tail is a dropped
 * tail as before and the replay stops. */
static void test_replay_past_stale_tail(void)
{
    lsm_env *env = dk__lsm_env_fault(5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    lsm_db *db = tl_open_db(&sh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0); /* seq 1 */
    uint64_t n = tl_next_number(db);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_put_log(env, n, 2, "b", "2", 1);
    tl_put_log(env, n + 1, 3, "c", "3", 0);
    dk_fake_host_reset(&sh);
    db = tl_open_db(&sh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tl_has(db, "b", "2"));
    CU_ASSERT_TRUE(tl_has(db, "c", "3"));
    CU_ASSERT_EQUAL(dk_fake_host_metric(&sh, "lsm_wal_bytes_dropped_total"), 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_bytes_dropped_total"), 0);
    n = tl_next_number(db);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* Seq 5 is missing after the bad tail: 6 is not replayed. */
    tl_put_log(env, n, 4, "d", "4", 1);
    tl_put_log(env, n + 1, 6, "f", "6", 0);
    dk_fake_host_reset(&sh);
    db = tl_open_db(&sh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "c", "3"));
    CU_ASSERT_TRUE(tl_has(db, "d", "4"));
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, "f", &b), DK_ENOTFOUND);
    dk_buf_free(&b);
    CU_ASSERT_TRUE(dk_fake_host_metric(&sh, "lsm_wal_bytes_dropped_total") > 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

/* ---- an engine through its switches (tl_run, test-lsm-util.h) ---------- */

/* Reopen after the reboot: every acknowledged write is there, nothing
 * counts as a dropped WAL tail, the logs left over (a prepared one among
 * them) are gone (the live log and the one prepared at open remain), and
 * the engine takes a new write. (The live log, when recycled, keeps its
 * old life's bytes after its records until close: read as a clean end,
 * wal.c.) */
static void sw_check(tl_run *r)
{
    tl_run_reopen(r);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&sh, "lsm_wal_bytes_dropped_total"), 0);
    CU_ASSERT_EQUAL(tl_count_files(r->env, "/db", ".log"), 2);
    tl_run_put(r, 10);
    CU_ASSERT_EQUAL(r->acked[r->next - 1], 10);
    CU_ASSERT_EQUAL(tl_close(r->db), 0);
    r->env->ops->destroy(r->env);
}

static int sw_nop_cb(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n)
{
    (void)arg;
    (void)seq;
    (void)count;
    (void)ops;
    (void)n;
    return 0;
}

/* Every switch goes into a prepared log (the first into one prepared at
 * open, recovery.c), and a
 * crash between preparing a log and using it (the prepared file holds the
 * recycled log's old records, its name durable) loses nothing: recovery
 * reads it as an empty log and deletes it. */
static void test_prepared_log_unused_at_crash(void)
{
    tl_run r;
    tl_run_start(&r, &sh, 21);
    tl_run_fill(&r, 1, 300);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 1);
    tl_run_wait_prepared(&r, 1);
    tl_run_fill(&r, 2, 300);
    tl_run_wait_prepared(&r, 2);
    tl_run_fill(&r, 3, 300);
    tl_run_wait_prepared(&r, 3);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_total"), 3);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 3);
    /* Two logs now: the live one and the prepared one. */
    CU_ASSERT_EQUAL(tl_count_files(r.env, "/db", ".log"), 2);
    tl_crash_reboot(r.env, r.db, 1);
    sw_check(&r);
}

/* A sync write after a switch into a prepared log is acknowledged without
 * the old log's settle: the test holds prev_mu, so the flush thread's
 * settle (close the old log) cannot run, and
 * the writes go on (before this change the first synced group after a
 * switch settled, and would wait here for ever). Then a crash with the
 * old log still untrimmed: its stale tail does not end on a record
 * boundary, and every acknowledged write, those in the new log included,
 * comes back. */
static void test_sync_write_skips_settle(void)
{
    tl_run r;
    tl_run_start(&r, &sh, 33);
    /* Log A: one 8000-byte record; switch 1 to B (prepared at open). */
    tl_run_put(&r, 8000);
    tl_run_fill(&r, 1, 200);
    tl_run_wait_prepared(&r, 1); /* C = A recycled */
    tl_run_fill(&r, 2, 200);     /* switch 2 into C */
    tl_run_wait_prepared(&r, 2); /* D = B recycled; C settled nothing yet */
    pthread_mutex_lock(&r.db->prev_mu);
    /* C's records end inside A's old record. */
    tl_run_fill(&r, 3, 200); /* switch 3 into D: C is the log to settle */
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 3);
    uint64_t c = r.db->prev.number;
    int before = r.next;
    for (int i = 0; i < 5; i++)
        tl_run_put(&r, 200);
    for (int i = before; i < r.next; i++)
        CU_ASSERT_EQUAL(r.acked[i], 200);
    dk__lsm_fault_arm(r.env, 1, LSM_FAULT_CRASH);
    pthread_mutex_unlock(&r.db->prev_mu);
    tl_close(r.db);
    dk__lsm_fault_crash(r.env, 1);
    /* The state the reboot left: C untrimmed, its stale bytes not on a
     * record boundary (the rest of A's record): a replay of a copy of it
     * stops before them and reads them as a clean end (wal.c), not as a
     * dropped tail. */
    char copy[64];
    size_t len = tl_copy_log(r.env, c, copy);
    uint64_t dropped = 0, bad = 0;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(r.env, copy, sw_nop_cb, NULL, &dropped, &bad), 0);
    CU_ASSERT_TRUE(bad < len);
    CU_ASSERT_EQUAL(dropped, 0);
    sw_check(&r);
}

static CU_TestInfo sw_tests[] = {
    {"replay_past_stale_tail", test_replay_past_stale_tail},
    {"prepared_log_unused_at_crash", test_prepared_log_unused_at_crash},
    {"sync_write_skips_settle", test_sync_write_skips_settle},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-switch", .pInitFunc = sw_init, .pCleanupFunc = sw_clean, .pTests = sw_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
