/*
 * fuzz-gossip.c - libFuzzer target for the membership message decoder
 * (framework/gossip_msg.c): datagrams and push-pull messages.
 *
 * The first input byte chooses whether a shared secret is configured (so
 * the MAC path is reached too); the rest is the message. Because random
 * bytes rarely pass the CRC, the target also re-seals the input with a
 * correct CRC (and MAC) and decodes that, so the field parsers behind the
 * checksum are fuzzed as well. Every decoded message's updates are read
 * back and checked against the bounds the decoder promises. The input's
 * EXT flag survives the re-sealing, so both update layouts (with and
 * without the ring status) are reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "gossip/gossip_msg.h"
#include "util/coding.h"
#include "util/crc32c.h"

static void fg_check(const uint8_t *p, size_t n, const char *secret)
{
    dk_gossip_msg msg;
    if (dk__gossip_decode(p, n, secret, &msg) != 0)
        return;
    const uint8_t *cur = msg.updates;
    dk_member u;
    uint32_t k = 0;
    while (dk__gossip_update_next(&msg, &cur, &u) == 0) {
        if (u.state > DK_MEMBER_REMOVED || u.status > DK_STATUS_MAX || u.weight < 1 || u.weight > 100 || !u.id[0] ||
            strlen(u.id) > DK_MEMBER_NAME_MAX || strlen(u.gossip_addr) >= DK_MEMBER_ADDR_MAX)
            abort();
        k++;
    }
    if (k != msg.n_updates || cur != msg.updates_end)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > DK_GOSSIP_FRAME_MAX)
        return 0;
    const char *secret = (data[0] & 1) ? "fuzz-secret" : NULL;
    data++;
    size--;
    fg_check(data, size, secret);

    /* the same bytes with a valid trailer */
    size_t trailer = 4 + (secret ? DK_GOSSIP_MAC_LEN : 0);
    uint8_t *buf = malloc(size + trailer + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size >= 7)
        buf[6] = (uint8_t)((buf[6] & DK_GOSSIP_FLAG_EXT) | (secret ? DK_GOSSIP_FLAG_MAC : 0));
    dk_put_u32(buf + size, dk_crc32c_mask(dk_crc32c(buf, size)));
    if (secret) {
        unsigned int len = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), buf, size + 4, buf + size + 4, &len);
    }
    fg_check(buf, size + trailer, secret);
    free(buf);
    return 0;
}
