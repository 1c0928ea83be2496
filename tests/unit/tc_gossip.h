/*
 * tc_gossip.h - what test-membership*.c and test-gossip-codec.c share: a
 * gossip key named by a string (NULL: the suites' default key), a member
 * record with fixed addresses, and a sealed PING_REQ datagram carrying
 * nupd such members (tm_encode; each call takes the next sequence
 * number, so the freshness guard never sees a replay).
 *
 * Header-only with static state, like tc_cluster.h: each program is one
 * file.
 */
#ifndef DK_TEST_TC_GOSSIP_H
#define DK_TEST_TC_GOSSIP_H
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gossip/gossip_msg.h"
#include "gossip/membership.h"

/* A test key named by a string (NULL: the suite's default key). */
static inline void tm_key(const char *secret, uint8_t key[DK_GOSSIP_KEY_LEN])
{
    memset(key, 0, DK_GOSSIP_KEY_LEN);
    secret = secret ? secret : "test-key";
    memcpy(key, secret, strlen(secret) < DK_GOSSIP_KEY_LEN ? strlen(secret) : DK_GOSSIP_KEY_LEN);
}

static uint64_t tm_msg_seq = 1;

static inline dk_member tm_member(const char *id, dk_member_state s, uint64_t inc)
{
    dk_member m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.gossip_addr, sizeof m.gossip_addr, "127.0.0.9:7946");
    snprintf(m.rpc_addr, sizeof m.rpc_addr, "127.0.0.9:7070");
    snprintf(m.dc, sizeof m.dc, "dc-2");
    m.weight = 3;
    m.state = s;
    m.incarnation = inc;
    return m;
}

static inline size_t tm_encode(uint8_t *buf, size_t cap, const char *secret, int nupd)
{
    dk_gossip_enc e;
    size_t len = 0;
    CU_ASSERT_EQUAL(
        dk__gossip_enc_begin(&e, buf, cap, DK_GOSSIP_PING_REQ, 77, "test", "n1", "n2", "127.0.0.2:9"), 0);
    for (int i = 0; i < nupd; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        dk_member m = tm_member(id, (dk_member_state)(i % 6), 1000000u + (uint64_t)i);
        CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &m), 0);
    }
    uint8_t key[DK_GOSSIP_KEY_LEN];
    tm_key(secret, key);
    CU_ASSERT_EQUAL(dk__gossip_enc_finish(&e, key, (uint64_t)time(NULL) * 1000, ++tm_msg_seq, &len), 0);
    return len;
}

#endif /* DK_TEST_TC_GOSSIP_H */
