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
#include "rpc/rpc_wire.h"
#include "util/coding.h"

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

static void sr_plan(rd *r, char *out)
{
    dk_slice s = rd_lp(r, 1, DK_STREAM_PLAN_MAX);
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
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->plan, plen);
    wr_lp(&w, m->cursor.ptr, m->cursor.len);
    wr_varint(&w, m->max_bytes);
    wr_varint(&w, m->n_ranges);
    wr_bytes(&w, m->ranges.ptr, m->ranges.len);
    return wr_done(&w);
}

int dk_msg_stream_req_decode(dk_slice body, dk_msg_stream_req *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    sr_plan(&r, m->plan);
    m->cursor = rd_lp(&r, 0, DK_KEY_MAX);
    m->max_bytes = (uint32_t)rd_bounded(&r, 1, DK_STREAM_BATCH_MAX);
    m->n_ranges = (uint32_t)rd_bounded(&r, 1, DK_STREAM_RANGES_MAX);
    m->ranges = rd_view(&r, (size_t)m->n_ranges * DK_STREAM_RANGE_LEN);
    return rd_done(&r);
}

/* ---- STREAM_BATCH ------------------------------------------------------- */

int dk_stream_item_put(dk_buf *items, dk_slice key, dk_slice object)
{
    if (key.len == 0 || key.len > DK_KEY_MAX || object.len == 0 || object.len > DK_FRAME_BODY_MAX)
        return -EINVAL;
    wr w;
    wr_init(&w, items);
    wr_lp(&w, key.ptr, key.len);
    wr_lp(&w, object.ptr, object.len);
    return wr_done(&w);
}

int dk_stream_item_next(dk_slice *rest, dk_slice *key, dk_slice *object)
{
    if (rest->len == 0)
        return DK_EEOF;
    rd r;
    rd_init(&r, *rest);
    *key = rd_lp(&r, 1, DK_KEY_MAX);
    *object = rd_lp(&r, 1, DK_FRAME_BODY_MAX);
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
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    wr_varint(&w, m->flags);
    wr_lp(&w, m->cursor.ptr, m->cursor.len);
    wr_varint(&w, m->scanned);
    wr_varint(&w, m->n_items);
    wr_bytes(&w, m->items.ptr, m->items.len);
    return wr_done(&w);
}

int dk_msg_stream_batch_decode(dk_slice body, dk_msg_stream_batch *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->status = rd_s32(&r);
    m->flags = (uint32_t)rd_bounded(&r, 0, DK_STREAM_LAST);
    m->cursor = rd_lp(&r, 0, DK_KEY_MAX);
    m->scanned = rd_varint(&r);
    m->n_items = (uint32_t)rd_bounded(&r, 0, m->status ? 0 : DK_STREAM_ITEMS_MAX);
    m->items.ptr = r.p;
    for (uint32_t i = 0; i < m->n_items && !r.bad; i++) {
        rd_lp(&r, 1, DK_KEY_MAX);
        rd_lp(&r, 1, DK_FRAME_BODY_MAX);
    }
    m->items.len = r.bad ? 0 : (size_t)(r.p - m->items.ptr);
    if (m->n_items == 0)
        m->items.ptr = NULL;
    return rd_done(&r);
}

/* ---- STREAM_DONE / STREAM_ACK ------------------------------------------------ */

int dk_msg_stream_done_encode(dk_buf *out, const dk_msg_stream_done *m)
{
    size_t plen = strnlen(m->plan, sizeof(m->plan));
    if (!plan_ok((const uint8_t *)m->plan, plen))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->plan, plen);
    return wr_done(&w);
}

int dk_msg_stream_done_decode(dk_slice body, dk_msg_stream_done *m)
{
    rd r;
    rd_init(&r, body);
    sr_plan(&r, m->plan);
    return rd_done(&r);
}

int dk_msg_stream_ack_encode(dk_buf *out, const dk_msg_stream_ack *m)
{
    if (m->ranges_done > m->ranges_total)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    wr_varint(&w, m->ranges_done);
    wr_varint(&w, m->ranges_total);
    wr_varint(&w, m->keys);
    wr_varint(&w, m->bytes);
    return wr_done(&w);
}

int dk_msg_stream_ack_decode(dk_slice body, dk_msg_stream_ack *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->status = rd_s32(&r);
    m->ranges_done = rd_varint(&r);
    m->ranges_total = rd_varint(&r);
    m->keys = rd_varint(&r);
    m->bytes = rd_varint(&r);
    if (m->ranges_done > m->ranges_total)
        r.bad = 1;
    return rd_done(&r);
}
