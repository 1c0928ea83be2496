/*
 * rpc.h - the node-to-node RPC transport: frames (rpc_frame.h) over TCP.
 *
 * One dk_rpc per libuv loop is both the server (it listens on the node's
 * rpc address and hands each request to a handler) and the client (it
 * keeps a small pool of connections to every peer it calls). Every
 * connection starts with a mutual challenge-response handshake under the
 * cluster's RPC key (HELLO, HELLO_ACK, AUTH; rpc_auth.h), and every frame
 * after it carries a MAC with a per-direction sequence number, so a
 * process without the key can neither call nor answer, and a frame cannot
 * be forged, replayed, reordered or dropped without the connection
 * closing. Refusals are logged with the peer's address (rate-limited) and
 * counted. A connection carries requests in one direction only, from the
 * connecting side to the acceptor; answers carry the request's id and may
 * come in any order.
 *
 * Bounds: at most max_inbound accepted connections at once (more are
 * closed at once and counted); a frame that has begun to arrive must be
 * complete within frame_timeout_ms, and a handshake within
 * connect_timeout_ms, or the connection is closed. In protected mode
 * (loopback_only: the node has no key file) connections from peers that
 * are not on a loopback address are refused.
 *
 * Hooks for TLS: every byte written goes through dk__rpc_conn_send_buf and
 * every byte read arrives in conn_read_cb (rpc.c); a TLS layer fits
 * between those and the socket, under the frame MACs.
 *
 * Outgoing sockets are bound to the IP of the node's own listen address
 * before connecting (DESIGN.md section 6), so firewall rules between
 * 127.0.0.x addresses partition nodes in tests.
 *
 * Status codes seen by a dk_rpc_cb:
 *   0               an answer frame arrived (its type may be DK_MSG_ERROR);
 *   DK_ETIMEOUT     the deadline passed; a late answer is dropped;
 *   -ECONNRESET     the connection broke after the request was written: the
 *                   peer may or may not have acted on it;
 *   DK_EUNAVAILABLE the request was never sent (peer unreachable, or in
 *                   reconnect backoff after a failure);
 *   DK_ECONFIG, -EACCES, DK_EUNSUPPORTED, DK_ECORRUPT
 *                   never sent: the peer refused the handshake (other
 *                   cluster, other key, protocol version, other node id
 *                   at that address) or spoke garbage;
 *   DK_ECLOSED      never answered: dk_rpc_stop was called.
 *
 * Several loops (cluster/loops.c): the node's listening instance may
 * spread the connections it accepts over instances on other loops that
 * share it (dk_rpc_conf.share, dk_rpc_spread, dk_rpc_adopt): a connection
 * then lives, and its frames are read, MACed and answered, on that loop
 * only, under the listener's connection cap and TLS contexts. A request
 * that only another loop's handler can serve is relayed there
 * (dk_rpc_req_relay) and its answer comes back to be written on the
 * connection's own loop.
 *
 * Threads: everything here runs on the loop thread of the dk_rpc, and every
 * callback is called there, except where said (the counters, a relayed
 * request's answer).
 */
#ifndef DK_RPC_H
#define DK_RPC_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "dynkv/types.h"
#include "rpc/rpc_auth.h"
#include "rpc/rpc_frame.h"

typedef struct dk_rpc dk_rpc;
typedef struct dk_rpc_req dk_rpc_req; /* one request received by the server */

/*
 * Request handler, called on the loop thread for every request frame (any
 * type but HELLO, HELLO_ACK and PING; PING is answered with PONG by the
 * transport itself). body is valid only during the call. The handler must
 * answer q exactly once with dk_rpc_reply, now or later, also after
 * dk_rpc_stop (the answer is then dropped and q freed).
 */
typedef void (*dk_rpc_handler)(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body);

/*
 * Client completion: called exactly once per accepted dk_rpc_call, on the
 * loop thread, never from inside dk_rpc_call. h and body are set only when
 * status is 0 (they are NULL/empty otherwise); body is valid only during
 * the call.
 */
typedef void (*dk_rpc_cb)(void *arg, int status, const dk_frame_header *h, dk_slice body);

/* Spreading (dk_rpc_spread): fd is a connection the listening instance
 * accepted, owned by the callee from now on. Return 0 when it took fd (it
 * hands fd to dk_rpc_adopt of an instance sharing the listener, on that
 * instance's loop, or closes it), or nonzero to have it served here. */
typedef int (*dk_rpc_spread_fn)(void *arg, int fd);

/* A relayed request's answer (dk_rpc_req_relay): the type, the frame
 * flags (DK_FRAME_*, dk_rpc_reply_flags) and the frame begun by
 * dk_rpc_frame_start with the answer's body in it (f.len 0 when it could
 * not be encoded), taken by the callee. */
typedef void (*dk_rpc_relay_fn)(void *arg, uint8_t type, uint16_t flags, dk_buf *frame);

/* Configuration; zero numeric fields take the defaults in brackets. The
 * strings are copied by dk_rpc_start. */
typedef struct dk_rpc_conf {
    const char *listen;          /* "127.0.0.1:7070" or "[::1]:7070"; port 0 = any */
    const char *cluster_name;    /* 1..64 bytes */
    const char *node_id;         /* [a-z0-9_-]{1,64} */
    uint32_t incarnation;        /* >= 1 */
    const uint8_t *key;          /* DK_RPC_KEY_LEN bytes: the cluster's RPC key (required) */
    int loopback_only;           /* protected mode: refuse peers not on loopback */
    uint32_t max_inbound;        /* [1024] accepted connections open at once */
    uint64_t frame_timeout_ms;   /* [2000] a half-received frame is dropped after this */
    uint32_t max_conns_per_peer; /* [2] */
    uint32_t max_outstanding;    /* [256] requests in flight per connection */
    uint64_t connect_timeout_ms; /* [2000] connect + handshake */
    uint64_t backoff_max_ms;     /* [2000] cap of the reconnect backoff */
    uint64_t probe_timeout_ms;   /* [1000] liveness PING after a request timed out */
    dk_rpc_handler on_request;   /* NULL: requests are answered with ERROR */
    void *arg;
    struct dk_rpc_tls *tls; /* mutual TLS under the frames (rpc_tls.h), or NULL; the
                                     * instance takes it, also when dk_rpc_start fails */
    int client_only;        /* 1: no listener (a loop's own client connections to its
                                     * peers); listen still names the IP outgoing sockets bind to */
    /* NULL, or the node's listening instance (another loop's, started
     * first, stopped after this one): this one binds nothing and serves
     * the connections handed to it (dk_rpc_adopt) under share's
     * connection cap, with share's TLS contexts (tls must be NULL). */
    struct dk_rpc *share;
} dk_rpc_conf;

/* Counters since start (dk_rpc_stats_get). */
typedef struct dk_rpc_stats {
    uint64_t conns_open;         /* connections open now, both directions */
    uint64_t conns_accepted;     /* inbound connections accepted */
    uint64_t conns_connected;    /* outbound connections that completed the handshake */
    uint64_t connect_failures;   /* outbound connects that failed or timed out */
    uint64_t handshake_failures; /* handshakes refused or failed, either side */
    uint64_t wrong_cluster;      /* ...of which: the other side is another cluster */
    uint64_t bad_frames;         /* connections closed for a malformed frame */
    uint64_t timeouts;           /* client requests that passed their deadline */
    uint64_t late_replies;       /* answers that arrived for no pending request */
    uint64_t requests_in;        /* requests handed to the handler (PINGs included) */
    uint64_t requests_out;       /* client requests written to a connection */
    uint64_t auth_failures;      /* bad handshake proofs or frame MACs, either side */
    uint64_t conns_rejected;     /* inbound connections closed at once: over the cap or not loopback */
    uint64_t frame_timeouts;     /* connections closed for a frame not completed in time */
} dk_rpc_stats;

/*
 * Start listening on conf->listen. On success *out is the instance (owned
 * by the caller until dk_rpc_stop's done callback) and 0 is returned; on
 * failure a negative code (DK_ECONFIG, -EADDRINUSE, ...) and a message in
 * err; handles opened before the failure are being closed, so the loop
 * must run once more before uv_loop_close. Loop thread.
 */
int dk_rpc_start(uv_loop_t *loop, const dk_rpc_conf *conf, dk_rpc **out, char *err, size_t errlen);

/* The port actually listened on (useful with port 0), or a negative code
 * (DK_ENOTFOUND for a client-only instance). */
int dk_rpc_port(const dk_rpc *r);

/*
 * Send a request of the given type and body to the peer node peer_id at
 * peer_addr ("ip:port"), with a deadline deadline_ms (> 0) from now. The
 * body is copied. Returns 0 and cb will run exactly once later; or an error
 * and cb is never called: -EINVAL (bad arguments or address), DK_ETOOBIG,
 * -ENOMEM, DK_ECLOSED (stopping). A peer's address given here replaces the
 * one used for its next connections. Loop thread.
 */
int dk_rpc_call(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, const void *body,
                size_t len, uint64_t deadline_ms, dk_rpc_cb cb, void *arg);

/*
 * A frame whose body is encoded straight into its buffer, so that a value
 * in it is copied once, by the encoder, and never again: dk_rpc_frame_start
 * makes f (empty) a frame with room for body_hint bytes of body and for
 * what the transport adds (header, CRC trailer, MAC tag); the caller then
 * appends the body (a dk_msg_*_encode) and hands f to dk_rpc_call_framed
 * or dk_rpc_reply_framed, which take its memory (f is left empty, also on
 * error) and behave as dk_rpc_call and dk_rpc_reply otherwise.
 * dk_rpc_frame_start returns 0 or -ENOMEM.
 */
int dk_rpc_frame_start(dk_buf *f, size_t body_hint);
int dk_rpc_call_framed(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, dk_buf *f,
                       uint64_t deadline_ms, dk_rpc_cb cb, void *arg);
/* dk_rpc_call_framed with frame flags (DK_FRAME_*, rpc_frame.h) in the
 * request's header; the answer's header (and its flags) reaches cb. */
int dk_rpc_call_flags(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, uint16_t flags,
                      dk_buf *f, uint64_t deadline_ms, dk_rpc_cb cb, void *arg);

/*
 * A value that frames carry without copying it (written with writev from
 * where it lies): the owner fills ptr and len, sets refs to 1 (its own
 * reference) and release, and drops its reference with dk_rpc_lent_unref
 * when done with it. Every frame that carries the value holds a reference
 * until the frame is written or dropped, so the bytes must not change or
 * go until release(l) runs, on the last unref. One loop thread.
 */
typedef struct dk_rpc_lent {
    const uint8_t *ptr;
    size_t len;
    uint32_t refs;
    void (*release)(struct dk_rpc_lent *l);
} dk_rpc_lent;
void dk_rpc_lent_ref(dk_rpc_lent *l);
void dk_rpc_lent_unref(dk_rpc_lent *l);

/*
 * dk_rpc_call_framed for a body with a lent value in it: f, begun by
 * dk_rpc_frame_start, holds the body without the value, which goes in at
 * offset split of f (e.g. dk_msg_put_replica_encode_lent). The frame on
 * the wire is the one the whole body would make; the value is not copied
 * on a plain connection (TLS encrypts a copy). Takes f's memory; the call
 * and each frame in flight hold a reference to lent. Loop thread.
 */
int dk_rpc_call_lent(dk_rpc *r, const char *peer_id, const char *peer_addr, uint8_t type, dk_buf *f,
                     size_t split, dk_rpc_lent *lent, uint64_t deadline_ms, dk_rpc_cb cb, void *arg);

/*
 * From inside q's handler: take the memory the frame of q was read into,
 * so that a handler that keeps the body (a replica write queued to the
 * engine) keeps it without copying. Possible when the frame is the last
 * bytes read on its connection (a large frame usually is): *out (freed
 * first) then owns them, and the body the handler got stays valid in it;
 * the connection reads on into a new buffer. -EAGAIN otherwise (bytes of
 * a later frame follow, or q was relayed): copy what you keep. Loop
 * thread.
 */
int dk_rpc_req_take_frame(dk_rpc_req *q, dk_buf *out);

/*
 * Answer request q with a frame of the given type and body (copied), and
 * free q. If the connection died meanwhile, or the instance stopped, the
 * answer is dropped and 0 is returned. Returns -EINVAL/DK_ETOOBIG for a
 * frame that cannot be encoded (q is freed anyway and the requester will
 * time out), or -ENOMEM. Loop thread.
 */
int dk_rpc_reply(dk_rpc_req *q, uint8_t type, const void *body, size_t len);
int dk_rpc_reply_framed(dk_rpc_req *q, uint8_t type, dk_buf *f);
/* dk_rpc_reply_framed with frame flags in the answer's header (a relayed
 * request's relay gets them with the frame). */
int dk_rpc_reply_flags(dk_rpc_req *q, uint8_t type, uint16_t flags, dk_buf *f);

/* Answer q with an error frame (DK_MSG_ERROR: code and message; an empty
 * one when it cannot be encoded), as dk_rpc_reply. Loop thread. */
int dk_rpc_reply_error(dk_rpc_req *q, int code, const char *msg);

/* The authenticated node id of the peer that sent q; valid until q is
 * answered. */
const char *dk_rpc_req_peer(const dk_rpc_req *q);

/* Copy the counters into *st. Any thread, while r runs (each counter is
 * read atomically; the set is not one snapshot). */
void dk_rpc_stats_get(const dk_rpc *r, dk_rpc_stats *st);

/* The listening instance r: from now on call fn(arg, fd) for every
 * connection accepted (before its admission, which the instance that
 * serves it makes); fn NULL: serve every one here again. Loop thread. */
void dk_rpc_spread(dk_rpc *r, dk_rpc_spread_fn fn, void *arg);

/* Serve fd, a connection accepted by r's listener or by its share's, as
 * an inbound connection of r: admission (the shared cap, loopback only in
 * protected mode), then TLS and the handshake. 0, or an error (DK_ECLOSED
 * when r is stopping or client-only, -ENOMEM); fd is taken (closed on
 * error). r's loop thread. */
int dk_rpc_adopt(dk_rpc *r, int fd);

/* A request that q's handler hands to another loop's handler: a new
 * request with q's id and peer, tied to no connection. Answering it
 * (dk_rpc_reply*, exactly once, on whichever thread holds it) calls
 * fn(arg, type, frame) there; the caller then answers q with that frame
 * on q's loop (dk_rpc_reply_framed). NULL when out of memory. q's loop
 * thread. */
dk_rpc_req *dk_rpc_req_relay(const dk_rpc_req *q, dk_rpc_relay_fn fn, void *arg);

/* The instance's TLS contexts (for dk_rpc_tls_reload from any thread), or
 * NULL when its RPC is plain. */
struct dk_rpc_tls *dk_rpc_tls_of(const dk_rpc *r);

/*
 * Stop: close the listener, fail every pending client request with
 * DK_ECLOSED (their callbacks run before this returns), close every
 * connection, then, once every handle is closed, free r and call
 * done(arg) (may be NULL) on the loop thread. Requests still held by the
 * handler stay valid until answered. Call once. Loop thread.
 */
void dk_rpc_stop(dk_rpc *r, void (*done)(void *arg), void *arg);

#endif /* DK_RPC_H */
