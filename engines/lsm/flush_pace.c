/*
 * flush_pace.c - the flush thread's pace (flush_pace.h).
 *
 * Unpaced, the flush wrote a 64 MiB memtable in one burst at the disk's
 * full speed (~600 MB/s here, ~100 ms): the WAL's fdatasyncs queued
 * behind its writeback (1.7-2.4 ms median while it ran, 0.3 ms without;
 * bench/results/stall-2026-12-05-s8.md) and its CPU burst ran beside the
 * loops. The leader that switches a memtable measures how long it took
 * to fill and sets the rate (lsm_write.c): LSM_FLUSH_PACE_SPEEDUP times
 * the fill rate (pace.h), so at a steady write rate the table is done in
 * half of the next memtable's fill time (which the memtable jitter
 * may cut to 75 %), as a trickle next to the WAL rather than a burst.
 *
 * The pace is lifted (flush_hurry) when anyone waits or may soon wait
 * for the flush: a forced switch (flush(), checkpoints, close), a writer
 * that finds the new memtable three quarters full while the old one is
 * still being written, a writer stalled on it, close; and for the rest of
 * a table as soon as the flush is less than 1.25 times as far along as
 * the next memtable is full (fp_behind: the write rate went up). So
 * pacing never adds a write stall that the unpaced flush would not have
 * had; it only moves the flush's I/O out of the WAL's way.
 *
 * A stricter form of the same test decides whether the table's writeback
 * steps and final fsync wait for a WAL fdatasync in flight to end
 * (io_yield.c): only while nobody waits for the flush and it is 1.6
 * times as far along as the next memtable (fp_urgent).
 */
#include "flush_pace.h"

#include "io_yield.h"

#include <unistd.h>

/* Sleep in steps, so that a hurry or close is seen within one. */
#define LSM_FLUSH_SLEEP_MAX_US 10000u

static int fp_lifted(const lsm_db *db)
{
    return atomic_load(&db->flush_hurry) || atomic_load(&db->closing);
}

/* The flush must stay LSM_FLUSH_BEHIND_PM / 1000 (1.25) times as far
 * along its table as the next memtable is along its fill, so that it is
 * done by the time that one is 80 % full: at a steady write rate the pace
 * keeps it twice as far (pace.h), but when the writes speed up the pace is
 * lifted at once, not only when the next memtable is LSM_FLUSH_HURRY_PM
 * full (lsm_write.c). The table's bytes stand for the memtable's (a
 * memtable holds a little more: node overhead), so the flush's progress
 * is if anything underestimated: an early lift. */
static int fp_behind(const lsm_flush_pace *p)
{
    uint64_t fill = atomic_load(&p->db->mem_fill_pm);
    return !p->total || p->written * 1000u * 1000u < LSM_FLUSH_BEHIND_PM * fill * p->total;
}

void dk__lsm_flush_pace_init(lsm_flush_pace *p, lsm_db *db, uint64_t total)
{
    p->db = db;
    p->total = total;
    p->written = 0;
    dk__lsm_pace_init(&p->pace, fp_lifted(db) ? 0 : atomic_load(&db->flush_rate));
}

void dk__lsm_flush_pace_write(void *arg, size_t n)
{
    lsm_flush_pace *p = arg;
    lsm_db *db = p->db;
    p->written += n;
    if (!p->pace.rate)
        return;
    if (fp_lifted(db) || fp_behind(p)) {
        p->pace.rate = 0; /* for the rest of this table */
        atomic_fetch_add(&db->st_flush_pace_lifts, 1);
        dk__lsm_trace("flush_lift hurry=%d written_pm=%llu fill_pm=%llu", fp_lifted(db) ? 1 : 0,
                      (unsigned long long)(p->total ? p->written * 1000u / p->total : 0),
                      (unsigned long long)atomic_load(&db->mem_fill_pm));
        return;
    }
    uint64_t now = dk__lsm_now_us();
    /* Level 0 plays no part here: 0 runs keeps the configured rate. */
    uint64_t us = dk__lsm_pace_account(&p->pace, now, n, 0);
    while (us && !fp_lifted(db) && !fp_behind(p)) {
        usleep((useconds_t)(us < LSM_FLUSH_SLEEP_MAX_US ? us : LSM_FLUSH_SLEEP_MAX_US));
        uint64_t t = dk__lsm_now_us();
        atomic_fetch_add(&db->st_flush_paced_us, t - now);
        now = t;
        us = dk__lsm_pace_account(&p->pace, now, 0, 0);
    }
}

/* Yield only with a margin over fp_behind's line: while the flush is at
 * least LSM_FLUSH_YIELD_AHEAD_PM / 1000 (1.6) times as far along its table
 * as the next memtable is along its fill (the pace keeps it at
 * LSM_FLUSH_PACE_SPEEDUP), so that waiting for the WAL never brings it to
 * the point where the pace is lifted and the rest goes out as a burst. */
#define LSM_FLUSH_YIELD_AHEAD_PM 1600u

static int fp_urgent(void *arg)
{
    const lsm_flush_pace *p = arg;
    uint64_t fill = atomic_load(&p->db->mem_fill_pm);
    return fp_lifted(p->db) || !p->total ||
           p->written * 1000u * 1000u < LSM_FLUSH_YIELD_AHEAD_PM * fill * p->total;
}

void dk__lsm_flush_pace_sync(void *arg)
{
    lsm_flush_pace *p = arg;
    dk__lsm_bg_yield(p->db, fp_urgent, p);
}
