/*
 * test-resolvers.c - the vclock and lww conflict resolvers, loaded with
 * dlopen from $DYNKV_PLUGIN_PATH exactly as a node loads them, driven
 * through scripted scenarios (PostgreSQL isolation-spec style): which
 * client writes what, with which context, through which node, in which
 * order, and what a read must then return.
 *
 * Clients carry contexts the way HTTP clients do: the object's vv turned
 * into a token (dk_context_encode) and parsed back, so the scenarios also
 * cover the token path. The host passed to the plugins is a tiny fake; the
 * resolvers are pure and call none of it.
 */
#include <CUnit/CUnit.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dynkv/plugin.h"
#include "dynkv/conflict.h"
#include "node/context.h"
#include "node/host.h"
#include "util/vv.h"

#include "tc_plugin.h"

/* The node's own host: resolvers build their output with its object
 * helpers (dk_host.object), and the tests free it with util/vv.h, the
 * same code. */
static dk_host_ctx fake_ctx;
static dk_host fake_host;

typedef struct plug {
    void *dl;
    const dk_conflict_ops *ops;
    dk_resolver *r;
} plug;

/* Load conflict-<name>.so and open a resolver with conf (NULL = defaults). */
static int plug_open(plug *p, const char *name, const dk_conflict_conf *conf)
{
    memset(p, 0, sizeof(*p));
    if (!fake_host.struct_size)
        dk_host_init(&fake_host, &fake_ctx);
    if (!(p->ops = tc_plugin_find(DK_PLUGIN_CONFLICT, name, &p->dl)))
        return -1;
    if (p->ops->struct_size < sizeof(dk_conflict_ops) || !p->ops->open || !p->ops->close || !p->ops->update ||
        !p->ops->merge)
        return -1;
    return p->ops->open(&fake_host, conf, &p->r);
}

static void plug_close(plug *p)
{
    if (p->r)
        p->ops->close(p->r);
    if (p->dl)
        dlclose(p->dl);
    memset(p, 0, sizeof(*p));
}

static const uint8_t rkey[DK_CONTEXT_KEY_LEN] = {7};

/* A client's context as it travels: the object's vv as a token, parsed. */
static void ctx_of(const dk_object *o, dk_vv *ctx)
{
    dk_buf tok = DK_BUF_INIT;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(dk_context_encode(rkey, &o->vv, &tok), 0);
    CU_ASSERT_EQUAL_FATAL(
        dk_context_decode(rkey, (const char *)tok.data, tok.len, ctx, NULL, err, sizeof(err)), 0);
    dk_buf_free(&tok);
}

/* Client write (value NULL = delete) through node at time now, with
 * context ctx (NULL = blind). On success *obj becomes the result. */
static int put(plug *p, dk_object *obj, const dk_vv *ctx, const char *node, int64_t now, const char *value)
{
    dk_write w = {.context = ctx,
                  .now_ms = now,
                  .flags = value ? 0 : DK_SIB_TOMBSTONE,
                  .value = {(const uint8_t *)value, value ? strlen(value) : 0}};
    CU_ASSERT_FATAL(dk_actor_set(&w.actor, node, 1) == 0);
    dk_object out;
    dk_object_init(&out);
    int rc = p->ops->update(p->r, obj, &w, &out);
    if (rc) {
        dk_object_free(&out);
        return rc;
    }
    dk_object_free(obj);
    *obj = out;
    return 0;
}

/* Replica merge into *out (replaced). */
static void merge(plug *p, const dk_object *a, const dk_object *b, dk_object *out)
{
    dk_object m;
    dk_object_init(&m);
    CU_ASSERT_EQUAL_FATAL(p->ops->merge(p->r, a, b, &m), 0);
    dk_object_free(out);
    *out = m;
}

/* What a read returns: live values sorted and joined with ',', "" for
 * not found. */
static const char *read_values(const dk_object *o, int64_t now)
{
    static char out[512];
    const char *v[64];
    int n = 0;
    for (uint32_t i = 0; i < o->n_sib && n < 64; i++) {
        const dk_sibling *s = &o->sib[i];
        if ((s->flags & DK_SIB_TOMBSTONE) || (s->expiry_ms && s->expiry_ms <= now))
            continue;
        v[n++] = (const char *)s->value.ptr; /* test values are C strings */
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            const char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strncat(out, ",", sizeof(out) - strlen(out) - 1);
        strncat(out, v[i], sizeof(out) - strlen(out) - 1);
    }
    return out;
}

/* Structural equality: same vv (times included) and same siblings in the
 * same order. */
static int same(const dk_object *a, const dk_object *b)
{
    if (a->vv.n != b->vv.n || a->n_sib != b->n_sib)
        return 0;
    for (uint32_t i = 0; i < a->vv.n; i++)
        if (dk_actor_cmp(&a->vv.e[i].actor, &b->vv.e[i].actor) || a->vv.e[i].counter != b->vv.e[i].counter ||
            a->vv.e[i].time_ms != b->vv.e[i].time_ms)
            return 0;
    for (uint32_t i = 0; i < a->n_sib; i++) {
        const dk_sibling *x = &a->sib[i], *y = &b->sib[i];
        if (dk_actor_cmp(&x->actor, &y->actor) || x->counter != y->counter ||
            x->write_time_ms != y->write_time_ms || x->flags != y->flags || x->value.len != y->value.len ||
            (x->value.len && memcmp(x->value.ptr, y->value.ptr, x->value.len)))
            return 0;
    }
    return 1;
}

#define NOW 1700000000000

static void test_descriptors(void)
{
    plug p;
    CU_ASSERT_EQUAL(plug_open(&p, "vclock", NULL), 0);
    plug_close(&p);
    dk_conflict_conf old = {.struct_size = 4}; /* an older, shorter conf: defaults */
    CU_ASSERT_EQUAL(plug_open(&p, "lww", &old), 0);
    plug_close(&p);
}

/* (1) A writes v1 with no context; B reads it and writes v2 with v1's
 * context: v2 replaces v1. */
static void scenario_replace(const char *resolver)
{
    plug p;
    dk_object obj;
    dk_vv ctx;
    dk_object_init(&obj);
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, resolver, NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW, "v1"), 0); /* A: put v1 */
    CU_ASSERT_EQUAL(obj.n_sib, 1);
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW), "v1");
    ctx_of(&obj, &ctx);                                           /* B: get -> ctx */
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx, "n1", NOW + 1, "v2"), 0); /* B: put v2, ctx */
    CU_ASSERT_EQUAL(obj.n_sib, 1);
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW + 1), "v2");
    CU_ASSERT_TRUE(dk_vv_descends(&obj.vv, &ctx) && dk_vv_compare(&obj.vv, &ctx) == DK_VV_AFTER);
    dk_vv_free(&ctx);
    dk_object_free(&obj);
    plug_close(&p);
}

static void test_replace_vclock(void)
{
    scenario_replace("vclock");
}
static void test_replace_lww(void)
{
    scenario_replace("lww");
}

/* (2) A and B read the same version and both write through n1: vclock keeps
 * both, lww the later; a write with the context read afterwards resolves. */
static void scenario_same_context(const char *resolver, const char *expect)
{
    plug p;
    dk_object obj;
    dk_vv ctx1, ctx2;
    dk_object_init(&obj);
    dk_vv_init(&ctx1);
    dk_vv_init(&ctx2);
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, resolver, NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW, "v1"), 0);
    ctx_of(&obj, &ctx1);                                           /* A and B: get */
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx1, "n1", NOW + 10, "a"), 0); /* A: put a, ctx1 */
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx1, "n1", NOW + 20, "b"), 0); /* B: put b, ctx1 */
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW + 20), expect);
    ctx_of(&obj, &ctx2);                                           /* C: get -> ctx2 */
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx2, "n1", NOW + 30, "c"), 0); /* C: put c, ctx2 */
    CU_ASSERT_EQUAL(obj.n_sib, 1);
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW + 30), "c");
    dk_vv_free(&ctx1);
    dk_vv_free(&ctx2);
    dk_object_free(&obj);
    plug_close(&p);
}

static void test_same_context_vclock(void)
{
    scenario_same_context("vclock", "a,b");
}
static void test_same_context_lww(void)
{
    scenario_same_context("lww", "b");
}

/* (3) Replicas r1 (node n1) and r2 (n2) share v1, diverge during a
 * partition, r3 (n3) takes a third write; merges agree in every order. */
static void scenario_partition(const char *resolver, const char *expect2, const char *expect3)
{
    plug p;
    dk_object r1, r2, r3, m12, m21, mm, t, u;
    dk_vv ctx;
    dk_object *all[] = {&r1, &r2, &r3, &m12, &m21, &mm, &t, &u};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        dk_object_init(all[i]);
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, resolver, NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &r1, NULL, "n1", NOW, "v1"), 0);
    CU_ASSERT_EQUAL(dk_object_copy(&r2, &r1), 0); /* replicated */
    CU_ASSERT_EQUAL(dk_object_copy(&r3, &r1), 0);
    ctx_of(&r1, &ctx);
    /* partition: n1 | n2 | n3 */
    CU_ASSERT_EQUAL(put(&p, &r1, &ctx, "n1", NOW + 5, "x"), 0);
    CU_ASSERT_EQUAL(put(&p, &r2, &ctx, "n2", NOW + 7, "y"), 0);
    CU_ASSERT_EQUAL(put(&p, &r3, &ctx, "n3", NOW + 6, "z"), 0);
    /* heal: commutative */
    merge(&p, &r1, &r2, &m12);
    merge(&p, &r2, &r1, &m21);
    CU_ASSERT_TRUE(same(&m12, &m21));
    CU_ASSERT_STRING_EQUAL(read_values(&m12, NOW + 10), expect2);
    /* idempotent, and a stale copy changes nothing */
    merge(&p, &m12, &m12, &mm);
    CU_ASSERT_TRUE(same(&mm, &m12));
    merge(&p, &m12, &r1, &mm);
    CU_ASSERT_TRUE(same(&mm, &m12));
    /* associative: (r1 r2) r3 == r1 (r2 r3) == (r3 r1) r2 */
    merge(&p, &m12, &r3, &t);
    merge(&p, &r2, &r3, &mm);
    merge(&p, &r1, &mm, &u);
    CU_ASSERT_TRUE(same(&t, &u));
    merge(&p, &r3, &r1, &mm);
    merge(&p, &mm, &r2, &u);
    CU_ASSERT_TRUE(same(&t, &u));
    CU_ASSERT_STRING_EQUAL(read_values(&t, NOW + 10), expect3);
    /* a client reading the merged object and writing resolves everything */
    ctx_of(&t, &ctx);
    CU_ASSERT_EQUAL(put(&p, &t, &ctx, "n2", NOW + 20, "resolved"), 0);
    CU_ASSERT_EQUAL(t.n_sib, 1);
    merge(&p, &t, &r3, &u); /* the old r3 copy does not bring z back */
    CU_ASSERT_STRING_EQUAL(read_values(&u, NOW + 20), "resolved");
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        dk_object_free(all[i]);
    dk_vv_free(&ctx);
    plug_close(&p);
}

static void test_partition_vclock(void)
{
    scenario_partition("vclock", "x,y", "x,y,z");
}
static void test_partition_lww(void)
{
    scenario_partition("lww", "y", "y");
}

/* (4) Blind writes pile up siblings until max_siblings; the next is refused
 * and the stored object is unchanged; a resolving write still works. */
static void test_max_siblings(void)
{
    plug p;
    dk_object obj;
    dk_vv ctx;
    dk_object_init(&obj);
    dk_vv_init(&ctx);
    dk_conflict_conf conf = {.struct_size = sizeof(conf), .max_siblings = 3};
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, "vclock", &conf), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW, "s1"), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW + 1, "s2"), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n2", NOW + 2, NULL), 0); /* a tombstone does not count */
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW + 3, "s3"), 0);
    CU_ASSERT_EQUAL(obj.n_sib, 4);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW + 4, "s4"), DK_ESIBLINGS);
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW + 4), "s1,s2,s3");
    ctx_of(&obj, &ctx);
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx, "n1", NOW + 5, "one"), 0);
    CU_ASSERT_EQUAL(obj.n_sib, 1);
    plug_close(&p);
    /* lww never piles up */
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, "lww", &conf), 0);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW + 10 + i, "w"), 0);
    CU_ASSERT_EQUAL(obj.n_sib, 1);
    plug_close(&p);
    dk_vv_free(&ctx);
    dk_object_free(&obj);
}

/* (5) A delete with the read context supersedes the value (read: not
 * found); a delete and a put concurrent with it stay siblings (vclock), on
 * one node and across replicas. */
static void test_delete(void)
{
    plug p;
    dk_object obj, r1, r2, m;
    dk_vv ctx;
    dk_object_init(&obj);
    dk_object_init(&r1);
    dk_object_init(&r2);
    dk_object_init(&m);
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, "vclock", NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW, "v1"), 0);
    ctx_of(&obj, &ctx);
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx, "n1", NOW + 1, NULL), 0); /* delete, ctx */
    CU_ASSERT_EQUAL(obj.n_sib, 1);
    CU_ASSERT_TRUE(obj.sib[0].flags & DK_SIB_TOMBSTONE);
    CU_ASSERT_EQUAL(dk_object_live_count(&obj, NOW + 1), 0); /* not found */
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW + 1), "");

    /* same node: A deletes with ctx1, B puts with ctx1 */
    dk_object_free(&obj);
    CU_ASSERT_EQUAL(put(&p, &obj, NULL, "n1", NOW, "v1"), 0);
    ctx_of(&obj, &ctx);
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx, "n1", NOW + 1, NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &obj, &ctx, "n1", NOW + 2, "p"), 0);
    CU_ASSERT_EQUAL(obj.n_sib, 2);
    CU_ASSERT_EQUAL(dk_object_live_count(&obj, NOW + 2), 1);
    CU_ASSERT_STRING_EQUAL(read_values(&obj, NOW + 2), "p");

    /* across replicas: delete on r1, put on r2, then merge */
    dk_object_free(&obj);
    CU_ASSERT_EQUAL(put(&p, &r1, NULL, "n1", NOW, "v1"), 0);
    CU_ASSERT_EQUAL(dk_object_copy(&r2, &r1), 0);
    ctx_of(&r1, &ctx);
    CU_ASSERT_EQUAL(put(&p, &r1, &ctx, "n1", NOW + 1, NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &r2, &ctx, "n2", NOW + 1, "p"), 0);
    merge(&p, &r1, &r2, &m);
    CU_ASSERT_EQUAL(m.n_sib, 2);
    CU_ASSERT_STRING_EQUAL(read_values(&m, NOW + 2), "p");
    merge(&p, &r2, &r1, &obj);
    CU_ASSERT_TRUE(same(&m, &obj));
    plug_close(&p);

    /* lww: the later of a concurrent delete and put wins */
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, "lww", NULL), 0);
    merge(&p, &r1, &r2, &m);
    CU_ASSERT_EQUAL(m.n_sib, 1);
    CU_ASSERT_STRING_EQUAL(read_values(&m, NOW + 2), "p"); /* equal times: n2 > n1 */
    plug_close(&p);
    dk_object_free(&obj);
    dk_object_free(&r1);
    dk_object_free(&r2);
    dk_object_free(&m);
    dk_vv_free(&ctx);
}

/* (6) lww: equal timestamps are decided by node id, the same way in both
 * merge orders; and a write coordinated by a lagging clock still wins over
 * the value its client read. */
static void test_lww_ties_and_skew(void)
{
    plug p;
    dk_object r1, r2, m, m2;
    dk_vv ctx;
    dk_object_init(&r1);
    dk_object_init(&r2);
    dk_object_init(&m);
    dk_object_init(&m2);
    dk_vv_init(&ctx);
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, "lww", NULL), 0);
    CU_ASSERT_EQUAL(put(&p, &r1, NULL, "node-b", NOW, "from-b"), 0);
    CU_ASSERT_EQUAL(put(&p, &r2, NULL, "node-a", NOW, "from-a"), 0);
    CU_ASSERT_EQUAL(r1.sib[0].write_time_ms, r2.sib[0].write_time_ms);
    merge(&p, &r1, &r2, &m);
    merge(&p, &r2, &r1, &m2);
    CU_ASSERT_STRING_EQUAL(read_values(&m, NOW), "from-b");
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_EQUAL(m.vv.n, 2); /* both writes are in the causal history */

    /* skew: a client read from-b (written at NOW on node-b) and writes
     * through node-a whose clock is 5 s behind */
    ctx_of(&m, &ctx);
    dk_object_free(&r2);
    CU_ASSERT_EQUAL(put(&p, &r2, &ctx, "node-a", NOW - 5000, "newer"), 0);
    CU_ASSERT_TRUE(r2.sib[0].write_time_ms > NOW);
    merge(&p, &r2, &r1, &m2);
    CU_ASSERT_STRING_EQUAL(read_values(&m2, NOW), "newer");
    plug_close(&p);
    dk_object_free(&r1);
    dk_object_free(&r2);
    dk_object_free(&m);
    dk_object_free(&m2);
    dk_vv_free(&ctx);
}

/* vclock prunes the vv after an update, never below the siblings' dots. */
static void test_vclock_prunes(void)
{
    plug p;
    dk_object obj;
    dk_vv ctx;
    dk_object_init(&obj);
    dk_vv_init(&ctx);
    dk_conflict_conf conf = {.struct_size = sizeof(conf), .vv_prune_entries = 2};
    CU_ASSERT_EQUAL_FATAL(plug_open(&p, "vclock", &conf), 0);
    const char *nodes[] = {"n1", "n2", "n3", "n4"};
    for (int i = 0; i < 4; i++) {
        ctx_of(&obj, &ctx);
        CU_ASSERT_EQUAL(put(&p, &obj, &ctx, nodes[i], NOW + i, nodes[i]), 0);
    }
    CU_ASSERT_EQUAL(obj.vv.n, 2);
    CU_ASSERT_EQUAL(dk_vv_get(&obj.vv, &obj.sib[0].actor), 1); /* n4's dot kept */
    CU_ASSERT_STRING_EQUAL(obj.sib[0].actor.node, "n4");
    /* five concurrent blind writes: every dot actor stays */
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(put(&p, &obj, NULL, nodes[i], NOW + 10 + i, "c"), 0);
    CU_ASSERT_EQUAL(obj.n_sib, 5);
    for (uint32_t i = 0; i < obj.n_sib; i++)
        CU_ASSERT_TRUE(dk_vv_covers(&obj.vv, &obj.sib[i].actor, obj.sib[i].counter));
    plug_close(&p);
    dk_object_free(&obj);
    dk_vv_free(&ctx);
}

static CU_TestInfo resolver_tests[] = {
    {"descriptors load and open", test_descriptors},
    {"(1) write with context replaces: vclock", test_replace_vclock},
    {"(1) write with context replaces: lww", test_replace_lww},
    {"(2) same context, same node: vclock keeps both", test_same_context_vclock},
    {"(2) same context, same node: lww keeps one", test_same_context_lww},
    {"(3) partition and merge orders: vclock", test_partition_vclock},
    {"(3) partition and merge orders: lww", test_partition_lww},
    {"(4) max_siblings refuses the next write", test_max_siblings},
    {"(5) delete with context, concurrent delete and put", test_delete},
    {"(6) lww ties by node id, clock skew", test_lww_ties_and_skew},
    {"vclock prunes the vv, keeping dot actors", test_vclock_prunes},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "resolvers", .pTests = resolver_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
