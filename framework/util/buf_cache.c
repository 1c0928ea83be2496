/*
 * buf_cache.c - a small per-thread cache of value-sized dk_buf blocks.
 *
 * A quorum PUT moves 10 KiB values through buffers that live for one
 * request: the RPC read buffer a replica takes with the frame (64 KiB),
 * the encodings a write makes (16 KiB). glibc's tcache only keeps blocks
 * up to 1 KiB, so each of these went through the arena's bins (_int_malloc,
 * unlink_chunk, malloc_consolidate; ~8 % of a loop thread's user time).
 * A loop thread allocates and frees them itself, so a LIFO of recently
 * freed blocks per power-of-two class, on that thread, serves the next
 * allocation with a block still warm in the cache and no bin walk, and
 * the growth of a smaller buffer into that size as well.
 *
 * Off unless the thread turned it on (dk_buf_cache_start: the loop
 * threads); elsewhere dk_buf_free and dk_buf_reserve are malloc and free
 * as before. Bounded: CACHE_DEPTH blocks per class and CACHE_BYTES in all
 * per thread; dk_buf_cache_stop frees what it holds. A block is filed by
 * what malloc says it holds (malloc_usable_size), not by the dk_buf's cap,
 * so a block handed out always has at least the class's size. Under
 * AddressSanitizer a kept block is poisoned, so a use after dk_buf_free
 * is still reported.
 *
 * Plugins link their own copy of this file; theirs is never started, and
 * a block crossing between the copies or threads is an ordinary malloc
 * block either way.
 */
#include <malloc.h>
#include "util/buf.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CACHE_POISON(p) ASAN_POISON_MEMORY_REGION(p, malloc_usable_size(p))
#define CACHE_UNPOISON(p) ASAN_UNPOISON_MEMORY_REGION(p, malloc_usable_size(p))
#else
#define CACHE_POISON(p) ((void)(p))
#define CACHE_UNPOISON(p) ((void)(p))
#endif

#define CACHE_MIN_SHIFT 12 /* DK_BUF_CACHE_MIN */
#define CACHE_CLASSES 5    /* 4, 8, 16, 32, 64 KiB */
#define CACHE_DEPTH 16
#define CACHE_BYTES ((size_t)1 << 20)

typedef struct buf_cache {
    int on;
    unsigned n[CACHE_CLASSES];
    size_t bytes;
    void *blk[CACHE_CLASSES][CACHE_DEPTH];
} buf_cache;

static __thread buf_cache tc;

_Static_assert(DK_BUF_CACHE_MIN == (size_t)1 << CACHE_MIN_SHIFT, "classes start at DK_BUF_CACHE_MIN");
_Static_assert(DK_BUF_CACHE_MAX == (size_t)1 << (CACHE_MIN_SHIFT + CACHE_CLASSES - 1),
               "classes end at DK_BUF_CACHE_MAX");

/* The class of a power of two in [DK_BUF_CACHE_MIN, DK_BUF_CACHE_MAX]. */
static unsigned cache_class(size_t pow2)
{
    return (unsigned)__builtin_ctzll((unsigned long long)pow2) - CACHE_MIN_SHIFT;
}

void *dk__buf_cache_move(dk_buf *b, size_t cap)
{
    if (!tc.on)
        return NULL;
    unsigned k = cache_class(cap);
    if (!tc.n[k])
        return NULL;
    void *p = tc.blk[k][--tc.n[k]];
    tc.bytes -= cap;
    CACHE_UNPOISON(p);
    /* A buffer that grows into the class (an encoding appended piece by
     * piece) moves as realloc would have moved it. */
    if (b->data) {
        if (b->len)
            memcpy(p, b->data, b->len);
        dk__buf_cache_put(b->data);
    }
    return p;
}

void dk__buf_cache_put(void *p)
{
    if (!tc.on || !p) {
        free(p);
        return;
    }
    size_t have = malloc_usable_size(p);
    if (have < DK_BUF_CACHE_MIN) {
        free(p);
        return;
    }
    /* The largest class the block can serve. */
    size_t cap = have >= DK_BUF_CACHE_MAX ? DK_BUF_CACHE_MAX : (size_t)1 << (63 - __builtin_clzll(have));
    unsigned k = cache_class(cap);
    if (have > 2 * DK_BUF_CACHE_MAX || tc.n[k] == CACHE_DEPTH || tc.bytes + cap > CACHE_BYTES) {
        free(p);
        return;
    }
    CACHE_POISON(p);
    tc.blk[k][tc.n[k]++] = p;
    tc.bytes += cap;
}

void dk_buf_cache_start(void)
{
    tc.on = 1;
}

void dk_buf_cache_stop(void)
{
    for (unsigned k = 0; k < CACHE_CLASSES; k++) {
        while (tc.n[k]) {
            void *p = tc.blk[k][--tc.n[k]];
            CACHE_UNPOISON(p);
            free(p);
        }
    }
    tc.bytes = 0;
    tc.on = 0;
}
