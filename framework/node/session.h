/*
 * session.h - client session tokens (X-Session): read-your-writes and
 * monotonic reads across coordinators (issue 12). The design and its
 * argument are atop session.c; the coordinator side (reading more
 * replicas, waiting) is coord/session_read.h, the HTTP side
 * api/api_session.c.
 *
 * A token is base64url without padding of
 *
 *   u8 version (1) | u8 n | u64 spill (LE) |
 *   n x ( u64 key tag (LE) | dk_vv_encode(vv) ) | 16-byte MAC
 *
 * the entries most recently used first, the MAC HMAC-SHA256 (truncated)
 * under a key derived from the node's context key (so every node of the
 * cluster checks every other's tokens, and a context token is never
 * accepted as a session token or the reverse). A key's tag is XXH3-64 of
 * the key bytes seeded with the session key's first 8 bytes.
 */
#ifndef DK_NODE_SESSION_H
#define DK_NODE_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "node/context.h"
#include "util/buf.h"

#define DK_SESSION_VERSION 1u
/* Keys a token remembers exactly (most recently written or read). */
#define DK_SESSION_KEYS 16u
/* Longest token text accepted, in bytes. */
#define DK_SESSION_MAX 8192u

typedef struct dk_session_entry {
    uint64_t tag; /* the key's tag */
    dk_vv vv;     /* what the client has seen of it */
} dk_session_entry;

typedef struct dk_session {
    uint8_t key[DK_CONTEXT_KEY_LEN]; /* the MAC key (derived) */
    uint32_t n;
    dk_session_entry e[DK_SESSION_KEYS]; /* most recently used first */
    uint64_t spill;                      /* bit (tag % 64): a key of that bucket was evicted */
    int changed;                         /* noted something since init/decode: encode anew */
} dk_session;

/* An empty session whose tokens are MACed under a key derived from
 * context_key. Returns 0 or -ENOMEM. Thread-safe. */
int dk_session_init(dk_session *s, const uint8_t context_key[DK_CONTEXT_KEY_LEN]);
void dk_session_free(dk_session *s);

/* Make an initialised s empty again under context_key, as
 * dk_session_init would, keeping the memory its entries' version vectors
 * hold (a session state reused request after request). 0 or -ENOMEM. */
int dk_session_reuse(dk_session *s, const uint8_t context_key[DK_CONTEXT_KEY_LEN]);

/* Replace s's entries with the token s[0..len) (an empty string is the
 * empty session). Returns 0, -ENOMEM, or DK_ECORRUPT / -EINVAL with a
 * message for the client in err (s is then empty). */
int dk_session_decode(dk_session *s, const char *tok, size_t len, char *err, size_t errlen);

/* Append the token text of s to out, followed by an uncounted NUL.
 * Returns 0 or -ENOMEM. */
int dk_session_encode(const dk_session *s, dk_buf *out);

/* What a read of key must see: the vv the client has seen of it (borrowed
 * from s, NULL when the token does not name the key), and *spilled = 1
 * when the key's bucket holds a key the token no longer names. */
const dk_vv *dk_session_need(const dk_session *s, dk_slice key, int *spilled);

/* The client has now seen vv of key (an answer's object): merge it into
 * the key's entry and make it the most recent, evicting the least recent
 * entry into the spill bits when the token is full. Returns 0 or -ENOMEM. */
int dk_session_note(dk_session *s, dk_slice key, const dk_vv *vv);

#endif /* DK_NODE_SESSION_H */
