/*
 * test-rpc-batch.c - many RPC calls in flight between two dk_rpc
 * instances over 127.0.0.1 (framework/rpc/rpc.h): 200 requests answered
 * in reverse order each reach their own caller; frames queued for one
 * peer in one loop turn leave in a few writes (rpc_frames_written_total
 * against rpc_writes_total); a peer's max_outstanding caps what reaches
 * its handler per connection while every call still completes. The
 * harness (nodes, holding handler, callbacks) is tc_rpc.h, shared with
 * test-rpc.c.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "base/metrics.h"
#include "rpc/rpc.h"
#include "tc_rpc.h"

/* How many of the n calls in x have had their callback. */
static int count_calls(const res *x, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += x[i].calls;
    return k;
}

/* Spin until the n calls in x are answered, then check that call i had
 * one answer, the echo of its body "req-<i>". */
static void expect_echoes(const res *x, int n)
{
    char body[32];
    SPIN(count_calls(x, n) == n, 3000);
    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body), "req-%d", i);
        CU_ASSERT(x[i].calls == 1 && x[i].status == 0);
        CU_ASSERT_STRING_EQUAL(x[i].body, body);
    }
}

/* ---- tests ---------------------------------------------------------------- */

static void test_out_of_order(void)
{
    enum { N = 200 };
    node a = {0}, b = {0};
    static res x[N];
    char body[32];
    pair_start(&a, &b);
    memset(x, 0, sizeof(x));
    b.hold = 1;
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "req-%d", i);
        CU_ASSERT_FATAL(call(&a, &b, body, 5000, &x[i]) == 0);
    }
    SPIN(b.n_held == N, 3000);
    CU_ASSERT_FATAL(b.n_held == N);
    node_answer_all(&b, 1);
    expect_echoes(x, N);
    CU_ASSERT(stats(&a).conns_connected <= 2); /* the pool's cap */
    CU_ASSERT(stats(&a).late_replies == 0);
    pair_stop(&a, &b);
}

/* Frames queued for one peer in one loop turn leave in one write: 100
 * calls made at once (one through dk_rpc_call_framed, its body encoded
 * into the frame) and their 100 answers take far fewer writes than
 * frames, and every answer is right. */
static void test_batched_writes(void)
{
    enum { N = 100 };
    node a = {0}, b = {0};
    static res x[N];
    char body[32];
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0); /* connected */
    memset(x, 0, sizeof(x));
    uint64_t frames = dk_metrics_get("rpc_frames_written_total"), writes = dk_metrics_get("rpc_writes_total");
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "req-%d", i);
        if (i == 0) {
            dk_buf f = DK_BUF_INIT;
            CU_ASSERT_FATAL(dk_rpc_frame_start(&f, strlen(body)) == 0);
            CU_ASSERT_FATAL(dk_buf_append(&f, body, strlen(body)) == 0);
            CU_ASSERT_FATAL(
                dk_rpc_call_framed(a.r, "b", b.addr, DK_MSG_GET_REPLICA, &f, 5000, on_res, &x[i]) == 0);
            CU_ASSERT(f.len == 0 && f.data == NULL);
        } else {
            CU_ASSERT_FATAL(call(&a, &b, body, 5000, &x[i]) == 0);
        }
    }
    expect_echoes(x, N);
    frames = dk_metrics_get("rpc_frames_written_total") - frames;
    writes = dk_metrics_get("rpc_writes_total") - writes;
    /* 2N, and a second pooled connection's handshake when the pool opened one */
    CU_ASSERT(frames >= 2 * N && frames <= 2 * N + 8);
    CU_ASSERT(writes >= 2 && writes * 5 <= frames);
    pair_stop(&a, &b);
}

static void test_backpressure(void)
{
    enum { N = 50, MAX = 8 };
    node a = {0}, b = {0};
    static res x[N];
    char body[32];
    loop_setup();
    memset(x, 0, sizeof(x));
    CU_ASSERT_FATAL(node_start(&a, "a", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start_at(&b, "b", "dk-test", NULL, "127.0.0.1", 0, MAX) == 0);
    b.hold = 1;
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "p%d", i);
        CU_ASSERT_FATAL(call(&a, &b, body, 5000, &x[i]) == 0);
    }
    SPIN(0, 200);
    /* At most MAX per connection reach the handler; a pool has 2. */
    CU_ASSERT(b.n_held >= MAX && b.n_held <= 2 * MAX);
    int done = 0;
    for (int round = 0; round < 100 && done < N; round++) {
        node_answer_all(&b, 0);
        SPIN(0, 10);
        done = count_calls(x, N);
    }
    CU_ASSERT(done == N);
    CU_ASSERT(b.peak_held <= 2 * MAX);
    for (int i = 0; i < N; i++)
        CU_ASSERT(x[i].calls == 1 && x[i].status == 0);
    pair_stop(&a, &b);
}

/* A batch larger than the socket takes at once: 40 calls of 512 KiB in
 * one loop turn (20 MiB each way) go out partly through uv_try_write and
 * the rest through uv_write from the byte the socket stopped at; every
 * request and every echoed answer arrives whole (a frame cut or repeated
 * at that seam fails its MAC and closes the connection, failing calls). */
enum { BIG_N = 40, BIG_LEN = 512 * 1024 };

typedef struct big_res {
    int calls, status, intact;
    size_t len;
    const uint8_t *want; /* the request's body, which the answer echoes */
} big_res;

static void big_fill(uint8_t *p, int i)
{
    for (size_t k = 0; k < BIG_LEN; k++)
        p[k] = (uint8_t)(k * 31 + (size_t)i * 7);
}

static void on_big(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    big_res *x = arg;
    (void)h;
    x->calls++;
    x->status = status;
    x->len = body.len;
    x->intact = status == 0 && body.len == BIG_LEN && memcmp(body.ptr, x->want, BIG_LEN) == 0;
}

static void test_partial_writes(void)
{
    node a = {0}, b = {0};
    static big_res x[BIG_N];
    static uint8_t body[BIG_N][BIG_LEN];
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0);
    memset(x, 0, sizeof(x));
    uint64_t queued = dk_metrics_get("rpc_writes_queued_total");
    for (int i = 0; i < BIG_N; i++) {
        big_fill(body[i], i);
        x[i].want = body[i];
        CU_ASSERT_FATAL(
            dk_rpc_call(a.r, b.id, b.addr, DK_MSG_GET_REPLICA, body[i], BIG_LEN, 10000, on_big, &x[i]) == 0);
    }
    int done = 0;
    for (int round = 0; round < 2000 && done < BIG_N; round++) {
        SPIN(0, 5);
        done = 0;
        for (int i = 0; i < BIG_N; i++)
            done += x[i].calls;
    }
    for (int i = 0; i < BIG_N; i++) {
        CU_ASSERT(x[i].calls == 1 && x[i].status == 0);
        CU_ASSERT(x[i].len == BIG_LEN && x[i].intact);
    }
    /* The socket did not take it all at once: the uv_write path ran. */
    CU_ASSERT(dk_metrics_get("rpc_writes_queued_total") > queued);
    CU_ASSERT(stats(&a).bad_frames == 0 && stats(&b).bad_frames == 0);
    CU_ASSERT(stats(&a).auth_failures == 0 && stats(&b).auth_failures == 0);
    pair_stop(&a, &b);
}

static CU_TestInfo batch_tests[] = {
    {"many requests answered out of order", test_out_of_order},
    {"frames of one turn leave in one write", test_batched_writes},
    {"per-connection backpressure", test_backpressure},
    {"a batch the socket takes in part arrives whole", test_partial_writes},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc in flight", .pTests = batch_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
