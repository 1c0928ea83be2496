/*
 * coordinator.c - the coordinator's lifecycle and the helpers its
 * operations share: the key's plan (preference list resolved through the
 * view), fallback selection, counted worker jobs and RPC calls, results,
 * the hints' delivery callbacks, and the local debug read.
 *
 * The operations live in coord_write.c (writes, forwarding, CAS) and
 * coord_read.c (reads, read repair); the replica side in replica.c;
 * anti-entropy in antientropy.c, started and torn down here (last, once
 * nothing else is in flight, since its final job removes the store hook).
 *
 * Every asynchronous step is counted in c->inflight so that stop can wait
 * for all of them; the alternative of cancelling operations would need
 * every RPC to be cancellable, which the transport does not offer, and
 * every RPC ends by its deadline anyway.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "base/mailbox.h"
#include "node/object.h"

/* ---- lifetime ----------------------------------------------------------- */

/* Loop thread: anti-entropy's last job ended. */
static void coord_ae_finished(void *arg)
{
    dk_coord *c = arg;
    c->ae = NULL;
}

static void coord_handle_closed(uv_handle_t *h);
static void coord_wake_closed(dk_wake *w);

static void coord_maybe_stopped(dk_coord *c)
{
    if (!c->stopping || c->inflight || !c->hints_closed)
        return;
    if (c->handles_open) {
        /* Nothing is in flight, so neither list holds anything. */
        if (!c->handles_closing) {
            c->handles_closing = 1;
            uv_close((uv_handle_t *)&c->ready_idle, coord_handle_closed);
            uv_close((uv_handle_t *)&c->ready_check, coord_handle_closed);
            dk_wake_close(&c->post_wake, coord_wake_closed);
        }
        return;
    }
    if (c->ae) {
        if (c->ae_finishing)
            return;
        c->ae_finishing = 1;
        if (dk__ae_finish(c->ae, coord_ae_finished, c) == 0)
            return; /* the job's end comes back here */
    }
    void (*done)(void *) = c->stop_done;
    void *arg = c->stop_arg;
    dk__stream_free(c);
    dk__scan_table_drop(c);
    dk__rop_pool_free(c);
    pthread_mutex_destroy(&c->post_mu);
    free(c);
    if (done)
        done(arg);
}

void dk__coord_hold(dk_coord *c)
{
    c->inflight++;
}

void dk__coord_release(dk_coord *c)
{
    c->inflight--;
    coord_maybe_stopped(c);
}

/* ---- the ready list -------------------------------------------------------- */

/* Loop thread: run every item queued so far and those they queue. Each
 * item's count is released after it ran; c outlives the loop because the
 * handles calling this are still open (coord_maybe_stopped closes them
 * only once nothing is in flight). */
static void coord_ready_run(dk_coord *c)
{
    while (c->ready_head) {
        dk__ready *r = c->ready_head;
        c->ready_head = NULL;
        c->ready_tail = NULL;
        while (r) {
            dk__ready *next = r->next; /* fn may free r */
            r->fn(r);
            dk__coord_release(c);
            r = next;
        }
    }
    uv_idle_stop(&c->ready_idle);
}

/* Loop thread: the idle handle only keeps the poll from blocking. */
static void coord_ready_idle(uv_idle_t *h)
{
    coord_ready_run(h->data);
}

/* Loop thread: after each poll. */
static void coord_ready_check(uv_check_t *h)
{
    coord_ready_run(h->data);
}

static void coord_ready_push(dk_coord *c, dk__ready *r)
{
    r->next = NULL;
    if (c->ready_tail)
        c->ready_tail->next = r;
    else
        c->ready_head = r;
    c->ready_tail = r;
    uv_idle_start(&c->ready_idle, coord_ready_idle);
}

void dk__coord_defer(dk_coord *c, dk__ready *r, void (*fn)(dk__ready *r))
{
    r->fn = fn;
    dk__coord_hold(c);
    coord_ready_push(c, r);
}

void dk__coord_post(dk_coord *c, dk__ready *r, void (*fn)(dk__ready *r))
{
    r->fn = fn;
    r->next = NULL;
    pthread_mutex_lock(&c->post_mu);
    int was_empty = c->post_head == NULL && !c->post_draining;
    if (c->post_tail)
        c->post_tail->next = r;
    else
        c->post_head = r;
    c->post_tail = r;
    pthread_mutex_unlock(&c->post_mu);
    /* The drain takes the whole list, so one wake-up per
     * empty-to-non-empty transition is enough (a dk_wake, not a uv_async:
     * base/wake.h says why), and none while the loop is draining: it
     * looks again before it stops (coord_post_drain). */
    if (was_empty)
        dk_wake_send(&c->post_wake);
}

/* At most this many takes of the list per wake-up: a writer that keeps
 * posting must not hold the loop away from its sockets. */
#define COORD_POST_ROUNDS 8

/* Loop thread: engine completions arrived. The list is taken again after
 * running what was taken, while post_draining tells posters not to wake
 * the loop: a WAL group completes its writers one by one, and each
 * completion landing after a take would otherwise cost the WAL thread an
 * eventfd write and the loop another turn (up to six per group at a
 * node's PUT peak, bench/results/nodeput-2026-12-06-s12.md). c outlives
 * the drain: its wake handle, which runs it, closes asynchronously. */
static void coord_post_drain(dk_wake *w)
{
    dk_coord *c = w->data;
    int rewake = 0;
    pthread_mutex_lock(&c->post_mu);
    for (int round = 0;; round++) {
        dk__ready *r = c->post_head;
        if (!r || round == COORD_POST_ROUNDS) {
            rewake = r != NULL; /* left for the next wake-up */
            c->post_draining = 0;
            break;
        }
        c->post_head = c->post_tail = NULL;
        c->post_draining = 1;
        pthread_mutex_unlock(&c->post_mu);
        while (r) {
            dk__ready *next = r->next;
            r->fn(r);
            if (--c->posts_expected == 0)
                dk_wake_unref(&c->post_wake);
            dk__coord_release(c);
            r = next;
        }
        pthread_mutex_lock(&c->post_mu);
    }
    pthread_mutex_unlock(&c->post_mu);
    if (rewake)
        dk_wake_send(&c->post_wake);
}

void dk__coord_expect_post(dk_coord *c)
{
    if (c->posts_expected++ == 0)
        dk_wake_ref(&c->post_wake);
    dk__coord_hold(c);
}

static void coord_handle_closed(uv_handle_t *h)
{
    dk_coord *c = h->data;
    c->handles_open--;
    coord_maybe_stopped(c);
}

static void coord_wake_closed(dk_wake *w)
{
    dk_coord *c = w->data;
    c->handles_open--;
    coord_maybe_stopped(c);
}

static void coord_job_work(uv_work_t *req)
{
    dk__job *j = (dk__job *)req;
    j->run(j);
}

static void coord_job_after(uv_work_t *req, int status)
{
    dk__job *j = (dk__job *)req;
    dk_coord *c = j->c;
    j->done(j, status);
    dk__coord_release(c);
}

int dk__coord_job(dk_coord *c, dk__job *j)
{
    j->c = c;
    int rc = uv_queue_work(c->loop, &j->req, coord_job_work, coord_job_after);
    if (rc == 0)
        dk__coord_hold(c);
    return rc;
}

typedef struct coord_call {
    dk_coord *c;
    dk_rpc_cb cb;
    void *arg;
} coord_call;

static void coord_call_done(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    coord_call *cc = arg;
    dk_coord *c = cc->c;
    cc->cb(cc->arg, status, h, body);
    free(cc);
    dk__coord_release(c);
}

int dk__coord_call_framed(dk_coord *c, const char *peer, const char *addr, uint8_t type, dk_buf *f,
                          uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    return dk__coord_call_flags(c, peer, addr, type, 0, f, deadline_ms, cb, arg);
}

int dk__coord_call_flags(dk_coord *c, const char *peer, const char *addr, uint8_t type, uint16_t flags,
                         dk_buf *f, uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    coord_call *cc = malloc(sizeof(*cc));
    if (!cc) {
        dk_buf_free(f);
        return -ENOMEM;
    }
    *cc = (coord_call){c, cb, arg};
    int rc = dk_rpc_call_flags(c->rpc, peer, addr, type, flags, f, deadline_ms, coord_call_done, cc);
    if (rc) {
        free(cc);
        return rc;
    }
    dk__coord_hold(c);
    return 0;
}

int dk__coord_call(dk_coord *c, const char *peer, const char *addr, uint8_t type, const dk_buf *body,
                   uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    coord_call *cc = malloc(sizeof(*cc));
    if (!cc)
        return -ENOMEM;
    *cc = (coord_call){c, cb, arg};
    int rc = dk_rpc_call(c->rpc, peer, addr, type, body->data, body->len, deadline_ms, coord_call_done, cc);
    if (rc) {
        free(cc);
        return rc;
    }
    dk__coord_hold(c);
    return 0;
}

/* ---- plans ---------------------------------------------------------------*/

int dk__coord_needed(int consistency, uint32_t n)
{
    switch (consistency) {
    case DK_CL_ONE: return 1;
    case DK_CL_ALL: return (int)n;
    default: return (int)(n / 2 + 1);
    }
}

int dk__sloppy(const dk_coord *c, int strict)
{
    return !strict && c->cfg->cluster.sloppy_quorum && c->hints_on;
}

uint64_t dk__deadline(const dk_coord *c, uint64_t now_ns, uint64_t cap_ms)
{
    uint64_t ms = (uint64_t)c->cfg->cluster.request_timeout;
    if (cap_ms && cap_ms < ms)
        ms = cap_ms;
    return now_ns + ms * 1000000u;
}

uint64_t dk__left_ms(uint64_t deadline_ns)
{
    uint64_t now = uv_hrtime();
    if (now >= deadline_ns)
        return 0;
    uint64_t left = (deadline_ns - now) / 1000000u;
    return left ? left : 1;
}

static void coord_fill(dk_coord *c, const dk_ring_node *rn, dk__replica *out)
{
    memset(out, 0, sizeof(*out));
    /* A plain bounded copy: this runs for every replica of every request. */
    size_t n = strnlen(rn->id, sizeof(out->id) - 1);
    memcpy(out->id, rn->id, n);
    if (strcmp(rn->id, c->self) == 0) {
        out->self = 1;
        out->alive = !c->view.readable || c->view.readable(c->view.arg);
        return;
    }
    if (c->view.peer(c->view.arg, rn->id, out->addr, sizeof(out->addr), &out->alive) != 0 || !out->addr[0])
        out->alive = 0;
}

void dk_coord_prefs_make(const dk_ring *r, int n_replicas, dk_slice key, dk_coord_prefs *p)
{
    uint32_t want = n_replicas < 0 ? 0 : (uint32_t)n_replicas;
    if (want > COORD_N_MAX)
        want = COORD_N_MAX;
    p->fingerprint = dk_ring_fingerprint(r);
    p->token = dk_ring_key_token(key.ptr, key.len);
    p->want = want;
    p->n = (uint32_t)dk_ring_preference_token(r, p->token, want, p->idx);
}

int dk__plan_make(dk_coord *c, dk_slice key, const dk_coord_prefs *prefs, dk__plan *p)
{
    /* Not the whole plan (~3 KiB of replicas for every request): r[i] is
     * filled for i < n, and nothing reads past n. */
    memset(p, 0, offsetof(dk__plan, r));
    p->self_pos = -1;
    p->ring = c->view.ring(c->view.arg);
    size_t count = p->ring ? dk_ring_node_count(p->ring) : 0;
    if (count == 0) {
        dk__plan_free(p);
        return DK_EUNAVAILABLE;
    }
    uint32_t want = (uint32_t)c->cfg->cluster.n_replicas, idx[COORD_N_MAX];
    if (want > COORD_N_MAX)
        want = COORD_N_MAX;
    p->token = dk_ring_key_token(key.ptr, key.len);
    if (prefs && prefs->n && prefs->want == want && prefs->fingerprint == dk_ring_fingerprint(p->ring) &&
        dk_token_cmp(prefs->token, p->token) == 0) {
        /* The caller's walk of the same placement: not again. */
        p->n = prefs->n;
        memcpy(idx, prefs->idx, p->n * sizeof(idx[0]));
    } else {
        p->n = (uint32_t)dk_ring_preference_token(p->ring, p->token, want, idx);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        coord_fill(c, dk_ring_node_at(p->ring, idx[i]), &p->r[i]);
        if (p->r[i].self)
            p->self_pos = (int)i;
    }
    return 0;
}

void dk__plan_free(dk__plan *p)
{
    dk_ring_unref(p->ring);
    p->ring = NULL;
}

typedef struct fallback_walk {
    dk_coord *c;
    const dk__plan *p;
    char (*used)[DK_NODE_ID_MAX + 1];
    size_t n_used;
    dk__replica *out;
    int found;
} fallback_walk;

static int fallback_visit(void *arg, uint32_t idx)
{
    fallback_walk *w = arg;
    const dk_ring_node *rn = dk_ring_node_at(w->p->ring, idx);
    if (!rn || strcmp(rn->id, w->c->self) == 0)
        return 0;
    for (uint32_t i = 0; i < w->p->n; i++)
        if (strcmp(w->p->r[i].id, rn->id) == 0)
            return 0;
    for (size_t i = 0; i < w->n_used; i++)
        if (strcmp(w->used[i], rn->id) == 0)
            return 0;
    coord_fill(w->c, rn, w->out);
    if (!w->out->alive)
        return 0;
    w->found = 1;
    return 1;
}

int dk__fallback(dk_coord *c, const dk__plan *p, char (*used)[DK_NODE_ID_MAX + 1], size_t n_used,
                 dk__replica *out)
{
    fallback_walk w = {c, p, used, n_used, out, 0};
    dk_ring_walk(p->ring, p->token, fallback_visit, &w);
    return w.found ? 0 : DK_ENOTFOUND;
}

/* ---- results ------------------------------------------------------------ */

void dk__result_init(dk_coord_result *r)
{
    memset(r, 0, sizeof(*r));
    dk_buf_init(&r->raw);
    dk_object_init(&r->obj);
}

void dk__result_free(dk_coord_result *r)
{
    dk_object_free(&r->obj);
    dk_buf_free(&r->raw);
}

int dk__result_set(dk_coord_result *r, dk_slice encoded)
{
    dk_buf_reset(&r->raw);
    int rc = dk_buf_append(&r->raw, encoded.ptr, encoded.len);
    if (rc == 0)
        rc = dk_object_decode(dk_buf_slice(&r->raw), &r->obj, NULL, 0);
    if (rc)
        dk_buf_reset(&r->raw);
    return rc;
}

/* ---- the local debug read ------------------------------------------------ */

typedef struct local_read {
    dk__job job;
    dk_buf key;
    dk_coord_result res;
    dk_coord_cb cb;
    void *arg;
} local_read;

static void local_read_run(dk__job *j)
{
    local_read *l = (local_read *)j;
    l->res.status = dk_store_get(j->c->node->store, dk_buf_slice(&l->key), &l->res.raw, &l->res.obj);
    if (l->res.status)
        dk_buf_reset(&l->res.raw);
    l->res.acks = l->res.status == 0;
    l->res.needed = l->res.replicas = 1;
}

static void local_read_done(dk__job *j, int status)
{
    local_read *l = (local_read *)j;
    if (status)
        l->res.status = status;
    l->cb(l->arg, &l->res);
    dk__result_free(&l->res);
    dk_buf_free(&l->key);
    free(l);
}

int dk_coord_get_local(dk_coord *c, dk_slice key, dk_coord_cb cb, void *arg)
{
    if (key.len == 0 || key.len > DK_KEY_MAX)
        return -EINVAL;
    if (c->stopping)
        return DK_ECLOSED;
    local_read *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    dk__result_init(&l->res);
    l->cb = cb;
    l->arg = arg;
    l->job.run = local_read_run;
    l->job.done = local_read_done;
    int rc = dk_buf_append(&l->key, key.ptr, key.len);
    if (rc == 0)
        rc = dk__coord_job(c, &l->job);
    if (rc) {
        dk_buf_free(&l->key);
        free(l);
    }
    return rc;
}

/* ---- hint delivery -------------------------------------------------------- */

/* A hint's target is reachable: up, whatever its ring status. */
static int coord_hint_target(dk_coord *c, const char *target, char *addr, size_t len, int *alive)
{
    if (c->view.up)
        return c->view.up(c->view.arg, target, addr, len, alive);
    return c->view.peer(c->view.arg, target, addr, len, alive);
}

static int coord_hint_alive(void *arg, const char *target)
{
    dk_coord *c = arg;
    char addr[DK_CONFIG_ADDR_MAX + 1];
    int alive = 0;
    return coord_hint_target(c, target, addr, sizeof(addr), &alive) == 0 && alive && addr[0];
}

typedef struct hint_send {
    dk_hints_done done;
    void *arg;
} hint_send;

static void coord_hint_sent(void *arg, int status)
{
    hint_send *s = arg;
    s->done(s->arg, status);
    free(s);
}

static int coord_hint_deliver(void *arg, const char *target, dk_slice key, dk_slice object,
                              dk_hints_done done, void *done_arg)
{
    dk_coord *c = arg;
    dk__replica rep = {0};
    snprintf(rep.id, sizeof(rep.id), "%s", target);
    if (coord_hint_target(c, target, rep.addr, sizeof(rep.addr), &rep.alive) != 0 || !rep.alive)
        return DK_EUNAVAILABLE;
    hint_send *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (hint_send){done, done_arg};
    int rc = dk__send_replica(c, &rep, key, object, "", (uint64_t)c->cfg->cluster.request_timeout,
                              coord_hint_sent, s);
    if (rc)
        free(s);
    return rc;
}

/* ---- hints kept for a loop's own coordinator ---------------------------------
 * A hop to the primary's loop (store the hint there) and back (the outcome
 * to the caller). The caller holds its coordinator until done ran, and
 * the primary stops after every loop's own, so both ends outlive it. */

typedef struct hint_hop {
    dk_mail mail;
    dk_coord *c; /* the loop's own coordinator */
    char target[DK_NODE_ID_MAX + 1];
    dk_buf key, object;
    dk_hints_done done;
    void *arg;
    int status;
} hint_hop;

/* The caller's loop: the outcome came back. */
static void hint_hop_back(void *arg)
{
    hint_hop *h = arg;
    h->done(h->arg, h->status);
    dk_buf_free(&h->key);
    dk_buf_free(&h->object);
    free(h);
}

/* The primary's loop: the hint is stored (or failed). */
static void hint_hop_stored(void *arg, int status)
{
    hint_hop *h = arg;
    h->status = status;
    if (dk_mailbox_post(h->c->own_mb, &h->mail, hint_hop_back, h) != 0) {
        /* Cannot happen while the caller holds its coordinator (its loop's
         * mailbox closes after the cluster stopped); never lose the count. */
        dk_log(DK_LOG_ERROR, "coordinator: a loop's mailbox closed under a hint in flight");
    }
}

/* The primary's loop. */
static void hint_hop_store(void *arg)
{
    hint_hop *h = arg;
    dk_coord *p = h->c->primary;
    int rc = p->hints && !p->stopping ? dk_hints_store(p->hints, h->target, dk_buf_slice(&h->key),
                                                       dk_buf_slice(&h->object), hint_hop_stored, h)
                                      : DK_ECLOSED;
    if (rc)
        hint_hop_stored(h, rc);
}

int dk__coord_hint_store(dk_coord *c, const char *target, dk_slice key, dk_slice object, dk_hints_done done,
                         void *arg)
{
    if (!c->primary)
        return c->hints ? dk_hints_store(c->hints, target, key, object, done, arg) : DK_ECLOSED;
    if (!c->hints_on)
        return DK_ECLOSED;
    hint_hop *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->c = c;
    h->done = done;
    h->arg = arg;
    snprintf(h->target, sizeof(h->target), "%s", target);
    int rc = dk_buf_append(&h->key, key.ptr, key.len);
    if (!rc)
        rc = dk_buf_append(&h->object, object.ptr, object.len);
    if (!rc)
        rc = dk_mailbox_post(c->primary_mb, &h->mail, hint_hop_store, h);
    if (rc) {
        dk_buf_free(&h->key);
        dk_buf_free(&h->object);
        free(h);
    }
    return rc;
}

/* ---- start / stop ------------------------------------------------------- */

int dk_coord_start(const dk_coord_conf *conf, dk_coord **out, char *err, size_t errlen)
{
    if (!conf->loop || !conf->node || !conf->node->store || !conf->rpc || !conf->view.ring ||
        !conf->view.peer) {
        snprintf(err, errlen, "coordinator: incomplete configuration");
        return -EINVAL;
    }
    dk_coord *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "coordinator: out of memory");
        return -ENOMEM;
    }
    c->loop = conf->loop;
    c->node = conf->node;
    c->cfg = conf->node->cfg;
    c->rpc = conf->rpc;
    c->view = conf->view;
    snprintf(c->self, sizeof(c->self), "%s", c->cfg->node.id);
    /* A test hook, never set outside the tests of ring moves
     * (tests/cluster/test_read_fence.py): every client write this node
     * coordinates starts this long after it was planned. */
    const char *delay = getenv("DK_TEST_WRITE_DELAY_MS");
    if (delay && *delay) {
        c->test_write_delay_ms = strtoull(delay, NULL, 10);
        dk_log(DK_LOG_WARN,
               "coordinator: test hook DK_TEST_WRITE_DELAY_MS: client writes start %llu ms after "
               "their plan",
               (unsigned long long)c->test_write_delay_ms);
    }
    c->hints_closed = 1;
    if (conf->primary && (!conf->primary_mb || !conf->own_mb)) {
        snprintf(err, errlen, "coordinator: a loop's own coordinator needs both mailboxes");
        free(c);
        return -EINVAL;
    }
    c->primary = conf->primary;
    c->primary_mb = conf->primary_mb;
    c->own_mb = conf->own_mb;
    if (c->primary)
        c->hints_on = c->primary->hints != NULL;
    else if (conf->hint_engine && conf->hint_ops && c->cfg->cluster.hint_window > 0) {
        dk_hints_conf hc = {
            .loop = conf->loop,
            .engine = conf->hint_engine,
            .ops = conf->hint_ops,
            .window_ms = c->cfg->cluster.hint_window,
            .interval_ms = conf->hint_replay_interval_ms,
            .arg = c,
            .alive = coord_hint_alive,
            .deliver = coord_hint_deliver,
        };
        int rc = dk_hints_open(&hc, &c->hints);
        if (rc) {
            snprintf(err, errlen, "coordinator: cannot start hinted handoff: %s", dk_strerror(rc));
            free(c);
            return rc;
        }
        c->hints_closed = 0;
        c->hints_on = 1;
    }
    int rc = dk_wake_init(&c->post_wake, c->loop, coord_post_drain);
    if (rc) {
        snprintf(err, errlen, "coordinator: %s", uv_strerror(rc));
        if (c->hints)
            dk_hints_close(c->hints, NULL, NULL);
        free(c);
        return rc;
    }
    pthread_mutex_init(&c->post_mu, NULL);
    uv_idle_init(c->loop, &c->ready_idle);
    uv_check_init(c->loop, &c->ready_check);
    c->ready_idle.data = c->ready_check.data = c->post_wake.data = c;
    uv_check_start(&c->ready_check, coord_ready_check);
    uv_unref((uv_handle_t *)&c->ready_check);
    dk_wake_unref(&c->post_wake);
    c->handles_open = 3;
    if (c->primary) {
        *out = c; /* no streaming, anti-entropy or hints of its own */
        return 0;
    }
    dk__stream_start(c);
    rc = dk__ae_start(c, &c->ae);
    if (rc) {
        /* Only out of memory or workers: run without repair (tombstones
         * are then never purged, which is safe) rather than not at all. */
        dk_log(DK_LOG_ERROR, "coordinator: anti-entropy is off: %s", dk_strerror(rc));
        c->ae = NULL;
    }
    *out = c;
    return 0;
}

static void coord_hints_closed(void *arg)
{
    dk_coord *c = arg;
    c->hints = NULL;
    c->hints_closed = 1;
    coord_maybe_stopped(c);
}

void dk_coord_stop(dk_coord *c, void (*done)(void *), void *arg)
{
    c->stopping = 1;
    c->stop_done = done;
    c->stop_arg = arg;
    if (c->ae)
        dk__ae_stop(c->ae);
    if (c->hints)
        dk_hints_close(c->hints, coord_hints_closed, c);
    dk__stream_stop(c);
    coord_maybe_stopped(c);
}
