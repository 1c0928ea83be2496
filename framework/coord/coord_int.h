/*
 * coord_int.h - what the coordinator's files share (coordinator.c,
 * coord_write.c, coord_cas.c, coord_forward.c, coord_read.c, replica.c,
 * the scan's coord_scan.c, scan_replica.c, scan_merge.c, and
 * anti-entropy's antientropy.c, ae_round.c, ae_layout.c, ae_exchange.c,
 * ae_serve.c). Internal to the framework.
 *
 * Lifetime: every asynchronous step (a worker job, an RPC call, a hint
 * store, a replica request being served) holds one count in c->inflight;
 * dk_coord_stop waits for the count to reach zero, so an operation never
 * outlives its coordinator. All of it runs on the loop thread except the
 * run function of a job.
 */
#ifndef DK_COORD_INT_H
#define DK_COORD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include "base/wake.h"
#include "node/store.h"
#include "coord/coordinator.h"
#include "coord/hints.h"
#include "coord/stream.h"
#include "coord/merkle.h"
#include "rpc/rpc_ae.h"
#include "node/catalog.h"
#include "util/vv.h"

#define COORD_N_MAX DK_COORD_N_MAX

struct dk_coord {
    uv_loop_t *loop;
    dk_node *node;
    const dk_config *cfg;
    dk_rpc *rpc;
    dk_coord_view view;
    dk_hints *hints; /* NULL when hints are off (always on a loop's own coordinator) */
    /* A loop's own coordinator (coordinator.h, "Loops"): the primary and
     * the two mailboxes; NULL for the primary. hints_on: hints are kept
     * (here or, for a loop's own, by the primary). */
    dk_coord *primary;
    struct dk_mailbox *primary_mb, *own_mb;
    int hints_on;
    char self[DK_NODE_ID_MAX + 1];
    unsigned inflight;
    int stopping, hints_closed;
    /* The ready list (dk__coord_defer) and the engine's completions
     * (dk__coord_post): closed once nothing is in flight, so nothing queued
     * is ever dropped; their close callbacks make stop's done
     * asynchronous. */
    uv_idle_t ready_idle;   /* active while the list is not empty: no blocking poll */
    uv_check_t ready_check; /* runs the list after each poll */
    struct dk__ready *ready_head, *ready_tail;
    dk_wake post_wake; /* engine threads -> loop */
    pthread_mutex_t post_mu;
    struct dk__ready *post_head, *post_tail;
    int post_draining;       /* under post_mu: the loop will look at the list again */
    unsigned posts_expected; /* loop only: the wake handle is ref'd while > 0 */
    int handles_open, handles_closing;
    void (*stop_done)(void *);
    void *stop_arg;
    struct coord_lock *locks;  /* CAS key locks held now (coord_write.c) */
    struct dk__stream *stream; /* ranges this node fetches (stream.c) */
    uint64_t serve_next_ns;    /* pacing of the batches it serves (stream_source.c) */
    uint64_t served_keys, served_bytes, served_batches; /* atomic */
    struct scan_table *scan_table;                      /* ranges' preference lists of the last
                                     * ring scanned (coord_scan.c) */
    struct dk_ae *ae;                                   /* anti-entropy; torn down last (antientropy.c) */
    int ae_finishing;
    /* Copies for pending replicas not settled yet, by epoch parity
     * (handoff.c). */
    uint64_t handoff_epoch;
    unsigned handoff_inflight[2];
    /* The loops' own coordinators' plain writes, counted in the primary's
     * from plan to end by the epoch published here (handoff.c,
     * dk__handoff_loop_begin): they have no pending view, so every one is
     * counted. */
    _Atomic uint64_t loop_epoch;
    atomic_uint loop_inflight[2];
    uint64_t test_write_delay_ms; /* DK_TEST_WRITE_DELAY_MS (coord_write.c); 0 = off */
    struct rop *rop_pool;         /* finished reads kept for the next (coord_read.c) */
    unsigned rop_pooled;
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

/* ---- the ready list ------------------------------------------------------
 * Work that must not run inside the current call (an answer is never given
 * from inside dk_coord_put or dk_coord_get) but needs no thread: it runs on
 * the loop right after the current callback returns (a uv_check after this
 * poll; a uv_idle keeps the poll from blocking meanwhile), in the order
 * queued. This replaces pool jobs whose only purpose was to defer: such a
 * job cost two thread hand-offs and a lock on libuv's work queue. */
typedef struct dk__ready {
    struct dk__ready *next;
    void (*fn)(struct dk__ready *r);
} dk__ready;

/* Loop thread: run fn(r) on the loop after the current callback. r is
 * caller-owned storage (usually inside the op) that stays valid until fn
 * runs; fn may free it. Counted in c->inflight until fn returns. */
void dk__coord_defer(dk_coord *c, dk__ready *r, void (*fn)(dk__ready *r));

/* Any thread (the engine's completion callbacks): run fn(r) on the
 * coordinator's loop, soon (a mutex-protected list drained whole by one
 * dk_wake). The loop side calls dk__coord_expect_post before starting
 * what will post exactly once; the count it takes is released after fn
 * returns. */
void dk__coord_post(dk_coord *c, dk__ready *r, void (*fn)(dk__ready *r));
/* Loop thread: one dk__coord_post will come (holds c and keeps the loop
 * alive until it has run). */
void dk__coord_expect_post(dk_coord *c);

/* ---- RPC calls ---------------------------------------------------------
 * dk_rpc_call counted in c->inflight. cb runs exactly once on 0. */
int dk__coord_call(dk_coord *c, const char *peer, const char *addr, uint8_t type, const dk_buf *body,
                   uint64_t deadline_ms, dk_rpc_cb cb, void *arg);
/* The same with a frame begun by dk_rpc_frame_start and its body encoded
 * into it (no copy of the body); takes f's memory, also on error. */
int dk__coord_call_framed(dk_coord *c, const char *peer, const char *addr, uint8_t type, dk_buf *f,
                          uint64_t deadline_ms, dk_rpc_cb cb, void *arg);
/* The same with frame flags (DK_FRAME_*) in the request's header. */
int dk__coord_call_flags(dk_coord *c, const char *peer, const char *addr, uint8_t type, uint16_t flags,
                         dk_buf *f, uint64_t deadline_ms, dk_rpc_cb cb, void *arg);

/* Count one async step that is neither a job nor a call (e.g. a hint
 * store or a served replica request), and its end. */
void dk__coord_hold(dk_coord *c);
void dk__coord_release(dk_coord *c);

/* ---- the key's replicas --------------------------------------------------*/
typedef struct dk__replica {
    char id[DK_NODE_ID_MAX + 1];
    char addr[DK_CONFIG_ADDR_MAX + 1];
    int alive; /* view says alive (self: always) */
    int self;
} dk__replica;

typedef struct dk__plan {
    dk_ring *ring; /* held; dk__plan_free drops it */
    dk_token token;
    uint32_t n; /* effective N */
    dk__replica r[COORD_N_MAX];
    int self_pos; /* index of this node in r, or -1 */
} dk__plan;

/* Build the plan of key from the view's current ring, with the
 * preference list in prefs when it fits that ring (NULL: computed).
 * Returns 0, DK_EUNAVAILABLE (no ring or an empty one), or -ENOMEM. */
int dk__plan_make(dk_coord *c, dk_slice key, const dk_coord_prefs *prefs, dk__plan *p);
void dk__plan_free(dk__plan *p);

/* Acks needed for a consistency level (DK_CL_*, DEFAULT already resolved)
 * with n replicas. */
int dk__coord_needed(int consistency, uint32_t n);

/* Next alive node clockwise from the plan's token that is not in the plan,
 * not this node and not already in used[0..n_used). Returns 0 and fills
 * *out, or DK_ENOTFOUND. */
int dk__fallback(dk_coord *c, const dk__plan *p, char (*used)[DK_NODE_ID_MAX + 1], size_t n_used,
                 dk__replica *out);

/* The deadline (uv_hrtime ns) of a request starting at now_ns (uv_hrtime,
 * or the loop's uv_now in ns where a loop turn's lag does not matter) that
 * may take at most cap_ms (0 = no cap besides request_timeout). */
uint64_t dk__deadline(const dk_coord *c, uint64_t now_ns, uint64_t cap_ms);
/* What is left of a deadline in ms (at least 1), or 0 once it passed. */
uint64_t dk__left_ms(uint64_t deadline_ns);

/* Fill r's raw/obj from an encoded object (copied). Returns 0 or an error. */
int dk__result_set(dk_coord_result *r, dk_slice encoded);
void dk__result_init(dk_coord_result *r);
void dk__result_free(dk_coord_result *r);

/* Keep a hint of object for target (the write's intended owner): in this
 * coordinator's hint store, or, on a loop's own coordinator, in the
 * primary's (through the mailboxes; key and object are copied). Returns 0
 * and done(arg, status) runs later on this loop, or an error (hints off,
 * stopping, no memory) and done never runs. */
int dk__coord_hint_store(dk_coord *c, const char *target, dk_slice key, dk_slice object, dk_hints_done done,
                         void *arg);

/* Whether a sloppy quorum applies to a request. */
int dk__sloppy(const dk_coord *c, int strict);

/* ---- writes (coord_write.c, coord_send.c) --------------------------------- */

/* Coordinate a write here, never forwarding it (a FORWARD_WRITE arrived):
 * as dk_coord_put otherwise. timeout_ms caps request_timeout. */
int dk__coord_put_here(dk_coord *c, const dk_coord_write *w, uint64_t timeout_ms, dk_coord_cb cb, void *arg);

/* A replica's outcome from its answer to a PUT_REPLICA (coord_send.c):
 * *status (the RPC's) is kept when non-zero, else set from the ACK's
 * status or the ERROR's code; any other answer is DK_ECORRUPT. */
void dk__replica_ack_status(int *status, const dk_frame_header *h, dk_slice body);

/* Send obj for key to replica rep (PUT_REPLICA, hint_target "" or the
 * intended owner). cb gets the ACK's status (0 = stored) or the RPC's
 * failure. Returns 0 (cb will run) or an error. */
int dk__send_replica(dk_coord *c, const dk__replica *rep, dk_slice key, dk_slice obj, const char *hint_target,
                     uint64_t deadline_ms, void (*cb)(void *arg, int status), void *arg);

/* ---- reads (coord_read.c) ----------------------------------------------- */

/* Read repair (coord_repair.c): push the reconciled obj for key to rep,
 * this node's store through a worker or a peer through PUT_REPLICA,
 * without waiting for the outcome (a failure is logged). Counts
 * read_repairs_total. Returns 0 when the repair was started. */
int dk__repair_replica(dk_coord *c, const dk__replica *rep, dk_slice key, dk_slice obj);

/* The reconciled result of a quorum read used by CAS: status 0 with the
 * merged encoding in raw (empty when no replica had the key), or an error
 * with acks/needed/replicas filled in. */
typedef void (*dk__read_cb)(void *arg, int status, int acks, int needed, int replicas, dk_buf *raw);

/* Free the coordinator's pool of finished reads (coord_read.c). Loop
 * thread, when the coordinator goes. */
void dk__rop_pool_free(dk_coord *c);

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
void dk__stream_serve(dk_coord *c, dk_rpc_req *q, dk_slice body);      /* STREAM_REQ */
void dk__stream_done_query(dk_coord *c, dk_rpc_req *q, dk_slice body); /* STREAM_DONE */

/* handoff.c: a copy for a pending replica starts (its epoch is returned)
 * and has settled (acknowledged, kept as a durable hint, or given up);
 * HANDOFF_QUERY served. Loop thread. */
uint64_t dk__handoff_begin(dk_coord *c);
void dk__handoff_end(dk_coord *c, uint64_t epoch);
/* A loop's own coordinator's write is planned / has ended: counted in
 * its primary p (any thread; the epoch returned goes to _end). */
uint64_t dk__handoff_loop_begin(dk_coord *p);
void dk__handoff_loop_end(dk_coord *p, uint64_t epoch);
void dk__handoff_serve(dk_coord *c, dk_rpc_req *q, dk_slice body);

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
    uint16_t src[DK_STREAM_SRC_MAX]; /* node indexes of its current sources */
    uint16_t got[DK_STREAM_SRC_MAX]; /* ...and of those that delivered it whole */
} dk__st_range;

typedef struct dk__st_sess {
    dk__st_plan *pl;
    struct dk__st_sess *next;
    uint16_t node;  /* the source */
    size_t *ranges; /* indexes into pl->r */
    size_t n;
    char hash[24]; /* names the range set (saved cursors apply to it only) */
    dk_buf cursor;
    int state, dead; /* DK__SS_*; dead: retired, dropped once idle */
    uint64_t retry_at, backoff_ms;
    uint64_t keys, bytes, batches;
} dk__st_sess;

struct dk__st_plan {
    struct dk__stream *st;
    char sig[DK_STREAM_SIG_MAX + 1];
    unsigned refs; /* the stream struct's own + steps in flight */
    int loaded, retired, done_saved;
    dk_stream_node *nodes;
    size_t n_nodes, cap_nodes;
    dk__st_range *r; /* sorted by end token */
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
    pthread_mutex_t cat_mu; /* node->stream_catalog: one job at a time */
    pthread_mutex_t pub_mu; /* pub and info: read by any thread */
    dk_stream_status pub;
    dk_stream_info info[DK__ST_INFO_MAX];
    size_t n_info;
} dk__stream;

/* stream.c */
void dk__st_plan_unref(dk__st_plan *pl);
dk__st_range *dk__st_range_find(dk__st_plan *pl, dk_token end);
int dk__st_range_has(const uint16_t *l, uint32_t n, uint16_t v);
void dk__st_span_of(const dk__st_range *r, uint8_t *out); /* 32 bytes, big-endian */
dk_token dk__st_token_of(const uint8_t *p);               /* 16 bytes, big-endian */
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
/* ---- scans (scan_replica.c, coord_scan.c) ------------------------------------ */

/* Serve a SCAN_RANGE request from a peer: answer SCAN_RESULT, or ERROR for
 * a malformed body or a store failure. Loop thread. */
void dk__scan_serve(dk_coord *c, dk_rpc_req *q, dk_slice body);

/* Drop the cached preference lists (coord_scan.c); at stop. Loop thread. */
void dk__scan_table_drop(dk_coord *c);

/* ---- anti-entropy ---------------------------------------------------------
 * antientropy.h has the design; these are its parts' shared declarations. */

/* A replica group: the token ranges whose preference lists hold the same
 * set of nodes, this node among them, and the Merkle tree of this node's
 * keys in those ranges. */
typedef struct dk__ae_group {
    char name[DK_AE_GROUP_MAX + 1];            /* "n1,n2,n3": sorted member ids */
    char key[DK_CATALOG_REPAIR_GROUP_MAX + 1]; /* name "/" sig in hex: the catalog's group */
    uint64_t sig;                              /* hash of the group's ranges */
    uint32_t n_ranges, n_peers;
    char peers[COORD_N_MAX][DK_NODE_ID_MAX + 1]; /* the members other than this node */
    dk_merkle tree;
    _Atomic int64_t clamp; /* oldest write time of a dead record that arrived late, not yet
                                 * folded into the exchange records (INT64_MAX: none) */
    uint32_t drift;        /* exchanges in a row that found differing leaves and moved nothing */
} dk__ae_group;

/* The groups of one ring. Shared by reference count between the loop, jobs
 * and the store hook; immutable after construction except the trees, the
 * clamps and ready. */
typedef struct dk__ae_layout {
    atomic_uint refs;
    dk_ring *ring;        /* held */
    int32_t *range_group; /* per ring range: group index, or -1 */
    dk__ae_group *g;
    size_t n_groups;
    atomic_int ready;  /* the build scan has finished */
    uint64_t keys;     /* keys the build scan counted */
    uint64_t build_ms; /* how long the build took */
} dk__ae_layout;

typedef struct dk_ae dk_ae;

/* Bounds of one exchange step. Every frame stays under DK_FRAME_MAX. */
#define DK__AE_OBJECT_MAX (DK_FRAME_BODY_MAX - 65536u) /* larger objects are not moved (logged) */
#define DK__AE_SYNC_BYTES (2u << 20)                   /* soft size of a batch of objects, either way */
#define DK__AE_SYNC_KEYS 1024u                         /* keys asked for in one batch */
#define DK__AE_LIST_BYTES (1u << 20)                   /* soft size of a page of (key, hash) entries */
#define DK__AE_LIST_NS (500u * 1000000u)               /* time one page's scan may take */

/* ae_layout.c: groups and trees. */
int dk__ae_layout_new(dk_ring *ring, const char *self, uint32_t n_replicas, dk__ae_layout **out);
void dk__ae_layout_ref(dk__ae_layout *l);
void dk__ae_layout_unref(dk__ae_layout *l);
int dk__ae_layout_group_of(const dk__ae_layout *l, dk_token t);
int dk__ae_layout_find(const dk__ae_layout *l, dk_slice name, uint64_t sig);
/* The store hook (arg: the dk_ae). Worker, under the key's stripe lock. */
void dk__ae_hook(void *arg, dk_slice key, dk_slice before, dk_slice after);
/* Worker: install l as the layout the hook maintains and fill its trees:
 * from saved when it is still fresh (ae_saved.c; *loaded set to 1), else
 * from a snapshot of the store (why, when saved was given, says why it
 * was not used). l->ready is set at the end. */
struct dk_merkle_file;
int dk__ae_layout_build(dk_ae *ae, dk__ae_layout *l, const struct dk_merkle_file *saved, int *loaded,
                        char *why, size_t whylen);

/* ae_saved.c: the saved trees (antientropy.h). Workers. */
/* The engine's last sequence number: 0, or -ENOTSUP (not durable, or it
 * reports none: its trees are never saved). */
int dk__ae_engine_seq(dk_node *node, uint64_t *seq);
/* Read and delete data_dir's saved trees: the copy, or NULL (none, or
 * damaged: logged with file and offset). */
struct dk_merkle_file *dk__ae_saved_take(dk_node *node);
/* Before the build takes every stripe lock: 1 when the engine's table
 * files are those of f (none lost or changed while the node was down);
 * else 0 and why. */
int dk__ae_saved_files_fit(dk_node *node, const struct dk_merkle_file *f, char *why, size_t whylen);
/* With every stripe lock held: 1 when f describes the store now and the
 * layout's groups; else 0 and why. */
int dk__ae_saved_fits(dk_node *node, const struct dk_merkle_file *f, const dk__ae_layout *l, char *why,
                      size_t whylen);
/* Copy f's leaves into l's trees (f fits l). */
void dk__ae_saved_load(const struct dk_merkle_file *f, dk__ae_layout *l);
/* At a clean stop: copy the installed trees, remove the store hook, flush
 * the engine and write the copy (failures logged, never fatal). */
void dk__ae_saved_store(dk_ae *ae);

/* Worker: the keys of group g (with leaves set in the bitmap, or all when
 * leaves is NULL) in [from, upto] (upto empty: no end) starting with
 * prefix, as DK_KEYS_HASH entries in key order. With max_bytes or
 * budget_ns, stops early: more = 1 and last = the last key looked at. */
typedef struct dk__ae_scan {
    dk__ae_layout *l;
    int g;
    const uint8_t *leaves;
    dk_slice prefix, from, upto;
    size_t max_bytes;
    uint64_t budget_ns;
    dk_buf entries, last;
    uint32_t n;
    int more, rc;
} dk__ae_scan;
void dk__ae_scan_run(dk_node *node, dk__ae_scan *s);
void dk__ae_scan_free(dk__ae_scan *s);
/* Worker: the stored bytes of key into out: 0, DK_ENOTFOUND or an error. */
int dk__ae_get_raw(dk_node *node, dk_slice key, dk_buf *out);
/* The engines' key order (bytewise, shorter first on a tie). */
int dk__ae_key_cmp(dk_slice a, dk_slice b);

/* antientropy.c, for the exchange and serving sides. */
struct dk_ae {
    dk_coord *c;
    uv_timer_t tick, pace;
    int stopping, timers_open;
    /* Written only inside dk_store_exclusive; read by the hook under a
     * stripe lock and by the build job that installed it. */
    dk__ae_layout *installed;
    /* Loop only. */
    dk__ae_layout *layout;  /* the installed layout once ready (a reference), or NULL */
    int live;               /* layout is the one the hook maintains */
    uint64_t gen;           /* bumped whenever layout stops being live */
    dk_merkle_view scratch; /* for serving TREE_REQ */
    struct dk__ae_x *x;     /* the exchange this node runs now, or NULL (one at a time) */
    /* The repair rule: clamp_mu orders late arrivals of dead records (hook)
     * against the publication of repaired_before (loop). */
    pthread_mutex_t clamp_mu;
    _Atomic int64_t watermark;    /* latest exchange start (ms) the records may hold */
    struct dk__ae_sched *s;       /* the scheduler's own state (antientropy.c, ae_round.c) */
    struct dk_merkle_file *saved; /* the saved trees until the first build takes them (loop) */
};

/* antientropy.c and ae_round.c: the scheduler's state. */
#define DK__AE_REQS_MAX 16u /* requests remembered (waiting or finished) */
enum { DK__AE_QUEUED, DK__AE_RUNNING, DK__AE_DONE, DK__AE_FAILED };

/* The last outcome per (group, peer). row is what the catalog keeps. */
typedef struct dk__ae_rec {
    dk_repair_row row;
    int64_t last_attempt_ms;
    char last_error[192];
    int dirty;
} dk__ae_rec;

typedef struct dk__ae_req {
    uint64_t id;
    uint8_t prefix[DK_KEY_MAX];
    size_t plen;
    int state;
    int64_t queued_ms, started_ms, finished_ms;
    uint64_t keys_in, keys_out;
    uint32_t pairs, failed;
    char errors[512];
} dk__ae_req;

typedef struct dk__ae_pair {
    int g;
    char peer[DK_NODE_ID_MAX + 1];
} dk__ae_pair;

typedef struct dk__ae_sched {
    dk__ae_rec *recs;
    size_t n_recs, cap_recs;
    int loaded, saving;
    dk_catalog *cat; /* this module's connection; jobs only */
    /* builds */
    int building, want_rebuild;
    uint64_t rebuilds, last_drift_rebuild;
    uint64_t loads; /* builds that took the saved trees */
    /* rounds: at most one, its pairs run one after the other */
    dk__ae_pair *pairs;
    size_t n_pairs, next_pair;
    int round_active;
    uint64_t round_gen;
    dk__ae_req *round_req; /* NULL: a scheduled round */
    int64_t round_started_ms;
    uint64_t next_round;   /* uv_now() of the next scheduled round; 0 = not yet set */
    int64_t last_round_ms; /* wall clock when the last scheduled round ended */
    uint32_t last_round_failed;
    /* requests, oldest first */
    dk__ae_req reqs[DK__AE_REQS_MAX];
    size_t n_reqs;
    uint64_t next_id;
    uint64_t rnd;
} dk__ae_sched;

/* The record of (group key, peer); created when create and missing
 * (NULL only then on out of memory). */
dk__ae_rec *dk__ae_rec_find(dk__ae_sched *s, const char *group, const char *peer, int create);
/* Fold late arrivals into the records, publish repaired_before. */
void dk__ae_publish(dk_ae *ae);
/* Run the tick from the next loop iteration (never from inside a caller). */
void dk__ae_kick(dk_ae *ae);
/* anti_entropy_interval * [lo, hi) percent, in ms. */
uint64_t dk__ae_jitter(dk_ae *ae, unsigned lo, unsigned hi);
/* ae_round.c: the tick's round step: the next exchange or round. */
void dk__ae_maybe_round(dk_ae *ae);

/* A job of anti-entropy: counted by the coordinator like its own. */
int dk__ae_job(dk_ae *ae, dk__job *j);

/* ae_serve.c: answer TREE_REQ / KEYS_REQ. Loop. */
void dk__ae_serve(dk_ae *ae, dk_rpc_req *q, const dk_frame_header *h, dk_slice body);
/* Reply with a KEYS carrying only an error status. */
void dk__ae_reply_keys_error(dk_rpc_req *q, int status);

/* ae_exchange.c: one exchange with one peer for one group: the trees
 * top-down, then the keys of the differing leaves (or, with a prefix, of
 * every leaf), then the objects that differ, both ways. */
typedef struct dk__ae_x dk__ae_x;
typedef struct dk__ae_xres {
    int status;                 /* 0 or an error */
    char error[192];            /* what failed, for the status page */
    int64_t start_ms;           /* wall clock at the start, lowered by late dead arrivals */
    uint64_t keys_in, keys_out; /* objects that changed the store here / there */
    uint32_t leaves;            /* differing leaves found */
    int full;                   /* a whole-group exchange (counts for the repair rule) */
} dk__ae_xres;
int dk__ae_exchange(dk_ae *ae, int group, const char *peer, const char *addr, dk_slice prefix,
                    void (*done)(dk_ae *ae, const dk__ae_xres *r));
/* Lower the running exchange's start to at most ms (late dead arrival). */
void dk__ae_exchange_clamp(dk_ae *ae, int group, int64_t ms);
/* Stopping: end the running exchange now if it is waiting on its pacing
 * timer (anything else in flight ends it by itself). */
void dk__ae_exchange_abort(dk_ae *ae);
/* Where the running exchange is (status page): 0, or DK_ENOTFOUND. */
typedef struct dk__ae_xprogress {
    const char *phase; /* "trees", "settling", "keys", "objects" (static) */
    unsigned level;    /* tree level reached */
    uint32_t leaves;   /* differing leaves */
    uint64_t pages, keys_in, keys_out;
    int64_t start_ms;
} dk__ae_xprogress;
int dk__ae_exchange_progress(const dk_ae *ae, dk__ae_xprogress *p);

/* antientropy.c: called by the coordinator. */
int dk__ae_start(dk_coord *c, dk_ae **out);
void dk__ae_stop(dk_ae *ae);
/* Queue the last job (unhook, close the catalog), then free ae and call
 * done(arg). Returns 0, or an error after doing it all synchronously. */
int dk__ae_finish(dk_ae *ae, void (*done)(void *), void *arg);

/* ---- The client write's files (coord_write.c: the write op's lifetime,
 * replication, the local write, the entry points; coord_cas.c: compare-
 * and-set's per-key lock and quorum read; coord_forward.c: forwarding to
 * a replica). Loop thread only. ---- */

enum { SLOT_PENDING = 0, SLOT_ACKED, SLOT_FAILED };

typedef struct wop wop;

/* A replica send of a write op's object (coord_write.c), first in the
 * struct of its caller: cb(arg, status) runs once with the answer. */
typedef struct wop_send_ctx {
    dk_coord *c;
    void (*cb)(void *arg, int status);
    void *arg;
} wop_send_ctx;

/* One replica send: the owner itself or a fallback holding a hint. A
 * slot has at most one in flight (a fallback is tried from the failed
 * send's callback), so it lives in the slot. */
typedef struct wsend {
    wop_send_ctx ctx;
    struct wslot *slot;
    dk__replica to;
    int hinted;
} wsend;

typedef struct wslot {
    wop *op;
    dk__replica owner; /* the preference-list replica */
    int state;
    wsend send; /* the send in flight */
} wslot;

typedef struct coord_lock {
    struct coord_lock *next;
    dk_buf key;
    wop *head, *tail; /* waiters, FIFO */
} coord_lock;

struct wop {
    dk__job job; /* the local write */
    dk_coord *c;
    dk_coord_cb cb;
    void *arg;
    uint64_t deadline_ns, cap_ms;
    dk__plan plan;
    /* The value: borrowed from the caller (value_in) while the op starts,
     * copied into value (value_kept) only when the op goes on past that:
     * a CAS, a forward, a worker, a delayed start (coord_write.c). */
    dk_buf key, value;
    dk_slice value_in;
    int value_kept;
    dk_vv ctx, im;
    int has_ctx, ctx_is_map, has_im, tombstone, cond, strict, consistency, here;
    int type; /* DK_OBJECT_* */
    int64_t ttl_ms;
    int needed, acks, answered, timed_out, sloppy;
    int too_big;           /* a replica refused the object's size (DK_ETOOBIG) */
    int local_pending;     /* replicating while the local write is in flight */
    int launching, cb_due; /* an answer reached while starting waits */
    unsigned refs;         /* steps in flight that point at the op */
    dk_coord_result res;
    wslot slot[COORD_N_MAX];
    uint32_t n_slots;
    char used[2 * COORD_N_MAX][DK_NODE_ID_MAX + 1]; /* fallbacks already asked */
    size_t n_used;
    uint32_t fwd_next;  /* next plan index to forward to */
    coord_lock *lock;   /* held (CAS) */
    wop *lock_next;     /* in a lock's waiter list */
    dk_buf cas_raw;     /* what the quorum read found (CAS) */
    dk__ready launched; /* the start's end, on the ready list */
    dk__ready wrote;    /* the non-blocking local write's end, posted */
    dk_store_wop *swop; /* that write while in flight */
    /* res.raw lent to the replica frames (dk_rpc_call_lent): while any
     * frame holds it, the op holds one reference (coord_write.c). */
    dk_rpc_lent lent;
    dk__ready lent_done; /* its last release, when that ends the op */
    int took;            /* res.raw is the store's encoding, taken (dk_store_wop_take_encoded) */
    /* The key's pending replicas, taken with the plan, and the handoff
     * count held for them from then until the op ends (handoff.c). */
    dk_coord_pending pend[COORD_N_MAX];
    uint32_t n_pend;
    int pend_held;
    uint64_t pend_epoch;
    int loop_held; /* counted in the primary's handoff state (a loop's own coordinator) */
    uint64_t loop_epoch;
};

/* coord_write.c */
/* Answer the client once (later calls do nothing). */
void dk__wop_answer(wop *op, int status);
/* Drop one reference; the last answers if nobody did and frees op. */
void dk__wop_unref(wop *op);
/* Write here: on the loop when the engine queues writes, else a worker;
 * then replicate. */
void dk__wop_local(wop *op);

/* coord_cas.c */
/* Take the key's CAS lock (queued behind the holder), then read at quorum
 * and write. */
void dk__cas_lock(wop *op);
/* Release op's lock, if held, to the next waiter. */
void dk__cas_release(wop *op);

/* coord_forward.c */
/* Forward to the next alive replica of the plan (or coordinate a CAS here
 * when this node is that replica); answers the client when none is left. */
void dk__wop_forward(wop *op);

#endif /* DK_COORD_INT_H */
