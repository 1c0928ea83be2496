/*
 * test-engine.c - the engine conformance suite: what every dk_engine_ops
 * implementation must do, run against any engine plugin.
 *
 * The engine is named by the environment variable DK_TEST_ENGINE (default
 * "memory") and loaded through the plugin host from DYNKV_PLUGIN_PATH (or
 * dk_plugin_default_dir()), with tests/unit/fake_host.c as its dk_host.
 * cu_main.h has a fixed main(void), so each engine gets a one-line wrapper
 * script listed in TESTS. To add an engine <name>:
 *
 *   tests/unit/engine-<name>.test (executable):
 *       #!/bin/sh
 *       DK_TEST_ENGINE=<name> exec ./tests/unit/test-engine "$@"
 *   in your .mk fragment:
 *       TESTS += tests/unit/engine-<name>.test
 *       EXTRA_DIST += tests/unit/engine-<name>.test
 *
 * Behaviour the caps do not promise is skipped with a line on stderr saying
 * why (no DURABLE: reopen loses data; no SNAPSHOT; no THREADSAFE). Every
 * engine's data goes under one mkdtemp folder, removed at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <CUnit/CUnit.h>

#include "util/errors.h"
#include "dynkv/engine.h"
#include "fake_host.h"
#include "plugin/plugin_host.h"
#include "util/buf.h"

static dk_fake_host te_host;
static dk_plugin_host *te_ph;
static const dk_engine_ops *te_ops;
static const char *te_name;
static char te_root[] = "/tmp/dk-engine-XXXXXX";
static int te_have_root;
static int te_seq;

static int te_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int te_suite_init(void)
{
    char dir[PATH_MAX], err[512];
    te_name = getenv("DK_TEST_ENGINE");
    if (!te_name || !*te_name)
        te_name = "memory";
    dk_fake_host_init(&te_host);
    if (dk_plugin_default_dir(dir, sizeof(dir)) != 0)
        return 1;
    if (dk_plugin_host_new(dir, &te_ph, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const dk_loaded_plugin *p = NULL;
    if (dk_plugin_load(te_ph, DK_PLUGIN_ENGINE, te_name, &p, err, sizeof(err)) != 0) {
        fprintf(stderr, "cannot load engine '%s': %s\n", te_name, err);
        return 1;
    }
    te_ops = p->ops;
    if (!mkdtemp(te_root))
        return 1;
    te_have_root = 1;
    fprintf(stderr, "engine %s %s (%s), caps 0x%x, data under %s\n", p->name, p->version,
            p->path, (unsigned)te_ops->caps, te_root);
    return 0;
}

static int te_suite_clean(void)
{
    if (te_have_root)
        nftw(te_root, te_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    dk_plugin_host_free(te_ph);
    te_ph = NULL;
    dk_fake_host_destroy(&te_host);
    return 0;
}

static dk_engine *te_open_at(const char *path)
{
    dk_engine_conf conf = {.struct_size = sizeof(conf), .path = path, .sync = 1};
    dk_engine *e = NULL;
    int rc = te_ops->open(&te_host.host, &conf, &e);
    if (rc)
        fprintf(stderr, "open %s: %s\n", path, dk_strerror(rc));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    return e;
}

/* A fresh engine in its own folder; the folder's path into path. */
static dk_engine *te_open_fresh(char *path, size_t len)
{
    snprintf(path, len, "%s/db-%d", te_root, ++te_seq);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    return te_open_at(path);
}

static void te_close(dk_engine *e)
{
    CU_ASSERT_EQUAL(te_ops->close(e), 0);
}

static dk_slice te_s(const void *p, size_t n)
{
    dk_slice s = {p, n};
    return s;
}

static dk_slice te_str(const char *s)
{
    return te_s(s, strlen(s));
}

static int te_put(dk_engine *e, dk_slice k, dk_slice v)
{
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = k, .value = v};
    dk_batch b = {&op, 1};
    return te_ops->write(e, &b, 0);
}

static int te_del(dk_engine *e, dk_slice k)
{
    dk_batch_op op = {.type = DK_BATCH_DELETE, .key = k};
    dk_batch b = {&op, 1};
    return te_ops->write(e, &b, 0);
}

static void te_sink(void *arg, dk_slice v)
{
    dk_buf *b = arg;
    b->len = 0;
    CU_ASSERT_EQUAL(dk_buf_append(b, v.ptr, v.len), 0);
}

/* get key; on 0 the value is in out (reset first). */
static int te_get(dk_engine *e, dk_slice k, dk_buf *out)
{
    dk_buf_reset(out);
    return te_ops->get(e, k, te_sink, out);
}

/* 1 when key holds exactly v. */
static int te_has(dk_engine *e, dk_slice k, dk_slice v)
{
    dk_buf b = DK_BUF_INIT;
    int ok = te_get(e, k, &b) == 0 && b.len == v.len && (v.len == 0 || memcmp(b.data, v.ptr, v.len) == 0);
    dk_buf_free(&b);
    return ok;
}

static int te_cmp(dk_slice a, dk_slice b)
{
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    return c ? c : (a.len < b.len ? -1 : a.len > b.len);
}

static void test_basic(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(te_get(e, te_str("nope"), &b), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(te_put(e, te_str("alpha"), te_str("one")), 0);
    CU_ASSERT_TRUE(te_has(e, te_str("alpha"), te_str("one")));
    CU_ASSERT_EQUAL(te_put(e, te_str("alpha"), te_str("two, longer")), 0);
    CU_ASSERT_TRUE(te_has(e, te_str("alpha"), te_str("two, longer")));
    CU_ASSERT_EQUAL(te_put(e, te_str("beta"), te_str("b")), 0);
    CU_ASSERT_EQUAL(te_del(e, te_str("alpha")), 0);
    CU_ASSERT_EQUAL(te_get(e, te_str("alpha"), &b), DK_ENOTFOUND);
    CU_ASSERT_TRUE(te_has(e, te_str("beta"), te_str("b")));
    /* Deleting an absent key is not an error; a prefix is another key. */
    CU_ASSERT_EQUAL(te_del(e, te_str("never-written")), 0);
    CU_ASSERT_EQUAL(te_get(e, te_str("bet"), &b), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(te_get(e, te_str("betaa"), &b), DK_ENOTFOUND);
    /* Put after delete comes back. */
    CU_ASSERT_EQUAL(te_put(e, te_str("alpha"), te_str("three")), 0);
    CU_ASSERT_TRUE(te_has(e, te_str("alpha"), te_str("three")));
    dk_buf_free(&b);
    te_close(e);
}

static void test_keys_and_values(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_buf b = DK_BUF_INIT;
    /* Empty value: present, length 0, distinct from absent. */
    CU_ASSERT_EQUAL(te_put(e, te_str("empty"), te_s("", 0)), 0);
    CU_ASSERT_EQUAL(te_get(e, te_str("empty"), &b), 0);
    CU_ASSERT_EQUAL(b.len, 0);
    /* 256-byte key of every byte value. */
    uint8_t big[256];
    for (int i = 0; i < 256; i++)
        big[i] = (uint8_t)(255 - i);
    CU_ASSERT_EQUAL(te_put(e, te_s(big, 256), te_str("big key")), 0);
    CU_ASSERT_TRUE(te_has(e, te_s(big, 256), te_str("big key")));
    CU_ASSERT_EQUAL(te_get(e, te_s(big, 255), &b), DK_ENOTFOUND);
    /* Binary keys with NUL bytes: "a", "a\0", "a\0b" are three keys. */
    CU_ASSERT_EQUAL(te_put(e, te_s("a", 1), te_str("1")), 0);
    CU_ASSERT_EQUAL(te_put(e, te_s("a\0", 2), te_s("2\0x", 3)), 0);
    CU_ASSERT_EQUAL(te_put(e, te_s("a\0b", 3), te_str("3")), 0);
    CU_ASSERT_TRUE(te_has(e, te_s("a", 1), te_str("1")));
    CU_ASSERT_TRUE(te_has(e, te_s("a\0", 2), te_s("2\0x", 3)));
    CU_ASSERT_TRUE(te_has(e, te_s("a\0b", 3), te_str("3")));
    CU_ASSERT_EQUAL(te_del(e, te_s("a\0", 2)), 0);
    CU_ASSERT_EQUAL(te_get(e, te_s("a\0", 2), &b), DK_ENOTFOUND);
    CU_ASSERT_TRUE(te_has(e, te_s("a", 1), te_str("1")));
    CU_ASSERT_TRUE(te_has(e, te_s("a\0b", 3), te_str("3")));
    dk_buf_free(&b);
    te_close(e);
}

static void test_large_value(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    size_t n = DK_VALUE_MAX;
    uint8_t *v = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)(i * 2654435761u >> 13);
    CU_ASSERT_EQUAL(te_put(e, te_str("big"), te_s(v, n)), 0);
    CU_ASSERT_EQUAL(te_put(e, te_str("small"), te_str("s")), 0);
    CU_ASSERT_TRUE(te_has(e, te_str("big"), te_s(v, n)));
    CU_ASSERT_TRUE(te_has(e, te_str("small"), te_str("s")));
    free(v);
    te_close(e);
}

static void test_batch(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL(te_put(e, te_str("old"), te_str("o")), 0);
    dk_batch_op ops[] = {
        {.type = DK_BATCH_PUT, .key = te_str("x"), .value = te_str("1")},
        {.type = DK_BATCH_DELETE, .key = te_str("old")},
        {.type = DK_BATCH_PUT, .key = te_str("y"), .value = te_str("2")},
        {.type = DK_BATCH_PUT, .key = te_str("x"), .value = te_str("1b")}, /* later wins */
        {.type = DK_BATCH_PUT, .key = te_str("z"), .value = te_str("3")},
        {.type = DK_BATCH_DELETE, .key = te_str("z")},                       /* and for deletes */
    };
    dk_batch batch = {ops, sizeof(ops) / sizeof(ops[0])};
    CU_ASSERT_EQUAL(te_ops->write(e, &batch, 1), 0);
    CU_ASSERT_TRUE(te_has(e, te_str("x"), te_str("1b")));
    CU_ASSERT_TRUE(te_has(e, te_str("y"), te_str("2")));
    CU_ASSERT_EQUAL(te_get(e, te_str("old"), &b), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(te_get(e, te_str("z"), &b), DK_ENOTFOUND);
    /* A batch with an invalid operation fails whole: nothing applied. */
    dk_batch_op bad[] = {
        {.type = DK_BATCH_PUT, .key = te_str("w"), .value = te_str("w")},
        {.type = DK_BATCH_DELETE, .key = te_str("x")},
        {.type = 99, .key = te_str("v"), .value = te_str("v")},
    };
    dk_batch badb = {bad, 3};
    CU_ASSERT_NOT_EQUAL(te_ops->write(e, &badb, 0), 0);
    CU_ASSERT_EQUAL(te_get(e, te_str("w"), &b), DK_ENOTFOUND);
    CU_ASSERT_TRUE(te_has(e, te_str("x"), te_str("1b")));
    /* An empty batch is a no-op. */
    dk_batch none = {NULL, 0};
    CU_ASSERT_EQUAL(te_ops->write(e, &none, 0), 0);
    dk_buf_free(&b);
    te_close(e);
}

/* Iterate [start, end) after an optional seek; the keys found, joined by
 * '|', into out. Checks order and bounds on the way. */
static void te_scan(dk_engine *e, dk_slice start, dk_slice end, const char *seek, char *out, size_t len)
{
    dk_iter_opts o = {start, end};
    dk_engine_iter *it = NULL;
    out[0] = '\0';
    CU_ASSERT_EQUAL_FATAL(te_ops->iter_open(e, &o, &it), 0);
    if (seek)
        CU_ASSERT_EQUAL(te_ops->iter_seek(it, te_str(seek)), 0);
    dk_slice k, v;
    dk_buf prev = DK_BUF_INIT;
    int rc, first = 1;
    size_t used = 0;
    while ((rc = te_ops->iter_next(it, &k, &v)) == 0) {
        if (!first)
            CU_ASSERT_TRUE(te_cmp(dk_buf_slice(&prev), k) < 0);
        if (start.len)
            CU_ASSERT_TRUE(te_cmp(k, start) >= 0);
        if (end.len)
            CU_ASSERT_TRUE(te_cmp(k, end) < 0);
        /* every value here is "v" + key */
        CU_ASSERT_TRUE(v.len == k.len + 1 && v.ptr[0] == 'v' && memcmp(v.ptr + 1, k.ptr, k.len) == 0);
        dk_buf_reset(&prev);
        dk_buf_append(&prev, k.ptr, k.len);
        used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%.*s",
                                 first ? "" : "|", (int)k.len, (const char *)k.ptr);
        first = 0;
    }
    CU_ASSERT_EQUAL(rc, DK_EEOF);
    /* EOF is sticky. */
    CU_ASSERT_EQUAL(te_ops->iter_next(it, &k, &v), DK_EEOF);
    te_ops->iter_close(it);
    dk_buf_free(&prev);
}

static dk_engine *te_open_abc(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    /* Inserted out of order on purpose. */
    const char *keys[] = {"d", "b", "ab", "a", "c", "e", "ca", "bb"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char v[8];
        snprintf(v, sizeof(v), "v%s", keys[i]);
        CU_ASSERT_EQUAL(te_put(e, te_str(keys[i]), te_str(v)), 0);
    }
    return e;
}

static void test_iterate_bounds(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_ORDERED)) {
        fprintf(stderr, "SKIP iterate_bounds: engine %s lacks DK_ENGINE_CAP_ORDERED\n", te_name);
        return;
    }
    dk_engine *e = te_open_abc();
    char out[256];
    dk_slice none = {NULL, 0};
    te_scan(e, none, none, NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "a|ab|b|bb|c|ca|d|e");
    te_scan(e, te_str("b"), te_str("d"), NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "b|bb|c|ca");
    te_scan(e, te_str("aa"), te_str("ca"), NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "ab|b|bb|c");
    te_scan(e, te_str("c"), none, NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "c|ca|d|e");
    te_scan(e, none, te_str("b"), NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "a|ab");
    te_scan(e, te_str("bc"), te_str("bd"), NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "");
    te_scan(e, te_str("f"), none, NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "");
    /* Deleted keys do not show. */
    CU_ASSERT_EQUAL(te_del(e, te_str("bb")), 0);
    te_scan(e, te_str("b"), te_str("c"), NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "b");
    te_close(e);
}

static void test_seek(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_ORDERED)) {
        fprintf(stderr, "SKIP seek: engine %s lacks DK_ENGINE_CAP_ORDERED\n", te_name);
        return;
    }
    dk_engine *e = te_open_abc();
    char out[256];
    dk_slice none = {NULL, 0};
    te_scan(e, none, none, "c", out, sizeof(out));          /* existing */
    CU_ASSERT_STRING_EQUAL(out, "c|ca|d|e");
    te_scan(e, none, none, "bc", out, sizeof(out));         /* between */
    CU_ASSERT_STRING_EQUAL(out, "c|ca|d|e");
    te_scan(e, none, none, "f", out, sizeof(out));          /* past end */
    CU_ASSERT_STRING_EQUAL(out, "");
    te_scan(e, none, none, "", out, sizeof(out));           /* to the start */
    CU_ASSERT_STRING_EQUAL(out, "a|ab|b|bb|c|ca|d|e");
    te_scan(e, te_str("b"), te_str("d"), "a", out, sizeof(out)); /* before start: clamped */
    CU_ASSERT_STRING_EQUAL(out, "b|bb|c|ca");
    te_scan(e, te_str("b"), te_str("d"), "ca", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "ca");
    te_scan(e, te_str("b"), te_str("d"), "d", out, sizeof(out));  /* at end bound */
    CU_ASSERT_STRING_EQUAL(out, "");

    /* Seek backwards after reading. */
    dk_engine_iter *it = NULL;
    dk_iter_opts o = {none, none};
    dk_slice k, v;
    CU_ASSERT_EQUAL_FATAL(te_ops->iter_open(e, &o, &it), 0);
    CU_ASSERT_EQUAL(te_ops->iter_seek(it, te_str("d")), 0);
    CU_ASSERT_EQUAL(te_ops->iter_next(it, &k, &v), 0);
    CU_ASSERT_EQUAL(te_cmp(k, te_str("d")), 0);
    CU_ASSERT_EQUAL(te_ops->iter_seek(it, te_str("b")), 0);
    CU_ASSERT_EQUAL(te_ops->iter_next(it, &k, &v), 0);
    CU_ASSERT_EQUAL(te_cmp(k, te_str("b")), 0);
    CU_ASSERT_EQUAL(te_ops->iter_next(it, &k, &v), 0);
    CU_ASSERT_EQUAL(te_cmp(k, te_str("bb")), 0);
    te_ops->iter_close(it);
    te_close(e);
}

static void test_snapshot(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_SNAPSHOT)) {
        fprintf(stderr, "SKIP snapshot: engine %s lacks DK_ENGINE_CAP_SNAPSHOT\n", te_name);
        return;
    }
    dk_engine *e = te_open_abc();
    dk_slice none = {NULL, 0};
    dk_iter_opts o = {none, none};
    dk_engine_iter *it = NULL;
    CU_ASSERT_EQUAL_FATAL(te_ops->iter_open(e, &o, &it), 0);
    /* After the open: a new key, an overwrite, a delete. */
    CU_ASSERT_EQUAL(te_put(e, te_str("aa"), te_str("vaa")), 0);
    CU_ASSERT_EQUAL(te_put(e, te_str("c"), te_str("CHANGED")), 0);
    CU_ASSERT_EQUAL(te_del(e, te_str("d")), 0);
    const char *want[] = {"a", "ab", "b", "bb", "c", "ca", "d", "e"};
    size_t n = 0;
    dk_slice k, v;
    while (te_ops->iter_next(it, &k, &v) == 0) {
        CU_ASSERT_FATAL(n < 8);
        CU_ASSERT_EQUAL(te_cmp(k, te_str(want[n])), 0);
        CU_ASSERT_TRUE(v.len == k.len + 1 && v.ptr[0] == 'v');
        if (n == 3)   /* writes during the iteration are invisible too */
            CU_ASSERT_EQUAL(te_put(e, te_str("bc"), te_str("vbc")), 0);
        n++;
    }
    CU_ASSERT_EQUAL(n, 8);
    te_ops->iter_close(it);
    /* A new iterator sees the writes. */
    char out[256];
    te_scan(e, none, te_str("c"), NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "a|aa|ab|b|bb|bc");
    CU_ASSERT_TRUE(te_has(e, te_str("c"), te_str("CHANGED")));
    te_close(e);
}

static void test_reopen(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_batch_op ops[] = {
        {.type = DK_BATCH_PUT, .key = te_str("k1"), .value = te_str("v1")},
        {.type = DK_BATCH_PUT, .key = te_str("k2"), .value = te_str("v2")},
    };
    dk_batch b = {ops, 2};
    CU_ASSERT_EQUAL(te_ops->write(e, &b, 1), 0);
    CU_ASSERT_EQUAL(te_del(e, te_str("k2")), 0);
    te_close(e);
    e = te_open_at(path);
    if (te_ops->caps & DK_ENGINE_CAP_DURABLE) {
        dk_buf buf = DK_BUF_INIT;
        CU_ASSERT_TRUE(te_has(e, te_str("k1"), te_str("v1")));
        CU_ASSERT_EQUAL(te_get(e, te_str("k2"), &buf), DK_ENOTFOUND);
        dk_buf_free(&buf);
    } else {
        fprintf(stderr, "SKIP reopen data check: engine %s is not DURABLE "
                "(reopening on the same path must still work)\n", te_name);
    }
    CU_ASSERT_EQUAL(te_put(e, te_str("k3"), te_str("v3")), 0);
    CU_ASSERT_TRUE(te_has(e, te_str("k3"), te_str("v3")));
    te_close(e);
}

/*
 * Concurrency, scripted: 4 threads each write N batches of two puts,
 * "t<i>-<j>" = "v<j>" and "t<i>-last" = "<j>". While writing, each thread
 * reads another thread's "last" L and then requires "t<other>-<L>" (written
 * in the same atomic batch) to be present, and scans its own prefix. At the
 * end every key holds its value and a full scan counts 4 * (N + 1) keys.
 */
#define TE_THREADS 4
#define TE_OPS 1000

typedef struct te_thr {
    dk_engine *e;
    int id;
    int errors;
} te_thr;

static void *te_worker(void *arg)
{
    te_thr *t = arg;
    dk_buf b = DK_BUF_INIT;
    char k[32], last[32], v[32], ok[32];
    snprintf(last, sizeof(last), "t%d-last", t->id);
    for (int j = 0; j < TE_OPS; j++) {
        snprintf(k, sizeof(k), "t%d-%05d", t->id, j);
        snprintf(v, sizeof(v), "v%d", j);
        snprintf(ok, sizeof(ok), "%d", j);
        dk_batch_op ops[] = {
            {.type = DK_BATCH_PUT, .key = te_str(k), .value = te_str(v)},
            {.type = DK_BATCH_PUT, .key = te_str(last), .value = te_str(ok)},
        };
        dk_batch batch = {ops, 2};
        if (te_ops->write(t->e, &batch, 0) != 0)
            t->errors++;
        char olast[32];
        int other = (t->id + 1 + j % (TE_THREADS - 1)) % TE_THREADS;
        snprintf(olast, sizeof(olast), "t%d-last", other);
        int rc = te_get(t->e, te_str(olast), &b);
        if (rc == 0 && dk_buf_append(&b, "", 1) == 0) {
            char okey[32], want[32];
            int n = atoi((const char *)b.data);
            snprintf(okey, sizeof(okey), "t%d-%05d", other, n);
            snprintf(want, sizeof(want), "v%d", n);
            if (!te_has(t->e, te_str(okey), te_str(want)))
                t->errors++;
        } else if (rc != DK_ENOTFOUND) {
            t->errors++;
        }
        if (j % 250 == 249 && (te_ops->caps & DK_ENGINE_CAP_ORDERED)) {
            char lo[16], hi[16];
            snprintf(lo, sizeof(lo), "t%d-", t->id);
            snprintf(hi, sizeof(hi), "t%d-9", t->id);   /* digits only below */
            dk_iter_opts o = {te_str(lo), te_str(hi)};
            dk_engine_iter *it = NULL;
            int n = 0;
            dk_slice ik, iv;
            if (te_ops->iter_open(t->e, &o, &it) != 0) {
                t->errors++;
                continue;
            }
            while (te_ops->iter_next(it, &ik, &iv) == 0)
                n++;
            te_ops->iter_close(it);
            if (n != j + 1)   /* our own writes, all of them, nothing else */
                t->errors++;
        }
    }
    dk_buf_free(&b);
    return NULL;
}

static void test_concurrency(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_THREADSAFE)) {
        fprintf(stderr, "SKIP concurrency: engine %s lacks DK_ENGINE_CAP_THREADSAFE\n", te_name);
        return;
    }
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    pthread_t th[TE_THREADS];
    te_thr t[TE_THREADS];
    for (int i = 0; i < TE_THREADS; i++) {
        t[i] = (te_thr){.e = e, .id = i};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, te_worker, &t[i]), 0);
    }
    for (int i = 0; i < TE_THREADS; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(t[i].errors, 0);
    }
    int bad = 0;
    for (int i = 0; i < TE_THREADS; i++) {
        char k[32], v[32];
        for (int j = 0; j < TE_OPS; j++) {
            snprintf(k, sizeof(k), "t%d-%05d", i, j);
            snprintf(v, sizeof(v), "v%d", j);
            bad += !te_has(e, te_str(k), te_str(v));
        }
        snprintf(k, sizeof(k), "t%d-last", i);
        snprintf(v, sizeof(v), "%d", TE_OPS - 1);
        bad += !te_has(e, te_str(k), te_str(v));
    }
    CU_ASSERT_EQUAL(bad, 0);
    if (te_ops->caps & DK_ENGINE_CAP_ORDERED) {
        dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
        dk_engine_iter *it = NULL;
        dk_slice k, v;
        int n = 0;
        CU_ASSERT_EQUAL_FATAL(te_ops->iter_open(e, &o, &it), 0);
        while (te_ops->iter_next(it, &k, &v) == 0)
            n++;
        te_ops->iter_close(it);
        CU_ASSERT_EQUAL(n, TE_THREADS * (TE_OPS + 1));
    }
    te_close(e);
}

typedef struct te_stat_seen {
    int n, bad_names;
} te_stat_seen;

static void te_stat_sink(void *arg, const char *name, uint64_t value)
{
    te_stat_seen *s = arg;
    s->n++;
    if (!name || !*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        s->bad_names++;
}

/* The optional methods, when present, work and lose nothing. */
static void test_optional_methods(void)
{
    dk_engine *e = te_open_abc();
    if (DK_HAS(te_ops, stats)) {
        te_stat_seen s = {0, 0};
        CU_ASSERT_EQUAL(te_ops->stats(e, te_stat_sink, &s), 0);
        CU_ASSERT_TRUE(s.n > 0);
        CU_ASSERT_EQUAL(s.bad_names, 0);
    } else {
        fprintf(stderr, "SKIP stats: engine %s has no stats method\n", te_name);
    }
    if (DK_HAS(te_ops, flush))
        CU_ASSERT_EQUAL(te_ops->flush(e), 0);
    if (DK_HAS(te_ops, compact_range)) {
        dk_slice none = {NULL, 0};
        CU_ASSERT_EQUAL(te_del(e, te_str("b")), 0);
        CU_ASSERT_EQUAL(te_ops->compact_range(e, none, none), 0);
    }
    CU_ASSERT_TRUE(te_has(e, te_str("ca"), te_str("vca")));
    CU_ASSERT_TRUE(te_has(e, te_str("e"), te_str("ve")));
    te_close(e);
}

static CU_TestInfo te_tests[] = {
    {"basic", test_basic},
    {"keys_and_values", test_keys_and_values},
    {"large_value", test_large_value},
    {"batch", test_batch},
    {"iterate_bounds", test_iterate_bounds},
    {"seek", test_seek},
    {"snapshot", test_snapshot},
    {"reopen", test_reopen},
    {"concurrency", test_concurrency},
    {"optional_methods", test_optional_methods},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "engine", .pInitFunc = te_suite_init, .pCleanupFunc = te_suite_clean, .pTests = te_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
