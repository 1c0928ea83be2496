/*
 * test-rpc-batch.c - many RPC calls in flight between two dk_rpc
 * instances over 127.0.0.1 (framework/rpc/rpc.h): 200 requests answered
 * in reverse order each reach their own caller; frames queued for one
 * peer in one loop turn leave in a few writes (rpc_frames_written_total
 * against rpc_writes_total); a peer's max_outstanding caps what reaches
 * its handler per connection while every call still completes; frames
 * that lend one value (dk_rpc_call_lent) leave with the plain frames of
 * their turn in one write, arrive whole and in order (also when the
 * socket takes a batch in part), and the value is released exactly once,
 * after the last frame that carried it; a handler can keep a frame's
 * memory instead of copying the body. The
 * harness (nodes, holding handler, callbacks) is tc_rpc.h, shared with
 * test-rpc.c.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Turn the loop (rounds turns of ms at most) until each of n results
 * has had its callback: calls points at the first result's count, the
 * next ones stride bytes apart. */
static void wait_all(const int *calls, size_t stride, int n, int rounds, int ms)
{
    int done = 0;
    for (int round = 0; round < rounds && done < n; round++) {
        SPIN(0, ms);
        done = 0;
        for (int i = 0; i < n; i++)
            done += *(const int *)(const void *)((const char *)calls + (size_t)i * stride);
    }
}

/* Two nodes, a connected to b by a first call answered. */
static void pair_warm(node *a, node *b)
{
    pair_start(a, b);
    CU_ASSERT(call_sync(a, b, "warm") == 0);
}

/* Neither node met a bad frame or a failed authentication. */
static void expect_clean(node *a, node *b)
{
    CU_ASSERT(stats(a).bad_frames == 0 && stats(b).bad_frames == 0);
    CU_ASSERT(stats(a).auth_failures == 0 && stats(b).auth_failures == 0);
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
    pair_warm(&a, &b); /* connected */
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

static void on_kept(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    big_res *x = arg;
    (void)h;
    x->calls++;
    x->status = status;
    x->len = body.len;
    x->intact = status == 0 && body.len == 10240 && memcmp(body.ptr, x->want, 10240) == 0;
}

static void test_partial_writes(void)
{
    node a = {0}, b = {0};
    static big_res x[BIG_N];
    static uint8_t body[BIG_N][BIG_LEN];
    pair_warm(&a, &b);
    memset(x, 0, sizeof(x));
    uint64_t queued = dk_metrics_get("rpc_writes_queued_total");
    for (int i = 0; i < BIG_N; i++) {
        big_fill(body[i], i);
        x[i].want = body[i];
        CU_ASSERT_FATAL(
            dk_rpc_call(a.r, b.id, b.addr, DK_MSG_GET_REPLICA, body[i], BIG_LEN, 10000, on_big, &x[i]) == 0);
    }
    wait_all(&x[0].calls, sizeof(x[0]), BIG_N, 2000, 5);
    for (int i = 0; i < BIG_N; i++) {
        CU_ASSERT(x[i].calls == 1 && x[i].status == 0);
        CU_ASSERT(x[i].len == BIG_LEN && x[i].intact);
    }
    /* The socket did not take it all at once: the uv_write path ran. */
    CU_ASSERT(dk_metrics_get("rpc_writes_queued_total") > queued);
    expect_clean(&a, &b);
    pair_stop(&a, &b);
}

/* ---- lent values -------------------------------------------------------- */

/* A value lent to frames: released counts release calls; the bytes are
 * freed there, so a frame written after it would be a use after free
 * (under the sanitizers). */
typedef struct lent_val {
    dk_rpc_lent l;
    uint8_t *bytes;
    int released;
} lent_val;

static void lent_release(dk_rpc_lent *l)
{
    lent_val *v = (lent_val *)l;
    v->released++;
    free(v->bytes);
    v->bytes = NULL;
}

static void lent_init(lent_val *v, size_t len, int seed)
{
    v->bytes = malloc(len);
    CU_ASSERT_FATAL(v->bytes != NULL);
    for (size_t k = 0; k < len; k++)
        v->bytes[k] = (uint8_t)(k * 13 + (size_t)seed);
    v->l = (dk_rpc_lent){.ptr = v->bytes, .len = len, .refs = 1, .release = lent_release};
    v->released = 0;
}

/* A PUT_REPLICA body for key with the object lent: v's bytes. */
static int call_lent(node *from, const node *to, const char *key, const char *hint, lent_val *v, dk_rpc_cb cb,
                     void *arg)
{
    dk_msg_put_replica m = {.key = {(const uint8_t *)key, strlen(key)}, .object = {v->l.ptr, v->l.len}};
    snprintf(m.hint_target, sizeof(m.hint_target), "%s", hint);
    dk_buf f = DK_BUF_INIT;
    size_t split = 0;
    CU_ASSERT_FATAL(dk_rpc_frame_start(&f, 128) == 0);
    CU_ASSERT_FATAL(dk_msg_put_replica_encode_lent(&f, &m, &split) == 0);
    return dk_rpc_call_lent(from->r, to->id, to->addr, DK_MSG_PUT_REPLICA, &f, split, &v->l, 10000, cb, arg);
}

typedef struct lent_res {
    int calls, status, intact;
    char key[16], hint[16];
    const lent_val *want; /* the copy of the value to compare with */
    const uint8_t *copy;
} lent_res;

/* The answer echoes the request's body: a PUT_REPLICA body with our key,
 * hint and the whole value. */
static void on_lent(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    lent_res *x = arg;
    dk_msg_put_replica m;
    (void)h;
    x->calls++;
    x->status = status;
    x->intact = status == 0 && dk_msg_put_replica_decode(body, &m) == 0 && m.key.len == strlen(x->key) &&
                memcmp(m.key.ptr, x->key, m.key.len) == 0 && strcmp(m.hint_target, x->hint) == 0 &&
                m.object.len == x->want->l.len && memcmp(m.object.ptr, x->copy, m.object.len) == 0;
}

/* 20 frames in one turn, lent ones (one 10 KiB value, two hints) between
 * plain ones: one write for the lot, every answer whole, the requests
 * reach the handler in the order sent, and the value is released once,
 * only when the last frame holding it is gone. */
static void test_lent_frames(void)
{
    enum { N = 20, LEN = 10240 };
    node a = {0}, b = {0};
    static lent_res lx[N];
    static res px[N];
    static uint8_t copy[LEN];
    lent_val v;
    char key[16];
    pair_warm(&a, &b);
    memset(lx, 0, sizeof(lx));
    memset(px, 0, sizeof(px));
    lent_init(&v, LEN, 1);
    memcpy(copy, v.bytes, LEN);
    /* First round: b holds the requests, to see their order. */
    b.hold = 1;
    uint64_t frames = dk_metrics_get("rpc_frames_written_total"), writes = dk_metrics_get("rpc_writes_total");
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        if (i % 2 == 0) {
            snprintf(lx[i].key, sizeof(lx[i].key), "%s", key);
            snprintf(lx[i].hint, sizeof(lx[i].hint), "%s", i % 4 ? "n7" : "");
            lx[i].want = &v;
            lx[i].copy = copy;
            CU_ASSERT_FATAL(call_lent(&a, &b, key, lx[i].hint, &v, on_lent, &lx[i]) == 0);
        } else {
            CU_ASSERT_FATAL(call(&a, &b, key, 10000, &px[i]) == 0);
        }
    }
    dk_rpc_lent_unref(&v.l); /* the owner's: the frames hold theirs */
    CU_ASSERT(v.released == 0 && v.bytes != NULL);
    SPIN(b.n_held == N, 3000);
    CU_ASSERT_FATAL(b.n_held == N);
    /* 3 pieces for each lent frame, 1 for the others: one write */
    CU_ASSERT(dk_metrics_get("rpc_frames_written_total") - frames == N / 2 * 3 + N / 2);
    CU_ASSERT(dk_metrics_get("rpc_writes_total") - writes == 1);
    for (int i = 0; i < N; i++) {
        /* held_body keeps the body's first bytes: the key's length, then
         * the key (lent frames), or the plain body */
        const char *hb = b.held_body[i];
        snprintf(key, sizeof(key), "k%02d", i);
        if (i % 2 == 0) {
            CU_ASSERT(hb[0] == 3 && strncmp(hb + 1, key, 3) == 0);
        } else {
            CU_ASSERT_STRING_EQUAL(hb, key);
        }
    }
    node_answer_all(&b, 0);
    SPIN(0, 50);
    /* every frame is written and every call answered: released once */
    CU_ASSERT(v.released == 1 && v.bytes == NULL);
    expect_clean(&a, &b);

    /* Second round: echoed whole, compared byte for byte. */
    b.hold = 0;
    lent_init(&v, LEN, 2);
    memcpy(copy, v.bytes, LEN);
    memset(lx, 0, sizeof(lx));
    for (int i = 0; i < N; i++) {
        snprintf(lx[i].key, sizeof(lx[i].key), "e%02d", i);
        snprintf(lx[i].hint, sizeof(lx[i].hint), "%s", i % 3 ? "" : "n2");
        lx[i].want = &v;
        lx[i].copy = copy;
        CU_ASSERT_FATAL(call_lent(&a, &b, lx[i].key, lx[i].hint, &v, on_lent, &lx[i]) == 0);
    }
    dk_rpc_lent_unref(&v.l);
    wait_all(&lx[0].calls, sizeof(lx[0]), N, 300, 10);
    SPIN(0, 50);
    for (int i = 0; i < N; i++)
        CU_ASSERT(lx[i].calls == 1 && lx[i].status == 0 && lx[i].intact);
    CU_ASSERT(v.released == 1);
    pair_stop(&a, &b);
}

/* One 512 KiB value lent to 24 frames of one turn (12 MiB): the socket
 * takes the batch in part and uv_write carries on from inside a piece;
 * every echoed value arrives whole, and the value is released once. */
static void test_lent_partial(void)
{
    enum { N = 24 };
    node a = {0}, b = {0};
    static lent_res lx[N];
    static uint8_t copy[BIG_LEN];
    lent_val v;
    pair_warm(&a, &b);
    memset(lx, 0, sizeof(lx));
    lent_init(&v, BIG_LEN, 3);
    memcpy(copy, v.bytes, BIG_LEN);
    uint64_t queued = dk_metrics_get("rpc_writes_queued_total");
    for (int i = 0; i < N; i++) {
        snprintf(lx[i].key, sizeof(lx[i].key), "big%02d", i);
        lx[i].want = &v;
        lx[i].copy = copy;
        CU_ASSERT_FATAL(call_lent(&a, &b, lx[i].key, "", &v, on_lent, &lx[i]) == 0);
    }
    dk_rpc_lent_unref(&v.l);
    wait_all(&lx[0].calls, sizeof(lx[0]), N, 2000, 5);
    SPIN(0, 50);
    for (int i = 0; i < N; i++)
        CU_ASSERT(lx[i].calls == 1 && lx[i].status == 0 && lx[i].intact);
    CU_ASSERT(dk_metrics_get("rpc_writes_queued_total") > queued);
    CU_ASSERT(v.released == 1 && v.bytes == NULL);
    expect_clean(&a, &b);
    pair_stop(&a, &b);
}

/* A lent frame whose call fails before it is sent (no peer listening:
 * the connect fails) drops its reference with the call: released once. */
static void test_lent_unsent(void)
{
    node a = {0}, b = {0};
    lent_res lx = {0};
    lent_val v;
    pair_start(&a, &b);
    lent_init(&v, 4096, 4);
    snprintf(lx.key, sizeof(lx.key), "gone");
    lx.want = &v;
    node c = {.port = 0};
    snprintf(c.id, sizeof(c.id), "c");
    snprintf(c.addr, sizeof(c.addr), "127.0.0.1:1"); /* nobody listens on port 1 */
    CU_ASSERT_FATAL(call_lent(&a, &c, lx.key, "", &v, on_lent, &lx) == 0);
    dk_rpc_lent_unref(&v.l);
    SPIN(lx.calls == 1, 3000);
    SPIN(0, 50);
    CU_ASSERT(lx.calls == 1 && lx.status != 0);
    CU_ASSERT(v.released == 1);
    pair_stop(&a, &b);
}

/* A handler keeps received bodies in the frames' own memory
 * (dk_rpc_req_take_frame): a 10 KiB frame read alone is taken; the
 * connection goes on reading into new memory, and every kept body, taken
 * or copied, is echoed back whole after later frames arrived. */
static void test_take_frame(void)
{
    enum { N = 10, LEN = 10240 };
    node a = {0}, b = {0};
    static big_res x[N];
    static uint8_t body[N][LEN];
    pair_warm(&a, &b);
    memset(x, 0, sizeof(x));
    b.hold = 1;
    b.take = 1;
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < LEN; k++)
            body[i][k] = (uint8_t)(k * 7 + (size_t)i * 3);
        x[i].want = body[i];
        CU_ASSERT_FATAL(
            dk_rpc_call(a.r, b.id, b.addr, DK_MSG_GET_REPLICA, body[i], LEN, 10000, on_kept, &x[i]) == 0);
        if (i < 2) /* the first two alone on the wire */
            SPIN(b.n_held == i + 1, 3000);
    }
    SPIN(b.n_held == N, 3000);
    CU_ASSERT_FATAL(b.n_held == N);
    CU_ASSERT(b.took[0] && b.took[1]);
    int k = b.n_held;
    b.n_held = 0;
    for (int i = 0; i < k; i++) {
        CU_ASSERT(dk_rpc_reply(b.held[i], DK_MSG_REPLICA_VALUE, b.kept_body[i].ptr, b.kept_body[i].len) == 0);
        dk_buf_free(&b.kept[i]);
    }
    wait_all(&x[0].calls, sizeof(x[0]), N, 300, 10);
    for (int i = 0; i < N; i++)
        CU_ASSERT(x[i].calls == 1 && x[i].status == 0 && x[i].intact);
    CU_ASSERT(stats(&a).bad_frames == 0 && stats(&b).bad_frames == 0);
    pair_stop(&a, &b);
}

static CU_TestInfo batch_tests[] = {
    {"many requests answered out of order", test_out_of_order},
    {"frames of one turn leave in one write", test_batched_writes},
    {"per-connection backpressure", test_backpressure},
    {"a batch the socket takes in part arrives whole", test_partial_writes},
    {"lent frames leave in one write, whole and in order", test_lent_frames},
    {"lent frames the socket takes in part arrive whole", test_lent_partial},
    {"an unsent lent frame releases its value", test_lent_unsent},
    {"a handler keeps a frame's memory", test_take_frame},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc in flight", .pTests = batch_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
