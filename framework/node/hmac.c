/*
 * hmac.c - HMAC-SHA256 from two pre-keyed digest states (hmac.h).
 *
 * Why not EVP_MAC: re-initialising a keyed EVP_MAC_CTX (EVP_MAC_init with
 * no key) and running it, for a 45-byte message, took 6 690 instructions
 * (callgrind) and ~250 ns at best; copying two SHA-256 states that already
 * absorbed the padded key and finishing them takes 6 130 and ~175 ns
 * (bench/results/getcpu7-2026-12-05-s11.md). Every GET answer carries two
 * MACs (context and session token). tests/unit/test-hmac.c checks the
 * result against EVP_MAC's HMAC.
 *
 * Why SHA256_CTX and not EVP_MD_CTX where OpenSSL still has it: under
 * OpenSSL 3 EVP_MD_CTX_copy_ex duplicates the provider's context, a
 * malloc, a free and two cleanses per copy (two copies per MAC); a
 * SHA256_CTX is a plain struct copied by assignment and runs the same
 * block function (bench/results/getalloc-2026-12-06-s12.md). The EVP
 * version stays for an OpenSSL built without its deprecated API.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co. are deprecated in 3.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "node/hmac.h"

#ifndef OPENSSL_NO_DEPRECATED_3_0
#define HMAC_LOW_LEVEL 1
#endif

#define HMAC_BLOCK 64u /* SHA-256's block size */

#ifdef HMAC_LOW_LEVEL

struct dk_hmac {
    SHA256_CTX inner; /* SHA-256 after (key ^ ipad) */
    SHA256_CTX outer; /* SHA-256 after (key ^ opad) */
};

static int hmac_pad(SHA256_CTX *c, const uint8_t k[HMAC_BLOCK], uint8_t pad)
{
    uint8_t b[HMAC_BLOCK];
    for (unsigned i = 0; i < HMAC_BLOCK; i++)
        b[i] = k[i] ^ pad;
    int ok = SHA256_Init(c) && SHA256_Update(c, b, sizeof(b));
    OPENSSL_cleanse(b, sizeof(b));
    return ok;
}

static int hmac_alloc(dk_hmac *h)
{
    (void)h;
    return 1;
}

int dk_hmac_mac(dk_hmac *h, const void *p, size_t len, uint8_t out[DK_HMAC_LEN])
{
    uint8_t in[DK_HMAC_LEN];
    SHA256_CTX w = h->inner;
    int ok = SHA256_Update(&w, p, len) && SHA256_Final(in, &w);
    w = h->outer;
    ok = ok && SHA256_Update(&w, in, sizeof(in)) && SHA256_Final(out, &w);
    return ok ? 0 : -ENOMEM;
}

void dk_hmac_free(dk_hmac *h)
{
    if (!h)
        return;
    OPENSSL_cleanse(h, sizeof(*h));
    free(h);
}

#else

struct dk_hmac {
    EVP_MD_CTX *inner; /* SHA-256 after (key ^ ipad) */
    EVP_MD_CTX *outer; /* SHA-256 after (key ^ opad) */
    EVP_MD_CTX *work;  /* a copy of one of them, finished per MAC */
};

/* c := SHA-256 state after the block k ^ pad. */
static int hmac_pad(EVP_MD_CTX **c, const uint8_t k[HMAC_BLOCK], uint8_t pad)
{
    uint8_t b[HMAC_BLOCK];
    for (unsigned i = 0; i < HMAC_BLOCK; i++)
        b[i] = k[i] ^ pad;
    int ok = EVP_DigestInit_ex(*c, EVP_sha256(), NULL) && EVP_DigestUpdate(*c, b, sizeof(b));
    OPENSSL_cleanse(b, sizeof(b));
    return ok;
}

static int hmac_alloc(dk_hmac *h)
{
    return (h->inner = EVP_MD_CTX_new()) && (h->outer = EVP_MD_CTX_new()) && (h->work = EVP_MD_CTX_new());
}

int dk_hmac_mac(dk_hmac *h, const void *p, size_t len, uint8_t out[DK_HMAC_LEN])
{
    uint8_t in[DK_HMAC_LEN];
    int ok = EVP_MD_CTX_copy_ex(h->work, h->inner) && EVP_DigestUpdate(h->work, p, len) &&
             EVP_DigestFinal_ex(h->work, in, NULL) && EVP_MD_CTX_copy_ex(h->work, h->outer) &&
             EVP_DigestUpdate(h->work, in, sizeof(in)) && EVP_DigestFinal_ex(h->work, out, NULL);
    return ok ? 0 : -ENOMEM;
}

void dk_hmac_free(dk_hmac *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_CTX_free(h->work);
    free(h);
}

#endif

dk_hmac *dk_hmac_new(const void *key, size_t keylen)
{
    uint8_t k[HMAC_BLOCK] = {0};
    dk_hmac *h = calloc(1, sizeof(*h));
    int ok = h && hmac_alloc(h);
    if (ok && keylen > HMAC_BLOCK)
        ok = EVP_Digest(key, keylen, k, NULL, EVP_sha256(), NULL);
    else if (ok && keylen)
        memcpy(k, key, keylen);
    ok = ok && hmac_pad(&h->inner, k, 0x36) && hmac_pad(&h->outer, k, 0x5c);
    OPENSSL_cleanse(k, sizeof(k));
    if (!ok) {
        dk_hmac_free(h);
        return NULL;
    }
    return h;
}
