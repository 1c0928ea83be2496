/*
 * oneknob.c - the smallest useful compaction policy with one option, kept
 * under tests/ to show what a researcher's new policy costs: this folder,
 * its local.mk, and one `include` line in the top Makefile.am; nothing in
 * framework/ changes, because the option reaches the policy through its
 * own INI section ([compaction.oneknob] runs = 6) and dk_host.options.
 *
 * The policy: when level 0 holds at least `runs` runs, merge every run of
 * levels 0 and 1 into level 1 (a two-level "universal" compaction). It
 * waits while any of those runs is busy, so level 1 stays one sorted run.
 * Simple over clever: every job rewrites level 1 whole.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"

typedef struct ok_opts {
    int64_t runs; /* level-0 runs that start a job */
} ok_opts;

static const dk_option ok_options[] = {
    {.key = "runs", .type = DK_OPT_INT, .offset = offsetof(ok_opts, runs), .min = 2, .max = 100, .dflt = "4"},
};

typedef struct ok_policy {
    dk_compaction_policy base; /* first: the host sees a dk_compaction_policy */
    uint32_t runs;
} ok_policy;

static int ok_open(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out)
{
    *out = NULL;
    ok_opts o;
    int rc = host->options(host, ok_options, sizeof ok_options / sizeof ok_options[0], &o);
    if (rc)
        return rc;
    ok_policy *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.host = host;
    p->runs = (uint32_t)o.runs;
    host->log(host, DK_LOG_INFO, "oneknob: compacting at %u level-0 runs", p->runs);
    *out = &p->base;
    return 0;
}

static void ok_close(dk_compaction_policy *p)
{
    free(p);
}

static int ok_pick(dk_compaction_policy *base, const dk_run_view *v, dk_compaction_job *job)
{
    ok_policy *p = (ok_policy *)base;
    size_t l0 = 0;
    if (v->num_levels < 2)
        return DK_ENOTFOUND;
    for (size_t i = 0; i < v->count; i++) {
        if (v->runs[i].level > 1)
            continue;
        if (v->runs[i].busy)
            return DK_ENOTFOUND;
        l0 += v->runs[i].level == 0;
    }
    if (l0 < p->runs)
        return DK_ENOTFOUND;
    job->kind = DK_JOB_MERGE;
    job->output_level = 1;
    job->target_file_size = 0;
    job->n_inputs = 0;
    for (size_t i = 0; i < v->count; i++)
        if (v->runs[i].level <= 1)
            job->inputs[job->n_inputs++] = v->runs[i].id;
    return 0;
}

static const dk_compaction_ops ok_ops = {
    .struct_size = sizeof(dk_compaction_ops),
    .open = ok_open,
    .close = ok_close,
    .pick = ok_pick,
};

static const dk_plugin ok_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_COMPACTION,
    .name = "oneknob",
    .version = "1.0.0",
    .ops = &ok_ops,
};

DK_PLUGIN_EXPORT(&ok_plugin)
