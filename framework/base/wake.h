/*
 * wake.h - wake a libuv loop from another thread without uv_async's spin.
 *
 * uv_async_send (libuv 1.44) marks the handle "sending", writes the
 * loop's eventfd, then marks it "sent"; the loop, woken by that write,
 * spins (up to ~1000 pauses, then sched_yield) until it sees "sent". On a
 * machine with fewer cores than busy threads the sender is often
 * preempted right after its write woke the loop, and the loop then burns
 * its time slice spinning: profiles of a 3-node cluster under quorum PUTs
 * on 2 cores showed 2-3 % of all server CPU in that spin, fed by the
 * engine's write completions (one per fsync group, from the WAL thread).
 *
 * A dk_wake is an eventfd (a pipe where there is none) watched by a
 * uv_poll: dk_wake_send writes it, the loop's callback reads it empty
 * and runs cb. Sends are not coalesced here beyond what the kernel
 * counter does (several sends before the loop runs make one callback);
 * callers that queue work send only on an empty-to-non-empty transition
 * of their own queue, as the coordinator's post list does.
 */
#ifndef DK_WAKE_H
#define DK_WAKE_H

#include <uv.h>

typedef struct dk_wake dk_wake;
struct dk_wake {
    uv_poll_t poll;
    int rfd, wfd; /* the same eventfd, or a pipe's two ends */
    void (*cb)(dk_wake *w);
    void (*closed)(dk_wake *w);
    void *data; /* the caller's */
};

/* Loop thread: set w up on loop; cb(w) runs on that loop after sends.
 * The handle is referenced (keeps uv_run going) like any active handle;
 * dk_wake_ref/unref change that. Returns 0, or a negative errno/uv code
 * with nothing left open. */
int dk_wake_init(dk_wake *w, uv_loop_t *loop, void (*cb)(dk_wake *w));

/* Any thread: make cb run on the loop soon (once for any number of sends
 * before it runs). Async-signal-safe: one write(2). */
void dk_wake_send(dk_wake *w);

/* Loop thread. */
void dk_wake_ref(dk_wake *w);
void dk_wake_unref(dk_wake *w);

/* Loop thread: stop and close; closed(w) (may be NULL) runs once the
 * handle is closed and the descriptors are gone. No send may follow. */
void dk_wake_close(dk_wake *w, void (*closed)(dk_wake *w));
#endif
