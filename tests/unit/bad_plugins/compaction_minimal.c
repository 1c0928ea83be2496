/*
 * compaction_minimal.c - the smallest valid compaction plugin
 * (compaction-minimal.so): it only has to load.
 */
#include "dynkv/compaction.h"
#include "dynkv/plugin.h"

static int cm_open(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out)
{
    *out = NULL;
    return DK_EUNSUPPORTED;
}
static void cm_close(dk_compaction_policy *p) {}
static int cm_pick(dk_compaction_policy *p, const dk_run_view *v, dk_compaction_job *job)
{
    return DK_ENOTFOUND;
}

static const dk_compaction_ops cm_ops = {
    .struct_size = sizeof(dk_compaction_ops),
    .open = cm_open,
    .close = cm_close,
    .pick = cm_pick,
};

static const dk_plugin cm_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_COMPACTION,
    .name = "minimal",
    .version = "0.0.1-test",
    .ops = &cm_ops,
};

DK_PLUGIN_EXPORT(&cm_plugin)
