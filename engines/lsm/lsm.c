/*
 * lsm.c - the LSM engine's dk_engine_ops: background errors, version
 * installs, flush, compaction and stats, and the ops table. The write
 * path (group commit) is in lsm_write.c, point reads in lsm_read.c,
 * snapshot iterators in lsm_iter.c, open and close in recovery.c; the
 * design of the read path is described here.
 *
 * Reads take references to the memtables and the current version under
 * the lock and search without it. Every table carries its sequence range,
 * so a point read searches the tables covering the key (one per level
 * whose runs are disjoint, found by binary search; every covering run of
 * an overlapping level) newest-data-first and stops once no remaining
 * table can hold a newer version; this is correct for any run shape a
 * compaction policy produces, not only leveled ones. With the blocks
 * cached a point read allocates nothing: the value handed to the sink
 * points into the memtable or the cached data block.
 *
 * A damaged data block (bad CRC: a bit flip on disk) costs its own keys
 * only. A point read that meets it answers DK_ECORRUPT unless it finds a
 * version newer than the damaged table's max_seq (a key written again by
 * read repair or anti-entropy): the store treats the copy as absent, so
 * the coordinator reads the other replicas and repairs it. Iterators skip
 * the block (table.h, dk__lsm_table_iter_skip) and hide every version in
 * its key range that a lost one may shadow, so scans, streams and Merkle
 * builds see the keys absent, as point reads do, and never an older
 * version of them.
 */
#define _GNU_SOURCE 1 /* gettid */
#include "lsm.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>


static void lsm_log(const lsm_db *db, int level, const char *fmt, ...) DK_PRINTF(3, 4);
static void lsm_log(const lsm_db *db, int level, const char *fmt, ...)
{
    if (!db->host || !db->host->log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    db->host->log(db->host, level, "lsm %s: %s", db->dir, msg);
}

void dk__lsm_file_path(const lsm_db *db, char *buf, size_t len, uint64_t number, const char *suffix)
{
    snprintf(buf, len, "%s/%06llu.%s", db->dir, (unsigned long long)number, suffix);
}

void dk__lsm_set_bg_error(lsm_db *db, int rc, const char *what)
{
    if (!db->bg_error || db->bg_transient) {
        db->bg_error = rc;
        db->bg_transient = 0;
        lsm_log(db, DK_LOG_ERROR, "%s failed (%s); refusing further writes", what,
                db->host->strerror(db->host, rc));
    }
    /* Queued writers need no wake-up: each leader answers its group
     * and hands over to the next, which sees bg_error in lsm_make_room. */
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->done_cv);
}

int dk__lsm_transient(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOSPC || rc == -EDQUOT;
}

void dk__lsm_set_bg_retry(lsm_db *db, int rc, const char *what, int need_switch)
{
    if (db->bg_error && !db->bg_transient)
        return; /* already fatal */
    if (!dk__lsm_transient(rc)) {
        dk__lsm_set_bg_error(db, rc, what);
        return;
    }
    if (!db->bg_error) {
        db->bg_retry_ms = 100;
        lsm_log(db, DK_LOG_ERROR, "%s failed (%s); refusing writes until a retry succeeds (first in %llu ms)",
                what, db->host->strerror(db->host, rc), (unsigned long long)db->bg_retry_ms);
    }
    db->bg_error = rc;
    db->bg_transient = 1;
    db->bg_need_switch |= need_switch;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->done_cv);
}

int dk__lsm_install(lsm_db *db, lsm_edit *e, lsm_file *const *added)
{
    pthread_mutex_lock(&db->mu);
    lsm_version *base = db->cur;
    dk__lsm_version_ref(base);
    e->has_next = 1;
    e->next_file = db->next_file;
    if (!e->has_seq) {
        /* Not db->last_seq: the manifest's last sequence must end exactly
         * where the live WALs begin (recovery.c's gap check). */
        e->has_seq = 1;
        e->last_seq = db->flushed_seq;
    }
    pthread_mutex_unlock(&db->mu);
    lsm_version *nv = dk__lsm_version_apply(base, e, added);
    int rc = nv ? dk__lsm_manifest_append(&db->man, e) : -ENOMEM;
    pthread_mutex_lock(&db->mu);
    if (rc) {
        dk__lsm_set_bg_error(db, rc, "manifest write");
        pthread_mutex_unlock(&db->mu);
        dk__lsm_version_unref(nv);
        dk__lsm_version_unref(base);
        return rc;
    }
    db->cur = nv;
    if (e->has_log) {
        db->flushed_seq = e->last_seq;
        db->man_log_number = e->log_number;
    }
    pthread_mutex_unlock(&db->mu);
    dk__lsm_version_retire(base, e);
    dk__lsm_version_retire_blobs(base, nv, e);
    dk__lsm_version_unref(base); /* our reference */
    dk__lsm_version_unref(base); /* the one db->cur held */
    return 0;
}

/* ---- flush, compaction, stats ------------------------------------------ */

static int lsm_flush(dk_engine *e)
{
    lsm_db *db = (lsm_db *)e;
    int rc = dk__lsm_write_queued(db, NULL, 1);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    while (db->imm && !db->bg_error)
        pthread_cond_wait(&db->done_cv, &db->mu);
    rc = db->bg_error ? DK_EREADONLY : 0;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

static int lsm_compact_range(dk_engine *e, dk_slice start, dk_slice end)
{
    lsm_db *db = (lsm_db *)e;
    int rc = lsm_flush(e);
    return rc ? rc : dk__lsm_compact_range(db, start, end);
}

static int lsm_stats(dk_engine *e, dk_stat_sink sink, void *arg)
{
    lsm_db *db = (lsm_db *)e;
    uint64_t level_files[LSM_NUM_LEVELS] = {0}, level_bytes[LSM_NUM_LEVELS] = {0};
    pthread_mutex_lock(&db->mu);
    uint64_t mem = dk__lsm_mem_usage(db->mem) + (db->imm ? dk__lsm_mem_usage(db->imm) : 0);
    uint64_t seq = db->last_seq, mem_limit = db->mem_limit;
    for (size_t i = 0; i < db->cur->n; i++) {
        lsm_file *f = db->cur->files[i];
        level_files[f->level]++;
        level_bytes[f->level] += f->size;
    }
    int ro = db->bg_error != 0, retrying = ro && db->bg_transient;
    lsm_version *v = db->cur;
    dk__lsm_version_ref(v);
    pthread_mutex_unlock(&db->mu);
    /* Bytes the current tables reference in blob files (a moved table is
     * listed once per version), outside mu: every table's list. */
    uint64_t blob_live = 0;
    for (size_t i = 0; i < v->n; i++) {
        const lsm_props *p = &v->files[i]->table->props;
        for (size_t j = 0; j < lsm_props_nblobs(p); j++) {
            uint64_t b;
            lsm_props_blob(p, j, &b);
            blob_live += b;
        }
    }
    dk__lsm_version_unref_reader(v);
    uint64_t blob_files, blob_bytes;
    dk__lsm_blobs_usage(db->blobs, &blob_files, &blob_bytes);
    lsm_blob_stats *bst = dk__lsm_blobs_stats(db->blobs);
    uint64_t usage, hits, misses;
    dk__lsm_cache_stats(db->cache, &usage, &hits, &misses);
    uint64_t pinned = dk__lsm_cache_pinned(db->cache);
    char name[64];
    uint64_t files = 0, bytes = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        snprintf(name, sizeof(name), "lsm_l%d_files", l);
        sink(arg, name, level_files[l]);
        snprintf(name, sizeof(name), "lsm_l%d_bytes", l);
        sink(arg, name, level_bytes[l]);
        files += level_files[l];
        bytes += level_bytes[l];
    }
    sink(arg, "lsm_files", files);
    sink(arg, "lsm_table_bytes", bytes);
    sink(arg, "lsm_memtable_bytes", mem);
    sink(arg, "lsm_memtable_switch_bytes", mem_limit);
    sink(arg, "lsm_pinned_index_filter_bytes", pinned);
    sink(arg, "lsm_last_sequence", seq);
    sink(arg, "lsm_readonly", (uint64_t)ro);
    sink(arg, "lsm_readonly_retrying", (uint64_t)retrying);
    sink(arg, "lsm_write_retries_total", atomic_load(&db->st_bg_retries));
    sink(arg, "lsm_block_cache_bytes", usage);
    sink(arg, "lsm_block_cache_hits_total", hits);
    sink(arg, "lsm_block_cache_misses_total", misses);
    sink(arg, "lsm_wal_bytes_total", atomic_load(&db->st_wal_bytes));
    sink(arg, "lsm_wal_syncs_total", atomic_load(&db->st_wal_syncs));
    sink(arg, "lsm_wal_sync_us_total", atomic_load(&db->st_wal_sync_us));
    sink(arg, "lsm_wal_sync_max_us", atomic_load(&db->st_wal_sync_max_us));
    static const char *const le_names[4] = {"lsm_wal_syncs_le_1ms_total", "lsm_wal_syncs_le_4ms_total",
                                            "lsm_wal_syncs_le_16ms_total", "lsm_wal_syncs_le_64ms_total"};
    for (int i = 0; i < 4; i++)
        sink(arg, le_names[i], atomic_load(&db->st_wal_sync_le[i]));
    sink(arg, "lsm_flush_paced_us_total", atomic_load(&db->st_flush_paced_us));
    sink(arg, "lsm_flush_pace_lifts_total", atomic_load(&db->st_flush_pace_lifts));
    sink(arg, "lsm_wal_yields_total", atomic_load(&db->st_yields));
    sink(arg, "lsm_wal_yield_us_total", atomic_load(&db->st_yield_us));
    sink(arg, "lsm_wal_yield_timeouts_total", atomic_load(&db->st_yield_timeouts));
    sink(arg, "lsm_write_groups_total", atomic_load(&db->st_writes));
    sink(arg, "lsm_write_stall_us_total", atomic_load(&db->st_stall_us));
    sink(arg, "lsm_write_slowdowns_total", atomic_load(&db->st_slowdowns));
    sink(arg, "lsm_wal_switches_total", atomic_load(&db->st_switches));
    sink(arg, "lsm_wal_switches_prepared_total", atomic_load(&db->st_switches_prepared));
    sink(arg, "lsm_wal_switch_us_total", atomic_load(&db->st_switch_us));
    sink(arg, "lsm_group_commit_waits_total", atomic_load(&db->st_gc_waits));
    sink(arg, "lsm_group_commit_wait_us_total", atomic_load(&db->st_gc_wait_us));
    sink(arg, "lsm_group_commit_early_ends_total", atomic_load(&db->st_gc_early));
    sink(arg, "lsm_flushes_total", atomic_load(&db->st_flushes));
    sink(arg, "lsm_flush_bytes_total", atomic_load(&db->st_flush_bytes));
    sink(arg, "lsm_compactions_total", atomic_load(&db->st_compactions));
    sink(arg, "lsm_compaction_read_bytes_total", atomic_load(&db->st_compact_read));
    sink(arg, "lsm_compaction_write_bytes_total", atomic_load(&db->st_compact_write));
    sink(arg, "lsm_compaction_paced_us_total", atomic_load(&db->st_compact_paced_us));
    sink(arg, "lsm_compaction_records_dropped_total", atomic_load(&db->st_records_dropped));
    sink(arg, "lsm_compaction_moves_total", atomic_load(&db->st_moves));
    sink(arg, "lsm_files_dropped_total", atomic_load(&db->st_files_dropped));
    sink(arg, "lsm_wal_bytes_dropped_total", atomic_load(&db->st_wal_dropped));
    sink(arg, "lsm_gets_total", atomic_load(&db->st_gets));
    sink(arg, "lsm_get_tables_total", atomic_load(&db->st_get_tables));
    sink(arg, "lsm_get_memo_hits_total", atomic_load(&db->st_memo_hits));
    sink(arg, "lsm_get_heads_total", atomic_load(&db->st_heads));
    sink(arg, "lsm_get_blocks_read_total", atomic_load(&db->st_get_blocks));
    sink(arg, "lsm_get_bytes_read_total", atomic_load(&db->st_get_bytes));
    sink(arg, "lsm_iter_seeks_total", atomic_load(&db->st_iter_ops));
    sink(arg, "lsm_iter_blocks_read_total", atomic_load(&db->st_iter_blocks));
    sink(arg, "lsm_iter_bytes_read_total", atomic_load(&db->st_iter_bytes));
    sink(arg, "lsm_blob_files", blob_files);
    sink(arg, "lsm_blob_bytes", blob_bytes);
    sink(arg, "lsm_blob_live_bytes", blob_live);
    /* Parts of lsm_flush_bytes_total and lsm_compaction_write_bytes_total. */
    sink(arg, "lsm_blob_flush_bytes_total", atomic_load(&bst->flush_bytes));
    sink(arg, "lsm_blob_gc_bytes_total", atomic_load(&bst->gc_bytes));
    sink(arg, "lsm_blob_gc_records_total", atomic_load(&bst->gc_records));
    sink(arg, "lsm_blob_reads_total", atomic_load(&bst->reads));
    sink(arg, "lsm_blob_read_bytes_total", atomic_load(&bst->read_bytes));
    sink(arg, "lsm_blob_cache_hits_total", atomic_load(&bst->cache_hits));
    sink(arg, "lsm_blob_corrupt_total", atomic_load(&bst->corrupt));
    sink(arg, "lsm_blob_files_direct_total", atomic_load(&bst->direct_files));
    return 0;
}

/* Start the background threads (recovery.c calls this once open). */
void dk__lsm_thread_nice(const lsm_db *db, int nice, const char *who)
{
    if (nice <= 0)
        return;
#ifdef __linux__
    /* Linux keeps a nice value per thread: PRIO_PROCESS with a thread id
     * changes that thread only (setpriority(2), NOTES). Raising it never
     * needs a privilege; lowering it again would, so it is set once. */
    id_t tid = (id_t)gettid();
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno)
        cur = 0;
    int want = cur + nice > 19 ? 19 : cur + nice;
    if (want > cur && setpriority(PRIO_PROCESS, tid, want) != 0)
        lsm_log(db, DK_LOG_WARN, "cannot lower the %s thread's priority to nice %d: %s", who, want,
                strerror(errno));
#else
    (void)db;
    (void)who;
#endif
}

int dk__lsm_start_threads(lsm_db *db)
{
    if (pthread_create(&db->flush_thr, NULL, dk__lsm_flush_thread, db))
        return -EAGAIN;
    if (pthread_create(&db->compact_thr, NULL, dk__lsm_compact_thread, db)) {
        pthread_mutex_lock(&db->mu);
        db->closing = 1;
        pthread_cond_broadcast(&db->bg_cv);
        pthread_mutex_unlock(&db->mu);
        pthread_join(db->flush_thr, NULL);
        return -EAGAIN;
    }
    db->threads_started = 1;
    return 0;
}

static int lsm_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    lsm_env *env = dk__lsm_env_posix();
    if (!env)
        return -ENOMEM;
    int rc = dk__lsm_open_env(host, conf, env, out);
    if (rc)
        env->ops->destroy(env);
    else
        ((lsm_db *)*out)->own_env = 1;
    return rc;
}

const dk_engine_ops dk__lsm_engine_ops = {
    .struct_size = sizeof(dk_engine_ops),
    .caps = DK_ENGINE_CAP_ORDERED | DK_ENGINE_CAP_SNAPSHOT | DK_ENGINE_CAP_THREADSAFE |
            DK_ENGINE_CAP_DURABLE | DK_ENGINE_CAP_VERIFIED,
    .open = lsm_open,
    .close = dk__lsm_close,
    .get = dk__lsm_get,
    .write = dk__lsm_write,
    .iter_open = dk__lsm_iter_open,
    .iter_seek = dk__lsm_iter_seek,
    .iter_next = dk__lsm_iter_next,
    .iter_close = dk__lsm_iter_close,
    .flush = lsm_flush,
    .compact_range = lsm_compact_range,
    .stats = lsm_stats,
    .try_get = dk__lsm_try_get,
    .write_async = dk__lsm_write_async,
    .checkpoint = dk__lsm_checkpoint_op,
    .get_lent = dk__lsm_get_lent,
    .release = dk__lsm_release,
};
