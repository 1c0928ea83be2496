/*
 * test-log.c - the logger: line format, level filtering, control
 * characters, truncation, reopen, and whole lines under concurrent writers.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static char tl_dir[] = "/tmp/dk-test-log-XXXXXX";
static char tl_path[600];

static int tl_setup(void)
{
    if (!mkdtemp(tl_dir))
        return -1;
    snprintf(tl_path, sizeof tl_path, "%s/node.log", tl_dir);
    return 0;
}

static int tl_teardown(void)
{
    char cmd[128];
    dk_log_close();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tl_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Read the whole log file into a malloc'd string. */
static char *tl_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

static size_t tl_count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_level_parse(void)
{
    int level = -1;
    CU_ASSERT(dk_log_level_parse("error", &level) == 0 && level == DK_LOG_ERROR);
    CU_ASSERT(dk_log_level_parse("warn", &level) == 0 && level == DK_LOG_WARN);
    CU_ASSERT(dk_log_level_parse("INFO", &level) == 0 && level == DK_LOG_INFO);
    CU_ASSERT(dk_log_level_parse("debug", &level) == 0 && level == DK_LOG_DEBUG);
    CU_ASSERT_EQUAL(dk_log_level_parse("trace", &level), DK_ECONFIG);
    CU_ASSERT_EQUAL(level, DK_LOG_DEBUG);
    CU_ASSERT_EQUAL(dk_log_open(NULL, 9), DK_ECONFIG);
}

static void test_format_and_levels(void)
{
    remove(tl_path);
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    dk_log(DK_LOG_INFO, "node %s started with %d threads", "n1", 4);
    dk_log(DK_LOG_DEBUG, "hidden debug line");
    dk_log(DK_LOG_ERROR, "two\nlines\tjoined");
    dk_log_set_level(DK_LOG_DEBUG);
    CU_ASSERT_EQUAL(dk_log_level(), DK_LOG_DEBUG);
    dk_log(DK_LOG_DEBUG, "visible debug line");
    dk_log_set_level(DK_LOG_WARN);
    dk_log(DK_LOG_INFO, "hidden info line");
    dk_log(DK_LOG_WARN, "a warning");
    dk_log_close();

    char *text = tl_slurp(tl_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(tl_count_lines(text), 4);
    CU_ASSERT_PTR_NULL(strstr(text, "hidden"));
    regex_t re;
    CU_ASSERT_EQUAL_FATAL(regcomp(&re,
                                  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                                  "INFO node n1 started with 4 threads\n"
                                  "[0-9T:.Z-]{24} ERROR two lines joined\n"
                                  "[0-9T:.Z-]{24} DEBUG visible debug line\n"
                                  "[0-9T:.Z-]{24} WARN a warning\n$",
                                  REG_EXTENDED),
                          0);
    CU_ASSERT_EQUAL(regexec(&re, text, 0, NULL, 0), 0);
    regfree(&re);
    free(text);
}

static void test_truncation(void)
{
    remove(tl_path);
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    char *big = malloc(10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    dk_log(DK_LOG_INFO, "%s", big);
    dk_log_close();
    free(big);
    char *text = tl_slurp(tl_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t len = strlen(text);
    CU_ASSERT_EQUAL(tl_count_lines(text), 1);
    CU_ASSERT(len <= 4096);
    CU_ASSERT(len > 4000);
    CU_ASSERT(len >= 4 && memcmp(text + len - 4, "...\n", 4) == 0);
    free(text);
}

static void test_reopen_appends(void)
{
    remove(tl_path);
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    dk_log(DK_LOG_INFO, "first");
    /* Reopening (log rotation) keeps appending. */
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    dk_log(DK_LOG_INFO, "second");
    char bad[700];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.log", tl_dir);
    CU_ASSERT(dk_log_open(bad, DK_LOG_INFO) < 0);
    dk_log(DK_LOG_INFO, "third"); /* still goes to the previous file */
    dk_log_close();
    char *text = tl_slurp(tl_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(tl_count_lines(text), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " INFO first\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " INFO second\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " INFO third\n"));
    free(text);
}

#define TL_THREADS 4
#define TL_LINES 2000

static void *tl_writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[200];
    memset(pad, 'a' + id, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < TL_LINES; i++)
        dk_log(DK_LOG_INFO, "t%d i%d %s end", id, i, pad);
    return NULL;
}

static void test_concurrent_lines(void)
{
    remove(tl_path);
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    pthread_t th[TL_THREADS];
    for (int i = 0; i < TL_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, tl_writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < TL_THREADS; i++)
        pthread_join(th[i], NULL);
    dk_log_close();

    char *text = tl_slurp(tl_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(tl_count_lines(text), TL_THREADS * TL_LINES);
    /* Every line is whole: its own padding letter throughout, then "end". */
    int next[TL_THREADS] = {0};
    size_t bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int id, i, off = 0;
        if (sscanf(line, "%*s INFO t%d i%d %n", &id, &i, &off) != 2 || id < 0 || id >= TL_THREADS ||
            i != next[id]) {
            bad++;
            continue;
        }
        next[id]++;
        const char *p = line + off;
        size_t n = strspn(p, (char[]){(char)('a' + id), 0});
        if (n != 199 || strcmp(p + n, " end") != 0)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (int i = 0; i < TL_THREADS; i++)
        CU_ASSERT_EQUAL(next[i], TL_LINES);
    free(text);
}

/* Subsystem levels: "rpc: ..." lines follow rpc's own level, others the
 * node's; clearing an override falls back; bad specs are refused. */
static void test_subsystem_levels(void)
{
    remove(tl_path);
    char err[256];
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    CU_ASSERT_EQUAL(dk_log_apply_levels("rpc=debug,membership=warn", err, sizeof err, 0), 0);
    dk_log(DK_LOG_DEBUG, "rpc: shown debug");
    dk_log(DK_LOG_DEBUG, "store: hidden debug");
    dk_log(DK_LOG_INFO, "membership: hidden info");
    dk_log(DK_LOG_WARN, "membership: shown warning");
    dk_log(DK_LOG_INFO, "rpcx: shown info of another subsystem");
    CU_ASSERT_EQUAL(dk_log_set_subsystem_level("rpc", -1), 0);
    dk_log(DK_LOG_DEBUG, "rpc: hidden again");
    CU_ASSERT_EQUAL(dk_log_set_subsystem_level("Bad Name", DK_LOG_DEBUG), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_log_apply_levels("rpc", err, sizeof err, 1), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_log_apply_levels("rpc=loud", err, sizeof err, 1), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "SUBSYSTEM=LEVEL"));
    CU_ASSERT_EQUAL(dk_log_apply_levels("a=info,b-2=error", err, sizeof err, 1), 0);
    CU_ASSERT_EQUAL(dk_log_set_subsystem_level("membership", -1), 0);
    dk_log_close();
    char *text = tl_slurp(tl_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(tl_count_lines(text), 3);
    CU_ASSERT_PTR_NULL(strstr(text, "hidden"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " DEBUG rpc: shown debug\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " WARN membership: shown warning\n"));
    free(text);
}

/* JSON lines: one object per line, the subsystem split out, quotes,
 * backslashes and non-ASCII bytes escaped. */
static void test_json_lines(void)
{
    remove(tl_path);
    CU_ASSERT_EQUAL_FATAL(dk_log_open(tl_path, DK_LOG_INFO), 0);
    dk_log_set_json(1);
    dk_log(DK_LOG_WARN, "rpc: peer \"x\" at C:\\y sent \xc3\xa9");
    dk_log(DK_LOG_INFO, "no subsystem here");
    dk_log_set_json(0);
    dk_log_close();
    char *text = tl_slurp(tl_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(tl_count_lines(text), 2);
    regex_t re;
    CU_ASSERT_EQUAL_FATAL(
        regcomp(&re,
                "^\\{\"time\":\"[0-9T:.Z-]{24}\",\"level\":\"warn\",\"subsystem\":\"rpc\","
                "\"message\":\"peer \\\\\"x\\\\\" at C:\\\\\\\\y sent \\\\u00c3\\\\u00a9\"\\}\n"
                "\\{\"time\":\"[0-9T:.Z-]{24}\",\"level\":\"info\",\"subsystem\":\"\","
                "\"message\":\"no subsystem here\"\\}\n$",
                REG_EXTENDED),
        0);
    CU_ASSERT_EQUAL(regexec(&re, text, 0, NULL, 0), 0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fprintf(stderr, "got: %s", text);
    regfree(&re);
    free(text);
}

static CU_TestInfo tl_tests[] = {
    {"level names", test_level_parse},
    {"format and levels", test_format_and_levels},
    {"long messages truncated", test_truncation},
    {"reopen appends", test_reopen_appends},
    {"concurrent lines stay whole", test_concurrent_lines},
    {"subsystem levels", test_subsystem_levels},
    {"JSON lines", test_json_lines},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "log", .pInitFunc = tl_setup, .pCleanupFunc = tl_teardown, .pTests = tl_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
