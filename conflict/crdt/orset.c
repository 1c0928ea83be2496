/*
 * orset.c - the add-wins observed-remove set (crdt_state.h). Each element
 * present carries the dots of the adds that put it there; an add replaces
 * the element's dots with the write's own dot, a remove drops them. The
 * join keeps a dot both copies hold or that the other copy has not seen,
 * so a remove takes away exactly the adds its coordinator had observed,
 * and an add concurrent with it survives (add wins).
 *
 * Metadata: an element present costs its dots (normally one: concurrent
 * adds of one element by k actors leave k until the next add or remove of
 * it), an element removed costs nothing: the object's version vector
 * already says its dots were seen, which is the "compacted through a
 * version vector" rule that makes tombstones unnecessary.
 *
 * Body: uvar n, n x (str element, uvar k >= 1, k x dot), elements sorted,
 * each one's dots sorted by (actor, counter).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt_state.h"

void crdt_set_free(crdt_set *s)
{
    free(s->e);
    free(s->dots);
    memset(s, 0, sizeof(*s));
}

int crdt_set_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_set *s)
{
    uint64_t n = dk_rd_uvar(r);
    /* An element takes at least 4 bytes (length, count, one dot). */
    if (r->bad || n > dk_rd_left(r) / 4) {
        r->bad = 1;
        return -1;
    }
    if (crdt_grow((void **)&s->e, &s->cap, (uint32_t)n, sizeof(*s->e)))
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        crdt_elem *e = &s->e[i];
        e->v = dk_rd_str(r, DK_VALUE_MAX);
        uint64_t k = dk_rd_uvar(r);
        if (r->bad || k == 0 || k > dk_rd_left(r) / 2 || (i && dk_slice_cmp(s->e[i - 1].v, e->v) >= 0)) {
            r->bad = 1;
            return -1;
        }
        if (crdt_grow((void **)&s->dots, &s->cap_dots, s->n_dots + (uint32_t)k, sizeof(*s->dots)))
            return -ENOMEM;
        e->dot0 = s->n_dots;
        e->n_dots = (uint32_t)k;
        for (uint64_t d = 0; d < k; d++) {
            crdt_dot dot = crdt_read_dot(r, cc);
            if (r->bad || (d && crdt_dot_cmp(s->dots[s->n_dots - 1], dot) >= 0)) {
                r->bad = 1;
                return -1;
            }
            s->dots[s->n_dots++] = dot;
        }
        s->n = (uint32_t)i + 1;
    }
    return 0;
}

void crdt_set_mark(const crdt_set *s, uint8_t *used)
{
    for (uint32_t i = 0; i < s->n_dots; i++)
        used[s->dots[i].actor] = 1;
}

void crdt_set_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_set *s)
{
    dk_wr_uvar(w, s->n);
    for (uint32_t i = 0; i < s->n; i++) {
        const crdt_elem *e = &s->e[i];
        dk_wr_str(w, e->v);
        dk_wr_uvar(w, e->n_dots);
        for (uint32_t d = 0; d < e->n_dots; d++)
            crdt_write_dot(w, cc, s->dots[e->dot0 + d]);
    }
}

/* Append an element with no dots yet to out. */
static int set_push(crdt_set *out, dk_slice v)
{
    if (crdt_grow((void **)&out->e, &out->cap, out->n + 1, sizeof(*out->e)))
        return -ENOMEM;
    out->e[out->n++] = (crdt_elem){.v = v, .dot0 = out->n_dots, .n_dots = 0};
    return 0;
}

static int set_push_dot(crdt_set *out, crdt_dot d)
{
    if (crdt_grow((void **)&out->dots, &out->cap_dots, out->n_dots + 1, sizeof(*out->dots)))
        return -ENOMEM;
    out->dots[out->n_dots++] = d;
    out->e[out->n - 1].n_dots++;
    return 0;
}

/* The last element pushed is dropped when it kept no dot. */
static void set_pop_empty(crdt_set *out)
{
    if (out->n && out->e[out->n - 1].n_dots == 0)
        out->n--;
}

/* Join one element's dots: x (from the copy with context cx) and y (cy);
 * either may be NULL when its copy lacks the element. */
static int set_join_elem(const crdt_set *a, const crdt_elem *x, const uint64_t *cx, const crdt_set *b,
                         const crdt_elem *y, const uint64_t *cy, crdt_set *out)
{
    int rc = set_push(out, x ? x->v : y->v);
    uint32_t i = 0, j = 0, nx = x ? x->n_dots : 0, ny = y ? y->n_dots : 0;
    while (rc == 0 && (i < nx || j < ny)) {
        crdt_dot dx = i < nx ? a->dots[x->dot0 + i] : (crdt_dot){0, 0};
        crdt_dot dy = j < ny ? b->dots[y->dot0 + j] : (crdt_dot){0, 0};
        int c = i >= nx ? 1 : j >= ny ? -1 : crdt_dot_cmp(dx, dy);
        if (c == 0) {
            rc = set_push_dot(out, dx);
            i++;
            j++;
        } else if (c < 0) {
            if (!crdt_covered(cy, dx))
                rc = set_push_dot(out, dx);
            i++;
        } else {
            if (!crdt_covered(cx, dy))
                rc = set_push_dot(out, dy);
            j++;
        }
    }
    set_pop_empty(out);
    return rc;
}

int crdt_set_join(const crdt_set *a, const uint64_t *ca, const crdt_set *b, const uint64_t *cb, crdt_set *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t i = 0, j = 0;
    int rc = 0;
    while (rc == 0 && (i < a->n || j < b->n)) {
        int c = i >= a->n ? 1 : j >= b->n ? -1 : dk_slice_cmp(a->e[i].v, b->e[j].v);
        if (c == 0)
            rc = set_join_elem(a, &a->e[i++], ca, b, &b->e[j++], cb, out);
        else if (c < 0)
            rc = set_join_elem(a, &a->e[i++], ca, b, NULL, cb, out);
        else
            rc = set_join_elem(a, NULL, ca, b, &b->e[j++], cb, out);
    }
    if (rc)
        crdt_set_free(out);
    return rc;
}

int crdt_set_apply(crdt_set *s, const dk_crdt_op *op, crdt_dot dot)
{
    crdt_set out;
    memset(&out, 0, sizeof(out));
    int add = op->set_kind == DK_CRDT_SET_ADD, rc = 0;
    uint32_t i = 0, j = 0;
    /* Both lists are sorted: one walk. An element of the operation gets
     * the write's dot alone (add: every dot it had is observed, so
     * replaced) or none (remove). */
    while (rc == 0 && (i < s->n || j < op->n_elems)) {
        int c = i >= s->n ? 1 : j >= op->n_elems ? -1 : dk_slice_cmp(s->e[i].v, op->elems[j]);
        if (c < 0) {
            const crdt_elem *e = &s->e[i++];
            rc = set_push(&out, e->v);
            for (uint32_t d = 0; rc == 0 && d < e->n_dots; d++)
                rc = set_push_dot(&out, s->dots[e->dot0 + d]);
            continue;
        }
        dk_slice v = op->elems[j++];
        if (c == 0)
            i++;
        if (add && (rc = set_push(&out, v)) == 0)
            rc = set_push_dot(&out, dot);
    }
    if (rc) {
        crdt_set_free(&out);
        return rc;
    }
    crdt_set_free(s);
    *s = out;
    return 0;
}

int crdt_set_value(const crdt_set *s, dk_crdt_value *v)
{
    v->n_elems = 0;
    v->elems = NULL;
    if (s->n == 0)
        return 0;
    v->elems = malloc(s->n * sizeof(*v->elems));
    if (!v->elems)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->n; i++)
        v->elems[i] = s->e[i].v;
    v->n_elems = s->n;
    return 0;
}
