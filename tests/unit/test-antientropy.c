/*
 * test-antientropy.c - anti-entropy (framework/coord/antientropy.h) between
 * real coordinators over real RPC in one process: 3 nodes on one uv loop,
 * each with its own dk_node (memory engine, mkdtemp data dir), dk_rpc on
 * 127.0.0.1 port 0 and coordinator, all on one ring (N = 3: every node
 * replicates every key), built with tc_cluster.h (shared with
 * test-coordinator.c). Scheduled rounds are off (interval 0); each test
 * asks for a repair with dk_ae_repair and spins the loop until it is done.
 *
 * Data is written straight into one node's store (tc_store_write,
 * dk_store_merge), as if the other replicas had missed those writes, and
 * the checks read every node's store directly. Step by step:
 *   - keys only on n0, only on n1, and concurrent versions on both: after
 *     one repair run by n0, all three stores hold the same bytes, the
 *     concurrent versions as two siblings, and the trees agree;
 *   - a leaf that differs at the first look only because its write is in
 *     flight (the copy reaches n1 and n2 during the settle) is not
 *     listed; a key that stays on n0 alone still is, and moves;
 *   - a delete on n0 of a value n1 still has: n1 gets the tombstone;
 *     repaired_before moves from 0 to the exchange's start, and a
 *     tombstone written earlier that arrives only now pulls it back;
 *   - the records survive a restart of the coordinator (catalog), but
 *     not one after a crash;
 *   - a repair with a key prefix moves only keys with that prefix;
 *   - the serving side answers another ring, tree shape or garbage with
 *     DK_EMISMATCH / DK_ECORRUPT;
 *   - the trees maintained by the hook equal a scan of the store after
 *     thousands of writes and merges;
 *   - (LSM engine) a clean coordinator stop saves the trees and the next
 *     start loads them (equal to a scan); a write in between, or a damaged
 *     copy, makes the next start rebuild them from the store;
 *   - measurements (printed, not asserted): the trees' build from 100k
 *     keys; repairs of 20k missing and 80k differing keys, of 100k equal
 *     keys, and of 1000 changed keys among 100k.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/antientropy.h"
#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/host.h"
#include "node/object.h"
#include "node/store.h"
#include "util/vv.h"

#include "tc_cluster.h"

#define NODES 3

static const char *engine = "memory"; /* of the next cluster_start */

static int coord_start(tnode *n)
{
    char err[256];
    dk_coord_conf cc = {
        .loop = &loop,
        .node = &n->node,
        .rpc = n->rpc,
        .view = {.arg = NULL, .ring = tc_view_ring, .peer = tc_view_peer},
    };
    int rc = dk_coord_start(&cc, &n->coord, err, sizeof(err));
    if (rc)
        fprintf(stderr, "coord %s: %s\n", n->id, err);
    return rc;
}

static int all_live(void)
{
    for (int i = 0; i < NODES; i++)
        if (!nodes[i].coord || !nodes[i].coord->ae || !nodes[i].coord->ae->live)
            return 0;
    return 1;
}

static void cluster_start(void)
{
    tc_loop_init(NODES);
    for (int i = 0; i < NODES; i++) {
        tnode *n = &nodes[i];
        CU_ASSERT_EQUAL_FATAL(tc_node_init(n, i, "/tmp/dk-ae-XXXXXX"), 0);
        snprintf(n->cfg.storage.engine, sizeof(n->cfg.storage.engine), "%s", engine);
        n->cfg.cluster.anti_entropy_interval = 0;
        n->cfg.cluster.request_timeout = 200; /* the exchanges' settle */
        CU_ASSERT_EQUAL_FATAL(tc_node_start(n), 0);
    }
    CU_ASSERT_EQUAL_FATAL(tc_ring_build(), 0);
    for (int i = 0; i < NODES; i++)
        CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[i]), 0);
    SPIN(all_live(), 5000);
    CU_ASSERT_FATAL(all_live());
}

static void coord_stop(tnode *n)
{
    tc_coord_stop(n, 10000);
}

static void cluster_stop(void)
{
    for (int i = 0; i < NODES; i++)
        if (nodes[i].coord)
            coord_stop(&nodes[i]);
    for (int i = 0; i < NODES; i++)
        tc_node_close(&nodes[i]);
    tc_loop_close();
}

/* ---- data helpers ------------------------------------------------------------ */

/* Node i's stored bytes of key into out ("" when absent). */
static int raw_of(int i, const char *key, dk_buf *out)
{
    dk_object o;
    dk_object_init(&o);
    int rc = dk_store_get(nodes[i].node.store, S(key), out, &o);
    dk_object_free(&o);
    if (rc)
        dk_buf_reset(out);
    return rc;
}

typedef struct dump_state {
    dk_buf out;
    uint64_t n;
} dump_state;

static int dump_visit(void *arg, dk_slice key, dk_slice raw, const dk_object *obj)
{
    dump_state *d = arg;
    (void)obj;
    char len[16];
    snprintf(len, sizeof(len), "%zu:", key.len);
    dk_buf_append_str(&d->out, len);
    dk_buf_append(&d->out, key.ptr, key.len);
    snprintf(len, sizeof(len), "%zu:", raw.len);
    dk_buf_append_str(&d->out, len);
    dk_buf_append(&d->out, raw.ptr, raw.len);
    d->n++;
    return 0;
}

/* Every key and stored byte of node i, in key order. */
static void dump(int i, dump_state *d)
{
    dk_buf_init(&d->out);
    d->n = 0;
    CU_ASSERT_EQUAL(dk_store_scan(nodes[i].node.store, S(""), S(""), dump_visit, d), 0);
}

static int stores_equal(int a, int b, uint64_t *keys)
{
    dump_state x, y;
    dump(a, &x);
    dump(b, &y);
    int eq = x.out.len == y.out.len && memcmp(x.out.data, y.out.data, x.out.len) == 0;
    if (keys)
        *keys = x.n;
    dk_buf_free(&x.out);
    dk_buf_free(&y.out);
    return eq;
}

static int n_siblings(int i, const char *key)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    int n = dk_store_get(nodes[i].node.store, S(key), &raw, &o) == 0 ? (int)o.n_sib : 0;
    dk_object_free(&o);
    dk_buf_free(&raw);
    return n;
}

/* The JSON of the request id in node i's status. */
static json_t *request_of(int i, uint64_t id)
{
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_ae_status(nodes[i].coord, &b), 0);
    json_t *doc = json_loadb((const char *)b.data, b.len, 0, NULL);
    dk_buf_free(&b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    size_t k;
    json_t *q, *found = NULL;
    json_array_foreach(json_object_get(doc, "requests"), k,
                       q) if ((uint64_t)json_integer_value(json_object_get(q, "id")) == id) found =
        json_incref(q);
    json_decref(doc);
    return found;
}

static int request_finished(int i, uint64_t id)
{
    json_t *q = request_of(i, id);
    const char *st = q ? json_string_value(json_object_get(q, "state")) : "";
    int done = st && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0);
    json_decref(q);
    return done;
}

/* The phase of the exchange node i runs now, if any (1 then). */
static int current_phase(int i, char *out, size_t len)
{
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_ae_status(nodes[i].coord, &b), 0);
    json_t *doc = json_loadb((const char *)b.data, b.len, 0, NULL);
    dk_buf_free(&b);
    const char *ph = json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "round"), "current"), "phase"));
    if (ph)
        snprintf(out, len, "%s", ph);
    json_decref(doc);
    return ph != NULL;
}

/* Ask node i for a repair (prefix may be ""), wait for it; returns the
 * request's JSON (the caller decrefs) or NULL. */
static json_t *repair(int i, const char *prefix, int timeout_ms)
{
    uint64_t id = 0;
    CU_ASSERT_EQUAL_FATAL(dk_ae_repair(nodes[i].coord, S(prefix), &id), 0);
    SPIN(request_finished(i, id), timeout_ms);
    json_t *q = request_of(i, id);
    CU_ASSERT_PTR_NOT_NULL(q);
    return q;
}

static const char *req_state(json_t *q)
{
    const char *s = q ? json_string_value(json_object_get(q, "state")) : NULL;
    return s ? s : "?";
}

/* ---- tests -------------------------------------------------------------------- */

static void test_repair_both_ways(void)
{
    cluster_start();
    int64_t now = dk_now_ms();
    char k[32], v[32];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "only0-%03d", i);
        snprintf(v, sizeof(v), "a%d", i);
        tc_store_write(0, k, v, 0, NULL, now);
        snprintf(k, sizeof(k), "only1-%03d", i);
        tc_store_write(1, k, v, 0, NULL, now);
    }
    for (int i = 0; i < 20; i++) { /* concurrent versions: siblings */
        snprintf(k, sizeof(k), "both-%02d", i);
        tc_store_write(0, k, "from-n0", 0, NULL, now);
        tc_store_write(1, k, "from-n1", 0, NULL, now + 1);
    }
    CU_ASSERT(!stores_equal(0, 1, NULL));
    uint64_t done0 = dk_metrics_get("repair_exchanges_completed_total"),
             received0 = dk_metrics_get("repair_keys_received_total");
    json_t *q = repair(0, "", 10000);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "exchanges")), 2);
    /* n1 sent its 300 + 20 to n0; n0 sent 300 + 20 to n1 and 620 to n2. */
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_received")), 320);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_sent")), 320 + 620);
    json_decref(q);
    uint64_t keys = 0;
    CU_ASSERT(stores_equal(0, 1, &keys));
    CU_ASSERT(stores_equal(0, 2, NULL));
    CU_ASSERT_EQUAL(keys, 620);
    CU_ASSERT_EQUAL(n_siblings(2, "both-07"), 2);
    CU_ASSERT_EQUAL(dk_metrics_get("repair_exchanges_completed_total"), done0 + 2);
    CU_ASSERT_EQUAL(dk_metrics_get("repair_keys_received_total"), received0 + 320);

    /* The trees agree now, so a second repair moves nothing. */
    dk_merkle_view a, b;
    dk_merkle_view_of(&nodes[0].coord->ae->layout->g[0].tree, &a);
    dk_merkle_view_of(&nodes[2].coord->ae->layout->g[0].tree, &b);
    CU_ASSERT_EQUAL(a.node[0], b.node[0]);
    q = repair(1, "", 10000);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_received")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_sent")), 0);
    json_decref(q);
    cluster_stop();
}

/* Node `to`'s store takes node `from`'s exact bytes of key (as a replica
 * write arriving does). */
static void copy_key(int from, int to, const char *key)
{
    dk_buf raw = DK_BUF_INIT;
    int changed = 0;
    CU_ASSERT_EQUAL_FATAL(raw_of(from, key, &raw), 0);
    CU_ASSERT_EQUAL(dk_store_merge(nodes[to].node.store, S(key), dk_buf_slice(&raw), &changed), 0);
    CU_ASSERT_EQUAL(changed, 1);
    dk_buf_free(&raw);
}

/* A leaf that differs only while its write is in flight is not listed:
 * the key reaches n1 and n2 while n0's exchange waits out its settle, and
 * the second look finds the leaf equal (repair_leaves_settled_total; with
 * a listing nothing would count there). The control: a key that stays on
 * n0 only still differs after the settle and is listed and moved. */
static void test_settle_skips_writes_in_flight(void)
{
    cluster_start();
    int64_t now = dk_now_ms();
    tc_store_write(0, "in-flight", "v", 0, NULL, now);
    uint64_t settled0 = dk_metrics_get("repair_leaves_settled_total"),
             sent0 = dk_metrics_get("repair_keys_sent_total");
    uint64_t id = 0;
    char phase[32] = "";
    CU_ASSERT_EQUAL_FATAL(dk_ae_repair(nodes[0].coord, S(""), &id), 0);
    SPIN(current_phase(0, phase, sizeof(phase)) && strcmp(phase, "settling") == 0, 5000);
    CU_ASSERT_STRING_EQUAL_FATAL(phase, "settling");
    copy_key(0, 1, "in-flight"); /* the replica writes land */
    copy_key(0, 2, "in-flight");
    SPIN(request_finished(0, id), 10000);
    json_t *q = request_of(0, id);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_sent")), 0);
    json_decref(q);
    CU_ASSERT(dk_metrics_get("repair_leaves_settled_total") >= settled0 + 1);
    CU_ASSERT_EQUAL(dk_metrics_get("repair_keys_sent_total"), sent0);

    /* The control: a key on n0 alone is still listed and sent to both. */
    tc_store_write(0, "missed", "v", 0, NULL, now);
    settled0 = dk_metrics_get("repair_leaves_settled_total");
    q = repair(0, "", 10000);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_sent")), 2);
    json_decref(q);
    CU_ASSERT_EQUAL(dk_metrics_get("repair_leaves_settled_total"), settled0);
    CU_ASSERT(stores_equal(0, 1, NULL));
    CU_ASSERT(stores_equal(0, 2, NULL));
    cluster_stop();
}

static void test_tombstones_and_rule(void)
{
    cluster_start();
    int64_t t0 = dk_now_ms() - 60000;
    dk_node *n0 = &nodes[0].node;
    CU_ASSERT_EQUAL(atomic_load(&n0->repaired_before_ms), 0);
    for (int i = 0; i < NODES; i++)
        tc_store_write(i, "gone", "old", 0, NULL, t0);
    /* n1 and n2 missed the delete. Make the copies identical first so the
     * delete is causally newer everywhere. */
    json_t *q = repair(0, "", 10000);
    json_decref(q);
    dk_buf before = DK_BUF_INIT, after = DK_BUF_INIT;
    CU_ASSERT_EQUAL(raw_of(0, "gone", &before), 0);
    tc_store_write(0, "gone", NULL, 1, NULL, t0 + 1000);
    int64_t start = dk_now_ms();
    q = repair(0, "", 10000);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    json_decref(q);
    CU_ASSERT_EQUAL(raw_of(1, "gone", &after), 0);
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&after), &o, NULL, 0), 0);
    CU_ASSERT(o.n_sib == 1 && (o.sib[0].flags & DK_SIB_TOMBSTONE));
    dk_object_free(&o);
    CU_ASSERT(stores_equal(0, 2, NULL));

    /* repaired_before is the start of the exchanges with both peers. */
    int64_t rb = atomic_load(&n0->repaired_before_ms);
    CU_ASSERT(rb >= start && rb <= dk_now_ms());

    /* A tombstone written long ago arrives only now (from a third party):
     * the exchanges already counted did not carry it, so the rule falls
     * back to its write time at once. */
    dk_buf raw = DK_BUF_INIT;
    tc_store_write(2, "late", NULL, 1, NULL, t0 + 5000);
    CU_ASSERT_EQUAL(raw_of(2, "late", &raw), 0);
    int changed = 0;
    CU_ASSERT_EQUAL(dk_store_merge(n0->store, S("late"), dk_buf_slice(&raw), &changed), 0);
    CU_ASSERT(changed);
    CU_ASSERT_EQUAL(atomic_load(&n0->repaired_before_ms), t0 + 5000);
    /* It stays there across a publication (a tick) until new exchanges. */
    SPIN(0, 600);
    CU_ASSERT_EQUAL(atomic_load(&n0->repaired_before_ms), t0 + 5000);
    q = repair(0, "", 10000);
    json_decref(q);
    CU_ASSERT(atomic_load(&n0->repaired_before_ms) > t0 + 5000);

    /* The records are in the catalog: a restarted coordinator publishes
     * the same time once its trees are built, not 0. */
    int64_t rb_before = atomic_load(&n0->repaired_before_ms);
    coord_stop(&nodes[0]);
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[0]), 0);
    SPIN(all_live() && atomic_load(&n0->repaired_before_ms) != 0, 5000);
    CU_ASSERT_EQUAL(atomic_load(&n0->repaired_before_ms), rb_before);
    /* After a stop that did not end cleanly (a crash: the flag its last
     * job sets is missing), the saved exchanges no longer count. */
    coord_stop(&nodes[0]);
    dk_catalog *cat = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(nodes[0].dir, &cat, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(dk_catalog_meta_set(cat, "repair_clean_stop", "0"), 0);
    dk_catalog_close(cat);
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[0]), 0);
    SPIN(all_live(), 5000);
    SPIN(0, 300);
    CU_ASSERT_EQUAL(atomic_load(&n0->repaired_before_ms), 0);
    q = repair(0, "", 10000);
    json_decref(q);
    CU_ASSERT(atomic_load(&n0->repaired_before_ms) > rb_before);

    /* With a peer down the round fails and the rule stays behind its
     * start: the last exchange with n2 is older. */
    SPIN(0, 20);
    int64_t round_start = dk_now_ms();
    nodes[2].alive = 0;
    q = repair(0, "", 10000);
    CU_ASSERT_STRING_EQUAL(req_state(q), "failed");
    const char *errs = json_string_value(json_object_get(q, "errors"));
    CU_ASSERT(errs && strstr(errs, "n2: the peer is down"));
    json_decref(q);
    CU_ASSERT(atomic_load(&n0->repaired_before_ms) < round_start);
    nodes[2].alive = 1;
    dk_buf_free(&raw);
    dk_buf_free(&before);
    dk_buf_free(&after);
    cluster_stop();
}

static void test_prefix_repair(void)
{
    cluster_start();
    int64_t now = dk_now_ms();
    tc_store_write(1, "user:1", "u1", 0, NULL, now);
    tc_store_write(1, "user:2", "u2", 0, NULL, now);
    tc_store_write(1, "order:1", "o1", 0, NULL, now);
    json_t *q = repair(0, "user:", 10000);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_received")), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(q, "prefix")), "user:");
    json_decref(q);
    dk_buf raw = DK_BUF_INIT;
    CU_ASSERT_EQUAL(raw_of(0, "user:2", &raw), 0);
    CU_ASSERT_EQUAL(raw_of(0, "order:1", &raw), DK_ENOTFOUND);
    /* A prefix repair does not count for the repair rule. */
    CU_ASSERT_EQUAL(atomic_load(&nodes[0].node.repaired_before_ms), 0);
    dk_buf_free(&raw);
    cluster_stop();
}

typedef struct leaf_scan {
    dk__ae_layout *l;
    dk_merkle *expect;
} leaf_scan;

static int leaf_visit(void *arg, dk_slice key, dk_slice raw, const dk_object *obj)
{
    leaf_scan *ls = arg;
    (void)obj;
    dk_token t = dk_ring_key_token(key.ptr, key.len);
    int g = dk__ae_layout_group_of(ls->l, t);
    if (g >= 0)
        dk_merkle_xor(&ls->expect[g], dk_merkle_leaf_of(t), dk_merkle_item(t, raw));
    return 0;
}

static void test_hook_equals_scan(void)
{
    cluster_start();
    int64_t now = dk_now_ms();
    char k[32], v[32];
    uint64_t x = 88172645463325252ULL;
    dk_buf raw = DK_BUF_INIT;
    for (int i = 0; i < 5000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(k, sizeof(k), "k%llu", (unsigned long long)(x % 700));
        snprintf(v, sizeof(v), "v%d", i);
        int src = (int)(x >> 60) % NODES;
        tc_store_write(src, k, v, (x >> 20) % 4 == 0, NULL, now + i);
        if (src != 0 && raw_of(src, k, &raw) == 0) { /* replication into n0 */
            int changed;
            CU_ASSERT_EQUAL(dk_store_merge(nodes[0].node.store, S(k), dk_buf_slice(&raw), &changed), 0);
        }
    }
    dk__ae_layout *l = nodes[0].coord->ae->layout;
    static dk_merkle expect[4];
    CU_ASSERT_FATAL(l->n_groups >= 1 && l->n_groups <= 4);
    for (size_t g = 0; g < l->n_groups; g++)
        dk_merkle_clear(&expect[g]);
    leaf_scan ls = {l, expect};
    CU_ASSERT_EQUAL(dk_store_scan(nodes[0].node.store, S(""), S(""), leaf_visit, &ls), 0);
    for (size_t g = 0; g < l->n_groups; g++) {
        int same = 1;
        for (uint32_t i = 0; i < DK_MERKLE_LEAVES; i++)
            same &= atomic_load(&l->g[g].tree.leaf[i]) == atomic_load(&expect[g].leaf[i]);
        CU_ASSERT(same);
    }
    dk_buf_free(&raw);
    cluster_stop();
}

/* Node 0's trees equal a scan of its store. */
static int trees_equal_scan(void)
{
    dk__ae_layout *l = nodes[0].coord->ae->layout;
    static dk_merkle expect[4];
    if (!l || l->n_groups < 1 || l->n_groups > 4)
        return 0;
    for (size_t g = 0; g < l->n_groups; g++)
        dk_merkle_clear(&expect[g]);
    leaf_scan ls = {l, expect};
    CU_ASSERT_EQUAL(dk_store_scan(nodes[0].node.store, S(""), S(""), leaf_visit, &ls), 0);
    int same = 1;
    for (size_t g = 0; g < l->n_groups; g++)
        for (uint32_t i = 0; i < DK_MERKLE_LEAVES; i++)
            same &= atomic_load(&l->g[g].tree.leaf[i]) == atomic_load(&expect[g].leaf[i]);
    return same;
}

/* Restart node 0's coordinator; the loads and rebuilds its start did. */
static void restart0(uint64_t *loads, uint64_t *rebuilds)
{
    uint64_t l0 = dk_metrics_get("merkle_loads_total"), r0 = dk_metrics_get("merkle_rebuilds_total");
    coord_stop(&nodes[0]);
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[0]), 0);
    SPIN(all_live(), 5000);
    CU_ASSERT_FATAL(all_live());
    *loads = dk_metrics_get("merkle_loads_total") - l0;
    *rebuilds = dk_metrics_get("merkle_rebuilds_total") - r0;
}

static void test_saved_trees(void)
{
    engine = "lsm";
    cluster_start();
    engine = "memory";
    char path[128], k[32];
    uint64_t loads, rebuilds;
    snprintf(path, sizeof(path), "%s/merkle.trees", nodes[0].dir);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "s%d", i % 1500);
        tc_store_write(0, k, k, i % 7 == 0, NULL, dk_now_ms());
    }
    restart0(&loads, &rebuilds);
    CU_ASSERT(loads == 1 && rebuilds == 0);
    CU_ASSERT(access(path, F_OK) != 0); /* consumed */
    CU_ASSERT(trees_equal_scan());
    tc_store_write(0, "after-load", "x", 0, NULL, dk_now_ms()); /* the hook keeps them up to date */
    CU_ASSERT(trees_equal_scan());
    /* A write after the save (no hook: the coordinator is stopped) makes
     * the copy stale. */
    coord_stop(&nodes[0]);
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    tc_store_write(0, "behind-its-back", "y", 0, NULL, dk_now_ms());
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[0]), 0);
    SPIN(all_live(), 5000);
    CU_ASSERT_EQUAL(nodes[0].coord->ae->s->loads, 0);
    CU_ASSERT_EQUAL(nodes[0].coord->ae->s->rebuilds, 1);
    CU_ASSERT(trees_equal_scan());
    /* A damaged copy is rebuilt, never fatal. */
    coord_stop(&nodes[0]);
    FILE *f = fopen(path, "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[0]), 0);
    SPIN(all_live(), 5000);
    CU_ASSERT(nodes[0].coord->ae->s->loads == 0 && nodes[0].coord->ae->s->rebuilds == 1);
    CU_ASSERT(trees_equal_scan());
    /* And a clean restart after all that loads again. */
    restart0(&loads, &rebuilds);
    CU_ASSERT(loads == 1 && rebuilds == 0);
    CU_ASSERT(trees_equal_scan());
    cluster_stop();
}

static void test_measure(void)
{
    cluster_start();
    int64_t now = dk_now_ms();
    char k[32], v[64];
    enum { BUILD_KEYS = 100000, REPAIR_KEYS = 20000 };
    for (int i = 0; i < BUILD_KEYS; i++) {
        snprintf(k, sizeof(k), "user:%08d", i);
        snprintf(v, sizeof(v), "value of %d, about forty bytes long.....", i);
        tc_store_write(1, k, v, 0, NULL, now);
        if (i >= REPAIR_KEYS) {
            tc_store_write(0, k, v, 0, NULL, now); /* not the same version: a sibling pair to repair */
        }
    }
    /* The build at start: restart n1's coordinator over its 100k keys. */
    coord_stop(&nodes[1]);
    CU_ASSERT_EQUAL_FATAL(coord_start(&nodes[1]), 0);
    SPIN(all_live(), 30000);
    CU_ASSERT_FATAL(all_live());
    const dk__ae_layout *l = nodes[1].coord->ae->layout;
    CU_ASSERT_EQUAL(l->keys, BUILD_KEYS);
    printf("\n  measured: trees built from %llu keys in %llu ms\n", (unsigned long long)l->keys,
           (unsigned long long)l->build_ms);

    /* n0 lacks 20k keys and holds 80k other versions: all of them differ.
     * While it runs, the status page shows where the exchange is. */
    uint64_t t0 = uv_hrtime(), id = 0;
    CU_ASSERT_EQUAL_FATAL(dk_ae_repair(nodes[0].coord, S(""), &id), 0);
    char phase[16] = "";
    SPIN(current_phase(0, phase, sizeof(phase)), 10000);
    CU_ASSERT(strcmp(phase, "trees") == 0 || strcmp(phase, "keys") == 0 || strcmp(phase, "objects") == 0);
    SPIN(request_finished(0, id), 120000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    json_t *q = request_of(0, id);
    CU_ASSERT_STRING_EQUAL(req_state(q), "done");
    printf("  measured: repair of %d missing + %d differing keys with 2 peers: %llu ms, "
           "%lld received, %lld sent\n",
           REPAIR_KEYS, BUILD_KEYS - REPAIR_KEYS, (unsigned long long)ms,
           (long long)json_integer_value(json_object_get(q, "keys_received")),
           (long long)json_integer_value(json_object_get(q, "keys_sent")));
    json_decref(q);
    CU_ASSERT(stores_equal(0, 1, NULL));
    CU_ASSERT(stores_equal(0, 2, NULL));

    /* Trees equal: the roots agree and nothing else is asked. */
    t0 = uv_hrtime();
    q = repair(0, "", 10000);
    printf("  measured: repair of 100000 equal keys with 2 peers: %.1f ms\n",
           (double)(uv_hrtime() - t0) / 1e6);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_received")), 0);
    json_decref(q);
    /* 1000 keys changed on n2 only: their leaves' keys are listed (a scan
     * of each store) and 1000 objects move. */
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "user:%08d", i * 97);
        tc_store_write(2, k, "changed", 0, NULL, now + 1);
    }
    t0 = uv_hrtime();
    q = repair(0, "", 60000);
    printf("  measured: repair of 1000 changed keys among 100000 with 2 peers: %.1f ms, %lld received, "
           "%lld sent\n",
           (double)(uv_hrtime() - t0) / 1e6,
           (long long)json_integer_value(json_object_get(q, "keys_received")),
           (long long)json_integer_value(json_object_get(q, "keys_sent")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(q, "keys_received")), 1000);
    json_decref(q);
    CU_ASSERT(stores_equal(0, 2, NULL));
    cluster_stop();
}

/* ---- the serving side refuses what it cannot answer -------------------------- */

typedef struct answer {
    int done, status;
    uint8_t type;
    dk_buf body;
} answer;

static void answer_cb(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    answer *a = arg;
    a->done = 1;
    a->status = status;
    if (status == 0) {
        a->type = h->type;
        dk_buf_append(&a->body, body.ptr, body.len);
    }
}

/* Send a request from n0's transport to n1 and wait for the answer. */
static void ask_n1(uint8_t type, const dk_buf *body, answer *a)
{
    memset(a, 0, sizeof(*a));
    CU_ASSERT_EQUAL_FATAL(
        dk_rpc_call(nodes[0].rpc, "n1", nodes[1].addr, type, body->data, body->len, 3000, answer_cb, a), 0);
    SPIN(a->done, 5000);
    CU_ASSERT_FATAL(a->done && a->status == 0);
}

static void test_serve_refusals(void)
{
    cluster_start();
    const dk__ae_group *g = &nodes[1].coord->ae->layout->g[0];
    uint8_t bm[DK_MERKLE_BITMAP_MAX] = {1};
    dk_buf b = DK_BUF_INIT;
    answer a;
    dk_msg_tree t;

    /* The right group: the root's hash. */
    dk_msg_tree_req tq = {.group = S(g->name), .sig = g->sig, .level = 0, .nodes = {bm, 1}};
    CU_ASSERT_EQUAL_FATAL(dk_msg_tree_req_encode(&b, &tq), 0);
    ask_n1(DK_MSG_TREE_REQ, &b, &a);
    CU_ASSERT_EQUAL(a.type, DK_MSG_TREE);
    CU_ASSERT(dk_msg_tree_decode(dk_buf_slice(&a.body), &t) == 0 && t.status == 0 && t.hashes.len == 8);
    dk_buf_free(&a.body);
    /* Another ring (signature), unknown members, another tree shape. */
    const dk_msg_tree_req bad[3] = {
        {.group = S(g->name), .sig = g->sig ^ 1, .level = 0, .nodes = {bm, 1}},
        {.group = S("n0,n1,n9"), .sig = g->sig, .level = 0, .nodes = {bm, 1}},
        {.group = S(g->name), .sig = g->sig, .level = 3, .nodes = {bm, 8}},
    };
    for (int i = 0; i < 3; i++) {
        dk_buf_reset(&b);
        CU_ASSERT_EQUAL_FATAL(dk_msg_tree_req_encode(&b, &bad[i]), 0);
        ask_n1(DK_MSG_TREE_REQ, &b, &a);
        CU_ASSERT(dk_msg_tree_decode(dk_buf_slice(&a.body), &t) == 0 && t.status == DK_EMISMATCH);
        dk_buf_free(&a.body);
    }
    /* A body that does not decode. */
    dk_buf_reset(&b);
    dk_buf_append_str(&b, "garbage");
    ask_n1(DK_MSG_KEYS_REQ, &b, &a);
    dk_msg_keys k;
    CU_ASSERT(a.type == DK_MSG_KEYS && dk_msg_keys_decode(dk_buf_slice(&a.body), &k) == 0 &&
              k.status == DK_ECORRUPT);
    dk_buf_free(&a.body);
    /* A listing with a leaf bitmap of another size. */
    dk_buf_reset(&b);
    dk_msg_keys_req lq = {
        .op = DK_KEYS_LIST, .group = S(g->name), .sig = g->sig, .leaves = {bm, 100}, .max_bytes = 1000};
    CU_ASSERT_EQUAL_FATAL(dk_msg_keys_req_encode(&b, &lq), 0);
    ask_n1(DK_MSG_KEYS_REQ, &b, &a);
    CU_ASSERT(dk_msg_keys_decode(dk_buf_slice(&a.body), &k) == 0 && k.status == DK_EMISMATCH);
    dk_buf_free(&a.body);
    dk_buf_free(&b);
    cluster_stop();
}

static CU_TestInfo ae_tests[] = {
    {"a repair moves missing and differing keys both ways", test_repair_both_ways},
    {"a leaf differing only while its write is in flight is not listed", test_settle_skips_writes_in_flight},
    {"tombstones travel; repaired_before and late arrivals", test_tombstones_and_rule},
    {"a prefix repair moves only those keys", test_prefix_repair},
    {"the hook's trees equal a scan of the store", test_hook_equals_scan},
    {"saved trees: loaded when fresh, rebuilt when stale or damaged", test_saved_trees},
    {"the serving side refuses another ring, shape or garbage", test_serve_refusals},
    {"measurements: build of 100k keys, repair of 20k", test_measure},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "antientropy", .pTests = ae_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
