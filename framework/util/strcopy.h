/*
 * strcopy.h - a bounded copy of a NUL-terminated string, for the request
 * path: snprintf(dst, cap, "%s", src) parses its format and counts all of
 * src; this copies at most cap - 1 bytes and always terminates.
 */
#ifndef DK_UTIL_STRCOPY_H
#define DK_UTIL_STRCOPY_H

#include <stddef.h>
#include <string.h>

/* Copy src into dst (cap >= 1 bytes), truncated to cap - 1 bytes, NUL-terminated. */
static inline void dk_strcopy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}
#endif
