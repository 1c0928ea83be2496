/*
 * test-compaction.c - unit tests of the three compaction policy plugins
 * (leveled, size_tiered, time_window), loaded with dlopen from
 * $DYNKV_PLUGIN_PATH exactly as the host loads them (tc_plugin.h), against
 * the fake host, on synthetic run shapes (keys are short strings, sizes in
 * MiB): triggers and non-triggers, busy runs skipped, level targeting,
 * overlap selection, bucket formation, window grouping, expired-run drops,
 * conf validation. test-compaction-sim.c runs the policies against a
 * simulated engine.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dynkv/compaction.h"
#include "dynkv/plugin.h"
#include "tc_plugin.h"

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
static dk_run *tc_add(tc_view *t, uint64_t id, uint32_t level, uint64_t size, const char *lo, const char *hi)
{
    dk_run *r = &t->runs[t->v.count++];
    *r = (dk_run){.id = id,
                  .level = level,
                  .size = size,
                  .smallest = tc_s(lo),
                  .largest = tc_s(hi),
                  .entries = size / 100,
                  .min_write_ms = 1000,
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

#define INPUTS_ARE(t, ...)                                                                                   \
    tc_inputs_are((t), sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t), (uint64_t[]){__VA_ARGS__})

/* ---- leveled ------------------------------------------------------------ */

static const char *const tc_lv_conf[] = {
    "l0_trigger", "4", "level_ratio", "10", "base_level_size", "10MiB", "target_file_size", "2MiB", NULL};

static void test_leveled_l0_trigger(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("leveled", tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 5000);
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND); /* empty */
    tc_add(&t, 13, 0, MiB, "d", "f");
    tc_add(&t, 12, 0, MiB, "c", "e");
    tc_add(&t, 11, 0, MiB, "e", "m");
    tc_add(&t, 1, 1, MiB, "a", "b");
    tc_add(&t, 2, 1, MiB, "c", "f");
    tc_add(&t, 3, 1, MiB, "g", "k");
    tc_add(&t, 4, 1, MiB, "n", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND); /* 3 < l0_trigger */
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
    tc_plugin_close(&pl, p);
}

static void test_leveled_level_targets(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("leveled", tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    /* L1 at 9 MiB is under its static target (10 MiB) and is the deepest
     * level: nothing to do. */
    tc_init(&t, 4, 5000);
    tc_add(&t, 1, 1, 3 * MiB, "a", "f");
    tc_add(&t, 2, 1, 3 * MiB, "g", "m");
    tc_add(&t, 3, 1, 3 * MiB, "n", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    /* With 20 MiB in L2, L1's target would be 2 MiB (dynamic sizing from
     * the deepest level), below base_level_size: L2 is the base level and
     * L1 drains into it, choosing the L1 run whose overlap with L2 is the
     * smallest relative to its size ("g".."m" overlaps only run 11). */
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
    tc_plugin_close(&pl, p);

    /* The deepest level spills into the next once over its static target
     * (L2: 100 MiB), unless it is the last level. */
    p = tc_plugin_open("leveled", tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_init(&t, 4, 5000);
    tc_add(&t, 10, 2, 60 * MiB, "a", "k");
    tc_add(&t, 11, 2, 30 * MiB, "l", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    t.runs[1].size = 50 * MiB;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 3);
    CU_ASSERT(INPUTS_ARE(&t, 10)); /* no L3 overlap either way: the first */
    t.v.num_levels = 3;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND);
    tc_plugin_close(&pl, p);
}

static void test_leveled_score_order(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("leveled", tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 4, 5000);
    for (uint64_t i = 0; i < 5; i++) /* L0 score 5/4 */
        tc_add(&t, 100 - i, 0, MiB, "a", "z");
    tc_add(&t, 1, 1, 30 * MiB, "a", "m"); /* L1 score 40/10 */
    tc_add(&t, 2, 1, 10 * MiB, "n", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 2);
    CU_ASSERT(INPUTS_ARE(&t, 1));
    /* Both L1 runs busy: the next score, L0. */
    t.runs[5].busy = t.runs[6].busy = 1;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND); /* L1 overlap busy */
    t.runs[5].busy = t.runs[6].busy = 0;
    t.runs[5].size = t.runs[6].size = 2 * MiB;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 1);
    CU_ASSERT(INPUTS_ARE(&t, 100, 99, 98, 97, 96, 1, 2));
    tc_plugin_close(&pl, p);
}

/* L0 compacts into the base level: the first level whose dynamic target
 * reaches base_level_size (10 MiB here), or the deepest non-empty one. */
static void test_leveled_base_level(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("leveled", tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 5000);
    for (uint64_t i = 0; i < 4; i++)
        tc_add(&t, 100 - i, 0, MiB, "c", "p");
    tc_add(&t, 10, 2, 20 * MiB, "a", "f");
    tc_add(&t, 11, 2, 20 * MiB, "g", "m");
    tc_add(&t, 12, 2, 10 * MiB, "n", "z");
    /* 50 MiB in L2: L1 would get 5 MiB, so L2 is the base level and L0
     * merges straight into it, with every L2 run it overlaps. */
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.kind, DK_JOB_MERGE);
    CU_ASSERT_EQUAL(t.job.output_level, 2);
    CU_ASSERT(INPUTS_ARE(&t, 100, 99, 98, 97, 10, 11, 12));
    /* 100 MiB in L2: L1's target reaches 10 MiB and L1 is the base level
     * again; it is empty, so the job is L0 alone. */
    t.runs[6].size = 60 * MiB;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 1);
    CU_ASSERT(INPUTS_ARE(&t, 100, 99, 98, 97));
    tc_plugin_close(&pl, p);

    /* L1 left non-empty above the base level (L2, 50 MiB) drains first,
     * ahead of L0; while it is busy, L0 goes into L1, the first non-empty
     * level, so that newer versions stay above older ones. */
    p = tc_plugin_open("leveled", tc_lv_conf, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_init(&t, 7, 5000);
    for (uint64_t i = 0; i < 4; i++)
        tc_add(&t, 100 - i, 0, MiB, "c", "f");
    tc_add(&t, 1, 1, MiB, "a", "b");
    tc_add(&t, 2, 1, MiB, "d", "e");
    tc_add(&t, 3, 1, MiB, "x", "y");
    tc_add(&t, 10, 2, 50 * MiB, "a", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 2);
    CU_ASSERT(t.job.n_inputs == 2 && t.job.inputs[1] == 10);
    t.runs[4].busy = t.runs[6].busy = 1; /* runs 1 and 3 leaving */
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 2);
    CU_ASSERT(INPUTS_ARE(&t, 2, 10));
    t.runs[7].busy = 1; /* L2 busy too: L1 cannot drain */
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0);
    CU_ASSERT_EQUAL(t.job.output_level, 1);
    CU_ASSERT(INPUTS_ARE(&t, 100, 99, 98, 97, 2));
    tc_plugin_close(&pl, p);
}

static void test_drop_expired(void)
{
    static const char *const names[] = {"leveled", "size_tiered", "time_window"};
    for (size_t k = 0; k < 3; k++) {
        tc_plugin pl;
        dk_compaction_policy *p = tc_plugin_open(names[k], NULL, &pl);
        CU_ASSERT_FATAL(p != NULL);
        tc_view t;
        int64_t now = 100 * HOUR_MS;
        tc_init(&t, 7, now);
        dk_run *a = tc_add(&t, 5, 0, MiB, "a", "c"); /* expired */
        a->min_write_ms = 50 * HOUR_MS, a->max_write_ms = 51 * HOUR_MS, a->max_expiry_ms = now - 1;
        dk_run *b = tc_add(&t, 4, 0, MiB, "m", "p"); /* never expires */
        b->min_write_ms = 40 * HOUR_MS, b->max_write_ms = 99 * HOUR_MS;
        dk_run *c = tc_add(&t, 3, 1, MiB, "k", "q"); /* expired under b */
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
        int rc = tc_pick(&pl, p, &t); /* the tiered policies may merge */
        CU_ASSERT(rc == DK_ENOTFOUND || (rc == 0 && t.job.kind == DK_JOB_MERGE));
        tc_plugin_close(&pl, p);
    }
}

/* Options come from the policy's own section; the host refuses bad
 * values with the node's messages, the policy the rules between keys. */
static void test_conf_validation(void)
{
    struct {
        const char *policy, *key, *value, *key2, *value2, *want;
    } bad[] = {
        {"leveled", "level_ratio", "1", NULL, NULL, "level_ratio=1: expected an integer in 2..100"},
        {"leveled", "base_level_size", "100", NULL, NULL,
         "base_level_size=100: expected a size in 64KiB..1TiB"},
        {"leveled", "target_file_size", "10", NULL, NULL,
         "target_file_size=10: expected a size in 64KiB..4GiB"},
        {"leveled", "l0_trigger", "5000", NULL, NULL, "l0_trigger=5000: expected an integer in 1..64"},
        {"leveled", "min_threshold", "4", NULL, NULL,
         "unknown key 'min_threshold' in [engine.fake]; "
         "expected one of: l0_trigger, level_ratio, base_level_size, target_file_size"},
        {"size_tiered", "min_threshold", "1", NULL, NULL, "min_threshold=1: expected an integer in 2..64"},
        {"size_tiered", "min_threshold", "8", "max_threshold", "4",
         "max_threshold=4: expected at least min_threshold (8)"},
        {"size_tiered", "window", "1h", NULL, NULL, "unknown key 'window'"},
        {"time_window", "window", "10ms", NULL, NULL, "window=10ms: expected a duration in 1m..3650d"},
        {"time_window", "window", "-1h", NULL, NULL, "window=-1h: expected a duration"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tc_plugin pl;
        CU_ASSERT_FATAL(tc_plugin_load(bad[i].policy, &pl) == 0);
        dk_compaction_policy *p = (dk_compaction_policy *)&pl;
        dk_fake_host_reset(&tc_plugin_host);
        CU_ASSERT_EQUAL(dk_fake_host_set_option(&tc_plugin_host, bad[i].key, bad[i].value), 0);
        if (bad[i].key2)
            CU_ASSERT_EQUAL(dk_fake_host_set_option(&tc_plugin_host, bad[i].key2, bad[i].value2), 0);
        dk_compaction_conf conf = {.struct_size = sizeof(conf)};
        CU_ASSERT_EQUAL(pl.ops->open(&tc_plugin_host.host, &conf, &p), DK_ECONFIG);
        CU_ASSERT_PTR_NULL(p);
        const char *msg = dk_fake_host_conf_error(&tc_plugin_host);
        if (!strstr(msg, bad[i].want))
            fprintf(stderr, "%s: got '%s', want '%s'\n", bad[i].policy, msg, bad[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, bad[i].want));
        /* --set, since the fake host's options have no file. */
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, "--set engine.fake."));
        tc_plugin_close(&pl, NULL);
    }
    /* A good value is read: l0_trigger 2 compacts two L0 runs. */
    static const char *const two[] = {"l0_trigger", "2", NULL};
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("leveled", two, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    tc_view t;
    tc_init(&t, 7, 0);
    tc_add(&t, 2, 0, MiB, "a", "b");
    tc_add(&t, 1, 0, MiB, "a", "b");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), 0); /* l0_trigger 2 was read */
    /* A view the policy cannot trust is refused, not followed. */
    t.runs[0].level = 9;
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), -EINVAL);
    tc_plugin_close(&pl, p);
}

/* ---- size_tiered -------------------------------------------------------- */

static void test_size_tiered_buckets(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("size_tiered", NULL, &pl);
    CU_ASSERT_FATAL(p != NULL);
    tc_view t;
    tc_init(&t, 7, 0);
    /* Newest first: three small runs, then three ~200 MiB, then 1 GiB. */
    uint64_t sizes[] = {4, 6, 5, 200, 260, 170, 1024};
    for (size_t i = 0; i < 7; i++)
        tc_add(&t, 100 - i, 0, sizes[i] * MiB, "a", "z");
    CU_ASSERT_EQUAL(tc_pick(&pl, p, &t), DK_ENOTFOUND); /* no bucket has 4 */
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
    tc_plugin_close(&pl, p);
}

static void test_size_tiered_global(void)
{
    tc_plugin pl;
    dk_compaction_policy *p = tc_plugin_open("size_tiered", NULL, &pl);
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
    tc_plugin_close(&pl, p);
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
    dk_compaction_policy *p = tc_plugin_open("time_window", NULL, &pl);
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
    tc_plugin_close(&pl, p);
}

static void test_time_window_late_data(void)
{
    tc_plugin pl;
    static const char *const c[] = {"window", "2h", NULL};
    dk_compaction_policy *p = tc_plugin_open("time_window", c, &pl);
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
    tc_plugin_close(&pl, p);
}

static CU_TestInfo tc_policy_tests[] = {
    {"leveled: L0 trigger, overlap and busy", test_leveled_l0_trigger},
    {"leveled: level targets and run choice", test_leveled_level_targets},
    {"leveled: most urgent level first", test_leveled_score_order},
    {"leveled: L0 into the base level", test_leveled_base_level},
    {"all: whole-run drops of expired runs", test_drop_expired},
    {"all: conf validation", test_conf_validation},
    {"size_tiered: buckets", test_size_tiered_buckets},
    {"size_tiered: global buckets, max_threshold, levels", test_size_tiered_global},
    {"time_window: window grouping", test_time_window_grouping},
    {"time_window: late data and busy runs", test_time_window_late_data},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "compaction policies",
     .pInitFunc = tc_plugin_setup,
     .pCleanupFunc = tc_plugin_teardown,
     .pTests = tc_policy_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
