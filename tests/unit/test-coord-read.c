/*
 * test-coord-read.c - how the quorum coordinator (framework/coord/
 * coordinator.h) reads: R replicas first and N only when their answers
 * differ, X-Consistency: all asks N, read_repair_percent samples reads to
 * every replica, and a read that finds stale replicas repairs them.
 * Real RPC over 127.0.0.1 and real local stores (memory engine), in one
 * process, with the harness of tc_coord.h (shared with
 * test-coordinator.c, which holds the writes, hints, CAS and scans). A
 * stale replica is made by writing a newer version straight into one
 * node's store; the number of replica reads a read made is read from
 * replica_reads_total (every node counts its own into this one process's
 * metrics). A preference list handed in by the caller (the API's) is
 * planned with only when it fits the ring and the key.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "base/metrics.h"

#include "tc_coord.h"

static void test_read_repair(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 3000, 1) == 0);
    got g;
    put(0, "rr", "old", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    /* n0 alone gets a newer version, written straight into its store. */
    write_newer(0, "rr", "new");
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
     * own copy first, finds the next one's digest differs, reads both
     * others in full (4 replica reads: own, digest, two full) and
     * repairs both (test-coord-digest.c has the digest reads). */
    write_newer(0, "rf", "new");
    uint64_t repairs = dk_metrics_get("read_repairs_total"),
             widened = dk_metrics_get("coord_reads_widened_total");
    CU_ASSERT_EQUAL(reads_for(0, "rf", DK_CL_QUORUM, "new"), 4);
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

/* A key's preference list computed by the caller (the API, for
 * X-Coordinator) is what the coordinator plans with when it was made from
 * the same placement for the same key: shown with lists that are not the
 * ring's, so only a plan taken from them reaches the nodes they name. A
 * list of another placement (fingerprint) or another key is not used. */
static void test_prefs_reused(void)
{
    /* request_timeout 10 s: the first reads make the nodes' first RPC
     * connections, which a loaded machine under the sanitizers took longer
     * than 2 s to finish (3 failures in 6 runs at load 20, helper getcpu5);
     * nothing here waits for a timeout. */
    CU_ASSERT_FATAL(cluster_start(5, 10000, 1) == 0);
    repair_percent(0);
    char key[32];
    int l[3];
    key_without(4, key, sizeof(key), l); /* n4 is not one of key's replicas */
    int other = -1;                      /* the fifth node, not in the list either */
    for (int i = 0; i < 4; i++)
        if (!in_list(l, i))
            other = i;
    CU_ASSERT_FATAL(other >= 0);
    dk_coord_prefs real, odd;
    dk_coord_prefs_make(ring, 3, S(key), &real);
    CU_ASSERT_EQUAL_FATAL(real.n, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(dk_ring_node_at(ring, real.idx[i])->id[1] - '0', l[i]);
    odd = real;
    odd.idx[0] = 4;
    odd.idx[1] = (uint32_t)other;
    /* A value only n4 holds: found through the odd list at one (n4 is
     * its first replica; at all, the read repair that follows would race
     * the next read to l[2]), not through the ring's list. */
    tc_store_write(4, key, "stray", 0, NULL, dk_now_ms());
    got g;
    got_init(&g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_prefs(nodes[l[0]].coord, S(key), DK_CL_ONE, 0, &odd, got_cb, &g), 0);
    SPIN(g.done, 15000);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(has_value(&g, "stray"));
    got_free(&g);
    got_init(&g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_prefs(nodes[l[0]].coord, S(key), DK_CL_ALL, 0, &real, got_cb, &g), 0);
    SPIN(g.done, 15000);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    /* The same odd list said to come from another placement, or made for
     * another key: the coordinator walks its own ring. */
    dk_coord_prefs stale = odd;
    stale.fingerprint ^= 1;
    got_init(&g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_prefs(nodes[l[0]].coord, S(key), DK_CL_ALL, 0, &stale, got_cb, &g), 0);
    SPIN(g.done, 15000);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    got_init(&g);
    CU_ASSERT_EQUAL_FATAL(
        dk_coord_get_prefs(nodes[l[0]].coord, S("another key"), DK_CL_ALL, 0, &odd, got_cb, &g), 0);
    SPIN(g.done, 15000);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    /* A write planned with such a list (for a key nobody holds yet)
     * lands on the nodes it names: n4 and the other outsider, and the
     * list's last replica; not on the ring's first two. */
    char key2[32];
    int l2[3];
    for (int i = 0;; i++) {
        snprintf(key2, sizeof(key2), "w-%d", i);
        pref(key2, l2);
        if (!in_list(l2, 4) && in_list(l2, other) == 0)
            break;
        CU_ASSERT_FATAL(i < 10000);
    }
    dk_coord_prefs_make(ring, 3, S(key2), &odd);
    odd.idx[0] = 4;
    odd.idx[1] = (uint32_t)other;
    got_init(&g);
    dk_coord_write w = {.key = S(key2), .value = S("placed"), .consistency = DK_CL_ALL, .prefs = &odd};
    CU_ASSERT_EQUAL_FATAL(dk_coord_put(nodes[4].coord, &w, got_cb, &g), 0);
    SPIN(g.done, 15000);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    CU_ASSERT(wait_local(4, key2, "placed", 2000));
    CU_ASSERT(wait_local(other, key2, "placed", 2000));
    CU_ASSERT(wait_local(l2[2], key2, "placed", 2000));
    CU_ASSERT(local_is(l2[0], key2, "") && local_is(l2[1], key2, ""));
    cluster_stop();
}

/* Finished reads are reused (coord_read.c's pool): reads of a present,
 * an absent and another present key in turn through one coordinator,
 * each answering its own key only, also after a widened read. */
static void test_reused_reads(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 1000, 1) == 0);
    repair_percent(0);
    got g;
    put(0, "pa", "va", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    put(0, "pb", "vb", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    for (int round = 0; round < 3; round++) {
        get(1, "pa", round == 1 ? DK_CL_ALL : DK_CL_QUORUM, &g);
        CU_ASSERT_EQUAL(g.status, 0);
        CU_ASSERT(has_value(&g, "va") && !has_value(&g, "vb"));
        got_free(&g);
        get(1, "p-missing", DK_CL_QUORUM, &g);
        CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
        CU_ASSERT_EQUAL(g.obj.n_sib, 0);
        got_free(&g);
        get(1, "pb", DK_CL_ONE, &g);
        CU_ASSERT_EQUAL(g.status, 0);
        CU_ASSERT(has_value(&g, "vb") && !has_value(&g, "va"));
        got_free(&g);
    }
    cluster_stop();
}

static CU_TestInfo read_tests[] = {
    {"read repair fixes stale replicas", test_read_repair},
    {"reads ask R replicas first, all only when they differ or sampled", test_read_r_first},
    {"a preference list computed by the caller is reused for its placement and key", test_prefs_reused},
    {"reused read ops answer their own key only", test_reused_reads},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "coordinator reads", .pTests = read_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
