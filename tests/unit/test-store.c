/*
 * test-store.c - the store's refusals that keep every key writable and
 * every object shippable (node/store.h), on a real node (memory engine,
 * vclock resolver) in a temporary folder:
 *
 *   - a version counter legitimately at UINT64_MAX - 1 (a replica's copy
 *     merged in): one more write takes it to the maximum, the next is
 *     refused with -EOVERFLOW (the API's 409) and changes nothing, and a
 *     write stamped by another node still goes through;
 *   - a context far ahead of the stored object advances each counter by
 *     at most DK_STORE_CONTEXT_AHEAD;
 *   - a context given as a JSON map (context_is_map) must be dominated by
 *     the stored version: one naming a counter the object never reached is
 *     DK_EPRECOND and never sets a counter;
 *   - max_object_size: a write or a merge that would grow the object past
 *     it is DK_ETOOBIG with nothing written (a streamed batch skips the
 *     key), and a write with the stored context (resolving the siblings)
 *     is taken again;
 *   - the read fence: reads answer DK_EUNAVAILABLE while writes and
 *     merges go on (and read the stored object); lifted, reads see them;
 *   - the fence of token spans (start, end]: only keys whose token falls
 *     in one answer DK_EUNAVAILABLE (a wrapping span too), a scan span
 *     meets it exactly when the arcs share a token, and n = 0 lifts it.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "node/node.h"
#include "node/object.h"
#include "node/store.h"
#include "util/vv.h"

#define MAX_OBJ (64u * 1024u)

static char dir[64];
static dk_config cfg;
static dk_node node;

static int suite_init(void)
{
    char err[512];
    dk_log_set_level(DK_LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/dk-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    dk_config_defaults(&cfg);
    snprintf(cfg.node.id, sizeof(cfg.node.id), "n1");
    snprintf(cfg.node.data_dir, sizeof(cfg.node.data_dir), "%s", dir);
    snprintf(cfg.storage.engine, sizeof(cfg.storage.engine), "memory");
    const char *pd = getenv("DYNKV_PLUGIN_PATH");
    snprintf(cfg.storage.plugin_dir, sizeof(cfg.storage.plugin_dir), "%s", pd ? pd : "");
    cfg.storage.sync = 0;
    cfg.storage.max_object_size = MAX_OBJ;
    if (dk_node_open(&node, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "node: %s\n", err);
        return -1;
    }
    return 0;
}

static int suite_clean(void)
{
    dk_node_close(&node);
    dk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static dk_slice sl(const char *s)
{
    return (dk_slice){(const uint8_t *)s, strlen(s)};
}

/* A client write; the new object's vv goes to vv_out (may be NULL). */
static int wr(const char *key, dk_slice value, const dk_vv *ctx, int is_map, int tombstone, dk_vv *vv_out)
{
    dk_store_write w = {
        .key = sl(key), .value = value, .context = ctx, .context_is_map = is_map, .tombstone = tombstone};
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    int rc = dk_store_write_local(node.store, &w, dk_now_ms(), &raw, &o);
    if (rc == 0 && vv_out)
        CU_ASSERT_EQUAL(dk_vv_copy(vv_out, &o.vv), 0);
    dk_object_free(&o);
    dk_buf_free(&raw);
    return rc;
}

/* The stored encoding of key into out (empty when absent). */
static void stored(const char *key, dk_buf *out)
{
    dk_object o;
    dk_object_init(&o);
    dk_buf_reset(out);
    int rc = dk_store_get(node.store, sl(key), out, &o);
    CU_ASSERT_TRUE(rc == 0 || rc == DK_ENOTFOUND);
    dk_object_free(&o);
}

static int same(const dk_buf *a, const dk_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* An encoded one-sibling object by actor a at counter n with value v. */
static void one_sibling(const dk_actor *a, uint64_t n, dk_slice v, dk_buf *out)
{
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL(dk_vv_set(&o.vv, a, n, 1000), 0);
    dk_sibling s = {.actor = *a, .counter = n, .write_time_ms = 1000, .value = v};
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &s), 0);
    dk_buf_reset(out);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, out), 0);
    dk_object_free(&o);
}

static void test_counter_max(void)
{
    const dk_actor me = node.actor; /* what the store stamps writes with (node.h) */
    dk_buf enc = DK_BUF_INIT, before = DK_BUF_INIT, after = DK_BUF_INIT;
    int changed = 0;
    one_sibling(&me, UINT64_MAX - 1, sl("old"), &enc);
    CU_ASSERT_EQUAL_FATAL(dk_store_merge(node.store, sl("max"), dk_buf_slice(&enc), &changed), 0);
    dk_vv vv;
    dk_vv_init(&vv);
    CU_ASSERT_EQUAL(wr("max", sl("a"), NULL, 0, 0, &vv), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&vv, &me), UINT64_MAX);
    stored("max", &before);
    /* past the maximum: refused, blind or with the context, PUT or DELETE */
    CU_ASSERT_EQUAL(wr("max", sl("b"), NULL, 0, 0, NULL), -EOVERFLOW);
    CU_ASSERT_EQUAL(wr("max", sl("b"), &vv, 0, 0, NULL), -EOVERFLOW);
    CU_ASSERT_EQUAL(wr("max", sl(""), NULL, 0, 1, NULL), -EOVERFLOW);
    stored("max", &after);
    CU_ASSERT_TRUE(same(&before, &after));
    /* another node's dot still versions it */
    dk_actor other;
    CU_ASSERT_EQUAL(dk_actor_set(&other, "n2", 1), 0);
    dk_store_set_actor(node.store, &other);
    CU_ASSERT_EQUAL(wr("max", sl("c"), &vv, 0, 0, NULL), 0);
    dk_store_set_actor(node.store, &me);
    dk_vv_free(&vv);
    dk_buf_free(&enc);
    dk_buf_free(&before);
    dk_buf_free(&after);
}

/* A token-form context far ahead of the stored object (protected mode:
 * anyone can MAC one) advances each counter by at most
 * DK_STORE_CONTEXT_AHEAD, so the key never nears the maximum. */
static void test_context_clamped(void)
{
    const dk_actor me = node.actor;
    dk_actor other;
    CU_ASSERT_EQUAL(dk_actor_set(&other, "zz", 1), 0);
    dk_vv vv, ctx;
    dk_vv_init(&vv);
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(wr("clamp", sl("v1"), NULL, 0, 0, &vv), 0);
    uint64_t n = dk_vv_get(&vv, &me);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(dk_vv_set(&ctx, &me, UINT64_MAX - 1, dk_now_ms()), 0);
        CU_ASSERT_EQUAL(dk_vv_set(&ctx, &other, UINT64_MAX - 1, dk_now_ms()), 0);
        CU_ASSERT_EQUAL(wr("clamp", sl("forged"), &ctx, 0, 0, &vv), 0);
        n += DK_STORE_CONTEXT_AHEAD + 1;
        CU_ASSERT_EQUAL(dk_vv_get(&vv, &me), n);
        CU_ASSERT_EQUAL(dk_vv_get(&vv, &other), (uint64_t)DK_STORE_CONTEXT_AHEAD * (uint64_t)(i + 1));
    }
    /* the object's own context still works */
    CU_ASSERT_EQUAL(wr("clamp", sl("v2"), &vv, 0, 0, &vv), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&vv, &me), n + 1);
    dk_vv_free(&vv);
    dk_vv_free(&ctx);
}

static void test_map_context(void)
{
    const dk_actor me = node.actor;
    dk_vv vv, map;
    dk_vv_init(&vv);
    dk_vv_init(&map);
    dk_buf before = DK_BUF_INIT, after = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(wr("map", sl("v1"), NULL, 0, 0, &vv), 0);
    uint64_t n = dk_vv_get(&vv, &me);
    /* a map ahead of the stored object: refused, nothing written */
    CU_ASSERT_EQUAL(dk_vv_set(&map, &me, n + 1000, 0), 0);
    stored("map", &before);
    CU_ASSERT_EQUAL(wr("map", sl("v2"), &map, 1, 0, NULL), DK_EPRECOND);
    CU_ASSERT_EQUAL(wr("map", sl(""), &map, 1, 1, NULL), DK_EPRECOND);
    stored("map", &after);
    CU_ASSERT_TRUE(same(&before, &after));
    /* a map naming another node the object never saw: refused too */
    dk_actor other;
    CU_ASSERT_EQUAL(dk_actor_set(&other, "zz", 1), 0);
    dk_vv_free(&map);
    CU_ASSERT_EQUAL(dk_vv_set(&map, &other, 1, 0), 0);
    CU_ASSERT_EQUAL(wr("map", sl("v2"), &map, 1, 0, NULL), DK_EPRECOND);
    /* the stored version as a map: a normal write that supersedes it */
    dk_vv_free(&map);
    CU_ASSERT_EQUAL(dk_vv_set(&map, &me, n, 0), 0);
    CU_ASSERT_EQUAL(wr("map", sl("v2"), &map, 1, 0, &vv), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&vv, &me), n + 1);
    /* an older map (dominated) is fine: it makes a sibling */
    CU_ASSERT_EQUAL(wr("map", sl("v3"), &map, 1, 0, &vv), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&vv, &me), n + 2);
    dk_vv_free(&vv);
    dk_vv_free(&map);
    dk_buf_free(&before);
    dk_buf_free(&after);
}

static void test_size_limit(void)
{
    const dk_actor me = node.actor;    /* the actor the store stamps writes with */
    size_t third = MAX_OBJ / 2 - 2048; /* two fit, three do not */
    char *big = malloc(third);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'x', third);
    dk_slice v = {(const uint8_t *)big, third};
    dk_buf before = DK_BUF_INIT, after = DK_BUF_INIT, enc = DK_BUF_INIT;
    dk_vv vv;
    dk_vv_init(&vv);
    CU_ASSERT_EQUAL(wr("big", v, NULL, 0, 0, NULL), 0);
    CU_ASSERT_EQUAL(wr("big", v, NULL, 0, 0, &vv), 0); /* two siblings */
    stored("big", &before);
    CU_ASSERT_TRUE(before.len <= MAX_OBJ);
    CU_ASSERT_EQUAL(wr("big", v, NULL, 0, 0, NULL), DK_ETOOBIG); /* a third: refused */
    stored("big", &after);
    CU_ASSERT_TRUE(same(&before, &after));
    /* a replica's copy with a sibling this node lacks: the merge is refused
     * whole, alone or in a streamed batch */
    dk_actor other;
    CU_ASSERT_EQUAL(dk_actor_set(&other, "n9", 1), 0);
    one_sibling(&other, 1, v, &enc);
    int changed = 1;
    CU_ASSERT_EQUAL(dk_store_merge(node.store, sl("big"), dk_buf_slice(&enc), &changed), DK_ETOOBIG);
    CU_ASSERT_EQUAL(changed, 0);
    dk_slice keys[1] = {sl("big")}, encs[1] = {dk_buf_slice(&enc)};
    size_t nchanged = 9, skipped = 9;
    CU_ASSERT_EQUAL(dk_store_merge_batch(node.store, keys, encs, 1, &nchanged, &skipped), 0);
    CU_ASSERT_EQUAL(nchanged, 0);
    CU_ASSERT_EQUAL(skipped, 1);
    stored("big", &after);
    CU_ASSERT_TRUE(same(&before, &after));
    /* an object over the limit is not stored from a replica either */
    dk_buf huge = DK_BUF_INIT;
    char *hv = calloc(1, MAX_OBJ + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hv);
    one_sibling(&other, 1, (dk_slice){(const uint8_t *)hv, MAX_OBJ + 1}, &huge);
    CU_ASSERT_EQUAL(dk_store_merge(node.store, sl("absent"), dk_buf_slice(&huge), &changed), DK_ETOOBIG);
    stored("absent", &after);
    CU_ASSERT_EQUAL(after.len, 0);
    /* resolving with the context of a read is taken, and then the merge fits */
    CU_ASSERT_EQUAL(wr("big", sl("resolved"), &vv, 0, 0, &vv), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&vv, &me), 3);
    CU_ASSERT_EQUAL(dk_store_merge(node.store, sl("big"), dk_buf_slice(&enc), &changed), 0);
    CU_ASSERT_EQUAL(changed, 1);
    free(hv);
    free(big);
    dk_vv_free(&vv);
    dk_buf_free(&huge);
    dk_buf_free(&enc);
    dk_buf_free(&before);
    dk_buf_free(&after);
}

static void test_read_fence(void)
{
    dk_buf raw = DK_BUF_INIT, enc = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    dk_vv vv1, vv2;
    dk_vv_init(&vv1);
    dk_vv_init(&vv2);
    CU_ASSERT_EQUAL(wr("fenced", sl("one"), NULL, 0, 0, &vv1), 0);
    dk_store_set_read_fence(node.store, 1);
    CU_ASSERT_EQUAL(dk_store_get(node.store, sl("fenced"), &raw, &o), DK_EUNAVAILABLE);
    CU_ASSERT_EQUAL(raw.len, 0);
    int rc = dk_store_try_get(node.store, sl("fenced"), &raw, &o);
    CU_ASSERT_EQUAL(rc, DK_EUNAVAILABLE);
    /* a write with the first version's context supersedes it: it read the
     * stored object through the fence */
    CU_ASSERT_EQUAL(wr("fenced", sl("two"), &vv1, 0, 0, &vv2), 0);
    dk_actor other = {.node = "n9", .incarnation = 1};
    one_sibling(&other, 1, sl("three"), &enc);
    int changed = 0;
    CU_ASSERT_EQUAL(dk_store_merge(node.store, sl("fenced-merge"), dk_buf_slice(&enc), &changed), 0);
    CU_ASSERT_EQUAL(changed, 1);
    dk_store_set_read_fence(node.store, 0);
    CU_ASSERT_EQUAL_FATAL(dk_store_get(node.store, sl("fenced"), &raw, &o), 0);
    CU_ASSERT_EQUAL(o.n_sib, 1);
    dk_object_free(&o);
    dk_object_init(&o);
    CU_ASSERT_EQUAL(dk_store_get(node.store, sl("fenced-merge"), &raw, &o), 0);
    dk_object_free(&o);
    dk_vv_free(&vv1);
    dk_vv_free(&vv2);
    dk_buf_free(&raw);
    dk_buf_free(&enc);
}

/* A token of the first byte alone: 'b' is (b << 56, 0). */
static void first_byte_token(dk_slice key, uint64_t *hi, uint64_t *lo)
{
    *hi = key.len ? (uint64_t)key.ptr[0] << 56 : 0;
    *lo = 0;
}

static dk_store_span span(char a, char b)
{
    return (dk_store_span){(uint64_t)(unsigned char)a << 56, 0, (uint64_t)(unsigned char)b << 56, 0};
}

static int fenced_key(const char *k)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    int rc = dk_store_get(node.store, sl(k), &raw, &o);
    dk_object_free(&o);
    dk_buf_free(&raw);
    return rc == DK_EUNAVAILABLE;
}

static void test_span_fence(void)
{
    const char *keys[] = {"a-key", "b-key", "c-key", "d-key", "y-key"};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(wr(keys[i], sl("v"), NULL, 0, 0, NULL), 0);
    dk_store_span f[2] = {span('a', 'c'), span('x', 'a')}; /* (a, c] and the wrapping (x, a] */
    CU_ASSERT_EQUAL(dk_store_set_span_fence(node.store, first_byte_token, f, 2), 0);
    CU_ASSERT_FALSE(dk_store_read_fenced(node.store)); /* not the whole store */
    CU_ASSERT_TRUE(fenced_key("a-key"));               /* (x, a] holds a */
    CU_ASSERT_TRUE(fenced_key("b-key"));
    CU_ASSERT_TRUE(fenced_key("c-key"));
    CU_ASSERT_FALSE(fenced_key("d-key"));
    CU_ASSERT_TRUE(fenced_key("y-key"));
    dk_store_span s1 = span('c', 'd'), s2 = span('b', 'e'), s3 = span('d', 'w'), s4 = span('w', 'y');
    dk_store_span all = span('q', 'q');
    CU_ASSERT_FALSE(dk_store_span_fenced(node.store, &s1)); /* (c, d] shares no token with (a, c] */
    CU_ASSERT_TRUE(dk_store_span_fenced(node.store, &s2));
    CU_ASSERT_FALSE(dk_store_span_fenced(node.store, &s3));
    CU_ASSERT_TRUE(dk_store_span_fenced(node.store, &s4));  /* meets (x, a] */
    CU_ASSERT_TRUE(dk_store_span_fenced(node.store, &all)); /* the whole circle */
    CU_ASSERT_EQUAL(dk_store_set_span_fence(node.store, first_byte_token, NULL, 0), 0);
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_FALSE(fenced_key(keys[i]));
    CU_ASSERT_FALSE(dk_store_span_fenced(node.store, &all));
}

/* An engine that does not check its own checksums (the memory engine has
 * no DK_ENGINE_CAP_VERIFIED): the object's CRC is checked on every read,
 * so a damaged value is found once, by the store; and it lends nothing,
 * so the lending read says so and the copying one serves. */
static void test_damage_found_without_engine_checksums(void)
{
    const dk_actor me = node.actor;
    CU_ASSERT_FALSE(node.engine_ops->caps & DK_ENGINE_CAP_VERIFIED);
    dk_buf enc = DK_BUF_INIT, raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    one_sibling(&me, 3, sl("a value of some length"), &enc);
    enc.data[enc.len - 2] ^= 0x20; /* in the value */
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = sl("damaged"), .value = dk_buf_slice(&enc)};
    dk_batch b = {&op, 1};
    CU_ASSERT_EQUAL_FATAL(node.engine_ops->write(node.engine, &b, 0), 0);
    CU_ASSERT_EQUAL(dk_store_get(node.store, sl("damaged"), &raw, &o), DK_ECORRUPT);
    int rc = dk_store_try_get(node.store, sl("damaged"), &raw, &o);
    CU_ASSERT_TRUE(rc == DK_ECORRUPT || rc == -EAGAIN);
    dk_slice lent;
    void *pin = (void *)1;
    CU_ASSERT_EQUAL(dk_store_try_get_lent(node.store, sl("damaged"), &lent, &o, &pin), DK_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(pin);
    /* The same bytes undamaged read back. */
    enc.data[enc.len - 2] ^= 0x20;
    CU_ASSERT_EQUAL_FATAL(node.engine_ops->write(node.engine, &b, 0), 0);
    CU_ASSERT_EQUAL(dk_store_get(node.store, sl("damaged"), &raw, &o), 0);
    CU_ASSERT_EQUAL(o.n_sib, 1);
    dk_object_free(&o);
    dk_buf_free(&raw);
    dk_buf_free(&enc);
}

static CU_TestInfo store_tests[] = {
    {"no engine checksums: the object CRC finds damage", test_damage_found_without_engine_checksums},
    {"the read fence: no reads, writes and merges go on", test_read_fence},
    {"the fence of token spans: only their keys and scans", test_span_fence},
    {"a counter at its maximum: refused, nothing written, another node writes", test_counter_max},
    {"a token context advances a counter at most DK_STORE_CONTEXT_AHEAD", test_context_clamped},
    {"a JSON-map context must be dominated by the stored version", test_map_context},
    {"max_object_size: writes and merges refused before anything is written", test_size_limit},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "store limits", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = store_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
