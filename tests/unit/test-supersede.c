/*
 * test-supersede.c - the blind-apply rule (framework/node/supersede.c) and
 * the merge that uses it (dk_resolve_merge), with the real vclock, lww and
 * crdt plugins loaded through the plugin host as a node loads them.
 *
 * The main test plays random histories on three replicas of one key:
 * writes through each replica (with the copy's context or blind, with
 * skewed clocks) and copies sent from one replica to another. At every
 * meeting of two copies it checks that dk_resolve_merge returns, byte for
 * byte, what the resolver's own merge returns, and that a copy judged to
 * supersede the stored one is exactly that merge; both answers of the rule
 * must occur, so the test cannot pass by never deciding. The rule judged
 * from prefixes of the stored copy (dk_object_supersedes_head) may say 0
 * where the whole says 1, never the other way round. The other tests
 * name the decisions one by one: a write over its context supersedes, two
 * blind writes are concurrent (siblings stay siblings), an older copy and
 * a skewed clock are not blind-applied, a tombstone that dominates
 * supersedes, a CRDT copy that does not dominate is joined.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/metrics.h"
#include "node/supersede.h"

#include "tc_resolve.h"

static dk_resolvers rs_vclock, rs_lww; /* plain by vclock or lww; crdt in both */

static int suite_init(void)
{
    return tr_host_open() || tr_resolvers_open(&rs_vclock, "vclock") || tr_resolvers_open(&rs_lww, "lww") ? -1
                                                                                                          : 0;
}

static int suite_clean(void)
{
    tr_resolvers_close(&rs_vclock);
    tr_resolvers_close(&rs_lww);
    tr_host_close();
    return 0;
}

static int head_update_yes, head_update_whole; /* strict prefixes: built from them, or not */

/* The write judged from prefixes of the stored copy before
 * (dk_resolve_update_head): where it builds from a prefix, the very bytes
 * the whole object gave (after, with rc); where it says 1, the caller
 * would use the whole object; any other answer is the whole object's. */
static void judge_head_updates(const dk_resolvers *rs, const dk_buf *before, int type, const char *id,
                               int64_t now, int over, int tombstone, dk_slice value, int rc,
                               const dk_buf *after)
{
    for (size_t cut = DK_OBJECT_HEADER_SIZE;; cut += 1 + before->len / 7) {
        if (cut > before->len)
            cut = before->len;
        dk_slice head = {before->data, cut};
        dk_object c;
        dk_object_init(&c);
        if (dk_object_decode_head(head, &c) == 0) {
            dk_write w = {.context = over || tombstone ? &c.vv : NULL,
                          .now_ms = now,
                          .flags = tombstone ? DK_SIB_TOMBSTONE : 0,
                          .value = value};
            CU_ASSERT_FATAL(dk_actor_set(&w.actor, id, 1) == 0);
            dk_buf out = DK_BUF_INIT;
            int hr = dk_resolve_update_head(rs, type, head, &c, &w, &out);
            if (hr == 0) {
                CU_ASSERT(rc == 0 && out.len == after->len && memcmp(out.data, after->data, out.len) == 0);
            } else if (hr != 1) {
                CU_ASSERT_EQUAL(hr, rc);
            }
            if (cut < before->len) {
                head_update_yes += hr == 0;
                head_update_whole += hr == 1;
            }
            dk_buf_free(&out);
        }
        dk_object_free(&c);
        if (cut == before->len)
            break;
    }
}

/* A write through actor node (n1, n2, ...) at time now over *raw
 * (replaced): with the copy's context when ctx, else blind; a counter
 * increment by n for a CRDT, the value "v<n>" (or a tombstone)
 * otherwise. */
static int write(const dk_resolvers *rs, dk_buf *raw, int type, int node, int64_t now, int ctx, int tombstone,
                 int n)
{
    char val[32], id[8];
    snprintf(val, sizeof(val), "v%d", n);
    snprintf(id, sizeof(id), "n%d", node);
    dk_buf op = DK_BUF_INIT;
    int over = ctx || tombstone;
    dk_slice value = tombstone ? (dk_slice){NULL, 0} : (dk_slice){(const uint8_t *)val, strlen(val)};
    if (type == DK_OBJECT_CRDT) {
        dk_crdt_op o = {.type = DK_CRDT_COUNTER, .delta = n};
        CU_ASSERT_EQUAL_FATAL(dk_crdt_op_encode(&o, &op), 0);
        value = dk_buf_slice(&op);
        tombstone = 0;
    }
    dk_buf before = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&before, raw->data, raw->len), 0);
    int rc = tr_write(rs, raw, type, id, now, over, tombstone, value);
    if (before.len)
        judge_head_updates(rs, &before, type, id, now, over, tombstone, value, rc, raw);
    dk_buf_free(&before);
    dk_buf_free(&op);
    return rc;
}

/* dk_object_supersedes(cur, in) on two encodings. */
static int sup(const dk_buf *cur, const dk_buf *in)
{
    dk_object c, i;
    dk_object_init(&c);
    dk_object_init(&i);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(cur), &c, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(in), &i, NULL, 0), 0);
    int r = dk_object_supersedes(dk_buf_slice(cur), &c, dk_buf_slice(in), &i);
    dk_object_free(&c);
    dk_object_free(&i);
    return r;
}

static int head_yes; /* strict prefixes of cur judged to be superseded */

/* The rule judged from prefixes of cur (what an engine lends for
 * DK_GET_HEAD): never 1 where the whole object says 0, and from the
 * whole object the same answer. */
static void judge_heads(const dk_buf *cur, const dk_buf *in, const dk_object *i, int verdict)
{
    for (size_t cut = DK_OBJECT_HEADER_SIZE;; cut += 1 + cur->len / 9) {
        if (cut > cur->len)
            cut = cur->len;
        dk_slice head = {cur->data, cut};
        dk_object c;
        dk_object_init(&c);
        int v =
            dk_object_decode_head(head, &c) == 0 && dk_object_supersedes_head(head, &c, dk_buf_slice(in), i);
        CU_ASSERT(v <= verdict);
        if (cut == cur->len)
            CU_ASSERT_EQUAL(v, verdict);
        head_yes += v && cut < cur->len;
        dk_object_free(&c);
        if (cut == cur->len)
            break;
    }
}

/* Bring in into *cur as a replica does, and check it against the
 * resolver's own merge. Returns what the rule said. */
static int meet(const dk_resolvers *rs, dk_buf *cur, const dk_buf *in)
{
    if (!cur->len) {
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(cur, in->data, in->len), 0);
        return -1;
    }
    dk_object c, i, truth;
    dk_object_init(&c);
    dk_object_init(&i);
    dk_object_init(&truth);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(cur), &c, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(in), &i, NULL, 0), 0);
    dk_object_header h;
    CU_ASSERT_EQUAL_FATAL(dk_object_peek(dk_buf_slice(cur), &h), 0);
    int verdict = dk_object_supersedes(dk_buf_slice(cur), &c, dk_buf_slice(in), &i);
    judge_heads(cur, in, &i, verdict);
    /* What the resolver says, bypassing every shortcut. */
    dk_buf want = DK_BUF_INIT, got = DK_BUF_INIT;
    const dk_resolver_ref *r = &rs->by_type[h.type];
    CU_ASSERT_EQUAL_FATAL(dk_resolver_merge(r, &c, &i, &truth), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode_typed(&truth, h.type, &want), 0);
    dk_resolver_release(r, &truth);
    dk_object_free(&truth);
    if (verdict)
        CU_ASSERT(want.len == in->len && memcmp(want.data, in->data, in->len) == 0);
    CU_ASSERT_EQUAL_FATAL(dk_resolve_merge(rs, dk_buf_slice(cur), &c, dk_buf_slice(in), &i, &got), 0);
    CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    dk_buf_free(cur);
    *cur = got;
    dk_buf_free(&want);
    dk_object_free(&c);
    dk_object_free(&i);
    return verdict;
}

static void random_histories(const dk_resolvers *rs, int type)
{
    srand(7 + type);
    int yes = 0, no = 0;
    for (int run = 0; run < 40; run++) {
        dk_buf copy[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT};
        int64_t skew[3] = {0, rand() % 40 - 20, rand() % 40 - 20};
        for (int step = 0; step < 60; step++) {
            int a = rand() % 3, b = (a + 1 + rand() % 2) % 3;
            if (rand() % 5 < 2) {
                int tomb = type == DK_OBJECT_PLAIN && rand() % 8 == 0;
                int rc =
                    write(rs, &copy[a], type, a + 1, NOW + step * 10 + skew[a], rand() % 3 != 0, tomb, step);
                CU_ASSERT(rc == 0 || rc == DK_ESIBLINGS);
            } else if (copy[a].len) {
                int v = meet(rs, &copy[b], &copy[a]);
                yes += v == 1;
                no += v == 0;
            }
        }
        for (int k = 0; k < 3; k++)
            dk_buf_free(&copy[k]);
    }
    CU_ASSERT(yes > 20);
    CU_ASSERT(no > 20);
    CU_ASSERT(head_yes > 20); /* a prefix alone decided, not only whole objects */
    head_yes = 0;
    if (type == DK_OBJECT_PLAIN) { /* vclock and lww build from heads; crdt never */
        CU_ASSERT(head_update_yes > 20);
        if (rs == &rs_vclock) /* blind writes keep unread values: the whole object */
            CU_ASSERT(head_update_whole > 20);
    } else {
        CU_ASSERT_EQUAL(head_update_yes, 0);
    }
    head_update_yes = head_update_whole = 0;
}

static void test_random_vclock(void)
{
    random_histories(&rs_vclock, DK_OBJECT_PLAIN);
}
static void test_random_lww(void)
{
    random_histories(&rs_lww, DK_OBJECT_PLAIN);
}
static void test_random_crdt(void)
{
    random_histories(&rs_vclock, DK_OBJECT_CRDT);
}

/* The decisions one by one (vclock). */
static void test_decisions(void)
{
    const dk_resolvers *rs = &rs_vclock;
    dk_buf a = DK_BUF_INIT, b = DK_BUF_INIT, c = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(write(rs, &a, DK_OBJECT_PLAIN, 1, NOW, 1, 0, 1), 0);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&b, a.data, a.len), 0);
    /* Equal copies: nothing to apply. */
    CU_ASSERT_EQUAL(sup(&a, &b), 0);
    /* A write over its context supersedes the copy it read, not back. */
    CU_ASSERT_EQUAL_FATAL(write(rs, &b, DK_OBJECT_PLAIN, 2, NOW + 5, 1, 0, 2), 0);
    CU_ASSERT_EQUAL(sup(&a, &b), 1);
    CU_ASSERT_EQUAL(sup(&b, &a), 0);
    /* ...but not when its clock says it is older (lww and crdt pick by time). */
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&c, a.data, a.len), 0);
    CU_ASSERT_EQUAL_FATAL(write(rs, &c, DK_OBJECT_PLAIN, 3, NOW - 5, 1, 0, 3), 0);
    CU_ASSERT_EQUAL(sup(&a, &c), 0);
    /* A blind write and b are concurrent: neither supersedes, the merge
     * keeps both as siblings. */
    dk_buf d = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&d, a.data, a.len), 0);
    CU_ASSERT_EQUAL_FATAL(write(rs, &d, DK_OBJECT_PLAIN, 1, NOW + 9, 0, 0, 4), 0);
    CU_ASSERT_EQUAL(sup(&b, &d), 0);
    CU_ASSERT_EQUAL(sup(&d, &b), 0);
    CU_ASSERT_EQUAL(meet(rs, &b, &d), 0);
    dk_object m;
    dk_object_init(&m);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&b), &m, NULL, 0), 0);
    CU_ASSERT_EQUAL(m.n_sib, 2);
    dk_object_free(&m);
    /* A delete with the merged context supersedes both siblings. */
    dk_buf t = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&t, b.data, b.len), 0);
    CU_ASSERT_EQUAL_FATAL(write(rs, &t, DK_OBJECT_PLAIN, 2, NOW + 20, 1, 1, 5), 0);
    CU_ASSERT_EQUAL(sup(&b, &t), 1);
    CU_ASSERT_EQUAL(sup(&d, &t), 1);
    /* Two types never supersede each other. */
    dk_buf x = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(write(rs, &x, DK_OBJECT_CRDT, 1, NOW + 30, 1, 0, 1), 0);
    CU_ASSERT_EQUAL(sup(&t, &x), 0);
    dk_buf_free(&a);
    dk_buf_free(&b);
    dk_buf_free(&c);
    dk_buf_free(&d);
    dk_buf_free(&t);
    dk_buf_free(&x);
}

/* CRDT: an increment that saw the stored state supersedes it; two
 * increments made apart are joined (both count), never overwritten. */
static void test_crdt_join(void)
{
    const dk_resolvers *rs = &rs_vclock;
    dk_buf a = DK_BUF_INIT, b = DK_BUF_INIT, c = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(write(rs, &a, DK_OBJECT_CRDT, 1, NOW, 1, 0, 1), 0);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&b, a.data, a.len), 0);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&c, a.data, a.len), 0);
    CU_ASSERT_EQUAL_FATAL(write(rs, &b, DK_OBJECT_CRDT, 2, NOW + 5, 1, 0, 10), 0);
    CU_ASSERT_EQUAL_FATAL(write(rs, &c, DK_OBJECT_CRDT, 3, NOW + 7, 1, 0, 100), 0);
    CU_ASSERT_EQUAL(sup(&a, &b), 1);
    CU_ASSERT_EQUAL(sup(&b, &c), 0);
    CU_ASSERT_EQUAL(meet(rs, &b, &c), 0);
    /* The join counts all three increments. */
    CU_ASSERT_EQUAL(tr_counter_of(&rs_vclock, &b), 111);
    /* The join has seen c's write but carries its dot and time: not
     * newer, so it is merged into c (to the same state), not applied. */
    CU_ASSERT_EQUAL(sup(&c, &b), 0);
    CU_ASSERT_EQUAL(meet(rs, &c, &b), 0);
    CU_ASSERT_EQUAL(tr_counter_of(&rs_vclock, &c), 111);
    dk_buf_free(&a);
    dk_buf_free(&b);
    dk_buf_free(&c);
}

/* Hand-made copies breaking the invariants a clean history keeps: an
 * actor that reused a dot with other content (after vv pruning), and a
 * dot of in that cur has seen but does not hold. Neither is applied
 * blindly, and the merge stays the resolver's. */
static void make(dk_buf *out, uint64_t n1, uint64_t n2, const char *val, const char *node, uint64_t counter,
                 int64_t t)
{
    dk_object o;
    dk_object_init(&o);
    dk_actor a1, a2;
    CU_ASSERT_FATAL(dk_actor_set(&a1, "n1", 1) == 0 && dk_actor_set(&a2, "n2", 1) == 0);
    if (n1)
        CU_ASSERT_FATAL(dk_vv_set(&o.vv, &a1, n1, NOW) == 0);
    if (n2)
        CU_ASSERT_FATAL(dk_vv_set(&o.vv, &a2, n2, NOW) == 0);
    dk_sibling s = {.counter = counter, .write_time_ms = t, .value = {(const uint8_t *)val, strlen(val)}};
    CU_ASSERT_FATAL(dk_actor_set(&s.actor, node, 1) == 0);
    CU_ASSERT_FATAL(dk_object_add_sibling(&o, &s) == 0);
    dk_buf_reset(out);
    CU_ASSERT_FATAL(dk_object_encode(&o, out) == 0);
    dk_object_free(&o);
}

static void test_broken_invariants(void)
{
    dk_buf cur = DK_BUF_INIT, in = DK_BUF_INIT;
    /* the same dot (n1, 1) with other content */
    make(&cur, 1, 0, "a", "n1", 1, NOW);
    make(&in, 1, 1, "b", "n1", 1, NOW + 1);
    CU_ASSERT_EQUAL(sup(&cur, &in), 0);
    CU_ASSERT_EQUAL(meet(&rs_vclock, &cur, &in), 0);
    /* in's dot (n2, 1) is covered by cur's vv but cur does not hold it:
     * cur superseded it, the sync drops it */
    make(&cur, 2, 1, "c", "n1", 2, NOW);
    make(&in, 2, 1, "d", "n2", 1, NOW + 1);
    CU_ASSERT_EQUAL(sup(&cur, &in), 0);
    CU_ASSERT_EQUAL(meet(&rs_vclock, &cur, &in), 0);
    dk_buf_free(&cur);
    dk_buf_free(&in);
}

static CU_TestInfo supersede_tests[] = {
    {"broken invariants are merged, not applied", test_broken_invariants},
    {"the decisions one by one", test_decisions},
    {"crdt: concurrent increments are joined", test_crdt_join},
    {"random histories, vclock: the rule agrees with the merge", test_random_vclock},
    {"random histories, lww: the rule agrees with the merge", test_random_lww},
    {"random histories, crdt: the rule agrees with the merge", test_random_crdt},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "supersede", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = supersede_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
