/*
 * test-merkle-file.c - the saved copy of the Merkle trees
 * (framework/coord/merkle_file.c), on real files in a temporary folder:
 *
 *   - a round trip keeps the node id, sequence number, time, group keys
 *     and every leaf, and leaves no temporary file behind;
 *   - no file is -ENOENT, and removing a missing file is not an error;
 *   - every flipped byte and every truncation is DK_ECORRUPT, with the
 *     file's path and an offset in the message, never a crash or a read
 *     past the end (ASan checks that part);
 *   - a newer format version is refused as such (offset 4), an older one
 *     as stale (-ESTALE).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/merkle_file.h"

static char dir[64];

static int suite_init(void)
{
    snprintf(dir, sizeof(dir), "/tmp/dk-mfile-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int suite_clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void fill(dk_merkle_file *f, size_t n)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->node, sizeof(f->node), "node-7");
    f->seq = 123456789012ull;
    f->saved_ms = 1764892800123ll;
    f->files = 0xfeedfacecafebeefull;
    f->g = calloc(n, sizeof(*f->g));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->g);
    f->n = n;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        snprintf(f->g[i].key, sizeof(f->g[i].key), "n1,n2,node-7/%016llx", (unsigned long long)(i * 977));
        for (uint32_t k = 0; k < DK_MERKLE_LEAVES; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f->g[i].leaf[k] = k % 5 ? x : 0;
        }
    }
}

static void path_of(char *out, size_t len)
{
    snprintf(out, len, "%s/%s", dir, DK_MERKLE_FILE);
}

static long file_size(void)
{
    char p[256];
    struct stat st;
    path_of(p, sizeof(p));
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_round_trip(void)
{
    dk_merkle_file f, g;
    char err[512], tmp[256];
    fill(&f, 3);
    CU_ASSERT_EQUAL_FATAL(dk_merkle_file_write(dir, &f, err, sizeof(err)), 0);
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, DK_MERKLE_FILE);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    CU_ASSERT_EQUAL_FATAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(g.node, "node-7");
    CU_ASSERT_EQUAL(g.seq, f.seq);
    CU_ASSERT_EQUAL(g.saved_ms, f.saved_ms);
    CU_ASSERT_EQUAL(g.files, f.files);
    CU_ASSERT_EQUAL_FATAL(g.n, 3);
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(g.g[i].key, f.g[i].key);
        CU_ASSERT_EQUAL(memcmp(g.g[i].leaf, f.g[i].leaf, sizeof(f.g[i].leaf)), 0);
    }
    dk_merkle_file_free(&g);
    /* an empty set of groups is a valid copy too (a node in no group) */
    dk_merkle_file e = {.seq = 5};
    snprintf(e.node, sizeof(e.node), "n1");
    CU_ASSERT_EQUAL(dk_merkle_file_write(dir, &e, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(g.n, 0);
    CU_ASSERT_EQUAL(g.seq, 5);
    dk_merkle_file_free(&g);
    dk_merkle_file_free(&f);
}

static void test_missing(void)
{
    dk_merkle_file g;
    char err[512];
    CU_ASSERT_EQUAL(dk_merkle_file_remove(dir), 0);
    CU_ASSERT_EQUAL(dk_merkle_file_remove(dir), 0);
    CU_ASSERT_EQUAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), -ENOENT);
    dk_merkle_file_free(&g);
}

/* Overwrite the file with data[0..len). */
static void put_file(const uint8_t *data, size_t len)
{
    char p[256];
    path_of(p, sizeof(p));
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void test_damage(void)
{
    dk_merkle_file f, g;
    char err[512], p[256];
    path_of(p, sizeof(p));
    fill(&f, 1);
    CU_ASSERT_EQUAL_FATAL(dk_merkle_file_write(dir, &f, err, sizeof(err)), 0);
    long size = file_size();
    CU_ASSERT_FATAL(size > 8 * (long)DK_MERKLE_LEAVES);
    if (size <= 0 || size > (1l << 24))
        return;
    uint8_t *good = malloc((size_t)size);
    int fd = open(p, O_RDONLY);
    CU_ASSERT_EQUAL_FATAL(read(fd, good, (size_t)size), size);
    close(fd);
    uint8_t *bad = malloc((size_t)size);
    /* every byte of the header and the trailer, and a sample of the leaves */
    for (long at = 0; at < size; at += (at < 64 || at > size - 16) ? 1 : 997) {
        memcpy(bad, good, (size_t)size);
        bad[at] ^= 0x20;
        put_file(bad, (size_t)size);
        err[0] = 0;
        int rc = dk_merkle_file_read(dir, &g, err, sizeof(err));
        CU_ASSERT_EQUAL(rc, DK_ECORRUPT);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "at offset "));
        dk_merkle_file_free(&g);
    }
    for (long len = 0; len < size; len += len < 64 ? 1 : 4001) {
        put_file(good, (size_t)len);
        CU_ASSERT_EQUAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), DK_ECORRUPT);
        dk_merkle_file_free(&g);
    }
    /* a newer version, even with a good checksum, is refused as such */
    memcpy(bad, good, (size_t)size);
    bad[4] = DK_MERKLE_FILE_VERSION + 1;
    put_file(bad, (size_t)size);
    CU_ASSERT_EQUAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "at offset 4: unknown format version"));
    dk_merkle_file_free(&g);
    /* an older one (trees of another item definition) is stale, not damaged */
    bad[4] = DK_MERKLE_FILE_VERSION - 1;
    put_file(bad, (size_t)size);
    CU_ASSERT_EQUAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), -ESTALE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "older release (format version 1, not 2)"));
    dk_merkle_file_free(&g);
    /* the checksum's own offset is named */
    memcpy(bad, good, (size_t)size);
    bad[size - 1] ^= 1;
    put_file(bad, (size_t)size);
    char want[64];
    snprintf(want, sizeof(want), "at offset %ld: checksum mismatch", size - 8);
    CU_ASSERT_EQUAL(dk_merkle_file_read(dir, &g, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    dk_merkle_file_free(&g);
    free(bad);
    free(good);
    dk_merkle_file_free(&f);
    CU_ASSERT_EQUAL(dk_merkle_file_remove(dir), 0);
}

static CU_TestInfo mfile_tests[] = {
    {"round trip", test_round_trip},
    {"missing file", test_missing},
    {"flipped bytes and truncations are corrupt, with file and offset", test_damage},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "merkle file", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = mfile_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
