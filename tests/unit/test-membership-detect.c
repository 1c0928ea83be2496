/*
 * test-membership-detect.c - SWIM failure detection and hostile input
 * over real sockets (tc_membership.h has the harness): a killed node
 * detected and restarted, a suspected node refuting, a peer's stale
 * verdict refuted rather than applied, foreign clusters and the shared
 * secret, garbage datagrams and streams, and the detection time with the
 * default settings. Membership changes are test-membership.c.
 */
#include "tc_membership.h"


static void test_kill_restart5(void)
{
    CU_ASSERT_FATAL(tm_cluster(5, "b", TM_IV, NULL));
    dk_member before;
    CU_ASSERT_FATAL(tm_rec(0, "b3", &before));
    char addr[DK_MEMBER_ADDR_MAX];
    snprintf(addr, sizeof addr, "%s", tm[3].addr);
    tm_stop(3); /* abrupt: no leave */
    uint64_t t0 = tm_now_ms();
    tm_one_arg s = {5, "b3", DK_MEMBER_DOWN, 0};
    CU_ASSERT(tm_run_until(tm_one_in, &s, 3000));
    uint64_t down_ms = tm_now_ms() - t0;
    printf("\n  5 nodes, %d ms interval: killed node down everywhere after %llu ms\n", TM_IV,
           (unsigned long long)down_ms);
    /* Suspected first: by the nodes whose probes failed. A node that had
     * heard from b3 just before takes a peer's suspicion as stale and goes
     * from normal to down with the verdict that follows (dk__ms_apply_peer). */
    int suspected = 0;
    for (int o = 0; o < 5; o++)
        if (o != 3)
            suspected += (tm_seen(&tm[o], "b3") & (1u << DK_MEMBER_SUSPECT)) != 0;
    CU_ASSERT(suspected >= 1);
    /* down, b3 still gets gossip (ms_gossip_dead): one PING per interval
     * from each node, so a b3 that was only cut off would hear it is down */
    tm_run_until(NULL, NULL, 3 * TM_IV);
    uint64_t dead_pings = 0;
    for (int o = 0; o < 5; o++) {
        dk_membership_stats st;
        if (o != 3) {
            dk_membership_stats_get(tm[o].m, &st);
            dead_pings += st.dead_pings;
        }
    }
    CU_ASSERT(dead_pings >= 4);
    /* restart on the same address without the old table: peers tell it it
     * is down, it refutes with a higher incarnation and becomes normal */
    const char *seeds[1] = {tm[0].addr};
    CU_ASSERT_FATAL(tm_start(3, "b3", &(tm_opts){.seeds = seeds, .n_seeds = 1, .addr = addr}) == 0);
    tm_one_arg n = {5, "b3", DK_MEMBER_NORMAL, before.incarnation + 1};
    CU_ASSERT(tm_run_until(tm_one_in, &n, 3000));
    dk_member self;
    dk_membership_self(tm[3].m, &self);
    CU_ASSERT(self.incarnation > before.incarnation);
    CU_ASSERT_EQUAL(self.state, DK_MEMBER_NORMAL);
    tm_all_arg a = {5, DK_MEMBER_NORMAL};
    CU_ASSERT(tm_run_until(tm_all_in, &a, 2000));
    tm_stop_all();
}

static void test_refute(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "c", TM_IV, NULL));
    dk_member before;
    CU_ASSERT_FATAL(tm_rec(0, "c2", &before));
    dk__membership_set_mute(tm[2].m, 1);
    tm_run_until(NULL, NULL, 800);
    dk__membership_set_mute(tm[2].m, 0);
    dk_membership_stats s0, s1, s2;
    dk_membership_stats_get(tm[0].m, &s0);
    dk_membership_stats_get(tm[1].m, &s1);
    dk_membership_stats_get(tm[2].m, &s2);
    CU_ASSERT(s0.suspect_transitions + s1.suspect_transitions > 0);
    CU_ASSERT(s0.indirect_probes + s1.indirect_probes > 0);
    CU_ASSERT(s2.refutations > 0);
    tm_one_arg n = {3, "c2", DK_MEMBER_NORMAL, before.incarnation + 1};
    CU_ASSERT(tm_run_until(tm_one_in, &n, 2000));
    dk_member self;
    dk_membership_self(tm[2].m, &self);
    CU_ASSERT(self.incarnation > before.incarnation);
    printf("\n  muted node refuted %llu times, incarnation %llu -> %llu\n",
           (unsigned long long)s2.refutations, (unsigned long long)before.incarnation,
           (unsigned long long)self.incarnation);
    tm_stop_all();
}

static void test_foreign_cluster(void)
{
    CU_ASSERT_FATAL(tm_cluster(2, "e", TM_IV, NULL));
    dk_member known;
    CU_ASSERT_FATAL(tm_rec(0, "e0", &known));
    const char *seeds[1] = {tm[0].addr};
    CU_ASSERT_FATAL(
        tm_start(2, "x0",
                 &(tm_opts){
                     .cluster = "other", .seeds = seeds, .n_seeds = 1, .initial = &known, .n_initial = 1}) ==
        0);
    /* and a node of the right cluster with the wrong secret */
    CU_ASSERT_FATAL(
        tm_start(
            3, "x1",
            &(tm_opts){.secret = "wrong", .seeds = seeds, .n_seeds = 1, .initial = &known, .n_initial = 1}) ==
        0);
    tm_run_until(NULL, NULL, 700);
    dk_membership_stats st;
    dk_membership_stats_get(tm[0].m, &st);
    CU_ASSERT(st.wrong_cluster >= 2); /* its push-pull and its probes */
    CU_ASSERT(st.bad_datagrams >= 2); /* the unauthenticated ones */
    CU_ASSERT(st.rejected[DK_GOSSIP_REJ_MAC] >= 2);
    dk_member r;
    for (int o = 0; o < 2; o++) {
        CU_ASSERT_FALSE(tm_rec(o, "x0", &r));
        CU_ASSERT_FALSE(tm_rec(o, "x1", &r));
    }
    dk_member self;
    dk_membership_self(tm[2].m, &self);
    CU_ASSERT_EQUAL(self.state, DK_MEMBER_JOINING);
    dk_membership_stats_get(tm[2].m, &st);
    CU_ASSERT(st.pushpull_failed >= 1);
    tm_all_arg a = {2, DK_MEMBER_NORMAL};
    CU_ASSERT(tm_all_in(&a));
    tm_stop_all();
}

static void test_secret(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "h", TM_IV, "shared"));
    dk_membership_stats st;
    dk_membership_stats_get(tm[0].m, &st);
    CU_ASSERT_EQUAL(st.bad_datagrams, 0);
    tm_stop_all();
}

/* The IPv4 address of "host:port" to. */
static struct sockaddr_in tm_addr(const char *to)
{
    struct sockaddr_in sa;
    char host[64];
    snprintf(host, sizeof host, "%s", to);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    uv_ip4_addr(host, atoi(colon + 1), &sa);
    return sa;
}

static void tm_udp_send(const char *to, const void *p, size_t n)
{
    struct sockaddr_in sa = tm_addr(to);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CU_ASSERT(fd >= 0);
    CU_ASSERT(sendto(fd, p, n, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)n);
    close(fd);
}

static void tm_tcp_send(const char *to, const void *p, size_t n)
{
    struct sockaddr_in sa = tm_addr(to);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT(fd >= 0);
    CU_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT(write(fd, p, n) == (ssize_t)n);
    tm_run_until(NULL, NULL, 50); /* let the node read it before we close */
    close(fd);
}

static void test_garbage(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "g", TM_IV, NULL));
    dk_member before[3];
    for (int i = 0; i < 3; i++)
        CU_ASSERT(tm_rec(0, tm[i].id, &before[i]));
    uint8_t junk[512];
    srand(7);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)rand();
    uint8_t valid[DK_GOSSIP_UDP_MAX];
    size_t vlen = tm_encode(valid, sizeof valid, NULL, 2);
    tm_udp_send(tm[0].addr, junk, sizeof junk); /* random bytes */
    tm_udp_send(tm[0].addr, valid, vlen - 1);   /* truncated */
    valid[40] ^= 1;
    tm_udp_send(tm[0].addr, valid, vlen); /* bad MAC */
    uint8_t hdr[4];
    dk_put_u32(hdr, 0xfffffff0u);
    tm_tcp_send(tm[0].addr, hdr, sizeof hdr); /* absurd frame length */
    tm_run_until(NULL, NULL, 300);
    dk_membership_stats st;
    dk_membership_stats_get(tm[0].m, &st);
    CU_ASSERT(st.bad_datagrams >= 4);
    for (int i = 0; i < 3; i++) {
        dk_member r;
        CU_ASSERT(tm_rec(0, tm[i].id, &r));
        CU_ASSERT_EQUAL(r.state, DK_MEMBER_NORMAL);
        CU_ASSERT_EQUAL(r.incarnation, before[i].incarnation);
    }
    CU_ASSERT_FALSE(tm_rec(0, "m0", &before[0])); /* nothing from the bad MAC message */
    tm_stop_all();
}

/* Send node obs a gossip message of type from `from`, signed with the
 * suite's key, about target (with its address, or NULL), carrying u[0..n). */
static void tm_send_msg(int obs, int type, const char *from, const char *target, const char *target_addr,
                        const dk_member *u, size_t n)
{
    uint8_t buf[DK_GOSSIP_UDP_MAX], key[DK_GOSSIP_KEY_LEN];
    dk_gossip_enc e;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(
        dk__gossip_enc_begin(&e, buf, sizeof buf, type, 900, "test", from, target, target_addr), 0);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &u[i]), 0);
    tm_key(NULL, key);
    CU_ASSERT_EQUAL_FATAL(dk__gossip_enc_finish(&e, key, (uint64_t)time(NULL) * 1000, ++tm_msg_seq, &len), 0);
    tm_udp_send(tm[obs].addr, buf, len);
}

/* A peer's "down" verdict on a member this node has just heard from
 * itself (a node back from a partition carries one about every member of
 * the other side) is not applied; the member is told of it and refutes at
 * once, so every node has it normal at a higher incarnation, and none
 * ever took it for suspect or down. */
static void test_stale_verdict(void)
{
    CU_ASSERT_FATAL(tm_cluster(3, "v", TM_IV, NULL));
    dk_member before;
    CU_ASSERT_FATAL(tm_rec(0, "v2", &before));
    /* a PING-REQ from "x9" makes v2 probe v0: v0 hears from v2 now */
    tm_send_msg(2, DK_GOSSIP_PING_REQ, "x9", "v0", tm[0].addr, NULL, 0);
    tm_run_until(NULL, NULL, 20);
    dk_member down = before;
    down.state = DK_MEMBER_DOWN;
    tm_send_msg(0, DK_GOSSIP_PING, "x9", "", NULL, &down, 1);
    tm_one_arg n = {3, "v2", DK_MEMBER_NORMAL, before.incarnation + 1};
    CU_ASSERT(tm_run_until(tm_one_in, &n, 2000));
    dk_membership_stats s0, s2;
    dk_membership_stats_get(tm[0].m, &s0);
    dk_membership_stats_get(tm[2].m, &s2);
    CU_ASSERT_EQUAL(s0.stale_verdicts, 1);
    CU_ASSERT(s2.refutations >= 1);
    for (int o = 0; o < 2; o++)
        CU_ASSERT_EQUAL(tm_seen(&tm[o], "v2") & (1u << DK_MEMBER_SUSPECT | 1u << DK_MEMBER_DOWN), 0);
    tm_stop_all();
}

/* The default settings (1 s interval, k = 3, suspicion 3 intervals),
 * 5 nodes: time from a kill until every survivor marks the node down. */
static void test_default_detection(void)
{
    CU_ASSERT_FATAL(tm_cluster(5, "f", 0, NULL));
    tm_stop(4);
    uint64_t t0 = tm_now_ms();
    tm_one_arg s = {5, "f4", DK_MEMBER_DOWN, 0};
    CU_ASSERT(tm_run_until(tm_one_in, &s, 10000));
    uint64_t ms = tm_now_ms() - t0;
    printf("\n  default settings, 5 nodes: killed node down everywhere after %llu ms\n",
           (unsigned long long)ms);
    CU_ASSERT(ms < 10000);
    tm_stop_all();
}

static CU_TestInfo tm_swim[] = {
    {"kill and restart in 5 nodes", test_kill_restart5},
    {"suspected node refutes", test_refute},
    {"a stale verdict is refuted, not applied", test_stale_verdict},
    {"foreign cluster and secret", test_foreign_cluster},
    {"shared secret", test_secret},
    {"garbage datagrams", test_garbage},
    {"default detection time", test_default_detection},
    {"loop empty", test_loop_empty},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "membership-detect", .pInitFunc = tm_init, .pCleanupFunc = tm_fini, .pTests = tm_swim},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
