/*
 * tc_http.h - the server harness test-http.c and test-http-tls.c share: an
 * HTTP server (plain or TLS, as its dk_http_conf says) in its own uv loop
 * on its own thread, listening on a free port of 127.0.0.1, with the
 * test's handler; the test thread talks to it with blocking sockets.
 * Stopping goes through a uv_async (dk_http_server_stop runs on the loop
 * thread), then the thread is joined and the loop must have closed with
 * nothing left.
 *
 * Header-only (static inline functions), like tc_cluster.h: each test
 * program is one file.
 */
#ifndef DK_TEST_TC_HTTP_H
#define DK_TEST_TC_HTTP_H
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "http/http.h"

typedef struct tsrv {
    uv_loop_t loop;
    uv_async_t stop_async;
    pthread_t th;
    dk_http_conf conf;
    dk_http_handler handler; /* called with the tsrv as its arg */
    dk_http_server *srv;
    int port, start_rc, stop_done, loop_close_rc;
    atomic_int handled; /* requests the handler counted */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
} tsrv;

/* Loop thread: the server has stopped. */
static inline void tc_http_on_stopped(void *arg)
{
    ((tsrv *)arg)->stop_done = 1;
}

/* Loop thread: the test asked for a stop. */
static inline void tc_http_on_stop_async(uv_async_t *a)
{
    tsrv *t = a->data;
    dk_http_server_stop(t->srv, tc_http_on_stopped, t);
    uv_close((uv_handle_t *)a, NULL);
}

/* The server thread: start, say ready (with the port or the error), run
 * the loop until the stop, close it. */
static inline void *tc_http_main(void *arg)
{
    tsrv *t = arg;
    char err[256];
    uv_loop_init(&t->loop);
    uv_async_init(&t->loop, &t->stop_async, tc_http_on_stop_async);
    t->stop_async.data = t;
    t->start_rc = dk_http_server_start(&t->loop, &t->conf, t->handler, t, &t->srv, err, sizeof(err));
    if (t->start_rc == 0)
        t->port = dk_http_server_port(t->srv);
    else
        uv_close((uv_handle_t *)&t->stop_async, NULL);
    pthread_mutex_lock(&t->mu);
    t->ready = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    t->loop_close_rc = uv_loop_close(&t->loop);
    return NULL;
}

/* Start a server with conf (its listen address replaced by 127.0.0.1:0)
 * and handler h on a new thread; returns once it listens. A failed start
 * ends the test. */
static inline tsrv *tc_http_start(const dk_http_conf *conf, dk_http_handler h)
{
    tsrv *t = calloc(1, sizeof(*t));
    CU_ASSERT_FATAL(t != NULL);
    t->conf = *conf;
    t->conf.listen = "127.0.0.1:0";
    t->handler = h;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    CU_ASSERT_FATAL(pthread_create(&t->th, NULL, tc_http_main, t) == 0);
    pthread_mutex_lock(&t->mu);
    while (!t->ready)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    CU_ASSERT_FATAL(t->start_rc == 0);
    CU_ASSERT(t->port > 0);
    return t;
}

/* Stop gracefully, join, check the loop closed with nothing left, free t
 * (not conf.tls, which the caller made). */
static inline void tc_http_stop(tsrv *t)
{
    uv_async_send(&t->stop_async);
    pthread_join(t->th, NULL);
    CU_ASSERT(t->stop_done == 1);
    CU_ASSERT(t->loop_close_rc == 0);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

#endif /* DK_TEST_TC_HTTP_H */
