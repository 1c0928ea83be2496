/*
 * rpc_wire.h - the field writer and reader every RPC body codec of this
 * folder uses (rpc_frame.c, rpc_scan.c, rpc_stream.c, rpc_ae.c): varints,
 * zigzag signed varints, length-prefixed and fixed-size fields.
 *
 * The writer appends to a dk_buf and remembers the first error and where
 * it started, so a failed encoder leaves the buffer as it found it. The
 * reader borrows the body; any failure (a short field, a bad varint, a
 * value out of its bounds) sets bad and turns every later read into a
 * no-op, so a decoder reads all its fields and checks once at rd_done,
 * which also refuses trailing bytes. Static inline: private to rpc/, one
 * copy of the bounds checks instead of one per message family.
 */
#ifndef DK_RPC_WIRE_H
#define DK_RPC_WIRE_H
#include <stdint.h>
#include <string.h>
#include "dynkv/types.h"
#include "util/buf.h"
#include "util/coding.h"

typedef struct {
    dk_buf *b;
    size_t start;
    int rc;
} wr;

static inline void wr_init(wr *w, dk_buf *b)
{
    w->b = b;
    w->start = b->len;
    w->rc = 0;
}

static inline void wr_bytes(wr *w, const void *p, size_t n)
{
    if (!w->rc)
        w->rc = dk_buf_append(w->b, p, n);
}

static inline void wr_varint(wr *w, uint64_t v)
{
    uint8_t tmp[DK_VARINT_MAX];
    wr_bytes(w, tmp, dk_put_varint(tmp, v));
}

static inline void wr_svarint(wr *w, int64_t v)
{
    wr_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline void wr_lp(wr *w, const void *p, size_t n)
{
    wr_varint(w, n);
    wr_bytes(w, p, n);
}

/* 0, or the first error with the buffer back at its length before wr_init. */
static inline int wr_done(wr *w)
{
    if (w->rc)
        w->b->len = w->start;
    return w->rc;
}

typedef struct {
    const uint8_t *p, *end;
    int bad;
} rd;

static inline void rd_init(rd *r, dk_slice s)
{
    r->p = s.ptr;
    r->end = s.ptr + s.len;
    r->bad = 0;
}

static inline uint64_t rd_varint(rd *r)
{
    uint64_t v = 0;
    if (r->bad)
        return 0;
    size_t n = dk_get_varint(r->p, r->end, &v);
    if (!n) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    return v;
}

/* A varint that must lie in [min, max]. */
static inline uint64_t rd_bounded(rd *r, uint64_t min, uint64_t max)
{
    uint64_t v = rd_varint(r);
    if (r->bad || v < min || v > max) {
        r->bad = 1;
        return 0;
    }
    return v;
}

static inline uint32_t rd_u32(rd *r)
{
    return (uint32_t)rd_bounded(r, 0, UINT32_MAX);
}

static inline int32_t rd_s32(rd *r)
{
    uint64_t z = rd_varint(r);
    int64_t v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (v < INT32_MIN || v > INT32_MAX)
        r->bad = 1;
    return r->bad ? 0 : (int32_t)v;
}

/* n bytes, borrowed. */
static inline dk_slice rd_view(rd *r, size_t n)
{
    dk_slice s = {NULL, 0};
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return s;
    }
    s.ptr = r->p;
    s.len = n;
    r->p += n;
    return s;
}

/* n bytes copied into dst. */
static inline void rd_fixed(rd *r, void *dst, size_t n)
{
    dk_slice s = rd_view(r, n);
    if (!r->bad)
        memcpy(dst, s.ptr, n);
}

/* A length-prefixed field of min..max bytes, borrowed. */
static inline dk_slice rd_lp(rd *r, size_t min, size_t max)
{
    uint64_t n = rd_varint(r);
    if (r->bad || n < min || n > max || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return (dk_slice){NULL, 0};
    }
    return rd_view(r, (size_t)n);
}

/* DK_ECORRUPT unless every read succeeded and the body was used up. */
static inline int rd_done(rd *r)
{
    return r->bad || r->p != r->end ? DK_ECORRUPT : 0;
}
#endif /* DK_RPC_WIRE_H */
