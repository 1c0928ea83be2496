/*
 * blob.h - key-value separation (WiscKey, RocksDB's integrated BlobDB):
 * values of at least [engine.lsm] blob_min_size bytes leave the tables at
 * flush for a blob file, and the table keeps a small reference to them
 * (value type LSM_TYPE_BLOB, ikey.h). Compaction then moves references,
 * not 10 KiB values: with leveled compaction every byte of a large value
 * was copied into fresh page-cache pages once per level.
 *
 * Blob file NNNNNN.blob (numbers from the engine's file-number space):
 *   magic (8 bytes, "dDKVBLB1") record*
 *   record: masked crc32c (u32) | key length (u32) | value length (u32) |
 *           user key | value; the CRC covers everything after itself.
 * Written once, sequentially, by a flush or a compaction's garbage
 * collection (blob_file.c), fsynced before the manifest edit that adds
 * the tables referencing it (the manifest append syncs the directory
 * first), never changed afterwards.
 *
 * Reference (the table's value of an LSM_TYPE_BLOB entry):
 *   u8 flags | varint file | varint record offset | varint value length
 *   [| varint write_ms | varint max_expiry_ms  when flags & LSM_BLOB_TIMED]
 *   [| varint head length | head               when flags & LSM_BLOB_HEAD]
 * The reader knows the user key it looked up, so one pread of
 * 12 + key + value bytes reads the record, whose lengths, key and CRC are
 * checked before the value is used. The times are what the host's
 * record_time said at flush (table properties need them; the policy's
 * time windows read them). LSM_BLOB_MORTAL: the value has an expiry, so
 * compaction reads it to ask record_filter once it has passed; every
 * other reference is kept without reading its value. LSM_BLOB_HEAD: the
 * reference also holds the value's first [engine.lsm] blob_head bytes
 * (of values at least LSM_BLOB_HEAD_RATIO times as long), so a read that
 * needs only a prefix (get_lent with
 * DK_GET_HEAD: a replica's version check before a write reads the
 * object's header) is answered from the table's block, checked by the
 * block's CRC, without the blob file: at 10 KiB that read was a pread, a
 * CRC over the record and a malloc on the node's loop. The head is
 * written with the value (flush, and garbage collection, which has the
 * value); a reference copied unchanged by compaction keeps what it holds,
 * and one written without a head (blob_head = 0, or before heads) is
 * answered from the blob file as before. The alternative, a second small
 * record per value at the start of the blob file, would still cost a
 * pread and a cache entry per head read. The flush never asks
 * record_filter: the node's answer is not monotone in time (its repair
 * rule keeps an expired value until repair covered its write) and each
 * question counts in its tombstone metrics. A value that is all
 * tombstones has no expiry the host tells (record_time): in a blob file
 * it stays until overwritten (tombstones are small, rarely that large).
 *
 * Liveness is derived, not listed: each table's properties name the blob
 * files it references and the record bytes it references in each (so
 * a blob file's garbage is its size less the header and what the
 * version's tables reference)
 * (table_builder.c), so the manifest's table list says which blob files
 * are live. A table file object holds a reference on each blob file
 * object it names (blob_set.c); an install that deletes the last live
 * table naming a blob file marks it obsolete (lsm.c), and it is unlinked
 * when the last reference goes, so iterators and snapshots pinning old
 * versions keep reading it. A blob file no table in the manifest names
 * (a crash between writing it and the manifest edit) is deleted at open,
 * as orphan tables are (recovery.c), unless a table was lost at that open
 * (it may be that table's): then it is set aside as NNNNNN.blob.damaged.
 * A blob file a table names that cannot be opened then (missing, damaged
 * header) costs only its values: the table opens, and their reads fail
 * with DK_ECORRUPT naming the file and offset (version.c, blob_set.c).
 * Old blob files that are mostly garbage, or small, are collected even
 * where no compaction would reach them (blob_gc.c).
 */
#ifndef DK_LSM_BLOB_H
#define DK_LSM_BLOB_H
#include <stdatomic.h>

#include "cache.h"
#include "dynkv/engine.h"
#include "env.h"
#include "ikey.h"

#define LSM_BLOB_MAGIC "dDKVBLB1"
#define LSM_BLOB_HEADER 8u      /* the magic */
#define LSM_BLOB_REC_HDR 12u    /* crc, key length, value length */
#define LSM_BLOB_HEAD_MAX 1024u /* [engine.lsm] blob_head's maximum */
/* A head is kept only for values at least this many times its length, so
 * heads add at most 1/8 of the blob bytes to the tables. With blob_min_size
 * lowered to 100 and values of 310 bytes, 256-byte heads made the tables
 * nearly as large as the blob files and the leveled append load of
 * test-lsm-blobgc kept 643 small blob files where the bound is 242. With
 * the defaults (4096, 256) every blob value has a head. */
#define LSM_BLOB_HEAD_RATIO 8u
#define LSM_BLOB_REF_BARE (1 + 5 * DK_VARINT_MAX) /* a reference without a head */
#define LSM_BLOB_REF_MAX (LSM_BLOB_REF_BARE + DK_VARINT_MAX + LSM_BLOB_HEAD_MAX)
#define LSM_BLOB_TIMED 1u
#define LSM_BLOB_MORTAL 2u
#define LSM_BLOB_HEAD 4u

typedef struct lsm_blob_ref {
    unsigned flags;
    uint64_t file, off, len; /* off: the record's offset; len: the value's */
    int64_t write_ms, expiry_ms;
    dk_slice head; /* LSM_BLOB_HEAD: the value's first bytes (decoded: in the reference's bytes) */
} lsm_blob_ref;

/* Encode r into buf (LSM_BLOB_REF_MAX bytes); returns the length. */
size_t dk__lsm_blob_ref_encode(uint8_t *buf, const lsm_blob_ref *r);
/* 0 or DK_ECORRUPT (also a head longer than the value or than
 * LSM_BLOB_HEAD_MAX). r->head points into v. */
int dk__lsm_blob_ref_decode(dk_slice v, lsm_blob_ref *r);
/* Give r the head of value: its first head bytes (r->head points into
 * value), or none when head is 0 or value is shorter than
 * LSM_BLOB_HEAD_RATIO times head. head is at most LSM_BLOB_HEAD_MAX. */
void dk__lsm_blob_ref_set_head(lsm_blob_ref *r, dk_slice value, size_t head);
/* The flags and times of a reference for value (the host's record_time;
 * h may be NULL). */
void dk__lsm_blob_ref_times(const dk_host *h, dk_slice key, dk_slice value, lsm_blob_ref *r);

/* ---- writing (blob_file.c) --------------------------------------------- */

typedef struct lsm_blob_writer lsm_blob_writer;
typedef struct lsm_blob_wopts {
    uint64_t writeback_bytes;              /* env writeback every this many bytes (0: never) */
    int direct;                            /* env create_direct where it can (else create) */
    void (*on_write)(void *arg, size_t n); /* rate limiting; may be NULL */
    void (*on_sync)(void *arg);            /* before each writeback and the fsync; may be NULL */
    void *arg;
} lsm_blob_wopts;

/* Create path (file `number`) and write the magic. */
int dk__lsm_blob_writer_open(lsm_env *env, const char *path, uint64_t number, const lsm_blob_wopts *o,
                             lsm_blob_writer **out);
/* Append (key, value) as a record; r->file, off and len are set (the
 * caller sets flags and times). */
int dk__lsm_blob_writer_add(lsm_blob_writer *w, dk_slice key, dk_slice value, lsm_blob_ref *r);
/* The same, the record's CRC derived from vcrc = dk_crc32c(value) as the
 * caller knows it (the memtable's, from the WAL encoder: flush.c) instead
 * of read from value; the record then says what the value was when vcrc
 * was computed (a value changed since fails its reads). */
int dk__lsm_blob_writer_add_crc(lsm_blob_writer *w, dk_slice key, dk_slice value, uint32_t vcrc,
                                lsm_blob_ref *r);
uint64_t dk__lsm_blob_writer_number(const lsm_blob_writer *w);
/* Whether w writes around the page cache: o.direct asked for it and the
 * file system took it (else the writer fell back to a buffered file). */
int dk__lsm_blob_writer_direct(const lsm_blob_writer *w);
/* fsync, close and free; *size is the file's size. On failure the file
 * is left for the caller to unlink (w is freed either way). */
int dk__lsm_blob_writer_finish(lsm_blob_writer *w, uint64_t *size);
/* Close and free without syncing (the caller unlinks). NULL is a no-op. */
void dk__lsm_blob_writer_abandon(lsm_blob_writer *w);

/* ---- the set of open blob files (blob_set.c) ---------------------------- */

typedef struct lsm_blobs lsm_blobs;
typedef struct lsm_blob {
    uint64_t number;
    _Atomic uint64_t size;
    int refs;             /* under the set's mutex */
    int lost;             /* could not be opened at start: reads fail (f NULL) */
    _Atomic int obsolete; /* unlink when the last reference goes */
    lsm_rfile *f;
    lsm_blobs *set;
    struct lsm_blob *next;
} lsm_blob;

/* Counters, exported by lsm.c's stats. */
typedef struct lsm_blob_stats {
    _Atomic uint64_t reads, read_bytes; /* record reads from files */
    _Atomic uint64_t cache_hits;
    _Atomic uint64_t flush_bytes, gc_bytes; /* bytes written to blob files */
    _Atomic uint64_t gc_records, corrupt;
    _Atomic uint64_t direct_files; /* completed blob files written direct */
} lsm_blob_stats;

int dk__lsm_blobs_new(lsm_env *env, const char *dir, lsm_cache *cache, const dk_host *host, lsm_blobs **out);
/* Every blob must have been released. */
void dk__lsm_blobs_free(lsm_blobs *s);
lsm_blob_stats *dk__lsm_blobs_stats(lsm_blobs *s);
/* Blob file `number` with one more reference: the open object, or the
 * file opened now (an error, logged with the path, when it cannot be). */
int dk__lsm_blob_get(lsm_blobs *s, uint64_t number, lsm_blob **out);
/* Blob file `number`, which could not be opened when the engine opened
 * (missing, damaged header): an object whose reads fail with DK_ECORRUPT
 * naming the file, so the tables naming it stay open (version.c). */
int dk__lsm_blob_get_lost(lsm_blobs *s, uint64_t number, lsm_blob **out);
void dk__lsm_blob_ref(lsm_blob *b);
/* Drop a reference; the last one closes the file, and unlinks it (and
 * erases its cached values) when obsolete. */
void dk__lsm_blob_unref(lsm_blob *b);
/* A blob file finished after its object was opened: its final size. */
void dk__lsm_blobs_note_size(lsm_blobs *s, uint64_t number, uint64_t size);
/* The number of open blob files and their bytes (obsolete ones not
 * counted). */
void dk__lsm_blobs_usage(lsm_blobs *s, uint64_t *files, uint64_t *bytes);

/* A resolved value: in a cache handle (h), or in a buffer the caller
 * frees (own); value points into one of them. */
typedef struct lsm_blob_val {
    dk_slice value;
    lsm_cblock *h;
    uint8_t *own;
} lsm_blob_val;
#define LSM_BLOB_NOWAIT 1u  /* only from the cache or the page cache, else -EAGAIN */
#define LSM_BLOB_NOCACHE 2u /* a miss is not inserted into the block cache */

/* The value the reference ref (a table's LSM_TYPE_BLOB value) names for
 * user key ukey: from the block cache (keyed by blob file number and
 * record offset), else read from the file and checked, and cached when
 * it was read recently before (blob_set.c's admission), else in out->own. A bad record
 * (lengths, key, CRC) is DK_ECORRUPT, logged with the file and offset and
 * counted in lsm_corrupt_blocks_total. */
int dk__lsm_blob_fetch(lsm_blobs *s, dk_slice ukey, dk_slice ref, unsigned flags, lsm_blob_val *out);
void dk__lsm_blob_val_free(lsm_blobs *s, lsm_blob_val *v);
#endif
