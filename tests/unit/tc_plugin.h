/*
 * tc_plugin.h - the unit tests' plugin loader. tc_plugin_find dlopens
 * <kind>-<name>.so from $DYNKV_PLUGIN_PATH and checks its descriptor as
 * the host does (magic, ABI, kind, name): the tests that drive a plugin
 * through its ops table without the framework's loader use it
 * (test-crdt.c, test-resolvers.c, and the compaction tests below). It is
 * header-only so that a test needs no fake host to link it.
 *
 * The compaction policy tests (test-compaction.c, test-compaction-sim.c)
 * also open each policy against one fake host (fake_host.h) shared by the
 * program's suites (tc_plugin.c).
 */
#ifndef DK_TEST_TC_PLUGIN_H
#define DK_TEST_TC_PLUGIN_H
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"
#include "fake_host.h"

/* dlopen <kind>-<name>.so (kind as dk_plugin_kind names it) from
 * $DYNKV_PLUGIN_PATH (unset: .libs) and check its descriptor. Returns the
 * plugin's ops table with the handle in *dl; NULL after saying why on
 * stderr, with nothing left open. */
static inline const void *tc_plugin_find(uint32_t kind, const char *name, void **dl)
{
    static const char *const kinds[] = {[DK_PLUGIN_ENGINE] = "engine",
                                        [DK_PLUGIN_COMPACTION] = "compaction",
                                        [DK_PLUGIN_CONFLICT] = "conflict",
                                        [DK_PLUGIN_CODEC] = "codec"};
    const char *dir = getenv("DYNKV_PLUGIN_PATH");
    char path[4096];
    *dl = NULL;
    if (kind >= sizeof kinds / sizeof kinds[0] || !kinds[kind])
        return NULL;
    snprintf(path, sizeof(path), "%s/%s-%s.so", dir ? dir : ".libs", kinds[kind], name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return NULL;
    }
    dk_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, DK_PLUGIN_ENTRY_SYMBOL);
    const dk_plugin *d = entry ? entry() : NULL;
    if (!d || d->magic != DK_PLUGIN_MAGIC || d->abi_major != DK_ABI_MAJOR || d->abi_minor > DK_ABI_MINOR ||
        d->kind != kind || !d->name || strcmp(d->name, name) != 0 || !d->ops) {
        fprintf(stderr, "%s: not a %s plugin named '%s' for ABI %d.%d\n", path, kinds[kind], name,
                DK_ABI_MAJOR, DK_ABI_MINOR);
        dlclose(h);
        return NULL;
    }
    *dl = h;
    return d->ops;
}

#define MiB (1ull << 20)
#define HOUR_MS (3600ll * 1000)

/* A loaded policy plugin. */
typedef struct tc_plugin {
    void *dl;
    const dk_compaction_ops *ops;
} tc_plugin;

/* The fake host policies are opened with; live between tc_plugin_setup
 * and tc_plugin_teardown. */
extern dk_fake_host tc_plugin_host;

/* dlopen compaction-<name>.so and check its descriptor (magic, ABI, kind,
 * name). Returns 0, or -1 after saying why on stderr (pl->dl is then
 * closed). */
int tc_plugin_load(const char *name, tc_plugin *pl);

/* Load the named policy and open it against tc_plugin_host with the
 * options opts ("key", "value", ..., NULL; NULL = all defaults), as if
 * they were in its INI section; NULL on failure (said on stderr). */
dk_compaction_policy *tc_plugin_open(const char *name, const char *const *opts, tc_plugin *pl);

/* Close p (may be NULL) and unload pl. */
void tc_plugin_close(tc_plugin *pl, dk_compaction_policy *p);

/* CUnit suite init/cleanup: set up and release tc_plugin_host. */
int tc_plugin_setup(void);
int tc_plugin_teardown(void);

#endif
