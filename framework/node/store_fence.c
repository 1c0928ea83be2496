/*
 * store_fence.c - the store's read fence (see store_fence.h and, for what
 * it is for, cluster/read_fence.h).
 *
 * The whole store's flag and "some spans" are atomics, so a read of an
 * unfenced store costs two relaxed loads; only a store with fenced spans
 * takes the mutex and hashes the key. The spans are few (the ranges one
 * move gives a node: a few hundred at most), so a linear search is
 * enough; a sorted array would pay off only for thousands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node/store_fence.h"

void dk__store_fence_init(dk__store_fence *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
}

void dk__store_fence_destroy(dk__store_fence *f)
{
    pthread_mutex_destroy(&f->mu);
    free(f->spans);
    f->spans = NULL;
}

/* a <= b on the circle's 128-bit tokens */
static int span_le(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
    return ahi < bhi || (ahi == bhi && alo <= blo);
}

/* Whether token t is in (start, end] (start >= end wraps; start == end
 * is the whole circle, as ring.h). */
static int span_has(const dk_store_span *sp, uint64_t hi, uint64_t lo)
{
    int after_start = !span_le(hi, lo, sp->start_hi, sp->start_lo);
    int to_end = span_le(hi, lo, sp->end_hi, sp->end_lo);
    if (span_le(sp->end_hi, sp->end_lo, sp->start_hi, sp->start_lo))
        return after_start || to_end;
    return after_start && to_end;
}

void dk_store_set_read_fence(dk_store *s, int on)
{
    atomic_store(&dk__store_fence_of(s)->whole, on != 0);
}

int dk_store_read_fenced(const dk_store *s)
{
    return atomic_load_explicit(&dk__store_fence_of_const(s)->whole, memory_order_relaxed);
}

int dk_store_set_span_fence(dk_store *s, dk_store_token_fn token_of, const dk_store_span *spans, size_t n)
{
    dk__store_fence *f = dk__store_fence_of(s);
    dk_store_span *copy = NULL;
    if (n && !(copy = malloc(n * sizeof(*copy))))
        return -ENOMEM;
    if (n)
        memcpy(copy, spans, n * sizeof(*copy));
    pthread_mutex_lock(&f->mu);
    free(f->spans);
    f->spans = copy;
    f->n_spans = n;
    f->token_of = token_of;
    atomic_store(&f->some, n > 0);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int dk_store_span_fenced(dk_store *s, const dk_store_span *sp)
{
    dk__store_fence *f = dk__store_fence_of(s);
    if (atomic_load_explicit(&f->whole, memory_order_relaxed))
        return 1;
    if (!atomic_load_explicit(&f->some, memory_order_acquire))
        return 0;
    int hit = 0;
    pthread_mutex_lock(&f->mu);
    /* Two arcs (a, b] meet when either holds the other's end. */
    for (size_t i = 0; i < f->n_spans && !hit; i++)
        hit = span_has(&f->spans[i], sp->end_hi, sp->end_lo) ||
              span_has(sp, f->spans[i].end_hi, f->spans[i].end_lo);
    pthread_mutex_unlock(&f->mu);
    return hit;
}

int dk__store_fence_key(dk__store_fence *f, dk_slice key)
{
    if (atomic_load_explicit(&f->whole, memory_order_relaxed))
        return 1;
    if (!atomic_load_explicit(&f->some, memory_order_acquire))
        return 0;
    int hit = 0;
    pthread_mutex_lock(&f->mu);
    if (f->token_of && f->n_spans) {
        uint64_t hi, lo;
        f->token_of(key, &hi, &lo);
        for (size_t i = 0; i < f->n_spans && !hit; i++)
            hit = span_has(&f->spans[i], hi, lo);
    }
    pthread_mutex_unlock(&f->mu);
    return hit;
}
