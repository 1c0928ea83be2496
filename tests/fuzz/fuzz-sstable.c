/*
 * fuzz-sstable.c - libFuzzer target for the SSTable reader: the input is
 * parsed as a bare block (block iterator: first, seek, a full scan) and
 * written as a table file that is opened, scanned and probed with point
 * reads. Every path must end in a result or DK_ECORRUPT, never a crash or
 * an out-of-bounds read.
 */
#include <stdlib.h>
#include <string.h>

#include "engines/lsm/env_fault.h"
#include "engines/lsm/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_scan(lsm_iter *it, dk_slice target)
{
    size_t n = 0;
    for (it->ops->first(it); it->ops->valid(it) && n < 100000; it->ops->next(it), n++) {
        dk_slice k = it->ops->key(it), v = it->ops->value(it);
        if (k.len < LSM_TRAILER || (v.len && !v.ptr))
            abort();
    }
    it->ops->seek(it, target);
    if (it->ops->valid(it))
        (void)it->ops->value(it);
    (void)it->ops->status(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t tk[LSM_TRAILER + 8];
    dk_slice ukey = {data, size < 8 ? size : 8};
    dk_slice target = lsm_ikey_lookup(tk, ukey, LSM_SEQ_MAX);

    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    lsm_iter *bi = dk__lsm_block_iter(copy, size, free, copy);
    if (bi) {
        fz_scan(bi, target);
        bi->ops->destroy(bi);
    }

    lsm_env *env = dk__lsm_env_fault(1);
    lsm_cache *cache = dk__lsm_cache_new(1 << 20);
    if (env && cache && dk__lsm_env_write_atomic(env, "/d", "000007.sst", data, size) == 0) {
        lsm_table *t;
        if (dk__lsm_table_open(env, "/d/000007.sst", 7, cache, NULL, &t) == 0) {
            lsm_iter *it = dk__lsm_table_iter(t);
            if (it) {
                fz_scan(it, target);
                it->ops->destroy(it);
            }
            dk_buf v = DK_BUF_INIT;
            int type;
            uint64_t seq;
            (void)dk__lsm_table_get(t, ukey, LSM_SEQ_MAX, &v, &type, &seq);
            dk_buf_free(&v);
            dk__lsm_table_close(t);
        }
    }
    dk__lsm_cache_free(cache);
    if (env)
        env->ops->destroy(env);
    return 0;
}
