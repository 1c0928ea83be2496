/*
 * conflict/common/resolver_conf.h - the resolver settings read from a
 * host's dk_conflict_conf, shared by the resolver plugins (vclock, lww).
 *
 * resolver_conf.c is compiled into each resolver plugin (plugins link no
 * shared resolver library); nothing here is exported from a plugin .so.
 */
#ifndef DK_CONFLICT_RESOLVER_CONF_H
#define DK_CONFLICT_RESOLVER_CONF_H

#include <stdint.h>

#include "dynkv/conflict.h"

/* A resolver's settings, defaulted. */
typedef struct dk__resolver_conf {
    uint32_t max_siblings;  /* DK_MAX_SIBLINGS_DEFAULT when unset */
    uint32_t prune_entries; /* DK_VV_PRUNE_DEFAULT when unset */
    int64_t prune_age_ms;   /* 0 (never by age) when unset or <= 0 */
} dk__resolver_conf;

/* Fill *out from conf (may be NULL), reading only the fields inside the
 * host's conf->struct_size; a field that is absent or 0 takes its
 * default. Pure: any thread. */
void dk__resolver_conf_load(const dk_conflict_conf *conf, dk__resolver_conf *out);

#endif
