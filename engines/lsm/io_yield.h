/*
 * io_yield.h - background writers yield to the WAL's fdatasync
 * (io_yield.c): before a flush's or a compaction's writeback step or its
 * final fsync, wait (bounded) for a WAL fdatasync in flight to end.
 */
#ifndef DK_LSM_IO_YIELD_H
#define DK_LSM_IO_YIELD_H
#include <stdatomic.h>
#include <stdint.h>

/* Wait at most this long per step: a WAL sync stuck longer than that on
 * the device is not ended any sooner by holding table data back. While
 * waiting, look at the caller's urgent() at least this often (the end of
 * the sync itself wakes the waiter at once). */
#define LSM_YIELD_MAX_US 10000u
#define LSM_YIELD_URGENT_US 1000u

/* The WAL's fdatasync gauge (lsm_db.wal_sync). since: the start of the
 * fdatasync in flight (never 0 while one is), 0 when none is. ends counts
 * the syncs ended (the futex word waiters sleep on); waiters, the threads
 * sleeping on it, so that the WAL makes a wake-up call only when someone
 * waits. */
typedef struct lsm_wal_gauge {
    _Atomic uint64_t since;
    _Atomic uint32_t ends;
    _Atomic uint32_t waiters;
} lsm_wal_gauge;

/* The WAL's side (lsm_write.c), around its fdatasync. */
static inline void dk__lsm_wal_gauge_begin(lsm_wal_gauge *g, uint64_t now_us)
{
    atomic_store(&g->since, now_us | 1u);
}
/* Shows no sync in flight and wakes the writers waiting for this one. */
void dk__lsm_wal_gauge_end(lsm_wal_gauge *g);

/* Clock, wait and "stop waiting now" of one wait; a test passes fakes. */
typedef struct lsm_yield_env {
    uint64_t (*now_us)(void *arg);
    /* Sleep until the sync `seen` shown in g has ended (g->since is no
     * longer seen) or us passed; may return early. -ETIMEDOUT when us
     * passed, else 0. */
    int (*wait_us)(void *arg, lsm_wal_gauge *g, uint64_t seen, uint64_t us);
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
 * passed. Each e->wait_us call is for at most LSM_YIELD_URGENT_US when
 * there is an urgent(), else for all the time left. */
lsm_yield_result dk__lsm_yield_wait(lsm_wal_gauge *g, uint64_t max_us, const lsm_yield_env *e);
/* A flush's or compaction's step for db (its gauge, LSM_YIELD_MAX_US,
 * the real clock and wait; nothing when [engine.lsm] wal_yield is off),
 * counted in its stats. urgent (may be NULL) is asked before and while
 * waiting. */
struct lsm_db;
void dk__lsm_bg_yield(struct lsm_db *db, int (*urgent)(void *arg), void *arg);
/* The real clock (dk__lsm_now_us) and wait (a futex on g->ends), for
 * e.now_us / e.wait_us. */
uint64_t dk__lsm_yield_now_us(void *arg);
int dk__lsm_yield_wait_us(void *arg, lsm_wal_gauge *g, uint64_t seen, uint64_t us);
#endif
