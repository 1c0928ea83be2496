/*
 * http_conn.c - the socket half of the HTTP transport: listener,
 * connections, the ordered response queue, timers and graceful stop.
 *
 * Each connection keeps its exchanges (request/response pairs) in request
 * order. A response leaves only when every earlier one has been handed to
 * uv_write (libuv keeps writes on one stream in order), so a slow handler
 * holds back later answers instead of letting them overtake it. Too many
 * outstanding exchanges stop reading (TCP flow control then throttles the
 * client); the bytes already read wait in a per-connection buffer.
 *
 * Requests of one connection reach the handler one at a time: the next one
 * is parsed only after the previous response has been written. A pipelined
 * GET thus sees the PUT sent before it on the same connection, as clients
 * expect (nginx does the same); parallelism comes from connections. Unparsed
 * bytes wait in the buffer, and reading pauses once it holds HTTP_PEND_MAX.
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
 * Several loops share one listening socket (each holds a duplicate of the
 * descriptor in its own uv_tcp_t, and whichever loop is idle accepts): no
 * cross-thread hop per connection, as with a dispatcher thread, and no
 * SO_REUSEPORT, which would let a second process on the same address take
 * half of the connections instead of failing to start.
 *
 * A graceful stop lets a request that is arriving finish arriving: a
 * client in the middle of sending a PUT gets its answer, not a reset.
 *
 * HTTPS (conf.tls) hooks in at two points and leaves the rest unaware of
 * it: conn_read_cb turns what it read into plaintext first (conn_tls_in),
 * and every write goes through conn_write, which encrypts the buffers
 * into one ciphertext buffer and calls the caller's callback with the
 * caller's request when that is written. Handshake bytes and alerts go out
 * from the read side (conn_tls_send). An unfinished handshake or record
 * counts as a request still arriving (the request deadline, not the idle
 * one); the lingering close and the close paths send close_notify first.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/log.h"
#include "http/http.h"
#include "http/tls.h"

#define HTTP_READ_BUF   (64 * 1024)
#define HTTP_LINGER_MS  2000
#define HTTP_BACKLOG    511
#define HTTP_PEND_MAX   (256 * 1024)  /* unparsed bytes held before reading pauses */

enum { X_PENDING, X_READY, X_WRITING };          /* exchange states */
enum { T_NONE, T_IDLE, T_REQUEST, T_LINGER };    /* what the conn timer means */

typedef struct http_conn http_conn;

struct dk_http_exchange {
    http_conn *c;                   /* NULL once the connection is gone */
    dk_http_exchange *prev, *next;
    dk__http_req *req;              /* until the handler responds */
    int state;
    int keep_alive, http10, no_body, close;
    dk_buf head;
    void *body;
    size_t body_len;
    uv_write_t wr;
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    dk_http_server *s;
    http_conn *prev, *next;
    dk__http_parse p;
    dk_tls_conn *tls;               /* NULL: plain HTTP */
    dk_buf pend;                    /* read but not yet parsed (reading paused) */
    dk_http_exchange *xfirst, *xlast;
    uint32_t n_x;                   /* exchanges not yet fully written */
    uint32_t n_handler;             /* exchanges the handler still holds */
    int handles;
    int timer_mode;
    unsigned tls_dead : 1, reading : 1, no_more : 1, closing : 1, lingering : 1, peer_eof : 1, want_continue : 1;
};

struct dk_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    dk_http_conf conf;
    dk_http_handler handler;
    void *arg;
    http_conn *conns;
    int port;
    int stopping, listener_closed;
    void (*stop_done)(void *arg);
    void *stop_arg;
    _Atomic uint64_t accepted, open, requests, parse_errors, timeouts;
    dk_buf tls_plain;               /* plaintext of the read being handled */
    uv_buf_t tls_view;
    char rbuf[HTTP_READ_BUF];
};

static void conn_flush(http_conn *c);
static void conn_arm(http_conn *c);
static void conn_process_pend(http_conn *c);
static void conn_stop_reading(http_conn *c);

static void http_count(_Atomic uint64_t *ctr, int delta)
{
    if (delta > 0)
        atomic_fetch_add_explicit(ctr, (uint64_t)delta, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(ctr, (uint64_t)-delta, memory_order_relaxed);
}

static void http_maybe_stopped(dk_http_server *s)
{
    if (!s->stopping || !s->listener_closed || s->conns)
        return;
    void (*done)(void *) = s->stop_done;
    void *arg = s->stop_arg;
    dk_buf_free(&s->tls_plain);
    free(s);
    if (done)
        done(arg);
}

static void x_unlink(http_conn *c, dk_http_exchange *x)
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

static void x_free(dk_http_exchange *x)
{
    dk__http_req_free(x->req);
    dk_buf_free(&x->head);
    free(x->body);
    free(x);
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
    http_count(&s->open, -1);
    http_maybe_stopped(s);
}

/* Close now. Exchanges the handler holds are orphaned (responding to them
 * only frees them); writes in flight are cancelled by libuv and free their
 * exchange in conn_write_cb, before conn_close_cb runs. */
static void conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
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
        x_unlink(c, x);
        if (x->state == X_PENDING)
            x->c = NULL;
        else
            x_free(x);
    }
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

/* ---- TLS hooks (conf.tls) ---------------------------------------------- */

typedef struct tls_write {
    uv_write_t wr;
    http_conn *c;
    uv_write_t *orig;               /* the caller's request, or NULL */
    uv_write_cb cb;
    dk_buf cipher;
} tls_write;

static void tls_write_cb(uv_write_t *wr, int status)
{
    tls_write *w = wr->data;
    http_conn *c = w->c;
    uv_write_t *orig = w->orig;
    uv_write_cb cb = w->cb;
    dk_buf_free(&w->cipher);
    free(w);
    if (cb) {
        cb(orig, status);
    } else if (!c->closing && (status < 0 || c->tls_dead)) {
        conn_close(c);              /* an alert went out (or could not) */
    }
}

/* Write ciphertext the SSL produced on its own (handshake, alerts, tickets,
 * close_notify); takes out's bytes. Returns 0 or closes c. */
static int conn_tls_send(http_conn *c, dk_buf *out)
{
    if (!out->len) {
        dk_buf_free(out);
        return 0;
    }
    tls_write *w = calloc(1, sizeof(*w));
    if (!w) {
        dk_buf_free(out);
        conn_close(c);
        return -1;
    }
    w->c = c;
    w->cipher = *out;
    dk_buf_init(out);
    w->wr.data = w;
    uv_buf_t b = uv_buf_init((char *)w->cipher.data, (unsigned)w->cipher.len);
    if (uv_write(&w->wr, (uv_stream_t *)&c->tcp, &b, 1, tls_write_cb)) {
        dk_buf_free(&w->cipher);
        free(w);
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Every write of the connection: plain, or encrypted into one buffer whose
 * write completes the caller's request req (req->data is left alone). */
static int conn_write(http_conn *c, uv_write_t *req, const uv_buf_t *b, unsigned n, uv_write_cb cb)
{
    if (!c->tls)
        return uv_write(req, (uv_stream_t *)&c->tcp, b, n, cb);
    tls_write *w = calloc(1, sizeof(*w));
    if (!w)
        return UV_ENOMEM;
    w->c = c;
    w->orig = req;
    w->cb = cb;
    w->wr.data = w;
    if (dk_tls_conn_encrypt(c->tls, b, n, &w->cipher)) {
        dk_buf_free(&w->cipher);
        free(w);
        return UV_EPROTO;
    }
    uv_buf_t cb_buf = uv_buf_init((char *)w->cipher.data, (unsigned)w->cipher.len);
    int rc = uv_write(&w->wr, (uv_stream_t *)&c->tcp, &cb_buf, 1, tls_write_cb);
    if (rc) {
        dk_buf_free(&w->cipher);
        free(w);
    }
    return rc;
}

/* Decrypt what was read into the server's plaintext buffer and point *buf
 * at it. Returns the plaintext length: 0 when there is none yet (the
 * handshake goes on), -1 when c failed and is closing. */
static ssize_t conn_tls_in(http_conn *c, const uv_buf_t **buf, size_t len)
{
    dk_http_server *s = c->s;
    dk_buf out = DK_BUF_INIT;
    char err[256];
    int was_up = dk_tls_conn_established(c->tls);
    dk_buf_reset(&s->tls_plain);
    int rc = dk_tls_conn_feed(c->tls, (*buf)->base, len, &s->tls_plain, &out, err, sizeof(err));
    if (rc) {
        if (!was_up)
            dk_tls_note_failure(&c->tcp, err);
        else
            dk_log(DK_LOG_DEBUG, "TLS: closing a connection after a bad record: %s", err);
        c->tls_dead = 1;
        c->no_more = 1;
        conn_stop_reading(c);
        if (out.len)
            conn_tls_send(c, &out); /* the alert, then tls_write_cb closes */
        else
            conn_close(c);
        dk_buf_free(&out);
        return -1;
    }
    if (conn_tls_send(c, &out))
        return -1;
    s->tls_view = uv_buf_init((char *)s->tls_plain.data, (unsigned)s->tls_plain.len);
    *buf = &s->tls_view;
    if (!s->tls_plain.len)
        conn_arm(c);
    return (ssize_t)s->tls_plain.len;
}

static void conn_stop_reading(http_conn *c)
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
        conn_close(c);
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void conn_timer_cb(uv_timer_t *t);

/* Every answer is out and nothing more will be read as requests. */
static void conn_finish(http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    if (c->peer_eof) {
        conn_close(c);
        return;
    }
    c->lingering = 1;
    c->shut.data = c;
    if (c->tls) {
        dk_buf cn = DK_BUF_INIT;
        dk_tls_conn_close_notify(c->tls, &cn);
        if (conn_tls_send(c, &cn))
            return;
    }
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shutdown_cb) ||
        (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb))) {
        conn_close(c);
        return;
    }
    c->reading = 1;
    c->timer_mode = T_LINGER;
    uv_timer_start(&c->timer, conn_timer_cb, HTTP_LINGER_MS, 0);
}

static void conn_write_cb(uv_write_t *req, int status)
{
    dk_http_exchange *x = req->data;
    http_conn *c = x->c;
    x_unlink(c, x);
    x_free(x);
    c->n_x--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->no_more) {
        if (c->n_x == 0)
            conn_finish(c);
        else
            conn_arm(c);
        return;
    }
    if (c->n_handler == 0 && c->pend.len)
        conn_process_pend(c);
    if (c->closing)
        return;
    if (c->peer_eof && !c->no_more && (c->pend.len == 0 || c->n_handler == 0)) {
        /* The client is done sending and every complete request is parsed. */
        c->no_more = 1;
        c->want_continue = 0;
        if (c->n_x == 0) {
            conn_close(c);
            return;
        }
    }
    if (!c->no_more && !c->peer_eof && !c->reading && c->n_x < c->s->conf.max_pipeline && c->pend.len < HTTP_PEND_MAX) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb)) {
            conn_close(c);
            return;
        }
        c->reading = 1;
    }
    conn_arm(c);
}

static void conn_continue_cb(uv_write_t *req, int status)
{
    http_conn *c = req->data;
    free(req);
    if (status < 0)
        conn_close(c);
}

static void conn_send_continue(http_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
    if (!w) {
        conn_close(c);
        return;
    }
    w->data = c;
    if (conn_write(c, w, &b, 1, conn_continue_cb)) {
        free(w);
        conn_close(c);
    }
}

/* Hand every answer that is next in line to uv_write; then, if the request
 * being received asked for it and nothing is ahead of it, 100 Continue. */
static void conn_flush(http_conn *c)
{
    if (c->closing)
        return;
    for (dk_http_exchange *x = c->xfirst; x; x = x->next) {
        if (x->state == X_WRITING)
            continue;
        if (x->state == X_PENDING)
            return;
        int close = x->close || !x->keep_alive || (c->no_more && !x->next);
        if (dk__http_head_finish(&x->head, close, x->http10 && x->keep_alive)) {
            conn_close(c);
            return;
        }
        uv_buf_t b[2] = {uv_buf_init((char *)x->head.data, (unsigned)x->head.len),
                         uv_buf_init(x->body, (unsigned)x->body_len)};
        x->wr.data = x;
        if (conn_write(c, &x->wr, b, x->body_len ? 2 : 1, conn_write_cb)) {
            conn_close(c);
            return;
        }
        x->state = X_WRITING;
        if (close) {
            c->no_more = 1;
            c->want_continue = 0;
            conn_stop_reading(c);
            return;
        }
    }
    if (c->want_continue && !c->no_more) {
        c->want_continue = 0;
        conn_send_continue(c);
    }
}

static dk_http_exchange *conn_new_x(http_conn *c)
{
    dk_http_exchange *x = calloc(1, sizeof(*x));
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

/* Queue an answer made by this layer, after which the connection closes. */
static void conn_error(http_conn *c, int status, const char *code, const char *msg)
{
    dk_buf body = DK_BUF_INIT;
    dk_http_exchange *x = NULL;
    c->no_more = 1;
    c->want_continue = 0;
    conn_stop_reading(c);
    if (dk__http_error_json(&body, code, msg) || !(x = conn_new_x(c)) ||
        dk__http_head_start(&x->head, status, "application/json", NULL, body.len)) {
        dk_buf_free(&body);
        conn_close(c);
        return;
    }
    x->state = X_READY;
    x->close = 1;
    x->body = body.data;
    x->body_len = body.len;
    conn_flush(c);
}

static void conn_dispatch(http_conn *c)
{
    dk_http_server *s = c->s;
    dk__http_req *r = dk__http_parse_take(&c->p);
    dk_http_exchange *x = conn_new_x(c);
    if (!x) {
        dk__http_req_free(r);
        conn_close(c);
        return;
    }
    x->req = r;
    x->state = X_PENDING;
    x->keep_alive = r->pub.keep_alive;
    x->http10 = r->pub.http_minor == 0;
    x->no_body = r->pub.method == HTTP_HEAD;
    c->n_handler++;
    c->want_continue = 0;
    c->timer_mode = T_NONE;        /* the next request gets its own deadline */
    if (!x->keep_alive || s->stopping)
        c->no_more = 1;
    http_count(&s->requests, 1);
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
            conn_stop_reading(c);
            break;
        }
        size_t used;
        int rc = dk__http_parse_feed(&c->p, data + off, len - off, &used);
        off += used;
        if (rc == DK__HTTP_HEAD) {
            c->want_continue = 1;
            conn_flush(c);
        } else if (rc == DK__HTTP_REQUEST) {
            if (c->peer_eof && off == len)
                c->no_more = 1;     /* the client's last request: answer with close */
            conn_dispatch(c);
        } else if (rc < 0) {
            http_count(&c->s->parse_errors, 1);
            conn_error(c, c->p.err_status, c->p.err_code, c->p.err_msg);
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
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF || c->lingering) {
            conn_close(c);
            return;
        }
        c->peer_eof = 1;
        conn_stop_reading(c);
        if (c->pend.len && c->n_handler > 0)
            return;     /* requests still wait unparsed: conn_write_cb goes on */
        c->no_more = 1;
        c->want_continue = 0;
        if (c->n_x == 0) {
            conn_close(c);
        } else {
            conn_flush(c);
            conn_arm(c);
        }
        return;
    }
    if (c->lingering || c->no_more)
        return;                     /* discarded */
    if (c->tls && (nread = conn_tls_in(c, &buf, (size_t)nread)) <= 0)
        return;                     /* buf now holds the plaintext */
    if (c->pend.len) {
        if (dk_buf_append(&c->pend, buf->base, (size_t)nread)) {
            conn_close(c);
            return;
        }
        conn_process_pend(c);
    } else {
        size_t used = conn_process(c, buf->base, (size_t)nread);
        if (!c->closing && !c->no_more && used < (size_t)nread &&
            dk_buf_append(&c->pend, buf->base + used, (size_t)nread - used)) {
            conn_close(c);
            return;
        }
    }
    if (!c->closing && c->pend.len >= HTTP_PEND_MAX)
        conn_stop_reading(c);
    conn_arm(c);
}

/* Choose the timer for the connection's state: a deadline for a request
 * still arriving, none while the handler works, else the idle timeout. */
static void conn_arm(http_conn *c)
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
        c->timer_mode = T_NONE;
        uv_timer_stop(&c->timer);
    } else {
        c->timer_mode = T_IDLE;
        uv_timer_start(&c->timer, conn_timer_cb, cf->idle_timeout_ms, 0);
    }
}

static void conn_timer_cb(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->timer_mode == T_LINGER) {
        conn_close(c);
        return;
    }
    http_count(&c->s->timeouts, 1);
    if (c->timer_mode == T_REQUEST && c->n_x == 0)
        conn_error(c, 408, "request_timeout", "the request did not arrive in time; send it in one go");
    else
        conn_close(c);
}

static void http_on_connection(uv_stream_t *server, int status)
{
    dk_http_server *s = server->data;
    if (status < 0 || s->stopping)
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
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    http_count(&s->open, 1);
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        conn_close(c);
        return;
    }
    http_count(&s->accepted, 1);
    if (s->conf.tls && !(c->tls = dk_tls_conn_new(s->conf.tls))) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb)) {
        conn_close(c);
        return;
    }
    c->reading = 1;
    conn_arm(c);
}

/* Answer x with the body in owned (malloc'd, taken: freed here or after
 * the write) or, when owned is NULL, copied from body. */
static void x_respond(dk_http_exchange *x, int status, const char *content_type, const char *extra_headers,
                      const void *body, size_t body_len, void *owned)
{
    dk__http_req_free(x->req);
    x->req = NULL;
    http_conn *c = x->c;
    if (!c) {
        free(owned);
        x_free(x);
        return;
    }
    c->n_handler--;
    x->state = X_READY;
    if (status == 204 || status == 304)
        body_len = 0;
    if (dk__http_head_start(&x->head, status, content_type, extra_headers, body_len)) {
        free(owned);
        conn_close(c);
        return;
    }
    if (body_len && !x->no_body) {
        if (owned) {
            x->body = owned;
            owned = NULL;
        } else if ((x->body = malloc(body_len)) != NULL) {
            memcpy(x->body, body, body_len);
        } else {
            conn_close(c);
            return;
        }
        x->body_len = body_len;
    }
    free(owned);
    conn_flush(c);
    conn_arm(c);
}

void dk_http_respond(dk_http_exchange *x, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t body_len)
{
    x_respond(x, status, content_type, extra_headers, body, body_len, NULL);
}

void dk_http_respond_buf(dk_http_exchange *x, int status, const char *content_type,
                         const char *extra_headers, dk_buf *body)
{
    uint8_t *data = body->data;
    size_t len = body->len;
    dk_buf_init(body);
    x_respond(x, status, content_type, extra_headers, data, len, data);
}

void dk_http_respond_error(dk_http_exchange *x, int status, const char *code, const char *message)
{
    dk_buf b = DK_BUF_INIT;
    if (dk__http_error_json(&b, code, message))
        dk_buf_reset(&b);
    dk_http_respond(x, status, "application/json", NULL, b.data, b.len);
    dk_buf_free(&b);
}

/* "host:port" or "[v6]:port" (numeric host; empty host = any IPv4). */
static int http_parse_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[64];
    const char *colon, *hs = listen;
    size_t hl;
    if (!listen || !*listen)
        goto bad;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':')
            goto bad;
        hs = listen + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            goto bad;
        hl = (size_t)(colon - listen);
    }
    if (hl >= sizeof(host))
        goto bad;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || port > 65535)
        goto bad;
    if (uv_ip4_addr(hl ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
bad:
    snprintf(err, errlen, "bad listen address '%s': expected a numeric host and port like 127.0.0.1:8080 or [::1]:8080",
             listen ? listen : "");
    return DK_ECONFIG;
}

static void http_start_fail_cb(uv_handle_t *h)
{
    free(h->data);
}

int dk_http_server_start(uv_loop_t *loop, const dk_http_conf *conf, dk_http_handler h,
                         void *arg, dk_http_server **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int rc = conf->share ? 0 : http_parse_listen(conf->listen, &ss, err, errlen);
    if (rc)
        return rc;
    dk_http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->loop = loop;
    s->handler = h;
    s->arg = arg;
    s->conf = *conf;
    s->conf.listen = NULL;       /* not kept: the caller's string may go */
    s->conf.share = NULL;
    if (!s->conf.max_body)
        s->conf.max_body = DK_VALUE_MAX;
    if (!s->conf.max_header)
        s->conf.max_header = 16 * 1024;
    if (!s->conf.max_pipeline)
        s->conf.max_pipeline = 32;
    if (!s->conf.idle_timeout_ms)
        s->conf.idle_timeout_ms = 60000;
    if (!s->conf.request_timeout_ms)
        s->conf.request_timeout_ms = 30000;

    int one = 1, fd;
    if (conf->share) {
        uv_os_fd_t shared;
        s->port = conf->share->port;
        if ((rc = uv_fileno((const uv_handle_t *)&conf->share->listener, &shared)) != 0 ||
            (fd = fcntl(shared, F_DUPFD_CLOEXEC, 0)) < 0) {
            rc = rc ? rc : -errno;
            snprintf(err, errlen, "cannot share the listening socket of port %d: %s", s->port,
                     uv_strerror(rc));
            free(s);
            return rc;
        }
    } else {
        socklen_t alen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
            bind(fd, (struct sockaddr *)&ss, alen) || listen(fd, HTTP_BACKLOG) ||
            getsockname(fd, (struct sockaddr *)&ss, &alen)) {
            rc = -errno;
            snprintf(err, errlen, "cannot listen on %s: %s", conf->listen, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(s);
            return rc;
        }
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    if ((rc = uv_tcp_open(&s->listener, fd)) != 0)
        close(fd);
    if (rc || (rc = uv_listen((uv_stream_t *)&s->listener, HTTP_BACKLOG, http_on_connection)) != 0) {
        snprintf(err, errlen, "cannot listen on port %d: %s", s->port, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, http_start_fail_cb);
        return rc;
    }
    *out = s;
    return 0;
}

int dk_http_server_port(const dk_http_server *s)
{
    return s->port;
}

static void http_listener_closed(uv_handle_t *h)
{
    dk_http_server *s = h->data;
    s->listener_closed = 1;
    http_maybe_stopped(s);
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
            conn_arm(c);
            continue;
        }
        c->no_more = 1;
        c->want_continue = 0;
        conn_stop_reading(c);
        if (c->n_x == 0)
            conn_close(c);
        else
            conn_arm(c);
    }
    uv_close((uv_handle_t *)&s->listener, http_listener_closed);
}

void dk_http_server_stats(const dk_http_server *s, dk_http_stats *out)
{
    dk_http_server *m = (dk_http_server *)s;
    out->accepted = atomic_load_explicit(&m->accepted, memory_order_relaxed);
    out->open = atomic_load_explicit(&m->open, memory_order_relaxed);
    out->requests = atomic_load_explicit(&m->requests, memory_order_relaxed);
    out->parse_errors = atomic_load_explicit(&m->parse_errors, memory_order_relaxed);
    out->timeouts = atomic_load_explicit(&m->timeouts, memory_order_relaxed);
}
