/*
 * store_fence.h - the store's read fence (store.h: dk_store_set_read_fence,
 * dk_store_set_span_fence and their questions), kept apart from the rest
 * of the store: the whole store's flag and the fenced token spans, which
 * worker threads consult on every read. Internal to framework/node: the
 * store embeds one (store.c) and asks it before every client read.
 */
#ifndef DK_STORE_FENCE_H
#define DK_STORE_FENCE_H

#include <pthread.h>
#include <stdatomic.h>

#include "node/store.h"

typedef struct dk__store_fence {
    _Atomic int whole;  /* dk_store_set_read_fence */
    _Atomic int some;   /* n_spans > 0 (dk_store_set_span_fence) */
    pthread_mutex_t mu; /* guards the fields below */
    dk_store_token_fn token_of;
    dk_store_span *spans;
    size_t n_spans;
} dk__store_fence;

void dk__store_fence_init(dk__store_fence *f);
void dk__store_fence_destroy(dk__store_fence *f);
/* Whether a read of key is fenced (the whole store, or its token's span).
 * Any thread. */
int dk__store_fence_key(dk__store_fence *f, dk_slice key);
/* The store's fence (store.c). */
dk__store_fence *dk__store_fence_of(dk_store *s);
const dk__store_fence *dk__store_fence_of_const(const dk_store *s);
#endif
