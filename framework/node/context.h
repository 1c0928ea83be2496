/*
 * context.h - client context tokens (X-Context / If-Match) and the JSON
 * version map.
 *
 * A token is the opaque `context` string of a response: base64url without
 * padding of
 *
 *   u8 token version (2) | dk_vv_encode(vv) | 16-byte MAC
 *
 * where the MAC is HMAC-SHA256 of the preceding bytes, truncated to 16
 * bytes, under the cluster's "context" key (dk_cluster_key_derive). Every
 * node of a cluster holds the same key, so any coordinator accepts a token
 * any other one issued, and a client cannot forge or edit one: a token
 * whose MAC does not verify is refused (400), as is a version-1 token of
 * an older release (CRC only), with "read the key again".
 *
 * Clients may instead send the JSON version map of a response's "version"
 * field, {"n1":3,"n2#2":1}; its entries get time_ms = 0. A map carries no
 * MAC, so it is never trusted to set counters: an If-Match map must equal
 * the stored version, and an X-Context map must be dominated by the stored
 * object (store.h, context_is_map); the caller learns which form it got.
 *
 * A map counter above DK_CONTEXT_COUNTER_MAX is refused here. A token's
 * counters are not capped (the store issued them), but the store never
 * lets a context advance a counter by more than DK_STORE_CONTEXT_AHEAD
 * past the stored object's (store.h): so even where the MAC keeps no
 * secret (protected mode: the key is derived from the cluster name), no
 * context can push a counter near UINT64_MAX and make a key unwritable.
 */
#ifndef DK_CONTEXT_H
#define DK_CONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "util/buf.h"

#define DK_CONTEXT_VERSION 2u
#define DK_CONTEXT_KEY_LEN 32u
#define DK_CONTEXT_MAC_LEN 16u
/* Longest token text accepted (either form), in bytes. */
#define DK_CONTEXT_MAX 16384u
/* Largest counter a JSON map may carry: 2^53 - 1, which a JSON client
 * holding numbers as doubles also keeps exactly; 2^53 writes of one key by
 * one node would take centuries. */
#define DK_CONTEXT_COUNTER_MAX ((UINT64_C(1) << 53) - 1)

/* HMAC-SHA256 under key of p[0..len), truncated to n (<= 32) bytes, into
 * out: context tokens and session tokens (node/session.c). Keeps this
 * thread's keyed state for the last two keys, so a call costs the hash
 * alone. Returns 0 or -ENOMEM. Thread-safe. */
int dk_context_mac(const uint8_t key[DK_CONTEXT_KEY_LEN], const void *p, size_t len, uint8_t *out, size_t n);

/* Replace out's bytes from start on by their base64url text, in place,
 * NUL-terminated (not counted). 0, or -ENOMEM with out cut at start.
 * For tokens assembled in the buffer they are written to. */
int dk_context_text_tail(dk_buf *out, size_t start);

/* Append the token text for v under key to out, followed by a NUL that is
 * not counted in out->len. Returns 0, -ENOMEM or -EINVAL (a negative
 * time). Thread-safe. */
int dk_context_encode(const uint8_t key[DK_CONTEXT_KEY_LEN], const dk_vv *v, dk_buf *out);

/*
 * Decode a token (base64url form, verified under key) or the JSON map form
 * (when the first non-blank character is '{') into *out (initialised;
 * content replaced). s need not be NUL-terminated. An empty string is the
 * empty context. *is_map (may be NULL) is set to 1 for the JSON form.
 * Returns 0, -ENOMEM, DK_ECORRUPT (bad base64url, MAC, version or
 * encoding) or -EINVAL (bad JSON, actor, counter, or a token longer than
 * DK_CONTEXT_MAX), with a message for the client in err (may be NULL).
 * out is empty on error. Thread-safe.
 */
int dk_context_decode(const uint8_t key[DK_CONTEXT_KEY_LEN], const char *s, size_t len, dk_vv *out,
                      int *is_map, char *err, size_t errlen);

/* Append {"n1":3,...} (entries in actor order, counters only, unsigned)
 * to out, followed by an uncounted NUL. Returns 0 or -ENOMEM.
 * Thread-safe. */
int dk_vv_to_json(const dk_vv *v, dk_buf *out);

#endif /* DK_CONTEXT_H */
