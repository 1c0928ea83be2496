/*
 * lsm_write.c - the LSM engine's write path: the writer queue, its
 * leader, the group-commit window and the WAL thread (the ops' write and
 * write_async, lsm.c's ops table).
 *
 * Write path (LevelDB's writer queue): a writer enqueues its batch and
 * waits; the writer at the head becomes the leader, takes every batch
 * queued behind it (up to 1 MiB), assigns sequence numbers, writes them
 * as one gather write (large values are not copied), issues one
 * fdatasync if any of them asked for sync (inserting them into the
 * memtable while the device writes: lsm_sync_insert), or else inserts
 * them, publishes the last sequence number and wakes the group (each
 * writer sleeps on its own semaphore, posted after the mutex is released,
 * so waking costs one switch and no lock hand-off). The batch is
 * whatever queued while the previous leader was syncing, so it grows
 * with load and is empty when idle.
 *
 * The group-commit window (Cassandra's commitlog_sync_group_window,
 * PostgreSQL's commit_delay/commit_siblings, MySQL's
 * binlog_group_commit_sync_delay): at a moderate rate each fdatasync
 * covers one or two writes and costs the WAL thread three sleeps (a
 * wake-up for work, then writeback and the device flush inside the
 * fdatasync), so switches per write stay above two. The leader (the WAL
 * thread, or a synchronous writer: T threads writing in closed loops
 * would otherwise alternate between two groups of ~T/2, twice the
 * fdatasyncs), once it has appended a group that needs a sync, may wait
 * up to group_commit_window_us more for writers to join (appending theirs)
 * before the one fdatasync, but only when at least group_commit_siblings
 * writers arrived while the previous group was led: a lone writer (one
 * client in a closed loop) never waits, so its latency does not grow;
 * right after a burst the first lone write may wait once. Nor does it
 * wait once the group holds group_commit_enough writers (the window ends
 * when the queue reaches that many): its fdatasync is shared widely
 * enough, and at a node's peak the early end below (the queue as long as
 * the last cycle's writers) never came, because some of a closed loop's
 * clients are always being answered or parsed on the loops, so every
 * group waited the whole window and the WAL synced half as often as
 * Redis's appendfsync always (bench/results/nodeput-2026-12-06-s12.md).
 * Nobody is acknowledged before the fdatasync, so the window changes
 * latency, never durability. A timer per group instead (Cassandra's fixed
 * period) would make every write wait, alone or not. Obsolete
 * WAL files are recycled (wal.h): the next log overwrites an old file's
 * blocks, so an fdatasync flushes data without the file-size journal
 * commit an appending write needs (about half the cost of a small sync
 * on ext4). A WAL write or sync error is fatal: the engine answers every
 * later write with DK_EREADONLY instead of acknowledging data whose
 * durability it cannot know (after a failed fsync the kernel
 * may have dropped the dirty pages). A full memtable is switched by the
 * leader without syncing the old WAL (flush.c), into a log the flush
 * thread prepared (no I/O); the first sync group after a switch settles
 * the old log only when its acknowledgement depends on it (unsynced
 * records in the old log, a refused group to cut from it, or a log opened
 * by the switch itself), else the flush thread does. write_stall_us_total
 * counts the time the queue waits: full-memtable stalls, switches, settles
 * a sync group does, and the 1 ms slowdowns (also counted by
 * write_slowdowns_total); wal_switch_us_total only switches and settles.
 */
#define _GNU_SOURCE 1 /* pthread_setname_np */
#include "io_yield.h"
#include "lsm.h"
#include "pace.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define LSM_GROUP_MAX (1u << 20)

/* Make room in the memtable (or switch it when force). Leader, holds mu. */
static int lsm_make_room(lsm_db *db, int force)
{
    for (;;) {
        if (db->bg_error)
            return DK_EREADONLY;
        /* An empty memtable is never full: a value larger than the
         * memtable goes into an empty one rather than looping. */
        if (dk__lsm_sl_count(db->mem->sl) == 0)
            return 0;
        size_t used = dk__lsm_sl_used(db->mem->sl);
        /* The memtable being flushed is paced (flush_pace.c) unless this
         * one fills too fast to wait for it: LSM_FLUSH_HURRY_PM full
         * (pace.h), or a forced switch, lifts the pace before anyone
         * stalls on it. */
        atomic_store(&db->mem_fill_pm, db->mem_limit ? used * 1000u / db->mem_limit : 1000u);
        if (db->imm && (force || used >= db->mem_limit / 1000u * LSM_FLUSH_HURRY_PM))
            atomic_store(&db->flush_hurry, 1);
        if (!force && used < db->mem_limit)
            return 0;
        if (db->imm) {
            /* The flush is behind: stall. Memory stays bounded at two
             * memtables; the wait ends when the flush lands or fails. */
            uint64_t t0 = dk__lsm_now_us();
            pthread_cond_wait(&db->done_cv, &db->mu);
            atomic_fetch_add(&db->st_stall_us, dk__lsm_now_us() - t0);
            continue;
        }
        /* The write queue waits for the switch: count it as a stall.
         * The flush of the memtable switched out is paced after the rate
         * it filled at, unless forced (someone waits for it) or its age
         * is unknown (the first since open). */
        uint64_t t0 = dk__lsm_now_us();
        atomic_store(&db->flush_rate, force || !db->flush_pace || !db->mem_born_us
                                          ? 0
                                          : dk__lsm_flush_rate(used, t0 - db->mem_born_us));
        atomic_store(&db->flush_hurry, force);
        int rc = dk__lsm_switch_memtable(db);
        uint64_t dt = dk__lsm_now_us() - t0;
        if (!rc) {
            db->mem_born_us = t0 + dt;
            atomic_store(&db->mem_fill_pm, 0); /* the new memtable is empty */
        }
        atomic_fetch_add(&db->st_stall_us, dt);
        atomic_fetch_add(&db->st_switch_us, dt);
        if (rc) {
            dk__lsm_set_bg_retry(db, rc, "WAL switch", 1);
            return rc;
        }
        force = 0;
    }
}

static int lsm_check_batch(const dk_batch *b)
{
    uint64_t total = 0;
    for (size_t i = 0; i < b->count; i++) {
        const dk_batch_op *op = &b->ops[i];
        if (op->type != DK_BATCH_PUT && op->type != DK_BATCH_DELETE)
            return -EINVAL;
        if (op->key.len > 65536 || (op->key.len && !op->key.ptr))
            return DK_ETOOBIG;
        if (op->type == DK_BATCH_PUT && op->value.len && !op->value.ptr)
            return -EINVAL;
        total += op->key.len + (op->type == DK_BATCH_PUT ? op->value.len : 0) + 32;
    }
    return total > LSM_WAL_MAX_RECORD / 2 ? DK_ETOOBIG : 0;
}

/* Compaction is running and behind: the writer (or, for asynchronous
 * writers, the WAL thread before it leads a group) waits 1 ms so that
 * compaction catches up gradually. When the policy has nothing to do (a
 * size-tiered shape may keep many level-0 runs) nobody waits. Holds mu;
 * drops it for the sleep. */
static void lsm_maybe_slow(lsm_db *db)
{
    if ((db->compacting || db->compact_pending) &&
        dk__lsm_version_level_count(db->cur, 0) >= LSM_L0_SLOWDOWN) {
        pthread_mutex_unlock(&db->mu);
        uint64_t t0 = dk__lsm_now_us();
        usleep(1000);
        atomic_fetch_add(&db->st_stall_us, dk__lsm_now_us() - t0);
        atomic_fetch_add(&db->st_slowdowns, 1);
        pthread_mutex_lock(&db->mu);
    }
}

/* The WAL thread sleeps on its own semaphore, not on a condition
 * variable over mu: glibc re-takes the mutex after pthread_cond_wait
 * marked as contended (it cannot know whether other waiters remain), so
 * the thread's next unlock of mu always made a FUTEX_WAKE that woke
 * nobody, one wasted syscall per wake-up, i.e. per group. A semaphore
 * post with nobody asleep is no syscall either. The protocol: the thread
 * sets wal_sleeping under mu, drops mu and waits; whoever clears
 * wal_sleeping under mu (lsm_wal_kick) posts once, after dropping mu
 * where it can (woken under mu, the thread would run only to block on
 * mu). A timed wait that ends while a post is on its way leaves one
 * token behind: the next sleep returns at once and the caller's loop
 * re-checks its condition, a spurious wake-up, never a lost one.
 *
 * Sleep until posted, or until the monotonic deadline (µs; 0: none).
 * mu held; released while asleep. */
static void lsm_wal_sleep(lsm_db *db, uint64_t deadline)
{
    db->wal_sleeping = 1;
    pthread_mutex_unlock(&db->mu);
    if (deadline) {
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000u),
                              .tv_nsec = (long)(deadline % 1000000u) * 1000};
        while (sem_clockwait(&db->wal_sem, CLOCK_MONOTONIC, &ts) && errno == EINTR)
            ;
    } else {
        while (sem_wait(&db->wal_sem) && errno == EINTR)
            ;
    }
    pthread_mutex_lock(&db->mu);
    db->wal_sleeping = 0;
}

/* The WAL thread has something to do (mu held): 1 when it sleeps and
 * the caller must sem_post(&db->wal_sem) (after dropping mu). */
static int lsm_wal_kick(lsm_db *db)
{
    if (!db->wal_sleeping)
        return 0;
    db->wal_sleeping = 0;
    return 1;
}

/* The queue's head changed to next (mu held): give it the lead. A
 * synchronous writer is woken on its semaphore after mu is dropped (the
 * caller posts it: *post); an asynchronous one has no thread, so the WAL
 * thread leads for it (*kick: the caller posts wal_sem). When the WAL
 * thread is the caller it is awake: no post. */
static void lsm_hand_over(lsm_db *db, lsm_writer *next, lsm_writer **post, int *kick)
{
    *post = NULL;
    *kick = 0;
    if (!next)
        return;
    if (next->cb) {
        db->wal_turn = 1;
        *kick = lsm_wal_kick(db);
    } else {
        *post = next;
    }
}

/* Complete one member x of a finished group with rc: an asynchronous
 * writer's callback runs here, on the leader's thread, and the writer is
 * freed; a synchronous one is woken (it returns rc). mu not held. */
static void lsm_complete(lsm_writer *x, int rc)
{
    if (x->cb) {
        x->cb(x->cb_arg, rc);
        free(x);
        return;
    }
    x->rc = rc;
    x->state = LSM_W_DONE;
    sem_post(&x->wake);
}

/* Count one WAL fdatasync of us microseconds (the leader, mu not held). */
static void lsm_count_sync(lsm_db *db, uint64_t us)
{
    atomic_fetch_add(&db->st_wal_syncs, 1);
    atomic_fetch_add(&db->st_wal_sync_us, us);
    uint64_t max = atomic_load(&db->st_wal_sync_max_us);
    while (us > max && !atomic_compare_exchange_weak(&db->st_wal_sync_max_us, &max, us))
        ;
    for (unsigned i = 0, le = 1000; i < 4; i++, le *= 4)
        if (us <= le)
            atomic_fetch_add(&db->st_wal_sync_le[i], 1);
}

/* A group being led: the writers from the leader to `last`, their first
 * sequence number and op count, the WAL bytes encoded for them. */
typedef struct lsm_group {
    lsm_writer *last;
    uint64_t seq, nops, bytes, writers;
    int need_sync;
} lsm_group;

/* Note the values db->wbuf borrowed from its piece seg0 on, with their
 * CRCs, in db->gcrc. Out of memory only costs the flush a CRC pass over
 * the values left out (lsm_mem_insert finds none for them). */
static void lsm_keep_crcs(lsm_db *db, size_t seg0)
{
    for (size_t i = seg0; i < db->wbuf.nseg; i++) {
        const lsm_wal_seg *s = &db->wbuf.seg[i];
        if (!s->ptr)
            continue;
        if (db->ngcrc == db->gcrc_cap) {
            size_t cap = db->gcrc_cap ? db->gcrc_cap * 2 : 64;
            struct lsm_vcrc *n = realloc(db->gcrc, cap * sizeof(*n));
            if (!n)
                return;
            db->gcrc = n;
            db->gcrc_cap = cap;
        }
        db->gcrc[db->ngcrc++] = (struct lsm_vcrc){s->ptr, s->crc};
    }
}

/* Insert the ops of the group's batches w..last into mem from sequence
 * seq on, each long value with the CRC its WAL record was combined from
 * (db->gcrc, in the same order). Why the flush may trust that CRC: it
 * was computed from the writer's bytes, the very bytes the WAL wrote and
 * the memtable copies; the blob record's CRC is derived from it, so it
 * covers what the writer handed in, not what the memtable holds at
 * flush. A value damaged in memory between this copy and the flush's
 * (or in the copy) is written with a CRC that does not match it, and a
 * read of it fails with DK_ECORRUPT, as any bad record; computing the
 * CRC at flush would have sealed the damage as valid. Not covered: the
 * writer's bytes changing between the WAL encoder's CRC and this copy
 * (they must not change until the write completes; the WAL record would
 * not match them either). */
static int lsm_mem_insert(lsm_db *db, lsm_memtable *mem, lsm_writer *w, lsm_writer *last, uint64_t seq)
{
    int rc = 0;
    size_t ci = 0;
    for (lsm_writer *x = w; !rc; x = x->next) {
        for (size_t i = 0; !rc && i < x->batch->count; i++) {
            const dk_batch_op *op = &x->batch->ops[i];
            int del = op->type == DK_BATCH_DELETE;
            const uint32_t *vcrc = NULL;
            if (!del && op->value.len > LSM_WAL_COPY_MAX && ci < db->ngcrc &&
                db->gcrc[ci].ptr == op->value.ptr)
                vcrc = &db->gcrc[ci++].crc;
            rc = dk__lsm_mem_add_crc(mem, seq++, del ? LSM_TYPE_DELETE : LSM_TYPE_VALUE, op->key, op->value,
                                     vcrc);
        }
        if (x == last)
            break;
    }
    return rc;
}

/* Make the group w..last durable and insert it into mem (mu not held):
 * start the WAL's writeback, insert while the device writes, then
 * fdatasync, so the insert (a 10 KiB value's copy and the list search,
 * eight of them for eight synchronous writers) is off the critical path
 * of the group's cycle instead of after the sync. Inserting before the
 * sync is safe: last_seq is published only after it (lsm_lead), and
 * reads and iterators see nothing past it; a failed writeback or sync is
 * fatal (*fatal), so no later group publishes past these sequence
 * numbers and no flush writes mem (flush.c stops at a fatal error). A
 * failed insert is reported once the group is durable, as before. The
 * sync's time (lsm_wal_syncs_*) leaves the insert out. */
static int lsm_sync_insert(lsm_db *db, lsm_memtable *mem, lsm_writer *w, lsm_writer *last, uint64_t seq,
                           int *fatal)
{
    uint64_t t0 = dk__lsm_now_us();
    dk__lsm_wal_gauge_begin(&db->wal_sync, t0); /* io_yield.c */
    int rc = dk__lsm_wal_writeback(&db->wal), irc = 0;
    uint64_t t1 = dk__lsm_now_us();
    if (!rc)
        irc = lsm_mem_insert(db, mem, w, last, seq);
    uint64_t t2 = dk__lsm_now_us();
    if (!rc)
        rc = dk__lsm_wal_sync(&db->wal);
    dk__lsm_wal_gauge_end(&db->wal_sync);
    lsm_count_sync(db, t1 - t0 + dk__lsm_now_us() - t2);
    *fatal = rc != 0;
    return rc ? rc : irc;
}

/* Encode the batches queued from x on into db->wbuf (emptied first), up
 * to the group cap, extending g. The group's first batch always goes in
 * and its encoding error is the group's; a later batch that fails to
 * encode (out of memory) is left to lead the next group. mu held. */
static int lsm_take(lsm_db *db, lsm_writer *x, lsm_group *g)
{
    int rc = 0;
    dk__lsm_wal_vec_reset(&db->wbuf);
    for (; x && x->batch; x = x->next) {
        if (g->last && g->bytes + db->wbuf.total >= LSM_GROUP_MAX)
            break;
        size_t seg0 = db->wbuf.nseg;
        if ((rc = dk__lsm_wal_encodev(&db->wbuf, db->wal.number, g->seq + g->nops, x->batch))) {
            rc = g->last ? 0 : rc;
            break;
        }
        lsm_keep_crcs(db, seg0);
        g->nops += x->batch->count;
        g->writers++;
        g->need_sync |= x->sync;
        g->last = x;
    }
    g->bytes += db->wbuf.total;
    return rc;
}

/* The group-commit window (mu held): the deadline in µs of the monotonic
 * clock until which the leader (the WAL thread, or a synchronous writer
 * leading) may wait for more writers before the fdatasync of the group
 * led for w, or 0 for none. Only a synced group, and only when at least
 * gc_siblings writers arrived while the previous group was led
 * (PostgreSQL's commit_siblings rule): a writer alone, one client in a
 * closed loop, never waits, nor does anyone with sync off. A synchronous
 * leader waits too: with T threads writing in closed loops the queue
 * otherwise splits into two alternating groups (those queued during a
 * sync lead the next one at once, before the group just completed is
 * back), each about T/2 long, twice the fdatasyncs of one group of T;
 * the early end (all of them back) costs one wake-up per group. A group
 * of gc_enough writers or more does not wait (0: no such limit). */
static uint64_t lsm_window(const lsm_db *db, const lsm_writer *w, const lsm_group *g)
{
    (void)w;
    if (!g->need_sync || !db->gc_window_us || db->gc_seen < db->gc_siblings || g->bytes >= LSM_GROUP_MAX ||
        (db->gc_enough && g->writers >= db->gc_enough))
        return 0;
    return dk__lsm_now_us() + db->gc_window_us;
}

/* Wait (mu held, released while asleep) until the deadline, close, or
 * the early end: when as many writers are queued as were in flight
 * during the last group (those it held and those that arrived during its
 * last append and fdatasync), or gc_enough if that is fewer. A closed
 * loop of C clients keeps exactly C writes in flight: once all C are
 * back, waiting longer only adds latency and idles the disk, so the
 * writer that makes the queue that long wakes the WAL thread
 * (lsm_enqueue). Under an open-loop stream the
 * queue does not reach that count (another cycle's worth of writers)
 * within the window, which runs its course. Nobody else signals the
 * writers that arrive meanwhile: they queue behind the group's head,
 * which is not theirs to wake, so the window costs the WAL thread one
 * sleep. */
static void lsm_window_wait(lsm_db *db, lsm_writer *w, uint64_t deadline)
{
    uint64_t t0 = dk__lsm_now_us(), now = t0;
    uint64_t target = db->gc_size + db->gc_after;
    if (db->gc_enough && (!target || db->gc_enough < target))
        target = db->gc_enough;
    db->gc_target = target;
    while (!db->wal_stop && now < deadline && !(db->gc_target && db->wq_len >= db->gc_target)) {
        if (w->cb) {
            lsm_wal_sleep(db, deadline);
        } else {
            /* A synchronous leader sleeps on its own semaphore; the
             * writer that ends the window posts it under mu (w lives on
             * its thread's stack, gone once lsm_lead returns), clearing
             * gc_sleeper. A token left behind by a post racing the
             * deadline is never waited for: w leads, and then returns. */
            struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000u),
                                  .tv_nsec = (long)(deadline % 1000000u) * 1000};
            db->gc_sleeper = &w->wake;
            pthread_mutex_unlock(&db->mu);
            while (sem_clockwait(&w->wake, CLOCK_MONOTONIC, &ts) && errno == EINTR)
                ;
            pthread_mutex_lock(&db->mu);
            db->gc_sleeper = NULL;
        }
        now = dk__lsm_now_us();
    }
    if (now < deadline && db->gc_target && db->wq_len >= db->gc_target)
        atomic_fetch_add(&db->st_gc_early, 1);
    db->gc_target = 0;
    atomic_fetch_add(&db->st_gc_waits, 1);
    atomic_fetch_add(&db->st_gc_wait_us, now - t0);
}

/* Lead the group starting at w, the queue's head (mu held; returns with
 * mu released): make room, encode every batch queued behind w (up to 1
 * MiB) as one gather write and append it; when the window applies, wait
 * for more writers and append theirs too; then one fdatasync if any
 * asked for sync, insert into the memtable, publish the sequence, hand
 * the queue over, and complete the members in queue order: w itself too
 * when it is asynchronous (w is gone then); a synchronous w gets the
 * outcome as the return value. The records appended before the window
 * are in the file but not durable while it lasts: nobody in the group is
 * completed before the fdatasync, so a crash then loses only writes that
 * were never acknowledged. */
static int lsm_lead(lsm_db *db, lsm_writer *w)
{
    db->wal_busy = 1;
    int rc = lsm_make_room(db, w->batch == NULL);
    lsm_writer *last = w;
    if (!rc && w->batch) {
        uint64_t arrived0 = db->wq_arrivals, arrived1 = arrived0, wal_start = db->wal.size;
        lsm_group g = {.seq = db->last_seq + 1};
        lsm_memtable *mem = db->mem;
        int step = 0; /* 1: WAL write failed, 2: settle */
        db->ngcrc = 0;
        rc = lsm_take(db, w, &g);
        uint64_t deadline = rc ? 0 : lsm_window(db, w, &g);
        while (!rc) {
            pthread_mutex_unlock(&db->mu);
            if ((rc = dk__lsm_wal_writev(&db->wal, &db->wbuf)) != 0) {
                step = 1;
                /* Part of the group may be in the file (a torn write, or
                 * the part appended before the window): cut it back to
                 * where the group began when the log is settled (a retry
                 * replaces it first), so no replay ever sees the group. */
                db->wal.size = wal_start;
                db->wal.recycled = 1;
                db->wal.cut_back = 1;
            } else {
                atomic_fetch_add(&db->st_wal_bytes, db->wbuf.total);
            }
            pthread_mutex_lock(&db->mu);
            if (rc || !deadline)
                break;
            lsm_window_wait(db, w, deadline);
            deadline = 0;
            arrived1 = db->wq_arrivals;
            if (!g.last->next || !g.last->next->batch || g.bytes >= LSM_GROUP_MAX)
                break;
            rc = lsm_take(db, g.last->next, &g);
        }
        last = g.last;
        pthread_mutex_unlock(&db->mu);
        if (!rc && g.need_sync && atomic_load(&db->settle_urgent)) {
            /* The group's acknowledgement depends on the previous log's
             * settle (unsynced records in it, a refused group to cut, or
             * the new log's name not durable: flush.c): do it first; the
             * queue waits, a stall. Otherwise the flush thread settles. */
            uint64_t t0 = dk__lsm_now_us();
            rc = dk__lsm_wal_settle(db);
            step = rc ? 2 : 0;
            uint64_t dt = dk__lsm_now_us() - t0;
            atomic_fetch_add(&db->st_stall_us, dt);
            atomic_fetch_add(&db->st_switch_us, dt);
        }
        int fatal = 0;
        if (!rc && g.need_sync) {
            rc = lsm_sync_insert(db, mem, w, last, g.seq, &fatal);
        } else {
            fatal = rc != 0;
            if (!rc)
                rc = lsm_mem_insert(db, mem, w, last, g.seq);
        }
        pthread_mutex_lock(&db->mu);
        /* Who came while this group was led, and after its window: the
         * next group's evidence for its window (lsm_window, _wait). */
        db->gc_seen = db->wq_arrivals - arrived0;
        db->gc_after = db->wq_arrivals - arrived1;
        if (rc && step == 1) {
            /* Out of space or descriptors: the group is refused and
             * not in the memtable; writes wait for the retry to replace
             * the WAL (flush.c). */
            dk__lsm_set_bg_retry(db, rc, "WAL write", 1);
        } else if (rc && step == 2) {
            dk__lsm_set_bg_retry(db, rc, "WAL settle", 0);
        } else if (rc) {
            /* The WAL may hold the group while the memtable does not:
             * answering later reads would be a lie either way. */
            dk__lsm_set_bg_error(db, rc, fatal ? "WAL write or sync" : "memtable insert");
        } else {
            db->last_seq = g.seq + g.nops - 1;
            atomic_fetch_add(&db->st_writes, 1);
        }
    }
    db->wal_busy = 0;
    if (db->bg_error)
        pthread_cond_broadcast(&db->bg_cv); /* a retry may wait for the WAL */
    /* Detach the group and hand the queue to the next writer, then
     * complete them all outside the mutex. */
    lsm_writer *group = w->next, *next = last->next, *post;
    int kick;
    uint64_t n = 1;
    for (lsm_writer *x = w; x != last; x = x->next)
        n++;
    db->wq_len -= n;
    if (w->batch)
        db->gc_size = n;
    last->next = NULL;
    db->wq_head = next;
    if (!next)
        db->wq_tail = NULL;
    lsm_hand_over(db, next, &post, &kick);
    pthread_mutex_unlock(&db->mu);
    if (kick)
        sem_post(&db->wal_sem);
    lsm_writer *rest = last == w ? NULL : group;
    if (w->cb)
        lsm_complete(w, rc);
    for (lsm_writer *x = rest, *nx; x; x = nx) {
        nx = x->next; /* read before completing: x may vanish after it */
        lsm_complete(x, rc);
    }
    if (post) {
        post->state = LSM_W_LEAD;
        sem_post(&post->wake);
    }
    return rc;
}

/* w completes the window's group (LSM_Q_FULL, mu held): wake the
 * leader waiting in it, a synchronous one (gc_sleeper, posted under mu:
 * lsm_window_wait) or the WAL thread. */
static void lsm_window_end(lsm_db *db)
{
    if (db->gc_sleeper) {
        sem_post(db->gc_sleeper);
        db->gc_sleeper = NULL;
    } else if (lsm_wal_kick(db)) {
        sem_post(&db->wal_sem);
    }
}

#define LSM_Q_HEAD 1 /* w is the head now */
#define LSM_Q_FULL 2 /* w ends the WAL thread's window: wake it */

/* Append w to the queue (mu held). Returns LSM_Q_* bits: the caller
 * leads or signals the WAL thread (after dropping mu) accordingly. */
static int lsm_enqueue(lsm_db *db, lsm_writer *w)
{
    if (db->wq_tail)
        db->wq_tail->next = w;
    else
        db->wq_head = w;
    db->wq_tail = w;
    db->wq_arrivals++;
    db->wq_len++;
    return (db->wq_head == w ? LSM_Q_HEAD : 0) | (db->wq_len == db->gc_target ? LSM_Q_FULL : 0);
}

/* Queue a synchronous writer, wait to lead or to be done; run the group
 * when leading. Any thread but the WAL thread. */
int dk__lsm_write_queued(lsm_db *db, const dk_batch *b, int sync)
{
    lsm_writer w = {.batch = b, .sync = sync};
    (void)sem_init(&w.wake, 0, 0); /* fails only for pshared or a huge value */
    pthread_mutex_lock(&db->mu);
    if (db->bg_error || db->closing) {
        int rc = db->bg_error ? DK_EREADONLY : DK_ECLOSED;
        pthread_mutex_unlock(&db->mu);
        sem_destroy(&w.wake);
        return rc;
    }
    if (b)
        lsm_maybe_slow(db);
    /* Wait to be led or to lead. A writer never leaves the queue on its
     * own: a leader may already have taken its batch into a group. The
     * wait is on a semaphore posted after the leader dropped the mutex,
     * so a finished writer returns without touching the mutex again
     * (POSIX allows destroying a semaphore as soon as sem_wait returned,
     * which glibc honours since 2.21, so w may go out of scope at once). */
    int q = lsm_enqueue(db, &w);
    if (q & LSM_Q_FULL)
        lsm_window_end(db); /* once per group: under mu is fine */
    if (!(q & LSM_Q_HEAD)) {
        pthread_mutex_unlock(&db->mu);
        while (sem_wait(&w.wake) && errno == EINTR)
            ;
        if (w.state == LSM_W_DONE) {
            sem_destroy(&w.wake);
            return w.rc;
        }
        pthread_mutex_lock(&db->mu); /* LSM_W_LEAD: now at the head */
    }
    int rc = lsm_lead(db, &w);
    sem_destroy(&w.wake);
    return rc;
}

int dk__lsm_write(dk_engine *e, const dk_batch *b, int sync)
{
    lsm_db *db = (lsm_db *)e;
    if (!b || b->count == 0)
        return 0;
    int rc = lsm_check_batch(b);
    return rc ? rc : dk__lsm_write_queued(db, b, sync);
}

/* The WAL thread: whenever the queue's head is an asynchronous writer it
 * leads that head's group (which also takes along any synchronous
 * writers queued behind it), so a thousand queued writes cost one thread,
 * one writev and one fdatasync per batch, not a parked thread each. */
static void *lsm_wal_thread(void *arg)
{
    lsm_db *db = arg;
    pthread_setname_np(pthread_self(), "lsm-wal");
    pthread_mutex_lock(&db->mu);
    for (;;) {
        while (!db->wal_turn && !db->wal_stop)
            lsm_wal_sleep(db, 0);
        if (!db->wal_turn)
            break; /* stopping, and nothing waits for a leader */
        db->wal_turn = 0;
        lsm_maybe_slow(db);
        lsm_lead(db, db->wq_head);
        pthread_mutex_lock(&db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

void dk__lsm_wal_thread_stop(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int started = db->wal_thr_started;
    db->wal_stop = 1;
    if (db->gc_sleeper) { /* a synchronous leader's window ends too */
        sem_post(db->gc_sleeper);
        db->gc_sleeper = NULL;
    }
    int kick = lsm_wal_kick(db);
    pthread_mutex_unlock(&db->mu);
    if (kick)
        sem_post(&db->wal_sem);
    if (started)
        pthread_join(db->wal_thr, NULL);
}

/* write_async: queue the batch and return. Any thread (the node calls it
 * on its loop): it takes mu, which nobody holds across I/O, and never
 * waits. cb runs on the WAL thread or on a synchronous leader's thread. */
int dk__lsm_write_async(dk_engine *e, const dk_batch *b, int sync, dk_write_cb cb, void *arg)
{
    lsm_db *db = (lsm_db *)e;
    if (!b || b->count == 0 || !cb)
        return -EINVAL;
    int rc = lsm_check_batch(b);
    if (rc)
        return rc;
    lsm_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (lsm_writer){.batch = b, .sync = sync, .cb = cb, .cb_arg = arg};
    pthread_mutex_lock(&db->mu);
    if (db->bg_error || db->closing || db->wal_stop) {
        rc = db->bg_error ? DK_EREADONLY : DK_ECLOSED;
    } else if (!db->wal_thr_started) {
        if (pthread_create(&db->wal_thr, NULL, lsm_wal_thread, db) != 0)
            rc = -EAGAIN;
        else
            db->wal_thr_started = 1;
    }
    if (rc) {
        pthread_mutex_unlock(&db->mu);
        free(w);
        return rc;
    }
    /* Post after unlocking: woken under mu, the WAL thread would run
     * only to block on mu again (two more switches per group). Only the
     * head wakes it for work (wal_turn); a writer that joins a group in
     * its window wakes it only to end the window early. */
    int q = lsm_enqueue(db, w);
    if (q & LSM_Q_HEAD)
        db->wal_turn = 1;
    if ((q & LSM_Q_FULL) && db->gc_sleeper) {
        lsm_window_end(db);
        q &= ~LSM_Q_FULL;
    }
    int kick = q && lsm_wal_kick(db);
    pthread_mutex_unlock(&db->mu);
    if (kick)
        sem_post(&db->wal_sem);
    return 0;
}
