/*
 * tc_crdt.h - what test-crdt.c and test-crdt-laws.c share: the crdt
 * resolver loaded from $DYNKV_PLUGIN_PATH (tc_plugin_find) and opened
 * against the node's own host by the suite's init, replicas kept as
 * encodings the way the store keeps them (apply an operation, merge two
 * copies, compare), a client's view of a value as text (show), and
 * one-line operations per type (add1, rm1, inc, assign, map_op).
 *
 * Header-only with static state, like tc_cluster.h: each program is one
 * file and CUnit's suite init and cleanup take no argument.
 */
#ifndef DK_TEST_TC_CRDT_H
#define DK_TEST_TC_CRDT_H
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

static inline int suite_init(void)
{
    dk_host_init(&fake_host, &fake_ctx);
    P.ops = tc_plugin_find(DK_PLUGIN_CONFLICT, "crdt", &P.dl);
    if (!P.ops || !DK_OPS_HAS(P.ops, value) || !DK_OPS_HAS(P.ops, release))
        return -1;
    return P.ops->open(&fake_host, NULL, &P.r);
}

static inline int suite_clean(void)
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
static inline void load(const dk_buf *raw, dk_object *o)
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
static inline void store(dk_object *out, dk_buf *raw)
{
    dk_buf enc = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_object_encode_typed(out, DK_OBJECT_CRDT, &enc), 0);
    P.ops->release(P.r, out);
    dk_object_free(out);
    dk_buf_free(raw);
    *raw = enc;
}

/* Apply op at replica raw as coordinated by node at time now. */
static inline int apply(dk_buf *raw, const char *node, int64_t now, dk_crdt_op *op)
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
static inline void merge(dk_buf *dst, const dk_buf *a, const dk_buf *b)
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

static inline void copy(dk_buf *dst, const dk_buf *src)
{
    dk_buf_reset(dst);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(dst, src->data, src->len), 0);
}

static inline int same(const dk_buf *a, const dk_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ---- what a client reads, as text -------------------------------------------------- */

static inline void value_sink(void *arg, dk_slice v)
{
    dk_buf *b = arg;
    dk_buf_reset(b);
    CU_ASSERT_EQUAL(dk_buf_append(b, v.ptr, v.len), 0);
}

static inline void render_value(const dk_crdt_value *v, char *out, size_t len)
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
static inline const char *show(const dk_buf *raw)
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

static inline dk_crdt_op op_inc(int64_t n)
{
    return (dk_crdt_op){.type = DK_CRDT_COUNTER, .delta = n};
}

static inline dk_crdt_op op_set(uint8_t kind, dk_slice *elems, uint32_t n)
{
    return (dk_crdt_op){.type = DK_CRDT_SET, .set_kind = kind, .elems = elems, .n_elems = n};
}

static inline dk_crdt_op op_reg(const char *text)
{
    return (dk_crdt_op){.type = DK_CRDT_REGISTER, .text = {(const uint8_t *)text, strlen(text)}};
}

/* Shorthands for one-element set operations. */
static inline int add1(dk_buf *raw, const char *node, int64_t now, const char *e)
{
    dk_slice s = {(const uint8_t *)e, strlen(e)};
    dk_crdt_op op = op_set(DK_CRDT_SET_ADD, &s, 1);
    return apply(raw, node, now, &op);
}

static inline int rm1(dk_buf *raw, const char *node, int64_t now, const char *e)
{
    dk_slice s = {(const uint8_t *)e, strlen(e)};
    dk_crdt_op op = op_set(DK_CRDT_SET_REMOVE, &s, 1);
    return apply(raw, node, now, &op);
}

static inline int inc(dk_buf *raw, const char *node, int64_t n)
{
    dk_crdt_op op = op_inc(n);
    return apply(raw, node, NOW, &op);
}

static inline int assign(dk_buf *raw, const char *node, int64_t now, const char *text)
{
    dk_crdt_op op = op_reg(text);
    return apply(raw, node, now, &op);
}

/* A map operation updating one field and/or removing one. */
static inline int map_op(dk_buf *raw, const char *node, int64_t now, const char *field, dk_crdt_op fop,
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

static inline void free_all(dk_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dk_buf_free(&b[i]);
}

#endif /* DK_TEST_TC_CRDT_H */
