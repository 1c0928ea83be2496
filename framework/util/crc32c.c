/*
 * crc32c.c - CRC-32C. A table-driven slice-by-1 fallback plus the SSE4.2
 * instruction (three interleaved streams on long inputs), chosen once at
 * first use through a cpuid check. zlib only offers the other CRC-32
 * polynomial, so this one is ours.
 *
 * dk_crc32c_combine joins two CRCs by linearity: with S(M) the raw state
 * (before the final inversion) after M, S(A||B) = S(A) * x^(8|B|) xor
 * S'(B), S'(B) the state after B from 0; written with the public
 * (inverted) CRCs the two inversions cancel:
 * crc(A||B) = crc(A) * x^(8|B|) mod P  xor  crc(B). The power is taken
 * from x^(8 * 2^k) (crc_pow2, squared at init) for each bit k set in |B|.
 */
#include "util/crc32c.h"

#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static uint32_t crc_table[256];
static int crc_mode;  /* 0 unknown, 1 table, 2 sse4.2 */
static int crc_clmul; /* the CPU has pclmulqdq and sse4.2 */
/* crc_pow2[k] = x^(8 * 2^k) mod P, reflected: shifting a CRC through
 * 2^k zero bytes is a multiplication by it. */
static uint32_t crc_pow2[64];

/* a * b mod P over GF(2), both in reflected bit order (bit 31 = x^0). */
static uint32_t crc_mulmod(uint32_t a, uint32_t b)
{
    uint32_t prod = 0;
    for (uint32_t bit = 1u << 31; bit; bit >>= 1) {
        if (a & bit)
            prod ^= b;
        b = (b & 1) ? (b >> 1) ^ 0x82f63b78u : b >> 1; /* b *= x */
    }
    return prod;
}

#if defined(__x86_64__)
#define CRC_BLOCK 1024u
/* crc_shift[j][v] = (v << 8j) * x^(8 * CRC_BLOCK) mod P: multiplying a
 * state by x^(8 * CRC_BLOCK) is linear, so it is four lookups. */
static uint32_t crc_shift[4][256];

static uint32_t crc_shift_by_block(uint32_t c)
{
    return crc_shift[0][c & 0xff] ^ crc_shift[1][(c >> 8) & 0xff] ^ crc_shift[2][(c >> 16) & 0xff] ^
           crc_shift[3][c >> 24];
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    /* x^8: bit 31 is x^0 in the reflected order. */
    crc_pow2[0] = 1u << (31 - 8);
    for (int k = 1; k < 64; k++)
        crc_pow2[k] = crc_mulmod(crc_pow2[k - 1], crc_pow2[k - 1]);
    int mode = 1;
#if defined(__x86_64__)
    /* x^(8 * CRC_BLOCK): start from x^0 (bit 31 reflected), multiply by x
     * 8 * CRC_BLOCK times. */
    uint32_t k = 1u << 31;
    for (unsigned i = 0; i < 8 * CRC_BLOCK; i++)
        k = (k & 1) ? (k >> 1) ^ 0x82f63b78u : k >> 1;
    for (unsigned j = 0; j < 4; j++)
        for (uint32_t v = 0; v < 256; v++)
            crc_shift[j][v] = crc_mulmod(k, v << (8 * j));
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2)) {
        mode = 2;
        crc_clmul = (c & bit_PCLMUL) != 0;
    }
#endif
    __atomic_store_n(&crc_mode, mode, __ATOMIC_RELEASE);
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of 3 cycles and a throughput of
 * one per cycle, so one dependent chain runs at a third of the speed the
 * unit allows. Long inputs are cut into rounds of three CRC_BLOCK-byte
 * stripes, each with its own chain; the three states are then joined
 * with CRC linearity: the raw state after A||B is
 * crc(A) * x^(8|B|) mod P  xor  crc(B) started from 0. */

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 3 * CRC_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < CRC_BLOCK; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + CRC_BLOCK + i, 8);
            memcpy(&v2, p + 2 * CRC_BLOCK + i, 8);
            c = __builtin_ia32_crc32di(c, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c = crc_shift_by_block(crc_shift_by_block((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * CRC_BLOCK;
        n -= 3 * CRC_BLOCK;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t dk_crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    int mode = __atomic_load_n(&crc_mode, __ATOMIC_ACQUIRE);
    if (mode == 0) {
        crc_init();
        mode = crc_mode;
    }
    crc = ~crc;
#if defined(__x86_64__)
    if (mode == 2)
        return ~crc_hw(crc, p, n);
#endif
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
/* crc_mulmod with the carry-less multiply. Bit i of a reflected word is
 * x^(31-i), so bit m of the 63-bit integer product a*b is x^(62-m);
 * shifted left by one, bit j is x^(63-j): the high word is the part of
 * degree < 32, already reduced, and the low word L is a reflected word
 * times x^32, which the crc32 instruction (from 0) reduces mod P. */
__attribute__((target("sse4.2,pclmul"))) static uint32_t crc_mulmod_hw(uint32_t a, uint32_t b)
{
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a), _mm_cvtsi32_si128((int)b), 0);
    uint64_t d = (uint64_t)_mm_cvtsi128_si64(p) << 1;
    return __builtin_ia32_crc32si(0, (uint32_t)d) ^ (uint32_t)(d >> 32);
}
#endif

uint32_t dk_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    if (__atomic_load_n(&crc_mode, __ATOMIC_ACQUIRE) == 0)
        crc_init();
    for (int k = 0; len_b; k++, len_b >>= 1) {
        if (!(len_b & 1))
            continue;
#if defined(__x86_64__)
        if (crc_clmul) {
            crc_a = crc_mulmod_hw(crc_a, crc_pow2[k]);
            continue;
        }
#endif
        crc_a = crc_mulmod(crc_a, crc_pow2[k]);
    }
    return crc_a ^ crc_b;
}
