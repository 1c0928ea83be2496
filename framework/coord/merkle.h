/*
 * merkle.h - the hash tree anti-entropy compares between replicas
 * (DESIGN.md section 6): a fixed shape of DK_MERKLE_LEAVES leaves under a
 * root, DK_MERKLE_FANOUT children per node, maintained incrementally.
 *
 * Leaves. A key belongs to leaf dk_merkle_leaf_of(its token): the top bits
 * of the token's low half, which are uniform whatever token ranges a
 * replica group holds. A leaf is the XOR of item(key, object) over its
 * keys, where item is a 64-bit hash of the key and the exact stored bytes
 * (replicas that agree store the same bytes: merges are deterministic), or
 * 0 when the object is absent or all tombstones. The stored bytes are
 * hashed through the object's header, whose length and CRC32C change with
 * any byte of the encoding (DK_MERKLE_ITEM_DEF): a write hashes 32 bytes,
 * not its value. Two encodings with equal headers and CRCs would compare
 * equal: 2^-32 for two versions of one key that also agree on their write
 * time, length and siblings count; corrupt bytes are the engines'
 * checksums' to find, not anti-entropy's. XOR makes a write O(1):
 * leaf ^= item(before) ^ item(after), in any order, from any thread
 * (atomic). Tombstones count as absent so that compaction may purge them
 * without the tree noticing: a replica holding only a tombstone and one
 * holding nothing agree, and a replica still holding the value it deleted
 * differs, which is exactly when the tombstone must travel.
 *
 * Inner nodes are not maintained: dk_merkle_view computes every level from
 * a copy of the leaves when an exchange needs them (4369 hashes, tens of
 * microseconds). An inner node is the hash of its children's hashes, not
 * their XOR, so two leaves that changed by the same amount cannot cancel.
 *
 * Not taken: a tree per token range (Cassandra's), which would exchange
 * hundreds of small trees per peer; and keeping a per-leaf key index (Riak's
 * hashtree store), which doubles the writes. Listing a differing leaf's
 * keys therefore scans the store, page by page (ae_exchange.c).
 *
 * Threads: dk_merkle_apply and dk_merkle_xor from any thread; the rest are
 * pure functions on the caller's memory.
 */
#ifndef DK_MERKLE_H
#define DK_MERKLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "ring/ring.h"
#include "util/buf.h"

#define DK_MERKLE_FANOUT 16u
#define DK_MERKLE_DEPTH 3u     /* levels under the root */
#define DK_MERKLE_LEAVES 4096u /* FANOUT ^ DEPTH */
#define DK_MERKLE_NODES 4369u  /* every level, root included */
#define DK_MERKLE_BITMAP_MAX (DK_MERKLE_LEAVES / 8u)

/* Which definition of an item's hash the trees and key lists use: 1 (up to
 * session 11) hashed the whole encoding, 2 its header (above). Nodes must
 * never compare trees or key hashes of two definitions (every key would
 * differ and be sent again), so it seeds every replica group's signature
 * (ae_layout.c): a node of the other definition answers an exchange as it
 * does one from another ring (DK_EMISMATCH) until both run the same
 * release; the saved trees carry it as their format version
 * (merkle_file.h). */
#define DK_MERKLE_ITEM_DEF 2u

typedef struct dk_merkle {
    _Atomic uint64_t leaf[DK_MERKLE_LEAVES];
} dk_merkle;

/* Every level of a tree, level 0 (the root) first. */
typedef struct dk_merkle_view {
    uint64_t node[DK_MERKLE_NODES];
} dk_merkle_view;

/* Zero every leaf (the tree of an empty store). Not atomic as a whole. */
void dk_merkle_clear(dk_merkle *m);

/* The leaf of a token. */
uint32_t dk_merkle_leaf_of(dk_token t);

/* The hash of one stored version (object bytes) of the key with token t;
 * never 0 for a non-empty object in practice. Anti-entropy compares keys
 * by it. */
uint64_t dk_merkle_version(dk_token t, dk_slice object);

/* What the key contributes to its leaf: dk_merkle_version, or 0 when the
 * object is empty or all tombstones (dk_object_peek's flag; an unreadable
 * header counts as live). */
uint64_t dk_merkle_item(dk_token t, dk_slice object);

/* One write of the key with token t: leaf ^= item(before) ^ item(after).
 * Atomic; any thread. */
void dk_merkle_apply(dk_merkle *m, dk_token t, dk_slice before, dk_slice after);

/* leaf ^= h. Atomic; any thread. */
void dk_merkle_xor(dk_merkle *m, uint32_t leaf, uint64_t h);

/* Compute every level from the current leaves. */
void dk_merkle_view_of(const dk_merkle *m, dk_merkle_view *v);

/* Nodes at level (0..DK_MERKLE_DEPTH): FANOUT^level; and the bytes of a
 * bitmap over them (at least 1). */
uint32_t dk_merkle_level_size(unsigned level);
size_t dk_merkle_bitmap_len(unsigned level);

/* Append to out the hashes of level's nodes whose bits are set in bitmap
 * (exactly dk_merkle_bitmap_len(level) bytes), as 8-byte little-endian
 * words in index order. Returns how many, -EINVAL (bad level or bitmap
 * length) or -ENOMEM. */
int dk_merkle_select(const dk_merkle_view *v, unsigned level, dk_slice bitmap, dk_buf *out);

/* Compare a peer's answer to dk_merkle_select(level, bitmap) with v: set in
 * differ (dk_merkle_bitmap_len(level) bytes, zeroed by the caller) the
 * nodes whose hashes differ. Returns how many, or -EINVAL when hashes is
 * not one word per requested node. */
int dk_merkle_compare(const dk_merkle_view *v, unsigned level, dk_slice bitmap, dk_slice hashes,
                      uint8_t *differ);

/* The bitmap at level + 1 (< DK_MERKLE_DEPTH + 1) of the children of the
 * nodes set in parents; children is overwritten. */
void dk_merkle_children(unsigned level, const uint8_t *parents, uint8_t *children);

/* Top-down comparison of two views, as an exchange does it over the wire:
 * the root, then the children of every node that differs, down to the
 * leaves. Sets the differing leaves in leaves (overwritten) and returns
 * how many. */
int dk_merkle_diff(const dk_merkle_view *a, const dk_merkle_view *b, uint8_t leaves[DK_MERKLE_BITMAP_MAX]);

/* Bit i of a bitmap. */
static inline int dk_merkle_bit(const uint8_t *bitmap, uint32_t i)
{
    return (bitmap[i >> 3] >> (i & 7)) & 1;
}

#endif /* DK_MERKLE_H */
