/*
 * tc_rpc.h - the RPC tests' harness (test-rpc.c and test-rpc-batch.c):
 * dk_rpc instances ("nodes") on 127.0.0.1 in one uv loop on the test
 * thread, with a 5 ms ticker so that SPIN (tc_loop.h) never blocks in
 * uv_run. A node's handler echoes each request's body as REPLICA_VALUE,
 * or holds it (node.hold) until the test answers with node_answer_all;
 * `res` records what a call's callback saw. The cluster key of a test
 * cluster is its secret's bytes, zero-padded. g_max_inbound and
 * g_frame_timeout_ms configure the next node_start_at.
 *
 * Header-only, static state and static inline functions, like
 * tc_cluster.h: the tests read a node's fields and the loop directly.
 */
#ifndef DK_TEST_TC_RPC_H
#define DK_TEST_TC_RPC_H
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"
#include "tc_loop.h"

#define HELD_MAX 512

typedef struct node {
    dk_rpc *r;
    int port, stopped, hold;
    char id[16], addr[32];
    dk_rpc_req *held[HELD_MAX];
    char held_body[HELD_MAX][32];
    int n_held, peak_held;
    /* take: held requests keep their whole body, in the frame's memory
     * when dk_rpc_req_take_frame gives it (took), else in a copy */
    int take;
    dk_buf kept[HELD_MAX];
    dk_slice kept_body[HELD_MAX];
    int took[HELD_MAX];
} node;

typedef struct res {
    int calls, status, again_rc;
    uint8_t type;
    uint16_t flags; /* the answer's frame flags */
    char body[64];
    size_t len;
    uint64_t at_ns;
    dk_rpc *call_again; /* call dk_rpc_call on this from inside the callback */
} res;

static uv_loop_t loop;
static uv_timer_t ticker;

static inline void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static inline void loop_setup(void)
{
    CU_ASSERT_FATAL(uv_loop_init(&loop) == 0);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, tick_cb, 5, 5);
}

static inline void loop_teardown(void)
{
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT(uv_loop_close(&loop) == 0);
}

/* Handler: answer at once with REPLICA_VALUE echoing the body (with the
 * frame flag DK_FRAME_DIGEST when the body ends in ":flag"), or hold the
 * request for the test to answer later. */
static inline void on_req(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    node *n = arg;
    (void)h;
    if ((!n->hold || n->n_held == HELD_MAX) && body.len >= 5 &&
        memcmp(body.ptr + body.len - 5, ":flag", 5) == 0) {
        dk_buf f = DK_BUF_INIT;
        CU_ASSERT(dk_rpc_frame_start(&f, body.len) == 0 && dk_buf_append(&f, body.ptr, body.len) == 0);
        CU_ASSERT(dk_rpc_reply_flags(q, DK_MSG_REPLICA_VALUE, DK_FRAME_DIGEST, &f) == 0);
        dk_buf_free(&f);
        return;
    }
    if (!n->hold || n->n_held == HELD_MAX) {
        CU_ASSERT(dk_rpc_reply(q, DK_MSG_REPLICA_VALUE, body.ptr, body.len) == 0);
        return;
    }
    n->held[n->n_held] = q;
    snprintf(n->held_body[n->n_held], sizeof(n->held_body[0]), "%.*s", (int)body.len, (const char *)body.ptr);
    if (n->take) {
        dk_buf *k = &n->kept[n->n_held];
        dk_buf_init(k);
        n->took[n->n_held] = dk_rpc_req_take_frame(q, k) == 0;
        if (n->took[n->n_held]) {
            n->kept_body[n->n_held] = body; /* still valid: k owns it now */
        } else {
            CU_ASSERT_FATAL(dk_buf_append(k, body.ptr, body.len) == 0);
            n->kept_body[n->n_held] = dk_buf_slice(k);
        }
    }
    if (++n->n_held > n->peak_held)
        n->peak_held = n->n_held;
}

static inline void node_answer_all(node *n, int reverse)
{
    int k = n->n_held;
    n->n_held = 0;
    for (int i = 0; i < k; i++) {
        int j = reverse ? k - 1 - i : i;
        CU_ASSERT(dk_rpc_reply(n->held[j], DK_MSG_REPLICA_VALUE, n->held_body[j], strlen(n->held_body[j])) ==
                  0);
    }
}

/* The RPC key of a test cluster: the secret's bytes, zero-padded (NULL:
 * "default"). */
static inline void test_key(const char *secret, uint8_t key[DK_RPC_KEY_LEN])
{
    memset(key, 0, DK_RPC_KEY_LEN);
    snprintf((char *)key, DK_RPC_KEY_LEN, "%s", secret ? secret : "default");
}

static uint32_t g_max_inbound; /* conf of the next node_start_at */
static uint64_t g_frame_timeout_ms;

static inline int node_start_at(node *n, const char *id, const char *cluster, const char *secret,
                                const char *ip, int port, uint32_t max_outstanding)
{
    char listen[32], err[256];
    uint8_t key[DK_RPC_KEY_LEN];
    test_key(secret, key);
    snprintf(listen, sizeof(listen), "%s:%d", ip, port);
    dk_rpc_conf conf = {
        .listen = listen,
        .cluster_name = cluster,
        .node_id = id,
        .incarnation = 1,
        .key = key,
        .max_outstanding = max_outstanding,
        .connect_timeout_ms = 300,
        .backoff_max_ms = 400,
        .probe_timeout_ms = 300,
        .on_request = on_req,
        .arg = n,
        .max_inbound = g_max_inbound,
        .frame_timeout_ms = g_frame_timeout_ms,
    };
    snprintf(n->id, sizeof(n->id), "%s", id);
    n->stopped = 0;
    int rc = dk_rpc_start(&loop, &conf, &n->r, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "start %s: %s\n", id, err);
        return rc;
    }
    n->port = dk_rpc_port(n->r);
    snprintf(n->addr, sizeof(n->addr), "%s:%d", ip, n->port);
    return 0;
}

static inline int node_start(node *n, const char *id, const char *cluster, const char *secret)
{
    return node_start_at(n, id, cluster, secret, "127.0.0.1", 0, 0);
}

static inline void node_stopped(void *arg)
{
    ((node *)arg)->stopped = 1;
}

static inline void node_stop(node *n)
{
    dk_rpc_stop(n->r, node_stopped, n);
    SPIN(n->stopped, 2000);
    CU_ASSERT(n->stopped == 1);
    node_answer_all(n, 0); /* detached requests: answers are dropped */
}

/* The loop and two nodes "a" and "b" of cluster dk-test, default secret;
 * a failed start ends the test. */
static inline void pair_start(node *a, node *b)
{
    loop_setup();
    CU_ASSERT_FATAL(node_start(a, "a", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start(b, "b", "dk-test", NULL) == 0);
}

/* Stop both nodes and close the loop (asserted). */
static inline void pair_stop(node *a, node *b)
{
    node_stop(a);
    node_stop(b);
    loop_teardown();
}

static inline dk_rpc_stats stats(const node *n)
{
    dk_rpc_stats st;
    dk_rpc_stats_get(n->r, &st);
    return st;
}

static inline void on_res(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    res *x = arg;
    x->calls++;
    x->status = status;
    x->at_ns = uv_hrtime();
    if (status == 0) {
        CU_ASSERT_PTR_NOT_NULL(h);
        x->type = h->type;
        x->flags = h->flags;
        x->len = body.len < sizeof(x->body) - 1 ? body.len : sizeof(x->body) - 1;
        memcpy(x->body, body.ptr, x->len);
        x->body[x->len] = 0;
    } else {
        CU_ASSERT_PTR_NULL(h);
        CU_ASSERT(body.len == 0);
    }
    if (x->call_again)
        x->again_rc =
            dk_rpc_call(x->call_again, "b", "127.0.0.1:1", DK_MSG_GET_REPLICA, "x", 1, 100, on_res, x);
}

static inline int call(node *from, const node *to, const char *body, uint64_t deadline_ms, res *x)
{
    return dk_rpc_call(from->r, to->id, to->addr, DK_MSG_GET_REPLICA, body, strlen(body), deadline_ms, on_res,
                       x);
}

/* One request from -> to, run to completion; returns its status. */
static inline int call_sync(node *from, const node *to, const char *body)
{
    res x = {0};
    CU_ASSERT_FATAL(call(from, to, body, 1000, &x) == 0);
    SPIN(x.calls, 2000);
    CU_ASSERT(x.calls == 1);
    if (x.status == 0) {
        CU_ASSERT(x.type == DK_MSG_REPLICA_VALUE);
        CU_ASSERT_STRING_EQUAL(x.body, body);
    }
    return x.calls == 1 ? x.status : DK_ETIMEOUT;
}

#endif /* DK_TEST_TC_RPC_H */
