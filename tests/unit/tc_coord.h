/*
 * tc_coord.h - the coordinator tests' cluster (test-coordinator.c and
 * test-coord-read.c), on top of tc_cluster.h: a test view that also
 * answers the move under way (test_move) and one pending replica of every
 * token (pending_node), coordinators with a 50 ms hint replay, a cluster
 * of 3 to 5 nodes with a given request_timeout and sloppy_quorum, and
 * synchronous wrappers (put, get, the local copy of one node) that spin
 * the loop until the coordinator answers, into a `got` that keeps the
 * answer's counts and decoded object.
 *
 * Header-only with static state, like tc_cluster.h, for the same reason:
 * the tests read and flip the harness's variables directly. Knobs for the
 * next cluster_start (hint_window_ms, stream_rate, node_engine,
 * node_sync) are set before it and put back after.
 */
#ifndef DK_TEST_TC_COORD_H
#define DK_TEST_TC_COORD_H
#include "coord/coordinator.h"
#include "node/object.h"
#include "util/vv.h"

#include "tc_cluster.h"

static int64_t hint_window_ms; /* 0: the default */
static uint64_t stream_rate;   /* 0: unlimited */
static char test_move[32];     /* what the view answers as the move under way */

/* ---- the test view ---- */

static inline const char *view_transition(void *arg)
{
    (void)arg;
    return test_move;
}

static int pending_node = -1; /* the view's pending replica of every token (-1: none) */

static inline size_t view_pending(void *arg, dk_token t, dk_coord_pending *out)
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

/* ---- cluster set-up ---- */

static inline int coord_start(tnode *n)
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

static inline int cluster_start(int count, int64_t timeout_ms, int sloppy)
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

static inline void cluster_stop(void)
{
    for (int i = 0; i < n_nodes; i++)
        if (nodes[i].coord)
            tc_coord_stop(&nodes[i], 5000);
    for (int i = 0; i < n_nodes; i++)
        tc_node_close(&nodes[i]);
    tc_loop_close();
}

/* ---- synchronous wrappers ---- */

typedef struct got {
    int done, status, acks, needed, replicas;
    dk_buf raw;
    dk_object obj;
} got;

static inline void got_init(got *g)
{
    memset(g, 0, sizeof(*g));
    dk_object_init(&g->obj);
}

static inline void got_free(got *g)
{
    dk_object_free(&g->obj);
    dk_buf_free(&g->raw);
}

static inline void got_cb(void *arg, dk_coord_result *r)
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

static inline int start_put(int via, const char *key, const char *val, int cl, int strict, const dk_vv *ctx,
                            int cond, got *g)
{
    got_init(g);
    dk_coord_write w = {
        .key = S(key), .value = S(val), .context = ctx, .cond = cond, .consistency = cl, .strict = strict};
    return dk_coord_put(nodes[via].coord, &w, got_cb, g);
}

static inline void put(int via, const char *key, const char *val, int cl, int strict, got *g)
{
    CU_ASSERT_EQUAL_FATAL(start_put(via, key, val, cl, strict, NULL, DK_COND_NONE, g), 0);
    SPIN(g->done, 5000);
    CU_ASSERT_FATAL(g->done);
}

static inline void get(int via, const char *key, int cl, got *g)
{
    got_init(g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get(nodes[via].coord, S(key), cl, 0, got_cb, g), 0);
    SPIN(g->done, 5000);
    CU_ASSERT_FATAL(g->done);
}

/* The value of node i's own copy of key ("" when absent, "<2 siblings>"
 * when there are several). */
static inline void local_value(int i, const char *key, char *out, size_t len)
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

static inline int local_is(int i, const char *key, const char *want)
{
    char v[64];
    local_value(i, key, v, sizeof(v));
    return strcmp(v, want) == 0;
}

/* Spin until node i's copy of key is want. */
static inline int wait_local(int i, const char *key, const char *want, int ms)
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
static inline int actor_of(const got *g, const char *v)
{
    for (uint32_t i = 0; i < g->obj.n_sib; i++)
        if (g->obj.sib[i].value.len == strlen(v) && memcmp(g->obj.sib[i].value.ptr, v, strlen(v)) == 0)
            return g->obj.sib[i].actor.node[1] - '0';
    return -1;
}

static inline int has_value(const got *g, const char *v)
{
    return actor_of(g, v) >= 0;
}

/* Preference list (node numbers) of key with N = 3. */
static inline int pref(const char *key, int out[3])
{
    uint32_t idx[3];
    size_t k = dk_ring_preference(ring, key, strlen(key), 3, idx);
    for (size_t i = 0; i < k; i++)
        out[i] = dk_ring_node_at(ring, idx[i])->id[1] - '0';
    return (int)k;
}

static inline int in_list(const int l[3], int n)
{
    return l[0] == n || l[1] == n || l[2] == n;
}

/* A key whose preference list does not hold node `not`; *l gets the list. */
static inline void key_without(int not, char *key, size_t len, int l[3])
{
    for (int i = 0; i < 10000; i++) {
        snprintf(key, len, "key-%d", i);
        pref(key, l);
        if (!in_list(l, not ))
            return;
    }
    CU_FAIL_FATAL("no key found");
}

/* Write val into node i's store only, on top of its own copy (a version
 * that supersedes what the others hold: they become stale replicas). */
static inline void write_newer(int i, const char *key, const char *val)
{
    got cur;
    got_init(&cur);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_local(nodes[i].coord, S(key), got_cb, &cur), 0);
    SPIN(cur.done, 2000);
    CU_ASSERT_FATAL(cur.done);
    tc_store_write(i, key, val, 0, &cur.obj.vv, dk_now_ms());
    got_free(&cur);
}

#endif /* DK_TEST_TC_COORD_H */
