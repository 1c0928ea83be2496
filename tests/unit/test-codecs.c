/*
 * test-codecs.c - the block codec plugins (plugins/codec/: none, zstd,
 * lz4) loaded and opened the way an engine gets them, through the node's
 * dk_host.codec_open over the plugin folder of this build: round trips of
 * empty, tiny, block-sized and large buffers, the length query, a too
 * small output, damaged and truncated input (an error, never a crash),
 * levels the host refuses, and one codec object shared by threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dynkv/codec.h"
#include "node/host.h"
#include "plugin/plugin_host.h"

static dk_plugin_host *tcd_plugins;
static dk_host_ctx tcd_ctx = {.log_prefix = "test"};
static dk_host tcd_host;
static const char *const tcd_names[] = {"none", "zstd", "lz4"};
static const uint32_t tcd_ids[] = {DK_CODEC_ID_NONE, DK_CODEC_ID_ZSTD, DK_CODEC_ID_LZ4};

static int tcd_init(void)
{
    char dir[4096], err[512];
    if (dk_plugin_default_dir(dir, sizeof dir) || dk_plugin_host_new(dir, &tcd_plugins, err, sizeof err)) {
        fprintf(stderr, "no plugin folder: %s\n", err);
        return 1;
    }
    dk_host_init(&tcd_host, &tcd_ctx);
    dk_host_ctx_set(&tcd_ctx, NULL, "engine", "test", tcd_plugins);
    return 0;
}

static int tcd_clean(void)
{
    dk_plugin_host_free(tcd_plugins);
    return 0;
}

/* n bytes, half of them repetitive (compressible), half pseudo-random. */
static uint8_t *tcd_data(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (i / 64) % 2 ? (uint8_t)(seed >> 16) : (uint8_t)('a' + i % 7);
    }
    return p;
}

static int tcd_roundtrip(const dk_codec_ref *r, const uint8_t *src, size_t n)
{
    size_t cap = dk_codec_bound(r, n), z = 0, q = 0, out = 0;
    uint8_t *c = malloc(cap ? cap : 1), *d = malloc(n ? n : 1);
    int bad = dk_codec_compress(r, src, n, c, cap, &z) != 0 || z > cap;
    bad += !bad && (dk_codec_decompress(r, c, z, NULL, 0, &q) != 0 || q != n);
    bad +=
        !bad && (dk_codec_decompress(r, c, z, d, n, &out) != 0 || out != n || (n && memcmp(d, src, n) != 0));
    free(c);
    free(d);
    return bad;
}

static void test_roundtrip(void)
{
    static const size_t sizes[] = {0, 1, 7, 4096, 65536, 1u << 20};
    for (size_t k = 0; k < 3; k++) {
        dk_codec_ref r;
        int rc = tcd_host.codec_open(&tcd_host, tcd_names[k], 0, &r);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_EQUAL(r.id, tcd_ids[k]);
        CU_ASSERT_STRING_EQUAL(r.name, tcd_names[k]);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            uint8_t *src = tcd_data(sizes[i], (unsigned)i);
            CU_ASSERT_EQUAL(tcd_roundtrip(&r, src, sizes[i]), 0);
            free(src);
        }
        /* Compressible input shrinks (except with "none"). */
        uint8_t *src = tcd_data(65536, 1), *c = malloc(dk_codec_bound(&r, 65536));
        size_t z = 0;
        CU_ASSERT_EQUAL(dk_codec_compress(&r, src, 65536, c, dk_codec_bound(&r, 65536), &z), 0);
        CU_ASSERT_TRUE(r.id == DK_CODEC_ID_NONE ? z == 65536 : z < 65536 * 3 / 4);
        /* Output that does not fit: DK_ETOOBIG, for both directions. */
        uint8_t small[16];
        size_t out;
        CU_ASSERT_EQUAL(dk_codec_decompress(&r, c, z, small, sizeof small, &out), DK_ETOOBIG);
        if (r.id != DK_CODEC_ID_NONE)
            CU_ASSERT_NOT_EQUAL(dk_codec_compress(&r, src, 65536, small, sizeof small, &out), 0);
        /* Damage: an error code or some output, never a crash or a write
         * past the buffer (the engine's block CRC catches what a codec
         * without its own checksum lets through). Truncation is always
         * caught. */
        if (r.id != DK_CODEC_ID_NONE) {
            uint8_t *d = malloc(65536);
            for (size_t off = 0; off < z; off += z / 50 + 1) {
                c[off] ^= 0x5a;
                size_t q = 0;
                int rc2 = dk_codec_decompress(&r, c, z, d, 65536, &q);
                CU_ASSERT(rc2 == 0 || rc2 == DK_ECORRUPT || rc2 == DK_ETOOBIG);
                CU_ASSERT(rc2 != 0 || q <= 65536);
                c[off] ^= 0x5a;
            }
            for (size_t cut = 0; cut < z; cut += z / 20 + 1) {
                size_t q = 0;
                int rc2 = dk_codec_decompress(&r, c, cut, d, 65536, &q);
                CU_ASSERT(rc2 == DK_ECORRUPT || rc2 == DK_ETOOBIG);
            }
            free(d);
        }
        free(src);
        free(c);
        tcd_host.codec_close(&tcd_host, &r);
        CU_ASSERT_PTR_NULL(r.codec);
    }
}

/* Levels: inside the codec's range work, outside are refused by the host
 * before the codec opens. */
static void test_levels(void)
{
    dk_codec_ref r;
    uint8_t *src = tcd_data(100000, 3);
    CU_ASSERT_EQUAL_FATAL(tcd_host.codec_open(&tcd_host, "zstd", 19, &r), 0);
    CU_ASSERT_EQUAL(tcd_roundtrip(&r, src, 100000), 0);
    CU_ASSERT_EQUAL(r.ops->level_max, 22);
    tcd_host.codec_close(&tcd_host, &r);
    CU_ASSERT_EQUAL_FATAL(tcd_host.codec_open(&tcd_host, "zstd", -3, &r), 0);
    CU_ASSERT_EQUAL(tcd_roundtrip(&r, src, 100000), 0);
    tcd_host.codec_close(&tcd_host, &r);
    CU_ASSERT_EQUAL_FATAL(tcd_host.codec_open(&tcd_host, "lz4", 9, &r), 0); /* LZ4HC */
    CU_ASSERT_EQUAL(tcd_roundtrip(&r, src, 100000), 0);
    tcd_host.codec_close(&tcd_host, &r);
    CU_ASSERT_EQUAL(tcd_host.codec_open(&tcd_host, "zstd", 23, &r), DK_ECONFIG);
    CU_ASSERT_PTR_NULL(r.codec);
    CU_ASSERT_EQUAL(tcd_host.codec_open(&tcd_host, "lz4", -1, &r), DK_ECONFIG);
    CU_ASSERT_EQUAL(tcd_host.codec_open(&tcd_host, "brotli", 0, &r), -ENOENT);
    CU_ASSERT_EQUAL(tcd_host.codec_open(&tcd_host, "../zstd", 0, &r), -EINVAL);
    free(src);
}

typedef struct tcd_job {
    const dk_codec_ref *r;
    int bad;
} tcd_job;

static void *tcd_worker(void *arg)
{
    tcd_job *j = arg;
    for (unsigned i = 0; i < 200; i++) {
        size_t n = 100 + (i * 997) % 20000;
        uint8_t *src = tcd_data(n, i);
        j->bad += tcd_roundtrip(j->r, src, n);
        free(src);
    }
    return NULL;
}

/* One codec object, four threads compressing and decompressing at once
 * (flush, compaction and readers do that in an engine). */
static void test_threads(void)
{
    for (size_t k = 1; k < 3; k++) {
        dk_codec_ref r;
        CU_ASSERT_EQUAL_FATAL(tcd_host.codec_open(&tcd_host, tcd_names[k], 0, &r), 0);
        pthread_t t[4];
        tcd_job jobs[4];
        for (int i = 0; i < 4; i++) {
            jobs[i] = (tcd_job){.r = &r};
            pthread_create(&t[i], NULL, tcd_worker, &jobs[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            CU_ASSERT_EQUAL(jobs[i].bad, 0);
        }
        tcd_host.codec_close(&tcd_host, &r);
    }
}

/* Codec plugins are checked like any other: one built at ABI 1.0 (before
 * the kind existed) or missing a method is refused with a reason. */
static void test_loader(void)
{
    const dk_loaded_plugin *p = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL(dk_plugin_load(tcd_plugins, DK_PLUGIN_CODEC, "oldabi", &p, err, sizeof err), DK_EABI);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "codec-oldabi.so: plugin built for ABI 1.0, but codec plugins exist "
                                       "since ABI 1.1"));
    CU_ASSERT_EQUAL(dk_plugin_load(tcd_plugins, DK_PLUGIN_CODEC, "nodecompress", &p, err, sizeof err),
                    DK_EBADPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "codec ops missing required method 'decompress'"));
    CU_ASSERT_EQUAL(dk_plugin_load(tcd_plugins, DK_PLUGIN_CODEC, "zstd", &p, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(p->name, "zstd");
}

static CU_TestInfo tcd_tests[] = {
    {"roundtrip", test_roundtrip}, {"levels", test_levels}, {"threads", test_threads},
    {"loader", test_loader},       CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "codecs", .pInitFunc = tcd_init, .pCleanupFunc = tcd_clean, .pTests = tcd_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
