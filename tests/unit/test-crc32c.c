/*
 * test-crc32c.c - util/crc32c: the CRC-32C check value, extension in
 * pieces, and dk_crc32c_combine against the direct CRC of the joined
 * bytes for many random splits of lengths 0 to 1 MiB (every bit of a
 * 20-bit length, so every precomputed power is used).
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>
#include "util/crc32c.h"

#define MAXLEN (1u << 20)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (uint8_t)next_rand();
    return p;
}

static void test_check_value(void)
{
    /* The catalogued check value of CRC-32C over "123456789". */
    CU_ASSERT_EQUAL(dk_crc32c("123456789", 9), 0xe3069283u);
    CU_ASSERT_EQUAL(dk_crc32c("", 0), 0);
    uint8_t *p = random_bytes(5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint32_t whole = dk_crc32c(p, 5000);
    for (size_t cut = 0; cut <= 5000; cut += 97)
        CU_ASSERT_EQUAL(dk_crc32c_extend(dk_crc32c(p, cut), p + cut, 5000 - cut), whole);
    free(p);
}

/* combine(crc(A), crc(B), |B|) == crc(A||B) for the split at cut. */
static int combine_ok(const uint8_t *p, size_t len, size_t cut)
{
    uint32_t a = dk_crc32c(p, cut), b = dk_crc32c(p + cut, len - cut);
    return dk_crc32c_combine(a, b, len - cut) == dk_crc32c(p, len);
}

static void test_combine_edges(void)
{
    uint8_t *p = random_bytes(MAXLEN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* Empty pieces on either side, and both. */
    CU_ASSERT_EQUAL(dk_crc32c_combine(0, 0, 0), 0);
    CU_ASSERT_EQUAL(dk_crc32c_combine(dk_crc32c(p, 10), 0, 0), dk_crc32c(p, 10));
    CU_ASSERT_EQUAL(dk_crc32c_combine(0, dk_crc32c(p, 10), 10), dk_crc32c(p, 10));
    /* Every length up to 64 at every cut, then powers of two and their
     * neighbours up to 1 MiB, cut at both ends and in the middle. */
    for (size_t len = 0; len <= 64; len++)
        for (size_t cut = 0; cut <= len; cut++)
            CU_ASSERT(combine_ok(p, len, cut));
    for (size_t k = 1; k <= MAXLEN; k <<= 1)
        for (size_t len = k - 1; len <= k + 1 && len <= MAXLEN; len++) {
            CU_ASSERT(combine_ok(p, len, 0));
            CU_ASSERT(combine_ok(p, len, len));
            CU_ASSERT(combine_ok(p, len, len / 2));
            CU_ASSERT(combine_ok(p, len, len > 0 ? 1 : 0));
            CU_ASSERT(combine_ok(p, len, len > 0 ? len - 1 : 0));
        }
    CU_ASSERT(combine_ok(p, MAXLEN, 12));
    free(p);
}

static void test_combine_random(void)
{
    uint8_t *p = random_bytes(MAXLEN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    unsigned bad = 0;
    for (int i = 0; i < 400; i++) {
        /* Lengths spread over every magnitude: a random bit width first. */
        size_t len = (size_t)(next_rand() & ((1u << (next_rand() % 21)) - 1));
        if (len > MAXLEN)
            len = MAXLEN;
        size_t cut = len ? (size_t)(next_rand() % (len + 1)) : 0;
        bad += !combine_ok(p, len, cut);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* Three pieces, joined left to right and right to left. */
    for (int i = 0; i < 50; i++) {
        size_t len = (size_t)(next_rand() % (MAXLEN + 1));
        size_t c1 = (size_t)(next_rand() % (len + 1)), c2 = (size_t)(next_rand() % (len + 1));
        if (c1 > c2) {
            size_t t = c1;
            c1 = c2;
            c2 = t;
        }
        uint32_t a = dk_crc32c(p, c1), b = dk_crc32c(p + c1, c2 - c1), c = dk_crc32c(p + c2, len - c2);
        uint32_t whole = dk_crc32c(p, len);
        CU_ASSERT_EQUAL(dk_crc32c_combine(dk_crc32c_combine(a, b, c2 - c1), c, len - c2), whole);
        CU_ASSERT_EQUAL(dk_crc32c_combine(a, dk_crc32c_combine(b, c, len - c2), len - c1), whole);
    }
    free(p);
}

static void test_combine_large_length(void)
{
    /* Lengths beyond 1 MiB use the high powers: a run of zeros has a
     * CRC the extension computes directly, so combine is checked against
     * extending over 3 MiB + 5 zero bytes. */
    size_t n = 3u * MAXLEN + 5;
    uint8_t *z = calloc(1, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    uint32_t a = dk_crc32c("dynkv", 5);
    CU_ASSERT_EQUAL(dk_crc32c_combine(a, dk_crc32c(z, n), n), dk_crc32c_extend(a, z, n));
    free(z);
}

static CU_TestInfo crc_tests[] = {
    {"check value and extension in pieces", test_check_value},
    {"combine: empty pieces, short and power-of-two lengths", test_combine_edges},
    {"combine: random splits of lengths 0..1 MiB", test_combine_random},
    {"combine: lengths past 1 MiB", test_combine_large_length},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "crc32c", .pTests = crc_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
