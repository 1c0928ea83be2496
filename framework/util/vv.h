/*
 * vv.h - version vectors, dotted siblings and the dotted-version-vector
 * (DVV) operations every conflict resolver shares.
 *
 * The model is Riak 2.0's "DVV mixed" object (DESIGN.md section 4): an
 * object carries one causal context (dk_vv: actor -> highest counter seen,
 * with the wall time the entry last advanced) and each sibling carries a dot
 * (actor, counter) naming the write that produced it. A dot is covered by a
 * vv when dot.counter <= vv[dot.actor]. Two clients writing with the same
 * context through the same coordinator get two distinct dots that neither
 * context covers, so both survive as siblings (plain per-node clocks would
 * silently drop one).
 *
 * Everything here is pure: no framework state, no clock, no logging. The
 * core calls it directly; plugins reach the same code through the host
 * (dk_host.object = &dk__object_api), so an object a resolver builds is
 * allocated and freed by one copy of it. All functions are thread-safe on
 * distinct objects. DK_VV_EQUAL and friends are in dynkv/conflict.h.
 *
 * Memory: a dk_vv and a dk_object own their arrays (malloc); sibling values
 * are borrowed slices and are never copied or freed here.
 *
 * Invariants kept by every function below: vv entries are sorted by actor
 * (dk_actor_cmp) and unique, with counter >= 1; siblings produced by the DVV
 * operations are sorted by dot and have unique dots, each covered by the
 * object's own vv.
 */
#ifndef DK_UTIL_VV_H
#define DK_UTIL_VV_H

#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "dynkv/conflict.h"
#include "util/buf.h"

/* ---- actors ------------------------------------------------------------ */

/* Order actors by node id (bytewise) then incarnation; <0, 0, >0. */
int dk_actor_cmp(const dk_actor *a, const dk_actor *b);

/* Fill *a from a node id matching [a-z0-9_-]{1,64} and an incarnation >= 1.
 * Returns 0 or -EINVAL (then *a is unchanged). */
int dk_actor_set(dk_actor *a, const char *node, uint32_t incarnation);

/* Text form used in JSON and logs: "n1" when incarnation == 1, else "n1#2".
 * Writes a NUL-terminated string; returns 0, or -ENOSPC when len is too small
 * (DK_ACTOR_TEXT_MAX always suffices). */
#define DK_ACTOR_TEXT_MAX (DK_NODE_ID_MAX + 12)
int dk_actor_format(const dk_actor *a, char *buf, size_t len);

/* Parse the text form (s need not be NUL-terminated). "n1#1" is accepted as
 * "n1". The incarnation is decimal without leading zeros, 1..UINT32_MAX.
 * Returns 0 or -EINVAL. */
int dk_actor_parse(const char *s, size_t len, dk_actor *out);

/* ---- version vectors --------------------------------------------------- */

void dk_vv_init(dk_vv *v);
void dk_vv_free(dk_vv *v);
/* Replace dst's entries with a copy of src's (dst must be initialised).
 * Returns 0 or -ENOMEM (dst unchanged). */
int dk_vv_copy(dk_vv *dst, const dk_vv *src);

/* The counter recorded for actor a, 0 when absent. */
uint64_t dk_vv_get(const dk_vv *v, const dk_actor *a);

/* Set a's entry to exactly (counter, time_ms); counter 0 removes the entry
 * (absent and 0 mean the same). Returns 0 or -ENOMEM. */
int dk_vv_set(dk_vv *v, const dk_actor *a, uint64_t counter, int64_t time_ms);

/* Causal order of a and b (missing entries count as 0). O(|a| + |b|). */
int dk_vv_compare(const dk_vv *a, const dk_vv *b);

/* 1 when a >= b pointwise (a has seen everything b has), else 0. */
int dk_vv_descends(const dk_vv *a, const dk_vv *b);

/* dst = pointwise max(dst, src); an entry's time becomes the later of the
 * two times whatever the counters, which keeps merge commutative,
 * associative and idempotent. Returns 0 or -ENOMEM (dst unchanged). */
int dk_vv_merge(dk_vv *dst, const dk_vv *src);

/* 1 when the dot (a, counter) is covered by v (counter <= v[a]), else 0. */
int dk_vv_covers(const dk_vv *v, const dk_actor *a, uint64_t counter);

/*
 * Dynamo-style pruning. Entries older than max_age_ms (now_ms - time_ms >
 * max_age_ms; 0 = no age limit) are dropped, then, while more than
 * max_entries remain (0 = no count limit), the oldest (ties: lowest actor)
 * is dropped. An actor that is the dot of a sibling of keep_dots (may be
 * NULL) is never dropped, so every sibling stays covered by the vv.
 *
 * Risk (documented as in the Dynamo paper): a pruned entry forgets that this
 * object has seen the actor's writes. A copy that still holds an older
 * sibling from that actor is then no longer recognised as superseded and
 * comes back as a false conflict (an extra sibling the client must resolve),
 * and a client context naming the pruned actor no longer matches exactly.
 * A pruned actor that writes again restarts its counter and may reuse a
 * dot that a stale copy still holds for an older write; dk_dvv_sync then
 * sees two siblings with one dot and keeps the later write time, so the
 * newer write wins provided the coordinators' clocks move forward.
 * Otherwise nothing is lost silently; the cost is spurious siblings, which
 * is why the limits are generous (10 entries, and age only when
 * configured).
 * Never fails (it only shrinks the array).
 */
void dk_vv_prune(dk_vv *v, const dk_object *keep_dots, uint32_t max_entries, int64_t max_age_ms,
                 int64_t now_ms);

/*
 * Binary encoding, used inside objects and context tokens: varint entry
 * count, then per entry: u8 node length, node bytes, varint incarnation,
 * varint counter, varint time_ms. Entries are written in actor order.
 * dk_vv_encode appends to out; returns 0, -ENOMEM, or -EINVAL for a negative
 * time. dk_vv_decode reads from p[0..len), replaces *out's entries (out must
 * be initialised; an empty out with room for them keeps its array, no
 * allocation) and stores the bytes used in *consumed; on error *out is
 * unchanged. Input that is truncated, unsorted, duplicated, or has an
 * invalid node id, a zero incarnation or counter, a time beyond INT64_MAX,
 * or a varint not in its shortest form gives DK_ECORRUPT (so whatever
 * decodes re-encodes to the same bytes).
 */
int dk_vv_encode(const dk_vv *v, dk_buf *out);
int dk_vv_decode(const uint8_t *p, size_t len, dk_vv *out, size_t *consumed);

/* ---- objects ----------------------------------------------------------- */

void dk_object_init(dk_object *o);
/* Free the vv and sibling arrays; values are borrowed and not freed. The
 * object is left initialised (empty). */
void dk_object_free(dk_object *o);
/* Append a copy of *s (value still borrowed). Returns 0 or -ENOMEM. */
int dk_object_add_sibling(dk_object *o, const dk_sibling *s);
/* Replace dst (initialised) with a copy of src; values stay borrowed from
 * src's owner. Returns 0 or -ENOMEM (dst then empty). */
int dk_object_copy(dk_object *dst, const dk_object *src);
/* Number of siblings that are neither tombstones nor expired at now_ms
 * (expiry_ms != 0 && expiry_ms <= now_ms). */
int dk_object_live_count(const dk_object *o, int64_t now_ms);

/* ---- DVV operations ---------------------------------------------------- */

/*
 * Apply a client write to a stored object (n_sib == 0 when absent) into
 * *out (initialised by the caller; its previous content is replaced):
 * n = max(stored.vv[a], ctx[a]) + 1; stored siblings whose dot the context
 * covers are dropped, and so are siblings already expired at w->now_ms
 * (their dots stay covered by the vv, so they cannot come back); the new
 * sibling (a, n) is added (with an empty value when it is a tombstone);
 * vv = merge(stored.vv, ctx) with vv[a] = (n, now). Siblings come out
 * sorted by dot. w->context may be NULL (empty).
 * Returns 0, -ENOMEM, or -EOVERFLOW when the context's counter for a is
 * UINT64_MAX. out is freed and left empty on error.
 */
int dk_dvv_update(const dk_object *stored, const dk_write *w, dk_object *out);

/*
 * Merge two replicas' copies into *out (initialised; content replaced): a
 * sibling survives unless the other copy's vv covers its dot without
 * holding the same dot; equal dots are kept once; vv = pointwise max.
 * Siblings come out sorted by dot, so the result is identical whatever the
 * argument order (commutative), and sync(x, x) == x for a normalised x.
 * Should both copies hold the same dot with different content (damaged
 * data, or a dot reused after pruning) the larger by (write time, expiry,
 * flags, value bytes) is kept, so even then both orders agree.
 * Returns 0 or -ENOMEM (out freed and empty).
 */
int dk_dvv_sync(const dk_object *a, const dk_object *b, dk_object *out);

/* The functions above as the table dk_host.object hands to plugins
 * (dynkv/conflict.h); static storage. */
extern const dk_object_api dk__object_api;

#endif /* DK_UTIL_VV_H */
