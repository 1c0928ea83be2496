/*
 * blob_gc.h - forced garbage collection of blob files (blob_gc.c): which
 * old blob files are mostly garbage or small, and which table to rewrite
 * so that compaction relocates what is live in them. small: the size
 * under which a blob file counts as small (bytes); pct: [engine.lsm]
 * blob_gc_age_cutoff (0: nothing is forced).
 */
#ifndef DK_LSM_BLOB_GC_H
#define DK_LSM_BLOB_GC_H
#include "dynkv/compaction.h"
#include "version.h"

/* due[0..*n) (sorted, owned: compact.c's due blob files of a job over
 * in[0..nin)) with v's forced blob files added (the small ones of inputs
 * worth a rewrite): the array to use (due itself when none are), *n
 * updated. */
uint64_t *dk__lsm_gc_with_forced(const lsm_version *v, unsigned pct, uint64_t small, lsm_file *const *in,
                                 size_t nin, uint64_t *due, size_t *n);
/* True when table f of v is worth a rewrite for forced files (a move must
 * not carry it past the merge that relocates its references). */
int dk__lsm_gc_holds_forced(const lsm_version *v, unsigned pct, uint64_t small, const lsm_file *f);
/* Fill job (inputs has room for one) with the rewrite into its own level
 * of a table of a level >= 1, neither busy nor damaged, worth one;
 * DK_ENOTFOUND when there is none. Holds the engine's mu. */
int dk__lsm_gc_force_pick(const lsm_version *v, unsigned pct, uint64_t small, dk_compaction_job *job);
#endif
