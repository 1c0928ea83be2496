/*
 * coord_cas.c - compare-and-set writes (If-Match, If-None-Match): under a
 * per-key lock on the coordinating replica, a quorum read
 * (dk__quorum_read), then the local write that merges what the read found
 * before checking the condition, then replication as for any write
 * (coord_write.c).
 *
 * The lock table is a short list of the keys locked now, each with a FIFO
 * of waiting ops. A list rather than a hash table: it holds only keys with
 * a CAS write in flight on this node, which is a handful.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"

static void cas_begin(wop *op);

void dk__cas_release(wop *op)
{
    coord_lock *l = op->lock;
    if (!l)
        return;
    op->lock = NULL;
    wop *next = l->head;
    if (next) {
        l->head = next->lock_next;
        if (!l->head)
            l->tail = NULL;
        next->lock_next = NULL;
        next->lock = l;
        cas_begin(next);
        dk__wop_unref(next); /* the reference the wait held */
        return;
    }
    for (coord_lock **pp = &op->c->locks; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    dk_buf_free(&l->key);
    free(l);
}

static void cas_read_done(void *arg, int status, int acks, int needed, int replicas, dk_buf *raw)
{
    wop *op = arg;
    (void)replicas;
    if (status) {
        op->acks = acks;
        op->needed = needed;
        dk__cas_release(op);
        dk__wop_answer(op, status);
    } else {
        dk_buf_free(&op->cas_raw);
        op->cas_raw = *raw;
        dk_buf_init(raw);
        dk__wop_local(op);
    }
    dk__wop_unref(op);
}

/* The lock is held: read at quorum, then write. */
static void cas_begin(wop *op)
{
    if (dk__left_ms(op->deadline_ns) == 0) {
        dk__cas_release(op);
        dk__wop_answer(op, DK_ETIMEOUT);
        return;
    }
    if (dk__quorum_read(op->c, &op->plan, dk_buf_slice(&op->key), op->deadline_ns, cas_read_done, op) == 0) {
        op->refs++;
        return;
    }
    dk__cas_release(op);
    dk__wop_answer(op, -ENOMEM);
}

void dk__cas_lock(wop *op)
{
    dk_coord *c = op->c;
    for (coord_lock *l = c->locks; l; l = l->next) {
        if (l->key.len == op->key.len && memcmp(l->key.data, op->key.data, l->key.len) == 0) {
            if (l->tail)
                l->tail->lock_next = op;
            else
                l->head = op;
            l->tail = op;
            op->refs++; /* dropped by lock_release when it hands over */
            return;
        }
    }
    coord_lock *l = calloc(1, sizeof(*l));
    if (!l || dk_buf_append(&l->key, op->key.data, op->key.len) != 0) {
        free(l);
        dk__wop_answer(op, -ENOMEM);
        return;
    }
    l->next = c->locks;
    c->locks = l;
    op->lock = l;
    cas_begin(op);
}
