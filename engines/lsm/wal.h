/*
 * wal.h - the write-ahead log (wal.c).
 *
 * One record per write batch:
 *   masked crc32c (u32) | length (u32) | payload
 *   payload = log number (u64) | first seq (u64) | op count (u32) | ops
 *   op      = type (u8) | varint key len | key | [varint value len | value]
 * The CRC covers the length field and the payload, so a torn length is
 * caught too. The log number is the number in the file's name
 * (NNNNNN.log; 0 for a name without one): a WAL file is recycled
 * (renamed to a new number and overwritten from its start, so fdatasync
 * rewrites allocated blocks instead of extending the file), and a whole
 * record carrying another number is a stale leftover of the file's
 * previous life, i.e. the clean end of the log. Group commit (several
 * batches, one sync) lives in lsm.c; this file only frames, appends and
 * replays.
 */
#ifndef DK_LSM_WAL_H
#define DK_LSM_WAL_H
#include "dynkv/engine.h"
#include "env.h"
#include "util/buf.h"

#define LSM_WAL_HEADER 8u
#define LSM_WAL_MAX_RECORD (256u * 1024u * 1024u)

#define LSM_WAL_MIN_PAYLOAD 20u

typedef struct lsm_wal {
    lsm_env *env;
    lsm_wfile *f;
    uint64_t number; /* from the file name; stamped in records */
    uint64_t size;   /* bytes written (the log's logical end) */
    uint64_t synced; /* size at the last successful sync */
    int recycled;    /* stale bytes may follow `size` */
    /* A failed write may have left whole records of a refused group
     * after `size`: they must be cut (dk__lsm_wal_trim) before any write
     * of the next log is acknowledged, or a replay would apply them. */
    int cut_back;
} lsm_wal;

/* Values longer than this are not copied into a record: the gather list
 * points at the caller's bytes. */
#define LSM_WAL_COPY_MAX 256u

/* Records as a gather list: pieces of `buf` (ptr NULL, at off) and
 * borrowed values (ptr set, with their own crc32c), in order. */
typedef struct lsm_wal_seg {
    const uint8_t *ptr;
    size_t off, len;
    uint32_t crc; /* dk_crc32c of a borrowed value's len bytes */
} lsm_wal_seg;

typedef struct lsm_wal_vec {
    dk_buf buf;
    lsm_wal_seg *seg;
    size_t nseg, cap;
    size_t total; /* bytes of all records */
} lsm_wal_vec;

/* Append one framed record for batch b (first sequence number seq) of
 * log `number` to v. Values longer than LSM_WAL_COPY_MAX are borrowed:
 * b's bytes must stay unchanged until v is written or reset. On error v
 * is as before the call. */
int dk__lsm_wal_encodev(lsm_wal_vec *v, uint64_t number, uint64_t seq, const dk_batch *b);
/* Empty v, keeping its memory; free it. */
void dk__lsm_wal_vec_reset(lsm_wal_vec *v);
void dk__lsm_wal_vec_free(lsm_wal_vec *v);
/* The same record as one contiguous copy appended to out. */
int dk__lsm_wal_encode(dk_buf *out, uint64_t number, uint64_t seq, const dk_batch *b);
/* Decode the next op of a payload's op area; 0, or DK_ECORRUPT. */
int dk__lsm_wal_op_next(const uint8_t **p, const uint8_t *end, int *type, dk_slice *key, dk_slice *value);

/* Log number of a WAL path (the digits of its base name; 0 if none). */
uint64_t dk__lsm_wal_number(const char *path);
/* Create path (truncating) for appending; w->number from the name. */
int dk__lsm_wal_open(lsm_env *env, const char *path, lsm_wal *w);
/* Recycle the obsolete log `from` as `to` (env->ops->reuse; -ENOTSUP
 * when the env has none): writing starts over at offset 0. */
int dk__lsm_wal_reuse(lsm_env *env, const char *from, const char *to, lsm_wal *w);
/* Cut a recycled log's stale bytes after its logical end (durably), so
 * that a replay of it ends exactly there; no-op for a fresh log. */
int dk__lsm_wal_trim(lsm_wal *w, const char *path);
int dk__lsm_wal_write(lsm_wal *w, const void *p, size_t n);
/* Append v's records with one gather write. */
int dk__lsm_wal_writev(lsm_wal *w, const lsm_wal_vec *v);
/* Start writing back what was written since the last sync (the env's
 * writeback; nothing when it has none), so the device works while the
 * caller does, before its sync. Makes nothing durable. An error is the
 * sync's: the kernel reports a writeback error once, so the sync after
 * it may succeed without the data. */
int dk__lsm_wal_writeback(lsm_wal *w);
/* fdatasync the log; on success everything written is durable (synced). */
int dk__lsm_wal_sync(lsm_wal *w);
int dk__lsm_wal_close(lsm_wal *w);

/* Called for each good record; ops spans `count` encoded ops. A non-zero
 * return stops the replay and is returned. */
typedef int (*lsm_wal_cb)(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n);

/* Replay path's records in order up to the first bad one (short header,
 * length past the end, CRC mismatch, malformed ops) or the first stale
 * one (whole, but stamped with another log number: a recycled file's
 * old content). The tail from there is truncated away (durably); *bad_off
 * is its offset and *dropped its size, 0 when it is stale (a clean end,
 * not damage): it starts with a stale record, or with the rest of an old
 * record the new ones ended inside (wal.c's wal_stale_tail). Returns 0,
 * a cb error, or an I/O error. */
int dk__lsm_wal_replay(lsm_env *env, const char *path, lsm_wal_cb cb, void *arg, uint64_t *dropped,
                       uint64_t *bad_off);
#endif
