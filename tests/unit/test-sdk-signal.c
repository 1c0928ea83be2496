/*
 * test-sdk-signal.c - the SDK's decision to fetch the ring again
 * (sdk/sdk_signal.c), on a bare handle with a made-up clock: an answer's
 * X-Ring that differs from the handle's tag signals, an equal one does
 * not; X-Coordinator: not-replica signals only for a routed request; a
 * handle without routing ignores both; a signal makes the next call fetch
 * at once, but signalled fetches are at most one per SDK_SIGNAL_MS even
 * when every answer signals (a flapping ring); the refresh_ms timer and
 * the fetch after failures still apply.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "sdk_int.h"

#define T0 1000000 /* "now" in monotonic ms, well past 0 */

static dkc *bare(uint64_t tag)
{
    dkc *c = calloc(1, sizeof(*c));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    c->signal_node = -1;
    c->opt.refresh_ms = 30000;
    c->routed = 1;
    c->ring_tag = tag;
    c->has_tag = 1;
    c->refreshed = c->refresh_tried = T0;
    return c;
}

static void test_tag_parse(void)
{
    uint64_t v = 0;
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("00000000000000ff", &v), 0);
    CU_ASSERT_EQUAL(v, 255);
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("deadbeefcafef00d", &v), 0);
    CU_ASSERT_EQUAL(v, 0xdeadbeefcafef00dULL);
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse(NULL, &v), -1);
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("", &v), -1);
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("00000000000000f", &v), -1);   /* 15 digits */
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("00000000000000fff", &v), -1); /* 17 */
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("00000000000000FF", &v), -1);  /* upper case */
    CU_ASSERT_EQUAL(dk__sdk_ring_tag_parse("000000000000000g", &v), -1);
}

static void test_signal_tag(void)
{
    dkc *c = bare(0x1234);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 2, "0000000000001234", NULL, 1), SDK_SIG_NONE);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 2, NULL, NULL, 1), SDK_SIG_NONE); /* an old node */
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 2, "garbage", NULL, 1), SDK_SIG_NONE);
    CU_ASSERT_EQUAL(c->signalled, 0);
    CU_ASSERT_EQUAL(c->st.ring_signals, 0);
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + 10), SDK_DUE_NO);
    /* another tag, even for a request that was not routed */
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 3, "0000000000001235", NULL, 0), SDK_SIG_TAG);
    CU_ASSERT_EQUAL(c->signalled, 1);
    CU_ASSERT_EQUAL(c->signal_node, 3);
    CU_ASSERT_EQUAL(c->st.ring_signals, 1);
    /* the next call fetches at once, though a fetch just happened */
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + 10), SDK_DUE_SIGNAL);
    free(c);

    /* a handle that holds no tag (the cluster had no ring, or the node
     * that gave the ring sent none) takes any tag as news */
    c = bare(0);
    c->has_tag = 0;
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 0, "0000000000000000", NULL, 1), SDK_SIG_TAG);
    free(c);
}

static void test_signal_not_replica(void)
{
    dkc *c = bare(0x77);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 1, "0000000000000077", "not-replica", 0), SDK_SIG_NONE);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 1, NULL, "not-replica", 0), SDK_SIG_NONE);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 1, "0000000000000077", "replica", 1), SDK_SIG_NONE);
    CU_ASSERT_EQUAL(c->signalled, 0);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 1, "0000000000000077", "not-replica", 1), SDK_SIG_NOT_REPLICA);
    CU_ASSERT_EQUAL(c->signalled, 1);
    CU_ASSERT_EQUAL(c->signal_node, 1);
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0), SDK_DUE_SIGNAL);
    free(c);
}

static void test_no_routing_ignores(void)
{
    dkc *c = bare(0x1);
    c->opt.no_routing = 1;
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 0, "0000000000000002", "not-replica", 1), SDK_SIG_NONE);
    CU_ASSERT_EQUAL(c->signalled, 0);
    CU_ASSERT_EQUAL(c->st.ring_signals, 0);
    free(c);
}

/* What dk__sdk_call does before it routes, with a refresh that installs
 * fetched_tag; returns 1 when it fetched. */
static int call_at(dkc *c, int64_t now, uint64_t fetched_tag)
{
    int due = dk__sdk_refresh_due(c, now);
    if (due == SDK_DUE_SIGNAL)
        c->signal_fetched = now;
    if (due == SDK_DUE_NO)
        return 0;
    c->refresh_tried = c->refreshed = now;
    c->ring_tag = fetched_tag;
    c->need_refresh = c->signalled = 0;
    c->signal_node = -1;
    return 1;
}

static void test_rate_limit(void)
{
    dkc *c = bare(0xa);
    /* Two nodes disagree for 5 s (gossip spreading, a flapping member):
     * one call every 5 ms, answers alternating between the two tags, and
     * each fetch lands on whichever node. Every other answer signals. */
    int fetches = 0, signals = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t now = T0 + 5 * i;
        fetches += call_at(c, now, i % 3 ? 0xa : 0xb);
        signals += dk__sdk_ring_signal(c, i % 2, i % 2 ? "000000000000000a" : "000000000000000b", NULL, 1) !=
                   SDK_SIG_NONE;
    }
    CU_ASSERT(signals >= 400);
    CU_ASSERT(fetches >= 4); /* it does keep trying... */
    CU_ASSERT(fetches <= 6); /* ...once a second, not per answer */
    free(c);

    /* a signal right after a signalled fetch waits SDK_SIGNAL_MS, then
     * fetches at once */
    c = bare(0x1);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 0, "0000000000000002", NULL, 1), SDK_SIG_TAG);
    CU_ASSERT_EQUAL(call_at(c, T0 + 1, 0x1), 1);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 0, "0000000000000002", NULL, 1), SDK_SIG_TAG);
    CU_ASSERT_EQUAL(call_at(c, T0 + SDK_SIGNAL_MS, 0x2), 0);
    CU_ASSERT_EQUAL(call_at(c, T0 + 1 + SDK_SIGNAL_MS, 0x2), 1);
    CU_ASSERT_EQUAL(c->ring_tag, 0x2);
    CU_ASSERT_EQUAL(dk__sdk_ring_signal(c, 0, "0000000000000002", NULL, 1), SDK_SIG_NONE);
    free(c);
}

static void test_timer_and_failures(void)
{
    dkc *c = bare(0x5);
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + 29999), SDK_DUE_NO);
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + 30000), SDK_DUE_TIMER);
    c->opt.refresh_ms = 0; /* timer off */
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + 900000), SDK_DUE_NO);
    c->need_refresh = 1; /* a failure */
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + SDK_REFETCH_MS - 1), SDK_DUE_NO);
    CU_ASSERT_EQUAL(dk__sdk_refresh_due(c, T0 + SDK_REFETCH_MS), SDK_DUE_FAILURE);
    free(c);
}

static CU_TestInfo signal_tests[] = {
    {"X-Ring values", test_tag_parse},
    {"another tag signals", test_signal_tag},
    {"not-replica signals for routed requests", test_signal_not_replica},
    {"no routing, no signal", test_no_routing_ignores},
    {"signalled fetches are rate-limited", test_rate_limit},
    {"timer and failures still apply", test_timer_and_failures},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "sdk-signal", .pTests = signal_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
