/*
 * test-gossip-codec.c - the gossip wire codec (framework/gossip/
 * gossip_msg.h) on its own, no sockets: datagrams encoded and decoded
 * back with and without a shared key, every refusal of a malformed or
 * forged datagram (bad MAC, truncation, counts that lie, fields out of
 * range under a valid MAC), the members' ring status fields, and the
 * state names. SWIM itself, over real sockets, is test-membership.c;
 * both use tc_gossip.h.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "gossip/gossip_msg.h"
#include "gossip/membership.h"
#include "util/coding.h"

#include "tc_gossip.h"

static void test_codec_roundtrip(void)
{
    uint8_t buf[DK_GOSSIP_UDP_MAX];
    for (int mac = 0; mac < 2; mac++) {
        const char *secret = mac ? "s3cret" : NULL;
        uint8_t key[DK_GOSSIP_KEY_LEN], other[DK_GOSSIP_KEY_LEN];
        tm_key(secret, key);
        tm_key("other", other);
        size_t len = tm_encode(buf, sizeof buf, secret, 6);
        dk_gossip_msg msg;
        CU_ASSERT_EQUAL_FATAL(dk__gossip_decode(buf, len, key, &msg), 0);
        CU_ASSERT_EQUAL(msg.msg_seq, tm_msg_seq);
        CU_ASSERT(msg.sent_ms >= (uint64_t)time(NULL) * 1000 - 2000);
        CU_ASSERT_EQUAL(msg.type, DK_GOSSIP_PING_REQ);
        CU_ASSERT_EQUAL(msg.seq, 77);
        CU_ASSERT_STRING_EQUAL(msg.cluster, "test");
        CU_ASSERT_STRING_EQUAL(msg.from, "n1");
        CU_ASSERT_STRING_EQUAL(msg.target, "n2");
        CU_ASSERT_STRING_EQUAL(msg.target_addr, "127.0.0.2:9");
        CU_ASSERT_EQUAL(msg.n_updates, 6);
        const uint8_t *p = msg.updates;
        dk_member u;
        int k = 0;
        while (dk__gossip_update_next(&msg, &p, &u) == 0) {
            CU_ASSERT_EQUAL(u.state, (dk_member_state)(k % 6));
            CU_ASSERT_EQUAL(u.incarnation, 1000000u + (uint64_t)k);
            CU_ASSERT_EQUAL(u.weight, 3);
            CU_ASSERT_STRING_EQUAL(u.rpc_addr, "127.0.0.9:7070");
            CU_ASSERT_STRING_EQUAL(u.dc, "dc-2");
            CU_ASSERT_STRING_EQUAL(u.rack, "");
            k++;
        }
        CU_ASSERT_EQUAL(k, 6);
        /* the key must match on both sides */
        CU_ASSERT_EQUAL(dk__gossip_decode(buf, len, other, &msg), -EACCES);
    }
}

/* Replace the MAC of buf[0..len) by a valid one under key. */
static void tm_reseal(uint8_t *buf, size_t len, const uint8_t *key)
{
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, DK_GOSSIP_KEY_LEN, buf, len - DK_GOSSIP_MAC_LEN, buf + len - DK_GOSSIP_MAC_LEN,
         &n);
}

static void test_codec_rejects(void)
{
    uint8_t buf[DK_GOSSIP_UDP_MAX], bad[DK_GOSSIP_UDP_MAX];
    uint8_t key[DK_GOSSIP_KEY_LEN];
    tm_key(NULL, key);
    size_t len = tm_encode(buf, sizeof buf, NULL, 3);
    dk_gossip_msg msg;
    /* every truncation and every single bit flip is refused */
    for (size_t n = 0; n < len; n++)
        CU_ASSERT_NOT_EQUAL(dk__gossip_decode(buf, n, key, &msg), 0);
    for (size_t i = 0; i < len * 8; i++) {
        memcpy(bad, buf, len);
        bad[i / 8] ^= (uint8_t)(1u << (i % 8));
        CU_ASSERT_NOT_EQUAL(dk__gossip_decode(bad, len, key, &msg), 0);
    }
    /* a count larger than the updates present, sealed with the key (a
     * member's bug): authentic, and still refused */
    memcpy(bad, buf, len);
    size_t count_pos = DK_GOSSIP_HEADER_LEN + 5 + 3 + 3 + 12; /* after the four strings */
    CU_ASSERT_EQUAL(dk_get_u16(bad + count_pos), 3);
    dk_put_u16(bad + count_pos, 4);
    tm_reseal(bad, len, key);
    CU_ASSERT_EQUAL(dk__gossip_decode(bad, len, key, &msg), DK_ECORRUPT);
    /* fields out of bounds are refused by the encoder */
    dk_gossip_enc e;
    CU_ASSERT_EQUAL(
        dk__gossip_enc_begin(&e, buf, sizeof buf, DK_GOSSIP_PING, 1, "test", "Bad Id", NULL, NULL), -EINVAL);
    CU_ASSERT_EQUAL(dk__gossip_enc_begin(&e, buf, sizeof buf, DK_GOSSIP_PING, 1, "test", "n1", NULL, NULL),
                    0);
    dk_member m = tm_member("ok", DK_MEMBER_NORMAL, 1);
    m.weight = 0;
    CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &m), -EINVAL);
    /* the encoder stops at the datagram size and leaves a valid message */
    int added = 0;
    m.weight = 1;
    memset(m.dc, 'd', DK_MEMBER_NAME_MAX);
    m.dc[DK_MEMBER_NAME_MAX] = '\0';
    while (dk__gossip_enc_add(&e, &m) == 0)
        added++;
    CU_ASSERT(added > 3 && added < 40);
    CU_ASSERT_EQUAL(dk__gossip_enc_finish(&e, key, 1, 1, &len), 0);
    CU_ASSERT(len <= sizeof buf);
    CU_ASSERT_EQUAL(dk__gossip_decode(buf, len, key, &msg), 0);
    CU_ASSERT_EQUAL(msg.n_updates, (uint32_t)added);
}

/* Ring status and actor incarnation ride in every update; an authentic
 * message with an out-of-range field or an unknown flag is refused. */
static void test_codec_status(void)
{
    uint8_t buf[DK_GOSSIP_UDP_MAX], old[DK_GOSSIP_UDP_MAX], key[DK_GOSSIP_KEY_LEN];
    tm_key(NULL, key);
    dk_gossip_enc e;
    size_t len = 0;
    CU_ASSERT_EQUAL(dk__gossip_enc_begin(&e, buf, sizeof buf, DK_GOSSIP_PING, 5, "test", "n1", NULL, NULL),
                    0);
    dk_member m = tm_member("down-leaver", DK_MEMBER_DOWN, 9);
    m.status = DK_STATUS_LEAVING;
    m.actor_inc = 70000;
    m.epoch = 1700000000123ull;
    CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &m), 0);
    m.status = (dk_member_status)(DK_STATUS_MAX + 1);
    CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &m), -EINVAL);
    m = tm_member("gone", DK_MEMBER_REMOVED, 3);
    m.status = DK_STATUS_REPLACING;
    m.actor_inc = 2;
    CU_ASSERT_EQUAL(dk__gossip_enc_add(&e, &m), 0);
    CU_ASSERT_EQUAL(dk__gossip_enc_finish(&e, key, 1, 1, &len), 0);
    dk_gossip_msg msg;
    CU_ASSERT_EQUAL_FATAL(dk__gossip_decode(buf, len, key, &msg), 0);
    const uint8_t *p = msg.updates;
    dk_member u;
    CU_ASSERT_EQUAL_FATAL(dk__gossip_update_next(&msg, &p, &u), 0);
    CU_ASSERT_EQUAL(u.state, DK_MEMBER_DOWN);
    CU_ASSERT_EQUAL(u.status, DK_STATUS_LEAVING);
    CU_ASSERT_EQUAL(u.actor_inc, 70000);
    CU_ASSERT_EQUAL(u.epoch, 1700000000123ull);
    CU_ASSERT_EQUAL_FATAL(dk__gossip_update_next(&msg, &p, &u), 0);
    CU_ASSERT_EQUAL(u.status, DK_STATUS_REPLACING);
    CU_ASSERT_EQUAL(u.actor_inc, 2);
    CU_ASSERT_EQUAL(dk__gossip_update_next(&msg, &p, &u), DK_EEOF);
    /* an out-of-range status with a valid MAC is refused */
    memcpy(old, buf, len);
    old[len - DK_GOSSIP_MAC_LEN - 3] = DK_STATUS_MAX + 1; /* the last update: status, actor 2, epoch 0 */
    tm_reseal(old, len, key);
    CU_ASSERT_EQUAL(dk__gossip_decode(old, len, key, &msg), DK_ECORRUPT);
    /* an unknown flag bit is refused */
    memcpy(old, buf, len);
    old[6] |= 0x04;
    tm_reseal(old, len, key);
    CU_ASSERT_EQUAL(dk__gossip_decode(old, len, key, &msg), DK_ECORRUPT);
    /* version 1 is refused before its MAC is even looked at */
    memcpy(old, buf, len);
    old[4] = 1;
    CU_ASSERT_EQUAL(dk__gossip_decode(old, len, key, &msg), DK_ECORRUPT);

    dk_member_status st;
    for (int i = DK_STATUS_JOINING; i <= DK_STATUS_MAX; i++) {
        CU_ASSERT_EQUAL(dk_member_status_parse(dk_member_status_name((dk_member_status)i), &st), 0);
        CU_ASSERT_EQUAL(st, (dk_member_status)i);
    }
    CU_ASSERT_EQUAL(dk_member_status_parse("zombie", &st), -EINVAL);
    CU_ASSERT(dk_member_status_current(DK_STATUS_REPLACING) &&
              !dk_member_status_readable(DK_STATUS_REPLACING));
    CU_ASSERT(!dk_member_status_current(DK_STATUS_JOINING) && dk_member_status_future(DK_STATUS_JOINING));
    CU_ASSERT(dk_member_status_current(DK_STATUS_LEAVING) && !dk_member_status_future(DK_STATUS_LEAVING));
}

static void test_state_names(void)
{
    dk_member_state s;
    for (int i = DK_MEMBER_JOINING; i <= DK_MEMBER_REMOVED; i++) {
        CU_ASSERT_EQUAL(dk_member_state_parse(dk_member_state_name((dk_member_state)i), &s), 0);
        CU_ASSERT_EQUAL(s, (dk_member_state)i);
    }
    CU_ASSERT_EQUAL(dk_member_state_parse("alive", &s), -EINVAL);
    CU_ASSERT_STRING_EQUAL(dk_member_state_name((dk_member_state)9), "unknown");
}

static CU_TestInfo gc_tests[] = {
    {"roundtrip", test_codec_roundtrip},
    {"ring status, bad fields under a valid MAC", test_codec_status},
    {"rejects", test_codec_rejects},
    {"state names", test_state_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "gossip codec", .pTests = gc_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
