/*
 * rpc_auth.c - handshake proofs, session keys and frame MACs of the RPC
 * transport (the scheme and its reasons are in rpc_auth.h).
 *
 * Frame MACs keep one keyed EVP_MAC context per direction and re-initialise
 * it per frame with the stored key (EVP_MAC_init with a NULL key), so a
 * frame costs the HMAC's two extra compression blocks and no allocation or
 * algorithm lookup.
 */
#include <errno.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
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

int dk_rpc_auth_session(const uint8_t key[DK_RPC_KEY_LEN], const dk_msg_hello *ini, const dk_msg_hello *acc,
                        uint8_t i2a[DK_RPC_KEY_LEN], uint8_t a2i[DK_RPC_KEY_LEN])
{
    int rc = auth_hmac(key, "initiator->acceptor", ini, acc, i2a);
    return rc ? rc : auth_hmac(key, "acceptor->initiator", ini, acc, a2i);
}

/* ---- frame MACs ------------------------------------------------------------ */

int dk_rpc_mac_init(dk_rpc_mac *m, const uint8_t key[DK_RPC_KEY_LEN])
{
    m->ctx = NULL;
    m->seq = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        return DK_ECORRUPT;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (!ctx)
        return -ENOMEM;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!EVP_MAC_init(ctx, key, DK_RPC_KEY_LEN, params)) {
        EVP_MAC_CTX_free(ctx);
        return DK_ECORRUPT;
    }
    m->ctx = ctx;
    return 0;
}

/* HMAC(key, u64(seq) frame) truncated to the tag length. */
static int mac_tag(dk_rpc_mac *m, const uint8_t *frame, size_t len, uint8_t tag[DK_RPC_TAG_LEN])
{
    EVP_MAC_CTX *ctx = m->ctx;
    uint8_t seq[8], full[32];
    size_t out = 0;
    for (int i = 0; i < 8; i++)
        seq[i] = (uint8_t)(m->seq >> (8 * i));
    if (!ctx || !EVP_MAC_init(ctx, NULL, 0, NULL) || !EVP_MAC_update(ctx, seq, sizeof(seq)) ||
        !EVP_MAC_update(ctx, frame, len) || !EVP_MAC_final(ctx, full, &out, sizeof(full)) || out != 32)
        return DK_ECORRUPT;
    memcpy(tag, full, DK_RPC_TAG_LEN);
    return 0;
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
    EVP_MAC_CTX_free(m->ctx);
    m->ctx = NULL;
}
