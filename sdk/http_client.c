/*
 * http_client.c - a blocking HTTP/1.1 client over plain sockets or TLS,
 * shared by the `dynkv` CLI and libdynkv-client (the SDK).
 *
 * A connection (dk_hc_conn) carries any number of requests one after the
 * other: the SDK keeps them open (Connection: keep-alive) in its per-node
 * pool; the CLI makes one request per run through dk__hc_request, which
 * opens a connection, sends `Connection: close` and reads until the
 * response is complete. Reading is done through a small buffered reader (hc_reader) with
 * a poll() deadline per wait, so a silent server costs at most `timeout_ms`
 * per read. The response head is parsed in place (lines split at CRLF, names
 * and values NUL-terminated); bodies come as Content-Length, chunked, or
 * until close, all bounded by DK_HC_MAX_BODY.
 *
 * HTTPS (dk__hc_tls_setup: an https:// node or a CA file) runs OpenSSL on
 * the same non-blocking socket: every SSL call that wants the socket
 * readable or writable waits for it under the same poll() deadline. The
 * server's certificate must chain to the CA file (or, without one, to the
 * system's CAs) and name the host the CLI was given: an IP address is
 * matched against the certificate's IP entries, a name against its DNS
 * names (and sent as SNI). TLS 1.2 at least.
 *
 * Not taken: libcurl (one more dependency for a few hundred lines) and
 * libuv (the brief keeps the CLI independent of the server's event loop).
 */
#include "http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The CLI's TLS settings (dk__hc_tls_setup): one per process (every node of
 * a cluster speaks the same protocol). NULL: plain HTTP. The SDK passes its
 * own context to dk__hc_conn_open instead. */
static SSL_CTX *hc_tls;

typedef struct hc_reader {
    int fd;
    SSL *ssl; /* NULL: plain */
    int timeout_ms;
    char buf[16384];
    size_t pos, len;
    int eof;
    int reset;    /* the peer reset the connection */
    size_t total; /* bytes received so far */
} hc_reader;

static int hc_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Wait until fd is ready for `events`; 0, or -1 on timeout/error. */
static int hc_wait(int fd, short events, int timeout_ms, char *err, size_t errlen)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return hc_fail(err, errlen, "timed out after %d ms", timeout_ms);
        if (errno != EINTR)
            return hc_fail(err, errlen, "poll: %s", strerror(errno));
    }
}

static int hc_connect(const char *host, const char *port, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return hc_fail(err, errlen, "cannot resolve %s:%s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    hc_fail(err, errlen, "no address for %s:%s", host, port);
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            hc_fail(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        /* Requests go out as a head and a body: without NODELAY the
         * body would wait for the server's delayed ACK of the head. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            char why[128];
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (hc_wait(fd, POLLOUT, timeout_ms, why, sizeof(why)) == 0 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            hc_fail(err, errlen, "cannot connect to %s:%s: %s", host, port, soerr ? strerror(soerr) : why);
        } else {
            hc_fail(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* What an SSL call that returned rc <= 0 waits for: POLLIN or POLLOUT,
 * or 0 when it failed for good (err set). */
static short hc_ssl_wants(SSL *ssl, int rc, const char *what, char *err, size_t errlen)
{
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        return POLLIN;
    if (e == SSL_ERROR_WANT_WRITE)
        return POLLOUT;
    unsigned long code = ERR_get_error();
    long vr = SSL_get_verify_result(ssl);
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
        hc_fail(err, errlen,
                "TLS %s: the server's certificate is not for the host asked (%s): ask it by a "
                "name or address its certificate lists",
                what, X509_verify_cert_error_string(vr));
    else if (vr != X509_V_OK)
        hc_fail(err, errlen,
                "TLS %s: the server's certificate is not trusted: %s (use --cacert FILE with the "
                "CA that signed it)",
                what, X509_verify_cert_error_string(vr));
    else if (code)
        hc_fail(err, errlen, "TLS %s: %s", what,
                ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "error");
    else if (e == SSL_ERROR_SYSCALL && errno)
        hc_fail(err, errlen, "TLS %s: %s", what, strerror(errno));
    else
        hc_fail(err, errlen, "TLS %s: the server closed the connection", what);
    ERR_clear_error();
    return 0;
}

static int hc_send_all(int fd, SSL *ssl, const char *p, size_t len, int timeout_ms, char *err, size_t errlen)
{
    while (ssl && len > 0) {
        int n = SSL_write(ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        short ev = hc_ssl_wants(ssl, n, "send", err, errlen);
        if (!ev || hc_wait(fd, ev, timeout_ms, err, errlen) != 0)
            return -1;
    }
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (hc_wait(fd, POLLOUT, timeout_ms, err, errlen) != 0)
                return -1;
        } else if (n < 0 && errno != EINTR) {
            return hc_fail(err, errlen, "send: %s", strerror(errno));
        }
    }
    return 0;
}

/* Refill the reader; 0 (possibly at eof), or -1 on error/timeout. */
static int hc_fill(hc_reader *r, char *err, size_t errlen)
{
    if (r->pos == r->len)
        r->pos = r->len = 0;
    while (r->ssl) {
        int n = SSL_read(r->ssl, r->buf + r->len, (int)(sizeof(r->buf) - r->len));
        if (n > 0) {
            r->len += (size_t)n;
            r->total += (size_t)n;
            return 0;
        }
        if (SSL_get_error(r->ssl, n) == SSL_ERROR_ZERO_RETURN) {
            r->eof = 1;
            return 0;
        }
        short ev = hc_ssl_wants(r->ssl, n, "receive", err, errlen);
        if (!ev || hc_wait(r->fd, ev, r->timeout_ms, err, errlen) != 0)
            return -1;
    }
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
        if (n > 0) {
            r->len += (size_t)n;
            r->total += (size_t)n;
            return 0;
        }
        if (n == 0) {
            r->eof = 1;
            return 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (hc_wait(r->fd, POLLIN, r->timeout_ms, err, errlen) != 0)
                return -1;
        } else if (errno != EINTR) {
            r->reset = errno == ECONNRESET;
            return hc_fail(err, errlen, "recv: %s", strerror(errno));
        }
    }
}

/* Append exactly `n` bytes (or, with n == SIZE_MAX, everything until the
 * server closes) to the growing body. */
static int hc_read_body(hc_reader *r, size_t n, char **body, size_t *len, char *err, size_t errlen)
{
    int until_close = n == (size_t)-1;
    while (until_close || n > 0) {
        if (r->pos == r->len) {
            if (r->eof) {
                if (until_close)
                    return 0;
                return hc_fail(err, errlen, "connection closed in the middle of the body");
            }
            if (hc_fill(r, err, errlen) != 0)
                return -1;
            continue;
        }
        size_t take = r->len - r->pos;
        if (!until_close && take > n)
            take = n;
        if (*len + take > DK_HC_MAX_BODY)
            return hc_fail(err, errlen, "response body larger than %zu bytes", DK_HC_MAX_BODY);
        char *nb = realloc(*body, *len + take + 1);
        if (!nb)
            return hc_fail(err, errlen, "out of memory");
        *body = nb;
        memcpy(*body + *len, r->buf + r->pos, take);
        *len += take;
        (*body)[*len] = '\0';
        r->pos += take;
        if (!until_close)
            n -= take;
    }
    return 0;
}

/* One CRLF-terminated line (CRLF stripped) into line[cap]. */
static int hc_read_line(hc_reader *r, char *line, size_t cap, char *err, size_t errlen)
{
    size_t used = 0;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                return hc_fail(err, errlen, "connection closed before the response was complete");
            if (hc_fill(r, err, errlen) != 0)
                return -1;
            continue;
        }
        char c = r->buf[r->pos++];
        if (c == '\n') {
            if (used > 0 && line[used - 1] == '\r')
                used--;
            line[used] = '\0';
            return 0;
        }
        if (used + 1 >= cap)
            return hc_fail(err, errlen, "response line too long");
        line[used++] = c;
    }
}

static int hc_read_chunked(hc_reader *r, char **body, size_t *len, char *err, size_t errlen)
{
    char line[256];
    for (;;) {
        if (hc_read_line(r, line, sizeof(line), err, errlen) != 0)
            return -1;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line || errno || (*end && *end != ';' && *end != ' '))
            return hc_fail(err, errlen, "bad chunk size line '%.40s'", line);
        if (size > DK_HC_MAX_BODY)
            return hc_fail(err, errlen, "chunk larger than %zu bytes", DK_HC_MAX_BODY);
        if (size == 0)
            break;
        if (hc_read_body(r, (size_t)size, body, len, err, errlen) != 0)
            return -1;
        if (hc_read_line(r, line, sizeof(line), err, errlen) != 0)
            return -1;
        if (line[0])
            return hc_fail(err, errlen, "chunk not followed by CRLF");
    }
    do { /* trailers, up to the empty line */
        if (hc_read_line(r, line, sizeof(line), err, errlen) != 0)
            return -1;
    } while (line[0]);
    return 0;
}

/* Read the head up to the empty line into out->head and parse it in place. */
static int hc_read_head(hc_reader *r, dk_hc_response *out, char *err, size_t errlen)
{
    size_t used = 0;
    char *head = malloc(DK_HC_MAX_HEAD + 1);
    if (!head)
        return hc_fail(err, errlen, "out of memory");
    out->head = head;
    for (;;) {
        if (used >= 4 && memcmp(head + used - 4, "\r\n\r\n", 4) == 0)
            break;
        if (r->pos == r->len) {
            if (r->eof)
                return hc_fail(err, errlen,
                               used     ? "connection closed inside the response head"
                               : r->ssl ? "the server closed the connection without answering"
                                        : "the server closed the connection without answering "
                                          "(if it speaks HTTPS: -n https://HOST:PORT)");
            if (hc_fill(r, err, errlen) != 0)
                return -1;
            continue;
        }
        if (used == DK_HC_MAX_HEAD)
            return hc_fail(err, errlen, "response head larger than %d bytes", DK_HC_MAX_HEAD);
        head[used++] = r->buf[r->pos++];
    }
    head[used - 2] = '\0';
    char *line = head, *next = strstr(line, "\r\n");
    *next = '\0';
    int major, minor, status;
    char sp;
    if (sscanf(line, "HTTP/%d.%d %3d%c", &major, &minor, &status, &sp) < 3 || major != 1 || status < 100 ||
        status > 599)
        return hc_fail(err, errlen, "not an HTTP/1.x response: '%.60s'", line);
    out->status = status;
    for (line = next + 2; *line; line = next + 2) {
        next = strstr(line, "\r\n");
        if (!next)
            break;
        *next = '\0';
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return hc_fail(err, errlen, "malformed response header '%.60s'", line);
        if (out->n_headers == DK_HC_MAX_HEADERS)
            return hc_fail(err, errlen, "more than %d response headers", DK_HC_MAX_HEADERS);
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *e = v + strlen(v);
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        out->headers[out->n_headers].name = line;
        out->headers[out->n_headers].value = v;
        out->n_headers++;
    }
    return 0;
}

const char *dk__hc_header(const dk_hc_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

void dk__hc_response_free(dk_hc_response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Transfer-Encoding lists codings; chunked, when present, is the last one. */
static int hc_is_chunked(const char *te)
{
    size_t n = strlen(te);
    while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
        n--;
    return n >= 7 && strncasecmp(te + n - 7, "chunked", 7) == 0 &&
           (n == 7 || te[n - 8] == ',' || te[n - 8] == ' ');
}

static int hc_read_response(hc_reader *rd, const char *method, dk_hc_response *out, char *err, size_t errlen)
{
    do { /* skip interim 1xx responses */
        free(out->head);
        out->head = NULL;
        out->n_headers = 0;
        if (hc_read_head(rd, out, err, errlen) != 0)
            return -1;
    } while (out->status >= 100 && out->status < 200);

    out->body = calloc(1, 1);
    if (!out->body)
        return hc_fail(err, errlen, "out of memory");
    if (strcmp(method, "HEAD") == 0 || out->status == 204 || out->status == 304)
        return 0;
    const char *te = dk__hc_header(out, "Transfer-Encoding");
    const char *cl = dk__hc_header(out, "Content-Length");
    if (te && hc_is_chunked(te))
        return hc_read_chunked(rd, &out->body, &out->body_len, err, errlen);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end || errno || cl[0] == '-')
            return hc_fail(err, errlen, "bad Content-Length '%.30s'", cl);
        if (n > DK_HC_MAX_BODY)
            return hc_fail(err, errlen, "response body of %llu bytes is too large", n);
        return hc_read_body(rd, (size_t)n, &out->body, &out->body_len, err, errlen);
    }
    return hc_read_body(rd, (size_t)-1, &out->body, &out->body_len, err, errlen);
}

SSL_CTX *dk__hc_tls_ctx(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        hc_fail(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* Bodies are framed (Content-Length or chunked), so a close without
     * close_notify cannot cut one short unnoticed. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    int ok = ca_file && *ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                                 : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        unsigned long e = ERR_get_error();
        hc_fail(err, errlen, "cannot load the CA certificates%s%s: %s", ca_file && *ca_file ? " from " : "",
                ca_file && *ca_file ? ca_file : "",
                e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unreadable");
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void dk__hc_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

int dk__hc_tls_setup(const char **spec, const char *ca_file, char *err, size_t errlen)
{
    int tls = ca_file && *ca_file;
    if (strncmp(*spec, "https://", 8) == 0) {
        *spec += 8;
        tls = 1;
    } else if (strncmp(*spec, "http://", 7) == 0) {
        if (tls)
            return hc_fail(err, errlen, "--cacert is for https:// nodes, not %s", *spec);
        *spec += 7;
    }
    if (!tls)
        return 0;
    SSL_CTX *ctx = dk__hc_tls_ctx(ca_file, err, errlen);
    if (!ctx)
        return -1;
    SSL_CTX_free(hc_tls);
    hc_tls = ctx;
    return 0;
}

/* The TLS handshake on connected fd, checking the certificate against
 * host (an IP address or a DNS name). */
static int hc_tls_connect(SSL_CTX *ctx, int fd, const char *host, int timeout_ms, SSL **out, char *err,
                          size_t errlen)
{
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1)
        goto fail;
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
            goto fail;
    } else if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
        goto fail;
    }
    for (;;) {
        int rc = SSL_connect(ssl);
        if (rc == 1)
            break;
        short ev = hc_ssl_wants(ssl, rc, "handshake", err, errlen);
        if (!ev || hc_wait(fd, ev, timeout_ms, err, errlen) != 0) {
            SSL_free(ssl);
            return -1;
        }
    }
    *out = ssl;
    return 0;
fail:
    SSL_free(ssl);
    ERR_clear_error();
    return hc_fail(err, errlen, "cannot set up TLS for %s", host);
}

struct dk_hc_conn {
    int fd;
    SSL *ssl; /* NULL: plain */
    char host[256], port[16];
    const char *agent;
};

dk_hc_conn *dk__hc_conn_open(const char *host, const char *port, SSL_CTX *tls, int timeout_ms, char *err,
                             size_t errlen)
{
    if (strlen(host) >= sizeof(((dk_hc_conn *)0)->host) || strlen(port) >= sizeof(((dk_hc_conn *)0)->port)) {
        hc_fail(err, errlen, "host or port too long");
        return NULL;
    }
    dk_hc_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        hc_fail(err, errlen, "out of memory");
        return NULL;
    }
    strcpy(c->host, host);
    strcpy(c->port, port);
    c->agent = "dynkv-client";
    c->fd = hc_connect(host, port, timeout_ms, err, errlen);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    if (tls && hc_tls_connect(tls, c->fd, host, timeout_ms, &c->ssl, err, errlen) != 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    return c;
}

void dk__hc_conn_close(dk_hc_conn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        (void)SSL_shutdown(c->ssl); /* close_notify, best effort */
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->fd);
    free(c);
}

/* Whether a response leaves the connection usable for the next request:
 * HTTP/1.1 keep-alive unless the server said close or framed the body by
 * closing (no Content-Length, not chunked). */
static int hc_reusable(const dk_hc_response *r, const char *method)
{
    const char *conn = dk__hc_header(r, "Connection");
    if (conn && strcasecmp(conn, "close") == 0)
        return 0;
    if (strcmp(method, "HEAD") == 0 || r->status == 204 || r->status == 304)
        return 1;
    const char *te = dk__hc_header(r, "Transfer-Encoding");
    return (te && hc_is_chunked(te)) || dk__hc_header(r, "Content-Length") != NULL;
}

int dk__hc_conn_request(dk_hc_conn *c, const char *method, const char *target, const dk_hc_header *hdrs,
                        size_t n, const void *body, size_t body_len, int timeout_ms, int keep_alive,
                        dk_hc_response *out, int *reusable, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    *reusable = 0;
    int with_len = body != NULL || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
    size_t cap = strlen(method) + strlen(target) + strlen(c->host) + strlen(c->port) + strlen(c->agent) + 160;
    for (size_t i = 0; i < n; i++)
        cap += strlen(hdrs[i].name) + strlen(hdrs[i].value) + 4;
    char *req = malloc(cap);
    if (!req)
        return hc_fail(err, errlen, "out of memory");
    int host_v6 = strchr(c->host, ':') != NULL;
    size_t used = (size_t)snprintf(req, cap,
                                   "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                                   "User-Agent: %s\r\nConnection: %s\r\n",
                                   method, target, host_v6 ? "[" : "", c->host, host_v6 ? "]" : "", c->port,
                                   c->agent, keep_alive ? "keep-alive" : "close");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(req + used, cap - used, "%s: %s\r\n", hdrs[i].name, hdrs[i].value);
    if (with_len)
        used += (size_t)snprintf(req + used, cap - used, "Content-Length: %zu\r\n", body_len);
    used += (size_t)snprintf(req + used, cap - used, "\r\n");

    /* A server may answer early (413, 400) and close while the body is
     * still going out: its answer then matters more than our send error. */
    char send_err[256] = "";
    int rc = hc_send_all(c->fd, c->ssl, req, used, timeout_ms, send_err, sizeof(send_err));
    free(req);
    if (rc == 0 && body_len > 0)
        rc = hc_send_all(c->fd, c->ssl, body, body_len, timeout_ms, send_err, sizeof(send_err));
    hc_reader *rd = calloc(1, sizeof(*rd));
    int got_nothing = 0;
    if (!rd) {
        rc = hc_fail(err, errlen, "out of memory");
    } else {
        rd->fd = c->fd;
        rd->ssl = c->ssl;
        rd->timeout_ms = timeout_ms;
        int sent = rc == 0;
        rc = hc_read_response(rd, method, out, err, errlen);
        got_nothing = rc != 0 && rd->total == 0 && (rd->eof || rd->reset || !sent);
        if (rc != 0 && !sent)
            snprintf(err, errlen, "%s", send_err);
        if (rc == 0)
            *reusable = keep_alive && rd->pos == rd->len && hc_reusable(out, method);
    }
    free(rd);
    if (rc != 0) {
        dk__hc_response_free(out);
        return got_nothing ? -2 : -1;
    }
    return 0;
}

int dk__hc_request(const char *host, const char *port, const char *method, const char *target,
                   const dk_hc_header *hdrs, size_t n, const void *body, size_t body_len, int timeout_ms,
                   dk_hc_response *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    dk_hc_conn *c = dk__hc_conn_open(host, port, hc_tls, timeout_ms, err, errlen);
    if (!c)
        return -1;
    c->agent = "dynkv-cli";
    int reusable;
    int rc = dk__hc_conn_request(c, method, target, hdrs, n, body, body_len, timeout_ms, 0, out, &reusable,
                                 err, errlen);
    dk__hc_conn_close(c);
    return rc == 0 ? 0 : -1;
}
