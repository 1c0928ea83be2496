/*
 * tc_membership.h - the harness of the SWIM membership tests
 * (test-membership.c: membership changes; test-membership-detect.c:
 * failure detection and hostile input), with real UDP and TCP sockets on
 * 127.0.0.1 (ports chosen by the kernel). The wire codec alone is
 * test-gossip-codec.c; all of them use tc_gossip.h.
 *
 * Every instance of a test runs on one uv loop driven by this thread:
 * the instances only ever talk through real sockets, so one loop loses no
 * realism, and the test can read every table between two loop turns
 * without races or extra threads; the any-thread API (snapshot, stats) is
 * exercised from a second thread while the loop runs. Each case ends with
 * every instance stopped and the loop empty (test_loop_empty, the last
 * case of each program, and uv_loop_close() == 0 at the suite's end).
 *
 * Intervals are 100 ms, except the one measurement with the default
 * settings (1 s interval, 5 nodes), which prints its detection time.
 */
#ifndef DK_TC_MEMBERSHIP_H
#define DK_TC_MEMBERSHIP_H
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

static inline uint64_t tm_now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* on_change (loop thread): remember which states each member went through. */
static inline void tm_on_change(void *arg, const dk_member *mem, size_t n)
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

static inline unsigned tm_seen(const tnode *t, const char *id)
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


static inline int tm_start(int i, const char *id, const tm_opts *o)
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

static inline void tm_stopped(void *arg)
{
    *(int *)arg = 1;
}

/* Turn the loop until pred holds or timeout_ms passes; 1 when it held. */
static inline int tm_run_until(int (*pred)(void *), void *arg, uint64_t timeout_ms)
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

static inline int tm_flag_set(void *arg)
{
    return *(int *)arg;
}

static inline void tm_stop(int i)
{
    int done = 0;
    if (!tm[i].running)
        return;
    dk_membership_stop(tm[i].m, tm_stopped, &done);
    tm[i].running = 0;
    tm[i].m = NULL;
    CU_ASSERT(tm_run_until(tm_flag_set, &done, 2000));
}

static inline void tm_stop_all(void)
{
    for (int i = 0; i < TM_MAX; i++)
        tm_stop(i);
    uv_run(&tm_loop, UV_RUN_NOWAIT);
}

/* Node obs's record of id; 1 when found. */
static inline int tm_rec(int obs, const char *id, dk_member *out)
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
static inline int tm_all_in(void *arg)
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
static inline int tm_one_in(void *arg)
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
static inline int tm_cluster(int n, const char *prefix, uint64_t interval, const char *secret)
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


static inline int tm_init(void)
{
    return uv_loop_init(&tm_loop);
}

static inline int tm_fini(void)
{
    uv_run(&tm_loop, UV_RUN_NOWAIT);
    return uv_loop_close(&tm_loop) == 0 ? 0 : 1;
}

static inline void test_loop_empty(void)
{
    uv_run(&tm_loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(uv_loop_alive(&tm_loop), 0);
}

#endif /* DK_TC_MEMBERSHIP_H */
