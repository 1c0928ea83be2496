/*
 * engines/common/adapter.h - helpers shared by the third-party engine
 * adapters (rocksdb, leveldb, lmdb): the iterator's [start, end) bounds,
 * the batch check, and the mapping of a LevelDB/RocksDB Status string to a
 * dk error code.
 *
 * adapter.c is compiled into each adapter plugin (plugins link no
 * framework library beyond libdkutil); nothing here is exported from a
 * plugin .so. The libraries differ in how they seek and step, so the
 * iterators themselves stay in each adapter: only the bound arithmetic,
 * which is the same everywhere, lives here.
 */
#ifndef DK_ENGINES_ADAPTER_H
#define DK_ENGINES_ADAPTER_H

#include <stddef.h>

#include "dynkv/engine.h"

/* Owned copies of an iterator's bounds; an empty bound is unbounded
 * (pointer NULL, length 0). */
typedef struct dk__adapter_bounds {
    char *start, *end;
    size_t start_len, end_len;
} dk__adapter_bounds;

/* Bytewise order, shorter first on a tie (engine.h's key order). */
int dk__adapter_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Copy opts' bounds (opts may be NULL) into *b, which must be zeroed.
 * Returns 0 or -ENOMEM; on failure *b holds what was copied, and
 * dk__adapter_bounds_free releases it either way. */
int dk__adapter_bounds_copy(dk__adapter_bounds *b, const dk_iter_opts *opts);

/* Free the copies made by dk__adapter_bounds_copy, even a partial one. */
void dk__adapter_bounds_free(dk__adapter_bounds *b);

/* Where a seek to target must land: target, raised to the start bound
 * when it lies before it. The result borrows target's or b's bytes. */
dk_slice dk__adapter_bounds_seek(const dk__adapter_bounds *b, dk_slice target);

/* 1 when key lies at or past the end bound (so the iterator is done),
 * else 0. */
int dk__adapter_bounds_past_end(const dk__adapter_bounds *b, const char *key, size_t len);

/* Check that every op of batch is a put or a delete; otherwise log through
 * h, naming engine and the op, and return -EINVAL. Returns 0 when valid. */
int dk__adapter_batch_check(const dk_host *h, const char *engine, const dk_batch *batch);

/* The dk code for a LevelDB/RocksDB Status string ("Corruption: ...",
 * "IO error: ...", ...): DK_ECORRUPT, -ENOSPC, -EINVAL, DK_EUNSUPPORTED,
 * -EBUSY, else -EIO. err is only read. */
int dk__adapter_status_code(const char *err);

#endif
