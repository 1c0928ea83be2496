/*
 * lz4.c - the "lz4" block codec (id 2) over liblz4. An lz4 block does not
 * record its original length, so the codec writes it first:
 *
 *   u32 original length (little-endian) | LZ4 block
 *
 * Level 1 (the default) is LZ4's fast compressor; 2..12 use LZ4HC at that
 * level (smaller output, much slower to write, as fast to read). Both
 * functions keep their state on the stack or allocate it per call (LZ4HC),
 * so the codec object holds only its level and is thread-safe as is.
 * Decompression uses LZ4_decompress_safe, which never reads or writes out
 * of bounds whatever the input.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <lz4.h>
#include <lz4hc.h>

#include "dynkv/codec.h"
#include "dynkv/plugin.h"

#define L4_HDR 4u

typedef struct l4_codec {
    dk_codec base; /* first: the host sees a dk_codec */
    int level;
} l4_codec;

static int l4_open(const dk_host *host, const dk_codec_conf *conf, dk_codec **out)
{
    *out = NULL;
    int level = DK_HAS(conf, level) ? conf->level : 1;
    if (level < 1 || level > LZ4HC_CLEVEL_MAX) {
        host->log(host, DK_LOG_ERROR, "lz4: level %d: expected 1..%d (0 = 1)", level, LZ4HC_CLEVEL_MAX);
        return DK_ECONFIG;
    }
    l4_codec *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->base.host = host;
    c->level = level;
    *out = &c->base;
    return 0;
}

static void l4_close(dk_codec *c)
{
    free(c);
}

static size_t l4_bound(dk_codec *c, size_t n)
{
    return n > LZ4_MAX_INPUT_SIZE ? 0 : L4_HDR + (size_t)LZ4_compressBound((int)n);
}

static int l4_compress(dk_codec *base, const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                       size_t *out_len)
{
    l4_codec *c = (l4_codec *)base;
    if (n > LZ4_MAX_INPUT_SIZE)
        return DK_ETOOBIG;
    if (cap < L4_HDR)
        return DK_ETOOBIG;
    size_t room = cap - L4_HDR > INT_MAX ? INT_MAX : cap - L4_HDR;
    int r = c->level == 1
                ? LZ4_compress_default((const char *)src, (char *)dst + L4_HDR, (int)n, (int)room)
                : LZ4_compress_HC((const char *)src, (char *)dst + L4_HDR, (int)n, (int)room, c->level);
    if (r <= 0 && n > 0)
        return DK_ETOOBIG;
    dst[0] = (uint8_t)n;
    dst[1] = (uint8_t)(n >> 8);
    dst[2] = (uint8_t)(n >> 16);
    dst[3] = (uint8_t)(n >> 24);
    *out_len = L4_HDR + (size_t)(r > 0 ? r : 0);
    return 0;
}

static int l4_decompress(dk_codec *base, const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                         size_t *out_len)
{
    if (n < L4_HDR || n - L4_HDR > INT_MAX)
        return DK_ECORRUPT;
    size_t size = (size_t)src[0] | (size_t)src[1] << 8 | (size_t)src[2] << 16 | (size_t)src[3] << 24;
    if (size > LZ4_MAX_INPUT_SIZE)
        return DK_ECORRUPT;
    if (!dst) {
        *out_len = size;
        return 0;
    }
    if (size > cap)
        return DK_ETOOBIG;
    int r = LZ4_decompress_safe((const char *)src + L4_HDR, (char *)dst, (int)(n - L4_HDR), (int)size);
    if (r < 0 || (size_t)r != size)
        return DK_ECORRUPT;
    *out_len = size;
    return 0;
}

static const dk_codec_ops l4_ops = {
    .struct_size = sizeof(dk_codec_ops),
    .id = DK_CODEC_ID_LZ4,
    .level_min = 1,
    .level_max = LZ4HC_CLEVEL_MAX,
    .level_default = 1,
    .open = l4_open,
    .close = l4_close,
    .bound = l4_bound,
    .compress = l4_compress,
    .decompress = l4_decompress,
};

static const dk_plugin l4_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CODEC,
    .name = "lz4",
    .version = "1.0.0",
    .ops = &l4_ops,
};

DK_PLUGIN_EXPORT(&l4_plugin)
