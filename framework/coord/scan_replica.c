/*
 * scan_replica.c - a node's part of a cluster prefix scan: the local range
 * scan (dk__scan_local, which the coordinator also runs for its own part)
 * and the SCAN_RANGE requests peers send (dk__scan_serve). The protocol is
 * in coord_scan.h, the wire format in rpc/rpc_scan.h.
 *
 * The store is walked in key order from max(prefix, cursor + "\0") to the
 * end of the prefix; each key is hashed to its token and kept only when a
 * span holds it (binary search over the spans' ends, then the one span
 * that may wrap through zero). The answer is built as the walk goes, in
 * its wire form, so a peer's answer is never copied and the coordinator's
 * own part is merged exactly like the others.
 *
 * Threads: dk__scan_local runs on a worker (it walks the engine); the
 * request is decoded on the loop to refuse a bad one at once, then decoded
 * again on the worker from a copy, since the frame is gone by then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "coord/coord_scan.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/store.h"

typedef struct scan_walk {
    const dk_msg_scan_range *m;
    dk_slice prefix;
    int64_t now;
    size_t frame_cap, at;
    dk_buf *out;
    uint32_t n, live;
    int more, rc;
} scan_walk;

static dk_token scan_span_start(const dk_msg_scan_range *m, uint32_t i)
{
    dk_msg_scan_span s;
    dk_msg_scan_span_get(m->spans.ptr + (size_t)i * DK_SCAN_SPAN_LEN, &s);
    return (dk_token){s.start_hi, s.start_lo};
}

static dk_token scan_span_end(const dk_msg_scan_range *m, uint32_t i)
{
    dk_msg_scan_span s;
    dk_msg_scan_span_get(m->spans.ptr + (size_t)i * DK_SCAN_SPAN_LEN, &s);
    return (dk_token){s.end_hi, s.end_lo};
}

/* Whether t lies in one of m's spans (disjoint, ascending by end, only the
 * first may wrap: rpc_scan.h). */
static int scan_in_spans(const dk_msg_scan_range *m, dk_token t)
{
    uint32_t lo = 0, hi = m->n_spans;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (dk_token_cmp(scan_span_end(m, mid), t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->n_spans && dk_token_in_range(t, scan_span_start(m, lo), scan_span_end(m, lo)))
        return 1;
    return dk_token_in_range(t, scan_span_start(m, 0), scan_span_end(m, 0));
}

static int scan_visit(void *arg, dk_slice key, dk_slice raw, const dk_object *obj)
{
    scan_walk *w = arg;
    const dk_msg_scan_range *m = w->m;
    if (key.len < w->prefix.len || (w->prefix.len && memcmp(key.ptr, w->prefix.ptr, w->prefix.len) != 0))
        return 1;
    if (!scan_in_spans(m, dk_ring_key_token(key.ptr, key.len)))
        return 0;
    int live = dk_store_is_live(obj, w->now);
    if (!live && !(m->flags & DK_SCAN_WITH_DEAD))
        return 0;
    dk_slice listed = raw;
    if (w->frame_cap && DK_SCAN_RESULT_HEAD + dk_msg_scan_entry_len(key.len, raw.len) > w->frame_cap)
        listed = (dk_slice){NULL, 0};
    size_t body = w->out->len - w->at;
    if (w->live == m->limit || w->n == DK_SCAN_ENTRIES_MAX ||
        (w->n && body + dk_msg_scan_entry_len(key.len, listed.len) > m->max_bytes)) {
        w->more = 1;
        return 1;
    }
    w->rc = dk_msg_scan_result_add(w->out, w->at, key, listed);
    if (w->rc)
        return 1;
    w->n++;
    w->live += live != 0;
    return 0;
}

/* The smallest key above every key that starts with p, in out; length 0
 * when there is none (p empty or all 0xff). */
static size_t scan_prefix_end(dk_slice p, uint8_t *out)
{
    size_t len = p.len;
    if (len)
        memcpy(out, p.ptr, len);
    while (len > 0 && out[len - 1] == 0xff)
        len--;
    if (len > 0)
        out[len - 1]++;
    return len;
}

/* Whether a span of m meets the store's read fence (a node that has just
 * joined, or gained some of those ranges: node/store.h). */
static int scan_fenced(dk_store *st, const dk_msg_scan_range *m)
{
    if (dk_store_read_fenced(st))
        return 1;
    for (uint32_t i = 0; i < m->n_spans; i++) {
        dk_msg_scan_span sp;
        dk_msg_scan_span_get(m->spans.ptr + (size_t)i * DK_SCAN_SPAN_LEN, &sp);
        dk_store_span f = {sp.start_hi, sp.start_lo, sp.end_hi, sp.end_lo};
        if (dk_store_span_fenced(st, &f))
            return 1;
    }
    return 0;
}

int dk__scan_local(dk_store *st, const dk_msg_scan_range *m, size_t frame_cap, int64_t now_ms, dk_buf *out)
{
    scan_walk w = {.m = m, .prefix = m->prefix, .now = now_ms, .frame_cap = frame_cap, .out = out};
    if (scan_fenced(st, m))
        return DK_EUNAVAILABLE;
    int rc = dk_msg_scan_result_start(out, &w.at);
    if (rc)
        return rc;
    uint8_t start[DK_KEY_MAX + 1], end[DK_KEY_MAX];
    dk_slice s = m->prefix, e = {end, scan_prefix_end(m->prefix, end)};
    if (m->after.len) {
        /* after + "\0" is the first key after the cursor. */
        memcpy(start, m->after.ptr, m->after.len);
        start[m->after.len] = 0;
        dk_slice next = {start, m->after.len + 1};
        if (dk_msg_scan_key_cmp(next, s) > 0)
            s = next;
    }
    if (e.len && dk_msg_scan_key_cmp(s, e) >= 0)
        return 0;
    rc = dk_store_scan(st, s, e, scan_visit, &w);
    if (rc == 0)
        rc = w.rc;
    if (rc == 0 && w.more)
        dk_msg_scan_result_more(out, w.at);
    return rc;
}

/* ---- SCAN_RANGE from a peer ------------------------------------------------------ */

typedef struct serve_job {
    dk__job job;
    dk_rpc_req *q;
    dk_buf req, answer;
    int rc;
} serve_job;

/* Worker thread. */
static void serve_run(dk__job *j)
{
    serve_job *s = (serve_job *)j;
    dk_msg_scan_range m;
    s->rc = dk_msg_scan_range_decode(dk_buf_slice(&s->req), &m);
    if (s->rc == 0)
        s->rc = dk__scan_local(j->c->node->store, &m, DK_FRAME_BODY_MAX, dk_now_ms(), &s->answer);
}

/* Loop thread. */
static void serve_done(dk__job *j, int status)
{
    serve_job *s = (serve_job *)j;
    int rc = status ? status : s->rc;
    if (rc == 0) {
        rc = dk_rpc_reply(s->q, DK_MSG_SCAN_RESULT, s->answer.data, s->answer.len);
        if (rc)
            dk_log(DK_LOG_WARN, "scan: cannot send a %zu-byte answer: %s", s->answer.len, dk_strerror(rc));
        else
            dk_metrics_add("scan_parts_served_total", 1);
    } else {
        dk_rpc_reply_error(s->q, rc, "cannot scan the local store");
    }
    dk_buf_free(&s->req);
    dk_buf_free(&s->answer);
    free(s);
}

void dk__scan_serve(dk_coord *c, dk_rpc_req *q, dk_slice body)
{
    dk_msg_scan_range m;
    if (dk_msg_scan_range_decode(body, &m) != 0) {
        dk_rpc_reply_error(q, DK_ECORRUPT, "malformed SCAN_RANGE");
        return;
    }
    serve_job *s = calloc(1, sizeof(*s));
    int rc = s ? dk_buf_append(&s->req, body.ptr, body.len) : -ENOMEM;
    if (rc == 0) {
        s->q = q;
        s->job.run = serve_run;
        s->job.done = serve_done;
        rc = dk__coord_job(c, &s->job);
    }
    if (rc == 0)
        return;
    if (s)
        dk_buf_free(&s->req);
    free(s);
    dk_rpc_reply_error(q, rc, "cannot queue the scan");
}
