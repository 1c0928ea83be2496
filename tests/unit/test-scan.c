/*
 * test-scan.c - the two halves of a cluster prefix scan without a network
 * (coord/coord_scan.h): a node's part (dk__scan_local: prefix, cursor,
 * token spans, limit, dead objects, byte and frame caps) and the
 * coordinator's merge (dk__scan_merge: the bound set by answers that
 * stopped early, reconciliation of duplicates, the cursor), on two real
 * nodes (memory engine, vclock resolver) in temporary folders.
 *
 * The protocol test pages through two nodes that split the token circle
 * between them, with small limits, and checks the union is exactly the
 * live keys, in order, once; the R = 2 test checks that a newer version or
 * a delete seen by one reader wins over the other reader's stale copy.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_scan.h"
#include "base/log.h"
#include "node/node.h"
#include "node/object.h"
#include "node/store.h"
#include "ring/ring.h"
#include "util/vv.h"

#define S(lit) ((dk_slice){(const uint8_t *)(lit), sizeof(lit) - 1})
#define KEYS 40

typedef struct tnode {
    char dir[64];
    dk_config cfg;
    dk_node node;
} tnode;

static tnode nodes[2];
static int64_t now;
static dk_buf spans_buf; /* the spans part() sends (set_spans) */

static int node_open(tnode *n, const char *id)
{
    char err[512];
    memset(n, 0, sizeof(*n));
    snprintf(n->dir, sizeof(n->dir), "/tmp/dk-scan-XXXXXX");
    if (!mkdtemp(n->dir))
        return -1;
    dk_config_defaults(&n->cfg);
    snprintf(n->cfg.node.id, sizeof(n->cfg.node.id), "%s", id);
    snprintf(n->cfg.node.data_dir, sizeof(n->cfg.node.data_dir), "%s", n->dir);
    snprintf(n->cfg.storage.engine, sizeof(n->cfg.storage.engine), "memory");
    const char *pd = getenv("DYNKV_PLUGIN_PATH");
    snprintf(n->cfg.storage.plugin_dir, sizeof(n->cfg.storage.plugin_dir), "%s", pd ? pd : "");
    n->cfg.storage.sync = 0;
    if (dk_node_open(&n->node, &n->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "node %s: %s\n", id, err);
        return -1;
    }
    return 0;
}

/* Suite clean-up (no CUnit assertions outside tests). */
static int node_close(tnode *n)
{
    dk_node_close(&n->node);
    dk_config_free(&n->cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int suite_init(void)
{
    dk_log_set_level(DK_LOG_WARN);
    now = dk_now_ms();
    return node_open(&nodes[0], "n0") || node_open(&nodes[1], "n1");
}

static int suite_clean(void)
{
    dk_buf_free(&spans_buf);
    int a = node_close(&nodes[0]), b = node_close(&nodes[1]);
    return a || b;
}

/* Write into a node's store; the new encoding goes to raw (may be NULL),
 * the new context to ctx (may be NULL). */
static void wr(int node, const char *key, const char *value, const dk_vv *context, int tombstone,
               int64_t ttl_ms, dk_buf *raw, dk_vv *ctx)
{
    dk_store_write w = {
        .key = {(const uint8_t *)key, strlen(key)},
        .value = {(const uint8_t *)value, value ? strlen(value) : 0},
        .tombstone = tombstone,
        .context = context,
        .ttl_ms = ttl_ms,
    };
    dk_buf r = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    CU_ASSERT_EQUAL_FATAL(dk_store_write_local(nodes[node].node.store, &w, now, &r, &o), 0);
    if (ctx)
        CU_ASSERT_EQUAL(dk_vv_copy(ctx, &o.vv), 0);
    if (raw) {
        dk_buf_reset(raw);
        CU_ASSERT_EQUAL(dk_buf_append(raw, r.data, r.len), 0);
    }
    dk_object_free(&o);
    dk_buf_free(&r);
}

/* Copy key's stored object from one node to the other (replication). */
static void replicate(int from, int to, const char *key)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object o;
    dk_object_init(&o);
    dk_slice k = {(const uint8_t *)key, strlen(key)};
    CU_ASSERT_EQUAL_FATAL(dk_store_get(nodes[from].node.store, k, &raw, &o), 0);
    int changed;
    CU_ASSERT_EQUAL(dk_store_merge(nodes[to].node.store, k, dk_buf_slice(&raw), &changed), 0);
    dk_object_free(&o);
    dk_buf_free(&raw);
}

/* The part of node for prefix/after/limit/flags over spans; decoded into m. */

static void set_spans(const dk_msg_scan_span *s, size_t n)
{
    dk_buf_reset(&spans_buf);
    for (size_t i = 0; i < n; i++) {
        uint8_t raw[DK_SCAN_SPAN_LEN];
        dk_msg_scan_span_put(raw, &s[i]);
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&spans_buf, raw, sizeof(raw)), 0);
    }
}

static const dk_msg_scan_span WHOLE = {0, 0, 0, 0};
/* The circle split in two at 2^127: LOW = (0, 2^127], HIGH wraps. */
static const dk_msg_scan_span LOW = {0, 0, 1ull << 63, 0};
static const dk_msg_scan_span HIGH = {1ull << 63, 0, 0, 0};

static void part(int node, const char *prefix, const char *after, uint32_t limit, uint32_t flags,
                 uint32_t max_bytes, size_t frame_cap, int64_t at, dk_buf *out, dk_msg_scan_result *m)
{
    dk_msg_scan_range q = {
        .prefix = {(const uint8_t *)prefix, strlen(prefix)},
        .after = {(const uint8_t *)after, after ? strlen(after) : 0},
        .limit = limit,
        .flags = flags,
        .max_bytes = max_bytes,
        .n_spans = (uint32_t)(spans_buf.len / DK_SCAN_SPAN_LEN),
        .spans = dk_buf_slice(&spans_buf),
    };
    dk_buf_reset(out);
    CU_ASSERT_EQUAL_FATAL(dk__scan_local(nodes[node].node.store, &q, frame_cap, at, out), 0);
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_decode(dk_buf_slice(out), m), 0);
}

/* The keys of an answer, joined with spaces, into buf. */
static const char *keys_of(const dk_msg_scan_result *m, char *buf, size_t len)
{
    dk_msg_scan_iter it;
    dk_slice k, o;
    size_t n = 0;
    buf[0] = 0;
    dk_msg_scan_iter_init(&it, m);
    while (dk_msg_scan_iter_next(&it, &k, &o) && n + k.len + 2 < len) {
        n += (size_t)snprintf(buf + n, len - n, "%s%.*s", n ? " " : "", (int)k.len, (const char *)k.ptr);
    }
    return buf;
}

static int in_low(const char *key)
{
    dk_token t = dk_ring_key_token(key, strlen(key));
    return dk_token_in_range(t, (dk_token){LOW.start_hi, LOW.start_lo}, (dk_token){LOW.end_hi, LOW.end_lo});
}

/* ---- a node's part --------------------------------------------------------------- */

static void fill_local(void)
{
    char key[32], val[32];
    dk_vv ctx;
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "p/%02d", i);
        snprintf(val, sizeof(val), "v%02d", i);
        dk_vv_init(&ctx);
        wr(0, key, val, NULL, 0, i % 10 == 7 ? 1000 : 0, NULL, &ctx); /* 7, 17, ... expire in 1 s */
        if (i % 10 == 3)
            wr(0, key, NULL, &ctx, 1, 0, NULL, NULL); /* 3, 13, ... deleted */
        dk_vv_free(&ctx);
    }
    wr(0, "p", "shorter", NULL, 0, 0, NULL, NULL);
    wr(0, "p0", "outside", NULL, 0, 0, NULL, NULL);
    wr(0, "o/1", "outside", NULL, 0, 0, NULL, NULL);
    wr(0, "q/1", "outside", NULL, 0, 0, NULL, NULL);
}

static void test_local_part(void)
{
    fill_local();
    dk_buf out = DK_BUF_INIT;
    dk_msg_scan_result m;
    char got[2048];
    int64_t later = now + 5000; /* the TTL keys have expired by then */

    set_spans(&WHOLE, 1);
    part(0, "p/", NULL, 100, 0, 1 << 20, 0, now, &out, &m);
    CU_ASSERT_EQUAL(m.flags, 0);
    CU_ASSERT_EQUAL(m.n, KEYS - 4); /* 3, 13, 23, 33 deleted */
    part(0, "p/", NULL, 100, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_EQUAL(m.n, KEYS - 8);
    part(0, "p/", NULL, 5, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/00 p/01 p/02 p/04 p/05");
    CU_ASSERT_EQUAL(m.flags, DK_SCAN_MORE);
    part(0, "p/", "p/05", 4, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/06 p/08 p/09 p/10");
    part(0, "p/", "p/35", 4, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/36 p/38 p/39");
    CU_ASSERT_EQUAL(m.flags, 0);
    part(0, "p/", "p/39", 4, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT(m.n == 0 && m.flags == 0);
    part(0, "p/", "a", 2, 0, 1 << 20, 0, later, &out, &m); /* a cursor before the prefix */
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/00 p/01");
    part(0, "p/", "z", 2, 0, 1 << 20, 0, later, &out, &m); /* and after it */
    CU_ASSERT(m.n == 0 && m.flags == 0);
    part(0, "", NULL, 100, 0, 1 << 20, 0, later, &out, &m); /* no prefix: every key */
    CU_ASSERT_EQUAL(m.n, KEYS - 8 + 4);

    /* Dead objects listed too, counted only when live. */
    part(0, "p/", "p/02", 2, DK_SCAN_WITH_DEAD, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/03 p/04 p/05");
    CU_ASSERT_EQUAL(m.flags, DK_SCAN_MORE);
    part(0, "p/", "p/05", 2, DK_SCAN_WITH_DEAD, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/06 p/07 p/08");
    CU_ASSERT_EQUAL(m.flags, DK_SCAN_MORE);
    part(0, "p/", "p/35", 9, DK_SCAN_WITH_DEAD, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), "p/36 p/37 p/38 p/39");
    CU_ASSERT_EQUAL(m.flags, 0);

    /* Byte cap: the first entry always goes in; frame cap: a key whose
     * object cannot travel goes in without it. */
    part(0, "p/", NULL, 100, 0, 1, 0, later, &out, &m);
    CU_ASSERT(m.n == 1 && m.flags == DK_SCAN_MORE);
    part(0, "p/", NULL, 3, 0, 1 << 20, 16, later, &out, &m);
    CU_ASSERT_EQUAL(m.n, 3);
    dk_msg_scan_iter it;
    dk_slice k, o;
    dk_msg_scan_iter_init(&it, &m);
    while (dk_msg_scan_iter_next(&it, &k, &o))
        CU_ASSERT_EQUAL(o.len, 0);

    /* Spans: the two halves of the circle split the keys between them. */
    char all[2048], want_low[2048] = "", want_high[2048] = "";
    set_spans(&WHOLE, 1);
    part(0, "p/", NULL, 100, 0, 1 << 20, 0, later, &out, &m);
    keys_of(&m, all, sizeof(all));
    for (char *save = NULL, *t = strtok_r(all, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *w = in_low(t) ? want_low : want_high;
        snprintf(w + strlen(w), sizeof(want_low) - strlen(w), "%s%s", *w ? " " : "", t);
    }
    CU_ASSERT(want_low[0] && want_high[0]);
    set_spans(&LOW, 1);
    part(0, "p/", NULL, 100, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), want_low);
    set_spans(&HIGH, 1);
    part(0, "p/", NULL, 100, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_STRING_EQUAL(keys_of(&m, got, sizeof(got)), want_high);
    dk_msg_scan_span both[2] = {HIGH, LOW}; /* the wrapping span first */
    both[0].end_hi = 1;                     /* HIGH up to (1, 0]; LOW from (1, 0] */
    both[1].start_hi = 1;
    set_spans(both, 2);
    part(0, "p/", NULL, 100, 0, 1 << 20, 0, later, &out, &m);
    CU_ASSERT_EQUAL(m.n, KEYS - 8);
    dk_buf_free(&out);
}

/* ---- the merge ---------------------------------------------------------------- */

static dk_coord_scan_page *page_new(void)
{
    dk_coord_scan_page *pg = calloc(1, sizeof(*pg));
    dk_buf_init(&pg->data);
    return pg;
}

/* Merge answers to parts asked with flags. */
static int merge_f(dk_buf *parts, size_t n, uint32_t limit, uint32_t flags, int64_t at,
                   dk_coord_scan_page *pg)
{
    dk_slice s[4];
    for (size_t i = 0; i < n; i++)
        s[i] = dk_buf_slice(&parts[i]);
    const dk_node *nd = &nodes[0].node;
    return dk__scan_merge(s, n, limit, flags, at, &nd->resolvers, pg);
}

static int merge(dk_buf *parts, size_t n, uint32_t limit, int64_t at, dk_coord_scan_page *pg)
{
    return merge_f(parts, n, limit, DK_SCAN_WITH_DEAD, at, pg);
}

static const char *page_keys(const dk_coord_scan_page *pg, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < pg->n_pairs && n + pg->pairs[i].key.len + 2 < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%.*s", n ? " " : "", (int)pg->pairs[i].key.len,
                              (const char *)pg->pairs[i].key.ptr);
    return buf;
}

/* A hand-made answer of keys (space-separated), each with obj. */
static void answer(dk_buf *b, const char *keys, dk_slice obj, int more)
{
    size_t at;
    char tmp[256];
    dk_buf_reset(b);
    CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_start(b, &at), 0);
    snprintf(tmp, sizeof(tmp), "%s", keys);
    for (char *save = NULL, *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save))
        CU_ASSERT_EQUAL_FATAL(dk_msg_scan_result_add(b, at, (dk_slice){(const uint8_t *)t, strlen(t)}, obj),
                              0);
    if (more)
        dk_msg_scan_result_more(b, at);
}

static void test_merge_bound(void)
{
    dk_buf obj = DK_BUF_INIT, parts[2] = {DK_BUF_INIT, DK_BUF_INIT};
    char got[512];
    wr(1, "x", "plain", NULL, 0, 0, &obj, NULL);
    answer(&parts[0], "a1 a3 a5", dk_buf_slice(&obj), 1);
    answer(&parts[1], "a2 a4 a6 a7", dk_buf_slice(&obj), 0);

    dk_coord_scan_page *pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 2, 10, now, pg), 0);
    CU_ASSERT_STRING_EQUAL(page_keys(pg, got, sizeof(got)), "a1 a2 a3 a4 a5");
    CU_ASSERT(pg->more && pg->cursor_len == 2 && memcmp(pg->cursor, "a5", 2) == 0);
    CU_ASSERT(pg->pairs[0].object.len == obj.len && memcmp(pg->pairs[0].object.ptr, obj.data, obj.len) == 0);
    dk_coord_scan_page_free(pg);

    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 2, 2, now, pg), 0);
    CU_ASSERT_STRING_EQUAL(page_keys(pg, got, sizeof(got)), "a1 a2");
    CU_ASSERT(pg->more && pg->cursor_len == 2 && memcmp(pg->cursor, "a2", 2) == 0);
    dk_coord_scan_page_free(pg);

    /* Nobody stopped early: the page ends the scan unless it is full. */
    answer(&parts[0], "a1 a3", dk_buf_slice(&obj), 0);
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 2, 10, now, pg), 0);
    CU_ASSERT_STRING_EQUAL(page_keys(pg, got, sizeof(got)), "a1 a2 a3 a4 a6 a7");
    CU_ASSERT_EQUAL(pg->more, 0);
    dk_coord_scan_page_free(pg);
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 2, 6, now, pg), 0);
    CU_ASSERT_EQUAL(pg->n_pairs, 6);
    CU_ASSERT_EQUAL(pg->more, 0);
    dk_coord_scan_page_free(pg);
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 2, 5, now, pg), 0);
    CU_ASSERT(pg->more && pg->cursor_len == 2 && memcmp(pg->cursor, "a6", 2) == 0);
    dk_coord_scan_page_free(pg);

    /* No answers at all; an object too large for a frame. */
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 0, 10, now, pg), 0);
    CU_ASSERT(pg->n_pairs == 0 && pg->more == 0);
    dk_coord_scan_page_free(pg);
    answer(&parts[0], "big", (dk_slice){NULL, 0}, 0);
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 1, 10, now, pg), 0);
    CU_ASSERT(pg->n_pairs == 1 && pg->pairs[0].object.len == 0);
    dk_coord_scan_page_free(pg);
    /* A copy that does not decode is skipped, not fatal. */
    answer(&parts[0], "bad", S("not an object"), 0);
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 1, 10, now, pg), 0);
    CU_ASSERT_EQUAL(pg->n_pairs, 0);
    dk_coord_scan_page_free(pg);
    /* Live-only answers: one copy is listed as its node sent it; with
     * dead ones, an expired copy is not. */
    dk_buf expired = DK_BUF_INIT;
    wr(1, "y", "short", NULL, 0, 1, &expired, NULL);
    answer(&parts[0], "y", dk_buf_slice(&expired), 0);
    pg = page_new();
    CU_ASSERT_EQUAL(merge_f(parts, 1, 10, 0, now + 1000, pg), 0);
    CU_ASSERT(pg->n_pairs == 1 && pg->pairs[0].object.len == expired.len);
    dk_coord_scan_page_free(pg);
    pg = page_new();
    CU_ASSERT_EQUAL(merge(parts, 1, 10, now + 1000, pg), 0);
    CU_ASSERT_EQUAL(pg->n_pairs, 0);
    dk_coord_scan_page_free(pg);
    dk_buf_free(&expired);

    dk_buf_free(&obj);
    dk_buf_free(&parts[0]);
    dk_buf_free(&parts[1]);
}

/* Two readers of the same key: the newer version and a delete win. */
static void test_merge_reconciles(void)
{
    dk_vv c1, c2;
    dk_vv_init(&c1);
    dk_vv_init(&c2);
    wr(0, "r/newer", "old", NULL, 0, 0, NULL, &c1);
    replicate(0, 1, "r/newer");
    wr(1, "r/newer", "new", &c1, 0, 0, NULL, NULL); /* n1 only has the new one */
    wr(0, "r/deleted", "old", NULL, 0, 0, NULL, &c2);
    replicate(0, 1, "r/deleted");
    wr(0, "r/deleted", NULL, &c2, 1, 0, NULL, NULL); /* n0 only saw the delete */
    wr(0, "r/sib", "a", NULL, 0, 0, NULL, NULL);
    wr(1, "r/sib", "b", NULL, 0, 0, NULL, NULL); /* concurrent: siblings */
    wr(1, "r/only1", "x", NULL, 0, 0, NULL, NULL);
    dk_vv_free(&c1);
    dk_vv_free(&c2);

    dk_buf parts[2] = {DK_BUF_INIT, DK_BUF_INIT};
    dk_msg_scan_result m;
    char got[512];
    set_spans(&WHOLE, 1);
    part(0, "r/", NULL, 10, DK_SCAN_WITH_DEAD, 1 << 20, 0, now, &parts[0], &m);
    part(1, "r/", NULL, 10, DK_SCAN_WITH_DEAD, 1 << 20, 0, now, &parts[1], &m);
    dk_coord_scan_page *pg = page_new();
    CU_ASSERT_EQUAL_FATAL(merge(parts, 2, 10, now, pg), 0);
    CU_ASSERT_STRING_EQUAL(page_keys(pg, got, sizeof(got)), "r/newer r/only1 r/sib");
    CU_ASSERT_EQUAL(pg->more, 0);
    for (size_t i = 0; i < pg->n_pairs; i++) {
        dk_object o;
        dk_object_init(&o);
        CU_ASSERT_EQUAL_FATAL(dk_object_decode(pg->pairs[i].object, &o, NULL, 0), 0);
        int live = dk_object_live_count(&o, now);
        if (i == 0)
            CU_ASSERT(live == 1 && o.n_sib == 1 && o.sib[0].value.len == 3 &&
                      !memcmp(o.sib[0].value.ptr, "new", 3));
        if (i == 2)
            CU_ASSERT_EQUAL(live, 2);
        dk_object_free(&o);
    }
    dk_coord_scan_page_free(pg);
    /* Without the dead copies n1's stale value would come back. */
    part(0, "r/", NULL, 10, 0, 1 << 20, 0, now, &parts[0], &m);
    part(1, "r/", NULL, 10, 0, 1 << 20, 0, now, &parts[1], &m);
    pg = page_new();
    CU_ASSERT_EQUAL_FATAL(merge(parts, 2, 10, now, pg), 0);
    CU_ASSERT_STRING_EQUAL(page_keys(pg, got, sizeof(got)), "r/deleted r/newer r/only1 r/sib");
    dk_coord_scan_page_free(pg);
    dk_buf_free(&parts[0]);
    dk_buf_free(&parts[1]);
}

/* The protocol on two nodes holding the same keys, each reading one half
 * of the circle: paging with small limits yields every live key once. */
static void test_pages_cover_exactly(void)
{
    char key[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "e/%02d", i);
        wr(0, key, "v", NULL, 0, 0, NULL, NULL);
        replicate(0, 1, key);
    }
    for (uint32_t limit = 1; limit <= 9; limit += 4) {
        char cursor[DK_KEY_MAX + 1] = "", got[4096] = "";
        int pages = 0, more = 1;
        while (more && pages < 100) {
            dk_buf parts[2] = {DK_BUF_INIT, DK_BUF_INIT};
            dk_msg_scan_result m;
            set_spans(&LOW, 1);
            part(0, "e/", cursor[0] ? cursor : NULL, limit, 0, 1 << 20, 0, now, &parts[0], &m);
            set_spans(&HIGH, 1);
            part(1, "e/", cursor[0] ? cursor : NULL, limit, 0, 1 << 20, 0, now, &parts[1], &m);
            dk_coord_scan_page *pg = page_new();
            CU_ASSERT_EQUAL_FATAL(merge_f(parts, 2, limit, 0, now, pg), 0);
            CU_ASSERT(pg->n_pairs <= limit);
            for (size_t i = 0; i < pg->n_pairs; i++)
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%.*s", got[0] ? " " : "",
                         (int)pg->pairs[i].key.len, (const char *)pg->pairs[i].key.ptr);
            more = pg->more;
            snprintf(cursor, sizeof(cursor), "%.*s", (int)pg->cursor_len, (const char *)pg->cursor);
            pages++;
            dk_coord_scan_page_free(pg);
            dk_buf_free(&parts[0]);
            dk_buf_free(&parts[1]);
        }
        char want[4096] = "";
        for (int i = 0; i < KEYS; i++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%se/%02d", i ? " " : "", i);
        CU_ASSERT_STRING_EQUAL(got, want);
        CU_ASSERT(pages >= (int)((KEYS + limit - 1) / limit));
    }
}

static CU_TestInfo scan_tests[] = {
    {"a node's part: prefix, cursor, limit, dead, caps, spans", test_local_part},
    {"merge: bound, cursor, too large, undecodable", test_merge_bound},
    {"merge: a newer version and a delete win over stale copies", test_merge_reconciles},
    {"two nodes splitting the circle: pages cover every key once", test_pages_cover_exactly},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "scan", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = scan_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
