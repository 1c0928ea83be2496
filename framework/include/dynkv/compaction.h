/*
 * dynkv/compaction.h - compaction policies: pure decision logic.
 *
 * The LSM engine describes its sorted runs (tables) to the policy as a
 * read-only view; the policy's pick() names the next job: which runs to
 * merge into which level, or which whole runs to drop because every record
 * in them has expired. The engine executes jobs. A policy keeps no
 * reference to the view after pick() returns and does no I/O, so it can be
 * driven by unit tests with synthetic run shapes.
 */
#ifndef DK_COMPACTION_H
#define DK_COMPACTION_H

#include "dynkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One sorted run as the engine sees it. Slices are valid during pick().
 * size is the bytes of data the run holds: its bytes on disk plus, in an
 * engine that keeps large values apart (engines/lsm's blob files), the
 * bytes of the values its records reference. A policy sizes levels and
 * tiers by it, and the engine splits a job's outputs at target_file_size
 * in the same unit, so a run of references to 10 KiB values counts as
 * the values, not as its ~40-byte references. (The LSM engine reported
 * bytes on disk only until 2026-12; the layout is the same, so a policy
 * built before works unchanged.)
 */
typedef struct dk_run {
    uint64_t id;                /* engine's file number, unique */
    uint32_t level;             /* 0 = freshly flushed, overlapping runs */
    uint32_t busy;              /* 1 while a running job uses it: never pick */
    uint64_t size;              /* bytes of data (above) */
    dk_slice smallest, largest; /* key range, inclusive */
    uint64_t entries, tombstones;
    int64_t min_write_ms, max_write_ms;
    int64_t max_expiry_ms; /* 0 = some record never expires */
} dk_run;

typedef struct dk_run_view {
    const dk_run *runs; /* sorted by level, then smallest key; L0 newest first */
    size_t count;
    uint32_t num_levels; /* levels the engine supports (e.g. 7) */
    int64_t now_ms;
} dk_run_view;

enum {
    DK_JOB_MERGE = 1, /* merge inputs into output_level */
    DK_JOB_DROP = 2   /* delete inputs: every record is expired */
};

/* A job. The engine provides inputs[] with room for view->count ids. */
typedef struct dk_compaction_job {
    uint32_t kind; /* DK_JOB_* */
    uint32_t output_level;
    uint64_t target_file_size; /* split outputs at this dk_run.size; 0 = engine default */
    uint64_t *inputs;          /* ids of runs, provided by the engine */
    size_t n_inputs;
} dk_compaction_job;

/*
 * What the host passes to open(). A policy's options are its own: they come
 * from its INI section ([compaction.leveled] l0_trigger = 8) through
 * dk_host.options, so a new policy with a new knob needs no change here.
 * ABI 1.0 carried the built-in policies' knobs in this struct; their slots
 * stay reserved so the layout does not move, and this host fills them with
 * zeros, which 1.0 defined as "the policy's default". Fields are appended
 * only; check them with DK_HAS().
 */
typedef struct dk_compaction_conf {
    uint32_t struct_size;
    uint32_t reserved0;    /* ABI 1.0: l0_trigger; always 0 */
    uint64_t reserved1[7]; /* ABI 1.0: level_ratio .. window_ms; always 0 */
} dk_compaction_conf;

typedef struct dk_compaction_policy {
    const dk_host *host;
} dk_compaction_policy;

/*
 * Checklist for whoever extends this table: append only; bump DK_ABI_MINOR;
 * update the host's required-method check (framework/plugin/plugin_host.c)
 * and add a wrapper in framework/plugin/plugin_call.h.
 */
typedef struct dk_compaction_ops {
    uint32_t struct_size;
    /* Required. Read options through host->options, check them, and set
     * *out. On failure returns a negative code (DK_ECONFIG after
     * host->options or host->conf_error said why) and sets *out to NULL. */
    int (*open)(const dk_host *host, const dk_compaction_conf *conf, dk_compaction_policy **out);
    /* Required. */
    void (*close)(dk_compaction_policy *p);
    /* Required. Fill *job and return 0, or return DK_ENOTFOUND when there
     * is nothing to do. Must never name a busy run. */
    int (*pick)(dk_compaction_policy *p, const dk_run_view *view, dk_compaction_job *job);
} dk_compaction_ops;

#ifdef __cplusplus
}
#endif
#endif /* DK_COMPACTION_H */
