/*
 * bloom.h - one bloom filter per table over its user keys (bloom.c).
 *
 * Layout: the bit array, then one byte k (probes per key). Probe i of a
 * key with 64-bit hash h tests bit (h1 + i*h2) mod nbits (Kirsch and
 * Mitzenmacher's double hashing, h1/h2 the two halves of h).
 */
#ifndef DK_LSM_BLOOM_H
#define DK_LSM_BLOOM_H
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* A 64-bit hash of user keys (stable on disk: changing it breaks filters). */
uint64_t dk__lsm_hash64(const void *p, size_t n);
/* Append a filter for n key hashes at bits_per_key to out. */
int dk__lsm_bloom_build(dk_buf *out, const uint64_t *hashes, size_t n, unsigned bits_per_key);
/* 0 when the key is surely absent; 1 when it may be present (also for a
 * malformed filter, so a bad filter costs a read, never a wrong answer). */
int dk__lsm_bloom_may_match(const uint8_t *f, size_t len, uint64_t h);
#endif
