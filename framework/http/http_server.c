/*
 * http_server.c - the listening half of the HTTP transport: binding (or
 * sharing another loop's listening socket), the server's defaults and
 * limits, and its counters. Connections themselves live in http_conn.c.
 *
 * Several loops share one listening socket (each holds a duplicate of the
 * descriptor in its own uv_tcp_t, and whichever loop is idle accepts): no
 * cross-thread hop per connection, as with a dispatcher thread, and no
 * SO_REUSEPORT, which would let a second process on the same address take
 * half of the connections instead of failing to start. A shared socket
 * accepts one connection per wake-up (uv_tcp_simultaneous_accepts off,
 * on every loop's copy): otherwise the first loop to wake drains the whole
 * backlog and a burst of new connections all lands on one loop, which then
 * coordinates all of their requests. The loops of one node share one
 * dk_http_limits, so the connection cap and the output
 * budget hold for the node, not per loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "http/http_int.h"

#define HTTP_CONN_OUTPUT_DEFAULT (4u << 20)
#define HTTP_OUTPUT_TOTAL_DEFAULT (256u << 20)

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
    snprintf(err, errlen,
             "bad listen address '%s': expected a numeric host and port like 127.0.0.1:8080 or [::1]:8080",
             listen ? listen : "");
    return DK_ECONFIG;
}

static void http_start_fail_cb(uv_handle_t *h)
{
    free(h->data);
}

int dk_http_server_start(uv_loop_t *loop, const dk_http_conf *conf, dk_http_handler h, void *arg,
                         dk_http_server **out, char *err, size_t errlen)
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
    s->lim = conf->limits ? conf->limits : &s->own_lim;
    if (!s->lim->max_conn_output)
        s->lim->max_conn_output = HTTP_CONN_OUTPUT_DEFAULT;
    if (!s->lim->max_output_total)
        s->lim->max_output_total = HTTP_OUTPUT_TOTAL_DEFAULT;
    s->handler = h;
    s->arg = arg;
    s->conf = *conf;
    s->conf.listen = NULL; /* not kept: the caller's string may go */
    s->conf.share = NULL;
    s->conf.limits = NULL;
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
    if (rc == 0 && conf->share) {
        /* Loop threads do not run yet while servers start: setting the
         * first loop's flag from here is safe. */
        uv_tcp_simultaneous_accepts(&s->listener, 0);
        uv_tcp_simultaneous_accepts((uv_tcp_t *)&conf->share->listener, 0);
    }
    if (rc || (rc = uv_listen((uv_stream_t *)&s->listener, HTTP_BACKLOG, dk__http_on_connection)) != 0) {
        snprintf(err, errlen, "cannot listen on port %d: %s", s->port, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, http_start_fail_cb);
        return rc;
    }
    uv_timer_init(loop, &s->wake);
    s->wake.data = s;
    *out = s;
    return 0;
}

int dk_http_server_port(const dk_http_server *s)
{
    return s->port;
}

void dk_http_server_stats(const dk_http_server *s, dk_http_stats *out)
{
    dk_http_server *m = (dk_http_server *)s;
    out->accepted = atomic_load_explicit(&m->accepted, memory_order_relaxed);
    out->open = atomic_load_explicit(&m->open, memory_order_relaxed);
    out->requests = atomic_load_explicit(&m->requests, memory_order_relaxed);
    out->parse_errors = atomic_load_explicit(&m->parse_errors, memory_order_relaxed);
    out->early = atomic_load_explicit(&m->early, memory_order_relaxed);
    out->timeouts = atomic_load_explicit(&m->timeouts, memory_order_relaxed);
    out->refused = atomic_load_explicit(&m->refused, memory_order_relaxed);
}
