/*
 * engines/common/adapter.c - helpers shared by the third-party engine
 * adapters (see adapter.h). Each adapter keeps its own iterator state and
 * library calls and hands the bound arithmetic and the batch and status
 * checks to these functions, so that the three adapters cannot drift
 * apart on what a bound or a bad batch means. Callbacks into each library
 * (a generic iterator over per-library step/seek functions) were not
 * taken: the libraries' cursors differ (LMDB returns the entry from the
 * positioning call), and the glue would be longer than the loops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

int dk__adapter_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0; /* a seek target may be {NULL, 0} */
    return c ? c : (alen < blen ? -1 : alen > blen);
}

static char *adapter_dup(dk_slice s)
{
    char *p = malloc(s.len ? s.len : 1);
    if (p && s.len)
        memcpy(p, s.ptr, s.len);
    return p;
}

int dk__adapter_bounds_copy(dk__adapter_bounds *b, const dk_iter_opts *opts)
{
    if (opts && opts->start.len) {
        if (!(b->start = adapter_dup(opts->start)))
            return -ENOMEM;
        b->start_len = opts->start.len;
    }
    if (opts && opts->end.len) {
        if (!(b->end = adapter_dup(opts->end)))
            return -ENOMEM;
        b->end_len = opts->end.len;
    }
    return 0;
}

void dk__adapter_bounds_free(dk__adapter_bounds *b)
{
    free(b->start);
    free(b->end);
}

dk_slice dk__adapter_bounds_seek(const dk__adapter_bounds *b, dk_slice target)
{
    if (b->start_len && dk__adapter_cmp((const char *)target.ptr, target.len, b->start, b->start_len) < 0)
        return (dk_slice){(const uint8_t *)b->start, b->start_len};
    return target;
}

int dk__adapter_bounds_past_end(const dk__adapter_bounds *b, const char *key, size_t len)
{
    return b->end_len && dk__adapter_cmp(key, len, b->end, b->end_len) >= 0;
}

int dk__adapter_batch_check(const dk_host *h, const char *engine, const dk_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        if (batch->ops[i].type != DK_BATCH_PUT && batch->ops[i].type != DK_BATCH_DELETE) {
            h->log(h, DK_LOG_ERROR, "%s: batch op %zu has type %u", engine, i, batch->ops[i].type);
            return -EINVAL;
        }
    return 0;
}

int dk__adapter_status_code(const char *err)
{
    if (!strncmp(err, "Corruption", 10))
        return DK_ECORRUPT;
    if (strstr(err, "No space left"))
        return -ENOSPC;
    if (!strncmp(err, "Invalid argument", 16))
        return -EINVAL;
    if (!strncmp(err, "Not implemented", 15))
        return DK_EUNSUPPORTED;
    if (!strncmp(err, "Resource busy", 13))
        return -EBUSY;
    return -EIO;
}
