/*
 * hist.c - log-linear latency buckets (see hist.h).
 *
 * Index layout: for a value v with highest set bit e, group g = e - 6
 * (0 when e < 7) and sub-bucket s = v >> g, which lies in [64, 128) for
 * g > 0 and in [0, 128) for g = 0; the index is g * 64 + s. So indices
 * 0..127 are exact nanoseconds and every later group of 64 buckets covers
 * one power of two.
 */
#include <string.h>

#include "hist.h"

static unsigned hist_index(uint64_t v)
{
    if (v < 2 * DK_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned g = e - DK_HIST_SUB_BITS;
    if (g > DK_HIST_GROUPS)
        return DK_HIST_BUCKETS - 1;
    return g * DK_HIST_SUB + (unsigned)(v >> g);
}

/* Lowest value and width of the bucket at idx. */
static void hist_bounds(unsigned idx, double *lo, double *width)
{
    if (idx < 2 * DK_HIST_SUB) {
        *lo = idx;
        *width = 1;
        return;
    }
    unsigned g = idx / DK_HIST_SUB - 1;
    unsigned s = idx - g * DK_HIST_SUB;
    *lo = (double)((uint64_t)s << g);
    *width = (double)((uint64_t)1 << g);
}

void dk__hist_init(dk_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void dk__hist_add(dk_hist *h, uint64_t ns)
{
    h->bucket[hist_index(ns)]++;
    h->count++;
    h->sum_ns += (double)ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void dk__hist_merge(dk_hist *dst, const dk_hist *src)
{
    for (unsigned i = 0; i < DK_HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

double dk__hist_quantile(const dk_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    /* The rank of the sample we want, 1-based, rounded up (nearest rank). */
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < DK_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            double lo, width;
            hist_bounds(i, &lo, &width);
            double v = lo + (width - 1) / 2;
            if (v < (double)h->min_ns)
                v = (double)h->min_ns;
            if (v > (double)h->max_ns)
                v = (double)h->max_ns;
            return v;
        }
    }
    return (double)h->max_ns;
}
