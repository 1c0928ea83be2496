/*
 * coord_write.c - client writes: the local write that makes the new dot
 * and replication with sloppy-quorum fallbacks and hints (semantics in
 * coordinator.h). Forwarding to a replica is in coord_forward.c,
 * compare-and-set's lock and quorum read in coord_cas.c; the op they share
 * is in coord_int.h.
 *
 * A write op tracks one "slot" per replica of the preference list other
 * than this node. A slot is pending until its replica (or a fallback
 * standing in for it) acknowledges, or until it has definitively failed
 * (no fallback left, or the coordinator kept the hint itself). The client
 * is answered as soon as acks >= W, or once no slot is pending (so the
 * counts in a failure are final);
 * the op itself lives on until every slot is settled and every step it
 * started has ended (op->refs), so background replication finishes.
 *
 * Copies of the value: the client's value is borrowed while the op starts
 * (the store encodes it from there), and copied only when the op goes on
 * past its start (CAS, forward, worker). The store's encoding of the new
 * object is taken, not copied, as res.raw, and every replica frame lends
 * res.raw (dk_rpc_call_lent: written from where it lies), so a quorum PUT
 * makes one copy of the value on the coordinator, the encoding.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "util/strcopy.h"

static void wop_free(wop *op)
{
    if (op->pend_held)
        dk__handoff_end(op->c, op->pend_epoch);
    if (op->loop_held)
        dk__handoff_loop_end(op->c->primary, op->loop_epoch);
    dk__plan_free(&op->plan);
    dk_buf_free(&op->key);
    dk_buf_free(&op->value);
    dk_buf_free(&op->cas_raw);
    dk_vv_free(&op->ctx);
    dk_vv_free(&op->im);
    dk__result_free(&op->res);
    free(op);
}

void dk__wop_answer(wop *op, int status)
{
    if (op->answered)
        return;
    op->answered = 1;
    op->res.status = status;
    op->res.acks = op->acks;
    op->res.needed = op->needed;
    op->res.replicas = (int)op->plan.n;
    if (status == DK_EUNAVAILABLE || status == DK_ETIMEOUT)
        DK_METRICS_ADD("coord_unavailable_total", 1);
    if (op->launching)
        op->cb_due = 1; /* delivered by wop_launched */
    else
        op->cb(op->arg, &op->res);
}

void dk__wop_unref(wop *op)
{
    if (--op->refs == 0) {
        if (!op->answered)
            dk__wop_answer(op, op->too_big ? DK_ETOOBIG : op->timed_out ? DK_ETIMEOUT : DK_EUNAVAILABLE);
        wop_free(op);
    }
}

/* Answer as soon as the outcome is known. */
static void wop_check(wop *op)
{
    if (op->answered)
        return;
    int pending = op->local_pending;
    for (uint32_t i = 0; i < op->n_slots; i++)
        pending += op->slot[i].state == SLOT_PENDING;
    /* A failure waits for the slots still pending (bounded by the
     * deadline) so that the acks reported are final. Success also waits
     * for a local write in flight: the coordinator answers only once it
     * holds the write itself, so a read through it right after sees it. */
    if (op->acks >= op->needed && !op->local_pending)
        dk__wop_answer(op, 0);
    else if (pending == 0)
        dk__wop_answer(op, op->too_big ? DK_ETOOBIG : op->timed_out ? DK_ETIMEOUT : DK_EUNAVAILABLE);
}

static void slot_failed(wslot *sl);

/* ---- the object lent to the replica frames ---------------------------------- */

static void wop_lent_last(dk__ready *r)
{
    wop *op = (wop *)((char *)r - offsetof(wop, lent_done));
    dk__wop_unref(op);
}

/* The last frame that carried res.raw is gone (the transport frees its
 * frames wherever they end). When that was the op's last reference, the
 * op ends from the ready list, outside the transport's own loops; nothing
 * can take the lent object again then (nothing else holds the op). */
static void wop_lent_release(dk_rpc_lent *l)
{
    wop *op = (wop *)((char *)l - offsetof(wop, lent));
    if (op->refs > 1)
        op->refs--;
    else
        dk__coord_defer(op->c, &op->lent_done, wop_lent_last);
}

/* Hold the lent object around sends: the first hold takes a reference to
 * the op for all the frames, the last frame's release drops it. res.raw is
 * final once replication starts, so the frames can point into it. */
static void wop_lend(wop *op)
{
    if (op->lent.refs++ == 0) {
        op->lent.ptr = op->res.raw.data;
        op->lent.len = op->res.raw.len;
        op->lent.release = wop_lent_release;
        op->refs++;
    }
}

static void wop_sent(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    wop_send_ctx *s = arg;
    dk_coord *c = s->c;
    dk__replica_ack_status(&status, h, body);
    s->cb(s->arg, status);
    dk__coord_release(c);
}

/* Send op's object (res.raw) to rep with hint_target; the frame carries
 * res.raw without copying it (dk_rpc_call_lent). 0 when the send started:
 * s's cb runs once later. */
static int wop_send(wop *op, const dk__replica *rep, const char *hint_target, uint64_t left, wop_send_ctx *s,
                    void (*cb)(void *arg, int status), void *arg)
{
    dk_coord *c = op->c;
    dk_msg_put_replica m = {.key = dk_buf_slice(&op->key), .object = dk_buf_slice(&op->res.raw)};
    dk_strcopy(m.hint_target, sizeof(m.hint_target), hint_target);
    dk_buf f = DK_BUF_INIT;
    size_t split = 0;
    int rc = dk_rpc_frame_start(&f, op->key.len + sizeof(m.hint_target) + 16);
    if (rc == 0)
        rc = dk_msg_put_replica_encode_lent(&f, &m, &split);
    if (rc) {
        dk_buf_free(&f);
        return rc;
    }
    *s = (wop_send_ctx){c, cb, arg};
    wop_lend(op);
    rc = dk_rpc_call_lent(c->rpc, rep->id, rep->addr, DK_MSG_PUT_REPLICA, &f, split, &op->lent, left,
                          wop_sent, s);
    if (rc == 0)
        dk__coord_hold(c);
    dk_rpc_lent_unref(&op->lent); /* the caller holds op: this never frees it */
    return rc;
}

static void wsend_done(void *arg, int status)
{
    wsend *ws = arg; /* the slot's: a fallback's send may reuse it from slot_failed */
    wslot *sl = ws->slot;
    wop *op = sl->op;
    if (status == 0 && sl->state == SLOT_PENDING) {
        sl->state = SLOT_ACKED;
        op->acks++;
        wop_check(op);
    } else if (status == DK_ETOOBIG && sl->state == SLOT_PENDING) {
        /* The replica answered: its merged copy would pass max_object_size
         * (it held siblings this node lacks). No fallback or hint would
         * take it either; the client is told to resolve the siblings. */
        dk_log(DK_LOG_WARN, "coordinator: %s refused a write: the object would pass max_object_size",
               ws->to.id);
        op->too_big = 1;
        sl->state = SLOT_FAILED;
        wop_check(op);
    } else if (status != 0) {
        if (status == DK_ETIMEOUT)
            op->timed_out = 1;
        dk_log(DK_LOG_DEBUG, "coordinator: %s%s did not take a write: %s", ws->to.id,
               ws->hinted ? " (fallback)" : "", dk_strerror(status));
        slot_failed(sl);
    }
    dk__wop_unref(op);
}

/* Send the new object to `to` for the slot; 0 when the send started. */
static int slot_send(wslot *sl, const dk__replica *to, int hinted)
{
    wop *op = sl->op;
    uint64_t left = dk__left_ms(op->deadline_ns);
    if (left == 0) {
        op->timed_out = 1;
        return DK_ETIMEOUT;
    }
    wsend *ws = &sl->send;
    ws->slot = sl;
    ws->to = *to;
    ws->hinted = hinted;
    int rc = wop_send(op, to, hinted ? sl->owner.id : "", left, &ws->ctx, wsend_done, ws);
    if (rc)
        return rc;
    op->refs++;
    return 0;
}

static void local_hint_done(void *arg, int status)
{
    wop *op = arg;
    if (status)
        dk_log(DK_LOG_ERROR,
               "coordinator: a write is on fewer replicas than planned: keeping its hint failed: %s",
               dk_strerror(status));
    dk_coord *c = op->c;
    dk__wop_unref(op);
    dk__coord_release(c);
}

/* The owner (or its last stand-in) failed: with a sloppy quorum try the
 * next fallback; else keep the hint here, also under a strict quorum (as
 * Cassandra does: it does not count, but the replica converges sooner).
 * The slot then fails. */
static void slot_failed(wslot *sl)
{
    wop *op = sl->op;
    dk_coord *c = op->c;
    if (sl->state != SLOT_PENDING)
        return;
    if (op->sloppy && !c->stopping) {
        dk__replica fb;
        while (op->n_used < 2 * COORD_N_MAX && dk__left_ms(op->deadline_ns) &&
               dk__fallback(c, &op->plan, op->used, op->n_used, &fb) == 0) {
            snprintf(op->used[op->n_used++], DK_NODE_ID_MAX + 1, "%s", fb.id);
            if (slot_send(sl, &fb, 1) == 0)
                return;
        }
    }
    if (c->hints_on && !c->stopping) {
        if (dk__coord_hint_store(c, sl->owner.id, dk_buf_slice(&op->key), dk_buf_slice(&op->res.raw),
                                 local_hint_done, op) == 0) {
            dk__coord_hold(c);
            op->refs++;
        }
    }
    sl->state = SLOT_FAILED;
    wop_check(op);
}

/* ---- pending replicas ------------------------------------------------------ */

typedef struct psend {
    wop_send_ctx ctx; /* first: the send's */
    wop *op;
    char id[DK_NODE_ID_MAX + 1];
    uint64_t epoch; /* counted until it settles (handoff.c) */
} psend;

/* The copy for p's pending replica has settled: acknowledged, kept as a
 * durable hint, or given up. */
static void psend_free(psend *p)
{
    dk__handoff_end(p->op->c, p->epoch);
    free(p);
}

static void pending_hint_done(void *arg, int status)
{
    psend *p = arg;
    wop *op = p->op;
    dk_coord *c = op->c;
    if (status)
        dk_log(DK_LOG_ERROR, "coordinator: pending replica %s may miss a write: keeping its hint failed: %s",
               p->id, dk_strerror(status));
    psend_free(p);
    dk__wop_unref(op);
    dk__coord_release(c);
}

/* Keep the write as a hint for pending replica p->id (it was down or
 * failed): its stream may already have passed the key. Takes p. */
static void pending_hint(psend *p)
{
    wop *op = p->op;
    dk_coord *c = op->c;
    if (c->hints && !c->stopping &&
        dk_hints_store(c->hints, p->id, dk_buf_slice(&op->key), dk_buf_slice(&op->res.raw), pending_hint_done,
                       p) == 0) {
        dk__coord_hold(c);
        op->refs++;
        return;
    }
    dk_log(DK_LOG_WARN, "coordinator: pending replica %s misses a write (no hint kept)", p->id);
    psend_free(p);
}

static void pending_sent(void *arg, int status)
{
    psend *p = arg;
    wop *op = p->op;
    if (status == 0)
        psend_free(p);
    else
        pending_hint(p);
    dk__wop_unref(op);
}

/* The key's pending replicas (a ring move under way) are taken with the
 * plan, not when the write replicates: a write planned with the ring of a
 * move (the new owner only pending) that replicates after this node heard
 * the move end would otherwise send the new owner nothing, and it would
 * never get the write. The copies are counted for the handoff check from
 * the plan on (one count for the op until it ends, which outlives every
 * copy and hint it starts): a member's answer "settled" then also covers
 * writes planned before the question that have not replicated yet
 * (cluster/handoff_wait.h). */
static void wop_plan_pending(wop *op)
{
    dk_coord *c = op->c;
    size_t n = c->view.pending ? c->view.pending(c->view.arg, op->plan.token, op->pend) : 0;
    op->n_pend = (uint32_t)(n < COORD_N_MAX ? n : COORD_N_MAX);
    if (op->n_pend) {
        op->pend_epoch = dk__handoff_begin(c);
        op->pend_held = 1;
    }
}

/* Send the new object to the key's pending replicas: not counted toward
 * W, never a reason to answer later. */
static void wop_pending(wop *op)
{
    dk_coord *c = op->c;
    for (uint32_t i = 0; i < op->n_pend; i++) {
        const dk_coord_pending *pd = &op->pend[i];
        if (strcmp(pd->id, c->self) == 0)
            continue; /* this node took the write locally */
        psend *p = calloc(1, sizeof(*p));
        if (!p)
            continue;
        p->op = op;
        p->epoch = dk__handoff_begin(c);
        snprintf(p->id, sizeof(p->id), "%.64s", pd->id);
        DK_METRICS_ADD("coord_pending_writes_total", 1);
        dk__replica rep;
        memset(&rep, 0, sizeof(rep));
        snprintf(rep.id, sizeof(rep.id), "%.64s", pd->id);
        snprintf(rep.addr, sizeof(rep.addr), "%s", pd->addr);
        uint64_t left = dk__left_ms(op->deadline_ns);
        if (pd->alive && rep.addr[0] && left && wop_send(op, &rep, "", left, &p->ctx, pending_sent, p) == 0) {
            op->refs++;
            continue;
        }
        pending_hint(p);
    }
}

/* The local write is done: replicate to every other replica. */
static void wop_replicate(wop *op)
{
    op->refs++; /* held while the sends start */
    for (uint32_t i = 0; i < op->plan.n; i++) {
        if (op->plan.r[i].self)
            continue;
        wslot *sl = &op->slot[op->n_slots++];
        sl->op = op;
        sl->owner = op->plan.r[i];
        sl->state = SLOT_PENDING;
    }
    for (uint32_t i = 0; i < op->n_slots; i++) {
        wslot *sl = &op->slot[i];
        if (!sl->owner.alive || slot_send(sl, &sl->owner, 0) != 0)
            slot_failed(sl);
    }
    wop_pending(op);
    wop_check(op);
    dk__wop_unref(op);
}

/* ---- the local write -------------------------------------------------------- */

/* The value of the write: the caller's while the op starts, its copy after. */
static dk_slice wop_value(const wop *op)
{
    return op->value_kept ? dk_buf_slice(&op->value) : op->value_in;
}

/* Copy the borrowed value before the op goes on past its start. 0 or
 * -ENOMEM. */
static int wop_keep_value(wop *op)
{
    if (op->value_kept)
        return 0;
    int rc = dk_buf_append(&op->value, op->value_in.ptr, op->value_in.len);
    if (rc == 0)
        op->value_kept = 1;
    return rc;
}


static void local_write_run(dk__job *j)
{
    wop *op = (wop *)j;
    dk_store *st = j->c->node->store;
    int rc = 0, changed = 0;
    if (op->cas_raw.len)
        rc = dk_store_merge(st, dk_buf_slice(&op->key), dk_buf_slice(&op->cas_raw), &changed);
    if (rc == 0) {
        dk_store_write sw = {
            .key = dk_buf_slice(&op->key),
            .value = wop_value(op),
            .tombstone = op->tombstone,
            .context = op->has_ctx ? &op->ctx : NULL,
            .context_is_map = op->ctx_is_map,
            .ttl_ms = op->ttl_ms,
            .cond = op->cond,
            .if_match = op->has_im ? &op->im : NULL,
            .type = op->type,
        };
        rc = dk_store_write_local(st, &sw, dk_now_ms(), &op->res.raw, &op->res.obj);
    }
    if (rc)
        dk_buf_reset(&op->res.raw);
    op->res.status = rc;
}

/* The local write ended with rc: answer or replicate. Loop thread. */
static void local_write_end(wop *op, int rc)
{
    int replicating = op->local_pending;
    op->local_pending = 0;
    dk__cas_release(op);
    if (rc) {
        dk__wop_answer(op, rc);
    } else {
        DK_METRICS_ADD("coord_writes_total", 1);
        /* a node without its data (replacing) holds the write but is not
         * read from yet: its copy does not count */
        if (op->plan.self_pos >= 0 && op->plan.r[op->plan.self_pos].alive)
            op->acks++;
        if (replicating)
            wop_check(op);
        else
            wop_replicate(op);
    }
}

static void local_write_done(dk__job *j, int status)
{
    wop *op = (wop *)j;
    local_write_end(op, status ? status : op->res.status);
    dk__wop_unref(op);
}

/* Loop thread, posted by local_write_ready: finish the non-blocking write. */
static void local_write_posted(dk__ready *r)
{
    wop *op = (wop *)((char *)r - offsetof(wop, wrote));
    int rc;
    if (op->local_pending) {
        /* res already holds the object the replicas were sent. */
        rc = dk_store_write_finish(op->swop, NULL, NULL);
    } else if (op->took) {
        /* res.raw holds the object (taken), which did not decode. */
        rc = dk_store_write_finish(op->swop, NULL, NULL);
        if (rc == 0)
            rc = dk_object_decode(dk_buf_slice(&op->res.raw), &op->res.obj, NULL, 0);
        if (rc)
            dk_buf_reset(&op->res.raw);
    } else {
        rc = dk_store_write_finish(op->swop, &op->res.raw, &op->res.obj);
        if (rc)
            dk_buf_reset(&op->res.raw);
    }
    op->swop = NULL;
    DK_METRICS_ADD("coord_local_writes_async_total", 1);
    local_write_end(op, rc);
    dk__wop_unref(op);
}

/* An engine thread: the non-blocking local write is durable or failed. */
static void local_write_ready(void *arg)
{
    wop *op = arg;
    dk__coord_post(op->c, &op->wrote, local_write_posted);
}

/* The local write on the loop without a thread when the engine queues
 * writes (dk_store_write_start); a worker only when that would block.
 * Returns 0 when it started or ended, -EAGAIN for the worker. */
static int wop_local_async(wop *op)
{
    if (op->cas_raw.len)
        return -EAGAIN; /* a CAS merges its quorum read first: on a worker */
    dk_store_write sw = {
        .key = dk_buf_slice(&op->key),
        .value = wop_value(op),
        .tombstone = op->tombstone,
        .context = op->has_ctx ? &op->ctx : NULL,
        .context_is_map = op->ctx_is_map,
        .ttl_ms = op->ttl_ms,
        .cond = op->cond,
        .if_match = op->has_im ? &op->im : NULL,
        .type = op->type,
    };
    int rc = dk_store_write_start(op->c->node->store, &sw, dk_now_ms(), local_write_ready, op, &op->swop);
    if (rc == -EAGAIN)
        return rc;
    if (rc == 0) {
        /* The post cannot run before this returns: it needs this thread. */
        dk__coord_expect_post(op->c);
        op->refs++;
        /* The new object is known before it is durable here: send it to
         * the other replicas now, in parallel with the local fdatasync
         * (the local ack counts when it lands), rather than two syncs and
         * a round trip in series. */
        if (op->plan.n > 1) {
            /* The object the store encoded is taken, not copied: res.raw is
             * the engine's batch, the answer's object and every replica
             * frame's payload at once (the engine reads it until the post). */
            dk_store_wop_take_encoded(op->swop, &op->res.raw);
            op->took = 1;
            /* Encoded by this store a moment ago, its CRC computed from
             * these very bytes: decoded without checking it again (a 10 KiB
             * pass). Damage in between is not sealed: the CRC in the bytes
             * no longer matches, and the replicas' decode and every read
             * check it. */
            if (dk_object_decode_verified(dk_buf_slice(&op->res.raw), &op->res.obj, NULL, 0) == 0) {
                op->local_pending = 1;
                wop_replicate(op);
            } else {
                dk_object_free(&op->res.obj);
                dk_object_init(&op->res.obj);
            }
        }
        return 0;
    }
    local_write_end(op, rc);
    return 0;
}

void dk__wop_local(wop *op)
{
    if (wop_local_async(op) == 0)
        return;
    op->job.run = local_write_run;
    op->job.done = local_write_done;
    DK_METRICS_ADD("coord_writes_worker_total", 1);
    int rc = wop_keep_value(op);
    if (rc == 0)
        rc = dk__coord_job(op->c, &op->job);
    if (rc) {
        dk__cas_release(op);
        dk__wop_answer(op, rc);
        return;
    }
    op->refs++;
}

/* ---- entry points ----------------------------------------------------------- */

/* The per-replica arrays of an op (13 of its 14 KiB) are filled up to
 * their counts (plan.n, n_slots, n_used, n_pend) and never read past them:
 * a new op zeroes the rest only (calloc's zeroing was ~8 % of a
 * coordinator's instructions per PUT). */
#define WOP_SKIP(f)                                                                                          \
    {                                                                                                        \
        offsetof(wop, f), sizeof(((wop *)0)->f)                                                              \
    }
static const struct {
    size_t at, len;
} wop_skip[] = {WOP_SKIP(plan.r), WOP_SKIP(slot), WOP_SKIP(used), WOP_SKIP(pend)};
_Static_assert(offsetof(wop, plan.r) < offsetof(wop, slot) && offsetof(wop, slot) < offsetof(wop, used) &&
                   offsetof(wop, used) < offsetof(wop, pend),
               "wop_skip lists the arrays in the order of the struct");

static wop *wop_alloc(void)
{
    wop *op = malloc(sizeof(*op));
    if (!op)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < sizeof(wop_skip) / sizeof(wop_skip[0]); i++) {
        memset((char *)op + at, 0, wop_skip[i].at - at);
        at = wop_skip[i].at + wop_skip[i].len;
    }
    memset((char *)op + at, 0, sizeof(*op) - at);
    return op;
}

static int wop_new(dk_coord *c, const dk_coord_write *w, uint64_t cap_ms, dk_coord_cb cb, void *arg,
                   wop **out)
{
    if (w->key.len == 0 || w->key.len > DK_KEY_MAX || w->value.len > DK_VALUE_MAX || w->ttl_ms < 0 ||
        w->cond < DK_COND_NONE || w->cond > DK_COND_IF_NONE_MATCH || w->consistency < DK_CL_DEFAULT ||
        w->consistency > DK_CL_ALL || w->type < DK_OBJECT_PLAIN || w->type >= DK_OBJECT_TYPES ||
        (w->type == DK_OBJECT_CRDT && (w->tombstone || w->context || w->ttl_ms || w->cond != DK_COND_NONE)))
        return -EINVAL;
    if (c->stopping)
        return DK_ECLOSED;
    wop *op = wop_alloc();
    if (!op)
        return -ENOMEM;
    op->c = c;
    op->cb = cb;
    op->arg = arg;
    dk_vv_init(&op->ctx);
    dk_vv_init(&op->im);
    dk__result_init(&op->res);
    op->tombstone = w->tombstone != 0;
    op->ttl_ms = w->ttl_ms;
    op->cond = w->cond;
    op->type = w->type;
    op->strict = w->strict != 0;
    op->consistency = w->consistency == DK_CL_DEFAULT ? c->cfg->cluster.write_consistency : w->consistency;
    op->sloppy = dk__sloppy(c, op->strict);
    op->cap_ms = cap_ms;
    op->deadline_ns = dk__deadline(c, uv_hrtime(), cap_ms);
    op->has_ctx = w->context != NULL;
    op->ctx_is_map = op->has_ctx && w->context_is_map;
    op->has_im = w->cond == DK_COND_IF_MATCH && w->if_match != NULL;
    int rc = dk_buf_append(&op->key, w->key.ptr, w->key.len);
    if (!op->tombstone)
        op->value_in = w->value; /* borrowed until the start returns */
    if (rc == 0 && op->has_ctx)
        rc = dk_vv_copy(&op->ctx, w->context);
    if (rc == 0 && op->has_im)
        rc = dk_vv_copy(&op->im, w->if_match);
    /* A loop's own coordinator knows of no pending replica: the write is
     * counted in the primary's handoff state before its ring is read, so
     * a move's check that asks after this node learned of the move waits
     * for a write planned with the ring before it (handoff.c). */
    if (rc == 0 && c->primary) {
        op->loop_epoch = dk__handoff_loop_begin(c->primary);
        op->loop_held = 1;
    }
    if (rc == 0)
        rc = dk__plan_make(c, w->key, w->prefs, &op->plan);
    if (rc) {
        wop_free(op);
        return rc;
    }
    wop_plan_pending(op);
    op->needed = dk__coord_needed(op->consistency, op->plan.n);
    op->refs = 1; /* the caller's, dropped once started */
    *out = op;
    return 0;
}

/* Start an op: coordinate here or forward. Answers are always given from
 * a later callback, never from inside dk_coord_put: an answer reached
 * while starting waits for wop_launched (op->cb_due). */
static void wop_start(wop *op)
{
    int here = op->here ||
               (op->cond == DK_COND_NONE && op->plan.self_pos >= 0 && op->plan.r[op->plan.self_pos].alive);
    if (here && op->cond == DK_COND_NONE) {
        dk__wop_local(op);
        return;
    }
    if (wop_keep_value(op)) {
        dk__wop_answer(op, -ENOMEM);
        return;
    }
    if (here)
        dk__cas_lock(op);
    else
        dk__wop_forward(op);
}

/* Loop thread, from the ready list: the start has returned; deliver an
 * answer that arrived meanwhile and drop the caller's reference. */
static void wop_launched(dk__ready *r)
{
    wop *op = (wop *)((char *)r - offsetof(wop, launched));
    op->launching = 0;
    if (op->cb_due)
        op->cb(op->arg, &op->res);
    dk__wop_unref(op);
}

/* The test hook DK_TEST_WRITE_DELAY_MS (coordinator.c): the op starts
 * that long after it was planned, which widens the window between a
 * write's plan and its replication for the tests of ring moves. */
typedef struct wop_delay {
    uv_timer_t t;
    wop *op;
} wop_delay;

static void wop_delay_closed(uv_handle_t *h)
{
    free(h->data);
}

static void wop_delayed(uv_timer_t *t)
{
    wop_delay *d = t->data;
    wop *op = d->op;
    dk_coord *c = op->c;
    uv_close((uv_handle_t *)&d->t, wop_delay_closed);
    wop_start(op);
    dk__wop_unref(op);
    dk__coord_release(c);
}

static void wop_launch(wop *op)
{
    /* The caller's reference goes to the ready list, so that an op that
     * fails at once still answers after this call returned (error return =
     * callback never called; 0 = callback called later, never inline). */
    op->launching = 1;
    dk__coord_defer(op->c, &op->launched, wop_launched);
    wop_delay *d = op->c->test_write_delay_ms ? calloc(1, sizeof(*d)) : NULL;
    if (d && wop_keep_value(op) == 0 && uv_timer_init(op->c->loop, &d->t) == 0) {
        d->op = op;
        d->t.data = d;
        op->refs++;
        dk__coord_hold(op->c);
        uv_timer_start(&d->t, wop_delayed, op->c->test_write_delay_ms, 0);
        return;
    }
    free(d);
    wop_start(op);
    op->value_in = (dk_slice){NULL, 0}; /* the caller's again */
}

int dk_coord_put(dk_coord *c, const dk_coord_write *w, dk_coord_cb cb, void *arg)
{
    wop *op;
    int rc = wop_new(c, w, 0, cb, arg, &op);
    if (rc == 0)
        wop_launch(op);
    return rc;
}

int dk__coord_put_here(dk_coord *c, const dk_coord_write *w, uint64_t timeout_ms, dk_coord_cb cb, void *arg)
{
    wop *op;
    int rc = wop_new(c, w, timeout_ms, cb, arg, &op);
    if (rc)
        return rc;
    op->here = 1;
    wop_launch(op);
    return 0;
}
