/*
 * legacy.c - a compaction policy built against the ABI 1.0 headers, frozen
 * in tests/plugins/abi-1.0/include/dynkv/ as they were released, to show
 * what ABI 1.1 promises plugins built before it: this file is not touched
 * when the ABI grows, and the current host still loads and runs it.
 *
 * It reads its knobs from dk_compaction_conf as 1.0 plugins did (l0_trigger,
 * target_file_size; 0 = the policy's default). A 1.1 host leaves those
 * slots zero (the options of 1.1 policies come from their INI section), so
 * this policy runs with its defaults, and a key in [compaction.legacy] is
 * refused by the node because a 1.0 plugin cannot read it.
 *
 * The policy: merge levels 0 and 1 into level 1 once level 0 holds
 * l0_trigger runs (as tests/plugins/compaction-oneknob does).
 */
#include <errno.h>
#include <stdlib.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"

/* The layout 1.1 keeps (compaction.h: reserved slots of the same size). */
_Static_assert(DK_ABI_MAJOR == 1 && DK_ABI_MINOR == 0, "built against the ABI 1.0 headers");
_Static_assert(sizeof(dk_compaction_conf) == 64, "ABI 1.0 dk_compaction_conf is 64 bytes");

typedef struct lg_policy {
    dk_compaction_policy base;
    uint32_t l0_trigger;
    uint64_t file_size;
} lg_policy;

static int lg_open(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out)
{
    *out = NULL;
    lg_policy *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.host = host;
    p->l0_trigger = conf && conf->struct_size >= 8 && conf->l0_trigger ? conf->l0_trigger : 4;
    p->file_size = conf && conf->struct_size >= 32 ? conf->target_file_size : 0;
    host->log(host, DK_LOG_INFO, "legacy (ABI 1.0): l0_trigger %u, target_file_size %llu",
              p->l0_trigger, (unsigned long long)p->file_size);
    *out = &p->base;
    return 0;
}

static void lg_close(dk_compaction_policy *p)
{
    free(p);
}

static int lg_pick(dk_compaction_policy *base, const dk_run_view *v, dk_compaction_job *job)
{
    lg_policy *p = (lg_policy *)base;
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
    if (l0 < p->l0_trigger)
        return DK_ENOTFOUND;
    job->kind = DK_JOB_MERGE;
    job->output_level = 1;
    job->target_file_size = p->file_size;
    job->n_inputs = 0;
    for (size_t i = 0; i < v->count; i++)
        if (v->runs[i].level <= 1)
            job->inputs[job->n_inputs++] = v->runs[i].id;
    return 0;
}

static const dk_compaction_ops lg_ops = {
    .struct_size = sizeof(dk_compaction_ops),
    .open = lg_open,
    .close = lg_close,
    .pick = lg_pick,
};

static const dk_plugin lg_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_COMPACTION,
    .name = "legacy",
    .version = "1.0.0",
    .ops = &lg_ops,
};

DK_PLUGIN_EXPORT(&lg_plugin)
