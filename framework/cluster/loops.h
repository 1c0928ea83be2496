/*
 * loops.h - a coordinator per loop thread (coordinator.h, "Loops"): the
 * cluster starts, besides its own coordinator on the cluster loop (loop
 * 0), one on every other loop thread, each with its own RPC instance (its
 * own connection to every peer: one, where loop 0 may open two), so that
 * a plain read or write is coordinated on the loop where it arrived, with
 * no mailbox hop.
 *
 * The RPC server side runs on every loop too (loops_rpc.c): loop 0's
 * listener hands the connections it accepts round the loops, and a loop
 * serves the replica reads and writes of this node's own copies that
 * arrive on its connections itself, while the loops may coordinate;
 * everything else (hints for other nodes, forwarded writes, streams,
 * scans, anti-entropy, handoff checks, and every request while they may
 * not) goes to loop 0 by mailbox and its answer comes back to be written
 * on the connection's own loop. Counters: rpc_loop<i>_served_total
 * (requests served by loop i's handler), rpc_relayed_total.
 *
 * What such a coordinator sees of the cluster is shareable without
 * locking the cluster loop: the ring (the cell's immutable, reference-
 * counted snapshots) and a snapshot of the member table (id, RPC address,
 * up, alive), published by loop 0 at every gossip change; a loop keeps a
 * reference to each and re-reads them only when their version moved (one
 * atomic load per request otherwise, no lock). What it does not see (pending replicas, this node's
 * readability, fences, actor raises) is why it is used only while none of
 * that applies: loop 0 evaluates that condition after each of its loop
 * turns and at every member change and publishes it as one atomic flag;
 * while the flag is off, every request goes to loop 0 as before. A ring
 * move's stream starts a settle time (at least 300 ms) after the move
 * becomes known here, so a write a loop planned just before the flag went
 * off has reached its replicas long before a stream can pass its key, as
 * on loop 0.
 *
 * With RPC TLS every loop's instance uses loop 0's contexts (one
 * reference-counted dk_rpc_tls, rpc_tls.h), so SIGHUP's reload reaches
 * them all.
 */
#ifndef DK_CLUSTER_LOOPS_H
#define DK_CLUSTER_LOOPS_H

#include "cluster/cluster.h"

/* cluster.c: start the coordinators of the loops in[1..n) after the
 * primary (main thread, before any loop thread runs). rpc is the primary's
 * RPC configuration (its key is used during the call only). 0 (also when
 * there is nothing to start), or an error in err (then dk__loops_stop
 * still releases what started). */
int dk__loops_start(dk_cluster *c, const dk_cluster_loops *in, const dk_rpc_conf *rpc, char *err,
                    size_t errlen);

/* Loop 0: publish the member table m[0..n) for the loops' views. The
 * loops stop coordinating at once; the caller publishes the matching ring
 * next, then calls dk__loops_evaluate. If the table cannot be copied (no
 * memory) they stay off until a later table is published. */
void dk__loops_members(dk_cluster *c, const dk_member *m, size_t n);

/* Loop 0: a new ring is in the cell (the loops keep a reference to the
 * last one they saw and re-read the cell only after this). */
void dk__loops_ring_changed(dk_cluster *c);

/* Loop 0: re-evaluate whether the loops may coordinate (after anything
 * that may change a ring move, readability or the fence). */
void dk__loops_evaluate(dk_cluster *c);

/* Loop 0: stop every loop's coordinator and RPC instance (on its own
 * loop), then call done(arg) on loop 0 (never from inside this call when
 * something was started). */
void dk__loops_stop(dk_cluster *c, void (*done)(void *), void *arg);

/* Loop 0, once stopped: free what is left. */
void dk__loops_free(dk_cluster *c);

/* Loop 0: add the loops' RPC counters to *sum (nothing once stopping). */
void dk__loops_rpc_stats(dk_cluster *c, dk_rpc_stats *sum);
#endif
