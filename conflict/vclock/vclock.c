/*
 * vclock.c - the default conflict resolver: concurrent writes are kept as
 * siblings and surfaced to the client, which resolves them by writing with
 * the context it read (Riak's allow_mult with dotted version vectors).
 *
 * update is the DVV update of the host's object helpers (dk_host.object,
 * which allocate the output the host later frees), refused with
 * DK_ESIBLINGS when it would leave more than max_siblings live siblings
 * (tombstones and expired siblings do not count: they are not returned to
 * the client and a write with their context clears them), followed by
 * Dynamo-style pruning of the vv. merge is the DVV sync and is never
 * pruned: pruning depends on the wall clock and would break the
 * commutativity and associativity replicas rely on to converge.
 */
#include <errno.h>
#include <stdlib.h>
#include "dynkv/plugin.h"
#include "dynkv/conflict.h"
#include "../common/resolver_conf.h"

typedef struct vclock_resolver {
    dk_resolver base; /* first: the host sees a dk_resolver */
    const dk_object_api *obj;
    dk__resolver_conf conf;
} vclock_resolver;

static int vclock_open(const dk_host *host, const dk_conflict_conf *conf, dk_resolver **out)
{
    vclock_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->base.host = host;
    r->obj = host->object;
    dk__resolver_conf_load(conf, &r->conf);
    *out = &r->base;
    return 0;
}

static void vclock_close(dk_resolver *r)
{
    free(r);
}

static int vclock_update(dk_resolver *base, const dk_object *stored, const dk_write *w, dk_object *out)
{
    vclock_resolver *r = (vclock_resolver *)base;
    int rc = r->obj->dvv_update(stored, w, out);
    if (rc)
        return rc;
    if ((uint32_t)r->obj->object_live_count(out, w->now_ms) > r->conf.max_siblings)
        return DK_ESIBLINGS;
    r->obj->vv_prune(&out->vv, out, r->conf.prune_entries, r->conf.prune_age_ms, w->now_ms);
    return 0;
}

static int vclock_merge(dk_resolver *base, const dk_object *a, const dk_object *b, dk_object *out)
{
    vclock_resolver *r = (vclock_resolver *)base;
    return r->obj->dvv_sync(a, b, out);
}

static const dk_conflict_ops vclock_ops = {
    .struct_size = sizeof(dk_conflict_ops),
    .open = vclock_open,
    .close = vclock_close,
    .update = vclock_update,
    .merge = vclock_merge,
    .caps = DK_CONFLICT_CAP_VERSIONS_ONLY, /* update reads no stored value */
};

static const dk_plugin vclock_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CONFLICT,
    .name = "vclock",
    .version = "1.0.0",
    .ops = &vclock_ops,
};

DK_PLUGIN_EXPORT(&vclock_plugin)
