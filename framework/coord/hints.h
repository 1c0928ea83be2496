/*
 * hints.h - hinted handoff: writes kept for a replica that could not take
 * them, stored durably and replayed when it comes back (DESIGN.md 6).
 *
 * Storage: the hints' own engine instance (a node restart keeps them).
 * Key = target node id, 0x00, big-endian 64-bit store time (ms),
 * big-endian 64-bit sequence number, then the user key; value = the encoded
 * object. Node ids never contain 0x00 and the time and sequence are fixed
 * width, so one target's hints are contiguous and in store order, and the
 * oldest are first: expiry after hint_window only ever looks at the front.
 * Hints are written with sync: a hint counts toward a write's quorum.
 *
 * Replay: a timer (every interval) looks at each target that has hints.
 * For a target the view says is alive it reads a bounded batch (HINTS_BATCH)
 * from the front, drops those older than hint_window (hints_dropped_total),
 * and delivers the others through the deliver callback, all of the batch
 * in flight at once and no more; each one acknowledged is deleted
 * (hints_replayed_total). A failed delivery ends the target's turn until
 * the next tick. For a target that is down, only expired hints are dropped.
 * The set of targets is rebuilt at open by one scan of the engine.
 *
 * Not taken: a queue in memory with a write-behind log. The engine already
 * orders keys, so the key layout is the queue.
 *
 * Threads: every function is called on the loop thread and every callback
 * runs there; engine work runs on the loop's worker pool.
 */
#ifndef DK_HINTS_H
#define DK_HINTS_H

#include <stdint.h>
#include <uv.h>
#include "dynkv/engine.h"

typedef struct dk_hints dk_hints;

/* Called when a delivery ends: status 0 = the target acknowledged. */
typedef void (*dk_hints_done)(void *arg, int status);

typedef struct dk_hints_conf {
    uv_loop_t *loop;
    dk_engine *engine; /* opened by the caller; not closed here */
    const dk_engine_ops *ops;
    int64_t window_ms;    /* hints older than this are dropped */
    uint64_t interval_ms; /* replay tick; 0 = 1000 */
    void *arg;            /* for the two callbacks */
    /* 1 when target is alive now. Loop thread. */
    int (*alive)(void *arg, const char *target);
    /* Send object for key to target; return 0 and call done(done_arg,
     * status) exactly once later, or an error and never call it. The
     * slices are valid only during the call. Loop thread. */
    int (*deliver)(void *arg, const char *target, dk_slice key, dk_slice object, dk_hints_done done,
                   void *done_arg);
} dk_hints_conf;

/* Open: start the scan that finds the targets and the replay timer.
 * Returns 0 and *out, -ENOMEM, or a uv error. Loop thread. */
int dk_hints_open(const dk_hints_conf *conf, dk_hints **out);

/*
 * Store a hint for target (a node id) holding object for key. done runs
 * once the hint is durable (status 0) or failed; it may be NULL. Returns 0
 * (done will run), or -EINVAL / -ENOMEM / DK_ECLOSED (done never runs).
 * The slices are copied. Loop thread.
 */
int dk_hints_store(dk_hints *h, const char *target, dk_slice key, dk_slice object, dk_hints_done done,
                   void *arg);

/* 1 when hints for target are stored (or being stored) and not all
 * delivered or dropped yet; 0 once a replay found none left. Loop thread. */
int dk_hints_holds(const dk_hints *h, const char *target);

/* How many hints wait to be delivered (stored and not delivered or
 * dropped, plus those being stored): the hints_pending gauge. Loop thread. */
uint64_t dk_hints_pending(const dk_hints *h);

/* Describe the targets that have hints ("12 for n2, 3 for n4") into out;
 * returns how many targets there are. Loop thread. */
size_t dk_hints_describe(const dk_hints *h, char *out, size_t len);

/* Run the replay tick at once (then every interval again), for a caller
 * that waits for hints to be delivered. Loop thread. */
void dk_hints_replay_soon(dk_hints *h);

/* Stop the timer, refuse new hints, wait for jobs and deliveries in
 * flight, free h and call done(arg) (never from inside this call).
 * Loop thread. */
void dk_hints_close(dk_hints *h, void (*done)(void *), void *arg);

#endif /* DK_HINTS_H */
