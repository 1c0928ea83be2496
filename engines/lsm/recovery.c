/*
 * recovery.c - opening and closing the LSM engine.
 *
 * Open: read CURRENT and the manifest (the live tables, the oldest live
 * WAL, the next file number, the last sequence), open every live table,
 * replay the live WALs in order into a memtable (a log's replay ends at
 * its first bad record, whose tail is truncated; the replay stops at the
 * first gap in the sequence numbers, see rc_replay_cb; a bad tail followed
 * by a log that continues the sequence lost nothing: a recycled log's
 * stale bytes, which nothing cuts any more, flush.c; wal.c recognises
 * most of them by themselves, also when no log follows, as after a crash
 * right after a switch; any other
 * bad tail is logged and counted as dropped, rc_tail), write that
 * memtable out as a level-0 table, then write a fresh manifest naming the
 * tables and a new empty WAL, switch CURRENT to it, create the WAL (and
 * the next one, for the first memtable switch: rc_prepare_next), and
 * only then delete what is no longer referenced (old WALs, old manifests,
 * orphan tables from an interrupted flush or compaction and their damage
 * marks, temp files).
 * Every step before the CURRENT switch leaves the old state intact, so a
 * crash anywhere in open is just another crash.
 *
 * Flushing the replayed WAL at open (rather than keeping it as the live
 * WAL, as LevelDB may) costs one table write per restart and keeps the
 * invariant simple: the live WAL always starts empty at open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm.h"
#include "memo.h"

typedef struct rc_scan {
    uint64_t *logs;
    size_t nlogs, caplogs;
    uint64_t max_number;
    int has_data;
} rc_scan;

static int rc_scan_cb(void *arg, const char *name)
{
    rc_scan *s = arg;
    unsigned long long n;
    char tail[16];
    if (sscanf(name, "%llu.%15s", &n, tail) == 2) {
        if (n > s->max_number)
            s->max_number = n;
        if (!strcmp(tail, "sst") || !strcmp(tail, "blob"))
            s->has_data = 1;
        if (!strcmp(tail, "log")) {
            s->has_data = 1;
            if (s->nlogs == s->caplogs) {
                size_t cap = s->caplogs ? s->caplogs * 2 : 8;
                uint64_t *l = realloc(s->logs, cap * sizeof(*l));
                if (!l)
                    return -ENOMEM;
                s->logs = l;
                s->caplogs = cap;
            }
            s->logs[s->nlogs++] = n;
        }
    } else if (sscanf(name, "MANIFEST-%llu", &n) == 1 && n > s->max_number) {
        s->max_number = n;
    }
    return 0;
}

static int rc_u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct rc_replay {
    lsm_db *db;
    lsm_memtable *mem;
    uint64_t max_seq;
    uint64_t base; /* the manifest's last sequence */
    uint64_t next; /* sequence the next record must start at (0: any <= base + 1) */
} rc_replay;

/* rc_replay_cb's "stop here" (not an error): a record does not follow
 * the one before it. Logs are written in sequence order with no holes,
 * so a gap means a log in between lost unsynced records in a crash (a
 * switch does not sync the old log, flush.c): replaying what follows
 * would apply later writes without earlier ones. The manifest's last
 * sequence is the last of the logs below its log number (an older
 * manifest may name a larger one), so the first record may not start
 * past it + 1. */
#define RC_GAP 1

static int rc_replay_cb(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n)
{
    rc_replay *r = arg;
    if (r->next ? seq != r->next : seq > r->base + 1)
        return RC_GAP;
    r->next = seq + count;
    const uint8_t *p = ops, *end = ops + n;
    for (uint32_t i = 0; i < count; i++) {
        int type;
        dk_slice k, v;
        int rc = dk__lsm_wal_op_next(&p, end, &type, &k, &v);
        if (!rc)
            rc = dk__lsm_mem_add(r->mem, seq + i, type, k, v);
        if (rc)
            return rc;
    }
    if (count && seq + count - 1 > r->max_seq)
        r->max_seq = seq + count - 1;
    return 0;
}

/* A log's tail that did not replay (torn, damaged, or a recycled log's
 * stale bytes that do not start on a record boundary). Which one is known
 * only from the logs after it: when the next record replayed continues
 * the sequence, nothing was lost; when a gap follows, or nothing does, it
 * is reported as a dropped tail. */
typedef struct rc_tail {
    uint64_t dropped, off;
    char path[4096];
} rc_tail;

static void rc_tail_damaged(lsm_db *db, rc_tail *t)
{
    atomic_fetch_add(&db->st_wal_dropped, t->dropped);
    db->host->log(db->host, DK_LOG_WARN,
                  "lsm: dropped %llu bytes of a torn or damaged WAL tail in %s at offset %llu",
                  (unsigned long long)t->dropped, t->path, (unsigned long long)t->off);
    if (db->host->metric_add)
        db->host->metric_add(db->host, "lsm_wal_bytes_dropped_total", t->dropped);
    t->dropped = 0;
}

typedef struct rc_gc {
    lsm_db *db;
    const lsm_version *v;
    uint64_t manifest;
    int lost;        /* tables were lost: the blob files only they named are unknown */
    uint64_t *blobs; /* the blob files v names, sorted (NULL: none, or no memory) */
    size_t nblobs;
} rc_gc;

/* Delete a file no live state refers to. */
/* Whether table number's file is really absent (ENOENT also stands for a
 * codec plugin that is not installed, which must stop the node instead). */
static int rc_table_gone(lsm_db *db, uint64_t number)
{
    char path[4096];
    dk__lsm_file_path(db, path, sizeof(path), number, "sst");
    lsm_rfile *f = NULL;
    int rc = db->env->ops->open_r(db->env, path, &f);
    if (rc == 0)
        db->env->ops->close_r(f);
    return rc == -ENOENT;
}

/*
 * A table the manifest names is missing or damaged (its footer, index or
 * filter does not check out): the rule is that a bad file stops that file,
 * not the node. Its keys are dropped from this replica (the new manifest no
 * longer names it), the file is kept aside as NNNNNN.sst.damaged for the
 * operator, and the error says which file; the node's anti-entropy then
 * refills the keys from the other replicas. A node without replicas loses
 * them, which the log line and lsm_tables_lost_total make loud.
 */
static void rc_lose_table(lsm_db *db, uint64_t number, int why)
{
    char path[4096], aside[4200];
    dk__lsm_file_path(db, path, sizeof(path), number, "sst");
    snprintf(aside, sizeof(aside), "%s.damaged", path);
    int moved = why != -ENOENT && db->env->ops->rename(db->env, path, aside) == 0;
    db->host->log(db->host, DK_LOG_ERROR,
                  "lsm: table %s named by the manifest %s: %s; opening without it "
                  "(its keys must come back from other replicas: run a repair)%s%s",
                  path, why == -ENOENT ? "is missing" : "is damaged", db->host->strerror(db->host, why),
                  moved ? "; kept as " : "", moved ? aside : "");
    if (db->host->metric_add)
        db->host->metric_add(db->host, "lsm_tables_lost_total", 1);
}

static int rc_gc_cb(void *arg, const char *name)
{
    rc_gc *g = arg;
    lsm_db *db = g->db;
    unsigned long long n;
    char tail[16];
    int drop = 0;
    size_t len = strlen(name);
    if (len > 4 && !strcmp(name + len - 4, ".tmp")) {
        drop = 1;
    } else if (sscanf(name, "%llu.%15s", &n, tail) == 2) {
        if (!strcmp(tail, "log"))
            drop = n < db->log_number;
        else if (!strcmp(tail, "sst") || !strcmp(tail, "bad")) {
            drop = 1;
            for (size_t i = 0; i < g->v->n; i++)
                if (g->v->files[i]->number == n)
                    drop = 0;
        } else if (!strcmp(tail, "blob")) {
            /* No table names it: written by a flush or compaction whose
             * manifest edit a crash prevented (blob.h), or named by a
             * table lost at this open, whose values it holds: set aside
             * then, with the table (rc_lose_table). */
            drop = g->blobs ? !dk__lsm_blob_numbers_has(g->blobs, g->nblobs, n)
                            : !dk__lsm_version_has_blob(g->v, n);
            if (drop && g->lost) {
                char path[4096], aside[4200];
                dk__lsm_file_path(db, path, sizeof(path), n, "blob");
                snprintf(aside, sizeof(aside), "%s.damaged", path);
                if (db->env->ops->rename(db->env, path, aside) == 0) {
                    db->host->log(db->host, DK_LOG_WARN,
                                  "lsm: %s is named by no table opened (a table was lost); kept as %s", path,
                                  aside);
                    drop = 0;
                }
            }
        }
    } else if (sscanf(name, "MANIFEST-%llu", &n) == 1) {
        drop = n != g->manifest;
    }
    if (drop) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", db->dir, name);
        int rc = db->env->ops->unlink(db->env, path);
        if (rc && rc != -ENOENT)
            db->host->log(db->host, DK_LOG_WARN, "lsm: cannot delete %s: %s", path, strerror(-rc));
    }
    return 0;
}

/* [engine.lsm]: the keys this engine takes (dk_option); the hint store
 * opened by the node reads the same section. */
typedef struct rc_opts {
    const char *codec;
    int64_t codec_level;
    int64_t bloom_bits_per_key;
    uint64_t compaction_rate_limit;
    int64_t group_commit_window_us, group_commit_siblings, group_commit_enough;
    int64_t compaction_nice, flush_nice;
    int flush_pace, wal_yield;
    uint64_t table_writeback;
    int64_t memtable_jitter;
    uint64_t blob_min_size;
    int64_t blob_gc_age_cutoff;
    uint64_t blob_head;
    int lookup_memo;
    int blob_direct;
} rc_opts;

static const dk_option rc_options_spec[] = {
    {.key = "codec", .type = DK_OPT_STRING, .offset = offsetof(rc_opts, codec), .dflt = "zstd"},
    {.key = "codec_level",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, codec_level),
     .min = -1000000,
     .max = 1000000,
     .dflt = "0"},
    {.key = "bloom_bits_per_key",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, bloom_bits_per_key),
     .min = 1,
     .max = 32,
     .dflt = "10"},
    {.key = "compaction_rate_limit",
     .type = DK_OPT_RATE,
     .offset = offsetof(rc_opts, compaction_rate_limit),
     .min = 0,
     .max = 1ll << 40,
     .dflt = "64MiB"},
    /* PostgreSQL's commit_delay and commit_siblings, with their ranges. */
    {.key = "group_commit_window_us",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, group_commit_window_us),
     .min = 0,
     .max = 100000,
     .dflt = LSM_DEFAULT_GC_WINDOW},
    {.key = "group_commit_siblings",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, group_commit_siblings),
     .min = 0,
     .max = 1000,
     .dflt = LSM_DEFAULT_GC_SIBLINGS},
    /* No window once the group holds this many writes (0: no limit). */
    {.key = "group_commit_enough",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, group_commit_enough),
     .min = 0,
     .max = 100000,
     .dflt = LSM_DEFAULT_GC_ENOUGH},
    {.key = "compaction_nice",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, compaction_nice),
     .min = 0,
     .max = 19,
     .dflt = "10"},
    {.key = "flush_nice",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, flush_nice),
     .min = 0,
     .max = 19,
     .dflt = "0"},
    {.key = "flush_pace", .type = DK_OPT_BOOL, .offset = offsetof(rc_opts, flush_pace), .dflt = "true"},
    {.key = "wal_yield", .type = DK_OPT_BOOL, .offset = offsetof(rc_opts, wal_yield), .dflt = "true"},
    {.key = "table_writeback",
     .type = DK_OPT_SIZE,
     .offset = offsetof(rc_opts, table_writeback),
     .min = 0,
     .max = 1ll << 30,
     .dflt = LSM_DEFAULT_WRITEBACK},
    {.key = "memtable_jitter",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, memtable_jitter),
     .min = 0,
     .max = 50,
     .dflt = LSM_DEFAULT_MEM_JITTER},
    {.key = "blob_min_size",
     .type = DK_OPT_SIZE,
     .offset = offsetof(rc_opts, blob_min_size),
     .min = 0,
     .max = 1ll << 30,
     .dflt = LSM_DEFAULT_BLOB_MIN},
    {.key = "blob_gc_age_cutoff",
     .type = DK_OPT_INT,
     .offset = offsetof(rc_opts, blob_gc_age_cutoff),
     .min = 0,
     .max = 100,
     .dflt = LSM_DEFAULT_BLOB_GC_CUTOFF},
    {.key = "blob_head",
     .type = DK_OPT_SIZE,
     .offset = offsetof(rc_opts, blob_head),
     .min = 0,
     .max = LSM_BLOB_HEAD_MAX,
     .dflt = LSM_DEFAULT_BLOB_HEAD},
    {.key = "lookup_memo", .type = DK_OPT_BOOL, .offset = offsetof(rc_opts, lookup_memo), .dflt = "true"},
    /* Blob files written around the page cache (env.h create_direct):
     * off by default, because a value read soon after its flush then
     * comes from the device, not from the page cache. */
    {.key = "blob_direct_io", .type = DK_OPT_BOOL, .offset = offsetof(rc_opts, blob_direct), .dflt = "false"},
};

/* Options, the block cache and the codec to write with: the codec plugin
 * named by [engine.lsm] codec, opened through the host at codec_level. */
static int rc_options(lsm_db *db, const dk_engine_conf *conf)
{
    const dk_host *h = db->host;
    rc_opts o;
    int rc = h->options(h, rc_options_spec, sizeof rc_options_spec / sizeof rc_options_spec[0], &o);
    if (rc)
        return rc;
    db->memtable_size = DK_HAS(conf, memtable_size) ? conf->memtable_size : LSM_DEFAULT_MEMTABLE;
    uint64_t cache = DK_HAS(conf, block_cache_size) ? conf->block_cache_size : LSM_DEFAULT_CACHE;
    db->bits_per_key = (unsigned)o.bloom_bits_per_key;
    db->rate_limit = o.compaction_rate_limit;
    db->gc_window_us = (uint64_t)o.group_commit_window_us;
    db->gc_siblings = (uint64_t)o.group_commit_siblings;
    db->gc_enough = (uint64_t)o.group_commit_enough;
    db->compaction_nice = (int)o.compaction_nice;
    db->flush_nice = (int)o.flush_nice;
    db->flush_pace = o.flush_pace;
    db->wal_yield = o.wal_yield;
    db->mem_jitter = (unsigned)o.memtable_jitter;
    db->blob_min_size = o.blob_min_size;
    db->blob_gc_cutoff = (unsigned)o.blob_gc_age_cutoff;
    db->blob_head = (size_t)o.blob_head;
    db->lookup_memo = o.lookup_memo;
    db->blob_direct = o.blob_direct;
    db->memo_door.reset = LSM_MEMO_DOOR_RESET;
    dk__lsm_mem_limit_seed(db);
    db->writeback_bytes = o.table_writeback;
    if (DK_HAS(conf, compaction_policy) && DK_HAS(conf, compaction)) {
        db->policy_ops = conf->compaction;
        db->policy = conf->compaction_policy;
    }
    if ((rc = dk__lsm_codecs_new(h, &db->codecs)))
        return rc;
    rc = dk__lsm_codecs_open(db->codecs, o.codec, (int)o.codec_level, &db->codec);
    if (rc == DK_ECONFIG)
        h->conf_error(h, "codec_level", "the codec '%s' refuses this level (the log says which it takes)",
                      o.codec);
    else if (rc == -ENOENT || rc == -EINVAL)
        h->conf_error(h, "codec", "no codec plugin '%s' (codec-%s.so) in the plugin folder", o.codec,
                      o.codec);
    else if (rc)
        h->conf_error(h, "codec", "the codec '%s' cannot be opened: %s", o.codec, h->strerror(h, rc));
    if (rc)
        return rc == -ENOENT || rc == -EINVAL ? DK_ECONFIG : rc;
    return (db->cache = dk__lsm_cache_new(cache)) ? 0 : -ENOMEM;
}

/* Create the log the first memtable switch goes into, next to the live
 * one: its name is made durable by the same directory sync, so that
 * switch does no I/O either (flush.c: the flush thread prepares every
 * later one). Not fatal: without it the switch opens its log itself. An
 * empty log a crash leaves is read as empty and deleted (it is above the
 * manifest's log number); close deletes it (dk__lsm_wal_unprepare). */
static void rc_prepare_next(lsm_db *db, uint64_t number)
{
    char path[4096];
    dk__lsm_file_path(db, path, sizeof(path), number, "log");
    int rc = dk__lsm_wal_open(db->env, path, &db->next_wal);
    if (!rc) {
        db->next_ready = 1;
        db->next_number = number;
        return;
    }
    dk__lsm_wal_close(&db->next_wal);
    db->next_wal = (lsm_wal){0};
    db->env->ops->unlink(db->env, path);
    db->host->log(db->host, DK_LOG_DEBUG, "lsm %s: cannot prepare the next WAL %s: %s", db->dir, path,
                  db->host->strerror(db->host, rc));
}

/* Everything after options: recover, write the new manifest, start. */
static int rc_recover(lsm_db *db)
{
    lsm_recovered r;
    rc_scan scan = {0};
    lsm_file **files = NULL;
    size_t nfiles = 0;
    int lost = 0; /* a table was lost (rc_gc_cb) */
    lsm_memtable *replayed = NULL;
    lsm_edit snap;
    dk__lsm_edit_init(&snap);
    int rc = db->env->ops->mkdir(db->env, db->dir);
    if (!rc)
        rc = dk__lsm_manifest_recover(db->env, db->dir, db->host, &r);
    if (rc)
        return rc;
    if ((rc = db->env->ops->list(db->env, db->dir, rc_scan_cb, &scan)))
        goto out;
    if (r.fresh && scan.has_data) {
        db->host->log(db->host, DK_LOG_ERROR,
                      "lsm: %s/CURRENT is missing but WAL or table files exist; "
                      "refusing to open (restore CURRENT or move the files away)",
                      db->dir);
        rc = DK_ECORRUPT;
        goto out;
    }
    db->next_file = r.next_file > scan.max_number + 1 ? r.next_file : scan.max_number + 1;
    if (db->next_file < 2)
        db->next_file = 2;
    db->last_seq = r.last_seq;
    if (!(files = calloc(r.n + 2, sizeof(*files)))) {
        rc = -ENOMEM;
        goto out;
    }
    db->fenv.lost_blobs_ok = 1;
    for (size_t i = 0; i < r.n; i++) {
        if ((rc = dk__lsm_file_open(&db->fenv, r.files[i].number, r.files[i].level, r.files[i].size,
                                    &files[nfiles]))) {
            if (rc != DK_ECORRUPT && !(rc == -ENOENT && rc_table_gone(db, r.files[i].number))) {
                /* EIO, EMFILE, a codec plugin that is not installed...: not the file's fault */
                db->host->log(db->host, DK_LOG_ERROR,
                              "lsm: table %06llu named by the manifest of %s cannot be used: %s",
                              (unsigned long long)r.files[i].number, db->dir,
                              db->host->strerror(db->host, rc));
                goto out;
            }
            rc_lose_table(db, r.files[i].number, rc);
            lost = 1;
            rc = 0;
            continue;
        }
        nfiles++;
    }
    db->fenv.lost_blobs_ok = 0;
    /* Replay the live WALs, oldest first. */
    if (scan.nlogs)
        qsort(scan.logs, scan.nlogs, sizeof(*scan.logs), rc_u64cmp);
    rc_replay rp = {.db = db, .max_seq = db->last_seq, .base = db->last_seq};
    if (!(replayed = rp.mem = dk__lsm_mem_new(0, db->slpool))) {
        rc = -ENOMEM;
        goto out;
    }
    int stopped = 0;
    rc_tail bad = {0};
    for (size_t i = 0; i < scan.nlogs; i++) {
        if (scan.logs[i] < r.log_number)
            continue;
        char path[4096];
        dk__lsm_file_path(db, path, sizeof(path), scan.logs[i], "log");
        if (stopped) {
            db->host->log(db->host, DK_LOG_ERROR, "lsm: not replaying %s: it follows a damaged record", path);
            continue;
        }
        uint64_t dropped = 0, bad_off = 0, next0 = rp.next;
        rc = dk__lsm_wal_replay(db->env, path, rc_replay_cb, &rp, &dropped, &bad_off);
        if (rc == RC_GAP) {
            rc = 0;
            stopped = 1;
            if (bad.dropped) {
                rc_tail_damaged(db, &bad);
                db->host->log(db->host, DK_LOG_ERROR, "lsm: not replaying %s: it follows a damaged record",
                              path);
            } else {
                db->host->log(db->host, DK_LOG_WARN,
                              "lsm: %s does not continue the sequence of the logs "
                              "before it (their unsynced tail was lost); not replaying it or later logs",
                              path);
            }
            continue;
        }
        if (rc) {
            db->host->log(db->host, DK_LOG_ERROR, "lsm: replay of %s failed: %s", path,
                          db->host->strerror(db->host, rc));
            goto out;
        }
        if (bad.dropped && rp.next != next0) {
            /* This log continues the sequence where the bad tail's log
             * ended: nothing was lost there; it was a recycled log's
             * stale bytes, which are not cut (flush.c). */
            db->host->log(db->host, DK_LOG_INFO, "lsm: cut %llu stale bytes after the records of %s",
                          (unsigned long long)bad.dropped, bad.path);
            bad.dropped = 0;
        }
        if (dropped) {
            if (bad.dropped)
                rc_tail_damaged(db, &bad);
            bad = (rc_tail){.dropped = dropped, .off = bad_off};
            snprintf(bad.path, sizeof(bad.path), "%s", path);
        }
    }
    if (bad.dropped)
        rc_tail_damaged(db, &bad);
    db->last_seq = rp.max_seq;
    if (dk__lsm_sl_count(replayed->sl) > 0) {
        if ((rc = dk__lsm_write_table(db, replayed, db->next_file++, &files[nfiles])))
            goto out;
        if (files[nfiles])
            nfiles++;
    }
    uint64_t man_no = db->next_file++, wal_no = db->next_file++, next_no = db->next_file++;
    db->log_number = db->man_log_number = wal_no;
    db->flushed_seq = db->last_seq;
    snap.has_log = snap.has_next = snap.has_seq = 1;
    snap.log_number = wal_no;
    snap.next_file = db->next_file;
    snap.last_seq = db->last_seq;
    for (size_t i = 0; i < nfiles && !rc; i++)
        rc = dk__lsm_edit_add(&snap, files[i]->level, files[i]->number, files[i]->size);
    if (!rc && !(db->cur = dk__lsm_version_new(files, nfiles)))
        rc = -ENOMEM;
    if (!rc)
        rc = dk__lsm_manifest_create(db->env, db->dir, man_no, &snap, &db->man);
    char path[4096];
    dk__lsm_file_path(db, path, sizeof(path), wal_no, "log");
    if (!rc)
        rc = dk__lsm_wal_open(db->env, path, &db->wal);
    if (!rc)
        rc_prepare_next(db, next_no);
    if (!rc)
        rc = db->env->ops->sync_dir(db->env, db->dir);
    if (!rc && !(db->mem = dk__lsm_mem_new(wal_no, db->slpool)))
        rc = -ENOMEM;
    if (!rc) {
        rc_gc g = {.db = db, .v = db->cur, .manifest = man_no, .lost = lost};
        g.blobs = dk__lsm_version_blob_numbers(db->cur, &g.nblobs);
        db->env->ops->list(db->env, db->dir, rc_gc_cb, &g);
        free(g.blobs);
    }
out:
    db->fenv.lost_blobs_ok = 0;
    for (size_t i = 0; i < nfiles; i++)
        dk__lsm_file_unref(files[i]); /* the version holds its own */
    free(files);
    free(scan.logs);
    dk__lsm_mem_unref(replayed);
    dk__lsm_edit_free(&snap);
    dk__lsm_recovered_free(&r);
    return rc;
}

/* Free everything; threads must be stopped. */
static void rc_free(lsm_db *db)
{
    dk__lsm_wal_close(&db->wal);
    dk__lsm_wal_close(&db->prev);
    dk__lsm_wal_close(&db->next_wal);
    dk__lsm_manifest_close(&db->man);
    dk__lsm_mem_unref(db->mem);
    dk__lsm_mem_unref(db->imm);
    dk__lsm_sl_pool_unref(db->slpool); /* lists still alive keep it */
    dk__lsm_version_unref(db->cur);
    /* Readers are gone: delete what they retired before the cache goes. */
    dk__lsm_reaper_stop(db->fenv.reaper);
    db->fenv.reaper = NULL;
    dk__lsm_blobs_free(db->blobs);   /* after the tables that reference them */
    dk__lsm_codecs_free(db->codecs); /* after the tables that decode with them */
    dk__lsm_cache_free(db->cache);
    dk__lsm_wal_vec_free(&db->wbuf);
    free(db->gcrc);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->edit_mu);
    pthread_mutex_destroy(&db->compact_mu);
    pthread_mutex_destroy(&db->prev_mu);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->done_cv);
    sem_destroy(&db->wal_sem);
    if (db->own_env)
        db->env->ops->destroy(db->env);
    free(db->dir);
    free(db);
}

/* blob_direct_io on a file system without direct I/O in blocks of at
 * most 4 KiB (tmpfs, or a kernel without STATX_DIOALIGN): every blob
 * writer falls back to a buffered file (blob_file.c), so say so once at
 * open instead of leaving the operator to find
 * engine_lsm_blob_files_direct_total at 0. The probe file ends in .tmp:
 * a crash before its unlink leaves it to the next open's cleanup
 * (rc_gc_cb). */
static void rc_direct_probe(lsm_db *db)
{
    if (!db->blob_direct)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/direct-probe.tmp", db->dir);
    lsm_wfile *f = NULL;
    int rc = db->env->ops->create_direct ? db->env->ops->create_direct(db->env, path, &f) : -EINVAL;
    if (!rc)
        db->env->ops->close_w(f);
    db->env->ops->unlink(db->env, path);
    if (rc)
        db->host->log(db->host, DK_LOG_WARN,
                      "lsm: blob_direct_io is on but %s takes no direct I/O (%s): blob files are written "
                      "through the page cache",
                      db->dir, db->host->strerror(db->host, rc));
}

int dk__lsm_open_env(const dk_host *host, const dk_engine_conf *conf, lsm_env *env, dk_engine **out)
{
    *out = NULL;
    if (!host || !DK_HAS(conf, path))
        return DK_ECONFIG;
    lsm_db *db = calloc(1, sizeof(*db));
    if (!db || !(db->dir = strdup(conf->path))) {
        free(db);
        return -ENOMEM;
    }
    db->base.host = host;
    db->host = host;
    db->env = env;
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->edit_mu, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    pthread_mutex_init(&db->prev_mu, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->done_cv, NULL);
    (void)sem_init(&db->wal_sem, 0, 0); /* fails only for pshared or a huge value */
    int rc = rc_options(db, conf);
    /* One memtable's worth of chunks: with the mutable and the flushing
     * one, the ceiling stays at two memtables (lsm.h). */
    if (!rc && !(db->slpool = dk__lsm_sl_pool_new(db->memtable_size)))
        rc = -ENOMEM;
    if (!rc)
        rc = dk__lsm_blobs_new(env, db->dir, db->cache, host, &db->blobs);
    if (!rc) {
        db->fenv = (lsm_fileenv){.env = env,
                                 .dir = db->dir,
                                 .cache = db->cache,
                                 .codecs = db->codecs,
                                 .host = host,
                                 .blobs = db->blobs};
        rc = dk__lsm_reaper_start(&db->fenv.reaper);
    }
    if (!rc)
        rc = rc_recover(db);
    if (!rc)
        rc_direct_probe(db);
    if (!rc)
        rc = dk__lsm_start_threads(db);
    if (rc) {
        host->log(host, DK_LOG_ERROR, "lsm: cannot open %s: %s", conf->path, host->strerror(host, rc));
        rc_free(db);
        return rc;
    }
    *out = &db->base;
    return 0;
}

int dk__lsm_close(dk_engine *e)
{
    lsm_db *db = (lsm_db *)e;
    if (!db)
        return 0;
    /* The WAL thread first: it may still need the flush thread to make
     * room for a group it leads. The host has no write in flight now. */
    dk__lsm_wal_thread_stop(db);
    pthread_mutex_lock(&db->mu);
    db->closing = 1;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
    if (db->threads_started) {
        pthread_join(db->flush_thr, NULL);
        pthread_join(db->compact_thr, NULL);
    }
    /* Writes acknowledged without sync become durable on a clean close;
     * the memtables are not flushed: the WALs cover them. An engine that
     * went read-only for good says so again here; one waiting for a
     * retry (flush.c) still settles, syncs and trims its logs (a torn
     * WAL write is cut back to its last whole record). The log before the
     * current one (and the current one's name) may still be unsettled. */
    dk__lsm_wal_unprepare(db);
    int rc = db->bg_error && !db->bg_transient ? DK_EREADONLY : dk__lsm_wal_settle(db);
    if (!rc)
        rc = dk__lsm_wal_sync(&db->wal);
    if (!rc) {
        char path[4096];
        dk__lsm_file_path(db, path, sizeof(path), db->wal.number, "log");
        rc = dk__lsm_wal_trim(&db->wal, path);
    }
    if (!rc && db->bg_error)
        rc = DK_EREADONLY;
    if (rc && !db->bg_error)
        db->host->log(db->host, DK_LOG_ERROR, "lsm %s: WAL sync at close failed: %s", db->dir,
                      db->host->strerror(db->host, rc));
    rc_free(db);
    return rc;
}
