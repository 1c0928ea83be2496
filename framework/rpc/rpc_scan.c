/*
 * rpc_scan.c - SCAN_RANGE and SCAN_RESULT bodies (layout and contracts in
 * rpc_scan.h).
 *
 * Written for hostile input like rpc_frame.c's decoders: one bounds-checked
 * reader whose failure is sticky, every length checked against the bytes
 * left before it is used, nothing allocated. The span list is validated
 * whole (order, disjointness, the one wrapping span) so that the node can
 * binary-search it without re-checking, and a SCAN_RESULT is validated
 * whole (lengths, key order, count) before anyone iterates it, so the
 * iterator only walks bytes already proven well-formed.
 *
 * These codecs live in their own file rather than in rpc_frame.c because
 * they are one concept (the scan's wire format) and that file holds the
 * frame and the point-request messages; the field reader is rpc_wire.h's.
 */
#include <errno.h>
#include <string.h>
#include "rpc/rpc_scan.h"
#include "rpc/rpc_wire.h"
#include "util/coding.h"

/* ---- spans ------------------------------------------------------------------ */

void dk_msg_scan_span_put(uint8_t out[DK_SCAN_SPAN_LEN], const dk_msg_scan_span *s)
{
    dk_put_u64(out, s->start_hi);
    dk_put_u64(out + 8, s->start_lo);
    dk_put_u64(out + 16, s->end_hi);
    dk_put_u64(out + 24, s->end_lo);
}

void dk_msg_scan_span_get(const uint8_t in[DK_SCAN_SPAN_LEN], dk_msg_scan_span *s)
{
    s->start_hi = dk_get_u64(in);
    s->start_lo = dk_get_u64(in + 8);
    s->end_hi = dk_get_u64(in + 16);
    s->end_lo = dk_get_u64(in + 24);
}

static int scan_tok_cmp(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
    if (ahi != bhi)
        return ahi < bhi ? -1 : 1;
    return alo < blo ? -1 : alo > blo;
}

/* The span list's contract (rpc_scan.h): disjoint, ascending by end, only
 * the first may wrap, a whole circle alone. */
static int scan_spans_ok(const uint8_t *p, uint32_t n)
{
    dk_msg_scan_span first, prev, s;
    dk_msg_scan_span_get(p, &first);
    int wraps = scan_tok_cmp(first.start_hi, first.start_lo, first.end_hi, first.end_lo) >= 0;
    prev = first;
    for (uint32_t i = 1; i < n; i++) {
        dk_msg_scan_span_get(p + (size_t)i * DK_SCAN_SPAN_LEN, &s);
        if (scan_tok_cmp(s.start_hi, s.start_lo, s.end_hi, s.end_lo) >= 0 ||
            scan_tok_cmp(prev.end_hi, prev.end_lo, s.start_hi, s.start_lo) > 0)
            return 0;
        prev = s;
    }
    if (!wraps)
        return 1;
    if (n == 1)
        return 1;
    /* The wrapping part (first.start, top] must not reach into the last span,
     * and a whole circle (start == end) overlaps everything. */
    return scan_tok_cmp(first.start_hi, first.start_lo, first.end_hi, first.end_lo) != 0 &&
           scan_tok_cmp(first.start_hi, first.start_lo, prev.end_hi, prev.end_lo) >= 0;
}

/* ---- SCAN_RANGE ----------------------------------------------------------------- */

static int scan_range_ok(const dk_msg_scan_range *m)
{
    return m->prefix.len <= DK_KEY_MAX && m->after.len <= DK_KEY_MAX && m->limit >= 1 &&
           m->limit <= DK_SCAN_LIMIT_MAX && !(m->flags & ~DK_SCAN_RANGE_FLAGS) && m->max_bytes >= 1 &&
           m->max_bytes <= DK_FRAME_BODY_MAX && m->n_spans >= 1 && m->n_spans <= DK_SCAN_SPANS_MAX &&
           m->spans.len == (size_t)m->n_spans * DK_SCAN_SPAN_LEN && scan_spans_ok(m->spans.ptr, m->n_spans);
}

static int scan_put_varint(dk_buf *out, uint64_t v)
{
    uint8_t tmp[DK_VARINT_MAX];
    return dk_buf_append(out, tmp, dk_put_varint(tmp, v));
}

static int scan_put_lp(dk_buf *out, dk_slice s)
{
    int rc = scan_put_varint(out, s.len);
    return rc ? rc : dk_buf_append(out, s.ptr, s.len);
}

int dk_msg_scan_range_encode(dk_buf *out, const dk_msg_scan_range *m)
{
    if (!scan_range_ok(m))
        return -EINVAL;
    size_t start = out->len;
    int rc = scan_put_lp(out, m->prefix);
    if (!rc)
        rc = scan_put_lp(out, m->after);
    if (!rc)
        rc = scan_put_varint(out, m->limit);
    if (!rc)
        rc = scan_put_varint(out, m->flags);
    if (!rc)
        rc = scan_put_varint(out, m->max_bytes);
    if (!rc)
        rc = scan_put_varint(out, m->n_spans);
    if (!rc)
        rc = dk_buf_append(out, m->spans.ptr, m->spans.len);
    if (rc)
        out->len = start;
    return rc;
}

int dk_msg_scan_range_decode(dk_slice body, dk_msg_scan_range *m)
{
    rd r = {body.ptr, body.ptr + body.len, 0};
    memset(m, 0, sizeof(*m));
    m->prefix = rd_lp(&r, 0, DK_KEY_MAX);
    m->after = rd_lp(&r, 0, DK_KEY_MAX);
    m->limit = rd_bounded(&r, 1, DK_SCAN_LIMIT_MAX);
    m->flags = rd_bounded(&r, 0, UINT32_MAX);
    if (m->flags & ~DK_SCAN_RANGE_FLAGS)
        r.bad = 1;
    m->max_bytes = rd_bounded(&r, 1, DK_FRAME_BODY_MAX);
    m->n_spans = rd_bounded(&r, 1, DK_SCAN_SPANS_MAX);
    if (!r.bad)
        m->spans = rd_view(&r, (size_t)m->n_spans * DK_SCAN_SPAN_LEN);
    if (r.bad || r.p != r.end || !scan_spans_ok(m->spans.ptr, m->n_spans))
        return DK_ECORRUPT;
    return 0;
}

/* ---- SCAN_RESULT -------------------------------------------------------------- */

int dk_msg_scan_key_cmp(dk_slice a, dk_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return a.len < b.len ? -1 : a.len > b.len;
}

size_t dk_msg_scan_entry_len(size_t key_len, size_t object_len)
{
    return dk_varint_len(key_len) + key_len + dk_varint_len(object_len) + object_len;
}

int dk_msg_scan_result_start(dk_buf *out, size_t *at)
{
    static const uint8_t zero[DK_SCAN_RESULT_HEAD];
    *at = out->len;
    return dk_buf_append(out, zero, sizeof(zero));
}

int dk_msg_scan_result_add(dk_buf *out, size_t at, dk_slice key, dk_slice object)
{
    if (key.len == 0 || key.len > DK_KEY_MAX || at + DK_SCAN_RESULT_HEAD > out->len)
        return -EINVAL;
    int rc = dk_buf_reserve(out, dk_msg_scan_entry_len(key.len, object.len));
    if (rc)
        return rc;
    /* Room is reserved: these appends cannot fail. */
    scan_put_lp(out, key);
    scan_put_lp(out, object);
    dk_put_u32(out->data + at + 1, dk_get_u32(out->data + at + 1) + 1);
    return 0;
}

void dk_msg_scan_result_more(dk_buf *out, size_t at)
{
    out->data[at] |= DK_SCAN_MORE;
}

int dk_msg_scan_result_decode(dk_slice body, dk_msg_scan_result *m)
{
    rd r = {body.ptr, body.ptr + body.len, 0};
    memset(m, 0, sizeof(*m));
    dk_slice head = rd_view(&r, DK_SCAN_RESULT_HEAD);
    if (r.bad || (head.ptr[0] & ~DK_SCAN_RESULT_FLAGS))
        return DK_ECORRUPT;
    m->flags = head.ptr[0];
    m->n = dk_get_u32(head.ptr + 1);
    if (m->n > DK_SCAN_ENTRIES_MAX || ((m->flags & DK_SCAN_MORE) && m->n == 0))
        return DK_ECORRUPT;
    m->entries.ptr = r.p;
    m->entries.len = (size_t)(r.end - r.p);
    dk_slice prev = {NULL, 0};
    for (uint32_t i = 0; i < m->n; i++) {
        dk_slice key = rd_lp(&r, 1, DK_KEY_MAX);
        rd_lp(&r, 0, (size_t)(r.end - r.p));
        if (r.bad || (i && dk_msg_scan_key_cmp(prev, key) >= 0))
            return DK_ECORRUPT;
        prev = key;
    }
    if (r.p != r.end)
        return DK_ECORRUPT;
    m->last_key = prev;
    return 0;
}

void dk_msg_scan_iter_init(dk_msg_scan_iter *it, const dk_msg_scan_result *m)
{
    it->p = m->entries.ptr;
    it->end = m->entries.ptr + m->entries.len;
}

int dk_msg_scan_iter_next(dk_msg_scan_iter *it, dk_slice *key, dk_slice *object)
{
    if (!it->p || it->p == it->end)
        return 0;
    rd r = {it->p, it->end, 0};
    *key = rd_lp(&r, 1, DK_KEY_MAX);
    *object = rd_lp(&r, 0, (size_t)(r.end - r.p));
    if (r.bad) {
        it->p = it->end;
        return 0;
    }
    it->p = r.p;
    return 1;
}
