/*
 * http_int.h - what the two socket files of the HTTP transport share:
 * the server, connection and exchange structures. http_conn.c runs the
 * connections (parsing, the ordered response queue, backpressure,
 * timers); http_server.c binds or shares the listening socket, accepts
 * (with the connection cap) and reports the counters. Private to
 * framework/http/. http_budget.c keeps the limits' accounting and
 * http_tls_io.c the TLS side of reads and writes. Each server keeps a
 * few requests and exchanges for reuse (a GET allocates nothing in this
 * layer once they circulate).
 */
#ifndef DK_HTTP_INT_H
#define DK_HTTP_INT_H
#include <stdatomic.h>
#include "http/http.h"

#define HTTP_READ_BUF (64 * 1024)
#define HTTP_LINGER_MS 2000
#define HTTP_BACKLOG 511
#define HTTP_PEND_MAX (256 * 1024) /* unparsed bytes held before reading pauses */
#define HTTP_WAKE_MS 20            /* re-check connections held back by the node's output budget */
#define HTTP_REFUSE_SLACK 64       /* refused connections answered 503; beyond, closed unanswered */
#define HTTP_STUCK_MS 500          /* at the ceiling, a reader this far behind may be closed */
#define HTTP_EVICT_MAX 16          /* slow readers closed per wake tick at most */

enum { X_PENDING, X_READY, X_WRITING };       /* exchange states */
enum { T_NONE, T_IDLE, T_REQUEST, T_LINGER }; /* what the conn timer means */

typedef struct http_conn http_conn;

struct dk_http_exchange {
    http_conn *c; /* NULL once the connection is gone */
    dk_http_exchange *prev, *next;
    dk__http_req *req; /* until the handler responds */
    int state;
    int keep_alive, http10, no_body, close;
    dk_buf head;
    void *body;
    size_t body_len;
    int body_borrowed; /* body is the caller's (dk_http_respond) until kept */
    size_t out;        /* bytes counted in c->out and the budget */
    uint64_t t_write;  /* loop time (ms) it was handed to uv_write */
    uv_write_t wr;
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    dk_http_server *s;
    http_conn *prev, *next;
    dk__http_parse p;
    struct dk_tls_conn *tls; /* NULL: plain HTTP */
    dk_buf pend;             /* read but not yet parsed (reading paused) */
    dk_http_exchange *xfirst, *xlast;
    dk_http_exchange *borrow; /* answered with a borrowed body, during dk_http_respond */
    uint32_t n_x;             /* exchanges not yet fully written */
    uint32_t n_handler;       /* exchanges the handler still holds */
    size_t out;               /* response bytes answered and not yet written */
    int handles;
    int timer_mode;
    uint64_t idle_since; /* loop time (ms) it last became idle (T_IDLE) */
    unsigned tls_dead : 1, reading : 1, no_more : 1, closing : 1, lingering : 1, peer_eof : 1,
        want_continue : 1;
    unsigned held : 1;       /* waits for the node's output budget (s->n_held) */
    unsigned held_fresh : 1; /* ... owing nothing (counted in lim->waiting) */
};

struct dk_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t wake; /* runs while connections are held */
    dk_http_conf conf;
    dk_http_limits *lim; /* conf.limits, or own_lim */
    dk_http_limits own_lim;
    dk_http_handler handler;
    void *arg;
    http_conn *conns;
    uint32_t n_held;
    int port;
    int stopping, listener_closed, wake_closed;
    void (*stop_done)(void *arg);
    void *stop_arg;
    uint64_t accept_err_logged_ms, evict_logged_ms, evicted_unlogged, trimmed_ms;
    int evicted_untrimmed;
    _Atomic uint64_t accepted, open, requests, parse_errors, early, timeouts, refused;
    dk_buf tls_plain; /* plaintext of the read being handled */
    uv_buf_t tls_view;
    /* Requests and exchanges kept for reuse by this server's connections
     * (http.h, dk__http_pool; the exchanges with their head buffer). */
    dk__http_pool req_pool;
    dk_http_exchange *x_free;
    unsigned n_x_free;
    char rbuf[HTTP_READ_BUF];
};

/* http_conn.c: connection steps the other files use (loop thread). */
void dk__http_conn_close(http_conn *c);
void dk__http_conn_resume(http_conn *c); /* after what held c went away */
void dk__http_conn_stop_reading(http_conn *c);
void dk__http_conn_arm(http_conn *c); /* the timer for c's state */
/* Take x off c's queue; free x with its request, head and owned body. */
void dk__http_x_unlink(http_conn *c, dk_http_exchange *x);
void dk__http_x_free(dk_http_exchange *x);
/* As dk__http_x_free, but x (unlinked) and its head buffer may be kept
 * in s's pool for the next exchange. */
void dk__http_x_release(dk_http_server *s, dk_http_exchange *x);

/* http_write.c: hand c's answers that are next in line to the socket. */
void dk__http_conn_flush(http_conn *c);

/* http_budget.c: output and connection accounting (see there). */
void dk__http_output_add(http_conn *c, int64_t delta);
void dk__http_open_add(dk_http_server *s, int delta);
int dk__http_output_ok(const http_conn *c); /* may c take its next request */
void dk__http_hold(http_conn *c);           /* c waits for the node's budget */
void dk__http_unhold(http_conn *c);
void dk__http_accept_failed(dk_http_server *s, int status);

/* http_tls_io.c: every write of a connection (encrypted under TLS), the
 * ciphertext TLS makes on its own, and decrypting what was read (*buf
 * then points at the plaintext; returns its length, 0: none yet, -1: c
 * failed and is closing). */
int dk__http_conn_write(http_conn *c, uv_write_t *req, const uv_buf_t *b, unsigned n, uv_write_cb cb);
int dk__http_tls_send(http_conn *c, dk_buf *out);
ssize_t dk__http_tls_in(http_conn *c, const uv_buf_t **buf, size_t len);

/* http_conn.c: the listener's connection callback (loop thread). */
void dk__http_on_connection(uv_stream_t *server, int status);
/* http_conn.c: free s and call its stop callback once everything closed. */
void dk__http_maybe_stopped(dk_http_server *s);
/* http_budget.c: the wake timer's callback. */
void dk__http_wake_cb(uv_timer_t *t);
/* Add delta (may be negative) to a relaxed atomic counter. */
void dk__http_count(_Atomic uint64_t *ctr, int64_t delta);
#endif
