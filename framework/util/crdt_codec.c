/*
 * crdt_codec.c - the CRDT operation and value encodings (crdt_codec.h,
 * format in dynkv/crdt.h).
 *
 * Decoders treat their input as hostile (an operation arrives from a peer
 * in a forwarded write, a value from a plugin): every count is bounded by
 * the bytes left before anything is allocated, every string by the bytes
 * left, and every list must be strictly increasing, which refuses
 * duplicates and any second encoding in the same pass. Encoders check the
 * same rules, so what one side writes the other side reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/crdt_codec.h"
#include "util/cursor.h"

int dk_crdt_slice_qsort_cmp(const void *a, const void *b)
{
    return dk_slice_cmp(*(const dk_slice *)a, *(const dk_slice *)b);
}

const char *dk_crdt_type_name(int type)
{
    switch (type) {
    case DK_CRDT_COUNTER: return "counter";
    case DK_CRDT_SET: return "set";
    case DK_CRDT_REGISTER: return "register";
    case DK_CRDT_MAP: return "map";
    default: return NULL;
    }
}

/* ---- string lists --------------------------------------------------------- */

/* 1 when v[0..n) is strictly increasing (sorted, no duplicates) and every
 * string is at most DK_VALUE_MAX bytes. */
static int codec_increasing(const dk_slice *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i].len > DK_VALUE_MAX || (i && dk_slice_cmp(v[i - 1], v[i]) >= 0))
            return 0;
    return 1;
}

static int codec_name_ok(dk_slice s)
{
    return s.len >= 1 && s.len <= DK_CRDT_NAME_MAX;
}

/* Sort v and drop duplicates; *n becomes the new count. */
static void codec_sort_unique(dk_slice *v, uint32_t *n)
{
    if (*n < 2)
        return;
    qsort(v, *n, sizeof(*v), dk_crdt_slice_qsort_cmp);
    uint32_t k = 1;
    for (uint32_t i = 1; i < *n; i++)
        if (dk_slice_cmp(v[k - 1], v[i]) != 0)
            v[k++] = v[i];
    *n = k;
}

static void codec_write_list(dk_wr *w, const dk_slice *v, uint32_t n)
{
    dk_wr_uvar(w, n);
    for (uint32_t i = 0; i < n; i++)
        dk_wr_str(w, v[i]);
}

/* Read "uvar n, n x str" into a new array (NULL when n == 0); every string
 * at most max bytes, the list strictly increasing. 0 or -1 (r->bad set). */
static int codec_read_list(dk_rd *r, size_t max, int names, dk_slice **out, uint32_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    uint64_t n = dk_rd_uvar(r);
    /* Each string takes at least its length byte: bounds the allocation. */
    if (r->bad || n > dk_rd_left(r)) {
        r->bad = 1;
        return -1;
    }
    if (n == 0)
        return 0;
    dk_slice *v = calloc((size_t)n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        v[i] = dk_rd_str(r, max);
        if (names && !codec_name_ok(v[i]))
            r->bad = 1;
        if (r->bad || (i && dk_slice_cmp(v[i - 1], v[i]) >= 0)) {
            r->bad = 1;
            free(v);
            return -1;
        }
    }
    *out = v;
    *n_out = (uint32_t)n;
    return 0;
}

/* ---- operations ------------------------------------------------------------ */

static int codec_field_op_cmp(const void *a, const void *b)
{
    return dk_slice_cmp(((const dk_crdt_field_op *)a)->name, ((const dk_crdt_field_op *)b)->name);
}

int dk_crdt_op_canon(dk_crdt_op *op)
{
    if (op->type == DK_CRDT_SET)
        codec_sort_unique(op->elems, &op->n_elems);
    if (op->type != DK_CRDT_MAP)
        return 0;
    for (uint32_t i = 0; i < op->n_fields; i++)
        if (op->fields[i].op.type == DK_CRDT_SET)
            codec_sort_unique(op->fields[i].op.elems, &op->fields[i].op.n_elems);
    if (op->n_fields > 1)
        qsort(op->fields, op->n_fields, sizeof(*op->fields), codec_field_op_cmp);
    codec_sort_unique(op->removes, &op->n_removes);
    for (uint32_t i = 1; i < op->n_fields; i++)
        if (dk_slice_cmp(op->fields[i - 1].name, op->fields[i].name) == 0)
            return -EINVAL;
    /* Both lists sorted: one walk finds a name in both. */
    for (uint32_t i = 0, j = 0; i < op->n_fields && j < op->n_removes;) {
        int c = dk_slice_cmp(op->fields[i].name, op->removes[j]);
        if (c == 0)
            return -EINVAL;
        if (c < 0)
            i++;
        else
            j++;
    }
    return 0;
}

/* 1 when op (inside a map when nested) is valid and canonical. */
static int codec_op_ok(const dk_crdt_op *op, int nested)
{
    switch (op->type) {
    case DK_CRDT_COUNTER: return 1;
    case DK_CRDT_REGISTER: return op->text.len <= DK_VALUE_MAX;
    case DK_CRDT_SET:
        return (op->set_kind == DK_CRDT_SET_ADD || op->set_kind == DK_CRDT_SET_REMOVE) &&
               codec_increasing(op->elems, op->n_elems);
    case DK_CRDT_MAP:
        if (nested || !codec_increasing(op->removes, op->n_removes))
            return 0;
        for (uint32_t i = 0; i < op->n_fields; i++) {
            if (!codec_name_ok(op->fields[i].name) || !codec_op_ok(&op->fields[i].op, 1) ||
                (i && dk_slice_cmp(op->fields[i - 1].name, op->fields[i].name) >= 0))
                return 0;
        }
        for (uint32_t i = 0; i < op->n_removes; i++)
            if (!codec_name_ok(op->removes[i]))
                return 0;
        for (uint32_t i = 0, j = 0; i < op->n_fields && j < op->n_removes;) {
            int c = dk_slice_cmp(op->fields[i].name, op->removes[j]);
            if (c == 0)
                return 0;
            if (c < 0)
                i++;
            else
                j++;
        }
        return 1;
    default: return 0;
    }
}

static void codec_write_op_body(dk_wr *w, const dk_crdt_op *op)
{
    switch (op->type) {
    case DK_CRDT_COUNTER: dk_wr_svar(w, op->delta); break;
    case DK_CRDT_SET:
        dk_wr_u8(w, op->set_kind);
        codec_write_list(w, op->elems, op->n_elems);
        break;
    case DK_CRDT_REGISTER: dk_wr_str(w, op->text); break;
    case DK_CRDT_MAP:
        dk_wr_uvar(w, op->n_fields);
        for (uint32_t i = 0; i < op->n_fields; i++) {
            dk_wr_str(w, op->fields[i].name);
            dk_wr_u8(w, op->fields[i].op.type);
            codec_write_op_body(w, &op->fields[i].op);
        }
        codec_write_list(w, op->removes, op->n_removes);
        break;
    }
}

int dk_crdt_op_encode(const dk_crdt_op *op, dk_buf *out)
{
    if (!codec_op_ok(op, 0))
        return -EINVAL;
    size_t start = out->len;
    dk_wr w;
    dk_wr_init(&w, out);
    dk_wr_u8(&w, DK_CRDT_FORMAT);
    dk_wr_u8(&w, op->type);
    codec_write_op_body(&w, op);
    if (w.err)
        out->len = start;
    return w.err;
}

void dk_crdt_op_free(dk_crdt_op *op)
{
    free(op->elems);
    for (uint32_t i = 0; i < op->n_fields; i++)
        dk_crdt_op_free(&op->fields[i].op);
    free(op->fields);
    free(op->removes);
    memset(op, 0, sizeof(*op));
}

/* Read the body of an op of type op->type. 0, -1 (r->bad) or -ENOMEM. */
static int codec_read_op_body(dk_rd *r, dk_crdt_op *op, int nested)
{
    switch (op->type) {
    case DK_CRDT_COUNTER: op->delta = dk_rd_svar(r); return r->bad ? -1 : 0;
    case DK_CRDT_SET:
        op->set_kind = dk_rd_u8(r);
        if (op->set_kind != DK_CRDT_SET_ADD && op->set_kind != DK_CRDT_SET_REMOVE)
            r->bad = 1;
        return r->bad ? -1 : codec_read_list(r, DK_VALUE_MAX, 0, &op->elems, &op->n_elems);
    case DK_CRDT_REGISTER: op->text = dk_rd_str(r, DK_VALUE_MAX); return r->bad ? -1 : 0;
    case DK_CRDT_MAP: {
        if (nested)
            break;
        uint64_t n = dk_rd_uvar(r);
        /* A field takes at least 3 bytes (name length, name, type). */
        if (r->bad || n > dk_rd_left(r) / 3)
            break;
        if (n && !(op->fields = calloc((size_t)n, sizeof(*op->fields))))
            return -ENOMEM;
        for (uint64_t i = 0; i < n; i++) {
            dk_crdt_field_op *f = &op->fields[i];
            op->n_fields = (uint32_t)i + 1; /* freed whole on error */
            f->name = dk_rd_str(r, DK_CRDT_NAME_MAX);
            f->op.type = dk_rd_u8(r);
            if (r->bad || !codec_name_ok(f->name) ||
                (i && dk_slice_cmp(op->fields[i - 1].name, f->name) >= 0)) {
                r->bad = 1;
                return -1;
            }
            int rc = codec_read_op_body(r, &f->op, 1);
            if (rc)
                return rc;
        }
        int rc = codec_read_list(r, DK_CRDT_NAME_MAX, 1, &op->removes, &op->n_removes);
        if (rc)
            return rc;
        if (!codec_op_ok(op, 0)) /* a name both updated and removed */
            break;
        return 0;
    }
    default: break;
    }
    r->bad = 1;
    return -1;
}

int dk_crdt_op_decode(dk_slice in, dk_crdt_op *op)
{
    memset(op, 0, sizeof(*op));
    dk_rd r;
    dk_rd_init(&r, in);
    if (dk_rd_u8(&r) != DK_CRDT_FORMAT)
        r.bad = 1;
    op->type = dk_rd_u8(&r);
    int rc = r.bad ? -1 : codec_read_op_body(&r, op, 0);
    if (rc == 0 && dk_rd_done(&r) == 0)
        return 0;
    dk_crdt_op_free(op);
    return rc == -ENOMEM ? -ENOMEM : DK_ECORRUPT;
}

/* ---- values ------------------------------------------------------------------ */

static int codec_value_ok(const dk_crdt_value *v, int nested)
{
    switch (v->type) {
    case DK_CRDT_COUNTER: return 1;
    case DK_CRDT_REGISTER: return v->text.len <= DK_VALUE_MAX;
    case DK_CRDT_SET: return codec_increasing(v->elems, v->n_elems);
    case DK_CRDT_MAP:
        if (nested)
            return 0;
        for (uint32_t i = 0; i < v->n_fields; i++)
            if (!codec_name_ok(v->fields[i].name) || !codec_value_ok(&v->fields[i].value, 1) ||
                (i && dk_slice_cmp(v->fields[i - 1].name, v->fields[i].name) >= 0))
                return 0;
        return 1;
    default: return 0;
    }
}

static void codec_write_value_body(dk_wr *w, const dk_crdt_value *v)
{
    switch (v->type) {
    case DK_CRDT_COUNTER: dk_wr_svar(w, v->count); break;
    case DK_CRDT_SET: codec_write_list(w, v->elems, v->n_elems); break;
    case DK_CRDT_REGISTER: dk_wr_str(w, v->text); break;
    case DK_CRDT_MAP:
        dk_wr_uvar(w, v->n_fields);
        for (uint32_t i = 0; i < v->n_fields; i++) {
            dk_wr_str(w, v->fields[i].name);
            dk_wr_u8(w, v->fields[i].value.type);
            codec_write_value_body(w, &v->fields[i].value);
        }
        break;
    }
}

int dk_crdt_value_encode(const dk_crdt_value *v, dk_buf *out)
{
    if (!codec_value_ok(v, 0))
        return -EINVAL;
    size_t start = out->len;
    dk_wr w;
    dk_wr_init(&w, out);
    dk_wr_u8(&w, DK_CRDT_FORMAT);
    dk_wr_u8(&w, v->type);
    codec_write_value_body(&w, v);
    if (w.err)
        out->len = start;
    return w.err;
}

void dk_crdt_value_free(dk_crdt_value *v)
{
    free(v->elems);
    for (uint32_t i = 0; i < v->n_fields; i++)
        dk_crdt_value_free(&v->fields[i].value);
    free(v->fields);
    memset(v, 0, sizeof(*v));
}

static int codec_read_value_body(dk_rd *r, dk_crdt_value *v, int nested)
{
    switch (v->type) {
    case DK_CRDT_COUNTER: v->count = dk_rd_svar(r); return r->bad ? -1 : 0;
    case DK_CRDT_SET: return codec_read_list(r, DK_VALUE_MAX, 0, &v->elems, &v->n_elems);
    case DK_CRDT_REGISTER: v->text = dk_rd_str(r, DK_VALUE_MAX); return r->bad ? -1 : 0;
    case DK_CRDT_MAP: {
        if (nested)
            break;
        uint64_t n = dk_rd_uvar(r);
        if (r->bad || n > dk_rd_left(r) / 3)
            break;
        if (n && !(v->fields = calloc((size_t)n, sizeof(*v->fields))))
            return -ENOMEM;
        for (uint64_t i = 0; i < n; i++) {
            dk_crdt_field *f = &v->fields[i];
            v->n_fields = (uint32_t)i + 1;
            f->name = dk_rd_str(r, DK_CRDT_NAME_MAX);
            f->value.type = dk_rd_u8(r);
            if (r->bad || !codec_name_ok(f->name) ||
                (i && dk_slice_cmp(v->fields[i - 1].name, f->name) >= 0)) {
                r->bad = 1;
                return -1;
            }
            int rc = codec_read_value_body(r, &f->value, 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    default: break;
    }
    r->bad = 1;
    return -1;
}

int dk_crdt_value_decode(dk_slice in, dk_crdt_value *v)
{
    memset(v, 0, sizeof(*v));
    dk_rd r;
    dk_rd_init(&r, in);
    if (dk_rd_u8(&r) != DK_CRDT_FORMAT)
        r.bad = 1;
    v->type = dk_rd_u8(&r);
    int rc = r.bad ? -1 : codec_read_value_body(&r, v, 0);
    if (rc == 0 && dk_rd_done(&r) == 0)
        return 0;
    dk_crdt_value_free(v);
    return rc == -ENOMEM ? -ENOMEM : DK_ECORRUPT;
}
