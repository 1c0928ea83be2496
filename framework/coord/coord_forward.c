/*
 * coord_forward.c - a client write that reaches a node which is not a
 * replica of the key (or a CAS that must run on the first alive replica)
 * is forwarded, whole, to the next alive replica of the preference list
 * (FORWARD_WRITE), which coordinates it and answers FORWARD_RESULT. A
 * forward that was never sent moves on to the next replica, and so does
 * one the replica refused because it is stopping or not yet started
 * (DK_ECLOSED, DK_EUNAVAILABLE: answered before anything is done with it,
 * dk_coord_on_rpc, dk__cluster_on_rpc; a rolling restart otherwise failed
 * writes forwarded to a node in its drain, before gossip marked it down);
 * one that may have been applied (timed out, broke after sending) is not
 * sent again.
 */
#include <errno.h>
#include <stdlib.h>

#include "coord/coord_int.h"
#include "base/metrics.h"

static void forward_done(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    wop *op = arg;
    if (status == 0) {
        dk_msg_forward_result fr;
        dk_msg_error e;
        if (h->type == DK_MSG_FORWARD_RESULT && dk_msg_forward_result_decode(body, &fr) == 0) {
            op->acks = (int)fr.acks;
            op->needed = (int)fr.needed;
            if (fr.has_object && dk__result_set(&op->res, fr.object) != 0)
                fr.status = DK_ECORRUPT;
            status = fr.status;
        } else if (h->type == DK_MSG_ERROR && dk_msg_error_decode(body, &e) == 0) {
            status = e.code ? e.code : DK_EUNAVAILABLE;
            if (status == DK_ECLOSED || status == DK_EUNAVAILABLE) {
                DK_METRICS_ADD("coord_forwards_refused_total", 1);
                dk__wop_forward(op); /* stopping or starting: nothing applied there */
                dk__wop_unref(op);
                return;
            }
        } else {
            status = DK_ECORRUPT;
        }
        dk__wop_answer(op, status);
    } else if (status == DK_EUNAVAILABLE || status == DK_ECONFIG || status == -EACCES ||
               status == DK_EUNSUPPORTED || status == DK_ECORRUPT) {
        /* Never sent: the next replica may coordinate it. */
        dk__wop_forward(op);
    } else {
        /* Timed out or broke after sending: the peer may have applied it,
         * so it is not sent again. */
        dk__wop_answer(op, status == DK_ETIMEOUT ? DK_ETIMEOUT : DK_EUNAVAILABLE);
    }
    dk__wop_unref(op);
}

static int wop_forward_to(wop *op, const dk__replica *to)
{
    uint64_t left = dk__left_ms(op->deadline_ns);
    if (left == 0)
        return DK_ETIMEOUT;
    dk_buf ctx = DK_BUF_INIT, im = DK_BUF_INIT, body = DK_BUF_INIT;
    /* The receiver gets a little less time than this node waits, so its
     * answer arrives before the forward's own deadline. */
    uint64_t inner = left > 20 ? left - left / 10 : left;
    dk_msg_forward_write m = {
        .key = dk_buf_slice(&op->key),
        .value = dk_buf_slice(&op->value),
        .flags = (op->tombstone ? DK_FWD_TOMBSTONE : 0) | (op->strict ? DK_FWD_STRICT : 0) |
                 (op->type == DK_OBJECT_CRDT ? DK_FWD_CRDT : 0) | (op->ctx_is_map ? DK_FWD_CONTEXT_MAP : 0),
        .ttl_ms = op->ttl_ms,
        .cond = op->cond,
        .consistency = op->consistency,
        .timeout_ms = inner,
    };
    int rc = 0;
    if (op->has_ctx && (rc = dk_vv_encode(&op->ctx, &ctx)) == 0) {
        m.flags |= DK_FWD_HAS_CONTEXT;
        m.context = dk_buf_slice(&ctx);
    }
    if (rc == 0 && op->has_im && (rc = dk_vv_encode(&op->im, &im)) == 0) {
        m.flags |= DK_FWD_HAS_IF_MATCH;
        m.if_match = dk_buf_slice(&im);
    }
    if (rc == 0)
        rc = dk_msg_forward_write_encode(&body, &m);
    if (rc == 0)
        rc = dk__coord_call(op->c, to->id, to->addr, DK_MSG_FORWARD_WRITE, &body, left, forward_done, op);
    if (rc == 0) {
        op->refs++;
        DK_METRICS_ADD("coord_forwards_total", 1);
    }
    dk_buf_free(&ctx);
    dk_buf_free(&im);
    dk_buf_free(&body);
    return rc;
}

/* Forward to the next alive replica from op->fwd_next; this node
 * coordinates a CAS write itself when it is the next alive one. */
void dk__wop_forward(wop *op)
{
    while (op->fwd_next < op->plan.n) {
        const dk__replica *r = &op->plan.r[op->fwd_next++];
        if (!r->alive)
            continue;
        if (r->self) {
            dk__cas_lock(op);
            return;
        }
        int rc = wop_forward_to(op, r);
        if (rc == 0)
            return;
        if (rc == DK_ETIMEOUT) {
            op->timed_out = 1;
            break;
        }
    }
    op->needed = dk__coord_needed(op->consistency, op->plan.n);
    dk__wop_answer(op, op->timed_out ? DK_ETIMEOUT : DK_EUNAVAILABLE);
}
