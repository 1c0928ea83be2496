/*
 * test-membership.c - SWIM membership with real UDP and TCP sockets on
 * 127.0.0.1 (ports chosen by the kernel). The wire codec alone is
 * test-gossip-codec.c; both use tc_gossip.h.
 *
 * Every instance of a test runs on one uv loop driven by this thread:
 * the instances only ever talk through real sockets, so one loop loses no
 * realism, and the test can read every table between two loop turns
 * without races or extra threads; the any-thread API (snapshot, stats) is
 * exercised from a second thread while the loop runs. Each case ends with
 * every instance stopped and the loop empty (uv_loop_close() == 0 is
 * asserted once at the end of the suite).
 *
 * Intervals are 100 ms, except the one measurement with the default
 * settings (1 s interval, 5 nodes), which prints its detection time.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "gossip/gossip_msg.h"
#include "gossip/membership.h"
#include "util/coding.h"

#include "tc_gossip.h"

#define TM_MAX 8
#define TM_IV 100

typedef struct tnode {
    dk_membership *m;
    char id[16];
    char addr[DK_MEMBER_ADDR_MAX];
    int running;
    unsigned changes;
    struct {
        char id[16];
        unsigned seen;
    } watch[TM_MAX * 2]; /* states seen per member */
} tnode;

static uv_loop_t tm_loop;
static tnode tm[TM_MAX];

static uint64_t tm_now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* on_change (loop thread): remember which states each member went through. */
static void tm_on_change(void *arg, const dk_member *mem, size_t n)
{
    tnode *t = arg;
    t->changes++;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < TM_MAX * 2 && t->watch[k].id[0] && strcmp(t->watch[k].id, mem[i].id))
            k++;
        if (k == TM_MAX * 2)
            continue;
        snprintf(t->watch[k].id, sizeof t->watch[k].id, "%s", mem[i].id);
        t->watch[k].seen |= 1u << mem[i].state;
    }
}

static unsigned tm_seen(const tnode *t, const char *id)
{
    for (size_t k = 0; k < TM_MAX * 2; k++)
        if (!strcmp(t->watch[k].id, id))
            return t->watch[k].seen;
    return 0;
}

typedef struct tm_opts {
    const char *cluster, *secret, *addr;
    const char *const *seeds;
    size_t n_seeds;
    uint64_t interval;    /* 0: TM_IV */
    int default_interval; /* pass 0: the library's default */
    const dk_member *initial;
    size_t n_initial;
    dk_member_status status; /* self's ring status (0: joining) */
    uint32_t actor_inc;
} tm_opts;


static int tm_start(int i, const char *id, const tm_opts *o)
{
    tnode *t = &tm[i];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    dk_membership_conf c = {
        .cluster_name = o->cluster ? o->cluster : "test",
        .seeds = o->seeds,
        .n_seeds = o->n_seeds,
        .interval_ms = o->default_interval ? 0
                       : o->interval       ? o->interval
                                           : TM_IV,
        .initial = o->initial,
        .n_initial = o->n_initial,
        .on_change = tm_on_change,
        .arg = t,
    };
    tm_key(o->secret, c.key);
    snprintf(c.self.id, sizeof c.self.id, "%s", id);
    snprintf(c.self.gossip_addr, sizeof c.self.gossip_addr, "%s", o->addr ? o->addr : "127.0.0.1:0");
    snprintf(c.self.rpc_addr, sizeof c.self.rpc_addr, "127.0.0.1:7%03d", i);
    snprintf(c.self.http_addr, sizeof c.self.http_addr, "127.0.0.1:8%03d", i);
    snprintf(c.self.dc, sizeof c.self.dc, "dc1");
    snprintf(c.self.rack, sizeof c.self.rack, "r%d", i % 2);
    c.self.weight = 1 + (uint32_t)i % 3;
    c.self.status = o->status;
    c.self.actor_inc = o->actor_inc;
    char err[256] = "";
    int rc = dk_membership_start(&tm_loop, &c, &t->m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "start %s: %s\n", id, err);
        return rc;
    }
    dk_member self;
    dk_membership_self(t->m, &self);
    snprintf(t->addr, sizeof t->addr, "%s", self.gossip_addr);
    t->running = 1;
    return 0;
}

static void tm_stopped(void *arg)
{
    *(int *)arg = 1;
}

/* Turn the loop until pred holds or timeout_ms passes; 1 when it held. */
static int tm_run_until(int (*pred)(void *), void *arg, uint64_t timeout_ms)
{
    uint64_t end = tm_now_ms() + timeout_ms;
    while (tm_now_ms() < end) {
        if (pred && pred(arg))
            return 1;
        uv_run(&tm_loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return pred ? pred(arg) : 1;
}

static int tm_flag_set(void *arg)
{
    return *(int *)arg;
}

static void tm_stop(int i)
{
    int done = 0;
    if (!tm[i].running)
        return;
    dk_membership_stop(tm[i].m, tm_stopped, &done);
    tm[i].running = 0;
    tm[i].m = NULL;
    CU_ASSERT(tm_run_until(tm_flag_set, &done, 2000));
}

static void tm_stop_all(void)
{
    for (int i = 0; i < TM_MAX; i++)
        tm_stop(i);
    uv_run(&tm_loop, UV_RUN_NOWAIT);
}

/* Node obs's record of id; 1 when found. */
static int tm_rec(int obs, const char *id, dk_member *out)
{
    dk_member *v;
    size_t n;
    if (!tm[obs].running || dk_membership_snapshot(tm[obs].m, &v, &n))
        return 0;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (!strcmp(v[i].id, id)) {
            *out = v[i];
            found = 1;
        }
    free(v);
    return found;
}

/* Every running node in [0, n) sees every running node of [0, n) in state. */
typedef struct {
    int n;
    dk_member_state state;
} tm_all_arg;
static int tm_all_in(void *arg)
{
    const tm_all_arg *a = arg;
    for (int o = 0; o < a->n; o++) {
        if (!tm[o].running)
            continue;
        for (int s = 0; s < a->n; s++) {
            dk_member r;
            if (tm[s].running && (!tm_rec(o, tm[s].id, &r) || r.state != a->state))
                return 0;
        }
    }
    return 1;
}

/* Every running node in [0, n) other than id sees id in state. */
typedef struct {
    int n;
    const char *id;
    dk_member_state state;
    uint64_t min_inc;
} tm_one_arg;
static int tm_one_in(void *arg)
{
    const tm_one_arg *a = arg;
    for (int o = 0; o < a->n; o++) {
        dk_member r;
        if (!tm[o].running || !strcmp(tm[o].id, a->id))
            continue;
        if (!tm_rec(o, a->id, &r) || r.state != a->state || r.incarnation < a->min_inc)
            return 0;
    }
    return 1;
}

/* Start n nodes seeded by node 0 and wait until all see all normal. */
static int tm_cluster(int n, const char *prefix, uint64_t interval, const char *secret)
{
    char id[16];
    snprintf(id, sizeof id, "%s0", prefix);
    tm_opts o = {.interval = interval, .default_interval = interval == 0, .secret = secret};
    if (tm_start(0, id, &o))
        return 0;
    const char *seeds[1] = {tm[0].addr};
    o.seeds = seeds;
    o.n_seeds = 1;
    for (int i = 1; i < n; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i);
        if (tm_start(i, id, &o))
            return 0;
    }
    tm_all_arg a = {n, DK_MEMBER_NORMAL};
    return tm_run_until(tm_all_in, &a, 30 * (interval ? interval : 1000) + 2000);
}

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

static void tm_udp_send(const char *to, const void *p, size_t n)
{
    struct sockaddr_in sa;
    char host[64];
    snprintf(host, sizeof host, "%s", to);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    uv_ip4_addr(host, atoi(colon + 1), &sa);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CU_ASSERT(fd >= 0);
    CU_ASSERT(sendto(fd, p, n, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)n);
    close(fd);
}

static void tm_tcp_send(const char *to, const void *p, size_t n)
{
    struct sockaddr_in sa;
    char host[64];
    snprintf(host, sizeof host, "%s", to);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    uv_ip4_addr(host, atoi(colon + 1), &sa);
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

static int tm_init(void)
{
    return uv_loop_init(&tm_loop);
}

static int tm_fini(void)
{
    uv_run(&tm_loop, UV_RUN_NOWAIT);
    return uv_loop_close(&tm_loop) == 0 ? 0 : 1;
}

static void test_loop_empty(void)
{
    uv_run(&tm_loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(uv_loop_alive(&tm_loop), 0);
}

static CU_TestInfo tm_swim[] = {
    {"bad conf", test_bad_conf},
    {"initial table", test_initial_table},
    {"3 nodes converge", test_converge3},
    {"kill and restart in 5 nodes", test_kill_restart5},
    {"suspected node refutes", test_refute},
    {"a stale verdict is refuted, not applied", test_stale_verdict},
    {"graceful leave", test_leave},
    {"foreign cluster and secret", test_foreign_cluster},
    {"shared secret", test_secret},
    {"garbage datagrams", test_garbage},
    {"groups merge", test_merge},
    {"ring status, removal by another member", test_ring_status},
    {"first contact", test_first_contact},
    {"a wiped normal node replaces itself", test_replacing},
    {"default detection time", test_default_detection},
    {"loop empty", test_loop_empty},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "membership", .pInitFunc = tm_init, .pCleanupFunc = tm_fini, .pTests = tm_swim},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
