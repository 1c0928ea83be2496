/*
 * memo.c - the point-lookup memo (memo.h).
 */
#include "memo.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "ikey.h"
#include "util/coding.h"

#define MEMO_HDR 4u /* key length */
#define MEMO_SEQ 8u /* seq, after the key */

static _Atomic uint64_t memo_ids;

uint64_t dk__lsm_memo_next_id(void)
{
    return atomic_fetch_add_explicit(&memo_ids, 1, memory_order_relaxed) + 1;
}

int dk__lsm_memo_get(lsm_cache *c, uint64_t vid, dk_slice key, uint64_t hash, lsm_found *f)
{
    lsm_cblock *h = dk__lsm_cache_probe(c, LSM_MEMO_NS | vid, hash);
    if (!h)
        return 0;
    const uint8_t *p = h->data;
    size_t klen = h->size >= MEMO_HDR ? dk_get_u32(p) : SIZE_MAX;
    if (klen != key.len || h->size <= MEMO_HDR + klen + MEMO_SEQ || memcmp(p + MEMO_HDR, key.ptr, klen)) {
        dk__lsm_cache_release(c, h); /* another key with this hash */
        return 0;
    }
    p += MEMO_HDR + klen;
    f->type = LSM_TYPE_BLOB;
    f->seq = dk_get_u64(p);
    f->value = (dk_slice){p + MEMO_SEQ, h->size - MEMO_HDR - klen - MEMO_SEQ};
    f->h = h;
    return 1;
}

void dk__lsm_memo_put(lsm_cache *c, lsm_door *door, uint64_t vid, dk_slice key, uint64_t hash,
                      const lsm_found *f)
{
    if (f->type != LSM_TYPE_BLOB || !f->value.len || f->value.len > LSM_BLOB_REF_MAX || key.len > UINT32_MAX)
        return;
    if (door && !dk__lsm_door_admit(door, hash ^ (vid * 0x9e3779b97f4a7c15ull)))
        return;
    /* The reference without its head (memo.h). */
    uint8_t bare[LSM_BLOB_REF_BARE];
    dk_slice ref = f->value;
    lsm_blob_ref r;
    if ((ref.ptr[0] & LSM_BLOB_HEAD) && dk__lsm_blob_ref_decode(ref, &r) == 0) {
        dk__lsm_blob_ref_set_head(&r, ref, 0);
        ref = (dk_slice){bare, dk__lsm_blob_ref_encode(bare, &r)};
    }
    size_t n = MEMO_HDR + key.len + MEMO_SEQ + ref.len;
    uint8_t *e = malloc(n);
    if (!e)
        return;
    dk_put_u32(e, (uint32_t)key.len);
    memcpy(e + MEMO_HDR, key.ptr, key.len);
    dk_put_u64(e + MEMO_HDR + key.len, f->seq);
    memcpy(e + MEMO_HDR + key.len + MEMO_SEQ, ref.ptr, ref.len);
    lsm_cblock *h = dk__lsm_cache_insert(c, LSM_MEMO_NS | vid, hash, e, n); /* owns e */
    if (h)
        dk__lsm_cache_release(c, h);
}
