/*
 * test-coord-digest.c - digest reads of the quorum coordinator
 * (coord_read.c): a quorum read through a replica reads its own copy and
 * asks the other replica only for a digest (GET_REPLICA with
 * DK_FRAME_DIGEST); equal digests answer from the own copy with no full
 * GET_REPLICA sent anywhere; any difference (another version, a copy
 * missing on either side, a damaged copy) falls back to full reads of
 * every replica and repairs the stale ones; a replica that does not know
 * the flag answers with the whole copy, and the read is still right.
 * The replica side is shown from outside too: a digest request is
 * answered with the flag and the XXH3 of the copy's encoding, not the
 * copy. Real RPC and memory-engine stores in one process (tc_coord.h);
 * the harness counts the GET_REPLICA requests each node received, by
 * kind (tnode.digest_gets, full_gets).
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "base/metrics.h"

#include "tc_coord.h"

static void no_repair_sampling(void)
{
    for (int i = 0; i < n_nodes; i++)
        nodes[i].cfg.cluster.read_repair_percent = 0;
}

static int gets_of(int digest)
{
    int k = 0;
    for (int i = 0; i < n_nodes; i++)
        k += digest ? nodes[i].digest_gets : nodes[i].full_gets;
    return k;
}

/* What one quorum read through via did: digest and full GET_REPLICA
 * requests received, digest mismatches counted, and its answer. */
typedef struct read_count {
    int digests, fulls;
    uint64_t mismatches, digest_reads;
} read_count;

static void quorum_read(int via, const char *key, got *g, read_count *rc)
{
    int d0 = gets_of(1), f0 = gets_of(0);
    uint64_t m0 = dk_metrics_get("coord_digest_mismatches_total"),
             r0 = dk_metrics_get("coord_digest_reads_total");
    get(via, key, DK_CL_QUORUM, g);
    SPIN(0, 50); /* let a widened read's last asks land */
    rc->digests = gets_of(1) - d0;
    rc->fulls = gets_of(0) - f0;
    rc->mismatches = dk_metrics_get("coord_digest_mismatches_total") - m0;
    rc->digest_reads = dk_metrics_get("coord_digest_reads_total") - r0;
}

/* Node i's own copy's encoding into raw (empty when absent). */
static void local_raw(int i, const char *key, dk_buf *raw)
{
    got g;
    got_init(&g);
    CU_ASSERT_EQUAL_FATAL(dk_coord_get_local(nodes[i].coord, S(key), got_cb, &g), 0);
    SPIN(g.done, 5000);
    dk_buf_reset(raw);
    if (g.status == 0)
        dk_buf_append(raw, g.raw.data, g.raw.len);
    got_free(&g);
}

/* Equal digests: every quorum read through every node asks one digest,
 * no full copy, and answers the value; the metric counts each. */
static void test_digest_equal(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 2000, 1) == 0);
    no_repair_sampling();
    got g;
    put(0, "dk", "v1", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    for (int round = 0; round < 2; round++)
        for (int via = 0; via < 3; via++) {
            read_count c;
            quorum_read(via, "dk", &g, &c);
            CU_ASSERT_EQUAL(g.status, 0);
            CU_ASSERT_EQUAL(g.obj.n_sib, 1);
            CU_ASSERT(has_value(&g, "v1"));
            CU_ASSERT_EQUAL(g.acks, 2);
            got_free(&g);
            CU_ASSERT_EQUAL(c.digests, 1);
            CU_ASSERT_EQUAL(c.fulls, 0);
            CU_ASSERT_EQUAL(c.digest_reads, 1);
            CU_ASSERT_EQUAL(c.mismatches, 0);
        }
    /* Absent everywhere: the digests agree on "missing". */
    read_count c;
    quorum_read(1, "nowhere", &g, &c);
    CU_ASSERT_EQUAL(g.status, DK_ENOTFOUND);
    got_free(&g);
    CU_ASSERT_EQUAL(c.digests, 1);
    CU_ASSERT_EQUAL(c.fulls, 0);
    CU_ASSERT_EQUAL(c.mismatches, 0);
    /* X-Consistency: all and one read as before: no digest. */
    int d0 = gets_of(1);
    get(0, "dk", DK_CL_ALL, &g);
    CU_ASSERT(has_value(&g, "v1"));
    got_free(&g);
    get(0, "dk", DK_CL_ONE, &g);
    CU_ASSERT(has_value(&g, "v1"));
    got_free(&g);
    CU_ASSERT_EQUAL(gets_of(1), d0);
    cluster_stop();
}

typedef struct answer {
    int done, status;
    dk_frame_header h;
    dk_buf body;
} answer;

static void answer_cb(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    answer *a = arg;
    a->done = 1;
    a->status = status;
    if (status == 0) {
        a->h = *h;
        dk_buf_append(&a->body, body.ptr, body.len);
    }
}

/* GET_REPLICA with DK_FRAME_DIGEST straight to n1 (from n0's RPC). */
static void ask_digest(const char *key, answer *a)
{
    memset(a, 0, sizeof(*a));
    dk_buf f = DK_BUF_INIT;
    dk_msg_get_replica m = {.key = S(key)};
    CU_ASSERT_EQUAL_FATAL(dk_rpc_frame_start(&f, 64), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_get_replica_encode(&f, &m), 0);
    CU_ASSERT_EQUAL_FATAL(dk_rpc_call_flags(nodes[0].rpc, nodes[1].id, nodes[1].addr, DK_MSG_GET_REPLICA,
                                            DK_FRAME_DIGEST, &f, 2000, answer_cb, a),
                          0);
    SPIN(a->done, 5000);
    CU_ASSERT_FATAL(a->done);
    CU_ASSERT_EQUAL_FATAL(a->status, 0);
}

/* The replica side: a digest request is answered with REPLICA_VALUE and
 * the flag, the body the copy's XXH3 (8 bytes after the status), never
 * the copy; an absent key with DK_ENOTFOUND. */
static void test_replica_answers_digest(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 2000, 1) == 0);
    got g;
    put(0, "rd", "a value that a digest stands for", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    dk_buf raw = DK_BUF_INIT;
    local_raw(1, "rd", &raw);
    CU_ASSERT_FATAL(raw.len > 0);
    answer a;
    ask_digest("rd", &a);
    CU_ASSERT_EQUAL(a.h.type, DK_MSG_REPLICA_VALUE);
    CU_ASSERT(a.h.flags & DK_FRAME_DIGEST);
    CU_ASSERT(a.body.len < 16);
    dk_msg_replica_digest d;
    CU_ASSERT_EQUAL(dk_msg_replica_digest_decode(dk_buf_slice(&a.body), &d), 0);
    CU_ASSERT_EQUAL(d.status, 0);
    CU_ASSERT(d.digest == XXH3_64bits(raw.data, raw.len));
    dk_buf_free(&a.body);
    ask_digest("absent", &a);
    CU_ASSERT(a.h.flags & DK_FRAME_DIGEST);
    CU_ASSERT_EQUAL(dk_msg_replica_digest_decode(dk_buf_slice(&a.body), &d), 0);
    CU_ASSERT_EQUAL(d.status, DK_ENOTFOUND);
    dk_buf_free(&a.body);
    /* A node without the flag answers the same request in full. */
    nodes[1].nodigest = 1;
    ask_digest("rd", &a);
    CU_ASSERT_FALSE(a.h.flags & DK_FRAME_DIGEST);
    dk_msg_replica_value v;
    CU_ASSERT_EQUAL(dk_msg_replica_value_decode(dk_buf_slice(&a.body), &v), 0);
    CU_ASSERT(v.has_object && v.object.len == raw.len && memcmp(v.object.ptr, raw.data, raw.len) == 0);
    dk_buf_free(&a.body);
    nodes[1].nodigest = 0;
    dk_buf_free(&raw);
    cluster_stop();
}

/* Digests that differ: the own copy is newer (write_newer), so the
 * digest read's replica is stale: full reads of both others, the newer
 * version answered, both repaired; the next read agrees again. */
static void test_digest_differs(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 2000, 1) == 0);
    no_repair_sampling();
    got g;
    put(0, "dd", "old", DK_CL_ALL, 0, &g);
    got_free(&g);
    write_newer(0, "dd", "new");
    uint64_t repairs = dk_metrics_get("read_repairs_total"),
             widened = dk_metrics_get("coord_reads_widened_total");
    read_count c;
    quorum_read(0, "dd", &g, &c);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    CU_ASSERT(has_value(&g, "new"));
    got_free(&g);
    CU_ASSERT_EQUAL(c.digests, 1);
    CU_ASSERT_EQUAL(c.fulls, 2);
    CU_ASSERT_EQUAL(c.mismatches, 1);
    CU_ASSERT_EQUAL(dk_metrics_get("coord_reads_widened_total"), widened + 1);
    CU_ASSERT(wait_local(1, "dd", "new", 2000));
    CU_ASSERT(wait_local(2, "dd", "new", 2000));
    CU_ASSERT_EQUAL(dk_metrics_get("read_repairs_total"), repairs + 2);
    quorum_read(1, "dd", &g, &c);
    CU_ASSERT(has_value(&g, "new"));
    got_free(&g);
    CU_ASSERT_EQUAL(c.fulls, 0);
    CU_ASSERT_EQUAL(c.mismatches, 0);
    cluster_stop();
}

/* The first replica of key's list, and the one a read through it asks
 * first after itself (plan order). */
static void first_two(const char *key, int *a, int *b)
{
    int l[3];
    CU_ASSERT_EQUAL_FATAL(pref(key, l), 3);
    *a = l[0];
    *b = l[1];
}

/* Missing on one side, either side, and damaged on one side: each falls
 * back to full reads and ends with every replica holding the value. */
static void test_digest_missing_damaged(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 2000, 1) == 0);
    no_repair_sampling();
    int a, b;
    got g;
    read_count c;
    /* Only a holds "m1"; a read through b (missing) asks a's digest. */
    first_two("m1", &a, &b);
    tc_store_write(a, "m1", "only-a", 0, NULL, dk_now_ms());
    quorum_read(b, "m1", &g, &c);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(has_value(&g, "only-a"));
    got_free(&g);
    CU_ASSERT_EQUAL(c.digests, 1);
    CU_ASSERT_EQUAL(c.mismatches, 1);
    CU_ASSERT_EQUAL(c.fulls, 2);
    for (int i = 0; i < 3; i++)
        CU_ASSERT(wait_local(i, "m1", "only-a", 2000));
    /* Only a holds "m2"; a read through a asks b, which misses it. */
    first_two("m2", &a, &b);
    tc_store_write(a, "m2", "only-a", 0, NULL, dk_now_ms());
    quorum_read(a, "m2", &g, &c);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(has_value(&g, "only-a"));
    got_free(&g);
    CU_ASSERT_EQUAL(c.mismatches, 1);
    for (int i = 0; i < 3; i++)
        CU_ASSERT(wait_local(i, "m2", "only-a", 2000));
    /* b's copy of "m3" damaged (one bit of the value flipped in its
     * engine): a read through a gets no digest from b, reads in full,
     * answers from the good copies and repairs b. */
    first_two("m3", &a, &b);
    put(a, "m3", "a value to damage", DK_CL_ALL, 0, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    got_free(&g);
    dk_buf raw = DK_BUF_INIT;
    local_raw(b, "m3", &raw);
    CU_ASSERT_FATAL(raw.len > 4);
    raw.data[raw.len - 2] ^= 0x20; /* in the value */
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = S("m3"), .value = dk_buf_slice(&raw)};
    dk_batch bt = {&op, 1};
    CU_ASSERT_EQUAL_FATAL(nodes[b].node.engine_ops->write(nodes[b].node.engine, &bt, 0), 0);
    dk_buf_free(&raw);
    uint64_t damaged = dk_metrics_get("coord_damaged_copies_total");
    quorum_read(a, "m3", &g, &c);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(has_value(&g, "a value to damage"));
    got_free(&g);
    CU_ASSERT_EQUAL(c.mismatches, 1);
    CU_ASSERT(dk_metrics_get("coord_damaged_copies_total") > damaged);
    CU_ASSERT(wait_local(b, "m3", "a value to damage", 2000));
    cluster_stop();
}

/* Replicas that do not know DK_FRAME_DIGEST answer digest reads with the
 * whole copy: the read compares it byte for byte and is right, equal or
 * not (the stale one is repaired). */
static void test_old_replicas(void)
{
    CU_ASSERT_FATAL(cluster_start(3, 2000, 1) == 0);
    no_repair_sampling();
    for (int i = 0; i < 3; i++)
        nodes[i].nodigest = 1;
    got g;
    put(0, "od", "old", DK_CL_ALL, 0, &g);
    got_free(&g);
    read_count c;
    for (int via = 0; via < 3; via++) {
        quorum_read(via, "od", &g, &c);
        CU_ASSERT_EQUAL(g.status, 0);
        CU_ASSERT(has_value(&g, "old"));
        got_free(&g);
        CU_ASSERT_EQUAL(c.digest_reads, 1); /* asked for a digest... */
        CU_ASSERT_EQUAL(c.fulls, 1);        /* ...answered in full */
        CU_ASSERT_EQUAL(c.mismatches, 0);
    }
    write_newer(0, "od", "new");
    quorum_read(0, "od", &g, &c);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.obj.n_sib, 1);
    CU_ASSERT(has_value(&g, "new"));
    got_free(&g);
    CU_ASSERT(wait_local(1, "od", "new", 2000));
    CU_ASSERT(wait_local(2, "od", "new", 2000));
    /* Mixed: one replica with digests, one without. */
    nodes[1].nodigest = 0;
    for (int via = 0; via < 3; via++) {
        quorum_read(via, "od", &g, &c);
        CU_ASSERT_EQUAL(g.status, 0);
        CU_ASSERT(has_value(&g, "new"));
        got_free(&g);
        CU_ASSERT_EQUAL(c.mismatches, 0);
    }
    cluster_stop();
}

static CU_TestInfo digest_tests[] = {
    {"equal digests answer from the own copy, no full copy read", test_digest_equal},
    {"a replica answers a digest request with the digest only", test_replica_answers_digest},
    {"digests that differ fall back to full reads and repair", test_digest_differs},
    {"missing or damaged on one side falls back and repairs", test_digest_missing_damaged},
    {"replicas without digests answer in full and reads stay right", test_old_replicas},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "coordinator digest reads", .pTests = digest_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
