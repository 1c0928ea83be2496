/*
 * leaver.h - the end of a decommission: a node that is `left` drains
 * before it may be stopped, and says when it has.
 *
 * Once its own status is left (rebalance.c announced it) the node serves
 * no data: /kv and /crdt requests are refused with 503 {"error":"left"}
 * (api.c asks dk_cluster_left). It may still hold what other members need:
 * hints for the new owners (a copy that failed while it coordinated) and
 * writes it coordinated that are still on their way. The drain, stepped
 * by the rebalance tick (250 ms) on the cluster loop:
 *   - replays its hints at once (not at the next replay tick) and every
 *     step after while any is left;
 *   - waits request_timeout (+ DK_LEAVER_SLACK_MS) after it turned left:
 *     no write it accepted before outlives that, so each has been
 *     acknowledged or kept as a hint by then (the same bound rebalance.c's
 *     settle time uses);
 *   - is handed off when both hold: hints_pending 0 and that window over.
 * It then logs "decommission complete: handed off, safe to stop" once,
 * sets the decommission_handed_off gauge, and GET /cluster and
 * GET /admin/decommission show "handed_off": true.
 *
 * Not taken: counting every coordinated write in flight across the loops
 * (the coordinators live on other loops and in files other work owns);
 * the time bound is the one the ring move already relies on.
 *
 * A SIGTERM before that (server/dynkvd.c) waits for the hand-off up to
 * DK_LEAVER_STOP_WAIT_MS, then logs the hints it could not deliver by
 * count and target; they stay in the hint store (data_dir/hints), so a
 * restart of the node delivers them.
 *
 * Threads: dk__leaver_step on the cluster loop; the getters read atomics
 * and may be called from any thread.
 */
#ifndef DK_LEAVER_H
#define DK_LEAVER_H

#include <stdint.h>
#include <jansson.h>
#include "cluster/cluster.h"

#define DK_LEAVER_STOP_WAIT_MS 30000u
#define DK_LEAVER_SLACK_MS 1000u /* past request_timeout: a hint forwarded from another loop, its store */

/* One step of the drain; self is this node's status now. Cluster loop. */
void dk__leaver_step(dk_cluster *c, dk_member_status self);

/* 1 when this node is left (it serves no data). Any thread. */
int dk_cluster_left(const dk_cluster *c);

/* 1 when this node is left and has handed everything off. Any thread. */
int dk_cluster_handed_off(const dk_cluster *c);

/* The hints it held at the last step. Any thread. */
uint64_t dk_cluster_hints_left(const dk_cluster *c);

/* Describe the undelivered hints per target into out ("" when none) and
 * return how many there are. Cluster loop. */
uint64_t dk_cluster_hints_describe(dk_cluster *c, char *out, size_t len);

/* {"status", "handed_off", "hints_pending"} of this node's decommission,
 * for GET /cluster and /admin/decommission. Any thread. */
json_t *dk_cluster_decommission_json(const dk_cluster *c);

#endif /* DK_LEAVER_H */
