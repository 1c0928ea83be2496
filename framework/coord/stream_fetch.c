/*
 * stream_fetch.c - the streams of range streaming's receiving side (see
 * stream.h and coord_int.h): one per source, carrying every range wanted
 * from it. A stream sends STREAM_REQ from its cursor, hands each batch to
 * a worker job that merges it into the store (one engine write) and then
 * saves the new cursor, and asks again; at the end (LAST) its ranges have
 * that source's data. A failed request is retried after 0.5 s, doubling to
 * 5 s; -EAGAIN (the source does not see the move yet) after 0.3 s. When
 * sources change, a stream whose range set changed is retired and a new
 * one starts, reusing a saved cursor only for the exact set it was made
 * for (its hash), so a cursor never skips keys of a range added later.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/store.h"

#define ST_BATCH_BYTES (1u << 20)
#define ST_REQ_TIMEOUT_MS 15000u
#define ST_RETRY_MIN_MS 500u
#define ST_RETRY_MAX_MS 5000u
#define ST_AGAIN_MS 300u

void dk__st_sess_free(dk__st_sess *s)
{
    free(s->ranges);
    dk_buf_free(&s->cursor);
    free(s);
}


static void sess_retry(dk__st_sess *s, uint64_t ms)
{
    s->state = DK__SS_IDLE;
    s->retry_at = uv_hrtime() + ms * 1000000u;
}

static void sess_fail(dk__st_sess *s)
{
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : ST_RETRY_MIN_MS;
    if (s->backoff_ms > ST_RETRY_MAX_MS)
        s->backoff_ms = ST_RETRY_MAX_MS;
    sess_retry(s, s->backoff_ms);
}

typedef struct merge_job {
    dk__job job;
    dk__stream *st;
    dk__st_sess *s;
    char plan[DK_STREAM_SIG_MAX + 1];
    dk_buf body; /* the batch frame body (items borrow it) */
    dk_msg_stream_batch m;
    dk_catalog_cursor cur;
    dk_catalog_range *done; /* ranges completed by this batch (last) */
    size_t n_done;
    int rc;
    uint64_t bytes;
} merge_job;

/* Worker: merge the batch, then save the cursor (and completed ranges). */
static void merge_run(dk__job *j)
{
    merge_job *mj = (merge_job *)j;
    dk_store *store = j->c->node->store;
    size_t n = mj->m.n_items, k = 0, changed = 0, skipped = 0;
    dk_slice *keys = n ? calloc(n, sizeof(*keys)) : NULL, *objs = n ? calloc(n, sizeof(*objs)) : NULL;
    if (n && (!keys || !objs)) {
        mj->rc = -ENOMEM;
        goto out;
    }
    dk_slice rest = mj->m.items;
    while (k < n && dk_stream_item_next(&rest, &keys[k], &objs[k]) == 0) {
        mj->bytes += keys[k].len + objs[k].len;
        k++;
    }
    mj->rc = dk_store_merge_batch(store, keys, objs, k, &changed, &skipped);
    mj->cur.bytes += mj->bytes;
    if (mj->rc == 0)
        mj->rc = dk__st_save(mj->st, mj->plan, &mj->cur, mj->done, mj->n_done);
out:
    free(keys);
    free(objs);
}

/* Loop thread: a batch is merged and saved (or failed). */
static void merge_done(dk__job *j, int status)
{
    merge_job *mj = (merge_job *)j;
    dk__stream *st = mj->st;
    dk__st_sess *s = mj->s;
    dk__st_plan *pl = s->pl;
    int rc = status ? status : mj->rc;
    if (s->dead || pl->retired)
        s->state = DK__SS_IDLE; /* dropped by dk__st_plan_streams or with the plan */
    else {
        if (rc) {
            dk_log(DK_LOG_WARN, "stream: merging a batch from %s failed: %s", pl->nodes[s->node].id,
                   dk_strerror(rc));
            sess_fail(s);
        } else {
            dk_buf_reset(&s->cursor);
            dk_buf_append(&s->cursor, mj->cur.cursor, mj->cur.cursor_len);
            s->keys += mj->m.n_items;
            s->bytes += mj->bytes;
            s->batches++;
            s->backoff_ms = 0;
            pl->keys += mj->m.n_items;
            pl->bytes += mj->bytes;
            dk_metrics_add("stream_keys_received_total", mj->m.n_items);
            dk_metrics_add("stream_bytes_received_total", mj->bytes);
            /* keep the in-memory copy of saved cursors current */
            for (size_t i = 0; i < pl->n_cursors; i++)
                if (!strcmp(pl->cursors[i].source, mj->cur.source))
                    pl->cursors[i] = mj->cur;
            if (mj->m.flags & DK_STREAM_LAST) {
                s->state = DK__SS_DONE;
                for (size_t i = 0; i < s->n; i++) {
                    dk__st_range *r = &pl->r[s->ranges[i]];
                    if (!dk__st_range_has(r->got, r->n_got, s->node) && r->n_got < DK_STREAM_SRC_MAX)
                        r->got[r->n_got++] = s->node;
                }
                for (size_t i = 0; i < mj->n_done; i++) {
                    dk__st_range *r = dk__st_range_find(pl, dk__st_token_of(mj->done[i].span + 16));
                    if (r)
                        r->done = 1;
                }
                dk_log(DK_LOG_INFO, "stream: %zu ranges from %s complete (%llu keys, %llu bytes)", s->n,
                       pl->nodes[s->node].id, (unsigned long long)s->keys, (unsigned long long)s->bytes);
                dk__st_plan_check_done(st, pl);
            } else {
                s->state = DK__SS_IDLE;
                dk__st_sess_kick(st, s);
            }
        }
    }
    dk_buf_free(&mj->body);
    free(mj->done);
    free(mj);
    dk__st_plan_unref(pl);
}

/* A batch arrived (loop thread). */
static void sess_batch(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    dk__st_sess *s = arg;
    dk__st_plan *pl = s->pl;
    if (s->dead || pl->retired) {
        if (s->state == DK__SS_REQ)
            s->state = DK__SS_IDLE;
        dk__st_plan_unref(pl);
        return;
    }
    dk_msg_stream_batch m;
    if (status == 0 && h->type == DK_MSG_STREAM_BATCH && dk_msg_stream_batch_decode(body, &m) == 0)
        status = m.status;
    else if (status == 0)
        status = DK_ECORRUPT;
    if (status == -EAGAIN) {
        sess_retry(s, ST_AGAIN_MS);
        dk__st_plan_unref(pl);
        return;
    }
    if (status) {
        dk_log(DK_LOG_DEBUG, "stream: request to %s failed: %s", pl->nodes[s->node].id, dk_strerror(status));
        sess_fail(s);
        dk__st_plan_unref(pl);
        return;
    }
    merge_job *mj = calloc(1, sizeof(*mj));
    if (!mj || dk_buf_append(&mj->body, body.ptr, body.len) != 0 ||
        dk_msg_stream_batch_decode(dk_buf_slice(&mj->body), &mj->m) != 0) {
        if (mj)
            dk_buf_free(&mj->body);
        free(mj);
        sess_fail(s);
        dk__st_plan_unref(pl);
        return;
    }
    mj->st = pl->st;
    mj->s = s;
    snprintf(mj->plan, sizeof(mj->plan), "%s", pl->sig);
    snprintf(mj->cur.source, sizeof(mj->cur.source), "%s", pl->nodes[s->node].id);
    snprintf(mj->cur.ranges_hash, sizeof(mj->cur.ranges_hash), "%s", s->hash);
    memcpy(mj->cur.cursor, mj->m.cursor.ptr, mj->m.cursor.len);
    mj->cur.cursor_len = mj->m.cursor.len;
    mj->cur.keys = s->keys + mj->m.n_items;
    mj->cur.bytes = s->bytes;
    if (mj->m.flags & DK_STREAM_LAST) {
        /* ranges this stream completes (saved with its last batch): every
         * other source of theirs already delivered */
        mj->done = calloc(s->n ? s->n : 1, sizeof(*mj->done));
        for (size_t i = 0; mj->done && i < s->n; i++) {
            dk__st_range *r = &pl->r[s->ranges[i]];
            int complete = !r->done && r->n_src > 0;
            for (uint32_t k = 0; complete && k < r->n_src; k++)
                complete = r->src[k] == s->node || dk__st_range_has(r->got, r->n_got, r->src[k]);
            if (complete)
                dk__st_span_of(r, mj->done[mj->n_done++].span);
        }
    }
    mj->job.run = merge_run;
    mj->job.done = merge_done;
    s->state = DK__SS_MERGE;
    if (dk__coord_job(mj->st->c, &mj->job) != 0) {
        dk_buf_free(&mj->body);
        free(mj->done);
        free(mj);
        sess_fail(s);
        dk__st_plan_unref(pl);
    }
    /* the request's reference on pl is now the job's */
}

void dk__st_sess_kick(dk__stream *st, dk__st_sess *s)
{
    dk__st_plan *pl = s->pl;
    if (s->dead || pl->retired || s->state != DK__SS_IDLE || st->c->stopping || s->retry_at > uv_hrtime())
        return;
    uint8_t *spans = malloc(s->n * DK_STREAM_RANGE_LEN);
    if (!spans) {
        sess_fail(s);
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        const dk__st_range *r = &pl->r[s->ranges[i]];
        dk_stream_span sp = {r->start.hi, r->start.lo, r->end.hi, r->end.lo};
        dk_stream_span_put(spans + i * DK_STREAM_RANGE_LEN, &sp);
    }
    dk_msg_stream_req m = {.cursor = dk_buf_slice(&s->cursor),
                           .max_bytes = ST_BATCH_BYTES,
                           .n_ranges = (uint32_t)s->n,
                           .ranges = {spans, s->n * DK_STREAM_RANGE_LEN}};
    snprintf(m.plan, sizeof(m.plan), "%s", pl->sig);
    dk_buf body = DK_BUF_INIT;
    const dk_stream_node *src = &pl->nodes[s->node];
    int rc = dk_msg_stream_req_encode(&body, &m);
    if (rc == 0)
        rc = dk__coord_call(st->c, src->id, src->addr, DK_MSG_STREAM_REQ, &body, ST_REQ_TIMEOUT_MS,
                            sess_batch, s);
    free(spans);
    dk_buf_free(&body);
    if (rc) {
        sess_fail(s);
        return;
    }
    pl->refs++;
    s->state = DK__SS_REQ;
}

/* The ranges stream (source node, not complete, not yet got from node)
 * would carry, and their hash; 0 when there are none. */
static size_t sess_ranges(dk__st_plan *pl, uint16_t node, size_t *out, char *hash, size_t hlen)
{
    size_t n = 0;
    XXH3_state_t *h = XXH3_createState();
    if (h)
        XXH3_64bits_reset(h);
    for (size_t i = 0; i < pl->n; i++) {
        const dk__st_range *r = &pl->r[i];
        if (r->done || !dk__st_range_has(r->src, r->n_src, node) || dk__st_range_has(r->got, r->n_got, node))
            continue;
        if (out)
            out[n] = i;
        n++;
        if (h)
            XXH3_64bits_update(h, &r->end, sizeof(r->end));
    }
    snprintf(hash, hlen, "%016llx", h ? (unsigned long long)XXH3_64bits_digest(h) : 0ull);
    XXH3_freeState(h);
    return n;
}

/* Make the streams match the ranges' current sources: keep a stream whose
 * set is unchanged, retire the others, start the missing ones. */
void dk__st_plan_streams(dk__stream *st, dk__st_plan *pl)
{
    if (!pl->loaded || pl->retired)
        return;
    for (size_t node = 0; node < pl->n_nodes; node++) {
        char hash[24];
        size_t n = sess_ranges(pl, (uint16_t)node, NULL, hash, sizeof(hash));
        dk__st_sess *keep = NULL;
        for (dk__st_sess *s = pl->sess; s; s = s->next) {
            if (s->dead || s->node != node || s->state == DK__SS_DONE)
                continue;
            if (n && !strcmp(s->hash, hash) && !keep)
                keep = s;
            else
                s->dead = 1; /* its step in flight is dropped when it returns */
        }
        if (keep || n == 0)
            continue;
        dk__st_sess *s = calloc(1, sizeof(*s));
        if (!s || !(s->ranges = calloc(n, sizeof(*s->ranges)))) {
            free(s);
            continue;
        }
        s->pl = pl;
        s->node = (uint16_t)node;
        s->n = sess_ranges(pl, (uint16_t)node, s->ranges, s->hash, sizeof(s->hash));
        for (size_t i = 0; i < pl->n_cursors; i++)
            if (!strcmp(pl->cursors[i].source, pl->nodes[node].id) &&
                !strcmp(pl->cursors[i].ranges_hash, s->hash)) {
                dk_buf_append(&s->cursor, pl->cursors[i].cursor, pl->cursors[i].cursor_len);
                s->keys = pl->cursors[i].keys;
                s->bytes = pl->cursors[i].bytes;
                dk_log(DK_LOG_INFO, "stream: resuming %zu ranges from %s after %zu saved keys", s->n,
                       pl->nodes[node].id, (size_t)s->keys);
            }
        s->next = pl->sess;
        pl->sess = s;
        dk_log(DK_LOG_INFO, "stream: fetching %zu ranges of move %s from %s", s->n, pl->sig,
               pl->nodes[node].id);
        dk__st_sess_kick(st, s);
    }
    /* drop retired streams with nothing in flight */
    for (dk__st_sess **pp = &pl->sess; *pp;) {
        dk__st_sess *s = *pp;
        if (s->dead && s->state != DK__SS_REQ && s->state != DK__SS_MERGE) {
            *pp = s->next;
            dk__st_sess_free(s);
        } else {
            pp = &s->next;
        }
    }
}
