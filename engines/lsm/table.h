/*
 * table.h - SSTables: builder (table_builder.c) and reader (table_reader.c).
 *
 * File layout:
 *   data block*  filter block  properties block  index block  footer
 * Every block is followed by a 5-byte trailer: the id of the codec that
 * compressed it (u8: 0 stored raw, else a dk_codec_ops.id, e.g. 1 zstd,
 * 2 lz4) and the masked crc32c of the stored bytes plus the id.
 * Data blocks hold ~4 KiB of entries (block.h); the index block maps each
 * data block's last internal key to its handle (varint offset, varint
 * size); the filter is a bloom filter over user keys (bloom.h); the
 * properties block holds the key range, entry and tombstone counts,
 * sequence and write-time ranges and max expiry, then the codecs its
 * blocks use: varint count, then per codec u8 id, varint name length,
 * name. A table written before codecs were plugins ends after the key
 * range; its compressed blocks have id 1 and it is read as using "zstd".
 * After the codecs, a table with blob references (blob.h) lists the blob
 * files they name: varint count, then per file varint number, varint
 * bytes of the records referenced (header, key and value: blob.h).
 * Footer (64 bytes): filter, properties and index handles (offset u64,
 * size u64 each), format version (u32: 1, or 2 for a table with blob
 * references, which older readers must refuse), masked crc32c of the
 * preceding 52 bytes (u32), magic (u64).
 */
#ifndef DK_LSM_TABLE_H
#define DK_LSM_TABLE_H
#include "block.h"
#include "cache.h"
#include "codecs.h"
#include "dynkv/types.h"
#include "env.h"

#define LSM_TABLE_MAGIC 0x31545353564b4464ull /* "dDKVSST1" */
#define LSM_TABLE_VERSION 1u
#define LSM_TABLE_VERSION_BLOB 2u
#define LSM_FOOTER_SIZE 64u
#define LSM_BLOCK_TRAILER 5u
#define LSM_BLOCK_SIZE 4096u
#define LSM_BLOCK_MAX (256u * 1024u * 1024u)

enum { LSM_BLOCK_RAW = 0 };    /* trailer id of a block stored as it is */
#define LSM_LEGACY_CODEC_ID 1u /* what tables without a codec list used */
#define LSM_LEGACY_CODEC "zstd"

typedef struct lsm_props {
    uint64_t entries, tombstones;
    uint64_t min_seq, max_seq;
    int64_t min_write_ms, max_write_ms;
    int64_t max_expiry_ms;    /* 0 = some record never expires */
    uint64_t data_size;       /* bytes of data blocks as stored */
    dk_buf smallest, largest; /* internal keys */
    /* The blob files the table references: pairs of u64 (host order)
     * file number, record bytes referenced; empty for most tables. */
    dk_buf blobs;
} lsm_props;

/* Pairs in props->blobs. */
static inline size_t lsm_props_nblobs(const lsm_props *p)
{
    return p->blobs.len / 16;
}
static inline uint64_t lsm_props_blob(const lsm_props *p, size_t i, uint64_t *bytes)
{
    uint64_t v[2];
    memcpy(v, p->blobs.data + 16 * i, 16);
    if (bytes)
        *bytes = v[1];
    return v[0];
}

/* file_size plus the blob record bytes p's references name: the data a
 * table stands for (what the compaction policies size levels by). */
static inline uint64_t lsm_props_data_size(const lsm_props *p, uint64_t file_size)
{
    uint64_t sum = file_size, bytes;
    for (size_t i = 0; i < lsm_props_nblobs(p); i++) {
        lsm_props_blob(p, i, &bytes);
        sum += bytes;
    }
    return sum;
}

void dk__lsm_props_init(lsm_props *p);
void dk__lsm_props_free(lsm_props *p);
int dk__lsm_props_copy(lsm_props *dst, const lsm_props *src);

typedef struct lsm_tb_opts {
    unsigned bits_per_key;
    const dk_codec_ref *codec; /* compress data blocks with it when that shrinks them
                                   * by 1/8; NULL or id 0: store them raw */
    const dk_host *host;       /* record_time; may be NULL */
    /* Called after each write of n bytes (rate limiting); may be NULL. */
    void (*on_write)(void *arg, size_t n);
    /* Called (with arg) before each writeback step and before the final
     * sync: the writer may wait there (io_yield.c); may be NULL. */
    void (*on_sync)(void *arg);
    void *arg;
    /* Start writeback every this many bytes (env writeback; 0: only the
     * final sync writes the file back). */
    uint64_t writeback_bytes;
} lsm_tb_opts;

typedef struct lsm_table_builder lsm_table_builder;

/* Create path and start a table. */
int dk__lsm_tb_open(lsm_env *env, const char *path, const lsm_tb_opts *opts, lsm_table_builder **out);
/* Add an entry (internal keys strictly increasing). */
int dk__lsm_tb_add(lsm_table_builder *tb, dk_slice ikey, dk_slice value);
/* Data blocks stored without trying the codec because the file's data
 * had stopped shrinking (table_builder.c). */
uint64_t dk__lsm_tb_blocks_skipped(const lsm_table_builder *tb);
/* Bytes written so far plus the pending block. */
uint64_t dk__lsm_tb_size(const lsm_table_builder *tb);
/* dk__lsm_tb_size plus the blob record bytes the entries added so far
 * name (lsm_props_data_size of the table so far): compaction splits its
 * outputs by it. */
uint64_t dk__lsm_tb_data_size(const lsm_table_builder *tb);
/* Write the remaining blocks and footer, fsync, close, free tb; on success
 * *props (initialised by the caller) receives the properties and *size the
 * file size. On failure the file is left for the caller to unlink. */
int dk__lsm_tb_finish(lsm_table_builder *tb, lsm_props *props, uint64_t *size);
/* Close and free without finishing (the caller unlinks the file). */
void dk__lsm_tb_abandon(lsm_table_builder *tb);

/* An open table: footer and properties checked and kept. The index and
 * filter blocks are read and checked at open too; they stay pinned in the
 * table (charged to the cache, see cache.h) while the cache's pinning
 * budget allows, otherwise they live in the block cache like data blocks
 * and are re-read through it when evicted. */
typedef struct lsm_table {
    lsm_env *env;
    lsm_rfile *f;
    uint64_t number, size;
    char *path;
    const dk_host *host;
    lsm_cache *cache;
    uint8_t *index, *filter;                               /* pinned copies, or NULL: through the cache */
    size_t index_size, filter_size;                        /* decoded sizes */
    uint64_t index_off, index_len, filter_off, filter_len; /* stored handles */
    size_t pinned;                                         /* bytes charged by dk__lsm_cache_pin */
    lsm_codecs *codecs;                                    /* decoders of compressed blocks; may be NULL */
    lsm_props props;
} lsm_table;

/* A version found by dk__lsm_table_find. For LSM_TYPE_VALUE and
 * LSM_TYPE_BLOB (a blob reference), value points into the cached data block h (release it with
 * dk__lsm_cache_release once done with value); h is NULL otherwise. */
typedef struct lsm_found {
    int type;
    uint64_t seq;
    dk_slice value;
    lsm_cblock *h;
} lsm_found;

/* Open and check a table; errors name the file and offset in the log.
 * Every codec the table's properties name is registered in codecs (opened
 * through the host if needed): a codec that cannot be opened fails the
 * open, naming the file. codecs NULL: only raw blocks can be read. */
int dk__lsm_table_open(lsm_env *env, const char *path, uint64_t number, lsm_cache *cache, lsm_codecs *codecs,
                       const dk_host *host, lsm_table **out);
void dk__lsm_table_close(lsm_table *t);
/* Newest version of ukey with seq <= snap: 0 with *type and *seq set (value
 * in out), DK_ENOTFOUND, or an error (DK_ECORRUPT: logged and counted). */
int dk__lsm_table_get(lsm_table *t, dk_slice ukey, uint64_t snap, dk_buf *out, int *type, uint64_t *seq);
/* The allocation-free point read behind dk__lsm_table_get: bloom filter,
 * one index seek, one data block through the cache; the value is not
 * copied (see lsm_found). 0, DK_ENOTFOUND or an error. With nowait it
 * never waits for the device: a block missing from the block cache is
 * read only if the page cache holds it (env pread_nowait), else -EAGAIN
 * (the non-blocking try_get). */
int dk__lsm_table_find(lsm_table *t, dk_slice ukey, uint64_t snap, int nowait, lsm_found *out);
/* As find, with hash = dk__lsm_hash64(ukey) already computed. */
int dk__lsm_table_find_h(lsm_table *t, dk_slice ukey, uint64_t hash, uint64_t snap, int nowait,
                         lsm_found *out);

/* Blocks and bytes the calling thread has read from table files so far
 * (every block read that missed the block cache, whatever the caller):
 * the engine takes the difference around one lookup or scan step for its
 * read-amplification counters (lsm_get_blocks_read_total, ...). */
void dk__lsm_table_thread_reads(uint64_t *blocks, uint64_t *bytes);
/* True when the bloom filter says ukey may be in the table (also when the
 * filter cannot be read: a wrong "maybe" costs work, never correctness). */
int dk__lsm_table_may_contain(lsm_table *t, dk_slice ukey);
/* An iterator over all entries; t must outlive it. NULL on ENOMEM. A
 * damaged data block (bad CRC, malformed, unreadable) stops it: status()
 * reports the error. Compaction reads its inputs this way, so a job over
 * a damaged block fails and rewrites nothing (compact.c). */
lsm_iter *dk__lsm_table_iter(lsm_table *t);
/* As dk__lsm_table_iter, but its data blocks are read from the file and
 * never looked up in or inserted into the block cache (the index still
 * is): compaction's inputs, read once, evict no reader's blocks. */
lsm_iter *dk__lsm_table_iter_compact(lsm_table *t);

/* Key ranges of data blocks an iterator skipped as damaged. A skipped
 * block held the versions of user keys in (lo, hi] (lo absent: from the
 * table's first key) with sequence numbers up to its table's max_seq, so
 * any version in that range at or below that sequence may be shadowed by
 * a version that was lost with the block. */
typedef struct lsm_damage {
    lsm_table *t;
    dk_buf lo, hi; /* user keys */
    int has_lo;
    int lo_incl; /* [lo, hi]: the block was entered by a seek to lo */
} lsm_damage;

typedef struct lsm_damage_set {
    lsm_damage *d;
    size_t n, cap;
} lsm_damage_set;

void dk__lsm_damage_free(lsm_damage_set *s);
/* True when the version (ukey, seq) may be shadowed by a lost one: it lies
 * in a damaged range, at or below the damaged table's max_seq, and the
 * table's bloom filter does not rule ukey out (so a key that never was in
 * the damaged table stays visible, as a point read sees it). */
int dk__lsm_damage_hides(const lsm_damage_set *s, dk_slice ukey, uint64_t seq);
/* As dk__lsm_table_iter, but a damaged data block is skipped: logged with
 * the file and offset (lsm_corrupt_blocks_total counts it, as for every
 * read that finds it), counted in lsm_corrupt_blocks_skipped_total, its
 * key range added to dmg (owned by the caller, outlives the iterator),
 * and iteration goes on with the next block. Scans, stream sources and
 * Merkle tree builds go through these (lsm.c). */
lsm_iter *dk__lsm_table_iter_skip(lsm_table *t, lsm_damage_set *dmg);
/* Read, check and decode the block at (off, size) through the cache; *out
 * is a referenced cache handle (release with dk__lsm_cache_release). */
int dk__lsm_table_block(lsm_table *t, uint64_t off, uint64_t size, lsm_cblock **out);
#endif
