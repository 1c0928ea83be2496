/*
 * rpc_handoff.h - message bodies of the handoff check (DK_MSG_HANDOFF_*,
 * rpc_frame.h): before a ring move ends (a joining node turns normal), its
 * driver asks every live member whether writes meant for the move's
 * receivers are still on their way: pending-replica copies in flight, or
 * kept as hints and not delivered yet (coordinator.h,
 * dk_coord_handoff_state; cluster/handoff_wait.c).
 *
 * Layouts (fields as in rpc_frame.h: varints, length-prefixed bytes):
 *   HANDOFF_QUERY  varint n_targets (1..DK_HANDOFF_TARGETS_MAX)
 *                  | n_targets x lp node id (1..DK_NODE_ID_MAX, [a-z0-9_-])
 *   HANDOFF_STATE  varint epoch | varint flags (DK_HANDOFF_SETTLED,
 *                    DK_HANDOFF_COUNTED)
 *                  | varint hinted (how many of the targets it holds
 *                    undelivered hints for)
 *
 * Decoders check every length and refuse trailing bytes. Pure and
 * thread-safe.
 */
#ifndef DK_RPC_HANDOFF_H
#define DK_RPC_HANDOFF_H
#include <stdint.h>
#include "dynkv/types.h"
#include "util/buf.h"

#define DK_HANDOFF_TARGETS_MAX 16u
#define DK_HANDOFF_SETTLED 0x1u /* every pending copy of an earlier epoch settled */
#define DK_HANDOFF_COUNTED                                                                                   \
    0x2u /* no target is a pending replica here any more: writes
                                       * for them count toward W (the move is over for this
                                       * member). Never set while a move's targets receive, so
                                       * a driver that predates the flag is never sent it. */

typedef struct dk_msg_handoff_query {
    uint32_t n_targets;
    char targets[DK_HANDOFF_TARGETS_MAX][DK_NODE_ID_MAX + 1];
} dk_msg_handoff_query;
int dk_msg_handoff_query_encode(dk_buf *out, const dk_msg_handoff_query *m);
int dk_msg_handoff_query_decode(dk_slice body, dk_msg_handoff_query *m);

typedef struct dk_msg_handoff_state {
    uint64_t epoch;
    uint32_t flags;
    uint32_t hinted;
} dk_msg_handoff_state;
int dk_msg_handoff_state_encode(dk_buf *out, const dk_msg_handoff_state *m);
int dk_msg_handoff_state_decode(dk_slice body, dk_msg_handoff_state *m);
#endif
