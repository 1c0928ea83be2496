/*
 * rpc_frame.h - the node-to-node wire format: frames and message bodies
 * (encode and decode only; sockets live elsewhere).
 *
 * A frame is a fixed 24-byte header, the body, and the body's CRC:
 *
 *   off size field
 *     0    2 magic          0x4B44 (the bytes "DK")
 *     2    1 version        DK_FRAME_VERSION
 *     3    1 type           DK_MSG_*
 *     4    2 flags          opaque to this layer; unknown bits are ignored
 *     6    2 reserved       zero
 *     8    8 request id     chosen by the requester, echoed in the answer
 *    16    4 body length    bytes of body (the CRC after it not counted)
 *    20    4 header CRC     masked CRC-32C of bytes 0..19
 *    24    n body
 *  24+n    4 body CRC       masked CRC-32C of the body (0 with DK_FRAME_NO_CRC)
 *
 * All integers little-endian. A whole frame is at most DK_FRAME_MAX bytes.
 * The header has its own CRC so a corrupt length is caught before the
 * reader waits for (or allocates) a body that will never come.
 *
 * Bodies are sequences of fields: unsigned integers as LEB128 varints,
 * signed ones (status codes) zig-zag encoded, byte strings as a varint
 * length then the bytes, fixed-size blobs (nonce, MAC) raw. Decoders check
 * every length against the bytes left, refuse trailing bytes (except in
 * HELLO from a newer protocol version, so old nodes can still answer it),
 * and never allocate: slices in decoded messages point into the body.
 */
#ifndef DK_RPC_FRAME_H
#define DK_RPC_FRAME_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "dynkv/types.h"
#include "util/buf.h"

#define DK_FRAME_MAGIC 0x4B44u
#define DK_FRAME_VERSION 1u
#define DK_FRAME_HEADER_LEN 24u
#define DK_FRAME_TRAILER_LEN 4u
#define DK_FRAME_MAX (8u * 1024u * 1024u)
#define DK_FRAME_BODY_MAX (DK_FRAME_MAX - DK_FRAME_HEADER_LEN - DK_FRAME_TRAILER_LEN)

/* The protocol (message set) version announced in HELLO. 2: the
 * challenge-response handshake and per-frame MACs (HMAC-SHA256) of
 * rpc_auth.h; 3: the same handshake, frame tags by AES-128-GMAC. A node of
 * another version is refused with an ERROR naming both versions. */
#define DK_RPC_PROTO_VERSION 3u

#define DK_CLUSTER_NAME_MAX 64u
#define DK_HELLO_NONCE_LEN 16u
#define DK_HELLO_MAC_LEN 32u
#define DK_ERROR_MSG_MAX 1024u

/* Message types. Append only; never renumber. */
enum {
    DK_MSG_HELLO = 1,           /* dk_msg_hello: initiator's identity */
    DK_MSG_HELLO_ACK = 2,       /* dk_msg_hello: acceptor's identity */
    DK_MSG_ERROR = 3,           /* dk_msg_error */
    DK_MSG_PUT_REPLICA = 4,     /* dk_msg_put_replica */
    DK_MSG_GET_REPLICA = 5,     /* dk_msg_get_replica */
    DK_MSG_REPLICA_VALUE = 6,   /* dk_msg_replica_value: answer to GET_REPLICA */
    DK_MSG_ACK = 7,             /* dk_msg_ack: answer to PUT_REPLICA */
    DK_MSG_PING = 8,            /* dk_msg_ping */
    DK_MSG_PONG = 9,            /* dk_msg_ping, echoing the PING's time */
    DK_MSG_FORWARD_WRITE = 10,  /* dk_msg_forward_write: a client write for a replica to coordinate */
    DK_MSG_FORWARD_RESULT = 11, /* dk_msg_forward_result: answer to FORWARD_WRITE */
    DK_MSG_SCAN_RANGE = 12,     /* dk_msg_scan_range (rpc_scan.h): a node's part of a prefix scan */
    DK_MSG_SCAN_RESULT = 13,    /* dk_msg_scan_result (rpc_scan.h): answer to SCAN_RANGE */
    DK_MSG_STREAM_REQ = 14,     /* rpc_stream.h: the next batch of a set of token ranges */
    DK_MSG_STREAM_BATCH = 15,   /* rpc_stream.h: answer to STREAM_REQ */
    DK_MSG_STREAM_DONE = 16,    /* rpc_stream.h: has the receiver completed a plan? */
    DK_MSG_STREAM_ACK = 17,     /* rpc_stream.h: answer to STREAM_DONE */
    DK_MSG_TREE_REQ = 18,       /* dk_msg_tree_req (rpc_ae.h): some nodes of a replica group's Merkle tree */
    DK_MSG_TREE = 19,           /* dk_msg_tree (rpc_ae.h): answer to TREE_REQ */
    DK_MSG_KEYS_REQ = 20,       /* dk_msg_keys_req (rpc_ae.h): list a group's keys, or swap objects */
    DK_MSG_KEYS = 21,           /* dk_msg_keys (rpc_ae.h): answer to KEYS_REQ */
    DK_MSG_HANDOFF_QUERY = 22,  /* rpc_handoff.h: are writes for these nodes still on their way? */
    DK_MSG_HANDOFF_STATE = 23,  /* rpc_handoff.h: answer to HANDOFF_QUERY */
    DK_MSG_AUTH = 24,           /* dk_msg_auth: the initiator's proof, ends the handshake */
    DK_MSG__MAX = 24            /* numbers without a name in between are not valid types */
};

/* Frame flags (header bytes 4..5). A node that does not know a flag
 * ignores it: the frame means what it means without the flag, so a flag
 * may only ask for something the old answer also satisfies.
 *
 * DK_FRAME_DIGEST: on GET_REPLICA, answer with a digest of the local copy
 * rather than the copy; on REPLICA_VALUE, the body is a
 * dk_msg_replica_digest. A node that does not know it answers with the
 * whole copy (a REPLICA_VALUE without the flag), which the requester
 * must accept as well. */
#define DK_FRAME_DIGEST 0x1u

/* DK_FRAME_NO_CRC: the body CRC is 0 and not checked: the frame's MAC
 * (rpc_auth.h) covers every byte, so a CRC of a 10 KiB value on top of it
 * was work on both sides for nothing. The one flag a node must understand
 * to read the frame: it is sent only on an authenticated connection whose
 * other end set DK_FRAME_CRC_OPTIONAL on its HELLO or HELLO_ACK frame
 * (a node of an older release does not, and keeps getting CRCs), and a
 * frame with it on a connection without MACs is refused.
 *
 * DK_FRAME_CRC_OPTIONAL: on HELLO and HELLO_ACK, "this node reads
 * DK_FRAME_NO_CRC frames once the connection is authenticated". Ignored
 * elsewhere, and by older nodes. Not part of the handshake's transcript:
 * taking it away costs a peer only the CRCs, and adding it where the
 * other side does not read such frames only breaks the connection, which
 * whoever can change the bytes can do anyway. */
#define DK_FRAME_NO_CRC 0x2u
#define DK_FRAME_CRC_OPTIONAL 0x4u

typedef struct dk_frame_header {
    uint8_t version, type;
    uint16_t flags;
    uint64_t request_id;
    uint32_t body_len;
} dk_frame_header;

/* Name of a message type ("HELLO", ...), or "unknown". Static storage. */
const char *dk_msg_type_name(uint8_t type);

/*
 * Append one whole frame to out. Errors: -EINVAL (unknown type),
 * DK_ETOOBIG (body over DK_FRAME_BODY_MAX), -ENOMEM; out is unchanged on
 * error. Any thread.
 */
int dk_frame_encode(dk_buf *out, uint8_t type, uint16_t flags, uint64_t request_id, const void *body,
                    size_t body_len);

/*
 * Encode a frame in place, without copying the body: dk_frame_begin
 * appends room for the header and stores its offset in *start; the caller
 * appends the body (e.g. with a dk_msg_*_encode); dk_frame_finish fills
 * the header and appends the body CRC. On a finish error (-EINVAL,
 * DK_ETOOBIG, -ENOMEM) out is truncated back to *start.
 */
int dk_frame_begin(dk_buf *out, size_t *start);
int dk_frame_finish(dk_buf *out, size_t start, uint8_t type, uint16_t flags, uint64_t request_id);

/*
 * Finish a frame whose body lies in three parts, the middle one elsewhere
 * (a value the frame lends rather than copies): out holds the header room
 * at start and the body's first part up to split, then the body's last
 * part up to out->len; the body is [start + header, split) + mid + [split,
 * out->len). Fills the header (body length and CRC over all three parts)
 * and appends the body CRC to out, which is then the frame with mid
 * missing at split. Errors as dk_frame_finish (out truncated to start).
 * With DK_FRAME_NO_CRC in flags, dk_frame_finish, _finish_lent and
 * _encode write 0 for the body CRC and do not compute it.
 */
int dk_frame_finish_lent(dk_buf *out, size_t start, size_t split, dk_slice mid, uint8_t type, uint16_t flags,
                         uint64_t request_id);

/*
 * Give a frame finished with DK_FRAME_NO_CRC its body CRC after all (its
 * connection turned out not to take such frames): the frame is
 * [frame, frame + len), its body's middle part mid lent at split as in
 * dk_frame_finish_lent (split = len - DK_FRAME_TRAILER_LEN and mid empty
 * for a whole frame). Computes the CRC, clears the flag and redoes the
 * header's CRC. Nothing for a frame without the flag.
 */
void dk_frame_add_crc(uint8_t *frame, size_t len, size_t split, dk_slice mid);

/*
 * Decode the frame at the start of a stream buffer [in, in + len).
 * Returns:
 *   > 0  bytes consumed: *hdr and *body are set; body borrows from in and
 *        is valid as long as those bytes are;
 *   0    more bytes needed. Once len >= DK_FRAME_HEADER_LEN the header has
 *        been validated and *hdr is set, so the caller knows the frame needs
 *        DK_FRAME_HEADER_LEN + hdr->body_len + DK_FRAME_TRAILER_LEN bytes;
 *   DK_ECORRUPT     bad magic, CRC, reserved bits or unknown type (the body
 *                   CRC is not checked with DK_FRAME_NO_CRC: the caller
 *                   refuses that flag where frames carry no MAC);
 *   DK_EUNSUPPORTED a well-formed header of another frame version;
 *   DK_ETOOBIG      a body length over DK_FRAME_BODY_MAX (refused from the
 *                   header alone: nothing is allocated or awaited).
 * On an error the connection must be closed; err (if errlen > 0) gets a
 * NUL-terminated message naming the problem. Pure, any thread.
 */
ssize_t dk_frame_decode(const uint8_t *in, size_t len, dk_frame_header *hdr, dk_slice *body, char *err,
                        size_t errlen);

/* ---- message bodies ------------------------------------------------------
 * Each encoder appends the body to out (out is unchanged on error) and
 * returns 0, -EINVAL (a field out of its limits), or -ENOMEM. Each decoder
 * fills *m from body and returns 0 or DK_ECORRUPT; slices in *m borrow
 * from body. All are pure and thread-safe.
 */

/* HELLO and HELLO_ACK. The initiator's HELLO carries no MAC; the
 * acceptor's HELLO_ACK carries its proof over both HELLOs (rpc_auth.h). */
typedef struct dk_msg_hello {
    uint32_t proto_version;                /* DK_RPC_PROTO_VERSION */
    char cluster[DK_CLUSTER_NAME_MAX + 1]; /* 1..64 bytes, no NUL */
    char node_id[DK_NODE_ID_MAX + 1];      /* [a-z0-9_-]{1,64} */
    uint32_t incarnation;                  /* >= 1 */
    uint8_t nonce[DK_HELLO_NONCE_LEN];     /* random, fresh per connection */
    uint8_t has_mac;                       /* 0 or 1 */
    uint8_t mac[DK_HELLO_MAC_LEN];
} dk_msg_hello;
int dk_msg_hello_encode(dk_buf *out, const dk_msg_hello *m);
int dk_msg_hello_decode(dk_slice body, dk_msg_hello *m);

/* AUTH: the initiator's proof over both HELLOs (rpc_auth.h). */
typedef struct dk_msg_auth {
    uint8_t mac[DK_HELLO_MAC_LEN];
} dk_msg_auth;
int dk_msg_auth_encode(dk_buf *out, const dk_msg_auth *m);
int dk_msg_auth_decode(dk_slice body, dk_msg_auth *m);

/* ERROR: a dynkv or -errno code and a message (UTF-8, up to
 * DK_ERROR_MSG_MAX bytes, not NUL-terminated on the wire). */
typedef struct dk_msg_error {
    int32_t code;
    dk_slice message;
} dk_msg_error;
int dk_msg_error_encode(dk_buf *out, const dk_msg_error *m);
int dk_msg_error_decode(dk_slice body, dk_msg_error *m);

/* PUT_REPLICA: store an encoded object (framework/object.h) under key.
 * hint_target is the intended owner's node id when the receiver is a
 * sloppy-quorum stand-in that must keep a hint, or "" for a normal write. */
typedef struct dk_msg_put_replica {
    dk_slice key;                         /* 1..DK_KEY_MAX bytes */
    dk_slice object;                      /* 1.. bytes, bounded by the frame */
    char hint_target[DK_NODE_ID_MAX + 1]; /* "" or a node id */
} dk_msg_put_replica;
int dk_msg_put_replica_encode(dk_buf *out, const dk_msg_put_replica *m);
int dk_msg_put_replica_decode(dk_slice body, dk_msg_put_replica *m);
/* The same body without the object's bytes, which belong at offset *split
 * of out (the frame lends them: rpc.h, dk_rpc_call_lent). */
int dk_msg_put_replica_encode_lent(dk_buf *out, const dk_msg_put_replica *m, size_t *split);

/* GET_REPLICA: read the local replica of key. */
typedef struct dk_msg_get_replica {
    dk_slice key; /* 1..DK_KEY_MAX bytes */
} dk_msg_get_replica;
int dk_msg_get_replica_encode(dk_buf *out, const dk_msg_get_replica *m);
int dk_msg_get_replica_decode(dk_slice body, dk_msg_get_replica *m);

/* REPLICA_VALUE: status 0 with an object, DK_ENOTFOUND without one, or
 * another error code without one. has_object is 1 exactly when status is
 * 0; the decoder refuses any other combination. */
typedef struct dk_msg_replica_value {
    int32_t status;
    uint8_t has_object;
    dk_slice object;
} dk_msg_replica_value;
int dk_msg_replica_value_encode(dk_buf *out, const dk_msg_replica_value *m);
int dk_msg_replica_value_decode(dk_slice body, dk_msg_replica_value *m);

/* REPLICA_VALUE with DK_FRAME_DIGEST: status as in dk_msg_replica_value,
 * and with status 0 the XXH3_64bits of the local copy's stored encoding
 * (the bytes a REPLICA_VALUE would carry), 8 bytes little-endian. */
typedef struct dk_msg_replica_digest {
    int32_t status;
    uint64_t digest; /* 0 unless status is 0 */
} dk_msg_replica_digest;
int dk_msg_replica_digest_encode(dk_buf *out, const dk_msg_replica_digest *m);
int dk_msg_replica_digest_decode(dk_slice body, dk_msg_replica_digest *m);

/* ACK: the outcome of a PUT_REPLICA (0 or an error code). */
typedef struct dk_msg_ack {
    int32_t status;
} dk_msg_ack;
int dk_msg_ack_encode(dk_buf *out, const dk_msg_ack *m);
int dk_msg_ack_decode(dk_slice body, dk_msg_ack *m);

/* PING carries the sender's monotonic time (ns); PONG echoes it, so the
 * pinger measures round trips without keeping state. */
typedef struct dk_msg_ping {
    uint64_t time_ns;
} dk_msg_ping;
int dk_msg_ping_encode(dk_buf *out, const dk_msg_ping *m);
int dk_msg_ping_decode(dk_slice body, dk_msg_ping *m);

/* FORWARD_WRITE: a client write sent by a node outside the key's
 * preference list to a replica that coordinates it (framework/coordinator.h).
 * context and if_match are encoded version vectors (dk_vv_encode), present
 * only with their flag; the decoder checks their length, not their content
 * (the coordinator decodes them). consistency is DK_CL_* (-1..2), cond
 * DK_COND_* (0..2); timeout_ms is what is left of the client's deadline.
 * DK_FWD_CRDT marks a CRDT write (its value is an operation, dynkv/crdt.h),
 * never a tombstone. DK_FWD_CONTEXT_MAP says the context came as a
 * client's JSON version map (the store checks it, node/store.h). */
#define DK_FWD_TOMBSTONE 0x1u
#define DK_FWD_STRICT 0x2u
#define DK_FWD_HAS_CONTEXT 0x4u
#define DK_FWD_HAS_IF_MATCH 0x8u
#define DK_FWD_CRDT 0x10u
#define DK_FWD_CONTEXT_MAP 0x20u
#define DK_FWD_FLAGS_ALL 0x3fu
typedef struct dk_msg_forward_write {
    dk_slice key;        /* 1..DK_KEY_MAX bytes */
    dk_slice value;      /* 0..DK_VALUE_MAX bytes; empty with TOMBSTONE */
    uint32_t flags;      /* DK_FWD_* */
    dk_slice context;    /* 1..65536 bytes with HAS_CONTEXT, else empty */
    dk_slice if_match;   /* same, with HAS_IF_MATCH */
    int64_t ttl_ms;      /* >= 0 */
    int32_t cond;        /* 0..2 */
    int32_t consistency; /* -1..2 */
    uint64_t timeout_ms; /* >= 1 */
} dk_msg_forward_write;
int dk_msg_forward_write_encode(dk_buf *out, const dk_msg_forward_write *m);
int dk_msg_forward_write_decode(dk_slice body, dk_msg_forward_write *m);

/* FORWARD_RESULT: the coordinator's outcome (0 or an error code), its
 * acknowledgement counts, and, with has_object, the resulting encoded
 * object (object.h). */
typedef struct dk_msg_forward_result {
    int32_t status;
    uint32_t acks, needed, replicas; /* each 0..64 */
    uint8_t has_object;              /* 0 or 1 */
    dk_slice object;                 /* 1.. bytes with has_object */
} dk_msg_forward_result;
int dk_msg_forward_result_encode(dk_buf *out, const dk_msg_forward_result *m);
int dk_msg_forward_result_decode(dk_slice body, dk_msg_forward_result *m);
#endif
