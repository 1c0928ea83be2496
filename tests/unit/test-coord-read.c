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
 * metrics).
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
     * own copy first, finds the next one differs, asks the third and
     * repairs both. */
    write_newer(0, "rf", "new");
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

static CU_TestInfo read_tests[] = {
    {"read repair fixes stale replicas", test_read_repair},
    {"reads ask R replicas first, all only when they differ or sampled", test_read_r_first},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "coordinator reads", .pTests = read_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
