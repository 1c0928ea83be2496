/*
 * ae_exchange.c - one anti-entropy exchange, run by this node with one peer
 * for one replica group (the other side is ae_serve.c):
 *
 *   1. trees, top-down: the root, then the children of every node that
 *      differs, down to the leaves (DK_MERKLE_DEPTH + 1 round trips at
 *      most, one when the trees agree); then, when leaves differ, the
 *      settle: after request_timeout (at most AE_SETTLE_MAX_MS) those
 *      leaves are compared again, on a fresh copy of both trees, and again
 *      after another wait if some still differ (AE_SETTLE_LOOKS times at
 *      most); only the ones that differ at every look go on to step 2;
 *   2. keys, page by page in key order: the peer lists (key, hash) of the
 *      differing leaves from its store, up to a page's bytes or time; this
 *      node lists its own keys of the same leaves over the same key
 *      interval and compares the two sorted lists;
 *   3. objects, in batches: a key only one side has, or whose hashes
 *      differ, is sent (this node's object, merged there) and fetched (the
 *      peer's, merged here) in KEYS_REQ SYNC batches bounded in bytes, so
 *      both sides end with the resolver's merge of both versions.
 *
 * With a key prefix (an operator's repair of some keys) step 1 is skipped
 * and every leaf is listed, over the prefix's key interval only.
 *
 * Why the settle: listing a leaf's keys scans the whole store on both
 * sides (merkle.h), and under a steady stream of writes the trees of two
 * replicas that miss nothing still differ in the few leaves whose writes
 * are in flight at the moment of the comparison. Every scheduled exchange
 * then scanned both stores for nothing (keys moved: 0): ~0.5 s of a core
 * per side at 600 MB per node in a 3-node cluster under quorum PUTs, a
 * burst that landed on top of the foreground. A write in flight at the
 * first look has, request_timeout later, reached every replica or failed
 * (and is then a hint, which leaves the peer's leaf different, so that
 * leaf is still listed). A leaf that agrees at the second look held the
 * same data on both sides then, which covers every write made before the
 * exchange started: exactly what a scan would have established. A second
 * wait catches the leaves that were in flight again by chance at the
 * second look, which a stalled node makes likely (hundreds of writes in
 * flight at once spread over 4096 leaves).
 *
 * Every store access runs as a worker job; the loop only compares hashes
 * and sends. Between network steps the exchange paces itself to
 * AE_RATE_BYTES per second. It stops at its next step when the node stops
 * or the trees are rebuilt (the layout's generation changed), and reports
 * one result through done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/host.h"
#include "node/store.h"

#define AE_RATE_BYTES (32u << 20) /* bytes per second an exchange moves at most */
#define AE_RPC_MS 5000u           /* least deadline of an exchange's requests */
#define AE_SETTLE_MAX_MS 5000u    /* longest wait before differing leaves are compared again */
#define AE_SETTLE_LOOKS 2u        /* comparisons again, at most, before their keys are listed */

struct dk__ae_x {
    dk__job job; /* one worker step at a time */
    dk_ae *ae;
    dk__ae_layout *l; /* held */
    int g;
    char peer[DK_NODE_ID_MAX + 1], addr[DK_CONFIG_ADDR_MAX + 1];
    uint8_t prefix[DK_KEY_MAX];
    size_t plen;
    uint64_t gen;
    dk__ae_xres res;
    void (*done)(dk_ae *ae, const dk__ae_xres *r);
    /* trees */
    dk_merkle_view view;
    unsigned level;
    uint8_t want[DK_MERKLE_BITMAP_MAX], leaves[DK_MERKLE_BITMAP_MAX];
    unsigned looks; /* comparisons of the differing leaves after the first */
    /* the current page */
    uint8_t from[DK_KEY_MAX + 1];
    size_t from_len;
    dk_buf remote, upto;
    int more;
    dk_buf push, pull; /* DK_KEYS_KEY entries: what differs */
    dk_slice push_left, pull_left;
    /* the current batch */
    dk_buf batch, answer;
    uint32_t n_batch, batch_pulls, n_answer;
    int rc;
    const char *phase; /* for the status page */
    uint64_t pages;
    void (*paced)(dk__ae_x *x);
};

static void x_tree_send(dk__ae_x *x);
static void x_list_send(dk__ae_x *x);
static void x_sync_next(dk__ae_x *x);

/* ---- ending --------------------------------------------------------------- */

static void x_end(dk__ae_x *x)
{
    dk_ae *ae = x->ae;
    ae->x = NULL;
    x->done(ae, &x->res);
    dk__ae_layout_unref(x->l);
    dk_buf_free(&x->remote);
    dk_buf_free(&x->upto);
    dk_buf_free(&x->push);
    dk_buf_free(&x->pull);
    dk_buf_free(&x->batch);
    dk_buf_free(&x->answer);
    free(x);
}

DK_PRINTF(3, 4)
static void x_fail(dk__ae_x *x, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->res.error, sizeof(x->res.error), fmt, ap);
    va_end(ap);
    x->res.status = rc ? rc : -EIO;
    dk_log(DK_LOG_INFO, "anti-entropy: exchange of %s with %s failed: %s", x->l->g[x->g].name, x->peer,
           x->res.error);
    x_end(x);
}

/* Whether the exchange must stop here (it then has ended). */
static int x_gone(dk__ae_x *x)
{
    if (x->ae->stopping) {
        x_fail(x, DK_ECLOSED, "the node is stopping");
        return 1;
    }
    if (x->ae->gen != x->gen) {
        x_fail(x, DK_EUNAVAILABLE, "this node's trees were rebuilt during the exchange");
        return 1;
    }
    return 0;
}

/* ---- plumbing: jobs, calls, pacing ------------------------------------------ */

static void x_job(dk__ae_x *x, void (*run)(dk__job *), void (*done)(dk__job *, int))
{
    x->job.run = run;
    x->job.done = done;
    int rc = dk__ae_job(x->ae, &x->job);
    if (rc)
        x_fail(x, rc, "cannot queue a job: %s", uv_strerror(rc));
}

static void x_call(dk__ae_x *x, uint8_t type, const dk_buf *body, dk_rpc_cb cb)
{
    uint64_t ms = (uint64_t)x->ae->c->cfg->cluster.request_timeout;
    int rc = dk__coord_call(x->ae->c, x->peer, x->addr, type, body, ms > AE_RPC_MS ? ms : AE_RPC_MS, cb, x);
    if (rc)
        x_fail(x, rc, "cannot send to %s: %s", x->peer, dk_strerror(rc));
}

/* Check an answer's transport status and type; on a problem the exchange
 * has failed and 0 is returned. */
static int x_answer_ok(dk__ae_x *x, int status, const dk_frame_header *h, dk_slice body, uint8_t want)
{
    if (x_gone(x))
        return 0;
    if (status) {
        x_fail(x, status, "%s did not answer: %s", x->peer, dk_strerror(status));
        return 0;
    }
    if (h->type == DK_MSG_ERROR) {
        dk_msg_error e;
        if (dk_msg_error_decode(body, &e) == 0)
            x_fail(x, e.code, "%s refused: %.*s", x->peer, (int)e.message.len, (const char *)e.message.ptr);
        else
            x_fail(x, DK_ECORRUPT, "%s answered a malformed ERROR", x->peer);
        return 0;
    }
    if (h->type != want) {
        x_fail(x, DK_ECORRUPT, "%s answered %s", x->peer, dk_msg_type_name(h->type));
        return 0;
    }
    return 1;
}

static void x_pace_fire(uv_timer_t *t)
{
    dk_ae *ae = t->data;
    dk__ae_x *x = ae->x;
    if (x && x->paced) {
        void (*next)(dk__ae_x *) = x->paced;
        x->paced = NULL;
        if (!x_gone(x))
            next(x);
    }
}

/* Go on with next after ms, from a later loop iteration (at once when the
 * timers are closing). Loop thread. */
static void x_after(dk__ae_x *x, uint64_t ms, void (*next)(dk__ae_x *x))
{
    if (!x->ae->timers_open) {
        next(x);
        return;
    }
    x->paced = next;
    x->ae->pace.data = x->ae;
    uv_timer_start(&x->ae->pace, x_pace_fire, ms, 0);
}

/* Go on with next once bytes moved at AE_RATE_BYTES would have taken their
 * time; with defer, from a later loop iteration in any case. Loop thread. */
static void x_pace(dk__ae_x *x, size_t bytes, void (*next)(dk__ae_x *x), int defer)
{
    uint64_t ms = (uint64_t)bytes * 1000u / AE_RATE_BYTES;
    if (ms == 0 && !defer)
        next(x);
    else
        x_after(x, ms, next);
}

/* ---- 1. trees ------------------------------------------------------------------ */

/* The settle's wait: request_timeout, at most AE_SETTLE_MAX_MS. */
static uint64_t x_settle_ms(const dk__ae_x *x)
{
    uint64_t ms = (uint64_t)x->ae->c->cfg->cluster.request_timeout;
    return ms < AE_SETTLE_MAX_MS ? ms : AE_SETTLE_MAX_MS;
}

/* The settle is over: ask again for the leaves in want (still at the leaf
 * level), compared with a fresh copy of this node's tree. */
static void x_recheck(dk__ae_x *x)
{
    dk_merkle_view_of(&x->l->g[x->g].tree, &x->view);
    x_tree_send(x);
}

static void x_tree_cb(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    dk__ae_x *x = arg;
    if (!x_answer_ok(x, status, h, body, DK_MSG_TREE))
        return;
    dk_msg_tree t;
    if (dk_msg_tree_decode(body, &t) != 0) {
        x_fail(x, DK_ECORRUPT, "%s answered a malformed TREE", x->peer);
        return;
    }
    if (t.status) {
        x_fail(x, t.status, "%s cannot compare: %s", x->peer,
               t.status == DK_EMISMATCH
                   ? "its ring differs (membership not settled, or a release with another item hash)"
               : t.status == DK_EUNAVAILABLE ? "its trees are being built"
                                             : dk_strerror(t.status));
        return;
    }
    uint8_t differ[DK_MERKLE_BITMAP_MAX] = {0};
    size_t len = dk_merkle_bitmap_len(x->level);
    int n = dk_merkle_compare(&x->view, x->level, (dk_slice){x->want, len}, t.hashes, differ);
    if (n < 0) {
        x_fail(x, DK_ECORRUPT, "%s answered %zu hashes for another request", x->peer, t.hashes.len / 8);
        return;
    }
    if (n == 0) { /* the trees agree below every node asked */
        if (x->looks)
            dk_metrics_add("repair_leaves_settled_total", x->res.leaves);
        x_end(x);
        return;
    }
    if (x->level == DK_MERKLE_DEPTH && x->looks < AE_SETTLE_LOOKS && x_settle_ms(x)) {
        if (x->looks++ == 0)
            x->res.leaves = (uint32_t)n;
        memcpy(x->want, differ, sizeof(x->want));
        x->phase = "settling";
        x_after(x, x_settle_ms(x), x_recheck);
        return;
    }
    if (x->level == DK_MERKLE_DEPTH) {
        if (x->looks)
            dk_metrics_add("repair_leaves_settled_total", x->res.leaves - (uint32_t)n);
        memcpy(x->leaves, differ, sizeof(x->leaves));
        x->res.leaves = (uint32_t)n;
        x_list_send(x);
        return;
    }
    dk_merkle_children(x->level, differ, x->want);
    x->level++;
    x_tree_send(x);
}

static void x_tree_send(dk__ae_x *x)
{
    const dk__ae_group *g = &x->l->g[x->g];
    x->phase = "trees";
    dk_buf b = DK_BUF_INIT;
    dk_msg_tree_req m = {
        .group = {(const uint8_t *)g->name, strlen(g->name)},
        .sig = g->sig,
        .level = x->level,
        .nodes = {x->want, dk_merkle_bitmap_len(x->level)},
    };
    int rc = dk_msg_tree_req_encode(&b, &m);
    if (rc)
        x_fail(x, rc, "cannot encode TREE_REQ");
    else
        x_call(x, DK_MSG_TREE_REQ, &b, x_tree_cb);
    dk_buf_free(&b);
}

/* ---- 2. keys ------------------------------------------------------------------- */

/* Merge-join of two key-ordered (key, hash) lists: what to send, what to fetch. */
static int x_diff(dk__ae_x *x, dk_slice mine, dk_slice theirs)
{
    dk_keys_entry a, b;
    int ha = dk_keys_entry_next(&mine, &a), hb = dk_keys_entry_next(&theirs, &b), rc = 0;
    while (rc == 0 && (ha || hb)) {
        int c = !ha ? 1 : !hb ? -1 : dk__ae_key_cmp(a.key, b.key);
        if (c <= 0 && (c < 0 || a.hash != b.hash))
            rc = dk_keys_entry_encode(&x->push, &(dk_keys_entry){.key = a.key, .kind = DK_KEYS_KEY});
        if (rc == 0 && c >= 0 && (c > 0 || a.hash != b.hash))
            rc = dk_keys_entry_encode(&x->pull, &(dk_keys_entry){.key = b.key, .kind = DK_KEYS_KEY});
        if (c <= 0)
            ha = dk_keys_entry_next(&mine, &a);
        if (c >= 0)
            hb = dk_keys_entry_next(&theirs, &b);
    }
    return rc;
}

/* Worker: list this node's keys over the page's interval, compare. */
static void x_compare_run(dk__job *j)
{
    dk__ae_x *x = (dk__ae_x *)j;
    int full = x->res.full;
    dk__ae_scan s = {
        .l = x->l,
        .g = x->g,
        .leaves = full ? x->leaves : NULL,
        .prefix = {x->prefix, x->plen},
        .from = {x->from, x->from_len},
        .upto = x->more ? dk_buf_slice(&x->upto) : (dk_slice){NULL, 0},
    };
    dk__ae_scan_run(j->c->node, &s);
    x->rc = s.rc;
    dk_buf_reset(&x->push);
    dk_buf_reset(&x->pull);
    if (x->rc == 0)
        x->rc = x_diff(x, dk_buf_slice(&s.entries), dk_buf_slice(&x->remote));
    x->push_left = dk_buf_slice(&x->push);
    x->pull_left = dk_buf_slice(&x->pull);
    dk__ae_scan_free(&s);
}

static void x_page_next(dk__ae_x *x)
{
    if (!x->more) {
        x_end(x);
        return;
    }
    /* The next page starts just after upto: upto + "\0". */
    memcpy(x->from, x->upto.data, x->upto.len);
    x->from[x->upto.len] = 0;
    x->from_len = x->upto.len + 1;
    x_list_send(x);
}

static void x_compare_done(dk__job *j, int status)
{
    dk__ae_x *x = (dk__ae_x *)j;
    if (x_gone(x))
        return;
    if (status || x->rc) {
        x_fail(x, status ? status : x->rc, "listing this node's keys failed: %s",
               status ? uv_strerror(status) : dk_strerror(x->rc));
        return;
    }
    if (x->push.len || x->pull.len)
        x_sync_next(x);
    else
        x_pace(x, x->remote.len, x_page_next, 0);
}

static void x_list_cb(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    dk__ae_x *x = arg;
    if (!x_answer_ok(x, status, h, body, DK_MSG_KEYS))
        return;
    dk_msg_keys k;
    if (dk_msg_keys_decode(body, &k) != 0) {
        x_fail(x, DK_ECORRUPT, "%s answered a malformed KEYS", x->peer);
        return;
    }
    if (k.status) {
        x_fail(x, k.status, "%s cannot list its keys: %s", x->peer, dk_strerror(k.status));
        return;
    }
    dk_buf_reset(&x->remote);
    dk_buf_reset(&x->upto);
    x->more = k.more;
    if (dk_buf_append(&x->remote, k.entries.ptr, k.entries.len) != 0 ||
        dk_buf_append(&x->upto, k.upto.ptr, k.upto.len) != 0) {
        x_fail(x, -ENOMEM, "out of memory");
        return;
    }
    x_job(x, x_compare_run, x_compare_done);
}

static void x_list_send(dk__ae_x *x)
{
    const dk__ae_group *g = &x->l->g[x->g];
    x->phase = "keys";
    x->pages++;
    dk_buf b = DK_BUF_INIT;
    dk_msg_keys_req m = {
        .op = DK_KEYS_LIST,
        .group = {(const uint8_t *)g->name, strlen(g->name)},
        .sig = g->sig,
        .leaves = x->res.full ? (dk_slice){x->leaves, sizeof(x->leaves)} : (dk_slice){NULL, 0},
        .prefix = {x->prefix, x->plen},
        .from = {x->from, x->from_len},
        .max_bytes = DK__AE_LIST_BYTES,
    };
    int rc = dk_msg_keys_req_encode(&b, &m);
    if (rc)
        x_fail(x, rc, "cannot encode KEYS_REQ");
    else
        x_call(x, DK_MSG_KEYS_REQ, &b, x_list_cb);
    dk_buf_free(&b);
}

/* ---- 3. objects ------------------------------------------------------------------ */

/* Worker: this node's objects for the next keys to send, then the next
 * keys to fetch. */
static void x_batch_run(dk__job *j)
{
    dk__ae_x *x = (dk__ae_x *)j;
    dk_buf raw = DK_BUF_INIT;
    dk_keys_entry e;
    size_t bytes = 0;
    dk_buf_reset(&x->batch);
    x->n_batch = x->batch_pulls = 0;
    x->rc = 0;
    while (x->rc == 0 && x->push_left.len && bytes < DK__AE_SYNC_BYTES) {
        dk_slice before = x->push_left;
        if (!dk_keys_entry_next(&x->push_left, &e))
            break;
        int rc = dk__ae_get_raw(j->c->node, e.key, &raw);
        if (rc == DK_ENOTFOUND || (rc == 0 && raw.len == 0))
            continue; /* gone since the listing (purged): nothing to send */
        if (rc) {
            x->rc = rc;
            x->push_left = before;
            break;
        }
        if (raw.len > DK__AE_OBJECT_MAX) {
            dk_log(DK_LOG_WARN,
                   "anti-entropy: a %zu-byte object is too large to send; repair its key "
                   "by reading it",
                   raw.len);
            continue;
        }
        if (bytes && bytes + raw.len > DK__AE_SYNC_BYTES) {
            x->push_left = before; /* next batch */
            break;
        }
        x->rc = dk_keys_entry_encode(
            &x->batch, &(dk_keys_entry){.key = e.key, .kind = DK_KEYS_OBJECT, .object = dk_buf_slice(&raw)});
        bytes += raw.len;
        x->n_batch++;
    }
    /* Keys to fetch fill what the objects left of the batch: a batch stays
     * under DK__AE_SYNC_BYTES plus a few hundred KiB, or one large object. */
    dk_slice pulls = x->pull_left;
    while (x->rc == 0 && x->batch_pulls < DK__AE_SYNC_KEYS && x->batch.len < DK__AE_SYNC_BYTES &&
           dk_keys_entry_next(&pulls, &e)) {
        x->rc = dk_keys_entry_encode(&x->batch, &e);
        x->batch_pulls++;
        x->n_batch++;
    }
    dk_buf_free(&raw);
}

/* Worker: merge what the peer sent back. */
static void x_merge_run(dk__job *j)
{
    dk__ae_x *x = (dk__ae_x *)j;
    dk_slice it = dk_buf_slice(&x->answer);
    dk_keys_entry e;
    x->rc = 0;
    while (x->rc == 0 && dk_keys_entry_next(&it, &e)) {
        if (e.kind != DK_KEYS_OBJECT)
            continue; /* the peer no longer holds it */
        int changed = 0;
        int rc = dk_store_merge(j->c->node->store, e.key, e.object, &changed);
        if (rc == 0)
            x->res.keys_in += changed != 0;
        else if (rc != DK_ECORRUPT && rc != DK_ETOOBIG)
            x->rc = rc; /* an unreadable or oversized copy skips its key */
    }
}

static void x_merge_done(dk__job *j, int status)
{
    dk__ae_x *x = (dk__ae_x *)j;
    if (x_gone(x))
        return;
    if (status || x->rc) {
        x_fail(x, status ? status : x->rc, "merging %s's objects failed: %s", x->peer,
               status ? uv_strerror(status) : dk_strerror(x->rc));
        return;
    }
    x_pace(x, x->answer.len + x->batch.len, x_sync_next, 0);
}

static void x_sync_cb(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    dk__ae_x *x = arg;
    if (!x_answer_ok(x, status, h, body, DK_MSG_KEYS))
        return;
    dk_msg_keys k;
    if (dk_msg_keys_decode(body, &k) != 0) {
        x_fail(x, DK_ECORRUPT, "%s answered a malformed KEYS", x->peer);
        return;
    }
    if (k.status) {
        x_fail(x, k.status, "%s cannot take or send objects: %s", x->peer, dk_strerror(k.status));
        return;
    }
    if (k.n_entries > x->batch_pulls || (x->batch_pulls && k.n_entries == 0)) {
        x_fail(x, DK_ECORRUPT, "%s answered %u of %u keys", x->peer, k.n_entries, x->batch_pulls);
        return;
    }
    /* The answers come in request order: step over the keys answered. */
    dk_slice ans = k.entries;
    dk_keys_entry want, got;
    for (uint32_t i = 0; i < k.n_entries; i++) {
        if (!dk_keys_entry_next(&x->pull_left, &want) || !dk_keys_entry_next(&ans, &got) ||
            dk__ae_key_cmp(want.key, got.key) != 0) {
            x_fail(x, DK_ECORRUPT, "%s answered keys that were not asked", x->peer);
            return;
        }
    }
    x->res.keys_out += k.merged;
    dk_buf_reset(&x->answer);
    if (dk_buf_append(&x->answer, k.entries.ptr, k.entries.len) != 0) {
        x_fail(x, -ENOMEM, "out of memory");
        return;
    }
    x_job(x, x_merge_run, x_merge_done);
}

static void x_batch_done(dk__job *j, int status)
{
    dk__ae_x *x = (dk__ae_x *)j;
    if (x_gone(x))
        return;
    if (status || x->rc) {
        x_fail(x, status ? status : x->rc, "reading this node's objects failed: %s",
               status ? uv_strerror(status) : dk_strerror(x->rc));
        return;
    }
    if (x->n_batch == 0) { /* every key to send vanished, nothing to fetch */
        x_sync_next(x);
        return;
    }
    const dk__ae_group *g = &x->l->g[x->g];
    dk_buf b = DK_BUF_INIT;
    dk_msg_keys_req m = {
        .op = DK_KEYS_SYNC,
        .group = {(const uint8_t *)g->name, strlen(g->name)},
        .sig = g->sig,
        .n_entries = x->n_batch,
        .entries = dk_buf_slice(&x->batch),
    };
    int rc = dk_msg_keys_req_encode(&b, &m);
    if (rc)
        x_fail(x, rc, "cannot encode a batch of %u objects", x->n_batch);
    else
        x_call(x, DK_MSG_KEYS_REQ, &b, x_sync_cb);
    dk_buf_free(&b);
}

static void x_sync_next(dk__ae_x *x)
{
    x->phase = "objects";
    if (x->push_left.len == 0 && x->pull_left.len == 0) {
        x_page_next(x);
        return;
    }
    x_job(x, x_batch_run, x_batch_done);
}

/* ---- start ------------------------------------------------------------------------ */

int dk__ae_exchange(dk_ae *ae, int group, const char *peer, const char *addr, dk_slice prefix,
                    void (*done)(dk_ae *ae, const dk__ae_xres *r))
{
    if (ae->x || !ae->live || !ae->layout || group < 0 || (size_t)group >= ae->layout->n_groups ||
        prefix.len > DK_KEY_MAX)
        return -EINVAL;
    dk__ae_x *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->ae = ae;
    x->l = ae->layout;
    dk__ae_layout_ref(x->l);
    x->g = group;
    snprintf(x->peer, sizeof(x->peer), "%s", peer);
    snprintf(x->addr, sizeof(x->addr), "%s", addr);
    if (prefix.len) /* an empty prefix may come with no pointer */
        memcpy(x->prefix, prefix.ptr, prefix.len);
    x->plen = prefix.len;
    x->gen = ae->gen;
    x->done = done;
    x->res.full = prefix.len == 0;
    x->res.start_ms = dk_now_ms();
    ae->x = x;
    dk_metrics_add("repair_exchanges_started_total", 1);
    /* The first request goes out from the next loop iteration, so done
     * never runs from inside this call. */
    if (!x->res.full) {
        x_pace(x, 0, x_list_send, 1);
        return 0;
    }
    /* Dead records written before this start that arrive from now on must
     * lower it (the hook's clamp). */
    if (atomic_load(&ae->watermark) < x->res.start_ms)
        atomic_store(&ae->watermark, x->res.start_ms);
    dk_merkle_view_of(&x->l->g[group].tree, &x->view);
    x->want[0] = 1;
    x_pace(x, 0, x_tree_send, 1);
    return 0;
}

void dk__ae_exchange_clamp(dk_ae *ae, int group, int64_t ms)
{
    dk__ae_x *x = ae->x;
    if (x && x->res.full && x->g == group && ms < x->res.start_ms)
        x->res.start_ms = ms;
}

void dk__ae_exchange_abort(dk_ae *ae)
{
    dk__ae_x *x = ae->x;
    if (x && x->paced) { /* idle between steps: nothing else will end it */
        x->paced = NULL;
        x_fail(x, DK_ECLOSED, "the node is stopping");
    }
}

int dk__ae_exchange_progress(const dk_ae *ae, dk__ae_xprogress *p)
{
    const dk__ae_x *x = ae->x;
    if (!x)
        return DK_ENOTFOUND;
    *p = (dk__ae_xprogress){
        .phase = x->phase ? x->phase : "starting",
        .level = x->level,
        .leaves = x->res.leaves,
        .pages = x->pages,
        .keys_in = x->res.keys_in,
        .keys_out = x->res.keys_out,
        .start_ms = x->res.start_ms,
    };
    return 0;
}
