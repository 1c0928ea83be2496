/*
 * http_conn.c - the socket half of the HTTP transport: listener,
 * connections, reading and dispatching requests, timers and graceful
 * stop. The write half (answers, their order, 100 Continue) is
 * http_write.c.
 *
 * Each connection keeps its exchanges (request/response pairs) in request
 * order. A response leaves only when every earlier one has been handed to
 * uv_write, so a slow handler holds back later answers instead of letting
 * them overtake it. Too many outstanding exchanges stop reading (TCP flow
 * control then throttles the client); the bytes already read wait in a
 * per-connection buffer.
 *
 * Requests of one connection reach the handler one at a time: the next one
 * is parsed only after the previous response has been written. A pipelined
 * GET thus sees the PUT sent before it on the same connection, as clients
 * expect (nginx does the same); parallelism comes from connections. Unparsed
 * bytes wait in the buffer, and reading pauses once it holds HTTP_PEND_MAX.
 *
 * Each connection has one timer: the request deadline while a request
 * arrives, the idle timeout between requests, the lingering close. The
 * idle timer is armed when a connection goes idle and left armed through
 * the requests that follow; when it fires it checks the time the
 * connection last went idle and re-arms for the rest (nginx's lazy timer
 * updates do the same). Re-arming it around every request cost two
 * timer-heap operations per request and no fewer wake-ups.
 *
 * Reads use one buffer per server: libuv calls alloc and read back to back
 * on the loop thread and every byte is parsed or copied before read_cb
 * returns, so one buffer serves all connections of the loop.
 *
 * A connection that must close after an answer (error, Connection: close,
 * stop) shuts down its write side and keeps reading and discarding for a
 * short while before closing ("lingering close", as nginx and Apache do):
 * closing with unread input would send a reset that can destroy the answer
 * before the client reads it, e.g. a 413 sent while the body still arrives.
 *
 * Bounded output (dk_http_limits): every answered exchange counts its
 * bytes in its connection and in the node's budget until its write
 * completes. A connection over its own bound, or one with output queued
 * while the node is over 80% of its ceiling, is neither read nor parsed:
 * its next requests wait, unparsed and in order, and the connection
 * resumes when a write of its own completes or, when the node's budget
 * held it, when the server's wake timer sees the budget drained (another
 * loop's writes may have drained it, so a timer rather than a callback).
 * Connections that owe nothing are still served; if that takes the total
 * to the ceiling, the same timer closes the readers furthest behind.
 *
 * Over the node's connection cap an accepted connection gets a 503 with
 * Connection: close and goes (lingering as any close after an answer);
 * far over it (a flood), it is closed unanswered, keeping the descriptors
 * the engine needs.
 *
 * A head check (conf.head_check, e.g. client authentication) sees each
 * request that announces a body as soon as its head is complete; when it
 * refuses, the answer goes at once, with Connection: close, and what
 * arrives of the body is discarded by the lingering close, never
 * buffered: a client without a token cannot make the node hold 1 MiB.
 *
 * A graceful stop lets a request that is arriving finish arriving: a
 * client in the middle of sending a PUT gets its answer, not a reset.
 *
 * HTTPS (conf.tls) hooks in at two points and leaves the rest unaware of
 * it: conn_read_cb turns what it read into plaintext first, and every
 * write goes through dk__http_conn_write, which encrypts (http_tls_io.c;
 * plain TCP answers are first tried with uv_try_write, http_write.c);
 * handshake bytes and alerts go out from the read side. The accounting of
 * the limits lives in http_budget.c. An unfinished handshake or record
 * counts as a request still arriving (the request deadline, not the idle
 * one); the lingering close and the close paths send close_notify first.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/metrics.h"
#include "http/http_int.h"
#include "http/tls.h"

static void conn_process_pend(http_conn *c);
static void x_pool_free(dk_http_server *s);

void dk__http_count(_Atomic uint64_t *ctr, int64_t delta)
{
    if (delta > 0)
        atomic_fetch_add_explicit(ctr, (uint64_t)delta, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(ctr, (uint64_t)-delta, memory_order_relaxed);
}

void dk__http_maybe_stopped(dk_http_server *s)
{
    if (!s->stopping || !s->listener_closed || !s->wake_closed || s->conns)
        return;
    void (*done)(void *) = s->stop_done;
    void *arg = s->stop_arg;
    dk_buf_free(&s->tls_plain);
    x_pool_free(s);
    free(s);
    if (done)
        done(arg);
}

void dk__http_x_unlink(http_conn *c, dk_http_exchange *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfirst = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        c->xlast = x->prev;
    x->prev = x->next = NULL;
}

void dk__http_x_free(dk_http_exchange *x)
{
    if (x->c && x->c->borrow == x)
        x->c->borrow = NULL;
    dk__http_req_free(x->req);
    dk_buf_free(&x->head);
    if (!x->body_borrowed)
        free(x->body);
    free(x);
}

#define X_POOL_MAX 64    /* exchanges a server keeps */
#define X_HEAD_KEEP 2048 /* ... with a head buffer up to this size */

void dk__http_x_release(dk_http_server *s, dk_http_exchange *x)
{
    if (s->n_x_free >= X_POOL_MAX || x->head.cap > X_HEAD_KEEP) {
        dk__http_x_free(x);
        return;
    }
    if (x->c && x->c->borrow == x)
        x->c->borrow = NULL;
    dk__http_req_release(&s->req_pool, x->req);
    x->req = NULL;
    if (!x->body_borrowed)
        free(x->body);
    x->body = NULL;
    x->next = s->x_free;
    s->x_free = x;
    s->n_x_free++;
}

/* A zeroed exchange: a kept one (its head buffer emptied, not freed) or
 * a new one. */
static dk_http_exchange *x_get(dk_http_server *s)
{
    dk_http_exchange *x = s->x_free;
    if (!x)
        return calloc(1, sizeof(*x));
    s->x_free = x->next;
    s->n_x_free--;
    dk_buf head = x->head;
    memset(x, 0, sizeof(*x));
    x->head = head;
    x->head.len = 0;
    return x;
}

static void x_pool_free(dk_http_server *s)
{
    dk_http_exchange *x;
    while ((x = s->x_free) != NULL) {
        s->x_free = x->next;
        dk_buf_free(&x->head);
        free(x);
    }
    s->n_x_free = 0;
    dk__http_pool_free(&s->req_pool);
}

/* Loop thread: both handles of c are closed; free it. */
static void conn_close_cb(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->handles > 0)
        return;
    dk_http_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    dk__http_parse_free(&c->p);
    dk_buf_free(&c->pend);
    dk_tls_conn_free(c->tls);
    free(c);
    dk__http_open_add(s, -1);
    dk__http_maybe_stopped(s);
}

/* Close now. Exchanges the handler holds are orphaned (responding to them
 * only frees them); writes in flight are cancelled by libuv and free their
 * exchange in http_write.c's write callback, before conn_close_cb runs. */
void dk__http_conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    dk__http_unhold(c);
    if (c->tls) {
        /* Best effort close_notify: only if nothing else waits to be
         * written (uv_try_write refuses then), so no record is cut. */
        dk_buf cn = DK_BUF_INIT;
        dk_tls_conn_close_notify(c->tls, &cn);
        if (cn.len) {
            uv_buf_t b = uv_buf_init((char *)cn.data, (unsigned)cn.len);
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        }
        dk_buf_free(&cn);
    }
    dk_http_exchange *x = c->xfirst, *next;
    for (; x; x = next) {
        next = x->next;
        if (x->state == X_WRITING)
            continue;
        dk__http_x_unlink(c, x);
        if (x->state == X_PENDING) {
            x->c = NULL;
            dk__http_count(&c->s->lim->inflight, -1);
        } else {
            dk__http_output_add(c, -(int64_t)x->out);
            dk__http_x_free(x);
        }
    }
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

void dk__http_conn_stop_reading(http_conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    http_conn *c = h->data;
    *buf = uv_buf_init(c->s->rbuf, sizeof(c->s->rbuf));
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    http_conn *c = req->data;
    if (status < 0)
        dk__http_conn_close(c);
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void conn_timer_cb(uv_timer_t *t);

/* Every answer is out and nothing more will be read as requests. */
static void conn_finish(http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    if (c->peer_eof) {
        dk__http_conn_close(c);
        return;
    }
    c->lingering = 1;
    c->shut.data = c;
    if (c->tls) {
        dk_buf cn = DK_BUF_INIT;
        dk_tls_conn_close_notify(c->tls, &cn);
        if (dk__http_tls_send(c, &cn))
            return;
    }
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shutdown_cb) ||
        (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb))) {
        dk__http_conn_close(c);
        return;
    }
    c->reading = 1;
    c->timer_mode = T_LINGER;
    uv_timer_start(&c->timer, conn_timer_cb, HTTP_LINGER_MS, 0);
}

/* 1 while c may not parse its next request yet (it waits unparsed). */
static int conn_blocked(const http_conn *c)
{
    return c->n_handler > 0 || c->n_x >= c->s->conf.max_pipeline || !dk__http_output_ok(c);
}

/* Something that held c back may have gone (a write completed, the
 * node's output drained): parse what waits, and read again if allowed. */
void dk__http_conn_resume(http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    if (c->no_more) {
        if (c->n_x == 0)
            conn_finish(c);
        else
            dk__http_conn_arm(c);
        return;
    }
    if (c->pend.len && !conn_blocked(c))
        conn_process_pend(c);
    if (c->closing)
        return;
    if (c->pend.len && c->n_handler == 0 && !dk__http_output_ok(c))
        dk__http_hold(c); /* requests wait for the node's budget */
    if (c->peer_eof && !c->no_more && (c->pend.len == 0 || !conn_blocked(c))) {
        /* The client is done sending and every complete request is parsed. */
        c->no_more = 1;
        c->want_continue = 0;
        if (c->n_x == 0) {
            dk__http_conn_close(c);
            return;
        }
    }
    if (!c->no_more && !c->peer_eof && !c->reading && c->n_x < c->s->conf.max_pipeline &&
        c->pend.len < HTTP_PEND_MAX) {
        if (!dk__http_output_ok(c)) {
            dk__http_hold(c);
        } else {
            if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb)) {
                dk__http_conn_close(c);
                return;
            }
            c->reading = 1;
        }
    }
    dk__http_conn_arm(c);
}

static dk_http_exchange *conn_new_x(http_conn *c)
{
    dk_http_exchange *x = x_get(c->s);
    if (!x)
        return NULL;
    x->c = c;
    x->prev = c->xlast;
    if (c->xlast)
        c->xlast->next = x;
    else
        c->xfirst = x;
    c->xlast = x;
    c->n_x++;
    return x;
}

/* Queue an answer made by this layer, after which the connection closes;
 * extra: NULL or "Name: value\r\n" lines. */
static void conn_error(http_conn *c, int status, const char *code, const char *msg, const char *extra)
{
    dk_buf body = DK_BUF_INIT;
    dk_http_exchange *x = NULL;
    c->no_more = 1;
    c->want_continue = 0;
    dk__http_conn_stop_reading(c);
    if (dk__http_error_json(&body, code, msg) || !(x = conn_new_x(c)) ||
        dk__http_head_start(&x->head, status, "application/json", extra, body.len)) {
        dk_buf_free(&body);
        dk__http_conn_close(c);
        return;
    }
    x->state = X_READY;
    x->close = 1;
    x->body = body.data;
    x->body_len = body.len;
    x->out = x->head.len + x->body_len;
    dk__http_output_add(c, (int64_t)x->out);
    dk__http_conn_flush(c);
}

static void conn_dispatch(http_conn *c)
{
    dk_http_server *s = c->s;
    dk__http_req *r = dk__http_parse_take(&c->p);
    dk_http_exchange *x = conn_new_x(c);
    if (!x) {
        dk__http_req_release(&s->req_pool, r);
        dk__http_conn_close(c);
        return;
    }
    x->req = r;
    x->state = X_PENDING;
    x->keep_alive = r->pub.keep_alive;
    x->http10 = r->pub.http_minor == 0;
    x->no_body = r->pub.method == HTTP_HEAD;
    c->n_handler++;
    dk__http_count(&s->lim->inflight, 1);
    dk__http_unhold(c); /* it takes a request: it waits no more */
    c->want_continue = 0;
    if (c->timer_mode == T_REQUEST)
        c->timer_mode = T_NONE; /* the next request gets its own deadline */
    if (!x->keep_alive || s->stopping)
        c->no_more = 1;
    dk__http_count(&s->requests, 1);
    s->handler(s->arg, x, &r->pub);
}

/* Parse what can be parsed now; returns the bytes used. Stops at the
 * pipeline bound (pausing reads), an error, or when no more requests are
 * accepted. Callers re-check c->closing: the handler may close things. */
static size_t conn_process(http_conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && !c->closing && !c->no_more) {
        /* One request at a time per connection: the rest waits unparsed. */
        if (c->n_handler > 0)
            break;
        if (c->n_x >= c->s->conf.max_pipeline) {
            dk__http_conn_stop_reading(c);
            break;
        }
        if (!dk__http_output_ok(c)) {
            /* Answers wait for a slow reader: stop taking requests. */
            dk__http_conn_stop_reading(c);
            dk__http_hold(c);
            break;
        }
        size_t used;
        int rc = dk__http_parse_feed(&c->p, data + off, len - off, &used);
        off += used;
        if (rc == DK__HTTP_HEAD) {
            c->want_continue = 1;
            dk__http_conn_flush(c);
        } else if (rc == DK__HTTP_REQUEST) {
            if (c->peer_eof && off == len)
                c->no_more = 1; /* the client's last request: answer with close */
            conn_dispatch(c);
        } else if (rc < 0) {
            /* An early answer (the head check refused the request) closes
             * the connection too: the body it announced is never read. */
            int early = c->p.early.status != 0;
            dk__http_count(early ? &c->s->early : &c->s->parse_errors, 1);
            conn_error(c, c->p.err_status, c->p.err_code, c->p.err_msg, early ? c->p.early.headers : NULL);
            break;
        }
    }
    return off;
}

static void conn_process_pend(http_conn *c)
{
    if (!c->pend.len)
        return;
    size_t used = conn_process(c, (const char *)c->pend.data, c->pend.len);
    if (c->closing)
        return;
    if (c->no_more)
        used = c->pend.len;
    memmove(c->pend.data, c->pend.data + used, c->pend.len - used);
    c->pend.len -= used;
    if (!c->pend.len)
        dk_buf_free(&c->pend); /* an idle connection holds no buffer */
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF || c->lingering) {
            dk__http_conn_close(c);
            return;
        }
        c->peer_eof = 1;
        dk__http_conn_stop_reading(c);
        if (c->pend.len && conn_blocked(c))
            return; /* requests still wait unparsed: conn_resume goes on */
        c->no_more = 1;
        c->want_continue = 0;
        if (c->n_x == 0) {
            dk__http_conn_close(c);
        } else {
            dk__http_conn_flush(c);
            dk__http_conn_arm(c);
        }
        return;
    }
    if (c->lingering || c->no_more)
        return; /* discarded */
    if (c->tls && (nread = dk__http_tls_in(c, &buf, (size_t)nread)) <= 0)
        return; /* buf now holds the plaintext */
    if (c->pend.len) {
        if (dk_buf_append(&c->pend, buf->base, (size_t)nread)) {
            dk__http_conn_close(c);
            return;
        }
        conn_process_pend(c);
    } else {
        size_t used = conn_process(c, buf->base, (size_t)nread);
        if (!c->closing && !c->no_more && used < (size_t)nread &&
            dk_buf_append(&c->pend, buf->base + used, (size_t)nread - used)) {
            dk__http_conn_close(c);
            return;
        }
    }
    if (!c->closing && c->pend.len >= HTTP_PEND_MAX)
        dk__http_conn_stop_reading(c);
    dk__http_conn_arm(c);
}

/* Choose the timer for the connection's state: a deadline for a request
 * still arriving, none while the handler works, else the idle timeout. */
void dk__http_conn_arm(http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    const dk_http_conf *cf = &c->s->conf;
    if ((dk__http_parse_busy(&c->p) || (c->tls && dk_tls_conn_busy(c->tls))) && !c->no_more) {
        if (c->timer_mode != T_REQUEST) {
            c->timer_mode = T_REQUEST;
            uv_timer_start(&c->timer, conn_timer_cb, cf->request_timeout_ms, 0);
        }
    } else if (c->n_handler > 0) {
        /* No deadline while a handler runs. An idle timer stays armed
         * and looks again when it fires: stopping it here and starting it
         * again after the answer were two timer-heap operations on every
         * request of a keep-alive connection. */
        if (c->timer_mode != T_IDLE) {
            c->timer_mode = T_NONE;
            uv_timer_stop(&c->timer);
        }
    } else {
        /* Idle from now: the armed timer (at most this far off) re-arms
         * itself for the rest when it fires early. */
        c->idle_since = uv_now(c->s->loop);
        if (c->timer_mode != T_IDLE) {
            c->timer_mode = T_IDLE;
            uv_timer_start(&c->timer, conn_timer_cb, cf->idle_timeout_ms, 0);
        }
    }
}

static void conn_timer_cb(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->timer_mode == T_LINGER) {
        dk__http_conn_close(c);
        return;
    }
    if (c->timer_mode == T_IDLE) {
        /* Armed lazily (dk__http_conn_arm): a handler may be running,
         * or the connection became idle again since. */
        if (c->n_handler > 0) {
            c->timer_mode = T_NONE;
            return;
        }
        uint64_t due = c->idle_since + c->s->conf.idle_timeout_ms, now = uv_now(c->s->loop);
        if (now < due) {
            uv_timer_start(&c->timer, conn_timer_cb, due - now, 0);
            return;
        }
    }
    dk__http_count(&c->s->timeouts, 1);
    if (c->timer_mode == T_REQUEST && c->n_x == 0)
        conn_error(c, 408, "request_timeout", "the request did not arrive in time; send it in one go", NULL);
    else
        dk__http_conn_close(c);
}

void dk__http_on_connection(uv_stream_t *server, int status)
{
    dk_http_server *s = server->data;
    if (status < 0) {
        if (!s->stopping)
            dk__http_accept_failed(s, status);
        return;
    }
    if (s->stopping)
        return;
    http_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    dk__http_parse_init(&c->p, s->conf.max_body, s->conf.max_header);
    c->p.pool = &s->req_pool;
    c->p.head_check = s->conf.head_check;
    c->p.head_arg = s->arg;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    dk__http_open_add(s, 1);
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        dk__http_conn_close(c);
        return;
    }
    dk__http_count(&s->accepted, 1);
    if (s->conf.tls && !(c->tls = dk_tls_conn_new(s->conf.tls))) {
        dk__http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uint64_t max = s->lim->max_connections;
    uint64_t open = atomic_load_explicit(&s->lim->open, memory_order_relaxed);
    if (max && open > max) {
        dk__http_count(&s->refused, 1);
        dk__http_count(&s->lim->refused, 1);
        DK_METRICS_ADD("http_connections_refused_total", 1);
        if (open > max + HTTP_REFUSE_SLACK || c->tls) {
            /* A flood: keep the descriptors. Over TLS nothing can be
             * said before a handshake, which is not worth its cost. */
            dk__http_conn_close(c);
            return;
        }
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "too many connections (the node serves at most %llu); retry later "
                 "or reuse a keep-alive connection",
                 (unsigned long long)max);
        conn_error(c, 503, "too_many_connections", msg, NULL);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb)) {
        dk__http_conn_close(c);
        return;
    }
    c->reading = 1;
    dk__http_conn_arm(c);
}

static void http_listener_closed(uv_handle_t *h)
{
    dk_http_server *s = h->data;
    s->listener_closed = 1;
    dk__http_maybe_stopped(s);
}

static void http_wake_closed(uv_handle_t *h)
{
    dk_http_server *s = h->data;
    s->wake_closed = 1;
    dk__http_maybe_stopped(s);
}

void dk_http_server_stop(dk_http_server *s, void (*done)(void *arg), void *arg)
{
    s->stopping = 1;
    s->stop_done = done;
    s->stop_arg = arg;
    for (http_conn *c = s->conns; c; c = c->next) {
        if (c->closing || c->lingering)
            continue;
        if (c->n_handler == 0 && !c->no_more && dk__http_parse_busy(&c->p)) {
            /* A request is arriving: conn_dispatch ends the connection
             * after it; the request timer bounds the wait. */
            dk__http_conn_arm(c);
            continue;
        }
        c->no_more = 1;
        c->want_continue = 0;
        dk__http_conn_stop_reading(c);
        if (c->n_x == 0)
            dk__http_conn_close(c);
        else
            dk__http_conn_arm(c);
    }
    uv_timer_stop(&s->wake);
    uv_close((uv_handle_t *)&s->wake, http_wake_closed);
    uv_close((uv_handle_t *)&s->listener, http_listener_closed);
}
