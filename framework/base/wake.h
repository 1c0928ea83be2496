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
 * uv_poll, and two flags. dk_wake_send sets "pending" and writes the
 * eventfd only when the loop may be asleep: "polling" is set by a
 * uv_prepare (the last phase before the loop's poll) and cleared by a
 * uv_check (the first after it), and both of them also run cb when
 * "pending" is set. A send to a loop that is running its callbacks
 * (the usual case at load: a WAL group completing while the loop parses
 * requests) is then one atomic store and no system call on either side;
 * the loop sees it at its next prepare or check. Callers that queue work
 * send only on an empty-to-non-empty transition of their own queue, as
 * the coordinator's post list does; several sends before cb runs make
 * one callback.
 *
 * Why no wake-up is lost: the sender stores pending then loads polling,
 * the loop's prepare stores polling then exchanges pending (all four
 * sequentially consistent). If the sender read polling as clear, the
 * prepare's store came later, so its exchange sees pending and runs cb
 * before the poll; if the prepare's exchange found pending clear, the
 * sender's store came later, so it reads polling set and writes the
 * eventfd, which the poll sees. (A send while the loop is not in uv_run
 * at all is run by the first prepare of the next uv_run.)
 */
#ifndef DK_WAKE_H
#define DK_WAKE_H

#include <stdatomic.h>
#include <uv.h>

typedef struct dk_wake dk_wake;
struct dk_wake {
    uv_poll_t poll;
    uv_prepare_t prepare; /* sets polling, runs cb if pending */
    uv_check_t check;     /* clears polling, runs cb if pending */
    atomic_int pending;   /* a send since cb last ran */
    atomic_int polling;   /* the loop may be in (or about to enter) its poll */
    int handles;          /* open handles while closing */
    int rfd, wfd;         /* the same eventfd, or a pipe's two ends */
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
 * before it runs): two atomic operations, a counter
 * (wake_writes_total or wake_writes_skipped_total) and, when the loop may
 * be asleep, one write(2). Not async-signal-safe (the counter). */
void dk_wake_send(dk_wake *w);

/* Loop thread. */
void dk_wake_ref(dk_wake *w);
void dk_wake_unref(dk_wake *w);

/* Loop thread: stop and close; closed(w) (may be NULL) runs once the
 * handle is closed and the descriptors are gone. No send may follow. */
void dk_wake_close(dk_wake *w, void (*closed)(dk_wake *w));
#endif
