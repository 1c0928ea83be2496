/*
 * state.c - what the crdt resolver's four types share (crdt_state.h): the
 * call's actor pool and contexts, dots, the per-type dispatch, and the
 * encoding of a whole state, which is the value of a CRDT object's one
 * sibling:
 *
 *   u8   CRDT_STATE_FORMAT (1)
 *   u8   type (DK_CRDT_*)
 *   uvar n, n x (u8 node length, node id, uvar incarnation)
 *                          the actors the body's dots name, sorted, each used
 *   body of the type       (counter.c, orset.c, lwwreg.c, ormap.c); a dot is
 *                          uvar table index, uvar counter
 *
 * The causal context is not repeated here: it is the object's vv, which
 * the framework encodes. The table is the state's own rather than indexes
 * into that vv so that the state decodes on its own terms (a vv entry the
 * framework dropped could not silently shift every dot to another actor).
 * The encoding is canonical (sorted, shortest varints, unused actors
 * absent), so equal states are equal bytes and a merge that changes
 * nothing writes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt_state.h"
#include "util/vv.h"

int crdt_grow(void **arr, uint32_t *cap, uint32_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    uint64_t ncap = *cap ? *cap : 4;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX || ncap > SIZE_MAX / sz)
        return -ENOMEM;
    void *p = realloc(*arr, (size_t)ncap * sz);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = (uint32_t)ncap;
    return 0;
}

/* ---- the actor pool ----------------------------------------------------------- */

int64_t crdt_pool_find(const crdt_pool *p, const dk_actor *a)
{
    uint32_t lo = 0, hi = p->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = dk_actor_cmp(&p->a[mid], a);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int crdt_pool_add(crdt_pool *p, const dk_actor *a)
{
    uint32_t lo = 0, hi = p->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = dk_actor_cmp(&p->a[mid], a);
        if (c == 0)
            return 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int rc = crdt_grow((void **)&p->a, &p->cap, p->n + 1, sizeof(*p->a));
    if (rc)
        return rc;
    memmove(&p->a[lo + 1], &p->a[lo], (p->n - lo) * sizeof(*p->a));
    p->a[lo] = *a;
    p->n++;
    return 0;
}

int crdt_pool_add_vv(crdt_pool *p, const dk_vv *v)
{
    for (uint32_t i = 0; i < v->n; i++) {
        int rc = crdt_pool_add(p, &v->e[i].actor);
        if (rc)
            return rc;
    }
    return 0;
}

void crdt_pool_free(crdt_pool *p)
{
    free(p->a);
    memset(p, 0, sizeof(*p));
}

uint64_t *crdt_pool_ctx(const crdt_pool *p, const dk_vv *v)
{
    uint64_t *ctx = calloc(p->n ? p->n : 1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    for (uint32_t i = 0; i < v->n; i++) {
        int64_t k = crdt_pool_find(p, &v->e[i].actor);
        if (k >= 0)
            ctx[k] = v->e[i].counter;
    }
    return ctx;
}

/* ---- dots ------------------------------------------------------------------------ */

crdt_dot crdt_read_dot(dk_rd *r, const crdt_codec_ctx *cc)
{
    crdt_dot d = {0, 0};
    uint64_t idx = dk_rd_uvar(r);
    d.counter = dk_rd_uvar(r);
    if (r->bad || idx >= cc->n_table || d.counter == 0) {
        r->bad = 1;
        return d;
    }
    d.actor = cc->to_pool[idx];
    if (!crdt_covered(cc->ctx, d))
        r->bad = 1; /* a dot the object's context has not seen: damaged */
    return d;
}

void crdt_write_dot(dk_wr *w, const crdt_codec_ctx *cc, crdt_dot d)
{
    dk_wr_uvar(w, cc->to_table[d.actor]);
    dk_wr_uvar(w, d.counter);
}

/* ---- per-type dispatch ------------------------------------------------------------- */

void crdt_body_init(crdt_body *b, uint8_t type)
{
    memset(b, 0, sizeof(*b));
    b->type = type;
}

void crdt_body_free(crdt_body *b)
{
    switch (b->type) {
    case DK_CRDT_COUNTER: crdt_counter_free(&b->u.c); break;
    case DK_CRDT_SET: crdt_set_free(&b->u.s); break;
    case DK_CRDT_REGISTER: crdt_register_free(&b->u.r); break;
    case DK_CRDT_MAP: crdt_map_free(&b->u.m); break;
    default: break;
    }
    crdt_body_init(b, b->type);
}

int crdt_body_empty(const crdt_body *b)
{
    switch (b->type) {
    case DK_CRDT_COUNTER: return b->u.c.n == 0;
    case DK_CRDT_SET: return b->u.s.n == 0;
    case DK_CRDT_REGISTER: return b->u.r.n == 0;
    case DK_CRDT_MAP: return b->u.m.n == 0;
    default: return 1;
    }
}

int crdt_body_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_body *b)
{
    switch (b->type) {
    case DK_CRDT_COUNTER: return crdt_counter_read(r, cc, &b->u.c);
    case DK_CRDT_SET: return crdt_set_read(r, cc, &b->u.s);
    case DK_CRDT_REGISTER: return crdt_register_read(r, cc, &b->u.r);
    case DK_CRDT_MAP: return crdt_map_read(r, cc, &b->u.m);
    default: r->bad = 1; return -1;
    }
}

void crdt_body_mark(const crdt_body *b, uint8_t *used)
{
    switch (b->type) {
    case DK_CRDT_COUNTER: crdt_counter_mark(&b->u.c, used); break;
    case DK_CRDT_SET: crdt_set_mark(&b->u.s, used); break;
    case DK_CRDT_REGISTER: crdt_register_mark(&b->u.r, used); break;
    case DK_CRDT_MAP: crdt_map_mark(&b->u.m, used); break;
    default: break;
    }
}

void crdt_body_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_body *b)
{
    switch (b->type) {
    case DK_CRDT_COUNTER: crdt_counter_write(w, cc, &b->u.c); break;
    case DK_CRDT_SET: crdt_set_write(w, cc, &b->u.s); break;
    case DK_CRDT_REGISTER: crdt_register_write(w, cc, &b->u.r); break;
    case DK_CRDT_MAP: crdt_map_write(w, cc, &b->u.m); break;
    default: break;
    }
}

int crdt_body_join(const crdt_body *a, const uint64_t *ca, const crdt_body *b, const uint64_t *cb,
                   crdt_body *out)
{
    crdt_body_init(out, a->type);
    switch (a->type) {
    case DK_CRDT_COUNTER: return crdt_counter_join(&a->u.c, ca, &b->u.c, cb, &out->u.c);
    case DK_CRDT_SET: return crdt_set_join(&a->u.s, ca, &b->u.s, cb, &out->u.s);
    case DK_CRDT_REGISTER: return crdt_register_join(&a->u.r, ca, &b->u.r, cb, &out->u.r);
    case DK_CRDT_MAP: return crdt_map_join(&a->u.m, ca, &b->u.m, cb, &out->u.m);
    default: return 0;
    }
}

int crdt_body_copy(const crdt_body *b, crdt_body *out)
{
    /* Idempotence: a store joined with itself is itself, and every entry
     * is then in both, so no context is ever looked at. */
    return crdt_body_join(b, NULL, b, NULL, out);
}

int crdt_body_value(const crdt_body *b, dk_crdt_value *v)
{
    v->type = b->type;
    switch (b->type) {
    case DK_CRDT_COUNTER: v->count = crdt_counter_value(&b->u.c); return 0;
    case DK_CRDT_SET: return crdt_set_value(&b->u.s, v);
    case DK_CRDT_REGISTER: {
        const crdt_reg_entry *e = crdt_register_winner(&b->u.r);
        v->text = e ? e->v : (dk_slice){NULL, 0};
        return 0;
    }
    case DK_CRDT_MAP: return crdt_map_value(&b->u.m, v);
    default: return -EINVAL;
    }
}

int crdt_body_apply(crdt_body *b, const dk_crdt_op *op, const crdt_apply_ctx *ac)
{
    switch (b->type) {
    case DK_CRDT_COUNTER: return crdt_counter_apply(&b->u.c, op->delta, ac->dot);
    case DK_CRDT_SET: return crdt_set_apply(&b->u.s, op, ac->dot);
    case DK_CRDT_REGISTER: return crdt_register_apply(&b->u.r, op->text, ac);
    case DK_CRDT_MAP: return crdt_map_apply(&b->u.m, op, ac);
    default: return -EINVAL;
    }
}

void crdt_body_max_hlc(const crdt_body *b, crdt_hlc *max)
{
    if (b->type == DK_CRDT_REGISTER)
        crdt_register_max_hlc(&b->u.r, max);
    else if (b->type == DK_CRDT_MAP)
        crdt_map_max_hlc(&b->u.m, max);
}

/* ---- the whole state ------------------------------------------------------------------ */

int crdt_state_decode(dk_slice in, const crdt_pool *pool, const uint64_t *ctx, crdt_body *out)
{
    dk_rd r;
    dk_rd_init(&r, in);
    crdt_body_init(out, 0);
    if (dk_rd_u8(&r) != CRDT_STATE_FORMAT)
        return DK_ECORRUPT;
    uint8_t type = dk_rd_u8(&r);
    uint64_t n = dk_rd_uvar(&r);
    /* An actor takes at least 3 bytes; and it must be in the pool. */
    if (r.bad || type < DK_CRDT_COUNTER || type > DK_CRDT_MAP || n > dk_rd_left(&r) / 3 || n > pool->n)
        return DK_ECORRUPT;
    uint32_t *to_pool = malloc((n ? n : 1) * sizeof(*to_pool));
    uint8_t *used = calloc(pool->n ? pool->n : 1, 1);
    int rc = to_pool && used ? 0 : -ENOMEM;
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        dk_actor a;
        uint8_t len = dk_rd_u8(&r);
        const uint8_t *node = r.p;
        if (r.bad || len == 0 || len > dk_rd_left(&r) || memchr(node, '#', len) ||
            dk_actor_parse((const char *)node, len, &a) != 0) {
            rc = DK_ECORRUPT;
            break;
        }
        r.p += len;
        uint64_t inc = dk_rd_uvar(&r);
        int64_t k = -1;
        if (!r.bad && inc >= 1 && inc <= UINT32_MAX) {
            a.incarnation = (uint32_t)inc;
            k = crdt_pool_find(pool, &a);
        }
        /* Sorted and unique: pool indexes strictly increase. */
        if (k < 0 || (i && (uint32_t)k <= to_pool[i - 1]))
            rc = DK_ECORRUPT;
        else
            to_pool[i] = (uint32_t)k;
    }
    if (rc == 0) {
        crdt_codec_ctx cc = {.to_pool = to_pool, .n_table = (uint32_t)n, .ctx = ctx};
        out->type = type;
        rc = crdt_body_read(&r, &cc, out);
        if (rc == -1 || (rc == 0 && dk_rd_done(&r) != 0))
            rc = DK_ECORRUPT;
    }
    if (rc == 0) {
        /* Canonical: every actor of the table names some dot. */
        crdt_body_mark(out, used);
        for (uint64_t i = 0; i < n; i++)
            if (!used[to_pool[i]])
                rc = DK_ECORRUPT;
    }
    free(to_pool);
    free(used);
    if (rc)
        crdt_body_free(out);
    return rc;
}

int crdt_state_encode(const crdt_body *b, const crdt_pool *pool, dk_buf *out)
{
    uint8_t *used = calloc(pool->n ? pool->n : 1, 1);
    uint32_t *to_table = calloc(pool->n ? pool->n : 1, sizeof(*to_table));
    if (!used || !to_table) {
        free(used);
        free(to_table);
        return -ENOMEM;
    }
    crdt_body_mark(b, used);
    uint32_t n = 0;
    for (uint32_t i = 0; i < pool->n; i++)
        if (used[i])
            to_table[i] = n++;
    size_t start = out->len;
    dk_wr w;
    dk_wr_init(&w, out);
    dk_wr_u8(&w, CRDT_STATE_FORMAT);
    dk_wr_u8(&w, b->type);
    dk_wr_uvar(&w, n);
    for (uint32_t i = 0; i < pool->n; i++) {
        if (!used[i])
            continue;
        size_t len = strnlen(pool->a[i].node, DK_NODE_ID_MAX);
        dk_wr_u8(&w, (uint8_t)len);
        dk_wr_bytes(&w, pool->a[i].node, len);
        dk_wr_uvar(&w, pool->a[i].incarnation);
    }
    crdt_codec_ctx cc = {.to_table = to_table};
    crdt_body_write(&w, &cc, b);
    free(used);
    free(to_table);
    if (w.err)
        out->len = start;
    return w.err;
}
