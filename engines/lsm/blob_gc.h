/*
 * blob_gc.h - forced garbage collection of blob files (blob_gc.c): which
 * blob files are mostly garbage among the oldest, and which table to
 * rewrite so that compaction relocates what is live in them.
 */
#ifndef DK_LSM_BLOB_GC_H
#define DK_LSM_BLOB_GC_H
#include "dynkv/compaction.h"
#include "version.h"

/* The blob files of v forced for collection: among the oldest pct
 * percent of those v names, each more than half garbage. Sorted, *count
 * of them, for the caller to free; NULL when none (or out of memory). */
uint64_t *dk__lsm_gc_forced(const lsm_version *v, unsigned pct, size_t *count);
/* True when table f names one of forced[0..n). */
int dk__lsm_gc_names(const lsm_file *f, const uint64_t *forced, size_t n);
/* Fill job (inputs has room for one) with the rewrite of a table of a
 * level >= 1, neither busy nor damaged, naming a forced blob file, into
 * its own level; DK_ENOTFOUND when there is none. Holds the engine's mu. */
int dk__lsm_gc_force_pick(const lsm_version *v, unsigned pct, dk_compaction_job *job);
#endif
