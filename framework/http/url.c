/*
 * url.c - percent-decoding and query-string lookup (see url.h).
 *
 * The query is scanned in place each time a parameter is asked for rather
 * than parsed once into a table: handlers read two or three parameters of a
 * short string, so a scan costs less than allocating a table, and nothing
 * needs freeing. Names are compared after decoding, without a copy.
 */
#include <errno.h>
#include <string.h>
#include "dynkv/types.h"
#include "http/url.h"
#include "util/hex.h"

static int url_hex(char c)
{
    return dk_hex_value((unsigned char)c);
}

/* Decode one character at in[*i]; advances *i. Returns the byte (0..255)
 * or -EINVAL on a bad escape. */
static int url_next(const char *in, size_t len, size_t *i, int plus_space)
{
    char c = in[*i];
    if (c == '%') {
        if (len - *i < 3)
            return -EINVAL;
        int hi = url_hex(in[*i + 1]), lo = url_hex(in[*i + 2]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        *i += 3;
        return hi << 4 | lo;
    }
    *i += 1;
    if (c == '+' && plus_space)
        return ' ';
    return (unsigned char)c;
}

static ssize_t url_decode(const char *in, size_t len, char *out, size_t outlen, int plus_space)
{
    size_t i = 0, n = 0;
    while (i < len) {
        char c = in[i];
        if (c != '%' && (c != '+' || !plus_space)) {
            /* The common byte, copied without url_next's call (a key is
             * decoded on every request). */
            if (n >= outlen)
                return -ENOBUFS;
            out[n++] = c;
            i++;
            continue;
        }
        int ch = url_next(in, len, &i, plus_space);
        if (ch < 0)
            return ch;
        if (n >= outlen)
            return -ENOBUFS;
        out[n++] = (char)ch;
    }
    if (n < outlen)
        out[n] = '\0';
    return (ssize_t)n;
}

ssize_t dk_url_decode(const char *in, size_t len, char *out, size_t outlen)
{
    return url_decode(in, len, out, outlen, 0);
}

/* Does the encoded run in[0..len) decode to exactly name? A run with a bad
 * escape matches nothing. */
static int url_name_eq(const char *in, size_t len, const char *name)
{
    size_t i = 0, k = 0, nlen = strlen(name);
    while (i < len) {
        int ch = url_next(in, len, &i, 1);
        if (ch < 0 || k >= nlen || (unsigned char)name[k] != ch)
            return 0;
        k++;
    }
    return k == nlen;
}

ssize_t dk_url_query_get(const char *query, size_t len, const char *name, char *out, size_t outlen)
{
    size_t pos = 0;
    while (pos < len) {
        const char *seg = query + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seglen = amp ? (size_t)(amp - seg) : len - pos;
        pos += seglen + 1;
        const char *eq = memchr(seg, '=', seglen);
        size_t nlen = eq ? (size_t)(eq - seg) : seglen;
        if (!url_name_eq(seg, nlen, name))
            continue;
        if (!eq)
            return url_decode("", 0, out, outlen, 1);
        return url_decode(eq + 1, seglen - nlen - 1, out, outlen, 1);
    }
    return DK_ENOTFOUND;
}

int dk_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -EINVAL;
    uint64_t v = 0;
    int over = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    if (over || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}
