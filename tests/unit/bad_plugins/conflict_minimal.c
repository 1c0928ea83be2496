/*
 * conflict_minimal.c - the smallest valid conflict resolver plugin
 * (conflict-minimal.so): it only has to load.
 */
#include "dynkv/conflict.h"
#include "dynkv/plugin.h"

static int rm_open(const dk_host *host, const dk_conflict_conf *conf, dk_resolver **out)
{
    *out = NULL;
    return DK_EUNSUPPORTED;
}
static void rm_close(dk_resolver *r) {}
static int rm_update(dk_resolver *r, const dk_object *stored, const dk_write *w, dk_object *out)
{
    return DK_EUNSUPPORTED;
}
static int rm_merge(dk_resolver *r, const dk_object *a, const dk_object *b, dk_object *out)
{
    return DK_EUNSUPPORTED;
}

static const dk_conflict_ops rm_ops = {
    .struct_size = sizeof(dk_conflict_ops),
    .open = rm_open,
    .close = rm_close,
    .update = rm_update,
    .merge = rm_merge,
};

static const dk_plugin rm_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_CONFLICT,
    .name = "minimal",
    .version = "0.0.1-test",
    .ops = &rm_ops,
};

DK_PLUGIN_EXPORT(&rm_plugin)
