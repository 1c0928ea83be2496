/*
 * api_ring.c - the ring signal on /kv, /crdt and scan answers, so a
 * ring-aware client (sdk/) learns at once that its copy of the ring is
 * out of date instead of waiting for its periodic refresh:
 *
 *   X-Ring: 3f2a9c0e5d1b7a64       the tag of the ring this node routes
 *                                   with, 16 hex digits
 *   X-Coordinator: not-replica      only when this node is not one of the
 *                                   key's replicas under that ring (it
 *                                   coordinates anyway, through the
 *                                   replicas; the client routed by a ring
 *                                   that is not this node's)
 *
 * The tag is the ring's fingerprint (ring.h: a hash of every input of
 * placement, the same on every node that built the ring from the same
 * members) mixed with n_replicas, which decides how long the preference
 * lists are. It changes exactly when a key's replicas may have changed:
 * a join, a decommission or removal, a changed weight, dc or rack, or
 * another n_replicas; not when a node goes down (a down node keeps its
 * ranges) nor when a node rebuilds the same ring (its local ring_version
 * moves, the tag does not). GET /cluster/ring reports the same tag as
 * "ring_tag", from the same snapshot as its ranges, so a client compares
 * the tag it fetched with the tags it sees on answers.
 *
 * The headers are chosen when the request arrives (dk__api_kv,
 * dk__api_scan), so every answer carries them, errors included. A node
 * without a ring (no cluster services, or before it joined) sends
 * neither. The ring is the one the request's loop routes with, borrowed
 * from the loop's own snapshot (cluster.h, dk_cluster_ring_here): no
 * shared lock or reference count per request. The key's preference list
 * computed for X-Coordinator goes on to the coordinator (kv.c), which
 * does not walk the ring a second time.
 */
#include <stdio.h>

#include "api/api_int.h"
#include "cluster/cluster.h"
#include "ring/ring.h"

uint64_t dk__api_ring_tag(const dk_api *api, const dk_ring *r)
{
    /* splitmix64 of the fingerprint plus n_replicas: a different n gives
     * an unrelated tag */
    uint64_t x = dk_ring_fingerprint(r) + (uint64_t)api->cfg->cluster.n_replicas * 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void dk__api_ring_note(dk_api_req *q, const uint8_t *key, size_t len, dk_coord_prefs *prefs)
{
    dk_cluster *c = q->api->cluster;
    /* The ring this loop routes with, borrowed: no lock, no reference. */
    const dk_ring *r = c ? dk_cluster_ring_here(c, q->api->loop_index) : NULL;
    if (prefs)
        prefs->n = 0;
    if (!r)
        return;
    char line[] = "X-Ring: 0123456789abcdef\r\n";
    uint64_t tag = dk__api_ring_tag(q->api, r);
    for (int i = 15; i >= 0; i--, tag >>= 4)
        line[8 + i] = "0123456789abcdef"[tag & 15];
    dk_buf_append(&q->headers, line, sizeof(line) - 1);
    if (!key || !prefs || dk_ring_node_count(r) == 0)
        return;
    /* The key's replicas, the first min(n_replicas, nodes) nodes GET
     * /cluster/ring?ranges lists for its range; the coordinator takes the
     * same list rather than walk the ring again. */
    dk_coord_prefs_make(r, q->api->cfg->cluster.n_replicas, (dk_slice){key, len}, prefs);
    int self = dk_ring_find(r, q->api->cfg->node.id);
    for (uint32_t i = 0; self >= 0 && i < prefs->n; i++)
        if (prefs->idx[i] == (uint32_t)self)
            return;
    dk_buf_append_str(&q->headers, "X-Coordinator: not-replica\r\n");
}
