/*
 * supersede.c - see supersede.h. The rules are the conditions under which
 * each shipped merge returns its second argument unchanged; they are
 * checked, not assumed from causality alone, because the data may not obey
 * the invariants causality gives: a pruned vv can let an actor reuse a dot
 * with other content, clocks are skewed (lww and crdt pick by time), and a
 * damaged copy may disagree with itself. Whenever a rule does not hold the
 * answer is 0 and the caller merges, which is always correct; the rules
 * only decide when the merge can be skipped.
 *
 * tests/unit/test-supersede.c checks, on random histories of three
 * replicas under each resolver, that every copy judged to supersede is
 * exactly what the resolver's merge returns.
 */
#include <string.h>

#include "node/supersede.h"
#include "node/object.h"
#include "util/vv.h"

static int supersede_dot_cmp(const dk_sibling *a, const dk_sibling *b)
{
    int c = dk_actor_cmp(&a->actor, &b->actor);
    if (c)
        return c;
    return (a->counter > b->counter) - (a->counter < b->counter);
}

/* Same content; a value a head decode left out (ptr NULL, len > 0) is
 * never judged the same. */
static int supersede_same_content(const dk_sibling *a, const dk_sibling *b)
{
    if (dk_sibling_unread(a) || dk_sibling_unread(b))
        return 0;
    return a->write_time_ms == b->write_time_ms && a->expiry_ms == b->expiry_ms && a->flags == b->flags &&
           a->value.len == b->value.len &&
           (a->value.len == 0 || memcmp(a->value.ptr, b->value.ptr, a->value.len) == 0);
}

/* Every entry of lo is in hi with a counter and a time at least as large
 * (both in actor order, as every decoded vv is). */
static int supersede_vv_covers(const dk_vv *hi, const dk_vv *lo)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < lo->n; i++) {
        while (j < hi->n && dk_actor_cmp(&hi->e[j].actor, &lo->e[i].actor) < 0)
            j++;
        if (j == hi->n || dk_actor_cmp(&hi->e[j].actor, &lo->e[i].actor) != 0)
            return 0;
        if (hi->e[j].counter < lo->e[i].counter || hi->e[j].time_ms < lo->e[i].time_ms)
            return 0;
    }
    return 1;
}

static const dk_sibling *supersede_find(const dk_object *o, const dk_sibling *s)
{
    for (uint32_t i = 0; i < o->n_sib; i++)
        if (supersede_dot_cmp(&o->sib[i], s) == 0)
            return &o->sib[i];
    return NULL;
}

static int supersede_check(const dk_object_header *hc, const dk_object *cur, const dk_object_header *hi,
                           const dk_object *in)
{
    if (hc->type != hi->type)
        return 0;
    if (cur->n_sib && hi->newest_write_ms <= hc->newest_write_ms)
        return 0;
    if (!supersede_vv_covers(&in->vv, &cur->vv))
        return 0;
    for (uint32_t i = 0; i < cur->n_sib; i++)
        if (!dk_vv_covers(&in->vv, &cur->sib[i].actor, cur->sib[i].counter))
            return 0;
    for (uint32_t i = 0; i < in->n_sib; i++) {
        const dk_sibling *t = &in->sib[i];
        if (i && supersede_dot_cmp(&in->sib[i - 1], t) >= 0)
            return 0;
        const dk_sibling *s = supersede_find(cur, t);
        if (s ? !supersede_same_content(s, t) : dk_vv_covers(&cur->vv, &t->actor, t->counter))
            return 0;
    }
    return 1;
}

int dk_object_supersedes(dk_slice cur_raw, const dk_object *cur, dk_slice in_raw, const dk_object *in)
{
    dk_object_header hc, hi;
    if (dk_object_peek(cur_raw, &hc) || dk_object_peek(in_raw, &hi))
        return 0;
    return supersede_check(&hc, cur, &hi, in);
}

int dk_object_supersedes_head(dk_slice cur_head, const dk_object *cur, dk_slice in_raw, const dk_object *in)
{
    dk_object_header hc, hi;
    if (dk_object_peek_head(cur_head, &hc) || dk_object_peek(in_raw, &hi))
        return 0;
    return supersede_check(&hc, cur, &hi, in);
}
