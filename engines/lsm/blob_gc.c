/*
 * blob_gc.c - forced garbage collection of blob files (RocksDB BlobDB's
 * blob_garbage_collection_force_threshold).
 *
 * Compaction relocates the references it merges into one of the oldest
 * blob_gc_age_cutoff percent of the blob files (compact.c), but a table
 * that is no longer merged (the leveled policy moves tables into empty
 * key ranges of the next level, and appended keys fill only those) keeps
 * naming the blob files it was flushed with. Each of those holds the
 * values of overwritten keys too, so it stays on disk, mostly garbage,
 * for as long as the table lives: measured with 20 appended and 200
 * overwritten values per flush, 362 blob files at 2.4 times the live
 * bytes after 600 flushes, 2151 files at 3.2 times after 2400, each an
 * open descriptor.
 *
 * So a blob file among the oldest blob_gc_age_cutoff percent whose bytes
 * are more than half garbage (its size against the value bytes the
 * version's tables reference in it) is forced: when the policy has no
 * job, the executor rewrites one table of a level >= 1 naming it into the
 * same level (its due references relocated, compact.c), and a move of a
 * table naming one becomes a merge. Level-0 tables are left to the
 * policy, which merges them anyway (a rewritten level-0 table would sort
 * as newer than the tables flushed after it). Tables marked damaged are
 * never picked: their compaction fails.
 */
#include "blob_gc.h"

#include <errno.h>
#include <stdlib.h>

static int bg_u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t *dk__lsm_gc_forced(const lsm_version *v, unsigned pct, size_t *count)
{
    *count = 0;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < v->n; i++)
        cap += v->files[i]->nblobs;
    if (!cap || !pct)
        return NULL;
    uint64_t *nums = malloc(cap * sizeof(*nums)), *live = calloc(cap, sizeof(*live));
    lsm_blob **obj = calloc(cap, sizeof(*obj));
    if (!nums || !live || !obj)
        goto out;
    for (size_t i = 0; i < v->n; i++)
        for (size_t j = 0; j < v->files[i]->nblobs; j++)
            nums[n++] = v->files[i]->blobs[j]->number;
    qsort(nums, n, sizeof(*nums), bg_u64cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || nums[u - 1] != nums[i])
            nums[u++] = nums[i];
    size_t oldest = u * pct / 100; /* the oldest: the lowest numbers */
    for (size_t i = 0; i < v->n; i++) {
        const lsm_file *f = v->files[i];
        for (size_t j = 0; j < f->nblobs; j++) {
            uint64_t *k = bsearch(&f->blobs[j]->number, nums, oldest, sizeof(*nums), bg_u64cmp);
            uint64_t bytes = 0;
            if (!k)
                continue;
            lsm_props_blob(&f->table->props, j, &bytes);
            live[k - nums] += bytes;
            obj[k - nums] = f->blobs[j];
        }
    }
    for (size_t i = 0; i < oldest; i++) {
        uint64_t size = atomic_load(&obj[i]->size);
        if (size > live[i] && size - live[i] > size / 2)
            nums[(*count)++] = nums[i];
    }
out:
    free(live);
    free(obj);
    if (!*count) {
        free(nums);
        return NULL;
    }
    return nums;
}

int dk__lsm_gc_names(const lsm_file *f, const uint64_t *forced, size_t n)
{
    for (size_t j = 0; n && j < f->nblobs; j++)
        if (bsearch(&f->blobs[j]->number, forced, n, sizeof(*forced), bg_u64cmp))
            return 1;
    return 0;
}

int dk__lsm_gc_force_pick(const lsm_version *v, unsigned pct, dk_compaction_job *job)
{
    size_t n;
    uint64_t *forced = dk__lsm_gc_forced(v, pct, &n);
    if (!forced)
        return DK_ENOTFOUND;
    /* The table naming the oldest forced file: the one the most garbage
     * waits on the longest. */
    const lsm_file *best = NULL;
    uint64_t best_num = UINT64_MAX;
    for (size_t i = 0; i < v->n; i++) {
        const lsm_file *f = v->files[i];
        if (f->level == 0 || f->busy || f->damaged)
            continue;
        for (size_t j = 0; j < f->nblobs; j++) {
            uint64_t num = f->blobs[j]->number;
            if (num < best_num && bsearch(&num, forced, n, sizeof(*forced), bg_u64cmp)) {
                best = f;
                best_num = num;
            }
        }
    }
    free(forced);
    if (!best)
        return DK_ENOTFOUND;
    job->kind = DK_JOB_MERGE;
    job->inputs[0] = best->number;
    job->n_inputs = 1;
    job->output_level = best->level;
    job->target_file_size = 0;
    return 0;
}
