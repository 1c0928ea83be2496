/*
 * test-lsm-blob.c - key-value separation in the LSM engine (blob.h): large
 * values leave the tables for blob files at flush and read back through
 * get, try_get, get_lent and iterators; values below blob_min_size stay
 * inline; compaction moves references without rewriting values; garbage
 * collection relocates the values of the oldest blob files and deletes
 * them; an overwrite workload keeps blob space bounded; a damaged blob
 * record is reported with its file and offset while other keys read; a
 * checkpoint carries the blob files; a value damaged in the memtable
 * before its flush is not sealed with a valid blob CRC (the record's CRC
 * is derived from the one its WAL write computed). Crashes at every I/O point with blob
 * files are in test-lsm-crash.c (its blob pass); blob files written around
 * the page cache (blob_direct_io) in test-lsm-direct.c.
 */
#include "test-lsm-blob.h"

#include <sys/stat.h>

#include "env_fault.h"

/* Big and small values through get, get_lent and an iterator (with
 * direct, blob_direct_io on: the same bytes, files and counts). */
static void tb_round_trip(int direct)
{
    tl_host_reset();
    dk_fake_host_set_option(&th, "blob_direct_io", direct ? "true" : "false");
    char dir[64], k[32], v[TB_BIG + 1], s[64];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    for (int i = 0; i < 20; i++) {
        tl_key(k, i);
        if (i % 2) {
            snprintf(s, sizeof(s), "small-%d", i);
            CU_ASSERT_EQUAL(tl_put(db, k, s, 0), 0);
        } else {
            tb_big(v, i, 0);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        }
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 1);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_files"), 1);
    /* Exactly the ten large values went out: magic, then per record a
     * 12-byte header, the 10-byte key and the value. */
    uint64_t want = LSM_BLOB_HEADER + 10 * (LSM_BLOB_REC_HDR + 10 + TB_BIG);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_flush_bytes_total"), want);
    CU_ASSERT_EQUAL(tl_files_bytes(env, dir, ".blob", NULL), want);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_live_bytes"), want - LSM_BLOB_HEADER); /* all referenced */
    /* The table holds references, not values. */
    CU_ASSERT_TRUE(tl_stat(db, "lsm_table_bytes") < 10 * TB_BIG / 4);
    /* Lent, first read: the value lives in its own buffer, the pin. */
    dk_slice lv;
    void *pin;
    tl_key(k, 4);
    tb_big(v, 4, 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.get_lent(&db->base, tl_str(k), 0, &lv, &pin), 0);
    CU_ASSERT_TRUE(lv.len == TB_BIG && memcmp(lv.ptr, v, TB_BIG) == 0);
    dk__lsm_engine_ops.release(&db->base, pin);
    /* From the file (key 4 a second time: cached), from the file again
     * (the second read of each: cached), then from the cache. */
    static const uint64_t reads[3] = {11, 20, 20}, hits[3] = {0, 1, 11};
    for (int pass = 0; pass < 3; pass++) {
        int bad = 0;
        for (int i = 0; i < 20; i++) {
            tl_key(k, i);
            snprintf(s, sizeof(s), "small-%d", i);
            tb_big(v, i, 0);
            bad += !tl_has(db, k, i % 2 ? s : v);
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_reads_total"), reads[pass]);
        CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_cache_hits_total"), hits[pass]);
    }
    /* Lent from the cache: the pin is the cache handle. */
    tl_key(k, 4);
    tb_big(v, 4, 0);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.get_lent(&db->base, tl_str(k), 0, &lv, &pin), 0);
    CU_ASSERT_TRUE(lv.len == TB_BIG && memcmp(lv.ptr, v, TB_BIG) == 0);
    dk__lsm_engine_ops.release(&db->base, pin);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_cache_hits_total"), 12);
    /* An iterator sees every key with its value, in order. */
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    dk_slice ik, iv;
    int n = 0, bad = 0;
    while (dk__lsm_engine_ops.iter_next(it, &ik, &iv) == 0) {
        tl_key(k, n);
        snprintf(s, sizeof(s), "small-%d", n);
        tb_big(v, n, 0);
        const char *w = n % 2 ? s : v;
        bad += ik.len != strlen(k) || memcmp(ik.ptr, k, ik.len) || iv.len != strlen(w) ||
               memcmp(iv.ptr, w, iv.len);
        n++;
    }
    dk__lsm_engine_ops.iter_close(it);
    CU_ASSERT_EQUAL(n, 20);
    CU_ASSERT_EQUAL(bad, 0);
    /* And after a restart, through the reopened blob file. */
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tb_open(dir, &env, 1 << 20, "1024", "25");
    tl_key(k, 6);
    tb_big(v, 6, 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 1);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
    dk_fake_host_set_option(&th, "blob_direct_io", "false");
}

static void test_round_trip(void)
{
    tb_round_trip(0);
}

static void test_round_trip_direct(void)
{
    tb_round_trip(1);
}

/* With blob_min_size = 0 nothing leaves the tables. */
static void test_off(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "0", "25");
    for (int i = 0; i < 10; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_flush_bytes_total"), 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_table_bytes") > 10 * TB_BIG);
    tl_key(k, 3);
    tb_big(v, 3, 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Every reference a blob writer hands out names its record (header, key,
 * value), over records small and large, an empty value, a key longer than
 * the staging buffer, and writebacks between them: a record of half to
 * all of the buffer was once written before what was staged. */
static void test_writer_offsets(void)
{
    lsm_env *env = dk__lsm_env_fault(3);
    lsm_blob_wopts o = {.writeback_bytes = 100000};
    tb_writer_offsets(env, "/c.blob", &o, NULL);
    env->ops->destroy(env);
}

/* A compaction copies references: it writes a small fraction of the
 * value bytes, and the blob files stay as they are. Even with every blob
 * file old enough for collection (cutoff 100 %), files without garbage
 * (distinct keys, nothing overwritten) are not rewritten. */
static void test_compaction_moves_references(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "100");
    for (int r = 0; r < 3; r++) {
        for (int i = r; i < 300; i += 3) {
            tl_key(k, i);
            tb_big(v, i, 0);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        }
        CU_ASSERT_EQUAL(tl_flush(db), 0);
    }
    tl_settle(db);
    uint64_t blob = tl_stat(db, "lsm_blob_flush_bytes_total"),
             before = tl_stat(db, "lsm_compaction_write_bytes_total");
    uint64_t disk = tl_files_bytes(env, dir, ".blob", NULL);
    CU_ASSERT_TRUE(blob >= 300u * TB_BIG);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 3);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    uint64_t wrote = tl_stat(db, "lsm_compaction_write_bytes_total") - before;
    CU_ASSERT_TRUE(wrote > 0);
    /* references: tens of bytes per key, and the values' heads (blob.h) */
    CU_ASSERT_TRUE(wrote < blob / 20 + 300u * db->blob_head);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_gc_bytes_total"), 0);
    CU_ASSERT_EQUAL(tl_files_bytes(env, dir, ".blob", NULL), disk);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".sst"), 1);
    CU_ASSERT_EQUAL(tb_unread(db, 300, 0), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* A blob file most of whose values were overwritten is collected: its
 * live values are relocated to a new blob file and it is deleted, but
 * only once an iterator opened before (which still reads it) is closed. */
static void test_gc_relocates(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    for (int i = 0; i < 50; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    unsigned long long first = tb_lowest_blob(env, dir);
    CU_ASSERT_TRUE_FATAL(first > 0);
    for (int i = 0; i < 30; i++) {
        tl_key(k, i);
        tb_big(v, i, 1);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%06llu.blob", dir, first);
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    /* The 20 values of the first file nobody overwrote. */
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_gc_records_total"), 20);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_gc_bytes_total"), 20u * (LSM_BLOB_REC_HDR + 10 + TB_BIG));
    /* The iterator pins the old version: the old file is still there and
     * readable through it. */
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    dk_slice ik, iv;
    int n = 0, bad = 0;
    while (dk__lsm_engine_ops.iter_next(it, &ik, &iv) == 0) {
        tb_big(v, n, n < 30);
        n++;
        bad += iv.len != TB_BIG || memcmp(iv.ptr, v, TB_BIG);
    }
    CU_ASSERT_EQUAL(n, 50);
    CU_ASSERT_EQUAL(bad, 0);
    dk__lsm_engine_ops.iter_close(it);
    /* Deleted with the last reference (the reaper may take a moment). */
    for (int i = 0; i < 5000 && access(path, F_OK) == 0; i++)
        usleep(1000);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 2);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_files"), 2);
    bad = 0;
    for (int i = 0; i < 50; i++) {
        tl_key(k, i);
        tb_big(v, i, i < 30);
        bad += !tl_has(db, k, v);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* A restart keeps both files and finds nothing to delete. */
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tb_open(dir, &env, 1 << 20, "1024", "25");
    tl_key(k, 49);
    tb_big(v, 49, 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 2);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* compact_range gives the space back: with the age cutoff at 0 it still
 * relocates what is left in a blob file that is mostly garbage (half its
 * keys overwritten) and deletes it, and leaves a file without garbage. */
static void test_manual_compaction_reclaims(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1], path[4096];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "0");
    for (int i = 0; i < 40; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    unsigned long long first = tb_lowest_blob(env, dir);
    for (int i = 0; i < 20; i++) {
        tl_key(k, i);
        tb_big(v, i, 1);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    tl_settle(db);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 2);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.compact_range(&db->base, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}), 0);
    CU_ASSERT_EQUAL(tl_stat(db, "lsm_blob_gc_records_total"), 20); /* the 20 live ones of the first */
    snprintf(path, sizeof(path), "%s/%06llu.blob", dir, first);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 2); /* the second, and the relocation's */
    CU_ASSERT_TRUE(tl_files_bytes(env, dir, ".blob", NULL) <
                   41u * (LSM_BLOB_REC_HDR + 10 + TB_BIG) + 2 * LSM_BLOB_HEADER);
    int bad = 0;
    for (int i = 0; i < 40; i++) {
        tl_key(k, i);
        tb_big(v, i, i < 20);
        bad += !tl_has(db, k, v);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* The same keys overwritten many times (and some never): the blob bytes
 * on disk stay within a small multiple of the live bytes, while the
 * bytes written grow without bound; the file that held the keys written
 * only once is collected too (GC at the default cutoff). */
static void test_overwrite_bounded(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 64 * 1024, "1024", "25");
    enum { KEYS = 40, ONCE = 10, ROUNDS = 60 };
    for (int i = 0; i < ONCE; i++) {
        tl_key(k, 1000 + i);
        tb_big(v, 1000 + i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    uint64_t peak = 0;
    unsigned long long first = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < KEYS; i++) {
            tl_key(k, i);
            tb_big(v, i, r);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        }
        if (r == 0) {
            CU_ASSERT_EQUAL(tl_flush(db), 0);
            first = tb_lowest_blob(env, dir);
        }
        if (r % 10 == 9) {
            tl_settle(db);
            uint64_t b = tl_files_bytes(env, dir, ".blob", NULL);
            if (b > peak)
                peak = b;
        }
    }
    tl_settle(db);
    uint64_t live = (uint64_t)(KEYS + ONCE) * TB_BIG;
    uint64_t written = tl_stat(db, "lsm_blob_flush_bytes_total") + tl_stat(db, "lsm_blob_gc_bytes_total");
    fprintf(stderr, "overwrite: written %llu, peak on disk %llu, live %llu, now %llu in %d files\n",
            (unsigned long long)written, (unsigned long long)peak, (unsigned long long)live,
            (unsigned long long)tl_files_bytes(env, dir, ".blob", NULL), tl_count_files(env, dir, ".blob"));
    CU_ASSERT_TRUE(written > 20 * live);
    CU_ASSERT_TRUE(peak < 6 * live);
    CU_ASSERT_TRUE(tl_files_bytes(env, dir, ".blob", NULL) < 6 * live);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%06llu.blob", dir, first);
    CU_ASSERT_TRUE(first > 0);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    CU_ASSERT_TRUE(tl_stat(db, "lsm_blob_gc_records_total") > 0);
    int bad = 0;
    for (int i = 0; i < ONCE; i++) {
        tl_key(k, 1000 + i);
        tb_big(v, 1000 + i, 0);
        bad += !tl_has(db, k, v);
    }
    for (int i = 0; i < KEYS; i++) {
        tl_key(k, i);
        tb_big(v, i, ROUNDS - 1);
        bad += !tl_has(db, k, v);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* Offset of the first occurrence of needle in the file at path (-1). */
static long tb_find(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    size_t l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(buf + i, needle, l))
            return (long)i;
    return -1;
}

/* A flipped byte in one record: that key's read fails with DK_ECORRUPT
 * and a log naming the blob file and the record's offset; the other keys
 * read, and an iterator skips the damaged key. */
static void test_corrupt_record(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    for (int i = 0; i < 3; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%06llu.blob", dir, tb_lowest_blob(env, dir));
    long at = tb_find(path, "big-1-0:");
    CU_ASSERT_FATAL(at > 0);
    long rec = at - (long)LSM_BLOB_REC_HDR - 10; /* header, key, then the value */
    tl_flip(path, (uint64_t)at + 100);
    db = tb_open(dir, &env, 1 << 20, "1024", "25");
    dk_buf b = DK_BUF_INIT;
    tl_logs[0] = '\0';
    tl_key(k, 1);
    CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ECORRUPT);
    char want[4200];
    snprintf(want, sizeof(want), "%s at offset %ld", path, rec);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, want));
    if (!strstr(tl_logs, want))
        fprintf(stderr, "wanted \"%s\" in the log:\n%s", want, tl_logs);
    CU_ASSERT_TRUE(dk_fake_host_metric(&th, "lsm_corrupt_blocks_total") >= 1);
    for (int i = 0; i < 3; i += 2) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_TRUE(tl_has(db, k, v));
    }
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    dk_engine_iter *it;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.iter_open(&db->base, &o, &it), 0);
    dk_slice ik, iv;
    int n = 0, saw1 = 0;
    while (dk__lsm_engine_ops.iter_next(it, &ik, &iv) == 0) {
        n++;
        saw1 |= ik.len == 10 && !memcmp(ik.ptr, "key-000001", 10);
    }
    dk__lsm_engine_ops.iter_close(it);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_FALSE(saw1);
    /* Written again, the key reads (the newer version shadows it). */
    tb_big(v, 1, 7);
    CU_ASSERT_EQUAL(tl_put(db, "key-000001", v, 0), 0);
    CU_ASSERT_TRUE(tl_has(db, "key-000001", v));
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* The flush derives a blob record's CRC from the value's CRC the WAL
 * encoder computed of the writer's bytes (lsm_write.c): a value changed in
 * the memtable between its write and the flush is written with a CRC that
 * does not match it, and reads of it fail with DK_ECORRUPT, while the
 * values around it (same blob file, CRCs derived the same way) read. */
static void test_memtable_damage(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    for (int i = 0; i < 3; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    dk_slice mv;
    int type;
    uint64_t seq;
    tl_key(k, 1);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_mem_find(db->mem, tl_str(k), UINT64_MAX, &mv, &type, &seq), 0);
    CU_ASSERT_EQUAL_FATAL(mv.len, TB_BIG);
    ((uint8_t *)mv.ptr)[TB_BIG / 2] ^= 0x10; /* a bit flips in memory */
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 1);
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ECORRUPT);
    CU_ASSERT_TRUE(dk_fake_host_metric(&th, "lsm_corrupt_blocks_total") >= 1);
    for (int i = 0; i < 3; i += 2) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_TRUE(tl_has(db, k, v));
    }
    /* And after a restart (the record is read from the file again). */
    CU_ASSERT_EQUAL(tl_close(db), 0);
    db = tb_open(dir, &env, 1 << 20, "1024", "25");
    tl_key(k, 1);
    CU_ASSERT_EQUAL(tl_get(db, k, &b), DK_ECORRUPT);
    tl_key(k, 2);
    tb_big(v, 2, 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

/* try_get never waits for a blob read: on an env without a non-blocking
 * read (the fault env) a value missing from the block cache is -EAGAIN,
 * even when the table block naming it is cached; once get has read it
 * twice (admitted to the cache), try_get answers from the cache. */
static void test_try_get_nowait(void)
{
    tl_host_reset();
    char dir[64] = "/db", k[32], v[TB_BIG + 1];
    lsm_env *env = dk__lsm_env_fault(7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    for (int i = 0; i < 2; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    dk_buf b = DK_BUF_INIT;
    /* key 0 through get: its data block (which holds key 1's reference
     * too) and its value are cached now. */
    CU_ASSERT_EQUAL(tl_get(db, "key-000000", &b), 0);
    CU_ASSERT_EQUAL(tl_get(db, "key-000000", &b), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str("key-000000"), tl_sink, &b), 0);
    CU_ASSERT_EQUAL(b.len, TB_BIG);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str("key-000001"), tl_sink, &b), -EAGAIN);
    CU_ASSERT_EQUAL(tl_get(db, "key-000001", &b), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str("key-000001"), tl_sink, &b), -EAGAIN);
    CU_ASSERT_EQUAL(tl_get(db, "key-000001", &b), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.try_get(&db->base, tl_str("key-000001"), tl_sink, &b), 0);
    tb_big(v, 1, 0);
    CU_ASSERT_TRUE(b.len == TB_BIG && !memcmp(b.data, v, TB_BIG));
    dk_buf_free(&b);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    env->ops->destroy(env);
}

/* A checkpoint links the blob files its tables name and opens by itself
 * (the source deleted first). */
static void test_checkpoint(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1], cp[128];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 30; i++) {
            tl_key(k, i + 30 * r);
            tb_big(v, i + 30 * r, 0);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        }
        CU_ASSERT_EQUAL(tl_flush(db), 0);
    }
    CU_ASSERT_EQUAL(tl_put(db, "key-000100", "in the WAL only", 1), 0);
    snprintf(cp, sizeof(cp), "%s-cp", dir);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.checkpoint(&db->base, cp), 0);
    CU_ASSERT_EQUAL(tl_count_files(env, cp, ".blob"), 2);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_rmtree(dir);
    lsm_env *env2 = dk__lsm_env_posix();
    lsm_db *db2 = tb_open(cp, &env2, 1 << 20, "1024", "25");
    int bad = 0;
    for (int i = 0; i < 60; i++) {
        tl_key(k, i);
        tb_big(v, i, 0);
        bad += !tl_has(db2, k, v);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_TRUE(tl_has(db2, "key-000100", "in the WAL only"));
    CU_ASSERT_EQUAL(tl_count_files(env2, cp, ".blob"), 2);
    CU_ASSERT_EQUAL(tl_close(db2), 0);
    env2->ops->destroy(env2);
    tl_done(env, cp);
}

/* A blob file no table names (a crash between writing it and the
 * manifest edit) is deleted at open; the referenced one stays. */
static void test_orphan_deleted(void)
{
    tl_host_reset();
    char dir[64], k[32], v[TB_BIG + 1], path[4096];
    lsm_env *env = NULL;
    lsm_db *db = tb_open(dir, &env, 1 << 20, "1024", "25");
    tl_key(k, 1);
    tb_big(v, 1, 0);
    CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    CU_ASSERT_EQUAL(tl_flush(db), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    snprintf(path, sizeof(path), "%s/%06u.blob", dir, 999999u);
    lsm_wfile *f;
    CU_ASSERT_EQUAL_FATAL(env->ops->create(env, path, &f), 0);
    CU_ASSERT_EQUAL(env->ops->append(f, LSM_BLOB_MAGIC, LSM_BLOB_HEADER), 0);
    env->ops->close_w(f);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 2);
    db = tb_open(dir, &env, 1 << 20, "1024", "25");
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 1);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    CU_ASSERT_TRUE(tl_has(db, k, v));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, dir);
}

static CU_TestInfo tb_tests[] = {
    {"round_trip", test_round_trip},
    {"round_trip_direct", test_round_trip_direct},
    {"off", test_off},
    {"writer_offsets", test_writer_offsets},
    {"compaction_moves_references", test_compaction_moves_references},
    {"gc_relocates", test_gc_relocates},
    {"manual_compaction_reclaims", test_manual_compaction_reclaims},
    {"overwrite_bounded", test_overwrite_bounded},
    {"corrupt_record", test_corrupt_record},
    {"memtable_damage", test_memtable_damage},
    {"try_get_nowait", test_try_get_nowait},
    {"checkpoint", test_checkpoint},
    {"orphan_deleted", test_orphan_deleted},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-blob", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = tb_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
