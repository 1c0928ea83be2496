/*
 * test-crdt-codec.c - the CRDT operation and value encodings
 * (framework/util/crdt_codec.c, format in dynkv/crdt.h): round trips of
 * every type, the exact bytes of a few operations, canonical order
 * (dk_crdt_op_canon, and decoders that refuse unsorted lists, duplicates,
 * nested maps, non-minimal varints and trailing bytes), and every
 * truncation and byte flip either refused or decoded into something that
 * re-encodes to the same bytes.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/crdt_codec.h"
#include "util/cursor.h"

#define S(text) ((dk_slice){(const uint8_t *)(text), sizeof(text) - 1})

static int same_bytes(const dk_buf *a, const uint8_t *p, size_t n)
{
    return a->len == n && memcmp(a->data, p, n) == 0;
}

/* Encode op, decode it, encode again: the same bytes. Leaves them in *enc. */
static void op_roundtrip(const dk_crdt_op *op, dk_buf *enc)
{
    dk_crdt_op d;
    dk_buf again = DK_BUF_INIT;
    dk_buf_reset(enc);
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_encode(op, enc), 0);
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_decode(dk_buf_slice(enc), &d), 0);
    CU_ASSERT_EQUAL(d.type, op->type);
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&d, &again), 0);
    CU_ASSERT_TRUE(same_bytes(&again, enc->data, enc->len));
    dk_crdt_op_free(&d);
    dk_buf_free(&again);
}

static void test_op_counter(void)
{
    dk_buf enc = DK_BUF_INIT;
    dk_crdt_op op = {.type = DK_CRDT_COUNTER, .delta = 5};
    op_roundtrip(&op, &enc);
    static const uint8_t five[] = {DK_CRDT_FORMAT, DK_CRDT_COUNTER, 10};
    CU_ASSERT_TRUE(same_bytes(&enc, five, sizeof(five)));
    op.delta = -1;
    op_roundtrip(&op, &enc);
    static const uint8_t minus_one[] = {DK_CRDT_FORMAT, DK_CRDT_COUNTER, 1};
    CU_ASSERT_TRUE(same_bytes(&enc, minus_one, sizeof(minus_one)));
    int64_t extremes[] = {INT64_MIN, INT64_MAX, 0, -64, 64};
    for (size_t i = 0; i < sizeof(extremes) / sizeof(extremes[0]); i++) {
        dk_crdt_op d;
        op.delta = extremes[i];
        op_roundtrip(&op, &enc);
        CU_ASSERT_EQUAL_FATAL(dk_crdt_op_decode(dk_buf_slice(&enc), &d), 0);
        CU_ASSERT_EQUAL(d.delta, extremes[i]);
        dk_crdt_op_free(&d);
    }
    dk_buf_free(&enc);
}

static void test_op_set_and_canon(void)
{
    dk_buf enc = DK_BUF_INIT;
    dk_slice elems[] = {S("b"), S("a"), S("ab"), S("b"), S("")};
    dk_crdt_op op = {.type = DK_CRDT_SET, .set_kind = DK_CRDT_SET_ADD, .elems = elems, .n_elems = 5};
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&op, &enc), -EINVAL); /* not canonical */
    CU_ASSERT_EQUAL(enc.len, 0);
    CU_ASSERT_EQUAL(dk_crdt_op_canon(&op), 0);
    CU_ASSERT_EQUAL(op.n_elems, 4); /* "", a, ab, b */
    CU_ASSERT_EQUAL(elems[0].len, 0);
    CU_ASSERT_EQUAL(dk_slice_cmp(elems[3], S("b")), 0);
    op_roundtrip(&op, &enc);
    static const uint8_t want[] = {
        DK_CRDT_FORMAT, DK_CRDT_SET, DK_CRDT_SET_ADD, 4, 0, 1, 'a', 2, 'a', 'b', 1, 'b'};
    CU_ASSERT_TRUE(same_bytes(&enc, want, sizeof(want)));
    op.set_kind = DK_CRDT_SET_REMOVE;
    op_roundtrip(&op, &enc);
    op.set_kind = 3;
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&op, &enc), -EINVAL);
    op.set_kind = DK_CRDT_SET_ADD;
    op.n_elems = 0; /* an empty add is valid */
    op_roundtrip(&op, &enc);
    dk_buf_free(&enc);
}

static void test_op_register_and_map(void)
{
    dk_buf enc = DK_BUF_INIT;
    dk_crdt_op reg = {.type = DK_CRDT_REGISTER, .text = S("hello")};
    op_roundtrip(&reg, &enc);
    reg.text = (dk_slice){NULL, 0};
    op_roundtrip(&reg, &enc);

    dk_slice tags[] = {S("y"), S("x")};
    dk_slice rm[] = {S("old"), S("gone")};
    dk_crdt_field_op fields[] = {
        {.name = S("visits"), .op = {.type = DK_CRDT_COUNTER, .delta = 3}},
        {.name = S("tags"),
         .op = {.type = DK_CRDT_SET, .set_kind = DK_CRDT_SET_ADD, .elems = tags, .n_elems = 2}},
        {.name = S("name"), .op = {.type = DK_CRDT_REGISTER, .text = S("ann")}},
    };
    dk_crdt_op map = {.type = DK_CRDT_MAP, .fields = fields, .n_fields = 3, .removes = rm, .n_removes = 2};
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&map, &enc), -EINVAL);
    CU_ASSERT_EQUAL(dk_crdt_op_canon(&map), 0);
    op_roundtrip(&map, &enc);
    dk_crdt_op d;
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_decode(dk_buf_slice(&enc), &d), 0);
    CU_ASSERT_EQUAL(d.n_fields, 3);
    CU_ASSERT_EQUAL(d.fields[0].name.len, 4); /* name, tags, visits */
    CU_ASSERT_EQUAL(d.fields[1].op.n_elems, 2);
    CU_ASSERT_EQUAL(d.fields[2].op.delta, 3);
    CU_ASSERT_EQUAL(d.n_removes, 2);
    dk_crdt_op_free(&d);

    /* a nested map, an empty or too long name, a name both updated and removed */
    dk_crdt_field_op nested = {.name = S("m"), .op = {.type = DK_CRDT_MAP}};
    dk_crdt_op bad = {.type = DK_CRDT_MAP, .fields = &nested, .n_fields = 1};
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&bad, &enc), -EINVAL);
    nested.op = (dk_crdt_op){.type = DK_CRDT_COUNTER};
    nested.name = (dk_slice){(const uint8_t *)"", 0};
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&bad, &enc), -EINVAL);
    uint8_t longname[DK_CRDT_NAME_MAX + 1];
    memset(longname, 'n', sizeof(longname));
    nested.name = (dk_slice){longname, sizeof(longname)};
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&bad, &enc), -EINVAL);
    nested.name.len = DK_CRDT_NAME_MAX;
    op_roundtrip(&bad, &enc);
    dk_slice both[] = {S("a")};
    dk_crdt_field_op fa = {.name = S("a"), .op = {.type = DK_CRDT_COUNTER}};
    dk_crdt_op overlap = {.type = DK_CRDT_MAP, .fields = &fa, .n_fields = 1, .removes = both, .n_removes = 1};
    CU_ASSERT_EQUAL(dk_crdt_op_canon(&overlap), -EINVAL);
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&overlap, &enc), -EINVAL);
    dk_crdt_field_op twice[] = {{.name = S("a"), .op = {.type = DK_CRDT_COUNTER}},
                                {.name = S("a"), .op = {.type = DK_CRDT_SET, .set_kind = 1}}};
    dk_crdt_op dup = {.type = DK_CRDT_MAP, .fields = twice, .n_fields = 2};
    CU_ASSERT_EQUAL(dk_crdt_op_canon(&dup), -EINVAL);
    dk_crdt_op unknown = {.type = 9};
    CU_ASSERT_EQUAL(dk_crdt_op_encode(&unknown, &enc), -EINVAL);
    dk_buf_free(&enc);
}

/* Hand-made encodings that are not canonical or not valid. */
static void test_op_decode_refuses(void)
{
    static const struct {
        const char *what;
        uint8_t b[16];
        size_t n;
    } cases[] = {
        {"empty", {0}, 0},
        {"wrong format", {9, 1, 2}, 3},
        {"unknown type", {1, 7, 0}, 3},
        {"non-minimal varint", {1, 1, 0x82, 0x00}, 4},
        {"trailing byte", {1, 1, 2, 0}, 4},
        {"unsorted set", {1, 2, 1, 2, 1, 'b', 1, 'a'}, 8},
        {"duplicate element", {1, 2, 1, 2, 1, 'a', 1, 'a'}, 8},
        {"bad set kind", {1, 2, 3, 0}, 4},
        {"count beyond the input", {1, 2, 1, 0x7f}, 4},
        {"string beyond the input", {1, 3, 5, 'a'}, 4},
        {"nested map", {1, 4, 1, 1, 'm', 4, 0, 0, 0}, 9},
        {"empty field name", {1, 4, 1, 0, 1, 0, 0}, 7},
        {"updated and removed", {1, 4, 1, 1, 'a', 1, 2, 1, 1, 'a'}, 10},
        {"unsorted removes", {1, 4, 0, 2, 1, 'b', 1, 'a'}, 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dk_crdt_op op;
        int rc = dk_crdt_op_decode((dk_slice){cases[i].b, cases[i].n}, &op);
        if (rc != DK_ECORRUPT)
            fprintf(stderr, "case '%s' decoded with %d\n", cases[i].what, rc);
        CU_ASSERT_EQUAL(rc, DK_ECORRUPT);
        CU_ASSERT_EQUAL(op.n_elems + op.n_fields + op.n_removes, 0);
    }
    /* and a valid map with an update and a removal decodes */
    static const uint8_t ok[] = {1, 4, 1, 1, 'a', 1, 2, 1, 1, 'b'};
    dk_crdt_op op;
    CU_ASSERT_EQUAL(dk_crdt_op_decode((dk_slice){ok, sizeof(ok)}, &op), 0);
    CU_ASSERT_EQUAL(op.n_fields, 1);
    CU_ASSERT_EQUAL(op.fields[0].op.delta, 1);
    dk_crdt_op_free(&op);
}

static void test_values(void)
{
    dk_buf enc = DK_BUF_INIT, again = DK_BUF_INIT;
    dk_slice elems[] = {S("a"), S("b")};
    dk_crdt_field fields[] = {
        {.name = S("c"), .value = {.type = DK_CRDT_COUNTER, .count = -7}},
        {.name = S("r"), .value = {.type = DK_CRDT_REGISTER, .text = S("x")}},
        {.name = S("s"), .value = {.type = DK_CRDT_SET, .elems = elems, .n_elems = 2}},
    };
    dk_crdt_value vals[] = {
        {.type = DK_CRDT_COUNTER, .count = 12},
        {.type = DK_CRDT_SET, .elems = elems, .n_elems = 2},
        {.type = DK_CRDT_SET},
        {.type = DK_CRDT_REGISTER, .text = S("text")},
        {.type = DK_CRDT_MAP, .fields = fields, .n_fields = 3},
        {.type = DK_CRDT_MAP},
    };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        dk_crdt_value d;
        dk_buf_reset(&enc);
        dk_buf_reset(&again);
        CU_ASSERT_EQUAL_FATAL(dk_crdt_value_encode(&vals[i], &enc), 0);
        CU_ASSERT_EQUAL_FATAL(dk_crdt_value_decode(dk_buf_slice(&enc), &d), 0);
        CU_ASSERT_EQUAL(d.type, vals[i].type);
        CU_ASSERT_EQUAL(d.count, vals[i].count);
        CU_ASSERT_EQUAL(d.n_elems, vals[i].n_elems);
        CU_ASSERT_EQUAL(d.n_fields, vals[i].n_fields);
        CU_ASSERT_EQUAL(dk_crdt_value_encode(&d, &again), 0);
        CU_ASSERT_TRUE(same_bytes(&again, enc.data, enc.len));
        dk_crdt_value_free(&d);
    }
    /* not canonical, nested map, unknown type */
    dk_slice unsorted[] = {S("b"), S("a")};
    dk_crdt_value bad = {.type = DK_CRDT_SET, .elems = unsorted, .n_elems = 2};
    CU_ASSERT_EQUAL(dk_crdt_value_encode(&bad, &enc), -EINVAL);
    dk_crdt_field inner = {.name = S("m"), .value = {.type = DK_CRDT_MAP}};
    bad = (dk_crdt_value){.type = DK_CRDT_MAP, .fields = &inner, .n_fields = 1};
    CU_ASSERT_EQUAL(dk_crdt_value_encode(&bad, &enc), -EINVAL);
    bad = (dk_crdt_value){.type = 0};
    CU_ASSERT_EQUAL(dk_crdt_value_encode(&bad, &enc), -EINVAL);
    CU_ASSERT_STRING_EQUAL(dk_crdt_type_name(DK_CRDT_MAP), "map");
    CU_ASSERT_PTR_NULL(dk_crdt_type_name(0));
    dk_buf_free(&enc);
    dk_buf_free(&again);
}

/* Every truncation of a valid encoding is refused, and every byte flip is
 * refused or decodes to something that re-encodes to the flipped bytes. */
static void test_damage(void)
{
    dk_buf enc = DK_BUF_INIT, again = DK_BUF_INIT;
    dk_slice tags[] = {S("t1"), S("t2")};
    dk_slice rm[] = {S("zz")};
    dk_crdt_field_op fields[] = {
        {.name = S("a"), .op = {.type = DK_CRDT_COUNTER, .delta = -300}},
        {.name = S("b"),
         .op = {.type = DK_CRDT_SET, .set_kind = DK_CRDT_SET_REMOVE, .elems = tags, .n_elems = 2}},
        {.name = S("c"), .op = {.type = DK_CRDT_REGISTER, .text = S("some text")}},
    };
    dk_crdt_op map = {.type = DK_CRDT_MAP, .fields = fields, .n_fields = 3, .removes = rm, .n_removes = 1};
    CU_ASSERT_EQUAL_FATAL(dk_crdt_op_encode(&map, &enc), 0);
    unsigned refused = 0, consistent = 0;
    for (size_t n = 0; n < enc.len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, enc.data, n);
        dk_crdt_op d;
        refused += dk_crdt_op_decode((dk_slice){cut, n}, &d) == DK_ECORRUPT;
        free(cut);
    }
    CU_ASSERT_EQUAL(refused, enc.len);
    for (size_t i = 0; i < enc.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            dk_crdt_op d;
            enc.data[i] ^= (uint8_t)(1u << bit);
            int rc = dk_crdt_op_decode(dk_buf_slice(&enc), &d);
            if (rc == 0) {
                dk_buf_reset(&again);
                consistent += dk_crdt_op_encode(&d, &again) == 0 && same_bytes(&again, enc.data, enc.len);
                dk_crdt_op_free(&d);
            } else {
                CU_ASSERT_EQUAL(rc, DK_ECORRUPT);
                consistent++;
            }
            enc.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    CU_ASSERT_EQUAL(consistent, enc.len * 8);
    dk_buf_free(&enc);
    dk_buf_free(&again);
}

static CU_TestInfo codec_tests[] = {
    {"counter operations, exact bytes, extremes", test_op_counter},
    {"set operations and canonical order", test_op_set_and_canon},
    {"register and map operations, invalid maps", test_op_register_and_map},
    {"decoder refuses non-canonical encodings", test_op_decode_refuses},
    {"values of every type", test_values},
    {"truncations and byte flips", test_damage},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "crdt-codec", .pTests = codec_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
