/*
 * flush.c - memtable switching and flushing for the LSM engine: the
 * write leader's memtable/WAL switch, settling the WAL a switch left
 * behind, the flush thread, and writing a memtable out as a table.
 *
 * A switch (lsm_write.c's lsm_make_room, run by the write leader while every
 * other writer waits) only swaps the WALs and the memtables: the next WAL
 * was prepared by the flush thread when the previous flush made a log
 * obsolete (that file renamed to the next number to be recycled, its
 * name made durable with a directory sync), or at open for the first
 * switch (recovery.c: rc_prepare_next), so the switch does no I/O.
 * Only a switch after preparing failed opens the next log itself (a fresh file, or the obsolete one recycled) and
 * leaves its name to the settle. A switch does not sync the old WAL, trim
 * a recycled one to its records, or sync the directory: with sync=0
 * writes the old log may hold up to a memtable of unsynced data, and
 * syncing that in the leader stalled every writer for tens of
 * milliseconds per switch. That "settling" (sync what is unsynced, cut a
 * refused group, close, sync the directory for a name not prepared; a
 * recycled log's stale tail is left as it is) is done outside mu, under
 * prev_mu, by:
 *   - the flush thread, before it writes the immutable memtable out;
 *   - a write group that asked for sync, before it acknowledges, only
 *     when that acknowledgement depends on it (settle_urgent): its
 *     fdatasync covers only the new log, and an acknowledged sync write
 *     makes every earlier write durable, so unsynced records of the old
 *     log must be synced first, a refused group cut from it (lsm_write.c),
 *     and a new log's name not prepared made durable. A recycled log's
 *     stale tail need not be cut first: recovery replays past a bad tail
 *     when the next log continues the sequence (recovery.c), so with sync
 *     writes into a prepared log the write path never waits for a settle;
 *   - close.
 * Until then a crash may lose the old log's unsynced tail while writes
 * that followed it in the new log survive. Recovery stays a prefix: the
 * replay stops at a torn or stale-tailed log (wal.c) and at any gap in
 * the sequence numbers between logs (recovery.c); and the manifest's
 * last sequence is the last one of the logs below its log number, so a
 * lost whole log is a gap too. Only unsynced writes, which are promised
 * nothing until a later sync, a flush or close, can be lost that way.
 *
 * Where a memtable is switched is jittered ([engine.lsm] memtable_jitter,
 * percent): each memtable gets its own limit, drawn uniformly from
 * (100 - memtable_jitter) % of memtable_size to memtable_size by a
 * generator each engine seeds from the kernel's random source. With
 * N = RF every replica receives the same writes at the same rate, so
 * without it the nodes filled, switched, flushed and (level 0 reaching
 * its trigger together) compacted within the same few hundred
 * milliseconds: every node's WAL syncs slowed at once (one flush
 * writing 3 x memtable_size to a shared disk, or three nodes' CPU taken
 * together) and no quorum could route around it. With independent draws
 * per memtable the nodes' switch points drift apart after the first one
 * (by up to memtable_jitter % of a memtable per switch, a random walk),
 * and so do the compactions level 0 triggers. A seed from the node id
 * would do too, but the engine is not told it (dk_engine_conf), and a
 * hash of the data path would be the same on every host of a real
 * cluster. The average memtable shrinks by half the jitter (12.5 % more
 * flushes, each smaller, at the default 25).
 *
 * A WAL is recycled or deleted only after the table holding its memtable
 * is durable in the manifest (the flush thread, after dk__lsm_install). A
 * prepared log that a crash leaves unused holds only another log's stale
 * records (or nothing): recovery replays it as an empty log and deletes
 * it; close deletes it.
 *
 * Transient failures (out of descriptors: EMFILE, ENFILE; out of space:
 * ENOSPC, EDQUOT) of a switch, a WAL write, a settle or a flush make the
 * engine refuse writes (DK_EREADONLY, lsm_readonly = 1) only until a
 * retry succeeds: the flush thread waits 100 ms, doubling to 5 s, then
 * redoes the failed step while writes are still refused: a new WAL first
 * when the switch failed or a WAL write left a torn tail (the old log is
 * cut back to its last whole record when settled, so the refused group
 * never replays), then the flush of the memtable, which makes the old log
 * obsolete. Once that succeeds the engine takes writes again. Failures
 * whose outcome cannot be known or repaired (a failed fsync of data
 * already acknowledged, a manifest write, EIO) stay fatal until restart.
 */
#define _GNU_SOURCE 1 /* pthread_setname_np */
#include "lsm.h"
#include "flush_pace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- switching ---------------------------------------------------------- */

/* splitmix64: one step of the engine's switch-point generator. */
static uint64_t fl_next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The next memtable's switch point (mu held, or open). */
static void fl_draw_limit(lsm_db *db)
{
    uint64_t span = db->memtable_size / 100u * db->mem_jitter;
    uint64_t cut = span ? (uint64_t)(((unsigned __int128)fl_next_rand(&db->mem_rng) * (span + 1)) >> 64) : 0;
    db->mem_limit = db->memtable_size - cut;
}

void dk__lsm_mem_limit_seed(lsm_db *db)
{
    uint64_t seed = 0;
    /* Without the kernel's pool (never on Linux after early boot), the
     * clock and the engine's address still differ between processes. */
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        uint64_t us = dk__lsm_now_us();
        seed = us ^ (us << 32) ^ (uint64_t)(uintptr_t)db;
    }
    db->mem_rng = seed;
    fl_draw_limit(db);
}

int dk__lsm_wal_settle(lsm_db *db)
{
    if (!atomic_load(&db->settle_pending))
        return 0;
    pthread_mutex_lock(&db->prev_mu);
    int rc = 0;
    if (atomic_load(&db->settle_pending)) {
        if (db->prev.f) {
            char old[4096];
            dk__lsm_file_path(db, old, sizeof(old), db->prev.number, "log");
            /* A refused group is cut (truncate: ftruncate + fsync, which
             * syncs the records before it too). A recycled log's stale
             * tail is not: recovery replays past it (recovery.c), the log
             * is obsolete once its memtable is flushed, and a file kept
             * at its largest size lets the next life of it overwrite
             * instead of extend (no size change for its fdatasyncs). The
             * log needs its own fdatasync only for bytes written after
             * the last one; with sync writes that is none. */
            if (db->prev.cut_back)
                rc = dk__lsm_wal_trim(&db->prev, old);
            else if (db->prev.synced != db->prev.size)
                rc = dk__lsm_wal_sync(&db->prev);
            if (!rc)
                rc = dk__lsm_wal_close(&db->prev);
        }
        /* The new log's name (created, or renamed when recycled), unless
         * it was prepared with its name durable. */
        if (!rc && db->settle_dir)
            rc = db->env->ops->sync_dir(db->env, db->dir);
        if (!rc) {
            db->settle_dir = 0;
            atomic_store(&db->settle_urgent, 0);
            atomic_store(&db->settle_pending, 0);
        }
    }
    pthread_mutex_unlock(&db->prev_mu);
    return rc;
}

/* Switch into the prepared WAL (mu held throughout; no I/O). The old
 * log's settle is left to the flush thread, except what a synced write
 * in the new log must not be acknowledged without: the old log's unsynced
 * records, or a refused group still to cut from it (settle_urgent). Its
 * stale recycled tail is not among them: recovery replays past a bad tail
 * when the next log continues the sequence (recovery.c). */
static int fl_switch_prepared(lsm_db *db)
{
    lsm_memtable *nm = dk__lsm_mem_new(db->next_wal.number, db->slpool);
    if (!nm)
        return -ENOMEM;
    int urgent = db->wal.cut_back || db->wal.synced != db->wal.size;
    /* settle_pending is 0: nobody reads prev (lsm.h). */
    db->prev = db->wal;
    db->wal = db->next_wal;
    db->next_wal = (lsm_wal){0};
    db->next_ready = 0;
    db->next_number = 0;
    db->settle_dir = 0;
    atomic_store(&db->settle_urgent, urgent);
    atomic_store(&db->settle_pending, 1);
    atomic_fetch_add(&db->st_switches_prepared, 1);
    db->imm_last_seq = db->last_seq;
    db->imm = db->mem;
    db->mem = nm;
    fl_draw_limit(db);
    pthread_cond_broadcast(&db->bg_cv);
    return 0;
}

int dk__lsm_switch_memtable(lsm_db *db)
{
    atomic_fetch_add(&db->st_switches, 1);
    dk__lsm_trace("switch prepared=%d", db->next_ready && !atomic_load(&db->settle_pending));
    if (db->next_ready && !atomic_load(&db->settle_pending))
        return fl_switch_prepared(db);
    /* No prepared log (preparing failed, or a settle is pending):
     * open the next one here, leaving its name to the settle. */
    uint64_t num = db->next_file++, reuse = db->recycle_log, last_seq = db->last_seq;
    db->recycle_log = 0;
    char path[4096], old[4096];
    dk__lsm_file_path(db, path, sizeof(path), num, "log");
    pthread_mutex_unlock(&db->mu);
    /* Only the leader touches db->wal, so it may do the I/O unlocked.
     * The previous switch's log was settled by the flush that emptied
     * imm; settling here keeps db->prev single-slot even if not. */
    int rc = dk__lsm_wal_settle(db);
    lsm_wal nw = {0};
    int fresh = !reuse;
    if (!rc && reuse) {
        /* A log that cannot be recycled is only a lost optimisation. */
        dk__lsm_file_path(db, old, sizeof(old), reuse, "log");
        fresh = dk__lsm_wal_reuse(db->env, old, path, &nw) != 0;
        if (fresh && db->host && db->host->log)
            db->host->log(db->host, DK_LOG_WARN, "lsm %s: cannot recycle %s; creating %s", db->dir, old,
                          path);
    }
    if (!rc && fresh)
        rc = dk__lsm_wal_open(db->env, path, &nw);
    lsm_memtable *nm = rc ? NULL : dk__lsm_mem_new(num, db->slpool);
    if (!rc && !nm) {
        dk__lsm_wal_close(&nw);
        rc = -ENOMEM;
    }
    if (!rc) {
        pthread_mutex_lock(&db->prev_mu);
        db->prev = db->wal;
        db->wal = nw;
        db->settle_dir = 1;
        atomic_store(&db->settle_urgent, 1);
        atomic_store(&db->settle_pending, 1);
        pthread_mutex_unlock(&db->prev_mu);
    }
    pthread_mutex_lock(&db->mu);
    if (rc)
        return rc;
    db->imm_last_seq = last_seq;
    db->imm = db->mem;
    db->mem = nm;
    fl_draw_limit(db);
    pthread_cond_broadcast(&db->bg_cv);
    return 0;
}

/* Prepare the next WAL in the flush thread, off the writers' path (mu not
 * held): recycle `old`, the log the flush just made obsolete, under the
 * next file number (or create a fresh file when the env cannot), and make
 * its name durable. Returns 1 when *nw is ready for the next switch; 0
 * when not (nothing to clean up then, apart from `old`). *old_gone: old
 * no longer exists under its name. Until the switch uses it, the file
 * holds only stale records (another log's number) or nothing, which
 * recovery reads as an empty log and deletes. */
static int fl_prepare(lsm_db *db, uint64_t old_number, lsm_wal *nw, int *old_gone)
{
    *old_gone = 0;
    pthread_mutex_lock(&db->mu);
    if (db->next_ready || db->closing || db->bg_error) {
        pthread_mutex_unlock(&db->mu);
        return 0;
    }
    uint64_t num = db->next_file++;
    db->next_number = num;
    pthread_mutex_unlock(&db->mu);
    char path[4096], old[4096];
    dk__lsm_file_path(db, path, sizeof(path), num, "log");
    dk__lsm_file_path(db, old, sizeof(old), old_number, "log");
    int rc = db->env->ops->reuse ? dk__lsm_wal_reuse(db->env, old, path, nw) : -ENOTSUP;
    *old_gone = !rc;
    if (rc) {
        *nw = (lsm_wal){0};
        rc = dk__lsm_wal_open(db->env, path, nw);
    }
    if (!rc)
        rc = db->env->ops->sync_dir(db->env, db->dir);
    if (!rc)
        return 1;
    /* Not prepared: the next switch opens its log itself. */
    dk__lsm_wal_close(nw);
    db->env->ops->unlink(db->env, path);
    if (db->host && db->host->log)
        db->host->log(db->host, DK_LOG_DEBUG, "lsm %s: cannot prepare the next WAL %s: %s", db->dir, path,
                      db->host->strerror(db->host, rc));
    pthread_mutex_lock(&db->mu);
    db->next_number = 0;
    pthread_mutex_unlock(&db->mu);
    return 0;
}

void dk__lsm_wal_unprepare(lsm_db *db)
{
    if (!db->next_ready)
        return;
    char path[4096];
    dk__lsm_file_path(db, path, sizeof(path), db->next_wal.number, "log");
    dk__lsm_wal_close(&db->next_wal);
    db->env->ops->unlink(db->env, path); /* left behind, it is an empty log */
    db->next_ready = 0;
    db->next_number = 0;
}

/* ---- flushing ---------------------------------------------------------- */

/* Put value (of ikey k, an entry of the memtable being flushed) into the
 * flush's blob file, opened on first use
 * under the next file number, and make *ref the table's entry for it:
 * the internal key retyped LSM_TYPE_BLOB (in kbuf) and the reference (in
 * rbuf). */
static int fl_blob_add(lsm_db *db, const lsm_blob_wopts *o, lsm_blob_writer **bw, dk_slice k, dk_slice value,
                       dk_buf *kbuf, uint8_t *rbuf, dk_slice *nk, dk_slice *ref)
{
    int rc;
    if (!*bw) {
        char path[4096];
        pthread_mutex_lock(&db->mu);
        uint64_t num = db->next_file++;
        pthread_mutex_unlock(&db->mu);
        dk__lsm_file_path(db, path, sizeof(path), num, "blob");
        if ((rc = dk__lsm_blob_writer_open(db->env, path, num, o, bw)))
            return rc;
    }
    dk_slice uk = lsm_ikey_user(k);
    lsm_blob_ref r;
    dk__lsm_blob_ref_times(db->host, uk, value, &r);
    /* value is the memtable's: its CRC came with it from the WAL encoder
     * (lsm_write.c's lsm_mem_insert says what that covers). */
    uint32_t vcrc;
    rc = dk__lsm_sl_value_crc(value, &vcrc) ? dk__lsm_blob_writer_add_crc(*bw, uk, value, vcrc, &r)
                                            : dk__lsm_blob_writer_add(*bw, uk, value, &r);
    if (rc)
        return rc;
    dk_buf_reset(kbuf);
    if ((rc = dk_buf_reserve(kbuf, k.len)))
        return rc;
    *nk = lsm_ikey_make(kbuf->data, uk, lsm_ikey_seq(k), LSM_TYPE_BLOB);
    dk__lsm_blob_ref_set_head(&r, value, db->blob_head);
    *ref = (dk_slice){rbuf, dk__lsm_blob_ref_encode(rbuf, &r)};
    return 0;
}

/* Write the newest version of every key of m into table `number`, values
 * of at least blob_min_size bytes into a blob file beside it (blob.h),
 * synced before the table. On success *out is the opened file (one
 * reference), or NULL when m held nothing (no file is left behind then). */
int dk__lsm_write_table(lsm_db *db, lsm_memtable *m, uint64_t number, lsm_file **out)
{
    char path[4096];
    *out = NULL;
    dk__lsm_file_path(db, path, sizeof(path), number, "sst");
    lsm_flush_pace pace;
    dk__lsm_flush_pace_init(&pace, db, dk__lsm_sl_used(m->sl));
    lsm_tb_opts o = {.bits_per_key = db->bits_per_key,
                     .codec = db->codec,
                     .host = db->host,
                     .on_write = dk__lsm_flush_pace_write,
                     .on_sync = dk__lsm_flush_pace_sync,
                     .arg = &pace,
                     .writeback_bytes = db->writeback_bytes};
    lsm_table_builder *tb;
    int rc = dk__lsm_tb_open(db->env, path, &o, &tb);
    if (rc)
        return rc;
    lsm_iter *it = dk__lsm_mem_iter(m);
    if (!it) {
        dk__lsm_tb_abandon(tb);
        db->env->ops->unlink(db->env, path);
        return -ENOMEM;
    }
    dk_buf last = DK_BUF_INIT, kbuf = DK_BUF_INIT;
    uint8_t rbuf[LSM_BLOB_REF_MAX];
    lsm_blob_writer *bw = NULL;
    /* The blob file's writes count toward the flush's pace like the
     * table's: together they are the memtable's bytes. */
    lsm_blob_wopts bo = {.writeback_bytes = db->writeback_bytes,
                         .direct = db->blob_direct,
                         .on_write = dk__lsm_flush_pace_write,
                         .on_sync = dk__lsm_flush_pace_sync,
                         .arg = &pace};
    int have_last = 0;
    for (it->ops->first(it); !rc && it->ops->valid(it); it->ops->next(it)) {
        dk_slice k = it->ops->key(it), uk = lsm_ikey_user(k), v = it->ops->value(it);
        /* Older versions in the same memtable are shadowed for every
         * reader of the table: snapshot iterators read the memtable itself. */
        if (have_last && lsm_ucmp(uk, dk_buf_slice(&last)) == 0)
            continue;
        dk_buf_reset(&last);
        if ((rc = dk_buf_append(&last, uk.ptr, uk.len)))
            break;
        if (db->blob_min_size && v.len >= db->blob_min_size && lsm_ikey_type(k) == LSM_TYPE_VALUE)
            rc = fl_blob_add(db, &bo, &bw, k, v, &kbuf, rbuf, &k, &v);
        if (!rc)
            rc = dk__lsm_tb_add(tb, k, v);
        have_last = 1;
    }
    it->ops->destroy(it);
    dk_buf_free(&last);
    dk_buf_free(&kbuf);
    char bpath[4096];
    uint64_t bsize = 0, bnum = bw ? dk__lsm_blob_writer_number(bw) : 0;
    dk__lsm_file_path(db, bpath, sizeof(bpath), bnum, "blob");
    if (rc || !have_last) {
        dk__lsm_tb_abandon(tb);
        db->env->ops->unlink(db->env, path);
        if (bw) {
            dk__lsm_blob_writer_abandon(bw);
            db->env->ops->unlink(db->env, bpath);
        }
        return rc;
    }
    /* The blob file first: the table's open finds it complete. */
    int bdirect = bw && dk__lsm_blob_writer_direct(bw);
    if (bw && (rc = dk__lsm_blob_writer_finish(bw, &bsize))) {
        dk__lsm_tb_abandon(tb);
        db->env->ops->unlink(db->env, path);
        db->env->ops->unlink(db->env, bpath);
        return rc;
    }
    uint64_t size;
    if ((rc = dk__lsm_tb_finish(tb, NULL, &size)) == 0)
        rc = dk__lsm_file_open(&db->fenv, number, 0, size, out);
    if (rc) {
        db->env->ops->unlink(db->env, path);
        if (bw)
            db->env->ops->unlink(db->env, bpath);
    } else {
        /* Everything the flush wrote; the blob files' part apart too. */
        atomic_fetch_add(&db->st_flush_bytes, size + bsize);
        atomic_fetch_add(&dk__lsm_blobs_stats(db->blobs)->flush_bytes, bsize);
        atomic_fetch_add(&dk__lsm_blobs_stats(db->blobs)->direct_files, (uint64_t)bdirect);
    }
    return rc;
}

/* ---- flush thread ------------------------------------------------------ */

/* Write imm as table `number` and install it with one edit that also
 * moves the log number past imm's WAL; last_seq is that WAL's last
 * sequence, which becomes the manifest's (recovery.c's gap check). */
static int fl_flush_imm(lsm_db *db, lsm_memtable *imm, uint64_t number, uint64_t log_number,
                        uint64_t last_seq)
{
    lsm_file *f = NULL;
    int rc = dk__lsm_write_table(db, imm, number, &f);
    if (rc)
        return rc;
    lsm_edit e;
    dk__lsm_edit_init(&e);
    e.has_log = 1;
    e.log_number = log_number;
    e.has_seq = 1;
    e.last_seq = last_seq;
    if (f)
        rc = dk__lsm_edit_add(&e, 0, f->number, f->size);
    if (!rc) {
        pthread_mutex_lock(&db->edit_mu);
        rc = dk__lsm_install(db, &e, &f);
        pthread_mutex_unlock(&db->edit_mu);
    }
    if (rc && f) {
        atomic_store(&f->obsolete, 1);         /* not in any version: delete it */
        for (size_t i = 0; i < f->nblobs; i++) /* all written by this flush */
            atomic_store(&f->blobs[i]->obsolete, 1);
    }
    dk__lsm_file_unref(f);
    dk__lsm_edit_free(&e);
    return rc;
}

/* The retry of a transient error failed again with rc (mu held). */
static void fl_retry_failed(lsm_db *db, int rc, const char *what)
{
    atomic_fetch_add(&db->st_bg_retries, 1);
    if (!dk__lsm_transient(rc)) {
        dk__lsm_set_bg_error(db, rc, what);
        return;
    }
    db->bg_error = rc;
    db->bg_retry_ms = db->bg_retry_ms >= 2500 ? 5000 : db->bg_retry_ms * 2;
    if (db->host && db->host->log)
        db->host->log(db->host, DK_LOG_DEBUG, "lsm %s: retry of %s failed (%s); next in %llu ms", db->dir,
                      what, db->host->strerror(db->host, rc), (unsigned long long)db->bg_retry_ms);
}

/* Writes are accepted again (mu held). */
static void fl_retry_done(lsm_db *db)
{
    atomic_fetch_add(&db->st_bg_retries, 1);
    if (db->host && db->host->log)
        db->host->log(db->host, DK_LOG_WARN, "lsm %s: the retry after %s succeeded; accepting writes again",
                      db->dir, db->host->strerror(db->host, db->bg_error));
    db->bg_error = 0;
    db->bg_transient = 0;
    db->bg_need_switch = 0;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->done_cv);
}

/* Wait out the backoff of a transient error, then until no write leader
 * touches the WAL (mu held). Returns 0 to retry now, 1 when the state
 * changed (closing, fatal, cleared) and the caller should look again. */
static int fl_retry_wait(lsm_db *db)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + db->bg_retry_ms * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    while (!db->closing && db->bg_transient)
        if (pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts) == ETIMEDOUT)
            break;
    while (!db->closing && db->bg_transient && db->wal_busy)
        pthread_cond_wait(&db->bg_cv, &db->mu);
    return db->closing || !db->bg_transient;
}

/* One retry of a transient error (mu held; dropped for the I/O). Returns
 * 1 when imm is to be flushed now (bg_error still set), 0 when done. */
static int fl_retry(lsm_db *db)
{
    if (fl_retry_wait(db))
        return 0;
    if (db->bg_need_switch && !db->imm) {
        int rc = dk__lsm_switch_memtable(db);
        if (rc) {
            fl_retry_failed(db, rc, "WAL switch");
            return 0;
        }
        db->bg_need_switch = 0;
    }
    if (db->imm)
        return 1;
    /* Only the settle failed: redo it. */
    pthread_mutex_unlock(&db->mu);
    int rc = dk__lsm_wal_settle(db);
    pthread_mutex_lock(&db->mu);
    if (rc)
        fl_retry_failed(db, rc, "WAL settle");
    else if (db->bg_transient)
        fl_retry_done(db);
    return 0;
}

void *dk__lsm_flush_thread(void *arg)
{
    lsm_db *db = arg;
    pthread_setname_np(pthread_self(), "lsm-flush");
    dk__lsm_thread_nice(db, db->flush_nice, "flush");
    pthread_mutex_lock(&db->mu);
    for (;;) {
        while (!db->closing && (!db->imm || db->bg_error) && !(db->bg_error && db->bg_transient))
            pthread_cond_wait(&db->bg_cv, &db->mu);
        if (db->closing)
            break;
        if (db->bg_error && !fl_retry(db))
            continue;
        lsm_memtable *imm = db->imm;
        dk__lsm_mem_ref(imm);
        uint64_t number = db->next_file++;
        uint64_t log_number = db->mem->wal_number, last_seq = db->imm_last_seq;
        pthread_mutex_unlock(&db->mu);
        /* imm's WAL takes no more writes: sync it here, off the writers'
         * path, unless a sync write or close already did. */
        dk__lsm_trace("flush_start table=%llu", (unsigned long long)number);
        int settle_rc = dk__lsm_wal_settle(db), rc = settle_rc;
        if (!rc)
            rc = fl_flush_imm(db, imm, number, log_number, last_seq);
        dk__lsm_trace("flush_end table=%llu rc=%d", (unsigned long long)number, rc);
        /* imm's WAL is obsolete now: make it the next switch's log, before
         * imm is let go (a switch waits for that), so the switch finds it. */
        lsm_wal nw = {0};
        int prepared = 0, old_gone = 0;
        if (!rc)
            prepared = fl_prepare(db, imm->wal_number, &nw, &old_gone);
        pthread_mutex_lock(&db->mu);
        if (rc && db->bg_transient) {
            fl_retry_failed(db, rc, settle_rc ? "WAL sync after a switch" : "memtable flush");
        } else if (rc) {
            dk__lsm_set_bg_retry(db, rc, settle_rc ? "WAL sync after a switch" : "memtable flush", 0);
        } else {
            if (db->bg_transient && !db->bg_need_switch)
                fl_retry_done(db);
            if (prepared) {
                db->next_wal = nw;
                db->next_ready = 1;
            }
            db->imm = NULL;
            dk__lsm_mem_unref(imm);
            atomic_fetch_add(&db->st_flushes, 1);
            db->compact_pending = 1;
            pthread_cond_broadcast(&db->bg_cv);
            pthread_cond_broadcast(&db->done_cv);
            /* The WAL is covered by a durable table in a durable
             * manifest: keep it for the next memtable switch to recycle
             * (its number is below the manifest's log number, so a
             * recovery never replays it and deletes it), or delete it. */
            if (old_gone) {
                /* recycled as the prepared log */
            } else if (db->env->ops->reuse && !db->recycle_log) {
                db->recycle_log = imm->wal_number;
            } else {
                char path[4096];
                dk__lsm_file_path(db, path, sizeof(path), imm->wal_number, "log");
                pthread_mutex_unlock(&db->mu);
                int urc = db->env->ops->unlink(db->env, path);
                if (urc && urc != -ENOENT && db->host && db->host->log)
                    db->host->log(db->host, DK_LOG_WARN, "lsm %s: cannot delete %s: %s", db->dir, path,
                                  strerror(-urc));
                pthread_mutex_lock(&db->mu);
            }
        }
        dk__lsm_mem_unref(imm);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}
