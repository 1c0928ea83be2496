/*
 * rpc_ae.h - the bodies of anti-entropy's messages (TREE_REQ, TREE,
 * KEYS_REQ, KEYS; the protocol is in coord/antientropy.h). The frame
 * around them and the other messages are in rpc_frame.h.
 *
 * Fields follow rpc_frame.h's conventions: unsigned integers as varints,
 * status codes zig-zag, byte strings length-prefixed, hashes as 8 bytes
 * little-endian. Decoders check every length against the bytes left,
 * refuse trailing bytes and never allocate: slices point into the body.
 * A list of entries (KEYS_REQ SYNC, KEYS) is validated whole by the
 * decoder, so dk_keys_entry_next only walks bytes already proven
 * well-formed.
 *
 * A replica group is named by its members' node ids, sorted and joined by
 * ',' ("n1,n2,n3"), plus sig, a hash of the token ranges the group
 * replicates, which both sides compute from their rings: a peer whose ring
 * differs has no group with that name and sig and answers DK_EMISMATCH.
 * Bitmaps select tree nodes or leaves by index (bit i = byte i / 8, bit
 * i % 8); their length is checked by the receiver against its tree.
 */
#ifndef DK_RPC_AE_H
#define DK_RPC_AE_H
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "rpc/rpc_frame.h"
#include "util/buf.h"

#define DK_AE_GROUP_MAX 640u   /* 9 ids of 64 bytes and their commas */
#define DK_AE_BITMAP_MAX 8192u /* bytes: 65536 nodes or leaves */
#define DK_AE_LEVEL_MAX 15u

/* TREE_REQ: the hashes of the nodes set in `nodes` at one level of the
 * group's tree (level 0 is the root). */
typedef struct dk_msg_tree_req {
    dk_slice group; /* 1..DK_AE_GROUP_MAX bytes */
    uint64_t sig;
    uint32_t level; /* 0..DK_AE_LEVEL_MAX */
    dk_slice nodes; /* bitmap, 1..DK_AE_BITMAP_MAX bytes */
} dk_msg_tree_req;
int dk_msg_tree_req_encode(dk_buf *out, const dk_msg_tree_req *m);
int dk_msg_tree_req_decode(dk_slice body, dk_msg_tree_req *m);

/* TREE: status 0 and one 8-byte little-endian hash per requested node in
 * index order; or DK_EMISMATCH (no such group, another ring or tree shape),
 * DK_EUNAVAILABLE (the tree is being built) and no hashes. */
typedef struct dk_msg_tree {
    int32_t status;
    dk_slice hashes; /* a multiple of 8 bytes, at most 8 * 65536 */
} dk_msg_tree;
int dk_msg_tree_encode(dk_buf *out, const dk_msg_tree *m);
int dk_msg_tree_decode(dk_slice body, dk_msg_tree *m);

/* The entries of KEYS_REQ and KEYS: a key and, by kind, nothing (a key to
 * fetch; in an answer, a key the sender does not hold), the 64-bit hash of
 * the sender's stored object, or the encoded object itself. */
enum { DK_KEYS_KEY = 0, DK_KEYS_HASH = 1, DK_KEYS_OBJECT = 2 };
typedef struct dk_keys_entry {
    dk_slice key;    /* 1..DK_KEY_MAX bytes */
    uint8_t kind;    /* DK_KEYS_* */
    uint64_t hash;   /* DK_KEYS_HASH */
    dk_slice object; /* DK_KEYS_OBJECT: 1..DK_FRAME_BODY_MAX bytes */
} dk_keys_entry;
/* Append one entry's encoding to out (a message's entries are encodings
 * back to back). -EINVAL for a bad key, kind or object length. */
int dk_keys_entry_encode(dk_buf *out, const dk_keys_entry *e);
/* Take the next entry off *entries (the entries slice of a decoded message,
 * which the decoder validated): 1 and *e (slices borrow the body), or 0 at
 * the end. */
int dk_keys_entry_next(dk_slice *entries, dk_keys_entry *e);

/* KEYS_REQ, op LIST: the (key, hash) pairs of the group's keys >= from that
 * fall in a leaf set in `leaves` (empty: every leaf) and start with prefix,
 * in key order, the answer stopping once it holds about max_bytes.
 * Op SYNC: entries are objects to merge (DK_KEYS_OBJECT) and keys whose
 * objects to return (DK_KEYS_KEY), no hashes. */
enum { DK_KEYS_LIST = 1, DK_KEYS_SYNC = 2 };
typedef struct dk_msg_keys_req {
    uint32_t op;    /* DK_KEYS_LIST or DK_KEYS_SYNC */
    dk_slice group; /* 1..DK_AE_GROUP_MAX bytes */
    uint64_t sig;
    /* LIST */
    dk_slice leaves;    /* bitmap, 0..DK_AE_BITMAP_MAX bytes */
    dk_slice prefix;    /* 0..DK_KEY_MAX bytes */
    dk_slice from;      /* 0..DK_KEY_MAX + 1 bytes */
    uint32_t max_bytes; /* >= 1 */
    /* SYNC */
    uint32_t n_entries;
    dk_slice entries;
} dk_msg_keys_req;
int dk_msg_keys_req_encode(dk_buf *out, const dk_msg_keys_req *m);
int dk_msg_keys_req_decode(dk_slice body, dk_msg_keys_req *m);

/* KEYS: status 0 or an error code (then no entries). LIST: DK_KEYS_HASH
 * entries in key order; more = 1 when the listing stopped early, upto being
 * the last key it looked at (the next page starts after it). SYNC: merged
 * counts the sent objects that changed the receiver's store; the entries
 * answer the requested keys in request order, each an object or a bare key
 * (not held); the answer may stop before the last requested key. */
typedef struct dk_msg_keys {
    int32_t status;
    uint8_t more;  /* 0 or 1 */
    dk_slice upto; /* 1..DK_KEY_MAX bytes with more, else empty */
    uint32_t merged;
    uint32_t n_entries;
    dk_slice entries;
} dk_msg_keys;
int dk_msg_keys_encode(dk_buf *out, const dk_msg_keys *m);
int dk_msg_keys_decode(dk_slice body, dk_msg_keys *m);
#endif
