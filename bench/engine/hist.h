/*
 * hist.h - a latency histogram with HdrHistogram-style log-linear buckets.
 *
 * Values (nanoseconds) fall into buckets whose width doubles every power of
 * two above 128 while each power of two is split into 64 linear
 * sub-buckets, so any recorded value is known to within 1/64 (~1.6 %) at
 * constant memory (about 18 KiB) and O(1) cost per record. Each benchmark
 * thread fills its own histogram (no locking on the hot path); the main
 * thread merges them when the threads have finished.
 *
 * Alternative not taken: keeping every sample and sorting; exact, but
 * memory grows with the run and sorting millions of samples shows up in
 * short runs.
 */
#ifndef DK_BENCH_HIST_H
#define DK_BENCH_HIST_H

#include <stdint.h>

#define DK_HIST_SUB_BITS 6
#define DK_HIST_SUB (1u << DK_HIST_SUB_BITS)
/* Bucket groups: values up to 2^(DK_HIST_GROUPS + 6) ns (~10 days). */
#define DK_HIST_GROUPS 44u
#define DK_HIST_BUCKETS (DK_HIST_GROUPS * DK_HIST_SUB + 2 * DK_HIST_SUB)

typedef struct dk_hist {
    uint64_t count;
    uint64_t min_ns, max_ns;
    double sum_ns;
    uint64_t bucket[DK_HIST_BUCKETS];
} dk_hist;

/* Reset h to empty. */
void dk__hist_init(dk_hist *h);

/* Record one value in ns. Not thread-safe: one histogram per thread. */
void dk__hist_add(dk_hist *h, uint64_t ns);

/* Add every sample of src into dst. */
void dk__hist_merge(dk_hist *dst, const dk_hist *src);

/* The value (ns, the middle of its bucket, clamped to [min, max]) below
 * which a fraction q (0..1) of the samples lie; 0 for an empty histogram. */
double dk__hist_quantile(const dk_hist *h, double q);

#endif /* DK_BENCH_HIST_H */
