/*
 * compaction/common/runs.h - helpers shared by the three compaction
 * policies (leveled, size_tiered, time_window): key-range arithmetic, view
 * checks, the whole-run expiry drop rule, the "unit" view of the runs, and
 * size-tiered bucketing.
 *
 * runs.c is compiled into each policy plugin (plugins link no shared
 * policy library); nothing here is exported from a plugin .so.
 *
 * Run shapes. The engine (engines/lsm) resolves a key by comparing the
 * sequence numbers of every table that may hold it, so a merge may take
 * any set of runs: size-tiered buckets and time windows are formed
 * wherever their runs sit in the view. What the engine cannot know is
 * whether deleting a run whole uncovers an older version of its keys; the
 * drop rule below answers that. A "unit" is what the tiered policies
 * count as one sorted run: one L0 run, or a whole level >= 1 (left by the
 * leveled policy; its runs are disjoint, so together they form one sorted
 * run, and a merge that takes it writes into that level).
 */
#ifndef DK_COMPACTION_RUNS_H
#define DK_COMPACTION_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "dynkv/compaction.h"

/* Runs smaller than this are bucketed together by size-tiering whatever
 * their ratio (Cassandra's min_sstable_size). */
#define DK_RUNS_TIER_SMALL (50ull << 20)

/* What the tiered policies count as one sorted run: an L0 run or a whole
 * level >= 1. */
typedef struct dk__unit {
    uint32_t level;
    size_t first, n;      /* view->runs[first .. first + n) */
    uint64_t size;        /* sum of the runs' sizes */
    int64_t max_write_ms; /* newest write among the runs */
    int busy;             /* some run of the unit is busy */
} dk__unit;

/* Size-tiering options, already defaulted and validated. */
typedef struct dk__tier_conf {
    uint32_t min_threshold, max_threshold;
    double low, high;
} dk__tier_conf;

/* Bytewise order, shorter first on a tie (engine.h). */
int dk__runs_key_cmp(dk_slice a, dk_slice b);

/* 1 when run r's key range intersects [lo, hi] (inclusive), else 0. */
int dk__runs_overlap(const dk_run *r, dk_slice lo, dk_slice hi);

/* The size-tiering options of a tiered policy's own section, as parsed by
 * host->options; embed it in the policy's option struct and list its keys
 * with DK__TIER_OPTIONS(struct type, member). */
typedef struct dk__tier_opts {
    int64_t min_threshold; /* runs per bucket to merge, 2..64 (4) */
    int64_t max_threshold; /* most runs per job, 2..256 (32) */
} dk__tier_opts;

#define DK__TIER_OPTIONS(T, member)                                                                          \
    {.key = "min_threshold",                                                                                 \
     .type = DK_OPT_INT,                                                                                     \
     .offset = offsetof(T, member.min_threshold),                                                            \
     .min = 2,                                                                                               \
     .max = 64,                                                                                              \
     .dflt = "4"},                                                                                           \
    {                                                                                                        \
        .key = "max_threshold", .type = DK_OPT_INT, .offset = offsetof(T, member.max_threshold), .min = 2,   \
        .max = 256, .dflt = "32"                                                                             \
    }

/* Check the rule between the keys (min_threshold <= max_threshold,
 * reported through h->conf_error) and fill *out, with the fixed bucket
 * bounds 0.5 and 1.5. Returns 0 or DK_ECONFIG. */
int dk__runs_tier_conf(const dk_host *h, const dk__tier_opts *o, dk__tier_conf *out);

/* Check what pick() relies on: num_levels >= 1, every level below it,
 * slices non-NULL when non-empty, smallest <= largest. Returns 0 or
 * -EINVAL after logging through h. */
int dk__runs_view_check(const dk_host *h, const char *policy, const dk_run_view *v);

/*
 * The whole-run drop rule. A run may be deleted whole when every record in
 * it has expired (max_expiry_ms != 0 and < now_ms), it is not busy, and
 * deleting it cannot uncover an older version of one of its keys: every
 * run overlapping its key range that is not dropped with it holds only
 * writes newer than all of its own (min_write_ms > its max_write_ms; the
 * rule of Cassandra's fully-expired sstables). Computed to a fixed point,
 * so a stack of expired runs is dropped together.
 *
 * Fills job as DK_JOB_DROP and returns 0, returns DK_ENOTFOUND when no run
 * qualifies, or -ENOMEM. job->inputs has room for v->count ids.
 */
int dk__runs_pick_expired(const dk_run_view *v, dk_compaction_job *job);

/* The first steps of a tiered pick (size_tiered, time_window):
 * dk__runs_view_check, naming policy, then dk__runs_pick_expired. Returns
 * 0 with job a DROP, DK_ENOTFOUND when the caller is to look for a merge,
 * -EINVAL for a bad view, or -ENOMEM. */
int dk__runs_pick_drop(const dk_host *h, const char *policy, const dk_run_view *v, dk_compaction_job *job);

/* Build the units of v, in view order, into a malloc'ed array the caller
 * frees. Returns 0 (with *n == 0 and *out == NULL for an empty view) or
 * -ENOMEM. v must have passed dk__runs_view_check. */
int dk__runs_units(const dk_run_view *v, dk__unit **out, size_t *n);

/*
 * Size-tier the units u[idx[0]], ..., u[idx[n - 1]] (none busy), as
 * Cassandra's STCS does: sorted by size, a unit joins the current bucket
 * when its size is within [low, high] times the bucket's average, or when
 * both are under DK_RUNS_TIER_SMALL; otherwise it starts the next bucket.
 * Among buckets with >= min_threshold units the one with the smallest
 * average is chosen, at most its max_threshold smallest units. Reorders
 * idx so that the chosen units come first, sets *count and returns 1, or
 * returns 0 when no bucket is ready.
 */
int dk__runs_tier_pick(const dk__unit *u, size_t *idx, size_t n, const dk__tier_conf *c, size_t *count);

/* Fill job as a DK_JOB_MERGE of the units u[idx[0 .. count)]: every run of
 * them, output to the deepest level among them, never split (one output
 * run: target_file_size = UINT64_MAX). */
void dk__runs_job_from_units(const dk_run_view *v, const dk__unit *u, const size_t *idx, size_t count,
                             dk_compaction_job *job);

/* Size-tier the units u[idx[0 .. n)] (dk__runs_tier_pick, which reorders
 * idx) and fill job with the chosen bucket (dk__runs_job_from_units).
 * Returns 0 with job a MERGE, or DK_ENOTFOUND when no bucket is ready. */
int dk__runs_tier_job(const dk_run_view *v, const dk__unit *u, size_t *idx, size_t n, const dk__tier_conf *c,
                      dk_compaction_job *job);

#endif
