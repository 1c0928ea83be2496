/*
 * test-compaction.c - unit tests of the three compaction policy plugins
 * (leveled, size_tiered, time_window), loaded with dlopen from
 * $DYNKV_PLUGIN_PATH exactly as the host loads them, against the fake host.
 *
 * Two kinds of test:
 *  - synthetic run shapes (keys are short strings, sizes in MiB): triggers
 *    and non-triggers, busy runs skipped, level targeting, overlap
 *    selection, bucket formation, window grouping, expired-run drops, conf
 *    validation;
 *  - a simulated engine (sim_*) that flushes runs of random keys and
 *    applies every job the policy returns as set arithmetic on (key,
 *    sequence) pairs, then checks what the engine relies on: levels >= 1
 *    stay disjoint, no job loses a live key's latest write, and the
 *    amplification the policy promises (leveled: space amplification near
 *    1.1).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"
#include "fake_host.h"

#define MiB (1ull << 20)
#define HOUR_MS (3600ll * 1000)

static dk_fake_host tc_fh;

/* ---- loading ------------------------------------------------------------ */

typedef struct tc_plugin {
    void *dl;
    const dk_compaction_ops *ops;
} tc_plugin;

static int tc_load(const char *name, tc_plugin *pl)
{
    const char *dir = getenv("DYNKV_PLUGIN_PATH");
    char path[4096];
    snprintf(path, sizeof(path), "%s/compaction-%s.so", dir ? dir : ".libs", name);
    pl->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!pl->dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    dk_plugin_entry_fn entry = (dk_plugin_entry_fn)dlsym(pl->dl, DK_PLUGIN_ENTRY_SYMBOL);
    const dk_plugin *d = entry ? entry() : NULL;
    if (!d || d->magic != DK_PLUGIN_MAGIC || d->abi_major != DK_ABI_MAJOR ||
        d->kind != DK_PLUGIN_COMPACTION || strcmp(d->name, name) != 0) {
        dlclose(pl->dl);
        return -1;
    }
    pl->ops = d->ops;
    return 0;
}

/* Open the named policy with conf (NULL = defaults); NULL on failure. */
static dk_compaction_policy *tc_open(const char *name, const dk_compaction_conf *conf,
                                     tc_plugin *pl)
{
    if (tc_load(name, pl) != 0)
        return NULL;
    dk_compaction_policy *p = NULL;
    if (pl->ops->open(&tc_fh.host, conf, &p) != 0) {
        dlclose(pl->dl);
        return NULL;
    }
    return p;
}

static void tc_close(tc_plugin *pl, dk_compaction_policy *p)
{
    if (p)
        pl->ops->close(p);
    if (pl->dl)
        dlclose(pl->dl);
}

/* ---- synthetic views ---------------------------------------------------- */

#define TC_MAX 64

typedef struct tc_view {
    dk_run runs[TC_MAX];
    dk_run_view v;
    uint64_t ids[TC_MAX];
    dk_compaction_job job;
} tc_view;

static dk_slice tc_s(const char *s)
{
    return (dk_slice){(const uint8_t *)s, strlen(s)};
}

static void tc_init(tc_view *t, uint32_t num_levels, int64_t now_ms)
{
    memset(t, 0, sizeof(*t));
    t->v.runs = t->runs;
    t->v.num_levels = num_levels;
    t->v.now_ms = now_ms;
    t->job.inputs = t->ids;
}

/* Append a run (callers append in view order: by level, L0 newest first,
 * then by smallest key). Write times default to [1000, 2000]. */
static dk_run *tc_add(tc_view *t, uint64_t id, uint32_t level, uint64_t size, const char *lo,
                      const char *hi)
{
    dk_run *r = &t->runs[t->v.count++];
    *r = (dk_run){.id = id, .level = level, .size = size, .smallest = tc_s(lo),
                  .largest = tc_s(hi), .entries = size / 100, .min_write_ms = 1000,
                  .max_write_ms = 2000};
    return r;
}

static int tc_pick(const tc_plugin *pl, dk_compaction_policy *p, tc_view *t)
{
    memset(t->ids, 0, sizeof(t->ids));
    t->job.n_inputs = 0;
    return pl->ops->pick(p, &t->v, &t->job);
}

/* 1 when the job's inputs are exactly the given ids, in any order. */
static int tc_inputs_are(const tc_view *t, size_t n, const uint64_t *ids)
{
    if (t->job.n_inputs != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < n; j++)
            seen += t->job.inputs[j] == ids[i];
        if (seen != 1)
            return 0;
    }
    return 1;
}

#define INPUTS_ARE(t, ...)                                                              \
    tc_inputs_are((t), sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t), (uint64_t[]){__VA_ARGS__})

/* ---- leveled ------------------------------------------------------------ */

static const dk_compaction_conf tc_lv_conf = {
    .struct_size = sizeof(dk_compaction_conf), .l0_trigger = 4, .level_ratio = 10,
    .base_level_size = 10 * MiB, .target_file_size = 2 * MiB};

static void test_leveled_l0_trigger(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("leveled", &tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 5000);
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);   /* empty */
    tc_add(&t, 13, 0, MiB, "d", "f");
    tc_add(&t, 12, 0, MiB, "c", "e");
    tc_add(&t, 11, 0, MiB, "e", "m");
    tc_add(&t, 1, 1, MiB, "a", "b");
    tc_add(&t, 2, 1, MiB, "c", "f");
    tc_add(&t, 3, 1, MiB, "g", "k");
    tc_add(&t, 4, 1, MiB, "n", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);   /* 3 < l0_trigger */
    /* A fourth L0 run: all of L0 plus the overlapping L1 runs into L1. */
    memmove(&t.runs[1], &t.runs[0], t.v.count * sizeof(dk_run));
    t.v.count++;
    t.runs[0] = t.runs[1];
    t.runs[0].id = 14;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.kind, DK_JOB_MERGE);
    CU_ASSERT_EQUAL(t.job.output_level, 1);
    CU_ASSERT_EQUAL(t.job.target_file_size, 2 * MiB);
    CU_ASSERT(INPUTS_ARE(&t, 14, 13, 12, 11, 2, 3));
    /* An L0 run already being compacted: no second L0 job (it would move
     * newer runs below an older one). */
    t.runs[2].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    t.runs[2].busy = 0;
    /* An overlapped L1 run busy: the L0 job waits. */
    t.runs[6].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    tc_close(&pl, p);
}

static void test_leveled_level_targets(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("leveled", &tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    /* L1 at 9 MiB is under its static target (10 MiB) and is the deepest
     * level: nothing to do. */
    tc_init(&t, 4, 5000);
    tc_add(&t, 1, 1, 3 * MiB, "a", "f");
    tc_add(&t, 2, 1, 3 * MiB, "g", "m");
    tc_add(&t, 3, 1, 3 * MiB, "n", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    /* With 20 MiB in L2, L1's target becomes 2 MiB (dynamic sizing from the
     * deepest level): L1 -> L2, choosing the L1 run whose overlap with L2
     * is the smallest relative to its size ("g".."m" overlaps only run 11). */
    tc_add(&t, 10, 2, 8 * MiB, "a", "e");
    tc_add(&t, 11, 2, 2 * MiB, "h", "i");
    tc_add(&t, 12, 2, 10 * MiB, "o", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.kind, DK_JOB_MERGE);
    CU_ASSERT_EQUAL(t.job.output_level, 2);
    CU_ASSERT_EQUAL(t.job.target_file_size, 2 * MiB);
    CU_ASSERT(INPUTS_ARE(&t, 2, 11));
    /* That run busy: the next best, "a".."f" (overlap 8/3) vs "n".."z" (10/3). */
    t.runs[1].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 1, 10));
    /* Its L2 overlap busy too: the last candidate. */
    t.runs[3].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 3, 12));
    tc_close(&pl, p);

    /* The deepest level spills into the next once over its static target
     * (L2: 100 MiB), unless it is the last level. */
    p = tc_open("leveled", &tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_init(&t, 4, 5000);
    tc_add(&t, 1, 1, MiB, "a", "z");
    tc_add(&t, 10, 2, 60 * MiB, "a", "k");
    tc_add(&t, 11, 2, 30 * MiB, "l", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    t.runs[2].size = 50 * MiB;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 3);
    CU_ASSERT(INPUTS_ARE(&t, 10));   /* no L3 overlap either way: the first */
    t.v.num_levels = 3;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    tc_close(&pl, p);
}

static void test_leveled_score_order(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("leveled", &tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 4, 5000);
    for (uint64_t i = 0; i < 5; i++)   /* L0 score 5/4 */
        tc_add(&t, 100 - i, 0, MiB, "a", "z");
    tc_add(&t, 1, 1, 30 * MiB, "a", "m");   /* L1 score 40/10 */
    tc_add(&t, 2, 1, 10 * MiB, "n", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 2);
    CU_ASSERT(INPUTS_ARE(&t, 1));
    /* Both L1 runs busy: the next score, L0. */
    t.runs[5].busy = t.runs[6].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);   /* L1 overlap busy */
    t.runs[5].busy = t.runs[6].busy = 0;
    t.runs[5].size = t.runs[6].size = 2 * MiB;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 1);
    CU_ASSERT(INPUTS_ARE(&t, 100, 99, 98, 97, 96, 1, 2));
    tc_close(&pl, p);
}

static void test_drop_expired(void)
{
    static const char *const names[] = {"leveled", "size_tiered", "time_window"};
    for (size_t k = 0; k < 3; k++) {
        tc_plugin pl;
        dk_compaction_policy *p = tc_open(names[k], NULL, &pl);
        CU_ASSERT_FATAL(p != NULL);
        tc_view t;
        int64_t now = 100 * HOUR_MS;
        tc_init(&t, 7, now);
        dk_run *a = tc_add(&t, 5, 0, MiB, "a", "c");   /* expired */
        a->min_write_ms = 50 * HOUR_MS, a->max_write_ms = 51 * HOUR_MS, a->max_expiry_ms = now - 1;
        dk_run *b = tc_add(&t, 4, 0, MiB, "m", "p");   /* never expires */
        b->min_write_ms = 40 * HOUR_MS, b->max_write_ms = 99 * HOUR_MS;
        dk_run *c = tc_add(&t, 3, 1, MiB, "k", "q");   /* expired under b */
        c->min_write_ms = 30 * HOUR_MS, c->max_write_ms = 31 * HOUR_MS, c->max_expiry_ms = now - 5;
        CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
        CU_ASSERT_EQUAL(t.job.kind, DK_JOB_DROP);
        /* c goes too: b overlaps it, but b's oldest write (40 h) is newer
         * than c's newest (31 h), so c shadows nothing of b. */
        CU_ASSERT(INPUTS_ARE(&t, 5, 3));
        /* An older, live run under a: dropping a would uncover it. */
        dk_run *d = tc_add(&t, 2, 2, MiB, "b", "b");
        d->min_write_ms = 10 * HOUR_MS, d->max_write_ms = 60 * HOUR_MS;
        CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
        CU_ASSERT(INPUTS_ARE(&t, 3));
        /* ...unless it has expired as well: the stack goes together. */
        d->max_expiry_ms = now - 10;
        CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
        CU_ASSERT(INPUTS_ARE(&t, 5, 3, 2));
        /* Busy runs are never named, and block what they overlap. */
        c->busy = 1;
        d->busy = 1;
        CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
        /* Expiry 0 means some record never expires; an expiry not yet
         * passed is not a drop either. */
        c->busy = d->busy = 0;
        c->max_expiry_ms = 0;
        d->max_expiry_ms = now + 1;
        a->max_expiry_ms = now;
        int rc = tc_pick(&pl, p, &t);   /* the tiered policies may merge */
        CU_ASSERT(rc == DK_ENOTFOUND || (rc == 0 && t.job.kind == DK_JOB_MERGE));
        tc_close(&pl, p);
    }
}

static void test_conf_validation(void)
{
    struct { const char *policy; dk_compaction_conf conf; const char *word; } bad[] = {
        {"leveled", {.level_ratio = 1}, "level_ratio"},
        {"leveled", {.base_level_size = 100}, "base_level_size"},
        {"leveled", {.target_file_size = 10}, "target_file_size"},
        {"leveled", {.l0_trigger = 5000}, "l0_trigger"},
        {"size_tiered", {.min_threshold = 1}, "min_threshold"},
        {"size_tiered", {.min_threshold = 8, .max_threshold = 4}, "max_threshold"},
        {"size_tiered", {.bucket_low = 1.2}, "bucket_low"},
        {"size_tiered", {.bucket_high = 0.9}, "bucket_high"},
        {"time_window", {.window_ms = 10}, "window_ms"},
        {"time_window", {.window_ms = -HOUR_MS}, "window_ms"},
        {"time_window", {.bucket_low = -1}, "bucket_low"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tc_plugin pl;
        CU_ASSERT_FATAL(tc_load(bad[i].policy, &pl) == 0);
        bad[i].conf.struct_size = sizeof(dk_compaction_conf);
        dk_compaction_policy *p = (dk_compaction_policy *)&pl;
        dk_fake_host_reset(&tc_fh);
        CU_ASSERT_EQUAL(pl.ops->open(&tc_fh.host, &bad[i].conf, &p), DK_ECONFIG);
        CU_ASSERT_PTR_NULL(p);
        char msg[DK_FAKE_HOST_MSG];
        CU_ASSERT_EQUAL(dk_fake_host_last_log(&tc_fh, msg, sizeof(msg)), DK_LOG_ERROR);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad[i].word));
        dlclose(pl.dl);
    }
    /* Fields past the caller's struct_size read as 0 (the default): an
     * older host's short conf with garbage after it opens fine. */
    dk_compaction_conf c = {.l0_trigger = 2, .level_ratio = 1};
    c.struct_size = offsetof(dk_compaction_conf, level_ratio);
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("leveled", &c, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    tc_view t;
    tc_init(&t, 7, 0);
    tc_add(&t, 2, 0, MiB, "a", "b");
    tc_add(&t, 1, 0, MiB, "a", "b");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);   /* l0_trigger 2 was read */
    /* A view the policy cannot trust is refused, not followed. */
    t.runs[0].level = 9;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), -EINVAL);
    tc_close(&pl, p);
}

/* ---- size_tiered -------------------------------------------------------- */

static void test_size_tiered_buckets(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("size_tiered", NULL, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 0);
    /* Newest first: three small runs, then three ~200 MiB, then 1 GiB. */
    uint64_t sizes[] = {4, 6, 5, 200, 260, 170, 1024};
    for (size_t i = 0; i < 7; i++)
        tc_add(&t, 100 - i, 0, sizes[i] * MiB, "a", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);   /* no bucket has 4 */
    /* A fourth ~200 MiB run next to the others: that bucket goes. */
    dk_run big = t.runs[6];
    t.runs[6] = (dk_run){.id = 50, .size = 190 * MiB, .smallest = tc_s("a"), .largest = tc_s("z")};
    t.runs[t.v.count++] = big;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.kind, DK_JOB_MERGE);
    CU_ASSERT_EQUAL(t.job.output_level, 0);
    CU_ASSERT_EQUAL(t.job.target_file_size, UINT64_MAX);
    CU_ASSERT(INPUTS_ARE(&t, 97, 96, 95, 50));
    /* A fourth small run: two ready buckets, the smallest average wins. */
    memmove(&t.runs[1], &t.runs[0], t.v.count * sizeof(dk_run));
    t.v.count++;
    t.runs[0].id = 101;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 101, 100, 99, 98));
    /* A busy run splits the bucket (and is never named). */
    t.runs[1].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 97, 96, 95, 50));
    tc_close(&pl, p);
}

static void test_size_tiered_global(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("size_tiered", NULL, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 0);
    /* Buckets form by size wherever the runs sit in the view. */
    uint64_t sizes[] = {100, 110, 400, 90, 100};
    for (size_t i = 0; i < 5; i++)
        tc_add(&t, 10 - i, 0, sizes[i] * MiB, "a", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 10, 9, 7, 6));
    /* 40 similar small runs: one job of max_threshold (32), the smallest. */
    tc_init(&t, 7, 0);
    for (size_t i = 0; i < 40; i++)
        tc_add(&t, 1000 - i, 0, (40 - i) * MiB, "a", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.n_inputs, 32);
    int smallest = 1;
    for (size_t i = 0; i < t.job.n_inputs; i++)
        smallest &= t.job.inputs[i] <= 1000 - 8 && t.job.inputs[i] > 1000 - 40;
    CU_ASSERT(smallest);
    /* A leveled data directory: L1 counts as one 110 MiB run; with four
     * 100 MiB L0 runs it makes a bucket whose output goes into L1. */
    tc_init(&t, 7, 0);
    for (size_t i = 0; i < 4; i++)
        tc_add(&t, 20 - i, 0, 100 * MiB, "a", "z");
    tc_add(&t, 1, 1, 50 * MiB, "a", "k");
    tc_add(&t, 2, 1, 60 * MiB, "l", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 1);
    CU_ASSERT(INPUTS_ARE(&t, 20, 19, 18, 17, 1, 2));
    /* A busy L1 run makes the whole level busy: the L0 runs alone. */
    t.runs[5].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 0);
    CU_ASSERT(INPUTS_ARE(&t, 20, 19, 18, 17));
    tc_close(&pl, p);
}

/* ---- time_window -------------------------------------------------------- */

static dk_run *tc_add_w(tc_view *t, uint64_t id, uint64_t size, int64_t window)
{
    dk_run *r = tc_add(t, id, 0, size, "a", "z");
    r->min_write_ms = window * HOUR_MS + 60000;
    r->max_write_ms = window * HOUR_MS + 120000;
    return r;
}

static void test_time_window_grouping(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_open("time_window", NULL, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    int64_t now = 10 * HOUR_MS + 30 * 60000;
    tc_init(&t, 7, now);
    /* Current window (10): three runs, not yet a bucket; window 9: one run. */
    tc_add_w(&t, 30, MiB, 10);
    tc_add_w(&t, 29, MiB, 10);
    tc_add_w(&t, 28, MiB, 10);
    tc_add_w(&t, 20, 8 * MiB, 9);
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    /* Window 8 with three runs: merged into one, once. */
    tc_add_w(&t, 12, 2 * MiB, 8);
    tc_add_w(&t, 11, 2 * MiB, 8);
    dk_run *r10 = tc_add_w(&t, 10, 3 * MiB, 8);
    /* A run's window is that of its newest write. */
    r10->min_write_ms = 7 * HOUR_MS;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.kind, DK_JOB_MERGE);
    CU_ASSERT_EQUAL(t.job.target_file_size, UINT64_MAX);
    CU_ASSERT(INPUTS_ARE(&t, 12, 11, 10));
    /* After the merge window 8 is one run: nothing left to do. */
    t.v.count = 5;
    t.runs[4].size = 7 * MiB;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    /* Late window-8 data (a job of its own) and a fourth current run: the
     * current window is served first. */
    tc_add_w(&t, 11, 2 * MiB, 8);
    memmove(&t.runs[1], &t.runs[0], t.v.count * sizeof(dk_run));
    t.v.count++;
    t.runs[0].id = 31;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 31, 30, 29, 28));
    tc_close(&pl, p);
}

static void test_time_window_late_data(void)
{
    tc_plugin pl;
    dk_compaction_conf c = {.struct_size = sizeof(c), .window_ms = 2 * HOUR_MS};
    dk_compaction_policy *p = tc_open("time_window", &c, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 20 * HOUR_MS);
    /* Newest first: window 3 (hours 6-7), late window-2 data, window 3
     * again, window 2: each window is merged wherever its runs sit, the
     * newest window first. */
    tc_add_w(&t, 4, MiB, 6);
    tc_add_w(&t, 3, MiB, 4);
    tc_add_w(&t, 2, MiB, 7);
    tc_add_w(&t, 1, MiB, 5);
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 4, 2));
    /* While a window has a busy run it is left alone: the next one goes. */
    t.runs[0].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT(INPUTS_ARE(&t, 3, 1));
    t.runs[3].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    tc_close(&pl, p);
}

/* ---- simulated engine --------------------------------------------------- */

typedef struct sim_ent {
    uint32_t key, seq;
} sim_ent;

typedef struct sim_run {
    uint64_t id;
    uint32_t level;
    sim_ent *e;                  /* sorted by key, one entry per key */
    size_t n;
    uint32_t min_seq, max_seq;
    uint8_t lo[4], hi[4];        /* big-endian keys: bytewise order = numeric */
} sim_run;

typedef struct sim {
    tc_plugin pl;
    dk_compaction_policy *p;
    sim_run **runs;
    size_t n;
    uint64_t next_id;
    uint32_t seq, nkeys;
    uint32_t *latest;            /* per key: seq of its last write, 0 = never */
    uint64_t rng, rec_size;
    int64_t ms_per_write, ttl_ms; /* write time = seq * ms_per_write */
    uint64_t user_bytes, disk_bytes;
    size_t jobs, drops, max_runs, small_merges, errors;
} sim;

static void sim_be(uint8_t *p, uint32_t k)
{
    p[0] = (uint8_t)(k >> 24), p[1] = (uint8_t)(k >> 16), p[2] = (uint8_t)(k >> 8), p[3] = (uint8_t)k;
}

static int sim_ent_cmp(const void *a, const void *b)
{
    const sim_ent *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;   /* newest first */
}

/* The view order of engines/lsm: by level, L0 newest file first, levels
 * >= 1 by smallest key. */
static int sim_run_cmp(const void *a, const void *b)
{
    const sim_run *x = *(sim_run *const *)a, *y = *(sim_run *const *)b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->level == 0)
        return x->id > y->id ? -1 : 1;
    return memcmp(x->lo, y->lo, 4);
}

/* Make a run of e[0..n) (sorted, deduplicated) at level; takes e. */
static void sim_add(sim *s, uint32_t level, sim_ent *e, size_t n)
{
    sim_run *r = calloc(1, sizeof(*r));
    r->id = s->next_id++, r->level = level, r->e = e, r->n = n;
    r->min_seq = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        r->min_seq = e[i].seq < r->min_seq ? e[i].seq : r->min_seq;
        r->max_seq = e[i].seq > r->max_seq ? e[i].seq : r->max_seq;
    }
    sim_be(r->lo, e[0].key);
    sim_be(r->hi, e[n - 1].key);
    s->runs = realloc(s->runs, (s->n + 1) * sizeof(*s->runs));
    s->runs[s->n++] = r;
    s->disk_bytes += n * s->rec_size;
}

static size_t sim_dedup(sim_ent *e, size_t n)
{
    qsort(e, n, sizeof(*e), sim_ent_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!m || e[m - 1].key != e[i].key)
            e[m++] = e[i];
    return m;
}

static void sim_flush(sim *s, size_t writes)
{
    sim_ent *e = malloc(writes * sizeof(*e));
    for (size_t i = 0; i < writes; i++) {
        s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
        e[i].key = (uint32_t)(s->rng % s->nkeys);
        e[i].seq = ++s->seq;
        s->latest[e[i].key] = e[i].seq;
    }
    s->user_bytes += writes * s->rec_size;
    sim_add(s, 0, e, sim_dedup(e, writes));
}

static void sim_apply(sim *s, const dk_compaction_job *job)
{
    sim_ent *all = NULL;
    size_t n_all = 0;
    for (size_t k = 0; k < job->n_inputs; k++) {
        size_t i = 0;
        while (i < s->n && s->runs[i]->id != job->inputs[k])
            i++;
        if (i == s->n) {
            s->errors++;   /* unknown or repeated id */
            continue;
        }
        sim_run *r = s->runs[i];
        s->runs[i] = s->runs[--s->n];
        if (job->kind == DK_JOB_MERGE) {
            all = realloc(all, (n_all + r->n) * sizeof(*all));
            memcpy(all + n_all, r->e, r->n * sizeof(*all));
            n_all += r->n;
        }
        free(r->e);
        free(r);
    }
    if (job->kind == DK_JOB_DROP) {
        s->drops++;
        return;
    }
    s->small_merges += job->n_inputs < 2;
    n_all = sim_dedup(all, n_all);
    size_t per = job->target_file_size == UINT64_MAX ? n_all
                 : job->target_file_size / s->rec_size ? job->target_file_size / s->rec_size : 1;
    for (size_t i = 0; i < n_all; i += per) {
        size_t m = n_all - i < per ? n_all - i : per;
        sim_ent *e = malloc(m * sizeof(*e));
        memcpy(e, all + i, m * sizeof(*e));
        sim_add(s, job->output_level, e, m);
    }
    free(all);
}

/* Ask for and apply jobs until the policy has none. */
static void sim_settle(sim *s)
{
    for (int guard = 0; guard < 10000; guard++) {
        qsort(s->runs, s->n, sizeof(*s->runs), sim_run_cmp);
        dk_run *v = calloc(s->n + 1, sizeof(*v));
        uint64_t *ids = calloc(s->n + 1, sizeof(*ids));
        int64_t now = (int64_t)s->seq * s->ms_per_write;
        for (size_t i = 0; i < s->n; i++) {
            const sim_run *r = s->runs[i];
            int64_t max_w = (int64_t)r->max_seq * s->ms_per_write;
            v[i] = (dk_run){.id = r->id, .level = r->level, .size = r->n * s->rec_size,
                            .smallest = {r->lo, 4}, .largest = {r->hi, 4}, .entries = r->n,
                            .min_write_ms = (int64_t)r->min_seq * s->ms_per_write,
                            .max_write_ms = max_w, .max_expiry_ms = s->ttl_ms ? max_w + s->ttl_ms : 0};
        }
        dk_run_view view = {.runs = v, .count = s->n, .num_levels = 7, .now_ms = now};
        dk_compaction_job job = {.inputs = ids};
        int rc = s->pl.ops->pick(s->p, &view, &job);
        if (rc == 0)
            sim_apply(s, &job);
        free(v);
        free(ids);
        if (rc != 0) {
            s->errors += rc != DK_ENOTFOUND;
            return;
        }
        s->jobs++;
    }
    s->errors++;   /* the policy never ran out of jobs */
}

static int sim_init(sim *s, const char *policy, const dk_compaction_conf *conf, uint32_t nkeys,
                    uint64_t rec_size)
{
    memset(s, 0, sizeof(*s));
    s->p = tc_open(policy, conf, &s->pl);
    s->nkeys = nkeys;
    s->latest = calloc(nkeys, sizeof(*s->latest));
    s->rng = 0x9e3779b97f4a7c15ull;
    s->rec_size = rec_size;
    s->ms_per_write = 1;
    s->next_id = 1;
    return s->p ? 0 : -1;
}

/* Stored entries / live keys. */
static double sim_space_amp(const sim *s)
{
    size_t stored = 0, live = 0;
    int64_t now = (int64_t)s->seq * s->ms_per_write;
    for (size_t i = 0; i < s->n; i++)
        stored += s->runs[i]->n;
    for (uint32_t k = 0; k < s->nkeys; k++)
        live += s->latest[k] && (!s->ttl_ms || (int64_t)s->latest[k] * s->ms_per_write + s->ttl_ms >= now);
    return live ? (double)stored / (double)live : 0;
}

/* Structural faults: overlapping runs inside a level >= 1, and live keys
 * whose newest stored version (what engines/lsm reads: the highest
 * sequence among the runs holding the key) is not their latest write, i.e.
 * a job lost it. Expired keys are not checked: the host filters them. */
static size_t sim_faults(sim *s)
{
    size_t bad = 0;
    qsort(s->runs, s->n, sizeof(*s->runs), sim_run_cmp);
    for (size_t i = 1; i < s->n; i++)
        if (s->runs[i]->level && s->runs[i]->level == s->runs[i - 1]->level &&
            memcmp(s->runs[i - 1]->hi, s->runs[i]->lo, 4) >= 0)
            bad++;
    int64_t now = (int64_t)s->seq * s->ms_per_write;
    for (uint32_t k = 0; k < s->nkeys; k++) {
        if (!s->latest[k] || (s->ttl_ms && (int64_t)s->latest[k] * s->ms_per_write + s->ttl_ms < now))
            continue;
        uint32_t found = 0;
        for (size_t i = 0; i < s->n; i++) {
            sim_ent key = {k, UINT32_MAX}, *e = s->runs[i]->e;
            size_t lo = 0, hi = s->runs[i]->n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (sim_ent_cmp(&e[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < s->runs[i]->n && e[lo].key == k && e[lo].seq > found)
                found = e[lo].seq;
        }
        bad += found != s->latest[k];
    }
    return bad;
}

static void sim_free(sim *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->runs[i]->e);
        free(s->runs[i]);
    }
    free(s->runs);
    free(s->latest);
    tc_close(&s->pl, s->p);
}

static void test_sim_leveled(void)
{
    dk_compaction_conf c = {.struct_size = sizeof(c), .base_level_size = 4 * MiB,
                            .target_file_size = MiB};
    sim s;
    CU_ASSERT_FATAL(sim_init(&s, "leveled", &c, 60000, 1024) == 0);
    double sa_sum = 0, sa_max = 0;
    int samples = 0;
    for (int f = 0; f < 600; f++) {
        sim_flush(&s, 1000);
        sim_settle(&s);
        s.max_runs = s.n > s.max_runs ? s.n : s.max_runs;
        if (f >= 300) {   /* steady state: every key written ~5 times */
            double sa = sim_space_amp(&s);
            sa_sum += sa, samples++;
            sa_max = sa > sa_max ? sa : sa_max;
        }
    }
    double wa = (double)s.disk_bytes / (double)s.user_bytes;
    fprintf(stderr, "leveled: space amp mean %.3f max %.3f, write amp %.1f, %zu jobs, %zu runs max\n",
            sa_sum / samples, sa_max, wa, s.jobs, s.max_runs);
    CU_ASSERT_EQUAL(s.errors, 0);
    CU_ASSERT_EQUAL(sim_faults(&s), 0);
    CU_ASSERT(sa_sum / samples < 1.2);
    CU_ASSERT(sa_max < 1.35);
    CU_ASSERT(wa < 30);
    sim_free(&s);
}

static void test_sim_size_tiered(void)
{
    sim s;
    /* 64 KiB records: a flush of 1000 is a 62.5 MiB run, above the 50 MiB
     * "small runs" bucket, so tiers form by ratio. */
    CU_ASSERT_FATAL(sim_init(&s, "size_tiered", NULL, 60000, 64 << 10) == 0);
    for (int f = 0; f < 400; f++) {
        sim_flush(&s, 1000);
        sim_settle(&s);
        s.max_runs = s.n > s.max_runs ? s.n : s.max_runs;
    }
    double wa = (double)s.disk_bytes / (double)s.user_bytes;
    fprintf(stderr, "size_tiered: space amp %.3f, write amp %.1f, %zu jobs, %zu runs max\n",
            sim_space_amp(&s), wa, s.jobs, s.max_runs);
    CU_ASSERT_EQUAL(s.errors, 0);
    CU_ASSERT_EQUAL(s.small_merges, 0);
    CU_ASSERT(s.jobs >= 100);              /* 400 flushes, merged 4 at a time */
    CU_ASSERT(s.max_runs <= 20);           /* a few runs per tier, ~5 tiers */
    CU_ASSERT(wa < 8);                     /* about once per tier */
    CU_ASSERT_EQUAL(sim_faults(&s), 0);
    sim_free(&s);
}

static void test_sim_time_window(void)
{
    sim s;
    CU_ASSERT_FATAL(sim_init(&s, "time_window", NULL, 60000, 1024) == 0);
    /* 1000 writes per flush, 10 flushes per 1 h window, TTL 4 h. */
    s.ms_per_write = HOUR_MS / 10000;
    s.ttl_ms = 4 * HOUR_MS;
    size_t max_entries = 0;
    for (int f = 0; f < 300; f++) {
        sim_flush(&s, 1000);
        sim_settle(&s);
        s.max_runs = s.n > s.max_runs ? s.n : s.max_runs;
        size_t stored = 0;
        for (size_t i = 0; i < s.n; i++)
            stored += s.runs[i]->n;
        max_entries = stored > max_entries ? stored : max_entries;
    }
    /* Every window but the newest holds one run. */
    size_t multi = 0;
    int64_t cur = (int64_t)s.seq * s.ms_per_write / HOUR_MS;
    for (size_t i = 0; i < s.n; i++)
        for (size_t j = i + 1; j < s.n; j++) {
            int64_t wi = (int64_t)s.runs[i]->max_seq * s.ms_per_write / HOUR_MS;
            int64_t wj = (int64_t)s.runs[j]->max_seq * s.ms_per_write / HOUR_MS;
            multi += wi == wj && wi != cur;
        }
    fprintf(stderr, "time_window: %zu drops, %zu jobs, %zu runs max, %zu entries max\n", s.drops,
            s.jobs, s.max_runs, max_entries);
    CU_ASSERT_EQUAL(s.errors, 0);
    CU_ASSERT_EQUAL(multi, 0);
    CU_ASSERT(s.drops >= 20);              /* 30 windows written, 4 h TTL */
    CU_ASSERT(s.max_runs <= 16);           /* ~5 live windows + the current's tiers */
    CU_ASSERT(max_entries <= 6 * 10000);   /* never much more than TTL's worth */
    CU_ASSERT_EQUAL(sim_faults(&s), 0);
    sim_free(&s);
}

static CU_TestInfo tc_policy_tests[] = {
    {"leveled: L0 trigger, overlap and busy", test_leveled_l0_trigger},
    {"leveled: level targets and run choice", test_leveled_level_targets},
    {"leveled: most urgent level first", test_leveled_score_order},
    {"all: whole-run drops of expired runs", test_drop_expired},
    {"all: conf validation", test_conf_validation},
    {"size_tiered: buckets", test_size_tiered_buckets},
    {"size_tiered: global buckets, max_threshold, levels", test_size_tiered_global},
    {"time_window: window grouping", test_time_window_grouping},
    {"time_window: late data and busy runs", test_time_window_late_data},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo tc_sim_tests[] = {
    {"leveled: simulated workload, space amplification", test_sim_leveled},
    {"size_tiered: simulated workload", test_sim_size_tiered},
    {"time_window: simulated TTL workload", test_sim_time_window},
    CU_TEST_INFO_NULL,
};

static int tc_setup(void)
{
    dk_fake_host_init(&tc_fh);
    return 0;
}

static int tc_teardown(void)
{
    dk_fake_host_destroy(&tc_fh);
    return 0;
}

static CU_SuiteInfo dk_suites[] = {
    {.pName = "compaction policies", .pInitFunc = tc_setup, .pCleanupFunc = tc_teardown,
     .pTests = tc_policy_tests},
    {.pName = "compaction simulation", .pInitFunc = tc_setup, .pCleanupFunc = tc_teardown,
     .pTests = tc_sim_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
