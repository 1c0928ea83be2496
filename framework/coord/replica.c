/*
 * replica.c - the replica side of the coordinator protocol: requests that
 * peers send to this node through the RPC transport (dk_coord_on_rpc).
 *
 *   PUT_REPLICA    merge the object into the local store (dk_store_merge on
 *                  a worker), or, with a hint target that is another node,
 *                  keep it as a hint for that node; answer ACK.
 *   GET_REPLICA    read the local copy; answer REPLICA_VALUE, with the
 *                  copy, or with DK_FRAME_DIGEST only its digest when the
 *                  request has that flag (a quorum read's digest read).
 *   FORWARD_WRITE  coordinate the client write here (never forwarded again);
 *                  answer FORWARD_RESULT.
 *   STREAM_REQ, STREAM_DONE  range streaming (stream_source.c, stream.c).
 *   SCAN_RANGE     this node's part of a prefix scan (scan_replica.c);
 *                  answer SCAN_RESULT.
 *   TREE_REQ, KEYS_REQ  anti-entropy exchanges (ae_serve.c).
 *
 * Every request is answered exactly once: a body that does not decode gets
 * ERROR(DK_ECORRUPT), an unknown type ERROR(DK_EUNSUPPORTED), a stopping
 * node ERROR(DK_ECLOSED). Requests are served on the loop thread; engine
 * work goes to the worker pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/store.h"

/* [storage] max_object_size bounds every object (node/store.h): the
 * largest allowed must fit a PUT_REPLICA, REPLICA_VALUE or FORWARD_RESULT
 * frame with its key and fields. */
_Static_assert(DK_OBJECT_SIZE_LIMIT + 2 * DK_KEY_MAX + 4096 <= DK_FRAME_BODY_MAX,
               "max_object_size must fit one RPC frame");

static void replica_ack(dk_rpc_req *q, int status)
{
    dk_buf f = DK_BUF_INIT; /* the ACK encoded straight into its frame */
    dk_msg_ack a = {.status = status};
    if (dk_rpc_frame_start(&f, 8) == 0 && dk_msg_ack_encode(&f, &a) == 0)
        dk_rpc_reply_framed(q, DK_MSG_ACK, &f);
    else
        dk_rpc_reply_error(q, -ENOMEM, "out of memory");
    dk_buf_free(&f);
}

/* Answer a digest read (DK_FRAME_DIGEST) with the digest of the local
 * copy raw (rc 0) or the read's error. */
static void replica_digest(dk_rpc_req *q, int rc, dk_slice raw)
{
    dk_buf f = DK_BUF_INIT;
    int st = rc == 0 && raw.len == 0 ? DK_ECORRUPT : rc;
    dk_msg_replica_digest d = {.status = st, .digest = st == 0 ? XXH3_64bits(raw.ptr, raw.len) : 0};
    if (dk_rpc_frame_start(&f, 16) == 0 && dk_msg_replica_digest_encode(&f, &d) == 0)
        dk_rpc_reply_flags(q, DK_MSG_REPLICA_VALUE, DK_FRAME_DIGEST, &f);
    else
        dk_rpc_reply_error(q, -ENOMEM, "out of memory");
    dk_buf_free(&f);
}

/* Answer a GET_REPLICA with the local copy raw (rc 0) or the read's error;
 * the copy is encoded straight into the answer's frame (its digest only
 * for a digest read). */
static void replica_value(dk_rpc_req *q, int rc, const dk_buf *raw, int digest)
{
    if (digest) {
        replica_digest(q, rc, dk_buf_slice(raw));
        return;
    }
    dk_buf f = DK_BUF_INIT;
    int st = rc == 0 && raw->len == 0 ? DK_ECORRUPT : rc;
    dk_msg_replica_value v = {.status = st, .has_object = st == 0};
    if (st == 0)
        v.object = dk_buf_slice(raw);
    if (dk_rpc_frame_start(&f, raw->len + 16) == 0 && dk_msg_replica_value_encode(&f, &v) == 0)
        dk_rpc_reply_framed(q, DK_MSG_REPLICA_VALUE, &f);
    else
        dk_rpc_reply_error(q, -EINVAL, "cannot encode the local copy");
    dk_buf_free(&f);
}

/* ---- PUT_REPLICA / GET_REPLICA: one job type for both --------------------- */

typedef struct replica_job {
    dk__job job;
    dk_rpc_req *q;
    int put, digest, rc; /* digest: a get answered with the copy's digest */
    dk_buf key, obj;     /* put: the object; get: the local copy */
} replica_job;

static void replica_run(dk__job *j)
{
    replica_job *r = (replica_job *)j;
    dk_store *st = j->c->node->store;
    if (r->put) {
        int changed = 0;
        r->rc = dk_store_merge(st, dk_buf_slice(&r->key), dk_buf_slice(&r->obj), &changed);
        return;
    }
    dk_object o;
    dk_object_init(&o);
    r->rc = dk_store_get(st, dk_buf_slice(&r->key), &r->obj, &o);
    dk_object_free(&o);
}

static void replica_done(dk__job *j, int status)
{
    replica_job *r = (replica_job *)j;
    int rc = status ? status : r->rc;
    if (r->put)
        replica_ack(r->q, rc);
    else
        replica_value(r->q, rc, &r->obj, r->digest);
    dk_buf_free(&r->key);
    dk_buf_free(&r->obj);
    free(r);
}

/* PUT_REPLICA on the loop: the merge queued to the engine's WAL without a
 * thread (dk_store_merge_start), the ACK sent when it is durable. */
typedef struct replica_async {
    dk__ready posted;
    dk_coord *c;
    dk_rpc_req *q;
    dk_store_wop *op;
} replica_async;

/* Loop thread, posted by replica_async_ready. */
static void replica_async_done(dk__ready *r)
{
    replica_async *a = (replica_async *)r;
    int rc = dk_store_write_finish(a->op, NULL, NULL); /* the ACK needs no copy */
    replica_ack(a->q, rc);
    free(a);
}

/* An engine thread: the merged copy is durable or failed. */
static void replica_async_ready(void *arg)
{
    replica_async *a = arg;
    dk__coord_post(a->c, &a->posted, replica_async_done);
}

static void replica_job_queue(dk_coord *c, dk_rpc_req *q, int put, int digest, dk_slice key, dk_slice obj);

/* A digest read from memory on the loop: the engine's copy borrowed (no
 * copy of the value), hashed, given back. Returns 0 when answered,
 * -EAGAIN when the read needs the disk, DK_EUNSUPPORTED when the engine
 * does not lend. */
static int replica_try_digest(dk_store *st, dk_rpc_req *q, dk_slice key)
{
    dk_slice lent = {NULL, 0};
    void *pin = NULL;
    dk_object o;
    dk_object_init(&o);
    int rc = dk_store_try_get_lent(st, key, &lent, &o, &pin);
    dk_object_free(&o);
    if (rc == DK_EUNSUPPORTED)
        return rc;
    if (rc != -EAGAIN)
        replica_digest(q, rc, lent);
    if (pin)
        dk_store_release(st, pin);
    return rc == -EAGAIN ? rc : 0;
}

/* Answer q on the loop when the store can without blocking: a GET from
 * memory, a PUT queued to the engine. Returns 0 when answered or under
 * way, -EAGAIN for the worker. */
static int replica_try(dk_coord *c, dk_rpc_req *q, int put, int digest, dk_slice key, dk_slice obj,
                       dk_buf *hold)
{
    dk_store *st = c->node->store;
    int drc = !put && digest ? replica_try_digest(st, q, key) : DK_EUNSUPPORTED;
    if (drc != DK_EUNSUPPORTED)
        return drc;
    if (!put) {
        dk_buf raw = DK_BUF_INIT;
        dk_object o;
        dk_object_init(&o);
        int rc = dk_store_try_get(st, key, &raw, &o);
        dk_object_free(&o);
        if (rc != -EAGAIN)
            replica_value(q, rc, &raw, digest);
        dk_buf_free(&raw);
        return rc == -EAGAIN ? rc : 0;
    }
    replica_async *a = calloc(1, sizeof(*a));
    if (!a)
        return -EAGAIN;
    a->c = c;
    a->q = q;
    int rc = dk_store_merge_start_held(st, key, obj, hold, replica_async_ready, a, &a->op);
    if (rc == 0) {
        dk__coord_expect_post(c);
        return 0;
    }
    free(a);
    if (rc == -EAGAIN)
        return rc;
    replica_ack(q, rc == 1 ? 0 : rc);
    return 0;
}

static void replica_queue(dk_coord *c, dk_rpc_req *q, int put, int digest, dk_slice key, dk_slice obj)
{
    /* A put keeps the object: from the frame's own memory when the
     * transport hands it over (the store takes it for an absent key),
     * which key and obj still point into. */
    dk_buf hold = DK_BUF_INIT;
    int took = put && dk_rpc_req_take_frame(q, &hold) == 0;
    int rc = replica_try(c, q, put, digest, key, obj, took ? &hold : NULL);
    if (rc == 0) {
        dk_buf_free(&hold);
        return;
    }
    replica_job_queue(c, q, put, digest, key, obj);
    dk_buf_free(&hold);
}

/* The request on a worker: key and obj copied into the job. */
static void replica_job_queue(dk_coord *c, dk_rpc_req *q, int put, int digest, dk_slice key, dk_slice obj)
{
    if (put)
        DK_METRICS_ADD("replica_writes_worker_total", 1);
    replica_job *r = calloc(1, sizeof(*r));
    int rc = r ? 0 : -ENOMEM;
    if (rc == 0) {
        r->q = q;
        r->put = put;
        r->digest = digest;
        r->job.run = replica_run;
        r->job.done = replica_done;
        if ((rc = dk_buf_append(&r->key, key.ptr, key.len)) == 0 && put)
            rc = dk_buf_append(&r->obj, obj.ptr, obj.len);
        if (rc == 0)
            rc = dk__coord_job(c, &r->job);
    }
    if (rc == 0)
        return;
    if (r) {
        dk_buf_free(&r->key);
        dk_buf_free(&r->obj);
        free(r);
    }
    dk_rpc_reply_error(q, rc, "cannot queue the request");
}

/* ---- hints kept for another node ------------------------------------------- */

typedef struct hint_req {
    dk_coord *c;
    dk_rpc_req *q;
} hint_req;

static void hint_stored(void *arg, int status)
{
    hint_req *h = arg;
    dk_coord *c = h->c;
    replica_ack(h->q, status);
    free(h);
    dk__coord_release(c);
}

static void replica_hint(dk_coord *c, dk_rpc_req *q, const dk_msg_put_replica *m)
{
    if (!c->hints) {
        replica_ack(q, DK_EUNSUPPORTED); /* the coordinator tries elsewhere */
        return;
    }
    hint_req *h = malloc(sizeof(*h));
    int rc = h ? 0 : -ENOMEM;
    if (h) {
        *h = (hint_req){c, q};
        rc = dk_hints_store(c->hints, m->hint_target, m->key, m->object, hint_stored, h);
    }
    if (rc == 0) {
        dk__coord_hold(c);
        return;
    }
    free(h);
    replica_ack(q, rc);
}

/* ---- FORWARD_WRITE ------------------------------------------------------------ */

static void forwarded_done(void *arg, dk_coord_result *r)
{
    dk_rpc_req *q = arg;
    dk_buf b = DK_BUF_INIT;
    dk_msg_forward_result m = {
        .status = r->status,
        .acks = (uint32_t)r->acks,
        .needed = (uint32_t)r->needed,
        .replicas = (uint32_t)r->replicas,
        .has_object = r->raw.len > 0,
        .object = dk_buf_slice(&r->raw),
    };
    if (dk_msg_forward_result_encode(&b, &m) == 0)
        dk_rpc_reply(q, DK_MSG_FORWARD_RESULT, b.data, b.len);
    else
        dk_rpc_reply_error(q, -EINVAL, "cannot encode the write's result");
    dk_buf_free(&b);
}

static void replica_forwarded(dk_coord *c, dk_rpc_req *q, dk_slice body)
{
    dk_msg_forward_write m;
    dk_vv ctx, im;
    dk_vv_init(&ctx);
    dk_vv_init(&im);
    size_t used = 0;
    int rc = dk_msg_forward_write_decode(body, &m);
    if (rc == 0 && (m.flags & DK_FWD_HAS_CONTEXT) &&
        (dk_vv_decode(m.context.ptr, m.context.len, &ctx, &used) != 0 || used != m.context.len))
        rc = DK_ECORRUPT;
    if (rc == 0 && (m.flags & DK_FWD_HAS_IF_MATCH) &&
        (dk_vv_decode(m.if_match.ptr, m.if_match.len, &im, &used) != 0 || used != m.if_match.len))
        rc = DK_ECORRUPT;
    if (rc) {
        dk_rpc_reply_error(q, DK_ECORRUPT, "malformed FORWARD_WRITE");
    } else {
        dk_coord_write w = {
            .key = m.key,
            .value = m.value,
            .tombstone = (m.flags & DK_FWD_TOMBSTONE) != 0,
            .context = (m.flags & DK_FWD_HAS_CONTEXT) ? &ctx : NULL,
            .context_is_map = (m.flags & DK_FWD_CONTEXT_MAP) != 0,
            .ttl_ms = m.ttl_ms,
            .cond = m.cond,
            .if_match = (m.flags & DK_FWD_HAS_IF_MATCH) ? &im : NULL,
            .consistency = m.consistency,
            .strict = (m.flags & DK_FWD_STRICT) != 0,
            .type = (m.flags & DK_FWD_CRDT) ? DK_OBJECT_CRDT : DK_OBJECT_PLAIN,
        };
        rc = dk__coord_put_here(c, &w, m.timeout_ms, forwarded_done, q);
        if (rc)
            dk_rpc_reply_error(q, rc, "cannot coordinate the write");
    }
    dk_vv_free(&ctx);
    dk_vv_free(&im);
}

int dk_coord_serves(const dk_coord *c, const dk_frame_header *h, dk_slice body)
{
    if (!c->primary)
        return 1;
    if (h->type == DK_MSG_GET_REPLICA)
        return 1;
    dk_msg_put_replica m;
    return h->type == DK_MSG_PUT_REPLICA && dk_msg_put_replica_decode(body, &m) == 0 &&
           (!m.hint_target[0] || strcmp(m.hint_target, c->self) == 0);
}

void dk_coord_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    dk_coord *c = arg;
    if (c->stopping) {
        dk_rpc_reply_error(q, DK_ECLOSED, "node is stopping");
        return;
    }
    if (c->primary && h->type != DK_MSG_PUT_REPLICA && h->type != DK_MSG_GET_REPLICA) {
        dk_rpc_reply_error(q, DK_EUNSUPPORTED, "only the cluster loop serves that request type");
        return; /* the caller relays it (dk_coord_serves); a PUT_REPLICA hint finds no hints here */
    }
    switch (h->type) {
    case DK_MSG_PUT_REPLICA: {
        dk_msg_put_replica m;
        if (dk_msg_put_replica_decode(body, &m) != 0) {
            dk_rpc_reply_error(q, DK_ECORRUPT, "malformed PUT_REPLICA");
        } else if (m.hint_target[0] && strcmp(m.hint_target, c->self) != 0) {
            replica_hint(c, q, &m);
        } else {
            replica_queue(c, q, 1, 0, m.key, m.object);
        }
        return;
    }
    case DK_MSG_GET_REPLICA: {
        dk_msg_get_replica m;
        if (dk_msg_get_replica_decode(body, &m) != 0) {
            dk_rpc_reply_error(q, DK_ECORRUPT, "malformed GET_REPLICA");
        } else {
            DK_METRICS_ADD("replica_reads_total", 1);
            replica_queue(c, q, 0, (h->flags & DK_FRAME_DIGEST) != 0, m.key, (dk_slice){NULL, 0});
        }
        return;
    }
    case DK_MSG_FORWARD_WRITE: replica_forwarded(c, q, body); return;
    case DK_MSG_STREAM_REQ: dk__stream_serve(c, q, body); return;
    case DK_MSG_STREAM_DONE: dk__stream_done_query(c, q, body); return;
    case DK_MSG_HANDOFF_QUERY: dk__handoff_serve(c, q, body); return;
    case DK_MSG_SCAN_RANGE: dk__scan_serve(c, q, body); return;
    case DK_MSG_TREE_REQ:
    case DK_MSG_KEYS_REQ:
        if (c->ae)
            dk__ae_serve(c->ae, q, h, body);
        else
            dk_rpc_reply_error(q, DK_EUNSUPPORTED, "anti-entropy is off on this node");
        return;
    default: dk_rpc_reply_error(q, DK_EUNSUPPORTED, "this node does not serve that request type"); return;
    }
}
