/*
 * compact_pace.c - the compaction thread's write hooks (compact_pace.h):
 * its rate limit (pace.c) and its yield to the WAL (io_yield.c).
 *
 * The write hook counts the output's bytes and, with a rate, sleeps as
 * long as the limiter says, in steps after each of which it asks again:
 * level 0 may have grown and lifted the limit, or the engine may be
 * closing. The sync hook runs before each writeback step and final fsync
 * of a table or blob file and waits (bounded) for a WAL fdatasync in
 * flight to end, except once level 0 holds LSM_PACE_L0_FREE runs, where
 * the pace is lifted too: from there compaction runs flat out, well
 * before writers are slowed (LSM_L0_SLOWDOWN).
 */
#include "compact_pace.h"

#include <unistd.h>

#include "io_yield.h"

#define LSM_L0_CHECK_US 10000u       /* re-read the level-0 count this often */
#define LSM_PACE_SLEEP_MAX_US 50000u /* sleep in steps, so close stays quick */

void dk__lsm_compact_pace_init(lsm_compact_pace *p, lsm_db *db)
{
    *p = (lsm_compact_pace){.db = db};
    dk__lsm_pace_init(&p->pace, db->rate_limit);
}


/* The level-0 run count, read under mu at most every LSM_L0_CHECK_US. */
static size_t cpp_l0(lsm_compact_pace *p, uint64_t now)
{
    if (!p->checked_us || now - p->checked_us >= LSM_L0_CHECK_US) {
        pthread_mutex_lock(&p->db->mu);
        p->l0 = dk__lsm_version_level_count(p->db->cur, 0);
        pthread_mutex_unlock(&p->db->mu);
        p->checked_us = now;
    }
    return p->l0;
}

/* Compaction must not wait for the WAL once level 0 is long enough that
 * the pace is lifted (writers would be slowed next), nor on close. */
static int cpp_urgent(void *arg)
{
    lsm_compact_pace *p = arg;
    return atomic_load(&p->db->closing) || cpp_l0(p, dk__lsm_now_us()) >= LSM_PACE_L0_FREE;
}

/* Table-builder and blob-writer sync hook: yield to the WAL (io_yield.c). */
void dk__lsm_compact_pace_sync(void *arg)
{
    lsm_compact_pace *p = arg;
    dk__lsm_bg_yield(p->db, cpp_urgent, p);
}

/* Table-builder write hook (compaction thread): count the bytes and, with
 * a rate, sleep as long as the limiter says (pace.c), in steps after each
 * of which it asks again: level 0 may have grown and lifted the limit, or
 * the engine may be closing. */
void dk__lsm_compact_pace_write(void *arg, size_t n)
{
    lsm_compact_pace *p = arg;
    lsm_db *db = p->db;
    atomic_fetch_add(&db->st_compact_write, n);
    if (!p->pace.rate)
        return;
    uint64_t now = dk__lsm_now_us();
    uint64_t us = dk__lsm_pace_account(&p->pace, now, n, cpp_l0(p, now));
    while (us && !atomic_load(&db->closing)) {
        usleep((useconds_t)(us < LSM_PACE_SLEEP_MAX_US ? us : LSM_PACE_SLEEP_MAX_US));
        uint64_t t = dk__lsm_now_us();
        atomic_fetch_add(&db->st_compact_paced_us, t - now);
        now = t;
        us = dk__lsm_pace_account(&p->pace, now, 0, cpp_l0(p, now));
    }
}
