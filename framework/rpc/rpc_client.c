/*
 * rpc_client.c - the calling side of the RPC transport: peers, their
 * connection pools, requests with deadlines, reconnects with backoff.
 *
 * A request (rpc_out) is in exactly one place: its peer's waiting queue
 * (accepted, no usable connection yet), a connection's in-flight list (and
 * then in r->htab by request id), or r->deferred (its outcome was decided
 * inside dk_rpc_call and is delivered from the loop's idle phase, because
 * a callback never runs inside dk_rpc_call). rpc_out_complete takes it out
 * of that place and runs its callback exactly once; a late answer then
 * finds no id in htab and is dropped.
 *
 * Pools: connections are opened lazily, one at a time, up to
 * max_conns_per_peer: the first on the first request, another when
 * requests wait or the least busy ready connection has RPC_GROW_INFLIGHT
 * requests in flight (so one large frame does not hold up all traffic to
 * a busy peer). Requests go to the
 * ready connection with the fewest in flight, at most max_outstanding each;
 * beyond that they wait.
 *
 * Failure: a connect or handshake that fails (or does not finish within
 * connect_timeout_ms) fails the peer's waiting requests when no other
 * connection to it is ready, and starts a backoff (50 ms doubling up to
 * backoff_max_ms, plus up to 25% jitter) during which new requests fail
 * fast with DK_EUNAVAILABLE instead of waiting for their deadline. When a
 * request times out on a connection, the connection is probed with a PING
 * (answered by the peer's transport, not its handler): no PONG within
 * probe_timeout_ms means the path is dead (a crashed host, a partition),
 * and the connection is closed so the peer goes through reconnect and
 * backoff instead of swallowing every later request until its deadline.
 *
 * A finished request's memory is kept in a small free list for the next
 * call (a quorum PUT makes two calls).
 *
 * Deadlines: the pending requests are kept in r->due by deadline (a new
 * one goes in from the end, where requests with the usual deadline
 * belong), and one timer per instance runs at the earliest of them, or
 * earlier: it is moved only when a request due before it arrives, not
 * when one completes (as the HTTP idle timer is lazy), and when it runs it
 * fails what is due and re-arms for the next. A uv_timer per request cost
 * a timer-heap insert and removal and a handle close per call, ~2 % of a
 * loop thread's user time at the 3-node PUT peak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/metrics.h"
#include "rpc/rpc_int.h"

#define RPC_BACKOFF_MIN_MS 50u
#define RPC_GROW_INFLIGHT 16u /* open another connection beyond this many in flight */
#define RPC_OUT_POOL 256u     /* freed requests kept for reuse (one malloc fewer per call) */

static void rpc_pump(rpc_peer *p, dk_rpc *r);

/* ---- pending requests by id ---------------------------------------------- */

/* Make room in htab for one more pending request (load factor <= 1). */
static int htab_reserve(dk_rpc *r)
{
    if (r->n_pending + 1 <= r->hcap)
        return 0;
    size_t cap = r->hcap ? r->hcap * 2 : 64;
    rpc_out **t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < r->hcap; i++) {
        rpc_out *o = r->htab[i], *next;
        for (; o; o = next) {
            next = o->hnext;
            o->hnext = t[o->id & (cap - 1)];
            t[o->id & (cap - 1)] = o;
        }
    }
    free(r->htab);
    r->htab = t;
    r->hcap = cap;
    return 0;
}

static void htab_put(dk_rpc *r, rpc_out *o)
{
    rpc_out **b = &r->htab[o->id & (r->hcap - 1)];
    o->hnext = *b;
    *b = o;
}

static rpc_out *htab_find(dk_rpc *r, uint64_t id)
{
    if (!r->hcap)
        return NULL;
    rpc_out *o = r->htab[id & (r->hcap - 1)];
    while (o && o->id != id)
        o = o->hnext;
    return o;
}

static void htab_del(dk_rpc *r, rpc_out *o)
{
    rpc_out **pp = &r->htab[o->id & (r->hcap - 1)];
    while (*pp != o)
        pp = &(*pp)->hnext;
    *pp = o->hnext;
}

/* ---- request completion ------------------------------------------------------ */

/* A completed request's memory goes back to the pool (or is freed). */
static void out_release(rpc_out *o)
{
    dk_rpc *r = o->r;
    dk_buf_free(&o->frame);
    dk_rpc_lent_unref(o->lent);
    if (r->n_out_pool < RPC_OUT_POOL) {
        o->hnext = r->out_pool;
        r->out_pool = o;
        r->n_out_pool++;
    } else {
        free(o);
    }
}

static void deadline_cb(uv_timer_t *t);

/* Run the deadline timer by the earliest deadline, unless it runs before. */
static void due_arm(dk_rpc *r)
{
    rpc_out *o = TAILQ_FIRST(&r->due);
    if (!o || r->stopping || (uv_is_active((uv_handle_t *)&r->deadline) && r->deadline_at <= o->due))
        return;
    uint64_t now = uv_now(r->loop);
    uv_timer_start(&r->deadline, deadline_cb, o->due > now ? o->due - now : 0, 0);
    r->deadline_at = o->due;
}

/* Place o in r->due by its deadline, from the end. */
static void due_insert(dk_rpc *r, rpc_out *o)
{
    rpc_out *at = TAILQ_LAST(&r->due, rpc_due);
    while (at && at->due > o->due)
        at = TAILQ_PREV(at, rpc_due, dlink);
    if (at)
        TAILQ_INSERT_AFTER(&r->due, at, o, dlink);
    else
        TAILQ_INSERT_HEAD(&r->due, o, dlink);
    due_arm(r);
}

/* Take o out of wherever it is and run its callback (exactly once). */
static void out_complete(rpc_out *o, int status, const dk_frame_header *h, dk_slice body)
{
    dk_rpc *r = o->r;
    switch (o->where) {
    case OUT_WAITING: TAILQ_REMOVE(&o->peer->waiting, o, link); break;
    case OUT_INFLIGHT:
        TAILQ_REMOVE(&o->conn->inflight, o, link);
        o->conn->n_inflight--;
        htab_del(r, o);
        break;
    case OUT_DEFERRED: TAILQ_REMOVE(&r->deferred, o, link); break;
    default: return;
    }
    o->where = OUT_DONE;
    o->conn = NULL;
    r->n_pending--;
    TAILQ_REMOVE(&r->due, o, dlink);
    dk_metrics_rpc(o->type, dk_msg_type_name(o->type), status, uv_hrtime() - o->start_ns);
    if (status) {
        h = NULL;
        body.ptr = NULL;
        body.len = 0;
    }
    dk_rpc_lent *lent = o->lent; /* never sent: its reference goes now */
    o->lent = NULL;
    o->cb(o->arg, status, h, body);
    dk_rpc_lent_unref(lent);
    out_release(o);
}

static void defer_run(uv_idle_t *idle)
{
    dk_rpc *r = idle->data;
    rpc_out *o;
    while ((o = TAILQ_FIRST(&r->deferred)) != NULL)
        out_complete(o, o->status, NULL, (dk_slice){NULL, 0});
    uv_idle_stop(idle);
}

static void out_defer(rpc_out *o, int status)
{
    dk_rpc *r = o->r;
    o->where = OUT_DEFERRED;
    o->status = status;
    TAILQ_INSERT_TAIL(&r->deferred, o, link);
    uv_idle_start(&r->defer, defer_run);
}

static void probe_cb(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    rpc_conn *c = arg;
    (void)h;
    (void)body;
    c->probing = 0;
    if (status == DK_ETIMEOUT && c->state == CONN_READY) {
        dk_log(DK_LOG_WARN, "rpc: node %s at %s answers no PING within %llu ms; closing the connection",
               c->peer_id, c->addr, (unsigned long long)c->r->probe_timeout_ms);
        dk__rpc_conn_close(c, -ECONNRESET);
    }
}

static void out_send_on(rpc_conn *c, rpc_out *o);
static rpc_out *out_new(dk_rpc *r, rpc_peer *p, uint8_t type, uint16_t flags, dk_buf *f, dk_rpc_lent *lent,
                        size_t split, uint64_t deadline_ms, dk_rpc_cb cb, void *arg, int *rc);

/* Check that c still carries traffic: PING it unless a probe is already out. */
static void conn_probe(rpc_conn *c)
{
    dk_rpc *r = c->r;
    if (c->probing || c->state != CONN_READY || c->close_after_flush || r->stopping)
        return;
    dk_msg_ping ping = {uv_hrtime()};
    dk_buf b = DK_BUF_INIT;
    int rc = dk_rpc_frame_start(&b, 16);
    if (!rc)
        rc = dk_msg_ping_encode(&b, &ping);
    rpc_out *o =
        rc ? NULL : out_new(r, c->peer, DK_MSG_PING, 0, &b, NULL, 0, r->probe_timeout_ms, probe_cb, c, &rc);
    dk_buf_free(&b);
    if (!o)
        return;
    c->probing = 1;
    out_send_on(c, o);
}

/* Fail what is due (a request timed out on a connection gets that
 * connection probed), then wait for the next deadline. */
static void deadline_cb(uv_timer_t *t)
{
    dk_rpc *r = t->data;
    uint64_t now = uv_now(r->loop);
    rpc_out *o;
    while ((o = TAILQ_FIRST(&r->due)) != NULL && o->due <= now) {
        rpc_conn *c = o->where == OUT_INFLIGHT ? o->conn : NULL;
        RPC_COUNT(r, timeouts);
        out_complete(o, DK_ETIMEOUT, NULL, (dk_slice){NULL, 0});
        /* The connection stays valid until its close callback, whatever
         * the callback above did. */
        if (c)
            conn_probe(c);
    }
    due_arm(r);
}

/* A new pending request with its frame (f, begun by dk_rpc_frame_start:
 * finished here with the request's id, its memory taken; with lent, the
 * lent value goes in at split, and o takes a reference) and running
 * deadline; the caller places it. NULL with *rc set on failure. */
static rpc_out *out_new(dk_rpc *r, rpc_peer *p, uint8_t type, uint16_t flags, dk_buf *f, dk_rpc_lent *lent,
                        size_t split, uint64_t deadline_ms, dk_rpc_cb cb, void *arg, int *rc)
{
    rpc_out *o = r->out_pool;
    if (o) {
        r->out_pool = o->hnext;
        r->n_out_pool--;
        memset(o, 0, sizeof(*o));
    } else {
        o = calloc(1, sizeof(*o));
    }
    if (!o || (*rc = htab_reserve(r)) != 0) {
        free(o);
        dk_buf_free(f);
        *rc = -ENOMEM;
        return NULL;
    }
    o->r = r;
    o->peer = p;
    o->id = r->next_id++;
    o->cb = cb;
    o->arg = arg;
    o->type = type;
    o->start_ns = uv_hrtime();
    o->frame = *f;
    dk_buf_init(f);
    /* Without the body CRC until the connection is known (out_send_on). */
    flags |= DK_FRAME_NO_CRC;
    *rc =
        lent ? dk_frame_finish_lent(&o->frame, 0, split, (dk_slice){lent->ptr, lent->len}, type, flags, o->id)
             : dk_frame_finish(&o->frame, 0, type, flags, o->id);
    if (*rc) {
        dk_buf_free(&o->frame);
        free(o);
        return NULL;
    }
    if (lent) {
        dk_rpc_lent_ref(lent);
        o->lent = lent;
        o->split = split;
    }
    uint64_t now = uv_now(r->loop);
    o->due = deadline_ms < UINT64_MAX - now ? now + deadline_ms : UINT64_MAX;
    r->n_pending++;
    due_insert(r, o);
    return o;
}

/* Write o on c and track it there. A write that fails at once closes c on
 * the next iteration, which fails o with -ECONNRESET. */
static void out_send_on(rpc_conn *c, rpc_out *o)
{
    dk_rpc *r = c->r;
    o->where = OUT_INFLIGHT;
    o->conn = c;
    TAILQ_INSERT_TAIL(&c->inflight, o, link);
    c->n_inflight++;
    htab_put(r, o);
    RPC_COUNT(r, requests_out);
    if (!dk__rpc_conn_no_crc(c)) {
        dk_slice mid = o->lent ? (dk_slice){o->lent->ptr, o->lent->len} : (dk_slice){NULL, 0};
        size_t len = o->frame.len;
        dk_frame_add_crc(o->frame.data, len, o->lent ? o->split : len - DK_FRAME_TRAILER_LEN, mid);
    }
    int rc;
    if (o->lent) {
        /* The queued frame holds its own reference from here on. */
        rc = dk__rpc_conn_send_lent(c, &o->frame, o->split, o->lent);
        dk_rpc_lent_unref(o->lent);
        o->lent = NULL;
    } else {
        rc = dk__rpc_conn_send_buf(c, &o->frame);
    }
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot write to node %s at %s: %s", c->peer_id, c->addr, dk_strerror(rc));
        dk__rpc_conn_close_soon(c, -ECONNRESET);
    }
}

/* ---- connections to peers --------------------------------------------------------- */

static void conn_connected(uv_connect_t *req, int status)
{
    rpc_conn *c = req->handle->data;
    dk_rpc *r = c->r;
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        RPC_COUNT(r, connect_failures);
        dk_log(c->peer->failures ? DK_LOG_DEBUG : DK_LOG_WARN, "rpc: cannot connect to node %s at %s: %s",
               c->peer->id, c->addr, uv_strerror(status));
        dk__rpc_conn_close(c, DK_EUNAVAILABLE);
        return;
    }
    c->state = CONN_HELLO;
    if (!r->tls) {
        int rc = dk__rpc_conn_start(c);
        if (rc) {
            dk_log(DK_LOG_WARN, "rpc: cannot start the handshake with %s: %s", c->addr, dk_strerror(rc));
            dk__rpc_conn_close(c, DK_EUNAVAILABLE);
            return;
        }
        dk__rpc_client_hello(c);
        return;
    }
    /* TLS first: HELLO follows once it is up (rpc.c, conn_tls_in). */
    char err[256] = "out of memory";
    dk_buf out = DK_BUF_INIT;
    int rc = (c->tls = dk_rpc_tls_conn_new(r->tls, 0)) ? 0 : -ENOMEM;
    if (!rc)
        rc = dk__rpc_conn_start(c);
    if (!rc && dk_rpc_tls_start(c->tls, &out, err, sizeof(err)))
        rc = -EPROTO;
    if (!rc)
        rc = dk__rpc_conn_write_raw(c, &out);
    dk_buf_free(&out);
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot start TLS with %s: %s", c->addr,
               rc == -EPROTO ? err : dk_strerror(rc));
        dk__rpc_conn_close(c, DK_EUNAVAILABLE);
    }
}

/* Send this node's HELLO on c (connected, and TLS up when there is TLS);
 * closes c on failure. */
void dk__rpc_client_hello(rpc_conn *c)
{
    dk_buf b = DK_BUF_INIT;
    int rc = 0;
    if (!(c->hs = calloc(2, sizeof(*c->hs))))
        rc = -ENOMEM;
    if (!rc)
        rc = dk__rpc_hello_make(c->r, &c->hs[0]);
    if (!rc)
        rc = dk_msg_hello_encode(&b, &c->hs[0]);
    if (!rc)
        rc = dk__rpc_conn_send_flags(c, DK_MSG_HELLO, DK_FRAME_CRC_OPTIONAL, 0, b.data, b.len);
    dk_buf_free(&b);
    if (rc) {
        dk_log(DK_LOG_WARN, "rpc: cannot start the handshake with %s: %s", c->addr, dk_strerror(rc));
        dk__rpc_conn_close(c, DK_EUNAVAILABLE);
    }
}

/* Open one more connection to p, bound to this node's own IP. */
static void peer_connect(dk_rpc *r, rpc_peer *p)
{
    rpc_conn *c = dk__rpc_conn_new(r, 0);
    if (!c)
        return;
    c->peer = p;
    TAILQ_INSERT_TAIL(&p->conns, c, link);
    p->n_conns++;
    snprintf(c->addr, sizeof(c->addr), "%s", p->addr_text);
    int rc = 0;
    if (!r->bind_any)
        rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&r->bind_addr, 0);
    if (!rc)
        rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&p->addr, conn_connected);
    if (rc) {
        RPC_COUNT(r, connect_failures);
        dk_log(DK_LOG_WARN, "rpc: cannot connect to node %s at %s: %s", p->id, p->addr_text, uv_strerror(rc));
        dk__rpc_conn_close_soon(c, DK_EUNAVAILABLE);
    }
}

/* Send what waits on p over its ready connections; open another
 * connection when all are busy (or none exists). */
static void rpc_pump(rpc_peer *p, dk_rpc *r)
{
    if (r->stopping)
        return;
    rpc_conn *c, *best;
    rpc_out *o;
    int connecting = 0;
    for (;;) {
        best = NULL;
        connecting = 0;
        TAILQ_FOREACH(c, &p->conns, link)
        {
            if (c->state != CONN_READY || c->close_after_flush) {
                connecting |= c->state != CONN_READY;
                continue;
            }
            if (!best || c->n_inflight < best->n_inflight)
                best = c;
        }
        o = TAILQ_FIRST(&p->waiting);
        if (!o || !best || best->n_inflight >= r->max_outstanding)
            break;
        TAILQ_REMOVE(&p->waiting, o, link);
        out_send_on(best, o);
    }
    int busy = o != NULL || (best && best->n_inflight >= RPC_GROW_INFLIGHT);
    if (busy && !connecting && p->n_conns < r->max_conns && uv_now(r->loop) >= p->retry_at)
        peer_connect(r, p);
}

static int peer_has_ready(const rpc_peer *p)
{
    const rpc_conn *c;
    TAILQ_FOREACH(c, &p->conns, link)
    if (c->state == CONN_READY && !c->close_after_flush)
        return 1;
    return 0;
}

/* The outbound connection c is closing with status: fail its requests,
 * unlink it, and decide about the peer's backoff and waiting requests. */
void dk__rpc_client_closed(rpc_conn *c, int status)
{
    dk_rpc *r = c->r;
    rpc_peer *p = c->peer;
    TAILQ_REMOVE(&p->conns, c, link);
    p->n_conns--;
    if (c->established) {
        /* A working connection broke: the next request reconnects at once. */
        p->failures = 0;
        p->retry_at = 0;
    } else if (status != DK_ECLOSED) {
        uint64_t delay = (uint64_t)RPC_BACKOFF_MIN_MS << (p->failures < 16 ? p->failures : 16);
        if (delay > r->backoff_max_ms)
            delay = r->backoff_max_ms;
        uint32_t jitter = 0;
        uv_random(NULL, NULL, &jitter, sizeof(jitter), 0, NULL);
        delay += jitter % (delay / 4 + 1);
        p->failures++;
        p->retry_at = uv_now(r->loop) + delay;
        p->last_error = status;
    }
    int inflight_status = status == DK_ECLOSED ? DK_ECLOSED : -ECONNRESET;
    rpc_out *o;
    while ((o = TAILQ_FIRST(&c->inflight)) != NULL)
        out_complete(o, inflight_status, NULL, (dk_slice){NULL, 0});
    if (!c->established && !peer_has_ready(p))
        while ((o = TAILQ_FIRST(&p->waiting)) != NULL)
            out_complete(o, status, NULL, (dk_slice){NULL, 0});
    if (!TAILQ_EMPTY(&p->waiting))
        rpc_pump(p, r);
}

/* Check the acceptor's HELLO_ACK and its proof, then send AUTH with ours
 * and key the connection. Returns 0 or a code with msg set. */
static int client_ack(rpc_conn *c, dk_slice body, char *msg, size_t msglen)
{
    dk_rpc *r = c->r;
    dk_msg_hello *acc = &c->hs[1];
    int rc = dk__rpc_hello_check(r, body, c->peer->id, acc, msg, msglen);
    if (rc)
        return rc;
    if (!acc->has_mac || dk_rpc_auth_check(r->key, "acceptor", &c->hs[0], acc, acc->mac) != 0) {
        RPC_COUNT(r, handshake_failures);
        RPC_COUNT(r, auth_failures);
        snprintf(msg, msglen,
                 "node %s failed to prove it holds the cluster key (wrong or no [security] "
                 "cluster_key_file, or an impostor at that address)",
                 acc->node_id);
        return -EACCES;
    }
    dk_msg_auth a;
    dk_buf b = DK_BUF_INIT;
    rc = dk_rpc_auth_proof(r->key, "initiator", &c->hs[0], acc, a.mac);
    if (!rc)
        rc = dk_msg_auth_encode(&b, &a);
    if (!rc)
        rc = dk__rpc_conn_send(c, DK_MSG_AUTH, 0, b.data, b.len);
    dk_buf_free(&b);
    snprintf(c->peer_id, sizeof(c->peer_id), "%s", acc->node_id);
    if (!rc)
        rc = dk__rpc_conn_keys(c);
    if (rc)
        snprintf(msg, msglen, "cannot send AUTH: %s", dk_strerror(rc));
    return rc;
}

/* The handshake answer: HELLO_ACK or the acceptor's ERROR. */
static void client_hello(rpc_conn *c, const dk_frame_header *h, dk_slice body)
{
    dk_rpc *r = c->r;
    rpc_peer *p = c->peer;
    char msg[256];
    int rc;
    if (h->type == DK_MSG_HELLO_ACK) {
        c->peer_crc_optional = (h->flags & DK_FRAME_CRC_OPTIONAL) != 0;
        rc = client_ack(c, body, msg, sizeof(msg));
    } else if (h->type == DK_MSG_ERROR) {
        dk_msg_error e;
        RPC_COUNT(r, handshake_failures);
        if (dk_msg_error_decode(body, &e) != 0) {
            rc = DK_ECORRUPT;
            snprintf(msg, sizeof(msg), "malformed ERROR");
        } else {
            rc = e.code;
            snprintf(msg, sizeof(msg), "%.*s", (int)e.message.len, (const char *)e.message.ptr);
        }
        /* Pass on only the codes a refusal may carry; the acceptor uses
         * DK_ECONFIG for exactly one reason, another cluster name. */
        if (rc == DK_ECONFIG)
            RPC_COUNT(r, wrong_cluster);
        else if (rc != -EACCES && rc != DK_EUNSUPPORTED && rc != DK_ECORRUPT)
            rc = DK_EUNAVAILABLE;
    } else {
        RPC_COUNT(r, handshake_failures);
        rc = DK_ECORRUPT;
        snprintf(msg, sizeof(msg), "expected HELLO_ACK, got %s", dk_msg_type_name(h->type));
    }
    if (rc) {
        dk__rpc_refusal(r, "rpc: handshake with node %s at %s failed: %s", p->id, c->addr, msg);
        dk__rpc_conn_close(c, rc);
        return;
    }
    c->state = CONN_READY;
    c->established = 1;
    uv_timer_stop(&c->timer);
    p->failures = 0;
    p->retry_at = 0;
    RPC_COUNT(r, conns_connected);
    dk_log(p->last_error ? DK_LOG_INFO : DK_LOG_DEBUG, "rpc: connected to node %s at %s", p->id, c->addr);
    p->last_error = 0;
    rpc_pump(p, r);
}

/* Handle one frame received on an outbound connection (loop thread). */
void dk__rpc_client_frame(rpc_conn *c, const dk_frame_header *h, dk_slice body)
{
    dk_rpc *r = c->r;
    if (c->state == CONN_HELLO) {
        client_hello(c, h, body);
        return;
    }
    if (h->type == DK_MSG_HELLO || h->type == DK_MSG_HELLO_ACK || h->type == DK_MSG_AUTH) {
        RPC_COUNT(r, bad_frames);
        dk_log(DK_LOG_WARN, "rpc: %s from node %s at %s after the handshake; closing that connection",
               dk_msg_type_name(h->type), c->peer_id, c->addr);
        dk__rpc_conn_close(c, DK_ECORRUPT);
        return;
    }
    rpc_out *o = htab_find(r, h->request_id);
    if (!o || o->conn != c) {
        RPC_COUNT(r, late_replies);
        dk_log(DK_LOG_DEBUG, "rpc: dropped %s for request %llu from node %s: no such request pending",
               dk_msg_type_name(h->type), (unsigned long long)h->request_id, c->peer_id);
        return;
    }
    out_complete(o, 0, h, body);
    rpc_pump(c->peer, r);
}

/* ---- API ------------------------------------------------------------------------- */

static rpc_peer *peer_get(dk_rpc *r, const char *id, const struct sockaddr_storage *ss, const char *addr)
{
    rpc_peer *p;
    TAILQ_FOREACH(p, &r->peers, link)
    if (strcmp(p->id, id) == 0)
        break;
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return NULL;
        strcpy(p->id, id);
        TAILQ_INIT(&p->conns);
        TAILQ_INIT(&p->waiting);
        TAILQ_INSERT_TAIL(&r->peers, p, link);
    } else if (memcmp(&p->addr, ss, sizeof(*ss)) == 0) {
        return p;
    } else {
        dk_log(DK_LOG_INFO, "rpc: node %s moved from %s to %s", id, p->addr_text, addr);
        p->failures = 0;
        p->retry_at = 0;
    }
    p->addr = *ss;
    dk__rpc_addr_text((const struct sockaddr *)ss, p->addr_text, sizeof(p->addr_text));
    return p;
}

int dk_rpc_call(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, const void *body,
                size_t len, uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    dk_buf f = DK_BUF_INIT;
    if (len > DK_FRAME_BODY_MAX)
        return DK_ETOOBIG;
    int rc = dk_rpc_frame_start(&f, len);
    if (!rc)
        rc = dk_buf_append(&f, body, len);
    if (rc) {
        dk_buf_free(&f);
        return rc;
    }
    return dk_rpc_call_framed(r, peer_id, peer_addr, type, &f, deadline_ms, cb, arg);
}

/* dk_rpc_call_framed and dk_rpc_call_lent (lent: the value that goes in
 * at split). */
static int rpc_call(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, uint16_t flags,
                    dk_buf *f, dk_rpc_lent *lent, size_t split, uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    struct sockaddr_storage ss;
    int rc = 0;
    if (r->stopping)
        rc = DK_ECLOSED;
    else if (!cb || deadline_ms == 0 || !dk__rpc_id_ok(peer_id) || type == DK_MSG_HELLO ||
             type == DK_MSG_HELLO_ACK || type == DK_MSG_AUTH || dk__rpc_parse_addr(peer_addr, &ss))
        rc = -EINVAL;
    rpc_peer *p = rc ? NULL : peer_get(r, peer_id, &ss, peer_addr);
    if (!rc && !p)
        rc = -ENOMEM;
    if (rc) {
        dk_buf_free(f);
        return rc;
    }
    rpc_out *o = out_new(r, p, type, flags, f, lent, split, deadline_ms, cb, arg, &rc);
    if (!o)
        return rc;
    int in_progress = !TAILQ_EMPTY(&p->conns);
    if (!in_progress && uv_now(r->loop) < p->retry_at) {
        out_defer(o, DK_EUNAVAILABLE);
        return 0;
    }
    o->where = OUT_WAITING;
    TAILQ_INSERT_TAIL(&p->waiting, o, link);
    rpc_pump(p, r);
    return 0;
}

int dk_rpc_call_framed(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, dk_buf *f,
                       uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    return rpc_call(r, peer_id, peer_addr, type, 0, f, NULL, 0, deadline_ms, cb, arg);
}

int dk_rpc_call_flags(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, uint16_t flags,
                      dk_buf *f, uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    return rpc_call(r, peer_id, peer_addr, type, flags, f, NULL, 0, deadline_ms, cb, arg);
}

int dk_rpc_call_lent(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, dk_buf *f,
                     size_t split, dk_rpc_lent *lent, uint64_t deadline_ms, dk_rpc_cb cb, void *arg)
{
    if (!lent || split < DK_FRAME_HEADER_LEN || split > f->len) {
        dk_buf_free(f);
        return -EINVAL;
    }
    if (lent->len > DK_FRAME_BODY_MAX || f->len + lent->len > DK_FRAME_MAX) {
        dk_buf_free(f);
        return DK_ETOOBIG;
    }
    return rpc_call(r, peer_id, peer_addr, type, 0, f, lent, split, deadline_ms, cb, arg);
}

/* dk_rpc_stop's client half: every pending request fails with DK_ECLOSED
 * and every outbound connection closes. */
void dk__rpc_client_stop(dk_rpc *r)
{
    rpc_peer *p;
    rpc_out *o;
    while ((o = TAILQ_FIRST(&r->deferred)) != NULL)
        out_complete(o, DK_ECLOSED, NULL, (dk_slice){NULL, 0});
    TAILQ_FOREACH(p, &r->peers, link)
    {
        while ((o = TAILQ_FIRST(&p->waiting)) != NULL)
            out_complete(o, DK_ECLOSED, NULL, (dk_slice){NULL, 0});
        rpc_conn *c;
        while ((c = TAILQ_FIRST(&p->conns)) != NULL)
            dk__rpc_conn_close(c, DK_ECLOSED);
    }
}

/* Free the peer table (r is being freed: no request or connection is left). */
void dk__rpc_client_free_peers(dk_rpc *r)
{
    rpc_peer *p;
    while ((p = TAILQ_FIRST(&r->peers)) != NULL) {
        TAILQ_REMOVE(&r->peers, p, link);
        free(p);
    }
}
