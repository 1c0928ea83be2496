/*
 * http_write.c - the write half of an HTTP connection: a handler's answer
 * (dk_http_respond and friends) becomes the head and body of its exchange,
 * and dk__http_conn_flush sends every answer that is next in line, in
 * request order, then a 100 Continue when the request being received
 * asked for one and nothing is ahead of it.
 *
 * An answer waits while an earlier exchange of its connection is still at
 * its handler (libuv keeps the writes of one stream in order, so handing
 * answers to it in order is enough). Plain TCP answers of a connection in
 * its simple state are first tried with uv_try_write (conn_write_now);
 * what is left, and everything under TLS, goes through
 * dk__http_conn_write (http_tls_io.c), which encrypts when it must. An
 * answer whose body is borrowed from the handler is written at once or
 * copied before dk_http_respond returns, never read after. Every answer
 * counts its bytes in the connection's and the node's output budget
 * (http_budget.c) from the response to the end of its write; a completed
 * write may let a held connection read again (dk__http_conn_resume).
 * The rest of the connection (reading, parsing, timers, close) is
 * http_conn.c. Loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "http/http_int.h"

/* x's body was borrowed from the caller of dk_http_respond and x will be
 * written later: copy it, and point the n buffers of b that lay in the
 * borrowed body at the copy. 0 or -ENOMEM. */
static int x_keep_body(dk_http_exchange *x, uv_buf_t *b, unsigned n)
{
    char *old = x->body, *copy = malloc(x->body_len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, old, x->body_len);
    for (unsigned i = 0; i < n; i++)
        if (b[i].base >= old && b[i].base < old + x->body_len)
            b[i].base = copy + (b[i].base - old);
    x->body = copy;
    x->body_borrowed = 0;
    if (x->c && x->c->borrow == x)
        x->c->borrow = NULL;
    return 0;
}

/* x has left (or its write failed): off c's queue, out of the budgets, freed. */
static void x_written(http_conn *c, dk_http_exchange *x)
{
    dk__http_x_unlink(c, x);
    dk__http_output_add(c, -(int64_t)x->out);
    dk__http_x_release(c->s, x);
    c->n_x--;
}

/* Loop thread: the uv_write of an answer completed. */
static void conn_write_cb(uv_write_t *req, int status)
{
    dk_http_exchange *x = req->data;
    http_conn *c = x->c;
    x_written(c, x);
    if (c->closing)
        return;
    if (status < 0) {
        dk__http_conn_close(c);
        return;
    }
    dk__http_conn_resume(c);
}

/* Loop thread: the 100 Continue was written. */
static void conn_continue_cb(uv_write_t *req, int status)
{
    http_conn *c = req->data;
    free(req);
    if (status < 0)
        dk__http_conn_close(c);
}

static void conn_send_continue(http_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
    if (!w) {
        dk__http_conn_close(c);
        return;
    }
    w->data = c;
    if (dk__http_conn_write(c, w, &b, 1, conn_continue_cb)) {
        free(w);
        dk__http_conn_close(c);
    }
}

/* Write x now, when c is plain TCP in its simple state (reading, nothing
 * unparsed, no close to follow): uv_try_write (one writev), and when it
 * took everything x is done and freed here. libuv's write request would
 * cost more than the write: its completion runs a loop turn later and
 * re-registers the socket with epoll (an epoll_ctl per answer). Returns
 * 1 when x is gone; 0 to go on with uv_write, b[0..*n) advanced past what
 * was written. libuv refuses (EAGAIN) while earlier writes are queued, so
 * answers keep their order. */
static int conn_write_now(http_conn *c, dk_http_exchange *x, int close, uv_buf_t *b, unsigned *n)
{
    if (c->tls || close || c->pend.len || !c->reading || c->peer_eof || c->held)
        return 0;
    int w = uv_try_write((uv_stream_t *)&c->tcp, b, *n);
    if (w <= 0)
        return 0; /* EAGAIN, or an error uv_write will report */
    size_t left = (size_t)w;
    unsigned m = 0;
    for (unsigned i = 0; i < *n; i++) {
        if (left >= b[i].len) {
            left -= b[i].len;
            continue;
        }
        b[m++] = uv_buf_init(b[i].base + left, (unsigned)(b[i].len - left));
        left = 0;
    }
    *n = m;
    if (m)
        return 0;
    x_written(c, x);
    return 1;
}

/* Loop thread. Hand every answer that is next in line to uv_write; then, if the request
 * being received asked for it and nothing is ahead of it, 100 Continue. */
void dk__http_conn_flush(http_conn *c)
{
    if (c->closing)
        return;
    dk_http_exchange *next;
    for (dk_http_exchange *x = c->xfirst; x; x = next) {
        next = x->next;
        if (x->state == X_WRITING)
            continue;
        if (x->state == X_PENDING)
            return;
        int close = x->close || !x->keep_alive || (c->no_more && !x->next);
        if (dk__http_head_finish(&x->head, close, x->http10 && x->keep_alive)) {
            dk__http_conn_close(c);
            return;
        }
        uv_buf_t b[2] = {uv_buf_init((char *)x->head.data, (unsigned)x->head.len),
                         uv_buf_init(x->body, (unsigned)x->body_len)};
        unsigned nb = x->body_len ? 2 : 1;
        if (conn_write_now(c, x, close, b, &nb))
            continue;
        if (x->body_borrowed && x_keep_body(x, b, nb)) {
            dk__http_conn_close(c);
            return;
        }
        x->wr.data = x;
        x->t_write = uv_now(c->s->loop);
        if (dk__http_conn_write(c, &x->wr, b, nb, conn_write_cb)) {
            dk__http_conn_close(c);
            return;
        }
        x->state = X_WRITING;
        if (close) {
            c->no_more = 1;
            c->want_continue = 0;
            dk__http_conn_stop_reading(c);
            return;
        }
    }
    if (c->want_continue && !c->no_more) {
        c->want_continue = 0;
        conn_send_continue(c);
    }
}

/* Answer x with the body in owned (malloc'd, taken: freed here or after
 * the write) or, when owned is NULL, copied from body. */
static void x_respond(dk_http_exchange *x, int status, const char *content_type, const char *extra_headers,
                      const void *body, size_t body_len, void *owned)
{
    http_conn *c = x->c;
    dk__http_req_release(c ? &c->s->req_pool : NULL, x->req);
    x->req = NULL;
    if (!c) {
        free(owned);
        dk__http_x_free(x);
        return;
    }
    c->n_handler--;
    dk__http_count(&c->s->lim->inflight, -1);
    x->state = X_READY;
    if (status == 204 || status == 304)
        body_len = 0;
    if (dk__http_head_start(&x->head, status, content_type, extra_headers, body_len)) {
        free(owned);
        dk__http_conn_close(c);
        return;
    }
    if (body_len && !x->no_body) {
        if (owned) {
            x->body = owned;
            owned = NULL;
        } else {
            /* Borrowed: an answer written at once (conn_write_now) is
             * never copied; one that waits is, before this returns. */
            x->body = (void *)body;
            x->body_borrowed = 1;
            c->borrow = x;
        }
        x->body_len = body_len;
    }
    if (owned) /* a lent body (a GET's value) has none */
        free(owned);
    x->out = x->head.len + x->body_len;
    dk_http_limits *l = c->s->lim;
    uint64_t avg = atomic_load_explicit(&l->avg_answer, memory_order_relaxed);
    avg = avg - avg / 8 + x->out / 8; /* racy across loops: an estimate */
    atomic_store_explicit(&l->avg_answer, avg, memory_order_relaxed);
    dk__http_output_add(c, (int64_t)x->out);
    dk__http_conn_flush(c);
    if (c->borrow == x && x_keep_body(x, NULL, 0)) {
        dk__http_conn_close(c);
        return;
    }
    dk__http_conn_arm(c);
}

void dk_http_respond(dk_http_exchange *x, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len)
{
    x_respond(x, status, content_type, extra_headers, body, body_len, NULL);
}

void dk_http_respond_buf(dk_http_exchange *x, int status, const char *content_type, const char *extra_headers,
                         dk_buf *body)
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
