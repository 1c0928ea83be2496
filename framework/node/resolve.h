/*
 * resolve.h - which conflict resolver decides what an object becomes, and
 * the calls to it. A node holds one resolver per object type (object.h):
 * the configured one (vclock or lww) for plain objects written through
 * /kv, and the crdt resolver for CRDT objects. The type is read from the
 * encoded header, so every caller - the store's writes and merges, the
 * coordinator's reconciliation, the scan merge - makes the same choice,
 * and only this file knows how.
 *
 * The functions take objects both encoded (for the type) and decoded (so
 * nothing is decoded twice) and produce an encoding, which is also where a
 * typed resolver's own memory is released (dk_conflict_ops.release): the
 * output never outlives the call that built it.
 *
 * Two copies of one key with different types (a /kv write and a /crdt
 * write that raced through two coordinators, before either saw the other)
 * merge to the copy of the higher type, whole: taking the maximum of a
 * total order on types, then the resolver's merge within a type, is still
 * commutative, associative and idempotent. The lower copy's writes are
 * lost; the metric object_type_conflicts_total counts such merges.
 *
 * Pure apart from that metric; any thread (the resolvers are thread-safe).
 */
#ifndef DK_RESOLVE_H
#define DK_RESOLVE_H

#include "dynkv/conflict.h"
#include "node/object.h"
#include "plugin/plugin_call.h"
#include "util/buf.h"

/* The resolver of each object type (an ops of NULL: none). */
typedef struct dk_resolvers {
    dk_resolver_ref by_type[DK_OBJECT_TYPES];
} dk_resolvers;

/*
 * Apply a client write of the given object type (DK_OBJECT_*) to the stored
 * object (stored_raw empty and stored without siblings when absent) and
 * encode the result into out (replaced). A stored object of another type
 * that is live refuses the write with DK_EWRONGTYPE; one that is not (all
 * tombstones or expired: a deleted plain key) is replaced as if absent.
 * Otherwise returns what the type's resolver returns (DK_ESIBLINGS,
 * DK_EWRONGTYPE, DK_ETOOBIG, -EINVAL, ...), or an encoding error.
 */
int dk_resolve_update(const dk_resolvers *rs, int type, dk_slice stored_raw, const dk_object *stored,
                      const dk_write *w, dk_buf *out);

/* Whether a write of type can be built from the stored object's head
 * (dk_resolve_update_head): its resolver declares
 * DK_CONFLICT_CAP_VERSIONS_ONLY. When it does not, a caller skips the head
 * and reads the whole object at once. */
int dk_resolve_head_capable(const dk_resolvers *rs, int type);

/* dk_resolve_update from the stored object's head only (stored_head a
 * prefix of its encoding, stored decoded from it by dk_object_decode_head:
 * values past the prefix left out). Returns 1, out untouched, when the
 * stored values may matter: the type's resolver does not declare
 * DK_CONFLICT_CAP_VERSIONS_ONLY, or its result keeps a stored sibling
 * whose value was left out; the caller then updates the whole object.
 * Otherwise as dk_resolve_update. */
int dk_resolve_update_head(const dk_resolvers *rs, int type, dk_slice stored_head, const dk_object *stored,
                           const dk_write *w, dk_buf *out);

/*
 * Merge two copies of one key (each encoded and decoded from that
 * encoding) into out (replaced): the resolver of their type, or the copy
 * of the higher type as is. When one copy supersedes the other
 * (node/supersede.h: it dominates by version and is the newest write)
 * that copy is the merge, copied as is without calling the resolver
 * (metrics merges_superseded_total / merges_resolved_total). Returns 0, DK_ECORRUPT (a header that does
 * not peek, or a copy the resolver refuses), -ENOMEM.
 */
int dk_resolve_merge(const dk_resolvers *rs, dk_slice a_raw, const dk_object *a, dk_slice b_raw,
                     const dk_object *b, dk_buf *out);

/*
 * The value a client reads from a typed object, from its resolver's value
 * method (crdt: dynkv/crdt.h's encoding), passed to sink once; valid only
 * during the call. DK_EUNSUPPORTED for a plain object or a resolver
 * without the method.
 */
int dk_resolve_value(const dk_resolvers *rs, dk_slice raw, const dk_object *obj,
                     void (*sink)(void *arg, dk_slice value), void *arg);

#endif /* DK_RESOLVE_H */
