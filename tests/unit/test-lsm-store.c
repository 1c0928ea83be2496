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
#include "base/metrics.h"
#include "coord/merkle.h"
#include "node/object.h"
#include "node/store.h"
#include "node/store_int.h"
#include "util/vv.h"

#include "tc_resolve.h"

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

/* A non-blocking write started with rc (op, ready posting done): wait for
 * it and finish it; its outcome. */
static int ls_finish(int rc, dk_store_wop *op, sem_t *done)
{
    if (rc == 0) {
        while (sem_wait(done) != 0)
            ;
        rc = dk_store_write_finish(op, NULL, NULL);
    }
    sem_destroy(done);
    return rc;
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

/* What the store's write hook saw last. */
typedef struct ls_seen {
    dk_buf before, after;
    int calls;
} ls_seen;

static void ls_hook(void *arg, dk_slice key, dk_slice before, dk_slice after)
{
    (void)key;
    ls_seen *w = arg;
    dk_buf_reset(&w->before);
    dk_buf_reset(&w->after);
    CU_ASSERT_EQUAL(dk_buf_append(&w->before, before.ptr, before.len), 0);
    CU_ASSERT_EQUAL(dk_buf_append(&w->after, after.ptr, after.len), 0);
    w->calls++;
}

/* A one-sibling object by node with counter c at time t: value n bytes of
 * fill, vv {node: c} merged with {n1: 1} when over. */
static void ls_big(const char *node, uint64_t c, int64_t t, size_t n, char fill, int over, dk_buf *out)
{
    dk_actor a = {.incarnation = 1}, n1 = {.node = "n1", .incarnation = 1};
    snprintf(a.node, sizeof(a.node), "%s", node);
    dk_object o;
    dk_object_init(&o);
    if (over)
        CU_ASSERT_EQUAL(dk_vv_set(&o.vv, &n1, 1, 1000), 0);
    CU_ASSERT_EQUAL(dk_vv_set(&o.vv, &a, c, t), 0);
    uint8_t *v = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    memset(v, fill, n);
    dk_sibling s = {.actor = a, .counter = c, .write_time_ms = t, .value = {v, n}};
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &s), 0);
    dk_buf_reset(out);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, out), 0);
    dk_object_free(&o);
    free(v);
}

/* Merge copy into key through the non-blocking path and wait for it. */
static int ls_merge(dk_store *st, const char *key, const dk_buf *copy)
{
    sem_t done;
    sem_init(&done, 0, 0);
    dk_store_wop *op = NULL;
    int rc = dk_store_merge_start(st, tl_str(key), dk_buf_slice(copy), ls_ready, &done, &op);
    return ls_finish(rc, op, &done);
}

/* key's stored bytes, read from the engine into got: want, byte for byte,
 * an object of n_sib siblings. */
static void ls_expect(lsm_db *db, const char *key, const dk_buf *want, uint32_t n_sib, dk_buf *got)
{
    dk_buf_reset(got);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.get(&db->base, tl_str(key), tl_sink, got), 0);
    CU_ASSERT(got->len == want->len && memcmp(got->data, want->data, want->len) == 0);
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(got), &o, NULL, 0), 0);
    CU_ASSERT_EQUAL(o.n_sib, n_sib);
    dk_object_free(&o);
}

/* The engine (blob files for values of 4 KiB and more) on a fault env
 * that does not fail, the vclock resolver as a node loads it, and a store
 * over both, as node n2. */
typedef struct ls_head_env {
    lsm_env *env;
    lsm_db *db;
    dk_resolvers rs;
    dk_store *st;
} ls_head_env;

static void ls_head_open(ls_head_env *h, unsigned seed)
{
    memset(h, 0, sizeof(*h));
    h->env = dk__lsm_env_fault(seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->env);
    int rc;
    dk_fake_host_set_option(&sh, "blob_min_size", "4096");
    h->db = tl_open(&sh, h->env, "/db", 0, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(tr_host_open(), 0);
    CU_ASSERT_EQUAL_FATAL(tr_resolvers_open(&h->rs, "vclock"), 0);
    dk_store_conf conf = {
        .engine = &h->db->base, .engine_ops = &dk__lsm_engine_ops, .sync = 1, .resolvers = &h->rs};
    snprintf(conf.actor.node, sizeof(conf.actor.node), "n2");
    conf.actor.incarnation = 1;
    CU_ASSERT_EQUAL_FATAL(dk_store_open(&conf, &h->st), 0);
}

static void ls_head_close(ls_head_env *h)
{
    dk_store_close(h->st);
    tr_resolvers_close(&h->rs);
    tr_host_close();
    tl_close(h->db);
    h->env->ops->destroy(h->env);
}

/* Flush, then read key twice with reads that may block: the table's
 * blocks and the value enter the block cache (a value from its second
 * read on), so the loop's non-blocking reads answer from memory on the
 * fault env. The value read is left in *got. */
static void ls_flush_warm(lsm_db *db, const char *key, dk_buf *got)
{
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.flush(&db->base), 0);
    for (int i = 0; i < 2; i++) {
        dk_buf_reset(got);
        CU_ASSERT_EQUAL(dk__lsm_engine_ops.get(&db->base, tl_str(key), tl_sink, got), 0);
    }
}

/* A replica copy that supersedes a stored large value (in a blob file
 * after a flush) is judged from the stored object's head and stored as
 * it came: the result is the copy, the write hook gets the old object's
 * header, whose Merkle item is the whole old object's. A concurrent copy
 * is merged from the whole object (two siblings), and the same copy again
 * changes nothing. */
static void test_replica_merge_judged_from_head(void)
{
    ls_head_env h;
    ls_head_open(&h, 9);
    ls_seen seen = {DK_BUF_INIT, DK_BUF_INIT, 0};
    dk_store_set_hook(h.st, ls_hook, &seen);
    dk_buf v1 = DK_BUF_INIT, v2 = DK_BUF_INIT, other = DK_BUF_INIT, got = DK_BUF_INIT;
    ls_big("n1", 1, 1000, 10240, 'a', 0, &v1);
    ls_big("n2", 1, 2000, 10240, 'b', 1, &v2);    /* written over v1 */
    ls_big("n3", 1, 3000, 10240, 'c', 0, &other); /* concurrent with both */
    CU_ASSERT_EQUAL_FATAL(ls_merge(h.st, "k", &v1), 0);
    ls_flush_warm(h.db, "k", &got);
    uint64_t heads = dk_metrics_get("store_head_merges_total");
    CU_ASSERT_EQUAL_FATAL(ls_merge(h.st, "k", &v2), 0);
    CU_ASSERT_EQUAL(dk_metrics_get("store_head_merges_total"), heads + 1);
    dk_buf_reset(&got);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.get(&h.db->base, tl_str("k"), tl_sink, &got), 0);
    CU_ASSERT(got.len == v2.len && memcmp(got.data, v2.data, v2.len) == 0);
    CU_ASSERT_EQUAL(seen.calls, 2);
    CU_ASSERT(seen.before.len == DK_OBJECT_HEADER_SIZE &&
              memcmp(seen.before.data, v1.data, seen.before.len) == 0);
    dk_token t = dk_ring_key_token((const uint8_t *)"k", 1);
    CU_ASSERT_EQUAL(dk_merkle_item(t, dk_buf_slice(&seen.before)), dk_merkle_item(t, dk_buf_slice(&v1)));
    CU_ASSERT_NOT_EQUAL(dk_merkle_item(t, dk_buf_slice(&v1)), 0);
    /* concurrent: merged from the whole object, both values kept */
    CU_ASSERT_EQUAL_FATAL(ls_merge(h.st, "k", &other), 0);
    CU_ASSERT_EQUAL(dk_metrics_get("store_head_merges_total"), heads + 1);
    dk_object o;
    dk_object_init(&o);
    dk_buf_reset(&got);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.get(&h.db->base, tl_str("k"), tl_sink, &got), 0);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&got), &o, NULL, 0), 0);
    CU_ASSERT_EQUAL(o.n_sib, 2);
    CU_ASSERT(seen.before.len == v2.len); /* the whole object */
    dk_object_free(&o);
    dk_store_set_hook(h.st, NULL, NULL);
    ls_head_close(&h);
    dk_buf_free(&v1);
    dk_buf_free(&v2);
    dk_buf_free(&other);
    dk_buf_free(&got);
    dk_buf_free(&seen.before);
    dk_buf_free(&seen.after);
}

/* Client write w through the non-blocking path at now; waits. */
static int ls_write(dk_store *st, const dk_store_write *w, int64_t now)
{
    sem_t done;
    sem_init(&done, 0, 0);
    dk_store_wop *op = NULL;
    int rc = dk_store_write_start(st, w, now, ls_ready, &done, &op);
    return ls_finish(rc, op, &done);
}

/* A client write over a stored large value (flushed into a blob file) is
 * built from the stored object's head when the resolver needs no stored
 * value: a write with the stored version as its context, under vclock,
 * gives byte for byte what the same write over the whole object gives
 * (dk__store_next). A blind write keeps the stored value as a sibling:
 * the head (blob_head bytes of it, from the table) leaves the value out,
 * so the write is built from the whole object, with the same result. */
static void test_client_write_from_head(void)
{
    ls_head_env h;
    ls_head_open(&h, 11);
    dk_buf v1 = DK_BUF_INIT, got = DK_BUF_INIT, want = DK_BUF_INIT;
    ls_big("n1", 1, 1000, 10240, 'a', 0, &v1);
    CU_ASSERT_EQUAL_FATAL(ls_merge(h.st, "k", &v1), 0);
    ls_flush_warm(h.db, "k", &got);
    dk_object cur;
    dk_object_init(&cur);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&v1), &cur, NULL, 0), 0);
    uint8_t *big = malloc(10240);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'b', 10240);
    dk_store_write w = {
        .key = tl_str("k"), .value = {big, 10240}, .context = &cur.vv, .type = DK_OBJECT_PLAIN};
    /* what the whole object gives */
    CU_ASSERT_EQUAL_FATAL(dk__store_next(h.st, &w, 5000, 1, dk_buf_slice(&v1), &cur, &want), 0);
    uint64_t heads = dk_metrics_get("store_head_writes_total");
    CU_ASSERT_EQUAL_FATAL(ls_write(h.st, &w, 5000), 0);
    CU_ASSERT_EQUAL(dk_metrics_get("store_head_writes_total"), heads + 1);
    dk_buf_reset(&got);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.get(&h.db->base, tl_str("k"), tl_sink, &got), 0);
    CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    /* blind: the stored value stays, as a sibling */
    ls_flush_warm(h.db, "k", &got);
    w.context = NULL;
    dk_object_free(&cur);
    dk_object_init(&cur);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&got), &cur, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk__store_next(h.st, &w, 6000, 1, dk_buf_slice(&got), &cur, &want), 0);
    CU_ASSERT_EQUAL_FATAL(ls_write(h.st, &w, 6000), 0);
    CU_ASSERT_EQUAL(dk_metrics_get("store_head_writes_total"), heads + 1); /* the head left the value out */
    ls_expect(h.db, "k", &want, 2, &got);
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&got), &o, NULL, 0), 0);
    for (uint32_t i = 0; i < o.n_sib; i++)
        CU_ASSERT(o.sib[i].value.len == 10240 && o.sib[i].value.ptr[0] == 'b');
    dk_object_free(&o);
    dk_object_free(&cur);
    free(big);
    ls_head_close(&h);
    dk_buf_free(&v1);
    dk_buf_free(&got);
    dk_buf_free(&want);
}

/* A replica copy the head cannot settle, over an object the engine lends
 * whole (in the memtable), is merged from the lent bytes: one engine
 * lookup, not a head and then the object. A concurrent copy gives what
 * the whole-object merge gives (two siblings); the same copy again
 * changes nothing. */
static void test_whole_lend_merges_in_one_lookup(void)
{
    ls_head_env h;
    ls_head_open(&h, 13);
    dk_buf v1 = DK_BUF_INIT, other = DK_BUF_INIT, got = DK_BUF_INIT, want = DK_BUF_INIT;
    ls_big("n1", 1, 1000, 10240, 'a', 0, &v1);
    ls_big("n3", 1, 3000, 10240, 'c', 0, &other); /* concurrent with v1 */
    CU_ASSERT_EQUAL_FATAL(ls_merge(h.st, "k", &v1), 0);
    dk_object a, b;
    dk_object_init(&a);
    dk_object_init(&b);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&v1), &a, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&other), &b, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_resolve_merge(&h.rs, dk_buf_slice(&v1), &a, dk_buf_slice(&other), &b, &want), 0);
    uint64_t gets = tl_stat(h.db, "lsm_gets_total"), kept = dk_metrics_get("store_head_whole_kept_total");
    CU_ASSERT_EQUAL_FATAL(ls_merge(h.st, "k", &other), 0);
    CU_ASSERT_EQUAL(tl_stat(h.db, "lsm_gets_total"), gets + 1);
    CU_ASSERT_EQUAL(dk_metrics_get("store_head_whole_kept_total"), kept + 1);
    ls_expect(h.db, "k", &want, 2, &got);
    /* the same copy again: nothing to write (1), one lookup */
    gets = tl_stat(h.db, "lsm_gets_total");
    uint64_t seq = tl_stat(h.db, "lsm_last_sequence");
    CU_ASSERT_EQUAL(ls_merge(h.st, "k", &other), 1);
    CU_ASSERT_EQUAL(tl_stat(h.db, "lsm_gets_total"), gets + 1);
    CU_ASSERT_EQUAL(tl_stat(h.db, "lsm_last_sequence"), seq);
    dk_object_free(&a);
    dk_object_free(&b);
    ls_head_close(&h);
    dk_buf_free(&v1);
    dk_buf_free(&other);
    dk_buf_free(&got);
    dk_buf_free(&want);
}

/* A client write whose resolver needs the stored values (a CRDT's) reads
 * the stored object once: no head is lent first. Two increments count. */
static void test_crdt_write_reads_once(void)
{
    ls_head_env h;
    ls_head_open(&h, 15);
    dk_buf op = DK_BUF_INIT, got = DK_BUF_INIT;
    dk_crdt_op inc = {.type = DK_CRDT_COUNTER, .delta = 5};
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_encode(&inc, &op), 0);
    dk_store_write w = {.key = tl_str("c"), .value = dk_buf_slice(&op), .type = DK_OBJECT_CRDT};
    CU_ASSERT_EQUAL_FATAL(ls_write(h.st, &w, 1000), 0);
    ls_flush_warm(h.db, "c", &got);
    uint64_t gets = tl_stat(h.db, "lsm_gets_total");
    CU_ASSERT_EQUAL_FATAL(ls_write(h.st, &w, 2000), 0);
    CU_ASSERT_EQUAL(tl_stat(h.db, "lsm_gets_total"), gets + 1);
    dk_buf_reset(&got);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.get(&h.db->base, tl_str("c"), tl_sink, &got), 0);
    CU_ASSERT_EQUAL(tr_counter_of(&h.rs, &got), 10);
    ls_head_close(&h);
    dk_buf_free(&op);
    dk_buf_free(&got);
}

static CU_TestInfo ls_tests[] = {
    {"writes_in_flight_rarely_share_a_stripe", test_writes_in_flight_rarely_share_a_stripe},
    {"replica_merge_judged_from_head", test_replica_merge_judged_from_head},
    {"client_write_from_head", test_client_write_from_head},
    {"whole_lend_merges_in_one_lookup", test_whole_lend_merges_in_one_lookup},
    {"crdt_write_reads_once", test_crdt_write_reads_once},
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
