/*
 * test-lsm-util.h - helpers shared by the LSM engine's unit tests
 * (test-lsm-*.c): a scratch directory, an engine opened on an env with
 * chosen options, one-line put/get/delete wrappers, a count of files by
 * suffix and one engine stat by name.
 */
#ifndef DK_TEST_LSM_UTIL_H
#define DK_TEST_LSM_UTIL_H
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_host.h"
#include "lsm.h"

static inline int tl_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A fresh directory /tmp/dk-lsm-XXXXXX into buf (64 bytes). */
static inline void tl_mkdtemp(char *buf)
{
    strcpy(buf, "/tmp/dk-lsm-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(buf));
}

static inline void tl_rmtree(const char *dir)
{
    nftw(dir, tl_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline dk_slice tl_str(const char *s)
{
    dk_slice r = {(const uint8_t *)s, strlen(s)};
    return r;
}

/* Open the engine at path on env with a small memtable (bytes, 0 =
 * default) and the given codec (the engine option codec; NULL = the
 * option as the fake host has it); compaction is not rate-limited (the
 * option compaction_rate_limit = 0). Returns the engine or NULL. */
static inline lsm_db *tl_open(dk_fake_host *fh, lsm_env *env, const char *path, uint64_t memtable,
                              const char *codec, int *rc_out)
{
    if (codec)
        dk_fake_host_set_option(fh, "codec", codec);
    dk_fake_host_set_option(fh, "compaction_rate_limit", "0");
    dk_engine_conf conf = {.struct_size = sizeof(conf), .path = path, .sync = 1, .memtable_size = memtable};
    dk_engine *e = NULL;
    int rc = dk__lsm_open_env(&fh->host, &conf, env, &e);
    if (rc_out)
        *rc_out = rc;
    return (lsm_db *)e;
}

static inline int tl_put(lsm_db *db, const char *k, const char *v, int sync)
{
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = tl_str(k), .value = tl_str(v)};
    dk_batch b = {&op, 1};
    return dk__lsm_engine_ops.write(&db->base, &b, sync);
}

static inline int tl_del(lsm_db *db, const char *k, int sync)
{
    dk_batch_op op = {.type = DK_BATCH_DELETE, .key = tl_str(k)};
    dk_batch b = {&op, 1};
    return dk__lsm_engine_ops.write(&db->base, &b, sync);
}

static inline void tl_sink(void *arg, dk_slice v)
{
    dk_buf *b = arg;
    dk_buf_reset(b);
    dk_buf_append(b, v.ptr, v.len);
}

/* get k: 0 with the value NUL-terminated in out, or the error. */
static inline int tl_get(lsm_db *db, const char *k, dk_buf *out)
{
    dk_buf_reset(out);
    int rc = dk__lsm_engine_ops.get(&db->base, tl_str(k), tl_sink, out);
    if (rc == 0)
        dk_buf_append(out, "", 1);
    return rc;
}

/* 1 when k holds exactly v. */
static inline int tl_has(lsm_db *db, const char *k, const char *v)
{
    dk_buf b = DK_BUF_INIT;
    int ok = tl_get(db, k, &b) == 0 && !strcmp((const char *)b.data, v);
    dk_buf_free(&b);
    return ok;
}

static inline int tl_close(lsm_db *db)
{
    return dk__lsm_engine_ops.close(&db->base);
}

/* Wait until no flush or compaction runs or is pending (no time limit is
 * asserted: the suite's timeout ends a hang). */
static inline void tl_settle(lsm_db *db)
{
    for (;;) {
        pthread_mutex_lock(&db->mu);
        int busy = db->imm || db->compacting || db->compact_pending;
        pthread_mutex_unlock(&db->mu);
        if (!busy)
            return;
        usleep(2000);
    }
}

/* Count files in dir whose name ends with suffix, and their bytes. */
typedef struct tl_count {
    const char *dir, *suffix;
    int n;
    uint64_t bytes;
} tl_count;
static inline int tl_count_cb(void *arg, const char *name)
{
    tl_count *c = arg;
    size_t a = strlen(name), b = strlen(c->suffix);
    if (a < b || strcmp(name + a - b, c->suffix))
        return 0;
    char p[4096];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", c->dir, name);
    if (stat(p, &st) == 0)
        c->bytes += (uint64_t)st.st_size;
    c->n++;
    return 0;
}
static inline int tl_count_files(lsm_env *env, const char *dir, const char *suffix)
{
    tl_count c = {dir, suffix, 0, 0};
    env->ops->list(env, dir, tl_count_cb, &c);
    return c.n;
}
/* The bytes of dir's files ending with suffix (*n: how many, may be NULL). */
static inline uint64_t tl_files_bytes(lsm_env *env, const char *dir, const char *suffix, int *n)
{
    tl_count c = {dir, suffix, 0, 0};
    env->ops->list(env, dir, tl_count_cb, &c);
    if (n)
        *n = c.n;
    return c.bytes;
}

/* The engine's stat name as it reports it now (0 when it reports none). */
typedef struct tl_stat_want {
    const char *name;
    uint64_t v;
} tl_stat_want;
static inline void tl_stat_cb(void *arg, const char *name, uint64_t v)
{
    tl_stat_want *s = arg;
    if (!strcmp(name, s->name))
        s->v = v;
}
static inline uint64_t tl_stat(lsm_db *db, const char *name)
{
    tl_stat_want s = {name, 0};
    dk__lsm_engine_ops.stats(&db->base, tl_stat_cb, &s);
    return s.v;
}

/* Append to WAL `number` under /db one synced record k=v at seq, then,
 * when torn, the first 15 bytes of a record of log 3 (an older life's
 * bytes not on a record boundary); make its name durable. */
static inline void tl_put_log(lsm_env *env, uint64_t number, uint64_t seq, const char *k, const char *v,
                              int torn)
{
    char path[64];
    snprintf(path, sizeof(path), "/db/%06llu.log", (unsigned long long)number);
    lsm_wal w;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_wal_open(env, path, &w), 0);
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = tl_str(k), .value = tl_str(v)};
    dk_batch b = {&op, 1};
    dk_buf buf = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk__lsm_wal_encode(&buf, number, seq, &b), 0);
    size_t len = buf.len + (torn ? 15 : 0);
    if (torn)
        CU_ASSERT_EQUAL(dk__lsm_wal_encode(&buf, 3, 1, &b), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_write(&w, buf.data, len), 0);
    CU_ASSERT_EQUAL(dk__lsm_wal_sync(&w), 0);
    dk__lsm_wal_close(&w);
    dk_buf_free(&buf);
    CU_ASSERT_EQUAL(env->ops->sync_dir(env, "/db"), 0);
}

/* The engine's next free file number plus a margin. */
static inline uint64_t tl_next_number(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t n = db->next_file + 10;
    pthread_mutex_unlock(&db->mu);
    return n;
}
#endif
