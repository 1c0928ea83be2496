/*
 * test-coord-loops.c - a loop's own coordinator (coordinator.h, "Loops"):
 * three nodes on the test thread's loop (tc_cluster.h, N = 3), and for
 * node 0 a second coordinator on a second loop run by its own thread,
 * with its own client-only RPC instance and the two mailboxes.
 *
 * Requests are handed to the second loop through its mailbox; their
 * callbacks must run on that loop's thread. What is checked: a quorum
 * write and read coordinated there (replicated to the other nodes through
 * its own connections: node 0's RPC instance makes none), a write whose
 * third replica is down (the hint it keeps is stored by the primary, on
 * the first loop, and replayed from there once the replica is back), and
 * a clean stop of both. Loop 2's writes start 300 ms late (the test
 * hook DK_TEST_WRITE_DELAY_MS), so one is seen in flight: meanwhile the
 * primary's handoff state (a move's read-fence check) is not settled.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/coordinator.h"
#include "base/mailbox.h"
#include "base/log.h"
#include "node/object.h"
#include "node/store.h"
#include "util/vv.h"

#include "tc_cluster.h"

/* The second loop, its thread, mailbox and what runs on it. */
static uv_loop_t loop2;
static uv_thread_t thread2;
static pthread_t thread2_id;
static dk_mailbox mb0, mb2;
static dk_rpc *rpc2;
static dk_coord *coord2;
static atomic_int loop2_done;

typedef struct req2 {
    dk_mail mail;
    const char *key, *value; /* value NULL: a read */
    atomic_int done, started;
    int status, acks, on_thread2, sync_call_rc;
    char got[64];
} req2;

static int view_ring_calls_off_thread; /* the view was called off loop 2's thread by coord2 */

static dk_ring *view2_ring(void *arg)
{
    (void)arg;
    if (!pthread_equal(pthread_self(), thread2_id))
        view_ring_calls_off_thread++;
    return tc_view_ring(NULL);
}

/* Loop 2: the coordinator's answer. */
static void req2_cb(void *arg, dk_coord_result *r)
{
    req2 *q = arg;
    q->status = r->status;
    q->acks = r->acks;
    q->on_thread2 = pthread_equal(pthread_self(), thread2_id);
    if (r->status == 0 && r->obj.n_sib == 1)
        snprintf(q->got, sizeof(q->got), "%.*s", (int)r->obj.sib[0].value.len,
                 (const char *)r->obj.sib[0].value.ptr);
    atomic_store(&q->done, 1);
}

/* Loop 2: start the request. */
static void req2_run(void *arg)
{
    req2 *q = arg;
    dk_slice key = {(const uint8_t *)q->key, strlen(q->key)};
    int rc;
    if (q->value) {
        dk_coord_write w = {
            .key = key, .value = {(const uint8_t *)q->value, strlen(q->value)}, .consistency = DK_CL_QUORUM};
        rc = dk_coord_put(coord2, &w, req2_cb, q);
        atomic_store(&q->started, 1);
    } else {
        rc = dk_coord_get(coord2, key, DK_CL_QUORUM, 0, req2_cb, q);
    }
    if (rc) {
        q->sync_call_rc = rc;
        atomic_store(&q->done, 1);
    }
}

/* Test thread: run q on loop 2 and spin loop 1 (the other nodes, the
 * primary) until it is answered. */
static void on_loop2(req2 *q)
{
    atomic_init(&q->done, 0);
    CU_ASSERT_EQUAL_FATAL(dk_mailbox_post(&mb2, &q->mail, req2_run, q), 0);
    SPIN(atomic_load(&q->done), 5000);
    CU_ASSERT_FATAL(atomic_load(&q->done));
    CU_ASSERT_EQUAL(q->sync_call_rc, 0);
    CU_ASSERT(q->on_thread2);
}

static void loop2_thread(void *arg)
{
    (void)arg;
    thread2_id = pthread_self();
    uv_run(&loop2, UV_RUN_DEFAULT);
    atomic_store(&loop2_done, 1);
}

/* Loop 2's stop: the coordinator, then the RPC instance, then the mailbox
 * (the loop then has nothing left and its thread ends). */
static void rpc2_stopped(void *arg)
{
    (void)arg;
    rpc2 = NULL;
    dk_mailbox_close(&mb2);
}

static void coord2_stopped(void *arg)
{
    (void)arg;
    coord2 = NULL;
    dk_rpc_stop(rpc2, rpc2_stopped, NULL);
}

static dk_mail stop_mail;
static void loop2_stop(void *arg)
{
    (void)arg;
    dk_coord_stop(coord2, coord2_stopped, NULL);
}

static int start_all(void)
{
    tc_loop_init(3);
    for (int i = 0; i < 3; i++) {
        tnode *n = &nodes[i];
        if (tc_node_init(n, i, "/tmp/dk-cloops-XXXXXX") != 0)
            return -1;
        n->cfg.cluster.request_timeout = 3000;
        if (tc_node_start(n) != 0)
            return -1;
    }
    if (tc_ring_build() != 0)
        return -1;
    char err[256];
    for (int i = 0; i < 3; i++) {
        dk_coord_conf cc = {
            .loop = &loop,
            .node = &nodes[i].node,
            .rpc = nodes[i].rpc,
            .view = {.ring = tc_view_ring, .peer = tc_view_peer},
            .hint_engine = nodes[i].node.hint_engine,
            .hint_ops = nodes[i].node.engine_ops,
            .hint_replay_interval_ms = 50,
        };
        if (dk_coord_start(&cc, &nodes[i].coord, err, sizeof(err)) != 0) {
            fprintf(stderr, "coord: %s\n", err);
            return -1;
        }
    }
    /* Node 0's second loop: set up from here before its thread runs. */
    CU_ASSERT_FATAL(uv_loop_init(&loop2) == 0);
    CU_ASSERT_FATAL(dk_mailbox_init(&mb0, &loop) == 0);
    CU_ASSERT_FATAL(dk_mailbox_init(&mb2, &loop2) == 0);
    dk_rpc_conf rc = {
        .listen = "127.0.0.1:0",
        .cluster_name = "test",
        .node_id = nodes[0].id,
        .incarnation = 1,
        .connect_timeout_ms = 3000,
        .backoff_max_ms = 300,
        .probe_timeout_ms = 300,
        .key = (const uint8_t *)"test-cluster-rpc-key-32-bytes!!",
        .client_only = 1,
    };
    if (dk_rpc_start(&loop2, &rc, &rpc2, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc2: %s\n", err);
        return -1;
    }
    CU_ASSERT(dk_rpc_port(rpc2) < 0); /* no listener */
    dk_coord_conf c2 = {
        .loop = &loop2,
        .node = &nodes[0].node,
        .rpc = rpc2,
        .view = {.ring = view2_ring, .peer = tc_view_peer},
        .primary = nodes[0].coord,
        .primary_mb = &mb0,
        .own_mb = &mb2,
    };
    setenv("DK_TEST_WRITE_DELAY_MS", "300", 1);
    int c2rc = dk_coord_start(&c2, &coord2, err, sizeof(err));
    unsetenv("DK_TEST_WRITE_DELAY_MS");
    if (c2rc != 0) {
        fprintf(stderr, "coord2: %s\n", err);
        return -1;
    }
    /* Without both mailboxes a loop's own coordinator is refused. */
    dk_coord *bad = NULL;
    c2.own_mb = NULL;
    CU_ASSERT_EQUAL(dk_coord_start(&c2, &bad, err, sizeof(err)), -EINVAL);
    atomic_init(&loop2_done, 0);
    CU_ASSERT_FATAL(uv_thread_create(&thread2, loop2_thread, NULL) == 0);
    return 0;
}

static void stop_all(void)
{
    CU_ASSERT_EQUAL(dk_mailbox_post(&mb2, &stop_mail, loop2_stop, NULL), 0);
    SPIN(atomic_load(&loop2_done), 5000);
    CU_ASSERT(atomic_load(&loop2_done));
    uv_thread_join(&thread2);
    CU_ASSERT(coord2 == NULL && rpc2 == NULL);
    CU_ASSERT(uv_loop_close(&loop2) == 0);
    for (int i = 0; i < 3; i++)
        tc_coord_stop(&nodes[i], 5000);
    dk_mailbox_close(&mb0);
    for (int i = 0; i < 3; i++)
        tc_node_close(&nodes[i]);
    tc_loop_close();
}

/* Node i's own copy of key is want (read from its store). */
static int local_is(int i, const char *key, const char *want)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object obj;
    dk_object_init(&obj);
    int ok =
        dk_store_get(nodes[i].node.store, (dk_slice){(const uint8_t *)key, strlen(key)}, &raw, &obj) == 0 &&
        obj.n_sib == 1 && obj.sib[0].value.len == strlen(want) &&
        memcmp(obj.sib[0].value.ptr, want, strlen(want)) == 0;
    dk_object_free(&obj);
    dk_buf_free(&raw);
    return ok;
}

static void test_loop_coordinates(void)
{
    CU_ASSERT_FATAL(start_all() == 0);
    dk_rpc_stats st0;
    dk_rpc_stats_get(nodes[0].rpc, &st0);

    /* A quorum write and read coordinated on loop 2. */
    req2 w = {.key = "alpha", .value = "one"};
    on_loop2(&w);
    CU_ASSERT_EQUAL(w.status, 0);
    CU_ASSERT(w.acks >= 2);
    for (int i = 0; i < 3; i++) {
        SPIN(local_is(i, "alpha", "one"), 2000);
        CU_ASSERT(local_is(i, "alpha", "one"));
    }
    req2 r = {.key = "alpha"};
    on_loop2(&r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.got, "one");
    req2 miss = {.key = "nothing"};
    on_loop2(&miss);
    CU_ASSERT_EQUAL(miss.status, DK_ENOTFOUND);
    /* Loop 2 used its own connections: node 0's RPC instance sent nothing. */
    dk_rpc_stats st1;
    dk_rpc_stats_get(nodes[0].rpc, &st1);
    CU_ASSERT_EQUAL(st1.requests_out, st0.requests_out);
    CU_ASSERT_EQUAL(view_ring_calls_off_thread, 0);

    /* The third replica is down: W = 2 still holds, and the hint loop 2
     * keeps is stored by the primary (node 0's hint store), then replayed
     * from loop 1 once the replica is back. */
    nodes[2].alive = 0;
    req2 h = {.key = "beta", .value = "two"};
    on_loop2(&h);
    CU_ASSERT_EQUAL(h.status, 0);
    CU_ASSERT_EQUAL(h.acks, 2);
    SPIN(tc_hint_count(0) == 1, 2000);
    CU_ASSERT_EQUAL(tc_hint_count(0), 1);
    CU_ASSERT(!local_is(2, "beta", "two"));
    nodes[2].alive = 1;
    SPIN(local_is(2, "beta", "two"), 3000);
    CU_ASSERT(local_is(2, "beta", "two"));
    SPIN(tc_hint_count(0) == 0, 2000);
    CU_ASSERT_EQUAL(tc_hint_count(0), 0);

    /* A write in flight on loop 2 (no pending view there) holds node 0's
     * handoff state unsettled, however often it is asked, until it ends;
     * then a later epoch is answered settled. */
    const char *tg[] = {nodes[1].id};
    uint64_t e0, e;
    int settled;
    uint32_t hinted;
    req2 f = {.key = "gamma", .value = "three"};
    atomic_init(&f.done, 0);
    atomic_init(&f.started, 0);
    CU_ASSERT_EQUAL_FATAL(dk_mailbox_post(&mb2, &f.mail, req2_run, &f), 0);
    for (int i = 0; i < 2000 && !atomic_load(&f.started); i++)
        usleep(1000);
    CU_ASSERT_FATAL(atomic_load(&f.started));
    dk_coord_handoff_state(nodes[0].coord, tg, 1, &e0, &settled, &hinted);
    CU_ASSERT(!settled);
    for (int i = 0; i < 3; i++) {
        dk_coord_handoff_state(nodes[0].coord, tg, 1, &e, &settled, &hinted);
        CU_ASSERT(!settled || atomic_load(&f.done));
    }
    SPIN(atomic_load(&f.done), 5000);
    CU_ASSERT_EQUAL(f.status, 0);
    SPIN((dk_coord_handoff_state(nodes[0].coord, tg, 1, &e, &settled, &hinted), settled && e > e0), 2000);
    CU_ASSERT(settled && e > e0);
    stop_all();
}

static CU_TestInfo loop_tests[] = {
    {"a loop's own coordinator: quorum on its own connections, hints through the primary",
     test_loop_coordinates},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "coordinator loops", .pTests = loop_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
