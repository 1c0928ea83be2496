/*
 * lsm_iter.c - the LSM engine's snapshot iterators: a merge of the
 * memtables and of every table meeting the bounds, at the sequence number
 * of the moment it opened, newest version of each key only, tombstones
 * and versions a damaged block may shadow hidden (lsm.c's opening
 * comment); blob references resolved to their values (blob.h).
 */
#include "lsm.h"

#include <errno.h>
#include <stdlib.h>

typedef struct lsm_db_iter {
    dk_engine_iter base;
    lsm_read r;
    lsm_iter *m;
    lsm_damage_set dmg; /* damaged blocks the tables' iterators skipped */
    dk_buf start, end, key, val;
    int positioned, eof;
} lsm_db_iter;

int dk__lsm_iter_open(dk_engine *e, const dk_iter_opts *opts, dk_engine_iter **out)
{
    lsm_db *db = (lsm_db *)e;
    *out = NULL;
    lsm_db_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->base.engine = e;
    dk_slice start = opts ? opts->start : (dk_slice){NULL, 0};
    dk_slice end = opts ? opts->end : (dk_slice){NULL, 0};
    if (dk_buf_append(&it->start, start.ptr, start.len) || dk_buf_append(&it->end, end.ptr, end.len)) {
        dk_buf_free(&it->start);
        free(it);
        return -ENOMEM;
    }
    dk__lsm_read_begin(db, &it->r);
    size_t n = 0;
    lsm_iter **kids = malloc((it->r.v->n + 2) * sizeof(*kids));
    int rc = kids ? 0 : -ENOMEM;
    if (!rc)
        rc = (kids[n] = dk__lsm_mem_iter(it->r.mem)) ? (n++, 0) : -ENOMEM;
    if (!rc && it->r.imm)
        rc = (kids[n] = dk__lsm_mem_iter(it->r.imm)) ? (n++, 0) : -ENOMEM;
    for (size_t i = 0; !rc && i < it->r.v->n; i++) {
        lsm_file *f = it->r.v->files[i];
        /* Only tables whose key range meets [start, end). */
        if ((end.len && lsm_ucmp(dk__lsm_file_smallest(f), end) >= 0) ||
            (start.len && lsm_ucmp(dk__lsm_file_largest(f), start) < 0))
            continue;
        rc = (kids[n] = dk__lsm_table_iter_skip(f->table, &it->dmg)) ? (n++, 0) : -ENOMEM;
    }
    if (!rc) {
        /* The merge owns kids from here, also when it fails. */
        it->m = dk__lsm_merge_iter(kids, n);
        kids = NULL;
        n = 0;
        if (!it->m)
            rc = -ENOMEM;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            kids[i]->ops->destroy(kids[i]);
        free(kids);
        dk__lsm_read_end(&it->r);
        dk_buf_free(&it->start);
        dk_buf_free(&it->end);
        free(it);
        return rc;
    }
    *out = &it->base;
    return 0;
}

static int lsm_iter_seek_at(dk_engine_iter *ei, dk_slice target)
{
    lsm_db_iter *it = (lsm_db_iter *)ei;
    if (lsm_ucmp(target, dk_buf_slice(&it->start)) < 0)
        target = dk_buf_slice(&it->start);
    uint8_t small[DK_KEY_MAX + LSM_TRAILER];
    uint8_t *buf = target.len <= DK_KEY_MAX ? small : malloc(target.len + LSM_TRAILER);
    if (!buf)
        return -ENOMEM;
    it->m->ops->seek(it->m, lsm_ikey_lookup(buf, target, it->r.snap));
    if (buf != small)
        free(buf);
    it->positioned = 1;
    it->eof = 0;
    dk_buf_reset(&it->key);
    return it->m->ops->status(it->m);
}

static int lsm_iter_next_at(dk_engine_iter *ei, dk_slice *key, dk_slice *value)
{
    lsm_db_iter *it = (lsm_db_iter *)ei;
    if (!it->positioned) {
        int rc = lsm_iter_seek_at(ei, dk_buf_slice(&it->start));
        if (rc)
            return rc;
    }
    lsm_iter *m = it->m;
    int have_last = it->positioned == 2;
    while (!it->eof && m->ops->valid(m)) {
        dk_slice k = m->ops->key(m), uk = lsm_ikey_user(k);
        if (lsm_ikey_seq(k) > it->r.snap || (have_last && lsm_ucmp(uk, dk_buf_slice(&it->key)) == 0)) {
            m->ops->next(m);
            continue;
        }
        if (it->end.len && lsm_ucmp(uk, dk_buf_slice(&it->end)) >= 0)
            break;
        /* A version a lost one of a damaged block may shadow reads as
         * absent, as the point read of the key answers (DK_ECORRUPT). */
        int hidden = lsm_ikey_type(k) == LSM_TYPE_DELETE ||
                     (it->dmg.n && dk__lsm_damage_hides(&it->dmg, uk, lsm_ikey_seq(k)));
        dk_slice v = m->ops->value(m);
        lsm_blob_val bv = {0};
        if (!hidden && lsm_ikey_type(k) == LSM_TYPE_BLOB) {
            /* Scans do not fill the block cache with values (a hit is
             * used). A record that cannot be read (logged with its file
             * and offset) makes the key read as absent, as a damaged
             * block does; its older versions stay hidden. Any other
             * error returns before the key counts as seen, so the next
             * call reads it again. */
            lsm_blobs *bs = ((lsm_db *)ei->engine)->blobs;
            int brc = dk__lsm_blob_fetch(bs, uk, v, LSM_BLOB_NOCACHE, &bv);
            if (brc && brc != DK_ECORRUPT && brc != -EIO)
                return brc;
            hidden = brc != 0;
            v = bv.value;
        }
        dk_buf_reset(&it->key);
        if (dk_buf_append(&it->key, uk.ptr, uk.len)) {
            dk__lsm_blob_val_free(((lsm_db *)ei->engine)->blobs, &bv);
            return -ENOMEM;
        }
        it->positioned = 2; /* it->key now names the last key seen */
        have_last = 1;
        if (hidden) {
            m->ops->next(m);
            continue;
        }
        dk_buf_reset(&it->val);
        int arc = dk_buf_append(&it->val, v.ptr, v.len);
        dk__lsm_blob_val_free(((lsm_db *)ei->engine)->blobs, &bv);
        if (arc)
            return -ENOMEM;
        m->ops->next(m);
        *key = dk_buf_slice(&it->key);
        *value = dk_buf_slice(&it->val);
        return 0;
    }
    int rc = m->ops->status(m);
    if (rc)
        return rc;
    it->eof = 1;
    return DK_EEOF;
}

/* seek and next as the host calls them: counted for read amplification
 * (lsm_iter_*_total). */
int dk__lsm_iter_seek(dk_engine_iter *ei, dk_slice target)
{
    lsm_db *db = (lsm_db *)ei->engine;
    uint64_t r0[2];
    dk__lsm_reads_begin(r0);
    int rc = lsm_iter_seek_at(ei, target);
    atomic_fetch_add_explicit(&db->st_iter_ops, 1, memory_order_relaxed);
    dk__lsm_reads_end(r0, &db->st_iter_blocks, &db->st_iter_bytes);
    return rc;
}

int dk__lsm_iter_next(dk_engine_iter *ei, dk_slice *key, dk_slice *value)
{
    lsm_db *db = (lsm_db *)ei->engine;
    uint64_t r0[2];
    dk__lsm_reads_begin(r0);
    int rc = lsm_iter_next_at(ei, key, value);
    dk__lsm_reads_end(r0, &db->st_iter_blocks, &db->st_iter_bytes);
    return rc;
}

void dk__lsm_iter_close(dk_engine_iter *ei)
{
    lsm_db_iter *it = (lsm_db_iter *)ei;
    if (!it)
        return;
    it->m->ops->destroy(it->m);
    dk__lsm_damage_free(&it->dmg);
    dk__lsm_read_end(&it->r);
    dk_buf_free(&it->start);
    dk_buf_free(&it->end);
    dk_buf_free(&it->key);
    dk_buf_free(&it->val);
    free(it);
}
