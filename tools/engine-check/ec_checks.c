/*
 * ec_checks.c - the conformance checks of dynkv-engine-check, one function
 * per group (ec.h): what every dk_engine_ops implementation must do, and
 * the optional methods when the engine has them. Behaviour the engine's
 * caps do not promise is skipped with a line saying why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec.h"
#include "util/errors.h"

static void test_basic(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_buf b = DK_BUF_INIT;
    EC_EQ(te_get(e, te_str("nope"), &b), DK_ENOTFOUND);
    EC_EQ(te_put(e, te_str("alpha"), te_str("one")), 0);
    EC_TRUE(te_has(e, te_str("alpha"), te_str("one")));
    EC_EQ(te_put(e, te_str("alpha"), te_str("two, longer")), 0);
    EC_TRUE(te_has(e, te_str("alpha"), te_str("two, longer")));
    EC_EQ(te_put(e, te_str("beta"), te_str("b")), 0);
    EC_EQ(te_del(e, te_str("alpha")), 0);
    EC_EQ(te_get(e, te_str("alpha"), &b), DK_ENOTFOUND);
    EC_TRUE(te_has(e, te_str("beta"), te_str("b")));
    /* Deleting an absent key is not an error; a prefix is another key. */
    EC_EQ(te_del(e, te_str("never-written")), 0);
    EC_EQ(te_get(e, te_str("bet"), &b), DK_ENOTFOUND);
    EC_EQ(te_get(e, te_str("betaa"), &b), DK_ENOTFOUND);
    /* Put after delete comes back. */
    EC_EQ(te_put(e, te_str("alpha"), te_str("three")), 0);
    EC_TRUE(te_has(e, te_str("alpha"), te_str("three")));
    dk_buf_free(&b);
    te_close(e);
}

static void test_keys_and_values(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_buf b = DK_BUF_INIT;
    /* Empty value: present, length 0, distinct from absent. */
    EC_EQ(te_put(e, te_str("empty"), te_s("", 0)), 0);
    EC_EQ(te_get(e, te_str("empty"), &b), 0);
    EC_EQ(b.len, 0);
    /* 256-byte key of every byte value. */
    uint8_t big[256];
    for (int i = 0; i < 256; i++)
        big[i] = (uint8_t)(255 - i);
    EC_EQ(te_put(e, te_s(big, 256), te_str("big key")), 0);
    EC_TRUE(te_has(e, te_s(big, 256), te_str("big key")));
    EC_EQ(te_get(e, te_s(big, 255), &b), DK_ENOTFOUND);
    /* Binary keys with NUL bytes: "a", "a\0", "a\0b" are three keys. */
    EC_EQ(te_put(e, te_s("a", 1), te_str("1")), 0);
    EC_EQ(te_put(e, te_s("a\0", 2), te_s("2\0x", 3)), 0);
    EC_EQ(te_put(e, te_s("a\0b", 3), te_str("3")), 0);
    EC_TRUE(te_has(e, te_s("a", 1), te_str("1")));
    EC_TRUE(te_has(e, te_s("a\0", 2), te_s("2\0x", 3)));
    EC_TRUE(te_has(e, te_s("a\0b", 3), te_str("3")));
    EC_EQ(te_del(e, te_s("a\0", 2)), 0);
    EC_EQ(te_get(e, te_s("a\0", 2), &b), DK_ENOTFOUND);
    EC_TRUE(te_has(e, te_s("a", 1), te_str("1")));
    EC_TRUE(te_has(e, te_s("a\0b", 3), te_str("3")));
    dk_buf_free(&b);
    te_close(e);
}

static void test_large_value(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    size_t n = DK_VALUE_MAX;
    uint8_t *v = malloc(n);
    EC_NOT_NULL_FATAL(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)(i * 2654435761u >> 13);
    EC_EQ(te_put(e, te_str("big"), te_s(v, n)), 0);
    EC_EQ(te_put(e, te_str("small"), te_str("s")), 0);
    EC_TRUE(te_has(e, te_str("big"), te_s(v, n)));
    EC_TRUE(te_has(e, te_str("small"), te_str("s")));
    free(v);
    te_close(e);
}

static void test_batch(void)
{
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    dk_buf b = DK_BUF_INIT;
    EC_EQ(te_put(e, te_str("old"), te_str("o")), 0);
    dk_batch_op ops[] = {
        {.type = DK_BATCH_PUT, .key = te_str("x"), .value = te_str("1")},
        {.type = DK_BATCH_DELETE, .key = te_str("old")},
        {.type = DK_BATCH_PUT, .key = te_str("y"), .value = te_str("2")},
        {.type = DK_BATCH_PUT, .key = te_str("x"), .value = te_str("1b")}, /* later wins */
        {.type = DK_BATCH_PUT, .key = te_str("z"), .value = te_str("3")},
        {.type = DK_BATCH_DELETE, .key = te_str("z")}, /* and for deletes */
    };
    dk_batch batch = {ops, sizeof(ops) / sizeof(ops[0])};
    EC_EQ(te_ops->write(e, &batch, 1), 0);
    EC_TRUE(te_has(e, te_str("x"), te_str("1b")));
    EC_TRUE(te_has(e, te_str("y"), te_str("2")));
    EC_EQ(te_get(e, te_str("old"), &b), DK_ENOTFOUND);
    EC_EQ(te_get(e, te_str("z"), &b), DK_ENOTFOUND);
    /* A batch with an invalid operation fails whole: nothing applied. */
    dk_batch_op bad[] = {
        {.type = DK_BATCH_PUT, .key = te_str("w"), .value = te_str("w")},
        {.type = DK_BATCH_DELETE, .key = te_str("x")},
        {.type = 99, .key = te_str("v"), .value = te_str("v")},
    };
    dk_batch badb = {bad, 3};
    EC_NE(te_ops->write(e, &badb, 0), 0);
    EC_EQ(te_get(e, te_str("w"), &b), DK_ENOTFOUND);
    EC_TRUE(te_has(e, te_str("x"), te_str("1b")));
    /* An empty batch is a no-op. */
    dk_batch none = {NULL, 0};
    EC_EQ(te_ops->write(e, &none, 0), 0);
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
    EC_EQ_FATAL(te_ops->iter_open(e, &o, &it), 0);
    if (seek)
        EC_EQ(te_ops->iter_seek(it, te_str(seek)), 0);
    dk_slice k, v;
    dk_buf prev = DK_BUF_INIT;
    int rc, first = 1;
    size_t used = 0;
    while ((rc = te_ops->iter_next(it, &k, &v)) == 0) {
        if (!first)
            EC_TRUE(te_cmp(dk_buf_slice(&prev), k) < 0);
        if (start.len)
            EC_TRUE(te_cmp(k, start) >= 0);
        if (end.len)
            EC_TRUE(te_cmp(k, end) < 0);
        /* every value here is "v" + key */
        EC_TRUE(v.len == k.len + 1 && v.ptr[0] == 'v' && memcmp(v.ptr + 1, k.ptr, k.len) == 0);
        dk_buf_reset(&prev);
        dk_buf_append(&prev, k.ptr, k.len);
        used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%.*s", first ? "" : "|",
                                 (int)k.len, (const char *)k.ptr);
        first = 0;
    }
    EC_EQ(rc, DK_EEOF);
    /* EOF is sticky. */
    EC_EQ(te_ops->iter_next(it, &k, &v), DK_EEOF);
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
        EC_EQ(te_put(e, te_str(keys[i]), te_str(v)), 0);
    }
    return e;
}

static void test_iterate_bounds(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_ORDERED)) {
        ec_skip("iterate_bounds: engine %s lacks DK_ENGINE_CAP_ORDERED", te_name);
        return;
    }
    dk_engine *e = te_open_abc();
    char out[256];
    dk_slice none = {NULL, 0};
    te_scan(e, none, none, NULL, out, sizeof(out));
    EC_STR_EQ(out, "a|ab|b|bb|c|ca|d|e");
    te_scan(e, te_str("b"), te_str("d"), NULL, out, sizeof(out));
    EC_STR_EQ(out, "b|bb|c|ca");
    te_scan(e, te_str("aa"), te_str("ca"), NULL, out, sizeof(out));
    EC_STR_EQ(out, "ab|b|bb|c");
    te_scan(e, te_str("c"), none, NULL, out, sizeof(out));
    EC_STR_EQ(out, "c|ca|d|e");
    te_scan(e, none, te_str("b"), NULL, out, sizeof(out));
    EC_STR_EQ(out, "a|ab");
    te_scan(e, te_str("bc"), te_str("bd"), NULL, out, sizeof(out));
    EC_STR_EQ(out, "");
    te_scan(e, te_str("f"), none, NULL, out, sizeof(out));
    EC_STR_EQ(out, "");
    /* Deleted keys do not show. */
    EC_EQ(te_del(e, te_str("bb")), 0);
    te_scan(e, te_str("b"), te_str("c"), NULL, out, sizeof(out));
    EC_STR_EQ(out, "b");
    te_close(e);
}

static void test_seek(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_ORDERED)) {
        ec_skip("seek: engine %s lacks DK_ENGINE_CAP_ORDERED", te_name);
        return;
    }
    dk_engine *e = te_open_abc();
    char out[256];
    dk_slice none = {NULL, 0};
    te_scan(e, none, none, "c", out, sizeof(out)); /* existing */
    EC_STR_EQ(out, "c|ca|d|e");
    te_scan(e, none, none, "bc", out, sizeof(out)); /* between */
    EC_STR_EQ(out, "c|ca|d|e");
    te_scan(e, none, none, "f", out, sizeof(out)); /* past end */
    EC_STR_EQ(out, "");
    te_scan(e, none, none, "", out, sizeof(out)); /* to the start */
    EC_STR_EQ(out, "a|ab|b|bb|c|ca|d|e");
    te_scan(e, te_str("b"), te_str("d"), "a", out, sizeof(out)); /* before start: clamped */
    EC_STR_EQ(out, "b|bb|c|ca");
    te_scan(e, te_str("b"), te_str("d"), "ca", out, sizeof(out));
    EC_STR_EQ(out, "ca");
    te_scan(e, te_str("b"), te_str("d"), "d", out, sizeof(out)); /* at end bound */
    EC_STR_EQ(out, "");

    /* Seek backwards after reading. */
    dk_engine_iter *it = NULL;
    dk_iter_opts o = {none, none};
    dk_slice k, v;
    EC_EQ_FATAL(te_ops->iter_open(e, &o, &it), 0);
    EC_EQ(te_ops->iter_seek(it, te_str("d")), 0);
    EC_EQ(te_ops->iter_next(it, &k, &v), 0);
    EC_EQ(te_cmp(k, te_str("d")), 0);
    EC_EQ(te_ops->iter_seek(it, te_str("b")), 0);
    EC_EQ(te_ops->iter_next(it, &k, &v), 0);
    EC_EQ(te_cmp(k, te_str("b")), 0);
    EC_EQ(te_ops->iter_next(it, &k, &v), 0);
    EC_EQ(te_cmp(k, te_str("bb")), 0);
    te_ops->iter_close(it);
    te_close(e);
}

static void test_snapshot(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_SNAPSHOT)) {
        ec_skip("snapshot: engine %s lacks DK_ENGINE_CAP_SNAPSHOT", te_name);
        return;
    }
    dk_engine *e = te_open_abc();
    dk_slice none = {NULL, 0};
    dk_iter_opts o = {none, none};
    dk_engine_iter *it = NULL;
    EC_EQ_FATAL(te_ops->iter_open(e, &o, &it), 0);
    /* After the open: a new key, an overwrite, a delete. */
    EC_EQ(te_put(e, te_str("aa"), te_str("vaa")), 0);
    EC_EQ(te_put(e, te_str("c"), te_str("CHANGED")), 0);
    EC_EQ(te_del(e, te_str("d")), 0);
    const char *want[] = {"a", "ab", "b", "bb", "c", "ca", "d", "e"};
    size_t n = 0;
    dk_slice k, v;
    while (te_ops->iter_next(it, &k, &v) == 0) {
        EC_FATAL(n < 8);
        EC_EQ(te_cmp(k, te_str(want[n])), 0);
        EC_TRUE(v.len == k.len + 1 && v.ptr[0] == 'v');
        if (n == 3) /* writes during the iteration are invisible too */
            EC_EQ(te_put(e, te_str("bc"), te_str("vbc")), 0);
        n++;
    }
    EC_EQ(n, 8);
    te_ops->iter_close(it);
    /* A new iterator sees the writes. */
    char out[256];
    te_scan(e, none, te_str("c"), NULL, out, sizeof(out));
    EC_STR_EQ(out, "a|aa|ab|b|bb|bc");
    EC_TRUE(te_has(e, te_str("c"), te_str("CHANGED")));
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
    EC_EQ(te_ops->write(e, &b, 1), 0);
    EC_EQ(te_del(e, te_str("k2")), 0);
    te_close(e);
    e = te_open_at(path);
    if (te_ops->caps & DK_ENGINE_CAP_DURABLE) {
        dk_buf buf = DK_BUF_INIT;
        EC_TRUE(te_has(e, te_str("k1"), te_str("v1")));
        EC_EQ(te_get(e, te_str("k2"), &buf), DK_ENOTFOUND);
        dk_buf_free(&buf);
    } else {
        ec_skip("reopen data check: engine %s is not DURABLE "
                "(reopening on the same path must still work)",
                te_name);
    }
    EC_EQ(te_put(e, te_str("k3"), te_str("v3")), 0);
    EC_TRUE(te_has(e, te_str("k3"), te_str("v3")));
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
            snprintf(hi, sizeof(hi), "t%d-9", t->id); /* digits only below */
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
            if (n != j + 1) /* our own writes, all of them, nothing else */
                t->errors++;
        }
    }
    dk_buf_free(&b);
    return NULL;
}

static void test_concurrency(void)
{
    if (!(te_ops->caps & DK_ENGINE_CAP_THREADSAFE)) {
        ec_skip("concurrency: engine %s lacks DK_ENGINE_CAP_THREADSAFE", te_name);
        return;
    }
    char path[PATH_MAX];
    dk_engine *e = te_open_fresh(path, sizeof(path));
    pthread_t th[TE_THREADS];
    te_thr t[TE_THREADS];
    for (int i = 0; i < TE_THREADS; i++) {
        t[i] = (te_thr){.e = e, .id = i};
        EC_EQ_FATAL(pthread_create(&th[i], NULL, te_worker, &t[i]), 0);
    }
    for (int i = 0; i < TE_THREADS; i++) {
        pthread_join(th[i], NULL);
        EC_EQ(t[i].errors, 0);
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
    EC_EQ(bad, 0);
    if (te_ops->caps & DK_ENGINE_CAP_ORDERED) {
        dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
        dk_engine_iter *it = NULL;
        dk_slice k, v;
        int n = 0;
        EC_EQ_FATAL(te_ops->iter_open(e, &o, &it), 0);
        while (te_ops->iter_next(it, &k, &v) == 0)
            n++;
        te_ops->iter_close(it);
        EC_EQ(n, TE_THREADS * (TE_OPS + 1));
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
        EC_EQ(te_ops->stats(e, te_stat_sink, &s), 0);
        EC_TRUE(s.n > 0);
        EC_EQ(s.bad_names, 0);
    } else {
        ec_skip("stats: engine %s has no stats method", te_name);
    }
    if (DK_HAS(te_ops, flush))
        EC_EQ(te_ops->flush(e), 0);
    if (DK_HAS(te_ops, compact_range)) {
        dk_slice none = {NULL, 0};
        EC_EQ(te_del(e, te_str("b")), 0);
        EC_EQ(te_ops->compact_range(e, none, none), 0);
    }
    EC_TRUE(te_has(e, te_str("ca"), te_str("vca")));
    EC_TRUE(te_has(e, te_str("e"), te_str("ve")));
    te_close(e);
}

/* 1 when get_lent(key, flags) lends v, or with DK_GET_HEAD a prefix of
 * it (-EAGAIN also passes with DK_GET_NOWAIT: nothing lent then). */
static int te_lends(dk_engine *e, dk_slice k, dk_slice v, uint32_t flags)
{
    dk_slice got = {NULL, 0};
    void *pin = NULL;
    int rc = te_ops->get_lent(e, k, flags, &got, &pin);
    if (rc == -EAGAIN && (flags & DK_GET_NOWAIT))
        return 1;
    if (rc)
        return 0;
    int ok = (flags & DK_GET_HEAD) ? got.len <= v.len : got.len == v.len;
    ok = ok && (got.len == 0 || memcmp(got.ptr, v.ptr, got.len) == 0);
    te_ops->release(e, pin);
    return ok;
}

/* get_lent (ABI 1.4): the value lent in place is the one get returns;
 * with DK_GET_HEAD (ABI 1.5) a prefix of it (possibly all of it), in
 * memory, after a flush and after a reopen; absent keys are DK_ENOTFOUND
 * with every flag. */
static void test_lend(void)
{
    if (!DK_HAS(te_ops, get_lent) || !DK_HAS(te_ops, release)) {
        ec_skip("lend: engine %s has no get_lent/release (the node copies values)", te_name);
        return;
    }
    static const size_t lens[] = {0, 10, 300, 5000, 20000};
    static const uint32_t flags[] = {0, DK_GET_HEAD, DK_GET_NOWAIT, DK_GET_NOWAIT | DK_GET_HEAD};
    size_t nl = sizeof lens / sizeof lens[0], nf = sizeof flags / sizeof flags[0];
    char path[PATH_MAX], k[32];
    uint8_t *v = malloc(20000);
    EC_NOT_NULL_FATAL(v);
    for (size_t j = 0; j < 20000; j++)
        v[j] = (uint8_t)(j * 131 + (j >> 8));
    dk_engine *e = te_open_fresh(path, sizeof path);
    for (size_t i = 0; i < nl; i++) {
        snprintf(k, sizeof k, "lend-%zu", lens[i]);
        EC_EQ_FATAL(te_put(e, te_str(k), te_s(v, lens[i])), 0);
    }
    for (int round = 0; round < 3; round++) {
        if (round == 1 && DK_HAS(te_ops, flush))
            EC_EQ(te_ops->flush(e), 0);
        if (round == 2) {
            te_close(e);
            e = te_open_at(path);
        }
        int bad = 0;
        for (size_t i = 0; i < nl; i++) {
            snprintf(k, sizeof k, "lend-%zu", lens[i]);
            for (size_t f = 0; f < nf; f++)
                bad += !te_lends(e, te_str(k), te_s(v, lens[i]), flags[f]);
        }
        EC_EQ(bad, 0);
        for (size_t f = 0; f < nf; f++) {
            dk_slice got;
            void *pin = NULL;
            int rc = te_ops->get_lent(e, te_str("lend-absent"), flags[f], &got, &pin);
            EC_TRUE(rc == DK_ENOTFOUND || (rc == -EAGAIN && (flags[f] & DK_GET_NOWAIT)));
        }
    }
    te_close(e);
    free(v);
}

/* checkpoint (ABI 1.3): the copy opens as an engine of its own, holds
 * every write made before the call, and is independent of the original
 * (writes to either do not show in the other). */
static void test_checkpoint(void)
{
    if (!DK_HAS(te_ops, checkpoint)) {
        ec_skip("checkpoint: engine %s has no checkpoint method (nodes refuse snapshots)", te_name);
        return;
    }
    char path[PATH_MAX], copy[PATH_MAX + 8];
    dk_engine *e = te_open_fresh(path, sizeof path);
    char k[32], v[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%05d", i);
        snprintf(v, sizeof v, "value-%d-%0*d", i, 40, i);
        EC_EQ_FATAL(te_put(e, te_str(k), te_str(v)), 0);
    }
    EC_EQ(te_del(e, te_str("key00007")), 0);
    if (DK_HAS(te_ops, flush))
        EC_EQ(te_ops->flush(e), 0);
    EC_EQ(te_put(e, te_str("after-flush"), te_str("in the log")), 0);
    snprintf(copy, sizeof copy, "%s-copy", path);
    EC_EQ_FATAL(te_ops->checkpoint(e, copy), 0);
    EC_NE(te_ops->checkpoint(e, copy), 0); /* the folder exists now */
    EC_EQ(te_put(e, te_str("later"), te_str("original only")), 0);

    dk_engine *c = te_open_at(copy);
    EC_TRUE(te_has(c, te_str("key00000"), te_str("value-0-0000000000000000000000000000000000000000")));
    EC_TRUE(te_has(c, te_str("after-flush"), te_str("in the log")));
    dk_buf b = DK_BUF_INIT;
    EC_EQ(te_get(c, te_str("key00007"), &b), DK_ENOTFOUND);
    EC_EQ(te_get(c, te_str("later"), &b), DK_ENOTFOUND);
    int missing = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%05d", i);
        if (i != 7 && te_get(c, te_str(k), &b) != 0)
            missing++;
    }
    EC_EQ(missing, 0);
    EC_EQ(te_put(c, te_str("copy-only"), te_str("x")), 0);
    EC_EQ(te_get(e, te_str("copy-only"), &b), DK_ENOTFOUND);
    dk_buf_free(&b);
    te_close(c);
    te_close(e);
}

const te_group te_groups[] = {
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
    {"lend", test_lend},
    {"checkpoint", test_checkpoint},
};
const size_t te_n_groups = sizeof te_groups / sizeof te_groups[0];
