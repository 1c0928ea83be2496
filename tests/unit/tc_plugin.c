/*
 * tc_plugin.c - the compaction tests' plugin loader (tc_plugin.h). A
 * small copy of the host's checks rather than the framework's loader, so
 * that the policy tests link no framework library, as the plugins do not.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/plugin.h"
#include "tc_plugin.h"

dk_fake_host tc_plugin_host;

int tc_plugin_load(const char *name, tc_plugin *pl)
{
    const char *dir = getenv("DYNKV_PLUGIN_PATH");
    char path[4096];
    snprintf(path, sizeof(path), "%s/compaction-%s.so", dir ? dir : ".libs", name);
    pl->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!pl->dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    dk_plugin_entry_fn entry = (dk_plugin_entry_fn)dlsym(pl->dl, DK_PLUGIN_ENTRY_SYMBOL);
    const dk_plugin *d = entry ? entry() : NULL;
    if (!d || d->magic != DK_PLUGIN_MAGIC || d->abi_major != DK_ABI_MAJOR ||
        d->kind != DK_PLUGIN_COMPACTION || strcmp(d->name, name) != 0) {
        dlclose(pl->dl);
        return -1;
    }
    pl->ops = d->ops;
    return 0;
}

dk_compaction_policy *tc_plugin_open(const char *name, const char *const *opts, tc_plugin *pl)
{
    if (tc_plugin_load(name, pl) != 0)
        return NULL;
    dk_fake_host_reset(&tc_plugin_host);
    for (size_t i = 0; opts && opts[i]; i += 2)
        if (dk_fake_host_set_option(&tc_plugin_host, opts[i], opts[i + 1]) != 0) {
            dlclose(pl->dl);
            return NULL;
        }
    dk_compaction_conf conf = {.struct_size = sizeof(conf)};
    dk_compaction_policy *p = NULL;
    if (pl->ops->open(&tc_plugin_host.host, &conf, &p) != 0) {
        fprintf(stderr, "open %s: %s\n", name, dk_fake_host_conf_error(&tc_plugin_host));
        dlclose(pl->dl);
        return NULL;
    }
    return p;
}

void tc_plugin_close(tc_plugin *pl, dk_compaction_policy *p)
{
    if (p)
        pl->ops->close(p);
    if (pl->dl)
        dlclose(pl->dl);
}

int tc_plugin_setup(void)
{
    dk_fake_host_init(&tc_plugin_host);
    return 0;
}

int tc_plugin_teardown(void)
{
    dk_fake_host_destroy(&tc_plugin_host);
    return 0;
}
