/*
 * cursor.h - a bounds-checked reader over a byte slice and an appending
 * writer into a dk_buf, for the small varint-based encodings (the CRDT
 * operation and value of dynkv/crdt.h, the crdt resolver's state).
 *
 * Both keep a sticky error instead of returning one per call, so a decoder
 * reads field after field and checks once at the end (LevelDB's Slice
 * helpers, with the error folded in): once a read fails, every later read
 * returns zero or an empty slice and nothing is read past the end. Varints
 * must be in their shortest form, so whatever decodes re-encodes to the
 * same bytes. Header-only and stateless; thread-safe on distinct cursors.
 */
#ifndef DK_UTIL_CURSOR_H
#define DK_UTIL_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "util/buf.h"
#include "util/coding.h"

typedef struct dk_rd {
    const uint8_t *p, *end;
    int bad; /* sticky: a read ran out of bytes or met a bad varint */
} dk_rd;

static inline void dk_rd_init(dk_rd *r, dk_slice in)
{
    r->p = in.ptr;
    r->end = in.ptr + in.len;
    r->bad = in.ptr == NULL && in.len != 0;
}

static inline size_t dk_rd_left(const dk_rd *r)
{
    return r->bad ? 0 : (size_t)(r->end - r->p);
}

static inline uint8_t dk_rd_u8(dk_rd *r)
{
    if (r->bad || r->p == r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static inline uint64_t dk_rd_uvar(dk_rd *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : dk_get_varint(r->p, r->end, &v);
    if (n == 0 || n != dk_varint_len(v)) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    return v;
}

static inline int64_t dk_rd_svar(dk_rd *r)
{
    uint64_t z = dk_rd_uvar(r);
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* A uvar length (at most max) and that many bytes, borrowed from the input. */
static inline dk_slice dk_rd_str(dk_rd *r, size_t max)
{
    dk_slice s = {NULL, 0};
    uint64_t n = dk_rd_uvar(r);
    if (r->bad || n > max || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return s;
    }
    s.ptr = r->p;
    s.len = (size_t)n;
    r->p += n;
    return s;
}

/* 0 when every read succeeded and the input is used up, else -1. */
static inline int dk_rd_done(const dk_rd *r)
{
    return r->bad || r->p != r->end ? -1 : 0;
}

typedef struct dk_wr {
    dk_buf *out;
    int err; /* sticky: 0 or -ENOMEM */
} dk_wr;

static inline void dk_wr_init(dk_wr *w, dk_buf *out)
{
    w->out = out;
    w->err = 0;
}

static inline void dk_wr_bytes(dk_wr *w, const void *p, size_t n)
{
    if (!w->err && n)
        w->err = dk_buf_append(w->out, p, n);
}

static inline void dk_wr_u8(dk_wr *w, uint8_t v)
{
    dk_wr_bytes(w, &v, 1);
}

static inline void dk_wr_uvar(dk_wr *w, uint64_t v)
{
    uint8_t tmp[DK_VARINT_MAX];
    dk_wr_bytes(w, tmp, dk_put_varint(tmp, v));
}

static inline void dk_wr_svar(dk_wr *w, int64_t v)
{
    dk_wr_uvar(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline void dk_wr_str(dk_wr *w, dk_slice s)
{
    dk_wr_uvar(w, s.len);
    dk_wr_bytes(w, s.ptr, s.len);
}

/* Bytewise order, shorter first on a common prefix: <0, 0, >0. */
static inline int dk_slice_cmp(dk_slice a, dk_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

#endif /* DK_UTIL_CURSOR_H */
