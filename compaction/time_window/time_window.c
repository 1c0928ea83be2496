/*
 * time_window.c - the time-window compaction policy ("time_window"),
 * Cassandra's TWCS, for time-series and TTL data: runs are grouped by the
 * write-time window of their newest record (window = max_write_ms /
 * window_ms, floored), the current window is size-tiered while it fills,
 * each older window is merged once into a single run and then left alone,
 * and runs whose records have all expired are deleted whole, which is how
 * TTL data leaves the disk without being rewritten.
 *
 * Levels: as for size_tiered (runs in level 0; a level >= 1 left by the
 * leveled policy counts as one run and a merge taking it writes into it).
 *
 * A window is all the units of that window wherever they sit in the view
 * (the engine resolves keys by sequence number, runs.h), so data that
 * arrives late for an old window (read repair, hinted handoff) is merged
 * into that window's run on the next pick.
 *
 * pick():
 *  1. a DROP job for runs whose every record has expired (runs.h rule;
 *     whole old windows go at once when nothing older shadows them);
 *  2. current window = max(now's window, newest run's window): its
 *     non-busy units are size-tiered (min_threshold, max_threshold,
 *     bucket_low, bucket_high as size_tiered);
 *  3. older windows, newest first: a window with >= 2 units, none busy
 *     (a running job will change it: wait for it rather than merge twice),
 *     is merged, at most max_threshold of its units, into one run
 *     (target_file_size = UINT64_MAX).
 */
#include <errno.h>
#include <stdlib.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"
#include "../common/runs.h"

#define TW_NAME "time_window"
#define TW_MIN_WINDOW_MS (60 * 1000)

typedef struct tw_policy {
    dk_compaction_policy base; /* first: the host sees a dk_compaction_policy */
    dk__tier_conf tier;
    int64_t window_ms;
} tw_policy;

/* [compaction.time_window]: the keys this policy takes (dk_option). */
typedef struct tw_opts {
    dk__tier_opts tier;
    int64_t window_ms;
} tw_opts;

static const dk_option tw_options[] = {
    DK__TIER_OPTIONS(tw_opts, tier),
    {.key = "window",
     .type = DK_OPT_DURATION,
     .offset = offsetof(tw_opts, window_ms),
     .min = TW_MIN_WINDOW_MS,
     .max = 3650ll * 86400 * 1000,
     .dflt = "1h"},
};

static int tw_open(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out)
{
    *out = NULL;
    tw_opts o;
    dk__tier_conf t;
    int rc = host->options(host, tw_options, sizeof tw_options / sizeof tw_options[0], &o);
    if (rc || (rc = dk__runs_tier_conf(host, &o.tier, &t)))
        return rc;
    tw_policy *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.host = host;
    p->tier = t;
    p->window_ms = o.window_ms;
    *out = &p->base;
    return 0;
}

static void tw_close(dk_compaction_policy *base)
{
    free(base);
}

/* Floor division, so that times before the epoch fall in earlier windows. */
static int64_t tw_window(const tw_policy *p, int64_t ms)
{
    int64_t q = ms / p->window_ms;
    return (ms % p->window_ms < 0) ? q - 1 : q;
}

typedef struct tw_ent {
    int64_t window;
    size_t unit;
} tw_ent;

/* Newest window first; view order inside a window. */
static int tw_ent_cmp(const void *a, const void *b)
{
    const tw_ent *x = a, *y = b;
    if (x->window != y->window)
        return x->window > y->window ? -1 : 1;
    return x->unit < y->unit ? -1 : x->unit > y->unit;
}

/* ent[] has one entry per unit, sorted by tw_ent_cmp; idx[] has room for
 * n indices. */
static int tw_pick_units(const tw_policy *p, const dk_run_view *v, const dk__unit *u, size_t n,
                         const tw_ent *ent, size_t *idx, dk_compaction_job *job)
{
    int64_t cur = tw_window(p, v->now_ms);
    if (n && ent[0].window > cur)
        cur = ent[0].window;
    for (size_t i = 0; i < n;) {
        size_t j = i, m = 0;
        int busy = 0;
        for (; j < n && ent[j].window == ent[i].window; j++) {
            busy |= u[ent[j].unit].busy;
            if (!u[ent[j].unit].busy)
                idx[m++] = ent[j].unit;
        }
        if (ent[i].window == cur) {
            if (dk__runs_tier_job(v, u, idx, m, &p->tier, job) == 0)
                return 0;
        } else if (!busy && m >= 2) {
            dk__runs_job_from_units(v, u, idx, m < p->tier.max_threshold ? m : p->tier.max_threshold, job);
            return 0;
        }
        i = j;
    }
    return DK_ENOTFOUND;
}

static int tw_pick(dk_compaction_policy *base, const dk_run_view *v, dk_compaction_job *job)
{
    tw_policy *p = (tw_policy *)base;
    int rc = dk__runs_pick_drop(base->host, TW_NAME, v, job);
    if (rc != DK_ENOTFOUND)
        return rc;
    dk__unit *u;
    size_t n;
    rc = dk__runs_units(v, &u, &n);
    if (rc)
        return rc;
    tw_ent *ent = malloc((n ? n : 1) * sizeof(*ent));
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!ent || !idx) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ent[i] = (tw_ent){tw_window(p, u[i].max_write_ms), i};
    qsort(ent, n, sizeof(*ent), tw_ent_cmp);
    rc = tw_pick_units(p, v, u, n, ent, idx, job);
out:
    free(ent);
    free(idx);
    free(u);
    return rc;
}

static const dk_compaction_ops tw_ops = {
    .struct_size = sizeof(dk_compaction_ops),
    .open = tw_open,
    .close = tw_close,
    .pick = tw_pick,
};

static const dk_plugin tw_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_COMPACTION,
    .name = TW_NAME,
    .version = "1.0.0",
    .ops = &tw_ops,
};

DK_PLUGIN_EXPORT(&tw_plugin)
