/*
 * tc_frame.h - what the RPC codec's unit tests (test-rpc-frame.c,
 * test-rpc-frame-range.c) share: a frame round trip that checks the
 * header, and CHECK_STRICT, which refuses every truncation of a message
 * body and the body plus one byte. Header-only: static inline functions
 * and a macro, like test-lsm-util.h.
 */
#ifndef DK_TEST_TC_FRAME_H
#define DK_TEST_TC_FRAME_H
#include <CUnit/CUnit.h>
#include <string.h>
#include "rpc/rpc_frame.h"

/* Wrap body in a frame, decode it back, check header and body. */
static inline void frame_roundtrip(uint8_t type, const dk_buf *body, dk_slice *got, dk_buf *frame)
{
    dk_buf_reset(frame);
    CU_ASSERT_EQUAL_FATAL(dk_frame_encode(frame, type, 0x8001, 0x1122334455667788ULL, body->data, body->len),
                          0);
    CU_ASSERT_EQUAL(frame->len, DK_FRAME_HEADER_LEN + body->len + DK_FRAME_TRAILER_LEN);
    dk_frame_header h;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(dk_frame_decode(frame->data, frame->len, &h, got, err, sizeof(err)),
                          (ssize_t)frame->len);
    CU_ASSERT_EQUAL(h.version, DK_FRAME_VERSION);
    CU_ASSERT_EQUAL(h.type, type);
    CU_ASSERT_EQUAL(h.flags, 0x8001);
    CU_ASSERT_EQUAL(h.request_id, 0x1122334455667788ULL);
    CU_ASSERT_EQUAL(h.body_len, body->len);
    CU_ASSERT_EQUAL_FATAL(got->len, body->len);
    CU_ASSERT(body->len == 0 || memcmp(got->ptr, body->data, body->len) == 0);
}

/* Every proper prefix of a body, and the body plus one byte, must be refused. */
#define CHECK_STRICT(decode, type, body)                                                                     \
    do {                                                                                                     \
        type tmp_;                                                                                           \
        for (size_t n_ = 0; n_ < (body).len; n_++) {                                                         \
            dk_slice p_ = {(body).data, n_};                                                                 \
            CU_ASSERT_EQUAL(decode(p_, &tmp_), DK_ECORRUPT);                                                 \
        }                                                                                                    \
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&(body), "", 1), 0);                                             \
        CU_ASSERT_EQUAL(decode(dk_buf_slice(&(body)), &tmp_), DK_ECORRUPT);                                  \
        (body).len--;                                                                                        \
    } while (0)

#endif /* DK_TEST_TC_FRAME_H */
