/*
 * test-lsm-window.c - the group-commit window of the LSM's WAL thread
 * ([engine.lsm] group_commit_window_us, group_commit_siblings), on the
 * fault env, scripted step by step rather than timed:
 *
 * - the two keys are validated by the host (range, type) and reach the
 *   engine; 0 turns the window off;
 * - a writer alone (each write waits for its callback before the next)
 *   never waits, whatever the window;
 * - writers that arrive while the WAL thread waits join its group: one
 *   fdatasync for all, none completed before it, and the early end (as
 *   many queued as were in flight during the previous group) closes the
 *   window the moment the last of them is queued;
 * - a crash inside the window (the first writer's record appended, two
 *   more queued, nothing synced) loses only writes never acknowledged:
 *   every earlier acknowledged write is there after the reboot, the
 *   window's writers all report the failure, and what they left is
 *   nothing or a prefix of them (a torn tail may keep the appended one);
 * - a full disk inside the window refuses the whole group, the record
 *   appended before the window included.
 * - a synchronous leader waits in the window too: its writers return
 *   only after the one fdatasync, which the third writer (synchronous or
 *   asynchronous) brings forward; a crash inside its window fails all
 *   three and loses only what was never acknowledged.
 * - group_commit_enough: a group that already holds that many writers
 *   does not wait, and a window ends once the queue holds that many
 *   (even with no early end of its own).
 *
 * The window is held open by setting the engine's fields directly (60 s,
 * past the option's 100 ms ceiling): the test ends it by queueing the
 * writer that completes the group, or by closing the engine, never by a
 * clock, so no assertion depends on timing.
 */
#include "test-lsm-util.h"
#include "util/errors.h"

#include "env_fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static dk_fake_host wh;

/* The crash makes the close's I/O fail, as intended: keep quiet. */
static void wn_quiet(const dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);
static void wn_quiet(const dk_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}


/* Asynchronous writes and their outcomes (-1000: no callback yet). */
#define WN_MAX 64
typedef struct wn_async {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int rc[WN_MAX], calls;
    char key[WN_MAX][16], val[WN_MAX][32];
    dk_batch_op op[WN_MAX];
    dk_batch b[WN_MAX];
} wn_async;
static wn_async wa;
typedef struct wn_slot {
    int i;
} wn_slot;
static wn_slot wn_slots[WN_MAX];

static int wn_init(void)
{
    dk_fake_host_init(&wh);
    wh.host.log = wn_quiet;
    pthread_mutex_init(&wa.mu, NULL);
    pthread_cond_init(&wa.cv, NULL);
    return 0;
}
static int wn_clean(void)
{
    dk_fake_host_destroy(&wh);
    return 0;
}

/* Forget the outcomes (no write in flight). */
static void wn_reset(void)
{
    for (int i = 0; i < WN_MAX; i++)
        wa.rc[i] = -1000;
    wa.calls = 0;
}

/* The engine's thread: write i's outcome. */
static void wn_cb(void *arg, int status)
{
    wn_slot *s = arg;
    pthread_mutex_lock(&wa.mu);
    wa.rc[s->i] = status;
    wa.calls++;
    pthread_cond_broadcast(&wa.cv);
    pthread_mutex_unlock(&wa.mu);
}

/* Queue write i (key "k<i>", value "v<i>", synced) through write_async. */
static int wn_write(lsm_db *db, int i)
{
    snprintf(wa.key[i], sizeof wa.key[i], "k%02d", i);
    snprintf(wa.val[i], sizeof wa.val[i], "v%02d", i);
    wa.op[i] = (dk_batch_op){.type = DK_BATCH_PUT, .key = tl_str(wa.key[i]), .value = tl_str(wa.val[i])};
    wa.b[i] = (dk_batch){&wa.op[i], 1};
    wn_slots[i].i = i;
    return dk__lsm_engine_ops.write_async(&db->base, &wa.b[i], 1, wn_cb, &wn_slots[i]);
}

static void wn_wait_calls(int n)
{
    pthread_mutex_lock(&wa.mu);
    while (wa.calls < n)
        pthread_cond_wait(&wa.cv, &wa.mu);
    pthread_mutex_unlock(&wa.mu);
}

static int wn_calls(void)
{
    pthread_mutex_lock(&wa.mu);
    int n = wa.calls;
    pthread_mutex_unlock(&wa.mu);
    return n;
}

/* Wait until the env counted more than p0 mutating calls: the WAL
 * thread appended the first record of its group (nothing else does I/O
 * in these tests meanwhile). Polls; the bound only stops a hung test. */
static void wn_wait_points(lsm_env *env, uint64_t p0)
{
    for (int i = 0; i < 60000 && dk__lsm_fault_points(env) <= p0; i++)
        usleep(500);
    CU_ASSERT_TRUE_FATAL(dk__lsm_fault_points(env) > p0);
}

/* Hold every window open for 60 s (the test ends it), for any group.
 * size and after: the previous group's writers and those that arrived
 * during its fdatasync, the early end's count (both 0: none). Under mu,
 * before the writes that need it. */
static void wn_window(lsm_db *db, uint64_t size, uint64_t after)
{
    pthread_mutex_lock(&db->mu);
    db->gc_window_us = 60u * 1000000u;
    db->gc_siblings = 0;
    db->gc_size = size;
    db->gc_after = after;
    pthread_mutex_unlock(&db->mu);
}

/* Both keys are the host's to check, with the node's messages; valid
 * values reach the engine. */
static void test_options(void)
{
    struct {
        const char *key, *value, *want;
    } bad[] = {
        {"group_commit_window_us", "100001",
         "group_commit_window_us=100001: expected an integer in 0..100000"},
        {"group_commit_window_us", "-1", "group_commit_window_us=-1: expected an integer in 0..100000"},
        {"group_commit_window_us", "1ms", "group_commit_window_us=1ms: expected an integer in 0..100000"},
        {"group_commit_siblings", "1001", "group_commit_siblings=1001: expected an integer in 0..1000"},
        {"group_commit_siblings", "some", "group_commit_siblings=some: expected an integer in 0..1000"},
        {"group_commit_enough", "100001", "group_commit_enough=100001: expected an integer in 0..100000"},
        {"group_commit_enough", "-2", "group_commit_enough=-2: expected an integer in 0..100000"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dk_fake_host_reset(&wh);
        wh.host.log = wn_quiet;
        CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, bad[i].key, bad[i].value), 0);
        lsm_env *env = dk__lsm_env_fault(1);
        int rc;
        lsm_db *db = tl_open(&wh, env, "/db", 0, "none", &rc);
        CU_ASSERT_EQUAL(rc, DK_ECONFIG);
        CU_ASSERT_PTR_NULL(db);
        const char *msg = dk_fake_host_conf_error(&wh);
        if (!strstr(msg, bad[i].want))
            fprintf(stderr, "%s=%s: got '%s'\n", bad[i].key, bad[i].value, msg);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad[i].want));
        env->ops->destroy(env);
    }
    /* Defaults, then values set. */
    dk_fake_host_reset(&wh);
    wh.host.log = wn_quiet;
    lsm_env *env = dk__lsm_env_fault(1);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(db->gc_window_us, (uint64_t)atoi(LSM_DEFAULT_GC_WINDOW));
    CU_ASSERT_EQUAL(db->gc_siblings, (uint64_t)atoi(LSM_DEFAULT_GC_SIBLINGS));
    CU_ASSERT_EQUAL(db->gc_enough, (uint64_t)atoi(LSM_DEFAULT_GC_ENOUGH));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_window_us", "250"), 0);
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_siblings", "0"), 0);
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_enough", "0"), 0);
    db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(db->gc_window_us, 250);
    CU_ASSERT_EQUAL(db->gc_siblings, 0);
    CU_ASSERT_EQUAL(db->gc_enough, 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
    dk_fake_host_reset(&wh);
    wh.host.log = wn_quiet;
}

/* One writer at a time never waits, even with siblings 1 and the
 * longest window; with the window off (0) no burst waits either. */
static void test_alone_never_waits(void)
{
    lsm_env *env = dk__lsm_env_fault(2);
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_window_us", "100000"), 0);
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_siblings", "1"), 0);
    lsm_db *db = tl_open_db(&wh, env, 0);
    wn_reset();
    for (int i = 0; i < 40; i++) {
        CU_ASSERT_EQUAL_FATAL(wn_write(db, i), 0);
        wn_wait_calls(i + 1);
        CU_ASSERT_EQUAL(wa.rc[i], 0);
    }
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_waits_total"), 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_syncs_total"), 40);
    CU_ASSERT_EQUAL(tl_close(db), 0);

    /* Window off: 40 writes queued at once (siblings 0 would wait). */
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_window_us", "0"), 0);
    CU_ASSERT_EQUAL(dk_fake_host_set_option(&wh, "group_commit_siblings", "0"), 0);
    db = tl_open_db(&wh, env, 0);
    wn_reset();
    for (int i = 0; i < 40; i++)
        CU_ASSERT_EQUAL_FATAL(wn_write(db, i), 0);
    wn_wait_calls(40);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_waits_total"), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
    dk_fake_host_reset(&wh);
    wh.host.log = wn_quiet;
}

/* Writes 0, 1 and 2 into a window that holds: 0 is appended and waits,
 * 1 joins it and still nothing is answered or synced; 2 ends the window
 * and all three are answered after one fdatasync. */
static void wn_three_in_one_sync(lsm_db *db, lsm_env *env)
{
    uint64_t syncs0 = tl_stat(db, "lsm_wal_syncs_total");
    uint64_t p0 = dk__lsm_fault_points(env);
    CU_ASSERT_EQUAL_FATAL(wn_write(db, 0), 0);
    wn_wait_points(env, p0); /* appended, waiting */
    CU_ASSERT_EQUAL_FATAL(wn_write(db, 1), 0);
    CU_ASSERT_EQUAL(wn_calls(), 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_syncs_total"), syncs0);
    CU_ASSERT_EQUAL_FATAL(wn_write(db, 2), 0);
    wn_wait_calls(3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(wa.rc[i], 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_syncs_total"), syncs0 + 1);
}

/* Writers that arrive during the window join the group: none is answered
 * before the one fdatasync that covers all three; the third ends the
 * window because three were in flight last time, two in the previous
 * group and one arriving during its fdatasync (the early end). A reboot
 * right after keeps every one of them. */
static void test_window_group(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "before", "acked", 1), 0);
    wn_reset();
    wn_window(db, 2, 1);
    uint64_t groups0 = tl_stat(db, "lsm_write_groups_total");
    /* With two of the three queued (the previous group's size alone) the
     * window holds. */
    wn_three_in_one_sync(db, env);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_write_groups_total"), groups0 + 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_waits_total"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_early_ends_total"), 1);
    /* Stop every later I/O now, then reboot: only the synced survives. */
    tl_crash_reboot(env, db, 1);
    db = tl_open_db(&wh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "before", "acked"));
    CU_ASSERT_TRUE(tl_has(db, "k00", "v00"));
    CU_ASSERT_TRUE(tl_has(db, "k01", "v01"));
    CU_ASSERT_TRUE(tl_has(db, "k02", "v02"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

/* group_commit_enough = 3 in a window that has no early end of its own
 * (wn_window(db, 0, 0)) and lasts 60 s: write 0 waits in it, write 1
 * joins and nothing is answered; write 2 makes the queue three long and
 * ends the window: one fdatasync for the three, counted as an early end.
 * Then group_commit_enough = 1: a write never waits (its group holds one
 * writer), though the window is as long as before. */
static void test_enough(void)
{
    lsm_env *env = dk__lsm_env_fault(8);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "before", "acked", 1), 0);
    wn_reset();
    wn_window(db, 0, 0);
    pthread_mutex_lock(&db->mu);
    db->gc_enough = 3;
    pthread_mutex_unlock(&db->mu);
    uint64_t syncs0 = tl_stat(db, "lsm_wal_syncs_total");
    wn_three_in_one_sync(db, env);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_waits_total"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_early_ends_total"), 1);

    pthread_mutex_lock(&db->mu);
    db->gc_enough = 1;
    pthread_mutex_unlock(&db->mu);
    for (int i = 3; i < 6; i++) {
        CU_ASSERT_EQUAL_FATAL(wn_write(db, i), 0);
        wn_wait_calls(i + 1);
        CU_ASSERT_EQUAL(wa.rc[i], 0);
    }
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_waits_total"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_syncs_total"), syncs0 + 4);
    tl_crash_reboot(env, db, 1);
    db = tl_open_db(&wh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "before", "acked"));
    for (int i = 0; i < 6; i++)
        CU_ASSERT_TRUE(tl_has(db, wa.key[i], wa.val[i]));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

/* After a crash: keys k1 and k2 (never appended) are not there, and the
 * recovered engine takes and keeps a new synced write; then closed and
 * gone. */
static void wn_lost_then_on(lsm_env *env, lsm_db *db, const char *k1, const char *k2)
{
    dk_buf v = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, k1, &v), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(tl_get(db, k2, &v), DK_ENOTFOUND);
    dk_buf_free(&v);
    CU_ASSERT_EQUAL(tl_put(db, "after", "crash", 1), 0);
    CU_ASSERT_TRUE(tl_has(db, "after", "crash"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

/* A synchronous writer on its own thread: tl_put(key, value, sync),
 * its outcome and whether it returned. */
typedef struct wn_sync {
    lsm_db *db;
    const char *key, *val;
    int rc;
    _Atomic int returned;
    pthread_t th;
} wn_sync;

static void *wn_sync_main(void *arg)
{
    wn_sync *w = arg;
    w->rc = tl_put(w->db, w->key, w->val, 1);
    atomic_store(&w->returned, 1);
    return NULL;
}

static void wn_sync_start(wn_sync *w, lsm_db *db, const char *key, const char *val)
{
    *w = (wn_sync){.db = db, .key = key, .val = val, .rc = -1000};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&w->th, NULL, wn_sync_main, w), 0);
}

/* In a window held open (wn_window(db, 2, 1)): synchronous writer A
 * leads, its record appended, and B queued behind it; A has not
 * returned. */
static void wn_sync_two(lsm_env *env, lsm_db *db, wn_sync *a, wn_sync *b)
{
    wn_window(db, 2, 1);
    uint64_t p0 = dk__lsm_fault_points(env);
    wn_sync_start(a, db, "sa", "1");
    wn_wait_points(env, p0); /* A appended, waiting */
    wn_sync_start(b, db, "sb", "2");
    /* B is queued once the queue holds two; poll (the bound only stops a
     * hung test). */
    for (int i = 0; i < 60000; i++) {
        pthread_mutex_lock(&db->mu);
        uint64_t n = db->wq_len;
        pthread_mutex_unlock(&db->mu);
        if (n >= 2)
            break;
        usleep(500);
    }
    CU_ASSERT_FALSE(atomic_load(&a->returned));
}

/* A synchronous leader waits in the window too (8 closed-loop writers
 * otherwise split into two alternating groups): writer A leads and
 * appends, B queues behind it; neither returns and nothing is synced
 * until the third write (through write_async, or synchronous when
 * third_sync) ends the window early; then one fdatasync covers all
 * three, and after a reboot all three are there. */
static void wn_sync_window(int third_sync)
{
    lsm_env *env = dk__lsm_env_fault(6 + (uint64_t)third_sync);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "before", "acked", 1), 0);
    wn_reset();
    uint64_t syncs0 = tl_stat(db, "lsm_wal_syncs_total"), groups0 = tl_stat(db, "lsm_write_groups_total");
    wn_sync a, b, c;
    wn_sync_two(env, db, &a, &b);
    CU_ASSERT_FALSE(atomic_load(&b.returned));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_syncs_total"), syncs0);
    if (third_sync) {
        wn_sync_start(&c, db, "k00", "v00");
        pthread_join(c.th, NULL);
        CU_ASSERT_EQUAL(c.rc, 0);
    } else {
        CU_ASSERT_EQUAL_FATAL(wn_write(db, 0), 0);
        wn_wait_calls(1);
        CU_ASSERT_EQUAL(wa.rc[0], 0);
    }
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    CU_ASSERT_EQUAL(a.rc, 0);
    CU_ASSERT_EQUAL(b.rc, 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_wal_syncs_total"), syncs0 + 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_write_groups_total"), groups0 + 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_waits_total"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_group_commit_early_ends_total"), 1);
    tl_crash_reboot(env, db, 1);
    db = tl_open_db(&wh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "before", "acked"));
    CU_ASSERT_TRUE(tl_has(db, "sa", "1"));
    CU_ASSERT_TRUE(tl_has(db, "sb", "2"));
    CU_ASSERT_TRUE(tl_has(db, "k00", "v00"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

static void test_sync_window_async_ends(void)
{
    wn_sync_window(0);
}
static void test_sync_window_sync_ends(void)
{
    wn_sync_window(1);
}

/* A crash inside a synchronous leader's window: A's record appended, B
 * queued, then the crash point is armed and C's arrival ends the window:
 * the append of B and C is the crash. All three are told they failed;
 * after the reboot the acknowledged write is there, B and C are not, A
 * only if a torn tail kept its unsynced record whole (tear). */
static void wn_sync_crash(int tear)
{
    lsm_env *env = dk__lsm_env_fault(60 + (uint64_t)tear);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0);
    wn_sync a, b, c;
    wn_sync_two(env, db, &a, &b);
    dk__lsm_fault_arm(env, 1, LSM_FAULT_CRASH);
    wn_sync_start(&c, db, "sc", "3");
    pthread_join(c.th, NULL);
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    CU_ASSERT_TRUE(dk__lsm_fault_fired(env));
    CU_ASSERT_NOT_EQUAL(a.rc, 0);
    CU_ASSERT_NOT_EQUAL(b.rc, 0);
    CU_ASSERT_NOT_EQUAL(c.rc, 0);
    tl_close(db);
    dk__lsm_fault_crash(env, tear);
    db = tl_open_db(&wh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tear || !tl_has(db, "sa", "1"));
    wn_lost_then_on(env, db, "sb", "sc");
}

static void test_sync_crash_inside_window(void)
{
    wn_sync_crash(0);
}
static void test_sync_crash_inside_window_torn(void)
{
    wn_sync_crash(1);
}

/* Writes 0, 1 and 2 in a window that has no early end and lasts until
 * the close: write 0's record appended, 1 and 2 queued behind it, no
 * fdatasync yet. */
static void wn_three_in_window(lsm_env *env, lsm_db *db)
{
    wn_reset();
    wn_window(db, 0, 0);
    uint64_t p0 = dk__lsm_fault_points(env);
    CU_ASSERT_EQUAL_FATAL(wn_write(db, 0), 0);
    wn_wait_points(env, p0);
    CU_ASSERT_EQUAL_FATAL(wn_write(db, 1), 0);
    CU_ASSERT_EQUAL_FATAL(wn_write(db, 2), 0);
}

/* The crash inside the window (tear: keep a random prefix of the unsynced
 * tail, or none): write 0's record appended, writes 1 and 2 queued, no
 * fdatasync yet. Closing ends the window; the next I/O (the append of 1
 * and 2) is the crash. */
static void wn_crash_inside(int tear)
{
    lsm_env *env = dk__lsm_env_fault(40 + (uint64_t)tear);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0);
    CU_ASSERT_EQUAL(tl_put(db, "b", "2", 1), 0);
    wn_three_in_window(env, db);
    CU_ASSERT_EQUAL(wn_calls(), 0); /* nobody acknowledged inside the window */
    dk__lsm_fault_arm(env, 1, LSM_FAULT_CRASH);
    tl_close(db);
    CU_ASSERT_TRUE(dk__lsm_fault_fired(env));
    /* Every writer of the window was told it failed, once. */
    CU_ASSERT_EQUAL(wn_calls(), 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_NOT_EQUAL(wa.rc[i], 0);
    dk__lsm_fault_crash(env, tear);
    db = tl_open_db(&wh, env, 0);
    /* The acknowledged writes survive... */
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tl_has(db, "b", "2"));
    /* ...and of the window's writes at most a prefix (write 0 was in the
     * file, unsynced: a torn tail may keep it whole); without a torn
     * tail none. 1 and 2 were never appended. */
    int has0 = tl_has(db, "k00", "v00");
    CU_ASSERT_TRUE(tear || !has0);
    wn_lost_then_on(env, db, "k01", "k02");
}

static void test_crash_inside_window(void)
{
    wn_crash_inside(0);
}
static void test_crash_inside_window_torn(void)
{
    wn_crash_inside(1);
}

/* The disk fills inside the window: the append of writes 1 and 2 fails
 * (half of it written) after write 0's record went in. The group is
 * refused as a whole, so the log is cut back to where the group began:
 * after a clean close and reopen none of the three is there, not even
 * write 0, whose record had been appended whole. */
static void test_full_inside_window(void)
{
    lsm_env *env = dk__lsm_env_fault(5);
    lsm_db *db = tl_open_db(&wh, env, 0);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0);
    wn_three_in_window(env, db);
    dk__lsm_fault_full(env, -ENOSPC);
    tl_close(db);
    CU_ASSERT_EQUAL(wn_calls(), 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(wa.rc[i], -ENOSPC);
    dk__lsm_fault_full(env, 0);
    db = tl_open_db(&wh, env, 0);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    dk_buf v = DK_BUF_INIT;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(tl_get(db, wa.key[i], &v), DK_ENOTFOUND);
    dk_buf_free(&v);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

static CU_TestInfo wn_tests[] = {
    {"options", test_options},
    {"alone_never_waits", test_alone_never_waits},
    {"window_group", test_window_group},
    {"enough", test_enough},
    {"crash_inside_window", test_crash_inside_window},
    {"crash_inside_window_torn", test_crash_inside_window_torn},
    {"full_inside_window", test_full_inside_window},
    {"sync_window_async_ends", test_sync_window_async_ends},
    {"sync_window_sync_ends", test_sync_window_sync_ends},
    {"sync_crash_inside_window", test_sync_crash_inside_window},
    {"sync_crash_inside_window_torn", test_sync_crash_inside_window_torn},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-window", .pInitFunc = wn_init, .pCleanupFunc = wn_clean, .pTests = wn_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
