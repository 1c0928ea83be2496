/*
 * test-plugin-host.c - the plugin loader against good and broken plugins.
 *
 * The broken plugins (tests/unit/bad_plugins/) are check-only modules built
 * into the same .libs folder as the real ones; the test finds them through
 * DYNKV_PLUGIN_PATH (set by AM_TESTS_ENVIRONMENT). Every refusal is checked
 * for its code AND for the words of its message, since the message is what
 * an operator sees.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "dynkv/compaction.h"
#include "dynkv/conflict.h"
#include "dynkv/engine.h"
#include "dynkv/codec.h"
#include "node/host.h"
#include "util/vv.h"
#include "plugin/plugin_call.h"
#include "plugin/plugin_host.h"

/* ABI 1.1 kept ABI 1.0's layouts: the reserved slots replace fields of the
 * same size (tests/plugins/abi-1.0/legacy.c asserts the 1.0 side). */
_Static_assert(sizeof(dk_compaction_conf) == 64, "dk_compaction_conf keeps its 1.0 size");
_Static_assert(offsetof(dk_engine_conf, compaction) == 64 && sizeof(dk_engine_conf) == 80,
               "dk_engine_conf keeps its 1.0 layout");
_Static_assert(offsetof(dk_host, strerror) == 88, "dk_host's 1.0 fields end where they did");

static const char *ph_dir(void)
{
    const char *d = getenv("DYNKV_PLUGIN_PATH");
    return d && *d ? d : ".libs";
}

static dk_plugin_host *ph_new(void)
{
    dk_plugin_host *h = NULL;
    char err[512] = "";
    int rc = dk_plugin_host_new(ph_dir(), &h, err, sizeof(err));
    if (rc)
        fprintf(stderr, "dk_plugin_host_new: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return h;
}

/* Load kind/name expecting refusal with code want and every substring. */
static void ph_refused(uint32_t kind, const char *name, int want, const char *s1, const char *s2)
{
    dk_plugin_host *h = ph_new();
    const dk_loaded_plugin *p = (const dk_loaded_plugin *)1;
    char err[512] = "";
    int rc = dk_plugin_load(h, kind, name, &p, err, sizeof(err));
    fprintf(stderr, "load %s-%s: %d %s\n", dk_plugin_kind_name(kind), name, rc, err);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_PTR_NULL(p);
    if (s1)
        CU_ASSERT_PTR_NOT_NULL(strstr(err, s1));
    if (s2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err, s2));
    dk_plugin_host_free(h);
}

static void test_host_new(void)
{
    dk_plugin_host *h = (dk_plugin_host *)1;
    char err[512] = "";
    CU_ASSERT_EQUAL(dk_plugin_host_new("/nonexistent/dynkv-plugins", &h, err, sizeof(err)), -ENOENT);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dynkv-plugins"));
    CU_ASSERT_EQUAL(dk_plugin_host_new("/dev/null", &h, err, sizeof(err)), -ENOTDIR);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a directory"));
    CU_ASSERT_EQUAL(dk_plugin_host_new("", &h, err, sizeof(err)), -EINVAL);
}

static void test_kind_names(void)
{
    CU_ASSERT_STRING_EQUAL(dk_plugin_kind_name(DK_PLUGIN_ENGINE), "engine");
    CU_ASSERT_STRING_EQUAL(dk_plugin_kind_name(DK_PLUGIN_COMPACTION), "compaction");
    CU_ASSERT_STRING_EQUAL(dk_plugin_kind_name(DK_PLUGIN_CONFLICT), "conflict");
    CU_ASSERT_STRING_EQUAL(dk_plugin_kind_name(DK_PLUGIN_CODEC), "codec");
    CU_ASSERT_STRING_EQUAL(dk_plugin_kind_name(99), "unknown");
}

/* Names are checked before any file access: the host's folder is removed
 * before the loads, so a file lookup would answer ENOENT, not EINVAL. */
static void test_invalid_names(void)
{
    char dir[] = "/tmp/dk-ph-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    dk_plugin_host *h = NULL;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(dk_plugin_host_new(dir, &h, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
    const char *bad[] = {
        "../x", "a/b", "UPPER", "",
        "..",   "a.b", "x y",   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const dk_loaded_plugin *p = NULL;
        err[0] = '\0';
        CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_ENGINE, bad[i], &p, err, sizeof(err)), -EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid engine plugin name"));
        CU_ASSERT_PTR_NULL(p);
    }
    const dk_loaded_plugin *p = NULL;
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_ENGINE, NULL, &p, err, sizeof(err)), -EINVAL);
    /* A 64-character name is valid: now the missing folder shows. */
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_ENGINE,
                                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &p,
                                   err, sizeof(err)),
                    -ENOENT);
    CU_ASSERT_EQUAL(dk_plugin_load(h, 77, "memory", &p, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown plugin kind 77"));
    dk_plugin_host_free(h);
}

static void test_missing_file(void)
{
    ph_refused(DK_PLUGIN_ENGINE, "doesnotexist", -ENOENT, "engine-doesnotexist.so", "file missing");
    /* The memory engine is an engine: as a compaction policy it is absent. */
    ph_refused(DK_PLUGIN_COMPACTION, "memory", -ENOENT, "compaction-memory.so", "file missing");
}

/* Files that exist but are not shared objects. */
static void test_not_a_library(void)
{
    char dir[] = "/tmp/dk-ph-XXXXXX", path[PATH_MAX], err[512] = "";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/engine-garbage.so", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("this is not an ELF file\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/engine-folder.so", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    dk_plugin_host *h = NULL;
    const dk_loaded_plugin *p = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_plugin_host_new(dir, &h, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_ENGINE, "garbage", &p, err, sizeof(err)), DK_EBADPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "engine-garbage.so: dlopen failed: "));
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_ENGINE, "folder", &p, err, sizeof(err)), DK_EBADPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "engine-folder.so: not a regular file"));
    dk_plugin_host_free(h);
    CU_ASSERT_EQUAL(rmdir(path), 0);
    snprintf(path, sizeof(path), "%s/engine-garbage.so", dir);
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* Codecs are a kind like the others since ABI 1.1. */
static void test_codec_kind(void)
{
    ph_refused(DK_PLUGIN_CODEC, "doesnotexist", -ENOENT, "codec-doesnotexist.so", "file missing");
}

static void test_bad_descriptors(void)
{
    ph_refused(DK_PLUGIN_ENGINE, "nosym", DK_EBADPLUGIN, "engine-nosym.so",
               "missing symbol dynkv_plugin_entry");
    ph_refused(DK_PLUGIN_ENGINE, "nulldesc", DK_EBADPLUGIN, "engine-nulldesc.so", "returned NULL");
    ph_refused(DK_PLUGIN_ENGINE, "badmagic", DK_EBADPLUGIN, "engine-badmagic.so", "bad magic 0x12345678");
    ph_refused(DK_PLUGIN_ENGINE, "badmajor", DK_EABI, "engine-badmajor.so",
               "plugin built for ABI 2.5, host supports up to 1.5");
    ph_refused(DK_PLUGIN_ENGINE, "badminor", DK_EABI, "engine-badminor.so",
               "plugin built for ABI 1.6, host supports up to 1.5");
    ph_refused(DK_PLUGIN_ENGINE, "wrongkind", DK_EBADPLUGIN, "engine-wrongkind.so",
               "file is a compaction plugin, expected engine");
    ph_refused(DK_PLUGIN_ENGINE, "badname", DK_EBADPLUGIN, "engine-badname.so",
               "descriptor names the plugin 'someotherengine', expected 'badname'");
    ph_refused(DK_PLUGIN_ENGINE, "nullops", DK_EBADPLUGIN, "engine-nullops.so", "no ops table");
}

static void test_bad_ops(void)
{
    char want[128];
    snprintf(want, sizeof(want), "struct_size %zu is smaller than the minimum %zu",
             offsetof(dk_engine_ops, iter_next), offsetof(dk_engine_ops, iter_close) + sizeof(void *));
    ph_refused(DK_PLUGIN_ENGINE, "shortops", DK_EBADPLUGIN, "engine-shortops.so", want);
    ph_refused(DK_PLUGIN_ENGINE, "nullmethod", DK_EBADPLUGIN, "engine-nullmethod.so",
               "engine ops missing required method 'iter_next'");
}

/* A table that ends right after the last required method: the optional
 * methods the plugin set past its struct_size must read as NULL. */
static void test_short_valid_ops(void)
{
    dk_plugin_host *h = ph_new();
    const dk_loaded_plugin *p = NULL;
    char err[512] = "";
    int rc = dk_plugin_load(h, DK_PLUGIN_ENGINE, "minimal", &p, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const dk_engine_ops *ops = p->ops;
    CU_ASSERT_EQUAL(ops->struct_size, offsetof(dk_engine_ops, flush));
    CU_ASSERT_PTR_NOT_NULL(ops->open);
    CU_ASSERT_PTR_NOT_NULL(ops->iter_close);
    CU_ASSERT_FALSE(DK_HAS(ops, flush));
    CU_ASSERT_FALSE(DK_HAS(ops, stats));
    CU_ASSERT_FALSE(DK_HAS(ops, compact_range));
    CU_ASSERT_PTR_NULL(ops->flush);
    CU_ASSERT_PTR_NULL(ops->stats);
    CU_ASSERT_STRING_EQUAL(p->version, "0.0.1-test");
    dk_plugin_host_free(h);
}

static void test_other_kinds(void)
{
    dk_plugin_host *h = ph_new();
    const dk_loaded_plugin *c = NULL, *r = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_COMPACTION, "minimal", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_CONFLICT, "minimal", &r, err, sizeof(err)), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    /* Same name, different kinds: two plugins. */
    CU_ASSERT_PTR_NOT_EQUAL(c, r);
    CU_ASSERT_EQUAL(c->kind, DK_PLUGIN_COMPACTION);
    CU_ASSERT_EQUAL(r->kind, DK_PLUGIN_CONFLICT);
    const dk_compaction_ops *cops = c->ops;
    const dk_conflict_ops *rops = r->ops;
    CU_ASSERT_EQUAL(cops->struct_size, sizeof(dk_compaction_ops));
    CU_ASSERT_PTR_NOT_NULL(cops->pick);
    CU_ASSERT_PTR_NOT_NULL(rops->merge);
    CU_ASSERT_EQUAL(cops->pick(NULL, NULL, NULL), DK_ENOTFOUND);
    dk_plugin_host_free(h);
}

/* A policy built against the frozen ABI 1.0 headers (tests/plugins/abi-1.0)
 * loads into this host, opens with the 1.1 conf (reserved slots zero:
 * its defaults) and picks; a 1.1 policy (tests/plugins/compaction-oneknob)
 * reads its option from its section. */
static void test_abi_1_0_policy(void)
{
    dk_plugin_host *h = ph_new();
    const dk_loaded_plugin *legacy = NULL, *oneknob = NULL;
    char err[512] = "";
    int rc = dk_plugin_load(h, DK_PLUGIN_COMPACTION, "legacy", &legacy, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(dk_plugin_load(h, DK_PLUGIN_COMPACTION, "oneknob", &oneknob, err, sizeof(err)), 0);

    dk_config cfg;
    dk_config_defaults(&cfg);
    CU_ASSERT_EQUAL(dk_config_set(&cfg, "compaction.oneknob", "runs", "2", err, sizeof err), 0);
    dk_host_ctx ctx = {.log_prefix = "test"};
    dk_host host;
    dk_host_init(&host, &ctx);
    dk_compaction_conf conf = {.struct_size = sizeof(conf)};
    uint64_t inputs[4];
    dk_run runs[3] = {
        {.id = 7,
         .level = 0,
         .size = 100,
         .smallest = {(const uint8_t *)"a", 1},
         .largest = {(const uint8_t *)"b", 1}},
        {.id = 6,
         .level = 0,
         .size = 100,
         .smallest = {(const uint8_t *)"a", 1},
         .largest = {(const uint8_t *)"b", 1}},
        {.id = 5,
         .level = 1,
         .size = 100,
         .smallest = {(const uint8_t *)"a", 1},
         .largest = {(const uint8_t *)"c", 1}},
    };
    dk_run_view view = {.runs = runs, .count = 3, .num_levels = 7};

    /* 1.0: defaults (l0_trigger 4), so two L0 runs are not enough. */
    dk_host_ctx_set(&ctx, &cfg, "compaction", "legacy", NULL);
    dk_policy_ref p;
    CU_ASSERT_EQUAL_FATAL(dk_policy_open(legacy->ops, &host, &conf, &p), 0);
    dk_compaction_job job = {.inputs = inputs};
    CU_ASSERT_EQUAL(dk_policy_pick(&p, &view, &job), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk_host_ctx_check(&ctx, "compaction plugin 'legacy'", err, sizeof err), 0);
    dk_policy_close(&p);

    /* 1.1: runs = 2 from [compaction.oneknob]. */
    dk_host_ctx_set(&ctx, &cfg, "compaction", "oneknob", NULL);
    CU_ASSERT_EQUAL_FATAL(dk_policy_open(oneknob->ops, &host, &conf, &p), 0);
    CU_ASSERT_EQUAL(dk_policy_pick(&p, &view, &job), 0);
    CU_ASSERT_EQUAL(job.output_level, 1);
    CU_ASSERT_EQUAL(job.n_inputs, 3);
    CU_ASSERT_EQUAL(dk_host_ctx_check(&ctx, "compaction plugin 'oneknob'", err, sizeof err), 0);
    dk_policy_close(&p);

    /* The 1.0 policy cannot read an option: the node refuses it. */
    CU_ASSERT_EQUAL(dk_config_set(&cfg, "compaction.legacy", "l0_trigger", "2", err, sizeof err), 0);
    dk_host_ctx_set(&ctx, &cfg, "compaction", "legacy", NULL);
    ctx.options_read = 0;
    CU_ASSERT_EQUAL_FATAL(dk_policy_open(legacy->ops, &host, &conf, &p), 0);
    CU_ASSERT_EQUAL(dk_host_ctx_check(&ctx, "compaction plugin 'legacy'", err, sizeof err), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(err, "--set compaction.legacy.l0_trigger=2: the compaction plugin 'legacy' "
                                "takes no options (it does not read [compaction.legacy])");
    dk_policy_close(&p);
    dk_config_free(&cfg);
    dk_plugin_host_free(h);
}

/* The host API of ABI 1.1 is complete: messages and names of codes, the
 * object helpers a resolver builds with, codecs, options. */
static void test_host_api(void)
{
    dk_host_ctx ctx = {.log_prefix = "test"};
    dk_host h;
    dk_host_init(&h, &ctx);
    CU_ASSERT_EQUAL(h.struct_size, sizeof(dk_host));
    CU_ASSERT_TRUE(DK_HAS(&h, strerror) && DK_HAS(&h, err_name) && DK_HAS(&h, options) &&
                   DK_HAS(&h, conf_error) && DK_HAS(&h, object) && DK_HAS(&h, codec_open) &&
                   DK_HAS(&h, codec_close));
    CU_ASSERT_STRING_EQUAL(h.strerror(&h, DK_ENOTFOUND), "key not found");
    CU_ASSERT_STRING_EQUAL(h.err_name(&h, DK_ECORRUPT), "DK_ECORRUPT");
    CU_ASSERT_STRING_EQUAL(h.err_name(&h, -EIO), "EIO");
    /* DK_HAS: inside struct_size and set. */
    dk_host shorter = h;
    shorter.struct_size = offsetof(dk_host, strerror);
    CU_ASSERT_FALSE(DK_HAS(&shorter, strerror));
    CU_ASSERT_TRUE(DK_HAS(&shorter, metric_add));
    shorter.metric_add = NULL;
    CU_ASSERT_FALSE(DK_HAS(&shorter, metric_add));
    const dk_host *none = NULL;
    CU_ASSERT_FALSE(DK_HAS(none, log));
    /* An object built through the host's helpers is freed by the host's. */
    const dk_object_api *o = h.object;
    CU_ASSERT_TRUE(DK_HAS(o, dvv_sync));
    dk_object a, out;
    o->object_init(&a);
    o->object_init(&out);
    dk_write w = {.now_ms = 1000, .value = {(const uint8_t *)"v", 1}};
    snprintf(w.actor.node, sizeof w.actor.node, "n1");
    w.actor.incarnation = 1;
    CU_ASSERT_EQUAL(o->dvv_update(&a, &w, &out), 0);
    CU_ASSERT_EQUAL(out.n_sib, 1);
    CU_ASSERT_EQUAL(o->vv_get(&out.vv, &w.actor), 1);
    dk_object_free(&out); /* util/vv.h: the same code the host handed out */
    o->object_free(&a);
    /* No plugin folder: codec_open says so instead of crashing. */
    dk_codec_ref ref;
    CU_ASSERT_EQUAL(h.codec_open(&h, "zstd", 0, &ref), -ENOENT);
    CU_ASSERT_PTR_NULL(ref.codec);
    /* conf_error without a config names the section. */
    snprintf(ctx.section, sizeof ctx.section, "engine.x");
    h.conf_error(&h, "k", "expected %d", 3);
    CU_ASSERT_STRING_EQUAL(ctx.err, "configuration: [engine.x] k: expected 3");
}

/* sha256sum(1) of path into hex[65], or -1. */
static int ph_sha256sum(const char *path, char hex[65])
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%64s", hex) == 1;
    pclose(f);
    return ok && strlen(hex) == 64 ? 0 : -1;
}

static void test_memory_engine(void)
{
    dk_plugin_host *h = ph_new();
    const dk_loaded_plugin *p = NULL, *again = NULL;
    char err[512] = "";
    int rc = dk_plugin_load(h, DK_PLUGIN_ENGINE, "memory", &p, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(p->kind, DK_PLUGIN_ENGINE);
    CU_ASSERT_STRING_EQUAL(p->name, "memory");
    CU_ASSERT_PTR_NOT_NULL(strstr(p->path, "/engine-memory.so"));
    CU_ASSERT_EQUAL(strlen(p->sha256), 64);
    char hex[65] = "";
    if (ph_sha256sum(p->path, hex) == 0) {
        CU_ASSERT_STRING_EQUAL(p->sha256, hex);
    } else {
        fprintf(stderr, "sha256sum unavailable: checksum not cross-checked\n");
    }
    const dk_engine_ops *ops = p->ops;
    CU_ASSERT_EQUAL(ops->struct_size, sizeof(dk_engine_ops));
    CU_ASSERT_TRUE(DK_HAS(ops, stats));
    CU_ASSERT_TRUE(ops->caps & DK_ENGINE_CAP_ORDERED);
    /* Loading again returns the same plugin. */
    CU_ASSERT_EQUAL(dk_plugin_load(h, DK_PLUGIN_ENGINE, "memory", &again, err, sizeof(err)), 0);
    CU_ASSERT_PTR_EQUAL(again, p);
    dk_plugin_host_free(h);
}

static void test_default_dir(void)
{
    char buf[PATH_MAX];
    char *saved = getenv("DYNKV_PLUGIN_PATH") ? strdup(getenv("DYNKV_PLUGIN_PATH")) : NULL;
    setenv("DYNKV_PLUGIN_PATH", "/some/where", 1);
    CU_ASSERT_EQUAL(dk_plugin_default_dir(buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "/some/where");
    CU_ASSERT_EQUAL(dk_plugin_default_dir(buf, 5), -ENAMETOOLONG);
    /* Without the variable: run by make check (DYNKV_BUILDDIR set), this
     * program sits in the build tree, so the answer is the build's .libs
     * folder holding engine-memory.so; run from elsewhere, PLUGINDIR. */
    unsetenv("DYNKV_PLUGIN_PATH");
    CU_ASSERT_EQUAL(dk_plugin_default_dir(buf, sizeof(buf)), 0);
    const char *builddir = getenv("DYNKV_BUILDDIR");
    if (builddir && *builddir) {
        char want[PATH_MAX + 32], real_want[PATH_MAX], real_buf[PATH_MAX];
        snprintf(want, sizeof(want), "%s/.libs", builddir);
        CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(want, real_want));
        CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(buf, real_buf));
        CU_ASSERT_STRING_EQUAL(real_buf, real_want);
    } else {
        CU_ASSERT_STRING_EQUAL(buf, PLUGINDIR);
    }
    if (saved) {
        setenv("DYNKV_PLUGIN_PATH", saved, 1);
        free(saved);
    }
}

static CU_TestInfo ph_tests[] = {
    {"host_new", test_host_new},
    {"kind_names", test_kind_names},
    {"invalid_names", test_invalid_names},
    {"missing_file", test_missing_file},
    {"not_a_library", test_not_a_library},
    {"codec_kind", test_codec_kind},
    {"bad_descriptors", test_bad_descriptors},
    {"bad_ops", test_bad_ops},
    {"short_valid_ops", test_short_valid_ops},
    {"other_kinds", test_other_kinds},
    {"memory_engine", test_memory_engine},
    {"abi_1_0_policy", test_abi_1_0_policy},
    {"host_api", test_host_api},
    {"default_dir", test_default_dir},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "plugin_host", .pTests = ph_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
