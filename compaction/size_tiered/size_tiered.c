/*
 * size_tiered.c - the size-tiered compaction policy ("size_tiered"),
 * Cassandra's STCS: runs of similar size are merged together once there
 * are min_threshold of them, so each byte is rewritten about once per tier
 * (log_min_threshold of the data size) at the price of more runs to read
 * and up to ~2x space while a big merge runs.
 *
 * Levels. Every run this policy produces stays in level 0 (overlapping
 * runs); the job's output level is 0. Levels >= 1 only
 * exist in a data directory written under the leveled policy; each such
 * level counts as ONE sorted run of its total size (its files are
 * disjoint), and a merge that takes it writes its output into the deepest
 * level it took, so switching policies across a restart needs no
 * migration step.
 *
 * pick():
 *  1. a DROP job for runs whose every record has expired (runs.h rule);
 *  2. Cassandra's bucketing (runs.h: dk__runs_tier_pick) over the
 *     non-busy units: sorted by size, similar sizes (within bucket_low ..
 *     bucket_high of the bucket's average, or all under 50 MiB) form a
 *     bucket;
 *  3. the bucket with >= min_threshold runs and the smallest average size
 *     is merged, at most its max_threshold smallest runs, into one output
 *     run (target_file_size = UINT64_MAX: never split). Small runs first
 *     keeps the run count down cheaply, as STCS does.
 *
 * Buckets ignore where runs sit in the view: the engine resolves a key by
 * sequence numbers across every table that may hold it (runs.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"
#include "../common/runs.h"

#define ST_NAME "size_tiered"

typedef struct st_policy {
    dk_compaction_policy base; /* first: the host sees a dk_compaction_policy */
    dk__tier_conf tier;
} st_policy;

/* [compaction.size_tiered]: the keys this policy takes (dk_option). */
typedef struct st_opts {
    dk__tier_opts tier;
} st_opts;

static const dk_option st_options[] = {
    DK__TIER_OPTIONS(st_opts, tier),
};

static int st_open(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out)
{
    *out = NULL;
    st_opts o;
    dk__tier_conf t;
    int rc = host->options(host, st_options, sizeof st_options / sizeof st_options[0], &o);
    if (rc || (rc = dk__runs_tier_conf(host, &o.tier, &t)))
        return rc;
    st_policy *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.host = host;
    p->tier = t;
    *out = &p->base;
    return 0;
}

static void st_close(dk_compaction_policy *base)
{
    free(base);
}

static int st_pick(dk_compaction_policy *base, const dk_run_view *v, dk_compaction_job *job)
{
    st_policy *p = (st_policy *)base;
    int rc = dk__runs_pick_drop(base->host, ST_NAME, v, job);
    if (rc != DK_ENOTFOUND)
        return rc;
    dk__unit *u;
    size_t n, m = 0;
    rc = dk__runs_units(v, &u, &n);
    if (rc)
        return rc;
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!idx) {
        free(u);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (!u[i].busy)
            idx[m++] = i;
    rc = dk__runs_tier_job(v, u, idx, m, &p->tier, job);
    free(idx);
    free(u);
    return rc;
}

static const dk_compaction_ops st_ops = {
    .struct_size = sizeof(dk_compaction_ops),
    .open = st_open,
    .close = st_close,
    .pick = st_pick,
};

static const dk_plugin st_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_COMPACTION,
    .name = ST_NAME,
    .version = "1.0.0",
    .ops = &st_ops,
};

DK_PLUGIN_EXPORT(&st_plugin)
