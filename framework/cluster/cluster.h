/*
 * cluster.h - a node's cluster half, living on the cluster loop (loop 0):
 * gossip membership, the ring derived from it, the node-to-node RPC
 * transport, and the quorum coordinator that uses all three; and, on every
 * other loop thread, a coordinator of that loop's own (loops.h).
 *
 * The ring holds the members whose ring status (member.h) is normal,
 * leaving or replacing, whatever their liveness: a down node keeps its
 * ranges (its writes go to fallback nodes as hints), as in Dynamo, so a
 * failure never reshuffles data; only ring status changes (joins,
 * decommissions, removals) change the ring.
 * The member table is persisted in the catalog on a worker after every
 * change and fed back to gossip at the next start, so a restarted node
 * routes correctly before gossip converges.
 */
#ifndef DK_CLUSTER_H
#define DK_CLUSTER_H

#include <uv.h>
#include "coord/coordinator.h"
#include "gossip/membership.h"
#include "node/node.h"
#include "ring/ring.h"
#include "rpc/rpc.h"
#include "util/buf.h"

typedef struct dk_cluster {
    uv_loop_t *loop;
    dk_node *node;
    const dk_config *cfg;
    dk_membership *members;
    dk_rpc *rpc;
    dk_coord *coord;
    dk_ring_cell ring;
    uint64_t ring_version;
    char ring_sig[64]; /* hash of the ring's member set */
    dk_member *table;  /* latest member table (loop thread) */
    size_t n_table;
    /* persistence of the member table, one save in flight at a time */
    uv_work_t save_work;
    int saving;
    dk_member *to_save;
    size_t n_to_save;
    dk_member *saving_copy;
    size_t n_saving_copy;
    void (*stop_done)(void *);
    void *stop_arg;
    int stopping;
    struct dk__rebalance *rb; /* ring moves (rebalance.c) */
    int rb_stopping, rb_stopped;
    /* raising the version-vector actor incarnation (a node that lost its
     * data and learned a higher one from the cluster): done by the save job */
    int raising;
    uint32_t raise_to, raised;
    struct dk__loops *lp; /* the other loops' coordinators (loops.h); NULL: none */
    int lp_stopping, lp_stopped;
    /* the drain of a node that is left (leaver.h): atomics but lv_since */
    int lv_left, lv_handed_off;
    uint64_t lv_hints, lv_since;
} dk_cluster;

/* The node's loop threads, for a coordinator per loop (loops.h). */
typedef struct dk_cluster_loops {
    size_t n;               /* loop threads, the cluster loop included */
    uv_loop_t **loop;       /* [n]: loop[0] is the cluster loop */
    struct dk_mailbox **mb; /* [n]: a mailbox on each loop, open until the cluster stopped */
} dk_cluster_loops;

/*
 * Start membership, RPC and the coordinator on loop (loop thread, before or
 * while it runs). http_addr is the node's actual HTTP address, gossiped so
 * clients and tools can find every node. loops (NULL or n <= 1: loop only)
 * lists every loop thread: each other loop gets a coordinator of its own
 * (loops.h); then call this before the other loops run. On failure err
 * says what; call dk_cluster_stop anyway to release what started.
 */
int dk_cluster_start(dk_cluster *c, uv_loop_t *loop, dk_node *node, const char *http_addr,
                     const dk_cluster_loops *loops, char *err, size_t errlen);

/* The coordinator for a plain read or write (no condition, no session)
 * that arrived on loop thread index (0: the cluster loop): that loop's
 * own, or NULL when the request must go to the cluster loop's
 * (dk_cluster.coord: a ring move is under way, this node is not readable
 * or fenced, no coordinator of its own). Loop thread index. */
dk_coord *dk_cluster_coord_here(dk_cluster *c, unsigned index);

/* The ring loop thread index routes with, borrowed: no reference and no
 * lock are taken (loop 0 owns the cell; every other loop keeps its own
 * reference to the snapshot it saw last, loops.h), and it stays valid
 * until that thread returns to its loop. NULL before there is a ring.
 * Loop thread index, while the cluster runs. */
dk_ring *dk_cluster_ring_here(dk_cluster *c, unsigned index);

/* The RPC counters of every loop's instance, summed (zero when RPC is not
 * running). Cluster loop. */
void dk_cluster_rpc_stats(dk_cluster *c, dk_rpc_stats *st);

/* Stop everything (loop thread); done runs once all of it has closed. */
void dk_cluster_stop(dk_cluster *c, void (*done)(void *), void *arg);

/* Append the GET /cluster JSON document to out. Any thread. */
int dk_cluster_render(dk_cluster *c, dk_buf *out);

/* Raise this node's actor incarnation to at least min, durably (catalog,
 * on a worker), then stamp new writes and gossip with it; c->raising is
 * set meanwhile. Loop thread (rebalance.c). */
void dk__cluster_raise_actor(dk_cluster *c, uint32_t min);

/* The RPC handler of the cluster loop's instance (arg: the cluster); the
 * other loops relay to it what only loop 0 serves (loops_rpc.c). Cluster
 * loop. */
void dk__cluster_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body);
#endif
