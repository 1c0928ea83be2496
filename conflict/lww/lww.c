/*
 * lww.c - last-write-wins resolver: an object holds at most one sibling.
 *
 * merge keeps the sibling with the highest (write time, node id,
 * incarnation, counter) and the pointwise max of the vvs. Taking a maximum
 * under a total order is commutative, associative and idempotent, so
 * replicas converge whatever order copies meet in; the node id breaks
 * timestamp ties the same way everywhere.
 *
 * update always keeps the new write, and the vv still advances as in the
 * DVV update so contexts stay meaningful. To make "the new write wins" in
 * update agree with "the highest timestamp wins" in merge even when clocks
 * are skewed, the new write's time is raised, like a hybrid logical clock,
 * to one past every time this write causally follows: the stored siblings'
 * write times and the times in the stored vv and in the client's context.
 * Without this a write coordinated by a node whose clock lags would be
 * acknowledged, then lose to the value it replaced at the first merge. The
 * cost: with a node whose clock runs ahead, timestamps drift ahead with it.
 * Writes that are truly concurrent are decided by timestamp, and the loser
 * is discarded: that is what choosing lww means.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dynkv/plugin.h"
#include "dynkv/conflict.h"
#include "../common/resolver_conf.h"

typedef struct lww_resolver {
    dk_resolver base;         /* first: the host sees a dk_resolver */
    const dk_object_api *obj; /* the host's helpers: they allocate the output */
    dk__resolver_conf conf;   /* max_siblings unused: one sibling always */
} lww_resolver;

static int lww_open(const dk_host *host, const dk_conflict_conf *conf, dk_resolver **out)
{
    lww_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->base.host = host;
    r->obj = host->object;
    dk__resolver_conf_load(conf, &r->conf);
    *out = &r->base;
    return 0;
}

static void lww_close(dk_resolver *r)
{
    free(r);
}

/* One past the latest time in v, or floor. */
static int64_t lww_after_vv(const dk_vv *v, int64_t floor)
{
    for (uint32_t i = 0; v && i < v->n; i++)
        if (v->e[i].time_ms < INT64_MAX && v->e[i].time_ms + 1 > floor)
            floor = v->e[i].time_ms + 1;
    return floor;
}

static int lww_update(dk_resolver *base, const dk_object *stored, const dk_write *w, dk_object *out)
{
    lww_resolver *r = (lww_resolver *)base;
    dk_write nw = *w;
    for (uint32_t i = 0; i < stored->n_sib; i++)
        if (stored->sib[i].write_time_ms < INT64_MAX && stored->sib[i].write_time_ms + 1 > nw.now_ms)
            nw.now_ms = stored->sib[i].write_time_ms + 1;
    nw.now_ms = lww_after_vv(&stored->vv, nw.now_ms);
    nw.now_ms = lww_after_vv(w->context, nw.now_ms);
    /* The stored vv without its siblings: the DVV update then yields the
     * advanced vv and exactly one sibling, the new write. */
    dk_object causal = {.vv = stored->vv, .sib = NULL, .n_sib = 0, .cap_sib = 0};
    int rc = r->obj->dvv_update(&causal, &nw, out);
    if (rc)
        return rc;
    r->obj->vv_prune(&out->vv, out, r->conf.prune_entries, r->conf.prune_age_ms, w->now_ms);
    return 0;
}

/* Total order deciding the winner; content last, so even damaged copies
 * holding the same dot with different bytes pick the same winner. */
static int lww_cmp(const dk_object_api *o, const dk_sibling *a, const dk_sibling *b)
{
    if (a->write_time_ms != b->write_time_ms)
        return a->write_time_ms < b->write_time_ms ? -1 : 1;
    int c = o->actor_cmp(&a->actor, &b->actor);
    if (c)
        return c;
    if (a->counter != b->counter)
        return a->counter < b->counter ? -1 : 1;
    if (a->expiry_ms != b->expiry_ms)
        return a->expiry_ms < b->expiry_ms ? -1 : 1;
    if (a->flags != b->flags)
        return a->flags < b->flags ? -1 : 1;
    size_t n = a->value.len < b->value.len ? a->value.len : b->value.len;
    c = n ? memcmp(a->value.ptr, b->value.ptr, n) : 0;
    if (c)
        return c;
    return (a->value.len > b->value.len) - (a->value.len < b->value.len);
}

static int lww_merge(dk_resolver *base, const dk_object *a, const dk_object *b, dk_object *out)
{
    const dk_object_api *o = ((lww_resolver *)base)->obj;
    const dk_sibling *best = NULL;
    const dk_object *src[2] = {a, b};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < src[k]->n_sib; i++)
            if (!best || lww_cmp(o, &src[k]->sib[i], best) > 0)
                best = &src[k]->sib[i];
    out->n_sib = 0;
    int rc = o->vv_copy(&out->vv, &a->vv);
    if (!rc)
        rc = o->vv_merge(&out->vv, &b->vv);
    if (!rc && best)
        rc = o->object_add_sibling(out, best);
    if (rc)
        o->object_free(out);
    return rc;
}

static const dk_conflict_ops lww_ops = {
    .struct_size = sizeof(dk_conflict_ops),
    .open = lww_open,
    .close = lww_close,
    .update = lww_update,
    .merge = lww_merge,
    .caps = DK_CONFLICT_CAP_VERSIONS_ONLY, /* update reads no stored value */
};

static const dk_plugin lww_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CONFLICT,
    .name = "lww",
    .version = "1.0.0",
    .ops = &lww_ops,
};

DK_PLUGIN_EXPORT(&lww_plugin)
