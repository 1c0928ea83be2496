/*
 * crdt_codec.h - the CRDT operation and value encodings of dynkv/crdt.h in
 * memory, with their encoders and strict decoders. The host encodes
 * operations (from a request's JSON) and decodes values (to render JSON);
 * the crdt resolver decodes operations and encodes values. One
 * implementation on both sides of the plugin boundary, so they cannot
 * disagree on the format.
 *
 * Memory: decoded operations and values borrow their strings from the
 * input bytes (keep them alive while using the result) and own their
 * arrays, freed with dk_crdt_op_free / dk_crdt_value_free. Encoders take
 * structures whose strings the caller owns. Pure; thread-safe on distinct
 * objects.
 */
#ifndef DK_UTIL_CRDT_CODEC_H
#define DK_UTIL_CRDT_CODEC_H

#include <stdint.h>
#include "dynkv/crdt.h"
#include "dynkv/types.h"
#include "util/buf.h"

struct dk_crdt_field_op;
struct dk_crdt_field;

/* One operation. Only the members of its type are meaningful. */
typedef struct dk_crdt_op {
    uint8_t type;     /* DK_CRDT_* */
    int64_t delta;    /* COUNTER: the increment */
    uint8_t set_kind; /* SET: DK_CRDT_SET_ADD or _REMOVE */
    dk_slice *elems;  /* SET: elements, sorted, unique */
    uint32_t n_elems;
    dk_slice text;                   /* REGISTER: the assigned text */
    struct dk_crdt_field_op *fields; /* MAP: field updates, sorted by name */
    uint32_t n_fields;
    dk_slice *removes; /* MAP: fields to remove, sorted, unique */
    uint32_t n_removes;
} dk_crdt_op;

/* One map field's update: its name and an operation that is not a map's. */
typedef struct dk_crdt_field_op {
    dk_slice name;
    dk_crdt_op op;
} dk_crdt_field_op;

/* One value. Only the members of its type are meaningful. */
typedef struct dk_crdt_value {
    uint8_t type;    /* DK_CRDT_* */
    int64_t count;   /* COUNTER */
    dk_slice *elems; /* SET: sorted, unique */
    uint32_t n_elems;
    dk_slice text;                /* REGISTER */
    struct dk_crdt_field *fields; /* MAP: sorted by name, unique */
    uint32_t n_fields;
} dk_crdt_value;

/* One map field: its name and a value that is not a map's. */
typedef struct dk_crdt_field {
    dk_slice name;
    dk_crdt_value value;
} dk_crdt_field;

/* Bytewise order of strings, shorter first on a common prefix (the order
 * of every list in the encodings). For qsort over dk_slice. */
int dk_crdt_slice_qsort_cmp(const void *a, const void *b);

/*
 * Put op's lists in canonical order: sort and deduplicate the set elements
 * and the map's removals, sort the map's field updates by name and each
 * field's own elements. Returns 0, or -EINVAL when two field updates share
 * a name or a field is both updated and removed (op is then sorted but
 * otherwise unchanged). Pure.
 */
int dk_crdt_op_canon(dk_crdt_op *op);

/* Append op's encoding to out. Returns 0, -ENOMEM, or -EINVAL for an op
 * that is not canonical or not valid (unknown type or set kind, a map
 * inside a map, a field name outside 1..DK_CRDT_NAME_MAX). out is unchanged
 * on error. */
int dk_crdt_op_encode(const dk_crdt_op *op, dk_buf *out);

/* Decode in into *op (its previous content is not freed: pass a zeroed or
 * freed op). Returns 0, DK_ECORRUPT for anything but a canonical encoding
 * (trailing bytes included), or -ENOMEM; op is empty (freed) on error. */
int dk_crdt_op_decode(dk_slice in, dk_crdt_op *op);

/* Free op's arrays (not the strings) and zero it. */
void dk_crdt_op_free(dk_crdt_op *op);

/* As for operations: encode a canonical value (-EINVAL otherwise), decode
 * strictly (DK_ECORRUPT), free the arrays. */
int dk_crdt_value_encode(const dk_crdt_value *v, dk_buf *out);
int dk_crdt_value_decode(dk_slice in, dk_crdt_value *v);
void dk_crdt_value_free(dk_crdt_value *v);

/* "counter", "set", "register", "map", or NULL for another byte. */
const char *dk_crdt_type_name(int type);

#endif /* DK_UTIL_CRDT_CODEC_H */
