/*
 * test-gossip-auth.c - what makes gossip authentic and fresh, and what
 * keeps a member's bug from wrecking membership: the freshness guard
 * (clock window, replay window, restart, expiry, bounds), the loopback
 * rule, the incarnation bound in the codec, and, against live nodes on
 * 127.0.0.1 (one uv loop driven by this thread, as in test-membership.c),
 * authentic datagrams that replay, that claim a live member removed, and
 * that push a node's own incarnation to the maximum.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "gossip/gossip_guard.h"
#include "gossip/gossip_msg.h"
#include "gossip/membership.h"
#include "util/coding.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define GA_N 3
#define GA_IV 100

static uv_loop_t ga_loop;
static dk_membership *ga_m[GA_N];
static char ga_addr[GA_N][DK_MEMBER_ADDR_MAX];
static uint8_t ga_key[DK_GOSSIP_KEY_LEN];

static uint64_t ga_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the guard ---- */

static void test_guard_windows(void)
{
    dk_gossip_guard g;
    dk__gossip_guard_init(&g, 30000);
    uint64_t now = 1800000000000ull, mono = 1000;
    /* the clock window, both ways */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now - 30001, 100, now, mono), DK_GOSSIP_REJ_STALE);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now + 30001, 100, now, mono), DK_GOSSIP_REJ_STALE);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now - 600000, 100, now, mono), DK_GOSSIP_REJ_STALE);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now - 29000, 100, now, mono), 0);
    /* a stale one left no trace: 100 was accepted once, now refused */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 100, now, mono), DK_GOSSIP_REJ_REPLAY);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 0, now, mono), DK_GOSSIP_REJ_REPLAY);
    /* increasing counters pass; each only once */
    for (uint64_t s = 101; s < 200; s++)
        CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, s, now, mono), 0);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 199, now, mono), DK_GOSSIP_REJ_REPLAY);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 150, now, mono), DK_GOSSIP_REJ_REPLAY);
    /* out of order inside the 64 below the top: once each */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 300, now, mono), 0);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 290, now, mono), 0);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 290, now, mono), DK_GOSSIP_REJ_REPLAY);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 236, now, mono), 0); /* 64 below */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 235, now, mono), DK_GOSSIP_REJ_REPLAY);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 300, now, mono), DK_GOSSIP_REJ_REPLAY);
    /* a jump of exactly 64 keeps the old top in the window */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 364, now, mono), 0);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 300, now, mono), DK_GOSSIP_REJ_REPLAY);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 301, now, mono), 0);
    /* senders are apart */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "b", now, 150, now, mono), 0);
    /* a restart: the counter starts from the clock in us, far above */
    uint64_t life2 = dk__gossip_seq_start();
    CU_ASSERT(life2 > 1000000000000000ull);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, life2, now, mono + 5), 0);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, life2 - 70, now, mono + 5), DK_GOSSIP_REJ_REPLAY);
    /* silent for two windows: forgotten, so a clock set back across a
     * restart is accepted again (its old messages are stale by then) */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 5000, now, mono + 30000), DK_GOSSIP_REJ_REPLAY);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "a", now, 5000, now, mono + 60010), 0);
    dk__gossip_guard_free(&g);
}

/* The table is bounded: the sender heard from longest ago gives way. */
static void test_guard_bounded(void)
{
    dk_gossip_guard g;
    dk__gossip_guard_init(&g, 30000);
    uint64_t now = 1800000000000ull;
    char id[32];
    for (unsigned i = 0; i < DK_GOSSIP_GUARD_MAX + 10; i++) {
        snprintf(id, sizeof id, "s%u", i);
        CU_ASSERT_EQUAL_FATAL(dk__gossip_guard_check(&g, id, now, 10, now, 1000 + i), 0);
    }
    CU_ASSERT_EQUAL(g.n, DK_GOSSIP_GUARD_MAX);
    /* s0 was evicted (a fresh entry takes its counter again), the newest is not */
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, "s0", now, 10, now, 6000), 0);
    snprintf(id, sizeof id, "s%u", DK_GOSSIP_GUARD_MAX + 9);
    CU_ASSERT_EQUAL(dk__gossip_guard_check(&g, id, now, 10, now, 6000), DK_GOSSIP_REJ_REPLAY);
    dk__gossip_guard_free(&g);
}

static void test_loopback(void)
{
    struct sockaddr_in a;
    struct sockaddr_in6 b;
    uv_ip4_addr("127.0.21.9", 1, &a);
    CU_ASSERT(dk__gossip_addr_loopback((struct sockaddr *)&a));
    uv_ip4_addr("10.0.0.1", 1, &a);
    CU_ASSERT_FALSE(dk__gossip_addr_loopback((struct sockaddr *)&a));
    uv_ip4_addr("128.0.0.1", 1, &a);
    CU_ASSERT_FALSE(dk__gossip_addr_loopback((struct sockaddr *)&a));
    uv_ip6_addr("::1", 1, &b);
    CU_ASSERT(dk__gossip_addr_loopback((struct sockaddr *)&b));
    uv_ip6_addr("::ffff:127.0.0.2", 1, &b);
    CU_ASSERT(dk__gossip_addr_loopback((struct sockaddr *)&b));
    uv_ip6_addr("fe80::1", 1, &b);
    CU_ASSERT_FALSE(dk__gossip_addr_loopback((struct sockaddr *)&b));
    CU_ASSERT_STRING_EQUAL(dk_membership_reject_name(DK_GOSSIP_REJ_NOT_LOOPBACK), "not_loopback");
    CU_ASSERT_STRING_EQUAL(dk_membership_reject_name(DK_GOSSIP_REJ_N), "unknown");
}

/* ---- the codec: incarnations never pass the bound ---- */

static dk_member ga_member(const char *id, dk_member_state st, dk_member_status status, uint64_t inc,
                           const char *addr)
{
    dk_member m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.gossip_addr, sizeof m.gossip_addr, "%s", addr);
    m.weight = 1;
    m.state = st;
    m.status = status;
    m.incarnation = inc;
    return m;
}

static uint64_t ga_seq;

/* An authentic datagram from "probe" carrying u (may be NULL). */
static size_t ga_datagram(uint8_t *buf, size_t cap, int type, const char *target, const dk_member *u,
                          uint64_t sent_ms)
{
    dk_gossip_enc e;
    size_t len = 0;
    CU_ASSERT_EQUAL(dk__gossip_enc_begin(&e, buf, cap, type, 9, "test", "probe", target, NULL), 0);
    if (u)
        CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, u), 0);
    if (!ga_seq)
        ga_seq = dk__gossip_seq_start();
    CU_ASSERT_EQUAL(dk__gossip_enc_finish(&e, ga_key, sent_ms, ++ga_seq, &len), 0);
    return len;
}

static void test_codec_inc_bound(void)
{
    uint8_t buf[DK_GOSSIP_UDP_MAX];
    dk_gossip_enc e;
    dk_gossip_msg msg;
    dk_member m = ga_member("n2", DK_MEMBER_REMOVED, DK_STATUS_REMOVED, DK_MEMBER_INC_MAX, "127.0.0.1:1");
    size_t len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &m, ga_wall_ms());
    CU_ASSERT_EQUAL_FATAL(dk__gossip_decode(buf, len, ga_key, &msg), 0);
    CU_ASSERT_EQUAL(dk__gossip_enc_begin(&e, buf, sizeof buf, DK_GOSSIP_PING, 1, "test", "probe", NULL, NULL),
                    0);
    m.incarnation = DK_MEMBER_INC_MAX + 1;
    CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &m), -EINVAL);
    /* 2^64 - 1 written by hand and sealed with the key: refused */
    m.incarnation = 5;
    len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &m, ga_wall_ms());
    CU_ASSERT_EQUAL_FATAL(dk__gossip_decode(buf, len, ga_key, &msg), 0);
    const uint8_t *inc = msg.updates + 1; /* after the state byte */
    CU_ASSERT_EQUAL(*inc, 5);
    /* 5 takes one varint byte, 2^64 - 1 ten: rebuild the tail */
    uint8_t big[DK_GOSSIP_UDP_MAX];
    size_t head = (size_t)(inc - buf);
    memcpy(big, buf, head);
    size_t k = dk_put_varint(big + head, UINT64_MAX);
    size_t rest = len - DK_GOSSIP_MAC_LEN - head - 1;
    memcpy(big + head + k, buf + head + 1, rest);
    size_t blen = head + k + rest;
    unsigned int ml = 0;
    HMAC(EVP_sha256(), ga_key, DK_GOSSIP_KEY_LEN, big, blen, big + blen, &ml);
    blen += DK_GOSSIP_MAC_LEN;
    CU_ASSERT_EQUAL(dk__gossip_decode(big, blen, ga_key, &msg), DK_ECORRUPT);
    /* and under another key it is a MAC failure first */
    uint8_t other[DK_GOSSIP_KEY_LEN] = {1};
    CU_ASSERT_EQUAL(dk__gossip_decode(big, blen, other, &msg), -EACCES);
    char claimed[DK_MEMBER_NAME_MAX + 1];
    CU_ASSERT_EQUAL(dk__gossip_peek_cluster(big, blen, claimed), 0);
    CU_ASSERT_STRING_EQUAL(claimed, "test");
}

/* ---- live nodes ---- */

static void ga_on_change(void *arg, const dk_member *m, size_t n)
{
    (void)arg;
    (void)m;
    (void)n;
}

static void ga_turn(uint64_t ms)
{
    uint64_t end = uv_hrtime() / 1000000u + ms;
    while (uv_hrtime() / 1000000u < end) {
        uv_run(&ga_loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static int ga_rec(int obs, const char *id, dk_member *out)
{
    dk_member *v;
    size_t n;
    int found = 0;
    if (dk_membership_snapshot(ga_m[obs], &v, &n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].id, id)) {
            *out = v[i];
            found = 1;
        }
    free(v);
    return found;
}

static int ga_all_normal(void)
{
    char id[8];
    dk_member r;
    for (int o = 0; o < GA_N; o++)
        for (int s = 0; s < GA_N; s++) {
            snprintf(id, sizeof id, "g%d", s);
            if (!ga_rec(o, id, &r) || r.state != DK_MEMBER_NORMAL)
                return 0;
        }
    return 1;
}

static int ga_start_all(void)
{
    for (int i = 0; i < GA_N; i++) {
        dk_membership_conf c = {.cluster_name = "test", .interval_ms = GA_IV, .on_change = ga_on_change};
        const char *seeds[1] = {ga_addr[0]};
        if (i > 0) {
            c.seeds = seeds;
            c.n_seeds = 1;
        }
        memcpy(c.key, ga_key, sizeof c.key);
        c.loopback_only = 1;
        snprintf(c.self.id, sizeof c.self.id, "g%d", i);
        snprintf(c.self.gossip_addr, sizeof c.self.gossip_addr, "127.0.0.1:0");
        c.self.weight = 1;
        c.self.status = DK_STATUS_NORMAL;
        char err[256];
        if (dk_membership_start(&ga_loop, &c, &ga_m[i], err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 0;
        }
        dk_member self;
        dk_membership_self(ga_m[i], &self);
        snprintf(ga_addr[i], sizeof ga_addr[i], "%s", self.gossip_addr);
    }
    for (int t = 0; t < 300 && !ga_all_normal(); t++)
        ga_turn(10);
    return ga_all_normal();
}

static void ga_stopped(void *arg)
{
    (*(int *)arg)++;
}

static void ga_stop_all(void)
{
    int done = 0;
    for (int i = 0; i < GA_N; i++)
        if (ga_m[i])
            dk_membership_stop(ga_m[i], ga_stopped, &done);
    for (int t = 0; t < 2000 && done < GA_N; t++)
        ga_turn(1);
    CU_ASSERT_EQUAL(done, GA_N);
    memset(ga_m, 0, sizeof ga_m);
}

/* Send buf to node i from a fresh loopback socket; with want_ack, wait up
 * to 500 ms for an answer and return 1 when one came. */
static int ga_send(int i, const uint8_t *buf, size_t len, int want_ack)
{
    struct sockaddr_in sa;
    char host[64];
    snprintf(host, sizeof host, "%s", ga_addr[i]);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    uv_ip4_addr(host, atoi(colon + 1), &sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)len);
    int got = 0;
    uint8_t in[2048];
    for (int t = 0; t < (want_ack ? 500 : 50) && !got; t++) {
        ga_turn(1);
        got = recv(fd, in, sizeof in, 0) > 0;
    }
    close(fd);
    return got;
}

static uint64_t ga_rejected(int i, int reason)
{
    dk_membership_stats st;
    dk_membership_stats_get(ga_m[i], &st);
    return st.rejected[reason];
}

/* An authentic PING is answered once; the same bytes again, and a new
 * one stamped 10 minutes ago, are refused without an answer. */
static void test_live_replay(void)
{
    CU_ASSERT_FATAL(ga_start_all());
    uint8_t buf[DK_GOSSIP_UDP_MAX];
    size_t len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, "g1", NULL, ga_wall_ms());
    CU_ASSERT(ga_send(1, buf, len, 1));
    CU_ASSERT_FALSE(ga_send(1, buf, len, 1));
    CU_ASSERT_EQUAL(ga_rejected(1, DK_GOSSIP_REJ_REPLAY), 1);
    len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, "g1", NULL, ga_wall_ms() - 600000);
    CU_ASSERT_FALSE(ga_send(1, buf, len, 1));
    CU_ASSERT_EQUAL(ga_rejected(1, DK_GOSSIP_REJ_STALE), 1);
    /* another key: refused as a MAC failure */
    uint8_t saved[DK_GOSSIP_KEY_LEN];
    memcpy(saved, ga_key, sizeof saved);
    ga_key[0] ^= 1;
    len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, "g1", NULL, ga_wall_ms());
    memcpy(ga_key, saved, sizeof saved);
    CU_ASSERT_FALSE(ga_send(1, buf, len, 1));
    CU_ASSERT_EQUAL(ga_rejected(1, DK_GOSSIP_REJ_MAC), 1);
    ga_stop_all();
}

/* A member's bug: an authentic record removing a member at its own
 * incarnation while the receiver sees it up is dropped; told to the
 * member itself, it refuses and refutes. The legitimate removal (of a
 * down member) is covered by test-membership's ring status test. */
static void test_live_removal_of_a_live_member(void)
{
    CU_ASSERT_FATAL(ga_start_all());
    dk_member r;
    CU_ASSERT_FATAL(ga_rec(0, "g2", &r));
    dk_member u = r;
    u.status = DK_STATUS_REMOVED;
    uint8_t buf[DK_GOSSIP_UDP_MAX];
    size_t len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &u, ga_wall_ms());
    ga_send(0, buf, len, 0);
    u.state = DK_MEMBER_REMOVED;
    u.status = DK_STATUS_NORMAL;
    len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &u, ga_wall_ms());
    ga_send(0, buf, len, 0);
    CU_ASSERT_EQUAL(ga_rejected(0, DK_GOSSIP_REJ_REMOVAL), 2);
    dk_member now;
    CU_ASSERT(ga_rec(0, "g2", &now) && now.state == DK_MEMBER_NORMAL && now.status == DK_STATUS_NORMAL);
    /* to g2 itself */
    dk_member self_before;
    dk_membership_self(ga_m[2], &self_before);
    u = self_before;
    u.status = DK_STATUS_REMOVED;
    len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &u, ga_wall_ms());
    ga_send(2, buf, len, 0);
    CU_ASSERT_EQUAL(ga_rejected(2, DK_GOSSIP_REJ_REMOVAL), 1);
    dk_member self;
    dk_membership_self(ga_m[2], &self);
    CU_ASSERT_EQUAL(self.status, DK_STATUS_NORMAL);
    CU_ASSERT(self.incarnation > self_before.incarnation);
    ga_turn(300);
    for (int o = 0; o < 2; o++)
        CU_ASSERT(ga_rec(o, "g2", &now) && now.state == DK_MEMBER_NORMAL && now.status == DK_STATUS_NORMAL);
    ga_stop_all();
}

/* A record of a node at the maximum incarnation: its refutation would
 * pass the bound, so it is refused and counted, never wrapped to 0. */
static void test_live_no_wrap(void)
{
    CU_ASSERT_FATAL(ga_start_all());
    dk_member self;
    dk_membership_self(ga_m[1], &self);
    dk_member u = self;
    u.state = DK_MEMBER_SUSPECT;
    u.incarnation = DK_MEMBER_INC_MAX - 1;
    uint8_t buf[DK_GOSSIP_UDP_MAX];
    size_t len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &u, ga_wall_ms());
    ga_send(1, buf, len, 0);
    dk_membership_self(ga_m[1], &self);
    CU_ASSERT_EQUAL(self.incarnation, DK_MEMBER_INC_MAX); /* refuted once, up to the bound */
    u.incarnation = DK_MEMBER_INC_MAX;
    len = ga_datagram(buf, sizeof buf, DK_GOSSIP_PING, NULL, &u, ga_wall_ms());
    ga_send(1, buf, len, 0);
    dk_membership_stats st;
    dk_membership_stats_get(ga_m[1], &st);
    CU_ASSERT(st.refutations_refused >= 1);
    dk_membership_self(ga_m[1], &self);
    CU_ASSERT_EQUAL(self.incarnation, DK_MEMBER_INC_MAX);
    ga_stop_all();
}

static int ga_key_init(void)
{
    for (size_t i = 0; i < sizeof ga_key; i++)
        ga_key[i] = (uint8_t)(0x5a ^ i);
    return 0;
}

static int ga_init(void)
{
    ga_key_init();
    return uv_loop_init(&ga_loop);
}

static int ga_fini(void)
{
    uv_run(&ga_loop, UV_RUN_NOWAIT);
    return uv_loop_close(&ga_loop) == 0 ? 0 : 1;
}

static CU_TestInfo ga_pure[] = {
    {"clock and replay windows", test_guard_windows},
    {"bounded sender table", test_guard_bounded},
    {"loopback addresses", test_loopback},
    {"incarnation bound in the codec", test_codec_inc_bound},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo ga_live[] = {
    {"replayed, stale and foreign datagrams", test_live_replay},
    {"removal of a live member", test_live_removal_of_a_live_member},
    {"refutation at the maximum incarnation", test_live_no_wrap},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "gossip auth", .pInitFunc = ga_key_init, .pTests = ga_pure},
    {.pName = "gossip auth live", .pInitFunc = ga_init, .pCleanupFunc = ga_fini, .pTests = ga_live},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
