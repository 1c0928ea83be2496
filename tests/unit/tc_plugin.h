/*
 * tc_plugin.h - loading the compaction policy plugins for their unit tests
 * (test-compaction.c, test-compaction-sim.c): each policy is dlopen'ed
 * from $DYNKV_PLUGIN_PATH exactly as the host loads it and opened against
 * one fake host (fake_host.h) shared by the program's suites.
 */
#ifndef DK_TEST_TC_PLUGIN_H
#define DK_TEST_TC_PLUGIN_H

#include "dynkv/compaction.h"
#include "fake_host.h"

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
