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
 * So a blob file is forced when it is more than half garbage (its size
 * against the record bytes the version's tables reference in it) and
 * among the files compaction would collect (of those more than 1/8
 * garbage, the oldest blob_gc_age_cutoff percent: compact.c's rule), or
 * when it is small (under 1/8 of memtable_size) and among the oldest
 * blob_gc_age_cutoff percent of all blob files. Small ones are what
 * collection leaves: each merge relocates its few values into a file of
 * its own, fully live, and the tables naming those are moved down, not
 * merged again (measured: 418 files of mostly 6.5 KiB after 600 flushes
 * of the load above). Every merge relocates the references into forced
 * files (they join compact.c's due ones); when the policy has no job the
 * executor rewrites into its own level one table of a level >= 1 that
 * names a forced file more than half garbage, or two small ones (one
 * small file would only be copied into another), and a move of such a
 * table becomes a merge. Level-0 tables are left to the
 * policy, which merges them anyway (a rewritten level-0 table would sort
 * as newer than the tables flushed after it). Tables marked damaged are
 * never picked: their compaction fails.
 */
#include "blob_gc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BG_SMALL_PER_TABLE 8 /* small blob files a table names before its rewrite */

/* The forced blob files of a version, each set sorted. */
typedef struct bg_sets {
    uint64_t *garbage, *small;
    size_t ng, ns;
} bg_sets;

static int bg_u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int bg_in(const uint64_t *set, size_t n, uint64_t num)
{
    return n && bsearch(&num, set, n, sizeof(*set), bg_u64cmp) != NULL;
}

static void bg_sets_free(bg_sets *s)
{
    free(s->garbage);
    free(s->small);
}

/* Fill s for v (file comment); 0, or -ENOMEM with s empty. */
static int bg_sets_compute(const lsm_version *v, unsigned pct, uint64_t small, bg_sets *s)
{
    memset(s, 0, sizeof(*s));
    lsm_blob_live *live;
    size_t u;
    if (!pct)
        return 0;
    int rc = dk__lsm_version_blob_live(v, &live, &u);
    if (rc || !u) {
        free(live);
        return rc;
    }
    s->garbage = malloc(u * sizeof(*s->garbage));
    s->small = malloc(u * sizeof(*s->small));
    if (!s->garbage || !s->small) {
        free(live);
        bg_sets_free(s);
        memset(s, 0, sizeof(*s));
        return -ENOMEM;
    }
    size_t cand = 0, ncand = 0;
    for (size_t i = 0; i < u; i++) {
        uint64_t size = atomic_load(&live[i].blob->size), used = live[i].live + LSM_BLOB_HEADER;
        ncand += size > used && size - used > size / 8;
    }
    size_t take = (ncand * pct + 99) / 100; /* compact.c's due files */
    for (size_t i = 0; i < u; i++) {
        uint64_t size = atomic_load(&live[i].blob->size), used = live[i].live + LSM_BLOB_HEADER;
        if (size > used && size - used > size / 8 && cand++ < take && size - used > size / 2)
            s->garbage[s->ng++] = live[i].number;
        else if (!live[i].blob->lost && size < small)
            s->small[s->ns++] = live[i].number;
    }
    free(live);
    return 0;
}

/* Worth rewriting: 2 when f names BG_SMALL_PER_TABLE small files, else 1
 * when it names a forced file more than half garbage, else 0; *first: the
 * lowest forced number it names. */
static int bg_table_due(const lsm_file *f, const bg_sets *s, uint64_t *first)
{
    int garbage = 0, small = 0;
    *first = UINT64_MAX;
    for (size_t j = 0; j < f->nblobs; j++) {
        uint64_t num = f->blobs[j]->number;
        int g = bg_in(s->garbage, s->ng, num), sm = !g && bg_in(s->small, s->ns, num);
        garbage += g;
        small += sm;
        if ((g || sm) && num < *first)
            *first = num;
    }
    return small >= BG_SMALL_PER_TABLE ? 2 : garbage > 0;
}

uint64_t *dk__lsm_gc_with_forced(const lsm_version *v, unsigned pct, uint64_t small, lsm_file *const *in,
                                 size_t nin, uint64_t *due, size_t *n)
{
    bg_sets s;
    if (bg_sets_compute(v, pct, small, &s) || s.ng + s.ns == 0) {
        bg_sets_free(&s);
        return due;
    }
    size_t cap = *n + s.ng, m = *n;
    for (size_t i = 0; i < nin; i++)
        cap += in[i]->nblobs;
    uint64_t *all = realloc(due, cap * sizeof(*all));
    if (!all) {
        bg_sets_free(&s);
        return due;
    }
    if (s.ng)
        memcpy(all + m, s.garbage, s.ng * sizeof(*all));
    m += s.ng;
    /* The small files of the inputs worth a rewrite for them. */
    for (size_t i = 0; i < nin; i++) {
        uint64_t lo;
        if (bg_table_due(in[i], &s, &lo) != 2)
            continue;
        for (size_t j = 0; j < in[i]->nblobs; j++)
            if (bg_in(s.small, s.ns, in[i]->blobs[j]->number))
                all[m++] = in[i]->blobs[j]->number;
    }
    size_t u = 0;
    bg_sets_free(&s);
    qsort(all, m, sizeof(*all), bg_u64cmp);
    for (size_t i = 0; i < m; i++)
        if (!u || all[u - 1] != all[i])
            all[u++] = all[i];
    *n = u;
    return all;
}

int dk__lsm_gc_holds_forced(const lsm_version *v, unsigned pct, uint64_t small, const lsm_file *f)
{
    if (!f->nblobs)
        return 0;
    bg_sets s;
    uint64_t first;
    int r = !bg_sets_compute(v, pct, small, &s) && bg_table_due(f, &s, &first);
    bg_sets_free(&s);
    return r;
}

int dk__lsm_gc_force_pick(const lsm_version *v, unsigned pct, uint64_t small, dk_compaction_job *job)
{
    bg_sets s;
    if (bg_sets_compute(v, pct, small, &s) || s.ng + s.ns == 0) {
        bg_sets_free(&s);
        return DK_ENOTFOUND;
    }
    /* The table naming the oldest forced file: the one whose garbage (or
     * small files) waits the longest. */
    const lsm_file *best = NULL;
    uint64_t best_num = UINT64_MAX, first;
    for (size_t i = 0; i < v->n; i++) {
        const lsm_file *f = v->files[i];
        if (f->level == 0 || f->busy || f->damaged || !f->nblobs)
            continue;
        if (bg_table_due(f, &s, &first) && first < best_num) {
            best = f;
            best_num = first;
        }
    }
    bg_sets_free(&s);
    if (!best)
        return DK_ENOTFOUND;
    job->kind = DK_JOB_MERGE;
    job->inputs[0] = best->number;
    job->n_inputs = 1;
    job->output_level = best->level;
    job->target_file_size = 0;
    return 0;
}
