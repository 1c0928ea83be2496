/*
 * stream.h - range streaming between nodes (DESIGN.md section 6,
 * "Rebalancing"): this node fetching the token ranges a ring move gives it,
 * and serving the ranges it holds to the nodes that fetch them.
 *
 * The cluster layer decides what to fetch (cluster/pending.h) and hands the
 * coordinator a plan: a move's signature and, per range, the nodes to fetch
 * it from. For every source the node runs one stream: STREAM_REQ/BATCH
 * pulls (rpc/rpc_stream.h), one batch in flight, each batch merged into
 * the store with one engine write on a worker (dk_store_merge_batch), and
 * the stream's cursor saved in the catalog in the same job, after the
 * merge; a range is recorded complete once every one of its sources
 * reached the end. A crash of either side resumes from the last saved
 * cursor and the completed ranges (an interrupted batch is fetched again:
 * merging is idempotent). A source answers only requests for the move it
 * knows itself (view.transition), so a receiver never streams ahead of the
 * cluster's view; its scans run on a worker and its answers are paced to
 * cluster.stream_rate bytes per second.
 *
 * The keys of a range are not contiguous in the engine (it orders by key,
 * not by token), so a source scans its whole store once per stream and
 * keeps the keys whose token falls in the requested ranges; one stream
 * carries every range wanted from that source, so a move costs one scan
 * per (receiver, source) pair rather than one per range.
 *
 * Threads: everything here runs on the coordinator's loop except the
 * status getters (any thread) and the jobs (workers).
 */
#ifndef DK_STREAM_H
#define DK_STREAM_H

#include <stdint.h>
#include "coord/coordinator.h"
#include "rpc/rpc_stream.h"

#define DK_STREAM_SRC_MAX 9u
#define DK_STREAM_SIG_MAX DK_STREAM_PLAN_MAX

typedef struct dk_stream_node {
    char id[DK_NODE_ID_MAX + 1];
    char addr[DK_CONFIG_ADDR_MAX + 1];
} dk_stream_node;

/* One range to fetch: (start, end], from every node in src[] (indexes into
 * the plan's nodes); nothing: no node holds it, it is complete at once. */
typedef struct dk_stream_want {
    dk_token start, end;
    int nothing;
    uint32_t n_src;
    uint16_t src[DK_STREAM_SRC_MAX];
} dk_stream_want;

typedef struct dk_stream_plan {
    char sig[DK_STREAM_SIG_MAX + 1]; /* "" : no move, nothing to fetch */
    const dk_stream_node *nodes;
    size_t n_nodes;
    const dk_stream_want *want;
    size_t n_want;
} dk_stream_plan;

/*
 * Install the plan (copied). The same signature as the current plan only
 * updates the sources (a source went down or came back; progress is
 * kept); another signature drops the current plan and starts the new one
 * from its saved progress. Returns 0 or -ENOMEM/-EINVAL. Loop thread.
 */
int dk_stream_set_plan(dk_coord *c, const dk_stream_plan *p);

typedef struct dk_stream_status {
    char plan[DK_STREAM_SIG_MAX + 1]; /* "" when there is none */
    int loaded;                       /* saved progress applied */
    int done;                         /* every range complete */
    uint64_t ranges_total, ranges_done;
    uint64_t keys, bytes; /* streamed in for this plan */
    uint32_t streams;     /* sources still streaming */
} dk_stream_status;

/* A copy of this node's receiving status. Any thread. */
void dk_stream_status_get(dk_coord *c, dk_stream_status *out);

typedef struct dk_stream_info {
    char source[DK_NODE_ID_MAX + 1];
    uint64_t ranges; /* ranges this stream carries */
    uint64_t keys, bytes, batches;
    int complete;
    char state[12]; /* "request", "merge", "retry", "idle", "complete" */
} dk_stream_info;

/* The streams of the current plan into out[0..cap); returns how many there
 * are (may exceed cap). Any thread. */
size_t dk_stream_streams_get(dk_coord *c, dk_stream_info *out, size_t cap);

/* Totals this node served as a source since start. Any thread. */
void dk_stream_served_get(dk_coord *c, uint64_t *keys, uint64_t *bytes, uint64_t *batches);

#endif /* DK_STREAM_H */
