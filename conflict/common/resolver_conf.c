/*
 * conflict/common/resolver_conf.c - reads a dk_conflict_conf for the
 * resolver plugins (resolver_conf.h). A host built against an older
 * conflict.h passes a shorter struct, so each field is read only when
 * DK_HAS() says it lies inside conf->struct_size and is set (0 = default),
 * rather than copying the struct into a zeroed one of our size, which
 * hides that rule from a reader.
 */
#include <stddef.h>

#include "resolver_conf.h"

void dk__resolver_conf_load(const dk_conflict_conf *conf, dk__resolver_conf *out)
{
    out->max_siblings = DK_MAX_SIBLINGS_DEFAULT;
    out->prune_entries = DK_VV_PRUNE_DEFAULT;
    out->prune_age_ms = 0;
    if (DK_HAS(conf, max_siblings))
        out->max_siblings = conf->max_siblings;
    if (DK_HAS(conf, vv_prune_entries))
        out->prune_entries = conf->vv_prune_entries;
    if (DK_HAS(conf, vv_prune_age_ms) && conf->vv_prune_age_ms > 0)
        out->prune_age_ms = conf->vv_prune_age_ms;
}
