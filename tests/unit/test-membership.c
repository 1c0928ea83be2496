/*
 * test-membership.c - SWIM membership changes over real sockets
 * (tc_membership.h has the harness): configuration checks, the initial
 * table, convergence (read from a second thread meanwhile), graceful
 * leave, groups merging, ring status and removal by another member,
 * first contact with a dead seed, a wiped node replacing itself. Failure
 * detection and hostile input are test-membership-detect.c.
 */
#include "tc_membership.h"


/* ---- clusters ---- */

static atomic_int tm_reader_stop;
static void *tm_reader(void *arg)
{
    dk_membership *m = arg;
    size_t max = 0;
    while (!tm_reader_stop) {
        dk_member *v;
        size_t n;
        dk_membership_stats st;
        if (dk_membership_snapshot(m, &v, &n) == 0) {
            max = n > max ? n : max;
            free(v);
        }
        dk_membership_stats_get(m, &st);
        usleep(200);
    }
    return (void *)max;
}

static void test_converge3(void)
{
    pthread_t th;
    CU_ASSERT_FATAL(tm_start(0, "a0", &(tm_opts){0}) == 0);
    tm_reader_stop = 0;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, tm_reader, tm[0].m), 0);
    const char *seeds[1] = {tm[0].addr};
    tm_opts o = {.seeds = seeds, .n_seeds = 1};
    CU_ASSERT_FATAL(tm_start(1, "a1", &o) == 0 && tm_start(2, "a2", &o) == 0);
    tm_all_arg a = {3, DK_MEMBER_NORMAL};
    uint64_t t0 = tm_now_ms();
    CU_ASSERT(tm_run_until(tm_all_in, &a, 3000));
    printf("\n  3 nodes converged in %llu ms\n", (unsigned long long)(tm_now_ms() - t0));
    tm_reader_stop = 1;
    void *max;
    pthread_join(th, &max);
    CU_ASSERT_EQUAL((size_t)max, 3);
    /* every node carries the same record of a2, addresses and topology included */
    dk_member r0, r1;
    CU_ASSERT(tm_rec(0, "a2", &r0) && tm_rec(1, "a2", &r1));
    CU_ASSERT_STRING_EQUAL(r0.gossip_addr, tm[2].addr);
    CU_ASSERT_STRING_EQUAL(r0.rpc_addr, "127.0.0.1:7002");
    CU_ASSERT_STRING_EQUAL(r1.http_addr, "127.0.0.1:8002");
    CU_ASSERT_STRING_EQUAL(r1.rack, "r0");
    CU_ASSERT_EQUAL(r1.weight, 3);
    CU_ASSERT_EQUAL(r0.incarnation, r1.incarnation);
    CU_ASSERT(tm[1].changes > 0 && (tm_seen(&tm[1], "a1") & (1u << DK_MEMBER_JOINING)));
    dk_membership_stats st;
    dk_membership_stats_get(tm[0].m, &st);
    CU_ASSERT(st.pushpull_ok >= 2);
    tm_stop_all();
}

static void test_leave(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "d", TM_IV, NULL));
    int done = 0;
    CU_ASSERT_EQUAL(dk_membership_leave(tm[2].m, tm_stopped, &done), 0);
    CU_ASSERT_EQUAL(dk_membership_leave(tm[2].m, tm_stopped, &done), DK_ECLOSED);
    CU_ASSERT(tm_run_until(tm_flag_set, &done, 2000));
    tm_stop(2);
    tm_one_arg r = {3, "d2", DK_MEMBER_REMOVED, 0};
    CU_ASSERT(tm_run_until(tm_one_in, &r, 1000));
    CU_ASSERT(tm_seen(&tm[0], "d2") & (1u << DK_MEMBER_LEAVING));
    CU_ASSERT(tm_seen(&tm[1], "d2") & (1u << DK_MEMBER_LEAVING));
    /* a removed member is not probed, so it never turns suspect */
    tm_run_until(NULL, NULL, 500);
    CU_ASSERT(tm_one_in(&r));
    CU_ASSERT_FALSE(tm_seen(&tm[0], "d2") & (1u << DK_MEMBER_SUSPECT));
    tm_stop_all();
}

static void test_merge(void)
{
    tm_opts o = {0};
    CU_ASSERT_FATAL(tm_start(0, "p0", &o) == 0 && tm_start(2, "q0", &o) == 0);
    const char *sa[1] = {tm[0].addr}, *sb[1] = {tm[2].addr};
    CU_ASSERT_FATAL(tm_start(1, "p1", &(tm_opts){.seeds = sa, .n_seeds = 1}) == 0);
    CU_ASSERT_FATAL(tm_start(3, "q1", &(tm_opts){.seeds = sb, .n_seeds = 1}) == 0);
    tm_all_arg two = {2, DK_MEMBER_NORMAL};
    CU_ASSERT(tm_run_until(tm_all_in, &two, 2000));
    dk_member r;
    tm_run_until(NULL, NULL, 300);
    CU_ASSERT_FALSE(tm_rec(0, "q0", &r)); /* two separate groups */
    CU_ASSERT_FALSE(tm_rec(3, "p1", &r));
    CU_ASSERT_EQUAL(dk_membership_join(tm[1].m, "bogus"), -EINVAL);
    CU_ASSERT_EQUAL(dk_membership_join(tm[1].m, tm[2].addr), 0);
    tm_all_arg four = {4, DK_MEMBER_NORMAL};
    uint64_t t0 = tm_now_ms();
    CU_ASSERT(tm_run_until(tm_all_in, &four, 3000));
    printf("\n  two groups merged in %llu ms\n", (unsigned long long)(tm_now_ms() - t0));
    tm_stop_all();
}

static void test_initial_table(void)
{
    dk_member init[2];
    init[0] = tm_member("old", DK_MEMBER_NORMAL, 5);
    init[1] = tm_member("i0", DK_MEMBER_NORMAL, 7); /* our own persisted record */
    CU_ASSERT_FATAL(tm_start(0, "i0", &(tm_opts){.initial = init, .n_initial = 2}) == 0);
    /* routable at once, before any gossip */
    dk_member r, self;
    CU_ASSERT(tm_rec(0, "old", &r));
    CU_ASSERT_EQUAL(r.state, DK_MEMBER_NORMAL);
    CU_ASSERT_EQUAL(r.incarnation, 5);
    CU_ASSERT_STRING_EQUAL(r.dc, "dc-2");
    dk_membership_self(tm[0].m, &self);
    CU_ASSERT(self.incarnation > 7);
    CU_ASSERT_EQUAL(self.state, DK_MEMBER_JOINING); /* nobody answered yet */
    CU_ASSERT(tm[0].changes >= 1);
    /* "old" (127.0.0.9) does not answer: suspect, then down */
    tm_one_arg d = {1, "old", DK_MEMBER_DOWN, 5};
    CU_ASSERT(tm_run_until(tm_one_in, &d, 2000));
    tm_stop_all();
}

/* Every running node in [0, n) other than id sees id with ring status. */
typedef struct {
    int n;
    const char *id;
    dk_member_status status;
} tm_status_arg;
static int tm_status_in(void *arg)
{
    const tm_status_arg *a = arg;
    for (int o = 0; o < a->n; o++) {
        dk_member r;
        if (!tm[o].running || !strcmp(tm[o].id, a->id))
            continue;
        if (!tm_rec(o, a->id, &r) || r.status != a->status)
            return 0;
    }
    return 1;
}

static int tm_contact_is(void *arg)
{
    const int *want = arg;
    return dk_membership_contact(tm[want[0]].m) == want[1];
}

/* A ring status is the node's own (raised incarnation), spreads, and
 * survives the node going down; a removal is set by another member at the
 * down node's incarnation, and the node adopts it when it comes back. */
static void test_ring_status(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "r", TM_IV, NULL));
    int c0[2] = {0, 1}, c1[2] = {1, 1};
    CU_ASSERT(tm_run_until(tm_contact_is, c1, 1000));
    CU_ASSERT(tm_run_until(tm_contact_is, c0, 1000));
    dk_membership_set_status(tm[2].m, DK_STATUS_NORMAL);
    dk_membership_set_actor(tm[2].m, 4);
    tm_status_arg st = {3, "r2", DK_STATUS_NORMAL};
    CU_ASSERT(tm_run_until(tm_status_in, &st, 2000));
    dk_member before;
    dk_membership_self(tm[2].m, &before);
    tm_one_arg cur = {3, "r2", DK_MEMBER_NORMAL, before.incarnation};
    CU_ASSERT(tm_run_until(tm_one_in, &cur, 2000));
    CU_ASSERT_FATAL(tm_rec(1, "r2", &before));
    CU_ASSERT_EQUAL(before.actor_inc, 4);
    tm_stop(2);
    tm_one_arg d = {3, "r2", DK_MEMBER_DOWN, 0};
    CU_ASSERT(tm_run_until(tm_one_in, &d, 3000));
    dk_member r;
    CU_ASSERT(tm_rec(0, "r2", &r) && r.status == DK_STATUS_NORMAL); /* down, still normal */
    CU_ASSERT_EQUAL(dk_membership_set_peer_status(tm[0].m, "nobody", DK_STATUS_LEAVING), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk_membership_set_peer_status(tm[0].m, "r0", DK_STATUS_LEAVING), -EINVAL);
    CU_ASSERT_EQUAL(dk_membership_set_peer_status(tm[0].m, "r2", DK_STATUS_LEAVING), 0);
    tm_status_arg lv = {3, "r2", DK_STATUS_LEAVING};
    CU_ASSERT(tm_run_until(tm_status_in, &lv, 2000));
    CU_ASSERT_EQUAL(dk_membership_set_peer_status(tm[0].m, "r2", DK_STATUS_NORMAL), -EINVAL);
    CU_ASSERT_EQUAL(dk_membership_set_peer_status(tm[1].m, "r2", DK_STATUS_REMOVED), 0);
    tm_status_arg rm = {3, "r2", DK_STATUS_REMOVED};
    CU_ASSERT(tm_run_until(tm_status_in, &rm, 2000));
    CU_ASSERT(tm_rec(0, "r2", &r) && r.incarnation == before.incarnation);

    /* r2 comes back with its old table (it was normal): it hears that it
     * was removed and stays out, alive */
    const char *seeds[1] = {tm[0].addr};
    before.state = DK_MEMBER_NORMAL;
    CU_ASSERT_FATAL(tm_start(2, "r2",
                             &(tm_opts){.seeds = seeds,
                                        .n_seeds = 1,
                                        .initial = &before,
                                        .n_initial = 1,
                                        .status = DK_STATUS_NORMAL,
                                        .actor_inc = 4}) == 0);
    dk_member self;
    tm_one_arg alive = {3, "r2", DK_MEMBER_NORMAL, before.incarnation + 1};
    CU_ASSERT(tm_run_until(tm_one_in, &alive, 3000));
    dk_membership_self(tm[2].m, &self);
    CU_ASSERT_EQUAL(self.status, DK_STATUS_REMOVED);
    CU_ASSERT(tm_run_until(tm_status_in, &rm, 2000));
    tm_stop(2);

    /* a wiped r2 (no table, joining) hears its previous life and is not
     * stopped by the removal: a new life, joining everywhere */
    CU_ASSERT_FATAL(tm_start(2, "r2", &(tm_opts){.seeds = seeds, .n_seeds = 1}) == 0);
    int c2[2] = {2, 1};
    CU_ASSERT(tm_run_until(tm_contact_is, c2, 2000));
    dk_member heard;
    CU_ASSERT_FATAL(dk_membership_heard_self(tm[2].m, &heard, NULL));
    CU_ASSERT_EQUAL(heard.status, DK_STATUS_REMOVED);
    CU_ASSERT_EQUAL(heard.actor_inc, 4);
    dk_membership_self(tm[2].m, &self);
    CU_ASSERT_EQUAL(self.status, DK_STATUS_JOINING);
    CU_ASSERT(self.incarnation > heard.incarnation);
    tm_status_arg jn = {3, "r2", DK_STATUS_JOINING};
    CU_ASSERT(tm_run_until(tm_status_in, &jn, 2000));
    tm_stop_all();
}

/* A joining node that hears it was normal (it lost its data) replaces
 * itself: it keeps its place on the ring everywhere. */
static void test_replacing(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "w", TM_IV, NULL));
    dk_membership_set_status(tm[2].m, DK_STATUS_NORMAL);
    tm_status_arg st = {3, "w2", DK_STATUS_NORMAL};
    CU_ASSERT(tm_run_until(tm_status_in, &st, 2000));
    tm_stop(2);
    const char *seeds[1] = {tm[0].addr};
    CU_ASSERT_FATAL(tm_start(2, "w2", &(tm_opts){.seeds = seeds, .n_seeds = 1}) == 0);
    tm_status_arg rp = {3, "w2", DK_STATUS_REPLACING};
    CU_ASSERT(tm_run_until(tm_status_in, &rp, 2000));
    dk_member self;
    dk_membership_self(tm[2].m, &self);
    CU_ASSERT_EQUAL(self.status, DK_STATUS_REPLACING);
    tm_stop_all();
}

/* First contact: a lone seed decides at once it is first; a node whose
 * seed never answers stays undecided. */
static void test_first_contact(void)
{
    CU_ASSERT_FATAL(tm_start(0, "s0", &(tm_opts){0}) == 0);
    CU_ASSERT_EQUAL(dk_membership_contact(tm[0].m), -1);
    const char *dead[1] = {"127.0.0.1:9"};
    CU_ASSERT_FATAL(tm_start(1, "s1", &(tm_opts){.seeds = dead, .n_seeds = 1}) == 0);
    tm_run_until(NULL, NULL, 500);
    CU_ASSERT_EQUAL(dk_membership_contact(tm[1].m), 0);
    dk_member heard;
    CU_ASSERT_EQUAL(dk_membership_heard_self(tm[1].m, &heard, NULL), 0);
    tm_stop_all();
}

static void tm_set_flag(void *arg)
{
    *(int *)arg = 1;
}

static void test_bad_conf(void)
{
    dk_membership *m = NULL;
    char err[256] = "";
    dk_membership_conf c = {.cluster_name = "test"};
    snprintf(c.self.id, sizeof c.self.id, "Bad");
    snprintf(c.self.gossip_addr, sizeof c.self.gossip_addr, "127.0.0.1:0");
    CU_ASSERT_EQUAL(dk_membership_start(&tm_loop, &c, &m, err, sizeof err), -EINVAL);
    CU_ASSERT(strstr(err, "self") != NULL);
    snprintf(c.self.id, sizeof c.self.id, "ok");
    const char *seeds[1] = {"localhost"};
    c.seeds = seeds;
    c.n_seeds = 1;
    CU_ASSERT_EQUAL(dk_membership_start(&tm_loop, &c, &m, err, sizeof err), -EINVAL);
    CU_ASSERT(strstr(err, "localhost") != NULL);
    CU_ASSERT_PTR_NULL(m);
    /* A host name is a seed (resolved on the loop at each attempt); stopping
     * while a resolution runs waits for it. */
    seeds[0] = "localhost:7946";
    CU_ASSERT_EQUAL_FATAL(dk_membership_start(&tm_loop, &c, &m, err, sizeof err), 0);
    uv_run(&tm_loop, UV_RUN_NOWAIT);
    int stopped = 0;
    dk_membership_stop(m, tm_set_flag, &stopped);
    for (int i = 0; i < 1000 && !stopped; i++)
        uv_run(&tm_loop, UV_RUN_ONCE);
    CU_ASSERT(stopped);
}
static CU_TestInfo tm_swim[] = {
    {"bad conf", test_bad_conf},           {"initial table", test_initial_table},
    {"3 nodes converge", test_converge3},  {"graceful leave", test_leave},
    {"groups merge", test_merge},          {"ring status, removal by another member", test_ring_status},
    {"first contact", test_first_contact}, {"a wiped normal node replaces itself", test_replacing},
    {"loop empty", test_loop_empty},       CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "membership", .pInitFunc = tm_init, .pCleanupFunc = tm_fini, .pTests = tm_swim},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
