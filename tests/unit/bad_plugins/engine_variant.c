/*
 * engine_variant.c - test-only engine plugins for test-plugin-host, one per
 * way a descriptor or ops table can be wrong, plus a good minimal one. The
 * same file is built once per variant with -DDK_VARIANT_<X> (see
 * framework/plugin_host.mk); each build is the module engine-<name>.so.
 * No method does anything: the loader must refuse the bad ones before it
 * calls any of them, and the minimal one is only loaded, never opened.
 */
#include <stddef.h>
#include "dynkv/engine.h"
#include "dynkv/plugin.h"

#define V_MAGIC DK_PLUGIN_MAGIC
#define V_MAJOR DK_ABI_MAJOR
#define V_MINOR DK_ABI_MINOR
#define V_KIND DK_PLUGIN_ENGINE
#define V_SIZE sizeof(dk_engine_ops)
#define V_OPS (&v_ops)
#define V_DESC (&v_plugin)
#define V_ITER_NEXT v_iter_next

#if defined(DK_VARIANT_BADMAGIC)
#define V_NAME "badmagic"
#undef V_MAGIC
#define V_MAGIC 0x12345678u
#elif defined(DK_VARIANT_BADMAJOR)
#define V_NAME "badmajor"
#undef V_MAJOR
#define V_MAJOR (DK_ABI_MAJOR + 1)
#elif defined(DK_VARIANT_BADMINOR)
#define V_NAME "badminor"
#undef V_MINOR
#define V_MINOR (DK_ABI_MINOR + 1)
#elif defined(DK_VARIANT_WRONGKIND)
#define V_NAME "wrongkind"
#undef V_KIND
#define V_KIND DK_PLUGIN_COMPACTION
#elif defined(DK_VARIANT_BADNAME)
#define V_NAME "someotherengine"
#elif defined(DK_VARIANT_NULLDESC)
#define V_NAME "nulldesc"
#undef V_DESC
#define V_DESC NULL
#elif defined(DK_VARIANT_NULLOPS)
#define V_NAME "nullops"
#undef V_OPS
#define V_OPS NULL
#elif defined(DK_VARIANT_SHORTOPS)
#define V_NAME "shortops"
#undef V_SIZE
#define V_SIZE offsetof(dk_engine_ops, iter_next) /* ends before a required method */
#elif defined(DK_VARIANT_NULLMETHOD)
#define V_NAME "nullmethod"
#undef V_ITER_NEXT
#define V_ITER_NEXT NULL
#elif defined(DK_VARIANT_MINIMAL)
#define V_NAME "minimal"
#undef V_SIZE
#define V_SIZE offsetof(dk_engine_ops, flush) /* ends after iter_close */
#else
#error "build with one -DDK_VARIANT_<X>"
#endif

static int v_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    return DK_EUNSUPPORTED;
}
static int v_close(dk_engine *e)
{
    return DK_EUNSUPPORTED;
}
static int v_get(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg)
{
    return DK_EUNSUPPORTED;
}
static int v_write(dk_engine *e, const dk_batch *b, int sync)
{
    return DK_EUNSUPPORTED;
}
static int v_iter_open(dk_engine *e, const dk_iter_opts *o, dk_engine_iter **out)
{
    return DK_EUNSUPPORTED;
}
static int v_iter_seek(dk_engine_iter *it, dk_slice t)
{
    return DK_EUNSUPPORTED;
}
/* Variants that replace a table, descriptor or method leave these unused. */
#define V_MAYBE_UNUSED __attribute__((unused))

static V_MAYBE_UNUSED int v_iter_next(dk_engine_iter *it, dk_slice *k, dk_slice *v)
{
    return DK_EUNSUPPORTED;
}
static void v_iter_close(dk_engine_iter *it) {}
static int v_flush(dk_engine *e)
{
    return DK_EUNSUPPORTED;
}
static int v_stats(dk_engine *e, dk_stat_sink sink, void *arg)
{
    return DK_EUNSUPPORTED;
}

/* flush and stats are set in every variant: for "minimal" they lie past
 * struct_size, and the host's copy must read them as NULL. */
static V_MAYBE_UNUSED const dk_engine_ops v_ops = {
    .struct_size = (uint32_t)(V_SIZE),
    .caps = DK_ENGINE_CAP_ORDERED,
    .open = v_open,
    .close = v_close,
    .get = v_get,
    .write = v_write,
    .iter_open = v_iter_open,
    .iter_seek = v_iter_seek,
    .iter_next = V_ITER_NEXT,
    .iter_close = v_iter_close,
    .flush = v_flush,
    .stats = v_stats,
};

static V_MAYBE_UNUSED const dk_plugin v_plugin = {
    .magic = V_MAGIC,
    .abi_major = V_MAJOR,
    .abi_minor = V_MINOR,
    .kind = V_KIND,
    .name = V_NAME,
    .version = "0.0.1-test",
    .ops = V_OPS,
};

DK_PLUGIN_EXPORT(V_DESC)
