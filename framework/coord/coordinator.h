/*
 * coordinator.h - the quorum coordinator (DESIGN.md section 6): client
 * reads and writes across the key's replicas, forwarding, sloppy quorum
 * with hinted handoff, read repair, and compare-and-set under a per-key
 * lock. The replica side of the same protocol (requests from peers) enters
 * through dk_coord_on_rpc.
 *
 * Threads: everything of one instance runs on ONE libuv loop, the loop of
 * its dk_rpc instance (the "cluster loop" for the primary, see "Loops"
 * below); every function below is called on it and every callback runs on
 * it. Engine work (the local store, the hint engine)
 * goes to the loop's worker pool with uv_queue_work; replica answers are
 * reconciled with the conflict resolver's merge on the loop (pure, bounded).
 *
 * Replication factor. The effective N is min(cluster.n_replicas, nodes on
 * the ring), so one node works with the defaults. Consistency one = 1,
 * quorum = floor(N/2) + 1, all = N.
 *
 * Writes. A write is coordinated by a replica of the key's preference list.
 * A node outside the list forwards the whole write (FORWARD_WRITE) to the
 * first alive node of the list, trying the next one only when the request
 * was never sent (a peer that may have acted on it is not asked again, so
 * a write is never applied twice); a forwarded write is never forwarded
 * again, whatever the receiver's ring says. The coordinating replica applies
 * the write locally (it generates the new dot and checks the condition; the
 * local write is one ack when the node is in the list), then sends the new
 * object with PUT_REPLICA to the other replicas, which merge it. It answers
 * after W acks; the remaining replicas keep going in the background until
 * request_timeout. A failed write is not rolled back on the replicas that
 * took it (as in Dynamo and Cassandra): a later read may return it.
 *
 * Sloppy quorum (default; off with cluster.sloppy_quorum = false or a
 * strict request). A replica that the view says is down, or whose RPC
 * fails, is replaced by the next alive node clockwise outside the list;
 * that node stores the object as a hint for the intended owner and its ack
 * counts toward W. When there is no such node, the coordinator keeps the
 * hint itself and it does NOT count. With hint_window = 0 hints are off and
 * a dead replica simply counts as failed. Strict quorum counts only the
 * list and fails with DK_EUNAVAILABLE (acks/needed/replicas filled in).
 *
 * Reads. R replicas of the preference list are asked first (this node's
 * own copy first when it is one; the next replica in place of one that
 * fails, holds a damaged copy or is silent for half of what is left of
 * request_timeout) and the client is answered after R answers (found or
 * not found both count), reconciled with the resolver's merge; concurrent
 * versions come back as siblings. When those answers differ, and on
 * [cluster] read_repair_percent of reads, every other alive replica is
 * asked too (metric coord_reads_widened_total); X-Consistency: all asks
 * them all. When this node's copy is among the R, the others are asked
 * only for a digest of theirs (metric coord_digest_reads_total) and the
 * read is answered from this node's copy when all are equal; any
 * difference falls back to full reads of every alive replica (metric
 * coord_digest_mismatches_total) and the reconciliation below
 * (coord_read.c). Reads never go to fallback nodes: they hold writes only as
 * hints, which are not readable, so sloppy and strict reads behave the
 * same. The remaining answers are awaited in the background (bounded by
 * request_timeout); then every replica that answered with a different or
 * missing version gets the reconciled object (read repair, metric
 * read_repairs_total).
 *
 * Compare-and-set (If-Match / If-None-Match). The write goes to the first
 * alive replica of the list (forwarded otherwise). That replica takes a
 * per-key lock on its loop, reads at quorum (its local copy plus
 * GET_REPLICA answers), merges what it read into its local copy, then does
 * the conditional local write and replicates as above; the lock is released
 * once the local conditional write is done. So two concurrent CAS writers
 * through different nodes cannot both succeed while that replica is up and
 * both see it as the first alive replica. What holds when it fails over:
 * the next replica takes over with its own lock and its own quorum read; a
 * CAS write acknowledged at quorum is seen by that read (R + W > N), so a
 * later CAS is checked against it. Not guaranteed during failover: two CAS
 * writers that reach different "first alive" replicas at the same time
 * (views disagree, or a partition) can both succeed, and a CAS write that
 * failed (not enough acks) may still be on some replicas; the outcome is
 * then two siblings, which a reader sees and resolves - never a silent loss.
 *
 * Pending replicas (a ring move under way, coord/stream.h): every write
 * also goes to the key's pending replicas, which do not count toward W; a
 * pending replica that is down or fails gets a hint kept here, so it
 * misses nothing its stream may already have passed.
 *
 * Hinted handoff: see hints.h. Prefix scans across the cluster: see
 * coord_scan.h.
 *
 * Timeouts. Every RPC carries what is left of request_timeout as its
 * deadline; a replica that has not answered by then counts as failed. The
 * client is always answered: 0, DK_EUNAVAILABLE (not enough replicas
 * answered) or DK_ETIMEOUT (some did not answer in time), or the local
 * error (DK_EPRECOND, DK_ESIBLINGS, an engine error).
 *
 * Loops. The cluster loop's coordinator (the primary) owns everything
 * above: the RPC server side but for the plain replica reads and writes a
 * loop serves itself (forwarded writes, hints kept for other nodes), hints,
 * streaming, anti-entropy, CAS locks and handoff epochs. Every other loop
 * thread may run a coordinator of its own (conf.primary set), started by
 * the cluster for its loop: it coordinates plain client reads and writes
 * that arrived on that loop with its own RPC client connections to the
 * peers (frames carry per-connection MAC sequence numbers, so connections
 * are never shared across loops), and its own ready list, completions and
 * timers. It keeps no hints itself: a hint it must keep goes to the
 * primary through the primary loop's mailbox and the outcome comes back
 * through its own (sloppy quorum works the same). Of the replica side it
 * serves only the reads and writes of this node's own copies that arrive
 * on its loop's connections (dk_coord_serves; the cluster relays the rest
 * to the primary); it streams nothing, never takes a CAS lock: callers
 * send conditional writes, session reads, scans and everything while a
 * ring move is under way to the primary (cluster.h,
 * dk_cluster_coord_here). Its view must be callable on its own loop
 * thread.
 *
 * Metrics (dk_metrics_add): coord_writes_total, coord_reads_total,
 * coord_forwards_total, coord_unavailable_total, read_repairs_total,
 * hints_stored_total, hints_replayed_total, hints_dropped_total,
 * coord_local_writes_async_total (local writes that went through the
 * engine's write_async from the loop rather than a worker),
 * coord_local_reads_worker_total (local reads the engine could not answer
 * from memory, sent to a worker), replica_writes_worker_total (PUT_REPLICA
 * merges that could not start on the loop: the key's stripe busy, its
 * copy not in memory, or an engine without write_async).
 */
#ifndef DK_COORDINATOR_H
#define DK_COORDINATOR_H

#include <stdint.h>
#include <uv.h>
#include "dynkv/engine.h"
#include "node/node.h"
#include "ring/ring.h"
#include "rpc/rpc.h"
#include "util/buf.h"

struct dk_mailbox;

typedef struct dk_coord dk_coord;

/* A pending replica of a key (a node a ring move brings into its
 * preference list): it gets every write, which does not count toward W. */
typedef struct dk_coord_pending {
    char id[DK_NODE_ID_MAX + 1];
    char addr[DK_CONFIG_ADDR_MAX + 1];
    int alive;
} dk_coord_pending;

/* How the coordinator sees the cluster (implemented from gossip). Every
 * function is called on the loop thread. */
typedef struct dk_coord_view {
    void *arg;
    /* Current ring snapshot, referenced: the caller calls dk_ring_unref.
     * NULL when there is none yet. */
    dk_ring *(*ring)(void *arg);
    /* Address and health of a node: 0 and fills rpc_addr ("ip:port",
     * NUL-terminated) and *alive (gossip says normal/joining/leaving, not
     * suspect/down), or DK_ENOTFOUND. */
    int (*peer)(void *arg, const char *node_id, char *rpc_addr, size_t len, int *alive);
    /* Optional (NULL: always). Whether this node holds the data of its
     * ranges: not while it replaces itself after losing its data. A node
     * that does not is on the ring but is not read from, and forwards the
     * writes it would coordinate. */
    int (*readable)(void *arg);
    /* Optional (NULL: none). The pending replicas of token t: fills out[]
     * (room for COORD_N_MAX) and returns how many. */
    size_t (*pending)(void *arg, dk_token t, dk_coord_pending *out);
    /* Optional (NULL: as peer). Whether a node runs at all, whatever its
     * ring status: 0 and fills rpc_addr and *up, or DK_ENOTFOUND. Hints
     * are delivered to a node that is up even while it is still getting
     * its ranges (its stream may have passed the hinted key). */
    int (*up)(void *arg, const char *node_id, char *rpc_addr, size_t len, int *up);
    /* Optional. The signature of the ring move under way ("" or NULL:
     * none); a stream source serves only requests of the move it knows.
     * Valid until the loop runs again. */
    const char *(*transition)(void *arg);
    /* Optional (NULL: never). Whether node_id is still a pending replica
     * of some range here (the move that brings it in is not over for
     * this node): writes for it are still sent as uncounted copies. */
    int (*receiving)(void *arg, const char *node_id);
} dk_coord_view;

typedef struct dk_coord_conf {
    uv_loop_t *loop; /* the rpc's loop */
    dk_node *node;   /* open; outlives the coordinator */
    dk_rpc *rpc;     /* started; stopped after the coordinator */
    dk_coord_view view;
    /* The hints' own engine instance (opened by the caller, e.g. at
     * data_dir/hints with the configured engine; closed by the caller after
     * dk_coord_stop's done). NULL: hints are not kept (like hint_window 0). */
    dk_engine *hint_engine;
    const dk_engine_ops *hint_ops;
    uint64_t hint_replay_interval_ms; /* 0 = 1000 */
    /* A loop's own coordinator (see "Loops" above): the cluster loop's
     * coordinator, started, stopped after this one; NULL for that one.
     * With primary set, rpc is a client-only instance on this loop, the
     * hint fields are ignored, and primary_mb / own_mb are the mailboxes
     * of the primary's loop and of this one. */
    dk_coord *primary;
    struct dk_mailbox *primary_mb, *own_mb;
} dk_coord_conf;

/*
 * Start the coordinator and its hint replay timer. On 0, *out is owned by
 * the caller until dk_coord_stop's done callback; on error a message is in
 * err and nothing needs stopping. Loop thread.
 */
int dk_coord_start(const dk_coord_conf *conf, dk_coord **out, char *err, size_t errlen);

/*
 * Stop hint replay, refuse new requests (DK_ECLOSED), wait for every
 * request, RPC and worker job in flight (RPCs end by their deadline), free
 * c and call done(arg) on the loop thread (never from inside this call).
 * Call once, before stopping the rpc. Loop thread.
 */
void dk_coord_stop(dk_coord *c, void (*done)(void *), void *arg);

/*
 * The dk_rpc on_request handler for the replica side (PUT_REPLICA,
 * GET_REPLICA, SCAN_RANGE) and forwarded writes (FORWARD_WRITE); arg is the
 * dk_coord.
 * Answers every request exactly once (ERROR for a malformed body or an
 * unknown type). Loop thread.
 */
void dk_coord_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body);

/* Whether c serves request h (body) itself: the primary serves every
 * request; a loop's own coordinator only PUT_REPLICA and GET_REPLICA of
 * this node's own copies (no hint for another node), the rest goes to the
 * primary (cluster/loops.h). Loop thread. */
int dk_coord_serves(const dk_coord *c, const dk_frame_header *h, dk_slice body);

/* Consistency levels; the values match config.h's DK_CONSISTENCY_*. */
enum { DK_CL_DEFAULT = -1, DK_CL_ONE = 0, DK_CL_QUORUM = 1, DK_CL_ALL = 2 };

#define DK_COORD_N_MAX 9 /* cluster.n_replicas is at most 9 */

/*
 * A key's preference list under one ring, computed once where a request
 * arrives (the API needs it for X-Coordinator) and handed to the
 * coordinator (dk_coord_write.prefs, dk_coord_get_prefs), which takes it
 * instead of walking the ring again when it plans with a ring of the same
 * placement (fingerprint), for the same key and length; otherwise it
 * computes its own. Node indexes are the ring's (ring.h: the same in every
 * ring of one placement).
 */
typedef struct dk_coord_prefs {
    uint64_t fingerprint; /* dk_ring_fingerprint of the ring it came from */
    dk_token token;       /* the key's */
    uint32_t want;        /* the n_replicas asked for */
    uint32_t n;           /* nodes in idx; 0: none computed */
    uint32_t idx[DK_COORD_N_MAX];
} dk_coord_prefs;

/* Fill *p with key's first min(n_replicas, DK_COORD_N_MAX) distinct nodes
 * on r (fewer on a smaller ring). Any thread holding r. */
void dk_coord_prefs_make(const dk_ring *r, int n_replicas, dk_slice key, dk_coord_prefs *p);

typedef struct dk_coord_write {
    dk_slice key, value;
    int tombstone;
    const dk_vv *context;        /* NULL: a blind write */
    int context_is_map;          /* a client's JSON map: checked by the store (store.h) */
    int64_t ttl_ms;              /* 0 = no expiry */
    int cond;                    /* DK_COND_* (store.h) */
    const dk_vv *if_match;       /* DK_COND_IF_MATCH: NULL = "*" */
    int consistency;             /* DK_CL_*; DEFAULT = cluster.write_consistency */
    int strict;                  /* 1: strict quorum for this request */
    int type;                    /* DK_OBJECT_* (object.h); DK_OBJECT_CRDT: value is
                                         * an operation, no tombstone, context, ttl or cond */
    const dk_coord_prefs *prefs; /* NULL: the coordinator computes the key's preference list */
} dk_coord_write;

typedef struct dk_coord_result {
    /* 0, DK_ENOTFOUND (reads), DK_EPRECOND, DK_ESIBLINGS, DK_EUNAVAILABLE,
     * DK_ETIMEOUT, DK_ECLOSED, or another error. */
    int status;
    int acks, needed, replicas; /* acks (writes) or answers (reads), W or R, N */
    /* The resulting (write) or reconciled (read) object when there is one
     * (raw.len > 0): raw is its encoding and obj is decoded from it (obj's
     * values borrow raw). A read that found only tombstones answers
     * DK_ENOTFOUND with the object, for its context. Owned by the
     * coordinator. */
    dk_buf raw;
    dk_object obj;
    /* Client reads: the wall time (ms) the answer's liveness was judged
     * at, for the caller to render it at the same instant; 0: not judged. */
    int64_t now_ms;
} dk_coord_result;

/* Completion: loop thread; r is valid only during the call. */
typedef void (*dk_coord_cb)(void *arg, dk_coord_result *r);

/*
 * Coordinate a client write. Everything needed is copied from w. Returns 0
 * and cb runs exactly once later (never from inside this call); or an error
 * and cb is never called: -EINVAL (bad key, value, ttl, cond, type or
 * consistency), DK_EUNAVAILABLE (no ring yet: the node has not joined),
 * DK_ECLOSED (stopping), -ENOMEM. Loop thread.
 */
int dk_coord_put(dk_coord *c, const dk_coord_write *w, dk_coord_cb cb, void *arg);

/* Coordinate a client read (consistency DK_CL_*; strict as for writes).
 * Same return contract as dk_coord_put. Loop thread. */
int dk_coord_get(dk_coord *c, dk_slice key, int consistency, int strict, dk_coord_cb cb, void *arg);
/* As dk_coord_get, with the key's preference list if already computed
 * (prefs may be NULL). */
int dk_coord_get_prefs(dk_coord *c, dk_slice key, int consistency, int strict, const dk_coord_prefs *prefs,
                       dk_coord_cb cb, void *arg);

/*
 * Read this node's own replica, bypassing coordination (admin/debug and
 * tests): status 0 or DK_ENOTFOUND, acks = 1 when found. Same return
 * contract as dk_coord_put. Loop thread.
 */
int dk_coord_get_local(dk_coord *c, dk_slice key, dk_coord_cb cb, void *arg);

/*
 * The handoff check (rpc_handoff.h, handoff.c): whether writes for the
 * nodes targets[0..n) are still on their way from this node. *epoch is the
 * current epoch of the copies sent to pending replicas (a call may start a
 * new one); *settled says every copy started in an earlier epoch was
 * acknowledged or kept as a durable hint; *hinted counts the targets this
 * node holds undelivered hints for. A move's driver that saw epoch e first
 * knows every copy sent before that has settled once an answer with
 * epoch e + 1 is settled, or one with e + 2 or later comes (the epoch
 * moves on only once the bucket of the one before it is empty). Loop thread.
 */
void dk_coord_handoff_state(dk_coord *c, const char *const *targets, size_t n, uint64_t *epoch, int *settled,
                            uint32_t *hinted);

/* 1 when one of targets[0..n) is still a pending replica for this node
 * (view.receiving): the copies it sends there do not count toward W yet.
 * The check after a move ends waits for every member to say 0 before it
 * counts their answers (cluster/handoff_wait.h). Loop thread. */
int dk_coord_handoff_receiving(dk_coord *c, const char *const *targets, size_t n);

/* A leaver's drain (cluster/leaver.h): how many hints this coordinator
 * holds undelivered (0 without hints), and, with replay set, replay them
 * now rather than at the next tick. desc (may be NULL) gets them per
 * target ("12 for n2"). Loop thread of the primary. */
uint64_t dk_coord_hints_pending(dk_coord *c, int replay, char *desc, size_t len);

#endif /* DK_COORDINATOR_H */
