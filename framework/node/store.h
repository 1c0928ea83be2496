/*
 * store.h - a node's local key-value store: the engine plugin holding
 * encoded objects, and the conflict resolver that decides what a write or a
 * replica's copy does to the stored object.
 *
 * Which resolver handles an object is decided by node/resolve.h from the
 * object's type: a write names the type it creates, a merge follows the
 * copies' headers.
 *
 * Every function here is synchronous and may block on disk: call it from a
 * worker thread, never from a loop thread, unless its comment says
 * otherwise (dk_store_try_get). A read-modify-write of one key
 * (client writes, compare-and-set, merges of replica copies) runs under that
 * key's stripe lock, so a conditional write is checked and applied in one
 * step (DESIGN.md section 11: If-Match is atomic).
 */
#ifndef DK_STORE_H
#define DK_STORE_H

#include <stdint.h>
#include "dynkv/engine.h"
#include "dynkv/conflict.h"
#include "node/resolve.h"
#include "util/buf.h"

typedef struct dk_store dk_store;

typedef struct dk_store_conf {
    dk_engine *engine; /* opened; the store does not close it */
    const dk_engine_ops *engine_ops;
    const dk_resolvers *resolvers; /* one per object type; outlives the store */
    dk_actor actor;                /* this node's (id, incarnation) */
    int sync;                      /* write(sync) for acknowledged writes */
    /* [storage] max_object_size (0: none). A client write or a merge whose
     * result would be larger than this and larger than the stored object
     * is refused with DK_ETOOBIG before anything is written, so an object
     * always fits one RPC frame and replicates (a write that shrinks an
     * oversized object, resolving its siblings, is always taken). */
    uint64_t max_object_size;
} dk_store_conf;

int dk_store_open(const dk_store_conf *conf, dk_store **out);
void dk_store_close(dk_store *s);
/* Replace the actor new writes are stamped with (a node that lost its data
 * learned a higher incarnation from its peers). Any thread; writes already
 * running keep the actor they started with. */
void dk_store_set_actor(dk_store *s, const dk_actor *a);

enum { DK_COND_NONE = 0, DK_COND_IF_MATCH = 1, DK_COND_IF_NONE_MATCH = 2 };

/*
 * How far a write's context may advance a counter past the stored
 * object's: an entry further ahead is taken as stored + this much. A
 * genuine context is ahead of the coordinating replica only by the writes
 * that replica missed, and the local siblings it supersedes are the same
 * either way (all are at or below the stored counters), so clamping
 * changes nothing here; at worst a write that was more than 65536 writes
 * of one node ahead of this copy leaves a spurious sibling when the other
 * copies meet it. A forged context (protected mode's MAC key is public)
 * gains at most this much per write, so overflowing a counter would take
 * 2^48 writes: no client can make a key unwritable.
 */
#define DK_STORE_CONTEXT_AHEAD 65536u

/* A client write (PUT, or DELETE when tombstone is set). */
typedef struct dk_store_write {
    dk_slice key;
    dk_slice value;
    int tombstone;
    const dk_vv *context; /* may be NULL: a blind write */
    /* The context is a client's JSON version map, not a MACed token: it
     * must be dominated by the stored object's version (else DK_EPRECOND),
     * so it never sets a counter the object has not reached. A token's
     * counters are taken up to DK_STORE_CONTEXT_AHEAD past the stored
     * ones. */
    int context_is_map;
    int64_t ttl_ms;        /* 0 = no expiry */
    int cond;              /* DK_COND_* */
    const dk_vv *if_match; /* for DK_COND_IF_MATCH; NULL = "*" (exists) */
    int type;              /* DK_OBJECT_* (object.h); a CRDT write's value is an operation */
} dk_store_write;

/*
 * Read key's stored object. On 0, raw holds the encoded object and obj is
 * decoded from it (its values borrow raw: keep raw alive while using obj;
 * the caller frees both). Returns DK_ENOTFOUND when nothing is stored (a
 * stored all-tombstone object is returned: callers decide visibility with
 * dk_object_live_count), DK_ECORRUPT for an undecodable value.
 */
int dk_store_get(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj);

/* As dk_store_get, but never blocks: the engine answers from memory
 * (engine.h try_get), or -EAGAIN when the read needs the disk or the
 * engine has no non-blocking read (then call dk_store_get on a worker).
 * The one store read a loop thread may call. */
int dk_store_try_get(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj);

/* As dk_store_try_get, but the encoding is lent by the engine, not copied:
 * on 0, raw points into the engine's memory and obj borrows from it, both
 * valid until dk_store_release(s, *pin), which the caller must call (any
 * thread) before the store closes. DK_EUNSUPPORTED when the engine does
 * not lend (engine.h get_lent): use dk_store_try_get. Loop thread allowed;
 * on any error there is nothing to release. */
int dk_store_try_get_lent(dk_store *s, dk_slice key, dk_slice *raw, dk_object *obj, void **pin);
void dk_store_release(dk_store *s, void *pin);

/* With on, dk_store_get and dk_store_try_get answer DK_EUNAVAILABLE (the
 * read fence of a node that has just joined, cluster/handoff_wait.h):
 * the copies may still lack writes on their way, so no client read may
 * see them; writes, merges, scans and iterators go on. Any thread. */
void dk_store_set_read_fence(dk_store *s, int on);
/* Whether the read fence is up (for reads that do not go through
 * dk_store_get: prefix scans answer DK_EUNAVAILABLE too). Any thread. */
int dk_store_read_fenced(const dk_store *s);

/* A token span (start, end] as ring.h's dk_token halves (start >= end
 * wraps; start == end is the whole circle). */
typedef struct dk_store_span {
    uint64_t start_hi, start_lo, end_hi, end_lo;
} dk_store_span;
/* A key's token (ring.h's dk_ring_key_token, which this layer cannot
 * call). */
typedef void (*dk_store_token_fn)(dk_slice key, uint64_t *hi, uint64_t *lo);
/* The read fence of some ranges only (a node that gains ranges in a
 * decommission or a removal, cluster/read_fence.h): dk_store_get and
 * dk_store_try_get answer DK_EUNAVAILABLE for a key whose token_of falls
 * in one of spans[0..n), copied; n = 0 lifts it. 0 or -ENOMEM (the fence
 * unchanged). Any thread. */
int dk_store_set_span_fence(dk_store *s, dk_store_token_fn token_of, const dk_store_span *spans, size_t n);
/* Whether a read of span sp meets the fence (the whole store's, or one of
 * the fenced spans): a prefix scan part answers DK_EUNAVAILABLE. Any
 * thread. */
int dk_store_span_fenced(dk_store *s, const dk_store_span *sp);

/*
 * Apply a client write as its coordinator: read, check the condition, let
 * the resolver build the new object, write it with the configured sync.
 * On 0, raw/obj hold the new stored object (as for dk_store_get). Returns
 * DK_EPRECOND when the condition fails, DK_EWRONGTYPE when the key holds a
 * live object of another type, the resolver's refusal (DK_ESIBLINGS, and
 * for a CRDT write DK_EWRONGTYPE, DK_ETOOBIG, -EINVAL), -EOVERFLOW when
 * this node's version counter of the key is at UINT64_MAX, DK_ETOOBIG
 * when the new object would pass max_object_size, or an engine error.
 */
int dk_store_write_local(dk_store *s, const dk_store_write *w, int64_t now_ms, dk_buf *raw, dk_object *obj);

/*
 * The same write without blocking, for a loop thread, when the engine has
 * write_async: takes the key's stripe with a trylock, reads the stored
 * object with the non-blocking read, resolves and encodes as
 * dk_store_write_local does, and queues the engine's asynchronous write.
 * Returns 0 and *out: ready(arg) runs exactly once, on an engine thread,
 * when the write is durable (sync) or failed; the starting thread then
 * calls dk_store_write_finish(*out). Returns -EAGAIN when that cannot be
 * done without blocking (the stripe is busy, the read needs the disk, no
 * write_async): nothing happened, use dk_store_write_local on a worker.
 * Any other error (DK_EPRECOND, DK_ESIBLINGS, an engine's refusal) is the
 * write's final outcome, ready never runs, nothing was written. The key
 * stays locked until dk_store_write_finish: the starting thread must not
 * block on it (a trylock-only loop thread never does).
 */
typedef struct dk_store_wop dk_store_wop;
int dk_store_write_start(dk_store *s, const dk_store_write *w, int64_t now_ms, void (*ready)(void *arg),
                         void *arg, dk_store_wop **out);

/*
 * dk_store_merge without blocking, for a loop thread (replication, read
 * repair): as dk_store_write_start, with the replica's encoded copy merged
 * by the resolver (stored as it came when the key is absent). Returns 0
 * (ready will run; then dk_store_write_finish), 1 when the merge changes
 * nothing (done, nothing written, ready never runs), -EAGAIN (use
 * dk_store_merge on a worker), or an error (a copy that does not decode,
 * an engine's refusal).
 */
int dk_store_merge_start(dk_store *s, dk_slice key, dk_slice encoded, void (*ready)(void *arg), void *arg,
                         dk_store_wop **out);
/* The same, where encoded lies in hold's memory (a received frame,
 * rpc.h dk_rpc_req_take_frame): when the key is absent, the copy is stored
 * from there, and hold's memory is taken (hold left empty); otherwise
 * hold is left to the caller. hold NULL or empty: as dk_store_merge_start
 * (encoded is copied). */
int dk_store_merge_start_held(dk_store *s, dk_slice key, dk_slice encoded, dk_buf *hold,
                              void (*ready)(void *arg), void *arg, dk_store_wop **out);

/* The new stored object's encoding, known before it is durable (to send it
 * to other replicas meanwhile). Valid until dk_store_write_finish; the
 * starting thread. */
dk_slice dk_store_wop_encoded(const dk_store_wop *op);

/* Take that encoding's memory instead of copying it: *out (freed first)
 * becomes it, and must stay unchanged until dk_store_write_finish, since
 * the engine and the write hook read it; finish then leaves raw alone.
 * The starting thread. */
void dk_store_wop_take_encoded(dk_store_wop *op, dk_buf *out);

/*
 * The thread that called dk_store_write_start, after ready: runs the write
 * hook (on this thread, under the key's stripe), releases the key, frees
 * op and returns the write's outcome; on 0, raw/obj hold the new stored
 * object as from dk_store_write_local. raw NULL: the caller needs neither
 * (a replica's ACK, a coordinator that kept the object it sent), so
 * nothing is decoded; obj NULL: raw only. After dk_store_wop_take_encoded
 * raw and obj are left as they are (the caller holds the object).
 */
int dk_store_write_finish(dk_store_wop *op, dk_buf *raw, dk_object *obj);

/*
 * Merge a replica's encoded copy of key into the local one (replication,
 * read repair, hint replay). *changed is set when the stored bytes changed.
 * DK_ETOOBIG (nothing written) when the merged object would pass
 * max_object_size; the merges below refuse the same way (a batch skips
 * that key, counted in *skipped).
 */
int dk_store_merge(dk_store *s, dk_slice key, dk_slice encoded, int *changed);

/*
 * Merge n replica copies at once (streamed ranges): each item as
 * dk_store_merge would, all written with ONE engine write (one sync)
 * under the items' stripe locks, taken in stripe order so two batches
 * cannot deadlock. Keys must be distinct. An undecodable copy is skipped
 * with a log line (counted in *skipped); *changed counts the keys whose
 * stored bytes changed. Returns 0 or the engine's error (nothing of the
 * batch is written then). Worker thread.
 */
int dk_store_merge_batch(dk_store *s, const dk_slice *keys, const dk_slice *encoded, size_t n,
                         size_t *changed, size_t *skipped);

/* Delete the n keys (distinct) with one engine write under their stripe
 * locks: copies of ranges this node no longer replicates (cleanup). The
 * write hook sees each dropped key with an empty `after`. Returns 0 or the
 * engine's error. Worker thread. */
int dk_store_drop_batch(dk_store *s, const dk_slice *keys, size_t n);

/* Called by dk_store_scan for each stored object in key order; return
 * nonzero to stop. key, raw and obj are valid only during the call. */
typedef int (*dk_store_scan_fn)(void *arg, dk_slice key, dk_slice raw, const dk_object *obj);

/* Visit stored objects with keys in [start, end) (empty = unbounded),
 * undecodable ones skipped with a log line. */
int dk_store_scan(dk_store *s, dk_slice start, dk_slice end, dk_store_scan_fn fn, void *arg);

/* True when the object has a sibling that is neither a tombstone nor expired. */
int dk_store_is_live(const dk_object *obj, int64_t now_ms);

/*
 * Write hook: called after every successful engine write the store makes
 * (client writes, merges of replica copies: replication, read repair, hint
 * replay, anti-entropy), on the writing thread (a worker, or the loop
 * thread finishing a non-blocking write) while the key's stripe lock is
 * held, with the encoded object before (empty when the key
 * was absent; only its 32-byte header when the write was judged from the
 * stored object's head, a replica copy that superseded it or a client
 * write built from it, and the values were never read: dk_object_peek_head
 * reads it) and after. The slices are valid only during the call. It
 * must be quick and must not call the store. A merge that leaves the
 * stored bytes unchanged writes nothing and calls nothing.
 */
typedef void (*dk_store_hook)(void *arg, dk_slice key, dk_slice before, dk_slice after);

/* Install fn (NULL removes it). Takes every stripe lock, so it returns
 * after any write in progress and no later write misses it. Blocking:
 * worker thread. */
void dk_store_set_hook(dk_store *s, dk_store_hook fn, void *arg);

/* Run fn(arg) with every stripe lock held: no write is in progress and none
 * starts until fn returns (reads and engine iterators still work; fn must
 * not write through the store). For state that a write hook keeps in step
 * with the data: swap it, open a snapshot iterator, then let writes go on.
 * Blocking: worker thread. */
void dk_store_exclusive(dk_store *s, void (*fn)(void *arg), void *arg);
#endif
