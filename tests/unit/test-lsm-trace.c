/*
 * test-lsm-trace.c - DK_LSM_TRACE (env_posix.c): with the variable set
 * before the first env, every file operation that changes the file system
 * or waits for the device, and every dk__lsm_trace event, leaves one line
 * `mono_s tid op args dur_ms` in the file, on CLOCK_MONOTONIC (the axis of
 * perf -k mono and dk_load's SLOW lines), in the order they ran; reads and
 * appends leave none. No assertion depends on how fast the machine is.
 */
#define _GNU_SOURCE 1 /* gettid */
#include "env.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tt_dir[] = "/tmp/dk-lsm-trace-XXXXXX";
static char tt_log[256];

static double tt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tt_init(void)
{
    if (!mkdtemp(tt_dir))
        return 1;
    snprintf(tt_log, sizeof(tt_log), "%s/trace.txt", tt_dir);
    return setenv("DK_LSM_TRACE", tt_log, 1);
}

static int tt_clean(void)
{
    unlink(tt_log);
    rmdir(tt_dir);
    return 0;
}

static void test_trace_lines(void)
{
    double t0 = tt_now();
    lsm_env *env = dk__lsm_env_posix();
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/000001.blob", tt_dir);
    snprintf(b, sizeof(b), "%s/000002.blob", tt_dir);
    lsm_wfile *w = NULL;
    CU_ASSERT_EQUAL_FATAL(env->ops->create(env, a, &w), 0);
    CU_ASSERT_EQUAL(env->ops->append(w, "0123456789", 10), 0);
    CU_ASSERT_EQUAL(env->ops->sync(w, 1), 0);
    CU_ASSERT_EQUAL(env->ops->sync(w, 0), 0);
    CU_ASSERT_EQUAL(env->ops->close_w(w), 0);
    lsm_rfile *r = NULL;
    CU_ASSERT_EQUAL_FATAL(env->ops->open_r(env, a, &r), 0);
    char buf[10];
    size_t got = 0;
    CU_ASSERT_EQUAL(env->ops->pread(r, buf, sizeof(buf), 0, &got), 0);
    env->ops->close_r(r);
    CU_ASSERT_EQUAL(env->ops->rename(env, a, b), 0);
    CU_ASSERT_EQUAL(env->ops->truncate(env, b, 4), 0);
    dk__lsm_trace("flush_start table=%d", 7);
    CU_ASSERT_EQUAL(env->ops->unlink(env, b), 0);
    CU_ASSERT_EQUAL(env->ops->sync_dir(env, tt_dir), 0);
    env->ops->destroy(env);
    double t1 = tt_now();

    /* The file is written through stdio: read it from a new descriptor
     * after a flush of every stream. */
    fflush(NULL);
    FILE *f = fopen(tt_log, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    const char *want[] = {"create",   "fdatasync",   "fsync",  "close",   "rename",
                          "truncate", "flush_start", "unlink", "sync_dir"};
    size_t n = 0;
    char line[1024];
    double prev = 0;
    while (fgets(line, sizeof(line), f)) {
        double t = 0, dur = -1;
        int tid = 0;
        char op[64] = "";
        CU_ASSERT_EQUAL_FATAL(sscanf(line, "%lf %d %63s", &t, &tid, op), 3);
        CU_ASSERT_TRUE(t >= t0 && t <= t1 && t >= prev);
        prev = t;
        CU_ASSERT_EQUAL(tid, (int)gettid());
        const char *last = strrchr(line, ' ');
        CU_ASSERT_PTR_NOT_NULL_FATAL(last);
        CU_ASSERT_EQUAL(sscanf(last, "%lf", &dur), 1);
        CU_ASSERT_TRUE(dur >= 0 && dur <= (t1 - t0) * 1e3 + 0.001);
        CU_ASSERT_TRUE_FATAL(n < sizeof(want) / sizeof(want[0]));
        CU_ASSERT_STRING_EQUAL(op, want[n]);
        if (!strcmp(op, "create") || !strcmp(op, "unlink") || !strcmp(op, "truncate"))
            CU_ASSERT_PTR_NOT_NULL(strstr(line, !strcmp(op, "create") ? a : b));
        if (!strcmp(op, "rename"))
            CU_ASSERT_TRUE(strstr(line, a) && strstr(line, b));
        if (!strcmp(op, "truncate"))
            CU_ASSERT_PTR_NOT_NULL(strstr(line, "len=4"));
        if (!strcmp(op, "flush_start"))
            CU_ASSERT_PTR_NOT_NULL(strstr(line, "table=7"));
        n++;
    }
    fclose(f);
    CU_ASSERT_EQUAL(n, sizeof(want) / sizeof(want[0]));
}

static CU_TestInfo tt_tests[] = {
    {"trace_lines", test_trace_lines},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-trace", .pInitFunc = tt_init, .pCleanupFunc = tt_clean, .pTests = tt_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
