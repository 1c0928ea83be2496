/*
 * hints.c - hinted handoff store and replay (contract and key layout in
 * hints.h).
 *
 * Each target with hints has an entry in a small array on the loop. A
 * target is "busy" while one batch of its hints is being read or
 * delivered, so its hints go out one batch at a time, in order, and at
 * most HINTS_BATCH of them are in flight. The next batch is read only once
 * every acknowledged hint of the previous one is deleted, so a hint is
 * never delivered twice by one node run (a crash between the ACK and the
 * delete delivers it again: the owner merges it, which is idempotent).
 * A target leaves the array when a batch read finds none of its hints left
 * and no hint was stored for it meanwhile (a generation counter says so).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/hints.h"
#include "node/host.h"
#include "base/log.h"
#include "base/metrics.h"
#include "util/buf.h"

#define HINTS_BATCH 32
#define HINT_HDR 16 /* big-endian time and sequence after the 0x00 */

typedef struct hint_target {
    char id[DK_NODE_ID_MAX + 1];
    uint64_t gen;   /* bumped by every store for this target */
    uint64_t count; /* hints stored for it and not yet delivered or dropped */
    int busy;
} hint_target;

struct dk_hints {
    dk_hints_conf conf;
    uv_timer_t timer;
    hint_target *t;
    size_t n, cap;
    uint64_t seq;
    uint64_t count;    /* every target's count: the hints_pending gauge */
    unsigned storing;  /* store jobs in flight */
    unsigned inflight; /* worker jobs and deliveries */
    int closing, timer_closed;
    void (*close_done)(void *);
    void *close_arg;
};

/* A worker job; kind-specific fields follow. */
typedef struct hint_job {
    uv_work_t req;
    dk_hints *h;
    int rc;
} hint_job;

/* ---- helpers ------------------------------------------------------------ */

static void hints_maybe_closed(dk_hints *h)
{
    if (h->closing && h->inflight == 0 && h->timer_closed) {
        void (*done)(void *) = h->close_done;
        void *arg = h->close_arg;
        free(h->t);
        free(h);
        if (done)
            done(arg);
    }
}

static hint_target *hints_find(dk_hints *h, const char *id)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->t[i].id, id) == 0)
            return &h->t[i];
    return NULL;
}

int dk_hints_holds(const dk_hints *h, const char *target)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->t[i].id, target) == 0)
            return 1;
    return 0;
}

/* n hints for t are gone (delivered or dropped): keep the gauge. */
static void hints_count_less(dk_hints *h, hint_target *t, uint64_t n)
{
    if (t)
        t->count -= n < t->count ? n : t->count;
    h->count -= n < h->count ? n : h->count;
    dk_metrics_set_gauge("hints_pending", h->count);
}

uint64_t dk_hints_pending(const dk_hints *h)
{
    return h->count + h->storing;
}

size_t dk_hints_describe(const dk_hints *h, char *out, size_t len)
{
    size_t used = 0;
    if (len)
        out[0] = 0;
    for (size_t i = 0; i < h->n && used < len; i++) {
        int w = snprintf(out + used, len - used, "%s%llu for %s", used ? ", " : "",
                         (unsigned long long)h->t[i].count, h->t[i].id);
        used += w > 0 ? (size_t)w : 0;
    }
    return h->n;
}

static hint_target *hints_add_target(dk_hints *h, const char *id, size_t len)
{
    char tmp[DK_NODE_ID_MAX + 1];
    if (len == 0 || len > DK_NODE_ID_MAX)
        return NULL;
    memcpy(tmp, id, len);
    tmp[len] = 0;
    hint_target *t = hints_find(h, tmp);
    if (t)
        return t;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        hint_target *nt = realloc(h->t, cap * sizeof(*nt));
        if (!nt)
            return NULL;
        h->t = nt;
        h->cap = cap;
    }
    t = &h->t[h->n++];
    memset(t, 0, sizeof(*t));
    memcpy(t->id, tmp, len + 1);
    return t;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int hints_queue(dk_hints *h, hint_job *j, uv_work_cb work, uv_after_work_cb after)
{
    j->h = h;
    int rc = uv_queue_work(h->conf.loop, &j->req, work, after);
    if (rc == 0)
        h->inflight++;
    return rc;
}

/* After-work epilogue shared by every job. */
static void hints_job_end(dk_hints *h)
{
    h->inflight--;
    hints_maybe_closed(h);
}

/* ---- the initial scan: which targets have hints ------------------------- */

typedef struct scan_job {
    hint_job base;
    dk_buf ids; /* per target: its id, NUL, then its count (uint64_t) */
} scan_job;

static void scan_work(uv_work_t *req)
{
    scan_job *j = (scan_job *)req;
    dk_hints *h = j->base.h;
    dk_engine_iter *it = NULL;
    dk_iter_opts o = {{NULL, 0}, {NULL, 0}};
    int rc = h->conf.ops->iter_open(h->conf.engine, &o, &it);
    dk_slice k, v;
    char cur[DK_NODE_ID_MAX + 1] = "";
    uint64_t count = 0;
    /* Every key is read (not one seek per target) so that each target's
     * count is known: a leaver says when it holds none (cluster/leaver.h). */
    while (rc == 0 && (rc = h->conf.ops->iter_next(it, &k, &v)) == 0) {
        const uint8_t *z = memchr(k.ptr, 0, k.len);
        if (!z || z == k.ptr || (size_t)(z - k.ptr) > DK_NODE_ID_MAX) {
            dk_log(DK_LOG_WARN, "hints: ignoring a malformed hint key of %zu bytes", k.len);
            continue;
        }
        size_t len = (size_t)(z - k.ptr);
        if (strlen(cur) == len && memcmp(cur, k.ptr, len) == 0) {
            count++;
            continue;
        }
        if (cur[0] && ((rc = dk_buf_append(&j->ids, cur, strlen(cur) + 1)) ||
                       (rc = dk_buf_append(&j->ids, &count, sizeof(count)))))
            break;
        memcpy(cur, k.ptr, len);
        cur[len] = 0;
        count = 1;
    }
    if ((rc == 0 || rc == DK_EOF) && cur[0]) {
        int arc = dk_buf_append(&j->ids, cur, strlen(cur) + 1);
        if (arc == 0)
            arc = dk_buf_append(&j->ids, &count, sizeof(count));
        if (arc)
            rc = arc;
    }
    if (it)
        h->conf.ops->iter_close(it);
    j->base.rc = rc == DK_EOF ? 0 : rc;
}

static void scan_after(uv_work_t *req, int status)
{
    scan_job *j = (scan_job *)req;
    dk_hints *h = j->base.h;
    if (status == 0 && j->base.rc == 0) {
        for (size_t off = 0; off < j->ids.len;) {
            const char *id = (const char *)j->ids.data + off;
            size_t len = strlen(id);
            uint64_t count;
            memcpy(&count, j->ids.data + off + len + 1, sizeof(count));
            hint_target *t = hints_add_target(h, id, len);
            if (t) {
                t->count += count;
                h->count += count;
            }
            off += len + 1 + sizeof(count);
        }
        dk_metrics_set_gauge("hints_pending", h->count);
        if (h->n)
            dk_log(DK_LOG_INFO, "hints: %zu target node(s) have %llu hint(s) waiting", h->n,
                   (unsigned long long)h->count);
    } else {
        dk_log(DK_LOG_ERROR, "hints: cannot scan the hint store: %s",
               dk_strerror(status ? status : j->base.rc));
    }
    dk_buf_free(&j->ids);
    free(j);
    hints_job_end(h);
}

/* ---- store -------------------------------------------------------------- */

typedef struct store_job {
    hint_job base;
    dk_buf key;
    dk_buf value;
    dk_hints_done done;
    void *arg;
    char target[DK_NODE_ID_MAX + 1];
} store_job;

static void store_work(uv_work_t *req)
{
    store_job *j = (store_job *)req;
    dk_hints *h = j->base.h;
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = dk_buf_slice(&j->key), .value = dk_buf_slice(&j->value)};
    dk_batch b = {.ops = &op, .count = 1};
    j->base.rc = h->conf.ops->write(h->conf.engine, &b, 1);
}

static void store_after(uv_work_t *req, int status)
{
    store_job *j = (store_job *)req;
    dk_hints *h = j->base.h;
    int rc = status ? status : j->base.rc;
    h->storing--;
    if (rc == 0) {
        dk_metrics_add("hints_stored_total", 1);
        /* the target was added when the store began; a replay may have
         * forgotten it meanwhile (it found none): it has one again */
        hint_target *t = hints_find(h, j->target);
        if (!t)
            t = hints_add_target(h, j->target, strlen(j->target));
        if (t)
            t->count++;
        h->count++;
        dk_metrics_set_gauge("hints_pending", h->count);
    } else
        dk_log(DK_LOG_ERROR, "hints: cannot store a hint: %s", dk_strerror(rc));
    if (j->done)
        j->done(j->arg, rc);
    dk_buf_free(&j->key);
    dk_buf_free(&j->value);
    free(j);
    hints_job_end(h);
}

int dk_hints_store(dk_hints *h, const char *target, dk_slice key, dk_slice object, dk_hints_done done,
                   void *arg)
{
    size_t tlen = strlen(target);
    if (tlen == 0 || tlen > DK_NODE_ID_MAX || key.len == 0 || object.len == 0)
        return -EINVAL;
    if (h->closing)
        return DK_ECLOSED;
    hint_target *t = hints_add_target(h, target, tlen);
    store_job *j = calloc(1, sizeof(*j));
    if (!t || !j) {
        free(j);
        return -ENOMEM;
    }
    uint8_t hdr[1 + HINT_HDR];
    hdr[0] = 0;
    put_be64(hdr + 1, (uint64_t)dk_now_ms());
    put_be64(hdr + 9, h->seq++);
    int rc;
    if ((rc = dk_buf_append(&j->key, target, tlen)) || (rc = dk_buf_append(&j->key, hdr, sizeof(hdr))) ||
        (rc = dk_buf_append(&j->key, key.ptr, key.len)) ||
        (rc = dk_buf_append(&j->value, object.ptr, object.len)))
        goto err;
    j->done = done;
    j->arg = arg;
    memcpy(j->target, target, tlen + 1);
    t->gen++;
    if ((rc = hints_queue(h, &j->base, store_work, store_after)) == 0) {
        h->storing++;
        return 0;
    }
err:
    dk_buf_free(&j->key);
    dk_buf_free(&j->value);
    free(j);
    return rc;
}

/* ---- replay ------------------------------------------------------------- */

typedef struct batch_job {
    hint_job base;
    char target[DK_NODE_ID_MAX + 1];
    int collect;  /* target alive: collect hints to deliver */
    uint64_t gen; /* target's gen when the job started */
    int64_t now_ms;
    dk_buf keys, values; /* collected hints, length-prefixed (size_t) */
    size_t n, dropped;
    int left; /* some unexpired hint remains */
    /* delivery state (loop) */
    size_t pending, failed;
} batch_job;

static void batch_push(dk_buf *b, dk_slice s, int *rc)
{
    if (*rc == 0)
        *rc = dk_buf_append(b, &s.len, sizeof(s.len));
    if (*rc == 0)
        *rc = dk_buf_append(b, s.ptr, s.len);
}

static dk_slice batch_at(const dk_buf *b, size_t *off)
{
    size_t len;
    memcpy(&len, b->data + *off, sizeof(len));
    dk_slice s = {b->data + *off + sizeof(len), len};
    *off += sizeof(len) + len;
    return s;
}

static void batch_work(uv_work_t *req)
{
    batch_job *j = (batch_job *)req;
    dk_hints *h = j->base.h;
    size_t tlen = strlen(j->target);
    uint8_t lo[DK_NODE_ID_MAX + 1], hi[DK_NODE_ID_MAX + 1];
    memcpy(lo, j->target, tlen);
    memcpy(hi, j->target, tlen);
    lo[tlen] = 0;
    hi[tlen] = 1;
    dk_iter_opts o = {{lo, tlen + 1}, {hi, tlen + 1}};
    dk_engine_iter *it = NULL;
    dk_buf expired = DK_BUF_INIT;
    size_t n_expired = 0;
    int rc = h->conf.ops->iter_open(h->conf.engine, &o, &it);
    if (rc == 0)
        rc = h->conf.ops->iter_seek(it, o.start);
    dk_slice k, v;
    while (rc == 0 && (rc = h->conf.ops->iter_next(it, &k, &v)) == 0) {
        if (k.len <= tlen + 1 + HINT_HDR || v.len == 0) {
            dk_log(DK_LOG_WARN, "hints: dropping a malformed hint for %s", j->target);
            batch_push(&expired, k, &rc);
            n_expired++;
            continue;
        }
        int64_t at = (int64_t)get_be64(k.ptr + tlen + 1);
        if (at + h->conf.window_ms < j->now_ms) {
            batch_push(&expired, k, &rc);
            n_expired++;
            continue;
        }
        j->left = 1;
        /* Hints are in time order: past the first live one, nothing more
         * has expired, so a target that is down needs no further look. */
        if (!j->collect || j->n == HINTS_BATCH)
            break;
        batch_push(&j->keys, k, &rc);
        batch_push(&j->values, v, &rc);
        j->n++;
    }
    if (rc == DK_EOF)
        rc = 0;
    if (it)
        h->conf.ops->iter_close(it);
    if (rc == 0 && n_expired) {
        dk_batch_op *ops = calloc(n_expired, sizeof(*ops));
        if (!ops)
            rc = -ENOMEM;
        size_t off = 0;
        for (size_t i = 0; ops && i < n_expired; i++) {
            ops[i].type = DK_BATCH_DELETE;
            ops[i].key = batch_at(&expired, &off);
        }
        if (ops) {
            dk_batch b = {.ops = ops, .count = n_expired};
            rc = h->conf.ops->write(h->conf.engine, &b, 0);
            if (rc == 0)
                j->dropped = n_expired;
        }
        free(ops);
    }
    dk_buf_free(&expired);
    j->base.rc = rc;
}

static void batch_free(batch_job *j)
{
    dk_buf_free(&j->keys);
    dk_buf_free(&j->values);
    free(j);
}

static void hints_start_batch(dk_hints *h, hint_target *t);

/* The target's batch is over: free it, and go on with the next batch at
 * once when this one was full and went well. */
static void batch_finish(batch_job *j)
{
    dk_hints *h = j->base.h;
    hint_target *t = hints_find(h, j->target);
    int again = j->n == HINTS_BATCH && j->failed == 0;
    if (t) {
        t->busy = 0;
        if (again && !h->closing)
            hints_start_batch(h, t);
    }
    batch_free(j);
    hints_job_end(h);
}

typedef struct del_job {
    hint_job base;
    batch_job *batch;
    dk_buf key;
} del_job;

static void del_work(uv_work_t *req)
{
    del_job *d = (del_job *)req;
    dk_hints *h = d->base.h;
    dk_batch_op op = {.type = DK_BATCH_DELETE, .key = dk_buf_slice(&d->key)};
    dk_batch b = {.ops = &op, .count = 1};
    d->base.rc = h->conf.ops->write(h->conf.engine, &b, 0);
}

static void del_after(uv_work_t *req, int status)
{
    del_job *d = (del_job *)req;
    dk_hints *h = d->base.h;
    batch_job *j = d->batch;
    int rc = status ? status : d->base.rc;
    if (rc) {
        dk_log(DK_LOG_WARN, "hints: cannot delete a replayed hint for %s: %s", j->target, dk_strerror(rc));
        j->failed++;
    } else {
        hints_count_less(h, hints_find(h, j->target), 1);
    }
    dk_buf_free(&d->key);
    free(d);
    if (--j->pending == 0)
        batch_finish(j);
    hints_job_end(h);
}

typedef struct delivery {
    batch_job *batch;
    dk_buf key; /* the hint's own key, deleted after the ACK */
} delivery;

static void delivered(void *arg, int status)
{
    delivery *dv = arg;
    batch_job *j = dv->batch;
    dk_hints *h = j->base.h;
    h->inflight--;
    /* A target that refuses the object's size (max_object_size) would
     * refuse it at every replay: the hint is dropped, not retried. */
    if (status == DK_ETOOBIG) {
        dk_log(DK_LOG_WARN, "hints: dropping a hint its target refuses as larger than max_object_size");
        dk_metrics_add("hints_dropped_total", 1);
    }
    if (status == 0 || status == DK_ETOOBIG) {
        if (status == 0)
            dk_metrics_add("hints_replayed_total", 1);
        del_job *d = calloc(1, sizeof(*d));
        if (d) {
            d->batch = j;
            d->key = dv->key;
            free(dv);
            if (hints_queue(h, &d->base, del_work, del_after) == 0)
                return;
            dk_buf_free(&d->key);
            free(d);
            dv = NULL;
        }
    } else {
        j->failed++;
    }
    if (dv) {
        dk_buf_free(&dv->key);
        free(dv);
    }
    if (--j->pending == 0)
        batch_finish(j);
    else
        hints_maybe_closed(h);
}

static void batch_after(uv_work_t *req, int status)
{
    batch_job *j = (batch_job *)req;
    dk_hints *h = j->base.h;
    int rc = status ? status : j->base.rc;
    if (j->dropped) {
        dk_metrics_add("hints_dropped_total", j->dropped);
        dk_log(DK_LOG_WARN, "hints: dropped %zu hint(s) for %s older than the hint window", j->dropped,
               j->target);
    }
    hint_target *t = hints_find(h, j->target);
    if (j->dropped)
        hints_count_less(h, t, j->dropped);
    if (rc)
        dk_log(DK_LOG_ERROR, "hints: cannot read the hints for %s: %s", j->target, dk_strerror(rc));
    if (rc == 0 && !j->left && t && t->gen == j->gen) {
        /* Nothing left for this target: forget it. */
        hints_count_less(h, t, t->count);
        *t = h->t[--h->n];
        t = NULL;
    }
    if (rc || j->n == 0 || h->closing) {
        j->n = 0;
        batch_finish(j);
        return;
    }
    size_t koff = 0, voff = 0;
    j->pending = 1; /* held while the deliveries are started */
    for (size_t i = 0; i < j->n; i++) {
        dk_slice hk = batch_at(&j->keys, &koff), obj = batch_at(&j->values, &voff);
        size_t tlen = strlen(j->target);
        dk_slice ukey = {hk.ptr + tlen + 1 + HINT_HDR, hk.len - tlen - 1 - HINT_HDR};
        delivery *dv = calloc(1, sizeof(*dv));
        if (!dv || dk_buf_append(&dv->key, hk.ptr, hk.len) != 0) {
            free(dv);
            j->failed++;
            break;
        }
        dv->batch = j;
        j->pending++;
        h->inflight++;
        if (h->conf.deliver(h->conf.arg, j->target, ukey, obj, delivered, dv) != 0) {
            h->inflight--;
            j->pending--;
            j->failed++;
            dk_buf_free(&dv->key);
            free(dv);
            break;
        }
    }
    if (--j->pending == 0)
        batch_finish(j);
}

static void hints_start_batch(dk_hints *h, hint_target *t)
{
    batch_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    snprintf(j->target, sizeof(j->target), "%s", t->id);
    j->collect = h->conf.alive(h->conf.arg, t->id);
    j->gen = t->gen;
    j->now_ms = dk_now_ms();
    if (hints_queue(h, &j->base, batch_work, batch_after) != 0) {
        batch_free(j);
        return;
    }
    t->busy = 1;
}

static void hints_tick(uv_timer_t *timer)
{
    dk_hints *h = timer->data;
    /* Index loop: a finished batch may remove its target meanwhile, but
     * only in an after-work callback, never inside this loop. */
    for (size_t i = 0; i < h->n; i++)
        if (!h->t[i].busy)
            hints_start_batch(h, &h->t[i]);
}

/* ---- lifecycle ---------------------------------------------------------- */

int dk_hints_open(const dk_hints_conf *conf, dk_hints **out)
{
    dk_hints *h = calloc(1, sizeof(*h));
    scan_job *j = calloc(1, sizeof(*j));
    if (!h || !j) {
        free(h);
        free(j);
        return -ENOMEM;
    }
    h->conf = *conf;
    if (!h->conf.interval_ms)
        h->conf.interval_ms = 1000;
    int rc = hints_queue(h, &j->base, scan_work, scan_after);
    if (rc) {
        free(j);
        free(h);
        return rc;
    }
    uv_timer_init(conf->loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, hints_tick, h->conf.interval_ms, h->conf.interval_ms);
    *out = h;
    return 0;
}

void dk_hints_replay_soon(dk_hints *h)
{
    if (!h->closing)
        uv_timer_start(&h->timer, hints_tick, 0, h->conf.interval_ms);
}

static void hints_timer_closed(uv_handle_t *handle)
{
    dk_hints *h = handle->data;
    h->timer_closed = 1;
    hints_maybe_closed(h);
}

void dk_hints_close(dk_hints *h, void (*done)(void *), void *arg)
{
    h->closing = 1;
    h->close_done = done;
    h->close_arg = arg;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, hints_timer_closed);
}
