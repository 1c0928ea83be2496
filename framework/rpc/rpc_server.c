/*
 * rpc_server.c - the accepting side of the RPC transport: admission (the
 * connection cap, loopback only in protected mode), the acceptor's half of
 * the handshake (HELLO -> HELLO_ACK with its proof, then the initiator's
 * AUTH; with TLS the certificate must name the HELLO's node id), dispatch of requests to the handler, and answers.
 *
 * A request handed to the handler is a dk_rpc_req linked into its
 * connection. When the connection dies first, the request is only
 * detached (its conn pointer cleared): the handler still owns it and
 * dk_rpc_reply then just frees it. So the handler never has to know about
 * connections, and no answer is ever written to a socket it was not asked
 * on.
 *
 * Backpressure: at most max_outstanding requests per connection are with
 * the handler; beyond that the connection stops reading (rpc.c) until
 * answers drain, so a fast sender fills its own socket buffers instead of
 * this node's memory.
 *
 * Spreading (rpc.h, "Several loops"): with a spread function set, the
 * listener accepts each connection into a handle of its own only to take
 * a duplicate of its descriptor, and the function hands that to another
 * loop's instance (dk_rpc_adopt there), or back here. Admission is the
 * adopting instance's, against the count every instance sharing the
 * listener updates (an atomic in the listening instance), so the cap
 * holds for the node. Not taken: listening on a duplicate descriptor in
 * every loop (as the HTTP servers do): which loop wakes first decides
 * there, and connections between nodes are few and live long, so a
 * chance skew would stay for the connection's life; handing them round
 * costs one hop per connection, never per frame.
 *
 * A relayed request (dk_rpc_req_relay) is tied to no connection: its
 * answer's frame goes to its relay function unfinished, to be finished
 * and MACed on the connection's own loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
#include "rpc/rpc_int.h"

/* Is sa a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.y.z)? */
static int addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

/* Admit c (accepted, its peer address known): over the node's cap, or
 * from a non-loopback peer in protected mode, close it at once; else
 * start TLS and wait for its HELLO. */
static void server_admit(rpc_conn *c, const struct sockaddr_storage *ss)
{
    dk_rpc *r = c->r;
    if (atomic_load_explicit(r->n_inbound, memory_order_relaxed) > r->max_inbound) {
        RPC_COUNT(r, conns_rejected);
        dk__rpc_refusal(r,
                        "rpc: refused connection from %s: %u connections open, the limit "
                        "([cluster] max_rpc_connections)",
                        c->addr, r->max_inbound);
        dk__rpc_conn_close(c, -EMFILE);
        return;
    }
    if (r->loopback_only && !addr_is_loopback(ss)) {
        RPC_COUNT(r, conns_rejected);
        dk__rpc_refusal(r,
                        "rpc: refused connection from %s: protected mode (no [security] "
                        "cluster_key_file) accepts cluster traffic from loopback addresses only",
                        c->addr);
        dk__rpc_conn_close(c, -EACCES);
        return;
    }
    RPC_COUNT(r, conns_accepted);
    int rc = 0;
    if (r->tls && !(c->tls = dk_rpc_tls_conn_new(r->tls, 1)))
        rc = UV_ENOMEM;
    if (!rc)
        rc = dk__rpc_conn_start(c);
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot accept a connection: %s", uv_strerror(rc));
        dk__rpc_conn_close(c, rc);
    }
}

/* A new inbound connection of r, counted against the node's cap (the
 * count is given back in dk__rpc_server_closed). NULL when out of memory. */
static rpc_conn *server_conn_new(dk_rpc *r)
{
    rpc_conn *c = dk__rpc_conn_new(r, 1);
    if (!c) {
        dk_log(DK_LOG_ERROR, "rpc: out of memory accepting a connection");
        return NULL;
    }
    TAILQ_INSERT_TAIL(&r->inbound, c, link);
    atomic_fetch_add_explicit(r->n_inbound, 1, memory_order_relaxed);
    return c;
}

/* c's socket is open: its peer's address, then admission. */
static void server_opened(rpc_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        dk__rpc_addr_text((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
    server_admit(c, &ss);
}

int dk_rpc_adopt(dk_rpc *r, int fd)
{
    if (r->stopping || r->client_only || !r->on_request) {
        close(fd);
        return DK_ECLOSED;
    }
    rpc_conn *c = server_conn_new(r);
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc) {
        close(fd);
        dk_log(DK_LOG_WARN, "rpc: cannot take an accepted connection: %s", uv_strerror(rc));
        dk__rpc_conn_close(c, rc);
        return rc;
    }
    server_opened(c);
    return 0;
}

void dk_rpc_spread(dk_rpc *r, dk_rpc_spread_fn fn, void *arg)
{
    r->spread = fn;
    r->spread_arg = arg;
}

static void spread_tmp_closed(uv_handle_t *h)
{
    dk_rpc *r = h->data;
    free(h);
    dk__rpc_release(r);
}

/* Listener callback with spreading on: accept into a handle of its own,
 * keep a duplicate of the descriptor, close the handle, hand the
 * duplicate on. 0, or a libuv code (nothing taken). */
static int server_spread(dk_rpc *r, uv_stream_t *listener)
{
    uv_tcp_t *tmp = malloc(sizeof(*tmp));
    if (!tmp)
        return UV_ENOMEM;
    uv_tcp_init(r->loop, tmp);
    tmp->data = r;
    r->handles++;
    uv_os_fd_t fd = -1;
    int rc = uv_accept(listener, (uv_stream_t *)tmp);
    if (!rc)
        rc = uv_fileno((uv_handle_t *)tmp, &fd);
    int dup = rc ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (!rc && dup < 0)
        rc = uv_translate_sys_error(errno);
    uv_close((uv_handle_t *)tmp, spread_tmp_closed);
    if (rc)
        return rc;
    if (r->spread(r->spread_arg, dup) != 0)
        dk_rpc_adopt(r, dup);
    return 0;
}

/* Listener callback (loop thread): accept one connection and wait for its
 * HELLO, here or on the loop the spread function hands it to. */
void dk__rpc_server_accept(uv_stream_t *listener, int status)
{
    dk_rpc *r = listener->data;
    if (status < 0) {
        dk_log(DK_LOG_WARN, "rpc: accept failed: %s", uv_strerror(status));
        return;
    }
    if (r->spread) {
        int rc = server_spread(r, listener);
        if (rc)
            dk_log(DK_LOG_WARN, "rpc: cannot accept a connection: %s", uv_strerror(rc));
        return;
    }
    rpc_conn *c = server_conn_new(r);
    if (!c)
        return;
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot accept a connection: %s", uv_strerror(rc));
        dk__rpc_conn_close(c, rc);
        return;
    }
    server_opened(c);
}

/* Refuse the handshake on c: log it with the address, answer an ERROR,
 * close. */
static void server_refuse(rpc_conn *c, int rc, const char *msg)
{
    dk__rpc_refusal(c->r, "rpc: refused connection from %s: %s", c->addr, msg);
    dk__rpc_conn_refuse(c, rc, msg);
}

/* HELLO: check it, answer HELLO_ACK with this node's proof, wait for
 * AUTH. */
static void server_hello(rpc_conn *c, const dk_frame_header *h, dk_slice body)
{
    dk_rpc *r = c->r;
    char msg[256];
    int rc;
    if (h->type != DK_MSG_HELLO) {
        RPC_COUNT(r, handshake_failures);
        snprintf(msg, sizeof(msg), "expected HELLO, got %s", dk_msg_type_name(h->type));
        server_refuse(c, DK_ECORRUPT, msg);
        return;
    }
    c->hs = calloc(2, sizeof(*c->hs));
    if (!c->hs) {
        dk__rpc_conn_close(c, -ENOMEM);
        return;
    }
    rc = dk__rpc_hello_check(r, body, NULL, &c->hs[0], msg, sizeof(msg));
    if (rc) {
        server_refuse(c, rc, msg);
        return;
    }
    c->peer_crc_optional = (h->flags & DK_FRAME_CRC_OPTIONAL) != 0;
    if (c->tls && !dk_rpc_tls_peer_is(c->tls, c->hs[0].node_id)) {
        RPC_COUNT(r, handshake_failures);
        RPC_COUNT(r, auth_failures);
        snprintf(msg, sizeof(msg),
                 "its TLS certificate (signed by our CA) names neither in its CN nor in "
                 "a DNS subjectAltName the node id %.64s it claims",
                 c->hs[0].node_id);
        server_refuse(c, -EACCES, msg);
        return;
    }
    dk_buf b = DK_BUF_INIT;
    dk_msg_hello *me = &c->hs[1];
    rc = dk__rpc_hello_make(r, me);
    if (!rc)
        rc = dk_rpc_auth_proof(r->key, "acceptor", &c->hs[0], me, me->mac);
    me->has_mac = 1;
    if (!rc)
        rc = dk_msg_hello_encode(&b, me);
    if (!rc)
        rc =
            dk__rpc_conn_send_flags(c, DK_MSG_HELLO_ACK, DK_FRAME_CRC_OPTIONAL, h->request_id, b.data, b.len);
    dk_buf_free(&b);
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot answer HELLO from %s: %s", c->addr, dk_strerror(rc));
        dk__rpc_conn_close(c, rc);
        return;
    }
    snprintf(c->peer_id, sizeof(c->peer_id), "%s", c->hs[0].node_id);
    c->state = CONN_AUTH;
}

/* AUTH: the initiator's proof; with it the connection is ready. */
static void server_auth(rpc_conn *c, const dk_frame_header *h, dk_slice body)
{
    dk_rpc *r = c->r;
    char msg[256];
    dk_msg_auth a;
    if (h->type != DK_MSG_AUTH || dk_msg_auth_decode(body, &a) != 0) {
        RPC_COUNT(r, handshake_failures);
        snprintf(msg, sizeof(msg), "expected AUTH after HELLO_ACK, got %s%s", dk_msg_type_name(h->type),
                 h->type == DK_MSG_AUTH ? " (malformed)" : "");
        server_refuse(c, DK_ECORRUPT, msg);
        return;
    }
    int rc = dk_rpc_auth_check(r->key, "initiator", &c->hs[0], &c->hs[1], a.mac);
    if (rc) {
        RPC_COUNT(r, handshake_failures);
        RPC_COUNT(r, auth_failures);
        snprintf(msg, sizeof(msg),
                 "node %s failed to prove it holds the cluster key (wrong or no "
                 "[security] cluster_key_file, or not a node of this cluster)",
                 c->peer_id);
        server_refuse(c, -EACCES, msg);
        return;
    }
    rc = dk__rpc_conn_keys(c);
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot key the connection from %s: %s", c->addr, dk_strerror(rc));
        dk__rpc_conn_close(c, rc);
        return;
    }
    c->state = CONN_READY;
    uv_timer_stop(&c->timer);
    dk_log(DK_LOG_DEBUG, "rpc: accepted node %s from %s", c->peer_id, c->addr);
}

/* Handle one frame received on an inbound connection (loop thread). */
void dk__rpc_server_frame(rpc_conn *c, const dk_frame_header *h, dk_slice body)
{
    dk_rpc *r = c->r;
    if (c->state == CONN_HELLO) {
        server_hello(c, h, body);
        return;
    }
    if (c->state == CONN_AUTH) {
        server_auth(c, h, body);
        return;
    }
    if (h->type == DK_MSG_HELLO || h->type == DK_MSG_HELLO_ACK || h->type == DK_MSG_AUTH) {
        RPC_COUNT(r, bad_frames);
        dk_log(DK_LOG_WARN, "rpc: %s from %s after the handshake; closing that connection",
               dk_msg_type_name(h->type), c->addr);
        dk__rpc_conn_close(c, DK_ECORRUPT);
        return;
    }
    RPC_COUNT(r, requests_in);
    int rc = 0;
    if (h->type == DK_MSG_PING) {
        dk_msg_ping p;
        if (dk_msg_ping_decode(body, &p) == 0) {
            rc = dk__rpc_conn_send(c, DK_MSG_PONG, h->request_id, body.ptr, body.len);
        } else {
            rc = dk__rpc_conn_send_error(c, h->request_id, DK_ECORRUPT, "malformed PING");
        }
    } else if (!r->on_request) {
        rc = dk__rpc_conn_send_error(c, h->request_id, DK_EUNSUPPORTED, "this node serves no requests");
    } else {
        dk_rpc_req *q = malloc(sizeof(*q));
        if (!q) {
            rc = -ENOMEM;
        } else {
            q->conn = c;
            q->relay = NULL;
            q->relay_arg = NULL;
            q->id = h->request_id;
            strcpy(q->peer, c->peer_id);
            TAILQ_INSERT_TAIL(&c->reqs, q, link);
            c->outstanding++;
            c->dispatching = q;
            r->on_request(r->arg, q, h, body);
            c->dispatching = NULL;
        }
    }
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot serve %s from %s: %s", dk_msg_type_name(h->type), c->addr,
               dk_strerror(rc));
        dk__rpc_conn_close(c, rc);
    }
}

/* The inbound connection c is closing: detach the requests the handler
 * still holds, and unlink c. */
void dk__rpc_server_closed(rpc_conn *c)
{
    dk_rpc_req *q;
    while ((q = TAILQ_FIRST(&c->reqs)) != NULL) {
        TAILQ_REMOVE(&c->reqs, q, link);
        q->conn = NULL;
    }
    c->outstanding = 0;
    atomic_fetch_sub_explicit(c->r->n_inbound, 1, memory_order_relaxed);
    TAILQ_REMOVE(&c->r->inbound, c, link);
}

int dk_rpc_reply_error(dk_rpc_req *q, int code, const char *msg)
{
    dk_buf b = DK_BUF_INIT;
    dk_msg_error e = {.code = code, .message = {(const uint8_t *)msg, strlen(msg)}};
    int rc = dk_msg_error_encode(&b, &e) == 0 ? dk_rpc_reply(q, DK_MSG_ERROR, b.data, b.len)
                                              : dk_rpc_reply(q, DK_MSG_ERROR, NULL, 0);
    dk_buf_free(&b);
    return rc;
}

int dk_rpc_reply(dk_rpc_req *q, uint8_t type, const void *body, size_t len)
{
    dk_buf f = DK_BUF_INIT;
    int rc = len > DK_FRAME_BODY_MAX ? DK_ETOOBIG : dk_rpc_frame_start(&f, len);
    if (!rc)
        rc = dk_buf_append(&f, body, len);
    if (rc) {
        dk_buf_free(&f);
        f.len = 0; /* an empty frame: q is still answered with nothing, and freed */
    }
    int frc = dk_rpc_reply_framed(q, type, &f);
    return rc ? rc : frc;
}

/* A relayed request's answer: its frame, unfinished, to the relay. */
static int server_relay_answer(dk_rpc_req *q, uint8_t type, uint16_t flags, dk_buf *f)
{
    int rc = type == DK_MSG_HELLO || type == DK_MSG_HELLO_ACK || type == DK_MSG_AUTH ? -EINVAL
             : f->len < DK_FRAME_HEADER_LEN                                          ? -ENOMEM
                                                                                     : 0;
    if (rc)
        dk_buf_free(f);
    q->relay(q->relay_arg, type, flags, f);
    dk_buf_free(f);
    free(q);
    return rc;
}

dk_rpc_req *dk_rpc_req_relay(const dk_rpc_req *q, dk_rpc_relay_fn fn, void *arg)
{
    dk_rpc_req *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->id = q->id;
    memcpy(p->peer, q->peer, sizeof(p->peer));
    p->relay = fn;
    p->relay_arg = arg;
    return p;
}

int dk_rpc_reply_framed(dk_rpc_req *q, uint8_t type, dk_buf *framed)
{
    return dk_rpc_reply_flags(q, type, 0, framed);
}

int dk_rpc_reply_flags(dk_rpc_req *q, uint8_t type, uint16_t flags, dk_buf *framed)
{
    rpc_conn *c = q->conn;
    dk_buf f = *framed;
    dk_buf_init(framed);
    if (q->relay)
        return server_relay_answer(q, type, flags, &f);
    flags &= (uint16_t)~DK_FRAME_NO_CRC;
    if (c && dk__rpc_conn_no_crc(c))
        flags |= DK_FRAME_NO_CRC;
    int rc = type == DK_MSG_HELLO || type == DK_MSG_HELLO_ACK || type == DK_MSG_AUTH ? -EINVAL
             : f.len < DK_FRAME_HEADER_LEN                                           ? -ENOMEM
                                           : dk_frame_finish(&f, 0, type, flags, q->id);
    if (c) {
        TAILQ_REMOVE(&c->reqs, q, link);
        int was_full = c->outstanding-- >= c->r->max_outstanding;
        if (!rc && c->state == CONN_READY && !c->close_after_flush) {
            int wrc = dk__rpc_conn_send_buf(c, &f);
            if (wrc) {
                dk_log(DK_LOG_WARN, "rpc: cannot answer %s: %s", c->addr, dk_strerror(wrc));
                dk__rpc_conn_close(c, -ECONNRESET);
            }
        }
        if (was_full && c->state == CONN_READY)
            dk__rpc_conn_process(c);
    }
    dk_buf_free(&f);
    free(q);
    return rc;
}

const char *dk_rpc_req_peer(const dk_rpc_req *q)
{
    return q->peer;
}

int dk_rpc_req_take_frame(dk_rpc_req *q, dk_buf *out)
{
    rpc_conn *c = q->conn;
    /* The parse loop has moved past this frame already (roff); with
     * nothing read after it, the buffer holds no other frame's bytes. */
    if (!c || c->dispatching != q || c->state == CONN_CLOSING || c->roff != c->rbuf.len)
        return -EAGAIN;
    dk_buf_free(out);
    *out = c->rbuf;
    dk_buf_init(&c->rbuf);
    c->roff = 0;
    return 0;
}
