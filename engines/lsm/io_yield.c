/*
 * io_yield.c - background writers yield to the WAL's fdatasync.
 *
 * On this machine's disk (virtio, write-back cache, no FUA) every WAL
 * fdatasync ends in a device cache flush that carries whatever table and
 * blob data was queued before it, so a writeback step queued during a
 * sync makes that sync, and every PUT waiting for it, slower. Since blob
 * files, the I/O beside the WAL is the flush's: a 10 KiB value is written
 * once, by the flush, into a blob file, and compaction only rewrites the
 * small references; 60-480 WAL syncs per 15 s run overlapped a flush's
 * writeback or fsync against at most 8 a compaction's (bench/results/
 * p99-2026-12-05-s9.md). Compaction yields all the same: with small
 * values, or values below blob_min_size, it is again the table writer.
 * So the table builder and the blob writer ask, before each writeback
 * step (sync_file_range of the last interval) and before the final
 * fsync, whether a WAL fdatasync is in flight; if so they wait until that
 * sync has ended and then queue their step at once, at the start of the
 * gap between two syncs, instead of in the middle of one.
 *
 * The WAL publishes its sync in a gauge (lsm_db.wal_sync, around the
 * fdatasync in lsm_write.c): reading it is one atomic load, so the common
 * case (no sync in flight) costs nothing. A waiter sleeps on a futex, the
 * gauge's count of ended syncs, which the WAL bumps when its sync ends;
 * the WAL makes the wake-up call only when the gauge counts a waiter
 * (all four steps sequentially consistent: either the WAL sees the
 * waiter, or the waiter sees the sync ended before it sleeps).
 *
 * The wait is bounded: at most LSM_YIELD_MAX_US per step (a sync stuck
 * on the device that long is the device's, not ours), and none at all
 * when the caller says it is urgent: compaction once level 0 reaches
 * LSM_PACE_L0_FREE runs (well before writers are slowed), the flush when
 * its pace is lifted (someone waits or may soon wait for it) and both on
 * close. urgent() is asked again at least every LSM_YIELD_URGENT_US while
 * waiting. Each step waits for one sync, never for a gap: at a high
 * write rate the WAL syncs back to back, and waiting for a quiet moment
 * could starve the writer. The wait takes its clock and its sleep as
 * arguments (lsm_yield_env), so the unit test drives it with fakes.
 */
#include "io_yield.h"

#include "lsm.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void dk__lsm_wal_gauge_end(lsm_wal_gauge *g)
{
    atomic_store(&g->since, 0);
    atomic_fetch_add(&g->ends, 1);
    if (atomic_load(&g->waiters))
        syscall(SYS_futex, (uint32_t *)&g->ends, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

uint64_t dk__lsm_yield_now_us(void *arg)
{
    (void)arg;
    return dk__lsm_now_us();
}

int dk__lsm_yield_wait_us(void *arg, lsm_wal_gauge *g, uint64_t seen, uint64_t us)
{
    (void)arg;
    int rc = 0;
    atomic_fetch_add(&g->waiters, 1);
    uint32_t ends = atomic_load(&g->ends);
    if (atomic_load(&g->since) == seen) {
        struct timespec ts = {.tv_sec = (time_t)(us / 1000000u), .tv_nsec = (long)(us % 1000000u) * 1000};
        /* Returns at the wake-up, the timeout, a signal, or at once when
         * ends moved on already: the caller looks at the gauge again. */
        if (syscall(SYS_futex, (uint32_t *)&g->ends, FUTEX_WAIT_PRIVATE, ends, &ts, NULL, 0) < 0 &&
            errno == ETIMEDOUT)
            rc = -ETIMEDOUT;
    }
    atomic_fetch_sub(&g->waiters, 1);
    return rc;
}

lsm_yield_result dk__lsm_yield_wait(lsm_wal_gauge *g, uint64_t max_us, const lsm_yield_env *e)
{
    lsm_yield_result r = {0};
    uint64_t seen = atomic_load(&g->since);
    if (!seen || (e->urgent && e->urgent(e->arg)))
        return r;
    r.waited = 1;
    uint64_t t0 = e->now_us(e->arg), el = 0;
    while (atomic_load(&g->since) == seen) {
        if (el >= max_us) {
            r.timed_out = 1;
            break;
        }
        if (e->urgent && e->urgent(e->arg))
            break;
        uint64_t left = max_us - el;
        e->wait_us(e->arg, g, seen, e->urgent && left > LSM_YIELD_URGENT_US ? LSM_YIELD_URGENT_US : left);
        el = e->now_us(e->arg) - t0;
    }
    r.waited_us = el;
    return r;
}

void dk__lsm_bg_yield(lsm_db *db, int (*urgent)(void *arg), void *arg)
{
    if (!db->wal_yield)
        return;
    lsm_yield_env e = {
        .now_us = dk__lsm_yield_now_us, .wait_us = dk__lsm_yield_wait_us, .urgent = urgent, .arg = arg};
    lsm_yield_result r = dk__lsm_yield_wait(&db->wal_sync, LSM_YIELD_MAX_US, &e);
    if (!r.waited)
        return;
    atomic_fetch_add(&db->st_yields, 1);
    atomic_fetch_add(&db->st_yield_us, r.waited_us);
    if (r.timed_out)
        atomic_fetch_add(&db->st_yield_timeouts, 1);
}
