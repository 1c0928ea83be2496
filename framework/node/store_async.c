/*
 * store_async.c - the store's non-blocking write (store.h:
 * dk_store_write_start, dk_store_merge_start[_held], dk_store_write_finish).
 * On the loop thread: the key's stripe taken with a trylock, the stored
 * object read without blocking, the new one encoded and handed to the
 * engine's asynchronous write; the stripe is kept until
 * dk_store_write_finish on that same thread, after the engine made the
 * write durable. Anything that would block (a busy stripe, a read the
 * engine cannot answer from memory, an engine without write_async)
 * returns -EAGAIN and the caller uses a worker and the blocking path
 * (store.c) instead, so per-key order is the same either way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node/store_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "node/resolve.h"
#include "node/supersede.h"
#include "plugin/plugin_call.h"
#include "util/vv.h"

struct dk_store_wop {
    dk_store *s;
    pthread_mutex_t *lock;   /* the key's stripe, held by the starting thread */
    dk_buf key, before, enc; /* the batch points into key and enc (or the taker's buffer) */
    int found, status;
    int taken;     /* enc went to the caller (dk_store_wop_take_encoded) */
    dk_slice held; /* the encoding, when enc is the caller's buffer it lies in */
    dk_batch_op bop;
    dk_batch batch;
    void (*ready)(void *arg);
    void *arg;
};

static void store_wop_free(dk_store_wop *op)
{
    dk_buf_free(&op->key);
    dk_buf_free(&op->before);
    dk_buf_free(&op->enc);
    free(op);
}

/* Engine thread (the WAL thread or a synchronous leader): the batch is
 * applied (durable with sync) or failed. status is read by the starting
 * thread after ready's hand-off, which orders the two. */
static void store_wop_written(void *arg, int status)
{
    dk_store_wop *op = arg;
    op->status = status;
    op->ready(op->arg);
}

/* The stored object's head, for a write that needs only its versions:
 * what the engine lends for DK_GET_HEAD (an engine may lend the first
 * bytes alone: the LSM, a blob value's from its table entry, without
 * reading the blob file), decoded by dk_object_decode_head into *cur.
 * 0 with *head and *pin set (the caller releases the pin), DK_ENOTFOUND
 * (nothing stored: no second read needed), or 1: the caller reads the
 * whole object (the read would block, the head does not hold the
 * versions). Only from an engine that lends and checks its bytes: a head
 * cannot be checked against the object's CRC. */
static int store_lend_head(dk_store *s, dk_slice key, dk_slice *head, void **pin, dk_object *cur)
{
    *pin = NULL;
    if (!dk_engine_can_lend(&s->engine) || !dk_engine_verifies(&s->engine))
        return 1;
    int rc = dk_engine_get_lent(&s->engine, key, DK_GET_NOWAIT | DK_GET_HEAD, head, pin);
    if (rc)
        return rc == DK_ENOTFOUND ? rc : 1;
    if (head->len >= DK_OBJECT_HEADER_SIZE && dk_object_decode_head(*head, cur) == 0)
        return 0;
    dk_engine_release(&s->engine, *pin);
    *pin = NULL;
    return 1;
}

/* The write hook's `before` for a write judged from the head: the old
 * object's header (store.h). */
static int store_head_before(dk_slice head, dk_buf *before)
{
    dk_buf_reset(before);
    return dk_buf_append(before, head.ptr, DK_OBJECT_HEADER_SIZE);
}

/* What a write learned from the stored object's head, besides
 * DK_ENOTFOUND (nothing stored) and errors. */
enum {
    STORE_HEAD_DONE = 0,  /* decided from the head */
    STORE_HEAD_READ = 1,  /* not: the caller reads the whole object */
    STORE_HEAD_WHOLE = 2, /* not, but the lend was the whole object (store_keep_whole) */
};

/* When the head could not decide a merge, and the engine lent the whole
 * object anyway (a memtable entry, a value too small for a blob file), the
 * merge goes on from those bytes instead of a second lookup: copied into raw and
 * decoded whole into *cur (replacing the head's decode, whose values point
 * into the lend). STORE_HEAD_WHOLE, STORE_HEAD_READ when the lend was a
 * prefix, or the decode's error, as a read would have returned it. */
static int store_keep_whole(dk_store *s, dk_slice key, dk_slice head, dk_buf *raw, dk_object *cur)
{
    dk_object_header h;
    if (dk_object_peek_head(head, &h) != 0 || h.total_len != head.len)
        return STORE_HEAD_READ;
    dk_object_free(cur);
    dk_object_init(cur);
    dk_buf_reset(raw);
    int rc = dk_buf_append(raw, head.ptr, head.len);
    if (rc == 0)
        rc = dk__store_decode(s, key, dk_buf_slice(raw), cur);
    if (rc == 0) {
        dk_metrics_add("store_head_whole_kept_total", 1);
        return STORE_HEAD_WHOLE;
    }
    return rc;
}

/* A replica copy that supersedes the stored object (supersede.h) is the
 * merge: stored as it came, the stored values unread. STORE_HEAD_DONE
 * when the stored object's head shows it does, the header copied into
 * before; DK_ENOTFOUND when nothing is stored; otherwise as
 * store_keep_whole, with *cur (initialised by the caller) the whole
 * object for STORE_HEAD_WHOLE. */
static int store_head_supersedes(dk_store *s, dk_slice key, dk_slice in_raw, const dk_object *in,
                                 dk_buf *before, dk_object *cur)
{
    dk_slice head;
    void *pin;
    int rc = store_lend_head(s, key, &head, &pin, cur);
    if (rc)
        return rc == DK_ENOTFOUND ? rc : STORE_HEAD_READ;
    if (dk_object_supersedes_head(head, cur, in_raw, in) == 1 && store_head_before(head, before) == 0) {
        dk_metrics_add("merges_superseded_total", 1);
        dk_metrics_add("store_head_merges_total", 1);
        rc = STORE_HEAD_DONE;
    } else {
        rc = store_keep_whole(s, key, head, before, cur);
    }
    if (rc != STORE_HEAD_WHOLE) {
        dk_object_free(cur);
        dk_object_init(cur);
    }
    dk_engine_release(&s->engine, pin);
    return rc;
}

/* A client write from the stored object's head, when the type's resolver
 * needs no stored value for it (dk__store_next_head): STORE_HEAD_DONE
 * with the new encoding in op->enc and the old header in op->before, an
 * error of the write's own (a failed condition, too many siblings: the
 * same as from the whole object), DK_ENOTFOUND when nothing is stored,
 * or STORE_HEAD_READ. A resolver that needs the stored values (CRDTs) is
 * not lent a head at all: one lookup, not two. (A head that is the whole
 * object leaves no value unread, so it always decides here.) */
static int store_head_update(dk_store *s, const dk_store_write *w, int64_t now_ms, dk_store_wop *op)
{
    if (!dk_resolve_head_capable(s->conf.resolvers, w->type))
        return STORE_HEAD_READ;
    dk_slice head;
    void *pin;
    dk_object cur;
    dk_object_init(&cur);
    int rc = store_lend_head(s, w->key, &head, &pin, &cur);
    if (rc)
        return rc;
    rc = dk__store_next_head(s, w, now_ms, head, &cur, &op->enc);
    if (rc == STORE_HEAD_DONE)
        rc = store_head_before(head, &op->before);
    dk_object_free(&cur);
    dk_engine_release(&s->engine, pin);
    if (rc == STORE_HEAD_DONE)
        dk_metrics_add("store_head_writes_total", 1);
    return rc;
}

int dk_store_write_start(dk_store *s, const dk_store_write *w, int64_t now_ms, void (*ready)(void *arg),
                         void *arg, dk_store_wop **out)
{
    *out = NULL;
    if (!dk_engine_can_write_async(&s->engine))
        return -EAGAIN;
    pthread_mutex_t *lock = dk__store_lock_for(s, w->key);
    /* Busy: a worker or another write in flight holds the key's stripe;
     * waiting would block the loop. */
    if (pthread_mutex_trylock(lock) != 0) {
        dk_metrics_add("store_async_stripe_busy_total", 1);
        return -EAGAIN;
    }
    dk_store_wop *op = calloc(1, sizeof(*op));
    if (!op) {
        pthread_mutex_unlock(lock);
        return -ENOMEM;
    }
    int rc = store_head_update(s, w, now_ms, op);
    op->found = rc == STORE_HEAD_DONE;
    if (rc == STORE_HEAD_READ || rc == DK_ENOTFOUND) {
        dk_object cur;
        dk_object_init(&cur);
        rc = rc == STORE_HEAD_READ ? dk__store_try_read(s, w->key, &op->before, &cur) : DK_ENOTFOUND;
        op->found = rc == 0;
        if (rc == DK_ENOTFOUND) {
            dk_object_free(&cur);
            dk_object_init(&cur);
            dk_buf_reset(&op->before);
            rc = 0;
        }
        if (rc == 0)
            rc = dk__store_next(s, w, now_ms, op->found, dk_buf_slice(&op->before), &cur, &op->enc);
        dk_object_free(&cur);
    }
    if (rc == 0)
        rc = dk_buf_append(&op->key, w->key.ptr, w->key.len);
    if (rc == 0) {
        op->s = s;
        op->lock = lock;
        op->ready = ready;
        op->arg = arg;
        op->bop = (dk_batch_op){
            .type = DK_BATCH_PUT, .key = dk_buf_slice(&op->key), .value = dk_buf_slice(&op->enc)};
        op->batch = (dk_batch){.ops = &op->bop, .count = 1};
        rc = dk_engine_write_async(&s->engine, &op->batch, s->conf.sync, store_wop_written, op);
    }
    if (rc) {
        pthread_mutex_unlock(lock);
        store_wop_free(op);
        return rc;
    }
    *out = op;
    return 0;
}

int dk_store_merge_start(dk_store *s, dk_slice key, dk_slice encoded, void (*ready)(void *arg), void *arg,
                         dk_store_wop **out)
{
    return dk_store_merge_start_held(s, key, encoded, NULL, ready, arg, out);
}

int dk_store_merge_start_held(dk_store *s, dk_slice key, dk_slice encoded, dk_buf *hold,
                              void (*ready)(void *arg), void *arg, dk_store_wop **out)
{
    *out = NULL;
    if (!dk_engine_can_write_async(&s->engine))
        return -EAGAIN;
    dk_object in, cur;
    dk_object_init(&in);
    dk_object_init(&cur);
    int rc = dk__store_decode_replica(encoded, &in);
    if (rc)
        return rc;
    pthread_mutex_t *lock = dk__store_lock_for(s, key);
    if (pthread_mutex_trylock(lock) != 0) {
        dk_metrics_add("store_async_stripe_busy_total", 1);
        dk_object_free(&in);
        return -EAGAIN;
    }
    dk_store_wop *op = calloc(1, sizeof(*op));
    int head = op ? store_head_supersedes(s, key, encoded, &in, &op->before, &cur) : -ENOMEM;
    int blind = head == STORE_HEAD_DONE;
    if (blind || head == DK_ENOTFOUND || head == -ENOMEM)
        rc = blind ? 0 : head;
    else
        rc = dk__store_damaged_as_absent(head == STORE_HEAD_READ
                                             ? dk__store_try_read(s, key, &op->before, &cur)
                                         : head == STORE_HEAD_WHOLE ? 0
                                                                    : head,
                                         key, &op->before, &cur);
    if (op)
        op->found = rc == 0;
    if (rc == DK_ENOTFOUND || blind) {
        /* Absent here, or superseded: the copy is stored as it came, from
         * where it lies when the caller hands over the memory it is in. */
        size_t old_len = 0;
        dk_object_header hb;
        if (blind && dk_object_peek_head(dk_buf_slice(&op->before), &hb) == 0)
            old_len = hb.total_len;
        if (!blind)
            dk_buf_reset(&op->before);
        rc = dk__store_check_size(s, encoded.len, old_len);
        if (rc == 0 && hold && hold->data) {
            op->enc = *hold;
            dk_buf_init(hold);
            op->held = encoded;
        } else if (rc == 0) {
            rc = dk_buf_append(&op->enc, encoded.ptr, encoded.len);
        }
    } else if (rc == 0) {
        rc = dk_resolve_merge(s->conf.resolvers, dk_buf_slice(&op->before), &cur, encoded, &in, &op->enc);
        if (rc == 0 && op->enc.len == op->before.len &&
            memcmp(op->enc.data, op->before.data, op->enc.len) == 0)
            rc = 1; /* nothing changes: nothing to write */
        if (rc == 0)
            rc = dk__store_check_size(s, op->enc.len, op->before.len);
    }
    dk_object_free(&in);
    dk_object_free(&cur);
    if (rc == 0)
        rc = dk_buf_append(&op->key, key.ptr, key.len);
    if (rc == 0) {
        op->s = s;
        op->lock = lock;
        op->ready = ready;
        op->arg = arg;
        op->bop = (dk_batch_op){.type = DK_BATCH_PUT,
                                .key = dk_buf_slice(&op->key),
                                .value = op->held.ptr ? op->held : dk_buf_slice(&op->enc)};
        op->batch = (dk_batch){.ops = &op->bop, .count = 1};
        rc = dk_engine_write_async(&s->engine, &op->batch, s->conf.sync, store_wop_written, op);
    }
    if (rc) {
        pthread_mutex_unlock(lock);
        if (op && op->held.ptr) { /* the caller's memory goes back */
            *hold = op->enc;
            dk_buf_init(&op->enc);
        }
        if (op)
            store_wop_free(op);
        return rc;
    }
    *out = op;
    return 0;
}

dk_slice dk_store_wop_encoded(const dk_store_wop *op)
{
    return op->bop.value;
}

void dk_store_wop_take_encoded(dk_store_wop *op, dk_buf *out)
{
    dk_buf_free(out);
    *out = op->enc;
    dk_buf_init(&op->enc);
    op->taken = 1;
}

int dk_store_write_finish(dk_store_wop *op, dk_buf *raw, dk_object *obj)
{
    dk_store *s = op->s;
    int rc = op->status;
    if (rc == 0 && s->hook)
        s->hook(s->hook_arg, dk_buf_slice(&op->key),
                op->found ? dk_buf_slice(&op->before) : (dk_slice){NULL, 0}, op->bop.value);
    pthread_mutex_unlock(op->lock);
    if (rc == 0 && raw && op->held.ptr) {
        dk_buf_reset(raw);
        rc = dk_buf_append(raw, op->held.ptr, op->held.len);
        if (rc == 0 && obj) {
            char err[160];
            rc = dk_object_decode(dk_buf_slice(raw), obj, err, sizeof(err));
        }
    } else if (rc == 0 && raw && !op->taken) {
        dk_buf t = *raw;
        *raw = op->enc;
        op->enc = t;
        char err[160];
        if (obj)
            rc = dk_object_decode(dk_buf_slice(raw), obj, err, sizeof(err));
    }
    store_wop_free(op);
    return rc;
}
