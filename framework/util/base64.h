/*
 * base64.h - base64 in the two alphabets dynkv speaks (RFC 4648): the
 * standard one with '=' padding for values in JSON (what clients' decoders
 * expect), and the URL-safe one without padding for context tokens (they
 * travel in headers and URLs).
 *
 * One implementation for the server, the context tokens and the CLI. Not
 * taken: OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock, which know only the
 * padded standard alphabet and report padded lengths on decode, so the
 * tokens would need a translated copy and a guessed length.
 */
#ifndef DK_UTIL_BASE64_H
#define DK_UTIL_BASE64_H
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"

enum {
    DK_B64_STD = 0, /* A-Z a-z 0-9 + /, '=' padded; decode accepts missing padding */
    DK_B64_URL = 1, /* A-Z a-z 0-9 - _, never padded; decode is canonical only */
};

/* Characters the encoding of n bytes takes (no NUL). Pure. */
size_t dk_base64_len(size_t n, int alphabet);

/* Append the encoding of p[0..n) to out, NUL-terminated (the NUL is not
 * counted in out->len). Returns 0 or -ENOMEM (out unchanged). Pure. */
int dk_base64_encode(const void *p, size_t n, int alphabet, dk_buf *out);

/* Decode s[0..len) into out, which has room for len / 4 * 3 + 2 bytes.
 * Returns the byte count, or -1 with the offending character's offset in
 * *bad: a character outside the alphabet, padding anywhere but the end (or
 * at all with DK_B64_URL), a length no encoding has, or (DK_B64_URL) stray
 * bits in the last character, so every accepted token re-encodes to
 * itself. Pure. */
long dk_base64_decode(const char *s, size_t len, int alphabet, uint8_t *out, size_t *bad);
#endif /* DK_UTIL_BASE64_H */
