/*
 * io_yield.c - background writers yield to the WAL's fdatasync.
 *
 * On this machine's disk (virtio, write-back cache, no FUA) every WAL
 * fdatasync ends in a device cache flush that carries whatever table and
 * blob data was queued before it: a WAL sync of >= 5 ms overlapped a
 * compaction's writeback or fsync 46-77 % of the time (bench/results/
 * stall-2026-12-05-s8.md). So the table builder and the blob writer ask,
 * before each writeback step (sync_file_range of the last interval) and
 * before the final fsync, whether a WAL fdatasync is in flight; if so
 * they wait until that sync has ended and then queue their step at once,
 * at the start of the gap between two syncs, instead of in the middle of
 * one. The WAL publishes the start of its sync in a shared gauge
 * (lsm_db.wal_sync_since_us, set around the fdatasync in lsm_write.c);
 * reading it is one atomic load, so the common case (no sync in flight)
 * costs nothing.
 *
 * The wait is bounded: at most LSM_YIELD_MAX_US per step (a sync stuck
 * on the device that long is the device's, not ours), and none at all
 * when the caller says it is urgent: compaction once level 0 reaches
 * LSM_PACE_L0_FREE runs (well before writers are slowed), the flush when
 * its pace is lifted (someone waits or may soon wait for it) and both on
 * close. Each step waits for one sync, never for a gap: at a high write
 * rate the WAL syncs back to back, and waiting for a quiet moment could
 * starve the writer. This file has no clock or sleep of its own (the
 * caller passes them), so the unit test drives it with fakes.
 */
#include "io_yield.h"

#include "lsm.h"

#include <time.h>
#include <unistd.h>

uint64_t dk__lsm_yield_now_us(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void dk__lsm_yield_sleep_us(void *arg, uint64_t us)
{
    (void)arg;
    usleep((useconds_t)us);
}

lsm_yield_result dk__lsm_yield_wait(_Atomic uint64_t *gauge, uint64_t max_us, const lsm_yield_env *e)
{
    lsm_yield_result r = {0};
    uint64_t seen = atomic_load_explicit(gauge, memory_order_acquire);
    if (!seen || (e->urgent && e->urgent(e->arg)))
        return r;
    r.waited = 1;
    uint64_t t0 = e->now_us(e->arg), el = 0;
    while (atomic_load_explicit(gauge, memory_order_acquire) == seen) {
        if (el >= max_us) {
            r.timed_out = 1;
            break;
        }
        if (e->urgent && e->urgent(e->arg))
            break;
        uint64_t left = max_us - el;
        e->sleep_us(e->arg, left < LSM_YIELD_POLL_US ? left : LSM_YIELD_POLL_US);
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
        .now_us = dk__lsm_yield_now_us, .sleep_us = dk__lsm_yield_sleep_us, .urgent = urgent, .arg = arg};
    lsm_yield_result r = dk__lsm_yield_wait(&db->wal_sync_since_us, LSM_YIELD_MAX_US, &e);
    if (!r.waited)
        return;
    atomic_fetch_add(&db->st_yields, 1);
    atomic_fetch_add(&db->st_yield_us, r.waited_us);
    if (r.timed_out)
        atomic_fetch_add(&db->st_yield_timeouts, 1);
}
