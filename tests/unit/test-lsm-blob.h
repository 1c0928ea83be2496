/*
 * test-lsm-blob.h - what the blob tests share (test-lsm-blob.c: blob
 * files through the engine; test-lsm-direct.c: blob files written around
 * the page cache; test-lsm-blobgc.c: what separation must not cost):
 * large values by key and generation, opening the engine with blob
 * options, reading them back, the lowest blob file, a file's pages in the
 * page cache, and a blob writer's records checked against their
 * references.
 */
#ifndef DK_TEST_LSM_BLOB_H
#define DK_TEST_LSM_BLOB_H
#include "test-lsm-host.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "env.h"

#define TB_BIG 3000 /* bytes of a large value */

/* Key i and its large value of generation gen (TB_BIG bytes, NUL
 * terminated: v holds TB_BIG + 1). */
static inline void tb_big(char *v, int i, int gen)
{
    memset(v, 'a' + (i + gen) % 26, TB_BIG);
    snprintf(v, 40, "big-%d-%d:", i, gen);
    v[strlen(v)] = '#';
    v[TB_BIG] = '\0';
}

/* Open the engine in dir with blob_min_size min and the GC cutoff pct on
 * env (a fresh posix env when *env is NULL); memtable bytes. */
static inline lsm_db *tb_open(char *dir, lsm_env **env, uint64_t memtable, const char *min, const char *pct)
{
    return tl_open_blobs(dir, env, memtable, min, pct);
}

/* How many of keys 0..n-1 do not read back as their large value of
 * generation gen. */
static inline int tb_unread(lsm_db *db, int n, int gen)
{
    char k[32], v[TB_BIG + 1];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        tl_key(k, i);
        tb_big(v, i, gen);
        bad += !tl_has(db, k, v);
    }
    return bad;
}

/* The lowest numbered blob file in dir (0: none). */
typedef struct tb_low {
    unsigned long long n;
} tb_low;
static inline int tb_low_cb(void *arg, const char *name)
{
    tb_low *l = arg;
    unsigned long long n;
    char tail[16];
    if (sscanf(name, "%llu.%15s", &n, tail) == 2 && !strcmp(tail, "blob") && (!l->n || n < l->n))
        l->n = n;
    return 0;
}
static inline unsigned long long tb_lowest_blob(lsm_env *env, const char *dir)
{
    tb_low l = {0};
    env->ops->list(env, dir, tb_low_cb, &l);
    return l.n;
}

/* Pages of the file at path from byte `from` on in the page cache
 * (mincore over a mapping). */
static inline size_t tb_cached_pages(const char *path, size_t from)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    CU_ASSERT_FATAL(fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = ((size_t)st.st_size + pg - 1) / pg, got = 0;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(n);
    CU_ASSERT_FATAL(m != MAP_FAILED && vec && mincore(m, (size_t)st.st_size, vec) == 0);
    for (size_t i = from / pg; i < n; i++)
        got += vec[i] & 1;
    free(vec);
    munmap(m, (size_t)st.st_size);
    close(fd);
    return got;
}

/* Write N records of odd sizes (empty, one of 281 KiB, a 300 KiB key)
 * through a blob writer at path on env with options o, and check each
 * reference against the file's bytes and the size against finish's.
 * With cached, first count the file's pages in the page cache there (a
 * file of the POSIX env: reading it back caches them). */
static inline void tb_writer_offsets(lsm_env *env, const char *path, const lsm_blob_wopts *o, size_t *cached)
{
    enum { N = 400 };
    static char val[300 * 1024 + N], key[300 * 1024];
    for (size_t i = 0; i < sizeof(val); i++)
        val[i] = (char)('a' + i % 23);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (char)('A' + i % 19);
    static lsm_blob_ref refs[N];
    lsm_blob_writer *w;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_blob_writer_open(env, path, 5, o, &w), 0);
    int rc = 0;
    for (int i = 0; i < N; i++) {
        size_t vl = i == 7     ? 0
                    : i == 100 ? sizeof(val) - N
                    : i == 200 ? 140 * 1024
                               : (size_t)(i * 37) % 12000;
        size_t kl = i == 300 ? sizeof(key) : 10 + (size_t)i % 7;
        rc |= dk__lsm_blob_writer_add(w, (dk_slice){(uint8_t *)key, kl},
                                      (dk_slice){(uint8_t *)val + i, vl - (vl ? i % 2 : 0)}, &refs[i]);
    }
    CU_ASSERT_EQUAL(rc, 0);
    uint64_t size;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_blob_writer_finish(w, &size), 0);
    if (cached)
        *cached = tb_cached_pages(path, 0);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, path, &data, &len), 0);
    CU_ASSERT_EQUAL(len, size);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const lsm_blob_ref *r = &refs[i];
        size_t kl = i == 300 ? sizeof(key) : 10 + (size_t)i % 7;
        const uint8_t *rec = data + r->off;
        bad += r->off + LSM_BLOB_REC_HDR + kl + r->len > len || dk_get_u32(rec + 4) != kl ||
               dk_get_u32(rec + 8) != r->len || memcmp(rec + LSM_BLOB_REC_HDR, key, kl) != 0 ||
               memcmp(rec + LSM_BLOB_REC_HDR + kl, val + i, r->len) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(data);
}

#endif /* DK_TEST_LSM_BLOB_H */
