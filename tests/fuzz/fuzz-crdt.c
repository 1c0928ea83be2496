/*
 * fuzz-crdt.c - libFuzzer target for the CRDT parsers of untrusted bytes:
 * the operation and value encodings (framework/util/crdt_codec.c; an
 * operation arrives from a peer in a forwarded write) and the crdt
 * resolver's state inside a CRDT object (conflict/crdt, compiled in and
 * reached through its dynkv_plugin_entry as a node reaches it; a state
 * arrives from a replica).
 *
 * The first byte picks the parser: 0 an operation, 1 a value, anything
 * else the rest is an encoded object (object.h). Beyond "never crash" it
 * checks what the decoders promise: a decoded operation or value
 * re-encodes to the same bytes; a CRDT object the resolver accepts merges
 * with itself into itself (idempotence) and renders a value that decodes;
 * an operation applied to it either is refused or yields an object that
 * merges with the original into that result (the update only added). A
 * violated property aborts.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined with the sources
 * listed in tests/fuzz/targets.txt.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dynkv/conflict.h"
#include "dynkv/plugin.h"
#include "node/object.h"
#include "util/crdt_codec.h"
#include "util/vv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const dk_plugin *dynkv_plugin_entry(void);

static void fz_check(int ok)
{
    if (!ok)
        abort();
}

static void fz_op(dk_slice in)
{
    dk_crdt_op op;
    dk_buf again = DK_BUF_INIT;
    int rc = dk_crdt_op_decode(in, &op);
    if (rc) {
        fz_check(rc == DK_ECORRUPT || rc == -ENOMEM);
        return;
    }
    fz_check(dk_crdt_op_encode(&op, &again) == 0);
    fz_check(again.len == in.len && memcmp(again.data, in.ptr, in.len) == 0);
    dk_crdt_op_free(&op);
    dk_buf_free(&again);
}

static void fz_value(dk_slice in)
{
    dk_crdt_value v;
    dk_buf again = DK_BUF_INIT;
    int rc = dk_crdt_value_decode(in, &v);
    if (rc) {
        fz_check(rc == DK_ECORRUPT || rc == -ENOMEM);
        return;
    }
    fz_check(dk_crdt_value_encode(&v, &again) == 0);
    fz_check(again.len == in.len && memcmp(again.data, in.ptr, in.len) == 0);
    dk_crdt_value_free(&v);
    dk_buf_free(&again);
}

static void fz_sink(void *arg, dk_slice v)
{
    dk_crdt_value d;
    (void)arg;
    fz_check(dk_crdt_value_decode(v, &d) == 0);
    dk_crdt_value_free(&d);
}

/* Encode a resolver output and release it. */
static void fz_encode(const dk_conflict_ops *ops, dk_resolver *r, dk_object *o, dk_buf *out)
{
    fz_check(dk_object_encode_typed(o, DK_OBJECT_CRDT, out) == 0);
    ops->release(r, o);
    dk_object_free(o);
}

static void fz_state(dk_slice in)
{
    static const dk_plugin *p;
    static dk_resolver *r;
    static const dk_host host = {.struct_size = sizeof(dk_host), .object = &dk__object_api};
    if (!p) {
        p = dynkv_plugin_entry();
        fz_check(((const dk_conflict_ops *)p->ops)->open(&host, NULL, &r) == 0);
    }
    const dk_conflict_ops *ops = p->ops;
    dk_object o, m, u, mu;
    dk_object_header h;
    dk_object_init(&o);
    if (dk_object_decode(in, &o, NULL, 0) != 0 || dk_object_peek(in, &h) != 0 || h.type != DK_OBJECT_CRDT) {
        dk_object_free(&o);
        return;
    }
    dk_object_init(&m);
    int rc = ops->merge(r, &o, &o, &m);
    if (rc) {
        fz_check(rc == DK_ECORRUPT || rc == -ENOMEM);
        dk_object_free(&m);
        dk_object_free(&o);
        return;
    }
    /* Accepted: idempotent, and it has a value. */
    dk_buf me = DK_BUF_INIT, ue = DK_BUF_INIT, mue = DK_BUF_INIT;
    fz_encode(ops, r, &m, &me);
    fz_check(me.len == in.len && memcmp(me.data, in.ptr, in.len) == 0);
    fz_check(ops->value(r, &o, fz_sink, NULL) == 0);

    /* An operation of each type: refused, or an object that merges with
     * the original into itself. */
    static const uint8_t opbytes[4][8] = {
        {DK_CRDT_FORMAT, DK_CRDT_COUNTER, 3},
        {DK_CRDT_FORMAT, DK_CRDT_SET, DK_CRDT_SET_ADD, 1, 1, 'z'},
        {DK_CRDT_FORMAT, DK_CRDT_REGISTER, 1, 'r'},
        {DK_CRDT_FORMAT, DK_CRDT_MAP, 1, 1, 'f', DK_CRDT_COUNTER, 2, 0},
    };
    static const size_t oplen[4] = {3, 6, 4, 8};
    for (int k = 0; k < 4; k++) {
        dk_write w = {.now_ms = 1700000000000LL, .value = {opbytes[k], oplen[k]}};
        fz_check(dk_actor_set(&w.actor, "fz", 1) == 0);
        dk_object_init(&u);
        rc = ops->update(r, &o, &w, &u);
        if (rc) {
            fz_check(rc == DK_EWRONGTYPE || rc == DK_ETOOBIG || rc == -ERANGE || rc == -EOVERFLOW ||
                     rc == -ENOMEM);
            dk_object_free(&u);
            continue;
        }
        dk_buf_reset(&ue);
        fz_encode(ops, r, &u, &ue);
        dk_object_init(&u);
        fz_check(dk_object_decode(dk_buf_slice(&ue), &u, NULL, 0) == 0);
        dk_object_init(&mu);
        fz_check(ops->merge(r, &o, &u, &mu) == 0);
        dk_buf_reset(&mue);
        fz_encode(ops, r, &mu, &mue);
        fz_check(mue.len == ue.len && memcmp(mue.data, ue.data, ue.len) == 0);
        dk_object_free(&u);
    }
    dk_buf_free(&me);
    dk_buf_free(&ue);
    dk_buf_free(&mue);
    dk_object_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    dk_slice in = {data + 1, size - 1};
    if (data[0] == 0)
        fz_op(in);
    else if (data[0] == 1)
        fz_value(in);
    else
        fz_state(in);
    return 0;
}
