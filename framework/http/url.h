/*
 * url.h - percent-decoding and query-string lookup for the HTTP handlers.
 *
 * Pure functions over caller buffers: no allocation, no state, any thread.
 * Paths are decoded per RFC 3986 ('+' stays '+'); query values are decoded
 * as application/x-www-form-urlencoded ('+' is a space), which is what
 * browsers, curl --data-urlencode and Python's urlencode produce. A client
 * that wants a literal '+' in a query value sends %2B.
 */
#ifndef DK_URL_H
#define DK_URL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Percent-decode in[0..len) into out (outlen bytes). Returns the decoded
 * length, -EINVAL on a bad escape ("%G1", a truncated "%4"), or -ENOBUFS
 * when out is too small (a decoded string is never longer than its input,
 * so outlen >= len always suffices). out is NUL-terminated when outlen is
 * larger than the decoded length. '+' is kept as '+'.
 */
ssize_t dk_url_decode(const char *in, size_t len, char *out, size_t outlen);

/*
 * Find the first parameter called name (compared after decoding) in query
 * (without the '?', "a=1&b=2"), and decode its value into out ('+' is a
 * space). A parameter without '=' has an empty value. Returns the value's
 * length, DK_ENOTFOUND when absent, -EINVAL when the value has a bad escape,
 * -ENOBUFS when out is too small. out is NUL-terminated as dk_url_decode.
 */
ssize_t dk_url_query_get(const char *query, size_t len, const char *name, char *out, size_t outlen);

/*
 * Parse s[0..len) as a plain decimal number: one to twenty ASCII digits
 * and nothing else (no sign, blank, "0x", NUL or other byte), at most max.
 * Returns 0 and *out, or -EINVAL (not such a number) or -ERANGE (over
 * max). For every numeric query parameter and header.
 */
int dk_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);
#endif
