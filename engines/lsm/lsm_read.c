/*
 * lsm_read.c - the LSM engine's point reads (get, try_get, get_lent): the read
 * state a reader pins (memtables, version, snapshot sequence), the search
 * of the tables that cover a key, and the read-amplification counters.
 * Design of the read path and of damaged blocks in lsm.c's opening
 * comment. A value a table holds as a blob reference (blob.h) is read
 * from its blob file through the block cache; get_lent with DK_GET_HEAD
 * lends the head the reference holds instead, when it holds one.
 */
#include "lsm.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "bloom.h"
#include "memo.h"

void dk__lsm_read_begin(lsm_db *db, lsm_read *r)
{
    pthread_mutex_lock(&db->mu);
    r->snap = db->last_seq;
    r->mem = db->mem;
    dk__lsm_mem_ref(r->mem);
    r->imm = db->imm;
    if (r->imm)
        dk__lsm_mem_ref(r->imm);
    r->v = db->cur;
    dk__lsm_version_ref(r->v);
    r->settled = !db->imm && !db->compacting && !db->compact_pending;
    pthread_mutex_unlock(&db->mu);
}

void dk__lsm_read_end(lsm_read *r)
{
    dk__lsm_mem_unref(r->mem);
    dk__lsm_mem_unref(r->imm);
    dk__lsm_version_unref_reader(r->v);
}

/* Newest version of key (seq <= snap) in the runs of v. Searches runs
 * newest data first and stops once no remaining run can hold a newer
 * version than the one found, so it is right for any run shape. On 0,
 * *best holds the version (release best->h when set). */
static int lsm_tables_get(lsm_db *db, lsm_version *v, dk_slice key, uint64_t hash, uint64_t snap, int nowait,
                          lsm_found *best)
{
    lsm_file *small[32], **cand;
    size_t n;
    best->h = NULL;
    int rc = dk__lsm_version_candidates(v, key, small, &cand, &n);
    if (rc) {
        if (cand != small)
            free(cand);
        return rc;
    }
    rc = DK_ENOTFOUND;
    /* A table whose block for key is damaged (logged and counted where it
     * was read) may have held the newest version: the read fails with the
     * damage unless a version newer than everything in that table is
     * found, as one written again by read repair or anti-entropy is. */
    int damaged = 0;
    uint64_t damaged_seq = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && cand[i]->table->props.max_seq < best->seq)
            break;
        lsm_found f;
        atomic_fetch_add_explicit(&db->st_get_tables, 1, memory_order_relaxed);
        int r = dk__lsm_table_find_h(cand[i]->table, key, hash, snap, nowait, &f);
        if (r == DK_ENOTFOUND)
            continue;
        if (r == DK_ECORRUPT || r == -EIO) {
            if (!damaged || cand[i]->table->props.max_seq > damaged_seq)
                damaged_seq = cand[i]->table->props.max_seq;
            damaged = 1;
            continue;
        }
        if (r) {
            rc = r;
            break;
        }
        if (rc == DK_ENOTFOUND || f.seq > best->seq) {
            if (best->h)
                dk__lsm_cache_release(db->cache, best->h);
            *best = f;
            rc = 0;
        } else if (f.h) {
            dk__lsm_cache_release(db->cache, f.h);
        }
    }
    if (damaged && (rc == DK_ENOTFOUND || (rc == 0 && best->seq <= damaged_seq)))
        rc = DK_ECORRUPT;
    if (rc && best->h) {
        dk__lsm_cache_release(db->cache, best->h);
        best->h = NULL;
    }
    if (cand != small)
        free(cand);
    return rc;
}

/* A point read allocates nothing when the blocks it needs are cached:
 * the memtables and data blocks are searched in place and the value is a
 * slice of the memtable or of the cached block. With nowait (try_get)
 * it never waits for the device: a block that is not in the block cache is
 * read only from the page cache (preadv2 RWF_NOWAIT), and -EAGAIN as soon
 * as a table needs one that is in neither. The only lock is mu, which nobody holds across I/O
 * (the write leader drops it for the WAL, a switch for the file work).
 * On 0, *value lives in *mem (referenced), in the cached block *h
 * (referenced) or in the blob record *own (malloc'd: a blob value the
 * cache did not admit, blob_set.c), whichever is set: the caller releases
 * it (lsm_lent_free). */
static int lsm_read_point(lsm_db *db, dk_slice key, uint32_t flags, dk_slice *value, lsm_memtable **mem,
                          lsm_cblock **h, uint8_t **own)
{
    int nowait = (flags & DK_GET_NOWAIT) != 0, head = (flags & DK_GET_HEAD) != 0;
    /* A head read passes the memo by, which keeps references without
     * their heads (memo.h): the head is in the table's block. Not when
     * this engine writes no heads: then the memo's answer (the whole
     * value, also a valid one) costs a hash lookup instead of a search. */
    int memo = db->lookup_memo && !(head && db->blob_head);
    *own = NULL;
    lsm_read r;
    dk__lsm_read_begin(db, &r);
    lsm_found f = {.type = LSM_TYPE_DELETE};
    lsm_memtable *in = r.mem;
    /* one hash for the memtables' filters and the tables' */
    uint64_t hash = dk__lsm_hash64(key.ptr, key.len);
    int rc = dk__lsm_mem_find_h(r.mem, key, hash, r.snap, &f.value, &f.type, &f.seq);
    if (rc == DK_ENOTFOUND && r.imm) {
        in = r.imm;
        rc = dk__lsm_mem_find_h(r.imm, key, hash, r.snap, &f.value, &f.type, &f.seq);
    }
    if (rc == DK_ENOTFOUND) {
        in = NULL;
        if (memo && dk__lsm_memo_get(db->cache, r.v->id, key, hash, &f)) {
            atomic_fetch_add_explicit(&db->st_memo_hits, 1, memory_order_relaxed);
            rc = 0;
        } else {
            rc = lsm_tables_get(db, r.v, key, hash, r.snap, nowait, &f);
            /* Admission: memo.h. */
            if (rc == 0 && memo && r.settled)
                dk__lsm_memo_put(db->cache, &db->memo_door, r.v->id, key, hash, &f);
        }
    }
    if (rc == 0 && f.type == LSM_TYPE_DELETE)
        rc = DK_ENOTFOUND;
    lsm_blob_ref br;
    if (rc == 0 && f.type == LSM_TYPE_BLOB && head && dk__lsm_blob_ref_decode(f.value, &br) == 0 &&
        (br.flags & LSM_BLOB_HEAD)) {
        /* The value's first bytes are in the reference, in the table's
         * block f.h pins: no blob file read. A reference that cannot be
         * decoded goes on to dk__lsm_blob_fetch, which reports it. */
        f.value = br.head;
        f.type = LSM_TYPE_VALUE;
        atomic_fetch_add_explicit(&db->st_heads, 1, memory_order_relaxed);
    }
    if (rc == 0 && f.type == LSM_TYPE_BLOB) {
        /* A blob reference: the value through the block cache (a hot
         * key costs no system call), from the page cache only with
         * nowait. */
        lsm_blob_val bv;
        rc = dk__lsm_blob_fetch(db->blobs, key, f.value, nowait ? LSM_BLOB_NOWAIT : 0, &bv);
        dk__lsm_cache_release(db->cache, f.h);
        f.h = bv.h;
        *own = bv.own;
        f.value = bv.value;
        f.type = LSM_TYPE_VALUE;
    }
    /* Errors were logged where they happened, with file and offset. */
    *mem = NULL;
    *h = NULL;
    if (rc == 0) {
        *value = f.value;
        if (f.h) {
            *h = f.h;
            f.h = NULL;
        } else if (*own) {
            /* the blob record holds it */
        } else {
            *mem = in;
            dk__lsm_mem_ref(in);
        }
    }
    if (f.h)
        dk__lsm_cache_release(db->cache, f.h);
    dk__lsm_read_end(&r);
    return rc;
}

static void lsm_lent_free(lsm_db *db, lsm_memtable *mem, lsm_cblock *h, uint8_t *own)
{
    if (h)
        dk__lsm_cache_release(db->cache, h);
    dk__lsm_mem_unref(mem);
    free(own);
}

/* A point read through a sink (get, try_get): the sink sees the value in
 * place. */
static int lsm_read_sink(lsm_db *db, dk_slice key, int nowait, dk_value_sink sink, void *arg)
{
    dk_slice v;
    lsm_memtable *mem;
    lsm_cblock *h;
    uint8_t *own;
    int rc = lsm_read_point(db, key, nowait ? DK_GET_NOWAIT : 0, &v, &mem, &h, &own);
    if (rc == 0) {
        sink(arg, v);
        lsm_lent_free(db, mem, h, own);
    }
    return rc;
}

/* The read-amplification counters around one lookup or iterator step:
 * what this thread read from table files in between (table.h). */
void dk__lsm_reads_begin(uint64_t r0[2])
{
    dk__lsm_table_thread_reads(&r0[0], &r0[1]);
}

void dk__lsm_reads_end(const uint64_t r0[2], _Atomic uint64_t *blocks, _Atomic uint64_t *bytes)
{
    uint64_t b, y;
    dk__lsm_table_thread_reads(&b, &y);
    if (b != r0[0]) {
        atomic_fetch_add_explicit(blocks, b - r0[0], memory_order_relaxed);
        atomic_fetch_add_explicit(bytes, y - r0[1], memory_order_relaxed);
    }
}

int dk__lsm_get(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg)
{
    lsm_db *db = (lsm_db *)e;
    uint64_t r0[2];
    dk__lsm_reads_begin(r0);
    int rc = lsm_read_sink(db, key, 0, sink, arg);
    atomic_fetch_add_explicit(&db->st_gets, 1, memory_order_relaxed);
    dk__lsm_reads_end(r0, &db->st_get_blocks, &db->st_get_bytes);
    return rc;
}

/* Loop threads: see lsm_read_point. */
int dk__lsm_try_get(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg)
{
    lsm_db *db = (lsm_db *)e;
    uint64_t r0[2];
    dk__lsm_reads_begin(r0);
    int rc = lsm_read_sink(db, key, 1, sink, arg);
    /* -EAGAIN: get() does the lookup again and counts it (the tables this
     * attempt probed stay counted) */
    if (rc != -EAGAIN)
        atomic_fetch_add_explicit(&db->st_gets, 1, memory_order_relaxed);
    dk__lsm_reads_end(r0, &db->st_get_blocks, &db->st_get_bytes);
    return rc;
}

/* get_lent (ABI 1.4): the value stays where lsm_read_point found it; the
 * pin is the cached block's handle, the memtable's pointer with its low
 * bit set, or a blob record's buffer with bit 1 set (all are malloc'd, so
 * those bits are free). A cached block lives
 * on when the cache evicts it or a compaction deletes its table, until the
 * last handle is released (cache.c); a memtable lives until its last
 * reference goes, after its flush. */
int dk__lsm_get_lent(dk_engine *e, dk_slice key, uint32_t flags, dk_slice *value, void **pin)
{
    lsm_db *db = (lsm_db *)e;
    uint64_t r0[2];
    lsm_memtable *mem;
    lsm_cblock *h;
    uint8_t *own;
    dk__lsm_reads_begin(r0);
    int rc = lsm_read_point(db, key, flags, value, &mem, &h, &own);
    if (rc != -EAGAIN) /* as try_get */
        atomic_fetch_add_explicit(&db->st_gets, 1, memory_order_relaxed);
    dk__lsm_reads_end(r0, &db->st_get_blocks, &db->st_get_bytes);
    if (rc == 0)
        *pin = h ? (void *)h : own ? (void *)((uintptr_t)own | 2u) : (void *)((uintptr_t)mem | 1u);
    return rc;
}

void dk__lsm_release(dk_engine *e, void *pin)
{
    lsm_db *db = (lsm_db *)e;
    uintptr_t p = (uintptr_t)pin;
    if (p & 1u)
        lsm_lent_free(db, (lsm_memtable *)(p & ~(uintptr_t)1u), NULL, NULL);
    else if (p & 2u)
        lsm_lent_free(db, NULL, NULL, (uint8_t *)(p & ~(uintptr_t)2u));
    else
        lsm_lent_free(db, NULL, (lsm_cblock *)pin, NULL);
}
