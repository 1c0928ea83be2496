/*
 * test-lsm-util.h - helpers shared by the LSM engine's unit tests
 * (test-lsm-*.c): a scratch directory, an engine opened on an env with
 * chosen options, one-line put/get/delete wrappers, a count of files by
 * suffix and one engine stat by name; on the fault env: the engine at
 * /db, a crash and reboot, and a run of synced puts through memtable
 * switches that remembers what was acknowledged (test-lsm-switch,
 * test-lsm-walend); a compaction policy plugin loaded from the build
 * (test-lsm-policy, test-lsm-blobgc).
 */
#ifndef DK_TEST_LSM_UTIL_H
#define DK_TEST_LSM_UTIL_H
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dynkv/plugin.h"
#include "env_fault.h"
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

/* ---- on the fault env ------------------------------------------------------ */

/* The engine at /db on env (tl_open: memtable bytes, no codec); fails
 * the test when it does not open. */
static inline lsm_db *tl_open_db(dk_fake_host *fh, lsm_env *env, uint64_t memtable)
{
    int rc;
    lsm_db *db = tl_open(fh, env, "/db", memtable, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    return db;
}

/* From the next I/O on every I/O fails, as if the machine had stopped;
 * close the engine and reboot env: only what was durable is left (tear:
 * an unsynced tail may keep a random prefix, env_fault.h). */
static inline void tl_crash_reboot(lsm_env *env, lsm_db *db, int tear)
{
    dk__lsm_fault_arm(env, 1, LSM_FAULT_CRASH);
    tl_close(db);
    dk__lsm_fault_crash(env, tear);
}

/* Route env's calls through ops, a copy of its own ops the caller then
 * changes; returns env's own (to call on to, and to put back). */
static inline const lsm_env_ops *tl_wrap_ops(lsm_env *env, lsm_env_ops *ops)
{
    const lsm_env_ops *real = env->ops;
    *ops = *real;
    env->ops = ops;
    return real;
}

/* Copy /db/NNNNNN.log (number) to /copy/NNNNNN.log, its path into copy
 * (64 bytes); returns its length. */
static inline size_t tl_copy_log(lsm_env *env, uint64_t number, char *copy)
{
    char path[64];
    snprintf(path, sizeof(path), "/db/%06llu.log", (unsigned long long)number);
    snprintf(copy, 64, "/copy/%06llu.log", (unsigned long long)number);
    uint8_t *data;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(dk__lsm_env_read_all(env, path, &data, &len), 0);
    lsm_wfile *f;
    CU_ASSERT_EQUAL(env->ops->mkdir(env, "/copy"), 0);
    CU_ASSERT_EQUAL_FATAL(env->ops->create(env, copy, &f), 0);
    CU_ASSERT_EQUAL(env->ops->append(f, data, len), 0);
    env->ops->close_w(f);
    free(data);
    return len;
}

/* An engine on a fault env with a 4 KiB memtable, through its switches:
 * key k<i> (i < TL_RUN_KEYS) gets a synced put of a value of len bytes
 * of one letter; acked[i] is the length acknowledged, 0: none. */
#define TL_RUN_KEYS 400
#define TL_RUN_VMAX 9000
typedef struct tl_run {
    dk_fake_host *fh;
    lsm_env *env;
    lsm_db *db;
    int acked[TL_RUN_KEYS];
    int next; /* next key index */
} tl_run;

/* The value of key i, len bytes (buffer of len + 1). */
static inline void tl_run_val(char *v, int i, int len)
{
    memset(v, 'a' + i % 26, (size_t)len);
    v[len] = '\0';
}

/* A fresh fault env (seed), the host reset, the engine open. */
static inline void tl_run_start(tl_run *r, dk_fake_host *fh, uint64_t seed)
{
    memset(r, 0, sizeof(*r));
    r->fh = fh;
    r->env = dk__lsm_env_fault(seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->env);
    dk_fake_host_reset(fh);
    r->db = tl_open_db(fh, r->env, 4096);
}

/* One synced put of key `next` with a value of len bytes (off the stack:
 * ASan's). */
static inline void tl_run_put(tl_run *r, int len)
{
    char k[16], *v = malloc(TL_RUN_VMAX);
    CU_ASSERT_FATAL(v && r->next < TL_RUN_KEYS && len < TL_RUN_VMAX);
    snprintf(k, sizeof(k), "k%03d", r->next);
    tl_run_val(v, r->next, len);
    if (tl_put(r->db, k, v, 1) == 0)
        r->acked[r->next] = len;
    r->next++;
    free(v);
}

/* Synced puts of len bytes until the engine has made `switches` switches. */
static inline void tl_run_fill(tl_run *r, uint64_t switches, int len)
{
    while (tl_stat(r->db, "lsm_wal_switches_total") < switches)
        tl_run_put(r, len);
}

/* Wait until `flushes` flushes finished and the next log is prepared. */
static inline void tl_run_wait_prepared(tl_run *r, uint64_t flushes)
{
    for (;;) {
        pthread_mutex_lock(&r->db->mu);
        int ready = r->db->next_ready;
        pthread_mutex_unlock(&r->db->mu);
        if (ready && tl_stat(r->db, "lsm_flushes_total") >= flushes)
            return;
        usleep(1000);
    }
}

/* Reopen after a reboot (the host reset): every acknowledged write is
 * back. */
static inline void tl_run_reopen(tl_run *r)
{
    dk_fake_host_reset(r->fh);
    r->db = tl_open_db(r->fh, r->env, 4096);
    int lost = 0;
    char *v = malloc(TL_RUN_VMAX);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (int i = 0; i < r->next; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%03d", i);
        tl_run_val(v, i, r->acked[i]);
        lost += r->acked[i] && !tl_has(r->db, k, v);
    }
    free(v);
    CU_ASSERT_EQUAL(lost, 0);
}

/* ---- a compaction policy plugin ------------------------------------------- */

typedef struct tl_policy {
    void *so;
    const dk_compaction_ops *ops;
    dk_compaction_policy *p;
} tl_policy;

/* Load compaction-<name>.so from DYNKV_PLUGIN_PATH (or .libs) and open
 * it on host ph (reset first): leveled with small levels (256 KiB, 64 KiB
 * tables), the tiered policies with their defaults (4..32 runs per job,
 * 1 h windows). Returns 0 or -1 (or the policy's open error). */
static inline int tl_policy_load(dk_fake_host *ph, const char *name, tl_policy *out)
{
    const char *dir = getenv("DYNKV_PLUGIN_PATH");
    char path[1024];
    snprintf(path, sizeof(path), "%s/compaction-%s.so", dir && *dir ? dir : ".libs", name);
    memset(out, 0, sizeof(*out));
    if (!(out->so = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    dk_plugin_entry_fn entry = (dk_plugin_entry_fn)dlsym(out->so, DK_PLUGIN_ENTRY_SYMBOL);
    const dk_plugin *d = entry ? entry() : NULL;
    if (!d || d->magic != DK_PLUGIN_MAGIC || d->kind != DK_PLUGIN_COMPACTION)
        return -1;
    out->ops = d->ops;
    dk_fake_host_reset(ph);
    if (!strcmp(name, "leveled") && (dk_fake_host_set_option(ph, "base_level_size", "256KiB") ||
                                     dk_fake_host_set_option(ph, "target_file_size", "64KiB")))
        return -1;
    dk_compaction_conf conf = {.struct_size = sizeof(conf)};
    return out->ops->open(&ph->host, &conf, &out->p);
}

static inline void tl_policy_unload(tl_policy *pl)
{
    if (pl->p)
        pl->ops->close(pl->p);
    if (pl->so)
        dlclose(pl->so);
}
#endif
