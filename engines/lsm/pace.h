/*
 * pace.h - compaction's rate limit (pace.c): how long the compaction
 * thread should sleep after writing, given the bytes it wrote, the clock
 * and how far level 0 is behind. Pure accounting, no clock or sleep of
 * its own, so a test drives it with a fake clock.
 */
#ifndef DK_LSM_PACE_H
#define DK_LSM_PACE_H
#include <stddef.h>
#include <stdint.h>

/* Level-0 runs at which the limit starts to double per extra run, and at
 * which it is lifted: writers are slowed at LSM_L0_SLOWDOWN (lsm.h), so
 * compaction must run flat out before level 0 gets there. */
#define LSM_PACE_L0_BASE 4
#define LSM_PACE_L0_FREE 8
/* Sleep only once compaction is this far ahead of its budget, and keep
 * at most this much credit when it is behind (pace.c). */
#define LSM_PACE_SLICE_US 5000u
#define LSM_PACE_CREDIT_US 20000u

typedef struct lsm_pace {
    uint64_t rate;     /* the configured limit, bytes/s; 0: none */
    uint64_t eff;      /* the limit now (rate scaled for level 0); 0: none */
    uint64_t start_us; /* the budget's window: since start_us ... */
    uint64_t bytes;    /* ... this many bytes were written */
    int started;
} lsm_pace;

/* The flush's pace (flush_pace.c): a memtable that filled in fill_us is
 * written out at LSM_FLUSH_PACE_SPEEDUP times the rate it filled at, so
 * its table takes a fraction of the next memtable's fill time instead of
 * one burst at the disk's full speed, but never longer than
 * LSM_FLUSH_PACE_MAX_US. Twice, not four times: on a disk with a
 * write-back cache every WAL fdatasync is a cache flush that also carries
 * the table's and blob file's data written since the last one, so the
 * same bytes as a thinner stream over half the fill time leave fewer slow
 * WAL syncs than a burst over a quarter of it (bench/results/
 * episode-2026-12-05-s10.md: 12 against 27-40 syncs >= 10 ms per 15 s
 * beside 125 MB/s of such writes). LSM_FLUSH_BEHIND_PM and the writers'
 * hurry (LSM_FLUSH_HURRY_PM, lsm_write.c) sit below it with a margin. */
#define LSM_FLUSH_PACE_SPEEDUP 2u
/* The pace is lifted once the flush is less than this many thousandths as
 * far along its table as the next memtable is along its fill. */
#define LSM_FLUSH_BEHIND_PM 1250u
/* A writer that finds the next memtable this many thousandths full while
 * the flush of the last one still runs hurries it (lsm_write.c). */
#define LSM_FLUSH_HURRY_PM 750u
#define LSM_FLUSH_PACE_MAX_US 1000000u

/* The rate (bytes/s) to flush `bytes` that filled in fill_us at; 0 (no
 * limit) when fill_us is 0 (unknown). */
uint64_t dk__lsm_flush_rate(uint64_t bytes, uint64_t fill_us);

/* A limiter of rate bytes/s (0: unlimited). */
void dk__lsm_pace_init(lsm_pace *p, uint64_t rate);
/* The limit for l0 level-0 runs: rate up to LSM_PACE_L0_BASE runs,
 * doubled for each run past it, 0 (none) from LSM_PACE_L0_FREE on or
 * when rate is 0. */
uint64_t dk__lsm_pace_rate(uint64_t rate, size_t l0);
/* Count n bytes written at now_us while level 0 holds l0 runs; returns
 * the microseconds to sleep before writing more (0: none). A change of
 * the limit starts a new window, so neither a debt nor a lead carries
 * over. Call it again with n = 0 after a sleep to learn whether more is
 * due (level 0 may have grown meanwhile). */
uint64_t dk__lsm_pace_account(lsm_pace *p, uint64_t now_us, size_t n, size_t l0);
#endif
