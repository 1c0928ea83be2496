/*
 * scan_merge.c - turn the nodes' answers to one scan page into the page:
 * the k-way merge by key, the bound set by answers that stopped early, the
 * reconciliation of duplicates and the cursor (rule and proof in
 * coord_scan.h).
 *
 * How: every entry at or below the bound is collected as a reference into
 * its answer and the references are sorted by (key, answer). Sorting the
 * union rather than walking the answers with a heap keeps the code short;
 * the inputs are bounded by the answers' byte budgets, and sorting a few
 * thousand references costs less than decoding their objects. A run of
 * equal keys is one key seen by several readers: its objects are decoded
 * and folded with the resolvers' merge (as coord_read.c does), and the
 * result is listed when it is live at now_ms. A single copy is listed as
 * it came, without re-encoding, and without decoding when the nodes were
 * asked for live objects only (they checked).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_scan.h"
#include "base/log.h"
#include "node/object.h"
#include "node/resolve.h"
#include "node/store.h"
#include "util/vv.h"

typedef struct merge_ref {
    dk_slice key, obj;
    uint32_t part;
} merge_ref;

typedef struct merge_out {
    size_t key_off, key_len, obj_off, obj_len;
} merge_out;

static int merge_ref_cmp(const void *a, const void *b)
{
    const merge_ref *x = a, *y = b;
    int c = dk_msg_scan_key_cmp(x->key, y->key);
    if (c)
        return c;
    return x->part < y->part ? -1 : x->part > y->part;
}

/* Fold the objects of refs[0..n) into out (encoded; empty when no copy
 * decodes). *live tells whether the result has a live sibling at now. A
 * copy that does not decode is skipped with a log line, as the store's own
 * scan skips one: the other copies still count. */
static int merge_fold(const merge_ref *refs, size_t n, int64_t now, const dk_resolvers *rs, dk_buf *out,
                      int *live)
{
    dk_object acc, obj;
    dk_object_init(&acc);
    dk_object_init(&obj);
    dk_buf acc_raw = DK_BUF_INIT, next = DK_BUF_INIT;
    int rc = 0;
    size_t have = 0;
    char err[160];
    for (size_t i = 0; i < n && rc == 0; i++) {
        dk_object *dst = have ? &obj : &acc;
        if (dk_object_decode(refs[i].obj, dst, err, sizeof(err)) != 0) {
            dk_log(DK_LOG_ERROR, "scan: skipping an unreadable copy of a key: %s", err);
            continue;
        }
        if (have++ == 0) {
            rc = dk_buf_append(&acc_raw, refs[i].obj.ptr, refs[i].obj.len);
            continue;
        }
        rc = dk_resolve_merge(rs, dk_buf_slice(&acc_raw), &acc, refs[i].obj, &obj, &next);
        if (rc == 0) {
            dk_buf tmp = acc_raw;
            acc_raw = next;
            next = tmp;
            rc = dk_object_decode(dk_buf_slice(&acc_raw), &acc, NULL, 0);
        }
    }
    dk_buf_reset(out);
    *live = 0;
    if (rc == 0 && have) {
        *live = dk_store_is_live(&acc, now);
        rc = dk_buf_append(out, acc_raw.data, acc_raw.len);
    }
    dk_object_free(&acc);
    dk_object_free(&obj);
    dk_buf_free(&acc_raw);
    dk_buf_free(&next);
    return rc;
}

static int merge_emit(dk_coord_scan_page *page, merge_out **outs, size_t *cap, dk_slice key, dk_slice obj)
{
    if (page->n_pairs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        merge_out *p = realloc(*outs, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        *outs = p;
        *cap = ncap;
    }
    merge_out *o = &(*outs)[page->n_pairs];
    o->key_off = page->data.len;
    o->key_len = key.len;
    int rc = dk_buf_append(&page->data, key.ptr, key.len);
    o->obj_off = page->data.len;
    o->obj_len = obj.len;
    if (rc == 0)
        rc = dk_buf_append(&page->data, obj.ptr, obj.len);
    if (rc == 0)
        page->n_pairs++;
    return rc;
}

static int merge_pairs(dk_coord_scan_page *page, merge_out *outs)
{
    if (page->n_pairs == 0)
        return 0;
    page->pairs = calloc(page->n_pairs, sizeof(*page->pairs));
    if (!page->pairs)
        return -ENOMEM;
    for (size_t i = 0; i < page->n_pairs; i++) {
        page->pairs[i].key = (dk_slice){page->data.data + outs[i].key_off, outs[i].key_len};
        page->pairs[i].object = (dk_slice){page->data.data + outs[i].obj_off, outs[i].obj_len};
    }
    return 0;
}

int dk__scan_merge(const dk_slice *parts, size_t n, uint32_t limit, uint32_t flags, int64_t now_ms,
                   const dk_resolvers *rs, dk_coord_scan_page *page)
{
    dk_msg_scan_result *m = calloc(n ? n : 1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    page->now_ms = now_ms;
    page->more = 0;
    page->cursor_len = 0;
    int rc = 0, bounded = 0;
    dk_slice bound = {NULL, 0};
    size_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = dk_msg_scan_result_decode(parts[i], &m[i]);
        if (rc == 0 && (m[i].flags & DK_SCAN_MORE) &&
            (!bounded || dk_msg_scan_key_cmp(m[i].last_key, bound) < 0)) {
            bound = m[i].last_key;
            bounded = 1;
        }
        total += m[i].n;
    }
    merge_ref *refs = rc == 0 ? malloc((total ? total : 1) * sizeof(*refs)) : NULL;
    if (rc == 0 && !refs)
        rc = -ENOMEM;
    size_t nr = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        dk_msg_scan_iter it;
        dk_slice k, o;
        dk_msg_scan_iter_init(&it, &m[i]);
        while (dk_msg_scan_iter_next(&it, &k, &o) && (!bounded || dk_msg_scan_key_cmp(k, bound) <= 0))
            refs[nr++] = (merge_ref){k, o, (uint32_t)i};
    }
    if (rc == 0)
        qsort(refs, nr, sizeof(*refs), merge_ref_cmp);

    merge_out *outs = NULL;
    size_t cap = 0, i = 0;
    dk_buf one = DK_BUF_INIT;
    while (rc == 0 && i < nr && page->n_pairs < limit) {
        size_t j = i + 1, too_large = refs[i].obj.len == 0;
        while (j < nr && dk_msg_scan_key_cmp(refs[j].key, refs[i].key) == 0)
            too_large |= refs[j++].obj.len == 0;
        int live = 1;
        if (too_large) {
            dk_buf_reset(&one);
        } else if (j - i == 1 && !(flags & DK_SCAN_WITH_DEAD)) {
            /* Its node listed it as live: take it as it came. */
            dk_buf_reset(&one);
            rc = dk_buf_append(&one, refs[i].obj.ptr, refs[i].obj.len);
        } else
            rc = merge_fold(refs + i, j - i, now_ms, rs, &one, &live);
        if (rc == 0 && live)
            rc = merge_emit(page, &outs, &cap, refs[i].key, dk_buf_slice(&one));
        if (rc == 0 && page->n_pairs == limit) {
            /* A full page: more follows when anything was left unlisted. */
            page->more = j < nr || bounded;
            if (page->more) {
                memcpy(page->cursor, refs[i].key.ptr, refs[i].key.len);
                page->cursor_len = refs[i].key.len;
            }
        }
        i = j;
    }
    if (rc == 0 && page->n_pairs < limit && bounded) {
        page->more = 1;
        memcpy(page->cursor, bound.ptr, bound.len);
        page->cursor_len = bound.len;
    }
    if (rc == 0)
        rc = merge_pairs(page, outs);
    dk_buf_free(&one);
    free(outs);
    free(refs);
    free(m);
    return rc;
}
