/*
 * stream.c - the receiving side of range streaming (see stream.h): the
 * plan of ranges to fetch and its lifetime, the saved progress it starts
 * from, the completion of its ranges, its status for other threads, and
 * the answer to STREAM_DONE. The streams themselves (one per source) are
 * in stream_fetch.c.
 *
 * State. A plan holds its ranges (sorted by end token), the nodes they come
 * from, and its streams. A range remembers from which of its sources it
 * was received completely; it is complete when that covers its current
 * sources (or it had nothing to fetch). A stream is (source, the ranges it
 * carries); its identity for saved progress is a hash of those ranges, so a
 * cursor is reused only for exactly the set it was made for. When sources
 * change (one went down, came back) the streams whose set changed are
 * retired and new ones start; a retired stream's request or job finishes
 * and is dropped, which is what `dead` and the plan's reference count are
 * for. A new plan retires the whole old one the same way.
 *
 * One timer (200 ms) starts whatever is idle and due, publishes the status
 * for other threads, and runs the retries (0.5 s, doubling to 5 s, after a
 * failed request; 0.3 s after -EAGAIN, the source not seeing the move yet).
 *
 * Catalog: node->stream_catalog, used by one job at a time (a mutex), so
 * two streams merging at once never share the connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "coord/stream.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/catalog.h"
#include "node/store.h"

#define ST_TICK_MS 200u

/* ---- plans and their lifetime -------------------------------------------- */

void dk__st_plan_unref(dk__st_plan *pl)
{
    if (--pl->refs)
        return;
    while (pl->sess) {
        dk__st_sess *s = pl->sess;
        pl->sess = s->next;
        dk__st_sess_free(s);
    }
    free(pl->nodes);
    free(pl->r);
    free(pl->cursors);
    free(pl);
}

static int node_index(dk__st_plan *pl, const dk_stream_node *n)
{
    for (size_t i = 0; i < pl->n_nodes; i++)
        if (!strcmp(pl->nodes[i].id, n->id)) {
            snprintf(pl->nodes[i].addr, sizeof(pl->nodes[i].addr), "%s", n->addr);
            return (int)i;
        }
    if (pl->n_nodes == pl->cap_nodes) {
        size_t cap = pl->cap_nodes ? pl->cap_nodes * 2 : 8;
        dk_stream_node *nn = realloc(pl->nodes, cap * sizeof(*nn));
        if (!nn)
            return -1;
        pl->nodes = nn;
        pl->cap_nodes = cap;
    }
    pl->nodes[pl->n_nodes] = *n;
    return (int)pl->n_nodes++;
}

static int range_cmp(const void *a, const void *b)
{
    return dk_token_cmp(((const dk__st_range *)a)->end, ((const dk__st_range *)b)->end);
}

dk__st_range *dk__st_range_find(dk__st_plan *pl, dk_token end)
{
    size_t lo = 0, hi = pl->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = dk_token_cmp(pl->r[mid].end, end);
        if (c == 0)
            return &pl->r[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int dk__st_range_has(const uint16_t *l, uint32_t n, uint16_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (l[i] == v)
            return 1;
    return 0;
}

/* Complete when received from every current source. */
static int range_complete(const dk__st_range *r)
{
    if (r->nothing)
        return 1;
    if (r->n_src == 0)
        return 0;
    for (uint32_t i = 0; i < r->n_src; i++)
        if (!dk__st_range_has(r->got, r->n_got, r->src[i]))
            return 0;
    return 1;
}

void dk__st_span_of(const dk__st_range *r, uint8_t *out)
{
    /* big-endian so blobs sort like tokens */
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(r->start.hi >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(r->start.lo >> (56 - 8 * i));
        out[16 + i] = (uint8_t)(r->end.hi >> (56 - 8 * i));
        out[24 + i] = (uint8_t)(r->end.lo >> (56 - 8 * i));
    }
}

dk_token dk__st_token_of(const uint8_t *p)
{
    dk_token t = {0, 0};
    for (int i = 0; i < 8; i++) {
        t.hi = t.hi << 8 | p[i];
        t.lo = t.lo << 8 | p[8 + i];
    }
    return t;
}

/* ---- status for other threads ------------------------------------------- */

static const char *sess_state(const dk__st_sess *s, uint64_t now)
{
    switch (s->state) {
    case DK__SS_REQ: return "request";
    case DK__SS_MERGE: return "merge";
    case DK__SS_DONE: return "complete";
    default: return s->retry_at > now ? "retry" : "idle";
    }
}

static void st_publish(dk__stream *st)
{
    dk__st_plan *pl = st->plan;
    dk_stream_status p;
    memset(&p, 0, sizeof(p));
    dk_stream_info info[DK__ST_INFO_MAX];
    size_t n_info = 0;
    if (pl) {
        snprintf(p.plan, sizeof(p.plan), "%s", pl->sig);
        p.loaded = pl->loaded;
        p.ranges_total = pl->n;
        for (size_t i = 0; i < pl->n; i++)
            p.ranges_done += pl->r[i].done;
        p.done = pl->loaded && p.ranges_done == p.ranges_total;
        p.keys = pl->keys;
        p.bytes = pl->bytes;
        uint64_t now = uv_hrtime();
        for (dk__st_sess *s = pl->sess; s; s = s->next) {
            if (s->dead)
                continue;
            p.streams += s->state != DK__SS_DONE;
            if (n_info < DK__ST_INFO_MAX) {
                dk_stream_info *x = &info[n_info++];
                snprintf(x->source, sizeof(x->source), "%s", pl->nodes[s->node].id);
                x->ranges = s->n;
                x->keys = s->keys;
                x->bytes = s->bytes;
                x->batches = s->batches;
                x->complete = s->state == DK__SS_DONE;
                snprintf(x->state, sizeof(x->state), "%s", sess_state(s, now));
            }
        }
    }
    pthread_mutex_lock(&st->pub_mu);
    st->pub = p;
    memcpy(st->info, info, n_info * sizeof(info[0]));
    st->n_info = n_info;
    pthread_mutex_unlock(&st->pub_mu);
    dk_metrics_set_gauge("stream_ranges_pending", p.ranges_total - p.ranges_done);
    dk_metrics_set_gauge("streams_in_flight", p.streams);
}

void dk_stream_status_get(dk_coord *c, dk_stream_status *out)
{
    dk__stream *st = c->stream;
    memset(out, 0, sizeof(*out));
    if (!st)
        return;
    pthread_mutex_lock(&st->pub_mu);
    *out = st->pub;
    pthread_mutex_unlock(&st->pub_mu);
}

size_t dk_stream_streams_get(dk_coord *c, dk_stream_info *out, size_t cap)
{
    dk__stream *st = c->stream;
    if (!st)
        return 0;
    pthread_mutex_lock(&st->pub_mu);
    size_t n = st->n_info;
    memcpy(out, st->info, (n < cap ? n : cap) * sizeof(*out));
    pthread_mutex_unlock(&st->pub_mu);
    return n;
}

/* ---- saving progress ----------------------------------------------------- */

/* Worker: save under the catalog mutex. */
int dk__st_save(dk__stream *st, const char *plan, const dk_catalog_cursor *cur, const dk_catalog_range *done,
                size_t n_done)
{
    dk_catalog *cat = st->c->node->stream_catalog;
    if (!cat)
        return 0;
    pthread_mutex_lock(&st->cat_mu);
    int rc = dk_catalog_stream_save(cat, plan, cur, done, n_done);
    if (rc)
        dk_log(DK_LOG_WARN, "stream: cannot save progress: %s (%s)", dk_strerror(rc), dk_catalog_errmsg(cat));
    pthread_mutex_unlock(&st->cat_mu);
    return rc;
}

typedef struct done_job {
    dk__job job;
    dk__stream *st;
    char plan[DK_STREAM_SIG_MAX + 1];
    dk_catalog_range *done;
    size_t n_done;
} done_job;

/* Worker. */
static void done_run(dk__job *j)
{
    done_job *d = (done_job *)j;
    dk__st_save(d->st, d->plan, NULL, d->done, d->n_done);
}

/* Loop thread. */
static void done_done(dk__job *j, int status)
{
    done_job *d = (done_job *)j;
    (void)status;
    free(d->done);
    free(d);
}

/* Ranges that became complete without a stream of their own (nothing to
 * fetch, or every source already delivered): record them. */
void dk__st_plan_check_done(dk__stream *st, dk__st_plan *pl)
{
    size_t n_new = 0;
    for (size_t i = 0; i < pl->n; i++)
        n_new += !pl->r[i].done && range_complete(&pl->r[i]);
    if (n_new) {
        done_job *d = calloc(1, sizeof(*d));
        if (d && (d->done = calloc(n_new, sizeof(*d->done)))) {
            for (size_t i = 0; i < pl->n; i++) {
                dk__st_range *r = &pl->r[i];
                if (r->done || !range_complete(r))
                    continue;
                r->done = 1;
                dk__st_span_of(r, d->done[d->n_done++].span);
            }
            d->st = st;
            snprintf(d->plan, sizeof(d->plan), "%s", pl->sig);
            d->job.run = done_run;
            d->job.done = done_done;
            if (dk__coord_job(st->c, &d->job) != 0) {
                free(d->done);
                free(d);
            }
        } else {
            free(d);
        }
    }
    size_t left = 0;
    for (size_t i = 0; i < pl->n; i++)
        left += !pl->r[i].done;
    if (left == 0 && !pl->done_saved) {
        pl->done_saved = 1;
        dk_log(DK_LOG_INFO, "stream: move %s: all %zu ranges received (%llu keys, %llu bytes)", pl->sig,
               pl->n, (unsigned long long)pl->keys, (unsigned long long)pl->bytes);
    }
    dk__st_plan_streams(st, pl);
    st_publish(st);
}

/* ---- loading a plan's saved progress ---------------------------------------- */

typedef struct load_job {
    dk__job job;
    dk__stream *st;
    dk__st_plan *pl;
    dk_catalog_range *ranges;
    size_t n_ranges;
    dk_catalog_cursor *cursors;
    size_t n_cursors;
    int rc;
} load_job;

/* Worker: drop other moves' progress, read this one's. */
static void load_run(dk__job *j)
{
    load_job *l = (load_job *)j;
    dk_catalog *cat = j->c->node->stream_catalog;
    if (!cat)
        return;
    pthread_mutex_lock(&l->st->cat_mu);
    l->rc = dk_catalog_stream_forget(cat, l->pl->sig);
    if (l->rc == 0)
        l->rc = dk_catalog_stream_load(cat, l->pl->sig, &l->ranges, &l->n_ranges, &l->cursors, &l->n_cursors);
    pthread_mutex_unlock(&l->st->cat_mu);
}

/* Loop thread: apply the saved progress and start the streams. */
static void load_done(dk__job *j, int status)
{
    load_job *l = (load_job *)j;
    dk__st_plan *pl = l->pl;
    if (status == 0 && l->rc)
        dk_log(DK_LOG_WARN, "stream: cannot read saved progress of move %s: %s; starting over", pl->sig,
               dk_strerror(l->rc));
    if (!pl->retired) {
        size_t had = 0;
        for (size_t i = 0; i < l->n_ranges; i++) {
            dk__st_range *r = dk__st_range_find(pl, dk__st_token_of(l->ranges[i].span + 16));
            if (r && !r->done) {
                r->done = 1;
                had++;
            }
        }
        pl->cursors = l->cursors;
        pl->n_cursors = l->n_cursors;
        l->cursors = NULL;
        pl->loaded = 1;
        if (had)
            dk_log(DK_LOG_INFO, "stream: move %s: %zu of %zu ranges were already received", pl->sig, had,
                   pl->n);
        dk__st_plan_check_done(l->st, pl);
    }
    free(l->ranges);
    free(l->cursors);
    free(l);
    dk__st_plan_unref(pl);
}

/* ---- installing a plan ------------------------------------------------------- */

/* Set the sources of pl's ranges from p (same move). */
static int plan_sources(dk__st_plan *pl, const dk_stream_plan *p)
{
    for (size_t i = 0; i < p->n_want; i++) {
        const dk_stream_want *w = &p->want[i];
        dk__st_range *r = dk__st_range_find(pl, w->end);
        if (!r)
            continue;
        r->nothing = w->nothing;
        r->n_src = 0;
        for (uint32_t k = 0; k < w->n_src && k < DK_STREAM_SRC_MAX; k++) {
            if (w->src[k] >= p->n_nodes)
                return -EINVAL;
            int idx = node_index(pl, &p->nodes[w->src[k]]);
            if (idx < 0)
                return -ENOMEM;
            r->src[r->n_src++] = (uint16_t)idx;
        }
    }
    return 0;
}

static void plan_retire(dk__st_plan *pl)
{
    pl->retired = 1;
    for (dk__st_sess *s = pl->sess; s; s = s->next)
        s->dead = 1;
    dk__st_plan_unref(pl);
}

int dk_stream_set_plan(dk_coord *c, const dk_stream_plan *p)
{
    dk__stream *st = c->stream;
    if (!st)
        return -ENOMEM;
    if (c->stopping)
        return DK_ECLOSED;
    if (st->plan && !strcmp(st->plan->sig, p->sig)) {
        int rc = plan_sources(st->plan, p);
        if (rc == 0)
            dk__st_plan_check_done(st, st->plan);
        return rc;
    }
    if (st->plan) {
        dk_log(DK_LOG_INFO, "stream: move %s replaced by %s", st->plan->sig, p->sig[0] ? p->sig : "(none)");
        plan_retire(st->plan);
        st->plan = NULL;
    }
    if (!p->sig[0]) {
        st_publish(st);
        return 0;
    }
    dk__st_plan *pl = calloc(1, sizeof(*pl));
    if (!pl || !(pl->r = calloc(p->n_want ? p->n_want : 1, sizeof(*pl->r)))) {
        free(pl);
        return -ENOMEM;
    }
    snprintf(pl->sig, sizeof(pl->sig), "%s", p->sig);
    pl->st = st;
    pl->refs = 1;
    pl->n = p->n_want;
    for (size_t i = 0; i < p->n_want; i++) {
        pl->r[i].start = p->want[i].start;
        pl->r[i].end = p->want[i].end;
    }
    qsort(pl->r, pl->n, sizeof(*pl->r), range_cmp);
    int rc = plan_sources(pl, p);
    if (rc) {
        dk__st_plan_unref(pl);
        return rc;
    }
    st->plan = pl;
    load_job *l = calloc(1, sizeof(*l));
    if (!l) {
        pl->loaded = 1; /* no saved progress: start over */
        dk__st_plan_check_done(st, pl);
        return 0;
    }
    l->st = st;
    l->pl = pl;
    l->job.run = load_run;
    l->job.done = load_done;
    if (dk__coord_job(c, &l->job) != 0) {
        free(l);
        pl->loaded = 1;
        dk__st_plan_check_done(st, pl);
        return 0;
    }
    pl->refs++;
    dk_log(DK_LOG_INFO, "stream: move %s: %zu ranges to receive", pl->sig, pl->n);
    st_publish(st);
    return 0;
}

/* ---- STREAM_DONE ---------------------------------------------------------------- */

void dk__stream_done_query(dk_coord *c, dk_rpc_req *q, dk_slice body)
{
    dk_msg_stream_done m;
    dk_msg_stream_ack a;
    memset(&a, 0, sizeof(a));
    if (dk_msg_stream_done_decode(body, &m) != 0) {
        a.status = DK_ECORRUPT;
    } else {
        dk_stream_status s;
        dk_stream_status_get(c, &s);
        if (strcmp(s.plan, m.plan) != 0) {
            a.status = -ESTALE;
        } else {
            a.status = s.done ? 0 : -EAGAIN;
            a.ranges_done = s.ranges_done;
            a.ranges_total = s.ranges_total;
            a.keys = s.keys;
            a.bytes = s.bytes;
        }
    }
    dk_buf b = DK_BUF_INIT;
    if (dk_msg_stream_ack_encode(&b, &a) == 0)
        dk_rpc_reply(q, DK_MSG_STREAM_ACK, b.data, b.len);
    else
        dk_rpc_reply(q, DK_MSG_STREAM_ACK, NULL, 0);
    dk_buf_free(&b);
}

/* ---- lifetime -------------------------------------------------------------------- */

/* Timer (loop thread): start what is due, publish the status. */
static void st_tick(uv_timer_t *t)
{
    dk__stream *st = t->data;
    dk__st_plan *pl = st->plan;
    if (pl && pl->loaded && !pl->retired) {
        for (dk__st_sess *s = pl->sess; s; s = s->next)
            dk__st_sess_kick(st, s);
        dk__st_plan_streams(st, pl);
    }
    st_publish(st);
}

void dk__stream_start(dk_coord *c)
{
    dk__stream *st = calloc(1, sizeof(*st));
    if (!st)
        return;
    st->c = c;
    pthread_mutex_init(&st->cat_mu, NULL);
    pthread_mutex_init(&st->pub_mu, NULL);
    uv_timer_init(c->loop, &st->tick);
    st->tick.data = st;
    uv_timer_start(&st->tick, st_tick, ST_TICK_MS, ST_TICK_MS);
    dk__coord_hold(c); /* released once the timer is closed */
    c->stream = st;
}

/* Loop thread: the timer is closed. */
static void st_closed(uv_handle_t *h)
{
    dk__stream *st = h->data;
    dk__coord_release(st->c);
}

void dk__stream_stop(dk_coord *c)
{
    dk__stream *st = c->stream;
    if (!st)
        return;
    if (st->plan) {
        plan_retire(st->plan);
        st->plan = NULL;
    }
    uv_close((uv_handle_t *)&st->tick, st_closed);
}

void dk__stream_free(dk_coord *c)
{
    dk__stream *st = c->stream;
    if (!st)
        return;
    /* nothing is in flight any more (inflight reached 0): every plan that
     * a step still referenced is gone with it */
    pthread_mutex_destroy(&st->cat_mu);
    pthread_mutex_destroy(&st->pub_mu);
    c->stream = NULL;
    free(st);
}
