/*
 * test-lsm-walend.c - where a WAL ends after a crash, and the log the
 * first switch goes into.
 *
 * A recycled log keeps its old life's bytes after its own records (only
 * close trims it, wal.c). When its records end inside an old record, a
 * replay meets the rest of that record first: those bytes are no torn
 * tail, and a crash right after a memtable switch (the old log untrimmed,
 * the new one still empty) must not report them as dropped. A record of
 * the log itself that was torn still is. And the engine prepares the log
 * of its first switch at open (recovery.c), so no switch waits for a file
 * create and a directory sync. Crashes are modelled with the fault env.
 */
#include "test-lsm-util.h"
#include "util/errors.h"

#include "env_fault.h"

#include <pthread.h>
#include <unistd.h>

static dk_fake_host eh;
static int we_init(void)
{
    dk_fake_host_init(&eh);
    return 0;
}
static int we_clean(void)
{
    dk_fake_host_destroy(&eh);
    return 0;
}

static int we_count_cb(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n)
{
    (void)seq;
    (void)count;
    (void)ops;
    (void)n;
    (*(int *)arg)++;
    return 0;
}

/* Records of log `number` with values of vlen bytes (a letter per log, so
 * that a torn record's missing bytes differ from the old life's; the first seq
 * seq0, one op each) appended to b; their end offsets into ends. */
static void we_encode(dk_buf *b, uint64_t number, uint64_t seq0, int nrec, size_t vlen, size_t *ends)
{
    char *v = malloc(vlen + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    memset(v, 'a' + (int)(number % 26), vlen);
    v[vlen] = '\0';
    for (int i = 0; i < nrec; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%04d", i);
        dk_batch_op op = {.type = DK_BATCH_PUT, .key = tl_str(k), .value = tl_str(v)};
        dk_batch batch = {&op, 1};
        CU_ASSERT_EQUAL(dk__lsm_wal_encode(b, number, seq0 + (uint64_t)i, &batch), 0);
        ends[i] = b->len;
    }
    free(v);
}

/* Log 5 holds ten 300-byte records; it is recycled as 9, and n records
 * of 200-byte values (torn: the last one cut to half) are written over
 * its start. Returns what a replay of 9 reports dropped; *replayed the
 * records it replayed. */
static uint64_t we_recycled_replay(int n, int torn, int *replayed)
{
    lsm_env *env = dk__lsm_env_fault(7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    size_t ends[10], ends2[16];
    lsm_wal w;
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, "/000005.log", &w), 0);
    we_encode(&b, 5, 1, 10, 300, ends);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, b.len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_reuse(env, "/000005.log", "/000009.log", &w), 0);
    dk_buf_reset(&b);
    we_encode(&b, 9, 11, n, 200, ends2);
    size_t len = torn ? ends2[n - 1] - (ends2[n - 1] - (n > 1 ? ends2[n - 2] : 0)) / 2 : b.len;
    /* The new records end inside an old one, not on its boundary. */
    for (int i = 0; i < 10; i++)
        CU_ASSERT_NOT_EQUAL(ends[i], len);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    *replayed = 0;
    uint64_t dropped = 99, bad = 99;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/000009.log", we_count_cb, replayed, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(bad, torn ? (n > 1 ? ends2[n - 2] : 0) : len); /* cut there */
    dk_buf_free(&b);
    env->ops->destroy(env);
    return dropped;
}

/* The old life's bytes after a recycled log's records, not on a record
 * boundary, are a clean end; a torn record of the log itself over them
 * is a dropped tail. */
static void test_recycled_stale_vs_torn(void)
{
    int replayed;
    CU_ASSERT_EQUAL(we_recycled_replay(4, 0, &replayed), 0);
    CU_ASSERT_EQUAL(replayed, 4);
    CU_ASSERT_EQUAL(we_recycled_replay(1, 0, &replayed), 0);
    CU_ASSERT_EQUAL(replayed, 1);
    /* Ending inside the old life's last record: no whole old one after. */
    CU_ASSERT_EQUAL(we_recycled_replay(13, 0, &replayed), 0);
    CU_ASSERT_EQUAL(replayed, 13);
    CU_ASSERT_TRUE(we_recycled_replay(13, 1, &replayed) > 0);
    CU_ASSERT_EQUAL(replayed, 12);
    CU_ASSERT_TRUE(we_recycled_replay(4, 1, &replayed) > 0);
    CU_ASSERT_EQUAL(replayed, 3);
    CU_ASSERT_TRUE(we_recycled_replay(1, 1, &replayed) > 0);
    CU_ASSERT_EQUAL(replayed, 0);
}

/* A fresh log torn mid-record (nothing of an older life after it) is a
 * dropped tail as before; so is a record damaged where its log number
 * is, with records of the log after it. */
static void test_fresh_torn(void)
{
    lsm_env *env = dk__lsm_env_fault(8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    size_t ends[3];
    lsm_wal w;
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, "/000007.log", &w), 0);
    we_encode(&b, 7, 1, 3, 100, ends);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, ends[2] - 30), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    int replayed = 0;
    uint64_t dropped = 0, bad = 0;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/000007.log", we_count_cb, &replayed, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(replayed, 2);
    CU_ASSERT_EQUAL(bad, ends[1]);
    CU_ASSERT_EQUAL(dropped, ends[2] - 30 - ends[1]);
    b.data[ends[0] + 9] ^= 0x40; /* record 1's log number */
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, "/000007.log", &w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, b.len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    replayed = 0;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/000007.log", we_count_cb, &replayed, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(replayed, 1);
    CU_ASSERT_EQUAL(bad, ends[0]);
    CU_ASSERT_EQUAL(dropped, ends[2] - ends[0]);
    dk_buf_free(&b);
    env->ops->destroy(env);
}

/* ---- an engine through its switches (tl_run, test-lsm-util.h) ---------- */

static int we_mem_full(tl_run *r)
{
    pthread_mutex_lock(&r->db->mu);
    int full = dk__lsm_sl_count(r->db->mem->sl) > 0 && dk__lsm_sl_used(r->db->mem->sl) >= r->db->mem_limit;
    pthread_mutex_unlock(&r->db->mu);
    return full;
}

/* The log of the first switch after open is there right after open, and
 * every switch goes into a prepared log. */
static void test_first_switch_prepared(void)
{
    tl_run r;
    tl_run_start(&r, &eh, 41);
    CU_ASSERT_EQUAL(tl_count_files(r.env, "/db", ".log"), 2);
    CU_ASSERT_EQUAL(r.db->next_ready, 1);
    tl_run_fill(&r, 1, 300);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 1);
    tl_run_wait_prepared(&r, 1);
    tl_run_fill(&r, 2, 300);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_switches_prepared_total"), 2);
    tl_run_wait_prepared(&r, 2);
    CU_ASSERT_EQUAL(tl_count_files(r.env, "/db", ".log"), 2);
    CU_ASSERT_EQUAL(tl_close(r.db), 0);
    /* Close deletes the prepared log: only the live one is left. */
    CU_ASSERT_EQUAL(tl_count_files(r.env, "/db", ".log"), 1);
    tl_run_reopen(&r);
    CU_ASSERT_EQUAL(tl_close(r.db), 0);
    r.env->ops->destroy(r.env);
}

/* A crash right after a switch, before anything reached the new log: the
 * old log, recycled, keeps stale bytes after its records that do not
 * start on a record boundary (the rest of its old life's last record),
 * and no log after it continues the sequence. Nothing was lost, and
 * nothing counts as dropped. */
static void test_crash_right_after_switch(void)
{
    tl_run r;
    tl_run_start(&r, &eh, 43);
    tl_run_put(&r, 8000);        /* log A: one 8000-byte record */
    tl_run_fill(&r, 1, 200);     /* switch 1 into B, prepared at open */
    tl_run_wait_prepared(&r, 1); /* C = A recycled */
    tl_run_fill(&r, 2, 200);     /* switch 2 into C */
    tl_run_wait_prepared(&r, 2); /* D = B recycled */
    while (!we_mem_full(&r))     /* C: a memtable of 200-byte values, inside A's record */
        tl_run_put(&r, 200);
    uint64_t c = r.db->wal.number;
    /* The next write switches into D, then its append fails: the crash. */
    dk__lsm_fault_arm(r.env, 1, LSM_FAULT_CRASH);
    tl_run_put(&r, 200);
    CU_ASSERT_EQUAL(r.acked[r.next - 1], 0);
    tl_close(r.db);
    dk__lsm_fault_crash(r.env, 0);
    /* C's stale bytes do not start on a record boundary: the replay meets
     * the rest of one of A's records (checked on a copy). */
    char path[64];
    size_t len = tl_copy_log(r.env, c, path);
    int replayed = 0;
    uint64_t dropped = 99, bad = 0;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(r.env, path, we_count_cb, &replayed, &dropped, &bad), 0);
    CU_ASSERT_TRUE(replayed > 0);
    CU_ASSERT_TRUE(bad < len); /* something after the records */
    CU_ASSERT_EQUAL(dropped, 0);
    tl_run_reopen(&r);
    CU_ASSERT_EQUAL(dk_fake_host_metric(&eh, "lsm_wal_bytes_dropped_total"), 0);
    CU_ASSERT_EQUAL(tl_stat(r.db, "lsm_wal_bytes_dropped_total"), 0);
    tl_run_put(&r, 10);
    CU_ASSERT_EQUAL(r.acked[r.next - 1], 10);
    CU_ASSERT_EQUAL(tl_close(r.db), 0);
    r.env->ops->destroy(r.env);
}

static CU_TestInfo we_tests[] = {
    {"recycled_stale_vs_torn", test_recycled_stale_vs_torn},
    {"fresh_torn", test_fresh_torn},
    {"first_switch_prepared", test_first_switch_prepared},
    {"crash_right_after_switch", test_crash_right_after_switch},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-walend", .pInitFunc = we_init, .pCleanupFunc = we_clean, .pTests = we_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
