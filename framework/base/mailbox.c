/*
 * mailbox.c - see mailbox.h.
 */
#include "base/mailbox.h"
#include "dynkv/types.h"

static void mailbox_drain(uv_async_t *a)
{
    dk_mailbox *mb = a->data;
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

int dk_mailbox_init(dk_mailbox *mb, uv_loop_t *loop)
{
    mb->head = mb->tail = NULL;
    mb->closed = 0;
    pthread_mutex_init(&mb->mu, NULL);
    int rc = uv_async_init(loop, &mb->async, mailbox_drain);
    mb->async.data = mb;
    return rc;
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
    if (mb->tail)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    pthread_mutex_unlock(&mb->mu);
    uv_async_send(&mb->async);
    return 0;
}

static void mailbox_closed(uv_handle_t *h)
{
    dk_mailbox *mb = h->data;
    pthread_mutex_destroy(&mb->mu);
}

void dk_mailbox_close(dk_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    mb->closed = 1;
    pthread_mutex_unlock(&mb->mu);
    mailbox_drain(&mb->async);
    uv_close((uv_handle_t *)&mb->async, mailbox_closed);
}
