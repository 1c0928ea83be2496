/*
 * lsm.h - the LSM engine object, shared by lsm.c (open, close, the write
 * path, reads, iterators, flush) and compact.c (the compaction executor).
 *
 * Locking: `mu` guards the memtable pointers, the current version, the
 * writer queue, sequence numbers, file numbers, busy flags and bg_error.
 * It is never held across file I/O except by short directory calls.
 * `prev_mu` (flush.c) guards the WAL a switch left unsettled; it is
 * taken without mu.
 * `edit_mu` serialises version edits (flush and compaction both install
 * new versions); it is taken before `mu`. `compact_mu` makes background
 * and manual compactions take turns.
 *
 * Memory ceiling (documented for operators):
 *
 *   2 x memtable_size + block_cache_size + B x readers + WAL batch buffer
 *
 * - two memtables: a writer stalls when the mutable one is full while the
 *   immutable one still flushes (each may overshoot by its last batch);
 *   a flushed memtable's arena chunks are kept for the next one (at most
 *   memtable_size of them), so an idle engine may hold that much too;
 * - block_cache_size covers data, index and filter blocks together. Index
 *   and filter blocks are pinned in their table while the pinned total
 *   stays under half the cache (charged to it: the LRU shrinks to match);
 *   past that they are cached and evicted like data blocks, so the cache
 *   never holds more than its size however many tables are open (about
 *   bloom_bits_per_key/8 bytes per key plus one index entry, key + ~6
 *   bytes, per 4 KiB data block; lsm_pinned_index_filter_bytes and
 *   lsm_block_cache_bytes report them);
 * - B x readers: a block a reader or iterator still holds survives its
 *   eviction until released (one data block, plus the index block of an
 *   unpinned table, per open iterator and table);
 * - the write leader's WAL record buffer (at most a 1 MiB group, or one
 *   oversized batch; values over 256 bytes are not copied into it).
 * Per-table metadata kept outside the cache (properties, file handle,
 * ~200 bytes plus the smallest and largest keys) is not counted.
 */
#ifndef DK_LSM_LSM_H
#define DK_LSM_LSM_H
#include <pthread.h>
#include <semaphore.h>

#include "dynkv/compaction.h"
#include "dynkv/engine.h"
#include "door.h"
#include "io_yield.h"
#include "memtable.h"
#include "version.h"
#include "wal.h"

#define LSM_DEFAULT_MEMTABLE (64u * 1024u * 1024u)
#define LSM_DEFAULT_CACHE (32u * 1024u * 1024u)
#define LSM_DEFAULT_TARGET_FILE (64u * 1024u * 1024u)
/* [engine.lsm] group_commit_window_us and group_commit_siblings (strings:
 * dk_option defaults); chosen by measurement, see lsm.c. */
#define LSM_DEFAULT_GC_WINDOW "1000"
#define LSM_DEFAULT_GC_SIBLINGS "1"
/* 24, not 8: on a 3-node cluster (CPU-bound on this machine) a node's
 * groups are ~25 writers, and 8 doubled its fdatasyncs (~74 µs of CPU
 * each in the WAL thread): -13 % quorum PUT peak; one node's peak was the
 * same with 24 and 8 (bench/results/lead-2026-12-06-s12.md). */
#define LSM_DEFAULT_GC_ENOUGH "24"
#define LSM_DEFAULT_MEM_JITTER "25" /* percent of memtable_size (flush.c) */
/* [engine.lsm] blob_min_size (bytes; 0: values stay in the tables) and
 * blob_gc_age_cutoff (percent of the blob files, oldest first, whose
 * values a compaction relocates): blob.h, compact.c. */
#define LSM_DEFAULT_BLOB_MIN "4096"
#define LSM_DEFAULT_BLOB_GC_CUTOFF "25"
/* [engine.lsm] blob_head (bytes, at most LSM_BLOB_HEAD_MAX; 0: none): the
 * first bytes of each blob value its reference also holds (blob.h), so a
 * DK_GET_HEAD read reads no blob file. 256 covers the node's object header
 * and version vector with a few siblings (typically 60-250 bytes) and
 * adds at most 1/16 of the value bytes to the tables at the smallest
 * blob value (4 KiB, blob_min_size's default), 1/40 at 10 KiB. */
#define LSM_DEFAULT_BLOB_HEAD "256"
#define LSM_L0_SLOWDOWN 12 /* L0 runs at which each write sleeps 1 ms */
#define LSM_BUILTIN_L0_TRIGGER 4
/* [engine.lsm] table_writeback: the flush's and compaction's writeback
 * interval (env writeback; 0: only the final fsync). */
#define LSM_DEFAULT_WRITEBACK "1MiB"

/* A queued write. The writer sleeps on `wake` without the mutex; whoever
 * posts it has set `state` first (sem_post/sem_wait order the stores). */
/* A queued write. A synchronous writer lives on its thread's stack and
 * sleeps on wake; an asynchronous one (write_async: cb set) is malloc'd,
 * has no thread, and is completed by cb and freed by whoever leads its
 * group (the WAL thread, or a synchronous leader that took it along). */
typedef struct lsm_writer {
    const dk_batch *batch; /* NULL: a request to switch the memtable */
    int sync, rc;
    int state;      /* 0 waiting, LSM_W_LEAD, LSM_W_DONE */
    sem_t wake;     /* synchronous writers only */
    dk_write_cb cb; /* asynchronous writers: the completion */
    void *cb_arg;
    struct lsm_writer *next;
} lsm_writer;
#define LSM_W_LEAD 1
#define LSM_W_DONE 2

typedef struct lsm_db {
    dk_engine base;
    const dk_host *host;
    lsm_env *env;
    int own_env;
    char *dir;
    lsm_fileenv fenv;
    lsm_cache *cache;
    lsm_blobs *blobs; /* the blob files (blob.h) */

    /* options */
    uint64_t memtable_size, rate_limit;
    /* The current memtable is switched at mem_limit bytes, drawn for each
     * memtable in (1 - mem_jitter %) x memtable_size .. memtable_size from
     * mem_rng (flush.c; under mu). */
    unsigned mem_jitter;
    uint64_t mem_limit, mem_rng;
    int flush_nice, compaction_nice; /* added to the node's nice value (lsm.c) */
    int flush_pace;                  /* pace flushes after the fill rate (flush_pace.c) */
    uint64_t writeback_bytes;        /* tables: start writeback this often (0: never) */
    int blob_direct;                 /* blob files written with direct I/O where possible */
    int wal_yield;                   /* flush/compaction writeback yields to the WAL (io_yield.c) */
    unsigned bits_per_key;
    uint64_t blob_min_size;    /* values this long go to blob files at flush (0: none) */
    unsigned blob_gc_cutoff;   /* percent (compact.c) */
    size_t blob_head;          /* bytes of each blob value its reference holds (blob.h; 0: none) */
    int lookup_memo;           /* [engine.lsm] lookup_memo: point reads memoize table searches (memo.h) */
    lsm_door memo_door;        /* which searches the memo admits (memo.h) */
    lsm_codecs *codecs;        /* every codec the engine reads or writes */
    const dk_codec_ref *codec; /* the one it writes with ([engine.lsm] codec) */
    const dk_compaction_ops *policy_ops;
    dk_compaction_policy *policy;

    pthread_mutex_t mu, edit_mu, compact_mu;
    pthread_cond_t bg_cv;   /* wakes the flush and compaction threads */
    pthread_cond_t done_cv; /* a flush or compaction finished */
    lsm_memtable *mem, *imm;
    lsm_sl_pool *slpool; /* arena chunks of flushed memtables, for the next */
    lsm_wal wal;
    lsm_version *cur;
    lsm_manifest man;
    uint64_t next_file, last_seq, log_number;
    uint64_t man_log_number; /* the manifest's log number: older WALs are obsolete (mu) */
    uint64_t recycle_log;    /* obsolete WAL kept for reuse (0: none) */
    /* The WAL before the current one stays open after a memtable switch
     * until someone settles it (flush.c): syncs what it has unsynced,
     * cuts a refused group from it, closes it, and syncs the
     * directory when the new log's name is not durable yet (settle_dir).
     * The flush thread does it before the flush; a sync write's leader
     * only when its acknowledgement depends on it (settle_urgent: unsynced
     * data in the old log, a refused group to cut from it, or the new
     * name not durable); close. The settling is guarded by prev_mu,
     * taken without mu; prev is written only by a switch while
     * settle_pending is 0 (so nobody settles), which then sets it. */
    lsm_wal prev;
    pthread_mutex_t prev_mu;
    _Atomic int settle_pending, settle_urgent;
    int settle_dir; /* prev_mu, or the switch while settle_pending is 0 */
    /* The next WAL, prepared by the flush thread after a flush made a
     * log obsolete (that log recycled under the next number, or a fresh
     * file) with its directory entry already durable, so that a switch
     * only swaps descriptors (flush.c). next_wal and next_ready under mu;
     * next_number is its number (0: none) for checkpoints to skip. */
    lsm_wal next_wal;
    int next_ready;
    uint64_t next_number;
    uint64_t imm_last_seq; /* last sequence in imm's WAL (mu) */
    uint64_t flushed_seq;  /* last sequence of the WALs below log_number (mu) */
    lsm_writer *wq_head, *wq_tail;
    /* The WAL thread leads every group whose head is an asynchronous
     * writer (started by the first write_async). wal_turn (mu): the head
     * is asynchronous and waits for it; wal_stop (mu): close. The WAL
     * thread sleeps on wal_sem, not on a condition variable over mu
     * (lsm_write.c: lsm_wal_sleep); wal_sleeping (mu): it sleeps or is
     * about to, and the first to clear it posts wal_sem once. */
    pthread_t wal_thr;
    int wal_thr_started, wal_turn, wal_stop, wal_sleeping;
    sem_t wal_sem;
    /* The group-commit window ([engine.lsm] group_commit_window_us,
     * group_commit_siblings and group_commit_enough; lsm_write.c), all
     * under mu. wq_arrivals counts
     * enqueued writers, wq_len those in the queue. Of the last group:
     * gc_seen writers arrived while it was led, gc_after after its
     * window (during its last append and fdatasync), gc_size it held.
     * gc_target: while a leader waits in a window, the queue
     * length that ends the wait early (0: none). */
    uint64_t gc_window_us, gc_siblings, gc_enough;
    uint64_t wq_arrivals, wq_len, gc_seen, gc_after, gc_size, gc_target;
    sem_t *gc_sleeper; /* a synchronous leader waiting in a window (mu) */
    lsm_wal_vec wbuf;  /* the leader's WAL records (values > 256 B borrowed) */
    /* The led group's borrowed values with the crc32c the WAL encoder
     * computed of each, in queue order over all of the group's lsm_take
     * calls (wbuf holds only the last one's): the memtable keeps them
     * for the flush (lsm_write.c). The leader's, like wbuf. */
    struct lsm_vcrc {
        const uint8_t *ptr;
        uint32_t crc;
    } * gcrc;
    size_t ngcrc, gcrc_cap;
    int bg_error; /* first fatal background error; writes refused */
    /* A transient bg_error (EMFILE, ENFILE, ENOSPC, EDQUOT: flush.c's
     * retry): the flush thread retries after bg_retry_ms (100 ms doubling
     * to 5 s) and clears bg_error once the failed step succeeds. All under
     * mu. bg_need_switch: the WAL must be replaced first (a switch failed,
     * or a WAL write failed and left a torn tail). wal_busy: a write
     * leader is doing WAL I/O without mu; the retry waits for it. */
    int bg_transient, bg_need_switch, wal_busy;
    uint64_t bg_retry_ms;
    _Atomic uint64_t st_bg_retries;
    _Atomic int closing; /* set once by close(); read without mu by compaction */
    int compact_pending;
    int compacting; /* a compaction round is running (under mu) */
    pthread_t flush_thr, compact_thr;
    int threads_started;

    /* counters (under mu unless atomic); st_stall_us: microseconds the
     * write queue waited (memtable full, switch, settle, slowdown) */
    _Atomic uint64_t st_wal_bytes, st_wal_syncs, st_writes, st_stall_us, st_slowdowns;
    /* memtable switches, those into a prepared WAL, and the time the
     * write queue waited for switches and for settles on its path */
    _Atomic uint64_t st_switches, st_switches_prepared, st_switch_us;
    /* windows waited, for how long, and how many ended early */
    _Atomic uint64_t st_gc_waits, st_gc_wait_us, st_gc_early;
    _Atomic uint64_t st_flushes, st_flush_bytes, st_compactions, st_compact_read, st_compact_write;
    _Atomic uint64_t st_compact_paced_us; /* compaction slept for its rate limit */
    /* The flush's pace (flush_pace.c): the rate the last switch chose
     * for imm (0: none), the lift, when the current memtable began (µs of
     * the monotonic clock, under mu; 0: unknown), how full the current
     * one is (set by each leader), the time it slept and how many paced
     * tables were hurried. */
    _Atomic uint64_t flush_rate;
    _Atomic int flush_hurry;
    _Atomic uint64_t mem_fill_pm; /* the current memtable's fill, per mille of mem_limit */
    uint64_t mem_born_us;
    _Atomic uint64_t st_flush_paced_us, st_flush_pace_lifts;
    /* The WAL fdatasync in flight (io_yield.h; set in lsm_write.c), and
     * the background writers' waits for it. */
    lsm_wal_gauge wal_sync;
    _Atomic uint64_t st_yields, st_yield_us, st_yield_timeouts;
    /* WAL fdatasync durations: total, largest, and how many took at most
     * 1, 4, 16, 64 ms (lsm_write.c; the histogram an operator reads). */
    _Atomic uint64_t st_wal_sync_us, st_wal_sync_max_us, st_wal_sync_le[4];
    _Atomic uint64_t st_records_dropped, st_files_dropped, st_wal_dropped, st_moves;
    /* read amplification: point lookups, tables they consulted (bloom
     * checked), blocks and bytes they read from files; the same for
     * iterator seeks and nexts */
    _Atomic uint64_t st_gets, st_get_tables, st_get_blocks, st_get_bytes;
    _Atomic uint64_t st_memo_hits; /* point reads answered by the memo (no table searched) */
    _Atomic uint64_t st_heads;     /* DK_GET_HEAD reads answered by a reference's head (no blob read) */
    _Atomic uint64_t st_iter_ops, st_iter_blocks, st_iter_bytes;
} lsm_db;

/* Open an engine over env (not owned; outlives the engine). Used by
 * open() with the POSIX env and by tests with the fault env. */
int dk__lsm_open_env(const dk_host *host, const dk_engine_conf *conf, lsm_env *env, dk_engine **out);

/* Path of file `number` with suffix ("log", "sst") into buf. */
void dk__lsm_file_path(const lsm_db *db, char *buf, size_t len, uint64_t number, const char *suffix);
/* Record a fatal background error (first wins, but replaces a transient
 * one), log it, wake everyone. Caller holds mu. */
void dk__lsm_set_bg_error(lsm_db *db, int rc, const char *what);
/* 1 for the causes that go away on their own: -EMFILE, -ENFILE,
 * -ENOSPC, -EDQUOT. */
int dk__lsm_transient(int rc);
/* Record the failure of a retryable step: a transient rc makes the engine
 * read-only until the flush thread's retry succeeds (need_switch: the
 * retry must start with a new WAL); any other rc is fatal. Caller holds
 * mu. */
void dk__lsm_set_bg_retry(lsm_db *db, int rc, const char *what, int need_switch);
/* Install edit e (with `added` opened files) as the new current version:
 * manifest append + sync, swap under mu, retire deleted files. Without
 * e->has_seq the edit records flushed_seq; an edit with has_log sets
 * flushed_seq to its last_seq. Caller holds edit_mu, not mu. */
int dk__lsm_install(lsm_db *db, lsm_edit *e, lsm_file *const *added);

/* flush.c: switch to a new memtable and WAL (the write leader, or the
 * flush thread's retry while writes are refused; holds mu, which it drops
 * for the file I/O). The old WAL is not synced here. On failure nothing
 * changed and the caller records the error. */
int dk__lsm_switch_memtable(lsm_db *db);
/* flush.c: sync and trim the WAL a switch left behind and, when the new
 * log's name is not durable yet, sync the directory (no-op when nothing
 * is pending). Any thread; mu not held. On error the caller records it
 * (dk__lsm_set_bg_retry). */
int dk__lsm_wal_settle(lsm_db *db);
/* flush.c: seed mem_rng from the kernel's random source (each engine,
 * so each node, draws its own sequence) and draw the first mem_limit. */
void dk__lsm_mem_limit_seed(lsm_db *db);
/* flush.c: close and delete the prepared next WAL, if any (close, after
 * the threads stopped). */
void dk__lsm_wal_unprepare(lsm_db *db);
/* flush.c: the flush thread's body. */
void *dk__lsm_flush_thread(void *arg);

/* flush.c: write the newest version of every key of m as table `number`
 * (fsynced, not yet in the manifest); *out is the opened file with one
 * reference, or NULL when m was empty. */
int dk__lsm_write_table(lsm_db *db, lsm_memtable *m, uint64_t number, lsm_file **out);
/* lsm.c: start the flush and compaction threads. */
int dk__lsm_start_threads(lsm_db *db);
/* lsm.c: lower the calling thread's CPU priority by `nice` (added to its
 * nice value, at most 19; 0: unchanged); `who` names the thread in the
 * warning logged when the system refuses. The flush and compaction
 * threads call it first thing. */
void dk__lsm_thread_nice(const lsm_db *db, int nice, const char *who);
/* lsm_write.c: the ops' write (the caller's thread is queued, and leads
 * a group or is completed by a leader) and write_async (queued for the
 * WAL thread; never waits for I/O). */
int dk__lsm_write(dk_engine *e, const dk_batch *b, int sync);
int dk__lsm_write_async(dk_engine *e, const dk_batch *b, int sync, dk_write_cb cb, void *arg);
/* lsm_write.c: queue batch b (NULL: a request to switch the memtable, as
 * flush() makes) as a synchronous writer and return its outcome. Any
 * thread but the WAL thread. */
int dk__lsm_write_queued(lsm_db *db, const dk_batch *b, int sync);
/* lsm_write.c: stop and join the WAL thread after it led every group
 * waiting for it (no-op when it never started). close() calls it first. */
void dk__lsm_wal_thread_stop(lsm_db *db);
/* lsm.c: the ops table (plugin.c exports it; tests call the engine
 * through it with an engine from dk__lsm_open_env). */
extern const dk_engine_ops dk__lsm_engine_ops;
/* recovery.c: the ops' close(); stops threads, syncs the WAL, frees. */
int dk__lsm_close(dk_engine *e);

/* checkpoint.c: a crash-consistent copy of the database into dir (which
 * must not exist), hard-linking tables; the ops' checkpoint(). */
int dk__lsm_checkpoint(lsm_db *db, const char *dir);
int dk__lsm_checkpoint_op(dk_engine *e, const char *dir);

/* lsm_read.c: what a reader pins: the memtables and the current version
 * (references) and the snapshot sequence. */
typedef struct lsm_read {
    lsm_memtable *mem, *imm;
    lsm_sl_pool *slpool; /* arena chunks of flushed memtables, for the next */
    lsm_version *v;
    uint64_t snap;
    /* No flush or compaction ran or was due at begin: v is likely to stay
     * current, so what its search finds is worth memoizing (memo.h). */
    int settled;
} lsm_read;
void dk__lsm_read_begin(lsm_db *db, lsm_read *r);
void dk__lsm_read_end(lsm_read *r);
/* lsm_read.c: the table blocks and bytes this thread read between begin
 * and end, added to the two counters. */
void dk__lsm_reads_begin(uint64_t r0[2]);
void dk__lsm_reads_end(const uint64_t r0[2], _Atomic uint64_t *blocks, _Atomic uint64_t *bytes);
/* lsm_read.c: the ops' get() and try_get(). */
int dk__lsm_get(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg);
int dk__lsm_try_get(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg);
int dk__lsm_get_lent(dk_engine *e, dk_slice key, uint32_t flags, dk_slice *value, void **pin);
void dk__lsm_release(dk_engine *e, void *pin);
/* lsm_iter.c: the ops' iterator methods. */
int dk__lsm_iter_open(dk_engine *e, const dk_iter_opts *opts, dk_engine_iter **out);
int dk__lsm_iter_seek(dk_engine_iter *ei, dk_slice target);
int dk__lsm_iter_next(dk_engine_iter *ei, dk_slice *key, dk_slice *value);
void dk__lsm_iter_close(dk_engine_iter *ei);

/* compact.c: the background thread body, and manual compaction. */
void *dk__lsm_compact_thread(void *arg);
int dk__lsm_compact_range(lsm_db *db, dk_slice start, dk_slice end);
#endif
