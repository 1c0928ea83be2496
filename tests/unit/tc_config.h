/*
 * tc_config.h - what test-config.c and test-config-args.c share: a
 * scratch folder made by the suite's init (tc_setup) and removed by its
 * cleanup, a configuration file written there from a string (tc_write),
 * loaded (tc_load) or expected to be refused with "<path>:<line>: ..."
 * (tc_refused), and dk_config_from_args run on a NULL-terminated argument
 * list (tc_args). Messages land in tc_err.
 *
 * Header-only with static state, like tc_cluster.h: each program is one
 * file and CUnit's suite init and cleanup take no argument.
 */
#ifndef DK_TEST_TC_CONFIG_H
#define DK_TEST_TC_CONFIG_H
#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

static char tc_dir[] = "/tmp/dk-test-config-XXXXXX";
static char tc_err[1024];

static inline int tc_setup(void)
{
    return mkdtemp(tc_dir) ? 0 : -1;
}

static inline int tc_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tc_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write text to tc_dir/name; returns the path (static buffer). */
static const char *tc_write(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tc_dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load text as a file named name; returns the rc, message in tc_err. */
static inline int tc_load(const char *name, const char *text, dk_config *c)
{
    const char *path = tc_write(name, text);
    tc_err[0] = '\0';
    dk_config_defaults(c);
    return dk_config_load_file(c, path, tc_err, sizeof tc_err);
}

/* Load text and expect a refusal whose message is "<path>:<suffix>". */
static inline void tc_refused(const char *text, const char *suffix)
{
    dk_config c;
    char want[1024];
    int rc = tc_load("bad.ini", text, &c);
    snprintf(want, sizeof want, "%s/bad.ini:%s", tc_dir, suffix);
    CU_ASSERT_EQUAL(rc, DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, want);
    if (strcmp(tc_err, want) != 0)
        fprintf(stderr, "got:  %s\nwant: %s\n", tc_err, want);
    dk_config_free(&c);
}

/* Run dk_config_from_args on a NULL-terminated list of arguments. */
static inline int tc_args(dk_config *c, int *exit_now, const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"/usr/bin/dynkvd";
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    tc_err[0] = '\0';
    return dk_config_from_args(c, argc, argv, exit_now, tc_err, sizeof tc_err);
}

#endif /* DK_TEST_TC_CONFIG_H */
