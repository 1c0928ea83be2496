/*
 * block.c - block builder and iterator (block.h).
 *
 * Decoding never trusts the bytes: every varint and length is checked
 * against the block's end (or the restart array's start), and a bad entry
 * turns the iterator invalid with status DK_ECORRUPT. The checksum of the
 * whole block is verified earlier, by the table reader; these checks keep
 * a block that passed a CRC by accident (or a fuzzer) from reading out of
 * bounds.
 */
#include "block.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dk__lsm_bb_init(lsm_block_builder *bb)
{
    dk_buf_init(&bb->buf);
    dk_buf_init(&bb->last_key);
    dk_buf_init(&bb->restarts);
    bb->counter = 0;
    bb->interval = LSM_RESTART_INTERVAL;
    bb->entries = 0;
}

void dk__lsm_bb_free(lsm_block_builder *bb)
{
    dk_buf_free(&bb->buf);
    dk_buf_free(&bb->last_key);
    dk_buf_free(&bb->restarts);
}

void dk__lsm_bb_reset(lsm_block_builder *bb)
{
    dk_buf_reset(&bb->buf);
    dk_buf_reset(&bb->last_key);
    dk_buf_reset(&bb->restarts);
    bb->counter = 0;
    bb->entries = 0;
}

int dk__lsm_bb_add(lsm_block_builder *bb, dk_slice key, dk_slice value)
{
    size_t shared = 0;
    int rc;
    if (bb->counter < bb->interval && bb->entries > 0) {
        size_t m = key.len < bb->last_key.len ? key.len : bb->last_key.len;
        while (shared < m && key.ptr[shared] == bb->last_key.data[shared])
            shared++;
    } else {
        uint8_t r[4];
        dk_put_u32(r, (uint32_t)bb->buf.len);
        if ((rc = dk_buf_append(&bb->restarts, r, 4)))
            return rc;
        bb->counter = 0;
    }
    uint8_t v[3 * DK_VARINT_MAX];
    size_t n = dk_put_varint(v, shared);
    n += dk_put_varint(v + n, key.len - shared);
    n += dk_put_varint(v + n, value.len);
    if ((rc = dk_buf_reserve(&bb->buf, n + key.len - shared + value.len)))
        return rc;
    dk_buf_append(&bb->buf, v, n);
    dk_buf_append(&bb->buf, key.ptr + shared, key.len - shared);
    dk_buf_append(&bb->buf, value.ptr, value.len);
    dk_buf_reset(&bb->last_key);
    if ((rc = dk_buf_append(&bb->last_key, key.ptr, key.len)))
        return rc;
    bb->counter++;
    bb->entries++;
    return 0;
}

size_t dk__lsm_bb_estimate(const lsm_block_builder *bb)
{
    return bb->buf.len + bb->restarts.len + 4;
}

int dk__lsm_bb_finish(lsm_block_builder *bb, dk_slice *out)
{
    uint8_t n[4];
    dk_put_u32(n, (uint32_t)(bb->restarts.len / 4));
    int rc = dk_buf_append(&bb->buf, bb->restarts.data, bb->restarts.len);
    if (!rc)
        rc = dk_buf_append(&bb->buf, n, 4);
    if (rc)
        return rc;
    out->ptr = bb->buf.data;
    out->len = bb->buf.len;
    return 0;
}

int dk__lsm_block_check(const uint8_t *data, size_t size)
{
    if (size < 4)
        return DK_ECORRUPT;
    uint32_t n = dk_get_u32(data + size - 4);
    if (n > (size - 4) / 4)
        return DK_ECORRUPT;
    size_t limit = size - 4 - (size_t)n * 4;
    for (uint32_t i = 0; i < n; i++)
        if (dk_get_u32(data + limit + (size_t)i * 4) >= limit && limit > 0)
            return DK_ECORRUPT;
    return 0;
}

typedef lsm_block_iter blk_iter;

static uint32_t bi_restart(blk_iter *b, uint32_t i)
{
    return dk_get_u32(b->data + b->limit + (size_t)i * 4);
}

/* Decode the entry at off into key/value; 0 or DK_ECORRUPT. */
static int bi_decode(blk_iter *b, size_t off)
{
    if (off >= b->limit) /* also a bad restart offset: init does not scan them */
        goto bad;
    const uint8_t *p = b->data + off, *end = b->data + b->limit;
    uint64_t shared, unshared, vlen;
    size_t k;
    if (!(k = dk_get_varint(p, end, &shared)))
        goto bad;
    p += k;
    if (!(k = dk_get_varint(p, end, &unshared)))
        goto bad;
    p += k;
    if (!(k = dk_get_varint(p, end, &vlen)))
        goto bad;
    p += k;
    if (unshared > (uint64_t)(end - p) || vlen > (uint64_t)(end - p) - unshared)
        goto bad;
    if (shared > b->klen)
        goto bad;
    if (shared + unshared > b->kcap) {
        /* A key longer than the inline room: move to the heap. */
        size_t cap = (size_t)(shared + unshared);
        uint8_t *nk = b->key == b->kin ? malloc(cap) : realloc(b->key, cap);
        if (!nk) {
            b->status = -ENOMEM;
            b->valid = 0;
            return b->status;
        }
        if (b->key == b->kin)
            memcpy(nk, b->kin, shared);
        b->key = nk;
        b->kcap = cap;
    }
    memcpy(b->key + shared, p, unshared);
    b->klen = (size_t)(shared + unshared);
    p += unshared;
    if (b->klen < LSM_TRAILER)
        goto bad;
    b->value.ptr = p;
    b->value.len = vlen;
    b->cur = off;
    b->next = (size_t)(p + vlen - b->data);
    b->valid = 1;
    return 0;
bad:
    b->valid = 0;
    b->status = DK_ECORRUPT;
    return DK_ECORRUPT;
}

static dk_slice bi_keyslice(const blk_iter *b)
{
    dk_slice s = {b->key, b->klen};
    return s;
}

static void bi_first(lsm_iter *it)
{
    blk_iter *b = (blk_iter *)it;
    b->klen = 0;
    b->valid = 0;
    if (b->limit > 0 && !b->status)
        bi_decode(b, 0);
}

static void bi_next(lsm_iter *it)
{
    blk_iter *b = (blk_iter *)it;
    if (b->next >= b->limit) {
        b->valid = 0;
        return;
    }
    bi_decode(b, b->next);
}

/* The key of the restart entry at off, in place (a restart entry shares
 * nothing with the one before, so its key is contiguous in the block): no
 * copy per binary-search probe. 0, or DK_ECORRUPT as bi_decode would
 * answer for the same entry. */
static int bi_restart_key(blk_iter *b, size_t off, dk_slice *key)
{
    if (off >= b->limit)
        return DK_ECORRUPT;
    const uint8_t *p = b->data + off, *end = b->data + b->limit;
    uint64_t shared, unshared, vlen;
    size_t k;
    if (!(k = dk_get_varint(p, end, &shared)))
        return DK_ECORRUPT;
    p += k;
    if (!(k = dk_get_varint(p, end, &unshared)))
        return DK_ECORRUPT;
    p += k;
    if (!(k = dk_get_varint(p, end, &vlen)))
        return DK_ECORRUPT;
    p += k;
    if (shared != 0 || unshared > (uint64_t)(end - p) || vlen > (uint64_t)(end - p) - unshared ||
        unshared < LSM_TRAILER)
        return DK_ECORRUPT;
    key->ptr = p;
    key->len = (size_t)unshared;
    return 0;
}

static void bi_seek(lsm_iter *it, dk_slice target)
{
    blk_iter *b = (blk_iter *)it;
    b->valid = 0;
    if (b->status || b->limit == 0 || b->nres == 0)
        return;
    /* Last restart whose key is < target. */
    uint32_t lo = 0, hi = b->nres - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        dk_slice k;
        if (bi_restart_key(b, bi_restart(b, mid), &k)) {
            b->status = DK_ECORRUPT;
            return;
        }
        if (lsm_icmp(k, target) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    b->klen = 0;
    if (bi_decode(b, bi_restart(b, lo)))
        return;
    while (b->valid && lsm_icmp(bi_keyslice(b), target) < 0)
        bi_next(it);
}

static int bi_valid(lsm_iter *it)
{
    return ((blk_iter *)it)->valid;
}
static dk_slice bi_key(lsm_iter *it)
{
    return bi_keyslice((blk_iter *)it);
}
static dk_slice bi_value(lsm_iter *it)
{
    return ((blk_iter *)it)->value;
}
static int bi_status(lsm_iter *it)
{
    return ((blk_iter *)it)->status;
}
static void bi_destroy(lsm_iter *it)
{
    blk_iter *b = (blk_iter *)it;
    if (b->release)
        b->release(b->arg);
    dk__lsm_block_iter_done(b);
    free(b);
}

static const lsm_iter_ops bi_ops = {
    .seek = bi_seek,
    .first = bi_first,
    .next = bi_next,
    .valid = bi_valid,
    .key = bi_key,
    .value = bi_value,
    .status = bi_status,
    .destroy = bi_destroy,
};

void dk__lsm_block_iter_init(lsm_block_iter *b, const uint8_t *data, size_t size)
{
    b->base.ops = &bi_ops;
    b->data = data;
    b->limit = 0;
    b->nres = 0;
    b->cur = b->next = 0;
    b->valid = b->status = 0;
    b->key = b->kin;
    b->klen = 0;
    b->kcap = sizeof(b->kin);
    b->value = (dk_slice){NULL, 0};
    b->release = NULL;
    b->arg = NULL;
    /* Only the trailer's shape here, in O(1): a point read sets up an
     * iterator over a cached index block of thousands of restarts. Each
     * restart offset is checked when bi_decode uses it. */
    uint32_t n = size >= 4 ? dk_get_u32(data + size - 4) : 0;
    if (size < 4 || n > (size - 4) / 4) {
        b->status = DK_ECORRUPT;
    } else {
        b->nres = n;
        b->limit = size - 4 - (size_t)n * 4;
        if (b->nres == 0 && b->limit > 0)
            b->status = DK_ECORRUPT;
    }
}

void dk__lsm_block_iter_done(lsm_block_iter *b)
{
    if (b->key != b->kin)
        free(b->key);
    b->key = b->kin;
    b->kcap = sizeof(b->kin);
    b->klen = 0;
}

lsm_iter *dk__lsm_block_iter(const uint8_t *data, size_t size, void (*release)(void *), void *arg)
{
    blk_iter *b = malloc(sizeof(*b));
    if (!b) {
        if (release)
            release(arg);
        return NULL;
    }
    dk__lsm_block_iter_init(b, data, size);
    b->release = release;
    b->arg = arg;
    return &b->base;
}
