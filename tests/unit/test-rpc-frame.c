/*
 * test-rpc-frame.c - the node-to-node wire format, its frame and the
 * messages about one key: round trips of HELLO, AUTH, ERROR, PING, the
 * replica messages and FORWARD_WRITE/FORWARD_RESULT through a frame,
 * incremental (byte by byte) decoding, detection of every single-byte
 * corruption, truncation, oversized lengths, wrong
 * magic/version/reserved/type, encoder limits, the HELLO HMAC and the
 * frame GMAC (with known answers computed independently in Python, so the
 * MAC input formats cannot drift unnoticed). The messages about key ranges
 * (streaming, scans, anti-entropy) are in test-rpc-frame-range.c.
 */
#define _GNU_SOURCE /* memmem */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "rpc/rpc_auth.h"
#include "rpc/rpc_frame.h"
#include "util/coding.h"
#include "util/crc32c.h"

#include "tc_frame.h"

static dk_msg_hello sample_hello(void)
{
    dk_msg_hello h;
    memset(&h, 0, sizeof(h));
    h.proto_version = DK_RPC_PROTO_VERSION;
    strcpy(h.cluster, "prod");
    strcpy(h.node_id, "node-1");
    h.incarnation = 3;
    for (unsigned i = 0; i < DK_HELLO_NONCE_LEN; i++)
        h.nonce[i] = (uint8_t)i;
    return h;
}

static void test_roundtrip_hello(void)
{
    dk_buf body = DK_BUF_INIT, frame = DK_BUF_INIT;
    dk_slice s;
    for (int with_mac = 0; with_mac < 2; with_mac++) {
        dk_msg_hello h = sample_hello(), d;
        if (with_mac) {
            memset(h.mac, 0xa5, sizeof(h.mac));
            h.has_mac = 1;
        }
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_hello_encode(&body, &h), 0);
        uint8_t type = with_mac ? DK_MSG_HELLO_ACK : DK_MSG_HELLO;
        frame_roundtrip(type, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_hello_decode(s, &d), 0);
        CU_ASSERT(memcmp(&h, &d, sizeof(h)) == 0);
        CHECK_STRICT(dk_msg_hello_decode, dk_msg_hello, body);
    }
    /* A newer peer's HELLO with extra fields is still readable. */
    dk_msg_hello h = sample_hello(), d;
    h.proto_version = DK_RPC_PROTO_VERSION + 1;
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_hello_encode(&body, &h), 0);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&body, "future", 6), 0);
    CU_ASSERT_EQUAL(dk_msg_hello_decode(dk_buf_slice(&body), &d), 0);
    CU_ASSERT_EQUAL(d.proto_version, DK_RPC_PROTO_VERSION + 1);
    CU_ASSERT_STRING_EQUAL(d.node_id, "node-1");
    dk_buf_free(&body);
    dk_buf_free(&frame);
}

static void test_roundtrip_others(void)
{
    dk_buf body = DK_BUF_INIT, frame = DK_BUF_INIT;
    dk_slice s;

    dk_msg_error e = {DK_EUNAVAILABLE, {(const uint8_t *)"cluster name differs", 20}}, e2;
    CU_ASSERT_EQUAL_FATAL(dk_msg_error_encode(&body, &e), 0);
    frame_roundtrip(DK_MSG_ERROR, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_error_decode(s, &e2), 0);
    CU_ASSERT_EQUAL(e2.code, DK_EUNAVAILABLE);
    CU_ASSERT(e2.message.len == 20 && memcmp(e2.message.ptr, "cluster name differs", 20) == 0);
    CHECK_STRICT(dk_msg_error_decode, dk_msg_error, body);

    static uint8_t object[300000];
    for (size_t i = 0; i < sizeof(object); i++)
        object[i] = (uint8_t)(i * 7);
    for (int hinted = 0; hinted < 2; hinted++) {
        dk_msg_put_replica p = {.key = {(const uint8_t *)"user:42", 7}, .object = {object, sizeof(object)}},
                           p2;
        strcpy(p.hint_target, hinted ? "node-3" : "");
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_put_replica_encode(&body, &p), 0);
        frame_roundtrip(DK_MSG_PUT_REPLICA, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_put_replica_decode(s, &p2), 0);
        CU_ASSERT(p2.key.len == 7 && memcmp(p2.key.ptr, "user:42", 7) == 0);
        CU_ASSERT(p2.object.len == sizeof(object) && memcmp(p2.object.ptr, object, sizeof(object)) == 0);
        CU_ASSERT_STRING_EQUAL(p2.hint_target, hinted ? "node-3" : "");
    }
    /* Truncation of a small put (the 300 kB one would take quadratic time). */
    dk_msg_put_replica small = {.key = {(const uint8_t *)"k", 1}, .object = {object, 5}, .hint_target = "n9"};
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_put_replica_encode(&body, &small), 0);
    CHECK_STRICT(dk_msg_put_replica_decode, dk_msg_put_replica, body);

    dk_msg_get_replica g = {{(const uint8_t *)"user:42", 7}}, g2;
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_get_replica_encode(&body, &g), 0);
    frame_roundtrip(DK_MSG_GET_REPLICA, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_get_replica_decode(s, &g2), 0);
    CU_ASSERT(g2.key.len == 7 && memcmp(g2.key.ptr, "user:42", 7) == 0);
    CHECK_STRICT(dk_msg_get_replica_decode, dk_msg_get_replica, body);

    const dk_msg_replica_value values[3] = {
        {0, 1, {object, 100}},
        {DK_ENOTFOUND, 0, {NULL, 0}},
        {-EIO, 0, {NULL, 0}},
    };
    for (int i = 0; i < 3; i++) {
        dk_msg_replica_value v2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_replica_value_encode(&body, &values[i]), 0);
        frame_roundtrip(DK_MSG_REPLICA_VALUE, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_replica_value_decode(s, &v2), 0);
        CU_ASSERT_EQUAL(v2.status, values[i].status);
        CU_ASSERT_EQUAL(v2.has_object, values[i].has_object);
        CU_ASSERT_EQUAL(v2.object.len, values[i].object.len);
        CU_ASSERT(v2.object.len == 0 || memcmp(v2.object.ptr, object, v2.object.len) == 0);
        CHECK_STRICT(dk_msg_replica_value_decode, dk_msg_replica_value, body);
    }

    const int32_t statuses[4] = {0, DK_ETIMEOUT, INT32_MIN, INT32_MAX};
    for (int i = 0; i < 4; i++) {
        dk_msg_ack a = {statuses[i]}, a2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_ack_encode(&body, &a), 0);
        frame_roundtrip(DK_MSG_ACK, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_ack_decode(s, &a2), 0);
        CU_ASSERT_EQUAL(a2.status, statuses[i]);
        CHECK_STRICT(dk_msg_ack_decode, dk_msg_ack, body);
    }

    dk_msg_ping ping = {UINT64_MAX - 5}, p2;
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_ping_encode(&body, &ping), 0);
    frame_roundtrip(DK_MSG_PING, &body, &s, &frame);
    frame_roundtrip(DK_MSG_PONG, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_ping_decode(s, &p2), 0);
    CU_ASSERT_EQUAL(p2.time_ns, UINT64_MAX - 5);
    CHECK_STRICT(dk_msg_ping_decode, dk_msg_ping, body);

    /* An empty body is a valid frame (the type's decoder judges it). */
    dk_buf_reset(&body);
    frame_roundtrip(DK_MSG_PING, &body, &s, &frame);
    CU_ASSERT_EQUAL(dk_msg_ping_decode(s, &p2), DK_ECORRUPT);

    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_REPLICA_VALUE), "REPLICA_VALUE");
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(0), "unknown");
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(200), "unknown");
    dk_buf_free(&body);
    dk_buf_free(&frame);
}

static void test_incremental(void)
{
    /* Three frames back to back, fed one byte more at a time. */
    dk_buf stream = DK_BUF_INIT, body = DK_BUF_INIT;
    dk_msg_get_replica g = {{(const uint8_t *)"abc", 3}};
    CU_ASSERT_EQUAL_FATAL(dk_msg_get_replica_encode(&body, &g), 0);
    CU_ASSERT_EQUAL_FATAL(dk_frame_encode(&stream, DK_MSG_GET_REPLICA, 0, 1, body.data, body.len), 0);
    CU_ASSERT_EQUAL_FATAL(dk_frame_encode(&stream, DK_MSG_PING, 0, 2, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_frame_encode(&stream, DK_MSG_GET_REPLICA, 0, 3, body.data, body.len), 0);
    size_t pos = 0, avail = 0;
    uint64_t ids_seen = 0;
    int frames = 0;
    while (avail < stream.len) {
        avail++;
        dk_frame_header h;
        dk_slice s;
        ssize_t r = dk_frame_decode(stream.data + pos, avail - pos, &h, &s, NULL, 0);
        CU_ASSERT_FATAL(r >= 0);
        if (r == 0) {
            if (avail - pos >= DK_FRAME_HEADER_LEN) /* header known early */
                CU_ASSERT_EQUAL(h.request_id, (uint64_t)frames + 1);
            continue;
        }
        CU_ASSERT_EQUAL((size_t)r, avail - pos); /* complete exactly at the last byte */
        frames++;
        ids_seen = ids_seen * 10 + h.request_id;
        pos += (size_t)r;
    }
    CU_ASSERT_EQUAL(frames, 3);
    CU_ASSERT_EQUAL(ids_seen, 123);
    CU_ASSERT_EQUAL(pos, stream.len);

    /* dk_frame_begin/finish produce the same bytes without copying. */
    dk_buf inplace = DK_BUF_INIT;
    size_t start;
    CU_ASSERT_EQUAL_FATAL(dk_frame_begin(&inplace, &start), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_get_replica_encode(&inplace, &g), 0);
    CU_ASSERT_EQUAL_FATAL(dk_frame_finish(&inplace, start, DK_MSG_GET_REPLICA, 0, 1), 0);
    CU_ASSERT_EQUAL(inplace.len, DK_FRAME_HEADER_LEN + body.len + DK_FRAME_TRAILER_LEN);
    CU_ASSERT(memcmp(inplace.data, stream.data, inplace.len) == 0);
    /* A bad type truncates back to where the frame began. */
    CU_ASSERT_EQUAL_FATAL(dk_frame_begin(&inplace, &start), 0);
    CU_ASSERT_EQUAL(dk_frame_finish(&inplace, start, 0, 0, 1), -EINVAL);
    CU_ASSERT_EQUAL(inplace.len, start);
    dk_buf_free(&inplace);
    dk_buf_free(&stream);
    dk_buf_free(&body);
}

static void test_every_byte_corruption(void)
{
    dk_buf frame = DK_BUF_INIT, body = DK_BUF_INIT;
    dk_msg_put_replica p = {.key = {(const uint8_t *)"key", 3},
                            .object = {(const uint8_t *)"object-bytes", 12}};
    strcpy(p.hint_target, "node-2");
    CU_ASSERT_EQUAL_FATAL(dk_msg_put_replica_encode(&body, &p), 0);
    CU_ASSERT_EQUAL_FATAL(dk_frame_encode(&frame, DK_MSG_PUT_REPLICA, 0, 77, body.data, body.len), 0);
    unsigned undetected = 0, tried = 0;
    for (size_t i = 0; i < frame.len; i++) {
        for (int x = 1; x < 256; x++) {
            frame.data[i] ^= (uint8_t)x;
            dk_frame_header h;
            dk_slice s;
            char err[160] = "";
            ssize_t r = dk_frame_decode(frame.data, frame.len, &h, &s, err, sizeof(err));
            if (r >= 0 || err[0] == 0)
                undetected++;
            tried++;
            frame.data[i] ^= (uint8_t)x;
        }
    }
    CU_ASSERT_EQUAL(tried, frame.len * 255);
    CU_ASSERT_EQUAL(undetected, 0);
    dk_buf_free(&frame);
    dk_buf_free(&body);
}

/* A header with chosen fields and a valid CRC. */
static void raw_header(uint8_t *h, uint16_t magic, uint8_t version, uint8_t type, uint16_t reserved,
                       uint32_t body_len)
{
    dk_put_u16(h, magic);
    h[2] = version;
    h[3] = type;
    dk_put_u16(h + 4, 0);
    dk_put_u16(h + 6, reserved);
    dk_put_u64(h + 8, 5);
    dk_put_u32(h + 16, body_len);
    dk_put_u32(h + 20, dk_crc32c_mask(dk_crc32c(h, 20)));
}

static void test_bad_headers(void)
{
    uint8_t h[DK_FRAME_HEADER_LEN];
    dk_frame_header hdr;
    dk_slice s;
    char err[160];

    /* Oversized: refused from the header alone (24 bytes were given). */
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION, DK_MSG_PUT_REPLICA, 0, DK_FRAME_BODY_MAX + 1);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exceeds"));
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION, DK_MSG_PUT_REPLICA, 0, UINT32_MAX);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_ETOOBIG);
    /* The largest legal body: accepted, waiting for the rest. */
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION, DK_MSG_PUT_REPLICA, 0, DK_FRAME_BODY_MAX);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(hdr.body_len, DK_FRAME_BODY_MAX);
    /* Encoders refuse too, before reading the body. */
    dk_buf out = DK_BUF_INIT;
    CU_ASSERT_EQUAL(dk_frame_encode(&out, DK_MSG_PUT_REPLICA, 0, 1, h, (size_t)DK_FRAME_BODY_MAX + 1),
                    DK_ETOOBIG);
    CU_ASSERT_EQUAL(dk_frame_encode(&out, 0, 0, 1, NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(dk_frame_encode(&out, DK_MSG__MAX + 1, 0, 1, NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(out.len, 0);
    dk_buf_free(&out);

    /* Wrong magic: refused as soon as two bytes arrive (an HTTP client). */
    CU_ASSERT_EQUAL(dk_frame_decode((const uint8_t *)"GE", 2, &hdr, &s, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "magic"));
    CU_ASSERT_EQUAL(dk_frame_decode((const uint8_t *)"D", 1, &hdr, &s, err, sizeof(err)), 0);
    raw_header(h, 0x4B45, DK_FRAME_VERSION, DK_MSG_PING, 0, 0);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_ECORRUPT);

    /* Another version, well formed. */
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION + 1, DK_MSG_PING, 0, 0);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "version"));
    /* Reserved bits and unknown types. */
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION, DK_MSG_PING, 1, 0);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_ECORRUPT);
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION, 0, 0, 0);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_ECORRUPT);
    raw_header(h, DK_FRAME_MAGIC, DK_FRAME_VERSION, DK_MSG__MAX + 1, 0, 0);
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, err, sizeof(err)), DK_ECORRUPT);
    /* A NULL error buffer is allowed. */
    CU_ASSERT_EQUAL(dk_frame_decode(h, sizeof(h), &hdr, &s, NULL, 0), DK_ECORRUPT);
}

static void test_field_limits(void)
{
    dk_buf b = DK_BUF_INIT;
    static uint8_t big[DK_KEY_MAX + 1];
    dk_msg_put_replica p = {.key = {big, DK_KEY_MAX + 1}, .object = {big, 1}};
    CU_ASSERT_EQUAL(dk_msg_put_replica_encode(&b, &p), -EINVAL);
    p.key.len = 0;
    CU_ASSERT_EQUAL(dk_msg_put_replica_encode(&b, &p), -EINVAL);
    p.key.len = DK_KEY_MAX;
    strcpy(p.hint_target, "Bad Id");
    CU_ASSERT_EQUAL(dk_msg_put_replica_encode(&b, &p), -EINVAL);
    p.hint_target[0] = 0;
    p.object.len = 0;
    CU_ASSERT_EQUAL(dk_msg_put_replica_encode(&b, &p), -EINVAL);
    dk_msg_get_replica g = {{big, DK_KEY_MAX + 1}};
    CU_ASSERT_EQUAL(dk_msg_get_replica_encode(&b, &g), -EINVAL);
    dk_msg_replica_value v = {0, 0, {NULL, 0}};
    CU_ASSERT_EQUAL(dk_msg_replica_value_encode(&b, &v), -EINVAL); /* status 0 needs an object */
    v = (dk_msg_replica_value){DK_ENOTFOUND, 1, {big, 1}};
    CU_ASSERT_EQUAL(dk_msg_replica_value_encode(&b, &v), -EINVAL);
    dk_msg_error e = {1, {big, DK_ERROR_MSG_MAX + 1}};
    CU_ASSERT_EQUAL(dk_msg_error_encode(&b, &e), -EINVAL);
    dk_msg_hello h = sample_hello();
    h.incarnation = 0;
    CU_ASSERT_EQUAL(dk_msg_hello_encode(&b, &h), -EINVAL);
    h = sample_hello();
    h.cluster[0] = 0;
    CU_ASSERT_EQUAL(dk_msg_hello_encode(&b, &h), -EINVAL);
    h = sample_hello();
    strcpy(h.node_id, "Node-1");
    CU_ASSERT_EQUAL(dk_msg_hello_encode(&b, &h), -EINVAL);
    CU_ASSERT_EQUAL(b.len, 0); /* nothing half-written */

    /* Decoders refuse what encoders would not write. */
    uint8_t raw[DK_KEY_MAX + 8];
    size_t n = dk_put_varint(raw, DK_KEY_MAX + 1);
    memset(raw + n, 'k', DK_KEY_MAX + 1);
    dk_slice s = {raw, n + DK_KEY_MAX + 1};
    CU_ASSERT_EQUAL(dk_msg_get_replica_decode(s, &g), DK_ECORRUPT);
    /* A length running past the end. */
    raw[0] = 5;
    memcpy(raw + 1, "abc", 3);
    s = (dk_slice){raw, 4};
    CU_ASSERT_EQUAL(dk_msg_get_replica_decode(s, &g), DK_ECORRUPT);
    /* A node id with an upper-case letter in HELLO. */
    h = sample_hello();
    CU_ASSERT_EQUAL_FATAL(dk_msg_hello_encode(&b, &h), 0);
    uint8_t *id = memmem(b.data, b.len, "node-1", 6);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    id[0] = 'N';
    CU_ASSERT_EQUAL(dk_msg_hello_decode(dk_buf_slice(&b), &h), DK_ECORRUPT);
    /* A status out of int32 range in ACK. */
    n = dk_put_varint(raw, (uint64_t)1 << 33);
    CU_ASSERT_EQUAL(dk_msg_ack_decode((dk_slice){raw, n}, &(dk_msg_ack){0}), DK_ECORRUPT);
    dk_buf_free(&b);
}

/* Known answers, from Python:
 *   lp = lambda s: bytes([len(s)]) + s
 *   T = lp(b"dynkv-rpc") + pack("<I", 2) + lp(b"prod") + lp(b"node-1") + pack("<I", 3)
 *       + bytes(range(16)) + lp(b"node-2") + pack("<I", 7) + bytes(range(16, 32))
 *   hmac.new(bytes(range(32)), lp(ROLE) + T, sha256)       (i2a: its first 16 bytes)
 * and the GMAC tag from the cryptography package (not OpenSSL's EVP calls):
 *   tag = AESGCM(i2a).encrypt(pack("<Q", 5) + bytes(4), b"", b"frame-bytes") */
static void test_auth_kat(void)
{
    static const uint8_t acceptor[32] = {0x90, 0xe9, 0xf5, 0x0a, 0x30, 0x1e, 0x28, 0x40, 0xe0, 0x89, 0x31,
                                         0x40, 0x11, 0x88, 0xe2, 0xa5, 0x43, 0x3b, 0x61, 0xe4, 0x79, 0x53,
                                         0x57, 0x04, 0x74, 0xce, 0xbd, 0x0b, 0x82, 0x86, 0xb9, 0x89};
    static const uint8_t initiator[32] = {0xa6, 0xe5, 0x99, 0xe8, 0x66, 0x9c, 0x86, 0x4b, 0xf8, 0xc5, 0xeb,
                                          0x91, 0x53, 0x0b, 0xc2, 0x3c, 0xff, 0x75, 0x19, 0xe9, 0x9a, 0x31,
                                          0xe1, 0xc0, 0x4b, 0xfe, 0x3f, 0x1c, 0x05, 0x62, 0xcf, 0x2c};
    static const uint8_t i2a_want[DK_RPC_SKEY_LEN] = {0x0f, 0x8b, 0xda, 0x72, 0xdf, 0xc1, 0xe1, 0x62,
                                                      0xb9, 0xf8, 0x50, 0xea, 0x64, 0xa8, 0xa1, 0x1c};
    static const uint8_t tag5[16] = {0x6b, 0x37, 0x78, 0x83, 0xd6, 0x03, 0xf1, 0xc0,
                                     0xa5, 0x74, 0xd0, 0x5d, 0xdb, 0x3c, 0xfb, 0x53};
    uint8_t key[DK_RPC_KEY_LEN], mac[32], i2a[DK_RPC_SKEY_LEN], a2i[DK_RPC_SKEY_LEN], tag[16];
    for (unsigned i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    dk_msg_hello ini = sample_hello(), acc = sample_hello();
    ini.proto_version = acc.proto_version = 2;
    strcpy(acc.node_id, "node-2");
    acc.incarnation = 7;
    for (unsigned i = 0; i < DK_HELLO_NONCE_LEN; i++)
        acc.nonce[i] = (uint8_t)(16 + i);
    CU_ASSERT_EQUAL_FATAL(dk_rpc_auth_proof(key, "acceptor", &ini, &acc, mac), 0);
    CU_ASSERT(memcmp(mac, acceptor, 32) == 0);
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "acceptor", &ini, &acc, acceptor), 0);
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "initiator", &ini, &acc, initiator), 0);
    /* A proof is bound to its role, both nonces and both ids. */
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "initiator", &ini, &acc, acceptor), -EACCES);
    dk_msg_hello t = acc;
    t.nonce[3] ^= 1;
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "acceptor", &ini, &t, acceptor), -EACCES);
    t = ini;
    t.nonce[0] ^= 1;
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "acceptor", &t, &acc, acceptor), -EACCES);
    t = ini;
    strcpy(t.node_id, "node-3");
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "acceptor", &t, &acc, acceptor), -EACCES);
    key[31] ^= 1;
    CU_ASSERT_EQUAL(dk_rpc_auth_check(key, "acceptor", &ini, &acc, acceptor), -EACCES);
    key[31] ^= 1;

    CU_ASSERT_EQUAL_FATAL(dk_rpc_auth_session(key, &ini, &acc, i2a, a2i), 0);
    CU_ASSERT(memcmp(i2a, i2a_want, DK_RPC_SKEY_LEN) == 0 && memcmp(i2a, a2i, DK_RPC_SKEY_LEN) != 0);
    dk_rpc_mac m, v;
    CU_ASSERT_EQUAL_FATAL(dk_rpc_mac_init(&m, i2a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_rpc_mac_init(&v, i2a), 0);
    m.seq = v.seq = 5;
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&m, (const uint8_t *)"frame-bytes", 11, tag), 0);
    CU_ASSERT(memcmp(tag, tag5, 16) == 0 && m.seq == 6);
    /* The same frame at seq 6 (a replay) has another tag; at 5 it opens. */
    uint8_t again[16];
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&m, (const uint8_t *)"frame-bytes", 11, again), 0);
    CU_ASSERT(memcmp(tag, again, 16) != 0);
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, (const uint8_t *)"frame-bytes", 11, tag), 0);
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, (const uint8_t *)"frame-bytes", 11, tag), -EACCES);
    CU_ASSERT_EQUAL(v.seq, 6u);
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, (const uint8_t *)"frame-bytez", 11, again), -EACCES);
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, (const uint8_t *)"frame-bytes", 11, again), 0);
    /* A tag under the other direction's key does not open. */
    dk_rpc_mac o;
    CU_ASSERT_EQUAL_FATAL(dk_rpc_mac_init(&o, a2i), 0);
    o.seq = 7;
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&o, (const uint8_t *)"frame-bytes", 11, tag), 0);
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, (const uint8_t *)"frame-bytes", 11, tag), -EACCES);
    /* The sequence never wraps (a nonce must never repeat under one key). */
    o.seq = UINT64_MAX;
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&o, (const uint8_t *)"frame-bytes", 11, tag), DK_ECORRUPT);
    CU_ASSERT_EQUAL(o.seq, UINT64_MAX);
    dk_rpc_mac_free(&o);
    /* An empty frame still gets a tag of its own. */
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&m, (const uint8_t *)"", 0, tag), 0);
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, (const uint8_t *)"", 0, tag), 0);
    dk_rpc_mac_free(&m);
    dk_rpc_mac_free(&v);
    dk_rpc_mac_free(&v);

    /* AUTH survives the wire; its body is exactly the MAC. */
    dk_buf b = DK_BUF_INIT;
    dk_msg_auth au, ad;
    memcpy(au.mac, initiator, 32);
    CU_ASSERT_EQUAL_FATAL(dk_msg_auth_encode(&b, &au), 0);
    CU_ASSERT_EQUAL(b.len, 32u);
    CU_ASSERT_EQUAL(dk_msg_auth_decode(dk_buf_slice(&b), &ad), 0);
    CU_ASSERT(memcmp(ad.mac, initiator, 32) == 0);
    CU_ASSERT_EQUAL(dk_msg_auth_decode((dk_slice){b.data, 31}, &ad), DK_ECORRUPT);
    dk_buf_free(&b);
}

/* A frame longer than GHASH's 16-byte blocks and its 8-block strides, in
 * parts split anywhere (dk_rpc_mac_seal_v: a lent value between header and
 * trailer), gets the tag of the whole frame, and that tag is the one of an
 * independent implementation, from Python:
 *   frame = bytes((i * 131 + 7) & 255 for i in range(10277))
 *   AESGCM(bytes(range(16))).encrypt(pack("<Q", 9) + bytes(4), b"", frame) */
static void test_mac_parts(void)
{
    static const uint8_t tag9[16] = {0xda, 0xa9, 0x0e, 0xfb, 0xc3, 0x91, 0x97, 0xc3,
                                     0x30, 0x7e, 0xe9, 0x9f, 0x61, 0xfe, 0x28, 0x29};
    enum { LEN = 10240 + 37 };
    static uint8_t frame[LEN];
    uint8_t key[DK_RPC_SKEY_LEN], whole[16], tag[16];
    for (unsigned i = 0; i < LEN; i++)
        frame[i] = (uint8_t)((i * 131 + 7) & 255);
    for (unsigned i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    dk_rpc_mac m, v;
    CU_ASSERT_EQUAL_FATAL(dk_rpc_mac_init(&m, key), 0);
    CU_ASSERT_EQUAL_FATAL(dk_rpc_mac_init(&v, key), 0);
    m.seq = v.seq = 9;
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&m, frame, LEN, whole), 0);
    CU_ASSERT(memcmp(whole, tag9, 16) == 0);
    static const size_t cuts[][2] = {{0, 0},    {0, LEN},           {1, 2},         {15, 16},  {16, 17},
                                     {17, 145}, {100, 10340 - 100}, {LEN - 1, LEN}, {LEN, LEN}};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        size_t a = cuts[i][0], b = cuts[i][1];
        dk_slice parts[3] = {{frame, a}, {frame + a, b - a}, {frame + b, LEN - b}};
        m.seq = 9;
        CU_ASSERT_EQUAL(dk_rpc_mac_seal_v(&m, parts, 3, tag), 0);
        CU_ASSERT(memcmp(tag, whole, 16) == 0);
    }
    CU_ASSERT_EQUAL(dk_rpc_mac_open(&v, frame, LEN, whole), 0);
    CU_ASSERT_EQUAL(v.seq, 10u);
    frame[LEN / 2] ^= 1; /* one bit anywhere in the frame */
    m.seq = 9;
    CU_ASSERT_EQUAL(dk_rpc_mac_seal(&m, frame, LEN, tag), 0);
    CU_ASSERT(memcmp(tag, whole, 16) != 0);
    dk_rpc_mac_free(&m);
    dk_rpc_mac_free(&v);
}

static void test_roundtrip_forward(void)
{
    dk_buf body = DK_BUF_INIT, frame = DK_BUF_INIT;
    dk_slice s;
    const uint8_t ctx[] = {1, 2, 'n', '1', 1, 5, 0}, im[] = {0};
    static const uint8_t op[] = {1, 1, 2}; /* a CRDT increment (dynkv/crdt.h) */
    dk_msg_forward_write variants[4] = {
        {.key = {(const uint8_t *)"user:42", 7},
         .value = {(const uint8_t *)"hello", 5},
         .flags = DK_FWD_HAS_CONTEXT | DK_FWD_STRICT,
         .context = {ctx, sizeof(ctx)},
         .ttl_ms = 60000,
         .cond = 0,
         .consistency = 2,
         .timeout_ms = 2000},
        {.key = {(const uint8_t *)"k", 1},
         .flags = DK_FWD_TOMBSTONE | DK_FWD_HAS_IF_MATCH,
         .if_match = {im, sizeof(im)},
         .cond = 1,
         .consistency = -1,
         .timeout_ms = 1},
        {.key = {(const uint8_t *)"k", 1},
         .value = {(const uint8_t *)"v", 1},
         .cond = 2,
         .consistency = 1,
         .timeout_ms = UINT64_MAX},
        {.key = {(const uint8_t *)"c", 1},
         .value = {op, sizeof(op)},
         .flags = DK_FWD_CRDT,
         .consistency = 1,
         .timeout_ms = 500},
    };
    for (int i = 0; i < 4; i++) {
        dk_msg_forward_write f2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_forward_write_encode(&body, &variants[i]), 0);
        frame_roundtrip(DK_MSG_FORWARD_WRITE, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_forward_write_decode(s, &f2), 0);
        CU_ASSERT(f2.key.len == variants[i].key.len &&
                  memcmp(f2.key.ptr, variants[i].key.ptr, f2.key.len) == 0);
        CU_ASSERT(f2.value.len == variants[i].value.len &&
                  (f2.value.len == 0 || memcmp(f2.value.ptr, variants[i].value.ptr, f2.value.len) == 0));
        CU_ASSERT_EQUAL(f2.flags, variants[i].flags);
        CU_ASSERT(f2.context.len == variants[i].context.len &&
                  (f2.context.len == 0 || memcmp(f2.context.ptr, ctx, sizeof(ctx)) == 0));
        CU_ASSERT(f2.if_match.len == variants[i].if_match.len);
        CU_ASSERT_EQUAL(f2.ttl_ms, variants[i].ttl_ms);
        CU_ASSERT_EQUAL(f2.cond, variants[i].cond);
        CU_ASSERT_EQUAL(f2.consistency, variants[i].consistency);
        CU_ASSERT_EQUAL(f2.timeout_ms, variants[i].timeout_ms);
        CHECK_STRICT(dk_msg_forward_write_decode, dk_msg_forward_write, body);
    }
    /* Out-of-range fields are refused by the encoder. */
    dk_msg_forward_write bad = variants[0];
    bad.timeout_ms = 0;
    CU_ASSERT_EQUAL(dk_msg_forward_write_encode(&body, &bad), -EINVAL);
    bad = variants[0];
    bad.flags |= DK_FWD_TOMBSTONE; /* a tombstone carries no value */
    CU_ASSERT_EQUAL(dk_msg_forward_write_encode(&body, &bad), -EINVAL);
    bad = variants[0];
    bad.flags &= ~DK_FWD_HAS_CONTEXT; /* a context without its flag */
    CU_ASSERT_EQUAL(dk_msg_forward_write_encode(&body, &bad), -EINVAL);
    bad = variants[0];
    bad.cond = 3;
    CU_ASSERT_EQUAL(dk_msg_forward_write_encode(&body, &bad), -EINVAL);
    bad = variants[1];
    bad.flags |= DK_FWD_CRDT; /* a CRDT write is never a delete */
    CU_ASSERT_EQUAL(dk_msg_forward_write_encode(&body, &bad), -EINVAL);
    bad.flags = 0x20; /* an unknown flag */
    CU_ASSERT_EQUAL(dk_msg_forward_write_encode(&body, &bad), -EINVAL);

    static const uint8_t object[] = "not really an object";
    dk_msg_forward_result results[2] = {
        {.status = 0,
         .acks = 2,
         .needed = 2,
         .replicas = 3,
         .has_object = 1,
         .object = {object, sizeof(object)}},
        {.status = DK_EUNAVAILABLE, .acks = 1, .needed = 3, .replicas = 3},
    };
    for (int i = 0; i < 2; i++) {
        dk_msg_forward_result r2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_forward_result_encode(&body, &results[i]), 0);
        frame_roundtrip(DK_MSG_FORWARD_RESULT, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_forward_result_decode(s, &r2), 0);
        CU_ASSERT_EQUAL(r2.status, results[i].status);
        CU_ASSERT(r2.acks == results[i].acks && r2.needed == results[i].needed &&
                  r2.replicas == results[i].replicas);
        CU_ASSERT_EQUAL(r2.has_object, results[i].has_object);
        CU_ASSERT(r2.object.len == results[i].object.len &&
                  (r2.object.len == 0 || memcmp(r2.object.ptr, object, sizeof(object)) == 0));
        CHECK_STRICT(dk_msg_forward_result_decode, dk_msg_forward_result, body);
    }
    dk_msg_forward_result badr = results[1];
    badr.acks = 65;
    CU_ASSERT_EQUAL(dk_msg_forward_result_encode(&body, &badr), -EINVAL);
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_FORWARD_RESULT), "FORWARD_RESULT");
    dk_buf_free(&body);
    dk_buf_free(&frame);
}

/* DK_FRAME_NO_CRC: finished without the body CRC (0 on the wire), read
 * without checking it (but a non-zero one is corrupt), and given it by
 * dk_frame_add_crc: then byte for byte the frame finished without the
 * flag, whole or with a lent middle. */
static void test_no_crc_flag(void)
{
    uint8_t mid[3000];
    for (size_t i = 0; i < sizeof(mid); i++)
        mid[i] = (uint8_t)(i * 7);
    for (int lent = 0; lent < 2; lent++) {
        dk_buf a = DK_BUF_INIT, b = DK_BUF_INIT;
        size_t sa, sb, split_a = 0, split_b = 0;
        CU_ASSERT_EQUAL_FATAL(dk_frame_begin(&a, &sa), 0);
        CU_ASSERT_EQUAL_FATAL(dk_frame_begin(&b, &sb), 0);
        dk_buf_append(&a, "head", 4);
        dk_buf_append(&b, "head", 4);
        if (!lent) {
            dk_buf_append(&a, mid, sizeof(mid));
            dk_buf_append(&b, mid, sizeof(mid));
        }
        split_a = a.len;
        split_b = b.len;
        dk_buf_append(&a, "tail", 4);
        dk_buf_append(&b, "tail", 4);
        dk_slice m = lent ? (dk_slice){mid, sizeof(mid)} : (dk_slice){NULL, 0};
        if (lent) {
            CU_ASSERT_EQUAL_FATAL(dk_frame_finish_lent(&a, sa, split_a, m, DK_MSG_PUT_REPLICA, 1, 9), 0);
            CU_ASSERT_EQUAL_FATAL(
                dk_frame_finish_lent(&b, sb, split_b, m, DK_MSG_PUT_REPLICA, 1 | DK_FRAME_NO_CRC, 9), 0);
        } else {
            CU_ASSERT_EQUAL_FATAL(dk_frame_finish(&a, sa, DK_MSG_PUT_REPLICA, 1, 9), 0);
            CU_ASSERT_EQUAL_FATAL(dk_frame_finish(&b, sb, DK_MSG_PUT_REPLICA, 1 | DK_FRAME_NO_CRC, 9), 0);
            split_b = b.len - DK_FRAME_TRAILER_LEN;
        }
        CU_ASSERT_EQUAL(dk_get_u32(b.data + b.len - 4), 0);
        CU_ASSERT(memcmp(a.data, b.data, a.len) != 0);
        if (!lent) {
            dk_frame_header h;
            dk_slice s;
            char err[128];
            CU_ASSERT_EQUAL(dk_frame_decode(b.data, b.len, &h, &s, err, sizeof(err)), (ssize_t)b.len);
            CU_ASSERT_EQUAL(h.flags, 1 | DK_FRAME_NO_CRC);
            CU_ASSERT_EQUAL(s.len, 8 + sizeof(mid));
            b.data[b.len - 1] = 1; /* with the flag the field must be 0 */
            CU_ASSERT_EQUAL(dk_frame_decode(b.data, b.len, &h, &s, err, sizeof(err)), DK_ECORRUPT);
            b.data[b.len - 1] = 0;
        }
        dk_frame_add_crc(b.data, b.len, split_b, m);
        CU_ASSERT_EQUAL(a.len, b.len);
        CU_ASSERT(memcmp(a.data, b.data, a.len) == 0);
        dk_frame_add_crc(b.data, b.len, split_b, m); /* no flag: nothing */
        CU_ASSERT(memcmp(a.data, b.data, a.len) == 0);
        dk_buf_free(&a);
        dk_buf_free(&b);
    }
}

/* The digest read's frame flag (DK_FRAME_DIGEST) through the in-place
 * encoder the transport uses, and REPLICA_VALUE's digest body: status,
 * then with status 0 the digest as 8 little-endian bytes. */
static void test_digest_flag(void)
{
    dk_buf f = DK_BUF_INIT, body = DK_BUF_INIT;
    size_t start;
    dk_msg_get_replica g = {{(const uint8_t *)"k", 1}}, g2;
    CU_ASSERT_EQUAL_FATAL(dk_frame_begin(&f, &start), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_get_replica_encode(&f, &g), 0);
    CU_ASSERT_EQUAL_FATAL(dk_frame_finish(&f, start, DK_MSG_GET_REPLICA, DK_FRAME_DIGEST, 7), 0);
    CU_ASSERT_EQUAL(f.data[4], DK_FRAME_DIGEST); /* flags, little-endian at offset 4 */
    CU_ASSERT_EQUAL(f.data[5], 0);
    dk_frame_header h;
    dk_slice s;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(dk_frame_decode(f.data, f.len, &h, &s, err, sizeof(err)), (ssize_t)f.len);
    CU_ASSERT_EQUAL(h.flags, DK_FRAME_DIGEST);
    CU_ASSERT_EQUAL(h.type, DK_MSG_GET_REPLICA);
    CU_ASSERT_EQUAL(dk_msg_get_replica_decode(s, &g2), 0); /* the body is the plain one */

    const dk_msg_replica_digest ds[4] = {
        {0, 0x0123456789abcdefULL}, {0, 0}, {DK_ENOTFOUND, 0}, {DK_ECORRUPT, 0}};
    for (int i = 0; i < 4; i++) {
        dk_msg_replica_digest d2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_replica_digest_encode(&body, &ds[i]), 0);
        if (ds[i].status == 0)
            CU_ASSERT_EQUAL(body.len, 9u); /* status 0 in one byte, then the digest */
        dk_buf frame = DK_BUF_INIT;
        frame_roundtrip(DK_MSG_REPLICA_VALUE, &body, &s, &frame);
        CU_ASSERT_EQUAL(dk_msg_replica_digest_decode(s, &d2), 0); /* s points into frame */
        dk_buf_free(&frame);
        CU_ASSERT_EQUAL(d2.status, ds[i].status);
        CU_ASSERT(d2.digest == ds[i].digest);
        CHECK_STRICT(dk_msg_replica_digest_decode, dk_msg_replica_digest, body);
    }
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_replica_digest_encode(&body, &ds[0]), 0);
    CU_ASSERT_EQUAL(body.data[1], 0xef); /* the digest's low byte first */
    CU_ASSERT_EQUAL(body.data[8], 0x01);
    dk_msg_replica_digest bad = {DK_ENOTFOUND, 1}; /* a digest without a copy */
    CU_ASSERT_EQUAL(dk_msg_replica_digest_encode(&body, &bad), -EINVAL);
    dk_buf_free(&body);
    dk_buf_free(&f);
}

static CU_TestInfo frame_tests[] = {
    {"HELLO and HELLO_ACK round trip", test_roundtrip_hello},
    {"every other message round trips", test_roundtrip_others},
    {"FORWARD_WRITE and FORWARD_RESULT round trip", test_roundtrip_forward},
    {"incremental decode, byte by byte", test_incremental},
    {"every single-byte corruption is detected", test_every_byte_corruption},
    {"oversized, wrong magic, version, reserved, type", test_bad_headers},
    {"field limits on encode and decode", test_field_limits},
    {"handshake proofs, session keys, frame MACs", test_auth_kat},
    {"a frame MAC over parts is the MAC of the whole", test_mac_parts},
    {"the digest flag and REPLICA_VALUE's digest body", test_digest_flag},
    {"frames without the body CRC", test_no_crc_flag},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc_frame", .pTests = frame_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
