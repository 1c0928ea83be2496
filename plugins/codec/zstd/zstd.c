/*
 * zstd.c - the "zstd" block codec (id 1) over libzstd: one zstd frame per
 * buffer, with the content size in its header (ZSTD_compressCCtx writes
 * it), so decompress() can size its output without anything else. Level:
 * zstd's own, -5..22 (negative: faster); 0 means 1, which the LSM engine
 * used before codecs were plugins, so existing tables and benchmarks keep
 * their shape.
 *
 * Thread safety: engines compress on flush and compaction threads and
 * decompress on every reader. A zstd context must not be shared, and
 * creating one per call (what ZSTD_compress does) costs an allocation of
 * about a megabyte at level 1; so the codec keeps a small free list of
 * compression and decompression contexts under a mutex, taking one per
 * call and giving it back. The list grows to the number of threads that
 * ever ran at once, and is freed at close.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "dynkv/codec.h"
#include "dynkv/plugin.h"

#define ZS_DEFAULT_LEVEL 1

typedef struct zs_ctx {
    struct zs_ctx *next;
    void *z; /* ZSTD_CCtx or ZSTD_DCtx */
} zs_ctx;

typedef struct zs_codec {
    dk_codec base; /* first: the host sees a dk_codec */
    int level;
    pthread_mutex_t mu;
    zs_ctx *cfree, *dfree; /* idle contexts */
} zs_codec;

static int zs_open(const dk_host *host, const dk_codec_conf *conf, dk_codec **out)
{
    *out = NULL;
    int level = DK_HAS(conf, level) ? conf->level : ZS_DEFAULT_LEVEL;
    if (level < -5 || level > 22) {
        host->log(host, DK_LOG_ERROR, "zstd: level %d: expected -5..22 (0 = %d)", level, ZS_DEFAULT_LEVEL);
        return DK_ECONFIG;
    }
    zs_codec *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->base.host = host;
    c->level = level;
    pthread_mutex_init(&c->mu, NULL);
    *out = &c->base;
    return 0;
}

static void zs_close(dk_codec *base)
{
    zs_codec *c = (zs_codec *)base;
    for (zs_ctx *x = c->cfree, *next; x; x = next) {
        next = x->next;
        ZSTD_freeCCtx(x->z);
        free(x);
    }
    for (zs_ctx *x = c->dfree, *next; x; x = next) {
        next = x->next;
        ZSTD_freeDCtx(x->z);
        free(x);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Take an idle context from *list, or make one; NULL on ENOMEM. */
static zs_ctx *zs_take(zs_codec *c, zs_ctx **list, int compress)
{
    pthread_mutex_lock(&c->mu);
    zs_ctx *x = *list;
    if (x)
        *list = x->next;
    pthread_mutex_unlock(&c->mu);
    if (x)
        return x;
    if (!(x = malloc(sizeof(*x))))
        return NULL;
    x->z = compress ? (void *)ZSTD_createCCtx() : (void *)ZSTD_createDCtx();
    if (!x->z) {
        free(x);
        return NULL;
    }
    return x;
}

static void zs_give(zs_codec *c, zs_ctx **list, zs_ctx *x)
{
    pthread_mutex_lock(&c->mu);
    x->next = *list;
    *list = x;
    pthread_mutex_unlock(&c->mu);
}

static size_t zs_bound(dk_codec *base, size_t n)
{
    return ZSTD_compressBound(n);
}

static int zs_compress(dk_codec *base, const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                       size_t *out_len)
{
    zs_codec *c = (zs_codec *)base;
    zs_ctx *x = zs_take(c, &c->cfree, 1);
    if (!x)
        return -ENOMEM;
    size_t r = ZSTD_compressCCtx(x->z, dst, cap, src, n, c->level);
    zs_give(c, &c->cfree, x);
    if (ZSTD_isError(r))
        return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? DK_ETOOBIG : -EINVAL;
    *out_len = r;
    return 0;
}

static int zs_decompress(dk_codec *base, const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                         size_t *out_len)
{
    zs_codec *c = (zs_codec *)base;
    unsigned long long size = ZSTD_getFrameContentSize(src, n);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > SIZE_MAX)
        return DK_ECORRUPT;
    if (!dst) {
        *out_len = (size_t)size;
        return 0;
    }
    if (size > cap)
        return DK_ETOOBIG;
    zs_ctx *x = zs_take(c, &c->dfree, 0);
    if (!x)
        return -ENOMEM;
    size_t r = ZSTD_decompressDCtx(x->z, dst, cap, src, n);
    zs_give(c, &c->dfree, x);
    if (ZSTD_isError(r) || r != size)
        return DK_ECORRUPT;
    *out_len = r;
    return 0;
}

static const dk_codec_ops zs_ops = {
    .struct_size = sizeof(dk_codec_ops),
    .id = DK_CODEC_ID_ZSTD,
    .level_min = -5,
    .level_max = 22,
    .level_default = ZS_DEFAULT_LEVEL,
    .open = zs_open,
    .close = zs_close,
    .bound = zs_bound,
    .compress = zs_compress,
    .decompress = zs_decompress,
};

static const dk_plugin zs_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CODEC,
    .name = "zstd",
    .version = "1.0.0",
    .ops = &zs_ops,
};

DK_PLUGIN_EXPORT(&zs_plugin)
