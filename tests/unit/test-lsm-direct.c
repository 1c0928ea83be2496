/*
 * test-lsm-direct.c - blob files written around the page cache
 * (`[engine.lsm] blob_direct_io`, env.h create_direct): a direct file
 * synced in mid-block and appended to after stays exact; a blob writer's
 * records land at their references and leave nothing in the page cache
 * (mincore), where a plain writer leaves every page; a flush with the
 * option on does the same, counts its file as written direct, and its
 * values read back. On a file system
 * without direct I/O (tmpfs) the writer's fallback is checked instead.
 * The blob round trip with the option on is in test-lsm-blob.c.
 */
#include "test-lsm-blob.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the env writes direct in dir: its file system takes O_DIRECT
 * and tells its alignment, at most 4 KiB (tmpfs tells none). */
static int tb_direct_ok(const char *dir)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644), ok = 0;
    if (fd >= 0) {
#ifdef STATX_DIOALIGN
        struct statx st;
        ok = statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st) == 0 && (st.stx_mask & STATX_DIOALIGN) &&
             st.stx_dio_offset_align && st.stx_dio_offset_align <= 4096 && st.stx_dio_mem_align <= 4096;
#endif
        close(fd);
        unlink(path);
    }
    return ok;
}

/* blob_direct_io through a flush: with it on, the blob file's pages past
 * the first 256 KiB are not in the page cache after the flush (the
 * engine reads the file's magic when it opens it, and the kernel reads
 * ahead of that), where a plain flush leaves them there; the values read
 * back either way. */
static void test_flush_direct(void)
{
    enum { N = 200 };
    for (int direct = 0; direct < 2; direct++) {
        tl_host_reset();
        dk_fake_host_set_option(&th, "blob_direct_io", direct ? "true" : "false");
        char dir[64], k[32], v[TB_BIG + 1], path[128];
        lsm_env *env = NULL;
        lsm_db *db = tb_open(dir, &env, 4 << 20, "1024", "25");
        for (int i = 0; i < N; i++) {
            tl_key(k, i);
            tb_big(v, i, 1);
            CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
        }
        CU_ASSERT_EQUAL(tl_flush(db), 0);
        snprintf(path, sizeof(path), "%s/%06llu.blob", dir, tb_lowest_blob(env, dir));
        size_t late = tb_cached_pages(path, 256 * 1024);
        /* The engine counts the blob files it wrote direct: none
         * without the option or where the file system has no O_DIRECT. */
        uint64_t dfiles = tl_stat(db, "lsm_blob_files_direct_total");
        if (!direct) {
            CU_ASSERT(late > 0);
            CU_ASSERT_EQUAL(dfiles, 0);
        } else if (tb_direct_ok(dir)) {
            CU_ASSERT_EQUAL(late, 0);
            CU_ASSERT_EQUAL(dfiles, 1);
        } else {
            CU_ASSERT_EQUAL(dfiles, 0);
        }
        CU_ASSERT_EQUAL(tb_unread(db, N, 1), 0);
        CU_ASSERT_EQUAL(tl_close(db), 0);
        tl_done(env, dir);
    }
    dk_fake_host_set_option(&th, "blob_direct_io", "false");
}

/* blob_direct_io: the POSIX env writes a blob file around the page cache.
 * The same records as writer_offsets read back byte for byte at their
 * references, the file exactly as long as finish says (the last block is
 * written padded and the file cut back), and the file's pages are not
 * in the page cache after the writer finished, where a plain write leaves
 * them all there. On a file system without direct I/O the writer falls
 * back to plain writes: the records are still checked. */
static void test_writer_direct(void)
{
    char dir[64], path[128];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    int direct = tb_direct_ok(dir);
    lsm_blob_wopts o = {.writeback_bytes = 100000, .direct = 1};
    size_t cached;
    snprintf(path, sizeof(path), "%s/000005.blob", dir);
    tb_writer_offsets(env, path, &o, &cached);
    if (direct)
        CU_ASSERT_EQUAL(cached, 0);
    o.direct = 0;
    snprintf(path, sizeof(path), "%s/000006.blob", dir);
    tb_writer_offsets(env, path, &o, &cached);
    CU_ASSERT(cached > 0);
    if (!direct)
        fprintf(stderr, "writer_direct: %s has no O_DIRECT; the plain fallback was checked\n", dir);
    tl_done(env, dir);
}

/* A direct file (create_direct) synced in the middle of a block and
 * appended to after: every sync leaves the file exactly as long as what
 * was appended, holding those bytes, and later appends rewrite the
 * padded block in place; close without a sync writes the rest. */
static void test_direct_file_syncs(void)
{
    char dir[64], path[128];
    tl_mkdtemp(dir);
    lsm_env *env = dk__lsm_env_posix();
    if (!tb_direct_ok(dir)) {
        fprintf(stderr, "direct_file_syncs: %s has no O_DIRECT: skipped\n", dir);
        tl_done(env, dir);
        return;
    }
    snprintf(path, sizeof(path), "%s/d", dir);
    static uint8_t want[3 * 1024 * 1024];
    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (uint8_t)(i * 131 + i / 4099);
    lsm_wfile *f;
    CU_ASSERT_EQUAL_FATAL(env->ops->create_direct(env, path, &f), 0);
    /* Pieces ending inside a block, on a block, past the 1 MiB stage. */
    size_t cuts[] = {1, 4095, 4096, 5000, 12289, 1048576, 1048577 + 4096, 2500000, sizeof(want)};
    size_t at = 0;
    int bad = 0;
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        size_t n = cuts[c] - at;
        struct iovec iov[2] = {{want + at, n / 3}, {want + at + n / 3, n - n / 3}};
        CU_ASSERT_EQUAL(c % 2 ? env->ops->appendv(f, iov, 2) : env->ops->append(f, want + at, n), 0);
        at = cuts[c];
        if (c == sizeof(cuts) / sizeof(cuts[0]) - 1)
            break; /* the last piece is left to close */
        CU_ASSERT_EQUAL(env->ops->sync(f, c % 2), 0);
        uint8_t *data;
        size_t len;
        CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, path, &data, &len), 0);
        bad += len != at || memcmp(data, want, at) != 0;
        free(data);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(env->ops->writeback(f, at), 0);
    CU_ASSERT_EQUAL(env->ops->close_w(f), 0);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, path, &data, &len), 0);
    CU_ASSERT_EQUAL(len, sizeof(want));
    CU_ASSERT(len == sizeof(want) && memcmp(data, want, len) == 0);
    free(data);
    tl_done(env, dir);
}

static CU_TestInfo td_tests[] = {
    {"flush_direct", test_flush_direct},
    {"writer_direct", test_writer_direct},
    {"direct_file_syncs", test_direct_file_syncs},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-direct", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = td_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
