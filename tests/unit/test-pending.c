/*
 * test-pending.c - the ring transition of a member table
 * (framework/cluster/pending.h): which nodes receive which ranges on a
 * join, a decommission, a removal and a replacement, where they fetch them
 * from, the pending replicas of keys, and the signature.
 *
 * Every check is made against the rings themselves: for a sample of keys,
 * the current and future preference lists are computed with dk_ring_*
 * from the same members, and the transition must agree with them.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/pending.h"

#define TP_KEYS 1000

static dk_member tp_member(const char *id, dk_member_status st, int alive)
{
    dk_member m;
    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "%s", id);
    snprintf(m.gossip_addr, sizeof(m.gossip_addr), "127.0.0.1:1");
    snprintf(m.rpc_addr, sizeof(m.rpc_addr), "127.0.0.1:2");
    snprintf(m.dc, sizeof(m.dc), "dc1");
    snprintf(m.rack, sizeof(m.rack), "r1");
    m.weight = 1;
    m.state = alive ? DK_MEMBER_NORMAL : DK_MEMBER_DOWN;
    m.status = st;
    m.epoch = st == DK_STATUS_NORMAL ? 0 : 1000;
    return m;
}

/* Preference list of key in a ring of the members whose status passes
 * pick, as ids; returns the count. */
static size_t tp_prefs(const dk_member *m, size_t n, int (*pick)(dk_member_status), uint32_t nrep,
                       const char *key, char out[][DK_MEMBER_NAME_MAX + 1])
{
    dk_ring_node rn[16];
    size_t k = 0;
    memset(rn, 0, sizeof(rn));
    for (size_t i = 0; i < n; i++) {
        if (!pick(m[i].status))
            continue;
        snprintf(rn[k].id, sizeof(rn[k].id), "%s", m[i].id);
        snprintf(rn[k].dc, sizeof(rn[k].dc), "%s", m[i].dc);
        snprintf(rn[k].rack, sizeof(rn[k].rack), "%s", m[i].rack);
        rn[k].weight = 1;
        k++;
    }
    dk_ring *r = NULL;
    CU_ASSERT_FATAL(dk_ring_build(rn, k, 0, 1, &r) == 0);
    uint32_t idx[16];
    size_t got = dk_ring_preference(r, key, strlen(key), nrep, idx);
    for (size_t i = 0; i < got; i++)
        snprintf(out[i], DK_MEMBER_NAME_MAX + 1, "%s", dk_ring_node_at(r, idx[i])->id);
    dk_ring_unref(r);
    return got;
}

static int tp_has(char l[][DK_MEMBER_NAME_MAX + 1], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i], id))
            return 1;
    return 0;
}

static const dk_member *tp_find(const dk_member *m, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].id, id))
            return &m[i];
    return NULL;
}

/*
 * For TP_KEYS keys: the pending replicas of each key are exactly the
 * future owners that are not current owners (or are replacing), and the
 * sources of its range are the displaced readable live owners, else every
 * readable live owner. Returns how many keys had a pending replica.
 */
static size_t tp_check(const dk_member *m, size_t n, uint32_t nrep, const dk_transition *t)
{
    size_t moved = 0;
    for (int k = 0; k < TP_KEYS; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", k);
        char cp[9][DK_MEMBER_NAME_MAX + 1], fp[9][DK_MEMBER_NAME_MAX + 1];
        size_t nc = tp_prefs(m, n, dk_member_status_current, nrep, key, cp);
        size_t nf = tp_prefs(m, n, dk_member_status_future, nrep, key, fp);
        dk_xfer_node pend[DK_XFER_N_MAX], src[DK_XFER_N_MAX];
        size_t np = dk_transition_pending(t, dk_ring_key_token(key, strlen(key)), pend);
        size_t want = 0;
        for (size_t i = 0; i < nf; i++) {
            const dk_member *x = tp_find(m, n, fp[i]);
            int recv = !tp_has(cp, nc, fp[i]) || !dk_member_status_readable(x->status);
            want += recv;
            int found = 0;
            for (size_t j = 0; j < np; j++)
                found |= !strcmp(pend[j].id, fp[i]);
            CU_ASSERT_EQUAL(found, recv);
        }
        CU_ASSERT_EQUAL(np, want);
        if (!np)
            continue;
        moved++;
        /* its range's sources */
        size_t ri = 0;
        dk_token tok = dk_ring_key_token(key, strlen(key)), s, e;
        for (ri = 0; ri < dk_transition_ranges(t); ri++) {
            dk_transition_range(t, ri, &s, &e);
            if (dk_token_in_range(tok, s, e))
                break;
        }
        CU_ASSERT_FATAL(ri < dk_transition_ranges(t));
        int nothing = 0;
        size_t ns = dk_transition_sources(t, ri, src, &nothing);
        size_t displaced = 0, readable = 0;
        for (size_t i = 0; i < nc; i++) {
            const dk_member *x = tp_find(m, n, cp[i]);
            int ok = dk_member_status_readable(x->status) && x->state == DK_MEMBER_NORMAL;
            readable += dk_member_status_readable(x->status);
            displaced += ok && !tp_has(fp, nf, cp[i]);
        }
        CU_ASSERT_EQUAL(nothing, readable == 0);
        for (size_t i = 0; i < ns; i++) {
            const dk_member *x = tp_find(m, n, src[i].id);
            CU_ASSERT(tp_has(cp, nc, src[i].id));
            CU_ASSERT(dk_member_status_readable(x->status) && x->state == DK_MEMBER_NORMAL);
            if (displaced)
                CU_ASSERT(!tp_has(fp, nf, src[i].id));
        }
        if (displaced)
            CU_ASSERT_EQUAL(ns, displaced);
    }
    return moved;
}

static void test_no_move(void)
{
    dk_member m[3] = {tp_member("a", DK_STATUS_NORMAL, 1), tp_member("b", DK_STATUS_NORMAL, 0),
                      tp_member("c", DK_STATUS_NORMAL, 1)};
    dk_transition *t = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 3, 2, &t), 0);
    CU_ASSERT_STRING_EQUAL(dk_transition_sig(t), "");
    CU_ASSERT_EQUAL(dk_transition_ranges(t), 0);
    dk_xfer_node p[DK_XFER_N_MAX];
    CU_ASSERT_EQUAL(dk_transition_pending(t, dk_ring_key_token("k", 1), p), 0);
    CU_ASSERT_EQUAL(dk_transition_all_receivers(t, p, DK_XFER_N_MAX), 0);
    dk_transition_free(t);
    /* left and removed members are on no ring: still no move */
    m[1].status = DK_STATUS_LEFT;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 3, 2, &t), 0);
    CU_ASSERT_STRING_EQUAL(dk_transition_sig(t), "");
    dk_transition_free(t);
}

static void test_join(void)
{
    dk_member m[4] = {tp_member("n1", DK_STATUS_NORMAL, 1), tp_member("n2", DK_STATUS_NORMAL, 1),
                      tp_member("n3", DK_STATUS_NORMAL, 1), tp_member("n4", DK_STATUS_JOINING, 1)};
    dk_transition *t = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 4, 2, &t), 0);
    CU_ASSERT_NOT_EQUAL(dk_transition_sig(t)[0], '\0');
    CU_ASSERT_EQUAL(dk_transition_ranges(t), 4 * 256);
    size_t moved = tp_check(m, 4, 2, t);
    /* n4 will hold about 2 of every 4 keys */
    CU_ASSERT(moved > TP_KEYS * 4 / 10 && moved < TP_KEYS * 6 / 10);
    dk_xfer_node r[8];
    CU_ASSERT_EQUAL(dk_transition_all_receivers(t, r, 8), 1);
    CU_ASSERT_STRING_EQUAL(r[0].id, "n4");
    CU_ASSERT(dk_transition_is_receiver(t, "n4"));
    CU_ASSERT(!dk_transition_is_receiver(t, "n1"));
    printf("\n  join of a 4th node, N=2: %zu of %d keys pending on it\n", moved, TP_KEYS);
    dk_transition_free(t);
}

static void test_decommission_and_removal(void)
{
    dk_member m[4] = {tp_member("n1", DK_STATUS_NORMAL, 1), tp_member("n2", DK_STATUS_LEAVING, 1),
                      tp_member("n3", DK_STATUS_NORMAL, 1), tp_member("n4", DK_STATUS_NORMAL, 1)};
    dk_transition *t = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 4, 3, &t), 0);
    size_t moved = tp_check(m, 4, 3, t);
    CU_ASSERT(moved > 0);
    dk_xfer_node r[8], s[DK_XFER_N_MAX];
    size_t nr = dk_transition_all_receivers(t, r, 8);
    CU_ASSERT(nr >= 1 && nr <= 3);
    for (size_t i = 0; i < nr; i++)
        CU_ASSERT_STRING_NOT_EQUAL(r[i].id, "n2");
    /* every range with receivers is fetched from the leaving node alone */
    for (size_t i = 0; i < dk_transition_ranges(t); i++) {
        dk_xfer_node rv[DK_XFER_N_MAX];
        if (!dk_transition_receivers(t, i, rv))
            continue;
        int nothing;
        CU_ASSERT_EQUAL(dk_transition_sources(t, i, s, &nothing), 1);
        CU_ASSERT_STRING_EQUAL(s[0].id, "n2");
    }
    char sig[DK_XFER_SIG_MAX];
    snprintf(sig, sizeof(sig), "%s", dk_transition_sig(t));
    dk_transition_free(t);

    /* the same move with n2 down (a removal): sources fall back to the
     * other readable replicas; liveness does not change the signature */
    m[1].state = DK_MEMBER_DOWN;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 4, 3, &t), 0);
    CU_ASSERT_STRING_EQUAL(dk_transition_sig(t), sig);
    CU_ASSERT_EQUAL(tp_check(m, 4, 3, t), moved);
    for (size_t i = 0; i < dk_transition_ranges(t); i++) {
        dk_xfer_node rv[DK_XFER_N_MAX];
        if (!dk_transition_receivers(t, i, rv))
            continue;
        int nothing;
        size_t ns = dk_transition_sources(t, i, s, &nothing);
        CU_ASSERT_EQUAL(ns, 2);
        for (size_t k = 0; k < ns; k++)
            CU_ASSERT_STRING_NOT_EQUAL(s[k].id, "n2");
    }
    dk_transition_free(t);

    /* a later move between the same sets has another epoch: another name */
    m[1].epoch = 2000;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 4, 3, &t), 0);
    CU_ASSERT_STRING_NOT_EQUAL(dk_transition_sig(t), sig);
    dk_transition_free(t);
}

static void test_replacing(void)
{
    dk_member m[5] = {tp_member("n1", DK_STATUS_NORMAL, 1), tp_member("n2", DK_STATUS_NORMAL, 1),
                      tp_member("n3", DK_STATUS_REPLACING, 1), tp_member("n4", DK_STATUS_NORMAL, 0),
                      tp_member("n5", DK_STATUS_NORMAL, 1)};
    dk_transition *t = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 5, 3, &t), 0);
    size_t moved = tp_check(m, 5, 3, t);
    CU_ASSERT(moved > TP_KEYS * 5 / 10 && moved < TP_KEYS * 7 / 10); /* n3 owns ~3/5 */
    dk_xfer_node r[8];
    CU_ASSERT_EQUAL(dk_transition_all_receivers(t, r, 8), 1);
    CU_ASSERT_STRING_EQUAL(r[0].id, "n3");
    dk_transition_free(t);

    /* every node replacing: nothing anywhere to fetch */
    for (int i = 0; i < 5; i++)
        m[i].status = DK_STATUS_REPLACING;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 5, 3, &t), 0);
    tp_check(m, 5, 3, t);
    for (size_t i = 0; i < dk_transition_ranges(t); i++) {
        dk_xfer_node s[DK_XFER_N_MAX];
        int nothing = 0;
        CU_ASSERT_EQUAL(dk_transition_sources(t, i, s, &nothing), 0);
        CU_ASSERT(nothing);
    }
    dk_transition_free(t);
}

static void test_first_nodes(void)
{
    /* joiners and no ring yet: they receive everything, nothing to fetch */
    dk_member m[2] = {tp_member("a", DK_STATUS_JOINING, 1), tp_member("b", DK_STATUS_JOINING, 1)};
    dk_transition *t = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_transition_build(m, 2, 3, &t), 0);
    CU_ASSERT_EQUAL(tp_check(m, 2, 3, t), TP_KEYS);
    for (size_t i = 0; i < dk_transition_ranges(t); i++) {
        dk_xfer_node s[DK_XFER_N_MAX];
        int nothing = 0;
        CU_ASSERT_EQUAL(dk_transition_sources(t, i, s, &nothing), 0);
        CU_ASSERT(nothing);
    }
    dk_transition_free(t);
    dk_member dup[2] = {tp_member("a", DK_STATUS_NORMAL, 1), tp_member("a", DK_STATUS_JOINING, 1)};
    CU_ASSERT_EQUAL(dk_transition_build(dup, 2, 3, &t), -EINVAL);
}

static CU_TestInfo tp_tests[] = {
    {"no move, no pending", test_no_move},
    {"join: the new node receives, from displaced owners", test_join},
    {"decommission and removal of a down node", test_decommission_and_removal},
    {"replacement; a cluster that lost everything", test_replacing},
    {"first nodes; duplicate ids", test_first_nodes},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "pending", .pTests = tp_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
