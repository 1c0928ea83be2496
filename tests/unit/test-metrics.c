/*
 * test-metrics.c - the metrics registry: named counters add up (also from
 * several threads at once), gauges keep the last value, invalid names are
 * ignored, request families count by operation and status into cumulative
 * histogram buckets, and the exposition carries what was recorded with
 * the names, HELP lines and units promtool wants; many threads creating
 * many names at once each get exactly one series per name; a handle
 * updates the same series as its name.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/metrics.h"

static char *render(dk_buf *b)
{
    dk_buf_reset(b);
    CU_ASSERT_EQUAL_FATAL(dk_metrics_render(b), 0);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(b, "", 1), 0);
    return (char *)b->data;
}

static void test_named(void)
{
    dk_metrics_reset();
    dk_metrics_add("tm_things_total", 2);
    dk_metrics_add("tm_things_total", 3);
    dk_metrics_set_gauge("tm_level", 9);
    dk_metrics_set_gauge("tm_level", 4);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_things_total"), 5);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_level"), 4);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_never"), 0);
    /* Names outside [a-z_][a-z0-9_]* are ignored, not created. */
    dk_metrics_add("Bad-Name", 1);
    dk_metrics_add("9lives", 1);
    dk_metrics_add("", 1);
    CU_ASSERT_EQUAL(dk_metrics_get("Bad-Name"), 0);
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_things_total counter\ndynkv_tm_things_total 5\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_level gauge\ndynkv_tm_level 4\n"));
    CU_ASSERT_PTR_NULL(strstr(s, "Bad-Name"));
    CU_ASSERT_PTR_NULL(strstr(s, "9lives"));
    dk_buf_free(&b);
}

#define TM_THREADS 4
#define TM_ADDS 20000

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < TM_ADDS; i++) {
        dk_metrics_add("tm_concurrent_total", 1);
        dk_metrics_request(DK_OP_GET, 200, 1000);
    }
    return NULL;
}

static void test_concurrent(void)
{
    dk_metrics_reset();
    pthread_t t[TM_THREADS];
    for (int i = 0; i < TM_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, adder, NULL), 0);
    for (int i = 0; i < TM_THREADS; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_concurrent_total"), TM_THREADS * TM_ADDS);
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    char want[128];
    snprintf(want, sizeof want, "dynkv_http_requests_total{op=\"get\",code=\"200\"} %d\n",
             TM_THREADS * TM_ADDS);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    snprintf(want, sizeof want, "dynkv_http_request_duration_seconds_count{op=\"get\"} %d\n",
             TM_THREADS * TM_ADDS);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    dk_buf_free(&b);
}

static void test_requests(void)
{
    dk_metrics_reset();
    dk_metrics_request(DK_OP_PUT, 200, 500000);        /* 0.5 ms */
    dk_metrics_request(DK_OP_PUT, 200, 2000000000ull); /* 2 s */
    dk_metrics_request(DK_OP_PUT, 599, 1000);          /* a code without its own slot */
    dk_metrics_request((dk_op)77, 200, 1000);          /* out of range: counted as other */
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_http_requests_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_requests_total{op=\"put\",code=\"200\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_requests_total{op=\"put\",code=\"other\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_requests_total{op=\"other\",code=\"200\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "dynkv_http_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_request_duration_seconds_count{op=\"put\"} 3\n"));
    /* Buckets are cumulative: the 2 s request is above every finite bound below 2. */
    const char *p = strstr(s, "dynkv_http_request_duration_seconds_bucket{op=\"put\",le=\"0.001\"} ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(
        strtoull(p + strlen("dynkv_http_request_duration_seconds_bucket{op=\"put\",le=\"0.001\"} "), NULL,
                 10),
        2);
    dk_buf_free(&b);
}

static void test_conventions(void)
{
    dk_metrics_reset();
    dk_metrics_add("tm_widgets", 2);               /* a counter without _total */
    dk_metrics_set_counter("tm_copied_total", 41); /* a counter kept elsewhere */
    dk_metrics_set_counter("tm_copied_total", 42);
    dk_metrics_set_gauge("tm_snapshot_total", 7);      /* "_total": a counter after all */
    dk_metrics_set_gauge("tm_wait_us_total", 1500000); /* microseconds -> seconds */
    dk_metrics_set_gauge("tm_since_ms", 2500);         /* milliseconds -> seconds */
    dk_metrics_add("coord_writes_total", 1);           /* a known name */
    CU_ASSERT_EQUAL(dk_metrics_get("tm_copied_total"), 42);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_wait_us_total"), 1500000);
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_widgets_total counter\ndynkv_tm_widgets_total 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_copied_total counter\ndynkv_tm_copied_total 42\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_snapshot_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "# TYPE dynkv_tm_wait_seconds_total counter\ndynkv_tm_wait_seconds_total 1.500000\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_since_seconds gauge\ndynkv_tm_since_seconds 2.500\n"));
    CU_ASSERT_PTR_NULL(strstr(s, "dynkv_tm_wait_us"));
    CU_ASSERT_PTR_NULL(strstr(s, "dynkv_tm_since_ms"));
    /* Every family has HELP then TYPE; unknown names a generic text. */
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "# HELP dynkv_coord_writes_total Writes (PUT, DELETE) this node coordinated.\n"
                  "# TYPE dynkv_coord_writes_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "# HELP dynkv_tm_widgets_total Counter 'tm_widgets' (registered at run time"));
    int helps = 0, types = 0;
    for (char *p = s; (p = strstr(p, "\n# HELP ")); p++)
        helps++;
    for (char *p = s; (p = strstr(p, "\n# TYPE ")); p++)
        types++;
    CU_ASSERT_EQUAL(helps + (strncmp(s, "# HELP ", 7) == 0), types);
    /* RPC families: by message type, failures counted apart. */
    dk_metrics_rpc(4, "PUT_REPLICA", 0, 300000);
    dk_metrics_rpc(4, "PUT_REPLICA", -110, 2000000000ull);
    dk_metrics_rpc(99, "BEYOND", 0, 1); /* out of range: ignored */
    dk_buf_free(&b);
    b = (dk_buf)DK_BUF_INIT;
    s = render(&b);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_rpc_request_duration_seconds histogram\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "dynkv_rpc_request_duration_seconds_bucket{type=\"PUT_REPLICA\",le=\"0.0005\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_rpc_request_duration_seconds_count{type=\"PUT_REPLICA\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_rpc_request_errors_total{type=\"PUT_REPLICA\"} 1\n"));
    CU_ASSERT_PTR_NULL(strstr(s, "BEYOND"));
    /* Build and process families. */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_build_info{version=\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE process_cpu_seconds_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\nprocess_open_fds "));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\nprocess_max_fds "));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\nprocess_resident_memory_bytes "));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\nprocess_start_time_seconds "));
    dk_buf_free(&b);
}

/* The same name from a buffer whose contents change: the thread cache is
 * keyed by pointer and must not confuse two names at one address. */
static void test_reused_buffer(void)
{
    dk_metrics_reset();
    char buf[32];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "tm_buf_%d_total", i % 3);
        dk_metrics_add(buf, 1);
    }
    CU_ASSERT_EQUAL(dk_metrics_get("tm_buf_0_total"), 34);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_buf_1_total"), 33);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_buf_2_total"), 33);
}

/* A handle updates the series its name names, the one dk_metrics_add and
 * dk_metrics_set_gauge update, renders alike, and finds its series again
 * after a reset (which forgets every series). */
static dk_metric tm_handled = DK_METRIC("tm_handled_total");
static dk_metric tm_handled_level = DK_METRIC_GAUGE("tm_handled_level");

static void test_handles(void)
{
    dk_metrics_reset();
    dk_metrics_count(&tm_handled, 2);
    dk_metrics_add("tm_handled_total", 3);
    dk_metrics_count(&tm_handled, 1);
    for (int i = 0; i < 4; i++)
        DK_METRICS_ADD("tm_site_total", 5);
    dk_metrics_store(&tm_handled_level, 9);
    DK_METRICS_SET_GAUGE("tm_site_level", 7);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_handled_total"), 6);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_site_total"), 20);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_handled_level"), 9);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_site_level"), 7);
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_handled_total counter\ndynkv_tm_handled_total 6\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_tm_handled_level gauge\ndynkv_tm_handled_level 9\n"));

    dk_metrics_reset();
    dk_metrics_add("tm_other_total", 1); /* may take the handle's old slot */
    dk_metrics_count(&tm_handled, 4);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_handled_total"), 4);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_other_total"), 1);
    s = render(&b);
    CU_ASSERT_PTR_NULL(strstr(s, "tm_handled_level"));
    /* An invalid name is ignored, as by dk_metrics_add. */
    dk_metric bad = DK_METRIC("Bad-Name");
    dk_metrics_count(&bad, 1);
    s = render(&b);
    CU_ASSERT_PTR_NULL(strstr(s, "Bad"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_tm_handled_total 4\n"));
    dk_buf_free(&b);
}

/* Threads counting through one static handle, which none has resolved
 * yet when they start: no count is lost. */
static dk_metric tm_shared = DK_METRIC("tm_shared_total");
#define TM_SHARED_ADDS 100000

static void *shared_counter(void *arg)
{
    (void)arg;
    for (int i = 0; i < TM_SHARED_ADDS; i++)
        dk_metrics_count(&tm_shared, 1);
    return NULL;
}

static void test_handle_threads(void)
{
    dk_metrics_reset();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, shared_counter, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(dk_metrics_get("tm_shared_total"), 4 * TM_SHARED_ADDS);
}

#define TM_NAMES 200

static void *creator(void *arg)
{
    char name[32];
    int start = (int)(intptr_t)arg;
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < TM_NAMES; i++) {
            snprintf(name, sizeof name, "tm_race_%d_total", (i + start) % TM_NAMES);
            dk_metrics_add(name, 1);
        }
    return NULL;
}

static void test_concurrent_creation(void)
{
    dk_metrics_reset();
    pthread_t t[TM_THREADS];
    for (int i = 0; i < TM_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, creator, (void *)(intptr_t)(i * 37)), 0);
    for (int i = 0; i < TM_THREADS; i++)
        pthread_join(t[i], NULL);
    char name[32];
    for (int i = 0; i < TM_NAMES; i++) {
        snprintf(name, sizeof name, "tm_race_%d_total", i);
        CU_ASSERT_EQUAL(dk_metrics_get(name), TM_THREADS * 50);
    }
    /* One family per name in the exposition. */
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    int families = 0;
    for (char *p = s; (p = strstr(p, "# TYPE dynkv_tm_race_")); p++)
        families++;
    CU_ASSERT_EQUAL(families, TM_NAMES);
    dk_buf_free(&b);
}

static CU_TestInfo metrics_tests[] = {
    {"promtool conventions: suffixes, units, HELP, process", test_conventions},
    {"names built in a reused buffer", test_reused_buffer},
    {"many threads creating many names", test_concurrent_creation},
    {"named counters and gauges", test_named},
    {"handles on named series", test_handles},
    {"threads share one handle", test_handle_threads},
    {"concurrent adds are exact", test_concurrent},
    {"request families and buckets", test_requests},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "metrics", .pTests = metrics_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
