/*
 * test-http.c - the HTTP transport against real sockets.
 *
 * Each test starts a server in its own uv loop on a thread (tc_http.h,
 * shared with test-http-tls.c), talks to it with plain blocking sockets
 * from the test thread and compares exact bytes, then stops the server
 * through a uv_async (stop runs on the loop thread) and checks that the
 * loop closes cleanly. The handler echoes
 * "METHOD path[?query]\n" followed by the body; a path /delay/N answers
 * after N ms from a uv timer, to hold a response back; /big/N answers N
 * bytes. The parser alone is tested in test-http-parse.c.
 */
#define _GNU_SOURCE /* memmem */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "http/http.h"

#include "tc_http.h"

/* ---- the server thread ------------------------------------------------- */

typedef struct delayed {
    uv_timer_t timer;
    dk_http_exchange *x;
    const dk_http_request *req;
} delayed;

static void echo(dk_http_exchange *x, const dk_http_request *req)
{
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_FATAL(dk_buf_printf(&b, "%s %.*s%s%.*s\n", req->method_name, (int)req->path_len, req->path,
                                  req->query_len ? "?" : "", (int)req->query_len, req->query) == 0);
    CU_ASSERT_FATAL(dk_buf_append(&b, req->body.ptr, req->body.len) == 0);
    dk_http_respond(x, 200, "text/plain", NULL, b.data, b.len);
    dk_buf_free(&b);
}

static void delayed_closed(uv_handle_t *h)
{
    free(h->data);
}

static void delayed_fire(uv_timer_t *t)
{
    delayed *d = t->data;
    echo(d->x, d->req);
    uv_close((uv_handle_t *)t, delayed_closed);
}

static void handler(void *arg, dk_http_exchange *x, const dk_http_request *req)
{
    tsrv *t = arg;
    atomic_fetch_add(&t->handled, 1);
    if (req->path_len > 7 && memcmp(req->path, "/delay/", 7) == 0) {
        delayed *d = calloc(1, sizeof(*d));
        CU_ASSERT_FATAL(d != NULL);
        d->x = x;
        d->req = req;
        uv_timer_init(&t->loop, &d->timer);
        d->timer.data = d;
        uv_timer_start(&d->timer, delayed_fire, strtoul(req->path + 7, NULL, 10), 0);
        return;
    }
    if (req->path_len > 5 && memcmp(req->path, "/big/", 5) == 0) {
        size_t n = strtoul(req->path + 5, NULL, 10);
        char *b = malloc(n);
        CU_ASSERT_FATAL(b != NULL);
        memset(b, 'a' + (int)(req->query_len ? req->query[req->query_len - 1] % 26 : 0), n);
        dk_http_respond(x, 200, "text/plain", NULL, b, n);
        free(b);
        return;
    }
    echo(x, req);
}

static tsrv *srv_start(const dk_http_conf *conf)
{
    return tc_http_start(conf, handler);
}

static void srv_stop(tsrv *t)
{
    tc_http_stop(t);
}

static tsrv *srv_default(void)
{
    dk_http_conf conf = {.max_body = 1024 * 1024};
    return srv_start(&conf);
}

/* ---- a blocking client ------------------------------------------------- */

typedef struct cli {
    int fd;
    char *buf;
    size_t len;
} cli;

#define CLI_BUF (4u << 20)

static cli *cli_open(int port)
{
    cli *c = calloc(1, sizeof(*c));
    CU_ASSERT_FATAL(c != NULL);
    c->buf = malloc(CLI_BUF);
    CU_ASSERT_FATAL(c->buf != NULL);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(c->fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    return c;
}

static void cli_close(cli *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

static void cli_send(cli *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        CU_ASSERT_FATAL(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void cli_sends(cli *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Read more into the buffer; returns bytes read, 0 on EOF, -1 on error or
 * timeout. */
static ssize_t cli_fill(cli *c)
{
    if (c->len == CLI_BUF)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, CLI_BUF - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

/* Take the next whole response (head + Content-Length body) off the stream
 * as a NUL-terminated malloc'd string; NULL if the stream ended first. */
static char *cli_response(cli *c, size_t *outlen)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - c->buf) + 4, body = 0;
            char *cl = memmem(c->buf, head, "Content-Length: ", 16);
            if (cl)
                body = strtoul(cl + 16, NULL, 10);
            if (c->len >= head + body) {
                size_t n = head + body;
                char *r = malloc(n + 1);
                memcpy(r, c->buf, n);
                r[n] = '\0';
                memmove(c->buf, c->buf + n, c->len - n);
                c->len -= n;
                if (outlen)
                    *outlen = n;
                return r;
            }
        }
        if (cli_fill(c) <= 0)
            return NULL;
    }
}

/* Expect exactly this response next. */
static void cli_expect(cli *c, const char *expected)
{
    char *r = cli_response(c, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r, expected);
    if (strcmp(r, expected) != 0)
        fprintf(stderr, "got:\n%s\nwanted:\n%s\n", r, expected);
    free(r);
}

/* The server closed: nothing more, then EOF. */
static int cli_at_eof(cli *c)
{
    return c->len == 0 && cli_fill(c) == 0;
}

static const char *get_req(const char *path)
{
    static char b[256];
    snprintf(b, sizeof(b), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    return b;
}

#define OK_HEAD(len) "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " #len "\r\n"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- tests -------------------------------------------------------------- */

static void test_keepalive(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    cli_sends(c, get_req("/echo?i=1"));
    cli_expect(c, OK_HEAD(14) "\r\nGET /echo?i=1\n");
    cli_sends(c, get_req("/kv/a%20b"));
    cli_expect(c, OK_HEAD(14) "\r\nGET /kv/a%20b\n");
    cli_sends(c, "PUT /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    cli_expect(c, OK_HEAD(13) "\r\nPUT /echo\nabc");
    dk_http_stats st;
    dk_http_server_stats(t->srv, &st);
    CU_ASSERT_EQUAL(st.accepted, 1);
    CU_ASSERT_EQUAL(st.open, 1);
    CU_ASSERT_EQUAL(st.requests, 3);
    CU_ASSERT_EQUAL(st.parse_errors, 0);
    cli_close(c);
    srv_stop(t);
}

static void test_pipeline_order(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    char all[512] = "";
    strcat(all, get_req("/delay/150"));
    strcat(all, get_req("/echo?i=2"));
    strcat(all, "PUT /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    cli_sends(c, all);
    /* the first is held 150 ms by a timer; the others were answered by the
     * handler at once, yet must not overtake it */
    cli_expect(c, OK_HEAD(15) "\r\nGET /delay/150\n");
    cli_expect(c, OK_HEAD(14) "\r\nGET /echo?i=2\n");
    cli_expect(c, OK_HEAD(12) "\r\nPUT /echo\nhi");
    CU_ASSERT_EQUAL(atomic_load(&t->handled), 3);
    cli_close(c);
    srv_stop(t);
}

static void test_pipeline_bound(void)
{
    dk_http_conf conf = {.max_pipeline = 2};
    tsrv *t = srv_start(&conf);
    cli *c = cli_open(t->port);
    char all[2048] = "";
    for (int i = 0; i < 7; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/delay/%d?i=%d", 30 - 4 * i, i);
        strcat(all, get_req(p));
    }
    cli_sends(c, all);
    for (int i = 0; i < 7; i++) {
        char p[64], want[256];
        snprintf(p, sizeof(p), "GET /delay/%d?i=%d\n", 30 - 4 * i, i);
        snprintf(want, sizeof(want),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s", strlen(p),
                 p);
        cli_expect(c, want);
    }
    cli_close(c);
    srv_stop(t);
}

/* A client that pipelines answers it does not read: the connection stops
 * being parsed once its unwritten answers reach max_conn_output (the
 * node's count stays near it), and every answer still arrives, in order,
 * when the client reads; then nothing is counted any more. */
static void test_output_bound(void)
{
    static dk_http_limits lim = {.max_conn_output = 512 * 1024, .max_output_total = 64u << 20};
    dk_http_conf conf = {.limits = &lim};
    tsrv *t = srv_start(&conf);
    cli *c = calloc(1, sizeof(*c));
    c->buf = malloc(CLI_BUF);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    char all[8192] = "";
    for (int i = 0; i < 60; i++) {
        char p[48];
        snprintf(p, sizeof(p), "/big/262144?i=%c", 'a' + i % 26);
        strcat(all, get_req(p));
    }
    cli_sends(c, all);
    sleep_ms(300);
    uint64_t out = atomic_load(&lim.output);
    CU_ASSERT(out > 0);
    CU_ASSERT(out <= 512 * 1024 + 262144 + 4096);
    CU_ASSERT(atomic_load(&t->handled) < 30);
    for (int i = 0; i < 60; i++) {
        size_t n;
        char *r = cli_response(c, &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
        char want = (char)('a' + ('a' + i % 26) % 26);
        CU_ASSERT(n > 262144 && r[n - 1] == want && r[n - 262144] == want);
        free(r);
    }
    CU_ASSERT_EQUAL(atomic_load(&t->handled), 60);
    for (int i = 0; i < 100 && atomic_load(&lim.output); i++)
        sleep_ms(10);
    CU_ASSERT_EQUAL(atomic_load(&lim.output), 0);
    cli_close(c);
    srv_stop(t);
}

/* Over max_connections a connection gets 503 with Connection: close and
 * is closed; once another leaves, a new one is served. */
static void test_connection_cap(void)
{
    static dk_http_limits lim = {.max_connections = 2};
    dk_http_conf conf = {.limits = &lim};
    tsrv *t = srv_start(&conf);
    cli *a = cli_open(t->port), *b = cli_open(t->port);
    cli_sends(a, get_req("/echo"));
    cli_expect(a, OK_HEAD(10) "\r\nGET /echo\n");
    cli_sends(b, get_req("/echo"));
    cli_expect(b, OK_HEAD(10) "\r\nGET /echo\n");
    cli *c = cli_open(t->port);
    char *r = cli_response(c, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(strncmp(r, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
    CU_ASSERT(strstr(r, "Connection: close\r\n") != NULL);
    CU_ASSERT(strstr(r, "{\"error\":\"too_many_connections\"") != NULL);
    free(r);
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);
    CU_ASSERT_EQUAL(atomic_load(&lim.refused), 1);
    cli_close(a);
    for (int i = 0; i < 100 && atomic_load(&lim.open) > 1; i++)
        sleep_ms(10);
    c = cli_open(t->port);
    cli_sends(c, get_req("/echo"));
    cli_expect(c, OK_HEAD(10) "\r\nGET /echo\n");
    cli_close(c);
    cli_close(b);
    srv_stop(t);
    CU_ASSERT_EQUAL(atomic_load(&lim.open), 0);
}

static void test_chunked(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    cli_sends(c, "PUT /kv/k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    sleep_ms(20);
    cli_sends(c, "lo\r\n6;ext=1\r\n world\r\n");
    sleep_ms(20);
    cli_sends(c, "0\r\nX-Trailer: x\r\n\r\n");
    cli_expect(c, OK_HEAD(21) "\r\nPUT /kv/k\nhello world");
    /* bad chunk size: 400, connection closed */
    cli_sends(c, "PUT /kv/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    char *r = cli_response(c, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    CU_ASSERT(strstr(r, "{\"error\":\"bad_request\"") != NULL);
    CU_ASSERT(strstr(r, "Connection: close\r\n") != NULL);
    free(r);
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);
    srv_stop(t);
}

static void test_body_limit(void)
{
    tsrv *t = srv_default();
    size_t lim = 1024 * 1024;
    char *body = malloc(lim);
    memset(body, 'v', lim);
    cli *c = cli_open(t->port);
    char head[128];
    snprintf(head, sizeof(head), "PUT /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", lim);
    cli_sends(c, head);
    cli_send(c, body, lim);
    size_t n;
    char *r = cli_response(c, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    const char *want_head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1048586\r\n\r\nPUT /echo\n";
    CU_ASSERT_EQUAL(n, strlen(want_head) + lim);
    CU_ASSERT(strncmp(r, want_head, strlen(want_head)) == 0);
    CU_ASSERT(memcmp(r + strlen(want_head), body, lim) == 0);
    free(r);

    /* one byte more is refused from the header alone, before any body */
    snprintf(head, sizeof(head), "PUT /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", lim + 1);
    cli_sends(c, head);
    cli_expect(c,
               "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: 104\r\n"
               "Connection: close\r\n\r\n"
               "{\"error\":\"value_too_large\",\"message\":\"request body of 1048577 bytes exceeds the limit "
               "of 1048576 bytes\"}");
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);

    /* a chunked body growing past the limit */
    c = cli_open(t->port);
    snprintf(head, sizeof(head), "PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", lim + 1);
    cli_sends(c, head);
    cli_send(c, body, lim);
    cli_sends(c, "vv\r\n0\r\n\r\n");
    cli_expect(
        c, "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: 87\r\n"
           "Connection: close\r\n\r\n"
           "{\"error\":\"value_too_large\",\"message\":\"request body exceeds the limit of 1048576 bytes\"}");
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);
    free(body);
    dk_http_stats st;
    dk_http_server_stats(t->srv, &st);
    CU_ASSERT_EQUAL(st.parse_errors, 2);
    srv_stop(t);
}

/* A request head of exactly total bytes: "GET /echo HTTP/1.1\r\nX-Big: a...\r\n\r\n". */
static char *big_head(size_t total)
{
    const char *pre = "GET /echo HTTP/1.1\r\nX-Big: ";
    char *h = malloc(total + 1);
    size_t np = strlen(pre), pad = total - np - 4;
    memcpy(h, pre, np);
    memset(h + np, 'a', pad);
    memcpy(h + np + pad, "\r\n\r\n", 5);
    return h;
}

static void test_header_limit(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    char *h = big_head(16 * 1024);
    cli_sends(c, h);
    cli_expect(c, OK_HEAD(10) "\r\nGET /echo\n");
    free(h);
    h = big_head(16 * 1024 + 1);
    cli_sends(c, h);
    cli_expect(c,
               "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
               "Content-Length: 115\r\nConnection: close\r\n\r\n"
               "{\"error\":\"header_too_large\",\"message\":\"request line and headers exceed 16384 bytes; "
               "send fewer or shorter headers\"}");
    CU_ASSERT(cli_at_eof(c));
    free(h);
    cli_close(c);
    srv_stop(t);
}

static void test_bad_request(void)
{
    tsrv *t = srv_default();
    cli *a = cli_open(t->port);
    cli_sends(a, get_req("/echo"));
    cli_expect(a, OK_HEAD(10) "\r\nGET /echo\n");

    cli *b = cli_open(t->port);
    cli_sends(b, "GARBAGE\r\n\r\n");
    cli_expect(b, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 79\r\n"
                  "Connection: close\r\n\r\n"
                  "{\"error\":\"bad_request\",\"message\":\"malformed HTTP request: invalid HTTP method\"}");
    CU_ASSERT(cli_at_eof(b));
    cli_close(b);

    b = cli_open(t->port);
    cli_sends(b, "FOO /echo HTTP/1.1\r\n\r\n");
    char *r = cli_response(b, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    free(r);
    CU_ASSERT(cli_at_eof(b));
    cli_close(b);

    b = cli_open(t->port);
    cli_sends(b, "GET /echo HTTP/2.0\r\n\r\n");
    r = cli_response(b, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(strncmp(r, "HTTP/1.1 505 HTTP Version Not Supported\r\n", 41) == 0);
    free(r);
    cli_close(b);

    /* the first connection and new ones still work */
    cli_sends(a, get_req("/echo"));
    cli_expect(a, OK_HEAD(10) "\r\nGET /echo\n");
    b = cli_open(t->port);
    cli_sends(b, get_req("/echo"));
    cli_expect(b, OK_HEAD(10) "\r\nGET /echo\n");
    cli_close(b);
    cli_close(a);
    dk_http_stats st;
    dk_http_server_stats(t->srv, &st);
    CU_ASSERT_EQUAL(st.parse_errors, 3);
    srv_stop(t);
}

static void test_expect_continue(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    cli_sends(c, "PUT /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    cli_expect(c, "HTTP/1.1 100 Continue\r\n\r\n");
    cli_sends(c, "hello");
    cli_expect(c, OK_HEAD(15) "\r\nPUT /echo\nhello");
    /* too large: 413 straight away, no 100 */
    cli_sends(c, "PUT /echo HTTP/1.1\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n");
    char *r = cli_response(c, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(strncmp(r, "HTTP/1.1 413 ", 13) == 0);
    free(r);
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);

    /* behind a slow pipelined request, the 100 waits for the earlier answer */
    c = cli_open(t->port);
    char all[256] = "";
    strcat(all, get_req("/delay/100"));
    strcat(all, "PUT /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    cli_sends(c, all);
    cli_expect(c, OK_HEAD(15) "\r\nGET /delay/100\n");
    cli_expect(c, "HTTP/1.1 100 Continue\r\n\r\n");
    cli_sends(c, "ok");
    cli_expect(c, OK_HEAD(12) "\r\nPUT /echo\nok");
    cli_close(c);
    srv_stop(t);
}

static void test_connection_close(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    cli_sends(c, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
    cli_expect(c, OK_HEAD(10) "Connection: close\r\n\r\nGET /echo\n");
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);
    CU_ASSERT_EQUAL(atomic_load(&t->handled), 1);
    srv_stop(t);
}

static void test_http10(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    cli_sends(c, "GET /echo HTTP/1.0\r\n\r\n");
    cli_expect(c, OK_HEAD(10) "Connection: close\r\n\r\nGET /echo\n");
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);

    c = cli_open(t->port);
    cli_sends(c, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cli_expect(c, OK_HEAD(10) "Connection: keep-alive\r\n\r\nGET /echo\n");
    cli_sends(c, "HEAD /echo HTTP/1.0\r\n\r\n");
    /* HEAD: the length of the body that GET would send, and no body */
    while (cli_fill(c) > 0)
        ;
    const char *want = OK_HEAD(11) "Connection: close\r\n\r\n";
    CU_ASSERT(c->len == strlen(want) && memcmp(c->buf, want, c->len) == 0);
    cli_close(c);
    srv_stop(t);
}

static void test_half_close(void)
{
    tsrv *t = srv_default();
    cli *c = cli_open(t->port);
    /* the client sends two requests and shuts its side: both are answered,
     * the last one says the connection closes, then EOF */
    char all[256] = "";
    strcat(all, get_req("/delay/50"));
    strcat(all, get_req("/echo"));
    cli_sends(c, all);
    CU_ASSERT(shutdown(c->fd, SHUT_WR) == 0);
    cli_expect(c, OK_HEAD(14) "\r\nGET /delay/50\n");
    cli_expect(c, OK_HEAD(10) "Connection: close\r\n\r\nGET /echo\n");
    CU_ASSERT(cli_at_eof(c));
    cli_close(c);
    srv_stop(t);
}

static void test_timeouts(void)
{
    dk_http_conf conf = {.idle_timeout_ms = 100, .request_timeout_ms = 200};
    tsrv *t = srv_start(&conf);
    cli *idle = cli_open(t->port);
    cli *slow = cli_open(t->port);
    cli_sends(idle, get_req("/echo"));
    cli_expect(idle, OK_HEAD(10) "\r\nGET /echo\n");
    cli_sends(slow, "GET /echo HTTP/1.1\r\nHo");
    /* the request timer is not pushed back by more bytes of the same request */
    sleep_ms(120);
    cli_sends(slow, "st: t\r\n");
    cli_expect(slow,
               "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: 93\r\n"
               "Connection: close\r\n\r\n"
               "{\"error\":\"request_timeout\",\"message\":\"the request did not arrive in time; send it in "
               "one go\"}");
    CU_ASSERT(cli_at_eof(slow));
    CU_ASSERT(cli_at_eof(idle));
    dk_http_stats st;
    dk_http_server_stats(t->srv, &st);
    CU_ASSERT_EQUAL(st.timeouts, 2);
    cli_close(idle);
    cli_close(slow);
    srv_stop(t);
}

/* The idle timer is armed once per idle spell, not per request: it stays
 * armed while a handler runs and re-arms itself when it fires early. A
 * handler slower than the idle timeout still answers and the connection
 * stays open; a connection used more often than the timeout outlives it;
 * an idle one is closed (one timeout each). */
static void test_idle_timer_lazy(void)
{
    dk_http_conf conf = {.idle_timeout_ms = 100, .request_timeout_ms = 1000};
    tsrv *t = srv_start(&conf);
    cli *c = cli_open(t->port);
    cli_sends(c, get_req("/delay/250"));
    cli_expect(c, OK_HEAD(15) "\r\nGET /delay/250\n");
    cli_sends(c, get_req("/echo"));
    cli_expect(c, OK_HEAD(10) "\r\nGET /echo\n");
    CU_ASSERT(cli_at_eof(c));
    dk_http_stats st;
    dk_http_server_stats(t->srv, &st);
    CU_ASSERT_EQUAL(st.timeouts, 1);
    cli_close(c);

    conf.idle_timeout_ms = 400;
    srv_stop(t);
    t = srv_start(&conf);
    c = cli_open(t->port);
    /* Five requests 150 ms apart: 600 ms of use, no gap near 400 ms. */
    for (int i = 0; i < 5; i++) {
        if (i)
            sleep_ms(150);
        cli_sends(c, get_req("/echo"));
        cli_expect(c, OK_HEAD(10) "\r\nGET /echo\n");
    }
    CU_ASSERT(cli_at_eof(c));
    dk_http_server_stats(t->srv, &st);
    CU_ASSERT_EQUAL(st.timeouts, 1);
    cli_close(c);
    srv_stop(t);
}

static void test_graceful_stop(void)
{
    tsrv *t = srv_default();
    cli *busy = cli_open(t->port);
    cli *idle = cli_open(t->port);
    cli *arriving = cli_open(t->port);
    cli_sends(idle, get_req("/echo"));
    cli_expect(idle, OK_HEAD(10) "\r\nGET /echo\n");
    cli_sends(busy, get_req("/delay/200"));
    /* half a PUT: the request is on its way when the stop comes */
    cli_sends(arriving, "PUT /kv/late HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    for (int i = 0; i < 1000 && atomic_load(&t->handled) < 2; i++)
        sleep_ms(5);
    CU_ASSERT_EQUAL_FATAL(atomic_load(&t->handled), 2);
    sleep_ms(20);
    uv_async_send(&t->stop_async);
    sleep_ms(50);
    /* new connections are refused once the listener is closed */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0);
    close(fd);
    /* the rest of the arriving request: it is served, as the last one */
    cli_sends(arriving, "world");
    cli_expect(arriving, OK_HEAD(23) "Connection: close\r\n\r\nPUT /kv/late\nhelloworld");
    CU_ASSERT(cli_at_eof(arriving));
    /* the in-flight request is answered, marked as the last, then EOF */
    cli_expect(busy, OK_HEAD(15) "Connection: close\r\n\r\nGET /delay/200\n");
    CU_ASSERT(cli_at_eof(busy));
    CU_ASSERT(cli_at_eof(idle));
    cli_close(arriving);
    cli_close(busy);
    cli_close(idle);
    pthread_join(t->th, NULL);
    CU_ASSERT(t->stop_done == 1);
    CU_ASSERT(t->loop_close_rc == 0);
    free(t);
}

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

static void test_exclusive_listen_and_share(void)
{
    uv_loop_t loop;
    char err[256];
    dk_http_server *a, *b, *taken = NULL, *bad = NULL;
    int stopped = 0;
    CU_ASSERT_FATAL(uv_loop_init(&loop) == 0);
    dk_http_conf conf = {.listen = "127.0.0.1:0"};
    CU_ASSERT_FATAL(dk_http_server_start(&loop, &conf, handler, NULL, &a, err, sizeof(err)) == 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", dk_http_server_port(a));
    /* A second bind of the same address fails: no SO_REUSEPORT sharing. */
    conf.listen = addr;
    CU_ASSERT_EQUAL(dk_http_server_start(&loop, &conf, handler, NULL, &taken, err, sizeof(err)), -EADDRINUSE);
    CU_ASSERT(strstr(err, addr) != NULL);
    CU_ASSERT_PTR_NULL(taken);
    /* Another loop's server shares the socket instead. */
    dk_http_conf shared = {.listen = "ignored", .share = a};
    CU_ASSERT_FATAL(dk_http_server_start(&loop, &shared, handler, NULL, &b, err, sizeof(err)) == 0);
    CU_ASSERT_EQUAL(dk_http_server_port(a), dk_http_server_port(b));
    conf.listen = "localhost:80x";
    CU_ASSERT_EQUAL(dk_http_server_start(&loop, &conf, handler, NULL, &bad, err, sizeof(err)), DK_ECONFIG);
    CU_ASSERT(strstr(err, "localhost:80x") != NULL);
    CU_ASSERT_PTR_NULL(bad);
    conf.listen = "[::1]:0";
    if (dk_http_server_start(&loop, &conf, handler, NULL, &bad, err, sizeof(err)) == 0) {
        CU_ASSERT(dk_http_server_port(bad) > 0); /* hosts without IPv6 skip this */
        dk_http_server_stop(bad, (void (*)(void *))free, malloc(1));
    }
    dk_http_server_stop(a, NULL, NULL);
    dk_http_server_stop(b, set_flag, &stopped);
    CU_ASSERT_EQUAL(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CU_ASSERT_EQUAL(stopped, 1);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static CU_TestInfo http_server_tests[] = {
    {"keep-alive, 3 requests", test_keepalive},
    {"pipelining keeps order", test_pipeline_order},
    {"pipeline bound pauses reads", test_pipeline_bound},
    {"output bound pauses parsing, order kept", test_output_bound},
    {"connection cap 503", test_connection_cap},
    {"chunked body", test_chunked},
    {"body limit 413", test_body_limit},
    {"header limit 431", test_header_limit},
    {"bad requests 400, others unaffected", test_bad_request},
    {"Expect: 100-continue", test_expect_continue},
    {"Connection: close", test_connection_close},
    {"HTTP/1.0 and HEAD", test_http10},
    {"client half-close", test_half_close},
    {"idle and request timeouts", test_timeouts},
    {"idle timer armed once per idle spell", test_idle_timer_lazy},
    {"graceful stop", test_graceful_stop},
    {"exclusive listen, shared socket, bad listen", test_exclusive_listen_and_share},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "http-server", .pTests = http_server_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
