/*
 * test-lsm-wal.c - the WAL and the manifest: record round trips, torn
 * tails cut at every byte, damaged records, group commit under concurrent
 * synced writers and through write_async, and manifest recovery with torn and damaged records.
 */
#include "test-lsm-util.h"

#include <pthread.h>

#include "env_fault.h"

static dk_fake_host wh;
static int wl_init(void)
{
    dk_fake_host_init(&wh);
    return 0;
}
static int wl_clean(void)
{
    dk_fake_host_destroy(&wh);
    return 0;
}

typedef struct wl_seen {
    int records;
    uint64_t seqs[64];
    char last_key[32];
} wl_seen;

static int wl_cb(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n)
{
    wl_seen *s = arg;
    const uint8_t *p = ops;
    for (uint32_t i = 0; i < count; i++) {
        int type;
        dk_slice k, v;
        if (dk__lsm_wal_op_next(&p, ops + n, &type, &k, &v))
            return -EINVAL;
        snprintf(s->last_key, sizeof(s->last_key), "%.*s", (int)k.len, (const char *)k.ptr);
    }
    if (s->records < 64)
        s->seqs[s->records] = seq;
    s->records++;
    return 0;
}

/* Encode `nrec` records (record i: i+1 ops, first seq 100*i) of log
 * `number` into b, with their end offsets in ends. */
static void wl_encode(dk_buf *b, uint64_t number, int nrec, size_t *ends)
{
    for (int i = 0; i < nrec; i++) {
        dk_batch_op ops[10];
        char keys[10][16];
        for (int j = 0; j <= i; j++) {
            snprintf(keys[j], sizeof(keys[j]), "r%d-%d", i, j);
            ops[j] = (dk_batch_op){.type = j % 2 ? DK_BATCH_DELETE : DK_BATCH_PUT,
                                   .key = tl_str(keys[j]),
                                   .value = tl_str("some value")};
        }
        dk_batch batch = {ops, (size_t)i + 1};
        CU_ASSERT_EQUAL(dk__lsm_wal_encode(b, number, 100 * (uint64_t)i, &batch), 0);
        ends[i] = b->len;
    }
}

/* Write 10 records to /w.log (log number 0: no digits in the name). */
static size_t wl_write10(lsm_env *env, size_t *ends)
{
    lsm_wal w;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, "/w.log", &w), 0);
    CU_ASSERT_EQUAL(w.number, 0);
    dk_buf b = DK_BUF_INIT;
    wl_encode(&b, 0, 10, ends);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, b.len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    size_t len = b.len;
    dk_buf_free(&b);
    return len;
}

static void test_wal_roundtrip(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    size_t ends[10];
    size_t len = wl_write10(env, ends);
    wl_seen s = {0};
    uint64_t dropped = 99, bad = 99;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/w.log", wl_cb, &s, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(s.records, 10);
    CU_ASSERT_EQUAL(s.seqs[9], 900);
    CU_ASSERT_STRING_EQUAL(s.last_key, "r9-9");
    CU_ASSERT_EQUAL(dropped, 0);
    CU_ASSERT_EQUAL(bad, len);
    env->ops->destroy(env);
}

/* Cut the log at every length: replay keeps exactly the whole records
 * before the cut, truncates the rest, and a second replay agrees. */
static void test_wal_torn_every_byte(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    size_t ends[10];
    size_t len = wl_write10(env, ends);
    uint8_t *data;
    size_t dl;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/w.log", &data, &dl), 0);
    CU_ASSERT_EQUAL_FATAL(dl, len);
    int bad_count = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        CU_ASSERT_EQUAL(dk__lsm_env_write_atomic(env, "", "w.log", data, cut), 0);
        int want = 0;
        while (want < 10 && ends[want] <= cut)
            want++;
        wl_seen s = {0};
        uint64_t dropped, off;
        CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/w.log", wl_cb, &s, &dropped, &off), 0);
        size_t good = want ? ends[want - 1] : 0;
        bad_count += s.records != want || dropped != cut - good || off != good;
        wl_seen s2 = {0};
        CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/w.log", wl_cb, &s2, &dropped, &off), 0);
        bad_count += s2.records != want || dropped != 0;
    }
    CU_ASSERT_EQUAL(bad_count, 0);
    free(data);
    env->ops->destroy(env);
}

/* A flipped byte anywhere in record 5 stops the replay after record 4. */
static void test_wal_flipped_byte(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    size_t ends[10];
    size_t len = wl_write10(env, ends);
    uint8_t *data;
    size_t dl;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/w.log", &data, &dl), 0);
    int bad_count = 0;
    for (size_t off = ends[4]; off < ends[5]; off++) {
        data[off] ^= 0x01;
        CU_ASSERT_EQUAL(dk__lsm_env_write_atomic(env, "", "w.log", data, len), 0);
        data[off] ^= 0x01;
        wl_seen s = {0};
        uint64_t dropped, bad;
        CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/w.log", wl_cb, &s, &dropped, &bad), 0);
        bad_count += s.records != 5 || bad != ends[4] || dropped != len - ends[4];
    }
    CU_ASSERT_EQUAL(bad_count, 0);
    free(data);
    env->ops->destroy(env);
}

typedef struct wl_vals {
    int records, ops, bad;
} wl_vals;

/* Checks every op's value against the pattern wl_fill wrote. */
static int wl_val_cb(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n)
{
    wl_vals *s = arg;
    const uint8_t *p = ops;
    (void)seq;
    for (uint32_t i = 0; i < count; i++) {
        int type;
        dk_slice k, v;
        if (dk__lsm_wal_op_next(&p, ops + n, &type, &k, &v))
            return -EINVAL;
        for (size_t j = 0; j < v.len; j++)
            s->bad += v.ptr[j] != (uint8_t)(v.len + j);
        s->ops++;
    }
    s->records++;
    return 0;
}

/* Records with borrowed (> LSM_WAL_COPY_MAX) and copied values, written
 * as one gather write: the bytes equal the contiguous encoding and replay
 * back intact. */
static void test_wal_gather(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    static const size_t sizes[] = {0, 1, 255, 256, 257, 1000, 10240, 3};
    enum { NV = sizeof(sizes) / sizeof(sizes[0]) };
    uint8_t *vals[NV];
    dk_batch_op ops[NV];
    char keys[NV][8];
    for (int i = 0; i < NV; i++) {
        vals[i] = malloc(sizes[i] + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(vals[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            vals[i][j] = (uint8_t)(sizes[i] + j);
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        ops[i] = (dk_batch_op){.type = DK_BATCH_PUT, .key = tl_str(keys[i]), .value = {vals[i], sizes[i]}};
    }
    lsm_wal_vec v = {0};
    dk_buf flat = DK_BUF_INIT;
    for (int r = 0; r < 3; r++) {
        dk_batch batch = {ops + r, NV - (size_t)r};
        CU_ASSERT_EQUAL(dk__lsm_wal_encodev(&v, 7, 10 * (uint64_t)r, &batch), 0);
        CU_ASSERT_EQUAL(dk__lsm_wal_encode(&flat, 7, 10 * (uint64_t)r, &batch), 0);
    }
    CU_ASSERT_EQUAL(v.total, flat.len);
    CU_ASSERT(v.buf.len < flat.len - 10240); /* the big values were borrowed */
    lsm_wal w;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, "/000007.log", &w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_writev(&w, &v), 0);
    CU_ASSERT_EQUAL(w.size, flat.len);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    uint8_t *data;
    size_t dl;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/000007.log", &data, &dl), 0);
    CU_ASSERT(dl == flat.len && memcmp(data, flat.data, dl) == 0);
    free(data);
    wl_vals s = {0};
    uint64_t dropped = 99, bad = 99;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/000007.log", wl_val_cb, &s, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(s.records, 3);
    CU_ASSERT_EQUAL(s.ops, 3 * NV - 3);
    CU_ASSERT_EQUAL(s.bad, 0);
    CU_ASSERT_EQUAL(dropped, 0);
    dk__lsm_wal_vec_free(&v);
    dk_buf_free(&flat);
    for (int i = 0; i < NV; i++)
        free(vals[i]);
    env->ops->destroy(env);
}

/* A recycled log: records of the new number, then the old file's bytes.
 * A whole stale record is the clean end; unaligned stale bytes read as a
 * torn tail; trimming leaves exactly the new records. */
static void test_wal_recycled(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    size_t ends[10], ends2[10];
    lsm_wal w;
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, "/000005.log", &w), 0);
    CU_ASSERT_EQUAL(w.number, 5);
    wl_encode(&b, 5, 10, ends);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, b.len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    size_t len = b.len;

    /* Same-sized records under number 9 end on a record boundary. */
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_reuse(env, "/000005.log", "/000009.log", &w), 0);
    CU_ASSERT_EQUAL(w.number, 9);
    dk_buf_reset(&b);
    wl_encode(&b, 9, 3, ends2);
    CU_ASSERT_EQUAL(ends2[2], ends[2]);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data, b.len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    wl_seen s = {0};
    uint64_t dropped = 99, bad = 99;
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/000009.log", wl_cb, &s, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(s.records, 3);
    CU_ASSERT_STRING_EQUAL(s.last_key, "r2-2");
    CU_ASSERT_EQUAL(dropped, 0);
    CU_ASSERT_EQUAL(bad, ends[2]);
    uint8_t *data;
    size_t dl;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/000009.log", &data, &dl), 0);
    CU_ASSERT_EQUAL(dl, ends[2]); /* the stale tail is cut */
    free(data);

    /* A fresh life as 12: one record over the old bytes, not ending on an
     * old record's boundary. Trimming cuts the stale bytes after it. */
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_reuse(env, "/000009.log", "/000012.log", &w), 0);
    dk_buf_reset(&b);
    wl_encode(&b, 12, 2, ends2);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, b.data + ends2[0], b.len - ends2[0]), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/000012.log", &data, &dl), 0);
    CU_ASSERT_EQUAL(dl, ends[2]);
    free(data);
    CU_ASSERT_EQUAL(dk__lsm_wal_trim(&w, "/000012.log"), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_close(&w), 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/000012.log", &data, &dl), 0);
    CU_ASSERT_EQUAL(dl, ends2[1] - ends2[0]);
    free(data);
    s = (wl_seen){0};
    CU_ASSERT_EQUAL(dk__lsm_wal_replay(env, "/000012.log", wl_cb, &s, &dropped, &bad), 0);
    CU_ASSERT_EQUAL(s.records, 1);
    CU_ASSERT_EQUAL(dropped, 0);
    CU_ASSERT(len > ends[2]);
    dk_buf_free(&b);
    env->ops->destroy(env);
}

/* ---- group commit -------------------------------------------------------- */

typedef struct wl_thr {
    lsm_db *db;
    int id, errors;
} wl_thr;

static void *wl_writer(void *arg)
{
    wl_thr *t = arg;
    char k[32];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "t%d-%d", t->id, i);
        if (tl_put(t->db, k, "v", 1))
            t->errors++;
    }
    return NULL;
}

static uint64_t wl_stat;
static const char *wl_stat_name;
static void wl_stat_cb(void *arg, const char *name, uint64_t v)
{
    (void)arg;
    if (!strcmp(name, wl_stat_name))
        wl_stat = v;
}

static void test_group_commit(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    int rc;
    lsm_db *db = tl_open(&wh, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    pthread_t th[8];
    wl_thr t[8];
    for (int i = 0; i < 8; i++) {
        t[i] = (wl_thr){.db = db, .id = i};
        pthread_create(&th[i], NULL, wl_writer, &t[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(t[i].errors, 0);
    }
    wl_stat_name = "lsm_wal_syncs_total";
    dk__lsm_engine_ops.stats(&db->base, wl_stat_cb, NULL);
    uint64_t syncs = wl_stat;
    fprintf(stderr, "group commit: 1600 synced writes, %llu fdatasyncs\n", (unsigned long long)syncs);
    /* Concurrent synced writers share syncs. */
    CU_ASSERT_TRUE(syncs > 0 && syncs < 1600);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&wh, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(tl_has(db, "t7-199", "v"));
    CU_ASSERT_TRUE(tl_has(db, "t0-0", "v"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

/* write_async: one thread queues every batch at once (no thread waits
 * per write) while two synchronous writers run beside it, so groups mix
 * both kinds and either kind of leader completes the other. Every
 * callback runs once with 0, the batches of one key apply in the order
 * queued, and they share fdatasyncs. */
typedef struct wl_async {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending, calls, errors;
} wl_async;

static void wl_async_cb(void *arg, int status)
{
    wl_async *a = arg;
    pthread_mutex_lock(&a->mu);
    a->calls++;
    a->errors += status != 0;
    a->pending--;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void test_group_commit_async(void)
{
    enum { N = 400 };
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    int rc;
    lsm_db *db = tl_open(&wh, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    static wl_async a;
    static dk_batch_op ops[N];
    static dk_batch b[N];
    static char vals[N][16];
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    a.pending = N;
    pthread_t th[2];
    wl_thr t[2];
    for (int i = 0; i < 2; i++) {
        t[i] = (wl_thr){.db = db, .id = i};
        pthread_create(&th[i], NULL, wl_writer, &t[i]);
    }
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof(vals[i]), "v%04d", i);
        ops[i] = (dk_batch_op){
            .type = DK_BATCH_PUT, .key = tl_str(i % 2 ? "odd" : "even"), .value = tl_str(vals[i])};
        b[i] = (dk_batch){&ops[i], 1};
        rc = dk__lsm_engine_ops.write_async(&db->base, &b[i], 1, wl_async_cb, &a);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc)
            wl_async_cb(&a, rc);
    }
    pthread_mutex_lock(&a.mu);
    while (a.pending > 0)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(t[i].errors, 0);
    }
    CU_ASSERT_EQUAL(a.calls, N);
    CU_ASSERT_EQUAL(a.errors, 0);
    /* Batches queued one after the other apply in that order. */
    CU_ASSERT_TRUE(tl_has(db, "even", "v0398"));
    CU_ASSERT_TRUE(tl_has(db, "odd", "v0399"));
    wl_stat_name = "lsm_wal_syncs_total";
    dk__lsm_engine_ops.stats(&db->base, wl_stat_cb, NULL);
    fprintf(stderr, "group commit, write_async: %d queued + 400 synchronous synced writes, %llu fdatasyncs\n",
            N, (unsigned long long)wl_stat);
    CU_ASSERT_TRUE(wl_stat > 0 && wl_stat < N + 400);
    /* Durable: they are there after a reopen. */
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&wh, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(tl_has(db, "even", "v0398"));
    CU_ASSERT_TRUE(tl_has(db, "t1-199", "v"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    pthread_cond_destroy(&a.cv);
    pthread_mutex_destroy(&a.mu);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

/* The WAL thread's sleep and wake-up (a semaphore and wal_sleeping, not
 * a condition variable): four threads each keep one write_async in
 * flight (the next queued from the previous one's callback's wake-up),
 * so the WAL thread goes to sleep and is woken again thousands of times,
 * racing each writer's enqueue; with a short window (200 µs, siblings 1)
 * its timed sleeps also end while a post is on its way, leaving a token
 * behind. A lost wake-up hangs the test; every write completes once,
 * successfully and in its thread's order, and is there after a reopen. */
enum { WW_THREADS = 4, WW_WRITES = 150 };
typedef struct ww_thr {
    lsm_db *db;
    int id, done, errors, misordered;
    sem_t wake;
    dk_batch_op op;
    dk_batch b;
    char key[16], val[16];
} ww_thr;

static void ww_cb(void *arg, int status)
{
    ww_thr *t = arg;
    t->errors += status != 0;
    t->done++;
    sem_post(&t->wake);
}

static void *ww_writer(void *arg)
{
    ww_thr *t = arg;
    snprintf(t->key, sizeof(t->key), "w%d", t->id);
    for (int i = 0; i < WW_WRITES; i++) {
        snprintf(t->val, sizeof(t->val), "v%04d", i);
        t->op = (dk_batch_op){.type = DK_BATCH_PUT, .key = tl_str(t->key), .value = tl_str(t->val)};
        t->b = (dk_batch){&t->op, 1};
        int rc = dk__lsm_engine_ops.write_async(&t->db->base, &t->b, 1, ww_cb, t);
        if (rc) {
            t->errors++;
            break;
        }
        while (sem_wait(&t->wake))
            ;
        t->misordered += t->done != i + 1; /* a second callback, or none */
    }
    return NULL;
}

static void test_wal_thread_wakeups(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    int rc;
    lsm_db *db = tl_open(&wh, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    pthread_mutex_lock(&db->mu);
    db->gc_window_us = 200;
    db->gc_siblings = 1;
    pthread_mutex_unlock(&db->mu);
    static ww_thr t[WW_THREADS];
    pthread_t th[WW_THREADS];
    for (int i = 0; i < WW_THREADS; i++) {
        t[i] = (ww_thr){.db = db, .id = i};
        sem_init(&t[i].wake, 0, 0);
        pthread_create(&th[i], NULL, ww_writer, &t[i]);
    }
    for (int i = 0; i < WW_THREADS; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(t[i].done, WW_WRITES);
        CU_ASSERT_EQUAL(t[i].errors, 0);
        CU_ASSERT_EQUAL(t[i].misordered, 0);
        sem_destroy(&t[i].wake);
    }
    wl_stat_name = "lsm_wal_syncs_total";
    dk__lsm_engine_ops.stats(&db->base, wl_stat_cb, NULL);
    fprintf(stderr, "WAL thread wake-ups: %d closed-loop async writers x %d, %llu fdatasyncs\n", WW_THREADS,
            WW_WRITES, (unsigned long long)wl_stat);
    CU_ASSERT_TRUE(wl_stat > 0 && wl_stat <= WW_THREADS * WW_WRITES);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tl_open(&wh, env, dir, 0, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    for (int i = 0; i < WW_THREADS; i++) {
        char k[16], v[16];
        snprintf(k, sizeof(k), "w%d", i);
        snprintf(v, sizeof(v), "v%04d", WW_WRITES - 1);
        CU_ASSERT_TRUE(tl_has(db, k, v));
    }
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
    tl_rmtree(dir);
}

/* ---- manifest ------------------------------------------------------------- */

static void test_edit_roundtrip(void)
{
    lsm_edit e, d;
    dk__lsm_edit_init(&e);
    dk__lsm_edit_init(&d);
    e.has_log = e.has_next = e.has_seq = 1;
    e.log_number = 7;
    e.next_file = 12;
    e.last_seq = UINT64_C(1) << 50;
    for (int i = 0; i < 20; i++)
        dk__lsm_edit_add(&e, (uint32_t)(i % 7), 100 + (uint64_t)i, 1000 * (uint64_t)i);
    dk__lsm_edit_del(&e, 3);
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk__lsm_edit_encode(&e, &b), 0);
    CU_ASSERT_EQUAL(dk__lsm_edit_decode(&d, b.data, b.len), 0);
    CU_ASSERT_EQUAL(d.log_number, 7);
    CU_ASSERT_EQUAL(d.next_file, 12);
    CU_ASSERT_EQUAL(d.last_seq, UINT64_C(1) << 50);
    CU_ASSERT_EQUAL(d.nadd, 20);
    CU_ASSERT_EQUAL(d.adds[19].size, 19000);
    CU_ASSERT_EQUAL(d.adds[19].level, 5);
    CU_ASSERT_EQUAL(d.ndel, 1);
    /* Every truncation of the payload either fails or decodes a prefix;
     * an unknown tag or a level out of range is refused. */
    lsm_edit x;
    for (size_t cut = 1; cut < b.len; cut++) {
        dk__lsm_edit_init(&x);
        int rc = dk__lsm_edit_decode(&x, b.data, cut);
        CU_ASSERT_TRUE(rc == 0 || rc == DK_ECORRUPT);
        dk__lsm_edit_free(&x);
    }
    uint8_t unknown[] = {9, 1};
    dk__lsm_edit_init(&x);
    CU_ASSERT_EQUAL(dk__lsm_edit_decode(&x, unknown, 2), DK_ECORRUPT);
    dk__lsm_edit_free(&x);
    uint8_t badlevel[] = {4, 7, 1, 1};
    dk__lsm_edit_init(&x);
    CU_ASSERT_EQUAL(dk__lsm_edit_decode(&x, badlevel, 4), DK_ECORRUPT);
    dk__lsm_edit_free(&x);
    dk_buf_free(&b);
    dk__lsm_edit_free(&e);
    dk__lsm_edit_free(&d);
}

/* Snapshot + 3 edits; recovery folds them; a torn 4th is ignored; a
 * flipped byte in a complete record is DK_ECORRUPT. */
static void test_manifest_recover(void)
{
    lsm_env *env = dk__lsm_env_fault(5);
    env->ops->mkdir(env, "/m");
    lsm_edit e;
    dk__lsm_edit_init(&e);
    e.has_log = e.has_next = e.has_seq = 1;
    e.log_number = 4;
    e.next_file = 10;
    e.last_seq = 100;
    dk__lsm_edit_add(&e, 0, 5, 500);
    dk__lsm_edit_add(&e, 1, 6, 600);
    lsm_manifest m;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_manifest_create(env, "/m", 3, &e, &m), 0);
    dk__lsm_edit_free(&e);
    dk__lsm_edit_init(&e);
    e.has_seq = 1;
    e.last_seq = 200;
    dk__lsm_edit_del(&e, 5);
    dk__lsm_edit_add(&e, 2, 11, 1100);
    CU_ASSERT_EQUAL(dk__lsm_manifest_append(&m, &e), 0);
    dk__lsm_edit_free(&e);
    dk__lsm_edit_init(&e);
    e.has_log = 1;
    e.log_number = 12;
    CU_ASSERT_EQUAL(dk__lsm_manifest_append(&m, &e), 0);
    dk__lsm_manifest_close(&m);
    dk__lsm_edit_free(&e);

    lsm_recovered r;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_manifest_recover(env, "/m", &wh.host, &r), 0);
    CU_ASSERT_EQUAL(r.manifest_number, 3);
    CU_ASSERT_EQUAL(r.log_number, 12);
    CU_ASSERT_EQUAL(r.last_seq, 200);
    CU_ASSERT_EQUAL(r.next_file, 10);
    CU_ASSERT_EQUAL(r.n, 2);
    int has6 = 0, has11 = 0;
    for (size_t i = 0; i < r.n; i++) {
        has6 |= r.files[i].number == 6 && r.files[i].level == 1;
        has11 |= r.files[i].number == 11 && r.files[i].size == 1100;
    }
    CU_ASSERT_TRUE(has6 && has11);
    dk__lsm_recovered_free(&r);

    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/m/MANIFEST-000003", &data, &len), 0);
    /* Torn: any cut inside the last record keeps the first two edits. */
    size_t last_start = 0;
    {
        size_t off = 0;
        while (off < len) {
            last_start = off;
            off += 8 + dk_get_u32(data + off + 4);
        }
    }
    for (size_t cut = last_start + 1; cut < len; cut++) {
        dk__lsm_env_write_atomic(env, "/m", "MANIFEST-000003", data, cut);
        CU_ASSERT_EQUAL_FATAL(dk__lsm_manifest_recover(env, "/m", &wh.host, &r), 0);
        CU_ASSERT_EQUAL(r.log_number, 4);
        CU_ASSERT_EQUAL(r.last_seq, 200);
        dk__lsm_recovered_free(&r);
    }
    /* A flipped byte in a complete record is corruption, named in the log. */
    data[last_start - 3] ^= 0x20;
    dk__lsm_env_write_atomic(env, "/m", "MANIFEST-000003", data, len);
    dk_fake_host_reset(&wh);
    CU_ASSERT_EQUAL(dk__lsm_manifest_recover(env, "/m", &wh.host, &r), DK_ECORRUPT);
    char msg[512];
    dk_fake_host_last_log(&wh, msg, sizeof(msg));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "MANIFEST-000003 at offset"));
    /* A malformed CURRENT, a CURRENT naming a missing manifest. */
    dk__lsm_env_write_atomic(env, "/m", "CURRENT", "MANIFEST-x\n", 11);
    CU_ASSERT_EQUAL(dk__lsm_manifest_recover(env, "/m", &wh.host, &r), DK_ECORRUPT);
    dk__lsm_env_write_atomic(env, "/m", "CURRENT", "MANIFEST-000099\n", 16);
    CU_ASSERT_EQUAL(dk__lsm_manifest_recover(env, "/m", &wh.host, &r), DK_ECORRUPT);
    free(data);
    env->ops->destroy(env);
}

/* The fault env itself: unsynced data and undirsynced names vanish. */
static void test_fault_env_model(void)
{
    lsm_env *env = dk__lsm_env_fault(9);
    lsm_wfile *f;
    CU_ASSERT_EQUAL_FATAL(env->ops->create(env, "/d/a", &f), 0);
    env->ops->append(f, "hello", 5);
    env->ops->sync(f, 0);
    env->ops->append(f, " world", 6);
    env->ops->close_w(f);
    CU_ASSERT_EQUAL_FATAL(env->ops->create(env, "/d/b", &f), 0);
    env->ops->append(f, "x", 1);
    env->ops->sync(f, 0);
    env->ops->close_w(f);
    /* /d/a was created before any dir sync: a crash now loses both. */
    dk__lsm_fault_crash(env, 0);
    CU_ASSERT_EQUAL(tl_count_files(env, "/d", ""), 0);
    CU_ASSERT_EQUAL_FATAL(env->ops->create(env, "/d/a", &f), 0);
    env->ops->append(f, "hello", 5);
    env->ops->sync(f, 0);
    env->ops->append(f, " world", 6);
    env->ops->close_w(f);
    env->ops->sync_dir(env, "/d");
    dk__lsm_fault_crash(env, 0);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, "/d/a", &data, &len), 0);
    CU_ASSERT_TRUE(len == 5 && !memcmp(data, "hello", 5));
    free(data);
    /* Crash mode: the armed point fails and so does everything after. */
    dk__lsm_fault_arm(env, 2, LSM_FAULT_CRASH);
    CU_ASSERT_EQUAL(env->ops->create(env, "/d/c", &f), 0);
    CU_ASSERT_EQUAL(env->ops->append(f, "1", 1), -EIO);
    CU_ASSERT_EQUAL(env->ops->sync(f, 0), -EIO);
    CU_ASSERT_TRUE(dk__lsm_fault_fired(env));
    env->ops->close_w(f);
    env->ops->destroy(env);
}

/* A switch does not sync the old log, so a crash may lose its tail and
 * keep records of the next log: the replay must stop at the gap in the
 * sequence numbers (between logs, and between the manifest's last
 * sequence and the first live log) and still take a log that follows on. */
static void test_replay_stops_at_seq_gap(void)
{
    lsm_env *env = dk__lsm_env_fault(7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    int rc;
    lsm_db *db = tl_open(&wh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(tl_put(db, "a", "1", 1), 0); /* seq 1, live log */
    uint64_t n = tl_next_number(db);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_put_log(env, n, 3, "c", "3", 0); /* seq 2 is missing */
    db = tl_open(&wh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, "c", &b), DK_ENOTFOUND);
    n = tl_next_number(db);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* The manifest's last sequence is now 1: a log starting at 2 follows on. */
    tl_put_log(env, n, 2, "b", "2", 0);
    db = tl_open(&wh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_TRUE(tl_has(db, "a", "1"));
    CU_ASSERT_TRUE(tl_has(db, "b", "2"));
    n = tl_next_number(db);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* ...and one starting past 3 does not (a whole log in between lost). */
    tl_put_log(env, n, 4, "d", "4", 0);
    db = tl_open(&wh, env, "/db", 0, "none", &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_TRUE(tl_has(db, "b", "2"));
    CU_ASSERT_EQUAL(tl_get(db, "d", &b), DK_ENOTFOUND);
    /* The engine goes on from the last replayed sequence. */
    CU_ASSERT_EQUAL(tl_put(db, "e", "5", 1), 0);
    CU_ASSERT_TRUE(tl_has(db, "e", "5"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    dk_buf_free(&b);
    env->ops->destroy(env);
}

/* writeback is a numbered sync point that makes nothing durable. */
static void test_fault_writeback(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env->ops->writeback);
    CU_ASSERT_EQUAL(env->ops->mkdir(env, "/d"), 0);
    lsm_wfile *f;
    CU_ASSERT_EQUAL(env->ops->create(env, "/d/t", &f), 0);
    CU_ASSERT_EQUAL(env->ops->sync_dir(env, "/d"), 0);
    CU_ASSERT_EQUAL(env->ops->append(f, "abcd", 4), 0);
    dk__lsm_fault_arm(env, 0, LSM_FAULT_SYNC_ONLY);
    CU_ASSERT_EQUAL(env->ops->writeback(f, 4), 0);
    CU_ASSERT_EQUAL(dk__lsm_fault_points(env), 1);
    env->ops->close_w(f);
    dk__lsm_fault_crash(env, 0);
    uint8_t *data = NULL;
    size_t len = 99;
    CU_ASSERT_EQUAL(dk__lsm_env_read_all(env, "/d/t", &data, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
    free(data);
    /* And it fails like a sync when armed. */
    CU_ASSERT_EQUAL(env->ops->create(env, "/d/u", &f), 0);
    dk__lsm_fault_arm(env, 1, LSM_FAULT_SYNC_ONLY);
    CU_ASSERT_EQUAL(env->ops->writeback(f, 0), -EIO);
    env->ops->close_w(f);
    env->ops->destroy(env);
}

static CU_TestInfo wl_tests[] = {
    {"wal_roundtrip", test_wal_roundtrip},
    {"wal_torn_every_byte", test_wal_torn_every_byte},
    {"wal_flipped_byte", test_wal_flipped_byte},
    {"wal_recycled", test_wal_recycled},
    {"wal_gather", test_wal_gather},
    {"group_commit", test_group_commit},
    {"group_commit_async", test_group_commit_async},
    {"wal_thread_wakeups", test_wal_thread_wakeups},
    {"edit_roundtrip", test_edit_roundtrip},
    {"manifest_recover", test_manifest_recover},
    {"fault_env_model", test_fault_env_model},
    {"fault_writeback", test_fault_writeback},
    {"replay_stops_at_seq_gap", test_replay_stops_at_seq_gap},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-wal", .pInitFunc = wl_init, .pCleanupFunc = wl_clean, .pTests = wl_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
