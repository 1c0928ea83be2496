/*
 * wal.h - the write-ahead log (wal.c).
 *
 * One record per write batch:
 *   masked crc32c (u32) | length (u32) | payload
 *   payload = first seq (u64) | op count (u32) | ops
 *   op      = type (u8) | varint key len | key | [varint value len | value]
 * The CRC covers the length field and the payload, so a torn length is
 * caught too. Group commit (several batches, one sync) lives in lsm.c;
 * this file only frames, appends and replays.
 */
#ifndef DK_LSM_WAL_H
#define DK_LSM_WAL_H
#include "dynkv/engine.h"
#include "env.h"
#include "util/buf.h"

#define LSM_WAL_HEADER 8u
#define LSM_WAL_MAX_RECORD (256u * 1024u * 1024u)

typedef struct lsm_wal {
    lsm_env *env;
    lsm_wfile *f;
    uint64_t size;
} lsm_wal;

/* Append one framed record for batch b (first sequence number seq) to out. */
int dk__lsm_wal_encode(dk_buf *out, uint64_t seq, const dk_batch *b);
/* Decode the next op of a payload's op area; 0, or DK_ECORRUPT. */
int dk__lsm_wal_op_next(const uint8_t **p, const uint8_t *end, int *type, dk_slice *key, dk_slice *value);

/* Create path (truncating) for appending. */
int dk__lsm_wal_open(lsm_env *env, const char *path, lsm_wal *w);
int dk__lsm_wal_write(lsm_wal *w, const void *p, size_t n);
int dk__lsm_wal_sync(lsm_wal *w);
int dk__lsm_wal_close(lsm_wal *w);

/* Called for each good record; ops spans `count` encoded ops. A non-zero
 * return stops the replay and is returned. */
typedef int (*lsm_wal_cb)(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n);

/* Replay path's records in order up to the first bad one (short header,
 * length past the end, CRC mismatch, malformed ops). The bad tail is
 * truncated away (durably) and its size stored in *dropped, with its
 * offset in *bad_off. Returns 0, a cb error, or an I/O error. */
int dk__lsm_wal_replay(lsm_env *env, const char *path, lsm_wal_cb cb, void *arg,
                       uint64_t *dropped, uint64_t *bad_off);
#endif
