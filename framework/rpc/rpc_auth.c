/*
 * rpc_auth.c - handshake proofs, session keys and frame MACs of the RPC
 * transport (the scheme and its reasons are in rpc_auth.h).
 *
 * Frame MACs keep one GCM128_CONTEXT per direction (OpenSSL's GCM mode,
 * <openssl/modes.h>) over an AES-128-ECB EVP_CIPHER_CTX, both keyed once
 * when the handshake ends (the AES key schedule and the GHASH key are
 * computed there); a frame sets the IV, feeds the frame as AAD and reads
 * the tag, so it costs GHASH over the frame plus one AES block, with no
 * allocation or algorithm lookup. GCM through EVP (EVP_EncryptInit_ex for
 * the IV, EVP_CIPHER_CTX_ctrl for the tag) gives the same tags and the same
 * GHASH code, but its parameter plumbing cost ~1 760 more instructions per
 * frame (callgrind: 2 570 against 806 for a 64-byte frame), eight times
 * per quorum PUT over the three nodes (bench/results/cluster15-2026-12-06-s15.md).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/modes.h>
#include "rpc/rpc_auth.h"

/* Upper bound of lp(role) plus the transcript. */
#define T_MAX (3 * (1 + DK_CLUSTER_NAME_MAX) + 1 + 16 + 3 * 4 + 2 * DK_HELLO_NONCE_LEN + 32)

static void put_lp(uint8_t *buf, size_t *n, const char *s)
{
    size_t len = strlen(s);
    buf[(*n)++] = (uint8_t)len;
    memcpy(buf + *n, s, len);
    *n += len;
}

static void put_u32(uint8_t *buf, size_t *n, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        buf[(*n)++] = (uint8_t)(v >> (8 * i));
}

/* HMAC-SHA256(key, lp(label) T) into out. */
static int auth_hmac(const uint8_t key[DK_RPC_KEY_LEN], const char *label, const dk_msg_hello *ini,
                     const dk_msg_hello *acc, uint8_t out[32])
{
    if (strlen(label) > 32 || strnlen(ini->cluster, sizeof(ini->cluster)) > DK_CLUSTER_NAME_MAX ||
        strnlen(ini->node_id, sizeof(ini->node_id)) > DK_NODE_ID_MAX ||
        strnlen(acc->node_id, sizeof(acc->node_id)) > DK_NODE_ID_MAX || !ini->node_id[0] || !acc->node_id[0])
        return -EINVAL;
    uint8_t buf[T_MAX];
    size_t n = 0;
    put_lp(buf, &n, label);
    put_lp(buf, &n, "dynkv-rpc");
    put_u32(buf, &n, ini->proto_version);
    put_lp(buf, &n, ini->cluster);
    put_lp(buf, &n, ini->node_id);
    put_u32(buf, &n, ini->incarnation);
    memcpy(buf + n, ini->nonce, DK_HELLO_NONCE_LEN);
    n += DK_HELLO_NONCE_LEN;
    put_lp(buf, &n, acc->node_id);
    put_u32(buf, &n, acc->incarnation);
    memcpy(buf + n, acc->nonce, DK_HELLO_NONCE_LEN);
    n += DK_HELLO_NONCE_LEN;
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)DK_RPC_KEY_LEN, buf, n, out, &len) || len != 32)
        return DK_ECORRUPT;
    return 0;
}

int dk_rpc_auth_proof(const uint8_t key[DK_RPC_KEY_LEN], const char *role, const dk_msg_hello *ini,
                      const dk_msg_hello *acc, uint8_t out[DK_HELLO_MAC_LEN])
{
    return auth_hmac(key, role, ini, acc, out);
}

int dk_rpc_auth_check(const uint8_t key[DK_RPC_KEY_LEN], const char *role, const dk_msg_hello *ini,
                      const dk_msg_hello *acc, const uint8_t mac[DK_HELLO_MAC_LEN])
{
    uint8_t want[DK_HELLO_MAC_LEN];
    int rc = auth_hmac(key, role, ini, acc, want);
    if (!rc && CRYPTO_memcmp(want, mac, DK_HELLO_MAC_LEN) != 0)
        rc = -EACCES;
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}

/* The first DK_RPC_SKEY_LEN bytes of HMAC-SHA256(K, lp(label) T). */
static int session_key(const uint8_t key[DK_RPC_KEY_LEN], const char *label, const dk_msg_hello *ini,
                       const dk_msg_hello *acc, uint8_t out[DK_RPC_SKEY_LEN])
{
    uint8_t full[32];
    int rc = auth_hmac(key, label, ini, acc, full);
    if (!rc)
        memcpy(out, full, DK_RPC_SKEY_LEN);
    OPENSSL_cleanse(full, sizeof(full));
    return rc;
}

int dk_rpc_auth_session(const uint8_t key[DK_RPC_KEY_LEN], const dk_msg_hello *ini, const dk_msg_hello *acc,
                        uint8_t i2a[DK_RPC_SKEY_LEN], uint8_t a2i[DK_RPC_SKEY_LEN])
{
    int rc = session_key(key, "initiator->acceptor", ini, acc, i2a);
    return rc ? rc : session_key(key, "acceptor->initiator", ini, acc, a2i);
}

/* ---- frame MACs ------------------------------------------------------------ */

/* The block function GCM calls: one AES block through the ECB context
 * (AES-NI when the CPU has it, as EVP's GCM uses). */
static void mac_block(const unsigned char in[16], unsigned char out[16], const void *key)
{
    int n = 0;
    /* Cannot fail for a keyed ECB context and a whole block, padding off. */
    (void)EVP_EncryptUpdate((EVP_CIPHER_CTX *)(uintptr_t)key, out, &n, in, 16);
}

int dk_rpc_mac_init(dk_rpc_mac *m, const uint8_t key[DK_RPC_SKEY_LEN])
{
    m->ctx = m->gcm = NULL;
    m->seq = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return -ENOMEM;
    if (!EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) || !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
        EVP_CIPHER_CTX_free(ctx);
        return DK_ECORRUPT;
    }
    GCM128_CONTEXT *gcm = CRYPTO_gcm128_new(ctx, mac_block);
    if (!gcm) {
        EVP_CIPHER_CTX_free(ctx);
        return -ENOMEM;
    }
    m->ctx = ctx;
    m->gcm = gcm;
    return 0;
}

/* GMAC(key, nonce(seq), AAD = frame): AES-128-GCM over no plaintext. The
 * frame may come in parts: GCM takes its AAD in any number of updates, and
 * the tag is the same as over the parts laid end to end. */
static int mac_tag_v(dk_rpc_mac *m, const dk_slice *parts, size_t n, uint8_t tag[DK_RPC_TAG_LEN])
{
    uint8_t nonce[DK_RPC_NONCE_LEN] = {0};
    /* 2^64 - 1 frames would wrap the nonce; no connection gets there, but
     * a reused nonce must be impossible, not improbable. */
    if (!m->gcm || m->seq == UINT64_MAX)
        return DK_ECORRUPT;
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(m->seq >> (8 * i));
    CRYPTO_gcm128_setiv(m->gcm, nonce, sizeof(nonce));
    for (size_t i = 0; i < n; i++)
        if (parts[i].len > INT_MAX ||
            (parts[i].len && CRYPTO_gcm128_aad(m->gcm, parts[i].ptr, parts[i].len) != 0))
            return DK_ECORRUPT;
    CRYPTO_gcm128_tag(m->gcm, tag, DK_RPC_TAG_LEN);
    return 0;
}

static int mac_tag(dk_rpc_mac *m, const uint8_t *frame, size_t len, uint8_t tag[DK_RPC_TAG_LEN])
{
    dk_slice one = {frame, len};
    return mac_tag_v(m, &one, 1, tag);
}

int dk_rpc_mac_seal_v(dk_rpc_mac *m, const dk_slice *parts, size_t n, uint8_t tag[DK_RPC_TAG_LEN])
{
    int rc = mac_tag_v(m, parts, n, tag);
    if (!rc)
        m->seq++;
    return rc;
}

int dk_rpc_mac_seal(dk_rpc_mac *m, const uint8_t *frame, size_t len, uint8_t tag[DK_RPC_TAG_LEN])
{
    int rc = mac_tag(m, frame, len, tag);
    if (!rc)
        m->seq++;
    return rc;
}

int dk_rpc_mac_open(dk_rpc_mac *m, const uint8_t *frame, size_t len, const uint8_t tag[DK_RPC_TAG_LEN])
{
    uint8_t want[DK_RPC_TAG_LEN];
    int rc = mac_tag(m, frame, len, want);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(want, tag, DK_RPC_TAG_LEN) != 0)
        return -EACCES;
    m->seq++;
    return 0;
}

void dk_rpc_mac_free(dk_rpc_mac *m)
{
    CRYPTO_gcm128_release(m->gcm); /* wipes the GHASH key; NULL is a no-op */
    EVP_CIPHER_CTX_free(m->ctx);
    m->gcm = m->ctx = NULL;
}
