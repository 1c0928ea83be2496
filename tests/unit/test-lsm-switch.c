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
    int rc;
    lsm_db *db = tl_open(&sh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0); /* seq 1 */
    uint64_t n = tl_next_number(db);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_put_log(env, n, 2, "b", "2", 1);
    tl_put_log(env, n + 1, 3, "c", "3", 0);
    dk_fake_host_reset(&sh);
    db = tl_open(&sh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
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
    db = tl_open(&sh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_TRUE(tl_has(db, "c", "3"));
    CU_ASSERT_TRUE(tl_has(db, "d", "4"));
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, "f", &b), DK_ENOTFOUND);
    dk_buf_free(&b);
    CU_ASSERT_TRUE(dk_fake_host_metric(&sh, "lsm_wal_bytes_dropped_total") > 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

/* ---- an engine through its switches ------------------------------------ */

#define SW_KEYS 400

typedef struct sw_run {
    lsm_env *env;
    lsm_db *db;
    int acked[SW_KEYS]; /* value length written and acknowledged, 0: none */
    int next;           /* next key index */
} sw_run;

static void sw_val(char *v, int i, int len)
{
    memset(v, 'a' + i % 26, (size_t)len);
    v[len] = '\0';
}

/* One synced put of key `next` with a value of len bytes. */
static void sw_put(sw_run *r, int len)
{
    char k[16], v[9000];
    CU_ASSERT_FATAL(r->next < SW_KEYS && len < (int)sizeof(v));
    snprintf(k, sizeof(k), "k%03d", r->next);
    sw_val(v, r->next, len);
    if (tl_put(r->db, k, v, 1) == 0)
        r->acked[r->next] = len;
    r->next++;
}

/* Synced puts of len bytes until the engine has made `switches` switches. */
static void sw_fill(sw_run *r, uint64_t switches, int len)
{
    while (tl_stat(r->db, "lsm_wal_switches_total") < switches)
        sw_put(r, len);
}

/* Wait until `flushes` flushes finished and the next log is prepared. */
static void sw_wait_prepared(sw_run *r, uint64_t flushes)
{
    for (;;) {
        pthread_mutex_lock(&r->db->mu);
        int ready = r->db->next_ready;
        pthread_mutex_unlock(&r->db->mu);
        if (ready && tl_stat(r->db, "lsm_flushes_total") >= flushes)
            return;
        usleep(1000);
    }
}

/* From now on every I/O fails, as if the machine had stopped. */
static void sw_crash(sw_run *r)
{
    dk__lsm_fault_arm(r->env, 1, LSM_FAULT_CRASH);
}

/* Close the crashed engine and reboot the env: only what was durable. */
static void sw_reboot(sw_run *r)
{
    tl_close(r->db);
    dk__lsm_fault_crash(r->env, 1);
}

/* Reopen after the reboot: every acknowledged write is there, nothing
 * counts as a dropped WAL tail, the logs left over (a prepared one among
 * them) are gone (the live log and the one prepared at open remain), and
 * the engine takes a new write. (The live log, when recycled, keeps its
 * old life's bytes after its records until close: read as a clean end,
 * wal.c.) */
static void sw_check(sw_run *r)
{
    dk_fake_host_reset(&sh);
    int rc;
    r->db = tl_open(&sh, r->env, "/db", 4096, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->db);
    int lost = 0;
    for (int i = 0; i < r->next; i++) {
        char k[16], v[9000];
        snprintf(k, sizeof(k), "k%03d", i);
        sw_val(v, i, r->acked[i]);
        lost += r->acked[i] && !tl_has(r->db, k, v);
    }
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&sh, "lsm_wal_bytes_dropped_total"), 0);
    CU_ASSERT_EQUAL(tl_count_files(r->env, "/db", ".log"), 2);
    sw_put(r, 10);
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

static void sw_start(sw_run *r, uint64_t seed)
{
    memset(r, 0, sizeof(*r));
    r->env = dk__lsm_env_fault(seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->env);
    int rc;
    dk_fake_host_reset(&sh);
    r->db = tl_open(&sh, r->env, "/db", 4096, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->db);
}

/* Every switch goes into a prepared log (the first into one prepared at
 * open, recovery.c), and a
 * crash between preparing a log and using it (the prepared file holds the
 * recycled log's old records, its name durable) loses nothing: recovery
 * reads it as an empty log and deletes it. */
static void test_prepared_log_unused_at_crash(void)
{
    sw_run r;
    sw_start(&r, 21);
    sw_fill(&r, 1, 300);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 1);
    sw_wait_prepared(&r, 1);
    sw_fill(&r, 2, 300);
    sw_wait_prepared(&r, 2);
    sw_fill(&r, 3, 300);
    sw_wait_prepared(&r, 3);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_total"), 3);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 3);
    /* Two logs now: the live one and the prepared one. */
    CU_ASSERT_EQUAL(tl_count_files(r.env, "/db", ".log"), 2);
    sw_crash(&r);
    sw_reboot(&r);
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
    sw_run r;
    sw_start(&r, 33);
    /* Log A: one 8000-byte record; switch 1 to B (prepared at open). */
    sw_put(&r, 8000);
    sw_fill(&r, 1, 200);
    sw_wait_prepared(&r, 1); /* C = A recycled */
    sw_fill(&r, 2, 200);     /* switch 2 into C */
    sw_wait_prepared(&r, 2); /* D = B recycled; C settled nothing yet */
    pthread_mutex_lock(&r.db->prev_mu);
    /* C's records end inside A's old record. */
    sw_fill(&r, 3, 200); /* switch 3 into D: C is the log to settle */
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 3);
    uint64_t c = r.db->prev.number;
    int before = r.next;
    for (int i = 0; i < 5; i++)
        sw_put(&r, 200);
    for (int i = before; i < r.next; i++)
        CU_ASSERT_EQUAL(r.acked[i], 200);
    sw_crash(&r);
    pthread_mutex_unlock(&r.db->prev_mu);
    sw_reboot(&r);
    /* The state the reboot left: C untrimmed, its stale bytes not on a
     * record boundary (the rest of A's record): a replay of a copy of it
     * stops before them and reads them as a clean end (wal.c), not as a
     * dropped tail. */
    char path[64], copy[64];
    snprintf(path, sizeof(path), "/db/%06llu.log", (unsigned long long)c);
    snprintf(copy, sizeof(copy), "/copy/%06llu.log", (unsigned long long)c);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(r.env, path, &data, &len), 0);
    lsm_wfile *f;
    CU_ASSERT_EQUAL(r.env->ops->mkdir(r.env, "/copy"), 0);
    CU_ASSERT_EQUAL_FATAL(r.env->ops->create(r.env, copy, &f), 0);
    CU_ASSERT_EQUAL(r.env->ops->append(f, data, len), 0);
    r.env->ops->close_w(f);
    free(data);
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
