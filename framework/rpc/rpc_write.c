/*
 * rpc_write.c - how frames leave a connection: sealed (MAC, then TLS when
 * on) in the order they are queued, then held in the connection's write
 * queue until the end of the loop turn, when every queued frame of a
 * connection goes out together with one buffer per frame (one writev
 * instead of one write per frame).
 *
 * The turn ends at the instance's uv_prepare, which libuv runs after the
 * timers, pending and idle callbacks and before it polls: frames queued by
 * the previous poll's callbacks (answers to a burst of requests read in
 * one go, replication sends of many client requests), by the check
 * callbacks (the coordinator's ready list) and by timers are all flushed
 * there, before the loop can block, so batching adds no wait. The prepare
 * handle is active only while some connection has frames queued.
 *
 * Frames queued by another prepare callback are the exception: libuv runs
 * in a turn only the prepares that were active when the phase began, so
 * this one may have run already, or have been started only now, and the
 * loop would block in its poll with those frames unsent until some other
 * event or timer woke it (found with mailbox callbacks run from a
 * uv_prepare: a relayed SCAN_RANGE answer sat on a quiet loop until the
 * caller's deadline, and the scan lost that replica). So queueing also
 * starts an idle handle (flush_guard) that the flush stops: while active
 * it keeps the poll from blocking, and the next turn's prepare flushes.
 * In every other phase the guard is stopped at the prepare that flushes,
 * costing no extra turn.
 *
 * A batch goes to the socket with uv_try_write first: on loopback and on
 * any connection that is keeping up, the kernel takes it whole, and no
 * write request, completion callback or epoll re-arm follows (libuv 1.44
 * re-arms the descriptor with an epoll_ctl after every uv_write it
 * completes: about one syscall per frame batch, ~2.8 per quorum PUT over
 * 3 nodes at 1500 PUT/s). What the socket does not take goes through a
 * uv_write. Each uv_write owns its frames' memory until its callback, so a request
 * that times out or a connection that closes never leaves libuv pointing
 * at freed memory. Closing a connection flushes its queue first, as the
 * immediate writes did before queueing: a refusal or a last answer still
 * reaches the socket.
 *
 * A frame that lends a value (dk_rpc_call_lent: a replica write's object,
 * shared by the frames to every replica and the local write) is queued as
 * three pieces: its own buffer up to the value, the value where it lies
 * (holding a reference), and the rest of its own buffer (the body's end,
 * CRC, MAC tag); the writev takes them as they are, so the value is not
 * copied into any frame. A batch never splits a frame's pieces, so the
 * third piece can borrow the first's buffer. A TLS connection encrypts
 * into a new buffer anyway: there the pieces are laid end to end first.
 *
 * Not taken: sealing a whole batch as one TLS record. Frames are sealed as
 * they are queued so that MACs and TLS stay in queue order without a
 * second pass; a batch of TLS frames is still one writev.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include "base/log.h"
#include "base/metrics.h"
#include "rpc/rpc_int.h"

/* Frames one uv_write takes at most (libuv splits at IOV_MAX itself; this
 * bounds the request's allocation). */
#define RPC_WRITE_BUFS 256u

typedef struct rpc_wreq {
    uv_write_t req;
    uint32_t n;
    rpc_wbuf buf[];
} rpc_wreq;

void dk_rpc_lent_ref(dk_rpc_lent *l)
{
    l->refs++;
}

void dk_rpc_lent_unref(dk_rpc_lent *l)
{
    if (l && --l->refs == 0)
        l->release(l);
}

static void piece_free(rpc_wbuf *p)
{
    dk_buf_free(&p->own);
    dk_rpc_lent_unref(p->lent);
    p->lent = NULL;
}

static void write_done(uv_write_t *req, int status)
{
    rpc_wreq *w = (rpc_wreq *)req;
    rpc_conn *c = req->handle->data;
    for (uint32_t i = 0; i < w->n; i++)
        piece_free(&w->buf[i]);
    free(w);
    c->writes--;
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        dk_log(DK_LOG_INFO, "rpc: write to %s failed: %s", c->addr, uv_strerror(status));
        dk__rpc_conn_close(c, -ECONNRESET);
    } else if (c->close_after_flush && c->writes == 0 && c->wq_n == 0) {
        dk__rpc_conn_close(c, c->close_status);
    }
}

static void batch_free(rpc_conn *c, uint32_t from, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        piece_free(&c->wq[from + i]);
}

/* Write frames [from, from + n) of c's queue: first straight to the
 * socket (uv_try_write, one writev), and only what the socket does not
 * take at once through a uv_write, which then owns the frames' memory.
 * Returns 0 or a negative code (the frames are freed). */
static int write_batch(rpc_conn *c, uint32_t from, uint32_t n)
{
    uv_buf_t b[RPC_WRITE_BUFS];
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        b[i] = uv_buf_init((char *)c->wq[from + i].ptr, (unsigned)c->wq[from + i].len);
        total += b[i].len;
    }
    DK_METRICS_ADD("rpc_writes_total", 1);
    DK_METRICS_ADD("rpc_frames_written_total", n);
    uint32_t skip = 0;
    /* A connection closing after its last frames keeps the uv_write path,
     * whose completion closes it (write_done). */
    if (!c->close_after_flush && total <= INT_MAX) {
        int w = uv_try_write((uv_stream_t *)&c->tcp, b, n);
        if (w >= 0 && (size_t)w == total) {
            batch_free(c, from, n);
            return 0;
        }
        if (w < 0 && w != UV_EAGAIN) {
            batch_free(c, from, n);
            return w;
        }
        for (size_t left = w > 0 ? (size_t)w : 0; left;) {
            if (left >= b[skip].len) {
                left -= b[skip++].len;
            } else {
                b[skip].base += left;
                b[skip].len -= (unsigned)left;
                left = 0;
            }
        }
        DK_METRICS_ADD("rpc_writes_queued_total", 1);
    }
    rpc_wreq *w = malloc(sizeof(*w) + n * sizeof(rpc_wbuf));
    if (!w) {
        batch_free(c, from, n);
        return -ENOMEM;
    }
    w->n = n;
    for (uint32_t i = 0; i < n; i++)
        w->buf[i] = c->wq[from + i];
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, b + skip, n - skip, write_done);
    if (rc) {
        for (uint32_t i = 0; i < n; i++)
            piece_free(&w->buf[i]);
        free(w);
        return rc;
    }
    c->writes++;
    return 0;
}

void dk__rpc_conn_flush(rpc_conn *c)
{
    if (c->wq_linked) {
        TAILQ_REMOVE(&c->r->flushq, c, wq_link);
        c->wq_linked = 0;
    }
    int rc = 0;
    for (uint32_t i = 0, n; i < c->wq_n; i += n) {
        n = c->wq_n - i < RPC_WRITE_BUFS ? c->wq_n - i : RPC_WRITE_BUFS;
        /* End the batch at a frame's end: the pieces of a frame go
         * together (a third piece borrows the first's buffer). */
        while (n > 1 && i + n < c->wq_n && c->wq[i + n - 1].more)
            n--;
        if (rc == 0)
            rc = write_batch(c, i, n);
        else
            batch_free(c, i, n);
    }
    c->wq_n = 0;
    if (rc && c->state != CONN_CLOSING) {
        dk_log(DK_LOG_INFO, "rpc: cannot write to %s: %s", c->addr, dk_strerror(rc));
        dk__rpc_conn_close_soon(c, -ECONNRESET);
    }
}

void dk__rpc_conn_drop_queue(rpc_conn *c)
{
    if (c->wq_linked) {
        TAILQ_REMOVE(&c->r->flushq, c, wq_link);
        c->wq_linked = 0;
    }
    batch_free(c, 0, c->wq_n);
    c->wq_n = 0;
    free(c->wq);
    c->wq = NULL;
    c->wq_cap = 0;
}

/* The end of the loop turn: every queued connection's frames go out. */
static void write_turn_end(uv_prepare_t *p)
{
    dk_rpc *r = p->data;
    rpc_conn *c;
    while ((c = TAILQ_FIRST(&r->flushq)) != NULL)
        dk__rpc_conn_flush(c);
    uv_prepare_stop(p);
    uv_idle_stop(&r->flush_guard);
}

/* The guard's only work is being active: the loop then polls without
 * blocking, and the next turn's prepare flushes. */
static void write_guard(uv_idle_t *h)
{
    uv_idle_stop(h);
}

/* Room for n more pieces in c's queue. */
static int queue_room(rpc_conn *c, uint32_t n)
{
    if (c->wq_n + n <= c->wq_cap)
        return 0;
    uint32_t cap = c->wq_cap ? c->wq_cap * 2 : 8;
    while (cap < c->wq_n + n)
        cap *= 2;
    rpc_wbuf *q = realloc(c->wq, cap * sizeof(*q));
    if (!q)
        return -ENOMEM;
    c->wq = q;
    c->wq_cap = cap;
    return 0;
}

/* Link c for the end of the turn, and make sure that end comes before
 * the loop blocks (the guard: see the top of the file). */
static void queue_linked(rpc_conn *c)
{
    if (!c->wq_linked) {
        TAILQ_INSERT_TAIL(&c->r->flushq, c, wq_link);
        c->wq_linked = 1;
        uv_prepare_start(&c->r->flush, write_turn_end);
        uv_idle_start(&c->r->flush_guard, write_guard);
    }
}

/* Queue bytes (ciphertext, or a plain connection's frame) as they are,
 * taking their memory. Returns 0 or a negative code. */
int dk__rpc_conn_write_raw(rpc_conn *c, dk_buf *bytes)
{
    if (c->state == CONN_CLOSING || queue_room(c, 1)) {
        int rc = c->state == CONN_CLOSING ? -ECONNRESET : -ENOMEM;
        dk_buf_free(bytes);
        return rc;
    }
    c->wq[c->wq_n++] = (rpc_wbuf){.own = *bytes, .ptr = bytes->data, .len = bytes->len};
    dk_buf_init(bytes);
    queue_linked(c);
    return 0;
}

/* Queue the one encoded frame in *frame (with its MAC once the connection
 * is authenticated, encrypted when TLS is on), taking its memory (*frame
 * is left empty, also on error). Returns 0 or a negative code. Frames are
 * MACed in the order they are queued, which is the order they reach the
 * socket. */
int dk__rpc_conn_send_buf(rpc_conn *c, dk_buf *frame)
{
    if (c->authed) {
        uint8_t tag[DK_RPC_TAG_LEN];
        int rc = dk_rpc_mac_seal(&c->mac_out, frame->data, frame->len, tag);
        if (!rc)
            rc = dk_buf_append(frame, tag, sizeof(tag));
        if (rc) {
            dk_buf_free(frame);
            return rc;
        }
    }
    if (c->tls) {
        dk_buf cipher = DK_BUF_INIT;
        int rc = dk_rpc_tls_encrypt(c->tls, frame->data, frame->len, &cipher);
        dk_buf_free(frame);
        if (rc) {
            dk_buf_free(&cipher);
            return -EPROTO;
        }
        *frame = cipher;
    }
    return dk__rpc_conn_write_raw(c, frame);
}

int dk__rpc_conn_send_lent(rpc_conn *c, dk_buf *frame, size_t split, dk_rpc_lent *lent)
{
    if (c->tls) {
        /* TLS encrypts a copy anyway: lay the pieces end to end. */
        dk_buf flat = DK_BUF_INIT;
        int rc = dk_buf_reserve(&flat, frame->len + lent->len + DK_RPC_TAG_LEN);
        if (!rc) {
            dk_buf_append(&flat, frame->data, split);
            dk_buf_append(&flat, lent->ptr, lent->len);
            dk_buf_append(&flat, frame->data + split, frame->len - split);
        }
        dk_buf_free(frame);
        return rc ? rc : dk__rpc_conn_send_buf(c, &flat);
    }
    int rc = c->state == CONN_CLOSING ? -ECONNRESET : 0;
    if (!rc && c->authed) {
        uint8_t tag[DK_RPC_TAG_LEN];
        dk_slice parts[3] = {
            {frame->data, split}, {lent->ptr, lent->len}, {frame->data + split, frame->len - split}};
        rc = dk_rpc_mac_seal_v(&c->mac_out, parts, 3, tag);
        if (!rc)
            rc = dk_buf_append(frame, tag, sizeof(tag));
    }
    if (!rc)
        rc = queue_room(c, 3);
    if (rc) {
        dk_buf_free(frame);
        return rc;
    }
    dk_rpc_lent_ref(lent);
    rpc_wbuf *q = c->wq + c->wq_n;
    q[0] = (rpc_wbuf){.own = *frame, .ptr = frame->data, .len = split, .more = 1};
    q[1] = (rpc_wbuf){.lent = lent, .ptr = lent->ptr, .len = lent->len, .more = 1};
    q[2] = (rpc_wbuf){.ptr = frame->data + split, .len = frame->len - split};
    c->wq_n += 3;
    dk_buf_init(frame);
    queue_linked(c);
    return 0;
}

/* Encode one frame and queue it. Returns 0 or a negative code. */
int dk__rpc_conn_send(rpc_conn *c, uint8_t type, uint64_t id, const void *body, size_t len)
{
    return dk__rpc_conn_send_flags(c, type, 0, id, body, len);
}

int dk__rpc_conn_send_flags(rpc_conn *c, uint8_t type, uint16_t flags, uint64_t id, const void *body,
                            size_t len)
{
    dk_buf b = DK_BUF_INIT;
    int rc = dk_frame_encode(&b, type, flags, id, body, len);
    if (rc) {
        dk_buf_free(&b);
        return rc;
    }
    return dk__rpc_conn_send_buf(c, &b);
}

int dk_rpc_frame_start(dk_buf *f, size_t body_hint)
{
    size_t start;
    int rc = dk_buf_reserve(f, DK_FRAME_HEADER_LEN + body_hint + DK_FRAME_TRAILER_LEN + DK_RPC_TAG_LEN);
    if (!rc)
        rc = dk_frame_begin(f, &start);
    return rc;
}
