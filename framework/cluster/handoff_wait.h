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
 * HANDOFF_WAIT_MS the move ends regardless, with a warning naming the
 * members still holding writes (handoff_waits_timed_out_total).
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

#define HANDOFF_WAIT_MS 30000u

typedef struct dk__handoff_wait dk__handoff_wait;

dk__handoff_wait *dk__handoff_wait_new(void);
/* After the RPC stopped (no answer can arrive any more). */
void dk__handoff_wait_free(dk__handoff_wait *w);
/* Forget everything: a new move, or the same one started over. */
void dk__handoff_wait_reset(dk__handoff_wait *w);
/* 1 once every live member has handed off what it had for the receivers
 * targets[0..n) of move sig (or the wait timed out, logged); 0 while
 * waiting, with questions sent to the members that have not answered. */
int dk__handoff_wait_done(dk__handoff_wait *w, dk_cluster *c, const char *sig, const char *const *targets,
                          size_t n);
#endif
