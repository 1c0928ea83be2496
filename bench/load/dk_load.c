/*
 * dk_load - an HTTP/1.1 load generator for dynkv's /kv/{key} API that does
 * not suffer from coordinated omission (the same idea as wrk2).
 *
 * Design:
 *  - One thread, one epoll loop, C keep-alive connections spread round-robin
 *    over the target nodes (connection i talks to target i % T). Each
 *    connection has at most one request outstanding, as a browser or a
 *    pooled client would; responses are parsed with libhttp-parser.
 *  - Open loop (--rate R): request number s is *intended* to start at
 *    t0 + s/R. Whenever a connection is idle and the next intended time has
 *    come, that request goes out; when every connection is busy, the due
 *    requests wait in an (implicit) FIFO backlog. Latency is measured from the
 *    intended time, not from when the request could be written, so a server
 *    stall shows up in the percentiles of every request it delayed. A
 *    timerfd set to the next intended time (with 1 us timer slack) wakes the
 *    loop; the wake-up delay is part of the measured latency.
 *  - Closed loop (no --rate): every connection sends its next request as
 *    soon as the previous response arrived; latency is from the actual send.
 *    This finds the peak throughput, and its percentiles are service times.
 *  - Latencies go into a log-linear histogram (64 sub-buckets per power of
 *    two of nanoseconds: within 1.6 %); quantiles report a bucket's upper
 *    bound. Requests due during --warmup are left out of the totals (the
 *    per-second INTERVAL lines include them).
 *  - After --duration, no new request is scheduled; the backlog and the
 *    requests in flight drain for up to --drain seconds; what is left then is
 *    reported as unfinished. The achieved rate is the recorded completions
 *    over the time from the end of warm-up to the last completion.
 *  - A failed connection (reset, refused, bad response, --timeout expired)
 *    counts one error for its in-flight request and reconnects after 20 ms.
 *    Responses are counted by status: 2xx are successes, 404 "notfound",
 *    everything else an error.
 *  - PUT bodies are --value-size bytes sliced at random offsets from a pool
 *    of pseudo-random (incompressible) bytes. GETs send
 *    `Accept: application/octet-stream` (the raw value, no JSON/base64) and
 *    check that a 200 body is --value-size bytes long ("badlen" otherwise).
 *
 *  - --redis speaks RESP to a Redis server instead (SET key value / GET key,
 *    the same keys, values, rates and clock), so the peer in a CPU-cost run
 *    is driven by the same open loop as dynkv. A reply is parsed by a small
 *    incremental RESP reader: +OK counts as 200, a nil bulk ($-1) as 404, a
 *    bulk string as 200 with its length checked like a GET body, an error
 *    (-ERR) as 500.
 *
 *  - --tls (or --cacert FILE) speaks HTTPS (OpenSSL, TLS 1.2+): each
 *    connection does its handshake once when it connects, then carries its
 *    requests as before; a request is written with SSL_write from one
 *    buffer (head and body copied together) and read with SSL_read. With
 *    --cacert the server's certificate is verified against FILE (the
 *    target's host as IP address); with --tls alone it is not.
 *
 * Output: a human summary, optional per-second INTERVAL lines, and one line
 * `RESULT key=value ...` for scripts (see bench/load/README.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define LD_SUB_BITS 6
#define LD_SUB (1 << LD_SUB_BITS)
#define LD_NBUCKETS (LD_SUB * (64 - LD_SUB_BITS + 1))
#define LD_MAX_TARGETS 64
#define LD_MAX_HEADERS 16
#define LD_RBUF 65536
#define LD_POOL (1 << 20)
#define LD_RECONNECT_NS 20000000ull

typedef struct ld_hist {
    uint64_t n, max, b[LD_NBUCKETS];
} ld_hist;

enum { LD_DOWN, LD_CONNECTING, LD_HANDSHAKE, LD_IDLE, LD_BUSY };

typedef struct ld_conn {
    int fd, state, idx, target;
    uint64_t intended, sent, retry_at; /* ns, CLOCK_MONOTONIC */
    char hdr[1024];
    struct iovec iov[3];
    int niov;
    http_parser parser;
    int done, keepalive, status;
    size_t body_len;
    /* --redis: the RESP reply reader */
    char line[64];
    size_t line_len;
    int64_t bulk_left;          /* > 0: bytes of a bulk string (+2 for CRLF) still due */
    SSL *ssl;                   /* --tls */
    char *tbuf;                 /* --tls: the request, head and body in one buffer */
    size_t tcap;
} ld_conn;

static struct {
    int put, redis;
    struct sockaddr_storage addr[LD_MAX_TARGETS];
    socklen_t addrlen[LD_MAX_TARGETS];
    char host[LD_MAX_TARGETS][128];
    int ntargets;
    const char *headers[LD_MAX_HEADERS];
    int nheaders;
    int conns;
    double rate, duration, warmup, drain, timeout, interval;
    size_t vsize;
    uint64_t keyspace, limit, seed;
    int seq;
    const char *prefix;
    int tls;
    const char *cacert;
} ld_opt = {.conns = 50, .duration = 10, .drain = 10, .timeout = 10,
            .vsize = 10240, .keyspace = 100000, .seed = 1, .prefix = "k"};

static int ld_ep;
static ld_conn *ld_conns;
static ld_conn **ld_idle;
static int ld_nidle;
static unsigned char *ld_pool;
static uint64_t ld_rng;
static ld_hist ld_total, ld_ivl;
static uint64_t ld_t0, ld_warm_end, ld_end, ld_last_done;
static uint64_t ld_next_seq, ld_issued, ld_inflight;
static uint64_t ld_ok, ld_notfound, ld_errors, ld_badlen, ld_ivl_ok, ld_ivl_err;
static uint64_t ld_conn_errors, ld_timeouts;
static uint64_t ld_status[600];
static http_parser_settings ld_settings;
static SSL_CTX *ld_tls;
static uint64_t ld_handshakes;

static uint64_t ld_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ld_rand(void)
{
    /* xorshift64* */
    ld_rng ^= ld_rng >> 12;
    ld_rng ^= ld_rng << 25;
    ld_rng ^= ld_rng >> 27;
    return ld_rng * 2685821657736338717ull;
}

static int ld_bucket(uint64_t v)
{
    if (v < 2 * LD_SUB)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - LD_SUB_BITS;
    return (shift + 1) * LD_SUB + (int)((v >> shift) - LD_SUB);
}

static uint64_t ld_bucket_top(int i)
{
    if (i < 2 * LD_SUB)
        return (uint64_t)i;
    int shift = i / LD_SUB - 1;
    uint64_t sub = (uint64_t)(i % LD_SUB) + LD_SUB;
    return ((sub + 1) << shift) - 1;
}

static void ld_hist_add(ld_hist *h, uint64_t v)
{
    h->b[ld_bucket(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The q-quantile in milliseconds (upper bound of its bucket, capped at max). */
static double ld_hist_q(const ld_hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (int i = 0; i < LD_NBUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) {
            uint64_t top = ld_bucket_top(i);
            return (double)(top < h->max ? top : h->max) / 1e6;
        }
    }
    return (double)h->max / 1e6;
}

static void ld_die(const char *what)
{
    fprintf(stderr, "dk_load: %s: %s\n", what, strerror(errno));
    exit(2);
}

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

static void ld_connect(ld_conn *c, uint64_t now)
{
    int t = c->target;
    c->fd = socket(ld_opt.addr[t].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        ld_die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&ld_opt.addr[t], ld_opt.addrlen[t]) < 0 &&
        errno != EINPROGRESS) {
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
static void ld_fail(ld_conn *c, uint64_t now)
{
    if (c->state == LD_BUSY) {
        ld_inflight--;
        ld_ivl_err++;
        if (c->intended >= ld_warm_end)
            ld_errors++;
    }
    ld_conn_errors++;
    ld_close(c, now);
}

static void ld_make_key(char *out, size_t cap, uint64_t seq)
{
    uint64_t k;
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

static void ld_send(ld_conn *c, uint64_t intended, uint64_t now)
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
    int st = c->status;
    if (st >= 0 && st < 600)
        ld_status[st]++;
    int good = st >= 200 && st < 300;
    int badlen = good && !ld_opt.put && st == 200 && c->body_len != ld_opt.vsize;
    uint64_t lat = now - c->intended;
    /* INTERVAL lines cover the warm-up too; the totals do not. */
    ld_hist_add(&ld_ivl, lat);
    if ((good && !badlen) || st == 404)
        ld_ivl_ok++;
    else
        ld_ivl_err++;
    if (c->intended >= ld_warm_end) {
        if (badlen)
            ld_badlen++;
        if (good && !badlen)
            ld_ok++;
        else if (st == 404)
            ld_notfound++;
        else
            ld_errors++;
        ld_hist_add(&ld_total, lat);
        ld_last_done = now;
    }
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
                c->body_len -= 2;       /* the CRLF after the payload */
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
        case '+': c->status = 200; c->done = 1; break;
        case '-': c->status = 500; c->done = 1; break;
        case '$': {
            long long len = strtoll(c->line + 1, NULL, 10);
            if (len < 0) {
                c->status = 404;
                c->done = 1;
            } else {
                c->status = 200;
                c->body_len = 0;
                c->bulk_left = len + 2;     /* the payload and its CRLF */
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

static void ld_event(ld_conn *c, uint32_t ev, uint64_t now)
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

static void ld_print_ivl(uint64_t now)
{
    printf("INTERVAL t=%.1f ok=%llu err=%llu inflight=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           (double)(now - ld_t0) / 1e9, (unsigned long long)ld_ivl_ok,
           (unsigned long long)ld_ivl_err, (unsigned long long)ld_inflight,
           ld_hist_q(&ld_ivl, 0.5), ld_hist_q(&ld_ivl, 0.99), (double)ld_ivl.max / 1e6);
    fflush(stdout);
    memset(&ld_ivl, 0, sizeof ld_ivl);
    ld_ivl_ok = ld_ivl_err = 0;
}

static int ld_parse_target(const char *s, int i)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(&ld_opt.addr[i], res->ai_addr, res->ai_addrlen);
    ld_opt.addrlen[i] = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(ld_opt.host[i], sizeof ld_opt.host[i], "%s", s);
    return 0;
}

static void ld_usage(int code)
{
    fprintf(code ? stderr : stdout,
            "Usage: dk_load [options] HOST:PORT[,HOST:PORT...]\n"
            "  -m, --method put|get      request kind (default put)\n"
            "  -c, --connections N       keep-alive connections, spread over the targets (50)\n"
            "  -R, --rate R              open loop at R requests/s; 0 or absent: closed loop\n"
            "  -d, --duration S          seconds of load after the start (10)\n"
            "  -w, --warmup S            first seconds not recorded (0)\n"
            "  -n, --requests N          closed loop: stop after N requests (0: no limit)\n"
            "  -s, --value-size B        PUT body / expected GET body size (10240)\n"
            "  -k, --keyspace N          keys are PREFIX + 10 digits in [0, N) (100000)\n"
            "  -p, --prefix P            key prefix (k)\n"
            "      --seq                 keys in order 0,1,2,... instead of uniform random\n"
            "      --perm                every key once, in a scrambled order (then again)\n"
            "  -H, --header 'Name: v'    extra request header, repeatable\n"
            "  -i, --interval            print an INTERVAL line every second\n"
            "      --drain S             wait for the backlog this long after --duration (10)\n"
            "      --timeout S           a request taking longer fails its connection (10)\n"
            "      --seed N              random seed (1)\n"
            "      --redis               speak RESP to a Redis server (SET/GET) instead of HTTP\n"
            "      --tls                 HTTPS (TLS 1.2+), the server's certificate not checked\n"
            "      --cacert FILE         HTTPS, the certificate checked against the CA in FILE\n");
    exit(code);
}

static void ld_parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"method", 1, 0, 'm'},   {"connections", 1, 0, 'c'}, {"rate", 1, 0, 'R'},
        {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'w'},      {"requests", 1, 0, 'n'},
        {"value-size", 1, 0, 's'}, {"keyspace", 1, 0, 'k'},  {"prefix", 1, 0, 'p'},
        {"seq", 0, 0, 'S'},      {"perm", 0, 0, 'P'},        {"header", 1, 0, 'H'},
        {"interval", 0, 0, 'i'},
        {"drain", 1, 0, 'D'},    {"timeout", 1, 0, 'T'},     {"seed", 1, 0, 'E'},
        {"redis", 0, 0, 'r'},    {"tls", 0, 0, 'L'},         {"cacert", 1, 0, 'A'},
        {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    int o;
    ld_opt.put = 1;
    while ((o = getopt_long(argc, argv, "m:c:R:d:w:n:s:k:p:H:ih", longs, NULL)) != -1) {
        switch (o) {
        case 'm':
            if (!strcasecmp(optarg, "put"))
                ld_opt.put = 1;
            else if (!strcasecmp(optarg, "get"))
                ld_opt.put = 0;
            else
                ld_usage(2);
            break;
        case 'c': ld_opt.conns = atoi(optarg); break;
        case 'R': ld_opt.rate = atof(optarg); break;
        case 'd': ld_opt.duration = atof(optarg); break;
        case 'w': ld_opt.warmup = atof(optarg); break;
        case 'n': ld_opt.limit = strtoull(optarg, NULL, 10); break;
        case 's': ld_opt.vsize = strtoull(optarg, NULL, 10); break;
        case 'k': ld_opt.keyspace = strtoull(optarg, NULL, 10); break;
        case 'p': ld_opt.prefix = optarg; break;
        case 'S': ld_opt.seq = 1; break;
        case 'P': ld_opt.seq = 2; break;
        case 'H':
            if (ld_opt.nheaders == LD_MAX_HEADERS || !strchr(optarg, ':'))
                ld_usage(2);
            ld_opt.headers[ld_opt.nheaders++] = optarg;
            break;
        case 'i': ld_opt.interval = 1; break;
        case 'D': ld_opt.drain = atof(optarg); break;
        case 'T': ld_opt.timeout = atof(optarg); break;
        case 'E': ld_opt.seed = strtoull(optarg, NULL, 10); break;
        case 'r': ld_opt.redis = 1; break;
        case 'L': ld_opt.tls = 1; break;
        case 'A': ld_opt.tls = 1; ld_opt.cacert = optarg; break;
        case 'h': ld_usage(0); break;
        default: ld_usage(2);
        }
    }
    if (optind != argc - 1 || ld_opt.conns < 1 || ld_opt.conns > 10000 || ld_opt.keyspace == 0 ||
        ld_opt.keyspace >= 1000000007ull ||
        ld_opt.vsize > 64u << 20 || ld_opt.duration <= 0 || ld_opt.rate < 0 ||
        strlen(ld_opt.prefix) > 200)
        ld_usage(2);
    char *list = strdup(argv[optind]), *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ld_opt.ntargets == LD_MAX_TARGETS || ld_parse_target(t, ld_opt.ntargets) < 0) {
            fprintf(stderr, "dk_load: bad target %s (want HOST:PORT)\n", t);
            exit(2);
        }
        ld_opt.ntargets++;
    }
    free(list);
    if (ld_opt.ntargets == 0)
        ld_usage(2);
}

static void ld_arm(int tfd, uint64_t at)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(at / 1000000000ull),
                                          .tv_nsec = (long)(at % 1000000000ull)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int main(int argc, char **argv)
{
    ld_parse_args(argc, argv);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    ld_rng = ld_opt.seed * 0x9E3779B97F4A7C15ull + 1;
    ld_pool = malloc(LD_POOL + ld_opt.vsize);
    ld_conns = calloc((size_t)ld_opt.conns, sizeof *ld_conns);
    ld_idle = calloc((size_t)ld_opt.conns, sizeof *ld_idle);
    if (!ld_pool || !ld_conns || !ld_idle)
        ld_die("malloc");
    for (size_t i = 0; i < LD_POOL + ld_opt.vsize; i += 8) {
        uint64_t r = ld_rand();
        memcpy(ld_pool + i, &r, (LD_POOL + ld_opt.vsize - i) < 8 ? LD_POOL + ld_opt.vsize - i : 8);
    }
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
    ld_ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ld_ep < 0 || tfd < 0)
        ld_die("epoll/timerfd");
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ld_ep, EPOLL_CTL_ADD, tfd, &tev);

    uint64_t now = ld_now();
    for (int i = 0; i < ld_opt.conns; i++) {
        ld_conns[i].idx = i;
        ld_conns[i].fd = -1;
        ld_conns[i].target = i % ld_opt.ntargets;
        ld_connect(&ld_conns[i], now);
    }
    /* Connect everything before the clock starts (at most 5 s). */
    struct epoll_event evs[256];
    uint64_t give_up = now + 5000000000ull;
    while (ld_nidle < ld_opt.conns && now < give_up) {
        int n = epoll_wait(ld_ep, evs, 256, 50);
        now = ld_now();
        for (int i = 0; i < n; i++)
            if (evs[i].data.ptr)
                ld_event(evs[i].data.ptr, evs[i].events, now);
        for (int i = 0; i < ld_opt.conns; i++)
            if (ld_conns[i].state == LD_DOWN && ld_conns[i].retry_at <= now)
                ld_connect(&ld_conns[i], now);
    }
    if (ld_nidle == 0) {
        fprintf(stderr, "dk_load: could not connect to %s\n", ld_opt.host[0]);
        return 2;
    }

    ld_t0 = ld_now();
    ld_warm_end = ld_t0 + (uint64_t)(ld_opt.warmup * 1e9);
    ld_end = ld_t0 + (uint64_t)(ld_opt.duration * 1e9);
    uint64_t drain_end = ld_end + (uint64_t)(ld_opt.drain * 1e9);
    uint64_t tmo = (uint64_t)(ld_opt.timeout * 1e9);
    double interval_ns = ld_opt.rate > 0 ? 1e9 / ld_opt.rate : 0;
    uint64_t total_seq = ld_opt.rate > 0 ? (uint64_t)(ld_opt.duration * ld_opt.rate) : 0;
    uint64_t next_tick = ld_t0 + 10000000ull, next_ivl = ld_t0 + 1000000000ull;
    for (;;) {
        now = ld_now();
        int stop = now >= ld_end || (ld_opt.limit && ld_issued >= ld_opt.limit);
        /* Dispatch due requests to idle connections. */
        if (ld_opt.rate > 0) {
            while (ld_nidle > 0 && ld_next_seq < total_seq) {
                uint64_t at = ld_t0 + (uint64_t)((double)ld_next_seq * interval_ns);
                if (at > now)
                    break;
                ld_conn *c = ld_idle[--ld_nidle];
                ld_next_seq++;
                ld_send(c, at, now);
            }
        } else if (!stop) {
            while (ld_nidle > 0 && !(ld_opt.limit && ld_issued >= ld_opt.limit)) {
                ld_conn *c = ld_idle[--ld_nidle];
                ld_send(c, now, now);
            }
        }
        if (now >= next_tick) {
            for (int i = 0; i < ld_opt.conns; i++) {
                ld_conn *c = &ld_conns[i];
                if (c->state == LD_BUSY && now - c->sent > tmo) {
                    ld_timeouts++;
                    ld_fail(c, now);
                } else if (c->state == LD_DOWN && c->retry_at <= now && now < drain_end) {
                    ld_connect(c, now);
                }
            }
            next_tick = now + 10000000ull;
        }
        if (ld_opt.interval && now >= next_ivl) {
            ld_print_ivl(now);
            next_ivl += 1000000000ull;
        }
        int backlog = ld_opt.rate > 0 && ld_next_seq < total_seq;
        if ((stop && !backlog && ld_inflight == 0) || now >= drain_end)
            break;
        uint64_t wake = next_tick;
        if (ld_opt.interval && next_ivl < wake)
            wake = next_ivl;
        if (backlog && ld_nidle > 0) {
            uint64_t at = ld_t0 + (uint64_t)((double)ld_next_seq * interval_ns);
            if (at < wake)
                wake = at;
        }
        ld_arm(tfd, wake);
        int n = epoll_wait(ld_ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            ld_die("epoll_wait");
        now = ld_now();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t exp;
                ssize_t r = read(tfd, &exp, sizeof exp);
                (void)r;
            } else {
                ld_event(evs[i].data.ptr, evs[i].events, now);
            }
        }
    }
    now = ld_now();
    uint64_t unsent = ld_opt.rate > 0 ? total_seq - ld_next_seq : 0;
    uint64_t unfinished = ld_inflight + unsent;
    uint64_t span = ld_last_done > ld_warm_end ? ld_last_done - ld_warm_end : 1;
    uint64_t rec = ld_ok + ld_notfound + ld_errors;
    double ops_s = (double)(ld_ok + ld_notfound) / ((double)span / 1e9);
    printf("%s %s, %d connections over %d target(s), %s, value %zu B\n",
           ld_opt.put ? "PUT" : "GET", ld_opt.rate > 0 ? "open loop" : "closed loop", ld_opt.conns,
           ld_opt.ntargets,
           ld_opt.seq == 1 ? "sequential keys" : ld_opt.seq == 2 ? "permuted keys" : "random keys",
           ld_opt.vsize);
    if (ld_opt.rate > 0)
        printf("  target %.0f/s, achieved %.0f/s\n", ld_opt.rate, ops_s);
    else
        printf("  throughput %.0f/s\n", ops_s);
    printf("  recorded %llu: ok %llu, notfound %llu, errors %llu (badlen %llu, timeouts %llu, "
           "conn errors %llu), unfinished %llu\n",
           (unsigned long long)rec, (unsigned long long)ld_ok, (unsigned long long)ld_notfound,
           (unsigned long long)ld_errors, (unsigned long long)ld_badlen,
           (unsigned long long)ld_timeouts, (unsigned long long)ld_conn_errors,
           (unsigned long long)unfinished);
    printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
           ld_hist_q(&ld_total, 0.5), ld_hist_q(&ld_total, 0.9), ld_hist_q(&ld_total, 0.99),
           ld_hist_q(&ld_total, 0.999), (double)ld_total.max / 1e6);
    printf("  status:");
    for (int i = 0; i < 600; i++)
        if (ld_status[i])
            printf(" %d=%llu", i, (unsigned long long)ld_status[i]);
    printf("\n");
    printf("RESULT method=%s loop=%s rate=%.0f conns=%d targets=%d vsize=%zu ops=%llu "
           "secs=%.3f ops_s=%.0f ok=%llu notfound=%llu errors=%llu unfinished=%llu "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f tls_handshakes=%llu\n",
           ld_opt.put ? "put" : "get", ld_opt.rate > 0 ? "open" : "closed", ld_opt.rate,
           ld_opt.conns, ld_opt.ntargets, ld_opt.vsize, (unsigned long long)rec,
           (double)span / 1e9, ops_s, (unsigned long long)ld_ok,
           (unsigned long long)ld_notfound, (unsigned long long)ld_errors,
           (unsigned long long)unfinished, ld_hist_q(&ld_total, 0.5), ld_hist_q(&ld_total, 0.9),
           ld_hist_q(&ld_total, 0.99), ld_hist_q(&ld_total, 0.999), (double)ld_total.max / 1e6,
           (unsigned long long)ld_handshakes);
    for (int i = 0; i < ld_opt.conns; i++)
        if (ld_conns[i].fd >= 0)
            close(ld_conns[i].fd);
    free(ld_pool);
    free(ld_conns);
    free(ld_idle);
    close(tfd);
    close(ld_ep);
    return ld_errors || unfinished ? 1 : 0;
}
