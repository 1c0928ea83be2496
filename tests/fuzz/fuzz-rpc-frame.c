/*
 * fuzz-rpc-frame.c - libFuzzer target for the node-to-node wire format.
 *
 * The input is treated two ways. As a byte stream from a peer: frames are
 * decoded one after another, the way a connection's read buffer is, and
 * each body goes to its type's decoder; a decoded message is re-encoded
 * and must decode to the same fields. And as a bare body handed to every
 * message decoder, so the decoders are exercised without needing valid
 * CRCs (which random mutation rarely produces). The first byte picks how
 * many bytes the stream is split into, to exercise the "need more" path.
 *
 * Built and run by tests/fuzz/run-fuzz.sh (see tests/fuzz/targets.txt).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "rpc/rpc_auth.h"
#include "rpc/rpc_frame.h"
#include "rpc/rpc_stream.h"
#include "rpc/rpc_scan.h"
#include "rpc/rpc_ae.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(int cond)
{
    if (!cond)
        abort();
}

/* Decode body as every message type; re-encode what decodes. */
static void fz_bodies(dk_slice body, int only_type)
{
    dk_buf b = DK_BUF_INIT;
    int all = only_type == 0;

    if (all || only_type == DK_MSG_HELLO || only_type == DK_MSG_HELLO_ACK) {
        dk_msg_hello h, h2;
        if (dk_msg_hello_decode(body, &h) == 0) {
            fz_check(h.incarnation >= 1 && h.cluster[0] && h.node_id[0]);
            fz_check(dk_msg_hello_encode(&b, &h) == 0);
            fz_check(dk_msg_hello_decode(dk_buf_slice(&b), &h2) == 0);
            fz_check(memcmp(&h, &h2, sizeof(h)) == 0);
            /* Any decoded HELLO pair keys a proof, and a proof checks. */
            static const uint8_t key[DK_RPC_KEY_LEN] = {1};
            uint8_t mac[DK_HELLO_MAC_LEN];
            fz_check(dk_rpc_auth_proof(key, "acceptor", &h, &h2, mac) == 0);
            fz_check(dk_rpc_auth_check(key, "acceptor", &h, &h2, mac) == 0);
            fz_check(dk_rpc_auth_check(key, "initiator", &h, &h2, mac) == -EACCES);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_AUTH) {
        dk_msg_auth a, a2;
        if (dk_msg_auth_decode(body, &a) == 0) {
            fz_check(body.len == DK_HELLO_MAC_LEN);
            fz_check(dk_msg_auth_encode(&b, &a) == 0);
            fz_check(dk_msg_auth_decode(dk_buf_slice(&b), &a2) == 0 && !memcmp(&a, &a2, sizeof(a)));
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_ERROR) {
        dk_msg_error e, e2;
        if (dk_msg_error_decode(body, &e) == 0) {
            fz_check(dk_msg_error_encode(&b, &e) == 0);
            fz_check(dk_msg_error_decode(dk_buf_slice(&b), &e2) == 0);
            fz_check(e.code == e2.code && e.message.len == e2.message.len);
            fz_check(e.message.len == 0 || !memcmp(e.message.ptr, e2.message.ptr, e.message.len));
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_PUT_REPLICA) {
        dk_msg_put_replica p, p2;
        if (dk_msg_put_replica_decode(body, &p) == 0) {
            fz_check(p.key.len >= 1 && p.key.len <= DK_KEY_MAX && p.object.len >= 1);
            fz_check(dk_msg_put_replica_encode(&b, &p) == 0);
            fz_check(dk_msg_put_replica_decode(dk_buf_slice(&b), &p2) == 0);
            fz_check(p.key.len == p2.key.len && !memcmp(p.key.ptr, p2.key.ptr, p.key.len));
            fz_check(p.object.len == p2.object.len && !memcmp(p.object.ptr, p2.object.ptr, p.object.len));
            fz_check(strcmp(p.hint_target, p2.hint_target) == 0);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_GET_REPLICA) {
        dk_msg_get_replica g, g2;
        if (dk_msg_get_replica_decode(body, &g) == 0) {
            fz_check(dk_msg_get_replica_encode(&b, &g) == 0);
            fz_check(dk_msg_get_replica_decode(dk_buf_slice(&b), &g2) == 0);
            fz_check(g.key.len == g2.key.len && !memcmp(g.key.ptr, g2.key.ptr, g.key.len));
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_REPLICA_VALUE) {
        dk_msg_replica_value v, v2;
        if (dk_msg_replica_value_decode(body, &v) == 0) {
            fz_check(v.has_object == (v.status == 0));
            fz_check(dk_msg_replica_value_encode(&b, &v) == 0);
            fz_check(dk_msg_replica_value_decode(dk_buf_slice(&b), &v2) == 0);
            fz_check(v.status == v2.status && v.object.len == v2.object.len);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_ACK) {
        dk_msg_ack a, a2;
        if (dk_msg_ack_decode(body, &a) == 0) {
            fz_check(dk_msg_ack_encode(&b, &a) == 0);
            fz_check(dk_msg_ack_decode(dk_buf_slice(&b), &a2) == 0 && a.status == a2.status);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_PING || only_type == DK_MSG_PONG) {
        dk_msg_ping p, p2;
        if (dk_msg_ping_decode(body, &p) == 0) {
            fz_check(dk_msg_ping_encode(&b, &p) == 0);
            fz_check(dk_msg_ping_decode(dk_buf_slice(&b), &p2) == 0 && p.time_ns == p2.time_ns);
        }
    }
    dk_buf_reset(&b);
    if (all || only_type == DK_MSG_FORWARD_WRITE) {
        dk_msg_forward_write f, f2;
        if (dk_msg_forward_write_decode(body, &f) == 0) {
            fz_check(dk_msg_forward_write_encode(&b, &f) == 0);
            fz_check(dk_msg_forward_write_decode(dk_buf_slice(&b), &f2) == 0 && f.flags == f2.flags &&
                     f.key.len == f2.key.len && f.value.len == f2.value.len && f.timeout_ms == f2.timeout_ms);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_FORWARD_RESULT) {
        dk_msg_forward_result r, r2;
        if (dk_msg_forward_result_decode(body, &r) == 0) {
            fz_check(dk_msg_forward_result_encode(&b, &r) == 0);
            fz_check(dk_msg_forward_result_decode(dk_buf_slice(&b), &r2) == 0 && r.status == r2.status &&
                     r.object.len == r2.object.len);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_STREAM_REQ) {
        dk_msg_stream_req q, q2;
        if (dk_msg_stream_req_decode(body, &q) == 0) {
            fz_check(q.ranges.len == (size_t)q.n_ranges * DK_STREAM_RANGE_LEN);
            fz_check(dk_msg_stream_req_encode(&b, &q) == 0);
            fz_check(dk_msg_stream_req_decode(dk_buf_slice(&b), &q2) == 0 && q.n_ranges == q2.n_ranges &&
                     q.max_bytes == q2.max_bytes && !strcmp(q.plan, q2.plan));
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_STREAM_BATCH) {
        dk_msg_stream_batch m, m2;
        if (dk_msg_stream_batch_decode(body, &m) == 0) {
            dk_slice rest = m.items, k, o;
            uint32_t n = 0;
            while (dk_stream_item_next(&rest, &k, &o) == 0)
                n++;
            fz_check(n == m.n_items && rest.len == 0);
            fz_check(dk_msg_stream_batch_encode(&b, &m) == 0);
            fz_check(dk_msg_stream_batch_decode(dk_buf_slice(&b), &m2) == 0 && m.n_items == m2.n_items &&
                     m.items.len == m2.items.len && m.status == m2.status);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_STREAM_DONE) {
        dk_msg_stream_done d, d2;
        if (dk_msg_stream_done_decode(body, &d) == 0) {
            fz_check(dk_msg_stream_done_encode(&b, &d) == 0);
            fz_check(dk_msg_stream_done_decode(dk_buf_slice(&b), &d2) == 0 && !strcmp(d.plan, d2.plan));
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_STREAM_ACK) {
        dk_msg_stream_ack a, a2;
        if (dk_msg_stream_ack_decode(body, &a) == 0) {
            fz_check(dk_msg_stream_ack_encode(&b, &a) == 0);
            fz_check(dk_msg_stream_ack_decode(dk_buf_slice(&b), &a2) == 0 && a.keys == a2.keys &&
                     a.ranges_done == a2.ranges_done);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_SCAN_RANGE) {
        dk_msg_scan_range q, q2;
        if (dk_msg_scan_range_decode(body, &q) == 0) {
            fz_check(q.n_spans >= 1 && q.spans.len == (size_t)q.n_spans * DK_SCAN_SPAN_LEN);
            fz_check(dk_msg_scan_range_encode(&b, &q) == 0);
            fz_check(dk_msg_scan_range_decode(dk_buf_slice(&b), &q2) == 0);
            /* Varints may come longer than needed: compare fields, not bytes. */
            fz_check(q.limit == q2.limit && q.flags == q2.flags && q.max_bytes == q2.max_bytes);
            fz_check(q.prefix.len == q2.prefix.len && q.after.len == q2.after.len && q.n_spans == q2.n_spans);
            fz_check(!memcmp(q.spans.ptr, q2.spans.ptr, q.spans.len));
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_SCAN_RESULT) {
        dk_msg_scan_result m, m2;
        if (dk_msg_scan_result_decode(body, &m) == 0) {
            /* Rebuild the answer entry by entry: it decodes to the same
             * entries (bytes may differ: varints may come longer than needed). */
            size_t at;
            dk_msg_scan_iter it;
            dk_slice k, o, prev = {NULL, 0};
            uint32_t n = 0;
            fz_check(dk_msg_scan_result_start(&b, &at) == 0);
            dk_msg_scan_iter_init(&it, &m);
            while (dk_msg_scan_iter_next(&it, &k, &o)) {
                fz_check(k.len >= 1 && k.len <= DK_KEY_MAX);
                fz_check(n == 0 || dk_msg_scan_key_cmp(prev, k) < 0);
                fz_check(dk_msg_scan_result_add(&b, at, k, o) == 0);
                prev = k;
                n++;
            }
            if (m.flags & DK_SCAN_MORE)
                dk_msg_scan_result_more(&b, at);
            fz_check(n == m.n && (n == 0 || dk_msg_scan_key_cmp(prev, m.last_key) == 0));
            fz_check(dk_msg_scan_result_decode(dk_buf_slice(&b), &m2) == 0 && m2.n == m.n &&
                     m2.flags == m.flags);
            fz_check(dk_msg_scan_key_cmp(m2.last_key, m.last_key) == 0);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_TREE_REQ) {
        dk_msg_tree_req t, t2;
        if (dk_msg_tree_req_decode(body, &t) == 0) {
            fz_check(dk_msg_tree_req_encode(&b, &t) == 0);
            fz_check(dk_msg_tree_req_decode(dk_buf_slice(&b), &t2) == 0 && t.sig == t2.sig &&
                     t.level == t2.level && t.nodes.len == t2.nodes.len && t.group.len == t2.group.len);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_TREE) {
        dk_msg_tree t, t2;
        if (dk_msg_tree_decode(body, &t) == 0) {
            fz_check(t.hashes.len % 8 == 0);
            fz_check(dk_msg_tree_encode(&b, &t) == 0);
            fz_check(dk_msg_tree_decode(dk_buf_slice(&b), &t2) == 0 && t.status == t2.status &&
                     t.hashes.len == t2.hashes.len);
            dk_buf_reset(&b);
        }
    }
    if (all || only_type == DK_MSG_KEYS_REQ || only_type == DK_MSG_KEYS) {
        dk_msg_keys_req q, q2;
        dk_msg_keys k, k2;
        dk_keys_entry e;
        if (dk_msg_keys_req_decode(body, &q) == 0) {
            uint32_t n = 0;
            for (dk_slice it = q.entries; dk_keys_entry_next(&it, &e);)
                fz_check(++n <= q.n_entries && e.key.len >= 1 && e.key.len <= DK_KEY_MAX);
            fz_check(n == q.n_entries);
            fz_check(dk_msg_keys_req_encode(&b, &q) == 0);
            fz_check(dk_msg_keys_req_decode(dk_buf_slice(&b), &q2) == 0 && q.op == q2.op &&
                     q.n_entries == q2.n_entries && q.entries.len == q2.entries.len);
            dk_buf_reset(&b);
        }
        if (dk_msg_keys_decode(body, &k) == 0) {
            uint32_t n = 0;
            for (dk_slice it = k.entries; dk_keys_entry_next(&it, &e);)
                fz_check(++n <= k.n_entries && e.kind <= DK_KEYS_OBJECT);
            fz_check(n == k.n_entries);
            fz_check(dk_msg_keys_encode(&b, &k) == 0);
            fz_check(dk_msg_keys_decode(dk_buf_slice(&b), &k2) == 0 && k.status == k2.status &&
                     k.merged == k2.merged && k.upto.len == k2.upto.len && k.entries.len == k2.entries.len);
            dk_buf_reset(&b);
        }
    }
    dk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    const uint8_t *in = data + 1;
    size_t len = size - 1;

    /* Stream decoding, revealing up to `chunk` more bytes per step. */
    size_t pos = 0, avail = 0;
    while (pos < len) {
        avail = avail + chunk < len ? avail + chunk : len;
        dk_frame_header h;
        dk_slice body;
        char err[128];
        ssize_t r = dk_frame_decode(in + pos, avail - pos, &h, &body, err, sizeof(err));
        if (r < 0)
            break; /* a real connection closes here */
        if (r == 0) {
            if (avail == len)
                break;
            continue;
        }
        fz_check((size_t)r <= avail - pos && body.len == h.body_len);
        fz_check(body.ptr == in + pos + DK_FRAME_HEADER_LEN);
        /* Re-framing the body reproduces the same bytes. */
        dk_buf f = DK_BUF_INIT;
        fz_check(dk_frame_encode(&f, h.type, h.flags, h.request_id, body.ptr, body.len) == 0);
        fz_check(f.len == (size_t)r && !memcmp(f.data, in + pos, f.len));
        dk_buf_free(&f);
        fz_bodies(body, h.type);
        pos += (size_t)r;
    }

    dk_slice raw = {in, len};
    fz_bodies(raw, 0);
    return 0;
}
