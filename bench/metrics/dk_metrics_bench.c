/*
 * dk_metrics_bench.c - nanoseconds per metrics update, the way the node's
 * subsystems call the registry: dk_metrics_add with a string literal (one
 * hot name, or a round-robin over the 40 names a busy node has), the same
 * with the name built in a stack buffer (a new pointer each time, as the
 * engine's stat sink does), dk_metrics_set_gauge, and one hot name added
 * from several threads at once. A plain relaxed atomic add is measured in
 * the same run as the floor.
 *
 * Usage: dk_metrics_bench [--ops N] [--threads T] [--runs R]
 * Prints one RESULT line per case (median of R runs) in the key=value
 * format of bench/engine/dk_bench, so the results table can be rebuilt
 * with the same tools.
 *
 * Not a test: timings belong in bench/results/, not in make check.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/metrics.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *const names[40] = {
    "coord_writes_total",      "coord_reads_total",      "coord_forwards_total",
    "coord_unavailable_total", "read_repairs_total",     "hints_stored_total",
    "hints_replayed_total",    "hints_dropped_total",    "scans_total",
    "scan_rpcs_total",         "scan_failovers_total",   "scan_incomplete_total",
    "scan_parts_served_total", "repair_exchanges_total", "repair_keys_total",
    "repair_bytes_total",      "stream_batches_total",   "stream_bytes_total",
    "stream_keys_total",       "bench_a_total",          "bench_b_total",
    "bench_c_total",           "bench_d_total",          "bench_e_total",
    "bench_f_total",           "bench_g_total",          "bench_h_total",
    "bench_i_total",           "bench_j_total",          "bench_k_total",
    "bench_l_total",           "bench_m_total",          "bench_n_total",
    "bench_o_total",           "bench_p_total",          "bench_q_total",
    "bench_r_total",           "bench_s_total",          "bench_t_total",
    "bench_u_total",
};

static uint64_t floor_cell;
static long ops = 2000000;

typedef void (*bench_fn)(long n);

static void b_atomic(long n)
{
    for (long i = 0; i < n; i++)
        __atomic_add_fetch(&floor_cell, 1, __ATOMIC_RELAXED);
}

static void b_one_name(long n)
{
    for (long i = 0; i < n; i++)
        dk_metrics_add("coord_writes_total", 1);
}

static void b_many_names(long n)
{
    for (long i = 0; i < n; i++)
        dk_metrics_add(names[i % 40], 1);
}

static void b_built_name(long n)
{
    char buf[64];
    for (long i = 0; i < n; i++) {
        /* The same stack address with changing contents defeats any cache
         * keyed by the pointer alone. */
        snprintf(buf, sizeof buf, "engine_stat_%ld", i % 8);
        dk_metrics_add(buf, 1);
    }
}

static void b_gauge(long n)
{
    for (long i = 0; i < n; i++)
        dk_metrics_set_gauge("bench_level", (uint64_t)i);
}

/* The cost of building the name in b_built_name, subtracted from it. */
static void b_snprintf_only(long n)
{
    char buf[64];
    volatile char sink = 0;
    for (long i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "engine_stat_%ld", i % 8);
        sink = (char)(sink + buf[12]);
    }
}

typedef struct par_arg {
    bench_fn fn;
    long n;
} par_arg;

static void *par_run(void *arg)
{
    par_arg *a = arg;
    a->fn(a->n);
    return NULL;
}

/* ns per operation of fn over ops calls on each of threads threads. */
static double run_once(bench_fn fn, int threads)
{
    pthread_t t[64];
    par_arg a = {fn, ops};
    uint64_t t0 = now_ns();
    if (threads <= 1) {
        fn(ops);
    } else {
        for (int i = 0; i < threads; i++)
            pthread_create(&t[i], NULL, par_run, &a);
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
    }
    return (double)(now_ns() - t0) / (double)ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(bench_fn fn, int threads, int runs)
{
    double v[32];
    fn(ops / 10); /* warm up: creates the names */
    for (int r = 0; r < runs; r++)
        v[r] = run_once(fn, threads);
    qsort(v, (size_t)runs, sizeof v[0], cmp_double);
    return v[runs / 2];
}

int main(int argc, char **argv)
{
    int threads = 2, runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            ops = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--ops N] [--threads T] [--runs R]\n", argv[0]);
            return 2;
        }
    }
    if (ops < 10 || threads < 1 || threads > 64 || runs < 1 || runs > 31) {
        fprintf(stderr, "%s: --ops >= 10, --threads 1..64, --runs 1..31\n", argv[0]);
        return 2;
    }
    struct {
        const char *name;
        bench_fn fn;
        int threads;
    } cases[] = {
        {"atomic_add_floor", b_atomic, 1}, {"add_one_name", b_one_name, 1},
        {"add_40_names", b_many_names, 1}, {"add_built_name", b_built_name, 1},
        {"set_gauge", b_gauge, 1},         {"add_one_name_threads", b_one_name, threads},
    };
    double snp = median(b_snprintf_only, 1, runs);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ns = median(cases[i].fn, cases[i].threads, runs);
        if (cases[i].fn == b_built_name)
            ns -= snp;
        printf("RESULT bench=%s threads=%d ops=%ld ns_per_op=%.1f\n", cases[i].name, cases[i].threads, ops,
               ns);
    }
    uint64_t total = dk_metrics_get("coord_writes_total");
    if (total == 0) {
        fprintf(stderr, "%s: the counter did not count\n", argv[0]);
        return 1;
    }
    return 0;
}
