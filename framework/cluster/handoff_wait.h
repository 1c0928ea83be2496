/*
 * handoff_wait.h - the last step of a ring move before its driver
 * announces the end (rebalance.c): wait until no write meant for the
 * move's receivers is still on its way.
 *
 * While a range is pending, coordinators send its writes to the receiver
 * too, without counting it toward W; a copy that fails is kept as a hint
 * and replayed later. A receiver that turned normal before that replay
 * answered reads of the key without it (issue 8: about one read in 20000
 * at consistency one right after a join under load). So once every
 * receiver has streamed its ranges, the driver asks every live member
 * (HANDOFF_QUERY, rpc_handoff.h; itself directly) until each has answered
 * that every pending copy it started before the first question has
 * settled and that it holds no undelivered hint for a receiver (the hints
 * are replayed every hint replay interval, as usual). A member that is
 * down is not waited for: its hints wait for the receiver anyway. After
 * [cluster] handoff_wait (30 s) the move ends regardless, with a warning
 * naming the members still holding writes (handoff_waits_timed_out_total).
 * A replacement under constant writes meets that bound: the replacing
 * node owns its ranges but is not readable, so a write for them goes to a
 * fallback with a hint for it, and some member always holds one. Metrics:
 * handoff_waits_total, handoff_wait_ms_total, handoff_waits_for_hints_total
 * (waits in which some member held hints for a receiver).
 *
 * The window after the end. Members keep sending uncounted copies to a
 * receiver until they hear that the move is over, and such a copy can
 * still fail and become a hint after the last answer above; a receiver
 * read from meanwhile would miss the write at consistency one. So a node
 * that turns normal after joining (or replacing itself) first raises a
 * read fence (rebalance.c): it announces normal, counts toward W from
 * then on, but answers no read (its store's reads answer "unavailable",
 * node/store.h, so its own coordinator's local reads and scans count as
 * a replica that did not answer, and peers' GET_REPLICA and SCAN_RANGE
 * are refused with "unavailable", so they read the other replicas). The
 * same check then runs again in "after"
 * mode: each member's answers count only once it no longer treats the
 * node as a pending replica (DK_HANDOFF_COUNTED set), so a later
 * answer without hints that proves the first one's epoch settled
 * (handoff_wait.c, hw_answer) proves that every
 * uncounted copy it ever sent there is delivered, and every later write
 * counts the node toward W. Then the fence drops. The cost: while the
 * fence is up (a few round trips when nothing is in flight: each answer
 * asks again at once; until the copies in flight when it was raised
 * have settled and the hints are replayed, which asking
 * triggers at once, otherwise; handoff_wait at most), reads that need
 * the node's answer (consistency all; quorum when N = 2; compare-and-set)
 * fail with 503 for its ranges, as if it were down, where they could
 * have returned a stale answer.
 * Members that are down are not waited for, here as above: a hint they
 * hold for the node is replayed when they come back, and anti-entropy
 * finds it otherwise. A member older than the flag never sets it: the
 * fence then lasts handoff_wait (a rolling upgrade).
 * The same window exists on every node that gains ranges by a move (a
 * decommission's or a removal's new owners): each fences the ranges it
 * receives and lifts them after the same check once the move is over
 * here; and the fence is kept in the data directory, so a node that
 * restarts while fenced comes back fenced (cluster/read_fence.h).
 *
 * Who is asked: every member that runs, including a suspect one (it may
 * just be slow) and one that has left: a decommissioned node coordinates
 * writes, with uncounted copies for the receivers, after its own answer
 * to its check and until it hears it is left, and a copy of those that
 * fails is a hint it holds (it is asked as long as it runs; once stopped
 * it is down). And what "settled" covers: a coordinator takes a write's
 * pending replicas with its plan and counts the write from then on
 * (coord_write.c), so a write planned with the move's ring that
 * replicates after this node heard the move end still sends the new
 * owner its copy, and every answer "settled" after the plan covers it.
 * Before that, such a write (planned, then its local write on a worker
 * while the end arrived) reached the old owners only, and the new owner
 * never had it (issue 8: a 404 at one right after a decommission).
 *
 * Not taken: coordinators reading the old owners for a grace period after
 * the end: the old owners stop getting the writes once the move is over,
 * so they miss the newest ones, and no fixed period bounds a hint's
 * replay. Replaying hints as soon as the node turns normal narrows the
 * window but does not close it: a copy can fail after the replay.
 *
 * Not taken: one anti-entropy round over the new ranges before turning
 * normal. It finds the same keys (the old owners have them), but a round
 * costs a tree exchange per range and group even when nothing is missing,
 * and it does not know about copies still in flight when it starts; the
 * check here costs one small RPC per member when nothing is missing.
 *
 * Loop thread.
 */
#ifndef DK_HANDOFF_WAIT_H
#define DK_HANDOFF_WAIT_H

#include "cluster/cluster.h"

typedef struct dk__handoff_wait dk__handoff_wait;

dk__handoff_wait *dk__handoff_wait_new(void);
/* After the RPC stopped (no answer can arrive any more). */
void dk__handoff_wait_free(dk__handoff_wait *w);
/* Forget everything: a new move, or the same one started over. */
void dk__handoff_wait_reset(dk__handoff_wait *w);
/* Make w (just reset) the check after the move ended (the read fence
 * above): a member's answers count only once it no longer treats the
 * targets as pending replicas, and each answer that counts calls
 * kick(arg) (the driver steps again at once: a few round trips end the
 * fence when nothing is in flight). */
void dk__handoff_wait_after(dk__handoff_wait *w, void (*kick)(void *arg), void *arg);
/* 1 once every live member has handed off what it had for the receivers
 * targets[0..n) of move sig (or the wait timed out, logged); 0 while
 * waiting, with questions sent to the members that have not answered. */
int dk__handoff_wait_done(dk__handoff_wait *w, dk_cluster *c, const char *sig, const char *const *targets,
                          size_t n);
#endif
