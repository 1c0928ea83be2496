/*
 * conflict/common/resolver_conf.c - reads a dk_conflict_conf for the
 * resolver plugins (resolver_conf.h). A host built against an older
 * conflict.h passes a shorter struct, so each field is read only when it
 * lies wholly inside conf->struct_size (rather than copying the struct
 * into a zeroed one of our size, which hides that rule from a reader).
 */
#include <stddef.h>

#include "resolver_conf.h"

/* 1 when field of *conf lies wholly inside the host's struct_size. */
#define RCONF_HAS(conf, field)                                                           \
    ((conf)->struct_size >= offsetof(dk_conflict_conf, field) + sizeof((conf)->field))

void dk__resolver_conf_load(const dk_conflict_conf *conf, dk__resolver_conf *out)
{
    out->max_siblings = DK_MAX_SIBLINGS_DEFAULT;
    out->prune_entries = DK_VV_PRUNE_DEFAULT;
    out->prune_age_ms = 0;
    if (!conf)
        return;
    if (RCONF_HAS(conf, max_siblings) && conf->max_siblings)
        out->max_siblings = conf->max_siblings;
    if (RCONF_HAS(conf, vv_prune_entries) && conf->vv_prune_entries)
        out->prune_entries = conf->vv_prune_entries;
    if (RCONF_HAS(conf, vv_prune_age_ms) && conf->vv_prune_age_ms > 0)
        out->prune_age_ms = conf->vv_prune_age_ms;
}
