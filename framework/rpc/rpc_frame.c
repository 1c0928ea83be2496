/*
 * rpc_frame.c - frames and message bodies of the node-to-node protocol
 * (layout and contracts in rpc_frame.h).
 *
 * Decoding is written for hostile input: the frame decoder looks only at
 * bytes it was given, checks the magic as soon as two bytes arrive (so a
 * client speaking HTTP to the RPC port is refused at once), and validates
 * the header CRC before trusting the length. Body decoders go through one
 * bounds-checked reader whose failure is sticky, so a message decoder reads
 * its fields in a straight line and checks once at the end.
 *
 * Not taken: a generic self-describing encoding (tags per field, as
 * protobuf). The protocol version in HELLO already says which fields a peer
 * sends, and fixed field order keeps the decoders small enough to read and
 * fuzz exhaustively.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "rpc/rpc_frame.h"
#include "rpc/rpc_wire.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/errors.h"

/* ---- frames -------------------------------------------------------------- */

static const char *const frame_names[DK_MSG__MAX + 1] = {
    [DK_MSG_HELLO] = "HELLO",
    [DK_MSG_HELLO_ACK] = "HELLO_ACK",
    [DK_MSG_ERROR] = "ERROR",
    [DK_MSG_PUT_REPLICA] = "PUT_REPLICA",
    [DK_MSG_GET_REPLICA] = "GET_REPLICA",
    [DK_MSG_REPLICA_VALUE] = "REPLICA_VALUE",
    [DK_MSG_ACK] = "ACK",
    [DK_MSG_PING] = "PING",
    [DK_MSG_PONG] = "PONG",
    [DK_MSG_FORWARD_WRITE] = "FORWARD_WRITE",
    [DK_MSG_FORWARD_RESULT] = "FORWARD_RESULT",
    [DK_MSG_SCAN_RANGE] = "SCAN_RANGE",
    [DK_MSG_SCAN_RESULT] = "SCAN_RESULT",
    [DK_MSG_STREAM_REQ] = "STREAM_REQ",
    [DK_MSG_STREAM_BATCH] = "STREAM_BATCH",
    [DK_MSG_STREAM_DONE] = "STREAM_DONE",
    [DK_MSG_STREAM_ACK] = "STREAM_ACK",
    [DK_MSG_TREE_REQ] = "TREE_REQ",
    [DK_MSG_TREE] = "TREE",
    [DK_MSG_KEYS_REQ] = "KEYS_REQ",
    [DK_MSG_KEYS] = "KEYS",
    [DK_MSG_HANDOFF_QUERY] = "HANDOFF_QUERY",
    [DK_MSG_HANDOFF_STATE] = "HANDOFF_STATE",
    [DK_MSG_AUTH] = "AUTH",
};

const char *dk_msg_type_name(uint8_t type)
{
    return type <= DK_MSG__MAX && frame_names[type] ? frame_names[type] : "unknown";
}

/* A type is valid when it has a name: numbers left free between the
 * blocks (reserved for messages not defined yet) are refused. */
static int frame_type_ok(uint8_t type)
{
    return type <= DK_MSG__MAX && frame_names[type] != NULL;
}

int dk_frame_begin(dk_buf *out, size_t *start)
{
    static const uint8_t zero[DK_FRAME_HEADER_LEN];
    *start = out->len;
    return dk_buf_append(out, zero, sizeof(zero));
}

/* The 24-byte header of a frame whose body is body_len bytes, its own CRC
 * last. */
static void frame_put_header(uint8_t *h, uint8_t type, uint16_t flags, uint64_t request_id, size_t body_len)
{
    dk_put_u16(h, DK_FRAME_MAGIC);
    h[2] = DK_FRAME_VERSION;
    h[3] = type;
    dk_put_u16(h + 4, flags);
    dk_put_u16(h + 6, 0);
    dk_put_u64(h + 8, request_id);
    dk_put_u32(h + 16, (uint32_t)body_len);
    dk_put_u32(h + 20, dk_crc32c_mask(dk_crc32c(h, 20)));
}

int dk_frame_finish(dk_buf *out, size_t start, uint8_t type, uint16_t flags, uint64_t request_id)
{
    size_t body_len = out->len - start - DK_FRAME_HEADER_LEN;
    int rc = -EINVAL;
    if (!frame_type_ok(type))
        goto err;
    rc = DK_ETOOBIG;
    if (body_len > DK_FRAME_BODY_MAX)
        goto err;
    rc = dk_buf_reserve(out, DK_FRAME_TRAILER_LEN);
    if (rc)
        goto err;
    uint8_t *h = out->data + start;
    frame_put_header(h, type, flags, request_id, body_len);
    dk_put_u32(out->data + out->len,
               flags & DK_FRAME_NO_CRC ? 0 : dk_crc32c_mask(dk_crc32c(h + DK_FRAME_HEADER_LEN, body_len)));
    out->len += DK_FRAME_TRAILER_LEN;
    return 0;
err:
    out->len = start;
    return rc;
}

int dk_frame_finish_lent(dk_buf *out, size_t start, size_t split, dk_slice mid, uint8_t type, uint16_t flags,
                         uint64_t request_id)
{
    size_t head = split - start - DK_FRAME_HEADER_LEN, tail = out->len - split;
    size_t body_len = head + mid.len + tail;
    int rc = -EINVAL;
    if (!frame_type_ok(type) || split < start + DK_FRAME_HEADER_LEN || split > out->len)
        goto err;
    rc = DK_ETOOBIG;
    if (mid.len > DK_FRAME_BODY_MAX || body_len > DK_FRAME_BODY_MAX)
        goto err;
    rc = dk_buf_reserve(out, DK_FRAME_TRAILER_LEN);
    if (rc)
        goto err;
    uint8_t *h = out->data + start;
    frame_put_header(h, type, flags, request_id, body_len);
    uint32_t crc = 0;
    if (!(flags & DK_FRAME_NO_CRC)) {
        crc = dk_crc32c(h + DK_FRAME_HEADER_LEN, head);
        crc = dk_crc32c_extend(crc, mid.ptr, mid.len);
        crc = dk_crc32c_extend(crc, out->data + split, tail);
        crc = dk_crc32c_mask(crc);
    }
    dk_put_u32(out->data + out->len, crc);
    out->len += DK_FRAME_TRAILER_LEN;
    return 0;
err:
    out->len = start;
    return rc;
}

void dk_frame_add_crc(uint8_t *frame, size_t len, size_t split, dk_slice mid)
{
    uint16_t flags = dk_get_u16(frame + 4);
    if (!(flags & DK_FRAME_NO_CRC))
        return;
    uint32_t crc = dk_crc32c(frame + DK_FRAME_HEADER_LEN, split - DK_FRAME_HEADER_LEN);
    crc = dk_crc32c_extend(crc, mid.ptr, mid.len);
    crc = dk_crc32c_extend(crc, frame + split, len - DK_FRAME_TRAILER_LEN - split);
    dk_put_u32(frame + len - DK_FRAME_TRAILER_LEN, dk_crc32c_mask(crc));
    dk_put_u16(frame + 4, (uint16_t)(flags & ~DK_FRAME_NO_CRC));
    dk_put_u32(frame + 20, dk_crc32c_mask(dk_crc32c(frame, 20)));
}

int dk_frame_encode(dk_buf *out, uint8_t type, uint16_t flags, uint64_t request_id, const void *body,
                    size_t body_len)
{
    if (!frame_type_ok(type))
        return -EINVAL;
    if (body_len > DK_FRAME_BODY_MAX)
        return DK_ETOOBIG;
    size_t start = out->len;
    int rc = dk_buf_reserve(out, DK_FRAME_HEADER_LEN + body_len + DK_FRAME_TRAILER_LEN);
    if (rc)
        return rc;
    rc = dk_frame_begin(out, &start);
    if (!rc)
        rc = dk_buf_append(out, body, body_len);
    if (!rc)
        rc = dk_frame_finish(out, start, type, flags, request_id);
    if (rc)
        out->len = start;
    return rc;
}

ssize_t dk_frame_decode(const uint8_t *in, size_t len, dk_frame_header *hdr, dk_slice *body, char *err,
                        size_t errlen)
{
    if (len >= 2 && dk_get_u16(in) != DK_FRAME_MAGIC)
        return dk_errf(DK_ECORRUPT, err, errlen, "bad frame magic 0x%02x%02x", in[0], in[1]);
    if (len < DK_FRAME_HEADER_LEN)
        return 0;
    uint32_t want = dk_crc32c_mask(dk_crc32c(in, 20)), got = dk_get_u32(in + 20);
    if (want != got)
        return dk_errf(DK_ECORRUPT, err, errlen,
                       "frame header checksum mismatch (stored 0x%08x, computed 0x%08x)", got, want);
    if (in[2] != DK_FRAME_VERSION)
        return dk_errf(DK_EUNSUPPORTED, err, errlen, "frame version %u, this node speaks %u", in[2],
                       DK_FRAME_VERSION);
    if (dk_get_u16(in + 6) != 0)
        return dk_errf(DK_ECORRUPT, err, errlen, "frame reserved field is not zero");
    if (!frame_type_ok(in[3]))
        return dk_errf(DK_ECORRUPT, err, errlen, "unknown frame type %u", in[3]);
    uint32_t body_len = dk_get_u32(in + 16);
    if (body_len > DK_FRAME_BODY_MAX)
        return dk_errf(DK_ETOOBIG, err, errlen, "frame body of %u bytes exceeds the %u-byte limit", body_len,
                       DK_FRAME_BODY_MAX);
    hdr->version = in[2];
    hdr->type = in[3];
    hdr->flags = dk_get_u16(in + 4);
    hdr->request_id = dk_get_u64(in + 8);
    hdr->body_len = body_len;

    size_t total = DK_FRAME_HEADER_LEN + (size_t)body_len + DK_FRAME_TRAILER_LEN;
    if (len < total)
        return 0;
    const uint8_t *b = in + DK_FRAME_HEADER_LEN;
    want = hdr->flags & DK_FRAME_NO_CRC ? 0 : dk_crc32c_mask(dk_crc32c(b, body_len));
    got = dk_get_u32(b + body_len);
    if (want != got)
        return dk_errf(DK_ECORRUPT, err, errlen,
                       "%s frame body checksum mismatch (stored 0x%08x, computed 0x%08x)",
                       dk_msg_type_name(hdr->type), got, want);
    body->ptr = b;
    body->len = body_len;
    return (ssize_t)total;
}

/* ---- body fields ----------------------------------------------------------- */

static int valid_node_id(const uint8_t *p, size_t n)
{
    if (n == 0 || n > DK_NODE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A string field into a NUL-terminated array of cap bytes; node ids are
 * checked against their alphabet, other strings only for embedded NULs. */
static void rd_str(rd *r, char *dst, size_t cap, size_t min, int node_id)
{
    dk_slice s = rd_lp(r, min, cap - 1);
    if (r->bad)
        return;
    if (s.len && (node_id ? !valid_node_id(s.ptr, s.len) : memchr(s.ptr, 0, s.len) != NULL)) {
        r->bad = 1;
        return;
    }
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = 0;
}

/* A NUL-terminated field of an in-memory struct, checked before encoding. */
static int str_ok(const char *s, size_t cap, size_t min, int node_id)
{
    size_t n = strnlen(s, cap);
    if (n == cap || n < min)
        return 0;
    return !node_id || n == 0 || valid_node_id((const uint8_t *)s, n);
}

/* ---- messages ------------------------------------------------------------- */

int dk_msg_hello_encode(dk_buf *out, const dk_msg_hello *m)
{
    if (!str_ok(m->cluster, sizeof(m->cluster), 1, 0) || !str_ok(m->node_id, sizeof(m->node_id), 1, 1) ||
        m->incarnation == 0 || m->has_mac > 1)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_varint(&w, m->proto_version);
    wr_lp(&w, m->cluster, strlen(m->cluster));
    wr_lp(&w, m->node_id, strlen(m->node_id));
    wr_varint(&w, m->incarnation);
    wr_bytes(&w, m->nonce, sizeof(m->nonce));
    wr_bytes(&w, &m->has_mac, 1);
    if (m->has_mac)
        wr_bytes(&w, m->mac, sizeof(m->mac));
    return wr_done(&w);
}

int dk_msg_hello_decode(dk_slice body, dk_msg_hello *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->proto_version = rd_u32(&r);
    rd_str(&r, m->cluster, sizeof(m->cluster), 1, 0);
    rd_str(&r, m->node_id, sizeof(m->node_id), 1, 1);
    m->incarnation = rd_u32(&r);
    rd_fixed(&r, m->nonce, sizeof(m->nonce));
    rd_fixed(&r, &m->has_mac, 1);
    if (m->has_mac > 1 || m->incarnation == 0)
        r.bad = 1;
    if (m->has_mac)
        rd_fixed(&r, m->mac, sizeof(m->mac));
    /* A newer peer may append fields; read what this version knows so the
     * caller can answer with an ERROR naming the versions. */
    if (!r.bad && m->proto_version > DK_RPC_PROTO_VERSION)
        r.p = r.end;
    return rd_done(&r);
}

int dk_msg_auth_encode(dk_buf *out, const dk_msg_auth *m)
{
    wr w;
    wr_init(&w, out);
    wr_bytes(&w, m->mac, sizeof(m->mac));
    return wr_done(&w);
}

int dk_msg_auth_decode(dk_slice body, dk_msg_auth *m)
{
    rd r;
    rd_init(&r, body);
    rd_fixed(&r, m->mac, sizeof(m->mac));
    return rd_done(&r);
}

int dk_msg_error_encode(dk_buf *out, const dk_msg_error *m)
{
    if (m->message.len > DK_ERROR_MSG_MAX)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->code);
    wr_lp(&w, m->message.ptr, m->message.len);
    return wr_done(&w);
}

int dk_msg_error_decode(dk_slice body, dk_msg_error *m)
{
    rd r;
    rd_init(&r, body);
    m->code = rd_s32(&r);
    m->message = rd_lp(&r, 0, DK_ERROR_MSG_MAX);
    return rd_done(&r);
}

int dk_msg_put_replica_encode(dk_buf *out, const dk_msg_put_replica *m)
{
    if (m->key.len == 0 || m->key.len > DK_KEY_MAX || m->object.len == 0 ||
        m->object.len > DK_FRAME_BODY_MAX || !str_ok(m->hint_target, sizeof(m->hint_target), 0, 1))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->key.ptr, m->key.len);
    wr_lp(&w, m->object.ptr, m->object.len);
    wr_lp(&w, m->hint_target, strlen(m->hint_target));
    return wr_done(&w);
}

int dk_msg_put_replica_encode_lent(dk_buf *out, const dk_msg_put_replica *m, size_t *split)
{
    if (m->key.len == 0 || m->key.len > DK_KEY_MAX || m->object.len == 0 ||
        m->object.len > DK_FRAME_BODY_MAX || !str_ok(m->hint_target, sizeof(m->hint_target), 0, 1))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->key.ptr, m->key.len);
    wr_varint(&w, m->object.len);
    *split = out->len;
    wr_lp(&w, m->hint_target, strlen(m->hint_target));
    return wr_done(&w);
}

int dk_msg_put_replica_decode(dk_slice body, dk_msg_put_replica *m)
{
    rd r;
    rd_init(&r, body);
    m->key = rd_lp(&r, 1, DK_KEY_MAX);
    m->object = rd_lp(&r, 1, DK_FRAME_BODY_MAX);
    m->hint_target[0] = 0;
    rd_str(&r, m->hint_target, sizeof(m->hint_target), 0, 1);
    return rd_done(&r);
}

int dk_msg_get_replica_encode(dk_buf *out, const dk_msg_get_replica *m)
{
    if (m->key.len == 0 || m->key.len > DK_KEY_MAX)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->key.ptr, m->key.len);
    return wr_done(&w);
}

int dk_msg_get_replica_decode(dk_slice body, dk_msg_get_replica *m)
{
    rd r;
    rd_init(&r, body);
    m->key = rd_lp(&r, 1, DK_KEY_MAX);
    return rd_done(&r);
}

int dk_msg_replica_value_encode(dk_buf *out, const dk_msg_replica_value *m)
{
    if (m->has_object != (m->status == 0) || (m->has_object && m->object.len == 0) ||
        m->object.len > DK_FRAME_BODY_MAX)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    if (m->has_object)
        wr_lp(&w, m->object.ptr, m->object.len);
    return wr_done(&w);
}

int dk_msg_replica_value_decode(dk_slice body, dk_msg_replica_value *m)
{
    rd r;
    rd_init(&r, body);
    m->status = rd_s32(&r);
    m->has_object = !r.bad && m->status == 0;
    m->object.ptr = NULL;
    m->object.len = 0;
    if (m->has_object)
        m->object = rd_lp(&r, 1, DK_FRAME_BODY_MAX);
    return rd_done(&r);
}

int dk_msg_replica_digest_encode(dk_buf *out, const dk_msg_replica_digest *m)
{
    if (m->status != 0 && m->digest != 0)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    if (m->status == 0) {
        uint8_t le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)(m->digest >> (8 * i));
        wr_bytes(&w, le, sizeof(le));
    }
    return wr_done(&w);
}

int dk_msg_replica_digest_decode(dk_slice body, dk_msg_replica_digest *m)
{
    rd r;
    rd_init(&r, body);
    m->status = rd_s32(&r);
    m->digest = 0;
    if (!r.bad && m->status == 0) {
        uint8_t le[8] = {0};
        rd_fixed(&r, le, sizeof(le));
        for (int i = 0; i < 8; i++)
            m->digest |= (uint64_t)le[i] << (8 * i);
    }
    return rd_done(&r);
}

int dk_msg_ack_encode(dk_buf *out, const dk_msg_ack *m)
{
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    return wr_done(&w);
}

int dk_msg_ack_decode(dk_slice body, dk_msg_ack *m)
{
    rd r;
    rd_init(&r, body);
    m->status = rd_s32(&r);
    return rd_done(&r);
}

int dk_msg_ping_encode(dk_buf *out, const dk_msg_ping *m)
{
    wr w;
    wr_init(&w, out);
    wr_varint(&w, m->time_ns);
    return wr_done(&w);
}

int dk_msg_ping_decode(dk_slice body, dk_msg_ping *m)
{
    rd r;
    rd_init(&r, body);
    m->time_ns = rd_varint(&r);
    return rd_done(&r);
}

#define FWD_VV_MAX 65536u
#define FWD_COUNT_MAX 64u

int dk_msg_forward_write_encode(dk_buf *out, const dk_msg_forward_write *m)
{
    int has_ctx = (m->flags & DK_FWD_HAS_CONTEXT) != 0, has_im = (m->flags & DK_FWD_HAS_IF_MATCH) != 0;
    if (m->key.len == 0 || m->key.len > DK_KEY_MAX || m->value.len > DK_VALUE_MAX ||
        (m->flags & ~DK_FWD_FLAGS_ALL) || ((m->flags & DK_FWD_TOMBSTONE) && m->value.len) ||
        ((m->flags & DK_FWD_TOMBSTONE) && (m->flags & DK_FWD_CRDT)) ||
        (has_ctx ? m->context.len == 0 || m->context.len > FWD_VV_MAX : m->context.len != 0) ||
        (has_im ? m->if_match.len == 0 || m->if_match.len > FWD_VV_MAX : m->if_match.len != 0) ||
        m->ttl_ms < 0 || m->cond < 0 || m->cond > 2 || m->consistency < -1 || m->consistency > 2 ||
        m->timeout_ms == 0)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->key.ptr, m->key.len);
    wr_lp(&w, m->value.ptr, m->value.len);
    wr_varint(&w, m->flags);
    if (has_ctx)
        wr_lp(&w, m->context.ptr, m->context.len);
    if (has_im)
        wr_lp(&w, m->if_match.ptr, m->if_match.len);
    wr_varint(&w, (uint64_t)m->ttl_ms);
    wr_varint(&w, (uint64_t)m->cond);
    wr_svarint(&w, m->consistency);
    wr_varint(&w, m->timeout_ms);
    return wr_done(&w);
}

int dk_msg_forward_write_decode(dk_slice body, dk_msg_forward_write *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->key = rd_lp(&r, 1, DK_KEY_MAX);
    m->value = rd_lp(&r, 0, DK_VALUE_MAX);
    m->flags = rd_u32(&r);
    if (m->flags & ~DK_FWD_FLAGS_ALL || ((m->flags & DK_FWD_TOMBSTONE) && m->value.len) ||
        ((m->flags & DK_FWD_TOMBSTONE) && (m->flags & DK_FWD_CRDT)))
        r.bad = 1;
    if (m->flags & DK_FWD_HAS_CONTEXT)
        m->context = rd_lp(&r, 1, FWD_VV_MAX);
    if (m->flags & DK_FWD_HAS_IF_MATCH)
        m->if_match = rd_lp(&r, 1, FWD_VV_MAX);
    uint64_t ttl = rd_varint(&r);
    if (ttl > INT64_MAX)
        r.bad = 1;
    m->ttl_ms = r.bad ? 0 : (int64_t)ttl;
    uint32_t cond = rd_u32(&r);
    if (cond > 2)
        r.bad = 1;
    m->cond = (int32_t)cond;
    m->consistency = rd_s32(&r);
    if (m->consistency < -1 || m->consistency > 2)
        r.bad = 1;
    m->timeout_ms = rd_varint(&r);
    if (m->timeout_ms == 0)
        r.bad = 1;
    return rd_done(&r);
}

int dk_msg_forward_result_encode(dk_buf *out, const dk_msg_forward_result *m)
{
    if (m->has_object > 1 || (m->has_object ? m->object.len == 0 : m->object.len != 0) ||
        m->object.len > DK_FRAME_BODY_MAX || m->acks > FWD_COUNT_MAX || m->needed > FWD_COUNT_MAX ||
        m->replicas > FWD_COUNT_MAX)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    wr_varint(&w, m->acks);
    wr_varint(&w, m->needed);
    wr_varint(&w, m->replicas);
    wr_bytes(&w, &m->has_object, 1);
    if (m->has_object)
        wr_lp(&w, m->object.ptr, m->object.len);
    return wr_done(&w);
}

int dk_msg_forward_result_decode(dk_slice body, dk_msg_forward_result *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->status = rd_s32(&r);
    m->acks = rd_u32(&r);
    m->needed = rd_u32(&r);
    m->replicas = rd_u32(&r);
    if (m->acks > FWD_COUNT_MAX || m->needed > FWD_COUNT_MAX || m->replicas > FWD_COUNT_MAX)
        r.bad = 1;
    rd_fixed(&r, &m->has_object, 1);
    if (m->has_object > 1)
        r.bad = 1;
    if (!r.bad && m->has_object)
        m->object = rd_lp(&r, 1, DK_FRAME_BODY_MAX);
    return rd_done(&r);
}
