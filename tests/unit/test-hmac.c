/*
 * test-hmac.c - HMAC-SHA256 from pre-keyed digest states
 * (framework/node/hmac.c) equals OpenSSL's EVP_MAC HMAC for keys of every
 * length around the block size (empty, shorter, equal, longer: hashed) and
 * messages of every length up to a few blocks, through one state reused
 * for many messages; and dk_context_mac (node/context.c), which keeps such
 * states per thread for two keys, answers the same truncated MAC when
 * three keys take turns (a slot is evicted and keyed again).
 */
#include <CUnit/CUnit.h>
#include <string.h>
#include <openssl/evp.h>

#include "node/context.h"
#include "node/hmac.h"

/* Deterministic bytes (xorshift), so a failure names a reproducible case. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static void reference(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len, uint8_t out[32])
{
    size_t got = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, msg, len, out, 32, &got));
    CU_ASSERT_EQUAL_FATAL(got, 32);
}

static void test_equals_evp_mac(void)
{
    static const size_t keylens[] = {0, 1, 16, 31, 32, 33, 55, 63, 64, 65, 100, 128, 200};
    uint8_t key[200], msg[300], a[32], b[32];
    unsigned cases = 0;
    for (size_t k = 0; k < sizeof(keylens) / sizeof(keylens[0]); k++) {
        fill(key, keylens[k], (uint32_t)k + 1);
        dk_hmac *h = dk_hmac_new(key, keylens[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        for (size_t len = 0; len <= sizeof(msg); len += (len < 140 ? 1 : 7)) {
            fill(msg, len, (uint32_t)(k * 1000 + len));
            CU_ASSERT_EQUAL_FATAL(dk_hmac_mac(h, msg, len, a), 0);
            reference(key, keylens[k], msg, len, b);
            if (memcmp(a, b, 32) != 0) {
                fprintf(stderr, "mismatch: key length %zu, message length %zu\n", keylens[k], len);
                CU_FAIL_FATAL("HMAC differs from EVP_MAC's");
            }
            cases++;
        }
        dk_hmac_free(h);
    }
    CU_ASSERT(cases > 13 * 160);
}

/* RFC 4231 test case 2 (a short key), so the reference itself is pinned. */
static void test_rfc4231(void)
{
    static const uint8_t want[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                     0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                     0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    const char *msg = "what do ya want for nothing?";
    uint8_t out[32];
    dk_hmac *h = dk_hmac_new("Jefe", 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(dk_hmac_mac(h, msg, strlen(msg), out), 0);
    CU_ASSERT_EQUAL(memcmp(out, want, 32), 0);
    dk_hmac_free(h);
    dk_hmac_free(NULL);
}

static void test_context_mac_three_keys(void)
{
    uint8_t keys[3][DK_CONTEXT_KEY_LEN], msg[120], a[32], b[32];
    for (unsigned i = 0; i < 3; i++)
        fill(keys[i], DK_CONTEXT_KEY_LEN, 77 + i);
    for (unsigned r = 0; r < 300; r++) {
        unsigned i = (r * 7 + r / 5) % 3;
        size_t len = r % sizeof(msg), n = 1 + r % 32;
        fill(msg, len, r);
        memset(a, 0, sizeof(a));
        CU_ASSERT_EQUAL_FATAL(dk_context_mac(keys[i], msg, len, a, n), 0);
        reference(keys[i], DK_CONTEXT_KEY_LEN, msg, len, b);
        CU_ASSERT_EQUAL_FATAL(memcmp(a, b, n), 0);
        for (size_t j = n; j < 32; j++)
            CU_ASSERT_EQUAL_FATAL(a[j], 0); /* truncated: nothing past n written */
    }
}

static CU_TestInfo hmac_tests[] = {
    {"equals_evp_mac", test_equals_evp_mac},
    {"rfc4231", test_rfc4231},
    {"context_mac_three_keys", test_context_mac_three_keys},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "hmac", .pTests = hmac_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
