/*
 * rpc.c - the dk_rpc instance and what both directions of a connection
 * share: reading and framing, writing, closing, and the HELLO messages.
 * The server half (accept, dispatch, answers) is in rpc_server.c, the
 * client half (peers, pools, deadlines, backoff) in rpc_client.c.
 *
 * Reading: each connection keeps one growable buffer. Once a frame's header
 * has arrived (and its CRC checked) the reader knows the whole frame's
 * size and grows the buffer to it, never beyond DK_FRAME_MAX; frames are
 * decoded in place and handed on as borrowed slices, then the unparsed
 * tail is moved to the front. A frame the decoder refuses closes that
 * connection and nothing else.
 *
 * Writing (rpc_write.c): frames are queued per connection and go out at
 * the end of the loop turn, all of a connection's in one uv_write.
 *
 * TLS ([security] tls_ca_file, rpc_tls.h): a TLS connection reads into
 * the instance's ciphertext buffer and decrypts into rbuf, so everything
 * above (framing, MACs, dispatch) is unchanged; send_buf encrypts the
 * MACed frame before its uv_write. The initiator sends HELLO only once the
 * TLS handshake is done and the acceptor's certificate names the node it
 * dialled; the acceptor checks the initiator's certificate against the id
 * in its HELLO (rpc_server.c).
 *
 * Not taken: one uv_timer per connection for idle timeouts. Idle
 * connections cost a socket each and peers are few; TCP keepalive finds
 * dead ones, and the client probes a connection with PING as soon as a
 * request on it times out (rpc_client.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base/log.h"
#include "rpc/rpc_int.h"

#define RPC_READ_CHUNK 65536u
#define RPC_KEEPALIVE_S 30u

/* ---- addresses -------------------------------------------------------- */

/* Parse "ip:port" or "[ip6]:port" (numeric). Returns 0 or -EINVAL. */
int dk__rpc_parse_addr(const char *text, struct sockaddr_storage *ss)
{
    char host[64];
    const char *hs = text, *colon;
    size_t hl;
    if (!text || !*text)
        return -EINVAL;
    if (text[0] == '[') {
        const char *rb = strchr(text, ']');
        if (!rb || rb[1] != ':')
            return -EINVAL;
        hs = text + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return -EINVAL;
        hl = (size_t)(colon - text);
    }
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || port > 65535)
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (text[0] != '[' && uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (text[0] == '[' && uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

/* "ip:port" of sa into out (for logs). */
void dk__rpc_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[48] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(out, outlen, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(out, outlen, "[%s]:%d", ip, port);
    } else {
        snprintf(out, outlen, "?");
    }
}

/* ---- instance lifetime ---------------------------------------------------- */

/* One of r's handles finished closing; the last one after a stop frees r. */
void dk__rpc_release(dk_rpc *r)
{
    if (--r->handles || !r->stopping)
        return;
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    dk__rpc_client_free_peers(r);
    for (rpc_out *o; (o = r->out_pool) != NULL;) {
        r->out_pool = o->hnext;
        free(o);
    }
    free(r->htab);
    dk_rpc_tls_free(r->tls);
    dk_buf_free(&r->tls_cipher);
    OPENSSL_cleanse(r->key, sizeof(r->key));
    free(r);
    if (done)
        done(arg);
}

static void rpc_handle_closed(uv_handle_t *h)
{
    dk__rpc_release(h->data);
}

/* Does s match a node id's [a-z0-9_-]{1,64}? */
int dk__rpc_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > DK_NODE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int rpc_start_fail(dk_rpc *r, int rc, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "rpc: cannot %s: %s", what, dk_strerror(rc));
    r->stopping = 1;
    r->done = NULL;
    uv_close((uv_handle_t *)&r->listener, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->defer, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->flush, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->flush_guard, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->deadline, rpc_handle_closed);
    return rc;
}

static int rpc_start(uv_loop_t *loop, const dk_rpc_conf *conf, dk_rpc **out, char *err, size_t errlen);

int dk_rpc_start(uv_loop_t *loop, const dk_rpc_conf *conf, dk_rpc **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = rpc_start(loop, conf, out, err, errlen);
    if (rc)
        dk_rpc_tls_free(conf->tls);
    return rc;
}

static int rpc_start(uv_loop_t *loop, const dk_rpc_conf *conf, dk_rpc **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (dk__rpc_parse_addr(conf->listen, &ss)) {
        snprintf(err, errlen,
                 "rpc: bad listen address '%s': expected a numeric ip:port like "
                 "127.0.0.1:7070 or [::1]:7070",
                 conf->listen ? conf->listen : "");
        return DK_ECONFIG;
    }
    size_t cl = conf->cluster_name ? strlen(conf->cluster_name) : 0;
    if (cl == 0 || cl > DK_CLUSTER_NAME_MAX) {
        snprintf(err, errlen, "rpc: cluster name must be 1..%u bytes", DK_CLUSTER_NAME_MAX);
        return DK_ECONFIG;
    }
    if (!dk__rpc_id_ok(conf->node_id) || conf->incarnation == 0) {
        snprintf(err, errlen, "rpc: bad node id '%s' or incarnation %u", conf->node_id ? conf->node_id : "",
                 conf->incarnation);
        return DK_ECONFIG;
    }
    dk_rpc *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->loop = loop;
    memcpy(r->cluster, conf->cluster_name, cl + 1);
    strcpy(r->node_id, conf->node_id);
    r->incarnation = conf->incarnation;
    if (!conf->key) {
        snprintf(err, errlen, "rpc: no cluster key given");
        free(r);
        return DK_ECONFIG;
    }
    memcpy(r->key, conf->key, DK_RPC_KEY_LEN);
    r->loopback_only = conf->loopback_only;
    r->max_inbound = conf->max_inbound ? conf->max_inbound : 1024;
    r->frame_timeout_ms = conf->frame_timeout_ms ? conf->frame_timeout_ms : 2000;
    r->max_conns = conf->max_conns_per_peer ? conf->max_conns_per_peer : 2;
    r->max_outstanding = conf->max_outstanding ? conf->max_outstanding : 256;
    r->connect_timeout_ms = conf->connect_timeout_ms ? conf->connect_timeout_ms : 2000;
    r->backoff_max_ms = conf->backoff_max_ms ? conf->backoff_max_ms : 2000;
    r->probe_timeout_ms = conf->probe_timeout_ms ? conf->probe_timeout_ms : 1000;
    r->on_request = conf->on_request;
    dk_buf_init(&r->tls_cipher);
    r->arg = conf->arg;
    r->next_id = 1;
    TAILQ_INIT(&r->inbound);
    TAILQ_INIT(&r->peers);
    TAILQ_INIT(&r->deferred);
    r->bind_addr = ss;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&r->bind_addr;
        in->sin_port = 0;
        r->bind_any = in->sin_addr.s_addr == htonl(INADDR_ANY);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&r->bind_addr;
        in6->sin6_port = 0;
        r->bind_any = memcmp(&in6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
    }

    int rc;
    uv_tcp_init(loop, &r->listener);
    uv_idle_init(loop, &r->defer);
    uv_prepare_init(loop, &r->flush);
    uv_idle_init(loop, &r->flush_guard);
    uv_timer_init(loop, &r->deadline);
    TAILQ_INIT(&r->flushq);
    TAILQ_INIT(&r->due);
    r->listener.data = r->defer.data = r->flush.data = r->flush_guard.data = r->deadline.data = r;
    r->handles = 5;
    r->client_only = conf->client_only;
    r->n_inbound = &r->n_inbound_all;
    if (conf->share && !r->client_only) {
        /* A loop's instance: the listener's cap and TLS contexts. */
        r->share = conf->share;
        r->n_inbound = &conf->share->n_inbound_all;
        r->max_inbound = conf->share->max_inbound;
        r->loopback_only = conf->share->loopback_only;
        r->tls = conf->tls ? conf->tls : conf->share->tls ? dk_rpc_tls_ref(conf->share->tls) : NULL;
        *out = r;
        return 0;
    }
    if (r->client_only) {
        r->tls = conf->tls;
        *out = r;
        return 0;
    }
    rc = uv_tcp_bind(&r->listener, (const struct sockaddr *)&ss, 0);
    if (rc)
        return rpc_start_fail(r, rc, err, errlen, "bind the rpc listen address");
    rc = uv_listen((uv_stream_t *)&r->listener, 128, dk__rpc_server_accept);
    if (rc)
        return rpc_start_fail(r, rc, err, errlen, "listen on the rpc address");
    dk_log(DK_LOG_INFO, "rpc: node %s of cluster %s listening on %s (port %d)%s%s", r->node_id, r->cluster,
           conf->listen, dk_rpc_port(r), r->loopback_only ? " (protected mode: loopback peers only)" : "",
           conf->tls ? " with mutual TLS" : "");
    r->tls = conf->tls;
    *out = r;
    return 0;
}

int dk_rpc_port(const dk_rpc *r)
{
    if (r->client_only || r->share)
        return DK_ENOTFOUND;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &len);
    if (rc)
        return rc;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void dk_rpc_stats_get(const dk_rpc *r, dk_rpc_stats *st)
{
#define RPC_GET(f) st->f = atomic_load_explicit(&r->st.f, memory_order_relaxed)
    RPC_GET(conns_open);
    RPC_GET(conns_accepted);
    RPC_GET(conns_connected);
    RPC_GET(connect_failures);
    RPC_GET(handshake_failures);
    RPC_GET(wrong_cluster);
    RPC_GET(bad_frames);
    RPC_GET(timeouts);
    RPC_GET(late_replies);
    RPC_GET(requests_in);
    RPC_GET(requests_out);
    RPC_GET(auth_failures);
    RPC_GET(conns_rejected);
    RPC_GET(frame_timeouts);
#undef RPC_GET
}

dk_rpc_tls *dk_rpc_tls_of(const dk_rpc *r)
{
    return r->tls;
}

void dk_rpc_stop(dk_rpc *r, void (*done)(void *arg), void *arg)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    r->done = done;
    r->done_arg = arg;
    uv_close((uv_handle_t *)&r->listener, rpc_handle_closed);
    dk__rpc_client_stop(r);
    rpc_conn *c;
    while ((c = TAILQ_FIRST(&r->inbound)) != NULL)
        dk__rpc_conn_close(c, DK_ECLOSED);
    uv_close((uv_handle_t *)&r->defer, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->flush, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->flush_guard, rpc_handle_closed);
    uv_close((uv_handle_t *)&r->deadline, rpc_handle_closed);
}

/* ---- connections ------------------------------------------------------------ */

static void conn_handle_closed(uv_handle_t *h)
{
    rpc_conn *c = h->data;
    dk_rpc *r = c->r;
    if (--c->handles == 0) {
        dk__rpc_conn_drop_queue(c);
        dk_buf_free(&c->rbuf);
        dk_rpc_mac_free(&c->mac_in);
        dk_rpc_mac_free(&c->mac_out);
        dk_rpc_tls_conn_free(c->tls);
        free(c->hs);
        free(c);
    }
    dk__rpc_release(r);
}

static void conn_timer_cb(uv_timer_t *t)
{
    rpc_conn *c = t->data;
    if (c->close_after_flush) {
        /* A refusal the other side does not read: give up on delivering it. */
        dk__rpc_conn_close(c, c->close_status);
        return;
    }
    if (c->state == CONN_READY) {
        /* Timers run before I/O in a loop iteration: after a stall of the
         * loop, bytes that did arrive in time are still unread. Give them
         * one poll before deciding. */
        if (!c->frame_grace) {
            c->frame_grace = 1;
            uv_timer_start(&c->timer, conn_timer_cb, 1, 0);
            return;
        }
        RPC_COUNT(c->r, frame_timeouts);
        dk__rpc_refusal(c->r,
                        "rpc: connection %s %s: a frame began %llu ms ago and is still incomplete; "
                        "closing that connection",
                        c->inbound ? "from" : "to", c->addr, (unsigned long long)c->r->frame_timeout_ms);
        dk__rpc_conn_close(c, c->inbound ? DK_ETIMEOUT : -ECONNRESET);
        return;
    }
    if (c->inbound)
        dk_log(DK_LOG_WARN, "rpc: connection from %s: no completed handshake within %llu ms; closing it",
               c->addr, (unsigned long long)c->r->connect_timeout_ms);
    else
        dk_log(c->peer->failures ? DK_LOG_DEBUG : DK_LOG_WARN,
               "rpc: connection to node %s at %s: no completed handshake within %llu ms; closing it",
               c->peer->id, c->addr, (unsigned long long)c->r->connect_timeout_ms);
    if (c->state == CONN_CONNECTING)
        RPC_COUNT(c->r, connect_failures);
    else
        RPC_COUNT(c->r, handshake_failures);
    dk__rpc_conn_close(c, c->inbound ? DK_ETIMEOUT : DK_EUNAVAILABLE);
}

/* A connection with its socket and handshake timer initialised (both count
 * in c->handles and r->handles); the caller links it into a list. NULL on
 * allocation failure. */
rpc_conn *dk__rpc_conn_new(dk_rpc *r, int inbound)
{
    rpc_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->r = r;
    c->inbound = inbound;
    c->state = inbound ? CONN_HELLO : CONN_CONNECTING;
    dk_buf_init(&c->rbuf);
    TAILQ_INIT(&c->reqs);
    TAILQ_INIT(&c->inflight);
    snprintf(c->addr, sizeof(c->addr), "?");
    uv_tcp_init(r->loop, &c->tcp);
    uv_timer_init(r->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    r->handles += 2;
    RPC_COUNT(r, conns_open);
    uv_timer_start(&c->timer, conn_timer_cb, r->connect_timeout_ms, 0);
    return c;
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rpc_conn *c = h->data;
    size_t have = c->rbuf.len - c->roff, want = RPC_READ_CHUNK;
    (void)suggested;
    if (c->tls) {
        dk_rpc *r = c->r;
        if (dk_buf_reserve(&r->tls_cipher, RPC_READ_CHUNK)) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        *buf = uv_buf_init((char *)r->tls_cipher.data, (unsigned)r->tls_cipher.cap);
        return;
    }
    if (c->need > have && c->need - have > want)
        want = c->need - have;
    if (c->roff && c->rbuf.cap - c->rbuf.len < want) {
        memmove(c->rbuf.data, c->rbuf.data + c->roff, have);
        c->rbuf.len = have;
        c->roff = 0;
    }
    if (dk_buf_reserve(&c->rbuf, want)) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)c->rbuf.data + c->rbuf.len, (unsigned)(c->rbuf.cap - c->rbuf.len));
}

/* A TLS connection that failed: count and log a failed handshake (TLS's
 * or, in TLS 1.3, the acceptor's late refusal of our certificate, which
 * the initiator sees once its own side is up), send the alert in out if
 * any, and close (after the alert is written). */
static void conn_tls_fail(rpc_conn *c, const char *why, dk_buf *out)
{
    dk_rpc *r = c->r;
    if (c->state != CONN_READY) {
        RPC_COUNT(r, handshake_failures);
        dk__rpc_refusal(r, "rpc: TLS handshake on connection %s %s%s%s failed: %s; closing that connection",
                        c->inbound ? "from" : "to", c->inbound ? "" : "node ", c->inbound ? "" : c->peer->id,
                        c->addr, why);
    } else {
        dk_log(DK_LOG_INFO, "rpc: connection %s %s: TLS: %s; closing it", c->inbound ? "from" : "to", c->addr,
               why);
    }
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    int status = c->inbound ? -EACCES : DK_EUNAVAILABLE;
    if (!out->len || dk__rpc_conn_write_raw(c, out)) {
        dk_buf_free(out);
        dk__rpc_conn_close(c, status);
        return;
    }
    c->close_after_flush = 1;
    c->close_status = status;
    uv_timer_start(&c->timer, conn_timer_cb, c->r->connect_timeout_ms, 0);
}

/* Decrypt len bytes read on a TLS connection into c->rbuf, send what the
 * handshake produced, and start the RPC handshake once TLS is up. Returns
 * 0, or -1 when c is closing. */
static int conn_tls_in(rpc_conn *c, const void *data, size_t len)
{
    char err[256];
    dk_buf out = DK_BUF_INIT;
    if (c->roff) {
        memmove(c->rbuf.data, c->rbuf.data + c->roff, c->rbuf.len - c->roff);
        c->rbuf.len -= c->roff;
        c->roff = 0;
    }
    int was_up = dk_rpc_tls_up(c->tls);
    if (dk_rpc_tls_feed(c->tls, data, len, &c->rbuf, &out, err, sizeof(err))) {
        conn_tls_fail(c, err, &out);
        return -1;
    }
    if (out.len && dk__rpc_conn_write_raw(c, &out)) {
        dk_buf_free(&out);
        dk__rpc_conn_close(c, c->inbound ? -ECONNRESET : DK_EUNAVAILABLE);
        return -1;
    }
    dk_buf_free(&out);
    if (was_up || !dk_rpc_tls_up(c->tls))
        return 0;
    dk_log(DK_LOG_DEBUG, "rpc: connection %s %s: %s, peer certificate verified", c->inbound ? "from" : "to",
           c->addr, dk_rpc_tls_version(c->tls));
    if (!c->inbound) {
        if (!dk_rpc_tls_peer_is(c->tls, c->peer->id)) {
            snprintf(err, sizeof(err),
                     "its certificate (signed by our CA) names neither in its CN nor in a DNS "
                     "subjectAltName the node id %s",
                     c->peer->id);
            conn_tls_fail(c, err, &out);
            return -1;
        }
        dk__rpc_client_hello(c);
        if (c->state == CONN_CLOSING)
            return -1;
    }
    return 0;
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rpc_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF)
            dk_log(DK_LOG_INFO, "rpc: connection %s %s: %s", c->inbound ? "from" : "to", c->addr,
                   uv_strerror((int)nread));
        dk__rpc_conn_close(c, -ECONNRESET);
        return;
    }
    if (c->tls) {
        if (conn_tls_in(c, buf->base, (size_t)nread) == 0)
            dk__rpc_conn_process(c);
        return;
    }
    c->rbuf.len += (size_t)nread;
    dk__rpc_conn_process(c);
}

/* Start reading and set socket options; returns 0 or a libuv code. */
int dk__rpc_conn_start(rpc_conn *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, RPC_KEEPALIVE_S);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
    c->reading = rc == 0;
    return rc;
}

/* Parse and dispatch the complete frames received so far. Re-entrant calls
 * (a handler answering from inside the loop) return at once; the outer
 * loop sees their effect. */
void dk__rpc_conn_process(rpc_conn *c)
{
    dk_rpc *r = c->r;
    char err[160];
    int progressed = 0, paused = 0;
    if (c->in_parse)
        return;
    c->in_parse = 1;
    while (c->state != CONN_CLOSING && !c->close_after_flush) {
        if (c->inbound && c->outstanding >= r->max_outstanding) {
            /* Backpressure: leave frames in the socket until answers drain. */
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = 0;
            }
            paused = 1;
            break;
        }
        size_t tag = c->authed ? DK_RPC_TAG_LEN : 0;
        dk_frame_header h;
        dk_slice body;
        size_t have = c->rbuf.len - c->roff;
        if (have == 0) { /* also after a handler took the buffer (dk_rpc_req_take_frame) */
            c->need = 0;
            break;
        }
        const uint8_t *p = c->rbuf.data + c->roff;
        ssize_t n = dk_frame_decode(p, have, &h, &body, err, sizeof(err));
        if (n < 0) {
            RPC_COUNT(r, bad_frames);
            dk_log(DK_LOG_WARN, "rpc: malformed frame on connection %s %s: %s; closing that connection",
                   c->inbound ? "from" : "to", c->addr, err);
            dk__rpc_conn_close(c, (int)n);
            break;
        }
        if (n == 0) {
            c->need = have >= DK_FRAME_HEADER_LEN
                          ? DK_FRAME_HEADER_LEN + (size_t)h.body_len + DK_FRAME_TRAILER_LEN + tag
                          : 0;
            break;
        }
        if ((h.flags & DK_FRAME_NO_CRC) && !tag) {
            RPC_COUNT(r, bad_frames);
            dk_log(DK_LOG_WARN,
                   "rpc: frame without a CRC (DK_FRAME_NO_CRC) and without a MAC on connection %s %s; "
                   "closing that connection",
                   c->inbound ? "from" : "to", c->addr);
            dk__rpc_conn_close(c, DK_ECORRUPT);
            break;
        }
        if (tag && have < (size_t)n + tag) {
            c->need = (size_t)n + tag;
            break;
        }
        if (tag && dk_rpc_mac_open(&c->mac_in, p, (size_t)n, p + n) != 0) {
            RPC_COUNT(r, auth_failures);
            dk__rpc_refusal(r,
                            "rpc: frame %llu (%s) on connection %s %s has a wrong MAC: forged, replayed, "
                            "reordered or after a dropped frame; closing that connection",
                            (unsigned long long)c->mac_in.seq, dk_msg_type_name(h.type),
                            c->inbound ? "from" : "to", c->addr);
            dk__rpc_conn_close(c, -EACCES);
            break;
        }
        c->need = 0;
        c->roff += (size_t)n + tag;
        progressed = 1;
        h.flags &= (uint16_t)~DK_FRAME_NO_CRC; /* the transport's, not the handler's */
        if (c->inbound)
            dk__rpc_server_frame(c, &h, body);
        else
            dk__rpc_client_frame(c, &h, body);
    }
    c->in_parse = 0;
    if (c->state == CONN_CLOSING)
        return;
    if (c->roff == c->rbuf.len)
        c->roff = c->rbuf.len = 0;
    if (c->state == CONN_READY && !c->close_after_flush) {
        /* A frame that has begun to arrive must complete in time; frames
         * left unread by backpressure are this node's wait, not the
         * sender's. */
        if ((c->roff == c->rbuf.len && !(c->tls && dk_rpc_tls_partial(c->tls))) || paused) {
            if (c->frame_timer)
                uv_timer_stop(&c->timer);
            c->frame_timer = c->frame_grace = 0;
        } else if (!c->frame_timer || progressed) {
            uv_timer_start(&c->timer, conn_timer_cb, r->frame_timeout_ms, 0);
            c->frame_timer = 1;
            c->frame_grace = 0;
        }
    }
    if (!c->reading && !c->close_after_flush && !(c->inbound && c->outstanding >= r->max_outstanding))
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) == 0;
}

/* Close c (idempotent): the client or server half fails or detaches what
 * still depends on it, with status, and the memory goes once both handles
 * have closed. */
void dk__rpc_conn_close(rpc_conn *c, int status)
{
    if (c->state == CONN_CLOSING)
        return;
    /* What was queued before the close is written first, as far as the
     * socket takes it now (the close cancels the rest). */
    dk__rpc_conn_flush(c);
    c->state = CONN_CLOSING;
    RPC_ADD(c->r, conns_open, (uint64_t)-1);
    uv_timer_stop(&c->timer);
    if (c->inbound)
        dk__rpc_server_closed(c);
    else
        dk__rpc_client_closed(c, status);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

/* Close c from the next loop iteration, not from inside the caller (so a
 * failure found inside dk_rpc_call never runs callbacks from there). */
void dk__rpc_conn_close_soon(rpc_conn *c, int status)
{
    if (c->state == CONN_CLOSING || c->close_after_flush)
        return;
    c->close_after_flush = 1;
    c->close_status = status;
    uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
}

/* Write an ERROR frame (code, msg) answering request id. Returns 0 or a
 * negative code. */
int dk__rpc_conn_send_error(rpc_conn *c, uint64_t id, int code, const char *msg)
{
    dk_buf b = DK_BUF_INIT;
    dk_msg_error e = {code, {(const uint8_t *)msg, strnlen(msg, DK_ERROR_MSG_MAX)}};
    int rc = dk_msg_error_encode(&b, &e);
    if (!rc)
        rc = dk__rpc_conn_send(c, DK_MSG_ERROR, id, b.data, b.len);
    dk_buf_free(&b);
    return rc;
}

/* Send an ERROR frame with code and msg, stop reading, and close once it
 * is written (the handshake timer still bounds how long that may take). */
void dk__rpc_conn_refuse(rpc_conn *c, int code, const char *msg)
{
    int rc = dk__rpc_conn_send_error(c, 0, code, msg);
    if (rc) {
        dk__rpc_conn_close(c, code);
        return;
    }
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    c->close_after_flush = 1;
    c->close_status = code;
    uv_timer_start(&c->timer, conn_timer_cb, c->r->connect_timeout_ms, 0);
}
