/*
 * context.h - client context tokens (X-Context / If-Match) and the JSON
 * version map.
 *
 * A token is the opaque `context` string of a response: base64url without
 * padding of
 *
 *   u8 token version (1) | dk_vv_encode(vv) | u32 LE masked CRC32C of the
 *                                              preceding bytes
 *
 * Clients may instead send the JSON version map of a response's "version"
 * field, {"n1":3,"n2#2":1}; its entries get time_ms = 0.
 *
 * The CRC catches tokens that were truncated or mangled on their way
 * through a client; it is not a MAC: a client may forge any context it
 * likes, which only affects its own writes (as in Riak).
 */
#ifndef DK_CONTEXT_H
#define DK_CONTEXT_H

#include <stddef.h>
#include "dynkv/types.h"
#include "util/buf.h"

#define DK_CONTEXT_VERSION 1u
/* Longest token text accepted (either form), in bytes. */
#define DK_CONTEXT_MAX 16384u

/* Append the token text for v to out, followed by a NUL that is not
 * counted in out->len. Returns 0, -ENOMEM or -EINVAL (a negative time).
 * Thread-safe. */
int dk_context_encode(const dk_vv *v, dk_buf *out);

/*
 * Decode a token (base64url form, or the JSON map form when the first
 * non-blank character is '{') into *out (initialised; content replaced).
 * s need not be NUL-terminated. An empty string is the empty context.
 * Returns 0, -ENOMEM, DK_ECORRUPT (bad base64url, CRC, version or
 * encoding) or -EINVAL (bad JSON, actor, counter, or a token longer than
 * DK_CONTEXT_MAX), with a message for the client in err (may be NULL).
 * out is empty on error. Thread-safe.
 */
int dk_context_decode(const char *s, size_t len, dk_vv *out, char *err, size_t errlen);

/* Append {"n1":3,...} (entries in actor order, counters only) to out,
 * followed by an uncounted NUL. Returns 0 or -ENOMEM. Thread-safe. */
int dk_vv_to_json(const dk_vv *v, dk_buf *out);

#endif /* DK_CONTEXT_H */
