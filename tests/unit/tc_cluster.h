/*
 * tc_cluster.h - the in-process cluster harness that test-coordinator.c,
 * test-coord-read.c and test-antientropy.c share: up to TC_NODES_MAX
 * nodes on one uv loop, each with its own dk_node (mkdtemp data dir,
 * memory engine by default), its own dk_rpc on 127.0.0.1 port 0 and a
 * coordinator the test starts itself (the programs configure theirs
 * differently; tc_coord.h is the coordinator tests' configuration and
 * their synchronous get/put). The test view answers the ring built from
 * all the nodes and the alive flags a test flips ("down" means: the view
 * says so; the node's RPC keeps running unless a test makes it a black
 * hole that holds every request until teardown). SPIN (tc_loop.h) runs
 * the loop until a condition holds; tc_loop_close asserts
 * uv_loop_close() == 0. tc_store_write puts a version into one node's
 * store behind the coordinators' backs (a replica that missed a write, or
 * alone got one); tc_hint_count counts the hints a node holds.
 *
 * Header-only, static state and static inline functions, like
 * test-lsm-util.h: each program is one file whose tests read the nodes
 * directly, and a separate object would need the state made global.
 */
#ifndef DK_TEST_TC_CLUSTER_H
#define DK_TEST_TC_CLUSTER_H
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/coordinator.h"
#include "base/log.h"
#include "node/host.h"
#include "node/object.h"
#include "node/store.h"
#include "tc_loop.h"

#define TC_NODES_MAX 5
#define TC_HELD_MAX 64

typedef struct tnode {
    char id[16], dir[64], addr[32];
    dk_config cfg;
    dk_node node;
    dk_rpc *rpc;
    dk_coord *coord;
    int alive, blackhole, stopped;
    int starting;               /* refuse peers' requests as a node whose coordinator is not up yet */
    int nodigest;               /* serves GET_REPLICA as a node without DK_FRAME_DIGEST */
    int digest_gets, full_gets; /* GET_REPLICA requests received, by kind */
    dk_rpc_req *held[TC_HELD_MAX];
    int n_held;
} tnode;

static uv_loop_t loop;
static uv_timer_t ticker;
static tnode nodes[TC_NODES_MAX];
static int n_nodes;
static dk_ring *ring;

/* A C string as a slice (borrowed: valid while s is). */
static inline dk_slice S(const char *s)
{
    return (dk_slice){(const uint8_t *)s, strlen(s)};
}

/* A client write applied to node i's store only, as if the other replicas
 * had missed it: value (NULL: "") or a tombstone, on top of ctx (NULL: a
 * blind write), stamped now. Fatal when the store refuses it. */
static inline void tc_store_write(int i, const char *key, const char *value, int tombstone, const dk_vv *ctx,
                                  int64_t now)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    dk_store_write w = {
        .key = S(key), .value = S(value ? value : ""), .tombstone = tombstone, .context = ctx};
    CU_ASSERT_EQUAL_FATAL(dk_store_write_local(nodes[i].node.store, &w, now, &raw, &o), 0);
    dk_object_free(&o);
    dk_buf_free(&raw);
}

/* Number of hints stored in node i's hint engine (-1: it cannot be read). */
static inline int tc_hint_count(int i)
{
    dk_engine_ref h = dk_node_hints(&nodes[i].node);
    dk_engine_iter *it = NULL;
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    if (dk_engine_iter_open(&h, &o, &it) != 0)
        return -1;
    int k = 0;
    dk_slice key, val;
    while (dk_engine_iter_next(&h, it, &key, &val) == 0)
        k++;
    dk_engine_iter_close(&h, it);
    return k;
}

/* Loop thread: the ticker only keeps the loop waking up while SPIN polls. */
static inline void tc_tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* The test view's ring: a new reference to the ring of all nodes. */
static inline dk_ring *tc_view_ring(void *arg)
{
    (void)arg;
    dk_ring_ref(ring);
    return ring;
}

/* The test view's peer: its address and the alive flag the test set. */
static inline int tc_view_peer(void *arg, const char *id, char *addr, size_t len, int *alive)
{
    (void)arg;
    for (int i = 0; i < n_nodes; i++) {
        if (strcmp(nodes[i].id, id) == 0) {
            snprintf(addr, len, "%s", nodes[i].addr);
            *alive = nodes[i].alive;
            return 0;
        }
    }
    return DK_ENOTFOUND;
}

/* Loop thread: a request for node arg, held when it is a black hole and
 * refused with DK_ECLOSED while its coordinator is stopped (being
 * restarted by the test, or stopped before the others at teardown while a
 * peer's background replica write still comes in), or with
 * DK_EUNAVAILABLE while the test says it is starting (as
 * dk__cluster_on_rpc answers before the coordinator exists). */
static inline void tc_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    tnode *n = arg;
    if (n->blackhole && n->n_held < TC_HELD_MAX) {
        n->held[n->n_held++] = q; /* never answered until teardown */
        return;
    }
    if (!n->coord || n->starting) {
        dk_buf b = DK_BUF_INIT;
        dk_msg_error e = {.code = n->starting ? DK_EUNAVAILABLE : DK_ECLOSED,
                          .message = {(const uint8_t *)"stopped", 7}};
        dk_msg_error_encode(&b, &e);
        dk_rpc_reply(q, DK_MSG_ERROR, b.data, b.len);
        dk_buf_free(&b);
        return;
    }
    dk_frame_header hh = *h;
    if (h->type == DK_MSG_GET_REPLICA) {
        if (n->nodigest)
            hh.flags &= (uint16_t)~DK_FRAME_DIGEST; /* an older node ignores the flag */
        if (hh.flags & DK_FRAME_DIGEST)
            n->digest_gets++;
        else
            n->full_gets++;
    }
    dk_coord_on_rpc(n->coord, q, &hh, body);
}

/* Initialise the loop and its ticker for count nodes (quiet logs). */
static inline void tc_loop_init(int count)
{
    dk_log_set_level(DK_LOG_WARN);
    CU_ASSERT_FATAL(uv_loop_init(&loop) == 0);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, tc_tick_cb, 5, 5);
    n_nodes = count;
}

/* Node i's identity and configuration: id "n<i>", a fresh data dir made
 * from tmpl ("/tmp/dk-xx-XXXXXX"), the memory engine from
 * $DYNKV_PLUGIN_PATH, no fsync. The caller may change n->cfg before
 * tc_node_start. 0, or -1 when the directory cannot be made. */
static inline int tc_node_init(tnode *n, int i, const char *tmpl)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "n%d", i);
    snprintf(n->dir, sizeof(n->dir), "%s", tmpl);
    if (!mkdtemp(n->dir))
        return -1;
    dk_config_defaults(&n->cfg);
    snprintf(n->cfg.node.id, sizeof(n->cfg.node.id), "n%d", i);
    snprintf(n->cfg.node.data_dir, sizeof(n->cfg.node.data_dir), "%s", n->dir);
    snprintf(n->cfg.storage.engine, sizeof(n->cfg.storage.engine), "memory");
    const char *pd = getenv("DYNKV_PLUGIN_PATH");
    snprintf(n->cfg.storage.plugin_dir, sizeof(n->cfg.storage.plugin_dir), "%s", pd ? pd : "");
    n->cfg.storage.sync = 0;
    return 0;
}

/* Open n's node with n->cfg and start its RPC on a free port of
 * 127.0.0.1 (n->addr); n is then alive. 0, or -1 said on stderr. */
static inline int tc_node_start(tnode *n)
{
    char err[512];
    if (dk_node_open(&n->node, &n->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "node %s: %s\n", n->id, err);
        return -1;
    }
    dk_rpc_conf rc = {
        .listen = "127.0.0.1:0",
        .cluster_name = "test",
        .node_id = n->id,
        .incarnation = 1,
        .connect_timeout_ms = 3000,
        .backoff_max_ms = 300,
        .probe_timeout_ms = 300,
        .on_request = tc_on_rpc,
        .arg = n,
        .key = (const uint8_t *)"test-cluster-rpc-key-32-bytes!!",
    };
    if (dk_rpc_start(&loop, &rc, &n->rpc, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc %s: %s\n", n->id, err);
        return -1;
    }
    snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", dk_rpc_port(n->rpc));
    n->alive = 1;
    return 0;
}

/* The ring of nodes 0..n_nodes-1, weight 1 each. 0 or -1. */
static inline int tc_ring_build(void)
{
    dk_ring_node rn[TC_NODES_MAX];
    memset(rn, 0, sizeof(rn));
    for (int i = 0; i < n_nodes; i++) {
        snprintf(rn[i].id, sizeof(rn[i].id), "n%d", i);
        rn[i].weight = 1;
    }
    return dk_ring_build(rn, (size_t)n_nodes, 0, 1, &ring) != 0 ? -1 : 0;
}

/* Loop thread: a stop callback that sets the node's flag. */
static inline void tc_set_stopped(void *arg)
{
    ((tnode *)arg)->stopped = 1;
}

/* Stop n's coordinator, spinning the loop up to ms for it. */
static inline void tc_coord_stop(tnode *n, int ms)
{
    n->stopped = 0;
    dk_coord_stop(n->coord, tc_set_stopped, n);
    SPIN(n->stopped, ms);
    CU_ASSERT(n->stopped);
    n->coord = NULL;
}

/* Stop n's RPC (the requests a black hole held are dropped with it),
 * close its node and remove its data dir. */
static inline void tc_node_close(tnode *n)
{
    n->stopped = 0;
    dk_rpc_stop(n->rpc, tc_set_stopped, n);
    SPIN(n->stopped, 5000);
    CU_ASSERT(n->stopped);
    for (int k = 0; k < n->n_held; k++)
        dk_rpc_reply(n->held[k], DK_MSG_ACK, NULL, 0); /* dropped: the rpc stopped */
    dk_node_close(&n->node);
    dk_config_free(&n->cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
    CU_ASSERT(system(cmd) == 0);
}

/* Release the ring and the ticker and close the loop (asserted). */
static inline void tc_loop_close(void)
{
    dk_ring_unref(ring);
    ring = NULL;
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT(uv_loop_close(&loop) == 0);
    n_nodes = 0;
}

#endif /* DK_TEST_TC_CLUSTER_H */
