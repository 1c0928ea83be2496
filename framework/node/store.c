/*
 * store.c - see store.h. Objects are stored encoded (object.h) as single
 * engine values; the resolver plugin works on decoded dk_objects.
 *
 * Locking: striped mutexes (STRIPES, store_int.h) chosen by a hash of
 * the key serialise read-modify-write per key without a lock table that
 * grows with the key space. Plain reads take no lock: the engine's get is
 * atomic per key. The non-blocking write (store_async.c:
 * dk_store_write_start) takes the stripe with a trylock on the loop
 * thread and keeps it until dk_store_write_finish on that same thread,
 * after the engine's asynchronous write completed: a later write of the
 * key (any thread) waits for it or, on the loop, goes to a worker that
 * waits, so per-key order is the same as with workers.
 * The write hook is called under the stripe lock, so what it observes per
 * key is in the order the writes reached the engine; taking every stripe
 * (dk_store_exclusive) is the one way to see the store between writes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "node/store_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "plugin/plugin_call.h"
#include "util/vv.h"

int dk_store_open(const dk_store_conf *conf, dk_store **out)
{
    dk_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->conf = *conf;
    pthread_mutex_init(&s->actor_mu, NULL);
    dk__store_fence_init(&s->fence);
    s->engine = (dk_engine_ref){conf->engine_ops, conf->engine};
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&s->stripe[i], NULL);
    *out = s;
    return 0;
}

void dk_store_close(dk_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&s->stripe[i]);
    pthread_mutex_destroy(&s->actor_mu);
    dk__store_fence_destroy(&s->fence);
    free(s);
}

void dk_store_set_actor(dk_store *s, const dk_actor *a)
{
    pthread_mutex_lock(&s->actor_mu);
    s->conf.actor = *a;
    pthread_mutex_unlock(&s->actor_mu);
}

static void store_copy_sink(void *arg, dk_slice value)
{
    dk_buf *b = arg;
    dk_buf_reset(b);
    if (dk_buf_append(b, value.ptr, value.len) != 0)
        b->len = (size_t)-1; /* flags ENOMEM to the caller */
}

/* The engine's value raw decoded into obj; the object's CRC is not
 * computed again when the engine checked its own over the same bytes
 * (DK_ENGINE_CAP_VERIFIED). */
int dk__store_decode(dk_store *s, dk_slice key, dk_slice raw, dk_object *obj)
{
    char err[160];
    int rc = dk_engine_verifies(&s->engine) ? dk_object_decode_verified(raw, obj, err, sizeof(err))
                                            : dk_object_decode(raw, obj, err, sizeof(err));
    if (rc)
        dk_log(DK_LOG_ERROR, "store: stored object for a %zu-byte key is unreadable: %s", key.len, err);
    return rc;
}

/* The engine's answer in raw, decoded into obj (rc is the engine's). */
static int store_got(dk_store *s, int rc, dk_slice key, dk_buf *raw, dk_object *obj)
{
    if (rc)
        return rc;
    if (raw->len == (size_t)-1) {
        raw->len = 0;
        return -ENOMEM;
    }
    return dk__store_decode(s, key, dk_buf_slice(raw), obj);
}

dk__store_fence *dk__store_fence_of(dk_store *s)
{
    return &s->fence;
}

const dk__store_fence *dk__store_fence_of_const(const dk_store *s)
{
    return &s->fence;
}

/* The stored object, whatever the read fence: what writes and merges read. */
static int store_read(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj)
{
    dk_buf_reset(raw);
    return store_got(s, dk_engine_get(&s->engine, key, store_copy_sink, raw), key, raw, obj);
}

int dk__store_try_read(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj)
{
    dk_buf_reset(raw);
    int rc = dk_engine_try_get(&s->engine, key, store_copy_sink, raw);
    if (rc == -EAGAIN)
        dk_metrics_add("store_try_read_blocked_total", 1);
    return store_got(s, rc, key, raw, obj);
}

int dk_store_get(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj)
{
    if (dk__store_fence_key(&s->fence, key)) {
        dk_buf_reset(raw);
        return DK_EUNAVAILABLE;
    }
    return store_read(s, key, raw, obj);
}

int dk_store_try_get(dk_store *s, dk_slice key, dk_buf *raw, dk_object *obj)
{
    if (dk__store_fence_key(&s->fence, key)) {
        dk_buf_reset(raw);
        return DK_EUNAVAILABLE;
    }
    return dk__store_try_read(s, key, raw, obj);
}

int dk_store_try_get_lent(dk_store *s, dk_slice key, dk_slice *raw, dk_object *obj, void **pin)
{
    *pin = NULL;
    *raw = (dk_slice){NULL, 0};
    if (!dk_engine_can_lend(&s->engine))
        return DK_EUNSUPPORTED;
    if (dk__store_fence_key(&s->fence, key))
        return DK_EUNAVAILABLE;
    dk_slice v;
    void *p = NULL;
    int rc = dk_engine_get_lent(&s->engine, key, DK_GET_NOWAIT, &v, &p);
    if (rc)
        return rc;
    if ((rc = dk__store_decode(s, key, v, obj))) {
        dk_engine_release(&s->engine, p);
        return rc;
    }
    *raw = v;
    *pin = p;
    return 0;
}

void dk_store_release(dk_store *s, void *pin)
{
    if (pin)
        dk_engine_release(&s->engine, pin);
}

/* A replica copy about to be merged into a local one that is damaged (the
 * engine found its block corrupt, or it does not decode: DK_ECORRUPT,
 * logged where found): the local copy counts as absent, so the copy is
 * stored as it came. This is how read repair, hint replay and
 * anti-entropy heal a damaged key; keeping the error would leave it
 * unreadable for good. Client writes do not do this: a write built on
 * an empty history would carry a version vector the lost one dominates. */
int dk__store_decode_replica(dk_slice encoded, dk_object *in)
{
    char err[160];
    int rc = dk_object_decode(encoded, in, err, sizeof(err));
    if (rc) {
        dk_log(DK_LOG_WARN, "store: refusing a replica copy: %s", err);
        dk_object_free(in);
    }
    return rc;
}

int dk__store_damaged_as_absent(int rc, dk_slice key, dk_buf *raw, dk_object *obj)
{
    if (rc != DK_ECORRUPT)
        return rc;
    dk_log(DK_LOG_WARN, "store: the local copy of a %zu-byte key is damaged; a replica's copy replaces it",
           key.len);
    dk_metrics_add("store_damaged_copies_replaced_total", 1);
    dk_object_free(obj);
    dk_object_init(obj);
    dk_buf_reset(raw);
    return DK_ENOTFOUND;
}

int dk_store_is_live(const dk_object *obj, int64_t now_ms)
{
    return dk_object_live_count(obj, now_ms) > 0;
}

/* Write enc under key (stripe lock held) and tell the hook. */
static int store_put_encoded(dk_store *s, dk_slice key, dk_slice before, const dk_buf *enc)
{
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = key, .value = dk_buf_slice(enc)};
    dk_batch b = {.ops = &op, .count = 1};
    int rc = dk_engine_write(&s->engine, &b, s->conf.sync);
    if (rc == 0 && s->hook)
        s->hook(s->hook_arg, key, before, dk_buf_slice(enc));
    return rc;
}

void dk_store_exclusive(dk_store *s, void (*fn)(void *arg), void *arg)
{
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_lock(&s->stripe[i]);
    fn(arg);
    for (int i = STRIPES - 1; i >= 0; i--)
        pthread_mutex_unlock(&s->stripe[i]);
}

typedef struct store_hook_set {
    dk_store *s;
    dk_store_hook fn;
    void *arg;
} store_hook_set;

static void store_hook_swap(void *arg)
{
    store_hook_set *h = arg;
    h->s->hook = h->fn;
    h->s->hook_arg = h->arg;
}

void dk_store_set_hook(dk_store *s, dk_store_hook fn, void *arg)
{
    store_hook_set h = {s, fn, arg};
    dk_store_exclusive(s, store_hook_swap, &h);
}

/* DK_ETOOBIG when an object of new_len bytes replacing one of old_len
 * (0: absent) would grow past max_object_size. */
int dk__store_check_size(const dk_store *s, size_t new_len, size_t old_len)
{
    uint64_t max = s->conf.max_object_size;
    if (max && new_len > max && new_len > old_len) {
        dk_log(DK_LOG_DEBUG, "store: refusing an object of %zu bytes (max_object_size %llu)", new_len,
               (unsigned long long)max);
        return DK_ETOOBIG;
    }
    return 0;
}

static int store_check_cond(const dk_store_write *w, int found, const dk_object *cur, int64_t now_ms)
{
    int live = found && dk_store_is_live(cur, now_ms);
    switch (w->cond) {
    case DK_COND_IF_NONE_MATCH: return live ? DK_EPRECOND : 0;
    case DK_COND_IF_MATCH:
        if (!live)
            return DK_EPRECOND;
        if (!w->if_match) /* If-Match: * asks only that the key exists */
            return 0;
        return dk_vv_compare(&cur->vv, w->if_match) == DK_VV_EQUAL ? 0 : DK_EPRECOND;
    default: return 0;
    }
}

/* Into *out (initialised) a copy of ctx whose entries are at most
 * DK_STORE_CONTEXT_AHEAD past stored's; returns 1 when it made one (some
 * entry was further ahead), 0 when ctx is fine as it is, -ENOMEM. */
static int store_clamp_context(const dk_vv *ctx, const dk_vv *stored, dk_vv *out)
{
    int made = 0;
    for (uint32_t i = 0; i < ctx->n; i++) {
        uint64_t have = dk_vv_get(stored, &ctx->e[i].actor);
        uint64_t lim =
            have > UINT64_MAX - DK_STORE_CONTEXT_AHEAD ? UINT64_MAX : have + DK_STORE_CONTEXT_AHEAD;
        if (ctx->e[i].counter <= lim)
            continue;
        if (!made && dk_vv_copy(out, ctx) != 0)
            return -ENOMEM;
        made = 1;
        if (dk_vv_set(out, &ctx->e[i].actor, lim, ctx->e[i].time_ms) != 0)
            return -ENOMEM;
    }
    return made;
}

/* The new stored object for client write w over the current one (cur,
 * found or not), encoded into raw: the condition checked, the context
 * chosen, the resolver asked. Pure; the caller holds the key's stripe. */
/* dk__store_next, or with head dk__store_next_head. */
static int store_next(dk_store *s, const dk_store_write *w, int64_t now_ms, int found, dk_slice cur_raw,
                      int head, const dk_object *cur, dk_buf *raw)
{
    int rc = store_check_cond(w, found, cur, now_ms);
    if (rc)
        return rc;
    if (w->context && w->context_is_map && !dk_vv_descends(&cur->vv, w->context))
        return DK_EPRECOND;
    /* Without an X-Context: a delete removes what this node has seen, as
     * Riak's delete does (a blind tombstone would only become one more
     * sibling next to the values it was meant to remove); a conditional
     * write supersedes exactly the state the condition was checked
     * against, so a successful CAS leaves no siblings. */
    const dk_vv *ctx = w->context;
    if (ctx)
        ;
    else if (w->cond == DK_COND_IF_MATCH && w->if_match)
        ctx = w->if_match;
    else if (w->tombstone || w->cond != DK_COND_NONE)
        ctx = &cur->vv;
    dk_vv clamped;
    dk_vv_init(&clamped);
    rc = ctx && ctx != &cur->vv ? store_clamp_context(ctx, &cur->vv, &clamped) : 0;
    if (rc < 0)
        return rc;
    if (rc == 1)
        ctx = &clamped;
    pthread_mutex_lock(&s->actor_mu);
    dk_actor actor = s->conf.actor;
    pthread_mutex_unlock(&s->actor_mu);
    dk_write dw = {
        .context = ctx,
        .actor = actor,
        .now_ms = now_ms,
        .expiry_ms = w->ttl_ms > 0 ? now_ms + w->ttl_ms : 0,
        .flags = w->tombstone ? DK_SIB_TOMBSTONE : 0,
        .value = w->tombstone ? (dk_slice){NULL, 0} : w->value,
    };
    dk_buf_reset(raw);
    dk_slice stored = found ? cur_raw : (dk_slice){NULL, 0};
    rc = head ? dk_resolve_update_head(s->conf.resolvers, w->type, stored, cur, &dw, raw)
              : dk_resolve_update(s->conf.resolvers, w->type, stored, cur, &dw, raw);
    dk_vv_free(&clamped);
    size_t old_len = found ? cur_raw.len : 0;
    dk_object_header h;
    if (head && dk_object_peek_head(cur_raw, &h) == 0)
        old_len = h.total_len;
    if (rc == 0)
        rc = dk__store_check_size(s, raw->len, old_len);
    return rc;
}

int dk__store_next(dk_store *s, const dk_store_write *w, int64_t now_ms, int found, dk_slice cur_raw,
                   const dk_object *cur, dk_buf *raw)
{
    return store_next(s, w, now_ms, found, cur_raw, 0, cur, raw);
}

int dk__store_next_head(dk_store *s, const dk_store_write *w, int64_t now_ms, dk_slice cur_head,
                        const dk_object *cur, dk_buf *raw)
{
    return store_next(s, w, now_ms, 1, cur_head, 1, cur, raw);
}

int dk_store_write_local(dk_store *s, const dk_store_write *w, int64_t now_ms, dk_buf *raw, dk_object *obj)
{
    dk_buf cur_raw = DK_BUF_INIT;
    dk_object cur;
    dk_object_init(&cur);
    pthread_mutex_t *lock = dk__store_lock_for(s, w->key);
    pthread_mutex_lock(lock);

    int rc = store_read(s, w->key, &cur_raw, &cur);
    int found = rc == 0;
    if (rc == DK_ENOTFOUND) {
        dk_object_free(&cur);
        dk_object_init(&cur);
        dk_buf_reset(&cur_raw);
        rc = 0;
    }
    if (rc == 0)
        rc = dk__store_next(s, w, now_ms, found, dk_buf_slice(&cur_raw), &cur, raw);
    if (rc == 0)
        rc = store_put_encoded(s, w->key, found ? dk_buf_slice(&cur_raw) : (dk_slice){NULL, 0}, raw);
    pthread_mutex_unlock(lock);
    dk_object_free(&cur);
    dk_buf_free(&cur_raw);
    if (rc)
        return rc;
    /* Decode from raw so obj's values borrow memory the caller owns. */
    char err[160];
    return dk_object_decode(dk_buf_slice(raw), obj, err, sizeof(err));
}

int dk_store_merge(dk_store *s, dk_slice key, dk_slice encoded, int *changed)
{
    dk_object in, cur;
    dk_object_init(&in);
    dk_object_init(&cur);
    dk_buf cur_raw = DK_BUF_INIT, out = DK_BUF_INIT;
    *changed = 0;
    int rc = dk__store_decode_replica(encoded, &in);
    if (rc)
        return rc;
    pthread_mutex_t *lock = dk__store_lock_for(s, key);
    pthread_mutex_lock(lock);
    rc = dk__store_damaged_as_absent(store_read(s, key, &cur_raw, &cur), key, &cur_raw, &cur);
    if (rc == DK_ENOTFOUND) {
        rc = dk__store_check_size(s, encoded.len, 0);
        if (rc == 0)
            rc = store_put_encoded(s, key, (dk_slice){NULL, 0},
                                   &(dk_buf){(uint8_t *)encoded.ptr, encoded.len, encoded.len});
        *changed = rc == 0;
        goto done;
    }
    if (rc)
        goto done;
    rc = dk_resolve_merge(s->conf.resolvers, dk_buf_slice(&cur_raw), &cur, encoded, &in, &out);
    if (rc)
        goto done;
    if (out.len != cur_raw.len || memcmp(out.data, cur_raw.data, out.len) != 0) {
        rc = dk__store_check_size(s, out.len, cur_raw.len);
        if (rc == 0)
            rc = store_put_encoded(s, key, dk_buf_slice(&cur_raw), &out);
        *changed = rc == 0;
    }
done:
    pthread_mutex_unlock(lock);
    dk_object_free(&in);
    dk_object_free(&cur);
    dk_buf_free(&cur_raw);
    dk_buf_free(&out);
    return rc;
}

typedef struct store_item {
    size_t idx, stripe;
} store_item;

static int store_item_cmp(const void *a, const void *b)
{
    const store_item *x = a, *y = b;
    return x->stripe < y->stripe ? -1 : x->stripe > y->stripe;
}

/* The merged encoding of one copy into out (empty when unchanged) and the
 * stored one into before (empty when absent), under the caller's lock. */
static int store_merge_one(dk_store *s, dk_slice key, dk_slice encoded, dk_buf *out, dk_buf *before)
{
    dk_object in, cur;
    dk_object_init(&in);
    dk_object_init(&cur);
    dk_buf *cur_raw = before;
    char err[160];
    int rc = dk_object_decode(encoded, &in, err, sizeof(err));
    if (rc) {
        dk_log(DK_LOG_WARN, "store: refusing a streamed copy: %s", err);
        goto done;
    }
    rc = dk__store_damaged_as_absent(store_read(s, key, cur_raw, &cur), key, cur_raw, &cur);
    if (rc == DK_ENOTFOUND) {
        dk_buf_reset(cur_raw);
        rc = dk__store_check_size(s, encoded.len, 0);
        if (rc == 0)
            rc = dk_buf_append(out, encoded.ptr, encoded.len);
        goto done;
    }
    if (rc == 0)
        rc = dk_resolve_merge(s->conf.resolvers, dk_buf_slice(cur_raw), &cur, encoded, &in, out);
    if (rc == 0)
        rc = dk__store_check_size(s, out->len, cur_raw->len);
    if (rc == 0 && out->len == cur_raw->len && memcmp(out->data, cur_raw->data, out->len) == 0)
        dk_buf_reset(out);
done:
    dk_object_free(&in);
    dk_object_free(&cur);
    return rc;
}

int dk_store_merge_batch(dk_store *s, const dk_slice *keys, const dk_slice *encoded, size_t n,
                         size_t *changed, size_t *skipped)
{
    *changed = *skipped = 0;
    if (n == 0)
        return 0;
    store_item *it = calloc(n, sizeof(*it));
    dk_buf *out = calloc(n, sizeof(*out)), *before = calloc(n, sizeof(*before));
    dk_batch_op *ops = calloc(n, sizeof(*ops));
    if (!it || !out || !before || !ops) {
        free(it);
        free(out);
        free(before);
        free(ops);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        it[i].idx = i;
        it[i].stripe = XXH3_64bits(keys[i].ptr, keys[i].len) % STRIPES;
    }
    qsort(it, n, sizeof(*it), store_item_cmp);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || it[i].stripe != it[i - 1].stripe)
            pthread_mutex_lock(&s->stripe[it[i].stripe]);
    int rc = 0;
    size_t n_ops = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t k = it[i].idx;
        int mrc = store_merge_one(s, keys[k], encoded[k], &out[k], &before[k]);
        if (mrc == DK_ECORRUPT || mrc == DK_ETOOBIG) {
            if (mrc == DK_ETOOBIG)
                dk_log(DK_LOG_WARN,
                       "store: a streamed copy of a %zu-byte key would pass max_object_size; "
                       "skipped (the key's siblings need resolving)",
                       keys[k].len);
            dk_buf_reset(&out[k]);
            (*skipped)++;
            continue;
        }
        rc = mrc;
        if (rc == 0 && out[k].len)
            ops[n_ops++] =
                (dk_batch_op){.type = DK_BATCH_PUT, .key = keys[k], .value = dk_buf_slice(&out[k])};
    }
    if (rc == 0 && n_ops) {
        dk_batch b = {.ops = ops, .count = n_ops};
        rc = dk_engine_write(&s->engine, &b, s->conf.sync);
        if (rc == 0)
            *changed = n_ops;
        for (size_t i = 0; rc == 0 && s->hook && i < n; i++)
            if (out[i].len)
                s->hook(s->hook_arg, keys[i], dk_buf_slice(&before[i]), dk_buf_slice(&out[i]));
    }
    for (size_t i = n; i-- > 0;)
        if (i == 0 || it[i].stripe != it[i - 1].stripe)
            pthread_mutex_unlock(&s->stripe[it[i].stripe]);
    for (size_t i = 0; i < n; i++) {
        dk_buf_free(&out[i]);
        dk_buf_free(&before[i]);
    }
    free(it);
    free(out);
    free(before);
    free(ops);
    return rc;
}

int dk_store_drop_batch(dk_store *s, const dk_slice *keys, size_t n)
{
    if (n == 0)
        return 0;
    store_item *it = calloc(n, sizeof(*it));
    dk_batch_op *ops = calloc(n, sizeof(*ops));
    if (!it || !ops) {
        free(it);
        free(ops);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        it[i].idx = i;
        it[i].stripe = XXH3_64bits(keys[i].ptr, keys[i].len) % STRIPES;
        ops[i] = (dk_batch_op){.type = DK_BATCH_DELETE, .key = keys[i]};
    }
    qsort(it, n, sizeof(*it), store_item_cmp);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || it[i].stripe != it[i - 1].stripe)
            pthread_mutex_lock(&s->stripe[it[i].stripe]);
    /* the hook sees each dropped copy leave (before = the stored bytes) */
    dk_buf *before = s->hook ? calloc(n, sizeof(*before)) : NULL;
    for (size_t i = 0; before && i < n; i++) {
        dk_object o;
        dk_object_init(&o);
        if (store_read(s, keys[i], &before[i], &o) != 0)
            dk_buf_reset(&before[i]);
        dk_object_free(&o);
    }
    dk_batch b = {.ops = ops, .count = n};
    int rc = dk_engine_write(&s->engine, &b, s->conf.sync);
    for (size_t i = 0; rc == 0 && before && i < n; i++)
        if (before[i].len)
            s->hook(s->hook_arg, keys[i], dk_buf_slice(&before[i]), (dk_slice){NULL, 0});
    for (size_t i = 0; before && i < n; i++)
        dk_buf_free(&before[i]);
    free(before);
    for (size_t i = n; i-- > 0;)
        if (i == 0 || it[i].stripe != it[i - 1].stripe)
            pthread_mutex_unlock(&s->stripe[it[i].stripe]);
    free(it);
    free(ops);
    return rc;
}

int dk_store_scan(dk_store *s, dk_slice start, dk_slice end, dk_store_scan_fn fn, void *arg)
{
    dk_engine_iter *it = NULL;
    dk_iter_opts opts = {.start = start, .end = end};
    int rc = dk_engine_iter_open(&s->engine, &opts, &it);
    if (rc)
        return rc;
    if (start.len)
        rc = dk_engine_iter_seek(&s->engine, it, start);
    while (rc == 0) {
        dk_slice k, v;
        rc = dk_engine_iter_next(&s->engine, it, &k, &v);
        if (rc)
            break;
        dk_object obj;
        dk_object_init(&obj);
        char err[160];
        if (dk_object_decode(v, &obj, err, sizeof(err)) != 0) {
            dk_log(DK_LOG_ERROR, "store: scan skips an unreadable object: %s", err);
            dk_object_free(&obj);
            continue;
        }
        int stop = fn(arg, k, v, &obj);
        dk_object_free(&obj);
        if (stop)
            break;
    }
    dk_engine_iter_close(&s->engine, it);
    return rc == DK_EOF ? 0 : rc;
}
