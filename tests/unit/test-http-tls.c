/*
 * test-http-tls.c - the HTTP transport with TLS (http/tls.h) against real
 * sockets and an OpenSSL client.
 *
 * A server runs in its own uv loop on a thread (tc_http.h, as in
 * test-http.c); the test thread talks to it with a blocking OpenSSL client
 * (no certificate check: what is tested here is the transport) or with
 * raw sockets. The
 * certificates are self-signed P-256 ones made in memory and written to a
 * temporary directory. What must hold over TLS: requests and pipelined
 * requests and large bodies get exact answers; the request deadline bounds
 * a handshake that never finishes (slowloris before TLS) and a request
 * that never finishes inside TLS (408, encrypted); idle connections and
 * Connection: close end with a close_notify; plain HTTP is never answered;
 * a reload changes the certificate of new connections only; a key that
 * does not match is refused with a clear message.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "http/http.h"
#include "http/tls.h"

#include "tc_http.h"

static char tmpdir[] = "/tmp/dk-test-tls-XXXXXX";
static char cert1[256], key1[256], cert2[256], key2[256];

/* ---- certificates ------------------------------------------------------- */

/* Runs in the suite's init, where CU_ASSERT may not: returns 0 or -1. */
static int write_cert(const char *cert_path, const char *key_path, const char *cn)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = pk && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, pk);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, n);
        ok = X509_sign(x, pk, EVP_sha256()) > 0;
    }
    FILE *f = ok ? fopen(cert_path, "w") : NULL;
    ok = f && PEM_write_X509(f, x);
    if (f)
        fclose(f);
    f = ok ? fopen(key_path, "w") : NULL;
    ok = f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    if (f)
        fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

static int suite_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(cert1, sizeof(cert1), "%s/c1.pem", tmpdir);
    snprintf(key1, sizeof(key1), "%s/k1.pem", tmpdir);
    snprintf(cert2, sizeof(cert2), "%s/c2.pem", tmpdir);
    snprintf(key2, sizeof(key2), "%s/k2.pem", tmpdir);
    return write_cert(cert1, key1, "one") || write_cert(cert2, key2, "two") ? -1 : 0;
}

static int suite_clean(void)
{
    unlink(cert1);
    unlink(key1);
    unlink(cert2);
    unlink(key2);
    rmdir(tmpdir);
    return 0;
}

/* ---- the server thread -------------------------------------------------- */

/* Echo "METHOD path\n" and the body. */
static void handler(void *arg, dk_http_exchange *x, const dk_http_request *req)
{
    tsrv *t = arg;
    atomic_fetch_add(&t->handled, 1);
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_FATAL(dk_buf_printf(&b, "%s %.*s\n", req->method_name, (int)req->path_len, req->path) == 0);
    CU_ASSERT_FATAL(dk_buf_append(&b, req->body.ptr, req->body.len) == 0);
    dk_http_respond_buf(x, 200, "text/plain", NULL, &b);
}

static tsrv *srv_start(uint64_t idle_ms, uint64_t request_ms)
{
    char err[512];
    dk_tls_server *tls;
    CU_ASSERT_FATAL(dk_tls_server_new(cert1, key1, &tls, err, sizeof(err)) == 0);
    dk_http_conf conf = {.idle_timeout_ms = idle_ms, .request_timeout_ms = request_ms, .tls = tls};
    return tc_http_start(&conf, handler);
}

static void srv_stop(tsrv *t)
{
    dk_tls_server *tls = t->conf.tls;
    tc_http_stop(t);
    dk_tls_server_free(tls);
}

/* ---- clients ------------------------------------------------------------ */

static int tcp_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read until EOF or reset; returns the bytes read (capped at cap). */
static size_t raw_drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0)
            return n;
        n += (size_t)r;
        if (n == cap)
            return n;
    }
}

typedef struct tcli {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} tcli;

static tcli *tls_open(int port)
{
    tcli *c = calloc(1, sizeof(*c));
    CU_ASSERT_FATAL(c != NULL);
    c->fd = tcp_open(port);
    c->ctx = SSL_CTX_new(TLS_client_method());
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    CU_ASSERT_FATAL(SSL_connect(c->ssl) == 1);
    return c;
}

static void tls_close(tcli *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c);
}

static void tls_send(tcli *c, const void *p, size_t n)
{
    CU_ASSERT_FATAL(SSL_write(c->ssl, p, (int)n) == (int)n);
}

static void tls_sends(tcli *c, const char *s)
{
    tls_send(c, s, strlen(s));
}

/* Read exactly n bytes; returns how many came before EOF or an error. */
static size_t tls_read(tcli *c, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = SSL_read(c->ssl, buf + got, (int)(n - got));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static void tls_expect(tcli *c, const char *want)
{
    size_t n = strlen(want);
    char *buf = malloc(n + 1);
    size_t got = tls_read(c, buf, n);
    buf[got] = '\0';
    CU_ASSERT_EQUAL(got, n);
    CU_ASSERT_STRING_EQUAL(buf, want);
    if (got != n || strcmp(buf, want) != 0)
        fprintf(stderr, "expected %s\ngot %s\n", want, buf);
    free(buf);
}

/* The server ended the TLS session properly: close_notify, then EOF. */
static int tls_clean_eof(tcli *c)
{
    char b;
    int r = SSL_read(c->ssl, &b, 1);
    int ok = r == 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN;
    ERR_clear_error();
    return ok;
}

static void peer_digest(tcli *c, unsigned char out[32])
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    unsigned int len = 0;
    CU_ASSERT_FATAL(x && X509_digest(x, EVP_sha256(), out, &len) && len == 32);
    X509_free(x);
}

#define OK_HEAD(n) "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " #n "\r\n"

/* ---- tests -------------------------------------------------------------- */

static void test_exchange(void)
{
    tsrv *t = srv_start(0, 0);
    tcli *c = tls_open(t->port);
    /* two pipelined requests in one TLS record */
    tls_sends(c, "GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    tls_expect(c, OK_HEAD(7) "\r\nGET /a\n");
    tls_expect(c, OK_HEAD(7) "\r\nGET /b\n");
    /* a 1 MiB body spans many records both ways */
    size_t big = 1024 * 1024;
    char *body = malloc(big), head[128];
    for (size_t i = 0; i < big; i++)
        body[i] = (char)('a' + i % 26);
    int hl = snprintf(head, sizeof(head), "PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", big);
    tls_send(c, head, (size_t)hl);
    tls_send(c, body, big);
    tls_expect(c, OK_HEAD(1048585) "\r\nPUT /big\n");
    char *back = malloc(big);
    CU_ASSERT_EQUAL(tls_read(c, back, big), big);
    CU_ASSERT(memcmp(back, body, big) == 0);
    free(back);
    free(body);
    /* Connection: close ends with the answer, then close_notify */
    tls_sends(c, "GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    tls_expect(c, OK_HEAD(7) "Connection: close\r\n\r\nGET /c\n");
    CU_ASSERT(tls_clean_eof(c));
    tls_close(c);
    CU_ASSERT_EQUAL(atomic_load(&t->handled), 4);
    srv_stop(t);
}

static void test_timeouts(void)
{
    /* idle 2 s, request 600 ms: long enough that a handshake and the first
     * bytes of a request fit in the deadline on a loaded machine */
    tsrv *t = srv_start(2000, 600);
    char buf[4096];
    /* slowloris before TLS: half a record header, then nothing */
    int slow_hs = tcp_open(t->port);
    uint64_t t0 = now_ms();
    CU_ASSERT(send(slow_hs, "\x16\x03\x01", 3, 0) == 3);
    CU_ASSERT_EQUAL(raw_drain(slow_hs, buf, sizeof(buf)), 0); /* closed, no answer */
    uint64_t took = now_ms() - t0;
    CU_ASSERT(took >= 550 && took < 1900); /* the request deadline, not the idle one */
    close(slow_hs);

    /* slowloris inside TLS: the request deadline, answered 408 encrypted */
    tcli *slow = tls_open(t->port);
    tls_sends(slow, "GET /x HTTP/1.1\r\nHo");
    t0 = now_ms();
    tls_expect(slow, "HTTP/1.1 408 Request Timeout\r\n");
    took = now_ms() - t0;
    CU_ASSERT(took >= 400 && took < 1900); /* the deadline, counted from the first bytes */
    tls_close(slow);

    /* an idle TLS connection: closed at the idle timeout with close_notify */
    tcli *idle = tls_open(t->port);
    tls_sends(idle, "GET /i HTTP/1.1\r\nHost: t\r\n\r\n");
    tls_expect(idle, OK_HEAD(7) "\r\nGET /i\n");
    t0 = now_ms();
    CU_ASSERT(tls_clean_eof(idle));
    took = now_ms() - t0;
    CU_ASSERT(took >= 1900 && took < 5000);
    tls_close(idle);

    dk_http_stats st;
    for (int i = 0; i < 200; i++) { /* closes on the loop thread: wait for the last */
        dk_http_server_stats(t->srv, &st);
        if (st.open == 0)
            break;
        usleep(10 * 1000);
    }
    CU_ASSERT_EQUAL(st.timeouts, 3);
    CU_ASSERT_EQUAL(st.open, 0);
    srv_stop(t);
}

static void test_plain_http_refused(void)
{
    tsrv *t = srv_start(0, 0);
    int fd = tcp_open(t->port);
    const char req[] = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";
    CU_ASSERT(send(fd, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1);
    char buf[4096];
    size_t n = raw_drain(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    CU_ASSERT(n < 16 && strstr(buf, "HTTP/") == NULL); /* closed, at most an alert */
    close(fd);
    CU_ASSERT_EQUAL(atomic_load(&t->handled), 0);
    /* a TLS client is still served */
    tcli *c = tls_open(t->port);
    tls_sends(c, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
    tls_expect(c, OK_HEAD(8) "\r\nGET /ok\n");
    tls_close(c);
    srv_stop(t);
}

static void test_reload(void)
{
    char err[512];
    tsrv *t = srv_start(0, 0);
    tcli *old = tls_open(t->port);
    unsigned char d_old[32], d_new[32], d_kept[32];
    peer_digest(old, d_old);

    /* a key of another certificate: refused, the old pair stays */
    CU_ASSERT_EQUAL(dk_tls_server_reload(t->conf.tls, cert2, key1, err, sizeof(err)), DK_ECONFIG);
    CU_ASSERT(strstr(err, "is not the key of the certificate") != NULL);
    tcli *c = tls_open(t->port);
    peer_digest(c, d_new);
    CU_ASSERT(memcmp(d_old, d_new, 32) == 0);
    tls_close(c);

    CU_ASSERT_EQUAL(dk_tls_server_reload(t->conf.tls, cert2, key2, err, sizeof(err)), 0);
    c = tls_open(t->port);
    peer_digest(c, d_new);
    CU_ASSERT(memcmp(d_old, d_new, 32) != 0);
    tls_sends(c, "GET /n HTTP/1.1\r\nHost: t\r\n\r\n");
    tls_expect(c, OK_HEAD(7) "\r\nGET /n\n");
    tls_close(c);

    /* the connection from before the reload keeps working */
    tls_sends(old, "GET /o HTTP/1.1\r\nHost: t\r\n\r\n");
    tls_expect(old, OK_HEAD(7) "\r\nGET /o\n");
    peer_digest(old, d_kept);
    CU_ASSERT(memcmp(d_old, d_kept, 32) == 0);
    tls_close(old);
    srv_stop(t);
}

static void test_load_errors(void)
{
    char err[512];
    dk_tls_server *s = NULL;
    CU_ASSERT_EQUAL(dk_tls_server_new(cert1, key2, &s, err, sizeof(err)), DK_ECONFIG);
    CU_ASSERT(strstr(err, "is not the key of the certificate") != NULL);
    CU_ASSERT_EQUAL(dk_tls_server_new("/nonexistent/c.pem", key1, &s, err, sizeof(err)), DK_ECONFIG);
    CU_ASSERT(strstr(err, "tls_cert_file /nonexistent/c.pem") != NULL);
    CU_ASSERT_EQUAL(dk_tls_server_new(cert1, cert1, &s, err, sizeof(err)), DK_ECONFIG);
    CU_ASSERT(strstr(err, "tls_key_file") != NULL);
    CU_ASSERT(s == NULL);
}

static CU_TestInfo http_tls_tests[] = {
    {"exchange, pipelining, 1 MiB body, close_notify", test_exchange},
    {"handshake and request deadlines, idle close", test_timeouts},
    {"plain HTTP is never answered", test_plain_http_refused},
    {"reload: new connections only", test_reload},
    {"bad certificate or key files", test_load_errors},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "http-tls", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = http_tls_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
