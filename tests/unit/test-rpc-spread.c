/*
 * test-rpc-spread.c - the RPC server side on several instances (rpc.h,
 * "Several loops"): a listening instance "a", a second instance "a2" of
 * the same node that shares it (dk_rpc_conf.share), and client nodes, all
 * on the test thread's loop (tc_rpc.h; the cluster tests run the same on
 * real loop threads). What must hold: the spread function decides which
 * instance serves an accepted connection, and that instance alone reads
 * and answers its frames; a request relayed to another handler
 * (dk_rpc_req_relay) is answered on its own connection, in any order
 * among the others, with the frame MACs still in sequence; the connection
 * cap counts the connections of both instances; the counters are each
 * instance's; a relayed request whose connection died is only freed; an
 * instance that stops adopts nothing.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tc_rpc.h"

/* a2's handler: how many it served, and where relayed requests go. */
static int a2_served, a2_relayed;
static node *relay_to; /* the node whose handler serves "relay:" bodies */

/* Where accepted connections go: 1 = a2, 0 = keep on a, by turn. */
static const int *route;
static int route_n, route_i;
static node *spread_a2;

static int spread_fn(void *arg, int fd)
{
    (void)arg;
    int to_a2 = route[route_i % route_n];
    route_i++;
    if (!to_a2)
        return 1;
    CU_ASSERT(dk_rpc_adopt(spread_a2->r, fd) == 0);
    return 0;
}

typedef struct relay_ctx {
    dk_rpc_req *orig;
} relay_ctx;

/* The relay's answer: finished and written on the original's connection
 * (here the same thread; on loops it comes back by mailbox). */
static void relay_answered(void *arg, uint8_t type, uint16_t flags, dk_buf *frame)
{
    relay_ctx *x = arg;
    CU_ASSERT(frame->len > 0);
    CU_ASSERT(dk_rpc_reply_flags(x->orig, type, flags, frame) == 0);
    CU_ASSERT(frame->len == 0);
    free(x);
}

static void on_req_a2(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    node *n = arg;
    if (body.len >= 6 && memcmp(body.ptr, "relay:", 6) == 0) {
        relay_ctx *x = malloc(sizeof(*x));
        CU_ASSERT_FATAL(x != NULL);
        x->orig = q;
        dk_rpc_req *p = dk_rpc_req_relay(q, relay_answered, x);
        CU_ASSERT_FATAL(p != NULL);
        CU_ASSERT_STRING_EQUAL(dk_rpc_req_peer(p), dk_rpc_req_peer(q));
        a2_relayed++;
        on_req(relay_to, p, h, body);
        return;
    }
    a2_served++;
    on_req(n, q, h, body);
}

/* a2: node id "a", sharing a's listener, cap and key. */
static int share_start(node *a2, node *a)
{
    char err[256];
    uint8_t key[DK_RPC_KEY_LEN];
    test_key(NULL, key);
    dk_rpc_conf conf = {
        .listen = "127.0.0.1:0",
        .cluster_name = "dk-test",
        .node_id = "a",
        .incarnation = 1,
        .key = key,
        .connect_timeout_ms = 300,
        .backoff_max_ms = 400,
        .probe_timeout_ms = 300,
        .on_request = on_req_a2,
        .arg = a2,
        .share = a->r,
    };
    snprintf(a2->id, sizeof(a2->id), "a");
    int rc = dk_rpc_start(&loop, &conf, &a2->r, err, sizeof(err));
    if (rc)
        fprintf(stderr, "start a2: %s\n", err);
    spread_a2 = a2;
    relay_to = a;
    a2_served = a2_relayed = 0;
    route_i = 0;
    return rc;
}

static void test_spread_and_relay(void)
{
    node a = {0}, a2 = {0}, c = {0}, d = {0};
    static const int alternate[] = {1, 0};
    loop_setup();
    CU_ASSERT_FATAL(node_start(&a, "a", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(share_start(&a2, &a) == 0);
    CU_ASSERT(dk_rpc_port(a2.r) < 0); /* it listens on nothing itself */
    CU_ASSERT_FATAL(node_start(&c, "c", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start(&d, "d", "dk-test", NULL) == 0);
    route = alternate;
    route_n = 2;
    dk_rpc_spread(a.r, spread_fn, NULL);

    /* c's connection goes to a2, d's stays on a. */
    CU_ASSERT(call_sync(&c, &a, "from-c") == 0);
    CU_ASSERT(a2_served == 1);
    CU_ASSERT(call_sync(&d, &a, "from-d") == 0);
    CU_ASSERT(a2_served == 1);
    dk_rpc_stats sa = stats(&a), sa2 = stats(&a2);
    CU_ASSERT(sa.conns_accepted == 1 && sa2.conns_accepted == 1);
    CU_ASSERT(sa.requests_in == 1 && sa2.requests_in == 1);

    /* On c's connection: two requests relayed to a's handler (held there),
     * one served by a2 at once; the relayed ones are answered in reverse
     * order, and the connection goes on (MACs in sequence). */
    a.hold = 1;
    res r1 = {0}, r2 = {0}, r3 = {0};
    CU_ASSERT_FATAL(call(&c, &a, "relay:1", 2000, &r1) == 0);
    CU_ASSERT_FATAL(call(&c, &a, "plain", 2000, &r2) == 0);
    CU_ASSERT_FATAL(call(&c, &a, "relay:2", 2000, &r3) == 0);
    SPIN(a.n_held == 2 && r2.calls, 2000);
    CU_ASSERT_FATAL(a.n_held == 2);
    CU_ASSERT(r2.calls == 1 && r2.status == 0 && strcmp(r2.body, "plain") == 0);
    CU_ASSERT(r1.calls == 0 && r3.calls == 0);
    CU_ASSERT_STRING_EQUAL(dk_rpc_req_peer(a.held[0]), "c");
    node_answer_all(&a, 1);
    SPIN(r1.calls && r3.calls, 2000);
    CU_ASSERT(r1.calls == 1 && r1.status == 0 && strcmp(r1.body, "relay:1") == 0);
    CU_ASSERT(r3.calls == 1 && r3.status == 0 && strcmp(r3.body, "relay:2") == 0);
    CU_ASSERT(a2_relayed == 2 && a2_served == 2);
    a.hold = 0;
    CU_ASSERT(call_sync(&c, &a, "after") == 0);
    sa2 = stats(&a2);
    CU_ASSERT(sa2.auth_failures == 0 && sa2.bad_frames == 0 && sa2.requests_in == 5);
    /* An answer's frame flags (a digest read's REPLICA_VALUE) reach the
     * requester, relayed or not. */
    res r5 = {0}, r6 = {0};
    CU_ASSERT_FATAL(call(&c, &a, "relay:flag", 2000, &r5) == 0);
    CU_ASSERT_FATAL(call(&c, &a, "plain:flag", 2000, &r6) == 0);
    SPIN(r5.calls && r6.calls, 2000);
    CU_ASSERT(r5.status == 0 && r5.flags == DK_FRAME_DIGEST && strcmp(r5.body, "relay:flag") == 0);
    CU_ASSERT(r6.status == 0 && r6.flags == DK_FRAME_DIGEST && strcmp(r6.body, "plain:flag") == 0);
    CU_ASSERT(r1.flags == 0 && r2.flags == 0);

    /* A relayed request whose connection dies before the answer: the
     * answer is dropped and the request freed (ASan checks). */
    a.hold = 1;
    res r4 = {0};
    CU_ASSERT_FATAL(call(&c, &a, "relay:late", 2000, &r4) == 0);
    SPIN(a.n_held == 1, 2000);
    CU_ASSERT_FATAL(a.n_held == 1);
    node_stop(&c);
    CU_ASSERT(r4.calls == 1 && r4.status == DK_ECLOSED);
    SPIN(stats(&a2).conns_open == 0, 2000);
    CU_ASSERT(stats(&a2).conns_open == 0);
    node_answer_all(&a, 0);
    a.hold = 0;

    node_stop(&d);
    node_stop(&a2);
    node_stop(&a);
    loop_teardown();
}

static void test_shared_cap(void)
{
    node a = {0}, a2 = {0}, c = {0}, d = {0}, e = {0};
    static const int all_a2[] = {1};
    loop_setup();
    g_max_inbound = 2;
    CU_ASSERT_FATAL(node_start(&a, "a", "dk-test", NULL) == 0);
    g_max_inbound = 0;
    CU_ASSERT_FATAL(share_start(&a2, &a) == 0);
    CU_ASSERT_FATAL(node_start(&c, "c", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start(&d, "d", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start(&e, "e", "dk-test", NULL) == 0);

    /* One connection served by a, then every other one handed to a2:
     * the third is over the node's cap of 2, counted by a2. */
    CU_ASSERT(call_sync(&c, &a, "c1") == 0);
    route = all_a2;
    route_n = 1;
    dk_rpc_spread(a.r, spread_fn, NULL);
    CU_ASSERT(call_sync(&d, &a, "d1") == 0);
    CU_ASSERT(call_sync(&e, &a, "e1") != 0);
    SPIN(stats(&a2).conns_rejected == 1, 2000);
    CU_ASSERT(stats(&a2).conns_rejected == 1 && stats(&a2).conns_accepted == 1);
    CU_ASSERT(stats(&a).conns_rejected == 0 && stats(&a).conns_accepted == 1);

    /* c's connection (on a) goes: there is room again, on a2. */
    node_stop(&c);
    int ok = 0;
    for (int i = 0; i < 20 && !ok; i++) {
        ok = call_sync(&e, &a, "e2") == 0;
        if (!ok)
            SPIN(0, 100);
    }
    CU_ASSERT(ok);
    CU_ASSERT(stats(&a2).conns_accepted == 2);

    /* Spreading off: connections stay on a again. */
    dk_rpc_spread(a.r, NULL, NULL);
    node_stop(&d);
    CU_ASSERT_FATAL(node_start(&c, "c", "dk-test", NULL) == 0);
    SPIN(stats(&a2).conns_open == 1, 2000);
    CU_ASSERT(call_sync(&c, &a, "c2") == 0);
    CU_ASSERT(stats(&a).conns_accepted == 2);

    /* A stopping instance adopts nothing and closes what it is given. */
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    dk_rpc_stop(a2.r, node_stopped, &a2);
    CU_ASSERT(dk_rpc_adopt(a2.r, sv[0]) == DK_ECLOSED);
    CU_ASSERT(fcntl(sv[0], F_GETFD) == -1 && errno == EBADF);
    close(sv[1]);
    SPIN(a2.stopped, 2000);
    CU_ASSERT(a2.stopped);

    node_stop(&c);
    node_stop(&e);
    node_stop(&a);
    loop_teardown();
}

static CU_TestInfo spread_tests[] = {
    {"spread connections, serve and relay on their instance", test_spread_and_relay},
    {"the connection cap holds for every instance", test_shared_cap},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc-spread", .pTests = spread_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
