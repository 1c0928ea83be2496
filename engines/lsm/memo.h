/*
 * memo.h - the point-lookup memo (memo.c): what the search of one
 * version's tables found for a key, kept in the block cache, so that a
 * warm point read of a key no memtable holds costs one hash lookup instead
 * of the version's candidate tables, their bloom filters and two block
 * seeks (index, then data) in each (RocksDB's row_cache, keyed by what is
 * immutable).
 *
 * A version never changes, so "the newest entry for key in version V's
 * tables" never does either: an entry keyed by (V's id, key) needs no
 * invalidation. A flush, compaction or blob collection installs a new
 * version with a new id; the old version's entries are not asked for
 * again and age out of the cache by its clock. A point read searches the
 * tables at the newest sequence, which is at least every sequence in the
 * version it pinned (both are taken under the engine's mutex, and a
 * version only holds published writes), so the search's snapshot bound
 * excludes nothing there: one answer per (version, key).
 *
 * Searches are memoized only when no flush or compaction ran or was due as
 * the read began (lsm_read.settled): the next version is then near, and
 * entries for this one would each cost an insert and cached values for
 * nothing. And only a key's second search in a while (a doorkeeper,
 * door.h, as for blob values): keys read once, as by a uniform read of
 * more keys than the cache holds, would otherwise evict the index and
 * reference blocks every search needs (dk_bench readrandom over 50 000
 * values of 10 KiB, 32 MiB cache: the pass that inserted every key was
 * ~25 % slower than without the memo).
 *
 * Only blob references are kept, without the head of the value a
 * reference may hold (blob.h: at most LSM_BLOB_REF_BARE bytes; the value
 * stays in its blob record, cached by blob_set.c, where a search would
 * have led too), and only what a search found without error (a damaged
 * block is searched again, and logged, every time). Keeping heads would
 * make each entry ~5 times larger (256 bytes of head by default beside
 * ~60 of key, sequence and reference), cache space taken from the blocks,
 * for reads that need no head; a read that needs only the head
 * (DK_GET_HEAD) neither asks the memo nor fills it, and finds the head in
 * the table's block (lsm_read.c), unless blob_head is 0.
 *
 * Entry (the cached block's bytes): u32 key length | key | u64 seq |
 * the reference. Cache key: (LSM_MEMO_NS | version id, the key's hash64);
 * two keys with one hash share a slot, the stored key tells them apart.
 */
#ifndef DK_LSM_MEMO_H
#define DK_LSM_MEMO_H
#include <stdint.h>

#include "cache.h"
#include "door.h"
#include "dynkv/engine.h"
#include "table.h"

/* The memo's doorkeeper clears after this many first searches: a key is
 * memoized when searched twice within about as many reads, so that a
 * uniform read of many more keys than the cache holds admits few (callgrind,
 * 20 000 values of 10 KiB, 8 MiB cache: with the blob values' 16 384 the
 * memo added 6.7 % to a point read's instructions there). */
#define LSM_MEMO_DOOR_RESET 4096u

/* Above every file number (the engine's counter), so never a file's key. */
#define LSM_MEMO_NS (UINT64_C(1) << 63)

/* A fresh version id (version.c stamps each new version). */
uint64_t dk__lsm_memo_next_id(void);
/* 1 and *f (type LSM_TYPE_BLOB, seq, value = the reference in the cached
 * entry, h = its handle to release) when version vid's search for key is
 * memoized; 0 when it is not (f untouched). */
int dk__lsm_memo_get(lsm_cache *c, uint64_t vid, dk_slice key, uint64_t hash, lsm_found *f);
/* Memoize f, what version vid's search found for key, when it is a blob
 * reference and door (NULL: none) admits the pair; anything else, or no
 * memory, is a no-op. */
void dk__lsm_memo_put(lsm_cache *c, lsm_door *door, uint64_t vid, dk_slice key, uint64_t hash,
                      const lsm_found *f);
#endif
