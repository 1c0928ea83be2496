/*
 * test-crdt.c - the crdt conflict resolver (conflict/crdt), loaded with
 * dlopen from $DYNKV_PLUGIN_PATH as a node loads it (tc_plugin.h) and driven the way the
 * framework drives it: objects live as encodings (typed CRDT, object.h),
 * every update or merge output is encoded and then released.
 *
 * Scenarios are scripted step by step (which node applies which operation
 * to which replica, which copies meet) for every type: counter, set
 * (add-wins, removes only what was observed), register (hybrid logical
 * clocks under clock skew), map (update-wins over a concurrent remove,
 * fields of two types). Random histories over three replicas check that
 * merge is commutative, associative and idempotent and that replicas
 * converge. The metadata of a set after 10 000 adds and 10 000 removes is
 * measured and printed.
 */
#include <CUnit/CUnit.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dynkv/conflict.h"
#include "dynkv/crdt.h"
#include "dynkv/plugin.h"
#include "node/host.h"
#include "node/object.h"
#include "util/crdt_codec.h"
#include "util/cursor.h"
#include "util/vv.h"

#include "tc_plugin.h"

#define S(text) ((dk_slice){(const uint8_t *)(text), sizeof(text) - 1})
#define NOW 1700000000000LL

/* The node's own host: the resolver builds its outputs with its object
 * helpers, which the tests free with util/vv.h, the same code. */
static dk_host_ctx fake_ctx;
static dk_host fake_host;

static struct {
    void *dl;
    const dk_conflict_ops *ops;
    dk_resolver *r;
} P;

static int suite_init(void)
{
    dk_host_init(&fake_host, &fake_ctx);
    P.ops = tc_plugin_find(DK_PLUGIN_CONFLICT, "crdt", &P.dl);
    if (!P.ops || !DK_OPS_HAS(P.ops, value) || !DK_OPS_HAS(P.ops, release))
        return -1;
    return P.ops->open(&fake_host, NULL, &P.r);
}

static int suite_clean(void)
{
    if (P.r)
        P.ops->close(P.r);
    if (P.dl)
        dlclose(P.dl);
    memset(&P, 0, sizeof(P));
    return 0;
}

/* ---- replicas: encoded objects, as the store keeps them ------------------------ */

/* Decode an encoded replica (must be a CRDT object) into *o. */
static void load(const dk_buf *raw, dk_object *o)
{
    dk_object_header h;
    dk_object_init(o);
    if (raw->len == 0)
        return;
    CU_ASSERT_EQUAL_FATAL(dk_object_peek(dk_buf_slice(raw), &h), 0);
    CU_ASSERT_EQUAL_FATAL(h.type, DK_OBJECT_CRDT);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(raw), o, NULL, 0), 0);
}

/* Encode a resolver output into *raw (replaced), then release it. */
static void store(dk_object *out, dk_buf *raw)
{
    dk_buf enc = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_object_encode_typed(out, DK_OBJECT_CRDT, &enc), 0);
    P.ops->release(P.r, out);
    dk_object_free(out);
    dk_buf_free(raw);
    *raw = enc;
}

/* Apply op at replica raw as coordinated by node at time now. */
static int apply(dk_buf *raw, const char *node, int64_t now, dk_crdt_op *op)
{
    dk_object cur, out;
    dk_buf enc = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_canon(op), 0);
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_encode(op, &enc), 0);
    dk_write w = {.now_ms = now, .value = dk_buf_slice(&enc)};
    CU_ASSERT_FATAL(dk_actor_set(&w.actor, node, 1) == 0);
    load(raw, &cur);
    dk_object_init(&out);
    int rc = P.ops->update(P.r, &cur, &w, &out);
    if (rc == 0)
        store(&out, raw);
    else
        dk_object_free(&out);
    dk_object_free(&cur);
    dk_buf_free(&enc);
    return rc;
}

/* *dst = merge(a, b); dst may be a or b. */
static void merge(dk_buf *dst, const dk_buf *a, const dk_buf *b)
{
    dk_object x, y, out;
    load(a, &x);
    load(b, &y);
    dk_object_init(&out);
    CU_ASSERT_EQUAL_FATAL(P.ops->merge(P.r, &x, &y, &out), 0);
    dk_buf tmp = DK_BUF_INIT;
    store(&out, &tmp);
    dk_object_free(&x);
    dk_object_free(&y);
    dk_buf_free(dst);
    *dst = tmp;
}

static void copy(dk_buf *dst, const dk_buf *src)
{
    dk_buf_reset(dst);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(dst, src->data, src->len), 0);
}

static int same(const dk_buf *a, const dk_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ---- what a client reads, as text -------------------------------------------------- */

static void value_sink(void *arg, dk_slice v)
{
    dk_buf *b = arg;
    dk_buf_reset(b);
    CU_ASSERT_EQUAL(dk_buf_append(b, v.ptr, v.len), 0);
}

static void render_value(const dk_crdt_value *v, char *out, size_t len)
{
    size_t at = strlen(out);
    switch (v->type) {
    case DK_CRDT_COUNTER: snprintf(out + at, len - at, "%lld", (long long)v->count); break;
    case DK_CRDT_REGISTER:
        snprintf(out + at, len - at, "'%.*s'", (int)v->text.len, (const char *)v->text.ptr);
        break;
    case DK_CRDT_SET:
        strncat(out, "{", len - strlen(out) - 1);
        for (uint32_t i = 0; i < v->n_elems; i++) {
            at = strlen(out);
            snprintf(out + at, len - at, "%s%.*s", i ? "," : "", (int)v->elems[i].len,
                     (const char *)v->elems[i].ptr);
        }
        strncat(out, "}", len - strlen(out) - 1);
        break;
    case DK_CRDT_MAP:
        strncat(out, "[", len - strlen(out) - 1);
        for (uint32_t i = 0; i < v->n_fields; i++) {
            at = strlen(out);
            snprintf(out + at, len - at, "%s%.*s=", i ? " " : "", (int)v->fields[i].name.len,
                     (const char *)v->fields[i].name.ptr);
            render_value(&v->fields[i].value, out, len);
        }
        strncat(out, "]", len - strlen(out) - 1);
        break;
    }
}

/* The value of a replica as text: 12, {a,b}, 'text', [f=1 g={a}]. */
static const char *show(const dk_buf *raw)
{
    static char out[4096];
    dk_object o;
    dk_buf enc = DK_BUF_INIT;
    dk_crdt_value v;
    out[0] = '\0';
    load(raw, &o);
    CU_ASSERT_EQUAL_FATAL(P.ops->value(P.r, &o, value_sink, &enc), 0);
    CU_ASSERT_EQUAL_FATAL(dk_crdt_value_decode(dk_buf_slice(&enc), &v), 0);
    render_value(&v, out, sizeof(out));
    dk_crdt_value_free(&v);
    dk_object_free(&o);
    dk_buf_free(&enc);
    return out;
}

/* ---- operations ------------------------------------------------------------------------ */

static dk_crdt_op op_inc(int64_t n)
{
    return (dk_crdt_op){.type = DK_CRDT_COUNTER, .delta = n};
}

static dk_crdt_op op_set(uint8_t kind, dk_slice *elems, uint32_t n)
{
    return (dk_crdt_op){.type = DK_CRDT_SET, .set_kind = kind, .elems = elems, .n_elems = n};
}

static dk_crdt_op op_reg(const char *text)
{
    return (dk_crdt_op){.type = DK_CRDT_REGISTER, .text = {(const uint8_t *)text, strlen(text)}};
}

/* Shorthands for one-element set operations. */
static int add1(dk_buf *raw, const char *node, int64_t now, const char *e)
{
    dk_slice s = {(const uint8_t *)e, strlen(e)};
    dk_crdt_op op = op_set(DK_CRDT_SET_ADD, &s, 1);
    return apply(raw, node, now, &op);
}

static int rm1(dk_buf *raw, const char *node, int64_t now, const char *e)
{
    dk_slice s = {(const uint8_t *)e, strlen(e)};
    dk_crdt_op op = op_set(DK_CRDT_SET_REMOVE, &s, 1);
    return apply(raw, node, now, &op);
}

static int inc(dk_buf *raw, const char *node, int64_t n)
{
    dk_crdt_op op = op_inc(n);
    return apply(raw, node, NOW, &op);
}

static int assign(dk_buf *raw, const char *node, int64_t now, const char *text)
{
    dk_crdt_op op = op_reg(text);
    return apply(raw, node, now, &op);
}

/* A map operation updating one field and/or removing one. */
static int map_op(dk_buf *raw, const char *node, int64_t now, const char *field, dk_crdt_op fop,
                  const char *remove)
{
    dk_crdt_field_op f = {.name = {(const uint8_t *)(field ? field : ""), field ? strlen(field) : 0},
                          .op = fop};
    dk_slice rm = {(const uint8_t *)(remove ? remove : ""), remove ? strlen(remove) : 0};
    dk_crdt_op op = {.type = DK_CRDT_MAP,
                     .fields = field ? &f : NULL,
                     .n_fields = field ? 1 : 0,
                     .removes = remove ? &rm : NULL,
                     .n_removes = remove ? 1 : 0};
    return apply(raw, node, now, &op);
}

static void free_all(dk_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dk_buf_free(&b[i]);
}

/* ---- counters ----------------------------------------------------------------------------- */

static void test_counter(void)
{
    dk_buf r[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT}, m = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&r[0], "n1", 5), 0);
    CU_ASSERT_STRING_EQUAL(show(&r[0]), "5");
    CU_ASSERT_EQUAL(inc(&r[0], "n1", -2), 0);
    CU_ASSERT_STRING_EQUAL(show(&r[0]), "3");
    copy(&r[1], &r[0]);
    copy(&r[2], &r[0]);
    /* three coordinators increment concurrently */
    CU_ASSERT_EQUAL(inc(&r[0], "n1", 10), 0);
    CU_ASSERT_EQUAL(inc(&r[1], "n2", 100), 0);
    CU_ASSERT_EQUAL(inc(&r[1], "n2", -1), 0);
    CU_ASSERT_EQUAL(inc(&r[2], "n3", 1000), 0);
    merge(&m, &r[0], &r[1]);
    CU_ASSERT_STRING_EQUAL(show(&m), "112");
    merge(&m, &m, &r[2]);
    CU_ASSERT_STRING_EQUAL(show(&m), "1112");
    /* stale copies change nothing; duplicates count once */
    dk_buf again = DK_BUF_INIT;
    merge(&again, &m, &r[1]);
    merge(&again, &again, &r[0]);
    CU_ASSERT_TRUE(same(&again, &m));
    /* an increment of 0 creates nothing but is valid; extremes saturate */
    dk_buf big = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&big, "n1", 0), 0);
    CU_ASSERT_STRING_EQUAL(show(&big), "0");
    CU_ASSERT_EQUAL(inc(&big, "n1", INT64_MAX), 0);
    CU_ASSERT_EQUAL(inc(&big, "n2", INT64_MAX), 0);
    CU_ASSERT_STRING_EQUAL(show(&big), "9223372036854775807");
    CU_ASSERT_EQUAL(inc(&big, "n1", INT64_MAX), 0);       /* n1's sum: 2^64 - 2 */
    CU_ASSERT_EQUAL(inc(&big, "n1", INT64_MAX), -ERANGE); /* one actor's sum would wrap */
    CU_ASSERT_STRING_EQUAL(show(&big), "9223372036854775807");
    dk_buf neg = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&neg, "n1", INT64_MIN), 0);
    CU_ASSERT_STRING_EQUAL(show(&neg), "-9223372036854775808");
    CU_ASSERT_EQUAL(inc(&neg, "n2", INT64_MIN), 0);
    CU_ASSERT_STRING_EQUAL(show(&neg), "-9223372036854775808");
    CU_ASSERT_EQUAL(inc(&neg, "n2", 5), 0);
    CU_ASSERT_STRING_EQUAL(show(&neg), "-9223372036854775808");
    dk_buf_free(&neg);
    free_all(r, 3);
    dk_buf_free(&m);
    dk_buf_free(&again);
    dk_buf_free(&big);
}

/* ---- sets ---------------------------------------------------------------------------------------- */

static void test_set_add_wins(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    dk_slice abc[] = {S("c"), S("a"), S("b"), S("a")};
    dk_crdt_op op = op_set(DK_CRDT_SET_ADD, abc, 4);
    CU_ASSERT_EQUAL(apply(&r1, "n1", NOW, &op), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "{a,b,c}");
    copy(&r2, &r1);
    /* n1 removes a while n2 adds a again: the add n1 did not see wins */
    CU_ASSERT_EQUAL(rm1(&r1, "n1", NOW + 1, "a"), 0);
    CU_ASSERT_EQUAL(add1(&r2, "n2", NOW + 1, "a"), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "{b,c}");
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "{a,b,c}");
    /* n1 removes b, n2 does nothing with b: the remove holds */
    CU_ASSERT_EQUAL(rm1(&r1, "n1", NOW + 2, "b"), 0);
    merge(&m, &m, &r1);
    CU_ASSERT_STRING_EQUAL(show(&m), "{a,c}");
    /* an old copy that still holds b does not bring it back */
    dk_buf old = DK_BUF_INIT;
    copy(&old, &r2);
    merge(&m, &m, &old);
    CU_ASSERT_STRING_EQUAL(show(&m), "{a,c}");
    /* a remove after seeing both adds of a removes it everywhere */
    CU_ASSERT_EQUAL(rm1(&m, "n3", NOW + 3, "a"), 0);
    merge(&m, &m, &r2);
    merge(&m, &r1, &m);
    CU_ASSERT_STRING_EQUAL(show(&m), "{c}");
    /* remove everything: the set exists, empty; adding again works */
    CU_ASSERT_EQUAL(rm1(&m, "n1", NOW + 4, "c"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "{}");
    CU_ASSERT_EQUAL(add1(&m, "n2", NOW + 5, "c"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "{c}");
    /* removing what is absent, and an empty add, are no-ops on the value */
    CU_ASSERT_EQUAL(rm1(&m, "n2", NOW + 6, "zz"), 0);
    dk_crdt_op none = op_set(DK_CRDT_SET_ADD, NULL, 0);
    CU_ASSERT_EQUAL(apply(&m, "n2", NOW + 7, &none), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "{c}");
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
    dk_buf_free(&old);
}

/* Elements are bytes: empty, UTF-8, a prefix of another; the value is
 * sorted bytewise. */
static void test_set_order(void)
{
    dk_buf r = DK_BUF_INIT;
    dk_slice e[] = {S("\xc3\xa9t\xc3\xa9"), S("b"), S(""), S("ba"), S("B")};
    dk_crdt_op op = op_set(DK_CRDT_SET_ADD, e, 5);
    CU_ASSERT_EQUAL(apply(&r, "n1", NOW, &op), 0);
    CU_ASSERT_STRING_EQUAL(show(&r), "{,B,b,ba,\xc3\xa9t\xc3\xa9}");
    dk_buf_free(&r);
}

/* ---- registers ------------------------------------------------------------------------------------- */

/* A node whose clock runs an hour ahead wins only the races against
 * writes that had not seen its own. */
static void test_register_skew(void)
{
    dk_buf fast = DK_BUF_INIT, slow = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    /* n9's clock runs one hour ahead. It assigns first. */
    const int64_t HOUR = 3600 * 1000;
    CU_ASSERT_EQUAL(assign(&fast, "n9", NOW + HOUR, "from the future"), 0);
    CU_ASSERT_STRING_EQUAL(show(&fast), "'from the future'");
    /* n1 (right clock) has seen it and assigns: the later write wins,
     * although its wall clock is an hour behind the first one's. */
    copy(&slow, &fast);
    CU_ASSERT_EQUAL(assign(&slow, "n1", NOW + 10, "later"), 0);
    merge(&m, &fast, &slow);
    merge(&m2, &slow, &fast);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "'later'");
    /* and again: n1 writes twice in the same millisecond, each wins */
    CU_ASSERT_EQUAL(assign(&m, "n1", NOW + 10, "again"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "'again'");
    CU_ASSERT_EQUAL(assign(&m, "n1", NOW + 10, "and again"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "'and again'");
    /* Concurrent: n9 (fast) and n1 assign without seeing each other. The
     * fast clock wins this race ... */
    copy(&slow, &m);
    copy(&fast, &m);
    CU_ASSERT_EQUAL(assign(&fast, "n9", NOW + HOUR + 20, "fast wins the race"), 0);
    CU_ASSERT_EQUAL(assign(&slow, "n1", NOW + 20, "slow loses the race"), 0);
    merge(&m, &slow, &fast);
    CU_ASSERT_STRING_EQUAL(show(&m), "'fast wins the race'");
    /* ... but n1's next write has seen n9's timestamp through the merged
     * state and wins, through any node. */
    CU_ASSERT_EQUAL(assign(&m, "n1", NOW + 30, "slow after seeing it"), 0);
    merge(&m, &m, &fast);
    CU_ASSERT_STRING_EQUAL(show(&m), "'slow after seeing it'");
    /* Two writes that both saw the fast node's x are concurrent with each
     * other: both take x's wall time with logical 1 (HLC), never an hour
     * less, and the tie goes to the higher dot (n2). */
    dk_buf a = DK_BUF_INIT;
    CU_ASSERT_EQUAL(assign(&a, "n9", NOW + HOUR, "x"), 0);
    dk_buf b = DK_BUF_INIT;
    copy(&b, &a);
    CU_ASSERT_EQUAL(assign(&b, "n1", NOW, "y"), 0); /* saw x: replaces it */
    CU_ASSERT_EQUAL(assign(&a, "n2", NOW, "z"), 0); /* saw x too, concurrent with y */
    merge(&m, &a, &b);
    merge(&m2, &b, &a);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "'z'");
    dk_buf_free(&fast);
    dk_buf_free(&slow);
    dk_buf_free(&m);
    dk_buf_free(&m2);
    dk_buf_free(&a);
    dk_buf_free(&b);
}

/* ---- maps ---------------------------------------------------------------------------------------------- */

static void test_map(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    dk_slice tags[] = {S("x"), S("y")};
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "visits", op_inc(2), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "tags", op_set(DK_CRDT_SET_ADD, tags, 2), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "name", op_reg("ann"), NULL), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "[name='ann' tags={x,y} visits=2]");
    /* an operation of another type on a field: refused, nothing changes */
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "visits", op_reg("oops"), NULL), DK_EWRONGTYPE);
    CU_ASSERT_STRING_EQUAL(show(&r1), "[name='ann' tags={x,y} visits=2]");
    /* a map operation on a map key of another type: refused */
    CU_ASSERT_EQUAL(inc(&r1, "n1", 1), DK_EWRONGTYPE);

    copy(&r2, &r1);
    /* n1 removes visits while n2 increments it: update wins, with n2's
     * increment only (what n1 had seen is gone) */
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW + 1, NULL, op_inc(0), "visits"), 0);
    CU_ASSERT_STRING_EQUAL(show(&r1), "[name='ann' tags={x,y}]");
    CU_ASSERT_EQUAL(map_op(&r2, "n2", NOW + 1, "visits", op_inc(5), NULL), 0);
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='ann' tags={x,y} visits=5]");
    /* removing the last element of a set field removes the field */
    dk_crdt_op rm = op_set(DK_CRDT_SET_REMOVE, tags, 2);
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 2, "tags", rm, NULL), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='ann' visits=5]");
    /* an update and a removal in one operation */
    dk_crdt_field_op f = {.name = S("name"), .op = op_reg("bob")};
    dk_slice gone[] = {S("visits"), S("never-there")};
    dk_crdt_op both = {.type = DK_CRDT_MAP, .fields = &f, .n_fields = 1, .removes = gone, .n_removes = 2};
    CU_ASSERT_EQUAL(apply(&m, "n2", NOW + 3, &both), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='bob']");
    /* a removed field comes back empty: old state does not reappear */
    CU_ASSERT_EQUAL(map_op(&m, "n2", NOW + 4, "visits", op_inc(1), NULL), 0);
    merge(&m, &m, &r2);
    CU_ASSERT_STRING_EQUAL(show(&m), "[name='bob' visits=1]");
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
}

/* Two coordinators create one field name with two types: both states are
 * kept, a read shows the higher type, operations must use it, and a
 * remove clears both. */
static void test_map_field_types(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    dk_slice e[] = {S("e")};
    CU_ASSERT_EQUAL(map_op(&r1, "n1", NOW, "f", op_inc(7), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&r2, "n2", NOW, "f", op_set(DK_CRDT_SET_ADD, e, 1), NULL), 0);
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "[f={e}]");
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 1, "f", op_inc(1), NULL), DK_EWRONGTYPE);
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 1, "f", op_set(DK_CRDT_SET_ADD, e, 1), NULL), 0);
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 2, NULL, op_inc(0), "f"), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[]");
    CU_ASSERT_EQUAL(map_op(&m, "n1", NOW + 3, "f", op_inc(1), NULL), 0);
    CU_ASSERT_STRING_EQUAL(show(&m), "[f=1]");
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
}

/* Two coordinators create one key as two CRDT types: the higher type's
 * state wins on every replica; operations of the lower type are refused. */
static void test_key_types(void)
{
    dk_buf r1 = DK_BUF_INIT, r2 = DK_BUF_INIT, m = DK_BUF_INIT, m2 = DK_BUF_INIT;
    CU_ASSERT_EQUAL(inc(&r1, "n1", 3), 0);
    CU_ASSERT_EQUAL(add1(&r2, "n2", NOW, "s"), 0);
    CU_ASSERT_EQUAL(add1(&r1, "n1", NOW, "s"), DK_EWRONGTYPE);
    CU_ASSERT_EQUAL(assign(&r2, "n1", NOW, "x"), DK_EWRONGTYPE);
    merge(&m, &r1, &r2);
    merge(&m2, &r2, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    CU_ASSERT_STRING_EQUAL(show(&m), "{s}");
    CU_ASSERT_EQUAL(inc(&m, "n1", 1), DK_EWRONGTYPE);
    merge(&m2, &m, &r1);
    CU_ASSERT_TRUE(same(&m, &m2));
    dk_buf_free(&r1);
    dk_buf_free(&r2);
    dk_buf_free(&m);
    dk_buf_free(&m2);
}

/* ---- refusals ---------------------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    dk_object empty, out;
    dk_object_init(&empty);
    dk_object_init(&out);
    dk_write w = {.now_ms = NOW, .value = S("not an op")};
    CU_ASSERT_FATAL(dk_actor_set(&w.actor, "n1", 1) == 0);
    CU_ASSERT_EQUAL(P.ops->update(P.r, &empty, &w, &out), -EINVAL);
    static const uint8_t inc1[] = {DK_CRDT_FORMAT, DK_CRDT_COUNTER, 2};
    w.value = (dk_slice){inc1, sizeof(inc1)};
    w.flags = DK_SIB_TOMBSTONE;
    CU_ASSERT_EQUAL(P.ops->update(P.r, &empty, &w, &out), -EINVAL);
    w.flags = 0;
    w.expiry_ms = NOW + 1000;
    CU_ASSERT_EQUAL(P.ops->update(P.r, &empty, &w, &out), -EINVAL);
    w.expiry_ms = 0;
    CU_ASSERT_EQUAL_FATAL(P.ops->update(P.r, &empty, &w, &out), 0);
    CU_ASSERT_EQUAL(out.n_sib, 1);
    CU_ASSERT_EQUAL(out.vv.n, 1);
    CU_ASSERT_EQUAL(out.sib[0].counter, 1);

    /* a damaged state: every single-bit flip of the value is refused or
     * still a state (then merge and value work on it) */
    dk_buf val = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk_buf_append(&val, out.sib[0].value.ptr, out.sib[0].value.len), 0);
    P.ops->release(P.r, &out);
    unsigned handled = 0, tried = 0;
    for (size_t i = 0; i < val.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            dk_object d, m;
            dk_object_init(&d);
            dk_object_init(&m);
            CU_ASSERT_EQUAL_FATAL(dk_object_copy(&d, &out), 0);
            val.data[i] ^= (uint8_t)(1u << bit);
            d.sib[0].value = dk_buf_slice(&val);
            int rc = P.ops->merge(P.r, &d, &d, &m);
            tried++;
            handled += rc == DK_ECORRUPT || rc == 0;
            if (rc == 0)
                P.ops->release(P.r, &m);
            val.data[i] ^= (uint8_t)(1u << bit);
            dk_object_free(&m);
            dk_object_free(&d);
        }
    }
    CU_ASSERT_EQUAL(handled, tried);
    /* a sibling that is a tombstone, or two siblings: not a CRDT object */
    dk_object bad;
    dk_object_init(&bad);
    CU_ASSERT_EQUAL_FATAL(dk_object_copy(&bad, &out), 0);
    bad.sib[0].value = dk_buf_slice(&val);
    bad.sib[0].flags = DK_SIB_TOMBSTONE;
    dk_object m;
    dk_object_init(&m);
    CU_ASSERT_EQUAL(P.ops->merge(P.r, &bad, &bad, &m), DK_ECORRUPT);
    bad.sib[0].flags = 0;
    CU_ASSERT_EQUAL(dk_object_add_sibling(&bad, &bad.sib[0]), 0);
    CU_ASSERT_EQUAL(P.ops->merge(P.r, &bad, &bad, &m), DK_ECORRUPT);
    /* a dot the context has not seen */
    dk_object_free(&bad);
    CU_ASSERT_EQUAL_FATAL(dk_object_copy(&bad, &out), 0);
    bad.sib[0].value = dk_buf_slice(&val);
    bad.vv.e[0].counter = 0;
    bad.vv.n = 0;
    CU_ASSERT_EQUAL(P.ops->merge(P.r, &bad, &bad, &m), DK_ECORRUPT);
    dk_object_free(&bad);
    dk_object_free(&m);
    dk_object_free(&out);
    dk_buf_free(&val);
}

/* A state is capped at DK_CRDT_STATE_MAX after an operation. */
static void test_state_limit(void)
{
    dk_buf r = DK_BUF_INIT;
    char *big = malloc(DK_CRDT_STATE_MAX);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'x', DK_CRDT_STATE_MAX);
    big[DK_CRDT_STATE_MAX - 1] = '\0';
    CU_ASSERT_EQUAL(assign(&r, "n1", NOW, big), DK_ETOOBIG);
    CU_ASSERT_EQUAL(r.len, 0);
    big[DK_CRDT_STATE_MAX - 100] = '\0';
    CU_ASSERT_EQUAL(assign(&r, "n1", NOW, big), 0);
    free(big);
    dk_buf_free(&r);
}

/* ---- join properties on random histories ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const nodes[] = {"n1", "n2", "n3"};
static dk_slice universe[] = {S("a"), S("b"), S("c"), S("d")};
static const char *const fields[] = {"f", "g", "h"};

/* A random operation of type t (map fields may take any other type, so
 * that field type conflicts happen too). */
static int random_op(dk_buf *raw, const char *node, int64_t now, uint8_t t)
{
    dk_slice pick[2] = {universe[rnd(4)], universe[rnd(4)]};
    uint8_t kind = rnd(3) ? DK_CRDT_SET_ADD : DK_CRDT_SET_REMOVE;
    switch (t) {
    case DK_CRDT_COUNTER: return inc(raw, node, (int64_t)rnd(21) - 10);
    case DK_CRDT_SET: {
        dk_crdt_op op = op_set(kind, pick, 1 + rnd(2));
        return apply(raw, node, now, &op);
    }
    case DK_CRDT_REGISTER: {
        char text[16];
        snprintf(text, sizeof(text), "v%u", rnd(1000));
        return assign(raw, node, now, text);
    }
    default: {
        const char *field = fields[rnd(3)];
        if (rnd(4) == 0)
            return map_op(raw, node, now, NULL, op_inc(0), field);
        uint8_t ft = (uint8_t)(1 + rnd(3));
        char text[16];
        snprintf(text, sizeof(text), "w%u", rnd(1000));
        dk_crdt_op fop = ft == DK_CRDT_COUNTER ? op_inc((int64_t)rnd(5))
                         : ft == DK_CRDT_SET   ? op_set(kind, pick, 1 + rnd(2))
                                               : op_reg(text);
        int rc = map_op(raw, node, now, field, fop, NULL);
        return rc == DK_EWRONGTYPE ? 0 : rc;
    }
    }
}

/* Random histories: operations at three replicas (clocks skewed by up to a
 * second), random pairwise merges; at every step three copies are taken
 * and the merge laws checked byte for byte on the encodings. */
static void check_laws(uint8_t type, int mixed_types)
{
    dk_buf r[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT};
    dk_buf ab = DK_BUF_INIT, ba = DK_BUF_INIT, x = DK_BUF_INIT, y = DK_BUF_INIT, aa = DK_BUF_INIT;
    unsigned checks = 0;
    for (int k = 0; k < 3; k++) {
        uint8_t t = mixed_types ? (uint8_t)(1 + k) : type;
        CU_ASSERT_EQUAL_FATAL(random_op(&r[k], nodes[k], NOW, t), 0);
    }
    for (int step = 0; step < 300; step++) {
        int i = (int)rnd(3), j = (int)rnd(3);
        int64_t now = NOW + step * 10 + (int64_t)rnd(2000) - 1000;
        if (rnd(3)) {
            int rc = random_op(&r[i], nodes[i], now, mixed_types ? (uint8_t)(1 + rnd(4)) : type);
            CU_ASSERT_TRUE(rc == 0 || rc == DK_EWRONGTYPE);
        } else if (i != j) {
            merge(&r[i], &r[i], &r[j]);
        }
        /* commutative, idempotent, associative */
        merge(&ab, &r[0], &r[1]);
        merge(&ba, &r[1], &r[0]);
        CU_ASSERT_TRUE(same(&ab, &ba));
        merge(&aa, &r[2], &r[2]);
        CU_ASSERT_TRUE(same(&aa, &r[2]));
        merge(&aa, &ab, &r[0]);
        CU_ASSERT_TRUE(same(&aa, &ab)); /* a stale copy changes nothing */
        merge(&x, &ab, &r[2]);
        merge(&y, &r[1], &r[2]);
        merge(&y, &r[0], &y);
        CU_ASSERT_TRUE(same(&x, &y));
        checks += 4;
    }
    /* gossip until everyone has everything: all equal */
    merge(&x, &r[0], &r[1]);
    merge(&x, &x, &r[2]);
    for (int k = 0; k < 3; k++) {
        merge(&y, &r[k], &x);
        CU_ASSERT_TRUE(same(&y, &x));
    }
    CU_ASSERT_EQUAL(checks, 1200);
    free_all(r, 3);
    dk_buf_free(&ab);
    dk_buf_free(&ba);
    dk_buf_free(&x);
    dk_buf_free(&y);
    dk_buf_free(&aa);
}

static void test_laws_counter(void)
{
    check_laws(DK_CRDT_COUNTER, 0);
}
static void test_laws_set(void)
{
    check_laws(DK_CRDT_SET, 0);
}
static void test_laws_register(void)
{
    check_laws(DK_CRDT_REGISTER, 0);
}
static void test_laws_map(void)
{
    check_laws(DK_CRDT_MAP, 0);
}
static void test_laws_mixed(void)
{
    check_laws(0, 1);
}

/* Concurrent increments through three coordinators, merged in random
 * orders with duplicates: every replica ends at the exact sum. */
static void test_counter_exact(void)
{
    dk_buf r[3] = {DK_BUF_INIT, DK_BUF_INIT, DK_BUF_INIT}, all = DK_BUF_INIT;
    int64_t sum = 0;
    for (int step = 0; step < 600; step++) {
        int i = (int)rnd(3);
        if (rnd(4)) {
            int64_t d = (int64_t)rnd(7) - 2;
            CU_ASSERT_EQUAL(inc(&r[i], nodes[i], d), 0);
            sum += d;
        } else {
            int j = (int)rnd(3);
            if (r[j].len && r[i].len)
                merge(&r[i], &r[i], &r[j]);
            else if (r[j].len)
                copy(&r[i], &r[j]);
        }
    }
    merge(&all, &r[0], &r[1]);
    merge(&all, &all, &r[2]);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)sum);
    CU_ASSERT_STRING_EQUAL(show(&all), want);
    free_all(r, 3);
    dk_buf_free(&all);
}

/* ---- metadata -------------------------------------------------------------------------------------------------- */

/* Set batch[0..100) to the elements "<prefix>-<base + k>". */
static void make_batch(dk_slice *batch, char (*text)[16], const char *prefix, int base)
{
    for (int k = 0; k < 100; k++) {
        snprintf(text[k], sizeof(text[k]), "%s-%05d", prefix, base + k);
        batch[k] = (dk_slice){(const uint8_t *)text[k], strlen(text[k])};
    }
}

static void test_metadata_bound(void)
{
    dk_buf gone = DK_BUF_INIT, kept = DK_BUF_INIT;
    dk_slice batch[100];
    char text[100][16];
    /* (a) 10 000 adds, then 10 000 removes of the same elements, one
     * element per operation, through three coordinators in turn: what is
     * left is the version vector, nothing per element. */
    for (int i = 0; i < 10000; i++) {
        snprintf(text[0], sizeof(text[0]), "x%08d", i);
        CU_ASSERT_EQUAL_FATAL(add1(&gone, nodes[i % 3], NOW + i, text[0]), 0);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(text[0], sizeof(text[0]), "x%08d", i);
        CU_ASSERT_EQUAL_FATAL(rm1(&gone, nodes[(i + 1) % 3], NOW + 10000 + i, text[0]), 0);
    }
    CU_ASSERT_STRING_EQUAL(show(&gone), "{}");
    printf("\n# crdt set metadata: 10000 adds then 10000 removes (one element each, 3 coordinators): "
           "object %zu bytes in all, %.4f bytes per element added and removed\n",
           gone.len, (double)gone.len / 10000.0);
    CU_ASSERT_TRUE(gone.len < 128);

    /* (b) 10 000 elements present after 20 000 adds and 10 000 removes
     * (batches of 100 through three coordinators): bytes of the whole
     * object beyond the elements' own bytes. */
    size_t elem_bytes = 0;
    for (int b = 0; b < 100; b++) {
        make_batch(batch, text, "gone", b * 100);
        dk_crdt_op op = op_set(DK_CRDT_SET_ADD, batch, 100);
        CU_ASSERT_EQUAL_FATAL(apply(&kept, nodes[b % 3], NOW + b, &op), 0);
        make_batch(batch, text, "kept", b * 100);
        op = op_set(DK_CRDT_SET_ADD, batch, 100);
        CU_ASSERT_EQUAL_FATAL(apply(&kept, nodes[(b + 1) % 3], NOW + b, &op), 0);
        for (int k = 0; k < 100; k++)
            elem_bytes += batch[k].len;
    }
    for (int b = 0; b < 100; b++) {
        make_batch(batch, text, "gone", b * 100);
        dk_crdt_op op = op_set(DK_CRDT_SET_REMOVE, batch, 100);
        CU_ASSERT_EQUAL_FATAL(apply(&kept, nodes[(b + 2) % 3], NOW + 100 + b, &op), 0);
    }
    CU_ASSERT_EQUAL(strncmp(show(&kept), "{kept-00000,kept-00001,", 23), 0);
    size_t meta = kept.len - elem_bytes;
    printf("# crdt set metadata: 10000 elements present after 20000 adds and 10000 removes: "
           "object %zu bytes, elements %zu bytes, metadata %zu bytes = %.2f bytes per element\n",
           kept.len, elem_bytes, meta, (double)meta / 10000.0);
    CU_ASSERT_TRUE(meta < 10000 * 8);
    dk_buf_free(&gone);
    dk_buf_free(&kept);
}

static CU_TestInfo crdt_tests[] = {
    {"counter: increments, decrements, concurrent, saturation", test_counter},
    {"counter: exact sum through three coordinators", test_counter_exact},
    {"set: add wins, removes only what was seen", test_set_add_wins},
    {"set: elements are bytes, sorted", test_set_order},
    {"register: hybrid logical clocks under skew", test_register_skew},
    {"map: fields, update wins over remove", test_map},
    {"map: one name created with two types", test_map_field_types},
    {"key created as two types", test_key_types},
    {"refused writes and damaged states", test_refusals},
    {"state size limit", test_state_limit},
    {"merge laws: counter", test_laws_counter},
    {"merge laws: set", test_laws_set},
    {"merge laws: register", test_laws_register},
    {"merge laws: map", test_laws_map},
    {"merge laws: types mixed under one key", test_laws_mixed},
    {"metadata bound of a set", test_metadata_bound},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "crdt", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = crdt_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
