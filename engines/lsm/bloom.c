/*
 * bloom.c - bloom filter and key hash (bloom.h).
 *
 * k = bits_per_key * ln 2 probes minimises false positives: 7 probes at
 * 10 bits/key give about 0.8%. A per-table ("full") filter rather than
 * LevelDB's one filter per 2 KiB of data: one probe set per table and
 * lookup, at the cost of holding the whole filter in memory, which the
 * engine does anyway (filters are pinned with the table).
 */
#include "bloom.h"

#include <string.h>

static uint64_t bl_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t dk__lsm_hash64(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 0x243f6a8885a308d3ull ^ (n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = bl_mix(h ^ k, 0xa0761d6478bd642full);
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)p[i] << (8 * i);
    h = bl_mix(h ^ t ^ 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull);
    return bl_mix(h, 0x589965cc75374cc3ull);
}

int dk__lsm_bloom_build(dk_buf *out, const uint64_t *hashes, size_t n, unsigned bits_per_key)
{
    if (bits_per_key == 0)
        bits_per_key = 10;
    unsigned k = (unsigned)(bits_per_key * 0.69 + 0.5);
    if (k < 1)
        k = 1;
    if (k > 30)
        k = 30;
    size_t nbits = n * bits_per_key;
    if (nbits < 64)
        nbits = 64;
    size_t nbytes = (nbits + 7) / 8;
    nbits = nbytes * 8;
    int rc = dk_buf_reserve(out, nbytes + 1);
    if (rc)
        return rc;
    uint8_t *bits = out->data + out->len;
    memset(bits, 0, nbytes);
    for (size_t i = 0; i < n; i++) {
        uint64_t h1 = hashes[i], h2 = (hashes[i] >> 32) | 1;
        for (unsigned j = 0; j < k; j++) {
            uint64_t b = (h1 + j * h2) % nbits;
            bits[b / 8] |= (uint8_t)(1u << (b % 8));
        }
    }
    bits[nbytes] = (uint8_t)k;
    out->len += nbytes + 1;
    return 0;
}

int dk__lsm_bloom_may_match(const uint8_t *f, size_t len, uint64_t h)
{
    if (len < 2)
        return 1;
    unsigned k = f[len - 1];
    if (k < 1 || k > 30)
        return 1;
    uint64_t nbits = (uint64_t)(len - 1) * 8;
    uint64_t h1 = h, h2 = (h >> 32) | 1;
    for (unsigned j = 0; j < k; j++) {
        uint64_t b = (h1 + j * h2) % nbits;
        if (!(f[b / 8] & (1u << (b % 8))))
            return 0;
    }
    return 1;
}
