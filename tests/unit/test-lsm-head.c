/*
 * test-lsm-head.c - reads of a value's first bytes (get_lent with
 * DK_GET_HEAD, ABI 1.5) and the heads blob references keep for them
 * ([engine.lsm] blob_head, blob.h): a flushed blob value's head read lends
 * exactly its first blob_head bytes and reads no blob file (neither from
 * the file nor from the cache); memtable values, values in the tables,
 * blob values shorter than LSM_BLOB_HEAD_RATIO heads and references
 * without a head (written with blob_head = 0) lend the whole value; the head survives blob collection; tombstones, absent keys and
 * damaged blocks answer as a full read does; the lookup memo keeps its
 * entries small and never answers a head read with a reference that has
 * lost its head (unless blob_head is 0: then the whole value is fine); and a random workload with reopens that switch heads on
 * and off, checked against a model, only ever lends a prefix of the
 * value that is either all of it or its first blob_head bytes.
 */
#include "test-lsm-host.h"

#include <fcntl.h>
#include <unistd.h>

#include "blob.h"
#include "bloom.h"
#include "memo.h"

#define TH_HEAD 256  /* blob_head in these tests */
#define TH_BIG 3000  /* bytes of a large value (blob_min_size 1024) */
#define TH_MAXV 5000 /* the model's largest value */
#define TH_KEYS 64   /* the model's keys */

/* Value bytes of key i at generation gen: every byte depends on its
 * position, so a lent slice that is not the value's prefix shows. */
static void th_val(uint8_t *v, int i, int gen, size_t len)
{
    for (size_t j = 0; j < len; j++)
        v[j] = (uint8_t)(j * 131 + (size_t)i * 17 + (size_t)gen * 29 + (j >> 8));
}

static int th_put(lsm_db *db, const char *k, int i, int gen, size_t len)
{
    uint8_t v[TH_MAXV];
    th_val(v, i, gen, len);
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = tl_str(k), .value = {v, len}};
    dk_batch b = {&op, 1};
    return dk__lsm_engine_ops.write(&db->base, &b, 0);
}

/* Keys 0..n-1 with their generation-gen values of len bytes. */
static void th_fill(lsm_db *db, int n, int gen, size_t len)
{
    char k[32];
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        CU_ASSERT_EQUAL(th_put(db, k, i, gen, len), 0);
    }
}

/* The engine in dir (fresh when *env is NULL) with blob_min_size min,
 * blob_head head and the blob GC's cutoff at 100 %. */
static lsm_db *th_open(char *dir, lsm_env **env, const char *min, const char *head)
{
    dk_fake_host_set_option(&th, "blob_head", head);
    return tl_open_blobs(dir, env, 1 << 20, min, "100");
}

static int th_lend(lsm_db *db, const char *k, uint32_t flags, dk_slice *v, void **pin)
{
    *pin = NULL;
    return dk__lsm_engine_ops.get_lent(&db->base, tl_str(k), flags, v, pin);
}

/* Reads of blob values that reached a blob record: from the file or from
 * the block cache. */
static uint64_t th_blob_reads(lsm_db *db)
{
    return tl_stat(db, "lsm_blob_reads_total") + tl_stat(db, "lsm_blob_cache_hits_total");
}

/* 1 when key i lends, with flags, exactly the first want bytes of its
 * generation-gen value of len bytes. */
static int th_lends(lsm_db *db, int i, int gen, size_t len, uint32_t flags, size_t want)
{
    char k[32];
    uint8_t v[TH_MAXV];
    tl_key(k, i);
    th_val(v, i, gen, len);
    dk_slice got;
    void *pin;
    if (th_lend(db, k, flags, &got, &pin))
        return 0;
    int ok = got.len == want && memcmp(got.ptr, v, want) == 0;
    dk__lsm_engine_ops.release(&db->base, pin);
    return ok;
}

static int th_compact(lsm_db *db)
{
    return dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0});
}

/* A large value: whole from the memtable; after the flush its head (no
 * blob record read, counted in lsm_get_heads_total) with DK_GET_HEAD and
 * the whole value without; a blob value too short for a head (from its
 * blob record) and a value kept in the table lend all of themselves; a
 * deleted and an absent key are DK_ENOTFOUND. */
static void test_head_after_flush(void)
{
    tl_host_reset();
    char dir[64], k[32];
    lsm_env *env = NULL;
    lsm_db *db = th_open(dir, &env, "100", "256");
    CU_ASSERT_EQUAL(db->blob_head, TH_HEAD);
    tl_key(k, 0);
    CU_ASSERT_EQUAL(th_put(db, k, 0, 0, TH_BIG), 0);
    tl_key(k, 1);
    CU_ASSERT_EQUAL(th_put(db, k, 1, 0, 8 * TH_HEAD - 1), 0); /* a blob value without a head */
    tl_key(k, 2);
    CU_ASSERT_EQUAL(th_put(db, k, 2, 0, 50), 0); /* stays in the table */
    tl_key(k, 3);
    CU_ASSERT_EQUAL(th_put(db, k, 3, 0, TH_BIG), 0);
    CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, DK_GET_HEAD, TH_BIG)); /* the memtable's */
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_del(db, k, 0), 0); /* key 3 */
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db);
    uint64_t reads = th_blob_reads(db);
    CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, DK_GET_HEAD, TH_HEAD));
    CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, DK_GET_HEAD | DK_GET_NOWAIT, TH_HEAD));
    CU_ASSERT_TRUE(th_lends(db, 2, 0, 50, DK_GET_HEAD, 50));
    CU_ASSERT_EQUAL(th_blob_reads(db), reads);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_heads_total"), 2);
    CU_ASSERT_TRUE(th_lends(db, 1, 0, 8 * TH_HEAD - 1, DK_GET_HEAD, 8 * TH_HEAD - 1));
    CU_ASSERT_EQUAL(th_blob_reads(db), reads + 1);
    dk_slice v;
    void *pin;
    CU_ASSERT_EQUAL(th_lend(db, k, DK_GET_HEAD, &v, &pin), DK_ENOTFOUND);
    CU_ASSERT_PTR_NULL(pin);
    CU_ASSERT_EQUAL(th_lend(db, "absent", DK_GET_HEAD, &v, &pin), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(th_lend(db, "absent", DK_GET_HEAD | DK_GET_NOWAIT, &v, &pin), DK_ENOTFOUND);
    /* Without the flag: the whole value, from the blob record. */
    CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, 0, TH_BIG));
    CU_ASSERT_EQUAL(th_blob_reads(db), reads + 2);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_heads_total"), 2);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* Reopened, with a cold cache: a head read without waiting answers
     * from the page cache or says -EAGAIN, and still reads no blob. */
    db = th_open(dir, &env, "100", "256");
    reads = th_blob_reads(db);
    tl_key(k, 0);
    int rc = th_lend(db, k, DK_GET_HEAD | DK_GET_NOWAIT, &v, &pin);
    CU_ASSERT_TRUE(rc == 0 || rc == -EAGAIN);
    if (rc == 0) {
        CU_ASSERT_EQUAL(v.len, TH_HEAD);
        dk__lsm_engine_ops.release(&db->base, pin);
    }
    CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, DK_GET_HEAD, TH_HEAD));
    CU_ASSERT_EQUAL(th_blob_reads(db), reads);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Blob collection relocates values with their heads (it has the value);
 * a compaction that copies references keeps theirs. */
static void test_head_after_gc(void)
{
    tl_host_reset();
    char dir[64];
    lsm_env *env = NULL;
    lsm_db *db = th_open(dir, &env, "1024", "256");
    th_fill(db, 40, 0, TH_BIG);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    th_fill(db, 30, 1, TH_BIG + 1);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db);
    CU_ASSERT_EQUAL(th_compact(db), 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_gc_records_total"), 10); /* the first file's live ones */
    uint64_t reads = th_blob_reads(db);
    int bad = 0;
    for (int i = 0; i < 40; i++)
        bad += !th_lends(db, i, i < 30, TH_BIG + (i < 30), DK_GET_HEAD, TH_HEAD);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(th_blob_reads(db), reads);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_heads_total"), 40);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* References written without heads (blob_head = 0, or before heads
 * existed) read as before once heads are on: a head read lends the whole
 * value from the blob file, through a compaction that copies them too;
 * the value's next flush gives it a head. */
static void test_head_old_references(void)
{
    tl_host_reset();
    char dir[64], k[32];
    lsm_env *env = NULL;
    lsm_db *db = th_open(dir, &env, "1024", "0");
    CU_ASSERT_EQUAL(db->blob_head, 0);
    th_fill(db, 10, 0, TH_BIG);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_TRUE(th_lends(db, 3, 0, TH_BIG, DK_GET_HEAD, TH_BIG));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = th_open(dir, &env, "1024", "256");
    uint64_t reads = th_blob_reads(db);
    int bad = 0;
    for (int i = 0; i < 10; i++)
        bad += !th_lends(db, i, 0, TH_BIG, DK_GET_HEAD, TH_BIG);
    CU_ASSERT_EQUAL(th_blob_reads(db), reads + 10);
    CU_ASSERT_EQUAL(th_compact(db), 0);
    for (int i = 0; i < 10; i++)
        bad += !th_lends(db, i, 0, TH_BIG, DK_GET_HEAD, TH_BIG);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_heads_total"), 0);
    tl_key(k, 3);
    CU_ASSERT_EQUAL(th_put(db, k, 3, 1, TH_BIG), 0);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_TRUE(th_lends(db, 3, 1, TH_BIG, DK_GET_HEAD, TH_HEAD));
    CU_ASSERT_TRUE(th_lends(db, 4, 0, TH_BIG, DK_GET_HEAD, TH_BIG));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Warm full reads still end in memo hits, whose entries hold the
 * reference without its head (as small as before heads); a head read
 * neither takes a memo entry nor makes one, so it lends the head. */
static void test_head_and_memo(void)
{
    tl_host_reset();
    char dir[64], k[32];
    lsm_env *env = NULL;
    dk_fake_host_set_option(&th, "lookup_memo", "true");
    lsm_db *db = th_open(dir, &env, "1024", "256");
    tl_key(k, 0);
    CU_ASSERT_EQUAL(th_put(db, k, 0, 0, TH_BIG), 0);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db);
    for (int r = 0; r < 3; r++)
        CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, 0, TH_BIG));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 1);
    lsm_found f;
    pthread_mutex_lock(&db->mu);
    uint64_t vid = db->cur->id;
    pthread_mutex_unlock(&db->mu);
    dk_slice key = tl_str(k);
    CU_ASSERT_FATAL(dk__lsm_memo_get(db->cache, vid, key, dk__lsm_hash64(key.ptr, key.len), &f));
    lsm_blob_ref r;
    CU_ASSERT_EQUAL(dk__lsm_blob_ref_decode(f.value, &r), 0);
    CU_ASSERT_TRUE(f.value.len <= LSM_BLOB_REF_BARE && !(r.flags & LSM_BLOB_HEAD) && r.len == TH_BIG);
    dk__lsm_cache_release(db->cache, f.h);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, DK_GET_HEAD, TH_HEAD));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_heads_total"), 3);
    CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, 0, TH_BIG));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 2);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* An engine that writes no heads answers head reads from the memo
     * too: the whole value, a valid answer. */
    db = th_open(dir, &env, "1024", "0");
    for (int n = 0; n < 3; n++)
        CU_ASSERT_TRUE(th_lends(db, 0, 0, TH_BIG, DK_GET_HEAD, n < 2 ? TH_HEAD : TH_BIG));
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_memo_hits_total"), 1);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static int th_sst_cb(void *arg, const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".sst") == 0)
        snprintf(arg, 256, "%s", name);
    return 0;
}

/* A damaged byte in the block that holds the head: DK_ECORRUPT, nothing
 * lent, as for a full read. */
static void test_head_damaged_block(void)
{
    tl_host_reset();
    char dir[64], k[32], name[256] = "", path[512];
    lsm_env *env = NULL;
    lsm_db *db = th_open(dir, &env, "1024", "256");
    tl_key(k, 0);
    CU_ASSERT_EQUAL(th_put(db, k, 0, 0, TH_BIG), 0);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->list(env, dir, th_sst_cb, name);
    CU_ASSERT_FATAL(name[0] != '\0');
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tl_flip(path, 100); /* inside the head, in the only data block */
    db = th_open(dir, &env, "1024", "256");
    dk_slice v;
    void *pin;
    CU_ASSERT_EQUAL(th_lend(db, k, DK_GET_HEAD, &v, &pin), DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(pin);
    CU_ASSERT_EQUAL(th_lend(db, k, 0, &v, &pin), DK_ECORRUPT);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_get_heads_total"), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* The model: each key's generation and length (0: absent). */
typedef struct th_model {
    int gen[TH_KEYS];
    size_t len[TH_KEYS];
} th_model;

/* Every key of the model read with and without DK_GET_HEAD: a head read
 * lends all of the value, or its first blob_head bytes when it is long
 * enough to have a head; a full read all of it. The number of bad
 * reads. */
static int th_check(lsm_db *db, const th_model *m)
{
    int bad = 0;
    for (int i = 0; i < TH_KEYS; i++) {
        char k[32];
        tl_key(k, i);
        dk_slice v;
        void *pin;
        int rc = th_lend(db, k, DK_GET_HEAD, &v, &pin);
        if (!m->len[i]) {
            bad += rc != DK_ENOTFOUND;
            continue;
        }
        if (rc) {
            bad++;
            continue;
        }
        uint8_t want[TH_MAXV];
        th_val(want, i, m->gen[i], m->len[i]);
        size_t head = m->len[i] >= LSM_BLOB_HEAD_RATIO * TH_HEAD ? TH_HEAD : m->len[i];
        bad += (v.len != m->len[i] && v.len != head) || memcmp(v.ptr, want, v.len);
        dk__lsm_engine_ops.release(&db->base, pin);
        bad += !th_lends(db, i, m->gen[i], m->len[i], 0, m->len[i]);
    }
    return bad;
}

/* Puts of values from 50 bytes to TH_MAXV (blob_min_size 1024), deletes,
 * flushes, compactions that collect blob files, and reopens that switch
 * blob_head between 256 and 0, checked against the model. */
static void test_head_random_model(void)
{
    tl_host_reset();
    static const size_t lens[] = {50, 300, 1024, 2000, TH_MAXV};
    char dir[64], k[32];
    lsm_env *env = NULL;
    lsm_db *db = th_open(dir, &env, "1024", "256");
    th_model m = {{0}, {0}};
    uint64_t seed = 12345, heads = 0;
    int bad = 0, on = 1;
    for (int step = 0; step < 3000; step++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned x = (unsigned)(seed >> 33);
        int i = (int)(x % TH_KEYS), op = (int)((x >> 8) % 100);
        tl_key(k, i);
        if (op < 75) {
            size_t len = lens[(x >> 16) % 5];
            CU_ASSERT_EQUAL(th_put(db, k, i, step, len), 0);
            m.gen[i] = step;
            m.len[i] = len;
        } else if (op < 88) {
            CU_ASSERT_EQUAL(tl_del(db, k, 0), 0);
            m.len[i] = 0;
        } else if (op < 95) {
            CU_ASSERT_EQUAL(tl_flush(db), 0);
        } else if (op < 98) {
            CU_ASSERT_EQUAL(th_compact(db), 0);
            bad += th_check(db, &m);
        } else if (op < 99) {
            heads += tl_stat(db, "lsm_get_heads_total");
            CU_ASSERT_EQUAL(tl_close(db), 0);
            on = !on;
            db = th_open(dir, &env, "1024", on ? "256" : "0");
            bad += th_check(db, &m);
        }
    }
    bad += th_check(db, &m);
    CU_ASSERT_EQUAL(bad, 0);
    heads += tl_stat(db, "lsm_get_heads_total");
    CU_ASSERT_TRUE(heads > 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* blob_head is bounded by LSM_BLOB_HEAD_MAX; a head is kept for values
 * at least LSM_BLOB_HEAD_RATIO times as long; references whose head is
 * longer than their value or than LSM_BLOB_HEAD_MAX, or cut short, are
 * damage. */
static void test_head_bounds(void)
{
    tl_host_reset();
    char dir[64];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    dk_fake_host_set_option(&th, "blob_head", "1025");
    int rc;
    lsm_db *db = tl_open(&th, env, dir, 0, "none", &rc);
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NULL(db);
    tl_done(env, dir);

    static uint8_t buf[2 * LSM_BLOB_REF_MAX], val[8 * LSM_BLOB_HEAD_MAX];
    th_val(val, 1, 1, sizeof(val));
    lsm_blob_ref r = {.file = 7, .off = LSM_BLOB_HEADER, .len = 8 * TH_HEAD - 1}, out;
    dk__lsm_blob_ref_set_head(&r, (dk_slice){val, 8 * TH_HEAD - 1}, TH_HEAD);
    CU_ASSERT_FALSE(r.flags & LSM_BLOB_HEAD);
    r.len = 8 * LSM_BLOB_HEAD_MAX;
    dk__lsm_blob_ref_set_head(&r, (dk_slice){val, r.len}, LSM_BLOB_HEAD_MAX);
    CU_ASSERT_TRUE((r.flags & LSM_BLOB_HEAD) && r.head.len == LSM_BLOB_HEAD_MAX);
    dk_slice ref = {buf, dk__lsm_blob_ref_encode(buf, &r)};
    CU_ASSERT_TRUE(ref.len <= LSM_BLOB_REF_MAX);
    CU_ASSERT_EQUAL(dk__lsm_blob_ref_decode(ref, &out), 0);
    CU_ASSERT_TRUE(out.head.len == LSM_BLOB_HEAD_MAX && memcmp(out.head.ptr, val, LSM_BLOB_HEAD_MAX) == 0);
    ref.len--;
    CU_ASSERT_EQUAL(dk__lsm_blob_ref_decode(ref, &out), DK_ECORRUPT);
    r.head.len = LSM_BLOB_HEAD_MAX + 1; /* longer than any blob_head */
    ref.len = dk__lsm_blob_ref_encode(buf, &r);
    CU_ASSERT_EQUAL(dk__lsm_blob_ref_decode(ref, &out), DK_ECORRUPT);
    r.len = 100;
    r.head.len = 101; /* longer than the value */
    ref.len = dk__lsm_blob_ref_encode(buf, &r);
    CU_ASSERT_EQUAL(dk__lsm_blob_ref_decode(ref, &out), DK_ECORRUPT);
    r.head.len = 100;
    ref.len = dk__lsm_blob_ref_encode(buf, &r);
    CU_ASSERT_EQUAL(dk__lsm_blob_ref_decode(ref, &out), 0);
}

static CU_TestInfo th_tests[] = {
    {"head_after_flush", test_head_after_flush},
    {"head_after_gc", test_head_after_gc},
    {"head_old_references", test_head_old_references},
    {"head_and_memo", test_head_and_memo},
    {"head_damaged_block", test_head_damaged_block},
    {"head_random_model", test_head_random_model},
    {"head_bounds", test_head_bounds},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-head", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = th_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
