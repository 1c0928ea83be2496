/*
 * ae_layout.c - anti-entropy's replica groups and their Merkle trees: which
 * group a key belongs to, the store hook that keeps the trees in step with
 * every write, the build of the trees from a store snapshot, and the key
 * scans an exchange compares (design in antientropy.h).
 *
 * Grouping. Every ring range whose preference list holds this node falls in
 * the group of that list's member set (order ignored). All of a group's
 * ranges have the same replicas, so one tree per group serves one exchange
 * per peer, where a tree per range would need hundreds (768 ranges on a
 * 3-node ring all share one group). A group is named by its sorted member
 * ids and a signature of its ranges' tokens: two nodes with the same ring
 * compute the same groups, and a ring change yields new names.
 *
 * Build. The hook maintains the installed layout's trees. A new layout is
 * installed and a snapshot iterator opened while every stripe lock is held
 * (dk_store_exclusive), so each key's later writes reach the new trees as
 * deltas from exactly the version the snapshot shows; the scan then adds
 * each snapshot version. XOR does not care about the order, so the result
 * equals a build of the store as it is when the scan ends, with writes
 * going on all along. The first build after a start takes the saved
 * trees instead, at the same moment, when they still describe the store
 * (ae_saved.c): later writes reach them as deltas the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "node/host.h"
#include "node/object.h"

/* ---- layouts -------------------------------------------------------------- */

void dk__ae_layout_ref(dk__ae_layout *l)
{
    atomic_fetch_add(&l->refs, 1);
}

void dk__ae_layout_unref(dk__ae_layout *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    dk_ring_unref(l->ring);
    free(l->range_group);
    free(l->g);
    free(l);
}

static int layout_idx_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int dk__ae_layout_new(dk_ring *ring, const char *self, uint32_t n_replicas, dk__ae_layout **out)
{
    size_t nr = dk_ring_vnode_count(ring);
    int self_idx = dk_ring_find(ring, self);
    uint32_t n = n_replicas < COORD_N_MAX ? n_replicas : COORD_N_MAX;
    dk__ae_layout *l = calloc(1, sizeof(*l));
    uint32_t(*sets)[COORD_N_MAX + 1] = calloc(nr ? nr : 1, sizeof(*sets)); /* [0] = count */
    XXH3_state_t **sig = NULL;
    size_t ng = 0;
    int rc = -ENOMEM;
    if (!l || !sets || !(l->range_group = malloc((nr ? nr : 1) * sizeof(int32_t))))
        goto err;
    atomic_init(&l->refs, 1);
    atomic_init(&l->ready, 0);
    dk_ring_ref(ring);
    l->ring = ring;
    for (size_t i = 0; i < nr; i++) {
        dk_token start, end;
        uint32_t idx[COORD_N_MAX];
        dk_ring_range(ring, i, &start, &end);
        size_t m = dk_ring_preference_token(ring, end, n, idx);
        qsort(idx, m, sizeof(idx[0]), layout_idx_cmp);
        l->range_group[i] = -1;
        int mine = 0;
        for (size_t k = 0; k < m; k++)
            mine |= self_idx >= 0 && idx[k] == (uint32_t)self_idx;
        if (!mine)
            continue;
        size_t gi = 0;
        while (gi < ng && !(sets[gi][0] == m && memcmp(&sets[gi][1], idx, m * sizeof(idx[0])) == 0))
            gi++;
        if (gi == ng) {
            sets[ng][0] = (uint32_t)m;
            memcpy(&sets[ng][1], idx, m * sizeof(idx[0]));
            ng++;
        }
        l->range_group[i] = (int32_t)gi;
    }
    if (ng && (!(l->g = calloc(ng, sizeof(*l->g))) || !(sig = calloc(ng, sizeof(*sig)))))
        goto err;
    l->n_groups = ng;
    for (size_t gi = 0; gi < ng; gi++) {
        dk__ae_group *g = &l->g[gi];
        size_t at = 0;
        for (uint32_t k = 0; k < sets[gi][0]; k++) {
            const char *id = dk_ring_node_at(ring, sets[gi][1 + k])->id;
            at += (size_t)snprintf(g->name + at, sizeof(g->name) - at, "%s%s", k ? "," : "", id);
            if ((int)sets[gi][1 + k] != self_idx)
                snprintf(g->peers[g->n_peers++], sizeof(g->peers[0]), "%s", id);
        }
        atomic_init(&g->clamp, INT64_MAX);
        if (!(sig[gi] = XXH3_createState()))
            goto err;
        /* Seeded with the item definition: trees of two never compare. */
        XXH3_64bits_reset_withSeed(sig[gi], DK_MERKLE_ITEM_DEF);
    }
    for (size_t i = 0; i < nr; i++) {
        if (l->range_group[i] < 0)
            continue;
        dk_token t[2];
        dk_ring_range(ring, i, &t[0], &t[1]);
        XXH3_64bits_update(sig[l->range_group[i]], t, sizeof(t));
        l->g[l->range_group[i]].n_ranges++;
    }
    for (size_t gi = 0; gi < ng; gi++) {
        dk__ae_group *g = &l->g[gi];
        g->sig = XXH3_64bits_digest(sig[gi]);
        snprintf(g->key, sizeof(g->key), "%s/%016llx", g->name, (unsigned long long)g->sig);
    }
    rc = 0;
    *out = l;
    l = NULL;
err:
    for (size_t gi = 0; sig && gi < ng; gi++)
        XXH3_freeState(sig[gi]);
    free(sig);
    free(sets);
    dk__ae_layout_unref(l);
    return rc;
}

int dk__ae_layout_group_of(const dk__ae_layout *l, dk_token t)
{
    if (!l || !l->n_groups || dk_ring_vnode_count(l->ring) == 0)
        return -1;
    return l->range_group[dk_ring_range_of(l->ring, t)];
}

int dk__ae_layout_find(const dk__ae_layout *l, dk_slice name, uint64_t sig)
{
    for (size_t i = 0; l && i < l->n_groups; i++)
        if (l->g[i].sig == sig && strlen(l->g[i].name) == name.len &&
            memcmp(l->g[i].name, name.ptr, name.len) == 0)
            return (int)i;
    return -1;
}

/* ---- the store hook ----------------------------------------------------------- */

void dk__ae_hook(void *arg, dk_slice key, dk_slice before, dk_slice after)
{
    dk_ae *ae = arg;
    dk__ae_layout *l = ae->installed;
    dk_token t = dk_ring_key_token(key.ptr, key.len);
    int g = dk__ae_layout_group_of(l, t);
    if (g < 0)
        return;
    dk_merkle_apply(&l->g[g].tree, t, before, after);
    /* A dead record (or one that will expire) written before the latest
     * exchange start arrived only now: an exchange already counted may not
     * have carried it to every peer, so the repair rule must hold it until
     * new exchanges do (antientropy.h, "late arrivals"). */
    dk_object_header h;
    if (dk_object_peek(after, &h) != 0 || !((h.flags & DK_OBJECT_F_ALL_TOMBSTONES) || h.max_expiry_ms != 0))
        return;
    if (h.newest_write_ms > atomic_load(&ae->watermark))
        return;
    _Atomic int64_t *rb = &ae->c->node->repaired_before_ms;
    pthread_mutex_lock(&ae->clamp_mu);
    if (h.newest_write_ms < atomic_load(&l->g[g].clamp))
        atomic_store(&l->g[g].clamp, h.newest_write_ms);
    if (h.newest_write_ms < atomic_load(rb))
        atomic_store(rb, h.newest_write_ms);
    pthread_mutex_unlock(&ae->clamp_mu);
}

/* ---- building a layout's trees --------------------------------------------------- */

typedef struct ae_install {
    dk_ae *ae;
    dk__ae_layout *l, *old;
    const struct dk_merkle_file *saved;
    char *why;
    size_t whylen;
    int loaded;
    dk_engine_iter *it;
    int rc;
} ae_install;

/* Every stripe lock held: swap the hook's layout, then take the saved
 * trees if they still describe the store, or open the snapshot. */
static void ae_install_locked(void *arg)
{
    ae_install *in = arg;
    dk_node *node = in->ae->c->node;
    dk_iter_opts opts = {{NULL, 0}, {NULL, 0}};
    in->old = in->ae->installed;
    dk__ae_layout_ref(in->l);
    in->ae->installed = in->l;
    if (in->saved && dk__ae_saved_fits(node, in->saved, in->l, in->why, in->whylen)) {
        dk__ae_saved_load(in->saved, in->l);
        in->loaded = 1;
        return;
    }
    in->rc = node->engine_ops->iter_open(node->engine, &opts, &in->it);
}

int dk__ae_layout_build(dk_ae *ae, dk__ae_layout *l, const struct dk_merkle_file *saved, int *loaded,
                        char *why, size_t whylen)
{
    dk_node *node = ae->c->node;
    uint64_t t0 = dk_mono_ns();
    ae_install in = {.ae = ae, .l = l, .saved = saved, .why = why, .whylen = whylen};
    *loaded = 0;
    if (saved && !dk__ae_saved_files_fit(node, saved, why, whylen))
        in.saved = NULL; /* listing the files needs no lock */
    dk_store_exclusive(node->store, ae_install_locked, &in);
    dk__ae_layout_unref(in.old);
    if (in.rc)
        return in.rc;
    if (in.loaded) {
        *loaded = 1;
        l->build_ms = (dk_mono_ns() - t0) / 1000000u;
        atomic_store(&l->ready, 1);
        return 0;
    }
    if (!(node->engine_ops->caps & DK_ENGINE_CAP_SNAPSHOT))
        dk_log(DK_LOG_WARN, "anti-entropy: engine iterators are not snapshots; trees may drift "
                            "until the next rebuild");
    int rc;
    uint64_t keys = 0;
    dk_slice k, v;
    while ((rc = node->engine_ops->iter_next(in.it, &k, &v)) == 0) {
        dk_token t = dk_ring_key_token(k.ptr, k.len);
        int g = dk__ae_layout_group_of(l, t);
        if (g >= 0)
            dk_merkle_xor(&l->g[g].tree, dk_merkle_leaf_of(t), dk_merkle_item(t, v));
        keys++;
    }
    node->engine_ops->iter_close(in.it);
    if (rc != DK_EOF)
        return rc;
    l->keys = keys;
    l->build_ms = (dk_mono_ns() - t0) / 1000000u;
    atomic_store(&l->ready, 1);
    return 0;
}

/* ---- key scans -------------------------------------------------------------------- */

/* The smallest key above every key starting with p (len 0: none). */
static size_t ae_prefix_end(dk_slice p, uint8_t *out)
{
    size_t len = p.len;
    memcpy(out, p.ptr, len);
    while (len > 0 && out[len - 1] == 0xff)
        len--;
    if (len > 0)
        out[len - 1]++;
    return len;
}

int dk__ae_key_cmp(dk_slice a, dk_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

void dk__ae_scan_run(dk_node *node, dk__ae_scan *s)
{
    /* Bounds: [max(prefix, from), min(prefix end, upto + "\0")). */
    uint8_t pend[DK_KEY_MAX], uend[DK_KEY_MAX + 1];
    dk_slice start = dk__ae_key_cmp(s->from, s->prefix) > 0 ? s->from : s->prefix;
    dk_slice end = {pend, ae_prefix_end(s->prefix, pend)};
    if (s->upto.len) {
        memcpy(uend, s->upto.ptr, s->upto.len);
        uend[s->upto.len] = 0;
        dk_slice u = {uend, s->upto.len + 1};
        if (end.len == 0 || dk__ae_key_cmp(u, end) < 0)
            end = u;
    }
    dk_buf_reset(&s->entries);
    dk_buf_reset(&s->last);
    s->n = 0;
    s->more = 0;
    dk_engine_iter *it = NULL;
    dk_iter_opts opts = {start, end};
    s->rc = node->engine_ops->iter_open(node->engine, &opts, &it);
    if (s->rc)
        return;
    if (start.len)
        s->rc = node->engine_ops->iter_seek(it, start);
    uint64_t t0 = s->budget_ns ? dk_mono_ns() : 0, seen = 0;
    dk_slice k, v;
    while (s->rc == 0 && (s->rc = node->engine_ops->iter_next(it, &k, &v)) == 0) {
        if (k.len < s->prefix.len || memcmp(k.ptr, s->prefix.ptr, s->prefix.len) != 0)
            continue;
        dk_token t = dk_ring_key_token(k.ptr, k.len);
        if (dk__ae_layout_group_of(s->l, t) == s->g &&
            (!s->leaves || dk_merkle_bit(s->leaves, dk_merkle_leaf_of(t)))) {
            dk_keys_entry e = {.key = k, .kind = DK_KEYS_HASH, .hash = dk_merkle_version(t, v)};
            if ((s->rc = dk_keys_entry_encode(&s->entries, &e)) != 0)
                break;
            s->n++;
        }
        int full = s->max_bytes && s->entries.len >= s->max_bytes;
        if (full || (s->budget_ns && ++seen % 256 == 0 && dk_mono_ns() - t0 > s->budget_ns)) {
            s->more = 1;
            s->rc = dk_buf_append(&s->last, k.ptr, k.len);
            break;
        }
    }
    node->engine_ops->iter_close(it);
    if (s->rc == DK_EOF)
        s->rc = 0;
}

void dk__ae_scan_free(dk__ae_scan *s)
{
    dk_buf_free(&s->entries);
    dk_buf_free(&s->last);
}

static void ae_copy_sink(void *arg, dk_slice value)
{
    dk_buf *b = arg;
    if (dk_buf_append(b, value.ptr, value.len) != 0)
        b->len = (size_t)-1;
}

int dk__ae_get_raw(dk_node *node, dk_slice key, dk_buf *out)
{
    dk_buf_reset(out);
    int rc = node->engine_ops->get(node->engine, key, ae_copy_sink, out);
    if (rc == 0 && out->len == (size_t)-1) {
        out->len = 0;
        rc = -ENOMEM;
    }
    return rc;
}
