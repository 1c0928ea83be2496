/*
 * handoff.c - the coordinator's side of the handoff check (rpc_handoff.h):
 * it counts the copies it sends to pending replicas until each has
 * settled, and answers whether writes for given nodes are still on their
 * way (coordinator.h, dk_coord_handoff_state).
 *
 * A copy for a pending replica settles when the replica acknowledged it,
 * when it was kept as a durable hint after the send failed, or when it
 * was given up (logged by coord_write.c). Under load copies are always in
 * flight, so "none in flight" may never be seen; what a move's driver
 * needs is narrower: every copy started before it asked has settled.
 * Copies are counted in two buckets by epoch parity. A question closes
 * the current epoch (the next one starts) when the bucket of the epoch
 * before is empty, which is the only time that bucket is reused; the
 * answer says whether every copy of an epoch below the current one has
 * settled. The driver remembers the epoch of its first answer and waits
 * for the next epoch answered as settled, or any epoch after that (the
 * epoch moved on twice, so the first one's bucket emptied in between):
 * every copy started before its first question is then acknowledged or a
 * hint, and the hints it asks
 * about are the ones still to replay (asking replays them at once rather
 * than at the next tick). Two counters, no list of copies. A write with
 * pending replicas also counts from its plan until it ends (coord_write.c),
 * so the copies it has not started yet are covered too. The answer also
 * says whether a target is still a pending replica here (view.receiving),
 * which the check after a move ends needs (cluster/handoff_wait.h).
 *
 * The loops' own coordinators (coordinator.h, "Loops") see no pending
 * replica, so each of their writes is counted from before its plan until
 * it ends, in the primary's second pair of buckets (atomics: the loops
 * run on other threads). A loop reads the epoch, counts itself in that
 * bucket, and re-reads the epoch: if it moved, it uncounts and retries.
 * The primary reads the bucket before it publishes a new epoch, so (all
 * sequentially consistent) either it sees the count or the loop sees the
 * new epoch: a count is never left in a bucket that already closed.
 *
 * dk_coord_hints_pending serves a leaver's drain the same way: what it
 * still holds, replayed at once.
 *
 * Everything here runs on the loop thread.
 */
#include <stdatomic.h>
#include <string.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "rpc/rpc_handoff.h"

uint64_t dk__handoff_begin(dk_coord *c)
{
    c->handoff_inflight[c->handoff_epoch & 1]++;
    return c->handoff_epoch;
}

void dk__handoff_end(dk_coord *c, uint64_t epoch)
{
    unsigned *n = &c->handoff_inflight[epoch & 1];
    if (*n)
        (*n)--;
}

uint64_t dk__handoff_loop_begin(dk_coord *p)
{
    for (;;) {
        uint64_t e = atomic_load(&p->loop_epoch);
        atomic_fetch_add(&p->loop_inflight[e & 1], 1);
        if (atomic_load(&p->loop_epoch) == e)
            return e;
        atomic_fetch_sub(&p->loop_inflight[e & 1], 1); /* the epoch moved meanwhile */
    }
}

void dk__handoff_loop_end(dk_coord *p, uint64_t epoch)
{
    atomic_fetch_sub(&p->loop_inflight[epoch & 1], 1);
}

/* Nothing counted in the bucket of the epoch before the current one. */
static int before_empty(dk_coord *c)
{
    unsigned b = (unsigned)((c->handoff_epoch + 1) & 1);
    return c->handoff_inflight[b] == 0 && atomic_load(&c->loop_inflight[b]) == 0;
}

void dk_coord_handoff_state(dk_coord *c, const char *const *targets, size_t n, uint64_t *epoch, int *settled,
                            uint32_t *hinted)
{
    if (before_empty(c)) {
        c->handoff_epoch++; /* the bucket of the epoch before is free: close this one */
        atomic_store(&c->loop_epoch, c->handoff_epoch);
    }
    *epoch = c->handoff_epoch;
    *settled = before_empty(c);
    *hinted = 0;
    for (size_t i = 0; i < n; i++)
        *hinted += c->hints && dk_hints_holds(c->hints, targets[i]);
    /* Someone waits for these hints: replay them now, not at the next tick. */
    if (*hinted)
        dk_hints_replay_soon(c->hints);
}

uint64_t dk_coord_hints_pending(dk_coord *c, int replay, char *desc, size_t len)
{
    if (desc && len)
        desc[0] = 0;
    if (!c->hints)
        return 0;
    uint64_t n = dk_hints_pending(c->hints);
    if (desc)
        dk_hints_describe(c->hints, desc, len);
    if (n && replay)
        dk_hints_replay_soon(c->hints);
    return n;
}

int dk_coord_handoff_receiving(dk_coord *c, const char *const *targets, size_t n)
{
    for (size_t i = 0; c->view.receiving && i < n; i++)
        if (c->view.receiving(c->view.arg, targets[i]))
            return 1;
    return 0;
}

void dk__handoff_serve(dk_coord *c, dk_rpc_req *q, dk_slice body)
{
    dk_msg_handoff_query m;
    dk_buf b = DK_BUF_INIT;
    if (dk_msg_handoff_query_decode(body, &m) != 0) {
        dk_log(DK_LOG_WARN, "coordinator: malformed HANDOFF_QUERY");
        dk_rpc_reply(q, DK_MSG_ERROR, NULL, 0);
        return;
    }
    const char *t[DK_HANDOFF_TARGETS_MAX];
    for (uint32_t i = 0; i < m.n_targets; i++)
        t[i] = m.targets[i];
    uint64_t epoch;
    int settled;
    uint32_t hinted;
    dk_coord_handoff_state(c, t, m.n_targets, &epoch, &settled, &hinted);
    dk_msg_handoff_state st = {.epoch = epoch, .flags = settled ? DK_HANDOFF_SETTLED : 0, .hinted = hinted};
    if (!dk_coord_handoff_receiving(c, t, m.n_targets))
        st.flags |= DK_HANDOFF_COUNTED;
    if (dk_msg_handoff_state_encode(&b, &st) == 0)
        dk_rpc_reply(q, DK_MSG_HANDOFF_STATE, b.data, b.len);
    else
        dk_rpc_reply(q, DK_MSG_ERROR, NULL, 0);
    dk_buf_free(&b);
}
