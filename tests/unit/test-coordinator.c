/*
 * test-coordinator.c - the quorum coordinator (framework/coordinator.h)
 * with real RPC over 127.0.0.1 and real local stores (memory engine).
 *
 * Every test builds a small cluster in this one process: 3 to 5 nodes on
 * one uv loop, each with its own dk_node (mkdtemp data dir, memory engine),
 * its own dk_rpc on port 0 and its own coordinator. A test view serves a
 * ring built from all the nodes and alive flags the test flips ("down"
 * means: the view says so; the node's RPC keeps running unless a test
 * makes it a black hole that never answers); tc_cluster.h holds that
 * harness, shared with test-antientropy.c. SPIN runs the loop until a
 * condition holds; every test ends by stopping everything and asserting
 * uv_loop_close() == 0. Prefix scans (coord_scan.h) are tested here for
 * what needs the network (a node that never answers); their halves are in
 * test-scan.c.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/coordinator.h"
#include "coord/stream.h"
#include "node/host.h"
#include "coord/coord_scan.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "node/store.h"
#include "util/vv.h"

#include "tc_cluster.h"

static int64_t hint_window_ms; /* 0: the default */
static uint64_t stream_rate;   /* 0: unlimited */
static char test_move[32];     /* what the view answers as the move under way */

/* ---- the test view ----------------------------------------------------------- */

static const char *view_transition(void *arg)
{
    (void)arg;
    return test_move;
}

static int pending_node = -1; /* the view's pending replica of every token (-1: none) */

static size_t view_pending(void *arg, dk_token t, dk_coord_pending *out)
{
    (void)arg;
    (void)t;
    if (pending_node < 0)
        return 0;
    tnode *n = &nodes[pending_node];
    snprintf(out[0].id, sizeof(out[0].id), "%s", n->id);
    snprintf(out[0].addr, sizeof(out[0].addr), "%s", n->addr);
    out[0].alive = n->alive;
    return 1;
}

/* ---- cluster set-up ---------------------------------------------------------- */

static int coord_start(tnode *n)
{
    char err[256];
    dk_coord_conf cc = {
        .loop = &loop,
        .node = &n->node,
        .rpc = n->rpc,
        .view = {.arg = NULL,
                 .ring = tc_view_ring,
                 .peer = tc_view_peer,
                 .transition = view_transition,
                 .pending = view_pending},
        .hint_engine = n->node.hint_engine,
        .hint_ops = n->node.engine_ops,
        .hint_replay_interval_ms = 50,
    };
    int rc = dk_coord_start(&cc, &n->coord, err, sizeof(err));
    if (rc)
        fprintf(stderr, "coord %s: %s\n", n->id, err);
    return rc;
}

/* The nodes' engine and sync setting (one test runs the LSM engine). */
static const char *node_engine = "memory";
static int node_sync;

static int cluster_start(int count, int64_t timeout_ms, int sloppy)
{
    tc_loop_init(count);
    for (int i = 0; i < count; i++) {
        tnode *n = &nodes[i];
        if (tc_node_init(n, i, "/tmp/dk-coord-XXXXXX") != 0)
            return -1;
        snprintf(n->cfg.storage.engine, sizeof(n->cfg.storage.engine), "%s", node_engine);
        n->cfg.storage.sync = node_sync;
        n->cfg.cluster.request_timeout = timeout_ms;
        n->cfg.cluster.sloppy_quorum = sloppy;
        if (hint_window_ms)
            n->cfg.cluster.hint_window = hint_window_ms;
        n->cfg.cluster.stream_rate = stream_rate;
        if (tc_node_start(n) != 0)
            return -1;
    }
    if (tc_ring_build() != 0)
        return -1;
    for (int i = 0; i < count; i++)
        if (coord_start(&nodes[i]) != 0)
            return -1;
    return 0;
}

static void cluster_stop(void)
{
    for (int i = 0; i < n_nodes; i++)
        if (nodes[i].coord)
            tc_coord_stop(&nodes[i], 5000);
    for (int i = 0; i < n_nodes; i++)
        tc_node_close(&nodes[i]);
    tc_loop_close();
}

/* ---- synchronous wrappers ------------------------------------------------------ */

typedef struct got {
    int done, status, acks, needed, replicas;
    dk_buf raw;
    dk_object obj;
} got;

static void got_init(got *g)
{
    memset(g, 0, sizeof(*g));
    dk_object_init(&g->obj);
}

static void got_free(got *g)
{
    dk_object_free(&g->obj);
    dk_buf_free(&g->raw);
}

static void got_cb(void *arg, dk_coord_result *r)
{
    got *g = arg;
    g->done = 1;
    g->status = r->status;
    g->acks = r->acks;
    g->needed = r->needed;
    g->replicas = r->replicas;
    if (r->raw.len && dk_buf_append(&g->raw, r->raw.data, r->raw.len) == 0)
        dk_object_decode(dk_buf_slice(&g->raw), &g->obj, NULL, 0);
}

static dk_slice S(const char *s)
{
    return (dk_slice){(const uint8_t *)s, strlen(s)};
}

static int start_put(int via, const char *key, const char *val, int cl, int strict, const dk_vv *ctx,
                     int cond, got *g)
{
    got_init(g);
    dk_coord_write w = {
        .key = S(key), .value = S(val), .context = ctx, .cond = cond, .consistency = cl, .strict = strict};
    return dk_coord_put(nodes[via].coord, &w, got_cb, g);
}

static void put(int via, const char *key, const char *val, int cl, int strict, got *g)
{
    CU_ASSERT_EQUAL_FATAL(start_put(via, key, val, cl, strict, NULL, DK_COND_NONE, g), 0);
    SPIN(g->done, 5000);
    CU_ASSERT_FATAL(g->done);
}

static void get(int via, const char *key, int cl, got *g)
{
    got_init(g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get(nodes[via].coord, S(key), cl, 0, got_cb, g), 0);
    SPIN(g->done, 5000);
    CU_ASSERT_FATAL(g->done);
}

/* The value of node i's own copy of key ("" when absent, "<2 siblings>"
 * when there are several). */
static void local_value(int i, const char *key, char *out, size_t len)
{
    got g;
    got_init(&g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_local(nodes[i].coord, S(key), got_cb, &g), 0);
    SPIN(g.done, 5000);
    out[0] = 0;
    if (g.status == 0 && g.obj.n_sib == 1)
        snprintf(out, len, "%.*s", (int)g.obj.sib[0].value.len, (const char *)g.obj.sib[0].value.ptr);
    else if (g.status == 0)
        snprintf(out, len, "<%u siblings>", g.obj.n_sib);
    got_free(&g);
}

static int local_is(int i, const char *key, const char *want)
{
    char v[64];
    local_value(i, key, v, sizeof(v));
    return strcmp(v, want) == 0;
}

/* Spin until node i's copy of key is want. */
static int wait_local(int i, const char *key, const char *want, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < end) {
        if (local_is(i, key, want))
            return 1;
        SPIN(0, 20);
    }
    return local_is(i, key, want);
}

/* The node number whose dot holds value v, or -1 when no sibling does. */
static int actor_of(const got *g, const char *v)
{
    for (uint32_t i = 0; i < g->obj.n_sib; i++)
        if (g->obj.sib[i].value.len == strlen(v) && memcmp(g->obj.sib[i].value.ptr, v, strlen(v)) == 0)
            return g->obj.sib[i].actor.node[1] - '0';
    return -1;
}

static int has_value(const got *g, const char *v)
{
    return actor_of(g, v) >= 0;
}

/* Preference list (node numbers) of key with N = 3. */
static int pref(const char *key, int out[3])
{
    uint32_t idx[3];
    size_t k = dk_ring_preference(ring, key, strlen(key), 3, idx);
    for (size_t i = 0; i < k; i++)
        out[i] = dk_ring_node_at(ring, idx[i])->id[1] - '0';
    return (int)k;
}

static int in_list(const int l[3], int n)
{
    return l[0] == n || l[1] == n || l[2] == n;
}

/* A key whose preference list does not hold node `not`; *l gets the list. */
static void key_without(int not, char *key, size_t len, int l[3])
{
    for (int i = 0; i < 10000; i++) {
        snprintf(key, len, "key-%d", i);
        pref(key, l);
        if (!in_list(l, not ))
            return;
    }
    CU_FAIL_FATAL("no key found");
}

/* Number of hints stored in node i's hint engine. */
static int hint_count(int i)
{
    dk_node *n = &nodes[i].node;
    dk_engine_iter *it = NULL;
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    if (n->engine_ops->iter_open(n->hint_engine, &o, &it) != 0)
        return -1;
    int k = 0;
    dk_slice key, val;
    while (n->engine_ops->iter_next(it, &key, &val) == 0)
        k++;
    n->engine_ops->iter_close(it);
    return k;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_quorum_write_read(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    uint64_t writes = dk_metrics_get("coord_writes_total"), reads = dk_metrics_get("coord_reads_total");
    got g;
    put(0, "alpha", "one", DK_CL_QUORUM, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(g.acks >= 2);
    CU_ASSERT_EQUAL(g.needed, 2);
    CU_ASSERT_EQUAL(g.replicas, 3);
    CU_ASSERT(has_value(&g, "one"));
    got_free(&g);
    for (int i = 0; i < 3; i++) {
        get(i, "alpha", DK_CL_QUORUM, &g);
        CU_ASSERT_EQUAL(g.status, 0);
        CU_ASSERT_EQUAL(g.obj.n_sib, 1);
        CU_ASSERT(has_value(&g, "one"));
        CU_ASSERT(g.acks >= 2);
        got_free(&g);
    }
    /* Every replica ends up with the write (background replication). */
    for (int i = 0; i < 3; i++)
        CU_ASSERT(wait_local(i, "alpha", "one", 2000));
    /* The default consistency (one) and a missing key. */
    get(1, "missing", DK_CL_DEFAULT, &g);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    /* A delete makes the key unreadable everywhere. */
    got_init(&g);
    dk_coord_write del = {.key = S("alpha"), .tombstone = 1, .consistency = DK_CL_ALL};
    CU_ASSERT_EQUAL_FATAL(dk_coord_put(nodes[2].coord, &del, got_cb, &g), 0);
    SPIN(g.done, 5000);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.acks, 3);
    got_free(&g);
    get(0, "alpha", DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    CU_ASSERT(dk_metrics_get("coord_writes_total") >= writes + 2);
    CU_ASSERT(dk_metrics_get("coord_reads_total") >= reads + 5);
    CU_ASSERT_EQUAL(dk_coord_get(nodes[0].coord, S(""), DK_CL_ONE, 0, got_cb, &g), -EINVAL);
    cluster_stop();
}

static void test_forwarding(void)
{
    CU_ASSERT_FATAL(cluster_start(5, 3000, 1) == 0);
    char key[32];
    int l[3];
    key_without(0, key, sizeof(key), l);
    uint64_t fwd = dk_metrics_get("coord_forwards_total");
    got g;
    put(0, key, "forwarded", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.acks, 3);
    CU_ASSERT_EQUAL(g.needed, 3);
    CU_ASSERT_EQUAL(g.replicas, 3);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    /* The dot was made by a replica of the list, not by n0. */
    CU_ASSERT(in_list(l, actor_of(&g, "forwarded")));
    got_free(&g);
    /* One forward (more only if a connection attempt timed out first). */
    CU_ASSERT(dk_metrics_get("coord_forwards_total") >= fwd + 1);
    for (int i = 0; i < 3; i++)
        CU_ASSERT(local_is(l[i], key, "forwarded"));
    CU_ASSERT(local_is(0, key, ""));
    /* Reads through a non-replica ask the list directly. */
    get(0, key, DK_CL_QUORUM, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(has_value(&g, "forwarded"));
    got_free(&g);
    /* The first replica is down: the write goes to the next one. */
    nodes[l[0]].alive = 0;
    put(0, key, "second", DK_CL_QUORUM, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(actor_of(&g, "second"), l[1]);
    got_free(&g);
    nodes[l[0]].alive = 1;
    cluster_stop();
}

static void test_strict_unavailable(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    uint64_t unavail = dk_metrics_get("coord_unavailable_total");
    nodes[2].alive = 0;
    got g;
    put(0, "strict", "v", DK_CL_ALL, 1, &g);
    CU_ASSERT_EQUAL(g.status, DK_EUNAVAILABLE);
    CU_ASSERT_EQUAL(g.acks, 2);
    CU_ASSERT_EQUAL(g.needed, 3);
    CU_ASSERT_EQUAL(g.replicas, 3);
    got_free(&g);
    CU_ASSERT(dk_metrics_get("coord_unavailable_total") > unavail);
    /* Not rolled back: the replicas that took it keep it. */
    CU_ASSERT(wait_local(1, "strict", "v", 2000));
    CU_ASSERT(local_is(0, "strict", "v"));
    CU_ASSERT(local_is(2, "strict", ""));
    /* A quorum write still succeeds, and so does a quorum read. */
    put(1, "strict2", "w", DK_CL_QUORUM, 1, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    get(1, "strict2", DK_CL_QUORUM, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    /* Two of three down: quorum fails with the counts. */
    nodes[1].alive = 0;
    put(0, "strict3", "x", DK_CL_QUORUM, 1, &g);
    CU_ASSERT_EQUAL(g.status, DK_EUNAVAILABLE);
    CU_ASSERT_EQUAL(g.acks, 1);
    CU_ASSERT_EQUAL(g.needed, 2);
    got_free(&g);
    get(0, "strict2", DK_CL_QUORUM, &g);
    CU_ASSERT_EQUAL(g.status, DK_EUNAVAILABLE);
    CU_ASSERT_EQUAL(g.acks, 1);
    got_free(&g);
    cluster_stop();
}

static void test_sloppy_hints(void)
{
    CU_ASSERT_FATAL(cluster_start(4, 3000, 1) == 0);
    uint64_t stored = dk_metrics_get("hints_stored_total"), replayed = dk_metrics_get("hints_replayed_total");
    char key[32];
    int l[3];
    key_without(3, key, sizeof(key), l);
    int down = l[2];
    nodes[down].alive = 0;
    got g;
    /* W = all succeeds: n3 stands in for the down replica with a hint. */
    put(l[0], key, "hinted", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.acks, 3);
    got_free(&g);
    SPIN(hint_count(3) == 1, 2000);
    CU_ASSERT_EQUAL(hint_count(3), 1);
    CU_ASSERT(dk_metrics_get("hints_stored_total") >= stored + 1);
    CU_ASSERT(local_is(3, key, "")); /* a hint, not a replica copy */
    CU_ASSERT(local_is(down, key, ""));
    /* Strict, with the first write's context: no stand-in, so 2 of 3;
     * the coordinator keeps a hint of its own (it does not count). */
    got s;
    get(l[1], key, DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, DK_EUNAVAILABLE); /* reads never use stand-ins */
    got_free(&g);
    get(l[1], key, DK_CL_QUORUM, &g);
    CU_ASSERT_EQUAL_FATAL(g.status, 0);
    CU_ASSERT_EQUAL_FATAL(start_put(l[0], key, "strict", DK_CL_ALL, 1, &g.obj.vv, DK_COND_NONE, &s), 0);
    SPIN(s.done, 5000);
    CU_ASSERT_EQUAL(s.status, DK_EUNAVAILABLE);
    CU_ASSERT_EQUAL(s.acks, 2);
    got_free(&s);
    got_free(&g);
    SPIN(hint_count(l[0]) == 1, 2000);
    CU_ASSERT_EQUAL(hint_count(l[0]), 1);
    /* The owner comes back: both hints are replayed, then deleted. */
    nodes[down].alive = 1;
    CU_ASSERT(wait_local(down, key, "strict", 3000));
    SPIN(hint_count(3) == 0 && hint_count(l[0]) == 0, 2000);
    CU_ASSERT_EQUAL(hint_count(3), 0);
    CU_ASSERT_EQUAL(hint_count(l[0]), 0);
    CU_ASSERT(dk_metrics_get("hints_replayed_total") >= replayed + 1);
    cluster_stop();
}

static void test_coordinator_keeps_hint(void)
{
    /* Three nodes, N = 3: no node outside the list, so the coordinator
     * keeps the hint itself, and it does not count toward W. */
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    nodes[2].alive = 0;
    got g;
    put(0, "kept", "v1", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, DK_EUNAVAILABLE);
    CU_ASSERT_EQUAL(g.acks, 2);
    got_free(&g);
    put(0, "kept2", "v2", DK_CL_QUORUM, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    SPIN(hint_count(0) == 2, 2000);
    CU_ASSERT_EQUAL(hint_count(0), 2);
    nodes[2].alive = 1;
    CU_ASSERT(wait_local(2, "kept", "v1", 3000));
    CU_ASSERT(wait_local(2, "kept2", "v2", 3000));
    SPIN(hint_count(0) == 0, 2000);
    CU_ASSERT_EQUAL(hint_count(0), 0);
    cluster_stop();
}

static void test_hints_restart_and_expiry(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    nodes[2].alive = 0;
    got g;
    put(0, "restart", "kept", DK_CL_QUORUM, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    SPIN(hint_count(0) == 1, 2000);
    CU_ASSERT_EQUAL_FATAL(hint_count(0), 1);
    /* A new coordinator on the same hint store finds the hint by its
     * start-up scan (a node restart with a durable engine). */
    nodes[0].stopped = 0;
    dk_coord_stop(nodes[0].coord, tc_set_stopped, &nodes[0]);
    SPIN(nodes[0].stopped, 5000);
    CU_ASSERT_FATAL(nodes[0].stopped);
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[0]), 0);
    nodes[2].alive = 1;
    CU_ASSERT(wait_local(2, "restart", "kept", 3000));
    SPIN(hint_count(0) == 0, 2000);
    CU_ASSERT_EQUAL(hint_count(0), 0);
    cluster_stop();

    /* With a 300 ms window, hints for a node that stays down are dropped. */
    hint_window_ms = 300;
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    hint_window_ms = 0;
    uint64_t dropped = dk_metrics_get("hints_dropped_total");
    nodes[1].alive = 0;
    put(0, "expire", "v", DK_CL_ONE, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    SPIN(hint_count(0) == 1, 2000);
    CU_ASSERT_EQUAL(hint_count(0), 1);
    SPIN(dk_metrics_get("hints_dropped_total") == dropped + 1, 3000);
    CU_ASSERT_EQUAL(dk_metrics_get("hints_dropped_total"), dropped + 1);
    CU_ASSERT_EQUAL(hint_count(0), 0);
    nodes[1].alive = 1;
    SPIN(0, 200);
    CU_ASSERT(local_is(1, "expire", "")); /* never delivered */
    cluster_stop();
}

static void test_read_repair(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    got g;
    put(0, "rr", "old", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    /* n0 alone gets a newer version, written straight into its store. */
    dk_store_write w = {.key = S("rr"), .value = S("new"), .context = NULL};
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    got cur;
    got_init(&cur);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_local(nodes[0].coord, S("rr"), got_cb, &cur), 0);
    SPIN(cur.done, 2000);
    w.context = &cur.obj.vv;
    CU_ASSERT_EQUAL_FATAL(dk_store_write_local(nodes[0].node.store, &w, dk_now_ms(), &raw, &o), 0);
    got_free(&cur);
    dk_object_free(&o);
    dk_buf_free(&raw);
    /* A key that only n1 is missing (its copy written to n0 and n2). */
    CU_ASSERT(local_is(1, "rr", "old") && local_is(2, "rr", "old"));
    uint64_t repairs = dk_metrics_get("read_repairs_total");
    get(1, "rr", DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    CU_ASSERT(has_value(&g, "new"));
    got_free(&g);
    CU_ASSERT(wait_local(1, "rr", "new", 2000));
    CU_ASSERT(wait_local(2, "rr", "new", 2000));
    CU_ASSERT_EQUAL(dk_metrics_get("read_repairs_total"), repairs + 2);
    /* A second read finds nothing to repair. */
    get(2, "rr", DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    SPIN(0, 100);
    CU_ASSERT_EQUAL(dk_metrics_get("read_repairs_total"), repairs + 2);
    cluster_stop();
}

static void repair_percent(int p)
{
    for (int i = 0; i < n_nodes; i++)
        nodes[i].cfg.cluster.read_repair_percent = p;
}

/* Replica reads one read makes (every node counts its own, in one
 * process's metrics). */
static uint64_t reads_for(int via, const char *key, int cl, const char *want)
{
    got g;
    uint64_t before = dk_metrics_get("replica_reads_total");
    get(via, key, cl, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(has_value(&g, want));
    got_free(&g);
    SPIN(0, 50); /* let any widened ask land */
    return dk_metrics_get("replica_reads_total") - before;
}

/* R first: agreeing replicas make R replica reads, not N; X-Consistency:
 * all still reads N; answers that differ widen the read to every replica
 * and repair the stale ones; read_repair_percent = 100 samples every read;
 * a quorum read stays correct with a replica that never answers. */
static void test_read_r_first(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 400, 1) == 0);
    repair_percent(0);
    got g;
    put(0, "rf", "old", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    for (int via = 0; via < 3; via++) {
        CU_ASSERT_EQUAL(reads_for(via, "rf", DK_CL_QUORUM, "old"), 2);
        CU_ASSERT_EQUAL(reads_for(via, "rf", DK_CL_ONE, "old"), 1);
        CU_ASSERT_EQUAL(reads_for(via, "rf", DK_CL_ALL, "old"), 3);
    }
    /* n0 alone gets a newer version; a quorum read through n0 reads its
     * own copy first, finds the next one differs, asks the third and
     * repairs both. */
    dk_store_write w = {.key = S("rf"), .value = S("new")};
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    got cur;
    got_init(&cur);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_local(nodes[0].coord, S("rf"), got_cb, &cur), 0);
    SPIN(cur.done, 2000);
    w.context = &cur.obj.vv;
    CU_ASSERT_EQUAL_FATAL(dk_store_write_local(nodes[0].node.store, &w, dk_now_ms(), &raw, &o), 0);
    got_free(&cur);
    dk_object_free(&o);
    dk_buf_free(&raw);
    uint64_t repairs = dk_metrics_get("read_repairs_total"),
             widened = dk_metrics_get("coord_reads_widened_total");
    CU_ASSERT_EQUAL(reads_for(0, "rf", DK_CL_QUORUM, "new"), 3);
    CU_ASSERT_EQUAL(dk_metrics_get("coord_reads_widened_total"), widened + 1);
    CU_ASSERT(wait_local(1, "rf", "new", 2000));
    CU_ASSERT(wait_local(2, "rf", "new", 2000));
    CU_ASSERT_EQUAL(dk_metrics_get("read_repairs_total"), repairs + 2);
    /* Agreeing again: back to R. */
    CU_ASSERT_EQUAL(reads_for(1, "rf", DK_CL_QUORUM, "new"), 2);
    /* Sampled: every replica, every time. */
    repair_percent(100);
    CU_ASSERT_EQUAL(reads_for(1, "rf", DK_CL_QUORUM, "new"), 3);
    CU_ASSERT_EQUAL(reads_for(2, "rf", DK_CL_ONE, "new"), 3);
    repair_percent(0);
    /* n2 never answers: quorum reads through n0 and n1 replace it by the
     * third replica (after half the deadline when it was among the R). */
    nodes[2].blackhole = 1;
    for (int via = 0; via < 2; via++) {
        get(via, "rf", DK_CL_QUORUM, &g);
        CU_ASSERT_EQUAL(g.status, 0);
        CU_ASSERT(has_value(&g, "new"));
        got_free(&g);
    }
    nodes[2].blackhole = 0;
    cluster_stop();
}

static void test_concurrent_siblings(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    got a, b, g;
    /* Step 1: two clients write blind, at the same time, through n0 and n1. */
    CU_ASSERT_EQUAL_FATAL(start_put(0, "sib", "from-a", DK_CL_QUORUM, 0, NULL, DK_COND_NONE, &a), 0);
    CU_ASSERT_EQUAL_FATAL(start_put(1, "sib", "from-b", DK_CL_QUORUM, 0, NULL, DK_COND_NONE, &b), 0);
    SPIN(a.done && b.done, 5000);
    CU_ASSERT(a.status == 0 && b.status == 0);
    got_free(&a);
    got_free(&b);
    /* Step 2: a read at all sees both as siblings. */
    get(2, "sib", DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 2);
    CU_ASSERT(has_value(&g, "from-a") && has_value(&g, "from-b"));
    /* Step 3: a write with the read's context resolves them. */
    dk_vv ctx;
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(dk_vv_copy(&ctx, &g.obj.vv), 0);
    got_free(&g);
    CU_ASSERT_EQUAL_FATAL(start_put(2, "sib", "resolved", DK_CL_ALL, 0, &ctx, DK_COND_NONE, &a), 0);
    SPIN(a.done, 5000);
    CU_ASSERT_EQUAL(a.status, 0);
    got_free(&a);
    dk_vv_free(&ctx);
    get(0, "sib", DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    CU_ASSERT(has_value(&g, "resolved"));
    got_free(&g);
    cluster_stop();
}

/* With the LSM engine (try_get, write_async), 3 nodes, N = 3: reads
 * answered on the loop, local writes queued from the loop and sent to the
 * other replicas while the local fdatasync runs. Step 1: 20 blind quorum
 * writes of one key start at once through one node: the first holds the key while its
 * WAL write is in flight, the others wait on a worker and then apply in
 * turn; none is lost (20 siblings). Step 2: a write with the read's
 * context replaces them. Step 3: writes one after the other, each with the
 * previous answer's context, leave the last value alone. */
static void test_lsm_loop_paths(void)
{
    node_engine = "lsm";
    node_sync = 1;
    int started = cluster_start(3, 3000, 1);
    node_engine = "memory";
    node_sync = 0;
    CU_ASSERT_FATAL(started == 0);
    uint64_t async0 = dk_metrics_get("coord_local_writes_async_total");
    enum { W = 20 };
    got w[W], g;
    char val[W][16];
    for (int i = 0; i < W; i++) {
        snprintf(val[i], sizeof(val[i]), "v%02d", i);
        CU_ASSERT_EQUAL_FATAL(start_put(0, "hot", val[i], DK_CL_QUORUM, 0, NULL, DK_COND_NONE, &w[i]), 0);
    }
    int all = 0;
    for (int i = 0; i < W; i++) {
        SPIN(w[i].done, 5000);
        CU_ASSERT_EQUAL(w[i].status, 0);
        all += w[i].done;
        got_free(&w[i]);
    }
    CU_ASSERT_EQUAL(all, W);
    get(0, "hot", DK_CL_ONE, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, W);
    for (int i = 0; i < W; i++)
        CU_ASSERT(has_value(&g, val[i]));
    dk_vv ctx;
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(dk_vv_copy(&ctx, &g.obj.vv), 0);
    got_free(&g);
    for (int i = 0; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof(v), "seq%d", i);
        CU_ASSERT_EQUAL_FATAL(start_put(0, "hot", v, DK_CL_QUORUM, 0, &ctx, DK_COND_NONE, &w[0]), 0);
        SPIN(w[0].done, 5000);
        CU_ASSERT_EQUAL(w[0].status, 0);
        CU_ASSERT(w[0].acks >= 2);
        CU_ASSERT(has_value(&w[0], v));
        dk_vv_free(&ctx);
        dk_vv_init(&ctx);
        CU_ASSERT_EQUAL(dk_vv_copy(&ctx, &w[0].obj.vv), 0);
        got_free(&w[0]);
    }
    dk_vv_free(&ctx);
    get(0, "hot", DK_CL_ONE, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    CU_ASSERT(has_value(&g, "seq4"));
    got_free(&g);
    get(0, "cold", DK_CL_ONE, &g);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    /* Every replica ends with the last value alone. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT(wait_local(i, "hot", "seq4", 3000));
    get(1, "hot", DK_CL_ALL, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    got_free(&g);
    /* The loop path was taken: the first write of step 1 finds the key
     * free and in memory (later ones may meet a read repair's merge
     * holding the key on a worker, and then go to a worker themselves). */
    CU_ASSERT(dk_metrics_get("coord_local_writes_async_total") >= async0 + 1);
    cluster_stop();
}

static void test_cas(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    got a, b, g;
    /* Two If-None-Match: * writers through different coordinators, at
     * the same time: exactly one wins. */
    CU_ASSERT_EQUAL_FATAL(start_put(1, "cas", "first", DK_CL_QUORUM, 0, NULL, DK_COND_IF_NONE_MATCH, &a), 0);
    CU_ASSERT_EQUAL_FATAL(start_put(2, "cas", "second", DK_CL_QUORUM, 0, NULL, DK_COND_IF_NONE_MATCH, &b), 0);
    SPIN(a.done && b.done, 5000);
    if (!((a.status == 0 && b.status == DK_EPRECOND) || (a.status == DK_EPRECOND && b.status == 0)))
        fprintf(stderr, "CAS outcomes: %s, %s\n", dk_err_name(a.status), dk_err_name(b.status));
    CU_ASSERT((a.status == 0) + (b.status == 0) == 1);
    CU_ASSERT((a.status == DK_EPRECOND) + (b.status == DK_EPRECOND) == 1);
    const char *winner = a.status == 0 ? "first" : "second";
    got_free(&a);
    got_free(&b);
    get(0, "cas", DK_CL_QUORUM, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    CU_ASSERT(has_value(&g, winner));
    /* If-Match with the current version succeeds once; the loser, who
     * still holds that version, then fails. */
    dk_vv ctx;
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(dk_vv_copy(&ctx, &g.obj.vv), 0);
    got_free(&g);
    got_init(&a);
    got_init(&b);
    dk_coord_write w1 = {.key = S("cas"),
                         .value = S("third"),
                         .cond = DK_COND_IF_MATCH,
                         .if_match = &ctx,
                         .consistency = DK_CL_QUORUM};
    dk_coord_write w2 = w1;
    w2.value = S("fourth");
    CU_ASSERT_EQUAL_FATAL(dk_coord_put(nodes[0].coord, &w1, got_cb, &a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_coord_put(nodes[1].coord, &w2, got_cb, &b), 0);
    SPIN(a.done && b.done, 5000);
    if (!((a.status == 0 && b.status == DK_EPRECOND) || (a.status == DK_EPRECOND && b.status == 0)))
        fprintf(stderr, "CAS outcomes: %s, %s\n", dk_err_name(a.status), dk_err_name(b.status));
    CU_ASSERT((a.status == 0) + (b.status == 0) == 1);
    CU_ASSERT((a.status == DK_EPRECOND) + (b.status == DK_EPRECOND) == 1);
    got_free(&a);
    got_free(&b);
    dk_vv_free(&ctx);
    cluster_stop();
}

static void test_black_hole(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 300, 0) == 0);
    nodes[2].blackhole = 1; /* up in the view, never answers */
    got g;
    uint64_t t0 = uv_hrtime();
    put(0, "bh", "v", DK_CL_ALL, 0, &g);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    CU_ASSERT_EQUAL(g.status, DK_ETIMEOUT);
    CU_ASSERT_EQUAL(g.acks, 2);
    CU_ASSERT(ms >= 250 && ms < 1000);
    got_free(&g);
    /* Quorum does not wait for it. */
    t0 = uv_hrtime();
    put(1, "bh", "w", DK_CL_QUORUM, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT((uv_hrtime() - t0) / 1000000u < 250);
    got_free(&g);
    t0 = uv_hrtime();
    get(0, "bh", DK_CL_ALL, &g);
    ms = (uv_hrtime() - t0) / 1000000u;
    CU_ASSERT_EQUAL(g.status, DK_ETIMEOUT);
    CU_ASSERT(ms < 1000);
    got_free(&g);
    cluster_stop();
}

/* Range streaming between two coordinators: refused (-EAGAIN, retried)
 * while the source does not see the move, then every key of the range,
 * paced to the source's stream_rate; the same move installed again keeps
 * its progress; a range with nothing to fetch is complete at once. */
static void test_streaming(void)
{
    stream_rate = 256 * 1024;
    CU_ASSERT_FATAL(cluster_start(2, 3000, 1) == 0);
    stream_rate = 0;
    char key[32], val[1025];
    memset(val, 'v', 1024);
    val[1024] = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "st-%03d", i);
        dk_store_write sw = {.key = S(key), .value = S(val)};
        dk_buf raw = DK_BUF_INIT;
        dk_object obj;
        dk_object_init(&obj);
        CU_ASSERT_EQUAL_FATAL(dk_store_write_local(nodes[0].node.store, &sw, dk_now_ms(), &raw, &obj), 0);
        dk_object_free(&obj);
        dk_buf_free(&raw);
    }
    CU_ASSERT(local_is(1, "st-000", ""));
    dk_stream_node src;
    snprintf(src.id, sizeof(src.id), "n0");
    snprintf(src.addr, sizeof(src.addr), "%s", nodes[0].addr);
    dk_stream_want w = {.n_src = 1, .src = {0}}; /* start == end: the whole circle */
    dk_stream_plan p = {.sig = "move-1", .nodes = &src, .n_nodes = 1, .want = &w, .n_want = 1};
    test_move[0] = 0;
    CU_ASSERT_EQUAL_FATAL(dk_stream_set_plan(nodes[1].coord, &p), 0);
    SPIN(0, 600);
    dk_stream_status s;
    dk_stream_status_get(nodes[1].coord, &s);
    CU_ASSERT_STRING_EQUAL(s.plan, "move-1");
    CU_ASSERT(s.loaded && !s.done && s.ranges_total == 1 && s.keys == 0);
    dk_stream_info info[4];
    CU_ASSERT_EQUAL(dk_stream_streams_get(nodes[1].coord, info, 4), 1);
    CU_ASSERT_STRING_EQUAL(info[0].source, "n0");

    snprintf(test_move, sizeof(test_move), "move-1");
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 1000 && !s.done; i++) {
        SPIN(0, 10);
        dk_stream_status_get(nodes[1].coord, &s);
    }
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    CU_ASSERT(s.done);
    CU_ASSERT_EQUAL(s.keys, 300);
    CU_ASSERT(s.bytes > 300 * 1024);
    /* 300 KiB at 256 KiB/s, every batch paid for before it leaves */
    CU_ASSERT(ms >= 1000);
    printf("\n  300 keys of 1 KiB streamed in %llu ms at stream_rate 256 KiB/s\n", (unsigned long long)ms);
    for (int i = 0; i < 300; i += 37) {
        snprintf(key, sizeof(key), "st-%03d", i);
        CU_ASSERT(!local_is(1, key, "")); /* present (values are 1 KiB, longer than local_value shows) */
    }
    uint64_t k = 0, b = 0, n = 0;
    dk_stream_served_get(nodes[0].coord, &k, &b, &n);
    CU_ASSERT(k == 300 && n >= 2);

    /* the same move again (a source changed its liveness): still done */
    CU_ASSERT_EQUAL(dk_stream_set_plan(nodes[1].coord, &p), 0);
    dk_stream_status_get(nodes[1].coord, &s);
    CU_ASSERT(s.done);
    /* nothing to fetch: complete once its (empty) progress is loaded */
    dk_stream_want none = {.nothing = 1};
    dk_stream_plan p2 = {.sig = "move-2", .want = &none, .n_want = 1};
    CU_ASSERT_EQUAL(dk_stream_set_plan(nodes[1].coord, &p2), 0);
    SPIN(0, 300);
    dk_stream_status_get(nodes[1].coord, &s);
    CU_ASSERT(s.done && !strcmp(s.plan, "move-2") && s.ranges_done == 1);
    test_move[0] = 0;
    cluster_stop();
}

static void scan_cb(void *arg, dk_coord_scan_page *pg)
{
    *(dk_coord_scan_page **)arg = pg;
}

/* Page through prefix via node `via` with limit and consistency cl; the
 * keys go to out, space-separated. Returns the number of pages and adds
 * up the pages' failovers and gaps. */
static int scan_all(int via, const char *prefix, uint32_t limit, int cl, char *out, size_t len,
                    uint32_t *failovers, size_t *gaps)
{
    char cursor[DK_KEY_MAX + 1] = "";
    int pages = 0, more = 1;
    out[0] = 0;
    while (more && pages < 100) {
        dk_coord_scan_page *pg = NULL;
        dk_coord_scan_req q = {.prefix = S(prefix), .after = S(cursor), .limit = limit, .consistency = cl};
        CU_ASSERT_EQUAL_FATAL(dk_coord_scan(nodes[via].coord, &q, scan_cb, &pg), 0);
        SPIN(pg, 5000);
        CU_ASSERT_FATAL(pg != NULL && pg->status == 0);
        CU_ASSERT(pg->n_pairs <= limit);
        for (size_t i = 0; i < pg->n_pairs; i++)
            snprintf(out + strlen(out), len - strlen(out), "%s%.*s", out[0] ? " " : "",
                     (int)pg->pairs[i].key.len, (const char *)pg->pairs[i].key.ptr);
        *failovers += pg->failovers;
        *gaps += pg->n_gaps;
        more = pg->more;
        snprintf(cursor, sizeof(cursor), "%.*s", (int)pg->cursor_len, (const char *)pg->cursor);
        dk_coord_scan_page_free(pg);
        pages++;
    }
    return pages;
}

/* A replica that never answers a scan: after request_timeout its ranges go
 * to the next replicas and the pages stay exact; with a second node down,
 * X-Consistency all cannot be had anywhere and every page says so. */
static void test_scan_black_hole(void)
{
    CU_ASSERT_FATAL(cluster_start(4, 300, 1) == 0); /* N = 3 of 4 */
    char key[32], want[1024] = "", got_keys[1024];
    got g;
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "bs/%02d", i);
        put(i % 4, key, "v", DK_CL_ALL, 0, &g);
        CU_ASSERT_EQUAL(g.status, 0);
        got_free(&g);
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? " " : "", key);
    }
    uint32_t failovers = 0;
    size_t gaps = 0;
    CU_ASSERT(scan_all(1, "bs/", 7, DK_CL_ONE, got_keys, sizeof(got_keys), &failovers, &gaps) == 5);
    CU_ASSERT_STRING_EQUAL(got_keys, want);
    CU_ASSERT(failovers == 0 && gaps == 0);
    nodes[2].blackhole = 1; /* up in the view, never answers */
    uint64_t scans = dk_metrics_get("scans_total"), t0 = uv_hrtime();
    CU_ASSERT(scan_all(0, "bs/", 7, DK_CL_ONE, got_keys, sizeof(got_keys), &failovers, &gaps) == 5);
    CU_ASSERT_STRING_EQUAL(got_keys, want);
    CU_ASSERT(failovers > 0 && gaps == 0);
    CU_ASSERT((uv_hrtime() - t0) / 1000000u < 5 * 1000);
    CU_ASSERT_EQUAL(dk_metrics_get("scans_total"), scans + 5);
    nodes[3].alive = 0;
    failovers = 0;
    CU_ASSERT(scan_all(1, "bs/", 50, DK_CL_ALL, got_keys, sizeof(got_keys), &failovers, &gaps) == 1);
    CU_ASSERT_STRING_EQUAL(got_keys, want); /* every range still has n0 or n1 */
    CU_ASSERT(gaps > 0);
    cluster_stop();
}

/* The handoff check (coordinator.h, dk_coord_handoff_state): a copy for a
 * pending replica that never answers keeps the epoch unsettled until it
 * failed and became a hint, the hint shows until it is replayed, and then
 * everything reads settled. */
static void test_handoff_state(void)
{
    CU_ASSERT_FATAL(cluster_start(4, 300, 0) == 0);
    const char *t[] = {"n3"};
    uint64_t e0, e1;
    int settled;
    uint32_t hinted;
    dk_coord_handoff_state(nodes[0].coord, t, 1, &e0, &settled, &hinted);
    CU_ASSERT(settled && hinted == 0);
    dk_coord_handoff_state(nodes[0].coord, t, 1, &e1, &settled, &hinted);
    CU_ASSERT(e1 > e0 && settled && hinted == 0); /* nothing in flight: epochs move on */

    char key[32];
    int l[3];
    key_without(3, key, sizeof(key), l);
    pending_node = 3;
    nodes[3].blackhole = 1;
    got g;
    put(l[0], key, "pend", DK_CL_QUORUM, 0, &g); /* answered by the replicas, n3 not counted */
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    dk_coord *c = nodes[l[0]].coord;
    dk_coord_handoff_state(c, t, 1, &e0, &settled, &hinted);
    CU_ASSERT_FALSE(settled);
    dk_coord_handoff_state(c, t, 1, &e1, &settled, &hinted);
    CU_ASSERT_FALSE(settled);
    CU_ASSERT_EQUAL(e1, e0); /* no new epoch while the old one has a copy */
    /* request_timeout: the copy fails and is kept as a hint for n3. */
    for (int i = 0; i < 100 && !settled; i++) {
        SPIN(0, 20);
        dk_coord_handoff_state(c, t, 1, &e1, &settled, &hinted);
    }
    CU_ASSERT(settled && e1 > e0 && hinted == 1);
    CU_ASSERT_EQUAL(hint_count(l[0]), 1);
    const char *other[] = {nodes[l[1]].id};
    dk_coord_handoff_state(c, other, 1, &e1, &settled, &hinted);
    CU_ASSERT_EQUAL(hinted, 0); /* hints are per target */
    /* n3 answers again: the hint is replayed, and nothing is on its way. */
    pending_node = -1;
    nodes[3].blackhole = 0;
    hinted = 1;
    for (int i = 0; i < 200 && hinted; i++) {
        SPIN(0, 20);
        dk_coord_handoff_state(c, t, 1, &e1, &settled, &hinted);
    }
    CU_ASSERT(settled && hinted == 0);
    CU_ASSERT(local_is(3, key, "pend"));
    cluster_stop();
}

static CU_TestInfo coord_tests[] = {
    {"handoff check: pending copies in flight, hints until replayed", test_handoff_state},
    {"range streaming: refused until the move is known, paced, resumable", test_streaming},
    {"quorum write, read from every coordinator, delete", test_quorum_write_read},
    {"a non-replica forwards the write (5 nodes, N=3)", test_forwarding},
    {"strict quorum: DK_EUNAVAILABLE with the counts, no rollback", test_strict_unavailable},
    {"sloppy quorum: fallback hint, replay and delete", test_sloppy_hints},
    {"no fallback: the coordinator keeps the hint", test_coordinator_keeps_hint},
    {"hints survive a coordinator restart; expired ones are dropped", test_hints_restart_and_expiry},
    {"read repair fixes stale replicas", test_read_repair},
    {"reads ask R replicas first, all only when they differ or sampled", test_read_r_first},
    {"concurrent blind writes give siblings", test_concurrent_siblings},
    {"concurrent CAS writers: exactly one wins", test_cas},
    {"LSM engine: loop reads, queued local writes replicated in parallel, one key in order",
     test_lsm_loop_paths},
    {"a replica that never answers: answered within request_timeout", test_black_hole},
    {"scans: a replica that never answers is replaced, gaps reported", test_scan_black_hole},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "coordinator", .pTests = coord_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
