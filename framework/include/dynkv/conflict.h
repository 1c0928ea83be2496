/*
 * dynkv/conflict.h - conflict resolvers.
 *
 * A resolver decides what an object becomes when (a) a client writes a new
 * value with a causal context (update) and (b) two replicas' copies of an
 * object meet (merge: replication, read repair, hinted handoff,
 * anti-entropy). merge must be commutative, associative and idempotent so
 * that replicas converge whatever order copies arrive in.
 *
 * Objects are dk_object (types.h). Memory: the host initialises the output
 * object, the resolver builds it only through the helpers in
 * host->object (dk_object_api below, which allocate with the host's
 * allocator), and the host frees it. Values are borrowed slices: the output
 * may point at values of the inputs, which the caller keeps alive until it
 * has encoded the output, or at memory a typed resolver allocated itself,
 * which it frees in its release method.
 *
 * Typed resolvers (ABI 1.2). Most resolvers keep client values (vclock,
 * lww). A resolver can instead keep a typed state in its objects, updated
 * by operations that a write carries in its value (crdt: dynkv/crdt.h);
 * such a resolver builds new values in update and merge (release frees
 * them) and tells the host what a client reads with value. Which resolver
 * owns an object is the host's business: the object header records it, and
 * a resolver only ever sees objects of its own.
 */
#ifndef DK_CONFLICT_H
#define DK_CONFLICT_H

#include "dynkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A client write as the coordinator sees it. */
typedef struct dk_write {
    const dk_vv *context; /* versions the client has seen; may be empty */
    dk_actor actor;       /* the coordinating node's actor */
    int64_t now_ms;       /* write time */
    int64_t expiry_ms;    /* 0 = never */
    uint32_t flags;       /* DK_SIB_TOMBSTONE for a delete */
    dk_slice value;       /* empty for a delete */
} dk_write;

/* dk_object_api.vv_compare results. */
enum { DK_VV_EQUAL = 0, DK_VV_BEFORE = 1 /* a < b */, DK_VV_AFTER = 2 /* a > b */, DK_VV_CONCURRENT = 3 };

/*
 * The version-vector and dotted-version-vector helpers (dk_host.object,
 * ABI 1.1): the host's own implementation of Riak 2.0's "DVV mixed" model
 * (DESIGN.md section 4), so every resolver computes causality the same way
 * and the memory of an output object is the host's to free. Every
 * function is pure and thread-safe on distinct objects; those returning
 * int return 0, -ENOMEM, or what their comment says. Sibling values are
 * borrowed slices and never copied or freed.
 *
 * Invariants kept by every function: vv entries are sorted by actor
 * (actor_cmp) and unique with counter >= 1; siblings built by dvv_update
 * and dvv_sync are sorted by dot with unique dots, each covered by the
 * object's vv.
 */
typedef struct dk_object_api {
    uint32_t struct_size;
    /* Order actors by node id (bytewise), then incarnation: <0, 0, >0. */
    int (*actor_cmp)(const dk_actor *a, const dk_actor *b);

    void (*vv_init)(dk_vv *v);
    void (*vv_free)(dk_vv *v);
    /* Replace dst's entries with a copy of src's (dst unchanged on error). */
    int (*vv_copy)(dk_vv *dst, const dk_vv *src);
    /* The counter recorded for a, 0 when absent. */
    uint64_t (*vv_get)(const dk_vv *v, const dk_actor *a);
    /* Set a's entry to exactly (counter, time_ms); 0 removes it. */
    int (*vv_set)(dk_vv *v, const dk_actor *a, uint64_t counter, int64_t time_ms);
    /* DK_VV_EQUAL, _BEFORE (a < b), _AFTER or _CONCURRENT. */
    int (*vv_compare)(const dk_vv *a, const dk_vv *b);
    /* 1 when a >= b pointwise, else 0. */
    int (*vv_descends)(const dk_vv *a, const dk_vv *b);
    /* dst = pointwise max(dst, src), times the later of the two. */
    int (*vv_merge)(dk_vv *dst, const dk_vv *src);
    /* 1 when the dot (a, counter) is covered by v, else 0. */
    int (*vv_covers)(const dk_vv *v, const dk_actor *a, uint64_t counter);
    /* Dynamo-style pruning: drop entries older than max_age_ms (0: no
     * age limit), then the oldest while more than max_entries remain (0:
     * no limit), never the actor of a sibling of keep_dots (may be NULL). */
    void (*vv_prune)(dk_vv *v, const dk_object *keep_dots, uint32_t max_entries, int64_t max_age_ms,
                     int64_t now_ms);

    void (*object_init)(dk_object *o);
    /* Free the arrays (not the values); o is left empty and initialised. */
    void (*object_free)(dk_object *o);
    /* Append a copy of *s (value still borrowed). */
    int (*object_add_sibling)(dk_object *o, const dk_sibling *s);
    /* Replace dst with a copy of src (dst empty on error). */
    int (*object_copy)(dk_object *dst, const dk_object *src);
    /* Siblings neither tombstones nor expired at now_ms. */
    int (*object_live_count)(const dk_object *o, int64_t now_ms);

    /* The DVV update of a client write w on stored into *out (content
     * replaced): stored siblings the context covers, or already expired,
     * are dropped and the write gets the dot (actor, max(stored.vv[a],
     * ctx[a]) + 1). -EOVERFLOW when the counter would wrap. */
    int (*dvv_update)(const dk_object *stored, const dk_write *w, dk_object *out);
    /* The DVV sync of two replicas' copies into *out: commutative,
     * associative and idempotent. */
    int (*dvv_sync)(const dk_object *a, const dk_object *b, dk_object *out);
} dk_object_api;

typedef struct dk_conflict_conf {
    uint32_t struct_size;
    uint32_t max_siblings;     /* 0 = DK_MAX_SIBLINGS_DEFAULT */
    uint32_t vv_prune_entries; /* 0 = DK_VV_PRUNE_DEFAULT */
    int64_t vv_prune_age_ms;   /* entries older than this may be pruned; 0 = never by age */
} dk_conflict_conf;

typedef struct dk_resolver {
    const dk_host *host;
} dk_resolver;

/* dk_conflict_ops.caps (ABI 1.5). update() reads no value of a stored
 * sibling: it decides by versions, times and flags, and a stored sibling
 * it keeps goes to out as it is. The host may then hand it stored siblings
 * whose values it has not read (value.ptr NULL, value.len their real
 * length: what the object's head tells without reading the values), and
 * updates the whole object instead when out keeps one of them. */
#define DK_CONFLICT_CAP_VERSIONS_ONLY 0x1u

/*
 * Checklist for whoever extends this table: append only; bump DK_ABI_MINOR;
 * update the host's required-method check (framework/plugin/plugin_host.c)
 * and add a wrapper in framework/plugin/plugin_call.h.
 */
typedef struct dk_conflict_ops {
    uint32_t struct_size;
    /* Required. */
    int (*open)(const dk_host *host, const dk_conflict_conf *conf, dk_resolver **out);
    /* Required. */
    void (*close)(dk_resolver *r);
    /* Required. Apply a client write to the stored object (n_sib == 0 when
     * absent) and build the new object in *out (initialised empty by the
     * host, built with host->object, freed by the host). Returns 0,
     * DK_ESIBLINGS when the result would exceed max_siblings (out is then
     * unspecified), or -ENOMEM; a typed resolver also DK_EWRONGTYPE (the
     * write's operation is for another type than the object's), DK_ETOOBIG
     * (the result would exceed its size limit), -EINVAL or -ERANGE (an
     * operation it refuses). */
    int (*update)(dk_resolver *r, const dk_object *stored, const dk_write *w, dk_object *out);
    /* Required. Merge two replicas' copies into *out (initialised empty by
     * the host, built with host->object, freed by the host). Never fails
     * on valid input except -ENOMEM. */
    int (*merge)(dk_resolver *r, const dk_object *a, const dk_object *b, dk_object *out);

    /* ---- ABI 1.2 ---- */
    /* Optional, for typed resolvers: the value a client reads from obj,
     * encoded as the resolver documents (crdt: dynkv/crdt.h), passed once
     * to sink(arg, value); value is valid only during that call, on the
     * calling thread. Returns 0 (sink called), DK_ECORRUPT for an object it
     * cannot read, or -ENOMEM. Pure; any thread. */
    int (*value)(dk_resolver *r, const dk_object *obj, void (*sink)(void *arg, dk_slice value), void *arg);
    /* Optional, required of a resolver that builds values rather than only
     * borrowing them: free what a successful update or merge allocated
     * for *out (the resolver finds it from out's sibling values). The host
     * calls it exactly once for every update or merge that returned 0,
     * after it has encoded out and before it frees out's arrays; update and
     * merge free their own allocations before returning an error. */
    void (*release)(dk_resolver *r, dk_object *out);

    /* ---- ABI 1.5 ---- */
    /* DK_CONFLICT_CAP_* flags; 0 (or absent, in an older plugin): none. */
    uint32_t caps;
} dk_conflict_ops;

#ifdef __cplusplus
}
#endif
#endif /* DK_CONFLICT_H */
