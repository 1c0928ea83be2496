/*
 * cu_main.h - the shared main() of every CUnit test program.
 *
 * A test file defines its suites as a CU_SuiteInfo table named dk_suites
 * (designated initialisers, NULL-terminated) and includes this header last.
 * The program runs every suite, prints CUnit's report to its log, then one
 * machine-readable line "# dk-summary: P passed, F failed" that
 * tests/summary.sh adds up, and exits 1 when anything failed or nothing ran.
 */
#ifndef DK_CU_MAIN_H
#define DK_CU_MAIN_H
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

static CU_SuiteInfo dk_suites[];

/* libuv's, when the program links it: its pool threads are ended before
 * the leak checker of a sanitizer build walks the live threads (a pool
 * thread that ran a plugin's code keeps that plugin's thread-local block,
 * which is gone once the plugin is dlclosed: LSan's tracer crashed on it). */
extern void uv_library_shutdown(void) __attribute__((weak));

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(dk_suites) != CUE_SUCCESS) {
        fprintf(stderr, "suite registration failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned run = CU_get_number_of_tests_run();
    unsigned failed = CU_get_number_of_tests_failed();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    printf("# dk-summary: %u passed, %u failed\n", run - failed, failed + suites_failed);
    CU_cleanup_registry();
    if (uv_library_shutdown)
        uv_library_shutdown();
    return (failed || suites_failed || run == 0) ? 1 : 0;
}
#endif
