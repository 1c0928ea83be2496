/*
 * test-metrics.c - the metrics registry: named counters add up (also from
 * several threads at once), gauges keep the last value, invalid names are
 * ignored, request families count by operation and status into cumulative
 * histogram buckets, and the exposition carries what was recorded.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
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
    snprintf(want, sizeof want, "dynkv_http_requests_total{op=\"get\",code=\"200\"} %d\n", TM_THREADS * TM_ADDS);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    snprintf(want, sizeof want, "dynkv_http_request_duration_seconds_count{op=\"get\"} %d\n", TM_THREADS * TM_ADDS);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    dk_buf_free(&b);
}

static void test_requests(void)
{
    dk_metrics_reset();
    dk_metrics_request(DK_OP_PUT, 200, 500000);          /* 0.5 ms */
    dk_metrics_request(DK_OP_PUT, 200, 2000000000ull);   /* 2 s */
    dk_metrics_request(DK_OP_PUT, 599, 1000);            /* a code without its own slot */
    dk_metrics_request((dk_op)77, 200, 1000);            /* out of range: counted as other */
    dk_buf b = DK_BUF_INIT;
    char *s = render(&b);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_http_requests_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_requests_total{op=\"put\",code=\"200\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_requests_total{op=\"put\",code=\"other\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_requests_total{op=\"other\",code=\"200\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "dynkv_http_request_duration_seconds_count{op=\"put\"} 3\n"));
    /* Buckets are cumulative: the 2 s request is above every finite bound below 2. */
    const char *p = strstr(s, "dynkv_http_request_duration_seconds_bucket{op=\"put\",le=\"0.001\"} ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(strtoull(p + strlen("dynkv_http_request_duration_seconds_bucket{op=\"put\",le=\"0.001\"} "), NULL, 10), 2);
    dk_buf_free(&b);
}

static CU_TestInfo metrics_tests[] = {
    {"named counters and gauges", test_named},
    {"concurrent adds are exact", test_concurrent},
    {"request families and buckets", test_requests},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "metrics", .pTests = metrics_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
