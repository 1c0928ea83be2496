/*
 * pace.c - compaction's rate limit ([engine.lsm] compaction_rate_limit).
 *
 * A budget clock: since the window's start the limit allows elapsed x
 * rate bytes; once the bytes written run more than LSM_PACE_SLICE_US
 * ahead of that, the writer sleeps for the whole lead. Sleeping per 10
 * KiB block instead cost the node 0.7 context switches per durable PUT;
 * one sleep per 5 ms of budget keeps the same average rate. A writer
 * slower than the limit (busy CPU, slow reads) earns credit for at most
 * LSM_PACE_CREDIT_US, so it never bursts far above the limit afterwards.
 *
 * The limit follows level 0. Up to LSM_PACE_L0_BASE runs (the policies'
 * default level-0 trigger) compaction is ahead of the writes and runs at
 * the configured rate, so its reads, writes and writeback stay a steady
 * trickle next to the WAL's fdatasyncs. Each run past that doubles the
 * limit; from LSM_PACE_L0_FREE runs on there is none, well before writers
 * are slowed at LSM_L0_SLOWDOWN (12). So a write rate the configured
 * limit cannot absorb raises it step by step until compaction keeps up
 * (level 0 stops growing where the doubled rate matches the flushes)
 * instead of switching between paced and flat out at one threshold, as
 * the limit did before (unpaced from 6 runs on). RocksDB's auto-tuned
 * limiter adapts to the same pressure from the limiter's own drain rate;
 * the level-0 count is the figure that decides write stalls here, so the
 * limit follows it directly.
 *
 * The flush has a pace of its own (dk__lsm_flush_rate, flush_pace.c):
 * unpaced, a 64 MiB memtable left in one ~100 ms burst at the disk's full
 * speed, and the WAL's fdatasyncs queued behind its writeback (bench/
 * results/stall-2026-12-05-s8.md).
 */
#include "pace.h"

uint64_t dk__lsm_flush_rate(uint64_t bytes, uint64_t fill_us)
{
    if (!fill_us || !bytes)
        return 0;
    /* bytes x 1e6 overflows only past 16 TiB: a memtable is far smaller. */
    uint64_t fill = fill_us / LSM_FLUSH_PACE_SPEEDUP;
    if (fill > LSM_FLUSH_PACE_MAX_US)
        fill = LSM_FLUSH_PACE_MAX_US;
    if (!fill)
        return 0;
    uint64_t rate = bytes * 1000000u / fill;
    return rate ? rate : 1;
}

void dk__lsm_pace_init(lsm_pace *p, uint64_t rate)
{
    *p = (lsm_pace){.rate = rate};
}

uint64_t dk__lsm_pace_rate(uint64_t rate, size_t l0)
{
    if (!rate || l0 >= LSM_PACE_L0_FREE)
        return 0;
    if (l0 <= LSM_PACE_L0_BASE)
        return rate;
    unsigned shift = (unsigned)(l0 - LSM_PACE_L0_BASE);
    return rate > (UINT64_MAX >> shift) ? 0 : rate << shift;
}

uint64_t dk__lsm_pace_account(lsm_pace *p, uint64_t now_us, size_t n, size_t l0)
{
    uint64_t eff = dk__lsm_pace_rate(p->rate, l0);
    if (!p->started || eff != p->eff) {
        p->started = 1;
        p->eff = eff;
        p->start_us = now_us;
        p->bytes = 0;
    }
    if (!eff)
        return 0;
    p->bytes += n;
    /* Split so that no product overflows (eff < 2^44: the option's
     * maximum, 1 TiB/s, shifted at most 3 times). */
    uint64_t due = p->bytes / eff * 1000000u + p->bytes % eff * 1000000u / eff;
    uint64_t el = now_us - p->start_us;
    if (el > due + LSM_PACE_CREDIT_US) {
        p->start_us += el - due - LSM_PACE_CREDIT_US;
        el = due + LSM_PACE_CREDIT_US;
    }
    return due > el + LSM_PACE_SLICE_US ? due - el : 0;
}
