/*
 * antientropy.h - anti-entropy repair between replicas (DESIGN.md sections
 * 6 and 11): Merkle trees maintained on every write, exchanged with the
 * other replicas on a schedule and on demand, and the rule that lets
 * compaction purge a tombstone only once every replica has it.
 *
 * Groups. The ring's ranges whose preference lists hold the same set of
 * nodes form a replica group; this node keeps one tree (merkle.h) per group
 * it belongs to, fed by the store's write hook, so every write path
 * (client writes, replication, read repair, hint replay, repair itself)
 * updates it in O(1). The trees are built from a snapshot of the store at
 * start and whenever the ring changes (merkle_rebuilds_total). A clean
 * stop saves them (data_dir/merkle.trees, merkle_file.h) with the engine's
 * last sequence number; the next start takes them instead of scanning
 * (merkle_loads_total) when that number has not moved and the ring is the
 * same, and rebuilds otherwise: after a crash, after writes, when the copy
 * is missing or damaged (logged with file and offset). ae_saved.c says
 * why that proves the copy fresh.
 *
 * Exchanges (ae_exchange.c, ae_serve.c). One at a time per node, this node
 * runs an exchange with each peer of each group: trees top-down, then the
 * (key, hash) lists of the differing leaves only, then the differing
 * objects both ways in bounded batches, merged by the conflict resolver.
 * A round covers every (group, peer) pair; rounds start every
 * cluster.anti_entropy_interval (jittered by +-25 %, the first one within
 * one interval of start; 0 = only on demand) and on dk_ae_repair. A peer
 * that is down fails its pair until the next round.
 *
 * The repair rule (host.h). For each (group, peer) the start time of the
 * last exchange that completed is kept, and persisted in the catalog's
 * repair_state table. repaired_before = the minimum of those over this
 * node's groups and their peers (0 while any is missing; "now" when no
 * group has a peer), published to node->repaired_before_ms for compaction:
 * a dead record written before it was on this node when an exchange with
 * every peer started and completed, so every peer has it or something
 * newer, and purging it cannot resurrect the value it deleted.
 *
 * Late arrivals. A dead record can reach this node after exchanges that
 * started after its write time (replicated late, repaired from another
 * peer). Those exchanges did not carry it, so the hook lowers the group's
 * exchange records (and repaired_before, at once) to its write time, and
 * only exchanges that start afterwards raise them again. Lowered records
 * reach the catalog at the next save; after a crash the saved ones may be
 * too recent, so a start that does not find the clean-stop flag (set by
 * the last job of a clean stop) counts none of them.
 *
 * Threads: dk_ae_repair and dk_ae_status run on the coordinator's loop,
 * like everything else here except jobs and the store hook.
 */
#ifndef DK_ANTIENTROPY_H
#define DK_ANTIENTROPY_H

#include <stdint.h>
#include "coord/coordinator.h"
#include "util/buf.h"

/*
 * Ask for a repair now: a round over every group and peer (prefix empty),
 * or over only the keys starting with prefix (it lists those keys and
 * skips the trees; it does not count for the repair rule). Requests queue
 * behind a round in progress. Returns 0 and the request's id, DK_ECLOSED
 * (stopping), -EINVAL (prefix over DK_KEY_MAX) or -EBUSY (too many
 * requests waiting). Loop thread.
 */
int dk_ae_repair(dk_coord *c, dk_slice prefix, uint64_t *id);

/*
 * Append GET /admin/repair's JSON document to out: the trees, the round in
 * progress, the recent requests with their outcome, repaired_before, and
 * per group and peer the last completed exchange and the last error.
 * Returns 0 or -ENOMEM. Loop thread.
 */
int dk_ae_status(dk_coord *c, dk_buf *out);

#endif /* DK_ANTIENTROPY_H */
