/*
 * ring.h - the consistent-hash ring: 128-bit tokens, weighted virtual
 * nodes, rack- and dc-aware preference lists (DESIGN.md section 6).
 *
 * A dk_ring is an immutable snapshot built once from a member list and
 * shared by reference count; membership changes build a new ring and swap
 * it into a dk_ring_cell. Every query function is thread-safe on a ring the
 * caller holds a reference to, and none of them allocates.
 *
 * Tokens: XXH3-128. A key's token is the hash of its bytes; vnode i of a
 * node is the hash of "<id>#<i>" (i in decimal, from 0), and a node has
 * vnodes_per_weight * weight vnodes. Tokens depend on the node id only, so
 * every node computes the same ring from the same membership, and adding a
 * node moves keys only to that node.
 *
 * Node indexes: the ring sorts its nodes by id, so index i names the same
 * node in every ring built from the same membership, whatever the order of
 * the input list.
 */
#ifndef DK_RING_H
#define DK_RING_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"

#define DK_RING_VNODES_DEFAULT 256u
#define DK_RING_VNODES_MAX 4096u /* per unit of weight */
#define DK_RING_WEIGHT_MAX 100u
#define DK_RING_NODES_MAX 4096u

/* A member as the ring sees it. id matches [a-z0-9_-]{1,64}; dc and rack
 * are free-form NUL-terminated names (may be empty: the default dc/rack).
 * A rack is identified by the pair (dc, rack). state is carried for the
 * caller (membership states); the ring itself ignores it: the caller
 * decides which members are on the ring. */
typedef struct dk_ring_node {
    char id[DK_NODE_ID_MAX + 1];
    char dc[65];
    char rack[65];
    uint32_t weight; /* 1..DK_RING_WEIGHT_MAX */
    uint32_t state;
} dk_ring_node;

/* A position on the ring, compared as the unsigned 128-bit hi:lo. */
typedef struct {
    uint64_t hi, lo;
} dk_token;

typedef struct dk_ring dk_ring;

/*
 * Build a ring from n members (n may be 0: an empty ring answers every
 * preference query with 0 nodes). vnodes_per_weight 0 means
 * DK_RING_VNODES_DEFAULT. The nodes are copied. version is stored for the
 * caller (dk_ring_version). On success *out holds one reference, owned by
 * the caller. Errors: -EINVAL (bad id, weight, unterminated dc/rack, too
 * many nodes or vnodes), DK_EEXISTS (duplicate id), -ENOMEM. Any thread.
 */
int dk_ring_build(const dk_ring_node *nodes, size_t n, uint32_t vnodes_per_weight, uint64_t version,
                  dk_ring **out);

/* Take / drop a reference (atomic, any thread). The last unref frees the
 * ring; every pointer obtained from it becomes invalid. unref(NULL) is a
 * no-op. */
void dk_ring_ref(dk_ring *r);
void dk_ring_unref(dk_ring *r);

/* The token of a key: XXH3-128 of its bytes. Pure, any thread. */
dk_token dk_ring_key_token(const void *key, size_t len);

/*
 * Preference list of a key (or of a token): fill out[] with up to n node
 * indexes and return how many (min(n, node count)). No node repeats.
 *
 * The rule, exactly. Walk the distinct physical nodes clockwise from the
 * first vnode whose token is >= t (wrapping), in the order their first
 * vnode is met; then choose in three passes over that order, each stopping
 * as soon as n nodes are chosen:
 *   1. take a node whose dc no chosen node has;
 *   2. take a node whose rack (dc, rack) no chosen node has;
 *   3. take any node not chosen yet.
 * The chosen nodes are returned in walk order, so out[0] is always the
 * token's primary (the owner of its successor vnode). The result spans
 * min(n, #dcs) dcs and min(n, #racks) racks, which is the most possible.
 * Unbalanced topologies concentrate data: a dc or rack with a single node
 * puts that node in most lists (as with Cassandra's NetworkTopologyStrategy),
 * so keep racks the same size.
 *
 * Thread-safe on a held ring, no allocation; cost O(vnodes * n) in the
 * worst case, O(n^2) plus a short walk in a balanced cluster.
 */
size_t dk_ring_preference(const dk_ring *r, const void *key, size_t len, size_t n, uint32_t *out);
size_t dk_ring_preference_token(const dk_ring *r, dk_token t, size_t n, uint32_t *out);

/*
 * Visit the distinct nodes clockwise from t (same walk as above, without
 * the rack rules) until visit returns nonzero or every node was visited.
 * Returns the number of visit calls. Used for the sloppy-quorum fallback:
 * the visitor skips the preference list and unhealthy nodes. visit runs on
 * the calling thread; it must not unref the ring.
 */
size_t dk_ring_walk(const dk_ring *r, dk_token t, int (*visit)(void *arg, uint32_t idx), void *arg);

/* The node at index idx (< dk_ring_node_count), or NULL. Borrowed: valid
 * while the caller holds its reference to r. */
const dk_ring_node *dk_ring_node_at(const dk_ring *r, uint32_t idx);
size_t dk_ring_node_count(const dk_ring *r);
/* Index of the node with this id, or DK_ENOTFOUND. O(log n). */
int dk_ring_find(const dk_ring *r, const char *node_id);
uint64_t dk_ring_version(const dk_ring *r);
/* A hash of every input of placement (the nodes' ids, dcs, racks and
 * weights, and vnodes per weight; not their states nor the version): two
 * rings place every token alike exactly when their fingerprints are equal
 * (up to 64-bit collisions), whichever node built them. */
uint64_t dk_ring_fingerprint(const dk_ring *r);
/* Number of vnodes of the ring (all nodes). */
size_t dk_ring_vnode_count(const dk_ring *r);
/* Fraction (0..1) of the token space whose primary is node idx; 0 for a
 * bad index. Computed at build time. */
double dk_ring_ownership(const dk_ring *r, uint32_t idx);

/*
 * Token ranges. Range i (0 <= i < dk_ring_vnode_count) is the half-open
 * interval (start, end] where end is vnode i's token and start the token of
 * vnode i - 1 (for i = 0: of the last vnode, so range 0 wraps through the
 * top of the token space; with one vnode it is the whole space). Every
 * token falls in exactly one range, and every token of range i has the same
 * preference list: dk_ring_preference_token(r, end, ...). Streaming and
 * anti-entropy work range by range. Ranges are numbered per ring: compare
 * them across rings by their tokens, not their index.
 */
void dk_ring_range(const dk_ring *r, size_t i, dk_token *start, dk_token *end);
/* Index of the range holding token t (the range of its successor vnode);
 * 0 on an empty ring. */
size_t dk_ring_range_of(const dk_ring *r, dk_token t);
/* Whether t lies in (start, end] on the circle (start == end: the whole
 * circle). Pure. */
int dk_token_in_range(dk_token t, dk_token start, dk_token end);
/* -1, 0, 1 as a < b, a == b, a > b (unsigned 128-bit). Pure. */
int dk_token_cmp(dk_token a, dk_token b);

/*
 * dk_ring_cell: where the current ring lives. A writer installs a new
 * snapshot with dk_ring_cell_set; readers take their own reference with
 * dk_ring_cell_get and use it for as long as a request needs it.
 *
 * The pointer load and the reference increment happen under a mutex that
 * dk_ring_cell_set also takes for the swap: a reader can therefore never
 * increment a ring whose last reference a writer is dropping. The critical
 * sections are a few instructions, and the old ring's unref (which may free)
 * happens outside the lock. Not taken: a lock-free scheme (hazard pointers
 * or a split reference count), more code for no measured need.
 */
typedef struct dk_ring_cell {
    pthread_mutex_t mu;
    dk_ring *ring; /* the cell's own reference; NULL when empty */
} dk_ring_cell;

/* Initialise with initial (may be NULL); the cell takes over the caller's
 * reference. Returns 0 or -errno from pthread_mutex_init. */
int dk_ring_cell_init(dk_ring_cell *c, dk_ring *initial);
/* Drop the cell's reference and destroy the mutex. No reader may use the
 * cell concurrently; rings readers still hold stay valid. */
void dk_ring_cell_destroy(dk_ring_cell *c);
/* A new reference to the current ring (the caller unrefs it), or NULL when
 * the cell is empty. Any thread. */
dk_ring *dk_ring_cell_get(dk_ring_cell *c);
/* Install r (may be NULL), taking over the caller's reference, and drop
 * the cell's reference to the previous ring. Any thread. */
void dk_ring_cell_set(dk_ring_cell *c, dk_ring *r);
/* The current ring, borrowed (no reference, no lock), or NULL: only on
 * the one thread that ever sets the cell, where it stays valid until that
 * thread sets the cell again. */
static inline dk_ring *dk_ring_cell_peek(const dk_ring_cell *c)
{
    return c->ring;
}
#endif
