/*
 * compact.c - the compaction executor: one background thread that asks
 * the configured policy (compaction.h) for jobs and runs them, plus manual
 * compact_range.
 *
 * A merge job reads its input tables through a merging iterator and keeps
 * the newest version of each key. Older versions are dropped outright:
 * readers pin the version (and so the input files) they started with, so
 * no reader can need them from the output. The newest version itself is
 * dropped when it is an engine tombstone, or when the host's
 * record_filter says DK_RECORD_DROP (TTL expired, tombstone past
 * gc_grace), but only when no table outside the job may hold an older
 * version of the key: a table whose key range covers the key and whose
 * smallest sequence number is below the record's. Dropping it anyway
 * would resurrect that older version (the "deleted data coming back"
 * failure). Memtables and tables flushed during the job hold only newer
 * sequence numbers, so they cannot. When the drop is unsafe the record is
 * written unchanged and dropped by a later job that includes the older
 * table, at the latest when the data reaches the bottom of the tree.
 *
 * A merge job of one table from a level >= 1 into a deeper level whose
 * levels in between and output level hold nothing overlapping it is a
 * move (RocksDB's trivial move): the same table file is re-listed at the
 * output level by a manifest edit that deletes and re-adds its number,
 * and nothing is rewritten. The leveled policy asks for such jobs
 * whenever a level spills into an empty key range of the next one (three
 * 64 MiB rewrites right after the 1 KiB fillrandom benchmark, which then
 * delayed the level-0 job readers were waiting for). A move keeps
 * tombstones and expired records; a later merge drops them. The overlap
 * check reads the pinned version: levels >= 1 change only by jobs run
 * under compact_mu, which the caller holds.
 *
 * A DK_JOB_DROP job deletes whole runs the policy found fully expired; the
 * policy answers for that (time-window drops windows whose max expiry has
 * passed). A new version with the outputs replaces the inputs in one
 * manifest edit. Writes are rate limited (pace.c): at the configured
 * rate while level 0 is short, faster for each level-0 run past the
 * policies' trigger, not at all well before writers would be slowed
 * (lsm.c), since pacing then would only trade compaction bandwidth for
 * write slowdowns. Each writeback step and final fsync first waits (bounded)
 * for a WAL fdatasync in flight to end, until level 0 reaches the same
 * LSM_PACE_L0_FREE (io_yield.c); both hooks are in compact_pace.c. The thread runs at [engine.lsm] compaction_nice
 * (lsm.c), so it takes the CPU the request path leaves.
 *
 * A damaged data block in an input (bad CRC, malformed, unreadable) fails
 * the job: the outputs are deleted, the inputs stay, nothing is dropped
 * or lost beyond the block itself, and the engine stays writable. Skipping
 * the block instead would let older versions of its keys, from tables
 * outside the job, come back once the damaged table is gone (a lost
 * tombstone resurrects the value it deleted), and anti-entropy would
 * spread them. The damaged table is marked and offered to the policy as
 * busy, so compaction does not retry the same job after every flush; it
 * stays as it is, its readable keys served, while the keys of the damaged
 * block read as absent until read repair or anti-entropy writes them
 * again (newer versions shadow it, lsm.c). The mark is persisted beside
 * the table (NNNNNN.bad, version.c), so a restart does not run the doomed
 * job again; if it cannot be written, a restart finds the block again at
 * the next job that reads it, and marks it then.
 *
 * Blob references (blob.h) are copied as they are: a merge rewrites the
 * small references, never the values they name. Two exceptions read a
 * value. A reference record_filter said may ever be dropped
 * (LSM_BLOB_MORTAL) has its value read to ask the filter with the real
 * clock; every other one is kept unread. And garbage collection: a
 * reference into a blob file due for collection is relocated: its value
 * is read and written to a new blob file of the job's output (one per
 * job, synced before the install). Due are, of the blob files more than
 * 1/8 garbage (bytes no table of the pinned version references; the
 * tables list what they reference, table.h), the oldest
 * blob_gc_age_cutoff percent (at least one): RocksDB BlobDB's age cutoff,
 * which spares young files whose values are likely to be overwritten
 * anyway, restricted to files with garbage, since relocating a file
 * without any (an insert-only load) only rewrites it, which measured as
 * CPU the separation was meant to save. A manual compaction
 * (compact_range) collects every file more than 1/8 garbage, with a
 * second pass when its own merge made them so, and gives the space back
 * as it did when the values were in the tables. A blob file loses its
 * last references as its tables are compacted or its values relocated,
 * and is deleted once no live table names it (version.c). When the policy
 * has no job, a table naming an old blob file that is mostly garbage, or
 * many small ones, is rewritten into its level, and such a table is
 * merged, not moved (blob_gc.c). A job that fails deletes its blob file.
 * An inline value
 * of at least blob_min_size (written before separation was on) moves to
 * that blob file too. A blob record that cannot be read (bad CRC, I/O
 * error) is not relocated: its reference stays as it is, and the read of
 * the key reports the damage (logged with file and offset).
 *
 * The policy sees a table's size as the data it holds (lsm_file.data_size:
 * its bytes plus the blob record bytes its references name, from its
 * properties), and a job's outputs are split when that reaches
 * target_file_size. Sized by bytes on disk, a table of references to 10 KiB
 * values counted 1/250 of its data: level 1 stayed the base level until it
 * held 64 MiB of references (~1.4 M keys), and with random keys every
 * level-0 job rewrote the reference of every key stored
 * (bench/results/compact-2026-12-06-s14.md); a single output table covering
 * the whole key range left a policy nothing smaller to pick.
 *
 * With no policy plugin (adapters, tests) a built-in rule keeps level 0
 * bounded: at 4 level-0 runs, merge them with the level-1 runs they
 * overlap into level 1.
 */
#define _GNU_SOURCE 1 /* pthread_setname_np */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blob_gc.h"
#include "lsm.h"
#include "compact_pace.h"

#define LSM_JOBS_PER_ROUND 64
#define LSM_GC_FORCED_PER_ROUND 8                  /* forced blob GC rewrites (blob_gc.c) */
#define LSM_GC_SMALL(db) ((db)->memtable_size / 4) /* a small blob file (blob_gc.c) */

/* cp_run_one's jobs: the policy's, compact_range's, a forced blob GC
 * rewrite (blob_gc.c). */
enum { CP_POLICY, CP_MANUAL, CP_FORCE };

static lsm_file *cp_find(const lsm_version *v, uint64_t number)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->files[i]->number == number)
            return v->files[i];
    return NULL;
}

/* Built-in rule when no policy is configured. Holds mu. */
static int cp_builtin_pick(const lsm_version *v, dk_compaction_job *job)
{
    size_t l0 = 0;
    dk_slice lo = {NULL, 0}, hi = {NULL, 0};
    for (size_t i = 0; i < v->n; i++) {
        lsm_file *f = v->files[i];
        if (f->level != 0 || f->busy || f->damaged)
            continue;
        if (!l0 || lsm_ucmp(dk__lsm_file_smallest(f), lo) < 0)
            lo = dk__lsm_file_smallest(f);
        if (!l0 || lsm_ucmp(dk__lsm_file_largest(f), hi) > 0)
            hi = dk__lsm_file_largest(f);
        job->inputs[l0++] = f->number;
    }
    if (l0 < LSM_BUILTIN_L0_TRIGGER)
        return DK_ENOTFOUND;
    job->n_inputs = l0;
    for (size_t i = 0; i < v->n; i++) {
        lsm_file *f = v->files[i];
        if (f->level == 1 && !f->busy && !f->damaged && lsm_ucmp(dk__lsm_file_largest(f), lo) >= 0 &&
            lsm_ucmp(dk__lsm_file_smallest(f), hi) <= 0)
            job->inputs[job->n_inputs++] = f->number;
    }
    job->kind = DK_JOB_MERGE;
    job->output_level = 1;
    job->target_file_size = 0;
    return 0;
}

static int cp_bad_job(lsm_db *db)
{
    db->host->log(db->host, DK_LOG_ERROR, "lsm %s: compaction policy returned an invalid job; ignored",
                  db->dir);
    return DK_ENOTFOUND;
}

/* Ask the policy (or the built-in rule) for a job over v. Holds mu. */
static int cp_pick(lsm_db *db, const lsm_version *v, dk_compaction_job *job)
{
    if (!db->policy_ops)
        return cp_builtin_pick(v, job);
    dk_run *runs = calloc(v->n + 1, sizeof(*runs));
    if (!runs)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        lsm_file *f = v->files[i];
        const lsm_props *p = &f->table->props;
        runs[i] = (dk_run){
            .id = f->number,
            .level = f->level,
            .busy = (uint32_t)(f->busy || f->damaged),
            .size = f->data_size,
            .smallest = dk__lsm_file_smallest(f),
            .largest = dk__lsm_file_largest(f),
            .entries = p->entries,
            .tombstones = p->tombstones,
            .min_write_ms = p->min_write_ms,
            .max_write_ms = p->max_write_ms,
            .max_expiry_ms = p->max_expiry_ms,
        };
    }
    dk_run_view view = {.runs = runs,
                        .count = v->n,
                        .num_levels = LSM_NUM_LEVELS,
                        .now_ms = db->host->now_ms ? db->host->now_ms(db->host) : 0};
    int rc = db->policy_ops->pick(db->policy, &view, job);
    free(runs);
    if (rc)
        return rc;
    /* Never trust a plugin's answer blindly. */
    if ((job->kind != DK_JOB_MERGE && job->kind != DK_JOB_DROP) || job->n_inputs == 0 ||
        job->n_inputs > v->n || job->output_level >= LSM_NUM_LEVELS)
        return cp_bad_job(db);
    for (size_t i = 0; i < job->n_inputs; i++) {
        lsm_file *f = cp_find(v, job->inputs[i]);
        if (!f || f->busy || f->damaged)
            return cp_bad_job(db);
        for (size_t j = 0; j < i; j++)
            if (job->inputs[j] == job->inputs[i])
                return cp_bad_job(db);
    }
    return 0;
}

/* True when a table outside the job may hold a version of ukey older
 * than seq (see the file comment): its key range covers ukey, its bloom
 * filter does not rule ukey out, and it has older sequence numbers. A
 * bloom false positive only keeps a dead record one job longer. */
static int cp_older_exists(lsm_file *const *others, size_t n, dk_slice ukey, uint64_t seq)
{
    for (size_t i = 0; i < n; i++) {
        lsm_file *f = others[i];
        if (f->table->props.min_seq < seq && lsm_ucmp(ukey, dk__lsm_file_smallest(f)) >= 0 &&
            lsm_ucmp(ukey, dk__lsm_file_largest(f)) <= 0 && dk__lsm_table_may_contain(f->table, ukey))
            return 1;
    }
    return 0;
}

typedef struct cp_out {
    lsm_file **files;
    size_t n, cap;
    uint64_t blob; /* the job's finished blob file (0: none) */
} cp_out;

/* A job's garbage collection (file comment). */
typedef struct cp_gc {
    uint64_t *reloc; /* blob files whose references are relocated, sorted */
    size_t nreloc;
    lsm_blob_writer *w;
    lsm_blob_wopts o;
    dk_buf key;
    uint8_t ref[LSM_BLOB_REF_MAX];
} cp_gc;

static int cp_u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cp_gc_due(const cp_gc *g, uint64_t file)
{
    return g->nreloc && bsearch(&file, g->reloc, g->nreloc, sizeof(file), cp_u64cmp) != NULL;
}

/* The blob files whose references a job over v relocates (file comment):
 * of the blob files more than 1/8 garbage (bytes no table of v
 * references), the oldest pct percent (at least one when pct > 0), or
 * every one for a manual compaction. Nothing when out of memory: no
 * relocation this time. */
static void cp_gc_pick(const lsm_version *v, unsigned pct, int manual, cp_gc *g)
{
    lsm_blob_live *live;
    size_t u;
    if ((!pct && !manual) || dk__lsm_version_blob_live(v, &live, &u))
        return;
    uint64_t *nums = u ? malloc(u * sizeof(*nums)) : NULL;
    size_t cand = 0; /* oldest first: numbers ascending */
    for (size_t i = 0; nums && i < u; i++) {
        uint64_t size = atomic_load(&live[i].blob->size), used = live[i].live + LSM_BLOB_HEADER;
        if (size > used && size - used > size / 8)
            nums[cand++] = live[i].number;
    }
    size_t take = manual ? cand : (cand * pct + 99) / 100;
    free(live);
    g->nreloc = take < cand ? take : cand;
    if (g->nreloc)
        g->reloc = nums;
    else
        free(nums);
}

/* Write value to the job's blob file and make *k / *val the output entry
 * naming it (r: the reference's flags and times; its head is taken from
 * value as blob_head says now, whatever the old reference held). */
static int cp_gc_put(lsm_db *db, cp_gc *g, dk_slice *k, dk_slice *val, dk_slice value, lsm_blob_ref *r)
{
    int rc;
    if (!g->w) {
        char path[4096];
        pthread_mutex_lock(&db->mu);
        uint64_t num = db->next_file++;
        pthread_mutex_unlock(&db->mu);
        dk__lsm_file_path(db, path, sizeof(path), num, "blob");
        if ((rc = dk__lsm_blob_writer_open(db->env, path, num, &g->o, &g->w)))
            return rc;
    }
    dk_slice uk = lsm_ikey_user(*k);
    if ((rc = dk__lsm_blob_writer_add(g->w, uk, value, r)))
        return rc;
    dk_buf_reset(&g->key);
    if ((rc = dk_buf_reserve(&g->key, k->len)))
        return rc;
    *k = lsm_ikey_make(g->key.data, uk, lsm_ikey_seq(*k), LSM_TYPE_BLOB);
    dk__lsm_blob_ref_set_head(r, value, db->blob_head);
    *val = (dk_slice){g->ref, dk__lsm_blob_ref_encode(g->ref, r)};
    lsm_blob_stats *st = dk__lsm_blobs_stats(db->blobs);
    atomic_fetch_add(&st->gc_bytes, LSM_BLOB_REC_HDR + uk.len + value.len);
    atomic_fetch_add(&st->gc_records, 1);
    return 0;
}

/* One input entry (*k, *val) on its way to the output: a blob reference
 * record_filter may drop has its value asked about (*dead), one due for
 * relocation (or a large inline value) is moved to the job's blob file.
 * Values that cannot be read stay where they are. */
static int cp_blob_entry(lsm_db *db, cp_gc *g, dk_slice *k, dk_slice *val, int64_t now, int *dead)
{
    int type = lsm_ikey_type(*k);
    dk_slice uk = lsm_ikey_user(*k);
    if (type == LSM_TYPE_VALUE) {
        if (!db->blob_min_size || val->len < db->blob_min_size)
            return 0;
        lsm_blob_ref r;
        dk__lsm_blob_ref_times(db->host, uk, *val, &r);
        return cp_gc_put(db, g, k, val, *val, &r);
    }
    if (type != LSM_TYPE_BLOB)
        return 0;
    lsm_blob_ref r;
    if (dk__lsm_blob_ref_decode(*val, &r))
        return 0; /* copied as it is; its reads report it */
    const dk_host *h = db->host;
    int ask = (r.flags & LSM_BLOB_MORTAL) && h->record_filter && r.expiry_ms <= now;
    int due = cp_gc_due(g, r.file);
    if (!ask && !due)
        return 0;
    lsm_blob_val bv;
    int rc = dk__lsm_blob_fetch(db->blobs, uk, *val, LSM_BLOB_NOCACHE, &bv);
    if (rc == -ENOMEM || rc == DK_ECLOSED)
        return rc;
    if (rc)
        return 0; /* logged with its file and offset */
    if (ask && h->record_filter(h, uk, bv.value, now) == DK_RECORD_DROP)
        *dead = 1;
    else if (due)
        rc = cp_gc_put(db, g, k, val, bv.value, &r);
    dk__lsm_blob_val_free(db->blobs, &bv);
    return rc;
}

static int cp_finish_output(lsm_db *db, lsm_table_builder *tb, uint64_t number, uint32_t level, cp_out *out)
{
    uint64_t size;
    int rc = dk__lsm_tb_finish(tb, NULL, &size);
    if (rc)
        return rc;
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        lsm_file **f = realloc(out->files, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        out->files = f;
        out->cap = cap;
    }
    rc = dk__lsm_file_open(&db->fenv, number, level, size, &out->files[out->n]);
    if (!rc)
        out->n++;
    return rc;
}

/* Merge the job's inputs (files in[]) into new tables at its level. */
static int cp_merge(lsm_db *db, const lsm_version *v, const dk_compaction_job *job, int manual, lsm_file **in,
                    cp_out *out)
{
    lsm_iter **kids = malloc(job->n_inputs * sizeof(*kids));
    lsm_file **others = malloc((v->n + 1) * sizeof(*others));
    if (!kids || !others) {
        free(kids);
        free(others);
        return -ENOMEM;
    }
    size_t nothers = 0;
    for (size_t i = 0; i < v->n; i++) {
        int is_in = 0;
        for (size_t j = 0; j < job->n_inputs; j++)
            is_in |= v->files[i] == in[j];
        if (!is_in)
            others[nothers++] = v->files[i];
    }
    size_t nk = 0;
    int rc = 0;
    for (size_t i = 0; i < job->n_inputs && !rc; i++) {
        if (!(kids[nk] = dk__lsm_table_iter_compact(in[i]->table)))
            rc = -ENOMEM;
        else
            nk++;
        atomic_fetch_add(&db->st_compact_read, in[i]->size);
    }
    lsm_iter *m = rc ? NULL : dk__lsm_merge_iter(kids, nk);
    if (!m) {
        if (!rc) {
            rc = -ENOMEM;
        } else {
            for (size_t i = 0; i < nk; i++)
                kids[i]->ops->destroy(kids[i]);
            free(kids);
        }
        free(others);
        return rc;
    }
    uint64_t target = job->target_file_size ? job->target_file_size : LSM_DEFAULT_TARGET_FILE;
    lsm_compact_pace pace;
    dk__lsm_compact_pace_init(&pace, db);
    lsm_tb_opts o = {.bits_per_key = db->bits_per_key,
                     .codec = db->codec,
                     .host = db->host,
                     .on_write = dk__lsm_compact_pace_write,
                     .on_sync = dk__lsm_compact_pace_sync,
                     .arg = &pace,
                     .writeback_bytes = db->writeback_bytes};
    lsm_table_builder *tb = NULL;
    uint64_t tb_number = 0;
    dk_buf last = DK_BUF_INIT;
    int have_last = 0;
    int64_t now = db->host->now_ms ? db->host->now_ms(db->host) : 0;
    const dk_host *h = db->host;
    cp_gc gc = {.o = {.writeback_bytes = db->writeback_bytes,
                      .direct = db->blob_direct,
                      .on_write = dk__lsm_compact_pace_write,
                      .on_sync = dk__lsm_compact_pace_sync,
                      .arg = &pace},
                .key = DK_BUF_INIT};
    cp_gc_pick(v, db->blob_gc_cutoff, manual, &gc);
    gc.reloc = dk__lsm_gc_with_forced(v, db->blob_gc_cutoff, LSM_GC_SMALL(db), in, job->n_inputs, gc.reloc,
                                      &gc.nreloc);
    for (m->ops->first(m); !rc && m->ops->valid(m); m->ops->next(m)) {
        dk_slice k = m->ops->key(m), uk = lsm_ikey_user(k), val = m->ops->value(m);
        if (have_last && lsm_ucmp(uk, dk_buf_slice(&last)) == 0) {
            atomic_fetch_add(&db->st_records_dropped, 1);
            continue;
        }
        dk_buf_reset(&last);
        if ((rc = dk_buf_append(&last, uk.ptr, uk.len)))
            break;
        uk = dk_buf_slice(&last);
        have_last = 1;
        int type = lsm_ikey_type(k), dead = type == LSM_TYPE_DELETE;
        if (!dead && type == LSM_TYPE_VALUE && h->record_filter &&
            h->record_filter(h, uk, val, now) == DK_RECORD_DROP)
            dead = 1;
        if (!dead && (rc = cp_blob_entry(db, &gc, &k, &val, now, &dead)))
            break;
        if (dead && !cp_older_exists(others, nothers, uk, lsm_ikey_seq(k))) {
            atomic_fetch_add(&db->st_records_dropped, 1);
            continue;
        }
        if (atomic_load(&db->closing)) {
            rc = DK_ECLOSED;
            break;
        }
        if (tb && dk__lsm_tb_data_size(tb) >= target) {
            rc = cp_finish_output(db, tb, tb_number, job->output_level, out);
            tb = NULL;
            if (rc)
                break;
        }
        if (!tb) {
            char path[4096];
            pthread_mutex_lock(&db->mu);
            tb_number = db->next_file++;
            pthread_mutex_unlock(&db->mu);
            dk__lsm_file_path(db, path, sizeof(path), tb_number, "sst");
            if ((rc = dk__lsm_tb_open(db->env, path, &o, &tb)))
                break;
        }
        rc = dk__lsm_tb_add(tb, k, val);
    }
    if (!rc)
        rc = m->ops->status(m);
    if (rc == DK_ECORRUPT || rc == -EIO) {
        /* A damaged block (logged with its file and offset where it was
         * read): the job fails and rewrites nothing, and the damaged
         * table is never picked again (file comment). */
        for (size_t i = 0; i < nk; i++) {
            int krc = kids[i]->ops->status(kids[i]);
            if (krc != DK_ECORRUPT && krc != -EIO)
                continue;
            pthread_mutex_lock(&db->mu);
            in[i]->damaged = 1;
            pthread_mutex_unlock(&db->mu);
            db->host->log(
                db->host, DK_LOG_ERROR,
                "lsm %s: table %06llu has a damaged block; compaction leaves it as it is from now on "
                "(its readable keys stay served; the damaged ones read as absent until written again)",
                db->dir, (unsigned long long)in[i]->number);
            if (db->host->metric_add)
                db->host->metric_add(db->host, "lsm_tables_damaged_total", 1);
            int mrc = dk__lsm_file_mark_damaged(in[i]);
            if (mrc)
                db->host->log(db->host, DK_LOG_WARN,
                              "lsm %s: cannot persist the damage mark of table %06llu (%s): "
                              "a restart will try its compaction once more",
                              db->dir, (unsigned long long)in[i]->number, db->host->strerror(db->host, mrc));
        }
    }
    /* The job's blob file is complete before its last table opens. */
    if (gc.w) {
        char path[4096];
        uint64_t bnum = dk__lsm_blob_writer_number(gc.w), bsize = 0;
        int bdirect = dk__lsm_blob_writer_direct(gc.w);
        dk__lsm_file_path(db, path, sizeof(path), bnum, "blob");
        if (!rc)
            rc = dk__lsm_blob_writer_finish(gc.w, &bsize);
        else
            dk__lsm_blob_writer_abandon(gc.w);
        if (!rc) {
            dk__lsm_blobs_note_size(db->blobs, bnum, bsize);
            atomic_fetch_add(&dk__lsm_blobs_stats(db->blobs)->direct_files, (uint64_t)bdirect);
            out->blob = bnum; /* cp_execute deletes it if the job fails now */
        } else                /* tables opened already hold it open; they are deleted too */
            db->env->ops->unlink(db->env, path);
    }
    dk_buf_free(&gc.key);
    free(gc.reloc);
    if (tb) {
        if (!rc)
            rc = cp_finish_output(db, tb, tb_number, job->output_level, out);
        else
            dk__lsm_tb_abandon(tb);
        if (rc) {
            char path[4096];
            dk__lsm_file_path(db, path, sizeof(path), tb_number, "sst");
            db->env->ops->unlink(db->env, path);
        }
    }
    m->ops->destroy(m);
    dk_buf_free(&last);
    free(others);
    return rc;
}

/* True when the job can be a move (file comment): one input at a level
 * >= 1, a deeper output level, and no other table of v at the levels in
 * (input level, output level] overlapping it. */
static int cp_is_move(const lsm_version *v, const dk_compaction_job *job, lsm_file *const *in)
{
    if (job->kind != DK_JOB_MERGE || job->n_inputs != 1 || in[0]->level == 0 ||
        job->output_level <= in[0]->level)
        return 0;
    const lsm_file *f = in[0];
    for (size_t i = 0; i < v->n; i++) {
        const lsm_file *o = v->files[i];
        if (o != f && o->level > f->level && o->level <= job->output_level &&
            lsm_ucmp(dk__lsm_file_largest(o), dk__lsm_file_smallest(f)) >= 0 &&
            lsm_ucmp(dk__lsm_file_smallest(o), dk__lsm_file_largest(f)) <= 0)
            return 0;
    }
    return 1;
}

/* The job failed after its blob file was finished: delete it, at once
 * when no output table holds it open, else with their last reference. */
static void cp_drop_blob(lsm_db *db, const cp_out *out)
{
    for (size_t i = 0; i < out->n; i++)
        for (size_t j = 0; j < out->files[i]->nblobs; j++)
            if (out->files[i]->blobs[j]->number == out->blob) {
                atomic_store(&out->files[i]->blobs[j]->obsolete, 1);
                return;
            }
    char path[4096];
    dk__lsm_file_path(db, path, sizeof(path), out->blob, "blob");
    db->env->ops->unlink(db->env, path);
}

/* Run one job over a pinned version v; inputs are marked busy; manual:
 * compact_range's job. */
static int cp_execute(lsm_db *db, lsm_version *v, const dk_compaction_job *job, int manual)
{
    lsm_file **in = malloc(job->n_inputs * sizeof(*in));
    if (!in)
        return -ENOMEM;
    for (size_t i = 0; i < job->n_inputs; i++)
        in[i] = cp_find(v, job->inputs[i]);
    cp_out out = {0};
    int move =
        cp_is_move(v, job, in) && !dk__lsm_gc_holds_forced(v, db->blob_gc_cutoff, LSM_GC_SMALL(db), in[0]);
    if (move) {
        /* A second file object for the same table at the output level;
         * version.c's retire leaves a re-added number alone. */
        lsm_file *f = NULL;
        int rc = dk__lsm_file_open(&db->fenv, in[0]->number, job->output_level, in[0]->size, &f);
        if (!rc && !(out.files = malloc(sizeof(*out.files)))) {
            dk__lsm_file_unref(f); /* not obsolete: closes the handle only */
            rc = -ENOMEM;
        }
        if (rc) {
            free(in);
            return rc;
        }
        out.files[0] = f;
        out.n = out.cap = 1;
    }
    int rc = job->kind == DK_JOB_MERGE && !move ? cp_merge(db, v, job, manual, in, &out) : 0;
    lsm_edit e;
    dk__lsm_edit_init(&e);
    for (size_t i = 0; !rc && i < job->n_inputs; i++)
        rc = dk__lsm_edit_del(&e, in[i]->number);
    for (size_t i = 0; !rc && i < out.n; i++)
        rc = dk__lsm_edit_add(&e, out.files[i]->level, out.files[i]->number, out.files[i]->size);
    if (!rc) {
        pthread_mutex_lock(&db->edit_mu);
        rc = dk__lsm_install(db, &e, out.files);
        pthread_mutex_unlock(&db->edit_mu);
    }
    if (!rc) {
        atomic_fetch_add(&db->st_compactions, 1);
        if (move)
            atomic_fetch_add(&db->st_moves, 1);
        if (job->kind == DK_JOB_DROP)
            atomic_fetch_add(&db->st_files_dropped, job->n_inputs);
    }
    if (rc && out.blob)
        cp_drop_blob(db, &out);
    for (size_t i = 0; i < out.n; i++) {
        if (rc && !move) /* a moved table is still the input's file */
            atomic_store(&out.files[i]->obsolete, 1);
        dk__lsm_file_unref(out.files[i]);
    }
    free(out.files);
    dk__lsm_edit_free(&e);
    free(in);
    return rc;
}

/* Pick (the policy's job, compact_range's, or a forced blob GC rewrite:
 * mode) and run it. DK_ENOTFOUND when idle. */
static int cp_run_one(lsm_db *db, int mode, dk_slice start, dk_slice end)
{
    pthread_mutex_lock(&db->mu);
    lsm_version *v = db->cur;
    dk__lsm_version_ref(v);
    dk_compaction_job job = {0};
    job.inputs = malloc((v->n + 1) * sizeof(*job.inputs));
    int rc = job.inputs ? 0 : -ENOMEM;
    if (!rc && mode == CP_MANUAL) {
        job.kind = DK_JOB_MERGE;
        job.output_level = 1;
        for (size_t i = 0; i < v->n; i++) {
            lsm_file *f = v->files[i];
            if (f->busy || f->damaged || (end.len && lsm_ucmp(dk__lsm_file_smallest(f), end) >= 0) ||
                (start.len && lsm_ucmp(dk__lsm_file_largest(f), start) < 0))
                continue;
            job.inputs[job.n_inputs++] = f->number;
            if (f->level > job.output_level)
                job.output_level = f->level;
        }
        rc = job.n_inputs ? 0 : DK_ENOTFOUND;
    } else if (!rc && mode == CP_FORCE) {
        rc = dk__lsm_gc_force_pick(v, db->blob_gc_cutoff, LSM_GC_SMALL(db), &job);
    } else if (!rc) {
        rc = cp_pick(db, v, &job);
    }
    if (!rc)
        for (size_t i = 0; i < job.n_inputs; i++)
            cp_find(v, job.inputs[i])->busy = 1;
    pthread_mutex_unlock(&db->mu);
    if (!rc) {
        dk__lsm_trace("compact_start kind=%d inputs=%zu level=%d", (int)job.kind, job.n_inputs,
                      job.output_level);
        rc = cp_execute(db, v, &job, mode == CP_MANUAL);
        dk__lsm_trace("compact_end rc=%d", rc);
        pthread_mutex_lock(&db->mu);
        for (size_t i = 0; i < job.n_inputs; i++)
            cp_find(v, job.inputs[i])->busy = 0;
        pthread_mutex_unlock(&db->mu);
        if (rc && rc != DK_ECLOSED)
            db->host->log(db->host, DK_LOG_ERROR, "lsm %s: compaction failed: %s", db->dir,
                          db->host->strerror(db->host, rc));
    }
    free(job.inputs);
    dk__lsm_version_unref(v);
    return rc;
}

void *dk__lsm_compact_thread(void *arg)
{
    lsm_db *db = arg;
    pthread_setname_np(pthread_self(), "lsm-compact");
    dk__lsm_thread_nice(db, db->compaction_nice, "compaction");
    pthread_mutex_lock(&db->mu);
    for (;;) {
        while (!db->closing && (!db->compact_pending || db->bg_error))
            pthread_cond_wait(&db->bg_cv, &db->mu);
        if (db->closing)
            break;
        db->compact_pending = 0;
        db->compacting = 1;
        pthread_mutex_unlock(&db->mu);
        pthread_mutex_lock(&db->compact_mu);
        /* Run jobs until the policy has none; a failing job, closing, or
         * LSM_JOBS_PER_ROUND jobs end the round (the next flush starts
         * another), so a policy that keeps answering cannot spin us. */
        int rc = 0, jobs = 0, forced = 0;
        dk_slice none = {NULL, 0};
        while (rc == 0 && jobs++ < LSM_JOBS_PER_ROUND && !atomic_load(&db->closing)) {
            rc = cp_run_one(db, CP_POLICY, none, none);
            if (rc == DK_ENOTFOUND && forced++ < LSM_GC_FORCED_PER_ROUND)
                rc = cp_run_one(db, CP_FORCE, none, none);
        }
        pthread_mutex_unlock(&db->compact_mu);
        pthread_mutex_lock(&db->mu);
        db->compacting = 0;
        pthread_cond_broadcast(&db->done_cv);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

int dk__lsm_compact_range(lsm_db *db, dk_slice start, dk_slice end)
{
    pthread_mutex_lock(&db->compact_mu);
    int rc = cp_run_one(db, CP_MANUAL, start, end);
    /* The references the merge dropped show only now as garbage in the
     * blob files (the inputs still named them): when a blob file is
     * mostly garbage, a second pass, over references only, relocates
     * what is left in it. */
    if (rc == 0) {
        pthread_mutex_lock(&db->mu);
        lsm_version *v = db->cur;
        dk__lsm_version_ref(v);
        pthread_mutex_unlock(&db->mu);
        cp_gc g = {0};
        cp_gc_pick(v, 0, 1, &g);
        dk__lsm_version_unref(v);
        free(g.reloc);
        if (g.nreloc)
            rc = cp_run_one(db, CP_MANUAL, start, end);
    }
    pthread_mutex_unlock(&db->compact_mu);
    return rc == DK_ENOTFOUND ? 0 : rc;
}
