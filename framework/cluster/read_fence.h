/*
 * read_fence.h - what a node's read fence covers (handoff_wait.h, "the
 * window after the end"), kept in a file of its data directory so that a
 * node restarted while fenced comes back fenced.
 *
 * Two kinds, applied to the store (node/store.h):
 *   - the whole store: a node that has just joined or replaced itself
 *     (every range it holds is new to it);
 *   - token ranges: a normal node that gains ranges in a decommission or
 *     a removal (it receives them as a pending replica, and copies sent
 *     to it meanwhile can fail and become hints, as for a joiner). It
 *     fences only those ranges and keeps serving the ones it had: fencing
 *     its whole store would make every quorum read at n_replicas = 2 fail
 *     for the whole move, which can last hours, for the sake of the few
 *     ranges that move. The ranges are fenced when its stream plan for the
 *     move is installed, which is before it can tell the move's driver it
 *     has them, so before any member can treat it as their owner.
 * The fence is lifted by the handoff check (dk__read_fence_step, run by
 * every step of rebalance.c) once the move is over here: every live
 * member counts this node and has settled every copy it sent it, without
 * hints for it. The gauge handoff_read_fenced says whether a fence is up.
 *
 * The file, read_fence.json in data_dir, written atomically (a temporary
 * file fsynced, renamed, the folder fsynced) on every change and removed
 * when the fence is lifted: {"move": sig, "whole": bool, "ranges":
 * [[start, end], ...]} with tokens as 32 hex digits. A node that starts
 * with it raises the fence before it serves anything and runs the check
 * again before lifting it (its hints may have been waiting while it was
 * down). A file that does not parse fences the whole store (logged): a
 * fence too wide costs reads for one check, one too narrow can lose one.
 *
 * Loop thread, except where said.
 */
#ifndef DK_READ_FENCE_H
#define DK_READ_FENCE_H

#include "cluster/cluster.h"
#include "coord/stream.h"
#include "node/store.h"
#include "ring/ring.h"

#define DK_READ_FENCE_FILE "read_fence.json"

typedef struct dk__read_fence dk__read_fence;

/* Open the fence of store, kept in data_dir (the copied path), and raise
 * what the file there says. NULL on ENOMEM. */
dk__read_fence *dk__read_fence_open(const char *data_dir, dk_store *store);
/* After nothing reads through the store any more. The file stays. */
void dk__read_fence_free(dk__read_fence *f);

/* Whether any fence is up; whether the whole store's is. */
int dk__read_fence_up(const dk__read_fence *f);
int dk__read_fence_whole(const dk__read_fence *f);
/* The move that raised it ("" when none, or restored without one). */
const char *dk__read_fence_move(const dk__read_fence *f);

/* Raise the whole store's fence / add the ranges (start[i], end[i]] to the
 * fenced ones, for move sig, then save the file. 0 (ranges: 1 when some
 * were new), or the error of the file (logged; the fence is up in memory
 * anyway). */
int dk__read_fence_raise_whole(dk__read_fence *f, const char *sig);
int dk__read_fence_raise_ranges(dk__read_fence *f, const char *sig, const dk_token *start,
                                const dk_token *end, size_t n);
/* Lift every fence and remove the file. */
void dk__read_fence_lift(dk__read_fence *f);

/* A normal node's stream plan for move sig is installed: fence the ranges
 * it receives (want[0..n), n may be 0), logged as self's. */
void dk__read_fence_raise_move(dk__read_fence *f, const char *self, const char *sig,
                               const dk_stream_want *want, size_t n);
/* The fence's step, from every rebalance step: nothing while this node
 * still receives ranges (receiving); once the move is over here, the
 * check after the end (handoff_wait.h) with targets this node, which
 * lifts the fence when it passes; each of its answers that counts calls
 * kick(arg) (step again at once). A fence restored from the file first
 * waits for contact with the cluster and listen_ms more (members not
 * heard of yet look down and would not be asked). */
void dk__read_fence_step(dk__read_fence *f, dk_cluster *c, int receiving, uint64_t listen_ms,
                         void (*kick)(void *arg), void *arg);
#endif
