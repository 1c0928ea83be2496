/*
 * test-lsm-store.c - a replica's non-blocking write is reported done only
 * once it is durable: the store's merge (dk_store_merge_start, what a
 * replica runs for PUT_REPLICA before it answers ACK) over the LSM engine
 * on the fault env.
 *
 * The copy is merged into an empty store; when its ready callback has run
 * (the moment the replica would send its ACK), the env is made to fail
 * every later I/O, the engine is closed and the env reboots, dropping
 * whatever was not synced. With [storage] sync on, the copy must be there
 * after a reopen, byte for byte. The control runs the same with sync off:
 * the copy is gone, which shows the crash does drop a write that was
 * completed without its fdatasync, so the first case can fail. The same
 * with the copy handed over in the memory it lies in, between other
 * bytes, as a received frame (dk_store_merge_start_held): the store takes
 * that memory for the absent key and stores exactly the copy; handed no
 * memory (an empty hold), it copies, so the caller may reuse the bytes.
 * And writes of distinct keys in flight at once rarely find their key's
 * stripe busy (which sends a write to a worker).
 */
#include "test-lsm-util.h"
#include "util/errors.h"

#include "env_fault.h"
#include "node/object.h"
#include "node/store.h"
#include "util/vv.h"

#include <pthread.h>
#include <semaphore.h>

static dk_fake_host sh;

/* The crash makes the close's WAL sync fail, as intended: keep quiet. */
static void ls_quiet(const dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);
static void ls_quiet(const dk_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static int ls_init(void)
{
    dk_fake_host_init(&sh);
    sh.host.log = ls_quiet;
    return 0;
}
static int ls_clean(void)
{
    dk_fake_host_destroy(&sh);
    return 0;
}

/* An encoded one-sibling object written by n1 with value v. */
static void ls_object(const char *v, dk_buf *out)
{
    dk_actor a = {.node = "n1", .incarnation = 1};
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL(dk_vv_set(&o.vv, &a, 1, 1000), 0);
    dk_sibling s = {.actor = a, .counter = 1, .write_time_ms = 1000, .value = tl_str(v)};
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &s), 0);
    dk_buf_reset(out);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, out), 0);
    dk_object_free(&o);
}

/* ready runs on the engine's WAL thread. */
static void ls_ready(void *arg)
{
    sem_post(arg);
}

/* Merge key=copy through the non-blocking path with the store's sync set
 * to `sync`, crash right after ready, reboot; 1 when the copy survived
 * byte for byte, 0 when the key is gone. */
static int ls_merge_then_crash(int sync, int held)
{
    lsm_env *env = dk__lsm_env_fault(5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    int rc;
    lsm_db *db = tl_open(&sh, env, "/db", 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* Something synced first, so the WAL holds a durable prefix. */
    CU_ASSERT_EQUAL(tl_put(db, "other", "x", 1), 0);
    dk_store_conf conf = {.engine = &db->base, .engine_ops = &dk__lsm_engine_ops, .sync = sync};
    snprintf(conf.actor.node, sizeof(conf.actor.node), "n2");
    conf.actor.incarnation = 1;
    dk_store *st;
    CU_ASSERT_EQUAL_FATAL(dk_store_open(&conf, &st), 0);
    dk_buf copy = DK_BUF_INIT;
    ls_object("the replica's copy", &copy);
    sem_t done;
    sem_init(&done, 0, 0);
    dk_store_wop *op = NULL;
    if (held == 1) {
        /* the copy between other bytes, as in a frame */
        dk_buf frame = DK_BUF_INIT;
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&frame, "header+key", 10), 0);
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&frame, copy.data, copy.len), 0);
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&frame, "trailer", 7), 0);
        dk_slice in = {frame.data + 10, copy.len};
        rc = dk_store_merge_start_held(st, tl_str("k"), in, &frame, ls_ready, &done, &op);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT(frame.data == NULL && frame.len == 0); /* taken: the key was absent */
        dk_buf_free(&frame);
    } else if (held == 2) {
        /* no memory handed over (an empty hold): the store copies, so the
         * caller may reuse the bytes at once */
        dk_buf src = DK_BUF_INIT, none = DK_BUF_INIT;
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&src, copy.data, copy.len), 0);
        rc = dk_store_merge_start_held(st, tl_str("k"), dk_buf_slice(&src), &none, ls_ready, &done, &op);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT(dk_store_wop_encoded(op).ptr != src.data); /* its own copy */
        memset(src.data, 'x', src.len);
        dk_buf_free(&src);
    } else {
        rc = dk_store_merge_start(st, tl_str("k"), dk_buf_slice(&copy), ls_ready, &done, &op);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
    }
    while (sem_wait(&done) != 0)
        ;
    /* The ACK would leave now: the machine dies with it. */
    dk__lsm_fault_arm(env, 1, LSM_FAULT_CRASH);
    CU_ASSERT_EQUAL(dk_store_write_finish(op, NULL, NULL), 0);
    dk_store_close(st);
    tl_close(db); /* its syncs fail: nothing more becomes durable */
    dk__lsm_fault_crash(env, 0);
    db = tl_open(&sh, env, "/db", 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    dk_buf got = DK_BUF_INIT;
    int survived = -1;
    rc = dk__lsm_engine_ops.get(&db->base, tl_str("k"), tl_sink, &got);
    if (rc == DK_ENOTFOUND)
        survived = 0;
    else if (rc == 0 && got.len == copy.len && memcmp(got.data, copy.data, copy.len) == 0)
        survived = 1;
    CU_ASSERT_TRUE(tl_has(db, "other", "x"));
    tl_close(db);
    dk_buf_free(&got);
    dk_buf_free(&copy);
    sem_destroy(&done);
    env->ops->destroy(env);
    return survived;
}

static void test_replica_merge_durable_before_ready(void)
{
    CU_ASSERT_EQUAL(ls_merge_then_crash(1, 0), 1);
}

static void test_replica_merge_unsynced_is_lost(void)
{
    CU_ASSERT_EQUAL(ls_merge_then_crash(0, 0), 0);
}

static void test_replica_merge_held_durable(void)
{
    CU_ASSERT_EQUAL(ls_merge_then_crash(1, 1), 1);
}

static void test_replica_merge_empty_hold_copies(void)
{
    CU_ASSERT_EQUAL(ls_merge_then_crash(1, 2), 1);
}

static void test_replica_merge_held_unsynced_is_lost(void)
{
    CU_ASSERT_EQUAL(ls_merge_then_crash(0, 1), 0);
}

/* A node at its PUT peak has some 50 writes of unrelated keys in flight,
 * each holding its key's stripe until durable; one that finds its stripe
 * busy goes to a worker (dk_store_merge_start says -EAGAIN). 256 writes of
 * distinct keys held in flight at once: with 1024 stripes ~30 of them
 * collide (this fails), with the store's 16384 ~2. The keys are fixed, so
 * the count is too. */
static void test_writes_in_flight_rarely_share_a_stripe(void)
{
    enum { N = 256 };
    lsm_env *env = dk__lsm_env_fault(7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    int rc;
    lsm_db *db = tl_open(&sh, env, "/db", 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    dk_store_conf conf = {.engine = &db->base, .engine_ops = &dk__lsm_engine_ops, .sync = 0};
    snprintf(conf.actor.node, sizeof(conf.actor.node), "n2");
    conf.actor.incarnation = 1;
    dk_store *st;
    CU_ASSERT_EQUAL_FATAL(dk_store_open(&conf, &st), 0);
    dk_buf copy = DK_BUF_INIT;
    ls_object("v", &copy);
    sem_t done;
    sem_init(&done, 0, 0);
    dk_store_wop **ops = calloc(N, sizeof(*ops));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    int started = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%04d", i);
        rc = dk_store_merge_start(st, tl_str(key), dk_buf_slice(&copy), ls_ready, &done, &ops[i]);
        if (rc == 0)
            started++;
        else
            CU_ASSERT_EQUAL(rc, -EAGAIN);
        busy += rc == -EAGAIN;
    }
    CU_ASSERT_EQUAL(started + busy, N);
    CU_ASSERT(busy <= 8);
    for (int i = 0; i < started; i++)
        while (sem_wait(&done) != 0)
            ;
    for (int i = 0; i < N; i++)
        if (ops[i])
            CU_ASSERT_EQUAL(dk_store_write_finish(ops[i], NULL, NULL), 0);
    free(ops);
    dk_store_close(st);
    tl_close(db);
    dk_buf_free(&copy);
    sem_destroy(&done);
    env->ops->destroy(env);
}

static CU_TestInfo ls_tests[] = {
    {"writes_in_flight_rarely_share_a_stripe", test_writes_in_flight_rarely_share_a_stripe},
    {"replica_merge_durable_before_ready", test_replica_merge_durable_before_ready},
    {"replica_merge_unsynced_is_lost", test_replica_merge_unsynced_is_lost},
    {"replica_merge_held_durable", test_replica_merge_held_durable},
    {"replica_merge_held_unsynced_is_lost", test_replica_merge_held_unsynced_is_lost},
    {"replica_merge_empty_hold_copies", test_replica_merge_empty_hold_copies},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-store", .pInitFunc = ls_init, .pCleanupFunc = ls_clean, .pTests = ls_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
