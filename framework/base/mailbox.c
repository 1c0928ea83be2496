/*
 * mailbox.c - see mailbox.h. A post wakes the loop only when it finds the
 * FIFO empty: the loop empties it under the mutex before running what it
 * took, so a post after that finds it empty and wakes the loop again.
 */
#include "base/mailbox.h"
#include "dynkv/types.h"

static void mailbox_run(dk_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    dk_mail *m = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->mu);
    while (m) {
        dk_mail *next = m->next; /* fn may free m */
        m->fn(m->arg);
        m = next;
    }
}

static void mailbox_woken(dk_wake *w)
{
    mailbox_run(w->data);
}

int dk_mailbox_init(dk_mailbox *mb, uv_loop_t *loop)
{
    mb->head = mb->tail = NULL;
    mb->closed = 0;
    int rc = dk_wake_init(&mb->wake, loop, mailbox_woken);
    if (rc)
        return rc;
    mb->wake.data = mb;
    pthread_mutex_init(&mb->mu, NULL);
    return 0;
}

int dk_mailbox_post(dk_mailbox *mb, dk_mail *m, void (*fn)(void *), void *arg)
{
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&mb->mu);
    if (mb->closed) {
        pthread_mutex_unlock(&mb->mu);
        return DK_ECLOSED;
    }
    int first = mb->head == NULL; /* the loop has taken everything before */
    if (mb->tail)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    pthread_mutex_unlock(&mb->mu);
    if (first)
        dk_wake_send(&mb->wake);
    return 0;
}

static void mailbox_closed(dk_wake *w)
{
    dk_mailbox *mb = w->data;
    pthread_mutex_destroy(&mb->mu);
}

void dk_mailbox_close(dk_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    mb->closed = 1;
    pthread_mutex_unlock(&mb->mu);
    mailbox_run(mb);
    dk_wake_close(&mb->wake, mailbox_closed);
}
