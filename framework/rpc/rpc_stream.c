/*
 * rpc_stream.c - encoders and validating decoders of the streaming
 * messages (layouts in rpc_stream.h).
 *
 * A file of its own rather than more of rpc_frame.c: the frame layer only
 * needs the type numbers, and these bodies (ranges as fixed 32-byte spans,
 * items as a validated blob walked later without checks) have their own
 * small cursor. Like rpc_frame.c's reader, a failure is sticky so each
 * decoder reads in a straight line and checks once.
 */
#include <errno.h>
#include <string.h>

#include "rpc/rpc_frame.h"
#include "rpc/rpc_stream.h"
#include "util/coding.h"

/* ---- writer ----------------------------------------------------------- */

typedef struct {
    dk_buf *b;
    size_t start;
    int rc;
} sw;

static void sw_init(sw *w, dk_buf *b)
{
    w->b = b;
    w->start = b->len;
    w->rc = 0;
}

static void sw_bytes(sw *w, const void *p, size_t n)
{
    if (!w->rc && n)
        w->rc = dk_buf_append(w->b, p, n);
}

static void sw_varint(sw *w, uint64_t v)
{
    uint8_t tmp[DK_VARINT_MAX];
    sw_bytes(w, tmp, dk_put_varint(tmp, v));
}

static void sw_svarint(sw *w, int64_t v)
{
    sw_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void sw_lp(sw *w, const void *p, size_t n)
{
    sw_varint(w, n);
    sw_bytes(w, p, n);
}

static int sw_done(sw *w)
{
    if (w->rc)
        w->b->len = w->start;
    return w->rc;
}

/* ---- reader ----------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} sr;

static void sr_init(sr *r, dk_slice s)
{
    r->p = s.ptr;
    r->end = s.ptr + s.len;
    r->bad = 0;
}

static uint64_t sr_varint(sr *r)
{
    uint64_t v = 0;
    size_t n;
    if (r->bad)
        return 0;
    if (!(n = dk_get_varint(r->p, r->end, &v))) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    return v;
}

static uint64_t sr_bounded(sr *r, uint64_t min, uint64_t max)
{
    uint64_t v = sr_varint(r);
    if (v < min || v > max)
        r->bad = 1;
    return r->bad ? 0 : v;
}

static int32_t sr_svarint32(sr *r)
{
    uint64_t z = sr_varint(r);
    int64_t v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (v < INT32_MIN || v > INT32_MAX)
        r->bad = 1;
    return r->bad ? 0 : (int32_t)v;
}

static dk_slice sr_lp(sr *r, size_t min, size_t max)
{
    dk_slice s = {NULL, 0};
    uint64_t n = sr_varint(r);
    if (r->bad || n < min || n > max || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return s;
    }
    s.ptr = r->p;
    s.len = (size_t)n;
    r->p += n;
    return s;
}

static dk_slice sr_fixed(sr *r, size_t n)
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

static int sr_done(sr *r)
{
    return r->bad || r->p != r->end ? DK_ECORRUPT : 0;
}

/* A plan signature: 1..32 printable characters, no space. */
static int plan_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > DK_STREAM_PLAN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f)
            return 0;
    return 1;
}

static void sr_plan(sr *r, char *out)
{
    dk_slice s = sr_lp(r, 1, DK_STREAM_PLAN_MAX);
    if (r->bad || !plan_ok(s.ptr, s.len)) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
}

/* ---- STREAM_REQ --------------------------------------------------------- */

void dk_stream_span_put(uint8_t *p, const dk_stream_span *s)
{
    dk_put_u64(p, s->start_hi);
    dk_put_u64(p + 8, s->start_lo);
    dk_put_u64(p + 16, s->end_hi);
    dk_put_u64(p + 24, s->end_lo);
}

void dk_stream_span_get(const uint8_t *p, dk_stream_span *s)
{
    s->start_hi = dk_get_u64(p);
    s->start_lo = dk_get_u64(p + 8);
    s->end_hi = dk_get_u64(p + 16);
    s->end_lo = dk_get_u64(p + 24);
}

int dk_msg_stream_req_encode(dk_buf *out, const dk_msg_stream_req *m)
{
    size_t plen = strnlen(m->plan, sizeof(m->plan));
    if (!plan_ok((const uint8_t *)m->plan, plen) || m->cursor.len > DK_KEY_MAX || m->max_bytes == 0 ||
        m->max_bytes > DK_STREAM_BATCH_MAX || m->n_ranges == 0 || m->n_ranges > DK_STREAM_RANGES_MAX ||
        m->ranges.len != (size_t)m->n_ranges * DK_STREAM_RANGE_LEN)
        return -EINVAL;
    sw w;
    sw_init(&w, out);
    sw_lp(&w, m->plan, plen);
    sw_lp(&w, m->cursor.ptr, m->cursor.len);
    sw_varint(&w, m->max_bytes);
    sw_varint(&w, m->n_ranges);
    sw_bytes(&w, m->ranges.ptr, m->ranges.len);
    return sw_done(&w);
}

int dk_msg_stream_req_decode(dk_slice body, dk_msg_stream_req *m)
{
    sr r;
    sr_init(&r, body);
    memset(m, 0, sizeof(*m));
    sr_plan(&r, m->plan);
    m->cursor = sr_lp(&r, 0, DK_KEY_MAX);
    m->max_bytes = (uint32_t)sr_bounded(&r, 1, DK_STREAM_BATCH_MAX);
    m->n_ranges = (uint32_t)sr_bounded(&r, 1, DK_STREAM_RANGES_MAX);
    m->ranges = sr_fixed(&r, (size_t)m->n_ranges * DK_STREAM_RANGE_LEN);
    return sr_done(&r);
}

/* ---- STREAM_BATCH ------------------------------------------------------- */

int dk_stream_item_put(dk_buf *items, dk_slice key, dk_slice object)
{
    if (key.len == 0 || key.len > DK_KEY_MAX || object.len == 0 || object.len > DK_FRAME_BODY_MAX)
        return -EINVAL;
    sw w;
    sw_init(&w, items);
    sw_lp(&w, key.ptr, key.len);
    sw_lp(&w, object.ptr, object.len);
    return sw_done(&w);
}

int dk_stream_item_next(dk_slice *rest, dk_slice *key, dk_slice *object)
{
    if (rest->len == 0)
        return DK_EEOF;
    sr r;
    sr_init(&r, *rest);
    *key = sr_lp(&r, 1, DK_KEY_MAX);
    *object = sr_lp(&r, 1, DK_FRAME_BODY_MAX);
    if (r.bad)
        return DK_ECORRUPT;
    rest->len -= (size_t)(r.p - rest->ptr);
    rest->ptr = r.p;
    return 0;
}

int dk_msg_stream_batch_encode(dk_buf *out, const dk_msg_stream_batch *m)
{
    if ((m->flags & ~DK_STREAM_LAST) || m->cursor.len > DK_KEY_MAX || m->n_items > DK_STREAM_ITEMS_MAX ||
        (m->status != 0 && (m->n_items || m->items.len)) || (m->n_items == 0) != (m->items.len == 0))
        return -EINVAL;
    sw w;
    sw_init(&w, out);
    sw_svarint(&w, m->status);
    sw_varint(&w, m->flags);
    sw_lp(&w, m->cursor.ptr, m->cursor.len);
    sw_varint(&w, m->scanned);
    sw_varint(&w, m->n_items);
    sw_bytes(&w, m->items.ptr, m->items.len);
    return sw_done(&w);
}

int dk_msg_stream_batch_decode(dk_slice body, dk_msg_stream_batch *m)
{
    sr r;
    sr_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->status = sr_svarint32(&r);
    m->flags = (uint32_t)sr_bounded(&r, 0, DK_STREAM_LAST);
    m->cursor = sr_lp(&r, 0, DK_KEY_MAX);
    m->scanned = sr_varint(&r);
    m->n_items = (uint32_t)sr_bounded(&r, 0, m->status ? 0 : DK_STREAM_ITEMS_MAX);
    m->items.ptr = r.p;
    for (uint32_t i = 0; i < m->n_items && !r.bad; i++) {
        sr_lp(&r, 1, DK_KEY_MAX);
        sr_lp(&r, 1, DK_FRAME_BODY_MAX);
    }
    m->items.len = r.bad ? 0 : (size_t)(r.p - m->items.ptr);
    if (m->n_items == 0)
        m->items.ptr = NULL;
    return sr_done(&r);
}

/* ---- STREAM_DONE / STREAM_ACK ------------------------------------------------ */

int dk_msg_stream_done_encode(dk_buf *out, const dk_msg_stream_done *m)
{
    size_t plen = strnlen(m->plan, sizeof(m->plan));
    if (!plan_ok((const uint8_t *)m->plan, plen))
        return -EINVAL;
    sw w;
    sw_init(&w, out);
    sw_lp(&w, m->plan, plen);
    return sw_done(&w);
}

int dk_msg_stream_done_decode(dk_slice body, dk_msg_stream_done *m)
{
    sr r;
    sr_init(&r, body);
    sr_plan(&r, m->plan);
    return sr_done(&r);
}

int dk_msg_stream_ack_encode(dk_buf *out, const dk_msg_stream_ack *m)
{
    if (m->ranges_done > m->ranges_total)
        return -EINVAL;
    sw w;
    sw_init(&w, out);
    sw_svarint(&w, m->status);
    sw_varint(&w, m->ranges_done);
    sw_varint(&w, m->ranges_total);
    sw_varint(&w, m->keys);
    sw_varint(&w, m->bytes);
    return sw_done(&w);
}

int dk_msg_stream_ack_decode(dk_slice body, dk_msg_stream_ack *m)
{
    sr r;
    sr_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->status = sr_svarint32(&r);
    m->ranges_done = sr_varint(&r);
    m->ranges_total = sr_varint(&r);
    m->keys = sr_varint(&r);
    m->bytes = sr_varint(&r);
    if (m->ranges_done > m->ranges_total)
        r.bad = 1;
    return sr_done(&r);
}
