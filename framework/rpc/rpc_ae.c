/*
 * rpc_ae.c - anti-entropy's message bodies (layout and contracts in
 * rpc_ae.h).
 *
 * Written for hostile input like rpc_frame.c's decoders, with the same
 * sticky bounds-checked reader and writer (rpc_wire.h).
 */
#include <errno.h>
#include <string.h>
#include "rpc/rpc_ae.h"
#include "rpc/rpc_wire.h"
#include "util/coding.h"

#define AE_HASHES_MAX (8u * 65536u)

static void rd_bitmap(rd *r, dk_slice *dst, size_t min)
{
    *dst = rd_lp(r, min, DK_AE_BITMAP_MAX);
}

int dk_msg_tree_req_encode(dk_buf *out, const dk_msg_tree_req *m)
{
    if (m->group.len == 0 || m->group.len > DK_AE_GROUP_MAX || m->level > DK_AE_LEVEL_MAX ||
        m->nodes.len == 0 || m->nodes.len > DK_AE_BITMAP_MAX)
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, m->group.ptr, m->group.len);
    wr_varint(&w, m->sig);
    wr_varint(&w, m->level);
    wr_lp(&w, m->nodes.ptr, m->nodes.len);
    return wr_done(&w);
}

int dk_msg_tree_req_decode(dk_slice body, dk_msg_tree_req *m)
{
    rd r;
    rd_init(&r, body);
    m->group = rd_lp(&r, 1, DK_AE_GROUP_MAX);
    m->sig = rd_varint(&r);
    m->level = rd_u32(&r);
    if (m->level > DK_AE_LEVEL_MAX)
        r.bad = 1;
    rd_bitmap(&r, &m->nodes, 1);
    return rd_done(&r);
}

int dk_msg_tree_encode(dk_buf *out, const dk_msg_tree *m)
{
    if (m->hashes.len % 8 || m->hashes.len > AE_HASHES_MAX || (m->status != 0 && m->hashes.len))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    wr_lp(&w, m->hashes.ptr, m->hashes.len);
    return wr_done(&w);
}

int dk_msg_tree_decode(dk_slice body, dk_msg_tree *m)
{
    rd r;
    rd_init(&r, body);
    m->status = rd_s32(&r);
    m->hashes = rd_lp(&r, 0, AE_HASHES_MAX);
    if (m->hashes.len % 8 || (m->status != 0 && m->hashes.len))
        r.bad = 1;
    return rd_done(&r);
}

/* One entry off r; sets r->bad on anything malformed. */
static void rd_keys_entry(rd *r, dk_keys_entry *e)
{
    e->key = rd_lp(r, 1, DK_KEY_MAX);
    e->kind = DK_KEYS_KEY;
    rd_fixed(r, &e->kind, 1);
    e->hash = 0;
    e->object = (dk_slice){NULL, 0};
    if (e->kind == DK_KEYS_HASH) {
        uint8_t h[8] = {0};
        rd_fixed(r, h, 8);
        e->hash = dk_get_u64(h);
    } else if (e->kind == DK_KEYS_OBJECT) {
        e->object = rd_lp(r, 1, DK_FRAME_BODY_MAX);
    } else if (e->kind != DK_KEYS_KEY) {
        r->bad = 1;
    }
}

/* Whether s is exactly n valid entries. */
static int keys_entries_ok(dk_slice s, uint64_t n)
{
    rd r;
    rd_init(&r, s);
    dk_keys_entry e;
    for (uint64_t i = 0; i < n && !r.bad; i++)
        rd_keys_entry(&r, &e);
    return rd_done(&r) == 0;
}

int dk_keys_entry_encode(dk_buf *out, const dk_keys_entry *e)
{
    if (e->key.len == 0 || e->key.len > DK_KEY_MAX || e->kind > DK_KEYS_OBJECT ||
        (e->kind == DK_KEYS_OBJECT ? e->object.len == 0 || e->object.len > DK_FRAME_BODY_MAX
                                   : e->object.len != 0))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_lp(&w, e->key.ptr, e->key.len);
    wr_bytes(&w, &e->kind, 1);
    if (e->kind == DK_KEYS_HASH) {
        uint8_t h[8];
        dk_put_u64(h, e->hash);
        wr_bytes(&w, h, 8);
    } else if (e->kind == DK_KEYS_OBJECT) {
        wr_lp(&w, e->object.ptr, e->object.len);
    }
    return wr_done(&w);
}

int dk_keys_entry_next(dk_slice *entries, dk_keys_entry *e)
{
    if (entries->len == 0)
        return 0;
    rd r;
    rd_init(&r, *entries);
    rd_keys_entry(&r, e);
    if (r.bad) {
        entries->len = 0;
        return 0;
    }
    entries->len -= (size_t)(r.p - entries->ptr);
    entries->ptr = r.p;
    return 1;
}

/* The entries field: count, then the entries to the end of the body. */
static void wr_entries(wr *w, uint32_t n, dk_slice entries)
{
    if (!w->rc && !keys_entries_ok(entries, n))
        w->rc = -EINVAL;
    wr_varint(w, n);
    wr_bytes(w, entries.ptr, entries.len);
}

static void rd_entries(rd *r, uint32_t *n, dk_slice *entries)
{
    *n = rd_u32(r);
    entries->ptr = r->p;
    entries->len = r->bad ? 0 : (size_t)(r->end - r->p);
    if (!r->bad && !keys_entries_ok(*entries, *n))
        r->bad = 1;
    r->p = r->end;
}

int dk_msg_keys_req_encode(dk_buf *out, const dk_msg_keys_req *m)
{
    int list = m->op == DK_KEYS_LIST;
    if ((m->op != DK_KEYS_LIST && m->op != DK_KEYS_SYNC) || m->group.len == 0 ||
        m->group.len > DK_AE_GROUP_MAX ||
        (list ? m->leaves.len > DK_AE_BITMAP_MAX || m->prefix.len > DK_KEY_MAX ||
                    m->from.len > DK_KEY_MAX + 1 || m->max_bytes == 0 || m->n_entries || m->entries.len
              : m->leaves.len || m->prefix.len || m->from.len))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_varint(&w, m->op);
    wr_lp(&w, m->group.ptr, m->group.len);
    wr_varint(&w, m->sig);
    if (list) {
        wr_lp(&w, m->leaves.ptr, m->leaves.len);
        wr_lp(&w, m->prefix.ptr, m->prefix.len);
        wr_lp(&w, m->from.ptr, m->from.len);
        wr_varint(&w, m->max_bytes);
    } else {
        wr_entries(&w, m->n_entries, m->entries);
    }
    return wr_done(&w);
}

int dk_msg_keys_req_decode(dk_slice body, dk_msg_keys_req *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->op = rd_u32(&r);
    m->group = rd_lp(&r, 1, DK_AE_GROUP_MAX);
    m->sig = rd_varint(&r);
    if (m->op == DK_KEYS_LIST) {
        rd_bitmap(&r, &m->leaves, 0);
        m->prefix = rd_lp(&r, 0, DK_KEY_MAX);
        m->from = rd_lp(&r, 0, DK_KEY_MAX + 1);
        m->max_bytes = rd_u32(&r);
        if (m->max_bytes == 0)
            r.bad = 1;
    } else if (m->op == DK_KEYS_SYNC) {
        rd_entries(&r, &m->n_entries, &m->entries);
    } else {
        r.bad = 1;
    }
    return rd_done(&r);
}

int dk_msg_keys_encode(dk_buf *out, const dk_msg_keys *m)
{
    if (m->more > 1 || (m->more ? m->upto.len == 0 || m->upto.len > DK_KEY_MAX : m->upto.len != 0) ||
        (m->status != 0 && (m->n_entries || m->more)))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_svarint(&w, m->status);
    wr_bytes(&w, &m->more, 1);
    if (m->more)
        wr_lp(&w, m->upto.ptr, m->upto.len);
    wr_varint(&w, m->merged);
    wr_entries(&w, m->n_entries, m->entries);
    return wr_done(&w);
}

int dk_msg_keys_decode(dk_slice body, dk_msg_keys *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->status = rd_s32(&r);
    rd_fixed(&r, &m->more, 1);
    if (m->more > 1)
        r.bad = 1;
    if (!r.bad && m->more)
        m->upto = rd_lp(&r, 1, DK_KEY_MAX);
    m->merged = rd_u32(&r);
    rd_entries(&r, &m->n_entries, &m->entries);
    if (m->status != 0 && (m->n_entries || m->more))
        r.bad = 1;
    return rd_done(&r);
}
