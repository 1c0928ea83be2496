/*
 * bench.h - dk_bench's options and benchmark names, shared by the option
 * parser (options.c), the workloads (workload.c), the runner and its
 * report (report.c) and the tool's main (dk_bench.c).
 */
#ifndef DK_BENCH_BENCH_H
#define DK_BENCH_BENCH_H

#include <stdint.h>

#define DK_BENCH_MAX_THREADS 256
#define DK_BENCH_MAX_SETS 32
#define DK_BENCH_MAX_LIST 64

enum dk_bench_kind {
    DK_BK_FILLSEQ,
    DK_BK_FILLRANDOM,
    DK_BK_OVERWRITE,
    DK_BK_READRANDOM,
    DK_BK_READMISSING,
    DK_BK_READWHILEWRITING,
    DK_BK_SEEKRANDOM,
    DK_BK_DELETERANDOM,
    DK_BK_MIXED,
    DK_BK_TIMESERIES,
    DK_BK_READHEAD,
    DK_BK__COUNT
};

/* Key distributions of the random benchmarks (--dist). */
enum dk_bench_dist { DK_DIST_UNIFORM, DK_DIST_ZIPFIAN };

/* "fillseq", ...; indexed by enum dk_bench_kind. */
extern const char *const dk__bench_names[DK_BK__COUNT];
/* "uniform", "zipfian"; indexed by enum dk_bench_dist. */
extern const char *const dk__bench_dists[2];

typedef struct dk_bench_opts {
    const char *engine, *plugin_dir, *db, *benchmarks, *codec, *compaction;
    uint64_t num, reads, seeks, cache_size, memtable_size, write_rate, seed;
    uint64_t ttl_ms, timeline_ms;
    uint32_t value_size, key_size, threads, bloom_bits, seek_nexts;
    uint32_t read_pct, scan_pct; /* mixed and timeseries: shares of reads and scans */
    enum dk_bench_dist dist;
    int sync, use_existing, final_compact, verbose;
    enum dk_bench_kind list[DK_BENCH_MAX_LIST];
    int n_list;
    /* --set section.key=value, as dynkvd takes them (plugin options such
     * as engine.lsm.compaction_rate_limit=0); point into argv. */
    const char *sets[DK_BENCH_MAX_SETS];
    int n_sets;
} dk_bench_opts;

/* Parse the command line into *o (defaults for what is not given; string
 * fields point into argv). Prints the reason to stderr and returns -EINVAL
 * on a bad option; prints the usage to stdout and exits 0 on --help. */
int dk__bench_parse_opts(int argc, char **argv, dk_bench_opts *o);

#endif /* DK_BENCH_BENCH_H */
