/*
 * tc_plugin.c - the compaction tests' policies opened against a shared
 * fake host (tc_plugin.h). Loaded with tc_plugin_find, a small copy of
 * the host's checks rather than the framework's loader, so that the
 * policy tests link no framework library, as the plugins do not.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "tc_plugin.h"

dk_fake_host tc_plugin_host;

int tc_plugin_load(const char *name, tc_plugin *pl)
{
    pl->ops = tc_plugin_find(DK_PLUGIN_COMPACTION, name, &pl->dl);
    return pl->ops ? 0 : -1;
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
