/*
 * dynkv/conflict.h - conflict resolvers.
 *
 * A resolver decides what an object becomes when (a) a client writes a new
 * value with a causal context (update) and (b) two replicas' copies of an
 * object meet (merge: replication, read repair, hinted handoff,
 * anti-entropy). merge must be commutative, associative and idempotent so
 * that replicas converge whatever order copies arrive in.
 *
 * Objects are dk_object (types.h) built with framework/util/vv.h. Values are
 * borrowed slices: the output may point at values of the inputs, which the
 * caller keeps alive until it has encoded the output, or at memory the
 * resolver allocated itself, which it frees in its release method.
 *
 * Typed resolvers (ABI 1.1). Most resolvers keep client values (vclock,
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
    const dk_vv *context;        /* versions the client has seen; may be empty */
    dk_actor actor;              /* the coordinating node's actor */
    int64_t  now_ms;             /* write time */
    int64_t  expiry_ms;          /* 0 = never */
    uint32_t flags;              /* DK_SIB_TOMBSTONE for a delete */
    dk_slice value;              /* empty for a delete */
} dk_write;

typedef struct dk_conflict_conf {
    uint32_t struct_size;
    uint32_t max_siblings;       /* 0 = DK_MAX_SIBLINGS_DEFAULT */
    uint32_t vv_prune_entries;   /* 0 = DK_VV_PRUNE_DEFAULT */
    int64_t  vv_prune_age_ms;    /* entries older than this may be pruned; 0 = never by age */
} dk_conflict_conf;

typedef struct dk_resolver {
    const dk_host *host;
} dk_resolver;

/*
 * Checklist for whoever extends this table: append only; bump DK_ABI_MINOR;
 * update the host's required-method check.
 */
typedef struct dk_conflict_ops {
    uint32_t struct_size;
    /* Required. */
    int  (*open)(const dk_host *host, const dk_conflict_conf *conf, dk_resolver **out);
    /* Required. */
    void (*close)(dk_resolver *r);
    /* Required. Apply a client write to the stored object (n_sib == 0 when
     * absent) and build the new object in *out (initialised empty by the
     * caller, freed by the caller). Returns 0, DK_ESIBLINGS when the result
     * would exceed max_siblings (out is then unspecified), or -ENOMEM; a
     * typed resolver also DK_EWRONGTYPE (the write's operation is for
     * another type than the object's), DK_ETOOBIG (the result would exceed
     * its size limit), -EINVAL or -ERANGE (an operation it refuses). */
    int  (*update)(dk_resolver *r, const dk_object *stored, const dk_write *w, dk_object *out);
    /* Required. Merge two replicas' copies into *out (initialised empty by
     * the caller). Never fails on valid input except -ENOMEM. */
    int  (*merge)(dk_resolver *r, const dk_object *a, const dk_object *b, dk_object *out);

    /* ---- ABI 1.1 ---- */
    /* Optional, for typed resolvers: the value a client reads from obj,
     * encoded as the resolver documents (crdt: dynkv/crdt.h), passed once
     * to sink(arg, value); value is valid only during that call, on the
     * calling thread. Returns 0 (sink called), DK_ECORRUPT for an object it
     * cannot read, or -ENOMEM. Pure; any thread. */
    int  (*value)(dk_resolver *r, const dk_object *obj, void (*sink)(void *arg, dk_slice value), void *arg);
    /* Optional, required of a resolver that builds values rather than only
     * borrowing them: free what a successful update or merge allocated
     * for *out (the resolver finds it from out's sibling values). The host
     * calls it exactly once for every update or merge that returned 0,
     * after it has encoded out and before it frees out's arrays; update and
     * merge free their own allocations before returning an error. */
    void (*release)(dk_resolver *r, dk_object *out);
} dk_conflict_ops;

#ifdef __cplusplus
}
#endif
#endif /* DK_CONFLICT_H */
