/*
 * counter.c - the PN-counter (crdt_state.h). Each actor that changed the
 * counter has one entry: the sums of its increments (p) and decrements
 * (n), and the dot of its latest change. The value is the sum of every p
 * minus every n.
 *
 * An actor replaces its own entry on every change (new dot, larger sums),
 * so the dot-store join keeps the newer entry of each actor: exactly the
 * classic PN-counter's pointwise maximum, because an actor's sums only
 * grow. The dot is what lets a map reset a counter field: removing the
 * field drops the entries it has seen, and only a concurrent change comes
 * back (with that actor's whole sums: its entry is one value, the price of
 * one entry per actor instead of one per increment).
 *
 * Body: uvar n, n x (dot, uvar p, uvar n), sorted by actor, one per actor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt_state.h"

void crdt_counter_free(crdt_counter *c)
{
    free(c->e);
    memset(c, 0, sizeof(*c));
}

int crdt_counter_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_counter *c)
{
    uint64_t n = dk_rd_uvar(r);
    /* An entry takes at least 4 bytes. */
    if (r->bad || n > dk_rd_left(r) / 4) {
        r->bad = 1;
        return -1;
    }
    if (crdt_grow((void **)&c->e, &c->cap, (uint32_t)n, sizeof(*c->e)))
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        crdt_cnt *e = &c->e[i];
        e->dot = crdt_read_dot(r, cc);
        e->p = dk_rd_uvar(r);
        e->n = dk_rd_uvar(r);
        if (r->bad || (i && e->dot.actor <= c->e[i - 1].dot.actor)) {
            r->bad = 1;
            return -1;
        }
        c->n = (uint32_t)i + 1;
    }
    return 0;
}

void crdt_counter_mark(const crdt_counter *c, uint8_t *used)
{
    for (uint32_t i = 0; i < c->n; i++)
        used[c->e[i].dot.actor] = 1;
}

void crdt_counter_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_counter *c)
{
    dk_wr_uvar(w, c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        crdt_write_dot(w, cc, c->e[i].dot);
        dk_wr_uvar(w, c->e[i].p);
        dk_wr_uvar(w, c->e[i].n);
    }
}

/* Of two entries for one actor that both survive the join (equal dots, or
 * damaged copies), the same one whatever the order. */
static const crdt_cnt *counter_pick(const crdt_cnt *a, const crdt_cnt *b)
{
    if (a->dot.counter != b->dot.counter)
        return a->dot.counter > b->dot.counter ? a : b;
    if (a->p != b->p)
        return a->p > b->p ? a : b;
    return a->n >= b->n ? a : b;
}

int crdt_counter_join(const crdt_counter *a, const uint64_t *ca, const crdt_counter *b, const uint64_t *cb,
                      crdt_counter *out)
{
    memset(out, 0, sizeof(*out));
    if (crdt_grow((void **)&out->e, &out->cap, a->n + b->n, sizeof(*out->e)))
        return -ENOMEM;
    uint32_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        const crdt_cnt *x = i < a->n ? &a->e[i] : NULL, *y = j < b->n ? &b->e[j] : NULL;
        const crdt_cnt *keep = NULL;
        if (x && (!y || x->dot.actor < y->dot.actor)) {
            keep = crdt_covered(cb, x->dot) ? NULL : x;
            i++;
        } else if (y && (!x || y->dot.actor < x->dot.actor)) {
            keep = crdt_covered(ca, y->dot) ? NULL : y;
            j++;
        } else {
            int kx = x->dot.counter == y->dot.counter || !crdt_covered(cb, x->dot);
            int ky = x->dot.counter == y->dot.counter || !crdt_covered(ca, y->dot);
            keep = kx && ky ? counter_pick(x, y) : kx ? x : ky ? y : NULL;
            i++;
            j++;
        }
        if (keep)
            out->e[out->n++] = *keep;
    }
    return 0;
}

int crdt_counter_apply(crdt_counter *c, int64_t delta, crdt_dot dot)
{
    uint64_t up = delta > 0 ? (uint64_t)delta : 0;
    uint64_t down = delta < 0 ? (uint64_t)0 - (uint64_t)delta : 0;
    uint32_t k = 0;
    while (k < c->n && c->e[k].dot.actor < dot.actor)
        k++;
    if (k < c->n && c->e[k].dot.actor == dot.actor) {
        crdt_cnt *e = &c->e[k];
        if (up > UINT64_MAX - e->p || down > UINT64_MAX - e->n)
            return -ERANGE;
        e->p += up;
        e->n += down;
        e->dot = dot;
        return 0;
    }
    if (crdt_grow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e)))
        return -ENOMEM;
    memmove(&c->e[k + 1], &c->e[k], (c->n - k) * sizeof(*c->e));
    c->e[k] = (crdt_cnt){.dot = dot, .p = up, .n = down};
    c->n++;
    return 0;
}

int64_t crdt_counter_value(const crdt_counter *c)
{
    /* Both sums saturate: a value beyond the int64 range shows as its
     * nearest bound rather than wrapping. */
    uint64_t p = 0, n = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        p = c->e[i].p > UINT64_MAX - p ? UINT64_MAX : p + c->e[i].p;
        n = c->e[i].n > UINT64_MAX - n ? UINT64_MAX : n + c->e[i].n;
    }
    if (p >= n)
        return p - n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(p - n);
    return n - p > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(n - p);
}
