/*
 * fuzz-context.c - libFuzzer target for client context tokens
 * (node/context.h), both forms.
 *
 * The first input byte picks the mode:
 *   even: the rest is header text, decoded as X-Context would be (a
 *         base64url token, which almost never carries a valid MAC, or the
 *         JSON version map);
 *   odd:  the rest is a token's binary body (version byte and version
 *         vector), MACed here under the fuzz key and base64url-encoded, so
 *         the fuzzer reaches the vector decoder and the counter cap behind
 *         the MAC.
 * Invariants: errors are only DK_ECORRUPT, -EINVAL or -ENOMEM and leave
 * the output empty; a decoded map has no counter above
 * DK_CONTEXT_COUNTER_MAX; a decoded context re-encodes and decodes to
 * itself, is refused under another key, and (counters within the map cap)
 * prints as a JSON map that decodes to the same counters, flagged.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "node/context.h"
#include "util/base64.h"
#include "util/vv.h"

static const uint8_t fz_key[DK_CONTEXT_KEY_LEN] = {0x5a, 1, 2, 3};
static const uint8_t fz_other[DK_CONTEXT_KEY_LEN] = {0x5b, 1, 2, 3};

static void fz_check(int ok)
{
    if (!ok)
        __builtin_trap();
}

/* A token whose MAC verifies under fz_key, from its binary body. */
static int fz_mac_token(const uint8_t *body, size_t n, dk_buf *out)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    dk_buf raw = DK_BUF_INIT;
    int rc = dk_buf_append(&raw, body, n);
    if (!rc && !HMAC(EVP_sha256(), fz_key, sizeof(fz_key), body, n, mac, &len))
        rc = -ENOMEM;
    if (!rc)
        rc = dk_buf_append(&raw, mac, DK_CONTEXT_MAC_LEN);
    if (!rc)
        rc = dk_base64_encode(raw.data, raw.len, DK_B64_URL, out);
    dk_buf_free(&raw);
    return rc;
}

static void fz_decoded(const dk_vv *v, int is_map)
{
    dk_vv back;
    dk_buf tok = DK_BUF_INIT;
    char err[160];
    int map = -1;
    dk_vv_init(&back);
    int capped = 1;
    for (uint32_t i = 0; i < v->n; i++) {
        fz_check(v->e[i].counter >= 1 && (!is_map || v->e[i].counter <= DK_CONTEXT_COUNTER_MAX));
        capped &= v->e[i].counter <= DK_CONTEXT_COUNTER_MAX;
    }
    fz_check(dk_context_encode(fz_key, v, &tok) == 0);
    fz_check(dk_context_decode(fz_key, (const char *)tok.data, tok.len, &back, &map, err, sizeof(err)) == 0);
    fz_check(map == 0 && dk_vv_compare(&back, v) == DK_VV_EQUAL);
    for (uint32_t i = 0; i < v->n; i++)
        fz_check(back.e[i].time_ms == v->e[i].time_ms);
    fz_check(dk_context_decode(fz_other, (const char *)tok.data, tok.len, &back, NULL, err, sizeof(err)) ==
             DK_ECORRUPT);
    fz_check(back.n == 0);
    dk_buf_reset(&tok);
    fz_check(dk_vv_to_json(v, &tok) == 0);
    int rc = dk_context_decode(fz_key, (const char *)tok.data, tok.len, &back, &map, err, sizeof(err));
    fz_check(map == 1 && (capped ? rc == 0 && dk_vv_compare(&back, v) == DK_VV_EQUAL : rc == -EINVAL));
    dk_vv_free(&back);
    dk_buf_free(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    dk_vv v;
    dk_vv_init(&v);
    dk_buf tok = DK_BUF_INIT;
    char err[160];
    int map = -1, rc;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        if (fz_mac_token(data + 1, n, &tok) != 0)
            goto out;
        s = (const char *)tok.data;
        n = tok.len;
    }
    rc = dk_context_decode(fz_key, s, n, &v, &map, err, sizeof(err));
    if (rc) {
        fz_check(rc == DK_ECORRUPT || rc == -EINVAL || rc == -ENOMEM);
        fz_check(v.n == 0 && memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        goto out;
    }
    fz_check(map == 0 || map == 1);
    fz_decoded(&v, map);
out:
    dk_vv_free(&v);
    dk_buf_free(&tok);
    return 0;
}
