/*
 * fuzz-gossip.c - libFuzzer target for the membership message decoder
 * (framework/gossip/gossip_msg.c) and the freshness guard that judges what
 * it accepts (framework/gossip/gossip_guard.c): datagrams and push-pull
 * messages.
 *
 * Input: one selector byte, then the message. Bit 0 of the selector picks
 * one of two fixed gossip keys. Every input is decoded twice:
 *   - authentication on: the bytes as they are, under the key; anything
 *     not sealed with it must be refused before a field is read (and the
 *     unauthenticated peek at the cluster name, used for log lines, runs
 *     on the same bytes);
 *   - authentication off: the same bytes re-sealed with a valid MAC, so
 *     the field parsers behind the MAC are fuzzed as if a member (with a
 *     bug) had sent them.
 * Every decoded message's updates are read back and checked against the
 * bounds the decoder promises (incarnation bound included), and its clock
 * and counter go through a guard shared by the whole run (bit 1 of the
 * selector sets the guard's clock to the message's own, so both the
 * window and the replay paths are reached).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "gossip/gossip_guard.h"
#include "gossip/gossip_msg.h"

static dk_gossip_guard fg_guard;
static int fg_guard_ready;

static void fg_check(const uint8_t *p, size_t n, const uint8_t *key, int own_clock)
{
    dk_gossip_msg msg;
    if (dk__gossip_decode(p, n, key, &msg) != 0)
        return;
    const uint8_t *cur = msg.updates;
    dk_member u;
    uint32_t k = 0;
    while (dk__gossip_update_next(&msg, &cur, &u) == 0) {
        if (u.state > DK_MEMBER_REMOVED || u.status > DK_STATUS_MAX || u.weight < 1 || u.weight > 100 ||
            !u.id[0] || strlen(u.id) > DK_MEMBER_NAME_MAX || strlen(u.gossip_addr) >= DK_MEMBER_ADDR_MAX ||
            u.incarnation > DK_MEMBER_INC_MAX)
            abort();
        k++;
    }
    if (k != msg.n_updates || cur != msg.updates_end)
        abort();
    if (!fg_guard_ready) {
        dk__gossip_guard_init(&fg_guard, 30000);
        fg_guard_ready = 1;
    }
    uint64_t now = own_clock ? msg.sent_ms : 1800000000000ull;
    int rc = dk__gossip_guard_check(&fg_guard, msg.from, msg.sent_ms, msg.msg_seq, now, msg.seq);
    if (rc != 0 && rc != DK_GOSSIP_REJ_STALE && rc != DK_GOSSIP_REJ_REPLAY)
        abort();
    /* what was just accepted is a replay now */
    if (rc == 0 && dk__gossip_guard_check(&fg_guard, msg.from, msg.sent_ms, msg.msg_seq, now, msg.seq) !=
                       DK_GOSSIP_REJ_REPLAY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > DK_GOSSIP_FRAME_MAX)
        return 0;
    uint8_t key[DK_GOSSIP_KEY_LEN];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (data[0] & 1) ? (uint8_t)(0xff - i) : (uint8_t)i;
    int own_clock = (data[0] & 2) != 0;
    data++;
    size--;
    char claimed[DK_MEMBER_NAME_MAX + 1];
    if (dk__gossip_peek_cluster(data, size, claimed) == 0 && strlen(claimed) > DK_MEMBER_NAME_MAX)
        abort();
    fg_check(data, size, key, own_clock);

    /* the same bytes with a valid MAC in place of their last 32 */
    if (size < DK_GOSSIP_MAC_LEN)
        return 0;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, DK_GOSSIP_KEY_LEN, buf, size - DK_GOSSIP_MAC_LEN, buf + size - DK_GOSSIP_MAC_LEN,
         &len);
    fg_check(buf, size, key, own_clock);
    free(buf);
    return 0;
}
