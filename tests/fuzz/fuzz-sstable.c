/*
 * fuzz-sstable.c - libFuzzer target for the SSTable reader: the input is
 * parsed as a bare block (block iterator: first, seek, a full scan) and
 * written as a table file that is opened, scanned and probed with point
 * reads. Every path must end in a result or DK_ECORRUPT, never a crash or
 * an out-of-bounds read. Compressed blocks go through the zstd codec
 * plugin's source compiled into the target (plugins/codec/zstd/zstd.c),
 * which a small host hands to the table's codec registry; a table naming
 * any other codec fails to open, as with a missing plugin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/plugin.h"
#include "engines/lsm/env_fault.h"
#include "engines/lsm/table.h"
#include "util/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const dk_plugin *dynkv_plugin_entry(void); /* the zstd codec, compiled in */

static void fz_log(const dk_host *h, int level, const char *fmt, ...) {}
static const char *fz_strerror(const dk_host *h, int err)
{
    return dk_strerror(err);
}

static int fz_codec_open(const dk_host *h, const char *name, int level, dk_codec_ref *out)
{
    memset(out, 0, sizeof(*out));
    const dk_plugin *p = dynkv_plugin_entry();
    if (strcmp(name, p->name) != 0)
        return -ENOENT;
    const dk_codec_ops *ops = p->ops;
    dk_codec_conf conf = {.struct_size = sizeof(conf), .level = level};
    int rc = ops->open(h, &conf, &out->codec);
    if (rc)
        return rc;
    out->ops = ops;
    out->name = p->name;
    out->id = ops->id;
    return 0;
}

static void fz_codec_close(const dk_host *h, dk_codec_ref *ref)
{
    if (ref->codec)
        ref->ops->close(ref->codec);
}

static const dk_host fz_host = {
    .struct_size = sizeof(dk_host),
    .log = fz_log,
    .strerror = fz_strerror,
    .codec_open = fz_codec_open,
    .codec_close = fz_codec_close,
};

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
    lsm_codecs *codecs = NULL;
    if (env && cache && dk__lsm_codecs_new(&fz_host, &codecs) == 0 &&
        dk__lsm_env_write_atomic(env, "/d", "000007.sst", data, size) == 0) {
        lsm_table *t;
        if (dk__lsm_table_open(env, "/d/000007.sst", 7, cache, codecs, &fz_host, &t) == 0) {
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
    dk__lsm_codecs_free(codecs);
    dk__lsm_cache_free(cache);
    if (env)
        env->ops->destroy(env);
    return 0;
}
