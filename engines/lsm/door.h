/*
 * door.h - an admission doorkeeper (door.c; TinyLFU's): something enters
 * a cache only when it was asked about once before, recently. A bitmap of
 * hashes, cleared after LSM_DOOR_RESET first askings, so that what is
 * read once (a uniform read of more than the cache holds) does not evict
 * what every read needs. Lock-free; a race costs at most one admission
 * too many or too few.
 */
#ifndef DK_LSM_DOOR_H
#define DK_LSM_DOOR_H
#include <stdatomic.h>
#include <stdint.h>

#define LSM_DOOR_WORDS 1024u /* 65536 bits */
#define LSM_DOOR_RESET 16384u

typedef struct lsm_door {
    _Atomic uint64_t bits[LSM_DOOR_WORDS];
    _Atomic uint64_t asked;
    uint64_t reset; /* first askings between clearings (0: LSM_DOOR_RESET) */
} lsm_door;

/* 1 when h (a well-mixed 64-bit hash) was asked about since the last
 * clearing: admit it; else 0, and h is noted. A zeroed lsm_door is empty
 * and clears every LSM_DOOR_RESET first askings. */
int dk__lsm_door_admit(lsm_door *d, uint64_t h);
#endif
