/*
 * mailbox.h - run a function on another libuv loop's thread.
 *
 * The only cross-thread libuv call is uv_async_send, which coalesces; a
 * mailbox pairs it with a mutex-protected FIFO so every posted message runs
 * exactly once, in posting order, on the owning loop. Used to hand HTTP
 * requests from extra loop threads to the cluster loop and the answers back.
 */
#ifndef DK_MAILBOX_H
#define DK_MAILBOX_H

#include <pthread.h>
#include <uv.h>

typedef struct dk_mail {
    struct dk_mail *next;
    void (*fn)(void *arg);
    void *arg;
} dk_mail;

typedef struct dk_mailbox {
    uv_async_t async;
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
