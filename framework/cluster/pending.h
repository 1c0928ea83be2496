/*
 * pending.h - the ring transition a member table implies: which nodes
 * must receive which token ranges before the ring can move on, where they
 * fetch them from, and which nodes take writes for a key without counting
 * toward its quorum meanwhile ("pending" replicas).
 *
 * Three rings are built from the table (statuses in member.h):
 *   current  normal, leaving, replacing   (reads and counted writes)
 *   future   normal, joining, replacing   (where data must be once done)
 *   all      the union of both            (its vnode tokens cut the circle)
 * Every range of `all` lies inside one range of `current` and one of
 * `future`, so it has exactly one current and one future preference list
 * (each ring with N = min(n_replicas, its node count)). A node X is a
 * receiver of a range when it is in the future list and either not in the
 * current one or there without its data (replacing). It fetches the range
 * from the nodes the move displaces (in the current list, not the future
 * one) that are readable and up - Cassandra's "strict" source after
 * CASSANDRA-2434, which keeps every quorum-acknowledged write on a quorum
 * of the new list; when none of those is up (a removal of a dead node, a
 * replacement), from every readable, up node of the current list, whose
 * union holds every write any of them acknowledged. A range whose current
 * list has no readable node at all (a whole cluster that lost its data)
 * has nothing to fetch.
 *
 * A transition is named by its signature: a hash of the current and future
 * member sets and of the epoch of every moving member, so the same sets
 * reached again by a later move (a node that leaves twice) never reuse
 * the progress recorded for an earlier one. Liveness is not part of it.
 *
 * A dk_transition is immutable once built and owned by whoever built it;
 * every function here is pure and thread-safe on it.
 */
#ifndef DK_PENDING_H
#define DK_PENDING_H

#include <stddef.h>
#include <stdint.h>
#include "base/member.h"
#include "ring/ring.h"

#define DK_XFER_N_MAX 9u    /* cluster.n_replicas is at most 9 */
#define DK_XFER_SIG_MAX 24u /* signature text, NUL included */

typedef struct dk_transition dk_transition;

/* A node as the transition sees it (borrowed from the transition). */
typedef struct dk_xfer_node {
    const char *id;
    const char *rpc_addr;
    int alive; /* liveness: normal or joining state */
    dk_member_status status;
} dk_xfer_node;

/*
 * Build the transition of table m[0..n) for n_replicas. A table without a
 * move (every member of the current ring is in the future one, readable,
 * and the reverse) gives a transition with signature "" and no receivers.
 * *out is owned by the caller (dk_transition_free). Returns 0, -EINVAL or
 * -ENOMEM (a ring that does not build is -EINVAL). Any thread.
 */
int dk_transition_build(const dk_member *m, size_t n, uint32_t n_replicas, dk_transition **out);
void dk_transition_free(dk_transition *t);

/* The signature ("" without a move). Valid while t lives. */
const char *dk_transition_sig(const dk_transition *t);

/* Number of ranges of the union ring, and range i's (start, end]. */
size_t dk_transition_ranges(const dk_transition *t);
void dk_transition_range(const dk_transition *t, size_t i, dk_token *start, dk_token *end);

/* Receivers of range i: fills out[] (up to DK_XFER_N_MAX) and returns how
 * many. The nodes borrow from t. */
size_t dk_transition_receivers(const dk_transition *t, size_t i, dk_xfer_node *out);

/* Where receivers of range i fetch it: fills out[] with the sources (up to
 * DK_XFER_N_MAX) and returns how many; *nothing is set when the range has
 * no readable replica at all (nothing to fetch; 0 sources). 0 sources
 * without *nothing: every source is down for now. */
size_t dk_transition_sources(const dk_transition *t, size_t i, dk_xfer_node *out, int *nothing);

/* The receivers of the range holding token tok: the pending replicas a
 * write of that key also goes to. Same contract as above. */
size_t dk_transition_pending(const dk_transition *t, dk_token tok, dk_xfer_node *out);

/* Whether node id receives any range, and the ids of every receiver
 * (distinct, sorted; out[] has room for cap, the count is returned and
 * may exceed cap). */
int dk_transition_is_receiver(const dk_transition *t, const char *id);
size_t dk_transition_all_receivers(const dk_transition *t, dk_xfer_node *out, size_t cap);

/* The node record of id in the transition (any status), or 0. */
int dk_transition_node(const dk_transition *t, const char *id, dk_xfer_node *out);
#endif
