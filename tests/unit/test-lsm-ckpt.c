/*
 * test-lsm-ckpt.c - checkpoints (checkpoint.c) when a blob file the
 * tables name is not in the data directory, on real directories: deleted
 * while the engine has it open (the checkpoint copies it through the open
 * descriptor and is whole), or missing, set aside as .blob.damaged, or
 * damaged when the engine opened (the engine serves the other values; the
 * checkpoint succeeds, says which file in the log, a metric and its
 * BLOBS-MISSING file, and opens by itself with those values reading as
 * corrupt, as in the source). A live table deleted under the open engine
 * is copied through the table reader's descriptor: the checkpoint holds
 * every key. A checkpoint that cannot be made fails with the file named
 * in the log.
 */
#include "test-lsm-host.h"

#include <sys/stat.h>

#define CK_BIG 3000 /* bytes of a large value: a blob */

static void ck_big(char *v, int i)
{
    memset(v, 'a' + i % 26, CK_BIG);
    snprintf(v, 40, "big-%d:", i);
    v[strlen(v)] = '#';
    v[CK_BIG] = '\0';
}

static lsm_db *ck_open(const char *dir, lsm_env *env)
{
    dk_fake_host_set_option(&th, "blob_min_size", "1024");
    dk_fake_host_set_option(&th, "memtable_jitter", "0");
    int rc;
    lsm_db *db = tl_open(&th, env, dir, 1 << 20, "none", &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return db;
}

/* The host reset, a fresh directory in dir (64 bytes), a posix env in
 * *env and the engine opened there (ck_open). */
static lsm_db *ck_start(char *dir, lsm_env **env)
{
    tl_host_reset();
    *env = dk__lsm_env_posix();
    tl_mkdtemp(dir);
    return ck_open(dir, *env);
}

/* Keys from..to-1 with large values, then a flush: one blob file. */
static void ck_fill(lsm_db *db, int from, int to)
{
    char k[32], *v = malloc(CK_BIG + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (int i = from; i < to; i++) {
        tl_key(k, i);
        ck_big(v, i);
        CU_ASSERT_EQUAL(tl_put(db, k, v, 0), 0);
    }
    free(v);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
}

/* How many of keys from..to-1 read back whole; *corrupt: how many
 * answered DK_ECORRUPT. */
static int ck_good(lsm_db *db, int from, int to, int *corrupt)
{
    char k[32], *v = malloc(CK_BIG + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    dk_buf b = DK_BUF_INIT;
    int good = 0;
    *corrupt = 0;
    for (int i = from; i < to; i++) {
        tl_key(k, i);
        ck_big(v, i);
        int rc = tl_get(db, k, &b);
        good += rc == 0 && !strcmp((const char *)b.data, v);
        *corrupt += rc == DK_ECORRUPT;
    }
    dk_buf_free(&b);
    free(v);
    return good;
}

/* The lowest file number in dir with the extension ext ("blob", "sst"). */
typedef struct ck_low {
    const char *ext;
    unsigned long long n;
} ck_low;
static int ck_low_cb(void *arg, const char *name)
{
    ck_low *l = arg;
    unsigned long long n;
    char tail[16];
    if (sscanf(name, "%llu.%15s", &n, tail) == 2 && !strcmp(tail, l->ext) && (!l->n || n < l->n))
        l->n = n;
    return 0;
}
static unsigned long long ck_lowest(lsm_env *env, const char *dir, const char *ext)
{
    ck_low l = {ext, 0};
    env->ops->list(env, dir, ck_low_cb, &l);
    return l.n;
}

/* The text of dir/BLOBS-MISSING into buf ("" when there is none). */
static void ck_note(const char *dir, char *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/BLOBS-MISSING", dir);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Delete the lowest-numbered .ext file of the open engine in dir, then
 * take a checkpoint into cp (128 bytes: dir-cp): it succeeds, and the log
 * says that file was deleted while open. Then close the engine, remove
 * dir, and return the engine opened on the checkpoint. */
static lsm_db *ck_deleted_then_checkpoint(lsm_db *db, lsm_env *env, const char *dir, const char *ext,
                                          char *cp)
{
    char path[4096];
    unsigned long long number = ck_lowest(env, dir, ext);
    CU_ASSERT_NOT_EQUAL_FATAL(number, 0);
    snprintf(path, sizeof(path), "%s/%06llu.%s", dir, number, ext);
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    snprintf(cp, 128, "%s-cp", dir);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.checkpoint(&db->base, cp), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "deleted while the engine has it open"));
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, path));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_rmtree(dir);
    return ck_open(cp, env);
}

/* A blob file deleted while open: the checkpoint copies it through the
 * engine's descriptor, and is whole (it opens with every value, the
 * source gone). */
static void test_deleted_while_open(void)
{
    char dir[64], cp[128], note[512];
    lsm_env *env;
    lsm_db *db = ck_start(dir, &env);
    ck_fill(db, 0, 10);
    db = ck_deleted_then_checkpoint(db, env, dir, "blob", cp);
    CU_ASSERT_EQUAL(tl_count_files(env, cp, ".blob"), 1);
    ck_note(cp, note, sizeof(note));
    CU_ASSERT_STRING_EQUAL(note, "");
    int corrupt;
    CU_ASSERT_EQUAL(ck_good(db, 0, 10, &corrupt), 10);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, cp);
}

/* A live table deleted under the open engine: the checkpoint copies it
 * through the table reader's descriptor, says so, and opens by itself
 * with every key (the source gone). */
static void test_table_deleted_while_open(void)
{
    char dir[64], cp[128];
    lsm_env *env;
    lsm_db *db = ck_start(dir, &env);
    ck_fill(db, 0, 10);
    ck_fill(db, 10, 20);
    CU_ASSERT_EQUAL(tl_put(db, "small", "in a table", 0), 0);
    CU_ASSERT_EQUAL(dk__lsm_engine_ops.flush(&db->base), 0);
    CU_ASSERT_EQUAL_FATAL(tl_count_files(env, dir, ".sst"), 3);
    db = ck_deleted_then_checkpoint(db, env, dir, "sst", cp);
    CU_ASSERT_EQUAL(tl_count_files(env, cp, ".sst"), 3);
    int corrupt;
    CU_ASSERT_EQUAL(ck_good(db, 0, 20, &corrupt), 20);
    CU_ASSERT_EQUAL(corrupt, 0);
    CU_ASSERT_TRUE(tl_has(db, "small", "in a table"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_done(env, cp);
}

enum { CK_UNLINK, CK_SET_ASIDE, CK_DAMAGED };

/* Two blob files; before a reopen the older one is removed, set aside as
 * .blob.damaged, or has its header damaged. The engine serves the other
 * file's values and the WAL's; the checkpoint succeeds and says so. */
static void ck_lost_case(int how)
{
    char dir[64], cp[128], path[4096], aside[4200], name[32], note[512];
    lsm_env *env;
    lsm_db *db = ck_start(dir, &env);
    ck_fill(db, 0, 10);
    unsigned long long blob = ck_lowest(env, dir, "blob");
    ck_fill(db, 10, 20);
    CU_ASSERT_EQUAL(tl_count_files(env, dir, ".blob"), 2);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    snprintf(path, sizeof(path), "%s/%06llu.blob", dir, blob);
    snprintf(aside, sizeof(aside), "%s.damaged", path);
    snprintf(name, sizeof(name), "%06llu.blob", blob);
    if (how == CK_UNLINK) {
        CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    } else if (how == CK_SET_ASIDE) {
        CU_ASSERT_EQUAL_FATAL(rename(path, aside), 0);
    } else {
        tl_flip(path, 0);
    }
    db = ck_open(dir, env);
    CU_ASSERT_EQUAL(tl_put(db, "small", "in the WAL", 1), 0);
    int corrupt;
    CU_ASSERT_EQUAL(ck_good(db, 10, 20, &corrupt), 10);
    CU_ASSERT_EQUAL(ck_good(db, 0, 10, &corrupt), 0);
    CU_ASSERT_EQUAL(corrupt, 10);
    tl_logs[0] = '\0';
    snprintf(cp, sizeof(cp), "%s-cp", dir);
    CU_ASSERT_EQUAL_FATAL(dk__lsm_engine_ops.checkpoint(&db->base, cp), 0);
    /* Said: the log names the file, the metric counts it, the note lists it. */
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, name));
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "BLOBS-MISSING"));
    CU_ASSERT_EQUAL(dk_fake_host_metric(&th, "lsm_checkpoint_blobs_missing_total"), 1);
    ck_note(cp, note, sizeof(note));
    CU_ASSERT_EQUAL(strncmp(note, name, strlen(name)), 0);
    const char *nl = strchr(note, '\n');
    CU_ASSERT_TRUE(nl && nl[1] == '\0'); /* one line */
    CU_ASSERT_EQUAL(tl_count_files(env, cp, ".blob"), how == CK_DAMAGED ? 2 : 1);
    /* The node goes on serving. */
    CU_ASSERT_EQUAL(ck_good(db, 10, 20, &corrupt), 10);
    CU_ASSERT_EQUAL(tl_put(db, "after", "the checkpoint", 1), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    /* The checkpoint opens by itself, as the source was. */
    lsm_env *env2 = dk__lsm_env_posix();
    tl_host_reset();
    db = ck_open(cp, env2);
    CU_ASSERT_EQUAL(ck_good(db, 10, 20, &corrupt), 10);
    CU_ASSERT_EQUAL(ck_good(db, 0, 10, &corrupt), 0);
    CU_ASSERT_EQUAL(corrupt, 10);
    CU_ASSERT_TRUE(tl_has(db, "small", "in the WAL"));
    CU_ASSERT_EQUAL(tl_close(db), 0);
    ck_note(cp, note, sizeof(note)); /* the engine leaves the note alone */
    CU_ASSERT_EQUAL(strncmp(note, name, strlen(name)), 0);
    env2->ops->destroy(env2);
    tl_rmtree(cp);
    tl_done(env, dir);
}

static void test_missing_at_open(void)
{
    ck_lost_case(CK_UNLINK);
}

static void test_set_aside(void)
{
    ck_lost_case(CK_SET_ASIDE);
}

static void test_damaged_header(void)
{
    ck_lost_case(CK_DAMAGED);
}

/* A checkpoint that cannot be made (a blob file that can be neither
 * linked nor copied) fails, and the log names the file. */
static void test_failure_names_file(void)
{
    char dir[64], cp[128], path[4096];
    lsm_env *env;
    lsm_db *db = ck_start(dir, &env);
    ck_fill(db, 0, 10);
    unsigned long long blob = ck_lowest(env, dir, "blob");
    snprintf(path, sizeof(path), "%s/%06llu.blob", dir, blob);
    /* A directory where the blob file was: link(2) fails with EPERM or
     * EISDIR, and so does the copy (open of a directory for reading
     * works, its read does not). */
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
    snprintf(cp, sizeof(cp), "%s-cp", dir);
    CU_ASSERT_NOT_EQUAL(dk__lsm_engine_ops.checkpoint(&db->base, cp), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, "checkpoint into"));
    CU_ASSERT_PTR_NOT_NULL(strstr(tl_logs, path));
    CU_ASSERT_EQUAL(rmdir(path), 0);
    CU_ASSERT_EQUAL(tl_close(db), 0);
    tl_rmtree(cp);
    tl_done(env, dir);
}

static CU_TestInfo ck_tests[] = {
    {"deleted_while_open", test_deleted_while_open},
    {"table_deleted_while_open", test_table_deleted_while_open},
    {"missing_at_open", test_missing_at_open},
    {"set_aside", test_set_aside},
    {"damaged_header", test_damaged_header},
    {"failure_names_file", test_failure_names_file},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-ckpt", .pInitFunc = tl_host_init, .pCleanupFunc = tl_host_clean, .pTests = ck_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
