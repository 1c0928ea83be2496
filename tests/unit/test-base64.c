/*
 * test-base64.c - util/base64: the RFC 4648 test vectors in both
 * alphabets, round trips of every length and byte, and what the decoder
 * refuses (foreign characters, misplaced padding, impossible lengths,
 * non-canonical URL tokens) with the offending offset.
 */
#include <CUnit/CUnit.h>
#include <string.h>
#include "util/base64.h"

static const char *const vec_in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const vec_std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const vec_url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof vec_in / sizeof vec_in[0]; i++) {
        size_t n = strlen(vec_in[i]);
        dk_buf b = DK_BUF_INIT;
        CU_ASSERT_EQUAL_FATAL(dk_base64_encode(vec_in[i], n, DK_B64_STD, &b), 0);
        CU_ASSERT_EQUAL(b.len, strlen(vec_std[i]));
        CU_ASSERT_EQUAL(dk_base64_len(n, DK_B64_STD), strlen(vec_std[i]));
        CU_ASSERT_STRING_EQUAL((const char *)b.data, vec_std[i]);
        dk_buf_free(&b);
        CU_ASSERT_EQUAL_FATAL(dk_base64_encode(vec_in[i], n, DK_B64_URL, &b), 0);
        CU_ASSERT_EQUAL(dk_base64_len(n, DK_B64_URL), strlen(vec_url[i]));
        CU_ASSERT_STRING_EQUAL((const char *)b.data, vec_url[i]);
        dk_buf_free(&b);
        uint8_t out[16];
        size_t bad = 99;
        CU_ASSERT_EQUAL(dk_base64_decode(vec_std[i], strlen(vec_std[i]), DK_B64_STD, out, &bad), (long)n);
        CU_ASSERT_EQUAL(memcmp(out, vec_in[i], n), 0);
        CU_ASSERT_EQUAL(dk_base64_decode(vec_url[i], strlen(vec_url[i]), DK_B64_URL, out, &bad), (long)n);
        CU_ASSERT_EQUAL(memcmp(out, vec_in[i], n), 0);
        /* The standard decoder also takes unpadded input. */
        CU_ASSERT_EQUAL(dk_base64_decode(vec_url[i], strlen(vec_url[i]), DK_B64_STD, out, &bad), (long)n);
    }
}

static void test_roundtrip(void)
{
    uint8_t in[300], out[300];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 7 + 3);
    for (int a = DK_B64_STD; a <= DK_B64_URL; a++) {
        for (size_t n = 0; n <= sizeof in; n += (n < 16 ? 1 : 37)) {
            dk_buf b = DK_BUF_INIT;
            CU_ASSERT_EQUAL_FATAL(dk_base64_encode(in, n, a, &b), 0);
            size_t bad;
            CU_ASSERT_EQUAL(dk_base64_decode((const char *)b.data, b.len, a, out, &bad), (long)n);
            CU_ASSERT_EQUAL(memcmp(in, out, n), 0);
            dk_buf_free(&b);
        }
    }
    /* Every byte value, both alphabets: '+' '/' against '-' '_'. */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    dk_buf s = DK_BUF_INIT, u = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_base64_encode(all, 256, DK_B64_STD, &s), 0);
    CU_ASSERT_EQUAL_FATAL(dk_base64_encode(all, 256, DK_B64_URL, &u), 0);
    CU_ASSERT_PTR_NOT_NULL(strchr((const char *)s.data, '+'));
    CU_ASSERT_PTR_NULL(strchr((const char *)u.data, '+'));
    CU_ASSERT_PTR_NULL(strchr((const char *)u.data, '/'));
    CU_ASSERT_PTR_NULL(strchr((const char *)u.data, '='));
    dk_buf_free(&s);
    dk_buf_free(&u);
}

static void test_refused(void)
{
    uint8_t out[32];
    size_t bad = 0;
    CU_ASSERT_EQUAL(dk_base64_decode("Zm9v!", 5, DK_B64_STD, out, &bad), -1);
    CU_ASSERT_EQUAL(bad, 4);
    CU_ASSERT_EQUAL(dk_base64_decode("Zm=v", 4, DK_B64_STD, out, &bad), -1); /* padding inside */
    CU_ASSERT_EQUAL(bad, 2);
    CU_ASSERT_EQUAL(dk_base64_decode("Zg=", 3, DK_B64_STD, out, &bad), -1);   /* half padding */
    CU_ASSERT_EQUAL(dk_base64_decode("Zg===", 5, DK_B64_STD, out, &bad), -1); /* too much */
    CU_ASSERT_EQUAL(dk_base64_decode("Zm9vY", 5, DK_B64_STD, out, &bad), -1); /* no such length */
    CU_ASSERT_EQUAL(bad, 4);
    CU_ASSERT_EQUAL(dk_base64_decode("Zg==", 4, DK_B64_URL, out, &bad), -1); /* no padding in tokens */
    CU_ASSERT_EQUAL(dk_base64_decode("Zm+v", 4, DK_B64_URL, out, &bad), -1); /* other alphabet */
    CU_ASSERT_EQUAL(bad, 2);
    CU_ASSERT_EQUAL(dk_base64_decode("Zh", 2, DK_B64_URL, out, &bad), -1); /* stray low bits */
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_EQUAL(dk_base64_decode("Zg", 2, DK_B64_URL, out, &bad), 1);
}

static CU_TestInfo b64_tests[] = {
    {"RFC 4648 vectors, both alphabets", test_vectors},
    {"round trips of every length", test_roundtrip},
    {"refused input names the offset", test_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "base64", .pTests = b64_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
