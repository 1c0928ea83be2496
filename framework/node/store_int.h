/*
 * store_int.h - what store.c and store_async.c share: the store itself,
 * its key stripes, and the read-modify-write steps both the blocking
 * write (store.c) and the non-blocking one (store_async.c) take.
 */
#ifndef DK_NODE_STORE_INT_H
#define DK_NODE_STORE_INT_H

#include <pthread.h>
#include <xxhash.h>

#include "node/store.h"
#include "node/store_fence.h"

/* Key stripes. A non-blocking write holds its key's stripe until the
 * engine made it durable (a WAL sync, ~1-10 ms), and a write that finds
 * its stripe busy goes to a worker (a copy, two thread hand-offs, and the
 * worker blocks on the lock meanwhile). At a node's PUT peak some 50
 * writes of unrelated keys are in flight: with 1024 stripes ~4 % of them
 * found their stripe busy (dynkv_store_async_stripe_busy_total, 0.12 per
 * quorum PUT over 3 nodes); with 16384, ~0.3 %, for 640 KiB of mutexes. */
#define STRIPES 16384

struct dk_store {
    dk_store_conf conf;
    pthread_mutex_t actor_mu; /* conf.actor may change (dk_store_set_actor) */
    dk_engine_ref engine;     /* conf's engine and ops, as a ref */
    pthread_mutex_t stripe[STRIPES];
    dk_store_hook hook; /* changed only with every stripe held */
    void *hook_arg;
    dk__store_fence fence; /* the read fence (store_fence.c) */
};

/* The stripe that serialises writes of key. */
static inline pthread_mutex_t *dk__store_lock_for(dk_store *s, dk_slice key)
{
    return &s->stripe[XXH3_64bits(key.ptr, key.len) % STRIPES];
}

/* DK_ETOOBIG when an object of new_len bytes replacing one of old_len
 * (0: absent) would grow past max_object_size. */
int dk__store_check_size(const dk_store *s, size_t new_len, size_t old_len);
/* A replica's copy decoded into in (initialised by the caller); on a
 * decode error it is logged, in freed and the error returned. */
int dk__store_decode_replica(dk_slice encoded, dk_object *in);
/* A damaged local copy (DK_ECORRUPT) as absent, for merges of a replica's
 * copy; any other rc as it is. */
int dk__store_damaged_as_absent(int rc, dk_slice key, dk_buf *raw, dk_object *obj);
/* The new stored object for client write w over the current one, encoded
 * into raw (store.c has the rules); the caller holds the key's stripe. */
int dk__store_next(dk_store *s, const dk_store_write *w, int64_t now_ms, int found, dk_slice cur_raw,
                   const dk_object *cur, dk_buf *raw);
/* dk__store_next with cur_raw the stored object's head (a prefix of its
 * encoding) and cur decoded from it (dk_object_decode_head): 1, raw
 * untouched, when the update needs the stored values
 * (dk_resolve_update_head); otherwise the same outcome. */
int dk__store_next_head(dk_store *s, const dk_store_write *w, int64_t now_ms, dk_slice cur_head,
                        const dk_object *cur, dk_buf *raw);
/* A stored object's bytes raw decoded into obj (checked against the
 * object's CRC unless the engine checks its own over the same bytes); an
 * error is logged. */
int dk__store_decode(dk_store *s, dk_slice key, dk_slice raw, dk_object *obj);
/* The stored object without blocking: -EAGAIN when the engine would. */
int dk__store_try_read(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj);

#endif
