/*
 * coord_write_int.h - what the client write's files share: the write op
 * (coord_write.c: its lifetime, replication, the local write, the entry
 * points), compare-and-set's per-key lock and quorum read (coord_cas.c),
 * and forwarding to a replica (coord_forward.c). Internal to
 * framework/coord; loop thread only.
 */
#ifndef DK_COORD_WRITE_INT_H
#define DK_COORD_WRITE_INT_H

#include "coord/coord_int.h"
#include "node/store.h"

enum { SLOT_PENDING = 0, SLOT_ACKED, SLOT_FAILED };

typedef struct wop wop;

typedef struct wslot {
    wop *op;
    dk__replica owner; /* the preference-list replica */
    int state;
} wslot;

/* One replica send: the owner itself or a fallback holding a hint. */
typedef struct wsend {
    wslot *slot;
    dk__replica to;
    int hinted;
} wsend;

typedef struct coord_lock {
    struct coord_lock *next;
    dk_buf key;
    wop *head, *tail; /* waiters, FIFO */
} coord_lock;

struct wop {
    dk__job job; /* the local write */
    dk_coord *c;
    dk_coord_cb cb;
    void *arg;
    uint64_t deadline_ns, cap_ms;
    dk__plan plan;
    dk_buf key, value;
    dk_vv ctx, im;
    int has_ctx, ctx_is_map, has_im, tombstone, cond, strict, consistency, here;
    int type; /* DK_OBJECT_* */
    int64_t ttl_ms;
    int needed, acks, answered, timed_out, sloppy;
    int too_big;           /* a replica refused the object's size (DK_ETOOBIG) */
    int local_pending;     /* replicating while the local write is in flight */
    int launching, cb_due; /* an answer reached while starting waits */
    unsigned refs;         /* steps in flight that point at the op */
    dk_coord_result res;
    wslot slot[COORD_N_MAX];
    uint32_t n_slots;
    char used[2 * COORD_N_MAX][DK_NODE_ID_MAX + 1]; /* fallbacks already asked */
    size_t n_used;
    uint32_t fwd_next;  /* next plan index to forward to */
    coord_lock *lock;   /* held (CAS) */
    wop *lock_next;     /* in a lock's waiter list */
    dk_buf cas_raw;     /* what the quorum read found (CAS) */
    dk__ready launched; /* the start's end, on the ready list */
    dk__ready wrote;    /* the non-blocking local write's end, posted */
    dk_store_wop *swop; /* that write while in flight */
    /* The key's pending replicas, taken with the plan, and the handoff
     * count held for them from then until the op ends (handoff.c). */
    dk_coord_pending pend[COORD_N_MAX];
    uint32_t n_pend;
    int pend_held;
    uint64_t pend_epoch;
    int loop_held; /* counted in the primary's handoff state (a loop's own coordinator) */
    uint64_t loop_epoch;
};

/* coord_write.c */
/* Answer the client once (later calls do nothing). */
void dk__wop_answer(wop *op, int status);
/* Drop one reference; the last answers if nobody did and frees op. */
void dk__wop_unref(wop *op);
/* Write here: on the loop when the engine queues writes, else a worker;
 * then replicate. */
void dk__wop_local(wop *op);

/* coord_cas.c */
/* Take the key's CAS lock (queued behind the holder), then read at quorum
 * and write. */
void dk__cas_lock(wop *op);
/* Release op's lock, if held, to the next waiter. */
void dk__cas_release(wop *op);

/* coord_forward.c */
/* Forward to the next alive replica of the plan (or coordinate a CAS here
 * when this node is that replica); answers the client when none is left. */
void dk__wop_forward(wop *op);

#endif /* DK_COORD_WRITE_INT_H */
