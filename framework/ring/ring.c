/*
 * ring.c - the consistent-hash ring (see ring.h for the contract).
 *
 * Layout: the nodes sorted by id; the vnodes as three parallel arrays
 * sorted by token (tie: node index): tok[], owner[] and prev_same[], where
 * prev_same[i] is the index of the previous vnode (cyclically) that belongs
 * to the same node, or i itself when the node has one vnode.
 *
 * prev_same is what lets a walk enumerate distinct nodes without a "seen"
 * set, hence without allocation: starting at vnode s, the vnode at distance
 * d is the first one met of its node exactly when its node's previous vnode
 * is not within [s, s + d), i.e. when dist(s, prev_same) >= d. Each step is
 * O(1), and a walk ends once every node was met.
 *
 * Not taken: precomputing a preference list per vnode (Riak's approach);
 * it fixes n at build time and costs vnodes * n memory, while the walk
 * here is short in practice (a few vnodes per distinct node).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "ring/ring.h"

#define RING_MAX_VNODES (1u << 24)
#define RING_NONE UINT32_MAX

struct dk_ring {
    atomic_uint refs;
    uint64_t version;
    uint64_t fingerprint; /* of the routing inputs (dk_ring_fingerprint) */
    uint32_t n_nodes, n_vnodes;
    uint32_t n_dcs, n_racks;
    dk_ring_node *nodes; /* sorted by id */
    uint32_t *dc_id;     /* per node: dense dc number */
    uint32_t *rack_id;   /* per node: dense (dc, rack) number */
    double *own;         /* per node: primary ownership fraction */
    dk_token *tok;       /* per vnode, ascending */
    uint32_t *owner;     /* per vnode: node index */
    uint32_t *prev_same; /* per vnode: previous vnode of the same node */
};

typedef struct {
    dk_token tok;
    uint32_t node;
} ring_vnode;

static int ring_tok_cmp(dk_token a, dk_token b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

static int ring_vnode_cmp(const void *pa, const void *pb)
{
    const ring_vnode *a = pa, *b = pb;
    int c = ring_tok_cmp(a->tok, b->tok);
    if (c)
        return c;
    return a->node < b->node ? -1 : a->node > b->node;
}

static int ring_node_cmp(const void *pa, const void *pb)
{
    const dk_ring_node *a = pa, *b = pb;
    return strcmp(a->id, b->id);
}

static dk_token ring_hash(const void *p, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(p, n);
    dk_token t = {h.high64, h.low64};
    return t;
}

/* (b - a) mod 2^128 as a fraction of 2^128. */
static double ring_span(dk_token a, dk_token b)
{
    uint64_t lo = b.lo - a.lo;
    uint64_t hi = b.hi - a.hi - (b.lo < a.lo);
    return ((double)hi + (double)lo / 18446744073709551616.0) / 18446744073709551616.0;
}

static int ring_valid_id(const char *id)
{
    size_t n = strnlen(id, DK_NODE_ID_MAX + 1);
    if (n == 0 || n > DK_NODE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static void ring_free(dk_ring *r)
{
    free(r->nodes);
    free(r->dc_id);
    free(r->rack_id);
    free(r->own);
    free(r->tok);
    free(r->owner);
    free(r->prev_same);
    free(r);
}

/* Dense numbers for dcs and (dc, rack) pairs; quadratic, run once per
 * build over at most DK_RING_NODES_MAX nodes. */
static void ring_intern_topology(dk_ring *r)
{
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        const dk_ring_node *a = &r->nodes[i];
        uint32_t dc = RING_NONE, rack = RING_NONE;
        for (uint32_t j = 0; j < i; j++) {
            const dk_ring_node *b = &r->nodes[j];
            if (strcmp(a->dc, b->dc) != 0)
                continue;
            dc = r->dc_id[j];
            if (strcmp(a->rack, b->rack) == 0) {
                rack = r->rack_id[j];
                break;
            }
        }
        r->dc_id[i] = dc != RING_NONE ? dc : r->n_dcs++;
        r->rack_id[i] = rack != RING_NONE ? rack : r->n_racks++;
    }
}

static int ring_place_vnodes(dk_ring *r, uint32_t per_weight)
{
    ring_vnode *v = malloc((size_t)r->n_vnodes * sizeof(*v));
    uint32_t *last = malloc((size_t)r->n_nodes * sizeof(*last));
    if (!v || !last) {
        free(v);
        free(last);
        return -ENOMEM;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        uint32_t count = per_weight * r->nodes[i].weight;
        for (uint32_t j = 0; j < count; j++) {
            char name[DK_NODE_ID_MAX + 16];
            int len = snprintf(name, sizeof(name), "%s#%" PRIu32, r->nodes[i].id, j);
            v[k].tok = ring_hash(name, (size_t)len);
            v[k].node = i;
            k++;
        }
    }
    qsort(v, r->n_vnodes, sizeof(*v), ring_vnode_cmp);
    for (uint32_t i = 0; i < r->n_vnodes; i++) {
        r->tok[i] = v[i].tok;
        r->owner[i] = v[i].node;
    }
    free(v);

    /* last[] starts at each node's last vnode so the first one links
     * around the ring. */
    for (uint32_t i = 0; i < r->n_vnodes; i++)
        last[r->owner[i]] = i;
    for (uint32_t i = 0; i < r->n_vnodes; i++) {
        uint32_t o = r->owner[i];
        r->prev_same[i] = last[o];
        last[o] = i;
    }
    free(last);

    /* vnode i owns (tok[i-1], tok[i]]; a single vnode owns everything. */
    for (uint32_t i = 0; i < r->n_vnodes; i++) {
        uint32_t p = i ? i - 1 : r->n_vnodes - 1;
        r->own[r->owner[i]] += r->n_vnodes == 1 ? 1.0 : ring_span(r->tok[p], r->tok[i]);
    }
    return 0;
}

/* XXH3-64 of everything placement reads: vnodes_per_weight and, in id
 * order, each node's id, dc, rack and weight (the tokens follow from the
 * ids and weights, the preference lists from the tokens and places). */
static uint64_t ring_fingerprint(const dk_ring *r, uint32_t vnodes_per_weight)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return 0;
    XXH3_64bits_reset(h);
    uint32_t vpw = vnodes_per_weight;
    XXH3_64bits_update(h, &vpw, sizeof(vpw));
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        const dk_ring_node *d = &r->nodes[i];
        uint32_t w = d->weight;
        XXH3_64bits_update(h, d->id, strlen(d->id) + 1);
        XXH3_64bits_update(h, d->dc, strlen(d->dc) + 1);
        XXH3_64bits_update(h, d->rack, strlen(d->rack) + 1);
        XXH3_64bits_update(h, &w, sizeof(w));
    }
    uint64_t f = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return f;
}

int dk_ring_build(const dk_ring_node *nodes, size_t n, uint32_t vnodes_per_weight, uint64_t version,
                  dk_ring **out)
{
    *out = NULL;
    if (vnodes_per_weight == 0)
        vnodes_per_weight = DK_RING_VNODES_DEFAULT;
    if (n > DK_RING_NODES_MAX || vnodes_per_weight > DK_RING_VNODES_MAX || (n && !nodes))
        return -EINVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const dk_ring_node *a = &nodes[i];
        if (!ring_valid_id(a->id) || a->weight < 1 || a->weight > DK_RING_WEIGHT_MAX ||
            !memchr(a->dc, 0, sizeof(a->dc)) || !memchr(a->rack, 0, sizeof(a->rack)))
            return -EINVAL;
        total += (uint64_t)vnodes_per_weight * a->weight;
    }
    if (total > RING_MAX_VNODES)
        return -EINVAL;

    dk_ring *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    atomic_init(&r->refs, 1);
    r->version = version;
    r->n_nodes = (uint32_t)n;
    r->n_vnodes = (uint32_t)total;
    /* +1: calloc(0) may return NULL, which would read as a failure. */
    r->nodes = calloc(n + 1, sizeof(*r->nodes));
    r->dc_id = calloc(n + 1, sizeof(*r->dc_id));
    r->rack_id = calloc(n + 1, sizeof(*r->rack_id));
    r->own = calloc(n + 1, sizeof(*r->own));
    r->tok = calloc(total + 1, sizeof(*r->tok));
    r->owner = calloc(total + 1, sizeof(*r->owner));
    r->prev_same = calloc(total + 1, sizeof(*r->prev_same));
    int rc = -ENOMEM;
    if (!r->nodes || !r->dc_id || !r->rack_id || !r->own || !r->tok || !r->owner || !r->prev_same)
        goto err;

    for (size_t i = 0; i < n; i++) {
        /* Copy field by field so bytes after each NUL are zero: two rings
         * from the same membership are then byte-identical per node. */
        dk_ring_node *d = &r->nodes[i];
        strcpy(d->id, nodes[i].id);
        strcpy(d->dc, nodes[i].dc);
        strcpy(d->rack, nodes[i].rack);
        d->weight = nodes[i].weight;
        d->state = nodes[i].state;
    }
    if (n)
        qsort(r->nodes, n, sizeof(*r->nodes), ring_node_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(r->nodes[i - 1].id, r->nodes[i].id) == 0) {
            rc = DK_EEXISTS;
            goto err;
        }
    }
    ring_intern_topology(r);
    r->fingerprint = ring_fingerprint(r, vnodes_per_weight);
    rc = ring_place_vnodes(r, vnodes_per_weight);
    if (rc)
        goto err;
    *out = r;
    return 0;
err:
    ring_free(r);
    return rc;
}

void dk_ring_ref(dk_ring *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void dk_ring_unref(dk_ring *r)
{
    if (!r)
        return;
    /* acq_rel: the freeing thread must see every other holder's reads
     * completed (the usual reference-count ordering). */
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        ring_free(r);
}

dk_token dk_ring_key_token(const void *key, size_t len)
{
    return ring_hash(key, len);
}

/* Index of the first vnode whose token is >= t, wrapping to 0. */
static uint32_t ring_successor(const dk_ring *r, dk_token t)
{
    uint32_t lo = 0, hi = r->n_vnodes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ring_tok_cmp(r->tok[mid], t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->n_vnodes ? 0 : lo;
}

/* A walk over distinct nodes clockwise from vnode start. */
typedef struct {
    const dk_ring *r;
    uint32_t start, dist, met;
} ring_walker;

static void ring_walker_init(ring_walker *w, const dk_ring *r, uint32_t start)
{
    w->r = r;
    w->start = start;
    w->dist = 0;
    w->met = 0;
}

/* The next node met for the first time, or RING_NONE at the end. */
static uint32_t ring_walker_next(ring_walker *w)
{
    const dk_ring *r = w->r;
    uint32_t nv = r->n_vnodes;
    while (w->met < r->n_nodes && w->dist < nv) {
        uint32_t d = w->dist++;
        uint32_t i = w->start + d;
        if (i >= nv)
            i -= nv;
        uint32_t p = r->prev_same[i];
        uint32_t dp = p >= w->start ? p - w->start : p + nv - w->start;
        if (dp >= d) {
            w->met++;
            return r->owner[i];
        }
    }
    return RING_NONE;
}

static int ring_chosen(const uint32_t *out, size_t m, const uint32_t *ids, uint32_t want)
{
    for (size_t j = 0; j < m; j++)
        if (ids ? ids[out[j]] == want : out[j] == want)
            return 1;
    return 0;
}

size_t dk_ring_preference_token(const dk_ring *r, dk_token t, size_t n, uint32_t *out)
{
    if (r->n_nodes == 0 || n == 0)
        return 0;
    if (n > r->n_nodes)
        n = r->n_nodes;
    uint32_t start = ring_successor(r, t);
    size_t m = 0;
    ring_walker w;

    /* Every node chosen by passes 1 and 2 has its own dc (pass 1) or rack
     * (pass 1 and 2), so m counts the distinct dcs / racks chosen so far and
     * a pass can stop once none is left to find. */
    ring_walker_init(&w, r, start);
    for (uint32_t x; m < n && m < r->n_dcs && (x = ring_walker_next(&w)) != RING_NONE;)
        if (!ring_chosen(out, m, r->dc_id, r->dc_id[x]))
            out[m++] = x;
    ring_walker_init(&w, r, start);
    for (uint32_t x; m < n && m < r->n_racks && (x = ring_walker_next(&w)) != RING_NONE;)
        if (!ring_chosen(out, m, r->rack_id, r->rack_id[x]))
            out[m++] = x;
    ring_walker_init(&w, r, start);
    for (uint32_t x; m < n && (x = ring_walker_next(&w)) != RING_NONE;)
        if (!ring_chosen(out, m, NULL, x))
            out[m++] = x;

    /* Put the chosen nodes in walk order, in place. */
    ring_walker_init(&w, r, start);
    size_t k = 0;
    for (uint32_t x; k < m && (x = ring_walker_next(&w)) != RING_NONE;) {
        for (size_t j = k; j < m; j++) {
            if (out[j] == x) {
                out[j] = out[k];
                out[k++] = x;
                break;
            }
        }
    }
    return m;
}

size_t dk_ring_preference(const dk_ring *r, const void *key, size_t len, size_t n, uint32_t *out)
{
    return dk_ring_preference_token(r, dk_ring_key_token(key, len), n, out);
}

size_t dk_ring_walk(const dk_ring *r, dk_token t, int (*visit)(void *arg, uint32_t idx), void *arg)
{
    if (r->n_nodes == 0)
        return 0;
    ring_walker w;
    ring_walker_init(&w, r, ring_successor(r, t));
    size_t calls = 0;
    for (uint32_t x; (x = ring_walker_next(&w)) != RING_NONE;) {
        calls++;
        if (visit(arg, x))
            break;
    }
    return calls;
}

const dk_ring_node *dk_ring_node_at(const dk_ring *r, uint32_t idx)
{
    return idx < r->n_nodes ? &r->nodes[idx] : NULL;
}

size_t dk_ring_node_count(const dk_ring *r)
{
    return r->n_nodes;
}

size_t dk_ring_vnode_count(const dk_ring *r)
{
    return r->n_vnodes;
}

int dk_ring_find(const dk_ring *r, const char *node_id)
{
    uint32_t lo = 0, hi = r->n_nodes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->nodes[mid].id, node_id);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return DK_ENOTFOUND;
}

uint64_t dk_ring_version(const dk_ring *r)
{
    return r->version;
}

uint64_t dk_ring_fingerprint(const dk_ring *r)
{
    return r->fingerprint;
}

double dk_ring_ownership(const dk_ring *r, uint32_t idx)
{
    return idx < r->n_nodes ? r->own[idx] : 0.0;
}

int dk_ring_cell_init(dk_ring_cell *c, dk_ring *initial)
{
    int rc = pthread_mutex_init(&c->mu, NULL);
    if (rc)
        return -rc;
    c->ring = initial;
    return 0;
}

void dk_ring_cell_destroy(dk_ring_cell *c)
{
    dk_ring_unref(c->ring);
    c->ring = NULL;
    pthread_mutex_destroy(&c->mu);
}

dk_ring *dk_ring_cell_get(dk_ring_cell *c)
{
    pthread_mutex_lock(&c->mu);
    dk_ring *r = c->ring;
    if (r)
        dk_ring_ref(r);
    pthread_mutex_unlock(&c->mu);
    return r;
}

void dk_ring_cell_set(dk_ring_cell *c, dk_ring *r)
{
    pthread_mutex_lock(&c->mu);
    dk_ring *old = c->ring;
    c->ring = r;
    pthread_mutex_unlock(&c->mu);
    dk_ring_unref(old);
}

void dk_ring_range(const dk_ring *r, size_t i, dk_token *start, dk_token *end)
{
    if (r->n_vnodes == 0 || i >= r->n_vnodes) {
        *start = *end = (dk_token){0, 0};
        return;
    }
    *end = r->tok[i];
    *start = r->tok[i ? i - 1 : r->n_vnodes - 1];
}

size_t dk_ring_range_of(const dk_ring *r, dk_token t)
{
    if (r->n_vnodes == 0)
        return 0;
    return ring_successor(r, t);
}

int dk_token_cmp(dk_token a, dk_token b)
{
    return ring_tok_cmp(a, b);
}

int dk_token_in_range(dk_token t, dk_token start, dk_token end)
{
    int se = ring_tok_cmp(start, end);
    if (se == 0)
        return 1;
    if (se < 0)
        return ring_tok_cmp(t, start) > 0 && ring_tok_cmp(t, end) <= 0;
    return ring_tok_cmp(t, start) > 0 || ring_tok_cmp(t, end) <= 0;
}
