/*
 * object.h - the stored encoding of an object: one engine value per key.
 *
 * Layout (versions 1 and 2), all integers little-endian:
 *
 *   offset size  field
 *        0    2  magic 'D' 'O'
 *        2    1  format version: 1 for a plain object, 2 for a typed one
 *        3    1  flags: DK_OBJECT_F_ALL_TOMBSTONES, DK_OBJECT_F_HAS_TOMBSTONE
 *        4    2  n_siblings
 *        6    1  version 1: reserved, zero; version 2: the object type
 *                (DK_OBJECT_CRDT; never DK_OBJECT_PLAIN)
 *        7    1  reserved, zero
 *        8    8  newest write time (ms; max over siblings, 0 when none)
 *       16    8  max expiry (ms; 0 when some sibling never expires, a
 *                tombstone counts as never expiring, or no siblings)
 *       24    4  total length of the encoding, header included
 *       28    4  CRC32C (masked) of every byte of the encoding except
 *                these four: bytes [0, 28) then [32, total_len)
 *       32       vv (dk_vv_encode), then n_siblings times:
 *                u8 node length, node, varint incarnation, varint counter,
 *                varint write time, varint expiry, varint flags,
 *                varint value length, value bytes
 *
 * The type says which conflict resolver owns the object (node/resolve.h):
 * plain objects (values written through /kv) belong to the node's
 * configured resolver, CRDT objects to the crdt resolver. Version 2 only
 * gives meaning to a byte that version 1 required to be zero, so every
 * existing object still decodes, and a plain object is still written as
 * version 1, byte for byte as before: a node of the previous release reads
 * every plain object a new node writes and refuses (as an unsupported
 * version) only the CRDT objects it could not merge anyway. Each type has
 * exactly one encoding, so whatever decodes re-encodes to the same bytes.
 *
 * The header is fixed-size so that compaction's record callbacks read it in
 * O(1) without walking the siblings (DESIGN.md section 4). The CRC covers
 * the header too (the alternative, a CRC of the body only, would let a
 * flipped bit in the write time or expiry silently change what compaction
 * drops). Decoding also checks that the header's summary fields agree with
 * the siblings, so a buggy writer is caught as well as a flipped bit.
 */
#ifndef DK_OBJECT_H
#define DK_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "util/buf.h"

#define DK_OBJECT_HEADER_SIZE 32u
#define DK_OBJECT_VERSION 1u       /* plain objects */
#define DK_OBJECT_VERSION_TYPED 2u /* objects with a type byte */
#define DK_OBJECT_MAGIC0 0x44u     /* 'D' */
#define DK_OBJECT_MAGIC1 0x4fu     /* 'O' */

#define DK_OBJECT_F_ALL_TOMBSTONES 0x01u /* no sibling holds a value (vacuously true when none) */
#define DK_OBJECT_F_HAS_TOMBSTONE 0x02u  /* at least one sibling is a tombstone */

/* Object types: which resolver owns the object. Append only (stored). */
enum { DK_OBJECT_PLAIN = 0, DK_OBJECT_CRDT = 1, DK_OBJECT_TYPES = 2 };

/* Most siblings one encoding holds (n_siblings is a u16). */
#define DK_OBJECT_MAX_SIBLINGS 65535u

typedef struct dk_object_header {
    uint8_t version, flags;
    uint8_t type; /* DK_OBJECT_*: PLAIN for version 1 */
    uint16_t n_siblings;
    int64_t newest_write_ms, max_expiry_ms;
    uint32_t total_len;
} dk_object_header;

/*
 * Append the encoding of o to out. Returns 0, -ENOMEM, DK_ETOOBIG (more
 * than DK_OBJECT_MAX_SIBLINGS siblings, a value over DK_VALUE_MAX, or an
 * encoding over 4 GiB), or -EINVAL (a negative time, an unknown sibling
 * flag, or a tombstone carrying a value). out is unchanged on error.
 * Thread-safe.
 */
int dk_object_encode(const dk_object *o, dk_buf *out);

/* dk_object_encode for an object of the given type (DK_OBJECT_*): version
 * 1 for DK_OBJECT_PLAIN (the same bytes as dk_object_encode), version 2
 * with the type byte otherwise. -EINVAL for an unknown type, else as
 * dk_object_encode. */
int dk_object_encode_typed(const dk_object *o, int type, dk_buf *out);

/*
 * Decode an encoded object into *out (initialised by the caller; previous
 * content replaced). Sibling values borrow from in: they stay valid as long
 * as in's bytes do. Returns 0, -ENOMEM, or DK_ECORRUPT with a message "at
 * offset N: what" in err (may be NULL) for anything malformed: bad magic,
 * unknown version, type or flags, length mismatch, CRC mismatch, truncated or
 * trailing bytes, invalid vv or actor, a varint not in its shortest form,
 * or header fields that disagree with the siblings. Whatever decodes
 * re-encodes to the same bytes. out is empty on error. Never reads outside in.
 */
int dk_object_decode(dk_slice in, dk_object *out, char *err, size_t errlen);

/* dk_object_decode for bytes whose integrity was already checked where they
 * were read (an engine with DK_ENGINE_CAP_VERIFIED checked its checksum
 * over them): every check but the CRC, which would cover the same bytes
 * again. */
int dk_object_decode_verified(dk_slice in, dk_object *out, char *err, size_t errlen);

/* The version information of an object from a prefix of its verified
 * encoding (an engine's DK_GET_HEAD lend): the header, the version vector
 * and every sibling's dot, times, flags and value length, with the checks
 * of dk_object_decode_verified. A value that does not lie wholly in the
 * prefix is left out: its ptr is NULL and its len the real length, so the
 * result serves version checks only, never values or re-encoding. Returns
 * 0, or non-zero when the prefix does not hold all of that (or anything
 * is malformed): the caller then reads and decodes the whole object. */
int dk_object_decode_head(dk_slice in, dk_object *out);

/* Whether s's value was left out by dk_object_decode_head (its length is
 * known, its bytes were not read). */
static inline int dk_sibling_unread(const dk_sibling *s)
{
    return s->value.len && !s->value.ptr;
}

/*
 * Read the fixed header in O(1). Checks the size, magic, version, known
 * flags, the type byte, reserved bytes and that total_len equals in.len;
 * does not check the CRC (decode does). Returns 0 or DK_ECORRUPT.
 */
int dk_object_peek(dk_slice in, dk_object_header *h);

/* dk_object_peek for a prefix of an encoding: the same checks, except that
 * total_len may exceed in.len (never fall short of it). */
int dk_object_peek_head(dk_slice in, dk_object_header *h);

/*
 * Compaction's record filter (dk_host.record_filter builds on it), O(1):
 * DK_RECORD_DROP when the object has been unreadable for longer than
 * gc_grace_ms, i.e. dead_since + gc_grace_ms < now_ms where dead_since is
 *   - newest_write for an object whose siblings are all tombstones (or that
 *     has none);
 *   - max(max_expiry, newest_write) when every sibling has expired
 *     (max_expiry != 0 and max_expiry <= now_ms);
 * and DK_RECORD_KEEP otherwise, including for input peek cannot parse.
 * Expired values wait gc_grace like tombstones (as Cassandra's expired
 * cells do): a TTL'd write superseded an older value that a replica which
 * missed the write may still hold, and dropping the newer record early
 * would let anti-entropy bring the older value back. With gc_grace_ms = 0
 * an expired object is dropped as soon as it expires.
 */
int dk_object_record_filter(dk_slice value, int64_t now_ms, int64_t gc_grace_ms);

/*
 * Compaction's record time (dk_host.record_time builds on it), O(1): stores
 * the newest write time and the max expiry (0 = some sibling never expires)
 * and returns 0, or DK_ECORRUPT (outputs untouched) when peek fails.
 */
int dk_object_record_time(dk_slice value, int64_t *write_ms, int64_t *max_expiry_ms);

#endif /* DK_OBJECT_H */
