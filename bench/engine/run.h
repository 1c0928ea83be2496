/*
 * run.h - the state one dk_bench process shares between its parts: the
 * engine and its plugins (dk_bench.c), the workloads and their worker
 * threads (workload.c), and the runner that times a benchmark and prints
 * its report (report.c).
 */
#ifndef DK_BENCH_RUN_H
#define DK_BENCH_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dynkv/compaction.h"
#include "dynkv/engine.h"
#include "node/host.h"
#include "plugin/plugin_call.h"
#include "plugin/plugin_host.h"
#include "util/buf.h"
#include "util/errors.h"

#include "bench.h"
#include "hist.h"
#include "sysstat.h"

#define BENCH_POOL_SIZE (4u << 20)

/* YCSB's scrambled Zipfian generator over [0, n) (Gray et al., "Quickly
 * generating billion-record synthetic databases"), constant theta. */
typedef struct bench_zipf {
    uint64_t n;
    double theta, zetan, alpha, eta;
} bench_zipf;

/* Everything the benchmarks share; written by the main thread only while
 * no worker runs, except the atomics. */
typedef struct bench {
    dk_bench_opts o;
    char db_dir[1024], engine_dir[1100];
    int db_is_temp;
    dk_plugin_host *plugins;
    dk_config cfg; /* plugin options (--codec, --bloom-bits, --set) */
    const dk_engine_ops *engine_ops;
    const dk_compaction_ops *policy_ops; /* NULL: --compaction none */
    dk_host engine_host, policy_host;
    dk_host_ctx engine_ctx, policy_ctx;
    dk_policy_ref pol;
    dk_engine_ref eng;
    uint8_t *pool;                /* value source, BENCH_POOL_SIZE + value_size */
    _Atomic uint8_t *live;        /* per key index: 1 while the key exists */
    _Atomic int64_t *expiry;      /* timeseries: per key index, its expiry (ms), 0 none */
    uint32_t *perm;               /* a random permutation of [0, num) */
    bench_zipf zipf;              /* over [0, num), when --dist zipfian */
    atomic_uint_fast64_t ts_next; /* timeseries: the next key index to write */
    atomic_int stop;              /* readwhilewriting: readers are done */
    dk_io_counters io_fresh;      /* at the last fresh open */
    uint64_t user_bytes_fresh;    /* user bytes written since then */
    double du_peak_fresh;         /* peak du (bytes) since then */
    double engine_written_fresh;  /* bytes the engine says it wrote since then; -1: unknown */
    const char *codec;            /* the codec of this round (--codec list) */
    double ops_s[DK_BK__COUNT];   /* this round's results, for the codec table */
    double du_mb, live_mb;        /* at this round's summary */
    double table_mb;              /* the engine's "*_table_bytes" gauge there; -1: none */
} bench;

typedef struct worker {
    bench *b;
    enum dk_bench_kind kind;
    uint64_t first, count; /* slice of the work for slice-based kinds */
    uint64_t rng;
    int writer;   /* readwhilewriting's writer thread */
    int timeline; /* record p99 per --timeline-ms interval */
    pthread_barrier_t *barrier;
    pthread_t thread;
    dk_hist hist;
    dk_hist *tl_hist; /* the current interval's (timeline only) */
    double *tl_p99;   /* per interval p99 (us), tl_n of them */
    uint64_t *tl_ops;
    size_t tl_n, tl_cap;
    uint64_t tl_end; /* monotonic ns the current interval ends */
    uint64_t ops, bytes, found, user_bytes;
    uint64_t t_start, t_end; /* monotonic ns around this thread's work */
    uint64_t cpu_ns;         /* this thread's CPU time over the same span */
    dk_buf obj;              /* timeseries: the encoded object of a put */
    int err;
} worker;

/* workload.c: keys, values, distributions and the worker threads. */
int dk__bench_pool_init(bench *b);
int dk__bench_perm_init(bench *b, uint64_t salt);
void dk__bench_zipf_init(bench_zipf *z, uint64_t n, double theta);
uint64_t dk__bench_live_count(const bench *b);
void *dk__bench_worker_main(void *arg);
uint64_t dk__bench_now_ns(void);

/* dk_bench.c: the engine's lifetime. */
int dk__bench_fresh(bench *b);
int dk__bench_flush(bench *b);

/* report.c: run one benchmark and print its lines; the summary. */
int dk__bench_run(bench *b, enum dk_bench_kind kind);
int dk__bench_summary(bench *b);

#endif /* DK_BENCH_RUN_H */
