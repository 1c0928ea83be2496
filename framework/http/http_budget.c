/*
 * http_budget.c - the HTTP transport's bounded resources (dk_http_limits):
 * the node-wide counts of open connections and of answered-but-unwritten
 * bytes, the rule that says whether a connection may take its next
 * request, and the wake timer that resumes held connections and closes
 * the slowest readers when clients that read wait for room.
 *
 * The rule (http.h says it for the caller): a connection that owes
 * nothing takes a request while the node's output plus what the requests
 * in flight will likely add stays under 3/4 of max_output_total; one that
 * owes answers stops at max_conn_output of its own, or at 5/8 of the
 * ceiling for the node. A connection stopped by the node's budget is
 * "held": the wake timer (HTTP_WAKE_MS) looks at it again, since the
 * bytes that free the budget may drain on another loop. Writes of its own
 * resume a connection stopped by its own bound (http_conn.c).
 */
#include <malloc.h>
#include <stdio.h>
#include "base/log.h"
#include "base/metrics.h"
#include "http/http_int.h"

/* What the requests being handled will likely hold: each an answer of
 * the average size, and while it is made, about twice as much again (the
 * stored object read, the value decoded from it, the answer built). */
static uint64_t http_expected(const dk_http_limits *l)
{
    return 3 * atomic_load_explicit(&l->inflight, memory_order_relaxed) *
           atomic_load_explicit(&l->avg_answer, memory_order_relaxed);
}

/* The node's queued answers plus what is being prepared are kept under
 * 3/4 of the ceiling (the rest covers what this count does not see: the
 * buffers of each connection, copies being made, allocator slack);
 * connections with output queued stop at 5/8, so that those which owe
 * nothing still find room. */
static uint64_t http_room(const dk_http_limits *l)
{
    return l->max_output_total - l->max_output_total / 4;
}

/* Connections that owe answers stop taking requests at this level. */
static uint64_t http_hold_level(const dk_http_limits *l)
{
    return l->max_output_total / 8 * 5;
}

/* Count delta bytes of output for c (and the node), and publish the
 * gauge. From the hold level on, this loop's wake timer runs: it closes
 * this loop's slowest readers when a connection of any loop waits. */
void dk__http_output_add(http_conn *c, int64_t delta)
{
    if (!delta)
        return;
    dk_http_limits *l = c->s->lim;
    c->out = (size_t)((int64_t)c->out + delta);
    dk__http_count(&l->output, delta);
    uint64_t total = atomic_load_explicit(&l->output, memory_order_relaxed);
    DK_METRICS_SET_GAUGE("http_output_queued_bytes", total);
    if (delta > 0 && total >= http_hold_level(l) && !c->s->stopping &&
        !uv_is_active((uv_handle_t *)&c->s->wake))
        uv_timer_start(&c->s->wake, dk__http_wake_cb, HTTP_WAKE_MS, HTTP_WAKE_MS);
}

void dk__http_open_add(dk_http_server *s, int delta)
{
    dk__http_count(&s->open, delta);
    dk__http_count(&s->lim->open, delta);
    DK_METRICS_SET_GAUGE("http_connections_open", atomic_load_explicit(&s->lim->open, memory_order_relaxed));
}

/* 1 when c may take its next request: it owes nothing and the node's
 * output plus what is being prepared is under the room; or its own
 * output is under its bound and the node's under 3/4 of the ceiling. */
int dk__http_output_ok(const http_conn *c)
{
    const dk_http_limits *l = c->s->lim;
    uint64_t total = atomic_load_explicit(&l->output, memory_order_relaxed);
    if (!c->out)
        return total + http_expected(l) < http_room(l);
    if (c->out >= l->max_conn_output)
        return 0;
    return total < http_hold_level(l);
}

void dk__http_unhold(http_conn *c)
{
    if (c->held) {
        c->held = 0;
        c->s->n_held--;
    }
    if (c->held_fresh) {
        c->held_fresh = 0;
        dk__http_count(&c->s->lim->waiting, -1);
    }
}

/* c stopped for output: if the node's budget (not only its own bytes)
 * holds it, the wake timer will look at it again; if it owes nothing,
 * every loop learns that someone waits for room. */
void dk__http_hold(http_conn *c)
{
    dk_http_server *s = c->s;
    if (!c->out && !c->held_fresh) {
        c->held_fresh = 1;
        dk__http_count(&s->lim->waiting, 1);
    }
    if (c->held || c->out >= s->lim->max_conn_output)
        return;
    c->held = 1;
    if (s->n_held++ == 0 && !s->stopping && !uv_is_active((uv_handle_t *)&s->wake))
        uv_timer_start(&s->wake, dk__http_wake_cb, HTTP_WAKE_MS, HTTP_WAKE_MS);
}

/* Close this loop's readers furthest behind (oldest unwritten answer
 * first, waiting over HTTP_STUCK_MS) until the node's total plus need is
 * under the room, or HTTP_EVICT_MAX went this tick. need: room a waiting
 * connection that owes nothing wants (0: none waits). */
static void http_evict(dk_http_server *s, uint64_t need)
{
    dk_http_limits *l = s->lim;
    uint64_t now = uv_now(s->loop);
    for (int n = 0; n < HTTP_EVICT_MAX && now > HTTP_STUCK_MS; n++) {
        if (atomic_load_explicit(&l->output, memory_order_relaxed) + need < http_room(l))
            break;
        http_conn *worst = NULL;
        uint64_t oldest = now - HTTP_STUCK_MS;
        for (http_conn *c = s->conns; c; c = c->next) {
            dk_http_exchange *x = c->xfirst;
            if (!c->closing && c->out && x && x->state == X_WRITING && x->t_write <= oldest) {
                worst = c;
                oldest = x->t_write;
            }
        }
        if (!worst)
            break;
        dk__http_count(&l->evicted, 1);
        DK_METRICS_ADD("http_slow_readers_closed_total", 1);
        s->evicted_unlogged++;
        s->evicted_untrimmed = 1;
        dk__http_conn_close(worst);
    }
    if (s->evicted_untrimmed && now - s->trimmed_ms >= 200) {
        /* What the closed readers held went back to malloc's free lists;
         * give the pages back to the system, at most 5 times a second. */
        s->evicted_untrimmed = 0;
        s->trimmed_ms = now;
        malloc_trim(0);
    }
    if (s->evicted_unlogged && (!s->evict_logged_ms || now - s->evict_logged_ms >= 10000)) {
        dk_log(DK_LOG_WARN,
               "http: closed %llu connection%s that did not read their answers while the node "
               "held [node] max_output_total = %llu bytes of unwritten answers",
               (unsigned long long)s->evicted_unlogged, s->evicted_unlogged == 1 ? "" : "s",
               (unsigned long long)l->max_output_total);
        s->evicted_unlogged = 0;
        s->evict_logged_ms = now ? now : 1;
    }
}

/* Loop thread, every HTTP_WAKE_MS while connections are held or the
 * node's output is over the hold level: close the slowest readers when a
 * connection owing nothing (on any loop) waits for room, resume those the
 * node's budget lets go. */
void dk__http_wake_cb(uv_timer_t *t)
{
    dk_http_server *s = t->data;
    dk_http_limits *l = s->lim;
    http_conn *c, *next;
    uint64_t need = 0;
    if (atomic_load_explicit(&l->waiting, memory_order_relaxed))
        need = http_expected(l) + atomic_load_explicit(&l->avg_answer, memory_order_relaxed);
    http_evict(s, need);
    for (c = s->conns; c && s->n_held; c = next) {
        next = c->next;
        if (c->held && (c->closing || dk__http_output_ok(c))) {
            dk__http_unhold(c);
            dk__http_conn_resume(c);
        }
    }
    if (!s->n_held && atomic_load_explicit(&l->output, memory_order_relaxed) < http_hold_level(l))
        uv_timer_stop(&s->wake);
}

/* accept() failed (EMFILE, ENFILE, ...): libuv has already accepted and
 * closed what waited in the backlog with its reserve descriptor, so there
 * is no busy loop; say so at most once per 10 s. */
void dk__http_accept_failed(dk_http_server *s, int status)
{
    dk__http_count(&s->lim->accept_errors, 1);
    DK_METRICS_ADD("http_accept_errors_total", 1);
    uint64_t now = uv_now(s->loop);
    if (s->accept_err_logged_ms && now - s->accept_err_logged_ms < 10000)
        return;
    s->accept_err_logged_ms = now ? now : 1;
    dk_log(DK_LOG_WARN,
           "http: cannot accept a connection: %s (%llu open); pending connections are dropped "
           "until descriptors free up: lower [node] max_connections or raise the descriptor limit",
           uv_strerror(status),
           (unsigned long long)atomic_load_explicit(&s->lim->open, memory_order_relaxed));
}
