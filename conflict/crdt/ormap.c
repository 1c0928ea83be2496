/*
 * ormap.c - the map of named fields (crdt_state.h): each field holds a
 * counter, a set or a register, all sharing the object's one causal
 * context.
 *
 * Fields are keyed by (name, type) and a field exists while its dot store
 * holds something. The join is the per-key join of the nested stores, so a
 * field removal (which drops every dot under the name) loses to a
 * concurrent update of that field, whose new dots the remover had not
 * seen: update wins, as in Riak's maps. A removed field costs nothing
 * afterwards (no tombstone): the context remembers its dots. A set field
 * whose last element is removed disappears the same way.
 *
 * Keying by (name, type) rather than by name keeps the join a plain
 * per-key join even when two coordinators create one name with different
 * types concurrently; a read then shows the highest type (DK_CRDT_* order)
 * and an operation must be of that type (DK_EWRONGTYPE otherwise) until the
 * name is removed, which removes every type under it. Choosing a winner
 * inside the join instead breaks associativity once the winner is emptied
 * by a concurrent remove.
 *
 * Body: uvar n, n x (str name, u8 type, that type's body), sorted by
 * (name, type), no field empty.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt_state.h"

void crdt_map_free(crdt_map *m)
{
    for (uint32_t i = 0; i < m->n; i++)
        crdt_body_free(&m->f[i].body);
    free(m->f);
    memset(m, 0, sizeof(*m));
}

/* Order of fields: name, then type. */
static int map_key_cmp(dk_slice na, uint8_t ta, dk_slice nb, uint8_t tb)
{
    int c = dk_slice_cmp(na, nb);
    return c ? c : (ta > tb) - (ta < tb);
}

int crdt_map_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_map *m)
{
    uint64_t n = dk_rd_uvar(r);
    /* A field takes at least 3 bytes plus its body's first byte. */
    if (r->bad || n > dk_rd_left(r) / 4) {
        r->bad = 1;
        return -1;
    }
    if (crdt_grow((void **)&m->f, &m->cap, (uint32_t)n, sizeof(*m->f)))
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        crdt_field *f = &m->f[i];
        f->name = dk_rd_str(r, DK_CRDT_NAME_MAX);
        uint8_t type = dk_rd_u8(r);
        if (r->bad || f->name.len == 0 || type < DK_CRDT_COUNTER || type > DK_CRDT_REGISTER ||
            (i && map_key_cmp(m->f[i - 1].name, m->f[i - 1].body.type, f->name, type) >= 0)) {
            r->bad = 1;
            return -1;
        }
        crdt_body_init(&f->body, type);
        m->n = (uint32_t)i + 1; /* freed whole on error */
        int rc = crdt_body_read(r, cc, &f->body);
        if (rc)
            return rc;
        if (crdt_body_empty(&f->body)) {
            r->bad = 1;
            return -1;
        }
    }
    return 0;
}

void crdt_map_mark(const crdt_map *m, uint8_t *used)
{
    for (uint32_t i = 0; i < m->n; i++)
        crdt_body_mark(&m->f[i].body, used);
}

void crdt_map_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_map *m)
{
    dk_wr_uvar(w, m->n);
    for (uint32_t i = 0; i < m->n; i++) {
        dk_wr_str(w, m->f[i].name);
        dk_wr_u8(w, m->f[i].body.type);
        crdt_body_write(w, cc, &m->f[i].body);
    }
}

/* Append a field taking body (moved; freed here when empty). */
static int map_push(crdt_map *out, dk_slice name, crdt_body *body)
{
    if (crdt_body_empty(body)) {
        crdt_body_free(body);
        return 0;
    }
    if (crdt_grow((void **)&out->f, &out->cap, out->n + 1, sizeof(*out->f))) {
        crdt_body_free(body);
        return -ENOMEM;
    }
    out->f[out->n].name = name;
    out->f[out->n].body = *body;
    out->n++;
    return 0;
}

int crdt_map_join(const crdt_map *a, const uint64_t *ca, const crdt_map *b, const uint64_t *cb, crdt_map *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t i = 0, j = 0;
    int rc = 0;
    while (rc == 0 && (i < a->n || j < b->n)) {
        const crdt_field *x = i < a->n ? &a->f[i] : NULL, *y = j < b->n ? &b->f[j] : NULL;
        int c = !x ? 1 : !y ? -1 : map_key_cmp(x->name, x->body.type, y->name, y->body.type);
        crdt_body empty, joined;
        /* A field one copy lacks joins with that type's empty store: what
         * the other copy's context has seen of it is dropped. */
        if (c == 0) {
            rc = crdt_body_join(&x->body, ca, &y->body, cb, &joined);
            i++;
            j++;
        } else if (c < 0) {
            crdt_body_init(&empty, x->body.type);
            rc = crdt_body_join(&x->body, ca, &empty, cb, &joined);
            i++;
        } else {
            crdt_body_init(&empty, y->body.type);
            rc = crdt_body_join(&empty, ca, &y->body, cb, &joined);
            j++;
        }
        if (rc == 0)
            rc = map_push(out, c <= 0 ? x->name : y->name, &joined);
        else
            crdt_body_free(&joined);
    }
    if (rc)
        crdt_map_free(out);
    return rc;
}

/* Copy field f into out (deeply: out and the source are freed apart). */
static int map_copy_field(crdt_map *out, const crdt_field *f)
{
    crdt_body copy;
    int rc = crdt_body_copy(&f->body, &copy);
    return rc ? rc : map_push(out, f->name, &copy);
}

/* The type a read shows for the fields m->f[lo..hi) of one name: the
 * highest. */
static uint8_t map_visible_type(const crdt_map *m, uint32_t lo, uint32_t hi)
{
    return hi > lo ? m->f[hi - 1].body.type : 0;
}

int crdt_map_apply(crdt_map *m, const dk_crdt_op *op, const crdt_apply_ctx *ac)
{
    crdt_map out;
    memset(&out, 0, sizeof(out));
    uint32_t i = 0, j = 0, k = 0;
    int rc = 0;
    /* One walk over three sorted lists: the map's fields (grouped by
     * name), the operation's updates and its removals (no name in both). */
    while (rc == 0 && (i < m->n || j < op->n_fields || k < op->n_removes)) {
        /* The smallest name still ahead in any of the three. */
        const dk_slice *next[3] = {i < m->n ? &m->f[i].name : NULL,
                                   j < op->n_fields ? &op->fields[j].name : NULL,
                                   k < op->n_removes ? &op->removes[k] : NULL};
        dk_slice name = {NULL, 0};
        int have = 0;
        for (int x = 0; x < 3; x++) {
            if (next[x] && (!have || dk_slice_cmp(*next[x], name) < 0)) {
                name = *next[x];
                have = 1;
            }
        }
        uint32_t lo = i;
        while (i < m->n && dk_slice_cmp(m->f[i].name, name) == 0)
            i++;
        if (k < op->n_removes && dk_slice_cmp(op->removes[k], name) == 0) {
            k++; /* every type under the name goes */
            continue;
        }
        if (!(j < op->n_fields && dk_slice_cmp(op->fields[j].name, name) == 0)) {
            for (uint32_t f = lo; rc == 0 && f < i; f++)
                rc = map_copy_field(&out, &m->f[f]);
            continue;
        }
        const dk_crdt_field_op *u = &op->fields[j++];
        uint8_t visible = map_visible_type(m, lo, i);
        if (visible && visible != u->op.type) {
            rc = DK_EWRONGTYPE;
            break;
        }
        /* Hidden lower types stay as they are; the field of the
         * operation's type is updated (or created). */
        crdt_body target;
        crdt_body_init(&target, u->op.type);
        for (uint32_t f = lo; rc == 0 && f < i; f++) {
            if (m->f[f].body.type == u->op.type)
                rc = crdt_body_copy(&m->f[f].body, &target);
            else
                rc = map_copy_field(&out, &m->f[f]);
        }
        if (rc == 0)
            rc = crdt_body_apply(&target, &u->op, ac);
        if (rc == 0)
            rc = map_push(&out, name, &target);
        else
            crdt_body_free(&target);
    }
    if (rc) {
        crdt_map_free(&out);
        return rc;
    }
    crdt_map_free(m);
    *m = out;
    return 0;
}

int crdt_map_value(const crdt_map *m, dk_crdt_value *v)
{
    v->fields = NULL;
    v->n_fields = 0;
    if (m->n && !(v->fields = calloc(m->n, sizeof(*v->fields))))
        return -ENOMEM;
    for (uint32_t i = 0; i < m->n; i++) {
        /* Fields of one name are adjacent, the highest type last: show it. */
        if (i + 1 < m->n && dk_slice_cmp(m->f[i].name, m->f[i + 1].name) == 0)
            continue;
        dk_crdt_field *f = &v->fields[v->n_fields++];
        f->name = m->f[i].name;
        int rc = crdt_body_value(&m->f[i].body, &f->value);
        if (rc)
            return rc; /* the caller frees v */
    }
    return 0;
}

void crdt_map_max_hlc(const crdt_map *m, crdt_hlc *max)
{
    for (uint32_t i = 0; i < m->n; i++)
        crdt_body_max_hlc(&m->f[i].body, max);
}
