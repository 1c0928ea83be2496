/*
 * io_yield.h - background writers yield to the WAL's fdatasync
 * (io_yield.c): before a flush's or a compaction's writeback step or its
 * final fsync, wait (bounded) for a WAL fdatasync in flight to end.
 */
#ifndef DK_LSM_IO_YIELD_H
#define DK_LSM_IO_YIELD_H
#include <stdatomic.h>
#include <stdint.h>

/* Poll the gauge this often while waiting, and wait at most this long
 * per step: a WAL sync stuck longer than that on the device is not ended
 * any sooner by holding table data back. */
#define LSM_YIELD_POLL_US 100u
#define LSM_YIELD_MAX_US 10000u

/* The WAL's side (lsm_write.c): the start of the fdatasync in flight
 * (never 0 while one is), 0 when none is. */
static inline void dk__lsm_wal_gauge_begin(_Atomic uint64_t *g, uint64_t now_us)
{
    atomic_store_explicit(g, now_us | 1u, memory_order_release);
}
static inline void dk__lsm_wal_gauge_end(_Atomic uint64_t *g)
{
    atomic_store_explicit(g, 0, memory_order_release);
}

/* Clock, sleep and "stop waiting now" of one wait; a test passes fakes. */
typedef struct lsm_yield_env {
    uint64_t (*now_us)(void *arg);
    void (*sleep_us)(void *arg, uint64_t us);
    int (*urgent)(void *arg); /* may be NULL */
    void *arg;
} lsm_yield_env;

typedef struct lsm_yield_result {
    uint64_t waited_us; /* 0 when nothing was in flight */
    int waited;         /* a sync was in flight when called */
    int timed_out;      /* still in flight after max_us */
} lsm_yield_result;

/* If the gauge shows a sync in flight, wait until that sync ends (the
 * gauge shows none or a later one), urgent() says stop, or max_us
 * passed. */
lsm_yield_result dk__lsm_yield_wait(_Atomic uint64_t *gauge, uint64_t max_us, const lsm_yield_env *e);
/* A flush's or compaction's step for db (its gauge, LSM_YIELD_MAX_US,
 * the real clock; nothing when [engine.lsm] wal_yield is off), counted
 * in its stats. urgent (may be NULL) is asked before and while waiting. */
struct lsm_db;
void dk__lsm_bg_yield(struct lsm_db *db, int (*urgent)(void *arg), void *arg);
/* The real clock and sleep, for e.now_us / e.sleep_us. */
uint64_t dk__lsm_yield_now_us(void *arg);
void dk__lsm_yield_sleep_us(void *arg, uint64_t us);
#endif
