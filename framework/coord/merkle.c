/*
 * merkle.c - the anti-entropy hash tree (contract and design in merkle.h).
 *
 * Layout of a view: level L starts at offset (FANOUT^L - 1) / (FANOUT - 1)
 * (0, 1, 17, 273) and holds FANOUT^L nodes; node i of level L has the
 * children FANOUT*i .. FANOUT*i + FANOUT-1 of level L + 1. Leaves are the
 * last level, copied from the atomics with relaxed loads: a view taken
 * while writes go on is some mix of before and after, which an exchange
 * tolerates (a write in flight shows as a difference that the key
 * comparison then finds equal, or is caught by the next exchange).
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "coord/merkle.h"
#include "node/object.h"
#include "util/coding.h"

_Static_assert(DK_MERKLE_LEAVES == DK_MERKLE_FANOUT * DK_MERKLE_FANOUT * DK_MERKLE_FANOUT,
               "DK_MERKLE_LEAVES must be FANOUT^DEPTH");
_Static_assert(DK_MERKLE_NODES ==
                   1 + DK_MERKLE_FANOUT + DK_MERKLE_FANOUT * DK_MERKLE_FANOUT + DK_MERKLE_LEAVES,
               "DK_MERKLE_NODES must count every level");

#define MERKLE_LEAF_SHIFT 52u /* 64 - log2(DK_MERKLE_LEAVES) */

static const uint32_t merkle_offset[DK_MERKLE_DEPTH + 1] = {0, 1, 17, 273};

void dk_merkle_clear(dk_merkle *m)
{
    for (uint32_t i = 0; i < DK_MERKLE_LEAVES; i++)
        atomic_store_explicit(&m->leaf[i], 0, memory_order_relaxed);
}

uint32_t dk_merkle_leaf_of(dk_token t)
{
    return (uint32_t)(t.lo >> MERKLE_LEAF_SHIFT);
}

/* Item definition DK_MERKLE_ITEM_DEF (merkle.h): an object's hash is that
 * of its 32-byte header, which holds the encoding's length and the CRC32C
 * of every other byte (node/object.h), computed where the encoding was
 * made; hashing the whole value again on every write of every replica was
 * ~7 % of the loops' time at the PUT peak. Bytes that are not an object
 * (peek fails) are hashed whole. The seeds differ so the two kinds cannot
 * be confused. */
#define MERKLE_HEADER_SEED 0x9e3779b97f4a7c15ull

static uint64_t merkle_version_peeked(dk_token t, dk_slice object, int peeked)
{
    uint64_t seed = t.lo ^ t.hi;
    if (peeked)
        return XXH3_64bits_withSeed(object.ptr, DK_OBJECT_HEADER_SIZE, seed ^ MERKLE_HEADER_SEED);
    return XXH3_64bits_withSeed(object.ptr, object.len, seed);
}

uint64_t dk_merkle_version(dk_token t, dk_slice object)
{
    dk_object_header h;
    return merkle_version_peeked(t, object, dk_object_peek(object, &h) == 0);
}

uint64_t dk_merkle_item(dk_token t, dk_slice object)
{
    dk_object_header h;
    if (object.len == 0)
        return 0;
    /* A write hook's `before` may be the object's header alone (store.h):
     * its hash is the whole object's. */
    int peeked = (object.len == DK_OBJECT_HEADER_SIZE ? dk_object_peek_head(object, &h)
                                                      : dk_object_peek(object, &h)) == 0;
    if (peeked && (h.flags & DK_OBJECT_F_ALL_TOMBSTONES))
        return 0;
    return merkle_version_peeked(t, object, peeked);
}

void dk_merkle_xor(dk_merkle *m, uint32_t leaf, uint64_t h)
{
    if (h && leaf < DK_MERKLE_LEAVES)
        atomic_fetch_xor_explicit(&m->leaf[leaf], h, memory_order_relaxed);
}

void dk_merkle_apply(dk_merkle *m, dk_token t, dk_slice before, dk_slice after)
{
    dk_merkle_xor(m, dk_merkle_leaf_of(t), dk_merkle_item(t, before) ^ dk_merkle_item(t, after));
}

void dk_merkle_view_of(const dk_merkle *m, dk_merkle_view *v)
{
    uint64_t *leaves = v->node + merkle_offset[DK_MERKLE_DEPTH];
    for (uint32_t i = 0; i < DK_MERKLE_LEAVES; i++)
        leaves[i] = atomic_load_explicit(&m->leaf[i], memory_order_relaxed);
    for (int level = (int)DK_MERKLE_DEPTH - 1; level >= 0; level--) {
        uint64_t *up = v->node + merkle_offset[level];
        const uint64_t *down = v->node + merkle_offset[level + 1];
        for (uint32_t i = 0; i < dk_merkle_level_size((unsigned)level); i++) {
            uint8_t words[DK_MERKLE_FANOUT * 8];
            for (uint32_t k = 0; k < DK_MERKLE_FANOUT; k++)
                dk_put_u64(words + 8 * k, down[DK_MERKLE_FANOUT * i + k]);
            up[i] = XXH3_64bits(words, sizeof(words));
        }
    }
}

uint32_t dk_merkle_level_size(unsigned level)
{
    uint32_t n = 1;
    for (unsigned i = 0; i < level && i < DK_MERKLE_DEPTH; i++)
        n *= DK_MERKLE_FANOUT;
    return n;
}

size_t dk_merkle_bitmap_len(unsigned level)
{
    return (dk_merkle_level_size(level) + 7) / 8;
}

int dk_merkle_select(const dk_merkle_view *v, unsigned level, dk_slice bitmap, dk_buf *out)
{
    if (level > DK_MERKLE_DEPTH || bitmap.len != dk_merkle_bitmap_len(level))
        return -EINVAL;
    const uint64_t *nodes = v->node + merkle_offset[level];
    int n = 0;
    for (uint32_t i = 0; i < dk_merkle_level_size(level); i++) {
        if (!dk_merkle_bit(bitmap.ptr, i))
            continue;
        uint8_t w[8];
        dk_put_u64(w, nodes[i]);
        int rc = dk_buf_append(out, w, 8);
        if (rc)
            return rc;
        n++;
    }
    return n;
}

int dk_merkle_compare(const dk_merkle_view *v, unsigned level, dk_slice bitmap, dk_slice hashes,
                      uint8_t *differ)
{
    if (level > DK_MERKLE_DEPTH || bitmap.len != dk_merkle_bitmap_len(level))
        return -EINVAL;
    const uint64_t *nodes = v->node + merkle_offset[level];
    size_t at = 0;
    int n = 0;
    for (uint32_t i = 0; i < dk_merkle_level_size(level); i++) {
        if (!dk_merkle_bit(bitmap.ptr, i))
            continue;
        if (at + 8 > hashes.len)
            return -EINVAL;
        if (dk_get_u64(hashes.ptr + at) != nodes[i]) {
            differ[i >> 3] |= (uint8_t)(1u << (i & 7));
            n++;
        }
        at += 8;
    }
    return at == hashes.len ? n : -EINVAL;
}

void dk_merkle_children(unsigned level, const uint8_t *parents, uint8_t *children)
{
    memset(children, 0, dk_merkle_bitmap_len(level + 1));
    for (uint32_t i = 0; i < dk_merkle_level_size(level); i++) {
        if (!dk_merkle_bit(parents, i))
            continue;
        /* FANOUT is a multiple of 8: a parent's children are whole bytes. */
        memset(children + i * (DK_MERKLE_FANOUT / 8), 0xff, DK_MERKLE_FANOUT / 8);
    }
}

int dk_merkle_diff(const dk_merkle_view *a, const dk_merkle_view *b, uint8_t leaves[DK_MERKLE_BITMAP_MAX])
{
    uint8_t want[DK_MERKLE_BITMAP_MAX], differ[DK_MERKLE_BITMAP_MAX];
    dk_buf hashes = DK_BUF_INIT;
    int n = 0;
    want[0] = 1;
    for (unsigned level = 0; level <= DK_MERKLE_DEPTH; level++) {
        size_t len = dk_merkle_bitmap_len(level);
        dk_buf_reset(&hashes);
        memset(differ, 0, len);
        n = dk_merkle_select(b, level, (dk_slice){want, len}, &hashes);
        if (n >= 0)
            n = dk_merkle_compare(a, level, (dk_slice){want, len}, dk_buf_slice(&hashes), differ);
        if (n <= 0)
            break;
        if (level < DK_MERKLE_DEPTH)
            dk_merkle_children(level, differ, want);
    }
    dk_buf_free(&hashes);
    memset(leaves, 0, DK_MERKLE_BITMAP_MAX);
    if (n > 0)
        memcpy(leaves, differ, DK_MERKLE_BITMAP_MAX);
    return n < 0 ? 0 : n;
}
