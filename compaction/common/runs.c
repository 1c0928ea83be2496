/*
 * runs.c - helpers shared by the compaction policies; see runs.h for
 * each function's contract.
 *
 * Everything here is pure arithmetic over the engine's view: no state, no
 * I/O, scratch memory from malloc freed before returning. The expiry rule
 * is a fixed point over candidate runs (O(candidates x runs) per round);
 * candidates are the runs already fully expired, which stay few because
 * each drop removes them, so the simple loop was preferred over an
 * interval index.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"

int dk__runs_key_cmp(dk_slice a, dk_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

int dk__runs_overlap(const dk_run *r, dk_slice lo, dk_slice hi)
{
    return dk__runs_key_cmp(r->smallest, hi) <= 0 && dk__runs_key_cmp(lo, r->largest) <= 0;
}

int dk__runs_tier_conf(const dk_host *h, const dk__tier_opts *o, dk__tier_conf *out)
{
    if (o->max_threshold < o->min_threshold) {
        h->conf_error(h, "max_threshold", "expected at least min_threshold (%lld)",
                      (long long)o->min_threshold);
        return DK_ECONFIG;
    }
    out->min_threshold = (uint32_t)o->min_threshold;
    out->max_threshold = (uint32_t)o->max_threshold;
    out->low = 0.5;
    out->high = 1.5;
    return 0;
}

static int runs_slice_ok(dk_slice s)
{
    return s.len == 0 || s.ptr != NULL;
}

int dk__runs_view_check(const dk_host *h, const char *policy, const dk_run_view *v)
{
    if (v->count && !v->runs) {
        h->log(h, DK_LOG_ERROR, "%s: view has %zu runs and no array", policy, v->count);
        return -EINVAL;
    }
    if (v->num_levels < 1) {
        h->log(h, DK_LOG_ERROR, "%s: view has num_levels = 0", policy);
        return -EINVAL;
    }
    for (size_t i = 0; i < v->count; i++) {
        const dk_run *r = &v->runs[i];
        if (r->level >= v->num_levels) {
            h->log(h, DK_LOG_ERROR, "%s: run %llu is at level %u of %u", policy, (unsigned long long)r->id,
                   r->level, v->num_levels);
            return -EINVAL;
        }
        if (i && r->level < v->runs[i - 1].level) {
            h->log(h, DK_LOG_ERROR, "%s: runs not sorted by level at run %llu", policy,
                   (unsigned long long)r->id);
            return -EINVAL;
        }
        if (!runs_slice_ok(r->smallest) || !runs_slice_ok(r->largest) ||
            dk__runs_key_cmp(r->smallest, r->largest) > 0) {
            h->log(h, DK_LOG_ERROR, "%s: run %llu has an invalid key range", policy,
                   (unsigned long long)r->id);
            return -EINVAL;
        }
    }
    return 0;
}

static int runs_expired(const dk_run *r, int64_t now_ms)
{
    return !r->busy && r->max_expiry_ms != 0 && r->max_expiry_ms < now_ms;
}

int dk__runs_pick_expired(const dk_run_view *v, dk_compaction_job *job)
{
    size_t n = v->count, cand = 0;
    for (size_t i = 0; i < n; i++)
        cand += runs_expired(&v->runs[i], v->now_ms);
    if (!cand)
        return DK_ENOTFOUND;
    unsigned char *in = calloc(n, 1);
    if (!in)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        in[i] = (unsigned char)runs_expired(&v->runs[i], v->now_ms);

    /* Remove candidates that would uncover older data until none does. */
    int changed = 1;
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (!in[i])
                continue;
            const dk_run *r = &v->runs[i];
            for (size_t j = 0; j < n; j++) {
                const dk_run *o = &v->runs[j];
                if (in[j] || !dk__runs_overlap(o, r->smallest, r->largest))
                    continue;
                if (o->min_write_ms <= r->max_write_ms) {
                    in[i] = 0;
                    cand--;
                    changed = 1;
                    break;
                }
            }
        }
    }
    if (cand) {
        job->kind = DK_JOB_DROP;
        job->output_level = 0;
        job->target_file_size = 0;
        job->n_inputs = 0;
        for (size_t i = 0; i < n; i++)
            if (in[i])
                job->inputs[job->n_inputs++] = v->runs[i].id;
    }
    free(in);
    return cand ? 0 : DK_ENOTFOUND;
}

int dk__runs_units(const dk_run_view *v, dk__unit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v->count)
        return 0;
    dk__unit *u = malloc(v->count * sizeof(*u));
    if (!u)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < v->count;) {
        const dk_run *r = &v->runs[i];
        size_t j = i + 1;
        if (r->level > 0)
            while (j < v->count && v->runs[j].level == r->level)
                j++;
        dk__unit *x = &u[k++];
        x->level = r->level;
        x->first = i;
        x->n = j - i;
        x->size = 0;
        x->max_write_ms = INT64_MIN;
        x->busy = 0;
        for (size_t m = i; m < j; m++) {
            x->size += v->runs[m].size;
            if (v->runs[m].max_write_ms > x->max_write_ms)
                x->max_write_ms = v->runs[m].max_write_ms;
            x->busy |= v->runs[m].busy != 0;
        }
        i = j;
    }
    *out = u;
    *n = k;
    return 0;
}

static int runs_similar(uint64_t size, double avg, const dk__tier_conf *c)
{
    if ((double)size < (double)DK_RUNS_TIER_SMALL && avg < (double)DK_RUNS_TIER_SMALL)
        return 1;
    return (double)size >= c->low * avg && (double)size <= c->high * avg;
}

int dk__runs_tier_pick(const dk__unit *u, size_t *idx, size_t n, const dk__tier_conf *c, size_t *count)
{
    /* Insertion sort by size: stable, and a policy sees tens of units. */
    for (size_t i = 1; i < n; i++) {
        size_t x = idx[i], j = i;
        for (; j > 0 && u[idx[j - 1]].size > u[x].size; j--)
            idx[j] = idx[j - 1];
        idx[j] = x;
    }
    int found = 0;
    double best_avg = INFINITY;
    size_t best_first = 0;
    for (size_t i = 0; i < n;) {
        double sum = (double)u[idx[i]].size;
        size_t j = i + 1;
        while (j < n && runs_similar(u[idx[j]].size, sum / (double)(j - i), c)) {
            sum += (double)u[idx[j]].size;
            j++;
        }
        size_t len = j - i;
        double avg = sum / (double)len;
        if (len >= c->min_threshold && avg < best_avg) {
            best_avg = avg;
            best_first = i;
            *count = len < c->max_threshold ? len : c->max_threshold;
            found = 1;
        }
        i = j;
    }
    if (found)
        memmove(idx, idx + best_first, *count * sizeof(*idx));
    return found;
}

void dk__runs_job_from_units(const dk_run_view *v, const dk__unit *u, const size_t *idx, size_t count,
                             dk_compaction_job *job)
{
    job->kind = DK_JOB_MERGE;
    job->output_level = 0;
    job->target_file_size = UINT64_MAX;
    job->n_inputs = 0;
    for (size_t k = 0; k < count; k++) {
        const dk__unit *x = &u[idx[k]];
        if (x->level > job->output_level)
            job->output_level = x->level;
        for (size_t m = x->first; m < x->first + x->n; m++)
            job->inputs[job->n_inputs++] = v->runs[m].id;
    }
}

int dk__runs_pick_drop(const dk_host *h, const char *policy, const dk_run_view *v, dk_compaction_job *job)
{
    int rc = dk__runs_view_check(h, policy, v);
    return rc ? rc : dk__runs_pick_expired(v, job);
}

int dk__runs_tier_job(const dk_run_view *v, const dk__unit *u, size_t *idx, size_t n, const dk__tier_conf *c,
                      dk_compaction_job *job)
{
    size_t count;
    if (!dk__runs_tier_pick(u, idx, n, c, &count))
        return DK_ENOTFOUND;
    dk__runs_job_from_units(v, u, idx, count, job);
    return 0;
}
