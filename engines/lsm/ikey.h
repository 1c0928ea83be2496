/*
 * ikey.h - internal keys and the internal iterator interface shared by
 * every LSM component.
 *
 * An internal key is the user key followed by an 8-byte little-endian
 * trailer (seq << 8 | type). Internal keys order by user key (bytewise,
 * shorter first on a tie) and then by trailer descending, so the newest
 * version of a key comes first - LevelDB's layout, chosen because one
 * ordering then serves memtables, blocks, tables and the merge.
 *
 * An lsm_iter walks internal keys in that order. Slices it returns stay
 * valid until the next call that moves it or destroys it.
 */
#ifndef DK_LSM_IKEY_H
#define DK_LSM_IKEY_H
#include <stdint.h>
#include <string.h>

#include "dynkv/types.h"
#include "util/coding.h"

/* LSM_TYPE_BLOB: the value is a reference to a blob file (blob.h); only
 * in tables, never in the WAL or a memtable. */
enum { LSM_TYPE_DELETE = 0, LSM_TYPE_VALUE = 1, LSM_TYPE_BLOB = 2 };
#define LSM_SEQ_MAX ((UINT64_C(1) << 56) - 1)
#define LSM_TRAILER 8u

static inline uint64_t lsm_trailer(uint64_t seq, int type)
{
    return (seq << 8) | (uint64_t)type;
}

static inline dk_slice lsm_ikey_user(dk_slice ik)
{
    dk_slice s = {ik.ptr, ik.len - LSM_TRAILER};
    return s;
}
static inline uint64_t lsm_ikey_seq(dk_slice ik)
{
    return dk_get_u64(ik.ptr + ik.len - LSM_TRAILER) >> 8;
}
static inline int lsm_ikey_type(dk_slice ik)
{
    return (int)(dk_get_u64(ik.ptr + ik.len - LSM_TRAILER) & 0xff);
}

/* Bytewise order, shorter first on a tie (engine.h). */
static inline int lsm_ucmp(dk_slice a, dk_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static inline int lsm_icmp(dk_slice a, dk_slice b)
{
    int c = lsm_ucmp(lsm_ikey_user(a), lsm_ikey_user(b));
    if (c)
        return c;
    uint64_t ta = dk_get_u64(a.ptr + a.len - LSM_TRAILER), tb = dk_get_u64(b.ptr + b.len - LSM_TRAILER);
    return ta > tb ? -1 : ta < tb;
}

/* Build user||trailer into buf (room for ukey.len + 8); returns the slice. */
static inline dk_slice lsm_ikey_make(uint8_t *buf, dk_slice ukey, uint64_t seq, int type)
{
    if (ukey.len)
        memcpy(buf, ukey.ptr, ukey.len);
    dk_put_u64(buf + ukey.len, lsm_trailer(seq, type));
    dk_slice s = {buf, ukey.len + LSM_TRAILER};
    return s;
}

/* The seek target for "newest version of ukey visible at seq". */
static inline dk_slice lsm_ikey_lookup(uint8_t *buf, dk_slice ukey, uint64_t seq)
{
    return lsm_ikey_make(buf, ukey, seq, 0xff);
}

typedef struct lsm_iter lsm_iter;
typedef struct lsm_iter_ops {
    void (*seek)(lsm_iter *it, dk_slice ikey); /* first entry >= ikey */
    void (*first)(lsm_iter *it);
    void (*next)(lsm_iter *it);
    int (*valid)(lsm_iter *it);
    dk_slice (*key)(lsm_iter *it);
    dk_slice (*value)(lsm_iter *it);
    int (*status)(lsm_iter *it); /* 0 or the first error */
    void (*destroy)(lsm_iter *it);
} lsm_iter_ops;
struct lsm_iter {
    const lsm_iter_ops *ops;
};

/* A merging iterator over n children (merge.c); takes ownership of the
 * children and of the kids array (malloc'd). Yields every entry of every
 * child in internal-key order. NULL when out of memory (children freed). */
lsm_iter *dk__lsm_merge_iter(lsm_iter **kids, size_t n);
#endif
