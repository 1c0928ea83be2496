/*
 * dynkv-engine-check.c - the engine conformance runner, installed for
 * vendors: `dynkv-engine-check PLUGIN.so` loads an engine plugin the way
 * dynkvd does (the plugin host's checks, then the node's own dk_host) and
 * runs what every dk_engine_ops implementation must do: get/put/delete,
 * binary keys and empty and 1 MiB values, atomic batches, ordered iterators
 * with bounds and seeks, snapshot iterators, reopening on the same folder,
 * four threads writing and reading at once, the optional methods and
 * checkpoints (ec_checks.c; the harness is ec_harness.c, shared in ec.h).
 * Behaviour the engine's caps do not promise is skipped with a line saying
 * why (no DURABLE: reopen may lose data; no SNAPSHOT; no THREADSAFE; no
 * ORDERED). Every engine folder is made under one mkdtemp folder, removed
 * at the end unless --keep.
 *
 * Output: one "ok - NAME" or "not ok - NAME" line per check group, the
 * failed assertions with file:line before it, and the closing line
 * "# dk-summary: P passed, F failed" that dynkv's test harness adds up;
 * exit 0 when everything passed, 1 when something failed, 2 on bad usage
 * or a plugin that does not load. In the build tree the unit tests run it
 * on every engine (tests/unit/engine-<name>.test).
 *
 * It links the framework (for the host and the loader) but not CUnit, so
 * the installed binary needs nothing a node does not: its assertions are
 * the few macros below. A failed assertion counts against its group and
 * the group goes on, except the *_FATAL ones, which end the group (from
 * the thread running the groups; worker threads only count).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ec.h"
#include "util/errors.h"

#ifndef DK_VERSION
#define DK_VERSION "unknown"
#endif

static void te_usage(FILE *f)
{
    fprintf(f, "Usage: dynkv-engine-check [--plugin-dir DIR] [--set KEY=VALUE]... [--keep] PLUGIN\n"
               "Run the dynkv engine conformance checks against an engine plugin.\n"
               "\n"
               "  PLUGIN              the plugin file (DIR/engine-NAME.so), or NAME to load\n"
               "                      engine-NAME.so from the plugin folder\n"
               "  --plugin-dir DIR    the plugin folder for NAME and for the codec plugins the\n"
               "                      engine asks for (default: the installed plugin folder,\n"
               "                      or $DYNKV_PLUGIN_PATH)\n"
               "  --set KEY=VALUE     an option of the engine's own section, as\n"
               "                      [engine.NAME] KEY = VALUE would give it (repeatable)\n"
               "  --keep              keep the engines' folders (printed) for inspection\n"
               "  -h, --help          this text;  -V, --version  the version\n"
               "\n"
               "Exit status: 0 every check passed, 1 a check failed, 2 bad usage or a\n"
               "plugin that does not load.\n");
}

int main(int argc, char **argv)
{
    const char *plugin = NULL, *dir_opt = NULL, *sets[64];
    int n_sets = 0;
    volatile int keep = 0; /* read after the groups' setjmp */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            te_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("dynkv-engine-check (dynkv) %s, plugin ABI %d.%d\n", DK_VERSION, DK_ABI_MAJOR,
                   DK_ABI_MINOR);
            return 0;
        } else if (!strcmp(a, "--plugin-dir") && i + 1 < argc) {
            dir_opt = argv[++i];
        } else if (!strcmp(a, "--set") && i + 1 < argc && n_sets < 64) {
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(a, "--keep")) {
            keep = 1;
        } else if (a[0] == '-' || plugin) {
            te_usage(stderr);
            return 2;
        } else {
            plugin = a;
        }
    }
    if (!plugin) {
        te_usage(stderr);
        return 2;
    }

    /* PLUGIN is a file .../engine-NAME.so, or a NAME in the plugin folder. */
    char dir[PATH_MAX], name[128], err[1024];
    const char *slash = strrchr(plugin, '/'), *base = slash ? slash + 1 : plugin;
    size_t bl = strlen(base);
    if (slash || (bl > 3 && !strcmp(base + bl - 3, ".so"))) {
        if (strncmp(base, "engine-", 7) != 0 || bl <= 10 || strcmp(base + bl - 3, ".so") != 0) {
            fprintf(stderr, "dynkv-engine-check: %s: expected a file named engine-NAME.so\n", plugin);
            return 2;
        }
        snprintf(name, sizeof name, "%.*s", (int)(bl - 10), base + 7);
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - plugin) ? (int)(slash - plugin) : 1, plugin);
    } else {
        snprintf(name, sizeof name, "%s", plugin);
        dir[0] = '\0';
    }
    char codec_dir[PATH_MAX];
    if (dir_opt)
        snprintf(codec_dir, sizeof codec_dir, "%s", dir_opt);
    else if (dk_plugin_default_dir(codec_dir, sizeof codec_dir) != 0) {
        fprintf(stderr, "dynkv-engine-check: cannot work out the plugin folder; use --plugin-dir\n");
        return 2;
    }
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s", codec_dir);
    const dk_loaded_plugin *p = NULL;
    if (dk_plugin_host_new(dir, &te_ph, err, sizeof err) != 0 ||
        dk_plugin_load(te_ph, DK_PLUGIN_ENGINE, name, &p, err, sizeof err) != 0) {
        fprintf(stderr, "dynkv-engine-check: %s\n", err);
        dk_plugin_host_free(te_ph);
        return 2;
    }
    if (dk_plugin_host_new(codec_dir, &te_codecs, err, sizeof err) != 0)
        te_codecs = NULL; /* an engine that asks for a codec is then told none is installed */
    te_ops = p->ops;
    te_name = p->name;

    dk_config_defaults(&te_cfg);
    char section[DK_CONFIG_SECTION_MAX + 1];
    snprintf(section, sizeof section, "engine.%.64s", name);
    for (int i = 0; i < n_sets; i++) {
        char kv[512], *eq;
        snprintf(kv, sizeof kv, "%s", sets[i]);
        if (!(eq = strchr(kv, '=')) || eq == kv) {
            fprintf(stderr, "dynkv-engine-check: --set %s: expected KEY=VALUE\n", sets[i]);
            return 2;
        }
        *eq = '\0';
        if (dk_config_set(&te_cfg, section, kv, eq + 1, err, sizeof err) != 0) {
            fprintf(stderr, "dynkv-engine-check: --set %s: %s\n", sets[i], err);
            return 2;
        }
    }
    te_ctx = (dk_host_ctx){.gc_grace_ms = 10LL * 86400 * 1000, .log_prefix = "engine"};
    dk_host_ctx_set(&te_ctx, &te_cfg, "engine", name, te_codecs);
    dk_host_init(&te_host, &te_ctx);

    snprintf(te_root, sizeof te_root, "%s/dynkv-engine-check.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(te_root)) {
        fprintf(stderr, "dynkv-engine-check: mkdtemp %s: %s\n", te_root, strerror(errno));
        return 2;
    }
    printf("# engine %s %s (%s, sha256 %.16s), caps 0x%x, data under %s\n", p->name, p->version, p->path,
           p->sha256, (unsigned)te_ops->caps, te_root);
    fflush(stdout);

    ec_main = pthread_self();
    int passed = 0, failed = 0;
    for (size_t i = 0; i < te_n_groups; i++) {
        ec_failed = 0;
        if (setjmp(ec_jmp) == 0)
            te_groups[i].fn();
        else
            printf("#   (stopped at the first fatal failure)\n");
        if (ec_failed) {
            printf("not ok - %s\n", te_groups[i].name);
            failed++;
        } else {
            printf("ok - %s\n", te_groups[i].name);
            passed++;
        }
        fflush(stdout);
    }
    /* Options the engine never read are an error in dynkvd: say so here. */
    if (dk_host_ctx_check(&te_ctx, "engine plugin", err, sizeof err) != 0) {
        printf("not ok - options: %s\n", err);
        failed++;
    }
    if (keep)
        printf("# kept %s\n", te_root);
    else
        nftw(te_root, te_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("# dk-summary: %d passed, %d failed\n", passed, failed);
    dk_plugin_host_free(te_codecs);
    dk_plugin_host_free(te_ph);
    dk_config_free(&te_cfg);
    return failed ? 1 : 0;
}
