/*
 * crdt.c - the crdt conflict resolver: PN-counters, add-wins OR-sets,
 * LWW-registers with hybrid-logical-clock timestamps, and maps of named
 * fields of those three, merged by their join so that a CRDT object never
 * shows siblings (DESIGN.md sections 3 and 7).
 *
 * A CRDT object is an ordinary dk_object: its version vector is the
 * causal context of the CRDT (every dot it has seen), and its one sibling
 * carries the state (state.c has the format and crdt_state.h the model)
 * with the dot and time of the latest write. The host picks this resolver
 * for objects whose header says CRDT (framework/node/resolve.h); a write's
 * value is an operation encoded as dynkv/crdt.h says, which the host built
 * from the client's JSON.
 *
 *   update  decodes the stored state and the operation, takes the next dot
 *           of the coordinating actor (vv[actor] + 1), applies the
 *           operation with that dot and the write's time, and encodes the
 *           new state: DK_EWRONGTYPE when the operation's type differs
 *           from the state's, DK_ETOOBIG past DK_CRDT_STATE_MAX.
 *   merge   joins two copies: per type, the dot-store join under both
 *           copies' contexts; vv = pointwise max. Commutative, associative
 *           and idempotent (tests/unit/test-crdt.c checks all three on
 *           random histories).
 *   value   renders what a client reads (dynkv/crdt.h's value encoding).
 *   release frees the state buffers update and merge built.
 *
 * State-based, with full states, rather than deltas. The framework already
 * ships whole objects everywhere a resolver meets them (replication, read
 * repair, hinted handoff, anti-entropy) and merges them with merge(a, b);
 * deltas would need a second path with per-peer acknowledgement bookkeeping
 * in the coordinator, and would still fall back to full states for repair.
 * The costs of full states are the size of a large set or map on every
 * write (bounded by DK_CRDT_STATE_MAX) and an O(size) decode and encode per
 * operation; the gain is that every existing path - a forwarded write, a
 * hint replayed after an hour, a read repair - is correct unchanged,
 * because applying a state twice or in any order is harmless. Deltas could
 * later shrink the replication message only, behind the same resolver.
 *
 * Metadata stays bounded: dots are compacted by the version vector (one
 * counter per actor that ever wrote the key, an actor being a node
 * incarnation, not a client), removed set elements and map fields leave
 * nothing behind, a counter holds one entry per actor and a register one
 * per concurrent writer. The vv is never pruned here (pruning a causal
 * context would resurrect removed elements), which is safe because its
 * size is bounded by the number of node incarnations, unlike a client-
 * actor vector clock. test-crdt.c measures bytes per element.
 *
 * The resolver takes no options (max_siblings and vv pruning do not apply)
 * and keeps no state between calls: pure, thread-safe, no clock of its own
 * (the write's now_ms is the wall part of its timestamps). Output objects
 * are built with the host's object helpers (dk_host.object), as conflict.h
 * asks; only the state buffers are the plugin's own (release frees them).
 * It links framework/util for the operation and value codecs
 * (util/crdt_codec.h), which it shares with the host.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/conflict.h"
#include "dynkv/crdt.h"
#include "dynkv/plugin.h"
#include "crdt_state.h"
#include "util/crdt_codec.h"

typedef struct crdt_resolver {
    dk_resolver base;         /* first: the host sees a dk_resolver */
    const dk_object_api *obj; /* the host's helpers: they allocate the output */
} crdt_resolver;

static int crdt_open(const dk_host *host, const dk_conflict_conf *conf, dk_resolver **out)
{
    (void)conf;
    if (!DK_HAS(host, object))
        return -EINVAL; /* a host older than ABI 1.1 (the loader refuses it first) */
    crdt_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->base.host = host;
    r->obj = host->object;
    *out = &r->base;
    return 0;
}

static void crdt_close(dk_resolver *r)
{
    free(r);
}

static void crdt_metric(dk_resolver *r, const char *name)
{
    const dk_host *h = r->host;
    if (DK_HAS(h, metric_add))
        h->metric_add(h, name, 1);
}

/* Decode o's state into *b (type 0 when o has no sibling: absent). ctx is
 * o's context over the pool (caller frees). */
static int crdt_read(const dk_object *o, const crdt_pool *pool, uint64_t **ctx, crdt_body *b)
{
    crdt_body_init(b, 0);
    *ctx = crdt_pool_ctx(pool, &o->vv);
    if (!*ctx)
        return -ENOMEM;
    if (o->n_sib == 0)
        return 0;
    const dk_sibling *s = &o->sib[0];
    if (o->n_sib != 1 || s->flags || s->expiry_ms)
        return DK_ECORRUPT;
    return crdt_state_decode(s->value, pool, *ctx, b);
}

/* Put the encoded state (taken) into out as its one sibling with the given
 * dot and time; out's vv is set by the caller. Frees state on error. */
static int crdt_emit(const dk_object_api *obj, dk_object *out, dk_buf *state, const dk_actor *actor,
                     uint64_t counter, int64_t time_ms)
{
    dk_sibling s = {
        .actor = *actor,
        .counter = counter,
        .write_time_ms = time_ms,
        .value = {state->data, state->len},
    };
    int rc = obj->object_add_sibling(out, &s);
    if (rc)
        dk_buf_free(state);
    else
        dk_buf_init(state); /* out owns it now: released by crdt_release */
    return rc;
}

static int crdt_update(dk_resolver *base, const dk_object *stored, const dk_write *w, dk_object *out)
{
    const dk_object_api *obj = ((crdt_resolver *)base)->obj;
    if (w->flags || w->expiry_ms || w->now_ms < 0)
        return -EINVAL;
    dk_crdt_op op;
    int rc = dk_crdt_op_decode(w->value, &op);
    if (rc)
        return rc == -ENOMEM ? rc : -EINVAL;
    crdt_pool pool = {0};
    uint64_t *ctx = NULL;
    crdt_body b;
    crdt_body_init(&b, 0);
    dk_buf state = DK_BUF_INIT;
    if ((rc = crdt_pool_add_vv(&pool, &stored->vv)) || (rc = crdt_pool_add(&pool, &w->actor)) ||
        (rc = crdt_read(stored, &pool, &ctx, &b)))
        goto done;
    if (b.type && b.type != op.type) {
        rc = DK_EWRONGTYPE;
        goto done;
    }
    if (!b.type)
        crdt_body_init(&b, op.type);

    uint64_t n = obj->vv_get(&stored->vv, &w->actor);
    if (n == UINT64_MAX) {
        rc = -EOVERFLOW;
        goto done;
    }
    crdt_apply_ctx ac = {
        .dot = {(uint32_t)crdt_pool_find(&pool, &w->actor), n + 1},
        .now_ms = (uint64_t)w->now_ms,
    };
    /* Every time the object has seen, for the registers' clocks. */
    for (uint32_t i = 0; i < stored->vv.n; i++)
        if ((uint64_t)stored->vv.e[i].time_ms > ac.floor.wall)
            ac.floor.wall = (uint64_t)stored->vv.e[i].time_ms;
    crdt_body_max_hlc(&b, &ac.floor);
    if ((rc = crdt_body_apply(&b, &op, &ac)) || (rc = crdt_state_encode(&b, &pool, &state)))
        goto done;
    if (state.len > DK_CRDT_STATE_MAX) {
        rc = DK_ETOOBIG;
        goto done;
    }
    /* Times only move forward, so that the new object wins every tie
     * against the one it replaces when copies meet (crdt_latest, and the
     * vv's later-time rule), even when this node's clock is behind. */
    int64_t wt = w->now_ms, vt = w->now_ms;
    if (stored->n_sib && stored->sib[0].write_time_ms >= wt)
        wt = stored->sib[0].write_time_ms < INT64_MAX ? stored->sib[0].write_time_ms + 1 : INT64_MAX;
    for (uint32_t i = 0; i < stored->vv.n; i++)
        if (obj->actor_cmp(&stored->vv.e[i].actor, &w->actor) == 0 && stored->vv.e[i].time_ms > vt)
            vt = stored->vv.e[i].time_ms;
    if ((rc = obj->vv_copy(&out->vv, &stored->vv)) || (rc = obj->vv_set(&out->vv, &w->actor, n + 1, vt)))
        goto done;
    rc = crdt_emit(obj, out, &state, &w->actor, n + 1, wt);
done:
    dk_buf_free(&state);
    crdt_body_free(&b);
    free(ctx);
    crdt_pool_free(&pool);
    dk_crdt_op_free(&op);
    return rc;
}

/* The sibling whose dot and time a merge keeps: the later write, ties by
 * dot, so both argument orders agree. */
static const dk_sibling *crdt_latest(const dk_object_api *obj, const dk_sibling *a, const dk_sibling *b)
{
    if (a->write_time_ms != b->write_time_ms)
        return a->write_time_ms > b->write_time_ms ? a : b;
    int c = obj->actor_cmp(&a->actor, &b->actor);
    if (c)
        return c > 0 ? a : b;
    return a->counter >= b->counter ? a : b;
}

static int crdt_merge(dk_resolver *r, const dk_object *a, const dk_object *b, dk_object *out)
{
    const dk_object_api *obj = ((crdt_resolver *)r)->obj;
    crdt_pool pool = {0};
    uint64_t *ca = NULL, *cb = NULL;
    crdt_body x, y, joined;
    crdt_body_init(&x, 0);
    crdt_body_init(&y, 0);
    crdt_body_init(&joined, 0);
    dk_buf state = DK_BUF_INIT;
    int rc;
    if ((rc = crdt_pool_add_vv(&pool, &a->vv)) || (rc = crdt_pool_add_vv(&pool, &b->vv)) ||
        (rc = crdt_read(a, &pool, &ca, &x)) || (rc = crdt_read(b, &pool, &cb, &y)))
        goto done;
    if (!x.type || !y.type) {
        rc = DK_ECORRUPT; /* a CRDT object always holds a state */
        goto done;
    }
    /* Two types under one key (created concurrently through two
     * coordinators): the higher type wins and the other's state is
     * dropped; its dots stay in the context. A max on the type then a
     * join within it is still a join. */
    if (x.type != y.type) {
        crdt_body *lower = x.type < y.type ? &x : &y;
        crdt_body_free(lower);
        crdt_body_init(lower, x.type < y.type ? y.type : x.type);
        crdt_metric(r, "crdt_type_conflicts_total");
    }
    if ((rc = crdt_body_join(&x, ca, &y, cb, &joined)) || (rc = crdt_state_encode(&joined, &pool, &state)) ||
        (rc = obj->vv_copy(&out->vv, &a->vv)) || (rc = obj->vv_merge(&out->vv, &b->vv)))
        goto done;
    const dk_sibling *latest = crdt_latest(obj, &a->sib[0], &b->sib[0]);
    rc = crdt_emit(obj, out, &state, &latest->actor, latest->counter, latest->write_time_ms);
done:
    dk_buf_free(&state);
    crdt_body_free(&x);
    crdt_body_free(&y);
    crdt_body_free(&joined);
    free(ca);
    free(cb);
    crdt_pool_free(&pool);
    return rc;
}

static int crdt_value(dk_resolver *r, const dk_object *obj, void (*sink)(void *arg, dk_slice value),
                      void *arg)
{
    (void)r;
    crdt_pool pool = {0};
    uint64_t *ctx = NULL;
    crdt_body b;
    crdt_body_init(&b, 0);
    dk_crdt_value v;
    memset(&v, 0, sizeof(v));
    dk_buf enc = DK_BUF_INIT;
    int rc = crdt_pool_add_vv(&pool, &obj->vv);
    if (rc == 0)
        rc = crdt_read(obj, &pool, &ctx, &b);
    if (rc == 0 && !b.type)
        rc = DK_ECORRUPT;
    if (rc == 0)
        rc = crdt_body_value(&b, &v);
    if (rc == 0 && (rc = dk_crdt_value_encode(&v, &enc)) == -EINVAL)
        rc = DK_ECORRUPT; /* a value the state cannot have had */
    if (rc == 0)
        sink(arg, dk_buf_slice(&enc));
    dk_buf_free(&enc);
    dk_crdt_value_free(&v);
    crdt_body_free(&b);
    free(ctx);
    crdt_pool_free(&pool);
    return rc;
}

static void crdt_release(dk_resolver *r, dk_object *out)
{
    (void)r;
    for (uint32_t i = 0; i < out->n_sib; i++) {
        free((void *)out->sib[i].value.ptr);
        out->sib[i].value = (dk_slice){NULL, 0};
    }
}

static const dk_conflict_ops crdt_ops = {
    .struct_size = sizeof(dk_conflict_ops),
    .open = crdt_open,
    .close = crdt_close,
    .update = crdt_update,
    .merge = crdt_merge,
    .value = crdt_value,
    .release = crdt_release,
};

static const dk_plugin crdt_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CONFLICT,
    .name = DK_CRDT_RESOLVER,
    .version = "1.0.0",
    .ops = &crdt_ops,
};

DK_PLUGIN_EXPORT(&crdt_plugin)
