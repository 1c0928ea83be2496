/*
 * rebalance.h - ring moves driven from the member table (DESIGN.md
 * section 6, "Rebalancing"): bootstrap, replacement, decommission and
 * removal, on the cluster loop.
 *
 * This node's ring status at start:
 *   - with its data: what the persisted table says it was (normal when it
 *     says nothing); a move it was in resumes;
 *   - without (new data directory, non-durable engine, lost engine
 *     folder): replacing when its persisted table shows it on the ring,
 *     else joining. A joining node waits for first contact (gossip), then
 *     stays joining when any other member is on the ring (a bootstrap: it
 *     streams its ranges) and is normal at once otherwise (the first nodes
 *     of a cluster: nothing can have been written yet). If the cluster
 *     remembers it on the ring, gossip makes it replacing (membership.c),
 *     and its version-vector actor incarnation is raised above the one the
 *     cluster remembers and fsynced before it coordinates anything.
 *
 * Every table change rebuilds the transition (pending.h). After it has
 * been stable for a settle time (max(300 ms, 2 gossip intervals), so every
 * coordinator sends the new pending writes before a stream can pass a
 * key), this node installs its part of it as the coordinator's stream plan
 * (stream.h). Each move has a driver that polls every receiver with
 * STREAM_DONE and finishes the move once all have everything:
 *   joining / replacing node   itself       -> normal
 *   leaving node that is up    itself       -> left (out of the ring)
 *   leaving node that is down  the live normal member with the lowest id
 *                              (whoever it is when the one that started
 *                              the removal died)  -> removed
 * A receiver that is down holds its move until it is back or removed.
 *
 * Where Riak and Cassandra differ: Cassandra's seeds never bootstrap and a
 * replacement needs a flag; here every node without data streams before it
 * serves reads, seeds included, and a replacement is recognised from the
 * member table, because the other way serves empty replicas as if full.
 * Riak hands data off from the old owner only; here, when the displaced
 * owner is down, every readable replica of the range is a source, so a
 * write acknowledged by any of them is kept.
 */
#ifndef DK_REBALANCE_H
#define DK_REBALANCE_H

#include <jansson.h>
#include "cluster/cluster.h"

/* The ring status this node starts with (see above), from its node state
 * and the persisted table m[0..n). */
dk_member_status dk_rebalance_initial_status(const dk_node *node, const char *self_id, const dk_member *m,
                                             size_t n);

/* Start / stop the driver on c's loop (after membership, RPC and the
 * coordinator started; stop before they stop). free after they stopped.
 * Loop thread. */
int dk_rebalance_start(dk_cluster *c);
void dk_rebalance_stop(dk_cluster *c, void (*done)(void *), void *arg);
void dk_rebalance_free(dk_cluster *c);

/* Gossip published table m[0..n) (self first). Loop thread. */
void dk_rebalance_on_members(dk_cluster *c, const dk_member *m, size_t n);

/* The coordinator's view of moves (coordinator.h). Loop thread. */
int dk_rebalance_readable(dk_cluster *c);
/* Whether node_id is a receiver of the move under way here. */
int dk_rebalance_receiving(dk_cluster *c, const char *node_id);
/* 1 while this node, just normal after a join or a replace, serves no
 * reads (handoff_wait.h, "the window after the end"): its store's reads
 * answer unavailable and peers' GET_REPLICA and SCAN_RANGE are refused. */
int dk_rebalance_fenced(const dk_cluster *c);
size_t dk_rebalance_pending(dk_cluster *c, dk_token t, dk_coord_pending *out);
const char *dk_rebalance_sig(dk_cluster *c);

/*
 * Admin verbs (loop thread). Each returns 0 when the move started (or was
 * already under way), or an error with a reason in why: DK_EEXISTS-like
 * refusals as -EBUSY (another move, a member up), -EPERM (it would leave
 * fewer nodes than n_replicas), DK_ENOTFOUND (no such member).
 *   decommission: this node becomes leaving.
 *   remove: member id, which must be down, becomes leaving on its behalf.
 */
int dk_rebalance_decommission(dk_cluster *c, char *why, size_t whylen);
int dk_rebalance_remove(dk_cluster *c, const char *id, char *why, size_t whylen);

/* Streaming progress as JSON: {"move": sig or null, "receivers": {id:
 * {"done", "ranges_done", "ranges_total", "keys", "bytes"}}, "self":
 * {...streams...}}. Any thread; the caller owns the result. */
json_t *dk_rebalance_progress(dk_cluster *c);

/* Progress of one member as last known here (NULL when none): a new
 * reference. Any thread. */
json_t *dk_rebalance_member_progress(dk_cluster *c, const char *id);
#endif
