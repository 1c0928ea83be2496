/*
 * coord_send.c - one PUT_REPLICA to one replica: the object copied into
 * the frame, the replica's ACK (or ERROR) turned into a status for the
 * caller. Hints (coordinator.c), read repair (coord_repair.c) and the
 * replicas a write reaches after its answer (coord_write.c) send this
 * way; a write's own replica frames lend the encoding instead (wop_send)
 * but read their answers with the same dk__replica_ack_status.
 */
#include <errno.h>
#include <stdlib.h>

#include "coord/coord_int.h"
#include "util/strcopy.h"

typedef struct send_ctx {
    void (*cb)(void *arg, int status);
    void *arg;
} send_ctx;

void dk__replica_ack_status(int *status, const dk_frame_header *h, dk_slice body)
{
    if (*status == 0) {
        dk_msg_ack a;
        dk_msg_error e;
        if (h->type == DK_MSG_ACK && dk_msg_ack_decode(body, &a) == 0)
            *status = a.status;
        else if (h->type == DK_MSG_ERROR && dk_msg_error_decode(body, &e) == 0)
            *status = e.code ? e.code : DK_EUNAVAILABLE;
        else
            *status = DK_ECORRUPT;
    }
}

static void send_replica_done(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    send_ctx *s = arg;
    dk__replica_ack_status(&status, h, body);
    s->cb(s->arg, status);
    free(s);
}

int dk__send_replica(dk_coord *c, const dk__replica *rep, dk_slice key, dk_slice obj, const char *hint_target,
                     uint64_t deadline_ms, void (*cb)(void *arg, int status), void *arg)
{
    dk_msg_put_replica m = {.key = key, .object = obj};
    dk_strcopy(m.hint_target, sizeof(m.hint_target), hint_target);
    dk_buf body = DK_BUF_INIT;
    send_ctx *s = malloc(sizeof(*s));
    /* The object is copied once, into the frame that goes out. */
    int rc = s ? dk_rpc_frame_start(&body, key.len + obj.len + sizeof(m.hint_target) + 16) : -ENOMEM;
    if (rc == 0)
        rc = dk_msg_put_replica_encode(&body, &m);
    if (rc == 0) {
        *s = (send_ctx){cb, arg};
        rc = dk__coord_call_framed(c, rep->id, rep->addr, DK_MSG_PUT_REPLICA, &body, deadline_ms,
                                   send_replica_done, s);
    }
    if (rc)
        free(s);
    dk_buf_free(&body);
    return rc;
}
