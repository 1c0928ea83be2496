/*
 * test-rpc-turn.c - frames leave before the loop sleeps, whichever phase
 * of the loop's turn queued them (framework/rpc/rpc_write.c). The
 * transport queues frames until the end of the turn, a uv_prepare; libuv
 * runs in a turn only the prepares that were active when that phase
 * began, so a frame queued by another prepare callback (mailbox and post
 * callbacks ran there once, see bench/results/putcpu3-2026-12-05-s10.md)
 * used to wait in the queue while the loop slept in its poll, until some
 * unrelated event woke it: on a quiet loop until the request's deadline.
 * In the cluster that was a relayed SCAN_RANGE answer held on the
 * replica's loop until the coordinator gave up on that replica and listed
 * its ranges as unavailable (test_scan_exact_across_nodes_and_after_a_crash).
 *
 * Each test stops the harness's 5 ms ticker, so nothing but the frames
 * themselves can wake the loop; the only timer left is the request's
 * deadline, long enough that it never runs out when the frame leaves at
 * once (no timing is asserted: with the frame held, the call ends in
 * DK_ETIMEOUT at its deadline instead of in the echo). Both sides are
 * covered: a call made from a prepare callback, and an answer given from
 * one. The harness is tc_rpc.h.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"
#include "tc_rpc.h"

#define DEADLINE_MS 5000 /* never reached when the frame leaves */

/* What the test's prepare callback does once, in the prepare phase. */
typedef struct in_prepare {
    uv_prepare_t h;
    node *from, *to; /* call from -> to ... */
    node *answer;    /* ... or answer what this node holds */
    res *x;
    int ran, rc;
} in_prepare;

static void prepare_once(uv_prepare_t *h)
{
    in_prepare *p = h->data;
    uv_prepare_stop(h);
    p->ran++;
    if (p->answer)
        node_answer_all(p->answer, 0);
    else
        p->rc = call(p->from, p->to, "from-prepare", DEADLINE_MS, p->x);
}

/* Run p's callback in the loop's next prepare phase, with the ticker
 * stopped, and turn the loop until x's call is over (its answer, or its
 * deadline with the frame held). */
static void run_in_prepare(in_prepare *p, res *x)
{
    uv_timer_stop(&ticker);
    uv_prepare_init(&loop, &p->h);
    p->h.data = p;
    uv_prepare_start(&p->h, prepare_once);
    SPIN(x->calls, DEADLINE_MS + 5000);
    uv_close((uv_handle_t *)&p->h, NULL);
    uv_timer_start(&ticker, tick_cb, 5, 5);
    CU_ASSERT(p->ran == 1);
}

/* x's call was answered once, with body, and a's client saw no deadline pass. */
static void expect_answer(node *a, const res *x, const char *body)
{
    CU_ASSERT(x->calls == 1);
    CU_ASSERT(x->status == 0);
    if (x->status == 0)
        CU_ASSERT_STRING_EQUAL(x->body, body);
    CU_ASSERT(stats(a).timeouts == 0);
}

static void test_call_from_prepare(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0); /* connected: the call goes out on a ready connection */
    res x = {0};
    in_prepare p = {.from = &a, .to = &b, .x = &x};
    run_in_prepare(&p, &x);
    CU_ASSERT(p.rc == 0);
    expect_answer(&a, &x, "from-prepare");
    pair_stop(&a, &b);
}

static void test_answer_from_prepare(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0);
    b.hold = 1;
    res x = {0};
    CU_ASSERT_FATAL(call(&a, &b, "held", DEADLINE_MS, &x) == 0);
    SPIN(b.n_held == 1, 3000);
    CU_ASSERT_FATAL(b.n_held == 1);
    in_prepare p = {.answer = &b};
    run_in_prepare(&p, &x);
    expect_answer(&a, &x, "held");
    pair_stop(&a, &b);
}

/* The usual order still works with the ticker stopped: a call from a
 * timer callback (before the prepare phase) and its answer from the
 * handler (in the poll phase). */
static void on_timer_call(uv_timer_t *t)
{
    in_prepare *p = t->data;
    p->ran++;
    p->rc = call(p->from, p->to, "from-timer", DEADLINE_MS, p->x);
}

static void test_call_from_timer(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0);
    uv_timer_stop(&ticker);
    res x = {0};
    in_prepare p = {.from = &a, .to = &b, .x = &x};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &p;
    uv_timer_start(&t, on_timer_call, 0, 0);
    SPIN(x.calls, DEADLINE_MS + 5000);
    uv_close((uv_handle_t *)&t, NULL);
    uv_timer_start(&ticker, tick_cb, 5, 5);
    CU_ASSERT(p.ran == 1 && p.rc == 0);
    CU_ASSERT(x.calls == 1 && x.status == 0);
    if (x.status == 0)
        CU_ASSERT_STRING_EQUAL(x.body, "from-timer");
    pair_stop(&a, &b);
}

static CU_TestInfo turn_tests[] = {
    {"a call made from a prepare callback leaves before the loop sleeps", test_call_from_prepare},
    {"an answer given from a prepare callback leaves before the loop sleeps", test_answer_from_prepare},
    {"a call made from a timer leaves before the loop sleeps", test_call_from_timer},
    CU_TEST_INFO_NULL,
};

/* With a frame held (the failure these tests catch) the caller's probe
 * closes the connection and the held frame then goes to a closed socket:
 * that must fail the assertions, not end the program with SIGPIPE. */
static int suite_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc frames and the loop's turn", .pInitFunc = suite_init, .pTests = turn_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
