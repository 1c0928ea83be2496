/*
 * rpc_int.h - what rpc.c (instance, connections, handshake messages),
 * rpc_server.c (accept, dispatch, answers) and rpc_client.c (peers, pools,
 * requests, deadlines) share. Not a public interface: everything here runs
 * on the dk_rpc's loop thread, except the counters (written there, read
 * from any thread: RPC_COUNT), the shared connection count and a relayed
 * request's answer (rpc.h, dk_rpc_req_relay).
 *
 * Lifetime: a connection is freed only in the close callback of its last
 * libuv handle, and the dk_rpc only once every handle it opened is closed
 * (r->handles counts them), so callbacks reached from a parse loop may
 * close connections or stop the instance without pulling memory from
 * under the loop.
 */
#ifndef DK_RPC_INT_H
#define DK_RPC_INT_H
#include <stdatomic.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include "rpc/rpc.h"
#include "rpc/rpc_tls.h"

#define RPC_ADDR_TEXT 64

/* CONN_AUTH: the acceptor sent HELLO_ACK and waits for AUTH. */
enum { CONN_CONNECTING, CONN_HELLO, CONN_AUTH, CONN_READY, CONN_CLOSING };
enum { OUT_WAITING, OUT_INFLIGHT, OUT_DEFERRED, OUT_DONE };

struct rpc_conn;
struct rpc_out;

/* One piece of a queued frame (rpc_write.c): bytes [ptr, ptr + len) that
 * are in own (freed with the piece), or in a lent value (lent: the piece
 * holds a reference), or in the own buffer of the frame's first piece
 * (neither: a frame's pieces are always written in one batch, so that
 * buffer outlives them). more: the frame goes on in the next piece. */
typedef struct rpc_wbuf {
    dk_buf own;
    dk_rpc_lent *lent;
    const uint8_t *ptr;
    size_t len;
    int more;
} rpc_wbuf;

/* A peer node the client talks to. */
typedef struct rpc_peer {
    TAILQ_ENTRY(rpc_peer) link;
    char id[DK_NODE_ID_MAX + 1];
    struct sockaddr_storage addr;
    char addr_text[RPC_ADDR_TEXT];
    TAILQ_HEAD(, rpc_conn) conns; /* connecting or ready */
    uint32_t n_conns;
    TAILQ_HEAD(, rpc_out) waiting; /* accepted, not yet written */
    uint32_t failures;             /* consecutive failed attempts */
    uint64_t retry_at;             /* uv_now() before which no connect is tried */
    int last_error;
} rpc_peer;

/* One TCP connection, either direction. */
typedef struct rpc_conn {
    dk_rpc *r;
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake deadline, then a half-received frame's */
    uv_connect_t connect_req;
    int inbound, state, handles, reading, in_parse, close_after_flush, close_status;
    size_t need;     /* bytes the frame being received needs, 0 = unknown */
    uint32_t writes; /* uv_write requests not yet completed */
    rpc_wbuf *wq;    /* sealed frames queued for the end of the turn (rpc_write.c) */
    uint32_t wq_n, wq_cap;
    int wq_linked; /* in r->flushq */
    TAILQ_ENTRY(rpc_conn) wq_link;
    dk_buf rbuf; /* received bytes; [roff, len) unparsed */
    size_t roff;
    char addr[RPC_ADDR_TEXT];         /* the other end, for logs */
    char peer_id[DK_NODE_ID_MAX + 1]; /* authenticated once READY */
    dk_msg_hello *hs;                 /* during the handshake: [0] initiator's HELLO, [1] acceptor's */
    int authed;                       /* frames carry MACs from now on */
    int peer_crc_optional;            /* its HELLO(_ACK) frame had DK_FRAME_CRC_OPTIONAL */
    int frame_timer;                  /* the timer runs for a half-received frame */
    int frame_grace;                  /* ...and has expired once: one more poll, then close */
    dk_rpc_mac mac_out, mac_in;
    dk_rpc_tls_conn *tls;       /* NULL: plain TCP */
    TAILQ_ENTRY(rpc_conn) link; /* r->inbound or peer->conns */
    /* inbound */
    TAILQ_HEAD(, dk_rpc_req) reqs; /* handed to the handler, unanswered */
    dk_rpc_req *dispatching;       /* whose handler runs now (dk_rpc_req_take_frame) */
    uint32_t outstanding;
    /* outbound */
    rpc_peer *peer;
    TAILQ_HEAD(, rpc_out) inflight;
    uint32_t n_inflight;
    int probing;     /* a liveness PING is in flight */
    int established; /* the handshake completed */
} rpc_conn;

struct dk_rpc_req {
    rpc_conn *conn; /* NULL once the connection is gone (or relayed) */
    uint64_t id;
    char peer[DK_NODE_ID_MAX + 1];
    TAILQ_ENTRY(dk_rpc_req) link;
    dk_rpc_relay_fn relay; /* a relayed request: its answer goes here */
    void *relay_arg;
};

/* dk_rpc_stats, each written by the instance's loop thread only and read
 * from any thread (dk_rpc_stats_get): single-writer relaxed atomics, so
 * counting is a plain load and store, no locked instruction. */
typedef struct rpc_counters {
    _Atomic uint64_t conns_open, conns_accepted, conns_connected, connect_failures, handshake_failures,
        wrong_cluster, bad_frames, timeouts, late_replies, requests_in, requests_out, auth_failures,
        conns_rejected, frame_timeouts;
} rpc_counters;

#define RPC_ADD(r, field, d)                                                                                 \
    atomic_store_explicit(&(r)->st.field, atomic_load_explicit(&(r)->st.field, memory_order_relaxed) + (d),  \
                          memory_order_relaxed)
#define RPC_COUNT(r, field) RPC_ADD(r, field, 1)

/* One client request. Back in r->out_pool (or freed) once completed. */
typedef struct rpc_out {
    dk_rpc *r;
    rpc_peer *peer;
    rpc_conn *conn; /* set while OUT_INFLIGHT */
    uint64_t id;
    dk_buf frame; /* the encoded frame, until written */
    /* A frame that lends a value (dk_rpc_call_lent): frame is the frame
     * without it, which goes in at split; the reference is held until o
     * is freed. */
    dk_rpc_lent *lent;
    size_t split;
    dk_rpc_cb cb;
    void *arg;
    uint64_t due; /* loop time (ms) of its deadline */
    int where, status;
    uint8_t type;               /* message type, for the latency metric */
    uint64_t start_ns;          /* uv_hrtime() when the call was made */
    struct rpc_out *hnext;      /* r->htab chain */
    TAILQ_ENTRY(rpc_out) link;  /* peer->waiting, conn->inflight or r->deferred */
    TAILQ_ENTRY(rpc_out) dlink; /* r->due */
} rpc_out;

struct dk_rpc {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t defer;                  /* runs completions decided inside dk_rpc_call */
    uv_prepare_t flush;               /* the end of the loop turn: queued frames go out */
    uv_idle_t flush_guard;            /* frames wait for a flush this turn will not run (rpc_write.c) */
    uv_timer_t deadline;              /* runs at the earliest deadline of r->due, or before */
    uint64_t deadline_at;             /* loop time (ms) it runs at, while active */
    TAILQ_HEAD(rpc_due, rpc_out) due; /* pending requests by deadline (rpc_client.c) */
    TAILQ_HEAD(, rpc_conn) flushq;    /* connections with frames queued */
    char cluster[DK_CLUSTER_NAME_MAX + 1];
    char node_id[DK_NODE_ID_MAX + 1];
    uint32_t incarnation;
    uint8_t key[DK_RPC_KEY_LEN];
    int loopback_only;
    int client_only; /* no listener (dk_rpc_conf) */
    uint32_t max_inbound;
    /* Inbound connections open on this instance and on those that share
     * it (dk_rpc_conf.share): points to the listening instance's
     * n_inbound_all, which outlives every sharer. */
    _Atomic uint32_t n_inbound_all, *n_inbound;
    dk_rpc *share;           /* the listening instance this one serves for, or NULL */
    dk_rpc_spread_fn spread; /* NULL: every accepted connection is served here */
    void *spread_arg;
    uint64_t frame_timeout_ms;
    uint64_t log_window; /* rate limit of refusal logs: window start (uv_now) */
    uint32_t log_count, log_dropped;
    uint32_t max_conns, max_outstanding;
    uint64_t connect_timeout_ms, backoff_max_ms, probe_timeout_ms;
    dk_rpc_handler on_request;
    void *arg;
    struct sockaddr_storage bind_addr; /* own IP, port 0 */
    int bind_any;                      /* listen address is a wildcard: do not bind */
    TAILQ_HEAD(, rpc_conn) inbound;
    TAILQ_HEAD(, rpc_peer) peers;
    TAILQ_HEAD(, rpc_out) deferred;
    rpc_out **htab; /* pending requests by id */
    size_t hcap, hcount;
    uint64_t next_id;
    size_t n_pending;  /* rpc_out not yet completed; htab has room for all */
    rpc_out *out_pool; /* freed requests kept for the next ones (linked by hnext) */
    uint32_t n_out_pool;
    rpc_counters st;
    dk_rpc_tls *tls;   /* NULL: plain RPC */
    dk_buf tls_cipher; /* read buffer of TLS connections (one read at a time) */
    int stopping;
    uint32_t handles; /* open libuv handles */
    void (*done)(void *);
    void *done_arg;
};

/* rpc.c */
int dk__rpc_parse_addr(const char *text, struct sockaddr_storage *ss);
void dk__rpc_addr_text(const struct sockaddr *sa, char *out, size_t outlen);
rpc_conn *dk__rpc_conn_new(dk_rpc *r, int inbound);
int dk__rpc_conn_start(rpc_conn *c);
/* rpc_write.c */
int dk__rpc_conn_send(rpc_conn *c, uint8_t type, uint64_t id, const void *body, size_t len);
int dk__rpc_conn_send_flags(rpc_conn *c, uint8_t type, uint16_t flags, uint64_t id, const void *body,
                            size_t len);
/* Frames on c may go without their body CRC (DK_FRAME_NO_CRC, rpc_frame.h):
 * they carry MACs and the other end reads such frames. */
static inline int dk__rpc_conn_no_crc(const rpc_conn *c)
{
    return c->authed && c->peer_crc_optional;
}
int dk__rpc_conn_send_buf(rpc_conn *c, dk_buf *frame);
/* Queue a frame whose bytes are frame[0, split), lent's, frame[split, len)
 * (dk_frame_finish_lent), taking frame's memory and a reference to lent. */
int dk__rpc_conn_send_lent(rpc_conn *c, dk_buf *frame, size_t split, dk_rpc_lent *lent);
int dk__rpc_conn_write_raw(rpc_conn *c, dk_buf *bytes);
/* Write c's queued frames now (one uv_write). */
void dk__rpc_conn_flush(rpc_conn *c);
/* Free c's queue without writing it (the connection's memory goes). */
void dk__rpc_conn_drop_queue(rpc_conn *c);
/* rpc.c */
void dk__rpc_conn_close(rpc_conn *c, int status);
void dk__rpc_conn_close_soon(rpc_conn *c, int status);
int dk__rpc_id_ok(const char *s);
int dk__rpc_conn_send_error(rpc_conn *c, uint64_t id, int code, const char *msg);
void dk__rpc_conn_refuse(rpc_conn *c, int code, const char *msg);
void dk__rpc_conn_process(rpc_conn *c);
int dk__rpc_hello_make(dk_rpc *r, dk_msg_hello *m);
int dk__rpc_hello_check(dk_rpc *r, dk_slice body, const char *expect_id, dk_msg_hello *m, char *msg,
                        size_t msglen);
int dk__rpc_conn_keys(rpc_conn *c);
void dk__rpc_refusal(dk_rpc *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dk__rpc_release(dk_rpc *r);

/* rpc_server.c */
void dk__rpc_server_accept(uv_stream_t *listener, int status);
void dk__rpc_server_frame(rpc_conn *c, const dk_frame_header *h, dk_slice body);
void dk__rpc_server_closed(rpc_conn *c);

/* rpc_client.c */
void dk__rpc_client_frame(rpc_conn *c, const dk_frame_header *h, dk_slice body);
void dk__rpc_client_closed(rpc_conn *c, int status);
void dk__rpc_client_stop(dk_rpc *r);
void dk__rpc_client_free_peers(dk_rpc *r);
void dk__rpc_client_hello(rpc_conn *c);

#endif /* DK_RPC_INT_H */
