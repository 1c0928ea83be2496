/*
 * buf.c - the formatted-append half of dk_buf (buf.h has the inline rest).
 */
#include <stdio.h>
#include "util/buf.h"

int dk_buf_vprintf(dk_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    int rc = dk_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int dk_buf_printf(dk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dk_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}
