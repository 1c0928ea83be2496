/*
 * stream_source.c - the source side of range streaming (stream.h):
 * answering STREAM_REQ with one batch of the stored objects whose keys fall
 * in the requested token ranges.
 *
 * A request is checked on the loop (the move it names must be the one this
 * node sees, else -EAGAIN: the receiver asks again once gossip agrees),
 * scanned on a worker from the receiver's cursor until the byte budget is
 * spent or SCAN_KEYS_MAX keys were examined (so a sparse range set cannot
 * hold a worker for a whole store), and answered from the loop once the
 * node's budget of cluster.stream_rate bytes per second has paid for it
 * (batches are then cut to about 1/8 s of the rate). Pacing delays the
 * answer rather than sleeping on the worker, so a slow stream holds no
 * thread. The budget is one per node, shared by every stream it serves.
 *
 * Membership of a key's token in the ranges: the ranges are sorted by end
 * token and a binary search finds the first range ending at or after the
 * token; the one range that wraps through the top of the circle (start >=
 * end) is checked apart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "coord/stream.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/store.h"

#define SCAN_KEYS_MAX 200000u
#define SERVE_BATCH_MIN (16u << 10)

typedef struct src_span {
    dk_token start, end;
} src_span;

typedef struct serve_job {
    dk__job job;
    dk_rpc_req *q;
    src_span *spans;
    size_t n_spans;
    int wrap; /* index of the wrapping span, or -1 */
    uint32_t budget;
    dk_buf skip; /* the cursor: keys up to it are done */
    /* result */
    int rc, last;
    dk_buf items, cursor;
    uint32_t n_items;
    uint64_t scanned, bytes;
    uv_timer_t pace; /* the answer's delay when ahead of the rate */
} serve_job;

static int span_cmp(const void *a, const void *b)
{
    return dk_token_cmp(((const src_span *)a)->end, ((const src_span *)b)->end);
}

static int span_has(const serve_job *s, dk_token t)
{
    size_t lo = 0, hi = s->n_spans;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (dk_token_cmp(s->spans[mid].end, t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n_spans && dk_token_in_range(t, s->spans[lo].start, s->spans[lo].end))
        return 1;
    return s->wrap >= 0 && dk_token_in_range(t, s->spans[s->wrap].start, s->spans[s->wrap].end);
}

/* Worker: one object of the scan. */
static int serve_visit(void *arg, dk_slice key, dk_slice raw, const dk_object *obj)
{
    serve_job *s = arg;
    (void)obj;
    if (s->skip.len && key.len == s->skip.len && memcmp(key.ptr, s->skip.data, key.len) == 0)
        return 0;
    s->scanned++;
    dk_buf_reset(&s->cursor);
    if (dk_buf_append(&s->cursor, key.ptr, key.len) != 0) {
        s->rc = -ENOMEM;
        return 1;
    }
    if (span_has(s, dk_ring_key_token(key.ptr, key.len))) {
        if (raw.len + key.len + 16 > DK_FRAME_BODY_MAX - 4096) {
            dk_log(DK_LOG_ERROR, "stream: an object of %zu bytes is too large to stream; skipped", raw.len);
        } else if ((s->rc = dk_stream_item_put(&s->items, key, raw)) != 0) {
            return 1;
        } else {
            s->n_items++;
            s->bytes += raw.len + key.len;
        }
    }
    return s->bytes >= s->budget || s->scanned >= SCAN_KEYS_MAX;
}

/* Worker: the scan of one batch. */
static void serve_run(dk__job *j)
{
    serve_job *s = (serve_job *)j;
    s->rc = 0;
    int rc = dk_store_scan(j->c->node->store, dk_buf_slice(&s->skip), (dk_slice){NULL, 0}, serve_visit, s);
    if (s->rc == 0)
        s->rc = rc;
    /* the scan ended by itself: nothing is left after the cursor */
    s->last = s->rc == 0 && s->bytes < s->budget && s->scanned < SCAN_KEYS_MAX;
    if (s->rc == 0 && s->cursor.len == 0 && s->skip.len)
        s->rc = dk_buf_append(&s->cursor, s->skip.data, s->skip.len);
}

static void serve_free(serve_job *s)
{
    free(s->spans);
    dk_buf_free(&s->skip);
    dk_buf_free(&s->items);
    dk_buf_free(&s->cursor);
    free(s);
}

static void serve_reply(serve_job *s)
{
    dk_buf b = DK_BUF_INIT;
    dk_msg_stream_batch m = {.status = s->rc};
    if (s->rc == 0) {
        m.flags = s->last ? DK_STREAM_LAST : 0;
        m.cursor = dk_buf_slice(&s->cursor);
        m.scanned = s->scanned;
        m.n_items = s->n_items;
        m.items = dk_buf_slice(&s->items);
    }
    if (dk_msg_stream_batch_encode(&b, &m) == 0) {
        dk_rpc_reply(s->q, DK_MSG_STREAM_BATCH, b.data, b.len);
    } else {
        dk_buf_reset(&b);
        dk_msg_stream_batch e = {.status = -EINVAL};
        dk_msg_stream_batch_encode(&b, &e);
        dk_rpc_reply(s->q, DK_MSG_STREAM_BATCH, b.data, b.len);
    }
    dk_buf_free(&b);
}

/* Loop thread. */
static void serve_paced_closed(uv_handle_t *h)
{
    serve_job *s = h->data;
    dk_coord *c = s->job.c;
    serve_free(s);
    dk__coord_release(c);
}

/* Timer (loop thread): the paced answer's turn. */
static void serve_paced(uv_timer_t *t)
{
    serve_job *s = t->data;
    serve_reply(s);
    uv_close((uv_handle_t *)&s->pace, serve_paced_closed);
}

/* Loop thread: the scan is done; answer now or when the rate allows. */
static void serve_done(dk__job *j, int status)
{
    serve_job *s = (serve_job *)j;
    dk_coord *c = j->c;
    if (status)
        s->rc = status;
    uint64_t delay_ms = 0;
    if (s->rc == 0) {
        __atomic_fetch_add(&c->served_keys, s->n_items, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->served_bytes, s->bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->served_batches, 1, __ATOMIC_RELAXED);
        dk_metrics_add("stream_keys_sent_total", s->n_items);
        dk_metrics_add("stream_bytes_sent_total", s->bytes);
        uint64_t rate = c->cfg->cluster.stream_rate, now = uv_hrtime();
        if (rate && s->bytes) {
            /* the batch leaves once the budget has paid for it */
            if (c->serve_next_ns < now)
                c->serve_next_ns = now;
            c->serve_next_ns += (uint64_t)((double)s->bytes * 1e9 / (double)rate);
            delay_ms = (c->serve_next_ns - now) / 1000000u;
        }
    }
    if (delay_ms == 0 || c->stopping) {
        serve_reply(s);
        serve_free(s);
        return;
    }
    uv_timer_init(c->loop, &s->pace);
    s->pace.data = s;
    dk__coord_hold(c);
    uv_timer_start(&s->pace, serve_paced, delay_ms, 0);
}

static void serve_error(dk_rpc_req *q, int status)
{
    dk_buf b = DK_BUF_INIT;
    dk_msg_stream_batch e = {.status = status};
    dk_msg_stream_batch_encode(&b, &e);
    dk_rpc_reply(q, DK_MSG_STREAM_BATCH, b.data, b.len);
    dk_buf_free(&b);
}

void dk__stream_serve(dk_coord *c, dk_rpc_req *q, dk_slice body)
{
    dk_msg_stream_req m;
    if (dk_msg_stream_req_decode(body, &m) != 0) {
        serve_error(q, DK_ECORRUPT);
        return;
    }
    const char *sig = c->view.transition ? c->view.transition(c->view.arg) : NULL;
    if (!sig || strcmp(sig, m.plan) != 0) {
        serve_error(q, -EAGAIN); /* not the move this node sees (yet) */
        return;
    }
    serve_job *s = calloc(1, sizeof(*s));
    if (!s || !(s->spans = calloc(m.n_ranges, sizeof(*s->spans)))) {
        free(s);
        serve_error(q, -ENOMEM);
        return;
    }
    s->q = q;
    s->n_spans = m.n_ranges;
    s->budget = m.max_bytes;
    /* batches of about 1/8 s of the rate, so the pace is smooth */
    uint64_t rate = c->cfg->cluster.stream_rate;
    if (rate && rate / 8 < s->budget)
        s->budget = rate / 8 < SERVE_BATCH_MIN ? SERVE_BATCH_MIN : (uint32_t)(rate / 8);
    s->wrap = -1;
    for (uint32_t i = 0; i < m.n_ranges; i++) {
        dk_stream_span sp;
        dk_stream_span_get(m.ranges.ptr + (size_t)i * DK_STREAM_RANGE_LEN, &sp);
        s->spans[i].start = (dk_token){sp.start_hi, sp.start_lo};
        s->spans[i].end = (dk_token){sp.end_hi, sp.end_lo};
    }
    qsort(s->spans, s->n_spans, sizeof(*s->spans), span_cmp);
    for (size_t i = 0; i < s->n_spans; i++)
        if (dk_token_cmp(s->spans[i].start, s->spans[i].end) >= 0)
            s->wrap = (int)i;
    s->job.run = serve_run;
    s->job.done = serve_done;
    int rc = dk_buf_append(&s->skip, m.cursor.ptr, m.cursor.len);
    if (rc == 0)
        rc = dk__coord_job(c, &s->job);
    if (rc) {
        serve_free(s);
        serve_error(q, rc < 0 ? rc : -ENOMEM);
    }
}

void dk_stream_served_get(dk_coord *c, uint64_t *keys, uint64_t *bytes, uint64_t *batches)
{
    *keys = __atomic_load_n(&c->served_keys, __ATOMIC_RELAXED);
    *bytes = __atomic_load_n(&c->served_bytes, __ATOMIC_RELAXED);
    *batches = __atomic_load_n(&c->served_batches, __ATOMIC_RELAXED);
}
