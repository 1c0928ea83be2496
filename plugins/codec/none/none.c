/*
 * none.c - the "none" block codec (id 0): stores bytes as they are. It is
 * the reference implementation of dk_codec_ops (codec.h) and lets an
 * engine treat "codec = none" like any other codec name; engines store
 * id-0 data uncompressed and read it back without asking for this plugin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/codec.h"
#include "dynkv/plugin.h"

static int none_open(const dk_host *host, const dk_codec_conf *conf, dk_codec **out)
{
    *out = NULL;
    dk_codec *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->host = host;
    *out = c;
    return 0;
}

static void none_close(dk_codec *c)
{
    free(c);
}

static size_t none_bound(dk_codec *c, size_t n)
{
    return n;
}

static int none_compress(dk_codec *c, const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len)
{
    if (n > cap)
        return DK_ETOOBIG;
    if (n)
        memcpy(dst, src, n);
    *out_len = n;
    return 0;
}

static int none_decompress(dk_codec *c, const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                           size_t *out_len)
{
    if (dst)
        return none_compress(c, src, n, dst, cap, out_len);
    *out_len = n;
    return 0;
}

static const dk_codec_ops none_ops = {
    .struct_size = sizeof(dk_codec_ops),
    .id = DK_CODEC_ID_NONE,
    .open = none_open,
    .close = none_close,
    .bound = none_bound,
    .compress = none_compress,
    .decompress = none_decompress,
};

static const dk_plugin none_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CODEC,
    .name = "none",
    .version = "1.0.0",
    .ops = &none_ops,
};

DK_PLUGIN_EXPORT(&none_plugin)
