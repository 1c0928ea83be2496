/*
 * codec_variant.c - test-only codec plugins the loader must refuse, one
 * per -DDK_VARIANT_<X> build (plugins/codec/local.mk): codec-oldabi.so
 * claims ABI 1.0, before codec plugins existed; codec-nodecompress.so
 * lacks a required method. Nothing here is ever called.
 */
#include <stddef.h>
#include "dynkv/codec.h"
#include "dynkv/plugin.h"

#if defined(DK_VARIANT_OLDABI)
#define V_NAME "oldabi"
#define V_MINOR 0
#define V_DECOMPRESS v_decompress
#elif defined(DK_VARIANT_NODECOMPRESS)
#define V_NAME "nodecompress"
#define V_MINOR DK_ABI_MINOR
#define V_DECOMPRESS NULL
#else
#error "build with one -DDK_VARIANT_<X>"
#endif

static int v_open(const dk_host *h, const dk_codec_conf *c, dk_codec **out)
{
    *out = NULL;
    return DK_EUNSUPPORTED;
}
static void v_close(dk_codec *c) {}
static size_t v_bound(dk_codec *c, size_t n)
{
    return n;
}
static int v_compress(dk_codec *c, const uint8_t *s, size_t n, uint8_t *d, size_t cap, size_t *o)
{
    return DK_EUNSUPPORTED;
}
static __attribute__((unused)) int v_decompress(dk_codec *c, const uint8_t *s, size_t n, uint8_t *d,
                                                size_t cap, size_t *o)
{
    return DK_EUNSUPPORTED;
}

static const dk_codec_ops v_ops = {
    .struct_size = sizeof(dk_codec_ops),
    .id = 200,
    .open = v_open,
    .close = v_close,
    .bound = v_bound,
    .compress = v_compress,
    .decompress = V_DECOMPRESS,
};

static const dk_plugin v_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = V_MINOR,
    .kind = DK_PLUGIN_CODEC,
    .name = V_NAME,
    .version = "0.0.1-test",
    .ops = &v_ops,
};

DK_PLUGIN_EXPORT(&v_plugin)
