/*
 * coord_int.h - what the coordinator's files share (coordinator.c,
 * coord_write.c, coord_read.c, replica.c, and the scan's coord_scan.c,
 * scan_replica.c, scan_merge.c). Internal to the framework.
 *
 * Lifetime: every asynchronous step (a worker job, an RPC call, a hint
 * store, a replica request being served) holds one count in c->inflight;
 * dk_coord_stop waits for the count to reach zero, so an operation never
 * outlives its coordinator. All of it runs on the loop thread except the
 * run function of a job.
 */
#ifndef DK_COORD_INT_H
#define DK_COORD_INT_H

#include "coord/coordinator.h"
#include "coord/hints.h"
#include "util/vv.h"

#define COORD_N_MAX 9           /* cluster.n_replicas is at most 9 */

struct dk_coord {
    uv_loop_t *loop;
    dk_node *node;
    const dk_config *cfg;
    dk_rpc *rpc;
    dk_coord_view view;
    dk_hints *hints;            /* NULL when hints are off */
    char self[DK_NODE_ID_MAX + 1];
    unsigned inflight;
    int stopping, hints_closed, defer_closed;
    uv_timer_t defer;           /* closed by dk_coord_stop: its close callback
                                 * makes stop's done asynchronous */
    void (*stop_done)(void *);
    void *stop_arg;
    struct coord_lock *locks;   /* CAS key locks held now (coord_write.c) */
    struct scan_table *scan_table;  /* ranges' preference lists of the last
                                     * ring scanned (coord_scan.c) */
};

/* ---- worker jobs ---------------------------------------------------------
 * A job embeds dk__job first; run executes on a worker thread, done on the
 * loop (status is uv's: UV_ECANCELED when cancelled). */
typedef struct dk__job {
    uv_work_t req;
    dk_coord *c;
    void (*run)(struct dk__job *j);
    void (*done)(struct dk__job *j, int status);
} dk__job;

/* Queue j. Returns 0 (done will run) or a uv error (it will not). */
int dk__coord_job(dk_coord *c, dk__job *j);

/* ---- RPC calls ---------------------------------------------------------
 * dk_rpc_call counted in c->inflight. cb runs exactly once on 0. */
int dk__coord_call(dk_coord *c, const char *peer, const char *addr, uint8_t type, const dk_buf *body,
                   uint64_t deadline_ms, dk_rpc_cb cb, void *arg);

/* Count one async step that is neither a job nor a call (e.g. a hint
 * store or a served replica request), and its end. */
void dk__coord_hold(dk_coord *c);
void dk__coord_release(dk_coord *c);

/* ---- the key's replicas --------------------------------------------------*/
typedef struct dk__replica {
    char id[DK_NODE_ID_MAX + 1];
    char addr[DK_CONFIG_ADDR_MAX + 1];
    int alive;                  /* view says alive (self: always) */
    int self;
} dk__replica;

typedef struct dk__plan {
    dk_ring *ring;              /* held; dk__plan_free drops it */
    dk_token token;
    uint32_t n;                 /* effective N */
    dk__replica r[COORD_N_MAX];
    int self_pos;               /* index of this node in r, or -1 */
} dk__plan;

/* Build the plan of key from the view's current ring. Returns 0,
 * DK_EUNAVAILABLE (no ring or an empty one), or -ENOMEM. */
int dk__plan_make(dk_coord *c, dk_slice key, dk__plan *p);
void dk__plan_free(dk__plan *p);

/* Acks needed for a consistency level (DK_CL_*, DEFAULT already resolved)
 * with n replicas. */
int dk__needed(int consistency, uint32_t n);

/* Next alive node clockwise from the plan's token that is not in the plan,
 * not this node and not already in used[0..n_used). Returns 0 and fills
 * *out, or DK_ENOTFOUND. */
int dk__fallback(dk_coord *c, const dk__plan *p, char (*used)[DK_NODE_ID_MAX + 1], size_t n_used,
                 dk__replica *out);

/* The deadline (uv_hrtime ns) of a request starting now that may take
 * at most cap_ms (0 = no cap besides request_timeout). */
uint64_t dk__deadline(const dk_coord *c, uint64_t cap_ms);
/* What is left of a deadline in ms (at least 1), or 0 once it passed. */
uint64_t dk__left_ms(uint64_t deadline_ns);

/* Fill r's raw/obj from an encoded object (copied). Returns 0 or an error. */
int dk__result_set(dk_coord_result *r, dk_slice encoded);
void dk__result_init(dk_coord_result *r);
void dk__result_free(dk_coord_result *r);

/* Whether a sloppy quorum applies to a request. */
int dk__sloppy(const dk_coord *c, int strict);

/* ---- writes (coord_write.c) --------------------------------------------- */

/* Coordinate a write here, never forwarding it (a FORWARD_WRITE arrived):
 * as dk_coord_put otherwise. timeout_ms caps request_timeout. */
int dk__coord_put_here(dk_coord *c, const dk_coord_write *w, uint64_t timeout_ms, dk_coord_cb cb, void *arg);

/* Send obj for key to replica rep (PUT_REPLICA, hint_target "" or the
 * intended owner). cb gets the ACK's status (0 = stored) or the RPC's
 * failure. Returns 0 (cb will run) or an error. */
int dk__send_replica(dk_coord *c, const dk__replica *rep, dk_slice key, dk_slice obj, const char *hint_target,
                     uint64_t deadline_ms, void (*cb)(void *arg, int status), void *arg);

/* ---- reads (coord_read.c) ----------------------------------------------- */

/* The reconciled result of a quorum read used by CAS: status 0 with the
 * merged encoding in raw (empty when no replica had the key), or an error
 * with acks/needed/replicas filled in. */
typedef void (*dk__read_cb)(void *arg, int status, int acks, int needed, int replicas, dk_buf *raw);

/* Read key at quorum from the plan's replicas (local one included) for a
 * CAS write; no read repair. Returns 0 (cb will run) or an error. */
int dk__quorum_read(dk_coord *c, const dk__plan *p, dk_slice key, uint64_t deadline_ns, dk__read_cb cb,
                    void *arg);

/* ---- scans (scan_replica.c, coord_scan.c) ------------------------------------ */

/* Serve a SCAN_RANGE request from a peer: answer SCAN_RESULT, or ERROR for
 * a malformed body or a store failure. Loop thread. */
void dk__scan_serve(dk_coord *c, dk_rpc_req *q, dk_slice body);

/* Drop the cached preference lists (coord_scan.c); at stop. Loop thread. */
void dk__scan_table_drop(dk_coord *c);

#endif /* DK_COORD_INT_H */
