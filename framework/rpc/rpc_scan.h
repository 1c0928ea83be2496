/*
 * rpc_scan.h - the bodies of the cluster-wide prefix scan's two messages,
 * SCAN_RANGE (coordinator -> node) and SCAN_RESULT (the answer). The frame
 * around them and the other messages are in rpc_frame.h; the protocol that
 * uses them is in coord/coord_scan.h.
 *
 * SCAN_RANGE asks a node for its stored keys that start with a prefix,
 * sort after a cursor, and hash into one of the listed token spans (the
 * token ranges the coordinator chose this node to read for):
 *
 *   lp     prefix      0..DK_KEY_MAX bytes
 *   lp     after       0..DK_KEY_MAX bytes: only keys > after (empty: none)
 *   varint limit       1..DK_SCAN_LIMIT_MAX live keys
 *   varint flags       DK_SCAN_WITH_DEAD
 *   varint max_bytes   1..DK_FRAME_BODY_MAX: the answer's soft size
 *   varint n_spans     1..DK_SCAN_SPANS_MAX
 *   n_spans x 32 bytes start.hi start.lo end.hi end.lo (u64 little-endian)
 *
 * A span is the token interval (start, end] of ring.h. Spans are disjoint
 * and in ascending order of end; only the first may wrap through zero
 * (start >= end), and a whole-circle span (start == end) comes alone. So a
 * node finds a key's span with one binary search.
 *
 * SCAN_RESULT:
 *
 *   u8     flags       DK_SCAN_MORE: the node stopped before its last key
 *   u32    count       entries (fixed width, little-endian)
 *   count entries:     lp key (1..DK_KEY_MAX), lp object (0.. bytes)
 *
 * Keys are strictly ascending (bytewise, a prefix first: the engines'
 * order), at most DK_SCAN_ENTRIES_MAX of them, and an answer with MORE has
 * at least one. An object is an encoded object (node/object.h); an empty
 * one marks a key whose object is too large for a frame (it is listed so
 * the scan neither stalls nor silently skips it).
 *
 * The flags and the count have a fixed width so that a node appends
 * entries as it scans and fills both in place (dk_msg_scan_result_start,
 * _add, _more) without building the answer twice; the count still makes a
 * body cut at an entry boundary undecodable.
 *
 * Decoders check every length against the bytes left, refuse trailing
 * bytes and never allocate; slices point into the body. Pure, any thread.
 */
#ifndef DK_RPC_SCAN_H
#define DK_RPC_SCAN_H
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "rpc/rpc_frame.h"
#include "util/buf.h"

#define DK_SCAN_LIMIT_MAX 10000u
#define DK_SCAN_ENTRIES_MAX (4u * DK_SCAN_LIMIT_MAX)
#define DK_SCAN_SPANS_MAX 65536u
#define DK_SCAN_SPAN_LEN 32u

#define DK_SCAN_WITH_DEAD 0x1u /* SCAN_RANGE: also tombstoned and expired objects */
#define DK_SCAN_RANGE_FLAGS 0x1u
#define DK_SCAN_MORE 0x1u /* SCAN_RESULT: more keys after the last entry */
#define DK_SCAN_RESULT_FLAGS 0x1u

/* A token span (start, end] (ring.h's dk_token halves). */
typedef struct dk_msg_scan_span {
    uint64_t start_hi, start_lo, end_hi, end_lo;
} dk_msg_scan_span;

/* Write / read one span's 32 bytes. */
void dk_msg_scan_span_put(uint8_t out[DK_SCAN_SPAN_LEN], const dk_msg_scan_span *s);
void dk_msg_scan_span_get(const uint8_t in[DK_SCAN_SPAN_LEN], dk_msg_scan_span *s);

typedef struct dk_msg_scan_range {
    dk_slice prefix;
    dk_slice after;
    uint32_t limit;
    uint32_t flags;
    uint32_t max_bytes;
    uint32_t n_spans;
    dk_slice spans; /* n_spans * DK_SCAN_SPAN_LEN bytes (dk_msg_scan_span_put) */
} dk_msg_scan_range;

/* Encode: 0, -EINVAL (a field out of its limits, spans out of order or
 * overlapping), -ENOMEM; out unchanged on error. Decode: 0 or DK_ECORRUPT
 * for the same conditions. */
int dk_msg_scan_range_encode(dk_buf *out, const dk_msg_scan_range *m);
int dk_msg_scan_range_decode(dk_slice body, dk_msg_scan_range *m);

typedef struct dk_msg_scan_result {
    uint32_t flags;
    uint32_t n;        /* entries */
    dk_slice entries;  /* the entry bytes, read with dk_msg_scan_iter */
    dk_slice last_key; /* the last entry's key; empty when n == 0 */
} dk_msg_scan_result;

/*
 * Build an answer in out: start appends the flags and a zero count and
 * stores their offset in *at; add appends one entry (key 1..DK_KEY_MAX
 * bytes; object empty for "too large") and counts it, returning 0, -EINVAL
 * or -ENOMEM with out unchanged; more sets DK_SCAN_MORE. The caller keeps
 * keys ascending and the count within DK_SCAN_ENTRIES_MAX (the decoder
 * refuses otherwise).
 */
int dk_msg_scan_result_start(dk_buf *out, size_t *at);
int dk_msg_scan_result_add(dk_buf *out, size_t at, dk_slice key, dk_slice object);
void dk_msg_scan_result_more(dk_buf *out, size_t at);
/* The bytes of the flags and count, and those an entry takes. */
#define DK_SCAN_RESULT_HEAD 5u
size_t dk_msg_scan_entry_len(size_t key_len, size_t object_len);

/* Decode and check a whole answer. 0 or DK_ECORRUPT. */
int dk_msg_scan_result_decode(dk_slice body, dk_msg_scan_result *m);

/* Walk the entries of a decoded answer: next returns 1 and sets key and
 * object (borrowing the body), or 0 after the last entry. */
typedef struct dk_msg_scan_iter {
    const uint8_t *p, *end;
} dk_msg_scan_iter;
void dk_msg_scan_iter_init(dk_msg_scan_iter *it, const dk_msg_scan_result *m);
int dk_msg_scan_iter_next(dk_msg_scan_iter *it, dk_slice *key, dk_slice *object);

/* The scan's key order: bytewise, a proper prefix first (-1, 0, 1). */
int dk_msg_scan_key_cmp(dk_slice a, dk_slice b);
#endif
