/*
 * compact_pace.h - the compaction thread's table-builder and blob-writer
 * hooks (compact_pace.c): rate limit and yield to the WAL.
 */
#ifndef DK_LSM_COMPACT_PACE_H
#define DK_LSM_COMPACT_PACE_H
#include "lsm.h"
#include "pace.h"

typedef struct lsm_compact_pace {
    lsm_pace pace;
    uint64_t checked_us; /* last level-0 count check (0: never) */
    size_t l0;           /* level-0 runs at that check */
    lsm_db *db;
} lsm_compact_pace;

/* Start pacing one job's output at [engine.lsm] compaction_rate_limit. */
void dk__lsm_compact_pace_init(lsm_compact_pace *p, lsm_db *db);
/* lsm_tb_opts.on_write / lsm_blob_wopts.on_write: count n bytes written
 * (lsm_compaction_write_bytes_total), sleep when ahead of the limit. */
void dk__lsm_compact_pace_write(void *arg, size_t n);
/* lsm_tb_opts.on_sync / lsm_blob_wopts.on_sync: yield to a WAL fdatasync
 * in flight unless level 0 is long or the engine closes (io_yield.c). */
void dk__lsm_compact_pace_sync(void *arg);
#endif
