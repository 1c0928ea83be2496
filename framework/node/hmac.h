/*
 * hmac.h - HMAC-SHA256 (RFC 2104) under a key absorbed once: two SHA-256
 * states, one with the key's inner pad hashed, one with its outer pad, are
 * kept; a MAC copies each and finishes it. OpenSSL computes every digest;
 * only the composition is here.
 */
#ifndef DK_HMAC_H
#define DK_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define DK_HMAC_LEN 32u

typedef struct dk_hmac dk_hmac;

/* A state keyed with key[0..keylen) (any length: a key longer than the
 * block is hashed first, as RFC 2104 says), or NULL when out of memory. */
dk_hmac *dk_hmac_new(const void *key, size_t keylen);

/* HMAC-SHA256(key, p[0..len)) into out. 0, or -ENOMEM when OpenSSL fails.
 * The state is reused, not changed: one thread at a time per state. */
int dk_hmac_mac(dk_hmac *h, const void *p, size_t len, uint8_t out[DK_HMAC_LEN]);

void dk_hmac_free(dk_hmac *h);

#endif
