/*
 * test-rpc-frame-range.c - the node-to-node messages about key ranges:
 * STREAM_REQ, STREAM_BATCH, STREAM_DONE and STREAM_ACK (a range moved
 * between nodes), the scan's SCAN_RANGE and SCAN_RESULT bodies (spans'
 * order rules, entry order, count, flags), and anti-entropy's tree and
 * key exchanges with their field limits. Each round trips through a
 * frame and refuses every truncation (tc_frame.h); the frame itself and
 * the messages about one key are tested in test-rpc-frame.c.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rpc/rpc_frame.h"
#include "rpc/rpc_stream.h"
#include "rpc/rpc_scan.h"
#include "rpc/rpc_ae.h"
#include "util/coding.h"

#include "tc_frame.h"

/* Every truncation of a body and a trailing byte are refused. */
static void stream_truncations(dk_slice body, int (*decode)(dk_slice, void *), void *scratch)
{
    for (size_t n = 0; n < body.len; n++)
        CU_ASSERT_EQUAL(decode((dk_slice){body.ptr, n}, scratch), DK_ECORRUPT);
    uint8_t *more = malloc(body.len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(more);
    memcpy(more, body.ptr, body.len);
    more[body.len] = 0;
    CU_ASSERT_EQUAL(decode((dk_slice){more, body.len + 1}, scratch), DK_ECORRUPT);
    free(more);
}

static int dec_req(dk_slice b, void *m)
{
    return dk_msg_stream_req_decode(b, m);
}
static int dec_batch(dk_slice b, void *m)
{
    return dk_msg_stream_batch_decode(b, m);
}
static int dec_done(dk_slice b, void *m)
{
    return dk_msg_stream_done_decode(b, m);
}
static int dec_ack(dk_slice b, void *m)
{
    return dk_msg_stream_ack_decode(b, m);
}

static void test_stream_messages(void)
{
    dk_buf b = DK_BUF_INIT, items = DK_BUF_INIT;
    /* STREAM_REQ with three ranges and a cursor */
    uint8_t spans[3 * DK_STREAM_RANGE_LEN];
    for (int i = 0; i < 3; i++) {
        dk_stream_span sp = {UINT64_MAX - (uint64_t)i, (uint64_t)i, 7, (uint64_t)i << 40};
        dk_stream_span_put(spans + i * DK_STREAM_RANGE_LEN, &sp);
    }
    dk_msg_stream_req q = {.plan = "0123456789abcdef",
                           .cursor = {(const uint8_t *)"user:17", 7},
                           .max_bytes = 1u << 20,
                           .n_ranges = 3,
                           .ranges = {spans, sizeof(spans)}},
                      q2;
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_req_encode(&b, &q), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_req_decode(dk_buf_slice(&b), &q2), 0);
    CU_ASSERT_STRING_EQUAL(q2.plan, q.plan);
    CU_ASSERT_EQUAL(q2.cursor.len, 7);
    CU_ASSERT_EQUAL(memcmp(q2.cursor.ptr, "user:17", 7), 0);
    CU_ASSERT_EQUAL(q2.max_bytes, 1u << 20);
    CU_ASSERT_EQUAL(q2.n_ranges, 3);
    dk_stream_span sp;
    dk_stream_span_get(q2.ranges.ptr + 2 * DK_STREAM_RANGE_LEN, &sp);
    CU_ASSERT(sp.start_hi == UINT64_MAX - 2 && sp.start_lo == 2 && sp.end_hi == 7 && sp.end_lo == 2ull << 40);
    stream_truncations(dk_buf_slice(&b), dec_req, &q2);
    /* limits on encode */
    dk_buf_reset(&b);
    dk_msg_stream_req bad = q;
    bad.n_ranges = 0;
    bad.ranges.len = 0;
    CU_ASSERT_EQUAL(dk_msg_stream_req_encode(&b, &bad), -EINVAL);
    bad = q;
    bad.ranges.len--;
    CU_ASSERT_EQUAL(dk_msg_stream_req_encode(&b, &bad), -EINVAL);
    bad = q;
    bad.max_bytes = DK_STREAM_BATCH_MAX + 1;
    CU_ASSERT_EQUAL(dk_msg_stream_req_encode(&b, &bad), -EINVAL);
    bad = q;
    snprintf(bad.plan, sizeof(bad.plan), "has space");
    CU_ASSERT_EQUAL(dk_msg_stream_req_encode(&b, &bad), -EINVAL);
    bad = q;
    bad.cursor.len = DK_KEY_MAX + 1;
    CU_ASSERT_EQUAL(dk_msg_stream_req_encode(&b, &bad), -EINVAL);
    CU_ASSERT_EQUAL(b.len, 0);
    /* a count larger than the spans present is refused on decode */
    CU_ASSERT_EQUAL(dk_msg_stream_req_encode(&b, &q), 0);
    b.data[b.len - sizeof(spans) - 1] = 4; /* n_ranges 3 -> 4 */
    CU_ASSERT_EQUAL(dk_msg_stream_req_decode(dk_buf_slice(&b), &q2), DK_ECORRUPT);

    /* STREAM_BATCH with items */
    static uint8_t obj[70000];
    memset(obj, 'o', sizeof(obj));
    CU_ASSERT_EQUAL(dk_stream_item_put(&items, (dk_slice){(const uint8_t *)"a", 1}, (dk_slice){obj, 5}), 0);
    CU_ASSERT_EQUAL(
        dk_stream_item_put(&items, (dk_slice){(const uint8_t *)"bb", 2}, (dk_slice){obj, sizeof(obj)}), 0);
    CU_ASSERT_EQUAL(dk_stream_item_put(&items, (dk_slice){(const uint8_t *)"", 0}, (dk_slice){obj, 1}),
                    -EINVAL);
    CU_ASSERT_EQUAL(dk_stream_item_put(&items, (dk_slice){(const uint8_t *)"c", 1}, (dk_slice){obj, 0}),
                    -EINVAL);
    dk_msg_stream_batch m = {.status = 0,
                             .flags = DK_STREAM_LAST,
                             .cursor = {(const uint8_t *)"bb", 2},
                             .scanned = 12345,
                             .n_items = 2,
                             .items = dk_buf_slice(&items)},
                        m2;
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_batch_encode(&b, &m), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_batch_decode(dk_buf_slice(&b), &m2), 0);
    CU_ASSERT_EQUAL(m2.flags, DK_STREAM_LAST);
    CU_ASSERT_EQUAL(m2.scanned, 12345);
    CU_ASSERT_EQUAL(m2.n_items, 2);
    dk_slice rest = m2.items, k, o;
    CU_ASSERT_EQUAL(dk_stream_item_next(&rest, &k, &o), 0);
    CU_ASSERT(k.len == 1 && k.ptr[0] == 'a' && o.len == 5);
    CU_ASSERT_EQUAL(dk_stream_item_next(&rest, &k, &o), 0);
    CU_ASSERT(k.len == 2 && o.len == sizeof(obj) && o.ptr[sizeof(obj) - 1] == 'o');
    CU_ASSERT_EQUAL(dk_stream_item_next(&rest, &k, &o), DK_EEOF);
    stream_truncations(dk_buf_slice(&b), dec_batch, &m2);
    /* an error answer carries no items; flags and counts are checked */
    dk_msg_stream_batch e = {.status = -EAGAIN};
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL(dk_msg_stream_batch_encode(&b, &e), 0);
    CU_ASSERT_EQUAL(dk_msg_stream_batch_decode(dk_buf_slice(&b), &m2), 0);
    CU_ASSERT_EQUAL(m2.status, -EAGAIN);
    CU_ASSERT_EQUAL(m2.n_items, 0);
    e.n_items = 1;
    e.items = dk_buf_slice(&items);
    CU_ASSERT_EQUAL(dk_msg_stream_batch_encode(&b, &e), -EINVAL);
    m.flags = 2;
    CU_ASSERT_EQUAL(dk_msg_stream_batch_encode(&b, &m), -EINVAL);
    m.flags = 0;
    m.n_items = 3; /* more than the blob holds */
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL(dk_msg_stream_batch_encode(&b, &m), 0);
    CU_ASSERT_EQUAL(dk_msg_stream_batch_decode(dk_buf_slice(&b), &m2), DK_ECORRUPT);

    /* STREAM_DONE and STREAM_ACK */
    dk_msg_stream_done d = {.plan = "cafe"}, d2;
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_done_encode(&b, &d), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_done_decode(dk_buf_slice(&b), &d2), 0);
    CU_ASSERT_STRING_EQUAL(d2.plan, "cafe");
    stream_truncations(dk_buf_slice(&b), dec_done, &d2);
    d.plan[0] = 0;
    CU_ASSERT_EQUAL(dk_msg_stream_done_encode(&b, &d), -EINVAL);
    dk_msg_stream_ack a = {.status = -EAGAIN,
                           .ranges_done = 3,
                           .ranges_total = 512,
                           .keys = 1u << 30,
                           .bytes = 1ull << 40},
                      a2;
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_ack_encode(&b, &a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_stream_ack_decode(dk_buf_slice(&b), &a2), 0);
    CU_ASSERT(a2.status == -EAGAIN && a2.ranges_done == 3 && a2.ranges_total == 512 && a2.keys == 1u << 30 &&
              a2.bytes == 1ull << 40);
    stream_truncations(dk_buf_slice(&b), dec_ack, &a2);
    a.ranges_done = 513;
    CU_ASSERT_EQUAL(dk_msg_stream_ack_encode(&b, &a), -EINVAL);

    /* the frame layer knows the four types */
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_STREAM_REQ), "STREAM_REQ");
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_STREAM_ACK), "STREAM_ACK");
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL(dk_frame_encode(&b, DK_MSG_STREAM_BATCH, 0, 9, "x", 1), 0);
    dk_frame_header h;
    dk_slice body;
    CU_ASSERT_EQUAL(dk_frame_decode(b.data, b.len, &h, &body, NULL, 0), (ssize_t)b.len);
    CU_ASSERT_EQUAL(h.type, DK_MSG_STREAM_BATCH);
    dk_buf_free(&b);
    dk_buf_free(&items);
}

/* ---- SCAN_RANGE / SCAN_RESULT ------------------------------------------------- */

static void put_spans(dk_buf *b, const dk_msg_scan_span *s, size_t n)
{
    dk_buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        uint8_t raw[DK_SCAN_SPAN_LEN];
        dk_msg_scan_span_put(raw, &s[i]);
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(b, raw, sizeof(raw)), 0);
    }
}

/* Encode m with spans s[0..n) and expect rc; on 0 check the decode too. */
static int scan_range_try(dk_msg_scan_range *m, const dk_msg_scan_span *s, size_t n)
{
    dk_buf spans = DK_BUF_INIT, body = DK_BUF_INIT;
    put_spans(&spans, s, n);
    m->spans = dk_buf_slice(&spans);
    m->n_spans = (uint32_t)n;
    int rc = dk_msg_scan_range_encode(&body, m);
    if (rc == -EINVAL) {
        CU_ASSERT_EQUAL(body.len, 0);
        /* The decoder refuses the same spans written by hand. */
        dk_msg_scan_range ok = *m, d;
        dk_msg_scan_span whole = {5, 5, 5, 5};
        uint8_t one[DK_SCAN_SPAN_LEN];
        dk_msg_scan_span_put(one, &whole);
        ok.spans = (dk_slice){one, sizeof(one)};
        ok.n_spans = 1;
        if (ok.limit >= 1 && ok.limit <= DK_SCAN_LIMIT_MAX && !(ok.flags & ~DK_SCAN_RANGE_FLAGS) &&
            ok.max_bytes >= 1 && ok.max_bytes <= DK_FRAME_BODY_MAX && n >= 1 && n <= 64 &&
            ok.prefix.len <= DK_KEY_MAX && ok.after.len <= DK_KEY_MAX) {
            CU_ASSERT_EQUAL_FATAL(dk_msg_scan_range_encode(&body, &ok), 0);
            /* Replace the one span and its count (n <= 64: a one-byte varint). */
            body.len -= DK_SCAN_SPAN_LEN + 1;
            uint8_t cnt = (uint8_t)n;
            CU_ASSERT_EQUAL_FATAL(dk_buf_append(&body, &cnt, 1), 0);
            CU_ASSERT_EQUAL_FATAL(dk_buf_append(&body, spans.data, spans.len), 0);
            CU_ASSERT_EQUAL(dk_msg_scan_range_decode(dk_buf_slice(&body), &d), DK_ECORRUPT);
        }
    } else if (rc == 0) {
        dk_msg_scan_range d;
        CU_ASSERT_EQUAL(dk_msg_scan_range_decode(dk_buf_slice(&body), &d), 0);
    }
    dk_buf_free(&spans);
    dk_buf_free(&body);
    return rc;
}

static void test_roundtrip_scan_range(void)
{
    dk_buf spans = DK_BUF_INIT, body = DK_BUF_INIT, frame = DK_BUF_INIT;
    dk_slice s;
    /* The first span wraps through zero; the others are ascending. */
    dk_msg_scan_span sp[3] = {
        {UINT64_MAX, 7, 0, 100},
        {0, 100, 0, 200},
        {3, 0, 4, 0},
    };
    put_spans(&spans, sp, 3);
    dk_msg_scan_range m =
                          {
                              .prefix = {(const uint8_t *)"user:", 5},
                              .after = {(const uint8_t *)"user:42", 7},
                              .limit = 7,
                              .flags = DK_SCAN_WITH_DEAD,
                              .max_bytes = 65536,
                              .n_spans = 3,
                              .spans = dk_buf_slice(&spans),
                          },
                      d;
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_range_encode(&body, &m), 0);
    frame_roundtrip(DK_MSG_SCAN_RANGE, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_range_decode(s, &d), 0);
    CU_ASSERT(d.prefix.len == 5 && memcmp(d.prefix.ptr, "user:", 5) == 0);
    CU_ASSERT(d.after.len == 7 && memcmp(d.after.ptr, "user:42", 7) == 0);
    CU_ASSERT(d.limit == 7 && d.flags == DK_SCAN_WITH_DEAD && d.max_bytes == 65536 && d.n_spans == 3);
    CU_ASSERT_EQUAL_FATAL(d.spans.len, 3 * DK_SCAN_SPAN_LEN);
    for (unsigned i = 0; i < 3; i++) {
        dk_msg_scan_span g;
        dk_msg_scan_span_get(d.spans.ptr + i * DK_SCAN_SPAN_LEN, &g);
        CU_ASSERT(memcmp(&g, &sp[i], sizeof(g)) == 0);
    }
    CHECK_STRICT(dk_msg_scan_range_decode, dk_msg_scan_range, body);

    /* Empty prefix and cursor: a scan of everything. */
    dk_msg_scan_range all = m;
    all.prefix = all.after = (dk_slice){NULL, 0};
    all.flags = 0;
    dk_msg_scan_span whole = {9, 9, 9, 9};
    CU_ASSERT_EQUAL(scan_range_try(&all, &whole, 1), 0);

    /* Field limits. */
    dk_msg_scan_range bad = m;
    bad.limit = 0;
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad.limit = DK_SCAN_LIMIT_MAX + 1;
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad = m;
    bad.flags = 0x2;
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad = m;
    bad.max_bytes = 0;
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad.max_bytes = DK_FRAME_BODY_MAX + 1;
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad = m;
    static uint8_t big[DK_KEY_MAX + 1];
    bad.prefix = (dk_slice){big, sizeof(big)};
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad = m;
    bad.after = (dk_slice){big, sizeof(big)};
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 3), -EINVAL);
    bad = m;
    CU_ASSERT_EQUAL(scan_range_try(&bad, sp, 0), -EINVAL);
    bad.spans = (dk_slice){spans.data, DK_SCAN_SPAN_LEN + 1}; /* length not n * 32 */
    bad.n_spans = 1;
    CU_ASSERT_EQUAL(dk_msg_scan_range_encode(&body, &bad), -EINVAL);

    /* Span order: ends ascending, disjoint, only the first wraps, a whole
     * circle alone. */
    dk_msg_scan_span unordered[2] = {{0, 100, 0, 200}, {0, 10, 0, 50}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, unordered, 2), -EINVAL);
    dk_msg_scan_span overlap[2] = {{0, 10, 0, 200}, {0, 150, 0, 300}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, overlap, 2), -EINVAL);
    dk_msg_scan_span touching[2] = {{0, 10, 0, 200}, {0, 200, 0, 300}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, touching, 2), 0);
    dk_msg_scan_span late_wrap[2] = {{0, 10, 0, 20}, {0, 300, 0, 30}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, late_wrap, 2), -EINVAL);
    dk_msg_scan_span wrap_into_last[2] = {{0, 250, 0, 5}, {0, 10, 0, 300}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, wrap_into_last, 2), -EINVAL);
    dk_msg_scan_span whole_and_more[2] = {{0, 7, 0, 7}, {0, 10, 0, 300}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, whole_and_more, 2), -EINVAL);
    dk_msg_scan_span empty_span[1] = {{0, 10, 0, 10}};
    CU_ASSERT_EQUAL(scan_range_try(&bad, empty_span, 1), 0); /* start == end: the whole circle */

    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_SCAN_RANGE), "SCAN_RANGE");
    dk_buf_free(&spans);
    dk_buf_free(&body);
    dk_buf_free(&frame);
}

static void test_roundtrip_scan_result(void)
{
    dk_buf body = DK_BUF_INIT, frame = DK_BUF_INIT;
    dk_slice s;
    size_t at;
    static uint8_t object[70000];
    for (size_t i = 0; i < sizeof(object); i++)
        object[i] = (uint8_t)(i * 13);
    const char *keys[] = {"a", "a\x00", "ab", "b"};
    size_t objlen[] = {3, sizeof(object), 0, 1};
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_start(&body, &at), 0);
    CU_ASSERT_EQUAL(at, 0);
    for (int i = 0; i < 4; i++) {
        size_t kl = i == 1 ? 2 : strlen(keys[i]);
        size_t before = body.len;
        CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_add(&body, at, (dk_slice){(const uint8_t *)keys[i], kl},
                                                     (dk_slice){object, objlen[i]}),
                              0);
        CU_ASSERT_EQUAL(body.len - before, dk_msg_scan_entry_len(kl, objlen[i]));
    }
    dk_msg_scan_result_more(&body, at);
    frame_roundtrip(DK_MSG_SCAN_RESULT, &body, &s, &frame);
    dk_msg_scan_result d;
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_decode(s, &d), 0);
    CU_ASSERT(d.flags == DK_SCAN_MORE && d.n == 4);
    CU_ASSERT(d.last_key.len == 1 && d.last_key.ptr[0] == 'b');
    dk_msg_scan_iter it;
    dk_slice k, o;
    dk_msg_scan_iter_init(&it, &d);
    for (int i = 0; i < 4; i++) {
        size_t kl = i == 1 ? 2 : strlen(keys[i]);
        CU_ASSERT_FATAL(dk_msg_scan_iter_next(&it, &k, &o) == 1);
        CU_ASSERT(k.len == kl && memcmp(k.ptr, keys[i], kl) == 0);
        CU_ASSERT(o.len == objlen[i] && (o.len == 0 || memcmp(o.ptr, object, o.len) == 0));
    }
    CU_ASSERT_EQUAL(dk_msg_scan_iter_next(&it, &k, &o), 0);

    /* Strictness on a small answer (the 70 kB one would take quadratic time). */
    dk_buf small = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_start(&small, &at), 0);
    CU_ASSERT_EQUAL(
        dk_msg_scan_result_add(&small, at, (dk_slice){(const uint8_t *)"k1", 2}, (dk_slice){object, 9}), 0);
    CU_ASSERT_EQUAL(
        dk_msg_scan_result_add(&small, at, (dk_slice){(const uint8_t *)"k2", 2}, (dk_slice){object, 0}), 0);
    CHECK_STRICT(dk_msg_scan_result_decode, dk_msg_scan_result, small);

    /* An empty answer; MORE without entries; an unknown flag; keys out of
     * order or repeated; a count over the limit; a key of 0 or 257 bytes. */
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_start(&b, &at), 0);
    CU_ASSERT_EQUAL(dk_msg_scan_result_decode(dk_buf_slice(&b), &d), 0);
    CU_ASSERT(d.n == 0 && d.flags == 0 && d.last_key.len == 0);
    dk_msg_scan_iter_init(&it, &d);
    CU_ASSERT_EQUAL(dk_msg_scan_iter_next(&it, &k, &o), 0);
    dk_msg_scan_result_more(&b, at);
    CU_ASSERT_EQUAL(dk_msg_scan_result_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    b.data[0] = 0x2;
    CU_ASSERT_EQUAL(dk_msg_scan_result_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    b.data[0] = 0;
    CU_ASSERT_EQUAL(
        dk_msg_scan_result_add(&b, at, (dk_slice){(const uint8_t *)"b", 1}, (dk_slice){object, 1}), 0);
    CU_ASSERT_EQUAL(
        dk_msg_scan_result_add(&b, at, (dk_slice){(const uint8_t *)"b", 1}, (dk_slice){object, 1}), 0);
    CU_ASSERT_EQUAL(dk_msg_scan_result_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_start(&b, &at), 0);
    CU_ASSERT_EQUAL(
        dk_msg_scan_result_add(&b, at, (dk_slice){(const uint8_t *)"ba", 2}, (dk_slice){object, 1}), 0);
    CU_ASSERT_EQUAL(
        dk_msg_scan_result_add(&b, at, (dk_slice){(const uint8_t *)"b", 1}, (dk_slice){object, 1}), 0);
    CU_ASSERT_EQUAL(dk_msg_scan_result_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    dk_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_start(&b, &at), 0);
    dk_put_u32(b.data + 1, DK_SCAN_ENTRIES_MAX + 1);
    CU_ASSERT_EQUAL(dk_msg_scan_result_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    size_t len = b.len;
    static uint8_t bigkey[DK_KEY_MAX + 1];
    CU_ASSERT_EQUAL(dk_msg_scan_result_add(&b, at, (dk_slice){bigkey, 0}, (dk_slice){object, 1}), -EINVAL);
    CU_ASSERT_EQUAL(dk_msg_scan_result_add(&b, at, (dk_slice){bigkey, sizeof(bigkey)}, (dk_slice){object, 1}),
                    -EINVAL);
    CU_ASSERT_EQUAL(b.len, len);

    /* Key order: bytewise, a proper prefix first. */
    CU_ASSERT_EQUAL(
        dk_msg_scan_key_cmp((dk_slice){(const uint8_t *)"a", 1}, (dk_slice){(const uint8_t *)"ab", 2}), -1);
    CU_ASSERT_EQUAL(
        dk_msg_scan_key_cmp((dk_slice){(const uint8_t *)"b", 1}, (dk_slice){(const uint8_t *)"ab", 2}), 1);
    CU_ASSERT_EQUAL(
        dk_msg_scan_key_cmp((dk_slice){(const uint8_t *)"\xff", 1}, (dk_slice){(const uint8_t *)"a", 1}), 1);
    CU_ASSERT_EQUAL(dk_msg_scan_key_cmp((dk_slice){NULL, 0}, (dk_slice){(const uint8_t *)"a", 1}), -1);
    CU_ASSERT_EQUAL(
        dk_msg_scan_key_cmp((dk_slice){(const uint8_t *)"ab", 2}, (dk_slice){(const uint8_t *)"ab", 2}), 0);
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_SCAN_RESULT), "SCAN_RESULT");
    dk_buf_free(&b);
    dk_buf_free(&small);
    dk_buf_free(&body);
    dk_buf_free(&frame);
}

/* Entries of a KEYS_REQ/KEYS: one of each kind, read back in order. */
static void ae_entries(dk_buf *out, uint32_t *n)
{
    static const uint8_t obj[] = "an encoded object";
    const dk_keys_entry e[3] = {
        {.key = {(const uint8_t *)"k1", 2}, .kind = DK_KEYS_KEY},
        {.key = {(const uint8_t *)"k2", 2}, .kind = DK_KEYS_HASH, .hash = 0x0123456789abcdefULL},
        {.key = {(const uint8_t *)"k3", 2}, .kind = DK_KEYS_OBJECT, .object = {obj, sizeof(obj)}},
    };
    dk_buf_reset(out);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(dk_keys_entry_encode(out, &e[i]), 0);
    *n = 3;
}

static void ae_check_entries(dk_slice entries)
{
    dk_keys_entry e;
    CU_ASSERT_EQUAL_FATAL(dk_keys_entry_next(&entries, &e), 1);
    CU_ASSERT(e.key.len == 2 && memcmp(e.key.ptr, "k1", 2) == 0 && e.kind == DK_KEYS_KEY);
    CU_ASSERT_EQUAL_FATAL(dk_keys_entry_next(&entries, &e), 1);
    CU_ASSERT(e.kind == DK_KEYS_HASH && e.hash == 0x0123456789abcdefULL);
    CU_ASSERT_EQUAL_FATAL(dk_keys_entry_next(&entries, &e), 1);
    CU_ASSERT(e.kind == DK_KEYS_OBJECT && e.object.len == 18 &&
              memcmp(e.object.ptr, "an encoded object", 18) == 0);
    CU_ASSERT_EQUAL(dk_keys_entry_next(&entries, &e), 0);
}

static void test_roundtrip_ae(void)
{
    dk_buf body = DK_BUF_INIT, frame = DK_BUF_INIT, ent = DK_BUF_INIT;
    dk_slice s;
    static const uint8_t bitmap[512] = {0x81, [511] = 0x40};
    const char *group = "n1,n2,n3";

    dk_msg_tree_req tq = {.group = {(const uint8_t *)group, 8},
                          .sig = UINT64_MAX - 1,
                          .level = 3,
                          .nodes = {bitmap, sizeof(bitmap)}},
                    tq2;
    CU_ASSERT_EQUAL_FATAL(dk_msg_tree_req_encode(&body, &tq), 0);
    frame_roundtrip(DK_MSG_TREE_REQ, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_tree_req_decode(s, &tq2), 0);
    CU_ASSERT(tq2.group.len == 8 && memcmp(tq2.group.ptr, group, 8) == 0);
    CU_ASSERT(tq2.sig == UINT64_MAX - 1 && tq2.level == 3);
    CU_ASSERT(tq2.nodes.len == sizeof(bitmap) && memcmp(tq2.nodes.ptr, bitmap, sizeof(bitmap)) == 0);
    CHECK_STRICT(dk_msg_tree_req_decode, dk_msg_tree_req, body);

    uint8_t hashes[24];
    for (int i = 0; i < 24; i++)
        hashes[i] = (uint8_t)(i * 13);
    const dk_msg_tree trees[2] = {{0, {hashes, 24}}, {DK_EMISMATCH, {NULL, 0}}};
    for (int i = 0; i < 2; i++) {
        dk_msg_tree t2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_tree_encode(&body, &trees[i]), 0);
        frame_roundtrip(DK_MSG_TREE, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_tree_decode(s, &t2), 0);
        CU_ASSERT_EQUAL(t2.status, trees[i].status);
        CU_ASSERT(t2.hashes.len == trees[i].hashes.len &&
                  (t2.hashes.len == 0 || memcmp(t2.hashes.ptr, hashes, 24) == 0));
        CHECK_STRICT(dk_msg_tree_decode, dk_msg_tree, body);
    }

    dk_msg_keys_req list = {.op = DK_KEYS_LIST,
                            .group = {(const uint8_t *)group, 8},
                            .sig = 42,
                            .leaves = {bitmap, sizeof(bitmap)},
                            .prefix = {(const uint8_t *)"user:", 5},
                            .from = {(const uint8_t *)"user:7\0", 7},
                            .max_bytes = 1 << 20},
                    l2;
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_keys_req_encode(&body, &list), 0);
    frame_roundtrip(DK_MSG_KEYS_REQ, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_keys_req_decode(s, &l2), 0);
    CU_ASSERT(l2.op == DK_KEYS_LIST && l2.sig == 42 && l2.max_bytes == 1 << 20 && l2.n_entries == 0);
    CU_ASSERT(l2.leaves.len == sizeof(bitmap) && l2.prefix.len == 5 && l2.from.len == 7);
    CU_ASSERT(memcmp(l2.from.ptr, "user:7\0", 7) == 0);
    CHECK_STRICT(dk_msg_keys_req_decode, dk_msg_keys_req, body);

    uint32_t n;
    ae_entries(&ent, &n);
    dk_msg_keys_req sync = {.op = DK_KEYS_SYNC,
                            .group = {(const uint8_t *)group, 8},
                            .sig = 42,
                            .n_entries = n,
                            .entries = dk_buf_slice(&ent)},
                    y2;
    dk_buf_reset(&body);
    CU_ASSERT_EQUAL_FATAL(dk_msg_keys_req_encode(&body, &sync), 0);
    frame_roundtrip(DK_MSG_KEYS_REQ, &body, &s, &frame);
    CU_ASSERT_EQUAL_FATAL(dk_msg_keys_req_decode(s, &y2), 0);
    CU_ASSERT(y2.op == DK_KEYS_SYNC && y2.n_entries == 3 && y2.leaves.len == 0);
    ae_check_entries(y2.entries);
    CHECK_STRICT(dk_msg_keys_req_decode, dk_msg_keys_req, body);

    dk_msg_keys ks[2] = {
        {.status = 0,
         .more = 1,
         .upto = {(const uint8_t *)"k3", 2},
         .merged = 7,
         .n_entries = n,
         .entries = dk_buf_slice(&ent)},
        {.status = DK_EUNAVAILABLE},
    };
    for (int i = 0; i < 2; i++) {
        dk_msg_keys k2;
        dk_buf_reset(&body);
        CU_ASSERT_EQUAL_FATAL(dk_msg_keys_encode(&body, &ks[i]), 0);
        frame_roundtrip(DK_MSG_KEYS, &body, &s, &frame);
        CU_ASSERT_EQUAL_FATAL(dk_msg_keys_decode(s, &k2), 0);
        CU_ASSERT(k2.status == ks[i].status && k2.more == ks[i].more && k2.merged == ks[i].merged);
        CU_ASSERT(k2.upto.len == ks[i].upto.len && k2.n_entries == ks[i].n_entries);
        if (i == 0)
            ae_check_entries(k2.entries);
        CHECK_STRICT(dk_msg_keys_decode, dk_msg_keys, body);
    }
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(DK_MSG_KEYS), "KEYS");
    dk_buf_free(&body);
    dk_buf_free(&frame);
    dk_buf_free(&ent);
}

static void test_ae_limits(void)
{
    dk_buf b = DK_BUF_INIT, ent = DK_BUF_INIT;
    static uint8_t big[DK_AE_BITMAP_MAX + 1];
    const dk_slice group = {(const uint8_t *)"n1,n2", 5};

    dk_msg_tree_req tq = {.group = group, .level = 1, .nodes = {big, 2}};
    tq.level = DK_AE_LEVEL_MAX + 1;
    CU_ASSERT_EQUAL(dk_msg_tree_req_encode(&b, &tq), -EINVAL);
    tq.level = 1;
    tq.nodes.len = 0;
    CU_ASSERT_EQUAL(dk_msg_tree_req_encode(&b, &tq), -EINVAL);
    tq.nodes.len = DK_AE_BITMAP_MAX + 1;
    CU_ASSERT_EQUAL(dk_msg_tree_req_encode(&b, &tq), -EINVAL);
    tq.nodes.len = 2;
    tq.group.len = DK_AE_GROUP_MAX + 1;
    tq.group.ptr = big;
    CU_ASSERT_EQUAL(dk_msg_tree_req_encode(&b, &tq), -EINVAL);
    dk_msg_tree t = {0, {big, 12}};
    CU_ASSERT_EQUAL(dk_msg_tree_encode(&b, &t), -EINVAL); /* not whole hashes */
    t = (dk_msg_tree){DK_EMISMATCH, {big, 8}};
    CU_ASSERT_EQUAL(dk_msg_tree_encode(&b, &t), -EINVAL); /* hashes with an error */

    dk_keys_entry e = {.key = {big, DK_KEY_MAX + 1}, .kind = DK_KEYS_KEY};
    CU_ASSERT_EQUAL(dk_keys_entry_encode(&ent, &e), -EINVAL);
    e = (dk_keys_entry){.key = {big, 1}, .kind = 3};
    CU_ASSERT_EQUAL(dk_keys_entry_encode(&ent, &e), -EINVAL);
    e = (dk_keys_entry){.key = {big, 1}, .kind = DK_KEYS_OBJECT};
    CU_ASSERT_EQUAL(dk_keys_entry_encode(&ent, &e), -EINVAL); /* an object of 0 bytes */
    e = (dk_keys_entry){.key = {big, 1}, .kind = DK_KEYS_HASH, .object = {big, 1}};
    CU_ASSERT_EQUAL(dk_keys_entry_encode(&ent, &e), -EINVAL);
    CU_ASSERT_EQUAL(ent.len, 0);

    dk_msg_keys_req q = {.op = 3, .group = group, .max_bytes = 1};
    CU_ASSERT_EQUAL(dk_msg_keys_req_encode(&b, &q), -EINVAL);
    q.op = DK_KEYS_LIST;
    q.max_bytes = 0;
    CU_ASSERT_EQUAL(dk_msg_keys_req_encode(&b, &q), -EINVAL);
    q.max_bytes = 1;
    q.from = (dk_slice){big, DK_KEY_MAX + 2};
    CU_ASSERT_EQUAL(dk_msg_keys_req_encode(&b, &q), -EINVAL);
    q = (dk_msg_keys_req){.op = DK_KEYS_SYNC, .group = group, .prefix = {big, 1}};
    CU_ASSERT_EQUAL(dk_msg_keys_req_encode(&b, &q), -EINVAL); /* LIST fields in SYNC */
    /* A count that does not match the entries. */
    e = (dk_keys_entry){.key = {(const uint8_t *)"k", 1}, .kind = DK_KEYS_KEY};
    CU_ASSERT_EQUAL_FATAL(dk_keys_entry_encode(&ent, &e), 0);
    q = (dk_msg_keys_req){.op = DK_KEYS_SYNC, .group = group, .n_entries = 2, .entries = dk_buf_slice(&ent)};
    CU_ASSERT_EQUAL(dk_msg_keys_req_encode(&b, &q), -EINVAL);
    dk_msg_keys k = {.status = DK_ETIMEOUT, .n_entries = 1, .entries = dk_buf_slice(&ent)};
    CU_ASSERT_EQUAL(dk_msg_keys_encode(&b, &k), -EINVAL); /* entries with an error */
    k = (dk_msg_keys){.more = 1};
    CU_ASSERT_EQUAL(dk_msg_keys_encode(&b, &k), -EINVAL); /* more without upto */
    CU_ASSERT_EQUAL(b.len, 0);

    /* Decoders: an unknown entry kind, a count larger than the entries. */
    q = (dk_msg_keys_req){.op = DK_KEYS_SYNC, .group = group, .n_entries = 1, .entries = dk_buf_slice(&ent)};
    CU_ASSERT_EQUAL_FATAL(dk_msg_keys_req_encode(&b, &q), 0);
    dk_msg_keys_req d;
    b.data[b.len - 1] = 7;
    CU_ASSERT_EQUAL(dk_msg_keys_req_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    b.data[b.len - 1] = DK_KEYS_KEY;
    b.data[b.len - ent.len - 1] = 2;
    CU_ASSERT_EQUAL(dk_msg_keys_req_decode(dk_buf_slice(&b), &d), DK_ECORRUPT);
    b.data[b.len - ent.len - 1] = 1;
    CU_ASSERT_EQUAL(dk_msg_keys_req_decode(dk_buf_slice(&b), &d), 0);
    /* Types without a name are refused; 14..17 are streaming's now. */
    CU_ASSERT_EQUAL(dk_frame_encode(&b, 0, 0, 1, NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(dk_frame_encode(&b, DK_MSG__MAX + 1, 0, 1, NULL, 0), -EINVAL);
    CU_ASSERT_STRING_EQUAL(dk_msg_type_name(17), "STREAM_ACK");
    dk_buf_free(&b);
    dk_buf_free(&ent);
}

static CU_TestInfo range_tests[] = {
    {"STREAM_REQ, STREAM_BATCH, STREAM_DONE, STREAM_ACK", test_stream_messages},
    {"SCAN_RANGE round trip, limits and span order", test_roundtrip_scan_range},
    {"SCAN_RESULT round trip, entry order and count", test_roundtrip_scan_result},
    {"anti-entropy messages round trip", test_roundtrip_ae},
    {"anti-entropy field limits", test_ae_limits},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc_frame_range", .pTests = range_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
