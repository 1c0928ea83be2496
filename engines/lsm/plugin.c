/*
 * plugin.c - the LSM engine's plugin descriptor, the only symbol the
 * module exports. Kept apart from lsm.c so the unit tests, which link the
 * engine's convenience library, do not carry a second entry point.
 */
#include "dynkv/plugin.h"
#include "lsm.h"

static const dk_plugin lsm_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_ENGINE,
    .name = "lsm",
    .version = "0.1.0",
    .ops = &dk__lsm_engine_ops,
};

DK_PLUGIN_EXPORT(&lsm_plugin)
