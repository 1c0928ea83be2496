/*
 * test-object.c - the stored object encoding (framework/object.c) and the
 * client context tokens (framework/context.c): round trips, O(1) header
 * reads, every single-byte corruption and every truncation refused, the
 * compaction record callbacks (with the host's repair rule), and garbage
 * tokens refused with a message.
 */
#define _GNU_SOURCE 1 /* memmem */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/api_json.h"
#include "node/object.h"
#include "node/context.h"
#include "node/host.h"
#include "base/metrics.h"
#include "util/base64.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/vv.h"

static dk_actor act(const char *node, uint32_t inc)
{
    dk_actor a;
    CU_ASSERT_FATAL(dk_actor_set(&a, node, inc) == 0);
    return a;
}

static void add(dk_object *o, const char *node, uint64_t counter, int64_t wt, int64_t exp, uint32_t flags,
                const char *value)
{
    dk_sibling s = {.actor = act(node, 1),
                    .counter = counter,
                    .write_time_ms = wt,
                    .expiry_ms = exp,
                    .flags = flags,
                    .value = {(const uint8_t *)value, value ? strlen(value) : 0}};
    CU_ASSERT_FATAL(dk_object_add_sibling(o, &s) == 0);
    dk_actor a = s.actor;
    if (dk_vv_get(&o->vv, &a) < counter)
        CU_ASSERT_FATAL(dk_vv_set(&o->vv, &a, counter, wt) == 0);
}

static int sib_same(const dk_sibling *a, const dk_sibling *b)
{
    return dk_actor_cmp(&a->actor, &b->actor) == 0 && a->counter == b->counter &&
           a->write_time_ms == b->write_time_ms && a->expiry_ms == b->expiry_ms && a->flags == b->flags &&
           a->value.len == b->value.len &&
           (a->value.len == 0 || memcmp(a->value.ptr, b->value.ptr, a->value.len) == 0);
}

static int obj_same(const dk_object *a, const dk_object *b)
{
    if (a->n_sib != b->n_sib || dk_vv_compare(&a->vv, &b->vv) != DK_VV_EQUAL || a->vv.n != b->vv.n)
        return 0;
    for (uint32_t i = 0; i < a->vv.n; i++)
        if (a->vv.e[i].time_ms != b->vv.e[i].time_ms)
            return 0;
    for (uint32_t i = 0; i < a->n_sib; i++)
        if (!sib_same(&a->sib[i], &b->sib[i]))
            return 0;
    return 1;
}

/* Encode o, decode it back, check equality and that re-encoding gives the
 * same bytes. Leaves the encoding in *enc. */
static void roundtrip(const dk_object *o, dk_buf *enc)
{
    dk_object d;
    dk_buf again = DK_BUF_INIT;
    char err[128] = "";
    dk_object_init(&d);
    dk_buf_reset(enc);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(o, enc), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(enc), &d, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(obj_same(o, &d));
    CU_ASSERT_EQUAL(dk_object_encode(&d, &again), 0);
    CU_ASSERT_TRUE(again.len == enc->len && memcmp(again.data, enc->data, enc->len) == 0);
    /* values borrow from the encoding */
    for (uint32_t i = 0; i < d.n_sib; i++)
        if (d.sib[i].value.len)
            CU_ASSERT_TRUE(d.sib[i].value.ptr > enc->data && d.sib[i].value.ptr < enc->data + enc->len);
    dk_object_free(&d);
    dk_buf_free(&again);
}

static void test_roundtrip(void)
{
    dk_object o;
    dk_buf enc = DK_BUF_INIT;
    dk_object_header h;
    dk_object_init(&o);

    roundtrip(&o, &enc); /* no siblings */
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.n_siblings, 0);
    CU_ASSERT_EQUAL(h.flags, DK_OBJECT_F_ALL_TOMBSTONES);

    add(&o, "n1", 1, 1000, 0, 0, "hello");
    roundtrip(&o, &enc);
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.version, DK_OBJECT_VERSION);
    CU_ASSERT_EQUAL(h.n_siblings, 1);
    CU_ASSERT_EQUAL(h.flags, 0);
    CU_ASSERT_EQUAL(h.newest_write_ms, 1000);
    CU_ASSERT_EQUAL(h.max_expiry_ms, 0);
    CU_ASSERT_EQUAL(h.total_len, enc.len);

    add(&o, "n2", 7, 3000, 0, DK_SIB_TOMBSTONE, NULL);
    add(&o, "n3", 2, 2000, 9000, 0, ""); /* empty value, with expiry */
    for (int i = 0; i < 40; i++) {
        char node[16];
        snprintf(node, sizeof(node), "m%d", i);
        add(&o, node, (uint64_t)i + 1, 1500 + i, 0, 0, "sibling value");
    }
    roundtrip(&o, &enc);
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.n_siblings, 43);
    CU_ASSERT_EQUAL(h.flags, DK_OBJECT_F_HAS_TOMBSTONE);
    CU_ASSERT_EQUAL(h.newest_write_ms, 3000);
    CU_ASSERT_EQUAL(h.max_expiry_ms, 0); /* some siblings never expire */

    dk_object_free(&o);
    add(&o, "n1", 1, 100, 5000, 0, "a");
    add(&o, "n2", 1, 200, 7000, 0, "b");
    roundtrip(&o, &enc);
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.max_expiry_ms, 7000);
    CU_ASSERT_EQUAL(h.newest_write_ms, 200);

    dk_object_free(&o);
    add(&o, "n1", 3, 100, 0, DK_SIB_TOMBSTONE, NULL);
    dk_actor n1b = act("n1", 2);
    CU_ASSERT_EQUAL(dk_vv_set(&o.vv, &n1b, 1, 50), 0); /* vv entries beyond the dots */
    roundtrip(&o, &enc);
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.flags, DK_OBJECT_F_ALL_TOMBSTONES | DK_OBJECT_F_HAS_TOMBSTONE);

    dk_object_free(&o);
    dk_buf_free(&enc);
}

static void test_encode_refuses(void)
{
    dk_object o;
    dk_buf enc = DK_BUF_INIT;
    dk_object_init(&o);
    add(&o, "n1", 1, -1, 0, 0, "x");
    CU_ASSERT_EQUAL(dk_object_encode(&o, &enc), -EINVAL);
    o.sib[0].write_time_ms = 1;
    CU_ASSERT_EQUAL(dk_object_encode(&o, &enc), -EINVAL); /* the vv's time is still negative */
    o.vv.e[0].time_ms = 1;
    o.sib[0].flags = DK_SIB_TOMBSTONE; /* a tombstone with a value */
    CU_ASSERT_EQUAL(dk_object_encode(&o, &enc), -EINVAL);
    o.sib[0].flags = 0x4;
    CU_ASSERT_EQUAL(dk_object_encode(&o, &enc), -EINVAL);
    o.sib[0].flags = 0;
    uint8_t *big = calloc(1, DK_VALUE_MAX + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    o.sib[0].value = (dk_slice){big, DK_VALUE_MAX + 1};
    CU_ASSERT_EQUAL(dk_object_encode(&o, &enc), DK_ETOOBIG);
    CU_ASSERT_EQUAL(enc.len, 0);       /* nothing appended on error */
    o.sib[0].value.len = DK_VALUE_MAX; /* the limit itself is fine */
    CU_ASSERT_EQUAL(dk_object_encode(&o, &enc), 0);
    free(big);
    dk_object_free(&o);
    dk_buf_free(&enc);
}

static void sample(dk_object *o)
{
    add(o, "n1", 4, 1000, 0, 0, "value one");
    add(o, "n2", 2, 1100, 0, DK_SIB_TOMBSTONE, NULL);
    add(o, "n3", 9, 1200, 5000, 0, "v3");
}

/* Rewrite header byte off of an encoding and fix its CRC, so that only
 * the header checks can refuse it. */
static void set_header_byte(dk_buf *enc, size_t off, uint8_t v)
{
    enc->data[off] = v;
    uint32_t c = dk_crc32c_extend(0, enc->data, 28);
    c = dk_crc32c_extend(c, enc->data + DK_OBJECT_HEADER_SIZE, enc->len - DK_OBJECT_HEADER_SIZE);
    dk_put_u32(enc->data + 28, dk_crc32c_mask(c));
}

/* Typed objects (version 2): the type round-trips through the header, a
 * plain object is still version 1 byte for byte, and each type has one
 * encoding only. */
static void test_typed(void)
{
    dk_object o, d;
    dk_buf plain = DK_BUF_INIT, typed = DK_BUF_INIT, again = DK_BUF_INIT;
    dk_object_header h;
    char err[128] = "";
    dk_object_init(&o);
    dk_object_init(&d);
    sample(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &plain), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode_typed(&o, DK_OBJECT_PLAIN, &again), 0);
    CU_ASSERT_TRUE(again.len == plain.len && memcmp(again.data, plain.data, plain.len) == 0);
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&plain), &h), 0);
    CU_ASSERT_EQUAL(h.version, DK_OBJECT_VERSION);
    CU_ASSERT_EQUAL(h.type, DK_OBJECT_PLAIN);

    CU_ASSERT_EQUAL_FATAL(dk_object_encode_typed(&o, DK_OBJECT_CRDT, &typed), 0);
    CU_ASSERT_EQUAL(typed.len, plain.len);
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&typed), &h), 0);
    CU_ASSERT_EQUAL(h.version, DK_OBJECT_VERSION_TYPED);
    CU_ASSERT_EQUAL(h.type, DK_OBJECT_CRDT);
    CU_ASSERT_EQUAL(h.n_siblings, 3);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&typed), &d, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(obj_same(&o, &d));
    dk_buf_reset(&again);
    CU_ASSERT_EQUAL(dk_object_encode_typed(&d, h.type, &again), 0);
    CU_ASSERT_TRUE(again.len == typed.len && memcmp(again.data, typed.data, typed.len) == 0);
    int64_t w, e;
    CU_ASSERT_EQUAL(dk_object_record_time(dk_buf_slice(&typed), &w, &e), 0);
    CU_ASSERT_EQUAL(w, 1200);

    dk_buf_reset(&again);
    CU_ASSERT_EQUAL(dk_object_encode_typed(&o, DK_OBJECT_TYPES, &again), -EINVAL);
    CU_ASSERT_EQUAL(dk_object_encode_typed(&o, -1, &again), -EINVAL);
    CU_ASSERT_EQUAL(again.len, 0);

    /* A second encoding of the same object is refused, with a valid CRC. */
    set_header_byte(&plain, 6, DK_OBJECT_CRDT); /* version 1 with a type */
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&plain), &h), DK_ECORRUPT);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&plain), &d, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "at offset 6: reserved bytes not zero");
    set_header_byte(&typed, 6, DK_OBJECT_PLAIN); /* version 2 without one */
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&typed), &d, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "at offset 6: unknown object type");
    set_header_byte(&typed, 6, DK_OBJECT_TYPES); /* a type this build does not know */
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&typed), &h), DK_ECORRUPT);
    set_header_byte(&typed, 6, DK_OBJECT_CRDT);
    set_header_byte(&typed, 7, 1); /* reserved byte */
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&typed), &d, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "at offset 7: reserved bytes not zero");
    set_header_byte(&typed, 7, 0);
    set_header_byte(&typed, 2, 3); /* a later version */
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&typed), &d, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "at offset 2: unsupported format version");
    set_header_byte(&typed, 2, DK_OBJECT_VERSION_TYPED);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&typed), &d, err, sizeof(err)), 0);

    /* Every byte flip of a typed encoding is refused too. */
    unsigned refused = 0;
    for (size_t i = 0; i < typed.len; i++) {
        typed.data[i] ^= 0x01;
        refused += dk_object_decode(dk_buf_slice(&typed), &d, NULL, 0) == DK_ECORRUPT;
        typed.data[i] ^= 0x01;
    }
    CU_ASSERT_EQUAL(refused, typed.len);
    dk_object_free(&d);
    dk_object_free(&o);
    dk_buf_free(&plain);
    dk_buf_free(&typed);
    dk_buf_free(&again);
}

static void test_peek_is_header_only(void)
{
    dk_object o, d;
    dk_buf enc = DK_BUF_INIT;
    dk_object_header h;
    dk_object_init(&o);
    dk_object_init(&d);
    sample(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    /* damage the body: peek still answers from the header, decode refuses */
    enc.data[enc.len - 1] ^= 0x55;
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.n_siblings, 3);
    CU_ASSERT_EQUAL(h.newest_write_ms, 1200);
    char err[128] = "";
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&enc), &d, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "at offset 28: checksum mismatch");
    CU_ASSERT_EQUAL(d.n_sib, 0);
    /* peek refuses what is not an object at all */
    CU_ASSERT_EQUAL(dk_object_peek((dk_slice){(const uint8_t *)"short", 5}, &h), DK_ECORRUPT);
    enc.data[enc.len - 1] ^= 0x55;
    CU_ASSERT_EQUAL(dk_object_peek((dk_slice){enc.data, enc.len - 1}, &h), DK_ECORRUPT);
    enc.data[0] = 'X';
    CU_ASSERT_EQUAL(dk_object_peek(dk_buf_slice(&enc), &h), DK_ECORRUPT);
    dk_object_free(&o);
    dk_buf_free(&enc);
}

static void test_every_byte_flip(void)
{
    dk_object o, d;
    dk_buf enc = DK_BUF_INIT;
    dk_object_init(&o);
    dk_object_init(&d);
    sample(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff, 0x5a};
    unsigned refused = 0, tried = 0;
    char err[128];
    for (size_t i = 0; i < enc.len; i++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            enc.data[i] ^= masks[m];
            err[0] = '\0';
            int rc = dk_object_decode(dk_buf_slice(&enc), &d, err, sizeof(err));
            tried++;
            refused += rc == DK_ECORRUPT && strncmp(err, "at offset ", 10) == 0;
            enc.data[i] ^= masks[m];
        }
    }
    CU_ASSERT_EQUAL(refused, tried);
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&enc), &d, NULL, 0), 0); /* restored */
    dk_object_free(&d);
    dk_object_free(&o);
    dk_buf_free(&enc);
}

static void test_every_truncation(void)
{
    dk_object o, d;
    dk_buf enc = DK_BUF_INIT;
    dk_object_init(&o);
    dk_object_init(&d);
    sample(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    unsigned refused = 0;
    for (size_t n = 0; n < enc.len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc(n ? n : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
        memcpy(cut, enc.data, n);
        refused += dk_object_decode((dk_slice){cut, n}, &d, NULL, 0) == DK_ECORRUPT;
        free(cut);
    }
    CU_ASSERT_EQUAL(refused, enc.len);
    CU_ASSERT_EQUAL(dk_buf_append(&enc, "", 1), 0); /* one trailing byte */
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&enc), &d, NULL, 0), DK_ECORRUPT);
    dk_object_free(&o);
    dk_buf_free(&enc);
}

/* Encode o and run the record callbacks on it. */
static int filter(const dk_object *o, int64_t now, int64_t grace)
{
    dk_buf enc = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(o, &enc), 0);
    int r = dk_object_record_filter(dk_buf_slice(&enc), now, grace);
    dk_buf_free(&enc);
    return r;
}

static void test_record_filter(void)
{
    dk_object o;
    dk_object_init(&o);
    const int64_t grace = 1000;

    add(&o, "n1", 1, 100, 0, 0, "live");
    CU_ASSERT_EQUAL(filter(&o, INT64_MAX, grace), DK_RECORD_KEEP); /* never expires */

    dk_object_free(&o);
    add(&o, "n1", 1, 100, 0, DK_SIB_TOMBSTONE, NULL);
    add(&o, "n2", 1, 300, 0, DK_SIB_TOMBSTONE, NULL);
    CU_ASSERT_EQUAL(filter(&o, 1300, grace), DK_RECORD_KEEP); /* newest + grace == now */
    CU_ASSERT_EQUAL(filter(&o, 1301, grace), DK_RECORD_DROP);
    CU_ASSERT_EQUAL(filter(&o, INT64_MAX, INT64_MAX), DK_RECORD_KEEP); /* no overflow */

    dk_object_free(&o);
    add(&o, "n1", 1, 100, 2000, 0, "ttl");
    add(&o, "n2", 1, 100, 4000, 0, "ttl");
    CU_ASSERT_EQUAL(filter(&o, 3000, 0), DK_RECORD_KEEP);     /* one still alive */
    CU_ASSERT_EQUAL(filter(&o, 4001, 0), DK_RECORD_DROP);     /* all expired, no grace */
    CU_ASSERT_EQUAL(filter(&o, 4001, grace), DK_RECORD_KEEP); /* expired values wait gc_grace */
    CU_ASSERT_EQUAL(filter(&o, 5001, grace), DK_RECORD_DROP);

    add(&o, "n3", 1, 200, 0, 0, "forever");
    CU_ASSERT_EQUAL(filter(&o, INT64_MAX / 2, 0), DK_RECORD_KEEP);

    dk_object_free(&o);
    CU_ASSERT_EQUAL(filter(&o, 5000, grace), DK_RECORD_DROP); /* no siblings: nothing to keep */

    static const uint8_t junk[] = "definitely not an object, but long enough for a header";
    CU_ASSERT_EQUAL(dk_object_record_filter((dk_slice){junk, sizeof(junk)}, INT64_MAX, 0), DK_RECORD_KEEP);
    CU_ASSERT_EQUAL(dk_object_record_filter((dk_slice){NULL, 0}, INT64_MAX, 0), DK_RECORD_KEEP);
}

/* The host's record_filter: gc_grace, then the repair rule (host.h). */
static int host_filter(const dk_host *h, const dk_object *o, int64_t now)
{
    dk_buf enc = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(o, &enc), 0);
    int r = h->record_filter(h, (dk_slice){(const uint8_t *)"k", 1}, dk_buf_slice(&enc), now);
    dk_buf_free(&enc);
    return r;
}

static void test_repair_rule(void)
{
    _Atomic int64_t before;
    atomic_init(&before, 0);
    dk_host_ctx ctx = {.gc_grace_ms = 1000, .log_prefix = "test", .repaired_before_ms = &before};
    dk_host h;
    dk_host_init(&h, &ctx);
    uint64_t kept0 = dk_metrics_get("tombstones_kept_unrepaired_total"),
             purged0 = dk_metrics_get("tombstones_purged_total");
    dk_object o;
    dk_object_init(&o);
    add(&o, "n1", 1, 5000, 0, DK_SIB_TOMBSTONE, NULL); /* a delete written at 5000 */

    /* Past gc_grace, but no exchange since the delete: kept, and counted. */
    CU_ASSERT_EQUAL(host_filter(&h, &o, 100000), DK_RECORD_KEEP);
    atomic_store(&before, 5000); /* an exchange that started with it */
    CU_ASSERT_EQUAL(host_filter(&h, &o, 100000), DK_RECORD_KEEP);
    CU_ASSERT_EQUAL(dk_metrics_get("tombstones_kept_unrepaired_total"), kept0 + 2);
    atomic_store(&before, 5001);                                /* every replica exchanged after it */
    CU_ASSERT_EQUAL(host_filter(&h, &o, 6000), DK_RECORD_KEEP); /* still inside gc_grace */
    CU_ASSERT_EQUAL(host_filter(&h, &o, 6001), DK_RECORD_DROP);
    CU_ASSERT_EQUAL(dk_metrics_get("tombstones_purged_total"), purged0 + 1);
    /* the grace keep is not counted */
    CU_ASSERT_EQUAL(dk_metrics_get("tombstones_kept_unrepaired_total"), kept0 + 2);

    /* Expired values follow the same rule; live values are never touched. */
    dk_object_free(&o);
    add(&o, "n1", 1, 7000, 8000, 0, "ttl");
    CU_ASSERT_EQUAL(host_filter(&h, &o, 100000), DK_RECORD_KEEP);
    atomic_store(&before, 7001);
    CU_ASSERT_EQUAL(host_filter(&h, &o, 100000), DK_RECORD_DROP);
    dk_object_free(&o);
    add(&o, "n1", 1, 1, 0, 0, "live");
    atomic_store(&before, INT64_MAX);
    CU_ASSERT_EQUAL(host_filter(&h, &o, INT64_MAX / 2), DK_RECORD_KEEP);

    /* Without the rule (tools, tests): gc_grace alone. */
    dk_object_free(&o);
    add(&o, "n1", 1, 5000, 0, DK_SIB_TOMBSTONE, NULL);
    ctx.repaired_before_ms = NULL;
    CU_ASSERT_EQUAL(host_filter(&h, &o, 6001), DK_RECORD_DROP);
    dk_object_free(&o);
}

static void test_record_time(void)
{
    dk_object o;
    dk_buf enc = DK_BUF_INIT;
    dk_object_init(&o);
    add(&o, "n1", 1, 1234, 8000, 0, "a");
    add(&o, "n2", 1, 999, 9000, 0, "b");
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    int64_t w = -1, e = -1;
    CU_ASSERT_EQUAL(dk_object_record_time(dk_buf_slice(&enc), &w, &e), 0);
    CU_ASSERT_EQUAL(w, 1234);
    CU_ASSERT_EQUAL(e, 9000);
    add(&o, "n3", 1, 5, 0, DK_SIB_TOMBSTONE, NULL); /* a tombstone never expires */
    dk_buf_reset(&enc);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    CU_ASSERT_EQUAL(dk_object_record_time(dk_buf_slice(&enc), &w, &e), 0);
    CU_ASSERT_EQUAL(e, 0);
    w = e = 77;
    CU_ASSERT_EQUAL(dk_object_record_time((dk_slice){enc.data, 10}, &w, &e), DK_ECORRUPT);
    CU_ASSERT_EQUAL(w, 77);
    dk_object_free(&o);
    dk_buf_free(&enc);
}

/* ---- context tokens ---------------------------------------------------- */

static const uint8_t tkey[DK_CONTEXT_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t tkey2[DK_CONTEXT_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11};

static void test_token_roundtrip(void)
{
    dk_vv v, d;
    dk_buf tok = DK_BUF_INIT;
    char err[160];
    dk_vv_init(&v);
    dk_vv_init(&d);
    for (int k = 0; k < 3; k++) {
        dk_buf_reset(&tok);
        CU_ASSERT_EQUAL_FATAL(dk_context_encode(tkey, &v, &tok), 0);
        CU_ASSERT_EQUAL(strlen((const char *)tok.data), tok.len); /* NUL-terminated */
        CU_ASSERT_EQUAL(strspn((const char *)tok.data,
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                        tok.len);
        CU_ASSERT_EQUAL_FATAL(
            dk_context_decode(tkey, (const char *)tok.data, tok.len, &d, NULL, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL_FATAL(d.n, v.n);
        for (uint32_t i = 0; i < v.n; i++) {
            CU_ASSERT_EQUAL(dk_actor_cmp(&d.e[i].actor, &v.e[i].actor), 0);
            CU_ASSERT_EQUAL(d.e[i].counter, v.e[i].counter);
            CU_ASSERT_EQUAL(d.e[i].time_ms, v.e[i].time_ms);
        }
        dk_actor a = act(k == 0 ? "n1" : k == 1 ? "n2" : "zz", (uint32_t)k + 1);
        CU_ASSERT_EQUAL(dk_vv_set(&v, &a, 1000u * (uint64_t)(k + 1), 1700000000000 + k), 0);
    }
    /* surrounding blanks are ignored; an empty token is the empty context */
    CU_ASSERT_EQUAL(dk_context_decode(tkey, " \t", 2, &d, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(d.n, 0);
    dk_vv_free(&v);
    dk_vv_free(&d);
    dk_buf_free(&tok);
}

static void test_token_garbage(void)
{
    dk_vv v, d;
    dk_buf tok = DK_BUF_INIT;
    char err[160];
    dk_vv_init(&v);
    dk_vv_init(&d);
    dk_actor a = act("n1", 1);
    CU_ASSERT_EQUAL(dk_vv_set(&v, &a, 42, 123456), 0);
    CU_ASSERT_EQUAL_FATAL(dk_context_encode(tkey, &v, &tok), 0);
    /* every truncation and every single-character change is refused */
    unsigned refused = 0;
    for (size_t n = 1; n < tok.len; n++)
        refused += dk_context_decode(tkey, (const char *)tok.data, n, &d, NULL, err, sizeof(err)) != 0;
    CU_ASSERT_EQUAL(refused, tok.len - 1);
    refused = 0;
    for (size_t i = 0; i < tok.len; i++) {
        char save = (char)tok.data[i];
        tok.data[i] = save == 'A' ? 'B' : 'A';
        refused += dk_context_decode(tkey, (const char *)tok.data, tok.len, &d, NULL, err, sizeof(err)) ==
                   DK_ECORRUPT;
        tok.data[i] = (uint8_t)save;
    }
    CU_ASSERT_EQUAL(refused, tok.len);
    CU_ASSERT_EQUAL(d.n, 0); /* left empty on error */

    const char *bad[] = {"!!!!",
                         "AAAA",
                         "AAAAAAAAAAAA",
                         "A",
                         "abc=",
                         "{",
                         "[1,2]",
                         "{\"N1\":1}",
                         "{\"n1\":-1}",
                         "{\"n1\":\"3\"}",
                         "{\"n1\":1.5}",
                         "{\"n1\":1,\"n1\":2}",
                         "{\"n1\":1,\"n1#1\":2}",
                         "{\"n1#0\":1}",
                         "{\"n1\":1} x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int rc = dk_context_decode(tkey, bad[i], strlen(bad[i]), &d, NULL, err, sizeof(err));
        CU_ASSERT_TRUE(rc == DK_ECORRUPT || rc == -EINVAL);
        CU_ASSERT_TRUE(strncmp(err, "context: ", 9) == 0);
    }
    char *huge = malloc(DK_CONTEXT_MAX + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
    memset(huge, 'A', DK_CONTEXT_MAX + 1);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, huge, DK_CONTEXT_MAX + 1, &d, NULL, err, sizeof(err)), -EINVAL);
    free(huge);
    dk_vv_free(&v);
    dk_vv_free(&d);
    dk_buf_free(&tok);
}

static void test_json_forms(void)
{
    dk_vv d;
    dk_buf js = DK_BUF_INIT;
    char err[160];
    dk_vv_init(&d);
    const char *in = " {\"n2#2\": 1, \"n1\": 3, \"n9\": 0} ";
    CU_ASSERT_EQUAL_FATAL(dk_context_decode(tkey, in, strlen(in), &d, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(d.n, 2); /* a zero counter is no entry */
    CU_ASSERT_STRING_EQUAL(d.e[0].actor.node, "n1");
    CU_ASSERT_EQUAL(d.e[0].counter, 3);
    CU_ASSERT_EQUAL(d.e[0].time_ms, 0);
    CU_ASSERT_EQUAL(d.e[1].actor.incarnation, 2);
    CU_ASSERT_EQUAL_FATAL(dk_vv_to_json(&d, &js), 0);
    CU_ASSERT_STRING_EQUAL((const char *)js.data, "{\"n1\":3,\"n2#2\":1}");
    /* what to_json prints, decode reads back */
    dk_vv back;
    dk_vv_init(&back);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, (const char *)js.data, js.len, &back, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(dk_vv_compare(&back, &d), DK_VV_EQUAL);
    dk_buf_reset(&js);
    dk_vv_free(&back);
    CU_ASSERT_EQUAL(dk_vv_to_json(&back, &js), 0);
    CU_ASSERT_STRING_EQUAL((const char *)js.data, "{}");
    dk_vv_free(&d);
    dk_buf_free(&js);
}

/* A token is bound to its key: another cluster's key and an old v1 token
 * (a CRC, no MAC) are refused; a JSON map over the cap is refused. */
static void test_token_mac(void)
{
    dk_vv v, d;
    dk_buf tok = DK_BUF_INIT, raw = DK_BUF_INIT;
    char err[160];
    int is_map = -1;
    dk_vv_init(&v);
    dk_vv_init(&d);
    dk_actor a = act("n1", 1);
    CU_ASSERT_EQUAL(dk_vv_set(&v, &a, 7, 123456), 0);
    CU_ASSERT_EQUAL_FATAL(dk_context_encode(tkey, &v, &tok), 0);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, (const char *)tok.data, tok.len, &d, &is_map, err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(is_map, 0);
    CU_ASSERT_EQUAL(dk_vv_get(&d, &a), 7);
    /* another key: the MAC does not verify */
    CU_ASSERT_EQUAL(dk_context_decode(tkey2, (const char *)tok.data, tok.len, &d, NULL, err, sizeof(err)),
                    DK_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not issued by this cluster"));
    CU_ASSERT_EQUAL(d.n, 0);
    /* a version-1 token (version byte, vv, 4-byte CRC) */
    uint8_t one = 1, crc[4] = {0};
    CU_ASSERT_EQUAL(dk_buf_append(&raw, &one, 1), 0);
    CU_ASSERT_EQUAL(dk_vv_encode(&v, &raw), 0);
    CU_ASSERT_EQUAL(dk_buf_append(&raw, crc, 4), 0);
    dk_buf_reset(&tok);
    CU_ASSERT_EQUAL(dk_base64_encode(raw.data, raw.len, DK_B64_URL, &tok), 0);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, (const char *)tok.data, tok.len, &d, NULL, err, sizeof(err)),
                    DK_ECORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "context from an older version; read the key again");
    /* a token's counters are not capped (the store bounds what a context
     * may advance, store.h): a MACed one past 2^53 decodes as it is */
    CU_ASSERT_EQUAL(dk_vv_set(&v, &a, UINT64_MAX - 1, 1), 0);
    dk_buf_reset(&tok);
    CU_ASSERT_EQUAL_FATAL(dk_context_encode(tkey, &v, &tok), 0);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, (const char *)tok.data, tok.len, &d, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(dk_vv_get(&d, &a), UINT64_MAX - 1);
    /* the JSON form: flagged, and capped at 2^53 - 1 */
    const char *ok = "{\"n1\":9007199254740991}", *big = "{\"n1\":9007199254740992}",
               *huge = "{\"n1\":18446744073709551614}";
    CU_ASSERT_EQUAL(dk_context_decode(tkey, ok, strlen(ok), &d, &is_map, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(is_map, 1);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, big, strlen(big), &d, NULL, err, sizeof(err)), -EINVAL);
    CU_ASSERT_EQUAL(dk_context_decode(tkey, huge, strlen(huge), &d, NULL, err, sizeof(err)), -EINVAL);
    dk_vv_free(&v);
    dk_vv_free(&d);
    dk_buf_free(&tok);
    dk_buf_free(&raw);
}

/* Counters are unsigned 64-bit: above INT64_MAX they still print as the
 * unsigned decimal (jansson's integers are signed), in the object's
 * version map and in each sibling's dot; other numbers print as before. */
static void test_json_unsigned(void)
{
    dk_object o;
    dk_object_init(&o);
    dk_actor a = act("n1", 1), b = act("n2", 3);
    CU_ASSERT_EQUAL(dk_vv_set(&o.vv, &a, UINT64_MAX - 1, 5), 0);
    CU_ASSERT_EQUAL(dk_vv_set(&o.vv, &b, (UINT64_C(1) << 63), 5), 0);
    dk_sibling s1 = {
        .actor = a, .counter = UINT64_MAX - 1, .write_time_ms = 7, .value = {(const uint8_t *)"x", 1}};
    dk_sibling s2 = {
        .actor = b, .counter = UINT64_C(1) << 63, .write_time_ms = 8, .value = {(const uint8_t *)"y", 1}};
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &s1), 0);
    CU_ASSERT_EQUAL(dk_object_add_sibling(&o, &s2), 0);
    json_t *j = json_object();
    CU_ASSERT_EQUAL(dk_json_describe(j, &o, 1), 2);
    json_object_set_new(j, "n", json_integer(-3));
    dk_buf out = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_json_dump(j, &out), 0);
    CU_ASSERT_EQUAL_FATAL(dk_buf_append(&out, "", 1), 0);
    const char *txt = (const char *)out.data;
    CU_ASSERT_PTR_NOT_NULL(
        strstr(txt, "\"version\":{\"n1\":18446744073709551614,\"n2#3\":9223372036854775808}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "\"version\":{\"n1\":18446744073709551614},\"timestamp\":7"));
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "\"version\":{\"n2#3\":9223372036854775808},\"timestamp\":8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "\"n\":-3"));
    CU_ASSERT_PTR_NULL(strstr(txt, ":-9"));
    /* still valid JSON that jansson reads back (as a real: out of its range) */
    json_error_t e;
    json_t *back = json_loads(txt, JSON_DECODE_INT_AS_REAL, &e);
    CU_ASSERT_PTR_NOT_NULL(back);
    json_decref(back);
    json_decref(j);
    dk_buf_free(&out);
    dk_object_free(&o);
}

/* The decode for bytes an engine verified: the same object, no CRC over
 * the value (a value byte changed after encoding still decodes, to the
 * changed value), every structural check kept (header, lengths). */
/* Every prefix of an encoding: dk_object_decode_head gives the whole
 * object's version fields or says it cannot; a value it keeps is the
 * value, one it leaves out has its length and no bytes. */
static void test_decode_head(void)
{
    dk_object o, whole, h;
    dk_buf enc = DK_BUF_INIT;
    dk_object_init(&o);
    dk_object_init(&whole);
    dk_object_init(&h);
    add(&o, "n1", 4, 1000, 0, 0, "a value long enough to be cut in the middle");
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(&enc), &whole, NULL, 0), 0);
    int decided = 0, cut_values = 0;
    for (size_t n = 0; n <= enc.len; n++) {
        dk_object_header ph;
        CU_ASSERT_EQUAL(dk_object_peek_head((dk_slice){enc.data, n}, &ph) == 0, n >= DK_OBJECT_HEADER_SIZE);
        if (dk_object_decode_head((dk_slice){enc.data, n}, &h) != 0) {
            CU_ASSERT_EQUAL(h.n_sib, 0);
            continue;
        }
        decided++;
        CU_ASSERT_EQUAL_FATAL(h.n_sib, 1);
        CU_ASSERT(dk_vv_compare(&h.vv, &whole.vv) == DK_VV_EQUAL);
        const dk_sibling *a = &h.sib[0], *b = &whole.sib[0];
        CU_ASSERT(dk_actor_cmp(&a->actor, &b->actor) == 0 && a->counter == b->counter &&
                  a->write_time_ms == b->write_time_ms && a->value.len == b->value.len);
        if (a->value.ptr) {
            CU_ASSERT(n == enc.len && memcmp(a->value.ptr, b->value.ptr, b->value.len) == 0);
        } else {
            cut_values++;
        }
    }
    /* From the end of the sibling's fields on, every prefix decodes. */
    CU_ASSERT_EQUAL(decided, (int)whole.sib[0].value.len + 1);
    CU_ASSERT_EQUAL(cut_values, (int)whole.sib[0].value.len);
    /* The header's length must not fall short of the bytes. */
    dk_buf_append(&enc, "x", 1);
    CU_ASSERT_NOT_EQUAL(dk_object_decode_head(dk_buf_slice(&enc), &h), 0);
    enc.len--;
    /* Three siblings: a prefix that cuts the first value does not hold
     * the others' fields; one that cuts only the last value does. */
    dk_object_free(&o);
    dk_object_init(&o);
    sample(&o);
    dk_buf_reset(&enc);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    const uint8_t *first = memmem(enc.data, enc.len, "value one", 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_NOT_EQUAL(dk_object_decode_head((dk_slice){enc.data, (size_t)(first - enc.data) + 3}, &h), 0);
    CU_ASSERT_EQUAL(dk_object_decode_head((dk_slice){enc.data, enc.len - 1}, &h), 0);
    CU_ASSERT(h.n_sib == 3 && h.sib[0].value.ptr && !h.sib[2].value.ptr && h.sib[2].value.len == 2);
    CU_ASSERT_EQUAL(dk_object_decode_head(dk_buf_slice(&enc), &h), 0);
    CU_ASSERT_EQUAL(h.n_sib, 3);
    dk_object_free(&o);
    dk_object_free(&whole);
    dk_object_free(&h);
    dk_buf_free(&enc);
}

static void test_decode_verified(void)
{
    dk_object o, d;
    dk_buf enc = DK_BUF_INIT;
    char err[128] = "";
    dk_object_init(&o);
    dk_object_init(&d);
    sample(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_encode(&o, &enc), 0);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode_verified(dk_buf_slice(&enc), &d, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(d.n_sib, 3);
    CU_ASSERT_TRUE(d.sib[0].value.len == 9 && !memcmp(d.sib[0].value.ptr, "value one", 9));
    enc.data[enc.len - 1] ^= 0x01; /* the last value's last byte */
    CU_ASSERT_EQUAL(dk_object_decode(dk_buf_slice(&enc), &d, NULL, 0), DK_ECORRUPT);
    CU_ASSERT_EQUAL(dk_object_decode_verified(dk_buf_slice(&enc), &d, NULL, 0), 0);
    enc.data[enc.len - 1] ^= 0x01;
    CU_ASSERT_EQUAL(dk_object_decode_verified((dk_slice){enc.data, enc.len - 1}, &d, err, sizeof(err)),
                    DK_ECORRUPT);
    CU_ASSERT_EQUAL(d.n_sib, 0);
    enc.data[0] ^= 0xff;
    CU_ASSERT_EQUAL(dk_object_decode_verified(dk_buf_slice(&enc), &d, NULL, 0), DK_ECORRUPT);
    dk_object_free(&o);
    dk_object_free(&d);
    dk_buf_free(&enc);
}

static CU_TestInfo object_tests[] = {
    {"decode of verified bytes: no CRC, every other check", test_decode_verified},
    {"decode of a head: version fields from every long enough prefix", test_decode_head},
    {"round trip: 0, 1, many siblings, tombstones, expiry", test_roundtrip},
    {"encode refuses invalid objects", test_encode_refuses},
    {"typed objects: version 2, one encoding per type", test_typed},
    {"peek reads only the header", test_peek_is_header_only},
    {"every single-byte corruption is refused", test_every_byte_flip},
    {"every truncation is refused", test_every_truncation},
    {"record_filter", test_record_filter},
    {"record_filter with the repair rule", test_repair_rule},
    {"record_time", test_record_time},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo context_tests[] = {
    {"token round trip", test_token_roundtrip},
    {"garbage tokens refused", test_token_garbage},
    {"JSON version map", test_json_forms},
    {"token MAC: other key, v1 token; map counter cap", test_token_mac},
    {"JSON: counters print unsigned", test_json_unsigned},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "object", .pTests = object_tests},
    {.pName = "context", .pTests = context_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
