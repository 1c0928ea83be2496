/*
 * coord_int.h - what the coordinator's files share (coordinator.c,
 * coord_write.c, coord_read.c, replica.c). Internal to the framework.
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
#include "coord/stream.h"
#include "node/catalog.h"
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
    struct dk__stream *stream;  /* ranges this node fetches (stream.c) */
    uint64_t serve_next_ns;     /* pacing of the batches it serves (stream_source.c) */
    uint64_t served_keys, served_bytes, served_batches;     /* atomic */
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

/* ---- streaming (stream.c, stream_source.c) ----------------------------- */

/* Create / close the receiving side (its timer is counted in inflight).
 * Without memory c->stream stays NULL and plans are refused. Loop thread. */
void dk__stream_start(dk_coord *c);
void dk__stream_stop(dk_coord *c);
/* Free it once nothing is in flight (from the coordinator's last step). */
void dk__stream_free(dk_coord *c);

/* Requests of the streaming protocol (replica.c dispatches them); each
 * answers q exactly once. */
void dk__stream_serve(dk_coord *c, dk_rpc_req *q, dk_slice body);        /* STREAM_REQ */
void dk__stream_done_query(dk_coord *c, dk_rpc_req *q, dk_slice body);   /* STREAM_DONE */

/* ---- streaming internals (stream.c, stream_fetch.c) -------------------------
 * A plan: the ranges this node fetches for one move; a range is complete
 * once every current source delivered it; a session streams the ranges
 * wanted from one source. All on the loop thread; st_publish copies a
 * summary for other threads under pub_mu. */
#define DK__ST_INFO_MAX 64u

enum { DK__SS_IDLE, DK__SS_REQ, DK__SS_MERGE, DK__SS_DONE };

typedef struct dk__st_plan dk__st_plan;

typedef struct dk__st_range {
    dk_token start, end;
    int done, nothing;
    uint32_t n_src, n_got;
    uint16_t src[DK_STREAM_SRC_MAX];    /* node indexes of its current sources */
    uint16_t got[DK_STREAM_SRC_MAX];    /* ...and of those that delivered it whole */
} dk__st_range;

typedef struct dk__st_sess {
    dk__st_plan *pl;
    struct dk__st_sess *next;
    uint16_t node;              /* the source */
    size_t *ranges;             /* indexes into pl->r */
    size_t n;
    char hash[24];              /* names the range set (saved cursors apply to it only) */
    dk_buf cursor;
    int state, dead;            /* DK__SS_*; dead: retired, dropped once idle */
    uint64_t retry_at, backoff_ms;
    uint64_t keys, bytes, batches;
} dk__st_sess;

struct dk__st_plan {
    struct dk__stream *st;
    char sig[DK_STREAM_SIG_MAX + 1];
    unsigned refs;              /* the stream struct's own + steps in flight */
    int loaded, retired, done_saved;
    dk_stream_node *nodes;
    size_t n_nodes, cap_nodes;
    dk__st_range *r;            /* sorted by end token */
    size_t n;
    dk__st_sess *sess;
    dk_catalog_cursor *cursors; /* saved cursors (loaded, then kept current) */
    size_t n_cursors;
    uint64_t keys, bytes;
};

typedef struct dk__stream {
    dk_coord *c;
    dk__st_plan *plan;
    uv_timer_t tick;
    pthread_mutex_t cat_mu;     /* node->stream_catalog: one job at a time */
    pthread_mutex_t pub_mu;     /* pub and info: read by any thread */
    dk_stream_status pub;
    dk_stream_info info[DK__ST_INFO_MAX];
    size_t n_info;
} dk__stream;

/* stream.c */
void dk__st_plan_unref(dk__st_plan *pl);
dk__st_range *dk__st_range_find(dk__st_plan *pl, dk_token end);
int dk__st_range_has(const uint16_t *l, uint32_t n, uint16_t v);
void dk__st_span_of(const dk__st_range *r, uint8_t *out);          /* 32 bytes, big-endian */
dk_token dk__st_token_of(const uint8_t *p);                        /* 16 bytes, big-endian */
/* Worker: save progress under cat_mu; 0 or the catalog's error (logged). */
int dk__st_save(dk__stream *st, const char *plan, const dk_catalog_cursor *cur, const dk_catalog_range *done,
                size_t n_done);
/* Record ranges that became complete, reconcile the streams, publish. */
void dk__st_plan_check_done(dk__stream *st, dk__st_plan *pl);

/* stream_fetch.c */
void dk__st_sess_free(dk__st_sess *s);
void dk__st_sess_kick(dk__stream *st, dk__st_sess *s);
/* Make the streams match the ranges' current sources. */
void dk__st_plan_streams(dk__stream *st, dk__st_plan *pl);

#endif /* DK_COORD_INT_H */
