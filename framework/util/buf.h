/*
 * buf.h - a growable byte buffer (malloc-backed), used wherever bytes are
 * assembled: encoders, HTTP responses, WAL records.
 *
 * A dk_buf owns its memory; dk_buf_free releases it. On allocation failure
 * the append functions return -ENOMEM and leave the buffer as it was.
 * A thread that called dk_buf_cache_start keeps freed blocks of 4 to 64 KiB
 * for its next buffers (buf_cache.c); the memory is malloc's either way,
 * so data may still be taken from a dk_buf and released with free().
 */
#ifndef DK_UTIL_BUF_H
#define DK_UTIL_BUF_H
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dynkv/types.h"

typedef struct dk_buf {
    uint8_t *data;
    size_t len, cap;
} dk_buf;

#define DK_BUF_INIT                                                                                          \
    {                                                                                                        \
        NULL, 0, 0                                                                                           \
    }

/* Blocks of these sizes (powers of two) are kept per thread (buf_cache.c). */
#define DK_BUF_CACHE_MIN ((size_t)4096)
#define DK_BUF_CACHE_MAX ((size_t)65536)
/* A kept block of cap bytes (a power of two in the range) holding b's
 * bytes, b's old block released; or NULL (none kept: b is unchanged). */
void *dk__buf_cache_move(dk_buf *b, size_t cap);
/* Keep p (a malloc block) for reuse, or free it. */
void dk__buf_cache_put(void *p);
/* Turn the calling thread's cache on; off again, freeing what it keeps
 * (before the thread ends). */
void dk_buf_cache_start(void);
void dk_buf_cache_stop(void);

static inline void dk_buf_init(dk_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}
static inline void dk_buf_free(dk_buf *b)
{
    if (b->cap >= DK_BUF_CACHE_MIN)
        dk__buf_cache_put(b->data);
    else if (b->data) /* most freed bufs of a request are empty */
        free(b->data);
    dk_buf_init(b);
}
static inline void dk_buf_reset(dk_buf *b)
{
    b->len = 0;
}
static inline dk_slice dk_buf_slice(const dk_buf *b)
{
    dk_slice s = {b->data, b->len};
    return s;
}

/* Make room for n more bytes. */
static inline int dk_buf_reserve(dk_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *p = NULL;
    if (cap >= DK_BUF_CACHE_MIN && cap <= DK_BUF_CACHE_MAX)
        p = dk__buf_cache_move(b, cap);
    if (!p)
        p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int dk_buf_append(dk_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = dk_buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int dk_buf_append_str(dk_buf *b, const char *s)
{
    return dk_buf_append(b, s, strlen(s));
}

/* Append printf-formatted text (no NUL is counted in len; one is kept
 * after the data so data can be used as a C string). */
int dk_buf_printf(dk_buf *b, const char *fmt, ...) DK_PRINTF(2, 3);
int dk_buf_vprintf(dk_buf *b, const char *fmt, va_list ap);
#endif
