/*
 * flush_pace.h - the flush thread's pace (flush_pace.c): the table
 * builder's write hook that spreads a memtable's table over a fraction
 * of the time the memtable took to fill.
 */
#ifndef DK_LSM_FLUSH_PACE_H
#define DK_LSM_FLUSH_PACE_H
#include "lsm.h"
#include "pace.h"

typedef struct lsm_flush_pace {
    lsm_pace pace;
    lsm_db *db;
    uint64_t total, written; /* the memtable's bytes; table bytes so far */
} lsm_flush_pace;

/* Start pacing one table write of an immutable memtable of `total`
 * bytes at the rate its switch chose (db->flush_rate; none when hurried
 * or unknown). */
void dk__lsm_flush_pace_init(lsm_flush_pace *p, lsm_db *db, uint64_t total);
/* lsm_tb_opts.on_write: count n bytes written, sleep when ahead. */
void dk__lsm_flush_pace_write(void *arg, size_t n);
/* lsm_tb_opts.on_sync: yield to a WAL fdatasync in flight unless the
 * flush is hurried or behind (io_yield.c). */
void dk__lsm_flush_pace_sync(void *arg);
#endif
