/*
 * session_read.c - reads that honour a session token (session_read.h).
 *
 * The ladder: the request's own consistency first (the common case: the
 * replicas already agree, one read), then quorum, then all, each as soon
 * as the one before answered with something older than the session has
 * seen; then quorum and all again every SESSION_READ_RETRY_MS until the
 * wait is over. Only dk_coord_get is used, so the coordinator's read path
 * (coord_read.c) needs no hook and read repair runs as for any read: a
 * stale replica that a session read met is repaired by that same read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord/session_read.h"
#include "node/host.h"
#include "node/object.h"
#include "util/vv.h"

typedef struct sread {
    dk_coord_session_read q;
    uint8_t key[DK_KEY_MAX];
    int *unmet;
    dk_coord_cb cb;
    void *arg;
    uint64_t deadline_ns;
    int step;  /* 0: the request's level, 1: quorum, 2: all */
    int stale; /* an answer came that was too old */
    int timer_on;
    uv_timer_t timer;
} sread;

static void sread_free_cb(uv_handle_t *h)
{
    free(h->data);
}

static void sread_free(sread *s)
{
    if (s->timer_on)
        uv_close((uv_handle_t *)&s->timer, sread_free_cb);
    else
        free(s);
}

/* The level of the current step; never below the request's own. */
static int sread_level(const sread *s)
{
    if (s->step == 2)
        return DK_CL_ALL;
    if (s->step == 1 || s->q.spilled)
        return s->q.consistency > DK_CL_QUORUM ? s->q.consistency : DK_CL_QUORUM;
    return s->q.consistency;
}

/* 1 when r's object has seen everything the session has. Also when every
 * replica answered that it has nothing at all for the key: the versions
 * the session saw were deleted and their tombstones purged (a write is
 * acknowledged only once a replica holds it, so it cannot be in flight
 * past all of them), and waiting could never end. */
static int sread_new_enough(const sread *s, const dk_coord_result *r)
{
    if (!s->q.need || s->q.need->n == 0)
        return 1;
    if (r->status == DK_ENOTFOUND && r->raw.len == 0 && s->step == 2)
        return 1;
    if (r->status != 0 && r->status != DK_ENOTFOUND)
        return 0;
    int64_t old = s->q.prune_age_ms > 0 ? dk_now_ms() - s->q.prune_age_ms / 2 : INT64_MIN;
    for (uint32_t i = 0; i < s->q.need->n; i++) {
        const dk_vv_entry *e = &s->q.need->e[i];
        if (e->time_ms > 0 && e->time_ms < old)
            continue; /* may have been pruned from the object */
        if (r->raw.len == 0 || dk_vv_get(&r->obj.vv, &e->actor) < e->counter)
            return 0;
    }
    return 1;
}

static void sread_done(void *arg, dk_coord_result *r);

/* Start the read of the current step; on a synchronous failure, answer
 * with it. */
static void sread_start(sread *s)
{
    dk_coord *c = s->q.coord(s->q.coord_arg);
    int rc = c ? dk_coord_get(c, (dk_slice){s->key, s->q.key.len}, sread_level(s), s->q.strict, sread_done, s)
               : DK_ECLOSED;
    if (rc) {
        dk_coord_result res;
        memset(&res, 0, sizeof(res));
        dk_object_init(&res.obj);
        res.status = rc;
        s->cb(s->arg, &res);
        sread_free(s);
    }
}

static void sread_retry(uv_timer_t *t)
{
    sread *s = t->data;
    s->step = 1;
    sread_start(s);
}

static void sread_done(void *arg, dk_coord_result *r)
{
    sread *s = arg;
    if (sread_new_enough(s, r)) {
        s->cb(s->arg, r);
        sread_free(s);
        return;
    }
    if (r->status == 0 || r->status == DK_ENOTFOUND) {
        s->stale = 1;
    } else if (s->step == 0) {
        s->cb(s->arg, r); /* the read failed as it would without a session */
        sread_free(s);
        return;
    }
    if (s->step < 2) {
        int was = sread_level(s);
        s->step++;
        if (s->step == 1 && sread_level(s) == was)
            s->step = 2; /* the request was at quorum already */
        sread_start(s);
        return;
    }
    uint64_t now = dk_mono_ns();
    if (now + (uint64_t)SESSION_READ_RETRY_MS * 1000000u < s->deadline_ns) {
        if (!s->timer_on) {
            if (uv_timer_init(s->q.loop, &s->timer) == 0) {
                s->timer_on = 1;
                s->timer.data = s;
            }
        }
        if (s->timer_on && uv_timer_start(&s->timer, sread_retry, SESSION_READ_RETRY_MS, 0) == 0)
            return;
    }
    if (s->stale) {
        /* Replicas answered, none new enough: refuse rather than go back. */
        dk_coord_result res;
        memset(&res, 0, sizeof(res));
        dk_object_init(&res.obj);
        res.status = DK_EUNAVAILABLE;
        res.acks = r->acks;
        res.needed = r->needed;
        res.replicas = r->replicas;
        *s->unmet = 1;
        s->cb(s->arg, &res);
    } else {
        s->cb(s->arg, r); /* the replicas' own failure */
    }
    sread_free(s);
}

int dk_coord_session_get(const dk_coord_session_read *q, int *unmet, dk_coord_cb cb, void *arg)
{
    if (q->key.len == 0 || q->key.len > DK_KEY_MAX)
        return -EINVAL;
    dk_coord *c = q->coord(q->coord_arg);
    if (!c)
        return DK_ECLOSED;
    sread *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->q = *q;
    memcpy(s->key, q->key.ptr, q->key.len);
    s->unmet = unmet;
    *unmet = 0;
    s->cb = cb;
    s->arg = arg;
    s->deadline_ns = dk_mono_ns() + q->wait_ms * 1000000u;
    int rc = dk_coord_get(c, (dk_slice){s->key, q->key.len}, sread_level(s), q->strict, sread_done, s);
    if (rc)
        free(s);
    return rc;
}
