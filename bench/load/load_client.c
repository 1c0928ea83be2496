/*
 * load_client.c - dk_load's connections: connect and reconnect, the TLS
 * handshake (--tls), writing a request (HTTP/1.1 PUT or GET of /kv/{key},
 * or a RESP SET/GET with --redis) and reading its response (libhttp-parser,
 * or a small incremental RESP reader). Each connection carries at most one
 * request at a time; a finished one goes back on the idle list that the
 * main loop (dk_load.c) dispatches from, and its outcome to the counters
 * (load_report.c).
 *
 * Plain connections write a request's head and body straight from their
 * buffers with one sendmsg; TLS ones copy them into one buffer for
 * SSL_write, which takes a single buffer and must be retried with the
 * same one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "load.h"

int ld_ep;
ld_conn **ld_idle;
int ld_nidle;
uint64_t ld_issued, ld_inflight, ld_conn_errors, ld_timeouts, ld_handshakes;

static http_parser_settings ld_settings;
static SSL_CTX *ld_tls;

static void ld_close(ld_conn *c, uint64_t now)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd >= 0) {
        epoll_ctl(ld_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->state == LD_IDLE) {
        for (int i = 0; i < ld_nidle; i++)
            if (ld_idle[i] == c) {
                ld_idle[i] = ld_idle[--ld_nidle];
                break;
            }
    }
    c->fd = -1;
    c->state = LD_DOWN;
    c->retry_at = now + LD_RECONNECT_NS;
}

void ld_connect(ld_conn *c, uint64_t now)
{
    int t = c->target;
    c->fd = socket(ld_opt.addr[t].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        ld_die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&ld_opt.addr[t], ld_opt.addrlen[t]) < 0 && errno != EINPROGRESS) {
        ld_conn_errors++;
        close(c->fd);
        c->fd = -1;
        c->retry_at = now + LD_RECONNECT_NS;
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ld_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        ld_die("epoll_ctl");
    c->state = LD_CONNECTING;
}

/* A request failed on c (reset, bad response, timeout): count it, reconnect. */
void ld_fail(ld_conn *c, uint64_t now)
{
    if (c->state == LD_BUSY) {
        ld_inflight--;
        ld_record_fail(c->intended);
    }
    ld_conn_errors++;
    ld_close(c, now);
}

static void ld_make_key(char *out, size_t cap, uint64_t seq)
{
    uint64_t k;
    seq /= ld_opt.repeat;
    if (ld_opt.seq == 1)
        k = seq % ld_opt.keyspace;
    else if (ld_opt.seq == 2) /* a bijection of [0, keyspace): the prime exceeds it */
        k = ((seq % ld_opt.keyspace) * 1000000007ull + ld_opt.seed) % ld_opt.keyspace;
    else
        k = ld_rand() % ld_opt.keyspace;
    snprintf(out, cap, "%s%010llu", ld_opt.prefix, (unsigned long long)k);
}

static void ld_want_out(ld_conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ld_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void ld_flush(ld_conn *c, uint64_t now)
{
    while (c->ssl && c->niov > 0) {
        int n = SSL_write(c->ssl, c->iov[0].iov_base, (int)c->iov[0].iov_len);
        if (n > 0) {
            c->iov[0].iov_base = (char *)c->iov[0].iov_base + n;
            c->iov[0].iov_len -= (size_t)n;
            if (c->iov[0].iov_len == 0)
                c->niov = 0;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) {
            ld_want_out(c, 1);
            return;
        }
        if (e == SSL_ERROR_WANT_READ)
            return;
        ld_fail(c, now);
        return;
    }
    while (c->niov > 0) {
        struct msghdr m = {.msg_iov = c->iov, .msg_iovlen = (size_t)c->niov};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                ld_want_out(c, 1);
                return;
            }
            if (errno == EINTR)
                continue;
            ld_fail(c, now);
            return;
        }
        size_t left = (size_t)n;
        while (c->niov > 0 && left >= c->iov[0].iov_len) {
            left -= c->iov[0].iov_len;
            c->iov[0] = c->iov[1];
            c->iov[1] = c->iov[2];
            c->niov--;
        }
        if (c->niov > 0) {
            c->iov[0].iov_base = (char *)c->iov[0].iov_base + left;
            c->iov[0].iov_len -= left;
        }
    }
}

void ld_send(ld_conn *c, uint64_t intended, uint64_t now)
{
    char key[300];
    ld_make_key(key, sizeof key, ld_issued);
    ld_issued++;
    int n;
    const char *tail;
    char extra[1024];
    size_t el = 0;
    for (int i = 0; i < ld_opt.nheaders && el < sizeof extra; i++)
        el += (size_t)snprintf(extra + el, sizeof extra - el, "%s\r\n", ld_opt.headers[i]);
    if (el >= sizeof extra)
        el = sizeof extra - 1;
    extra[el] = 0;
    size_t klen = strlen(key);
    if (ld_opt.redis && ld_opt.put)
        n = snprintf(c->hdr, sizeof c->hdr, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", klen, key,
                     ld_opt.vsize);
    else if (ld_opt.redis)
        n = snprintf(c->hdr, sizeof c->hdr, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", klen, key);
    else if (ld_opt.put) {
        tail = "Content-Type: application/octet-stream\r\n";
        n = snprintf(c->hdr, sizeof c->hdr,
                     "PUT /kv/%s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %zu\r\n%s\r\n", key,
                     ld_opt.host[c->target], tail, ld_opt.vsize, extra);
    } else {
        n = snprintf(c->hdr, sizeof c->hdr,
                     "GET /kv/%s HTTP/1.1\r\nHost: %s\r\n"
                     "Accept: application/octet-stream\r\n%s\r\n",
                     key, ld_opt.host[c->target], extra);
    }
    if (n < 0 || (size_t)n >= sizeof c->hdr) {
        fprintf(stderr, "dk_load: request head too long\n");
        exit(2);
    }
    c->iov[0].iov_base = c->hdr;
    c->iov[0].iov_len = (size_t)n;
    c->niov = 1;
    if (ld_opt.put) {
        size_t off = (size_t)(ld_rand() % LD_POOL);
        c->iov[1].iov_base = ld_pool + off;
        c->iov[1].iov_len = ld_opt.vsize;
        c->niov = 2;
        if (ld_opt.redis) {
            c->iov[2].iov_base = (void *)"\r\n";
            c->iov[2].iov_len = 2;
            c->niov = 3;
        }
    }
    if (c->ssl) {
        size_t total = 0;
        for (int i = 0; i < c->niov; i++)
            total += c->iov[i].iov_len;
        if (total > c->tcap) {
            free(c->tbuf);
            c->tcap = total;
            if (!(c->tbuf = malloc(total)))
                ld_die("malloc");
        }
        total = 0;
        for (int i = 0; i < c->niov; i++) {
            memcpy(c->tbuf + total, c->iov[i].iov_base, c->iov[i].iov_len);
            total += c->iov[i].iov_len;
        }
        c->iov[0].iov_base = c->tbuf;
        c->iov[0].iov_len = total;
        c->niov = 1;
    }
    c->intended = intended;
    c->sent = now;
    c->state = LD_BUSY;
    c->done = 0;
    c->body_len = 0;
    c->line_len = 0;
    c->bulk_left = 0;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    ld_inflight++;
    ld_flush(c, now);
}

static int ld_on_body(http_parser *p, const char *at, size_t len)
{
    (void)at;
    ((ld_conn *)p->data)->body_len += len;
    return 0;
}

static int ld_on_complete(http_parser *p)
{
    ld_conn *c = p->data;
    c->done = 1;
    c->status = (int)p->status_code;
    c->keepalive = http_should_keep_alive(p);
    return 0;
}

static void ld_complete(ld_conn *c, uint64_t now)
{
    ld_inflight--;
    ld_record(c->intended, c->sent, c->status, c->body_len, now);
    if (!c->keepalive) {
        ld_close(c, now);
        c->retry_at = now; /* a polite close: reconnect at once */
        return;
    }
    c->state = LD_IDLE;
    ld_idle[ld_nidle++] = c;
}

/* --redis: feed n reply bytes to c's RESP reader. Returns the bytes used,
 * or -1 on a malformed reply; sets c->done at the end of the reply. */
static ssize_t ld_resp_feed(ld_conn *c, const char *buf, size_t n)
{
    size_t i = 0;
    while (i < n && !c->done) {
        if (c->bulk_left > 0) {
            size_t take = n - i < (size_t)c->bulk_left ? n - i : (size_t)c->bulk_left;
            c->bulk_left -= (int64_t)take;
            c->body_len += take;
            i += take;
            if (c->bulk_left == 0) {
                c->body_len -= 2; /* the CRLF after the payload */
                c->done = 1;
            }
            continue;
        }
        char ch = buf[i++];
        if (c->line_len == sizeof c->line)
            return -1;
        c->line[c->line_len++] = ch;
        if (ch != '\n')
            continue;
        if (c->line_len < 3 || c->line[c->line_len - 2] != '\r')
            return -1;
        c->line[c->line_len - 2] = 0;
        c->keepalive = 1;
        switch (c->line[0]) {
        case '+':
            c->status = 200;
            c->done = 1;
            break;
        case '-':
            c->status = 500;
            c->done = 1;
            break;
        case '$': {
            long long len = strtoll(c->line + 1, NULL, 10);
            if (len < 0) {
                c->status = 404;
                c->done = 1;
            } else {
                c->status = 200;
                c->body_len = 0;
                c->bulk_left = len + 2; /* the payload and its CRLF */
            }
            break;
        }
        default: return -1;
        }
        c->line_len = 0;
    }
    return (ssize_t)i;
}

static void ld_read(ld_conn *c, uint64_t now)
{
    static char buf[LD_RBUF];
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, buf, (int)sizeof buf);
            int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            n = r > 0 ? r : e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
            if (n < 0)
                errno = EPROTO;
        } else {
            n = recv(c->fd, buf, sizeof buf, 0);
        }
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            if (errno == EINTR)
                continue;
            ld_fail(c, now);
            return;
        }
        if (n == 0 || c->state != LD_BUSY || c->done) {
            /* EOF, or bytes nobody asked for: the connection is unusable. */
            if (c->state == LD_BUSY)
                ld_fail(c, now);
            else
                ld_close(c, now);
            return;
        }
        size_t used;
        int bad;
        if (ld_opt.redis) {
            ssize_t u = ld_resp_feed(c, buf, (size_t)n);
            bad = u < 0;
            used = bad ? 0 : (size_t)u;
        } else {
            used = http_parser_execute(&c->parser, &ld_settings, buf, (size_t)n);
            bad = HTTP_PARSER_ERRNO(&c->parser) != HPE_OK;
        }
        if (bad || used != (size_t)n) {
            ld_fail(c, now);
            return;
        }
        if (c->done) {
            ld_complete(c, now);
            return;
        }
    }
}

void ld_event(ld_conn *c, uint32_t ev, uint64_t now)
{
    if (c->state == LD_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            ld_conn_errors++;
            ld_close(c, now);
            return;
        }
        if (ld_tls) {
            /* the address part of "HOST:PORT" or "[V6]:PORT" */
            char ip[128];
            const char *h = ld_opt.host[c->target], *colon = strrchr(h, ':');
            size_t hl = colon ? (size_t)(colon - h) : strlen(h);
            if (h[0] == '[' && hl >= 2) {
                h++;
                hl -= 2;
            }
            snprintf(ip, sizeof ip, "%.*s", (int)hl, h);
            c->ssl = SSL_new(ld_tls);
            if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
                (ld_opt.cacert && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip) != 1)) {
                fprintf(stderr, "dk_load: cannot set up TLS for %s\n", ld_opt.host[c->target]);
                exit(2);
            }
            c->state = LD_HANDSHAKE;
        } else {
            ld_want_out(c, 0);
            c->state = LD_IDLE;
            ld_idle[ld_nidle++] = c;
            return;
        }
    }
    if (c->state == LD_HANDSHAKE) {
        int r = SSL_connect(c->ssl);
        if (r == 1) {
            ld_handshakes++;
            ld_want_out(c, 0);
            c->state = LD_IDLE;
            ld_idle[ld_nidle++] = c;
            return;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            ld_want_out(c, e == SSL_ERROR_WANT_WRITE);
            return;
        }
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        fprintf(stderr, "dk_load: TLS handshake with %s failed: %s\n", ld_opt.host[c->target], why);
        ld_conn_errors++;
        ld_close(c, now);
        return;
    }
    if ((ev & EPOLLOUT) && c->state == LD_BUSY && c->niov > 0) {
        ld_flush(c, now);
        if (c->fd >= 0 && c->niov == 0)
            ld_want_out(c, 0);
    }
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        ld_read(c, now);
}

/* Set up the response parser's callbacks and, with --tls, the TLS client
 * context (TLS 1.2+, the CA of --cacert checked). Exits on failure. */
void ld_client_init(void)
{
    if (ld_opt.tls) {
        ld_tls = SSL_CTX_new(TLS_client_method());
        if (!ld_tls)
            ld_die("SSL_CTX_new");
        SSL_CTX_set_min_proto_version(ld_tls, TLS1_2_VERSION);
        SSL_CTX_set_mode(ld_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (ld_opt.cacert) {
            if (SSL_CTX_load_verify_locations(ld_tls, ld_opt.cacert, NULL) != 1) {
                fprintf(stderr, "dk_load: cannot load CA file %s\n", ld_opt.cacert);
                exit(2);
            }
            SSL_CTX_set_verify(ld_tls, SSL_VERIFY_PEER, NULL);
        }
    }
    ld_settings.on_body = ld_on_body;
    ld_settings.on_message_complete = ld_on_complete;
}
