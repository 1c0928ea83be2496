/*
 * health.h - liveness and readiness of a node (GET /livez, GET /readyz and
 * its legacy alias GET /health), as Kubernetes probes and systemd's
 * READY=1 use them.
 *
 * Liveness is answered by the loop thread itself: if the loop serves, the
 * process lives. Readiness is a list of named checks, each with a verdict
 * and a sentence for the operator:
 *
 *   engine      the storage engine is open and writable (an engine reports
 *               read-only mode through a stat whose name ends in
 *               "readonly", as the LSM engine's lsm_readonly after a WAL
 *               write or fsync error)
 *   cluster     the cluster services (RPC, gossip, coordinator) run
 *   membership  gossip has this node "normal" (liveness): not joining (no
 *               seed answered yet), leaving or removed
 *   ring_status the node's ring status is "normal": not joining or
 *               replacing (streaming its ranges in), not leaving, left or
 *               removed
 *   ring        the current ring includes this node
 *   draining    the node has not been asked to stop (SIGTERM)
 *
 * A node without cluster services (the API alone, in unit tests) has only
 * the engine and draining checks.
 */
#ifndef DK_API_HEALTH_H
#define DK_API_HEALTH_H

#include <stddef.h>
#include "node/node.h"
#include "util/buf.h"

struct dk_cluster;

#define DK_READY_CHECKS_MAX 8

typedef struct dk_ready_check {
    const char *name; /* static: "engine", "ring", ... */
    int ok;
    char message[192];
} dk_ready_check;

typedef struct dk_readiness {
    int ok; /* every check passed */
    size_t n;
    dk_ready_check checks[DK_READY_CHECKS_MAX];
} dk_readiness;

/*
 * Evaluate every check into *out. cluster may be NULL (no cluster checks).
 * Calls the engine's stats method, which may take the engine's locks, so
 * it runs on a worker thread (or the main thread before the loops start),
 * never on a loop thread. The cluster must stay started for the duration
 * of the call.
 */
void dk_health_evaluate(dk_node *node, struct dk_cluster *cluster, dk_readiness *out);

/* Append the JSON answer for r to body: {"status":"ok"|"unavailable",
 * "node":..., "checks":[...]} where checks lists the failing checks only,
 * or all of them when verbose. Returns the HTTP status (200 or 503), or a
 * negative code when memory ran out. Any thread. */
int dk_health_render(const dk_readiness *r, const char *node_id, int verbose, dk_buf *body);

/* Mark the node as draining (SIGTERM received): readiness fails from now
 * on. Any thread. */
void dk_health_set_draining(int draining);
#endif
