/*
 * base64.c - see base64.h. Encoding walks 3-byte groups; decoding
 * accumulates 6-bit values and emits a byte whenever 8 bits are ready.
 */
#include <errno.h>
#include "util/base64.h"

static const char b64_alphabet[2][65] = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

static int b64_value(unsigned char c, int alphabet)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (alphabet == DK_B64_URL ? '-' : '+'))
        return 62;
    if (c == (alphabet == DK_B64_URL ? '_' : '/'))
        return 63;
    return -1;
}

size_t dk_base64_len(size_t n, int alphabet)
{
    if (alphabet != DK_B64_URL)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int dk_base64_encode(const void *in, size_t n, int alphabet, dk_buf *out)
{
    const uint8_t *p = in;
    const char *a = b64_alphabet[alphabet == DK_B64_URL];
    int rc = dk_buf_reserve(out, dk_base64_len(n, alphabet) + 1);
    if (rc)
        return rc;
    char *o = (char *)out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = a[(v >> 6) & 63];
        *o++ = a[v & 63];
    }
    if (n - i) {
        uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        if (n - i == 2)
            *o++ = a[(v >> 6) & 63];
        else if (alphabet != DK_B64_URL)
            *o++ = '=';
        if (alphabet != DK_B64_URL)
            *o++ = '=';
    }
    *o = '\0';
    out->len = (size_t)(o - (char *)out->data);
    return 0;
}

long dk_base64_decode(const char *s, size_t len, int alphabet, uint8_t *out, size_t *bad)
{
    size_t body = len;
    if (alphabet != DK_B64_URL) {
        while (body > 0 && len - body < 2 && s[body - 1] == '=')
            body--;
        if (body < len && len % 4 != 0) { /* padding, but not to a whole group */
            *bad = body;
            return -1;
        }
    }
    if (body % 4 == 1) {
        *bad = body ? body - 1 : 0;
        return -1;
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < body; i++) {
        int v = b64_value((unsigned char)s[i], alphabet);
        if (v < 0) {
            *bad = i;
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (alphabet == DK_B64_URL && acc != 0) { /* leftover bits must be zero */
        *bad = body - 1;
        return -1;
    }
    return (long)n;
}
