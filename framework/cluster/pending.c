/*
 * pending.c - the ring transition of a member table (see pending.h).
 *
 * Everything is computed once at build time into flat per-range arrays
 * (receivers and sources as member indexes), so the per-write question
 * "who else takes this key" is a binary search and a copy. The members are
 * copied and sorted by id, which is also the order of every ring's node
 * indexes, so a ring index maps to a member index through one small table
 * per ring. The alternative of asking the rings for every write would cost
 * two preference walks per write during a move.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/pending.h"

typedef struct tr_member {
    dk_member m;
    int in_cur, in_fut, readable, alive;
} tr_member;

struct dk_transition {
    char sig[DK_XFER_SIG_MAX];
    tr_member *mem; /* sorted by id */
    size_t n_mem;
    dk_ring *all; /* NULL without a move */
    size_t n_ranges;
    uint8_t *n_recv, *n_src, *nothing;
    uint16_t (*recv)[DK_XFER_N_MAX];
    uint16_t (*src)[DK_XFER_N_MAX];
    uint8_t *is_recv; /* per member */
};

static int tr_member_cmp(const void *a, const void *b)
{
    return strcmp(((const tr_member *)a)->m.id, ((const tr_member *)b)->m.id);
}

static int tr_find(const dk_transition *t, const char *id)
{
    size_t lo = 0, hi = t->n_mem;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->mem[mid].m.id, id);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void dk_transition_free(dk_transition *t)
{
    if (!t)
        return;
    dk_ring_unref(t->all);
    free(t->mem);
    free(t->n_recv);
    free(t->n_src);
    free(t->nothing);
    free(t->recv);
    free(t->src);
    free(t->is_recv);
    free(t);
}

/* A ring of the members that `pick` selects (in member order), with a map
 * from its node indexes to member indexes. */
static int tr_ring(dk_transition *t, int which, dk_ring **out, uint16_t **map)
{
    dk_ring_node *rn = calloc(t->n_mem ? t->n_mem : 1, sizeof(*rn));
    uint16_t *mp = calloc(t->n_mem ? t->n_mem : 1, sizeof(*mp));
    if (!rn || !mp) {
        free(rn);
        free(mp);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < t->n_mem; i++) {
        const tr_member *x = &t->mem[i];
        int in = which == 0 ? x->in_cur : which == 1 ? x->in_fut : (x->in_cur || x->in_fut);
        if (!in)
            continue;
        snprintf(rn[k].id, sizeof(rn[k].id), "%s", x->m.id);
        snprintf(rn[k].dc, sizeof(rn[k].dc), "%s", x->m.dc);
        snprintf(rn[k].rack, sizeof(rn[k].rack), "%s", x->m.rack);
        rn[k].weight = x->m.weight ? x->m.weight : 1;
        mp[k] = (uint16_t)i; /* both sorted by id: ring index k is member i */
        k++;
    }
    int rc = dk_ring_build(rn, k, DK_RING_VNODES_DEFAULT, 0, out);
    free(rn);
    if (rc) {
        free(mp);
        return rc;
    }
    *map = mp;
    return 0;
}

static void tr_signature(dk_transition *t, uint32_t n_replicas)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h) {
        snprintf(t->sig, sizeof(t->sig), "unhashed");
        return;
    }
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &n_replicas, sizeof(n_replicas));
    for (size_t i = 0; i < t->n_mem; i++) {
        const tr_member *x = &t->mem[i];
        if (!x->in_cur && !x->in_fut)
            continue;
        uint64_t epoch = x->m.status == DK_STATUS_NORMAL ? 0 : x->m.epoch;
        uint8_t flags = (uint8_t)(x->in_cur | x->in_fut << 1 | x->readable << 2);
        XXH3_64bits_update(h, x->m.id, strlen(x->m.id) + 1);
        XXH3_64bits_update(h, x->m.dc, strlen(x->m.dc) + 1);
        XXH3_64bits_update(h, x->m.rack, strlen(x->m.rack) + 1);
        XXH3_64bits_update(h, &x->m.weight, sizeof(x->m.weight));
        XXH3_64bits_update(h, &flags, 1);
        XXH3_64bits_update(h, &epoch, sizeof(epoch));
    }
    snprintf(t->sig, sizeof(t->sig), "%016llx", (unsigned long long)XXH3_64bits_digest(h));
    XXH3_freeState(h);
}

static int tr_in(const uint16_t *list, size_t n, uint16_t v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return 1;
    return 0;
}

/* Per range of `all`: receivers and sources. */
static int tr_ranges(dk_transition *t, uint32_t n_replicas)
{
    dk_ring *cur = NULL, *fut = NULL;
    uint16_t *map_cur = NULL, *map_fut = NULL, *map_all = NULL;
    int rc;
    if ((rc = tr_ring(t, 0, &cur, &map_cur)) || (rc = tr_ring(t, 1, &fut, &map_fut)) ||
        (rc = tr_ring(t, 2, &t->all, &map_all)))
        goto out;
    t->n_ranges = dk_ring_vnode_count(t->all);
    size_t nr = t->n_ranges ? t->n_ranges : 1;
    t->n_recv = calloc(nr, 1);
    t->n_src = calloc(nr, 1);
    t->nothing = calloc(nr, 1);
    t->recv = calloc(nr, sizeof(*t->recv));
    t->src = calloc(nr, sizeof(*t->src));
    t->is_recv = calloc(t->n_mem ? t->n_mem : 1, 1);
    rc = -ENOMEM;
    if (!t->n_recv || !t->n_src || !t->nothing || !t->recv || !t->src || !t->is_recv)
        goto out;
    uint32_t want = n_replicas > DK_XFER_N_MAX ? DK_XFER_N_MAX : n_replicas;
    for (size_t i = 0; i < t->n_ranges; i++) {
        dk_token s, e;
        dk_ring_range(t->all, i, &s, &e);
        uint32_t ci[DK_XFER_N_MAX], fi[DK_XFER_N_MAX];
        uint16_t cp[DK_XFER_N_MAX], fp[DK_XFER_N_MAX];
        size_t nc = cur ? dk_ring_preference_token(cur, e, want, ci) : 0;
        size_t nf = fut ? dk_ring_preference_token(fut, e, want, fi) : 0;
        for (size_t k = 0; k < nc; k++)
            cp[k] = map_cur[ci[k]];
        for (size_t k = 0; k < nf; k++)
            fp[k] = map_fut[fi[k]];
        for (size_t k = 0; k < nf; k++) {
            const tr_member *x = &t->mem[fp[k]];
            if (!tr_in(cp, nc, fp[k]) || !x->readable) {
                t->recv[i][t->n_recv[i]++] = fp[k];
                t->is_recv[fp[k]] = 1;
            }
        }
        if (t->n_recv[i] == 0)
            continue;
        size_t readable = 0;
        for (size_t k = 0; k < nc; k++) {
            const tr_member *x = &t->mem[cp[k]];
            readable += x->readable;
            if (x->readable && x->alive && !tr_in(fp, nf, cp[k]))
                t->src[i][t->n_src[i]++] = cp[k];
        }
        if (t->n_src[i] == 0)
            for (size_t k = 0; k < nc; k++)
                if (t->mem[cp[k]].readable && t->mem[cp[k]].alive)
                    t->src[i][t->n_src[i]++] = cp[k];
        t->nothing[i] = readable == 0;
    }
    rc = 0;
out:
    dk_ring_unref(cur);
    dk_ring_unref(fut);
    free(map_cur);
    free(map_fut);
    free(map_all);
    return rc;
}

int dk_transition_build(const dk_member *m, size_t n, uint32_t n_replicas, dk_transition **out)
{
    dk_transition *t = calloc(1, sizeof(*t));
    if (!t || !(t->mem = calloc(n ? n : 1, sizeof(*t->mem)))) {
        free(t);
        return -ENOMEM;
    }
    int moving = 0;
    for (size_t i = 0; i < n; i++) {
        tr_member *x = &t->mem[t->n_mem];
        if (m[i].state == DK_MEMBER_REMOVED && !dk_member_status_current(m[i].status))
            continue; /* a gossip leave: gone from every ring */
        x->m = m[i];
        x->in_cur = m[i].state != DK_MEMBER_REMOVED && dk_member_status_current(m[i].status);
        x->in_fut = m[i].state != DK_MEMBER_REMOVED && dk_member_status_future(m[i].status);
        x->readable = dk_member_status_readable(m[i].status);
        x->alive = m[i].state == DK_MEMBER_NORMAL || m[i].state == DK_MEMBER_JOINING ||
                   m[i].state == DK_MEMBER_LEAVING;
        moving |= x->in_cur != x->in_fut || (x->in_cur && !x->readable);
        t->n_mem++;
    }
    qsort(t->mem, t->n_mem, sizeof(*t->mem), tr_member_cmp);
    for (size_t i = 1; i < t->n_mem; i++)
        if (!strcmp(t->mem[i - 1].m.id, t->mem[i].m.id)) {
            dk_transition_free(t);
            return -EINVAL;
        }
    if (moving) {
        tr_signature(t, n_replicas);
        int rc = tr_ranges(t, n_replicas ? n_replicas : 1);
        if (rc) {
            dk_transition_free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

const char *dk_transition_sig(const dk_transition *t)
{
    return t->sig;
}

size_t dk_transition_ranges(const dk_transition *t)
{
    return t->all ? t->n_ranges : 0;
}

void dk_transition_range(const dk_transition *t, size_t i, dk_token *start, dk_token *end)
{
    dk_ring_range(t->all, i, start, end);
}

static void tr_node(const dk_transition *t, uint16_t idx, dk_xfer_node *out)
{
    const tr_member *x = &t->mem[idx];
    out->id = x->m.id;
    out->rpc_addr = x->m.rpc_addr;
    out->alive = x->alive;
    out->status = x->m.status;
}

size_t dk_transition_receivers(const dk_transition *t, size_t i, dk_xfer_node *out)
{
    if (!t->all || i >= t->n_ranges)
        return 0;
    for (size_t k = 0; k < t->n_recv[i]; k++)
        tr_node(t, t->recv[i][k], &out[k]);
    return t->n_recv[i];
}

size_t dk_transition_sources(const dk_transition *t, size_t i, dk_xfer_node *out, int *nothing)
{
    *nothing = 0;
    if (!t->all || i >= t->n_ranges)
        return 0;
    *nothing = t->nothing[i];
    for (size_t k = 0; k < t->n_src[i]; k++)
        tr_node(t, t->src[i][k], &out[k]);
    return t->n_src[i];
}

size_t dk_transition_pending(const dk_transition *t, dk_token tok, dk_xfer_node *out)
{
    if (!t->all || t->n_ranges == 0)
        return 0;
    return dk_transition_receivers(t, dk_ring_range_of(t->all, tok), out);
}

int dk_transition_is_receiver(const dk_transition *t, const char *id)
{
    int i = tr_find(t, id);
    return t->all && i >= 0 && t->is_recv[i];
}

size_t dk_transition_all_receivers(const dk_transition *t, dk_xfer_node *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; t->all && i < t->n_mem; i++) {
        if (!t->is_recv[i])
            continue;
        if (k < cap)
            tr_node(t, (uint16_t)i, &out[k]);
        k++;
    }
    return k;
}

int dk_transition_node(const dk_transition *t, const char *id, dk_xfer_node *out)
{
    int i = tr_find(t, id);
    if (i < 0)
        return 0;
    tr_node(t, (uint16_t)i, out);
    return 1;
}
