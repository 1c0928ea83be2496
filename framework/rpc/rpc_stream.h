/*
 * rpc_stream.h - message bodies of range streaming (DK_MSG_STREAM_*,
 * rpc_frame.h), the transfer of token ranges from a replica that holds
 * them to a node that will own them.
 *
 * The receiver pulls: each STREAM_REQ names the move (plan signature), the
 * token ranges it wants from this source, where to continue (the last key
 * it already has, in the source's key order) and a byte budget; the source
 * answers with one STREAM_BATCH of whole stored objects whose keys fall in
 * those ranges, the key to continue after, and LAST once its scan reached
 * the end. One request in flight per stream is the flow control, and the
 * cursor makes every request stand alone: a source that restarted, or a
 * receiver that resumed after a crash, just asks again from its cursor.
 * STREAM_DONE asks a receiver whether it has completed a plan; STREAM_ACK
 * answers with its progress. The alternative of a push session with acks
 * needs state on both sides and a protocol to resynchronise it.
 *
 * Layouts (fields as in rpc_frame.h: varints, zig-zag status, length-
 * prefixed bytes):
 *   STREAM_REQ    lp plan (1..32, printable) | lp cursor (0..256)
 *                 | varint max_bytes (1..DK_STREAM_BATCH_MAX)
 *                 | varint n_ranges (1..DK_STREAM_RANGES_MAX)
 *                 | n_ranges x 32 bytes (start hi, start lo, end hi, end lo: u64 LE)
 *   STREAM_BATCH  svarint status | varint flags (DK_STREAM_LAST) | lp cursor
 *                 | varint scanned | varint n_items
 *                 | n_items x (lp key (1..256) | lp object (1..DK_FRAME_BODY_MAX))
 *                 (status != 0: no items)
 *   STREAM_DONE   lp plan
 *   STREAM_ACK    svarint status (0 done, -EAGAIN not yet, -ESTALE other plan)
 *                 | varint ranges_done | varint ranges_total | varint keys | varint bytes
 *
 * Decoders check every length against the bytes left, every item of a
 * batch, and refuse trailing bytes; slices borrow from the body. Pure and
 * thread-safe.
 */
#ifndef DK_RPC_STREAM_H
#define DK_RPC_STREAM_H
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "util/buf.h"

#define DK_STREAM_PLAN_MAX 32u
#define DK_STREAM_RANGES_MAX 65536u
#define DK_STREAM_RANGE_LEN 32u
#define DK_STREAM_BATCH_MAX (4u << 20) /* object bytes per batch, well under a frame */
#define DK_STREAM_ITEMS_MAX 1000000u
#define DK_STREAM_LAST 0x1u

typedef struct dk_stream_span {
    uint64_t start_hi, start_lo, end_hi, end_lo; /* (start, end] on the token circle */
} dk_stream_span;

typedef struct dk_msg_stream_req {
    char plan[DK_STREAM_PLAN_MAX + 1];
    dk_slice cursor; /* continue after this key; empty: from the start */
    uint32_t max_bytes;
    uint32_t n_ranges;
    dk_slice ranges; /* n_ranges x DK_STREAM_RANGE_LEN */
} dk_msg_stream_req;
int dk_msg_stream_req_encode(dk_buf *out, const dk_msg_stream_req *m);
int dk_msg_stream_req_decode(dk_slice body, dk_msg_stream_req *m);

/* Write / read span k of a ranges blob (32 bytes each). */
void dk_stream_span_put(uint8_t *p, const dk_stream_span *s);
void dk_stream_span_get(const uint8_t *p, dk_stream_span *s);

typedef struct dk_msg_stream_batch {
    int32_t status;
    uint32_t flags;   /* DK_STREAM_LAST */
    dk_slice cursor;  /* last key examined (0..256 bytes) */
    uint64_t scanned; /* keys examined for this batch */
    uint32_t n_items;
    dk_slice items; /* the items, as appended by dk_stream_item_put */
} dk_msg_stream_batch;
int dk_msg_stream_batch_encode(dk_buf *out, const dk_msg_stream_batch *m);
int dk_msg_stream_batch_decode(dk_slice body, dk_msg_stream_batch *m);

/* Append one item (key 1..256 bytes, object 1.. bytes) to an items blob.
 * Returns 0, -EINVAL or -ENOMEM. */
int dk_stream_item_put(dk_buf *items, dk_slice key, dk_slice object);
/* Read the next item of a decoded batch's items, advancing *rest: 0, or
 * DK_EEOF when none is left (items were validated by the decoder). */
int dk_stream_item_next(dk_slice *rest, dk_slice *key, dk_slice *object);

typedef struct dk_msg_stream_done {
    char plan[DK_STREAM_PLAN_MAX + 1];
} dk_msg_stream_done;
int dk_msg_stream_done_encode(dk_buf *out, const dk_msg_stream_done *m);
int dk_msg_stream_done_decode(dk_slice body, dk_msg_stream_done *m);

typedef struct dk_msg_stream_ack {
    int32_t status;
    uint64_t ranges_done, ranges_total, keys, bytes;
} dk_msg_stream_ack;
int dk_msg_stream_ack_encode(dk_buf *out, const dk_msg_stream_ack *m);
int dk_msg_stream_ack_decode(dk_slice body, dk_msg_stream_ack *m);
#endif
