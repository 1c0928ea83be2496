/*
 * block.h - sorted key/value blocks (block.c): the unit of SSTable data
 * and index storage.
 *
 * An entry stores the key as a prefix shared with the previous key plus
 * the rest: varint shared | varint unshared | varint value len | key
 * suffix | value. Every 8th entry of a data block (every entry of an
 * index block: table_builder.c) is a restart point with shared = 0; the
 * block ends with the restart offsets (u32 each) and their count (u32), so
 * a seek binary-searches restarts, comparing their keys in place, and then
 * scans at most 8 entries. Readers take any interval: tables written with
 * the earlier 16 read as before.
 *
 * Why 8: a point read's seek in a 4 KiB block of ~120 small entries (keys
 * with blob references, the 10 KiB-value case) decodes on average 7.5
 * entries after the binary search at 16, 3.5 at 8: ~460 fewer
 * instructions a seek (callgrind), for ~2.5 % fewer entries per block (the
 * restart keys are stored whole and take 4 bytes each in the array). 4
 * saves only ~180 more and costs another ~5 %.
 * Keys are internal keys (ikey.h order).
 */
#ifndef DK_LSM_BLOCK_H
#define DK_LSM_BLOCK_H
#include "ikey.h"
#include "util/buf.h"

#define LSM_RESTART_INTERVAL 8

typedef struct lsm_block_builder {
    dk_buf buf, last_key, restarts; /* restarts: u32 offsets, LE */
    int counter;
    int interval; /* entries per restart (LSM_RESTART_INTERVAL) */
    size_t entries;
} lsm_block_builder;

void dk__lsm_bb_init(lsm_block_builder *bb);
void dk__lsm_bb_free(lsm_block_builder *bb);
/* Start a new block (keeps allocations). */
void dk__lsm_bb_reset(lsm_block_builder *bb);
/* Add an entry; keys must arrive in increasing order. 0 or -ENOMEM. */
int dk__lsm_bb_add(lsm_block_builder *bb, dk_slice key, dk_slice value);
/* Size the finished block would have. */
size_t dk__lsm_bb_estimate(const lsm_block_builder *bb);
/* Append the restart array; *out stays valid until the next reset/add. */
int dk__lsm_bb_finish(lsm_block_builder *bb, dk_slice *out);

/* Check the restart array of a block; 0 or DK_ECORRUPT. */
int dk__lsm_block_check(const uint8_t *data, size_t size);
/* An iterator over a checked block. On destroy it calls release(arg)
 * (which may free data). NULL on ENOMEM (release is then called). */
lsm_iter *dk__lsm_block_iter(const uint8_t *data, size_t size, void (*release)(void *), void *arg);

/* Room for the current key inside the iterator: any key up to DK_KEY_MAX
 * decodes without touching the heap; a longer one spills to malloc. */
#define LSM_BLOCK_KEY_INLINE (DK_KEY_MAX + LSM_TRAILER + 8)

/* The block iterator itself, so a point read can keep one on its stack
 * (the lsm_iter ops work on &it->base). Fields are private to block.c. */
typedef struct lsm_block_iter {
    lsm_iter base;
    const uint8_t *data;
    size_t limit; /* start of the restart array */
    uint32_t nres;
    size_t cur, next; /* offset of the current entry and of the one after */
    int valid, status;
    uint8_t *key; /* kin, or a heap buffer for long keys */
    size_t klen, kcap;
    dk_slice value;
    void (*release)(void *);
    void *arg;
    uint8_t kin[LSM_BLOCK_KEY_INLINE];
} lsm_block_iter;

/* Set b up over data[0..size) in place, allocating nothing (a corrupt
 * block gives an invalid iterator with status DK_ECORRUPT). data must
 * outlive b; finish with dk__lsm_block_iter_done, never ops->destroy. */
void dk__lsm_block_iter_init(lsm_block_iter *b, const uint8_t *data, size_t size);
/* Free what init/seek allocated for a long key. */
void dk__lsm_block_iter_done(lsm_block_iter *b);
#endif
