/*
 * mailbox.h - run a function on another libuv loop's thread.
 *
 * A mutex-protected FIFO, so every posted message runs exactly once, in
 * posting order, on the owning loop, and a dk_wake (base/wake.h) to wake
 * that loop: sent only when a post makes the FIFO non-empty, so a burst of
 * posts costs one write(2) and one wake-up. Not uv_async: libuv 1.44's
 * loop spins in uv_async's callback path while a sender that was
 * preempted between its two steps is off the CPU (wake.h). Used to hand
 * HTTP requests from extra loop threads to the cluster loop and the
 * answers back, hints between coordinators, and RPC relays between loops.
 */
#ifndef DK_MAILBOX_H
#define DK_MAILBOX_H

#include <pthread.h>
#include <uv.h>
#include "base/wake.h"

typedef struct dk_mail {
    struct dk_mail *next;
    void (*fn)(void *arg);
    void *arg;
} dk_mail;

typedef struct dk_mailbox {
    dk_wake wake;
    pthread_mutex_t mu;
    dk_mail *head, *tail;
    int closed;
} dk_mailbox;

/* Initialise on the owning loop's thread. */
int dk_mailbox_init(dk_mailbox *mb, uv_loop_t *loop);

/* Any thread. m is caller-owned storage (usually embedded in the message's
 * own struct) and must stay valid until fn runs. Returns DK_ECLOSED once
 * the mailbox is closing; fn then never runs. */
int dk_mailbox_post(dk_mailbox *mb, dk_mail *m, void (*fn)(void *), void *arg);

/* Owning loop's thread: refuse new posts, run what is queued, close the
 * handle. */
void dk_mailbox_close(dk_mailbox *mb);
#endif
