/*
 * coord_read.c - client reads and the quorum read of compare-and-set:
 * R replicas are asked first, this node's own copy first when it holds
 * the key (read from memory on the loop), then the preference list in
 * order; the caller is answered after R answers with their
 * reconciliation. A replica that fails, holds a damaged copy or does not
 * answer within half of what is left of request_timeout (while another
 * could still be asked) is replaced by the next one. When the R answers
 * disagree (different bytes, missing on some, damaged), and on
 * [cluster] read_repair_percent of client reads, every other live
 * replica is asked too, and once all have answered or failed the stale
 * ones get the reconciled object (read repair, delivered by
 * coord_repair.c). X-Consistency: all asks every replica, as before.
 * Semantics in coordinator.h.
 *
 * R first, rather than all N at once as Dynamo and Riak do, saves N-R
 * replica reads (RPCs, engine lookups, 10 KiB copies) on every read whose
 * replicas agree, which is nearly every read; the price is that a slow
 * replica among the R delays the answer until the half-deadline gives up
 * on it, and replicas outside the R are repaired only by the sampled
 * reads, hints and anti-entropy (Cassandra's read_repair_chance trade).
 *
 * Digest reads (Cassandra's data + digest read): when this node's own
 * copy is among the R (it is read first), the other replicas of a client
 * read are asked only for a digest of their copy (GET_REPLICA with
 * DK_FRAME_DIGEST, rpc_frame.h), compared with the same digest of the own
 * copy: when all are equal (found everywhere or missing everywhere), the
 * read is answered from the own copy and no remote copy crosses the
 * wire. Any difference (a digest or a presence that differs, a damaged
 * copy, a digest read that failed, the own read failing) falls back to
 * full reads of every live replica, then the reconciliation and read
 * repair below, as when full answers disagree. A node that does not know
 * the flag answers with the whole copy: such an answer is taken as any
 * full answer (compared byte for byte). Sampled reads
 * (read_repair_percent), X-Consistency: all, CAS reads and reads of a key
 * this node holds no copy of read in full as before.
 *
 * Reconciliation folds the answers with the resolvers' merge on the loop
 * (pure and bounded by max_siblings, or by the CRDT state limit), the
 * resolver chosen per object type (node/resolve.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coord/coord_int.h"
#include "node/host.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "node/resolve.h"
#include "node/store.h"

/* RR_DAMAGED: the replica's copy is there but unreadable (a corrupt block
 * or object, DK_ECORRUPT). It is no answer, so the read waits for the
 * other replicas as for a failure, and it is repaired like a missing
 * copy: the replica's store replaces a damaged copy by the one sent.
 * RR_IDLE: not asked. RR_DIGEST: a digest read's answer not yet compared
 * with the own copy (dfound, digest); RR_SAME: one found equal to it, an
 * answer without bytes (the own copy stands for it). */
enum { RR_PENDING = 0, RR_FOUND, RR_MISSING, RR_FAILED, RR_DAMAGED, RR_IDLE, RR_DIGEST, RR_SAME };

typedef struct rop rop;

/* A reply's encoding is raw, or, for this node's own copy read from
 * memory, lent by the store (pin set): lent points into the engine's
 * memory until dk_store_release, and raw stays empty. */
typedef struct rreply {
    rop *op;
    dk__replica rep;
    int state;
    int dasked, dfound; /* asked for a digest; the digest answer found the key */
    uint64_t digest;
    dk_buf raw;
    dk_slice lent;
    void *pin;
    dk_object obj;
} rreply;

struct rop {
    dk__job job; /* the local read */
    dk_coord *c;
    dk_coord_cb cb;  /* client read */
    dk__read_cb icb; /* CAS quorum read */
    void *arg;
    uint64_t deadline_ns;
    uint32_t n;
    int self_pos;
    uint8_t order[COORD_N_MAX]; /* the order replicas are asked in */
    dk_buf key;
    int needed, answered, timed_out, repair;
    int ask_all;  /* every replica is (being) asked */
    int digest;   /* the other replicas are asked for digests (header comment) */
    int mine_set; /* mine holds the own copy's digest (hashed once per read) */
    uint64_t mine;
    int launching, cb_due;
    int local_rc; /* the local read's outcome, set on the worker */
    unsigned refs;
    dk_coord_result res;
    void *res_pin;      /* res.raw is a lent copy (not owned) until released */
    dk__ready launched; /* the start's end, on the ready list */
    uint32_t cap;       /* replies there is room for (ROP_POOL_CAP when pooled) */
    rop *pool_next;     /* in c->rop_pool */
    dk_object spare;    /* a finished object's arrays, for the next read (rop_keep) */
    rreply rr[];        /* n of them: a read of one replica allocates one */
};

/* Finished reads of up to ROP_POOL_CAP replicas go back to their
 * coordinator's pool (at most ROP_POOL_MAX, with their key buffer and one
 * decoded object's arrays) and the next read takes one: the op, its key
 * and the decoded copy's version vector and sibling array are four
 * allocations a GET no longer makes. A coordinator lives on one loop, so its pool needs no
 * lock; dk__rop_pool_free empties it when the coordinator goes. */
#define ROP_POOL_CAP 3u
#define ROP_POOL_MAX 64u

/* The reply's encoding, owned or lent. */
static dk_slice rr_raw(const rreply *r)
{
    return r->pin ? r->lent : dk_buf_slice(&r->raw);
}

/* o's arrays become op's spare when it has none (emptied: no value is
 * reachable through them), else are freed; o is left empty. */
static void rop_keep(rop *op, dk_object *o)
{
    if (!op->spare.vv.e && !op->spare.sib) {
        op->spare = *o;
        op->spare.vv.n = 0;
        op->spare.n_sib = 0;
    } else {
        dk_object_free(o);
    }
    dk_object_init(o);
}

/* Drop the reply's encoding (its decoded object must go first). */
static void rr_raw_free(rreply *r)
{
    if (r->pin) {
        dk_store_release(r->op->c->node->store, r->pin);
        r->pin = NULL;
        r->lent = (dk_slice){NULL, 0};
    }
    dk_buf_free(&r->raw);
}

static void rop_free(rop *op)
{
    for (uint32_t i = 0; i < op->n; i++) {
        rop_keep(op, &op->rr[i].obj);
        rr_raw_free(&op->rr[i]);
    }
    rop_keep(op, &op->res.obj);
    if (op->res_pin) {
        dk_buf_init(&op->res.raw); /* not ours: lent */
        dk_store_release(op->c->node->store, op->res_pin);
    }
    dk__result_free(&op->res);
    dk_coord *c = op->c;
    if (op->cap == ROP_POOL_CAP && c->rop_pooled < ROP_POOL_MAX) {
        op->pool_next = c->rop_pool;
        c->rop_pool = op;
        c->rop_pooled++;
        return;
    }
    dk_object_free(&op->spare);
    dk_buf_free(&op->key);
    free(op);
}

void dk__rop_pool_free(dk_coord *c)
{
    while (c->rop_pool) {
        rop *op = c->rop_pool;
        c->rop_pool = op->pool_next;
        dk_object_free(&op->spare);
        dk_buf_free(&op->key);
        free(op);
    }
    c->rop_pooled = 0;
}

static int rop_count(const rop *op, int state)
{
    int k = 0;
    for (uint32_t i = 0; i < op->n; i++)
        k += op->rr[i].state == state;
    return k;
}

/* Merge every found answer into out (encoded). Returns 0 with out empty
 * when nothing was found. */
static int rop_reconcile(rop *op, dk_buf *out)
{
    const dk_resolvers *rs = &op->c->node->resolvers;
    dk_buf acc = DK_BUF_INIT, next = DK_BUF_INIT;
    dk_object merged; /* decoded from acc once there is a merge */
    dk_object_init(&merged);
    const rreply *first = NULL;
    int rc = 0;
    dk_buf_reset(out);
    for (uint32_t i = 0; i < op->n && rc == 0; i++) {
        const rreply *r = &op->rr[i];
        if (r->state != RR_FOUND)
            continue;
        if (!first) {
            first = r;
            continue;
        }
        if (acc.len)
            rc = dk_resolve_merge(rs, dk_buf_slice(&acc), &merged, rr_raw(r), &r->obj, &next);
        else
            rc = dk_resolve_merge(rs, rr_raw(first), &first->obj, rr_raw(r), &r->obj, &next);
        if (rc == 0) {
            dk_buf tmp = acc;
            acc = next;
            next = tmp;
            rc = dk_object_decode(dk_buf_slice(&acc), &merged, NULL, 0);
        }
    }
    if (rc == 0 && first)
        rc = acc.len ? dk_buf_append(out, acc.data, acc.len)
                     : dk_buf_append(out, rr_raw(first).ptr, rr_raw(first).len);
    dk_object_free(&merged);
    dk_buf_free(&acc);
    dk_buf_free(&next);
    return rc;
}

/* The result is valid only during the callback (coordinator.h), and
 * nothing reads op->res after it (a read repair works from the replies):
 * a lent copy's pin on the engine's memory is given back at once rather
 * than when the last replica asked has answered or timed out. */
static void rop_deliver(rop *op)
{
    if (op->cb)
        op->cb(op->arg, &op->res);
    else
        op->icb(op->arg, op->res.status, op->res.acks, op->res.needed, op->res.replicas, &op->res.raw);
    if (op->res_pin) {
        rop_keep(op, &op->res.obj);
        dk_buf_init(&op->res.raw); /* not ours: lent */
        dk_store_release(op->c->node->store, op->res_pin);
        op->res_pin = NULL;
    }
}

static int rreply_same(const rreply *a, const rreply *b)
{
    dk_slice x = rr_raw(a), y = rr_raw(b);
    return x.len == y.len && memcmp(x.ptr, y.ptr, x.len) == 0;
}

/* The index of a reply that found the key when every reply that found it
 * holds the same bytes (the reconciliation is that copy), or -1. */
static int rop_pick(const rop *op)
{
    int pick = -1;
    for (uint32_t i = 0; i < op->n; i++) {
        if (op->rr[i].state != RR_FOUND)
            continue;
        if (pick < 0)
            pick = (int)i;
        else if (!rreply_same(&op->rr[pick], &op->rr[i]))
            return -1;
    }
    return pick;
}

/* Whether the answers so far agree: no damaged copy, and the key found
 * with the same bytes everywhere or missing everywhere. */
static int rop_agree(const rop *op)
{
    if (rop_count(op, RR_DAMAGED))
        return 0;
    int found = rop_count(op, RR_FOUND);
    return found == 0 || (rop_count(op, RR_MISSING) == 0 && rop_pick(op) >= 0);
}

static void rop_answer(rop *op, int status)
{
    if (op->answered)
        return;
    op->answered = 1;
    op->res.acks = rop_count(op, RR_FOUND) + rop_count(op, RR_MISSING) + rop_count(op, RR_SAME);
    op->res.needed = op->needed;
    op->res.replicas = (int)op->n;
    /* Every replica asked has answered the same and no other is asked:
     * nothing to repair. */
    if (!op->ask_all && rop_count(op, RR_PENDING) == 0 && rop_agree(op))
        op->repair = 0;
    int only = rop_pick(op);
    if (status == 0 && only >= 0 && (op->n == 1 || !op->repair)) {
        /* The answers agree and no read repair is to come: the copy is
         * the result as it is; move it rather than copy and decode it
         * again. */
        rreply *r = &op->rr[only];
        dk_buf_free(&op->res.raw);
        dk_object_free(&op->res.obj);
        if (r->pin) { /* lent: shown through res.raw, released once delivered */
            op->res.raw = (dk_buf){(uint8_t *)r->lent.ptr, r->lent.len, 0};
            op->res_pin = r->pin;
            r->pin = NULL;
            r->lent = (dk_slice){NULL, 0};
        } else {
            op->res.raw = r->raw;
            dk_buf_init(&r->raw);
        }
        op->res.obj = r->obj;
        dk_object_init(&r->obj);
        r->state = RR_MISSING; /* nothing left to reconcile or repair from */
        if (op->cb) {
            op->res.now_ms = dk_now_ms();
            if (!dk_store_is_live(&op->res.obj, op->res.now_ms))
                status = DK_ENOTFOUND;
        }
    } else if (status == 0) {
        dk_buf merged = DK_BUF_INIT;
        status = rop_reconcile(op, &merged);
        if (status == 0 && merged.len)
            status = dk__result_set(&op->res, dk_buf_slice(&merged));
        dk_buf_free(&merged);
        /* A CAS read hands the encoding on; a client wants visibility. */
        if (status == 0 && op->cb) {
            op->res.now_ms = dk_now_ms();
            if (!op->res.raw.len || !dk_store_is_live(&op->res.obj, op->res.now_ms))
                status = DK_ENOTFOUND;
        }
    } else {
        DK_METRICS_ADD("coord_unavailable_total", 1);
    }
    op->res.status = status;
    if (op->launching)
        op->cb_due = 1;
    else
        rop_deliver(op);
}

static int rop_ask_next(rop *op);

/* Leave digest reads: the replicas that answered with a digest are asked
 * again, in full, with the others (rop_widen). */
static void rop_undigest(rop *op)
{
    op->digest = 0;
    for (uint32_t i = 0; i < op->n; i++)
        if (op->rr[i].state == RR_DIGEST || op->rr[i].state == RR_SAME)
            op->rr[i].state = RR_IDLE;
}

/* Every replica not asked yet is asked now (read repair). */
static void rop_widen(rop *op)
{
    if (op->digest)
        rop_undigest(op);
    if (op->ask_all)
        return;
    op->ask_all = 1;
    DK_METRICS_ADD("coord_reads_widened_total", 1);
    while (rop_ask_next(op))
        ;
}

/* Compare the digest answers with the own copy once it is read: equal
 * ones become answers (RR_SAME); any difference, a damaged copy or a
 * failed digest read, or the own read failing, falls back to full reads
 * of every live replica. After a fall back, a digest answer still coming
 * in is asked for again in full. */
static void rop_digests(rop *op)
{
    if (!op->digest) {
        int again = 0;
        for (uint32_t i = 0; i < op->n; i++)
            if (op->rr[i].state == RR_DIGEST) {
                op->rr[i].state = RR_IDLE;
                again = 1;
            }
        if (again && op->ask_all)
            while (rop_ask_next(op))
                ;
        return;
    }
    const rreply *self = &op->rr[op->self_pos];
    if (self->state == RR_PENDING || self->state == RR_IDLE)
        return; /* not read yet, or on a worker: the digests wait for it */
    int own = self->state == RR_FOUND || self->state == RR_MISSING, differ = !own, asked = 0;
    /* rop_check runs at every answer: the own copy is hashed at the first
     * comparison only, not once per digest answer. */
    if (self->state == RR_FOUND && !op->mine_set) {
        dk_slice raw = rr_raw(self);
        op->mine = XXH3_64bits(raw.ptr, raw.len);
        op->mine_set = 1;
    }
    uint64_t mine = op->mine;
    for (uint32_t i = 0; i < op->n; i++) {
        rreply *r = &op->rr[i];
        asked |= r->dasked;
        if (r->state == RR_DIGEST && own && r->dfound == (self->state == RR_FOUND) &&
            (!r->dfound || r->digest == mine))
            r->state = RR_SAME;
        else if (r->state == RR_DIGEST || (r->dasked && (r->state == RR_FAILED || r->state == RR_DAMAGED)))
            differ = 1;
    }
    if (!differ)
        return;
    if (!asked) { /* the own read failed before any digest was asked */
        op->digest = 0;
        return;
    }
    DK_METRICS_ADD("coord_digest_mismatches_total", 1);
    rop_widen(op);
}

static void rop_check(rop *op)
{
    rop_digests(op);
    while (!op->answered) {
        int answers = rop_count(op, RR_FOUND) + rop_count(op, RR_MISSING) + rop_count(op, RR_SAME),
            pending = rop_count(op, RR_PENDING) + rop_count(op, RR_DIGEST);
        if (answers >= op->needed) {
            if (op->repair && !rop_agree(op))
                rop_widen(op);
            rop_answer(op, 0);
        } else if (answers + pending < op->needed && rop_ask_next(op)) {
            rop_digests(op);
            continue;              /* one more asked in place of a failure */
        } else if (pending == 0) { /* final counts, as for writes */
            rop_answer(op, op->timed_out ? DK_ETIMEOUT : DK_EUNAVAILABLE);
        }
        return;
    }
}

/* ---- read repair ------------------------------------------------------------ */

static void rop_repair(rop *op)
{
    dk_coord *c = op->c;
    if (!op->repair || c->stopping || rop_count(op, RR_FOUND) == 0)
        return;
    dk_buf final = DK_BUF_INIT;
    if (rop_reconcile(op, &final) != 0 || final.len == 0) {
        dk_buf_free(&final);
        return;
    }
    for (uint32_t i = 0; i < op->n; i++) {
        rreply *r = &op->rr[i];
        dk_slice have = rr_raw(r);
        if (r->state == RR_FAILED || r->state == RR_PENDING || r->state == RR_IDLE || r->state == RR_DIGEST ||
            r->state == RR_SAME ||
            (r->state == RR_FOUND && have.len == final.len && memcmp(have.ptr, final.data, final.len) == 0))
            continue;
        dk__repair_replica(c, &r->rep, dk_buf_slice(&op->key), dk_buf_slice(&final));
    }
    dk_buf_free(&final);
}

static void rop_unref(rop *op)
{
    if (--op->refs)
        return;
    if (!op->answered)
        rop_answer(op, op->timed_out ? DK_ETIMEOUT : DK_EUNAVAILABLE);
    rop_repair(op);
    rop_free(op);
}

/* ---- answers ---------------------------------------------------------------- */

static void rreply_set(rreply *r, int status)
{
    if (status == 0 && r->raw.len)
        status = dk_object_decode(dk_buf_slice(&r->raw), &r->obj, NULL, 0);
    if (status == 0)
        r->state = RR_FOUND;
    else if (status == DK_ENOTFOUND)
        r->state = RR_MISSING;
    else if (status == DK_ECORRUPT) {
        dk_log(DK_LOG_WARN,
               "coordinator: replica %s%s holds a damaged copy of a key; reading the others and "
               "repairing it",
               r->rep.id, r->rep.self ? " (this node)" : "");
        DK_METRICS_ADD("coord_damaged_copies_total", 1);
        r->state = RR_DAMAGED;
    } else {
        if (status == DK_ETIMEOUT)
            r->op->timed_out = 1;
        dk_log(DK_LOG_DEBUG, "coordinator: replica %s did not answer a read: %s", r->rep.id,
               dk_strerror(status));
        r->state = RR_FAILED;
    }
    if (r->state != RR_FOUND)
        rr_raw_free(r);
}

static void remote_read_done(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    rreply *r = arg;
    rop *op = r->op;
    if (status == 0 && h->type == DK_MSG_REPLICA_VALUE && (h->flags & DK_FRAME_DIGEST)) {
        /* a digest answer; found or missing it is compared in rop_digests */
        dk_msg_replica_digest d;
        status = dk_msg_replica_digest_decode(body, &d) == 0 ? d.status : DK_ECORRUPT;
        if (status == 0 || status == DK_ENOTFOUND) {
            r->state = RR_DIGEST;
            r->dfound = status == 0;
            r->digest = d.digest;
            rop_check(op);
            rop_unref(op);
            return;
        }
    } else if (status == 0) {
        /* A full answer, also to a digest read from a node that does not
         * know DK_FRAME_DIGEST: compared byte for byte as any other. */
        dk_msg_replica_value v;
        dk_msg_error e;
        if (h->type == DK_MSG_REPLICA_VALUE && dk_msg_replica_value_decode(body, &v) == 0) {
            status = v.status;
            if (v.has_object && dk_buf_append(&r->raw, v.object.ptr, v.object.len) != 0)
                status = -ENOMEM;
        } else if (h->type == DK_MSG_ERROR && dk_msg_error_decode(body, &e) == 0) {
            status = e.code ? e.code : DK_EUNAVAILABLE;
        } else {
            status = DK_ECORRUPT;
        }
    }
    rreply_set(r, status);
    rop_check(op);
    rop_unref(op);
}

static void local_read_run(dk__job *j)
{
    rop *op = (rop *)j;
    rreply *r = &op->rr[op->self_pos];
    op->local_rc = dk_store_get(j->c->node->store, dk_buf_slice(&op->key), &r->raw, &r->obj);
}

/* The local read's outcome rc into its reply (raw and obj already filled
 * and decoded on success). Loop thread. */
static void rop_local_settle(rop *op, int rc)
{
    rreply *r = &op->rr[op->self_pos];
    if (rc == 0) {
        r->state = RR_FOUND;
    } else {
        /* A miss (404) keeps the spare arrays it was handed, as a hit does. */
        rop_keep(op, &r->obj);
        rreply_set(r, rc);
    }
}

static void local_read_done(dk__job *j, int status)
{
    rop *op = (rop *)j;
    rop_local_settle(op, status ? status : op->local_rc);
    rop_check(op);
    rop_unref(op);
}

/* rop_ask: the replica answered before the call returned (the local store
 * from memory); no reference is held for it. */
#define ROP_ANSWERED 1

/* Ask replica i. Returns 0 (an answer will come), ROP_ANSWERED, or an
 * error (the replica failed). Loop thread. */
static int rop_ask(rop *op, uint32_t i)
{
    rreply *r = &op->rr[i];
    dk_coord *c = op->c;
    if (r->rep.self && r->rep.alive) {
        /* From memory on the loop when the engine can; a worker only when
         * the read needs the disk. */
        DK_METRICS_ADD("replica_reads_total", 1);
        /* A client read borrows the engine's copy (no 10 KiB copy out of
         * a cached block); a CAS read takes the encoding away, so it
         * gets its own. */
        int rc =
            op->cb ? dk_store_try_get_lent(c->node->store, dk_buf_slice(&op->key), &r->lent, &r->obj, &r->pin)
                   : DK_EUNSUPPORTED;
        if (rc == DK_EUNSUPPORTED)
            rc = dk_store_try_get(c->node->store, dk_buf_slice(&op->key), &r->raw, &r->obj);
        if (rc != -EAGAIN) {
            rop_local_settle(op, rc);
            return ROP_ANSWERED;
        }
        DK_METRICS_ADD("coord_local_reads_worker_total", 1);
        op->job.run = local_read_run;
        op->job.done = local_read_done;
        return dk__coord_job(c, &op->job);
    }
    if (!r->rep.alive)
        return DK_EUNAVAILABLE;
    uint64_t left = dk__left_ms(op->deadline_ns);
    if (left == 0)
        return DK_ETIMEOUT;
    /* While another replica could take its place, a replica gets half of
     * what is left: a slow one is then replaced in time. */
    for (uint32_t k = 0; k < op->n && !op->ask_all; k++)
        if (op->rr[k].state == RR_IDLE && op->rr[k].rep.alive) {
            left = left / 2 ? left / 2 : 1;
            break;
        }
    /* A digest read while the own copy is (being) read and can be compared. */
    int own = op->digest ? op->rr[op->self_pos].state : RR_FAILED;
    r->dasked = own == RR_FOUND || own == RR_MISSING || own == RR_PENDING;
    dk_buf f = DK_BUF_INIT;
    dk_msg_get_replica m = {.key = dk_buf_slice(&op->key)};
    int rc = dk_rpc_frame_start(&f, op->key.len + 8);
    if (rc == 0)
        rc = dk_msg_get_replica_encode(&f, &m);
    if (rc == 0)
        rc = dk__coord_call_flags(c, r->rep.id, r->rep.addr, DK_MSG_GET_REPLICA,
                                  r->dasked ? DK_FRAME_DIGEST : 0, &f, left, remote_read_done, r);
    else
        dk_buf_free(&f);
    if (rc == 0 && r->dasked)
        DK_METRICS_ADD("coord_digest_reads_total", 1);
    return rc;
}

/* Loop thread, from the ready list: the start has returned. */
static void rop_launched(dk__ready *r)
{
    rop *op = (rop *)((char *)r - offsetof(rop, launched));
    op->launching = 0;
    if (op->cb_due)
        rop_deliver(op);
    rop_unref(op);
}

/* Ask the next replica not asked yet, in op->order; one that fails at
 * once is settled and the next tried. Returns 1 when one was asked (or
 * answered at once), 0 when none is left. */
static int rop_ask_next(rop *op)
{
    for (uint32_t k = 0; k < op->n; k++) {
        uint32_t i = op->order[k];
        if (op->rr[i].state != RR_IDLE)
            continue;
        op->rr[i].state = RR_PENDING;
        int e = rop_ask(op, i);
        if (e == 0)
            op->refs++;
        if (e == 0 || e == ROP_ANSWERED)
            return 1;
        rreply_set(&op->rr[i], e);
    }
    return 0;
}

/* Whether this read samples every replica for repair: percent % of reads,
 * from a generator private to the loop thread. */
static int rop_sampled(int percent)
{
    static _Thread_local uint64_t x;
    if (percent <= 0)
        return 0;
    if (percent >= 100)
        return 1;
    if (!x)
        x = uv_hrtime() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (int)(x % 100) < percent;
}

/* Start asking: every replica for X-Consistency: all or a sampled read,
 * else R of them (rop_check asks more when needed). The caller's
 * reference goes to the ready list so that the answer always comes after
 * the caller returned, as for writes. */
static int rop_start(rop *op)
{
    op->launching = 1;
    op->refs = 1;
    dk__coord_defer(op->c, &op->launched, rop_launched);
    uint32_t k = 0;
    if (op->self_pos >= 0)
        op->order[k++] = (uint8_t)op->self_pos;
    for (uint32_t i = 0; i < op->n; i++)
        if ((int)i != op->self_pos)
            op->order[k++] = (uint8_t)i;
    op->ask_all =
        (uint32_t)op->needed >= op->n || (op->repair && rop_sampled(op->c->cfg->cluster.read_repair_percent));
    /* Digest reads for a client read that reads its own copy first. */
    op->digest = op->cb && op->repair && !op->ask_all && op->self_pos >= 0 && op->rr[op->self_pos].rep.alive;
    if (op->ask_all)
        while (rop_ask_next(op))
            ;
    rop_check(op);
    return 0;
}

/* A client read's deadline, from the loop's time rather than a clock
 * read: a read answered from this node's memory never looks at it. The
 * loop's time is behind by what this loop turn has run so far, and the
 * deadline earlier by as much (request_timeout is seconds). */
static uint64_t rop_deadline(const dk_coord *c)
{
    return dk__deadline(c, uv_now(c->loop) * 1000000u, 0);
}

static int rop_new(dk_coord *c, const dk__plan *p, dk_slice key, uint64_t deadline_ns, rop **out)
{
    if (key.len == 0 || key.len > DK_KEY_MAX)
        return -EINVAL;
    if (c->stopping)
        return DK_ECLOSED;
    rop *op;
    uint32_t cap = p->n <= ROP_POOL_CAP ? ROP_POOL_CAP : p->n;
    if (cap == ROP_POOL_CAP && c->rop_pool) {
        op = c->rop_pool;
        c->rop_pool = op->pool_next;
        c->rop_pooled--;
        dk_buf key_buf = op->key;
        dk_object spare = op->spare;
        /* the replies past p->n are never read (every loop stops at n) */
        memset(op, 0, sizeof(*op) + p->n * sizeof(rreply));
        key_buf.len = 0;
        op->key = key_buf;
        op->spare = spare;
    } else if (!(op = calloc(1, sizeof(*op) + cap * sizeof(rreply)))) {
        return -ENOMEM;
    } else {
        dk_object_init(&op->spare);
    }
    op->cap = cap;
    op->c = c;
    op->deadline_ns = deadline_ns;
    op->n = p->n;
    op->self_pos = p->self_pos;
    dk__result_init(&op->res);
    for (uint32_t i = 0; i < p->n; i++) {
        op->rr[i].op = op;
        op->rr[i].rep = p->r[i];
        op->rr[i].state = RR_IDLE;
        dk_object_init(&op->rr[i].obj);
    }
    if (p->n) { /* the spare arrays to the replica read first (rop_start) */
        op->rr[p->self_pos >= 0 ? p->self_pos : 0].obj = op->spare;
        dk_object_init(&op->spare);
    }
    if (dk_buf_append(&op->key, key.ptr, key.len) != 0) {
        rop_free(op);
        return -ENOMEM;
    }
    *out = op;
    return 0;
}

int dk_coord_get(dk_coord *c, dk_slice key, int consistency, int strict, dk_coord_cb cb, void *arg)
{
    return dk_coord_get_prefs(c, key, consistency, strict, NULL, cb, arg);
}

int dk_coord_get_prefs(dk_coord *c, dk_slice key, int consistency, int strict, const dk_coord_prefs *prefs,
                       dk_coord_cb cb, void *arg)
{
    (void)strict; /* reads use the preference list only, either way */
    if (consistency < DK_CL_DEFAULT || consistency > DK_CL_ALL || key.len == 0 || key.len > DK_KEY_MAX)
        return -EINVAL;
    if (c->stopping)
        return DK_ECLOSED;
    dk__plan p;
    int rc = dk__plan_make(c, key, prefs, &p);
    if (rc)
        return rc;
    rop *op;
    rc = rop_new(c, &p, key, rop_deadline(c), &op);
    if (rc == 0) {
        if (consistency == DK_CL_DEFAULT)
            consistency = c->cfg->cluster.read_consistency;
        op->needed = dk__coord_needed(consistency, p.n);
        op->cb = cb;
        op->arg = arg;
        op->repair = 1;
        DK_METRICS_ADD("coord_reads_total", 1);
        rc = rop_start(op);
    }
    dk__plan_free(&p);
    return rc;
}

int dk__quorum_read(dk_coord *c, const dk__plan *p, dk_slice key, uint64_t deadline_ns, dk__read_cb cb,
                    void *arg)
{
    rop *op;
    int rc = rop_new(c, p, key, deadline_ns, &op);
    if (rc)
        return rc;
    op->needed = dk__coord_needed(DK_CL_QUORUM, p->n);
    op->icb = cb;
    op->arg = arg;
    return rop_start(op);
}
